/* spec.c: the model spec reader: overrides, structure, plugins, op schemas, the train
 * recipe, and the public mmx_spec API.
 *
 * mmx_spec_new applies the --set overrides to a copy of the document, resolves defs
 * and vars (spec-resolve.c), then checks the resolved document against the format of
 * docs/spec-format.md: every object's keys (unknown keys are errors with a did-you-mean
 * hint), every value's type and range, every op against the registry (unknown ops,
 * ops from plugins the spec does not declare) and against its attribute schema, every
 * tie's form. All problems are collected; the spec exists only when there are none.
 * Shapes are the graph's business (graph.c). Messages point into the file as written,
 * through the origin map of spec-resolve.c (mmx__spec_report).
 */
#include "spec-private.h"

#include <math.h>
#include <stdarg.h>
#include <inttypes.h>
#include <string.h>

const char *const mmx__op_meta_keys[] = {"op", "tie", "doc", NULL};

/* The plugins mmx ships, implied in every spec. Adding a family to plugins/meson.build?
 * Add it here too. */
static const char *const shipped_plugins[] = {"activation", "linear", "conv", "norm",   "attention",
                                              "hopfield",   "sgu",    "pool", "tensor", "lm", NULL};

/* ---- checking helpers ---- */

typedef struct vctx {
    mmx_spec *spec;
    mmx_diags *diags;
    bool ok;
} vctx;

static void err(vctx *v, const char *rptr, bool at_key, const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static void
err(vctx *v, const char *rptr, bool at_key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    mmx__spec_report(v->spec, v->diags, rptr, at_key, "%s", msg);
    v->ok = false;
}

static char *
join(const char *const *words)
{
    return g_strjoinv(", ", (char **)words);
}

static char *
got_text(json_t *value)
{
    g_autofree char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    if (text && strlen(text) > 40)
        return g_strdup_printf("%.37s...", text);
    return g_strdup(text ? text : "?");
}

/* Unknown keys of obj: one error each, at the key, with a hint. */
static void
check_keys(vctx *v, json_t *obj, const char *rptr, const char *const *allowed, const char *what)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        if (g_strv_contains(allowed, key))
            continue;
        g_autofree char *kp = mmx_json_pointer_append(rptr, key);
        const char *hint = mmx_suggest(key, allowed);
        g_autofree char *list = join(allowed);
        err(v, kp, true, "unknown key '%s' in %s%s%s%s; expected one of: %s", key, what,
            hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "", list);
    }
}

static bool
as_int(json_t *j, int64_t *out)
{
    if (json_is_integer(j)) {
        *out = json_integer_value(j);
        return true;
    }
    if (json_is_real(j) && json_real_value(j) == floor(json_real_value(j)) &&
        fabs(json_real_value(j)) < 9e15) {
        *out = (int64_t)json_real_value(j);
        return true;
    }
    return false;
}

/* An integer member in [lo, hi]; false (reported when present and wrong, or required
 * and absent) otherwise. */
static bool
get_int(vctx *v, json_t *obj, const char *rptr, const char *key, int64_t lo, int64_t hi,
        bool required, const char *what, int64_t *out)
{
    json_t *j = json_object_get(obj, key);
    if (j == NULL) {
        if (required)
            err(v, rptr, false, "%s needs \"%s\": an integer in [%" PRId64 ", %" PRId64 "]", what,
                key, lo, hi);
        return false;
    }
    g_autofree char *kp = mmx_json_pointer_append(rptr, key);
    if (!as_int(j, out) || *out < lo || *out > hi) {
        g_autofree char *got = got_text(j);
        err(v, kp, false, "\"%s\" of %s: expected an integer in [%" PRId64 ", %" PRId64 "], got %s",
            key, what, lo, hi, got);
        return false;
    }
    return true;
}

/* ---- plugins ---- */

static bool
is_shipped(const mmx_plugin *p)
{
    return g_strv_contains(shipped_plugins, mmx_plugin_name(p));
}

static const mmx_plugin *
plugin_by_path(mmx_registry *reg, const char *path)
{
    g_autofree char *real = realpath(path, NULL);
    for (guint i = 0; real && i < mmx_registry_n_plugins(reg); i++) {
        const mmx_plugin *p = mmx_registry_plugin(reg, i);
        if (strcmp(mmx_plugin_path(p), real) == 0)
            return p;
    }
    return NULL;
}

