/* cli.c: option parsing, plugin loading and output helpers shared by subcommands. */
#include "cli.h"

#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char **mmx_cli_plugin_paths;

const mmx_command *
mmx_command_find(const char *name)
{
    for (const mmx_command *c = mmx_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

bool
mmx_cli_parse(const mmx_command *cmd, GOptionEntry *entries, const char *description, int *argc,
              char ***argv, int *exit_code)
{
    g_autofree char *param = g_strdup_printf("%s - %s", cmd->args, cmd->summary);
    g_autoptr(GOptionContext) oc = g_option_context_new(param);
    g_autofree char *prog = g_strdup_printf("mmx %s", cmd->name);
    g_set_prgname(prog);
    g_option_context_add_main_entries(oc, entries, NULL);
    if (description)
        g_option_context_set_description(oc, description);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(oc, argc, argv, &error)) {
        fprintf(stderr, "mmx %s: %s\nTry 'mmx help %s'.\n", cmd->name, error->message, cmd->name);
        *exit_code = MMX_EXIT_USAGE;
        return false;
    }
    return true;
}

/* The registry's recorded failure for a path as given or as its real path, or NULL. */
static const char *
failure_of(const mmx_registry *reg, const char *path)
{
    g_autofree char *real = realpath(path, NULL);
    for (guint i = 0; i < mmx_registry_n_failures(reg); i++) {
        const char *where, *message;
        mmx_registry_failure(reg, i, &where, &message, NULL);
        if (strcmp(where, path) == 0 || (real && strcmp(where, real) == 0))
            return message;
    }
    return NULL;
}

bool
mmx_cli_plugin_paths_loaded(const mmx_registry *reg)
{
    bool ok = true;
    for (char **p = mmx_cli_plugin_paths; p && *p; p++) {
        /* A directory is a place to look, not a plugin: what fails in it is listed by
         * `mmx plugins`, as for the directories of MMX_PLUGIN_PATH. */
        if (g_file_test(*p, G_FILE_TEST_IS_DIR))
            continue;
        const char *why = failure_of(reg, *p);
        if (why == NULL)
            continue;
        fprintf(stderr, "%s: --plugin %s: %s (give the path of a plugin file or of a directory "
                        "of plugins)\n",
                g_get_prgname(), *p, why);
        ok = false;
    }
    return ok;
}

mmx_registry *
mmx_cli_registry(void)
{
    mmx_registry *reg = mmx_registry_new();
    mmx_registry_scan_default(reg, (const char *const *)mmx_cli_plugin_paths);
    if (!mmx_cli_plugin_paths_loaded(reg)) {
        mmx_registry_free(reg);
        return NULL;
    }
    return reg;
}

int
mmx_cli_fail(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "mmx %s: %s\n", cmd, msg);
    return code;
}

void
mmx_cli_print_json(json_t *value)
{
    char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (text) {
        fputs(text, stdout);
        fputc('\n', stdout);
        free(text);
    }
    json_decref(value);
}

bool
mmx_cli_from_build_tree(void)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *build_exe = g_build_filename(MMX_BUILD_ROOT, "tools", "mmx", "mmx", NULL);
    return exe && strcmp(exe, build_exe) == 0;
}

char *
mmx_cli_install_dir(const char *configured)
{
    if (g_path_is_absolute(configured))
        return g_strdup(configured);
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    if (exe == NULL || g_path_is_absolute(MMX_BINDIR))
        return g_build_filename(MMX_PREFIX, configured, NULL);
    /* The prefix is the binary's directory less BINDIR's components. */
    char *prefix = g_path_get_dirname(exe);
    g_auto(GStrv) parts = g_strsplit(MMX_BINDIR, "/", -1);
    for (char **p = parts; *p; p++) {
        if (**p == '\0' || strcmp(*p, ".") == 0)
            continue;
        char *up = g_path_get_dirname(prefix);
        g_free(prefix);
        prefix = up;
    }
    char *dir = g_build_filename(prefix, configured, NULL);
    g_free(prefix);
    return dir;
}
