/* test-spec.c: the spec reader: the broken-spec corpus (every file's line:col, pointer and
 * message), vars arithmetic, defs, overrides, positions, JSON Pointers, diagnostics, plugin
 * declarations and the resolved document. Graph expansion is in test-graph.c. */
#include <string.h>

#include "test-util.h"

/* ---- helpers ---- */

static mmx_registry *
registry_with_fixture(void)
{
    mmx_registry *reg = mmx_test_registry();
    g_autofree char *good = mmx_test_fixture("good");
    ck_assert(mmx_registry_load(reg, good, NULL));
    return reg;
}

/* Loads a spec from text (written to a temporary file so problems carry positions) and
 * expands its graph; returns every problem, one per line ("" when valid). */
static char *
problems_of_text(const char *text, const char *const *overrides)
{
    g_autoptr(mmx_registry) reg = registry_with_fixture();
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "spec.json", NULL);
    ck_assert(g_file_set_contents(path, text, -1, NULL));
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_spec) spec = mmx_spec_load(reg, path, overrides, &error);
    g_autoptr(mmx_graph) graph = spec ? mmx_graph_new(spec, &error) : NULL;
    if (graph)
        return g_strdup("");
    ck_assert_ptr_nonnull(error);
    /* Messages name the temporary file: make them stable. */
    g_auto(GStrv) parts = g_strsplit(error->message, path, -1);
    return g_strjoinv("spec.json", parts);
}

/* Loads a valid spec from text; the spec (the registry is leaked into *reg_out). */
static mmx_spec *
load_text(const char *text, const char *const *overrides, mmx_registry **reg_out)
{
    mmx_registry *reg = registry_with_fixture();
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "test JSON: %s", jerr.text);
    g_autoptr(GError) error = NULL;
    mmx_spec *spec = mmx_spec_load_json(reg, doc, "mem.json", overrides, &error);
    json_decref(doc);
    ck_assert_msg(spec != NULL, "%s", error ? error->message : "?");
    *reg_out = reg;
    return spec;
}

static json_t *
resolved_at(const mmx_spec *spec, const char *pointer)
{
    return mmx_json_pointer_get(mmx_spec_resolved(spec), pointer);
}

#define HEAD "\"head\": [{\"op\": \"select_token\"}, {\"op\": \"linear\", \"out\": 10}]"
#define MODEL(body)                                                                                \
    "{\"mmx\": 1, \"name\": \"t\", \"input\": {\"shape\": [4, 4, 3], \"classes\": 10}, " body      \
    ", " HEAD "}"

/* ---- the broken-spec corpus ---- */

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
        return; /* test_corpus_complete fails on it */
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (**l == '#' || **l == '\0')
            continue;
        g_auto(GStrv) f = g_strsplit(*l, "\t", 4);
        if (g_strv_length(f) != 4)
            continue;
        expectation *e = g_new0(expectation, 1);
        e->file = g_strdup(f[0]);
        e->pos = g_strdup(f[1]);
        e->pointer = g_strdup(f[2]);
        e->message = g_strdup(f[3]);
        g_ptr_array_add(expectations, e);
    }
}

/* Is there a line "file:pos: pointer: ...message..." among the problems? */
static bool
has_problem(const mmx_diags *diags, const expectation *e, const char *path)
{
    g_autofree char *where = g_strdup_printf("%s:%s: ", path, e->pos);
    bool prefix = g_str_has_suffix(e->pointer, "...");
    g_autofree char *ptr =
        prefix ? g_strndup(e->pointer, strlen(e->pointer) - 3) : g_strdup(e->pointer);
    for (guint i = 0; i < mmx_diags_count(diags); i++) {
        g_autofree char *line = mmx_diags_format(diags, i);
        if (!g_str_has_prefix(line, where))
            continue;
        const char *rest = line + strlen(where);
        if (!g_str_has_prefix(rest, ptr))
            continue;
        if (!prefix && strncmp(rest + strlen(ptr), ": ", 2) != 0)
            continue;
        if (strstr(rest, e->message))
            return true;
    }
    return false;
}

START_TEST(test_corpus_entry)
{
    const expectation *e = expectations->pdata[_i];
    g_autoptr(mmx_registry) reg = registry_with_fixture();
    g_autofree char *rel = g_build_filename("specs", "broken", e->file, NULL);
    g_autofree char *path = mmx_test_data_path(rel);
    g_autoptr(mmx_diags) diags = mmx_diags_new();
    mmx_json_file *file = mmx_json_file_load(path, diags);
    g_autoptr(mmx_spec) spec = file ? mmx_spec_new(reg, file, NULL, diags) : NULL;
    g_autoptr(mmx_graph) graph = spec ? mmx_graph_new_diags(spec, diags) : NULL;
    ck_assert_msg(graph == NULL, "%s was accepted", e->file);
    g_autofree char *all = mmx_diags_to_string(diags);
    ck_assert_msg(has_problem(diags, e, path), "%s: expected %s %s \"%s\"; got:\n%s", e->file,
                  e->pos, e->pointer, e->message, all);
}
END_TEST

