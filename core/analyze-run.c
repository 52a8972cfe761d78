/* analyze-run.c: mmx analyze over a run folder (a series over its checkpoints) and over a
 * sweep folder (each trial's run), and the readable tables of the documents
 * (mmx-analyze.h). The statistics are analyze.c's; the plots are analyze-svg.c's.
 *
 * A run's initialization is analyzed too (epoch 0): parameters come from Philox keyed by
 * (seed, parameter name), so a model built from the run's graph with the run's seed holds
 * exactly the weights the run started from, and the series shows what training changed.
 */
#include "analyze-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The e of "epoch-<e>.safetensors", or -1. */
static int64_t
snapshot_epoch(const char *name)
{
    if (!g_str_has_prefix(name, "epoch-"))
        return -1;
    size_t digits = strspn(name + 6, "0123456789");
    if (digits == 0 || digits > 9 || strcmp(name + 6 + digits, ".safetensors") != 0)
        return -1;
    return g_ascii_strtoll(name + 6, NULL, 10);
}

static int
by_epoch(gconstpointer a, gconstpointer b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

mmx_spec *
mmx_analyze_run_spec(mmx_registry *reg, const char *dir, uint64_t *seed, GError **error)
{
    g_return_val_if_fail(reg != NULL && dir != NULL && seed != NULL, NULL);
    g_autofree char *cfg_path = g_build_filename(dir, "config.json", NULL);
    if (!g_file_test(cfg_path, G_FILE_TEST_EXISTS)) {
        mmx__analyze_refuse(error,
                            "%s is not a run folder: %s is missing (a folder mmx train wrote, "
                            "or a sweep folder with sweep.json)",
                            dir, cfg_path);
        return NULL;
    }
    g_autoptr(json_t) cfg = mmx_json_read(cfg_path, error);
    if (cfg == NULL)
        return NULL;
    json_t *doc = json_object_get(cfg, "spec");
    if (!json_is_object(doc)) {
        mmx__analyze_refuse(error, "%s has no \"spec\" object (the run's resolved spec)", cfg_path);
        return NULL;
    }
    json_t *s = json_object_get(cfg, "seed");
    *seed = json_is_integer(s) ? (uint64_t)json_integer_value(s) : 0;
    return mmx_spec_load_json(reg, doc, cfg_path, NULL, error);
}

/* Appends one checkpoint's record to the run document. */
static bool
add_checkpoint(json_t *list, mmx_model *model, const char *path, int64_t epoch, bool final,
               GError **error)
{
    json_t *rec = path ? mmx_analyze_checkpoint(model, path, error)
                       : mmx_analyze_model(model, "the initialization", error);
    if (rec == NULL)
        return false;
    json_object_set_new(rec, "epoch", json_integer((json_int_t)epoch));
    json_object_set_new(rec, "final", json_boolean(final));
    if (path == NULL)
        json_object_set_new(rec, "weights", json_null());
    json_array_append_new(list, rec);
    return true;
}

/* One series per mixer of the first checkpoint, a value per checkpoint. */
static json_t *
series_of(json_t *checkpoints)
{
    json_t *series = json_array();
    json_t *first = json_object_get(json_array_get(checkpoints, 0), "symmetry");
    size_t m;
    json_t *mixer;
    json_array_foreach(first, m, mixer)
    {
        json_t *epochs = json_array(), *cos = json_array(), *sym = json_array();
        size_t c;
        json_t *ck;
        json_array_foreach(checkpoints, c, ck)
        {
            json_t *rec = json_array_get(json_object_get(ck, "symmetry"), m);
            json_array_append(epochs, json_object_get(ck, "epoch"));
            json_t *x = json_object_get(rec, "cosine"),
                   *y = json_object_get(rec, "coupling_symmetric");
            json_array_append_new(cos, x ? json_incref(x) : json_null());
            json_array_append_new(sym, y ? json_incref(y) : json_null());
        }
        json_array_append_new(series, json_pack("{s:O, s:O, s:O, s:o, s:o, s:o}", "mixer",
                                                json_object_get(mixer, "mixer"), "axis",
                                                json_object_get(mixer, "axis"), "tied",
                                                json_object_get(mixer, "tied"), "epoch", epochs,
                                                "cosine", cos, "coupling_symmetric", sym));
    }
    return series;
}

json_t *
mmx_analyze_run(mmx_registry *reg, const char *dir, GError **error)
{
    g_return_val_if_fail(reg != NULL && dir != NULL, NULL);
    uint64_t seed = 0;
    g_autoptr(mmx_spec) spec = mmx_analyze_run_spec(reg, dir, &seed, error);
    if (spec == NULL)
        return NULL;
    /* The weights: epoch snapshots in order, then the final weights unless a snapshot
     * already holds their epoch. */
    g_autoptr(GArray) epochs = g_array_new(FALSE, FALSE, sizeof(int64_t));
    g_autoptr(GDir) d = g_dir_open(dir, 0, error);
    if (d == NULL)
        return NULL;
    const char *entry;
    while ((entry = g_dir_read_name(d)) != NULL) {
        int64_t e = snapshot_epoch(entry);
        if (e >= 0)
            g_array_append_val(epochs, e);
    }
    g_array_sort(epochs, by_epoch);
    g_autofree char *final = g_build_filename(dir, "final.safetensors", NULL);
    bool have_final = g_file_test(final, G_FILE_TEST_EXISTS);
    if (epochs->len == 0 && !have_final) {
        mmx__analyze_refuse(error,
                            "%s holds no weights to analyze: no final.safetensors and no "
                            "epoch-<e>.safetensors (train with --set /train/checkpoint_every=1 "
                            "for a series over the epochs)",
                            dir);
        return NULL;
    }
    g_autoptr(mmx_graph) graph = mmx_graph_new(spec, error);
    if (graph == NULL)
        return NULL;
    g_autoptr(mmx_model) model = mmx_model_new(graph, seed, error);
    if (model == NULL)
        return NULL;
    g_autoptr(json_t) doc =
        json_pack("{s:s, s:s, s:[]}", "run", dir, "spec_name", mmx_spec_name(spec), "checkpoints");
    json_t *list = json_object_get(doc, "checkpoints");
    if (!add_checkpoint(list, model, NULL, 0, false, error))
        return NULL;
    for (guint i = 0; i < epochs->len; i++) {
        int64_t e = g_array_index(epochs, int64_t, i);
        g_autofree char *name = g_strdup_printf("epoch-%" G_GINT64_FORMAT ".safetensors", e);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (!add_checkpoint(list, model, path, e, false, error))
            return NULL;
    }
    if (have_final) {
        g_autoptr(mmx_safetensors) st = mmx_safetensors_read(final, error);
        if (st == NULL)
            return NULL;
        const char *es = mmx_safetensors_metadata(st, "epoch");
        int64_t e = es ? g_ascii_strtoll(es, NULL, 10) : -1;
        json_t *last = json_array_get(list, json_array_size(list) - 1);
        if (epochs->len > 0 && e == json_integer_value(json_object_get(last, "epoch")))
            json_object_set_new(last, "final", json_true()); /* the same epoch's weights */
        else if (!add_checkpoint(list, model, final, e, true, error))
            return NULL;
    }
    json_object_set_new(doc, "series", series_of(list));
    return g_steal_pointer(&doc);
}

json_t *
mmx_analyze_sweep(mmx_registry *reg, const char *dir, GError **error)
{
    g_return_val_if_fail(reg != NULL && dir != NULL, NULL);
    g_autofree char *manifest = g_build_filename(dir, "sweep.json", NULL);
    if (!g_file_test(manifest, G_FILE_TEST_EXISTS)) {
        mmx__analyze_refuse(error, "%s is not a sweep folder: %s is missing", dir, manifest);
        return NULL;
    }
    g_autoptr(json_t) m = mmx_json_read(manifest, error);
    if (m == NULL)
        return NULL;
    json_t *trials = json_object_get(m, "trials");
    if (!json_is_array(trials)) {
        mmx__analyze_refuse(error, "%s has no \"trials\" list", manifest);
        return NULL;
    }
    g_autoptr(json_t) doc = json_pack("{s:s, s:[], s:[]}", "sweep", dir, "trials", "skipped");
    size_t i;
    json_t *t;
    json_array_foreach(trials, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        const char *state = json_string_value(json_object_get(t, "state"));
        if (id == NULL || g_strcmp0(state, "run") != 0)
            continue;
        g_autofree char *tdir = g_build_filename(dir, "trials", id, NULL);
        GError *local = NULL;
        json_t *run = mmx_analyze_run(reg, tdir, &local);
        if (run == NULL) {
            json_array_append_new(json_object_get(doc, "skipped"),
                                  json_pack("{s:s, s:s}", "trial", id, "reason", local->message));
            g_error_free(local);
            continue;
        }
        json_array_append_new(json_object_get(doc, "trials"),
                              json_pack("{s:s, s:O?, s:O?, s:o}", "trial", id, "variant",
                                        json_object_get(t, "variant"), "seed",
                                        json_object_get(t, "seed"), "analysis", run));
    }
    if (json_array_size(json_object_get(doc, "trials")) == 0) {
        json_t *first = json_array_get(json_object_get(doc, "skipped"), 0);
        mmx__analyze_refuse(error, "%s: no trial has weights to analyze%s%s", dir,
                            first ? "; the first: " : "",
                            first ? json_string_value(json_object_get(first, "reason")) : "");
        return NULL;
    }
    return g_steal_pointer(&doc);
}

/* ---- text ---- */

static const char *
str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "-";
}

