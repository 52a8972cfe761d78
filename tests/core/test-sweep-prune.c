/* test-sweep-prune.c: the sweep's pruners as the pure function they are: median (Optuna's
 * MedianPruner run in plan order) and asha (synchronous successive halving) against
 * decisions worked out by hand, the mean over seeds, failures, NaN, ties, the plan's
 * checks, and the budget. The coordinator that acts on the decisions is tested through
 * `mmx sweep` in test-sweep.c. */
#include <math.h>
#include <string.h>

#include "test-util.h"

static mmx_pruner *
pruner(const char *json, int epochs)
{
    g_autoptr(json_t) j = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(j);
    g_autoptr(GError) error = NULL;
    mmx_pruner *p = mmx_pruner_new(j, epochs, &error);
    ck_assert_msg(p != NULL, "%s", error ? error->message : "");
    return p;
}

/* Trials with one value row each (values[k][e] is trial k at epoch e + 1). */
typedef struct sim {
    int n;
    mmx_prune_trial t[16];
    double v[16][16];
    mmx_prune_decision d[16];
} sim;

static void
sim_add(sim *s, int unit, int done, const double *values, bool finished)
{
    int k = s->n++;
    for (int e = 0; e < done; e++)
        s->v[k][e] = values[e];
    s->t[k] = (mmx_prune_trial){unit, done, s->v[k], finished, false};
}

static void
sim_decide(sim *s, const mmx_pruner *p)
{
    for (int k = 0; k < s->n; k++)
        mmx_prune_decision_clear(&s->d[k]);
    mmx_pruner_decide(p, s->t, s->n, s->d);
}

static void
sim_clear(sim *s)
{
    for (int k = 0; k < s->n; k++)
        mmx_prune_decision_clear(&s->d[k]);
}

/* median with startup 2, grace 2, 4 epochs: variants 0 and 1 run to the end unpruned
 * (fewer than 2 completed before them); variant 2 waits at epoch 2 until they ended, then
 * is compared with the median of their values at each epoch. */
START_TEST(test_median_semantics)
{
    g_autoptr(mmx_pruner) p =
        pruner("{\"rule\": \"median\", \"metric\": \"test_acc\", \"grace\": 2, \"startup\": 2}", 4);
    const double a[] = {0.5, 0.6, 0.7, 0.8}, b[] = {0.3, 0.4, 0.5, 0.6};
    sim s = {0};
    sim_add(&s, 0, 0, NULL, false);
    sim_add(&s, 1, 0, NULL, false);
    sim_add(&s, 2, 0, NULL, false);
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[0].action, MMX_PRUNE_RUN);
    ck_assert_int_eq(s.d[0].until, 4);
    ck_assert_int_eq(s.d[1].action, MMX_PRUNE_RUN); /* at most 1 completed before it */
    ck_assert_int_eq(s.d[1].until, 4);
    ck_assert_int_eq(s.d[2].action, MMX_PRUNE_RUN); /* to its first decision, then waits */
    ck_assert_int_eq(s.d[2].until, 2);

    /* Variant 2 paused at epoch 2 while 1 still runs: it waits. */
    s.t[0] = (mmx_prune_trial){0, 4, a, true, false};
    const double c[] = {0.42, 0.52, 0.62, 0.72};
    s.t[2] = (mmx_prune_trial){2, 2, c, false, false};
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[0].action, MMX_PRUNE_DONE);
    ck_assert_int_eq(s.d[2].action, MMX_PRUNE_WAIT);

    /* Both ended: the median of (0.6, 0.4) at epoch 2 is 0.5; 0.52 is above it: on to
     * epoch 3 (a decision every epoch from grace). */
    s.t[1] = (mmx_prune_trial){1, 4, b, true, false};
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[2].action, MMX_PRUNE_RUN);
    ck_assert_int_eq(s.d[2].until, 3);
    /* At epoch 3 the median is 0.6; 0.62 is above: on to the end (no decision at the last
     * epoch). */
    s.t[2].epochs_done = 3;
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[2].action, MMX_PRUNE_RUN);
    ck_assert_int_eq(s.d[2].until, 4);

    /* The best so far counts, not the last value: 0.55 then 0.45 at epoch 3 against the
     * medians 0.5 and 0.6: pruned at 3 (best 0.55 < 0.6), with the figures in the reason. */
    const double d[] = {0.3, 0.55, 0.45, 0.9};
    s.t[2] = (mmx_prune_trial){2, 3, d, false, false};
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[2].action, MMX_PRUNE_PRUNED);
    ck_assert_int_eq(s.d[2].epoch, 3);
    ck_assert_str_eq(s.d[2].reason, "median: at epoch 3, the best test_acc so far, 0.55, is "
                                    "below the median 0.6 of the 2 completed variants before it");
    /* Equal to the median is not worse: not pruned at epoch 2 with 0.5. */
    const double e[] = {0.1, 0.5};
    s.t[2] = (mmx_prune_trial){2, 2, e, false, false};
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[2].action, MMX_PRUNE_RUN);
    sim_clear(&s);
}
END_TEST

