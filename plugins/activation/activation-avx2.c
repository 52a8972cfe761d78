/* activation-avx2.c: the activation maps on 8 lanes (avx2). Same maths as the scalar
 * reference in activation.c (erf/exp approximations from ../common/simd-avx2.h); the tail of
 * each range runs through the scalar maps so results match the reference there exactly. */
#include "../common/simd-vocab-avx2.h"
#include "activation-private.h"

#include "activation-simd.inc"
