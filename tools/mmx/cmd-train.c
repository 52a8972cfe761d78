/* cmd-train.c: `mmx train`, `mmx eval`, `mmx bench`, `mmx generate`.
 *
 * Command-line training options are turned into spec overrides (--epochs 3 is
 * --set /train/epochs=3), so the spec reader validates them with the same rules and
 * messages as the spec file, and the resolved spec in config.json and in checkpoints is
 * the whole truth about a run.
 */
#include "cli.h"
#include "train-mpi.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void
on_signal(int sig)
{
    (void)sig;
    mmx_train_request_stop();
}

/* Options shared by train, eval and bench. */
typedef struct common {
    char **sets; /* option values: freed by common_clear */
    char *data;
    int threads;
    GPtrArray *overrides; /* char*, NULL-terminated when used */
} common;

static void
common_clear(common *c)
{
    g_strfreev(c->sets);
    g_free(c->data);
    g_ptr_array_unref(c->overrides);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(common, common_clear)

static void
add_override(common *c, const char *pointer, const char *value)
{
    g_ptr_array_add(c->overrides, g_strdup_printf("%s=%s", pointer, value));
}

static void
collect_overrides(common *c)
{
    for (char **s = c->sets; s && *s; s++)
        g_ptr_array_add(c->overrides, g_strdup(*s));
    if (c->data) {
        g_autofree char *quoted = g_strdup_printf("\"%s\"", c->data);
        add_override(c, "/train/data", quoted);
    }
    g_ptr_array_add(c->overrides, NULL);
}

static int
spec_fail(const char *cmd, GError *error)
{
    /* Spec problems are already formatted "file:line:col: /pointer: message", one per line. */
    if (error->domain == MMX_SPEC_ERROR) {
        fprintf(stderr, "%s\n", error->message);
        return MMX_EXIT_USAGE;
    }
    return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "%s", error->message);
}

/* Errors that mean "this input cannot be used" (exit 2, nothing ran): data that is
 * missing, damaged or does not fit the spec, a checkpoint that does not fit, a model
 * that does not fit in memory (refused before allocating). */
static bool
invalid_input(const GError *error)
{
    return (error->domain == MMX_TRAIN_ERROR && error->code == MMX_TRAIN_ERROR_INVALID) ||
           error->domain == MMX_DATA_ERROR || error->domain == MMX_CHECKPOINT_ERROR ||
           (error->domain == MMX_EXEC_ERROR &&
            (error->code == MMX_EXEC_ERROR_MEMORY || error->code == MMX_EXEC_ERROR_MISMATCH));
}

/* Loads spec and graph; on failure prints and returns an exit code (> 0). */
static int
load_model(const char *cmd, mmx_registry *reg, const char *path, json_t *doc, const char *origin,
           common *c, mmx_spec **spec, mmx_graph **graph)
{
    g_autoptr(GError) error = NULL;
    const char *const *ov = (const char *const *)c->overrides->pdata;
    *spec = doc ? mmx_spec_load_json(reg, doc, origin, ov, &error)
                : mmx_spec_load(reg, path, ov, &error);
    if (*spec == NULL)
        return spec_fail(cmd, error);
    *graph = mmx_graph_new(*spec, &error);
    if (*graph == NULL)
        return spec_fail(cmd, error);
    return 0;
}

/* What eval and generate start from: the threads, the registry, the spec and its graph,
 * and a model holding the weights of a checkpoint (*meta: its metadata, when asked). On
 * failure prints and returns an exit code (> 0). */
static int
load_trained(const char *cmd, const char *path, const char *weights, common *c,
             mmx_registry **reg, mmx_spec **spec, mmx_graph **graph, mmx_model **model,
             json_t **meta)
{
    if (c->threads > 0)
        mmx_set_num_threads(c->threads);
    collect_overrides(c);
    *reg = mmx_cli_registry();
    if (*reg == NULL)
        return MMX_EXIT_USAGE;
    int code = load_model(cmd, *reg, path, NULL, NULL, c, spec, graph);
    if (code)
        return code;
    g_autoptr(GError) error = NULL;
    *model = mmx_model_new(*graph, 0, &error);
    if (*model == NULL || !mmx_model_load(*model, weights, NULL, meta, &error))
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "%s", error->message);
    return 0;
}

