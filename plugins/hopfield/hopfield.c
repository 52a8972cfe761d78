/* hopfield.c: the Hopfield interaction of the parallelized MLP-Mixer (Karakida, Ota, Taki
 * 2024, hierarchical associative memory): y = W^T act(W x) with one tied weight, its
 * symmetry-broken twins, and the energy diagnostic of the tied network.
 *
 * The maths (docs/ops.md has the long form). Along the channel axis x is each token's
 * C-vector; along the token axis x is each channel's N-vector (the MLP-Mixer token MLP).
 * With W [hidden, in], h = W x + b, a = act(h):
 *   tied:            y = W^T a + c
 *   broken:          y = V a + c             (V = weight_v [in, hidden], independent)
 *   tied_plus_free:  y = W^T a + V a + c     (the paper's code: aMlp, symmetric term plus
 *                                             a free symmetry-breaking term)
 * (b = bias [hidden] and c = bias_out [in] with bias = true.) The tied network has the
 * energy E(x) = 1/2 |x|^2 - c.x - sum_j L(h_j), with L' = act, so dE/dx = x - y and the
 * dynamics x <- x + eta (y - x) descend E.
 *
 * Design. The products run on the host sgemm: along channels as one product over all
 * batch * rows; along tokens as batched products, one per sample. Parameter gradients
 * along channels are single products reducing over batch * rows (a fixed order); along
 * tokens the batch is cut into at most 16 chunks fixed by the batch size, each chunk sums
 * its samples into a workspace partial, and the partials are added in chunk order. Bias
 * gradients sum each feature sequentially in one chunk. So results are bit-identical for
 * any thread count. Only the activation maps differ per ISA (hopfield-private.h).
 */
#include <math.h>
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "hopfield-private.h"

/* ---- scalar activation maps (the reference) ---- */

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define LN_2 0.69314718055994530942

static void
act_scalar(const float *h, float *a, int64_t n, int act)
{
    for (int64_t i = 0; i < n; i++) {
        float v = h[i];
        switch (act) {
        case HOP_GELU:
            a[i] = 0.5f * v * (1.0f + erff(v * (float)SQRT1_2));
            break;
        case HOP_RELU:
            a[i] = v > 0.0f ? v : 0.0f;
            break;
        case HOP_TANH:
            a[i] = tanhf(v);
            break;
        default:
            a[i] = v;
        }
    }
}

static void
act_bwd_scalar(const float *h, float *g, int64_t n, int act)
{
    for (int64_t i = 0; i < n; i++) {
        float v = h[i], d;
        switch (act) {
        case HOP_GELU:
            d = 0.5f * (1.0f + erff(v * (float)SQRT1_2)) +
                v * (float)INV_SQRT_2PI * expf(-0.5f * v * v);
            break;
        case HOP_RELU:
            d = v > 0.0f ? 1.0f : 0.0f;
            break;
        case HOP_TANH: {
            float t = tanhf(v);
            d = 1.0f - t * t;
            break;
        }
        default:
            d = 1.0f;
        }
        g[i] *= d;
    }
}

const hop_maps hop_maps_scalar = {act_scalar, act_bwd_scalar};

/* The Lagrangian L of each activation (L' = act, L(0) = 0), in double: the energy is a
 * diagnostic summed over many terms. GELU: L(u) = int_0^u t Phi(t) dt
 * = ((u^2 - 1) Phi(u) + u phi(u)) / 2 + 1/4. tanh: log cosh u, written stably. */
static double
lagrangian(double u, int act)
{
    switch (act) {
    case HOP_GELU: {
        double cdf = 0.5 * (1.0 + erf(u * SQRT1_2)), pdf = INV_SQRT_2PI * exp(-0.5 * u * u);
        return 0.5 * ((u * u - 1.0) * cdf + u * pdf) + 0.25;
    }
    case HOP_RELU:
        return u > 0.0 ? 0.5 * u * u : 0.0;
    case HOP_TANH: {
        double a = fabs(u);
        return a + log1p(exp(-2.0 * a)) - LN_2;
    }
    default:
        return 0.5 * u * u;
    }
}

/* ---- geometry ---- */

enum { HA_AXIS, HA_HIDDEN, HA_SYMMETRY, HA_ACTIVATION, HA_BIAS };
enum { AXIS_CHANNEL = 0, AXIS_TOKEN = 1 };
enum { SYM_TIED = 0, SYM_BROKEN = 1, SYM_TIED_PLUS_FREE = 2 };
enum { P_W, P_V, P_B, P_C };

