/* test-new-plugin.c: `mmx new-plugin`: the project it writes, the names and directories it
 * refuses (each with its message), and the template itself, built in-tree as the plugin
 * mmxtemplate (tests/meson.build), through the conformance kit and with its demo spec.
 * Building a generated project against an installed SDK is tests/sdk/test-sdk.sh. */
#include <string.h>
#include <unistd.h>

#include "test-util.h"

static char *
read_text(const char *dir, const char *file)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    char *text = NULL;
    ck_assert_msg(g_file_get_contents(path, &text, NULL, NULL), "cannot read %s", path);
    return text;
}

START_TEST(test_writes_project)
{
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *dir = g_build_filename(tmp, "proj", NULL);
    g_autofree char *out = NULL, *err = NULL;
    int rc = mmx_test_run_mmx((const char *[]){"new-plugin", "tgate", "--dir", dir, "--json", NULL},
                              &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    json_t *root = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(json_string_value(json_object_get(root, "plugin")), "tgate");
    ck_assert_str_eq(json_string_value(json_object_get(root, "op")), "tgate.scale");
    ck_assert_int_eq(json_array_size(json_object_get(root, "files")), 10);
    json_decref(root);

    const char *files[] = {"meson.build",     "README.md",       ".gitignore", "tgate.c",
                           "channelwise.h",   "channelwise.c",   "scale.c",    "scale-avx2.c",
                           "tgate-demo.json", "tgate-sweep.json"};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *text = read_text(dir, files[i]);
        ck_assert_msg(strstr(text, "mmxtemplate") == NULL && strstr(text, "MMXTEMPLATE") == NULL,
                      "%s still names the template", files[i]);
    }
    g_autofree char *c = read_text(dir, "scale.c");
    ck_assert_contains(c, ".name = \"tgate.scale\"");
    ck_assert_contains(c, "const mmx_op_desc tgate_scale_op = {");
    g_autofree char *p = read_text(dir, "tgate.c");
    ck_assert_contains(p, "#include <mmx/mmx-plugin.h>");
    ck_assert_contains(p, "MMX_PLUGIN_DEFINE(\"tgate\", \"0.1.0\",\n"
                          "                  \"tgate: ops made with mmx new-plugin\",\n"
                          "                  &tgate_scale_op);");
    g_autofree char *h = read_text(dir, "channelwise.h");
    ck_assert_contains(h, "#ifndef TGATE_CHANNELWISE_H");
    g_autofree char *mb = read_text(dir, "meson.build");
    ck_assert_contains(mb, "project('tgate'");
    ck_assert_contains(mb, "dependency('mmx-plugin')");
    ck_assert_contains(mb, "get_variable(pkgconfig: 'pluginsdir')");
    ck_assert_contains(mb, "'check-plugin'");
    ck_assert_contains(mb, "c_args: ['-mavx2', '-mfma']");
    ck_assert_contains(mb, "plugin_sources = files('tgate.c', 'channelwise.c', 'scale.c')");
    g_autofree char *spec = read_text(dir, "tgate-demo.json");
    ck_assert_contains(spec, "\"plugins\": [\"tgate\"]");
    ck_assert_contains(spec, "\"op\": \"tgate.scale\"");
    g_autofree char *sweep = read_text(dir, "tgate-sweep.json");
    ck_assert_contains(sweep, "\"base\": \"tgate-demo.json\"");

    /* An existing empty directory is fine; the text output lists the files. */
    g_autofree char *empty = g_build_filename(tmp, "empty", NULL);
    ck_assert_int_eq(g_mkdir_with_parents(empty, 0755), 0);
    g_free(out);
    out = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"new-plugin", "other", "--dir", empty, NULL}, &out, NULL),
        0);
    ck_assert_contains(out, "wrote the plugin 'other' (op 'other.scale')");
    ck_assert_contains(out, "scale-avx2.c");
}
END_TEST