START_TEST(test_corpus_complete)
{
    ck_assert_int_ge(expectations->len, 30);
    g_autofree char *dir = mmx_test_data_path("specs/broken");
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    ck_assert_ptr_nonnull(d);
    const char *name;
    int files = 0;
    while ((name = g_dir_read_name(d)) != NULL) {
        if (!g_str_has_suffix(name, ".json"))
            continue;
        files++;
        bool found = false;
        for (guint i = 0; i < expectations->len && !found; i++)
            found = strcmp(((expectation *)expectations->pdata[i])->file, name) == 0;
        ck_assert_msg(found, "%s has no line in expected.txt", name);
    }
    ck_assert_int_ge(files, 30);
    /* And the other way round: every expectation names a file that exists. */
    for (guint i = 0; i < expectations->len; i++) {
        g_autofree char *p =
            g_build_filename(dir, ((expectation *)expectations->pdata[i])->file, NULL);
        ck_assert_msg(g_file_test(p, G_FILE_TEST_EXISTS), "%s does not exist", p);
    }
}
END_TEST

START_TEST(test_all_errors_collected)
{
    /* multiple-errors.json has five problems in four sections; all are reported. */
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autofree char *path = mmx_test_data_path("specs/broken/multiple-errors.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_spec) spec = mmx_spec_load(reg, path, NULL, &error);
    ck_assert_ptr_null(spec);
    g_auto(GStrv) lines = g_strsplit(error->message, "\n", -1);
    ck_assert_int_eq(g_strv_length(lines), 5);
}
END_TEST

/* ---- vars ---- */

START_TEST(test_vars_arithmetic)
{
    g_autoptr(mmx_registry) reg = NULL;
    g_autoptr(mmx_spec) spec = load_text(
        MODEL("\"vars\": {\"dim\": 8, \"h\": \"4*${dim}\", \"half\": \"${dim}/2\", "
              "\"e\": \"(${dim} + 2) * 3 - -1\", \"n\": \"-${dim}+10\", \"lr\": 0.002, "
              "\"act\": \"gelu\", \"on\": true}, "
              "\"stem\": [{\"op\": \"linear\", \"out\": \"${h}\"}, {\"op\": \"${act}\"}], "
              "\"train\": {\"lr\": \"${lr}\", \"nesterov\": \"${on}\", \"epochs\": \"${half}\"}"),
        NULL, &reg);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/vars/h")), 32);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/vars/half")), 4);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/vars/e")), 31);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/vars/n")), 2);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/stem/0/out")), 32);
    ck_assert_str_eq(json_string_value(resolved_at(spec, "/stem/1/op")), "gelu");
    /* A whole "${lr}" keeps the var's type: a real stays real. */
    ck_assert(json_is_real(resolved_at(spec, "/train/lr")));
    ck_assert_double_eq_tol(json_real_value(resolved_at(spec, "/train/lr")), 0.002, 1e-15);
    ck_assert(json_is_true(resolved_at(spec, "/train/nesterov")));
    ck_assert_int_eq(json_integer_value(json_object_get(mmx_spec_train(spec), "epochs")), 4);
    /* The resolved document has no ${ left and no defs. */
    g_autofree char *text = json_dumps(mmx_spec_resolved(spec), 0);
    ck_assert_ptr_null(strstr(text, "${"));
}
END_TEST

