/* sqrelu-avx2.c: the spans of mmxtemplate.sqrelu on 8 lanes (AVX2 + FMA).
 *
 * This file alone is compiled with -mavx2 -mfma (meson.build), so the plugin loads on any
 * x86-64 and the host calls this code only when the CPU runs AVX2 (and MMX_ISA does not
 * cap it lower). The maths is the scalar reference's (sqrelu.c), lane by lane: the same
 * products in the same order, and +0.0f where x <= 0 (a mask, not a max), so the two
 * agree to the bit.
 *
 * Two rules the conformance kit enforces here:
 * - tensors are only 4-byte aligned: unaligned loads and stores (loadu, storeu);
 * - the last n % 8 elements go through a scalar loop: a whole-vector load there would
 *   read past the end of the tensor (the kit puts a guard page right after each input).
 */
#include <immintrin.h>

#include "elementwise.h"

static void
forward_avx2(const float *x, float *y, int64_t n)
{
    const __m256 zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 positive = _mm256_cmp_ps(v, zero, _CMP_GT_OQ); /* false for NaN, as x > 0 */
        _mm256_storeu_ps(y + i, _mm256_and_ps(positive, _mm256_mul_ps(v, v)));
    }
    for (; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] * x[i] : 0.0f;
}

static void
backward_avx2(const float *x, const float *gy, float *gx, int64_t n)
{
    const __m256 zero = _mm256_setzero_ps(), two = _mm256_set1_ps(2.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 positive = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
        __m256 g = _mm256_mul_ps(_mm256_mul_ps(two, v), _mm256_loadu_ps(gy + i));
        _mm256_storeu_ps(gx + i, _mm256_and_ps(positive, g)); /* +0.0f where x <= 0 */
    }
    for (; i < n; i++)
        gx[i] = x[i] > 0.0f ? 2.0f * x[i] * gy[i] : 0.0f;
}

const mmxtemplate_spans mmxtemplate_sqrelu_spans_avx2 = {forward_avx2, backward_avx2};
