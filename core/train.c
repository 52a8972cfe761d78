/* train.c: the training loop: data, executor, loss, optimizer, evaluation, files.
 *
 * Determinism: the epoch's sample order comes from Philox keyed by (seed, epoch), a
 * sample's augmentation from (seed, epoch) and its index, a step's dropout draws from
 * (seed, step); parameters from (seed, name). Kernels give the same bits for any thread
 * count. So a run is a pure function of its spec, config and data, and a resumed run
 * recomputes exactly what the uninterrupted one would have.
 *
 * Checkpoints (checkpoint.safetensors) are written at the end of every epoch and when a
 * stop is requested; they carry the parameters, buffers, optimizer state and, in the
 * metadata, where in the epoch the run stands and the partial train loss of that epoch.
 * With train.checkpoint_every k, the weights alone are also kept as epoch-<e>.safetensors
 * after every k-th epoch; saving reads the state and changes no number of the run.
 * A diverged run keeps its last good checkpoint: the bad state is never saved.
 */
#include "mmx-private.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mmx/mmx-io.h>
#include <mmx/mmx-text.h>
#include <mmx/mmx-train.h>

// clang-format off
G_DEFINE_QUARK(mmx-train-error-quark, mmx_train_error)
// clang-format on

static volatile sig_atomic_t stop_requested;

void
mmx_train_request_stop(void)
{
    stop_requested = 1;
}

/* ---- configuration ---- */

static double
num(json_t *o, const char *key, double def)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

bool
mmx_train_config_from_json(json_t *train, mmx_train_config *c, GError **error)
{
    memset(c, 0, sizeof *c);
    json_t *t = json_is_object(train) ? train : NULL;
    const char *task = json_string_value(json_object_get(t, "task"));
    c->lm = task != NULL && strcmp(task, "lm") == 0;
    const char *data = json_string_value(json_object_get(t, "data"));
    c->data = g_strdup(data ? data : c->lm ? "jargon" : "fashion-mnist");
    c->context = (int64_t)num(t, "context", 0);
    c->windows = (int64_t)num(t, "windows", 0);
    c->epochs = (int64_t)num(t, "epochs", 10);
    c->batch = (int64_t)num(t, "batch", 128);
    const char *opt = json_string_value(json_object_get(t, "optimizer"));
    c->optim.kind = opt && strcmp(opt, "sgd") == 0 ? MMX_OPTIM_SGD : MMX_OPTIM_ADAMW;
    c->lr = num(t, "lr", c->optim.kind == MMX_OPTIM_SGD ? 0.1 : 1e-3);
    c->min_lr = num(t, "min_lr", 0.0);
    c->optim.wd = num(t, "wd", c->optim.kind == MMX_OPTIM_SGD ? 5e-4 : 0.05);
    c->optim.beta1 = 0.9;
    c->optim.beta2 = 0.999;
    c->optim.eps = 1e-8;
    c->optim.momentum = num(t, "momentum", 0.9);
    c->optim.nesterov = json_is_true(json_object_get(t, "nesterov"));
    c->warmup = num(t, "warmup", 1.0);
    const char *sched = json_string_value(json_object_get(t, "schedule"));
    c->schedule = sched && strcmp(sched, "constant") == 0 ? MMX_SCHEDULE_CONSTANT : MMX_SCHEDULE_COSINE;
    c->label_smoothing = num(t, "label_smoothing", c->lm ? 0.0 : 0.1);
    c->clip = num(t, "clip", 0.0);
    json_t *aug = json_object_get(t, "augment");
    c->augment.crop_padding = (int)num(aug, "crop", 0);
    c->augment.flip = json_is_true(json_object_get(aug, "flip"));
    c->val_split = num(t, "val_split", c->lm ? 0.1 : 0.0);
    c->seed = (uint64_t)num(t, "seed", 0);
    c->checkpoint_every = (int64_t)num(t, "checkpoint_every", 0);
    const char *bad = NULL;
    if (c->epochs < 1 || c->epochs > 100000)
        bad = "epochs must be 1..100000";
    else if (c->batch < 1 || c->batch > 65536)
        bad = "batch must be 1..65536";
    else if (!(c->lr > 0) || !isfinite(c->lr))
        bad = "lr must be a positive number";
    else if (c->warmup < 0 || c->label_smoothing < 0 || c->label_smoothing >= 1 || c->clip < 0)
        bad = "warmup, clip >= 0 and label_smoothing in [0, 1)";
    else if (c->val_split < 0 || c->val_split >= 1)
        bad = "val_split must be in [0, 1)";
    else if (c->lm && !(c->val_split > 0))
        bad = "val_split (the fraction of documents held out) must be in (0, 1) for task lm";
    else if (c->context < 0 || c->context > 65536 || c->windows < 0)
        bad = "context must be 1..65536 and windows positive";
    else if (c->augment.crop_padding < 0 || c->augment.crop_padding > 64)
        bad = "augment.crop must be 0..64 pixels";
    else if (c->checkpoint_every < 0 || c->checkpoint_every > 100000)
        bad = "checkpoint_every must be 0..100000 epochs";
    if (bad) {
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID, "train settings: %s", bad);
        mmx_train_config_clear(c);
        return false;
    }
    return true;
}

void
mmx_train_config_clear(mmx_train_config *c)
{
    g_clear_pointer(&c->data, g_free);
}

json_t *
mmx_train_config_to_json(const mmx_train_config *c)
{
    json_t *aug = json_pack("{s:i, s:b}", "crop", c->augment.crop_padding, "flip", c->augment.flip);
    json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:f, s:f, s:f, s:f, s:b, s:f, s:s, s:f, s:f, s:o, s:f, s:I}",
                     "data", c->data, "epochs", (json_int_t)c->epochs, "batch",
                     (json_int_t)c->batch, "optimizer",
                     c->optim.kind == MMX_OPTIM_SGD ? "sgd" : "adamw", "lr", c->lr, "min_lr",
                     c->min_lr, "wd", c->optim.wd, "momentum", c->optim.momentum, "nesterov",
                     c->optim.nesterov, "warmup", c->warmup, "schedule",
                     c->schedule == MMX_SCHEDULE_CONSTANT ? "constant" : "cosine",
                     "label_smoothing", c->label_smoothing, "clip", c->clip, "augment", aug,
                     "val_split", c->val_split, "seed", (json_int_t)c->seed);
    /* Only language models carry these keys: an image run's settings stay as they were. */
    if (c->lm)
        json_object_update_new(o, json_pack("{s:s, s:I, s:I}", "task", "lm", "context",
                                            (json_int_t)c->context, "windows",
                                            (json_int_t)c->windows));
    /* Only when on: the recipe of a run without epoch snapshots stays as it was (and so do
     * its checkpoints' bytes). It changes no number of the run. */
    if (c->checkpoint_every > 0)
        json_object_set_new(o, "checkpoint_every", json_integer((json_int_t)c->checkpoint_every));
    return o;
}

/* ---- evaluation ---- */

/* Images of the model's input shape, labels below its class count: anything else would
 * write past the input buffer or score labels the model has no logit for. */