START_TEST(test_vars_errors)
{
    g_autofree char *e1 = problems_of_text(MODEL("\"vars\": {\"d\": 8}, \"stem\": [{\"op\": "
                                                 "\"linear\", \"out\": \"${d}+\"}]"),
                                           NULL);
    ck_assert_contains(e1, "spec.json:1:122: /stem/0/out: in \"${d}+\": the expression ends where "
                           "a number or ${var} was expected");
    g_autofree char *e2 =
        problems_of_text(MODEL("\"stem\": [{\"op\": \"linear\", \"out\": \"${d\"}]"), NULL);
    ck_assert_contains(e2, "/stem/0/out: in \"${d\": '${' without its closing '}'");
    g_autofree char *e3 =
        problems_of_text(MODEL("\"stem\": [{\"op\": \"linear\", \"out\": \"${1x}\"}]"), NULL);
    ck_assert_contains(e3, "'${1x}' is not a var reference");
    g_autofree char *e4 =
        problems_of_text(MODEL("\"stem\": [{\"op\": \"linear\", \"out\": \"${d}\"}]"), NULL);
    ck_assert_contains(e4, "unknown var 'd' (the spec defines no vars)");
    g_autofree char *e5 =
        problems_of_text(MODEL("\"vars\": {\"v\": [1]}, \"stem\": [{\"op\": \"linear\", "
                               "\"out\": \"${v}\"}]"),
                         NULL);
    ck_assert_contains(e5, "/vars/v: a var is a number, a string or a boolean, not an array");
    g_autofree char *e6 = problems_of_text(MODEL("\"vars\": {\"2x\": 1}"), NULL);
    ck_assert_contains(e6, "/vars/2x: '2x' is not a var name");
    g_autofree char *e7 = problems_of_text(MODEL("\"vars\": {\"a\": \"gelu\"}, \"stem\": [{\"op\": "
                                                 "\"linear\", \"out\": \"2*${a}\"}]"),
                                           NULL);
    ck_assert_contains(e7, "var 'a' is \"gelu\", not an integer");
    g_autofree char *e8 = problems_of_text(MODEL("\"stem\": [{\"op\": \"linear\", \"out\": "
                                                 "\"99999999999999999999*${x}\"}]"),
                                           NULL);
    ck_assert_contains(e8, "the number overflows 64-bit integers");
    g_autofree char *e9 =
        problems_of_text(MODEL("\"vars\": {\"x\": 1}, \"stem\": [{\"op\": \"linear\", "
                               "\"out\": \"2*(${x}\"}]"),
                         NULL);
    ck_assert_contains(e9, "expected ')'");
    /* Found by fuzzing: a '$' without '{' inside an expression was refused in silence. */
    g_autofree char *e10 =
        problems_of_text(MODEL("\"vars\": {\"r\": 4}, \"stem\": [{\"op\": \"linear\", "
                               "\"out\": \"${r}*$zdim}\"}]"),
                         NULL);
    ck_assert_contains(e10, "/stem/0/out: in \"${r}*$zdim}\": a var is written ${name}; "
                            "'$zdim}' is not");
}
END_TEST

START_TEST(test_var_error_reported_once)
{
    /* A broken var is reported where it is defined, not again at each use. */
    g_autofree char *e = problems_of_text(
        MODEL("\"vars\": {\"a\": \"${nope}\"}, \"stem\": [{\"op\": \"linear\", \"out\": \"${a}\"}, "
              "{\"op\": \"linear\", \"out\": \"2*${a}\"}]"),
        NULL);
    g_auto(GStrv) lines = g_strsplit(e, "\n", -1);
    ck_assert_int_eq(g_strv_length(lines), 1);
    ck_assert_contains(e, "/vars/a: in \"${nope}\": unknown var 'nope'");
}
END_TEST

/* ---- defs ---- */

START_TEST(test_defs_vars_and_splice)
{
    g_autoptr(mmx_registry) reg = NULL;
    g_autoptr(mmx_spec) spec = load_text(
        MODEL("\"vars\": {\"dim\": 8}, "
              "\"defs\": {\"ffn\": {\"mixer\": {\"key\": {\"op\": \"linear\", \"out\": "
              "\"${r}*${dim}\"}, \"activation\": {\"op\": \"gelu\"}, \"value\": {\"op\": "
              "\"linear\", \"out\": \"${dim}\"}}}, "
              "\"pair\": [{\"use\": \"ffn\", \"vars\": {\"r\": 2}}, {\"use\": \"ffn\", \"vars\": "
              "{\"r\": \"${dim}/2\"}}], \"proj\": [{\"op\": \"linear\", \"out\": \"${dim}\"}]}, "
              "\"stem\": [{\"use\": \"proj\"}, {\"op\": \"gelu\"}], "
              "\"blocks\": [{\"use\": \"pair\"}, {\"use\": \"ffn\", \"vars\": {\"r\": 1}}]"),
        NULL, &reg);
    /* Lists used inside lists are spliced: stem has 2 ops, blocks 3 blocks. */
    ck_assert_int_eq(json_array_size(resolved_at(spec, "/stem")), 2);
    ck_assert_int_eq(json_array_size(resolved_at(spec, "/blocks")), 3);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/blocks/0/mixer/key/out")), 16);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/blocks/1/mixer/key/out")), 32);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/blocks/2/mixer/key/out")), 8);
    ck_assert_ptr_null(resolved_at(spec, "/defs"));
}
END_TEST

