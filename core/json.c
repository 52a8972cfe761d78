/* json.c: the JSON helpers of every module: the file reader, the canonical form, JSON
 * Pointers (RFC 6901, with the "*" wildcard of docs/sweeps.md when setting), the merge
 * patch (RFC 7396) and JSON Patch (RFC 6902).
 *
 * Design: Jansson does the parsing and the values; this file only adds what Jansson
 * lacks, once. Every reader of a file mmx is given refuses duplicate keys (a second
 * "lr" silently winning over the first is a bug waiting in a spec), so there is one
 * reader and no flag. Errors that concern a place in a document name its pointer, and
 * a pointer that leads nowhere names what is there instead, with a suggestion.
 */
#include "mmx-private.h"

#include <string.h>

#include <mmx/mmx-json.h>

// clang-format off
G_DEFINE_QUARK(mmx-json-error-quark, mmx_json_error)
// clang-format on

/* ---- reading ---- */

json_t *
mmx_json_read(const char *path, GError **error)
{
    g_return_val_if_fail(path != NULL, NULL);
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) io = NULL;
    if (!g_file_get_contents(path, &text, &len, &io)) {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_IO, "%s", io->message);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (root == NULL)
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PARSE, "%s:%d:%d: %s", path,
                    je.line < 1 ? 1 : je.line, je.column < 1 ? 1 : je.column, je.text);
    return root;
}

char *
mmx_json_canonical(const json_t *value)
{
    return json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

json_t *
mmx_json_without_docs(const json_t *value)
{
    if (json_is_array(value)) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(value); i++)
            json_array_append_new(out, mmx_json_without_docs(json_array_get(value, i)));
        return out;
    }
    if (!json_is_object(value))
        return json_deep_copy(value);
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)value, key, v)
    {
        if (!(strcmp(key, "doc") == 0 && json_is_string(v)))
            json_object_set_new(out, key, mmx_json_without_docs(v));
    }
    return out;
}

const char *
mmx_json_kind(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        break;
    }
    return "null";
}

/* ---- JSON Pointers ---- */

void
mmx_json_pointer_append_token(GString *out, const char *key)
{
    g_string_append_c(out, '/');
    for (const char *k = key; *k; k++) {
        if (*k == '~')
            g_string_append(out, "~0");
        else if (*k == '/')
            g_string_append(out, "~1");
        else
            g_string_append_c(out, *k);
    }
}

char *
mmx_json_pointer_append(const char *pointer, const char *key)
{
    GString *s = g_string_new(pointer);
    mmx_json_pointer_append_token(s, key);
    return g_string_free(s, FALSE);
}

char **
mmx_json_pointer_tokens(const char *pointer)
{
    g_return_val_if_fail(pointer != NULL, NULL);
    if (*pointer == '\0')
        return g_new0(char *, 1);
    if (*pointer != '/')
        return NULL;
    if (pointer[1] == '\0') {
        /* "/" names the member "" (RFC 6901); g_strsplit would give no token at all. */
        char **one = g_new0(char *, 2);
        one[0] = g_strdup("");
        return one;
    }
    char **parts = g_strsplit(pointer + 1, "/", -1);
    for (char **p = parts; *p; p++) {
        GString *t = g_string_new(NULL);
        for (const char *c = *p; *c; c++) {
            if (c[0] == '~' && c[1] == '1') {
                g_string_append_c(t, '/');
                c++;
            } else if (c[0] == '~' && c[1] == '0') {
                g_string_append_c(t, '~');
                c++;
            } else {
                g_string_append_c(t, *c);
            }
        }
        g_free(*p);
        *p = g_string_free(t, FALSE);
    }
    return parts;
}

bool
mmx_json_pointer_index(const char *token, size_t *index)
{
    /* At most 12 digits: far beyond any array, and no overflow of size_t. */
    if (*token == '\0' || (token[0] == '0' && token[1] != '\0') || strlen(token) > 12)
        return false;
    size_t v = 0;
    for (const char *c = token; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (size_t)(*c - '0');
    }
    *index = v;
    return true;
}

json_t *
mmx_json_pointer_child(json_t *node, const char *token)
{
    size_t i;
    if (json_is_object(node))
        return json_object_get(node, token);
    if (json_is_array(node) && mmx_json_pointer_index(token, &i))
        return json_array_get(node, i);
    return NULL;
}

json_t *
mmx_json_pointer_get(json_t *root, const char *pointer)
{
    g_return_val_if_fail(pointer != NULL, NULL);
    g_auto(GStrv) toks = mmx_json_pointer_tokens(pointer);
    if (toks == NULL)
        return NULL;
    json_t *node = root;
    for (char **t = toks; *t && node; t++)
        node = mmx_json_pointer_child(node, *t);
    return node;
}

