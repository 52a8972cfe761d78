/* tensor.c: the tensor family: add, mul, layer_scale, pos_embed, drop_path, dropout, split,
 * concat, reshape, select_token. Descriptors, shape rules and scalar reference kernels.
 *
 * Design. The hot elementwise ops (add is the residual of every block; mul gates; the
 * layer scale multiplies every branch) run through a small table of inner loops per ISA
 * (tensor-private.h): the scalar set below is the definition, tensor-avx2.c and
 * tensor-avx512.c hold the same maths from one shared body. Everything else is memory
 * movement (split, concat, reshape, select_token) or runs once per model (pos_embed), and
 * has only the scalar kernel: memcpy is already as fast as it gets there.
 *
 * Determinism. Every loop is a host parallel_for with a fixed grain. Reductions for
 * parameter gradients either give each parameter element to one chunk that sums over the
 * batch in order (pos_embed), or write one partial sum per chunk into the workspace and
 * combine the partials in chunk order (layer_scale), so the bits never depend on the
 * thread count.
 *
 * Randomness. drop_path and dropout draw from host->philox(args->rng_key, counter) with
 * the sample (drop_path) or element index / 4 (dropout) as counter, so a key gives the same
 * mask on any thread. The forward keeps what backward needs in `saved` (the per-sample
 * scales, or a bit mask plus a mode word), so backward never depends on the key or on
 * args->training being passed again.
 *
 * Adding an op? Give it a descriptor below, an entry in docs/ops.md and its cases in
 * tests/plugins/test-tensor.c.
 */
#include <math.h>
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "tensor-private.h"

/* ---- scalar reference primitives ---- */

static void
add_s(const float *a, const float *b, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

static void
mul_s(const float *a, const float *b, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}

static void
mul_bwd_s(const float *a, const float *b, const float *gy, float *ga, float *gb, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float g = gy[i], ai = a[i], bi = b[i];
        if (ga)
            ga[i] = g * bi;
        if (gb)
            gb[i] = g * ai;
    }
}

static void
scale_fwd_s(const float *x, const float *gamma, float *y, int64_t rows, int64_t c)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < c; j++)
            y[r * c + j] = x[r * c + j] * gamma[j];
}

static void
scale_bwd_s(const float *x, const float *gamma, const float *gy, float *gx, float *acc,
            int64_t rows, int64_t c)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < c; j++) {
            float g = gy[r * c + j];
            if (acc)
                acc[j] += g * x[r * c + j];
            if (gx)
                gx[r * c + j] = g * gamma[j];
        }
}

const tensor_simd tensor_scalar = {add_s, mul_s, mul_bwd_s, scale_fwd_s, scale_bwd_s};

/* ---- helpers ---- */

static int64_t
numel_of(const mmx_kernel_args *a, size_t input)
{
    return a->batch * mmx_numel(&a->node->inputs[input]);
}

/* Rows per chunk for row-wise loops: about one elementwise grain of floats. Depends on the
 * channel count only, so chunk boundaries never depend on the thread count. */
static int64_t
row_grain(int64_t c)
{
    int64_t g = MMX_ELEMENTWISE_GRAIN / (c > 0 ? c : 1);
    return g > 0 ? g : 1;
}

static int64_t
n_chunks(int64_t n, int64_t grain)
{
    return (n + grain - 1) / grain;
}

typedef struct copy_job {
    const float *src;
    float *dst;
} copy_job;

static int
copy_range(void *arg, int64_t begin, int64_t end)
{
    const copy_job *j = arg;
    memcpy(j->dst + begin, j->src + begin, (size_t)(end - begin) * sizeof(float));
    return MMX_OK;
}

/* dst = src over n floats, in parallel; a no-op when they are the same buffer. */
static int
copy_par(mmx_ctx *ctx, float *dst, const float *src, int64_t n)
{
    if (dst == NULL || dst == src)
        return MMX_OK;
    copy_job j = {src, dst};
    return ctx->host->parallel_for(ctx, n, MMX_ELEMENTWISE_GRAIN, copy_range, &j);
}

/* The grid of the result of two inputs with equal token counts: whichever has one. Two
 * different grids are refused (the tokens would be laid out differently). */
static int
merge_grid(mmx_ctx *ctx, const char *op, const mmx_shape *a, const mmx_shape *b, mmx_shape *out)
{
    int ga = a->height > 0, gb = b->height > 0;
    if (ga && gb && (a->height != b->height || a->width != b->width))
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s: the inputs' token grids differ (%dx%d vs %dx%d); both inputs must "
                         "lay out their tokens the same way",
                         op, (int)a->height, (int)a->width, (int)b->height, (int)b->width);
    out->height = ga ? a->height : b->height;
    out->width = ga ? a->width : b->width;
    return MMX_OK;
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

/* ---- add and mul ---- */

typedef struct ew_job {
    const tensor_simd *k;
    const float *a, *b, *gy;
    float *y, *ga, *gb;
} ew_job;

static int
add_range(void *arg, int64_t begin, int64_t end)
{
    const ew_job *j = arg;
    j->k->add(j->a + begin, j->b + begin, j->y + begin, end - begin);
    return MMX_OK;
}

static int
mul_range(void *arg, int64_t begin, int64_t end)
{
    const ew_job *j = arg;
    j->k->mul(j->a + begin, j->b + begin, j->y + begin, end - begin);
    return MMX_OK;
}

