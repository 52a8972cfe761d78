/* activation.c: the activation family (identity, relu, gelu, silu, sigmoid, softmax) with
 * its scalar reference maps. Adding an op? Give it a map in each ISA file, a descriptor
 * below, and its case in the conformance tests (tests/plugins/test-activation.c).
 *
 * The scalar maps are the definition of each op; activation-avx2.c and
 * activation-avx512.c hold the same maths on 8 and 16 lanes. The elementwise maps share
 * one parallel_for wrapper for every op and ISA. Softmax is the one op that reduces: along
 * the last dim (rows) or along the tokens (columns of [N, C]); each row or column is
 * normalized by one chunk, so nothing depends on the thread count. Backward overwrites gx.
 */
#include <math.h>
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "activation-private.h"

/* ---- scalar reference maps ---- */

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define SQRT_2_OVER_PI 0.79788456080286535588
#define GELU_C 0.044715

static void
gelu_fwd(const float *x, float *y, int64_t n, int variant)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (variant == 0)
            y[i] = 0.5f * v * (1.0f + erff(v * (float)SQRT1_2));
        else
            y[i] = 0.5f * v * (1.0f + tanhf((float)SQRT_2_OVER_PI * (v + (float)GELU_C * v * v * v)));
    }
}

static void
gelu_bwd(const float *x, const float *gy, float *gx, int64_t n, int variant)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], d;
        if (variant == 0) {
            d = 0.5f * (1.0f + erff(v * (float)SQRT1_2)) + v * (float)INV_SQRT_2PI * expf(-0.5f * v * v);
        } else {
            float t = tanhf((float)SQRT_2_OVER_PI * (v + (float)GELU_C * v * v * v));
            d = 0.5f * (1.0f + t) +
                0.5f * v * (1.0f - t * t) * (float)SQRT_2_OVER_PI * (1.0f + 3.0f * (float)GELU_C * v * v);
        }
        gx[i] = gy[i] * d;
    }
}

static void
relu_fwd(const float *x, float *y, int64_t n, int variant)
{
    (void)variant;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void
relu_bwd(const float *x, const float *gy, float *gx, int64_t n, int variant)
{
    (void)variant;
    for (int64_t i = 0; i < n; i++)
        gx[i] = x[i] > 0.0f ? gy[i] : 0.0f;
}

static void
sigmoid_fwd(const float *x, float *y, int64_t n, int variant)
{
    (void)variant;
    for (int64_t i = 0; i < n; i++)
        y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void
sigmoid_bwd(const float *x, const float *gy, float *gx, int64_t n, int variant)
{
    (void)variant;
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-x[i]));
        gx[i] = gy[i] * s * (1.0f - s);
    }
}

static void
silu_fwd(const float *x, float *y, int64_t n, int variant)
{
    (void)variant;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i]));
}

static void
silu_bwd(const float *x, const float *gy, float *gx, int64_t n, int variant)
{
    (void)variant;
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-x[i]));
        gx[i] = gy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

/* Softmax, the reference: y = exp(z - max z) / sum exp(z - max z) with z = x / temperature
 * (computed as x * (1 / temperature)). Subtracting the max keeps exp from overflowing; -inf
 * entries (masks) give exact zeros; a row of nothing but -inf has no distribution and
 * gives zeros rather than NaN. */
static void
softmax_row_fwd_s(const float *x, float *y, int64_t n, float inv_t)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] * inv_t > m ? x[i] * inv_t : m;
    if (m == -INFINITY) {
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        y[i] = expf(x[i] * inv_t - m);
        sum += y[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++)
        y[i] *= inv;
}

/* gx = (1 / temperature) * y * (gy - sum(gy * y)): the softmax Jacobian applied to gy. */
static void
softmax_row_bwd_s(const float *y, const float *gy, float *gx, int64_t n, float inv_t)
{
    float dot = 0.0f;
    for (int64_t i = 0; i < n; i++)
        dot += gy[i] * y[i];
    for (int64_t i = 0; i < n; i++)
        gx[i] = inv_t * (y[i] * (gy[i] - dot));
}

