/* analyze-energy.c: the Hopfield energy of tied parallel blocks along the layers
 * (mmx_analyze_energy, mmx-analyze.h).
 *
 * A block of hopfield-parallel.json (Karakida, Ota, Taki 2024) is x' = x + y(z), z = LN(x),
 * with y(z) the sum over its tied mixers of W^T act(W z + b) + c along the mixer's axis.
 * The block's energy is
 *     E(z) = |z|^2 / 2 - sum_mixers [ sum L(W z + b) + c . z ],   L' = act, L(0) = 0,
 * whose gradient is z - y(z): y is exactly the block's residual branch. We evaluate E with
 * the block's own weights and layer norm at the normed state entering the block, z = LN(x),
 * and at the normed state it leaves, LN(x') (the same LN), for test inputs, in double
 * precision from the executor's float states. When the weights are small the update is a
 * descent step on E restricted to the layer norm's sphere, so E decreases; what trained
 * weights do is the measurement.
 *
 * The Lagrangians are the hopfield plugin's (plugins/hopfield/hopfield.c, hopfield.energy),
 * written again here because the core cannot call into a plugin's internals.
 */
#include "analyze-private.h"

#include <math.h>
#include <string.h>

#include <mmx/mmx-data.h>

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

typedef enum { ACT_GELU, ACT_RELU, ACT_IDENTITY, ACT_SIGMOID } act_kind;

static double
lagrangian(double u, act_kind act)
{
    switch (act) {
    case ACT_GELU: {
        double cdf = 0.5 * (1.0 + erf(u * SQRT1_2)), pdf = INV_SQRT_2PI * exp(-0.5 * u * u);
        return 0.5 * ((u * u - 1.0) * cdf + u * pdf) + 0.25;
    }
    case ACT_RELU:
        return u > 0.0 ? 0.5 * u * u : 0.0;
    case ACT_SIGMOID: /* log(1 + e^u) - log 2, written stably */
        return (u > 0 ? u + log1p(exp(-u)) : log1p(exp(u))) - G_LN2;
    default:
        return 0.5 * u * u;
    }
}

typedef struct mixer {
    char *name;
    bool token;
    act_kind act;
    float *w; /* [hid, in] as applied */
    int64_t hid, in;
    const float *b, *c; /* key bias [hid], value bias [in], or NULL */
} mixer;

typedef struct block {
    char *name;
    int x, x_out;              /* values: the block input and the residual's output */
    const float *gamma, *beta; /* the layer norm's affine, or NULL */
    double eps;
    GPtrArray *mixers; /* mixer * */
    double sum_in, sum_out;
    int64_t decreased;
} block;

static void
mixer_free(gpointer p)
{
    mixer *m = p;
    g_free(m->name);
    g_free(m->w);
    g_free(m);
}

static void
block_free(gpointer p)
{
    block *b = p;
    g_free(b->name);
    g_ptr_array_unref(b->mixers);
    g_free(b);
}

static const float *
param_or_null(mmx_model *model, const mmx_graph_node *node, int k)
{
    return node->params[k] >= 0 ? mmx_model_param(model, node->params[k]) : NULL;
}

static const mmx_graph_node *
node_named(const mmx_graph *g, const char *prefix, const char *suffix)
{
    g_autofree char *name = g_strconcat(prefix, suffix, NULL);
    int i = mmx_graph_find_node(g, name);
    return i >= 0 ? mmx_graph_get_node(g, i) : NULL;
}

/* The mixer whose key is `key` (its input the block's norm): tied, key - activation -
 * value and nothing else. */
