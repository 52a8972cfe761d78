/* test-bad-input.c: bad input through the command line: every refusal is exit status 2
 * with a message that says what and where, and nothing is trained or written.
 *
 * - specs: the whole broken-spec corpus through `mmx train` (test-validate.c holds it to
 *   `mmx validate`), models too big for the machine refused before allocating (train,
 *   eval, bench; `mmx info` reports the estimate), sweep specs with non-UTF-8 bytes,
 *   deep nesting, too many trials and no trial to run (dry run included);
 * - data: missing files, truncated and corrupt gzip, wrong magic, counts that disagree, a
 *   header claiming more data than there is, labels out of range, CIFAR files of the
 *   wrong size, images of another shape than the spec's, through `train` and `eval`;
 * - checkpoints: truncated, header length past the end, offsets out of bounds or
 *   overlapping, another dtype, another shape, another spec, through `eval --weights` and
 *   `train --resume` (whose run directory is left as it was).
 */
#include <string.h>
#include <zlib.h>

#include <glib/gstdio.h>

#include "test-util.h"

/* Runs mmx, asserts exit status 2 and a message on stderr; returns stderr. */
static char *
refused(const char *const *args, const char *message)
{
    g_autofree char *out = NULL;
    char *err = NULL;
    int code = mmx_test_run_mmx(args, &out, &err);
    GString *cmd = g_string_new("mmx");
    for (const char *const *a = args; *a; a++)
        g_string_append_printf(cmd, " %s", *a);
    ck_assert_msg(code == 2, "%s: exit %d, expected 2\n%s", cmd->str, code, err);
    ck_assert_msg(strstr(err, message) != NULL, "%s: expected \"%s\" in:\n%s", cmd->str, message,
                  err);
    g_string_free(cmd, TRUE);
    return err;
}

static void
write_file(const char *dir, const char *name, const void *data, size_t len)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    ck_assert(g_file_set_contents(p, data, (gssize)len, NULL));
}

/* ---- specs ---- */

START_TEST(test_broken_corpus_through_train)
{
    g_autofree char *expected = mmx_test_data_path("specs/broken/expected.txt");
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(expected, &text, NULL, NULL));
    g_autofree char *good = mmx_test_fixture("good");
    g_autofree char *out = mmx_test_tmpdir();
    g_autofree char *run = g_build_filename(out, "run", NULL);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    int n = 0;
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, "\t", 4);
        if (**l == '#' || g_strv_length(f) != 4)
            continue;
        g_autofree char *rel = g_build_filename("specs", "broken", f[0], NULL);
        g_autofree char *path = mmx_test_data_path(rel);
        g_autofree char *where = g_strdup_printf("%s:%s: ", path, f[1]);
        g_autofree char *e1 = refused(
            (const char *[]){"train", "--plugin", good, path, "--out", run, "--quiet", NULL}, f[3]);
        ck_assert_contains(e1, where);
        ck_assert(!g_file_test(run, G_FILE_TEST_EXISTS));
        n++;
    }
    ck_assert_int_gt(n, 60);
}
END_TEST

/* A model of 10^12 parameters: its spec is a few lines. */
static const char huge_model[] =
    "{\"mmx\": 1, \"name\": \"huge\", \"input\": {\"shape\": [28, 28, 1], \"classes\": 10},\n"
    " \"stem\": [{\"op\": \"linear\", \"out\": 1000000}],\n"
    " \"blocks\": {\"repeat\": 1, \"body\": [{\"mixer\": {\"key\": {\"op\": \"linear\", \"out\": "
    "1000000}}}]},\n"
    " \"head\": [{\"op\": \"mean_tokens\"}, {\"op\": \"linear\", \"out\": 10}],\n"
    " \"train\": {\"data\": \"synthetic:64:16\", \"batch\": 4}}\n";