/* What `mmx train` was asked. */
typedef struct train_args {
    common c;
    int epochs, batch, seed, pause_after;
    double lr, wd;
    char *out, *resume, *executor;
    gboolean quiet, json;
    const char *spec_path; /* NULL: --resume alone */
} train_args;

static void
train_args_clear(train_args *t)
{
    common_clear(&t->c);
    g_free(t->out);
    g_free(t->resume);
    g_free(t->executor);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(train_args, train_args_clear)

static int train(train_args *t, const mmx_train_comm *comm, bool *together);

int
mmx_cmd_train(int argc, char **argv)
{
    g_auto(train_args) t = {.c = {.overrides = g_ptr_array_new_with_free_func(g_free)}, .seed = -1,
                            .wd = -1};
    GOptionEntry entries[] = {
        {"data", 0, 0, G_OPTION_ARG_STRING, &t.c.data, "fashion-mnist, mnist, synthetic[:N[:M]] or a directory", "NAME|DIR"},
        {"epochs", 0, 0, G_OPTION_ARG_INT, &t.epochs, "Epochs (overrides /train/epochs)", "N"},
        {"batch", 0, 0, G_OPTION_ARG_INT, &t.batch, "Batch size (the global batch, over every rank)", "N"},
        {"lr", 0, 0, G_OPTION_ARG_DOUBLE, &t.lr, "Peak learning rate", "X"},
        {"wd", 0, 0, G_OPTION_ARG_DOUBLE, &t.wd, "Weight decay", "X"},
        {"seed", 0, 0, G_OPTION_ARG_INT, &t.seed, "Seed (initialization, data order, dropout)", "S"},
        {"threads", 0, 0, G_OPTION_ARG_INT, &t.c.threads, "Threads (default: MMX_THREADS or every core; under mpirun, the cores per rank)", "N"},
        {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &t.c.sets, "Override a spec value by JSON Pointer (repeatable)", "/PTR=VALUE"},
        {"out", 0, 0, G_OPTION_ARG_FILENAME, &t.out, "Output directory (default runs/NAME-TIME)", "DIR"},
        {"resume", 0, 0, G_OPTION_ARG_FILENAME, &t.resume, "Continue the run in DIR from its checkpoint", "DIR"},
        {"pause-after", 0, 0, G_OPTION_ARG_INT, &t.pause_after, "Stop at the end of epoch N with a checkpoint (result.json: paused); --resume continues", "N"},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &t.quiet, "No progress output", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &t.json, "Print result.json on stdout at the end", NULL},
        {"executor", 0, 0, G_OPTION_ARG_STRING, &t.executor,
         "local (one process, default) or mpi (under mpirun: data-parallel over the ranks)",
         "local|mpi"},
        MMX_CLI_PLUGIN_OPTION,
        G_OPTION_ENTRY_NULL,
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find("train"), entries,
                       "Writes config.json, metrics.jsonl, result.json and checkpoints into the "
                       "output directory. Exit status: 0 finished, 1 diverged, interrupted, paused or "
                       "failed (result.json says which), 2 invalid spec, data or options.",
                       &argc, &argv, &code))
        return code;
    if (argc > 2 || (argc < 2 && t.resume == NULL))
        return mmx_cli_fail("train", MMX_EXIT_USAGE, "expected one SPEC (or --resume DIR)");
    if (t.pause_after < 0)
        return mmx_cli_fail("train", MMX_EXIT_USAGE, "--pause-after must be a positive epoch");
    t.spec_path = argc >= 2 ? argv[1] : NULL;
    bool mpi = t.executor && strcmp(t.executor, "mpi") == 0;
    if (t.executor && !mpi && strcmp(t.executor, "local") != 0)
        return mmx_cli_fail("train", MMX_EXIT_USAGE,
                            "--executor: expected local or mpi, got '%s'", t.executor);
    if (!mpi)
        return train(&t, NULL, NULL);
    mmx_train_comm comm;
    g_autoptr(GError) error = NULL;
    if (!mmx_cli_mpi_train_begin(&comm, &error))
        return mmx_cli_fail("train", MMX_EXIT_USAGE, "%s", error->message);
    /* The node's cores shared by its ranks unless told otherwise: K ranks with every core
     * each would oversubscribe it K times. */
    const char *local = g_getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (t.c.threads <= 0 && g_getenv("MMX_THREADS") == NULL && local && atoi(local) > 1)
        t.c.threads = MAX(1, (int)g_get_num_processors() / atoi(local));
    if (comm.rank != 0)
        t.quiet = TRUE, t.json = FALSE;
    bool together = true;
    code = train(&t, &comm, &together);
    mmx_cli_mpi_train_end(&comm, together, code);
    return code;
}

