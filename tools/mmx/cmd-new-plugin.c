/* cmd-new-plugin.c: `mmx new-plugin NAME [--kind KIND] [--dir DIR] [--json]`: writes a
 * complete, buildable operator plugin project (docs/plugin-guide.md walks through it).
 *
 * KIND chooses the project's example op: `channelwise` (the default), NAME.scale, a
 * learned scale per channel, the form of an op with parameters; `elementwise`,
 * NAME.sqrelu, squared ReLU, the form of an activation (no parameters, no attributes,
 * MMX_OP_ELEMENTWISE).
 *
 * The project's files are embedded in this binary as a GResource compiled from
 * tools/mmx/new-plugin/ (new-plugin.gresource.xml): nothing is read from the source
 * tree at run time. A project is the files of common/ and those of its kind. Each file is
 * written with "mmxtemplate" replaced by NAME and "MMXTEMPLATE" by NAME in capitals, in
 * its name and in its text; meson.build gets the kind's C files in its source lists and
 * README.md the kind's about.md. Each kind's template is itself a working plugin called
 * mmxtemplate, which the tests build and check in-tree.
 *
 * NAME becomes the plugin's name, its file NAME.so, the prefix of its ops (NAME.scale)
 * and of C identifiers, so it must be lower_snake_case, and it must not be the name of a
 * plugin the standard search already finds (two NAME.so files on the plugin path shadow
 * each other). DIR (default ./NAME) must not exist or be an empty directory: nothing is
 * ever overwritten. Exit status: 0 written, 1 a file could not be written, 2 bad name or
 * directory (usage).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "new-plugin-resources.h"

#define TEMPLATE_PREFIX "/org/mmx/new-plugin/"
#define COMMON_DIR "common"
#define ABOUT_FILE "about.md"
#define TEMPLATE_NAME "mmxtemplate"
#define TEMPLATE_NAME_UPPER "MMXTEMPLATE"
#define NAME_MAX_LEN 40

/* NULL when name is acceptable as a plugin name, else why not (newly allocated). */
static char *
name_problem(const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return g_strdup("the plugin name is empty");
    if (n > NAME_MAX_LEN)
        return g_strdup_printf("plugin name '%s' is %zu characters long; at most %d", name, n,
                               NAME_MAX_LEN);
    bool ok = g_ascii_islower(name[0]);
    for (const char *p = name; ok && *p; p++)
        ok = g_ascii_islower(*p) || g_ascii_isdigit(*p) || *p == '_';
    if (!ok)
        return g_strdup_printf(
            "plugin name '%s' is not lower_snake_case: it must start with a lowercase letter "
            "and hold only lowercase letters, digits and '_' (it names the file NAME.so, the "
            "ops NAME.<op> and C identifiers)",
            name);
    return NULL;
}

/* Refuses a name the standard plugin search already finds: the new NAME.so and the
 * existing one would shadow each other. */
