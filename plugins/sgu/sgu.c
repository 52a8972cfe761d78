/* sgu.c: gMLP's spatial gating unit (Liu et al. 2021, "Pay Attention to MLPs"), with the
 * optional tiny attention of aMLP.
 *
 * The maths (docs/ops.md has the long form), per sample, z [N, 2d]:
 *   z1, z2 = z[:, :d], z[:, d:]               (timm: u, v = x.chunk(2, dim=-1))
 *   u = LN(z2) (over the d channels, affine norm_weight, norm_bias)
 *   f = W u + bias[:, None]                    (token mixing, W [N, N], bias [N])
 *                                              (causal: W's lower triangle only, so
 *                                               token t gates with tokens <= t: gMLP as a
 *                                               causal language model)
 *   f += TinyAttn(x)                           (aMLP, with tiny_attn > 0: x is input 1)
 *   y = z1 * f                                 [N, d]
 * TinyAttn(x) = softmax(q k^T / sqrt(a)) v Wo^T, with [q k v] = x Wqkv^T, a = tiny_attn:
 * single head, no biases (the paper's pseudo-code). W starts near zero and bias at one
 * (normal(0, init_std), ones), so the unit starts as the identity-like gate y = z1.
 *
 * Design. The token projection runs as batched host sgemms, one per sample, and its
 * weight gradient through at most 16 chunk partials fixed by the batch size, added in
 * chunk order; the tiny attention's projections as one sgemm over all batch * N rows
 * (their weight gradients reduce over those rows in a fixed order), its [N, N] products
 * per sample inside a parallel_for. The reductions ride on the row passes: the gate's
 * backward leaves each row's sum of gf (the spatial bias gradient sums them over samples
 * in order), and the layer norm's backward adds its affine gradients into one partial
 * per chunk of 64 rows, combined in chunk order. So results are bit-identical for any
 * thread count. The row work (layer norm, gate, softmax) differs per ISA
 * (sgu-private.h).
 */
#include <math.h>
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "../common/softmax.h"
#include "sgu-private.h"

/* ---- scalar rows (the reference) ---- */

static void
ln_scalar(const float *z, int64_t ldz, int64_t rows, int64_t d, float eps, const float *gamma,
          const float *beta, float *u, float *mu, float *rstd)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *x = z + r * ldz;
        float m = 0.0f, var = 0.0f;
        for (int64_t c = 0; c < d; c++)
            m += x[c];
        m /= (float)d;
        for (int64_t c = 0; c < d; c++)
            var += (x[c] - m) * (x[c] - m);
        float rs = 1.0f / sqrtf(var / (float)d + eps);
        for (int64_t c = 0; c < d; c++)
            u[r * d + c] = (x[c] - m) * rs * gamma[c] + beta[c];
        mu[r] = m;
        rstd[r] = rs;
    }
}

static void
ln_bwd_scalar(const float *z, int64_t ldz, int64_t rows, int64_t d, const float *mu,
              const float *rstd, const float *gamma, const float *gu, float *gz, int64_t ldg,
              float *dgamma, float *dbeta)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *x = z + r * ldz, *g = gu + r * d;
        float s1 = 0.0f, s2 = 0.0f;
        for (int64_t c = 0; c < d; c++) {
            float gg = g[c] * gamma[c], zh = (x[c] - mu[r]) * rstd[r];
            s1 += gg;
            s2 += gg * zh;
        }
        float m1 = s1 / (float)d, m2 = s2 / (float)d;
        for (int64_t c = 0; c < d; c++) {
            float zh = (x[c] - mu[r]) * rstd[r];
            if (gz)
                gz[r * ldg + c] = rstd[r] * (g[c] * gamma[c] - m1 - zh * m2);
            if (dgamma)
                dgamma[c] += g[c] * zh;
            if (dbeta)
                dbeta[c] += g[c];
        }
    }
}

static void
gate_scalar(const float *z1, int64_t ldz, const float *f, float *y, int64_t rows, int64_t d)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < d; c++)
            y[r * d + c] = z1[r * ldz + c] * f[r * d + c];
}

