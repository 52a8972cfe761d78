/* test-json.c: core/json.c and core/jsonl.c: the file reader (duplicate keys and syntax
 * errors with file:line:col), the canonical form, JSON Pointers (escaping, tokens,
 * indices, get, set with the wildcard, and every refusal with its message), the merge
 * patch (RFC 7396 appendix A) and JSON Patch (RFC 6902), and the JSON Lines logs (torn
 * last line cut off on open and skipped on read, bad lines named, a full disk). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"

static char *
write_file(const char *dir, const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);
    ck_assert(g_file_set_contents(path, text, -1, NULL));
    return path;
}

static json_t *
parse(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    ck_assert_msg(v != NULL, "bad test JSON: %s", text);
    return v;
}

/* ---- reading ---- */

START_TEST(test_read)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *ok = write_file(dir, "ok.json", "{\"a\": [1, 2], \"b\": {\"c\": null}}\n");
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) v = mmx_json_read(ok, &error);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(json_array_size(json_object_get(v, "a")), 2);
    /* Any value at the top. */
    g_autofree char *num = write_file(dir, "num.json", "42\n");
    g_autoptr(json_t) n = mmx_json_read(num, &error);
    ck_assert_int_eq(json_integer_value(n), 42);
}
END_TEST

START_TEST(test_read_rejects_duplicate_keys)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *dup =
        write_file(dir, "dup.json", "{\n  \"train\": {\n    \"lr\": 0.1,\n    \"lr\": 0.2\n  }\n}\n");
    g_autoptr(GError) error = NULL;
    ck_assert_ptr_null(mmx_json_read(dup, &error));
    ck_assert(g_error_matches(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PARSE));
    g_autofree char *want = g_strdup_printf("%s:4:", dup);
    ck_assert_msg(g_str_has_prefix(error->message, want), "%s", error->message);
    ck_assert_contains(error->message, "duplicate object key");
}
END_TEST

START_TEST(test_read_errors)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *bad = write_file(dir, "bad.json", "{\n  \"a\": 1,\n}");
    g_autoptr(GError) error = NULL;
    ck_assert_ptr_null(mmx_json_read(bad, &error));
    ck_assert(g_error_matches(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PARSE));
    ck_assert_contains(error->message, "bad.json:3:1: ");
    g_clear_error(&error);
    /* An empty file is not JSON either; its place is 1:1 at the least. */
    g_autofree char *empty = write_file(dir, "empty.json", "");
    ck_assert_ptr_null(mmx_json_read(empty, &error));
    ck_assert_contains(error->message, "empty.json:1:");
    g_clear_error(&error);
    g_autofree char *missing = g_build_filename(dir, "missing.json", NULL);
    ck_assert_ptr_null(mmx_json_read(missing, &error));
    ck_assert(g_error_matches(error, MMX_JSON_ERROR, MMX_JSON_ERROR_IO));
    ck_assert_contains(error->message, "missing.json");
    ck_assert_contains(error->message, "No such file or directory");
}
END_TEST

START_TEST(test_canonical_and_kind)
{
    g_autoptr(json_t) a = parse("{\"b\": [1, {\"y\": 2, \"x\": 1}], \"a\": \"s\"}");
    g_autoptr(json_t) b = parse("{\"a\": \"s\", \"b\": [1, {\"x\": 1, \"y\": 2}]}");
    g_autofree char *ca = mmx_json_canonical(a);
    g_autofree char *cb = mmx_json_canonical(b);
    ck_assert_str_eq(ca, "{\"a\":\"s\",\"b\":[1,{\"x\":1,\"y\":2}]}");
    ck_assert_str_eq(ca, cb);
    g_autoptr(json_t) s = json_string("x");
    g_autofree char *cs = mmx_json_canonical(s);
    ck_assert_str_eq(cs, "\"x\"");
    const struct {
        const char *json, *kind;
    } kinds[] = {{"{}", "an object"}, {"[]", "an array"},  {"\"s\"", "a string"},
                 {"1", "a number"},   {"1.5", "a number"}, {"true", "a boolean"},
                 {"false", "a boolean"}, {"null", "null"}};
    for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_autoptr(json_t) v = parse(kinds[i].json);
        ck_assert_str_eq(mmx_json_kind(v), kinds[i].kind);
    }
}
END_TEST

