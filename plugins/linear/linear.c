/* linear.c: the linear plugin: `linear` mixing either the channels or the tokens, and
 * `random_mixing`, RandFormer's frozen random token mixer (at the end of the file).
 *
 *   axis = channel: x [.., C] -> y [.., out],  y = x W^T + b   (weight [out, C], rows = all
 *                   leading dims of all samples: ONE host sgemm over the batch)
 *   axis = token:   x [N, C] -> y [out, C],    y = W x + b     (weight [out, N], bias [out]
 *                   broadcast over channels: a batched host sgemm, one product per sample)
 *   transpose:      the weight is stored [in, out] and used transposed (tied weights:
 *                   the value slot of a symmetric Hopfield mixer reads the key's W)
 *   causal:         token axis only: the effective map is masked lower-triangular (token t
 *                   sees tokens <= t); masked entries are never read and get zero gradient
 *                   (Badger 2024's masked mixer). out == N, or out a multiple of N (each
 *                   token expanded to out / N rows) or a divisor of N (N / out rows per
 *                   token mapped back): the expanded masked mixer's two layers
 *
 * All GEMM-shaped work goes through ctx->host->sgemm / sgemm_batched. What is left is row
 * arithmetic (bias add, bias-gradient sums, summing per-chunk partials, the mask's row
 * ranges): the lin_simd maps, scalar here, AVX2/AVX-512 in linear-avx2.c/-avx512.c from
 * one body (linear-simd.inc). The kernels of each ISA share the drivers below and differ
 * only in those maps.
 *
 * Determinism: parameter gradients that sum over the batch are reduced per chunk of a
 * grain fixed by the shapes (never by the thread count) into workspace partials, and the
 * partials are added into the gradient in chunk order. The channel-axis weight gradient
 * is one sgemm (the host's K loop is ordered), so it needs no partials.
 */
#include <math.h>
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "linear-private.h"

/* ---- scalar reference maps ---- */

static void
add_row_scalar(float *y, const float *b, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++)
            y[r * n + j] += b[j];
}

static void
add_col_scalar(float *y, const float *b, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++)
            y[r * n + j] += b[r];
}

static void
sum_rows_scalar(const float *g, int64_t rows, int64_t n, float *acc)
{
    for (int64_t j = 0; j < n; j++)
        acc[j] = 0.0f;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++)
            acc[j] += g[r * n + j];
}

static void
sum_cols_scalar(const float *g, int64_t rows, int64_t n, float *acc)
{
    for (int64_t r = 0; r < rows; r++) {
        float s = 0.0f;
        for (int64_t j = 0; j < n; j++)
            s += g[r * n + j];
        acc[r] += s;
    }
}

static void
add_scalar(float *dst, const float *src, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        dst[j] += src[j];
}

const lin_simd lin_simd_scalar = {add_row_scalar, add_col_scalar, sum_rows_scalar, sum_cols_scalar,
                                  add_scalar};

/* ---- attributes, parameters, geometry ---- */

enum { A_OUT, A_AXIS, A_BIAS, A_TRANSPOSE, A_CAUSAL, A_INIT, N_ATTRS };
enum { P_WEIGHT, P_BIAS };
enum { AXIS_CHANNEL, AXIS_TOKEN };
enum { INIT_TRUNC_NORMAL, INIT_TORCH, INIT_XAVIER };

/* The most chunks the token-axis weight gradient is cut into (over samples): it fixes the
 * summation order. The channel-axis bias gradient is summed per chunk of MMX_ROW_GRAIN
 * rows, the order MMX_OP_BIAS_EPILOGUE promises (mmx-plugin.h). */
#define TOKEN_MAX_CHUNKS 16

typedef struct lin_geom {
    int token, transpose, causal, has_bias;
    int64_t in, out; /* along the mixed axis: channel C -> out, or token N -> out */
    int64_t other;   /* channel: rows per sample; token: channels C */
} lin_geom;

static lin_geom
geom_of(const mmx_node *node)
{
    const mmx_attr_value *at = node->attrs;
    const mmx_shape *x = &node->inputs[0];
    lin_geom g = {.token = at[A_AXIS].i == AXIS_TOKEN,
                  .transpose = (int)at[A_TRANSPOSE].i,
                  .causal = (int)at[A_CAUSAL].i,
                  .has_bias = (int)at[A_BIAS].i};
    if (g.token) {
        g.in = x->dim[0];
        g.other = x->dim[1];
    } else {
        g.in = mmx_channels(x);
        g.other = mmx_rows(x);
    }
    g.out = at[A_OUT].i > 0 ? at[A_OUT].i : g.in;
    return g;
}

