/* exec.c: models (parameter arenas, checkpoints) and executors (memory plan, forward,
 * backward).
 *
 * The plan. Steps are numbered: node i runs forward at step i and (training) backward at
 * step 2n-1-i; the loss sits between steps n-1 and n. Every buffer gets a lifetime
 * [first step, last step]:
 *   activation of a value   from its producer's forward to its producer's backward
 *                           (backward reads the forward's inputs and output), or in
 *                           inference to its last consumer's forward;
 *   gradient of a value     from its last consumer's backward (the first write) to its
 *                           producer's backward (the read);
 *   saved buffer of a node  from its forward to its backward.
 * Buffers are placed in one arena, largest first, each at the lowest offset free over its
 * lifetime (first fit). The workspace (one, the largest any node asks for) and the
 * scratch gradients used when a value feeds several nodes live for the whole step.
 *
 * Gradient accumulation: backward overwrites input gradients, so the first consumer to
 * run backward (the last in forward order) writes a value's gradient directly and every
 * other consumer writes to scratch, which is then added. Parameter gradients are added by
 * the kernels themselves, which is what makes tied parameters work.
 *
 * Fusion (fuse.c plans it; MMX_FUSE=0 turns it off): a producer node may run as its
 * bias-free twin while its consumer's node runs one fused pass instead of its kernel; and
 * values whose gradient is a residual add's output gradient share that buffer, one
 * planned buffer per group over the union of their lifetimes. The steps and lifetimes
 * above do not change.
 */
#include "fuse-private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmx/mmx-checkpoint.h>
#include <mmx/mmx-exec.h>

// clang-format off
G_DEFINE_QUARK(mmx-exec-error-quark, mmx_exec_error)
// clang-format on

enum { ALIGN_FLOATS = 16, ALIGN_BYTES = 64 };

/* ---- models ---- */

struct mmx_model {
    const mmx_graph *g;
    float *params, *grads;
    int64_t n_decay, n_trainable, n_total;
    int64_t *offset; /* per graph parameter, in floats */
};

static int64_t
align_floats(int64_t n)
{
    return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* FNV-1a, 64-bit: a stable hash of a parameter name for its initialization key. */
static uint64_t
name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static void *
aligned_zeroed(size_t bytes)
{
    size_t n = (bytes + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;
    void *p = aligned_alloc(ALIGN_BYTES, n ? n : ALIGN_BYTES);
    if (p)
        memset(p, 0, n ? n : ALIGN_BYTES);
    return p;
}

/* Lays out [decayed | not decayed | buffers] (offsets may be NULL). False when the sizes
 * overflow 64 bits. */
static bool
model_layout(const mmx_graph *graph, int64_t *offset, int64_t *n_decay, int64_t *n_trainable,
             int64_t *n_total)
{
    int np = mmx_graph_n_params(graph);
    int64_t at = 0;
    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < np; i++) {
            const mmx_graph_param *p = mmx_graph_get_param(graph, i);
            int cls = (p->flags & MMX_PARAM_BUFFER) ? 2 : (p->flags & MMX_PARAM_NO_DECAY) ? 1 : 0;
            if (cls != pass)
                continue;
            if (offset)
                offset[i] = at;
            if (__builtin_add_overflow(at, align_floats(mmx_shape_numel(&p->info.shape)), &at))
                return false;
        }
        if (pass == 0)
            *n_decay = at;
        else if (pass == 1)
            *n_trainable = at;
    }
    *n_total = at;
    return true;
}

size_t
mmx_memory_available(void)
{
    const char *cap = g_getenv("MMX_MAX_MEMORY");
    if (cap && *cap)
        return (size_t)g_ascii_strtoull(cap, NULL, 10);
    g_autofree char *text = NULL;
    if (g_file_get_contents("/proc/meminfo", &text, NULL, NULL)) {
        const char *line = strstr(text, "MemAvailable:");
        if (line)
            return (size_t)g_ascii_strtoull(line + 13, NULL, 10) * 1024;
    }
    return SIZE_MAX;
}

size_t
mmx_model_estimate(const mmx_graph *graph, int optim_states)
{
    g_return_val_if_fail(graph != NULL && optim_states >= 0, 0);
    int64_t n_decay, n_trainable, n_total;
    if (!model_layout(graph, NULL, &n_decay, &n_trainable, &n_total))
        return SIZE_MAX;
    /* Floats: every parameter and buffer, a gradient per trainable one, and the
     * optimizer's state vectors. Sizes past 2^62 floats are "does not fit" anyway. */
    double floats = (double)n_total + (double)n_trainable * (1.0 + optim_states);
    if (floats * sizeof(float) >= 0x1p62)
        return SIZE_MAX;
    return (size_t)floats * sizeof(float);
}

static char *
gigabytes(size_t bytes)
{
    return bytes == SIZE_MAX ? g_strdup("more than 2^62 bytes")
                             : g_strdup_printf("%.2f GB", (double)bytes / 1e9);
}

