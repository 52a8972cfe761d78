/* test-sgu.c: the sgu plugin (gMLP's spatial gating unit, aMLP's tiny attention).
 *
 * The op against a naive double-precision reference (forward, and backward against
 * central differences of the reference), the identity-like gate (W = 0, b = 1 gives
 * y == z1 exactly; the default init stays within its init_std bound of it), every SIMD
 * kernel against the scalar one on odd sizes, thread-count invariance, gradient
 * accumulation, the op's examples, and every refusal with its message.
 */
#include "ref-harness.h"

/* ---- reference (double) ---- */

static void
ref_sgu(const rh *h, double *const *in, double *const *par, double *out)
{
    const mmx_node *node = h->node;
    int64_t n = node->inputs[0].dim[0], d = node->inputs[0].dim[1] / 2;
    int64_t ta = node->attrs[2].i, c = ta ? node->inputs[1].dim[1] : 0;
    double eps = node->attrs[0].f;
    int causal = (int)node->attrs[3].i; /* tril(W): token t gates with tokens <= t */
    g_autofree double *u = g_new(double, n *d);
    g_autofree double *f = g_new(double, n *d);
    g_autofree double *qkv = g_new(double, n * 3 * (ta + 1));
    g_autofree double *p = g_new(double, n *n);
    g_autofree double *o = g_new(double, n *(ta + 1));
    for (int64_t b = 0; b < h->batch; b++) {
        const double *z = in[0] + b * n * 2 * d;
        for (int64_t t = 0; t < n; t++) {
            const double *z2 = z + t * 2 * d + d;
            double m = 0, v = 0;
            for (int64_t k = 0; k < d; k++)
                m += z2[k] / d;
            for (int64_t k = 0; k < d; k++)
                v += (z2[k] - m) * (z2[k] - m) / d;
            for (int64_t k = 0; k < d; k++)
                u[t * d + k] = (z2[k] - m) / sqrt(v + eps) * par[0][k] + par[1][k];
        }
        for (int64_t t = 0; t < n; t++)
            for (int64_t k = 0; k < d; k++) {
                double s = par[3][t];
                for (int64_t m = 0; m < (causal ? t + 1 : n); m++)
                    s += par[2][t * n + m] * u[m * d + k];
                f[t * d + k] = s;
            }
        if (ta) {
            const double *x = in[1] + b * n * c;
            for (int64_t t = 0; t < n; t++)
                for (int64_t r = 0; r < 3 * ta; r++) {
                    double s = 0;
                    for (int64_t e = 0; e < c; e++)
                        s += x[t * c + e] * par[4][r * c + e];
                    qkv[t * 3 * ta + r] = s;
                }
            for (int64_t i = 0; i < n; i++) {
                double mx = -1e300, sum = 0;
                for (int64_t j = 0; j < n; j++) {
                    double s = 0;
                    for (int64_t k = 0; k < ta; k++)
                        s += qkv[i * 3 * ta + k] * qkv[j * 3 * ta + ta + k];
                    p[i * n + j] = s / sqrt((double)ta);
                    mx = fmax(mx, p[i * n + j]);
                }
                for (int64_t j = 0; j < n; j++)
                    sum += (p[i * n + j] = exp(p[i * n + j] - mx));
                for (int64_t j = 0; j < n; j++)
                    p[i * n + j] /= sum;
                for (int64_t k = 0; k < ta; k++) {
                    double s = 0;
                    for (int64_t j = 0; j < n; j++)
                        s += p[i * n + j] * qkv[j * 3 * ta + 2 * ta + k];
                    o[i * ta + k] = s;
                }
            }
            for (int64_t t = 0; t < n; t++)
                for (int64_t k = 0; k < d; k++)
                    for (int64_t r = 0; r < ta; r++)
                        f[t * d + k] += o[t * ta + r] * par[5][k * ta + r];
        }
        for (int64_t t = 0; t < n; t++)
            for (int64_t k = 0; k < d; k++)
                out[(b * n + t) * d + k] = z[t * 2 * d + k] * f[t * d + k];
    }
}

/* ---- against the reference ---- */

