/* lm.c: the lm plugin, what a language model needs besides the mixers: `embed`, the token
 * embedding.
 *
 *   embed:  x [N, 1] (token ids, as floats) -> y [N, dim],  y[t] = W[id(x[t])]
 *           weight [vocab, dim]; id(x) = floor(x) mod vocab (the trainer writes ids in
 *           [0, vocab), so the wrap never changes them; it keeps any float a valid row).
 *
 * The token grid of the input is kept. The output head of a language model is a channel
 * `linear` with "out": vocab and "bias": false tied to the embedding ("tie":
 * "stem.0.weight"): its [out, in] weight is the [vocab, dim] table, so the logits are
 * y W^T with the same matrix.
 *
 * Backward: the ids are not differentiable (their input gradient is 0); the table's
 * gradient adds each position's output gradient into its token's row. It is cut by
 * column slices of a fixed width (never by the thread count), each slice adding over all
 * rows in row order, so the sums are the same bits on any machine and any ISA (the SIMD
 * maps are one float add per element, in the same order).
 */
#include <math.h>
#include <string.h>

#include "../common/isa-stamp.h"
#include "../common/plugin-util.h"
#include "../common/shape-text.h"
#include "lm-private.h"

/* ---- scalar reference maps ---- */

static void
copy_scalar(const float *x, float *y, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        y[j] = x[j];
}

static void
acc_scalar(const float *x, float *y, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        y[j] += x[j];
}

const lm_simd lm_scalar = {copy_scalar, acc_scalar};

/* ---- embed ---- */

enum { A_VOCAB, A_DIM, N_ATTRS };

/* Columns per chunk of the table's gradient: a multiple of every vector width. */
#define EMBED_COL_GRAIN 64

static int64_t
token_id(float x, int64_t vocab)
{
    double f = floor((double)x);
    if (!(fabs(f) < 9.0e15))
        return 0; /* not finite or beyond exact integers: row 0, never out of bounds */
    int64_t id = (int64_t)f % vocab;
    return id < 0 ? id + vocab : id;
}

typedef struct embed_job {
    const lm_simd *v;
    const float *x, *w, *gy;
    float *y, *gw;
    int64_t rows, vocab, dim;
} embed_job;

static int
embed_fwd_range(void *arg, int64_t begin, int64_t end)
{
    const embed_job *j = arg;
    for (int64_t r = begin; r < end; r++)
        j->v->copy(j->w + token_id(j->x[r], j->vocab) * j->dim, j->y + r * j->dim, j->dim);
    return MMX_OK;
}

static int
embed_bwd_range(void *arg, int64_t begin, int64_t end)
{
    const embed_job *j = arg;
    for (int64_t r = 0; r < j->rows; r++) {
        int64_t id = token_id(j->x[r], j->vocab);
        j->v->acc(j->gy + r * j->dim + begin, j->gw + id * j->dim + begin, end - begin);
    }
    return MMX_OK;
}

static embed_job
embed_job_of(const mmx_kernel_args *a, const lm_simd *v)
{
    const mmx_node *n = a->node;
    return (embed_job){.v = v,
                       .x = a->in[0],
                       .w = a->param[0],
                       .rows = a->batch * n->inputs[0].dim[0],
                       .vocab = n->attrs[A_VOCAB].i,
                       .dim = n->attrs[A_DIM].i};
}

static int
embed_fwd(mmx_ctx *ctx, const mmx_kernel_args *a, const lm_simd *v)
{
    embed_job j = embed_job_of(a, v);
    j.y = a->out;
    int64_t grain = 16384 / j.dim + 1;
    return ctx->host->parallel_for(ctx, j.rows, grain, embed_fwd_range, &j);
}

static int
embed_bwd(mmx_ctx *ctx, const mmx_kernel_args *a, const lm_simd *v)
{
    embed_job j = embed_job_of(a, v);
    if (a->grad_in[0])
        memset(a->grad_in[0], 0, (size_t)j.rows * sizeof(float));
    if (a->grad_param[0] == NULL)
        return MMX_OK;
    j.gy = a->grad_out;
    j.gw = a->grad_param[0];
    return ctx->host->parallel_for(ctx, j.dim, EMBED_COL_GRAIN, embed_bwd_range, &j);
}

