/* attention.c: multi-head scaled dot-product attention, split into MetaMixer slots
 * (attention.scores as the key op, attention.mix as the value op, so any activation can
 * stand where the softmax was) plus the fused `attention` op for speed.
 *
 * Conventions (docs/ops.md has the long form). Projections follow PyTorch nn.Linear:
 * k = x W^T + b with W stored [C_out, C_in] = [C, C], so a checkpoint maps one to one
 * onto torch weights. Heads split the channels: head h owns channels [h*d, (h+1)*d),
 * d = C / heads, and merged outputs are concatenated in head order (no output
 * projection: that is the mixer's output slot).
 *
 * Design. Every GEMM goes through host->sgemm: the projections as one product over all
 * batch*N rows, the per-head products inside a parallel_for over (sample, head) items,
 * one item per chunk (nested sgemm calls run inline on the worker), so each item is
 * computed the same way whatever the thread count. Parameter gradients are products
 * whose reduction dimension is batch*N (dW += dY^T x), summed in a fixed order by the
 * sgemm, and bias gradients are column sums parallel over columns with each column summed
 * sequentially: bit-identical for any number of threads. Only the block softmax differs
 * per ISA (attention-private.h); the scalar one below is the reference.
 *
 * Buffers. Forward writes what backward needs (k, v, or q/k/v and the probabilities)
 * into `saved`; when a host runs a forward without a saved buffer it goes to the
 * workspace instead (which is at least as large), and backward then refuses.
 */
#include <math.h>
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "../common/softmax.h"
#include "attention-private.h"

/* The value attention.scores writes above the diagonal under `causal`. Finite on
 * purpose: -inf would make GELU produce -inf * 0 = NaN, while -1e9 gives exactly 0 (and
 * a zero derivative) through softmax, gelu (both forms), relu, sigmoid and silu. An
 * activation that does not vanish at -inf (identity, tanh) needs `causal` on
 * attention.mix too, which ignores the coefficients above the diagonal. */
#define ATTN_MASK (-1e9f)

/* ---- scalar block softmax (the reference) ---- */

static void
block_softmax_scalar(float *s, int64_t n, int causal)
{
    for (int64_t i = 0; i < n; i++) {
        float *row = s + i * n;
        int64_t len = causal ? i + 1 : n;
        mmx_softmax_row_scalar(row, len);
        for (int64_t j = len; j < n; j++)
            row[j] = 0.0f;
    }
}

static void
block_softmax_bwd_scalar(const float *p, float *g, int64_t n, int causal)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t len = causal ? i + 1 : n;
        mmx_softmax_row_bwd_scalar(p + i * n, g + i * n, len);
        for (int64_t j = len; j < n; j++)
            g[i * n + j] = 0.0f;
    }
}

const attn_rowops attn_rowops_scalar = {block_softmax_scalar, block_softmax_bwd_scalar};

/* ---- shared helpers: bias rows, column sums, projections ---- */

typedef struct bias_job {
    float *y;
    const float *b;
    int64_t cols;
} bias_job;

static int
bias_range(void *arg, int64_t begin, int64_t end)
{
    const bias_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        float *row = j->y + r * j->cols;
        for (int64_t c = 0; c < j->cols; c++)
            row[c] += j->b[c];
    }
    return MMX_OK;
}

/* y[r, :] += b for every row. */
static int
add_bias(mmx_ctx *ctx, float *y, const float *b, int64_t rows, int64_t cols)
{
    bias_job j = {y, b, cols};
    int64_t grain = MMX_ELEMENTWISE_GRAIN / cols > 0 ? MMX_ELEMENTWISE_GRAIN / cols : 1;
    return ctx->host->parallel_for(ctx, rows, grain, bias_range, &j);
}

#define COLSUM_BLOCK 64

typedef struct colsum_job {
    const float *y;
    float *acc;
    int64_t rows, cols;
} colsum_job;

static int
colsum_range(void *arg, int64_t begin, int64_t end)
{
    const colsum_job *j = arg;
    for (int64_t blk = begin; blk < end; blk++) {
        int64_t c0 = blk * COLSUM_BLOCK;
        int64_t c1 = c0 + COLSUM_BLOCK < j->cols ? c0 + COLSUM_BLOCK : j->cols;
        double s[COLSUM_BLOCK] = {0};
        for (int64_t r = 0; r < j->rows; r++)
            for (int64_t c = c0; c < c1; c++)
                s[c - c0] += j->y[r * j->cols + c];
        for (int64_t c = c0; c < c1; c++)
            j->acc[c] += (float)s[c - c0];
    }
    return MMX_OK;
}

