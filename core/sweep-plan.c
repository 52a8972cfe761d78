/* sweep-plan.c: the planner: from a sweep spec to the list of trials.
 *
 * Design: every section that varies something is turned into one or more axes, each a
 * list of choices (a choice is a label, what it records in the manifest, and a change to
 * apply: a merge patch, a JSON patch, or JSON Pointer -> value sets). Axes are, in this
 * order: variants, ablation, one per grid pointer, zip, random. Their cross product is
 * resolved once per combination (base spec, then each choice in axis order), and every
 * combination runs once per seed, seeds outermost: a sweep stopped half-way has every
 * variant at the first seeds rather than every seed of the first variants.
 *
 * Ids are hashes of the canonical resolved spec (sorted keys, compact) and the seed;
 * a second trial with the same id is a duplicate and is not run. The baseline is the
 * first combination (the ablation baseline, or the variant named "baseline", with every
 * other axis at its first value).
 *
 * The choices are applied with json.c's JSON Pointer (RFC 6901, with the "*" wildcard of
 * docs/sweeps.md), merge patch (RFC 7396) and JSON Patch (RFC 6902).
 */
#include "sweep-private.h"

#include <math.h>
#include <string.h>

struct mmx_sweep_plan {
    GPtrArray *trials; /* mmx_trial *, owned */
    GHashTable *by_id; /* id -> first trial with it (borrowed) */
    char *name, *sweep_path, *base_path, *fingerprint;
    json_t *constraints; /* NULL when the sweep has none */
    json_t *sweep_json;  /* the sweep spec as read, for the manifest */
};

/* ---- axes and choices ---- */

typedef struct choice {
    char *label;       /* part of the variant name; "" for none */
    json_t *overrides; /* what it records in the manifest */
    json_t *merge;     /* RFC 7396 patch, or NULL */
    json_t *patch;     /* RFC 6902 patch, or NULL */
    json_t *sets;      /* [[pointer, value]...], or NULL */
    json_t *base;      /* a variant's own base spec (replaces the spec), or NULL */
    char *base_path;   /* its file */
    char *what;        /* "variant 'x'" for messages */
    int floor;         /* a floor baseline of "floors": FLOOR_IDENTITY or FLOOR_RANDOM, or 0 */
} choice;

/* The floor baselines of MetaFormer's IdentityFormer and RandFormer: every token mixer
 * replaced by the identity, or by a frozen random token mixing (linear's random_mixing). */
enum { FLOOR_IDENTITY = 1, FLOOR_RANDOM = 2 };

static void
choice_free(gpointer p)
{
    choice *c = p;
    g_free(c->label);
    g_free(c->what);
    json_decref(c->overrides);
    json_decref(c->merge);
    json_decref(c->patch);
    json_decref(c->sets);
    json_decref(c->base);
    g_free(c->base_path);
    g_free(c);
}

static choice *
choice_new(const char *label, const char *what)
{
    choice *c = g_new0(choice, 1);
    c->label = g_strdup(label);
    c->what = g_strdup(what);
    c->overrides = json_object();
    return c;
}

static void
choice_set(choice *c, const char *pointer, json_t *value)
{
    if (c->sets == NULL)
        c->sets = json_array();
    json_array_append_new(c->sets, json_pack("[sO]", pointer, value));
    json_object_set(c->overrides, pointer, value);
}

static void
choice_sets_from(choice *c, json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) { choice_set(c, k, v); }
}

static bool
is_token_mixer(const json_t *m)
{
    return json_is_object(m) &&
           g_strcmp0(json_string_value(json_object_get(m, "axis")), "token") == 0;
}

static json_t *
floor_mixer(int floor)
{
    if (floor == FLOOR_IDENTITY) /* every slot omitted: y = x */
        return json_pack("{ss}", "axis", "token");
    return json_pack("{ss s{ss}}", "axis", "token", "key", "op", "random_mixing");
}

/* Replaces every token mixer under v (the "mixer" of a block, the members of a "parallel"
 * list) by the floor's; the number replaced. */