static void
gate_bwd_scalar(const float *gy, const float *z1, int64_t ldz, const float *f, float *gz1,
                float *gf, float *gf_sum, int64_t rows, int64_t d)
{
    for (int64_t r = 0; r < rows; r++) {
        float sum = 0.0f;
        for (int64_t c = 0; c < d; c++) {
            float g = gy[r * d + c];
            if (gz1)
                gz1[r * ldz + c] = g * f[r * d + c];
            gf[r * d + c] = g * z1[r * ldz + c];
            sum += gf[r * d + c];
        }
        if (gf_sum)
            gf_sum[r] = sum;
    }
}

static void
softmax_scalar(float *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        mmx_softmax_row_scalar(s + i * n, n);
}

static void
softmax_bwd_scalar(const float *p, float *g, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        mmx_softmax_row_bwd_scalar(p + i * n, g + i * n, n);
}

const sgu_rowops sgu_rowops_scalar = {ln_scalar,       ln_bwd_scalar,  gate_scalar,
                                      gate_bwd_scalar, softmax_scalar, softmax_bwd_scalar};

/* ---- geometry and buffers ---- */

enum { SA_EPS, SA_INIT_STD, SA_TINY, SA_CAUSAL };
enum { P_NORM_W, P_NORM_B, P_W, P_B, P_QKV, P_OUT };

typedef struct sgeom {
    int64_t batch, n, d, c, ta;
    float eps;
    int causal;
} sgeom;

static sgeom
sgeom_of(const mmx_node *node, int64_t batch)
{
    sgeom g;
    g.batch = batch;
    g.n = node->inputs[0].dim[0];
    g.d = node->inputs[0].dim[1] / 2;
    g.ta = node->attrs[SA_TINY].i;
    g.c = g.ta > 0 ? node->inputs[1].dim[1] : 0;
    g.eps = (float)node->attrs[SA_EPS].f;
    g.causal = (int)node->attrs[SA_CAUSAL].i;
    return g;
}

/* Offsets (in floats) of what forward keeps: u, f, mu, rstd; with tiny attention also
 * qkv [B N 3a], the probabilities [B N N] and o = p v [B N a]. */
typedef struct keep_layout {
    int64_t u, f, mu, rstd, qkv, p, o, total;
} keep_layout;

static keep_layout
keep_of(const sgeom *g)
{
    keep_layout k;
    int64_t bn = g->batch * g->n, bnd = bn * g->d;
    k.u = 0;
    k.f = k.u + bnd;
    k.mu = k.f + bnd;
    k.rstd = k.mu + bn;
    k.qkv = k.rstd + bn;
    k.p = k.qkv + bn * 3 * g->ta;
    k.o = k.p + (g->ta ? g->batch * g->n * g->n : 0);
    k.total = k.o + bn * g->ta;
    return k;
}

/* Backward scratch: gf, gu, the chunk partials of dW, the row sums of gf and the per
 * row-chunk partials of the layer norm's affine gradients; with tiny attention go, gqkv
 * and the per-sample score gradients. */
typedef struct ws_layout {
    int64_t gf, gu, partials, gf_sum, ln_part, go, gqkv, gs, total;
} ws_layout;

static int64_t
chunk_of(int64_t batch)
{
    return (batch + 15) / 16; /* at most 16 chunks, fixed by the batch size */
}

#define ROW_GRAIN 64

static ws_layout
ws_of(const sgeom *g)
{
    ws_layout w;
    int64_t bn = g->batch * g->n, bnd = bn * g->d, chunk = chunk_of(g->batch);
    w.gf = 0;
    w.gu = w.gf + bnd;
    w.partials = w.gu + bnd;
    w.gf_sum = w.partials + (g->batch + chunk - 1) / chunk * g->n * g->n;
    w.ln_part = w.gf_sum + bn;
    w.go = w.ln_part + (bn + ROW_GRAIN - 1) / ROW_GRAIN * 2 * g->d;
    w.gqkv = w.go + bn * g->ta;
    w.gs = w.gqkv + bn * 3 * g->ta;
    w.total = w.gs + (g->ta ? g->batch * g->n * g->n : 0);
    return w;
}

/* Under causal, the masked weight tril(W) [N, N] sits in the workspace after what
 * forward (keep, when there is no saved buffer) and backward (ws_layout) put there. */
static int64_t
masked_w_of(const sgeom *g)
{
    int64_t keep = keep_of(g).total, ws = ws_of(g).total;
    return ws > keep ? ws : keep;
}

