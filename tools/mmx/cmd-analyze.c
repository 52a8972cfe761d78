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
    "--data adds the Hopfield energy of each tied parallel block (hopfield-parallel.json) at\n"
    "the state entering and leaving it, on the first --inputs test images. See\n"
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

/* The Hopfield energy of the weights at `weights` on the test split of `data`, added to
 * doc as "energy", normalized as the checkpoint says (or by the training split). */
static bool
add_energy(json_t *doc, mmx_registry *reg, const char *target, bool folder, char **sets,
           const char *weights, const char *data, int inputs, GError **error)
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
    json_t *e = mmx_analyze_energy(model, test, &stats, inputs, error);
    if (e == NULL)
        return false;
    json_object_set_new(e, "weights", json_string(weights));
    json_object_set_new(doc, "energy", e);
    return true;
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
        {"data", 0, 0, G_OPTION_ARG_STRING, &data, "Also the Hopfield energy of the tied blocks along the layers on this data set's test images", "NAME|DIR"},
        {"inputs", 0, 0, G_OPTION_ARG_INT, &inputs, "Test images for the energy (default 1000)", "N"},
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
    if (data && !add_energy(doc, reg, target, folder, sets, last_weights(doc), data, inputs, &error))
        return fail(error);
    g_autoptr(GPtrArray) files = NULL;
    if (svg && !mmx_analyze_write_svg(doc, svg, &files, &error))
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
