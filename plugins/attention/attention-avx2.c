/* attention-avx2.c: the attention block softmax on 8 lanes (AVX2 + FMA). The body is
 * attention-simd.inc, shared with the AVX-512 file; exp from ../common/simd-avx2.h. */
#include "../common/simd-vocab-avx2.h"
#include "attention-private.h"

#include "attention-simd.inc"