static bool
data_fits(const mmx_graph *g, const mmx_dataset *ds, const char *source, GError **error)
{
    const mmx_shape *in = &mmx_graph_get_value(g, mmx_graph_input(g))->shape;
    int h = mmx_dataset_height(ds), w = mmx_dataset_width(ds), ch = mmx_dataset_channels(ds);
    if (in->height != h || in->width != w || in->dim[1] != ch) {
        g_set_error(
            error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID,
            "data %s has %dx%dx%d images but the spec's input is [%d, %d, %" G_GINT64_FORMAT "]",
            source ? source : mmx_dataset_path(ds), h, w, ch, in->height, in->width, in->dim[1]);
        return false;
    }
    int classes = (int)mmx_graph_get_value(g, mmx_graph_output(g))->shape.dim[0];
    if (mmx_dataset_classes(ds) > classes) {
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID,
                    "data %s has %d classes (labels 0..%d) but the spec's input.classes is %d",
                    source ? source : mmx_dataset_path(ds), mmx_dataset_classes(ds),
                    mmx_dataset_classes(ds) - 1, classes);
        return false;
    }
    return true;
}

/* The summed loss and the correct predictions of model on images [begin, end) of ds
 * (inference mode, batches of `batch`). */
static bool
image_eval_sums(mmx_model *model, const mmx_dataset *ds, const mmx_norm_stats *stats,
                int64_t batch, int64_t begin, int64_t end, double *loss_sum, int64_t *right,
                GError **error)
{
    *loss_sum = 0;
    *right = 0;
    if (end <= begin)
        return true;
    if (batch > end - begin)
        batch = end - begin;
    const mmx_graph *g = mmx_model_graph(model);
    g_autoptr(mmx_exec) ex = mmx_exec_new(model, batch, false, error);
    if (ex == NULL)
        return false;
    int classes = (int)mmx_graph_get_value(g, mmx_graph_output(g))->shape.dim[0];
    g_autofree int64_t *idx = g_new(int64_t, batch);
    g_autofree int32_t *labels = g_new(int32_t, batch);
    for (int64_t at = begin; at < end; at += batch) {
        int64_t b = end - at < batch ? end - at : batch;
        for (int64_t i = 0; i < b; i++)
            idx[i] = at + i;
        mmx_dataset_batch(ds, idx, b, stats, NULL, 0, mmx_exec_input(ex), labels);
        if (!mmx_exec_forward(ex, b, 0, error))
            return false;
        int64_t correct;
        *loss_sum += mmx_softmax_xent(mmx_exec_output(ex), labels, b, classes, 0.0, NULL, &correct) *
                     (double)b;
        *right += correct;
    }
    return true;
}

bool
mmx_evaluate(mmx_model *model, const mmx_dataset *ds, const mmx_norm_stats *stats,
             int64_t batch, double *loss, double *accuracy, GError **error)
{
    int64_t n = mmx_dataset_size(ds), right;
    double total;
    if (!data_fits(mmx_model_graph(model), ds, NULL, error) ||
        !image_eval_sums(model, ds, stats, batch, 0, n, &total, &right, error))
        return false;
    *loss = total / (double)n;
    *accuracy = (double)right / (double)n;
    return true;
}

/* ---- language models ---- */

/* The validation windows of a corpus: every non-overlapping window of `context` tokens
 * from the start of its validation split (position t of a window is predicted from the t
 * tokens before it in the window), each position weighted alike. */
static int64_t
lm_eval_windows(const mmx_corpus *corpus, int64_t context)
{
    int64_t ntok;
    mmx_corpus_tokens(corpus, true, &ntok);
    return (ntok - 1) / context;
}

/* The summed loss and the correct next-byte predictions of model over the positions of
 * validation windows [begin, end). */
static bool
lm_eval_sums(mmx_model *model, const mmx_corpus *corpus, int64_t context, int64_t batch,
             int64_t begin, int64_t end, double *loss_sum, int64_t *right, GError **error)
{
    *loss_sum = 0;
    *right = 0;
    if (end <= begin)
        return true;
    int64_t ntok;
    const uint8_t *tok = mmx_corpus_tokens(corpus, true, &ntok);
    if (batch > end - begin)
        batch = end - begin;
    g_autoptr(mmx_exec) ex = mmx_exec_new(model, batch, false, error);
    if (ex == NULL)
        return false;
    g_autofree int64_t *starts = g_new(int64_t, batch);
    g_autofree int32_t *targets = g_new(int32_t, batch * context);
    for (int64_t at = begin; at < end; at += batch) {
        int64_t b = end - at < batch ? end - at : batch;
        for (int64_t i = 0; i < b; i++)
            starts[i] = (at + i) * context;
        mmx_text_windows(tok, starts, b, context, mmx_exec_input(ex), targets);
        if (!mmx_exec_forward(ex, b, 0, error))
            return false;
        int64_t correct;
        *loss_sum += mmx_softmax_xent(mmx_exec_output(ex), targets, b * context, MMX_TEXT_VOCAB,
                                      0.0, NULL, &correct) *
                     (double)(b * context);
        *right += correct;
    }
    return true;
}

/* ---- the loop ---- */

typedef struct run {
    const mmx_spec *spec;
    const mmx_graph *graph;
    const mmx_train_config *c;
    const mmx_train_options *opts;
    mmx_dataset *train, *eval;
    bool eval_is_val;
    mmx_corpus *corpus; /* task lm: the text instead of train and eval */
    int64_t context;
    double unigram_bpb;
    mmx_norm_stats stats;
    mmx_model *model;
    mmx_optim *optim;
    mmx_exec *ex;
    int classes;
    int64_t steps_per_epoch, total_steps;
    /* position */
    int64_t epoch, batch_in_epoch, step;
    double epoch_loss_sum; /* sum of batch losses x batch sizes in this epoch */
    int64_t epoch_correct, epoch_seen;
    double train_seconds, wall_offset;
    double last_train_loss, last_train_acc, last_eval_loss, last_eval_acc, last_img_s;
    gint64 t_start;
    char *ckpt;
    /* data-parallel (mmx_train_comm): this process is rank `rank` of `ranks`, training on
     * shards of `shard` samples; progress is QUIET on every rank but 0 */
    const mmx_train_comm *comm;
    int rank, ranks;
    int64_t shard;
    mmx_progress progress;
    bool stop_all;         /* some rank was asked to stop: every rank stops after this step */
    double comm_seconds;   /* time in the sums over ranks */
    int64_t comm_steps;    /* steps those seconds cover */
} run;

static double
now_seconds(void)
{
    return (double)g_get_monotonic_time() / 1e6;
}

static char *
out_path(const run *r, const char *name)
{
    /* Only rank 0 writes the run's files. */
    return r->opts && r->opts->out_dir && r->rank == 0
               ? g_build_filename(r->opts->out_dir, name, NULL)
               : NULL;
}

/* ---- data-parallel: the sums over ranks (mmx_train_comm) ---- */

static bool
sum_f64(run *r, double *v, int64_t n, GError **error)
{
    if (r->ranks <= 1)
        return true;
    double t0 = now_seconds();
    bool ok = r->comm->sum_f64(r->comm->user, v, n, error);
    r->comm_seconds += now_seconds() - t0;
    return ok;
}

/* The mean over ranks of v[0..n) (the sum, scaled by 1 / ranks: exact for 2, 4, 8 ranks). */
static bool
mean_f32(run *r, float *v, int64_t n, GError **error)
{
    if (r->ranks <= 1)
        return true;
    double t0 = now_seconds();
    bool ok = r->comm->sum_f32(r->comm->user, v, n, error);
    r->comm_seconds += now_seconds() - t0;
    const float scale = 1.0f / (float)r->ranks;
    for (int64_t i = 0; ok && i < n; i++)
        v[i] *= scale;
    return ok;
}

