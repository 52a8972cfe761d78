/* test-validate.c: `mmx validate` and `mmx info`: exit status 2 and the expected
 * `file:line:col: /pointer: message` on stderr for every spec of the broken corpus, the
 * good specs, --set, --json, and `mmx info` figures against hand-computed values. */
#include <string.h>

#include "test-util.h"

typedef struct expectation {
    char *file, *pos, *pointer, *message;
} expectation;

static GPtrArray *expectations;

static void
expectation_free(gpointer p)
{
    expectation *e = p;
    g_free(e->file);
    g_free(e->pos);
    g_free(e->pointer);
    g_free(e->message);
    g_free(e);
}

static void
read_expectations(void)
{
    g_autofree char *path = mmx_test_data_path("specs/broken/expected.txt");
    g_autofree char *text = NULL;
    expectations = g_ptr_array_new_with_free_func(expectation_free);
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, "\t", 4);
        if (**l == '#' || g_strv_length(f) != 4)
            continue;
        expectation *e = g_new0(expectation, 1);
        e->file = g_strdup(f[0]);
        e->pos = g_strdup(f[1]);
        e->pointer = g_strdup(f[2]);
        e->message = g_strdup(f[3]);
        g_ptr_array_add(expectations, e);
    }
}

START_TEST(test_validate_broken)
{
    const expectation *e = expectations->pdata[_i];
    g_autofree char *rel = g_build_filename("specs", "broken", e->file, NULL);
    g_autofree char *path = mmx_test_data_path(rel);
    g_autofree char *good = mmx_test_fixture("good");
    g_autofree char *out = NULL, *err = NULL;
    int rc =
        mmx_test_run_mmx((const char *[]){"validate", "--plugin", good, path, NULL}, &out, &err);
    ck_assert_msg(rc == 2, "%s: exit %d\n%s", e->file, rc, err);
    bool prefix = g_str_has_suffix(e->pointer, "...");
    g_autofree char *ptr =
        prefix ? g_strndup(e->pointer, strlen(e->pointer) - 3) : g_strdup(e->pointer);
    g_autofree char *head = g_strdup_printf("%s:%s: %s%s", path, e->pos, ptr, prefix ? "" : ": ");
    bool found = false;
    g_auto(GStrv) lines = g_strsplit(err, "\n", -1);
    for (char **l = lines; *l && !found; l++)
        found = g_str_has_prefix(*l, head) && strstr(*l, e->message);
    ck_assert_msg(found, "%s: expected \"%s...%s\" on stderr; got:\n%s", e->file, head, e->message,
                  err);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_validate_good_and_json)
{
    g_autofree char *small = mmx_test_data_path("specs/small.json");
    g_autofree char *broken = mmx_test_data_path("specs/broken/unknown-op.json");
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", small, NULL}, &out, &err), 0);
    ck_assert_contains(out, "valid model 'small': 13 nodes, 653 parameters, 5749 FLOPs per sample");
    ck_assert_str_eq(err, "");
    g_free(out);
    g_free(err);
    /* Several specs: one broken one makes the exit status 2; --json reports each. */
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"validate", "--json", small, broken, NULL}, &out, &err),
        2);
    ck_assert_contains(err, "unknown op 'gleu'");
    json_t *report = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(report);
    ck_assert_int_eq(json_array_size(report), 2);
    json_t *a = json_array_get(report, 0), *b = json_array_get(report, 1);
    ck_assert(json_is_true(json_object_get(a, "valid")));
    ck_assert_str_eq(json_string_value(json_object_get(a, "kind")), "model");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "params")), 653);
    ck_assert(json_is_false(json_object_get(b, "valid")));
    json_t *e0 = json_array_get(json_object_get(b, "errors"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e0, "line")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(e0, "col")), 19);
    ck_assert_str_eq(json_string_value(json_object_get(e0, "pointer")), "/stem/0/op");
    json_decref(report);
}
END_TEST

