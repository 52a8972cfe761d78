/* test-faults.c: faults and interruptions of `mmx train`, run as a real process: a kernel
 * that fails mid-training, SIGINT and SIGTERM mid-epoch, a full disk and a read-only
 * output directory. Each must end with a clear message and exit status, a result.json
 * that tells the truth (never "finished" unless the run finished), and the last
 * checkpoint intact and loadable; a stopped run resumed must give the same numbers as a
 * run nobody stopped. docs/reliability.md lists the guarantees these tests hold.
 *
 * Full disks: a small tmpfs when the test runs as root in a mount namespace of its own
 * (so a failed test leaves no mount behind), and always RLIMIT_FSIZE, which makes every
 * write past the limit fail (EFBIG) without privileges.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "test-util.h"

/* ---- helpers ---- */

/* tests/data/specs/train/mini.json with changes: each change is "/pointer=JSON". Written
 * to dir/name; returns the path. */
static char *
mini_spec(const char *dir, const char *name, const char *const *changes)
{
    g_autofree char *src = mmx_test_data_path("specs/train/mini.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) doc = mmx_json_read(src, &error);
    ck_assert_msg(doc != NULL, "%s", error ? error->message : "");
    for (const char *const *c = changes; c && *c; c++)
        ck_assert_msg(mmx_json_apply_override(doc, *c, &error), "%s: %s", *c,
                      error ? error->message : "");
    char *path = g_build_filename(dir, name, NULL);
    ck_assert(mmx_json_write_atomic(path, doc, NULL));
    return path;
}

static json_t *
read_json(const char *dir, const char *name)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    return mmx_json_read(path, NULL);
}

static const char *
status_of(json_t *result)
{
    return json_string_value(json_object_get(result, "status"));
}

static double
num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* The figures of two result.json files that must agree to the bit (timings excluded). */
static void
assert_same_result(json_t *a, json_t *b)
{
    const char *keys[] = {"test_acc", "test_loss", "train_loss", "train_acc"};
    for (unsigned k = 0; k < G_N_ELEMENTS(keys); k++) {
        double x = num(a, keys[k]), y = num(b, keys[k]);
        ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "%s: %.17g vs %.17g", keys[k], x, y);
    }
    ck_assert_int_eq(json_integer_value(json_object_get(a, "steps")),
                     json_integer_value(json_object_get(b, "steps")));
}

/* `mmx train SPEC --out OUT --quiet [--threads THREADS]` (every core when THREADS is
 * NULL) to its end: exit 0 and a result.json that says "finished", which it returns. */
static json_t *
train_to_end(const char *spec, const char *out, const char *threads)
{
    g_autofree char *err = NULL;
    int code = mmx_test_run_mmx((const char *[]){"train", spec, "--out", out, "--quiet",
                                                 threads ? "--threads" : NULL, threads, NULL},
                                NULL, &err);
    ck_assert_msg(code == 0, "mmx train %s: exit %d: %s", spec, code, err ? err : "");
    json_t *result = read_json(out, "result.json");
    ck_assert_msg(result != NULL, "no result.json in %s", out);
    ck_assert_str_eq(status_of(result), "finished");
    return result;
}

/* The checkpoint metadata value (a string) of key. */
static char *
ckpt_meta(const char *path, const char *key)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_safetensors) st = mmx_safetensors_read(path, &error);
    ck_assert_msg(st != NULL, "%s", error ? error->message : "");
    return g_strdup(mmx_safetensors_metadata(st, key));
}

/* No temporary file of an atomic write may stay behind. */
static void
assert_no_temporaries(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)) != NULL)
        ck_assert_msg(strstr(name, ".tmp.") == NULL, "a temporary file stayed: %s/%s", dir, name);
}

/* Lines in dir/metrics.jsonl (0 when absent). */
static int
metrics_lines(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "metrics.jsonl", NULL);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    int n = 0;
    for (const char *c = text; *c; c++)
        n += *c == '\n';
    return n;
}

/* Root in a mount namespace of this test process: mounts made here vanish with it. */
static bool
private_mounts(void)
{
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0)
        return false;
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

/* ---- a kernel that fails mid-training ---- */