/* --kind elementwise: an activation without parameters; the common files are the same. */
START_TEST(test_writes_elementwise_project)
{
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *dir = g_build_filename(tmp, "proj", NULL);
    g_autofree char *out = NULL, *err = NULL;
    int rc = mmx_test_run_mmx(
        (const char *[]){"new-plugin", "tact", "--kind", "elementwise", "--dir", dir, "--json",
                         NULL},
        &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    json_t *root = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(json_string_value(json_object_get(root, "kind")), "elementwise");
    ck_assert_str_eq(json_string_value(json_object_get(root, "op")), "tact.sqrelu");
    ck_assert_int_eq(json_array_size(json_object_get(root, "files")), 9);
    json_decref(root);

    const char *files[] = {"meson.build",    "README.md",     ".gitignore",     "tact.c",
                           "elementwise.h",  "sqrelu.c",      "sqrelu-avx2.c",  "tact-demo.json",
                           "tact-sweep.json"};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *text = read_text(dir, files[i]);
        ck_assert_msg(strstr(text, "mmxtemplate") == NULL && strstr(text, "MMXTEMPLATE") == NULL &&
                          strstr(text, "@about@") == NULL && strstr(text, "_sources@") == NULL,
                      "%s still names the template or a placeholder", files[i]);
    }
    g_autofree char *about = g_build_filename(dir, "about.md", NULL);
    ck_assert(!g_file_test(about, G_FILE_TEST_EXISTS));
    g_autofree char *c = read_text(dir, "sqrelu.c");
    ck_assert_contains(c, ".name = \"tact.sqrelu\"");
    ck_assert_contains(c, ".flags = MMX_OP_ELEMENTWISE,");
    ck_assert(strstr(c, ".params =") == NULL && strstr(c, ".attrs =") == NULL);
    g_autofree char *p = read_text(dir, "tact.c");
    ck_assert_contains(p, "&tact_sqrelu_op);");
    g_autofree char *mb = read_text(dir, "meson.build");
    ck_assert_contains(mb, "plugin_sources = files('tact.c', 'sqrelu.c')");
    ck_assert_contains(mb, "avx2_sources = files('sqrelu-avx2.c')");
    g_autofree char *readme = read_text(dir, "README.md");
    ck_assert_contains(readme, "# tact: an operator plugin for mmx\n\nMade by `mmx new-plugin "
                               "--kind elementwise tact`. One op, `tact.sqrelu`");
    g_autofree char *spec = read_text(dir, "tact-demo.json");
    ck_assert_contains(spec, "\"activation\": {\"op\": \"tact.sqrelu\"}");

    /* The text output names the op of the kind. */
    g_autofree char *other = g_build_filename(tmp, "other", NULL);
    g_free(out);
    out = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"new-plugin", "other", "--kind",
                                                       "elementwise", "--dir", other, NULL},
                                      &out, NULL),
                     0);
    ck_assert_contains(out, "wrote the plugin 'other' (op 'other.sqrelu')");
}
END_TEST

/* Each refused name exits 2 with its reason and writes nothing. */
static void
assert_refused(const char *name, const char *message)
{
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *dir = g_build_filename(tmp, "p", NULL);
    g_autofree char *err = NULL;
    int rc = mmx_test_run_mmx((const char *[]){"new-plugin", name, "--dir", dir, NULL}, NULL, &err);
    ck_assert_msg(rc == 2, "'%s': exit %d, expected 2: %s", name, rc, err);
    ck_assert_contains(err, message);
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
}

START_TEST(test_refuses_names)
{
    assert_refused("", "mmx new-plugin: the plugin name is empty");
    assert_refused("My-Gate", "plugin name 'My-Gate' is not lower_snake_case: it must start with "
                              "a lowercase letter");
    assert_refused("9lives", "plugin name '9lives' is not lower_snake_case");
    assert_refused("my.gate", "plugin name 'my.gate' is not lower_snake_case");
    assert_refused("a_very_long_plugin_name_that_goes_on_and_on",
                   "is 43 characters long; at most 40");
    /* A shipped plugin's name: the two files would shadow each other. */
    assert_refused("linear", "a plugin named 'linear' already exists (");
    assert_refused("linear", "linear.so); choose another name: two files named linear.so");
}
END_TEST

START_TEST(test_refuses_existing_and_usage)
{
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *keep = g_build_filename(tmp, "keep.txt", NULL);
    ck_assert(g_file_set_contents(keep, "mine\n", -1, NULL));
    g_autofree char *err = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"new-plugin", "x", "--dir", tmp, NULL}, NULL, &err), 2);
    ck_assert_contains(err, "exists and is not empty; not overwriting anything in it");
    g_autofree char *kept = NULL;
    ck_assert(g_file_get_contents(keep, &kept, NULL, NULL));
    ck_assert_str_eq(kept, "mine\n");
    g_autoptr(GDir) d = g_dir_open(tmp, 0, NULL);
    ck_assert_str_eq(g_dir_read_name(d), "keep.txt");
    ck_assert_ptr_null(g_dir_read_name(d));

    g_free(err);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"new-plugin", "x", "--dir", keep, NULL}, NULL, &err), 2);
    ck_assert_contains(err, "keep.txt exists and is not a directory");
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"new-plugin", NULL}, NULL, &err), 2);
    ck_assert_contains(err, "give one plugin name (lower_snake_case)");
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"new-plugin", "a", "b", NULL}, NULL, &err),
                     2);
    ck_assert_contains(err, "give one plugin name");

    /* An unknown kind, and a name whose NAME.c is a file of the kind's project. */
    g_autofree char *dir = g_build_filename(tmp, "k", NULL);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"new-plugin", "x", "--kind", "gate",
                                                       "--dir", dir, NULL},
                                      NULL, &err),
                     2);
    ck_assert_contains(err, "mmx new-plugin: unknown --kind 'gate': give channelwise (an op with "
                            "a parameter per channel) or elementwise (an activation without "
                            "parameters)");
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"new-plugin", "sqrelu", "--kind",
                                                       "elementwise", "--dir", dir, NULL},
                                      NULL, &err),
                     2);
    ck_assert_contains(err, "plugin name 'sqrelu' would name the plugin's file sqrelu.c, but the "
                            "elementwise project already has a file sqrelu.c; choose another name");
    g_free(err);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"new-plugin", "channelwise", "--dir", dir, NULL}, NULL,
                         &err),
        2);
    ck_assert_contains(err, "already has a file channelwise.c");
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
}
END_TEST