START_TEST(test_without_docs)
{
    g_autoptr(json_t) a = parse("{\"doc\": \"top\", \"b\": [{\"doc\": \"in\", \"x\": 1}],"
                                " \"c\": {\"doc\": 3, \"d\": {\"doc\": \"deep\"}}}");
    g_autoptr(json_t) bare = mmx_json_without_docs(a);
    g_autofree char *cb = mmx_json_canonical(bare);
    /* string-valued docs go at any depth; a doc that is not a string is data and stays */
    ck_assert_str_eq(cb, "{\"b\":[{\"x\":1}],\"c\":{\"d\":{},\"doc\":3}}");
    g_autofree char *ca = mmx_json_canonical(a);
    ck_assert_ptr_nonnull(strstr(ca, "\"doc\":\"top\"")); /* the original is untouched */
    g_autoptr(json_t) n = json_integer(7);
    g_autoptr(json_t) nb = mmx_json_without_docs(n);
    ck_assert(json_equal(n, nb));
}
END_TEST

/* ---- JSON Pointers ---- */

START_TEST(test_pointer_escaping)
{
    g_autofree char *p = mmx_json_pointer_append("", "a/b");
    ck_assert_str_eq(p, "/a~1b");
    g_autofree char *q = mmx_json_pointer_append(p, "c~d");
    ck_assert_str_eq(q, "/a~1b/c~0d");
    g_autofree char *e = mmx_json_pointer_append("/x", "");
    ck_assert_str_eq(e, "/x/");
    g_autoptr(GString) s = g_string_new("/train");
    mmx_json_pointer_append_token(s, "~/~");
    ck_assert_str_eq(s->str, "/train/~0~1~0");
    /* Tokens undo the escaping; ~01 is "~1", not "/". */
    g_auto(GStrv) t = mmx_json_pointer_tokens("/a~1b/c~0d/~01/");
    ck_assert_int_eq(g_strv_length(t), 4);
    ck_assert_str_eq(t[0], "a/b");
    ck_assert_str_eq(t[1], "c~d");
    ck_assert_str_eq(t[2], "~1");
    ck_assert_str_eq(t[3], "");
    g_auto(GStrv) root = mmx_json_pointer_tokens("");
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(g_strv_length(root), 0);
    g_auto(GStrv) lone = mmx_json_pointer_tokens("/a~x");
    ck_assert_str_eq(lone[0], "a~x");
    /* Not a pointer. */
    ck_assert_ptr_null(mmx_json_pointer_tokens("a/b"));
}
END_TEST

START_TEST(test_pointer_index_and_get)
{
    size_t i = 99;
    ck_assert(mmx_json_pointer_index("0", &i) && i == 0);
    ck_assert(mmx_json_pointer_index("17", &i) && i == 17);
    ck_assert(mmx_json_pointer_index("999999999999", &i) && i == 999999999999u);
    const char *bad[] = {"", "01", "-", "1a", "-1", "1e3", "9999999999999"};
    for (size_t k = 0; k < G_N_ELEMENTS(bad); k++)
        ck_assert_msg(!mmx_json_pointer_index(bad[k], &i), "'%s' taken as an index", bad[k]);
    g_autoptr(json_t) doc = parse("{\"a/b\": {\"c~d\": [1, 2]}, \"e\": 5, \"\": 7}");
    ck_assert_ptr_eq(mmx_json_pointer_get(doc, ""), doc);
    ck_assert_int_eq(json_integer_value(mmx_json_pointer_get(doc, "/a~1b/c~0d/1")), 2);
    ck_assert_int_eq(json_integer_value(mmx_json_pointer_get(doc, "/")), 7);
    ck_assert_ptr_null(mmx_json_pointer_get(doc, "/a~1b/c~0d/2"));
    ck_assert_ptr_null(mmx_json_pointer_get(doc, "/a~1b/c~0d/01"));
    ck_assert_ptr_null(mmx_json_pointer_get(doc, "/e/f"));
    ck_assert_ptr_null(mmx_json_pointer_get(doc, "e"));
    json_t *arr = mmx_json_pointer_get(doc, "/a~1b/c~0d");
    ck_assert_int_eq(json_integer_value(mmx_json_pointer_child(arr, "0")), 1);
    ck_assert_ptr_null(mmx_json_pointer_child(arr, "-"));
    ck_assert_ptr_null(mmx_json_pointer_child(json_object_get(doc, "e"), "0"));
}
END_TEST