static int
replace_token_mixers(json_t *v, int floor)
{
    int n = 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) n += replace_token_mixers(e, floor);
        return n;
    }
    if (!json_is_object(v))
        return 0;
    json_t *m = json_object_get(v, "mixer");
    if (is_token_mixer(m)) {
        json_object_set_new(v, "mixer", floor_mixer(floor));
        n++;
    }
    json_t *par = json_object_get(v, "parallel");
    size_t i;
    json_t *e;
    json_array_foreach(par, i, e)
    {
        if (is_token_mixer(e)) {
            json_array_set_new(par, i, floor_mixer(floor));
            n++;
        }
    }
    const char *k;
    json_object_foreach(v, k, e)
    {
        if (strcmp(k, "doc") != 0 && strcmp(k, "mixer") != 0 && strcmp(k, "parallel") != 0)
            n += replace_token_mixers(e, floor);
    }
    return n;
}

static bool
choice_apply(const choice *c, json_t **spec, GError **error)
{
    g_autoptr(GError) local = NULL;
    bool ok = true;
    if (c->base) {
        json_decref(*spec);
        *spec = json_deep_copy(c->base);
    }
    if (c->merge)
        mmx_json_merge_patch(spec, c->merge);
    if (c->patch)
        ok = mmx_json_patch_apply(spec, c->patch, &local);
    size_t i;
    json_t *pair;
    json_array_foreach(c->sets, i, pair)
    {
        if (!ok)
            break;
        ok = mmx_json_pointer_set(*spec, json_string_value(json_array_get(pair, 0)),
                                  json_array_get(pair, 1), &local);
    }
    if (!ok) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INVALID, "%s: %s", c->what,
                    local->message);
        return false;
    }
    if (c->floor && replace_token_mixers(*spec, c->floor) == 0) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INVALID,
                    "%s: the spec has no token mixer to replace (a mixer with \"axis\": "
                    "\"token\", in a block, a def or a \"parallel\" list)",
                    c->what);
        return false;
    }
    return true;
}

/* "0.001", "gelu", {"op":"x"}: a value as it appears in a variant's name. */
static char *
value_label(const json_t *v)
{
    if (json_is_string(v))
        return g_strdup(json_string_value(v));
    if (json_is_real(v))
        return g_strdup_printf("%.4g", json_real_value(v));
    return mmx_json_canonical(v);
}

/* A short name for a pointer in labels: its last token that is not an index or "*". */
static char *
pointer_short(const char *pointer)
{
    g_auto(GStrv) toks = mmx_json_pointer_tokens(pointer);
    size_t index;
    for (int i = toks ? (int)g_strv_length(toks) - 1 : -1; i >= 0; i--)
        if (!mmx_json_pointer_index(toks[i], &index) && strcmp(toks[i], "*") != 0)
            return g_strdup(toks[i]);
    return g_strdup(pointer);
}

/* Short names, or the full pointers where two axes would share one. */
static char *
axis_name(const char *pointer, GHashTable *short_counts)
{
    g_autofree char *s = pointer_short(pointer);
    if (GPOINTER_TO_INT(g_hash_table_lookup(short_counts, s)) > 1)
        return g_strdup(pointer);
    return g_steal_pointer(&s);
}

static void
count_short(GHashTable *counts, const char *pointer)
{
    char *s = pointer_short(pointer);
    int n = GPOINTER_TO_INT(g_hash_table_lookup(counts, s));
    g_hash_table_insert(counts, s, GINT_TO_POINTER(n + 1));
}

/* A float in [0, 1) from the sampler seed, the sample and the axis. */
static double
sample_uniform(int64_t sampler_seed, int sample, int axis)
{
    uint32_t r[4];
    mmx_philox(mmx_rng_key((uint64_t)sampler_seed, 0x5eed, 0),
               (uint64_t)sample * 1024u + (uint64_t)axis, r);
    return ((double)r[0] + (double)(r[1] >> 11) / 2097152.0) / 4294967296.0;
}

