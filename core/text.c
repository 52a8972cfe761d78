/* text.c: text corpora for causal language modeling (mmx-text.h).
 *
 * A corpus is read whole into memory (gzopen reads plain and gzip files alike), checked
 * (not empty, no NUL byte, valid UTF-8, each with the file and the byte offset), cut into
 * documents (the files of a folder, or the blank-line separated paragraphs of one file)
 * and split by document without any randomness, so the same corpus always gives the same
 * two splits. Tokens are bytes: the tokenizer is the identity and the vocabulary 256.
 */
#include "mmx-private.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <zlib.h>

#include <mmx/mmx-text.h>

struct mmx_corpus {
    char *name, *path;
    GByteArray *split[2]; /* train, val */
    int64_t docs[2];
};

void
mmx_corpus_free(mmx_corpus *c)
{
    if (c == NULL)
        return;
    g_free(c->name);
    g_free(c->path);
    for (int i = 0; i < 2; i++)
        if (c->split[i])
            g_byte_array_unref(c->split[i]);
    g_free(c);
}

/* ---- reading and checking one file ---- */

static GByteArray *
read_text_file(const char *path, GError **error)
{
    gzFile f = gzopen(path, "rb");
    if (f == NULL) {
        g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_NOT_FOUND, "%s: cannot open: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    GByteArray *buf = g_byte_array_new();
    char chunk[1 << 16];
    for (;;) {
        int got = gzread(f, chunk, sizeof chunk);
        if (got < 0) {
            int zerr;
            g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_CORRUPT,
                        "%s: corrupt gzip data: %s", path, gzerror(f, &zerr));
            g_byte_array_unref(buf);
            gzclose(f);
            return NULL;
        }
        if (got == 0) {
            int zerr = Z_OK;
            const char *msg = gzerror(f, &zerr);
            if (zerr != Z_OK) { /* a gzip stream cut short or with a bad header */
                g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_CORRUPT,
                            "%s: corrupt gzip data: %s", path, msg);
                g_byte_array_unref(buf);
                gzclose(f);
                return NULL;
            }
            break;
        }
        g_byte_array_append(buf, (const guint8 *)chunk, (guint)got);
    }
    gzclose(f);
    const char *what = NULL;
    size_t at = 0;
    const void *nul = buf->len ? memchr(buf->data, 0, buf->len) : NULL;
    const gchar *end = NULL;
    if (buf->len == 0)
        what = "empty file: expected UTF-8 text";
    else if (nul != NULL) {
        at = (size_t)((const guint8 *)nul - buf->data);
        what = "a binary file, not text (a NUL byte at byte offset %zu)";
    } else if (!g_utf8_validate_len((const gchar *)buf->data, buf->len, &end)) {
        at = (size_t)((const guint8 *)end - buf->data);
        what = "invalid UTF-8 at byte offset %zu";
    }
    if (what) {
        g_autofree char *msg = g_strdup_printf(what, at);
        g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_CORRUPT, "%s: %s", path, msg);
        g_byte_array_unref(buf);
        return NULL;
    }
    return buf;
}

static bool
blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* The paragraphs of a text: runs of non-blank lines, each kept with its inner newlines. */
static void
paragraphs(const char *text, size_t len, GPtrArray *docs)
{
    size_t at = 0, start = 0;
    bool in = false;
    while (at <= len) {
        const char *nl = at < len ? memchr(text + at, '\n', len - at) : NULL;
        size_t end = nl ? (size_t)(nl - text) : len;
        bool blank = blank_line(text + at, end - at);
        if (!blank && !in) {
            start = at;
            in = true;
        }
        if (blank && in) {
            g_ptr_array_add(docs, g_bytes_new(text + start, at - 1 - start));
            in = false;
        }
        if (nl == NULL) {
            if (in)
                g_ptr_array_add(docs, g_bytes_new(text + start, end - start));
            break;
        }
        at = end + 1;
    }
}

static bool
text_name(const char *name)
{
    return g_str_has_suffix(name, ".txt") || g_str_has_suffix(name, ".txt.gz");
}

static int
cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The documents of a folder: one per text file, in name order. */
static bool
folder_documents(const char *dir, GPtrArray *docs, GError **error)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, error);
    if (d == NULL)
        return false;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *e;
    while ((e = g_dir_read_name(d)) != NULL)
        if (text_name(e))
            g_ptr_array_add(names, g_build_filename(dir, e, NULL));
    if (names->len == 0) {
        g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_NOT_FOUND,
                    "%s: no text files (*.txt, *.txt.gz) in this folder", dir);
        return false;
    }
    g_ptr_array_sort(names, cmp_str);
    for (guint i = 0; i < names->len; i++) {
        GByteArray *b = read_text_file(names->pdata[i], error);
        if (b == NULL)
            return false;
        g_ptr_array_add(docs, g_byte_array_free_to_bytes(b));
    }
    return true;
}

