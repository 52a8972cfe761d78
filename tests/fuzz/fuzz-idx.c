/* fuzz-idx.c: libFuzzer target for the data set reader on IDX pairs (raw or gzip): headers,
 * magic numbers, dimensions, counts that disagree, truncated or corrupt gzip streams and
 * labels out of range. The reader takes a directory, so the input is written to a file
 * in a private temporary directory: its first byte chooses which of the four files of the
 * pair (train images, train labels, test images, test labels) it replaces; the three
 * others stay small and valid. A data set that loads is then normalized and batched.
 */
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#include <mmx/mmx.h>

static char *dir;
static const char *const files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A valid IDX file: 4 images of 3x2 or 4 labels 0..3. */
static void
write_valid(int which)
{
    uint8_t buf[64];
    size_t n = 0;
    bool images = which % 2 == 0;
    uint8_t head[16] = {0, 0, 8, images ? 3 : 1, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 2};
    memcpy(buf, head, images ? 16 : 8);
    n = images ? 16 : 8;
    for (int i = 0; i < (images ? 24 : 4); i++)
        buf[n++] = (uint8_t)(images ? i * 10 : i % 4);
    char *p = g_build_filename(dir, files[which], NULL);
    g_file_set_contents(p, (const char *)buf, (gssize)n, NULL);
    g_free(p);
}

static void
cleanup(void)
{
    for (int i = 0; i < 4; i++) {
        char *p = g_build_filename(dir, files[i], NULL);
        g_unlink(p);
        g_free(p);
    }
    g_rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* tmpfs when there is one: this target writes a file per input. */
    const char *base = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir();
    char *tmpl = g_build_filename(base, "mmx-fuzz-idx-XXXXXX", NULL);
    dir = g_mkdtemp(tmpl);
    if (dir)
        atexit(cleanup);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir == NULL || size < 1)
        return 0;
    for (int i = 0; i < 4; i++)
        write_valid(i);
    int which = data[0] % 4;
    char *p = g_build_filename(dir, files[which], NULL);
    g_file_set_contents(p, (const char *)data + 1, (gssize)(size - 1), NULL);
    g_free(p);
    mmx_dataset *train = NULL, *test = NULL;
    GError *error = NULL;
    if (!mmx_data_load(dir, &train, &test, &error)) {
        g_error_free(error);
        return 0;
    }
    mmx_norm_stats stats = mmx_dataset_stats(train);
    int64_t n = mmx_dataset_size(train) < 4 ? mmx_dataset_size(train) : 4;
    int64_t idx[4] = {0, 1, 2, 3};
    size_t floats = (size_t)n * (size_t)mmx_dataset_height(train) *
                    (size_t)mmx_dataset_width(train) * (size_t)mmx_dataset_channels(train);
    float *images = g_new(float, floats ? floats : 1);
    int32_t labels[4];
    mmx_augment aug = {.crop_padding = 1, .flip = true};
    mmx_dataset_batch(train, idx, n, &stats, &aug, 7, images, labels);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= mmx_dataset_classes(train))
            __builtin_trap();
    g_free(images);
    mmx_dataset_free(train);
    mmx_dataset_free(test);
    return 0;
}
