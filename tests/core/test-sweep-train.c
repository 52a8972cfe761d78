/* test-sweep-train.c: sweeps with the real trainer, killed and stopped (the reliability
 * stress test of docs/reliability.md):
 * - kill -9: a sweep of 30 short `mmx train` runs (a tiny model, one epoch on the
 *   synthetic set), its coordinator and its trials killed with SIGKILL at random moments
 *   and resumed until done, must end with exactly one finished record per trial of the
 *   manifest, no failed one, and the report of an uninterrupted sweep (same seeds, one
 *   thread per trial: training is deterministic; throughput aside);
 * - SIGINT and SIGTERM: the coordinator stops its trials, which save a checkpoint and
 *   write result.json "interrupted", says how to resume and exits 1; resumed, the sweep
 *   reports what an uninterrupted one does.
 * - a pruned sweep killed and resumed: its trials train the numbers of unpruned ones.
 * In the 'slow' suite: it trains about a hundred short runs. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"

static const char base_spec[] =
    "{\"mmx\": 1, \"name\": \"tiny\", \"input\": {\"shape\": [28, 28, 1], \"classes\": 10},\n"
    " \"vars\": {\"dim\": 8},\n"
    " \"stem\": [{\"op\": \"linear\", \"out\": \"${dim}\"}],\n"
    " \"blocks\": {\"repeat\": 1, \"body\": [{\"mixer\": {\"key\": {\"op\": \"linear\", \"out\": "
    "\"2*${dim}\"}, \"activation\": {\"op\": \"gelu\"}, \"value\": {\"op\": \"linear\", \"out\": "
    "\"${dim}\"}}}]},\n"
    " \"head\": [{\"op\": \"select_token\"}, {\"op\": \"linear\", \"out\": 10}],\n"
    " \"train\": {\"epochs\": 1, \"batch\": 32, \"lr\": 0.001, \"data\": \"synthetic:256:128\"}}\n";

/* 3 widths x 2 learning rates x 5 seeds: 30 trials. */
static const char stress_sweep[] =
    "{\"mmx_sweep\": 1, \"name\": \"killed\", \"base\": \"base.json\", \"seeds\": [0, 1, 2, 3, "
    "4],\n"
    " \"grid\": {\"/vars/dim\": [8, 16, 24], \"/train/lr\": [0.001, 0.003]}}\n";

/* 4 trials of 8 longer epochs: long enough to be stopped in the middle. */
static const char long_sweep[] =
    "{\"mmx_sweep\": 1, \"name\": \"stopped\", \"base\": \"base.json\", \"seeds\": [0, 1],\n"
    " \"train\": {\"epochs\": 8, \"data\": \"synthetic:2048:128\", \"batch\": 16},\n"
    " \"grid\": {\"/vars/dim\": [8, 16]}}\n";

static char *
setup(const char *sweep_spec)
{
    char *dir = mmx_test_tmpdir();
    g_autofree char *b = g_build_filename(dir, "base.json", NULL);
    g_autofree char *s = g_build_filename(dir, "sweep.json", NULL);
    ck_assert(g_file_set_contents(b, base_spec, -1, NULL));
    ck_assert(g_file_set_contents(s, sweep_spec, -1, NULL));
    return dir;
}

static GPid
spawn(const char *dir)
{
    g_autofree char *sweep = g_build_filename(dir, "sweep.json", NULL);
    g_autofree char *out = g_build_filename(dir, "out", NULL);
    const char *argv[] = {
        g_getenv("MMX_EXE"),   "sweep", sweep,      "--out", out, "--workers", "2",
        "--threads-per-trial", "1",     "--resume", NULL};
    GPid pid;
    ck_assert(g_spawn_async(NULL, (char **)argv, NULL,
                            G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                                G_SPAWN_STDERR_TO_DEV_NULL,
                            NULL, NULL, &pid, NULL));
    return pid;
}

