/* attention-avx512.c: the attention block softmax on 16 lanes (AVX-512 F). The body is
 * attention-simd.inc, shared with the AVX2 file; exp from ../common/simd-avx512.h. */
#include "../common/simd-vocab-avx512.h"
#include "attention-private.h"

#include "attention-simd.inc"
