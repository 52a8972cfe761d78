/* sgu-avx2.c: the spatial gating unit rows (layer norm, gate, softmax) on 8 lanes (AVX2 +
 * FMA). The body is sgu-simd.inc, shared with the AVX-512 file; exp from
 * ../common/simd-avx2.h. */
#include "../common/simd-vocab-avx2.h"
#include "sgu-private.h"

#include "sgu-simd.inc"
