/* cmd-analyze.c: `mmx analyze`: what the mixers of trained models learned (mmx-analyze.h):
 * one checkpoint of a spec, a run folder (a series over its epoch snapshots), or a sweep
 * folder (each trial's run). Tables on stdout, or the JSON document; SVG plots on request.
 * Any input that cannot be analyzed (a missing file, weights that do not fit the spec, a
 * folder without weights) exits 2 with a message naming the file. */
#include "cli.h"

#include <mmx/mmx-analyze.h>

#include <stdio.h>
#include <string.h>

static const char *const cmd = "analyze";

static const char *const description =
    "SPEC --weights FILE analyzes one checkpoint; RUN_DIR (a folder mmx train wrote) its\n"
    "initialization, every epoch-<e>.safetensors (train.checkpoint_every) and\n"
    "final.safetensors as a series; SWEEP_DIR each trial's run folder. Per mixer: the cosine\n"
    "between the value weight and the key weight transposed (1: tied, ~0: independent) and\n"
    "the symmetric / antisymmetric split of the coupling V K; per matrix: the effective and\n"
    "stable rank and a power-law fit of the eigenvalues of W^T W with its KS distance.\n"
    "--data runs the last weights on the first --inputs test images: the Hopfield energy of\n"
    "each tied parallel block (hopfield-parallel.json) at the state entering and leaving\n"
    "it, and the key-value memory view of the keys on the token grid (dead keys, usage\n"
    "entropy, top-activating patches; with --svg, memory-<mixer>.svg). See\n"
    "docs/analysis.md.";

/* Exit 2 for what the input is (missing, damaged, not fitting), 1 for anything else. */
static int
fail(GError *error)
{
    bool input = error->domain == MMX_ANALYZE_ERROR || error->domain == MMX_CHECKPOINT_ERROR ||
                 error->domain == MMX_DATA_ERROR ||
                 error->domain == MMX_EXEC_ERROR || error->domain == MMX_JSON_ERROR ||
                 error->domain == G_FILE_ERROR;
    if (error->domain == MMX_SPEC_ERROR) {
        fprintf(stderr, "%s\n", error->message);
        return MMX_EXIT_USAGE;
    }
    return mmx_cli_fail(cmd, input ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE, "%s", error->message);
}

/* The model of a spec file (with --set overrides) or of a run folder's config.json. */
static mmx_model *
load_model(mmx_registry *reg, const char *target, bool folder, char **sets, mmx_graph **graph,
           GError **error)
{
    uint64_t seed = 0;
    g_autoptr(mmx_spec) spec = folder ? mmx_analyze_run_spec(reg, target, &seed, error)
                                      : mmx_spec_load(reg, target, (const char *const *)sets, error);
    if (spec == NULL)
        return NULL;
    *graph = mmx_graph_new(spec, error);
    return *graph ? mmx_model_new(*graph, seed, error) : NULL;
}

/* One checkpoint of a spec file. */
static json_t *
analyze_spec(mmx_registry *reg, const char *path, const char *weights, char **sets,
             GError **error)
{
    g_autoptr(mmx_graph) graph = NULL;
    g_autoptr(mmx_model) model = load_model(reg, path, false, sets, &graph, error);
    if (model == NULL)
        return NULL;
    if (!g_file_test(weights, G_FILE_TEST_EXISTS)) {
        g_set_error(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT, "%s: no such file",
                    weights);
        return NULL;
    }
    return mmx_analyze_checkpoint(model, weights, error);
}

/* What --data adds for the weights at `weights`, on the test split of `data` normalized
 * as the checkpoint says (or by the training split): "energy" (the tied blocks) and
 * "memory" (the keys on the token grid), each {"not_computed": why} when the model has
 * nothing it applies to; false when neither applies. *images: the test split, for the
 * memory plots. */
static bool
add_data_views(json_t *doc, mmx_registry *reg, const char *target, bool folder, char **sets,
               const char *weights, const char *data, int inputs, mmx_dataset **images,
               GError **error)
{
    g_autoptr(mmx_graph) graph = NULL;
    g_autoptr(mmx_model) model = load_model(reg, target, folder, sets, &graph, error);
    json_t *meta = NULL;
    if (model == NULL || !mmx_model_load(model, weights, NULL, &meta, error))
        return false;
    g_autoptr(json_t) m = meta;
    g_autoptr(mmx_dataset) train = NULL, test = NULL;
    if (!mmx_data_load(data, &train, &test, error))
        return false;
    mmx_norm_stats stats = mmx_dataset_stats(train);
    const char *mean = json_string_value(json_object_get(m, "norm_mean"));
    const char *std = json_string_value(json_object_get(m, "norm_std"));
    if (mean && std && stats.channels == 1) {
        stats.mean[0] = (float)g_ascii_strtod(mean, NULL);
        stats.std[0] = (float)g_ascii_strtod(std, NULL);
    }
    GError *why_e = NULL, *why_m = NULL;
    json_t *e = mmx_analyze_energy(model, test, &stats, inputs, &why_e);
    json_t *mem = mmx_analyze_memory(model, test, &stats, inputs, 8, &why_m);
    /* Another failure than "does not apply" is the command's. */
    GError **other = why_e && why_e->domain != MMX_ANALYZE_ERROR   ? &why_e
                     : why_m && why_m->domain != MMX_ANALYZE_ERROR ? &why_m
                                                                   : NULL;
    bool ok = other == NULL && (e || mem);
    if (other)
        g_propagate_error(error, g_steal_pointer(other));
    else if (!ok && strcmp(why_e->message, why_m->message) == 0)
        g_set_error(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT, "--data: %s: %s", weights,
                    why_e->message);
    else if (!ok)
        g_set_error(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT,
                    "--data: nothing to compute on %s: the energy: %s; the memory view: %s",
                    weights, why_e->message, why_m->message);
    if (ok) {
        json_object_set_new(doc, "energy", e ? e : json_pack("{s:s}", "not_computed", why_e->message));
        json_object_set_new(doc, "memory", mem ? mem : json_pack("{s:s}", "not_computed", why_m->message));
        json_object_set_new(json_object_get(doc, "energy"), "weights", json_string(weights));
        json_object_set_new(json_object_get(doc, "memory"), "weights", json_string(weights));
        *images = g_steal_pointer(&test);
    } else {
        json_decref(e);
        json_decref(mem);
    }
    g_clear_error(&why_e);
    g_clear_error(&why_m);
    return ok;
}