/* Along channels a sample is `other` rows of `in` features: x [other, in], h [other, hid].
 * Along tokens a sample is x [in, other] (in = N, other = C), h [hid, other]. */
typedef struct hgeom {
    int64_t batch, in, hid, other, x_n, h_n;
    int token, sym, act;
} hgeom;

static hgeom
hgeom_of(const mmx_node *node, int64_t batch)
{
    hgeom g;
    const mmx_shape *x = &node->inputs[0];
    g.batch = batch;
    g.token = node->attrs[HA_AXIS].i == AXIS_TOKEN;
    g.sym = (int)node->attrs[HA_SYMMETRY].i;
    g.act = (int)node->attrs[HA_ACTIVATION].i;
    g.hid = node->attrs[HA_HIDDEN].i;
    g.x_n = mmx_numel(x);
    g.in = g.token ? x->dim[0] : x->dim[x->rank - 1];
    g.other = g.x_n / g.in;
    g.h_n = g.hid * g.other;
    return g;
}

static int
uses_w_down(const hgeom *g)
{
    return g->sym != SYM_BROKEN;
}

static int
uses_v(const hgeom *g)
{
    return g->sym != SYM_TIED;
}

/* ---- products ---- */

/* h = W x (no bias) */
static void
prod_up(const mmx_host *host, const hgeom *g, const float *w, const float *x, float *h)
{
    if (g->token)
        host->sgemm_batched(g->batch, 0, 0, g->hid, g->other, g->in, 1.0f, w, g->in, 0, x, g->other,
                            g->x_n, 0.0f, h, g->other, g->h_n);
    else
        host->sgemm(0, 1, g->batch * g->other, g->hid, g->in, 1.0f, x, g->in, w, g->in, 0.0f, h,
                    g->hid);
}

/* y = beta y + W^T a (use_v = 0) or V a (use_v = 1) */
static void
prod_down(const mmx_host *host, const hgeom *g, const float *m, int use_v, const float *a,
          float beta, float *y)
{
    if (g->token) {
        if (use_v)
            host->sgemm_batched(g->batch, 0, 0, g->in, g->other, g->hid, 1.0f, m, g->hid, 0, a,
                                g->other, g->h_n, beta, y, g->other, g->x_n);
        else
            host->sgemm_batched(g->batch, 1, 0, g->in, g->other, g->hid, 1.0f, m, g->in, 0, a,
                                g->other, g->h_n, beta, y, g->other, g->x_n);
    } else {
        int64_t rows = g->batch * g->other;
        if (use_v)
            host->sgemm(0, 1, rows, g->in, g->hid, 1.0f, a, g->hid, m, g->hid, beta, y, g->in);
        else
            host->sgemm(0, 0, rows, g->in, g->hid, 1.0f, a, g->hid, m, g->in, beta, y, g->in);
    }
}

/* The adjoint of prod_down: ga = beta ga + W gy (use_v = 0) or V^T gy (use_v = 1). */
static void
prod_down_adj(const mmx_host *host, const hgeom *g, const float *m, int use_v, const float *gy,
              float beta, float *ga)
{
    if (g->token) {
        if (use_v)
            host->sgemm_batched(g->batch, 1, 0, g->hid, g->other, g->in, 1.0f, m, g->hid, 0, gy,
                                g->other, g->x_n, beta, ga, g->other, g->h_n);
        else
            host->sgemm_batched(g->batch, 0, 0, g->hid, g->other, g->in, 1.0f, m, g->in, 0, gy,
                                g->other, g->x_n, beta, ga, g->other, g->h_n);
    } else {
        int64_t rows = g->batch * g->other;
        if (use_v)
            host->sgemm(0, 0, rows, g->hid, g->in, 1.0f, gy, g->in, m, g->hid, beta, ga, g->hid);
        else
            host->sgemm(0, 1, rows, g->hid, g->in, 1.0f, gy, g->in, m, g->in, beta, ga, g->hid);
    }
}

/* ---- parameter-gradient reductions over the batch ---- */

/* One term of a sum over samples: op(A_b) op(B_b), A_b = a + b * sa. */
typedef struct term {
    int ta, tb;
    const float *a, *b;
    int64_t lda, sa, ldb, sb;
} term;

typedef struct reduce_job {
    const mmx_host *host;
    int64_t chunk, m, n, k;
    int n_terms;
    term t[2];
    float *partials;
} reduce_job;