/* Workspace layout, in floats (each part 64-byte aligned). Token axis: the masked weight
 * (causal), the per-chunk weight-gradient partials (unless one chunk adds straight into
 * the gradient), the per-chunk bias partials. Channel axis: the bias partials. */
typedef struct lin_ws {
    int64_t grain, n_chunks;
    size_t mask, wpart, bpart, total;
    int direct; /* token axis: one chunk and no mask, so sgemm accumulates into grad W */
} lin_ws;

static size_t
round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static lin_ws
ws_layout(const lin_geom *g, int64_t batch)
{
    lin_ws L = {0};
    size_t at = 0;
    if (!g->token) {
        int64_t rows = batch * g->other;
        L.grain = MMX_ROW_GRAIN;
        L.n_chunks = (rows + MMX_ROW_GRAIN - 1) / MMX_ROW_GRAIN;
        L.bpart = at;
        if (g->has_bias)
            at += round16((size_t)(L.n_chunks * g->out));
        L.total = at;
        return L;
    }
    L.grain = (batch + TOKEN_MAX_CHUNKS - 1) / TOKEN_MAX_CHUNKS;
    if (L.grain < 1)
        L.grain = 1;
    L.n_chunks = (batch + L.grain - 1) / L.grain;
    L.direct = L.n_chunks == 1 && !g->causal;
    size_t wsize = (size_t)(g->in * g->out);
    L.mask = at;
    if (g->causal)
        at += round16(wsize);
    L.wpart = at;
    if (!L.direct)
        at += round16((size_t)L.n_chunks * wsize);
    L.bpart = at;
    if (g->has_bias)
        at += round16((size_t)(L.n_chunks * g->out));
    L.total = at;
    return L;
}

/* The causal mask as a column range per row of the STORED weight. The map's N positions
 * are the smaller of in and out; the larger side holds e = max / min rows per position
 * (e = 1 for the square map; the expanded masked mixer maps N tokens to e N rows and back),
 * and row j of a side of e rows per position is at position j / e. Output row t keeps the
 * inputs s at a position <= its own: stored [out, in] (t, s) keeps a row prefix s <
 * (t / e_out + 1) e_in; stored transposed [in, out] (s, t) a row suffix t >= (s / e_in)
 * e_out. Without causal, the whole row. */
static void
keep_range(const lin_geom *g, int64_t row, int64_t *lo, int64_t *hi)
{
    int64_t width = g->transpose ? g->out : g->in;
    *lo = 0;
    *hi = width;
    if (!g->causal)
        return;
    int64_t n = g->in < g->out ? g->in : g->out, e_in = g->in / n, e_out = g->out / n;
    if (g->transpose)
        *lo = row / e_in * e_out;
    else
        *hi = (row / e_out + 1) * e_in;
}

/* ---- the drivers, shared by every ISA ---- */

typedef struct lin_job {
    const lin_simd *v;
    const lin_geom *g;
    const lin_ws *L;
    const mmx_host *host;
    const float *x, *gy, *w, *b;
    float *y, *gw, *wpart, *bpart, *mask;
    int64_t n; /* row length for the row maps */
} lin_job;

static int
job_add_row(void *arg, int64_t begin, int64_t end)
{
    const lin_job *j = arg;
    j->v->add_row(j->y + begin * j->n, j->b, end - begin, j->n);
    return MMX_OK;
}

static int
job_add_col(void *arg, int64_t begin, int64_t end)
{
    const lin_job *j = arg;
    int64_t per = j->g->out * j->g->other;
    for (int64_t s = begin; s < end; s++)
        j->v->add_col(j->y + s * per, j->b, j->g->out, j->g->other);
    return MMX_OK;
}

/* Channel axis: chunk c of MMX_ROW_GRAIN rows of gy summed into bpart[c]. */
static int
job_bias_rows(void *arg, int64_t begin, int64_t end)
{
    const lin_job *j = arg;
    int64_t c = begin / j->L->grain;
    j->v->sum_rows(j->gy + begin * j->g->out, end - begin, j->g->out, j->bpart + c * j->g->out);
    return MMX_OK;
}