static const mmx_plugin *
declare_plugin(vctx *v, const char *entry, const char *rptr)
{
    mmx_registry *reg = v->spec->reg;
    g_autoptr(GError) error = NULL;
    if (strchr(entry, '/') || g_str_has_suffix(entry, ".so")) {
        g_autofree char *full = g_canonicalize_filename(entry, v->spec->dir);
        if (!mmx_registry_load(reg, full, &error)) {
            err(v, rptr, false,
                "plugin file '%s' could not be loaded: %s (a relative path is "
                "relative to the spec's directory)",
                entry, error->message);
            return NULL;
        }
        return plugin_by_path(reg, full);
    }
    const mmx_plugin *p = mmx__registry_find_on_path(reg, entry, &error);
    if (p == NULL)
        err(v, rptr, false, "%s", error->message);
    return p;
}

static void
check_plugins(vctx *v, json_t *list)
{
    if (list == NULL)
        return;
    if (!json_is_array(list)) {
        err(v, "/plugins", false, "\"plugins\" is a list of plugin names or .so paths");
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        g_autofree char *rp = mmx__pointer_index("/plugins", i);
        if (!json_is_string(e) || *json_string_value(e) == '\0') {
            g_autofree char *got = got_text(e);
            err(v, rp, false, "expected a plugin name or a path to a .so file, got %s", got);
            continue;
        }
        const mmx_plugin *p = declare_plugin(v, json_string_value(e), rp);
        if (p)
            g_ptr_array_add(v->spec->declared, (gpointer)p);
    }
}

/* ---- ops ---- */

typedef struct attr_report {
    vctx *v;
    const char *rptr;
} attr_report;

static void
on_attr_error(void *user, const char *key, const char *message)
{
    attr_report *r = user;
    if (*key == '\0') {
        err(r->v, r->rptr, false, "%s", message);
        return;
    }
    g_autofree char *kp = mmx_json_pointer_append(r->rptr, key);
    err(r->v, kp, g_str_has_prefix(message, "unknown attribute"), "%s", message);
}

const mmx_op *
mmx__spec_op(const mmx_spec *spec, json_t *op_object)
{
    return mmx_registry_find_op(spec->reg, json_string_value(json_object_get(op_object, "op")));
}

static void
check_tie(vctx *v, const mmx_op *op, json_t *tie, const char *rptr)
{
    const mmx_op_desc *d = mmx_op_get_desc(op);
    json_t *list = tie;
    if (json_is_string(tie)) {
        list = json_array();
        json_array_append(list, tie);
    } else {
        json_incref(list);
    }
    bool shape_ok = json_is_array(list) && json_array_size(list) > 0;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) if (!json_is_string(e)) shape_ok = false;
    if (!shape_ok) {
        err(v, rptr, false,
            "\"tie\" is \"<node>.<param>\" (such as \"key.weight\") or a list "
            "of them");
        json_decref(list);
        return;
    }
    json_array_foreach(list, i, e)
    {
        g_autofree char *ep = json_is_string(tie) ? g_strdup(rptr) : mmx__pointer_index(rptr, i);
        const char *t = json_string_value(e);
        const char *dot = strrchr(t, '.');
        if (dot == NULL || dot == t || dot[1] == '\0') {
            err(v, ep, false,
                "tie '%s': expected \"<node>.<param>\", such as \"key.weight\" "
                "(relative to the mixer) or \"blocks.0.mixer.key.weight\"",
                t);
            continue;
        }
        if (mmx_op_param_index(op, dot + 1) < 0) {
            GString *names = g_string_new(NULL);
            for (size_t k = 0; k < d->n_params; k++)
                g_string_append_printf(names, "%s%s", k ? ", " : "", d->params[k]->name);
            err(v, ep, false,
                "tie '%s': op '%s' has no parameter '%s' to share (a tie shares "
                "this node's parameter of the same name); its parameters: %s",
                t, d->name, dot + 1, names->len ? names->str : "none");
            g_string_free(names, TRUE);
        }
    }
    json_decref(list);
}

/* The pointer of the /plugins entry that would provide the op called name (PLUGIN.OP,
 * the naming convention of plugin ops) when no plugin of that name was loaded: that
 * entry's problem is already reported, and a guess at a shipped op would mislead.
 * Newly allocated, or NULL. */
