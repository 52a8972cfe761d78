/* test-analyze.c: each statistic of mmx-analyze.h on matrices whose answer is known, a
 * model's checkpoint (tied and untied mixers, and the zoo's Python symmetry score on the
 * same file), and the checkpoints it refuses with their messages. */
#include <math.h>
#include <string.h>

#include <mmx/mmx-analyze.h>

#include "test-util.h"

/* A standard normal draw (Box-Muller) from a seeded GRand. */
static double
gauss(GRand *r)
{
    double u = g_rand_double_range(r, 1e-300, 1), v = g_rand_double(r);
    return sqrt(-2 * log(u)) * cos(2 * G_PI * v);
}

START_TEST(test_symmetric_matrix)
{
    enum { N = 7 };
    float w[N * N];
    double wd[N * N];
    GRand *r = g_rand_new_with_seed(1);
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= i; j++)
            w[i * N + j] = w[j * N + i] = (float)gauss(r);
    g_rand_free(r);
    for (int i = 0; i < N * N; i++)
        wd[i] = w[i];
    ck_assert_double_eq_tol(mmx_analyze_cosine_transpose(w, w, N, N), 1.0, 1e-12);
    double s, a;
    mmx_analyze_symmetry_split(wd, N, &s, &a);
    ck_assert_double_eq_tol(s, 1.0, 1e-15);
    ck_assert_double_eq_tol(a, 0.0, 1e-15);
}
END_TEST

START_TEST(test_antisymmetric_matrix)
{
    enum { N = 6 };
    float w[N * N];
    double wd[N * N];
    GRand *r = g_rand_new_with_seed(2);
    for (int i = 0; i < N; i++) {
        w[i * N + i] = 0;
        for (int j = 0; j < i; j++) {
            w[i * N + j] = (float)gauss(r);
            w[j * N + i] = -w[i * N + j];
        }
    }
    g_rand_free(r);
    for (int i = 0; i < N * N; i++)
        wd[i] = w[i];
    ck_assert_double_eq_tol(mmx_analyze_cosine_transpose(w, w, N, N), -1.0, 1e-12);
    double s, a;
    mmx_analyze_symmetry_split(wd, N, &s, &a);
    ck_assert_double_eq_tol(s, 0.0, 1e-15);
    ck_assert_double_eq_tol(a, 1.0, 1e-15);
    mmx_analyze_symmetry_split((double[4]){0}, 2, &s, &a);
    ck_assert(s == 0 && a == 0);
}
END_TEST

START_TEST(test_random_matrices_near_zero)
{
    /* Independent K [h, n] and V [n, h]: the cosine is a mean of h*n products of
     * independent unit normals over h*n, standard deviation 1/sqrt(h*n) = 1/160; six
     * standard deviations bound it. */
    enum { H = 128, N = 200 };
    g_autofree float *k = g_new(float, H * N), *v = g_new(float, H * N);
    GRand *r = g_rand_new_with_seed(3);
    for (int i = 0; i < H * N; i++) {
        k[i] = (float)gauss(r);
        v[i] = (float)gauss(r);
    }
    g_rand_free(r);
    double c = mmx_analyze_cosine_transpose(v, k, H, N);
    ck_assert_msg(fabs(c) < 6.0 / 160, "cosine %g", c);
}
END_TEST

START_TEST(test_diagonal_singular_values)
{
    /* A [3, 5] matrix with a diagonal 3, -0.5, 2: singular values 3, 2, 0.5 exactly. */
    float w[15] = {0};
    w[0] = 3, w[6] = -0.5f, w[12] = 2;
    double sv[3];
    g_autoptr(GError) error = NULL;
    ck_assert(mmx_analyze_singular_values(w, 3, 5, sv, &error));
    ck_assert(sv[0] == 3 && sv[1] == 2 && sv[2] == 0.5);
    /* The transpose [5, 3] takes the other Gram matrix: the same values. */
    float t[15] = {0};
    t[0] = 3, t[4] = -0.5f, t[8] = 2;
    ck_assert(mmx_analyze_singular_values(t, 5, 3, sv, &error));
    ck_assert(sv[0] == 3 && sv[1] == 2 && sv[2] == 0.5);
    ck_assert_double_eq_tol(mmx_analyze_stable_rank(sv, 3), (9 + 4 + 0.25) / 9, 1e-15);
    ck_assert(!mmx_analyze_singular_values(w, 0, 5, sv, &error));
    ck_assert_str_eq(error->message,
                     "singular values of a [0, 5] matrix: both dimensions must be positive");
}
END_TEST

