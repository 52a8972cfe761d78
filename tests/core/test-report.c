/* test-report.c: the report's statistics against values computed by hand from the fixture
 * sweep folder tests/data/sweeps/report-fixture (three variants x three seeds, one failed
 * trial, one variant over a constraint, a torn last record), its tables, and its SVG
 * plots: well-formed XML, and rendered to a non-empty PNG by rsvg-convert when present. */
#include <math.h>
#include <string.h>

#include "test-util.h"

/*
 * The fixture, test accuracy (loss, img/s) per seed 0, 1, 2:
 *   baseline  0.80 (0.50, 1000)  0.82 (0.45, 1100)  0.84 (0.40, 1200)
 *   gelu      0.83 (0.42,  900)  0.86 (0.38,  950)  0.85 (0.40, 1000)
 *   conv      0.70 (0.80, 2000)  failed             0.74 (0.70, 2200)
 *   big       skipped: params 3,000,000 over max_params 2,000,000
 * By hand:
 *   baseline mean 0.82, sd 0.02; loss 0.45, sd 0.05; img/s 1100
 *   gelu mean 0.846667, sd sqrt(((-1/60)^2 + (1/75)^2 + (1/300)^2) / 2) = 0.0152753
 *   gelu - baseline by seed: 0.03, 0.04, 0.01: mean 0.0266667, sd 0.0152753,
 *     t(0.975, 2) = 4.3027, half width 4.3027 * 0.0152753 / sqrt(3) = 0.0379463,
 *     CI [-0.0112796, 0.0646130]
 *   conv mean 0.72, sd 0.0282843; deltas -0.10, -0.10 (seeds 0 and 2): mean -0.10, CI
 *     [-0.10, -0.10]; 1 failed
 */

static mmx_report *
fixture(void)
{
    g_autofree char *dir = mmx_test_data_path("sweeps/report-fixture");
    g_autoptr(GError) error = NULL;
    mmx_report *r = mmx_report_new(dir, &error);
    ck_assert_msg(r != NULL, "%s", error ? error->message : "");
    return r;
}

static json_t *
variant(json_t *j, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "variants"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "variant")), name) == 0)
            return v;
    }
    ck_abort_msg("no variant %s", name);
    return NULL;
}

static double
num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

START_TEST(test_student_t)
{
    ck_assert_double_eq_tol(mmx_student_t975(1), 12.7062, 1e-4);
    ck_assert_double_eq_tol(mmx_student_t975(2), 4.3027, 1e-4);
    ck_assert_double_eq_tol(mmx_student_t975(9), 2.2622, 1e-4);
    ck_assert_double_eq_tol(mmx_student_t975(30), 2.0423, 1e-4);
    /* Past the table: the expansion, against tabulated values. */
    ck_assert_double_eq_tol(mmx_student_t975(40), 2.0211, 2e-4);
    ck_assert_double_eq_tol(mmx_student_t975(60), 2.0003, 2e-4);
    ck_assert_double_eq_tol(mmx_student_t975(120), 1.9799, 2e-4);
    ck_assert(isnan(mmx_student_t975(0)));
}
END_TEST

START_TEST(test_statistics_by_hand)
{
    g_autoptr(mmx_report) r = fixture();
    g_autoptr(json_t) j = mmx_report_to_json(r);
    /* Sorted by mean accuracy: gelu, baseline, conv; big has no result. */
    json_t *vs = json_object_get(j, "variants");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 0), "variant")), "gelu");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 1), "variant")),
                     "baseline");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 2), "variant")), "conv");

    json_t *b = variant(j, "baseline");
    ck_assert(json_is_true(json_object_get(b, "baseline")));
    ck_assert_double_eq_tol(num(b, "acc_mean"), 0.82, 1e-9);
    ck_assert_double_eq_tol(num(b, "acc_std"), 0.02, 1e-9);
    ck_assert_double_eq_tol(num(b, "loss_mean"), 0.45, 1e-9);
    ck_assert_double_eq_tol(num(b, "loss_std"), 0.05, 1e-9);
    ck_assert_double_eq_tol(num(b, "img_per_s"), 1100, 1e-9);
    ck_assert_ptr_null(json_object_get(b, "delta"));

    json_t *g = variant(j, "gelu");
    ck_assert_double_eq_tol(num(g, "acc_mean"), 0.8466667, 1e-6);
    ck_assert_double_eq_tol(num(g, "acc_std"), 0.0152753, 1e-6);
    json_t *d = json_object_get(g, "delta");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "pairs")), 3);
    ck_assert_double_eq_tol(num(d, "mean"), 0.0266667, 1e-6);
    ck_assert_double_eq_tol(num(d, "ci_low"), -0.0112796, 1e-6);
    ck_assert_double_eq_tol(num(d, "ci_high"), 0.0646130, 1e-6);
    ck_assert_int_eq(json_integer_value(json_object_get(g, "params")), 1200);
    ck_assert_double_eq_tol(num(g, "flops"), 3e6, 1e-3);

    json_t *c = variant(j, "conv");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "finished")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "planned")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "failed")), 1);
    ck_assert_double_eq_tol(num(c, "acc_mean"), 0.72, 1e-9);
    ck_assert_double_eq_tol(num(c, "acc_std"), 0.0282843, 1e-6);
    d = json_object_get(c, "delta");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "pairs")), 2);
    ck_assert_double_eq_tol(num(d, "mean"), -0.10, 1e-9);
    ck_assert_double_eq_tol(num(d, "ci_low"), -0.10, 1e-9);

    json_t *big = variant(j, "big");
    ck_assert_str_eq(json_string_value(json_object_get(big, "not_run")),
                     "skipped: params 3,000,000 over max_params 2,000,000");
    ck_assert_int_eq(json_array_size(json_object_get(j, "failures")), 1);
}
END_TEST

