/* test-check.c: the conformance kit (core/check*.c): it passes on correct plugins (the
 * shipped activation plugin, the kit-good fixture with parameters and two inputs), and on
 * each deliberately broken fixture (tests/fixtures/fixture-kit-*.c) its report names the
 * op, the check, the worst error and where it was. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"

/* Reports are longer than Check's 4 KB message limit: on a failure the report goes to
 * stderr (in meson's test log) and the assertion message stays short. */
#define assert_report_contains(text, needle)                                                       \
    do {                                                                                           \
        if ((text) == NULL || strstr((text), (needle)) == NULL) {                                  \
            fprintf(stderr, "%s\n", (text) ? (text) : "(null)");                                   \
            ck_abort_msg("expected to find \"%s\" in the report (printed on stderr)", (needle));   \
        }                                                                                          \
    } while (0)

#define assert_line_found(line, text)                                                              \
    do {                                                                                           \
        if ((line) == NULL) {                                                                      \
            fprintf(stderr, "%s\n", (text));                                                       \
            ck_abort_msg("no such line in the report (printed on stderr)");                        \
        }                                                                                          \
    } while (0)

/* The report of the kit on a fixture file, quick and isolated. */
static mmx_check_report *
check_fixture(const char *fixture, const char *plugin, char **text)
{
    g_autoptr(mmx_registry) reg = mmx_registry_new();
    g_autofree char *path = mmx_test_fixture(fixture);
    g_autoptr(GError) error = NULL;
    ck_assert_msg(mmx_registry_load(reg, path, &error), "%s", error ? error->message : "");
    mmx_check_report *r = mmx_check_run(reg, mmx_registry_find_plugin(reg, plugin),
                                        &(mmx_check_options){.quick = true, .isolate = true});
    *text = mmx_check_report_text(r);
    return r;
}

/* The line of the text report for one op and check. */
static char *
report_line(const char *text, const char *op, const char *check)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) words = g_strsplit_set(*l, " ", -1);
        int n = 0;
        const char *w[2] = {NULL, NULL};
        for (char **x = words; *x && n < 2; x++)
            if (**x)
                w[n++] = *x;
        if (n == 2 && strcmp(w[0], op) == 0 && strcmp(w[1], check) == 0)
            return g_strdup(*l);
    }
    return NULL;
}

START_TEST(test_activation_passes)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autoptr(mmx_check_report) r = mmx_check_run(reg, mmx_registry_find_plugin(reg, "activation"),
                                                  &(mmx_check_options){.quick = true});
    mmx_test_assert_check_passed(r);
    g_autofree char *text = mmx_check_report_text(r);
    g_autofree char *line = report_line(text, "gelu", "gradients");
    ck_assert_contains(line, "PASS");
    ck_assert_contains(line, "gelu_scalar");
    assert_report_contains(text, "summary: activation: 6 ops");
}
END_TEST

START_TEST(test_activation_isa_compares_simd)
{
    if (mmx_cpu_isa() < MMX_ISA_AVX2)
        return; /* nothing but the reference runs on this CPU */
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autoptr(mmx_check_report) r =
        mmx_check_run(reg, mmx_registry_find_plugin(reg, "activation"),
                      &(mmx_check_options){.only_op = "gelu", .quick = true, .isolate = true});
    mmx_test_assert_check_passed(r);
    g_autofree char *text = mmx_check_report_text(r);
    g_autofree char *line = report_line(text, "gelu", "isa");
    ck_assert_contains(line, "PASS  gelu_avx2");
    ck_assert_contains(line, "vs gelu_scalar");
    ck_assert_contains(line, "(tol 1e-4)");
    ck_assert_ptr_null(report_line(text, "relu", "isa"));
}
END_TEST

START_TEST(test_good_fixture_with_params_passes)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-good", "kitgood", &text);
    mmx_test_assert_check_passed(r);
    assert_report_contains(text, "kitgood.affine gradients");
    assert_report_contains(text, "kitgood.mul");
}
END_TEST

