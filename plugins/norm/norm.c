/* norm.c: the norm family: layernorm, batchnorm, rmsnorm, groupnorm. Descriptors, the
 * statistics and parallel loops, and the scalar reference primitives.
 *
 * Design. Each op is written once here, over the inner loops of norm-private.h; the
 * scalar primitives below are the definition, norm-avx2.c and norm-avx512.c the same
 * maths on 8 and 16 lanes. The forward keeps mean and rstd = 1/sqrt(var + eps) in
 * `saved`, so backward does not recompute statistics:
 *
 *   layernorm, rmsnorm  per row (all dims but the last), saved [rows] mean, [rows] rstd
 *   groupnorm           per sample and group, saved [batch * groups] mean, rstd
 *   batchnorm           per channel over batch and tokens, saved [C] mean, [C] rstd, mode
 *
 * Determinism. Parallel loops have a fixed grain. A statistic or parameter gradient that
 * sums over rows of several chunks (batchnorm's statistics, every weight and bias
 * gradient) is written as one partial sum per chunk into the workspace, then combined in
 * chunk order in double: the bits never depend on the thread count. A statistic inside one
 * chunk (a row's mean, a group's mean) is computed by that chunk alone.
 *
 * Batchnorm follows PyTorch exactly, so a PyTorch twin reading the checkpoint matches:
 * training normalizes with the biased batch variance and updates
 *   running_mean = (1 - momentum) running_mean + momentum mean
 *   running_var  = (1 - momentum) running_var  + momentum var * M / (M - 1)
 * (M = batch x tokens, the unbiased variance), computed in double like PyTorch's CPU
 * kernel; y = x * (rstd w) + (b - mean rstd w). Eval (args->training == 0) uses the
 * running statistics and leaves them alone. The mode is kept in `saved`, so backward
 * differentiates what the forward did.
 *
 * Adding an op? Give it a descriptor below, an entry in docs/ops.md and its cases in
 * tests/plugins/test-norm.c.
 */
#include <math.h>
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "norm-private.h"

/* ---- scalar reference primitives ---- */

static float
sum_s(const float *x, int64_t n)
{
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

static float
sqdev_s(const float *x, float mean, int64_t n)
{
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = x[i] - mean;
        s += d * d;
    }
    return s;
}

static void
row_norm_s(const float *x, float *y, int64_t n, float mean, float rstd, const float *w,
           const float *b)
{
    for (int64_t i = 0; i < n; i++) {
        float h = (x[i] - mean) * rstd;
        if (w)
            h *= w[i];
        y[i] = b ? h + b[i] : h;
    }
}

static void
row_bwd_sums_s(const float *x, const float *gy, const float *w, int64_t n, float mean, float rstd,
               float s[2])
{
    float s0 = 0.0f, s1 = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float g = w ? gy[i] * w[i] : gy[i];
        s0 += g;
        s1 += g * ((x[i] - mean) * rstd);
    }
    s[0] = s0;
    s[1] = s1;
}

static void
row_bwd_gx_s(const float *x, const float *gy, const float *w, float *gx, int64_t n, float mean,
             float rstd, float a, float c)
{
    for (int64_t i = 0; i < n; i++) {
        float g = w ? gy[i] * w[i] : gy[i];
        float h = (x[i] - mean) * rstd;
        gx[i] = (g - a - h * c) * rstd;
    }
}

static void
row_param_acc_s(const float *x, const float *gy, int64_t n, float mean, float rstd, float *acc_w,
                float *acc_b)
{
    for (int64_t i = 0; i < n; i++) {
        if (acc_w)
            acc_w[i] += gy[i] * ((x[i] - mean) * rstd);
        if (acc_b)
            acc_b[i] += gy[i];
    }
}

static void
col_sum_s(const float *x, int64_t rows, int64_t c, int64_t ld, float *acc)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < c; j++)
            acc[j] += x[r * ld + j];
}

static void
col_sqdev_s(const float *x, int64_t rows, int64_t c, int64_t ld, const float *mean, float *acc)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < c; j++) {
            float d = x[r * ld + j] - mean[j];
            acc[j] += d * d;
        }
}

static void
col_affine_s(const float *x, float *y, int64_t rows, int64_t c, int64_t ld, const float *a,
             const float *b)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < c; j++)
            y[r * ld + j] = x[r * ld + j] * a[j] + b[j];
}

static void
col_bwd_sums_s(const float *x, const float *gy, int64_t rows, int64_t c, int64_t ld,
               const float *mean, const float *rstd, float *acc_gb, float *acc_gw)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < c; j++) {
            float g = gy[r * ld + j];
            acc_gb[j] += g;
            acc_gw[j] += g * ((x[r * ld + j] - mean[j]) * rstd[j]);
        }
}

