/* cmd-sweep.c: `mmx sweep SWEEP ...`: plans a sweep, shows it (--dry-run), runs it with
 * the local or MPI executor, resumes it, runs one trial of it (--trial, for Slurm array
 * tasks), writes a Slurm script (--emit-slurm), or merges what array tasks wrote
 * (--collect DIR). The work is in core/sweep*.c; this file is options and output. */
#include "cli.h"
#include "sweep-mpi.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const cmd = "sweep";

static char *opt_out;
static int opt_workers = 1;
static int opt_threads;
static gboolean opt_dry_run, opt_resume, opt_retry_failed, opt_extend, opt_json, opt_no_prune;
static double opt_timeout;
static char *opt_executor;
static char *opt_emit_slurm;
static int opt_trial = -1;
static char *opt_collect;

static GOptionEntry entries[] = {
    {"out", 'o', 0, G_OPTION_ARG_FILENAME, &opt_out,
     "The sweep folder (default: runs/<sweep name>)", "DIR"},
    {"workers", 'j', 0, G_OPTION_ARG_INT, &opt_workers, "Trials at once (local executor)", "N"},
    {"threads-per-trial", 't', 0, G_OPTION_ARG_INT, &opt_threads,
     "--threads of each trial (default: cores / workers)", "N"},
    {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &opt_dry_run,
     "Show every trial with its overrides, params and FLOPs; train nothing", NULL},
    {"resume", 0, 0, G_OPTION_ARG_NONE, &opt_resume,
     "Continue the sweep in --out: run what has not finished", NULL},
    {"retry-failed", 0, 0, G_OPTION_ARG_NONE, &opt_retry_failed,
     "With --resume: run failed trials again too", NULL},
    {"extend", 0, 0, G_OPTION_ARG_NONE, &opt_extend,
     "With --resume: accept a changed sweep spec and run its new trials", NULL},
    {"no-prune", 0, 0, G_OPTION_ARG_NONE, &opt_no_prune,
     "Run every trial to its last epoch even if the sweep prunes (the unpruned reference)", NULL},
    {"timeout", 0, 0, G_OPTION_ARG_DOUBLE, &opt_timeout,
     "Seconds a trial may take before it is stopped and recorded as failed", "SECONDS"},
    {"executor", 0, 0, G_OPTION_ARG_STRING, &opt_executor,
     "local (child processes, default) or mpi (under mpirun: rank 0 hands trials to the others)",
     "local|mpi"},
    {"emit-slurm", 0, 0, G_OPTION_ARG_FILENAME, &opt_emit_slurm,
     "Write a Slurm job-array script running one trial per task, and the manifest", "FILE"},
    {"trial", 0, 0, G_OPTION_ARG_INT, &opt_trial,
     "Run only the trial with this plan index (a Slurm array task)", "INDEX"},
    {"collect", 0, 0, G_OPTION_ARG_FILENAME, &opt_collect,
     "Record in DIR/results.jsonl what --trial tasks wrote into DIR/trials", "DIR"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print the plan or the summary as JSON", NULL},
    MMX_CLI_PLUGIN_OPTION,
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const char *const description =
    "Trials run as child processes 'mmx train trials/ID/spec.json --out trials/ID --seed S\n"
    "--threads T --quiet' in the sweep folder, which holds sweep.json (the manifest),\n"
    "results.jsonl (append-only records) and trials/ID/. A trial that crashes, diverges or\n"
    "times out is recorded as failed and the sweep goes on. Ctrl-C (SIGINT) or SIGTERM stops\n"
    "cleanly; --resume continues. MMX_SWEEP_TRAINER replaces the mmx binary that trials run.\n"
    "Exit status: 0 the sweep went through (failed trials included), 1 interrupted or a\n"
    "runtime failure, 2 invalid input. See docs/sweeps.md.";

/* The mmx binary the trials run: this very one, unless MMX_SWEEP_TRAINER says otherwise. */
static char *
trainer_path(void)
{
    const char *env = g_getenv("MMX_SWEEP_TRAINER");
    if (env && *env)
        return g_strdup(env);
    return g_file_read_link("/proc/self/exe", NULL);
}

static char *
fmt_count(int64_t v)
{
    if (v >= 1000000)
        return g_strdup_printf("%.2fM", (double)v / 1e6);
    if (v >= 10000)
        return g_strdup_printf("%.1fk", (double)v / 1e3);
    return g_strdup_printf("%" G_GINT64_FORMAT, v);
}

static const char *
state_word(mmx_trial_state s)
{
    static const char *const w[] = {"run", "duplicate", "INVALID", "skipped"};
    return w[s];
}

static void
print_plan(const mmx_sweep_plan *plan)
{
    int n = mmx_sweep_plan_size(plan);
    printf("sweep %s: %d trials: %d to run, %d skipped by constraints, %d invalid, %d "
           "duplicates\n",
           mmx_sweep_plan_name(plan), n, mmx_sweep_plan_count(plan, MMX_TRIAL_RUN),
           mmx_sweep_plan_count(plan, MMX_TRIAL_SKIPPED),
           mmx_sweep_plan_count(plan, MMX_TRIAL_INVALID),
           mmx_sweep_plan_count(plan, MMX_TRIAL_DUPLICATE));
    printf("base %s\nfingerprint %.16s\n\n", mmx_sweep_plan_base_path(plan),
           mmx_sweep_plan_fingerprint(plan));
    printf("%5s  %-16s  %-36s  %5s  %9s  %9s  %s\n", "index", "id", "variant", "seed", "params",
           "FLOPs", "state");
    for (int i = 0; i < n; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        g_autofree char *p = t->measured ? fmt_count(t->params) : g_strdup("-");
        g_autofree char *f = t->measured ? g_strdup_printf("%.3g", t->flops) : g_strdup("-");
        g_autofree char *v = g_strdup_printf("%s%s", t->variant, t->baseline ? " *" : "");
        printf("%5d  %-16s  %-36s  %5" G_GINT64_FORMAT "  %9s  %9s  %s\n", i, t->id, v, t->seed, p,
               f, state_word(t->state));
    }
    printf("\n* baseline. Overrides per variant:\n");
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (int i = 0; i < n; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        if (!g_hash_table_add(seen, (gpointer)t->config))
            continue;
        g_autofree char *ov = json_dumps(t->overrides, JSON_COMPACT);
        printf("  %-36s %s\n", t->variant, ov);
    }
    bool header = false;
    for (int i = 0; i < n; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        if (t->state == MMX_TRIAL_RUN)
            continue;
        if (!header)
            printf("\nNot run:\n");
        header = true;
        printf("  %d %s (%s, seed %" G_GINT64_FORMAT "): %s: %s\n", i, t->id, t->variant, t->seed,
               state_word(t->state), t->reason);
    }
}

/* Each invalid trial's reason on stderr, where the refusal that follows goes too. */
static void
print_invalid(const mmx_sweep_plan *plan)
{
    for (int i = 0; i < mmx_sweep_plan_size(plan); i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        if (t->state == MMX_TRIAL_INVALID)
            fprintf(stderr,
                    "mmx sweep: trial %d (%s, seed %" G_GINT64_FORMAT ") is invalid and "
                    "will not run: %s\n",
                    i, t->variant, t->seed, t->reason);
    }
}

/* The refusal of a plan with no trial to run (exit 2), naming the sweep spec. */
static int
fail_nothing_to_run(const mmx_sweep_plan *plan, const char *path)
{
    int invalid = mmx_sweep_plan_count(plan, MMX_TRIAL_INVALID);
    return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                        "%s: the sweep has no trial to run: %d invalid, %d skipped by "
                        "constraints, %d duplicates%s",
                        path, invalid, mmx_sweep_plan_count(plan, MMX_TRIAL_SKIPPED),
                        mmx_sweep_plan_count(plan, MMX_TRIAL_DUPLICATE),
                        invalid ? "; fix the base spec or the overrides the reasons name"
                                : "; loosen the constraints");
}

static int
emit_slurm(const mmx_sweep_plan *plan, const char *out, const char *trainer)
{
    g_autoptr(GError) error = NULL;
    if (!mmx_sweep_write_manifest(plan, out, opt_extend, &error))
        return mmx_cli_fail(
            cmd, error->code == MMX_SWEEP_ERROR_CHANGED ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE, "%s",
            error->message);
    /* The array's indices: runnable trials only, as ranges "0-3,5,7-9". */
    GString *ranges = g_string_new(NULL);
    int n = mmx_sweep_plan_size(plan), start = -1;
    for (int i = 0; i <= n; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        bool run = t && t->state == MMX_TRIAL_RUN;
        if (run && start < 0)
            start = i;
        if (!run && start >= 0) {
            if (ranges->len)
                g_string_append_c(ranges, ',');
            if (i - 1 > start)
                g_string_append_printf(ranges, "%d-%d", start, i - 1);
            else
                g_string_append_printf(ranges, "%d", start);
            start = -1;
        }
    }
    if (ranges->len == 0) {
        g_string_free(ranges, TRUE);
        print_invalid(plan);
        return fail_nothing_to_run(plan, mmx_sweep_plan_sweep_path(plan));
    }
    g_autofree char *abs_out = g_canonicalize_filename(out, NULL);
    g_autofree char *logs = g_build_filename(abs_out, "slurm", NULL);
    g_mkdir_with_parents(logs, 0755);
    int threads = opt_threads > 0 ? opt_threads : 4;
    g_autofree char *timeout =
        opt_timeout > 0 ? g_strdup_printf(" --timeout %g", opt_timeout) : g_strdup("");
    g_autofree char *script = g_strdup_printf(
        "#!/bin/bash\n"
        "# Written by mmx sweep --emit-slurm: one Slurm array task per trial of the sweep\n"
        "# %s (%d trials to run). Submit with: sbatch %s\n"
        "# When the array is done, record the results and make the report:\n"
        "#   %s sweep --collect %s && %s report %s\n"
        "#SBATCH --job-name=mmx-%s\n"
        "#SBATCH --array=%s\n"
        "#SBATCH --cpus-per-task=%d\n"
        "#SBATCH --ntasks=1\n"
        "#SBATCH --output=%s/%%A_%%a.log\n"
        "set -euo pipefail\n"
        "exec %s sweep %s --trial \"$SLURM_ARRAY_TASK_ID\" --out %s --threads-per-trial %d%s\n",
        mmx_sweep_plan_sweep_path(plan), mmx_sweep_plan_count(plan, MMX_TRIAL_RUN), opt_emit_slurm,
        trainer, abs_out, trainer, abs_out, mmx_sweep_plan_name(plan), ranges->str, threads, logs,
        trainer, mmx_sweep_plan_sweep_path(plan), abs_out, threads, timeout);
    g_string_free(ranges, TRUE);
    if (!mmx_file_write_atomic(opt_emit_slurm, script, strlen(script), &error))
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "%s", error->message);
    chmod(opt_emit_slurm, 0755);
    printf("wrote %s (submit with: sbatch %s); then: mmx sweep --collect %s\n", opt_emit_slurm,
           opt_emit_slurm, abs_out);
    return MMX_EXIT_OK;
}

