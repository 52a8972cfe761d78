/* report.c: `mmx report`: per-variant statistics of a sweep and its tables.
 *
 * Input: the sweep folder (sweep.json for the variants, their seeds and baseline;
 * results.jsonl for what finished or failed; trials/<id>/metrics.jsonl for the curves).
 * A variant is a resolved spec (its `config` hash); its trials are its seeds.
 *
 * mmx_report_new runs three stages: reading (read_folder), folding (the records through
 * the coordinator's own fold, mmx__results in sweep-private.h, then each trial into its
 * variant: fold_trials) and statistics (statistics). A trial the fold calls pending
 * (started, never ended) is planned, neither finished nor failed.
 *
 * Statistics (docs/sweeps.md states them with the table):
 * - mean and sample standard deviation (n - 1) over the finished seeds;
 * - the metric is test accuracy, or for language models validation bits per byte (lower
 *   is better), chosen by the first finished trial's result;
 * - delta of the metric vs the baseline, paired by seed: d_s = acc_v(s) - acc_b(s) over
 *   the seeds both finished; mean d, and with n >= 2 pairs the 95% confidence interval
 *   mean +- t(0.975, n - 1) * sd(d) / sqrt(n), Student's t;
 * - params and FLOPs from result.json (the graph's count), else from the plan.
 * Variants are sorted by the mean metric, best first; the baseline is marked.
 */
#include "report-private.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* ---- Student's t ---- */

double
mmx_student_t975(int df)
{
    /* Two-sided 95% (upper 0.975 quantile), from the standard tables for df 1..30. */
    static const double table[] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
                                   2.2622,  2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
                                   2.1098,  2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
                                   2.0595,  2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
    if (df < 1)
        return NAN;
    if (df <= 30)
        return table[df - 1];
    /* Cornish-Fisher expansion around the normal quantile: under 1e-4 off for df > 30. */
    double z = 1.959963984540054, n = df;
    double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n);
}

static void
mean_std(const GArray *v, double *mean, double *sd)
{
    guint n = v->len;
    double s = 0;
    for (guint i = 0; i < n; i++)
        s += g_array_index(v, double, i);
    *mean = n ? s / n : NAN;
    double q = 0;
    for (guint i = 0; i < n; i++) {
        double d = g_array_index(v, double, i) - *mean;
        q += d * d;
    }
    *sd = n > 1 ? sqrt(q / (n - 1)) : (n == 1 ? 0 : NAN);
}

/* ---- the metric ---- */

static const mmx__metric metric_accuracy = {
    .result = "test_acc",
    .curve = "test_acc",
    .curve_alt = "val_acc",
    .loss = "test_loss",
    .name = "test accuracy",
    .column = "test acc % (mean ± std)",
    .loss_column = "test loss (mean ± std)",
    .delta_column = "Δ acc vs baseline, pp [95% CI]",
    .axis = "test accuracy (%)",
    .delta_axis = "Δ test accuracy (percentage points)",
    .scale = 100,
    .delta_unit = "in test accuracy, percentage points",
    .sample = "image",
    .sample_short = "img",
    .sample_note = "image",
    .rate = "img",
    .format = "%.2f",
    .higher_better = true};

static const mmx__metric metric_bits_per_byte = {
    .result = "val_bpb",
    .curve = "val_bpb",
    .curve_alt = NULL,
    .loss = "val_loss",
    .name = "validation bits per byte",
    .column = "val bits/byte (mean ± std)",
    .loss_column = "val loss, nats (mean ± std)",
    .delta_column = "Δ bits/byte vs baseline [95% CI]",
    .axis = "validation bits per byte",
    .delta_axis = "Δ validation bits per byte (lower is better)",
    .scale = 1,
    .delta_unit = "in bits per byte",
    .sample = "window",
    .sample_short = "window",
    .sample_note = "window (one sample of context tokens)",
    .rate = "tokens",
    .format = "%.4f",
    .higher_better = false};

/* ---- variants ---- */

