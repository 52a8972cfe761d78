/* graph.c: a validated spec expanded into a graph of op nodes, with shapes inferred
 * node by node.
 *
 * The walk follows the resolved document in execution order: stem, stages (downsample,
 * then blocks repeated depth times) or blocks (body repeated), head. A block is
 *
 *     n = norm(h)
 *     y = mixer(n)                 or the sum of the mixers of "parallel", all on n
 *     y = layer_scale(y); y = drop_path(y)
 *     out = h + y                  unless "residual": false
 *
 * and a mixer is the MetaMixer skeleton: q = query(x), s = key(q; x), a = activation(s),
 * v = value(a; x) (times gate(x) when there is a gate), y = output(v), each slot a chain
 * of ops (an absent slot is the identity). An op whose second input has role MEMORY gets
 * the mixer's input x there. The structural ops (add, mul, layer_scale, drop_path) are
 * ordinary nodes of the shipped tensor plugin.
 *
 * Shapes come from each op's own inference through mmx_op_instance_new; a refusal is
 * reported at the op in the spec with the node's input shapes, and the walk goes on with
 * the block's input shape where a residual keeps it, so one pass reports the mistakes
 * of several blocks (once per place in the spec, not once per repetition). Ties are
 * resolved last, when every node and parameter shape is known.
 */
#include "spec-private.h"

#include <inttypes.h>
#include <string.h>

typedef struct gnode {
    mmx_graph_node pub;
    json_t *obj; /* the op object in the resolved spec (a reference), NULL: structural */
    char *rptr;  /* resolved pointer of the op object, or of the block for structural nodes */
    char *mixer; /* name of the enclosing mixer ("blocks.3.mixer"), for relative ties */
} gnode;

struct mmx_graph {
    GPtrArray *nodes; /* gnode */
    GArray *values;   /* mmx_graph_value */
    GArray *params;   /* mmx_graph_param */
    GStringChunk *strings;
    GHashTable *node_index;  /* name -> index + 1 */
    GHashTable *param_index; /* name -> index + 1 */
    int input, output;
};

typedef struct build {
    const mmx_spec *spec;
    mmx_diags *diags;
    mmx_graph *g;
    mmx_registry *reg;
    bool ok;
    bool full;          /* the graph reached MMX_GRAPH_MAX_NODES: the walk stops */
    GHashTable *failed; /* resolved pointers that already had a shape error */
} build;


static void
gnode_free(gpointer data)
{
    gnode *n = data;
    mmx_op_instance_free(n->pub.inst);
    json_decref(n->obj);
    g_free(n->rptr);
    g_free(n->mixer);
    g_free(n);
}

void
mmx_graph_free(mmx_graph *graph)
{
    if (graph == NULL)
        return;
    g_ptr_array_unref(graph->nodes);
    g_array_unref(graph->values);
    g_array_unref(graph->params);
    g_string_chunk_free(graph->strings);
    g_hash_table_unref(graph->node_index);
    g_hash_table_unref(graph->param_index);
    g_free(graph);
}

static void gerr(build *b, const char *rptr, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
gerr(build *b, const char *rptr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    mmx__spec_report(b->spec, b->diags, rptr, false, "%s", msg);
    b->ok = false;
}

/* Is there room for one more node? A spec may say "repeat": 100000; a graph that size
 * is a mistake (or an attack), not a model, and would take minutes and gigabytes. */
static bool
room(build *b, const char *rptr)
{
    if (b->g->nodes->len < MMX_GRAPH_MAX_NODES)
        return true;
    if (!b->full)
        gerr(b, rptr,
             "the model grows past %d nodes here; a graph that large is not supported "
             "(check \"repeat\" and \"depth\")",
             MMX_GRAPH_MAX_NODES);
    b->full = true;
    return false;
}

static int
add_value(mmx_graph *g, mmx_shape shape, int producer)
{
    mmx_graph_value v = {.shape = shape, .producer = producer, .n_consumers = 0};
    g_array_append_val(g->values, v);
    return (int)g->values->len - 1;
}

static const mmx_shape *
shape_of(build *b, int value)
{
    return &g_array_index(b->g->values, mmx_graph_value, value).shape;
}

static char *
shapes_text(build *b, const int *inputs, int n)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < n; i++) {
        g_autofree char *t = mmx_shape_to_string(shape_of(b, inputs[i]));
        g_string_append_printf(s, "%s%s", i ? ", " : "", t);
    }
    return g_string_free(s, FALSE);
}