START_TEST(test_memory_refused_before_allocation)
{
    g_autofree char *dir = mmx_test_tmpdir();
    write_file(dir, "huge.json", huge_model, strlen(huge_model));
    g_autofree char *spec = g_build_filename(dir, "huge.json", NULL);
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    /* train: the whole run's estimate, with its parts, before anything is allocated (an
     * allocation of 16 TB would fail or, worse, succeed and be touched page by page). */
    g_autofree char *e1 = refused((const char *[]){"train", spec, "--out", run, "--quiet", NULL},
                                  "mmx train: training at batch 4 needs ");
    ck_assert_contains(e1, "(parameters, gradients and optimizer state 16000.21 GB, activations ");
    ck_assert_contains(e1, "nothing was allocated: reduce the batch or the model");
    ck_assert(!g_file_test(run, G_FILE_TEST_EXISTS));
    /* info reports the estimate and that it does not fit, and succeeds: it allocates
     * nothing, and saying how big a model is is its job. */
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"info", spec, NULL}, &out, &err), 0);
    ck_assert_contains(out, "training memory at batch 1 (AdamW): ");
    ck_assert_contains(out, "does not fit, mmx train refuses it before allocating");
    g_free(out);
    out = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"info", spec, "--json", NULL}, &out, NULL),
                     0);
    g_autoptr(json_t) info = json_loads(out, 0, NULL);
    json_t *totals = json_object_get(info, "totals");
    ck_assert(json_integer_value(json_object_get(totals, "train_bytes")) > 16000000000000);
    ck_assert(json_is_integer(json_object_get(totals, "available_bytes")));
    /* eval and bench build the model alone: refused the same way. */
    g_autofree char *e2 = refused((const char *[]){"eval", spec, "--weights", spec, NULL},
                                  "the model needs 8000.10 GB (1000013000010 parameters and buffer "
                                  "elements with their gradients)");
    g_autofree char *e3 = refused((const char *[]){"bench", spec, NULL}, "the model needs ");
    /* MMX_MAX_MEMORY sets the limit: a small model under a tiny limit. */
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    g_setenv("MMX_MAX_MEMORY", "1000000", TRUE);
    g_autofree char *e4 = refused((const char *[]){"train", mini, "--out", run, "--quiet", NULL},
                                  "but only 0.00 GB are available (MMX_MAX_MEMORY)");
    g_unsetenv("MMX_MAX_MEMORY");
    ck_assert(!g_file_test(run, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_bad_sweep_specs)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *base = NULL;
    ck_assert(g_file_get_contents(mini, &base, NULL, NULL));
    write_file(dir, "base.json", base, strlen(base));
    /* Non-UTF-8 bytes (Latin-1 in a name). */
    const char latin1[] = "{\"mmx_sweep\": 1,\n \"name\": \"caf\xe9\", \"base\": \"base.json\"}";
    write_file(dir, "latin1.json", latin1, strlen(latin1));
    g_autofree char *p1 = g_build_filename(dir, "latin1.json", NULL);
    g_autofree char *m1 = g_strdup_printf("%s:2:14: /: the file is not valid UTF-8", p1);
    g_autofree char *e1 = refused((const char *[]){"sweep", p1, "--dry-run", NULL}, m1);
    /* Nesting 5000 deep. */
    GString *deep = g_string_new("{\"mmx_sweep\": 1, \"base\": \"base.json\", \"doc\": ");
    for (int i = 0; i < 5000; i++)
        g_string_append_c(deep, '[');
    for (int i = 0; i < 5000; i++)
        g_string_append_c(deep, ']');
    g_string_append_c(deep, '}');
    write_file(dir, "deep.json", deep->str, deep->len);
    g_string_free(deep, TRUE);
    g_autofree char *p2 = g_build_filename(dir, "deep.json", NULL);
    g_autofree char *e2 =
        refused((const char *[]){"sweep", p2, "--dry-run", NULL}, "maximum parsing depth reached");
    /* 6^7 = 279936 combinations: past the planner's limit, refused before resolving any. */
    GString *grid = g_string_new("{\"mmx_sweep\": 1, \"base\": \"base.json\", \"grid\": {");
    for (int i = 0; i < 7; i++)
        g_string_append_printf(grid, "%s\"/train/x%d\": [1, 2, 3, 4, 5, 6]", i ? ", " : "", i);
    g_string_append(grid, "}}");
    write_file(dir, "grid.json", grid->str, grid->len);
    g_string_free(grid, TRUE);
    g_autofree char *p3 = g_build_filename(dir, "grid.json", NULL);
    g_autofree char *e3 =
        refused((const char *[]){"sweep", p3, "--dry-run", NULL}, "the limit is 100000");
}
END_TEST