static int
run_one_trial(const mmx_sweep_plan *plan, mmx_sweep_run_options *opt)
{
    const mmx_trial *t = mmx_sweep_plan_trial(plan, opt_trial);
    if (t == NULL)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "--trial %d: the plan has trials 0 to %d",
                            opt_trial, mmx_sweep_plan_size(plan) - 1);
    if (t->state != MMX_TRIAL_RUN) {
        printf("trial %d (%s, %s) is not run: %s\n", opt_trial, t->id, t->variant, t->reason);
        return MMX_EXIT_OK;
    }
    g_autoptr(GError) error = NULL;
    if (!mmx_sweep_write_manifest(plan, opt->out_dir, opt_extend, &error))
        return mmx_cli_fail(
            cmd, error->code == MMX_SWEEP_ERROR_CHANGED ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE, "%s",
            error->message);
    mmx_sweep_install_signal_handlers();
    mmx_sweep_outcome o;
    if (!mmx_sweep_run_trial(plan, opt_trial, opt, &o, &error))
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "%s", error->message);
    static const char *const words[] = {"finished", "failed", "interrupted", "paused"};
    printf("trial %d (%s, %s, seed %" G_GINT64_FORMAT "): %s%s%s\n", opt_trial, t->id, t->variant,
           t->seed, words[o.status], o.reason ? ": " : "", o.reason ? o.reason : "");
    int code = o.status == MMX_SWEEP_OUTCOME_FINISHED ? MMX_EXIT_OK : MMX_EXIT_FAILURE;
    mmx_sweep_outcome_clear(&o);
    return code;
}