static json_t *
sample_value(const json_t *spec, double u)
{
    if (json_is_array(spec)) {
        size_t n = json_array_size(spec);
        size_t i = (size_t)(u * (double)n);
        return json_incref(json_array_get(spec, i < n ? i : n - 1));
    }
    double lo = json_number_value(json_object_get(spec, "min"));
    double hi = json_number_value(json_object_get(spec, "max"));
    bool lg = json_is_true(json_object_get(spec, "log"));
    if (json_is_true(json_object_get(spec, "int"))) {
        double v;
        if (lg)
            v = floor(exp(log(lo) + u * (log(hi + 1) - log(lo))));
        else
            v = floor(lo + u * (hi - lo + 1));
        return json_integer((json_int_t)fmin(v, hi));
    }
    double v = lg ? exp(log(lo) + u * (log(hi) - log(lo))) : lo + u * (hi - lo);
    /* Six significant digits: readable in names and stable in the canonical JSON. */
    char buf[32];
    g_snprintf(buf, sizeof buf, "%.6g", v);
    return json_real(g_ascii_strtod(buf, NULL));
}

static GPtrArray *
new_axis(GPtrArray *axes)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(choice_free);
    g_ptr_array_add(axes, a);
    return a;
}

static void
build_axes(const mmx_sweep *sweep, GPtrArray *axes)
{
    const json_t *root = sweep->root;
    GHashTable *counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    const char *k;
    json_t *v;
    json_t *grid = json_object_get(root, "grid");
    json_t *zip = json_object_get(root, "zip");
    json_t *rnd = json_object_get(root, "random");
    json_t *raxes = json_object_get(rnd, "axes");
    json_object_foreach(grid, k, v) count_short(counts, k);
    json_object_foreach(zip, k, v) count_short(counts, k);
    json_object_foreach(raxes, k, v) count_short(counts, k);

    json_t *variants = json_object_get(root, "variants");
    if (variants) {
        GPtrArray *a = new_axis(axes);
        json_object_foreach(variants, k, v)
        {
            g_autofree char *what = g_strdup_printf("variant '%s'", k);
            choice *c = choice_new(k, what);
            json_object_set_new(c->overrides, "variant", json_string(k));
            json_t *vb = json_object_get(sweep->variant_bases, k);
            if (vb) {
                c->base = json_incref(json_object_get(vb, "spec"));
                c->base_path = g_strdup(json_string_value(json_object_get(vb, "path")));
                json_object_set(c->overrides, "base", json_object_get(v, "base"));
            }
            c->merge = json_incref(json_object_get(v, "merge"));
            c->patch = json_incref(json_object_get(v, "patch"));
            json_t *set = json_object_get(v, "set");
            if (set)
                choice_sets_from(c, set);
            g_ptr_array_add(a, c);
        }
    }
    json_t *ablation = json_object_get(root, "ablation");
    if (ablation) {
        GPtrArray *a = new_axis(axes);
        json_t *base = json_object_get(ablation, "baseline");
        choice *c = choice_new("baseline", "ablation baseline");
        json_object_set_new(c->overrides, "ablation", json_string("baseline"));
        if (base)
            choice_sets_from(c, base);
        g_ptr_array_add(a, c);
        json_object_foreach(json_object_get(ablation, "changes"), k, v)
        {
            g_autofree char *what = g_strdup_printf("ablation change '%s'", k);
            c = choice_new(k, what);
            json_object_set_new(c->overrides, "ablation", json_string(k));
            /* One change at a time, on top of the baseline. */
            if (base)
                choice_sets_from(c, base);
            choice_sets_from(c, v);
            g_ptr_array_add(a, c);
        }
    }
    if (json_is_true(json_object_get(root, "floors"))) {
        /* The floor baselines: arms of the ablation, or an axis of their own after the
         * unchanged spec. */
        GPtrArray *a = ablation ? g_ptr_array_index(axes, axes->len - 1) : NULL;
        json_t *base = json_object_get(ablation, "baseline");
        if (a == NULL) {
            a = new_axis(axes);
            g_ptr_array_add(a, choice_new("", "the unchanged spec"));
        }
        static const char *const names[] = {"identity-floor", "random-floor"};
        for (int f = 0; f < 2; f++) {
            g_autofree char *what = g_strdup_printf("floor '%s'", names[f]);
            choice *c = choice_new(names[f], what);
            json_object_set_new(c->overrides, ablation ? "ablation" : "floor",
                                json_string(names[f]));
            if (base)
                choice_sets_from(c, base);
            c->floor = f == 0 ? FLOOR_IDENTITY : FLOOR_RANDOM;
            g_ptr_array_add(a, c);
        }
    }
    json_object_foreach(grid, k, v)
    {
        GPtrArray *a = new_axis(axes);
        g_autofree char *name = axis_name(k, counts);
        g_autofree char *what = g_strdup_printf("grid axis %s", k);
        size_t i;
        json_t *val;
        json_array_foreach(v, i, val)
        {
            g_autofree char *vl = value_label(val);
            g_autofree char *label = g_strdup_printf("%s=%s", name, vl);
            choice *c = choice_new(label, what);
            choice_set(c, k, val);
            g_ptr_array_add(a, c);
        }
    }
    if (zip) {
        GPtrArray *a = new_axis(axes);
        size_t n = 0;
        json_object_foreach(zip, k, v) n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            GString *label = g_string_new(NULL);
            choice *c = choice_new("", "zip");
            json_object_foreach(zip, k, v)
            {
                json_t *val = json_array_get(v, i);
                g_autofree char *name = axis_name(k, counts);
                g_autofree char *vl = value_label(val);
                g_string_append_printf(label, "%s%s=%s", label->len ? "," : "", name, vl);
                choice_set(c, k, val);
            }
            g_free(c->label);
            c->label = g_string_free(label, FALSE);
            g_ptr_array_add(a, c);
        }
    }
    if (rnd) {
        GPtrArray *a = new_axis(axes);
        int n = (int)json_integer_value(json_object_get(rnd, "n"));
        int64_t seed = json_integer_value(json_object_get(rnd, "sampler_seed"));
        for (int s = 0; s < n; s++) {
            GString *label = g_string_new(NULL);
            g_autofree char *what = g_strdup_printf("random sample %d", s);
            choice *c = choice_new("", what);
            int ax = 0;
            json_object_foreach(raxes, k, v)
            {
                json_t *val = sample_value(v, sample_uniform(seed, s, ax++));
                g_autofree char *name = axis_name(k, counts);
                g_autofree char *vl = value_label(val);
                g_string_append_printf(label, "%s%s=%s", label->len ? "," : "", name, vl);
                choice_set(c, k, val);
                json_decref(val);
            }
            g_free(c->label);
            c->label = g_string_free(label, FALSE);
            g_ptr_array_add(a, c);
        }
    }
    g_hash_table_unref(counts);
}