/* A sweep whose every trial is invalid (its base is itself a sweep spec) is refused, dry
 * run included, with each trial's reason. */
START_TEST(test_sweep_nothing_to_run)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *base = NULL;
    ck_assert(g_file_get_contents(mini, &base, NULL, NULL));
    write_file(dir, "base.json", base, strlen(base));
    const char inner[] = "{\"mmx_sweep\": 1, \"name\": \"inner\", \"base\": \"base.json\"}";
    write_file(dir, "inner.json", inner, strlen(inner));
    const char outer[] = "{\"mmx_sweep\": 1, \"name\": \"outer\", \"base\": \"inner.json\"}";
    write_file(dir, "outer.json", outer, strlen(outer));
    g_autofree char *path = g_build_filename(dir, "outer.json", NULL);
    g_autofree char *inner_path = g_build_filename(dir, "inner.json", NULL);
    g_autofree char *reason = g_strdup_printf(
        "%s: /mmx_sweep: this is a sweep spec, not a model spec ('mmx sweep' runs it)",
        inner_path);
    g_autofree char *refusal = g_strdup_printf(
        "mmx sweep: %s: the sweep has no trial to run: 1 invalid, 0 skipped by constraints, 0 "
        "duplicates; fix the base spec or the overrides the reasons name\n",
        path);
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    const char *const modes[][3] = {{"--dry-run", NULL}, {"--dry-run", "--json", NULL}, {NULL}};
    for (size_t m = 0; m < G_N_ELEMENTS(modes); m++) {
        const char *args[] = {"sweep", path, "--out", run, modes[m][0], modes[m][1], NULL};
        g_autofree char *out = NULL, *err = NULL;
        ck_assert_int_eq(mmx_test_run_mmx(args, &out, &err), 2);
        ck_assert_contains(err, refusal);
        if (m == 0) /* the text plan gives the reason under "Not run" */
            ck_assert_contains(out, reason);
        else
            ck_assert_contains(err, reason);
        if (m == 1)
            ck_assert_contains(out, "\"state\": \"invalid\"");
        ck_assert(!g_file_test(run, G_FILE_TEST_EXISTS));
    }
}
END_TEST

/* ---- data ---- */

static void
write_gz(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, data, (unsigned)len), (int)len);
    gzclose(f);
}

/* An IDX pair of n h x w images with labels i % classes (gzip'ed when gz). */
static void
write_idx(const char *dir, const char *prefix, int n, int h, int w, int classes, bool gz)
{
    GByteArray *img = g_byte_array_new(), *lab = g_byte_array_new();
    uint8_t ih[16] = {0,
                      0,
                      8,
                      3,
                      (uint8_t)(n >> 24),
                      (uint8_t)(n >> 16),
                      (uint8_t)(n >> 8),
                      (uint8_t)n,
                      0,
                      0,
                      0,
                      (uint8_t)h,
                      0,
                      0,
                      0,
                      (uint8_t)w};
    uint8_t lh[8] = {0,         0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                     (uint8_t)n};
    g_byte_array_append(img, ih, 16);
    g_byte_array_append(lab, lh, 8);
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < h * w; p++) {
            uint8_t v = (uint8_t)(i * 31 + p * 7);
            g_byte_array_append(img, &v, 1);
        }
        uint8_t l = (uint8_t)(i % classes);
        g_byte_array_append(lab, &l, 1);
    }
    g_autofree char *ip =
        g_strdup_printf("%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    g_autofree char *lp =
        g_strdup_printf("%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    if (gz) {
        write_gz(ip, img->data, img->len);
        write_gz(lp, lab->data, lab->len);
    } else {
        ck_assert(g_file_set_contents(ip, (char *)img->data, img->len, NULL));
        ck_assert(g_file_set_contents(lp, (char *)lab->data, lab->len, NULL));
    }
    g_byte_array_unref(img);
    g_byte_array_unref(lab);
}

