/* lm-avx2.c: the lm primitives on 8 lanes (avx2). Same maths as the scalar primitives
 * in lm.c; the body is lm-simd.inc, shared with the other ISA file. */
#include "../common/simd-vocab-avx2.h"
#include "lm-private.h"

#include "lm-simd.inc"
