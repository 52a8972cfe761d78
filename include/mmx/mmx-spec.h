/* mmx-spec.h: model specs (JSON) read, resolved and validated; located diagnostics.
 *
 * A model spec is a JSON document (docs/spec-format.md). Reading one goes:
 *
 *     text --(Jansson + a position index)--> mmx_json_file       syntax errors, positions
 *          --(--set overrides, defs, vars)--> resolved document   every ${...} replaced
 *          --(structure, plugins, op schemas, train)--> mmx_spec
 *          --(mmx_graph_new, <mmx/mmx-graph.h>)--> graph of op nodes with inferred shapes
 *
 * Every problem found on the way is one line `file:line:col: /json/pointer: message`
 * (the pointer addresses the file as written, before overrides and defs); a reader
 * collects all of them before it gives up. mmx_diags holds such a list; the GError
 * variants put every line of it, newline-separated, in the error message.
 *
 *     g_autoptr(GError) error = NULL;
 *     g_autoptr(mmx_spec) spec = mmx_spec_load(reg, "vit.json", NULL, &error);
 *     if (spec == NULL) { fputs(error->message, stderr); ... }
 *     g_autoptr(mmx_graph) graph = mmx_graph_new(spec, &error);
 */
#ifndef MMX_SPEC_H
#define MMX_SPEC_H

#include <mmx/mmx-core.h>
#include <mmx/mmx-json.h>

G_BEGIN_DECLS

#define MMX_SPEC_ERROR (mmx_spec_error_quark())
MMX_API GQuark mmx_spec_error_quark(void);

typedef enum mmx_spec_error_code {
    MMX_SPEC_ERROR_INVALID, /* the spec (or an override) has problems: see the message */
} mmx_spec_error_code;

/* The format version this build reads (the value of the top-level "mmx" key). */
#define MMX_SPEC_FORMAT_VERSION 1

/* ---------------------------------------------------------------------------------------
 * Located diagnostics
 * ------------------------------------------------------------------------------------ */

typedef struct mmx_diags mmx_diags;

MMX_API mmx_diags *mmx_diags_new(void);
MMX_API void mmx_diags_free(mmx_diags *diags);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_diags, mmx_diags_free)

/* Appends one problem (strings copied). line and col are 1-based, 0 when unknown;
 * pointer may be NULL when the problem has no place in a document (an unreadable
 * file). An identical problem already in the list is not added twice, so a block
 * repeated eight times reports its mistake once. */
MMX_API void mmx_diags_add(mmx_diags *diags, const char *file, int line, int col,
                           const char *pointer, const char *fmt, ...) G_GNUC_PRINTF(6, 7);
MMX_API guint mmx_diags_count(const mmx_diags *diags);
/* The fields of problem i (borrowed; any output may be NULL). */
MMX_API void mmx_diags_get(const mmx_diags *diags, guint i, const char **file, int *line, int *col,
                           const char **pointer, const char **message);
/* One problem formatted: "file:line:col: /pointer: message" ("file: /pointer: message"
 * without a position; the document root is shown as "/"). Newly allocated. */
MMX_API char *mmx_diags_format(const mmx_diags *diags, guint i);
/* Every problem, one formatted line each, newline-separated (no final newline). */
MMX_API char *mmx_diags_to_string(const mmx_diags *diags);
/* A new JSON array of {"file", "line", "col", "pointer", "message"}. */
MMX_API json_t *mmx_diags_to_json(const mmx_diags *diags);
/* false with every problem in one MMX_SPEC_ERROR when the list is not empty; true else. */
MMX_API bool mmx_diags_to_gerror(const mmx_diags *diags, GError **error);

/* ---------------------------------------------------------------------------------------
 * JSON documents with positions
 *
 * Jansson keeps no positions after parsing, so the text is indexed a second time by a
 * small scanner of our own: every value (and every object key) gets its line and column
 * under its JSON Pointer. Columns count characters (UTF-8 sequences), like Jansson's.
 * The sweep reader uses these too.
 * ------------------------------------------------------------------------------------ */

typedef struct mmx_json_file mmx_json_file;

/* Reads and parses path (duplicate keys, invalid UTF-8 and nesting deeper than 2048
 * are errors). NULL with the problem added to diags when the file cannot be read or is
 * not JSON: its line:col and the pointer of the value being read there. */
MMX_API mmx_json_file *mmx_json_file_load(const char *path, mmx_diags *diags);
/* The same over text in memory; `name` is the file name for messages. */
MMX_API mmx_json_file *mmx_json_file_parse(const char *name, const char *text, size_t len,
                                           mmx_diags *diags);