START_TEST(test_effective_rank)
{
    /* k equal singular values: effective rank k. */
    double eq[6] = {2, 2, 2, 2, 0, 0};
    ck_assert_double_eq_tol(mmx_analyze_effective_rank(eq, 6), 4.0, 1e-12);
    ck_assert_double_eq_tol(mmx_analyze_stable_rank(eq, 6), 4.0, 1e-12);
    ck_assert(mmx_analyze_effective_rank((double[2]){0, 0}, 2) == 0);
    /* A random rank-3 matrix A B (A [40, 3], B [3, 30]): 3 nonzero singular values, the
     * rest at rounding, so an effective rank in (1, 3]. */
    enum { R = 40, C = 30, K = 3 };
    double a[R * K], b[K * C];
    GRand *r = g_rand_new_with_seed(4);
    for (int i = 0; i < R * K; i++)
        a[i] = gauss(r);
    for (int i = 0; i < K * C; i++)
        b[i] = gauss(r);
    g_rand_free(r);
    float w[R * C];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            double acc = 0;
            for (int h = 0; h < K; h++)
                acc += a[i * K + h] * b[h * C + j];
            w[i * C + j] = (float)acc;
        }
    double sv[C];
    g_autoptr(GError) error = NULL;
    ck_assert(mmx_analyze_singular_values(w, R, C, sv, &error));
    ck_assert(sv[K - 1] > 1);
    ck_assert_msg(sv[K] < 1e-5 * sv[0], "s_%d = %g vs s_0 = %g", K, sv[K], sv[0]);
    double er = mmx_analyze_effective_rank(sv, C);
    ck_assert_msg(er > 1 && er <= K + 1e-3, "effective rank %g", er);
}
END_TEST

START_TEST(test_power_law_recovers_alpha)
{
    /* 5000 draws of a power law with alpha 2.5 above 1 (inverse CDF), below it 2000
     * uniform values in (0, 1) that the fit must cut off by its xmin. */
    enum { TAIL = 5000, BODY = 2000 };
    g_autofree double *x = g_new(double, TAIL + BODY);
    GRand *r = g_rand_new_with_seed(5);
    for (int i = 0; i < TAIL; i++)
        x[i] = pow(1 - g_rand_double(r), -1 / 1.5);
    for (int i = 0; i < BODY; i++)
        x[TAIL + i] = g_rand_double_range(r, 0.01, 0.99);
    g_rand_free(r);
    mmx_power_law fit;
    g_autoptr(GError) error = NULL;
    ck_assert(mmx_analyze_power_law(x, TAIL + BODY, &fit, &error));
    ck_assert_msg(fabs(fit.alpha - 2.5) < 0.1, "alpha %g", fit.alpha);
    ck_assert_msg(fit.xmin >= 0.95 && fit.xmin < 1.5, "xmin %g", fit.xmin);
    ck_assert(fit.ks < 0.05);
    ck_assert(fit.reliable && fit.n_tail > 2000 && fit.n == TAIL + BODY);
    /* Too few points: a fit, said to be unreliable. */
    ck_assert(mmx_analyze_power_law(x, 20, &fit, &error));
    ck_assert(!fit.reliable);
    /* No tail at all. */
    ck_assert(!mmx_analyze_power_law((double[4]){1, 1, -1, 0}, 4, &fit, &error));
    ck_assert_str_eq(error->message, "a power-law fit needs at least 5 distinct positive values "
                                     "above its xmin; got 2 positive values");
}
END_TEST

/* A model of a test spec with its parameters saved to dir/name. */
static mmx_model *
saved_model(mmx_test_model *m, const char *spec, const char *dir, const char *name, char **path)
{
    mmx_test_model_load(m, spec);
    g_autoptr(GError) error = NULL;
    mmx_model *model = mmx_model_new(m->graph, 7, &error);
    ck_assert_msg(model != NULL, "%s", error ? error->message : "");
    *path = g_build_filename(dir, name, NULL);
    ck_assert_msg(mmx_model_save(model, *path, NULL, NULL, &error), "%s", error ? error->message : "");
    return model;
}

START_TEST(test_tied_checkpoint)
{
    g_autofree char *dir = mmx_test_tmpdir();
    mmx_test_model m = {0};
    g_autofree char *path = NULL;
    g_autoptr(mmx_model) model = saved_model(&m, "specs/hopfield-tie.json", dir, "t.safetensors", &path);
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) doc = mmx_analyze_checkpoint(model, path, &error);
    ck_assert_msg(doc != NULL, "%s", error ? error->message : "");
    json_t *sym = json_object_get(doc, "symmetry");
    ck_assert_int_eq(json_array_size(sym), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *rec = json_array_get(sym, i);
        ck_assert(json_is_true(json_object_get(rec, "tied")));
        ck_assert(json_real_value(json_object_get(rec, "cosine")) == 1.0);
        ck_assert(json_real_value(json_object_get(rec, "coupling_symmetric")) == 1.0);
        ck_assert(json_real_value(json_object_get(rec, "coupling_antisymmetric")) == 0.0);
        ck_assert_str_eq(json_string_value(json_object_get(rec, "axis")), "token");
    }
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(sym, 0), "mixer")),
                     "blocks.0.mixer");
    /* A tied mixer has one matrix: one spectrum each, of 16 singular values. */
    json_t *spectra = json_object_get(doc, "spectra");
    ck_assert_int_eq(json_array_size(spectra), 2);
    json_t *sp = json_array_get(spectra, 0);
    ck_assert_int_eq(json_array_size(json_object_get(sp, "singular_values")), 16);
    ck_assert(json_real_value(json_object_get(sp, "effective_rank")) > 1);
    ck_assert(json_is_false(json_object_get(json_object_get(sp, "power_law"), "reliable")));
    mmx_test_model_clear(&m);
}
END_TEST