static int
reduce_range(void *arg, int64_t begin, int64_t end)
{
    const reduce_job *j = arg;
    float *p = j->partials + (begin / j->chunk) * j->m * j->n;
    float beta = 0.0f;
    for (int64_t s = begin; s < end; s++)
        for (int i = 0; i < j->n_terms; i++) {
            const term *t = &j->t[i];
            j->host->sgemm(t->ta, t->tb, j->m, j->n, j->k, 1.0f, t->a + s * t->sa, t->lda,
                           t->b + s * t->sb, t->ldb, beta, p, j->n);
            beta = 1.0f;
        }
    return MMX_OK;
}

typedef struct combine_job {
    const float *partials;
    int64_t n_chunks, size;
    float *grad;
} combine_job;

static int
combine_range(void *arg, int64_t begin, int64_t end)
{
    const combine_job *j = arg;
    for (int64_t e = begin; e < end; e++) {
        float s = 0.0f;
        for (int64_t k = 0; k < j->n_chunks; k++)
            s += j->partials[k * j->size + e];
        j->grad[e] += s;
    }
    return MMX_OK;
}

/* Samples per chunk: at most 16 chunks, fixed by the batch size alone. */
static int64_t
chunk_of(int64_t batch)
{
    return (batch + 15) / 16;
}

/* grad [m, n] += sum over samples of the terms, through chunk partials (token axis). */
static int
reduce_batch(mmx_ctx *ctx, const hgeom *g, int64_t m, int64_t n, int64_t k, const term *terms,
             int n_terms, float *partials, float *grad)
{
    reduce_job j = {.host = ctx->host,
                    .chunk = chunk_of(g->batch),
                    .m = m,
                    .n = n,
                    .k = k,
                    .n_terms = n_terms,
                    .partials = partials};
    for (int i = 0; i < n_terms; i++)
        j.t[i] = terms[i];
    int st = ctx->host->parallel_for(ctx, g->batch, j.chunk, reduce_range, &j);
    if (st != MMX_OK)
        return st;
    combine_job c = {partials, (g->batch + j.chunk - 1) / j.chunk, m * n, grad};
    return ctx->host->parallel_for(ctx, m * n, 4096, combine_range, &c);
}

/* ---- feature biases ---- */

typedef struct bias_job {
    const hgeom *g;
    float *y;
    const float *b;
    int64_t features;
} bias_job;

static int
bias_range(void *arg, int64_t begin, int64_t end)
{
    const bias_job *j = arg;
    if (j->g->token) { /* rows (sample, feature) of `other` values */
        for (int64_t r = begin; r < end; r++) {
            float bv = j->b[r % j->features], *row = j->y + r * j->g->other;
            for (int64_t c = 0; c < j->g->other; c++)
                row[c] += bv;
        }
    } else { /* rows of `features` values */
        for (int64_t r = begin; r < end; r++) {
            float *row = j->y + r * j->features;
            for (int64_t f = 0; f < j->features; f++)
                row[f] += j->b[f];
        }
    }
    return MMX_OK;
}

/* y += b broadcast along the feature axis (hidden units or inputs). */
static int
add_bias(mmx_ctx *ctx, const hgeom *g, float *y, const float *b, int64_t features)
{
    bias_job j = {g, y, b, features};
    int64_t rows = g->token ? g->batch * features : g->batch * g->other;
    int64_t len = g->token ? g->other : features;
    int64_t grain = MMX_ELEMENTWISE_GRAIN / len > 0 ? MMX_ELEMENTWISE_GRAIN / len : 1;
    return ctx->host->parallel_for(ctx, rows, grain, bias_range, &j);
}

typedef struct fsum_job {
    const hgeom *g;
    const float *y, *scale;
    int64_t features;
    float *acc;
} fsum_job;

#define FSUM_BLOCK 64

static int
fsum_range(void *arg, int64_t begin, int64_t end)
{
    const fsum_job *j = arg;
    const hgeom *g = j->g;
    int64_t per = g->other * j->features; /* elements per sample */
    if (g->token) {
        for (int64_t f = begin; f < end; f++) {
            double s = 0;
            for (int64_t b = 0; b < g->batch; b++) {
                const float *row = j->y + b * per + f * g->other;
                double sb = 0;
                for (int64_t c = 0; c < g->other; c++)
                    sb += row[c];
                s += (j->scale ? j->scale[b] : 1.0) * sb;
            }
            j->acc[f] += (float)s;
        }
        return MMX_OK;
    }
    for (int64_t blk = begin; blk < end; blk++) {
        int64_t f0 = blk * FSUM_BLOCK;
        int64_t f1 = f0 + FSUM_BLOCK < j->features ? f0 + FSUM_BLOCK : j->features;
        double s[FSUM_BLOCK] = {0};
        for (int64_t b = 0; b < g->batch; b++) {
            double sb[FSUM_BLOCK] = {0};
            for (int64_t r = 0; r < g->other; r++)
                for (int64_t f = f0; f < f1; f++)
                    sb[f - f0] += j->y[b * per + r * j->features + f];
            for (int64_t f = f0; f < f1; f++)
                s[f - f0] += (j->scale ? j->scale[b] : 1.0) * sb[f - f0];
        }
        for (int64_t f = f0; f < f1; f++)
            j->acc[f] += (float)s[f - f0];
    }
    return MMX_OK;
}

