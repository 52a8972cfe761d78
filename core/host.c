/* host.c: the service table plugins receive, and the call context behind host->error.
 *
 * The table is one static struct for the whole process; minor versions append to it.
 * Allocations through it are counted (a header before each block holds its size) so the
 * conformance kit can check that a plugin frees what it allocates.
 */
#include "mmx-private.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

extern const char *mmx__git_hash_value;

static gint64 alloc_count;
static gint64 alloc_bytes;

/* The header sits just before the aligned block and records what free needs. */
typedef struct alloc_header {
    void *base;
    size_t size;
} alloc_header;

static void *
host_alloc(size_t size, size_t align)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return NULL;
    if (align < 16)
        align = 16;
    size_t total = size + align + sizeof(alloc_header);
    if (total < size) /* overflow */
        return NULL;
    void *base = malloc(total);
    if (base == NULL)
        return NULL;
    uintptr_t p = ((uintptr_t)base + sizeof(alloc_header) + align - 1) & ~(uintptr_t)(align - 1);
    alloc_header *h = (alloc_header *)p - 1;
    h->base = base;
    h->size = size;
    __atomic_fetch_add(&alloc_count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&alloc_bytes, (gint64)size, __ATOMIC_RELAXED);
    return (void *)p;
}

static void
host_free(void *ptr)
{
    if (ptr == NULL)
        return;
    alloc_header *h = (alloc_header *)ptr - 1;
    __atomic_fetch_sub(&alloc_count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&alloc_bytes, (gint64)h->size, __ATOMIC_RELAXED);
    free(h->base);
}

void
mmx_host_alloc_stats(int64_t *count, int64_t *bytes)
{
    if (count)
        *count = __atomic_load_n(&alloc_count, __ATOMIC_RELAXED);
    if (bytes)
        *bytes = __atomic_load_n(&alloc_bytes, __ATOMIC_RELAXED);
}

static void
host_log(mmx_ctx *ctx, mmx_log_level level, const char *fmt, ...)
{
    mmx__call *call = ctx ? ctx->host_data : NULL;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    const char *node = call && call->node ? call->node : "mmx";
    switch (level) {
    case MMX_LOG_DEBUG:
        g_debug("%s: %s", node, text);
        break;
    case MMX_LOG_INFO:
        g_info("%s: %s", node, text);
        break;
    default:
        g_printerr("warning: %s: %s\n", node, text);
        break;
    }
}

static int
host_error(mmx_ctx *ctx, int status, const char *fmt, ...)
{
    if (status == MMX_OK)
        status = MMX_ERR_INTERNAL; /* an error that claims success is still an error */
    if (ctx == NULL || ctx->host_data == NULL)
        return status;
    mmx__call *call = ctx->host_data;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_mutex_lock(&call->lock);
    if (call->status == MMX_OK) { /* keep the first message: later ones are consequences */
        call->status = status;
        g_string_assign(call->message, text);
    }
    g_mutex_unlock(&call->lock);
    return status;
}

static void
host_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
           int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    mmx_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* The pool needs no call context: a chunk's error reaches the caller as its status, and
 * a message goes through ctx->host->error() from inside the chunk. */
static int
host_parallel_for(mmx_ctx *ctx, int64_t n, int64_t grain, mmx_range_fn fn, void *arg)
{
    (void)ctx;
    return mmx__parallel_for(n, grain, fn, arg);
}

static const mmx_host host_table = {
    .struct_size = sizeof(mmx_host),
    .abi_major = MMX_PLUGIN_ABI_MAJOR,
    .abi_minor = MMX_PLUGIN_ABI_MINOR,
    .alloc = host_alloc,
    .free = host_free,
    .log = host_log,
    .error = host_error,
    .parallel_for = host_parallel_for,
    .sgemm = host_sgemm,
    .sgemm_batched = mmx_sgemm_batched,
    .cpu_isa = mmx_cpu_isa,
    .philox = mmx_philox,
};

const mmx_host *
mmx_host_get(void)
{
    return &host_table;
}

void
mmx__call_init(mmx__call *call, mmx_ctx *ctx, const char *node, const char *plugin)
{
    g_mutex_init(&call->lock);
    call->status = MMX_OK;
    call->message = g_string_new(NULL);
    call->node = node;
    call->plugin = plugin;
    ctx->struct_size = sizeof(mmx_ctx);
    ctx->host = &host_table;
    ctx->host_data = call;
}

void
mmx__call_clear(mmx__call *call)
{
    g_mutex_clear(&call->lock);
    g_string_free(call->message, TRUE);
    call->message = NULL;
}