/* The training of `mmx train` once its options are parsed. With comm (data-parallel),
 * *together says whether the run ended alike on every rank (finished, interrupted or
 * diverged, which the ranks decide together) or on this rank alone. */
static int
train(train_args *t, const mmx_train_comm *comm, bool *together)
{
    common *c = &t->c;
    const char *resume = t->resume;
    gboolean quiet = t->quiet, json = t->json;
    int code;
    if (c->threads > 0)
        mmx_set_num_threads(c->threads);
    if (t->epochs > 0) {
        g_autofree char *v = g_strdup_printf("%d", t->epochs);
        add_override(c, "/train/epochs", v);
    }
    if (t->batch > 0) {
        g_autofree char *v = g_strdup_printf("%d", t->batch);
        add_override(c, "/train/batch", v);
    }
    if (t->lr > 0) {
        g_autofree char *v = g_strdup_printf("%.17g", t->lr);
        add_override(c, "/train/lr", v);
    }
    if (t->wd >= 0) {
        g_autofree char *v = g_strdup_printf("%.17g", t->wd);
        add_override(c, "/train/wd", v);
    }
    if (t->seed >= 0) {
        g_autofree char *v = g_strdup_printf("%d", t->seed);
        add_override(c, "/train/seed", v);
    }
    collect_overrides(c);

    g_autoptr(mmx_registry) reg = mmx_cli_registry();
    if (reg == NULL)
        return MMX_EXIT_USAGE;
    g_autoptr(mmx_spec) spec = NULL;
    g_autoptr(mmx_graph) graph = NULL;
    g_autoptr(GError) error = NULL;
    json_t *resumed_doc = NULL;
    g_autofree char *resumed_origin = NULL;
    if (resume && t->spec_path == NULL) {
        /* The run's own resolved spec: nothing else is needed to continue it. */
        g_autofree char *cfg_path = g_build_filename(resume, "config.json", NULL);
        json_t *cfg = mmx_json_read(cfg_path, &error);
        if (cfg == NULL)
            return mmx_cli_fail("train", MMX_EXIT_USAGE, "cannot resume: %s", error->message);
        resumed_doc = json_incref(json_object_get(cfg, "spec"));
        const char *sp = json_string_value(json_object_get(cfg, "spec_path"));
        resumed_origin = g_strdup(sp && *sp ? sp : cfg_path);
        json_decref(cfg);
        if (!json_is_object(resumed_doc))
            return mmx_cli_fail("train", MMX_EXIT_USAGE, "cannot resume: %s has no spec", cfg_path);
    }
    code = load_model("train", reg, t->spec_path, resumed_doc, resumed_origin, c,
                      &spec, &graph);
    json_decref(resumed_doc);
    if (code)
        return code;
    mmx_train_config cfg;
    if (!mmx_train_config_from_json(mmx_spec_train(spec), &cfg, &error))
        return mmx_cli_fail("train", MMX_EXIT_USAGE, "%s", error->message);
    g_autofree char *default_out = NULL;
    if (t->out == NULL && resume)
        t->out = g_strdup(resume);
    if (t->out == NULL) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
        default_out = g_strdup_printf("runs/%s-%s", mmx_spec_name(spec), stamp);
    }
    mmx_train_options opts = {
        .out_dir = t->out ? t->out : default_out,
        .resume_dir = resume,
        .progress = quiet ? MMX_PROGRESS_QUIET : isatty(2) ? MMX_PROGRESS_BAR : MMX_PROGRESS_LINES,
        .comm = comm,
        .pause_after_epochs = t->pause_after,
    };
    const char *stop = g_getenv("MMX_STOP_AFTER_STEPS"); /* tests: a deterministic "kill" */
    if (stop && *stop)
        opts.stop_after_steps = g_ascii_strtoll(stop, NULL, 10);
    g_autofree char *ranks =
        comm && comm->size > 1 ? g_strdup_printf("%d ranks x ", comm->size) : g_strdup("");
    if (!quiet)
        fprintf(stderr, "mmx train: %s (%" G_GINT64_FORMAT " params, %.3g MFLOPs/image), data %s, "
                        "%" G_GINT64_FORMAT " epochs, batch %" G_GINT64_FORMAT ", %s%d threads -> %s\n",
                mmx_spec_name(spec), mmx_graph_param_count(graph), mmx_graph_flops(graph) / 1e6,
                cfg.data, cfg.epochs, cfg.batch, ranks, mmx_num_threads(), opts.out_dir);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    json_t *result = NULL;
    bool ok = mmx_train_run(spec, graph, &cfg, &opts, &result, &error);
    mmx_train_config_clear(&cfg);
    if (json && result)
        mmx_cli_print_json(json_incref(result));
    if (ok) {
        if (!quiet && json_object_get(result, "val_bpb"))
            fprintf(stderr,
                    "mmx train: finished: validation %.4f bits per byte (unigram baseline %.4f), "
                    "loss %.4f, perplexity %.3f (%s/result.json)\n",
                    json_number_value(json_object_get(result, "val_bpb")),
                    json_number_value(json_object_get(result, "unigram_bpb")),
                    json_number_value(json_object_get(result, "val_loss")),
                    json_number_value(json_object_get(result, "val_ppl")), opts.out_dir);
        else if (!quiet)
            fprintf(stderr, "mmx train: finished: test accuracy %.4f, loss %.4f (%s/result.json)\n",
                    json_number_value(json_object_get(result, "test_acc")),
                    json_number_value(json_object_get(result, "test_loss")), opts.out_dir);
        json_decref(result);
        return MMX_EXIT_OK;
    }
    json_decref(result);
    if (together)
        *together = error->domain == MMX_TRAIN_ERROR && (error->code == MMX_TRAIN_ERROR_INTERRUPTED ||
                                                         error->code == MMX_TRAIN_ERROR_DIVERGED);
    int fail = invalid_input(error) ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE;
    if (comm && comm->rank != 0) {
        /* Rank 0 says what the ranks decided together; a failure of this rank alone is
         * this rank's to report. */
        if (together && *together)
            return error->code == MMX_TRAIN_ERROR_INTERRUPTED ? MMX_EXIT_FAILURE : fail;
        return mmx_cli_fail("train", fail, "rank %d: %s", comm->rank, error->message);
    }
    if (error->domain == MMX_TRAIN_ERROR && error->code == MMX_TRAIN_ERROR_INTERRUPTED) {
        fprintf(stderr, "mmx train: %s\nmmx train: resume with: mmx train --resume %s\n",
                error->message, opts.out_dir);
        return MMX_EXIT_FAILURE;
    }
    return mmx_cli_fail("train", fail, "%s", error->message);
}

