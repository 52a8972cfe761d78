/* sweep-private.h: what the sweep modules share (sweep.c reads the spec, sweep-plan.c
 * expands it, sweep-run.c runs it, report.c reads what it wrote). Not part of the API. */
#ifndef MMX_SWEEP_PRIVATE_H
#define MMX_SWEEP_PRIVATE_H

#include "mmx-private.h"

#include <mmx/mmx-io.h>
#include <mmx/mmx-json.h>
#include <mmx/mmx-spec.h>
#include <mmx/mmx-sweep.h>

struct mmx_sweep {
    char *path; /* absolute path of the sweep file */
    char *name;
    char *base_path;       /* absolute path of the base model spec */
    char *fingerprint;     /* hex SHA-256 */
    json_t *root;          /* the sweep spec as read */
    json_t *base;          /* the base spec with the sweep's `train` merged into /train */
    json_t *variant_bases; /* variant name -> {"path": absolute, "spec": merged like base} */
};

/* Hex SHA-256 of data, truncated to len characters (newly allocated). */
char *mmx__sha256_hex(const void *data, gsize length, gsize len);

/* Files of a sweep folder. */
#define MMX_SWEEP_MANIFEST "sweep.json"
#define MMX_SWEEP_RESULTS "results.jsonl"
#define MMX_SWEEP_TRIALS "trials"
#define MMX_SWEEP_FAILURE "failure.json"

/* The sweep spec a plan came from (borrowed). */
const json_t *mmx__sweep_plan_json(const mmx_sweep_plan *plan);

/* What became of each trial, folded from the records of results.jsonl in order
 * (sweep-run.c). The coordinator (what to run), mmx_sweep_collect (what to record) and
 * the report (what to show) all read the log through this one fold, so they agree:
 * - a finished record with a result object: finished, for good (a later finished
 *   record replaces the result; nothing else changes it);
 * - failed: failed, with the record's reason;
 * - started or interrupted: pending: an attempt began and has not ended with a result
 *   or a failure (running, stopped, or its coordinator killed). After a failure this is
 *   --retry-failed's new attempt: the trial is no longer failed and runs on resume;
 * - no record: not started;
 * - paused (a pruned sweep's trial stopped at a rung or decision epoch, checkpoint kept):
 *   paused, until the coordinator promotes it (started) or prunes it;
 * - pruned: pruned, for good, like finished;
 * records without an event and id, or of other events, change nothing. The last record
 * with "values" (paused, pruned, and with pruning finished) is the trial's progress: the
 * pruner's input. */
typedef enum mmx__trial_status {
    MMX__TRIAL_NOT_STARTED,
    MMX__TRIAL_PENDING,
    MMX__TRIAL_FINISHED,
    MMX__TRIAL_FAILED,
    MMX__TRIAL_PAUSED,
    MMX__TRIAL_PRUNED,
} mmx__trial_status;

typedef struct mmx__results mmx__results;

/* Folds records (borrowed: an array of records, in file order). New; cannot fail. */
mmx__results *mmx__results_new(const json_t *records);
/* Folds one more record (borrowed; referenced when it decides the trial). */
void mmx__results_add(mmx__results *results, const json_t *record);
mmx__trial_status mmx__results_status(const mmx__results *results, const char *id);
/* The record that made a trial finished or failed (borrowed), or NULL. */
const json_t *mmx__results_record(const mmx__results *results, const char *id);
/* The last record with "values" (borrowed), or NULL. */
const json_t *mmx__results_progress(const mmx__results *results, const char *id);
/* The "until" of the trial's last started record (0 when it had none). */
int mmx__results_until(const mmx__results *results, const char *id);
void mmx__results_free(mmx__results *results);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx__results, mmx__results_free)

/* For pruning (sweep.c; the pruners are sweep-prune.c). */
#define MMX__DEFAULT_EPOCHS 10 /* /train/epochs when a spec gives none (train.c) */
/* A resolved spec's /train/epochs. */
int mmx__spec_epochs(const json_t *spec);
/* Whether a metric of metrics.jsonl is better higher; *known says whether it is one. */
bool mmx__prune_metric_maximized(const char *metric, bool *known);

#endif /* MMX_SWEEP_PRIVATE_H */
