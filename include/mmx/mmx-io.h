/* mmx-io.h: files that survive a kill at any moment.
 *
 * Results and checkpoints are written to a temporary file in the same directory,
 * fsync'ed, renamed over the target and the directory fsync'ed: a reader sees either
 * the old file or the new one, never half of one. A full disk or a read-only directory
 * is an error naming the file, and the old file is left untouched. Append-only logs
 * (mmx_jsonl_*) and the JSON reader are in <mmx/mmx-json.h>.
 */
#ifndef MMX_IO_H
#define MMX_IO_H

#include <mmx/mmx-core.h>
#include <mmx/mmx-json.h>

G_BEGIN_DECLS

#define MMX_IO_ERROR (mmx_io_error_quark())
MMX_API GQuark mmx_io_error_quark(void);
/* MMX_IO_ERROR codes are errno values. */

MMX_API bool mmx_file_write_atomic(const char *path, const void *data, size_t len, GError **error);
/* JSON, indented, keys in insertion order, with a final newline. */
MMX_API bool mmx_json_write_atomic(const char *path, json_t *value, GError **error);
/* mkdir -p. */
MMX_API bool mmx_mkdir_p(const char *path, GError **error);

G_END_DECLS

#endif
