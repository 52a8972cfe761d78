/* elementwise.h: what the files of the mmxtemplate plugin's elementwise op share.
 *
 * mmxtemplate.sqrelu is elementwise and parameter-free: y[i] depends on x[i] alone. Its
 * kernels are written as two "span" functions, forward and backward, over n contiguous
 * floats, one pair per instruction set (the scalar pair in sqrelu.c is the reference, the
 * definition of the op; the AVX2 pair in sqrelu-avx2.c computes the same on 8 lanes, in a
 * file compiled alone with -mavx2 -mfma).
 */
#ifndef MMXTEMPLATE_ELEMENTWISE_H
#define MMXTEMPLATE_ELEMENTWISE_H

#include <mmx/mmx-plugin.h>

typedef struct mmxtemplate_spans {
    /* y[i] = f(x[i]) for i < n. */
    void (*forward)(const float *x, float *y, int64_t n);
    /* gx[i] = f'(x[i]) * gy[i] for i < n (overwritten). */
    void (*backward)(const float *x, const float *gy, float *gx, int64_t n);
} mmxtemplate_spans;

extern const mmxtemplate_spans mmxtemplate_sqrelu_spans_avx2; /* sqrelu-avx2.c */

/* Elements of a per-sample shape. */
static inline int64_t
mmxtemplate_numel(const mmx_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

#endif
