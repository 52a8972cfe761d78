/* fuse.c: fusion planned by the executor: which nodes fuse, and the fused passes.
 *
 * Mechanism: in the executor, with the plugins' own kernels, on what the op descriptors
 * promise (the MMX_OP_* flags of ABI 1.1, mmx-plugin.h): the core knows no op by name. A
 * kernel writes its whole output, but an op can promise that configurations it accepts
 * anyway compute the pieces separately: MMX_OP_BIAS_EPILOGUE (a channel bias) or
 * MMX_OP_ROW_BIAS_EPILOGUE (a row bias: linear over tokens) say that with "bias": false
 * the op gives the bare product; MMX_OP_ELEMENTWISE says that the op instantiated on a
 * [1] vector runs on any n contiguous floats when called with batch = n; and
 * MMX_OP_RESIDUAL_ADD that an add is one float add per element with a copying backward.
 * So the executor runs the producer without its bias, then ONE pass over its output in
 * tiles of TILE floats (8 KB, in L1): add the bias into the tile, call the elementwise
 * op's own kernel on it, write the result. No copy of any op's maths in the core: the
 * fused pass calls the very kernel (ISA variant included) the unfused node would. An op
 * that sets no flags, or was built for ABI 1.0, never fuses. A plugin epilogue (a query
 * in a later minor ABI) could also fold the bias into the GEMM's tile write;
 * docs/decisions.md says why that waits.
 *
 * Bit-exactness: every fused path gives the unfused floats exactly, so MMX_FUSE never
 * changes a result (tests/core/test-fuse.c compares bits), because of the flags'
 * contracts:
 * - the bias add is one float add per element, as in the producer's kernel;
 * - an elementwise kernel gives each element the same bits in every cut of the tensor at
 *   multiples of MMX_ELEMENTWISE_ALIGN floats. Every tile here starts at a multiple of 16
 *   floats and is a multiple of 16 long except at the tensor's end, as the unfused
 *   chunks are;
 * - a channel bias's gradient is summed in the order the flag fixes: per chunk of
 *   MMX_ROW_GRAIN rows, each column over the rows in order starting from zero, then the
 *   chunk partials added into the gradient in chunk order (linear.c and conv.c sum it so
 *   with the same constant). A row bias is summed by the op's own backward, which then
 *   runs with its bias on;
 * - the residual add is h + (y + b): the same two adds in the same order;
 * - a shared residual gradient is no arithmetic at all.
 *
 * Planning rules (from the graph and the flags):
 * - a producer is a bias-epilogue op with a rank-2 output and a bias that no other node
 *   shares (tied, its gradient's order of accumulation would move). dwconv2d is not one
 *   (no flag): it starts its sum from the bias, so a bias added last would round
 *   differently;
 * - BIAS_ACT: the producer's output is read by one node, an elementwise op;
 * - BIAS_ADD: it is read by one node, a residual add: out = h + (y + b);
 * - RESIDUAL_GRADIENT (training): a residual add's backward is a copy of its output's
 *   gradient to each input's. An input whose LAST reader (in forward order) is the add
 *   gets its gradient first from the add's backward, so its gradient buffer can simply be
 *   the output's: readers before it accumulate into it as they would have. Both inputs
 *   can share the one buffer only if their accumulations cannot mix: y is read by the add
 *   alone, and every other reader of h runs (forward) no later than y's producer, so its
 *   backward adds into the buffer only after y's producer has read it. Otherwise only y
 *   shares. Chained blocks give the residual stream of a whole stage one gradient buffer.
 */
#include "fuse-private.h"

#include <stddef.h>
#include <string.h>

enum {
    TILE = 2048,        /* floats per fused tile: a multiple of MMX_ELEMENTWISE_ALIGN */
    ELEM_GRAIN = 16384, /* floats per parallel chunk of an elementwise pass */
};
G_STATIC_ASSERT(TILE % MMX_ELEMENTWISE_ALIGN == 0 && ELEM_GRAIN % TILE == 0);

static const char *const kind_names[] = {"bias+activation", "bias+residual", "residual-gradient"};

const char *
mmx_fusion_kind_name(mmx_fusion_kind kind)
{
    return (unsigned)kind < G_N_ELEMENTS(kind_names) ? kind_names[kind] : "?";
}

