/* test-train-mpi.c: data-parallel training, `mpirun -n 2 mmx train --executor mpi`
 * (tools/mmx/train-mpi.c, the shards and sums of core/train.c): two ranks match one
 * process, a rank killed mid-run stops the job with the last checkpoint intact and the
 * run resumes with another number of ranks, and the refused settings name their reason.
 * Skipped (with the reason in the TAP stream) where mpirun or MPI support is missing. */
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"

/* The zoo's PoolFormer (LayerNorm only: BatchNorm's per-shard statistics would make two
 * ranks differ from one process by design) on a small slice of Fashion-MNIST. */
#define SPEC "specs/models/poolformer.json"
#define DATA "fashion-mnist:256:64"

static char *
mpirun_path(void)
{
    return g_find_program_in_path("mpirun");
}

/* argv for `mpirun -n ranks mmx train SPEC ... --executor mpi` plus extra (NULL-ended). */
static GPtrArray *
mpi_train_argv(const char *mpirun, int ranks, const char *const *extra)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    const char *head[] = {mpirun, "--oversubscribe", "--allow-run-as-root", "-n"};
    for (size_t i = 0; i < G_N_ELEMENTS(head); i++)
        g_ptr_array_add(a, g_strdup(head[i]));
    g_ptr_array_add(a, g_strdup_printf("%d", ranks));
    g_ptr_array_add(a, g_strdup(g_getenv("MMX_EXE")));
    g_ptr_array_add(a, g_strdup("train"));
    for (const char *const *e = extra; *e; e++)
        g_ptr_array_add(a, g_strdup(*e));
    g_ptr_array_add(a, g_strdup("--executor"));
    g_ptr_array_add(a, g_strdup("mpi"));
    g_ptr_array_add(a, NULL);
    return a;
}

/* Open MPI's own allocations outlive MPI_Finalize: under the sanitizer build they are
 * not ours to report. */
static char **
mpi_env(void)
{
    return g_environ_setenv(g_get_environ(), "ASAN_OPTIONS", "detect_leaks=0", TRUE);
}

/* Runs mpirun to the end; returns the exit status, or -1 after printing a SKIP when this
 * mmx has no MPI. */
static int
run_mpi(int ranks, const char *const *extra, char **err)
{
    g_autofree char *mpirun = mpirun_path();
    if (mpirun == NULL) {
        printf("# SKIP mpirun is not installed\n");
        return -1;
    }
    g_autoptr(GPtrArray) argv = mpi_train_argv(mpirun, ranks, extra);
    g_auto(GStrv) env = mpi_env();
    int status = 0;
    g_autoptr(GError) error = NULL;
    ck_assert(g_spawn_sync(NULL, (char **)argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, NULL,
                           err, &status, &error));
    if (*err && strstr(*err, "built without MPI")) {
        printf("# SKIP this mmx was built without MPI\n");
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static json_t *
result_of(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "result.json", NULL);
    json_t *r = json_load_file(path, 0, NULL);
    ck_assert_msg(r != NULL, "no %s", path);
    return r;
}

static double
num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_number(v), "no number '%s'", key);
    return json_number_value(v);
}

/* Two ranks of one thread (each half of every batch of 32) against one process of two
 * threads: the same global batches, seed and threads in all, the same curve within the
 * rounding of the reassociated gradient sums. */
START_TEST(test_two_ranks_match_one_process)
{
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *one = g_build_filename(tmp, "one", NULL);
    g_autofree char *two = g_build_filename(tmp, "two", NULL);
    g_autofree char *spec = mmx_test_source_path(SPEC);
    g_autofree char *err1 = NULL, *err2 = NULL;
    const char *common[] = {spec, "--data", DATA, "--batch", "32", "--epochs", "1", "--seed", "0",
                            "--quiet", "--out"};
    const char *single[] = {"train", spec, "--data", DATA, "--batch", "32", "--epochs", "1",
                            "--seed", "0", "--quiet", "--threads", "2", "--out", one, NULL};
    ck_assert_int_eq(mmx_test_run_mmx(single, NULL, &err1), 0);
    const char *par[G_N_ELEMENTS(common) + 4];
    memcpy(par, common, sizeof common);
    par[G_N_ELEMENTS(common)] = two;
    par[G_N_ELEMENTS(common) + 1] = "--threads";
    par[G_N_ELEMENTS(common) + 2] = "1";
    par[G_N_ELEMENTS(common) + 3] = NULL;
    int rc = run_mpi(2, par, &err2);
    if (rc < 0)
        return;
    ck_assert_msg(rc == 0, "mpirun exit %d:\n%s", rc, err2);
    g_autoptr(json_t) a = result_of(one);
    g_autoptr(json_t) b = result_of(two);
    ck_assert_int_eq(num(b, "ranks"), 2);
    ck_assert_int_eq(num(a, "steps"), num(b, "steps"));
    const char *keys[] = {"train_loss", "test_loss", "train_acc", "test_acc"};
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        double x = num(a, keys[i]), y = num(b, keys[i]);
        ck_assert_msg(fabs(x - y) <= 1e-6 * fabs(x), "%s: one process %.10g, two ranks %.10g",
                      keys[i], x, y);
    }
    /* The communication the run measured: the whole gradient (every trainable float,
     * about the parameter count) and the step's three sums. */
    double bytes = num(b, "allreduce_bytes_per_step"), params = num(a, "params");
    ck_assert_msg(bytes >= params * 4 + 24 && bytes <= params * 4 * 1.01 + 24, "%g bytes for %g "
                  "parameters", bytes, params);
    ck_assert(num(b, "allreduce_seconds_per_step") > 0);
    /* Only rank 0 wrote: one metrics line per epoch, not one per rank. */
    g_autofree char *metrics = g_build_filename(two, "metrics.jsonl", NULL);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(metrics, &text, NULL, NULL));
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 1);
}
END_TEST