/* The weights a document ends with: the checkpoint's, or a run's last. */
static const char *
last_weights(json_t *doc)
{
    json_t *cks = json_object_get(doc, "checkpoints");
    json_t *last = cks ? json_array_get(cks, json_array_size(cks) - 1) : doc;
    return json_string_value(json_object_get(last, "weights"));
}

int
mmx_cmd_analyze(int argc, char **argv)
{
    g_autofree char *weights = NULL, *svg = NULL, *data = NULL;
    g_auto(GStrv) sets = NULL;
    gboolean json = FALSE;
    int inputs = 1000;
    GOptionEntry entries[] = {
        {"weights", 0, 0, G_OPTION_ARG_FILENAME, &weights, "A safetensors checkpoint of SPEC", "FILE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the analysis as JSON", NULL},
        {"svg", 0, 0, G_OPTION_ARG_FILENAME, &svg, "Write SVG plots into DIR (spectra, symmetry over training)", "DIR"},
        {"data", 0, 0, G_OPTION_ARG_STRING, &data, "Also run the model on this data set's test images: the Hopfield energy of tied blocks, the key-value memory view", "NAME|DIR"},
        {"inputs", 0, 0, G_OPTION_ARG_INT, &inputs, "Test images for --data (default 1000)", "N"},
        {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sets, "Override a value of SPEC by JSON Pointer", "/PTR=VALUE"},
        MMX_CLI_PLUGIN_OPTION,
        G_OPTION_ENTRY_NULL,
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find(cmd), entries, description, &argc, &argv, &code))
        return code;
    if (argc != 2)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "expected SPEC --weights FILE, a run folder or a sweep folder");
    const char *target = argv[1];
    bool folder = g_file_test(target, G_FILE_TEST_IS_DIR);
    if (!folder && !g_file_test(target, G_FILE_TEST_EXISTS))
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "%s: no such file or folder", target);
    if (folder && (weights || sets))
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "%s is a folder: --weights and --set go with a SPEC file (a run "
                            "folder's spec and weights are its own)",
                            target);
    if (!folder && weights == NULL)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "%s is a file: expected SPEC --weights FILE (or a run or sweep folder)",
                            target);
    if (inputs < 1)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "--inputs must be positive, got %d", inputs);
    g_autoptr(mmx_registry) reg = mmx_cli_registry();
    if (reg == NULL)
        return MMX_EXIT_USAGE;
    g_autoptr(GError) error = NULL;
    g_autofree char *manifest = g_build_filename(target, "sweep.json", NULL);
    g_autoptr(json_t) doc =
        !folder ? analyze_spec(reg, target, weights, sets, &error)
        : g_file_test(manifest, G_FILE_TEST_EXISTS) ? mmx_analyze_sweep(reg, target, &error)
                                                    : mmx_analyze_run(reg, target, &error);
    if (doc == NULL)
        return fail(error);
    if (data && json_object_get(doc, "sweep"))
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "--data: the energy is computed for a checkpoint or a run folder's "
                            "last weights, not for a sweep folder");
    g_autoptr(GPtrArray) files = NULL;
    if (svg && !mmx_analyze_write_svg(doc, svg, &files, &error))
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "%s", error->message);
    g_autoptr(mmx_dataset) images = NULL;
    if (data && !add_data_views(doc, reg, target, folder, sets, last_weights(doc), data, inputs,
                                &images, &error))
        return fail(error);
    json_t *memory = json_object_get(doc, "memory");
    if (svg && json_object_get(memory, "mixers") &&
        !mmx_analyze_memory_svg(memory, images, svg, files, &error))
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "%s", error->message);
    if (json) {
        mmx_cli_print_json(json_incref(doc));
        return MMX_EXIT_OK;
    }
    g_autofree char *text = mmx_analyze_text(doc);
    fputs(text, stdout);
    for (guint i = 0; files && i < files->len; i++)
        printf("%s%s\n", i == 0 ? "\nplots:\n" : "", (char *)g_ptr_array_index(files, i));
    return MMX_EXIT_OK;
}
