/* mmx-json.h: the JSON helpers every part of mmx uses: reading a JSON file, JSON Pointers
 * (RFC 6901), the merge patch (RFC 7396) and JSON Patch (RFC 6902), the canonical form,
 * and JSON Lines logs that survive a kill at any moment.
 *
 *     g_autoptr(GError) error = NULL;
 *     g_autoptr(json_t) spec = mmx_json_read("spec.json", &error);  // file:line:col on error
 *     g_autofree char *p = mmx_json_pointer_append("/train", "lr");  // "/train/lr"
 *     mmx_json_pointer_set(spec, p, lr, &error);
 *     g_autofree char *id = mmx_json_canonical(spec);                // sorted keys, compact
 *
 * Ownership words as Jansson's: "new" (the caller releases it), "borrowed" (valid while
 * its container lives), "steals" (the function takes the caller's reference).
 * Reading is strict everywhere: a duplicate key is an error, as in every file mmx reads.
 */
#ifndef MMX_JSON_H
#define MMX_JSON_H

#include <mmx/mmx-core.h>

G_BEGIN_DECLS

/* g_autoptr(json_t) releases with json_decref. Declared here once for the core, the
 * tools and the tests. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

#define MMX_JSON_ERROR (mmx_json_error_quark())
MMX_API GQuark mmx_json_error_quark(void);

typedef enum mmx_json_error_code {
    MMX_JSON_ERROR_IO,      /* the file cannot be read */
    MMX_JSON_ERROR_PARSE,   /* not JSON, or a duplicate key */
    MMX_JSON_ERROR_POINTER, /* a JSON Pointer that is malformed or leads nowhere */
    MMX_JSON_ERROR_PATCH,   /* a JSON Patch operation that does not apply */
} mmx_json_error_code;

/* ---------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------ */

/* Reads a JSON file (any value at the top, duplicate keys refused). New reference; NULL
 * with MMX_JSON_ERROR_IO ("path: why") when the file cannot be read, or
 * MMX_JSON_ERROR_PARSE ("path:line:col: why") when it is not JSON. */
MMX_API json_t *mmx_json_read(const char *path, GError **error);

/* The canonical form: sorted keys, compact, any value (newly allocated; NULL only when
 * the value cannot be encoded, as json_dumps). Equal JSON gives equal text: ids and
 * fingerprints are hashes of it. */
MMX_API char *mmx_json_canonical(const json_t *value);
/* A deep copy of value without its `doc` members (string-valued, at any depth): the prose
 * of a spec, which training never reads, so that ids hashed over the copy survive an edit
 * of a doc string (new; never NULL for a valid value). */
MMX_API json_t *mmx_json_without_docs(const json_t *value);
/* What a value is, for messages: "an object", "an array", "a string", "a number" (integer
 * or real), "a boolean" or "null" (a static string). */
MMX_API const char *mmx_json_kind(const json_t *value);

/* ---------------------------------------------------------------------------------------
 * JSON Pointers (RFC 6901)
 * ------------------------------------------------------------------------------------ */

/* Appends "/" and key escaped as a pointer token (~ -> ~0, / -> ~1) to out (the caller's
 * string; key is borrowed). Cannot fail. */
MMX_API void mmx_json_pointer_append_token(GString *out, const char *key);
/* pointer + "/" + escaped key, newly allocated. */
MMX_API char *mmx_json_pointer_append(const char *pointer, const char *key);
/* The unescaped tokens of a pointer ("/a/b~1c" -> {"a", "b/c"}), a new NULL-terminated
 * vector (g_strfreev); "" (the whole document) gives an empty vector, "/" the one token
 * "". NULL when the pointer does not start with '/'. A '~' not followed by 0 or 1 stays
 * as it is. */
MMX_API char **mmx_json_pointer_tokens(const char *pointer);
/* An array index token: decimal digits without a leading zero (at most 12 digits);
 * false for anything else ("-", "01", "x"). */