static mmx__variant *
variant_new(const char *config, const char *label, int order)
{
    mmx__variant *v = g_new0(mmx__variant, 1);
    v->config = g_strdup(config);
    v->label = g_strdup(label);
    v->order = order;
    v->seeds = g_array_new(FALSE, FALSE, sizeof(int64_t));
    v->acc = g_array_new(FALSE, FALSE, sizeof(double));
    v->loss = g_array_new(FALSE, FALSE, sizeof(double));
    v->imgs = g_array_new(FALSE, FALSE, sizeof(double));
    v->c_mean = g_array_new(FALSE, FALSE, sizeof(double));
    v->c_min = g_array_new(FALSE, FALSE, sizeof(double));
    v->c_max = g_array_new(FALSE, FALSE, sizeof(double));
    return v;
}

static void
variant_free(gpointer p)
{
    mmx__variant *v = p;
    g_free(v->config);
    g_free(v->label);
    g_free(v->not_run);
    g_array_unref(v->seeds);
    g_array_unref(v->acc);
    g_array_unref(v->loss);
    g_array_unref(v->imgs);
    g_array_unref(v->c_mean);
    g_array_unref(v->c_min);
    g_array_unref(v->c_max);
    g_free(v);
}

/* The metric per epoch of one trial (for accuracy: val_acc when the run had a validation
 * split). */
static GArray *
read_curve(const char *dir, const char *id, const mmx__metric *metric)
{
    g_autofree char *path = g_build_filename(dir, MMX_SWEEP_TRIALS, id, "metrics.jsonl", NULL);
    g_autofree char *text = NULL;
    GArray *c = g_array_new(FALSE, FALSE, sizeof(double));
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return c;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        json_t *rec = json_loads(*l, 0, NULL);
        json_t *a = json_object_get(rec, metric->curve);
        if (!a && metric->curve_alt)
            a = json_object_get(rec, metric->curve_alt);
        json_int_t ep = json_integer_value(json_object_get(rec, "epoch"));
        if (a && ep >= 1 && ep <= 100000) {
            double x = json_number_value(a);
            if ((guint)ep > c->len) {
                double nan = NAN;
                while (c->len < (guint)ep)
                    g_array_append_val(c, nan);
            }
            g_array_index(c, double, ep - 1) = x;
        }
        json_decref(rec);
    }
    return c;
}

typedef struct finished_trial {
    int64_t seed;
    double acc, loss, imgs;
    char *id;
} finished_trial;

static gint
by_seed(gconstpointer a, gconstpointer b)
{
    const finished_trial *x = a, *y = b;
    return x->seed < y->seed ? -1 : x->seed > y->seed;
}

/* Best mean metric first (the variants that finished nothing last), then plan order. */
static gint
by_metric(gconstpointer a, gconstpointer b, gpointer metric)
{
    const mmx__variant *x = *(mmx__variant *const *)a, *y = *(mmx__variant *const *)b;
    bool hx = x->finished > 0, hy = y->finished > 0;
    if (hx != hy)
        return hx ? -1 : 1;
    if (hx && x->acc_mean != y->acc_mean)
        return (x->acc_mean > y->acc_mean) == ((const mmx__metric *)metric)->higher_better ? -1
                                                                                          : 1;
    return x->order - y->order;
}

