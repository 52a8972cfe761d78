/* test-train.c: training end to end: the synthetic set and a Fashion-MNIST subset learn
 * well above chance, the same seed gives the same numbers, a stopped run resumed gives
 * exactly the uninterrupted run's figures, divergence stops cleanly, and the CLI's exit
 * codes. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"

typedef struct setup {
    mmx_registry *reg;
    mmx_spec *spec;
    mmx_graph *graph;
    mmx_train_config cfg;
} setup;

/* The spec the helpers below train (the language-model tests switch it). */
static const char *spec_file = "specs/train/mini.json";

static void
setup_load(setup *s, const char *const *overrides)
{
    s->reg = mmx_test_registry();
    g_autofree char *path = mmx_test_data_path(spec_file);
    g_autoptr(GError) error = NULL;
    s->spec = mmx_spec_load(s->reg, path, overrides, &error);
    ck_assert_msg(s->spec != NULL, "%s", error ? error->message : "");
    s->graph = mmx_graph_new(s->spec, &error);
    ck_assert_msg(s->graph != NULL, "%s", error ? error->message : "");
    ck_assert(mmx_train_config_from_json(mmx_spec_train(s->spec), &s->cfg, &error));
}

static void
setup_free(setup *s)
{
    mmx_train_config_clear(&s->cfg);
    mmx_graph_free(s->graph);
    mmx_spec_free(s->spec);
    mmx_registry_free(s->reg);
}

static json_t *
train(const char *const *overrides, const char *out, const char *resume, int64_t stop_after,
      bool expect_ok)
{
    setup s;
    setup_load(&s, overrides);
    mmx_train_options opts = {.out_dir = out, .resume_dir = resume, .stop_after_steps = stop_after};
    json_t *result = NULL;
    g_autoptr(GError) error = NULL;
    bool ok = mmx_train_run(s.spec, s.graph, &s.cfg, &opts, &result, &error);
    ck_assert_msg(ok == expect_ok, "train: %s", error ? error->message : "succeeded");
    setup_free(&s);
    return result;
}

static double
num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

START_TEST(test_synthetic_learns_and_writes_files)
{
    g_autofree char *dir = mmx_test_tmpdir();
    json_t *r = train(NULL, dir, NULL, 0, true);
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "finished");
    ck_assert_msg(num(r, "test_acc") > 0.9, "test accuracy %g", num(r, "test_acc"));
    ck_assert_int_eq(json_integer_value(json_object_get(r, "epochs")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "steps")), 2 * (2048 / 64));
    ck_assert_int_eq(json_integer_value(json_object_get(r, "params")), 2986);
    json_decref(r);
    const char *files[] = {"config.json", "metrics.jsonl", "result.json", "checkpoint.safetensors",
                           "final.safetensors"};
    for (unsigned i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *p = g_build_filename(dir, files[i], NULL);
        ck_assert_msg(g_file_test(p, G_FILE_TEST_EXISTS), "missing %s", files[i]);
    }
    g_autofree char *mp = g_build_filename(dir, "metrics.jsonl", NULL);
    json_t *lines = mmx_jsonl_read(mp, NULL);
    ck_assert_int_eq(json_array_size(lines), 2);
    json_t *e2 = json_array_get(lines, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(e2, "epoch")), 2);
    ck_assert(num(e2, "img_per_s") > 0 && num(e2, "lr") > 0);
    json_decref(lines);
    g_autofree char *cp = g_build_filename(dir, "config.json", NULL);
    json_t *cfg = mmx_json_read(cp, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(cfg, "train"), "data")),
                     "synthetic:2048:512");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(cfg, "kernels"), "blocks.0.mixer.key"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(cfg, "spec"), "name")), "mini");
    json_decref(cfg);
}
END_TEST

START_TEST(test_fashion_mnist_subset_learns)
{
    const char *const ov[] = {"/train/data=\"fashion-mnist:4096:1000\"", NULL};
    json_t *r = train(ov, NULL, NULL, 0, true);
    /* Chance is 0.10; two short epochs on 4096 images reach about 0.6. */
    ck_assert_msg(num(r, "test_acc") > 0.5, "test accuracy %g", num(r, "test_acc"));
    json_decref(r);
}
END_TEST

