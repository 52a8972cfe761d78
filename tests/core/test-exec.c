/* test-exec.c: models and executors: the whole graph's backward (with a tied parameter
 * and batch norm) against finite differences, memory planning, the memory refusal, and
 * checkpoints that do not fit. */
#include <math.h>
#include <string.h>

#include "test-util.h"

typedef mmx_test_model fixture;

static void
load(fixture *f, const char *name)
{
    g_autofree char *rel = g_strdup_printf("specs/train/%s", name);
    mmx_test_model_load(f, rel);
}

static void
unload(fixture *f)
{
    mmx_test_model_clear(f);
}

static double
loss_of(mmx_exec *ex, const float *x, int64_t in_floats, const int32_t *labels, int64_t batch,
        int classes, bool backward)
{
    g_autoptr(GError) error = NULL;
    memcpy(mmx_exec_input(ex), x, (size_t)in_floats * sizeof(float));
    ck_assert_msg(mmx_exec_forward(ex, batch, 11, &error), "%s", error ? error->message : "");
    double loss = mmx_softmax_xent(mmx_exec_output(ex), labels, batch, classes, 0.0,
                                   backward ? mmx_exec_output_grad(ex) : NULL, NULL);
    if (backward)
        ck_assert_msg(mmx_exec_backward(ex, batch, &error), "%s", error ? error->message : "");
    return loss;
}

START_TEST(test_whole_graph_gradient_with_tie)
{
    fixture f;
    load(&f, "tied.json");
    /* The value op's weight is the key op's weight: one parameter, two uses. */
    int tied = mmx_graph_find_param(f.graph, "blocks.0.mixer.key.weight");
    ck_assert_int_ge(tied, 0);
    ck_assert_int_eq(mmx_graph_get_param(f.graph, tied)->n_uses, 2);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_model) model = mmx_model_new(f.graph, 3, &error);
    ck_assert_ptr_nonnull(model);
    enum { B = 4 };
    g_autoptr(mmx_exec) ex = mmx_exec_new(model, B, true, &error);
    ck_assert_ptr_nonnull(ex);
    mmx_shape in = mmx_spec_input_shape(f.spec);
    int64_t nin = B * mmx_shape_numel(&in);
    g_autofree float *x = g_new(float, nin);
    mmx_test_fill(x, nin, 5);
    int32_t labels[B] = {0, 2, 1, 2};
    loss_of(ex, x, nin, labels, B, 3, true);
    /* Backward zeroes the gradients first: a second pass gives the same numbers. */
    g_autofree float *grads = g_memdup2(mmx_model_grads(model), mmx_model_n_trainable(model) * sizeof(float));
    loss_of(ex, x, nin, labels, B, 3, true);
    ck_assert_mem_eq(grads, mmx_model_grads(model), mmx_model_n_trainable(model) * sizeof(float));
    int checked = 0;
    for (int p = 0; p < mmx_graph_n_params(f.graph); p++) {
        const mmx_graph_param *gp = mmx_graph_get_param(f.graph, p);
        if (gp->flags & MMX_PARAM_BUFFER)
            continue;
        float *w = mmx_model_param(model, p);
        const float *g = grads + (mmx_model_grad(model, p) - mmx_model_grads(model));
        int64_t n = mmx_shape_numel(&gp->info.shape);
        for (int k = 0; k < 5; k++) {
            uint32_t r[4];
            mmx_philox(99, (uint64_t)(p * 16 + k), r);
            int64_t i = (int64_t)(r[0] % (uint32_t)n);
            float keep = w[i];
            const float eps = 1e-3f; /* small: layer norm over 5 channels is strongly curved */
            w[i] = keep + eps;
            double lp = loss_of(ex, x, nin, labels, B, 3, false);
            w[i] = keep - eps;
            double lm = loss_of(ex, x, nin, labels, B, 3, false);
            w[i] = keep;
            double num = (lp - lm) / (2.0 * eps);
            ck_assert_msg(fabs(num - g[i]) <= 2e-3 + 3e-2 * fabs(num),
                          "%s[%ld]: backward %g, finite differences %g", gp->name, (long)i, g[i], num);
            checked++;
        }
    }
    ck_assert_int_gt(checked, 40);
    unload(&f);
}
END_TEST