/* acc[c] += sum over rows of y[r, c]; each column summed in row order by one chunk. */
static int
colsum_add(mmx_ctx *ctx, const float *y, int64_t rows, int64_t cols, float *acc)
{
    colsum_job j = {y, acc, rows, cols};
    return ctx->host->parallel_for(ctx, (cols + COLSUM_BLOCK - 1) / COLSUM_BLOCK, 1, colsum_range,
                                   &j);
}

/* out = x W^T (+ b) over `rows` rows of C channels (nn.Linear, W [C, C]). */
static int
project(mmx_ctx *ctx, const float *x, const float *w, const float *b, float *out, int64_t rows,
        int64_t c)
{
    ctx->host->sgemm(0, 1, rows, c, c, 1.0f, x, c, w, c, 0.0f, out, c);
    return b ? add_bias(ctx, out, b, rows, c) : MMX_OK;
}

/* Backward of project for dy = dL/dout: gx = gx_beta * gx + dy W (skipped when gx is
 * NULL), gw += dy^T x, gb += column sums of dy (each skipped when NULL). */
static int
project_bwd(mmx_ctx *ctx, const float *dy, const float *x, const float *w, float *gx, float gx_beta,
            float *gw, float *gb, int64_t rows, int64_t c)
{
    if (gx)
        ctx->host->sgemm(0, 0, rows, c, c, 1.0f, dy, c, w, c, gx_beta, gx, c);
    if (gw)
        ctx->host->sgemm(1, 0, c, c, rows, 1.0f, dy, c, x, c, 1.0f, gw, c);
    return gb ? colsum_add(ctx, dy, rows, c, gb) : MMX_OK;
}

/* ---- geometry ---- */

typedef struct geom {
    int64_t batch, n, c, heads, d;
    float scale;
    int causal;
} geom;

/* N and C from the [N, C] input `x_input`; heads, scale and causal from the attributes
 * at the given indices (-1: absent, then scale = 1/sqrt(d) and causal = 0). */
static geom
geom_of(const mmx_kernel_args *a, int x_input, int heads_attr, int scale_attr, int causal_attr)
{
    const mmx_node *node = a->node;
    geom g;
    g.batch = a->batch;
    g.n = node->inputs[x_input].dim[0];
    g.c = node->inputs[x_input].dim[1];
    g.heads = node->attrs[heads_attr].i;
    g.d = g.c / g.heads;
    double scale = scale_attr >= 0 ? node->attrs[scale_attr].f : 0.0;
    g.scale = (float)(scale > 0.0 ? scale : 1.0 / sqrt((double)g.d));
    g.causal = causal_attr >= 0 ? (int)node->attrs[causal_attr].i : 0;
    return g;
}

/* Per (sample, head) item: the offset of its [N, d] slice in a [B, N, C] tensor and of
 * its [N, N] block in a [B, heads, N, N] tensor. */
static int64_t
slice_off(const geom *g, int64_t item)
{
    return (item / g->heads) * g->n * g->c + (item % g->heads) * g->d;
}

static int64_t
block_off(const geom *g, int64_t item)
{
    return item * g->n * g->n;
}

static void
mask_upper(float *s, int64_t n, float value)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++)
            s[i * n + j] = value;
}