static double
real(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void
checkpoint_text(GString *s, json_t *ck)
{
    g_string_append_printf(s, "%-24s %-8s %-5s %10s %9s %9s\n", "mixer", "axis", "tied",
                           "cos(V,K^T)", "sym", "anti");
    size_t i;
    json_t *rec;
    json_array_foreach(json_object_get(ck, "symmetry"), i, rec)
    {
        g_string_append_printf(s, "%-24s %-8s %-5s ", str(rec, "mixer"), str(rec, "axis"),
                               json_is_true(json_object_get(rec, "tied")) ? "yes" : "no");
        if (json_is_number(json_object_get(rec, "cosine")))
            g_string_append_printf(s, "%10.4f %9.4f %9.4f\n", real(rec, "cosine"),
                                   real(rec, "coupling_symmetric"),
                                   real(rec, "coupling_antisymmetric"));
        else
            g_string_append_printf(s, "%10s %9s %9s\n", "-", "-", "-");
    }
    if (json_is_number(json_object_get(ck, "mean_cosine")))
        g_string_append_printf(s, "mean cos(V,K^T) %.4f\n", real(ck, "mean_cosine"));
    g_string_append_printf(s, "\n%-30s %-9s %8s %8s %7s %6s %9s  %s\n", "matrix", "shape",
                           "eff.rank", "stable", "alpha", "KS", "tail", "power-law fit");
    json_array_foreach(json_object_get(ck, "spectra"), i, rec)
    {
        json_t *shape = json_object_get(rec, "shape");
        g_autofree char *dims = g_strdup_printf("%" JSON_INTEGER_FORMAT "x%" JSON_INTEGER_FORMAT,
                                                json_integer_value(json_array_get(shape, 0)),
                                                json_integer_value(json_array_get(shape, 1)));
        g_string_append_printf(s, "%-30s %-9s %8.2f %8.2f ", str(rec, "node"), dims,
                               real(rec, "effective_rank"), real(rec, "stable_rank"));
        json_t *pl = json_object_get(rec, "power_law");
        if (json_is_object(pl)) {
            g_autofree char *tail =
                g_strdup_printf("%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                                json_integer_value(json_object_get(pl, "n_tail")),
                                json_integer_value(json_object_get(pl, "n_eigenvalues")));
            g_string_append_printf(
                s, "%7.2f %6.3f %9s  %s\n", real(pl, "alpha"), real(pl, "ks"), tail,
                json_is_true(json_object_get(pl, "reliable"))
                    ? "reliable"
                    : "unreliable (tail < " G_STRINGIFY(MMX_ANALYZE_POWER_LAW_MIN_TAIL) ")");
        } else {
            g_string_append_printf(s, "%7s %6s %9s  %s\n", "-", "-", "-", "none (too few values)");
        }
    }
}

static void
series_text(GString *s, json_t *run)
{
    json_t *cks = json_object_get(run, "checkpoints");
    g_string_append(s, "cos(V,K^T) / symmetric fraction of the coupling V K, by epoch "
                       "(0: initialization)\n");
    g_string_append_printf(s, "%-24s %-8s", "mixer", "axis");
    size_t c;
    json_t *ck;
    json_array_foreach(cks, c, ck)
    {
        g_autofree char *h = g_strdup_printf("epoch %" JSON_INTEGER_FORMAT "%s",
                                             json_integer_value(json_object_get(ck, "epoch")),
                                             json_is_true(json_object_get(ck, "final")) ? "*" : "");
        g_string_append_printf(s, " %15s", h);
    }
    g_string_append_c(s, '\n');
    size_t i;
    json_t *ser;
    json_array_foreach(json_object_get(run, "series"), i, ser)
    {
        g_string_append_printf(s, "%-24s %-8s", str(ser, "mixer"), str(ser, "axis"));
        json_t *cos = json_object_get(ser, "cosine"),
               *sym = json_object_get(ser, "coupling_symmetric");
        for (size_t k = 0; k < json_array_size(cos); k++) {
            if (json_is_number(json_array_get(cos, k))) {
                g_autofree char *v =
                    g_strdup_printf("%.3f/%.3f", json_number_value(json_array_get(cos, k)),
                                    json_number_value(json_array_get(sym, k)));
                g_string_append_printf(s, " %15s", v);
            } else {
                g_string_append_printf(s, " %15s", "-");
            }
        }
        g_string_append_c(s, '\n');
    }
    g_string_append(s, "(* the final weights)\n");
}

static void
run_text(GString *s, json_t *run)
{
    json_t *cks = json_object_get(run, "checkpoints");
    g_string_append_printf(s, "run %s (%s): %zu checkpoints\n\n", str(run, "run"),
                           str(run, "spec_name"), json_array_size(cks));
    series_text(s, run);
    json_t *last = json_array_get(cks, json_array_size(cks) - 1);
    g_string_append_printf(s, "\nepoch %" JSON_INTEGER_FORMAT " (%s):\n",
                           json_integer_value(json_object_get(last, "epoch")),
                           str(last, "weights"));
    checkpoint_text(s, last);
}

static void
energy_text(GString *s, json_t *e)
{
    g_string_append_printf(s,
                           "\nHopfield energy E(z) = |z|^2/2 - sum L(W z) of each tied block, "
                           "z the normed state, on %" JSON_INTEGER_FORMAT " images of %s:\n",
                           json_integer_value(json_object_get(e, "inputs")), str(e, "data"));
    g_string_append_printf(s, "%-12s %14s %14s %14s  %s\n", "block", "E entering", "E leaving",
                           "lowered for", "mixers");
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(e, "blocks"), i, b)
    {
        g_autoptr(GString) names = g_string_new(NULL);
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(b, "mixers"), k, m)
            g_string_append_printf(names, "%s%s", k ? ", " : "", json_string_value(m));
        g_autofree char *frac = g_strdup_printf("%.1f%%", 100 * real(b, "decreased"));
        g_string_append_printf(s, "%-12s %14.4f %14.4f %14s  %s\n", str(b, "block"),
                               real(b, "mean_energy_in"), real(b, "mean_energy_out"), frac,
                               names->str);
    }
}

