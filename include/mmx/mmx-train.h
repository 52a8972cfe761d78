/* mmx-train.h: the training loop behind `mmx train`, `mmx eval` and `mmx bench`.
 *
 * A run reads its recipe from the spec's `train` object (every default filled in, see
 * docs/training.md), trains on a data set with the planned executor, evaluates each epoch
 * and writes config.json, metrics.jsonl, result.json and checkpoints into its output
 * directory (all atomically). A run can be resumed exactly from its checkpoint: the data
 * order, augmentation and dropout draws are functions of (seed, epoch, step), so the
 * resumed run computes the same numbers as one that was never stopped.
 */
#ifndef MMX_TRAIN_H
#define MMX_TRAIN_H

#include <mmx/mmx-data.h>
#include <mmx/mmx-exec.h>

G_BEGIN_DECLS

#define MMX_TRAIN_ERROR (mmx_train_error_quark())
MMX_API GQuark mmx_train_error_quark(void);
typedef enum mmx_train_error_code {
    MMX_TRAIN_ERROR_INVALID,     /* bad settings or data that does not fit the spec */
    MMX_TRAIN_ERROR_DIVERGED,    /* non-finite loss or gradients */
    MMX_TRAIN_ERROR_INTERRUPTED, /* SIGINT/SIGTERM (mmx_train_request_stop) */
    MMX_TRAIN_ERROR_FAILED,      /* a kernel or I/O failure */
} mmx_train_error_code;

typedef struct mmx_train_config {
    char *data;         /* "fashion-mnist", a directory, "synthetic[:N[:M]]" */
    int64_t epochs, batch;
    mmx_optim_config optim;
    double lr, min_lr, warmup; /* warmup in epochs (fractions allowed) */
    mmx_schedule_kind schedule;
    double label_smoothing, clip; /* clip: max global gradient norm, 0 = off */
    mmx_augment augment;
    double val_split; /* fraction of the training set held out, 0 = evaluate on test */
    uint64_t seed;
    /* "task": "lm" (causal language modeling on a text corpus, mmx-text.h): windows of
     * `context` byte tokens, next-token cross-entropy at every position; an epoch is
     * `windows` windows drawn from (seed, epoch). 0: the defaults (the input's token count;
     * as many windows as the training split holds contexts). */
    bool lm;
    int64_t context, windows;
    /* > 0: also save the weights as epoch-<e>.safetensors in the run's folder after every
     * epoch e that is a multiple of it (for mmx analyze's series over training); 0: off. */
    int64_t checkpoint_every;
} mmx_train_config;

/* Fills c from a spec's train object (NULL or {} gives every default). The object is
 * assumed validated by the spec reader; values out of range are still refused here. */
MMX_API bool mmx_train_config_from_json(json_t *train, mmx_train_config *c, GError **error);
MMX_API void mmx_train_config_clear(mmx_train_config *c);
/* The resolved settings as JSON (for config.json). New reference. */
MMX_API json_t *mmx_train_config_to_json(const mmx_train_config *c);

typedef enum mmx_progress {
    MMX_PROGRESS_QUIET,
    MMX_PROGRESS_LINES, /* one line per epoch */
    MMX_PROGRESS_BAR,   /* a live bar on a terminal, then the epoch line */
} mmx_progress;

/* Data-parallel training (docs/training.md, "Data-parallel training"): `size` processes
 * (ranks) train one model. Every global batch of B samples is cut into `size` shards of
 * B / size consecutive samples, shard k on rank k; each rank runs the forward and the
 * backward on its shard, the gradients are summed over the ranks (one sum of the whole
 * gradient per step, after the backward) and every rank takes the same optimizer step,
 * so the ranks hold the same parameters to the bit. BatchNorm normalizes with its shard's
 * own statistics; its running statistics are averaged over the ranks after every step.
 * Evaluation is split over the ranks too. Only rank 0 writes files (out_dir is ignored on
 * the others); every rank reads resume_dir. The core never calls MPI: the caller gives
 * the sums (tools/mmx/train-mpi.c with MPI_Allreduce). */
typedef struct mmx_train_comm {
    int rank, size;
    /* Sums buf[0..n) element-wise over the ranks, in place; every rank must get the same
     * bits. false with error when the communication failed. */
    bool (*sum_f32)(void *user, float *buf, int64_t n, GError **error);
    bool (*sum_f64)(void *user, double *buf, int64_t n, GError **error);
    void *user;
} mmx_train_comm;

typedef struct mmx_train_options {
    const char *out_dir;    /* NULL: no files */
    const char *resume_dir; /* continue from out_dir/checkpoint.safetensors of this run */
    mmx_progress progress;
    int64_t stop_after_steps; /* > 0: stop (as if interrupted) after this many steps (tests) */
    const mmx_train_comm *comm; /* NULL (or size 1): one process */
    /* > 0: pause at the end of this epoch (when it is before the last): the checkpoint is
     * saved, result.json says "paused", and the call returns MMX_TRAIN_ERROR_INTERRUPTED;
     * resume_dir continues exactly where it stopped (the sweep's pruners promote trials so) */
    int64_t pause_after_epochs;
} mmx_train_options;

/* Trains spec (with its graph) per c. Returns false with the reason; result (may be
 * NULL) gets result.json's object either way when anything ran. */
MMX_API bool mmx_train_run(const mmx_spec *spec, const mmx_graph *graph,
                           const mmx_train_config *c, const mmx_train_options *opts,
                           json_t **result, GError **error);

/* Asks a running mmx_train_run to stop after the current step, save its checkpoint and
 * return MMX_TRAIN_ERROR_INTERRUPTED. Async-signal-safe. */
MMX_API void mmx_train_request_stop(void);

/* Test loss and accuracy of model on ds (inference mode, batches of `batch`). */
MMX_API bool mmx_evaluate(mmx_model *model, const mmx_dataset *ds, const mmx_norm_stats *stats,
                          int64_t batch, double *loss, double *accuracy, GError **error);

/* Sampling from a trained language model (a spec of task lm: input [context, 1], output
 * [context, 256]). temperature 0 is greedy (the most likely byte, the lowest on ties);
 * otherwise the logits are divided by it and, with top_k in 1..255, only the top_k most
 * likely bytes are kept (by logit, then by byte value); the byte is drawn by inverting the
 * cumulative softmax at u = 53 bits of Philox keyed by seed, counter = the byte's index. */
typedef struct mmx_lm_sampling {
    int64_t tokens;     /* bytes to generate */
    double temperature; /* >= 0 */
    int top_k;          /* 0: every byte */
    uint64_t seed;
} mmx_lm_sampling;

/* Called with each generated byte as soon as it is drawn; false stops the generation. */
typedef bool (*mmx_lm_emit_fn)(uint8_t byte, void *user);

/* Continues prompt (len >= 1 bytes) with s->tokens bytes: each step runs the model on the
 * last `context` bytes so far (left-aligned: a shorter history leaves the later positions
 * unread, which a causal model never sees) and samples the byte after the last one. */
MMX_API bool mmx_lm_generate(mmx_model *model, const uint8_t *prompt, size_t len,
                             const mmx_lm_sampling *s, mmx_lm_emit_fn emit, void *user,
                             GError **error);

G_END_DECLS

#endif