bool
mmx_memory_check(const char *what, size_t needed, const char *detail, GError **error)
{
    size_t avail = mmx_memory_available();
    if (needed <= avail)
        return true;
    g_autofree char *need = gigabytes(needed);
    const char *cap = g_getenv("MMX_MAX_MEMORY");
    g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_MEMORY,
                "%s needs %s%s%s%s, but only %.2f GB are available (%s); nothing was allocated: "
                "reduce the batch or the model",
                what, need, detail ? " (" : "", detail ? detail : "", detail ? ")" : "",
                (double)avail / 1e9,
                cap && *cap
                    ? "MMX_MAX_MEMORY"
                    : "MemAvailable in /proc/meminfo; MMX_MAX_MEMORY=BYTES sets another limit");
    return false;
}

mmx_model *
mmx_model_new(const mmx_graph *graph, uint64_t seed, GError **error)
{
    g_return_val_if_fail(graph != NULL, NULL);
    int np = mmx_graph_n_params(graph);
    /* Refused before anything is allocated: a spec with huge dimensions must not take
     * the machine down (the parameters are initialized, so every page would be touched). */
    size_t need = mmx_model_estimate(graph, 0);
    g_autofree char *count =
        g_strdup_printf("%" G_GINT64_FORMAT " parameters and buffer elements with "
                        "their gradients",
                        mmx_graph_param_count(graph) + mmx_graph_buffer_count(graph));
    if (!mmx_memory_check("the model", need, count, error))
        return NULL;
    g_autoptr(mmx_model) m = g_new0(mmx_model, 1);
    m->g = graph;
    m->offset = g_new0(int64_t, np ? np : 1);
    model_layout(graph, m->offset, &m->n_decay, &m->n_trainable, &m->n_total);
    m->params = aligned_zeroed((size_t)m->n_total * sizeof(float));
    m->grads = aligned_zeroed((size_t)m->n_trainable * sizeof(float));
    if (m->params == NULL || m->grads == NULL) {
        g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_MEMORY,
                    "cannot allocate %.1f MB for the model's %" G_GINT64_FORMAT " parameters",
                    (double)m->n_total * 8 / 1e6, m->n_total);
        return NULL;
    }
    for (int i = 0; i < np; i++) {
        const mmx_graph_param *p = mmx_graph_get_param(graph, i);
        mmx_param_init(&p->info, m->params + m->offset[i], mmx_rng_key(seed, name_hash(p->name), 0));
    }
    return g_steal_pointer(&m);
}

void
mmx_model_free(mmx_model *m)
{
    if (m == NULL)
        return;
    free(m->params);
    free(m->grads);
    g_free(m->offset);
    g_free(m);
}

const mmx_graph *
mmx_model_graph(const mmx_model *m)
{
    return m->g;
}

float *
mmx_model_params(mmx_model *m)
{
    return m->params;
}

float *
mmx_model_grads(mmx_model *m)
{
    return m->grads;
}

int64_t
mmx_model_n_trainable(const mmx_model *m)
{
    return m->n_trainable;
}

int64_t
mmx_model_n_decay(const mmx_model *m)
{
    return m->n_decay;
}

int64_t
mmx_model_n_total(const mmx_model *m)
{
    return m->n_total;
}

float *
mmx_model_param(mmx_model *m, int param)
{
    return m->params + m->offset[param];
}

float *
mmx_model_grad(mmx_model *m, int param)
{
    return m->offset[param] < m->n_trainable ? m->grads + m->offset[param] : NULL;
}

static mmx_st_tensor
param_tensor(mmx_model *m, int i, const char *name, const float *data)
{
    const mmx_graph_param *p = mmx_graph_get_param(m->g, i);
    mmx_st_tensor t = {.name = name, .rank = p->info.shape.rank, .data = data};
    for (int d = 0; d < t.rank; d++)
        t.dims[d] = p->info.shape.dim[d];
    return t;
}

bool
mmx_model_save(mmx_model *m, const char *path, mmx_optim *optim, json_t *metadata,
               GError **error)
{
    int np = mmx_graph_n_params(m->g);
    g_autoptr(GArray) tensors = g_array_new(FALSE, FALSE, sizeof(mmx_st_tensor));
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; i < np; i++) {
        mmx_st_tensor t = param_tensor(m, i, mmx_graph_get_param(m->g, i)->name, mmx_model_param(m, i));
        g_array_append_val(tensors, t);
    }
    for (int s = 0; optim && s < mmx_optim_n_states(optim); s++)
        for (int i = 0; i < np; i++) {
            if (m->offset[i] >= m->n_trainable)
                continue; /* buffers have no optimizer state */
            char *name = g_strdup_printf("optim.%s.%s", mmx_optim_state_name(optim, s),
                                         mmx_graph_get_param(m->g, i)->name);
            g_ptr_array_add(names, name);
            mmx_st_tensor t = param_tensor(m, i, name, mmx_optim_state(optim, s) + m->offset[i]);
            g_array_append_val(tensors, t);
        }
    json_t *meta = metadata ? json_deep_copy(metadata) : json_object();
    json_object_set_new(meta, "mmx_format", json_string("1"));
    if (optim) {
        g_autofree char *steps = g_strdup_printf("%" G_GINT64_FORMAT, mmx_optim_steps(optim));
        json_object_set_new(meta, "optim_steps", json_string(steps));
    }
    bool ok = mmx_safetensors_write(path, (mmx_st_tensor *)tensors->data, tensors->len, meta, error);
    json_decref(meta);
    return ok;
}