static mixer *
make_mixer(mmx_model *model, const mmx_graph_node *key, GError **error)
{
    const mmx_graph *g = mmx_model_graph(model);
    g_autofree char *p = g_strndup(key->name, strlen(key->name) - strlen(".key"));
    const mmx_graph_node *act = node_named(g, p, ".activation"), *val = node_named(g, p, ".value");
    if (node_named(g, p, ".query") || node_named(g, p, ".output") || act == NULL || val == NULL ||
        act->inputs[0] != key->output || val->inputs[0] != act->output) {
        mmx__analyze_refuse(error, "%s: the energy needs a mixer of key, activation and value only",
                            p);
        return NULL;
    }
    static const char *const acts[] = {"gelu", "relu", "identity", "sigmoid", NULL};
    const char *an = mmx_op_name(act->op);
    int ai = -1;
    for (int i = 0; acts[i]; i++)
        if (strcmp(an, acts[i]) == 0)
            ai = i;
    if (ai < 0) {
        mmx__analyze_refuse(
            error,
            "%s: the energy needs an activation with a closed-form Lagrangian (gelu, "
            "relu, identity, sigmoid), got %s",
            p, an);
        return NULL;
    }
    mixer *m = g_new0(mixer, 1);
    int kp, vp;
    int64_t vo, vi;
    m->w = mmx__analyze_weight(model, key, &m->hid, &m->in, &kp);
    g_autofree float *v = mmx__analyze_weight(model, val, &vo, &vi, &vp);
    if (m->w == NULL || v == NULL || kp != vp) {
        mmx__analyze_refuse(error,
                            "%s: the energy is defined for tied weights (a value tied to its key's "
                            "weight); this mixer's are %s",
                            p, m->w && v ? "independent" : "not matrices");
        mixer_free(m);
        return NULL;
    }
    m->name = g_steal_pointer(&p);
    m->token = strcmp(mmx__analyze_axis(key), "token") == 0;
    m->act = (act_kind)ai;
    m->b = param_or_null(model, key, 1);
    m->c = param_or_null(model, val, 1);
    return m;
}

/* The blocks of tied parallel mixers: a layernorm "B.norm", the keys reading its output,
 * and "B.residual" adding the norm's input. */
static GPtrArray *
find_blocks(mmx_model *model, GError **error)
{
    const mmx_graph *g = mmx_model_graph(model);
    g_autoptr(GPtrArray) blocks = g_ptr_array_new_with_free_func(block_free);
    for (int i = 0; i < mmx_graph_n_nodes(g); i++) {
        const mmx_graph_node *norm = mmx_graph_get_node(g, i);
        if (!g_str_has_suffix(norm->name, ".norm") ||
            strcmp(mmx_op_name(norm->op), "layernorm") != 0)
            continue;
        g_autofree char *b = g_strndup(norm->name, strlen(norm->name) - strlen(".norm"));
        const mmx_graph_node *res = node_named(g, b, ".residual");
        if (res == NULL || res->n_inputs != 2 || res->inputs[0] != norm->inputs[0])
            continue;
        g_autoptr(GPtrArray) mixers = g_ptr_array_new_with_free_func(mixer_free);
        for (int k = 0; k < mmx_graph_n_nodes(g); k++) {
            const mmx_graph_node *key = mmx_graph_get_node(g, k);
            if (!g_str_has_suffix(key->name, ".key") || key->inputs[0] != norm->output)
                continue;
            mixer *m = make_mixer(model, key, error);
            if (m == NULL)
                return NULL;
            g_ptr_array_add(mixers, m);
        }
        if (mixers->len == 0)
            continue;
        block *bl = g_new0(block, 1);
        bl->name = g_steal_pointer(&b);
        bl->x = norm->inputs[0];
        bl->x_out = res->output;
        bl->gamma = param_or_null(model, norm, 0);
        bl->beta = param_or_null(model, norm, 1);
        bl->eps = mmx_op_instance_node(norm->inst)->attrs[mmx_op_attr_index(norm->op, "eps")].f;
        bl->mixers = g_steal_pointer(&mixers);
        g_ptr_array_add(blocks, bl);
    }
    if (blocks->len == 0) {
        mmx__analyze_refuse(error,
                            "the model has no block of tied mixers on a layer norm with a residual "
                            "(the form of hopfield-parallel.json) to compute the energy of");
        return NULL;
    }
    return g_steal_pointer(&blocks);
}