/* mmx_evaluate's loop (same batches, same normalization) that also keeps every logit, for
 * `mmx eval --logits FILE`: [images, classes] float32, little-endian, row-major, no header
 * (the PyTorch cross-check in tools/bench/torch/ reads it with numpy.fromfile). */
static bool
evaluate_logits(mmx_model *model, const mmx_dataset *ds, const mmx_norm_stats *stats,
                int64_t batch, const char *path, double *loss, double *acc, GError **error)
{
    int64_t n = mmx_dataset_size(ds);
    if (batch > n)
        batch = n;
    g_autoptr(mmx_exec) ex = mmx_exec_new(model, batch, false, error);
    if (ex == NULL)
        return false;
    const mmx_graph *g = mmx_model_graph(model);
    int classes = (int)mmx_graph_get_value(g, mmx_graph_output(g))->shape.dim[0];
    g_autofree int64_t *idx = g_new(int64_t, batch);
    g_autofree int32_t *labels = g_new(int32_t, batch);
    g_autofree uint32_t *out = g_new(uint32_t, (size_t)(n * classes));
    double total = 0;
    int64_t right = 0;
    for (int64_t at = 0; at < n; at += batch) {
        int64_t b = MIN(batch, n - at);
        for (int64_t i = 0; i < b; i++)
            idx[i] = at + i;
        mmx_dataset_batch(ds, idx, b, stats, NULL, 0, mmx_exec_input(ex), labels);
        if (!mmx_exec_forward(ex, b, 0, error))
            return false;
        int64_t correct;
        const float *z = mmx_exec_output(ex);
        total += mmx_softmax_xent(z, labels, b, classes, 0.0, NULL, &correct) * (double)b;
        right += correct;
        for (int64_t k = 0; k < b * classes; k++) {
            uint32_t bits;
            memcpy(&bits, &z[k], sizeof bits);
            out[at * classes + k] = GUINT32_TO_LE(bits);
        }
    }
    *loss = total / (double)n;
    *acc = (double)right / (double)n;
    return mmx_file_write_atomic(path, out, (size_t)(n * classes) * sizeof(uint32_t), error);
}