static void
ignore_attr_error(void *user, const char *key, const char *message)
{
    (void)user;
    (void)key;
    (void)message;
}

/* Binds op to its attributes (from obj, or defaults) and the shapes of inputs. */
static mmx_op_instance *
instance(build *b, const char *name, const mmx_op *op, json_t *obj, const int *inputs, int n_inputs,
         GError **error)
{
    const mmx_op_desc *d = mmx_op_get_desc(op);
    g_autofree mmx_attr_value *values = g_new0(mmx_attr_value, d->n_attrs + 1);
    if (obj)
        mmx_attrs_from_json(op, obj, mmx__op_meta_keys, values, ignore_attr_error, NULL);
    else
        mmx_attrs_default(op, values);
    mmx_shape shapes[MMX_MAX_INPUTS];
    for (int i = 0; i < n_inputs; i++)
        shapes[i] = *shape_of(b, inputs[i]);
    return mmx_op_instance_new(op, name, values, shapes, (size_t)n_inputs, error);
}

/* Reports an op's refusal at rptr with the input shapes, once per place in the spec. */
static void
refused(build *b, const char *rptr, const char *message, const int *inputs, int n_inputs)
{
    g_autofree char *in = shapes_text(b, inputs, n_inputs);
    gerr(b, rptr, "%s (input shape%s %s)", message, n_inputs > 1 ? "s" : "", in);
    g_hash_table_add(b->failed, g_strdup(rptr));
}

/* Appends the node of inst (taken); its output value. */
static int
commit(build *b, mmx_op_instance *inst, json_t *obj, const int *inputs, int n_inputs,
       const char *rptr, const char *mixer)
{
    mmx_graph *g = b->g;
    gnode *n = g_new0(gnode, 1);
    int index = (int)g->nodes->len;
    n->pub.name = g_string_chunk_insert(g->strings, mmx_op_instance_node(inst)->name);
    n->pub.op = mmx_op_instance_op(inst);
    n->pub.inst = inst;
    n->pub.n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) {
        n->pub.inputs[i] = inputs[i];
        g_array_index(g->values, mmx_graph_value, inputs[i]).n_consumers++;
    }
    for (int i = 0; i < MMX_MAX_PARAMS; i++)
        n->pub.params[i] = -1;
    g_autofree char *where = mmx_spec_where(b->spec, rptr);
    n->pub.where = g_string_chunk_insert(g->strings, where);
    n->obj = obj ? json_incref(obj) : NULL;
    n->rptr = g_strdup(rptr);
    n->mixer = g_strdup(mixer);
    n->pub.output = add_value(g, mmx_op_instance_node(inst)->output, index);
    g_ptr_array_add(g->nodes, n);
    g_hash_table_insert(g->node_index, (gpointer)n->pub.name, GINT_TO_POINTER(index + 1));
    return n->pub.output;
}

/* Adds one node; its output value, or -1 after reporting. obj: the op object (a new
 * reference is taken), or NULL for the op's defaults. */
static int
add_node(build *b, const char *name, const mmx_op *op, json_t *obj, const int *inputs, int n_inputs,
         const char *rptr, const char *mixer)
{
    if (g_hash_table_contains(b->failed, rptr) || !room(b, rptr))
        return -1; /* reported once for this place in the spec */
    g_autoptr(GError) error = NULL;
    mmx_op_instance *inst = instance(b, name, op, obj, inputs, n_inputs, &error);
    if (inst == NULL) {
        refused(b, rptr, error->message, inputs, n_inputs);
        return -1;
    }
    return commit(b, inst, obj, inputs, n_inputs, rptr, mixer);
}