/* The template is a working plugin: its descriptor is what MMX_PLUGIN_DEFINE promises, and
 * the whole kit passes on it, on every kernel this CPU runs (scalar and AVX2). */
START_TEST(test_template_passes_kit)
{
    const char *path = g_getenv("MMX_TEMPLATE_PLUGIN");
    ck_assert_ptr_nonnull(path);
    g_autoptr(mmx_registry) reg = mmx_registry_new();
    g_autoptr(GError) error = NULL;
    ck_assert_msg(mmx_registry_load(reg, path, &error), "%s", error ? error->message : "");
    /* The descriptor MMX_PLUGIN_DEFINE wrote, field by field. */
    const mmx_plugin *plugin = mmx_registry_find_plugin(reg, "mmxtemplate");
    ck_assert_ptr_nonnull(plugin);
    const mmx_plugin_desc *d = mmx_plugin_get_desc(plugin);
    ck_assert_uint_eq(d->struct_size, sizeof(mmx_plugin_desc));
    ck_assert_uint_eq(d->abi_major, MMX_PLUGIN_ABI_MAJOR);
    ck_assert_uint_eq(d->abi_minor, MMX_PLUGIN_ABI_MINOR);
    ck_assert_str_eq(d->name, "mmxtemplate");
    ck_assert_str_eq(d->version, "0.1.0");
    ck_assert_str_eq(d->doc, "mmxtemplate: ops made with mmx new-plugin");
    ck_assert_uint_eq(d->n_ops, 1);
    ck_assert_str_eq(d->ops[0]->name, "mmxtemplate.scale");
    g_autoptr(mmx_check_report) r = mmx_check_run(reg, plugin,
                                                  &(mmx_check_options){.quick = true});
    mmx_test_assert_check_passed(r);
}
END_TEST

/* The elementwise template: an op without parameters or attributes, which the kit passes
 * and the executor may fuse (the flag is declared and kept). */
START_TEST(test_elementwise_template_passes_kit)
{
    const char *path = g_getenv("MMX_TEMPLATE_ELEMENTWISE_PLUGIN");
    ck_assert_ptr_nonnull(path);
    g_autoptr(mmx_registry) reg = mmx_registry_new();
    g_autoptr(GError) error = NULL;
    ck_assert_msg(mmx_registry_load(reg, path, &error), "%s", error ? error->message : "");
    const mmx_plugin *plugin = mmx_registry_find_plugin(reg, "mmxtemplate");
    ck_assert_ptr_nonnull(plugin);
    const mmx_plugin_desc *d = mmx_plugin_get_desc(plugin);
    ck_assert_uint_eq(d->n_ops, 1);
    const mmx_op_desc *op = d->ops[0];
    ck_assert_str_eq(op->name, "mmxtemplate.sqrelu");
    ck_assert_uint_eq(op->n_params, 0);
    ck_assert_ptr_null(op->params);
    ck_assert_uint_eq(op->n_attrs, 0);
    ck_assert_ptr_null(op->attrs);
    ck_assert_uint_eq(op->flags, MMX_OP_ELEMENTWISE);
    g_autoptr(mmx_check_report) r = mmx_check_run(reg, plugin,
                                                  &(mmx_check_options){.quick = true});
    mmx_test_assert_check_passed(r);
}
END_TEST

/* A kind's template demo spec and sweep are valid with its plugin alone on the path, and
 * the sweep's dry run plans `trials` trials naming `arm`. */