/* Rank 0's buffers (BatchNorm's running statistics, updated by each rank from its own
 * shards) on every rank, bit for bit: the others contribute zeros to the sum. PyTorch's
 * DistributedDataParallel does the same (broadcast_buffers). */
static bool
share_buffers(run *r, GError **error)
{
    int64_t ntrain = mmx_model_n_trainable(r->model);
    int64_t n = mmx_model_n_total(r->model) - ntrain;
    if (r->ranks <= 1 || n == 0)
        return true;
    float *buffers = mmx_model_params(r->model) + ntrain;
    if (r->rank != 0)
        memset(buffers, 0, (size_t)n * sizeof(float));
    double t0 = now_seconds();
    bool ok = r->comm->sum_f32(r->comm->user, buffers, n, error);
    r->comm_seconds += now_seconds() - t0;
    return ok;
}

/* Every rank must hold the same parameters (the sums give every rank the same bits): a
 * checksum of them, summed over the ranks, must be `ranks` times this rank's. */
static bool
ranks_agree(run *r, GError **error)
{
    if (r->ranks <= 1)
        return true;
    const uint8_t *p = (const uint8_t *)mmx_model_params(r->model);
    uint64_t h = 14695981039346656037ull; /* FNV-1a over the bytes */
    for (size_t i = 0; i < (size_t)mmx_model_n_total(r->model) * sizeof(float); i++)
        h = (h ^ p[i]) * 1099511628211ull;
    double mine[2] = {(double)(h >> 32), (double)(h & 0xffffffffu)}, all[2] = {mine[0], mine[1]};
    if (!sum_f64(r, all, 2, error))
        return false;
    if (all[0] != mine[0] * r->ranks || all[1] != mine[1] * r->ranks) {
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_FAILED,
                    "rank %d of %d holds other parameters than the other ranks after epoch "
                    "%" G_GINT64_FORMAT ": the communication library's sums differ between "
                    "ranks; the run cannot continue",
                    r->rank, r->ranks, r->epoch + 1);
        return false;
    }
    return true;
}

static json_t *
checkpoint_meta(const run *r)
{
    json_t *m = json_object();
#define SET_NUM(key, fmt, v)                                                                       \
    do {                                                                                           \
        g_autofree char *s__ = g_strdup_printf(fmt, v);                                            \
        json_object_set_new(m, key, json_string(s__));                                             \
    } while (0)
    json_object_set_new(m, "spec_name", json_string(mmx_spec_name(r->spec)));
    SET_NUM("epoch", "%" G_GINT64_FORMAT, r->epoch);
    SET_NUM("batch_in_epoch", "%" G_GINT64_FORMAT, r->batch_in_epoch);
    SET_NUM("step", "%" G_GINT64_FORMAT, r->step);
    SET_NUM("epoch_loss_sum", "%.17g", r->epoch_loss_sum);
    SET_NUM("epoch_correct", "%" G_GINT64_FORMAT, r->epoch_correct);
    SET_NUM("epoch_seen", "%" G_GINT64_FORMAT, r->epoch_seen);
    SET_NUM("train_seconds", "%.17g", r->train_seconds);
    /* The last finished epoch's figures: a run killed after its last checkpoint and
     * before result.json resumes with no epoch left to run, and its result must still
     * say what that epoch measured. */
    SET_NUM("last_train_loss", "%.17g", r->last_train_loss);
    SET_NUM("last_train_acc", "%.17g", r->last_train_acc);
    SET_NUM("last_eval_loss", "%.17g", r->last_eval_loss);
    SET_NUM("last_eval_acc", "%.17g", r->last_eval_acc);
    SET_NUM("wall_seconds", "%.17g", r->wall_offset + (now_seconds() - (double)r->t_start / 1e6));
    SET_NUM("seed", "%" G_GUINT64_FORMAT, r->c->seed);
    SET_NUM("norm_mean", "%.9g", r->stats.mean[0]);
    SET_NUM("norm_std", "%.9g", r->stats.std[0]);
#undef SET_NUM
    char *spec = json_dumps(mmx_spec_resolved(r->spec), JSON_COMPACT | JSON_SORT_KEYS);
    json_object_set_new(m, "spec", json_string(spec));
    free(spec);
    json_t *cfg = mmx_train_config_to_json(r->c);
    char *config = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(cfg);
    json_object_set_new(m, "config", json_string(config));
    free(config);
    return m;
}

static bool
save_checkpoint(run *r, GError **error)
{
    if (r->ckpt == NULL)
        return true;
    json_t *meta = checkpoint_meta(r);
    bool ok = mmx_model_save(r->model, r->ckpt, r->optim, meta, error);
    json_decref(meta);
    return ok;
}

/* epoch-<e>.safetensors: the weights (no optimizer state) at the end of epoch e, with the
 * checkpoint's metadata, for mmx analyze's series over training. */
static bool
save_snapshot(run *r, GError **error)
{
    g_autofree char *name = g_strdup_printf("epoch-%" G_GINT64_FORMAT ".safetensors", r->epoch);
    g_autofree char *path = out_path(r, name);
    if (path == NULL)
        return true;
    json_t *meta = checkpoint_meta(r);
    bool ok = mmx_model_save(r->model, path, NULL, meta, error);
    json_decref(meta);
    return ok;
}

static int64_t
meta_int(json_t *meta, const char *key)
{
    const char *s = json_string_value(json_object_get(meta, key));
    return s ? g_ascii_strtoll(s, NULL, 10) : 0;
}

static double
meta_double(json_t *meta, const char *key)
{
    const char *s = json_string_value(json_object_get(meta, key));
    return s ? g_ascii_strtod(s, NULL) : 0.0;
}

/* A kill between the end of an epoch's metrics line and its checkpoint (or the reverse)
 * must not leave a duplicated or a missing line after resuming: keep exactly the epochs
 * the checkpoint has finished. */
static bool
truncate_metrics(run *r, GError **error)
{
    g_autofree char *path = g_build_filename(r->opts->resume_dir, "metrics.jsonl", NULL);
    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return true;
    json_t *lines = mmx_jsonl_read(path, error);
    if (lines == NULL)
        return false;
    GString *keep = g_string_new(NULL);
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line)
    {
        if (json_integer_value(json_object_get(line, "epoch")) > r->epoch)
            continue;
        char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        g_string_append_printf(keep, "%s\n", text);
        free(text);
    }
    json_decref(lines);
    bool ok = mmx_file_write_atomic(path, keep->str, keep->len, error);
    g_string_free(keep, TRUE);
    return ok;
}