static char *
missing_plugin_entry(vctx *v, const char *name)
{
    const char *dot = strchr(name, '.');
    if (dot == NULL)
        return NULL;
    g_autofree char *plugin = g_strndup(name, (gsize)(dot - name));
    g_autofree char *file = g_strconcat(plugin, ".so", NULL);
    if (mmx_registry_find_plugin(v->spec->reg, plugin))
        return NULL;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(v->spec->resolved, "plugins"), i, e)
    {
        g_autofree char *base = json_is_string(e) ? g_path_get_basename(json_string_value(e)) : NULL;
        if (base && (strcmp(json_string_value(e), plugin) == 0 || strcmp(base, file) == 0))
            return mmx__pointer_index("/plugins", i);
    }
    return NULL;
}

static void
check_op(vctx *v, json_t *obj, const char *rptr)
{
    if (!json_is_object(obj)) {
        g_autofree char *got = got_text(obj);
        err(v, rptr, false, "expected an op: {\"op\": NAME, attributes...}, got %s", got);
        return;
    }
    json_t *name = json_object_get(obj, "op");
    if (!json_is_string(name)) {
        err(v, rptr, false, "an op object needs \"op\": the op's name (see 'mmx plugins')");
        return;
    }
    g_autofree char *np = mmx_json_pointer_append(rptr, "op");
    const char *n = json_string_value(name);
    const mmx_op *op = mmx_registry_find_op(v->spec->reg, n);
    if (op == NULL) {
        const char *hint = mmx_suggest(n, mmx_registry_op_names(v->spec->reg));
        g_autofree char *missing = missing_plugin_entry(v, n);
        if (missing)
            err(v, np, false,
                "op '%s' would come from plugin '%.*s', which was not loaded: fix the "
                "problem reported at %s first",
                n, (int)(strchr(n, '.') - n), n, missing);
        else if (hint)
            err(v, np, false, "unknown op '%s' (did you mean '%s'?)", n, hint);
        else
            err(v, np, false,
                "unknown op '%s'; 'mmx plugins' lists the ops of the plugins "
                "found, and a spec loads more with \"plugins\"",
                n);
        return;
    }
    const mmx_plugin *p = mmx_op_plugin(op);
    if (!is_shipped(p) && !g_ptr_array_find(v->spec->declared, p, NULL)) {
        err(v, np, false,
            "op '%s' is provided by plugin '%s' (%s), which this spec does not "
            "declare: add \"%s\" to \"plugins\"",
            n, mmx_plugin_name(p), mmx_plugin_path(p), mmx_plugin_name(p));
    }
    const mmx_op_desc *d = mmx_op_get_desc(op);
    g_autofree mmx_attr_value *values = g_new0(mmx_attr_value, d->n_attrs + 1);
    attr_report r = {v, rptr};
    mmx_attrs_from_json(op, obj, mmx__op_meta_keys, values, on_attr_error, &r);
    json_t *doc = json_object_get(obj, "doc");
    if (doc && !json_is_string(doc)) {
        g_autofree char *dp = mmx_json_pointer_append(rptr, "doc");
        err(v, dp, false, "\"doc\" is a string");
    }
    json_t *tie = json_object_get(obj, "tie");
    if (tie) {
        g_autofree char *tp = mmx_json_pointer_append(rptr, "tie");
        check_tie(v, op, tie, tp);
    }
}

/* A list of ops (stem, head, downsample). */
static void
check_op_list(vctx *v, json_t *list, const char *rptr, const char *what, bool nonempty)
{
    if (!json_is_array(list) || (nonempty && json_array_size(list) == 0)) {
        err(v, rptr, false, "\"%s\" is a %slist of ops: [{\"op\": NAME, ...}, ...]", what,
            nonempty ? "non-empty " : "");
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        g_autofree char *ep = mmx__pointer_index(rptr, i);
        check_op(v, e, ep);
    }
}

/* A slot: one op or a list of ops ([] is the identity, like leaving the slot out). */
static void
check_slot(vctx *v, json_t *slot, const char *rptr)
{
    if (json_is_array(slot)) {
        size_t i;
        json_t *e;
        json_array_foreach(slot, i, e)
        {
            g_autofree char *ep = mmx__pointer_index(rptr, i);
            check_op(v, e, ep);
        }
        return;
    }
    check_op(v, slot, rptr);
}

/* ---- blocks ---- */

static const char *const mixer_keys[] = {"axis",   "query", "key", "activation", "value",
                                         "output", "gate",  "doc", NULL};
static const char *const slot_names[] = {"query",  "key",  "activation", "value",
                                         "output", "gate", NULL};
static const char *const block_keys[] = {"norm",     "mixer",     "parallel", "layer_scale",
                                         "residual", "drop_path", "doc",      NULL};

