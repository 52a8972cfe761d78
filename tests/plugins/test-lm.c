/* test-lm.c: the lm plugin's embed against a naive reference (rows of the table, the ids'
 * wrap), its gradients (the table's by finite differences, the ids' zero), every ISA kernel
 * bit for bit against the scalar one on odd widths, the conformance kit, and each refusal
 * with its message. */
#include <math.h>
#include <string.h>

#include <mmx/mmx-check.h>

#include "op-harness.h"

static oph *
make(mmx_registry *reg, const char *attrs, int64_t n, int64_t batch)
{
    g_autoptr(GError) error = NULL;
    int64_t d[] = {n, 1};
    mmx_shape in = mmx_shape_make(2, d);
    oph *h = oph_new(reg, "embed", attrs, &in, 1, batch, &error);
    ck_assert_msg(h != NULL, "embed %s: %s", attrs, error ? error->message : "?");
    return h;
}

START_TEST(test_forward_rows_and_wrap)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    oph *h = make(reg, "{\"vocab\": 5, \"dim\": 3}", 4, 2);
    const float ids[8] = {0, 4, 2.5f, 7, -1, 3, 1, 4};
    const int64_t want[8] = {0, 4, 2, 2, 4, 3, 1, 4}; /* floor(x) mod 5 */
    memcpy(h->in[0], ids, sizeof ids);
    oph_forward_ok(h);
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 3; c++)
            ck_assert_float_eq(h->out[r * 3 + c], h->param[0][want[r] * 3 + c]);
    /* Backward: the table's rows get the sums of their positions' gradients; ids get 0. */
    memset(h->gparam[0], 0, 15 * sizeof(float));
    oph_backward_ok(h);
    for (int v = 0; v < 5; v++)
        for (int c = 0; c < 3; c++) {
            double s = 0;
            for (int r = 0; r < 8; r++)
                if (want[r] == v)
                    s += h->gout[r * 3 + c];
            ck_assert_double_eq_tol(h->gparam[0][v * 3 + c], s, 1e-6);
        }
    for (int r = 0; r < 8; r++)
        ck_assert_float_eq(h->gin[0][r], 0.0f);
    oph_free(h);
}
END_TEST

START_TEST(test_gradients_finite_differences)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    oph *h = make(reg, "{\"vocab\": 11, \"dim\": 6}", 7, 3);
    for (int64_t i = 0; i < h->in_n[0]; i++)
        h->in[0][i] = (float)((i * 5) % 11) + 0.5f; /* away from the floor's steps */
    oph_check_grads(h, 1e-2, 1e-3, 1e-3, 64);
    oph_free(h);
}
END_TEST

START_TEST(test_isa_kernels_match_scalar)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    int expect =
        1 + (mmx_cpu_isa_detected() >= MMX_ISA_AVX2) + (mmx_cpu_isa_detected() >= MMX_ISA_AVX512);
    const int dims[] = {1, 7, 37, 129};
    for (int s = 0; s < 4; s++) {
        g_autofree char *attrs = g_strdup_printf("{\"vocab\": 256, \"dim\": %d}", dims[s]);
        int64_t d[] = {13, 1};
        mmx_shape in = mmx_shape_make(2, d);
        /* Exact: a copy forward, one add per element in row order backward. */
        ck_assert_int_eq(oph_compare_isas(reg, "embed", attrs, &in, 1, 3, 1, 0.0), expect);
    }
}
END_TEST

START_TEST(test_refusals)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    int64_t d[] = {9, 2};
    mmx_shape two = mmx_shape_make(2, d);
    g_autofree char *e1 = oph_refusal(reg, "embed", "{\"dim\": 4}", &two, 1);
    ck_assert_contains(e1, "embed: the input is a sequence of token ids [N, 1] (one channel), got "
                           "[9, 2]");
}
END_TEST

START_TEST(test_conformance_kit)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const mmx_plugin *plugin = mmx_registry_find_plugin(reg, "lm");
    ck_assert_ptr_nonnull(plugin);
    g_autoptr(mmx_check_report) r = mmx_check_run(reg, plugin, &(mmx_check_options){.quick = true});
    mmx_test_assert_check_passed(r);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("lm");
    TCase *m = tcase_create("embed");
    tcase_add_test(m, test_forward_rows_and_wrap);
    tcase_add_test(m, test_gradients_finite_differences);
    tcase_add_test(m, test_isa_kernels_match_scalar);
    tcase_add_test(m, test_refusals);
    suite_add_tcase(s, m);
    TCase *kit = tcase_create("conformance");
    tcase_add_test(kit, test_conformance_kit);
    suite_add_tcase(s, kit);
    return mmx_test_run(s);
}