/* An op that claims MMX_OP_CAUSAL and reads a later token: the causal check catches it and
 * says which token changed which output; the other checks pass. */
START_TEST(test_not_causal_caught)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-not-causal", "notcausal", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "notcausal.leak", "causal");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  kernel leak_scalar on example 1 ");
    ck_assert_contains(line, "changing input token 5 changed the output at [0, 0, 0] (token 0, "
                             "before it)");
    assert_report_contains(text, "hint: an op with MMX_OP_CAUSAL must not read later tokens");
    assert_report_contains(text, "1 failed");
    g_autofree char *grads = report_line(text, "notcausal.leak", "gradients");
    ck_assert_contains(grads, "PASS");
}
END_TEST

/* The shipped causal ops pass it (a causal token linear, the channel linear, embed, the
 * causal spatial gating unit, causal fused attention); an op that does not declare the
 * flag has no causal line. */
START_TEST(test_causal_ops_pass)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    const char *plugins[] = {"linear", "lm", "sgu", "attention"};
    const char *ops[] = {"linear", "embed", "sgu", "attention"};
    for (int p = 0; p < 4; p++) {
        g_autoptr(mmx_check_report) r =
            mmx_check_run(reg, mmx_registry_find_plugin(reg, plugins[p]),
                          &(mmx_check_options){.quick = true, .isolate = true});
        mmx_test_assert_check_passed(r);
        g_autofree char *text = mmx_check_report_text(r);
        g_autofree char *line = report_line(text, ops[p], "causal");
        assert_line_found(line, text);
        ck_assert_contains(line, "PASS");
        ck_assert_contains(line, "changing input token t never changed an output at a position < t");
    }
    g_autoptr(mmx_check_report) r = mmx_check_run(reg, mmx_registry_find_plugin(reg, "pool"),
                                                  &(mmx_check_options){.quick = true});
    g_autofree char *text = mmx_check_report_text(r);
    ck_assert_ptr_null(report_line(text, "pool", "causal"));
}
END_TEST

START_TEST(test_backward_mismatch_explained)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-bad-grad", "badgrad", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "badgrad.square", "gradients");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  worst rel err 0.5 (tol 1e-2, eps 1e-2) at the gradient "
                             "of input 0 [");
    ck_assert_contains(line, "kernel square_scalar, example 1 ");
    ck_assert_contains(line, "(3x3 grid): backward ");
    ck_assert_contains(line, "vs finite difference");
    assert_report_contains(text,
                           "kernel square_scalar backward: the gradient of input 0 is wrong at "
                           "6 of 6 checked elements on example 1 inputs [9, 5] (3x3 grid); "
                           "worst at [");
    assert_report_contains(text, "hint: the backward does not match the forward");
    assert_report_contains(text, "1 failed");
}
END_TEST

START_TEST(test_simd_tail_mismatch_explained)
{
    if (mmx_cpu_isa() < MMX_ISA_AVX2)
        return; /* the fixture's AVX2 kernel is not eligible here */
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-bad-simd", "badsimd", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "badsimd.scale", "isa");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  worst rel err 0.005 (tol 1e-4) in kernel scale_avx2: the "
                             "output [1, 8, ");
    ck_assert_contains(line, "from scale_scalar");
    assert_report_contains(text, "hint: flat index 88 of 90 is in the last 16");
    /* Its gradients are right: only the ISA check fails. */
    g_autofree char *grad = report_line(text, "badsimd.scale", "gradients");
    ck_assert_contains(grad, "PASS");
}
END_TEST

