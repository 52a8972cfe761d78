/* report-private.h: the statistics of a sweep report, shared by report.c (reading and
 * tables) and report-svg.c (plots). Not part of the API. */
#ifndef MMX_REPORT_PRIVATE_H
#define MMX_REPORT_PRIVATE_H

#include "sweep-private.h"

/* What a sweep is judged by: test accuracy for image classifiers, validation bits per
 * byte for language models (a trial's result.json has val_bpb). */
typedef struct mmx__metric {
    const char *result;             /* key in result.json */
    const char *curve, *curve_alt;  /* keys in metrics.jsonl (the second one if the first is absent) */
    const char *loss;               /* the loss beside it in result.json */
    const char *name;               /* "test accuracy" */
    const char *column, *loss_column, *delta_column; /* table headers */
    const char *axis;               /* plot axis label */
    const char *delta_axis;         /* forest plot axis label */
    double scale;                   /* shown as value x scale (100: percent) */
    const char *delta_unit;         /* how the table's note states a delta's unit */
    /* What FLOPs are counted per ("image"; "img" in the table header; the note's words) */
    const char *sample, *sample_short, *sample_note;
    const char *rate;               /* what the throughput counts: "img", "tokens" */
    const char *format;             /* printf format of a scaled value */
    bool higher_better;
} mmx__metric;

typedef struct mmx__variant {
    char *config; /* the variant's id (hash of its resolved spec) */
    char *label;  /* "gelu-not-softmax lr=0.001" */
    bool baseline;
    int order;   /* first position in the plan */
    int planned; /* runnable trials (seeds) */
    int finished, failed;
    int pruned;                /* trials a pruned sweep stopped early */
    char *not_run;             /* why the variant does not run (skipped, invalid), or NULL */
    GArray *seeds;             /* int64: seeds of the finished trials, in seed order */
    GArray *acc, *loss, *imgs; /* double, per finished trial, same order; acc is the
                                  sweep's metric (mmx__metric), loss the loss beside it */
    bool has_params, has_flops;
    int64_t params;
    double flops;
    double acc_mean, acc_std, loss_mean, loss_std, imgs_mean;
    /* Delta of the metric vs the baseline, paired by seed. */
    int pairs;
    double d_mean, d_std, d_lo, d_hi; /* CI only when pairs >= 2 */
    /* Learning curve: the metric per epoch over the seeds. */
    int epochs;
    GArray *c_mean, *c_min, *c_max; /* double per epoch (index 0 = epoch 1) */
} mmx__variant;

struct mmx_report {
    char *dir;
    char *name;
    const mmx__metric *metric;
    GPtrArray *variants;    /* mmx__variant *, sorted: best mean metric first */
    mmx__variant *baseline; /* borrowed, may be NULL */
    GPtrArray *failures;    /* "variant seed S: reason" strings */
    int total_failed;
    /* A pruned sweep: the rule ("asha on test_acc"), the pruned trials ("variant, seed S:
     * epoch E, test_acc V: reason"), and the epochs trained, with and without pruning. */
    char *prune, *prune_metric;
    int64_t prune_epochs;
    GPtrArray *pruned;
    int64_t epochs_trained, epochs_full;
};

/* report-svg.c */
bool mmx__svg_curves(const mmx_report *r, const char *path, GError **error);
bool mmx__svg_scatter(const mmx_report *r, const char *path, bool flops, GError **error);
bool mmx__svg_forest(const mmx_report *r, const char *path, GError **error);

#endif /* MMX_REPORT_PRIVATE_H */