/* A child of pid (a running trial), or 0. */
static int
some_child(GPid parent, GRand *rng)
{
    g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
    const char *name;
    g_autoptr(GArray) kids = g_array_new(FALSE, FALSE, sizeof(int));
    while (d && (name = g_dir_read_name(d))) {
        if (!g_ascii_isdigit(name[0]))
            continue;
        g_autofree char *path = g_strdup_printf("/proc/%s/stat", name);
        g_autofree char *text = NULL;
        if (!g_file_get_contents(path, &text, NULL, NULL))
            continue;
        char *close = strrchr(text, ')');
        int ppid = 0;
        if (close && sscanf(close + 2, "%*c %d", &ppid) == 1 && ppid == parent) {
            int p = atoi(name);
            g_array_append_val(kids, p);
        }
    }
    return kids->len ? g_array_index(kids, int, g_rand_int_range(rng, 0, (int)kids->len)) : 0;
}

static json_t *
report_json(const char *dir)
{
    g_autofree char *out = g_build_filename(dir, "out", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_report) r = mmx_report_new(out, &error);
    ck_assert_msg(r != NULL, "%s", error ? error->message : "");
    json_t *j = mmx_report_to_json(r);
    /* Throughput is a measurement, not a result: it differs between runs. */
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "variants"), i, v) json_object_del(v, "img_per_s");
    return j;
}

/* The records of an event, after checking that none says failed. */
static int
count_events(json_t *recs, const char *event)
{
    int n = 0;
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        const char *ev = json_string_value(json_object_get(r, "event"));
        ck_assert_msg(strcmp(ev, "failed") != 0, "failed: %s",
                      json_string_value(json_object_get(r, "reason")));
        n += strcmp(ev, event) == 0;
    }
    return n;
}

/* Runs the sweep of dir again and again (spawn: --resume), killing its coordinator, and
 * with kill_trials sometimes a trial first, with SIGKILL at random moments, until a
 * coordinator finishes; prints what it killed. */
static void
kill_until_done(const char *dir, guint32 seed, bool kill_trials, int *kills, int *trial_kills)
{
    GRand *rng = g_rand_new_with_seed(seed);
    int rounds = 0;
    *kills = *trial_kills = 0;
    for (;; rounds++) {
        ck_assert_msg(rounds < 150, "the sweep did not finish in 150 rounds");
        GPid pid = spawn(dir);
        g_usleep((gulong)g_rand_int_range(rng, 100, 900 + 100 * rounds) * 1000);
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                break;
            continue; /* a trial killed from outside: the next round resumes it */
        }
        if (kill_trials && g_rand_boolean(rng)) {
            int child = some_child(pid, rng);
            if (child) {
                kill(child, SIGKILL);
                (*trial_kills)++;
            }
            g_usleep((gulong)g_rand_int_range(rng, 50, 400) * 1000);
        }
        kill(pid, SIGKILL);
        (*kills)++;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            break;
    }
    g_rand_free(rng);
    printf("# %d rounds, %d coordinators and %d trials killed with SIGKILL\n", rounds + 1, *kills,
           *trial_kills);
}

START_TEST(test_kill_and_resume_real_training)
{
    g_autofree char *dir = setup(stress_sweep);
    int kills, trial_kills;
    kill_until_done(dir, 2024, true, &kills, &trial_kills);
    ck_assert_int_gt(kills, 0);
    ck_assert_int_gt(trial_kills, 0);

    g_autofree char *out = g_build_filename(dir, "out", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) recs = mmx_sweep_read_results(out, NULL, &error);
    ck_assert_ptr_nonnull(recs);
    g_autoptr(GHashTable) finished = g_hash_table_new(g_str_hash, g_str_equal);
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        const char *ev = json_string_value(json_object_get(r, "event"));
        ck_assert_msg(strcmp(ev, "failed") != 0, "a failed record: %s",
                      json_string_value(json_object_get(r, "reason")));
        if (strcmp(ev, "finished") == 0)
            ck_assert_msg(
                g_hash_table_add(finished, (gpointer)json_string_value(json_object_get(r, "id"))),
                "two finished records for %s", json_string_value(json_object_get(r, "id")));
    }
    /* Every trial of the manifest, and nothing else. */
    g_autofree char *mpath = g_build_filename(out, "sweep.json", NULL);
    g_autoptr(json_t) manifest = mmx_json_read(mpath, NULL);
    json_t *trials = json_object_get(manifest, "trials");
    ck_assert_int_eq(json_array_size(trials), 30);
    json_t *t;
    json_array_foreach(trials, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        ck_assert_msg(g_hash_table_contains(finished, id), "trial %s has no finished record", id);
    }
    ck_assert_int_eq(g_hash_table_size(finished), 30);

    /* The same figures as a sweep nobody interrupted. */
    g_autofree char *dir2 = setup(stress_sweep);
    GPid pid = spawn(dir2);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_autoptr(json_t) a = report_json(dir);
    g_autoptr(json_t) b = report_json(dir2);
    g_autofree char *ta = json_dumps(a, JSON_COMPACT);
    g_autofree char *tb = json_dumps(b, JSON_COMPACT);
    ck_assert_str_eq(ta, tb);
}
END_TEST