START_TEST(test_no_plugin_and_unknown_op)
{
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autoptr(mmx_check_report) r = mmx_check_run(reg, NULL, NULL);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *text = mmx_check_report_text(r);
    assert_report_contains(text, "no plugin to check");
    g_autoptr(mmx_check_report) r2 =
        mmx_check_run(reg, mmx_registry_find_plugin(reg, "activation"),
                      &(mmx_check_options){.only_op = "gleu", .quick = true});
    ck_assert(!mmx_check_report_passed(r2));
    g_autofree char *text2 = mmx_check_report_text(r2);
    assert_report_contains(text2,
                           "plugin activation has no op 'gleu'; its ops: identity, relu, gelu");
}
END_TEST

START_TEST(test_json_shape)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-bad-grad", "badgrad", &text);
    json_t *j = mmx_check_report_json(r);
    ck_assert(json_is_false(json_object_get(j, "passed")));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "plugin"), "name")),
                     "badgrad");
    json_t *op = json_array_get(json_object_get(j, "ops"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(op, "name")), "badgrad.square");
    ck_assert(json_is_false(json_object_get(op, "passed")));
    json_t *checks = json_object_get(op, "checks"), *grad = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), "gradients") == 0)
            grad = c;
    }
    ck_assert_ptr_nonnull(grad);
    ck_assert_str_eq(json_string_value(json_object_get(grad, "status")), "fail");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(grad, "kernels"), 0)),
                     "square_scalar");
    json_t *worst = json_object_get(grad, "worst");
    ck_assert(json_real_value(json_object_get(worst, "error")) > 0.49);
    ck_assert_str_eq(json_string_value(json_object_get(worst, "tensor")),
                     "the gradient of input 0");
    ck_assert_ptr_nonnull(json_string_value(json_object_get(worst, "index")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "summary"), "failed")),
                     1);
    json_decref(j);
}
END_TEST

START_TEST(test_read_past_input_explained)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-read-past", "readpast", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "readpast.double", "memory");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  read past the end of input 0 (90 floats) in kernel "
                             "double_scalar forward on example 1 inputs [9, 5] (3x3 grid), "
                             "batch 2: the access touched byte 0 after its last element");
    assert_report_contains(text, "hint: a vector loop must not load or store a whole vector at the "
                                 "tail");
}
END_TEST

START_TEST(test_write_past_output_explained)
{
    /* Canaries need no isolation: the kit runs in this process. */
    g_autoptr(mmx_registry) reg = mmx_registry_new();
    g_autofree char *path = mmx_test_fixture("kit-write-past");
    ck_assert(mmx_registry_load(reg, path, NULL));
    g_autoptr(mmx_check_report) r =
        mmx_check_run(reg, mmx_registry_find_plugin(reg, "writepast"),
                      &(mmx_check_options){.only_op = "writepast.negate", .quick = true});
    g_autofree char *text = mmx_check_report_text(r);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "writepast.negate", "memory");
    ck_assert_contains(line, "FAIL  kernel negate_scalar forward wrote past the end of the "
                             "output (90 floats): float +1 after its end changed");
}
END_TEST

START_TEST(test_wrong_param_shape_explained)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-param-shape", "paramshape", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "paramshape.mix", "memory");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  read past the end of parameter 'weight' (5 floats) in kernel "
                             "mix_scalar forward on example 1 inputs [9, 5] (3x3 grid)");
    assert_report_contains(text, "hint: the kernel uses the parameter as bigger than infer "
                                 "declares it: a parameter must have the shape infer declares");
}
END_TEST

/* A SIMD kernel without a scalar tail reads past the per-channel parameter first: the hint
 * names the tail before the parameter's shape. */
START_TEST(test_simd_tail_past_param_explained)
{
    if (mmx_cpu_isa() < MMX_ISA_AVX2)
        return;
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-tail-param", "tailparam", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "tailparam.scale", "memory");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  read past the end of parameter 'gamma' (5 floats) in kernel "
                             "scale_avx2 forward on example 1 inputs [9, 5] (3x3 grid), batch 2: "
                             "the access touched byte 0 after its last element");
    assert_report_contains(text, "hint: the access is within one vector of the parameter's end: "
                                 "either a vector loop loads a whole vector at the tail");
}
END_TEST

