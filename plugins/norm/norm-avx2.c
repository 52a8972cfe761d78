/* norm-avx2.c: the norm primitives on 8 lanes (avx2). Same maths as the scalar primitives
 * in norm.c; the body is norm-simd.inc, shared with the other ISA file. */
#include "../common/simd-vocab-avx2.h"
#include "norm-private.h"

#include "norm-simd.inc"