/* acc[f] += sum over samples b of scale[b] (1 when NULL) times the sum of y's elements at
 * feature f; each feature summed in a fixed order by one chunk. */
static int
feature_sum(mmx_ctx *ctx, const hgeom *g, const float *y, int64_t features, const float *scale,
            float *acc)
{
    fsum_job j = {g, y, scale, features, acc};
    int64_t n = g->token ? features : (features + FSUM_BLOCK - 1) / FSUM_BLOCK;
    return ctx->host->parallel_for(ctx, n, g->token ? 16 : 1, fsum_range, &j);
}

/* ---- elementwise maps over the batch ---- */

typedef struct map_job {
    const hop_maps *maps;
    int act;
    const float *h;
    float *a;
} map_job;

static int
act_range(void *arg, int64_t begin, int64_t end)
{
    const map_job *j = arg;
    j->maps->act(j->h + begin, j->a + begin, end - begin, j->act);
    return MMX_OK;
}

static int
act_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const map_job *j = arg;
    j->maps->act_bwd(j->h + begin, j->a + begin, end - begin, j->act);
    return MMX_OK;
}

static int
run_act(mmx_ctx *ctx, const hop_maps *maps, const hgeom *g, const float *h, float *a)
{
    map_job j = {maps, g->act, h, a};
    return ctx->host->parallel_for(ctx, g->batch * g->h_n, MMX_ELEMENTWISE_GRAIN, act_range, &j);
}

static int
run_act_bwd(mmx_ctx *ctx, const hop_maps *maps, const hgeom *g, const float *h, float *gh)
{
    map_job j = {maps, g->act, h, gh};
    return ctx->host->parallel_for(ctx, g->batch * g->h_n, MMX_ELEMENTWISE_GRAIN, act_bwd_range,
                                   &j);
}

/* ---- buffers ---- */

/* saved: h and a (B h_n each). workspace: the same two (a forward without saved buffer
 * keeps them there), then the token-axis chunk partials. */
static int64_t
partials_floats(const hgeom *g)
{
    if (!g->token)
        return 0;
    int64_t chunk = chunk_of(g->batch);
    return (g->batch + chunk - 1) / chunk * g->hid * g->in;
}

static void
hopfield_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    hgeom g = hgeom_of(node, batch);
    sizes->saved = (size_t)(2 * batch * g.h_n) * sizeof(float);
    sizes->workspace = (size_t)(2 * batch * g.h_n + partials_floats(&g)) * sizeof(float);
}

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

/* ---- hopfield ---- */

static int
hopfield_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const hop_maps *maps)
{
    hgeom g = hgeom_of(a->node, a->batch);
    const mmx_host *host = ctx->host;
    float *h = keep_buffer(a), *act = h + g.batch * g.h_n;
    const float *w = a->param[P_W], *v = a->param[P_V];
    prod_up(host, &g, w, a->in[0], h);
    int st = a->param[P_B] ? add_bias(ctx, &g, h, a->param[P_B], g.hid) : MMX_OK;
    if (st == MMX_OK)
        st = run_act(ctx, maps, &g, h, act);
    if (st != MMX_OK)
        return st;
    float beta = 0.0f;
    if (uses_w_down(&g)) {
        prod_down(host, &g, w, 0, act, beta, a->out);
        beta = 1.0f;
    }
    if (uses_v(&g))
        prod_down(host, &g, v, 1, act, beta, a->out);
    return a->param[P_C] ? add_bias(ctx, &g, a->out, a->param[P_C], g.in) : MMX_OK;
}

