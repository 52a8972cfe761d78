/* op.c: attributes from JSON, op instances, and parameter initializers.
 *
 * An op instance binds one registered op to attribute values and input shapes, runs the
 * op's shape inference, and calls its kernels through the host's call context so that a
 * plugin's message comes back as a GError naming the node and the plugin file. The
 * graph executor and the conformance kit both run ops through here, and nowhere else.
 * (Their error domain, MMX_OP_ERROR, is defined in cpu.c, the lowest module raising it.)
 */
#include "mmx-private.h"

#include <math.h>
#include <string.h>

/* ---- suggestions ---- */

int
mmx__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    int prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = g_ascii_tolower(a[i - 1]) == g_ascii_tolower(b[j - 1]) ? 0 : 1;
            int v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            cur[j] = v;
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

const char *
mmx_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    int best_d = 99;
    size_t len = strlen(word);
    for (const char *const *c = candidates; c && *c; c++) {
        int d = mmx__edit_distance(word, *c);
        /* A candidate that contains the word (or the reverse) is a good hint too:
         * "scores" -> "attention.scores"; but not a one- or two-letter candidate inside a
         * longer word ("h" is no hint for "depth"). */
        if (d > 1 && len >= 3 && (strstr(*c, word) || (strlen(*c) >= 3 && strstr(word, *c))))
            d = 1;
        if (d < best_d) {
            best_d = d;
            best = *c;
        }
    }
    /* Plausible typos only: about a third of the word may differ. */
    int limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    return best_d <= limit ? best : NULL;
}

/* ---- attributes ---- */

static const char *
attr_type_name(mmx_attr_type t)
{
    switch (t) {
    case MMX_ATTR_INT:
        return "an integer";
    case MMX_ATTR_FLOAT:
        return "a number";
    case MMX_ATTR_BOOL:
        return "true or false";
    case MMX_ATTR_STRING:
        return "a string";
    case MMX_ATTR_INTS:
        return "a list of integers";
    }
    return "?";
}

static void
attr_default(const mmx_attr_desc *a, mmx_attr_value *v)
{
    memset(v, 0, sizeof *v);
    switch (a->type) {
    case MMX_ATTR_INT:
    case MMX_ATTR_BOOL:
        v->i = (int64_t)a->default_number;
        v->f = (double)v->i;
        break;
    case MMX_ATTR_FLOAT:
        v->f = a->default_number;
        break;
    case MMX_ATTR_STRING:
        v->s = a->default_string;
        if (a->choices && a->default_string)
            for (int64_t i = 0; a->choices[i]; i++)
                if (strcmp(a->choices[i], a->default_string) == 0)
                    v->i = i;
        break;
    case MMX_ATTR_INTS:
        v->count = a->default_count;
        for (int i = 0; i < a->default_count && i < MMX_MAX_ATTR_INTS; i++)
            v->ints[i] = a->default_ints[i];
        break;
    }
}

void
mmx_attrs_default(const mmx_op *op, mmx_attr_value *values)
{
    const mmx_op_desc *d = mmx_op_get_desc(op);
    for (size_t i = 0; i < d->n_attrs; i++)
        attr_default(d->attrs[i], &values[i]);
}

static char *
range_text(const mmx_attr_desc *a)
{
    if (!(a->flags & MMX_ATTR_HAS_RANGE))
        return g_strdup("");
    if (a->type == MMX_ATTR_FLOAT)
        return g_strdup_printf(" in [%g, %g]", a->min, a->max);
    return g_strdup_printf(" in [%.0f, %.0f]", a->min, a->max);
}

static bool
in_range(const mmx_attr_desc *a, double x)
{
    return !(a->flags & MMX_ATTR_HAS_RANGE) || (x >= a->min && x <= a->max);
}