START_TEST(test_tables)
{
    g_autoptr(mmx_report) r = fixture();
    g_autofree char *md = mmx_report_markdown(r, "plots");
    ck_assert_contains(md, "# Sweep report: fixture\n");
    ck_assert_contains(md, "| gelu | 3/3 | 84.67 ± 1.53 | 0.4000 ± 0.0200 | +2.67 [-1.13, +6.46] "
                           "| 1.2k | 3.00M | 950 | 0 |\n");
    ck_assert_contains(md, "| **baseline** | 3/3 | 82.00 ± 2.00 | 0.4500 ± 0.0500 | baseline | "
                           "1.0k | 2.00M | 1100 | 0 |\n");
    ck_assert_contains(md, "| conv | 2/3 | 72.00 ± 2.83 | 0.7500 ± 0.0707 | -10.00 [-10.00, "
                           "-10.00] | 800 | 1.00M | 2100 | 1 |\n");
    ck_assert_contains(md, "Student's t");
    ck_assert_contains(md, "## Not run\n\n- big: skipped: params 3,000,000 over max_params "
                           "2,000,000\n");
    ck_assert_contains(md, "- conv, seed 1: crashed: killed by SIGSEGV (signal 11)\n");
    ck_assert_contains(md, "![Learning curves](plots/curves.svg)");
    /* gelu is above the baseline, which is above conv. */
    ck_assert(strstr(md, "| gelu |") < strstr(md, "| **baseline** |"));
    ck_assert(strstr(md, "| **baseline** |") < strstr(md, "| conv |"));

    g_autofree char *csv = mmx_report_csv(r);
    ck_assert_contains(csv, "variant,config,baseline,finished,planned,failed,acc_mean,");
    ck_assert_contains(csv, "\ngelu,c0000000000000a1,0,3,3,0,0.846667,0.0152753,0.4,0.02,"
                            "0.0266667,-0.0112796,0.0646129,3,1200,3e+06,950\n");
    ck_assert_contains(csv, "\nbaseline,c0000000000000b1,1,3,3,0,0.82,0.02,0.45,0.05,,,,0,1000,"
                            "2e+06,1100\n");
}
END_TEST

/* Well-formed XML: GMarkup is a strict XML parser for what SVG uses. */
static void
check_well_formed(const char *path)
{
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    ck_assert_contains(text, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
    /* GMarkup does not take the XML declaration: parse from the root element. */
    const char *root = strstr(text, "<svg");
    GMarkupParser parser = {0};
    g_autoptr(GMarkupParseContext) ctx = g_markup_parse_context_new(&parser, 0, NULL, NULL);
    g_autoptr(GError) error = NULL;
    gboolean ok = g_markup_parse_context_parse(ctx, root, -1, &error) &&
                  g_markup_parse_context_end_parse(ctx, &error);
    ck_assert_msg(ok, "%s is not well-formed: %s", path, error ? error->message : "");
}

static void
check_renders(const char *path)
{
    g_autofree char *rsvg = g_find_program_in_path("rsvg-convert");
    if (rsvg == NULL) {
        printf("# skip rendering %s: rsvg-convert is not installed (librsvg2-bin)\n", path);
        return;
    }
    g_autofree char *png = g_strconcat(path, ".png", NULL);
    const char *argv[] = {rsvg, "-o", png, path, NULL};
    int status = -1;
    g_autofree char *err = NULL;
    ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                           &err, &status, NULL));
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "rsvg-convert %s: %s", path, err);
    g_autofree char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(png, &data, &len, NULL));
    ck_assert_int_gt(len, 2000);
    ck_assert(memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0);
}