static char *
dims_text(int rank, const int64_t *dims)
{
    GString *s = g_string_new("[");
    for (int i = 0; i < rank; i++)
        g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", dims[i]);
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

/* Copies tensor `name` into dst after checking its shape; adds a line to problems if not. */
static void
load_one(const mmx_safetensors *st, const char *name, const mmx_shape *shape, float *dst,
         GString *problems, int *count)
{
    const mmx_st_tensor *t = mmx_safetensors_find(st, name);
    if (t == NULL) {
        if ((*count)++ < 8)
            g_string_append_printf(problems, "\n  tensor '%s' is missing", name);
        return;
    }
    bool same = t->rank == shape->rank;
    for (int d = 0; same && d < t->rank; d++)
        same = t->dims[d] == shape->dim[d];
    if (!same) {
        g_autofree char *want = dims_text(shape->rank, shape->dim);
        g_autofree char *got = dims_text(t->rank, t->dims);
        if ((*count)++ < 8)
            g_string_append_printf(problems, "\n  tensor '%s': the model expects %s, the file has %s",
                                   name, want, got);
        return;
    }
    memcpy(dst, t->data, (size_t)mmx_shape_numel(shape) * sizeof(float));
}

bool
mmx_model_load(mmx_model *m, const char *path, mmx_optim *optim, json_t **metadata,
               GError **error)
{
    g_autoptr(mmx_safetensors) st = mmx_safetensors_read(path, error);
    if (st == NULL)
        return false;
    int np = mmx_graph_n_params(m->g);
    g_autoptr(GString) problems = g_string_new(NULL);
    int count = 0;
    for (int i = 0; i < np; i++) {
        const mmx_graph_param *p = mmx_graph_get_param(m->g, i);
        load_one(st, p->name, &p->info.shape, mmx_model_param(m, i), problems, &count);
    }
    for (size_t i = 0; i < mmx_safetensors_count(st); i++) {
        const char *name = mmx_safetensors_tensor(st, i)->name;
        if (!g_str_has_prefix(name, "optim.") && mmx_graph_find_param(m->g, name) < 0 &&
            count++ < 8)
            g_string_append_printf(problems, "\n  tensor '%s' is not a parameter of this model", name);
    }
    if (optim && count == 0) {
        for (int s = 0; s < mmx_optim_n_states(optim); s++)
            for (int i = 0; i < np; i++) {
                if (m->offset[i] >= m->n_trainable)
                    continue;
                const mmx_graph_param *p = mmx_graph_get_param(m->g, i);
                g_autofree char *name = g_strdup_printf("optim.%s.%s", mmx_optim_state_name(optim, s), p->name);
                load_one(st, name, &p->info.shape, mmx_optim_state(optim, s) + m->offset[i], problems, &count);
            }
        const char *steps = mmx_safetensors_metadata(st, "optim_steps");
        if (steps)
            mmx_optim_set_steps(optim, g_ascii_strtoll(steps, NULL, 10));
        else if (count++ < 8)
            g_string_append(problems, "\n  no optimizer state (saved as weights only?)");
    }
    if (count > 0) {
        const char *spec = mmx_safetensors_metadata(st, "spec_name");
        g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_MISMATCH,
                    "%s does not fit this model%s%s%s (%d problem%s):%s%s", path,
                    spec ? " (it was saved from spec '" : "", spec ? spec : "", spec ? "')" : "",
                    count, count == 1 ? "" : "s", problems->str, count > 8 ? "\n  ..." : "");
        return false;
    }
    if (metadata)
        *metadata = json_deep_copy(mmx_safetensors_metadata_all(st));
    return true;
}

/* ---- the plan ---- */

typedef struct planned {
    size_t bytes;
    int start, end; /* steps, inclusive */
    size_t offset;
} planned;

typedef struct plan {
    GArray *bufs;      /* planned */
    int *act, *grad;   /* per value: index in bufs, -1 none */
    int *saved;        /* per node */
    size_t workspace;  /* bytes, shared */
    size_t max_value;  /* bytes of the largest value (scratch gradient size) */
    size_t total;      /* arena bytes */
    bool overflow;
} plan;

static void
plan_clear(plan *p)
{
    if (p->bufs)
        g_array_unref(p->bufs);
    g_free(p->act);
    g_free(p->grad);
    g_free(p->saved);
}