/* Token axis: copies the stored weight into the workspace with masked entries zeroed. */
static int
job_mask(void *arg, int64_t begin, int64_t end)
{
    const lin_job *j = arg;
    int64_t width = j->g->transpose ? j->g->out : j->g->in;
    for (int64_t r = begin; r < end; r++) {
        int64_t lo, hi;
        keep_range(j->g, r, &lo, &hi);
        float *dst = j->mask + r * width;
        const float *src = j->w + r * width;
        memset(dst, 0, (size_t)lo * sizeof(float));
        memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
        memset(dst + hi, 0, (size_t)(width - hi) * sizeof(float));
    }
    return MMX_OK;
}

/* Token axis: the samples of one chunk, their weight gradient summed into the chunk's
 * partial (or straight into grad W when L->direct) and their bias gradient into bpart. */
static int
job_token_grads(void *arg, int64_t begin, int64_t end)
{
    const lin_job *j = arg;
    const lin_geom *g = j->g;
    int64_t c = begin / j->L->grain, C = g->other;
    int64_t in_sz = g->in * C, out_sz = g->out * C;
    if (j->gw) {
        float *dst = j->L->direct ? j->gw : j->wpart + c * g->in * g->out;
        for (int64_t s = begin; s < end; s++) {
            float beta = j->L->direct || s > begin ? 1.0f : 0.0f;
            const float *xs = j->x + s * in_sz, *gs = j->gy + s * out_sz;
            if (g->transpose) /* gS[in, out] += x_s gy_s^T */
                j->host->sgemm(0, 1, g->in, g->out, C, 1.0f, xs, C, gs, C, beta, dst, g->out);
            else /* gW[out, in] += gy_s x_s^T */
                j->host->sgemm(0, 1, g->out, g->in, C, 1.0f, gs, C, xs, C, beta, dst, g->in);
        }
    }
    if (j->bpart) {
        float *bp = j->bpart + c * g->out;
        memset(bp, 0, (size_t)g->out * sizeof(float));
        for (int64_t s = begin; s < end; s++)
            j->v->sum_cols(j->gy + s * out_sz, g->out, C, bp);
    }
    return MMX_OK;
}

/* Token axis: grad W rows += the chunks' partials, in chunk order, kept range only. */
static int
job_combine_w(void *arg, int64_t begin, int64_t end)
{
    const lin_job *j = arg;
    int64_t width = j->g->transpose ? j->g->out : j->g->in;
    int64_t size = j->g->in * j->g->out;
    for (int64_t r = begin; r < end; r++) {
        int64_t lo, hi;
        keep_range(j->g, r, &lo, &hi);
        for (int64_t c = 0; c < j->L->n_chunks; c++)
            j->v->add(j->gw + r * width + lo, j->wpart + c * size + r * width + lo, hi - lo);
    }
    return MMX_OK;
}

static int64_t
grain_for(int64_t row_len)
{
    int64_t g = MMX_ELEMENTWISE_GRAIN / (row_len > 0 ? row_len : 1);
    return g > 0 ? g : 1;
}

static int
lin_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const lin_simd *v)
{
    const lin_geom g = geom_of(a->node);
    const lin_ws L = ws_layout(&g, a->batch);
    const mmx_host *h = ctx->host;
    lin_job j = {.v = v,
                 .g = &g,
                 .L = &L,
                 .host = h,
                 .x = a->in[0],
                 .w = a->param[P_WEIGHT],
                 .b = a->param[P_BIAS],
                 .y = a->out};
    if (!g.token) {
        int64_t rows = a->batch * g.other;
        h->sgemm(0, !g.transpose, rows, g.out, g.in, 1.0f, j.x, g.in, j.w,
                 g.transpose ? g.out : g.in, 0.0f, j.y, g.out);
        if (j.b == NULL)
            return MMX_OK;
        j.n = g.out;
        return h->parallel_for(ctx, rows, grain_for(g.out), job_add_row, &j);
    }
    const float *m = j.w;
    if (g.causal) {
        j.mask = (float *)a->workspace + L.mask;
        int st = h->parallel_for(ctx, g.transpose ? g.in : g.out, 64, job_mask, &j);
        if (st != MMX_OK)
            return st;
        m = j.mask;
    }
    int64_t C = g.other;
    h->sgemm_batched(a->batch, g.transpose, 0, g.out, C, g.in, 1.0f, m, g.transpose ? g.out : g.in,
                     0, j.x, C, g.in * C, 0.0f, j.y, C, g.out * C);
    if (j.b == NULL)
        return MMX_OK;
    return h->parallel_for(ctx, a->batch, grain_for(g.out * C), job_add_col, &j);
}