static void
softmax_col_fwd_s(const float *x, float *y, int64_t n, int64_t c, int64_t ld, float inv_t)
{
    for (int64_t j = 0; j < c; j++) {
        float m = -INFINITY, sum = 0.0f;
        for (int64_t r = 0; r < n; r++)
            m = x[r * ld + j] * inv_t > m ? x[r * ld + j] * inv_t : m;
        if (m == -INFINITY)
            m = 0.0f; /* every entry -inf: exp gives zeros, and the zero sum zeros below */
        for (int64_t r = 0; r < n; r++) {
            y[r * ld + j] = expf(x[r * ld + j] * inv_t - m);
            sum += y[r * ld + j];
        }
        float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        for (int64_t r = 0; r < n; r++)
            y[r * ld + j] *= inv;
    }
}

static void
softmax_col_bwd_s(const float *y, const float *gy, float *gx, int64_t n, int64_t c, int64_t ld,
                  float inv_t)
{
    for (int64_t j = 0; j < c; j++) {
        float dot = 0.0f;
        for (int64_t r = 0; r < n; r++)
            dot += gy[r * ld + j] * y[r * ld + j];
        for (int64_t r = 0; r < n; r++)
            gx[r * ld + j] = inv_t * (y[r * ld + j] * (gy[r * ld + j] - dot));
    }
}

const softmax_ops softmax_scalar = {softmax_row_fwd_s, softmax_row_bwd_s, softmax_col_fwd_s,
                                    softmax_col_bwd_s};

const act_map act_gelu_scalar = {gelu_fwd, gelu_bwd};
const act_map act_relu_scalar = {relu_fwd, relu_bwd};
const act_map act_sigmoid_scalar = {sigmoid_fwd, sigmoid_bwd};
const act_map act_silu_scalar = {silu_fwd, silu_bwd};

/* ---- the shared kernel wrapper ---- */

typedef struct map_job {
    const act_map *map;
    int variant;
    const float *x, *gy;
    float *y;
} map_job;

static int
fwd_range(void *arg, int64_t begin, int64_t end)
{
    const map_job *j = arg;
    j->map->fwd(j->x + begin, j->y + begin, end - begin, j->variant);
    return MMX_OK;
}

static int
bwd_range(void *arg, int64_t begin, int64_t end)
{
    const map_job *j = arg;
    j->map->bwd(j->x + begin, j->gy + begin, j->y + begin, end - begin, j->variant);
    return MMX_OK;
}

/* GELU's `approximate` attribute (its attribute 0) is the only variant switch. */
static int
variant_of(const mmx_kernel_args *a)
{
    return (int)a->node->attrs[0].i;
}

static int
run_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const act_map *map, int variant)
{
    map_job j = {map, variant, a->in[0], NULL, a->out};
    int64_t n = a->batch * mmx_numel(&a->node->inputs[0]);
    return ctx->host->parallel_for(ctx, n, MMX_ELEMENTWISE_GRAIN, fwd_range, &j);
}

static int
run_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const act_map *map, int variant)
{
    if (a->grad_in[0] == NULL)
        return MMX_OK;
    map_job j = {map, variant, a->in[0], a->grad_out, a->grad_in[0]};
    int64_t n = a->batch * mmx_numel(&a->node->inputs[0]);
    return ctx->host->parallel_for(ctx, n, MMX_ELEMENTWISE_GRAIN, bwd_range, &j);
}

/* The kernels' drivers: GELU reads its form from its attribute 0 (`approximate`); the
 * other maps have one form. */
static int
gelu_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const act_map *map)
{
    return run_fwd(ctx, a, map, variant_of(a));
}

static int
gelu_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const act_map *map)
{
    return run_bwd(ctx, a, map, variant_of(a));
}

static int
map_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const act_map *map)
{
    return run_fwd(ctx, a, map, 0);
}

