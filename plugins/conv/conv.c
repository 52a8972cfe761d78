/* conv.c: the conv plugin: dense conv2d, depthwise dwconv2d, and dwconv1d along tokens.
 *
 *   conv2d    [H*W, C] (grid) -> [H'*W', out] (new grid): kernel k, stride, padding,
 *             groups; weight [out, C/groups, k, k] as PyTorch's nn.Conv2d. im2col into the
 *             workspace + the host sgemm, a chunk of samples at a time (the stem, patchify
 *             when kernel == stride, downsampling). A 1x1 stride-1 unpadded conv skips
 *             im2col: the activations already are the column matrix.
 *   dwconv2d  [H*W, C] (grid) -> same: depthwise k x k (odd, 3..31), dilation, 'same' zero
 *             padding; weight [C, k, k] (PyTorch's [C, 1, k, k] squeezed). FFNified
 *             attention's key and value ops, ConvNeXt's 7x7.
 *   dwconv1d  [N, C] -> same: depthwise along the token sequence, weight [C, k]; 'same'
 *             padding (left d*(k-1)/2, the rest right, as PyTorch's padding='same'), or
 *             causal (all d*(k-1) on the left: token t sees tokens <= t).
 *
 * The depthwise ops are hot: conv-avx2.c / conv-avx512.c (one body, conv-simd.inc) hold
 * real kernels over the channels-last layout, vectorized along C, for the forward, the
 * input gradient (the forward with flipped taps and mirrored padding) and the weight
 * gradient. dwconv1d is the same machinery on a 1 x N grid with a 1 x k kernel. The scalar
 * maps below are the reference, the definition of the ops.
 *
 * Determinism: parameter gradients that sum over the batch are reduced per chunk of
 * samples (a grain fixed by the batch size, never by the thread count) into workspace
 * partials, then added in chunk order; conv2d's weight gradient is a sequence of sgemms
 * over fixed sample chunks accumulating with beta = 1.
 */
#include <math.h>
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "conv-private.h"

/* ---- scalar reference maps ---- */

static void
dw_rows_scalar(const dw_geom *g, const float *x, const float *wt, float *y, int64_t r0, int64_t r1)
{
    const int64_t H = g->H, W = g->W, C = g->C, cp = g->cp;
    const float *bias = wt + g->kh * g->kw * cp;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t s = r / H, h = r % H;
        for (int64_t w = 0; w < W; w++) {
            float *yp = y + (r * W + w) * C;
            for (int64_t c = 0; c < C; c++)
                yp[c] = bias[c];
            for (int64_t i = 0; i < g->kh; i++) {
                const int64_t ih = h - g->pad_t + g->dil * i;
                if (ih < 0 || ih >= H)
                    continue;
                for (int64_t j = 0; j < g->kw; j++) {
                    const int64_t iw = w - g->pad_l + g->dil * j;
                    if (iw < 0 || iw >= W)
                        continue;
                    const float *xp = x + ((s * H + ih) * W + iw) * C;
                    const float *wp = wt + (i * g->kw + j) * cp;
                    for (int64_t c = 0; c < C; c++)
                        yp[c] += wp[c] * xp[c];
                }
            }
        }
    }
}

static void
dw_wgrad_scalar(const dw_geom *g, const float *x, const float *gy, float *part, int64_t s0,
                int64_t s1, int with_bias)
{
    const int64_t H = g->H, W = g->W, C = g->C, cp = g->cp, taps = g->kh * g->kw;
    for (int64_t t = 0; t < taps + (with_bias ? 1 : 0); t++)
        memset(part + t * cp, 0, (size_t)C * sizeof(float));
    for (int64_t s = s0; s < s1; s++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++) {
                const float *gp = gy + ((s * H + h) * W + w) * C;
                for (int64_t i = 0; i < g->kh; i++) {
                    const int64_t ih = h - g->pad_t + g->dil * i;
                    if (ih < 0 || ih >= H)
                        continue;
                    for (int64_t j = 0; j < g->kw; j++) {
                        const int64_t iw = w - g->pad_l + g->dil * j;
                        if (iw < 0 || iw >= W)
                            continue;
                        const float *xp = x + ((s * H + ih) * W + iw) * C;
                        float *pp = part + (i * g->kw + j) * cp;
                        for (int64_t c = 0; c < C; c++)
                            pp[c] += gp[c] * xp[c];
                    }
                }
                if (with_bias)
                    for (int64_t c = 0; c < C; c++)
                        part[taps * cp + c] += gp[c];
            }
}

static void
add_row_scalar(float *y, const float *b, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++)
            y[r * n + j] += b[j];
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
add_scalar(float *dst, const float *src, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        dst[j] += src[j];
}

const conv_simd conv_simd_scalar = {dw_rows_scalar, dw_wgrad_scalar, add_row_scalar,
                                    sum_rows_scalar, add_scalar};

/* ---- shared by the three ops ---- */

enum { INIT_TRUNC_NORMAL, INIT_TORCH };
static const char *const init_choices[] = {"trunc_normal", "torch", NULL};

/* The most chunks a depthwise weight gradient is cut into (over samples): it fixes the
 * summation order. conv2d's bias gradient is summed per chunk of MMX_ROW_GRAIN rows, the
 * order MMX_OP_BIAS_EPILOGUE promises (mmx-plugin.h). */