START_TEST(test_kernel_fault_mid_training)
{
    /* 2048 training images in batches of 64: 32 steps per epoch, plus 8 evaluation
     * batches (batch 64 of 512). Each case fails at a call of its pass. */
    static const struct {
        const char *pass;
        int after;
        bool checkpoint; /* the first epoch ended before the fault */
    } cases[] = {{"forward", 50, true}, {"backward", 40, true}, {"forward", 5, false}};
    g_autofree char *fixture = mmx_test_fixture("fail-after");
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *plugins = g_strdup_printf("/plugins=[\"%s\"]", fixture);
    /* The uninterrupted run: the same model with a fault that never comes. */
    const char *clean_changes[] = {plugins, "/head/1={\"op\": \"failing.copy\"}",
                                   "/head/2={\"op\": \"mean_tokens\"}",
                                   "/head/3={\"op\": \"linear\", \"out\": 10}", NULL};
    g_autofree char *clean_spec = mini_spec(dir, "clean.json", clean_changes);
    g_autofree char *clean_out = g_build_filename(dir, "clean", NULL);
    g_autoptr(json_t) clean = train_to_end(clean_spec, clean_out, NULL);
    g_autofree char *err = NULL;

    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *op =
            g_strdup_printf("/head/1={\"op\": \"failing.copy\", \"after\": %d, \"in\": \"%s\"}",
                            cases[i].after, cases[i].pass);
        const char *changes[] = {plugins, op, "/head/2={\"op\": \"mean_tokens\"}",
                                 "/head/3={\"op\": \"linear\", \"out\": 10}", NULL};
        g_autofree char *name = g_strdup_printf("fault-%u.json", i);
        g_autofree char *spec = mini_spec(dir, name, changes);
        g_autofree char *out = g_strdup_printf("%s/run-%u", dir, i);
        g_free(err);
        err = NULL;
        ck_assert_int_eq(
            mmx_test_run_mmx((const char *[]){"train", spec, "--out", out, "--quiet", NULL}, NULL,
                             &err),
            1);
        /* The op's message, its node and its plugin file. */
        g_autofree char *what = g_strdup_printf("injected fault in the %s pass on call %d",
                                                cases[i].pass, cases[i].after);
        ck_assert_contains(err, what);
        ck_assert_contains(err, "head.1");
        ck_assert_contains(err, "fail-after.so");
        g_autoptr(json_t) result = read_json(out, "result.json");
        ck_assert_ptr_nonnull(result);
        ck_assert_str_eq(status_of(result), "failed");
        ck_assert_contains(json_string_value(json_object_get(result, "reason")), what);
        assert_no_temporaries(out);
        g_autofree char *ckpt = g_build_filename(out, "checkpoint.safetensors", NULL);
        g_autofree char *final = g_build_filename(out, "final.safetensors", NULL);
        ck_assert(!g_file_test(final, G_FILE_TEST_EXISTS));
        if (!cases[i].checkpoint) {
            ck_assert(!g_file_test(ckpt, G_FILE_TEST_EXISTS));
            ck_assert(strstr(err, "last checkpoint") == NULL);
            continue;
        }
        /* The last checkpoint is the end of epoch 1, intact: it loads into the model
         * (mmx eval), and the run resumes from it to the uninterrupted run's numbers
         * (the fault counter starts again in the new process, and comes too late). */
        g_autofree char *where = g_strdup_printf("the last checkpoint is %s", ckpt);
        ck_assert_contains(err, where);
        g_autofree char *epoch = ckpt_meta(ckpt, "epoch");
        g_autofree char *bie = ckpt_meta(ckpt, "batch_in_epoch");
        ck_assert_str_eq(epoch, "1");
        ck_assert_str_eq(bie, "0");
        g_free(err);
        err = NULL;
        ck_assert_int_eq(
            mmx_test_run_mmx((const char *[]){"eval", spec, "--weights", ckpt, NULL}, NULL, &err),
            0);
        g_free(err);
        err = NULL;
        ck_assert_int_eq(
            mmx_test_run_mmx((const char *[]){"train", "--resume", out, "--quiet", NULL}, NULL,
                             &err),
            0);
        g_autoptr(json_t) resumed = read_json(out, "result.json");
        ck_assert_str_eq(status_of(resumed), "finished");
        assert_same_result(clean, resumed);
    }
}
END_TEST

/* ---- signals ---- */