static int
mul_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const ew_job *j = arg;
    j->k->mul_bwd(j->a + begin, j->b + begin, j->gy + begin, j->ga ? j->ga + begin : NULL,
                  j->gb ? j->gb + begin : NULL, end - begin);
    return MMX_OK;
}

static int
add_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const tensor_simd *k)
{
    ew_job j = {.k = k, .a = a->in[0], .b = a->in[1], .y = a->out};
    return ctx->host->parallel_for(ctx, numel_of(a, 0), MMX_ELEMENTWISE_GRAIN, add_range, &j);
}

static int
add_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const tensor_simd *k)
{
    (void)k; /* the gradient of a sum is a copy; memcpy is the fastest kernel on any ISA */
    int64_t n = numel_of(a, 0);
    int st = copy_par(ctx, a->grad_in[0], a->grad_out, n);
    if (st == MMX_OK)
        st = copy_par(ctx, a->grad_in[1], a->grad_out, n);
    return st;
}

static int
mul_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const tensor_simd *k)
{
    ew_job j = {.k = k, .a = a->in[0], .b = a->in[1], .y = a->out};
    return ctx->host->parallel_for(ctx, numel_of(a, 0), MMX_ELEMENTWISE_GRAIN, mul_range, &j);
}

static int
mul_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const tensor_simd *k)
{
    if (a->grad_in[0] == NULL && a->grad_in[1] == NULL)
        return MMX_OK;
    ew_job j = {.k = k,
                .a = a->in[0],
                .b = a->in[1],
                .gy = a->grad_out,
                .ga = a->grad_in[0],
                .gb = a->grad_in[1]};
    return ctx->host->parallel_for(ctx, numel_of(a, 0), MMX_ELEMENTWISE_GRAIN, mul_bwd_range, &j);
}

static int
infer_elementwise2(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, const char *op)
{
    const mmx_shape *a = &node->inputs[0], *b = &node->inputs[1];
    char ta[MMX_SHAPE_TEXT_SIZE], tb[MMX_SHAPE_TEXT_SIZE];
    if (!mmx_same_dims(a, b))
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s: both inputs must have the same dims (elementwise, no broadcasting), "
                         "got %s and %s",
                         op, mmx_shape_text(a, ta), mmx_shape_text(b, tb));
    *out = *a;
    return merge_grid(ctx, op, a, b, out);
}

static int
add_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "add", node);
    if (gst != MMX_OK)
        return gst;
    (void)params;
    return infer_elementwise2(ctx, node, out, "add");
}

static int
mul_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "mul", node);
    if (gst != MMX_OK)
        return gst;
    (void)params;
    return infer_elementwise2(ctx, node, out, "mul");
}

static void
add_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)mmx_numel(&node->inputs[0]);
    cost->flops = n;
    cost->bytes = 12.0 * n;
}

#define mul_cost add_cost

/* ---- layer_scale ---- */

typedef struct scale_job {
    const tensor_simd *k;
    const float *x, *gamma, *gy;
    float *y, *gx, *partial;
    int64_t c, grain;
} scale_job;

static int
scale_fwd_range(void *arg, int64_t begin, int64_t end)
{
    const scale_job *j = arg;
    j->k->scale_fwd(j->x + begin * j->c, j->gamma, j->y + begin * j->c, end - begin, j->c);
    return MMX_OK;
}

static int
scale_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const scale_job *j = arg;
    float *acc = NULL;
    if (j->partial) {
        acc = j->partial + (begin / j->grain) * j->c;
        memset(acc, 0, (size_t)j->c * sizeof(float));
    }
    j->k->scale_bwd(j->x + begin * j->c, j->gamma, j->gy + begin * j->c,
                    j->gx ? j->gx + begin * j->c : NULL, acc, end - begin, j->c);
    return MMX_OK;
}

static int
layer_scale_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const tensor_simd *k)
{
    const mmx_shape *s = &a->node->inputs[0];
    int64_t c = mmx_channels(s), rows = a->batch * mmx_rows(s);
    scale_job j = {
        .k = k, .x = a->in[0], .gamma = a->param[0], .y = a->out, .c = c, .grain = row_grain(c)};
    return ctx->host->parallel_for(ctx, rows, j.grain, scale_fwd_range, &j);
}

static int
layer_scale_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const tensor_simd *k)
{
    const mmx_shape *s = &a->node->inputs[0];
    int64_t c = mmx_channels(s), rows = a->batch * mmx_rows(s);
    float *ggamma = a->grad_param[0];
    if (a->grad_in[0] == NULL && ggamma == NULL)
        return MMX_OK;
    scale_job j = {.k = k,
                   .x = a->in[0],
                   .gamma = a->param[0],
                   .gy = a->grad_out,
                   .gx = a->grad_in[0],
                   .partial = ggamma ? a->workspace : NULL,
                   .c = c,
                   .grain = row_grain(c)};
    int st = ctx->host->parallel_for(ctx, rows, j.grain, scale_bwd_range, &j);
    if (st != MMX_OK || ggamma == NULL)
        return st;
    /* Partials combined in chunk order: the same bits for any thread count. */
    int64_t chunks = n_chunks(rows, j.grain);
    for (int64_t ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int64_t p = 0; p < chunks; p++)
            sum += j.partial[p * c + ch];
        ggamma[ch] += (float)sum;
    }
    return MMX_OK;
}

