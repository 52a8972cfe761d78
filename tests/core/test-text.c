/* test-text.c: text corpora: the byte tokenizer, files, folders and paragraphs, the split by
 * document, the generated corpus, the real jargon corpus, windows, the unigram baseline, and
 * every rejected input with its message. */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <zlib.h>

#include "test-util.h"

static char *
write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = g_build_filename(dir, name, NULL);
    ck_assert(g_file_set_contents(path, data, (gssize)len, NULL));
    return path;
}

static char *
corpus_error(const char *source, int64_t min_tokens)
{
    GError *error = NULL;
    mmx_corpus *c = mmx_corpus_load(source, 0.1, min_tokens, &error);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(error);
    char *msg = g_strdup(error->message);
    g_error_free(error);
    return msg;
}

START_TEST(test_encode_is_bytes)
{
    const char *s = "h\xc3\xa9!"; /* "hé!" */
    int32_t t[4];
    mmx_text_encode(s, 4, t);
    ck_assert_int_eq(t[0], 'h');
    ck_assert_int_eq(t[1], 0xc3);
    ck_assert_int_eq(t[2], 0xa9);
    ck_assert_int_eq(t[3], '!');
}
END_TEST

START_TEST(test_paragraphs_split_by_document)
{
    g_autofree char *dir = mmx_test_tmpdir();
    GString *s = g_string_new(NULL);
    for (int i = 0; i < 20; i++)
        g_string_append_printf(s, "paragraph %02d line one\nline two\n \n\n", i);
    g_autofree char *path = write_file(dir, "book.txt", s->str, s->len);
    g_string_free(s, TRUE);
    GError *error = NULL;
    g_autoptr(mmx_corpus) c = mmx_corpus_load(path, 0.1, 8, &error);
    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(mmx_corpus_documents(c, false), 18);
    ck_assert_int_eq(mmx_corpus_documents(c, true), 2);
    int64_t n;
    const uint8_t *val = mmx_corpus_tokens(c, true, &n);
    /* Documents 9 and 19 are held out (spread evenly), joined by a blank line. */
    const char *want = "paragraph 09 line one\nline two\n\nparagraph 19 line one\nline two";
    ck_assert_int_eq(n, (int64_t)strlen(want));
    ck_assert(memcmp(val, want, (size_t)n) == 0);
    const uint8_t *tr = mmx_corpus_tokens(c, false, &n);
    ck_assert(memcmp(tr, "paragraph 00 line one\nline two\n\nparagraph 01", 44) == 0);
    ck_assert_ptr_null(g_strstr_len((const char *)tr, n, "paragraph 09"));
}
END_TEST

START_TEST(test_folder_documents_gzip_and_order)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *a = write_file(dir, "b.txt", "second file\n", 12);
    g_autofree char *b = write_file(dir, "a.txt", "first file\n", 11);
    g_autofree char *skip = write_file(dir, "notes.md", "\0\0", 2); /* not a text file name */
    g_autofree char *gz = g_build_filename(dir, "c.txt.gz", NULL);
    gzFile f = gzopen(gz, "wb");
    gzputs(f, "third, compressed\n");
    gzclose(f);
    GError *error = NULL;
    g_autoptr(mmx_corpus) c = mmx_corpus_load(dir, 0.1, 4, &error);
    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(mmx_corpus_documents(c, false), 2);
    ck_assert_int_eq(mmx_corpus_documents(c, true), 1);
    int64_t n;
    const uint8_t *t = mmx_corpus_tokens(c, false, &n);
    ck_assert_int_eq(n, 11 + 2 + 12);
    ck_assert(memcmp(t, "first file\n\n\nsecond file\n", (size_t)n) == 0);
    t = mmx_corpus_tokens(c, true, &n);
    ck_assert(memcmp(t, "third, compressed\n", (size_t)n) == 0);
}
END_TEST

START_TEST(test_synthetic_text)
{
    GError *error = NULL;
    g_autoptr(mmx_corpus) c = mmx_corpus_load("synthetic-text:20000", 0.1, 65, &error);
    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    int64_t ntr, nva;
    const uint8_t *t = mmx_corpus_tokens(c, false, &ntr);
    mmx_corpus_tokens(c, true, &nva);
    ck_assert_int_ge(ntr + nva, 20000 - 200);
    ck_assert(g_utf8_validate((const char *)t, ntr, NULL));
    /* The same corpus every time. */
    g_autoptr(mmx_corpus) d = mmx_corpus_load("synthetic-text:20000", 0.1, 65, &error);
    int64_t n2;
    ck_assert(memcmp(t, mmx_corpus_tokens(d, false, &n2), (size_t)ntr) == 0);
    ck_assert_int_eq(n2, ntr);
    /* A small vocabulary of words: far below 8 bits per byte, above 3. */
    double bpb = mmx_corpus_unigram_bpb(c);
    ck_assert_msg(bpb > 3.0 && bpb < 5.0, "unigram %g", bpb);
}
END_TEST

START_TEST(test_unigram_baseline)
{
    /* Training "aaab" x k, validation "ab": p(a) = (3k+1)/(4k+256), p(b) = (k+1)/(4k+256). */
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *p1 = write_file(dir, "1.txt", "aaabaaab", 8);
    g_autofree char *p2 = write_file(dir, "2.txt", "ab", 2);
    GError *error = NULL;
    g_autoptr(mmx_corpus) c = mmx_corpus_load(dir, 0.1, 2, &error);
    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    double pa = 7.0 / 264.0, pb = 3.0 / 264.0;
    double want = (-log2(pa) - log2(pb)) / 2.0;
    ck_assert_double_eq_tol(mmx_corpus_unigram_bpb(c), want, 1e-12);
}
END_TEST

