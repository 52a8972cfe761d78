/* spec-json.c: located diagnostics, JSON files with a position index, and --set
 * overrides (the JSON Pointer helpers they use are json.c's).
 *
 * Jansson parses (strictly: duplicate keys, invalid UTF-8 and depth are its errors) and
 * keeps no positions, so a small scanner of our own walks the same text once more and
 * records, under each value's JSON Pointer, the line and column where the value starts
 * (and where its key starts, for object members). The scanner trusts Jansson on what
 * is valid: after a successful parse it only indexes. After a syntax error it runs up
 * to the byte Jansson stopped at, to name the pointer of the value being read there.
 * Columns count characters, not bytes, as Jansson's do.
 */
#include "spec-private.h"

#include <stdarg.h>
#include <string.h>

// clang-format off
G_DEFINE_QUARK(mmx-spec-error-quark, mmx_spec_error)
// clang-format on

/* ---- diagnostics ---- */

typedef struct diag {
    char *file;
    int line, col;
    char *pointer;
    char *message;
} diag;

struct mmx_diags {
    GPtrArray *items; /* diag */
    GHashTable *seen; /* formatted lines, for deduplication */
};

static void
diag_free(gpointer data)
{
    diag *d = data;
    g_free(d->file);
    g_free(d->pointer);
    g_free(d->message);
    g_free(d);
}

mmx_diags *
mmx_diags_new(void)
{
    mmx_diags *d = g_new0(mmx_diags, 1);
    d->items = g_ptr_array_new_with_free_func(diag_free);
    d->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return d;
}

void
mmx_diags_free(mmx_diags *diags)
{
    if (diags == NULL)
        return;
    g_ptr_array_unref(diags->items);
    g_hash_table_unref(diags->seen);
    g_free(diags);
}

static char *
diag_format(const diag *d)
{
    const char *ptr = d->pointer && *d->pointer ? d->pointer : "/";
    if (d->pointer == NULL)
        return d->line > 0 ? g_strdup_printf("%s:%d:%d: %s", d->file, d->line, d->col, d->message)
                           : g_strdup_printf("%s: %s", d->file, d->message);
    if (d->line > 0)
        return g_strdup_printf("%s:%d:%d: %s: %s", d->file, d->line, d->col, ptr, d->message);
    return g_strdup_printf("%s: %s: %s", d->file, ptr, d->message);
}

void
mmx_diags_add(mmx_diags *diags, const char *file, int line, int col, const char *pointer,
              const char *fmt, ...)
{
    g_return_if_fail(diags != NULL && fmt != NULL);
    va_list ap;
    va_start(ap, fmt);
    diag *d = g_new0(diag, 1);
    d->file = g_strdup(file ? file : "<spec>");
    d->line = line > 0 ? line : 0;
    d->col = line > 0 ? (col > 0 ? col : 1) : 0;
    d->pointer = g_strdup(pointer);
    d->message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *text = diag_format(d);
    if (g_hash_table_contains(diags->seen, text)) {
        g_free(text);
        diag_free(d);
        return;
    }
    g_hash_table_add(diags->seen, text);
    g_ptr_array_add(diags->items, d);
}

guint
mmx_diags_count(const mmx_diags *diags)
{
    return diags ? diags->items->len : 0;
}

void
mmx_diags_get(const mmx_diags *diags, guint i, const char **file, int *line, int *col,
              const char **pointer, const char **message)
{
    g_return_if_fail(diags != NULL && i < diags->items->len);
    const diag *d = diags->items->pdata[i];
    if (file)
        *file = d->file;
    if (line)
        *line = d->line;
    if (col)
        *col = d->col;
    if (pointer)
        *pointer = d->pointer;
    if (message)
        *message = d->message;
}

char *
mmx_diags_format(const mmx_diags *diags, guint i)
{
    g_return_val_if_fail(diags != NULL && i < diags->items->len, NULL);
    return diag_format(diags->items->pdata[i]);
}

char *
mmx_diags_to_string(const mmx_diags *diags)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < mmx_diags_count(diags); i++) {
        g_autofree char *line = diag_format(diags->items->pdata[i]);
        g_string_append_printf(s, "%s%s", i ? "\n" : "", line);
    }
    return g_string_free(s, FALSE);
}

json_t *
mmx_diags_to_json(const mmx_diags *diags)
{
    json_t *list = json_array();
    for (guint i = 0; i < mmx_diags_count(diags); i++) {
        const diag *d = diags->items->pdata[i];
        json_t *o = json_object();
        json_object_set_new(o, "file", json_string(d->file));
        json_object_set_new(o, "line", json_integer(d->line));
        json_object_set_new(o, "col", json_integer(d->col));
        json_object_set_new(o, "pointer", d->pointer ? json_string(d->pointer) : json_null());
        json_object_set_new(o, "message", json_string(d->message));
        json_array_append_new(list, o);
    }
    return list;
}