/* Parses one value; on a problem reports it and returns false. */
static bool
attr_parse(const mmx_op *op, const mmx_attr_desc *a, json_t *j, mmx_attr_value *v,
           mmx_attr_error_fn report, void *user)
{
    g_autofree char *range = range_text(a);
    g_autofree char *got = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    memset(v, 0, sizeof *v);
    v->is_set = 1;
    char msg[512];
    switch (a->type) {
    case MMX_ATTR_INT:
        if (!json_is_integer(j) &&
            !(json_is_real(j) && json_real_value(j) == floor(json_real_value(j)) &&
              fabs(json_real_value(j)) < 9e15)) {
            snprintf(msg, sizeof msg, "attribute '%s' of op '%s': expected an integer%s, got %s",
                     a->name, mmx_op_name(op), range, got);
            report(user, a->name, msg);
            return false;
        }
        v->i = json_is_integer(j) ? json_integer_value(j) : (int64_t)json_real_value(j);
        v->f = (double)v->i;
        if (!in_range(a, v->f)) {
            snprintf(msg, sizeof msg, "attribute '%s' of op '%s': expected an integer%s, got %s",
                     a->name, mmx_op_name(op), range, got);
            report(user, a->name, msg);
            return false;
        }
        return true;
    case MMX_ATTR_FLOAT:
        if (!json_is_number(j) || !isfinite(json_number_value(j)) ||
            !in_range(a, json_number_value(j))) {
            snprintf(msg, sizeof msg, "attribute '%s' of op '%s': expected a number%s, got %s",
                     a->name, mmx_op_name(op), range, got);
            report(user, a->name, msg);
            return false;
        }
        v->f = json_number_value(j);
        return true;
    case MMX_ATTR_BOOL:
        if (!json_is_boolean(j)) {
            snprintf(msg, sizeof msg, "attribute '%s' of op '%s': expected true or false, got %s",
                     a->name, mmx_op_name(op), got);
            report(user, a->name, msg);
            return false;
        }
        v->i = json_is_true(j);
        v->f = (double)v->i;
        return true;
    case MMX_ATTR_STRING:
        if (!json_is_string(j)) {
            snprintf(msg, sizeof msg, "attribute '%s' of op '%s': expected a string, got %s",
                     a->name, mmx_op_name(op), got);
            report(user, a->name, msg);
            return false;
        }
        v->s = json_string_value(j);
        if (a->choices) {
            for (int64_t i = 0; a->choices[i]; i++)
                if (strcmp(a->choices[i], v->s) == 0) {
                    v->i = i;
                    return true;
                }
            g_autofree char *list = g_strjoinv(", ", (char **)a->choices);
            const char *hint = mmx_suggest(v->s, a->choices);
            snprintf(msg, sizeof msg, "attribute '%s' of op '%s': expected one of %s, got %s%s%s%s",
                     a->name, mmx_op_name(op), list, got, hint ? " (did you mean '" : "",
                     hint ? hint : "", hint ? "'?)" : "");
            report(user, a->name, msg);
            return false;
        }
        return true;
    case MMX_ATTR_INTS: {
        size_t n = json_is_array(j) ? json_array_size(j) : 0;
        bool ok = n >= 1 && n <= MMX_MAX_ATTR_INTS;
        for (size_t i = 0; ok && i < n; i++) {
            json_t *e = json_array_get(j, i);
            ok = json_is_integer(e) && in_range(a, (double)json_integer_value(e));
            if (ok)
                v->ints[i] = json_integer_value(e);
        }
        if (!ok) {
            snprintf(msg, sizeof msg,
                     "attribute '%s' of op '%s': expected a list of 1 to %d integers%s, got %s",
                     a->name, mmx_op_name(op), MMX_MAX_ATTR_INTS, range, got);
            report(user, a->name, msg);
            return false;
        }
        v->count = (int32_t)n;
        return true;
    }
    }
    return false;
}

