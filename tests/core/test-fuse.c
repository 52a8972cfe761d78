/* test-fuse.c: the executor's fusions (core/fuse.c). Which nodes the planner fuses and which
 * it must not; every fused path against the unfused composition, bit for bit (outputs,
 * loss, every parameter gradient, which carry every input gradient back to the stem, and
 * batch-norm statistics), at each ISA level, on odd sizes that hit vector tails, several
 * bias-gradient chunks and partial tiles; and zoo specs trained a few steps both ways.
 * What fuses comes from the op flags alone: a third-party op that sets them fuses, one
 * without them (or built for ABI 1.0) does not. */
#include <math.h>
#include <string.h>

#include "test-util.h"

typedef mmx_test_model fixture;

static void
load_data(fixture *f, const char *name)
{
    g_autofree char *rel = g_strdup_printf("specs/fuse/%s", name);
    mmx_test_model_load(f, rel);
}

static void
unload(fixture *f)
{
    mmx_test_model_clear(f);
}

/* "kind producer -> node" for each fusion, one per line. */
static char *
fusions_text(const mmx_graph *g, GArray *fusions)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < fusions->len; i++) {
        const mmx_fusion *f = &g_array_index(fusions, mmx_fusion, i);
        const mmx_graph_node *p = mmx_graph_get_node(g, f->producer);
        g_string_append_printf(s, "%s %s -> %s", mmx_fusion_kind_name(f->kind), p ? p->name : "-",
                               mmx_graph_get_node(g, f->node)->name);
        if (f->kind == MMX_FUSION_RESIDUAL_GRADIENT)
            g_string_append_printf(s, " (shared %d)", f->shared);
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}

START_TEST(test_planner_fuses_what_it_may)
{
    fixture f;
    load_data(&f, "all.json");
    g_autoptr(GArray) train = mmx_fusion_plan(f.graph, true);
    g_autofree char *got = fusions_text(f.graph, train);
    ck_assert_str_eq(got, "bias+activation stem.0 -> stem.1\n"
                          "bias+activation blocks.0.mixer.key -> blocks.0.mixer.activation\n"
                          "bias+residual blocks.0.mixer.value -> blocks.0.residual\n"
                          "residual-gradient - -> blocks.0.residual (shared 3)\n"
                          "bias+activation blocks.1.mixer.key -> blocks.1.mixer.activation\n"
                          "bias+residual blocks.1.mixer.value -> blocks.1.residual\n"
                          "residual-gradient - -> blocks.1.residual (shared 3)\n"
                          "bias+activation blocks.2.mixer.key -> blocks.2.mixer.activation\n"
                          "bias+activation blocks.2.mixer.gate -> blocks.2.mixer.gate.1\n"
                          "residual-gradient - -> blocks.2.residual (shared 3)\n");
    /* Inference has no gradients to share. */
    g_autoptr(GArray) infer = mmx_fusion_plan(f.graph, false);
    ck_assert_int_eq(infer->len, 7);
    for (guint i = 0; i < infer->len; i++)
        ck_assert_int_ne(g_array_index(infer, mmx_fusion, i).kind, MMX_FUSION_RESIDUAL_GRADIENT);
    /* The executor runs what the planner says, or nothing when told not to fuse. */
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_model) model = mmx_model_new(f.graph, 1, &error);
    g_autoptr(mmx_exec) on = mmx_exec_new_full(model, 4, true, true, &error);
    g_autoptr(mmx_exec) off = mmx_exec_new_full(model, 4, true, false, &error);
    ck_assert_int_eq(mmx_exec_n_fusions(on), (int)train->len);
    ck_assert_int_eq(mmx_exec_get_fusion(on, 2)->kind, MMX_FUSION_BIAS_RESIDUAL);
    ck_assert_ptr_null(mmx_exec_get_fusion(on, (int)train->len));
    ck_assert_int_eq(mmx_exec_n_fusions(off), 0);
    /* MMX_FUSE=0 is the default's switch. */
    ck_assert(mmx_fusion_default());
    g_setenv("MMX_FUSE", "0", TRUE);
    ck_assert(!mmx_fusion_default());
    g_autoptr(mmx_exec) env_off = mmx_exec_new(model, 4, true, &error);
    g_unsetenv("MMX_FUSE");
    ck_assert_int_eq(mmx_exec_n_fusions(env_off), 0);
    /* Sharing the residual gradient buffers never makes the plan larger. */
    ck_assert_int_le(mmx_exec_arena_bytes(on), mmx_exec_arena_bytes(off));
    ck_assert_int_eq(mmx_exec_arena_bytes(on), mmx_exec_estimate(f.graph, 4, true));
    unload(&f);
}
END_TEST