static void
memory_text(GString *s, json_t *mem)
{
    g_string_append_printf(s,
                           "\nKey-value memory: the keys of the mixers on the token grid, on "
                           "%" JSON_INTEGER_FORMAT " images of %s:\n",
                           json_integer_value(json_object_get(mem, "inputs")), str(mem, "data"));
    g_string_append_printf(s, "%-24s %6s %6s %15s %14s  %s\n", "mixer", "keys", "dead",
                           "effective keys", "usage entropy", "most used keys (mean h+)");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(mem, "mixers"), i, m)
    {
        json_t *usage = json_object_get(m, "usage");
        /* the three most used keys */
        int best[3] = {-1, -1, -1};
        for (int j = 0; j < (int)json_array_size(usage); j++) {
            double u = json_number_value(json_array_get(usage, (size_t)j));
            for (int r = 0; r < 3; r++)
                if (best[r] < 0 || u > json_number_value(json_array_get(usage, (size_t)best[r]))) {
                    for (int q = 2; q > r; q--)
                        best[q] = best[q - 1];
                    best[r] = j;
                    break;
                }
        }
        g_autoptr(GString) top = g_string_new(NULL);
        for (int r = 0; r < 3 && best[r] >= 0; r++)
            g_string_append_printf(top, "%s%d (%.3f)", r ? ", " : "", best[r],
                                   json_number_value(json_array_get(usage, (size_t)best[r])));
        g_string_append_printf(s, "%-24s %6" JSON_INTEGER_FORMAT " %6zu %15.1f %14.3f  %s\n",
                               str(m, "mixer"), json_integer_value(json_object_get(m, "keys")),
                               json_array_size(json_object_get(m, "dead")),
                               real(m, "effective_keys"), real(m, "usage_entropy"), top->str);
    }
}