#define DW_MAX_CHUNKS 32
/* Bytes of im2col columns conv2d builds at a time (whole samples, at least one). */
#define COL_BYTES ((size_t)8 << 20)

static size_t
round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* The weight's initializer: trunc_normal(0.02) as declared, or PyTorch's default for a
 * fresh nn.Conv2d/Conv1d (kaiming_uniform a=sqrt(5): U(+-1/sqrt(fan_in)), bias too). */
static void
set_init(mmx_param_info *w, mmx_param_info *b, int64_t init, int64_t fan_in, int64_t fan_out)
{
    w->fan_in = b->fan_in = fan_in;
    w->fan_out = b->fan_out = fan_out;
    if (init != INIT_TORCH)
        return;
    double bound = 1.0 / sqrt((double)fan_in);
    w->init = MMX_INIT_KAIMING_UNIFORM;
    w->init_a = 1.0 / sqrt(3.0);
    b->init = MMX_INIT_UNIFORM;
    b->init_a = -bound;
    b->init_b = bound;
}

/* A token grid: rank 2 [H*W, C] with its height and width. */
static int
need_grid(mmx_ctx *ctx, const char *op, const mmx_shape *x)
{
    char sx[MMX_SHAPE_TEXT_SIZE];
    if (x->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s needs a token grid [H*W, C] (height x width); got %s (rank %d)", op,
                         mmx_shape_text(x, sx), (int)x->rank);
    if (x->height <= 0 || x->width <= 0)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s needs a token grid (height x width); got %s without one", op,
                         mmx_shape_text(x, sx));
    return mmx_grid_check(ctx, op, x);
}

/* ---- depthwise: dwconv2d and dwconv1d ---- */

enum { DW2_KERNEL, DW2_DILATION, DW2_BIAS, DW2_INIT, DW2_N_ATTRS };
enum { DW1_KERNEL, DW1_DILATION, DW1_CAUSAL, DW1_BIAS, DW1_INIT, DW1_N_ATTRS };
enum { P_WEIGHT, P_BIAS };

static dw_geom
dw_geom_of(const mmx_node *node, int one_d)
{
    const mmx_shape *x = &node->inputs[0];
    const mmx_attr_value *at = node->attrs;
    dw_geom g = {.C = x->dim[1], .cp = (int64_t)round16((size_t)x->dim[1])};
    if (one_d) {
        int64_t k = at[DW1_KERNEL].i, d = at[DW1_DILATION].i;
        g.H = 1;
        g.W = x->dim[0];
        g.kh = 1;
        g.kw = k;
        g.dil = d;
        g.pad_l = at[DW1_CAUSAL].i ? d * (k - 1) : d * (k - 1) / 2;
    } else {
        int64_t k = at[DW2_KERNEL].i, d = at[DW2_DILATION].i;
        g.H = x->height;
        g.W = x->width;
        g.kh = g.kw = k;
        g.dil = d;
        g.pad_t = g.pad_l = d * (k - 1) / 2;
    }
    return g;
}

/* Workspace: the repacked taps (+ bias row), then the per-chunk weight-gradient
 * partials ((taps + 1) * cp floats each). */
typedef struct dw_ws {
    int64_t grain, n_chunks;
    size_t wt, part, part_stride, total;
} dw_ws;

static dw_ws
dw_ws_of(const dw_geom *g, int64_t batch)
{
    dw_ws L = {0};
    L.grain = (batch + DW_MAX_CHUNKS - 1) / DW_MAX_CHUNKS;
    if (L.grain < 1)
        L.grain = 1;
    L.n_chunks = (batch + L.grain - 1) / L.grain;
    size_t rows = (size_t)(g->kh * g->kw + 1);
    L.wt = 0;
    L.part = rows * (size_t)g->cp;
    L.part_stride = rows * (size_t)g->cp;
    L.total = L.part + (size_t)L.n_chunks * L.part_stride;
    return L;
}

/* wt[tap][c] = w[c][tap] (flipped: w[c][taps-1-tap]); the bias row (zero when absent or
 * flipped, since the input gradient has no bias); zero lanes past C. */
static void
dw_repack(const dw_geom *g, const float *w, const float *b, float *wt, int flip)
{
    const int64_t taps = g->kh * g->kw, C = g->C, cp = g->cp;
    for (int64_t t = 0; t <= taps; t++) {
        float *row = wt + t * cp;
        for (int64_t c = 0; c < C; c++)
            row[c] =
                t == taps ? (b && !flip ? b[c] : 0.0f) : w[c * taps + (flip ? taps - 1 - t : t)];
        for (int64_t c = C; c < cp; c++)
            row[c] = 0.0f;
    }
}

typedef struct dw_job {
    const conv_simd *v;
    const dw_geom *g;
    const dw_ws *L;
    const float *x, *gy, *wt;
    float *y, *part;
    int with_bias;
} dw_job;

static int
job_dw_rows(void *arg, int64_t begin, int64_t end)
{
    const dw_job *j = arg;
    j->v->dw_rows(j->g, j->x, j->wt, j->y, begin, end);
    return MMX_OK;
}

static int
job_dw_wgrad(void *arg, int64_t begin, int64_t end)
{
    const dw_job *j = arg;
    float *part = j->part + (size_t)(begin / j->L->grain) * j->L->part_stride;
    j->v->dw_wgrad(j->g, j->x, j->gy, part, begin, end, j->with_bias);
    return MMX_OK;
}

