/* sweep-prune.c: the sweep's pruners, as a pure function of the records so far.
 *
 * A sweep with "prune" (docs/sweeps.md) stops the variants that do badly early. The
 * coordinator (sweep-run.c) asks mmx_pruner_decide() after every record what each trial
 * is to do: train until an epoch (where it pauses with a checkpoint, or to the end), wait
 * paused, or stop for good (pruned). The answer depends only on the per-epoch values of
 * the metric recorded so far and the plan order: never on timing, worker count or how
 * often the sweep was killed and resumed, so a resumed sweep takes the same decisions as
 * one that was never stopped.
 *
 * The unit of a decision is a variant (a config): its value at epoch t is the mean of its
 * seeds' values at t, known once every seed that has not failed has trained epoch t; its
 * seeds are pruned together.
 *
 * median: Optuna's MedianPruner (n_startup_trials = startup, n_warmup_steps = grace - 1
 *   with step = epoch - 1, interval 1, n_min_trials 1) run sequentially in plan order:
 *   variant u is compared with the variants before it that completed (trained every epoch,
 *   not pruned). With fewer than `startup` of them it is never pruned; otherwise at every
 *   epoch t from grace to epochs - 1 it is pruned when its best value over epochs 1..t is
 *   worse than the median (linear interpolation between the two middle values, NaN
 *   ignored) of those variants' values at t, or is NaN. So u's decisions wait until every
 *   variant before it has ended; until then it trains up to epoch grace and pauses. Unlike
 *   Optuna, nothing is decided at the last epoch: a trial that trained every epoch is
 *   finished.
 * asha: synchronous successive halving. Rungs at epochs grace * eta^k below `epochs`.
 *   Every variant trains to the first rung; when every variant of a rung's cohort has
 *   reached it (or failed before it), they are ranked by their value at the rung (NaN
 *   last, ties by plan order) and the best max(1, floor(n / eta)) of the n that reached
 *   it go on to the next rung, paused trials resuming from their checkpoints; the others
 *   are pruned there. The survivors of the last rung train to the end. A rung waits for
 *   its slowest trial (the price of decisions that do not depend on timing).
 */
#include "sweep-private.h"

#include <math.h>
#include <string.h>

typedef enum rule { RULE_MEDIAN, RULE_ASHA } rule;

struct mmx_pruner {
    rule rule;
    char *metric;
    bool maximize;
    int grace, eta, startup, epochs;
};

/* ---- the rule's settings ---- */

mmx_pruner *
mmx_pruner_new(const json_t *prune, int epochs, GError **error)
{
    const char *r = json_string_value(json_object_get(prune, "rule"));
    const char *metric = json_string_value(json_object_get(prune, "metric"));
    bool known = false;
    bool up = metric ? mmx__prune_metric_maximized(metric, &known) : false;
    if (r == NULL || (strcmp(r, "median") != 0 && strcmp(r, "asha") != 0) || !known) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INVALID,
                    "/prune: expected {\"rule\": \"median\" | \"asha\", \"metric\": ...}");
        return NULL;
    }
    mmx_pruner *p = g_new0(mmx_pruner, 1);
    p->rule = strcmp(r, "median") == 0 ? RULE_MEDIAN : RULE_ASHA;
    p->metric = g_strdup(metric);
    const char *dir = json_string_value(json_object_get(prune, "direction"));
    p->maximize = dir ? strcmp(dir, "max") == 0 : up;
    json_t *v = json_object_get(prune, "grace");
    p->grace = v ? (int)json_integer_value(v) : 1;
    v = json_object_get(prune, "eta");
    p->eta = v ? (int)json_integer_value(v) : 3;
    v = json_object_get(prune, "startup");
    p->startup = v ? (int)json_integer_value(v) : 5;
    p->epochs = epochs;
    return p;
}

void
mmx_pruner_free(mmx_pruner *p)
{
    if (p == NULL)
        return;
    g_free(p->metric);
    g_free(p);
}

int
mmx_pruner_epochs(const mmx_pruner *p)
{
    return p->epochs;
}

const char *
mmx_pruner_metric(const mmx_pruner *p)
{
    return p->metric;
}