/* The buffer forward keeps for backward: saved when the host gives one, else scratch. */
static float *
keep_buffer(const mmx_kernel_args *a)
{
    return a->saved ? (float *)a->saved : (float *)a->workspace;
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

/* ---- attention.scores ---- */

enum { SC_HEADS, SC_CAUSAL, SC_BIAS, SC_SCALE };
enum { SC_WEIGHT, SC_BIAS_P };

typedef struct scores_job {
    const mmx_host *host;
    geom g;
    const float *q, *k, *gs_in;
    float *s, *gs_masked, *gq, *gk;
} scores_job;

static int
scores_fwd_items(void *arg, int64_t begin, int64_t end)
{
    const scores_job *j = arg;
    const geom *g = &j->g;
    for (int64_t it = begin; it < end; it++) {
        int64_t off = slice_off(g, it);
        float *s = j->s + block_off(g, it);
        j->host->sgemm(0, 1, g->n, g->n, g->d, g->scale, j->q + off, g->c, j->k + off, g->c, 0.0f,
                       s, g->n);
        if (g->causal)
            mask_upper(s, g->n, ATTN_MASK);
    }
    return MMX_OK;
}

static int
scores_forward(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    geom g = geom_of(a, 1, SC_HEADS, SC_SCALE, SC_CAUSAL);
    float *k = keep_buffer(a);
    int st =
        project(ctx, a->in[1], a->param[SC_WEIGHT], a->param[SC_BIAS_P], k, g.batch * g.n, g.c);
    if (st != MMX_OK)
        return st;
    scores_job j = {.host = ctx->host, .g = g, .q = a->in[0], .k = k, .s = a->out};
    return ctx->host->parallel_for(ctx, g.batch * g.heads, 1, scores_fwd_items, &j);
}

static int
scores_bwd_items(void *arg, int64_t begin, int64_t end)
{
    const scores_job *j = arg;
    const geom *g = &j->g;
    int64_t n = g->n;
    for (int64_t it = begin; it < end; it++) {
        int64_t off = slice_off(g, it);
        const float *gs = j->gs_in + block_off(g, it);
        if (g->causal) {
            /* The masked entries are constants: no gradient flows through them. */
            float *m = j->gs_masked + block_off(g, it);
            memcpy(m, gs, (size_t)(n * n) * sizeof(float));
            mask_upper(m, n, 0.0f);
            gs = m;
        }
        if (j->gq)
            j->host->sgemm(0, 0, n, g->d, n, g->scale, gs, n, j->k + off, g->c, 0.0f, j->gq + off,
                           g->c);
        if (j->gk)
            j->host->sgemm(1, 0, n, g->d, n, g->scale, gs, n, j->q + off, g->c, 0.0f, j->gk + off,
                           g->c);
    }
    return MMX_OK;
}

static int
scores_backward(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    int st = need_saved(ctx, a);
    if (st != MMX_OK)
        return st;
    geom g = geom_of(a, 1, SC_HEADS, SC_SCALE, SC_CAUSAL);
    int64_t rows = g.batch * g.n;
    float *gx = a->grad_in[1], *gw = a->grad_param[SC_WEIGHT], *gb = a->grad_param[SC_BIAS_P];
    int need_gk = gx || gw || gb;
    float *dk = a->workspace;
    scores_job j = {.host = ctx->host,
                    .g = g,
                    .q = a->in[0],
                    .k = a->saved,
                    .gs_in = a->grad_out,
                    .gs_masked = dk + rows * g.c,
                    .gq = a->grad_in[0],
                    .gk = need_gk ? dk : NULL};
    if (j.gq == NULL && j.gk == NULL)
        return MMX_OK;
    st = ctx->host->parallel_for(ctx, g.batch * g.heads, 1, scores_bwd_items, &j);
    if (st != MMX_OK || !need_gk)
        return st;
    return project_bwd(ctx, dk, a->in[1], a->param[SC_WEIGHT], gx, 0.0f, gw, gb, rows, g.c);
}

/* ---- attention.mix ---- */

enum { MX_HEADS, MX_BIAS, MX_CAUSAL };
enum { MX_WEIGHT, MX_BIAS_P };

typedef struct mix_job {
    const mmx_host *host;
    geom g;
    const float *a, *v, *gout;
    float *a_masked, *out, *ga, *gv;
} mix_job;

/* The coefficients of item `it` as the product sees them: a itself, or under `causal`
 * a copy with zeros above the diagonal. */
static const float *
mix_coeffs(const mix_job *j, int64_t it)
{
    const float *a = j->a + block_off(&j->g, it);
    if (!j->g.causal)
        return a;
    int64_t n = j->g.n;
    float *m = j->a_masked + block_off(&j->g, it);
    memcpy(m, a, (size_t)(n * n) * sizeof(float));
    mask_upper(m, n, 0.0f);
    return m;
}

static int
mix_fwd_items(void *arg, int64_t begin, int64_t end)
{
    const mix_job *j = arg;
    const geom *g = &j->g;
    for (int64_t it = begin; it < end; it++) {
        int64_t off = slice_off(g, it);
        j->host->sgemm(0, 0, g->n, g->d, g->n, 1.0f, mix_coeffs(j, it), g->n, j->v + off, g->c,
                       0.0f, j->out + off, g->c);
    }
    return MMX_OK;
}

static int
mix_forward(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    geom g = geom_of(a, 1, MX_HEADS, -1, MX_CAUSAL);
    int64_t rows = g.batch * g.n;
    float *v = keep_buffer(a);
    int st = project(ctx, a->in[1], a->param[MX_WEIGHT], a->param[MX_BIAS_P], v, rows, g.c);
    if (st != MMX_OK)
        return st;
    mix_job j = {.host = ctx->host,
                 .g = g,
                 .a = a->in[0],
                 .v = v,
                 .a_masked = (float *)a->workspace + rows * g.c,
                 .out = a->out};
    return ctx->host->parallel_for(ctx, g.batch * g.heads, 1, mix_fwd_items, &j);
}

static int
mix_bwd_items(void *arg, int64_t begin, int64_t end)
{
    const mix_job *j = arg;
    const geom *g = &j->g;
    int64_t n = g->n;
    for (int64_t it = begin; it < end; it++) {
        int64_t off = slice_off(g, it);
        if (j->ga) {
            float *ga = j->ga + block_off(g, it);
            j->host->sgemm(0, 1, n, n, g->d, 1.0f, j->gout + off, g->c, j->v + off, g->c, 0.0f, ga,
                           n);
            if (g->causal)
                mask_upper(ga, n, 0.0f);
        }
        if (j->gv)
            j->host->sgemm(1, 0, n, g->d, n, 1.0f, mix_coeffs(j, it), n, j->gout + off, g->c, 0.0f,
                           j->gv + off, g->c);
    }
    return MMX_OK;
}

static int
mix_backward(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    int st = need_saved(ctx, a);
    if (st != MMX_OK)
        return st;
    geom g = geom_of(a, 1, MX_HEADS, -1, MX_CAUSAL);
    int64_t rows = g.batch * g.n;
    float *gx = a->grad_in[1], *gw = a->grad_param[MX_WEIGHT], *gb = a->grad_param[MX_BIAS_P];
    int need_gv = gx || gw || gb;
    float *dv = a->workspace;
    mix_job j = {.host = ctx->host,
                 .g = g,
                 .a = a->in[0],
                 .v = a->saved,
                 .gout = a->grad_out,
                 .a_masked = dv + rows * g.c,
                 .ga = a->grad_in[0],
                 .gv = need_gv ? dv : NULL};
    if (j.ga == NULL && j.gv == NULL)
        return MMX_OK;
    st = ctx->host->parallel_for(ctx, g.batch * g.heads, 1, mix_bwd_items, &j);
    if (st != MMX_OK || !need_gv)
        return st;
    return project_bwd(ctx, dv, a->in[1], a->param[MX_WEIGHT], gx, 0.0f, gw, gb, rows, g.c);
}

/* ---- attention (fused) ---- */

enum { AT_HEADS, AT_CAUSAL, AT_BIAS, AT_SCALE };
enum { AT_WQ, AT_WK, AT_WV, AT_BQ, AT_BK, AT_BV };

typedef struct fused_job {
    const mmx_host *host;
    const attn_rowops *ops;
    geom g;
    const float *q, *k, *v, *p, *gout;
    float *s, *out, *gq, *gk, *gv, *gs;
} fused_job;

static int
fused_fwd_items(void *arg, int64_t begin, int64_t end)
{
    const fused_job *j = arg;
    const geom *g = &j->g;
    for (int64_t it = begin; it < end; it++) {
        int64_t off = slice_off(g, it);
        float *s = j->s + block_off(g, it);
        j->host->sgemm(0, 1, g->n, g->n, g->d, g->scale, j->q + off, g->c, j->k + off, g->c, 0.0f,
                       s, g->n);
        j->ops->softmax(s, g->n, g->causal);
        j->host->sgemm(0, 0, g->n, g->d, g->n, 1.0f, s, g->n, j->v + off, g->c, 0.0f, j->out + off,
                       g->c);
    }
    return MMX_OK;
}

static int
fused_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const attn_rowops *ops)
{
    geom g = geom_of(a, 0, AT_HEADS, AT_SCALE, AT_CAUSAL);
    int64_t rows = g.batch * g.n, nc = rows * g.c;
    const float *x = a->in[0];
    float *keep = keep_buffer(a);
    float *q = keep, *k = keep + nc, *v = keep + 2 * nc, *p = keep + 3 * nc;
    int st = project(ctx, x, a->param[AT_WQ], a->param[AT_BQ], q, rows, g.c);
    if (st == MMX_OK)
        st = project(ctx, x, a->param[AT_WK], a->param[AT_BK], k, rows, g.c);
    if (st == MMX_OK)
        st = project(ctx, x, a->param[AT_WV], a->param[AT_BV], v, rows, g.c);
    if (st != MMX_OK)
        return st;
    fused_job j = {
        .host = ctx->host, .ops = ops, .g = g, .q = q, .k = k, .v = v, .s = p, .out = a->out};
    return ctx->host->parallel_for(ctx, g.batch * g.heads, 1, fused_fwd_items, &j);
}