bool
mmx_fusion_default(void)
{
    const char *v = g_getenv("MMX_FUSE");
    return v == NULL || strcmp(v, "0") != 0;
}

/* ---- the planner ---- */

/* The MMX_OP_* promises node nd's op keeps for it (mmx-plugin.h): none from an op built
 * for ABI 1.0, whose descriptor ends before the fields. */
static uint32_t
node_flags(const mmx_graph_node *nd)
{
    const mmx_op_desc *d = mmx_op_get_desc(nd->op);
    if (d->struct_size < offsetof(mmx_op_desc, flags) + sizeof d->flags)
        return 0;
    uint32_t f = d->flags;
    if (f != 0 && d->struct_size >= offsetof(mmx_op_desc, node_flags) + sizeof d->node_flags &&
        d->node_flags != NULL)
        f &= d->node_flags(mmx_op_instance_node(nd->inst));
    return f;
}

/* An elementwise op (MMX_OP_ELEMENTWISE) the fused pass can call on a tile. */
static bool
is_elementwise(const mmx_graph_node *nd, bool training)
{
    if (!(node_flags(nd) & MMX_OP_ELEMENTWISE) || nd->n_inputs != 1 ||
        mmx_op_get_desc(nd->op)->n_params != 0)
        return false;
    mmx_buffer_sizes sz = {.struct_size = sizeof sz};
    mmx_op_instance_buffer_sizes(nd->inst, 1, &sz);
    const mmx_kernel_desc *k = mmx_op_instance_kernel(nd->inst);
    return sz.workspace == 0 && sz.saved == 0 && (!training || k->backward != NULL);
}

/* An op with its own bias that can be split off (MMX_OP_BIAS_EPILOGUE: a channel bias,
 * MMX_OP_ROW_BIAS_EPILOGUE: a row or token bias); its index and layout. */
static bool
is_bias_producer(const mmx_graph *g, const mmx_graph_node *nd, int *bias_param, bool *token)
{
    uint32_t f = node_flags(nd) & (MMX_OP_BIAS_EPILOGUE | MMX_OP_ROW_BIAS_EPILOGUE);
    int b = mmx_op_param_index(nd->op, "bias");
    const mmx_graph_param *p = b >= 0 && f ? mmx_graph_get_param(g, nd->params[b]) : NULL;
    const mmx_shape *out = &mmx_graph_get_value(g, nd->output)->shape;
    if (p == NULL || p->n_uses != 1 || out->rank != 2)
        return false;
    /* The layout the flag promises, held against the shapes. */
    *token = !(f & MMX_OP_BIAS_EPILOGUE);
    const mmx_shape *bs = &p->info.shape;
    if (bs->rank != 1 || bs->dim[0] != out->dim[*token ? 0 : 1])
        return false;
    *bias_param = b;
    return true;
}

static bool
same_shape(const mmx_shape *a, const mmx_shape *b)
{
    return a->rank == b->rank && memcmp(a->dim, b->dim, sizeof(int64_t) * (size_t)a->rank) == 0;
}

/* The producer with "bias": false, on the same inputs and kernel; NULL when the op does
 * not give the same output and parameters without its bias, or would save more. */
static mmx_op_instance *
bias_free_twin(const mmx_graph_node *nd, int bias_param)
{
    const mmx_node *node = mmx_op_instance_node(nd->inst);
    const mmx_op_desc *d = mmx_op_get_desc(nd->op);
    int a = mmx_op_attr_index(nd->op, "bias");
    if (a < 0 || d->attrs[a]->type != MMX_ATTR_BOOL)
        return NULL;
    g_autofree mmx_attr_value *attrs = g_new0(mmx_attr_value, d->n_attrs + 1);
    memcpy(attrs, node->attrs, sizeof *attrs * d->n_attrs);
    attrs[a].i = 0;
    attrs[a].f = 0.0;
    attrs[a].is_set = 1;
    g_autoptr(mmx_op_instance) twin =
        mmx_op_instance_new(nd->op, nd->name, attrs, node->inputs, node->n_inputs, NULL);
    if (twin == NULL)
        return NULL;
    mmx_op_instance_set_kernel(twin, mmx_op_instance_kernel(nd->inst));
    const mmx_node *tn = mmx_op_instance_node(twin);
    if (!same_shape(&tn->output, &node->output) || tn->params[bias_param].shape.rank != 0)
        return NULL;
    for (size_t j = 0; j < d->n_params; j++)
        if ((int)j != bias_param && !same_shape(&tn->params[j].shape, &node->params[j].shape))
            return NULL;
    mmx_buffer_sizes mine = {.struct_size = sizeof mine}, its = {.struct_size = sizeof its};
    mmx_op_instance_buffer_sizes(nd->inst, 1, &mine);
    mmx_op_instance_buffer_sizes(twin, 1, &its);
    return its.saved <= mine.saved ? g_steal_pointer(&twin) : NULL;
}

