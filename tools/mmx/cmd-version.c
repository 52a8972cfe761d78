/* cmd-version.c: `mmx version [--pkg-config-path]`: the version and plugin ABI, or the
 * directory that holds this install's mmx-plugin.pc (for PKG_CONFIG_PATH when building a
 * plugin against an install under a private prefix). The directory is found from the mmx
 * binary itself, the way the install is relocatable (include/meson.build): an install
 * staged with DESTDIR, unpacked or moved answers with where it is now. */
#include "cli.h"

#include "config.h"

#include <stdio.h>

static const char *const cmd = "version";

static int
print_pc_dir(void)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    if (exe == NULL)
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "cannot find the mmx binary (/proc/self/exe)");
    g_autofree char *configured = g_build_filename(
        g_path_is_absolute(MMX_LIBDIR) ? "" : MMX_PREFIX, MMX_LIBDIR, "pkgconfig", NULL);
    if (mmx_cli_from_build_tree())
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "this mmx runs from its build tree (%s), which holds no usable "
                            "mmx-plugin.pc: install it (meson install -C %s puts mmx-plugin.pc "
                            "in %s) and ask the installed mmx",
                            MMX_BUILD_ROOT, MMX_BUILD_ROOT, configured);
    g_autofree char *libdir = mmx_cli_install_dir(MMX_LIBDIR);
    g_autofree char *dir = g_build_filename(libdir, "pkgconfig", NULL);
    g_autofree char *pc = g_build_filename(dir, "mmx-plugin.pc", NULL);
    if (!g_file_test(pc, G_FILE_TEST_IS_REGULAR))
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE,
                            "%s does not exist: this mmx (%s) is not a whole install (reinstall "
                            "it with meson install)",
                            pc, exe);
    printf("%s\n", dir);
    return MMX_EXIT_OK;
}

int
mmx_cmd_version(int argc, char **argv)
{
    gboolean pc_path = FALSE;
    GOptionEntry entries[] = {
        {"pkg-config-path", 0, 0, G_OPTION_ARG_NONE, &pc_path,
         "Print the directory that holds this install's mmx-plugin.pc (for PKG_CONFIG_PATH)",
         NULL},
        G_OPTION_ENTRY_NULL,
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find(cmd), entries,
                       "Building a plugin against an install under a private prefix:\n"
                       "  export PKG_CONFIG_PATH=$(mmx version --pkg-config-path)\n"
                       "(the directory is <libdir>/pkgconfig; the default libdir is "
                       "lib/<multiarch triplet>).",
                       &argc, &argv, &code))
        return code;
    if (argc > 1)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE, "unexpected argument '%s'", argv[1]);
    if (pc_path)
        return print_pc_dir();
    printf("mmx %s%s%s (plugin ABI %d.%d)\n", mmx_version(), *mmx_git_hash() ? " " : "",
           mmx_git_hash(), MMX_PLUGIN_ABI_MAJOR, MMX_PLUGIN_ABI_MINOR);
    return MMX_EXIT_OK;
}