static bool
resume(run *r, GError **error)
{
    g_autofree char *path = g_build_filename(r->opts->resume_dir, "checkpoint.safetensors", NULL);
    json_t *meta = NULL;
    GError *load = NULL;
    if (!mmx_model_load(r->model, path, r->optim, &meta, &load)) {
        /* A missing, damaged or foreign checkpoint is bad input: nothing has trained. */
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID, "cannot resume: %s",
                    load->message);
        g_error_free(load);
        return false;
    }
    /* The run must be the same run: same resolved spec and the same settings. */
    char *spec = json_dumps(mmx_spec_resolved(r->spec), JSON_COMPACT | JSON_SORT_KEYS);
    json_t *cfg = mmx_train_config_to_json(r->c);
    char *config = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(cfg);
    const char *saved_spec = json_string_value(json_object_get(meta, "spec"));
    const char *saved_config = json_string_value(json_object_get(meta, "config"));
    bool same = saved_spec && saved_config && strcmp(spec, saved_spec) == 0 &&
                strcmp(config, saved_config) == 0;
    free(spec);
    free(config);
    if (!same) {
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID,
                    "%s was saved by a run with another spec or other training settings; resume "
                    "with the same spec and options (see %s/config.json)",
                    path, r->opts->resume_dir);
        json_decref(meta);
        return false;
    }
    r->epoch = meta_int(meta, "epoch");
    r->batch_in_epoch = meta_int(meta, "batch_in_epoch");
    r->step = meta_int(meta, "step");
    r->epoch_loss_sum = meta_double(meta, "epoch_loss_sum");
    r->epoch_correct = meta_int(meta, "epoch_correct");
    r->epoch_seen = meta_int(meta, "epoch_seen");
    r->train_seconds = meta_double(meta, "train_seconds");
    r->last_train_loss = meta_double(meta, "last_train_loss");
    r->last_train_acc = meta_double(meta, "last_train_acc");
    r->last_eval_loss = meta_double(meta, "last_eval_loss");
    r->last_eval_acc = meta_double(meta, "last_eval_acc");
    r->wall_offset = meta_double(meta, "wall_seconds");
    json_decref(meta);
    /* Only rank 0 writes the run's files (every rank reads the checkpoint). */
    return r->rank != 0 || truncate_metrics(r, error);
}

static json_t *
result_json(const run *r, const char *status, const char *reason)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "reason", reason ? json_string(reason) : json_null());
    json_object_set_new(o, "name", json_string(mmx_spec_name(r->spec)));
    json_object_set_new(o, "seed", json_integer((json_int_t)r->c->seed));
    json_object_set_new(o, "epochs", json_integer((json_int_t)r->epoch));
    json_object_set_new(o, "steps", json_integer((json_int_t)r->step));
    json_object_set_new(o, r->eval_is_val ? "val_acc" : "test_acc", json_real(r->last_eval_acc));
    json_object_set_new(o, r->eval_is_val ? "val_loss" : "test_loss", json_real(r->last_eval_loss));
    json_object_set_new(o, "train_loss", json_real(r->last_train_loss));
    json_object_set_new(o, "train_acc", json_real(r->last_train_acc));
    if (r->corpus) {
        json_object_set_new(o, "val_bpb", json_real(r->last_eval_loss / G_LN2));
        json_object_set_new(o, "val_ppl", json_real(exp(r->last_eval_loss)));
        json_object_set_new(o, "unigram_bpb", json_real(r->unigram_bpb));
        json_object_set_new(o, "context", json_integer((json_int_t)r->context));
    }
    json_object_set_new(o, "params", json_integer((json_int_t)mmx_graph_param_count(r->graph)));
    json_object_set_new(o, "flops_per_image", json_real(mmx_graph_flops(r->graph)));
    json_object_set_new(o, r->corpus ? "train_tokens_per_s" : "train_img_per_s",
                        json_real(r->train_seconds > 0 ? (double)(r->step * r->c->batch) *
                                                             (double)(r->corpus ? r->context : 1) /
                                                             r->train_seconds
                                                       : 0.0));
    json_object_set_new(o, "wall_seconds",
                        json_real(r->wall_offset + (now_seconds() - (double)r->t_start / 1e6)));
    json_object_set_new(o, "threads", json_integer(mmx_num_threads()));
    if (r->ranks > 1) {
        /* Data-parallel: the ranks, and the time this run's rank 0 spent in the sums over
         * ranks per step (the gradient, the step's loss; evaluations' sums included). */
        json_object_set_new(o, "ranks", json_integer(r->ranks));
        json_object_set_new(o, "allreduce_bytes_per_step",
                            json_integer((json_int_t)(mmx_model_n_trainable(r->model) * 4 + 24)));
        json_object_set_new(o, "allreduce_seconds_per_step",
                            json_real(r->comm_steps ? r->comm_seconds / (double)r->comm_steps : 0));
    }
    json_object_set_new(o, "mmx_version", json_string(mmx_version()));
    json_object_set_new(o, "git", json_string(mmx_git_hash()));
    return o;
}

static bool
write_config(run *r, GError **error)
{
    g_autofree char *path = out_path(r, "config.json");
    if (path == NULL)
        return true;
    json_t *o = json_object();
    json_object_set_new(o, "mmx_version", json_string(mmx_version()));
    json_object_set_new(o, "git", json_string(mmx_git_hash()));
    json_object_set(o, "spec", mmx_spec_resolved(r->spec));
    json_object_set_new(o, "spec_path", json_string(mmx_spec_path(r->spec) ? mmx_spec_path(r->spec) : ""));
    json_object_set_new(o, "train", mmx_train_config_to_json(r->c));
    int64_t ntr = 0, nva = 0;
    if (r->corpus) {
        mmx_corpus_tokens(r->corpus, false, &ntr);
        mmx_corpus_tokens(r->corpus, true, &nva);
    }
    json_object_set_new(
        o, "data",
        r->corpus
            ? json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:f}", "name",
                        mmx_corpus_name(r->corpus), "path", mmx_corpus_path(r->corpus),
                        "tokenizer", "bytes (vocab 256)", "train_tokens", (json_int_t)ntr,
                        "val_tokens", (json_int_t)nva, "train_documents",
                        (json_int_t)mmx_corpus_documents(r->corpus, false), "val_documents",
                        (json_int_t)mmx_corpus_documents(r->corpus, true), "split",
                        "by document, evenly spread (mmx-text.h)", "unigram_bpb", r->unigram_bpb)
            :         json_pack("{s:s, s:s, s:I, s:I, s:s, s:f, s:f}", "name",
                                  mmx_dataset_name(r->train), "path", mmx_dataset_path(r->train),
                                  "train_size", (json_int_t)mmx_dataset_size(r->train),
                                  r->eval_is_val ? "val_size" : "test_size",
                                  (json_int_t)mmx_dataset_size(r->eval), "normalization",
                                  "per-channel mean/std of the training set", "mean",
                                  (double)r->stats.mean[0], "std", (double)r->stats.std[0]));
    json_object_set_new(o, "seed", json_integer((json_int_t)r->c->seed));
    json_object_set_new(o, "threads", json_integer(mmx_num_threads()));
    g_autofree char *model = mmx_cpu_model();
    json_object_set_new(o, "cpu", json_pack("{s:s, s:s}", "model", model, "isa",
                                            mmx_isa_name(mmx_cpu_isa())));
    json_t *kernels = json_object();
    for (int i = 0; i < mmx_graph_n_nodes(r->graph); i++) {
        const mmx_graph_node *nd = mmx_graph_get_node(r->graph, i);
        json_object_set_new(kernels, nd->name, json_string(mmx_op_instance_kernel(nd->inst)->name));
    }
    json_object_set_new(o, "kernels", kernels);
    g_autoptr(GDateTime) dt = g_date_time_new_now_utc();
    g_autofree char *iso = g_date_time_format_iso8601(dt);
    json_object_set_new(o, "started", json_string(iso));
    bool ok = mmx_json_write_atomic(path, o, error);
    json_decref(o);
    return ok;
}