/* A loss is minimized: above the median is worse. A NaN value (diverged) is pruned. */
START_TEST(test_median_loss_and_nan)
{
    g_autoptr(mmx_pruner) p = pruner(
        "{\"rule\": \"median\", \"metric\": \"test_loss\", \"grace\": 1, \"startup\": 1}", 3);
    const double a[] = {1.0, 0.8, 0.6}, worse[] = {1.2}, nan[] = {NAN};
    sim s = {0};
    sim_add(&s, 0, 3, a, true);
    sim_add(&s, 1, 1, worse, false);
    sim_add(&s, 2, 1, nan, false);
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[1].action, MMX_PRUNE_PRUNED);
    ck_assert_contains(s.d[1].reason, "1.2, is above the median 1");
    /* Variant 2 waits for 1 to end; 1 is pruned, so it is decided: no value, pruned. */
    ck_assert_int_eq(s.d[2].action, MMX_PRUNE_PRUNED);
    ck_assert_str_eq(s.d[2].reason, "median: at epoch 1, test_loss has no value");
    sim_clear(&s);
}
END_TEST

/* The unit is the variant: its value is the mean over its seeds, known once every seed
 * trained the epoch, and its seeds are decided together. */
START_TEST(test_mean_over_seeds)
{
    g_autoptr(mmx_pruner) p =
        pruner("{\"rule\": \"asha\", \"metric\": \"test_acc\", \"grace\": 1, \"eta\": 2}", 2);
    /* Variant 0: seeds 0.9 and 0.1 (mean 0.5); variant 1: 0.6 and 0.6 (mean 0.6). */
    const double a0[] = {0.9}, a1[] = {0.1}, b0[] = {0.6}, b1[] = {0.6};
    sim s = {0};
    sim_add(&s, 0, 1, a0, false);
    sim_add(&s, 1, 1, b0, false);
    sim_add(&s, 0, 0, NULL, false); /* seed 1 of variant 0 has not reached the rung */
    sim_add(&s, 1, 1, b1, false);
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[0].action, MMX_PRUNE_WAIT);
    ck_assert_int_eq(s.d[2].action, MMX_PRUNE_RUN);
    ck_assert_int_eq(s.d[2].until, 1);
    s.t[2] = (mmx_prune_trial){0, 1, a1, false, false};
    sim_decide(&s, p);
    for (int k = 0; k < 4; k += 2) {
        ck_assert_int_eq(s.d[k].action, MMX_PRUNE_PRUNED);
        ck_assert_str_eq(s.d[k].reason, "asha: rung 0 (epoch 1): test_acc 0.5 ranks 2 of the 2 "
                                        "variants that reached it; the best 1 go on");
    }
    ck_assert_int_eq(s.d[1].action, MMX_PRUNE_RUN);
    ck_assert_int_eq(s.d[1].until, 2);
    /* A seed that failed before the rung leaves the others' mean; one that failed after it
     * keeps its values. */
    s.t[2].failed = true;
    s.t[2].epochs_done = 0;
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[0].action, MMX_PRUNE_RUN); /* variant 0 is now 0.9: the best */
    ck_assert_int_eq(s.d[1].action, MMX_PRUNE_PRUNED);
    ck_assert_int_eq(s.d[2].action, MMX_PRUNE_DONE);
    sim_clear(&s);
}
END_TEST

/* asha, eta 3, grace 1, 9 epochs, 9 variants: rungs at 1 and 3; 3 go on from rung 0, 1
 * from rung 1, which trains to 9. Ties go to the earlier variant; NaN ranks last. */
