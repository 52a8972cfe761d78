/* mmx-sweep.h: ablation sweeps: the sweep spec reader, the planner, the coordinator that
 * runs trials as child processes, and the report over a sweep's results.
 *
 *     g_autoptr(GError) error = NULL;
 *     g_autoptr(mmx_sweep) sweep = mmx_sweep_load("specs/sweeps/ffnification.json", &error);
 *     g_autoptr(mmx_sweep_plan) plan = mmx_sweep_plan_new(sweep, &error);
 *     mmx_sweep_plan_measure(plan, measure, registry);   // params, FLOPs, constraints
 *     mmx_sweep_run_options opt = mmx_sweep_run_options_default();
 *     opt.out_dir = "runs/ffnification"; opt.trainer = "/usr/bin/mmx";
 *     mmx_sweep_run(plan, &opt, NULL, &error);
 *     g_autoptr(mmx_report) report = mmx_report_new("runs/ffnification", &error);
 *
 * A sweep spec names a base model spec, the training settings and what varies (grid, zip,
 * random, ablation, variants: see docs/sweeps.md). The planner crosses the sections that
 * are present, applies them to the base spec by JSON Pointer or patch, and gives one trial
 * per resolved spec and seed. A trial's id is a hash of the canonical resolved spec (sorted
 * keys, compact) and its seed, so the same configuration always has the same id: resume
 * and duplicate removal are comparisons of ids.
 *
 * Errors: the reader reports every problem it finds as "file:line:col: /pointer: message",
 * one per line, in one GError of MMX_SWEEP_ERROR.
 */
#ifndef MMX_SWEEP_H
#define MMX_SWEEP_H

#include <stdio.h>

#include <mmx/mmx-core.h>
#include <mmx/mmx-json.h>

G_BEGIN_DECLS

#define MMX_SWEEP_ERROR (mmx_sweep_error_quark())
MMX_API GQuark mmx_sweep_error_quark(void);

typedef enum mmx_sweep_error_code {
    MMX_SWEEP_ERROR_PARSE,       /* not JSON, or not a file that can be read */
    MMX_SWEEP_ERROR_INVALID,     /* a sweep spec that breaks the format */
    MMX_SWEEP_ERROR_IO,          /* the output folder cannot be written or read */
    MMX_SWEEP_ERROR_EXISTS,      /* the output folder holds a sweep and --resume was not given */
    MMX_SWEEP_ERROR_CHANGED,     /* the sweep spec changed since the folder was created */
    MMX_SWEEP_ERROR_LOCKED,      /* another coordinator runs on the folder */
    MMX_SWEEP_ERROR_INTERRUPTED, /* stopped by SIGINT/SIGTERM; resumable */
    MMX_SWEEP_ERROR_FAILED,      /* some trials failed (the sweep itself went through) */
} mmx_sweep_error_code;

/* ---------------------------------------------------------------------------------------
 * The sweep spec
 * ------------------------------------------------------------------------------------ */

typedef struct mmx_sweep mmx_sweep;

/* Reads and checks a sweep spec; NULL with every problem in the error. The base model spec
 * is read too (as JSON: its own validation is the graph's job, at measure time). */
MMX_API mmx_sweep *mmx_sweep_load(const char *path, GError **error);
/* The same from text; path names the file in messages and anchors `base`. */
MMX_API mmx_sweep *mmx_sweep_load_data(const char *text, gssize length, const char *path,
                                       GError **error);
MMX_API void mmx_sweep_free(mmx_sweep *sweep);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_sweep, mmx_sweep_free)

/* True when the JSON is a sweep spec (an object with the key "mmx_sweep"). */
MMX_API bool mmx_sweep_json_is_sweep(const json_t *root);

/* Borrowed strings, valid while the sweep lives. */
MMX_API const char *mmx_sweep_name(const mmx_sweep *sweep);
MMX_API const char *mmx_sweep_path(const mmx_sweep *sweep);      /* absolute */
MMX_API const char *mmx_sweep_base_path(const mmx_sweep *sweep); /* absolute */
/* SHA-256 (hex, 64 characters) of the canonical sweep spec and the canonical base spec:
 * any change to either changes it. */