static void
sgu_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    sgeom g = sgeom_of(node, batch);
    int64_t keep = keep_of(&g).total;
    sizes->saved = (size_t)keep * sizeof(float);
    /* A forward without a saved buffer keeps its results in the workspace. */
    sizes->workspace = (size_t)(masked_w_of(&g) + (g.causal ? g.n * g.n : 0)) * sizeof(float);
}

/* tril(w) [n, n] into m: row t keeps columns 0..t, the others are 0. */
static void
lower_triangle(const float *w, float *m, int64_t n)
{
    for (int64_t t = 0; t < n; t++)
        for (int64_t s = 0; s < n; s++)
            m[t * n + s] = s <= t ? w[t * n + s] : 0.0f;
}

static int
need_saved(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    if (a->saved == NULL)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s: backward needs the saved buffer written by a training forward",
                         a->node->name);
    return MMX_OK;
}

/* ---- parallel row work ---- */

typedef struct rows_job {
    const sgu_rowops *ops;
    const sgeom *g;
    const float *z, *gamma, *beta, *f, *gy, *gu, *mu_in, *rstd_in;
    float *u, *mu, *rstd, *y, *gz1, *gf, *gz2, *gf_sum, *ln_part;
    int want_dgamma, want_dbeta;
} rows_job;

static int
ln_range(void *arg, int64_t begin, int64_t end)
{
    const rows_job *j = arg;
    int64_t d = j->g->d;
    j->ops->ln(j->z + begin * 2 * d + d, 2 * d, end - begin, d, j->g->eps, j->gamma, j->beta,
               j->u + begin * d, j->mu + begin, j->rstd + begin);
    return MMX_OK;
}

static int
gate_range(void *arg, int64_t begin, int64_t end)
{
    const rows_job *j = arg;
    int64_t d = j->g->d;
    j->ops->gate(j->z + begin * 2 * d, 2 * d, j->f + begin * d, j->y + begin * d, end - begin, d);
    return MMX_OK;
}

static int
gate_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const rows_job *j = arg;
    int64_t d = j->g->d;
    j->ops->gate_bwd(j->gy + begin * d, j->z + begin * 2 * d, 2 * d, j->f + begin * d,
                     j->gz1 ? j->gz1 + begin * 2 * d : NULL, j->gf + begin * d,
                     j->gf_sum ? j->gf_sum + begin : NULL, end - begin, d);
    return MMX_OK;
}

/* The layer norm's backward over a chunk of ROW_GRAIN rows; its affine gradients go to
 * the chunk's own partial (2d floats: dgamma then dbeta), combined later in chunk order. */
static int
ln_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const rows_job *j = arg;
    int64_t d = j->g->d;
    float *part = j->ln_part + begin / ROW_GRAIN * 2 * d;
    memset(part, 0, (size_t)(2 * d) * sizeof(float));
    j->ops->ln_bwd(j->z + begin * 2 * d + d, 2 * d, end - begin, d, j->mu_in + begin,
                   j->rstd_in + begin, j->gamma, j->gu + begin * d,
                   j->gz2 ? j->gz2 + begin * 2 * d + d : NULL, 2 * d, j->want_dgamma ? part : NULL,
                   j->want_dbeta ? part + d : NULL);
    return MMX_OK;
}

/* ---- deterministic reductions ---- */

typedef struct bias_job {
    float *f;
    const float *b;
    int64_t n, d;
} bias_job;

static int
token_bias_range(void *arg, int64_t begin, int64_t end)
{
    const bias_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        float bv = j->b[r % j->n], *row = j->f + r * j->d;
        for (int64_t c = 0; c < j->d; c++)
            row[c] += bv;
    }
    return MMX_OK;
}

typedef struct tokensum_job {
    const sgeom *g;
    const float *gf_sum;
    float *acc;
} tokensum_job;

/* acc[t] += sum over samples of the row sums of gf at token t, in sample order */
static int
tokensum_range(void *arg, int64_t begin, int64_t end)
{
    const tokensum_job *j = arg;
    for (int64_t t = begin; t < end; t++) {
        float s = 0.0f;
        for (int64_t b = 0; b < j->g->batch; b++)
            s += j->gf_sum[b * j->g->n + t];
        j->acc[t] += s;
    }
    return MMX_OK;
}

