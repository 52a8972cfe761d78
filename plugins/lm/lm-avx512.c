/* lm-avx512.c: the lm primitives on 16 lanes (avx512). Same maths as the scalar primitives
 * in lm.c; the body is lm-simd.inc, shared with the other ISA file. */
#include "../common/simd-vocab-avx512.h"
#include "lm-private.h"

#include "lm-simd.inc"
