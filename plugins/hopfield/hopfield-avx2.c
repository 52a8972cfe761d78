/* hopfield-avx2.c: the Hopfield activations on 8 lanes (AVX2 + FMA). The body is
 * hopfield-simd.inc, shared with the AVX-512 file; erf/exp/tanh from
 * ../common/simd-avx2.h. */
#include "../common/simd-vocab-avx2.h"
#include "hopfield-private.h"

#include "hopfield-simd.inc"