START_TEST(test_svg_plots)
{
    g_autoptr(mmx_report) r = fixture();
    g_autofree char *dir = mmx_test_tmpdir();
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) files = NULL;
    ck_assert(mmx_report_write_svg(r, dir, &files, &error));
    ck_assert_int_eq(files->len, 4);
    for (guint i = 0; i < files->len; i++) {
        check_well_formed(g_ptr_array_index(files, i));
        check_renders(g_ptr_array_index(files, i));
    }
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(g_ptr_array_index(files, 0), &text, NULL, NULL));
    ck_assert_contains(text, "<polygon"); /* the band over seeds */
    ck_assert_contains(text, ">baseline</text>");
    g_free(g_steal_pointer(&text));
    ck_assert(g_file_get_contents(g_ptr_array_index(files, 1), &text, NULL, NULL));
    ck_assert_contains(text, "stroke-dasharray=\"6,4\""); /* the Pareto front */
    ck_assert_contains(text, "FLOPs per image");
    g_free(g_steal_pointer(&text));
    ck_assert(g_file_get_contents(g_ptr_array_index(files, 3), &text, NULL, NULL));
    ck_assert_contains(text, "gelu (n=3)");
    ck_assert_contains(text, "conv (n=2)");
}
END_TEST

START_TEST(test_svg_without_results)
{
    /* A sweep with nothing finished still gives valid plots that say so. */
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *m = g_build_filename(dir, "sweep.json", NULL);
    ck_assert(g_file_set_contents(m,
                                  "{\"name\": \"empty\", \"trials\": [{\"index\": 0, \"id\": "
                                  "\"a\", \"config\": \"c\", \"variant\": \"x & <y>\", \"seed\": "
                                  "0, \"state\": \"run\", \"baseline\": true}]}",
                                  -1, NULL));
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_report) r = mmx_report_new(dir, &error);
    ck_assert_ptr_nonnull(r);
    g_autoptr(GPtrArray) files = NULL;
    ck_assert(mmx_report_write_svg(r, dir, &files, &error));
    for (guint i = 0; i < files->len; i++)
        check_well_formed(g_ptr_array_index(files, i));
    g_autofree char *md = mmx_report_markdown(r, NULL);
    ck_assert_contains(md, "| **x & <y>** | 0/1 | - | - | baseline |");
}
END_TEST

/* A copy of the report fixture in tmp (the report writes its files into the folder). */
static char *
copy_fixture(const char *tmp)
{
    g_autofree char *dir = mmx_test_data_path("sweeps/report-fixture");
    char *copy = g_build_filename(tmp, "fixture", NULL);
    const char *cp[] = {"cp", "-r", dir, copy, NULL};
    int status;
    ck_assert(g_spawn_sync(NULL, (char **)cp, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                           &status, NULL));
    return copy;
}

START_TEST(test_cli)
{
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *copy = copy_fixture(tmp);
    g_autofree char *out = NULL, *err = NULL;
    const char *all[] = {"report", copy, "--format", "all", NULL};
    ck_assert_int_eq(mmx_test_run_mmx(all, &out, &err), 0);
    ck_assert_contains(out, "| gelu | 3/3 |");
    ck_assert_contains(out, "plots/forest.svg");
    const char *files[] = {"report.md",
                           "report.csv",
                           "plots/curves.svg",
                           "plots/acc-vs-flops.svg",
                           "plots/acc-vs-params.svg",
                           "plots/forest.svg"};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *p = g_build_filename(copy, files[i], NULL);
        ck_assert_msg(g_file_test(p, G_FILE_TEST_EXISTS), "%s missing", files[i]);
    }
    g_free(out);
    g_free(err);
    const char *csv[] = {"report", copy, "--format", "csv", NULL};
    ck_assert_int_eq(mmx_test_run_mmx(csv, &out, &err), 0);
    ck_assert(g_str_has_prefix(out, "variant,config,baseline,"));
    g_free(out);
    g_free(err);
    const char *json[] = {"report", copy, "--json", NULL};
    ck_assert_int_eq(mmx_test_run_mmx(json, &out, &err), 0);
    g_autoptr(json_t) j = json_loads(out, 0, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(j, "variants")), 4);
    g_free(out);
    g_free(err);
    const char *bad[] = {"report", copy, "--format", "pdf", NULL};
    ck_assert_int_eq(mmx_test_run_mmx(bad, &out, &err), 2);
    ck_assert_contains(err, "--format: expected md, csv, svg or all, got 'pdf'");
    g_free(out);
    g_free(err);
    const char *none[] = {"report", tmp, NULL};
    ck_assert_int_eq(mmx_test_run_mmx(none, &out, &err), 2);
    ck_assert_contains(err, "holds no sweep: ");
    ck_assert_contains(err, "sweep.json is missing (make one with mmx sweep)");
}
END_TEST

