/* simd-vocab-avx2.h: the SIMD vocabulary of the AVX2 + FMA builds, for <family>-simd.inc.
 *
 * A family's SIMD body is written once against these short names (LANES, VEC, LOAD, FMA,
 * EXP, HSUM, ...) and compiled once per ISA: its avx2 file is this header, the family's
 * private header and the body. simd-vocab-avx512.h defines the same names for 16 lanes;
 * adding a name? add it to both. Include only from files compiled with -mavx2 -mfma, and
 * only one vocabulary per translation unit (the names are unprefixed on purpose).
 */
#ifndef MMX_SIMD_VOCAB_H
#define MMX_SIMD_VOCAB_H

#include <math.h>

#include "isa-stamp.h"
#include "simd-avx2.h"

#define SUFFIX avx2
#define LANES 8
#define VEC __m256
#define MASKT __m256i /* what LOADM/STOREM take: TAILMASK(n) for the first n lanes */

#define LOAD(p) _mm256_loadu_ps(p)
#define STORE(p, v) _mm256_storeu_ps(p, v)
#define LOADM(p, m) _mm256_maskload_ps(p, m)
#define STOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define FULLMASK _mm256_set1_epi32(-1)
#define TAILMASK(n) mmx_tail_mask_avx2(n)
#define SET1(x) _mm256_set1_ps(x)
#define ZERO() _mm256_setzero_ps()

#define ADD(a, b) _mm256_add_ps(a, b)
#define SUB(a, b) _mm256_sub_ps(a, b)
#define MUL(a, b) _mm256_mul_ps(a, b)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)   /* a * b + c */
#define FNMA(a, b, c) _mm256_fnmadd_ps(a, b, c) /* c - a * b */
#define MAX(a, b) _mm256_max_ps(a, b)
#define HSUM(v) mmx_hsum_avx2(v)
#define HMAX(v) mmx_hmax_avx2(v)

#define EXP(x) mmx_exp_avx2(x)
#define ERF(x) mmx_erf_avx2(x)
#define ERF_EXP(x, gauss) mmx_erf_exp_avx2(x, gauss)
#define TANH(x) mmx_tanh_avx2(x)
#define SIGMOID(x) mmx_sigmoid_avx2(x)

/* g where x > 0, else 0 (ReLU's derivative applied to g). */
#define RELU_MASK(x, g) _mm256_and_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ), g)
/* Lanes equal to -inf become 0; the reciprocal of a zero (or negative) sum is 0. */
#define ZERO_IF_NEG_INF(v)                                                                         \
    _mm256_andnot_ps(_mm256_cmp_ps(v, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ), v)
#define SAFE_RECIP(s)                                                                              \
    _mm256_and_ps(_mm256_cmp_ps(s, _mm256_setzero_ps(), _CMP_GT_OQ),                               \
                  _mm256_div_ps(_mm256_set1_ps(1.0f), s))

#endif