static void
col_bwd_gx_s(const float *x, const float *gy, float *gx, int64_t rows, int64_t c, int64_t ld,
             const float *mean, const float *rstd, const float *p, const float *u, const float *v)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < c; j++) {
            float h = (x[r * ld + j] - mean[j]) * rstd[j];
            gx[r * ld + j] = p[j] * (gy[r * ld + j] - u[j] - h * v[j]);
        }
}

const norm_simd norm_scalar = {sum_s,        sqdev_s,         row_norm_s,  row_bwd_sums_s,
                               row_bwd_gx_s, row_param_acc_s, col_sum_s,   col_sqdev_s,
                               col_affine_s, col_bwd_sums_s,  col_bwd_gx_s};

/* ---- shared helpers ---- */

/* Rows per chunk: about 8192 floats, depending on the channel count only. */
static int64_t
row_grain(int64_t c)
{
    int64_t g = 8192 / (c > 0 ? c : 1);
    return g > 0 ? g : 1;
}

static int64_t
n_chunks(int64_t n, int64_t grain)
{
    return (n + grain - 1) / grain;
}

/* dst[j] += sum over chunks of part[k * stride + j], in chunk order, in double. */
static void
combine_partials(const float *part, int64_t chunks, int64_t stride, int64_t c, float *dst)
{
    for (int64_t j = 0; j < c; j++) {
        double s = 0.0;
        for (int64_t k = 0; k < chunks; k++)
            s += part[k * stride + j];
        dst[j] += (float)s;
    }
}

/* As combine_partials, into a double array (overwritten). */
static void
combine_partials_d(const float *part, int64_t chunks, int64_t stride, int64_t c, double *dst)
{
    for (int64_t j = 0; j < c; j++) {
        double s = 0.0;
        for (int64_t k = 0; k < chunks; k++)
            s += part[k * stride + j];
        dst[j] = s;
    }
}

static int
need_saved(mmx_ctx *ctx, const mmx_kernel_args *a, const char *op)
{
    if (a->saved == NULL)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s: backward needs the statistics its forward keeps in the saved "
                         "buffer, and got none",
                         op);
    return MMX_OK;
}

/* ---- layernorm and rmsnorm (per row) ---- */

typedef struct row_job {
    const norm_simd *k;
    const float *x, *gy, *w, *b;
    float *y, *gx;
    float *mean, *rstd; /* [rows] in saved, or NULL (forward without saved) */
    const float *smean, *srstd;
    float *partial; /* [chunks][2c]: weight gradient, then bias gradient */
    int64_t c, grain;
    float eps;
    int rms, want_gb;
} row_job;

static int
row_fwd_range(void *arg, int64_t begin, int64_t end)
{
    const row_job *j = arg;
    int64_t c = j->c;
    for (int64_t r = begin; r < end; r++) {
        const float *xr = j->x + r * c;
        float mean = j->rms ? 0.0f : j->k->sum(xr, c) / (float)c;
        float var = j->k->sqdev(xr, mean, c) / (float)c;
        float rstd = 1.0f / sqrtf(var + j->eps);
        j->k->row_norm(xr, j->y + r * c, c, mean, rstd, j->w, j->b);
        if (j->mean) {
            j->mean[r] = mean;
            j->rstd[r] = rstd;
        }
    }
    return MMX_OK;
}

static int
row_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const row_job *j = arg;
    int64_t c = j->c;
    float *acc_w = NULL, *acc_b = NULL;
    if (j->partial) {
        acc_w = j->partial + (begin / j->grain) * 2 * c;
        acc_b = j->want_gb ? acc_w + c : NULL;
        memset(acc_w, 0, (size_t)(2 * c) * sizeof(float));
    }
    for (int64_t r = begin; r < end; r++) {
        const float *xr = j->x + r * c, *gr = j->gy + r * c;
        float mean = j->smean[r], rstd = j->srstd[r];
        if (j->gx) {
            float s[2];
            j->k->row_bwd_sums(xr, gr, j->w, c, mean, rstd, s);
            float a = j->rms ? 0.0f : s[0] / (float)c;
            j->k->row_bwd_gx(xr, gr, j->w, j->gx + r * c, c, mean, rstd, a, s[1] / (float)c);
        }
        if (acc_w)
            j->k->row_param_acc(xr, gr, c, mean, rstd, acc_w, acc_b);
    }
    return MMX_OK;
}