static int
embed_infer(mmx_ctx *ctx, const mmx_node *node, mmx_shape *out, mmx_param_info *params)
{
    const mmx_shape *x = &node->inputs[0];
    if (x->rank != 2 || x->dim[1] != 1) {
        char buf[MMX_SHAPE_TEXT_SIZE];
        return MMX_ERROR(ctx, MMX_ERR_INVALID,
                         "embed: the input is a sequence of token ids [N, 1] (one channel), "
                         "got %s",
                         mmx_shape_text(x, buf));
    }
    *out = *x;
    out->dim[1] = node->attrs[A_DIM].i;
    params[0].shape = (mmx_shape){.rank = 2, .dim = {node->attrs[A_VOCAB].i, node->attrs[A_DIM].i}};
    return MMX_OK;
}

static void
embed_cost(const mmx_node *node, mmx_cost *cost)
{
    double n = (double)node->inputs[0].dim[0], dim = (double)node->attrs[A_DIM].i;
    cost->flops = 0;
    cost->bytes = 4.0 * n + 8.0 * n * dim;
}

MMX_ISA_KERNELS(embed, "embed", lm_, embed_fwd, embed_bwd)

static const mmx_attr_desc embed_vocab = {.struct_size = sizeof(mmx_attr_desc),
                                          .name = "vocab",
                                          .type = MMX_ATTR_INT,
                                          .flags = MMX_ATTR_HAS_RANGE,
                                          .doc = "number of token ids (256: bytes)",
                                          .default_number = 256,
                                          .min = 2,
                                          .max = 1 << 20};
static const mmx_attr_desc embed_dim = {.struct_size = sizeof(mmx_attr_desc),
                                        .name = "dim",
                                        .type = MMX_ATTR_INT,
                                        .flags = MMX_ATTR_REQUIRED | MMX_ATTR_HAS_RANGE,
                                        .doc = "channels of each token's vector",
                                        .min = 1,
                                        .max = 65536};
static const mmx_attr_desc *const embed_attrs[] = {&embed_vocab, &embed_dim};

static const mmx_param_desc embed_weight = {
    .struct_size = sizeof(mmx_param_desc),
    .name = "weight",
    .flags = MMX_PARAM_NO_DECAY,
    .doc = "the table [vocab, dim], normal(0, 0.02) (GPT-2's initialization)",
    .init = MMX_INIT_NORMAL,
    .init_a = 0.0,
    .init_b = 0.02};
static const mmx_param_desc *const embed_params[] = {&embed_weight};

static const char *const embed_examples[] = {
    "{\"attrs\": {\"dim\": 16}, \"inputs\": [[9, 1]]}",
    "{\"attrs\": {\"vocab\": 7, \"dim\": 37}, \"inputs\": [\"5x1:1\"]}",
    "{\"attrs\": {\"vocab\": 256, \"dim\": 129}, \"inputs\": [[12, 1]]}", NULL};

static const mmx_op_desc embed_op = {.struct_size = sizeof(mmx_op_desc),
                                     .name = "embed",
                                     .op_version = 1,
                                     .doc = "token embedding: ids [N, 1] -> rows of a learned "
                                            "table [vocab, dim]",
                                     .min_inputs = 1,
                                     .max_inputs = 1,
                                     .n_attrs = N_ATTRS,
                                     .attrs = embed_attrs,
                                     .n_params = 1,
                                     .params = embed_params,
                                     .infer = embed_infer,
                                     .cost = embed_cost,
                                     .n_kernels = 3,
                                     .kernels = embed_kernels,
                                     .examples = embed_examples,
                                     /* position-wise: token t reads only id t */
                                     .flags = MMX_OP_CAUSAL};

MMX_PLUGIN_DEFINE("lm", "1.0.0", "Language modeling: the token embedding (embed)", &embed_op);