mmx_pruner *
mmx_sweep_plan_pruner(const mmx_sweep_plan *plan, GError **error)
{
    const json_t *prune = json_object_get(mmx__sweep_plan_json(plan), "prune");
    if (prune == NULL)
        return NULL;
    int epochs = -1;
    for (int i = 0; i < mmx_sweep_plan_size(plan); i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        if (t->state != MMX_TRIAL_RUN)
            continue;
        int e = mmx__spec_epochs(t->spec);
        if (epochs >= 0 && e != epochs) {
            g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INVALID,
                        "%s: /prune: pruning compares variants at the same epoch, but trial %d "
                        "(%s) trains %d epochs and the trials before it %d; give every trial "
                        "the same /train/epochs",
                        mmx_sweep_plan_sweep_path(plan), i, t->variant, e, epochs);
            return NULL;
        }
        epochs = e;
    }
    int grace = json_is_integer(json_object_get(prune, "grace"))
                    ? (int)json_integer_value(json_object_get(prune, "grace"))
                    : 1;
    if (epochs >= 0 && grace >= epochs) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INVALID,
                    "%s: /prune/grace: the first decision comes after epoch %d, but the trials "
                    "train %d epochs: nothing would be pruned; lower grace or train longer",
                    mmx_sweep_plan_sweep_path(plan), grace, epochs);
        return NULL;
    }
    return mmx_pruner_new(prune, epochs < 0 ? grace + 1 : epochs, error);
}

int *
mmx_sweep_plan_units(const mmx_sweep_plan *plan, int *n, int **index)
{
    g_autoptr(GHashTable) unit_of = g_hash_table_new(g_str_hash, g_str_equal);
    int size = mmx_sweep_plan_size(plan), k = 0;
    int *units = g_new(int, size + 1);
    if (index)
        *index = g_new(int, size + 1);
    for (int i = 0; i < size; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        if (t->state != MMX_TRIAL_RUN)
            continue;
        gpointer u;
        if (!g_hash_table_lookup_extended(unit_of, t->config, NULL, &u)) {
            u = GINT_TO_POINTER(g_hash_table_size(unit_of));
            g_hash_table_insert(unit_of, (gpointer)t->config, u);
        }
        if (index)
            (*index)[k] = i;
        units[k++] = GPOINTER_TO_INT(u);
    }
    *n = k;
    return units;
}

/* ---- the units (variants) ---- */

typedef struct unit {
    GArray *trials; /* int: indices into the trials */
    int pruned_at;  /* 0: not pruned */
    char *reason;
    int until; /* what its trials may train to; 0: wait */
} unit;

typedef struct view {
    const mmx_pruner *p;
    const mmx_prune_trial *trials;
    unit *units;
    int nunits;
} view;

/* The unit's value at epoch t: the mean over its trials that trained t. False while a
 * trial that has not failed has yet to train t, or when none did. */
static bool
unit_value(const view *w, int u, int t, double *value)
{
    double sum = 0;
    int n = 0;
    const GArray *ts = w->units[u].trials;
    for (guint k = 0; k < ts->len; k++) {
        const mmx_prune_trial *tr = &w->trials[g_array_index(ts, int, k)];
        if (tr->epochs_done >= t) {
            sum += tr->values[t - 1];
            n++;
        } else if (!tr->failed) {
            return false;
        }
    }
    if (n == 0)
        return false;
    *value = sum / n;
    return true;
}

/* Every trial of the unit finished or failed. */
static bool
unit_ended(const view *w, int u, bool *any_finished)
{
    const GArray *ts = w->units[u].trials;
    *any_finished = false;
    for (guint k = 0; k < ts->len; k++) {
        const mmx_prune_trial *tr = &w->trials[g_array_index(ts, int, k)];
        if (!tr->finished && !tr->failed)
            return false;
        *any_finished = *any_finished || tr->finished;
    }
    return true;
}

/* Every trial of the unit failed before epoch t: it cannot reach it. */
static bool
unit_dead_before(const view *w, int u, int t)
{
    const GArray *ts = w->units[u].trials;
    for (guint k = 0; k < ts->len; k++) {
        const mmx_prune_trial *tr = &w->trials[g_array_index(ts, int, k)];
        if (!tr->failed || tr->epochs_done >= t)
            return false;
    }
    return true;
}