/* z = LN(x) per token over the channels, in double, into z [n, c]. */
static void
layer_norm(const block *b, const float *x, int64_t n, int64_t c, double *z)
{
    for (int64_t t = 0; t < n; t++) {
        const float *xr = x + t * c;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < c; j++)
            mean += xr[j];
        mean /= (double)c;
        for (int64_t j = 0; j < c; j++)
            var += (xr[j] - mean) * (xr[j] - mean);
        double rstd = 1.0 / sqrt(var / (double)c + b->eps);
        for (int64_t j = 0; j < c; j++)
            z[t * c + j] = (xr[j] - mean) * rstd * (b->gamma ? b->gamma[j] : 1.0) +
                           (b->beta ? b->beta[j] : 0.0);
    }
}

static double
energy(const block *b, const double *z, int64_t n, int64_t c)
{
    double e = 0;
    for (int64_t i = 0; i < n * c; i++)
        e += 0.5 * z[i] * z[i];
    for (guint k = 0; k < b->mixers->len; k++) {
        const mixer *m = g_ptr_array_index(b->mixers, k);
        /* token: u[j, ch] = sum_t W[j, t] z[t, ch]; channel: u[t, j] = sum_ch W[j, ch] z[t, ch] */
        int64_t outer = m->token ? c : n;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < m->hid; j++) {
                const float *w = m->w + j * m->in;
                double u = m->b ? m->b[j] : 0.0;
                for (int64_t i = 0; i < m->in; i++)
                    u += w[i] * (m->token ? z[i * c + o] : z[o * c + i]);
                e -= lagrangian(u, m->act);
            }
        if (m->c)
            for (int64_t t = 0; t < n; t++)
                for (int64_t ch = 0; ch < c; ch++)
                    e -= m->c[m->token ? t : ch] * z[t * c + ch];
    }
    return e;
}

typedef struct energy_job {
    const GPtrArray *blocks;
    const mmx_exec *ex;
    const mmx_graph *g;
    double *e_in, *e_out; /* [blocks][samples] of this batch */
    int64_t batch;
} energy_job;

static int
energy_range(void *arg, int64_t begin, int64_t end)
{
    const energy_job *j = arg;
    for (int64_t s = begin; s < end; s++)
        for (guint k = 0; k < j->blocks->len; k++) {
            const block *b = g_ptr_array_index(j->blocks, k);
            const mmx_shape *sh = &mmx_graph_get_value(j->g, b->x)->shape;
            int64_t c = sh->dim[sh->rank - 1], n = mmx_shape_numel(sh) / c;
            g_autofree double *z = g_new(double, (gsize)(n * c));
            layer_norm(b, mmx__exec_value(j->ex, b->x) + s * n * c, n, c, z);
            j->e_in[k * j->batch + s] = energy(b, z, n, c);
            layer_norm(b, mmx__exec_value(j->ex, b->x_out) + s * n * c, n, c, z);
            j->e_out[k * j->batch + s] = energy(b, z, n, c);
        }
    return MMX_OK;
}

bool
mmx__analyze_images(mmx_model *model, const mmx_dataset *ds, const mmx_norm_stats *stats,
                    int64_t total, mmx__analyze_batch_fn fn, void *user, GError **error)
{
    const int64_t batch = MIN(total, 64);
    g_autoptr(mmx_exec) ex = mmx__exec_new_keeping(model, batch, error);
    if (ex == NULL)
        return false;
    g_autofree int64_t *idx = g_new(int64_t, batch);
    g_autofree int32_t *labels = g_new(int32_t, batch);
    for (int64_t at = 0; at < total; at += batch) {
        int64_t nb = MIN(batch, total - at);
        for (int64_t i = 0; i < nb; i++)
            idx[i] = at + i;
        mmx_dataset_batch(ds, idx, nb, stats, NULL, 0, mmx_exec_input(ex), labels);
        if (!mmx_exec_forward(ex, nb, 0, error))
            return false;
        fn(ex, at, nb, user);
    }
    return true;
}