bool
mmx_attrs_from_json(const mmx_op *op, json_t *obj, const char *const *skip_keys,
                    mmx_attr_value *values, mmx_attr_error_fn report, void *user)
{
    const mmx_op_desc *d = mmx_op_get_desc(op);
    bool ok = true;
    mmx_attrs_default(op, values);
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        if (skip_keys && g_strv_contains(skip_keys, key))
            continue;
        int idx = mmx_op_attr_index(op, key);
        if (idx < 0) {
            g_autoptr(GPtrArray) names = g_ptr_array_new();
            GString *known = g_string_new(NULL);
            for (size_t i = 0; i < d->n_attrs; i++) {
                g_ptr_array_add(names, (gpointer)d->attrs[i]->name);
                g_string_append_printf(known, "%s%s", i ? ", " : "", d->attrs[i]->name);
            }
            g_ptr_array_add(names, NULL);
            const char *hint = mmx_suggest(key, (const char *const *)names->pdata);
            g_autofree char *msg = g_strdup_printf(
                "unknown attribute '%s' for op '%s'%s%s%s; its attributes: %s", key,
                mmx_op_name(op), hint ? " (did you mean '" : "", hint ? hint : "",
                hint ? "'?)" : "", d->n_attrs ? known->str : "none");
            g_string_free(known, TRUE);
            report(user, key, msg);
            ok = false;
            continue;
        }
        if (!attr_parse(op, d->attrs[idx], val, &values[idx], report, user))
            ok = false;
    }
    for (size_t i = 0; i < d->n_attrs; i++)
        if ((d->attrs[i]->flags & MMX_ATTR_REQUIRED) && !values[i].is_set &&
            json_object_get(obj, d->attrs[i]->name) == NULL) {
            g_autofree char *msg =
                g_strdup_printf("op '%s' needs attribute '%s' (%s: %s)", mmx_op_name(op),
                                d->attrs[i]->name, attr_type_name(d->attrs[i]->type),
                                d->attrs[i]->doc ? d->attrs[i]->doc : "");
            report(user, "", msg);
            ok = false;
        }
    return ok;
}

/* ---- op instances ---- */

struct mmx_op_instance {
    const mmx_op *op;
    char *name;
    mmx_attr_value *attrs;
    GPtrArray *strings; /* copies of string attribute values */
    mmx_shape inputs[MMX_MAX_INPUTS];
    mmx_param_info params[MMX_MAX_PARAMS];
    mmx_node node;
    const mmx_kernel_desc *kernel;
};

static bool
shape_valid(const mmx_shape *s, bool allow_absent)
{
    if (s->rank == 0)
        return allow_absent;
    if (s->rank < 0 || s->rank > MMX_MAX_RANK)
        return false;
    for (int i = 0; i < s->rank; i++)
        if (s->dim[i] <= 0 || s->dim[i] > ((int64_t)1 << 40))
            return false;
    return true;
}

void
mmx_op_instance_free(mmx_op_instance *inst)
{
    if (inst == NULL)
        return;
    g_free(inst->attrs);
    if (inst->strings)
        g_ptr_array_unref(inst->strings);
    g_free(inst->name);
    g_free(inst);
}

mmx_op_instance *
mmx_op_instance_new(const mmx_op *op, const char *name, const mmx_attr_value *attrs,
                    const mmx_shape *inputs, size_t n_inputs, GError **error)
{
    g_return_val_if_fail(op != NULL && (inputs != NULL || n_inputs == 0), NULL);
    const mmx_op_desc *d = mmx_op_get_desc(op);
    const char *plugin = mmx_plugin_path(mmx_op_plugin(op));
    if (name == NULL)
        name = d->name;
    if (n_inputs < d->min_inputs || n_inputs > d->max_inputs) {
        g_set_error(error, MMX_OP_ERROR, MMX_ERR_INVALID,
                    "%s: op '%s' takes %u..%u inputs, got %zu", name, d->name, d->min_inputs,
                    d->max_inputs, n_inputs);
        return NULL;
    }
    for (size_t i = 0; i < n_inputs; i++)
        if (!shape_valid(&inputs[i], false)) {
            g_set_error(error, MMX_OP_ERROR, MMX_ERR_INVALID, "%s: input %zu has no valid shape",
                        name, i);
            return NULL;
        }
    g_autoptr(mmx_op_instance) inst = g_new0(mmx_op_instance, 1);
    inst->op = op;
    inst->name = g_strdup(name);
    inst->strings = g_ptr_array_new_with_free_func(g_free);
    inst->attrs = g_new0(mmx_attr_value, d->n_attrs ? d->n_attrs : 1);
    if (attrs) {
        memcpy(inst->attrs, attrs, d->n_attrs * sizeof *attrs);
        for (size_t i = 0; i < d->n_attrs; i++)
            if (inst->attrs[i].s) {
                char *copy = g_strdup(inst->attrs[i].s);
                g_ptr_array_add(inst->strings, copy);
                inst->attrs[i].s = copy;
            }
    } else {
        mmx_attrs_default(op, inst->attrs);
    }
    memcpy(inst->inputs, inputs, n_inputs * sizeof *inputs);
    for (size_t i = 0; i < d->n_params; i++) {
        const mmx_param_desc *p = d->params[i];
        inst->params[i] = (mmx_param_info){.init = p->init, .init_a = p->init_a, .init_b = p->init_b};
    }
    inst->node = (mmx_node){.struct_size = sizeof(mmx_node), .name = inst->name,
                            .attrs = inst->attrs, .n_inputs = n_inputs, .inputs = inst->inputs,
                            .n_params = d->n_params, .params = inst->params};

    mmx__call call;
    mmx_ctx ctx;
    mmx__call_init(&call, &ctx, inst->name, plugin);
    mmx_shape out = {0};
    int st = d->infer(&ctx, &inst->node, &out, inst->params);
    if (st != MMX_OK) {
        mmx__call_to_gerror(&call, st, MMX_OP_ERROR, error);
        mmx__call_clear(&call);
        return NULL;
    }
    mmx__call_clear(&call);
    if (!shape_valid(&out, false)) {
        g_set_error(error, MMX_OP_ERROR, MMX_ERR_INTERNAL,
                    "%s: op '%s' returned an invalid output shape (rank %d) [%s]", name, d->name,
                    out.rank, plugin);
        return NULL;
    }
    for (size_t i = 0; i < d->n_params; i++)
        if (!shape_valid(&inst->params[i].shape, true)) {
            g_set_error(error, MMX_OP_ERROR, MMX_ERR_INTERNAL,
                        "%s: op '%s' returned an invalid shape for parameter '%s' [%s]", name,
                        d->name, d->params[i]->name, plugin);
            return NULL;
        }
    inst->node.output = out;
    inst->kernel = mmx_op_choose_kernel(op, mmx_cpu_isa());
    return g_steal_pointer(&inst);
}