static int
hopfield_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const hop_maps *maps)
{
    int st = need_saved(ctx, a);
    if (st != MMX_OK)
        return st;
    hgeom g = hgeom_of(a->node, a->batch);
    const mmx_host *host = ctx->host;
    const float *h = a->saved, *act = h + g.batch * g.h_n, *x = a->in[0], *gy = a->grad_out;
    const float *w = a->param[P_W], *v = a->param[P_V];
    float *gx = a->grad_in[0], *gw = a->grad_param[P_W], *gv = a->grad_param[P_V];
    float *gb = a->grad_param[P_B], *gc = a->grad_param[P_C];
    float *gh = a->workspace, *partials = gh + 2 * g.batch * g.h_n;
    if (gc && (st = feature_sum(ctx, &g, gy, g.in, NULL, gc)) != MMX_OK)
        return st;
    /* the output side: V's gradient, then W's from its use going down (tied) */
    if (gv) {
        if (g.token) {
            term t = {0, 1, gy, act, g.other, g.x_n, g.other, g.h_n};
            st = reduce_batch(ctx, &g, g.in, g.hid, g.other, &t, 1, partials, gv);
        } else {
            host->sgemm(1, 0, g.in, g.hid, g.batch * g.other, 1.0f, gy, g.in, act, g.hid, 1.0f, gv,
                        g.hid);
        }
        if (st != MMX_OK)
            return st;
    }
    if (!gx && !gw && !gb)
        return MMX_OK;
    /* gh = act'(h) * (W gy [+ V^T gy]) */
    float beta = 0.0f;
    if (uses_w_down(&g)) {
        prod_down_adj(host, &g, w, 0, gy, beta, gh);
        beta = 1.0f;
    }
    if (uses_v(&g))
        prod_down_adj(host, &g, v, 1, gy, beta, gh);
    if ((st = run_act_bwd(ctx, maps, &g, h, gh)) != MMX_OK)
        return st;
    if (gx) {
        if (g.token)
            host->sgemm_batched(g.batch, 1, 0, g.in, g.other, g.hid, 1.0f, w, g.in, 0, gh, g.other,
                                g.h_n, 0.0f, gx, g.other, g.x_n);
        else
            host->sgemm(0, 0, g.batch * g.other, g.in, g.hid, 1.0f, gh, g.hid, w, g.in, 0.0f, gx,
                        g.in);
    }
    if (gb && (st = feature_sum(ctx, &g, gh, g.hid, NULL, gb)) != MMX_OK)
        return st;
    if (gw) {
        /* dW = sum gh x^T (going up) [+ a gy^T (coming down, tied)] */
        if (g.token) {
            term t[2] = {{0, 1, gh, x, g.other, g.h_n, g.other, g.x_n},
                         {0, 1, act, gy, g.other, g.h_n, g.other, g.x_n}};
            st = reduce_batch(ctx, &g, g.hid, g.in, g.other, t, uses_w_down(&g) ? 2 : 1, partials,
                              gw);
        } else {
            int64_t rows = g.batch * g.other;
            host->sgemm(1, 0, g.hid, g.in, rows, 1.0f, gh, g.hid, x, g.in, 1.0f, gw, g.in);
            if (uses_w_down(&g))
                host->sgemm(1, 0, g.hid, g.in, rows, 1.0f, act, g.hid, gy, g.in, 1.0f, gw, g.in);
        }
    }
    return st;
}

MMX_ISA_KERNELS(hop, "hopfield", hop_maps_, hopfield_forward, hopfield_backward)

/* ---- hopfield.energy ---- */

typedef struct energy_job {
    const hgeom *g;
    const float *x, *h, *c;
    float *e;
} energy_job;

static int
energy_range(void *arg, int64_t begin, int64_t end)
{
    const energy_job *j = arg;
    const hgeom *g = j->g;
    for (int64_t b = begin; b < end; b++) {
        const float *x = j->x + b * g->x_n, *h = j->h + b * g->h_n;
        double sq = 0, cx = 0, lag = 0;
        for (int64_t i = 0; i < g->x_n; i++) {
            sq += (double)x[i] * x[i];
            if (j->c)
                cx += (double)j->c[g->token ? i / g->other : i % g->in] * x[i];
        }
        for (int64_t i = 0; i < g->h_n; i++)
            lag += lagrangian(h[i], g->act);
        j->e[b] = (float)(0.5 * sq - cx - lag);
    }
    return MMX_OK;
}

static void
energy_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    hgeom g = hgeom_of(node, batch);
    sizes->saved = (size_t)(batch * g.h_n) * sizeof(float);
    sizes->workspace = (size_t)(batch * g.h_n + batch + partials_floats(&g)) * sizeof(float);
}

static int
energy_forward(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    hgeom g = hgeom_of(a->node, a->batch);
    float *h = keep_buffer(a);
    prod_up(ctx->host, &g, a->param[P_W], a->in[0], h);
    int st = a->param[P_B] ? add_bias(ctx, &g, h, a->param[P_B], g.hid) : MMX_OK;
    if (st != MMX_OK)
        return st;
    energy_job j = {&g, a->in[0], h, a->param[P_C], a->out};
    return ctx->host->parallel_for(ctx, g.batch, 1, energy_range, &j);
}