/* The epochs the sweep trains with and without pruning (pruner: NULL without "prune"). */
static json_t *
budget_json(const mmx_sweep_plan *plan, const mmx_pruner *pruner)
{
    int n = 0;
    g_autofree int *index = NULL;
    g_autofree int *units = mmx_sweep_plan_units(plan, &n, &index);
    int64_t full = 0;
    for (int k = 0; k < n; k++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, index[k]);
        json_t *e = json_object_get(json_object_get(t->spec, "train"), "epochs");
        full += json_is_integer(e) ? json_integer_value(e) : 10; /* the recipe's default */
    }
    if (pruner == NULL)
        return json_pack("{sI}", "epochs_without_pruning", (json_int_t)full);
    mmx_prune_budget b = mmx_pruner_budget(pruner, units, n, 0);
    return json_pack("{sI sI sf si}", "epochs_without_pruning", (json_int_t)b.full,
                     "epochs_worst_case", (json_int_t)b.worst, "epochs_expected", b.expected,
                     "simulated_sweeps", b.samples);
}

static void
print_budget(const json_t *b, const json_t *prune)
{
    int64_t full = json_integer_value(json_object_get(b, "epochs_without_pruning"));
    printf("\nbudget: %" G_GINT64_FORMAT " epochs", full);
    if (prune == NULL) {
        printf(" (no pruning)\n");
        return;
    }
    int64_t worst = json_integer_value(json_object_get(b, "epochs_worst_case"));
    double expected = json_number_value(json_object_get(b, "epochs_expected"));
    g_autoptr(json_t) shown = mmx_json_without_docs(prune);
    g_autofree char *rule = json_dumps(shown, JSON_COMPACT | JSON_SORT_KEYS);
    printf(" without pruning; with %s: %" G_GINT64_FORMAT " worst case (%.0f%%), %.1f expected "
           "(%.0f%%: the mean of %d simulated sweeps whose variants keep a random rank at every "
           "epoch)\n",
           rule, worst, full ? 100.0 * (double)worst / (double)full : 0, expected,
           full ? 100.0 * expected / (double)full : 0,
           (int)json_integer_value(json_object_get(b, "simulated_sweeps")));
}