typedef struct dw_job {
    const mmx_host *host;
    const sgeom *g;
    int64_t chunk;
    const float *gf, *u;
    float *partials;
} dw_job;

/* partial[chunk] = sum over its samples of gf_b u_b^T [N, N] */
static int
dw_range(void *arg, int64_t begin, int64_t end)
{
    const dw_job *j = arg;
    int64_t n = j->g->n, d = j->g->d;
    float *p = j->partials + (begin / j->chunk) * n * n;
    for (int64_t b = begin; b < end; b++)
        j->host->sgemm(0, 1, n, n, d, 1.0f, j->gf + b * n * d, d, j->u + b * n * d, d,
                       b == begin ? 0.0f : 1.0f, p, n);
    return MMX_OK;
}

/* grad[e] += sum over chunks k of partials[k * size + e], in chunk order. With split > 0
 * the elements below split go to grad_lo and the others to grad_hi[e - split] (each
 * skipped when NULL): the layer norm's dgamma and dbeta share one partial row. */
typedef struct combine_job {
    const float *partials;
    int64_t n_chunks, size;
    float *grad;
    float *grad_lo, *grad_hi;
    int64_t split;
} combine_job;

static int
combine_range(void *arg, int64_t begin, int64_t end)
{
    const combine_job *j = arg;
    for (int64_t e = begin; e < end; e++) {
        float *dst;
        if (j->grad)
            dst = j->grad + e;
        else if (e < j->split)
            dst = j->grad_lo ? j->grad_lo + e : NULL;
        else
            dst = j->grad_hi ? j->grad_hi + (e - j->split) : NULL;
        if (dst == NULL)
            continue;
        float s = 0.0f;
        for (int64_t k = 0; k < j->n_chunks; k++)
            s += j->partials[k * j->size + e];
        *dst += s;
    }
    return MMX_OK;
}

/* ---- tiny attention ---- */

typedef struct tiny_job {
    const mmx_host *host;
    const sgu_rowops *ops;
    const sgeom *g;
    const float *qkv, *go;
    float *p, *o, *gqkv, *gs;
} tiny_job;

/* per sample: p = softmax(q k^T / sqrt(a)), o = p v */
static int
tiny_fwd_range(void *arg, int64_t begin, int64_t end)
{
    const tiny_job *j = arg;
    int64_t n = j->g->n, a = j->g->ta, ld = 3 * a;
    float scale = 1.0f / sqrtf((float)a);
    for (int64_t b = begin; b < end; b++) {
        const float *qkv = j->qkv + b * n * ld;
        float *p = j->p + b * n * n;
        j->host->sgemm(0, 1, n, n, a, scale, qkv, ld, qkv + a, ld, 0.0f, p, n);
        j->ops->softmax(p, n);
        j->host->sgemm(0, 0, n, a, n, 1.0f, p, n, qkv + 2 * a, ld, 0.0f, j->o + b * n * a, a);
    }
    return MMX_OK;
}

static int
tiny_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const tiny_job *j = arg;
    int64_t n = j->g->n, a = j->g->ta, ld = 3 * a;
    float scale = 1.0f / sqrtf((float)a);
    for (int64_t b = begin; b < end; b++) {
        const float *qkv = j->qkv + b * n * ld, *p = j->p + b * n * n, *go = j->go + b * n * a;
        float *gqkv = j->gqkv + b * n * ld, *gs = j->gs + b * n * n;
        j->host->sgemm(0, 1, n, n, a, 1.0f, go, a, qkv + 2 * a, ld, 0.0f, gs, n);
        j->host->sgemm(1, 0, n, a, n, 1.0f, p, n, go, a, 0.0f, gqkv + 2 * a, ld);
        j->ops->softmax_bwd(p, gs, n);
        j->host->sgemm(0, 0, n, a, n, scale, gs, n, qkv + a, ld, 0.0f, gqkv, ld);
        j->host->sgemm(1, 0, n, a, n, scale, gs, n, qkv, ld, 0.0f, gqkv + a, ld);
    }
    return MMX_OK;
}

/* ---- kernels ---- */