/* Trials that kept their weights: the report adds the symmetry over training by variant. */
START_TEST(test_cli_symmetry)
{
    g_autofree char *tmp = mmx_test_tmpdir();
    g_autofree char *copy = copy_fixture(tmp);
    g_autofree char *out = NULL, *err = NULL;
    const char *md[] = {"report", copy, NULL};
    ck_assert_int_eq(mmx_test_run_mmx(md, &out, &err), 0);
    ck_assert(strstr(out, "Symmetry over training") == NULL); /* no trial has weights */
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    /* A real two-epoch run's folder stands in for both of gelu's first two trials. */
    g_autofree char *run = g_build_filename(tmp, "run", NULL);
    g_autofree char *spec = mmx_test_data_path("specs/train/mini.json");
    const char *train[] = {"train", spec, "--out", run, "--quiet", "--set", "/train/checkpoint_every=1", NULL};
    ck_assert_int_eq(mmx_test_run_mmx(train, NULL, &err), 0);
    g_clear_pointer(&err, g_free);
    const char *names[] = {"config.json", "epoch-1.safetensors", "epoch-2.safetensors", "final.safetensors"};
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
            g_autofree char *from = g_build_filename(run, names[i], NULL);
            g_autofree char *trial = g_strdup_printf("ea1000000000000%d", t);
            g_autofree char *to = g_build_filename(copy, "trials", trial, names[i], NULL);
            g_autofree char *bytes = NULL;
            gsize len;
            ck_assert(g_file_get_contents(from, &bytes, &len, NULL));
            ck_assert(g_file_set_contents(to, bytes, (gssize)len, NULL));
        }
    const char *all[] = {"report", copy, "--format", "all", NULL};
    ck_assert_int_eq(mmx_test_run_mmx(all, &out, &err), 0);
    ck_assert_contains(out, "## Symmetry over training");
    ck_assert_contains(out, "| variant | trials | epoch 0 | epoch 1 | epoch 2 |");
    ck_assert_contains(out, "| gelu | 2 |");
    ck_assert_contains(out, "Not analyzed:\n\n- trial eb10000000000000: ");
    ck_assert_contains(out, "![symmetry over training](plots/symmetry.svg)");
    g_autofree char *svg = g_build_filename(copy, "plots", "symmetry.svg", NULL);
    ck_assert(g_file_test(svg, G_FILE_TEST_EXISTS));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    const char *json[] = {"report", copy, "--json", NULL};
    ck_assert_int_eq(mmx_test_run_mmx(json, &out, &err), 0);
    g_autoptr(json_t) j = json_loads(out, 0, NULL);
    json_t *gelu = json_array_get(json_object_get(j, "symmetry"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(gelu, "variant")), "gelu");
    ck_assert_int_eq(json_array_size(json_object_get(gelu, "mean_cosine")), 3);
}
END_TEST

/* A copy of the fixture as a language-model sweep: every test_acc a becomes val_bpb
 * 2 (1 - a) (lower is better) and test_loss val_loss, in results.jsonl and in the curves.
 * A line that is not a JSON object (the torn last record) is kept as it is. */
static void
bpb_lines(const char *from, const char *to)
{
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(from, &text, NULL, NULL));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GString *out = g_string_new(NULL);
    for (char **l = lines; *l; l++) {
        json_t *o = json_loads(*l, 0, NULL);
        json_t *res = o ? json_object_get(o, "result") : NULL;
        json_t *at = res ? res : o;
        json_t *acc = at ? json_object_get(at, "test_acc") : NULL;
        if (acc) {
            json_object_set_new(at, "val_bpb", json_real(2 * (1 - json_number_value(acc))));
            json_object_set(at, "val_loss", json_object_get(at, "test_loss"));
            json_object_del(at, "test_acc");
            json_object_del(at, "test_loss");
            char *d = json_dumps(o, JSON_COMPACT);
            g_string_append_printf(out, "%s%s", d, l[1] ? "\n" : "");
            free(d);
        } else
            g_string_append_printf(out, "%s%s", *l, l[1] ? "\n" : "");
        json_decref(o);
    }
    ck_assert(g_file_set_contents(to, out->str, (gssize)out->len, NULL));
    g_string_free(out, TRUE);
}