static int
layer_scale_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "layer_scale", node);
    if (gst != MMX_OK)
        return gst;
    const mmx_shape *x = &node->inputs[0];
    *out = *x;
    params[0].shape = (mmx_shape){.rank = 1, .dim = {mmx_channels(x)}};
    params[0].init = MMX_INIT_CONST;
    params[0].init_a = node->attrs[0].f;
    return MMX_OK;
}

static void
layer_scale_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    const mmx_shape *s = &node->inputs[0];
    int64_t c = mmx_channels(s);
    sizes->workspace = (size_t)(n_chunks(batch * mmx_rows(s), row_grain(c)) * c) * sizeof(float);
}

static void
layer_scale_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)mmx_numel(&node->inputs[0]);
    cost->flops = n;
    cost->bytes = 8.0 * n + 4.0 * (double)mmx_channels(&node->inputs[0]);
}

/* ---- pos_embed ---- */

typedef struct pos_job {
    const float *x, *p, *gy;
    float *y, *gp;
    int64_t per_sample, batch;
} pos_job;

static int
pos_fwd_range(void *arg, int64_t begin, int64_t end)
{
    const pos_job *j = arg;
    /* Walk sample by sample: no division per element. */
    for (int64_t i = begin; i < end;) {
        int64_t off = i % j->per_sample, stop = i - off + j->per_sample;
        stop = stop < end ? stop : end;
        int64_t base = i - off;
        for (; i < stop; i++)
            j->y[i] = j->x[i] + j->p[i - base];
    }
    return MMX_OK;
}

/* Each element of P is owned by one chunk, which sums its gradient over the batch in
 * sample order: deterministic without a workspace. */
static int
pos_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const pos_job *j = arg;
    for (int64_t i = begin; i < end; i++) {
        float sum = 0.0f;
        for (int64_t b = 0; b < j->batch; b++)
            sum += j->gy[b * j->per_sample + i];
        j->gp[i] += sum;
    }
    return MMX_OK;
}

static int
pos_embed_fwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    pos_job j = {.x = a->in[0],
                 .p = a->param[0],
                 .y = a->out,
                 .per_sample = mmx_numel(&a->node->inputs[0]),
                 .batch = a->batch};
    return ctx->host->parallel_for(ctx, numel_of(a, 0), MMX_ELEMENTWISE_GRAIN, pos_fwd_range, &j);
}

static int
pos_embed_bwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    int st = copy_par(ctx, a->grad_in[0], a->grad_out, numel_of(a, 0));
    if (st != MMX_OK || a->grad_param[0] == NULL)
        return st;
    pos_job j = {.gy = a->grad_out,
                 .gp = a->grad_param[0],
                 .per_sample = mmx_numel(&a->node->inputs[0]),
                 .batch = a->batch};
    return ctx->host->parallel_for(ctx, j.per_sample, MMX_ELEMENTWISE_GRAIN / 16, pos_bwd_range,
                                   &j);
}

static int
pos_embed_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "pos_embed", node);
    if (gst != MMX_OK)
        return gst;
    const mmx_shape *x = &node->inputs[0];
    *out = *x;
    params[0].shape = *x;
    params[0].shape.height = params[0].shape.width = 0;
    return MMX_OK;
}

static void
pos_embed_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)mmx_numel(&node->inputs[0]);
    cost->flops = n;
    cost->bytes = 12.0 * n;
}

/* ---- drop_path and dropout ---- */

/* A uniform float in [0, 1) from 24 random bits. */
static float
unit_float(uint32_t bits)
{
    return (float)(bits >> 8) * (1.0f / 16777216.0f);
}

/* saved layout, drop_path: [batch] per-sample scales, then one mode float (1: masked,
 * 0: identity). dropout: one mode word, then ceil(n / 32) mask words (bit set: kept). */
static size_t
drop_path_saved_bytes(int64_t batch)
{
    return (size_t)(batch + 1) * sizeof(float);
}

static size_t
dropout_saved_bytes(int64_t n)
{
    return (size_t)(1 + (n + 31) / 32) * sizeof(uint32_t);
}

typedef struct drop_job {
    const float *x;
    float *y;
    const float *scale; /* drop_path: per sample */
    uint32_t *mask;     /* dropout: bits, or NULL in backward */
    const uint32_t *mask_in;
    const mmx_host *host;
    uint64_t key;
    float rate, keep_scale;
    int64_t per_sample;
} drop_job;

static int
drop_path_range(void *arg, int64_t begin, int64_t end)
{
    const drop_job *j = arg;
    for (int64_t i = begin; i < end;) {
        int64_t b = i / j->per_sample, stop = (b + 1) * j->per_sample;
        stop = stop < end ? stop : end;
        float s = j->scale[b];
        for (; i < stop; i++)
            j->y[i] = j->x[i] * s;
    }
    return MMX_OK;
}

static int
drop_path_check_saved(mmx_ctx *ctx, const mmx_kernel_args *a, const char *op)
{
    if (a->saved == NULL)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "%s: a training forward with rate > 0 needs the saved buffer (the "
                         "mask is kept there for backward)",
                         op);
    return MMX_OK;
}