START_TEST(test_untied_checkpoint_agrees_with_zoo_table)
{
    g_autofree char *dir = mmx_test_tmpdir();
    mmx_test_model m = {0};
    g_autofree char *path = NULL;
    g_autoptr(mmx_model) model = saved_model(&m, "specs/mlp-mixer.json", dir, "u.safetensors", &path);
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) doc = mmx_analyze_checkpoint(model, path, &error);
    ck_assert_msg(doc != NULL, "%s", error ? error->message : "");
    json_t *rec;
    size_t i;
    json_array_foreach (json_object_get(doc, "symmetry"), i, rec) {
        ck_assert(json_is_false(json_object_get(rec, "tied")));
        double c = json_real_value(json_object_get(rec, "cosine"));
        ck_assert_msg(fabs(c) < 0.5, "independent random weights: cosine %g", c);
        double s = json_real_value(json_object_get(rec, "coupling_symmetric"));
        double a = json_real_value(json_object_get(rec, "coupling_antisymmetric"));
        ck_assert_double_eq_tol(s + a, 1.0, 1e-12);
    }
    /* The zoo's record (tools/zoo-table's symmetry_score) on the same file. */
    g_autofree char *table = mmx_test_source_path("tools/zoo-table");
    g_autofree char *code = g_strdup_printf(
        "import importlib.machinery; z = importlib.machinery.SourceFileLoader('z', '%s')"
        ".load_module(); print(repr(z.symmetry_score('%s')))",
        table, path);
    const char *argv[] = {"python3", "-c", code, NULL};
    g_autofree char *out = NULL, *err = NULL;
    int status;
    ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                           &status, &error));
    ck_assert_msg(status == 0, "%s", err);
    double zoo = g_ascii_strtod(out, NULL);
    double mean = json_real_value(json_object_get(doc, "mean_cosine"));
    ck_assert_msg(fabs(zoo - mean) < 1e-9, "zoo-table %s, mmx %.17g", out, mean);
    mmx_test_model_clear(&m);
}
END_TEST

START_TEST(test_refused_checkpoints)
{
    g_autofree char *dir = mmx_test_tmpdir();
    mmx_test_model m = {0};
    g_autofree char *path = NULL;
    g_autoptr(mmx_model) model = saved_model(&m, "specs/mlp-mixer.json", dir, "u.safetensors", &path);
    g_autoptr(GError) error = NULL;
    /* Not a safetensors file. */
    g_autofree char *junk = g_build_filename(dir, "junk.safetensors", NULL);
    ck_assert(g_file_set_contents(junk, "not a checkpoint", -1, NULL));
    ck_assert_ptr_null(mmx_analyze_checkpoint(model, junk, &error));
    ck_assert(g_error_matches(error, MMX_CHECKPOINT_ERROR, MMX_CHECKPOINT_ERROR_CORRUPT));
    ck_assert_contains(error->message, "junk.safetensors");
    g_clear_error(&error);
    /* A parameter missing, and one of another shape. */
    const mmx_graph *g = m.graph;
    int np = mmx_graph_n_params(g);
    g_autofree mmx_st_tensor *t = g_new0(mmx_st_tensor, np);
    int n = 0, k = mmx_graph_find_param(g, "blocks.0.mixer.key.weight");
    g_autofree float *wrong = g_new0(float, 64 * 50);
    for (int i = 0; i < np; i++) {
        const mmx_graph_param *p = mmx_graph_get_param(g, i);
        if (strcmp(p->name, "blocks.1.mixer.value.weight") == 0)
            continue;
        t[n] = (mmx_st_tensor){.name = p->name, .rank = p->info.shape.rank, .data = mmx_model_param(model, i)};
        for (int d = 0; d < p->info.shape.rank; d++)
            t[n].dims[d] = p->info.shape.dim[d];
        if (i == k) {
            t[n].dims[1] = 50;
            t[n].data = wrong;
        }
        n++;
    }
    g_autofree char *bad = g_build_filename(dir, "bad.safetensors", NULL);
    ck_assert(mmx_safetensors_write(bad, t, (size_t)n, NULL, &error));
    ck_assert_ptr_null(mmx_analyze_checkpoint(model, bad, &error));
    ck_assert(g_error_matches(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_MISMATCH));
    ck_assert_contains(error->message, "tensor 'blocks.1.mixer.value.weight' is missing");
    ck_assert_contains(error->message, "tensor 'blocks.0.mixer.key.weight': the model expects "
                                       "[32, 16], the file has [32, 50]");
    mmx_test_model_clear(&m);
}
END_TEST

/* ---- run and sweep folders ---- */