static void
check_mixer(vctx *v, json_t *mixer, const char *rptr)
{
    if (!json_is_object(mixer)) {
        g_autofree char *got = got_text(mixer);
        err(v, rptr, false,
            "a mixer is an object with the slots query, key, activation, value, "
            "output (and gate); got %s",
            got);
        return;
    }
    check_keys(v, mixer, rptr, mixer_keys, "a mixer");
    json_t *axis = json_object_get(mixer, "axis");
    if (axis && !(json_is_string(axis) && (strcmp(json_string_value(axis), "token") == 0 ||
                                           strcmp(json_string_value(axis), "channel") == 0))) {
        g_autofree char *ap = mmx_json_pointer_append(rptr, "axis");
        g_autofree char *got = got_text(axis);
        err(v, ap, false, "\"axis\" of a mixer: expected \"token\" or \"channel\", got %s", got);
    }
    for (const char *const *s = slot_names; *s; s++) {
        json_t *slot = json_object_get(mixer, *s);
        if (slot == NULL)
            continue;
        g_autofree char *sp = mmx_json_pointer_append(rptr, *s);
        if (strcmp(*s, "gate") == 0 && json_is_array(slot) && json_array_size(slot) == 0) {
            err(v, sp, false, "\"gate\" needs at least one op (leave it out for no gate)");
            continue;
        }
        check_slot(v, slot, sp);
    }
}

static void
check_block(vctx *v, json_t *block, const char *rptr)
{
    if (!json_is_object(block)) {
        g_autofree char *got = got_text(block);
        err(v, rptr, false,
            "a block is an object {\"norm\", \"mixer\" or \"parallel\", ...}; got "
            "%s",
            got);
        return;
    }
    check_keys(v, block, rptr, block_keys, "a block");
    json_t *norm = json_object_get(block, "norm");
    if (norm) {
        g_autofree char *p = mmx_json_pointer_append(rptr, "norm");
        check_slot(v, norm, p);
    }
    json_t *mixer = json_object_get(block, "mixer"), *parallel = json_object_get(block, "parallel");
    if (mixer && parallel) {
        g_autofree char *p = mmx_json_pointer_append(rptr, "parallel");
        err(v, p, true, "a block has \"mixer\" or \"parallel\", not both");
    } else if (mixer == NULL && parallel == NULL) {
        err(v, rptr, false,
            "a block needs \"mixer\" (one mixer) or \"parallel\" (a list of "
            "mixers summed)");
    }
    if (mixer) {
        g_autofree char *p = mmx_json_pointer_append(rptr, "mixer");
        check_mixer(v, mixer, p);
    }
    if (parallel) {
        g_autofree char *p = mmx_json_pointer_append(rptr, "parallel");
        if (!json_is_array(parallel) || json_array_size(parallel) == 0) {
            err(v, p, false, "\"parallel\" is a non-empty list of mixers, summed");
        } else {
            size_t i;
            json_t *m;
            json_array_foreach(parallel, i, m)
            {
                g_autofree char *mp = mmx__pointer_index(p, i);
                check_mixer(v, m, mp);
            }
        }
    }
    json_t *ls = json_object_get(block, "layer_scale");
    if (ls) {
        g_autofree char *p = mmx_json_pointer_append(rptr, "layer_scale");
        if (json_is_object(ls))
            check_op(v, ls, p);
        else if (!json_is_number(ls) || !isfinite(json_number_value(ls))) {
            g_autofree char *got = got_text(ls);
            err(v, p, false,
                "\"layer_scale\" is a number (the initial scale, such as 1e-6) or an "
                "op; got %s",
                got);
        }
    }
    json_t *res = json_object_get(block, "residual");
    if (res && !json_is_boolean(res)) {
        g_autofree char *p = mmx_json_pointer_append(rptr, "residual");
        g_autofree char *got = got_text(res);
        err(v, p, false, "\"residual\" is true or false; got %s", got);
    }
    json_t *dp = json_object_get(block, "drop_path");
    if (dp && !(json_is_number(dp) && json_number_value(dp) >= 0 && json_number_value(dp) < 1)) {
        g_autofree char *p = mmx_json_pointer_append(rptr, "drop_path");
        g_autofree char *got = got_text(dp);
        err(v, p, false, "\"drop_path\" is a rate in [0, 1); got %s", got);
    }
}

static void
check_body(vctx *v, json_t *body, const char *rptr)
{
    if (!json_is_array(body) || json_array_size(body) == 0) {
        err(v, rptr, false, "\"body\" is a non-empty list of blocks");
        return;
    }
    size_t i;
    json_t *b;
    json_array_foreach(body, i, b)
    {
        g_autofree char *bp = mmx__pointer_index(rptr, i);
        check_block(v, b, bp);
    }
}

