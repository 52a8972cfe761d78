/* spec-resolve.c: defs and vars: from the document as written (with overrides) to the
 * resolved document, and the origin map between the two.
 *
 * One walk copies the document. On the way:
 * - {"use": "name", "vars": {...}} is replaced by the def's value (a def that is a list,
 *   used as an element of a list, is spliced into it), resolved with the use's vars
 *   layered over the caller's scope (dynamic scoping: a def used inside a stage sees
 *   that stage's ${width}). A def that uses itself, directly or not, is an error.
 * - A string with "${" is evaluated: exactly "${name}" is the var's value (any scalar);
 *   anything else is integer arithmetic over literals and ${name}: + - * / with
 *   parentheses and unary minus, 64-bit, overflow and inexact division are errors.
 * - Global vars (/vars) are evaluated when first needed and may refer to each other;
 *   a cycle is an error naming it. A stage's body sees ${width}, ${depth} and ${stage}.
 * Every resolved node gets an origin (the pointer it was copied from, and the chain of
 * def uses it came through). A node that failed to resolve becomes null and is marked
 * poisoned, so the checks that follow still run elsewhere but say nothing about it:
 * every problem is reported once, and all of them in one pass.
 *
 * The origin map lives here whole: built by the walk, read by mmx__spec_report() and
 * mmx_spec_where(), which turn a pointer of either document into file:line:col (and
 * name the --set override a value came from).
 */
#include "spec-private.h"

#include <math.h>
#include <stdarg.h>
#include <inttypes.h>
#include <string.h>

typedef struct scope scope;
struct scope {
    scope *parent;
    GHashTable *values; /* name -> json_t (owned reference) */
    json_t *raw;        /* the global scope: the /vars object, evaluated lazily */
    GPtrArray *busy;    /* names of raw being evaluated, in order (cycles) */
    GHashTable *failed; /* names of raw that failed (reported once) */
};

typedef struct rctx {
    mmx_spec *spec;
    mmx_diags *diags;
    json_t *defs;    /* /defs of the document, or NULL */
    GPtrArray *uses; /* def names being expanded, outermost first */
    GHashTable *poisoned;
    /* Pointers of "use" values whose error (unknown def, a def using itself) has been
     * reported: a def reached by many paths (defs that use defs twice over) would
     * otherwise repeat the same error once per path, up to the values bound. */
    GHashTable *bad_uses;
    bool ok;
    size_t values; /* values resolved so far */
    bool too_big;  /* past MAX_VALUES: reported, the walk winds down */
} rctx;

/* Bounds on what a spec may expand to. Defs that use defs twice over, thirty levels deep,
 * make a billion values from a few lines; parentheses a million deep overflow a stack. */
#define MAX_VALUES 50000
#define MAX_EXPR_DEPTH 64

static scope *
scope_new(scope *parent)
{
    scope *s = g_new0(scope, 1);
    s->parent = parent;
    s->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)json_decref);
    return s;
}

static void
scope_free(scope *s)
{
    g_hash_table_unref(s->values);
    if (s->busy)
        g_ptr_array_unref(s->busy);
    if (s->failed)
        g_hash_table_unref(s->failed);
    g_free(s);
}

/* ---- the origin map: where a message points ---- */

static void
origin_free(gpointer data)
{
    mmx__origin *o = data;
    g_free(o->ptr);
    g_free(o->via);
    g_free(o);
}

static const mmx__override *
override_covering(const mmx_spec *spec, const char *optr)
{
    const mmx__override *best = NULL;
    for (guint i = 0; spec->overrides && i < spec->overrides->len; i++) {
        const mmx__override *o = spec->overrides->pdata[i];
        size_t n = strlen(o->ptr);
        if (strncmp(optr, o->ptr, n) == 0 && (optr[n] == '\0' || optr[n] == '/') &&
            (best == NULL || n > strlen(best->ptr)))
            best = o;
    }
    return best;
}

