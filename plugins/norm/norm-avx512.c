/* norm-avx512.c: the norm primitives on 16 lanes (avx512). Same maths as the scalar primitives
 * in norm.c; the body is norm-simd.inc, shared with the other ISA file. */
#include "../common/simd-vocab-avx512.h"
#include "norm-private.h"

#include "norm-simd.inc"