START_TEST(test_thread_dependence_explained)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-threads", "threads", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "threads.shift", "threads");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  kernel shift_scalar on example 1 inputs [9, 5] (3x3 grid), "
                             "batch 64: the output [");
    ck_assert_contains(line, "after forward is ");
    ck_assert_contains(line, " with 2 threads but ");
    assert_report_contains(text, "combine them in chunk order");
    /* Nothing else is wrong with it. */
    assert_report_contains(text, "1 failed");
}
END_TEST

START_TEST(test_workspace_dependence_explained)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-workspace", "workspace", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "workspace.cumsum", "workspace");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  kernel cumsum_scalar on example 1 inputs [9, 5] (3x3 grid): "
                             "the output [0, 0, 0] after forward is ");
    ck_assert_contains(line, "with the output, workspace and saved buffer pre-filled with NaN but");
    ck_assert_contains(line, "the kernel reads scratch it did not write");
    assert_report_contains(text, "1 failed");
}
END_TEST

START_TEST(test_refusal_without_message_explained)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-no-message", "nomessage", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "nomessage.window", "schema");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  infer refused attribute size = 64 (the maximum) with status 1 "
                             "(invalid attribute, shape or argument) but no message: call "
                             "ctx->host->error(ctx, status, \"...\")");
    /* The accepted minimum and the host's own refusals are fine. */
    json_t *j = mmx_check_report_json(r);
    json_t *checks = json_object_get(json_array_get(json_object_get(j, "ops"), 0), "checks");
    size_t i;
    json_t *c, *cases = NULL;
    json_array_foreach(checks, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), "schema") == 0)
            cases = json_object_get(c, "cases");
    }
    ck_assert_ptr_nonnull(cases);
    int accepted = 0, by_schema = 0;
    json_array_foreach(cases, i, c)
    {
        const char *outcome = json_string_value(json_object_get(c, "outcome"));
        const char *label = json_string_value(json_object_get(c, "case"));
        accepted += strcmp(outcome, "accepted and ran") == 0;
        if (strcmp(outcome, "refused by the schema") == 0) {
            by_schema++;
            ck_assert_ptr_nonnull(json_string_value(json_object_get(c, "message")));
        }
        if (strstr(label, "attribute size = 65"))
            ck_assert_str_eq(outcome, "refused by the schema");
    }
    ck_assert_int_ge(accepted, 1);
    ck_assert_int_ge(by_schema, 3);
    json_decref(j);
}
END_TEST

START_TEST(test_leak_explained)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-leak", "leak", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "leak.copy", "allocations");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  kernel copy_scalar forward left 1 host allocation (360 bytes) "
                             "unfreed per call on example 1 inputs [9, 5] (3x3 grid)");
    assert_report_contains(text, "1 failed");
}
END_TEST

START_TEST(test_backward_semantics_explained)
{
    g_autofree char *text = NULL;
    g_autoptr(mmx_check_report) r = check_fixture("kit-accumulate", "accumulate", &text);
    ck_assert(!mmx_check_report_passed(r));
    g_autofree char *line = report_line(text, "accumulate.scale", "backward");
    assert_line_found(line, text);
    ck_assert_contains(line, "FAIL  kernel scale_scalar backward with grad_in pre-filled with NaN: "
                             "the gradient of input 0 at [0, 0, 0] still holds the NaN it held "
                             "before the call");
    assert_report_contains(text, "kernel scale_scalar backward with grad_param pre-filled: the "
                                 "gradient of parameter 'scale' at [0] is ");
    assert_report_contains(text, "it was overwritten instead of accumulated");
}
END_TEST