/* A structural node (tensor plugin): attrs as JSON (a new reference is stolen). */
static int
add_structural(build *b, const char *name, const char *op_name, json_t *attrs, const int *inputs,
               int n_inputs, const char *rptr, const char *role)
{
    const mmx_op *op = mmx_registry_find_op(b->reg, op_name);
    if (op == NULL) {
        gerr(b, rptr,
             "the %s needs op '%s' from the shipped plugin 'tensor', which is not "
             "loaded ('mmx plugins' lists the plugins found and their load errors)",
             role, op_name);
        json_decref(attrs);
        return -1;
    }
    if (attrs) {
        /* Values the spec checked as a block key, checked again as attributes here. */
        const mmx_op_desc *d = mmx_op_get_desc(op);
        g_autofree mmx_attr_value *values = g_new0(mmx_attr_value, d->n_attrs + 1);
        if (!mmx_attrs_from_json(op, attrs, NULL, values, ignore_attr_error, NULL)) {
            g_autofree char *text = json_dumps(attrs, JSON_COMPACT);
            gerr(b, rptr, "the %s: op '%s' refuses the attributes %s", role, op_name, text);
            json_decref(attrs);
            return -1;
        }
    }
    int out = add_node(b, name, op, attrs, inputs, n_inputs, rptr, NULL);
    if (attrs) {
        /* The node keeps no op object for structural ops: ties never target them. */
        gnode *n = out >= 0 ? b->g->nodes->pdata[b->g->nodes->len - 1] : NULL;
        if (n) {
            json_decref(n->obj);
            n->obj = NULL;
        }
        json_decref(attrs);
    }
    return out;
}

/* One op of a chain: its input, and the mixer input x as memory when it reads one. */
static int
add_op(build *b, json_t *obj, const char *rptr, const char *name, int in, int memory,
       const char *mixer, const char *axis)
{
    const mmx_op *op = mmx__spec_op(b->spec, obj);
    const mmx_op_desc *d = mmx_op_get_desc(op);
    bool reads_memory =
        d->max_inputs >= 2 && d->input_roles && d->input_roles[1] == MMX_INPUT_MEMORY;
    if (reads_memory && memory < 0) {
        gerr(b, rptr,
             "op '%s' reads the mixer's input x as its memory (its input 2): it works "
             "only in a mixer slot",
             d->name);
        return -1;
    }
    if (d->min_inputs > (reads_memory ? 2u : 1u)) {
        gerr(b, rptr,
             "op '%s' takes %u inputs; an op in a chain gets one, the previous op's "
             "output (and the mixer's input x when its second input is a memory)",
             d->name, d->min_inputs);
        return -1;
    }
    json_t *use = json_incref(obj);
    /* The mixer's axis is the default of the key and value ops' "axis" attribute. */
    int ai = axis ? mmx_op_attr_index(op, "axis") : -1;
    if (ai >= 0 && json_object_get(obj, "axis") == NULL) {
        const mmx_attr_desc *a = d->attrs[ai];
        if (a->type == MMX_ATTR_STRING && a->choices && g_strv_contains(a->choices, axis)) {
            json_decref(use);
            use = json_copy(obj);
            json_object_set_new(use, "axis", json_string(axis));
        }
    }
    int inputs[2] = {in, memory};
    int out;
    if (reads_memory && d->min_inputs < 2 && !g_hash_table_contains(b->failed, rptr) &&
        room(b, rptr)) {
        /* An optional memory (sgu reads x only with its tiny attention): the op gets x
         * when it does not work without it, so the graph has no edge the op ignores. */
        g_autoptr(GError) alone = NULL, with = NULL;
        mmx_op_instance *inst = instance(b, name, op, use, inputs, 1, &alone);
        if (inst) {
            out = commit(b, inst, use, inputs, 1, rptr, mixer);
        } else if ((inst = instance(b, name, op, use, inputs, 2, &with)) != NULL) {
            out = commit(b, inst, use, inputs, 2, rptr, mixer);
        } else {
            /* Both refusals, unless they say the same thing. */
            bool same = strcmp(alone->message, with->message) == 0;
            g_autofree char *both =
                same ? g_strdup(alone->message)
                     : g_strdup_printf("%s; and with the mixer's input x as its memory: %s",
                                       alone->message, with->message);
            refused(b, rptr, both, inputs, same ? 1 : 2);
            out = -1;
        }
    } else {
        out = add_node(b, name, op, use, inputs, reads_memory ? 2 : 1, rptr, mixer);
    }
    json_decref(use);
    return out;
}

/* A chain: an op, or a list of ops applied in order. Slot lists name their ops base,
 * base.1, base.2...; section lists (indexed) name them base.0, base.1... */