/* Partial row t (a tap, or the bias row) of every chunk added into chunk 0's, in order. */
static int
job_dw_combine(void *arg, int64_t begin, int64_t end)
{
    const dw_job *j = arg;
    for (int64_t t = begin; t < end; t++)
        for (int64_t c = 1; c < j->L->n_chunks; c++)
            j->v->add(j->part + t * j->g->cp,
                      j->part + (size_t)c * j->L->part_stride + t * j->g->cp, j->g->C);
    return MMX_OK;
}

static int64_t
dw_row_grain(const dw_geom *g)
{
    int64_t work = g->W * g->C * g->kh * g->kw; /* multiply-adds per output row */
    int64_t grain = 65536 / (work > 0 ? work : 1);
    return grain > 0 ? grain : 1;
}

static int
dw_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const conv_simd *v, int one_d)
{
    const dw_geom g = dw_geom_of(a->node, one_d);
    const dw_ws L = dw_ws_of(&g, a->batch);
    float *wt = (float *)a->workspace + L.wt;
    dw_repack(&g, a->param[P_WEIGHT], a->param[P_BIAS], wt, 0);
    dw_job j = {.v = v, .g = &g, .L = &L, .x = a->in[0], .wt = wt, .y = a->out};
    return ctx->host->parallel_for(ctx, a->batch * g.H, dw_row_grain(&g), job_dw_rows, &j);
}

static int
dw_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const conv_simd *v, int one_d)
{
    const dw_geom g = dw_geom_of(a->node, one_d);
    const dw_ws L = dw_ws_of(&g, a->batch);
    float *ws = a->workspace;
    float *gx = a->grad_in[0], *gw = a->grad_param[P_WEIGHT];
    float *gb = a->param[P_BIAS] ? a->grad_param[P_BIAS] : NULL;
    const int64_t taps = g.kh * g.kw;
    int st = MMX_OK;
    if (gx) {
        /* gx = the same sum over gy with the taps flipped and the padding mirrored */
        dw_geom gf = g;
        gf.pad_t = g.dil * (g.kh - 1) - g.pad_t;
        gf.pad_l = g.dil * (g.kw - 1) - g.pad_l;
        dw_repack(&g, a->param[P_WEIGHT], NULL, ws + L.wt, 1);
        dw_job j = {.v = v, .g = &gf, .L = &L, .x = a->grad_out, .wt = ws + L.wt, .y = gx};
        st = ctx->host->parallel_for(ctx, a->batch * g.H, dw_row_grain(&g), job_dw_rows, &j);
        if (st != MMX_OK)
            return st;
    }
    if (gw == NULL && gb == NULL)
        return MMX_OK;
    dw_job j = {.v = v,
                .g = &g,
                .L = &L,
                .x = a->in[0],
                .gy = a->grad_out,
                .part = ws + L.part,
                .with_bias = gb != NULL};
    st = ctx->host->parallel_for(ctx, a->batch, L.grain, job_dw_wgrad, &j);
    if (st == MMX_OK && L.n_chunks > 1)
        st = ctx->host->parallel_for(ctx, taps + (gb ? 1 : 0), 1, job_dw_combine, &j);
    if (st != MMX_OK)
        return st;
    const float *sum = ws + L.part;
    for (int64_t c = 0; gw && c < g.C; c++)
        for (int64_t t = 0; t < taps; t++)
            gw[c * taps + t] += sum[t * g.cp + c];
    for (int64_t c = 0; gb && c < g.C; c++)
        gb[c] += sum[taps * g.cp + c];
    return MMX_OK;
}

static void
dw_buffer_sizes_2d(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    dw_geom g = dw_geom_of(node, 0);
    sizes->workspace = dw_ws_of(&g, batch).total * sizeof(float);
    sizes->saved = 0;
}

static void
dw_buffer_sizes_1d(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    dw_geom g = dw_geom_of(node, 1);
    sizes->workspace = dw_ws_of(&g, batch).total * sizeof(float);
    sizes->saved = 0;
}

/* Nominal cost: every tap of every output, padding included (the kernels skip taps that
 * fall outside the grid, so border-heavy shapes do less). */
static void
dw_cost(const mmx_node *node, mmx_cost *cost, int one_d)
{
    dw_geom g = dw_geom_of(node, one_d);
    double n = (double)(g.H * g.W), c = (double)g.C, taps = (double)(g.kh * g.kw);
    int has_bias = node->params[P_BIAS].shape.rank > 0;
    cost->flops = 2.0 * n * c * taps + (has_bias ? n * c : 0.0);
    cost->bytes = 4.0 * (2.0 * n * c + c * taps + (has_bias ? c : 0.0));
}

static void
dw_cost_2d(const mmx_node *node, mmx_cost *cost)
{
    dw_cost(node, cost, 0);
}

static void
dw_cost_1d(const mmx_node *node, mmx_cost *cost)
{
    dw_cost(node, cost, 1);
}