int
mmx_cmd_eval(int argc, char **argv)
{
    g_auto(common) c = {.overrides = g_ptr_array_new_with_free_func(g_free)};
    g_autofree char *weights = NULL, *logits = NULL;
    int batch = 256;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        {"weights", 0, 0, G_OPTION_ARG_FILENAME, &weights, "A safetensors checkpoint of this spec", "FILE"},
        {"data", 0, 0, G_OPTION_ARG_STRING, &c.data, "Data set (default: the spec's)", "NAME|DIR"},
        {"batch", 0, 0, G_OPTION_ARG_INT, &batch, "Evaluation batch (default 256)", "N"},
        {"threads", 0, 0, G_OPTION_ARG_INT, &c.threads, "Threads", "N"},
        {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &c.sets, "Override a spec value by JSON Pointer", "/PTR=VALUE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Machine-readable output", NULL},
        {"logits", 0, 0, G_OPTION_ARG_FILENAME, &logits, "Also write the test set's logits (float32 little-endian [images, classes])", "FILE"},
        MMX_CLI_PLUGIN_OPTION,
        G_OPTION_ENTRY_NULL,
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find("eval"), entries, NULL, &argc, &argv, &code))
        return code;
    if (argc != 2 || weights == NULL)
        return mmx_cli_fail("eval", MMX_EXIT_USAGE, "expected SPEC --weights FILE");
    if (batch < 1)
        return mmx_cli_fail("eval", MMX_EXIT_USAGE, "--batch must be positive");
    g_autoptr(mmx_registry) reg = NULL;
    g_autoptr(mmx_spec) spec = NULL;
    g_autoptr(mmx_graph) graph = NULL;
    g_autoptr(mmx_model) model = NULL;
    json_t *meta = NULL;
    code = load_trained("eval", argv[1], weights, &c, &reg, &spec, &graph, &model, &meta);
    if (code)
        return code;
    if (mmx_spec_is_lm(spec)) {
        json_decref(meta);
        return mmx_cli_fail("eval", MMX_EXIT_USAGE,
                            "%s is a language model (task lm): eval scores image classifiers; a "
                            "run's validation bits per byte are in its result.json",
                            argv[1]);
    }
    g_autoptr(GError) error = NULL;
    mmx_train_config cfg;
    if (!mmx_train_config_from_json(mmx_spec_train(spec), &cfg, &error)) {
        json_decref(meta);
        return mmx_cli_fail("eval", MMX_EXIT_USAGE, "%s", error->message);
    }
    g_autoptr(mmx_dataset) train = NULL, test = NULL;
    if (!mmx_data_load(cfg.data, &train, &test, &error)) {
        json_decref(meta);
        mmx_train_config_clear(&cfg);
        return mmx_cli_fail("eval", MMX_EXIT_USAGE, "%s", error->message);
    }
    /* The normalization of training, as recorded in the checkpoint when it is there. */
    mmx_norm_stats stats = mmx_dataset_stats(train);
    const char *mean = json_string_value(json_object_get(meta, "norm_mean"));
    const char *std = json_string_value(json_object_get(meta, "norm_std"));
    if (mean && std && stats.channels == 1) {
        stats.mean[0] = (float)g_ascii_strtod(mean, NULL);
        stats.std[0] = (float)g_ascii_strtod(std, NULL);
    }
    json_decref(meta);
    double loss, acc;
    double t0 = (double)g_get_monotonic_time();
    bool ok = logits ? evaluate_logits(model, test, &stats, batch, logits, &loss, &acc, &error)
                     : mmx_evaluate(model, test, &stats, batch, &loss, &acc, &error);
    double secs = ((double)g_get_monotonic_time() - t0) / 1e6;
    int64_t n = mmx_dataset_size(test);
    g_autofree char *data_name = g_strdup(cfg.data);
    mmx_train_config_clear(&cfg);
    if (!ok)
        return mmx_cli_fail("eval", invalid_input(error) ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE, "%s",
                            error->message);
    if (json)
        mmx_cli_print_json(json_pack("{s:s, s:s, s:s, s:I, s:f, s:f, s:f}", "spec", mmx_spec_name(spec),
                                     "weights", weights, "data", data_name, "images", (json_int_t)n,
                                     "test_loss", loss, "test_acc", acc, "seconds", secs));
    else
        printf("%s on %s: test accuracy %.4f, loss %.4f (%" G_GINT64_FORMAT " images, %.1f s)\n",
               mmx_spec_name(spec), data_name, acc, loss, n, secs);
    return MMX_EXIT_OK;
}