/* saved: [rows] mean, then [rows] rstd. */
static int
row_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k, int rms)
{
    const mmx_shape *s = &a->node->inputs[0];
    int64_t c = mmx_channels(s), rows = a->batch * mmx_rows(s);
    float *saved = a->saved;
    row_job j = {.k = k,
                 .x = a->in[0],
                 .w = a->param[0],
                 .b = rms ? NULL : a->param[1],
                 .y = a->out,
                 .mean = saved,
                 .rstd = saved ? saved + rows : NULL,
                 .c = c,
                 .grain = row_grain(c),
                 .eps = (float)a->node->attrs[0].f,
                 .rms = rms};
    return ctx->host->parallel_for(ctx, rows, j.grain, row_fwd_range, &j);
}

static int
row_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k, int rms, const char *op)
{
    const mmx_shape *s = &a->node->inputs[0];
    int64_t c = mmx_channels(s), rows = a->batch * mmx_rows(s);
    float *gw = a->param[0] ? a->grad_param[0] : NULL;
    float *gb = !rms && a->param[1] ? a->grad_param[1] : NULL;
    if (a->grad_in[0] == NULL && gw == NULL && gb == NULL)
        return MMX_OK;
    int st = need_saved(ctx, a, op);
    if (st != MMX_OK)
        return st;
    const float *saved = a->saved;
    row_job j = {.k = k,
                 .x = a->in[0],
                 .gy = a->grad_out,
                 .w = a->param[0],
                 .gx = a->grad_in[0],
                 .smean = saved,
                 .srstd = saved + rows,
                 .partial = (gw || gb) ? a->workspace : NULL,
                 .c = c,
                 .grain = row_grain(c),
                 .rms = rms,
                 .want_gb = gb != NULL};
    st = ctx->host->parallel_for(ctx, rows, j.grain, row_bwd_range, &j);
    if (st != MMX_OK || j.partial == NULL)
        return st;
    int64_t chunks = n_chunks(rows, j.grain);
    if (gw)
        combine_partials(j.partial, chunks, 2 * c, c, gw);
    if (gb)
        combine_partials(j.partial + c, chunks, 2 * c, c, gb);
    return MMX_OK;
}

static int
layernorm_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k)
{
    return row_fwd(ctx, a, k, 0);
}

static int
layernorm_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k)
{
    return row_bwd(ctx, a, k, 0, "layernorm");
}

static int
rmsnorm_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k)
{
    return row_fwd(ctx, a, k, 1);
}

static int
rmsnorm_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k)
{
    return row_bwd(ctx, a, k, 1, "rmsnorm");
}

static void
row_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    const mmx_shape *s = &node->inputs[0];
    int64_t c = mmx_channels(s), rows = batch * mmx_rows(s);
    sizes->workspace = (size_t)(n_chunks(rows, row_grain(c)) * 2 * c) * sizeof(float);
    sizes->saved = (size_t)(2 * rows) * sizeof(float);
}

#define layernorm_buffers row_buffers
#define rmsnorm_buffers row_buffers

/* ---- groupnorm (per sample and group) ---- */

typedef struct group_job {
    const norm_simd *k;
    const float *x, *gy, *w, *b;
    float *y, *gx;
    float *mean, *rstd;
    const float *smean, *srstd;
    float *partial; /* [batch][2C]: weight gradient, then bias gradient */
    int64_t n_tok, c, groups;
    float eps;
} group_job;

static int
group_fwd_range(void *arg, int64_t begin, int64_t end)
{
    const group_job *j = arg;
    int64_t c = j->c, cg = c / j->groups, count = j->n_tok * cg;
    for (int64_t it = begin; it < end; it++) {
        int64_t b = it / j->groups, g = it % j->groups;
        const float *xs = j->x + b * j->n_tok * c + g * cg;
        float *ys = j->y + b * j->n_tok * c + g * cg;
        /* Segment sums in float, the group's total in double: a group can hold many
         * thousands of elements (PoolFormer: every token and channel of a sample). */
        double s = 0.0, q = 0.0;
        for (int64_t n = 0; n < j->n_tok; n++)
            s += j->k->sum(xs + n * c, cg);
        float mean = (float)(s / (double)count);
        for (int64_t n = 0; n < j->n_tok; n++)
            q += j->k->sqdev(xs + n * c, mean, cg);
        float rstd = (float)(1.0 / sqrt(q / (double)count + (double)j->eps));
        for (int64_t n = 0; n < j->n_tok; n++)
            j->k->row_norm(xs + n * c, ys + n * c, cg, mean, rstd, j->w + g * cg, j->b + g * cg);
        if (j->mean) {
            j->mean[it] = mean;
            j->rstd[it] = rstd;
        }
    }
    return MMX_OK;
}