START_TEST(test_pointer_set)
{
    g_autoptr(json_t) doc =
        parse("{\"blocks\": [{\"op\": \"gelu\"}, {\"op\": \"relu\"}], \"train\": {\"lr\": 1}}");
    g_autoptr(json_t) v = json_string("silu");
    g_autoptr(GError) error = NULL;
    ck_assert(mmx_json_pointer_set(doc, "/blocks/*/op", v, &error));
    g_autofree char *c1 = mmx_json_canonical(doc);
    ck_assert_str_eq(c1, "{\"blocks\":[{\"op\":\"silu\"},{\"op\":\"silu\"}],\"train\":{\"lr\":1}}");
    g_autoptr(json_t) two = json_integer(2);
    ck_assert(mmx_json_pointer_set(doc, "/train/lr", two, &error));
    ck_assert(mmx_json_pointer_set(doc, "/train/epochs", two, &error));
    ck_assert(mmx_json_pointer_set(doc, "/blocks/1", two, &error));
    g_autofree char *c2 = mmx_json_canonical(doc);
    ck_assert_str_eq(c2, "{\"blocks\":[{\"op\":\"silu\"},2],\"train\":{\"epochs\":2,\"lr\":2}}");
    /* The value is copied: changing it afterwards changes nothing in doc. */
    json_integer_set(two, 3);
    ck_assert_int_eq(json_integer_value(mmx_json_pointer_get(doc, "/train/lr")), 2);
}
END_TEST