void
mmx__spec_report_origin(const mmx_spec *spec, mmx_diags *diags, const char *optr, const char *via,
                        bool at_key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    int line = 0, col = 0;
    const mmx__override *o = override_covering(spec, optr);
    if (o)
        mmx_json_file_position(spec->file, o->ptr, false, &line, &col);
    else
        mmx_json_file_position(spec->file, optr, at_key, &line, &col);
    g_autofree char *via_note = via ? g_strdup_printf(" (%s)", via) : g_strdup("");
    g_autofree char *set_note =
        o ? g_strdup_printf(" (the value comes from --set %s)", o->text) : g_strdup("");
    mmx_diags_add(diags, spec->path, line, col, optr, "%s%s%s", msg, via_note, set_note);
}

static bool
is_poisoned(const mmx_spec *spec, const char *rptr)
{
    g_autofree char *p = g_strdup(rptr);
    for (;;) {
        if (g_hash_table_contains(spec->poisoned, p))
            return true;
        char *slash = strrchr(p, '/');
        if (slash == NULL)
            return false;
        *slash = '\0';
    }
}

/* The origin of a resolved pointer: its own, or its nearest ancestor's plus the rest. */
static char *
origin_of(const mmx_spec *spec, const char *rptr, const char **via)
{
    g_autofree char *p = g_strdup(rptr);
    *via = NULL;
    for (;;) {
        const mmx__origin *o = g_hash_table_lookup(spec->origin, p);
        if (o) {
            *via = o->via;
            return g_strconcat(o->ptr, rptr + strlen(p), NULL);
        }
        char *slash = strrchr(p, '/');
        if (slash == NULL)
            return g_strdup(rptr);
        *slash = '\0';
    }
}

void
mmx__spec_report(const mmx_spec *spec, mmx_diags *diags, const char *rptr, bool at_key,
                 const char *fmt, ...)
{
    if (is_poisoned(spec, rptr))
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    const char *via;
    g_autofree char *optr = origin_of(spec, rptr, &via);
    mmx__spec_report_origin(spec, diags, optr, via, at_key, "%s", msg);
}

char *
mmx_spec_where(const mmx_spec *spec, const char *resolved_pointer)
{
    g_return_val_if_fail(spec != NULL && resolved_pointer != NULL, NULL);
    const char *via;
    g_autofree char *optr = origin_of(spec, resolved_pointer, &via);
    const mmx__override *o = override_covering(spec, optr);
    int line, col;
    if (!mmx_json_file_position(spec->file, o ? o->ptr : optr, false, &line, &col))
        return g_strdup(spec->path);
    return g_strdup_printf("%s:%d:%d", spec->path, line, col);
}

static void
record(rctx *c, const char *rptr, const char *optr, const char *via)
{
    mmx__origin *o = g_new0(mmx__origin, 1);
    o->ptr = g_strdup(optr);
    o->via = g_strdup(via);
    g_hash_table_replace(c->spec->origin, g_strdup(rptr), o);
}

/* ---- the walk ---- */

static void fail(rctx *c, const char *optr, const char *via, bool at_key, const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);

static void
fail(rctx *c, const char *optr, const char *via, bool at_key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    mmx__spec_report_origin(c->spec, c->diags, optr, via, at_key, "%s", msg);
    c->ok = false;
}

static json_t *
poison(rctx *c, const char *rptr)
{
    g_hash_table_add(c->poisoned, g_strdup(rptr));
    return json_null();
}

