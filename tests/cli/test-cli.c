/* test-cli.c: the mmx binary: dispatch, help, exit codes, `mmx plugins` in both forms,
 * tools/demo.
 * Later commands add their own CLI cases in their suites. */
#include <string.h>

#include <glib/gstdio.h>

#include "test-util.h"

START_TEST(test_help_and_usage)
{
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"--help", NULL}, &out, NULL), 0);
    ck_assert_contains(out, "Usage: mmx COMMAND");
    ck_assert_contains(out, "plugins");
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){NULL}, NULL, &err), 2);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"plugin", NULL}, NULL, &err), 2);
    ck_assert_contains(err, "unknown command 'plugin' (did you mean 'plugins'?)");
    g_free(out);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"help", "plugins", NULL}, &out, NULL), 0);
    ck_assert_contains(out, "--json");
    ck_assert_contains(out, "--plugin");
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"plugins", "--frobnicate", NULL}, NULL, &err), 2);
    ck_assert_contains(err, "mmx plugins: Unknown option --frobnicate");
    g_free(out);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"version", NULL}, &out, NULL), 0);
    ck_assert_contains(out, "plugin ABI 1.1");
}
END_TEST

static json_t *
find_by_name(json_t *array, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) if (g_strcmp0(json_string_value(json_object_get(v, "name")), name) == 0) return v;
    return NULL;
}

static json_t *
plugins_json_status(const char *isa, const char *extra, int status)
{
    if (isa)
        g_setenv("MMX_ISA", isa, TRUE);
    else
        g_unsetenv("MMX_ISA");
    g_autofree char *out = NULL;
    const char *args[] = {"plugins", "--json", extra ? "--plugin" : NULL, extra, NULL};
    ck_assert_int_eq(mmx_test_run_mmx(args, &out, NULL), status);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    ck_assert_msg(root != NULL, "not JSON (%s): %s", jerr.text, out);
    return root;
}

static json_t *
plugins_json(const char *isa, const char *extra)
{
    return plugins_json_status(isa, extra, 0);
}

static const char *
chosen_kernel_isa(json_t *root, const char *plugin, const char *op)
{
    json_t *p = find_by_name(json_object_get(root, "plugins"), plugin);
    ck_assert_ptr_nonnull(p);
    json_t *o = find_by_name(json_object_get(p, "ops"), op);
    ck_assert_ptr_nonnull(o);
    size_t i;
    json_t *k;
    int isas = 0;
    const char *chosen = NULL;
    json_array_foreach(json_object_get(o, "kernels"), i, k)
    {
        isas++;
        if (json_is_true(json_object_get(k, "chosen")))
            chosen = json_string_value(json_object_get(k, "isa"));
    }
    ck_assert_int_eq(isas, 3);
    return chosen;
}

START_TEST(test_plugins_json_kernels)
{
    json_t *root = plugins_json(NULL, NULL);
    const char *detected = json_string_value(json_object_get(json_object_get(root, "cpu"), "detected_isa"));
    ck_assert_str_eq(chosen_kernel_isa(root, "activation", "gelu"), detected);
    ck_assert_int_eq(json_array_size(json_object_get(root, "failures")), 0);
    json_decref(root);
    root = plugins_json("scalar", NULL);
    ck_assert_str_eq(chosen_kernel_isa(root, "activation", "gelu"), "scalar");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "cpu"), "isa")), "scalar");
    json_decref(root);
}
END_TEST

START_TEST(test_plugins_bad_plugin_reported)
{
    /* A file named by --plugin that is refused is listed, and the exit status is 2. */
    g_autofree char *bad = mmx_test_fixture("abi2");
    json_t *root = plugins_json_status(NULL, bad, 2);
    json_t *failures = json_object_get(root, "failures");
    ck_assert_int_eq(json_array_size(failures), 1);
    json_t *f = json_array_get(failures, 0);
    ck_assert_str_eq(json_string_value(json_object_get(f, "kind")), "abi");
    ck_assert_contains(json_string_value(json_object_get(f, "message")), "built for plugin ABI 2");
    ck_assert_ptr_nonnull(find_by_name(json_object_get(root, "plugins"), "activation"));
    json_decref(root);

    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"plugins", "--plugin", bad, NULL}, &out, &err), 2);
    ck_assert_contains(out, "plugin activation");
    ck_assert_contains(out, "1 plugin file refused:");
    ck_assert_contains(out, "abi2.so: built for plugin ABI 2");
    g_autofree char *msg = g_strdup_printf("mmx plugins: --plugin %s: built for plugin ABI 2", bad);
    ck_assert_contains(err, msg);
    /* A plugin directory is a place to look: what it holds is listed, not fatal. */
    g_autofree char *fixtures = g_path_get_dirname(bad);
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"plugins", "--plugin", fixtures, NULL}, &out, &err), 0);
    ck_assert_contains(out, "abi2.so: built for plugin ABI 2");
}
END_TEST