MMX_API const char *mmx_sweep_fingerprint(const mmx_sweep *sweep);
/* The sweep spec as read (borrowed). */
MMX_API const json_t *mmx_sweep_json(const mmx_sweep *sweep);

/* ---------------------------------------------------------------------------------------
 * The plan: the trials a sweep expands to
 * ------------------------------------------------------------------------------------ */

typedef enum mmx_trial_state {
    MMX_TRIAL_RUN,       /* to be trained */
    MMX_TRIAL_DUPLICATE, /* same resolved spec and seed as an earlier trial: runs once */
    MMX_TRIAL_INVALID,   /* an override or patch does not apply, or the graph refuses it */
    MMX_TRIAL_SKIPPED,   /* over a constraint */
} mmx_trial_state;

#define MMX_TRIAL_ID_LEN 16

typedef struct mmx_trial {
    int index;                         /* position in the plan, from 0 */
    char id[MMX_TRIAL_ID_LEN + 1];     /* hash of the canonical resolved spec and the seed */
    char config[MMX_TRIAL_ID_LEN + 1]; /* hash of the resolved spec alone: the variant */
    char *variant;                     /* "gelu-not-softmax lr=0.001", or "base" */
    char *base_path;                   /* the model spec it starts from (absolute) */
    int64_t seed;
    json_t *overrides; /* what the sections changed, in order: {"ablation": ..} */
    json_t *spec;      /* the resolved spec; NULL when it could not be built */
    mmx_trial_state state;
    char *reason;  /* for every state but RUN */
    bool measured; /* params and flops known */
    int64_t params;
    double flops;  /* per image, forward, MACs x 2 */
    bool baseline; /* the variant deltas are taken against */
} mmx_trial;

typedef struct mmx_sweep_plan mmx_sweep_plan;

/* Expands a sweep into trials (variants x ablation x grid x zip x random x seeds, each
 * section present counted once). A trial whose overrides do not apply is kept as INVALID
 * with its reason; NULL only for errors that concern the whole sweep. The plan keeps a
 * reference to nothing: the sweep may be freed afterwards. */
MMX_API mmx_sweep_plan *mmx_sweep_plan_new(const mmx_sweep *sweep, GError **error);
MMX_API void mmx_sweep_plan_free(mmx_sweep_plan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_sweep_plan, mmx_sweep_plan_free)

MMX_API int mmx_sweep_plan_size(const mmx_sweep_plan *plan);
/* Borrowed; NULL when out of range. */
MMX_API const mmx_trial *mmx_sweep_plan_trial(const mmx_sweep_plan *plan, int index);
/* The trial with this id, or NULL. */
MMX_API const mmx_trial *mmx_sweep_plan_find(const mmx_sweep_plan *plan, const char *id);
/* Number of trials in a state. */
MMX_API int mmx_sweep_plan_count(const mmx_sweep_plan *plan, mmx_trial_state state);
/* Borrowed strings of the sweep the plan came from. */
MMX_API const char *mmx_sweep_plan_name(const mmx_sweep_plan *plan);
MMX_API const char *mmx_sweep_plan_sweep_path(const mmx_sweep_plan *plan);
MMX_API const char *mmx_sweep_plan_base_path(const mmx_sweep_plan *plan);
MMX_API const char *mmx_sweep_plan_fingerprint(const mmx_sweep_plan *plan);

/* Computes the parameters and FLOPs of one resolved spec (base_path anchors the relative
 * paths inside it). False with an error when the spec does not validate or shapes do not
 * infer; the error becomes the trial's reason. */
typedef bool (*mmx_sweep_measure_fn)(const json_t *spec, const char *base_path, int64_t *params,
                                     double *flops, void *user, GError **error);

/* Measures every runnable trial (once per variant), marks those the measure refuses as
 * INVALID and those over the sweep's constraints as SKIPPED, with their reasons.
 * A sweep with constraints needs a measure: without one (fn NULL), its trials are
 * marked INVALID with a reason saying so. */
MMX_API void mmx_sweep_plan_measure(mmx_sweep_plan *plan, mmx_sweep_measure_fn fn, void *user);

/* The trial list as JSON: [{"index", "id", "config", "variant", "seed", "overrides",
 * "state", "reason", "params", "flops", "baseline"}...] (new reference). */