/* An analysis --data asked for that does not apply to this model: {"not_computed": why}. */
static bool
not_computed(GString *s, json_t *o, const char *what)
{
    const char *why = json_string_value(json_object_get(o, "not_computed"));
    if (why)
        g_string_append_printf(s, "\n%s: not computed: %s\n", what, why);
    return why != NULL;
}

char *
mmx_analyze_text(json_t *doc)
{
    g_return_val_if_fail(doc != NULL, NULL);
    GString *s = g_string_new(NULL);
    if (json_object_get(doc, "sweep")) {
        g_string_append_printf(s, "sweep %s: %zu trials analyzed, %zu skipped\n", str(doc, "sweep"),
                               json_array_size(json_object_get(doc, "trials")),
                               json_array_size(json_object_get(doc, "skipped")));
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(doc, "trials"), i, t)
        {
            g_string_append_printf(s, "\n== trial %s (variant %s, seed %" JSON_INTEGER_FORMAT ")\n",
                                   str(t, "trial"), str(t, "variant"),
                                   json_integer_value(json_object_get(t, "seed")));
            run_text(s, json_object_get(t, "analysis"));
        }
        json_array_foreach(json_object_get(doc, "skipped"), i, t) g_string_append_printf(
            s, "\nskipped trial %s: %s\n", str(t, "trial"), str(t, "reason"));
    } else if (json_object_get(doc, "run")) {
        run_text(s, doc);
    } else {
        g_string_append_printf(s, "%s (%s)\n\n", str(doc, "weights"), str(doc, "spec_name"));
        checkpoint_text(s, doc);
    }
    json_t *energy = json_object_get(doc, "energy"), *memory = json_object_get(doc, "memory");
    if (json_is_object(energy) && !not_computed(s, energy, "Hopfield energy"))
        energy_text(s, energy);
    if (json_is_object(memory) && !not_computed(s, memory, "Key-value memory"))
        memory_text(s, memory);
    return g_string_free(s, FALSE);
}