/* Every command that takes --plugin refuses a file it names that cannot be loaded: exit
 * 2, the path and the reason, nothing run. */
START_TEST(test_plugin_option_must_load)
{
    g_autofree char *small = mmx_test_data_path("specs/small.json");
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *sweep = g_build_filename(dir, "s.json", NULL);
    g_autofree char *text = g_strdup_printf("{\"mmx_sweep\": 1, \"base\": \"%s\"}", small);
    ck_assert(g_file_set_contents(sweep, text, -1, NULL));
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    const char *nope = "build/nope.so";
    const char *const cases[][8] = {
        {"plugins", NULL},
        {"validate", small, NULL},
        {"info", small, NULL},
        {"train", small, "--out", run, "--quiet", NULL},
        {"eval", small, "--weights", "w.safetensors", NULL},
        {"bench", small, NULL},
        {"sweep", sweep, "--out", run, "--dry-run", NULL},
        {"check-plugin", "--all", "--quick", NULL},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *args[12] = {0};
        size_t n = 0;
        for (const char *const *a = cases[i]; *a; a++)
            args[n++] = *a;
        args[n++] = "--plugin";
        args[n++] = nope;
        g_autofree char *out = NULL, *err = NULL;
        int rc = mmx_test_run_mmx(args, &out, &err);
        ck_assert_msg(rc == 2, "mmx %s: exit %d\n%s", cases[i][0], rc, err);
        g_autofree char *msg = g_strdup_printf(
            "mmx %s: --plugin build/nope.so: No such file or directory (give the path of a "
            "plugin file or of a directory of plugins)\n",
            cases[i][0]);
        ck_assert_contains(err, msg);
        ck_assert(!g_file_test(run, G_FILE_TEST_EXISTS));
    }
    /* A file that is not a plugin: its reason. */
    g_autofree char *abi2 = mmx_test_fixture("abi2");
    g_autofree char *err = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"validate", "--plugin", abi2, small, NULL}, NULL, &err),
        2);
    g_autofree char *msg = g_strdup_printf("mmx validate: --plugin %s: built for plugin ABI 2", abi2);
    ck_assert_contains(err, msg);
}
END_TEST

START_TEST(test_bad_isa_env_is_usage_error)
{
    g_setenv("MMX_ISA", "sse9", TRUE);
    g_autofree char *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"plugins", NULL}, NULL, &err), 2);
    ck_assert_contains(err, "MMX_ISA=sse9: expected one of scalar, avx2, avx512");
    g_unsetenv("MMX_ISA");
}
END_TEST

START_TEST(test_check_plugin_exit_codes)
{
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"check-plugin", "activation", "--quick", NULL}, &out,
                         NULL),
        0);
    ck_assert_contains(out, "gelu     isa         ");
    ck_assert_contains(out, "summary: activation: 6 ops, 54 checks: ");
    ck_assert_contains(out, ": PASS\n");
    g_free(out);
    out = NULL;
    g_autofree char *bad = mmx_test_fixture("kit-bad-grad");
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"check-plugin", bad, "--quick", NULL}, &out, NULL), 1);
    ck_assert_contains(out, "badgrad.square gradients   FAIL  worst rel err 0.5");
    ck_assert_contains(out, ": FAIL\n");
    /* Usage, and files that do not load: 2, with the reason. */
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"check-plugin", NULL}, NULL, &err), 2);
    ck_assert_contains(err, "mmx check-plugin: give one plugin file (FILE.so) or name, or --all");
    g_free(err);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"check-plugin", "activation", "--all", NULL}, NULL, &err),
        2);
    ck_assert_contains(err, "give a plugin file or name, or --all, not both");
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"check-plugin", "actvation", NULL}, NULL,
                                      &err),
                     2);
    ck_assert_contains(err, "no plugin named 'actvation' (found: activation");
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"check-plugin", "/nonexistent/x.so", NULL},
                                      NULL, &err),
                     2);
    ck_assert_contains(err, "mmx check-plugin: cannot load /nonexistent/x.so: ");
    g_free(err);
    g_autofree char *text = mmx_test_fixture("not-shared");
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"check-plugin", text, NULL}, NULL, &err), 2);
    ck_assert_contains(err, "cannot load ");
    ck_assert_contains(err, "not-shared.so");
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"check-plugin", "activation", "--op",
                                                       "gleu", NULL},
                                      NULL, &err),
                     2);
    ck_assert_contains(err, "no op 'gleu' in the plugin (did you mean 'gelu'?); its ops: ");
}
END_TEST