/* A good 28x28 IDX data directory of 64 training and 32 test images, gzip'ed. */
static char *
good_data(void)
{
    char *dir = mmx_test_tmpdir();
    write_idx(dir, "train", 64, 28, 28, 10, true);
    write_idx(dir, "t10k", 32, 28, 28, 10, true);
    return dir;
}

/* Weights of mini.json, trained for one short epoch. */
static char *
mini_weights(const char *dir)
{
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *run = g_build_filename(dir, "weights-run", NULL);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"train", mini, "--out", run, "--quiet", "--epochs", "1",
                                          "--data", "synthetic:128:64", NULL},
                         NULL, NULL),
        0);
    return g_build_filename(run, "final.safetensors", NULL);
}

/* Both `train` and `eval` refuse data dir with message. */
static void
data_refused(const char *data, const char *weights, const char *message)
{
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *run = g_build_filename(tmp, "run", NULL);
    g_autofree char *e1 = refused(
        (const char *[]){"train", mini, "--data", data, "--out", run, "--quiet", NULL}, message);
    ck_assert_contains(e1, "mmx train: ");
    ck_assert(!g_file_test(run, G_FILE_TEST_EXISTS));
    g_autofree char *e2 = refused(
        (const char *[]){"eval", mini, "--weights", weights, "--data", data, NULL}, message);
    ck_assert_contains(e2, "mmx eval: ");
}

static void
replace_with(const char *dir, const char *name, const char *bytes, gsize len)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    ck_assert(g_file_set_contents(p, bytes, (gssize)len, NULL));
}

static char *
contents(const char *dir, const char *name, gsize *len)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    char *bytes = NULL;
    ck_assert(g_file_get_contents(p, &bytes, len, NULL));
    return bytes;
}

START_TEST(test_bad_data_through_cli)
{
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *weights = mini_weights(tmp);
    g_autofree char *good = good_data();
    /* The good directory trains and evaluates: each case below breaks one thing. */
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"eval", mini, "--weights", weights, "--data", good, NULL},
                         NULL, NULL),
        0);

    data_refused("/no/such/data", weights, "data '/no/such/data': no such data set or directory");
    {
        g_autofree char *d = good_data();
        g_autofree char *p = g_build_filename(d, "t10k-labels-idx1-ubyte.gz", NULL);
        ck_assert_int_eq(g_unlink(p), 0);
        data_refused(
            d, weights,
            "missing t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz) of the IDX pair");
    }
    {
        g_autofree char *d = good_data();
        gsize len;
        g_autofree char *b = contents(d, "train-images-idx3-ubyte.gz", &len);
        replace_with(d, "train-images-idx3-ubyte.gz", b, len / 2);
        g_autofree char *msg = g_strdup_printf("%s/train-images-idx3-ubyte.gz: ", d);
        data_refused(d, weights, msg);
        data_refused(d, weights, "truncated");
    }
    {
        g_autofree char *d = good_data();
        gsize len;
        g_autofree char *b = contents(d, "train-images-idx3-ubyte.gz", &len);
        for (gsize i = 20; i < len - 8; i += 7)
            b[i] ^= 0x5a;
        replace_with(d, "train-images-idx3-ubyte.gz", b, len);
        g_autofree char *msg = g_strdup_printf(
            "%s/train-images-idx3-ubyte.gz: corrupt data while reading the IDX header: invalid", d);
        data_refused(d, weights, msg);
    }
    {
        g_autofree char *d = mmx_test_tmpdir();
        write_idx(d, "train", 64, 28, 28, 10, false);
        write_idx(d, "t10k", 32, 28, 28, 10, false);
        gsize len;
        g_autofree char *b = contents(d, "train-labels-idx1-ubyte", &len);
        b[3] = 3;
        replace_with(d, "train-labels-idx1-ubyte", b, len);
        data_refused(d, weights,
                     "not an IDX file of unsigned bytes with 1 dimension: magic 0x00000803, "
                     "expected 0x00000801");
        b[3] = 1;
        b[7] = 63; /* 63 labels for 64 images */
        replace_with(d, "train-labels-idx1-ubyte", b, len - 1);
        data_refused(d, weights, "has 64 images but");
        data_refused(d, weights, "has 63 labels");
        /* A header that claims 10^10 bytes of images: truncated, and no 10 GB buffer. */
        g_autofree char *ib = contents(d, "train-images-idx3-ubyte", &len);
        const uint8_t claim[12] = {0x05, 0xf5, 0xe1, 0x00, 0, 0,
                                   0,    10,   0,    0,    0, 10}; /* 10^8 x 10 x 10 */
        memcpy(ib + 4, claim, 12);
        replace_with(d, "train-images-idx3-ubyte", ib, len);
        data_refused(d, weights,
                     "truncated: the IDX data needs 10000000000 bytes, the file ends after 50176");
    }
    {
        /* Labels 0..11 for a spec of 10 classes. */
        g_autofree char *d = mmx_test_tmpdir();
        write_idx(d, "train", 64, 28, 28, 12, true);
        write_idx(d, "t10k", 32, 28, 28, 12, true);
        data_refused(d, weights,
                     "has 12 classes (labels 0..11) but the spec's input.classes is 10");
        /* Test labels that are no class of the training set. */
        write_idx(d, "train", 64, 28, 28, 4, true);
        data_refused(d, weights,
                     "label 4 of test image 4 is not a class of the training set (0..3)");
    }
    {
        /* Images of another shape than the spec's input (eval used to write them past its
         * input buffer). */
        g_autofree char *d = mmx_test_tmpdir();
        write_idx(d, "train", 64, 40, 40, 10, false);
        write_idx(d, "t10k", 32, 40, 40, 10, false);
        data_refused(d, weights, "has 40x40x1 images but the spec's input is [28, 28, 1]");
    }
    {
        g_autofree char *d = mmx_test_tmpdir();
        write_file(d, "data_batch_1.bin", "short", 5);
        data_refused(d, weights,
                     "data_batch_1.bin: 5 bytes, a CIFAR-10 binary batch has exactly 30730000");
    }
}
END_TEST