static int
lin_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const lin_simd *v)
{
    const lin_geom g = geom_of(a->node);
    const lin_ws L = ws_layout(&g, a->batch);
    const mmx_host *h = ctx->host;
    float *gx = a->grad_in[0];
    float *gw = a->grad_param[P_WEIGHT];
    float *gb = g.has_bias ? a->grad_param[P_BIAS] : NULL;
    float *ws = a->workspace;
    lin_job j = {.v = v,
                 .g = &g,
                 .L = &L,
                 .host = h,
                 .x = a->in[0],
                 .gy = a->grad_out,
                 .w = a->param[P_WEIGHT],
                 .gw = gw};
    int st = MMX_OK;
    if (!g.token) {
        int64_t rows = a->batch * g.other;
        int64_t ldw = g.transpose ? g.out : g.in;
        if (gx) /* gx[rows, in] = gy[rows, out] W_eff[out, in] */
            h->sgemm(0, g.transpose, rows, g.in, g.out, 1.0f, j.gy, g.out, j.w, ldw, 0.0f, gx,
                     g.in);
        if (gw && g.transpose) /* gS[in, out] += x^T gy */
            h->sgemm(1, 0, g.in, g.out, rows, 1.0f, j.x, g.in, j.gy, g.out, 1.0f, gw, g.out);
        else if (gw) /* gW[out, in] += gy^T x */
            h->sgemm(1, 0, g.out, g.in, rows, 1.0f, j.gy, g.out, j.x, g.in, 1.0f, gw, g.in);
        if (gb) {
            j.bpart = ws + L.bpart;
            st = h->parallel_for(ctx, rows, L.grain, job_bias_rows, &j);
            for (int64_t c = 0; c < L.n_chunks && st == MMX_OK; c++)
                v->add(gb, j.bpart + c * g.out, g.out);
        }
        return st;
    }
    int64_t C = g.other;
    int64_t stored_rows = g.transpose ? g.in : g.out;
    const float *m = j.w;
    if (g.causal && gx) {
        j.mask = ws + L.mask;
        st = h->parallel_for(ctx, stored_rows, 64, job_mask, &j);
        if (st != MMX_OK)
            return st;
        m = j.mask;
    }
    if (gx) /* gx_s[in, C] = W_eff^T gy_s */
        h->sgemm_batched(a->batch, !g.transpose, 0, g.in, C, g.out, 1.0f, m,
                         g.transpose ? g.out : g.in, 0, j.gy, C, g.out * C, 0.0f, gx, C, g.in * C);
    if (gw == NULL && gb == NULL)
        return MMX_OK;
    j.wpart = ws + L.wpart;
    j.bpart = gb ? ws + L.bpart : NULL;
    st = h->parallel_for(ctx, a->batch, L.grain, job_token_grads, &j);
    if (st == MMX_OK && gw && !L.direct)
        st = h->parallel_for(ctx, stored_rows, 16, job_combine_w, &j);
    for (int64_t c = 0; gb && st == MMX_OK && c < L.n_chunks; c++)
        v->add(gb, j.bpart + c * g.out, g.out);
    return st;
}

MMX_ISA_KERNELS(linear, "linear", lin_simd_, lin_forward, lin_backward)

/* ---- descriptor ---- */

