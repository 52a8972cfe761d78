/* sqrelu.c: the op mmxtemplate.sqrelu, squared ReLU (So et al. 2021, "Primer"):
 *
 *     y = max(x, 0)^2          dL/dx = 2 max(x, 0) dL/dy
 *
 * an activation: elementwise, no parameters, no attributes. Its scalar spans are the
 * reference, the definition of the op: `mmx check-plugin` holds the AVX2 spans
 * (sqrelu-avx2.c) to them. Below them: the kernels, which cut the batch into chunks for
 * the host's threads, and the op's descriptor, everything the host reads.
 *
 * To write another activation, copy this file and sqrelu-avx2.c, change the four span
 * functions, the names and the cost, and list the new descriptor in mmxtemplate.c.
 */
#include "elementwise.h"

/* ---- the scalar reference ---- */

static void
forward_scalar(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] * x[i] : 0.0f;
}

static void
backward_scalar(const float *x, const float *gy, float *gx, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        gx[i] = x[i] > 0.0f ? 2.0f * x[i] * gy[i] : 0.0f;
}

static const mmxtemplate_spans spans_scalar = {forward_scalar, backward_scalar};

/* ---- kernels: one per ISA, each a forward and a backward ---- */

/* Floats per chunk handed to a thread: fixed (so the cut never depends on the number of
 * threads) and a multiple of 16 (MMX_ELEMENTWISE_ALIGN, the flag's contract below). */
#define GRAIN 16384

typedef struct job {
    const mmxtemplate_spans *spans;
    const float *x, *gy;
    float *y, *gx;
} job;

static int
forward_range(void *arg, int64_t begin, int64_t end)
{
    const job *j = arg;
    j->spans->forward(j->x + begin, j->y + begin, end - begin);
    return MMX_OK;
}

static int
backward_range(void *arg, int64_t begin, int64_t end)
{
    const job *j = arg;
    j->spans->backward(j->x + begin, j->gy + begin, j->gx + begin, end - begin);
    return MMX_OK;
}

/* The batch is batch samples of the input's shape, one contiguous run of floats. Kernels
 * never allocate, exit or start threads: the host's parallel_for runs the chunks. */
static int
run(mmx_ctx *ctx, const mmx_kernel_args *a, const mmxtemplate_spans *spans, int backward)
{
    int64_t n = a->batch * mmxtemplate_numel(&a->node->inputs[0]);
    job j = {.spans = spans, .x = a->in[0], .y = a->out};
    if (!backward)
        return ctx->host->parallel_for(ctx, n, GRAIN, forward_range, &j);
    /* The gradient arrays exist in the backward only. */
    j.gy = a->grad_out;
    j.gx = a->grad_in[0];
    if (j.gx == NULL) /* x needs no gradient: nothing to do */
        return MMX_OK;
    return ctx->host->parallel_for(ctx, n, GRAIN, backward_range, &j);
}

static int
forward_k_scalar(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    return run(ctx, a, &spans_scalar, 0);
}

static int
backward_k_scalar(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    return run(ctx, a, &spans_scalar, 1);
}

static int
forward_k_avx2(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    return run(ctx, a, &mmxtemplate_sqrelu_spans_avx2, 0);
}

static int
backward_k_avx2(mmx_ctx *ctx, const mmx_kernel_args *a)
{
    return run(ctx, a, &mmxtemplate_sqrelu_spans_avx2, 1);
}

/* The host picks the best kernel this CPU runs, once per node (MMX_ISA=scalar|avx2|avx512
 * caps it). The scalar kernel is mandatory: it is the reference. */
static const mmx_kernel_desc kernel_scalar = {.struct_size = sizeof(mmx_kernel_desc),
                                              .name = "sqrelu_scalar",
                                              .isa = MMX_ISA_SCALAR,
                                              .forward = forward_k_scalar,
                                              .backward = backward_k_scalar};
static const mmx_kernel_desc kernel_avx2 = {.struct_size = sizeof(mmx_kernel_desc),
                                            .name = "sqrelu_avx2",
                                            .isa = MMX_ISA_AVX2,
                                            .forward = forward_k_avx2,
                                            .backward = backward_k_avx2};
static const mmx_kernel_desc *const kernels[] = {&kernel_scalar, &kernel_avx2};

/* ---- the descriptor ---- */

/* y has the shape of x. The host has already checked the arity and that every dim is
 * positive; this op runs on any shape. */
static int
sqrelu_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    (void)ctx, (void)params;
    *out = node->inputs[0];
    return MMX_OK;
}

/* Per sample, forward: a compare and a multiply per element; x read, y written. */
static void
sqrelu_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)mmxtemplate_numel(&node->inputs[0]);
    cost->flops = 2.0 * n;
    cost->bytes = 8.0 * n;
}

/* Configurations for `mmx check-plugin` (and the docs): the kit also runs each with its
 * last dim changed to 1, 7, 37 and 129, the sizes that hit a vector loop's tail. */
static const char *const examples[] = {
    "{\"inputs\": [\"5x5:8\"]}",
    "{\"inputs\": [[7, 37]]}",
    NULL,
};

/* No attributes and no parameters: n_attrs, n_params stay 0 and attrs, params NULL
 * (mmx-plugin.h lists every field that may be NULL). MMX_OP_ELEMENTWISE lets the executor
 * fuse the op with the bias of the linear or conv before it (one pass over the output);
 * it is a promise the kernels keep: out[i] depends on in[i] alone, and the AVX2 loop runs
 * from each range's start in steps of 8, which divides 16, so any cut of the tensor at
 * multiples of 16 elements gives every element the same bits. */
const mmx_op_desc mmxtemplate_sqrelu_op = {
    .struct_size = sizeof(mmx_op_desc),
    .name = "mmxtemplate.sqrelu", /* third-party ops are named <plugin>.<op> */
    .op_version = 1,
    .doc = "y = max(x, 0)^2: squared ReLU, elementwise, no parameters",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = sqrelu_infer,
    .cost = sqrelu_cost,
    .n_kernels = sizeof kernels / sizeof kernels[0],
    .kernels = kernels,
    .examples = examples,
    .flags = MMX_OP_ELEMENTWISE,
};
