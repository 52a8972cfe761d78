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

/* Sets an MMX_ANALYZE_ERROR_INPUT error with the formatted message; returns false. */
bool mmx__analyze_refuse(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#endif /* MMX_ANALYZE_PRIVATE_H */