static int
dwconv2d_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    const mmx_shape *x = &node->inputs[0];
    int st = need_grid(ctx, "dwconv2d", x);
    if (st != MMX_OK)
        return st;
    int64_t k = node->attrs[DW2_KERNEL].i;
    if (k % 2 == 0)
        return MMX_ERROR(
            ctx, MMX_ERR_INVALID,
            "dwconv2d: kernel must be odd (3, 5, ..., 31) for 'same' padding; got %lld",
            (long long)k);
    *out = *x;
    int64_t C = x->dim[1];
    params[P_WEIGHT].shape = (mmx_shape){.rank = 3, .dim = {C, k, k}};
    if (node->attrs[DW2_BIAS].i)
        params[P_BIAS].shape = (mmx_shape){.rank = 1, .dim = {C}};
    set_init(&params[P_WEIGHT], &params[P_BIAS], node->attrs[DW2_INIT].i, k * k, C * k * k);
    return MMX_OK;
}

static int
dwconv1d_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    const mmx_shape *x = &node->inputs[0];
    char sx[MMX_SHAPE_TEXT_SIZE];
    if (x->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "dwconv1d runs along the N tokens of an [N, C] input; got %s (rank %d)",
                         mmx_shape_text(x, sx), (int)x->rank);
    int st = mmx_grid_check(ctx, "dwconv1d", x);
    if (st != MMX_OK)
        return st;
    *out = *x;
    int64_t C = x->dim[1], k = node->attrs[DW1_KERNEL].i;
    params[P_WEIGHT].shape = (mmx_shape){.rank = 2, .dim = {C, k}};
    if (node->attrs[DW1_BIAS].i)
        params[P_BIAS].shape = (mmx_shape){.rank = 1, .dim = {C}};
    set_init(&params[P_WEIGHT], &params[P_BIAS], node->attrs[DW1_INIT].i, k, C * k);
    return MMX_OK;
}

/* ---- dense conv2d: im2col + host sgemm ---- */

enum { C2_OUT, C2_KERNEL, C2_STRIDE, C2_PADDING, C2_GROUPS, C2_BIAS, C2_INIT, C2_N_ATTRS };

typedef struct c2_geom {
    int64_t H, W, C, O, k, stride, pad, groups, Cg, Og;
    int64_t Ho, Wo, P, K; /* output grid, P = Ho*Wo positions, K = k*k*Cg column length */
    int has_bias;
    int pointwise; /* 1x1, stride 1, no padding: x itself is the column matrix */
} c2_geom;

static c2_geom
c2_geom_of(const mmx_node *node)
{
    const mmx_shape *x = &node->inputs[0];
    const mmx_attr_value *at = node->attrs;
    c2_geom g = {.H = x->height,
                 .W = x->width,
                 .C = x->dim[1],
                 .k = at[C2_KERNEL].i,
                 .stride = at[C2_STRIDE].i,
                 .groups = at[C2_GROUPS].i,
                 .has_bias = (int)at[C2_BIAS].i};
    g.O = at[C2_OUT].i > 0 ? at[C2_OUT].i : g.C;
    g.pad = at[C2_PADDING].i >= 0 ? at[C2_PADDING].i : (g.stride == 1 ? g.k / 2 : 0);
    g.Cg = g.C / g.groups;
    g.Og = g.O / g.groups;
    g.Ho = g.H + 2 * g.pad >= g.k ? (g.H + 2 * g.pad - g.k) / g.stride + 1 : 0;
    g.Wo = g.W + 2 * g.pad >= g.k ? (g.W + 2 * g.pad - g.k) / g.stride + 1 : 0;
    g.P = g.Ho * g.Wo;
    g.K = g.k * g.k * g.Cg;
    g.pointwise = g.k == 1 && g.stride == 1 && g.pad == 0;
    return g;
}

/* Workspace: the weight repacked [out][ky][kx][ci] (the column order of im2col), its
 * gradient in the same layout, the columns of `chunk` samples [rows][groups][K], and the
 * bias-gradient partials. */
typedef struct c2_ws {
    int64_t chunk; /* samples per im2col chunk */
    int64_t bias_chunks;
    size_t wp, gwp, col, bpart, total;
} c2_ws;

static c2_ws
c2_ws_of(const c2_geom *g, int64_t batch)
{
    c2_ws L = {0};
    size_t per_sample = (size_t)(g->P * g->groups * g->K) * sizeof(float);
    L.chunk = per_sample > 0 ? (int64_t)(COL_BYTES / per_sample) : batch;
    if (L.chunk < 1)
        L.chunk = 1;
    if (L.chunk > batch)
        L.chunk = batch;
    L.bias_chunks = (batch * g->P + MMX_ROW_GRAIN - 1) / MMX_ROW_GRAIN;
    size_t wsize = round16((size_t)(g->O * g->K));
    size_t at = 0;
    L.wp = at;
    at += wsize;
    L.gwp = at;
    at += wsize;
    L.col = at;
    if (!g->pointwise)
        at += round16((size_t)(L.chunk * g->P * g->groups * g->K));
    L.bpart = at;
    if (g->has_bias)
        at += round16((size_t)(L.bias_chunks * g->O));
    L.total = at;
    return L;
}

typedef struct c2_job {
    const conv_simd *v;
    const c2_geom *g;
    const c2_ws *L;
    const float *x, *gy, *b;
    float *y, *col, *gx, *bpart;
    int64_t s0; /* first sample of the chunk */
} c2_job;