/* ---- a sweep's symmetry over training, by variant ---- */

json_t *
mmx_analyze_sweep_series(json_t *sweep)
{
    g_return_val_if_fail(sweep != NULL, NULL);
    json_t *variants = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(sweep, "trials"), i, t)
    {
        const char *label = str(t, "variant");
        json_t *v = NULL;
        size_t k;
        json_t *o;
        json_array_foreach(variants, k,
                           o) if (strcmp(json_string_value(json_object_get(o, "variant")), label) ==
                                  0) v = o;
        if (v == NULL) {
            v = json_pack("{s:s, s:i, s:{}, s:{}}", "variant", label, "trials", 0, "sum", "n");
            json_array_append_new(variants, v);
        }
        json_object_set_new(v, "trials",
                            json_integer(json_integer_value(json_object_get(v, "trials")) + 1));
        json_t *sum = json_object_get(v, "sum"), *n = json_object_get(v, "n");
        json_array_foreach(json_object_get(json_object_get(t, "analysis"), "checkpoints"), k, o)
        {
            json_t *c = json_object_get(o, "mean_cosine");
            if (!json_is_number(c))
                continue;
            char key[32];
            g_snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT,
                       json_integer_value(json_object_get(o, "epoch")));
            json_t *prev = json_object_get(sum, key);
            json_object_set_new(
                sum, key, json_real((prev ? json_number_value(prev) : 0.0) + json_number_value(c)));
            json_object_set_new(n, key,
                                json_integer(json_integer_value(json_object_get(n, key)) + 1));
        }
    }
    /* {"variant", "trials", "epoch": [...], "mean_cosine": [...]}: epochs in order, each the
     * mean over the variant's trials that have it. */
    size_t k;
    json_t *v;
    json_array_foreach(variants, k, v)
    {
        json_t *sum = json_object_get(v, "sum"), *n = json_object_get(v, "n");
        g_autoptr(GArray) epochs = g_array_new(FALSE, FALSE, sizeof(int64_t));
        const char *key;
        json_t *x;
        json_object_foreach(n, key, x)
        {
            int64_t e = g_ascii_strtoll(key, NULL, 10);
            g_array_append_val(epochs, e);
        }
        g_array_sort(epochs, by_epoch);
        json_t *ep = json_array(), *mc = json_array();
        for (guint e = 0; e < epochs->len; e++) {
            char kk[32];
            g_snprintf(kk, sizeof kk, "%" G_GINT64_FORMAT, g_array_index(epochs, int64_t, e));
            json_array_append_new(ep, json_integer((json_int_t)g_array_index(epochs, int64_t, e)));
            json_array_append_new(
                mc, json_real(real(sum, kk) / (double)json_integer_value(json_object_get(n, kk))));
        }
        json_object_del(v, "sum");
        json_object_del(v, "n");
        json_object_set_new(v, "epoch", ep);
        json_object_set_new(v, "mean_cosine", mc);
    }
    return variants;
}