/* The activation on a [1] vector, with the node's attributes and kernel. */
static mmx_op_instance *
tile_twin(const mmx_graph_node *nd)
{
    const mmx_node *node = mmx_op_instance_node(nd->inst);
    mmx_shape one = mmx_shape_vector(1);
    mmx_op_instance *twin = mmx_op_instance_new(nd->op, nd->name, node->attrs, &one, 1, NULL);
    if (twin)
        mmx_op_instance_set_kernel(twin, mmx_op_instance_kernel(nd->inst));
    return twin;
}

static int
root_of(int *parent, int v)
{
    while (parent[v] != v)
        v = parent[v] = parent[parent[v]];
    return v;
}

/* BIAS_ACT or BIAS_ADD of consumer i, whose input k is the output of a bias producer
 * read by i alone. */
static bool
fuse_bias(mmx__fuse_plan *fp, const mmx_graph *g, int i, int k, mmx_fusion_kind kind)
{
    const mmx_graph_node *nd = mmx_graph_get_node(g, i);
    const mmx_graph_value *v = mmx_graph_get_value(g, nd->inputs[k]);
    int p = v->producer, bias;
    bool token;
    if (p < 0 || v->n_consumers != 1 || fp->nodes[p].role != MMX__FUSE_NONE ||
        !is_bias_producer(g, mmx_graph_get_node(g, p), &bias, &token))
        return false;
    mmx_op_instance *twin = bias_free_twin(mmx_graph_get_node(g, p), bias);
    mmx_op_instance *act = kind == MMX_FUSION_BIAS_ACTIVATION && twin ? tile_twin(nd) : NULL;
    if (twin == NULL || (kind == MMX_FUSION_BIAS_ACTIVATION && act == NULL)) {
        mmx_op_instance_free(twin);
        return false;
    }
    fp->nodes[p] = (mmx__fuse_node){.role = MMX__FUSE_PRODUCER,
                                    .producer = -1,
                                    .bias_param = bias,
                                    .token_bias = token,
                                    .twin = twin,
                                    .twin_backward = kind == MMX_FUSION_BIAS_ACTIVATION && !token};
    fp->nodes[i].role =
        kind == MMX_FUSION_BIAS_ACTIVATION ? MMX__FUSE_BIAS_ACT : MMX__FUSE_BIAS_ADD;
    fp->nodes[i].producer = p;
    fp->nodes[i].src_input = k;
    fp->nodes[i].twin = act;
    mmx_fusion f = {.kind = kind, .producer = p, .node = i};
    g_array_append_val(fp->fusions, f);
    return true;
}

/* Which inputs of residual add i share its output's gradient (the rule above). */
static int
shared_inputs(const mmx_graph *g, int i, const int *last_reader)
{
    const mmx_graph_node *nd = mmx_graph_get_node(g, i);
    int in = mmx_graph_input(g);
    bool can[2];
    for (int k = 0; k < 2; k++)
        can[k] = nd->inputs[k] != in && last_reader[nd->inputs[k]] == i;
    for (int k = 0; k < 2; k++) {
        const mmx_graph_value *y = mmx_graph_get_value(g, nd->inputs[k]);
        if (!can[k] || y->n_consumers != 1)
            continue;
        if (!can[1 - k])
            return 1 << k;
        /* Both, if every other reader of h runs no later than y's producer. */
        int h = nd->inputs[1 - k];
        bool both = true;
        for (int c = 0; c < i && both; c++) {
            const mmx_graph_node *cn = mmx_graph_get_node(g, c);
            for (int q = 0; q < cn->n_inputs; q++)
                both &= cn->inputs[q] != h || c <= y->producer;
        }
        return both ? 3 : 1 << k;
    }
    return can[0] ? 1 : can[1] ? 2 : 0;
}