/* Column rows [begin, end) of the chunk: row (sample, oy, ox) holds, per group, the
 * k x k x Cg patch in [ky][kx][ci] order (zeros where the patch leaves the grid). */
static int
job_im2col(void *arg, int64_t begin, int64_t end)
{
    const c2_job *j = arg;
    const c2_geom *g = j->g;
    const size_t run = (size_t)g->Cg * sizeof(float);
    for (int64_t r = begin; r < end; r++) {
        int64_t s = j->s0 + r / g->P, p = r % g->P, oy = p / g->Wo, ox = p % g->Wo;
        float *dst = j->col + r * g->groups * g->K;
        for (int64_t ky = 0; ky < g->k; ky++) {
            int64_t iy = oy * g->stride - g->pad + ky;
            for (int64_t kx = 0; kx < g->k; kx++) {
                int64_t ix = ox * g->stride - g->pad + kx;
                int inside = iy >= 0 && iy < g->H && ix >= 0 && ix < g->W;
                const float *src = j->x + ((s * g->H + iy) * g->W + ix) * g->C;
                for (int64_t gr = 0; gr < g->groups; gr++) {
                    float *d = dst + gr * g->K + (ky * g->k + kx) * g->Cg;
                    if (inside)
                        memcpy(d, src + gr * g->Cg, run);
                    else
                        memset(d, 0, run);
                }
            }
        }
    }
    return MMX_OK;
}

/* Input-gradient rows [begin, end) of the chunk, row = (sample, iy): each input position
 * gathers, in (ky, kx) order, the column entries of the outputs whose patch covers it. */
static int
job_col2im(void *arg, int64_t begin, int64_t end)
{
    const c2_job *j = arg;
    const c2_geom *g = j->g;
    for (int64_t r = begin; r < end; r++) {
        int64_t sl = r / g->H, iy = r % g->H;
        for (int64_t ix = 0; ix < g->W; ix++) {
            float *dst = j->gx + (((j->s0 + sl) * g->H + iy) * g->W + ix) * g->C;
            memset(dst, 0, (size_t)g->C * sizeof(float));
            for (int64_t ky = 0; ky < g->k; ky++) {
                int64_t ny = iy + g->pad - ky;
                if (ny < 0 || ny % g->stride != 0 || ny / g->stride >= g->Ho)
                    continue;
                for (int64_t kx = 0; kx < g->k; kx++) {
                    int64_t nx = ix + g->pad - kx;
                    if (nx < 0 || nx % g->stride != 0 || nx / g->stride >= g->Wo)
                        continue;
                    int64_t row = sl * g->P + (ny / g->stride) * g->Wo + nx / g->stride;
                    const float *src = j->col + row * g->groups * g->K + (ky * g->k + kx) * g->Cg;
                    for (int64_t gr = 0; gr < g->groups; gr++)
                        j->v->add(dst + gr * g->Cg, src + gr * g->K, g->Cg);
                }
            }
        }
    }
    return MMX_OK;
}

static int
job_c2_bias(void *arg, int64_t begin, int64_t end)
{
    const c2_job *j = arg;
    j->v->add_row(j->y + begin * j->g->O, j->b, end - begin, j->g->O);
    return MMX_OK;
}

static int
job_c2_bias_grad(void *arg, int64_t begin, int64_t end)
{
    const c2_job *j = arg;
    j->v->sum_rows(j->gy + begin * j->g->O, end - begin, j->g->O,
                   j->bpart + (begin / MMX_ROW_GRAIN) * j->g->O);
    return MMX_OK;
}

/* The weight gradient of a conv with short columns (the stem: K = k*k*C = 4) is computed
 * transposed, [K][Og] per group, so that the host sgemm's n side is the wide one. */
static int
c2_wgrad_transposed(const c2_geom *g)
{
    return g->K < g->Og;
}

/* wp[o][(ky*k + kx)*Cg + ci] = w[o][ci][ky][kx]. back = 1 adds wp into w's layout instead,
 * reading wp as [group][K][Og] when `transposed`. */
static void
c2_repack(const c2_geom *g, float *w, float *wp, int back, int transposed)
{
    for (int64_t o = 0; o < g->O; o++)
        for (int64_t ci = 0; ci < g->Cg; ci++)
            for (int64_t t = 0; t < g->k * g->k; t++) {
                float *wv = w + (o * g->Cg + ci) * g->k * g->k + t;
                int64_t gr = o / g->Og, col = t * g->Cg + ci;
                float *pv = transposed ? wp + gr * g->Og * g->K + col * g->Og + o % g->Og
                                       : wp + o * g->K + col;
                if (back)
                    *wv += *pv;
                else
                    *pv = *wv;
            }
}

/* Fills the chunk's columns (a no-op for pointwise convs) and returns the column matrix. */
static const float *
c2_columns(mmx_ctx *ctx, c2_job *j, int64_t sn, int *st)
{
    const c2_geom *g = j->g;
    if (g->pointwise)
        return j->x + j->s0 * g->P * g->C;
    int64_t grain = 16384 / (g->groups * g->K) + 1;
    *st = ctx->host->parallel_for(ctx, sn * g->P, grain, job_im2col, j);
    return j->col;
}