bool
mmx_diags_to_gerror(const mmx_diags *diags, GError **error)
{
    if (mmx_diags_count(diags) == 0)
        return true;
    g_autofree char *text = mmx_diags_to_string(diags);
    g_set_error_literal(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID, text);
    return false;
}

/* ---- --set overrides ---- */

char *
mmx__pointer_index(const char *pointer, size_t index)
{
    return g_strdup_printf("%s/%zu", pointer, index);
}

/* Sets value (stolen) at pointer with the --set rules (mmx_json_apply_override). */
static bool
override_set(json_t *root, const char *pointer, json_t *value, GError **error)
{
    g_auto(GStrv) tokens = mmx_json_pointer_tokens(pointer);
    if (tokens == NULL || tokens[0] == NULL) {
        json_decref(value);
        g_set_error(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID,
                    "'%s' is not a JSON Pointer to a member: it must start with '/'", pointer);
        return false;
    }
    json_t *node = root;
    GString *at = g_string_new(NULL);
    guint n = g_strv_length(tokens);
    for (guint i = 0; i + 1 < n; i++) {
        json_t *next = mmx_json_pointer_child(node, tokens[i]);
        g_autofree char *next_ptr = mmx_json_pointer_append(at->str, tokens[i]);
        if (next == NULL && json_is_object(node)) {
            /* A missing member on the way is created, as a merge patch would: a spec
             * without "train" takes --epochs (/train/epochs). The spec reader then judges
             * the result, a misspelt key included. */
            next = json_object();
            json_object_set_new(node, tokens[i], next);
        }
        if (next == NULL) {
            const char *where = *at->str ? at->str : "the document";
            if (json_is_array(node))
                g_set_error(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID,
                            "%s does not exist (%s is an array of %zu element%s)", next_ptr,
                            where, json_array_size(node), json_array_size(node) == 1 ? "" : "s");
            else
                g_set_error(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID,
                            "%s is %s, not an object or an array", where, mmx_json_kind(node));
            g_string_free(at, TRUE);
            json_decref(value);
            return false;
        }
        g_string_assign(at, next_ptr);
        node = next;
    }
    const char *last = tokens[n - 1];
    bool ok = true;
    size_t index;
    if (json_is_object(node)) {
        json_object_set_new(node, last, value);
    } else if (json_is_array(node)) {
        size_t size = json_array_size(node);
        if (strcmp(last, "-") == 0 || (mmx_json_pointer_index(last, &index) && index == size)) {
            json_array_append_new(node, value);
        } else if (mmx_json_pointer_index(last, &index) && index < size) {
            json_array_set_new(node, index, value);
        } else {
            g_set_error(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID,
                        "'%s' is not an index of %s, an array of %zu elements (0..%zu, or '-' "
                        "to append)",
                        last, *at->str ? at->str : "the document", size, size);
            json_decref(value);
            ok = false;
        }
    } else {
        g_set_error(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID,
                    "%s is %s, not an object or an array", *at->str ? at->str : "the document",
                    mmx_json_kind(node));
        json_decref(value);
        ok = false;
    }
    g_string_free(at, TRUE);
    return ok;
}

bool
mmx_json_apply_override(json_t *root, const char *override, GError **error)
{
    g_return_val_if_fail(root != NULL && override != NULL, false);
    const char *eq = strchr(override, '=');
    if (override[0] != '/' || eq == NULL) {
        g_set_error(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID,
                    "--set '%s': expected /json/pointer=VALUE (for example /vars/dim=128)",
                    override);
        return false;
    }
    g_autofree char *pointer = g_strndup(override, (gsize)(eq - override));
    json_t *value = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (value == NULL)
        value = json_string(eq + 1);
    if (value == NULL) {
        g_set_error(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID,
                    "--set '%s': the value is neither JSON nor valid UTF-8 text", override);
        return false;
    }
    g_autoptr(GError) local = NULL;
    if (!override_set(root, pointer, value, &local)) {
        g_set_error(error, MMX_SPEC_ERROR, MMX_SPEC_ERROR_INVALID, "--set '%s': %s", override,
                    local->message);
        return false;
    }
    return true;
}

/* ---- the position index ---- */

typedef struct pos {
    int line, col;         /* the value */
    int key_line, key_col; /* its key, 0 when not an object member */
} pos;

/* Jansson's limit (JSON_PARSER_MAX_DEPTH): deeper documents never reach the index, and
 * the scanner stops there too when it looks for the place of a syntax error. */