/* The kit's messages: a SIMD kernel that disagrees with a reference whose own gradients
 * fail is not simply blamed; the backward check claims grad_param accumulation only for
 * an op with parameters. */
START_TEST(test_check_plugin_messages)
{
    g_autofree char *bad_ref = mmx_test_fixture("kit-bad-ref");
    g_autofree char *out = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"check-plugin", bad_ref, "--quick", NULL}, &out, NULL),
        1);
    ck_assert_contains(out, "badref.square gradients   FAIL  ");
    if (strstr(out, "badref.square isa         SKIP") == NULL) /* a CPU without AVX2 */
        ck_assert_contains(out, "\n              - the gradients check failed on the scalar "
                                "reference square_scalar itself: this mismatch may come from "
                                "the reference, not from the SIMD kernel; fix square_scalar's "
                                "backward first, then run the kit again\n");
    g_free(out);
    out = NULL;
    g_autofree char *bad_simd = mmx_test_fixture("kit-bad-simd");
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"check-plugin", bad_simd, "--quick", NULL}, &out, NULL),
        1);
    ck_assert(strstr(out, "may come from the reference") == NULL);
    g_free(out);
    out = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"check-plugin", "activation", "--op",
                                                       "gelu", "--quick", NULL},
                                      &out, NULL),
                     0);
    ck_assert_contains(out, "gelu     backward    PASS  grad_in overwritten, NULL gradients "
                            "skipped; kernels ");
    g_free(out);
    out = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"check-plugin", "linear", "--op",
                                                       "linear", "--quick", NULL},
                                      &out, NULL),
                     0);
    ck_assert_contains(out, "linear   backward    PASS  grad_in overwritten, grad_param "
                            "accumulated, NULL gradients skipped; kernels ");
}
END_TEST

START_TEST(test_check_plugin_json)
{
    g_autofree char *out = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"check-plugin", "--all", "--op", "gelu",
                                                       "--quick", "--json", NULL},
                                      &out, NULL),
                     0);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    ck_assert_msg(root != NULL, "not JSON (%s): %s", jerr.text, out);
    ck_assert(json_is_true(json_object_get(root, "passed")));
    ck_assert_int_eq(json_array_size(json_object_get(root, "load_failures")), 0);
    json_t *plugins = json_object_get(root, "plugins");
    ck_assert_int_eq(json_array_size(plugins), 1);
    json_t *rep = json_array_get(plugins, 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rep, "plugin"), "name")),
                     "activation");
    ck_assert(json_is_true(json_object_get(rep, "quick")));
    ck_assert(json_is_true(json_object_get(rep, "isolate")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rep, "summary"), "ops")),
                     1);
    json_t *op = json_array_get(json_object_get(rep, "ops"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(op, "name")), "gelu");
    ck_assert(json_is_true(json_object_get(op, "passed")));
    const char *names[] = {"examples", "schema",   "memory",  "gradients",  "backward",
                           "isa",      "workspace", "threads", "allocations"};
    json_t *checks = json_object_get(op, "checks");
    ck_assert_int_eq(json_array_size(checks), G_N_ELEMENTS(names));
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        json_t *c = json_array_get(checks, i);
        ck_assert_str_eq(json_string_value(json_object_get(c, "name")), names[i]);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(c, "status")));
    }
    json_t *grad = json_array_get(checks, 3);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(grad, "kernels"), 0)),
                     "gelu_scalar");
    ck_assert(json_real_value(json_object_get(json_object_get(grad, "worst"), "error")) < 1e-2);
    json_decref(root);
}
END_TEST