static int
drop_path_fwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    float rate = (float)a->node->attrs[0].f;
    float *saved = a->saved;
    int64_t n = numel_of(a, 0);
    /* Eval, or rate 0: the exact identity (no multiply by 1/(1 - 0) rounding anything). */
    if (!a->training || rate == 0.0f) {
        if (saved)
            saved[a->batch] = 0.0f;
        return copy_par(ctx, a->out, a->in[0], n);
    }
    int st = drop_path_check_saved(ctx, a, "drop_path");
    if (st != MMX_OK)
        return st;
    float keep_scale = 1.0f / (1.0f - rate);
    for (int64_t b = 0; b < a->batch; b++) {
        uint32_t r[4];
        ctx->host->philox(a->rng_key, (uint64_t)b, r);
        saved[b] = unit_float(r[0]) >= rate ? keep_scale : 0.0f;
    }
    saved[a->batch] = 1.0f;
    drop_job j = {
        .x = a->in[0], .y = a->out, .scale = saved, .per_sample = mmx_numel(&a->node->inputs[0])};
    return ctx->host->parallel_for(ctx, n, MMX_ELEMENTWISE_GRAIN, drop_path_range, &j);
}

static int
drop_path_bwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    if (a->grad_in[0] == NULL)
        return MMX_OK;
    const float *saved = a->saved;
    int64_t n = numel_of(a, 0);
    if (saved == NULL || saved[a->batch] == 0.0f)
        return copy_par(ctx, a->grad_in[0], a->grad_out, n);
    drop_job j = {.x = a->grad_out,
                  .y = a->grad_in[0],
                  .scale = saved,
                  .per_sample = mmx_numel(&a->node->inputs[0])};
    return ctx->host->parallel_for(ctx, n, MMX_ELEMENTWISE_GRAIN, drop_path_range, &j);
}

/* Element i uses word i % 4 of philox(key, i / 4) and is kept when u >= rate, u = (word >>
 * 8) / 2^24; since u and rate * 2^24 are exact in float that is (word >> 8) >= ceil(rate *
 * 2^24), an integer compare. Chunks are multiples of 32 elements, so each mask word is
 * built and written by one chunk, 32 elements at a time. */
static int
dropout_fwd_range(void *arg, int64_t begin, int64_t end)
{
    const drop_job *j = arg;
    uint32_t threshold = (uint32_t)ceilf(j->rate * 16777216.0f);
    for (int64_t w = begin; w < end; w += 32) {
        int64_t count = end - w < 32 ? end - w : 32;
        uint32_t bits = 0, r[4];
        for (int64_t k = 0; k < count; k += 4) {
            j->host->philox(j->key, (uint64_t)((w + k) >> 2), r);
            for (int64_t q = 0; q < 4 && k + q < count; q++)
                bits |= (uint32_t)((r[q] >> 8) >= threshold) << (k + q);
        }
        j->mask[w >> 5] = bits;
        for (int64_t k = 0; k < count; k++)
            j->y[w + k] = (bits >> k) & 1u ? j->x[w + k] * j->keep_scale : 0.0f;
    }
    return MMX_OK;
}

static int
dropout_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const drop_job *j = arg;
    for (int64_t i = begin; i < end; i++)
        j->y[i] = (j->mask_in[i >> 5] >> (i & 31)) & 1u ? j->x[i] * j->keep_scale : 0.0f;
    return MMX_OK;
}

static int
dropout_fwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    float rate = (float)a->node->attrs[0].f;
    uint32_t *saved = a->saved;
    int64_t n = numel_of(a, 0);
    if (!a->training || rate == 0.0f) {
        if (saved)
            saved[0] = 0;
        return copy_par(ctx, a->out, a->in[0], n);
    }
    int st = drop_path_check_saved(ctx, a, "dropout");
    if (st != MMX_OK)
        return st;
    saved[0] = 1;
    drop_job j = {.x = a->in[0],
                  .y = a->out,
                  .mask = saved + 1,
                  .host = ctx->host,
                  .key = a->rng_key,
                  .rate = rate,
                  .keep_scale = 1.0f / (1.0f - rate)};
    return ctx->host->parallel_for(ctx, n, MMX_ELEMENTWISE_GRAIN, dropout_fwd_range, &j);
}

static int
dropout_bwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    if (a->grad_in[0] == NULL)
        return MMX_OK;
    const uint32_t *saved = a->saved;
    int64_t n = numel_of(a, 0);
    if (saved == NULL || saved[0] == 0)
        return copy_par(ctx, a->grad_in[0], a->grad_out, n);
    float rate = (float)a->node->attrs[0].f;
    drop_job j = {.x = a->grad_out,
                  .y = a->grad_in[0],
                  .mask_in = saved + 1,
                  .keep_scale = 1.0f / (1.0f - rate)};
    return ctx->host->parallel_for(ctx, n, MMX_ELEMENTWISE_GRAIN, dropout_bwd_range, &j);
}

static int
drop_path_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "drop_path", node);
    if (gst != MMX_OK)
        return gst;
    (void)params;
    *out = node->inputs[0];
    return MMX_OK;
}

static int
dropout_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "dropout", node);
    if (gst != MMX_OK)
        return gst;
    (void)params;
    *out = node->inputs[0];
    return MMX_OK;
}

static void
drop_path_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    (void)node;
    sizes->saved = drop_path_saved_bytes(batch);
}

static void
dropout_buffers(const mmx_node *node, int64_t batch, mmx_buffer_sizes *sizes)
{
    sizes->saved = dropout_saved_bytes(batch * mmx_numel(&node->inputs[0]));
}

static void
drop_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)mmx_numel(&node->inputs[0]);
    cost->flops = n;
    cost->bytes = 8.0 * n;
}

#define drop_path_cost drop_cost
#define dropout_cost drop_cost

