/* cmd-report.c: `mmx report DIR [--format md|csv|svg|all] [--json]`: the tables and plots
 * of a sweep folder (core/report.c, core/report-svg.c). Files go into DIR: report.md,
 * report.csv, the SVG files in plots/; the Markdown (or CSV) is printed too. */
#include "cli.h"

#include <mmx/mmx-analyze.h>

#include <stdio.h>
#include <string.h>

static const char *const cmd = "report";

static char *opt_format;
static gboolean opt_json;

static GOptionEntry entries[] = {
    {"format", 'f', 0, G_OPTION_ARG_STRING, &opt_format, "md (default), csv, svg (plots) or all",
     "md|csv|svg|all"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print the statistics as JSON", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const char *const description =
    "Per variant: seeds finished, mean ± std of test accuracy and loss, the delta of test\n"
    "accuracy vs the baseline paired by seed with a 95% confidence interval (Student's t),\n"
    "params, FLOPs, train img/s and failed trials; sorted by accuracy, baseline marked.\n"
    "Plots (SVG): learning curves, accuracy vs FLOPs and vs params with the Pareto front,\n"
    "a forest plot of the deltas. When the trials kept their weights, a section on the\n"
    "symmetry of the mixers' weights over training (mmx analyze; plots/symmetry.svg).\n"
    "See docs/sweeps.md.";

static bool
write_text(const char *dir, const char *name, const char *text, GError **error)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    return mmx_file_write_atomic(path, text, strlen(text), error);
}

int
mmx_cmd_report(int argc, char **argv)
{
    int code = MMX_EXIT_OK;
    if (!mmx_cli_parse(mmx_command_find(cmd), entries, description, &argc, &argv, &code))
        return code;
    if (argc != 2)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "expected one sweep folder, got %d arguments",
                            argc - 1);
    const char *format = opt_format ? opt_format : "md";
    bool md = strcmp(format, "md") == 0, csv = strcmp(format, "csv") == 0,
         svg = strcmp(format, "svg") == 0, all = strcmp(format, "all") == 0;
    if (!md && !csv && !svg && !all)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "--format: expected md, csv, svg or all, got '%s'",
                            format);
    const char *dir = argv[1];
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_report) report = mmx_report_new(dir, &error);
    if (report == NULL)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "%s", error->message);

    g_autoptr(GPtrArray) plots = NULL;
    if (svg || all) {
        g_autofree char *pdir = g_build_filename(dir, "plots", NULL);
        if (!mmx_report_write_svg(report, pdir, &plots, &error))
            return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "%s", error->message);
    }
    /* Symmetry over training, when trials kept their weights (mmx analyze SWEEP_DIR): a
     * section of its own after the statistics; a sweep without weights has none. */
    g_autoptr(mmx_registry) reg = mmx_cli_registry();
    g_autoptr(json_t) symmetry = reg ? mmx_analyze_sweep(reg, dir, NULL) : NULL;
    if (symmetry && (svg || all)) {
        g_autofree char *spath = g_build_filename(dir, "plots", "symmetry.svg", NULL);
        if (!mmx_analyze_sweep_symmetry_svg(symmetry, spath, &error))
            return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "%s", error->message);
        g_ptr_array_add(plots, g_steal_pointer(&spath));
    }
    g_autofree char *stats = mmx_report_markdown(report, (svg || all) ? "plots" : NULL);
    g_autofree char *section =
        symmetry ? mmx_analyze_sweep_markdown(symmetry, (svg || all) ? "plots" : NULL) : NULL;
    g_autofree char *table = g_strconcat(stats, section ? "\n" : "", section, NULL);
    g_autofree char *csvtext = mmx_report_csv(report);
    if ((md || all) && !write_text(dir, "report.md", table, &error))
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "%s", error->message);
    if ((csv || all) && !write_text(dir, "report.csv", csvtext, &error))
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "%s", error->message);

    if (opt_json) {
        json_t *j = mmx_report_to_json(report);
        if (symmetry)
            json_object_set_new(j, "symmetry", mmx_analyze_sweep_series(symmetry));
        mmx_cli_print_json(j);
        return MMX_EXIT_OK;
    }
    if (md || all)
        fputs(table, stdout);
    else if (csv)
        fputs(csvtext, stdout);
    for (guint i = 0; plots && i < plots->len; i++)
        printf("%s%s\n", i == 0 && (md || all) ? "\n" : "", (char *)g_ptr_array_index(plots, i));
    return MMX_EXIT_OK;
}