START_TEST(test_pointer_set_refusals)
{
    g_autoptr(json_t) doc = parse("{\"train\": {\"lr\": 1, \"epochs\": 2}, \"blocks\": [1, 2]}");
    g_autoptr(json_t) v = json_integer(5);
    const struct {
        const char *pointer, *message;
    } cases[] = {
        {"", "the empty pointer names the whole spec; set a member instead"},
        {"train/lr", "cannot set train/lr: a JSON Pointer starts with '/'"},
        {"/trian/lr", "cannot set /trian/lr: the root has no member 'trian' (did you mean "
                      "'train'?) (its members: train, blocks)"},
        {"/blocks/5", "cannot set /blocks/5: /blocks is an array of 2 elements: '5' is not an "
                      "index in it (use 0 to 1, or * for every element)"},
        {"/train/lr/x", "cannot set /train/lr/x: /train/lr is a number, not an object or "
                        "array: it has no 'x'"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        ck_assert(!mmx_json_pointer_set(doc, cases[i].pointer, v, &error));
        ck_assert(g_error_matches(error, MMX_JSON_ERROR, MMX_JSON_ERROR_POINTER));
        ck_assert_str_eq(error->message, cases[i].message);
    }
}
END_TEST

/* ---- patches ---- */

START_TEST(test_merge_patch_rfc7396)
{
    /* RFC 7396 appendix A, a few rows. */
    struct {
        const char *target, *patch, *want;
    } merge[] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
        {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
        {"{\"e\":null}", "{\"a\":1}", "{\"a\":1,\"e\":null}"},
        {"{\"a\":\"foo\"}", "null", "null"},
        {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(merge); i++) {
        json_t *t = parse(merge[i].target);
        g_autoptr(json_t) p = parse(merge[i].patch);
        mmx_json_merge_patch(&t, p);
        g_autofree char *got = mmx_json_canonical(t);
        ck_assert_str_eq(got, merge[i].want);
        json_decref(t);
    }
}
END_TEST

START_TEST(test_json_patch_rfc6902)
{
    json_t *doc = parse("{\"foo\":[\"bar\",\"baz\"],\"n\":{\"x\":1}}");
    g_autoptr(json_t) ok = parse("[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"},"
                                 "{\"op\":\"add\",\"path\":\"/a~1b\",\"value\":1},"
                                 "{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":\"end\"},"
                                 "{\"op\":\"replace\",\"path\":\"/n/x\",\"value\":2},"
                                 "{\"op\":\"copy\",\"from\":\"/n\",\"path\":\"/m\"},"
                                 "{\"op\":\"move\",\"from\":\"/m/x\",\"path\":\"/y\"},"
                                 "{\"op\":\"remove\",\"path\":\"/foo/0\"},"
                                 "{\"op\":\"test\",\"path\":\"/y\",\"value\":2}]");
    g_autoptr(GError) error = NULL;
    ck_assert_msg(mmx_json_patch_apply(&doc, ok, &error), "%s", error ? error->message : "");
    g_autofree char *got = mmx_json_canonical(doc);
    ck_assert_str_eq(got, "{\"a/b\":1,\"foo\":[\"qux\",\"baz\",\"end\"],\"m\":{},\"n\":{\"x\":2},"
                          "\"y\":2}");
    /* The whole document: replaced by add, refused by remove. */
    g_autoptr(json_t) whole = parse("[{\"op\":\"add\",\"path\":\"\",\"value\":[1]}]");
    ck_assert(mmx_json_patch_apply(&doc, whole, &error));
    ck_assert_int_eq(json_array_size(doc), 1);
    json_decref(doc);
}
END_TEST

START_TEST(test_json_patch_refusals)
{
    const struct {
        const char *patch, *message;
    } cases[] = {
        {"[{\"op\":\"remove\",\"path\":\"/foo/7\"}]",
         "JSON patch operation 0 (remove /foo/7): /foo is an array of 2 elements: '7' is not "
         "an index in it (use 0 to 1, or * for every element)"},
        {"[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/foo/0\"}]",
         "JSON patch operation 0 (move /foo/0): cannot move /foo into its own child /foo/0"},
        {"[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":1},{\"op\":\"add\",\"path\":\"/foo/9\","
         "\"value\":1}]",
         "JSON patch operation 1 (add /foo/9): index '9' is out of range for an array of 3 "
         "elements"},
        {"[{\"op\":\"replace\",\"path\":\"/nope\",\"value\":1}]",
         "JSON patch operation 0 (replace /nope): nothing to replace at /nope"},
        {"[{\"op\":\"copy\",\"from\":\"/nope\",\"path\":\"/x\"}]",
         "JSON patch operation 0 (copy /x): nothing to copy at /nope"},
        {"[{\"op\":\"test\",\"path\":\"/foo/0\",\"value\":\"baz\"}]",
         "JSON patch operation 0 (test /foo/0): test failed: expected \"baz\", found \"bar\""},
        {"[{\"op\":\"remove\",\"path\":\"\"}]",
         "JSON patch operation 0 (remove ): the whole document cannot be removed"},
        {"[{\"op\":\"add\",\"path\":\"foo\",\"value\":1}]",
         "JSON patch operation 0 (add foo): 'foo' is not a JSON Pointer: it must start with "
         "'/'"},
        {"[{\"op\":\"add\",\"path\":\"/n/x/y\",\"value\":1}]",
         "JSON patch operation 0 (add /n/x/y): /n/x is a number, not an object or array"},
        {"[{\"path\":\"/foo\"}]",
         "JSON patch operation 0 (? /foo): an operation needs string 'op' and 'path'"},
        {"[{\"op\":\"frobnicate\",\"path\":\"/foo\"}]",
         "JSON patch operation 0 (frobnicate /foo): unknown or incomplete operation"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        json_t *doc = parse("{\"foo\":[\"bar\",\"baz\"],\"n\":{\"x\":1}}");
        g_autoptr(json_t) patch = parse(cases[i].patch);
        g_autoptr(GError) error = NULL;
        ck_assert(!mmx_json_patch_apply(&doc, patch, &error));
        ck_assert(g_error_matches(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH));
        ck_assert_str_eq(error->message, cases[i].message);
        json_decref(doc);
    }
}
END_TEST

/* ---- JSON Lines ---- */

static char *
slurp(const char *path)
{
    char *text = NULL;
    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    return text;
}

START_TEST(test_jsonl_round_trip)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "log.jsonl", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_jsonl) log = mmx_jsonl_open(path, 0, &error);
    ck_assert_ptr_nonnull(log);
    for (int i = 0; i < 3; i++) {
        g_autoptr(json_t) r = json_pack("{si sf}", "i", i, "x", 0.1 * i);
        ck_assert(mmx_jsonl_write(log, r, &error));
    }
    g_autofree char *text = slurp(path);
    /* 0 digits: Jansson's 17, which round-trips 0.2 as its double. */
    ck_assert_str_eq(text, "{\"i\":0,\"x\":0.0}\n{\"i\":1,\"x\":0.10000000000000001}\n"
                           "{\"i\":2,\"x\":0.20000000000000001}\n");
    bool torn = true;
    g_autoptr(json_t) all = mmx_jsonl_read_all(path, &torn, &error);
    ck_assert_int_eq(json_array_size(all), 3);
    ck_assert(!torn);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(all, 2), "i")), 2);
    /* The path form: 10 digits, appended to what is there. */
    g_autoptr(json_t) r = json_pack("{sf}", "x", 0.1);
    ck_assert(mmx_jsonl_append(path, r, &error));
    g_autofree char *after = slurp(path);
    ck_assert(g_str_has_suffix(after, "\n{\"x\":0.1}\n"));
    g_autoptr(json_t) again = mmx_jsonl_read(path, &error);
    ck_assert_int_eq(json_array_size(again), 4);
}
END_TEST

