/* test-plugin.c: the loader and registry. Each way a file is refused has a fixture
 * plugin (tests/fixtures/) and a test that checks the message; a refusal never stops the
 * other plugins from loading. */
#include <string.h>

#include "test-util.h"

static void
assert_refused(const char *fixture, int code, const char *expected)
{
    g_autoptr(mmx_registry) reg = mmx_registry_new();
    g_autofree char *path = mmx_test_fixture(fixture);
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_registry_load(reg, path, &error));
    ck_assert_ptr_nonnull(error);
    ck_assert_int_eq(error->domain, MMX_PLUGIN_ERROR);
    ck_assert_int_eq(error->code, code);
    ck_assert_contains(error->message, fixture);
    ck_assert_contains(error->message, expected);
    ck_assert_int_eq(mmx_registry_n_failures(reg), 1);
    ck_assert_int_eq(mmx_registry_n_plugins(reg), 0);
    const char *fpath, *message;
    int fcode;
    mmx_registry_failure(reg, 0, &fpath, &message, &fcode);
    ck_assert_int_eq(fcode, code);
    ck_assert_contains(message, expected);
}

START_TEST(test_not_shared)
{
    assert_refused("not-shared", MMX_PLUGIN_ERROR_NOT_SHARED, "cannot be loaded as a shared object");
}
END_TEST

START_TEST(test_no_entry)
{
    assert_refused("no-entry", MMX_PLUGIN_ERROR_NO_ENTRY,
                   "no entry symbol mmx_plugin_entry_v1: not an mmx plugin");
}
END_TEST

START_TEST(test_abi_major_mismatch)
{
    assert_refused("abi2", MMX_PLUGIN_ERROR_ABI,
                   "built for plugin ABI 2 (exports mmx_plugin_entry_v2), but this mmx loads ABI 1");
}
END_TEST

START_TEST(test_descriptor_abi_mismatch)
{
    assert_refused("desc-abi", MMX_PLUGIN_ERROR_ABI,
                   "its descriptor says plugin ABI 2.0, but this mmx loads ABI 1.1");
}
END_TEST

START_TEST(test_entry_fails)
{
    assert_refused("entry-fails", MMX_PLUGIN_ERROR_ENTRY_FAILED,
                   "the plugin's entry failed (status 3, unsupported configuration): this fixture "
                   "needs a GPU it cannot find");
}
END_TEST

START_TEST(test_invalid_schema)
{
    assert_refused("bad-schema", MMX_PLUGIN_ERROR_INVALID,
                   "invalid descriptor: op 'fixture_bad_schema_op': attribute 'kernel': default 9 "
                   "outside [1, 7]");
}
END_TEST

START_TEST(test_missing_file)
{
    assert_refused("does-not-exist", MMX_PLUGIN_ERROR_NOT_FOUND, "No such file or directory");
}
END_TEST

START_TEST(test_duplicate_op_names_both_files)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const mmx_op *gelu = mmx_registry_find_op(reg, "gelu");
    ck_assert_ptr_nonnull(gelu);
    g_autofree char *dup = mmx_test_fixture("dup-op");
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_registry_load(reg, dup, &error));
    ck_assert_int_eq(error->code, MMX_PLUGIN_ERROR_DUPLICATE);
    ck_assert_contains(error->message, "dup-op.so");
    ck_assert_contains(error->message, "op 'gelu' is already provided by");
    ck_assert_contains(error->message, mmx_plugin_path(mmx_op_plugin(gelu)));
    /* The first provider stays. */
    ck_assert_ptr_eq(mmx_registry_find_op(reg, "gelu"), gelu);
}
END_TEST

START_TEST(test_refusals_do_not_stop_others)
{
    g_autoptr(mmx_registry) reg = mmx_registry_new();
    const char *names[] = {"not-shared", "no-entry", "abi2", "entry-fails", "bad-schema", "good"};
    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *p = mmx_test_fixture(names[i]);
        mmx_registry_load(reg, p, NULL);
    }
    mmx_registry_scan_default(reg, NULL);
    ck_assert_int_eq(mmx_registry_n_failures(reg), 5);
    ck_assert_ptr_nonnull(mmx_registry_find_op(reg, "good.copy"));
    ck_assert_ptr_nonnull(mmx_registry_find_op(reg, "gelu"));
    ck_assert_ptr_nonnull(mmx_registry_find_plugin(reg, "activation"));
}
END_TEST