int64_t
mmx__analyze_image_count(mmx_model *model, const mmx_dataset *ds, int64_t limit, GError **error)
{
    const mmx_graph *g = mmx_model_graph(model);
    const mmx_shape *in = &mmx_graph_get_value(g, mmx_graph_input(g))->shape;
    int h = mmx_dataset_height(ds), w = mmx_dataset_width(ds), c = mmx_dataset_channels(ds);
    if (in->height != h || in->width != w || in->dim[in->rank - 1] != c) {
        mmx__analyze_refuse(error,
                            "the model reads %dx%dx%" G_GINT64_FORMAT " images; those of %s are "
                            "%dx%dx%d",
                            in->height, in->width, in->dim[in->rank - 1], mmx_dataset_name(ds), h,
                            w, c);
        return 0;
    }
    int64_t total = mmx_dataset_size(ds);
    if (limit > 0 && limit < total)
        total = limit;
    if (total < 1)
        mmx__analyze_refuse(error, "%s: no test images to run the model on", mmx_dataset_name(ds));
    return total;
}

typedef struct energy_sums {
    GPtrArray *blocks;
    const mmx_graph *g;
    double *e_in, *e_out; /* [blocks][64] */
} energy_sums;

static void
energy_batch(const mmx_exec *ex, int64_t first, int64_t nb, void *user)
{
    (void)first;
    energy_sums *es = user;
    energy_job j = {es->blocks, ex, es->g, es->e_in, es->e_out, 64};
    /* The pool returns what the ranges return: energy_range cannot fail. */
    (void)mmx__parallel_for(nb, 1, energy_range, &j);
    /* Summed in sample order: the same figures for any thread count. */
    for (guint k = 0; k < es->blocks->len; k++) {
        block *b = g_ptr_array_index(es->blocks, k);
        for (int64_t s = 0; s < nb; s++) {
            double in = es->e_in[k * 64 + s], out = es->e_out[k * 64 + s];
            b->sum_in += in;
            b->sum_out += out;
            b->decreased += out < in;
        }
    }
}

json_t *
mmx_analyze_energy(mmx_model *model, const mmx_dataset *ds, const mmx_norm_stats *stats,
                   int64_t limit, GError **error)
{
    g_return_val_if_fail(model != NULL && ds != NULL && stats != NULL, NULL);
    g_autoptr(GPtrArray) blocks = find_blocks(model, error);
    if (blocks == NULL)
        return NULL;
    int64_t total = mmx__analyze_image_count(model, ds, limit, error);
    if (total < 1)
        return NULL;
    g_autofree double *e_in = g_new(double, blocks->len * 64);
    g_autofree double *e_out = g_new(double, blocks->len * 64);
    energy_sums es = {blocks, mmx_model_graph(model), e_in, e_out};
    if (!mmx__analyze_images(model, ds, stats, total, energy_batch, &es, error))
        return NULL;
    json_t *list = json_array();
    for (guint k = 0; k < blocks->len; k++) {
        const block *b = g_ptr_array_index(blocks, k);
        json_t *names = json_array();
        for (guint m = 0; m < b->mixers->len; m++)
            json_array_append_new(names,
                                  json_string(((mixer *)g_ptr_array_index(b->mixers, m))->name));
        json_array_append_new(list,
                              json_pack("{s:s, s:o, s:f, s:f, s:f}", "block", b->name, "mixers",
                                        names, "mean_energy_in", b->sum_in / (double)total,
                                        "mean_energy_out", b->sum_out / (double)total, "decreased",
                                        (double)b->decreased / (double)total));
    }
    return json_pack("{s:s, s:I, s:o}", "data", mmx_dataset_name(ds), "inputs", (json_int_t)total,
                     "blocks", list);
}