START_TEST(test_windows)
{
    const uint8_t tok[] = "abcdefgh";
    int64_t starts[2] = {0, 3};
    float in[6];
    int32_t tg[6];
    mmx_text_windows(tok, starts, 2, 3, in, tg);
    ck_assert_float_eq(in[0], 'a');
    ck_assert_int_eq(tg[0], 'b');
    ck_assert_float_eq(in[5], 'f');
    ck_assert_int_eq(tg[5], 'g');
    for (int i = 0; i < 1000; i++) {
        int64_t s = mmx_text_window_start(7, i, 8, 3);
        ck_assert(s >= 0 && s + 3 < 8);
        ck_assert_int_eq(s, mmx_text_window_start(7, i, 8, 3));
    }
}
END_TEST

START_TEST(test_jargon)
{
    if (!g_file_test("/usr/share/doc/jargon-text/jargon.txt.gz", G_FILE_TEST_EXISTS) &&
        g_getenv("MMX_JARGON_FILE") == NULL)
        return; /* tools/bootstrap installs it; without it the error is tested below */
    GError *error = NULL;
    g_autoptr(mmx_corpus) c = mmx_corpus_load("jargon", 0.1, 129, &error);
    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    int64_t ntr, nva;
    mmx_corpus_tokens(c, false, &ntr);
    mmx_corpus_tokens(c, true, &nva);
    ck_assert_int_gt(ntr, 1000000);
    ck_assert_int_gt(nva, 100000);
    double bpb = mmx_corpus_unigram_bpb(c);
    ck_assert_msg(bpb > 4.0 && bpb < 5.0, "unigram %g", bpb);
}
END_TEST

START_TEST(test_errors)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *empty = write_file(dir, "empty.txt", "", 0);
    g_autofree char *msg = corpus_error(empty, 2);
    ck_assert_contains(msg, "empty.txt: empty file: expected UTF-8 text");

    g_autofree char *bin = write_file(dir, "bin.txt", "ab\0cd", 5);
    g_autofree char *m2 = corpus_error(bin, 2);
    ck_assert_contains(m2, "bin.txt: a binary file, not text (a NUL byte at byte offset 2)");

    g_autofree char *bad = write_file(dir, "latin1.txt", "caf\xe9 au lait\n\nmore\n", 19);
    g_autofree char *m3 = corpus_error(bad, 2);
    ck_assert_contains(m3, "latin1.txt: invalid UTF-8 at byte offset 3");

    g_autofree char *small = write_file(dir, "small.txt", "one\n\ntwo\n\nthree\n", 16);
    g_autofree char *m4 = corpus_error(small, 129);
    ck_assert_contains(m4, "small.txt: the training split has 8 bytes (2 documents), fewer "
                           "than one context and its target (129 bytes)");

    g_autofree char *one = write_file(dir, "one.txt", "a single paragraph\nof two lines\n", 32);
    g_autofree char *m5 = corpus_error(one, 2);
    ck_assert_contains(m5, "one.txt: one document: the train/validation split is by document");

    g_autofree char *blank = write_file(dir, "blank.txt", "\n  \n\n", 5);
    g_autofree char *m6 = corpus_error(blank, 2);
    ck_assert_contains(m6, "blank.txt: holds only blank lines: expected text");

    g_autofree char *m7 = corpus_error("/nonexistent/corpus.txt", 2);
    ck_assert_contains(m7, "data '/nonexistent/corpus.txt': no such corpus, file or folder");

    g_autofree char *m8 = corpus_error(dir, 2); /* the folder holds the broken files */
    ck_assert_contains(m8, "bin.txt: a binary file");

    g_autofree char *none = g_build_filename(dir, "none", NULL);
    ck_assert(g_mkdir(none, 0755) == 0);
    g_autofree char *m9 = corpus_error(none, 2);
    ck_assert_contains(m9, "none: no text files (*.txt, *.txt.gz) in this folder");

    g_autofree char *m10 = corpus_error("synthetic-text:12", 2);
    ck_assert_contains(m10, "expected synthetic-text[:BYTES] with 64..268435456 bytes");

    g_autofree char *gz = write_file(dir, "broken.txt.gz", "\x1f\x8b\x08\x00garbage", 11);
    g_autofree char *m11 = corpus_error(gz, 2);
    ck_assert_contains(m11, "broken.txt.gz: corrupt gzip data");

    g_setenv("MMX_JARGON_FILE", "/nonexistent/jargon.txt.gz", TRUE);
    g_autofree char *m12 = corpus_error("jargon", 2);
    ck_assert_contains(m12, "corpus jargon not found at /nonexistent/jargon.txt.gz: install "
                            "Debian's jargon-text package");
    g_unsetenv("MMX_JARGON_FILE");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, test_encode_is_bytes);
    tcase_add_test(tc, test_paragraphs_split_by_document);
    tcase_add_test(tc, test_folder_documents_gzip_and_order);
    tcase_add_test(tc, test_synthetic_text);
    tcase_add_test(tc, test_unigram_baseline);
    tcase_add_test(tc, test_windows);
    tcase_add_test(tc, test_jargon);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