START_TEST(test_nested_list_defs)
{
    /* A list def made of uses of list defs is spliced all the way down. */
    g_autoptr(mmx_registry) reg = NULL;
    g_autoptr(mmx_spec) spec = load_text(
        MODEL(
            "\"defs\": {\"b\": {\"mixer\": {}, \"doc\": \"${i}\"}, \"pair\": [{\"use\": \"b\", "
            "\"vars\": {\"i\": 1}}, {\"use\": \"b\", \"vars\": {\"i\": 2}}], \"quad\": [{\"use\": "
            "\"pair\"}, {\"use\": \"pair\"}]}, \"blocks\": [{\"use\": \"quad\"}, {\"use\": \"b\", "
            "\"vars\": {\"i\": 3}}]"),
        NULL, &reg);
    ck_assert_int_eq(json_array_size(resolved_at(spec, "/blocks")), 5);
    ck_assert(json_is_object(resolved_at(spec, "/blocks/3/mixer")));
    /* doc is prose: "${i}" stays as written. */
    ck_assert_str_eq(json_string_value(resolved_at(spec, "/blocks/4/doc")), "${i}");
}
END_TEST

START_TEST(test_def_error_names_use_site)
{
    g_autofree char *e = problems_of_text(
        MODEL("\"defs\": {\"b\": {\"mixer\": {\"key\": {\"op\": \"linear\", \"out\": \"${w}\"}}}}, "
              "\"blocks\": [{\"use\": \"b\", \"vars\": {\"w\": 4}}, {\"use\": \"b\"}]"),
        NULL);
    ck_assert_contains(e, "/defs/b/mixer/key/out: in \"${w}\": unknown var 'w'");
    ck_assert_contains(e, "(in def 'b' used at /blocks/1)");
    ck_assert_ptr_null(strstr(e, "used at /blocks/0"));
    g_autofree char *e2 = problems_of_text(MODEL("\"defs\": [], \"blocks\": []"), NULL);
    ck_assert_contains(e2, "/defs: \"defs\" is an object of name: reusable value");
    g_autofree char *e3 = problems_of_text(MODEL("\"blocks\": [{\"use\": 3}]"), NULL);
    ck_assert_contains(e3, "/blocks/0/use: \"use\" names a def: expected a string");
    g_autofree char *e4 = problems_of_text(MODEL("\"blocks\": [{\"use\": \"x\"}]"), NULL);
    ck_assert_contains(e4, "unknown def 'x'; the spec has no defs");
    g_autofree char *e5 = problems_of_text(MODEL("\"defs\": {\"x\": {\"mixer\": {}}}, \"blocks\": "
                                                 "[{\"use\": \"x\", \"vars\": {\"a\": [1]}}]"),
                                           NULL);
    ck_assert_contains(e5, "/blocks/0/vars/a: a var is a number, a string or a boolean");
}
END_TEST

START_TEST(test_use_error_reported_once)
{
    /* A bad use inside a def reached by many paths (quad -> pair -> b, 4 paths) is one
     * error at its place, not one per path: defs that use defs 30 levels deep would
     * otherwise repeat it a million times before the values bound stops the walk. */
    g_autofree char *e = problems_of_text(
        MODEL("\"defs\": {\"b\": [{\"use\": \"nope\"}, {\"use\": \"b\"}], "
              "\"pair\": [{\"use\": \"b\"}, {\"use\": \"b\"}], "
              "\"quad\": [{\"use\": \"pair\"}, {\"use\": \"pair\"}]}, "
              "\"blocks\": [{\"use\": \"quad\"}]"),
        NULL);
    g_auto(GStrv) lines = g_strsplit(e, "\n", -1);
    ck_assert_msg(g_strv_length(lines) == 2, "expected 2 problems, got:\n%s", e);
    ck_assert_contains(e, "/defs/b/0/use: unknown def 'nope'");
    ck_assert_contains(e, "/defs/b/1/use: def 'b' uses itself: b -> b");
}
END_TEST

START_TEST(test_stage_scope)
{
    g_autoptr(mmx_registry) reg = NULL;
    g_autoptr(mmx_spec) spec = load_text(
        MODEL("\"stages\": [{\"depth\": 2, \"width\": 8, \"downsample\": [{\"op\": \"linear\", "
              "\"out\": \"${width}\"}], \"body\": [{\"mixer\": {\"key\": {\"op\": \"linear\", "
              "\"out\": \"4*${width}+${stage}+${depth}\"}}, \"residual\": false}]}, "
              "{\"depth\": 1, \"width\": 16, \"downsample\": [{\"op\": \"linear\", \"out\": "
              "\"${width}\"}], \"body\": [{\"mixer\": {}}]}]"),
        NULL, &reg);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/stages/0/downsample/0/out")), 8);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/stages/0/body/0/mixer/key/out")), 34);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/stages/1/downsample/0/out")), 16);
}
END_TEST

/* ---- overrides ---- */