static int
sgu_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const sgu_rowops *ops)
{
    const mmx_host *host = ctx->host;
    sgeom g = sgeom_of(a->node, a->batch);
    keep_layout k = keep_of(&g);
    float *keep = a->saved ? (float *)a->saved : (float *)a->workspace;
    int64_t n = g.n, d = g.d, bn = g.batch * n;
    rows_job rj = {.ops = ops,
                   .g = &g,
                   .z = a->in[0],
                   .gamma = a->param[P_NORM_W],
                   .beta = a->param[P_NORM_B],
                   .u = keep + k.u,
                   .mu = keep + k.mu,
                   .rstd = keep + k.rstd,
                   .f = keep + k.f,
                   .y = a->out};
    int st = host->parallel_for(ctx, bn, ROW_GRAIN, ln_range, &rj);
    if (st != MMX_OK)
        return st;
    float *f = keep + k.f;
    const float *w = a->param[P_W];
    if (g.causal) {
        float *m = (float *)a->workspace + masked_w_of(&g);
        lower_triangle(w, m, n);
        w = m;
    }
    host->sgemm_batched(g.batch, 0, 0, n, d, n, 1.0f, w, n, 0, keep + k.u, d, n * d, 0.0f, f, d,
                        n * d);
    bias_job bj = {f, a->param[P_B], n, d};
    st = host->parallel_for(ctx, bn, ROW_GRAIN, token_bias_range, &bj);
    if (st != MMX_OK)
        return st;
    if (g.ta > 0) {
        host->sgemm(0, 1, bn, 3 * g.ta, g.c, 1.0f, a->in[1], g.c, a->param[P_QKV], g.c, 0.0f,
                    keep + k.qkv, 3 * g.ta);
        tiny_job tj = {.host = host,
                       .ops = ops,
                       .g = &g,
                       .qkv = keep + k.qkv,
                       .p = keep + k.p,
                       .o = keep + k.o};
        if ((st = host->parallel_for(ctx, g.batch, 1, tiny_fwd_range, &tj)) != MMX_OK)
            return st;
        host->sgemm(0, 1, bn, d, g.ta, 1.0f, keep + k.o, g.ta, a->param[P_OUT], g.ta, 1.0f, f, d);
    }
    return host->parallel_for(ctx, bn, ROW_GRAIN, gate_range, &rj);
}