static int
compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int
mmx_cmd_bench(int argc, char **argv)
{
    g_auto(common) c = {.overrides = g_ptr_array_new_with_free_func(g_free)};
    int batch = 128, steps = 20, warmup = 3;
    g_autofree char *mode = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        {"batch", 0, 0, G_OPTION_ARG_INT, &batch, "Batch size (default 128)", "N"},
        {"mode", 0, 0, G_OPTION_ARG_STRING, &mode, "train (forward, backward, update) or infer", "train|infer"},
        {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Timed steps (default 20)", "N"},
        {"warmup", 0, 0, G_OPTION_ARG_INT, &warmup, "Untimed warm-up steps (default 3)", "N"},
        {"threads", 0, 0, G_OPTION_ARG_INT, &c.threads, "Threads", "N"},
        {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &c.sets, "Override a spec value by JSON Pointer", "/PTR=VALUE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Machine-readable output", NULL},
        MMX_CLI_PLUGIN_OPTION,
        G_OPTION_ENTRY_NULL,
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find("bench"), entries,
                       "Random inputs; no data set is read. Reports the median, min and max "
                       "ms/step and img/s over the timed steps.",
                       &argc, &argv, &code))
        return code;
    if (argc != 2)
        return mmx_cli_fail("bench", MMX_EXIT_USAGE, "expected one SPEC");
    bool training = mode == NULL || strcmp(mode, "train") == 0;
    if (mode && !training && strcmp(mode, "infer") != 0)
        return mmx_cli_fail("bench", MMX_EXIT_USAGE, "--mode: expected train or infer, got '%s'", mode);
    if (batch < 1 || steps < 1 || warmup < 0)
        return mmx_cli_fail("bench", MMX_EXIT_USAGE, "--batch and --steps must be positive");
    if (c.threads > 0)
        mmx_set_num_threads(c.threads);
    collect_overrides(&c);
    g_autoptr(mmx_registry) reg = mmx_cli_registry();
    if (reg == NULL)
        return MMX_EXIT_USAGE;
    g_autoptr(mmx_spec) spec = NULL;
    g_autoptr(mmx_graph) graph = NULL;
    code = load_model("bench", reg, argv[1], NULL, NULL, &c, &spec, &graph);
    if (code)
        return code;
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_model) model = mmx_model_new(graph, 0, &error);
    g_autoptr(mmx_exec) ex = model ? mmx_exec_new(model, batch, training, &error) : NULL;
    if (ex == NULL)
        return mmx_cli_fail("bench", invalid_input(error) ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE, "%s",
                            error->message);
    mmx_optim_config oc = {.kind = MMX_OPTIM_ADAMW, .wd = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    g_autoptr(mmx_optim) optim = mmx_optim_new(&oc, mmx_model_n_decay(model),
                                               mmx_model_n_trainable(model) - mmx_model_n_decay(model));
    int classes = mmx_spec_classes(spec);
    mmx_shape in = mmx_spec_input_shape(spec);
    int64_t in_floats = (int64_t)batch * mmx_shape_numel(&in);
    float *x = mmx_exec_input(ex);
    for (int64_t i = 0; i < in_floats; i++) {
        uint32_t r[4];
        mmx_philox(7, (uint64_t)i, r);
        x[i] = (float)r[0] / 4294967296.0f * 2.0f - 1.0f;
    }
    g_autofree int32_t *labels = g_new(int32_t, batch);
    for (int i = 0; i < batch; i++)
        labels[i] = i % classes;
    g_autofree double *ms = g_new(double, steps);
    for (int s = -warmup; s < steps; s++) {
        gint64 t0 = g_get_monotonic_time();
        bool ok = mmx_exec_forward(ex, batch, (uint64_t)s, &error);
        if (ok && training) {
            mmx_softmax_xent(mmx_exec_output(ex), labels, batch, classes, 0.1, mmx_exec_output_grad(ex), NULL);
            ok = mmx_exec_backward(ex, batch, &error);
            if (ok)
                mmx_optim_step(optim, mmx_model_params(model), mmx_model_grads(model), 1e-4);
        }
        if (!ok)
            return mmx_cli_fail("bench", MMX_EXIT_FAILURE, "%s", error->message);
        if (s >= 0)
            ms[s] = (double)(g_get_monotonic_time() - t0) / 1000.0;
    }
    qsort(ms, steps, sizeof(double), compare_doubles);
    double med = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]);
    double lo = ms[0], hi = ms[steps - 1];
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:i, s:I, s:f, s:I, s:{s:f, s:f, s:f}, s:{s:f, s:f, s:f}}",
                              "spec", mmx_spec_name(spec), "mode", training ? "train" : "infer",
                              "batch", batch, "steps", steps, "threads", mmx_num_threads(), "params",
                              (json_int_t)mmx_graph_param_count(graph), "flops_per_image",
                              mmx_graph_flops(graph), "arena_bytes",
                              (json_int_t)mmx_exec_arena_bytes(ex), "ms_per_step", "median", med,
                              "min", lo, "max", hi, "img_per_s", "median", batch * 1000.0 / med,
                              "min", batch * 1000.0 / hi, "max", batch * 1000.0 / lo);
        json_object_set_new(o, "isa", json_string(mmx_isa_name(mmx_cpu_isa())));
        mmx_cli_print_json(o);
    } else {
        printf("%s, %s, batch %d, %d threads (%s kernels): %.3f ms/step median (min %.3f, max "
               "%.3f), %.1f img/s; %" G_GINT64_FORMAT " params, %.3g MFLOPs/image, %.1f MB "
               "activations\n",
               mmx_spec_name(spec), training ? "train" : "infer", batch, mmx_num_threads(),
               mmx_isa_name(mmx_cpu_isa()), med, lo, hi, batch * 1000.0 / med,
               mmx_graph_param_count(graph), mmx_graph_flops(graph) / 1e6,
               (double)mmx_exec_arena_bytes(ex) / 1e6);
    }
    return MMX_EXIT_OK;
}