static int
c2_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const conv_simd *v)
{
    const c2_geom g = c2_geom_of(a->node);
    const c2_ws L = c2_ws_of(&g, a->batch);
    float *ws = a->workspace;
    const mmx_host *h = ctx->host;
    c2_repack(&g, (float *)a->param[P_WEIGHT], ws + L.wp, 0, 0);
    c2_job j = {.v = v,
                .g = &g,
                .L = &L,
                .x = a->in[0],
                .b = a->param[P_BIAS],
                .y = a->out,
                .col = ws + L.col};
    int st = MMX_OK;
    for (j.s0 = 0; j.s0 < a->batch && st == MMX_OK; j.s0 += L.chunk) {
        int64_t sn = a->batch - j.s0 < L.chunk ? a->batch - j.s0 : L.chunk;
        const float *cols = c2_columns(ctx, &j, sn, &st);
        for (int64_t gr = 0; gr < g.groups && st == MMX_OK; gr++) /* y_g = cols_g W_g^T */
            h->sgemm(0, 1, sn * g.P, g.Og, g.K, 1.0f, cols + gr * g.K, g.groups * g.K,
                     ws + L.wp + gr * g.Og * g.K, g.K, 0.0f, j.y + j.s0 * g.P * g.O + gr * g.Og,
                     g.O);
    }
    if (st != MMX_OK || j.b == NULL)
        return st;
    return h->parallel_for(ctx, a->batch * g.P, 16384 / g.O + 1, job_c2_bias, &j);
}

static int
c2_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const conv_simd *v)
{
    const c2_geom g = c2_geom_of(a->node);
    const c2_ws L = c2_ws_of(&g, a->batch);
    float *ws = a->workspace;
    const mmx_host *h = ctx->host;
    float *gx = a->grad_in[0], *gw = a->grad_param[P_WEIGHT];
    float *gb = a->param[P_BIAS] ? a->grad_param[P_BIAS] : NULL;
    if (gx)
        c2_repack(&g, (float *)a->param[P_WEIGHT], ws + L.wp, 0, 0);
    c2_job j = {.v = v,
                .g = &g,
                .L = &L,
                .x = a->in[0],
                .gy = a->grad_out,
                .gx = gx,
                .col = ws + L.col,
                .bpart = ws + L.bpart};
    int st = MMX_OK;
    for (j.s0 = 0; (gx || gw) && j.s0 < a->batch && st == MMX_OK; j.s0 += L.chunk) {
        int64_t sn = a->batch - j.s0 < L.chunk ? a->batch - j.s0 : L.chunk, rows = sn * g.P;
        const float *gyc = j.gy + j.s0 * g.P * g.O;
        if (gw) { /* gW_g += gy_g^T cols_g, in the repacked layout, chunk after chunk */
            const float *cols = c2_columns(ctx, &j, sn, &st);
            float beta = j.s0 == 0 ? 0.0f : 1.0f;
            for (int64_t gr = 0; gr < g.groups && st == MMX_OK; gr++)
                if (c2_wgrad_transposed(&g)) /* gW_g^T += cols_g^T gy_g: the wide side as n */
                    h->sgemm(1, 0, g.K, g.Og, rows, 1.0f, cols + gr * g.K, g.groups * g.K,
                             gyc + gr * g.Og, g.O, beta, ws + L.gwp + gr * g.Og * g.K, g.Og);
                else
                    h->sgemm(1, 0, g.Og, g.K, rows, 1.0f, gyc + gr * g.Og, g.O, cols + gr * g.K,
                             g.groups * g.K, beta, ws + L.gwp + gr * g.Og * g.K, g.K);
        }
        if (gx && st == MMX_OK) {
            /* gcols_g = gy_g W_g (into gx itself when pointwise), then the gather */
            float *gcols = g.pointwise ? gx + j.s0 * g.P * g.C : j.col;
            for (int64_t gr = 0; gr < g.groups; gr++)
                h->sgemm(0, 0, rows, g.K, g.Og, 1.0f, gyc + gr * g.Og, g.O,
                         ws + L.wp + gr * g.Og * g.K, g.K, 0.0f, gcols + gr * g.K, g.groups * g.K);
            if (!g.pointwise)
                st = h->parallel_for(ctx, sn * g.H, 1, job_col2im, &j);
        }
    }
    if (st != MMX_OK)
        return st;
    if (gw)
        c2_repack(&g, gw, ws + L.gwp, 1, c2_wgrad_transposed(&g));
    if (gb) {
        st = h->parallel_for(ctx, a->batch * g.P, MMX_ROW_GRAIN, job_c2_bias_grad, &j);
        for (int64_t c = 0; c < L.bias_chunks && st == MMX_OK; c++)
            v->add(gb, j.bpart + c * g.O, g.O);
    }
    return st;
}