/* ---- checkpoints ---- */

/* A safetensors file as (header JSON, data) to damage and write back. */
typedef struct st_file {
    json_t *header;
    char *data;
    gsize data_len;
} st_file;

static st_file
st_open(const char *path)
{
    g_autofree char *bytes = NULL;
    gsize len;
    ck_assert(g_file_get_contents(path, &bytes, &len, NULL));
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)(uint8_t)bytes[i] << (8 * i);
    st_file f;
    f.header = json_loadb(bytes + 8, (size_t)hlen, 0, NULL);
    ck_assert_ptr_nonnull(f.header);
    f.data_len = len - 8 - (gsize)hlen;
    f.data = g_memdup2(bytes + 8 + hlen, f.data_len);
    return f;
}

static void
st_write(st_file *f, const char *path, gsize keep_data)
{
    char *h = json_dumps(f->header, JSON_COMPACT);
    GByteArray *b = g_byte_array_new();
    uint64_t hlen = strlen(h);
    for (int i = 0; i < 8; i++) {
        uint8_t c = (uint8_t)(hlen >> (8 * i));
        g_byte_array_append(b, &c, 1);
    }
    g_byte_array_append(b, (const guint8 *)h, (guint)hlen);
    g_byte_array_append(b, (const guint8 *)f->data, (guint)MIN(keep_data, f->data_len));
    ck_assert(g_file_set_contents(path, (const char *)b->data, b->len, NULL));
    g_byte_array_unref(b);
    free(h);
}

static void
st_close(st_file *f)
{
    json_decref(f->header);
    g_free(f->data);
}

/* A stopped run of mini.json (config.json, checkpoint.safetensors, result.json
 * "interrupted") in dir/name. */
static char *
stopped_run(const char *dir, const char *name)
{
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    char *run = g_build_filename(dir, name, NULL);
    g_setenv("MMX_STOP_AFTER_STEPS", "5", TRUE);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", mini, "--out", run, "--quiet",
                                                       "--data", "synthetic:256:64", NULL},
                                      NULL, NULL),
                     1);
    g_unsetenv("MMX_STOP_AFTER_STEPS");
    return run;
}

/* The damaged checkpoint is refused by eval --weights and by train --resume; the run's
 * files are left untouched. */