static void
check_blocks(vctx *v, json_t *blocks)
{
    if (json_is_array(blocks)) { /* a plain list: repeat 1 */
        check_body(v, blocks, "/blocks");
        return;
    }
    if (!json_is_object(blocks)) {
        err(v, "/blocks", false,
            "\"blocks\" is {\"repeat\": N, \"body\": [blocks...]} or a list "
            "of blocks");
        return;
    }
    static const char *const keys[] = {"repeat", "body", "doc", NULL};
    check_keys(v, blocks, "/blocks", keys, "\"blocks\"");
    int64_t r;
    get_int(v, blocks, "/blocks", "repeat", 0, 100000, false, "\"blocks\"", &r);
    json_t *body = json_object_get(blocks, "body");
    if (body == NULL)
        err(v, "/blocks", false, "\"blocks\" needs \"body\": the list of blocks to repeat");
    else
        check_body(v, body, "/blocks/body");
}

static void
check_stages(vctx *v, json_t *stages)
{
    if (!json_is_array(stages) || json_array_size(stages) == 0) {
        err(v, "/stages", false,
            "\"stages\" is a non-empty list of {\"depth\", \"width\", "
            "\"downsample\", \"body\"}");
        return;
    }
    static const char *const keys[] = {"depth", "width", "downsample", "body", "doc", NULL};
    size_t i;
    json_t *s;
    json_array_foreach(stages, i, s)
    {
        g_autofree char *sp = mmx__pointer_index("/stages", i);
        if (!json_is_object(s)) {
            err(v, sp, false,
                "a stage is an object {\"depth\", \"width\", \"downsample\", "
                "\"body\"}");
            continue;
        }
        check_keys(v, s, sp, keys, "a stage");
        int64_t n;
        get_int(v, s, sp, "depth", 0, 100000, true, "a stage", &n);
        get_int(v, s, sp, "width", 1, 1 << 20, false, "a stage", &n);
        json_t *ds = json_object_get(s, "downsample");
        if (ds) {
            g_autofree char *dp = mmx_json_pointer_append(sp, "downsample");
            check_op_list(v, ds, dp, "downsample", false);
        }
        json_t *body = json_object_get(s, "body");
        g_autofree char *bp = mmx_json_pointer_append(sp, "body");
        if (body == NULL)
            err(v, sp, false, "a stage needs \"body\": the list of blocks repeated depth times");
        else
            check_body(v, body, bp);
    }
}

/* ---- train ---- */

typedef enum { T_INT, T_NUM, T_BOOL, T_STR, T_CHOICE } tkind;

typedef struct tkey {
    const char *name;
    tkind kind;
    double lo, hi;
    bool lo_open, hi_open;
    const char *const *choices;
} tkey;

static const char *const optimizers[] = {"adamw", "sgd", NULL};
static const char *const schedules[] = {"cosine", "constant", NULL};
static const char *const tasks[] = {"classify", "lm", NULL};

/* The recipe's keys, their types and ranges (docs/spec-format.md, section train). */
static const tkey train_keys[] = {
    {"epochs", T_INT, 1, 100000, false, false, NULL},
    {"batch", T_INT, 1, 65536, false, false, NULL},
    {"optimizer", T_CHOICE, 0, 0, false, false, optimizers},
    {"lr", T_NUM, 0, 10, true, false, NULL},
    {"wd", T_NUM, 0, 10, false, false, NULL},
    {"momentum", T_NUM, 0, 1, false, true, NULL},
    {"nesterov", T_BOOL, 0, 0, false, false, NULL},
    {"warmup", T_NUM, 0, 100000, false, false, NULL},
    {"schedule", T_CHOICE, 0, 0, false, false, schedules},
    {"label_smoothing", T_NUM, 0, 1, false, true, NULL},
    {"clip", T_NUM, 0, 1e6, false, false, NULL},
    {"augment", T_STR, 0, 0, false, false, NULL}, /* an object: checked apart */
    {"data", T_STR, 0, 0, false, false, NULL},
    {"val_split", T_NUM, 0, 1, false, true, NULL},
    {"seed", T_INT, 0, 9007199254740992.0, false, false, NULL},
    {"task", T_CHOICE, 0, 0, false, false, tasks},
    {"context", T_INT, 1, 65536, false, false, NULL},
    {"windows", T_INT, 1, 1e9, false, false, NULL},
    {"checkpoint_every", T_INT, 0, 100000, false, false, NULL},
};