START_TEST(test_plan_reuses_memory)
{
    fixture f;
    load(&f, "mini.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_model) model = mmx_model_new(f.graph, 0, &error);
    g_autoptr(mmx_exec) tr = mmx_exec_new(model, 32, true, &error);
    g_autoptr(mmx_exec) inf = mmx_exec_new(model, 32, false, &error);
    ck_assert_ptr_nonnull(tr);
    ck_assert_ptr_nonnull(inf);
    ck_assert_int_eq(mmx_exec_arena_bytes(tr), mmx_exec_estimate(f.graph, 32, true));
    ck_assert_int_eq(mmx_exec_arena_bytes(inf), mmx_exec_estimate(f.graph, 32, false));
    /* Inference keeps only what is still to be read: far less than training. */
    ck_assert_int_lt(mmx_exec_arena_bytes(inf) * 3, mmx_exec_arena_bytes(tr));
    /* And less than every activation side by side. */
    size_t all = 0;
    for (int v = 0; v < mmx_graph_n_values(f.graph); v++)
        all += 32 * 4 * (size_t)mmx_shape_numel(&mmx_graph_get_value(f.graph, v)->shape);
    ck_assert_int_lt(mmx_exec_arena_bytes(inf), all);
    /* Inference runs with smaller batches in the same plan. */
    mmx_test_fill(mmx_exec_input(inf), 32 * 784, 1);
    ck_assert(mmx_exec_forward(inf, 7, 0, &error));
    ck_assert(!mmx_exec_forward(inf, 33, 0, &error));
    ck_assert_contains(error->message, "batch 33 outside the planned 1..32");
    unload(&f);
}
END_TEST

START_TEST(test_memory_refused_with_estimate)
{
    fixture f;
    load(&f, "mini.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_model) model = mmx_model_new(f.graph, 0, &error);
    g_setenv("MMX_MAX_MEMORY", "100000", TRUE);
    mmx_exec *ex = mmx_exec_new(model, 4096, true, &error);
    g_unsetenv("MMX_MAX_MEMORY");
    ck_assert_ptr_null(ex);
    ck_assert_int_eq(error->code, MMX_EXEC_ERROR_MEMORY);
    ck_assert_contains(error->message, "training at batch 4096 needs ");
    ck_assert_contains(error->message, "GB of activation memory, but only 0.00 GB are available; reduce the batch or the model");
    unload(&f);
}
END_TEST

START_TEST(test_checkpoint_round_trip_and_mismatch)
{
    fixture a, b;
    load(&a, "tied.json");
    load(&b, "mini.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_model) ma = mmx_model_new(a.graph, 1, &error);
    g_autoptr(mmx_model) ma2 = mmx_model_new(a.graph, 2, &error);
    g_autoptr(mmx_model) mb = mmx_model_new(b.graph, 1, &error);
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "a.safetensors", NULL);
    json_t *meta = json_pack("{s:s}", "spec_name", "tied-grad");
    mmx_optim_config oc = {.kind = MMX_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    g_autoptr(mmx_optim) oa = mmx_optim_new(&oc, mmx_model_n_decay(ma), mmx_model_n_trainable(ma) - mmx_model_n_decay(ma));
    mmx_optim_step(oa, mmx_model_params(ma), mmx_model_grads(ma), 1e-3);
    ck_assert(mmx_model_save(ma, path, oa, meta, &error));
    json_decref(meta);
    g_autoptr(mmx_optim) oa2 = mmx_optim_new(&oc, mmx_model_n_decay(ma), mmx_model_n_trainable(ma) - mmx_model_n_decay(ma));
    json_t *got = NULL;
    ck_assert_msg(mmx_model_load(ma2, path, oa2, &got, &error), "%s", error ? error->message : "");
    ck_assert_str_eq(json_string_value(json_object_get(got, "spec_name")), "tied-grad");
    json_decref(got);
    ck_assert_mem_eq(mmx_model_params(ma), mmx_model_params(ma2), mmx_model_n_total(ma) * sizeof(float));
    ck_assert_int_eq(mmx_optim_steps(oa2), 1);
    /* Into another model: refused, naming tensors and shapes. */
    ck_assert(!mmx_model_load(mb, path, NULL, NULL, &error));
    ck_assert_int_eq(error->code, MMX_EXEC_ERROR_MISMATCH);
    ck_assert_contains(error->message, "a.safetensors does not fit this model (it was saved from spec 'tied-grad')");
    ck_assert_contains(error->message, "tensor 'stem.0.weight': the model expects [16, 1, 4, 4], the file has [5, 2]");
    /* Weights only, loaded with an optimizer: the state is missing. */
    g_autofree char *wpath = g_build_filename(dir, "w.safetensors", NULL);
    ck_assert(mmx_model_save(ma, wpath, NULL, NULL, &error));
    g_clear_error(&error);
    ck_assert(!mmx_model_load(ma2, wpath, oa2, NULL, &error));
    ck_assert_contains(error->message, "tensor 'optim.exp_avg.");
    unload(&a);
    unload(&b);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("exec");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_whole_graph_gradient_with_tie);
    tcase_add_test(tc, test_plan_reuses_memory);
    tcase_add_test(tc, test_memory_refused_with_estimate);
    tcase_add_test(tc, test_checkpoint_round_trip_and_mismatch);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
