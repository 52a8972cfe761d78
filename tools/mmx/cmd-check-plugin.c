/* cmd-check-plugin.c: `mmx check-plugin [FILE.so | NAME | --all] [--op NAME] [--quick]
 * [--json] [--plugin PATH]...`: the conformance kit (core/check*.c, docs/conformance.md).
 *
 * A target with a '/' or ending in ".so" is a file, loaded alone (so a third-party plugin
 * is checked without the shipped ones); otherwise it is the name of a plugin found by the
 * standard search. Each check runs in a forked child (--no-fork runs them here, for a
 * debugger). Exit status: 0 every check passed, 1 a check failed (or, with --all, a
 * plugin could not be loaded), 2 usage, or the plugin could not be loaded.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool
looks_like_file(const char *target)
{
    return strchr(target, '/') != NULL || g_str_has_suffix(target, ".so");
}

static char *
plugin_names(const mmx_registry *reg)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < mmx_registry_n_plugins(reg); i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "",
                               mmx_plugin_name(mmx_registry_plugin(reg, i)));
    return g_string_free(s, FALSE);
}

static bool
plugin_has_op(const mmx_plugin *p, const char *op)
{
    for (guint i = 0; i < mmx_plugin_n_ops(p); i++)
        if (strcmp(mmx_op_name(mmx_plugin_op(p, i)), op) == 0)
            return true;
    return false;
}

/* Refuses --op NAME when no selected plugin has it, with a suggestion. */
static bool
op_known(GPtrArray *plugins, const char *op)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    for (guint i = 0; i < plugins->len; i++) {
        const mmx_plugin *p = plugins->pdata[i];
        if (plugin_has_op(p, op))
            return true;
        for (guint k = 0; k < mmx_plugin_n_ops(p); k++)
            g_ptr_array_add(names, (gpointer)mmx_op_name(mmx_plugin_op(p, k)));
    }
    g_ptr_array_add(names, NULL);
    const char *hint = mmx_suggest(op, (const char *const *)names->pdata);
    g_autofree char *list = g_strjoinv(", ", (char **)names->pdata);
    mmx_cli_fail("check-plugin", MMX_EXIT_USAGE, "no op '%s' in the plugin%s%s%s%s; its ops: %s",
                 op, plugins->len == 1 ? "" : "s", hint ? " (did you mean '" : "", hint ? hint : "",
                 hint ? "'?)" : "", list);
    return false;
}