static bool
valid_identifier(const char *s)
{
    if (!(g_ascii_isalpha(*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(g_ascii_isalnum(*s) || *s == '_'))
            return false;
    return true;
}

static json_t *resolve(rctx *c, json_t *src, const char *optr, const char *via, const char *rptr,
                       scope *sc);

/* ---- vars ---- */

static char *
scope_names_hint(scope *sc, const char *name)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (scope *s = sc; s; s = s->parent) {
        GHashTableIter it;
        gpointer k;
        g_hash_table_iter_init(&it, s->values);
        while (g_hash_table_iter_next(&it, &k, NULL))
            g_ptr_array_add(names, g_strdup(k));
        if (s->raw) {
            const char *key;
            json_t *v;
            json_object_foreach(s->raw, key, v) g_ptr_array_add(names, g_strdup(key));
        }
    }
    if (names->len == 0)
        return g_strdup(" (the spec defines no vars)");
    g_ptr_array_add(names, NULL);
    const char *hint = mmx_suggest(name, (const char *const *)names->pdata);
    return hint ? g_strdup_printf(" (did you mean '%s'?)", hint) : g_strdup("");
}

/* Looks a var up through the scopes; evaluates a global on first use. NULL with *why set
 * when it is unknown or part of a cycle. */
static json_t *
scope_get(rctx *c, scope *sc, const char *name, char **why)
{
    for (scope *s = sc; s; s = s->parent) {
        json_t *v = g_hash_table_lookup(s->values, name);
        if (v)
            return v;
        json_t *raw = s->raw ? json_object_get(s->raw, name) : NULL;
        if (raw == NULL)
            continue;
        if (g_hash_table_contains(s->failed, name)) {
            *why = NULL; /* reported where it failed */
            return NULL;
        }
        for (guint i = 0; i < s->busy->len; i++)
            if (strcmp(s->busy->pdata[i], name) == 0) {
                GString *chain = g_string_new(NULL);
                for (guint j = i; j < s->busy->len; j++)
                    g_string_append_printf(chain, "%s -> ", (char *)s->busy->pdata[j]);
                g_string_append(chain, name);
                *why =
                    g_strdup_printf("var '%s' is defined in terms of itself: %s", name, chain->str);
                g_string_free(chain, TRUE);
                return NULL;
            }
        g_autofree char *ptr = mmx_json_pointer_append("/vars", name);
        g_ptr_array_add(s->busy, g_strdup(name));
        json_t *value = resolve(c, raw, ptr, NULL, ptr, s);
        g_ptr_array_remove_index(s->busy, s->busy->len - 1);
        if (!json_is_number(value) && !json_is_string(value) && !json_is_boolean(value)) {
            if (!json_is_null(value) || !g_hash_table_contains(c->poisoned, ptr))
                fail(c, ptr, NULL, false, "a var is a number, a string or a boolean, not %s",
                     json_is_null(value)    ? "null"
                     : json_is_array(value) ? "an array"
                                            : "an object");
            g_hash_table_add(c->poisoned, g_strdup(ptr));
            g_hash_table_add(s->failed, g_strdup(name));
            json_decref(value);
            *why = NULL; /* already reported where the var is defined */
            return NULL;
        }
        g_hash_table_insert(s->values, g_strdup(name), value);
        return value;
    }
    g_autofree char *hint = scope_names_hint(sc, name);
    *why = g_strdup_printf("unknown var '%s'%s", name, hint);
    return NULL;
}

typedef struct expr {
    rctx *c;
    scope *sc;
    const char *p;
    char *err;     /* the problem, or NULL */
    bool reported; /* the problem was reported elsewhere (a broken var) */
    int depth;     /* of parentheses and unary minus */
    char at[96];   /* the rest of the text, shortened, for messages */
} expr;

/* The text from e->p, at most 20 characters (then "..."), for "at '...'" messages. */
static const char *
at_text(expr *e)
{
    const char *end = e->p;
    for (int i = 0; i < 20 && *end; i++)
        end = g_utf8_next_char(end);
    snprintf(e->at, sizeof e->at, "%.*s%s", (int)(end - e->p), e->p, *end ? "..." : "");
    return e->at;
}

static void expr_fail(expr *e, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
expr_fail(expr *e, const char *fmt, ...)
{
    if (e->err || e->reported)
        return;
    va_list ap;
    va_start(ap, fmt);
    e->err = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

static void
expr_ws(expr *e)
{
    while (*e->p == ' ' || *e->p == '\t')
        e->p++;
}

/* "${name}" at e->p: the name, newly allocated, or NULL. */
static char *
var_ref(expr *e)
{
    if (e->p[0] != '$' || e->p[1] != '{')
        return NULL;
    const char *end = strchr(e->p + 2, '}');
    if (end == NULL) {
        expr_fail(e, "'${' without its closing '}'");
        return NULL;
    }
    char *name = g_strndup(e->p + 2, (gsize)(end - e->p - 2));
    if (!valid_identifier(name)) {
        expr_fail(e, "'${%s}' is not a var reference (a name of letters, digits and '_')", name);
        g_free(name);
        return NULL;
    }
    e->p = end + 1;
    return name;
}

static bool expr_sum(expr *e, int64_t *out);

static bool expr_operand(expr *e, int64_t *out);

static bool
expr_primary(expr *e, int64_t *out)
{
    if (e->depth >= MAX_EXPR_DEPTH) {
        expr_fail(e, "the expression nests deeper than %d levels", MAX_EXPR_DEPTH);
        return false;
    }
    e->depth++;
    bool ok = expr_operand(e, out);
    e->depth--;
    return ok;
}

static bool
expr_operand(expr *e, int64_t *out)
{
    expr_ws(e);
    if (*e->p == '(') {
        e->p++;
        if (!expr_sum(e, out))
            return false;
        expr_ws(e);
        if (*e->p != ')') {
            expr_fail(e, "expected ')' at '%s'", at_text(e));
            return false;
        }
        e->p++;
        return true;
    }
    if (*e->p == '-') {
        e->p++;
        int64_t v;
        if (!expr_primary(e, &v))
            return false;
        if (v == INT64_MIN) {
            expr_fail(e, "the value overflows 64-bit integers");
            return false;
        }
        *out = -v;
        return true;
    }
    if (g_ascii_isdigit(*e->p)) {
        int64_t v = 0;
        while (g_ascii_isdigit(*e->p)) {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *e->p - '0', &v)) {
                expr_fail(e, "the number overflows 64-bit integers");
                return false;
            }
            e->p++;
        }
        if (*e->p == '.' || *e->p == 'e' || *e->p == 'E') {
            expr_fail(e, "arithmetic is on integers; '%s' is not one", at_text(e));
            return false;
        }
        *out = v;
        return true;
    }
    if (e->p[0] == '$') {
        g_autofree char *name = var_ref(e);
        if (name == NULL) {
            /* var_ref is silent when '$' is not followed by '{'. */
            expr_fail(e, "a var is written ${name}; '%s' is not", at_text(e));
            return false;
        }
        char *why = NULL;
        json_t *v = scope_get(e->c, e->sc, name, &why);
        if (v == NULL) {
            if (why)
                expr_fail(e, "%s", why);
            else
                e->reported = true;
            g_free(why);
            return false;
        }
        if (json_is_integer(v)) {
            *out = json_integer_value(v);
            return true;
        }
        if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
            fabs(json_real_value(v)) < 9e15) {
            *out = (int64_t)json_real_value(v);
            return true;
        }
        g_autofree char *text = json_dumps(v, JSON_ENCODE_ANY);
        expr_fail(e, "var '%s' is %s, not an integer (arithmetic is on integers)", name, text);
        return false;
    }
    if (*e->p == '\0')
        expr_fail(e, "the expression ends where a number or ${var} was expected");
    else
        expr_fail(e, "expected a number, ${var} or '(' at '%s'", at_text(e));
    return false;
}