/* ---- the plan ---- */

typedef struct combo {
    json_t *spec; /* NULL when it did not resolve */
    char *reason;
    char *label;
    json_t *overrides;
    char config[MMX_TRIAL_ID_LEN + 1];
    char *canonical;
    const char *base_path; /* borrowed from the sweep or a choice */
} combo;

static void
trial_free(gpointer p)
{
    mmx_trial *t = p;
    g_free(t->variant);
    g_free(t->reason);
    g_free(t->base_path);
    json_decref(t->overrides);
    json_decref(t->spec);
    g_free(t);
}

static void
resolve_combo(const mmx_sweep *sweep, GPtrArray *axes, const int *pick, combo *out)
{
    json_t *spec = json_deep_copy(sweep->base);
    GString *label = g_string_new(NULL);
    out->overrides = json_object();
    out->base_path = sweep->base_path;
    g_autoptr(GError) error = NULL;
    for (guint a = 0; a < axes->len; a++) {
        GPtrArray *axis = g_ptr_array_index(axes, a);
        choice *c = g_ptr_array_index(axis, pick[a]);
        if (*c->label)
            g_string_append_printf(label, "%s%s", label->len ? " " : "", c->label);
        json_object_update(out->overrides, c->overrides);
        if (c->base_path)
            out->base_path = c->base_path;
        if (spec && !choice_apply(c, &spec, &error)) {
            json_decref(spec);
            spec = NULL;
        }
    }
    out->label = g_string_free(label, FALSE);
    if (*out->label == '\0') {
        g_free(out->label);
        out->label = g_strdup("base");
    }
    out->spec = spec;
    if (spec) {
        /* Without its doc strings: a doc edit keeps the trials' ids (docs/sweeps.md). */
        g_autoptr(json_t) bare = mmx_json_without_docs(spec);
        out->canonical = mmx_json_canonical(bare);
    } else {
        out->reason = g_strdup(error->message);
        /* An unresolved combination is identified by what it asked for. */
        g_autofree char *ov = mmx_json_canonical(out->overrides);
        out->canonical = g_strconcat("unresolved:", ov, NULL);
    }
    g_autofree char *h = mmx__sha256_hex(out->canonical, strlen(out->canonical), MMX_TRIAL_ID_LEN);
    memcpy(out->config, h, MMX_TRIAL_ID_LEN + 1);
}