static int
chain(build *b, json_t *slot, const char *rptr, const char *base, bool indexed, int in, int memory,
      const char *mixer, const char *axis)
{
    if (!json_is_array(slot))
        return add_op(b, slot, rptr, base, in, memory, mixer, axis);
    size_t i;
    json_t *e;
    int cur = in;
    json_array_foreach(slot, i, e)
    {
        g_autofree char *rp = mmx__pointer_index(rptr, i);
        g_autofree char *name =
            indexed || i > 0 ? g_strdup_printf("%s.%zu", base, i) : g_strdup(base);
        cur = add_op(b, e, rp, name, cur, memory, mixer, axis);
        if (cur < 0)
            return -1;
    }
    return cur;
}

static int
slot(build *b, json_t *mixer, const char *rptr, const char *name, const char *key, int in, int x,
     const char *axis)
{
    json_t *s = json_object_get(mixer, key);
    if (s == NULL || in < 0)
        return in;
    g_autofree char *sp = mmx_json_pointer_append(rptr, key);
    g_autofree char *sn = g_strdup_printf("%s.%s", name, key);
    return chain(b, s, sp, sn, false, in, x, name, axis);
}

static int
build_mixer(build *b, json_t *m, const char *rptr, const char *name, int x)
{
    const char *axis = json_string_value(json_object_get(m, "axis"));
    int q = slot(b, m, rptr, name, "query", x, x, NULL);
    int s = slot(b, m, rptr, name, "key", q, x, axis);
    int a = slot(b, m, rptr, name, "activation", s, x, NULL);
    int v = slot(b, m, rptr, name, "value", a, x, axis);
    if (v >= 0 && json_object_get(m, "gate")) {
        int gate = slot(b, m, rptr, name, "gate", x, x, NULL);
        if (gate < 0)
            return -1;
        int in[2] = {v, gate};
        g_autofree char *gn = g_strdup_printf("%s.gate_mul", name);
        g_autofree char *gp = mmx_json_pointer_append(rptr, "gate");
        v = add_structural(b, gn, "mul", NULL, in, 2, gp, "gate");
    }
    return slot(b, m, rptr, name, "output", v, x, NULL);
}

static int
build_block(build *b, json_t *blk, const char *rptr, const char *name, int h)
{
    int n = h;
    json_t *norm = json_object_get(blk, "norm");
    if (norm) {
        g_autofree char *np = mmx_json_pointer_append(rptr, "norm");
        g_autofree char *nn = g_strdup_printf("%s.norm", name);
        n = chain(b, norm, np, nn, false, h, -1, NULL, NULL);
    }
    int y = -1;
    json_t *mixer = json_object_get(blk, "mixer");
    if (n >= 0 && mixer) {
        g_autofree char *mp = mmx_json_pointer_append(rptr, "mixer");
        g_autofree char *mn = g_strdup_printf("%s.mixer", name);
        y = build_mixer(b, mixer, mp, mn, n);
    } else if (n >= 0) {
        json_t *par = json_object_get(blk, "parallel");
        size_t i;
        json_t *m;
        json_array_foreach(par, i, m)
        {
            g_autofree char *mp = g_strdup_printf("%s/parallel/%zu", rptr, i);
            g_autofree char *mn = g_strdup_printf("%s.parallel.%zu", name, i);
            int yi = build_mixer(b, m, mp, mn, n);
            if (yi < 0) {
                y = -1;
                break;
            }
            if (i == 0) {
                y = yi;
                continue;
            }
            int in[2] = {y, yi};
            g_autofree char *sn = i == 1 ? g_strdup_printf("%s.parallel_sum", name)
                                         : g_strdup_printf("%s.parallel_sum.%zu", name, i - 1);
            g_autofree char *pp = mmx_json_pointer_append(rptr, "parallel");
            y = add_structural(b, sn, "add", NULL, in, 2, pp, "parallel sum");
            if (y < 0)
                break;
        }
    }
    json_t *ls = json_object_get(blk, "layer_scale");
    if (y >= 0 && ls) {
        g_autofree char *lp = mmx_json_pointer_append(rptr, "layer_scale");
        g_autofree char *ln = g_strdup_printf("%s.layer_scale", name);
        if (json_is_object(ls))
            y = add_op(b, ls, lp, ln, y, -1, NULL, NULL);
        else
            y = add_structural(b, ln, "layer_scale",
                               json_pack("{s:f}", "init", json_number_value(ls)), &y, 1, lp,
                               "layer scale");
    }
    json_t *dp = json_object_get(blk, "drop_path");
    if (y >= 0 && dp && json_number_value(dp) > 0) {
        g_autofree char *pp = mmx_json_pointer_append(rptr, "drop_path");
        g_autofree char *pn = g_strdup_printf("%s.drop_path", name);
        y = add_structural(b, pn, "drop_path", json_pack("{s:f}", "rate", json_number_value(dp)),
                           &y, 1, pp, "drop path");
    }
    json_t *res = json_object_get(blk, "residual");
    if (res && json_is_false(res))
        return y;
    if (y < 0)
        return h; /* reported; the residual keeps the shape, so later blocks can be checked */
    int in[2] = {h, y};
    g_autofree char *rn = g_strdup_printf("%s.residual", name);
    int out = add_structural(b, rn, "add", NULL, in, 2, rptr, "residual");
    return out >= 0 ? out : h;
}