/* Every metric but the timings. */
/* The same bits for every key of every line of two runs' metrics.jsonl (NULL keys: the
 * image run's); each key must be there. */
static void
assert_same_metrics_of(const char *dir_a, const char *dir_b, const char *const *keys)
{
    static const char *const image[] = {"epoch",     "step",     "lr",       "train_loss",
                                        "train_acc", "test_loss", "test_acc", NULL};
    keys = keys ? keys : image;
    g_autofree char *pa = g_build_filename(dir_a, "metrics.jsonl", NULL);
    g_autofree char *pb = g_build_filename(dir_b, "metrics.jsonl", NULL);
    json_t *a = mmx_jsonl_read(pa, NULL), *b = mmx_jsonl_read(pb, NULL);
    ck_assert_int_gt(json_array_size(a), 0);
    ck_assert_int_eq(json_array_size(a), json_array_size(b));
    for (size_t i = 0; i < json_array_size(a); i++)
        for (unsigned k = 0; keys[k]; k++) {
            ck_assert_msg(json_object_get(json_array_get(a, i), keys[k]) != NULL,
                          "epoch %zu: no %s", i + 1, keys[k]);
            double x = num(json_array_get(a, i), keys[k]), y = num(json_array_get(b, i), keys[k]);
            ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "epoch %zu %s: %.17g vs %.17g", i + 1,
                          keys[k], x, y);
        }
    json_decref(a);
    json_decref(b);
}

static void
assert_same_metrics(const char *dir_a, const char *dir_b)
{
    assert_same_metrics_of(dir_a, dir_b, NULL);
}

START_TEST(test_same_seed_same_numbers)
{
    g_autofree char *a = mmx_test_tmpdir(), *b = mmx_test_tmpdir(), *c = mmx_test_tmpdir();
    json_decref(train(NULL, a, NULL, 0, true));
    json_decref(train(NULL, b, NULL, 0, true));
    assert_same_metrics(a, b);
    /* Another seed: other numbers. */
    const char *const ov[] = {"/train/seed=1", NULL};
    json_t *r1 = train(ov, c, NULL, 0, true);
    g_autofree char *ra = g_build_filename(a, "result.json", NULL);
    json_t *r0 = mmx_json_read(ra, NULL);
    ck_assert(num(r0, "train_loss") != num(r1, "train_loss"));
    json_decref(r0);
    json_decref(r1);
}
END_TEST

START_TEST(test_resume_is_exact)
{
    g_autofree char *full = mmx_test_tmpdir(), *part = mmx_test_tmpdir();
    json_t *want = train(NULL, full, NULL, 0, true);
    /* Stop in the middle of the second epoch (32 steps per epoch), as a SIGTERM would. */
    json_t *stopped = train(NULL, part, NULL, 45, false);
    ck_assert_str_eq(json_string_value(json_object_get(stopped, "status")), "interrupted");
    json_decref(stopped);
    json_t *got = train(NULL, part, part, 0, true);
    const char *keys[] = {"test_acc", "test_loss", "train_loss", "train_acc"};
    for (unsigned k = 0; k < G_N_ELEMENTS(keys); k++) {
        double x = num(want, keys[k]), y = num(got, keys[k]);
        ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "%s: %.17g resumed vs %.17g", keys[k], y, x);
    }
    ck_assert_int_eq(json_integer_value(json_object_get(got, "steps")), 64);
    assert_same_metrics(full, part);
    json_decref(want);
    json_decref(got);
    /* A run stopped before its first checkpoint cannot be resumed, and says why. */
    g_autofree char *empty = mmx_test_tmpdir();
    setup s;
    setup_load(&s, NULL);
    mmx_train_options opts = {.out_dir = empty, .resume_dir = empty};
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_train_run(s.spec, s.graph, &s.cfg, &opts, NULL, &error));
    ck_assert_contains(error->message, "checkpoint.safetensors");
    setup_free(&s);
}
END_TEST

/* --pause-after N: the run stops at the end of epoch N with its checkpoint (result.json
 * "paused"), and --resume continues to the same numbers as a run that never paused (how a
 * pruned sweep promotes a trial). */