static int
fused_bwd_items(void *arg, int64_t begin, int64_t end)
{
    const fused_job *j = arg;
    const geom *g = &j->g;
    int64_t n = g->n, d = g->d, c = g->c;
    for (int64_t it = begin; it < end; it++) {
        int64_t off = slice_off(g, it);
        const float *p = j->p + block_off(g, it), *go = j->gout + off;
        float *gs = j->gs + block_off(g, it);
        j->host->sgemm(0, 1, n, n, d, 1.0f, go, c, j->v + off, c, 0.0f, gs, n);
        j->host->sgemm(1, 0, n, d, n, 1.0f, p, n, go, c, 0.0f, j->gv + off, c);
        j->ops->softmax_bwd(p, gs, n, g->causal);
        j->host->sgemm(0, 0, n, d, n, g->scale, gs, n, j->k + off, c, 0.0f, j->gq + off, c);
        j->host->sgemm(1, 0, n, d, n, g->scale, gs, n, j->q + off, c, 0.0f, j->gk + off, c);
    }
    return MMX_OK;
}

static int
fused_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const attn_rowops *ops)
{
    int st = need_saved(ctx, a);
    if (st != MMX_OK)
        return st;
    geom g = geom_of(a, 0, AT_HEADS, AT_SCALE, AT_CAUSAL);
    int64_t rows = g.batch * g.n, nc = rows * g.c;
    float *gx = a->grad_in[0];
    int any = gx != NULL;
    for (int i = 0; i < 6; i++)
        any = any || a->grad_param[i] != NULL;
    if (!any)
        return MMX_OK;
    const float *keep = a->saved, *x = a->in[0];
    float *ws = a->workspace;
    fused_job j = {.host = ctx->host,
                   .ops = ops,
                   .g = g,
                   .q = keep,
                   .k = keep + nc,
                   .v = keep + 2 * nc,
                   .p = keep + 3 * nc,
                   .gout = a->grad_out,
                   .gq = ws,
                   .gk = ws + nc,
                   .gv = ws + 2 * nc,
                   .gs = ws + 3 * nc};
    st = ctx->host->parallel_for(ctx, g.batch * g.heads, 1, fused_bwd_items, &j);
    /* gx = dQ Wq + dK Wk + dV Wv: the first product overwrites, the others add. */
    if (st == MMX_OK)
        st = project_bwd(ctx, j.gq, x, a->param[AT_WQ], gx, 0.0f, a->grad_param[AT_WQ],
                         a->grad_param[AT_BQ], rows, g.c);
    if (st == MMX_OK)
        st = project_bwd(ctx, j.gk, x, a->param[AT_WK], gx, 1.0f, a->grad_param[AT_WK],
                         a->grad_param[AT_BK], rows, g.c);
    if (st == MMX_OK)
        st = project_bwd(ctx, j.gv, x, a->param[AT_WV], gx, 1.0f, a->grad_param[AT_WV],
                         a->grad_param[AT_BV], rows, g.c);
    return st;
}