static int
map_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const act_map *map)
{
    return run_bwd(ctx, a, map, 0);
}

MMX_ISA_KERNELS(gelu, "gelu", act_gelu_, gelu_forward, gelu_backward)
MMX_ISA_KERNELS(relu, "relu", act_relu_, map_forward, map_backward)
MMX_ISA_KERNELS(sigmoid, "sigmoid", act_sigmoid_, map_forward, map_backward)
MMX_ISA_KERNELS(silu, "silu", act_silu_, map_forward, map_backward)

/* identity: a copy; never hot enough to need SIMD variants (memcpy already is). */
static int
identity_fwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    (void)ctx;
    memcpy(a->out, a->in[0], (size_t)(a->batch * mmx_numel(&a->node->inputs[0])) * sizeof(float));
    return MMX_OK;
}

static int
identity_bwd(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    (void)ctx;
    if (a->grad_in[0])
        memcpy(a->grad_in[0], a->grad_out,
               (size_t)(a->batch * mmx_numel(&a->node->inputs[0])) * sizeof(float));
    return MMX_OK;
}

static const mmx_kernel_desc identity_kernel = {.struct_size = sizeof(mmx_kernel_desc),
                                                .name = "identity_scalar",
                                                .isa = MMX_ISA_SCALAR,
                                                .forward = identity_fwd,
                                                .backward = identity_bwd};
static const mmx_kernel_desc *const identity_kernels[] = {&identity_kernel};

/* softmax: rows (axis last) or token columns (axis token), a parallel_for over rows or
 * over [N, C] slices with a grain fixed by the shape. */

typedef struct softmax_job {
    const softmax_ops *ops;
    const float *x, *y, *gy;
    float *out;
    int64_t n, c; /* token axis: N rows of c channels per slice; last axis: rows of c */
    float inv_t;
} softmax_job;

static int
softmax_rows_fwd(void *arg, int64_t begin, int64_t end)
{
    const softmax_job *j = arg;
    for (int64_t r = begin; r < end; r++)
        j->ops->row_fwd(j->x + r * j->c, j->out + r * j->c, j->c, j->inv_t);
    return MMX_OK;
}

static int
softmax_rows_bwd(void *arg, int64_t begin, int64_t end)
{
    const softmax_job *j = arg;
    for (int64_t r = begin; r < end; r++)
        j->ops->row_bwd(j->y + r * j->c, j->gy + r * j->c, j->out + r * j->c, j->c, j->inv_t);
    return MMX_OK;
}

static int
softmax_slices_fwd(void *arg, int64_t begin, int64_t end)
{
    const softmax_job *j = arg;
    int64_t size = j->n * j->c;
    for (int64_t s = begin; s < end; s++)
        j->ops->col_fwd(j->x + s * size, j->out + s * size, j->n, j->c, j->c, j->inv_t);
    return MMX_OK;
}

static int
softmax_slices_bwd(void *arg, int64_t begin, int64_t end)
{
    const softmax_job *j = arg;
    int64_t size = j->n * j->c;
    for (int64_t s = begin; s < end; s++)
        j->ops->col_bwd(j->y + s * size, j->gy + s * size, j->out + s * size, j->n, j->c, j->c,
                        j->inv_t);
    return MMX_OK;
}