START_TEST(test_pause_after_and_resume)
{
    g_autofree char *full = mmx_test_tmpdir(), *part = mmx_test_tmpdir();
    g_autofree char *spec = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", spec, "--out", full, "--quiet", NULL}, NULL, NULL), 0);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", spec, "--out", part, "--quiet", "--pause-after", "1", NULL}, NULL, &err), 1);
    ck_assert_contains(err, "paused at the end of epoch 1 of 2; checkpoint saved in");
    g_autofree char *rpath = g_build_filename(part, "result.json", NULL);
    json_t *r = json_load_file(rpath, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "paused");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "epochs")), 1);
    json_decref(r);
    /* Asked to pause where it already stands, it pauses again without training. */
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", "--resume", part, "--quiet", "--pause-after", "1", NULL}, NULL, NULL), 1);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", "--resume", part, "--quiet", NULL}, NULL, NULL), 0);
    assert_same_metrics(full, part);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", spec, "--pause-after", "-1", "--quiet", NULL}, NULL, &err), 2);
    ck_assert_contains(err, "--pause-after must be a positive epoch");
}
END_TEST

START_TEST(test_resume_refuses_other_settings)
{
    g_autofree char *dir = mmx_test_tmpdir();
    json_decref(train(NULL, dir, NULL, 10, false));
    const char *const ov[] = {"/train/lr=0.02", NULL};
    setup s;
    setup_load(&s, ov);
    mmx_train_options opts = {.out_dir = dir, .resume_dir = dir};
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_train_run(s.spec, s.graph, &s.cfg, &opts, NULL, &error));
    ck_assert_contains(error->message, "was saved by a run with another spec or other training settings");
    setup_free(&s);
}
END_TEST

/* The tensors of two safetensors files, bit for bit (the metadata may differ). */
static bool
same_tensors(const char *a, const char *b)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_safetensors) x = mmx_safetensors_read(a, &error);
    ck_assert_msg(x != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_safetensors) y = mmx_safetensors_read(b, &error);
    ck_assert_msg(y != NULL, "%s", error ? error->message : "");
    if (mmx_safetensors_count(x) != mmx_safetensors_count(y))
        return false;
    for (size_t i = 0; i < mmx_safetensors_count(x); i++) {
        const mmx_st_tensor *t = mmx_safetensors_tensor(x, i);
        const mmx_st_tensor *u = mmx_safetensors_find(y, t->name);
        if (u == NULL || u->rank != t->rank)
            return false;
        int64_t n = 1;
        for (int d = 0; d < t->rank; d++) {
            if (t->dims[d] != u->dims[d])
                return false;
            n *= t->dims[d];
        }
        if (memcmp(t->data, u->data, (size_t)n * sizeof(float)) != 0)
            return false;
    }
    return true;
}

static char *
in_dir(const char *dir, const char *name)
{
    return g_build_filename(dir, name, NULL);
}

/* train.checkpoint_every: the snapshots are there, hold what the run had at that epoch,
 * change no number, and a resumed run writes the ones it had left. */