START_TEST(test_validate_set_and_usage)
{
    g_autofree char *small = mmx_test_data_path("specs/small.json");
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"validate", "--set", "/vars/dim=4", small, NULL}, &out,
                         &err),
        0);
    /* dim 4: stem 3*4+4 = 16, blocks 2*(4*8+8 + 8*4+4 + 4) = 160, head 4*5+5 = 25. */
    ck_assert_contains(out, "201 parameters");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"validate", "--set", "/train/lr=0", small, NULL}, &out,
                         &err),
        2);
    ck_assert_contains(err,
                       "/train/lr: \"lr\": expected a number in (0, 10], got 0 (the value comes "
                       "from --set /train/lr=0)");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", NULL}, &out, &err), 2);
    ck_assert_contains(err, "no spec given");
    g_free(out);
    g_free(err);
    /* A sweep spec is recognized by its key and checked with every trial's model. */
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *base = g_build_filename(dir, "small.json", NULL);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(small, &text, NULL, NULL));
    ck_assert(g_file_set_contents(base, text, -1, NULL));
    g_autofree char *sweep = g_build_filename(dir, "s.json", NULL);
    ck_assert(g_file_set_contents(sweep, "{\n  \"mmx_sweep\": 1\n}\n", -1, NULL));
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", sweep, NULL}, &out, &err), 2);
    ck_assert_contains(err, "s.json:1:1: /: missing key 'base'");
    ck_assert(g_file_set_contents(sweep,
                                  "{\"mmx_sweep\": 1, \"name\": \"sw\", \"base\": \"small.json\", "
                                  "\"grid\": {\"/vars/dim\": [4, 8]}}",
                                  -1, NULL));
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", sweep, NULL}, &out, &err), 0);
    ck_assert_contains(out, "valid sweep 'sw': 2 trials (2 to run");
    ck_assert(g_file_set_contents(sweep,
                                  "{\"mmx_sweep\": 1, \"name\": \"sw\", \"base\": \"small.json\", "
                                  "\"ablation\": {\"baseline\": {}, \"changes\": {\"typo\": "
                                  "{\"/defs/ffn/mixer/key/op\": \"gleu\"}}}}",
                                  -1, NULL));
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", sweep, NULL}, &out, &err), 2);
    ck_assert_contains(err, "s.json: trial 1 (typo, seed 0): ");
    ck_assert_contains(err, "/defs/ffn/mixer/key/op: unknown op 'gleu' (did you mean 'gelu'?)");
}
END_TEST

START_TEST(test_info_figures)
{
    g_autofree char *small = mmx_test_data_path("specs/small.json");
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"info", small, "--batch", "4", "--json", NULL}, &out,
                         &err),
        0);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", jerr.text, out);
    json_t *t = json_object_get(root, "totals");
    /* Hand-computed (tests/core/test-graph.c has the derivation): 653 parameters and 5749
     * FLOPs per sample. Activations at batch 4: outputs of 32 (stem) + 2 x (64 + 64 + 32
     * + 32 + 32) (blocks) + 8 + 5 (head) = 493 floats per sample, x 4 bytes x 4 samples. */
    ck_assert_int_eq(json_integer_value(json_object_get(t, "params")), 653);
    ck_assert_int_eq(json_integer_value(json_object_get(t, "param_bytes")), 653 * 4);
    ck_assert_double_eq_tol(json_real_value(json_object_get(t, "flops")), 5749, 1e-9);
    ck_assert_int_eq(json_integer_value(json_object_get(t, "activation_bytes")), 493 * 16);
    ck_assert_int_eq(json_integer_value(json_object_get(t, "nodes")), 13);
    json_t *nodes = json_object_get(root, "nodes");
    json_t *key = json_array_get(nodes, 1);
    ck_assert_str_eq(json_string_value(json_object_get(key, "name")), "blocks.0.mixer.key");
    ck_assert_str_eq(json_string_value(json_object_get(key, "op")), "linear");
    ck_assert_int_eq(json_integer_value(json_object_get(key, "params")), 144);
    ck_assert_double_eq_tol(json_real_value(json_object_get(key, "flops")), 1088, 1e-9);
    ck_assert_int_eq(json_integer_value(json_object_get(key, "activation_bytes")), 64 * 16);
    json_t *dims = json_object_get(json_object_get(key, "output"), "dims");
    ck_assert_int_eq(json_integer_value(json_array_get(dims, 1)), 16);
    ck_assert_contains(json_string_value(json_object_get(root, "convention")),
                       "2 per multiply-add");
    json_decref(root);
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"info", small, NULL}, &out, &err), 0);
    ck_assert_contains(out, "blocks.1.mixer.value");
    ck_assert_contains(out, "653 parameters");
    ck_assert_contains(out, "(5749)");
    ck_assert_contains(out, "FLOPs: per sample, forward only");
    g_free(out);
    g_free(err);
    g_autofree char *broken = mmx_test_data_path("specs/broken/shape-heads.json");
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"info", broken, NULL}, &out, &err), 2);
    ck_assert_contains(err, "/blocks/0/mixer/key: blocks.0.mixer.key: attention.scores");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"info", small, "--batch", "0", NULL}, &out, &err), 2);
    ck_assert_contains(err, "--batch must be at least 1");
}
END_TEST