START_TEST(test_signals_save_and_resume_exactly)
{
    /* 16384 images in batches of 16: 1024 steps per epoch (about half a second on a quiet
     * machine in the release build), long enough to be stopped in the middle of epoch 2
     * right after epoch 1's metrics line appears. A fixed pause after that line is not
     * safe: 4096 images and 150 ms let a quiet machine finish epoch 2 first. */
    g_autofree char *dir = mmx_test_tmpdir();
    const char *changes[] = {"/train/data=\"synthetic:16384:256\"", "/train/batch=16",
                             "/train/epochs=3", NULL};
    g_autofree char *spec = mini_spec(dir, "long.json", changes);
    g_autofree char *full = g_build_filename(dir, "full", NULL);
    g_autoptr(json_t) want = train_to_end(spec, full, "2");
    const int sigs[] = {SIGINT, SIGTERM};
    for (unsigned i = 0; i < G_N_ELEMENTS(sigs); i++) {
        g_autofree char *out = g_strdup_printf("%s/run-%d", dir, sigs[i]);
        int errfd;
        GPid pid = mmx_test_spawn_mmx((const char *[]){"train", spec, "--out", out, "--threads", "2", NULL},
                             &errfd);
        /* Epoch 1 done (polled every 5 ms), then a moment into epoch 2. */
        for (int waited = 0; metrics_lines(out) < 1; waited += 5) {
            ck_assert_msg(waited < 300000, "no epoch finished in 300 s");
            g_usleep(5000);
        }
        g_usleep(20000);
        kill(pid, sigs[i]);
        g_autofree char *err = NULL;
        ck_assert_int_eq(mmx_test_wait_mmx(pid, errfd, &err), 1);
        ck_assert_contains(err, "stopped at epoch 2, step ");
        ck_assert_contains(err, "checkpoint saved in ");
        g_autofree char *how = g_strdup_printf("resume with: mmx train --resume %s", out);
        ck_assert_contains(err, how);
        g_autoptr(json_t) stopped = read_json(out, "result.json");
        ck_assert_str_eq(status_of(stopped), "interrupted");
        assert_no_temporaries(out);
        g_autofree char *ckpt = g_build_filename(out, "checkpoint.safetensors", NULL);
        g_autofree char *epoch = ckpt_meta(ckpt, "epoch");
        g_autofree char *bie = ckpt_meta(ckpt, "batch_in_epoch");
        ck_assert_str_eq(epoch, "1");
        /* Where in epoch 2 it stopped (0 only if the signal came before its first step). */
        printf("# %s stopped the run at batch %s of epoch 2\n", strsignal(sigs[i]), bie);
        ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", "--resume", out, "--quiet",
                                                           "--threads", "2", NULL},
                                          NULL, NULL),
                         0);
        g_autoptr(json_t) got = read_json(out, "result.json");
        ck_assert_str_eq(status_of(got), "finished");
        assert_same_result(want, got);
        ck_assert_int_eq(metrics_lines(out), 3);
    }
}
END_TEST