START_TEST(test_planner_leaves_what_it_may_not)
{
    fixture f;
    load_data(&f, "none.json");
    g_autoptr(GArray) train = mmx_fusion_plan(f.graph, true);
    g_autofree char *got = fusions_text(f.graph, train);
    /* The norm linear feeds two activations; the key linear has no bias; the depthwise conv
     * sums from its bias; softmax is not elementwise; the stem linear is read by a norm. Only
     * the adds' gradients are shared (the parallel sum's branches are read by it alone; the
     * residual's h is read before the value op as well, so both inputs share). */
    ck_assert_str_eq(got, "residual-gradient - -> blocks.0.parallel_sum (shared 3)\n"
                          "residual-gradient - -> blocks.2.residual (shared 3)\n");
    g_autoptr(GArray) infer = mmx_fusion_plan(f.graph, false);
    ck_assert_int_eq(infer->len, 0);
    unload(&f);
}
END_TEST

/* Forward, loss and backward with one executor from the parameters in `params`; the
 * logits, loss, gradients and parameters (batch-norm statistics) after it. */
typedef struct run {
    float *logits, *grads, *params;
    double loss;
} run;

static void
run_clear(run *r)
{
    g_free(r->logits);
    g_free(r->grads);
    g_free(r->params);
}

static run
run_once(fixture *f, mmx_model *model, const float *params, mmx_exec *ex, int64_t batch,
         bool training)
{
    g_autoptr(GError) error = NULL;
    int classes = mmx_spec_classes(f->spec);
    mmx_shape in = mmx_spec_input_shape(f->spec);
    memcpy(mmx_model_params(model), params, (size_t)mmx_model_n_total(model) * sizeof(float));
    mmx_test_fill(mmx_exec_input(ex), batch * mmx_shape_numel(&in), 7);
    ck_assert_msg(mmx_exec_forward(ex, batch, 42, &error), "%s", error ? error->message : "");
    g_autofree int32_t *labels = g_new(int32_t, batch);
    for (int64_t b = 0; b < batch; b++)
        labels[b] = (int32_t)((b * 7 + 3) % classes);
    run r = {.logits = g_memdup2(mmx_exec_output(ex), (size_t)(batch * classes) * sizeof(float))};
    if (training) {
        r.loss = mmx_softmax_xent(mmx_exec_output(ex), labels, batch, classes, 0.1,
                                  mmx_exec_output_grad(ex), NULL);
        ck_assert_msg(mmx_exec_backward(ex, batch, &error), "%s", error ? error->message : "");
        r.grads =
            g_memdup2(mmx_model_grads(model), (size_t)mmx_model_n_trainable(model) * sizeof(float));
    }
    r.params = g_memdup2(mmx_model_params(model), (size_t)mmx_model_n_total(model) * sizeof(float));
    return r;
}

/* The first parameter whose gradient differs, for the message. */
static const char *
first_difference(fixture *f, mmx_model *model, const float *a, const float *b)
{
    for (int p = 0; p < mmx_graph_n_params(f->graph); p++) {
        const float *g = mmx_model_grad(model, p);
        if (g == NULL)
            continue;
        size_t off = (size_t)(g - mmx_model_grads(model));
        size_t n = (size_t)mmx_shape_numel(&mmx_graph_get_param(f->graph, p)->info.shape);
        if (memcmp(a + off, b + off, n * sizeof(float)) != 0)
            return mmx_graph_get_param(f->graph, p)->name;
    }
    return "none";
}