static int
group_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const group_job *j = arg;
    int64_t c = j->c, cg = c / j->groups, count = j->n_tok * cg;
    for (int64_t it = begin; it < end; it++) {
        int64_t b = it / j->groups, g = it % j->groups, off = b * j->n_tok * c + g * cg;
        const float *xs = j->x + off, *gs = j->gy + off, *w = j->w + g * cg;
        float mean = j->smean[it], rstd = j->srstd[it];
        if (j->gx) {
            double s0 = 0.0, s1 = 0.0;
            for (int64_t n = 0; n < j->n_tok; n++) {
                float s[2];
                j->k->row_bwd_sums(xs + n * c, gs + n * c, w, cg, mean, rstd, s);
                s0 += s[0];
                s1 += s[1];
            }
            float av = (float)(s0 / (double)count), cv = (float)(s1 / (double)count);
            for (int64_t n = 0; n < j->n_tok; n++)
                j->k->row_bwd_gx(xs + n * c, gs + n * c, w, j->gx + off + n * c, cg, mean, rstd, av,
                                 cv);
        }
        if (j->partial) {
            /* This sample's share of the weight and bias gradients of the group's channels;
             * the samples are combined in order after the loop. */
            float *acc_w = j->partial + b * 2 * c + g * cg, *acc_b = acc_w + c;
            memset(acc_w, 0, (size_t)cg * sizeof(float));
            memset(acc_b, 0, (size_t)cg * sizeof(float));
            for (int64_t n = 0; n < j->n_tok; n++)
                j->k->row_param_acc(xs + n * c, gs + n * c, cg, mean, rstd, acc_w, acc_b);
        }
    }
    return MMX_OK;
}

/* Groups per chunk: about 8192 floats of work, depending on the shape only. */
static int64_t
group_grain(const mmx_shape *s, int64_t groups)
{
    int64_t per = mmx_numel(s) / groups, g = 8192 / (per > 0 ? per : 1);
    return g > 0 ? g : 1;
}

/* saved: [batch * groups] mean, then [batch * groups] rstd. */
static int
groupnorm_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k)
{
    const mmx_shape *s = &a->node->inputs[0];
    int64_t groups = a->node->attrs[0].i, items = a->batch * groups;
    float *saved = a->saved;
    group_job j = {.k = k,
                   .x = a->in[0],
                   .w = a->param[0],
                   .b = a->param[1],
                   .y = a->out,
                   .mean = saved,
                   .rstd = saved ? saved + items : NULL,
                   .n_tok = mmx_rows(s),
                   .c = mmx_channels(s),
                   .groups = groups,
                   .eps = (float)a->node->attrs[1].f};
    return ctx->host->parallel_for(ctx, items, group_grain(s, groups), group_fwd_range, &j);
}

static int
groupnorm_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k)
{
    const mmx_shape *s = &a->node->inputs[0];
    int64_t groups = a->node->attrs[0].i, items = a->batch * groups, c = mmx_channels(s);
    float *gw = a->grad_param[0], *gb = a->grad_param[1];
    if (a->grad_in[0] == NULL && gw == NULL && gb == NULL)
        return MMX_OK;
    int st = need_saved(ctx, a, "groupnorm");
    if (st != MMX_OK)
        return st;
    const float *saved = a->saved;
    group_job j = {.k = k,
                   .x = a->in[0],
                   .gy = a->grad_out,
                   .w = a->param[0],
                   .gx = a->grad_in[0],
                   .smean = saved,
                   .srstd = saved + items,
                   .partial = (gw || gb) ? a->workspace : NULL,
                   .n_tok = mmx_rows(s),
                   .c = c,
                   .groups = groups};
    st = ctx->host->parallel_for(ctx, items, group_grain(s, groups), group_bwd_range, &j);
    if (st != MMX_OK || j.partial == NULL)
        return st;
    if (gw)
        combine_partials(j.partial, a->batch, 2 * c, c, gw);
    if (gb)
        combine_partials(j.partial + c, a->batch, 2 * c, c, gb);
    return MMX_OK;
}

static void
groupnorm_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    int64_t c = mmx_channels(&node->inputs[0]), groups = node->attrs[0].i;
    sizes->workspace = (size_t)(batch * 2 * c) * sizeof(float);
    sizes->saved = (size_t)(2 * batch * groups) * sizeof(float);
}

/* ---- batchnorm (per channel over batch and tokens) ---- */

typedef struct col_job {
    const norm_simd *k;
    const float *x, *gy;
    float *y, *gx;
    const float *mean, *rstd, *p, *u, *v;
    float *partial; /* [chunks][2c] */
    int64_t c, grain;
    int pass;
} col_job;

enum { COL_SUM, COL_SQDEV, COL_AFFINE, COL_BWD_SUMS, COL_BWD_GX };