START_TEST(test_kill_after_last_checkpoint)
{
    /* A kill -9 after the last epoch's checkpoint and before final.safetensors and
     * result.json: the resumed run has no epoch left to train and must still report the
     * last epoch's figures (it once wrote test_acc 0; kill9_train_resume found it under
     * load). */
    g_autofree char *dir = mmx_test_tmpdir();
    const char *changes[] = {"/train/epochs=2", NULL};
    g_autofree char *spec = mini_spec(dir, "end.json", changes);
    g_autofree char *out = g_build_filename(dir, "run", NULL);
    g_autoptr(json_t) want = train_to_end(spec, out, "1");
    ck_assert_double_gt(num(want, "test_acc"), 0);
    g_autofree char *res = g_build_filename(out, "result.json", NULL);
    g_autofree char *final = g_build_filename(out, "final.safetensors", NULL);
    ck_assert_int_eq(g_unlink(res), 0);
    ck_assert_int_eq(g_unlink(final), 0);
    g_autofree char *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", "--resume", out, "--quiet",
                                                       "--threads", "1", NULL},
                                      NULL, &err),
                     0);
    g_autoptr(json_t) got = read_json(out, "result.json");
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(status_of(got), "finished");
    assert_same_result(want, got);
    ck_assert(g_file_test(final, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_kill9_train_resume)
{
    /* kill -9 at random moments, resumed (or restarted, before the first checkpoint)
     * until the run finishes: every checkpoint left behind loads (old or new, never half
     * of one), no result.json claims "finished" early, and the end is the uninterrupted
     * run's numbers and metrics lines. */
    g_autofree char *dir = mmx_test_tmpdir();
    const char *changes[] = {"/train/data=\"synthetic:8192:256\"", "/train/batch=16",
                             "/train/epochs=3", NULL};
    g_autofree char *spec = mini_spec(dir, "kill.json", changes);
    g_autofree char *full = g_build_filename(dir, "full", NULL);
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(json_t) want = train_to_end(spec, full, "1");
    /* The kills fall within the time a whole run takes here (a fixed window let a quiet
     * machine finish before the first kill). */
    int run_ms = (int)((g_get_monotonic_time() - t0) / 1000) + 1;
    g_autofree char *out = g_build_filename(dir, "run", NULL);
    g_autofree char *ckpt = g_build_filename(out, "checkpoint.safetensors", NULL);
    GRand *rng = g_rand_new_with_seed(7);
    int kills = 0, resumes = 0, stale = 0;
    for (int round = 0;; round++) {
        ck_assert_msg(round < 100, "the run did not finish in 100 rounds");
        bool resume = g_file_test(ckpt, G_FILE_TEST_EXISTS);
        resumes += resume;
        const char *fresh[] = {"train", spec, "--out", out, "--quiet", "--threads", "1", NULL};
        const char *again[] = {"train", "--resume", out, "--quiet", "--threads", "1", NULL};
        int errfd;
        GPid pid = mmx_test_spawn_mmx(resume ? again : fresh, &errfd);
        /* Between 5% and 90% of a whole run, the window widening round by round so that
         * the resumed pieces get through. */
        int lo = run_ms / 20 + 1, hi = run_ms * 9 / 10 + run_ms * round / 10 + 2;
        g_usleep((gulong)g_rand_int_range(rng, lo, hi) * 1000);
        kill(pid, SIGKILL);
        g_autofree char *err = NULL;
        int code = mmx_test_wait_mmx(pid, errfd, &err);
        g_autoptr(json_t) result = read_json(out, "result.json");
        if (code == 0) {
            ck_assert_str_eq(status_of(result), "finished");
            break;
        }
        ck_assert_msg(code == 128 + SIGKILL, "exit %d: %s", code, err);
        kills++;
        if (kills == 1 && g_file_test(out, G_FILE_TEST_IS_DIR)) {
            /* What a kill in the middle of writing a checkpoint leaves (whether or not
             * one of the random kills did). */
            g_autofree char *tmp = g_build_filename(out, "checkpoint.safetensors.tmp.99999", NULL);
            ck_assert(g_file_set_contents(tmp, "half a checkpoint", -1, NULL));
        }
        ck_assert_msg(result == NULL, "result.json after a kill -9: %s", status_of(result));
        g_autoptr(GDir) d = g_dir_open(out, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d)) != NULL)
            stale += strstr(name, ".tmp.") != NULL;
        if (g_file_test(ckpt, G_FILE_TEST_EXISTS)) {
            g_autoptr(GError) error = NULL;
            g_autoptr(mmx_safetensors) st = mmx_safetensors_read(ckpt, &error);
            ck_assert_msg(st != NULL, "after kill %d: %s", kills, error ? error->message : "");
        }
    }
    g_rand_free(rng);
    printf("# %d kills, %d resumes, %d temporary files left by kills (a whole run: %d ms)\n",
           kills, resumes, stale, run_ms);
    ck_assert_int_gt(kills, 0);
    g_autoptr(json_t) got = read_json(out, "result.json");
    assert_same_result(want, got);
    /* What a kill in the middle of a write left behind is gone. */
    assert_no_temporaries(out);
    g_autofree char *m1 = g_build_filename(full, "metrics.jsonl", NULL);
    g_autofree char *m2 = g_build_filename(out, "metrics.jsonl", NULL);
    g_autoptr(json_t) a = mmx_jsonl_read(m1, NULL);
    g_autoptr(json_t) b = mmx_jsonl_read(m2, NULL);
    ck_assert_int_eq(json_array_size(a), 3);
    ck_assert_int_eq(json_array_size(b), 3);
    for (size_t i = 0; i < 3; i++) {
        double x = num(json_array_get(a, i), "test_loss"), y = num(json_array_get(b, i), "test_loss");
        ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "epoch %zu: test_loss %.17g vs %.17g", i + 1,
                      x, y);
    }
}
END_TEST