/* ---- split and concat (channel slices) ---- */

typedef struct slice_job {
    const float *src;
    float *dst;
    int64_t src_c, dst_c, src_off, dst_off, width;
    int zero_rest; /* backward of split: dst rows outside the slice are zeroed */
} slice_job;

/* dst[r, dst_off : dst_off + width] = src[r, src_off : src_off + width] for rows r. */
static int
slice_range(void *arg, int64_t begin, int64_t end)
{
    const slice_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        float *d = j->dst + r * j->dst_c;
        if (j->zero_rest)
            memset(d, 0, (size_t)j->dst_c * sizeof(float));
        memcpy(d + j->dst_off, j->src + r * j->src_c + j->src_off,
               (size_t)j->width * sizeof(float));
    }
    return MMX_OK;
}

static int
slice_par(mmx_ctx *ctx, int64_t rows, const slice_job *j)
{
    int64_t c = j->src_c > j->dst_c ? j->src_c : j->dst_c;
    return ctx->host->parallel_for(ctx, rows, row_grain(c), slice_range, (void *)j);
}

static int
split_fwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    const mmx_shape *s = &a->node->inputs[0];
    int64_t c = mmx_channels(s), part = c / a->node->attrs[0].i;
    slice_job j = {.src = a->in[0],
                   .dst = a->out,
                   .src_c = c,
                   .dst_c = part,
                   .src_off = part * a->node->attrs[1].i,
                   .width = part};
    return slice_par(ctx, a->batch * mmx_rows(s), &j);
}

static int
split_bwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    if (a->grad_in[0] == NULL)
        return MMX_OK;
    const mmx_shape *s = &a->node->inputs[0];
    int64_t c = mmx_channels(s), part = c / a->node->attrs[0].i;
    slice_job j = {.src = a->grad_out,
                   .dst = a->grad_in[0],
                   .src_c = part,
                   .dst_c = c,
                   .dst_off = part * a->node->attrs[1].i,
                   .width = part,
                   .zero_rest = 1};
    return slice_par(ctx, a->batch * mmx_rows(s), &j);
}

static int
split_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "split", node);
    if (gst != MMX_OK)
        return gst;
    (void)params;
    const mmx_shape *x = &node->inputs[0];
    int64_t parts = node->attrs[0].i, index = node->attrs[1].i, c = mmx_channels(x);
    char t[MMX_SHAPE_TEXT_SIZE];
    if (c % parts != 0)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "split: the channels (%lld) must divide into %lld equal parts, got input "
                         "%s",
                         (long long)c, (long long)parts, mmx_shape_text(x, t));
    if (index >= parts)
        return MMX_ERROR(ctx, MMX_ERR_INVALID, "split: index %lld is not below parts (%lld)",
                         (long long)index, (long long)parts);
    *out = *x;
    out->dim[out->rank - 1] = c / parts;
    return MMX_OK;
}

static void
split_cost(const mmx_node *node, mmx_cost *cost)
{
    cost->flops = 0;
    cost->bytes = 8.0 * (double)mmx_numel(&node->inputs[0]) / (double)node->attrs[0].i;
}

static int
concat_fwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    const mmx_shape *s0 = &a->node->inputs[0], *s1 = &a->node->inputs[1];
    int64_t c0 = mmx_channels(s0), c1 = mmx_channels(s1), rows = a->batch * mmx_rows(s0);
    slice_job j0 = {.src = a->in[0], .dst = a->out, .src_c = c0, .dst_c = c0 + c1, .width = c0};
    slice_job j1 = {
        .src = a->in[1], .dst = a->out, .src_c = c1, .dst_c = c0 + c1, .dst_off = c0, .width = c1};
    int st = slice_par(ctx, rows, &j0);
    return st == MMX_OK ? slice_par(ctx, rows, &j1) : st;
}

static int
concat_bwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    const mmx_shape *s0 = &a->node->inputs[0], *s1 = &a->node->inputs[1];
    int64_t c0 = mmx_channels(s0), c1 = mmx_channels(s1), rows = a->batch * mmx_rows(s0);
    int st = MMX_OK;
    if (a->grad_in[0]) {
        slice_job j = {
            .src = a->grad_out, .dst = a->grad_in[0], .src_c = c0 + c1, .dst_c = c0, .width = c0};
        st = slice_par(ctx, rows, &j);
    }
    if (st == MMX_OK && a->grad_in[1]) {
        slice_job j = {.src = a->grad_out,
                       .dst = a->grad_in[1],
                       .src_c = c0 + c1,
                       .dst_c = c1,
                       .src_off = c0,
                       .width = c1};
        st = slice_par(ctx, rows, &j);
    }
    return st;
}

static int
concat_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "concat", node);
    if (gst != MMX_OK)
        return gst;
    (void)params;
    const mmx_shape *a = &node->inputs[0], *b = &node->inputs[1];
    char ta[MMX_SHAPE_TEXT_SIZE], tb[MMX_SHAPE_TEXT_SIZE];
    int same = a->rank == b->rank;
    for (int i = 0; same && i < a->rank - 1; i++)
        same = a->dim[i] == b->dim[i];
    if (!same)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "concat: the inputs must have the same rank and the same dims except "
                         "the last (channels), got %s and %s",
                         mmx_shape_text(a, ta), mmx_shape_text(b, tb));
    *out = *a;
    out->dim[out->rank - 1] = mmx_channels(a) + mmx_channels(b);
    return merge_grid(ctx, "concat", a, b, out);
}