static void
compute(mmx_report *r, mmx__variant *v, GArray *trials)
{
    g_array_sort(trials, by_seed);
    GPtrArray *curves = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
    for (guint i = 0; i < trials->len; i++) {
        finished_trial *t = &g_array_index(trials, finished_trial, i);
        g_array_append_val(v->seeds, t->seed);
        g_array_append_val(v->acc, t->acc);
        g_array_append_val(v->loss, t->loss);
        if (!isnan(t->imgs))
            g_array_append_val(v->imgs, t->imgs);
        g_ptr_array_add(curves, read_curve(r->dir, t->id, r->metric));
    }
    v->finished = (int)trials->len;
    mean_std(v->acc, &v->acc_mean, &v->acc_std);
    mean_std(v->loss, &v->loss_mean, &v->loss_std);
    double ignored;
    mean_std(v->imgs, &v->imgs_mean, &ignored);
    /* The band: mean, min and max over the seeds that reached each epoch. */
    for (int ep = 0;; ep++) {
        double s = 0, lo = INFINITY, hi = -INFINITY;
        int n = 0;
        for (guint i = 0; i < curves->len; i++) {
            GArray *c = g_ptr_array_index(curves, i);
            if ((guint)ep < c->len && !isnan(g_array_index(c, double, ep))) {
                double x = g_array_index(c, double, ep);
                s += x;
                lo = fmin(lo, x);
                hi = fmax(hi, x);
                n++;
            }
        }
        if (n == 0)
            break;
        double m = s / n;
        g_array_append_val(v->c_mean, m);
        g_array_append_val(v->c_min, lo);
        g_array_append_val(v->c_max, hi);
        v->epochs = ep + 1;
    }
    g_ptr_array_unref(curves);
}

static void
compute_delta(mmx__variant *v, const mmx__variant *b)
{
    g_autoptr(GArray) d = g_array_new(FALSE, FALSE, sizeof(double));
    for (guint i = 0; i < v->seeds->len; i++) {
        for (guint j = 0; j < b->seeds->len; j++) {
            if (g_array_index(v->seeds, int64_t, i) == g_array_index(b->seeds, int64_t, j)) {
                double x = g_array_index(v->acc, double, i) - g_array_index(b->acc, double, j);
                g_array_append_val(d, x);
            }
        }
    }
    v->pairs = (int)d->len;
    mean_std(d, &v->d_mean, &v->d_std);
    if (v->pairs >= 2) {
        double half = mmx_student_t975(v->pairs - 1) * v->d_std / sqrt(v->pairs);
        v->d_lo = v->d_mean - half;
        v->d_hi = v->d_mean + half;
    } else {
        v->d_lo = v->d_hi = NAN;
    }
}

/* ---- the stages of mmx_report_new: read, fold, statistics ---- */

/* Reading: the manifest (new reference) and the records of results.jsonl (new). */
static bool
read_folder(const char *dir, json_t **manifest, json_t **records, GError **error)
{
    g_autofree char *mpath = g_build_filename(dir, MMX_SWEEP_MANIFEST, NULL);
    if (!g_file_test(mpath, G_FILE_TEST_EXISTS)) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_IO,
                    "%s holds no sweep: %s is missing (make one with mmx sweep)", dir, mpath);
        return false;
    }
    g_autoptr(GError) local = NULL;
    g_autoptr(json_t) m = mmx_json_read(mpath, &local);
    if (!json_is_array(json_object_get(m, "trials"))) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_IO, "%s: %s", mpath,
                    local ? local->message : "not a sweep manifest (no trial list)");
        return false;
    }
    *records = mmx_sweep_read_results(dir, NULL, error);
    if (*records == NULL)
        return false;
    *manifest = g_steal_pointer(&m);
    return true;
}

/* The variant of a manifest trial, created at its first trial. */
static mmx__variant *
variant_of(mmx_report *r, GHashTable *by_config, GHashTable *done, json_t *t, int order)
{
    const char *config = json_string_value(json_object_get(t, "config"));
    const char *label = json_string_value(json_object_get(t, "variant"));
    mmx__variant *v = g_hash_table_lookup(by_config, config);
    if (v == NULL) {
        v = variant_new(config, label ? label : config, order);
        g_ptr_array_add(r->variants, v);
        g_hash_table_insert(by_config, v->config, v);
        g_hash_table_insert(done, v->config, g_array_new(FALSE, FALSE, sizeof(finished_trial)));
    }
    return v;
}