static void
check_train_value(vctx *v, const tkey *k, json_t *j, const char *rptr)
{
    g_autofree char *got = got_text(j);
    g_autofree char *range =
        g_strdup_printf("%s%g, %g%s", k->lo_open ? "(" : "[", k->lo, k->hi, k->hi_open ? ")" : "]");
    int64_t i;
    double x = json_is_number(j) ? json_number_value(j) : NAN;
    bool in = isfinite(x) && (k->lo_open ? x > k->lo : x >= k->lo) &&
              (k->hi_open ? x < k->hi : x <= k->hi);
    switch (k->kind) {
    case T_INT:
        if (!as_int(j, &i) || !in)
            err(v, rptr, false, "\"%s\": expected an integer in %s, got %s", k->name, range, got);
        break;
    case T_NUM:
        if (!in)
            err(v, rptr, false, "\"%s\": expected a number in %s, got %s", k->name, range, got);
        break;
    case T_BOOL:
        if (!json_is_boolean(j))
            err(v, rptr, false, "\"%s\": expected true or false, got %s", k->name, got);
        break;
    case T_STR:
        if (!json_is_string(j) || *json_string_value(j) == '\0')
            err(v, rptr, false, "\"%s\": expected a non-empty string, got %s", k->name, got);
        break;
    case T_CHOICE:
        if (!json_is_string(j) || !g_strv_contains(k->choices, json_string_value(j))) {
            g_autofree char *list = join(k->choices);
            const char *hint =
                json_is_string(j) ? mmx_suggest(json_string_value(j), k->choices) : NULL;
            err(v, rptr, false, "\"%s\": expected one of %s, got %s%s%s%s", k->name, list, got,
                hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        }
        break;
    }
}

static void
check_train(vctx *v, json_t *train)
{
    if (!json_is_object(train)) {
        err(v, "/train", false, "\"train\" is an object: the training recipe");
        return;
    }
    const char *names[G_N_ELEMENTS(train_keys) + 1];
    for (size_t i = 0; i < G_N_ELEMENTS(train_keys); i++)
        names[i] = train_keys[i].name;
    names[G_N_ELEMENTS(train_keys)] = NULL;
    check_keys(v, train, "/train", names, "\"train\"");
    for (size_t i = 0; i < G_N_ELEMENTS(train_keys); i++) {
        const tkey *k = &train_keys[i];
        json_t *j = json_object_get(train, k->name);
        if (j == NULL)
            continue;
        g_autofree char *kp = mmx_json_pointer_append("/train", k->name);
        if (strcmp(k->name, "augment") != 0) {
            check_train_value(v, k, j, kp);
            continue;
        }
        if (!json_is_object(j)) {
            err(v, kp, false,
                "\"augment\" is an object {\"crop\": padding in pixels, \"flip\": "
                "true or false}");
            continue;
        }
        static const char *const aug[] = {"crop", "flip", NULL};
        check_keys(v, j, kp, aug, "\"augment\"");
        static const tkey crop = {"crop", T_INT, 0, 64, false, false, NULL};
        static const tkey flip = {"flip", T_BOOL, 0, 0, false, false, NULL};
        json_t *c = json_object_get(j, "crop"), *f = json_object_get(j, "flip");
        g_autofree char *cp = mmx_json_pointer_append(kp, "crop");
        g_autofree char *fp = mmx_json_pointer_append(kp, "flip");
        if (c)
            check_train_value(v, &crop, c, cp);
        if (f)
            check_train_value(v, &flip, f, fp);
    }
    json_t *w = json_object_get(train, "warmup"), *e = json_object_get(train, "epochs");
    if (json_is_number(w) && json_is_number(e) && json_number_value(w) > json_number_value(e))
        err(v, "/train/warmup", false, "\"warmup\" (%g epochs) is longer than \"epochs\" (%g)",
            json_number_value(w), json_number_value(e));
}

/* ---- the document ---- */

static const char *const top_keys[] = {"mmx",  "name",  "doc",  "plugins", "input",
                                       "vars", "defs",  "stem", "stages",  "blocks",
                                       "head", "train", NULL};

static bool
valid_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!(g_ascii_isalnum(*s) || *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

static void
check_input(vctx *v, json_t *input)
{
    if (input == NULL) {
        err(v, "", false, "missing \"input\": {\"shape\": [H, W, C], \"classes\": N}");
        return;
    }
    if (!json_is_object(input)) {
        err(v, "/input", false, "\"input\" is {\"shape\": [H, W, C], \"classes\": N}");
        return;
    }
    static const char *const keys[] = {"shape", "classes", NULL};
    check_keys(v, input, "/input", keys, "\"input\"");
    json_t *shape = json_object_get(input, "shape");
    int64_t d[3] = {0, 0, 0};
    bool ok = json_is_array(shape) && json_array_size(shape) == 3;
    for (size_t i = 0; ok && i < 3; i++)
        ok = as_int(json_array_get(shape, i), &d[i]) && d[i] >= 1 && d[i] <= 65536;
    if (shape == NULL) {
        err(v, "/input", false, "\"input\" needs \"shape\": [H, W, C] (height, width, channels)");
    } else if (!ok) {
        g_autofree char *got = got_text(shape);
        err(v, "/input/shape", false,
            "\"shape\": expected [H, W, C], three integers in [1, "
            "65536], got %s",
            got);
    } else if (d[0] * d[1] * d[2] > ((int64_t)1 << 28)) {
        err(v, "/input/shape", false,
            "\"shape\": %" PRId64 " x %" PRId64 " x %" PRId64
            " is more than 2^28 values per sample",
            d[0], d[1], d[2]);
    } else {
        v->spec->input = mmx_shape_tokens(d[0], d[1], d[2]);
    }
    int64_t classes;
    if (get_int(v, input, "/input", "classes", 2, 1 << 20, true, "\"input\"", &classes))
        v->spec->classes = (int)classes;
}

static void
check_document(vctx *v)
{
    json_t *doc = v->spec->resolved;
    check_keys(v, doc, "", top_keys, "a model spec");
    json_t *version = json_object_get(doc, "mmx");
    int64_t ver;
    if (version == NULL)
        err(v, "", false, "missing \"mmx\": the format version (%d)", MMX_SPEC_FORMAT_VERSION);
    else if (!as_int(version, &ver) || ver != MMX_SPEC_FORMAT_VERSION) {
        g_autofree char *got = got_text(version);
        err(v, "/mmx", false, "format version %s is not supported: this mmx reads version %d", got,
            MMX_SPEC_FORMAT_VERSION);
    }
    json_t *name = json_object_get(doc, "name");
    if (name == NULL)
        err(v, "", false, "missing \"name\": the model's name (letters, digits, '-', '_', '.')");
    else if (!json_is_string(name) || !valid_name(json_string_value(name))) {
        g_autofree char *got = got_text(name);
        err(v, "/name", false, "\"name\": expected letters, digits, '-', '_' and '.', got %s", got);
    } else {
        v->spec->name = g_strdup(json_string_value(name));
    }
    json_t *docs = json_object_get(doc, "doc");
    if (docs && !json_is_string(docs))
        err(v, "/doc", false, "\"doc\" is a string");
    check_plugins(v, json_object_get(doc, "plugins"));
    check_input(v, json_object_get(doc, "input"));
    json_t *stem = json_object_get(doc, "stem");
    if (stem)
        check_op_list(v, stem, "/stem", "stem", false);
    json_t *stages = json_object_get(doc, "stages"), *blocks = json_object_get(doc, "blocks");
    if (stages && blocks)
        err(v, "/blocks", true, "a model has \"stages\" or \"blocks\", not both");
    if (stages)
        check_stages(v, stages);
    if (blocks)
        check_blocks(v, blocks);
    json_t *head = json_object_get(doc, "head");
    if (head == NULL)
        err(v, "", false,
            "missing \"head\": the ops from the last block to the logits (such as "
            "[{\"op\": \"mean_tokens\"}, {\"op\": \"linear\", \"out\": 10}])");
    else
        check_op_list(v, head, "/head", "head", true);
    json_t *train = json_object_get(doc, "train");
    if (train)
        check_train(v, train);
}

/* ---- the API ---- */

void
mmx_spec_free(mmx_spec *spec)
{
    if (spec == NULL)
        return;
    mmx_json_file_free(spec->file);
    g_free(spec->path);
    g_free(spec->dir);
    json_decref(spec->doc);
    if (spec->overrides)
        g_ptr_array_unref(spec->overrides);
    json_decref(spec->resolved);
    if (spec->origin)
        g_hash_table_unref(spec->origin);
    if (spec->poisoned)
        g_hash_table_unref(spec->poisoned);
    if (spec->train_owned)
        json_decref(spec->train);
    g_free(spec->name);
    if (spec->declared)
        g_ptr_array_unref(spec->declared);
    g_free(spec);
}

static void
override_free(gpointer data)
{
    mmx__override *o = data;
    g_free(o->text);
    g_free(o->ptr);
    g_free(o);
}

mmx_spec *
mmx_spec_new(mmx_registry *reg, mmx_json_file *file, const char *const *overrides, mmx_diags *diags)
{
    g_return_val_if_fail(reg != NULL && file != NULL && diags != NULL, NULL);
    g_autoptr(mmx_spec) spec = g_new0(mmx_spec, 1);
    spec->reg = reg;
    spec->file = file;
    spec->path = g_strdup(mmx_json_file_name(file));
    g_autofree char *dir = g_path_get_dirname(spec->path);
    spec->dir = g_canonicalize_filename(dir, NULL); /* absolute: relative to the cwd */
    spec->overrides = g_ptr_array_new_with_free_func(override_free);
    spec->poisoned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    spec->declared = g_ptr_array_new();
    json_t *root = mmx_json_file_root(file);
    if (!json_is_object(root)) {
        mmx__spec_report_origin(spec, diags, "", NULL, false,
                                "a model spec is a JSON object {\"mmx\": 1, \"name\": ...}");
        return NULL;
    }
    if (json_object_get(root, "mmx_sweep") && !json_object_get(root, "mmx")) {
        mmx__spec_report_origin(spec, diags, "/mmx_sweep", NULL, true,
                                "this is a sweep spec, not a model spec ('mmx sweep' runs it)");
        return NULL;
    }
    spec->doc = json_deep_copy(root);
    bool ok = true;
    for (const char *const *o = overrides; o && *o; o++) {
        g_autoptr(GError) error = NULL;
        if (!mmx_json_apply_override(spec->doc, *o, &error)) {
            mmx_diags_add(diags, spec->path, 0, 0, NULL, "%s", error->message);
            ok = false;
            continue;
        }
        mmx__override *ov = g_new0(mmx__override, 1);
        ov->text = g_strdup(*o);
        ov->ptr = g_strndup(*o, (gsize)(strchr(*o, '=') - *o));
        g_ptr_array_add(spec->overrides, ov);
    }
    ok = mmx__spec_resolve(spec, diags) && ok;
    vctx v = {spec, diags, true};
    check_document(&v);
    if (!ok || !v.ok)
        return NULL;
    json_t *train = json_object_get(spec->resolved, "train");
    if (train) {
        spec->train = train;
    } else {
        spec->train = json_object();
        spec->train_owned = true;
    }
    return g_steal_pointer(&spec);
}

mmx_spec *
mmx_spec_load(mmx_registry *reg, const char *path, const char *const *overrides, GError **error)
{
    g_return_val_if_fail(reg != NULL && path != NULL, NULL);
    g_autoptr(mmx_diags) diags = mmx_diags_new();
    mmx_json_file *file = mmx_json_file_load(path, diags);
    mmx_spec *spec = file ? mmx_spec_new(reg, file, overrides, diags) : NULL;
    if (spec == NULL)
        mmx_diags_to_gerror(diags, error);
    return spec;
}

mmx_spec *
mmx_spec_load_json(mmx_registry *reg, json_t *doc, const char *origin, const char *const *overrides,
                   GError **error)
{
    g_return_val_if_fail(reg != NULL && doc != NULL && origin != NULL, NULL);
    g_autoptr(mmx_diags) diags = mmx_diags_new();
    mmx_spec *spec = mmx_spec_new(reg, mmx_json_file_new(doc, origin), overrides, diags);
    if (spec == NULL)
        mmx_diags_to_gerror(diags, error);
    return spec;
}

const char *
mmx_spec_name(const mmx_spec *spec)
{
    return spec->name;
}

const char *
mmx_spec_path(const mmx_spec *spec)
{
    return spec->path;
}

json_t *
mmx_spec_resolved(const mmx_spec *spec)
{
    return spec->resolved;
}

json_t *
mmx_spec_train(const mmx_spec *spec)
{
    return spec->train;
}

mmx_shape
mmx_spec_input_shape(const mmx_spec *spec)
{
    return spec->input;
}

bool
mmx_spec_is_lm(const mmx_spec *spec)
{
    json_t *train = json_object_get(spec->resolved, "train");
    const char *task = json_string_value(json_object_get(train, "task"));
    return task != NULL && strcmp(task, "lm") == 0;
}

int
mmx_spec_classes(const mmx_spec *spec)
{
    return spec->classes;
}

mmx_registry *
mmx_spec_registry(const mmx_spec *spec)
{
    return spec->reg;
}
