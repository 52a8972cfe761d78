/* pool.c: the pool plugin: PoolFormer's token mixer and the head's mean over tokens.
 *
 *   pool         [H*W, C] (grid) -> same: AvgPool(k x k, stride 1, padding k/2,
 *                count_include_pad = false)(x) - x (the subtraction with `subtract`,
 *                because the PoolFormer block adds the residual itself).
 *   mean_tokens  [N, C] -> [C]: y[c] = (1/N) sum_n x[n, c].
 *
 * Both are linear and parameter-free. The scalar maps below are the reference; the
 * AVX2/AVX-512 variants (pool-avx2.c, pool-avx512.c, one body in pool-simd.inc) vectorize
 * along C with a masked last block. Backward overwrites gx; there is nothing to reduce
 * across the batch, so work is split over (sample, row) for pool and over samples for
 * mean_tokens with no effect on the bits.
 */
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "pool-private.h"

/* ---- scalar reference maps ---- */

static void
pool_rows_scalar(const pool_geom *g, const float *x, float *y, int64_t r0, int64_t r1)
{
    const int64_t H = g->H, W = g->W, C = g->C;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t s = r / H, h = r % H;
        int64_t hlo, hhi;
        pool_window(h, H, g->r, &hlo, &hhi);
        for (int64_t w = 0; w < W; w++) {
            int64_t wlo, whi;
            pool_window(w, W, g->r, &wlo, &whi);
            const float inv = pool_inv_area(g, h, w);
            float *yp = y + (r * W + w) * C;
            const float *xself = x + (r * W + w) * C;
            for (int64_t c = 0; c < C; c++)
                yp[c] = 0.0f;
            for (int64_t ih = hlo; ih < hhi; ih++)
                for (int64_t iw = wlo; iw < whi; iw++) {
                    const float *xp = x + ((s * H + ih) * W + iw) * C;
                    for (int64_t c = 0; c < C; c++)
                        yp[c] += xp[c];
                }
            for (int64_t c = 0; c < C; c++)
                yp[c] = yp[c] * inv - (g->subtract ? xself[c] : 0.0f);
        }
    }
}

static void
pool_grad_rows_scalar(const pool_geom *g, const float *gy, float *gx, int64_t r0, int64_t r1)
{
    const int64_t H = g->H, W = g->W, C = g->C;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t s = r / H, h = r % H;
        int64_t hlo, hhi;
        pool_window(h, H, g->r, &hlo, &hhi);
        for (int64_t w = 0; w < W; w++) {
            int64_t wlo, whi;
            pool_window(w, W, g->r, &wlo, &whi);
            float *gp = gx + (r * W + w) * C;
            for (int64_t c = 0; c < C; c++)
                gp[c] = 0.0f;
            /* the outputs whose window holds (h, w): the same window, by symmetry */
            for (int64_t ih = hlo; ih < hhi; ih++)
                for (int64_t iw = wlo; iw < whi; iw++) {
                    const float f = pool_inv_area(g, ih, iw);
                    const float *yp = gy + ((s * H + ih) * W + iw) * C;
                    for (int64_t c = 0; c < C; c++)
                        gp[c] += yp[c] * f;
                }
            if (g->subtract)
                for (int64_t c = 0; c < C; c++)
                    gp[c] -= gy[(r * W + w) * C + c];
        }
    }
}

static void
mean_rows_scalar(const float *x, int64_t n, int64_t C, float inv_n, float *y)
{
    for (int64_t c = 0; c < C; c++)
        y[c] = 0.0f;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < C; c++)
            y[c] += x[i * C + c];
    for (int64_t c = 0; c < C; c++)
        y[c] *= inv_n;
}

static void
bcast_rows_scalar(const float *gy, int64_t n, int64_t C, float inv_n, float *gx)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < C; c++)
            gx[i * C + c] = gy[c] * inv_n;
}

const pool_simd pool_simd_scalar = {pool_rows_scalar, pool_grad_rows_scalar, mean_rows_scalar,
                                    bcast_rows_scalar};

/* ---- drivers ---- */

enum { A_KERNEL, A_SUBTRACT, N_POOL_ATTRS };