START_TEST(test_overrides)
{
    const char *const sets[] = {"/vars/dim=16", "/train/lr=0.001", "/train/data=fashion-mnist",
                                "/stem/-={\"op\": \"gelu\"}", NULL};
    g_autoptr(mmx_registry) reg = NULL;
    g_autoptr(mmx_spec) spec = load_text(MODEL("\"vars\": {\"dim\": 8}, \"stem\": [{\"op\": "
                                               "\"linear\", \"out\": \"${dim}\"}], \"train\": "
                                               "{\"lr\": 0.1}"),
                                         sets, &reg);
    ck_assert_int_eq(json_integer_value(resolved_at(spec, "/stem/0/out")), 16);
    ck_assert_double_eq_tol(json_real_value(resolved_at(spec, "/train/lr")), 0.001, 1e-15);
    ck_assert_str_eq(json_string_value(resolved_at(spec, "/train/data")), "fashion-mnist");
    ck_assert_str_eq(json_string_value(resolved_at(spec, "/stem/1/op")), "gelu");
}
END_TEST

START_TEST(test_override_errors)
{
    const char *const bad[] = {"/nosuch/x=1", "/stem/7=1", "vars/dim=3", "/vars/dim", NULL};
    g_autofree char *e = problems_of_text(MODEL("\"vars\": {\"dim\": 8}, \"stem\": []"), bad);
    /* A missing object on the way is created (as a merge patch would), then judged. */
    ck_assert_contains(e, "spec.json:1:1: /nosuch: unknown key 'nosuch' in a model spec");
    ck_assert_contains(e, "--set '/stem/7=1': '7' is not an index of /stem, an array of 0 "
                          "elements (0..0, or '-' to append)");
    ck_assert_contains(e, "--set 'vars/dim=3': expected /json/pointer=VALUE");
    ck_assert_contains(e, "--set '/vars/dim': expected /json/pointer=VALUE");
    /* A value set on the command line that is wrong says where it came from. */
    const char *const wrong[] = {"/train/lr=-1", "/vars/dim=\"x\"", NULL};
    g_autofree char *e2 =
        problems_of_text(MODEL("\"vars\": {\"dim\": 8}, \"stem\": [{\"op\": "
                               "\"linear\", \"out\": \"2*${dim}\"}], \"train\": {}"),
                         wrong);
    ck_assert_contains(e2, "spec.json:1:147: /train/lr: \"lr\": expected a number in (0, 10], got "
                           "-1 (the value comes from --set /train/lr=-1)");
    ck_assert_contains(e2, "var 'dim' is \"x\", not an integer");
}
END_TEST

START_TEST(test_pointer_helpers)
{
    json_t *doc = json_loads("{\"a/b\": {\"c~d\": [1, 2]}, \"e\": 5}", 0, NULL);
    g_autofree char *p = mmx_json_pointer_append("", "a/b");
    ck_assert_str_eq(p, "/a~1b");
    g_autofree char *q = mmx_json_pointer_append(p, "c~d");
    ck_assert_str_eq(q, "/a~1b/c~0d");
    ck_assert_int_eq(json_integer_value(mmx_json_pointer_get(doc, "/a~1b/c~0d/1")), 2);
    /* --set rules: append with the length or "-", replace in range, create members. */
    g_autoptr(GError) error = NULL;
    ck_assert(mmx_json_apply_override(doc, "/a~1b/c~0d/2=3", NULL));
    ck_assert(mmx_json_apply_override(doc, "/a~1b/c~0d/-=4", NULL));
    ck_assert(mmx_json_apply_override(doc, "/a~1b/c~0d/0=9", NULL));
    ck_assert_int_eq(json_integer_value(mmx_json_pointer_get(doc, "/a~1b/c~0d/0")), 9);
    ck_assert_int_eq(json_array_size(mmx_json_pointer_get(doc, "/a~1b/c~0d")), 4);
    ck_assert(mmx_json_apply_override(doc, "/new=1", NULL));
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "new")), 1);
    ck_assert(!mmx_json_apply_override(doc, "/e/f=1", &error));
    ck_assert_str_eq(error->message, "--set '/e/f=1': /e is a number, not an object or an array");
    g_clear_error(&error);
    ck_assert(!mmx_json_apply_override(doc, "/a~1b/c~0d/01=1", &error));
    ck_assert_contains(error->message, "'01' is not an index of /a~1b/c~0d, an array of 4 "
                                       "elements");
    g_clear_error(&error);
    ck_assert(!mmx_json_apply_override(doc, "=1", &error));
    ck_assert_contains(error->message, "expected /json/pointer=VALUE");
    ck_assert(mmx_json_apply_override(doc, "/s=not json", NULL));
    ck_assert_str_eq(json_string_value(json_object_get(doc, "s")), "not json");
    ck_assert(mmx_json_apply_override(doc, "/t=[1, 2]", NULL));
    ck_assert_int_eq(json_array_size(json_object_get(doc, "t")), 2);
    ck_assert(mmx_json_apply_override(doc, "/u=", NULL));
    ck_assert_str_eq(json_string_value(json_object_get(doc, "u")), "");
    json_decref(doc);
}
END_TEST