/* A pruned sweep with the real trainer (4 variants, 4 epochs, asha with eta 2: rungs after
 * epochs 1 and 2), its coordinator killed with SIGKILL at random moments and resumed
 * until done: the trials paused, promoted (resumed from their checkpoints) and resumed
 * after the kills train exactly the numbers of the same trials run to the end without
 * pruning, epoch by epoch, bit for bit. */
static const char pruned_sweep[] =
    "{\"mmx_sweep\": 1, \"name\": \"pruned\", \"base\": \"base.json\",\n"
    " \"train\": {\"epochs\": 4, \"data\": \"synthetic:1024:128\"},\n"
    " \"grid\": {\"/vars/dim\": [8, 16], \"/train/lr\": [0.001, 0.003]},\n"
    " \"prune\": {\"rule\": \"asha\", \"metric\": \"test_loss\", \"grace\": 1, \"eta\": 2}}\n";

START_TEST(test_pruned_real_training)
{
    g_autofree char *dir = setup(pruned_sweep);
    int kills, trial_kills;
    kill_until_done(dir, 99, false, &kills, &trial_kills);
    ck_assert_int_gt(kills, 0);
    /* The reference: the same trials, every epoch, no pruning. */
    g_autofree char *ref = setup(pruned_sweep);
    g_autofree char *sweep = g_build_filename(ref, "sweep.json", NULL);
    g_autofree char *rout = g_build_filename(ref, "out", NULL);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"sweep", sweep, "--out", rout,
                                                       "--threads-per-trial", "1", "--no-prune",
                                                       NULL},
                                      NULL, NULL),
                     0);
    g_autofree char *out = g_build_filename(dir, "out", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) recs = mmx_sweep_read_results(out, NULL, &error);
    int pruned = count_events(recs, "pruned"), finished = count_events(recs, "finished");
    ck_assert_int_eq(pruned, 3); /* 2 at the first rung, 1 at the second */
    ck_assert_int_eq(finished, 1);
    g_autofree char *trials = g_build_filename(out, "trials", NULL);
    g_autoptr(GDir) d = g_dir_open(trials, 0, NULL);
    const char *name;
    int compared = 0;
    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *a = g_build_filename(trials, name, "metrics.jsonl", NULL);
        g_autofree char *b = g_build_filename(rout, "trials", name, "metrics.jsonl", NULL);
        g_autoptr(json_t) la = mmx_jsonl_read(a, &error);
        g_autoptr(json_t) lb = mmx_jsonl_read(b, &error);
        ck_assert_ptr_nonnull(la);
        ck_assert_ptr_nonnull(lb);
        ck_assert_int_ge(json_array_size(la), 1);
        for (size_t e = 0; e < json_array_size(la); e++) {
            const char *keys[] = {"epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc"};
            for (size_t k = 0; k < G_N_ELEMENTS(keys); k++)
                ck_assert_msg(json_equal(json_object_get(json_array_get(la, e), keys[k]),
                                         json_object_get(json_array_get(lb, e), keys[k])),
                              "%s epoch %zu: %s differs", name, e + 1, keys[k]);
            compared++;
        }
    }
    ck_assert_int_eq(compared, 4 * 1 + 2 * 1 + 1 * 2); /* the epochs the pruned sweep trained */
}
END_TEST