/* Fused and unfused executors of one model give the same bits. */
static void
assert_same_bits(fixture *f, int64_t planned, const int64_t *batches, int n_batches)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_model) model = mmx_model_new(f->graph, 5, &error);
    ck_assert_ptr_nonnull(model);
    g_autofree float *params =
        g_memdup2(mmx_model_params(model), (size_t)mmx_model_n_total(model) * sizeof(float));
    int classes = mmx_spec_classes(f->spec);
    for (int mode = 0; mode < 2; mode++) {
        bool training = mode == 0;
        g_autoptr(mmx_exec) on = mmx_exec_new_full(model, planned, training, true, &error);
        g_autoptr(mmx_exec) off = mmx_exec_new_full(model, planned, training, false, &error);
        ck_assert_ptr_nonnull(on);
        ck_assert_ptr_nonnull(off);
        g_autoptr(GArray) planned_fusions = mmx_fusion_plan(f->graph, training);
        ck_assert_int_eq(mmx_exec_n_fusions(on), (int)planned_fusions->len);
        ck_assert_int_gt(mmx_exec_n_fusions(on), training ? 1 : -1);
        for (int k = 0; k < n_batches; k++) {
            int64_t batch = batches[k];
            run a = run_once(f, model, params, off, batch, training);
            run b = run_once(f, model, params, on, batch, training);
            ck_assert_msg(
                memcmp(a.logits, b.logits, (size_t)(batch * classes) * sizeof(float)) == 0,
                "%s batch %d: the logits differ", training ? "training" : "inference", (int)batch);
            ck_assert_msg(
                memcmp(a.params, b.params, (size_t)mmx_model_n_total(model) * sizeof(float)) == 0,
                "batch %d: the parameters or statistics differ after the step", (int)batch);
            if (training) {
                ck_assert_msg(memcmp(&a.loss, &b.loss, sizeof a.loss) == 0, "loss %.17g vs %.17g",
                              a.loss, b.loss);
                ck_assert_msg(memcmp(a.grads, b.grads,
                                     (size_t)mmx_model_n_trainable(model) * sizeof(float)) == 0,
                              "batch %d: gradient of %s differs", (int)batch,
                              first_difference(f, model, a.grads, b.grads));
            }
            run_clear(&a);
            run_clear(&b);
        }
    }
}

/* Each ISA level the CPU has: the tiles must take the same vector and tail paths as the
 * unfused chunks on every one. */
START_TEST(test_fused_equals_unfused_bitwise)
{
    static const char *const specs[] = {"all.json", "none.json"};
    /* 16 x 36 rows: three bias-gradient chunks of 256 rows, activations of 21312 floats
     * (two elementwise chunks, partial tiles, a vector tail); 7: odd, inside the plan. */
    const int64_t batches[] = {16, 7};
    for (int isa = MMX_ISA_SCALAR; isa <= (int)mmx_cpu_isa_detected(); isa++) {
        mmx_set_isa_cap((mmx_isa)isa);
        for (unsigned s = 0; s < G_N_ELEMENTS(specs); s++) {
            fixture f;
            load_data(&f, specs[s]);
            assert_same_bits(&f, 16, batches, 2);
            unload(&f);
        }
    }
}
END_TEST

/* The same relu three times from a fixture plugin (tests/fixtures/fixture-fuse-flags.c):
 * with MMX_OP_ELEMENTWISE after the stem, without flags and as an ABI 1.0 descriptor
 * (its flag lies past its struct_size) in the blocks, each after a biased linear. */
static const char *const spec_flags =
    "{\"mmx\": 1, \"name\": \"fuse-flags\", \"plugins\": [\"fuse_flags\"],"
    " \"input\": {\"shape\": [6, 6, 3], \"classes\": 5},"
    " \"stem\": [{\"op\": \"linear\", \"out\": 13, \"init\": \"torch\"},"
    "            {\"op\": \"fuse_flags.relu\"}],"
    " \"blocks\": [{\"norm\": {\"op\": \"layernorm\"}, \"mixer\": {\"value\": ["
    "   {\"op\": \"linear\", \"out\": 37, \"init\": \"torch\"},"
    "   {\"op\": \"fuse_flags.relu_noflags\"},"
    "   {\"op\": \"linear\", \"out\": 37, \"init\": \"torch\"},"
    "   {\"op\": \"fuse_flags.relu_v10\"},"
    "   {\"op\": \"linear\", \"out\": 13, \"bias\": false}]}}],"
    " \"head\": [{\"op\": \"mean_tokens\"}, {\"op\": \"linear\", \"out\": 5}]}";