static void
concat_cost(const mmx_node *node, mmx_cost *cost)
{
    cost->flops = 0;
    cost->bytes = 8.0 * (double)(mmx_numel(&node->inputs[0]) + mmx_numel(&node->inputs[1]));
}

/* ---- reshape ---- */

static int
reshape_fwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    return copy_par(ctx, a->out, a->in[0], numel_of(a, 0));
}

static int
reshape_bwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    return copy_par(ctx, a->grad_in[0], a->grad_out, numel_of(a, 0));
}

static int
reshape_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "reshape", node);
    if (gst != MMX_OK)
        return gst;
    (void)params;
    const mmx_shape *x = &node->inputs[0];
    const mmx_attr_value *shape = &node->attrs[0], *grid = &node->attrs[1];
    char t[MMX_SHAPE_TEXT_SIZE];
    if (shape->count < 1 || shape->count > MMX_MAX_RANK)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "reshape: attribute 'shape' needs 1 to %d dims, got %d", MMX_MAX_RANK,
                         (int)shape->count);
    int64_t known = 1, n = mmx_numel(x);
    int infer_at = -1;
    *out = (mmx_shape){.rank = shape->count};
    for (int i = 0; i < shape->count; i++) {
        int64_t d = shape->ints[i];
        if (d == -1 && infer_at < 0) {
            infer_at = i;
            continue;
        }
        if (d < 1)
            return MMX_ERROR(ctx, MMX_ERR_INVALID,
                             "reshape: dim %d of 'shape' is %lld; dims are positive, and one "
                             "of them may be -1 (inferred)",
                             i, (long long)d);
        /* Checked before multiplying: four dims of up to 1e9 would overflow. */
        if (d > INT64_MAX / known)
            return MMX_ERROR(ctx, MMX_ERR_INVALID,
                             "reshape: the new shape has more elements per sample than the "
                             "%lld of input %s",
                             (long long)n, mmx_shape_text(x, t));
        out->dim[i] = d;
        known *= d;
    }
    if (infer_at >= 0) {
        if (n % known != 0)
            return MMX_ERROR(ctx, MMX_ERR_INVALID,
                             "reshape: cannot infer the -1 dim: %lld elements per sample of "
                             "input %s are not a multiple of %lld",
                             (long long)n, mmx_shape_text(x, t), (long long)known);
        out->dim[infer_at] = n / known;
        known = n;
    }
    if (known != n)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "reshape: the new shape has %lld elements per sample but input %s has "
                         "%lld",
                         (long long)known, mmx_shape_text(x, t), (long long)n);
    if (grid->count > 0) {
        if (grid->count != 2 || out->rank != 2 || grid->ints[0] * grid->ints[1] != out->dim[0])
            return MMX_ERROR(ctx, MMX_ERR_INVALID,
                             "reshape: 'grid' must be [height, width] with height * width equal "
                             "to the token count N of a new shape [N, C], got %s",
                             mmx_shape_text(out, t));
        out->height = (int32_t)grid->ints[0];
        out->width = (int32_t)grid->ints[1];
    } else if (out->rank == 2 && x->rank == 2 && x->height > 0 && out->dim[0] == x->dim[0]) {
        /* Same tokens, channels regrouped: the grid still describes the tokens. */
        out->height = x->height;
        out->width = x->width;
    }
    return MMX_OK;
}

static void
reshape_cost(const mmx_node *node, mmx_cost *cost)
{
    cost->flops = 0;
    cost->bytes = 8.0 * (double)mmx_numel(&node->inputs[0]);
}

/* ---- select_token ---- */

static int64_t
token_index(const mmx_node *node)
{
    int64_t t = node->attrs[0].i, n = node->inputs[0].dim[0];
    return t < 0 ? t + n : t;
}

static int
select_token_fwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    const mmx_shape *s = &a->node->inputs[0];
    slice_job j = {.src = a->in[0] + token_index(a->node) * s->dim[1],
                   .dst = a->out,
                   .src_c = mmx_numel(s),
                   .dst_c = s->dim[1],
                   .width = s->dim[1]};
    return slice_par(ctx, a->batch, &j);
}

static int
select_token_bwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    if (a->grad_in[0] == NULL)
        return MMX_OK;
    const mmx_shape *s = &a->node->inputs[0];
    slice_job j = {.src = a->grad_out,
                   .dst = a->grad_in[0],
                   .src_c = s->dim[1],
                   .dst_c = mmx_numel(s),
                   .dst_off = token_index(a->node) * s->dim[1],
                   .width = s->dim[1],
                   .zero_rest = 1};
    return slice_par(ctx, a->batch, &j);
}

static int
select_token_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    int gst = inputs_grid_check(ctx, "select_token", node);
    if (gst != MMX_OK)
        return gst;
    (void)params;
    const mmx_shape *x = &node->inputs[0];
    char t[MMX_SHAPE_TEXT_SIZE];
    if (x->rank != 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "select_token: the input must be tokens [N, C], got %s",
                         mmx_shape_text(x, t));
    int64_t index = node->attrs[0].i, n = x->dim[0];
    if (index < -n || index >= n)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "select_token: index %lld is outside [-%lld, %lld] for input %s",
                         (long long)index, (long long)n, (long long)(n - 1), mmx_shape_text(x, t));
    *out = (mmx_shape){.rank = 1, .dim = {x->dim[1]}};
    return MMX_OK;
}