START_TEST(test_jsonl_torn_line_repair)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autoptr(GError) error = NULL;
    /* A kill in the middle of the last write: half a line, no newline. */
    g_autofree char *path =
        write_file(dir, "results.jsonl", "{\"trial\":0}\n{\"trial\":1}\n{\"trial\": 2, \"acc");
    bool torn = false;
    g_autoptr(json_t) before = mmx_jsonl_read_all(path, &torn, &error);
    ck_assert_int_eq(json_array_size(before), 2);
    ck_assert(torn);
    /* Opening for append cuts it off, so the next record is a line of its own. */
    g_autoptr(mmx_jsonl) log = mmx_jsonl_open(path, 0, &error);
    ck_assert_ptr_nonnull(log);
    g_autofree char *cut = slurp(path);
    ck_assert_str_eq(cut, "{\"trial\":0}\n{\"trial\":1}\n");
    g_autoptr(json_t) r = json_pack("{si}", "trial", 3);
    ck_assert(mmx_jsonl_write(log, r, &error));
    g_autofree char *text = slurp(path);
    ck_assert_str_eq(text, "{\"trial\":0}\n{\"trial\":1}\n{\"trial\":3}\n");
    g_autoptr(json_t) after = mmx_jsonl_read_all(path, &torn, &error);
    ck_assert_int_eq(json_array_size(after), 3);
    ck_assert(!torn);
    /* A last line complete but for its newline is torn too: what open would cut off,
     * read skips. A file of one torn line is cut to nothing. */
    g_autofree char *whole = write_file(dir, "whole.jsonl", "{\"a\":1}\n{\"a\":2}");
    g_autoptr(json_t) w = mmx_jsonl_read_all(whole, &torn, &error);
    ck_assert_int_eq(json_array_size(w), 1);
    ck_assert(torn);
    g_autofree char *one = write_file(dir, "one.jsonl", "{\"a\":");
    ck_assert(mmx_jsonl_append(one, r, &error));
    g_autofree char *one_text = slurp(one);
    ck_assert_str_eq(one_text, "{\"trial\":3}\n");
    /* A last line with its newline that is not JSON is skipped as torn as well. */
    g_autofree char *garbled = write_file(dir, "garbled.jsonl", "{\"a\":1}\n{\"a\"\n");
    g_autoptr(json_t) g = mmx_jsonl_read_all(garbled, &torn, &error);
    ck_assert_int_eq(json_array_size(g), 1);
    ck_assert(torn);
}
END_TEST