START_TEST(test_info_ties)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "hop.json", NULL);
    ck_assert(g_file_set_contents(
        path,
        "{\"mmx\": 1, \"name\": \"hop\", \"input\": {\"shape\": [4, 4, 3], \"classes\": 10},"
        " \"stem\": [{\"op\": \"linear\", \"out\": 8}],"
        " \"blocks\": [{\"mixer\": {\"axis\": \"token\", \"key\": {\"op\": \"linear\", \"out\": 6,"
        " \"bias\": false}, \"activation\": {\"op\": \"gelu\"}, \"value\": {\"op\": \"linear\","
        " \"out\": 16, \"bias\": false, \"transpose\": true, \"tie\": \"key.weight\"}}}],"
        " \"head\": [{\"op\": \"select_token\"}, {\"op\": \"linear\", \"out\": 10}]}",
        -1, NULL));
    g_autofree char *out = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"info", path, "--json", NULL}, &out, NULL),
                     0);
    json_t *root = json_loads(out, 0, NULL);
    json_t *v = json_array_get(json_object_get(root, "nodes"), 3);
    ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "blocks.0.mixer.value");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "params")), 0);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(v, "tied"), 0)),
                     "blocks.0.mixer.value.weight -> blocks.0.mixer.key.weight");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(root, "totals"), "params")),
                     32 + 96 + 90);
    json_decref(root);
}
END_TEST

/* A model spec without "train" is trained, benchmarked and validated from flags: --set
 * creates the missing object; a --set that cannot apply says why in the user's terms. */
START_TEST(test_flags_without_train)
{
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(mini, &text, NULL, NULL));
    json_t *doc = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(json_object_del(doc, "train"), 0);
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *spec = g_build_filename(dir, "no-train.json", NULL);
    ck_assert_int_eq(json_dump_file(doc, spec, JSON_INDENT(2)), 0);
    json_decref(doc);
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    g_autofree char *out = NULL, *err = NULL;
    int rc = mmx_test_run_mmx((const char *[]){"train", spec, "--data", "synthetic:256:64",
                                               "--epochs", "1", "--out", run, "--quiet", NULL},
                              &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    g_autofree char *config = g_build_filename(run, "config.json", NULL);
    json_t *cfg = json_load_file(config, 0, NULL);
    ck_assert_ptr_nonnull(cfg);
    g_autofree char *cfg_text = json_dumps(cfg, JSON_COMPACT);
    json_decref(cfg);
    ck_assert_contains(cfg_text, "\"epochs\":1");
    ck_assert_contains(cfg_text, "\"data\":\"synthetic:256:64\"");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"bench", spec, "--steps", "1", "--warmup",
                                                       "0", "--batch", "4", "--set", "/train/lr=0.01",
                                                       NULL},
                                      &out, &err),
                     0);
    /* A misspelt object is created, then named by the reader. */
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", spec, "--set",
                                                       "/trian/epochs=1", NULL},
                                      &out, &err),
                     2);
    ck_assert_contains(err, "/trian: unknown key 'trian' in a model spec (did you mean 'train'?)");
    /* What cannot be created: an array element past the end, a member of a string. */
    g_free(out);
    g_free(err);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"validate", spec, "--set", "/stem/5/x=1", NULL}, &out,
                         &err),
        2);
    g_autofree char *m1 = g_strdup_printf(
        "%s: --set '/stem/5/x=1': /stem/5 does not exist (/stem is an array of 1 element)\n",
        spec);
    ck_assert_contains(err, m1);
    g_free(out);
    g_free(err);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"validate", spec, "--set", "/name/x=1", NULL}, &out,
                         &err),
        2);
    g_autofree char *m2 =
        g_strdup_printf("%s: --set '/name/x=1': /name is a string, not an object or an array\n",
                        spec);
    ck_assert_contains(err, m2);
}
END_TEST