/* Every mixer's value weight of the test mlp-mixer set to sign * its key weight transposed. */
static void
set_value_to_key_transpose(mmx_model *model, const mmx_graph *g, float sign)
{
    for (int b = 0; b < 4; b++) {
        g_autofree char *kn = g_strdup_printf("blocks.%d.mixer.key.weight", b);
        g_autofree char *vn = g_strdup_printf("blocks.%d.mixer.value.weight", b);
        int kp = mmx_graph_find_param(g, kn), vp = mmx_graph_find_param(g, vn);
        ck_assert(kp >= 0 && vp >= 0);
        const mmx_shape *ks = &mmx_graph_get_param(g, kp)->info.shape;
        int64_t h = ks->dim[0], n = ks->dim[1];
        const float *k = mmx_model_param(model, kp);
        float *v = mmx_model_param(model, vp);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < h; j++)
                v[i * h + j] = sign * k[j * n + i];
    }
}

static void
save_at_epoch(mmx_model *model, const char *dir, const char *name, const char *epoch)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(json_t) meta = json_pack("{s:s, s:s}", "epoch", epoch, "spec_name", "mlp-mixer");
    g_autoptr(GError) error = NULL;
    ck_assert_msg(mmx_model_save(model, path, NULL, meta, &error), "%s", error ? error->message : "");
}

/* A run folder whose answers are known: config.json (the resolved spec, seed 5), epoch 1
 * with V = K^T (cosine 1), final weights of epoch 2 with V = -K^T (cosine -1; the
 * coupling -K^T K is still symmetric). */
static void
make_run(mmx_test_model *m, const char *dir)
{
    mmx_test_model_load(m, "specs/mlp-mixer.json");
    g_autoptr(json_t) cfg = json_pack("{s:O, s:i}", "spec", mmx_spec_resolved(m->spec), "seed", 5);
    g_autofree char *cp = g_build_filename(dir, "config.json", NULL);
    ck_assert(mmx_json_write_atomic(cp, cfg, NULL));
    g_autoptr(mmx_model) model = mmx_model_new(m->graph, 5, NULL);
    set_value_to_key_transpose(model, m->graph, 1.0f);
    save_at_epoch(model, dir, "epoch-1.safetensors", "1");
    set_value_to_key_transpose(model, m->graph, -1.0f);
    save_at_epoch(model, dir, "final.safetensors", "2");
}

START_TEST(test_run_series)
{
    g_autofree char *dir = mmx_test_tmpdir();
    mmx_test_model m = {0};
    make_run(&m, dir);
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) doc = mmx_analyze_run(m.reg, dir, &error);
    ck_assert_msg(doc != NULL, "%s", error ? error->message : "");
    json_t *cks = json_object_get(doc, "checkpoints");
    ck_assert_int_eq(json_array_size(cks), 3);
    /* Epoch 0 is the initialization of seed 5: what a model built with that seed holds. */
    g_autoptr(mmx_model) init = mmx_model_new(m.graph, 5, NULL);
    g_autoptr(json_t) want = mmx_analyze_model(init, "init", &error);
    json_t *c0 = json_array_get(cks, 0);
    ck_assert(json_is_null(json_object_get(c0, "weights")));
    ck_assert(json_equal(json_object_get(c0, "symmetry"), json_object_get(want, "symmetry")));
    ck_assert(json_is_false(json_object_get(c0, "final")));
    ck_assert(json_is_true(json_object_get(json_array_get(cks, 2), "final")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(cks, 2), "epoch")), 2);
    json_t *series = json_object_get(doc, "series");
    ck_assert_int_eq(json_array_size(series), 4);
    size_t i;
    json_t *ser;
    json_array_foreach (series, i, ser) {
        json_t *cos = json_object_get(ser, "cosine"), *sym = json_object_get(ser, "coupling_symmetric");
        ck_assert_int_eq(json_array_size(cos), 3);
        ck_assert_msg(fabs(json_real_value(json_array_get(cos, 0))) < 0.5, "init cosine");
        ck_assert_double_eq_tol(json_real_value(json_array_get(cos, 1)), 1.0, 1e-12);
        ck_assert_double_eq_tol(json_real_value(json_array_get(cos, 2)), -1.0, 1e-12);
        ck_assert_double_eq_tol(json_real_value(json_array_get(sym, 1)), 1.0, 1e-12);
        ck_assert_double_eq_tol(json_real_value(json_array_get(sym, 2)), 1.0, 1e-12);
        ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(ser, "epoch"), 1)), 1);
    }
    /* The table says the same; the plots are SVG documents. */
    g_autofree char *text = mmx_analyze_text(doc);
    ck_assert_contains(text, "blocks.0.mixer           token       ");
    ck_assert_contains(text, "1.000/1.000    -1.000/1.000");
    ck_assert_contains(text, "epoch 2*");
    g_autofree char *plots = g_build_filename(dir, "plots", NULL);
    g_autoptr(GPtrArray) files = NULL;
    ck_assert_msg(mmx_analyze_write_svg(doc, plots, &files, &error), "%s", error ? error->message : "");
    ck_assert_int_eq(files->len, 2);
    g_autofree char *svg = NULL;
    ck_assert(g_file_get_contents(g_ptr_array_index(files, 1), &svg, NULL, NULL));
    ck_assert_contains((const char *)g_ptr_array_index(files, 1), "symmetry.svg");
    ck_assert_contains(svg, "<svg ");
    ck_assert_contains(svg, "blocks.3.mixer (channel)");
    /* A snapshot of the final epoch stands for the final weights: no fourth entry. */
    g_autofree char *fin = g_build_filename(dir, "final.safetensors", NULL);
    g_autofree char *e2 = g_build_filename(dir, "epoch-2.safetensors", NULL);
    g_autofree char *bytes = NULL;
    gsize len;
    ck_assert(g_file_get_contents(fin, &bytes, &len, NULL) && g_file_set_contents(e2, bytes, (gssize)len, NULL));
    g_autoptr(json_t) again = mmx_analyze_run(m.reg, dir, &error);
    ck_assert_msg(again != NULL, "%s", error ? error->message : "");
    json_t *last = json_array_get(json_object_get(again, "checkpoints"), 2);
    ck_assert_int_eq(json_array_size(json_object_get(again, "checkpoints")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(last, "weights")), e2);
    ck_assert(json_is_true(json_object_get(last, "final")));
    mmx_test_model_clear(&m);
}
END_TEST