START_TEST(test_jsonl_bad_lines)
{
    g_autofree char *dir = mmx_test_tmpdir();
    const struct {
        const char *text, *message;
    } cases[] = {
        {"{\"a\":1}\nnot json\n{\"a\":2}\n", "bad.jsonl:2: not a JSON line: "},
        {"{\"a\":1}\n[1, 2]\n{\"a\":2}\n", "bad.jsonl:2: not a JSON line: not one JSON object"},
        {"{\"a\":1, \"a\":2}\n{\"a\":2}\n", "bad.jsonl:1: not a JSON line: duplicate object key"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = write_file(dir, "bad.jsonl", cases[i].text);
        g_autoptr(GError) error = NULL;
        ck_assert_ptr_null(mmx_jsonl_read(path, &error));
        ck_assert(g_error_matches(error, MMX_IO_ERROR, EINVAL));
        ck_assert_contains(error->message, cases[i].message);
        ck_assert_contains(error->message, "only a torn last line is skipped, so the file was "
                                           "changed by something other than mmx");
    }
    /* Empty lines are not records and not errors. */
    g_autofree char *gaps = write_file(dir, "gaps.jsonl", "\n{\"a\":1}\n\n{\"a\":2}\n");
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) all = mmx_jsonl_read(gaps, &error);
    ck_assert_int_eq(json_array_size(all), 2);
    g_autofree char *missing = g_build_filename(dir, "missing.jsonl", NULL);
    ck_assert_ptr_null(mmx_jsonl_read(missing, &error));
    ck_assert(g_error_matches(error, MMX_IO_ERROR, ENOENT));
    ck_assert_contains(error->message, "missing.jsonl");
}
END_TEST

START_TEST(test_jsonl_write_errors)
{
    /* /dev/full fails every write with ENOSPC, as a full disk does. */
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) v = json_pack("{s:i}", "epoch", 1);
    ck_assert(!mmx_jsonl_append("/dev/full", v, &error));
    ck_assert(g_error_matches(error, MMX_IO_ERROR, ENOSPC));
    ck_assert_str_eq(error->message, "cannot append to /dev/full: No space left on device");
    g_clear_error(&error);
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *nowhere = g_build_filename(dir, "no", "such", "log.jsonl", NULL);
    ck_assert_ptr_null(mmx_jsonl_open(nowhere, 0, &error));
    g_autofree char *want = g_strdup_printf("cannot open %s: No such file or directory", nowhere);
    ck_assert_str_eq(error->message, want);
}
END_TEST

static Suite *
json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, test_read);
    tcase_add_test(tc, test_read_rejects_duplicate_keys);
    tcase_add_test(tc, test_read_errors);
    tcase_add_test(tc, test_canonical_and_kind);
    tcase_add_test(tc, test_without_docs);
    suite_add_tcase(s, tc);
    tc = tcase_create("pointer");
    tcase_add_test(tc, test_pointer_escaping);
    tcase_add_test(tc, test_pointer_index_and_get);
    tcase_add_test(tc, test_pointer_set);
    tcase_add_test(tc, test_pointer_set_refusals);
    suite_add_tcase(s, tc);
    tc = tcase_create("patch");
    tcase_add_test(tc, test_merge_patch_rfc7396);
    tcase_add_test(tc, test_json_patch_rfc6902);
    tcase_add_test(tc, test_json_patch_refusals);
    suite_add_tcase(s, tc);
    tc = tcase_create("jsonl");
    tcase_add_test(tc, test_jsonl_round_trip);
    tcase_add_test(tc, test_jsonl_torn_line_repair);
    tcase_add_test(tc, test_jsonl_bad_lines);
    tcase_add_test(tc, test_jsonl_write_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return mmx_test_run(json_suite());
}