static bool
worse(const mmx_pruner *p, double a, double b)
{
    return p->maximize ? a < b : a > b;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.nanpercentile(values, 50): the median, interpolating between the middle two. */
static double
nanmedian(double *v, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            v[m++] = v[i];
    if (m == 0)
        return NAN;
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}

static void
decide_median(view *w)
{
    const mmx_pruner *p = w->p;
    const int E = p->epochs;
    GArray *completed = g_array_new(FALSE, FALSE, sizeof(int));
    double *at = g_new(double, w->nunits + 1);
    int unknown = 0; /* variants before this one that have not ended yet */
    for (int u = 0; u < w->nunits; u++) {
        unit *un = &w->units[u];
        if ((int)completed->len + unknown < MAX(p->startup, 1)) {
            /* Too few completed variants before it, however those still running end. */
            un->until = E;
        } else if (unknown > 0) {
            un->until = MIN(p->grace, E); /* its decisions wait for the variants before it */
        } else {
            double best = NAN;
            int t;
            for (t = 1; t < E; t++) {
                double v;
                if (!unit_value(w, u, t, &v))
                    break;
                if (!isnan(v) && (isnan(best) || worse(p, best, v)))
                    best = v;
                if (t < p->grace)
                    continue;
                for (guint k = 0; k < completed->len; k++)
                    if (!unit_value(w, g_array_index(completed, int, k), t, &at[k]))
                        at[k] = NAN;
                double m = nanmedian(at, (int)completed->len);
                if (isnan(best) || (!isnan(m) && worse(p, best, m))) {
                    un->pruned_at = t;
                    un->reason = isnan(best)
                                     ? g_strdup_printf("median: at epoch %d, %s has no value",
                                                       t, p->metric)
                                     : g_strdup_printf(
                                           "median: at epoch %d, the best %s so far, %.6g, is "
                                           "%s the median %.6g of the %u completed variants "
                                           "before it",
                                           t, p->metric, best, p->maximize ? "below" : "above",
                                           m, completed->len);
                    break;
                }
            }
            /* Trains to its next decision (every epoch from grace on), or to the end. */
            if (!un->pruned_at)
                un->until = t >= E ? E : MAX(t, p->grace);
        }
        bool any_finished;
        if (un->pruned_at)
            continue; /* pruned: ended, not completed */
        if (unit_ended(w, u, &any_finished)) {
            if (any_finished)
                g_array_append_val(completed, u);
        } else {
            unknown++;
        }
    }
    g_free(at);
    g_array_unref(completed);
}

typedef struct ranked {
    int unit;
    double value;
} ranked;

static const mmx_pruner *sort_pruner; /* for the comparison; decisions are not threaded */

static int
cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    bool xn = isnan(x->value), yn = isnan(y->value);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->value != y->value)
        return worse(sort_pruner, x->value, y->value) ? 1 : -1;
    return x->unit - y->unit;
}

static void
decide_asha(view *w)
{
    const mmx_pruner *p = w->p;
    const int E = p->epochs;
    GArray *cohort = g_array_new(FALSE, FALSE, sizeof(int));
    for (int u = 0; u < w->nunits; u++)
        g_array_append_val(cohort, u);
    ranked *r = g_new(ranked, w->nunits + 1);
    int rung = 0;
    for (gint64 t = p->grace; t < E; t *= p->eta, rung++) {
        bool all = true;
        int n = 0;
        for (guint k = 0; k < cohort->len; k++) {
            int u = g_array_index(cohort, int, k);
            double v;
            if (unit_value(w, u, (int)t, &v))
                r[n++] = (ranked){u, v};
            else if (!unit_dead_before(w, u, (int)t))
                all = false;
        }
        if (!all) {
            /* The rung waits: its cohort trains to it. */
            for (guint k = 0; k < cohort->len; k++)
                w->units[g_array_index(cohort, int, k)].until = (int)t;
            g_array_unref(cohort);
            g_free(r);
            return;
        }
        sort_pruner = p;
        qsort(r, (size_t)n, sizeof *r, cmp_ranked);
        int keep = MAX(1, n / p->eta);
        g_array_set_size(cohort, 0);
        for (int i = 0; i < n; i++) {
            if (i < keep) {
                g_array_append_val(cohort, r[i].unit);
                continue;
            }
            unit *un = &w->units[r[i].unit];
            un->pruned_at = (int)t;
            un->reason = g_strdup_printf("asha: rung %d (epoch %d): %s %.6g ranks %d of the %d "
                                         "variants that reached it; the best %d go on",
                                         rung, (int)t, p->metric, r[i].value, i + 1, n, keep);
        }
    }
    for (guint k = 0; k < cohort->len; k++)
        w->units[g_array_index(cohort, int, k)].until = E;
    g_array_unref(cohort);
    g_free(r);
}