/* inv: the caller's table of window-size reciprocals (filled here), or NULL. */
static pool_geom
pool_geom_of(const mmx_node *node, float *inv)
{
    const mmx_shape *x = &node->inputs[0];
    if (inv)
        pool_inv_table(inv);
    return (pool_geom){.H = x->height,
                       .W = x->width,
                       .C = x->dim[1],
                       .r = node->attrs[A_KERNEL].i / 2,
                       .subtract = (int)node->attrs[A_SUBTRACT].i,
                       .inv = inv};
}

typedef struct pool_job {
    const pool_simd *v;
    const pool_geom *g;
    const float *in;
    float *out;
    int64_t n, C;
    float inv_n;
} pool_job;

static int
job_pool(void *arg, int64_t begin, int64_t end)
{
    const pool_job *j = arg;
    j->v->pool_rows(j->g, j->in, j->out, begin, end);
    return MMX_OK;
}

static int
job_pool_grad(void *arg, int64_t begin, int64_t end)
{
    const pool_job *j = arg;
    j->v->pool_grad_rows(j->g, j->in, j->out, begin, end);
    return MMX_OK;
}

static int
job_mean(void *arg, int64_t begin, int64_t end)
{
    const pool_job *j = arg;
    for (int64_t s = begin; s < end; s++)
        j->v->mean_rows(j->in + s * j->n * j->C, j->n, j->C, j->inv_n, j->out + s * j->C);
    return MMX_OK;
}

static int
job_bcast(void *arg, int64_t begin, int64_t end)
{
    const pool_job *j = arg;
    for (int64_t s = begin; s < end; s++)
        j->v->bcast_rows(j->in + s * j->C, j->n, j->C, j->inv_n, j->out + s * j->n * j->C);
    return MMX_OK;
}

/* Rows (or samples) per chunk: about MMX_ELEMENTWISE_GRAIN elements of output each. */
static int64_t
grain_for(int64_t per_item)
{
    int64_t g = MMX_ELEMENTWISE_GRAIN / (per_item > 0 ? per_item : 1);
    return g > 0 ? g : 1;
}

static int
pool_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const pool_simd *v)
{
    float inv[POOL_MAX_K * POOL_MAX_K];
    const pool_geom g = pool_geom_of(a->node, inv);
    pool_job j = {.v = v, .g = &g, .in = a->in[0], .out = a->out};
    return ctx->host->parallel_for(ctx, a->batch * g.H, grain_for(g.W * g.C), job_pool, &j);
}

static int
pool_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const pool_simd *v)
{
    if (a->grad_in[0] == NULL)
        return MMX_OK;
    float inv[POOL_MAX_K * POOL_MAX_K];
    const pool_geom g = pool_geom_of(a->node, inv);
    pool_job j = {.v = v, .g = &g, .in = a->grad_out, .out = a->grad_in[0]};
    return ctx->host->parallel_for(ctx, a->batch * g.H, grain_for(g.W * g.C), job_pool_grad, &j);
}

static int
mean_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const pool_simd *v)
{
    const mmx_shape *x = &a->node->inputs[0];
    pool_job j = {.v = v,
                  .in = a->in[0],
                  .out = a->out,
                  .n = x->dim[0],
                  .C = x->dim[1],
                  .inv_n = 1.0f / (float)x->dim[0]};
    return ctx->host->parallel_for(ctx, a->batch, grain_for(j.n * j.C), job_mean, &j);
}

static int
mean_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const pool_simd *v)
{
    if (a->grad_in[0] == NULL)
        return MMX_OK;
    const mmx_shape *x = &a->node->inputs[0];
    pool_job j = {.v = v,
                  .in = a->grad_out,
                  .out = a->grad_in[0],
                  .n = x->dim[0],
                  .C = x->dim[1],
                  .inv_n = 1.0f / (float)x->dim[0]};
    return ctx->host->parallel_for(ctx, a->batch, grain_for(j.n * j.C), job_bcast, &j);
}

MMX_ISA_KERNELS(pool, "pool", pool_simd_, pool_forward, pool_backward)
MMX_ISA_KERNELS(mean_tokens, "mean_tokens", pool_simd_, mean_forward, mean_backward)

/* ---- descriptors ---- */