static void
checkpoint_refused(const char *good_run, const char *damaged, const char *message)
{
    g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *e1 = refused(
        (const char *[]){"eval", mini, "--weights", damaged, "--data", "synthetic:64:32", NULL},
        message);
    ck_assert_contains(e1, damaged);
    /* A copy of the stopped run with the damaged checkpoint in place. */
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *run = g_build_filename(tmp, "run", NULL);
    ck_assert_int_eq(g_mkdir(run, 0755), 0);
    const char *files[] = {"config.json", "result.json", "metrics.jsonl"};
    for (unsigned i = 0; i < G_N_ELEMENTS(files); i++) {
        gsize len;
        g_autofree char *b = contents(good_run, files[i], &len);
        write_file(run, files[i], b, len);
    }
    gsize dlen;
    g_autofree char *d = g_strdup(damaged);
    g_autofree char *dir = g_path_get_dirname(d);
    g_autofree char *base = g_path_get_basename(d);
    g_autofree char *dbytes = contents(dir, base, &dlen);
    write_file(run, "checkpoint.safetensors", dbytes, dlen);
    g_autofree char *e2 =
        refused((const char *[]){"train", "--resume", run, "--quiet", NULL}, message);
    ck_assert_contains(e2, "mmx train: cannot resume: ");
    g_autofree char *rpath = g_build_filename(run, "result.json", NULL);
    g_autoptr(json_t) result = mmx_json_read(rpath, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(result, "status")), "interrupted");
    gsize after_len;
    g_autofree char *after = contents(run, "checkpoint.safetensors", &after_len);
    ck_assert(after_len == dlen && memcmp(after, dbytes, dlen) == 0);
}

