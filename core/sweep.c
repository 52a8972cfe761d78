/* sweep.c: the sweep spec reader.
 *
 * A sweep spec is JSON (docs/sweeps.md): `mmx_sweep` (format version 1), `name`, `doc`,
 * `base` (the model spec, relative to the sweep file), `train` (merged into the base
 * spec's /train), `seeds`, and the sections that say what varies: `grid`, `zip`,
 * `random`, `ablation`, `variants`; `constraints` bound params and FLOPs.
 *
 * Design: Jansson parses (rejecting duplicate keys); a checking pass walks the tree and
 * collects every problem before it stops, each as "file:line:col: /pointer: message".
 * Jansson keeps no positions after parsing, so positions come from the spec reader's
 * position index (mmx_json_file_position over the same text).
 */
#include "sweep-private.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

// clang-format off
G_DEFINE_QUARK(mmx-sweep-error-quark, mmx_sweep_error)
// clang-format on

/* ---- the hash of ids and fingerprints ---- */

char *
mmx__sha256_hex(const void *data, gsize length, gsize len)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(sum, data, (gssize)length);
    const char *hex = g_checksum_get_string(sum);
    return g_strndup(hex, len);
}

/* ---- the checking pass ---- */

typedef struct reader {
    const char *path;    /* as given, for messages */
    mmx_json_file *file; /* the text's position index */
    GString *errors;
    int count;
} reader;

static void G_GNUC_PRINTF(3, 4) rerr(reader *r, const char *pointer, const char *fmt, ...)
{
    int line = 1, col = 1;
    if (!mmx_json_file_position(r->file, pointer, false, &line, &col) || line < 1) {
        line = 1;
        col = 1;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (r->count++)
        g_string_append_c(r->errors, '\n');
    g_string_append_printf(r->errors, "%s:%d:%d: %s: %s", r->path, line, col,
                           *pointer ? pointer : "/", msg);
}


/* The sweep's messages tell integers from other numbers (seeds and counts are integers). */
static const char *
json_kind(const json_t *v)
{
    return json_is_integer(v) ? "an integer" : mmx_json_kind(v);
}

/* Unknown keys of an object, with a suggestion. */
static void
check_keys(reader *r, const char *ptr, const json_t *obj, const char *const *known,
           const char *what)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok = ok || strcmp(*k, key) == 0;
        if (ok)
            continue;
        g_autofree char *p = mmx_json_pointer_append(ptr, key);
        g_autofree char *list = g_strjoinv(", ", (char **)known);
        const char *hint = mmx_suggest(key, known);
        g_autofree char *dym = hint ? g_strdup_printf(" (did you mean '%s'?)", hint) : NULL;
        rerr(r, p, "unknown key '%s' in %s%s; expected one of: %s", key, what, dym ? dym : "",
             list);
    }
}

/* A JSON Pointer written in the sweep: starts with '/', '~' only as ~0 or ~1. */
static bool
check_pointer(reader *r, const char *ptr, const char *pointer)
{
    if (pointer[0] != '/') {
        rerr(r, ptr, "'%s' is not a JSON Pointer: it must start with '/' (e.g. \"/train/lr\")",
             pointer);
        return false;
    }
    for (const char *c = pointer; *c; c++) {
        if (*c == '~' && c[1] != '0' && c[1] != '1') {
            rerr(r, ptr, "'%s' is not a JSON Pointer: '~' must be followed by 0 or 1", pointer);
            return false;
        }
    }
    return true;
}

static bool
is_number(const json_t *v)
{
    return json_is_integer(v) || json_is_real(v);
}

/* An object of pointer -> value (ablation baseline and changes, variant "set"). */
static void
check_sets(reader *r, const char *ptr, const json_t *v, bool allow_empty)
{
    if (!json_is_object(v)) {
        rerr(r, ptr, "expected an object of JSON Pointer -> value, got %s", json_kind(v));
        return;
    }
    if (!allow_empty && json_object_size(v) == 0)
        rerr(r, ptr, "expected at least one JSON Pointer -> value");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        g_autofree char *p = mmx_json_pointer_append(ptr, key);
        check_pointer(r, p, key);
    }
}