/* Why a token does not lead anywhere in node (at pointer where). */
static void
missing_error(json_t *node, const char *where, const char *tok, GError **error)
{
    const char *w = *where ? where : "the root";
    if (json_is_object(node)) {
        g_autoptr(GPtrArray) keys = g_ptr_array_new();
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v) { g_ptr_array_add(keys, (gpointer)k); }
        g_ptr_array_add(keys, NULL);
        const char *hint = mmx_suggest(tok, (const char *const *)keys->pdata);
        g_autofree char *list = g_strjoinv(", ", (char **)keys->pdata);
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_POINTER,
                    "%s has no member '%s'%s%s%s (its members: %s)", w, tok,
                    hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "",
                    *list ? list : "none");
    } else if (json_is_array(node)) {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_POINTER,
                    "%s is an array of %zu elements: '%s' is not an index in it (use 0 to "
                    "%zu, or * for every element)",
                    w, json_array_size(node), tok,
                    json_array_size(node) ? json_array_size(node) - 1 : 0);
    } else {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_POINTER,
                    "%s is %s, not an object or array: it has no '%s'", w, mmx_json_kind(node),
                    tok);
    }
}

static bool
set_at(json_t *node, char **toks, GString *where, const json_t *value, GError **error)
{
    const char *tok = toks[0];
    bool last = toks[1] == NULL;
    gsize mark = where->len;
    if (json_is_array(node) && strcmp(tok, "*") == 0) {
        /* The wildcard: every element of the array. */
        for (size_t i = 0; i < json_array_size(node); i++) {
            g_string_append_printf(where, "/%zu", i);
            bool ok = last ? json_array_set_new(node, i, json_deep_copy(value)) == 0
                           : set_at(json_array_get(node, i), toks + 1, where, value, error);
            g_string_truncate(where, mark);
            if (!ok)
                return false;
        }
        return true;
    }
    if (last && json_is_object(node)) {
        json_object_set_new(node, tok, json_deep_copy(value));
        return true;
    }
    json_t *child = mmx_json_pointer_child(node, tok);
    if (child == NULL) {
        missing_error(node, where->str, tok, error);
        return false;
    }
    if (last) {
        size_t i = 0;
        mmx_json_pointer_index(tok, &i); /* child != NULL: an index of this array */
        json_array_set_new(node, i, json_deep_copy(value));
        return true;
    }
    mmx_json_pointer_append_token(where, tok);
    bool ok = set_at(child, toks + 1, where, value, error);
    g_string_truncate(where, mark);
    return ok;
}

bool
mmx_json_pointer_set(json_t *root, const char *pointer, const json_t *value, GError **error)
{
    g_return_val_if_fail(root != NULL && pointer != NULL && value != NULL, false);
    if (*pointer == '\0') {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_POINTER,
                    "the empty pointer names the whole spec; set a member instead");
        return false;
    }
    g_auto(GStrv) toks = mmx_json_pointer_tokens(pointer);
    if (toks == NULL) {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_POINTER,
                    "cannot set %s: a JSON Pointer starts with '/'", pointer);
        return false;
    }
    g_autoptr(GString) where = g_string_new(NULL);
    g_autoptr(GError) local = NULL;
    if (set_at(root, toks, where, value, &local))
        return true;
    g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_POINTER, "cannot set %s: %s", pointer,
                local->message);
    return false;
}

/* ---- RFC 7396 merge patch ---- */

void
mmx_json_merge_patch(json_t **target, const json_t *patch)
{
    if (!json_is_object(patch)) {
        json_t *old = *target;
        *target = json_deep_copy(patch);
        json_decref(old);
        return;
    }
    if (!json_is_object(*target)) {
        json_decref(*target);
        *target = json_object();
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v)
    {
        if (json_is_null(v)) {
            json_object_del(*target, key);
            continue;
        }
        json_t *child = json_incref(json_object_get(*target, key));
        mmx_json_merge_patch(&child, v);
        json_object_set_new(*target, key, child);
    }
}

/* ---- RFC 6902 JSON patch ---- */

/* The container that holds the pointer's last token (borrowed), and that token (newly
 * allocated into *last); NULL with the reason. */
static json_t *
parent_of(json_t *root, const char *pointer, char **last, GError **error)
{
    g_auto(GStrv) toks = mmx_json_pointer_tokens(pointer);
    if (toks == NULL) {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH,
                    "'%s' is not a JSON Pointer: it must start with '/'", pointer);
        return NULL;
    }
    guint n = g_strv_length(toks);
    json_t *node = root;
    g_autoptr(GString) where = g_string_new(NULL);
    for (guint i = 0; i + 1 < n; i++) {
        json_t *c = mmx_json_pointer_child(node, toks[i]);
        if (c == NULL) {
            missing_error(node, where->str, toks[i], error);
            return NULL;
        }
        mmx_json_pointer_append_token(where, toks[i]);
        node = c;
    }
    if (!json_is_object(node) && !json_is_array(node)) {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH,
                    "%s is %s, not an object or array", *where->str ? where->str : "the root",
                    mmx_json_kind(node));
        return NULL;
    }
    *last = g_strdup(toks[n - 1]);
    return node;
}

