/* jsonl.c: JSON Lines logs that survive a kill at any moment (metrics.jsonl of a run,
 * results.jsonl of a sweep).
 *
 * Design: a record is one line written by a single write() and then fsync'ed, so a kill
 * leaves every earlier line whole and at most one torn last line: the bytes after the
 * last newline. Readers skip that line and opening for append cuts it off, so the two
 * agree on what the log holds and the next record starts on a line of its own. A bad
 * line anywhere else is not what a kill leaves: it is an error naming the line.
 */
#include "mmx-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mmx/mmx-io.h>

struct mmx_jsonl {
    int fd;
    int digits;
    char *path;
};

static bool
jsonl_fail(GError **error, int err, const char *what, const char *path)
{
    g_set_error(error, MMX_IO_ERROR, err, "cannot %s %s: %s", what, path, g_strerror(err));
    return false;
}

/* The length of the file up to and with its last newline (0 when it has none). */
static bool
complete_length(int fd, off_t size, off_t *keep)
{
    char buf[4096];
    *keep = 0;
    for (off_t pos = size; pos > 0;) {
        off_t start = pos > (off_t)sizeof buf ? pos - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(pos - start), start);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0;
        for (ssize_t i = n - 1; i >= 0; i--) {
            if (buf[i] == '\n') {
                *keep = start + i + 1;
                return true;
            }
        }
        pos = start;
    }
    return true;
}

mmx_jsonl *
mmx_jsonl_open(const char *path, int digits, GError **error)
{
    g_return_val_if_fail(path != NULL && digits >= 0 && digits <= 17, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        jsonl_fail(error, errno, "open", path);
        return NULL;
    }
    struct stat st;
    off_t keep = 0;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        if (!complete_length(fd, st.st_size, &keep) ||
            (keep != st.st_size && ftruncate(fd, keep) != 0)) {
            int err = errno;
            close(fd);
            jsonl_fail(error, err, "cut the torn last line of", path);
            return NULL;
        }
    }
    mmx_jsonl *log = g_new0(mmx_jsonl, 1);
    log->fd = fd;
    log->digits = digits;
    log->path = g_strdup(path);
    return log;
}

bool
mmx_jsonl_write(mmx_jsonl *log, const json_t *record, GError **error)
{
    g_return_val_if_fail(log != NULL && record != NULL, false);
    char *text = json_dumps(record, JSON_COMPACT | JSON_ENCODE_ANY |
                                        JSON_REAL_PRECISION(log->digits));
    if (text == NULL) {
        g_set_error(error, MMX_IO_ERROR, EINVAL, "cannot encode JSON for %s", log->path);
        return false;
    }
    g_autofree char *line = g_strconcat(text, "\n", NULL);
    free(text);
    size_t len = strlen(line);
    /* One write() of the whole line: a kill leaves it whole or torn, never interleaved
     * with the next one. A short write (a full disk) leaves a torn line, which the next
     * open cuts off. */
    ssize_t w;
    do {
        w = write(log->fd, line, len);
    } while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len)
        return jsonl_fail(error, w < 0 ? errno : ENOSPC, "append to", log->path);
    if (fsync(log->fd) != 0)
        return jsonl_fail(error, errno, "sync", log->path);
    return true;
}

void
mmx_jsonl_free(mmx_jsonl *log)
{
    if (log == NULL)
        return;
    close(log->fd);
    g_free(log->path);
    g_free(log);
}

bool
mmx_jsonl_append(const char *path, json_t *value, GError **error)
{
    g_autoptr(mmx_jsonl) log = mmx_jsonl_open(path, 10, error);
    return log != NULL && mmx_jsonl_write(log, value, error);
}

json_t *
mmx_jsonl_read_all(const char *path, bool *torn, GError **error)
{
    g_return_val_if_fail(path != NULL, NULL);
    if (torn)
        *torn = false;
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) io = NULL;
    if (!g_file_get_contents(path, &text, &len, &io)) {
        g_set_error(error, MMX_IO_ERROR, io->code == G_FILE_ERROR_NOENT ? ENOENT : EIO, "%s",
                    io->message);
        return NULL;
    }
    json_t *out = json_array();
    int lineno = 0;
    for (char *line = text; line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        lineno++;
        if (nl == NULL) {
            /* No newline: the write of this line was cut short. */
            if (torn)
                *torn = true;
            break;
        }
        size_t n = (size_t)(nl - line);
        json_error_t je;
        json_t *rec = n ? json_loadb(line, n, JSON_REJECT_DUPLICATES, &je) : NULL;
        if (n && !json_is_object(rec)) {
            if (rec)
                g_strlcpy(je.text, "not one JSON object", sizeof je.text);
            json_decref(rec);
            if (nl + 1 >= text + len) {
                if (torn)
                    *torn = true;
                break;
            }
            g_set_error(error, MMX_IO_ERROR, EINVAL,
                        "%s:%d: not a JSON line: %s; only a torn last line is skipped, so "
                        "the file was changed by something other than mmx",
                        path, lineno, je.text);
            json_decref(out);
            return NULL;
        }
        if (rec)
            json_array_append_new(out, rec);
        line = nl + 1;
    }
    return out;
}

json_t *
mmx_jsonl_read(const char *path, GError **error)
{
    return mmx_jsonl_read_all(path, NULL, error);
}