static void
check_name(reader *r, const char *ptr, const char *name, const char *what)
{
    if (*name == '\0') {
        rerr(r, ptr, "%s names must not be empty", what);
        return;
    }
    for (const char *c = name; *c; c++) {
        if (!g_ascii_isalnum(*c) && !strchr("._-+=", *c)) {
            rerr(r, ptr, "%s name '%s': use letters, digits and . _ - + = only", what, name);
            return;
        }
    }
}

static void
check_value_list(reader *r, const char *ptr, const json_t *v)
{
    if (!json_is_array(v))
        rerr(r, ptr, "expected an array of values, got %s", json_kind(v));
    else if (json_array_size(v) == 0)
        rerr(r, ptr, "expected at least one value");
}

static void
check_grid(reader *r, const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) == 0) {
        rerr(r, "/grid", "expected an object of JSON Pointer -> array of values, got %s",
             json_is_object(v) ? "an empty object" : json_kind(v));
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        g_autofree char *p = mmx_json_pointer_append("/grid", key);
        if (check_pointer(r, p, key))
            check_value_list(r, p, val);
    }
}

static void
check_zip(reader *r, const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) == 0) {
        rerr(r, "/zip", "expected an object of JSON Pointer -> array of values, got %s",
             json_is_object(v) ? "an empty object" : json_kind(v));
        return;
    }
    const char *key, *first = NULL;
    json_t *val;
    size_t n = 0;
    json_object_foreach((json_t *)v, key, val)
    {
        g_autofree char *p = mmx_json_pointer_append("/zip", key);
        if (!check_pointer(r, p, key))
            continue;
        check_value_list(r, p, val);
        if (!json_is_array(val))
            continue;
        if (first == NULL) {
            first = key;
            n = json_array_size(val);
        } else if (json_array_size(val) != n) {
            rerr(r, p, "zip axes move together: %zu values here, %zu in '%s'", json_array_size(val),
                 n, first);
        }
    }
}

static void
check_random(reader *r, const json_t *v)
{
    static const char *const keys[] = {"n", "sampler_seed", "axes", NULL};
    if (!json_is_object(v)) {
        rerr(r, "/random", "expected an object {\"n\", \"sampler_seed\", \"axes\"}, got %s",
             json_kind(v));
        return;
    }
    check_keys(r, "/random", v, keys, "random");
    json_t *n = json_object_get(v, "n");
    if (n == NULL)
        rerr(r, "/random", "missing key 'n' (the number of samples)");
    else if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > 100000)
        rerr(r, "/random/n", "expected an integer from 1 to 100000");
    json_t *seed = json_object_get(v, "sampler_seed");
    if (seed == NULL)
        rerr(r, "/random",
             "missing key 'sampler_seed' (samples are drawn from it, so the "
             "plan is the same every time)");
    else if (!json_is_integer(seed) || json_integer_value(seed) < 0)
        rerr(r, "/random/sampler_seed", "expected a non-negative integer");
    json_t *axes = json_object_get(v, "axes");
    if (axes == NULL) {
        rerr(r, "/random", "missing key 'axes' (JSON Pointer -> list or {\"min\", \"max\"})");
        return;
    }
    if (!json_is_object(axes) || json_object_size(axes) == 0) {
        rerr(r, "/random/axes", "expected an object of JSON Pointer -> list or range");
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(axes, key, val)
    {
        g_autofree char *p = mmx_json_pointer_append("/random/axes", key);
        if (!check_pointer(r, p, key))
            continue;
        if (json_is_array(val)) {
            check_value_list(r, p, val);
            continue;
        }
        if (!json_is_object(val)) {
            rerr(r, p,
                 "expected a list of values or a range {\"min\", \"max\", \"log\", "
                 "\"int\"}, got %s",
                 json_kind(val));
            continue;
        }
        static const char *const rkeys[] = {"min", "max", "log", "int", NULL};
        check_keys(r, p, val, rkeys, "a range");
        json_t *lo = json_object_get(val, "min"), *hi = json_object_get(val, "max");
        if (!lo || !hi || !is_number(lo) || !is_number(hi)) {
            rerr(r, p, "a range needs numbers 'min' and 'max'");
            continue;
        }
        double a = json_number_value(lo), b = json_number_value(hi);
        if (!(a <= b))
            rerr(r, p, "range min %g is above max %g", a, b);
        json_t *lg = json_object_get(val, "log"), *in = json_object_get(val, "int");
        if (lg && !json_is_boolean(lg))
            rerr(r, p, "'log' must be true or false");
        if (in && !json_is_boolean(in))
            rerr(r, p, "'int' must be true or false");
        if (json_is_true(lg) && a <= 0)
            rerr(r, p, "a log range needs min > 0, got %g", a);
    }
}