/* ---- positions and diagnostics ---- */

START_TEST(test_positions)
{
    /* Columns count characters: the é before "b" is one column. */
    const char *text = "{\n  \"é\": 1, \"b\": [true,\n    {\"c\": \"x\"}]\n}";
    g_autoptr(mmx_diags) diags = mmx_diags_new();
    g_autoptr(mmx_json_file) f = mmx_json_file_parse("p.json", text, strlen(text), diags);
    ck_assert_ptr_nonnull(f);
    int line, col;
    ck_assert(mmx_json_file_position(f, "/b", true, &line, &col));
    ck_assert_int_eq(line, 2);
    ck_assert_int_eq(col, 11);
    ck_assert(mmx_json_file_position(f, "/b", false, &line, &col));
    ck_assert_int_eq(col, 16);
    ck_assert(mmx_json_file_position(f, "/b/1/c", false, &line, &col));
    ck_assert_int_eq(line, 3);
    ck_assert_int_eq(col, 11);
    ck_assert(mmx_json_file_position(f, "/%C3%A9", false, &line, &col)); /* not there: root */
    ck_assert_int_eq(line, 1);
    ck_assert(mmx_json_file_position(f, "/é", false, &line, &col));
    ck_assert_int_eq(col, 8);
    ck_assert(mmx_json_file_position(f, "/b/1/nope", true, &line, &col)); /* its parent */
    ck_assert_int_eq(col, 5);
    /* A document without text has no positions. */
    g_autoptr(mmx_json_file) g = mmx_json_file_new(mmx_json_file_root(f), "mem");
    ck_assert(!mmx_json_file_position(g, "/b", false, &line, &col));
    ck_assert_int_eq(line, 0);
}
END_TEST

START_TEST(test_diags)
{
    g_autoptr(mmx_diags) d = mmx_diags_new();
    mmx_diags_add(d, "a.json", 3, 4, "/x", "bad %d", 1);
    mmx_diags_add(d, "a.json", 3, 4, "/x", "bad %d", 1); /* a duplicate: dropped */
    mmx_diags_add(d, "a.json", 0, 0, "", "no position");
    mmx_diags_add(d, "a.json", 0, 0, NULL, "no pointer");
    ck_assert_int_eq(mmx_diags_count(d), 3);
    g_autofree char *s = mmx_diags_to_string(d);
    ck_assert_str_eq(s, "a.json:3:4: /x: bad 1\na.json: /: no position\na.json: no pointer");
    json_t *j = mmx_diags_to_json(d);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(j, 0), "col")), 4);
    ck_assert(json_is_null(json_object_get(json_array_get(j, 2), "pointer")));
    json_decref(j);
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_diags_to_gerror(d, &error));
    ck_assert(g_error_matches(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID));
    g_autoptr(mmx_diags) empty = mmx_diags_new();
    ck_assert(mmx_diags_to_gerror(empty, NULL));
}
END_TEST

START_TEST(test_load_errors)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autoptr(GError) error = NULL;
    ck_assert_ptr_null(mmx_spec_load(reg, "/nonexistent/spec.json", NULL, &error));
    ck_assert_contains(error->message, "/nonexistent/spec.json: cannot read the file: ");
    g_clear_error(&error);
    /* In memory: no positions, "origin: /pointer: message". */
    json_t *doc = json_loads("{\"mmx\": 1, \"name\": \"t\", \"input\": {\"shape\": [2, 2, 1], "
                             "\"classes\": 1}, \"head\": [], \"extra\": 1}",
                             0, NULL);
    ck_assert_ptr_null(mmx_spec_load_json(reg, doc, "mem.json", NULL, &error));
    ck_assert_contains(error->message, "mem.json: /extra: unknown key 'extra' in a model spec");
    ck_assert_contains(error->message, "mem.json: /input/classes: \"classes\" of \"input\": "
                                       "expected an integer in [2, 1048576], got 1");
    ck_assert_contains(error->message, "mem.json: /head: \"head\" is a non-empty list of ops");
    json_decref(doc);
    g_clear_error(&error);
    doc = json_loads("{\"mmx_sweep\": 1, \"base\": \"x.json\"}", 0, NULL);
    ck_assert_ptr_null(mmx_spec_load_json(reg, doc, "sweep.json", NULL, &error));
    ck_assert_contains(error->message, "sweep.json: /mmx_sweep: this is a sweep spec, not a model "
                                       "spec");
    json_decref(doc);
}
END_TEST

