/* analyze-private.h: what analyze.c shares with analyze-run.c and analyze-energy.c. Not
 * part of the API. */
#ifndef MMX_ANALYZE_PRIVATE_H
#define MMX_ANALYZE_PRIVATE_H

#include "mmx-private.h"

#include <mmx/mmx-analyze.h>

/* The 2-D matrix a linear node computes with, [out, in] as it is applied: the stored
 * weight, transposed when the node's "transpose" attribute says it is stored [in, out].
 * A new array, or NULL when the node has no 2-D weight; *param: its graph parameter. */
float *mmx__analyze_weight(mmx_model *model, const mmx_graph_node *node, int64_t *out, int64_t *in,
                           int *param);
/* The node's "axis" attribute ("channel" when it has none). */
const char *mmx__analyze_axis(const mmx_graph_node *node);

/* Runs model on the first `total` images of ds in batches of up to 64, calling fn after
 * each forward of images first .. first + n - 1 (analyze-energy.c); the executor keeps
 * every value (mmx__exec_value). */
typedef void (*mmx__analyze_batch_fn)(const mmx_exec *ex, int64_t first, int64_t n, void *user);
bool mmx__analyze_images(mmx_model *model, const mmx_dataset *ds, const mmx_norm_stats *stats,
                         int64_t total, mmx__analyze_batch_fn fn, void *user, GError **error);
/* min(limit, the size of ds) (all of it when limit <= 0); 0 with the error when ds is
 * empty or its images are not of the model's input shape. */
int64_t mmx__analyze_image_count(mmx_model *model, const mmx_dataset *ds, int64_t limit,
                                 GError **error);

/* Sets an MMX_ANALYZE_ERROR_INPUT error with the formatted message; returns false. */
bool mmx__analyze_refuse(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#endif /* MMX_ANALYZE_PRIVATE_H */