static int
sgu_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const sgu_rowops *ops)
{
    int st = need_saved(ctx, a);
    if (st != MMX_OK)
        return st;
    const mmx_host *host = ctx->host;
    sgeom g = sgeom_of(a->node, a->batch);
    keep_layout k = keep_of(&g);
    ws_layout w = ws_of(&g);
    const float *keep = a->saved, *z = a->in[0];
    float *ws = a->workspace, *gz = a->grad_in[0];
    float *const *gp = a->grad_param;
    int64_t n = g.n, d = g.d, bn = g.batch * n;
    int tiny_needed = g.ta > 0 && (a->grad_in[1] || gp[P_QKV] || gp[P_OUT]);
    int ln_needed = gz || gp[P_NORM_W] || gp[P_NORM_B];
    if (!gz && !ln_needed && !gp[P_W] && !gp[P_B] && !tiny_needed)
        return MMX_OK;
    /* gz1 = gy f, gf = gy z1 */
    rows_job rj = {.ops = ops,
                   .g = &g,
                   .z = z,
                   .gamma = a->param[P_NORM_W],
                   .f = keep + k.f,
                   .gy = a->grad_out,
                   .gz1 = gz,
                   .gf = ws + w.gf,
                   .gu = ws + w.gu,
                   .mu_in = keep + k.mu,
                   .rstd_in = keep + k.rstd,
                   .gz2 = gz,
                   .gf_sum = gp[P_B] ? ws + w.gf_sum : NULL,
                   .ln_part = ws + w.ln_part,
                   .want_dgamma = gp[P_NORM_W] != NULL,
                   .want_dbeta = gp[P_NORM_B] != NULL};
    if ((st = host->parallel_for(ctx, bn, ROW_GRAIN, gate_bwd_range, &rj)) != MMX_OK)
        return st;
    const float *gf = ws + w.gf;
    if (gp[P_B]) {
        tokensum_job tj = {&g, ws + w.gf_sum, gp[P_B]};
        if ((st = host->parallel_for(ctx, n, 64, tokensum_range, &tj)) != MMX_OK)
            return st;
    }
    if (gp[P_W]) {
        dw_job dj = {host, &g, chunk_of(g.batch), gf, keep + k.u, ws + w.partials};
        if ((st = host->parallel_for(ctx, g.batch, dj.chunk, dw_range, &dj)) != MMX_OK)
            return st;
        int64_t n_chunks = (g.batch + dj.chunk - 1) / dj.chunk;
        /* Under causal the entries above the diagonal are never used: no gradient. */
        for (int64_t c = 0; g.causal && c < n_chunks; c++)
            lower_triangle(ws + w.partials + c * n * n, ws + w.partials + c * n * n, n);
        combine_job cj = {ws + w.partials, n_chunks, n * n, gp[P_W], NULL, NULL, 0};
        if ((st = host->parallel_for(ctx, n * n, 4096, combine_range, &cj)) != MMX_OK)
            return st;
    }
    if (ln_needed) {
        /* gu = W^T gf (tril(W) under causal), then through the layer norm */
        const float *wt = a->param[P_W];
        if (g.causal) {
            float *m = ws + masked_w_of(&g);
            lower_triangle(wt, m, n);
            wt = m;
        }
        host->sgemm_batched(g.batch, 1, 0, n, d, n, 1.0f, wt, n, 0, gf, d, n * d, 0.0f, ws + w.gu,
                            d, n * d);
        if ((st = host->parallel_for(ctx, bn, ROW_GRAIN, ln_bwd_range, &rj)) != MMX_OK)
            return st;
        if (gp[P_NORM_W] || gp[P_NORM_B]) {
            combine_job cj = {ws + w.ln_part,
                              (bn + ROW_GRAIN - 1) / ROW_GRAIN,
                              2 * d,
                              NULL,
                              gp[P_NORM_W],
                              gp[P_NORM_B],
                              d};
            if ((st = host->parallel_for(ctx, 2 * d, 64, combine_range, &cj)) != MMX_OK)
                return st;
        }
    }
    if (!tiny_needed)
        return MMX_OK;
    /* tiny attention: f += o Wo^T, o = softmax(q k^T / sqrt(a)) v, [q k v] = x Wqkv^T */
    int64_t ta = g.ta;
    host->sgemm(0, 0, bn, ta, d, 1.0f, gf, d, a->param[P_OUT], ta, 0.0f, ws + w.go, ta);
    if (gp[P_OUT])
        host->sgemm(1, 0, d, ta, bn, 1.0f, gf, d, keep + k.o, ta, 1.0f, gp[P_OUT], ta);
    if (!a->grad_in[1] && !gp[P_QKV])
        return MMX_OK;
    tiny_job tj = {.host = host,
                   .ops = ops,
                   .g = &g,
                   .qkv = keep + k.qkv,
                   .go = ws + w.go,
                   .p = (float *)keep + k.p,
                   .gqkv = ws + w.gqkv,
                   .gs = ws + w.gs};
    if ((st = host->parallel_for(ctx, g.batch, 1, tiny_bwd_range, &tj)) != MMX_OK)
        return st;
    if (gp[P_QKV])
        host->sgemm(1, 0, 3 * ta, g.c, bn, 1.0f, ws + w.gqkv, 3 * ta, a->in[1], g.c, 1.0f,
                    gp[P_QKV], g.c);
    if (a->grad_in[1])
        host->sgemm(0, 0, bn, g.c, 3 * ta, 1.0f, ws + w.gqkv, 3 * ta, a->param[P_QKV], g.c, 0.0f,
                    a->grad_in[1], g.c);
    return MMX_OK;
}

MMX_ISA_KERNELS(sgu, "sgu", sgu_rowops_, sgu_forward, sgu_backward)

/* ---- shape inference and cost ---- */