static int
linear_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    const mmx_shape *x = &node->inputs[0];
    const mmx_attr_value *at = node->attrs;
    char sx[MMX_SHAPE_TEXT_SIZE];
    int st = mmx_grid_check(ctx, "linear", x);
    if (st != MMX_OK)
        return st;
    if (at[A_AXIS].i == AXIS_TOKEN && x->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "linear with axis=token mixes the N tokens of an [N, C] input; got %s "
                         "(rank %d)",
                         mmx_shape_text(x, sx), (int)x->rank);
    lin_geom g = geom_of(node);
    if (g.causal && !g.token)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "linear: causal masks the token map (token t sees tokens <= t) and needs "
                         "axis=token; got axis=channel on %s",
                         mmx_shape_text(x, sx));
    if (g.causal && g.out % g.in != 0 && g.in % g.out != 0)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "linear: causal needs out == N (a square lower-triangular map over the "
                         "%lld tokens of %s), a multiple of N (each token expanded to out / N "
                         "rows) or a divisor of N (N / out rows per token mapped back); got out "
                         "= %lld",
                         (long long)g.in, mmx_shape_text(x, sx), (long long)g.out);
    *out = *x;
    if (g.token) {
        out->dim[0] = g.out;
        if (g.out != g.in) /* a new number of tokens has no grid */
            out->height = out->width = 0;
    } else {
        out->dim[x->rank - 1] = g.out;
    }
    mmx_param_info *w = &params[P_WEIGHT], *b = &params[P_BIAS];
    w->shape =
        (mmx_shape){.rank = 2, .dim = {g.transpose ? g.in : g.out, g.transpose ? g.out : g.in}};
    w->fan_in = g.in;
    w->fan_out = g.out;
    if (g.has_bias) {
        b->shape = (mmx_shape){.rank = 1, .dim = {g.out}};
        b->fan_in = g.in;
        b->fan_out = g.out;
    }
    double bound = 1.0 / sqrt((double)g.in);
    switch (at[A_INIT].i) {
    case INIT_TORCH: /* nn.Linear: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias too */
        w->init = MMX_INIT_KAIMING_UNIFORM;
        w->init_a = 1.0 / sqrt(3.0);
        b->init = MMX_INIT_UNIFORM;
        b->init_a = -bound;
        b->init_b = bound;
        break;
    case INIT_XAVIER:
        w->init = MMX_INIT_XAVIER_UNIFORM;
        w->init_a = 1.0;
        break;
    default: /* the declaration's: trunc_normal(0.02), zero bias */
        break;
    }
    return MMX_OK;
}

static void
linear_buffer_sizes(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    lin_geom g = geom_of(node);
    sizes->workspace = ws_layout(&g, batch).total * sizeof(float);
    sizes->saved = 0;
}

static void
linear_cost(const mmx_node *node, mmx_cost *cost)
{
    lin_geom g = geom_of(node);
    /* Both axes: `other` independent products of length in -> out (rows, or channels). */
    double macs = (double)g.other * (double)g.in * (double)g.out;
    double outs = (double)g.other * (double)g.out;
    cost->flops = 2.0 * macs + (g.has_bias ? outs : 0.0);
    cost->bytes = 4.0 * ((double)g.other * (double)g.in + outs + (double)g.in * (double)g.out +
                         (g.has_bias ? (double)g.out : 0.0));
}

static const char *const axis_choices[] = {"channel", "token", NULL};
static const char *const init_choices[] = {"trunc_normal", "torch", "xavier_uniform", NULL};

static const mmx_attr_desc attr_out = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "out",
    .type = MMX_ATTR_INT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "output size along the mixed axis (channels, or tokens for axis=token); 0 = same as "
           "the input",
    .default_number = 0,
    .min = 0,
    .max = 16777216};
static const mmx_attr_desc attr_axis = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "axis",
    .type = MMX_ATTR_STRING,
    .doc = "'channel': y = x W^T + b on the last dim (any rank); 'token': y = W x + b mixing the "
           "N tokens of [N, C], bias broadcast over channels",
    .default_string = "channel",
    .choices = axis_choices};
static const mmx_attr_desc attr_bias = {.struct_size = sizeof(mmx_attr_desc),
                                        .name = "bias",
                                        .type = MMX_ATTR_BOOL,
                                        .doc = "add a learned bias [out]",
                                        .default_number = 1};
static const mmx_attr_desc attr_transpose = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "transpose",
    .type = MMX_ATTR_BOOL,
    .doc = "the weight is stored [in, out] and used transposed (tie it to another node's "
           "[out, in] weight for y = W^T h)",
    .default_number = 0};
static const mmx_attr_desc attr_causal = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "causal",
    .type = MMX_ATTR_BOOL,
    .doc = "axis=token with out == N only: mask the map lower-triangular (token t sees tokens "
           "<= t); masked weights get zero gradient",
    .default_number = 0};
static const mmx_attr_desc attr_init = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "init",
    .type = MMX_ATTR_STRING,
    .doc = "weight initializer: 'trunc_normal' (std 0.02, zero bias: timm's ViT/ConvNeXt/"
           "PoolFormer), 'torch' (nn.Linear's default: U(+-1/sqrt(in)) for weight and bias), "
           "'xavier_uniform' (MLP-Mixer; zero bias)",
    .default_string = "trunc_normal",
    .choices = init_choices};