START_TEST(test_structure_errors)
{
    g_autofree char *e = problems_of_text(
        MODEL(
            "\"blocks\": {\"repeat\": -1, \"body\": [{\"mixer\": {\"gate\": []}, \"residual\": 1, "
            "\"parallel\": [{}]}], \"bogus\": 1}, \"stem\": {}, \"plugins\": [3], \"doc\": 5"),
        NULL);
    ck_assert_contains(e, "/blocks/repeat: \"repeat\" of \"blocks\": expected an integer in [0, "
                          "100000], got -1");
    ck_assert_contains(e, "/blocks/body/0/mixer/gate: \"gate\" needs at least one op");
    ck_assert_contains(e, "/blocks/body/0/residual: \"residual\" is true or false; got 1");
    ck_assert_contains(e,
                       "/blocks/body/0/parallel: a block has \"mixer\" or \"parallel\", not both");
    ck_assert_contains(e, "/blocks/bogus: unknown key 'bogus' in \"blocks\"");
    ck_assert_contains(e, "/stem: \"stem\" is a list of ops");
    ck_assert_contains(e, "/plugins/0: expected a plugin name or a path to a .so file, got 3");
    ck_assert_contains(e, "/doc: \"doc\" is a string");
    g_autofree char *e2 = problems_of_text(MODEL("\"stages\": [{\"depth\": 1, \"body\": [], "
                                                 "\"downsample\": {}}, 5]"),
                                           NULL);
    ck_assert_contains(e2, "/stages/0/body: \"body\" is a non-empty list of blocks");
    ck_assert_contains(e2, "/stages/0/downsample: \"downsample\" is a list of ops");
    ck_assert_contains(e2, "/stages/1: a stage is an object");
    g_autofree char *e3 = problems_of_text(MODEL("\"blocks\": [{\"mixer\": {\"key\": [{\"op\": "
                                                 "\"gelu\", \"doc\": 3}, {\"noop\": 1}]}}]"),
                                           NULL);
    ck_assert_contains(e3, "/blocks/0/mixer/key/0/doc: \"doc\" is a string");
    ck_assert_contains(e3, "/blocks/0/mixer/key/1: an op object needs \"op\"");
}
END_TEST

START_TEST(test_train_valid)
{
    g_autoptr(mmx_registry) reg = NULL;
    g_autoptr(mmx_spec) spec = load_text(
        MODEL("\"train\": {\"epochs\": 10, \"batch\": 128, \"optimizer\": \"sgd\", \"lr\": 0.1, "
              "\"wd\": 5e-4, \"momentum\": 0.9, \"nesterov\": true, \"warmup\": 1.5, \"schedule\": "
              "\"cosine\", \"label_smoothing\": 0.1, \"clip\": 1, \"augment\": {\"crop\": 4, "
              "\"flip\": false}, \"data\": \"fashion-mnist\", \"val_split\": 0.1, \"seed\": 3}"),
        NULL, &reg);
    ck_assert_int_eq(json_object_size(mmx_spec_train(spec)), 15);
    g_autoptr(mmx_registry) reg2 = NULL;
    g_autoptr(mmx_spec) bare = load_text(MODEL("\"doc\": \"no train\""), NULL, &reg2);
    ck_assert(json_is_object(mmx_spec_train(bare)));
    ck_assert_int_eq(json_object_size(mmx_spec_train(bare)), 0);
    ck_assert_str_eq(mmx_spec_name(bare), "t");
    ck_assert_str_eq(mmx_spec_path(bare), "mem.json");
    ck_assert_int_eq(mmx_spec_classes(bare), 10);
    mmx_shape in = mmx_spec_input_shape(bare);
    ck_assert_int_eq(in.rank, 2);
    ck_assert_int_eq(in.dim[0], 16);
    ck_assert_int_eq(in.dim[1], 3);
    ck_assert_int_eq(in.height, 4);
    ck_assert_int_eq(in.width, 4);
    g_autofree char *e = problems_of_text(MODEL("\"train\": {\"epochs\": 2.5, \"batch\": 0, "
                                                "\"schedule\": \"cosin\", \"augment\": {\"crop\": "
                                                "-1, \"rotate\": 1}, \"data\": \"\"}"),
                                          NULL);
    ck_assert_contains(e, "\"epochs\": expected an integer in [1, 100000], got 2.5");
    ck_assert_contains(e, "\"batch\": expected an integer in [1, 65536], got 0");
    ck_assert_contains(e, "got \"cosin\" (did you mean 'cosine'?)");
    ck_assert_contains(e, "/train/augment/crop: \"crop\": expected an integer in [0, 64], got -1");
    ck_assert_contains(e, "/train/augment/rotate: unknown key 'rotate' in \"augment\"");
    ck_assert_contains(e, "\"data\": expected a non-empty string");
}
END_TEST

/* ---- plugins ---- */