mmx__fuse_plan *
mmx__fuse_plan_new(const mmx_graph *g, bool training, bool enabled)
{
    int n = mmx_graph_n_nodes(g), nv = mmx_graph_n_values(g);
    mmx__fuse_plan *fp = g_new0(mmx__fuse_plan, 1);
    fp->fusions = g_array_new(FALSE, FALSE, sizeof(mmx_fusion));
    fp->nodes = g_new0(mmx__fuse_node, n ? n : 1);
    fp->grad_root = g_new(int, nv ? nv : 1);
    for (int i = 0; i < n; i++)
        fp->nodes[i].producer = -1;
    for (int v = 0; v < nv; v++)
        fp->grad_root[v] = v;
    if (!enabled)
        return fp;
    g_autofree int *last_reader = g_new(int, nv ? nv : 1);
    for (int v = 0; v < nv; v++)
        last_reader[v] = -1;
    for (int i = 0; i < n; i++) {
        const mmx_graph_node *nd = mmx_graph_get_node(g, i);
        for (int k = 0; k < nd->n_inputs; k++)
            last_reader[nd->inputs[k]] = i;
    }
    for (int i = 0; i < n; i++) {
        const mmx_graph_node *nd = mmx_graph_get_node(g, i);
        if (is_elementwise(nd, training)) {
            fuse_bias(fp, g, i, 0, MMX_FUSION_BIAS_ACTIVATION);
            continue;
        }
        if (!(node_flags(nd) & MMX_OP_RESIDUAL_ADD) || nd->n_inputs != 2 ||
            nd->inputs[0] == nd->inputs[1])
            continue;
        if (!fuse_bias(fp, g, i, 1, MMX_FUSION_BIAS_RESIDUAL))
            fuse_bias(fp, g, i, 0, MMX_FUSION_BIAS_RESIDUAL);
        int shared = training ? shared_inputs(g, i, last_reader) : 0;
        if (shared == 0)
            continue;
        fp->nodes[i].shared = shared;
        for (int k = 0; k < 2; k++)
            if (shared & (1 << k))
                fp->grad_root[root_of(fp->grad_root, nd->inputs[k])] =
                    root_of(fp->grad_root, nd->output);
        mmx_fusion f = {
            .kind = MMX_FUSION_RESIDUAL_GRADIENT, .producer = -1, .node = i, .shared = shared};
        g_array_append_val(fp->fusions, f);
    }
    for (int v = 0; v < nv; v++)
        fp->grad_root[v] = root_of(fp->grad_root, v);
    return fp;
}

void
mmx__fuse_plan_free(mmx__fuse_plan *fp)
{
    if (fp == NULL)
        return;
    for (guint f = 0; f < fp->fusions->len; f++) {
        const mmx_fusion *x = &g_array_index(fp->fusions, mmx_fusion, f);
        if (x->producer >= 0) {
            mmx_op_instance_free(fp->nodes[x->producer].twin);
            mmx_op_instance_free(fp->nodes[x->node].twin);
        }
    }
    g_array_unref(fp->fusions);
    g_free(fp->nodes);
    g_free(fp->grad_root);
    g_free(fp);
}

GArray *
mmx_fusion_plan(const mmx_graph *graph, bool training)
{
    g_return_val_if_fail(graph != NULL, NULL);
    g_autoptr(mmx__fuse_plan) fp = mmx__fuse_plan_new(graph, training, true);
    return g_array_ref(fp->fusions);
}

char *
mmx__fuse_summary(const mmx__fuse_plan *fp)
{
    int count[G_N_ELEMENTS(kind_names)] = {0};
    for (guint f = 0; f < fp->fusions->len; f++)
        count[g_array_index(fp->fusions, mmx_fusion, f).kind]++;
    GString *s = g_string_new(NULL);
    for (unsigned k = 0; k < G_N_ELEMENTS(kind_names); k++)
        if (count[k])
            g_string_append_printf(s, "%s%d %s", s->len ? ", " : "", count[k], kind_names[k]);
    if (s->len == 0)
        g_string_append(s, "none");
    return g_string_free(s, FALSE);
}

/* ---- the passes ---- */