/* Attribute 0 is the axis (0 last, 1 token), attribute 1 the temperature. */
static int
softmax_run(mmx_ctx *ctx, const mmx_kernel_args *a, const softmax_ops *ops, int backward)
{
    const mmx_shape *s = &a->node->inputs[0];
    int token = a->node->attrs[0].i == 1;
    softmax_job j = {.ops = ops,
                     .x = a->in[0],
                     .y = a->out,
                     .gy = a->grad_out,
                     .out = backward ? a->grad_in[0] : a->out,
                     .c = mmx_channels(s),
                     .inv_t = (float)(1.0 / a->node->attrs[1].f)};
    if (j.out == NULL)
        return MMX_OK;
    if (!token) {
        int64_t rows = a->batch * mmx_rows(s), grain = MMX_ELEMENTWISE_GRAIN / j.c;
        return ctx->host->parallel_for(ctx, rows, grain > 0 ? grain : 1,
                                       backward ? softmax_rows_bwd : softmax_rows_fwd, &j);
    }
    j.n = s->dim[s->rank - 2];
    int64_t slices = a->batch * mmx_numel(s) / (j.n * j.c),
            grain = MMX_ELEMENTWISE_GRAIN / (j.n * j.c);
    return ctx->host->parallel_for(ctx, slices, grain > 0 ? grain : 1,
                                   backward ? softmax_slices_bwd : softmax_slices_fwd, &j);
}

static int
softmax_forward(mmx_ctx *ctx, const mmx_kernel_args *a, const softmax_ops *ops)
{
    return softmax_run(ctx, a, ops, 0);
}

static int
softmax_backward(mmx_ctx *ctx, const mmx_kernel_args *a, const softmax_ops *ops)
{
    return softmax_run(ctx, a, ops, 1);
}

MMX_ISA_KERNELS(softmax, "softmax", softmax_, softmax_forward, softmax_backward)

/* ---- descriptors ---- */

static int
infer_same(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    (void)ctx;
    (void)params;
    *out = node->inputs[0];
    return MMX_OK;
}

/* Per element: the op count of each form, roughly (transcendentals count as one). */
#define ACT_COST(op, per_element)                                                                  \
    static void op##_cost(const mmx_node *node, mmx_cost *cost)                                    \
    {                                                                                              \
        double n = (double)mmx_numel(&node->inputs[0]);                                            \
        cost->flops = (per_element) * n;                                                           \
        cost->bytes = 8.0 * n;                                                                     \
    }

ACT_COST(identity, 0)
ACT_COST(relu, 1)
ACT_COST(gelu, 8)
ACT_COST(sigmoid, 4)
ACT_COST(silu, 5)

static const char *const gelu_forms[] = {"none", "tanh", NULL};
static const mmx_attr_desc gelu_approximate = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "approximate",
    .type = MMX_ATTR_STRING,
    .doc = "'none': x*Phi(x) with erf (exact); 'tanh': the tanh approximation",
    .default_string = "none",
    .choices = gelu_forms};
static const mmx_attr_desc *const gelu_attrs[] = {&gelu_approximate};

static int
softmax_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    (void)params;
    const mmx_shape *x = &node->inputs[0];
    char t[MMX_SHAPE_TEXT_SIZE];
    int st = mmx_grid_check(ctx, "softmax", x);
    if (st != MMX_OK)
        return st;
    if (node->attrs[0].i == 1 && x->rank < 2)
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "softmax: axis 'token' normalizes along N of tokens [N, C] (dim -2), so "
                         "the input needs rank >= 2, got %s",
                         mmx_shape_text(x, t));
    *out = *x;
    return MMX_OK;
}

/* Per element: max, subtract, exp, sum, scale (the temperature's multiply folded in). */
ACT_COST(softmax, 5)

static const char *const softmax_axes[] = {"last", "token", NULL};
static const mmx_attr_desc softmax_axis = {
    .struct_size = sizeof(mmx_attr_desc),
    .name = "axis",
    .type = MMX_ATTR_STRING,
    .doc = "'last': along the last dim (channels; the key axis of [heads, N, N] scores); "
           "'token': along N of [N, C] (dim -2)",
    .default_string = "last",
    .choices = softmax_axes};
static const mmx_attr_desc softmax_temperature = {.struct_size = sizeof(mmx_attr_desc),
                                                  .name = "temperature",
                                                  .type = MMX_ATTR_FLOAT,
                                                  .flags = MMX_ATTR_HAS_RANGE,
                                                  .doc = "y = softmax(x / temperature)",
                                                  .default_number = 1.0,
                                                  .min = 1e-4,
                                                  .max = 1e4};