const mmx_op *
mmx_op_instance_op(const mmx_op_instance *inst)
{
    return inst->op;
}

const mmx_node *
mmx_op_instance_node(const mmx_op_instance *inst)
{
    return &inst->node;
}

const mmx_kernel_desc *
mmx_op_instance_kernel(const mmx_op_instance *inst)
{
    return inst->kernel;
}

void
mmx_op_instance_set_kernel(mmx_op_instance *inst, const mmx_kernel_desc *kernel)
{
    inst->kernel = kernel;
}

void
mmx_op_instance_buffer_sizes(const mmx_op_instance *inst, int64_t batch, mmx_buffer_sizes *sizes)
{
    const mmx_op_desc *d = mmx_op_get_desc(inst->op);
    *sizes = (mmx_buffer_sizes){.struct_size = sizeof *sizes};
    if (d->buffer_sizes)
        d->buffer_sizes(&inst->node, batch, sizes);
}

void
mmx_op_instance_cost(const mmx_op_instance *inst, mmx_cost *cost)
{
    const mmx_op_desc *d = mmx_op_get_desc(inst->op);
    *cost = (mmx_cost){.struct_size = sizeof *cost};
    if (d->cost)
        d->cost(&inst->node, cost);
}

int64_t
mmx_op_instance_param_numel(const mmx_op_instance *inst, size_t index)
{
    if (index >= inst->node.n_params)
        return 0;
    return mmx_shape_numel(&inst->params[index].shape);
}

static bool
run_kernel(mmx_op_instance *inst, mmx_kernel_args *args, bool backward, GError **error)
{
    const mmx_kernel_desc *k = inst->kernel;
    mmx_kernel_fn fn = backward ? k->backward : k->forward;
    if (fn == NULL) {
        g_set_error(error, MMX_OP_ERROR, MMX_ERR_UNSUPPORTED,
                    "%s: kernel '%s' of op '%s' has no backward [%s]", inst->name, k->name,
                    mmx_op_name(inst->op), mmx_plugin_path(mmx_op_plugin(inst->op)));
        return false;
    }
    args->struct_size = sizeof *args;
    args->node = &inst->node;
    mmx__call call;
    mmx_ctx ctx;
    mmx__call_init(&call, &ctx, inst->name, mmx_plugin_path(mmx_op_plugin(inst->op)));
    int st = fn(&ctx, args);
    if (st == MMX_OK && call.status != MMX_OK)
        st = call.status; /* a worker reported an error the kernel did not return */
    if (st != MMX_OK)
        mmx__call_to_gerror(&call, st, MMX_OP_ERROR, error);
    mmx__call_clear(&call);
    return st == MMX_OK;
}