/* The children of pid (mpirun's ranks) whose environment says OMPI_COMM_WORLD_RANK=rank. */
static pid_t
rank_pid(GPid mpirun, int rank)
{
    g_autofree char *children_path = g_strdup_printf("/proc/%d/task/%d/children", mpirun, mpirun);
    g_autofree char *children = NULL;
    if (!g_file_get_contents(children_path, &children, NULL, NULL))
        return 0;
    g_auto(GStrv) pids = g_strsplit(g_strstrip(children), " ", -1);
    g_autofree char *want = g_strdup_printf("OMPI_COMM_WORLD_RANK=%d", rank);
    for (char **p = pids; *p && **p; p++) {
        g_autofree char *env_path = g_strdup_printf("/proc/%s/environ", *p);
        g_autofree char *env = NULL;
        gsize len = 0;
        if (!g_file_get_contents(env_path, &env, &len, NULL))
            continue;
        for (gsize at = 0; at < len; at += strlen(env + at) + 1)
            if (strcmp(env + at, want) == 0)
                return (pid_t)atoi(*p);
    }
    return 0;
}

/* kill -9 of rank 1 after the first epoch's checkpoint: the job stops (mpirun names the
 * rank and the signal), the checkpoint is intact, and one process resumes the run to its
 * end from it (another number of ranks than wrote it). */
START_TEST(test_killed_rank_stops_job_and_resumes)
{
    g_autofree char *mpirun = mpirun_path();
    if (mpirun == NULL) {
        printf("# SKIP mpirun is not installed\n");
        return;
    }
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *dir = g_build_filename(tmp, "run", NULL);
    g_autofree char *spec = mmx_test_source_path(SPEC);
    const char *extra[] = {spec, "--data", "fashion-mnist:1024:64", "--batch", "32", "--epochs",
                           "4", "--seed", "0", "--threads", "1", "--quiet", "--out", dir, NULL};
    g_autoptr(GPtrArray) argv = mpi_train_argv(mpirun, 2, extra);
    g_auto(GStrv) env = mpi_env();
    GPid pid;
    int errfd;
    g_autoptr(GError) error = NULL;
    ck_assert(g_spawn_async_with_pipes(NULL, (char **)argv->pdata, env, G_SPAWN_DO_NOT_REAP_CHILD,
                                       NULL, NULL, &pid, NULL, NULL, &errfd, &error));
    g_autofree char *metrics = g_build_filename(dir, "metrics.jsonl", NULL);
    g_autofree char *ckpt = g_build_filename(dir, "checkpoint.safetensors", NULL);
    pid_t victim = 0;
    for (int i = 0; i < 1200 && victim == 0; i++) {
        if (g_file_test(metrics, G_FILE_TEST_EXISTS) && g_file_test(ckpt, G_FILE_TEST_EXISTS))
            victim = rank_pid(pid, 1);
        if (victim == 0)
            g_usleep(50000);
    }
    g_autofree char *err = NULL;
    if (victim == 0) {
        kill(pid, SIGKILL);
        mmx_test_wait_mmx(pid, errfd, &err);
        if (err && strstr(err, "built without MPI")) {
            printf("# SKIP this mmx was built without MPI\n");
            return;
        }
        ck_abort_msg("rank 1 never reached its first checkpoint:\n%s", err);
    }
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    int rc = mmx_test_wait_mmx(pid, errfd, &err);
    ck_assert_msg(rc != 0, "mpirun exited 0 after a rank was killed:\n%s", err);
    ck_assert_contains(err, "signal 9");
    /* Nothing half-written: no result, a loadable checkpoint of a finished epoch. */
    g_autofree char *result = g_build_filename(dir, "result.json", NULL);
    ck_assert(!g_file_test(result, G_FILE_TEST_EXISTS));
    g_autofree char *out = NULL, *err2 = NULL;
    const char *resume[] = {"train", "--resume", dir, "--threads", "2", "--quiet", NULL};
    rc = mmx_test_run_mmx(resume, &out, &err2);
    ck_assert_msg(rc == 0, "resume exit %d:\n%s", rc, err2);
    g_autoptr(json_t) r = result_of(dir);
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "finished");
    ck_assert_int_eq(num(r, "epochs"), 4);
    ck_assert_int_eq(num(r, "steps"), 4 * (1024 / 32));
}
END_TEST

START_TEST(test_refused_settings)
{
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *dir = g_build_filename(tmp, "run", NULL);
    g_autofree char *spec = mmx_test_source_path(SPEC);
    g_autofree char *err = NULL;
    /* An executor that does not exist: no MPI needed to say so. */
    const char *bad[] = {"train", spec, "--executor", "slurm", NULL};
    ck_assert_int_eq(mmx_test_run_mmx(bad, NULL, &err), 2);
    ck_assert_contains(err, "mmx train: --executor: expected local or mpi, got 'slurm'");
    /* A global batch that does not split into the ranks. */
    g_free(err);
    err = NULL;
    const char *odd[] = {spec, "--data", DATA, "--batch", "33", "--epochs", "1", "--threads",
                         "1", "--quiet", "--out", dir, NULL};
    int rc = run_mpi(2, odd, &err);
    if (rc < 0)
        return;
    ck_assert_int_ne(rc, 0);
    ck_assert_contains(err, "batch 33 does not split into 2 ranks: the global batch must be a "
                            "multiple of the number of ranks");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("train-mpi");
    TCase *tc = tcase_create("data-parallel");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_two_ranks_match_one_process);
    tcase_add_test(tc, test_killed_rank_stops_job_and_resumes);
    tcase_add_test(tc, test_refused_settings);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