mmx_sweep_plan *
mmx_sweep_plan_new(const mmx_sweep *sweep, GError **error)
{
    g_return_val_if_fail(sweep != NULL, NULL);
    g_autoptr(GPtrArray) axes = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
    build_axes(sweep, axes);

    /* Combinations: a mixed-radix count over the axes, last axis fastest. */
    guint64 total = 1;
    for (guint a = 0; a < axes->len; a++)
        total *= ((GPtrArray *)g_ptr_array_index(axes, a))->len;
    json_t *seeds = json_object_get(sweep->root, "seeds");
    size_t nseeds = seeds ? json_array_size(seeds) : 1;
    if (total * nseeds > 100000) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INVALID,
                    "%s: the sweep expands to %" G_GUINT64_FORMAT " trials (%" G_GUINT64_FORMAT
                    " combinations x %zu seeds); the limit is 100000",
                    sweep->path, total * nseeds, total, nseeds);
        return NULL;
    }
    combo *combos = g_new0(combo, total);
    g_autofree int *pick = g_new0(int, axes->len + 1);
    for (guint64 i = 0; i < total; i++) {
        resolve_combo(sweep, axes, pick, &combos[i]);
        for (int a = (int)axes->len - 1; a >= 0; a--) {
            if (++pick[a] < (int)((GPtrArray *)g_ptr_array_index(axes, a))->len)
                break;
            pick[a] = 0;
        }
    }

    mmx_sweep_plan *plan = g_new0(mmx_sweep_plan, 1);
    plan->trials = g_ptr_array_new_with_free_func(trial_free);
    plan->by_id = g_hash_table_new(g_str_hash, g_str_equal);
    plan->name = g_strdup(sweep->name);
    plan->sweep_path = g_strdup(sweep->path);
    plan->base_path = g_strdup(sweep->base_path);
    plan->fingerprint = g_strdup(sweep->fingerprint);
    plan->constraints = json_incref(json_object_get(sweep->root, "constraints"));
    plan->sweep_json = json_incref(sweep->root);

    /* The baseline: the first combination, or with no ablation, the first combination of
     * the variant named "baseline" when there is one. */
    guint64 base_combo = 0;
    if (!json_object_get(sweep->root, "ablation") &&
        json_object_get(json_object_get(sweep->root, "variants"), "baseline")) {
        for (guint64 i = 0; i < total; i++) {
            const char *v = json_string_value(json_object_get(combos[i].overrides, "variant"));
            if (v && strcmp(v, "baseline") == 0) {
                base_combo = i;
                break;
            }
        }
    }
    for (size_t s = 0; s < nseeds; s++) {
        int64_t seed = seeds ? json_integer_value(json_array_get(seeds, s)) : 0;
        for (guint64 i = 0; i < total; i++) {
            combo *c = &combos[i];
            mmx_trial *t = g_new0(mmx_trial, 1);
            t->index = (int)plan->trials->len;
            t->seed = seed;
            t->variant = g_strdup(c->label);
            t->base_path = g_strdup(c->base_path);
            t->overrides = json_deep_copy(c->overrides);
            t->spec = c->spec ? json_deep_copy(c->spec) : NULL;
            memcpy(t->config, c->config, sizeof t->config);
            g_autofree char *key =
                g_strdup_printf("%s\nseed=%" G_GINT64_FORMAT, c->canonical, seed);
            g_autofree char *id = mmx__sha256_hex(key, strlen(key), MMX_TRIAL_ID_LEN);
            memcpy(t->id, id, sizeof t->id);
            t->baseline = memcmp(c->config, combos[base_combo].config, MMX_TRIAL_ID_LEN) == 0;
            mmx_trial *first = g_hash_table_lookup(plan->by_id, t->id);
            if (c->spec == NULL) {
                t->state = MMX_TRIAL_INVALID;
                t->reason = g_strdup(c->reason);
            } else if (first) {
                t->state = MMX_TRIAL_DUPLICATE;
                t->reason = g_strdup_printf("same resolved spec and seed as trial %d (%s, %s)",
                                            first->index, first->id, first->variant);
            }
            if (first == NULL)
                g_hash_table_insert(plan->by_id, t->id, t);
            g_ptr_array_add(plan->trials, t);
        }
    }
    for (guint64 i = 0; i < total; i++) {
        json_decref(combos[i].spec);
        json_decref(combos[i].overrides);
        g_free(combos[i].reason);
        g_free(combos[i].label);
        g_free(combos[i].canonical);
    }
    g_free(combos);
    return plan;
}