static void
progress_bar(const run *r, double loss, double img_s)
{
    if (r->progress != MMX_PROGRESS_BAR)
        return;
    const int width = 24;
    int64_t done = r->batch_in_epoch, total = r->steps_per_epoch;
    int fill = total ? (int)(width * done / total) : width;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double eta = img_s > 0 ? (double)((total - done) * r->c->batch) *
                                 (double)(r->corpus ? r->context : 1) / img_s
                           : 0;
    fprintf(stderr, "\repoch %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " [%s] %" G_GINT64_FORMAT
                    "/%" G_GINT64_FORMAT " loss %.4f %.0f %s ETA %d:%02d ",
            r->epoch + 1, r->c->epochs, bar, done, total, loss, img_s,
            r->corpus ? "tokens/s" : "img/s", (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

static bool
finish_epoch(run *r, double epoch_seconds, GError **error)
{
    r->last_train_loss = r->epoch_seen ? r->epoch_loss_sum / (double)r->epoch_seen : 0;
    r->last_train_acc = r->epoch_seen ? (double)r->epoch_correct / (double)r->epoch_seen : 0;
    r->last_img_s = epoch_seconds > 0 ? (double)r->epoch_seen / epoch_seconds : 0;
    /* Each rank evaluates its share of the windows or images, with rank 0's running
     * statistics; the sums are added. */
    if (!share_buffers(r, error))
        return false;
    int64_t n = r->corpus ? lm_eval_windows(r->corpus, r->context) : mmx_dataset_size(r->eval);
    int64_t begin = n * r->rank / r->ranks, end = n * (r->rank + 1) / r->ranks, right;
    double sums[2];
    if (!(r->corpus ? lm_eval_sums(r->model, r->corpus, r->context, r->c->batch, begin, end,
                                   &sums[0], &right, error)
                    : image_eval_sums(r->model, r->eval, &r->stats, r->c->batch, begin, end,
                                      &sums[0], &right, error)))
        return false;
    sums[1] = (double)right;
    if (!sum_f64(r, sums, 2, error) || !ranks_agree(r, error))
        return false;
    double count = (double)(r->corpus ? n * r->context : n);
    r->last_eval_loss = sums[0] / count;
    r->last_eval_acc = sums[1] / count;
    r->epoch++;
    r->batch_in_epoch = 0;
    if (r->progress != MMX_PROGRESS_QUIET) {
        if (r->progress == MMX_PROGRESS_BAR)
            fprintf(stderr, "\r\033[K");
        if (r->corpus)
            fprintf(stderr,
                    "epoch %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT ": train loss %.4f acc %.4f | "
                    "val loss %.4f, %.4f bits per byte, perplexity %.3f, acc %.4f | %.0f tokens/s "
                    "| %.1f s\n",
                    r->epoch, r->c->epochs, r->last_train_loss, r->last_train_acc,
                    r->last_eval_loss, r->last_eval_loss / G_LN2, exp(r->last_eval_loss),
                    r->last_eval_acc, r->last_img_s, epoch_seconds);
        else
        fprintf(stderr,
                "epoch %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT ": train loss %.4f acc %.4f | %s "
                "loss %.4f acc %.4f | %.0f img/s | %.1f s\n",
                r->epoch, r->c->epochs, r->last_train_loss, r->last_train_acc,
                r->eval_is_val ? "val" : "test", r->last_eval_loss, r->last_eval_acc,
                r->last_img_s, epoch_seconds);
    }
    g_autofree char *metrics = out_path(r, "metrics.jsonl");
    if (metrics) {
        json_t *m = json_object();
        json_object_set_new(m, "epoch", json_integer((json_int_t)r->epoch));
        json_object_set_new(m, "step", json_integer((json_int_t)r->step));
        mmx_schedule s = {r->c->schedule, r->c->lr, r->c->min_lr,
                          (int64_t)(r->c->warmup * (double)r->steps_per_epoch), r->total_steps};
        json_object_set_new(m, "lr", json_real(mmx_schedule_lr(&s, r->step > 0 ? r->step - 1 : 0)));
        json_object_set_new(m, "train_loss", json_real(r->last_train_loss));
        json_object_set_new(m, "train_acc", json_real(r->last_train_acc));
        json_object_set_new(m, r->eval_is_val ? "val_loss" : "test_loss", json_real(r->last_eval_loss));
        json_object_set_new(m, r->eval_is_val ? "val_acc" : "test_acc", json_real(r->last_eval_acc));
        if (r->corpus) {
            json_object_set_new(m, "val_bpb", json_real(r->last_eval_loss / G_LN2));
            json_object_set_new(m, "val_ppl", json_real(exp(r->last_eval_loss)));
        }
        json_object_set_new(m, r->corpus ? "tokens_per_s" : "img_per_s", json_real(r->last_img_s));
        json_object_set_new(m, "epoch_seconds", json_real(epoch_seconds));
        json_object_set_new(m, "wall_seconds",
                            json_real(r->wall_offset + (now_seconds() - (double)r->t_start / 1e6)));
        bool ok = mmx_jsonl_append(metrics, m, error);
        json_decref(m);
        if (!ok)
            return false;
    }
    r->epoch_loss_sum = 0;
    r->epoch_correct = r->epoch_seen = 0;
    /* The epoch's snapshot before the checkpoint that says the epoch is done: a kill
     * between the two redoes the epoch on resume and writes the snapshot again. */
    if (r->c->checkpoint_every > 0 && r->epoch % r->c->checkpoint_every == 0 && !save_snapshot(r, error))
        return false;
    return save_checkpoint(r, error);
}

static bool
write_result(run *r, const char *status, const char *reason, json_t **result, GError **error)
{
    json_t *o = result_json(r, status, reason);
    g_autofree char *path = out_path(r, "result.json");
    bool ok = path == NULL || mmx_json_write_atomic(path, o, error);
    if (result)
        *result = o;
    else
        json_decref(o);
    return ok;
}

/* The length of the name of a file a run writes that entry starts with (config.json, ...,
 * epoch-<e>.safetensors), 0 when none. */
static size_t
run_file_prefix(const char *entry)
{
    static const char *const names[] = {"config.json", "metrics.jsonl", "result.json",
                                        "checkpoint.safetensors", "final.safetensors"};
    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++)
        if (g_str_has_prefix(entry, names[i]))
            return strlen(names[i]);
    size_t digits = g_str_has_prefix(entry, "epoch-") ? strspn(entry + 6, "0123456789") : 0;
    if (digits > 0 && g_str_has_prefix(entry + 6 + digits, ".safetensors"))
        return 6 + digits + strlen(".safetensors");
    return 0;
}

/* A run killed with SIGKILL in the middle of an atomic write leaves its temporary file
 * (NAME.tmp.PID, as large as a checkpoint) behind; the next run in the directory removes
 * those of the files a run writes. One run writes into a directory at a time. */
static void
remove_stale_temporaries(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *entry;
    while (d && (entry = g_dir_read_name(d)) != NULL) {
        size_t n = run_file_prefix(entry);
        const char *tail = entry + n;
        if (n == 0 || strncmp(tail, ".tmp.", 5) != 0 || tail[5] == '\0' ||
            strspn(tail + 5, "0123456789") != strlen(tail + 5))
            continue;
        g_autofree char *path = g_build_filename(dir, entry, NULL);
        unlink(path);
    }
}

/* The whole run's memory, before anything is allocated: the model with its gradients and
 * optimizer state, the training plan and the evaluation plan (both alive at the end of an
 * epoch). A spec with huge dimensions is refused here with the estimate rather than
 * taking the machine into swap or the OOM killer. */
static bool
check_memory(const run *r, GError **error)
{
    int states = r->c->optim.kind == MMX_OPTIM_ADAMW ? 2 : 1;
    int64_t neval = r->eval ? mmx_dataset_size(r->eval) : r->c->batch;
    int64_t eval_batch = r->c->batch < neval ? r->c->batch : neval;
    size_t model = mmx_model_estimate(r->graph, states);
    size_t train = mmx_exec_estimate(r->graph, r->shard, true);
    size_t eval = mmx_exec_estimate(r->graph, eval_batch, false);
    size_t total = SIZE_MAX;
    if (model != SIZE_MAX && train != 0 && eval != 0 && model <= SIZE_MAX / 4 &&
        train <= SIZE_MAX / 4 && eval <= SIZE_MAX / 4)
        total = model + train + eval;
    g_autofree char *what = g_strdup_printf("training at batch %" G_GINT64_FORMAT, r->shard);
    g_autofree char *detail = g_strdup_printf(
        "parameters, gradients and optimizer state %.2f GB, activations %.2f GB, evaluation "
        "%.2f GB",
        model == SIZE_MAX ? INFINITY : (double)model / 1e9,
        train == 0 ? INFINITY : (double)train / 1e9, eval == 0 ? INFINITY : (double)eval / 1e9);
    return mmx_memory_check(what, total, detail, error);
}

/* The byte after the logits z[256] per the sampling rule of mmx-train.h. */
static int
sample_byte(const float *z, const mmx_lm_sampling *s, int64_t index)
{
    int order[MMX_TEXT_VOCAB];
    int best = 0;
    for (int v = 0; v < MMX_TEXT_VOCAB; v++) {
        order[v] = v;
        if (z[v] > z[best])
            best = v;
    }
    if (s->temperature <= 0)
        return best;
    /* Insertion sort by logit, then by byte: 256 entries, once per generated byte. */
    for (int i = 1; i < MMX_TEXT_VOCAB; i++)
        for (int j = i; j > 0 && z[order[j]] > z[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int keep = s->top_k > 0 && s->top_k < MMX_TEXT_VOCAB ? s->top_k : MMX_TEXT_VOCAB;
    double p[MMX_TEXT_VOCAB], total = 0.0, top = (double)z[order[0]];
    for (int i = 0; i < keep; i++)
        total += p[i] = exp(((double)z[order[i]] - top) / s->temperature);
    uint32_t r[4];
    mmx_philox(mmx_rng_key(s->seed, 0x6e7e0001, 0), (uint64_t)index, r);
    double u = (double)((((uint64_t)r[0] << 32) | r[1]) >> 11) / 9007199254740992.0 * total;
    for (int i = 0; i < keep; i++) {
        if (u < p[i])
            return order[i];
        u -= p[i];
    }
    return order[keep - 1];
}

bool
mmx_lm_generate(mmx_model *model, const uint8_t *prompt, size_t len, const mmx_lm_sampling *s,
                mmx_lm_emit_fn emit, void *user, GError **error)
{
    const mmx_graph *g = mmx_model_graph(model);
    const mmx_shape *in = &mmx_graph_get_value(g, mmx_graph_input(g))->shape;
    const mmx_shape *out = &mmx_graph_get_value(g, mmx_graph_output(g))->shape;
    const char *bad = NULL;
    if (in->rank != 2 || in->dim[1] != 1 || out->rank != 2 || out->dim[0] != in->dim[0] ||
        out->dim[1] != MMX_TEXT_VOCAB)
        bad = "the model is not a byte language model (input [context, 1], output [context, 256])";
    else if (len == 0)
        bad = "the prompt is empty: give at least one byte to continue";
    else if (!(s->temperature >= 0) || !isfinite(s->temperature))
        bad = "the temperature must be a finite number >= 0";
    else if (s->top_k < 0 || s->top_k > MMX_TEXT_VOCAB)
        bad = "top-k must be 0 (off) to 256";
    else if (s->tokens < 0)
        bad = "the number of tokens must be >= 0";
    if (bad) {
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID, "generate: %s", bad);
        return false;
    }
    const int64_t context = in->dim[0];
    g_autoptr(mmx_exec) ex = mmx_exec_new(model, 1, false, error);
    if (ex == NULL)
        return false;
    GByteArray *text = g_byte_array_new();
    g_byte_array_append(text, prompt, (guint)len);
    bool ok = true;
    for (int64_t i = 0; i < s->tokens && ok; i++) {
        int64_t n = (int64_t)text->len < context ? (int64_t)text->len : context;
        const uint8_t *window = text->data + text->len - n;
        float *x = mmx_exec_input(ex);
        for (int64_t t = 0; t < context; t++)
            x[t] = t < n ? (float)window[t] : 0.0f;
        if (!mmx_exec_forward(ex, 1, 0, error)) {
            ok = false;
            break;
        }
        uint8_t byte = (uint8_t)sample_byte(mmx_exec_output(ex) + (n - 1) * MMX_TEXT_VOCAB, s, i);
        g_byte_array_append(text, &byte, 1);
        if (emit && !emit(byte, user))
            break;
    }
    g_byte_array_unref(text);
    return ok;
}

/* The corpus of a language model, and what the spec must be to read it: an input of
 * `context` tokens of one channel (the ids) and the 256 byte tokens as its classes. */
static bool
setup_lm_data(run *r, GError **error)
{
    mmx_shape in = mmx_spec_input_shape(r->spec);
    const char *spec = mmx_spec_path(r->spec) ? mmx_spec_path(r->spec) : mmx_spec_name(r->spec);
    r->context = r->c->context > 0 ? r->c->context : in.dim[0];
    if (in.dim[1] != 1 || in.dim[0] != r->context || r->classes != MMX_TEXT_VOCAB) {
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID,
                    "%s: a language model (task lm) reads %" G_GINT64_FORMAT
                    " byte tokens: its input must be {\"shape\": [%" G_GINT64_FORMAT
                    ", 1, 1], \"classes\": %d}, not [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                    "] with %d classes",
                    spec, r->context, r->context, MMX_TEXT_VOCAB, in.dim[0], in.dim[1], r->classes);
        return false;
    }
    r->corpus = mmx_corpus_load(r->c->data, r->c->val_split, r->context + 1, error);
    if (r->corpus == NULL)
        return false;
    r->eval_is_val = true;
    r->unigram_bpb = mmx_corpus_unigram_bpb(r->corpus);
    int64_t ntrain;
    mmx_corpus_tokens(r->corpus, false, &ntrain);
    int64_t windows = r->c->windows > 0 ? r->c->windows : ntrain / r->context;
    r->steps_per_epoch = windows / r->c->batch;
    if (r->steps_per_epoch < 1) {
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID,
                    "batch %" G_GINT64_FORMAT " is larger than an epoch (%" G_GINT64_FORMAT
                    " windows)",
                    r->c->batch, windows);
        return false;
    }
    if (r->progress != MMX_PROGRESS_QUIET) {
        int64_t nval;
        mmx_corpus_tokens(r->corpus, true, &nval);
        fprintf(stderr,
                "mmx train: corpus %s: %" G_GINT64_FORMAT " training bytes (%" G_GINT64_FORMAT
                " documents), %" G_GINT64_FORMAT " validation bytes (%" G_GINT64_FORMAT
                "); unigram baseline %.4f bits per byte\n",
                mmx_corpus_name(r->corpus), ntrain, mmx_corpus_documents(r->corpus, false), nval,
                mmx_corpus_documents(r->corpus, true), r->unigram_bpb);
    }
    return true;
}