static const mmx_attr_desc *const softmax_attrs[] = {&softmax_axis, &softmax_temperature};

#define ACT_OP(op, docline, attrs_array, n_attr, op_flags)                                         \
    static const mmx_op_desc op##_op = {.struct_size = sizeof(mmx_op_desc),                        \
                                        .name = #op,                                               \
                                        .op_version = 1,                                           \
                                        .doc = docline,                                            \
                                        .min_inputs = 1,                                           \
                                        .max_inputs = 1,                                           \
                                        .n_attrs = n_attr,                                         \
                                        .attrs = attrs_array,                                      \
                                        .infer = infer_same,                                       \
                                        .cost = op##_cost,                                         \
                                        .n_kernels = sizeof op##_kernels / sizeof op##_kernels[0], \
                                        .kernels = op##_kernels,                                   \
                                        .examples = op##_examples,                                 \
                                        .flags = op_flags};

static const char *const identity_examples[] = {"{\"inputs\": [\"5x5:7\"]}", NULL};
static const char *const relu_examples[] = {"{\"inputs\": [\"5x5:7\"]}", "{\"inputs\": [[3, 37]]}", NULL};
static const char *const gelu_examples[] = {
    "{\"inputs\": [\"5x5:7\"]}", "{\"attrs\": {\"approximate\": \"tanh\"}, \"inputs\": [\"3x3:37\"]}",
    "{\"inputs\": [[2, 9, 9]]}", NULL};
static const char *const sigmoid_examples[] = {"{\"inputs\": [\"5x5:7\"]}", NULL};
static const char *const silu_examples[] = {"{\"inputs\": [\"5x5:7\"]}", NULL};
static const char *const softmax_examples[] = {
    "{\"inputs\": [\"5x5:7\"]}",
    "{\"attrs\": {\"axis\": \"token\"}, \"inputs\": [\"3x3:37\"]}",
    "{\"attrs\": {\"temperature\": 0.5}, \"inputs\": [[2, 9, 9]]}",
    "{\"attrs\": {\"axis\": \"token\", \"temperature\": 2.0}, \"inputs\": [[2, 5, 7]]}",
    "{\"inputs\": [[37]]}",
    NULL};

/* The maps compute each element on its own (MMX_OP_ELEMENTWISE): identity copies, the
 * others run vector bodies of 8 or 16 from the start of a call's range and a scalar tail.
 * Softmax reduces: no flag. */
ACT_OP(identity, "y = x", NULL, 0, MMX_OP_ELEMENTWISE)
ACT_OP(relu, "y = max(x, 0)", NULL, 0, MMX_OP_ELEMENTWISE)
ACT_OP(gelu, "y = x * Phi(x) (Hendrycks & Gimpel 2016); erf or tanh form", gelu_attrs, 1,
       MMX_OP_ELEMENTWISE)
ACT_OP(sigmoid, "y = 1 / (1 + exp(-x))", NULL, 0, MMX_OP_ELEMENTWISE)
ACT_OP(silu, "y = x * sigmoid(x) (SiLU / swish)", NULL, 0, MMX_OP_ELEMENTWISE)

static const mmx_op_desc softmax_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "softmax",
    .op_version = 1,
    .doc = "y = softmax(x / temperature) along the last dim or the tokens; numerically "
           "stable, -inf entries give 0",
    .min_inputs = 1,
    .max_inputs = 1,
    .n_attrs = 2,
    .attrs = softmax_attrs,
    .infer = softmax_infer,
    .cost = softmax_cost,
    .n_kernels = sizeof softmax_kernels / sizeof softmax_kernels[0],
    .kernels = softmax_kernels,
    .examples = softmax_examples};

MMX_PLUGIN_DEFINE("activation", "1.0.0",
                  "Activations: identity, relu, gelu, sigmoid, silu (elementwise) and softmax",
                  &identity_op, &relu_op, &gelu_op, &sigmoid_op, &silu_op, &softmax_op);