MMX_ISA_KERNELS(fused, "attention", attn_rowops_, fused_forward, fused_backward)

/* The split ops have no per-ISA work of their own: their arithmetic is the host sgemm
 * (SIMD inside) plus a mask and a bias; one kernel serves every CPU. */
static const mmx_kernel_desc scores_kernel = {.struct_size = sizeof(mmx_kernel_desc),
                                              .name = "scores_scalar",
                                              .isa = MMX_ISA_SCALAR,
                                              .forward = scores_forward,
                                              .backward = scores_backward};
static const mmx_kernel_desc *const scores_kernels[] = {&scores_kernel};

static const mmx_kernel_desc mix_kernel = {.struct_size = sizeof(mmx_kernel_desc),
                                           .name = "mix_scalar",
                                           .isa = MMX_ISA_SCALAR,
                                           .forward = mix_forward,
                                           .backward = mix_backward};
static const mmx_kernel_desc *const mix_kernels[] = {&mix_kernel};

/* ---- shape inference ---- */

static mmx_shape
shape2(int64_t a, int64_t b)
{
    return (mmx_shape){.rank = 2, .dim = {a, b}};
}

static mmx_shape
shape1(int64_t a)
{
    return (mmx_shape){.rank = 1, .dim = {a}};
}

/* x must be a token tensor [N, C] with C divisible by heads. */
static int
check_tokens(mmx_ctx *ctx, const char *op, const char *what, const mmx_shape *x, int64_t heads)
{
    char bx[MMX_SHAPE_TEXT_SIZE];
    if (x->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID, "%s: %s must be tokens [N, C], got %s", op, what,
                         mmx_shape_text(x, bx));
    int st = mmx_grid_check(ctx, op, x);
    if (st != MMX_OK)
        return st;
    if (x->dim[1] % heads != 0)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s: channels C = %lld of %s %s are not divisible by heads = %lld "
                         "(each head takes C / heads channels)",
                         op, (long long)x->dim[1], what, mmx_shape_text(x, bx), (long long)heads);
    return MMX_OK;
}

/* A [C, C] projection and its optional [C] bias, both from the declarations' inits. */
static void
projection_params(mmx_param_info *w, mmx_param_info *b, int64_t c, int has_bias)
{
    w->shape = shape2(c, c);
    if (has_bias)
        b->shape = shape1(c);
}