/* The geometry of a fused node's output: rows of c floats; a channel bias is b[col], a
 * token bias b[row % n_bias]. */
typedef struct geom {
    int64_t c, n_bias;
    bool token;
    int64_t elements;
} geom;

static geom
geom_of(const mmx__fuse_plan *fp, const mmx_graph *g, int node, int64_t batch)
{
    int p = fp->nodes[node].producer;
    const mmx_shape *s = &mmx_graph_get_value(g, mmx_graph_get_node(g, p)->output)->shape;
    geom r = {.c = s->dim[1], .n_bias = s->dim[0], .token = fp->nodes[p].token_bias};
    r.elements = batch * mmx_shape_numel(s);
    return r;
}

size_t
mmx__fuse_workspace(const mmx__fuse_plan *fp, const mmx_graph *g, int64_t batch)
{
    size_t need = 0;
    for (guint f = 0; f < fp->fusions->len; f++) {
        const mmx_fusion *x = &g_array_index(fp->fusions, mmx_fusion, f);
        if (x->producer < 0)
            continue;
        mmx_buffer_sizes sz = {.struct_size = sizeof sz};
        mmx_op_instance_buffer_sizes(fp->nodes[x->producer].twin, batch, &sz);
        need = MAX(need, sz.workspace);
        if (fp->nodes[x->producer].twin_backward) { /* the bias-gradient partials */
            geom gm = geom_of(fp, g, x->node, batch);
            int64_t chunks = (gm.elements / gm.c + MMX_ROW_GRAIN - 1) / MMX_ROW_GRAIN;
            need = MAX(need, (size_t)(chunks * gm.c) * sizeof(float));
        }
    }
    return need;
}

typedef struct pass {
    geom gm;
    const mmx__fuse_io *io;
    mmx_kernel_fn fn; /* the activation's kernel, forward or backward */
    mmx_ctx *ctx;
    const mmx_node *act; /* the activation's [1] twin */
    float *part;         /* bias-gradient partials, one row of c per chunk, or NULL */
    bool backward;
} pass;

/* dst[k] = src[k] + bias (+ h[k] when h) for the elements e0 .. e0 + len, row segment by
 * row segment (a channel bias runs along the segment, a token bias is constant in it).
 * One division per call: the row and column then advance. */
static void
add_bias(const geom *gm, const float *bias, int64_t e0, int64_t len, const float *src,
         const float *h, float *dst)
{
    int64_t col = e0 % gm->c, brow = e0 / gm->c % gm->n_bias;
    for (int64_t k = 0; k < len; col = 0, brow = brow + 1 == gm->n_bias ? 0 : brow + 1) {
        int64_t seg = MIN(gm->c - col, len - k);
        const float *s = src + k;
        float *d = dst + k;
        if (gm->token) {
            float b = bias[brow];
            if (h)
                for (int64_t t = 0; t < seg; t++)
                    d[t] = h[k + t] + (s[t] + b);
            else
                for (int64_t t = 0; t < seg; t++)
                    d[t] = s[t] + b;
        } else {
            const float *b = bias + col;
            if (h)
                for (int64_t t = 0; t < seg; t++)
                    d[t] = h[k + t] + (s[t] + b[t]);
            else
                for (int64_t t = 0; t < seg; t++)
                    d[t] = s[t] + b[t];
        }
        k += seg;
    }
}

/* acc[col] += g[k] over the elements e0 .. e0 + len (a channel bias's column sums). */
static void
sum_columns(const geom *gm, int64_t e0, int64_t len, const float *g, float *acc)
{
    for (int64_t k = 0, col = e0 % gm->c; k < len; col = 0) {
        int64_t seg = MIN(gm->c - col, len - k);
        for (int64_t t = 0; t < seg; t++)
            acc[col + t] += g[k + t];
        k += seg;
    }
}

static int
add_range(void *arg, int64_t begin, int64_t end)
{
    const pass *p = arg;
    const mmx__fuse_io *io = p->io;
    add_bias(&p->gm, io->bias, begin, end - begin, io->src + begin, io->other + begin,
             io->out + begin);
    return MMX_OK;
}