/* ---- full disks ---- */

/* The outcome of a run whose writes may fail: finished with every file complete, or
 * failed with the reason and no result.json claiming "finished". Returns the exit
 * status. */
static int
check_run_on_small_disk(const char *out, int code, const char *err, const char *errno_text)
{
    g_autoptr(json_t) result = read_json(out, "result.json");
    if (code == 0) {
        ck_assert_ptr_nonnull(result);
        ck_assert_str_eq(status_of(result), "finished");
        g_autofree char *final = g_build_filename(out, "final.safetensors", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(mmx_safetensors) st = mmx_safetensors_read(final, &error);
        ck_assert_msg(st != NULL, "%s", error ? error->message : "");
        ck_assert_int_eq(metrics_lines(out), 2);
    } else {
        ck_assert_msg(code == 1, "exit %d: %s", code, err);
        ck_assert_contains(err, errno_text);
        ck_assert_msg(result == NULL || strcmp(status_of(result), "finished") != 0,
                      "result.json says finished after: %s", err);
    }
    if (g_file_test(out, G_FILE_TEST_IS_DIR))
        assert_no_temporaries(out);
    return code;
}

static const char *const small_run[] = {"--data", "synthetic:256:64", "--epochs", "2", "--batch",
                                        "32",     "--quiet",          NULL};

START_TEST(test_full_disk_tmpfs)
{
    if (!private_mounts()) {
        printf(
            "# SKIP needs root and mount namespaces (RLIMIT_FSIZE covers full disks otherwise)\n");
        return;
    }
    g_autofree char *spec_dir = mmx_test_tmpdir();
    g_autofree char *spec = mini_spec(spec_dir, "mini.json", NULL);
    /* From too small for config.json to more than enough; the checkpoint (with AdamW
     * state) is about 40 kB and an atomic write needs room for old and new. */
    const char *sizes[] = {"4k", "8k", "16k", "32k", "48k", "64k", "96k", "128k", "1m"};
    int failed = 0, finished = 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        g_autofree char *mnt = mmx_test_tmpdir();
        g_autofree char *opts = g_strdup_printf("size=%s", sizes[i]);
        ck_assert_msg(mount("tmpfs", mnt, "tmpfs", 0, opts) == 0, "mount: %s", g_strerror(errno));
        g_autofree char *out = g_build_filename(mnt, "run", NULL);
        GPtrArray *args = g_ptr_array_new();
        const char *head[] = {"train", spec, "--out", out};
        for (unsigned k = 0; k < G_N_ELEMENTS(head); k++)
            g_ptr_array_add(args, (gpointer)head[k]);
        for (const char *const *a = small_run; *a; a++)
            g_ptr_array_add(args, (gpointer)*a);
        g_ptr_array_add(args, NULL);
        g_autofree char *err = NULL;
        int code = mmx_test_run_mmx((const char *const *)args->pdata, NULL, &err);
        g_ptr_array_unref(args);
        printf("# tmpfs of %s: exit %d%s%.200s\n", sizes[i], code, code ? ": " : "",
               code ? err : "");
        if (check_run_on_small_disk(out, code, err, "No space left on device") == 0)
            finished++;
        else
            failed++;
        ck_assert_int_eq(umount(mnt), 0);
    }
    ck_assert_int_gt(failed, 0);
    ck_assert_int_gt(finished, 0);
}
END_TEST

static rlim_t file_limit;