static int
scores_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int64_t heads = node->attrs[SC_HEADS].i;
    const mmx_shape *q = &node->inputs[0], *x = &node->inputs[1];
    int st = check_tokens(ctx, "attention.scores", "the query q (input 0)", q, heads);
    if (st == MMX_OK)
        st = check_tokens(ctx, "attention.scores", "the memory x (input 1)", x, heads);
    if (st != MMX_OK)
        return st;
    char bq[MMX_SHAPE_TEXT_SIZE], bx[MMX_SHAPE_TEXT_SIZE];
    if (q->dim[0] != x->dim[0] || q->dim[1] != x->dim[1])
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "attention.scores: the query q %s and the memory x %s must have the "
                         "same shape [N, C]",
                         mmx_shape_text(q, bq), mmx_shape_text(x, bx));
    int64_t n = x->dim[0];
    *out = (mmx_shape){.rank = 3, .dim = {heads, n, n}};
    projection_params(&params[SC_WEIGHT], &params[SC_BIAS_P], x->dim[1],
                      (int)node->attrs[SC_BIAS].i);
    return MMX_OK;
}

static int
mix_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int64_t heads = node->attrs[MX_HEADS].i;
    const mmx_shape *a = &node->inputs[0], *x = &node->inputs[1];
    int st = check_tokens(ctx, "attention.mix", "the memory x (input 1)", x, heads);
    if (st == MMX_OK)
        st = mmx_grid_check(ctx, "attention.mix", a);
    if (st != MMX_OK)
        return st;
    int64_t n = x->dim[0];
    char ba[MMX_SHAPE_TEXT_SIZE], bx[MMX_SHAPE_TEXT_SIZE];
    if (a->rank != 3 || a->dim[0] != heads || a->dim[1] != n || a->dim[2] != n)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "attention.mix: the coefficients (input 0) must be [heads, N, N] = "
                         "[%lld, %lld, %lld] for heads = %lld and the memory x %s, got %s",
                         (long long)heads, (long long)n, (long long)n, (long long)heads,
                         mmx_shape_text(x, bx), mmx_shape_text(a, ba));
    *out = *x;
    projection_params(&params[MX_WEIGHT], &params[MX_BIAS_P], x->dim[1],
                      (int)node->attrs[MX_BIAS].i);
    return MMX_OK;
}

static int
fused_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int64_t heads = node->attrs[AT_HEADS].i;
    const mmx_shape *x = &node->inputs[0];
    int st = check_tokens(ctx, "attention", "the input x", x, heads);
    if (st != MMX_OK)
        return st;
    *out = *x;
    int bias = (int)node->attrs[AT_BIAS].i;
    for (int i = 0; i < 3; i++)
        projection_params(&params[AT_WQ + i], &params[AT_BQ + i], x->dim[1], bias);
    return MMX_OK;
}

/* ---- buffers and cost ---- */

static int64_t
in_dim(const mmx_node *node, int input, int axis)
{
    return node->inputs[input].dim[axis];
}

static void
scores_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    int64_t n = in_dim(node, 1, 0), c = in_dim(node, 1, 1), heads = node->attrs[SC_HEADS].i;
    int64_t masked = node->attrs[SC_CAUSAL].i ? batch * heads * n * n : 0;
    sizes->saved = (size_t)(batch * n * c) * sizeof(float);              /* k */
    sizes->workspace = (size_t)(batch * n * c + masked) * sizeof(float); /* dk, masked ds */
}

static void
mix_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    int64_t n = in_dim(node, 1, 0), c = in_dim(node, 1, 1), heads = node->attrs[MX_HEADS].i;
    int64_t masked = node->attrs[MX_CAUSAL].i ? batch * heads * n * n : 0;
    sizes->saved = (size_t)(batch * n * c) * sizeof(float);              /* v */
    sizes->workspace = (size_t)(batch * n * c + masked) * sizeof(float); /* dv, masked a */
}

static void
fused_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    int64_t n = in_dim(node, 0, 0), c = in_dim(node, 0, 1), heads = node->attrs[AT_HEADS].i;
    size_t per = (size_t)(3 * batch * n * c + batch * heads * n * n) * sizeof(float);
    sizes->saved = per;     /* q, k, v, probabilities */
    sizes->workspace = per; /* dq, dk, dv, dscores */
}

/* FLOPs are 2 x multiply-adds; a bias add, a scale or a mask counts 1 per element, a
 * softmax about 5 per score. */
static void
scores_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)in_dim(node, 1, 0), c = (double)in_dim(node, 1, 1);
    double heads = (double)node->attrs[SC_HEADS].i;
    cost->flops = 2.0 * n * c * c + 2.0 * n * n * c + (node->attrs[SC_BIAS].i ? n * c : 0.0);
    cost->bytes = 4.0 * (2.0 * n * c + c * c + heads * n * n);
}

static void
mix_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)in_dim(node, 1, 0), c = (double)in_dim(node, 1, 1);
    double heads = (double)node->attrs[MX_HEADS].i;
    cost->flops = 2.0 * n * c * c + 2.0 * n * n * c + (node->attrs[MX_BIAS].i ? n * c : 0.0);
    cost->bytes = 4.0 * (heads * n * n + 2.0 * n * c + c * c);
}