START_TEST(test_run_refusals)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autoptr(GError) error = NULL;
    /* Not a run folder. */
    ck_assert_ptr_null(mmx_analyze_run(reg, dir, &error));
    ck_assert(g_error_matches(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT));
    ck_assert_contains(error->message, "is not a run folder: ");
    ck_assert_contains(error->message, "config.json is missing");
    g_clear_error(&error);
    /* config.json without a spec. */
    g_autofree char *cp = g_build_filename(dir, "config.json", NULL);
    ck_assert(g_file_set_contents(cp, "{\"seed\": 0}", -1, NULL));
    ck_assert_ptr_null(mmx_analyze_run(reg, dir, &error));
    ck_assert_contains(error->message, "config.json has no \"spec\" object");
    g_clear_error(&error);
    /* A spec but no weights. */
    mmx_test_model m = {0};
    mmx_test_model_load(&m, "specs/mlp-mixer.json");
    g_autoptr(json_t) cfg = json_pack("{s:O, s:i}", "spec", mmx_spec_resolved(m.spec), "seed", 0);
    ck_assert(mmx_json_write_atomic(cp, cfg, NULL));
    ck_assert_ptr_null(mmx_analyze_run(reg, dir, &error));
    ck_assert_contains(error->message, "holds no weights to analyze: no final.safetensors and no "
                                       "epoch-<e>.safetensors");
    g_clear_error(&error);
    /* Weights of another model. */
    mmx_test_model other = {0};
    mmx_test_model_load(&other, "specs/hopfield-tie.json");
    g_autoptr(mmx_model) model = mmx_model_new(other.graph, 0, NULL);
    save_at_epoch(model, dir, "epoch-1.safetensors", "1");
    ck_assert_ptr_null(mmx_analyze_run(reg, dir, &error));
    ck_assert(g_error_matches(error, MMX_EXEC_ERROR, MMX_EXEC_ERROR_MISMATCH));
    ck_assert_contains(error->message, "epoch-1.safetensors does not fit this model");
    g_clear_error(&error);
    /* A sweep folder without a manifest, and one whose trials have no weights. */
    ck_assert_ptr_null(mmx_analyze_sweep(reg, dir, &error));
    ck_assert_contains(error->message, "is not a sweep folder: ");
    g_clear_error(&error);
    g_autofree char *mp = g_build_filename(dir, "sweep.json", NULL);
    ck_assert(g_file_set_contents(mp, "{\"trials\": [{\"id\": \"t0\", \"state\": \"run\"}]}", -1, NULL));
    ck_assert_ptr_null(mmx_analyze_sweep(reg, dir, &error));
    ck_assert_contains(error->message, "no trial has weights to analyze; the first: ");
    ck_assert_contains(error->message, "t0/config.json is missing");
    mmx_test_model_clear(&m);
    mmx_test_model_clear(&other);
}
END_TEST