void
mmx_sweep_plan_free(mmx_sweep_plan *plan)
{
    if (plan == NULL)
        return;
    g_hash_table_unref(plan->by_id);
    g_ptr_array_unref(plan->trials);
    g_free(plan->name);
    g_free(plan->sweep_path);
    g_free(plan->base_path);
    g_free(plan->fingerprint);
    json_decref(plan->constraints);
    json_decref(plan->sweep_json);
    g_free(plan);
}

int
mmx_sweep_plan_size(const mmx_sweep_plan *plan)
{
    return (int)plan->trials->len;
}

const mmx_trial *
mmx_sweep_plan_trial(const mmx_sweep_plan *plan, int index)
{
    if (index < 0 || index >= (int)plan->trials->len)
        return NULL;
    return g_ptr_array_index(plan->trials, index);
}

const mmx_trial *
mmx_sweep_plan_find(const mmx_sweep_plan *plan, const char *id)
{
    return g_hash_table_lookup(plan->by_id, id);
}

int
mmx_sweep_plan_count(const mmx_sweep_plan *plan, mmx_trial_state state)
{
    int n = 0;
    for (guint i = 0; i < plan->trials->len; i++)
        n += ((mmx_trial *)g_ptr_array_index(plan->trials, i))->state == state;
    return n;
}

const char *
mmx_sweep_plan_name(const mmx_sweep_plan *plan)
{
    return plan->name;
}

const char *
mmx_sweep_plan_sweep_path(const mmx_sweep_plan *plan)
{
    return plan->sweep_path;
}

const char *
mmx_sweep_plan_base_path(const mmx_sweep_plan *plan)
{
    return plan->base_path;
}

const char *
mmx_sweep_plan_fingerprint(const mmx_sweep_plan *plan)
{
    return plan->fingerprint;
}

const json_t *
mmx__sweep_plan_json(const mmx_sweep_plan *plan)
{
    return plan->sweep_json;
}

json_t *
mmx_sweep_trial_spec_for_file(const mmx_sweep_plan *plan, const mmx_trial *trial)
{
    g_return_val_if_fail(trial->spec != NULL, NULL);
    json_t *spec = json_deep_copy(trial->spec);
    json_t *plugins = json_object_get(spec, "plugins");
    (void)plan;
    g_autofree char *dir = g_path_get_dirname(trial->base_path);
    size_t i;
    json_t *p;
    json_array_foreach(plugins, i, p)
    {
        const char *s = json_string_value(p);
        /* Names are looked up on the plugin path; paths are relative to the base spec. */
        if (s && strchr(s, '/') && !g_path_is_absolute(s)) {
            g_autofree char *abs = g_canonicalize_filename(s, dir);
            json_array_set_new(plugins, i, json_string(abs));
        }
    }
    return spec;
}

/* ---- measuring and constraints ---- */