static int
pool_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    (void)params;
    const mmx_shape *x = &node->inputs[0];
    char sx[MMX_SHAPE_TEXT_SIZE];
    if (x->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "pool needs a token grid [H*W, C] (height x width); got %s (rank %d)",
                         mmx_shape_text(x, sx), (int)x->rank);
    if (x->height <= 0 || x->width <= 0)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "pool needs a token grid (height x width); got %s without one",
                         mmx_shape_text(x, sx));
    int st = mmx_grid_check(ctx, "pool", x);
    if (st != MMX_OK)
        return st;
    int64_t k = node->attrs[A_KERNEL].i;
    if (k % 2 == 0)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "pool: kernel must be odd (1, 3, 5, ..., 31) to keep the grid with stride "
                         "1 and padding kernel/2; got %lld",
                         (long long)k);
    *out = *x;
    return MMX_OK;
}

static void
pool_cost(const mmx_node *node, mmx_cost *cost)
{
    const pool_geom g = pool_geom_of(node, NULL);
    double n = (double)(g.H * g.W * g.C), k = (double)(2 * g.r + 1);
    /* nominal window adds, one scale, one subtraction */
    cost->flops = n * (k * k + 1.0 + (g.subtract ? 1.0 : 0.0));
    cost->bytes = 8.0 * n;
}

static int
mean_tokens_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    (void)params;
    const mmx_shape *x = &node->inputs[0];
    char sx[MMX_SHAPE_TEXT_SIZE];
    if (x->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "mean_tokens averages the N tokens of an [N, C] input; got %s (rank %d)",
                         mmx_shape_text(x, sx), (int)x->rank);
    int st = mmx_grid_check(ctx, "mean_tokens", x);
    if (st != MMX_OK)
        return st;
    *out = (mmx_shape){.rank = 1, .dim = {x->dim[1]}};
    return MMX_OK;
}

static void
mean_tokens_cost(const mmx_node *node, mmx_cost *cost)
{
    const mmx_shape *x = &node->inputs[0];
    double n = (double)(x->dim[0] * x->dim[1]), c = (double)x->dim[1];
    cost->flops = n + c;
    cost->bytes = 4.0 * (n + c);
}

static const mmx_attr_desc attr_kernel = {.struct_size = sizeof(mmx_attr_desc),
                                          .name = "kernel",
                                          .type = MMX_ATTR_INT,
                                          .flags = MMX_ATTR_HAS_RANGE,
                                          .doc = "odd window size k (k x k), stride 1, "
                                                 "padding k/2, padded positions not counted",
                                          .default_number = 3,
                                          .min = 1,
                                          .max = 31};
static const mmx_attr_desc attr_subtract = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "subtract",
    .type = MMX_ATTR_BOOL,
    .doc = "return avgpool(x) - x (PoolFormer: the block adds the residual)",
    .default_number = 1};
static const mmx_attr_desc *const pool_attrs[N_POOL_ATTRS] = {&attr_kernel, &attr_subtract};

static const char *const pool_examples[] = {
    "{\"inputs\": [\"5x5:7\"]}",
    "{\"attrs\": {\"kernel\": 5, \"subtract\": false}, \"inputs\": [\"4x6:37\"]}",
    "{\"attrs\": {\"kernel\": 3}, \"inputs\": [\"1x9:5\"]}", NULL};
static const char *const mean_tokens_examples[] = {"{\"inputs\": [\"3x3:7\"]}",
                                                   "{\"inputs\": [[5, 37]]}", NULL};

static const mmx_op_desc pool_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "pool",
    .op_version = 1,
    .doc = "PoolFormer's token mixer: avgpool(k, stride 1, pad k/2, count_include_pad=false)(x) "
           "- x",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_attrs = N_POOL_ATTRS,
    .attrs = pool_attrs,
    .infer = pool_infer,
    .cost = pool_cost,
    .n_kernels = 3,
    .kernels = pool_kernels,
    .examples = pool_examples};

static const mmx_op_desc mean_tokens_op = {.struct_size = sizeof(mmx_op_desc),
                                           .name = "mean_tokens",
                                           .op_version = 1,
                                           .doc = "[N, C] -> [C]: the mean over tokens (the head)",
                                           .min_inputs = 1,
                                           .max_inputs = 1,
                                           .infer = mean_tokens_infer,
                                           .cost = mean_tokens_cost,
                                           .n_kernels = 3,
                                           .kernels = mean_tokens_kernels,
                                           .examples = mean_tokens_examples};

MMX_PLUGIN_DEFINE("pool", "1.0.0",
                  "Pooling: PoolFormer's token mixer and the mean over tokens",
                  &pool_op, &mean_tokens_op);