static void
select_token_cost(const mmx_node *node, mmx_cost *cost)
{
    cost->flops = 0;
    cost->bytes = 8.0 * (double)node->inputs[0].dim[1];
}

/* ---- kernel tables ---- */

#define SCALAR_KERNEL(op)                                                                          \
    static const mmx_kernel_desc op##_kernel = {.struct_size = sizeof(mmx_kernel_desc),            \
                                                .name = #op "_scalar",                             \
                                                .isa = MMX_ISA_SCALAR,                             \
                                                .forward = op##_fwd,                               \
                                                .backward = op##_bwd};                             \
    static const mmx_kernel_desc *const op##_kernels[] = {&op##_kernel};

MMX_ISA_KERNELS(add, "add", tensor_, add_fwd, add_bwd)
MMX_ISA_KERNELS(mul, "mul", tensor_, mul_fwd, mul_bwd)
MMX_ISA_KERNELS(layer_scale, "layer_scale", tensor_, layer_scale_fwd, layer_scale_bwd)
SCALAR_KERNEL(pos_embed)
SCALAR_KERNEL(drop_path)
SCALAR_KERNEL(dropout)
SCALAR_KERNEL(split)
SCALAR_KERNEL(concat)
SCALAR_KERNEL(reshape)
SCALAR_KERNEL(select_token)

/* ---- attributes and parameters ---- */

static const mmx_attr_desc layer_scale_init = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "init",
    .type = MMX_ATTR_FLOAT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "initial value of every gamma (1e-6 ConvNeXt, 1e-5 PoolFormer)",
    .default_number = 1e-6,
    .min = 0.0,
    .max = 100.0};
static const mmx_attr_desc *const layer_scale_attrs[] = {&layer_scale_init};

static const mmx_attr_desc drop_rate = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "rate",
    .type = MMX_ATTR_FLOAT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "probability of dropping; kept values are scaled by 1/(1 - rate); 0: identity",
    .default_number = 0.0,
    .min = 0.0,
    .max = 0.999};
static const mmx_attr_desc *const drop_attrs[] = {&drop_rate};

static const mmx_attr_desc split_parts = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "parts",
    .type = MMX_ATTR_INT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "number of equal channel slices (must divide the channels)",
    .default_number = 2,
    .min = 1,
    .max = 65536};
static const mmx_attr_desc split_index = {.struct_size = sizeof(mmx_attr_desc),
                                          .name = "index",
                                          .type = MMX_ATTR_INT,
                                          .flags = MMX_ATTR_HAS_RANGE,
                                          .doc = "which slice to return, 0-based (below parts)",
                                          .default_number = 0,
                                          .min = 0,
                                          .max = 65535};
static const mmx_attr_desc *const split_attrs[] = {&split_parts, &split_index};

static const mmx_attr_desc reshape_shape = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "shape",
    .type = MMX_ATTR_INTS,
    .flags = MMX_ATTR_REQUIRED | MMX_ATTR_HAS_RANGE,
    .doc = "the new per-sample dims (1 to 4, batch excluded); one may be -1 (inferred)",
    .min = -1,
    .max = 1e9};
static const mmx_attr_desc reshape_grid = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "grid",
    .type = MMX_ATTR_INTS,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "[height, width] of the new token grid (height * width = the first dim); unset: "
           "the input's grid when the token count is kept, else none",
    .min = 1,
    .max = 65536};
static const mmx_attr_desc *const reshape_attrs[] = {&reshape_shape, &reshape_grid};

static const mmx_attr_desc select_index = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "index",
    .type = MMX_ATTR_INT,
    .flags = MMX_ATTR_HAS_RANGE,
    .doc = "the token to take; negative counts from the end (-1: the last token)",
    .default_number = -1,
    .min = -1073741824.0,
    .max = 1073741823.0};
static const mmx_attr_desc *const select_token_attrs[] = {&select_index};

static const mmx_param_desc layer_scale_gamma = {.struct_size = sizeof(mmx_param_desc),
                                                 .name = "gamma",
                                                 .flags = MMX_PARAM_NO_DECAY,
                                                 .doc = "per-channel scale [C], const(init)",
                                                 .init = MMX_INIT_CONST,
                                                 .init_a = 1e-6};
static const mmx_param_desc *const layer_scale_params[] = {&layer_scale_gamma};

static const mmx_param_desc pos_embed_weight = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "weight",
    .flags = MMX_PARAM_NO_DECAY,
    .doc = "learned position embedding, the input's per-sample shape, trunc_normal(0.02)",
    .init = MMX_INIT_TRUNC_NORMAL,
    .init_a = 0.02};
static const mmx_param_desc *const pos_embed_params[] = {&pos_embed_weight};

/* ---- examples (the conformance kit runs each, and tail-size variants of the last dim) ---- */

static const char *const add_examples[] = {"{\"inputs\": [\"5x5:7\", \"5x5:7\"]}",
                                           "{\"inputs\": [[3, 37], [3, 37]]}",
                                           "{\"inputs\": [\"3x3:129\", [9, 129]]}", NULL};
static const char *const mul_examples[] = {"{\"inputs\": [\"5x5:7\", \"5x5:7\"]}",
                                           "{\"inputs\": [[2, 3, 37], [2, 3, 37]]}", NULL};
