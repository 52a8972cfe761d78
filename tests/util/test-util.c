/* test-util.c: helpers shared by the Check suites. */
#include "test-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int
mmx_test_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

mmx_registry *
mmx_test_registry(void)
{
    mmx_registry *reg = mmx_registry_new();
    mmx_registry_scan_default(reg, NULL);
    return reg;
}

char *
mmx_test_fixture(const char *name)
{
    const char *dir = g_getenv("MMX_FIXTURES");
    g_autofree char *file = g_strconcat(name, ".so", NULL);
    return g_build_filename(dir ? dir : ".", file, NULL);
}

char *
mmx_test_source_path(const char *relative)
{
    const char *root = g_getenv("MMX_SOURCE_ROOT");
    return g_build_filename(root ? root : ".", relative, NULL);
}

char *
mmx_test_data_path(const char *relative)
{
    const char *root = g_getenv("MMX_TEST_DATA");
    return g_build_filename(root ? root : "tests/data", relative, NULL);
}

void
mmx_test_model_load(mmx_test_model *m, const char *relative)
{
    m->reg = mmx_test_registry();
    g_autofree char *path = mmx_test_data_path(relative);
    g_autoptr(GError) error = NULL;
    m->spec = mmx_spec_load(m->reg, path, NULL, &error);
    ck_assert_msg(m->spec != NULL, "%s", error ? error->message : "");
    m->graph = mmx_graph_new(m->spec, &error);
    ck_assert_msg(m->graph != NULL, "%s", error ? error->message : "");
}

void
mmx_test_model_clear(mmx_test_model *m)
{
    mmx_graph_free(m->graph);
    mmx_spec_free(m->spec);
    mmx_registry_free(m->reg);
}

static GPtrArray *tmpdirs;

static void
remove_tree(const char *path)
{
    GDir *d = g_dir_open(path, 0, NULL);
    if (d) {
        const char *name;
        while ((name = g_dir_read_name(d)) != NULL) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                remove_tree(child);
            else
                g_unlink(child);
        }
        g_dir_close(d);
    }
    g_rmdir(path);
}

static void
cleanup_tmpdirs(void)
{
    for (guint i = 0; tmpdirs && i < tmpdirs->len; i++)
        remove_tree(tmpdirs->pdata[i]);
    if (tmpdirs)
        g_ptr_array_unref(tmpdirs);
    tmpdirs = NULL;
}

char *
mmx_test_tmpdir(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("mmx-test-XXXXXX", &error);
    ck_assert_msg(dir != NULL, "cannot make a temporary directory: %s",
                  error ? error->message : "?");
    if (tmpdirs == NULL) {
        tmpdirs = g_ptr_array_new_with_free_func(g_free);
        atexit(cleanup_tmpdirs);
    }
    g_ptr_array_add(tmpdirs, g_strdup(dir));
    return dir;
}

/* The mmx binary's argv: MMX_EXE, then args (NULL-terminated), then NULL. */
static GPtrArray *
mmx_argv(const char *const *args)
{
    const char *exe = g_getenv("MMX_EXE");
    ck_assert_msg(exe != NULL, "MMX_EXE is not set (run through meson test)");
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)exe);
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    return argv;
}

int
mmx_test_run_mmx(const char *const *args, char **out, char **err)
{
    g_autoptr(GPtrArray) argv = mmx_argv(args);
    const char *exe = g_ptr_array_index(argv, 0);
    int status = -1;
    g_autoptr(GError) error = NULL;
    char *o = NULL, *e = NULL;
    gboolean ok = g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o,
                               &e, &status, &error);
    ck_assert_msg(ok, "cannot run %s: %s", exe, error ? error->message : "?");
    if (out)
        *out = o;
    else
        g_free(o);
    if (err)
        *err = e;
    else
        g_free(e);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

GPid
mmx_test_spawn_mmx(const char *const *args, int *errfd)
{
    g_autoptr(GPtrArray) argv = mmx_argv(args);
    const char *exe = g_ptr_array_index(argv, 0);
    GPid pid;
    g_autoptr(GError) error = NULL;
    ck_assert_msg(g_spawn_async_with_pipes(NULL, (char **)argv->pdata, NULL,
                                           G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                                           NULL, NULL, &pid, NULL, NULL, errfd, &error),
                  "cannot run %s: %s", exe, error ? error->message : "?");
    return pid;
}

int
mmx_test_wait_mmx(GPid pid, int errfd, char **err)
{
    GString *s = g_string_new(NULL);
    char buf[4096];
    ssize_t n;
    while ((n = read(errfd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            g_string_append_len(s, buf, n);
    close(errfd);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    *err = g_string_free(s, FALSE);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void
mmx_test_fill(float *x, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t r[4];
        mmx_philox(seed, (uint64_t)i, r);
        float mag = 0.1f + 0.9f * (float)(r[0] >> 8) / 16777216.0f;
        x[i] = (r[1] & 1) ? -mag : mag;
    }
}
