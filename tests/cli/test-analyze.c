/* test-analyze.c: `mmx analyze` on a checkpoint, a run folder and a sweep folder of a real
 * short run (the tables, --json, --svg), and every input it refuses, each with exit
 * status 2 and a message naming the file. */
#include <string.h>

#include "test-util.h"

/* A two-epoch run of the mini spec with a snapshot after each epoch, into dir. */
static void
train_mini(const char *dir)
{
    g_autofree char *spec = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *err = NULL;
    int st = mmx_test_run_mmx((const char *[]){"train", spec, "--out", dir, "--quiet", "--set",
                                               "/train/checkpoint_every=1", NULL},
                              NULL, &err);
    ck_assert_msg(st == 0, "train: %s", err);
}

START_TEST(test_checkpoint_run_and_sweep)
{
    g_autofree char *sweep = mmx_test_tmpdir();
    g_autofree char *dir = g_build_filename(sweep, "trials", "a", NULL);
    train_mini(dir);
    g_autofree char *spec = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *final = g_build_filename(dir, "final.safetensors", NULL);
    g_autofree char *out = NULL, *err = NULL;
    /* One checkpoint: the tables. mini has one matrix mixer (the channel FFN). */
    g_clear_pointer(&err, g_free);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"analyze", spec, "--weights", final, NULL}, &out, &err), 0);
    ck_assert_contains(out, "mixer                    axis     tied  cos(V,K^T)       sym      anti");
    ck_assert_contains(out, "blocks.1.mixer           channel  no ");
    ck_assert_contains(out, "blocks.1.mixer.key             32x16 ");
    ck_assert_contains(out, "unreliable (tail < 50)");
    g_free(out);
    /* --json: the library's document. */
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"analyze", spec, "--weights", final, "--json", NULL}, &out, NULL), 0);
    json_t *doc = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "spec_name")), "mini");
    ck_assert_int_eq(json_array_size(json_object_get(doc, "symmetry")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "spectra")), 2);
    json_decref(doc);
    g_free(out);
    /* The run folder: a series over the initialization and both epochs, and the plots. */
    g_autofree char *plots = g_build_filename(sweep, "plots", NULL);
    g_clear_pointer(&err, g_free);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"analyze", dir, "--svg", plots, NULL}, &out, &err), 0);
    ck_assert_contains(out, "(mini): 3 checkpoints");
    ck_assert_contains(out, "epoch 0         epoch 1        epoch 2*");
    ck_assert_contains(out, "plots:\n");
    ck_assert_contains(out, "symmetry.svg");
    g_autofree char *sp = g_build_filename(plots, "spectra.svg", NULL);
    g_autofree char *svg = NULL;
    ck_assert(g_file_get_contents(sp, &svg, NULL, NULL));
    ck_assert_contains(svg, "blocks.1.mixer.value");
    g_free(out);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"analyze", dir, "--json", NULL}, &out, NULL), 0);
    doc = json_loads(out, 0, NULL);
    json_t *series = json_array_get(json_object_get(doc, "series"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(series, "cosine")), 3);
    json_decref(doc);
    g_free(out);
    /* A sweep folder: each planned trial. */
    g_autofree char *manifest = g_build_filename(sweep, "sweep.json", NULL);
    ck_assert(g_file_set_contents(manifest,
                                  "{\"trials\": [{\"id\": \"a\", \"variant\": \"baseline\", "
                                  "\"seed\": 0, \"state\": \"run\"}]}",
                                  -1, NULL));
    g_clear_pointer(&err, g_free);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"analyze", sweep, NULL}, &out, &err), 0);
    ck_assert_contains(out, "1 trials analyzed, 0 skipped");
    ck_assert_contains(out, "== trial a (variant baseline, seed 0)");
}
END_TEST

/* Each refusal: exit 2, "mmx analyze: " and the message naming the file. */
static void
refused(const char *const *args, const char *message)
{
    g_autofree char *err = NULL;
    int st = mmx_test_run_mmx(args, NULL, &err);
    ck_assert_msg(st == 2, "exit %d for %s: %s", st, message, err);
    ck_assert_contains(err, message);
}

