/* pool-avx512.c: PoolFormer's pooling and mean_tokens on 16 lanes (AVX-512); the body is
 * pool-simd.inc, the maths pool.c's scalar reference. */
#include "../common/simd-vocab-avx512.h"
#include "pool-private.h"

#include "pool-simd.inc"