START_TEST(test_plugin_declarations)
{
    /* A plugin next to the spec, declared by a relative path, makes its op usable. */
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *src = mmx_test_fixture("good");
    g_autofree char *dst = g_build_filename(dir, "good.so", NULL);
    g_autofree char *bytes = NULL;
    gsize len;
    ck_assert(g_file_get_contents(src, &bytes, &len, NULL));
    ck_assert(g_file_set_contents(dst, bytes, (gssize)len, NULL));
    g_autofree char *path = g_build_filename(dir, "spec.json", NULL);
    ck_assert(g_file_set_contents(path,
                                  MODEL("\"plugins\": [\"./good.so\", \"linear\"], \"stem\": "
                                        "[{\"op\": \"good.copy\"}]"),
                                  -1, NULL));
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_spec) spec = mmx_spec_load(reg, path, NULL, &error);
    ck_assert_msg(spec != NULL, "%s", error ? error->message : "");
    ck_assert_ptr_nonnull(mmx_registry_find_op(reg, "good.copy"));
    /* Declared by name: found among the loaded plugins. */
    g_autofree char *e = problems_of_text(MODEL("\"plugins\": [\"good\"], \"stem\": [{\"op\": "
                                                "\"good.copy\"}]"),
                                          NULL);
    ck_assert_str_eq(e, "");
}
END_TEST

/* ---- robustness: cut and mutated specs never crash and never fail silently ---- */

static void
read_any(mmx_registry *reg, const char *text, size_t len)
{
    g_autoptr(mmx_diags) diags = mmx_diags_new();
    mmx_json_file *file = mmx_json_file_parse("cut.json", text, len, diags);
    g_autoptr(mmx_spec) spec = file ? mmx_spec_new(reg, file, NULL, diags) : NULL;
    g_autoptr(mmx_graph) graph = spec ? mmx_graph_new_diags(spec, diags) : NULL;
    ck_assert(graph != NULL || mmx_diags_count(diags) > 0);
}

START_TEST(test_cut_and_mutated_specs)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const char *names[] = {"small", "gmlp", "parallel", "poolformer", "self-attention"};
    uint64_t state = 0x9e3779b97f4a7c15u;
    for (size_t k = 0; k < G_N_ELEMENTS(names); k++) {
        g_autofree char *rel = g_strdup_printf("specs/%s.json", names[k]);
        g_autofree char *path = mmx_test_data_path(rel);
        g_autofree char *text = NULL;
        gsize len;
        ck_assert(g_file_get_contents(path, &text, &len, NULL));
        for (gsize cut = 0; cut < len; cut += 5)
            read_any(reg, text, cut);
        g_autofree char *copy = g_malloc(len);
        for (int m = 0; m < 60; m++) {
            memcpy(copy, text, len);
            for (int f = 0; f < 1 + m % 3; f++) {
                state = state * 6364136223846793005u + 1442695040888963407u;
                static const char bytes[] = "{}[],:\"0123456789-+.e$/\\ \xff\x01";
                copy[(state >> 33) % len] = bytes[(state >> 17) % (sizeof bytes - 1)];
            }
            read_any(reg, copy, len);
        }
    }
}
END_TEST

int
main(void)
{
    read_expectations();
    Suite *s = suite_create("spec");
    TCase *tc = tcase_create("corpus");
    tcase_add_loop_test(tc, test_corpus_entry, 0, (int)expectations->len);
    tcase_add_test(tc, test_corpus_complete);
    tcase_add_test(tc, test_all_errors_collected);
    suite_add_tcase(s, tc);
    tc = tcase_create("vars");
    tcase_add_test(tc, test_vars_arithmetic);
    tcase_add_test(tc, test_vars_errors);
    tcase_add_test(tc, test_var_error_reported_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("defs");
    tcase_add_test(tc, test_defs_vars_and_splice);
    tcase_add_test(tc, test_def_error_names_use_site);
    tcase_add_test(tc, test_use_error_reported_once);
    tcase_add_test(tc, test_nested_list_defs);
    tcase_add_test(tc, test_stage_scope);
    suite_add_tcase(s, tc);
    tc = tcase_create("overrides");
    tcase_add_test(tc, test_overrides);
    tcase_add_test(tc, test_override_errors);
    tcase_add_test(tc, test_pointer_helpers);
    suite_add_tcase(s, tc);
    tc = tcase_create("reading");
    tcase_add_test(tc, test_positions);
    tcase_add_test(tc, test_diags);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_structure_errors);
    tcase_add_test(tc, test_train_valid);
    tcase_add_test(tc, test_plugin_declarations);
    tcase_add_test(tc, test_cut_and_mutated_specs);
    suite_add_tcase(s, tc);
    int rc = mmx_test_run(s);
    g_ptr_array_unref(expectations);
    return rc;
}