static bool
setup_image_data(run *r, GError **error)
{
    if (!mmx_data_load(r->c->data, &r->train, &r->eval, error))
        return false;
    if (!data_fits(r->graph, r->train, r->c->data, error) ||
        !data_fits(r->graph, r->eval, r->c->data, error))
        return false;
    r->classes = mmx_spec_classes(r->spec);
    if (r->c->val_split > 0) {
        int64_t nval = (int64_t)(r->c->val_split * (double)mmx_dataset_size(r->train));
        mmx_dataset *val = nval > 0 ? mmx_dataset_split_tail(r->train, nval) : NULL;
        if (val) {
            mmx_dataset_free(r->eval);
            r->eval = val;
            r->eval_is_val = true;
        }
    }
    r->stats = mmx_dataset_stats(r->train);
    r->steps_per_epoch = mmx_dataset_size(r->train) / r->c->batch;
    if (r->steps_per_epoch < 1) {
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID,
                    "batch %" G_GINT64_FORMAT " is larger than the training set (%" G_GINT64_FORMAT
                    " images)",
                    r->c->batch, mmx_dataset_size(r->train));
        return false;
    }
    return true;
}

static bool
setup(run *r, GError **error)
{
    r->classes = mmx_spec_classes(r->spec);
    if (!(r->c->lm ? setup_lm_data(r, error) : setup_image_data(r, error)))
        return false;
    r->total_steps = r->steps_per_epoch * r->c->epochs;
    if (r->c->batch % r->ranks != 0) {
        g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID,
                    "batch %" G_GINT64_FORMAT " does not split into %d ranks: the global batch "
                    "must be a multiple of the number of ranks (each trains on batch / ranks "
                    "samples of every step)",
                    r->c->batch, r->ranks);
        return false;
    }
    r->shard = r->c->batch / r->ranks;
    if (!check_memory(r, error))
        return false;
    r->model = mmx_model_new(r->graph, r->c->seed, error);
    if (r->model == NULL)
        return false;
    r->optim = mmx_optim_new(&r->c->optim, mmx_model_n_decay(r->model),
                             mmx_model_n_trainable(r->model) - mmx_model_n_decay(r->model));
    r->ex = mmx_exec_new(r->model, r->shard, true, error);
    if (r->ex == NULL)
        return false;
    if (r->opts && r->opts->out_dir && r->rank == 0) {
        if (!mmx_mkdir_p(r->opts->out_dir, error))
            return false;
        /* A new run never mixes its files with another run's. */
        g_autofree char *old_ckpt = g_build_filename(r->opts->out_dir, "checkpoint.safetensors", NULL);
        g_autofree char *old_result = g_build_filename(r->opts->out_dir, "result.json", NULL);
        if (r->opts->resume_dir == NULL &&
            (g_file_test(old_ckpt, G_FILE_TEST_EXISTS) || g_file_test(old_result, G_FILE_TEST_EXISTS))) {
            g_set_error(error, MMX_TRAIN_ERROR, MMX_TRAIN_ERROR_INVALID,
                        "%s already holds a run; continue it with --resume %s or choose another "
                        "--out",
                        r->opts->out_dir, r->opts->out_dir);
            return false;
        }
        remove_stale_temporaries(r->opts->out_dir);
        r->ckpt = g_build_filename(r->opts->out_dir, "checkpoint.safetensors", NULL);
    }
    return true;
}