typedef struct scale_job {
    const hgeom *g;
    const float *s, *x, *c;
    float *y;
    int64_t per;
    int mode; /* 0: y = s_b * y; 1: y = s_b * (x - c - y) */
} scale_job;

static int
scale_range(void *arg, int64_t begin, int64_t end)
{
    const scale_job *j = arg;
    const hgeom *g = j->g;
    for (int64_t b = begin; b < end; b++) {
        float s = j->s[b], *y = j->y + b * j->per;
        const float *x = j->x ? j->x + b * j->per : NULL;
        for (int64_t i = 0; i < j->per; i++) {
            if (j->mode == 0) {
                y[i] *= s;
            } else {
                float c = j->c ? j->c[g->token ? i / g->other : i % g->in] : 0.0f;
                y[i] = s * (x[i] - c - y[i]);
            }
        }
    }
    return MMX_OK;
}

/* dE/dx = x - c - W^T act(h); dE/dW = -(act(h) x^T); dE/db = -act(h); dE/dc = -x. */
static int
energy_backward(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    int st = need_saved(ctx, a);
    if (st != MMX_OK)
        return st;
    hgeom g = hgeom_of(a->node, a->batch);
    const mmx_host *host = ctx->host;
    const float *h = a->saved, *x = a->in[0], *w = a->param[P_W], *c = a->param[P_C];
    float *gx = a->grad_in[0], *gw = a->grad_param[P_W];
    float *gb = a->grad_param[P_B], *gc = a->grad_param[P_C];
    float *act = a->workspace, *neg = act + g.batch * g.h_n, *partials = neg + g.batch;
    for (int64_t b = 0; b < g.batch; b++)
        neg[b] = -a->grad_out[b];
    if (gc && (st = feature_sum(ctx, &g, x, g.in, neg, gc)) != MMX_OK)
        return st;
    if (!gx && !gw && !gb)
        return MMX_OK;
    if ((st = run_act(ctx, &hop_maps_scalar, &g, h, act)) != MMX_OK)
        return st;
    if (gx) {
        prod_down(host, &g, w, 0, act, 0.0f, gx);
        scale_job sj = {&g, a->grad_out, x, c, gx, g.x_n, 1};
        if ((st = host->parallel_for(ctx, g.batch, 1, scale_range, &sj)) != MMX_OK)
            return st;
    }
    if (!gw && !gb)
        return MMX_OK;
    /* act <- -gE_b act(h): then dW += sum act x^T and db += sum act */
    scale_job sj = {&g, neg, NULL, NULL, act, g.h_n, 0};
    if ((st = host->parallel_for(ctx, g.batch, 1, scale_range, &sj)) != MMX_OK)
        return st;
    if (gb && (st = feature_sum(ctx, &g, act, g.hid, NULL, gb)) != MMX_OK)
        return st;
    if (gw) {
        if (g.token) {
            term t = {0, 1, act, x, g.other, g.h_n, g.other, g.x_n};
            st = reduce_batch(ctx, &g, g.hid, g.in, g.other, &t, 1, partials, gw);
        } else {
            host->sgemm(1, 0, g.hid, g.in, g.batch * g.other, 1.0f, act, g.hid, x, g.in, 1.0f, gw,
                        g.in);
        }
    }
    return st;
}

/* The energy is a diagnostic: one scalar kernel (its products are the host sgemm). */
static const mmx_kernel_desc energy_kernel = {.struct_size = sizeof(mmx_kernel_desc),
                                              .name = "hopfield_energy_scalar",
                                              .isa = MMX_ISA_SCALAR,
                                              .forward = energy_forward,
                                              .backward = energy_backward};
static const mmx_kernel_desc *const energy_kernels[] = {&energy_kernel};

/* ---- shape inference and cost ---- */