/* What the plan says of a variant: baseline, params and FLOPs, why it does not run. */
static void
take_plan(mmx__variant *v, json_t *t, const char *state)
{
    if (json_is_true(json_object_get(t, "baseline")) &&
        !json_is_true(json_object_get(t, "earlier_plan")))
        v->baseline = true;
    if (json_is_integer(json_object_get(t, "params"))) {
        v->has_params = true;
        v->params = json_integer_value(json_object_get(t, "params"));
    }
    if (json_is_number(json_object_get(t, "flops"))) {
        v->has_flops = true;
        v->flops = json_number_value(json_object_get(t, "flops"));
    }
    if (strcmp(state, "run") != 0 && strcmp(state, "duplicate") != 0 && v->not_run == NULL) {
        const char *why = json_string_value(json_object_get(t, "reason"));
        v->not_run = g_strdup_printf("%s: %s", state, why ? why : "");
    }
}

/* A finished trial's figures, and the graph's counts, which win over the plan's. The
 * first finished trial decides the sweep's metric. */
static finished_trial
take_result(mmx_report *r, mmx__variant *v, json_t *t, const json_t *record, const char *id)
{
    json_t *res = json_object_get(record, "result");
    if (r->metric == NULL)
        r->metric = json_is_number(json_object_get(res, metric_bits_per_byte.result))
                        ? &metric_bits_per_byte
                        : &metric_accuracy;
    json_t *m = json_object_get(res, r->metric->result), *l = json_object_get(res, r->metric->loss);
    finished_trial ft = {json_integer_value(json_object_get(t, "seed")),
                         json_is_number(m) ? json_number_value(m) : NAN,
                         json_is_number(l) ? json_number_value(l) : NAN, NAN, (char *)id};
    json_t *ips = json_object_get(res, "train_img_per_s");
    if (!json_is_number(ips)) /* a language model counts tokens */
        ips = json_object_get(res, "train_tokens_per_s");
    if (json_is_number(ips))
        ft.imgs = json_number_value(ips);
    if (json_is_integer(json_object_get(res, "params"))) {
        v->has_params = true;
        v->params = json_integer_value(json_object_get(res, "params"));
    }
    if (json_is_number(json_object_get(res, "flops_per_image"))) {
        v->has_flops = true;
        v->flops = json_number_value(json_object_get(res, "flops_per_image"));
    }
    return ft;
}

/* Folding: every runnable trial of the manifest, once, into its variant: counted as
 * planned, and as finished (its figures into done[config]) or failed as the results fold
 * says; a pending trial (started, never ended) is planned only. */
static void
fold_trials(mmx_report *r, json_t *trials, const mmx__results *fold, GHashTable *done)
{
    g_autoptr(GHashTable) by_config = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) seen_ids = g_hash_table_new(g_str_hash, g_str_equal);
    size_t i;
    json_t *t;
    json_array_foreach(trials, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        const char *state = json_string_value(json_object_get(t, "state"));
        if (!json_is_string(json_object_get(t, "config")) || !id || !state)
            continue;
        mmx__variant *v = variant_of(r, by_config, done, t, (int)i);
        take_plan(v, t, state);
        if (strcmp(state, "run") != 0 || !g_hash_table_add(seen_ids, (gpointer)id))
            continue;
        v->planned++;
        const json_t *rec = mmx__results_record(fold, id);
        switch (mmx__results_status(fold, id)) {
        case MMX__TRIAL_FINISHED: {
            finished_trial ft = take_result(r, v, t, rec, id);
            g_array_append_val(g_hash_table_lookup(done, v->config), ft);
            break;
        }
        case MMX__TRIAL_FAILED: {
            const char *why = json_string_value(json_object_get(rec, "reason"));
            v->failed++;
            r->total_failed++;
            g_ptr_array_add(r->failures,
                            g_strdup_printf("%s, seed %" G_GINT64_FORMAT ": %s", v->label,
                                            (gint64)json_integer_value(json_object_get(t, "seed")),
                                            why ? why : "failed"));
            break;
        }
        case MMX__TRIAL_PRUNED: {
            v->pruned++;
            json_t *vals = json_object_get(rec, "values");
            int e = (int)json_integer_value(json_object_get(rec, "epoch"));
            g_ptr_array_add(r->pruned,
                            g_strdup_printf("%s, seed %" G_GINT64_FORMAT ": epoch %d, %s %.4f: %s",
                                            v->label,
                                            (gint64)json_integer_value(json_object_get(t, "seed")),
                                            e, r->prune_metric ? r->prune_metric : "metric",
                                            json_number_value(json_array_get(vals, (size_t)e - 1)),
                                            json_string_value(json_object_get(rec, "reason"))));
            break;
        }
        case MMX__TRIAL_NOT_STARTED:
        case MMX__TRIAL_PENDING:
        case MMX__TRIAL_PAUSED:
            break;
        }
        if (r->prune) {
            /* Epochs trained: a finished trial's, else what its records say it trained. */
            const json_t *res = json_object_get(rec, "result");
            json_t *pv = json_object_get(mmx__results_progress(fold, id), "values");
            int64_t e = mmx__results_status(fold, id) == MMX__TRIAL_FINISHED
                            ? json_integer_value(json_object_get(res, "epochs"))
                            : (int64_t)json_array_size(pv);
            r->epochs_trained += e;
            r->epochs_full += r->prune_epochs;
        }
    }
}