static bool
expr_product(expr *e, int64_t *out)
{
    if (!expr_primary(e, out))
        return false;
    for (;;) {
        expr_ws(e);
        char op = *e->p;
        if (op != '*' && op != '/')
            return true;
        e->p++;
        int64_t b;
        if (!expr_primary(e, &b))
            return false;
        if (op == '*') {
            if (__builtin_mul_overflow(*out, b, out)) {
                expr_fail(e, "the value overflows 64-bit integers");
                return false;
            }
        } else {
            if (b == 0) {
                expr_fail(e, "division by zero");
                return false;
            }
            if ((*out == INT64_MIN && b == -1) || *out % b != 0) {
                expr_fail(e,
                          "%" PRId64 " / %" PRId64 " is not exact (division must leave no "
                          "remainder)",
                          *out, b);
                return false;
            }
            *out /= b;
        }
    }
}

static bool
expr_sum(expr *e, int64_t *out)
{
    if (!expr_product(e, out))
        return false;
    for (;;) {
        expr_ws(e);
        char op = *e->p;
        if (op != '+' && op != '-')
            return true;
        e->p++;
        int64_t b;
        if (!expr_product(e, &b))
            return false;
        if (op == '+' ? __builtin_add_overflow(*out, b, out)
                      : __builtin_sub_overflow(*out, b, out)) {
            expr_fail(e, "the value overflows 64-bit integers");
            return false;
        }
    }
}