static int
col_range(void *arg, int64_t begin, int64_t end)
{
    const col_job *j = arg;
    int64_t c = j->c, rows = end - begin, off = begin * c;
    float *acc = j->partial ? j->partial + (begin / j->grain) * 2 * c : NULL;
    switch (j->pass) {
    case COL_SUM:
        memset(acc, 0, (size_t)c * sizeof(float));
        j->k->col_sum(j->x + off, rows, c, c, acc);
        break;
    case COL_SQDEV:
        memset(acc, 0, (size_t)c * sizeof(float));
        j->k->col_sqdev(j->x + off, rows, c, c, j->mean, acc);
        break;
    case COL_AFFINE:
        j->k->col_affine(j->x + off, j->y + off, rows, c, c, j->p, j->u);
        break;
    case COL_BWD_SUMS:
        memset(acc, 0, (size_t)(2 * c) * sizeof(float));
        j->k->col_bwd_sums(j->x + off, j->gy + off, rows, c, c, j->mean, j->rstd, acc, acc + c);
        break;
    case COL_BWD_GX:
        j->k->col_bwd_gx(j->x + off, j->gy + off, j->gx + off, rows, c, c, j->mean, j->rstd, j->p,
                         j->u, j->v);
        break;
    }
    return MMX_OK;
}

static int
col_pass(mmx_ctx *ctx, col_job *j, int pass, int64_t rows)
{
    j->pass = pass;
    return ctx->host->parallel_for(ctx, rows, j->grain, col_range, j);
}

/* Workspace: [chunks][2C] partial sums, then five [C] arrays (mean, rstd and three
 * coefficients), then [2C] doubles for the combined sums. saved: [C] mean, [C] rstd, mode. */
static void
batchnorm_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    const mmx_shape *s = &node->inputs[0];
    int64_t c = mmx_channels(s), rows = batch * mmx_rows(s);
    sizes->workspace = (size_t)(n_chunks(rows, row_grain(c)) * 2 * c + 5 * c) * sizeof(float) +
                       (size_t)(2 * c) * sizeof(double) + sizeof(double);
    sizes->saved = (size_t)(2 * c + 1) * sizeof(float);
}

typedef struct bn_ws {
    float *partial, *mean, *rstd, *p, *u, *v;
    double *sums;
    int64_t chunks;
} bn_ws;

static bn_ws
bn_workspace(const mmx_kernel_args *a, int64_t c, int64_t rows)
{
    bn_ws w;
    w.chunks = n_chunks(rows, row_grain(c));
    w.partial = a->workspace;
    w.mean = w.partial + w.chunks * 2 * c;
    w.rstd = w.mean + c;
    w.p = w.rstd + c;
    w.u = w.p + c;
    w.v = w.u + c;
    /* The doubles start at the next 8-byte boundary after the floats. */
    uintptr_t at = (uintptr_t)(w.v + c);
    at = (at + sizeof(double) - 1) & ~(uintptr_t)(sizeof(double) - 1);
    w.sums = (double *)at;
    return w;
}

static int
batchnorm_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k)
{
    const mmx_shape *s = &a->node->inputs[0];
    int64_t c = mmx_channels(s), rows = a->batch * mmx_rows(s);
    double eps = a->node->attrs[0].f, momentum = a->node->attrs[1].f;
    const float *w = a->param[0], *b = a->param[1];
    float *run_mean = a->param[2], *run_var = a->param[3];
    bn_ws ws = bn_workspace(a, c, rows);
    col_job j = {
        .k = k, .x = a->in[0], .y = a->out, .partial = ws.partial, .c = c, .grain = row_grain(c)};
    int st;
    if (a->training) {
        if (rows < 2)
            return MMX_ERROR(ctx, MMX_ERR_INVALID,
                             "batchnorm: training needs more than one value per channel (batch "
                             "%lld x %lld tokens), as in PyTorch",
                             (long long)a->batch, (long long)mmx_rows(s));
        if ((st = col_pass(ctx, &j, COL_SUM, rows)) != MMX_OK)
            return st;
        combine_partials_d(ws.partial, ws.chunks, 2 * c, c, ws.sums);
        double *mean_d = ws.sums + c;
        for (int64_t ch = 0; ch < c; ch++) {
            mean_d[ch] = ws.sums[ch] / (double)rows;
            ws.mean[ch] = (float)mean_d[ch];
        }
        j.mean = ws.mean;
        if ((st = col_pass(ctx, &j, COL_SQDEV, rows)) != MMX_OK)
            return st;
        combine_partials_d(ws.partial, ws.chunks, 2 * c, c, ws.sums);
        for (int64_t ch = 0; ch < c; ch++) {
            double var_sum = ws.sums[ch];
            ws.rstd[ch] = (float)(1.0 / sqrt(var_sum / (double)rows + eps));
            /* PyTorch: running = momentum * stat + (1 - momentum) * running, unbiased var. */
            run_mean[ch] = (float)(momentum * mean_d[ch] + (1.0 - momentum) * run_mean[ch]);
            run_var[ch] =
                (float)(momentum * (var_sum / (double)(rows - 1)) + (1.0 - momentum) * run_var[ch]);
        }
    } else {
        for (int64_t ch = 0; ch < c; ch++) {
            ws.mean[ch] = run_mean[ch];
            ws.rstd[ch] = (float)(1.0 / sqrt((double)run_var[ch] + eps));
        }
    }
    /* y = x * (rstd w) + (b - mean rstd w), PyTorch's CPU form. */
    for (int64_t ch = 0; ch < c; ch++) {
        ws.p[ch] = ws.rstd[ch] * w[ch];
        ws.u[ch] = b[ch] - ws.mean[ch] * ws.p[ch];
    }
    j.p = ws.p;
    j.u = ws.u;
    if ((st = col_pass(ctx, &j, COL_AFFINE, rows)) != MMX_OK)
        return st;
    float *saved = a->saved;
    if (saved) {
        memcpy(saved, ws.mean, (size_t)c * sizeof(float));
        memcpy(saved + c, ws.rstd, (size_t)c * sizeof(float));
        saved[2 * c] = a->training ? 1.0f : 0.0f;
    }
    return MMX_OK;
}