bool
mmx_op_instance_forward(mmx_op_instance *inst, mmx_kernel_args *args, GError **error)
{
    return run_kernel(inst, args, false, error);
}

bool
mmx_op_instance_backward(mmx_op_instance *inst, mmx_kernel_args *args, GError **error)
{
    return run_kernel(inst, args, true, error);
}

/* ---- initializers ---- */

const char *
mmx_init_name(mmx_init init)
{
    static const char *const names[] = {"zeros",          "ones",           "const",
                                        "uniform",        "normal",         "trunc_normal",
                                        "xavier_uniform", "xavier_normal",  "kaiming_uniform",
                                        "kaiming_normal"};
    return (unsigned)init < G_N_ELEMENTS(names) ? names[init] : "unknown";
}

static double
u01(uint32_t x)
{
    return ((double)(x >> 8) + 0.5) / 16777216.0; /* (0, 1): never 0, safe for log */
}

static double
normal_at(uint64_t key, uint64_t counter)
{
    uint32_t r[4];
    mmx_philox(key, counter, r);
    return sqrt(-2.0 * log(u01(r[0]))) * cos(2.0 * G_PI * u01(r[1]));
}

void
mmx_param_init(const mmx_param_info *info, float *data, uint64_t key)
{
    const mmx_shape *s = &info->shape;
    int64_t n = mmx_shape_numel(s);
    int64_t receptive = 1;
    for (int i = 2; i < s->rank; i++)
        receptive *= s->dim[i];
    int64_t fan_in = info->fan_in, fan_out = info->fan_out;
    if (fan_in <= 0)
        fan_in = s->rank >= 2 ? s->dim[1] * receptive : s->dim[0];
    if (fan_out <= 0)
        fan_out = s->rank >= 2 ? s->dim[0] * receptive : s->dim[0];
    double a = info->init_a, b = info->init_b;
    double gain_x = a > 0 ? a : 1.0, gain_k = a > 0 ? a : sqrt(2.0);
    for (int64_t i = 0; i < n; i++) {
        uint32_t r[4];
        double v = 0;
        switch (info->init) {
        case MMX_INIT_ZEROS:
            v = 0;
            break;
        case MMX_INIT_ONES:
            v = 1;
            break;
        case MMX_INIT_CONST:
            v = a;
            break;
        case MMX_INIT_UNIFORM:
            mmx_philox(key, (uint64_t)i, r);
            v = a + (b - a) * u01(r[0]);
            break;
        case MMX_INIT_NORMAL:
            v = a + b * normal_at(key, (uint64_t)i);
            break;
        case MMX_INIT_TRUNC_NORMAL:
            /* Rejection: attempt j of element i uses counter i + j*n, independent of order. */
            for (int64_t j = 0;; j++) {
                double z = normal_at(key, (uint64_t)(i + j * n));
                if (fabs(z) <= 2.0 || j > 64) {
                    v = a * (fabs(z) <= 2.0 ? z : 0.0);
                    break;
                }
            }
            break;
        case MMX_INIT_XAVIER_UNIFORM: {
            double bound = gain_x * sqrt(6.0 / (double)(fan_in + fan_out));
            mmx_philox(key, (uint64_t)i, r);
            v = -bound + 2 * bound * u01(r[0]);
            break;
        }
        case MMX_INIT_XAVIER_NORMAL:
            v = gain_x * sqrt(2.0 / (double)(fan_in + fan_out)) * normal_at(key, (uint64_t)i);
            break;
        case MMX_INIT_KAIMING_UNIFORM: {
            double bound = gain_k * sqrt(3.0 / (double)fan_in);
            mmx_philox(key, (uint64_t)i, r);
            v = -bound + 2 * bound * u01(r[0]);
            break;
        }
        case MMX_INIT_KAIMING_NORMAL:
            v = gain_k / sqrt((double)fan_in) * normal_at(key, (uint64_t)i);
            break;
        }
        data[i] = (float)v;
    }
}
