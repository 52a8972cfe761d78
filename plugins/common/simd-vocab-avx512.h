/* simd-vocab-avx512.h: the SIMD vocabulary of the AVX-512 builds, for <family>-simd.inc.
 *
 * The names of simd-vocab-avx2.h (see there) on 16 lanes; tails use __mmask16 masks.
 * Include only from files compiled with the AVX-512 F/BW/DQ/VL flags, and only one
 * vocabulary per translation unit.
 */
#ifndef MMX_SIMD_VOCAB_H
#define MMX_SIMD_VOCAB_H

#include <math.h>

#include "isa-stamp.h"
#include "simd-avx512.h"

#define SUFFIX avx512
#define LANES 16
#define VEC __m512
#define MASKT __mmask16 /* what LOADM/STOREM take: TAILMASK(n) for the first n lanes */

#define LOAD(p) _mm512_loadu_ps(p)
#define STORE(p, v) _mm512_storeu_ps(p, v)
#define LOADM(p, m) _mm512_maskz_loadu_ps(m, p)
#define STOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define FULLMASK ((__mmask16)0xFFFF)
#define TAILMASK(n) mmx_tail_mask_avx512(n)
#define SET1(x) _mm512_set1_ps(x)
#define ZERO() _mm512_setzero_ps()

#define ADD(a, b) _mm512_add_ps(a, b)
#define SUB(a, b) _mm512_sub_ps(a, b)
#define MUL(a, b) _mm512_mul_ps(a, b)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)   /* a * b + c */
#define FNMA(a, b, c) _mm512_fnmadd_ps(a, b, c) /* c - a * b */
#define MAX(a, b) _mm512_max_ps(a, b)
#define HSUM(v) _mm512_reduce_add_ps(v)
#define HMAX(v) _mm512_reduce_max_ps(v)

#define EXP(x) mmx_exp_avx512(x)
#define ERF(x) mmx_erf_avx512(x)
#define ERF_EXP(x, gauss) mmx_erf_exp_avx512(x, gauss)
#define TANH(x) mmx_tanh_avx512(x)
#define SIGMOID(x) mmx_sigmoid_avx512(x)

/* g where x > 0, else 0 (ReLU's derivative applied to g). */
#define RELU_MASK(x, g)                                                                            \
    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), g)
/* Lanes equal to -inf become 0; the reciprocal of a zero (or negative) sum is 0. */
#define ZERO_IF_NEG_INF(v)                                                                         \
    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(-INFINITY), _CMP_NEQ_UQ), v)
#define SAFE_RECIP(s)                                                                              \
    _mm512_maskz_div_ps(_mm512_cmp_ps_mask(s, _mm512_setzero_ps(), _CMP_GT_OQ),                    \
                        _mm512_set1_ps(1.0f), s)

#endif