START_TEST(test_refusals)
{
    g_autofree char *dir = mmx_test_tmpdir();
    train_mini(dir);
    g_autofree char *spec = mmx_test_data_path("specs/train/mini.json");
    g_autofree char *other = mmx_test_data_path("specs/mlp-mixer.json");
    g_autofree char *final = g_build_filename(dir, "final.safetensors", NULL);
    g_autofree char *missing = g_build_filename(dir, "nothing.safetensors", NULL);
    g_autofree char *junk = g_build_filename(dir, "config.json", NULL);
    g_autofree char *empty = mmx_test_tmpdir();
    g_autofree char *nospec = mmx_test_tmpdir();
    g_autofree char *nospec_cfg = g_build_filename(nospec, "config.json", NULL);
    ck_assert(g_file_set_contents(nospec_cfg, "{\"seed\": 0}", -1, NULL));
    g_autofree char *noweights = mmx_test_tmpdir();
    g_autofree char *cfg_text = NULL;
    ck_assert(g_file_get_contents(junk, &cfg_text, NULL, NULL));
    g_autofree char *noweights_cfg = g_build_filename(noweights, "config.json", NULL);
    ck_assert(g_file_set_contents(noweights_cfg, cfg_text, -1, NULL));

    refused((const char *[]){"analyze", NULL}, "mmx analyze: expected SPEC --weights FILE, a run folder or a sweep folder");
    g_autofree char *m1 = g_strdup_printf("mmx analyze: %s/nope: no such file or folder", dir);
    g_autofree char *nope = g_build_filename(dir, "nope", NULL);
    refused((const char *[]){"analyze", nope, NULL}, m1);
    g_autofree char *m2 = g_strdup_printf("%s is a file: expected SPEC --weights FILE", spec);
    refused((const char *[]){"analyze", spec, NULL}, m2);
    g_autofree char *m3 = g_strdup_printf("%s is a folder: --weights and --set go with a SPEC file", dir);
    refused((const char *[]){"analyze", dir, "--weights", final, NULL}, m3);
    g_autofree char *m4 = g_strdup_printf("mmx analyze: %s: no such file", missing);
    refused((const char *[]){"analyze", spec, "--weights", missing, NULL}, m4);
    g_autofree char *m5 = g_strdup_printf("%s does not fit this model (it was saved from spec 'mini')", final);
    refused((const char *[]){"analyze", other, "--weights", final, NULL}, m5);
    g_autofree char *m6 = g_strdup_printf("%s", junk);
    refused((const char *[]){"analyze", spec, "--weights", junk, NULL}, m6);
    g_autofree char *m7 = g_strdup_printf("%s is not a run folder: %s/config.json is missing", empty, empty);
    refused((const char *[]){"analyze", empty, NULL}, m7);
    g_autofree char *m8 = g_strdup_printf("%s has no \"spec\" object", nospec_cfg);
    refused((const char *[]){"analyze", nospec, NULL}, m8);
    g_autofree char *m9 = g_strdup_printf("%s holds no weights to analyze: no final.safetensors and "
                                          "no epoch-<e>.safetensors (train with --set "
                                          "/train/checkpoint_every=1",
                                          noweights);
    refused((const char *[]){"analyze", noweights, NULL}, m9);
    /* A run folder whose snapshot is not a safetensors file. */
    g_autofree char *foreign = g_build_filename(noweights, "epoch-1.safetensors", NULL);
    ck_assert(g_file_set_contents(foreign, "garbage", -1, NULL));
    g_autofree char *m10 = g_strdup_printf("%s", foreign);
    refused((const char *[]){"analyze", noweights, NULL}, m10);
    /* A sweep whose trials have no weights. */
    g_autofree char *sweep = mmx_test_tmpdir();
    g_autofree char *manifest = g_build_filename(sweep, "sweep.json", NULL);
    ck_assert(g_file_set_contents(manifest, "{\"trials\": [{\"id\": \"x\", \"state\": \"run\"}]}", -1, NULL));
    g_autofree char *m11 = g_strdup_printf("%s: no trial has weights to analyze; the first: %s/trials/x is not a run folder", sweep, sweep);
    refused((const char *[]){"analyze", sweep, NULL}, m11);
    g_autofree char *bad_manifest = g_build_filename(empty, "sweep.json", NULL);
    ck_assert(g_file_set_contents(bad_manifest, "{\"trials\": 3}", -1, NULL));
    g_autofree char *m12 = g_strdup_printf("%s has no \"trials\" list", bad_manifest);
    refused((const char *[]){"analyze", empty, NULL}, m12);
}
END_TEST