START_TEST(test_checkpoint_every)
{
    g_autofree char *plain = mmx_test_tmpdir(), *snap = mmx_test_tmpdir(), *part = mmx_test_tmpdir();
    json_decref(train(NULL, plain, NULL, 0, true));
    const char *const every[] = {"/train/checkpoint_every=1", NULL};
    json_decref(train(every, snap, NULL, 0, true));
    assert_same_metrics(plain, snap);
    g_autofree char *e1 = in_dir(snap, "epoch-1.safetensors"), *e2 = in_dir(snap, "epoch-2.safetensors");
    g_autofree char *final = in_dir(snap, "final.safetensors"), *plain_final = in_dir(plain, "final.safetensors");
    g_autofree char *no_snap = in_dir(plain, "epoch-1.safetensors");
    ck_assert(g_file_test(e1, G_FILE_TEST_EXISTS) && g_file_test(e2, G_FILE_TEST_EXISTS));
    ck_assert(!g_file_test(no_snap, G_FILE_TEST_EXISTS));
    ck_assert(same_tensors(final, plain_final));
    ck_assert(same_tensors(e2, final));
    ck_assert(!same_tensors(e1, final));
    g_autoptr(mmx_safetensors) st = mmx_safetensors_read(e1, NULL);
    ck_assert_str_eq(mmx_safetensors_metadata(st, "epoch"), "1");
    ck_assert_ptr_null(mmx_safetensors_find(st, "optim.exp_avg.blocks.0.mixer.key.weight"));
    g_autofree char *cp = in_dir(snap, "config.json");
    json_t *cfg = mmx_json_read(cp, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(cfg, "train"), "checkpoint_every")), 1);
    json_decref(cfg);
    /* Stopped in epoch 2: epoch 1's snapshot only; the resumed run adds epoch 2's, the
     * same weights as the uninterrupted run's. */
    json_decref(train(every, part, NULL, 45, false));
    g_autofree char *p1 = in_dir(part, "epoch-1.safetensors"), *p2 = in_dir(part, "epoch-2.safetensors");
    ck_assert(g_file_test(p1, G_FILE_TEST_EXISTS) && !g_file_test(p2, G_FILE_TEST_EXISTS));
    json_decref(train(every, part, part, 0, true));
    ck_assert(same_tensors(p1, e1) && same_tensors(p2, e2));
    /* Every second epoch of two: epoch 2 only. A stale temporary of a snapshot is removed. */
    g_autofree char *two = mmx_test_tmpdir();
    g_autofree char *stale = in_dir(two, "epoch-1.safetensors.tmp.12345");
    ck_assert(g_file_set_contents(stale, "x", 1, NULL));
    const char *const every2[] = {"/train/checkpoint_every=2", NULL};
    json_decref(train(every2, two, NULL, 0, true));
    g_autofree char *t1 = in_dir(two, "epoch-1.safetensors"), *t2 = in_dir(two, "epoch-2.safetensors");
    ck_assert(!g_file_test(t1, G_FILE_TEST_EXISTS) && g_file_test(t2, G_FILE_TEST_EXISTS));
    ck_assert(!g_file_test(stale, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_divergence_stops_cleanly)
{
    g_autofree char *dir = mmx_test_tmpdir();
    const char *const ov[] = {"/train/lr=10", "/train/warmup=0", "/train/optimizer=\"sgd\"", NULL};
    setup s;
    setup_load(&s, ov);
    mmx_train_options opts = {.out_dir = dir};
    json_t *result = NULL;
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_train_run(s.spec, s.graph, &s.cfg, &opts, &result, &error));
    ck_assert_int_eq(error->code, MMX_TRAIN_ERROR_DIVERGED);
    ck_assert_contains(error->message, "diverged at epoch 1, step ");
    ck_assert_str_eq(json_string_value(json_object_get(result, "status")), "diverged");
    json_decref(result);
    g_autofree char *rp = g_build_filename(dir, "result.json", NULL);
    json_t *saved = mmx_json_read(rp, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(saved, "status")), "diverged");
    json_decref(saved);
    setup_free(&s);
}
END_TEST

/* An interruption whose checkpoint cannot be written is a failure: result.json and the
 * error say so, and the error points at no checkpoint. (The temporary file the checkpoint
 * is written through is a directory here.) */
START_TEST(test_interrupt_without_checkpoint_fails)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *blocker =
        g_strdup_printf("%s/checkpoint.safetensors.tmp.%d", dir, (int)getpid());
    ck_assert_int_eq(g_mkdir_with_parents(blocker, 0755), 0);
    setup s;
    setup_load(&s, NULL);
    mmx_train_options opts = {.out_dir = dir, .stop_after_steps = 5};
    json_t *result = NULL;
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_train_run(s.spec, s.graph, &s.cfg, &opts, &result, &error));
    ck_assert_int_eq(error->code, MMX_TRAIN_ERROR_FAILED);
    ck_assert_contains(error->message, "interrupted, and the checkpoint could not be saved: ");
    ck_assert_contains(error->message, "checkpoint.safetensors");
    ck_assert(strstr(error->message, "checkpoint saved in") == NULL);
    ck_assert_str_eq(json_string_value(json_object_get(result, "status")), "failed");
    ck_assert_str_eq(json_string_value(json_object_get(result, "reason")), error->message);
    json_decref(result);
    g_autofree char *rp = g_build_filename(dir, "result.json", NULL);
    json_t *saved = mmx_json_read(rp, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(saved, "status")), "failed");
    json_decref(saved);
    setup_free(&s);
}
END_TEST