static void
fused_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)in_dim(node, 0, 0), c = (double)in_dim(node, 0, 1);
    double heads = (double)node->attrs[AT_HEADS].i;
    cost->flops = 3.0 * 2.0 * n * c * c + 2.0 * 2.0 * n * n * c + 5.0 * heads * n * n +
                  (node->attrs[AT_BIAS].i ? 3.0 * n * c : 0.0);
    cost->bytes = 4.0 * (2.0 * n * c + 3.0 * c * c);
}

/* ---- descriptors ---- */

static const mmx_attr_desc attr_heads = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "heads",
    .type = MMX_ATTR_INT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "number of heads; must divide the channels C (head_dim = C / heads)",
    .default_number = 1,
    .min = 1,
    .max = 4096};
static const mmx_attr_desc attr_causal_scores = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "causal",
    .type = MMX_ATTR_BOOL,
    .doc = "token i sees tokens <= i: scores above the diagonal are -1e9 (finite, so "
           "softmax/gelu/relu/sigmoid/silu give exactly 0); for identity or tanh also set "
           "causal on attention.mix",
    .default_number = 0};
static const mmx_attr_desc attr_causal_mix = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "causal",
    .type = MMX_ATTR_BOOL,
    .doc = "ignore the coefficients above the diagonal (token i mixes tokens <= i), whatever "
           "activation produced them",
    .default_number = 0};
static const mmx_attr_desc attr_causal_fused = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "causal",
    .type = MMX_ATTR_BOOL,
    .doc = "token i attends to tokens <= i (the masked softmax gives exact zeros above the "
           "diagonal)",
    .default_number = 0};
static const mmx_attr_desc attr_bias_k = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "bias",
    .type = MMX_ATTR_BOOL,
    .doc = "add a bias to the projection (parameter 'bias', zeros)",
    .default_number = 0};
static const mmx_attr_desc attr_bias_fused = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "bias",
    .type = MMX_ATTR_BOOL,
    .doc = "add biases bq, bk, bv (zeros) to the q, k, v projections",
    .default_number = 0};
static const mmx_attr_desc attr_scale = {.struct_size = sizeof(mmx_attr_desc),
                                         .name = "scale",
                                         .type = MMX_ATTR_FLOAT,
                                         .flags = MMX_ATTR_HAS_RANGE,
                                         .doc = "score scale; 0 means 1/sqrt(head_dim)",
                                         .default_number = 0,
                                         .min = 0,
                                         .max = 1e6};

static const mmx_attr_desc *const scores_attrs[] = {&attr_heads, &attr_causal_scores, &attr_bias_k,
                                                    &attr_scale};
static const mmx_attr_desc *const mix_attrs[] = {&attr_heads, &attr_bias_k, &attr_causal_mix};
static const mmx_attr_desc *const fused_attrs[] = {&attr_heads, &attr_causal_fused,
                                                   &attr_bias_fused, &attr_scale};

/* Projection weights: trunc_normal(std 0.02), timm's ViT init (init_weights_vit_timm);
 * biases zeros, no weight decay. */
#define PROJ_WEIGHT(var, pname, pdoc)                                                              \
    static const mmx_param_desc var = {.struct_size = sizeof(mmx_param_desc),                      \
                                       .name = pname,                                              \
                                       .doc = pdoc,                                                \
                                       .init = MMX_INIT_TRUNC_NORMAL,                              \
                                       .init_a = 0.02};
#define PROJ_BIAS(var, pname, pdoc)                                                                \
    static const mmx_param_desc var = {.struct_size = sizeof(mmx_param_desc),                      \
                                       .name = pname,                                              \
                                       .flags = MMX_PARAM_NO_DECAY,                                \
                                       .doc = pdoc,                                                \
                                       .init = MMX_INIT_ZEROS};

PROJ_WEIGHT(p_wk, "weight", "key projection W_k [C, C] (k = x W_k^T + b, nn.Linear layout)")
PROJ_BIAS(p_bk, "bias", "key projection bias [C] (with bias = true)")
PROJ_WEIGHT(p_wv, "weight", "value projection W_v [C, C] (v = x W_v^T + b, nn.Linear layout)")
PROJ_BIAS(p_bv, "bias", "value projection bias [C] (with bias = true)")
PROJ_WEIGHT(p_fwq, "wq", "query projection [C, C] (nn.Linear layout)")
PROJ_WEIGHT(p_fwk, "wk", "key projection [C, C] (nn.Linear layout)")
PROJ_WEIGHT(p_fwv, "wv", "value projection [C, C] (nn.Linear layout)")
PROJ_BIAS(p_fbq, "bq", "query bias [C] (with bias = true)")
PROJ_BIAS(p_fbk, "bk", "key bias [C] (with bias = true)")
PROJ_BIAS(p_fbv, "bv", "value bias [C] (with bias = true)")