static size_t
round_up(size_t n)
{
    return (n + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;
}

static int
add_buf(plan *p, size_t bytes, int start, int end)
{
    planned b = {round_up(bytes), start, end, 0};
    g_array_append_val(p->bufs, b);
    return (int)p->bufs->len - 1;
}

static int
cmp_by_size_desc(const void *a, const void *b, void *user)
{
    const planned *bufs = user;
    const planned *x = &bufs[*(const int *)a], *y = &bufs[*(const int *)b];
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return *(const int *)a - *(const int *)b; /* stable: the plan is reproducible */
}

static int
cmp_offsets(const void *a, const void *b)
{
    const planned *x = *(planned *const *)a, *y = *(planned *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* First fit, largest first. */
static void
assign_offsets(plan *p)
{
    guint n = p->bufs->len;
    planned *bufs = (planned *)p->bufs->data;
    g_autofree int *order = g_new(int, n ? n : 1);
    for (guint i = 0; i < n; i++)
        order[i] = (int)i;
    g_qsort_with_data(order, (gint)n, sizeof(int), cmp_by_size_desc, bufs);
    g_autofree planned **live = g_new(planned *, n ? n : 1);
    size_t total = 0;
    for (guint k = 0; k < n; k++) {
        planned *b = &bufs[order[k]];
        guint nl = 0;
        for (guint j = 0; j < k; j++) {
            planned *o = &bufs[order[j]];
            if (o->start <= b->end && b->start <= o->end)
                live[nl++] = o;
        }
        qsort(live, nl, sizeof(planned *), cmp_offsets);
        size_t at = 0;
        for (guint j = 0; j < nl; j++) {
            if (live[j]->offset >= at + b->bytes)
                break;
            if (live[j]->offset + live[j]->bytes > at)
                at = live[j]->offset + live[j]->bytes;
        }
        b->offset = at;
        if (at + b->bytes > total)
            total = at + b->bytes;
    }
    p->total = total;
}

static bool
value_bytes(const mmx_graph *g, int v, int64_t batch, size_t *out)
{
    int64_t n = mmx_shape_numel(&mmx_graph_get_value(g, v)->shape);
    int64_t r;
    if (__builtin_mul_overflow(n, batch, &r) || __builtin_mul_overflow(r, (int64_t)sizeof(float), &r))
        return false;
    *out = (size_t)r;
    return true;
}

static bool
make_plan(const mmx_graph *g, int64_t batch, bool training, bool keep, const mmx__fuse_plan *fp,
          plan *p)
{
    memset(p, 0, sizeof *p);
    int n = mmx_graph_n_nodes(g), nv = mmx_graph_n_values(g);
    int last = training ? 2 * n - 1 : n - 1;
    p->bufs = g_array_new(FALSE, FALSE, sizeof(planned));
    p->act = g_new(int, nv);
    p->grad = g_new(int, nv);
    p->saved = g_new(int, n ? n : 1);
    /* Last forward consumer and first (in forward order) consumer of each value. */
    g_autofree int *max_c = g_new(int, nv), *min_c = g_new(int, nv);
    for (int v = 0; v < nv; v++) {
        max_c[v] = -1;
        min_c[v] = n;
        p->act[v] = p->grad[v] = -1;
    }
    for (int i = 0; i < n; i++) {
        const mmx_graph_node *nd = mmx_graph_get_node(g, i);
        for (int k = 0; k < nd->n_inputs; k++) {
            int v = nd->inputs[k];
            if (i > max_c[v])
                max_c[v] = i;
            if (i < min_c[v])
                min_c[v] = i;
        }
    }
    int out = mmx_graph_output(g), in = mmx_graph_input(g);
    /* Gradient lifetimes, merged over the values that share one buffer (the root's). */
    g_autofree int *gstart = g_new(int, nv), *gend = g_new(int, nv);
    for (int v = 0; v < nv; v++)
        gstart[v] = gend[v] = -1;
    for (int v = 0; training && v < nv; v++) {
        int prod = mmx_graph_get_value(g, v)->producer;
        if (v == in || prod < 0)
            continue;
        /* The loss writes the output's gradient between steps n-1 and n; any other
         * value's gradient is first written by its last consumer's backward. */
        int start = v == out ? n - 1 : (max_c[v] >= 0 ? 2 * n - 1 - max_c[v] : 2 * n - 1 - prod);
        int r = fp->grad_root[v];
        gstart[r] = gstart[r] < 0 ? start : MIN(gstart[r], start);
        gend[r] = MAX(gend[r], 2 * n - 1 - prod);
    }
    for (int v = 0; v < nv; v++) {
        size_t bytes;
        if (!value_bytes(g, v, batch, &bytes)) {
            p->overflow = true;
            return false;
        }
        if (bytes > p->max_value)
            p->max_value = bytes;
        int prod = mmx_graph_get_value(g, v)->producer;
        int start = prod < 0 ? 0 : prod, end;
        if (training)
            end = prod >= 0 ? 2 * n - 1 - prod : (min_c[v] < n ? 2 * n - 1 - min_c[v] : start);
        else
            end = v == out || keep ? last : (max_c[v] >= 0 ? max_c[v] : start);
        if (v == out && end < last && !training)
            end = last;
        p->act[v] = add_buf(p, bytes, start, end);
        if (gstart[v] >= 0) /* a root: the values sharing it have its shape */
            p->grad[v] = add_buf(p, bytes, gstart[v], gend[v]);
    }
    for (int v = 0; training && v < nv; v++)
        if (v != in && mmx_graph_get_value(g, v)->producer >= 0)
            p->grad[v] = p->grad[fp->grad_root[v]];
    for (int i = 0; i < n; i++) {
        const mmx_graph_node *nd = mmx_graph_get_node(g, i);
        mmx_buffer_sizes sz;
        mmx_op_instance_buffer_sizes(nd->inst, batch, &sz);
        if (sz.workspace > p->workspace)
            p->workspace = sz.workspace;
        p->saved[i] = sz.saved ? add_buf(p, sz.saved, i, training ? 2 * n - 1 - i : i) : -1;
    }
    p->workspace = MAX(p->workspace, mmx__fuse_workspace(fp, g, batch));
    if (p->workspace)
        add_buf(p, p->workspace, 0, last);
    if (training)
        add_buf(p, MMX_MAX_INPUTS * p->max_value, 0, last); /* scratch gradients */
    assign_offsets(p);
    return true;
}

size_t
mmx_exec_estimate(const mmx_graph *g, int64_t batch, bool training)
{
    g_autoptr(mmx__fuse_plan) fp = mmx__fuse_plan_new(g, training, mmx_fusion_default());
    plan p;
    bool ok = make_plan(g, batch, training, false, fp, &p);
    size_t total = ok ? p.total : 0;
    plan_clear(&p);
    return total;
}

/* ---- executors ---- */

struct mmx_exec {
    mmx_model *m;
    const mmx_graph *g;
    int64_t batch;
    bool training;
    char *arena;
    size_t arena_bytes;
    float **act, **grad; /* per value */
    void **saved;        /* per node */
    void *workspace, *scratch;
    size_t max_value;
    bool *ready;          /* per value: its gradient has been written in this backward */
    const float **in_ptr; /* per node, MMX_MAX_INPUTS each */
    float **param_ptr, **gparam_ptr; /* per node, MMX_MAX_PARAMS each */
    uint64_t key;
    bool profile; /* MMX_PROFILE: time every kernel call (profile.c) */
    mmx__fuse_plan *fp;
};

void
mmx_exec_free(mmx_exec *ex)
{
    if (ex == NULL)
        return;
    free(ex->arena);
    g_free(ex->act);
    g_free(ex->grad);
    g_free(ex->saved);
    g_free(ex->ready);
    g_free(ex->in_ptr);
    g_free(ex->param_ptr);
    g_free(ex->gparam_ptr);
    mmx__fuse_plan_free(ex->fp);
    g_free(ex);
}

mmx_exec *
mmx_exec_new(mmx_model *m, int64_t batch, bool training, GError **error)
{
    return mmx_exec_new_full(m, batch, training, mmx_fusion_default(), error);
}

static mmx_exec *exec_new(mmx_model *m, int64_t batch, bool training, bool fuse, bool keep,
                          GError **error);

mmx_exec *
mmx_exec_new_full(mmx_model *m, int64_t batch, bool training, bool fuse, GError **error)
{
    return exec_new(m, batch, training, fuse, false, error);
}

mmx_exec *
mmx__exec_new_keeping(mmx_model *m, int64_t batch, GError **error)
{
    return exec_new(m, batch, false, false, true, error);
}

const float *
mmx__exec_value(const mmx_exec *ex, int value)
{
    g_return_val_if_fail(ex != NULL && value >= 0 && value < mmx_graph_n_values(ex->g), NULL);
    return ex->act[value];
}

static mmx_exec *
exec_new(mmx_model *m, int64_t batch, bool training, bool fuse, bool keep, GError **error)
{
    g_return_val_if_fail(m != NULL && batch > 0, NULL);
    const mmx_graph *g = m->g;
    g_autoptr(mmx__fuse_plan) fp = mmx__fuse_plan_new(g, training, fuse);
    plan p;
    if (!make_plan(g, batch, training, keep, fp, &p)) {
        plan_clear(&p);
        g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_MEMORY,
                    "the activations of this model at batch %" G_GINT64_FORMAT
                    " do not even fit in 64-bit sizes; reduce the batch or the model",
                    batch);
        return NULL;
    }
    size_t avail = mmx_memory_available();
    if (p.total > avail) {
        g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_MEMORY,
                    "%s at batch %" G_GINT64_FORMAT " needs %.2f GB of activation memory, but "
                    "only %.2f GB are available; reduce the batch or the model",
                    training ? "training" : "inference", batch, (double)p.total / 1e9,
                    (double)avail / 1e9);
        plan_clear(&p);
        return NULL;
    }
    g_autoptr(mmx_exec) ex = g_new0(mmx_exec, 1);
    ex->m = m;
    ex->g = g;
    ex->batch = batch;
    ex->training = training;
    ex->arena_bytes = p.total;
    ex->arena = aligned_zeroed(p.total);
    if (ex->arena == NULL) {
        g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_MEMORY,
                    "cannot allocate %.2f GB for the activations at batch %" G_GINT64_FORMAT,
                    (double)p.total / 1e9, batch);
        plan_clear(&p);
        return NULL;
    }
    int n = mmx_graph_n_nodes(g), nv = mmx_graph_n_values(g);
    const planned *bufs = (const planned *)p.bufs->data;
    ex->act = g_new0(float *, nv);
    ex->grad = g_new0(float *, nv);
    ex->ready = g_new0(bool, nv);
    for (int v = 0; v < nv; v++) {
        ex->act[v] = (float *)(ex->arena + bufs[p.act[v]].offset);
        if (p.grad[v] >= 0)
            ex->grad[v] = (float *)(ex->arena + bufs[p.grad[v]].offset);
    }
    ex->saved = g_new0(void *, n ? n : 1);
    for (int i = 0; i < n; i++)
        if (p.saved[i] >= 0)
            ex->saved[i] = ex->arena + bufs[p.saved[i]].offset;
    guint b = p.bufs->len;
    if (training) {
        ex->scratch = ex->arena + bufs[b - 1].offset;
        b--;
    }
    if (p.workspace)
        ex->workspace = ex->arena + bufs[b - 1].offset;
    ex->max_value = p.max_value;
    ex->profile = mmx__profile_on();
    ex->fp = g_steal_pointer(&fp);
    if (ex->profile) {
        g_autofree char *summary = mmx__fuse_summary(ex->fp);
        mmx__profile_fusions(training, summary);
    }
    plan_clear(&p);
    /* Pointers each kernel call needs, fixed for the life of the executor. */
    ex->in_ptr = g_new0(const float *, (size_t)(n ? n : 1) * MMX_MAX_INPUTS);
    ex->param_ptr = g_new0(float *, (size_t)(n ? n : 1) * MMX_MAX_PARAMS);
    ex->gparam_ptr = g_new0(float *, (size_t)(n ? n : 1) * MMX_MAX_PARAMS);
    for (int i = 0; i < n; i++) {
        const mmx_graph_node *nd = mmx_graph_get_node(g, i);
        for (int k = 0; k < nd->n_inputs; k++)
            ex->in_ptr[i * MMX_MAX_INPUTS + k] = ex->act[nd->inputs[k]];
        for (int j = 0; j < MMX_MAX_PARAMS; j++)
            if (nd->params[j] >= 0) {
                ex->param_ptr[i * MMX_MAX_PARAMS + j] = mmx_model_param(m, nd->params[j]);
                ex->gparam_ptr[i * MMX_MAX_PARAMS + j] = mmx_model_grad(m, nd->params[j]);
            }
    }
    return g_steal_pointer(&ex);
}