static int
conv2d_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    const mmx_shape *x = &node->inputs[0];
    int st = need_grid(ctx, "conv2d", x);
    if (st != MMX_OK)
        return st;
    c2_geom g = c2_geom_of(node);
    char sx[MMX_SHAPE_TEXT_SIZE];
    if (g.C % g.groups != 0 || g.O % g.groups != 0)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "conv2d: groups = %lld must divide the input channels (%lld) and out "
                         "(%lld); input %s",
                         (long long)g.groups, (long long)g.C, (long long)g.O,
                         mmx_shape_text(x, sx));
    if (g.Ho < 1 || g.Wo < 1)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "conv2d: a %lldx%lld kernel with padding %lld does not fit the %lldx%lld "
                         "grid of %s",
                         (long long)g.k, (long long)g.k, (long long)g.pad, (long long)g.H,
                         (long long)g.W, mmx_shape_text(x, sx));
    *out =
        (mmx_shape){.rank = 2, .height = (int32_t)g.Ho, .width = (int32_t)g.Wo, .dim = {g.P, g.O}};
    params[P_WEIGHT].shape = (mmx_shape){.rank = 4, .dim = {g.O, g.Cg, g.k, g.k}};
    if (g.has_bias)
        params[P_BIAS].shape = (mmx_shape){.rank = 1, .dim = {g.O}};
    set_init(&params[P_WEIGHT], &params[P_BIAS], node->attrs[C2_INIT].i, g.K, g.O * g.k * g.k);
    return MMX_OK;
}

static void
conv2d_buffer_sizes(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    c2_geom g = c2_geom_of(node);
    sizes->workspace = c2_ws_of(&g, batch).total * sizeof(float);
    sizes->saved = 0;
}

static void
conv2d_cost(const mmx_node *node, mmx_cost *cost)
{
    c2_geom g = c2_geom_of(node);
    double outs = (double)g.P * (double)g.O;
    cost->flops = 2.0 * outs * (double)g.K + (g.has_bias ? outs : 0.0);
    cost->bytes = 4.0 * ((double)(g.H * g.W * g.C) + outs + (double)(g.O * g.K) +
                         (g.has_bias ? (double)g.O : 0.0));
}

/* ---- kernels ---- */

static int
dw2d_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const conv_simd *v)
{
    return dw_forward(ctx, a, v, 0);
}

static int
dw2d_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const conv_simd *v)
{
    return dw_backward(ctx, a, v, 0);
}

static int
dw1d_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const conv_simd *v)
{
    return dw_forward(ctx, a, v, 1);
}

static int
dw1d_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const conv_simd *v)
{
    return dw_backward(ctx, a, v, 1);
}

MMX_ISA_KERNELS(conv2d, "conv2d", conv_simd_, c2_forward, c2_backward)
MMX_ISA_KERNELS(dwconv2d, "dwconv2d", conv_simd_, dw2d_forward, dw2d_backward)
MMX_ISA_KERNELS(dwconv1d, "dwconv1d", conv_simd_, dw1d_forward, dw1d_backward)

/* ---- descriptors ---- */

#define INT_ATTR(var, nm, def, lo, hi, text)                                                       \
    static const mmx_attr_desc var = {.struct_size = sizeof(mmx_attr_desc),                        \
                                      .name = nm,                                                  \
                                      .type = MMX_ATTR_INT,                                        \
                                      .flags = MMX_ATTR_HAS_RANGE,                                 \
                                      .doc = text,                                                 \
                                      .default_number = def,                                       \
                                      .min = lo,                                                   \
                                      .max = hi};
#define BOOL_ATTR(var, nm, def, text)                                                              \
    static const mmx_attr_desc var = {.struct_size = sizeof(mmx_attr_desc),                        \
                                      .name = nm,                                                  \
                                      .type = MMX_ATTR_BOOL,                                       \
                                      .doc = text,                                                 \
                                      .default_number = def};

INT_ATTR(c2_out, "out", 0, 0, 1048576, "output channels; 0 = same as the input")
INT_ATTR(c2_kernel, "kernel", 3, 1, 31, "kernel size k (k x k)")
INT_ATTR(c2_stride, "stride", 1, 1, 31, "stride along both grid axes")
INT_ATTR(c2_padding, "padding", -1, -1, 31,
         "zero padding on each side; -1 = kernel/2 when stride == 1, else 0")
INT_ATTR(c2_groups, "groups", 1, 1, 1048576,
         "channel groups; must divide the input channels and out")
BOOL_ATTR(c2_bias, "bias", 1, "add a learned bias [out]")
INT_ATTR(dw2_kernel, "kernel", 7, 3, 31, "odd kernel size k (k x k), 'same' padding")
INT_ATTR(dw2_dilation, "dilation", 1, 1, 16, "spacing between taps")
BOOL_ATTR(dw_bias, "bias", 1, "add a learned bias [C]")
INT_ATTR(dw1_kernel, "kernel", 3, 1, 63, "kernel size k along the tokens")
INT_ATTR(dw1_dilation, "dilation", 1, 1, 64, "spacing between taps")
BOOL_ATTR(dw1_causal, "causal", 0,
          "pad only on the left: token t sees tokens t - dilation*(k-1) .. t")

static const mmx_attr_desc conv_init = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "init",
    .type = MMX_ATTR_STRING,
    .doc = "weight initializer: 'trunc_normal' (std 0.02, zero bias: timm's ConvNeXt/"
           "PoolFormer), 'torch' (nn.Conv's default: U(+-1/sqrt(fan_in)) for weight and bias)",
    .default_string = "trunc_normal",
    .choices = init_choices};

static const mmx_attr_desc *const conv2d_attrs[C2_N_ATTRS] = {
    &c2_out, &c2_kernel, &c2_stride, &c2_padding, &c2_groups, &c2_bias, &conv_init};
static const mmx_attr_desc *const dwconv2d_attrs[DW2_N_ATTRS] = {&dw2_kernel, &dw2_dilation,
                                                                 &dw_bias, &conv_init};