MMX_API json_t *mmx_sweep_plan_to_json(const mmx_sweep_plan *plan);

/* The resolved spec of a trial as written into its folder: relative plugin paths made
 * absolute against the base spec's folder (new reference). */
MMX_API json_t *mmx_sweep_trial_spec_for_file(const mmx_sweep_plan *plan, const mmx_trial *trial);

/* ---------------------------------------------------------------------------------------
 * Pruning: stopping bad trials early (the sweep's "prune", docs/sweeps.md)
 *
 * The decision is a pure function of the per-epoch values recorded so far: the
 * coordinator computes it again after every record, so the same records give the same
 * decisions however the trials were timed, stopped or resumed. The unit of a decision is
 * a variant (a config): its value at an epoch is the mean over its seeds, and its seeds are
 * pruned together.
 * ------------------------------------------------------------------------------------ */

typedef struct mmx_pruner mmx_pruner;

/* A pruner from a checked "prune" object for trials of `epochs` epochs; NULL with
 * MMX_SWEEP_ERROR_INVALID when the object is not one the reader accepts. */
MMX_API mmx_pruner *mmx_pruner_new(const json_t *prune, int epochs, GError **error);
/* The plan's pruner: NULL without an error when the sweep does not prune; NULL with an
 * error naming the sweep file and /prune when its trials train different epochs. */
MMX_API mmx_pruner *mmx_sweep_plan_pruner(const mmx_sweep_plan *plan, GError **error);
MMX_API void mmx_pruner_free(mmx_pruner *pruner);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_pruner, mmx_pruner_free)
MMX_API int mmx_pruner_epochs(const mmx_pruner *pruner);
/* The metric compared ("test_acc"), borrowed. */
MMX_API const char *mmx_pruner_metric(const mmx_pruner *pruner);

/* The unit (variant) of each runnable trial, in plan order: variants numbered from 0 by
 * their first runnable trial. Newly allocated, *n entries (the runnable trials); with
 * index (may be NULL) their plan indices. */
MMX_API int *mmx_sweep_plan_units(const mmx_sweep_plan *plan, int *n, int **index);

/* What is known of one trial: its unit (variants numbered from 0 in plan order), the
 * metric's value at epochs 1..epochs_done (values[0] is epoch 1), and whether it ended
 * (finished every epoch, or failed: a failed trial's values still count). */
typedef struct mmx_prune_trial {
    int unit;
    int epochs_done;
    const double *values;
    bool finished;
    bool failed;
} mmx_prune_trial;

typedef enum mmx_prune_action {
    MMX_PRUNE_RUN,    /* train until `until` (the last epoch: to the end) */
    MMX_PRUNE_WAIT,   /* paused until other trials reach a decision */
    MMX_PRUNE_PRUNED, /* stopped for good at `epoch`, `reason` says why */
    MMX_PRUNE_DONE,   /* finished or failed: nothing to decide */
} mmx_prune_action;

typedef struct mmx_prune_decision {
    mmx_prune_action action;
    int until;    /* RUN */
    int epoch;    /* PRUNED */
    char *reason; /* PRUNED (newly allocated) */
} mmx_prune_decision;

/* Decides for every trial (out has n entries; clear each with mmx_prune_decision_clear). */
MMX_API void mmx_pruner_decide(const mmx_pruner *pruner, const mmx_prune_trial *trials, int n,
                               mmx_prune_decision *out);
MMX_API void mmx_prune_decision_clear(mmx_prune_decision *d);

/* The epochs a sweep trains: `full` without pruning (trials x epochs), `worst` the most
 * with pruning whatever the values, `expected` the mean over `samples` simulated sweeps in
 * which every variant draws a random score it keeps at every epoch (uniform, from a fixed
 * seed: the figure is the same every time). units[i] is trial i's unit. samples 0: up to
 * 1000, fewer for large median sweeps (a simulated median sweep costs about variants^3 x
 * epochs^2 steps), at least 20; the number used is returned. */
typedef struct mmx_prune_budget {
    int64_t full;
    int64_t worst;
    double expected;
    int samples;
} mmx_prune_budget;
MMX_API mmx_prune_budget mmx_pruner_budget(const mmx_pruner *pruner, const int *units, int n,
                                           int samples);