int
mmx_cmd_check_plugin(int argc, char **argv)
{
    gboolean all = FALSE, quick = FALSE, json = FALSE, no_fork = FALSE;
    char *op = NULL;
    GOptionEntry entries[] = {
        {"all", 0, 0, G_OPTION_ARG_NONE, &all, "Check every plugin found by the search", NULL},
        {"op", 0, 0, G_OPTION_ARG_STRING, &op, "Check only this op", "NAME"},
        {"quick", 0, 0, G_OPTION_ARG_NONE, &quick, "Fewer shapes and points (seconds per plugin)",
         NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Machine-readable report (docs/conformance.md)",
         NULL},
        {"no-fork", 0, 0, G_OPTION_ARG_NONE, &no_fork,
         "Run the checks in this process (for a debugger): a crashing kernel ends the run", NULL},
        MMX_CLI_PLUGIN_OPTION,
        G_OPTION_ENTRY_NULL,
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find("check-plugin"), entries,
                       "Runs the conformance kit: examples, schema and shapes, memory bounds, "
                       "finite-difference gradients, backward semantics, every SIMD kernel "
                       "against the scalar reference, workspace, threads and allocations. "
                       "FILE.so is checked alone; NAME is looked up like `mmx plugins` does.",
                       &argc, &argv, &code))
        return code;
    g_autofree char *op_name = op;
    if (all && argc > 1)
        return mmx_cli_fail("check-plugin", MMX_EXIT_USAGE,
                            "give a plugin file or name, or --all, not both");
    if (!all && argc != 2)
        return mmx_cli_fail("check-plugin", MMX_EXIT_USAGE,
                            "give one plugin file (FILE.so) or name, or --all");

    g_autoptr(mmx_registry) reg = NULL;
    g_autoptr(GPtrArray) plugins = g_ptr_array_new();
    if (all) {
        reg = mmx_cli_registry();
        if (reg == NULL)
            return MMX_EXIT_USAGE;
        for (guint i = 0; i < mmx_registry_n_plugins(reg); i++)
            g_ptr_array_add(plugins, (gpointer)mmx_registry_plugin(reg, i));
        if (plugins->len == 0 && mmx_registry_n_failures(reg) == 0)
            return mmx_cli_fail("check-plugin", MMX_EXIT_USAGE,
                                "no plugin found (see `mmx plugins` for where it looks)");
    } else if (looks_like_file(argv[1])) {
        reg = mmx_registry_new();
        g_autoptr(GError) error = NULL;
        if (!mmx_registry_load(reg, argv[1], &error))
            return mmx_cli_fail("check-plugin", MMX_EXIT_USAGE, "cannot load %s: %s", argv[1],
                                error->message);
        g_ptr_array_add(plugins, (gpointer)mmx_registry_plugin(reg, 0));
    } else {
        reg = mmx_cli_registry();
        if (reg == NULL)
            return MMX_EXIT_USAGE;
        const mmx_plugin *p = mmx_registry_find_plugin(reg, argv[1]);
        if (p == NULL) {
            g_autofree char *names = plugin_names(reg);
            GString *why = g_string_new(NULL);
            for (guint i = 0; i < mmx_registry_n_failures(reg); i++) {
                const char *path, *message;
                mmx_registry_failure(reg, i, &path, &message, NULL);
                if (strstr(path, argv[1]))
                    g_string_append_printf(why, "; %s was not loaded: %s", path, message);
            }
            int rc =
                mmx_cli_fail("check-plugin", MMX_EXIT_USAGE, "no plugin named '%s' (found: %s)%s",
                             argv[1], *names ? names : "none", why->str);
            g_string_free(why, TRUE);
            return rc;
        }
        g_ptr_array_add(plugins, (gpointer)p);
    }
    if (op_name && !op_known(plugins, op_name))
        return MMX_EXIT_USAGE;

    mmx_check_options opts = {.only_op = op_name,
                              .quick = quick,
                              .isolate = !no_fork,
                              .log = isatty(STDERR_FILENO) ? stderr : NULL};
    bool passed = true;
    json_t *reports = json_array();
    for (guint i = 0; i < plugins->len; i++) {
        const mmx_plugin *p = plugins->pdata[i];
        if (op_name && !plugin_has_op(p, op_name))
            continue;
        g_autoptr(mmx_check_report) r = mmx_check_run(reg, p, &opts);
        passed = passed && mmx_check_report_passed(r);
        if (json) {
            json_array_append_new(reports, mmx_check_report_json(r));
        } else {
            g_autofree char *text = mmx_check_report_text(r);
            fputs(text, stdout);
            if (i + 1 < plugins->len)
                fputc('\n', stdout);
            fflush(stdout);
        }
    }
    /* With --all, a plugin that did not load is a plugin that was not checked. */
    json_t *failures = json_array();
    if (all)
        for (guint i = 0; i < mmx_registry_n_failures(reg); i++) {
            const char *path, *message;
            mmx_registry_failure(reg, i, &path, &message, NULL);
            json_array_append_new(failures,
                                  json_pack("{s:s, s:s}", "path", path, "message", message));
            if (!json)
                printf("FAIL  %s could not be loaded: %s\n", path, message);
            passed = false;
        }
    if (json) {
        json_t *root = json_object();
        json_object_set_new(root, "passed", json_boolean(passed));
        json_object_set_new(root, "plugins", reports);
        json_object_set_new(root, "load_failures", failures);
        mmx_cli_print_json(root);
    } else {
        json_decref(reports);
        json_decref(failures);
        if (plugins->len > 1 || all)
            printf("check-plugin: %s\n", passed ? "PASS" : "FAIL");
    }
    return passed ? MMX_EXIT_OK : MMX_EXIT_FAILURE;
}
