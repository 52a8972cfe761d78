/* lm-private.h: the row primitives each ISA file provides to lm.c.
 *
 * lm.c owns the descriptors, the shape rules and the parallel loops; the primitives below
 * are the inner loops over one row. The scalar set (in lm.c) is the definition; lm-avx2.c
 * and lm-avx512.c provide the same maths on 8 and 16 lanes from one body (lm-simd.inc).
 * Both are exact (a copy and one float add per element), so every ISA gives the same bits.
 */
#ifndef MMX_LM_PRIVATE_H
#define MMX_LM_PRIVATE_H

#include <stdint.h>

typedef struct lm_simd {
    /* y[j] = x[j] over n floats. */
    void (*copy)(const float *x, float *y, int64_t n);
    /* y[j] += x[j] over n floats. */
    void (*acc)(const float *x, float *y, int64_t n);
} lm_simd;

extern const lm_simd lm_scalar, lm_avx2, lm_avx512;

#endif