/* Statistics: per variant over its finished trials, the deltas against the baseline,
 * and the order of the table. */
static void
statistics(mmx_report *r, GHashTable *done)
{
    if (r->metric == NULL) /* nothing finished */
        r->metric = &metric_accuracy;
    for (guint k = 0; k < r->variants->len; k++) {
        mmx__variant *v = g_ptr_array_index(r->variants, k);
        compute(r, v, g_hash_table_lookup(done, v->config));
        if (v->baseline && r->baseline == NULL)
            r->baseline = v;
    }
    for (guint k = 0; r->baseline && k < r->variants->len; k++) {
        mmx__variant *v = g_ptr_array_index(r->variants, k);
        if (v != r->baseline)
            compute_delta(v, r->baseline);
    }
    g_ptr_array_sort_with_data(r->variants, by_metric, (gpointer)r->metric);
}

mmx_report *
mmx_report_new(const char *dir, GError **error)
{
    g_return_val_if_fail(dir != NULL, NULL);
    g_autoptr(json_t) manifest = NULL, records = NULL;
    if (!read_folder(dir, &manifest, &records, error))
        return NULL;
    g_autoptr(mmx__results) fold = mmx__results_new(records);

    mmx_report *r = g_new0(mmx_report, 1);
    r->dir = g_strdup(dir);
    const char *name = json_string_value(json_object_get(manifest, "name"));
    r->name = g_strdup(name ? name : "sweep");
    r->variants = g_ptr_array_new_with_free_func(variant_free);
    r->failures = g_ptr_array_new_with_free_func(g_free);
    r->pruned = g_ptr_array_new_with_free_func(g_free);
    /* A sweep that pruned (not one run with --no-prune) has the trials' epochs. */
    const json_t *prune = json_object_get(json_object_get(manifest, "sweep"), "prune");
    if (prune)
        r->prune_metric = g_strdup(json_string_value(json_object_get(prune, "metric")));
    if (prune && json_object_get(manifest, "prune_epochs")) {
        r->prune = g_strdup_printf("%s on %s", json_string_value(json_object_get(prune, "rule")),
                                   r->prune_metric);
        r->prune_epochs = json_integer_value(json_object_get(manifest, "prune_epochs"));
    }
    /* config -> GArray of finished_trial; the ids in it are borrowed from the manifest. */
    g_autoptr(GHashTable) done =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)g_array_unref);
    fold_trials(r, json_object_get(manifest, "trials"), fold, done);
    statistics(r, done);
    return r;
}

void
mmx_report_free(mmx_report *r)
{
    if (r == NULL)
        return;
    g_free(r->dir);
    g_free(r->name);
    g_ptr_array_unref(r->variants);
    g_ptr_array_unref(r->failures);
    g_ptr_array_unref(r->pruned);
    g_free(r->prune);
    g_free(r->prune_metric);
    g_free(r);
}