static bool
emit_stdout(uint8_t byte, void *user)
{
    (void)user;
    return fputc(byte, stdout) != EOF && fflush(stdout) == 0;
}

int
mmx_cmd_generate(int argc, char **argv)
{
    g_auto(common) c = {.overrides = g_ptr_array_new_with_free_func(g_free)};
    g_autofree char *weights = NULL, *prompt = NULL;
    int tokens = 200, top_k = 0, seed = 0;
    double temperature = 0.8;
    GOptionEntry entries[] = {
        {"weights", 0, 0, G_OPTION_ARG_FILENAME, &weights, "A safetensors checkpoint of this spec", "FILE"},
        {"prompt", 0, 0, G_OPTION_ARG_STRING, &prompt, "The text to continue", "TEXT"},
        {"tokens", 0, 0, G_OPTION_ARG_INT, &tokens, "Bytes to generate (default 200)", "N"},
        {"temperature", 0, 0, G_OPTION_ARG_DOUBLE, &temperature, "Softmax temperature; 0 is greedy (default 0.8)", "T"},
        {"top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "Sample among the K most likely bytes only (default 0: all)", "K"},
        {"seed", 0, 0, G_OPTION_ARG_INT, &seed, "Seed of the draws (default 0)", "S"},
        {"threads", 0, 0, G_OPTION_ARG_INT, &c.threads, "Threads", "N"},
        {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &c.sets, "Override a spec value by JSON Pointer", "/PTR=VALUE"},
        MMX_CLI_PLUGIN_OPTION,
        G_OPTION_ENTRY_NULL,
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find("generate"), entries,
                       "Prints the prompt, then each generated byte as it is drawn, then a newline.",
                       &argc, &argv, &code))
        return code;
    if (argc != 2 || weights == NULL || prompt == NULL)
        return mmx_cli_fail("generate", MMX_EXIT_USAGE, "expected SPEC --weights FILE --prompt TEXT");
    if (seed < 0)
        return mmx_cli_fail("generate", MMX_EXIT_USAGE, "--seed must be >= 0");
    g_autoptr(mmx_registry) reg = NULL;
    g_autoptr(mmx_spec) spec = NULL;
    g_autoptr(mmx_graph) graph = NULL;
    g_autoptr(mmx_model) model = NULL;
    code = load_trained("generate", argv[1], weights, &c, &reg, &spec, &graph, &model, NULL);
    if (code)
        return code;
    g_autoptr(GError) error = NULL;
    mmx_lm_sampling s = {.tokens = tokens, .temperature = temperature, .top_k = top_k,
                         .seed = (uint64_t)seed};
    size_t len = strlen(prompt);
    fwrite(prompt, 1, len, stdout);
    fflush(stdout);
    bool ok = mmx_lm_generate(model, (const uint8_t *)prompt, len, &s, emit_stdout, NULL, &error);
    fputc('\n', stdout);
    fflush(stdout);
    if (!ok)
        return mmx_cli_fail("generate", invalid_input(error) ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE,
                            "%s", error->message);
    return MMX_EXIT_OK;
}