static int
infer_common(mmx_ctx *ctx, const mmx_node *node, const char *op, mmx_param_info *params)
{
    const mmx_shape *x = &node->inputs[0];
    char bx[MMX_SHAPE_TEXT_SIZE];
    int token = node->attrs[HA_AXIS].i == AXIS_TOKEN;
    int st = mmx_grid_check(ctx, op, x);
    if (st != MMX_OK)
        return st;
    if (token && x->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s: axis = token mixes the N tokens of an [N, C] input, got %s", op,
                         mmx_shape_text(x, bx));
    int64_t in = token ? x->dim[0] : x->dim[x->rank - 1], hid = node->attrs[HA_HIDDEN].i;
    /* The host checks REQUIRED attributes when it reads a spec; an instance built from
     * defaults (hidden = 0) still must not get a zero-sized weight. */
    if (hid < 1)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s: attribute 'hidden' (the number of hidden units) is required and "
                         "must be >= 1, got %lld",
                         op, (long long)hid);
    int sym = (int)node->attrs[HA_SYMMETRY].i;
    params[P_W].shape = (mmx_shape){.rank = 2, .dim = {hid, in}};
    if (sym != SYM_TIED)
        params[P_V].shape = (mmx_shape){.rank = 2, .dim = {in, hid}};
    if (node->attrs[HA_BIAS].i) {
        params[P_B].shape = (mmx_shape){.rank = 1, .dim = {hid}};
        params[P_C].shape = (mmx_shape){.rank = 1, .dim = {in}};
    }
    return MMX_OK;
}

static int
hopfield_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int st = infer_common(ctx, node, "hopfield", params);
    if (st == MMX_OK)
        *out = node->inputs[0];
    return st;
}

static int
energy_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int st = infer_common(ctx, node, "hopfield.energy", params);
    if (st == MMX_OK)
        *out = (mmx_shape){.rank = 1, .dim = {1}};
    return st;
}

/* FLOPs of one activation (transcendentals count one), roughly. */
static double
act_flops(int act)
{
    return act == HOP_GELU ? 8.0 : act == HOP_TANH ? 4.0 : act == HOP_RELU ? 1.0 : 0.0;
}

static void
hopfield_cost(const mmx_node *node, mmx_cost *cost)
{
    hgeom g = hgeom_of(node, 1);
    double products = g.sym == SYM_TIED_PLUS_FREE ? 3.0 : 2.0;
    double macs = products * (double)g.in * (double)g.h_n;
    double bias = node->attrs[HA_BIAS].i ? (double)(g.h_n + g.x_n) : 0.0;
    cost->flops = 2.0 * macs + act_flops(g.act) * (double)g.h_n + bias +
                  (g.sym == SYM_TIED_PLUS_FREE ? (double)g.x_n : 0.0);
    cost->bytes = 4.0 * (2.0 * (double)g.x_n + (products - 1.0) * (double)(g.hid * g.in));
}

static void
energy_cost(const mmx_node *node, mmx_cost *cost)
{
    hgeom g = hgeom_of(node, 1);
    cost->flops = 2.0 * (double)g.in * (double)g.h_n + 10.0 * (double)g.h_n + 4.0 * (double)g.x_n;
    cost->bytes = 4.0 * ((double)g.x_n + (double)(g.hid * g.in) + 1.0);
}

/* ---- descriptors ---- */

static const char *const axis_choices[] = {"channel", "token", NULL};
static const char *const symmetry_choices[] = {"tied", "broken", "tied_plus_free", NULL};
static const char *const activation_choices[] = {"gelu", "relu", "tanh", "identity", NULL};

static const mmx_attr_desc attr_axis = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "axis",
    .type = MMX_ATTR_STRING,
    .doc = "'channel': mix each token's C channels; 'token': mix each channel's N tokens of "
           "an [N, C] input (the MLP-Mixer token MLP)",
    .default_string = "channel",
    .choices = axis_choices};
static const mmx_attr_desc attr_hidden = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "hidden",
    .type = MMX_ATTR_INT,
    .flags = MMX_ATTR_REQUIRED | MMX_ATTR_HAS_RANGE,
    .doc = "number of hidden units (memories): W is [hidden, in]",
    .min = 1,
    .max = 16777216};
static const mmx_attr_desc attr_symmetry = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "symmetry",
    .type = MMX_ATTR_STRING,
    .doc = "'tied': y = W^T act(W x); 'broken': y = V act(W x) with V = weight_v "
           "independent; 'tied_plus_free': y = W^T act(W x) + V act(W x) (Karakida et al.'s "
           "symmetry-breaking term)",
    .default_string = "tied",
    .choices = symmetry_choices};
static const mmx_attr_desc attr_activation = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "activation",
    .type = MMX_ATTR_STRING,
    .doc = "act between the two products (gelu is the exact erf form); its Lagrangian "
           "defines the energy",
    .default_string = "gelu",
    .choices = activation_choices};
static const mmx_attr_desc attr_bias = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "bias",
    .type = MMX_ATTR_BOOL,
    .doc = "hidden bias b (act(W x + b), parameter 'bias') and output bias c (parameter "
           "'bias_out'), zeros",
    .default_number = 0};

static const mmx_attr_desc *const hop_attrs[] = {&attr_axis, &attr_hidden, &attr_symmetry,
                                                 &attr_activation, &attr_bias};