char *
mmx_analyze_sweep_markdown(json_t *sweep, const char *plots_dir)
{
    g_return_val_if_fail(sweep != NULL, NULL);
    g_autoptr(json_t) variants = mmx_analyze_sweep_series(sweep);
    int64_t last = 0;
    size_t i;
    json_t *v;
    json_array_foreach(variants, i, v)
    {
        json_t *ep = json_object_get(v, "epoch");
        last = MAX(last, json_integer_value(json_array_get(ep, json_array_size(ep) - 1)));
    }
    GString *s = g_string_new("## Symmetry over training\n\n");
    g_string_append(s, "cos(V, K^T) of the mixers with a key and a value matrix (1: tied, about 0: "
                       "independent), mean over the mixers and over the variant's analyzed "
                       "trials, at initialization (epoch 0), at each kept epoch and at the end "
                       "(`mmx analyze DIR`; docs/analysis.md).\n\n| variant | trials |");
    for (int64_t e = 0; e <= last; e++)
        g_string_append_printf(s, " epoch %" G_GINT64_FORMAT " |", e);
    g_string_append(s, "\n|---|---|");
    for (int64_t e = 0; e <= last; e++)
        g_string_append(s, "---|");
    g_string_append_c(s, '\n');
    json_array_foreach(variants, i, v)
    {
        g_string_append_printf(s, "| %s | %" JSON_INTEGER_FORMAT " |", str(v, "variant"),
                               json_integer_value(json_object_get(v, "trials")));
        json_t *ep = json_object_get(v, "epoch"), *mc = json_object_get(v, "mean_cosine");
        size_t at = 0;
        for (int64_t e = 0; e <= last; e++) {
            if (at < json_array_size(ep) && json_integer_value(json_array_get(ep, at)) == e)
                g_string_append_printf(s, " %.3f |", json_number_value(json_array_get(mc, at++)));
            else
                g_string_append(s, " |");
        }
        g_string_append_c(s, '\n');
    }
    if (plots_dir)
        g_string_append_printf(s, "\n![symmetry over training](%s/symmetry.svg)\n", plots_dir);
    json_array_foreach(json_object_get(sweep, "skipped"), i, v) g_string_append_printf(
        s, "%s- trial %s: %s\n", i ? "" : "\nNot analyzed:\n\n", str(v, "trial"), str(v, "reason"));
    return g_string_free(s, FALSE);
}