size_t
mmx_exec_arena_bytes(const mmx_exec *ex)
{
    return ex->arena_bytes;
}

int64_t
mmx_exec_batch(const mmx_exec *ex)
{
    return ex->batch;
}

float *
mmx_exec_input(mmx_exec *ex)
{
    return ex->act[mmx_graph_input(ex->g)];
}

const float *
mmx_exec_output(const mmx_exec *ex)
{
    return ex->act[mmx_graph_output(ex->g)];
}

float *
mmx_exec_output_grad(mmx_exec *ex)
{
    return ex->grad[mmx_graph_output(ex->g)];
}

static bool
check_batch(const mmx_exec *ex, int64_t batch, GError **error)
{
    if (batch < 1 || batch > ex->batch) {
        g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_KERNEL,
                    "batch %" G_GINT64_FORMAT " outside the planned 1..%" G_GINT64_FORMAT, batch,
                    ex->batch);
        return false;
    }
    return true;
}

/* What a fused pass of node i reads and writes (fuse-private.h); the gradient fields are
 * filled by the backward. */
static mmx__fuse_io
fuse_io(const mmx_exec *ex, int i, int64_t batch)
{
    const mmx_graph_node *nd = mmx_graph_get_node(ex->g, i);
    const mmx__fuse_node *fn = &ex->fp->nodes[i];
    int p = fn->producer, b = ex->fp->nodes[p].bias_param;
    return (mmx__fuse_io){
        .batch = batch,
        .training = ex->training,
        .rng_key = mmx_rng_key(ex->key, (uint64_t)i, 0),
        .src = ex->act[mmx_graph_get_node(ex->g, p)->output],
        .bias = ex->param_ptr[p * MMX_MAX_PARAMS + b],
        .other = fn->role == MMX__FUSE_BIAS_ADD ? ex->act[nd->inputs[1 - fn->src_input]] : NULL,
        .out = ex->act[nd->output],
        .workspace = ex->workspace,
    };
}