void
mmx__call_to_gerror(mmx__call *call, int status, GQuark domain, GError **error)
{
    if (status == MMX_OK)
        status = call->status != MMX_OK ? call->status : MMX_ERR_INTERNAL;
    const char *msg = call->message->len ? call->message->str : NULL;
    g_autofree char *fallback = NULL;
    if (msg == NULL)
        msg = fallback = g_strdup_printf("failed with status %d (%s) and no message", status,
                                         mmx_status_text(status));
    GString *s = g_string_new(NULL);
    if (call->node)
        g_string_append_printf(s, "%s: ", call->node);
    g_string_append(s, msg);
    if (call->plugin)
        g_string_append_printf(s, " [%s]", call->plugin);
    g_set_error_literal(error, domain, status, s->str);
    g_string_free(s, TRUE);
}

const char *
mmx_status_text(int status)
{
    switch (status) {
#define MMX__STATUS_CASE(name, value, text)                                                        \
    case value:                                                                                    \
        return text;
        MMX_STATUS_LIST(MMX__STATUS_CASE)
#undef MMX__STATUS_CASE
    default:
        return "unknown status";
    }
}

const char *
mmx_version(void)
{
    return MMX_VERSION;
}

const char *
mmx_git_hash(void)
{
    return mmx__git_hash_value;
}

const char *
mmx__build_plugin_dir(void)
{
    return MMX_BUILD_PLUGIN_DIR;
}

/* The real directory of the libmmx file this code runs from, or NULL (statically linked,
 * or dladdr failed). Computed once. */
static const char library_anchor; /* an address inside libmmx, for dladdr */

const char *
mmx__library_dir(void)
{
    static gsize once;
    static char *dir;
    if (g_once_init_enter(&once)) {
        Dl_info info;
        if (dladdr(&library_anchor, &info) && info.dli_fname) {
            char *real = realpath(info.dli_fname, NULL); /* malloc'd by libc */
            g_autofree char *base = real ? g_path_get_basename(real) : NULL;
            /* Statically linked into a program, dladdr names the program: no library. */
            if (base && g_str_has_prefix(base, "libmmx"))
                dir = g_path_get_dirname(real);
            free(real);
        }
        g_once_init_leave(&once, 1);
    }
    return dir;
}

/* Installed, plugins live in <libdir>/mmx/plugins next to libmmx itself. Looking them up
 * from the library's own location (rather than the prefix compiled in) keeps an install
 * relocatable: a tree installed with DESTDIR, unpacked elsewhere or moved still finds its
 * own plugins, never those of another mmx installed at the configured prefix. The
 * configured directory is the fallback when libmmx cannot say where it is. */
const char *
mmx__install_plugin_dir(void)
{
    static gsize once;
    static char *dir;
    if (g_once_init_enter(&once)) {
        const char *lib = mmx__library_dir();
        char *near = lib ? g_build_filename(lib, "mmx", "plugins", NULL) : NULL;
        if (near && g_file_test(near, G_FILE_TEST_IS_DIR))
            dir = near;
        else {
            g_free(near);
            dir = g_strdup(MMX_INSTALL_PLUGIN_DIR);
        }
        g_once_init_leave(&once, 1);
    }
    return dir;
}

const char *
mmx__build_lib_dir(void)
{
    return MMX_BUILD_LIB_DIR;
}

const char *
mmx__build_root(void)
{
    return MMX_BUILD_ROOT;
}

/* ---- Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3") ---- */

void
mmx_philox(uint64_t key, uint64_t counter, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* splitmix64 finalizer: a good 64-bit mix for deriving keys. */
static uint64_t
mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t
mmx_rng_key(uint64_t a, uint64_t b, uint64_t c)
{
    return mix64(mix64(mix64(a + 0x9E3779B97F4A7C15ull) ^ b) ^ c);
}

/* ---- shapes ---- */

mmx_shape
mmx_shape_tokens(int64_t h, int64_t w, int64_t c)
{
    mmx_shape s = {.rank = 2, .height = (int32_t)h, .width = (int32_t)w};
    s.dim[0] = h * w;
    s.dim[1] = c;
    return s;
}

mmx_shape
mmx_shape_vector(int64_t n)
{
    mmx_shape s = {.rank = 1};
    s.dim[0] = n;
    return s;
}

mmx_shape
mmx_shape_make(int rank, const int64_t *dims)
{
    mmx_shape s = {.rank = rank};
    for (int i = 0; i < rank && i < MMX_MAX_RANK; i++)
        s.dim[i] = dims[i];
    return s;
}

int64_t
mmx_shape_numel(const mmx_shape *shape)
{
    int64_t n = 1;
    for (int i = 0; i < shape->rank; i++)
        n *= shape->dim[i];
    return shape->rank > 0 ? n : 0;
}

bool
mmx_shape_equal(const mmx_shape *a, const mmx_shape *b)
{
    if (a->rank != b->rank || a->height != b->height || a->width != b->width)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

char *
mmx_shape_to_string(const mmx_shape *shape)
{
    GString *s = g_string_new("[");
    for (int i = 0; i < shape->rank; i++)
        g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape->dim[i]);
    g_string_append_c(s, ']');
    if (shape->height > 0 && shape->width > 0 && shape->width > 1)
        g_string_append_printf(s, " (%dx%d grid)", shape->height, shape->width);
    return g_string_free(s, FALSE);
}
