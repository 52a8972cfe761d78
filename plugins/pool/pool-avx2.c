/* pool-avx2.c: PoolFormer's pooling and mean_tokens on 8 lanes (AVX2); the body is
 * pool-simd.inc, the maths pool.c's scalar reference. */
#include "../common/simd-vocab-avx2.h"
#include "pool-private.h"

#include "pool-simd.inc"