static bool
name_taken(const char *name, char **why)
{
    g_autoptr(mmx_registry) reg = mmx_cli_registry();
    const mmx_plugin *p = mmx_registry_find_plugin(reg, name);
    if (p == NULL)
        return false;
    *why = g_strdup_printf("a plugin named '%s' already exists (%s); choose another name: two "
                           "files named %s.so on the plugin path shadow each other",
                           name, mmx_plugin_path(p), name);
    return true;
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
replace_all(const char *text, const char *from, const char *to)
{
    g_auto(GStrv) parts = g_strsplit(text, from, -1);
    return g_strjoinv(to, parts);
}

/* The kinds of project, each a folder of the GResource with its example op. */
typedef struct kind {
    const char *name;
    const char *op; /* NAME.<op> */
} kind;

static const kind kinds[] = {
    {"channelwise", "scale"},
    {"elementwise", "sqrelu"},
};

static const kind *
find_kind(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

/* The file names (aliases) of one folder of the template, sorted; NULL-terminated. */
static char **
template_files(const char *folder)
{
    g_autofree char *prefix = g_strconcat(TEMPLATE_PREFIX, folder, "/", NULL);
    char **names = g_resource_enumerate_children(mmx_new_plugin_get_resource(), prefix,
                                                 G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
    if (names)
        qsort(names, g_strv_length(names), sizeof(char *), compare_names);
    return names;
}

/* The text of one template file; NULL with error set if it is missing. GResource data is
 * followed by a NUL byte, so it reads as a string. */
static char *
template_text(const char *folder, const char *file, GError **error)
{
    g_autofree char *path = g_strconcat(TEMPLATE_PREFIX, folder, "/", file, NULL);
    g_autoptr(GBytes) bytes = g_resource_lookup_data(mmx_new_plugin_get_resource(), path,
                                                     G_RESOURCE_LOOKUP_FLAGS_NONE, error);
    return bytes ? g_strdup(g_bytes_get_data(bytes, NULL)) : NULL;
}

/* The kind's C files as meson list items: the plugin's own file (the list of its ops)
 * first, then the others in name order, the files compiled with AVX2 flags (*-avx2.c) in
 * *avx2, the rest in *plain. */
static void
source_lists(char **files, char **plain, char **avx2)
{
    GString *p = g_string_new("'" TEMPLATE_NAME ".c'"), *v = g_string_new(NULL);
    for (char **f = files; *f; f++) {
        if (!g_str_has_suffix(*f, ".c") || strcmp(*f, TEMPLATE_NAME ".c") == 0)
            continue;
        GString *to = g_str_has_suffix(*f, "-avx2.c") ? v : p;
        g_string_append_printf(to, "%s'%s'", to->len ? ", " : "", *f);
    }
    *plain = g_string_free(p, FALSE);
    *avx2 = g_string_free(v, FALSE);
}

/* The text of a project file: the kind's about.md and source lists filled in. */
static char *
fill_in(const char *text, const char *about, const char *plain, const char *avx2)
{
    g_autofree char *a = replace_all(text, "@about@", about);
    g_autofree char *b = replace_all(a, "@plugin_sources@", plain);
    return replace_all(b, "@avx2_sources@", avx2);
}

/* The template text with the plugin's name in place of mmxtemplate / MMXTEMPLATE. */
static char *
instantiate(const char *text, const char *name)
{
    g_autofree char *upper = g_ascii_strup(name, -1);
    g_autofree char *a = replace_all(text, TEMPLATE_NAME_UPPER, upper);
    return replace_all(a, TEMPLATE_NAME, name);
}

static bool
dir_is_empty(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    return d != NULL && g_dir_read_name(d) == NULL;
}

int
mmx_cmd_new_plugin(int argc, char **argv)
{
    char *dir_opt = NULL, *kind_opt = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        {"kind", 0, 0, G_OPTION_ARG_STRING, &kind_opt,
         "The example op: channelwise (default; NAME.scale, a learned scale per channel) or "
         "elementwise (NAME.sqrelu, squared ReLU: an activation without parameters)",
         "KIND"},
        {"dir", 0, 0, G_OPTION_ARG_FILENAME, &dir_opt,
         "Directory to create (default: ./NAME); it must not exist or be empty", "DIR"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print what was written as JSON", NULL},
        G_OPTION_ENTRY_NULL,
    };
    int code;
    const mmx_command *cmd = mmx_command_find("new-plugin");
    if (!mmx_cli_parse(cmd, entries,
                       "Writes a plugin project: meson.build (against the installed SDK, "
                       "mmx-plugin.pc), NAME.c (the plugin descriptor), the example op's "
                       "files (scale.c and scale-avx2.c, or with --kind elementwise sqrelu.c "
                       "and sqrelu-avx2.c: scalar reference and AVX2 kernels, forward and "
                       "backward), a `meson test` that runs mmx check-plugin on the built "
                       "NAME.so, a spec and a sweep that use the op, and a README. See "
                       "docs/plugin-guide.md.",
                       &argc, &argv, &code))
        return code;
    g_autofree char *dir_given = dir_opt, *kind_given = kind_opt;
    const kind *k = find_kind(kind_given ? kind_given : kinds[0].name);
    if (k == NULL)
        return mmx_cli_fail("new-plugin", MMX_EXIT_USAGE,
                            "unknown --kind '%s': give channelwise (an op with a parameter per "
                            "channel) or elementwise (an activation without parameters)",
                            kind_given);
    if (argc != 2)
        return mmx_cli_fail("new-plugin", MMX_EXIT_USAGE,
                            "give one plugin name (lower_snake_case), e.g. mmx new-plugin mygate");
    const char *name = argv[1];
    g_autofree char *problem = name_problem(name);
    if (problem)
        return mmx_cli_fail("new-plugin", MMX_EXIT_USAGE, "%s", problem);
    g_autofree char *taken = NULL;
    if (name_taken(name, &taken))
        return mmx_cli_fail("new-plugin", MMX_EXIT_USAGE, "%s", taken);
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) common = template_files(COMMON_DIR);
    g_auto(GStrv) own = template_files(k->name);
    g_autofree char *about = template_text(k->name, ABOUT_FILE, &error);
    if (common == NULL || own == NULL || about == NULL)
        return mmx_cli_fail("new-plugin", MMX_EXIT_FAILURE, "the template of kind '%s' is "
                            "missing from this mmx binary%s%s", k->name, error ? ": " : "",
                            error ? error->message : "");
    g_autofree char *own_c = g_strconcat(name, ".c", NULL), *own_h = g_strconcat(name, ".h", NULL);
    for (char **f = own; *f; f++)
        if (strcmp(*f, own_c) == 0 || strcmp(*f, own_h) == 0)
            return mmx_cli_fail("new-plugin", MMX_EXIT_USAGE,
                                "plugin name '%s' would name the plugin's file %s.c, but the %s "
                                "project already has a file %s; choose another name",
                                name, name, k->name, *f);

    const char *dir = dir_given ? dir_given : name;
    if (g_file_test(dir, G_FILE_TEST_EXISTS)) {
        if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
            return mmx_cli_fail("new-plugin", MMX_EXIT_USAGE,
                                "%s exists and is not a directory; choose another --dir", dir);
        if (!dir_is_empty(dir))
            return mmx_cli_fail("new-plugin", MMX_EXIT_USAGE,
                                "%s exists and is not empty; not overwriting anything in it "
                                "(choose another --dir, or remove it)",
                                dir);
    }
    if (!mmx_mkdir_p(dir, &error))
        return mmx_cli_fail("new-plugin", MMX_EXIT_FAILURE, "%s", error->message);

    g_autofree char *plain = NULL, *avx2 = NULL;
    source_lists(own, &plain, &avx2);
    json_t *written = json_array();
    for (int pass = 0; pass < 2; pass++) {
        const char *folder = pass == 0 ? COMMON_DIR : k->name;
        for (char **f = pass == 0 ? common : own; *f; f++) {
            if (strcmp(*f, ABOUT_FILE) == 0 && pass == 1)
                continue;
            g_autofree char *raw = template_text(folder, *f, &error);
            if (raw == NULL) {
                json_decref(written);
                return mmx_cli_fail("new-plugin", MMX_EXIT_FAILURE, "template %s/%s: %s",
                                    folder, *f, error->message);
            }
            g_autofree char *filled = fill_in(raw, about, plain, avx2);
            g_autofree char *text = instantiate(filled, name);
            g_autofree char *file = instantiate(*f, name);
            g_autofree char *path = g_build_filename(dir, file, NULL);
            if (!mmx_file_write_atomic(path, text, strlen(text), &error)) {
                json_decref(written);
                return mmx_cli_fail("new-plugin", MMX_EXIT_FAILURE, "%s", error->message);
            }
            json_array_append_new(written, json_string(path));
        }
    }

    if (json) {
        mmx_cli_print_json(json_pack("{s:s, s:s, s:s++, s:s, s:o}", "plugin", name, "kind",
                                     k->name, "op", name, ".", k->op, "dir", dir, "files",
                                     written));
        return MMX_EXIT_OK;
    }
    printf("mmx new-plugin: wrote the plugin '%s' (op '%s.%s') in %s:\n", name, name, k->op, dir);
    size_t i;
    json_t *v;
    json_array_foreach(written, i, v) printf("  %s\n", json_string_value(v));
    json_decref(written);
    printf("Next (docs/plugin-guide.md has the whole tour):\n"
           "  cd %s\n"
           "  meson setup build && meson test -C build    # builds %s.so, runs mmx check-plugin\n"
           "  MMX_PLUGIN_PATH=$PWD/build mmx train %s-demo.json --data synthetic:512:128 "
           "--epochs 1\n",
           dir, name, name);
    return MMX_EXIT_OK;
}