/* ---- the generated corpus ---- */

static const char *const subjects[] = {"the cat", "a dog", "the old man", "my sister", "the bird",
                                       "a farmer", "the child", "our teacher"};
static const char *const verbs[] = {"sees", "likes", "finds", "follows", "draws", "hears", "keeps",
                                    "wants"};
static const char *const objects[] = {"the red ball", "a small house", "the green tree",
                                      "a quiet river", "the long road", "a warm bed", "the moon",
                                      "an apple"};
static const char *const endings[] = {"in the morning", "at night", "every day", "near the hill",
                                      "after the rain", "with great care"};

/* Sentences of a small grammar drawn from Philox (paragraphs of 2 to 5 of them) until the
 * text holds `bytes` bytes: learnable structure a byte model picks up in a few steps. */
static GByteArray *
synthetic_text(int64_t bytes)
{
    GString *s = g_string_new(NULL);
    uint64_t counter = 0;
    while ((int64_t)s->len < bytes) {
        uint32_t r[4];
        mmx_philox(0x7e57da7aull, counter++, r);
        int sentences = 2 + (int)(r[0] % 4);
        for (int i = 0; i < sentences; i++) {
            uint32_t w[4];
            mmx_philox(0x7e57da7bull, counter++, w);
            g_autofree char *subj = g_strdup(subjects[w[0] % G_N_ELEMENTS(subjects)]);
            subj[0] = g_ascii_toupper(subj[0]);
            g_string_append_printf(s, "%s%s %s %s %s.", i ? " " : "", subj,
                                   verbs[w[1] % G_N_ELEMENTS(verbs)],
                                   objects[w[2] % G_N_ELEMENTS(objects)],
                                   endings[w[3] % G_N_ELEMENTS(endings)]);
        }
        g_string_append(s, "\n\n");
    }
    GByteArray *b = g_byte_array_new();
    g_byte_array_append(b, (const guint8 *)s->str, (guint)s->len);
    g_string_free(s, TRUE);
    return b;
}

/* ---- the corpus ---- */

static const char *
jargon_path(void)
{
    const char *env = g_getenv("MMX_JARGON_FILE");
    return env && *env ? env : "/usr/share/doc/jargon-text/jargon.txt.gz";
}

/* "synthetic-text[:BYTES]": the byte count, or -1 when source is something else. */
static int64_t
synthetic_bytes(const char *source, GError **error)
{
    if (!g_str_has_prefix(source, "synthetic-text"))
        return -1;
    const char *rest = source + strlen("synthetic-text");
    if (*rest == '\0')
        return 65536;
    char *end = NULL;
    gint64 v = *rest == ':' ? g_ascii_strtoll(rest + 1, &end, 10) : 0;
    if (*rest != ':' || end == rest + 1 || *end != '\0' || v < 64 || v > (1 << 28)) {
        g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_INVALID,
                    "data '%s': expected synthetic-text[:BYTES] with 64..268435456 bytes", source);
        return 0;
    }
    return v;
}