void
mmx_pruner_decide(const mmx_pruner *p, const mmx_prune_trial *trials, int n,
                  mmx_prune_decision *out)
{
    int nunits = 0;
    for (int i = 0; i < n; i++)
        nunits = MAX(nunits, trials[i].unit + 1);
    view w = {p, trials, g_new0(unit, nunits + 1), nunits};
    for (int u = 0; u < nunits; u++)
        w.units[u].trials = g_array_new(FALSE, FALSE, sizeof(int));
    for (int i = 0; i < n; i++)
        g_array_append_val(w.units[trials[i].unit].trials, i);
    if (p->rule == RULE_MEDIAN)
        decide_median(&w);
    else
        decide_asha(&w);
    for (int i = 0; i < n; i++) {
        const mmx_prune_trial *t = &trials[i];
        const unit *un = &w.units[t->unit];
        mmx_prune_decision *d = &out[i];
        memset(d, 0, sizeof *d);
        if (t->finished || t->failed) {
            d->action = MMX_PRUNE_DONE;
        } else if (un->pruned_at) {
            d->action = MMX_PRUNE_PRUNED;
            d->epoch = un->pruned_at;
            d->reason = g_strdup(un->reason);
        } else if (un->until > t->epochs_done) {
            d->action = MMX_PRUNE_RUN;
            d->until = un->until;
        } else {
            d->action = MMX_PRUNE_WAIT;
        }
    }
    for (int u = 0; u < nunits; u++) {
        g_array_unref(w.units[u].trials);
        g_free(w.units[u].reason);
    }
    g_free(w.units);
}

void
mmx_prune_decision_clear(mmx_prune_decision *d)
{
    g_clear_pointer(&d->reason, g_free);
}

/* ---- the budget ---- */

/* One simulated sweep: every unit keeps `score[u]` at every epoch; trials train what the
 * decisions say until none is to run. The epochs trained. */
static int64_t
simulate(const mmx_pruner *p, const int *units, int n, const double *score)
{
    const int E = p->epochs;
    mmx_prune_trial *tr = g_new0(mmx_prune_trial, n + 1);
    double *vals = g_new(double, (size_t)(n + 1) * (size_t)E);
    mmx_prune_decision *d = g_new0(mmx_prune_decision, n + 1);
    for (int i = 0; i < n; i++) {
        tr[i].unit = units[i];
        tr[i].values = vals + (size_t)i * (size_t)E;
        for (int e = 0; e < E; e++)
            vals[(size_t)i * (size_t)E + (size_t)e] = score[units[i]];
    }
    for (bool ran = true; ran;) {
        ran = false;
        mmx_pruner_decide(p, tr, n, d);
        for (int i = 0; i < n; i++) {
            if (d[i].action == MMX_PRUNE_RUN) {
                tr[i].epochs_done = d[i].until;
                tr[i].finished = d[i].until >= E;
                ran = true;
            }
            mmx_prune_decision_clear(&d[i]);
        }
    }
    int64_t epochs = 0;
    for (int i = 0; i < n; i++)
        epochs += tr[i].epochs_done;
    g_free(d);
    g_free(vals);
    g_free(tr);
    return epochs;
}

mmx_prune_budget
mmx_pruner_budget(const mmx_pruner *p, const int *units, int n, int samples)
{
    mmx_prune_budget b = {(int64_t)n * p->epochs, (int64_t)n * p->epochs, 0, 0};
    int nunits = 0;
    for (int i = 0; i < n; i++)
        nunits = MAX(nunits, units[i] + 1);
    double *score = g_new(double, nunits + 1);
    if (p->rule == RULE_ASHA) {
        /* Successive halving trains the same epochs whatever the values. */
        for (int u = 0; u < nunits; u++)
            score[u] = u;
        b.worst = simulate(p, units, n, score);
    }
    if (samples <= 0) {
        double work = p->rule == RULE_MEDIAN
                          ? (double)nunits * nunits * nunits * p->epochs * p->epochs
                          : (double)nunits * nunits * p->epochs;
        samples = work > 0 ? (int)CLAMP(2e9 / work, 20, 1000) : 1000;
    }
    b.samples = samples;
    double sum = 0;
    for (int s = 0; s < samples; s++) {
        for (int u = 0; u < nunits; u++) {
            uint32_t r[4];
            mmx_philox(mmx_rng_key(0x9a5e, 0x5eed0004, (uint64_t)s), (uint64_t)u, r);
            score[u] = (double)r[0] / 4294967296.0;
        }
        sum += (double)simulate(p, units, n, score);
    }
    b.expected = sum / samples;
    g_free(score);
    return b;
}