static void
assert_spec_and_sweep(const char *plugin_env, const char *folder, const char *trials,
                      const char *arm)
{
    /* A directory with the template plugin alone (its build directory also holds the
     * broken fixtures). */
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *link = g_build_filename(dir, "mmxtemplate.so", NULL);
    ck_assert_int_eq(symlink(g_getenv(plugin_env), link), 0);
    g_setenv("MMX_PLUGIN_PATH", dir, TRUE);
    g_autofree char *spec = mmx_test_source_path(folder);
    g_autofree char *sweep = g_build_filename(spec, "mmxtemplate-sweep.json", NULL);
    g_autofree char *demo = g_build_filename(spec, "mmxtemplate-demo.json", NULL);
    g_autofree char *out = NULL, *err = NULL;
    int rc = mmx_test_run_mmx((const char *[]){"validate", demo, NULL}, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s%s", rc, out, err);
    ck_assert_contains(out, "valid model 'mmxtemplate-demo'");
    g_free(out);
    g_free(err);
    rc = mmx_test_run_mmx((const char *[]){"sweep", sweep, "--dry-run", NULL}, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s%s", rc, out, err);
    ck_assert_contains(out, trials);
    ck_assert_contains(out, arm);
}

START_TEST(test_template_spec_and_sweep)
{
    assert_spec_and_sweep("MMX_TEMPLATE_PLUGIN", "tools/mmx/new-plugin", "6 trials: 6 to run",
                          "no-scale");
}
END_TEST

START_TEST(test_elementwise_template_spec_and_sweep)
{
    assert_spec_and_sweep("MMX_TEMPLATE_ELEMENTWISE_PLUGIN", "tools/mmx/new-plugin/elementwise",
                          "4 trials: 4 to run", "gelu");
}
END_TEST

/* docs/plugin-guide.md quotes the kit's real output on the broken fixtures: every line of
 * each block marked "<!-- output of: mmx check-plugin build/tests/fixtures/NAME.so -->"
 * must be a line of what mmx check-plugin prints for that fixture now. (The tutorial's
 * own outputs are held by tests/sdk/test-sdk.sh, which runs the guide's commands.) */
START_TEST(test_guide_quotes_real_output)
{
    g_autofree char *path = mmx_test_source_path("docs/plugin-guide.md");
    g_autofree char *guide = NULL;
    ck_assert(g_file_get_contents(path, &guide, NULL, NULL));
    g_auto(GStrv) lines = g_strsplit(guide, "\n", -1);
    const char *marker = "<!-- output of: mmx check-plugin build/tests/fixtures/";
    int blocks = 0;
    for (char **l = lines; *l; l++) {
        if (!g_str_has_prefix(*l, marker))
            continue;
        g_autofree char *name = g_strdup(*l + strlen(marker));
        char *so = strstr(name, ".so -->");
        ck_assert_msg(so != NULL, "bad marker: %s", *l);
        *so = '\0';
        ck_assert_msg(l[1] && strcmp(l[1], "```text") == 0, "no text block after %s", *l);
        g_autofree char *fixture = mmx_test_fixture(name);
        g_autofree char *out = NULL;
        mmx_test_run_mmx((const char *[]){"check-plugin", fixture, NULL}, &out, NULL);
        g_autofree char *wrapped = g_strconcat("\n", out, NULL);
        int quoted = 0;
        for (char **q = l + 2; *q && strcmp(*q, "```") != 0; q++, quoted++) {
            g_autofree char *want = g_strconcat("\n", *q, "\n", NULL);
            ck_assert_msg(strstr(wrapped, want) != NULL,
                          "docs/plugin-guide.md quotes for %s.so a line mmx check-plugin no "
                          "longer prints:\n%s\nIt prints:\n%s",
                          name, *q, out);
        }
        ck_assert_int_gt(quoted, 0);
        blocks++;
    }
    ck_assert_int_eq(blocks, 3); /* bad-grad, read-past, param-shape */
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("new-plugin");
    TCase *tc = tcase_create("project");
    tcase_add_test(tc, test_writes_project);
    tcase_add_test(tc, test_writes_elementwise_project);
    tcase_add_test(tc, test_refuses_names);
    tcase_add_test(tc, test_refuses_existing_and_usage);
    suite_add_tcase(s, tc);
    tc = tcase_create("template");
    tcase_add_test(tc, test_template_passes_kit);
    tcase_add_test(tc, test_template_spec_and_sweep);
    tcase_add_test(tc, test_elementwise_template_passes_kit);
    tcase_add_test(tc, test_elementwise_template_spec_and_sweep);
    suite_add_tcase(s, tc);
    tc = tcase_create("guide");
    tcase_add_test(tc, test_guide_quotes_real_output);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