static void
check_ablation(reader *r, const json_t *v)
{
    static const char *const keys[] = {"baseline", "changes", NULL};
    if (!json_is_object(v)) {
        rerr(r, "/ablation", "expected an object {\"baseline\", \"changes\"}, got %s",
             json_kind(v));
        return;
    }
    check_keys(r, "/ablation", v, keys, "ablation");
    json_t *base = json_object_get(v, "baseline");
    if (base)
        check_sets(r, "/ablation/baseline", base, true);
    json_t *changes = json_object_get(v, "changes");
    if (changes == NULL) {
        rerr(r, "/ablation", "missing key 'changes' (name -> {JSON Pointer: value})");
        return;
    }
    if (!json_is_object(changes) || json_object_size(changes) == 0) {
        rerr(r, "/ablation/changes",
             "expected an object of name -> {JSON Pointer: value} with "
             "at least one change");
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(changes, key, val)
    {
        g_autofree char *p = mmx_json_pointer_append("/ablation/changes", key);
        check_name(r, p, key, "change");
        if (strcmp(key, "baseline") == 0)
            rerr(r, p, "'baseline' is the name of the unchanged variant; pick another name");
        check_sets(r, p, val, false);
    }
}

static void
check_variants(reader *r, const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) == 0) {
        rerr(r, "/variants", "expected an object of name -> {\"merge\" | \"patch\" | \"set\"}");
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        g_autofree char *p = mmx_json_pointer_append("/variants", key);
        check_name(r, p, key, "variant");
        if (!json_is_object(val)) {
            rerr(r, p,
                 "expected an object with one of \"merge\" (RFC 7396 merge patch), "
                 "\"patch\" (RFC 6902 JSON patch) or \"set\" (JSON Pointer -> value), "
                 "got %s",
                 json_kind(val));
            continue;
        }
        static const char *const keys[] = {"base", "merge", "patch", "set", "doc", NULL};
        check_keys(r, p, val, keys, "a variant");
        int kinds = 0;
        json_t *vb = json_object_get(val, "base");
        if (vb && (!json_is_string(vb) || json_string_length(vb) == 0)) {
            g_autofree char *q = mmx_json_pointer_append(p, "base");
            rerr(r, q, "expected a path to a model spec, got %s", json_kind(vb));
        }
        json_t *m = json_object_get(val, "merge");
        if (m) {
            kinds++;
            if (!json_is_object(m)) {
                g_autofree char *q = mmx_json_pointer_append(p, "merge");
                rerr(r, q, "a merge patch must be an object, got %s", json_kind(m));
            }
        }
        json_t *pa = json_object_get(val, "patch");
        if (pa) {
            kinds++;
            g_autofree char *q = mmx_json_pointer_append(p, "patch");
            if (!json_is_array(pa)) {
                rerr(r, q, "a JSON patch must be an array of operations, got %s", json_kind(pa));
            } else {
                size_t i;
                json_t *op;
                json_array_foreach(pa, i, op)
                {
                    g_autofree char *o = g_strdup_printf("%s/%zu", q, i);
                    const char *name = json_string_value(json_object_get(op, "op"));
                    static const char *const ops[] = {"add",  "remove", "replace", "move",
                                                      "copy", "test",   NULL};
                    if (!json_is_object(op) || name == NULL) {
                        rerr(r, o, "expected an operation {\"op\", \"path\", ...}");
                        continue;
                    }
                    if (!g_strv_contains(ops, name)) {
                        const char *hint = mmx_suggest(name, ops);
                        rerr(r, o,
                             "unknown JSON patch op '%s'%s%s%s; expected add, remove, "
                             "replace, move, copy or test",
                             name, hint ? " (did you mean '" : "", hint ? hint : "",
                             hint ? "'?)" : "");
                        continue;
                    }
                    const char *path = json_string_value(json_object_get(op, "path"));
                    if (path == NULL) {
                        rerr(r, o, "JSON patch op '%s' needs a string 'path'", name);
                        continue;
                    }
                    if (*path && !check_pointer(r, o, path))
                        continue;
                    bool needs_value =
                        !strcmp(name, "add") || !strcmp(name, "replace") || !strcmp(name, "test");
                    if (needs_value && !json_object_get(op, "value"))
                        rerr(r, o, "JSON patch op '%s' needs a 'value'", name);
                    bool needs_from = !strcmp(name, "move") || !strcmp(name, "copy");
                    if (needs_from && !json_is_string(json_object_get(op, "from")))
                        rerr(r, o, "JSON patch op '%s' needs a string 'from'", name);
                }
            }
        }
        json_t *set = json_object_get(val, "set");
        if (set) {
            kinds++;
            g_autofree char *q = mmx_json_pointer_append(p, "set");
            check_sets(r, q, set, false);
        }
        if (kinds == 0 && !vb)
            rerr(r, p, "a variant needs \"base\", \"merge\", \"patch\" or \"set\"");
        else if (kinds > 1)
            rerr(r, p, "a variant has one of \"merge\", \"patch\" or \"set\", not several");
    }
}