/* Evaluates a string with "${". */
static json_t *
evaluate(rctx *c, const char *text, const char *optr, const char *via, const char *rptr, scope *sc)
{
    expr e = {.c = c, .sc = sc, .p = text};
    /* Messages quote the expression, shortened when it is long. */
    g_autofree char *shown =
        g_utf8_strlen(text, -1) > 60
            ? g_strdup_printf("%.*s...", (int)(g_utf8_offset_to_pointer(text, 57) - text), text)
            : g_strdup(text);
    /* Exactly one reference: the var's value, whatever its type. */
    g_autofree char *whole = var_ref(&e);
    if (whole && *e.p == '\0') {
        char *why = NULL;
        json_t *v = scope_get(c, sc, whole, &why);
        if (v)
            return json_deep_copy(v);
        if (why)
            fail(c, optr, via, false, "in \"%s\": %s", shown, why);
        g_free(why);
        return poison(c, rptr);
    }
    g_free(e.err);
    e = (expr){.c = c, .sc = sc, .p = text};
    int64_t v = 0;
    bool ok = expr_sum(&e, &v);
    expr_ws(&e);
    if (ok && *e.p != '\0') {
        expr_fail(&e, "expected an operator (+ - * /) at '%s'", at_text(&e));
        ok = false;
    }
    if (!ok) {
        if (e.err)
            fail(c, optr, via, false, "in \"%s\": %s", shown, e.err);
        else if (!e.reported) /* every refusal says something */
            fail(c, optr, via, false, "in \"%s\": not an integer expression", shown);
        g_free(e.err);
        return poison(c, rptr);
    }
    return json_integer(v);
}

/* ---- defs ---- */

static const char *const use_keys[] = {"use", "vars", "doc", NULL};

static bool
is_use(json_t *v)
{
    return json_is_object(v) && json_object_get(v, "use") != NULL;
}

/* Checks a use object and prepares its expansion: the def, the origin of its body and
 * a new scope with the use's vars. false when reported. */
