/* sweep-private.h: what the sweep modules share (sweep.c reads the spec, sweep-plan.c
 * expands it, sweep-run.c runs it, report.c reads what it wrote). Not part of the API. */
#ifndef MMX_SWEEP_PRIVATE_H
#define MMX_SWEEP_PRIVATE_H

#include "mmx-private.h"

#include <mmx/mmx-io.h>
#include <mmx/mmx-json.h>
#include <mmx/mmx-spec.h>
#include <mmx/mmx-sweep.h>

struct mmx_sweep {
    char *path; /* absolute path of the sweep file */
    char *name;
    char *base_path;       /* absolute path of the base model spec */
    char *fingerprint;     /* hex SHA-256 */
    json_t *root;          /* the sweep spec as read */
    json_t *base;          /* the base spec with the sweep's `train` merged into /train */
    json_t *variant_bases; /* variant name -> {"path": absolute, "spec": merged like base} */
};

/* Hex SHA-256 of data, truncated to len characters (newly allocated). */
char *mmx__sha256_hex(const void *data, gsize length, gsize len);

/* Files of a sweep folder. */
#define MMX_SWEEP_MANIFEST "sweep.json"
#define MMX_SWEEP_RESULTS "results.jsonl"
#define MMX_SWEEP_TRIALS "trials"
#define MMX_SWEEP_FAILURE "failure.json"

/* The sweep spec a plan came from (borrowed). */
const json_t *mmx__sweep_plan_json(const mmx_sweep_plan *plan);

#endif /* MMX_SWEEP_PRIVATE_H */
