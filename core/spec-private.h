/* spec-private.h: what the modules of the spec reader (spec-json.c, spec-resolve.c,
 * spec.c) and graph.c share.
 *
 * A spec keeps three documents: the file as parsed (with its position index), that
 * document with the --set overrides applied, and the resolved document (defs inlined,
 * vars replaced). Validation and graph expansion walk the resolved one; the origin map
 * takes each of its pointers back to the pointer of the file it came from (through a
 * def, or from an override), which is where a message points.
 */
#ifndef MMX_SPEC_PRIVATE_H
#define MMX_SPEC_PRIVATE_H

#include "mmx-private.h"

#include <mmx/mmx-graph.h>
#include <mmx/mmx-spec.h>

/* Where a node of the resolved document came from. */
typedef struct mmx__origin {
    char *ptr; /* pointer into the document as written */
    char *via; /* "def 'ffn' used at /blocks/body/1", or NULL */
} mmx__origin;

/* An override as given, and the pointer it set. */
typedef struct mmx__override {
    char *text;
    char *ptr;
} mmx__override;

struct mmx_spec {
    mmx_registry *reg;   /* borrowed */
    mmx_json_file *file; /* owned: the text and its positions */
    char *path;
    char *dir;            /* for relative plugin paths */
    json_t *doc;          /* the document with overrides applied (owned) */
    GPtrArray *overrides; /* mmx__override */
    json_t *resolved;     /* owned */
    GHashTable *origin;   /* resolved pointer -> mmx__origin */
    GHashTable *poisoned; /* resolved pointers that failed to resolve (already reported) */
    json_t *train;        /* borrowed from resolved, or an owned empty object */
    bool train_owned;
    char *name;
    mmx_shape input;
    int classes;
    GPtrArray *declared; /* const mmx_plugin *: plugins listed in /plugins */
};

/* Reports a problem about the resolved node at rptr (at its key when at_key), located
 * in the file through the origin map (spec-resolve.c, with the map). */
void mmx__spec_report(const mmx_spec *spec, mmx_diags *diags, const char *rptr, bool at_key,
                      const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* The same for a pointer of the document as written (optr), reached through the def
 * uses described by via (or NULL). */
void mmx__spec_report_origin(const mmx_spec *spec, mmx_diags *diags, const char *optr,
                             const char *via, bool at_key, const char *fmt, ...)
    G_GNUC_PRINTF(6, 7);

/* Builds spec->resolved and spec->origin from spec->doc (spec-resolve.c). false when
 * a problem was reported. */
bool mmx__spec_resolve(mmx_spec *spec, mmx_diags *diags);

/* "blocks" as an index of the resolved document: pointer + "/" + index. */
char *mmx__pointer_index(const char *pointer, size_t index);

/* The op a resolved op object names, after the spec validated it (NULL otherwise). */
const mmx_op *mmx__spec_op(const mmx_spec *spec, json_t *op_object);

/* Keys of an op object that are not attributes. */
extern const char *const mmx__op_meta_keys[];

#endif /* MMX_SPEC_PRIVATE_H */