/* The instance node i runs (its bias-free twin when the consumer adds the bias), and its
 * parameter pointers into param (gparam: the gradients), the bias NULL for the twin. */
static mmx_op_instance *
node_instance(const mmx_exec *ex, int i, bool backward, float **param, float **gparam)
{
    const mmx__fuse_node *fn = &ex->fp->nodes[i];
    bool twin = fn->role == MMX__FUSE_PRODUCER && (!backward || fn->twin_backward);
    memcpy(param, ex->param_ptr + i * MMX_MAX_PARAMS, sizeof(float *) * MMX_MAX_PARAMS);
    memcpy(gparam, ex->gparam_ptr + i * MMX_MAX_PARAMS, sizeof(float *) * MMX_MAX_PARAMS);
    if (twin)
        param[fn->bias_param] = gparam[fn->bias_param] = NULL;
    return twin ? fn->twin : mmx_graph_get_node(ex->g, i)->inst;
}

static bool
fused(const mmx_exec *ex, int i)
{
    mmx__fuse_role r = ex->fp->nodes[i].role;
    return r == MMX__FUSE_BIAS_ACT || r == MMX__FUSE_BIAS_ADD;
}

static void
profile_fused(const mmx_exec *ex, int i, int64_t batch, bool backward, int64_t ns)
{
    const mmx__fuse_node *fn = &ex->fp->nodes[i];
    const mmx_graph_node *nd = mmx_graph_get_node(ex->g, i);
    g_autofree char *key =
        fn->role == MMX__FUSE_BIAS_ADD
            ? g_strdup("fused bias+residual add (host)")
            : g_strdup_printf("fused bias+%s (%s)", mmx_op_name(nd->op),
                              mmx_op_instance_kernel(fn->twin)->name);
    mmx__profile_fused(nd, key, batch, backward, ns);
}