static int
sgu_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    const mmx_shape *z = &node->inputs[0];
    char bz[MMX_SHAPE_TEXT_SIZE], bx[MMX_SHAPE_TEXT_SIZE];
    int64_t ta = node->attrs[SA_TINY].i;
    if (z->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID, "sgu: the input z must be tokens [N, 2d], got %s",
                         mmx_shape_text(z, bz));
    int st = mmx_grid_check(ctx, "sgu", z);
    if (st != MMX_OK)
        return st;
    if (z->dim[1] % 2 != 0)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "sgu: the channel count of z %s must be even (z is split into z1, z2 "
                         "of d = C/2 channels each), got C = %lld",
                         mmx_shape_text(z, bz), (long long)z->dim[1]);
    if (ta > 0 && node->attrs[SA_CAUSAL].i)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "sgu: causal masks the spatial weight only; the tiny attention "
                         "(tiny_attn = %lld) is not masked: set tiny_attn to 0 for a causal unit",
                         (long long)ta);
    if (ta == 0 && node->n_inputs > 1)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "sgu: got a second (memory) input but tiny_attn is 0; the tiny "
                         "attention (aMLP) reads it only with tiny_attn > 0");
    if (ta > 0 && node->n_inputs < 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "sgu: tiny_attn = %lld needs the memory x [N, C] as input 1 (the tiny "
                         "attention of aMLP reads the mixer input)",
                         (long long)ta);
    int64_t n = z->dim[0], d = z->dim[1] / 2;
    if (ta > 0) {
        const mmx_shape *x = &node->inputs[1];
        if ((st = mmx_grid_check(ctx, "sgu", x)) != MMX_OK)
            return st;
        if (x->rank != 2 || x->dim[0] != n)
            return MMX_ERROR(ctx, MMX_ERR_INVALID,
                             "sgu: the memory x (input 1) must be tokens [N, C] with the N = "
                             "%lld tokens of z %s, got %s",
                             (long long)n, mmx_shape_text(z, bz), mmx_shape_text(x, bx));
        params[P_QKV].shape = (mmx_shape){.rank = 2, .dim = {3 * ta, x->dim[1]}};
        params[P_OUT].shape = (mmx_shape){.rank = 2, .dim = {d, ta}};
    }
    *out = (mmx_shape){.rank = 2, .height = z->height, .width = z->width, .dim = {n, d}};
    params[P_NORM_W].shape = (mmx_shape){.rank = 1, .dim = {d}};
    params[P_NORM_B].shape = (mmx_shape){.rank = 1, .dim = {d}};
    params[P_W].shape = (mmx_shape){.rank = 2, .dim = {n, n}};
    params[P_W].init = MMX_INIT_NORMAL;
    params[P_W].init_a = 0.0;
    params[P_W].init_b = node->attrs[SA_INIT_STD].f;
    params[P_B].shape = (mmx_shape){.rank = 1, .dim = {n}};
    return MMX_OK;
}

/* FLOPs = 2 x multiply-adds; about 8 per element for the layer norm, 1 per bias element
 * and per gate product, 5 per softmax entry. */
static void
sgu_cost(const mmx_node *node, mmx_cost *cost)
{
    sgeom g = sgeom_of(node, 1);
    double n = (double)g.n, d = (double)g.d, ta = (double)g.ta, c = (double)g.c;
    double flops = 8.0 * n * d + 2.0 * n * n * d + n * d + n * d;
    double bytes = 4.0 * (2.0 * n * d + n * d + n * n + 2.0 * d + n);
    if (g.ta > 0) {
        flops += 2.0 * n * c * 3.0 * ta + 2.0 * 2.0 * n * n * ta + 5.0 * n * n + 2.0 * n * ta * d +
                 n * d;
        bytes += 4.0 * (n * c + 3.0 * ta * c + d * ta);
    }
    cost->flops = flops;
    cost->bytes = bytes;
}

/* ---- descriptors ---- */

static const mmx_attr_desc attr_eps = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "eps",
    .type = MMX_ATTR_FLOAT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "layer norm epsilon of z2 (nn.LayerNorm's default, as timm's SpatialGatingUnit)",
    .default_number = 1e-5,
    .min = 1e-12,
    .max = 1.0};
static const mmx_attr_desc attr_init_std = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "init_std",
    .type = MMX_ATTR_FLOAT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "std of the spatial weight's normal init (near zero, with bias ones: the unit "
           "starts as y = z1)",
    .default_number = 1e-6,
    .min = 0.0,
    .max = 1.0};
static const mmx_attr_desc attr_tiny = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "tiny_attn",
    .type = MMX_ATTR_INT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "0: off; else the size of aMLP's single-head tiny attention from the memory x "
           "(input 1), added to the gate (the paper uses 64)",
    .default_number = 0,
    .min = 0,
    .max = 65536};
static const mmx_attr_desc attr_causal = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "causal",
    .type = MMX_ATTR_BOOL,
    .doc = "token t gates with tokens <= t only: the spatial weight's lower triangle is used "
           "(and trained), for gMLP as a causal language model; not with tiny_attn",
    .default_number = 0};