static void
check_constraints(reader *r, const json_t *v)
{
    static const char *const keys[] = {"max_params", "max_flops", NULL};
    if (!json_is_object(v)) {
        rerr(r, "/constraints", "expected an object {\"max_params\", \"max_flops\"}, got %s",
             json_kind(v));
        return;
    }
    check_keys(r, "/constraints", v, keys, "constraints");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        g_autofree char *p = mmx_json_pointer_append("/constraints", key);
        if (g_strv_contains(keys, key) && (!is_number(val) || !(json_number_value(val) > 0)))
            rerr(r, p, "expected a positive number");
    }
}

bool
mmx__prune_metric_maximized(const char *metric, bool *known)
{
    static const char *const up[] = {"test_acc", "val_acc", "train_acc", NULL};
    static const char *const down[] = {"test_loss", "val_loss", "train_loss", "val_bpb",
                                       "val_ppl", NULL};
    *known = g_strv_contains(up, metric) || g_strv_contains(down, metric);
    return g_strv_contains(up, metric);
}

int
mmx__spec_epochs(const json_t *spec)
{
    json_t *e = json_object_get(json_object_get(spec, "train"), "epochs");
    return json_is_integer(e) ? (int)json_integer_value(e) : MMX__DEFAULT_EPOCHS;
}

/* "prune": {"rule", "metric", "direction", "grace", "eta", "startup"} (sweep-prune.c).
 * epochs: the base spec's (after `train`), to check grace against. */