static bool
use_begin(rctx *c, json_t *use, const char *optr, const char *via, scope *sc, json_t **def,
          char **def_ptr, char **def_via, scope **inner)
{
    bool ok = true;
    const char *key;
    json_t *v;
    json_object_foreach(use, key, v)
    {
        if (g_strv_contains(use_keys, key))
            continue;
        g_autofree char *kp = mmx_json_pointer_append(optr, key);
        const char *hint = mmx_suggest(key, use_keys);
        fail(c, kp, via, true,
             "unknown key '%s' in a use of a def%s%s%s; a use has only use, "
             "vars and doc",
             key, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        ok = false;
    }
    json_t *name = json_object_get(use, "use");
    g_autofree char *name_ptr = mmx_json_pointer_append(optr, "use");
    if (!json_is_string(name)) {
        fail(c, name_ptr, via, false, "\"use\" names a def: expected a string");
        return false;
    }
    const char *n = json_string_value(name);
    *def = c->defs ? json_object_get(c->defs, n) : NULL;
    if (*def == NULL) {
        if (!g_hash_table_add(c->bad_uses, g_strdup(name_ptr))) {
            c->ok = false;
            return false;
        }
        g_autoptr(GPtrArray) names = g_ptr_array_new();
        GString *list = g_string_new(NULL);
        if (c->defs)
            json_object_foreach(c->defs, key, v)
            {
                g_ptr_array_add(names, (gpointer)key);
                g_string_append_printf(list, "%s%s", list->len ? ", " : "", key);
            }
        g_ptr_array_add(names, NULL);
        const char *hint = mmx_suggest(n, (const char *const *)names->pdata);
        fail(c, name_ptr, via, false, "unknown def '%s'%s%s%s; %s%s", n,
             hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "",
             list->len ? "the defs are: " : "the spec has no defs", list->str);
        g_string_free(list, TRUE);
        return false;
    }
    for (guint i = 0; i < c->uses->len; i++)
        if (strcmp(c->uses->pdata[i], n) == 0) {
            if (!g_hash_table_add(c->bad_uses, g_strdup(name_ptr))) {
                c->ok = false;
                return false;
            }
            GString *chain = g_string_new(NULL);
            for (guint j = i; j < c->uses->len; j++)
                g_string_append_printf(chain, "%s -> ", (char *)c->uses->pdata[j]);
            g_string_append(chain, n);
            fail(c, name_ptr, via, false, "def '%s' uses itself: %s", n, chain->str);
            g_string_free(chain, TRUE);
            return false;
        }
    json_t *vars = json_object_get(use, "vars");
    g_autofree char *vars_ptr = mmx_json_pointer_append(optr, "vars");
    *inner = scope_new(sc);
    if (vars && !json_is_object(vars)) {
        fail(c, vars_ptr, via, false, "\"vars\" of a use: expected an object of name: value");
        ok = false;
    } else if (vars) {
        json_object_foreach(vars, key, v)
        {
            g_autofree char *vp = mmx_json_pointer_append(vars_ptr, key);
            /* The use's vars are not part of the resolved document: a private prefix
             * keeps their pointers apart from the real ones. */
            g_autofree char *vr = g_strconcat("#use", vp, NULL);
            if (!valid_identifier(key)) {
                fail(c, vp, via, true,
                     "'%s' is not a var name (letters, digits and '_', not "
                     "starting with a digit)",
                     key);
                ok = false;
                continue;
            }
            json_t *value = resolve(c, v, vp, via, vr, sc);
            if (!json_is_number(value) && !json_is_string(value) && !json_is_boolean(value)) {
                if (!g_hash_table_contains(c->poisoned, vr))
                    fail(c, vp, via, false, "a var is a number, a string or a boolean");
                json_decref(value);
                ok = false;
                continue;
            }
            g_hash_table_insert((*inner)->values, g_strdup(key), value);
        }
    }
    if (!ok) {
        scope_free(*inner);
        *inner = NULL;
        return false;
    }
    *def_ptr = mmx_json_pointer_append("/defs", n);
    /* The chain of uses, outermost last; past three, only how deep it is. */
    if (c->uses->len >= 3)
        *def_via = g_strdup_printf("in def '%s' used at %s, %u uses of defs deep", n,
                                   *optr ? optr : "/", c->uses->len + 1);
    else
        *def_via = g_strdup_printf("in def '%s' used at %s%s%s", n, *optr ? optr : "/",
                                   via ? ", " : "", via ? via : "");
    g_ptr_array_add(c->uses, g_strdup(n));
    return true;
}

static void
use_end(rctx *c, scope *inner)
{
    g_ptr_array_remove_index(c->uses, c->uses->len - 1);
    scope_free(inner);
}

/* ---- the walk ---- */

typedef json_t *(*elem_fn)(rctx *c, json_t *src, const char *optr, const char *via,
                           const char *rptr, scope *sc, size_t index);

static json_t *
resolve_elem(rctx *c, json_t *src, const char *optr, const char *via, const char *rptr, scope *sc,
             size_t index)
{
    (void)index;
    return resolve(c, src, optr, via, rptr, sc);
}

/* The def a use names when it is a list (spliced into the list the use is in). */
static json_t *
list_def(rctx *c, json_t *v)
{
    if (!is_use(v) || c->defs == NULL || !json_is_string(json_object_get(v, "use")))
        return NULL;
    json_t *def = json_object_get(c->defs, json_string_value(json_object_get(v, "use")));
    return json_is_array(def) ? def : NULL;
}

/* Counts one more value (or spliced list) of the expansion against MAX_VALUES; past it,
 * reports once and returns true from then on. Splices count too: list defs made of uses
 * of empty list defs multiply without producing a single value. */
static bool
over_budget(rctx *c, const char *optr, const char *via)
{
    if (++c->values <= MAX_VALUES)
        return false;
    if (!c->too_big)
        fail(c, optr, via, false,
             "the spec expands to more than %d values here (defs that use defs several "
             "times over multiply)",
             MAX_VALUES);
    c->too_big = true;
    return true;
}

/* Appends the elements of src (at optr) to out (at rptr); an element that is a use of a
 * list def is replaced by that list's elements, spliced the same way (so a list def may
 * itself be made of uses of list defs). */
static void
append_items(rctx *c, json_t *out, json_t *src, const char *optr, const char *via, const char *rptr,
             scope *sc, elem_fn fn)
{
    size_t i;
    json_t *v;
    json_array_foreach(src, i, v)
    {
        g_autofree char *op = mmx__pointer_index(optr, i);
        g_autofree char *rp = mmx__pointer_index(rptr, json_array_size(out));
        if (list_def(c, v) && !over_budget(c, op, via)) {
            json_t *def = NULL;
            g_autofree char *def_ptr = NULL, *def_via = NULL;
            scope *inner = NULL;
            if (!use_begin(c, v, op, via, sc, &def, &def_ptr, &def_via, &inner)) {
                record(c, rp, op, via);
                json_array_append_new(out, poison(c, rp));
                continue;
            }
            append_items(c, out, def, def_ptr, def_via, rptr, inner, fn);
            use_end(c, inner);
            continue;
        }
        json_array_append_new(out, fn(c, v, op, via, rp, sc, json_array_size(out)));
    }
}

/* An array; elements that are uses of a list def are spliced in. */
static json_t *
resolve_array(rctx *c, json_t *src, const char *optr, const char *via, const char *rptr, scope *sc,
              elem_fn fn)
{
    json_t *out = json_array();
    record(c, rptr, optr, via);
    append_items(c, out, src, optr, via, rptr, sc, fn);
    return out;
}

static json_t *
resolve(rctx *c, json_t *src, const char *optr, const char *via, const char *rptr, scope *sc)
{
    if (over_budget(c, optr, via)) {
        record(c, rptr, optr, via);
        return poison(c, rptr);
    }
    if (is_use(src)) {
        json_t *def = NULL;
        g_autofree char *def_ptr = NULL, *def_via = NULL;
        scope *inner = NULL;
        if (!use_begin(c, src, optr, via, sc, &def, &def_ptr, &def_via, &inner)) {
            record(c, rptr, optr, via);
            return poison(c, rptr);
        }
        json_t *out = resolve(c, def, def_ptr, def_via, rptr, inner);
        use_end(c, inner);
        return out;
    }
    if (json_is_object(src)) {
        json_t *out = json_object();
        record(c, rptr, optr, via);
        const char *key;
        json_t *v;
        json_object_foreach(src, key, v)
        {
            g_autofree char *op = mmx_json_pointer_append(optr, key);
            g_autofree char *rp = mmx_json_pointer_append(rptr, key);
            if (strcmp(key, "doc") == 0) { /* prose: never evaluated */
                record(c, rp, op, via);
                json_object_set_new(out, key, json_deep_copy(v));
                continue;
            }
            json_object_set_new(out, key, resolve(c, v, op, via, rp, sc));
        }
        return out;
    }
    if (json_is_array(src))
        return resolve_array(c, src, optr, via, rptr, sc, resolve_elem);
    record(c, rptr, optr, via);
    if (json_is_string(src) && strstr(json_string_value(src), "${"))
        return evaluate(c, json_string_value(src), optr, via, rptr, sc);
    return json_deep_copy(src);
}

/* A stage: depth and width first, then the rest with ${width}, ${depth}, ${stage}. */
static json_t *
resolve_stage(rctx *c, json_t *src, const char *optr, const char *via, const char *rptr, scope *sc,
              size_t index)
{
    if (is_use(src)) {
        json_t *def = NULL;
        g_autofree char *def_ptr = NULL, *def_via = NULL;
        scope *inner = NULL;
        if (!use_begin(c, src, optr, via, sc, &def, &def_ptr, &def_via, &inner)) {
            record(c, rptr, optr, via);
            return poison(c, rptr);
        }
        json_t *out = resolve_stage(c, def, def_ptr, def_via, rptr, inner, index);
        use_end(c, inner);
        return out;
    }
    if (!json_is_object(src))
        return resolve(c, src, optr, via, rptr, sc);
    scope *st = scope_new(sc);
    json_t *out = json_object();
    record(c, rptr, optr, via);
    static const char *const first[] = {"depth", "width"};
    for (size_t k = 0; k < G_N_ELEMENTS(first); k++) {
        json_t *v = json_object_get(src, first[k]);
        if (v == NULL)
            continue;
        g_autofree char *op = mmx_json_pointer_append(optr, first[k]);
        g_autofree char *rp = mmx_json_pointer_append(rptr, first[k]);
        json_t *r = resolve(c, v, op, via, rp, sc);
        json_object_set_new(out, first[k], r);
        if (json_is_integer(r))
            g_hash_table_insert(st->values, g_strdup(first[k]), json_incref(r));
    }
    g_hash_table_insert(st->values, g_strdup("stage"), json_integer((json_int_t)index));
    const char *key;
    json_t *v;
    json_object_foreach(src, key, v)
    {
        if (json_object_get(out, key))
            continue;
        g_autofree char *op = mmx_json_pointer_append(optr, key);
        g_autofree char *rp = mmx_json_pointer_append(rptr, key);
        if (strcmp(key, "doc") == 0) {
            record(c, rp, op, via);
            json_object_set_new(out, key, json_deep_copy(v));
            continue;
        }
        json_object_set_new(out, key, resolve(c, v, op, via, rp, st));
    }
    scope_free(st);
    return out;
}

bool
mmx__spec_resolve(mmx_spec *spec, mmx_diags *diags)
{
    json_t *doc = spec->doc;
    spec->origin = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, origin_free);
    rctx c = {.spec = spec,
              .diags = diags,
              .uses = g_ptr_array_new_with_free_func(g_free),
              .poisoned = spec->poisoned,
              .bad_uses = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
              .ok = true};
    json_t *defs = json_object_get(doc, "defs");
    if (defs && !json_is_object(defs)) {
        fail(&c, "/defs", NULL, false, "\"defs\" is an object of name: reusable value");
        defs = NULL;
    }
    c.defs = defs;
    const char *key;
    json_t *v;
    if (defs)
        json_object_foreach(defs, key, v) if (!valid_identifier(key))
        {
            g_autofree char *p = mmx_json_pointer_append("/defs", key);
            fail(&c, p, NULL, true,
                 "'%s' is not a def name (letters, digits and '_', not "
                 "starting with a digit)",
                 key);
        }
    scope *global = scope_new(NULL);
    json_t *vars = json_object_get(doc, "vars");
    global->busy = g_ptr_array_new_with_free_func(g_free);
    global->failed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (vars && !json_is_object(vars)) {
        fail(&c, "/vars", NULL, false, "\"vars\" is an object of name: number");
    } else if (vars) {
        global->raw = vars;
        json_object_foreach(vars, key, v) if (!valid_identifier(key))
        {
            g_autofree char *p = mmx_json_pointer_append("/vars", key);
            fail(&c, p, NULL, true,
                 "'%s' is not a var name (letters, digits and '_', not "
                 "starting with a digit)",
                 key);
        }
    }

    json_t *out = json_object();
    record(&c, "", "", NULL);
    json_object_foreach(doc, key, v)
    {
        g_autofree char *p = mmx_json_pointer_append("", key);
        if (strcmp(key, "defs") == 0)
            continue;
        if (strcmp(key, "vars") == 0 && global->raw) {
            json_t *rv = json_object();
            record(&c, p, p, NULL);
            const char *name;
            json_t *raw;
            json_object_foreach(vars, name, raw)
            {
                g_autofree char *vp = mmx_json_pointer_append(p, name);
                char *why = NULL;
                json_t *value = valid_identifier(name) ? scope_get(&c, global, name, &why) : NULL;
                if (why)
                    fail(&c, vp, NULL, false, "%s", why);
                g_free(why);
                record(&c, vp, vp, NULL);
                json_object_set_new(rv, name, value ? json_deep_copy(value) : poison(&c, vp));
            }
            json_object_set_new(out, key, rv);
            continue;
        }
        if (strcmp(key, "doc") == 0) {
            record(&c, p, p, NULL);
            json_object_set_new(out, key, json_deep_copy(v));
            continue;
        }
        if (strcmp(key, "stages") == 0 && json_is_array(v)) {
            json_object_set_new(out, key, resolve_array(&c, v, p, NULL, p, global, resolve_stage));
            continue;
        }
        json_object_set_new(out, key, resolve(&c, v, p, NULL, p, global));
    }
    scope_free(global);
    g_ptr_array_unref(c.uses);
    g_hash_table_destroy(c.bad_uses);
    spec->resolved = out;
    return c.ok;
}