static int
batchnorm_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const norm_simd *k)
{
    const mmx_shape *s = &a->node->inputs[0];
    int64_t c = mmx_channels(s), rows = a->batch * mmx_rows(s);
    float *gw = a->grad_param[0], *gb = a->grad_param[1], *gx = a->grad_in[0];
    if (gx == NULL && gw == NULL && gb == NULL)
        return MMX_OK;
    int st = need_saved(ctx, a, "batchnorm");
    if (st != MMX_OK)
        return st;
    const float *saved = a->saved, *w = a->param[0];
    int trained = saved[2 * c] != 0.0f; /* batch statistics: backward goes through them */
    bn_ws ws = bn_workspace(a, c, rows);
    col_job j = {.k = k,
                 .x = a->in[0],
                 .gy = a->grad_out,
                 .gx = gx,
                 .mean = saved,
                 .rstd = saved + c,
                 .partial = ws.partial,
                 .c = c,
                 .grain = row_grain(c)};
    double *sgb = ws.sums, *sgw = ws.sums + c;
    if (trained || gw || gb) {
        if ((st = col_pass(ctx, &j, COL_BWD_SUMS, rows)) != MMX_OK)
            return st;
        combine_partials_d(ws.partial, ws.chunks, 2 * c, c, sgb);
        combine_partials_d(ws.partial + c, ws.chunks, 2 * c, c, sgw);
        for (int64_t ch = 0; ch < c; ch++) {
            if (gb)
                gb[ch] += (float)sgb[ch];
            if (gw)
                gw[ch] += (float)sgw[ch];
        }
    }
    if (gx == NULL)
        return MMX_OK;
    /* gx = w rstd (gy - mean(gy) - xhat mean(gy xhat)) with batch statistics; with running
     * statistics they are constants and gx = w rstd gy. */
    for (int64_t ch = 0; ch < c; ch++) {
        ws.p[ch] = w[ch] * saved[c + ch];
        ws.u[ch] = trained ? (float)(sgb[ch] / (double)rows) : 0.0f;
        ws.v[ch] = trained ? (float)(sgw[ch] / (double)rows) : 0.0f;
    }
    j.p = ws.p;
    j.u = ws.u;
    j.v = ws.v;
    return col_pass(ctx, &j, COL_BWD_GX, rows);
}

/* Every input's token grid, when it has one, must hold its N tokens (see shape-text.h):
 * an op that keeps the grid would otherwise pass a wrong one on. */
static int
inputs_grid_check(mmx_ctx *ctx, const char *op, const mmx_node *node)
{
    for (size_t i = 0; i < node->n_inputs; i++) {
        int st = mmx_grid_check(ctx, op, &node->inputs[i]);
        if (st != MMX_OK)
            return st;
    }
    return MMX_OK;
}

/* ---- shape inference ---- */

static void
channel_param(mmx_param_info *p, int64_t c)
{
    p->shape = (mmx_shape){.rank = 1, .dim = {c}};
}

static int
layernorm_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "layernorm", node);
    if (gst != MMX_OK)
        return gst;
    int64_t c = mmx_channels(&node->inputs[0]);
    *out = node->inputs[0];
    if (node->attrs[1].i) { /* affine */
        channel_param(&params[0], c);
        channel_param(&params[1], c);
    }
    return MMX_OK;
}

static int
rmsnorm_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "rmsnorm", node);
    if (gst != MMX_OK)
        return gst;
    *out = node->inputs[0];
    channel_param(&params[0], mmx_channels(&node->inputs[0]));
    return MMX_OK;
}

