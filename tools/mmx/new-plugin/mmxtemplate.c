/* mmxtemplate.c: the mmxtemplate plugin for mmx (made by `mmx new-plugin`): its
 * descriptor and its entry point. The ops live in their own files (scale.c with
 * scale-avx2.c); this file lists them.
 *
 * A plugin includes <mmx/mmx-plugin.h> and the C library, nothing else of mmx, and
 * exports one symbol, mmx_plugin_entry_v1 (meson.build hides every other one). The
 * descriptors are static data: the host reads them, never frees them and never unloads
 * the plugin, so the pointers stay valid for the life of the process.
 */
#include <mmx/mmx-plugin.h>

/* The ops. Adding one: write its file(s), declare its descriptor here, add it to the list
 * below, and add the files to meson.build. */
extern const mmx_op_desc mmxtemplate_scale_op;

/* The plugin descriptor and the entry point, called once when the host loads the plugin:
 * the name (the file is mmxtemplate.so; specs say "plugins": ["mmxtemplate"]), the
 * plugin's own version, a one-line doc, then the ops. The descriptor records the ABI
 * version of the <mmx/mmx-plugin.h> this file was compiled against. An entry that must
 * refuse to load writes mmx_plugin_entry_v1 by hand and returns
 * ctx->host->error(ctx, MMX_ERR_UNSUPPORTED, "why"); docs/plugin-guide.md shows the form. */
MMX_PLUGIN_DEFINE("mmxtemplate", "0.1.0",
                  "mmxtemplate: ops made with mmx new-plugin",
                  &mmxtemplate_scale_op);