/* For language models the metric is validation bits per byte, lower first:
 *   baseline 0.40 0.36 0.32 (mean 0.36), gelu 0.34 0.28 0.30 (0.306667), conv 0.60 0.52;
 *   gelu - baseline by seed: -0.06, -0.08, -0.02: mean -0.0533333. */
START_TEST(test_language_model_sweep)
{
    g_autofree char *src = mmx_test_data_path("sweeps/report-fixture");
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *sweep_from = g_build_filename(src, "sweep.json", NULL);
    g_autofree char *sweep_to = g_build_filename(dir, "sweep.json", NULL);
    g_autofree char *sweep_text = NULL;
    ck_assert(g_file_get_contents(sweep_from, &sweep_text, NULL, NULL));
    ck_assert(g_file_set_contents(sweep_to, sweep_text, -1, NULL));
    g_autofree char *res_from = g_build_filename(src, "results.jsonl", NULL);
    g_autofree char *res_to = g_build_filename(dir, "results.jsonl", NULL);
    bpb_lines(res_from, res_to);
    g_autofree char *trials = g_build_filename(src, "trials", NULL);
    g_autoptr(GDir) d = g_dir_open(trials, 0, NULL);
    for (const char *id; (id = g_dir_read_name(d)) != NULL;) {
        g_autofree char *from = g_build_filename(trials, id, "metrics.jsonl", NULL);
        g_autofree char *to_dir = g_build_filename(dir, "trials", id, NULL);
        g_autofree char *to = g_build_filename(to_dir, "metrics.jsonl", NULL);
        ck_assert_int_eq(g_mkdir_with_parents(to_dir, 0755), 0);
        if (g_file_test(from, G_FILE_TEST_EXISTS))
            bpb_lines(from, to);
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_report) r = mmx_report_new(dir, &error);
    ck_assert_msg(r != NULL, "%s", error ? error->message : "");
    g_autoptr(json_t) j = mmx_report_to_json(r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "metric")), "val_bpb");
    json_t *vs = json_object_get(j, "variants");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 0), "variant")), "gelu");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 2), "variant")), "conv");
    json_t *gelu = variant(j, "gelu");
    ck_assert_double_eq_tol(num(gelu, "acc_mean"), 0.306667, 1e-6);
    ck_assert_double_eq_tol(num(json_object_get(gelu, "delta"), "mean"), -0.0533333, 1e-6);
    ck_assert_double_eq_tol(num(gelu, "loss_mean"), 0.4, 1e-9);
    g_autofree char *md = mmx_report_markdown(r, "plots");
    ck_assert_contains(md, "| variant | seeds | val bits/byte (mean ± std) | val loss, nats "
                           "(mean ± std) | Δ bits/byte vs baseline [95% CI] | params | "
                           "FLOPs/window | train tokens/s | failed |");
    ck_assert_contains(md, "| gelu | 3/3 | 0.3067 ± 0.0306 |");
    ck_assert_contains(md, "Sorted by mean validation bits per byte, best first (lower is "
                           "better).");
    ck_assert_contains(md, "| -0.0533 [");
    g_autofree char *plots = g_build_filename(dir, "plots", NULL);
    ck_assert(mmx_report_write_svg(r, plots, NULL, &error));
    g_autofree char *curves = g_build_filename(plots, "curves.svg", NULL);
    g_autofree char *svg = NULL;
    ck_assert(g_file_get_contents(curves, &svg, NULL, NULL));
    ck_assert_contains(svg, "validation bits per byte per epoch");
    check_well_formed(curves);
}
END_TEST

static Suite *
report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("statistics");
    tcase_add_test(tc, test_student_t);
    tcase_add_test(tc, test_statistics_by_hand);
    tcase_add_test(tc, test_tables);
    tcase_add_test(tc, test_language_model_sweep);
    suite_add_tcase(s, tc);
    tc = tcase_create("plots");
    tcase_add_test(tc, test_svg_plots);
    tcase_add_test(tc, test_svg_without_results);
    suite_add_tcase(s, tc);
    tc = tcase_create("cli");
    tcase_add_test(tc, test_cli);
    tcase_add_test(tc, test_cli_symmetry);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return mmx_test_run(report_suite());
}