START_TEST(test_cli_train_eval_bench)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *spec = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", spec, "--out", dir, "--quiet", "--json", NULL}, &out, &err), 0);
    json_t *r = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(r);
    double acc = num(r, "test_acc");
    json_decref(r);
    g_autofree char *weights = g_build_filename(dir, "final.safetensors", NULL);
    g_free(out);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"eval", spec, "--weights", weights, "--json", NULL}, &out, NULL), 0);
    json_t *e = json_loads(out, 0, NULL);
    ck_assert_msg(fabs(num(e, "test_acc") - acc) < 1e-12, "eval %g vs train %g", num(e, "test_acc"), acc);
    json_decref(e);
    g_free(out);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"bench", spec, "--batch", "8", "--steps", "3", "--json", NULL}, &out, NULL), 0);
    json_t *b = json_loads(out, 0, NULL);
    ck_assert(num(json_object_get(b, "img_per_s"), "median") > 0);
    ck_assert_str_eq(json_string_value(json_object_get(b, "mode")), "train");
    json_decref(b);
    /* Exit codes: invalid data is usage (2); a diverged run is a failure (1). */
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", spec, "--data", "/no/such/dir", "--quiet", NULL}, NULL, &err), 2);
    ck_assert_contains(err, "no such data set or directory");
    g_free(err);
    g_autofree char *d2 = mmx_test_tmpdir();
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", spec, "--lr", "10", "--set", "/train/warmup=0", "--set", "/train/optimizer=\"sgd\"", "--out", d2, "--quiet", NULL}, NULL, &err), 1);
    ck_assert_contains(err, "diverged at epoch 1");
    g_free(err);
    /* The same directory again, without --resume: refused, nothing overwritten. */
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", spec, "--out", d2, "--quiet", NULL}, NULL, &err), 2);
    ck_assert_contains(err, "already holds a run; continue it with --resume");
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"eval", spec, "--weights", spec, NULL}, NULL, &err), 2);
    ck_assert_contains(err, "mini.json");
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"bench", spec, "--mode", "fast", NULL}, NULL, &err), 2);
    ck_assert_contains(err, "--mode: expected train or infer, got 'fast'");
}
END_TEST

/* ---- causal language modeling (task lm) ---- */

static void
assert_same_lm_metrics(const char *dir_a, const char *dir_b)
{
    static const char *const keys[] = {"epoch",   "step",    "lr",      "train_loss", "train_acc",
                                       "val_loss", "val_acc", "val_bpb", "val_ppl",    NULL};
    assert_same_metrics_of(dir_a, dir_b, keys);
}

START_TEST(test_lm_learns_and_reports_bits_per_byte)
{
    spec_file = "specs/train/lm-mini.json";
    g_autofree char *dir = mmx_test_tmpdir();
    json_t *r = train(NULL, dir, NULL, 0, true);
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "finished");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "steps")), 2 * (2048 / 16));
    double bpb = num(r, "val_bpb"), uni = num(r, "unigram_bpb"), loss = num(r, "val_loss");
    ck_assert_double_eq_tol(bpb, loss / log(2.0), 1e-12);
    ck_assert_double_eq_tol(num(r, "val_ppl"), exp(loss), 1e-9);
    /* The generated text has a small grammar: 256 steps take a byte model well below the
     * unigram baseline of the same corpus. */
    ck_assert_msg(uni > 3.0 && bpb < uni - 0.5, "val %g bits per byte vs unigram %g", bpb, uni);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "context")), 32);
    ck_assert(num(r, "train_tokens_per_s") > 0);
    json_decref(r);
    g_autofree char *cp = g_build_filename(dir, "config.json", NULL);
    json_t *cfg = mmx_json_read(cp, NULL);
    json_t *data = json_object_get(cfg, "data");
    ck_assert_str_eq(json_string_value(json_object_get(data, "name")), "synthetic-text");
    ck_assert_double_eq_tol(num(data, "unigram_bpb"), uni, 1e-9);
    ck_assert_int_gt(json_integer_value(json_object_get(data, "val_documents")), 0);
    json_t *t = json_object_get(cfg, "train");
    ck_assert_str_eq(json_string_value(json_object_get(t, "task")), "lm");
    ck_assert_double_eq(num(t, "label_smoothing"), 0.0);
    ck_assert_double_eq(num(t, "val_split"), 0.1);
    json_decref(cfg);
    g_autofree char *mp = g_build_filename(dir, "metrics.jsonl", NULL);
    json_t *lines = mmx_jsonl_read(mp, NULL);
    ck_assert_int_eq(json_array_size(lines), 2);
    ck_assert(num(json_array_get(lines, 1), "val_bpb") < num(json_array_get(lines, 0), "val_bpb"));
    ck_assert(num(json_array_get(lines, 1), "tokens_per_s") > 0);
    json_decref(lines);
}
END_TEST