mmx_corpus *
mmx_corpus_load(const char *source, double val_fraction, int64_t min_tokens, GError **error)
{
    g_return_val_if_fail(source != NULL, NULL);
    g_autoptr(GPtrArray) docs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    const char *path = source, *name = NULL;
    GError *local = NULL;
    int64_t synth = synthetic_bytes(source, &local);
    if (synth == 0) {
        g_propagate_error(error, local);
        return NULL;
    }
    if (synth > 0) {
        name = path = "synthetic-text";
        GByteArray *b = synthetic_text(synth);
        paragraphs((const char *)b->data, b->len, docs);
        g_byte_array_unref(b);
    } else {
        if (strcmp(source, "jargon") == 0) {
            path = jargon_path();
            name = "jargon";
            if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
                g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_NOT_FOUND,
                            "corpus jargon not found at %s: install Debian's jargon-text "
                            "package (apt-get install jargon-text) or give a text file or "
                            "folder with --data",
                            path);
                return NULL;
            }
        }
        if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
            if (!folder_documents(path, docs, error))
                return NULL;
        } else if (g_file_test(path, G_FILE_TEST_EXISTS)) {
            GByteArray *b = read_text_file(path, error);
            if (b == NULL)
                return NULL;
            paragraphs((const char *)b->data, b->len, docs);
            g_byte_array_unref(b);
            if (docs->len == 0) {
                g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_CORRUPT,
                            "%s: holds only blank lines: expected text", path);
                return NULL;
            }
        } else {
            g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_NOT_FOUND,
                        "data '%s': no such corpus, file or folder (known: jargon, "
                        "synthetic-text[:BYTES], a UTF-8 text file or a folder of .txt files)",
                        source);
            return NULL;
        }
    }
    int64_t D = docs->len;
    if (D < 2) {
        g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_CORRUPT,
                    "%s: one document: the train/validation split is by document and needs at "
                    "least 2 (the files of a folder, or paragraphs separated by blank lines)",
                    path);
        return NULL;
    }
    int64_t V = (int64_t)llround(val_fraction * (double)D);
    if (V < 1)
        V = 1;
    if (V > D - 1)
        V = D - 1;
    mmx_corpus *c = g_new0(mmx_corpus, 1);
    c->name = name ? g_strdup(name) : g_path_get_basename(path);
    c->path = g_strdup(path);
    c->split[0] = g_byte_array_new();
    c->split[1] = g_byte_array_new();
    for (int64_t i = 0; i < D; i++) {
        int val = (i + 1) * V / D > i * V / D;
        GByteArray *dst = c->split[val];
        if (dst->len)
            g_byte_array_append(dst, (const guint8 *)"\n\n", 2);
        gsize n;
        const guint8 *p = g_bytes_get_data(docs->pdata[i], &n);
        g_byte_array_append(dst, p, (guint)n);
        c->docs[val]++;
    }
    static const char *const split_name[] = {"training", "validation"};
    for (int s = 0; s < 2; s++)
        if ((int64_t)c->split[s]->len < min_tokens) {
            g_set_error(error, MMX_DATA_ERROR, MMX_DATA_ERROR_INVALID,
                        "%s: the %s split has %u bytes (%" G_GINT64_FORMAT
                        " documents), fewer than one context and its target (%" G_GINT64_FORMAT
                        " bytes): give a larger corpus or a shorter context",
                        path, split_name[s], c->split[s]->len, c->docs[s], min_tokens);
            mmx_corpus_free(c);
            return NULL;
        }
    return c;
}

const char *
mmx_corpus_name(const mmx_corpus *c)
{
    return c->name;
}

const char *
mmx_corpus_path(const mmx_corpus *c)
{
    return c->path;
}

const uint8_t *
mmx_corpus_tokens(const mmx_corpus *c, bool val, int64_t *n)
{
    *n = c->split[val]->len;
    return c->split[val]->data;
}

int64_t
mmx_corpus_documents(const mmx_corpus *c, bool val)
{
    return c->docs[val];
}

double
mmx_corpus_unigram_bpb(const mmx_corpus *c)
{
    double count[256] = {0};
    const GByteArray *tr = c->split[0], *va = c->split[1];
    for (guint i = 0; i < tr->len; i++)
        count[tr->data[i]] += 1.0;
    double total = (double)tr->len + 256.0, bits = 0.0;
    for (int b = 0; b < 256; b++)
        count[b] = -log2((count[b] + 1.0) / total);
    for (guint i = 0; i < va->len; i++)
        bits += count[va->data[i]];
    return va->len ? bits / (double)va->len : 0.0;
}

void
mmx_text_encode(const char *text, size_t len, int32_t *tokens)
{
    for (size_t i = 0; i < len; i++)
        tokens[i] = (uint8_t)text[i];
}

void
mmx_text_windows(const uint8_t *tokens, const int64_t *starts, int64_t n, int64_t context,
                 float *inputs, int32_t *targets)
{
    for (int64_t b = 0; b < n; b++) {
        const uint8_t *t = tokens + starts[b];
        for (int64_t i = 0; i < context; i++) {
            inputs[b * context + i] = (float)t[i];
            targets[b * context + i] = t[i + 1];
        }
    }
}

int64_t
mmx_text_window_start(uint64_t key, int64_t index, int64_t n_tokens, int64_t context)
{
    uint32_t r[4];
    mmx_philox(key, (uint64_t)index, r);
    uint64_t v = ((uint64_t)r[0] << 32) | r[1];
    return (int64_t)(v % (uint64_t)(n_tokens - context));
}