START_TEST(test_asha_rungs)
{
    g_autoptr(mmx_pruner) p =
        pruner("{\"rule\": \"asha\", \"metric\": \"test_acc\", \"grace\": 1, \"eta\": 3}", 9);
    const double v[9][1] = {{0.1}, {0.5}, {NAN}, {0.5}, {0.2}, {0.9}, {0.3}, {0.4}, {0.5}};
    sim s = {0};
    for (int u = 0; u < 9; u++)
        sim_add(&s, u, 0, NULL, false);
    sim_decide(&s, p);
    for (int u = 0; u < 9; u++) {
        ck_assert_int_eq(s.d[u].action, MMX_PRUNE_RUN);
        ck_assert_int_eq(s.d[u].until, 1);
    }
    for (int u = 0; u < 8; u++)
        s.t[u] = (mmx_prune_trial){u, 1, v[u], false, false};
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[0].action, MMX_PRUNE_WAIT); /* the rung waits for variant 8 */
    s.t[8] = (mmx_prune_trial){8, 1, v[8], false, false};
    sim_decide(&s, p);
    /* 0.9 (5), then the three 0.5 by plan order: 1 and 3 go on, 8 does not. */
    int promoted[] = {1, 3, 5};
    for (int u = 0; u < 9; u++) {
        bool up = u == 1 || u == 3 || u == 5;
        ck_assert_int_eq(s.d[u].action, up ? MMX_PRUNE_RUN : MMX_PRUNE_PRUNED);
        if (up)
            ck_assert_int_eq(s.d[u].until, 3);
    }
    ck_assert_contains(s.d[8].reason, "ranks 4 of the 9");
    ck_assert_contains(s.d[2].reason, "test_acc nan ranks 9 of the 9");
    double w[3][3] = {{0.5, 0.6, 0.7}, {0.5, 0.6, 0.8}, {0.9, 0.6, 0.65}};
    for (int i = 0; i < 3; i++)
        s.t[promoted[i]] = (mmx_prune_trial){promoted[i], 3, w[i], false, false};
    sim_decide(&s, p);
    ck_assert_int_eq(s.d[3].action, MMX_PRUNE_RUN);
    ck_assert_int_eq(s.d[3].until, 9);
    ck_assert_int_eq(s.d[1].action, MMX_PRUNE_PRUNED);
    ck_assert_int_eq(s.d[1].epoch, 3);
    ck_assert_int_eq(s.d[5].action, MMX_PRUNE_PRUNED);
    ck_assert_str_eq(s.d[5].reason, "asha: rung 1 (epoch 3): test_acc 0.65 ranks 3 of the 3 "
                                    "variants that reached it; the best 1 go on");
    sim_clear(&s);
}
END_TEST

/* The budget: successive halving trains the same epochs whatever the values (worst =
 * expected); the median rule's worst case is no pruning, its expectation below it. */
START_TEST(test_budget)
{
    g_autoptr(mmx_pruner) a =
        pruner("{\"rule\": \"asha\", \"metric\": \"test_acc\", \"grace\": 1, \"eta\": 3}", 9);
    int units[18];
    for (int i = 0; i < 18; i++)
        units[i] = i % 9; /* 9 variants x 2 seeds, seed by seed */
    mmx_prune_budget b = mmx_pruner_budget(a, units, 18, 50);
    /* 18 x 1 at rung 0, 6 x 2 more to rung 1, 2 x 6 more to the end. */
    ck_assert_int_eq(b.full, 162);
    ck_assert_int_eq(b.worst, 42);
    ck_assert(b.expected == 42.0);
    g_autoptr(mmx_pruner) m = pruner(
        "{\"rule\": \"median\", \"metric\": \"test_acc\", \"grace\": 2, \"startup\": 2}", 9);
    mmx_prune_budget c = mmx_pruner_budget(m, units, 18, 200);
    ck_assert_int_eq(c.worst, 162);
    /* 2 startup variants train 36 epochs; each of the others trains at least 2 x 2. */
    ck_assert(c.expected > 36 + 7 * 4 && c.expected < 162);
    mmx_prune_budget again = mmx_pruner_budget(m, units, 18, 200);
    ck_assert(again.expected == c.expected); /* a fixed seed: the same figure every time */
}
END_TEST