static json_t *
summary_json(const mmx_sweep_summary *s, const char *out)
{
    return json_pack("{ss si si si si si sb}", "out", out, "planned", s->planned, "finished",
                     s->finished, "failed", s->failed, "ran", s->ran, "not_run", s->skipped,
                     "interrupted", s->interrupted);
}

int
mmx_cmd_sweep(int argc, char **argv)
{
    int code = MMX_EXIT_OK;
    if (!mmx_cli_parse(mmx_command_find(cmd), entries, description, &argc, &argv, &code))
        return code;
    g_autoptr(GError) error = NULL;

    if (opt_collect) {
        int added = 0;
        if (!mmx_sweep_collect(opt_collect, &added, &error))
            return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "%s", error->message);
        printf("%s: recorded %d trial result(s) in %s/results.jsonl\n", opt_collect, added,
               opt_collect);
        return MMX_EXIT_OK;
    }
    if (argc != 2)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "expected one sweep spec (see 'mmx help sweep'), got %d arguments",
                            argc - 1);
    bool mpi = false;
    if (opt_executor && strcmp(opt_executor, "mpi") == 0)
        mpi = true;
    else if (opt_executor && strcmp(opt_executor, "local") != 0)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "--executor: expected local or mpi, got '%s'",
                            opt_executor);
    if (opt_workers < 1 || opt_threads < 0 || opt_timeout < 0)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "--workers must be at least 1, --threads-per-trial and --timeout "
                            "not negative");
    if ((opt_retry_failed || opt_extend) && !opt_resume && opt_trial < 0 && !opt_emit_slurm)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "--retry-failed and --extend go with --resume");

    g_autoptr(mmx_sweep) sweep = mmx_sweep_load(argv[1], &error);
    if (sweep == NULL) {
        fprintf(stderr, "%s\n", error->message);
        return MMX_EXIT_USAGE;
    }
    g_autoptr(mmx_sweep_plan) plan = mmx_sweep_plan_new(sweep, &error);
    if (plan == NULL)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "%s", error->message);
    g_autoptr(mmx_registry) reg = mmx_cli_registry();
    if (reg == NULL)
        return MMX_EXIT_USAGE;
    mmx_sweep_plan_measure(plan, mmx_graph_measure, reg);
    g_autoptr(mmx_pruner) pruner = opt_no_prune ? NULL : mmx_sweep_plan_pruner(plan, &error);
    if (pruner == NULL && error)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "%s", error->message);
    const json_t *prune = pruner ? json_object_get(mmx_sweep_json(sweep), "prune") : NULL;

    g_autofree char *out_rel =
        opt_out ? g_strdup(opt_out) : g_build_filename("runs", mmx_sweep_plan_name(plan), NULL);
    g_autofree char *out = g_canonicalize_filename(out_rel, NULL);
    g_autofree char *trainer = trainer_path();
    if (trainer == NULL)
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "cannot find the mmx binary (/proc/self/exe)");

    if (opt_dry_run) {
        if (opt_json) {
            json_t *j =
                json_pack("{ss ss ss so so}", "name", mmx_sweep_plan_name(plan), "fingerprint",
                          mmx_sweep_plan_fingerprint(plan), "base", mmx_sweep_plan_base_path(plan),
                          "trials", mmx_sweep_plan_to_json(plan), "budget",
                          budget_json(plan, pruner));
            mmx_cli_print_json(j);
        } else {
            print_plan(plan);
            g_autoptr(json_t) b = budget_json(plan, pruner);
            print_budget(b, prune);
        }
        if (mmx_sweep_plan_count(plan, MMX_TRIAL_RUN) > 0)
            return MMX_EXIT_OK;
        if (opt_json) /* the text plan lists the reasons under "Not run" */
            print_invalid(plan);
        return fail_nothing_to_run(plan, argv[1]);
    }
    if (pruner && (opt_emit_slurm || opt_trial >= 0))
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "%s: the sweep prunes (/prune), and pruning needs the coordinator "
                            "to pause and promote trials: run it with the local or MPI executor, "
                            "not as Slurm array tasks (%s)",
                            argv[1], opt_emit_slurm ? "--emit-slurm" : "--trial");
    if (opt_emit_slurm)
        return emit_slurm(plan, out, trainer);

    mmx_sweep_run_options opt = mmx_sweep_run_options_default();
    opt.out_dir = out;
    opt.trainer = trainer;
    opt.workers = opt_workers;
    opt.threads_per_trial = opt_threads;
    opt.resume = opt_resume;
    opt.retry_failed = opt_retry_failed;
    opt.extend = opt_extend;
    opt.timeout = opt_timeout;
    opt.no_prune = opt_no_prune;
    if (opt_trial >= 0)
        return run_one_trial(plan, &opt);

    print_invalid(plan);
    if (mmx_sweep_plan_count(plan, MMX_TRIAL_RUN) == 0)
        return fail_nothing_to_run(plan, argv[1]);

    mmx_sweep_install_signal_handlers();
    mmx_sweep_summary sum;
    bool ok;
    if (mpi)
        ok = mmx_cli_sweep_mpi(plan, &opt, &sum, &code, &error);
    else
        ok = mmx_sweep_run(plan, &opt, NULL, &sum, &error);
    if (mpi && code >= 0)
        return code; /* a rank other than 0: it served trials and is done */
    if (!ok) {
        if (g_error_matches(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INTERRUPTED)) {
            fprintf(stderr, "mmx sweep: %s.\nResume with: mmx sweep %s --out %s --resume%s\n",
                    error->message, argv[1], out, mpi ? " --executor mpi (under mpirun)" : "");
            if (opt_json)
                mmx_cli_print_json(summary_json(&sum, out));
            return MMX_EXIT_FAILURE;
        }
        bool usage = g_error_matches(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_EXISTS) ||
                     g_error_matches(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_CHANGED) ||
                     g_error_matches(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_LOCKED);
        return mmx_cli_fail(cmd, usage ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE, "%s", error->message);
    }
    if (opt_json) {
        json_t *j = summary_json(&sum, out);
        if (pruner || sum.pruned)
            json_object_set_new(j, "pruned", json_integer(sum.pruned));
        mmx_cli_print_json(j);
    } else {
        g_autofree char *pr =
            pruner || sum.pruned ? g_strdup_printf(", %d pruned", sum.pruned) : g_strdup("");
        printf("sweep %s: %d of %d trials finished%s, %d failed, %d not run (invalid, over a "
               "constraint or duplicate)\nresults in %s; make the report with: mmx report %s\n",
               mmx_sweep_plan_name(plan), sum.finished, sum.planned, pr, sum.failed, sum.skipped,
               out, out);
    }
    return MMX_EXIT_OK;
}