static void
limit_file_size(gpointer user)
{
    (void)user;
    /* Writes past the limit fail with EFBIG instead of killing with SIGXFSZ. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {file_limit, file_limit};
    setrlimit(RLIMIT_FSIZE, &rl);
}

START_TEST(test_full_disk_file_size_limit)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *spec = mini_spec(dir, "mini.json", NULL);
    const rlim_t limits[] = {512, 2048, 8192, 20000, 40000, 1 << 20};
    int failed = 0, finished = 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(limits); i++) {
        g_autofree char *out = g_strdup_printf("%s/run-%u", dir, i);
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        const char *head[] = {g_getenv("MMX_EXE"), "train", spec, "--out", out};
        for (unsigned k = 0; k < G_N_ELEMENTS(head); k++)
            g_ptr_array_add(argv, (gpointer)head[k]);
        for (const char *const *a = small_run; *a; a++)
            g_ptr_array_add(argv, (gpointer)*a);
        g_ptr_array_add(argv, NULL);
        file_limit = limits[i];
        g_autofree char *err = NULL;
        int status;
        g_autoptr(GError) error = NULL;
        ck_assert(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                               limit_file_size, NULL, NULL, &err, &status, &error));
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        printf("# files limited to %lu bytes: exit %d%s%.200s\n", (unsigned long)limits[i], code,
               code ? ": " : "", code ? err : "");
        if (check_run_on_small_disk(out, code, err, "File too large") == 0)
            finished++;
        else
            failed++;
    }
    ck_assert_int_gt(failed, 0);
    ck_assert_int_gt(finished, 0);
}
END_TEST

/* ---- read-only output directories ---- */

START_TEST(test_read_only_output)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *spec = mini_spec(dir, "mini.json", NULL);
    bool root = private_mounts();
    if (!root && geteuid() == 0) {
        printf("# SKIP root without mount namespaces: permissions do not stop root\n");
        return;
    }
    /* A new run under a read-only directory. */
    g_autofree char *ro = g_build_filename(dir, "ro", NULL);
    ck_assert_int_eq(g_mkdir(ro, 0755), 0);
    if (root)
        ck_assert_msg(mount("tmpfs", ro, "tmpfs", MS_RDONLY, "size=64k") == 0, "mount: %s",
                      g_strerror(errno));
    else
        ck_assert_int_eq(chmod(ro, 0555), 0);
    g_autofree char *out = g_build_filename(ro, "run", NULL);
    g_autofree char *err = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"train", spec, "--out", out, "--quiet", NULL}, NULL,
                         &err),
        1);
    g_autofree char *what = g_strdup_printf("cannot create directory %s: %s", out,
                                            root ? "Read-only file system" : "Permission denied");
    ck_assert_contains(err, what);
    ck_assert(!g_file_test(out, G_FILE_TEST_EXISTS));
    if (!root) {
        chmod(ro, 0755);
        printf("# SKIP the read-only resume case needs root (a read-only bind mount)\n");
        return;
    }
    ck_assert_int_eq(umount(ro), 0);

    /* A stopped run whose directory became read-only: resuming fails and says why; the
     * files of the stopped run stay as they were. */
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    g_setenv("MMX_STOP_AFTER_STEPS", "10", TRUE);
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"train", spec, "--out", run, "--quiet", NULL}, NULL,
                         NULL),
        1);
    g_unsetenv("MMX_STOP_AFTER_STEPS");
    g_autofree char *ckpt = g_build_filename(run, "checkpoint.safetensors", NULL);
    g_autofree char *before = NULL;
    gsize before_len;
    ck_assert(g_file_get_contents(ckpt, &before, &before_len, NULL));
    ck_assert_int_eq(mount(run, run, NULL, MS_BIND, NULL), 0);
    ck_assert_int_eq(mount(NULL, run, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);
    g_free(err);
    err = NULL;
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"train", "--resume", run, "--quiet", NULL}, NULL, &err),
        1);
    ck_assert_contains(err, "Read-only file system");
    ck_assert_contains(err, run);
    g_autoptr(json_t) result = read_json(run, "result.json");
    ck_assert_str_eq(status_of(result), "interrupted");
    g_autofree char *after = NULL;
    gsize after_len;
    ck_assert(g_file_get_contents(ckpt, &after, &after_len, NULL));
    ck_assert(before_len == after_len && memcmp(before, after, before_len) == 0);
    ck_assert_int_eq(umount(run), 0);
    /* Writable again: the run resumes and finishes. */
    ck_assert_int_eq(
        mmx_test_run_mmx((const char *[]){"train", "--resume", run, "--quiet", NULL}, NULL, NULL),
        0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_kernel_fault_mid_training);
    tcase_add_test(tc, test_signals_save_and_resume_exactly);
    tcase_add_test(tc, test_kill_after_last_checkpoint);
    tcase_add_test(tc, test_kill9_train_resume);
    tcase_add_test(tc, test_full_disk_tmpfs);
    tcase_add_test(tc, test_full_disk_file_size_limit);
    tcase_add_test(tc, test_read_only_output);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