static void
load_flags(fixture *f)
{
    f->reg = mmx_test_registry();
    g_autofree char *path = mmx_test_fixture("fuse-flags");
    g_autoptr(GError) error = NULL;
    ck_assert_msg(mmx_registry_load(f->reg, path, &error), "%s", error ? error->message : "");
    json_t *doc = json_loads(spec_flags, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    f->spec = mmx_spec_load_json(f->reg, doc, "fuse-flags.json", NULL, &error);
    json_decref(doc);
    ck_assert_msg(f->spec != NULL, "%s", error ? error->message : "");
    f->graph = mmx_graph_new(f->spec, &error);
    ck_assert_msg(f->graph != NULL, "%s", error ? error->message : "");
}

START_TEST(test_flags_decide_what_fuses)
{
    fixture f;
    load_flags(&f);
    g_autoptr(GArray) train = mmx_fusion_plan(f.graph, true);
    g_autofree char *got = fusions_text(f.graph, train);
    ck_assert_str_eq(got, "bias+activation stem.0 -> stem.1\n"
                          "residual-gradient - -> blocks.0.residual (shared 3)\n");
    unload(&f);
}
END_TEST

/* The third-party op's fusion gives the unfused bits, like the shipped ones. */
START_TEST(test_flags_fused_equals_unfused_bitwise)
{
    fixture f;
    load_flags(&f);
    const int64_t batches[] = {16, 7};
    assert_same_bits(&f, 16, batches, 2);
    unload(&f);
}
END_TEST

/* mmx info lists the plan, and nothing under MMX_FUSE=0. */
START_TEST(test_info_lists_fusions)
{
    g_autofree char *spec = mmx_test_data_path("specs/fuse/all.json");
    g_autofree char *out = NULL, *off = NULL;
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"info", spec, NULL}, &out, NULL), 0);
    ck_assert_contains(out, "MMX_FUSE=0 turns them off): 10\n");
    ck_assert_contains(out, "  bias+activation    blocks.1.mixer.key -> blocks.1.mixer.activation\n");
    ck_assert_contains(out, "  residual-gradient  blocks.2.residual (both inputs share its gradient)\n");
    g_setenv("MMX_FUSE", "0", TRUE);
    ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"info", spec, "--json", NULL}, &off, NULL), 0);
    g_unsetenv("MMX_FUSE");
    json_t *j = json_loads(off, 0, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(j, "fusions")), 0);
    json_decref(j);
}
END_TEST

static json_t *
train_zoo(const char *spec_name, bool fuse)
{
    g_autofree char *rel = g_strdup_printf("specs/models/%s", spec_name);
    g_autofree char *path = mmx_test_source_path(rel);
    /* A few steps on the synthetic set: 256 images, batch 32, one epoch. */
    const char *const ov[] = {"/train/data=\"synthetic:256:64\"", "/train/epochs=1",
                              "/train/batch=32", NULL};
    g_autoptr(mmx_registry) reg = mmx_test_registry();
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_spec) spec = mmx_spec_load(reg, path, ov, &error);
    ck_assert_msg(spec != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_graph) graph = mmx_graph_new(spec, &error);
    ck_assert_msg(graph != NULL, "%s", error ? error->message : "");
    mmx_train_config cfg;
    ck_assert(mmx_train_config_from_json(mmx_spec_train(spec), &cfg, &error));
    if (!fuse)
        g_setenv("MMX_FUSE", "0", TRUE);
    mmx_train_options opts = {0};
    json_t *result = NULL;
    bool ok = mmx_train_run(spec, graph, &cfg, &opts, &result, &error);
    g_unsetenv("MMX_FUSE");
    ck_assert_msg(ok, "%s: %s", spec_name, error ? error->message : "");
    mmx_train_config_clear(&cfg);
    return result;
}

/* The zoo's patterns (attention and FFN blocks, token-mixing MLPs, conv and batch-norm
 * residual blocks): the same losses and accuracies to the last bit with fusion on and off. */
START_TEST(test_zoo_trains_the_same_fused)
{
    static const char *const specs[] = {"vit.json", "mlp-mixer.json", "ffnet.json"};
    const char *spec = specs[_i];
    json_t *on = train_zoo(spec, true), *off = train_zoo(spec, false);
    const char *keys[] = {"train_loss", "train_acc", "test_loss", "test_acc"};
    for (unsigned k = 0; k < G_N_ELEMENTS(keys); k++) {
        double x = json_number_value(json_object_get(on, keys[k]));
        double y = json_number_value(json_object_get(off, keys[k]));
        ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "%s %s: %.17g fused vs %.17g unfused", spec,
                      keys[k], x, y);
    }
    ck_assert_int_eq(json_integer_value(json_object_get(on, "steps")), 8);
    json_decref(on);
    json_decref(off);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("fuse");
    TCase *tc = tcase_create("fuse");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_planner_fuses_what_it_may);
    tcase_add_test(tc, test_planner_leaves_what_it_may_not);
    tcase_add_test(tc, test_fused_equals_unfused_bitwise);
    tcase_add_test(tc, test_flags_decide_what_fuses);
    tcase_add_test(tc, test_flags_fused_equals_unfused_bitwise);
    tcase_add_test(tc, test_info_lists_fusions);
    tcase_add_loop_test(tc, test_zoo_trains_the_same_fused, 0, 3);
    suite_add_tcase(s, tc);
    return mmx_test_run(s);
}
