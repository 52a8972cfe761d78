/* test-checkpoint.c: safetensors round trips and every damaged file the reader refuses;
 * atomic writes (io.c; the JSON Lines logs are tested in test-json.c). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test-util.h"

static char *
write_two(const char *dir)
{
    static const float a[6] = {1, 2, 3, 4, 5, 6};
    static const float b[3] = {-1, 0.5f, 7};
    mmx_st_tensor t[2] = {{.name = "blocks.0.mixer.key.weight", .rank = 2, .dims = {2, 3}, .data = a},
                          {.name = "head.2.bias", .rank = 1, .dims = {3}, .data = b}};
    json_t *meta = json_pack("{s:s, s:s}", "mmx_format", "1", "step", "42");
    char *path = g_build_filename(dir, "ck.safetensors", NULL);
    g_autoptr(GError) error = NULL;
    ck_assert_msg(mmx_safetensors_write(path, t, 2, meta, &error), "%s", error ? error->message : "");
    json_decref(meta);
    return path;
}

START_TEST(test_round_trip)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = write_two(dir);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_safetensors) st = mmx_safetensors_read(path, &error);
    ck_assert_msg(st != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(mmx_safetensors_count(st), 2);
    const mmx_st_tensor *k = mmx_safetensors_find(st, "blocks.0.mixer.key.weight");
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(k->rank, 2);
    ck_assert_int_eq(k->dims[1], 3);
    ck_assert_float_eq(k->data[5], 6.0f);
    ck_assert_float_eq(mmx_safetensors_find(st, "head.2.bias")->data[1], 0.5f);
    ck_assert_str_eq(mmx_safetensors_metadata(st, "step"), "42");
    ck_assert_ptr_null(mmx_safetensors_metadata(st, "nope"));
    /* The data section starts 8-byte aligned, as the format advises. */
    g_autofree char *bytes = NULL;
    gsize len;
    ck_assert(g_file_get_contents(path, &bytes, &len, NULL));
    uint64_t hlen = 0;
    memcpy(&hlen, bytes, 8);
    ck_assert_int_eq((8 + hlen) % 8, 0);
    ck_assert_int_eq(len, 8 + hlen + 9 * 4);
}
END_TEST

/* Writes an 8-byte length + header text + data bytes and returns the reader's error. */
static char *
read_error_for(const char *header, size_t data_len, int64_t claimed_len)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "bad.safetensors", NULL);
    size_t hl = strlen(header);
    uint64_t n = claimed_len >= 0 ? (uint64_t)claimed_len : hl;
    GByteArray *b = g_byte_array_new();
    g_byte_array_append(b, (guint8 *)&n, 8);
    g_byte_array_append(b, (const guint8 *)header, (guint)hl);
    for (size_t i = 0; i < data_len; i++)
        g_byte_array_append(b, (const guint8 *)"\0", 1);
    ck_assert(g_file_set_contents(path, (char *)b->data, b->len, NULL));
    g_byte_array_unref(b);
    GError *error = NULL;
    mmx_safetensors *st = mmx_safetensors_read(path, &error);
    ck_assert_ptr_null(st);
    ck_assert_int_eq(error->code, MMX_CHECKPOINT_ERROR_CORRUPT);
    ck_assert_contains(error->message, "bad.safetensors: ");
    char *m = g_strdup(error->message);
    g_error_free(error);
    return m;
}