typedef struct scase {
    const char *attrs;
    int64_t n, cz, cx; /* cx = 0: no memory input */
} scase;

static rh *
make_sgu(mmx_registry *reg, const scase *sc, int64_t batch)
{
    mmx_shape in[2] = {mmx_shape_tokens(sc->n, 1, sc->cz), mmx_shape_tokens(sc->n, 1, sc->cx)};
    g_autoptr(GError) error = NULL;
    rh *h = rh_new(reg, "sgu", sc->attrs, in, sc->cx ? 2 : 1, batch, &error);
    ck_assert_msg(h != NULL, "%s: %s", sc->attrs, error ? error->message : "");
    return h;
}

START_TEST(test_matches_reference)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const scase cases[] = {{"{}", 5, 6, 0},
                           {"{\"eps\": 0.01}", 3, 14, 0},
                           {"{\"tiny_attn\": 2}", 5, 6, 4},
                           {"{\"tiny_attn\": 3, \"eps\": 1e-6}", 4, 10, 5},
                           {"{\"tiny_attn\": 2}", 3, 34, 3},  /* d = 17: the vector rows */
                           {"{\"causal\": true, \"init_std\": 0.3}", 5, 6, 0},
                           {"{\"causal\": true, \"init_std\": 0.3}", 7, 34, 0}};
    for (size_t t = 0; t < G_N_ELEMENTS(cases); t++) {
        g_autoptr(rh) h = make_sgu(reg, &cases[t], 2);
        rh_fill(h, 7 + t, 0.5f);
        for (mmx_isa isa = MMX_ISA_SCALAR; isa <= MMX_ISA_AVX512; isa++)
            if (rh_use_isa(h, isa))
                rh_check_against_ref(h, ref_sgu, 1e-5, 1e-4);
    }
    /* The conformance kit's tail variant of example 3 with its value ranges (magnitudes up
     * to 1), where its float finite differences are noisiest: still the exact derivative. */
    const scase kit = {"{\"tiny_attn\": 5, \"init_std\": 0.05}", 7, 10, 1};
    g_autoptr(rh) h = make_sgu(reg, &kit, 2);
    rh_fill(h, 13, 1.0f);
    rh_check_against_ref(h, ref_sgu, 1e-5, 1e-4);
}
END_TEST

/* ---- the identity-like gate ---- */

START_TEST(test_zero_weight_unit_bias_is_identity_gate)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const scase sc = {"{}", 9, 22, 0};
    g_autoptr(rh) h = make_sgu(reg, &sc, 3);
    rh_fill(h, 11, 0.7f); /* random LN affine and z */
    memset(h->par[2], 0, (size_t)h->par_n[2] * 4);
    for (int64_t t = 0; t < 9; t++)
        h->par[3][t] = 1.0f;
    int64_t d = 11;
    for (mmx_isa isa = MMX_ISA_SCALAR; isa <= MMX_ISA_AVX512; isa++) {
        if (!rh_use_isa(h, isa))
            continue;
        rh_forward(h, 1);
        for (int64_t r = 0; r < 3 * 9; r++)
            for (int64_t c = 0; c < d; c++)
                ck_assert_msg(h->out[r * d + c] == h->in[0][r * 2 * d + c],
                              "%s: y[%lld, %lld] = %.9g, z1 = %.9g", mmx_isa_name(isa),
                              (long long)r, (long long)c, (double)h->out[r * d + c],
                              (double)h->in[0][r * 2 * d + c]);
    }
}
END_TEST