START_TEST(test_load_twice_is_a_no_op)
{
    g_autoptr(mmx_registry) reg = mmx_registry_new();
    g_autofree char *p = mmx_test_fixture("good");
    ck_assert(mmx_registry_load(reg, p, NULL));
    ck_assert(mmx_registry_load(reg, p, NULL));
    ck_assert_int_eq(mmx_registry_n_plugins(reg), 1);
    /* A second registry shares the process-wide cache: the entry is not called again,
     * and the op is the same static descriptor. */
    g_autoptr(mmx_registry) reg2 = mmx_registry_new();
    ck_assert(mmx_registry_load(reg2, p, NULL));
    ck_assert_ptr_eq(mmx_op_get_desc(mmx_registry_find_op(reg, "good.copy")),
                     mmx_op_get_desc(mmx_registry_find_op(reg2, "good.copy")));
}
END_TEST

START_TEST(test_search_path_and_shadowing)
{
    /* MMX_PLUGIN_PATH comes first; a plugin file name found there shadows the build
     * tree's file of the same name. */
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *good = mmx_test_fixture("good");
    g_autofree char *link = g_build_filename(dir, "good.so", NULL);
    ck_assert_int_eq(symlink(good, link), 0);
    g_autofree char *old = g_strdup(g_getenv("MMX_PLUGIN_PATH"));
    g_autofree char *path = g_strdup_printf("%s:%s", dir, old);
    g_setenv("MMX_PLUGIN_PATH", path, TRUE);
    g_auto(GStrv) dirs = mmx_registry_search_dirs(NULL);
    ck_assert_str_eq(dirs[0], dir);
    g_autoptr(mmx_registry) reg = mmx_registry_new();
    mmx_registry_scan_default(reg, NULL);
    ck_assert_ptr_nonnull(mmx_registry_find_op(reg, "good.copy"));
    ck_assert_ptr_nonnull(mmx_registry_find_op(reg, "relu"));
    const char *const *names = mmx_registry_op_names(reg);
    ck_assert_ptr_nonnull(names[0]);
    for (int i = 1; names[i]; i++)
        ck_assert_int_lt(strcmp(names[i - 1], names[i]), 0);
    g_setenv("MMX_PLUGIN_PATH", old, TRUE);
}
END_TEST

START_TEST(test_kernel_choice)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const mmx_op *gelu = mmx_registry_find_op(reg, "gelu");
    ck_assert_int_eq(mmx_op_choose_kernel(gelu, MMX_ISA_SCALAR)->isa, MMX_ISA_SCALAR);
    ck_assert_int_eq(mmx_op_choose_kernel(gelu, MMX_ISA_AVX2)->isa, MMX_ISA_AVX2);
    ck_assert_int_eq(mmx_op_choose_kernel(gelu, MMX_ISA_AVX512)->isa, MMX_ISA_AVX512);
    /* An op with only a scalar kernel gets it at every level. */
    const mmx_op *id = mmx_registry_find_op(reg, "identity");
    ck_assert_int_eq(mmx_op_choose_kernel(id, MMX_ISA_AVX512)->isa, MMX_ISA_SCALAR);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("plugin");
    TCase *tc = tcase_create("refusals");
    tcase_add_test(tc, test_not_shared);
    tcase_add_test(tc, test_no_entry);
    tcase_add_test(tc, test_abi_major_mismatch);
    tcase_add_test(tc, test_descriptor_abi_mismatch);
    tcase_add_test(tc, test_entry_fails);
    tcase_add_test(tc, test_invalid_schema);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_duplicate_op_names_both_files);
    tcase_add_test(tc, test_refusals_do_not_stop_others);
    suite_add_tcase(s, tc);
    TCase *reg = tcase_create("registry");
    tcase_add_test(reg, test_load_twice_is_a_no_op);
    tcase_add_test(reg, test_search_path_and_shadowing);
    tcase_add_test(reg, test_kernel_choice);
    suite_add_tcase(s, reg);
    return mmx_test_run(s);
}