START_TEST(test_damaged_files)
{
    g_autofree char *m1 = read_error_for("{}", 0, 1000);
    ck_assert_contains(m1, "header length 1000 runs past the end of the file (10 bytes)");
    g_autofree char *m2 = read_error_for("[1, 2]", 0, -1);
    ck_assert_contains(m2, "the header is not a JSON object");
    g_autofree char *m3 = read_error_for("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], "
                                         "\"data_offsets\": [0, 16]}}", 8, -1);
    ck_assert_contains(m3, "tensor 'w': data_offsets [0, 16] run past the end of the data (8 bytes)");
    g_autofree char *m4 = read_error_for("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                                         " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, -1);
    ck_assert_contains(m4, "tensors 'a' and 'b' overlap in the data");
    g_autofree char *m5 = read_error_for("{\"w\": {\"dtype\": \"F16\", \"shape\": [2], "
                                         "\"data_offsets\": [0, 4]}}", 4, -1);
    ck_assert_contains(m5, "tensor 'w': dtype F16; mmx reads F32 tensors only");
    g_autofree char *m6 = read_error_for("{\"w\": {\"dtype\": \"F32\", \"shape\": [3], "
                                         "\"data_offsets\": [0, 8]}}", 8, -1);
    ck_assert_contains(m6, "tensor 'w': 8 bytes of data for a shape of 3 F32 values (12 bytes)");
    g_autofree char *m7 = read_error_for("{\"w\": {\"dtype\": \"F32\", \"shape\": [-3], "
                                         "\"data_offsets\": [0, 8]}}", 8, -1);
    ck_assert_contains(m7, "tensor 'w': dimension 0 is not a size");
    g_autofree char *m8 = read_error_for("{\"w\": {\"shape\": [2]}}", 8, -1);
    ck_assert_contains(m8, "tensor 'w': expected {\"dtype\", \"shape\", \"data_offsets\": [begin, end]}");
    g_autofree char *m9 = read_error_for("{\"__metadata__\": {\"step\": 3}}", 0, -1);
    ck_assert_contains(m9, "__metadata__ value 'step' is not a string");
    /* 2^32 x 2^32 elements wrapped to 0 in 64 bits and was accepted with no data. */
    g_autofree char *m10 = read_error_for("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, "
                                          "4294967296], \"data_offsets\": [0, 0]}}",
                                          0, -1);
    ck_assert_contains(m10, "tensor 'w': implausibly large shape (more than 2^40 elements)");
}
END_TEST

START_TEST(test_truncated_file)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = write_two(dir);
    g_autofree char *bytes = NULL;
    gsize len;
    ck_assert(g_file_get_contents(path, &bytes, &len, NULL));
    ck_assert(g_file_set_contents(path, bytes, len - 5, NULL));
    g_autoptr(GError) error = NULL;
    ck_assert_ptr_null(mmx_safetensors_read(path, &error));
    ck_assert_contains(error->message, "tensor 'head.2.bias': data_offsets [24, 36] run past the end of the data (31 bytes)");
    ck_assert(g_file_set_contents(path, bytes, 5, NULL));
    g_clear_error(&error);
    ck_assert_ptr_null(mmx_safetensors_read(path, &error));
    ck_assert_contains(error->message, "5 bytes: too short for a safetensors file");
    g_clear_error(&error);
    g_autofree char *missing = g_build_filename(dir, "none.safetensors", NULL);
    ck_assert_ptr_null(mmx_safetensors_read(missing, &error));
    ck_assert_int_eq(error->code, MMX_CHECKPOINT_ERROR_IO);
    ck_assert_contains(error->message, "none.safetensors");
}
END_TEST

START_TEST(test_atomic_write_keeps_old_file_on_failure)
{
    if (geteuid() == 0) {
        /* root ignores directory permissions; use a path whose parent is a file instead. */
        g_autofree char *dir = mmx_test_tmpdir();
        g_autofree char *file = g_build_filename(dir, "afile", NULL);
        ck_assert(g_file_set_contents(file, "x", 1, NULL));
        g_autofree char *bad = g_build_filename(file, "result.json", NULL);
        g_autoptr(GError) error = NULL;
        ck_assert(!mmx_file_write_atomic(bad, "{}", 2, &error));
        ck_assert_contains(error->message, "cannot write ");
        ck_assert_contains(error->message, "afile/result.json: Not a directory");
        return;
    }
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "result.json", NULL);
    ck_assert(mmx_file_write_atomic(path, "old", 3, NULL));
    ck_assert_int_eq(chmod(dir, 0555), 0);
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_file_write_atomic(path, "new", 3, &error));
    ck_assert_contains(error->message, "Permission denied");
    chmod(dir, 0755);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    ck_assert_str_eq(text, "old");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("safetensors");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_damaged_files);
    tcase_add_test(tc, test_truncated_file);
    suite_add_tcase(s, tc);
    TCase *io = tcase_create("io");
    tcase_add_test(io, test_atomic_write_keeps_old_file_on_failure);
    suite_add_tcase(s, io);
    return mmx_test_run(s);
}