static void
copy_file(const char *from, const char *to)
{
    g_autofree char *dir = g_path_get_dirname(to);
    ck_assert_int_eq(g_mkdir_with_parents(dir, 0755), 0);
    g_autofree char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(from, &data, &len, NULL));
    ck_assert(g_file_set_contents(to, data, (gssize)len, NULL));
}

/* A spec naming plugin 'good' (tests/fixtures/fixture-good.c) in DIR/spec.json. */
static char *
good_spec(const char *dir)
{
    char *path = g_build_filename(dir, "spec.json", NULL);
    ck_assert(g_file_set_contents(path,
                                  "{\"mmx\": 1, \"name\": \"t\", \"plugins\": [\"good\"],\n"
                                  " \"input\": {\"shape\": [4, 4, 3], \"classes\": 10},\n"
                                  " \"stem\": [{\"op\": \"good.copy\"}],\n"
                                  " \"head\": [{\"op\": \"mean_tokens\"}, {\"op\": \"linear\", \"out\": 10}]}\n",
                                  -1, NULL));
    return path;
}

/* The plugin search of docs/cli.md: a spec's plugin name is found in a directory of
 * MMX_PLUGIN_PATH or one level down (DIR/build/NAME.so), not deeper; the not-found
 * message says exactly that and names a NAME.so that was refused; the ops of a missing
 * plugin are said to be missing with it. */
START_TEST(test_plugin_search)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *good = mmx_test_fixture("good");
    g_autofree char *spec = good_spec(dir);
    g_autofree char *proj = g_build_filename(dir, "proj", NULL);
    g_autofree char *one_down = g_build_filename(proj, "build", "good.so", NULL);
    copy_file(good, one_down);
    g_autofree char *out = NULL, *err = NULL;
    g_setenv("MMX_PLUGIN_PATH", proj, TRUE);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", spec, NULL}, &out, &err), 0);
    ck_assert_contains(out, "valid model 't'");
    g_free(out);
    g_free(err);
    /* Two levels down is not searched. */
    g_autofree char *deep = g_build_filename(dir, "deep", NULL);
    g_autofree char *two_down = g_build_filename(deep, "a", "b", "good.so", NULL);
    copy_file(good, two_down);
    g_setenv("MMX_PLUGIN_PATH", deep, TRUE);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", spec, NULL}, &out, &err), 2);
    g_autofree char *builtin = g_build_filename(g_getenv("MMX_BUILD_ROOT"), "plugins", NULL);
    g_autofree char *msg = g_strdup_printf(
        "%s:1:37: /plugins/0: plugin 'good' not found: no *.so file in %s, %s or their "
        "subdirectories (one level down) provides it; put the directory that holds good.so on "
        "MMX_PLUGIN_PATH, or give a path such as \"./good.so\" (docs/cli.md, \"Plugin "
        "search\")\n",
        spec, deep, builtin);
    ck_assert_contains(err, msg);
    /* Its ops are not guessed at among the shipped ones. */
    g_autofree char *follow = g_strdup_printf(
        "%s:3:18: /stem/0/op: op 'good.copy' would come from plugin 'good', which was not "
        "loaded: fix the problem reported at /plugins/0 first\n",
        spec);
    ck_assert_contains(err, follow);
    ck_assert(strstr(err, "unknown op") == NULL);
    g_free(out);
    g_free(err);
    /* A file of that name that is refused is named, with its reason. */
    g_autofree char *bad = g_build_filename(dir, "bad", "good.so", NULL);
    g_autofree char *abi2 = mmx_test_fixture("abi2");
    copy_file(abi2, bad);
    g_autofree char *bad_dir = g_path_get_dirname(bad);
    g_setenv("MMX_PLUGIN_PATH", bad_dir, TRUE);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"validate", spec, NULL}, &out, &err), 2);
    g_autofree char *why = g_strdup_printf("provides it; %s was refused: built for plugin ABI 2", bad);
    ck_assert_contains(err, why);
}
END_TEST

