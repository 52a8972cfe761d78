/* mmxtemplate.c: the mmxtemplate plugin for mmx (made by `mmx new-plugin --kind
 * elementwise`): its descriptor and its entry point. The op lives in its own files
 * (sqrelu.c with sqrelu-avx2.c); this file lists it.
 *
 * A plugin includes <mmx/mmx-plugin.h> and the C library, nothing else of mmx, and
 * exports one symbol, mmx_plugin_entry_v1 (meson.build hides every other one). The
 * descriptors are static data: the host reads them, never frees them and never unloads
 * the plugin, so the pointers stay valid for the life of the process.
 */
#include <mmx/mmx-plugin.h>

/* The ops. Adding one: write its file(s), declare its descriptor here, add it to the list
 * below, and add the files to meson.build. */
extern const mmx_op_desc mmxtemplate_sqrelu_op;

/* The plugin descriptor and the entry point, called once when the host loads the plugin:
 * the name (the file is mmxtemplate.so; specs say "plugins": ["mmxtemplate"]), the
 * plugin's own version, a one-line doc, then the ops. */
MMX_PLUGIN_DEFINE("mmxtemplate", "0.1.0",
                  "mmxtemplate: ops made with mmx new-plugin",
                  &mmxtemplate_sqrelu_op);