/* body repeated `repeat` times; blocks are numbered in order, prefix.0, prefix.1... */
static int
build_body(build *b, json_t *body, const char *rptr, const char *prefix, int64_t repeat, int in)
{
    size_t len = json_array_size(body);
    int cur = in;
    for (int64_t r = 0; r < repeat && cur >= 0 && !b->full; r++)
        for (size_t j = 0; j < len && cur >= 0 && !b->full; j++) {
            g_autofree char *bp = mmx__pointer_index(rptr, j);
            g_autofree char *bn =
                g_strdup_printf("%s.%" PRId64, prefix, r * (int64_t)len + (int64_t)j);
            cur = build_block(b, json_array_get(body, j), bp, bn, cur);
        }
    return cur;
}

static int
build_stages(build *b, json_t *stages, int in)
{
    size_t i;
    json_t *s;
    int cur = in;
    json_array_foreach(stages, i, s)
    {
        g_autofree char *sp = mmx__pointer_index("/stages", i);
        json_t *ds = json_object_get(s, "downsample");
        if (ds) {
            g_autofree char *dp = mmx_json_pointer_append(sp, "downsample");
            g_autofree char *dn = g_strdup_printf("stages.%zu.downsample", i);
            cur = chain(b, ds, dp, dn, true, cur, -1, NULL, NULL);
        }
        if (cur < 0)
            return -1;
        g_autofree char *bp = mmx_json_pointer_append(sp, "body");
        g_autofree char *bn = g_strdup_printf("stages.%zu.blocks", i);
        cur = build_body(b, json_object_get(s, "body"), bp, bn,
                         json_integer_value(json_object_get(s, "depth")), cur);
        if (cur < 0)
            return -1;
        json_t *width = json_object_get(s, "width");
        const mmx_shape *sh = shape_of(b, cur);
        if (width && sh->dim[sh->rank - 1] != json_integer_value(width)) {
            g_autofree char *wp = mmx_json_pointer_append(sp, "width");
            g_autofree char *t = mmx_shape_to_string(sh);
            gerr(b, wp,
                 "stage %zu declares width %" JSON_INTEGER_FORMAT " but gives %s (%" PRId64
                 " channels): its downsample ops set the width",
                 i, json_integer_value(width), t, sh->dim[sh->rank - 1]);
        }
    }
    return cur;
}

/* ---- ties and parameters ---- */

typedef struct slotref {
    int node, param;
} slotref;

static gnode *
gnode_at(build *b, int i)
{
    return b->g->nodes->pdata[i];
}

static int
find_node(build *b, const char *name)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(b->g->node_index, name)) - 1;
}

/* The target of one tie of node i ("key.weight" in a mixer, or an absolute name), as
 * (node, param); false after reporting. */