#define MAX_DEPTH 2048

typedef struct scanner {
    const char *start, *p, *end;
    int line, lead; /* lead: characters consumed on this line; the column is lead + 1 */
    GString *ptr;
    GHashTable *pos;
    size_t stop_at;
    char *stopped_ptr;
    int depth;
} scanner;

static void
adv(scanner *s)
{
    unsigned char c = (unsigned char)*s->p++;
    if (c == '\n') {
        s->line++;
        s->lead = 0;
    } else if ((c & 0xC0) != 0x80) {
        s->lead++;
    }
}

static bool
stop(scanner *s)
{
    if (s->stopped_ptr == NULL)
        s->stopped_ptr = g_strdup(s->ptr->str);
    return false;
}

static bool
more(scanner *s)
{
    return s->p < s->end && (size_t)(s->p - s->start) < s->stop_at;
}

static void
skip_ws(scanner *s)
{
    while (more(s) && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        adv(s);
}

static int
hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Reads a string at s->p (on its opening quote); decodes it into out when out != NULL. */
static bool
scan_string(scanner *s, GString *out)
{
    adv(s);
    while (more(s) && *s->p != '"') {
        if (*s->p != '\\') {
            if (out)
                g_string_append_c(out, *s->p);
            adv(s);
            continue;
        }
        adv(s);
        if (!more(s))
            return stop(s);
        char e = *s->p;
        if (e == 'u') {
            if (s->end - s->p < 5)
                return stop(s);
            int cp = hex4(s->p + 1);
            if (cp < 0)
                return stop(s);
            for (int i = 0; i < 5; i++)
                adv(s);
            if (cp >= 0xD800 && cp <= 0xDBFF && s->end - s->p >= 6 && s->p[0] == '\\' &&
                s->p[1] == 'u') {
                int lo = hex4(s->p + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    for (int i = 0; i < 6; i++)
                        adv(s);
                }
            }
            if (out)
                g_string_append_unichar(out, (gunichar)cp);
            continue;
        }
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *k = strchr(from, e);
        if (k == NULL || e == '\0')
            return stop(s);
        if (out)
            g_string_append_c(out, to[k - from]);
        adv(s);
    }
    if (!more(s))
        return stop(s);
    adv(s);
    return true;
}

static pos *
entry(scanner *s)
{
    pos *p = g_hash_table_lookup(s->pos, s->ptr->str);
    if (p == NULL) {
        p = g_new0(pos, 1);
        g_hash_table_insert(s->pos, g_strdup(s->ptr->str), p);
    }
    return p;
}

static bool scan_value(scanner *s);

static bool
scan_object(scanner *s)
{
    adv(s);
    skip_ws(s);
    if (more(s) && *s->p == '}') {
        adv(s);
        return true;
    }
    g_autoptr(GString) key = g_string_new(NULL);
    for (;;) {
        skip_ws(s);
        if (!more(s) || *s->p != '"')
            return stop(s);
        int kl = s->line, kc = s->lead + 1;
        g_string_truncate(key, 0);
        size_t len = s->ptr->len;
        if (!scan_string(s, key)) {
            /* Stopped inside the key (a duplicate key): name the member. */
            mmx_json_pointer_append_token(s->ptr, key->str);
            g_free(s->stopped_ptr);
            s->stopped_ptr = g_strdup(s->ptr->str);
            return false;
        }
        mmx_json_pointer_append_token(s->ptr, key->str);
        pos *p = entry(s);
        p->key_line = kl;
        p->key_col = kc;
        skip_ws(s);
        if (!more(s) || *s->p != ':')
            return stop(s);
        adv(s);
        if (!scan_value(s))
            return false;
        g_string_truncate(s->ptr, len);
        skip_ws(s);
        if (!more(s))
            return stop(s);
        if (*s->p == '}') {
            adv(s);
            return true;
        }
        if (*s->p != ',')
            return stop(s);
        adv(s);
    }
}

static bool
scan_array(scanner *s)
{
    adv(s);
    skip_ws(s);
    if (more(s) && *s->p == ']') {
        adv(s);
        return true;
    }
    for (size_t i = 0;; i++) {
        size_t len = s->ptr->len;
        g_string_append_printf(s->ptr, "/%zu", i);
        if (!scan_value(s))
            return false;
        g_string_truncate(s->ptr, len);
        skip_ws(s);
        if (!more(s))
            return stop(s);
        if (*s->p == ']') {
            adv(s);
            return true;
        }
        if (*s->p != ',')
            return stop(s);
        adv(s);
    }
}

static bool
scan_value(scanner *s)
{
    skip_ws(s);
    if (!more(s) || s->depth >= MAX_DEPTH)
        return stop(s);
    pos *p = entry(s);
    p->line = s->line;
    p->col = s->lead + 1;
    char c = *s->p;
    bool ok;
    switch (c) {
    case '{':
        s->depth++;
        ok = scan_object(s);
        s->depth--;
        return ok;
    case '[':
        s->depth++;
        ok = scan_array(s);
        s->depth--;
        return ok;
    case '"':
        return scan_string(s, NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) {
            /* Numbers and literals: Jansson has checked their spelling. */
            while (more(s) && (strchr("+-.eE", *s->p) || g_ascii_isalnum(*s->p)))
                adv(s);
            /* Stopped inside the token (a number too big, a misspelled literal). */
            return s->p < s->end && !more(s) ? stop(s) : true;
        }
        return stop(s);
    }
}

struct mmx_json_file {
    char *name;
    json_t *root;
    GHashTable *pos; /* pointer -> pos; NULL for a document without text */
};

void
mmx_json_file_free(mmx_json_file *file)
{
    if (file == NULL)
        return;
    g_free(file->name);
    json_decref(file->root);
    if (file->pos)
        g_hash_table_unref(file->pos);
    g_free(file);
}

static scanner
scanner_init(const char *text, size_t len, size_t stop_at)
{
    scanner s = {.start = text,
                 .p = text,
                 .end = text + len,
                 .line = 1,
                 .lead = 0,
                 .ptr = g_string_new(NULL),
                 .pos = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
                 .stop_at = stop_at};
    return s;
}

mmx_json_file *
mmx_json_file_parse(const char *name, const char *text, size_t len, mmx_diags *diags)
{
    g_return_val_if_fail(name != NULL && (text != NULL || len == 0), NULL);
    json_error_t err;
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        /* Where was the value being read when Jansson stopped? err.position is the byte
         * after the last one it read. */
        size_t at = err.position > 0 ? (size_t)err.position - 1 : 0;
        scanner s = scanner_init(text ? text : "", len, at);
        scan_value(&s);
        const char *ptr = s.stopped_ptr ? s.stopped_ptr : s.ptr->str;
        int line = err.line > 0 ? err.line : 1;
        mmx_diags_add(diags, name, line, err.column, ptr, "JSON syntax: %s", err.text);
        g_free(s.stopped_ptr);
        g_string_free(s.ptr, TRUE);
        g_hash_table_unref(s.pos);
        return NULL;
    }
    scanner s = scanner_init(text, len, SIZE_MAX);
    bool ok = scan_value(&s);
    g_free(s.stopped_ptr);
    g_string_free(s.ptr, TRUE);
    if (!ok) {
        /* Cannot happen for a document Jansson accepted; be safe rather than wrong. */
        mmx_diags_add(diags, name, 0, 0, NULL,
                      "internal error: the position index could not "
                      "read a document the JSON parser accepted");
        g_hash_table_unref(s.pos);
        json_decref(root);
        return NULL;
    }
    mmx_json_file *f = g_new0(mmx_json_file, 1);
    f->name = g_strdup(name);
    f->root = root;
    f->pos = s.pos;
    return f;
}