/* add (steals value). */
static bool
patch_add(json_t **root, const char *path, json_t *value, GError **error)
{
    if (*path == '\0') {
        json_decref(*root);
        *root = value;
        return true;
    }
    g_autofree char *last = NULL;
    json_t *parent = parent_of(*root, path, &last, error);
    if (parent == NULL) {
        json_decref(value);
        return false;
    }
    if (json_is_object(parent)) {
        json_object_set_new(parent, last, value);
        return true;
    }
    if (strcmp(last, "-") == 0) {
        json_array_append_new(parent, value);
        return true;
    }
    size_t i;
    if (!mmx_json_pointer_index(last, &i) || i > json_array_size(parent)) {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH,
                    "index '%s' is out of range for an array of %zu elements", last,
                    json_array_size(parent));
        json_decref(value);
        return false;
    }
    json_array_insert_new(parent, i, value);
    return true;
}

/* remove; the removed value is returned (new reference) when taken is non-NULL. */
static bool
patch_remove(json_t **root, const char *path, json_t **taken, GError **error)
{
    if (*path == '\0') {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH,
                    "the whole document cannot be removed");
        return false;
    }
    g_autofree char *last = NULL;
    json_t *parent = parent_of(*root, path, &last, error);
    if (parent == NULL)
        return false;
    json_t *v = mmx_json_pointer_child(parent, last);
    if (v == NULL) {
        g_autofree char *up = g_strndup(path, (gsize)(strrchr(path, '/') - path));
        missing_error(parent, up, last, error);
        return false;
    }
    if (taken)
        *taken = json_incref(v);
    size_t i;
    if (json_is_object(parent))
        json_object_del(parent, last);
    else if (mmx_json_pointer_index(last, &i))
        json_array_remove(parent, i);
    return true;
}

/* One operation; false with the reason in *error (without the operation's name). */
static bool
patch_op(json_t **target, const json_t *op, GError **error)
{
    const char *name = json_string_value(json_object_get(op, "op"));
    const char *path = json_string_value(json_object_get(op, "path"));
    const char *from = json_string_value(json_object_get(op, "from"));
    json_t *value = json_object_get(op, "value");
    if (name == NULL || path == NULL) {
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH,
                    "an operation needs string 'op' and 'path'");
        return false;
    }
    if (strcmp(name, "add") == 0 && value)
        return patch_add(target, path, json_deep_copy(value), error);
    if (strcmp(name, "remove") == 0)
        return patch_remove(target, path, NULL, error);
    if (strcmp(name, "replace") == 0 && value) {
        if (*path && mmx_json_pointer_get(*target, path) == NULL) {
            g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH, "nothing to replace at %s",
                        path);
            return false;
        }
        return (*path == '\0' || patch_remove(target, path, NULL, error)) &&
               patch_add(target, path, json_deep_copy(value), error);
    }
    if ((strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) && from) {
        bool move = name[0] == 'm';
        size_t fl = strlen(from);
        json_t *v = NULL;
        if (move && strncmp(path, from, fl) == 0 && (path[fl] == '/' || path[fl] == 0) &&
            strcmp(path, from) != 0) {
            g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH,
                        "cannot move %s into its own child %s", from, path);
            return false;
        }
        if (move) {
            if (!patch_remove(target, from, &v, error))
                return false;
        } else if ((v = mmx_json_pointer_get(*target, from)) != NULL) {
            v = json_deep_copy(v);
        } else {
            g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH, "nothing to copy at %s",
                        from);
            return false;
        }
        return patch_add(target, path, v, error);
    }
    if (strcmp(name, "test") == 0 && value) {
        json_t *have = mmx_json_pointer_get(*target, path);
        if (have && json_equal(have, value))
            return true;
        g_autofree char *want = mmx_json_canonical(value);
        g_autofree char *got = have ? mmx_json_canonical(have) : g_strdup("nothing");
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH,
                    "test failed: expected %s, found %s", want, got);
        return false;
    }
    g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH, "unknown or incomplete operation");
    return false;
}

bool
mmx_json_patch_apply(json_t **target, const json_t *patch, GError **error)
{
    g_return_val_if_fail(target != NULL && *target != NULL, false);
    size_t i;
    json_t *op;
    json_array_foreach((json_t *)patch, i, op)
    {
        g_autoptr(GError) local = NULL;
        if (patch_op(target, op, &local))
            continue;
        const char *name = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        g_set_error(error, MMX_JSON_ERROR, MMX_JSON_ERROR_PATCH,
                    "JSON patch operation %zu (%s %s): %s", i, name ? name : "?",
                    path ? path : "?", local->message);
        return false;
    }
    return true;
}