MMX_API bool mmx_json_pointer_index(const char *token, size_t *index);
/* The member or element token names in node (borrowed), or NULL. */
MMX_API json_t *mmx_json_pointer_child(json_t *node, const char *token);
/* The value at pointer (borrowed), or NULL when it leads nowhere or is malformed. */
MMX_API json_t *mmx_json_pointer_get(json_t *root, const char *pointer);
/* Sets a copy of value (borrowed) at pointer; a "*" token stands for every element of an
 * array. The parent must exist; an object member is added or replaced, an array element
 * replaced. False with MMX_JSON_ERROR_POINTER ("cannot set /p: why", with the members
 * there and a suggestion) when it leads nowhere. */
MMX_API bool mmx_json_pointer_set(json_t *root, const char *pointer, const json_t *value,
                                  GError **error);

/* ---------------------------------------------------------------------------------------
 * Patches
 * ------------------------------------------------------------------------------------ */

/* RFC 7396 merge patch of patch (borrowed; copied) into *target, which is modified in
 * place or replaced (its reference released) when patch is not an object. Cannot fail. */
MMX_API void mmx_json_merge_patch(json_t **target, const json_t *patch);
/* RFC 6902 JSON Patch (an array of operations, borrowed) applied to *target in place (it
 * may be replaced). False with MMX_JSON_ERROR_PATCH naming the operation, its index and
 * pointer ("JSON patch operation 1 (remove /a/x): ..."); *target may then hold the
 * operations before it. */
MMX_API bool mmx_json_patch_apply(json_t **target, const json_t *patch, GError **error);

/* ---------------------------------------------------------------------------------------
 * JSON Lines logs (metrics.jsonl, results.jsonl)
 *
 * One JSON object per line, each line written with a single write() and fsync'ed: a kill
 * leaves every earlier line whole and at most one torn last line (no newline after it).
 * Readers skip a torn last line; opening for append cuts it off first, so the next record
 * starts on a line of its own. Errors are MMX_IO_ERROR with the errno, naming the file.
 * ------------------------------------------------------------------------------------ */

typedef struct mmx_jsonl mmx_jsonl;

/* Opens path for appending, creating it, and cuts off a torn last line (everything after
 * the last newline). digits: significant digits of numbers written (1 to 17; 0 for 17,
 * which round-trips every double). New handle; NULL with an error naming the file. */
MMX_API mmx_jsonl *mmx_jsonl_open(const char *path, int digits, GError **error);
/* Appends record (borrowed) as one compact line: one write(), then fsync(). False with
 * an error naming the file (a full disk: "cannot append to F: No space left on device"). */
MMX_API bool mmx_jsonl_write(mmx_jsonl *log, const json_t *record, GError **error);
/* Closes the log (every record written is already on disk); NULL is ignored. */
MMX_API void mmx_jsonl_free(mmx_jsonl *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_jsonl, mmx_jsonl_free)

/* Opens, appends value (borrowed) with 10 significant digits, closes: one record into a
 * log written now and then (the metrics of an epoch). */
MMX_API bool mmx_jsonl_append(const char *path, json_t *value, GError **error);

/* Every record of a log, a new array of objects. Empty lines are skipped; a torn last
 * line (no newline after it, or not one JSON object) is skipped and *torn (may be NULL)
 * says so. NULL with MMX_IO_ERROR: ENOENT when the file does not exist, EIO when it
 * cannot be read, EINVAL for a bad line elsewhere ("path:N: not a JSON line: why; ...").
 * Duplicate keys make a line bad. */
MMX_API json_t *mmx_jsonl_read_all(const char *path, bool *torn, GError **error);
/* mmx_jsonl_read_all without the torn flag. */
MMX_API json_t *mmx_jsonl_read(const char *path, GError **error);

G_END_DECLS

#endif /* MMX_JSON_H */