/* ---- tables ---- */

static char *
human(double v)
{
    if (v >= 1e9)
        return g_strdup_printf("%.2fG", v / 1e9);
    if (v >= 1e6)
        return g_strdup_printf("%.2fM", v / 1e6);
    if (v >= 1e3)
        return g_strdup_printf("%.1fk", v / 1e3);
    return g_strdup_printf("%.0f", v);
}

/* A metric's value as the tables show it (accuracy in percent), with a sign if asked. */
static char *
metric_text(const mmx__metric *m, double x, bool sign)
{
    g_autofree char *fmt = g_strdup_printf("%s%s", sign ? "%+" : "%", m->format + 1);
    return g_strdup_printf(fmt, m->scale * x);
}

/* Deltas in the metric's unit (percentage points for accuracy). */
static char *
delta_cell(const mmx__metric *m, const mmx__variant *v)
{
    if (v->baseline)
        return g_strdup("baseline");
    if (v->pairs == 0)
        return g_strdup("n/a");
    g_autofree char *d = metric_text(m, v->d_mean, true);
    if (v->pairs == 1)
        return g_strdup_printf("%s (1 pair, no CI)", d);
    g_autofree char *lo = metric_text(m, v->d_lo, true), *hi = metric_text(m, v->d_hi, true);
    return g_strdup_printf("%s [%s, %s]", d, lo, hi);
}

char *
mmx_report_markdown(const mmx_report *r, const char *plots_dir)
{
    GString *md = g_string_new(NULL);
    g_string_append_printf(md, "# Sweep report: %s\n\n", r->name);
    const mmx__metric *m = r->metric;
    g_string_append_printf(md,
                           "| variant | seeds | %s | %s | %s | params | FLOPs/%s | train %s/s | "
                           "failed |\n",
                           m->column, m->loss_column, m->delta_column,
                           m->sample_short, m->rate);
    g_string_append(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (guint k = 0; k < r->variants->len; k++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, k);
        if (v->planned == 0)
            continue;
        g_autofree char *d = delta_cell(m, v);
        g_autofree char *p = v->has_params ? human((double)v->params) : g_strdup("-");
        g_autofree char *f = v->has_flops ? human(v->flops) : g_strdup("-");
        g_autofree char *mean = metric_text(m, v->acc_mean, false);
        g_autofree char *sd = metric_text(m, v->acc_std, false);
        g_autofree char *acc = v->finished ? g_strdup_printf("%s ± %s", mean, sd) : g_strdup("-");
        g_autofree char *loss =
            v->finished ? g_strdup_printf("%.4f ± %.4f", v->loss_mean, v->loss_std) : g_strdup("-");
        g_autofree char *ips = v->imgs->len ? g_strdup_printf("%.0f", v->imgs_mean) : g_strdup("-");
        g_autofree char *pr = v->pruned ? g_strdup_printf(", %d pruned", v->pruned) : g_strdup("");
        g_string_append_printf(md, "| %s%s%s | %d/%d%s | %s | %s | %s | %s | %s | %s | %d |\n",
                               v->baseline ? "**" : "", v->label, v->baseline ? "**" : "",
                               v->finished, v->planned, pr, acc, loss, d, p, f, ips, v->failed);
    }
    g_string_append_printf(
        md,
        "\nSorted by mean %s, best first (%s is better). Baseline in bold. Mean ± sample "
        "standard deviation (n − 1) over the finished seeds. Δ is the difference to the "
        "baseline %s, paired by seed (seeds both finished); the 95%% confidence interval is "
        "mean ± t(0.975, n − 1) · sd / √n with Student's t (n pairs). FLOPs are per %s, "
        "forward pass, multiply-adds counted as 2.\n",
        m->name, m->higher_better ? "higher" : "lower",
        m->delta_unit, m->sample_note);
    bool header = false;
    for (guint k = 0; k < r->variants->len; k++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, k);
        if (v->planned > 0 || v->not_run == NULL)
            continue;
        if (!header)
            g_string_append(md, "\n## Not run\n\n");
        header = true;
        g_string_append_printf(md, "- %s: %s\n", v->label, v->not_run);
    }
    if (r->prune) {
        g_string_append_printf(md,
                               "\n## Pruning\n\n%s: %" G_GINT64_FORMAT " epochs trained of the %"
                               G_GINT64_FORMAT " the trials would train without pruning (%.0f%%); "
                               "a pruned trial's figures are those of the epoch it stopped at, "
                               "outside the means above.\n",
                               r->prune, r->epochs_trained, r->epochs_full,
                               r->epochs_full ? 100.0 * (double)r->epochs_trained /
                                                    (double)r->epochs_full
                                              : 0.0);
    }
    /* Listed also when the folder was resumed with --no-prune after a pruned run. */
    if (r->pruned->len)
        g_string_append_printf(md, "\n%s Pruned trials (%u)\n\n", r->prune ? "###" : "##",
                               r->pruned->len);
    for (guint k = 0; k < r->pruned->len; k++)
        g_string_append_printf(md, "- %s\n", (char *)g_ptr_array_index(r->pruned, k));
    if (r->failures->len) {
        g_string_append_printf(md, "\n## Failed trials (%u)\n\n", r->failures->len);
        for (guint k = 0; k < r->failures->len; k++)
            g_string_append_printf(md, "- %s\n", (char *)g_ptr_array_index(r->failures, k));
    }
    if (plots_dir) {
        g_string_append(md, "\n## Plots\n\n");
        const char *plots[][2] = {{"curves.svg", "Learning curves"},
                                  {"acc-vs-flops.svg", "Metric vs FLOPs"},
                                  {"acc-vs-params.svg", "Metric vs parameters"},
                                  {"forest.svg", "Deltas vs the baseline"}};
        for (size_t i = 0; i < G_N_ELEMENTS(plots); i++)
            g_string_append_printf(md, "![%s](%s/%s)\n", plots[i][1], plots_dir, plots[i][0]);
    }
    return g_string_free(md, FALSE);
}