/* `mmx version --pkg-config-path`: refused from the build tree (its mmx-plugin.pc is not
 * usable) with where an install puts it; an install staged with DESTDIR and then moved
 * answers with the directory that holds its mmx-plugin.pc now. */
START_TEST(test_version_pkg_config_path)
{
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"version", "--pkg-config-path", NULL}, &out, &err), 2);
    g_autofree char *msg = g_strdup_printf(
        "mmx version: this mmx runs from its build tree (%s), which holds no usable "
        "mmx-plugin.pc: install it (meson install -C %s puts mmx-plugin.pc in ",
        g_getenv("MMX_BUILD_ROOT"), g_getenv("MMX_BUILD_ROOT"));
    ck_assert_contains(err, msg);
    ck_assert_str_eq(out, "");
    g_autofree char *meson = g_find_program_in_path("meson");
    ck_assert_msg(meson != NULL, "meson is not on PATH");
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *stage = g_build_filename(dir, "stage", NULL);
    const char *install[] = {meson, "install", "-C", g_getenv("MMX_BUILD_ROOT"), "--destdir",
                             stage, "--no-rebuild", "--quiet", NULL};
    int status = 0;
    g_free(out);
    g_free(err);
    ck_assert(g_spawn_sync(NULL, (char **)install, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                           &status, NULL));
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "meson install: %s%s", out, err);
    /* The staged prefix is the configured one under stage; move it elsewhere. */
    g_autofree char *prefix = NULL;
    g_autofree char *find = g_strdup_printf("find %s -path '*/bin/mmx' -type f", stage);
    g_autofree char *found = NULL;
    ck_assert(g_spawn_command_line_sync(find, &found, NULL, NULL, NULL));
    g_strstrip(found);
    ck_assert_msg(*found, "no bin/mmx under %s", stage);
    g_autofree char *bindir = g_path_get_dirname(found);
    prefix = g_path_get_dirname(bindir);
    g_autofree char *moved = g_build_filename(dir, "moved", NULL);
    ck_assert_int_eq(g_rename(prefix, moved), 0);
    g_autofree char *exe = g_build_filename(moved, "bin", "mmx", NULL);
    const char *ask[] = {exe, "version", "--pkg-config-path", NULL};
    g_free(out);
    g_free(err);
    ck_assert(
        g_spawn_sync(NULL, (char **)ask, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, NULL));
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "%s", err);
    g_strchomp(out);
    ck_assert_msg(g_str_has_prefix(out, moved) && g_str_has_suffix(out, "/pkgconfig"), "%s", out);
    g_autofree char *pc = g_build_filename(out, "mmx-plugin.pc", NULL);
    ck_assert_msg(g_file_test(pc, G_FILE_TEST_IS_REGULAR), "no %s", pc);
}
END_TEST

/* `mmx init`: a commented starting spec that validates and trains, copies of zoo models
 * with their name changed and nothing else, and no file overwritten. */