static const char *const layer_scale_examples[] = {
    "{\"inputs\": [\"5x5:7\"]}", "{\"attrs\": {\"init\": 0.5}, \"inputs\": [\"3x3:37\"]}",
    "{\"attrs\": {\"init\": 1e-5}, \"inputs\": [[129]]}", NULL};
static const char *const pos_embed_examples[] = {"{\"inputs\": [\"5x5:7\"]}",
                                                 "{\"inputs\": [[4, 37]]}", NULL};
static const char *const drop_path_examples[] = {
    "{\"inputs\": [\"5x5:7\"]}", "{\"attrs\": {\"rate\": 0.25}, \"inputs\": [\"3x3:37\"]}", NULL};
static const char *const dropout_examples[] = {
    "{\"inputs\": [\"5x5:7\"]}", "{\"attrs\": {\"rate\": 0.5}, \"inputs\": [\"3x3:37\"]}", NULL};
static const char *const split_examples[] = {
    "{\"inputs\": [\"5x5:14\"]}",
    "{\"attrs\": {\"parts\": 3, \"index\": 2}, \"inputs\": [[4, 21]]}",
    "{\"attrs\": {\"parts\": 1}, \"inputs\": [\"3x3:7\"]}", NULL};
static const char *const concat_examples[] = {"{\"inputs\": [\"5x5:7\", \"5x5:9\"]}",
                                              "{\"inputs\": [[3, 37], [3, 1]]}", NULL};
static const char *const reshape_examples[] = {
    "{\"attrs\": {\"shape\": [28, 28], \"grid\": [28, 1]}, \"inputs\": [\"28x28:1\"]}",
    "{\"attrs\": {\"shape\": [-1, 7]}, \"inputs\": [\"3x3:7\"]}",
    "{\"attrs\": {\"shape\": [5, 37]}, \"inputs\": [[185]]}", NULL};
static const char *const select_token_examples[] = {
    "{\"inputs\": [[5, 7]]}", "{\"attrs\": {\"index\": 0}, \"inputs\": [[3, 37]]}",
    "{\"attrs\": {\"index\": -2}, \"inputs\": [\"3x3:129\"]}", NULL};

/* ---- descriptors ---- */

#define TENSOR_OP(op, docline, n_in, attrs_array, n_attr, params_array, n_param, buffers,         \
                  op_flags)                                                                        \
    static const mmx_op_desc op##_op = {.struct_size = sizeof(mmx_op_desc),                        \
                                        .name = #op,                                               \
                                        .op_version = 1,                                           \
                                        .doc = docline,                                            \
                                        .min_inputs = n_in,                                        \
                                        .max_inputs = n_in,                                        \
                                        .n_attrs = n_attr,                                         \
                                        .attrs = attrs_array,                                      \
                                        .n_params = n_param,                                       \
                                        .params = params_array,                                    \
                                        .infer = op##_infer,                                       \
                                        .buffer_sizes = buffers,                                   \
                                        .cost = op##_cost,                                         \
                                        .n_kernels = sizeof op##_kernels / sizeof op##_kernels[0], \
                                        .kernels = op##_kernels,                                   \
                                        .examples = op##_examples,                                 \
                                        .flags = op_flags};

/* add is the residual add of MMX_OP_RESIDUAL_ADD: a[i] + b[i], a backward that copies. */
TENSOR_OP(add, "y = a + b, elementwise (the residual connection); FLOPs 1 per element", 2, NULL, 0,
          NULL, 0, NULL, MMX_OP_RESIDUAL_ADD)
TENSOR_OP(mul, "y = a * b, elementwise (gating); FLOPs 1 per element", 2, NULL, 0, NULL, 0, NULL, 0)
TENSOR_OP(layer_scale, "y = gamma * x with a learned per-channel gamma [C] (CaiT, ConvNeXt)", 1,
          layer_scale_attrs, 1, layer_scale_params, 1, layer_scale_buffers, 0)
TENSOR_OP(pos_embed, "y = x + P with a learned position embedding P of the input's shape", 1, NULL,
          0, pos_embed_params, 1, NULL, 0)
TENSOR_OP(drop_path,
          "stochastic depth: training drops whole samples with probability rate and scales "
          "the kept ones by 1/(1 - rate); identity in eval",
          1, drop_attrs, 1, NULL, 0, drop_path_buffers, 0)
TENSOR_OP(dropout,
          "training zeroes each element with probability rate and scales the kept ones by "
          "1/(1 - rate); identity in eval",
          1, drop_attrs, 1, NULL, 0, dropout_buffers, 0)
TENSOR_OP(split, "the index-th of parts equal channel slices", 1, split_attrs, 2, NULL, 0, NULL, 0)
TENSOR_OP(concat, "[a, b] along channels (the other dims must match)", 2, NULL, 0, NULL, 0, NULL, 0)
TENSOR_OP(reshape, "the same per-sample elements with a new shape and optional token grid", 1,
          reshape_attrs, 2, NULL, 0, NULL, 0)
TENSOR_OP(select_token, "[N, C] -> [C]: one token (a class token, or the last of a sequence)", 1,
          select_token_attrs, 1, NULL, 0, NULL, 0)

MMX_PLUGIN_DEFINE("tensor", "1.0.0",
                  "Tensor plumbing: add, mul, layer_scale, pos_embed, drop_path, dropout, split, "
                  "concat, reshape, select_token",
                  &add_op, &mul_op, &layer_scale_op, &pos_embed_op, &drop_path_op, &dropout_op,
                  &split_op, &concat_op, &reshape_op, &select_token_op);