START_TEST(test_bad_checkpoints_through_cli)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *run = stopped_run(dir, "stopped");
    g_autofree char *ckpt = g_build_filename(run, "checkpoint.safetensors", NULL);
    g_autofree char *bad = g_build_filename(dir, "bad.safetensors", NULL);
    /* The stopped run resumes from its own checkpoint (in a copy): each case below
     * damages one thing. */
    {
        st_file f = st_open(ckpt);
        /* Truncated: the last tensor's data runs past the end. */
        st_write(&f, bad, f.data_len - 5);
        checkpoint_refused(run, bad, "run past the end of the data");
        /* The header length runs past the end of the file. */
        st_write(&f, bad, f.data_len);
        {
            gsize len;
            g_autofree char *b = contents(dir, "bad.safetensors", &len);
            b[5] = 0x10;
            write_file(dir, "bad.safetensors", b, len);
        }
        checkpoint_refused(run, bad, "runs past the end of the file");
        st_close(&f);
    }
    {
        /* Offsets out of bounds, with the right length. */
        st_file f = st_open(ckpt);
        json_t *w = json_object_get(f.header, "stem.0.weight");
        json_t *off = json_object_get(w, "data_offsets");
        json_int_t b = json_integer_value(json_array_get(off, 0)),
                   e = json_integer_value(json_array_get(off, 1));
        json_array_set_new(off, 0, json_integer((json_int_t)f.data_len + 64));
        json_array_set_new(off, 1, json_integer((json_int_t)f.data_len + 64 + (e - b)));
        st_write(&f, bad, f.data_len);
        checkpoint_refused(run, bad, "tensor 'stem.0.weight': data_offsets [");
        checkpoint_refused(run, bad, "run past the end of the data");
        st_close(&f);
    }
    {
        /* Two tensors over the same bytes: the optimizer's two moments of one weight. */
        st_file f = st_open(ckpt);
        json_t *a = json_object_get(f.header, "optim.exp_avg.stem.0.weight");
        json_t *b = json_object_get(f.header, "optim.exp_avg_sq.stem.0.weight");
        ck_assert(a && b);
        json_object_set(b, "data_offsets", json_object_get(a, "data_offsets"));
        st_write(&f, bad, f.data_len);
        checkpoint_refused(run, bad, "overlap in the data");
        st_close(&f);
    }
    {
        st_file f = st_open(ckpt);
        json_object_set_new(json_object_get(f.header, "stem.0.weight"), "dtype",
                            json_string("F16"));
        st_write(&f, bad, f.data_len);
        checkpoint_refused(run, bad,
                           "tensor 'stem.0.weight': dtype F16; mmx reads F32 tensors only");
        st_close(&f);
    }
    {
        /* A valid file whose tensor has the same size in another shape. */
        st_file f = st_open(ckpt);
        json_object_set_new(json_object_get(f.header, "stem.0.weight"), "shape",
                            json_pack("[i, i]", 16, 16));
        st_write(&f, bad, f.data_len);
        checkpoint_refused(
            run, bad,
            "tensor 'stem.0.weight': the model expects [16, 1, 4, 4], the file has [16, 16]");
        st_close(&f);
    }
    {
        /* A checkpoint of another spec: a wider model. */
        g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
        g_autofree char *other = g_build_filename(dir, "other", NULL);
        g_setenv("MMX_STOP_AFTER_STEPS", "2", TRUE);
        ck_assert_int_eq(
            mmx_test_run_mmx((const char *[]){"train", mini, "--set", "/name=\"wide\"", "--set",
                                              "/vars/dim=24", "--out", other, "--quiet", "--data",
                                              "synthetic:256:64", NULL},
                             NULL, NULL),
            1);
        g_unsetenv("MMX_STOP_AFTER_STEPS");
        g_autofree char *foreign = g_build_filename(other, "checkpoint.safetensors", NULL);
        checkpoint_refused(run, foreign, "does not fit this model (it was saved from spec 'wide')");
        checkpoint_refused(
            run, foreign,
            "tensor 'stem.0.weight': the model expects [16, 1, 4, 4], the file has [24, 1, 4, 4]");
    }
    {
        /* The same model saved by a run with other settings: refused by --resume (its
         * numbers would not be the run's), accepted as weights by eval. */
        g_autofree char *mini = mmx_test_data_path("specs/train/mini.json");
        g_autofree char *other = g_build_filename(dir, "other-lr", NULL);
        g_setenv("MMX_STOP_AFTER_STEPS", "2", TRUE);
        ck_assert_int_eq(
            mmx_test_run_mmx((const char *[]){"train", mini, "--out", other, "--quiet", "--data",
                                              "synthetic:256:64", "--lr", "0.5", NULL},
                             NULL, NULL),
            1);
        g_unsetenv("MMX_STOP_AFTER_STEPS");
        g_autofree char *ck = g_build_filename(other, "checkpoint.safetensors", NULL);
        gsize len;
        g_autofree char *b = contents(other, "checkpoint.safetensors", &len);
        g_autofree char *copy = mmx_test_tmpdir();
        g_autofree char *r = g_build_filename(copy, "run", NULL);
        ck_assert_int_eq(g_mkdir(r, 0755), 0);
        const char *files[] = {"config.json", "result.json"};
        for (unsigned i = 0; i < G_N_ELEMENTS(files); i++) {
            gsize l;
            g_autofree char *c = contents(run, files[i], &l);
            write_file(r, files[i], c, l);
        }
        write_file(r, "checkpoint.safetensors", b, len);
        g_autofree char *e =
            refused((const char *[]){"train", "--resume", r, "--quiet", NULL},
                    "was saved by a run with another spec or other training settings");
        ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"eval", mini, "--weights", ck, "--data",
                                                           "synthetic:64:32", NULL},
                                          NULL, NULL),
                         0);
    }
    /* No checkpoint at all. */
    {
        g_autofree char *empty = mmx_test_tmpdir();
        gsize l;
        g_autofree char *c = contents(run, "config.json", &l);
        write_file(empty, "config.json", c, l);
        g_autofree char *e = refused((const char *[]){"train", "--resume", empty, "--quiet", NULL},
                                     "checkpoint.safetensors");
        ck_assert_contains(e, "cannot resume: ");
    }
    /* The untouched run still resumes and finishes. */
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"train", "--resume", run, "--quiet", NULL}, NULL, NULL),
        0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("bad-input");
    TCase *tc = tcase_create("bad-input");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_broken_corpus_through_train);
    tcase_add_test(tc, test_memory_refused_before_allocation);
    tcase_add_test(tc, test_bad_sweep_specs);
    tcase_add_test(tc, test_sweep_nothing_to_run);
    tcase_add_test(tc, test_bad_data_through_cli);
    tcase_add_test(tc, test_bad_checkpoints_through_cli);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