static const mmx_param_desc *const scores_params[] = {&p_wk, &p_bk};
static const mmx_param_desc *const mix_params[] = {&p_wv, &p_bv};
static const mmx_param_desc *const fused_params[] = {&p_fwq, &p_fwk, &p_fwv,
                                                     &p_fbq, &p_fbk, &p_fbv};

static const mmx_input_role data_memory[] = {MMX_INPUT_DATA, MMX_INPUT_MEMORY};

static const char *const scores_examples[] = {
    "{\"inputs\": [\"3x3:7\", \"3x3:7\"]}",
    "{\"attrs\": {\"heads\": 3, \"causal\": true, \"bias\": true}, \"inputs\": [[5, 15], [5, 15]]}",
    "{\"attrs\": {\"heads\": 2, \"scale\": 0.3}, \"inputs\": [[7, 10], [7, 10]]}", NULL};
static const char *const mix_examples[] = {
    "{\"inputs\": [[1, 9, 9], \"3x3:7\"]}",
    "{\"attrs\": {\"heads\": 3, \"bias\": true}, \"inputs\": [[3, 5, 5], [5, 15]]}",
    "{\"attrs\": {\"heads\": 2, \"causal\": true}, \"inputs\": [[2, 7, 7], [7, 10]]}", NULL};
static const char *const fused_examples[] = {
    "{\"inputs\": [\"3x3:7\"]}",
    "{\"attrs\": {\"heads\": 3, \"bias\": true}, \"inputs\": [[5, 15]]}",
    "{\"attrs\": {\"heads\": 2, \"causal\": true, \"scale\": 0.4}, \"inputs\": [[7, 10]]}", NULL};

/* Fused attention with `causal` is causal along the tokens (MMX_OP_CAUSAL, held to it by
 * the kit). The split ops cannot promise it: attention.scores writes [heads, N, N] and
 * attention.mix reads it, neither with the tokens first; a spec's whole graph is checked
 * instead (tests/core/test-train.c, test_lm_zoo_specs_are_causal). */
static uint32_t
fused_node_flags(const mmx_node *node)
{
    return node->attrs[AT_CAUSAL].i ? MMX_OP_CAUSAL : 0;
}

static const mmx_op_desc scores_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "attention.scores",
    .op_version = 1,
    .doc = "key op: k = x W_k^T (+b) from the memory x; per-head scores q_h k_h^T * scale "
           "[heads, N, N], optional causal mask",
    .min_inputs = 2,
    .max_inputs = 2,
    .input_roles = data_memory,
    .n_attrs = sizeof scores_attrs / sizeof scores_attrs[0],
    .attrs = scores_attrs,
    .n_params = sizeof scores_params / sizeof scores_params[0],
    .params = scores_params,
    .infer = scores_infer,
    .buffer_sizes = scores_buffers,
    .cost = scores_cost,
    .n_kernels = sizeof scores_kernels / sizeof scores_kernels[0],
    .kernels = scores_kernels,
    .examples = scores_examples};

static const mmx_op_desc mix_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "attention.mix",
    .op_version = 1,
    .doc = "value op: v = x W_v^T (+b) from the memory x; out = concat_h(a_h v_h) [N, C]",
    .min_inputs = 2,
    .max_inputs = 2,
    .input_roles = data_memory,
    .n_attrs = sizeof mix_attrs / sizeof mix_attrs[0],
    .attrs = mix_attrs,
    .n_params = sizeof mix_params / sizeof mix_params[0],
    .params = mix_params,
    .infer = mix_infer,
    .buffer_sizes = mix_buffers,
    .cost = mix_cost,
    .n_kernels = sizeof mix_kernels / sizeof mix_kernels[0],
    .kernels = mix_kernels,
    .examples = mix_examples};

static const mmx_op_desc fused_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "attention",
    .op_version = 1,
    .doc = "fused multi-head self-attention softmax(q k^T / sqrt(d)) v, heads merged, no "
           "output projection",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_attrs = sizeof fused_attrs / sizeof fused_attrs[0],
    .attrs = fused_attrs,
    .n_params = sizeof fused_params / sizeof fused_params[0],
    .params = fused_params,
    .infer = fused_infer,
    .buffer_sizes = fused_buffers,
    .cost = fused_cost,
    .n_kernels = sizeof fused_kernels / sizeof fused_kernels[0],
    .kernels = fused_kernels,
    .examples = fused_examples,
    .flags = MMX_OP_CAUSAL,
    .node_flags = fused_node_flags};

MMX_PLUGIN_DEFINE("attention", "1.0.0",
                  "Multi-head attention: attention.scores (key op), attention.mix (value op), "
                  "fused attention",
                  &scores_op, &mix_op, &fused_op);