static const mmx_attr_desc *const linear_attrs[N_ATTRS] = {
    &attr_out, &attr_axis, &attr_bias, &attr_transpose, &attr_causal, &attr_init};

static const mmx_param_desc param_weight = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "weight",
    .doc = "[out, in] (PyTorch nn.Linear layout), or [in, out] with transpose",
    .init = MMX_INIT_TRUNC_NORMAL,
    .init_a = 0.02};
static const mmx_param_desc param_bias = {.struct_size = sizeof(mmx_param_desc),
                                          .name = "bias",
                                          .flags = MMX_PARAM_NO_DECAY,
                                          .doc = "[out]; absent when bias is false",
                                          .init = MMX_INIT_ZEROS};
static const mmx_param_desc *const linear_params[] = {&param_weight, &param_bias};

static const char *const linear_examples[] = {
    "{\"attrs\": {\"out\": 13}, \"inputs\": [\"3x3:7\"]}",
    "{\"attrs\": {\"out\": 5, \"bias\": false}, \"inputs\": [[37]]}",
    "{\"attrs\": {\"out\": 9, \"transpose\": true}, \"inputs\": [[2, 3, 7]]}",
    "{\"attrs\": {\"axis\": \"token\", \"out\": 5}, \"inputs\": [\"3x3:7\"]}",
    "{\"attrs\": {\"axis\": \"token\", \"transpose\": true, \"out\": 4}, \"inputs\": [[6, 7]]}",
    "{\"attrs\": {\"axis\": \"token\", \"causal\": true}, \"inputs\": [[6, 7]]}",
    "{\"attrs\": {\"axis\": \"token\", \"causal\": true, \"transpose\": true, \"bias\": false}, "
    "\"inputs\": [\"2x3:5\"]}",
    "{\"attrs\": {\"axis\": \"token\", \"causal\": true, \"out\": 12}, \"inputs\": [[6, 7]]}",
    "{\"attrs\": {\"axis\": \"token\", \"causal\": true, \"out\": 3, \"transpose\": true}, "
    "\"inputs\": [[6, 7]]}",
    NULL};

/* A channel bias on the channel axis, a row bias ([out], one per token row) on the token
 * axis: both split off as the promises of mmx-plugin.h say (backward never reads out). */
static uint32_t
linear_node_flags(const mmx_node *node)
{
    lin_geom g = geom_of(node);
    /* The channel axis maps each token of a sequence on its own; a causal token map sees
     * tokens <= t. (A vector [C] has no tokens.) */
    int tokens = node->inputs[0].rank >= 2;
    /* An expanding or contracting causal map changes the number of rows, so it cannot make
     * the promise (same N tokens in and out); the graph around it is causal as a whole. */
    uint32_t causal = (!g.token && tokens) || (g.causal && g.out == g.in) ? MMX_OP_CAUSAL : 0;
    return (g.token ? MMX_OP_ROW_BIAS_EPILOGUE : MMX_OP_BIAS_EPILOGUE) | causal;
}

static const mmx_op_desc linear_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "linear",
    .op_version = 1,
    .doc = "y = x W^T + b over channels, or y = W x + b over tokens (transpose, causal mask); "
           "host sgemm",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_attrs = N_ATTRS,
    .attrs = linear_attrs,
    .n_params = 2,
    .params = linear_params,
    .infer = linear_infer,
    .buffer_sizes = linear_buffer_sizes,
    .cost = linear_cost,
    .n_kernels = sizeof linear_kernels / sizeof linear_kernels[0],
    .kernels = linear_kernels,
    .examples = linear_examples,
    .flags = MMX_OP_BIAS_EPILOGUE | MMX_OP_ROW_BIAS_EPILOGUE | MMX_OP_CAUSAL,
    .node_flags = linear_node_flags};

/* ---- random_mixing: RandFormer's frozen random token mixer ----
 *
 *   x [N, C] -> y [N, C],  y = R x,  R = softmax over each row of U,  U [N, N] ~ U(0, 1)
 *
 * MetaFormer's RandFormer baseline (Yu et al., "MetaFormer Baselines for Vision",
 * RandomMixing: softmax(torch.rand(N, N), dim=-1), requires_grad=False). U is a buffer:
 * drawn from the run's seed like every parameter, saved in checkpoints, never trained;
 * R is computed from it in each call (N^2 exps, nothing next to the product). */