/* A shipped sweep validates, except that it may name base models of the zoo that are not
 * in specs/models yet (issue 6): such a problem is allowed only while the file is really
 * missing, and no other problem is. */
static void
check_shipped_sweep(const char *path)
{
    g_autofree char *out = NULL, *err = NULL;
    if (mmx_test_run_mmx((const char *[]){"validate", path, NULL}, &out, &err) == 0)
        return;
    g_autoptr(GRegex) re = g_regex_new("cannot read the base model spec '([^']+)': ", 0, 0, NULL);
    g_auto(GStrv) lines = g_strsplit(err, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (**l == '\0')
            continue;
        g_autoptr(GMatchInfo) m = NULL;
        ck_assert_msg(g_regex_match(re, *l, 0, &m), "%s: %s", path, *l);
        g_autofree char *base = g_match_info_fetch(m, 1);
        ck_assert_msg(!g_file_test(base, G_FILE_TEST_EXISTS), "%s: %s", path, *l);
    }
}

/* Every spec mmx ships (specs/models, specs/sweeps) and every good test spec validates,
 * and `mmx info --json` gives the parameters and FLOPs of each model. */
START_TEST(test_shipped_specs)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(args, g_strdup("validate"));
    const char *dirs[] = {"specs/models", "specs/sweeps"};
    int models = 0;
    for (size_t k = 0; k < G_N_ELEMENTS(dirs) + 1; k++) {
        g_autofree char *dir =
            k < G_N_ELEMENTS(dirs) ? mmx_test_source_path(dirs[k]) : mmx_test_data_path("specs");
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        while (d && (name = g_dir_read_name(d)) != NULL)
            if (g_str_has_suffix(name, ".json"))
                g_ptr_array_add(names, g_build_filename(dir, name, NULL));
        for (guint i = 0; i < names->len; i++) {
            const char *path = names->pdata[i];
            if (k == 1) {
                check_shipped_sweep(path);
                continue;
            }
            g_ptr_array_add(args, g_strdup(path));
            g_autofree char *out = NULL, *err = NULL;
            int rc = mmx_test_run_mmx((const char *[]){"info", path, "--json", NULL}, &out, &err);
            ck_assert_msg(rc == 0, "mmx info %s: exit %d\n%s", path, rc, err);
            json_t *root = json_loads(out, 0, NULL);
            ck_assert_ptr_nonnull(root);
            json_t *t = json_object_get(root, "totals");
            ck_assert_msg(json_integer_value(json_object_get(t, "params")) > 0, "%s", path);
            ck_assert_msg(json_real_value(json_object_get(t, "flops")) > 0, "%s", path);
            json_decref(root);
            models++;
        }
    }
    ck_assert_int_ge(models, 10);
    g_ptr_array_add(args, NULL);
    g_autofree char *out = NULL, *err = NULL;
    int rc = mmx_test_run_mmx((const char *const *)args->pdata, &out, &err);
    ck_assert_msg(rc == 0, "mmx validate: exit %d\n%s", rc, err);
    ck_assert_str_eq(err, "");
}
END_TEST

int
main(void)
{
    read_expectations();
    Suite *s = suite_create("cli-spec");
    TCase *tc = tcase_create("validate");
    tcase_add_loop_test(tc, test_validate_broken, 0, (int)expectations->len);
    tcase_add_test(tc, test_validate_good_and_json);
    tcase_add_test(tc, test_validate_set_and_usage);
    tcase_add_test(tc, test_shipped_specs);
    tcase_add_test(tc, test_plugin_search);
    tcase_add_test(tc, test_flags_without_train);
    suite_add_tcase(s, tc);
    tc = tcase_create("info");
    tcase_add_test(tc, test_info_figures);
    tcase_add_test(tc, test_info_ties);
    suite_add_tcase(s, tc);
    int rc = mmx_test_run(s);
    g_ptr_array_unref(expectations);
    return rc;
}