static void
teardown(run *r)
{
    mmx_exec_free(r->ex);
    mmx_optim_free(r->optim);
    mmx_model_free(r->model);
    mmx_dataset_free(r->train);
    mmx_dataset_free(r->eval);
    mmx_corpus_free(r->corpus);
    g_free(r->ckpt);
}

static bool train_loop(const mmx_spec *spec, const mmx_graph *graph, const mmx_train_config *c,
                       const mmx_train_options *opts, json_t **result, GError **error);

bool
mmx_train_run(const mmx_spec *spec, const mmx_graph *graph, const mmx_train_config *c,
              const mmx_train_options *opts, json_t **result, GError **error)
{
    /* The loop needs the error text for result.json even when the caller passes NULL. */
    GError *local = NULL;
    bool ok = train_loop(spec, graph, c, opts, result, &local);
    if (!ok)
        g_propagate_error(error, local);
    return ok;
}

/* How the steps of a run ended: what result.json says and the error the run returns. */
typedef struct ending {
    const char *status; /* "finished", "interrupted", "paused", "diverged" or "failed" */
    char *reason;       /* owned; NULL when finished */
    int code;           /* the MMX_TRAIN_ERROR code, -1 when finished */
    const char *note;   /* what the error adds before the checkpoint's path, or NULL */
} ending;

/* A failure once training has started (a kernel's error, a full disk) is a runtime
 * failure whatever module reported it; the last checkpoint is still the last good
 * state (it is replaced only by a complete new one). Takes the error. */
static ending
failed(GError **error)
{
    ending e = {"failed", g_strdup((*error)->message), MMX_TRAIN_ERROR_FAILED,
                "; the last checkpoint is "};
    g_clear_error(error);
    return e;
}

static ending
diverged(const run *r, const char *what, double value)
{
    return (ending){"diverged",
                    g_strdup_printf("diverged at epoch %" G_GINT64_FORMAT ", step %" G_GINT64_FORMAT
                                    ": the %s is %s",
                                    r->epoch + 1, r->step, what, isnan(value) ? "nan" : "inf"),
                    MMX_TRAIN_ERROR_DIVERGED, "; the last good checkpoint is "};
}