START_TEST(test_default_init_is_near_identity_gate)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const scase sc = {"{}", 16, 40, 0};
    g_autoptr(rh) h = make_sgu(reg, &sc, 2);
    rh_init_params(h, 3);
    mmx_test_fill(h->in[0], h->in_n[0], 12);
    const mmx_param_info *w = &h->node->params[2];
    ck_assert_int_eq(w->init, MMX_INIT_NORMAL);
    ck_assert(w->init_a == 0.0 && w->init_b == 1e-6);
    ck_assert(h->par[3][0] == 1.0f && h->par[3][15] == 1.0f);
    ck_assert(h->par[0][0] == 1.0f && h->par[1][0] == 0.0f);
    rh_forward(h, 1);
    /* |f - 1| = |sum_m W[t, m] u[m, c]| <= init_std * 6 * |u[:, c]|_2 (6 sigma), and
     * |u| <= sqrt(d) for a layer norm; so |y - z1| <= |z1| * 6e-6 * sqrt(N d). */
    int64_t d = 20, n = 16;
    double bound = 1e-6 * 6.0 * sqrt((double)(n * d)), worst = 0;
    int exact = 1;
    for (int64_t r = 0; r < 2 * n; r++)
        for (int64_t c = 0; c < d; c++) {
            double z1 = h->in[0][r * 2 * d + c], y = h->out[r * d + c];
            worst = fmax(worst, fabs(y - z1) / fabs(z1));
            exact = exact && y == z1;
        }
    ck_assert_msg(worst <= bound, "default init: |y - z1| / |z1| up to %g, bound %g", worst, bound);
    ck_assert_msg(!exact, "the spatial weight was not initialized (y == z1 exactly)");
    /* init_std is the attribute's */
    g_autoptr(rh) h2 = make_sgu(reg, &(scase){"{\"init_std\": 0.01}", 4, 6, 0}, 1);
    ck_assert(h2->node->params[2].init_b == 0.01);
}
END_TEST

/* ---- kernels, threads, accumulation ---- */

START_TEST(test_isa_matches_scalar)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    /* d = 37, 19, 1, 3: vector tails on 8 and 16 lanes; N = 7, 17 for the softmax rows */
    const scase cases[] = {{"{\"init_std\": 0.05}", 7, 74, 0},
                           {"{\"tiny_attn\": 5, \"init_std\": 0.05}", 17, 38, 13},
                           {"{}", 4, 2, 0},
                           {"{\"tiny_attn\": 17}", 9, 6, 33}};
    for (size_t t = 0; t < G_N_ELEMENTS(cases); t++) {
        g_autoptr(rh) h = make_sgu(reg, &cases[t], 3);
        rh_fill(h, 21 + t, 0.5f);
        int ran = rh_check_isas(h, 2e-5);
        ck_assert_int_eq(ran, rh_simd_kernels(h));
        if (mmx_cpu_isa_detected() >= MMX_ISA_AVX512)
            ck_assert_int_eq(ran, 2);
    }
}
END_TEST

START_TEST(test_thread_count_invariance)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const scase cases[] = {{"{}", 49, 48, 0}, {"{\"tiny_attn\": 8}", 36, 64, 20}};
    for (size_t t = 0; t < G_N_ELEMENTS(cases); t++) {
        g_autoptr(rh) h = make_sgu(reg, &cases[t], 21);
        rh_fill(h, 31 + t, 0.3f);
        rh_check_thread_invariance(h);
    }
}
END_TEST

START_TEST(test_accumulates_param_grads_overwrites_input_grads)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const scase cases[] = {{"{}", 5, 8, 0}, {"{\"tiny_attn\": 3}", 6, 10, 7}};
    for (size_t t = 0; t < G_N_ELEMENTS(cases); t++) {
        g_autoptr(rh) h = make_sgu(reg, &cases[t], 3);
        rh_fill(h, 41 + t, 0.5f);
        rh_check_accumulation(h);
    }
}
END_TEST

static void
run_example(rh *h, const char *example, void *user)
{
    (void)user;
    rh_fill(h, 51, 0.5f);
    rh_result r = rh_run(h);
    for (int64_t k = 0; k < h->out_n; k++)
        ck_assert_msg(isfinite(r.out[k]), "%s: output %lld is not finite", example, (long long)k);
    rh_check_isas(h, 2e-5);
    rh_result_clear(&r);
}

START_TEST(test_examples_run)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    ck_assert_int_eq(rh_for_each_example(reg, "sgu", run_example, NULL), 5);
}
END_TEST

/* ---- contract ---- */