START_TEST(test_lm_same_seed_and_resume_are_exact)
{
    spec_file = "specs/train/lm-mini.json";
    g_autofree char *a = mmx_test_tmpdir(), *b = mmx_test_tmpdir(), *part = mmx_test_tmpdir();
    json_t *want = train(NULL, a, NULL, 0, true);
    json_decref(train(NULL, b, NULL, 0, true));
    assert_same_lm_metrics(a, b);
    /* Stopped in the middle of the second epoch (128 steps each), then resumed. */
    json_t *stopped = train(NULL, part, NULL, 150, false);
    ck_assert_str_eq(json_string_value(json_object_get(stopped, "status")), "interrupted");
    json_decref(stopped);
    json_t *got = train(NULL, part, part, 0, true);
    const char *keys[] = {"val_loss", "val_bpb", "train_loss", "train_acc", "unigram_bpb"};
    for (unsigned k = 0; k < G_N_ELEMENTS(keys); k++) {
        double x = num(want, keys[k]), y = num(got, keys[k]);
        ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "%s: %.17g resumed vs %.17g", keys[k], y, x);
    }
    assert_same_lm_metrics(a, part);
    json_decref(want);
    json_decref(got);
    /* Another seed: other windows, other numbers. */
    g_autofree char *c = mmx_test_tmpdir();
    const char *const ov[] = {"/train/seed=1", NULL};
    json_t *r1 = train(ov, c, NULL, 0, true);
    g_autofree char *ra = g_build_filename(a, "result.json", NULL);
    json_t *r0 = mmx_json_read(ra, NULL);
    ck_assert(num(r0, "train_loss") != num(r1, "train_loss"));
    json_decref(r0);
    json_decref(r1);
}
END_TEST

/* The shipped language models, end to end: changing the input byte at position t changes
 * no logit at a position < t (the whole graph is causal), and some logit at t. */
START_TEST(test_lm_zoo_specs_are_causal)
{
    const char *specs[] = {"specs/models/lm/masked-mixer.json", "specs/models/lm/transformer.json",
                           "specs/models/lm/hybrid.json", "specs/models/lm/gmlp.json",
                           "specs/models/lm/masked-mixer-expanded.json"};
    /* The hybrid counts its blocks in attention + masked-mixing pairs. */
    const char *depth[] = {"/vars/depth=2", "/vars/depth=2", "/vars/pairs=1", "/vars/depth=2",
                           "/vars/depth=2"};
    for (size_t i = 0; i < G_N_ELEMENTS(specs); i++) {
        const char *const small[] = {"/vars/dim=16", "/vars/context=12", depth[i], NULL};
        g_autoptr(mmx_registry) reg = mmx_test_registry();
        g_autofree char *path = mmx_test_source_path(specs[i]);
        g_autoptr(GError) error = NULL;
        g_autoptr(mmx_spec) spec = mmx_spec_load(reg, path, small, &error);
        ck_assert_msg(spec != NULL, "%s", error ? error->message : "");
        g_autoptr(mmx_graph) g = mmx_graph_new(spec, &error);
        ck_assert_msg(g != NULL, "%s", error ? error->message : "");
        g_autoptr(mmx_model) model = mmx_model_new(g, 3, &error);
        ck_assert_ptr_nonnull(model);
        g_autoptr(mmx_exec) ex = mmx_exec_new(model, 1, false, &error);
        ck_assert_ptr_nonnull(ex);
        const int N = 12, V = 256;
        /* The input is written before every forward: the executor may reuse its memory. */
        float *in = mmx_exec_input(ex);
        for (int t = 0; t < N; t++)
            in[t] = (float)("causal bytes"[t]);
        ck_assert(mmx_exec_forward(ex, 1, 0, &error));
        g_autofree float *base = g_memdup2(mmx_exec_output(ex), (gsize)N * V * sizeof(float));
        for (int t = 1; t < N; t++) {
            for (int u = 0; u < N; u++)
                in[u] = (float)("causal bytes"[u]);
            in[t] = (float)'#';
            ck_assert(mmx_exec_forward(ex, 1, 0, &error));
            const float *out = mmx_exec_output(ex);
            for (int e = 0; e < t * V; e++)
                ck_assert_msg(out[e] == base[e], "%s: byte %d changed the logit of position %d",
                              specs[i], t, e / V);
            bool changed = false;
            for (int e = t * V; e < (t + 1) * V; e++)
                changed = changed || out[e] != base[e];
            ck_assert_msg(changed, "%s: byte %d changed nothing at its own position", specs[i], t);
        }
    }
}
END_TEST