START_TEST(test_init)
{
    g_autofree char *dir = mmx_test_tmpdir();
    ck_assert_int_eq(g_chdir(dir), 0);
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"init", "first", NULL}, &out, &err), 0);
    ck_assert_contains(out, "wrote first.json: model 'first'");
    ck_assert_contains(out, "next: mmx validate first.json;");
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents("first.json", &text, NULL, NULL));
    ck_assert_contains(text, "\"doc\": \"Written by mmx init: ");
    ck_assert_contains(text, "\"doc\": \"token mixing: ");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", "first.json", NULL}, &out, &err), 0);
    ck_assert_contains(out, "first.json: valid model 'first': ");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", "first.json", "--data",
                                                       "synthetic:256:64", "--epochs", "1",
                                                       "--out", "run", "--quiet", NULL},
                                      &out, &err),
                     0);
    ck_assert(g_file_test("run/result.json", G_FILE_TEST_IS_REGULAR));
    /* Never overwritten. */
    g_free(out);
    g_free(err);
    ck_assert(g_file_set_contents("first.json", "mine", -1, NULL));
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"init", "first", NULL}, &out, &err), 2);
    ck_assert_str_eq(err, "mmx init: first.json already exists: nothing written (remove it, or "
                          "choose another name)\n");
    g_free(text);
    ck_assert(g_file_get_contents("first.json", &text, NULL, NULL));
    ck_assert_str_eq(text, "mine");
    /* Zoo models: the same text but the name. */
    const char *models[] = {"ffnet", "vit", "mlp-mixer"};
    for (size_t i = 0; i < G_N_ELEMENTS(models); i++) {
        g_autofree char *name = g_strdup_printf("my-%s", models[i]);
        g_autofree char *file = g_strdup_printf("%s.json", name);
        g_free(out);
        g_free(err);
        ck_assert_int_eq(
            mmx_test_run_mmx((const char *[]){"init", name, "--from", models[i], NULL}, &out, &err),
            0);
        g_autofree char *rel = g_strdup_printf("specs/models/%s.json", models[i]);
        g_autofree char *zoo_path = mmx_test_source_path(rel);
        g_autofree char *zoo = NULL, *copy = NULL;
        ck_assert(g_file_get_contents(zoo_path, &zoo, NULL, NULL));
        ck_assert(g_file_get_contents(file, &copy, NULL, NULL));
        g_autofree char *from = g_strdup_printf("\"name\": \"%s\"", models[i]);
        g_autofree char *to = g_strdup_printf("\"name\": \"%s\"", name);
        g_auto(GStrv) parts = g_strsplit(zoo, from, 2);
        g_autofree char *expected = g_strjoinv(to, parts);
        ck_assert_str_eq(copy, expected);
        g_free(out);
        g_free(err);
        ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", file, NULL}, &out, &err), 0);
        g_autofree char *valid = g_strdup_printf("valid model '%s'", name);
        ck_assert_contains(out, valid);
    }
    /* Refusals. */
    g_free(out);
    g_free(err);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"init", "x", "--from", "fnet", NULL}, &out, &err), 2);
    ck_assert_contains(err, "mmx init: --from fnet: no such model in ");
    ck_assert_contains(err, " (did you mean 'ffnet'?); the models: ");
    ck_assert(!g_file_test("x.json", G_FILE_TEST_EXISTS));
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"init", "a b", NULL}, &out, &err), 2);
    ck_assert_contains(err, "mmx init: 'a b': a model's name is letters, digits, '-', '_' and '.'");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"init", NULL}, &out, &err), 2);
    ck_assert_contains(err, "mmx init: give the new model's name (mmx init NAME [--from MODEL])");
}
END_TEST

/* tools/demo (what `tools/bootstrap demo` runs) on a one-trial sweep of the synthetic set:
 * the sweep, then the report, whose table is printed once. */
START_TEST(test_demo_prints_report_once)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(mini, &text, NULL, NULL));
    json_t *base = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(base);
    json_object_set_new(base, "train",
                        json_pack("{ss si si}", "data", "synthetic:256:128", "epochs", 1,
                                  "batch", 64));
    g_autofree char *base_path = g_build_filename(dir, "base.json", NULL);
    ck_assert_int_eq(json_dump_file(base, base_path, 0), 0);
    json_decref(base);
    g_autofree char *sweep = g_build_filename(dir, "sweep.json", NULL);
    ck_assert(g_file_set_contents(
        sweep, "{\"mmx_sweep\": 1, \"name\": \"tiny\", \"base\": \"base.json\", \"seeds\": [0]}",
        -1, NULL));
    g_autofree char *out_dir = g_build_filename(dir, "out", NULL);
    g_autofree char *demo = mmx_test_source_path("tools/demo");
    const char *argv[] = {"bash", demo, g_getenv("MMX_BUILD_ROOT"), out_dir, sweep, NULL};
    g_autofree char *out = NULL, *err = NULL;
    int status = 0;
    g_autoptr(GError) error = NULL;
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, &status, &error),
                  "%s", error ? error->message : "");
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "tools/demo failed:\n%s\n%s", out, err);
    ck_assert_contains(out, "sweep tiny: 1 of 1 trials finished");
    const char *header = "| variant | seeds | test acc % (mean ± std) |";
    const char *first = strstr(out, header);
    ck_assert_msg(first != NULL, "no report table in:\n%s", out);
    ck_assert_msg(strstr(first + 1, header) == NULL, "the table is printed twice:\n%s", out);
    ck_assert_contains(out, "# Sweep report: tiny");
    ck_assert_contains(out, "demo: report: ");
}
END_TEST