static void
csv_field(GString *s, const char *text)
{
    bool quote = strpbrk(text, ",\"\n") != NULL;
    if (!quote) {
        g_string_append(s, text);
        return;
    }
    g_string_append_c(s, '"');
    for (const char *c = text; *c; c++) {
        if (*c == '"')
            g_string_append_c(s, '"');
        g_string_append_c(s, *c);
    }
    g_string_append_c(s, '"');
}

static void
csv_num(GString *s, double v)
{
    if (isnan(v))
        g_string_append(s, ",");
    else
        g_string_append_printf(s, ",%.6g", v);
}

char *
mmx_report_csv(const mmx_report *r)
{
    GString *s = g_string_new("variant,config,baseline,finished,planned,failed,acc_mean,acc_std,"
                              "loss_mean,loss_std,delta_mean,delta_ci_low,delta_ci_high,pairs,"
                              "params,flops,img_per_s\n");
    for (guint k = 0; k < r->variants->len; k++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, k);
        if (v->planned == 0)
            continue;
        csv_field(s, v->label);
        g_string_append_printf(s, ",%s,%d,%d,%d,%d", v->config, v->baseline, v->finished,
                               v->planned, v->failed);
        bool has_d = !v->baseline && v->pairs > 0;
        csv_num(s, v->acc_mean);
        csv_num(s, v->acc_std);
        csv_num(s, v->loss_mean);
        csv_num(s, v->loss_std);
        csv_num(s, has_d ? v->d_mean : NAN);
        csv_num(s, has_d ? v->d_lo : NAN);
        csv_num(s, has_d ? v->d_hi : NAN);
        g_string_append_printf(s, ",%d", v->pairs);
        if (v->has_params)
            g_string_append_printf(s, ",%" G_GINT64_FORMAT, v->params);
        else
            g_string_append(s, ",");
        csv_num(s, v->has_flops ? v->flops : NAN);
        csv_num(s, v->imgs->len ? v->imgs_mean : NAN);
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}