/* --data: the energy table of a trained tied model; the refusals of its options. */
START_TEST(test_energy)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *spec = mmx_test_data_path("specs/hopfield-energy.json");
    g_autofree char *out = NULL, *err = NULL;
    g_clear_pointer(&err, g_free);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", spec, "--data", "synthetic:256:64", "--epochs", "1", "--batch", "32", "--out", dir, "--quiet", NULL}, NULL, &err), 0);
    g_autofree char *final = g_build_filename(dir, "final.safetensors", NULL);
    g_clear_pointer(&err, g_free);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"analyze", spec, "--weights", final, "--data", "synthetic:256:64", "--inputs", "20", NULL}, &out, &err), 0);
    ck_assert_contains(out, "on 20 images of synthetic:");
    ck_assert_contains(out, "block            E entering      E leaving    lowered for  mixers");
    ck_assert_contains(out, "blocks.1 ");
    g_free(out);
    /* A run folder: the energy of its last weights, in the JSON too. */
    g_clear_pointer(&err, g_free);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"analyze", dir, "--data", "synthetic:256:64", "--inputs", "20", "--json", NULL}, &out, &err), 0);
    json_t *doc = json_loads(out, 0, NULL);
    json_t *e = json_object_get(doc, "energy");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "inputs")), 20);
    ck_assert_str_eq(json_string_value(json_object_get(e, "weights")), final);
    ck_assert_int_eq(json_array_size(json_object_get(e, "blocks")), 2);
    json_decref(doc);
    /* Refusals. */
    refused((const char *[]){"analyze", spec, "--weights", final, "--data", "synthetic", "--inputs", "0", NULL}, "mmx analyze: --inputs must be positive, got 0");
    refused((const char *[]){"analyze", spec, "--weights", final, "--data", "/no/such/data", NULL}, "/no/such/data");
    g_autofree char *mini = g_build_filename(dir, "mini", NULL);
    g_autofree char *mini_spec = mmx_test_data_path("specs/train/mini.json");
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", mini_spec, "--out", mini, "--quiet", NULL}, NULL, NULL), 0);
    /* An untied model: the memory view, and the reason there is no energy. */
    g_free(out);
    g_clear_pointer(&err, g_free);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"analyze", mini, "--data", "synthetic:256:64", "--inputs", "10", "--svg", dir, NULL}, &out, &err), 0);
    ck_assert_contains(out, "Hopfield energy: not computed: blocks.1.mixer: the energy is defined for tied weights (a value tied to its key's weight); this mixer's are independent");
    ck_assert_contains(out, "Key-value memory: the keys of the mixers on the token grid, on 10 images of synthetic:");
    ck_assert_contains(out, "blocks.1.mixer               32 ");
    ck_assert_contains(out, "memory-blocks.1.mixer.svg");
    /* Images of another shape than the model's: neither applies. */
    mmx_test_model tie = {0};
    mmx_test_model_load(&tie, "specs/hopfield-tie.json");
    g_autoptr(mmx_model) tm = mmx_model_new(tie.graph, 0, NULL);
    g_autofree char *tie_w = g_build_filename(dir, "tie.safetensors", NULL);
    ck_assert(mmx_model_save(tm, tie_w, NULL, NULL, NULL));
    g_autofree char *tie_spec = mmx_test_data_path("specs/hopfield-tie.json");
    g_autofree char *m_shape = g_strdup_printf("mmx analyze: --data: %s: the model reads 8x8x1 images; those of synthetic are 28x28x1", tie_w);
    refused((const char *[]){"analyze", tie_spec, "--weights", tie_w, "--data", "synthetic", NULL}, m_shape);
    mmx_test_model_clear(&tie);
    g_autofree char *sweep = mmx_test_tmpdir();
    g_autofree char *trial = g_build_filename(sweep, "trials", "a", NULL);
    g_autofree char *manifest = g_build_filename(sweep, "sweep.json", NULL);
    ck_assert(g_file_set_contents(manifest, "{\"trials\": [{\"id\": \"a\", \"state\": \"run\"}]}", -1, NULL));
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", mini_spec, "--out", trial, "--quiet", NULL}, NULL, NULL), 0);
    refused((const char *[]){"analyze", sweep, "--data", "synthetic", NULL}, "mmx analyze: --data: the energy is computed for a checkpoint or a run folder's last weights, not for a sweep folder");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("cli-analyze");
    TCase *tc = tcase_create("analyze");
    tcase_add_test(tc, test_checkpoint_run_and_sweep);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_energy);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