START_TEST(test_sweep)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *t0 = g_build_filename(dir, "trials", "t0", NULL);
    g_autofree char *t1 = g_build_filename(dir, "trials", "t1", NULL);
    ck_assert_int_eq(g_mkdir_with_parents(t0, 0755), 0);
    ck_assert_int_eq(g_mkdir_with_parents(t1, 0755), 0);
    mmx_test_model m = {0};
    make_run(&m, t0);
    g_autofree char *mp = g_build_filename(dir, "sweep.json", NULL);
    ck_assert(g_file_set_contents(mp,
                                  "{\"trials\": [{\"id\": \"t0\", \"variant\": \"base\", \"seed\": 5, "
                                  "\"state\": \"run\"}, {\"id\": \"t1\", \"variant\": \"base\", "
                                  "\"seed\": 6, \"state\": \"run\"}, {\"id\": \"t2\", \"state\": "
                                  "\"duplicate\"}]}",
                                  -1, NULL));
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) doc = mmx_analyze_sweep(m.reg, dir, &error);
    ck_assert_msg(doc != NULL, "%s", error ? error->message : "");
    json_t *trials = json_object_get(doc, "trials"), *skipped = json_object_get(doc, "skipped");
    ck_assert_int_eq(json_array_size(trials), 1);
    ck_assert_int_eq(json_array_size(skipped), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(skipped, 0), "trial")), "t1");
    json_t *run = json_object_get(json_array_get(trials, 0), "analysis");
    ck_assert_int_eq(json_array_size(json_object_get(run, "checkpoints")), 3);
    g_autofree char *text = mmx_analyze_text(doc);
    ck_assert_contains(text, "== trial t0 (variant base, seed 5)");
    ck_assert_contains(text, "skipped trial t1: ");
    g_autofree char *plots = g_build_filename(dir, "plots", NULL);
    g_autoptr(GPtrArray) files = NULL;
    ck_assert_msg(mmx_analyze_write_svg(doc, plots, &files, &error), "%s", error ? error->message : "");
    ck_assert_int_eq(files->len, 2);
    ck_assert_contains((const char *)g_ptr_array_index(files, 0), "spectra-t0.svg");
    ck_assert_contains((const char *)g_ptr_array_index(files, 1), "symmetry.svg");
    mmx_test_model_clear(&m);
}
END_TEST

/* ---- the Hopfield energy of tied parallel blocks ---- */

/* Every key weight and key bias of the energy test spec scaled by s. */
static void
scale_keys(mmx_model *model, const mmx_graph *g, float s)
{
    for (int i = 0; i < mmx_graph_n_params(g); i++) {
        const mmx_graph_param *p = mmx_graph_get_param(g, i);
        if (strstr(p->name, ".key.") == NULL)
            continue;
        float *w = mmx_model_param(model, i);
        int64_t n = mmx_shape_numel(&p->info.shape);
        for (int64_t k = 0; k < n; k++)
            w[k] = strstr(p->name, ".bias") ? s * 0.5f : w[k] * s; /* biases start at 0 */
    }
}

static json_t *
energy_of(mmx_model *model, GError **error)
{
    g_autoptr(mmx_dataset) train = NULL, test = NULL;
    ck_assert(mmx_data_load("synthetic:64:40", &train, &test, NULL));
    mmx_norm_stats stats = mmx_dataset_stats(train);
    return mmx_analyze_energy(model, test, &stats, 0, error);
}

START_TEST(test_energy_known_cases)
{
    mmx_test_model m = {0};
    mmx_test_model_load(&m, "specs/hopfield-energy.json");
    g_autoptr(GError) error = NULL;
    /* Zero keys: the update is exactly 0 and E(z) = |z|^2 / 2 of the normed state, whose
     * squared norm is tokens x channels x var / (var + eps) with the initial affine
     * (weight 1, bias 0): 16 x 6 / 2 = 48 (the spec's eps is 1e-12). Nothing is lowered. */
    g_autoptr(mmx_model) zero = mmx_model_new(m.graph, 1, NULL);
    scale_keys(zero, m.graph, 0.0f);
    g_autoptr(json_t) e0 = energy_of(zero, &error);
    ck_assert_msg(e0 != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(json_integer_value(json_object_get(e0, "inputs")), 40);
    json_t *blocks = json_object_get(e0, "blocks");
    ck_assert_int_eq(json_array_size(blocks), 2);
    size_t i;
    json_t *b;
    json_array_foreach (blocks, i, b) {
        double in = json_real_value(json_object_get(b, "mean_energy_in"));
        ck_assert_msg(fabs(in - 48.0) < 1e-6, "block %zu: E %.9g", i, in);
        ck_assert(json_real_value(json_object_get(b, "mean_energy_out")) == in);
        ck_assert(json_real_value(json_object_get(b, "decreased")) == 0.0);
        ck_assert_int_eq(json_array_size(json_object_get(b, "mixers")), 2);
    }
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(blocks, 1), "block")), "blocks.1");
    /* Small keys: y = -grad E + z, and the layer norm's Jacobian J is symmetric with J z = 0,
     * so the update changes E by -<y, J y> < 0 to first order: every input's energy is
     * lowered by every block. */
    g_autoptr(mmx_model) small = mmx_model_new(m.graph, 1, NULL);
    scale_keys(small, m.graph, 0.05f);
    g_autoptr(json_t) e1 = energy_of(small, &error);
    ck_assert_msg(e1 != NULL, "%s", error ? error->message : "");
    json_array_foreach (json_object_get(e1, "blocks"), i, b) {
        ck_assert_msg(json_real_value(json_object_get(b, "decreased")) == 1.0, "block %zu: %g", i,
                      json_real_value(json_object_get(b, "decreased")));
        ck_assert(json_real_value(json_object_get(b, "mean_energy_out")) <
                  json_real_value(json_object_get(b, "mean_energy_in")));
    }
    /* The table. */
    g_autoptr(json_t) doc = mmx_analyze_model(small, "small", &error);
    json_object_set(doc, "energy", e1);
    g_autofree char *text = mmx_analyze_text(doc);
    ck_assert_contains(text, "on 40 images of synthetic:");
    ck_assert_contains(text, "100.0%  blocks.0.parallel.0, blocks.0.parallel.1");
    mmx_test_model_clear(&m);
}
END_TEST