START_TEST(test_params_shapes_and_cost)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    mmx_shape in[2] = {mmx_shape_tokens(7, 7, 384), mmx_shape_tokens(7, 7, 128)};
    g_autoptr(rh) h = rh_new(reg, "sgu", "{\"tiny_attn\": 64}", in, 2, 1, NULL);
    const mmx_op_desc *desc = mmx_op_get_desc(mmx_op_instance_op(h->inst));
    const char *names[] = {"norm_weight", "norm_bias", "weight", "bias", "attn_qkv", "attn_out"};
    const int64_t dims[][2] = {{192, 0}, {192, 0}, {49, 49}, {49, 0}, {192, 128}, {192, 64}};
    for (int j = 0; j < 6; j++) {
        ck_assert_str_eq(desc->params[j]->name, names[j]);
        ck_assert_int_eq(h->node->params[j].shape.dim[0], dims[j][0]);
        if (dims[j][1])
            ck_assert_int_eq(h->node->params[j].shape.dim[1], dims[j][1]);
    }
    ck_assert(desc->params[0]->flags & MMX_PARAM_NO_DECAY);
    ck_assert(desc->params[3]->flags & MMX_PARAM_NO_DECAY);
    ck_assert_int_eq(desc->params[3]->init, MMX_INIT_ONES);
    ck_assert_int_eq(desc->input_roles[1], MMX_INPUT_MEMORY);
    /* output [N, d] keeps the grid */
    ck_assert_int_eq(h->node->output.dim[1], 192);
    ck_assert_int_eq(h->node->output.height, 7);
    ck_assert_int_eq(h->node->output.width, 7);
    g_autoptr(rh) plain = rh_new(reg, "sgu", NULL, in, 1, 1, NULL);
    ck_assert_int_eq(plain->node->params[4].shape.rank, 0);
    ck_assert_int_eq(plain->node->params[5].shape.rank, 0);
    mmx_cost cost;
    mmx_op_instance_cost(plain->inst, &cost);
    double n = 49, d = 192;
    ck_assert_double_eq_tol(cost.flops, 8 * n * d + 2 * n * n * d + 2 * n * d, 1e-6);
}
END_TEST

START_TEST(test_refusals)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    mmx_shape odd = mmx_shape_tokens(3, 3, 7), z = mmx_shape_tokens(3, 3, 8);
    mmx_shape x = mmx_shape_tokens(3, 3, 5), x4 = mmx_shape_tokens(2, 2, 5);
    int64_t d3[3] = {2, 9, 8};
    mmx_shape r3 = mmx_shape_make(3, d3);
    g_autofree char *e1 = rh_refusal(reg, "sgu", NULL, &odd, 1);
    ck_assert_contains(e1, "sgu: the channel count of z [9, 7] (3x3 grid) must be even (z is "
                           "split into z1, z2 of d = C/2 channels each), got C = 7");
    g_autofree char *e2 = rh_refusal(reg, "sgu", NULL, &r3, 1);
    ck_assert_contains(e2, "sgu: the input z must be tokens [N, 2d], got [2, 9, 8]");
    g_autofree char *e3 = rh_refusal(reg, "sgu", "{\"tiny_attn\": 4}", &z, 1);
    ck_assert_contains(e3, "sgu: tiny_attn = 4 needs the memory x [N, C] as input 1");
    g_autofree char *e4 = rh_refusal(reg, "sgu", NULL, (mmx_shape[]){z, x}, 2);
    ck_assert_contains(e4, "sgu: got a second (memory) input but tiny_attn is 0");
    g_autofree char *e5 = rh_refusal(reg, "sgu", "{\"tiny_attn\": 4}", (mmx_shape[]){z, x4}, 2);
    ck_assert_contains(e5, "sgu: the memory x (input 1) must be tokens [N, C] with the N = 9 "
                           "tokens of z [9, 8] (3x3 grid), got [4, 5] (2x2 grid)");
    g_autofree char *e8 =
        rh_refusal(reg, "sgu", "{\"tiny_attn\": 4, \"causal\": true}", (mmx_shape[]){z, x}, 2);
    ck_assert_contains(e8, "sgu: causal masks the spatial weight only; the tiny attention "
                           "(tiny_attn = 4) is not masked: set tiny_attn to 0 for a causal unit");
    mmx_shape bad_grid = mmx_shape_tokens(3, 3, 8);
    bad_grid.dim[0] = 8;
    g_autofree char *e6 = rh_refusal(reg, "sgu", NULL, &bad_grid, 1);
    ck_assert_contains(e6, "sgu: the input [8, 8] (3x3 grid) has a token grid 3x3 that does not "
                           "match it");
    mmx_shape x_bad = mmx_shape_tokens(3, 3, 5);
    x_bad.width = 2;
    g_autofree char *e7 = rh_refusal(reg, "sgu", "{\"tiny_attn\": 2}", (mmx_shape[]){z, x_bad}, 2);
    ck_assert_contains(e7, "sgu: the input [9, 5] (3x2 grid) has a token grid 3x2");
    const mmx_op *op = mmx_registry_find_op(reg, "sgu");
    json_t *obj = json_loads("{\"eps\": 0, \"init_std\": 2, \"tiny_attn\": -1}", 0, NULL);
    mmx_attr_value v[5];
    GString *errs = g_string_new(NULL);
    ck_assert(!mmx_attrs_from_json(op, obj, NULL, v, rh_collect_attr_error, errs));
    ck_assert_contains(errs->str, "attribute 'eps' of op 'sgu': expected a number in [1e-12, 1], "
                                  "got 0");
    ck_assert_contains(errs->str, "attribute 'init_std' of op 'sgu': expected a number in [0, 1]");
    ck_assert_contains(errs->str, "attribute 'tiny_attn' of op 'sgu': expected an integer in "
                                  "[0, 65536], got -1");
    g_string_free(errs, TRUE);
    json_decref(obj);
}
END_TEST