/* Weights: xavier_uniform, as timm's MLP-Mixer init (_init_weights, non-flax) that
 * Karakida/Ota's code keeps; biases zeros, no weight decay. */
static const mmx_param_desc p_weight = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "weight",
    .doc = "W [hidden, in] (nn.Linear layout: up h = W x, down W^T a when tied)",
    .init = MMX_INIT_XAVIER_UNIFORM};
static const mmx_param_desc p_weight_v = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "weight_v",
    .doc = "V [in, hidden], the free down-projection (symmetry broken or tied_plus_free)",
    .init = MMX_INIT_XAVIER_UNIFORM};
static const mmx_param_desc p_bias = {.struct_size = sizeof(mmx_param_desc),
                                      .name = "bias",
                                      .flags = MMX_PARAM_NO_DECAY,
                                      .doc = "hidden bias b [hidden] (with bias = true)",
                                      .init = MMX_INIT_ZEROS};
static const mmx_param_desc p_bias_out = {.struct_size = sizeof(mmx_param_desc),
                                          .name = "bias_out",
                                          .flags = MMX_PARAM_NO_DECAY,
                                          .doc = "output bias c [in] (with bias = true)",
                                          .init = MMX_INIT_ZEROS};
static const mmx_param_desc *const hop_params[] = {&p_weight, &p_weight_v, &p_bias, &p_bias_out};

static const char *const hop_examples[] = {
    "{\"attrs\": {\"hidden\": 11}, \"inputs\": [\"3x3:7\"]}",
    "{\"attrs\": {\"axis\": \"token\", \"hidden\": 5, \"activation\": \"relu\"}, "
    "\"inputs\": [\"3x3:7\"]}",
    "{\"attrs\": {\"hidden\": 9, \"symmetry\": \"broken\", \"activation\": \"tanh\", \"bias\": "
    "true}, \"inputs\": [[5, 13]]}",
    "{\"attrs\": {\"axis\": \"token\", \"hidden\": 6, \"symmetry\": \"tied_plus_free\", "
    "\"activation\": \"identity\", \"bias\": true}, \"inputs\": [[7, 3]]}",
    "{\"attrs\": {\"hidden\": 17}, \"inputs\": [[19]]}",
    NULL};
static const char *const energy_examples[] = {
    "{\"attrs\": {\"hidden\": 11}, \"inputs\": [\"3x3:7\"]}",
    "{\"attrs\": {\"axis\": \"token\", \"hidden\": 5, \"activation\": \"tanh\", \"bias\": "
    "true}, \"inputs\": [\"3x3:7\"]}",
    "{\"attrs\": {\"hidden\": 9, \"activation\": \"relu\", \"symmetry\": \"broken\"}, "
    "\"inputs\": [[5, 13]]}",
    "{\"attrs\": {\"hidden\": 4, \"activation\": \"identity\", \"bias\": true}, \"inputs\": "
    "[[3, 6]]}",
    NULL};

static const mmx_op_desc hopfield_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "hopfield",
    .op_version = 1,
    .doc = "symmetric Hopfield interaction y = W^T act(W x) along tokens or channels; "
           "symmetry broken: V act(W x)",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_attrs = sizeof hop_attrs / sizeof hop_attrs[0],
    .attrs = hop_attrs,
    .n_params = sizeof hop_params / sizeof hop_params[0],
    .params = hop_params,
    .infer = hopfield_infer,
    .buffer_sizes = hopfield_buffers,
    .cost = hopfield_cost,
    .n_kernels = sizeof hop_kernels / sizeof hop_kernels[0],
    .kernels = hop_kernels,
    .examples = hop_examples};

static const mmx_op_desc energy_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "hopfield.energy",
    .op_version = 1,
    .doc = "energy of the tied network, E(x) = |x|^2/2 - c.x - sum L(W x + b) with L' = act, "
           "per sample [1]",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_attrs = sizeof hop_attrs / sizeof hop_attrs[0],
    .attrs = hop_attrs,
    .n_params = sizeof hop_params / sizeof hop_params[0],
    .params = hop_params,
    .infer = energy_infer,
    .buffer_sizes = energy_buffers,
    .cost = energy_cost,
    .n_kernels = sizeof energy_kernels / sizeof energy_kernels[0],
    .kernels = energy_kernels,
    .examples = energy_examples};

MMX_PLUGIN_DEFINE("hopfield", "1.0.0",
                  "Hopfield interaction (tied or symmetry-broken weights) and its energy",
                  &hopfield_op, &energy_op);
