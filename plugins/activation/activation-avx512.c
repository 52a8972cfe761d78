/* activation-avx512.c: the activation maps on 16 lanes (avx512). Same maths as the scalar
 * reference in activation.c (erf/exp approximations from ../common/simd-avx512.h); the tail of
 * each range runs through the scalar maps so results match the reference there exactly. */
#include "../common/simd-vocab-avx512.h"
#include "activation-private.h"

#include "activation-simd.inc"