START_TEST(test_energy_refusals)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_dataset) train = NULL, test = NULL;
    ck_assert(mmx_data_load("synthetic:64:40", &train, &test, NULL));
    mmx_norm_stats stats = mmx_dataset_stats(train);
    /* Independent value weights: no energy. */
    mmx_test_model m = {0};
    mmx_test_model_load(&m, "specs/mlp-mixer.json");
    g_autoptr(mmx_model) model = mmx_model_new(m.graph, 0, NULL);
    ck_assert_ptr_null(mmx_analyze_energy(model, test, &stats, 0, &error));
    ck_assert(g_error_matches(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT));
    ck_assert_str_eq(error->message, "blocks.0.mixer: the energy is defined for tied weights (a "
                                     "value tied to its key's weight); this mixer's are independent");
    g_clear_error(&error);
    mmx_test_model_clear(&m);
    /* A mixer with an output projection, an activation without a closed-form Lagrangian. */
    const char *const output[] = {"/blocks/body/0/parallel/1/output={\"op\": \"linear\", \"out\": 6}", NULL};
    const char *const silu[] = {"/blocks/body/0/parallel/1/activation={\"op\": \"silu\"}", NULL};
    const char *const *const bad[] = {output, silu};
    const char *const said[] = {"blocks.0.parallel.1: the energy needs a mixer of key, activation "
                                "and value only",
                                "blocks.0.parallel.1: the energy needs an activation with a "
                                "closed-form Lagrangian (gelu, relu, identity, sigmoid), got silu"};
    for (int k = 0; k < 2; k++) {
        g_autoptr(mmx_registry) reg = mmx_test_registry();
        g_autofree char *path = mmx_test_data_path("specs/hopfield-energy.json");
        g_autoptr(mmx_spec) spec = mmx_spec_load(reg, path, bad[k], &error);
        ck_assert_msg(spec != NULL, "%s", error ? error->message : "");
        g_autoptr(mmx_graph) graph = mmx_graph_new(spec, &error);
        g_autoptr(mmx_model) mm = mmx_model_new(graph, 0, &error);
        ck_assert_ptr_null(mmx_analyze_energy(mm, test, &stats, 0, &error));
        ck_assert_str_eq(error->message, said[k]);
        g_clear_error(&error);
    }
    /* No mixer on a layer norm with a residual. */
    mmx_test_model_load(&m, "specs/small.json");
    g_autoptr(mmx_model) small = mmx_model_new(m.graph, 0, NULL);
    ck_assert_ptr_null(mmx_analyze_energy(small, test, &stats, 0, &error));
    ck_assert_contains(error->message, "the model has no block of tied mixers on a layer norm");
    mmx_test_model_clear(&m);
}
END_TEST

/* ---- the key-value memory view ---- */

/* Keys reading the pixels themselves: h0 = x, h1 = -x, h2 = -1 (dead), x the normalized
 * pixel; so key 0's top token is a brightest pixel, key 1's a darkest, and the usage of
 * each is known. */