static bool
tie_target(build *b, int i, const char *target, const char *tptr, slotref *self, slotref *out)
{
    gnode *n = gnode_at(b, i);
    const mmx_op_desc *d = mmx_op_get_desc(n->pub.op);
    const char *dot = strrchr(target, '.');
    g_autofree char *tnode = g_strndup(target, (gsize)(dot - target));
    const char *pname = dot + 1;
    self->node = i;
    self->param = mmx_op_param_index(n->pub.op, pname);
    const mmx_node *mine = mmx_op_instance_node(n->pub.inst);
    if (mine->params[self->param].shape.rank == 0) {
        gerr(b, tptr,
             "tie '%s': node %s (op '%s') has no '%s' in this configuration (is it "
             "turned off by an attribute?)",
             target, n->pub.name, d->name, pname);
        return false;
    }
    int t = -1;
    g_autofree char *rel = n->mixer ? g_strdup_printf("%s.%s", n->mixer, tnode) : NULL;
    if (rel)
        t = find_node(b, rel);
    if (t < 0)
        t = find_node(b, tnode);
    if (t < 0) {
        gerr(b, tptr, "tie '%s': there is no node %s%s%s", target, rel ? rel : "",
             rel ? " (relative to the mixer) nor " : "", tnode);
        return false;
    }
    gnode *tn = gnode_at(b, t);
    int tp = mmx_op_param_index(tn->pub.op, pname);
    if (tp < 0) {
        gerr(b, tptr, "tie '%s': node %s (op '%s') has no parameter '%s'", target, tn->pub.name,
             mmx_op_name(tn->pub.op), pname);
        return false;
    }
    if (mmx_op_instance_node(tn->pub.inst)->params[tp].shape.rank == 0) {
        gerr(b, tptr,
             "tie '%s': node %s (op '%s') has no '%s' in this configuration (is it "
             "turned off by an attribute?)",
             target, tn->pub.name, mmx_op_name(tn->pub.op), pname);
        return false;
    }
    if (t == i) {
        gerr(b, tptr, "tie '%s': node %s would share its own parameter", target, n->pub.name);
        return false;
    }
    const mmx_shape *a = &mine->params[self->param].shape;
    const mmx_shape *c = &mmx_op_instance_node(tn->pub.inst)->params[tp].shape;
    if (a->rank != c->rank || memcmp(a->dim, c->dim, sizeof(int64_t) * (size_t)a->rank) != 0) {
        g_autofree char *sa = mmx_shape_to_string(a);
        g_autofree char *sc = mmx_shape_to_string(c);
        gerr(b, tptr,
             "tie '%s': %s.%s is %s but %s.%s is %s; tied parameters have one shape "
             "(linear with \"transpose\": true stores its weight as [in, out])",
             target, n->pub.name, pname, sa, tn->pub.name, pname, sc);
        return false;
    }
    out->node = t;
    out->param = tp;
    return true;
}

static void
build_params(build *b)
{
    mmx_graph *g = b->g;
    int nn = (int)g->nodes->len;
    /* tie_of[i * MMX_MAX_PARAMS + j]: the slot (node, param) that slot (i, j) shares. */
    g_autofree slotref *tie_of = g_new(slotref, (size_t)nn * MMX_MAX_PARAMS + 1);
    for (int i = 0; i < nn * MMX_MAX_PARAMS; i++)
        tie_of[i] = (slotref){-1, -1};
    for (int i = 0; i < nn; i++) {
        gnode *n = gnode_at(b, i);
        json_t *tie = n->obj ? json_object_get(n->obj, "tie") : NULL;
        if (tie == NULL)
            continue;
        g_autofree char *tp = mmx_json_pointer_append(n->rptr, "tie");
        for (size_t k = 0; k < (json_is_array(tie) ? json_array_size(tie) : 1); k++) {
            json_t *e = json_is_array(tie) ? json_array_get(tie, k) : tie;
            g_autofree char *ep = json_is_array(tie) ? mmx__pointer_index(tp, k) : g_strdup(tp);
            slotref self, target;
            if (tie_target(b, i, json_string_value(e), ep, &self, &target))
                tie_of[self.node * MMX_MAX_PARAMS + self.param] = target;
        }
    }
    /* Roots: follow ties; a walk longer than the number of slots is a cycle. */
    g_autofree slotref *root = g_new(slotref, (size_t)nn * MMX_MAX_PARAMS + 1);
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < MMX_MAX_PARAMS; j++) {
            slotref r = {i, j};
            int steps = 0;
            while (tie_of[r.node * MMX_MAX_PARAMS + r.param].node >= 0 &&
                   steps <= nn * MMX_MAX_PARAMS) {
                r = tie_of[r.node * MMX_MAX_PARAMS + r.param];
                steps++;
            }
            if (steps > nn * MMX_MAX_PARAMS) {
                gnode *n = gnode_at(b, i);
                g_autofree char *tp = mmx_json_pointer_append(n->rptr, "tie");
                gerr(b, tp, "ties form a cycle through %s: one of them must own the parameter",
                     n->pub.name);
                r = (slotref){i, j};
                tie_of[i * MMX_MAX_PARAMS + j] = (slotref){-1, -1};
            }
            root[i * MMX_MAX_PARAMS + j] = r;
        }
    for (int i = 0; i < nn; i++) {
        gnode *n = gnode_at(b, i);
        const mmx_node *node = mmx_op_instance_node(n->pub.inst);
        const mmx_op_desc *d = mmx_op_get_desc(n->pub.op);
        for (size_t j = 0; j < d->n_params; j++) {
            if (node->params[j].shape.rank == 0 || tie_of[i * MMX_MAX_PARAMS + (int)j].node >= 0)
                continue;
            g_autofree char *pname = g_strdup_printf("%s.%s", n->pub.name, d->params[j]->name);
            mmx_graph_param p = {.name = g_string_chunk_insert(g->strings, pname),
                                 .info = node->params[j],
                                 .flags = d->params[j]->flags,
                                 .n_uses = 1,
                                 .owner = i};
            g_array_append_val(g->params, p);
            n->pub.params[j] = (int)g->params->len - 1;
            g_hash_table_insert(g->param_index, (gpointer)p.name, GINT_TO_POINTER(g->params->len));
        }
    }
    for (int i = 0; i < nn; i++) {
        gnode *n = gnode_at(b, i);
        for (int j = 0; j < MMX_MAX_PARAMS; j++) {
            if (tie_of[i * MMX_MAX_PARAMS + j].node < 0)
                continue;
            slotref r = root[i * MMX_MAX_PARAMS + j];
            int id = gnode_at(b, r.node)->pub.params[r.param];
            n->pub.params[j] = id;
            if (id >= 0)
                g_array_index(g->params, mmx_graph_param, id).n_uses++;
        }
    }
}