static const mmx_attr_desc *const dwconv1d_attrs[DW1_N_ATTRS] = {&dw1_kernel, &dw1_dilation,
                                                                 &dw1_causal, &dw_bias, &conv_init};

static const mmx_param_desc c2_weight = {.struct_size = sizeof(mmx_param_desc),
                                         .name = "weight",
                                         .doc = "[out, C/groups, k, k] (PyTorch nn.Conv2d layout)",
                                         .init = MMX_INIT_TRUNC_NORMAL,
                                         .init_a = 0.02};
static const mmx_param_desc dw2_weight = {.struct_size = sizeof(mmx_param_desc),
                                          .name = "weight",
                                          .doc = "[C, k, k] (PyTorch's [C, 1, k, k] squeezed)",
                                          .init = MMX_INIT_TRUNC_NORMAL,
                                          .init_a = 0.02};
static const mmx_param_desc dw1_weight = {.struct_size = sizeof(mmx_param_desc),
                                          .name = "weight",
                                          .doc = "[C, k] (PyTorch's Conv1d [C, 1, k] squeezed)",
                                          .init = MMX_INIT_TRUNC_NORMAL,
                                          .init_a = 0.02};
static const mmx_param_desc conv_bias = {.struct_size = sizeof(mmx_param_desc),
                                         .name = "bias",
                                         .flags = MMX_PARAM_NO_DECAY,
                                         .doc = "one per output channel; absent when bias is false",
                                         .init = MMX_INIT_ZEROS};
static const mmx_param_desc *const conv2d_params[] = {&c2_weight, &conv_bias};
static const mmx_param_desc *const dwconv2d_params[] = {&dw2_weight, &conv_bias};
static const mmx_param_desc *const dwconv1d_params[] = {&dw1_weight, &conv_bias};

static const char *const conv2d_examples[] = {
    "{\"attrs\": {\"out\": 5, \"kernel\": 3}, \"inputs\": [\"5x4:3\"]}",
    "{\"attrs\": {\"out\": 7, \"kernel\": 2, \"stride\": 2}, \"inputs\": [\"6x4:3\"]}",
    "{\"attrs\": {\"out\": 4, \"kernel\": 3, \"stride\": 2, \"padding\": 1, \"bias\": false}, "
    "\"inputs\": [\"5x5:7\"]}",
    "{\"attrs\": {\"out\": 6, \"kernel\": 3, \"groups\": 3}, \"inputs\": [\"4x4:9\"]}",
    "{\"attrs\": {\"out\": 9, \"kernel\": 1}, \"inputs\": [\"3x3:7\"]}",
    NULL};
static const char *const dwconv2d_examples[] = {
    "{\"attrs\": {\"kernel\": 3}, \"inputs\": [\"4x5:7\"]}",
    "{\"attrs\": {\"kernel\": 7}, \"inputs\": [\"7x9:37\"]}",
    "{\"attrs\": {\"kernel\": 5, \"dilation\": 2, \"bias\": false}, \"inputs\": [\"6x5:7\"]}",
    NULL};
static const char *const dwconv1d_examples[] = {
    "{\"attrs\": {\"kernel\": 3}, \"inputs\": [[9, 7]]}",
    "{\"attrs\": {\"kernel\": 4, \"causal\": true, \"dilation\": 2}, \"inputs\": [[10, 5]]}",
    "{\"attrs\": {\"kernel\": 2, \"bias\": false}, \"inputs\": [\"3x3:37\"]}", NULL};

#define CONV_OP(nm, docline, n_attr, buf, cst, op_flags)                                           \
    static const mmx_op_desc nm##_op = {.struct_size = sizeof(mmx_op_desc),                        \
                                        .name = #nm,                                               \
                                        .op_version = 1,                                           \
                                        .doc = docline,                                            \
                                        .min_inputs = 1,                                           \
                                        .max_inputs = 1,                                           \
                                        .n_attrs = n_attr,                                         \
                                        .attrs = nm##_attrs,                                       \
                                        .n_params = 2,                                             \
                                        .params = nm##_params,                                     \
                                        .infer = nm##_infer,                                       \
                                        .buffer_sizes = buf,                                       \
                                        .cost = cst,                                               \
                                        .n_kernels = 3,                                            \
                                        .kernels = nm##_kernels,                                   \
                                        .examples = nm##_examples,                                 \
                                        .flags = op_flags};

CONV_OP(conv2d, "dense 2-D convolution on a token grid (stride, padding, groups); im2col + sgemm",
        C2_N_ATTRS, conv2d_buffer_sizes, conv2d_cost, MMX_OP_BIAS_EPILOGUE)
CONV_OP(dwconv2d, "depthwise k x k convolution (odd k, dilation, 'same' padding) on a token grid",
        DW2_N_ATTRS, dw_buffer_sizes_2d, dw_cost_2d, 0) /* its sum starts from the bias */
CONV_OP(dwconv1d, "depthwise convolution along the token sequence ('same' or causal padding)",
        DW1_N_ATTRS, dw_buffer_sizes_1d, dw_cost_1d, 0)

MMX_PLUGIN_DEFINE("conv", "1.0.0",
                  "Convolutions on token grids: dense conv2d, depthwise dwconv2d and dwconv1d",
                  &conv2d_op, &dwconv2d_op, &dwconv1d_op);