/* Without isolation a fault ends the process, after the handler has said why on stderr. */
START_TEST(test_fault_without_isolation_ends_process_with_reason)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *log = g_build_filename(dir, "stderr.txt", NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        FILE *f = fopen(log, "w");
        dup2(fileno(f), 2);
        g_autoptr(mmx_registry) reg = mmx_registry_new();
        g_autofree char *path = mmx_test_fixture("kit-read-past");
        mmx_registry_load(reg, path, NULL);
        mmx_check_run(reg, mmx_registry_find_plugin(reg, "readpast"),
                      &(mmx_check_options){.quick = true});
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 86);
    g_autofree char *err = NULL;
    ck_assert(g_file_get_contents(log, &err, NULL, NULL));
    ck_assert_contains(err, "read past the end of input 0 (");
    ck_assert_contains(err, "in kernel double_scalar forward");
}
END_TEST

START_TEST(test_isa_json_lists_kernels)
{
    if (mmx_cpu_isa() < MMX_ISA_AVX2)
        return;
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autoptr(mmx_check_report) r =
        mmx_check_run(reg, mmx_registry_find_plugin(reg, "activation"),
                      &(mmx_check_options){.only_op = "sigmoid", .quick = true, .isolate = true});
    json_t *j = mmx_check_report_json(r);
    json_t *op = json_array_get(json_object_get(j, "ops"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(op, "name")), "sigmoid");
    json_t *checks = json_object_get(op, "checks");
    ck_assert_int_eq(json_array_size(checks), 9);
    size_t i;
    json_t *c, *isa = NULL;
    json_array_foreach(checks, i, c)
    {
        ck_assert_ptr_nonnull(json_string_value(json_object_get(c, "summary")));
        ck_assert(json_is_array(json_object_get(c, "details")));
        if (strcmp(json_string_value(json_object_get(c, "name")), "isa") == 0)
            isa = c;
    }
    ck_assert_ptr_nonnull(isa);
    ck_assert_str_eq(json_string_value(json_object_get(isa, "reference")), "sigmoid_scalar");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(isa, "kernels"), 0)),
                     "sigmoid_avx2");
    json_t *per = json_array_get(json_object_get(isa, "per_kernel"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(per, "kernel")), "sigmoid_avx2");
    ck_assert(json_real_value(json_object_get(per, "error")) < 1e-4);
    ck_assert(json_is_true(json_object_get(per, "passed")));
    ck_assert_ptr_nonnull(json_object_get(json_object_get(per, "worst"), "index"));
    json_decref(j);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("check");
    TCase *pass = tcase_create("passing");
    tcase_add_test(pass, test_activation_passes);
    tcase_add_test(pass, test_activation_isa_compares_simd);
    tcase_add_test(pass, test_good_fixture_with_params_passes);
    tcase_add_test(pass, test_causal_ops_pass);
    tcase_add_test(pass, test_not_causal_caught);
    tcase_add_test(pass, test_no_plugin_and_unknown_op);
    tcase_add_test(pass, test_isa_json_lists_kernels);
    suite_add_tcase(s, pass);
    TCase *broken = tcase_create("broken fixtures");
    tcase_add_test(broken, test_backward_mismatch_explained);
    tcase_add_test(broken, test_simd_tail_mismatch_explained);
    tcase_add_test(broken, test_json_shape);
    tcase_add_test(broken, test_read_past_input_explained);
    tcase_add_test(broken, test_write_past_output_explained);
    tcase_add_test(broken, test_wrong_param_shape_explained);
    tcase_add_test(broken, test_simd_tail_past_param_explained);
    tcase_add_test(broken, test_thread_dependence_explained);
    tcase_add_test(broken, test_workspace_dependence_explained);
    tcase_add_test(broken, test_refusal_without_message_explained);
    tcase_add_test(broken, test_leak_explained);
    tcase_add_test(broken, test_backward_semantics_explained);
    tcase_add_test(broken, test_fault_without_isolation_ends_process_with_reason);
    suite_add_tcase(s, broken);
    return mmx_test_run(s);
}