/* ---- the API ---- */

mmx_graph *
mmx_graph_new_diags(const mmx_spec *spec, mmx_diags *diags)
{
    g_return_val_if_fail(spec != NULL && diags != NULL, NULL);
    g_autoptr(mmx_graph) g = g_new0(mmx_graph, 1);
    g->nodes = g_ptr_array_new_with_free_func(gnode_free);
    g->values = g_array_new(FALSE, TRUE, sizeof(mmx_graph_value));
    g->params = g_array_new(FALSE, TRUE, sizeof(mmx_graph_param));
    g->strings = g_string_chunk_new(1024);
    g->node_index = g_hash_table_new(g_str_hash, g_str_equal);
    g->param_index = g_hash_table_new(g_str_hash, g_str_equal);
    build b = {.spec = spec,
               .diags = diags,
               .g = g,
               .reg = mmx_spec_registry(spec),
               .ok = true,
               .failed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL)};
    json_t *doc = mmx_spec_resolved(spec);
    g->input = add_value(g, mmx_spec_input_shape(spec), -1);
    int cur = g->input;
    json_t *stem = json_object_get(doc, "stem");
    if (stem)
        cur = chain(&b, stem, "/stem", "stem", true, cur, -1, NULL, NULL);
    json_t *stages = json_object_get(doc, "stages"), *blocks = json_object_get(doc, "blocks");
    if (cur >= 0 && stages)
        cur = build_stages(&b, stages, cur);
    if (cur >= 0 && json_is_array(blocks))
        cur = build_body(&b, blocks, "/blocks", "blocks", 1, cur);
    else if (cur >= 0 && blocks) {
        json_t *rep = json_object_get(blocks, "repeat");
        cur = build_body(&b, json_object_get(blocks, "body"), "/blocks/body", "blocks",
                         rep ? json_integer_value(rep) : 1, cur);
    }
    if (cur >= 0)
        cur = chain(&b, json_object_get(doc, "head"), "/head", "head", true, cur, -1, NULL, NULL);
    if (cur >= 0) {
        const mmx_shape *s = shape_of(&b, cur);
        int classes = mmx_spec_classes(spec);
        const mmx_shape *in = shape_of(&b, g->input);
        if (mmx_spec_is_lm(spec)) {
            /* A language model predicts the next token at every position. */
            if (s->rank != 2 || s->dim[0] != in->dim[0] || s->dim[1] != classes) {
                g_autofree char *t = mmx_shape_to_string(s);
                const gnode *last = gnode_at(&b, (int)g->nodes->len - 1);
                gerr(&b, "/head",
                     "a language model's head ends in the logits of every position, [%" G_GINT64_FORMAT
                     ", %d] (the input's tokens, one logit per token of the vocabulary, "
                     "\"input\" classes); its last op, %s, gives %s",
                     in->dim[0], classes, last->pub.name, t);
            }
        } else if (s->rank != 1 || s->dim[0] != classes) {
            g_autofree char *t = mmx_shape_to_string(s);
            const gnode *last = gnode_at(&b, (int)g->nodes->len - 1);
            gerr(&b, "/head",
                 "the head must end in the logits, a vector [%d] (one per class of "
                 "\"input\"); its last op, %s, gives %s",
                 classes, last->pub.name, t);
        }
    }
    if (b.ok)
        build_params(&b);
    g_hash_table_unref(b.failed);
    if (!b.ok)
        return NULL;
    g->output = cur;
    g_array_index(g->values, mmx_graph_value, cur).n_consumers++;
    return g_steal_pointer(&g);
}