bool
mmx_exec_forward(mmx_exec *ex, int64_t batch, uint64_t key, GError **error)
{
    if (!check_batch(ex, batch, error))
        return false;
    ex->key = key;
    int n = mmx_graph_n_nodes(ex->g);
    for (int i = 0; i < n; i++) {
        const mmx_graph_node *nd = mmx_graph_get_node(ex->g, i);
        GError *e = NULL;
        int64_t t0 = ex->profile ? mmx__profile_now() : 0;
        if (fused(ex, i)) {
            mmx__fuse_io io = fuse_io(ex, i, batch);
            if (!mmx__fuse_forward(ex->fp, ex->g, i, &io, &e)) {
                g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_KERNEL, "forward: %s",
                            e->message);
                g_error_free(e);
                return false;
            }
            if (ex->profile)
                profile_fused(ex, i, batch, false, mmx__profile_now() - t0);
            continue;
        }
        float *param[MMX_MAX_PARAMS], *gparam[MMX_MAX_PARAMS];
        mmx_op_instance *inst = node_instance(ex, i, false, param, gparam);
        mmx_kernel_args a = {
            .batch = batch,
            .training = ex->training,
            .rng_key = mmx_rng_key(key, (uint64_t)i, 0),
            .in = ex->in_ptr + i * MMX_MAX_INPUTS,
            .out = ex->act[nd->output],
            .param = param,
            .workspace = ex->workspace,
            .saved = ex->saved[i],
        };
        if (!mmx_op_instance_forward(inst, &a, &e)) {
            g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_KERNEL, "forward: %s", e->message);
            g_error_free(e);
            return false;
        }
        if (ex->profile)
            mmx__profile_node(nd, batch, false, mmx__profile_now() - t0);
    }
    return true;
}

typedef struct add_job {
    float *dst;
    const float *src;
} add_job;

static int
add_range(void *arg, int64_t begin, int64_t end)
{
    const add_job *j = arg;
    for (int64_t i = begin; i < end; i++)
        j->dst[i] += j->src[i];
    return MMX_OK;
}

static int
copy_range(void *arg, int64_t begin, int64_t end)
{
    const add_job *j = arg;
    memcpy(j->dst + begin, j->src + begin, (size_t)(end - begin) * sizeof(float));
    return MMX_OK;
}

/* A residual add's backward when an input's gradient shares the output's buffer: the
 * other input, if it needs one, gets the copy the add's kernel would have made. */
static void
residual_backward(const mmx_kernel_args *a, int64_t len)
{
    for (int k = 0; k < 2; k++)
        if (a->grad_in[k] && a->grad_in[k] != a->grad_out) {
            add_job j = {a->grad_in[k], a->grad_out};
            mmx__parallel_for(len, 1 << 15, copy_range, &j);
        }
}

