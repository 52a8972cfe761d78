/* hopfield-avx512.c: the Hopfield activations on 16 lanes (AVX-512 F). The body is
 * hopfield-simd.inc, shared with the AVX2 file; erf/exp/tanh from
 * ../common/simd-avx512.h. */
#include "../common/simd-vocab-avx512.h"
#include "hopfield-private.h"

#include "hopfield-simd.inc"