static void
check_prune(reader *r, const json_t *v, int epochs)
{
    static const char *const keys[] = {"rule", "metric", "direction", "grace", "eta", "startup",
                                       "doc", NULL};
    if (!json_is_object(v)) {
        rerr(r, "/prune", "expected an object {\"rule\": \"median\" | \"asha\", \"metric\", ...}, "
             "got %s", json_kind(v));
        return;
    }
    check_keys(r, "/prune", v, keys, "prune");
    static const char *const rules[] = {"median", "asha", NULL};
    json_t *rule = json_object_get(v, "rule");
    const char *rname = json_string_value(rule);
    if (rule == NULL) {
        rerr(r, "/prune", "missing key 'rule' (\"median\" or \"asha\")");
    } else if (rname == NULL) {
        rerr(r, "/prune/rule", "expected \"median\" or \"asha\", got %s", json_kind(rule));
    } else if (!g_strv_contains(rules, rname)) {
        const char *hint = mmx_suggest(rname, rules);
        g_autofree char *dym = hint ? g_strdup_printf(" (did you mean '%s'?)", hint) : NULL;
        rerr(r, "/prune/rule", "unknown pruning rule '%s'%s; expected \"median\" or \"asha\"",
             rname, dym ? dym : "");
        rname = NULL;
    }
    static const char *const metrics[] = {"test_acc", "test_loss", "val_acc",    "val_loss",
                                          "val_bpb",  "val_ppl",   "train_acc", "train_loss",
                                          NULL};
    json_t *metric = json_object_get(v, "metric");
    const char *mname = json_string_value(metric);
    bool known = false;
    if (mname)
        mmx__prune_metric_maximized(mname, &known);
    if (metric == NULL) {
        rerr(r, "/prune", "missing key 'metric' (a figure of each epoch's metrics.jsonl line, "
             "e.g. \"test_acc\")");
    } else if (!known) {
        const char *hint = mname ? mmx_suggest(mname, metrics) : NULL;
        g_autofree char *dym = hint ? g_strdup_printf(" (did you mean '%s'?)", hint) : NULL;
        g_autofree char *list = g_strjoinv(", ", (char **)metrics);
        g_autofree char *what =
            mname ? g_strdup_printf("'%s' is not", mname) : g_strdup_printf("%s is not", json_kind(metric));
        rerr(r, "/prune/metric", "%s a metric of metrics.jsonl%s; expected one of: %s", what,
             dym ? dym : "", list);
    }
    json_t *dir = json_object_get(v, "direction");
    const char *dname = json_string_value(dir);
    if (dir && (dname == NULL || (strcmp(dname, "max") != 0 && strcmp(dname, "min") != 0)))
        rerr(r, "/prune/direction", "expected \"max\" (higher is better) or \"min\", got %s",
             dname ? dname : json_kind(dir));
    json_t *grace = json_object_get(v, "grace");
    if (grace && (!json_is_integer(grace) || json_integer_value(grace) < 1))
        rerr(r, "/prune/grace", "expected an integer epoch from 1 (the first decision comes "
             "after it), got %s", json_is_integer(grace) ? "a smaller one" : json_kind(grace));
    else if (grace && epochs > 0 && json_integer_value(grace) >= epochs)
        rerr(r, "/prune/grace",
             "the first decision comes after epoch %lld, but the trials train %d epochs: nothing "
             "would be pruned; lower grace or train longer",
             (long long)json_integer_value(grace), epochs);
    json_t *eta = json_object_get(v, "eta");
    if (eta && rname && strcmp(rname, "asha") != 0)
        rerr(r, "/prune/eta", "'eta' is a setting of the asha rule, not of %s", rname);
    else if (eta && (!json_is_integer(eta) || json_integer_value(eta) < 2 ||
                     json_integer_value(eta) > 100))
        rerr(r, "/prune/eta", "expected an integer from 2 to 100 (1/eta of a rung goes on), got %s",
             json_is_integer(eta) ? "one outside" : json_kind(eta));
    json_t *startup = json_object_get(v, "startup");
    if (startup && rname && strcmp(rname, "median") != 0)
        rerr(r, "/prune/startup", "'startup' is a setting of the median rule, not of %s", rname);
    else if (startup && (!json_is_integer(startup) || json_integer_value(startup) < 0))
        rerr(r, "/prune/startup",
             "expected a non-negative integer (completed variants before pruning starts), got %s",
             json_is_integer(startup) ? "a negative one" : json_kind(startup));
    json_t *doc = json_object_get(v, "doc");
    if (doc && !json_is_string(doc))
        rerr(r, "/prune/doc", "expected a string, got %s", json_kind(doc));
}