static int
batchnorm_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "batchnorm", node);
    if (gst != MMX_OK)
        return gst;
    int64_t c = mmx_channels(&node->inputs[0]);
    *out = node->inputs[0];
    for (int i = 0; i < 4; i++)
        channel_param(&params[i], c);
    return MMX_OK;
}

static int
groupnorm_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "groupnorm", node);
    if (gst != MMX_OK)
        return gst;
    const mmx_shape *x = &node->inputs[0];
    int64_t c = mmx_channels(x), groups = node->attrs[0].i;
    char t[MMX_SHAPE_TEXT_SIZE];
    if (c % groups != 0)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "groupnorm: groups (%lld) must divide the channels (%lld) of input %s",
                         (long long)groups, (long long)c, mmx_shape_text(x, t));
    *out = *x;
    channel_param(&params[0], c);
    channel_param(&params[1], c);
    return MMX_OK;
}

/* ---- costs (per sample, forward; FLOPs: 2 per multiply-add, 1 per other operation) ---- */

/* layernorm: sum (1), squared deviation (3), normalize and affine (4) per element. */
static void
layernorm_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)mmx_numel(&node->inputs[0]), c = (double)mmx_channels(&node->inputs[0]);
    cost->flops = (node->attrs[1].i ? 8.0 : 6.0) * n;
    cost->bytes = 8.0 * n + (node->attrs[1].i ? 8.0 * c : 0.0);
}

/* rmsnorm: square and sum (2), scale and weight (2). */
static void
rmsnorm_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)mmx_numel(&node->inputs[0]), c = (double)mmx_channels(&node->inputs[0]);
    cost->flops = 4.0 * n;
    cost->bytes = 8.0 * n + 4.0 * c;
}

/* batchnorm, training: statistics (4) and x * a + b (2). */
static void
batchnorm_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)mmx_numel(&node->inputs[0]), c = (double)mmx_channels(&node->inputs[0]);
    cost->flops = 6.0 * n;
    cost->bytes = 8.0 * n + 16.0 * c;
}

/* groupnorm: as an affine layernorm. */
static void
groupnorm_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)mmx_numel(&node->inputs[0]), c = (double)mmx_channels(&node->inputs[0]);
    cost->flops = 8.0 * n;
    cost->bytes = 8.0 * n + 8.0 * c;
}

/* ---- kernel tables ---- */

MMX_ISA_KERNELS(layernorm, "layernorm", norm_, layernorm_fwd, layernorm_bwd)
MMX_ISA_KERNELS(batchnorm, "batchnorm", norm_, batchnorm_fwd, batchnorm_bwd)
MMX_ISA_KERNELS(rmsnorm, "rmsnorm", norm_, rmsnorm_fwd, rmsnorm_bwd)
MMX_ISA_KERNELS(groupnorm, "groupnorm", norm_, groupnorm_fwd, groupnorm_bwd)

/* ---- attributes and parameters ---- */

#define EPS_ATTR(var, def)                                                                         \
    static const mmx_attr_desc var = {.struct_size = sizeof(mmx_attr_desc),                        \
                                      .name = "eps",                                               \
                                      .type = MMX_ATTR_FLOAT,                                      \
                                      .flags = MMX_ATTR_HAS_RANGE,                                 \
                                      .doc = "added to the variance before the square root",       \
                                      .default_number = def,                                       \
                                      .min = 1e-12,                                                \
                                      .max = 1.0};

EPS_ATTR(eps_1e6, 1e-6)
EPS_ATTR(eps_1e5, 1e-5)

static const mmx_attr_desc layernorm_affine = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "affine",
    .type = MMX_ATTR_BOOL,
    .doc = "learn a per-channel weight and bias (false: no parameters)",
    .default_number = 1};
static const mmx_attr_desc *const layernorm_attrs[] = {&eps_1e6, &layernorm_affine};
static const mmx_attr_desc *const rmsnorm_attrs[] = {&eps_1e6};

static const mmx_attr_desc batchnorm_momentum = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "momentum",
    .type = MMX_ATTR_FLOAT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "running = (1 - momentum) running + momentum batch statistic (PyTorch's convention)",
    .default_number = 0.1,
    .min = 0.0,
    .max = 1.0};
static const mmx_attr_desc *const batchnorm_attrs[] = {&eps_1e5, &batchnorm_momentum};

static const mmx_attr_desc groupnorm_groups = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "groups",
    .type = MMX_ATTR_INT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "channel groups (must divide the channels); 1: over all tokens and channels "
           "(PoolFormer)",
    .default_number = 1,
    .min = 1,
    .max = 65536};
static const mmx_attr_desc *const groupnorm_attrs[] = {&groupnorm_groups, &eps_1e5};