typedef struct measured {
    bool ok;
    int64_t params;
    double flops;
    char *reason;
} measured;

static void
measured_free(gpointer p)
{
    measured *m = p;
    g_free(m->reason);
    g_free(m);
}

static char *
thousands(int64_t v)
{
    g_autofree char *digits = g_strdup_printf("%" G_GINT64_FORMAT, v < 0 ? -v : v);
    GString *out = g_string_new(v < 0 ? "-" : "");
    size_t n = strlen(digits);
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            g_string_append_c(out, ',');
        g_string_append_c(out, digits[i]);
    }
    return g_string_free(out, FALSE);
}

void
mmx_sweep_plan_measure(mmx_sweep_plan *plan, mmx_sweep_measure_fn fn, void *user)
{
    g_return_if_fail(plan != NULL);
    g_autoptr(GHashTable) cache =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, measured_free);
    json_t *maxp = json_object_get(plan->constraints, "max_params");
    json_t *maxf = json_object_get(plan->constraints, "max_flops");
    for (guint i = 0; i < plan->trials->len; i++) {
        mmx_trial *t = g_ptr_array_index(plan->trials, i);
        if (t->spec == NULL)
            continue;
        if (fn == NULL) {
            if (plan->constraints && t->state == MMX_TRIAL_RUN) {
                t->state = MMX_TRIAL_INVALID;
                t->reason = g_strdup("the sweep has constraints but nothing measures params "
                                     "and FLOPs here");
            }
            continue;
        }
        measured *m = g_hash_table_lookup(cache, t->config);
        if (m == NULL) {
            m = g_new0(measured, 1);
            g_autoptr(GError) error = NULL;
            json_t *spec = mmx_sweep_trial_spec_for_file(plan, t);
            m->ok = fn(spec, t->base_path, &m->params, &m->flops, user, &error);
            json_decref(spec);
            if (!m->ok)
                m->reason = g_strdup(error ? error->message : "the measure failed");
            g_hash_table_insert(cache, g_strdup(t->config), m);
        }
        if (!m->ok) {
            if (t->state == MMX_TRIAL_RUN) {
                t->state = MMX_TRIAL_INVALID;
                t->reason = g_strdup(m->reason);
            }
            continue;
        }
        t->measured = true;
        t->params = m->params;
        t->flops = m->flops;
        if (t->state != MMX_TRIAL_RUN)
            continue;
        if (maxp && (double)t->params > json_number_value(maxp)) {
            g_autofree char *a = thousands(t->params);
            g_autofree char *b = thousands((int64_t)json_number_value(maxp));
            t->state = MMX_TRIAL_SKIPPED;
            t->reason = g_strdup_printf("params %s over max_params %s", a, b);
        } else if (maxf && t->flops > json_number_value(maxf)) {
            t->state = MMX_TRIAL_SKIPPED;
            t->reason = g_strdup_printf("FLOPs %.4g over max_flops %.4g", t->flops,
                                        json_number_value(maxf));
        }
    }
}

static const char *
state_name(mmx_trial_state s)
{
    switch (s) {
    case MMX_TRIAL_RUN:
        return "run";
    case MMX_TRIAL_DUPLICATE:
        return "duplicate";
    case MMX_TRIAL_INVALID:
        return "invalid";
    case MMX_TRIAL_SKIPPED:
        return "skipped";
    }
    return "?";
}

json_t *
mmx_sweep_plan_to_json(const mmx_sweep_plan *plan)
{
    json_t *arr = json_array();
    for (guint i = 0; i < plan->trials->len; i++) {
        const mmx_trial *t = g_ptr_array_index(plan->trials, i);
        json_t *o =
            json_pack("{si ss ss ss sI sO ss sb}", "index", t->index, "id", t->id, "config",
                      t->config, "variant", t->variant, "seed", (json_int_t)t->seed, "overrides",
                      t->overrides, "state", state_name(t->state), "baseline", t->baseline);
        if (t->reason)
            json_object_set_new(o, "reason", json_string(t->reason));
        if (t->measured) {
            json_object_set_new(o, "params", json_integer(t->params));
            json_object_set_new(o, "flops", json_real(t->flops));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}
