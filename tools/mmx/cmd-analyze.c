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
    "stable rank and a power-law fit of the eigenvalues of W^T W with its KS distance. See\n"
    "docs/analysis.md.";

/* Exit 2 for what the input is (missing, damaged, not fitting), 1 for anything else. */
static int
fail(GError *error)
{
    bool input = error->domain == MMX_ANALYZE_ERROR || error->domain == MMX_CHECKPOINT_ERROR ||
                 error->domain == MMX_EXEC_ERROR || error->domain == MMX_JSON_ERROR ||
                 error->domain == G_FILE_ERROR;
    if (error->domain == MMX_SPEC_ERROR) {
        fprintf(stderr, "%s\n", error->message);
        return MMX_EXIT_USAGE;
    }
    return mmx_cli_fail(cmd, input ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE, "%s", error->message);
}

/* One checkpoint of a spec file. */
static json_t *
analyze_spec(mmx_registry *reg, const char *path, const char *weights, char **sets,
             GError **error)
{
    g_autoptr(mmx_spec) spec = mmx_spec_load(reg, path, (const char *const *)sets, error);
    if (spec == NULL)
        return NULL;
    g_autoptr(mmx_graph) graph = mmx_graph_new(spec, error);
    if (graph == NULL)
        return NULL;
    g_autoptr(mmx_model) model = mmx_model_new(graph, 0, error);
    if (model == NULL)
        return NULL;
    if (!g_file_test(weights, G_FILE_TEST_EXISTS)) {
        g_set_error(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT, "%s: no such file",
                    weights);
        return NULL;
    }
    return mmx_analyze_checkpoint(model, weights, error);
}

int
mmx_cmd_analyze(int argc, char **argv)
{
    g_autofree char *weights = NULL, *svg = NULL;
    g_auto(GStrv) sets = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        {"weights", 0, 0, G_OPTION_ARG_FILENAME, &weights, "A safetensors checkpoint of SPEC", "FILE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the analysis as JSON", NULL},
        {"svg", 0, 0, G_OPTION_ARG_FILENAME, &svg, "Write SVG plots into DIR (spectra, symmetry over training)", "DIR"},
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
