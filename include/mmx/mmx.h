/* mmx.h: the runtime API of libmmx (the host side of the plugin boundary).
 *
 * Usage, loading the plugins and running one op by hand:
 *
 *     g_autoptr(GError) error = NULL;
 *     g_autoptr(mmx_registry) reg = mmx_registry_new();
 *     mmx_registry_scan_default(reg, NULL);          // build tree, MMX_PLUGIN_PATH, install dir
 *     const mmx_op *gelu = mmx_registry_find_op(reg, "gelu");
 *     mmx_shape in = mmx_shape_tokens(7, 7, 64);      // a 7x7 grid of 64 channels
 *     g_autoptr(mmx_op_instance) inst = mmx_op_instance_new(gelu, "demo", NULL, &in, 1, &error);
 *     ...
 *
 * Conventions: functions that can fail on input take a GError ** and return false or
 * NULL exactly when they set it. Objects are created with _new and released with
 * _free (one owner) or _unref (shared); each declaration says who owns what.
 * The plugin ABI itself is in <mmx/mmx-plugin.h>.
 */
#ifndef MMX_H
#define MMX_H

#include <mmx/mmx-plugin.h>
#include <mmx/mmx-core.h>
#include <mmx/mmx-data.h>
#include <mmx/mmx-text.h>
#include <mmx/mmx-json.h>
#include <mmx/mmx-io.h>
#include <mmx/mmx-checkpoint.h>
#include <mmx/mmx-optim.h>
#include <mmx/mmx-check.h>
#include <mmx/mmx-sweep.h>
#include <mmx/mmx-spec.h>
#include <mmx/mmx-graph.h>
#include <mmx/mmx-exec.h>
#include <mmx/mmx-train.h>
#include <mmx/mmx-analyze.h>

#endif /* MMX_H */
