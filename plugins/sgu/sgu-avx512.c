/* sgu-avx512.c: the spatial gating unit rows (layer norm, gate, softmax) on 16 lanes
 * (AVX-512 F). The body is sgu-simd.inc, shared with the AVX2 file; exp from
 * ../common/simd-avx512.h. */
#include "../common/simd-vocab-avx512.h"
#include "sgu-private.h"

#include "sgu-simd.inc"