mmx_json_file *
mmx_json_file_load(const char *path, mmx_diags *diags)
{
    g_return_val_if_fail(path != NULL, NULL);
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) error = NULL;
    if (!g_file_get_contents(path, &text, &len, &error)) {
        mmx_diags_add(diags, path, 0, 0, NULL, "cannot read the file: %s", error->message);
        return NULL;
    }
    return mmx_json_file_parse(path, text, len, diags);
}

mmx_json_file *
mmx_json_file_new(json_t *doc, const char *name)
{
    g_return_val_if_fail(doc != NULL && name != NULL, NULL);
    mmx_json_file *f = g_new0(mmx_json_file, 1);
    f->name = g_strdup(name);
    f->root = json_incref(doc);
    return f;
}

json_t *
mmx_json_file_root(const mmx_json_file *file)
{
    return file->root;
}

const char *
mmx_json_file_name(const mmx_json_file *file)
{
    return file->name;
}

bool
mmx_json_file_position(const mmx_json_file *file, const char *pointer, bool at_key, int *line,
                       int *col)
{
    *line = *col = 0;
    if (file->pos == NULL)
        return false;
    g_autofree char *p = g_strdup(pointer);
    for (;;) {
        const pos *e = g_hash_table_lookup(file->pos, p);
        if (e) {
            if (at_key && e->key_line > 0) {
                *line = e->key_line;
                *col = e->key_col;
            } else {
                *line = e->line;
                *col = e->col;
            }
            return true;
        }
        char *slash = strrchr(p, '/');
        if (slash == NULL)
            return false;
        *slash = '\0';
        at_key = false;
    }
}