/* ---------------------------------------------------------------------------------------
 * Running a sweep
 * ------------------------------------------------------------------------------------ */

typedef struct mmx_sweep_run_options {
    const char *out_dir;   /* the sweep folder */
    const char *trainer;   /* the mmx binary that runs `mmx train` for each trial */
    int workers;           /* trials at once (local executor) */
    int threads_per_trial; /* --threads of each trial; 0: cores / workers */
    bool resume;           /* continue an existing folder */
    bool retry_failed;     /* with resume: run failed trials again too */
    bool extend;           /* with resume: accept a changed sweep spec */
    double timeout;        /* seconds per trial; 0: none */
    FILE *log;             /* progress lines (stderr by default); NULL: quiet */
    bool no_prune;         /* run every trial to the end even when the sweep prunes */
} mmx_sweep_run_options;

MMX_API mmx_sweep_run_options mmx_sweep_run_options_default(void);

typedef struct mmx_sweep_summary {
    int planned;  /* runnable trials in the plan */
    int finished; /* with a finished result (this run or before) */
    int failed;   /* recorded as failed */
    int ran;      /* trials started by this call */
    int skipped;  /* invalid, over a constraint or duplicate */
    bool interrupted;
    int pruned; /* recorded as pruned (this run or before) */
} mmx_sweep_summary;

/* One trial to run, as handed to an executor. */
typedef struct mmx_sweep_job {
    int index;
    const char *id;
    int64_t seed;
    const char *trial_dir; /* absolute */
    const char *trainer;
    int threads;
    double timeout;
    int pause_after; /* > 0: `--pause-after N` (a pruned sweep's rung or decision epoch) */
    bool resume;     /* continue the trial folder from its checkpoint (`--resume DIR`) */
} mmx_sweep_job;

typedef enum mmx_sweep_outcome_status {
    MMX_SWEEP_OUTCOME_FINISHED,
    MMX_SWEEP_OUTCOME_FAILED,
    MMX_SWEEP_OUTCOME_INTERRUPTED,
    MMX_SWEEP_OUTCOME_PAUSED, /* stopped where the job asked (pause_after), checkpoint saved */
} mmx_sweep_outcome_status;

/* What became of a job: the status, a reason for failures, and the result.json figures
 * (new reference or NULL). */
typedef struct mmx_sweep_outcome {
    int index;
    mmx_sweep_outcome_status status;
    char *reason;
    json_t *result;
    double seconds;
} mmx_sweep_outcome;

MMX_API void mmx_sweep_outcome_clear(mmx_sweep_outcome *outcome);
/* Outcome <-> JSON text, for executors that pass outcomes between processes. */
MMX_API char *mmx_sweep_outcome_to_string(const mmx_sweep_outcome *outcome);
MMX_API bool mmx_sweep_outcome_from_string(const char *text, mmx_sweep_outcome *outcome,
                                           GError **error);

/* An executor: where trials run. The coordinator starts jobs while slots are free and
 * collects outcomes; local children (the default) or MPI ranks (tools/mmx). */
typedef struct mmx_sweep_executor {
    int slots;
    /* Starts a job; false with an error when it cannot be started at all. */
    bool (*start)(void *self, const mmx_sweep_job *job, GError **error);
    /* Waits up to timeout_ms for a job to end: true with its outcome, false when none did. */
    bool (*poll)(void *self, int timeout_ms, mmx_sweep_outcome *outcome);
    /* Asks every running job to stop (SIGTERM), or kills them (hard). */
    void (*stop)(void *self, bool hard);
    void *self;
} mmx_sweep_executor;

/* Runs (or resumes) a sweep into opt->out_dir with the local executor, or with the given
 * one when executor is non-NULL. Writes sweep.json, appends to results.jsonl. Failed
 * trials are results, not errors: they are counted in the summary and the call returns
 * true. False with MMX_SWEEP_ERROR_INTERRUPTED after SIGINT/SIGTERM (the folder is
 * consistent and resumable), or another code when the folder cannot be used. */
MMX_API bool mmx_sweep_run(const mmx_sweep_plan *plan, const mmx_sweep_run_options *opt,
                           mmx_sweep_executor *executor, mmx_sweep_summary *summary,
                           GError **error);