/* R = row-softmax(U) into r (max-subtracted, summed in index order). */
static void
softmax_rows(const float *u, int64_t n, float *r)
{
    for (int64_t i = 0; i < n; i++) {
        const float *row = u + i * n;
        float m = row[0];
        for (int64_t j = 1; j < n; j++)
            m = row[j] > m ? row[j] : m;
        double sum = 0;
        for (int64_t j = 0; j < n; j++) {
            float e = expf(row[j] - m);
            r[i * n + j] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < n; j++)
            r[i * n + j] *= inv;
    }
}

static int
rand_forward(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    const mmx_shape *x = &a->node->inputs[0];
    int64_t n = x->dim[0], c = x->dim[1];
    float *r = a->workspace;
    softmax_rows(a->param[0], n, r);
    ctx->host->sgemm_batched(a->batch, 0, 0, n, c, n, 1.0f, r, n, 0, a->in[0], c, n * c, 0.0f,
                             a->out, c, n * c);
    return MMX_OK;
}

static int
rand_backward(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    if (a->grad_in[0] == NULL)
        return MMX_OK; /* the matrix is a buffer: no parameter gradient */
    const mmx_shape *x = &a->node->inputs[0];
    int64_t n = x->dim[0], c = x->dim[1];
    float *r = a->workspace;
    softmax_rows(a->param[0], n, r);
    /* gx_s = R^T gy_s */
    ctx->host->sgemm_batched(a->batch, 1, 0, n, c, n, 1.0f, r, n, 0, a->grad_out, c, n * c, 0.0f,
                             a->grad_in[0], c, n * c);
    return MMX_OK;
}

static int
rand_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    const mmx_shape *x = &node->inputs[0];
    char sx[MMX_SHAPE_TEXT_SIZE];
    int st = mmx_grid_check(ctx, "random_mixing", x);
    if (st != MMX_OK)
        return st;
    if (x->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "random_mixing mixes the N tokens of an [N, C] input; got %s (rank %d)",
                         mmx_shape_text(x, sx), (int)x->rank);
    *out = *x;
    params[0].shape = (mmx_shape){.rank = 2, .dim = {x->dim[0], x->dim[0]}};
    return MMX_OK;
}

static void
rand_buffer_sizes(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    (void)batch;
    int64_t n = node->inputs[0].dim[0];
    sizes->workspace = (size_t)(n * n) * sizeof(float);
    sizes->saved = 0;
}

static void
rand_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)node->inputs[0].dim[0], c = (double)node->inputs[0].dim[1];
    cost->flops = 2.0 * n * n * c;
    cost->bytes = 4.0 * (2.0 * n * c + n * n);
}

static const mmx_param_desc param_random = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "matrix",
    .flags = MMX_PARAM_BUFFER | MMX_PARAM_NO_DECAY,
    .doc = "U [N, N] ~ U(0, 1), frozen (a buffer: seeded, checkpointed, never trained); the "
           "map is its row-softmax",
    .init = MMX_INIT_UNIFORM,
    .init_a = 0.0,
    .init_b = 1.0};
static const mmx_param_desc *const rand_params[] = {&param_random};
static const mmx_kernel_desc rand_kernel = {.struct_size = sizeof(mmx_kernel_desc),
                                            .name = "random_mixing_scalar",
                                            .isa = MMX_ISA_SCALAR,
                                            .forward = rand_forward,
                                            .backward = rand_backward};
static const mmx_kernel_desc *const rand_kernels[] = {&rand_kernel};
static const char *const rand_examples[] = {"{\"inputs\": [\"3x3:7\"]}", "{\"inputs\": [[5, 4]]}",
                                            NULL};

static const mmx_op_desc random_mixing_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "random_mixing",
    .op_version = 1,
    .doc = "y = softmax_rows(U) x over the N tokens of [N, C], U [N, N] ~ U(0, 1) frozen "
           "(RandFormer's token mixer); host sgemm",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_attrs = 0,
    .attrs = NULL,
    .n_params = 1,
    .params = rand_params,
    .infer = rand_infer,
    .buffer_sizes = rand_buffer_sizes,
    .cost = rand_cost,
    .n_kernels = 1,
    .kernels = rand_kernels,
    .examples = rand_examples};

MMX_PLUGIN_DEFINE("linear", "1.0.0",
                  "Linear maps over channels or tokens (transposed, causal), on the host sgemm; "
                  "RandFormer's frozen random token mixer",
                  &linear_op, &random_mixing_op);