/* The epochs from where the run stands, until the last one, a stop or a failure. */
static ending
run_epochs(run *r, GError **error)
{
    const mmx_train_config *c = r->c;
    const mmx_train_options *opts = r->opts;
    const int64_t n = r->corpus ? 0 : mmx_dataset_size(r->train), B = c->batch;
    /* Rows of logits per step: one per image, or one per position of each window; this
     * rank trains on samples [first, first + S) of every global batch of B. */
    const int64_t per = r->corpus ? r->context : 1, rows = B * per, S = r->shard;
    const int64_t first = (int64_t)r->rank * S, local_rows = S * per;
    int64_t ntok = 0;
    const uint8_t *tokens = r->corpus ? mmx_corpus_tokens(r->corpus, false, &ntok) : NULL;
    g_autofree int64_t *perm = g_new(int64_t, r->corpus ? S : n);
    g_autofree int32_t *labels = g_new(int32_t, local_rows);
    float *grads = mmx_model_grads(r->model), *params = mmx_model_params(r->model);
    const int64_t ntrain = mmx_model_n_trainable(r->model);
    /* Dropout draws: rank 0 those of a single process, the others their own stream. */
    const uint64_t dropout_stream = 0x5eed0003ull ^ ((uint64_t)r->rank << 32);
    mmx_schedule sched = {c->schedule, c->lr, c->min_lr,
                          (int64_t)(c->warmup * (double)r->steps_per_epoch), r->total_steps};
    while (r->epoch < c->epochs) {
        if (opts && opts->pause_after_epochs > 0 && r->epoch >= opts->pause_after_epochs &&
            r->batch_in_epoch == 0)
            return (ending){"paused",
                            g_strdup_printf("paused at the end of epoch %" G_GINT64_FORMAT
                                            " of %" G_GINT64_FORMAT,
                                            r->epoch, c->epochs),
                            MMX_TRAIN_ERROR_INTERRUPTED, "; checkpoint saved in "};
        uint64_t order_key = mmx_rng_key(c->seed, 0x5eed0001, (uint64_t)r->epoch);
        if (r->corpus == NULL)
            mmx_permutation(n, order_key, perm);
        uint64_t aug_key = mmx_rng_key(c->seed, 0x5eed0002, (uint64_t)r->epoch);
        double seconds_before = r->train_seconds;
        for (; r->batch_in_epoch < r->steps_per_epoch; r->batch_in_epoch++) {
            /* With several ranks a stop is decided together (stop_all, from the step
             * before), so that every rank saves the same step. */
            if ((r->ranks > 1 ? r->stop_all : stop_requested) ||
                (opts && opts->stop_after_steps > 0 && r->step >= opts->stop_after_steps))
                return (ending){"interrupted",
                                g_strdup_printf("stopped at epoch %" G_GINT64_FORMAT
                                                ", step %" G_GINT64_FORMAT,
                                                r->epoch + 1, r->step),
                                MMX_TRAIN_ERROR_INTERRUPTED, "; checkpoint saved in "};
            double t0 = now_seconds();
            if (r->corpus) {
                /* Window i of the epoch starts where (seed, epoch, i) says. */
                for (int64_t i = 0; i < S; i++)
                    perm[i] = mmx_text_window_start(order_key, r->batch_in_epoch * B + first + i,
                                                    ntok, r->context);
                mmx_text_windows(tokens, perm, S, r->context, mmx_exec_input(r->ex), labels);
            } else
                mmx_dataset_batch(r->train, perm + r->batch_in_epoch * B + first, S, &r->stats,
                                  &c->augment, aug_key, mmx_exec_input(r->ex), labels);
            if (!mmx_exec_forward(r->ex, S,
                                  mmx_rng_key(c->seed, dropout_stream, (uint64_t)r->step), error))
                return failed(error);
            int64_t correct;
            double loss =
                mmx_softmax_xent(mmx_exec_output(r->ex), labels, local_rows, r->classes,
                                 c->label_smoothing, mmx_exec_output_grad(r->ex), &correct);
            if (r->ranks > 1) {
                /* The step's loss and hits over every shard, and whether any rank was
                 * asked to stop: one small sum, so that every rank decides alike. */
                double v[3] = {loss * (double)local_rows, (double)correct, stop_requested ? 1 : 0};
                if (!sum_f64(r, v, 3, error))
                    return failed(error);
                loss = v[0] / (double)rows;
                correct = (int64_t)v[1];
                r->stop_all = v[2] > 0;
            }
            if (!isfinite(loss))
                return diverged(r, "loss", loss);
            if (!mmx_exec_backward(r->ex, S, error))
                return failed(error);
            /* Each shard's gradient is its own mean; their mean is the global batch's. */
            if (!mean_f32(r, grads, ntrain, error))
                return failed(error);
            double norm = mmx_clip_grad_norm(grads, ntrain, c->clip);
            if (!isfinite(norm))
                return diverged(r, "gradient norm", norm);
            mmx_optim_step(r->optim, params, grads, mmx_schedule_lr(&sched, r->step));
            r->comm_steps += r->ranks > 1;
            r->step++;
            r->epoch_loss_sum += loss * (double)rows;
            r->epoch_correct += correct;
            r->epoch_seen += rows;
            double dt = now_seconds() - t0;
            r->train_seconds += dt;
            if ((r->batch_in_epoch & 7) == 0)
                progress_bar(r, r->epoch_loss_sum / (double)r->epoch_seen,
                             (double)r->epoch_seen / (r->train_seconds - seconds_before + 1e-9));
        }
        if (!finish_epoch(r, r->train_seconds - seconds_before, error))
            return failed(error);
    }
    return (ending){"finished", NULL, -1, NULL};
}

/* The one end of a run that got to train: the checkpoint of an interrupted run, the final
 * weights of a finished one, result.json, and the error of any other ending. */
static bool
conclude(run *r, ending *end, json_t **result, GError **error)
{
    if (end->code == MMX_TRAIN_ERROR_INTERRUPTED) {
        GError *e = NULL;
        if (!save_checkpoint(r, &e)) {
            g_free(end->reason);
            char *why = g_strdup_printf("interrupted, and the checkpoint could not be saved: %s",
                                        e->message);
            *end = (ending){"failed", why, MMX_TRAIN_ERROR_FAILED, NULL};
            g_error_free(e);
        }
    }
    bool failure = end->code == MMX_TRAIN_ERROR_FAILED;
    if (!failure && r->progress == MMX_PROGRESS_BAR)
        fprintf(stderr, "\r\033[K");
    if (end->code < 0) {
        /* The weights are what a finished run is for: no result without them. */
        g_autofree char *final = out_path(r, "final.safetensors");
        json_t *meta = checkpoint_meta(r);
        bool saved = final == NULL || mmx_model_save(r->model, final, NULL, meta, error);
        json_decref(meta);
        if (!saved)
            return false;
    }
    /* A finished run fails if its result cannot be written; another ending's own error
     * says more than a write failure would. */
    bool written = write_result(r, end->status, end->reason, result, end->code < 0 ? error : NULL);
    if (end->code < 0)
        return written;
    bool have_ckpt = end->note && r->ckpt && g_file_test(r->ckpt, G_FILE_TEST_EXISTS);
    g_set_error(error, MMX_TRAIN_ERROR, end->code, "%s%s%s", end->reason,
                have_ckpt ? end->note : "", have_ckpt ? r->ckpt : "");
    return false;
}

static bool
train_loop(const mmx_spec *spec, const mmx_graph *graph, const mmx_train_config *c,
           const mmx_train_options *opts, json_t **result, GError **error)
{
    run r = {.spec = spec, .graph = graph, .c = c, .opts = opts, .t_start = g_get_monotonic_time()};
    r.comm = opts && opts->comm && opts->comm->size > 1 ? opts->comm : NULL;
    r.rank = r.comm ? r.comm->rank : 0;
    r.ranks = r.comm ? r.comm->size : 1;
    r.progress = opts && r.rank == 0 ? opts->progress : MMX_PROGRESS_QUIET;
    if (result)
        *result = NULL;
    stop_requested = 0;
    bool ok = setup(&r, error) && (opts == NULL || opts->resume_dir == NULL || resume(&r, error)) &&
              write_config(&r, error);
    if (ok) {
        ending end = run_epochs(&r, error);
        ok = conclude(&r, &end, result, error);
        g_free(end.reason);
    }
    teardown(&r);
    return ok;
}