static void
check_seeds(reader *r, const json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) == 0) {
        rerr(r, "/seeds", "expected a non-empty array of integers, got %s",
             json_is_array(v) ? "an empty array" : json_kind(v));
        return;
    }
    size_t i, j;
    json_t *s;
    json_array_foreach((json_t *)v, i, s)
    {
        g_autofree char *p = g_strdup_printf("/seeds/%zu", i);
        if (json_is_integer(s) && json_integer_value(s) < 0) {
            rerr(r, p, "a seed is a non-negative integer, got %lld",
                 (long long)json_integer_value(s));
            continue;
        }
        if (!json_is_integer(s)) {
            rerr(r, p, "a seed is a non-negative integer, got %s", json_kind(s));
            continue;
        }
        for (j = 0; j < i; j++) {
            if (json_equal(json_array_get(v, j), s)) {
                rerr(r, p, "seed %lld is listed twice", (long long)json_integer_value(s));
                break;
            }
        }
    }
}

static bool
check_root(reader *r, const json_t *root)
{
    static const char *const keys[] = {"mmx_sweep", "name",        "doc", "base",   "train",
                                       "seeds",     "grid",        "zip", "random", "ablation",
                                       "variants",  "constraints", "prune",
                                       "floors",    NULL};
    if (!json_is_object(root)) {
        rerr(r, "", "a sweep spec is a JSON object, got %s", json_kind(root));
        return false;
    }
    check_keys(r, "", root, keys, "a sweep spec");
    json_t *v = json_object_get(root, "mmx_sweep");
    if (v == NULL)
        rerr(r, "", "missing key 'mmx_sweep' (the sweep format version: 1)");
    else if (!json_is_integer(v) || json_integer_value(v) != 1)
        rerr(r, "/mmx_sweep", "unsupported sweep format version; this mmx reads version 1");
    v = json_object_get(root, "name");
    if (v && !json_is_string(v))
        rerr(r, "/name", "expected a string, got %s", json_kind(v));
    else if (v)
        check_name(r, "/name", json_string_value(v), "sweep");
    v = json_object_get(root, "doc");
    if (v && !json_is_string(v))
        rerr(r, "/doc", "expected a string, got %s", json_kind(v));
    v = json_object_get(root, "base");
    if (v == NULL)
        rerr(r, "", "missing key 'base' (the model spec to vary, relative to this file)");
    else if (!json_is_string(v) || json_string_length(v) == 0)
        rerr(r, "/base", "expected a path to a model spec, got %s", json_kind(v));
    v = json_object_get(root, "train");
    if (v && !json_is_object(v))
        rerr(r, "/train", "expected an object of training settings, got %s", json_kind(v));
    if ((v = json_object_get(root, "seeds")))
        check_seeds(r, v);
    if ((v = json_object_get(root, "grid")))
        check_grid(r, v);
    if ((v = json_object_get(root, "zip")))
        check_zip(r, v);
    if ((v = json_object_get(root, "random")))
        check_random(r, v);
    if ((v = json_object_get(root, "ablation")))
        check_ablation(r, v);
    if ((v = json_object_get(root, "variants")))
        check_variants(r, v);
    if ((v = json_object_get(root, "constraints")))
        check_constraints(r, v);
    if ((v = json_object_get(root, "prune")))
        check_prune(r, v, 0);
    v = json_object_get(root, "floors");
    if (v && !json_is_boolean(v))
        rerr(r, "/floors",
             "expected true (add the identity and random token mixer floor baselines) or false, "
             "got %s",
             json_kind(v));
    return r->count == 0;
}