START_TEST(test_backward_without_saved_is_refused)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autoptr(rh) h = make_sgu(reg, &(scase){"{}", 3, 4, 0}, 2);
    rh_fill(h, 1, 0.5f);
    rh_forward(h, 0);
    float *pars[MMX_MAX_PARAMS] = {h->par[0], h->par[1], h->par[2], h->par[3]};
    const float *ins[] = {h->in[0]};
    mmx_kernel_args args = {.batch = 2,
                            .in = ins,
                            .out = h->out,
                            .param = pars,
                            .workspace = h->ws,
                            .grad_out = h->gout,
                            .grad_in = h->gin,
                            .grad_param = h->gpar};
    g_autoptr(GError) error = NULL;
    ck_assert(!mmx_op_instance_backward(h->inst, &args, &error));
    ck_assert_contains(error->message, "backward needs the saved buffer written by a training "
                                       "forward");
}
END_TEST

/* ---- the conformance kit ---- */

/* The conformance kit (quick options) passes on the whole plugin. */
START_TEST(test_conformance_kit)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const mmx_plugin *plugin = mmx_registry_find_plugin(reg, "sgu");
    ck_assert_ptr_nonnull(plugin);
    g_autoptr(mmx_check_report) r = mmx_check_run(reg, plugin, &(mmx_check_options){.quick = true});
    mmx_test_assert_check_passed(r);
}
END_TEST

static Suite *
sgu_suite(void)
{
    Suite *s = suite_create("sgu");
    TCase *tc = tcase_create("reference");
    tcase_add_test(tc, test_matches_reference);
    suite_add_tcase(s, tc);
    tc = tcase_create("identity_gate");
    tcase_add_test(tc, test_zero_weight_unit_bias_is_identity_gate);
    tcase_add_test(tc, test_default_init_is_near_identity_gate);
    suite_add_tcase(s, tc);
    tc = tcase_create("kernels");
    tcase_add_test(tc, test_isa_matches_scalar);
    tcase_add_test(tc, test_thread_count_invariance);
    tcase_add_test(tc, test_accumulates_param_grads_overwrites_input_grads);
    tcase_add_test(tc, test_examples_run);
    suite_add_tcase(s, tc);
    tc = tcase_create("contract");
    tcase_add_test(tc, test_params_shapes_and_cost);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_backward_without_saved_is_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("conformance");
    tcase_add_test(tc, test_conformance_kit);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return mmx_test_run(sgu_suite());
}
