/* io.c: atomic file writes (the JSON Lines logs are jsonl.c, JSON reading json.c). */
#include "mmx-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mmx/mmx-io.h>

// clang-format off
G_DEFINE_QUARK(mmx-io-error-quark, mmx_io_error)
// clang-format on

static bool
io_fail(GError **error, int err, const char *what, const char *path)
{
    g_set_error(error, MMX_IO_ERROR, err, "cannot %s %s: %s", what, path, g_strerror(err));
    return false;
}

static bool
write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static void
fsync_dir_of(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: some file systems refuse directory fsync */
        close(dfd);
    }
}

bool
mmx_file_write_atomic(const char *path, const void *data, size_t len, GError **error)
{
    g_autofree char *tmp = g_strdup_printf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return io_fail(error, errno, "write", path);
    if (!write_all(fd, data, len) || fsync(fd) != 0) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return io_fail(error, err, "write", path);
    }
    if (close(fd) != 0) {
        int err = errno;
        unlink(tmp);
        return io_fail(error, err, "write", path);
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return io_fail(error, err, "replace", path);
    }
    fsync_dir_of(path);
    return true;
}

bool
mmx_json_write_atomic(const char *path, json_t *value, GError **error)
{
    char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                                       JSON_REAL_PRECISION(10));
    if (text == NULL) {
        g_set_error(error, MMX_IO_ERROR, EINVAL, "cannot encode JSON for %s", path);
        return false;
    }
    g_autofree char *with_nl = g_strconcat(text, "\n", NULL);
    free(text);
    return mmx_file_write_atomic(path, with_nl, strlen(with_nl), error);
}

bool
mmx_mkdir_p(const char *path, GError **error)
{
    if (g_mkdir_with_parents(path, 0755) != 0)
        return io_fail(error, errno, "create directory", path);
    if (access(path, W_OK) != 0)
        return io_fail(error, errno, "write into directory", path);
    return true;
}