/* ---- loading ---- */

bool
mmx_sweep_json_is_sweep(const json_t *root)
{
    return json_is_object(root) && json_object_get(root, "mmx_sweep") != NULL;
}

static char *
absolute_path(const char *path)
{
    if (g_path_is_absolute(path))
        return g_canonicalize_filename(path, NULL);
    g_autofree char *cwd = g_get_current_dir();
    return g_canonicalize_filename(path, cwd);
}

/* Reads a model spec named in the sweep (relative to dir) and merges the sweep's `train`
 * into its /train; NULL with the problem reported at pointer. */
static json_t *
read_base(reader *r, json_t *root, const char *pointer, const char *rel, const char *dir,
          char **abs_path)
{
    *abs_path = g_canonicalize_filename(rel, dir);
    g_autoptr(GError) berr = NULL;
    json_t *base = mmx_json_read(*abs_path, &berr);
    if (base == NULL || !json_is_object(base)) {
        rerr(r, pointer, "cannot read the base model spec '%s': %s", *abs_path,
             base ? "it is not a JSON object" : berr->message);
        json_decref(base);
        return NULL;
    }
    /* A base without /train trains with the documented defaults, which an empty object
     * means too; giving it one lets grid axes and changes address /train/... The sweep's
     * own train is merged in (a base /train that is not an object is replaced, as RFC 7396
     * says). */
    json_t *train = json_object_get(root, "train");
    json_t *bt = json_incref(json_object_get(base, "train"));
    if (bt == NULL)
        bt = json_object();
    if (train)
        mmx_json_merge_patch(&bt, train);
    json_object_set_new(base, "train", bt);
    return base;
}