/* The activation's kernel on one tile: forward out = act(x), backward grad_src. */
static int
act_tile(const pass *p, const float *x, int64_t e0, int64_t len, bool backward)
{
    const mmx__fuse_io *io = p->io;
    float *const none[1] = {NULL};
    const float *in[1] = {x};
    float *gin[1] = {backward ? io->grad_src + e0 : NULL};
    mmx_kernel_args a = {.struct_size = sizeof a,
                         .node = p->act,
                         .batch = len,
                         .training = io->training,
                         .rng_key = io->rng_key,
                         .in = in,
                         .out = io->out + e0,
                         .param = none,
                         .grad_out = backward ? io->grad_out + e0 : NULL,
                         .grad_in = gin,
                         .grad_param = none};
    return p->fn(p->ctx, &a);
}

/* Forward: chunks of elements. Backward: chunks of MMX_ROW_GRAIN rows when the bias gradient
 * is summed here (p->part), else of elements. */
static int
act_range(void *arg, int64_t begin, int64_t end)
{
    const pass *p = arg;
    _Alignas(64) float tile[TILE];
    float *acc = p->part ? p->part + begin / MMX_ROW_GRAIN * p->gm.c : NULL;
    int64_t e_begin = acc ? begin * p->gm.c : begin, e_end = acc ? end * p->gm.c : end;
    if (acc)
        memset(acc, 0, (size_t)p->gm.c * sizeof(float));
    for (int64_t e0 = e_begin; e0 < e_end; e0 += TILE) {
        int64_t len = MIN(TILE, e_end - e0);
        add_bias(&p->gm, p->io->bias, e0, len, p->io->src + e0, NULL, tile);
        int st = act_tile(p, tile, e0, len, p->backward);
        if (st != MMX_OK)
            return st;
        if (acc)
            sum_columns(&p->gm, e0, len, p->io->grad_src + e0, acc);
    }
    return MMX_OK;
}

static bool
run_pass(const mmx__fuse_plan *fp, const mmx_graph *g, int node, const mmx__fuse_io *io,
         bool backward, GError **error)
{
    const mmx_graph_node *nd = mmx_graph_get_node(g, node);
    const mmx__fuse_node *fn = &fp->nodes[node];
    pass p = {.gm = geom_of(fp, g, node, io->batch), .io = io, .backward = backward};
    mmx__call call;
    mmx_ctx ctx;
    mmx__call_init(&call, &ctx, nd->name, mmx_plugin_path(mmx_op_plugin(nd->op)));
    p.ctx = &ctx;
    int st;
    if (fn->role == MMX__FUSE_BIAS_ADD) {
        st = mmx__parallel_for(p.gm.elements, ELEM_GRAIN, add_range, &p);
    } else if (!backward) {
        p.act = mmx_op_instance_node(fn->twin);
        p.fn = mmx_op_instance_kernel(fn->twin)->forward;
        st = mmx__parallel_for(p.gm.elements, ELEM_GRAIN, act_range, &p);
    } else {
        p.act = mmx_op_instance_node(fn->twin);
        p.fn = mmx_op_instance_kernel(fn->twin)->backward;
        int64_t rows = p.gm.elements / p.gm.c;
        p.part = io->grad_bias ? io->workspace : NULL;
        st = p.part ? mmx__parallel_for(rows, MMX_ROW_GRAIN, act_range, &p)
                    : mmx__parallel_for(p.gm.elements, ELEM_GRAIN, act_range, &p);
        /* The partials into the gradient in chunk order, as the producer would add them. */
        for (int64_t c = 0; p.part && st == MMX_OK && c * MMX_ROW_GRAIN < rows; c++)
            for (int64_t j = 0; j < p.gm.c; j++)
                io->grad_bias[j] += p.part[c * p.gm.c + j];
    }
    if (st == MMX_OK && call.status != MMX_OK)
        st = call.status;
    if (st != MMX_OK)
        mmx__call_to_gerror(&call, st, MMX_OP_ERROR, error);
    mmx__call_clear(&call);
    return st == MMX_OK;
}

bool
mmx__fuse_forward(const mmx__fuse_plan *fp, const mmx_graph *g, int node, const mmx__fuse_io *io,
                  GError **error)
{
    return run_pass(fp, g, node, io, false, error);
}

bool
mmx__fuse_backward(const mmx__fuse_plan *fp, const mmx_graph *g, int node, const mmx__fuse_io *io,
                   GError **error)
{
    return run_pass(fp, g, node, io, true, error);
}