static json_t *
num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

json_t *
mmx_report_to_json(const mmx_report *r)
{
    json_t *vs = json_array();
    for (guint k = 0; k < r->variants->len; k++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, k);
        json_t *seeds = json_array();
        for (guint i = 0; i < v->seeds->len; i++)
            json_array_append_new(seeds, json_integer(g_array_index(v->seeds, int64_t, i)));
        json_t *o = json_pack(
            "{ss ss sb si si si so so so so so so}", "variant", v->label, "config", v->config,
            "baseline", v->baseline, "finished", v->finished, "planned", v->planned, "failed",
            v->failed, "seeds", seeds, "acc_mean", num_or_null(v->acc_mean), "acc_std",
            num_or_null(v->acc_std), "loss_mean", num_or_null(v->loss_mean), "loss_std",
            num_or_null(v->loss_std), "img_per_s", num_or_null(v->imgs->len ? v->imgs_mean : NAN));
        if (!v->baseline && v->pairs > 0)
            json_object_set_new(o, "delta",
                                json_pack("{si so so so}", "pairs", v->pairs, "mean",
                                          num_or_null(v->d_mean), "ci_low", num_or_null(v->d_lo),
                                          "ci_high", num_or_null(v->d_hi)));
        json_object_set_new(o, "params", v->has_params ? json_integer(v->params) : json_null());
        json_object_set_new(o, "flops", v->has_flops ? json_real(v->flops) : json_null());
        if (v->not_run)
            json_object_set_new(o, "not_run", json_string(v->not_run));
        if (r->prune)
            json_object_set_new(o, "pruned", json_integer(v->pruned));
        json_array_append_new(vs, o);
    }
    json_t *failures = json_array();
    for (guint k = 0; k < r->failures->len; k++)
        json_array_append_new(failures, json_string(g_ptr_array_index(r->failures, k)));
    json_t *j = json_pack("{ss ss so so ss}", "name", r->name, "metric", r->metric->result,
                          "variants", vs, "failures", failures, "ci",
                          "95% two-sided, Student's t, paired by seed");
    if (r->prune) {
        json_t *pruned = json_array();
        for (guint k = 0; k < r->pruned->len; k++)
            json_array_append_new(pruned, json_string(g_ptr_array_index(r->pruned, k)));
        json_object_set_new(j, "pruning",
                            json_pack("{ss so sI sI}", "rule", r->prune, "pruned", pruned,
                                      "epochs_trained", (json_int_t)r->epochs_trained,
                                      "epochs_without_pruning", (json_int_t)r->epochs_full));
    }
    return j;
}

bool
mmx_report_write_svg(const mmx_report *r, const char *dir, GPtrArray **written, GError **error)
{
    if (g_mkdir_with_parents(dir, 0755) != 0) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_IO, "cannot create %s: %s", dir,
                    g_strerror(errno));
        return false;
    }
    g_autofree char *curves = g_build_filename(dir, "curves.svg", NULL);
    g_autofree char *flops = g_build_filename(dir, "acc-vs-flops.svg", NULL);
    g_autofree char *params = g_build_filename(dir, "acc-vs-params.svg", NULL);
    g_autofree char *forest = g_build_filename(dir, "forest.svg", NULL);
    if (!mmx__svg_curves(r, curves, error) || !mmx__svg_scatter(r, flops, true, error) ||
        !mmx__svg_scatter(r, params, false, error) || !mmx__svg_forest(r, forest, error))
        return false;
    if (written) {
        *written = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(*written, g_steal_pointer(&curves));
        g_ptr_array_add(*written, g_steal_pointer(&flops));
        g_ptr_array_add(*written, g_steal_pointer(&params));
        g_ptr_array_add(*written, g_steal_pointer(&forest));
    }
    return true;
}