mmx_graph *
mmx_graph_new(const mmx_spec *spec, GError **error)
{
    g_return_val_if_fail(spec != NULL, NULL);
    g_autoptr(mmx_diags) diags = mmx_diags_new();
    mmx_graph *g = mmx_graph_new_diags(spec, diags);
    if (g == NULL)
        mmx_diags_to_gerror(diags, error);
    return g;
}

int
mmx_graph_n_nodes(const mmx_graph *graph)
{
    return (int)graph->nodes->len;
}

const mmx_graph_node *
mmx_graph_get_node(const mmx_graph *graph, int i)
{
    if (i < 0 || i >= (int)graph->nodes->len)
        return NULL;
    return &((gnode *)graph->nodes->pdata[i])->pub;
}

int
mmx_graph_n_values(const mmx_graph *graph)
{
    return (int)graph->values->len;
}

const mmx_graph_value *
mmx_graph_get_value(const mmx_graph *graph, int i)
{
    if (i < 0 || i >= (int)graph->values->len)
        return NULL;
    return &g_array_index(graph->values, mmx_graph_value, i);
}

int
mmx_graph_n_params(const mmx_graph *graph)
{
    return (int)graph->params->len;
}

const mmx_graph_param *
mmx_graph_get_param(const mmx_graph *graph, int i)
{
    if (i < 0 || i >= (int)graph->params->len)
        return NULL;
    return &g_array_index(graph->params, mmx_graph_param, i);
}

int
mmx_graph_find_node(const mmx_graph *graph, const char *name)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(graph->node_index, name)) - 1;
}

int
mmx_graph_find_param(const mmx_graph *graph, const char *name)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(graph->param_index, name)) - 1;
}

int
mmx_graph_input(const mmx_graph *graph)
{
    return graph->input;
}

int
mmx_graph_output(const mmx_graph *graph)
{
    return graph->output;
}

static int64_t
count(const mmx_graph *graph, bool buffers)
{
    int64_t n = 0;
    for (guint i = 0; i < graph->params->len; i++) {
        const mmx_graph_param *p = &g_array_index(graph->params, mmx_graph_param, i);
        if (((p->flags & MMX_PARAM_BUFFER) != 0) == buffers)
            n += mmx_shape_numel(&p->info.shape);
    }
    return n;
}

int64_t
mmx_graph_param_count(const mmx_graph *graph)
{
    return count(graph, false);
}

int64_t
mmx_graph_buffer_count(const mmx_graph *graph)
{
    return count(graph, true);
}

double
mmx_graph_flops(const mmx_graph *graph)
{
    double f = 0;
    for (guint i = 0; i < graph->nodes->len; i++) {
        mmx_cost c = {.struct_size = sizeof(mmx_cost)};
        mmx_op_instance_cost(((gnode *)graph->nodes->pdata[i])->pub.inst, &c);
        f += c.flops;
    }
    return f;
}

bool
mmx_graph_measure(const json_t *spec, const char *base_path, int64_t *params, double *flops,
                  void *user, GError **error)
{
    g_return_val_if_fail(spec != NULL && base_path != NULL && user != NULL, false);
    /* The spec is only read (the reader works on its own copy). */
    g_autoptr(mmx_spec) s = mmx_spec_load_json(user, (json_t *)spec, base_path, NULL, error);
    if (s == NULL)
        return false;
    g_autoptr(mmx_graph) g = mmx_graph_new(s, error);
    if (g == NULL)
        return false;
    if (params)
        *params = mmx_graph_param_count(g);
    if (flops)
        *flops = mmx_graph_flops(g);
    return true;
}