/* mmx generate: a tiny language model trained by mmx train continues a prompt; the same
 * seed gives the same bytes, greedy decoding needs none, and bad requests are refused. */
START_TEST(test_generate)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *spec = mmx_test_data_path("specs/train/lm-mini.json");
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    g_autofree char *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", spec, "--out", run, "--quiet", NULL},
                                      NULL, &err),
                     0);
    g_autofree char *ck = g_build_filename(run, "final.safetensors", NULL);
    char *outs[3] = {NULL, NULL, NULL};
    const char *seeds[3] = {"7", "7", "8"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"generate", spec, "--weights", ck,
                                                           "--prompt", "The cat", "--tokens", "60",
                                                           "--top-k", "20", "--seed", seeds[i],
                                                           NULL},
                                          &outs[i], NULL),
                         0);
        ck_assert(g_str_has_prefix(outs[i], "The cat"));
        ck_assert_int_eq(strlen(outs[i]), 7 + 60 + 1);
    }
    ck_assert_str_eq(outs[0], outs[1]);
    ck_assert_str_ne(outs[0], outs[2]);
    for (int i = 0; i < 3; i++)
        g_free(outs[i]);
    g_autofree char *g1 = NULL, *g2 = NULL;
    const char *greedy[] = {"generate", spec, "--weights", ck, "--prompt", "A dog", "--tokens",
                            "40", "--temperature", "0", NULL};
    ck_assert_int_eq(mmx_test_run_mmx(greedy, &g1, NULL), 0);
    greedy[9] = "0.0";
    ck_assert_int_eq(mmx_test_run_mmx(greedy, &g2, NULL), 0);
    ck_assert_str_eq(g1, g2);
    g_autofree char *e1 = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"generate", spec, "--weights", ck,
                                                       "--prompt", "", NULL},
                                      NULL, &e1),
                     2);
    ck_assert_contains(e1, "mmx generate: generate: the prompt is empty");
    g_autofree char *e2 = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"generate", spec, "--weights", ck,
                                                       "--prompt", "x", "--top-k", "300", NULL},
                                      NULL, &e2),
                     2);
    ck_assert_contains(e2, "top-k must be 0 (off) to 256");
    g_autofree char *e3 = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"generate", spec, "--prompt", "x", NULL},
                                      NULL, &e3),
                     2);
    ck_assert_contains(e3, "expected SPEC --weights FILE --prompt TEXT");
    g_autofree char *e4 = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"eval", spec, "--weights", ck, NULL}, NULL,
                                      &e4),
                     2);
    ck_assert_contains(e4, "lm-mini.json is a language model (task lm): eval scores image "
                           "classifiers");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("plugins");
    tcase_add_test(tc, test_help_and_usage);
    tcase_add_test(tc, test_plugins_json_kernels);
    tcase_add_test(tc, test_plugins_bad_plugin_reported);
    tcase_add_test(tc, test_plugin_option_must_load);
    tcase_add_test(tc, test_bad_isa_env_is_usage_error);
    suite_add_tcase(s, tc);
    TCase *check = tcase_create("check-plugin");
    tcase_add_test(check, test_check_plugin_exit_codes);
    tcase_add_test(check, test_check_plugin_json);
    tcase_add_test(check, test_check_plugin_messages);
    suite_add_tcase(s, check);
    TCase *version = tcase_create("version");
    tcase_add_test(version, test_version_pkg_config_path);
    suite_add_tcase(s, version);
    TCase *init = tcase_create("init");
    tcase_add_test(init, test_init);
    suite_add_tcase(s, init);
    TCase *demo = tcase_create("demo");
    tcase_add_test(demo, test_demo_prints_report_once);
    TCase *gen = tcase_create("generate");
    tcase_add_test(gen, test_generate);
    suite_add_tcase(s, gen);
    suite_add_tcase(s, demo);
    return mmx_test_run(s);
}