static char *
lm_setup_error(const char *const *overrides)
{
    setup s;
    setup_load(&s, overrides);
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_train_run(s.spec, s.graph, &s.cfg, NULL, NULL, &error));
    setup_free(&s);
    return g_strdup(error->message);
}

START_TEST(test_lm_refusals)
{
    spec_file = "specs/train/lm-mini.json";
    const char *const ctx[] = {"/train/context=16", NULL};
    g_autofree char *e1 = lm_setup_error(ctx);
    ck_assert_contains(e1, "lm-mini.json: a language model (task lm) reads 16 byte tokens: its "
                           "input must be {\"shape\": [16, 1, 1], \"classes\": 256}, not [32, "
                           "1] with 256 classes");
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *text = g_build_filename(dir, "small.txt", NULL);
    ck_assert(g_file_set_contents(text, "first paragraph\n\nsecond\n\nthird\n", -1, NULL));
    g_autofree char *set = g_strdup_printf("/train/data=\"%s\"", text);
    const char *const small[] = {set, NULL};
    g_autofree char *e2 = lm_setup_error(small);
    ck_assert_contains(e2, "small.txt: the training split has 23 bytes (2 documents), fewer than "
                           "one context and its target (33 bytes)");
    const char *const big[] = {"/train/windows=8", NULL};
    g_autofree char *e3 = lm_setup_error(big);
    ck_assert_contains(e3, "batch 16 is larger than an epoch (8 windows)");
    /* A head that gives one vector, as a classifier's, is refused by the graph. */
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autofree char *path = mmx_test_data_path("specs/train/lm-mini.json");
    const char *const head[] = {"/head/1/out=10", NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_spec) spec = mmx_spec_load(reg, path, head, &error);
    ck_assert_msg(spec != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_graph) g = mmx_graph_new(spec, &error);
    ck_assert_ptr_null(g);
    ck_assert_contains(error->message, "a language model's head ends in the logits of every "
                                       "position, [32, 256]");
    ck_assert_contains(error->message, "gives [32, 10]");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_synthetic_learns_and_writes_files);
    tcase_add_test(tc, test_fashion_mnist_subset_learns);
    tcase_add_test(tc, test_same_seed_same_numbers);
    tcase_add_test(tc, test_resume_is_exact);
    tcase_add_test(tc, test_pause_after_and_resume);
    tcase_add_test(tc, test_resume_refuses_other_settings);
    tcase_add_test(tc, test_checkpoint_every);
    tcase_add_test(tc, test_divergence_stops_cleanly);
    tcase_add_test(tc, test_interrupt_without_checkpoint_fails);
    tcase_add_test(tc, test_cli_train_eval_bench);
    tcase_add_test(tc, test_lm_learns_and_reports_bits_per_byte);
    tcase_add_test(tc, test_lm_same_seed_and_resume_are_exact);
    tcase_add_test(tc, test_lm_refusals);
    tcase_add_test(tc, test_lm_zoo_specs_are_causal);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