/* The plan's checks: the same epochs for every trial, and a grace below them. */
START_TEST(test_plan_pruner_checks)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *base = g_build_filename(dir, "base.json", NULL);
    ck_assert(g_file_set_contents(base, "{\"mmx\": 1, \"train\": {\"epochs\": 4}}", -1, NULL));
    g_autofree char *path = g_build_filename(dir, "sweep.json", NULL);
    const char *text = "{\"mmx_sweep\": 1, \"base\": \"base.json\", \"grid\": {\"/train/epochs\": "
                       "[4, 6]}, \"prune\": {\"rule\": \"asha\", \"metric\": \"test_acc\"}}";
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_sweep) sweep = mmx_sweep_load_data(text, -1, path, &error);
    ck_assert_msg(sweep != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_sweep_plan) plan = mmx_sweep_plan_new(sweep, &error);
    ck_assert_ptr_nonnull(plan);
    g_autoptr(mmx_pruner) p = mmx_sweep_plan_pruner(plan, &error);
    ck_assert_ptr_null(p);
    ck_assert_contains(error->message, "sweep.json: /prune: pruning compares variants at the "
                                       "same epoch, but trial 1 (epochs=6) trains 6 epochs");
    g_clear_error(&error);
    const char *plain = "{\"mmx_sweep\": 1, \"base\": \"base.json\"}";
    g_autoptr(mmx_sweep) s2 = mmx_sweep_load_data(plain, -1, path, &error);
    g_autoptr(mmx_sweep_plan) p2 = mmx_sweep_plan_new(s2, &error);
    g_autoptr(mmx_pruner) none = mmx_sweep_plan_pruner(p2, &error);
    ck_assert_ptr_null(none);
    ck_assert_ptr_null(error);
    const char *epochs = "{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": "
                         "\"median\", \"metric\": \"val_bpb\", \"grace\": 3}}";
    g_autoptr(mmx_sweep) s3 = mmx_sweep_load_data(epochs, -1, path, &error);
    g_autoptr(mmx_sweep_plan) p3 = mmx_sweep_plan_new(s3, &error);
    g_autoptr(mmx_pruner) ok = mmx_sweep_plan_pruner(p3, &error);
    ck_assert_ptr_nonnull(ok);
    ck_assert_int_eq(mmx_pruner_epochs(ok), 4);
    ck_assert_str_eq(mmx_pruner_metric(ok), "val_bpb");
    /* Every trial trains 2 epochs (an axis the reader does not look into): grace 2 leaves
     * nothing to decide. */
    const char *short_runs = "{\"mmx_sweep\": 1, \"base\": \"base.json\", \"grid\": "
                             "{\"/train/epochs\": [2]}, \"prune\": {\"rule\": \"asha\", "
                             "\"metric\": \"test_acc\", \"grace\": 2}}";
    g_autoptr(mmx_sweep) s4 = mmx_sweep_load_data(short_runs, -1, path, &error);
    ck_assert_msg(s4 != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_sweep_plan) p4 = mmx_sweep_plan_new(s4, &error);
    g_autoptr(mmx_pruner) none4 = mmx_sweep_plan_pruner(p4, &error);
    ck_assert_ptr_null(none4);
    ck_assert_contains(error->message, "sweep.json: /prune/grace: the first decision comes after "
                                       "epoch 2, but the trials train 2 epochs: nothing would be "
                                       "pruned; lower grace or train longer");
    g_clear_error(&error);
    /* The library's own check of a prune object it is handed. */
    g_autoptr(json_t) bad = json_pack("{ss ss}", "rule", "hyperband", "metric", "test_acc");
    g_autoptr(mmx_pruner) nob = mmx_pruner_new(bad, 4, &error);
    ck_assert_ptr_null(nob);
    ck_assert_str_eq(error->message,
                     "/prune: expected {\"rule\": \"median\" | \"asha\", \"metric\": ...}");
}
END_TEST

static Suite *
prune_suite(void)
{
    Suite *s = suite_create("sweep-prune");
    TCase *tc = tcase_create("decisions");
    tcase_add_test(tc, test_median_semantics);
    tcase_add_test(tc, test_median_loss_and_nan);
    tcase_add_test(tc, test_mean_over_seeds);
    tcase_add_test(tc, test_asha_rungs);
    tcase_add_test(tc, test_budget);
    tcase_add_test(tc, test_plan_pruner_checks);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return mmx_test_run(prune_suite());
}