/* Runs node i's backward (its kernel, or its fused pass) with input gradients gin. */
static bool
node_backward(mmx_exec *ex, int i, int64_t batch, float **gin, GError **error)
{
    const mmx_graph_node *nd = mmx_graph_get_node(ex->g, i);
    const mmx__fuse_node *fn = &ex->fp->nodes[i];
    GError *e = NULL;
    bool ok;
    if (fn->role == MMX__FUSE_BIAS_ACT) {
        const mmx__fuse_node *pn = &ex->fp->nodes[fn->producer];
        mmx__fuse_io io = fuse_io(ex, i, batch);
        io.grad_out = ex->grad[nd->output];
        io.grad_src = gin[0];
        io.grad_bias = pn->twin_backward
                           ? ex->gparam_ptr[fn->producer * MMX_MAX_PARAMS + pn->bias_param]
                           : NULL;
        ok = mmx__fuse_backward(ex->fp, ex->g, i, &io, &e);
    } else {
        float *param[MMX_MAX_PARAMS], *gparam[MMX_MAX_PARAMS];
        mmx_op_instance *inst = node_instance(ex, i, true, param, gparam);
        mmx_kernel_args a = {
            .batch = batch,
            .training = 1,
            .rng_key = mmx_rng_key(ex->key, (uint64_t)i, 0),
            .in = ex->in_ptr + i * MMX_MAX_INPUTS,
            .out = ex->act[nd->output],
            .param = param,
            .workspace = ex->workspace,
            .saved = ex->saved[i],
            .grad_out = ex->grad[nd->output],
            .grad_in = gin,
            .grad_param = gparam,
        };
        ok = true;
        if (fn->shared)
            residual_backward(
                &a, batch * mmx_shape_numel(&mmx_graph_get_value(ex->g, nd->output)->shape));
        else
            ok = mmx_op_instance_backward(inst, &a, &e);
    }
    if (!ok) {
        g_set_error(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_KERNEL, "backward: %s", e->message);
        g_error_free(e);
    }
    return ok;
}

bool
mmx_exec_backward(mmx_exec *ex, int64_t batch, GError **error)
{
    g_return_val_if_fail(ex->training, false);
    if (!check_batch(ex, batch, error))
        return false;
    const mmx_graph *g = ex->g;
    int n = mmx_graph_n_nodes(g), nv = mmx_graph_n_values(g);
    int in = mmx_graph_input(g), out = mmx_graph_output(g);
    int64_t t0 = ex->profile ? mmx__profile_now() : 0;
    memset(ex->m->grads, 0, (size_t)ex->m->n_trainable * sizeof(float));
    memset(ex->ready, 0, (size_t)nv * sizeof(bool));
    if (ex->profile)
        mmx__profile_other("executor: zero the gradients", mmx__profile_now() - t0);
    ex->ready[out] = true;
    for (int i = n - 1; i >= 0; i--) {
        const mmx_graph_node *nd = mmx_graph_get_node(g, i);
        int64_t out_floats = batch * mmx_shape_numel(&mmx_graph_get_value(g, nd->output)->shape);
        if (!ex->ready[nd->output]) { /* the value reaches no loss: its gradient is zero */
            memset(ex->grad[nd->output], 0, (size_t)out_floats * sizeof(float));
            ex->ready[nd->output] = true;
        }
        float *gin[MMX_MAX_INPUTS] = {0};
        bool add_after[MMX_MAX_INPUTS] = {0};
        for (int k = 0; k < nd->n_inputs; k++) {
            int v = nd->inputs[k];
            if (v == in)
                continue; /* nobody needs the gradient of the images */
            bool claimed = false;
            for (int j = 0; j < k; j++)
                claimed |= nd->inputs[j] == v && !add_after[j];
            if (!ex->ready[v] && !claimed) {
                gin[k] = ex->grad[v];
            } else {
                gin[k] = (float *)((char *)ex->scratch + (size_t)k * ex->max_value);
                add_after[k] = true;
            }
        }
        t0 = ex->profile ? mmx__profile_now() : 0;
        if (!node_backward(ex, i, batch, gin, error))
            return false;
        if (ex->profile) {
            int64_t t1 = mmx__profile_now();
            if (ex->fp->nodes[i].role == MMX__FUSE_BIAS_ACT)
                profile_fused(ex, i, batch, true, t1 - t0);
            else
                mmx__profile_node(nd, batch, true, t1 - t0);
            t0 = t1;
        }
        for (int k = 0; k < nd->n_inputs; k++) {
            int v = nd->inputs[k];
            if (gin[k] == NULL)
                continue;
            if (add_after[k]) {
                add_job j = {ex->grad[v], gin[k]};
                int64_t len = batch * mmx_shape_numel(&mmx_graph_get_value(g, v)->shape);
                mmx__parallel_for(len, 1 << 15, add_range, &j);
            }
            ex->ready[v] = true;
        }
        if (ex->profile)
            mmx__profile_other("executor: sum the gradients of shared values",
                               mmx__profile_now() - t0);
    }
    return true;
}

int
mmx_exec_n_fusions(const mmx_exec *ex)
{
    g_return_val_if_fail(ex != NULL, 0);
    return (int)ex->fp->fusions->len;
}

const mmx_fusion *
mmx_exec_get_fusion(const mmx_exec *ex, int i)
{
    g_return_val_if_fail(ex != NULL, NULL);
    if (i < 0 || i >= (int)ex->fp->fusions->len)
        return NULL;
    return &g_array_index(ex->fp->fusions, mmx_fusion, i);
}
