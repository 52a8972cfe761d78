/* conv-avx512.c: the depthwise convolution kernels and conv2d's row maps on 16 lanes
 * (AVX-512); the body is conv-simd.inc, the maths conv.c's scalar reference. */
#include "../common/simd-vocab-avx512.h"
#include "conv-private.h"

/* The rolling tiles that fit this ISA's registers (see conv-simd.inc). */
#define DW_TR 8           /* rolling tile: positions per tile */
#define DW_ROLL_MAX_KW 13 /* widest kernel whose window fits the registers */
#define DW_WROLL_MAX_KW 9 /* the same for the weight gradient */
#include "conv-simd.inc"