/* Runs one job in the foreground: spawns the trainer, waits (timeout, and stop requests:
 * should_stop is asked every 200 ms and answers 0 go on, 1 stop cleanly, 2 kill; NULL asks
 * mmx_sweep_stop_requested), and classifies the outcome. Used by executors on other ranks
 * and by --trial. The trial folder must hold spec.json (mmx_sweep_prepare_trial). */
MMX_API void mmx_sweep_job_run(const mmx_sweep_job *job, mmx_sweep_outcome *outcome,
                               int (*should_stop)(void *user), void *user);

/* A job <-> JSON text, for executors that hand jobs to other processes. The parsed job's
 * strings live in *storage (free with json_decref). */
MMX_API char *mmx_sweep_job_to_string(const mmx_sweep_job *job);
MMX_API bool mmx_sweep_job_from_string(const char *text, mmx_sweep_job *job, json_t **storage,
                                       GError **error);

/* Writes trials/<id>/spec.json for a trial under out_dir; the folder is emptied of an
 * earlier attempt's files first. */
MMX_API bool mmx_sweep_prepare_trial(const mmx_sweep_plan *plan, const mmx_trial *trial,
                                     const char *out_dir, GError **error);

/* Runs one trial of the plan in the foreground (the --trial of a Slurm array task):
 * prepares its folder under out_dir, runs it, writes failure.json when it fails. Nothing
 * is appended to results.jsonl: mmx_sweep_collect() does that afterwards. False only when
 * the folder cannot be written; the outcome says what became of the trial. */
MMX_API bool mmx_sweep_run_trial(const mmx_sweep_plan *plan, int index,
                                 const mmx_sweep_run_options *opt, mmx_sweep_outcome *outcome,
                                 GError **error);

/* Installs SIGINT/SIGTERM handlers that set a stop flag (first signal: stop cleanly;
 * second: kill the trials), and reads the flag (0, 1 or 2). */
MMX_API void mmx_sweep_install_signal_handlers(void);
MMX_API int mmx_sweep_stop_requested(void);

/* Writes the manifest (sweep.json) for a plan into out_dir, creating it, without running
 * anything (for --emit-slurm). */
MMX_API bool mmx_sweep_write_manifest(const mmx_sweep_plan *plan, const char *out_dir, bool extend,
                                      GError **error);

/* Brings results.jsonl in line with the trial folders: a trial whose result.json says
 * finished (or whose failure.json says failed) and that has no such record gets one.
 * This is how --collect merges the output of Slurm array tasks, and what --resume does
 * first. *added counts the records written. */
MMX_API bool mmx_sweep_collect(const char *out_dir, int *added, GError **error);

/* The records of results.jsonl (new reference: an array of objects). A torn last line
 * (a kill during the write) is skipped; *torn says whether there was one. */
MMX_API json_t *mmx_sweep_read_results(const char *out_dir, bool *torn, GError **error);

/* ---------------------------------------------------------------------------------------
 * The report
 * ------------------------------------------------------------------------------------ */

typedef struct mmx_report mmx_report;

/* Reads a sweep folder (sweep.json, results.jsonl, trials/<id>/metrics.jsonl) and computes
 * the per-variant statistics. */
MMX_API mmx_report *mmx_report_new(const char *dir, GError **error);
MMX_API void mmx_report_free(mmx_report *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_report, mmx_report_free)

/* The table as Markdown / CSV (newly allocated), and as JSON (new reference). */
MMX_API char *mmx_report_markdown(const mmx_report *report, const char *plots_dir);
MMX_API char *mmx_report_csv(const mmx_report *report);
MMX_API json_t *mmx_report_to_json(const mmx_report *report);

/* Writes the SVG plots into dir: curves.svg, acc-vs-flops.svg, acc-vs-params.svg,
 * forest.svg. *written lists the files (newly allocated paths, may be NULL). */
MMX_API bool mmx_report_write_svg(const mmx_report *report, const char *dir, GPtrArray **written,
                                  GError **error);

/* The two-sided 95% quantile of Student's t with df degrees of freedom (df >= 1). */
MMX_API double mmx_student_t975(int df);

G_END_DECLS

#endif /* MMX_SWEEP_H */