static const mmx_param_desc norm_weight = {.struct_size = sizeof(mmx_param_desc),
                                           .name = "weight",
                                           .flags = MMX_PARAM_NO_DECAY,
                                           .doc = "per-channel scale [C], ones",
                                           .init = MMX_INIT_ONES};
static const mmx_param_desc norm_bias = {.struct_size = sizeof(mmx_param_desc),
                                         .name = "bias",
                                         .flags = MMX_PARAM_NO_DECAY,
                                         .doc = "per-channel shift [C], zeros",
                                         .init = MMX_INIT_ZEROS};
static const mmx_param_desc running_mean = {.struct_size = sizeof(mmx_param_desc),
                                            .name = "running_mean",
                                            .flags = MMX_PARAM_BUFFER | MMX_PARAM_NO_DECAY,
                                            .doc = "per-channel running mean [C] for eval, zeros",
                                            .init = MMX_INIT_ZEROS};
static const mmx_param_desc running_var = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "running_var",
    .flags = MMX_PARAM_BUFFER | MMX_PARAM_NO_DECAY,
    .doc = "per-channel running unbiased variance [C] for eval, ones",
    .init = MMX_INIT_ONES};
static const mmx_param_desc *const affine_params[] = {&norm_weight, &norm_bias};
static const mmx_param_desc *const rmsnorm_params[] = {&norm_weight};
static const mmx_param_desc *const batchnorm_params[] = {&norm_weight, &norm_bias, &running_mean,
                                                         &running_var};

/* ---- examples (the conformance kit runs each, and tail-size variants of the last dim) ---- */

static const char *const layernorm_examples[] = {
    "{\"inputs\": [\"5x5:7\"]}", "{\"attrs\": {\"affine\": false}, \"inputs\": [\"3x3:37\"]}",
    "{\"inputs\": [[2, 3, 129]]}", "{\"attrs\": {\"eps\": 1e-5}, \"inputs\": [[37]]}", NULL};
static const char *const batchnorm_examples[] = {
    "{\"inputs\": [\"5x5:7\"]}", "{\"attrs\": {\"momentum\": 0.5}, \"inputs\": [\"3x3:37\"]}",
    "{\"inputs\": [[4, 129]]}", NULL};
static const char *const rmsnorm_examples[] = {"{\"inputs\": [\"5x5:7\"]}",
                                               "{\"inputs\": [[3, 37]]}", NULL};
static const char *const groupnorm_examples[] = {
    "{\"inputs\": [\"5x5:7\"]}", "{\"attrs\": {\"groups\": 3}, \"inputs\": [\"3x3:21\"]}",
    "{\"attrs\": {\"groups\": 7}, \"inputs\": [[4, 7]]}", NULL};

/* ---- descriptors ---- */

#define NORM_OP(op, docline, attrs_array, params_array)                                            \
    static const mmx_op_desc op##_op = {.struct_size = sizeof(mmx_op_desc),                        \
                                        .name = #op,                                               \
                                        .op_version = 1,                                           \
                                        .doc = docline,                                            \
                                        .min_inputs = 1,                                           \
                                        .max_inputs = 1,                                           \
                                        .n_attrs = sizeof attrs_array / sizeof attrs_array[0],     \
                                        .attrs = attrs_array,                                      \
                                        .n_params = sizeof params_array / sizeof params_array[0],  \
                                        .params = params_array,                                    \
                                        .infer = op##_infer,                                       \
                                        .buffer_sizes = op##_buffers,                              \
                                        .cost = op##_cost,                                         \
                                        .n_kernels = sizeof op##_kernels / sizeof op##_kernels[0], \
                                        .kernels = op##_kernels,                                   \
                                        .examples = op##_examples};

NORM_OP(layernorm, "y = (x - mean) / sqrt(var + eps) * weight + bias over the last dim",
        layernorm_attrs, affine_params)
NORM_OP(batchnorm,
        "per channel over batch and tokens: batch statistics in training (updating "
        "running_mean/running_var like PyTorch), running statistics in eval",
        batchnorm_attrs, batchnorm_params)
NORM_OP(rmsnorm, "y = x / sqrt(mean(x^2) + eps) * weight over the last dim", rmsnorm_attrs,
        rmsnorm_params)
NORM_OP(groupnorm,
        "per sample over the tokens and the channels of each group, then per-channel weight "
        "and bias; groups = 1 is PoolFormer's norm",
        groupnorm_attrs, affine_params)

MMX_PLUGIN_DEFINE("norm", "1.0.0",
                  "Normalizations: layernorm, batchnorm, rmsnorm, groupnorm",
                  &layernorm_op, &batchnorm_op, &rmsnorm_op, &groupnorm_op);