/* A trial folder of out with a metrics line (an epoch done), or NULL. */
static char *
trial_past_first_epoch(const char *out)
{
    g_autofree char *trials = g_build_filename(out, "trials", NULL);
    g_autoptr(GDir) d = g_dir_open(trials, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)) != NULL) {
        /* Past its first epoch and still training: a trial that already finished
         * cannot be interrupted (on a fast machine the first ones do). */
        g_autofree char *m = g_build_filename(trials, name, "metrics.jsonl", NULL);
        g_autofree char *r = g_build_filename(trials, name, "result.json", NULL);
        if (g_file_test(m, G_FILE_TEST_EXISTS) && !g_file_test(r, G_FILE_TEST_EXISTS))
            return g_build_filename(trials, name, NULL);
    }
    return NULL;
}

START_TEST(test_signals_real_training)
{
    /* The figures of a sweep nobody stopped. */
    g_autofree char *ref = setup(long_sweep);
    GPid rp = spawn(ref);
    int status;
    ck_assert_int_eq(waitpid(rp, &status, 0), rp);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_autoptr(json_t) want = report_json(ref);
    g_autofree char *want_text = json_dumps(want, JSON_COMPACT);

    const int sigs[] = {SIGINT, SIGTERM};
    for (unsigned k = 0; k < G_N_ELEMENTS(sigs); k++) {
        g_autofree char *dir = setup(long_sweep);
        g_autofree char *sweep = g_build_filename(dir, "sweep.json", NULL);
        g_autofree char *out = g_build_filename(dir, "out", NULL);
        int errfd;
        GPid pid = mmx_test_spawn_mmx((const char *[]){"sweep", sweep, "--out", out, "--workers",
                                                       "2", "--threads-per-trial", "1", NULL},
                                      &errfd);
        /* A trial one epoch in, then a moment into its second epoch. */
        g_autofree char *trial = NULL;
        for (int waited = 0; (trial = trial_past_first_epoch(out)) == NULL; waited += 20) {
            ck_assert_msg(waited < 300000, "no trial finished an epoch in 300 s");
            g_usleep(20000);
        }
        g_usleep(100000);
        kill(pid, sigs[k]);
        g_autofree char *err = NULL;
        ck_assert_int_eq(mmx_test_wait_mmx(pid, errfd, &err), 1);
        ck_assert_contains(err, "Resume with: mmx sweep ");
        ck_assert_contains(err, " --resume");
        /* That trial saved its checkpoint and says it was interrupted. */
        g_autofree char *rpath = g_build_filename(trial, "result.json", NULL);
        g_autoptr(json_t) result = mmx_json_read(rpath, NULL);
        ck_assert_msg(result != NULL, "%s has no result.json; the sweep said:\n%s", trial, err);
        ck_assert_str_eq(json_string_value(json_object_get(result, "status")), "interrupted");
        g_autofree char *ckpt = g_build_filename(trial, "checkpoint.safetensors", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(mmx_safetensors) st = mmx_safetensors_read(ckpt, &error);
        ck_assert_msg(st != NULL, "%s", error ? error->message : "");
        g_autoptr(json_t) recs = mmx_sweep_read_results(out, NULL, &error);
        ck_assert_ptr_nonnull(recs);
        int interrupted = count_events(recs, "interrupted");
        ck_assert_int_gt(interrupted, 0);
        /* Resumed: every trial finishes, with the figures of the sweep nobody stopped. */
        GPid pid2 = spawn(dir);
        ck_assert_int_eq(waitpid(pid2, &status, 0), pid2);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        g_autoptr(json_t) got = report_json(dir);
        g_autofree char *got_text = json_dumps(got, JSON_COMPACT);
        ck_assert_str_eq(got_text, want_text);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sweep-train");
    TCase *tc = tcase_create("kill-and-resume");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_kill_and_resume_real_training);
    tcase_add_test(tc, test_signals_real_training);
    tcase_add_test(tc, test_pruned_real_training);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
