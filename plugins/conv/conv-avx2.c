/* conv-avx2.c: the depthwise convolution kernels and conv2d's row maps on 8 lanes (AVX2 +
 * FMA); the body is conv-simd.inc, the maths conv.c's scalar reference. */
#include "../common/simd-vocab-avx2.h"
#include "conv-private.h"

/* The rolling tiles that fit this ISA's registers (see conv-simd.inc). */
#define DW_TR 4           /* rolling tile: positions per tile */
#define DW_ROLL_MAX_KW 7  /* widest kernel whose window fits the registers */
#define DW_WROLL_MAX_KW 5 /* the same for the weight gradient */
#include "conv-simd.inc"