mmx_sweep *
mmx_sweep_load_data(const char *text, gssize length, const char *path, GError **error)
{
    g_return_val_if_fail(text != NULL && path != NULL, NULL);
    gsize len = length < 0 ? strlen(text) : (gsize)length;
    if (!g_utf8_validate(text, (gssize)len, NULL)) {
        const char *bad = NULL;
        g_utf8_validate(text, (gssize)len, &bad);
        int line = 1, col = 1;
        for (const char *c = text; c < bad; c++) {
            if (*c == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)*c & 0xC0) != 0x80) {
                col++;
            }
        }
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_PARSE,
                    "%s:%d:%d: /: the file is not valid UTF-8", path, line, col);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_PARSE, "%s:%d:%d: /: %s", path,
                    je.line < 1 ? 1 : je.line, je.column < 1 ? 1 : je.column, je.text);
        return NULL;
    }
    g_autoptr(mmx_diags) ignored = mmx_diags_new();
    g_autoptr(mmx_json_file) file = mmx_json_file_parse(path, text, len, ignored);
    if (file == NULL) {
        /* Jansson accepted what the position index refuses (nesting deeper than it
         * indexes): its message says why. */
        g_autofree char *why = mmx_diags_to_string(ignored);
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_PARSE, "%s", why);
        json_decref(root);
        return NULL;
    }
    reader r = {path, file, g_string_new(NULL), 0};
    if (!check_root(&r, root)) {
        g_set_error_literal(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INVALID, r.errors->str);
        g_string_free(r.errors, TRUE);
        json_decref(root);
        return NULL;
    }

    /* The base spec (and the bases of variants that name their own), relative to the
     * sweep file. */
    g_autofree char *abs = absolute_path(path);
    g_autofree char *dir = g_path_get_dirname(abs);
    g_autofree char *base_path = NULL;
    json_t *base = read_base(&r, root, "/base", json_string_value(json_object_get(root, "base")),
                             dir, &base_path);
    json_t *vbases = json_object();
    const char *vname;
    json_t *v;
    json_object_foreach(json_object_get(root, "variants"), vname, v)
    {
        const char *vb = json_string_value(json_object_get(v, "base"));
        if (vb == NULL)
            continue;
        g_autofree char *ptr = mmx_json_pointer_append("/variants", vname);
        g_autofree char *bptr = mmx_json_pointer_append(ptr, "base");
        g_autofree char *vpath = NULL;
        json_t *spec = read_base(&r, root, bptr, vb, dir, &vpath);
        if (spec)
            json_object_set_new(vbases, vname, json_pack("{ss so}", "path", vpath, "spec", spec));
    }
    /* Pruning's first decision must come before the last epoch of the base (a variant
     * base or an axis that changes the epochs is the plan's to check). */
    json_t *prune = json_object_get(root, "prune");
    if (prune && base)
        check_prune(&r, prune, mmx__spec_epochs(base));
    if (r.count) {
        g_set_error_literal(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INVALID, r.errors->str);
        g_string_free(r.errors, TRUE);
        json_decref(base);
        json_decref(vbases);
        json_decref(root);
        return NULL;
    }
    g_string_free(r.errors, TRUE);

    mmx_sweep *sweep = g_new0(mmx_sweep, 1);
    sweep->path = g_steal_pointer(&abs);
    sweep->base_path = g_steal_pointer(&base_path);
    sweep->root = root;
    sweep->base = base;
    sweep->variant_bases = vbases;
    const char *name = json_string_value(json_object_get(root, "name"));
    if (name) {
        sweep->name = g_strdup(name);
    } else {
        g_autofree char *b = g_path_get_basename(path);
        char *dot = strrchr(b, '.');
        if (dot && dot != b)
            *dot = '\0';
        sweep->name = g_strdup(b);
    }
    /* Without doc strings, as trial ids: a doc edit is still the same sweep on --resume. */
    g_autoptr(json_t) r0 = mmx_json_without_docs(root);
    g_autoptr(json_t) b0 = mmx_json_without_docs(base);
    g_autoptr(json_t) v0 = mmx_json_without_docs(vbases);
    g_autofree char *c1 = mmx_json_canonical(r0);
    g_autofree char *c2 = mmx_json_canonical(b0);
    g_autofree char *c3 = mmx_json_canonical(v0);
    g_autofree char *both = g_strconcat(c1, "\n", c2, "\n", c3, NULL);
    sweep->fingerprint = mmx__sha256_hex(both, strlen(both), 64);
    return sweep;
}

mmx_sweep *
mmx_sweep_load(const char *path, GError **error)
{
    g_return_val_if_fail(path != NULL, NULL);
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) io = NULL;
    if (!g_file_get_contents(path, &text, &len, &io)) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_PARSE, "%s: cannot read: %s", path,
                    io->message);
        return NULL;
    }
    return mmx_sweep_load_data(text, (gssize)len, path, error);
}

void
mmx_sweep_free(mmx_sweep *sweep)
{
    if (sweep == NULL)
        return;
    g_free(sweep->path);
    g_free(sweep->name);
    g_free(sweep->base_path);
    g_free(sweep->fingerprint);
    json_decref(sweep->root);
    json_decref(sweep->base);
    json_decref(sweep->variant_bases);
    g_free(sweep);
}

const char *
mmx_sweep_name(const mmx_sweep *sweep)
{
    return sweep->name;
}

const char *
mmx_sweep_path(const mmx_sweep *sweep)
{
    return sweep->path;
}

const char *
mmx_sweep_base_path(const mmx_sweep *sweep)
{
    return sweep->base_path;
}

const char *
mmx_sweep_fingerprint(const mmx_sweep *sweep)
{
    return sweep->fingerprint;
}

const json_t *
mmx_sweep_json(const mmx_sweep *sweep)
{
    return sweep->root;
}