/* A document without text: no positions (problems are reported as "name: /ptr: msg").
 * Takes a new reference to doc. */
MMX_API mmx_json_file *mmx_json_file_new(json_t *doc, const char *name);
MMX_API void mmx_json_file_free(mmx_json_file *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_json_file, mmx_json_file_free)

/* The parsed document (borrowed) and the file name. */
MMX_API json_t *mmx_json_file_root(const mmx_json_file *file);
MMX_API const char *mmx_json_file_name(const mmx_json_file *file);
/* Position of the value at pointer, or of its key when at_key and the value is an
 * object member. When the pointer is not in the text, the nearest ancestor that is;
 * false (and 0:0) only for a document without text. */
MMX_API bool mmx_json_file_position(const mmx_json_file *file, const char *pointer, bool at_key,
                                    int *line, int *col);

/* ---------------------------------------------------------------------------------------
 * Overrides (the JSON Pointer helpers are in <mmx/mmx-json.h>)
 * ------------------------------------------------------------------------------------ */

/* Applies one override "/pointer=VALUE" to root: VALUE is parsed as JSON (any value),
 * and taken as a string when it is not JSON ("/train/data=fashion-mnist"). Object
 * members missing on the way are created as empty objects, as a merge patch would
 * (/train/epochs=3 on a spec without "train"); an object member is created or replaced;
 * an array element is replaced, or appended with the index equal to the length or "-". */
MMX_API bool mmx_json_apply_override(json_t *root, const char *override, GError **error);

/* ---------------------------------------------------------------------------------------
 * Model specs
 * ------------------------------------------------------------------------------------ */

typedef struct mmx_spec mmx_spec;

/* Loads, resolves and validates the model spec at path against the ops of reg (which
 * must outlive the spec; plugins the spec declares are loaded into it). overrides:
 * "/pointer=VALUE" strings, NULL-terminated, may be NULL; applied before resolution.
 * NULL with every problem, one per line, in the error message. Shapes are checked by
 * mmx_graph_new, not here. */
MMX_API mmx_spec *mmx_spec_load(mmx_registry *reg, const char *path, const char *const *overrides,
                                GError **error);
/* The same over a document in memory (borrowed); origin is the file name used in
 * messages, and relative plugin paths resolve against its directory. Problems carry no
 * line:col (there is no text). */
MMX_API mmx_spec *mmx_spec_load_json(mmx_registry *reg, json_t *doc, const char *origin,
                                     const char *const *overrides, GError **error);
/* The general form: takes ownership of file (freed on failure too) and appends every
 * problem to diags; NULL when there was any. */
MMX_API mmx_spec *mmx_spec_new(mmx_registry *reg, mmx_json_file *file, const char *const *overrides,
                               mmx_diags *diags);
MMX_API void mmx_spec_free(mmx_spec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mmx_spec, mmx_spec_free)

/* The spec's "name" and its file name (borrowed). */
MMX_API const char *mmx_spec_name(const mmx_spec *spec);
MMX_API const char *mmx_spec_path(const mmx_spec *spec);
/* Borrowed: the spec with overrides applied, every "use" of a def inlined and every
 * ${...} replaced by its value ("defs" dropped, "vars" kept with their values). Loading
 * it again gives the same model; checkpoints and config.json store it. */
MMX_API json_t *mmx_spec_resolved(const mmx_spec *spec);
/* Borrowed: the resolved "train" object (an empty object when the spec has none). */
MMX_API json_t *mmx_spec_train(const mmx_spec *spec);
/* The input of one sample: [H*W, C] on an H x W grid. */
MMX_API mmx_shape mmx_spec_input_shape(const mmx_spec *spec);
MMX_API int mmx_spec_classes(const mmx_spec *spec);
/* True when the train recipe says "task": "lm" (causal language modeling: the head gives
 * [tokens, classes], one next-token distribution per position). */
MMX_API bool mmx_spec_is_lm(const mmx_spec *spec);
/* The registry the spec was read against (borrowed). */
MMX_API mmx_registry *mmx_spec_registry(const mmx_spec *spec);
/* "file:line:col" of the value at a pointer of the resolved document, as the spec's
 * messages give it ("file" alone without a position). Newly allocated. */
MMX_API char *mmx_spec_where(const mmx_spec *spec, const char *resolved_pointer);

G_END_DECLS

#endif /* MMX_SPEC_H */