START_TEST(test_memory_known_keys)
{
    mmx_test_model m = {0};
    mmx_test_model_load(&m, "specs/memory-pixels.json");
    g_autoptr(mmx_model) model = mmx_model_new(m.graph, 0, NULL);
    float *w = mmx_model_param(model, mmx_graph_find_param(m.graph, "blocks.0.mixer.key.weight"));
    float *b = mmx_model_param(model, mmx_graph_find_param(m.graph, "blocks.0.mixer.key.bias"));
    w[0] = 1, w[1] = -1, w[2] = 0;
    b[0] = 0, b[1] = 0, b[2] = -1;
    g_autoptr(mmx_dataset) train = NULL, test = NULL;
    ck_assert(mmx_data_load("synthetic:64:30", &train, &test, NULL));
    mmx_norm_stats st = mmx_dataset_stats(train);
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) mem = mmx_analyze_memory(model, test, &st, 0, 4, &error);
    ck_assert_msg(mem != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(json_integer_value(json_object_get(mem, "inputs")), 30);
    json_t *mx = json_array_get(json_object_get(mem, "mixers"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(mx, "mixer")), "blocks.0.mixer");
    ck_assert_int_eq(json_array_size(json_object_get(mx, "dead")), 1);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(mx, "dead"), 0)), 2);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(mx, "patch"), 0)), 1);
    /* The brightest and darkest pixels of the 30 images, and the mean positive parts. */
    int lo = 255, hi = 0;
    double pos = 0, neg = 0;
    for (int64_t i = 0; i < 30; i++) {
        const uint8_t *px = mmx_dataset_image(test, i);
        for (int k = 0; k < 784; k++) {
            lo = MIN(lo, px[k]);
            hi = MAX(hi, px[k]);
            double x = ((double)px[k] / 255.0 - st.mean[0]) / st.std[0];
            pos += x > 0 ? x : 0;
            neg += x < 0 ? -x : 0;
        }
    }
    json_t *top = json_object_get(mx, "top");
    for (int key = 0; key < 2; key++) {
        json_t *hits = json_array_get(top, (size_t)key);
        ck_assert_int_eq(json_array_size(hits), 4);
        for (size_t t = 0; t < 4; t++) {
            json_t *hit = json_array_get(hits, t);
            const uint8_t *px = mmx_dataset_image(test, json_integer_value(json_object_get(hit, "image")));
            ck_assert_int_eq(px[json_integer_value(json_object_get(hit, "token"))], key == 0 ? hi : lo);
        }
    }
    json_t *usage = json_object_get(mx, "usage");
    ck_assert_double_eq_tol(json_real_value(json_array_get(usage, 0)), pos / (30 * 784), 1e-5);
    ck_assert_double_eq_tol(json_real_value(json_array_get(usage, 1)), neg / (30 * 784), 1e-5);
    ck_assert(json_real_value(json_array_get(usage, 2)) == 0.0);
    /* Two keys share the work: the entropy of (p, 1 - p). */
    double p = pos / (pos + neg), hh = -p * log(p) - (1 - p) * log(1 - p);
    ck_assert_double_eq_tol(json_real_value(json_object_get(mx, "usage_entropy")), hh, 1e-5);
    /* The grid of patches, and the table. */
    g_autofree char *dir = mmx_test_tmpdir();
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    ck_assert_msg(mmx_analyze_memory_svg(mem, test, dir, files, &error), "%s", error ? error->message : "");
    ck_assert_int_eq(files->len, 1);
    ck_assert_contains((const char *)g_ptr_array_index(files, 0), "memory-blocks.0.mixer.svg");
    g_autoptr(json_t) doc = mmx_analyze_model(model, "m", &error);
    json_object_set(doc, "memory", mem);
    g_autofree char *text = mmx_analyze_text(doc);
    ck_assert_contains(text, "blocks.0.mixer                3      1 ");
    /* Images of another shape than the model's input; keys on no token grid. */
    mmx_test_model other = {0};
    mmx_test_model_load(&other, "specs/small.json");
    g_autoptr(mmx_model) sm = mmx_model_new(other.graph, 0, NULL);
    ck_assert_ptr_null(mmx_analyze_memory(sm, test, &st, 0, 4, &error));
    ck_assert_str_eq(error->message, "the model reads 2x2x3 images; those of synthetic are 28x28x1");
    g_clear_error(&error);
    mmx_test_model_clear(&other);
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autofree char *path = mmx_test_data_path("specs/memory-pixels.json");
    const char *const token[] = {"/blocks/body/0/mixer/axis=\"token\"",
                                 "/blocks/body/0/mixer/value/out=784", NULL};
    g_autoptr(mmx_spec) spec = mmx_spec_load(reg, path, token, &error);
    ck_assert_msg(spec != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_graph) graph = mmx_graph_new(spec, &error);
    g_autoptr(mmx_model) tm = mmx_model_new(graph, 0, &error);
    ck_assert_ptr_null(mmx_analyze_memory(tm, test, &st, 0, 4, &error));
    ck_assert_str_eq(error->message, "the model has no mixer whose key reads a grid of tokens "
                                     "tiling the 28x28 images (a channel mixer on patches)");
    mmx_test_model_clear(&m);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("analyze");
    TCase *sym = tcase_create("symmetry");
    tcase_add_test(sym, test_symmetric_matrix);
    tcase_add_test(sym, test_antisymmetric_matrix);
    tcase_add_test(sym, test_random_matrices_near_zero);
    suite_add_tcase(s, sym);
    TCase *spec = tcase_create("spectra");
    tcase_add_test(spec, test_diagonal_singular_values);
    tcase_add_test(spec, test_effective_rank);
    tcase_add_test(spec, test_power_law_recovers_alpha);
    suite_add_tcase(s, spec);
    TCase *ck = tcase_create("checkpoint");
    tcase_add_test(ck, test_tied_checkpoint);
    tcase_add_test(ck, test_untied_checkpoint_agrees_with_zoo_table);
    tcase_add_test(ck, test_refused_checkpoints);
    suite_add_tcase(s, ck);
    TCase *run = tcase_create("run");
    tcase_add_test(run, test_run_series);
    tcase_add_test(run, test_run_refusals);
    tcase_add_test(run, test_sweep);
    suite_add_tcase(s, run);
    TCase *en = tcase_create("energy");
    tcase_add_test(en, test_energy_known_cases);
    tcase_add_test(en, test_energy_refusals);
    tcase_add_test(en, test_memory_known_keys);
    suite_add_tcase(s, en);
    return mmx_test_run(s);
}