static const mmx_attr_desc *const sgu_attrs[] = {&attr_eps, &attr_init_std, &attr_tiny,
                                                 &attr_causal};

static const mmx_param_desc p_norm_w = {.struct_size = sizeof(mmx_param_desc),
                                        .name = "norm_weight",
                                        .flags = MMX_PARAM_NO_DECAY,
                                        .doc = "layer norm scale of z2 [d]",
                                        .init = MMX_INIT_ONES};
static const mmx_param_desc p_norm_b = {.struct_size = sizeof(mmx_param_desc),
                                        .name = "norm_bias",
                                        .flags = MMX_PARAM_NO_DECAY,
                                        .doc = "layer norm shift of z2 [d]",
                                        .init = MMX_INIT_ZEROS};
static const mmx_param_desc p_weight = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "weight",
    .doc = "spatial projection W [N, N], f = W u + b (normal(0, init_std), timm's init)",
    .init = MMX_INIT_NORMAL,
    .init_a = 0.0,
    .init_b = 1e-6};
static const mmx_param_desc p_bias = {.struct_size = sizeof(mmx_param_desc),
                                      .name = "bias",
                                      .flags = MMX_PARAM_NO_DECAY,
                                      .doc = "spatial projection bias [N] (ones)",
                                      .init = MMX_INIT_ONES};
static const mmx_param_desc p_qkv = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "attn_qkv",
    .doc = "tiny attention projection [3 a, C] ([q k v] = x Wqkv^T), trunc_normal(0.02)",
    .init = MMX_INIT_TRUNC_NORMAL,
    .init_a = 0.02};
static const mmx_param_desc p_out = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "attn_out",
    .doc = "tiny attention output projection [d, a], trunc_normal(0.02)",
    .init = MMX_INIT_TRUNC_NORMAL,
    .init_a = 0.02};
static const mmx_param_desc *const sgu_params[] = {&p_norm_w, &p_norm_b, &p_weight,
                                                   &p_bias,   &p_qkv,    &p_out};

static const mmx_input_role data_memory[] = {MMX_INPUT_DATA, MMX_INPUT_MEMORY};

static const char *const sgu_examples[] = {
    "{\"inputs\": [\"3x3:14\"]}",
    "{\"attrs\": {\"eps\": 1e-6, \"init_std\": 0.05}, \"inputs\": [[5, 38]]}",
    "{\"attrs\": {\"tiny_attn\": 5, \"init_std\": 0.05}, \"inputs\": [[7, 10], [7, 9]]}",
    "{\"attrs\": {\"tiny_attn\": 3}, \"inputs\": [\"3x3:34\", \"3x3:17\"]}",
    "{\"attrs\": {\"causal\": true, \"init_std\": 0.05}, \"inputs\": [[6, 10]]}", NULL};

/* A causal unit is causal along the tokens (MMX_OP_CAUSAL: the kit's causal check holds
 * it to that); a full one is not. */
static uint32_t
sgu_node_flags(const mmx_node *node)
{
    return node->attrs[SA_CAUSAL].i ? MMX_OP_CAUSAL : 0;
}

static const mmx_op_desc sgu_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "sgu",
    .op_version = 1,
    .doc = "gMLP spatial gating unit: y = z1 * (W LN(z2) + b) [+ tiny attention of x, aMLP]",
    .min_inputs = 1,
    .max_inputs = 2,
    .input_roles = data_memory,
    .n_attrs = sizeof sgu_attrs / sizeof sgu_attrs[0],
    .attrs = sgu_attrs,
    .n_params = sizeof sgu_params / sizeof sgu_params[0],
    .params = sgu_params,
    .infer = sgu_infer,
    .buffer_sizes = sgu_buffers,
    .cost = sgu_cost,
    .n_kernels = sizeof sgu_kernels / sizeof sgu_kernels[0],
    .kernels = sgu_kernels,
    .examples = sgu_examples,
    .flags = MMX_OP_CAUSAL,
    .node_flags = sgu_node_flags};

MMX_PLUGIN_DEFINE("sgu", "1.0.0",
                  "gMLP's spatial gating unit, with aMLP's tiny attention",
                  &sgu_op);
