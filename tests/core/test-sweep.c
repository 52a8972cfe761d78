/* test-sweep.c: the sweep spec reader (every refusal and its message), the planner
 * (grid x seeds, zip, random, ablation, merge and JSON patches, the wildcard, constraints,
 * duplicates) against expected trial lists, and the coordinator through `mmx sweep` with a
 * stand-in trainer (tests/fixtures/fake-train.c): failures of every kind, resume, extend,
 * torn records, signals, kill -9 at random moments, Slurm tasks and collect, MPI. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"

#define EXPECTED_RANDOM_0 "lr=0.001527,k=4,op=softmax"

static const char base_spec[] =
    "{\"mmx\": 1, \"name\": \"tiny\", \"plugins\": [\"activation\", \"./my-gate.so\"],\n"
    " \"vars\": {\"dim\": 32, \"k\": 7},\n"
    " \"blocks\": {\"repeat\": 2, \"body\": [\n"
    "   {\"mixer\": {\"axis\": \"token\", \"activation\": {\"op\": \"softmax\"}}},\n"
    "   {\"mixer\": {\"axis\": \"channel\", \"activation\": {\"op\": \"gelu\"}}}]},\n"
    " \"fake\": {\"acc\": 0.8},\n"
    " \"train\": {\"epochs\": 2, \"batch\": 64}}\n";

static void
write_text(const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    ck_assert(g_file_set_contents(path, text, -1, NULL));
}

/* A folder with base.json and the sweep as sweep.json; returns the sweep's path. */
static char *
sweep_file(const char *dir, const char *sweep)
{
    write_text(dir, "base.json", base_spec);
    write_text(dir, "sweep.json", sweep);
    return g_build_filename(dir, "sweep.json", NULL);
}

static mmx_sweep_plan *
plan_of(const char *sweep_text)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = sweep_file(dir, sweep_text);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_sweep) sweep = mmx_sweep_load(path, &error);
    ck_assert_msg(sweep != NULL, "%s", error ? error->message : "");
    mmx_sweep_plan *plan = mmx_sweep_plan_new(sweep, &error);
    ck_assert_msg(plan != NULL, "%s", error ? error->message : "");
    return plan;
}

static char *
load_error(const char *sweep_text)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *path = sweep_file(dir, sweep_text);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_sweep) sweep = mmx_sweep_load(path, &error);
    ck_assert_msg(sweep == NULL, "expected a refusal of %s", sweep_text);
    ck_assert(error->domain == MMX_SWEEP_ERROR);
    /* Strip the folder: messages start with the path as given. */
    const char *m = strstr(error->message, "sweep.json:");
    return g_strdup(m ? m : error->message);
}

static json_t *
spec_at(const mmx_trial *t, const char *pointer)
{
    return mmx_json_pointer_get(t->spec, pointer);
}

/* ---- planner ---- */

START_TEST(test_plan_grid_seeds)
{
    g_autoptr(mmx_sweep_plan) plan =
        plan_of("{\"mmx_sweep\": 1, \"name\": \"g\", \"base\": \"base.json\", \"seeds\": [0, 1],\n"
                " \"train\": {\"epochs\": 1},\n"
                " \"grid\": {\"/train/lr\": [0.001, 0.002], \"/vars/dim\": [32, 64]}}");
    ck_assert_int_eq(mmx_sweep_plan_size(plan), 8);
    const char *labels[] = {"lr=0.001 dim=32", "lr=0.001 dim=64", "lr=0.002 dim=32",
                            "lr=0.002 dim=64"};
    for (int i = 0; i < 8; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        ck_assert_int_eq(t->index, i);
        ck_assert_str_eq(t->variant, labels[i % 4]);
        ck_assert_int_eq(t->seed, i / 4); /* seeds outermost */
        ck_assert_int_eq(t->state, MMX_TRIAL_RUN);
        ck_assert_int_eq(strlen(t->id), 16);
        ck_assert(t->baseline == (i % 4 == 0));
        /* train merged into /train, the rest of /train kept */
        ck_assert_int_eq(json_integer_value(spec_at(t, "/train/epochs")), 1);
        ck_assert_int_eq(json_integer_value(spec_at(t, "/train/batch")), 64);
        ck_assert_double_eq(json_number_value(spec_at(t, "/train/lr")), i % 4 < 2 ? 0.001 : 0.002);
        ck_assert_int_eq(json_integer_value(spec_at(t, "/vars/dim")), i % 2 ? 64 : 32);
        const mmx_trial *same = mmx_sweep_plan_trial(plan, (i + 4) % 8);
        ck_assert_str_eq(t->config, same->config); /* the same variant at the other seed */
        ck_assert_str_ne(t->id, same->id);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(t->id, mmx_sweep_plan_trial(plan, j)->id);
    }
    const mmx_trial *t = mmx_sweep_plan_trial(plan, 3);
    g_autofree char *ov = mmx_json_canonical(t->overrides);
    ck_assert_str_eq(ov, "{\"/train/lr\":0.002,\"/vars/dim\":64}");
}
END_TEST

/* A base without /train trains with the defaults: grid axes can still address /train. */
START_TEST(test_plan_base_without_train)
{
    g_autofree char *dir = mmx_test_tmpdir();
    write_text(dir, "bare.json",
               "{\"mmx\": 1, \"name\": \"bare\", \"blocks\": {\"repeat\": 1, \"body\": [\n"
               "   {\"mixer\": {\"axis\": \"channel\", \"activation\": {\"op\": \"gelu\"}}}]}}\n");
    write_text(dir, "sweep.json",
               "{\"mmx_sweep\": 1, \"name\": \"b\", \"base\": \"bare.json\",\n"
               " \"grid\": {\"/train/lr\": [0.001, 0.002]}}");
    g_autofree char *path = g_build_filename(dir, "sweep.json", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_sweep) sweep = mmx_sweep_load(path, &error);
    ck_assert_msg(sweep != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_sweep_plan) plan = mmx_sweep_plan_new(sweep, &error);
    ck_assert_msg(plan != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(mmx_sweep_plan_size(plan), 2);
    for (int i = 0; i < 2; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        ck_assert_msg(t->state == MMX_TRIAL_RUN, "%s",
                      t->reason ? t->reason : "");
        ck_assert_double_eq(json_number_value(spec_at(t, "/train/lr")), i ? 0.002 : 0.001);
        ck_assert_int_eq(json_object_size(mmx_json_pointer_get(t->spec, "/train")), 1);
    }
}
END_TEST

/* A doc edit keeps the trial ids and the sweep fingerprint: both hash specs without their
 * doc strings. */
START_TEST(test_plan_ids_ignore_docs)
{
    const char *sweep = "{\"mmx_sweep\": 1, \"name\": \"d\", \"base\": \"base.json\",\n"
                        " \"grid\": {\"/vars/dim\": [32, 64]}}";
    char *ids[2][2], *fps[2];
    for (int v = 0; v < 2; v++) {
        g_autofree char *dir = mmx_test_tmpdir();
        g_autofree char *path = sweep_file(dir, sweep);
        if (v == 1) {
            g_autofree char *bpath = g_build_filename(dir, "base.json", NULL);
            g_autoptr(json_t) base = mmx_json_read(bpath, NULL);
            json_object_set_new(base, "doc", json_string("A doc written later."));
            g_autofree char *text = json_dumps(base, JSON_INDENT(2));
            write_text(dir, "base.json", text);
        }
        g_autoptr(GError) error = NULL;
        g_autoptr(mmx_sweep) s = mmx_sweep_load(path, &error);
        ck_assert_msg(s != NULL, "%s", error ? error->message : "");
        g_autoptr(mmx_sweep_plan) plan = mmx_sweep_plan_new(s, &error);
        ck_assert_msg(plan != NULL, "%s", error ? error->message : "");
        for (int i = 0; i < 2; i++)
            ids[v][i] = g_strdup(mmx_sweep_plan_trial(plan, i)->id);
        /* the sweep's fingerprint too: a doc edit resumes as the same sweep */
        fps[v] = g_strdup(mmx_sweep_plan_fingerprint(plan));
    }
    ck_assert_str_eq(fps[0], fps[1]);
    g_free(fps[0]);
    g_free(fps[1]);
    for (int i = 0; i < 2; i++) {
        ck_assert_str_eq(ids[0][i], ids[1][i]);
        g_free(ids[0][i]);
        g_free(ids[1][i]);
    }
}
END_TEST

START_TEST(test_plan_ids_are_canonical)
{
    /* The same sweep written with its keys in another order gives the same ids. */
    g_autoptr(mmx_sweep_plan) a =
        plan_of("{\"mmx_sweep\": 1, \"base\": \"base.json\", \"grid\": {\"/vars/dim\": [16]}}");
    g_autoptr(mmx_sweep_plan) b =
        plan_of("{\"grid\": {\"/vars/dim\": [16]}, \"base\": \"base.json\", \"mmx_sweep\": 1}");
    ck_assert_str_eq(mmx_sweep_plan_trial(a, 0)->id, mmx_sweep_plan_trial(b, 0)->id);
    /* id = sha256(canonical spec + "\nseed=0") truncated */
    const mmx_trial *t = mmx_sweep_plan_trial(a, 0);
    g_autofree char *c = mmx_json_canonical(t->spec);
    g_autofree char *key = g_strdup_printf("%s\nseed=0", c);
    g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, key, -1);
    ck_assert_int_eq(strncmp(sum, t->id, 16), 0);
    ck_assert_str_eq(mmx_sweep_plan_name(a), "sweep"); /* the file name without .json */
}
END_TEST

START_TEST(test_plan_zip)
{
    g_autoptr(mmx_sweep_plan) plan =
        plan_of("{\"mmx_sweep\": 1, \"base\": \"base.json\",\n"
                " \"zip\": {\"/vars/k\": [3, 5, 7], \"/vars/dim\": [16, 32, 48]}}");
    ck_assert_int_eq(mmx_sweep_plan_size(plan), 3);
    const char *labels[] = {"k=3,dim=16", "k=5,dim=32", "k=7,dim=48"};
    for (int i = 0; i < 3; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        ck_assert_str_eq(t->variant, labels[i]);
        ck_assert_int_eq(json_integer_value(spec_at(t, "/vars/k")), 3 + 2 * i);
        ck_assert_int_eq(json_integer_value(spec_at(t, "/vars/dim")), 16 * (i + 1));
    }
}
END_TEST

START_TEST(test_plan_random)
{
    const char *text =
        "{\"mmx_sweep\": 1, \"base\": \"base.json\",\n"
        " \"random\": {\"n\": 6, \"sampler_seed\": 7, \"axes\": {\n"
        "   \"/train/lr\": {\"min\": 1e-4, \"max\": 1e-2, \"log\": true},\n"
        "   \"/vars/k\": {\"min\": 3, \"max\": 9, \"int\": true},\n"
        "   \"/blocks/body/0/mixer/activation/op\": [\"softmax\", \"gelu\", \"relu\"]}}}";
    g_autoptr(mmx_sweep_plan) a = plan_of(text);
    g_autoptr(mmx_sweep_plan) b = plan_of(text);
    ck_assert_int_eq(mmx_sweep_plan_size(a), 6);
    bool seen_op[3] = {false, false, false};
    for (int i = 0; i < 6; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(a, i);
        ck_assert_str_eq(t->id, mmx_sweep_plan_trial(b, i)->id); /* same sampler seed */
        double lr = json_number_value(spec_at(t, "/train/lr"));
        ck_assert(lr >= 1e-4 && lr <= 1e-2);
        json_t *k = spec_at(t, "/vars/k");
        ck_assert(json_is_integer(k));
        ck_assert(json_integer_value(k) >= 3 && json_integer_value(k) <= 9);
        const char *op = json_string_value(spec_at(t, "/blocks/body/0/mixer/activation/op"));
        seen_op[0] |= strcmp(op, "softmax") == 0;
        seen_op[1] |= strcmp(op, "gelu") == 0;
        seen_op[2] |= strcmp(op, "relu") == 0;
        g_autofree char *want =
            g_strdup_printf("lr=%.4g,k=%d,op=%s", lr, (int)json_integer_value(k), op);
        ck_assert_str_eq(t->variant, want);
    }
    ck_assert(seen_op[0] || seen_op[1] || seen_op[2]);
    /* The expected list for sampler_seed 7 (Philox-based, the same on every machine). */
    ck_assert_str_eq(mmx_sweep_plan_trial(a, 0)->variant, EXPECTED_RANDOM_0);
    /* Another sampler seed, other samples. */
    g_autofree char *other = g_strdup(text);
    strstr(other, "\"sampler_seed\": 7")[16] = '8';
    g_autoptr(mmx_sweep_plan) c = plan_of(other);
    ck_assert_str_ne(mmx_sweep_plan_trial(a, 0)->id, mmx_sweep_plan_trial(c, 0)->id);
}
END_TEST

START_TEST(test_plan_ablation)
{
    g_autoptr(mmx_sweep_plan) plan =
        plan_of("{\"mmx_sweep\": 1, \"base\": \"base.json\", \"seeds\": [3],\n"
                " \"ablation\": {\"baseline\": {\"/vars/k\": 5},\n"
                "   \"changes\": {\"gelu\": {\"/blocks/body/0/mixer/activation/op\": \"gelu\"},\n"
                "                 \"big-k\": {\"/vars/k\": 9, \"/vars/dim\": 48}}}}");
    ck_assert_int_eq(mmx_sweep_plan_size(plan), 3);
    const mmx_trial *b = mmx_sweep_plan_trial(plan, 0), *g = mmx_sweep_plan_trial(plan, 1),
                    *k = mmx_sweep_plan_trial(plan, 2);
    ck_assert_str_eq(b->variant, "baseline");
    ck_assert_str_eq(g->variant, "gelu");
    ck_assert_str_eq(k->variant, "big-k");
    ck_assert(b->baseline && !g->baseline && !k->baseline);
    ck_assert_int_eq(b->seed, 3);
    /* One change at a time on top of the baseline. */
    ck_assert_int_eq(json_integer_value(spec_at(b, "/vars/k")), 5);
    ck_assert_str_eq(json_string_value(spec_at(b, "/blocks/body/0/mixer/activation/op")),
                     "softmax");
    ck_assert_int_eq(json_integer_value(spec_at(g, "/vars/k")), 5);
    ck_assert_str_eq(json_string_value(spec_at(g, "/blocks/body/0/mixer/activation/op")), "gelu");
    ck_assert_int_eq(json_integer_value(spec_at(k, "/vars/k")), 9);
    ck_assert_int_eq(json_integer_value(spec_at(k, "/vars/dim")), 48);
    ck_assert_str_eq(json_string_value(spec_at(k, "/blocks/body/0/mixer/activation/op")),
                     "softmax");
    g_autofree char *ov = mmx_json_canonical(g->overrides);
    ck_assert_str_eq(ov, "{\"/blocks/body/0/mixer/activation/op\":\"gelu\",\"/vars/k\":5,"
                         "\"ablation\":\"gelu\"}");
}
END_TEST

START_TEST(test_plan_variants_patches)
{
    g_autoptr(mmx_sweep_plan) plan = plan_of(
        "{\"mmx_sweep\": 1, \"base\": \"base.json\",\n"
        " \"variants\": {\n"
        "   \"wide\": {\"merge\": {\"vars\": {\"dim\": 128, \"k\": null}}},\n"
        "   \"swap\": {\"patch\": [\n"
        "      {\"op\": \"test\", \"path\": \"/blocks/body/0/mixer/axis\", \"value\": \"token\"},\n"
        "      {\"op\": \"replace\", \"path\": \"/blocks/body/0/mixer\", \"value\": {\"op\": "
        "\"pool\"}},\n"
        "      {\"op\": \"copy\", \"from\": \"/blocks/body/1\", \"path\": \"/blocks/body/-\"},\n"
        "      {\"op\": \"move\", \"from\": \"/vars/k\", \"path\": \"/vars/kernel\"},\n"
        "      {\"op\": \"remove\", \"path\": \"/fake\"},\n"
        "      {\"op\": \"add\", \"path\": \"/blocks/body/0\", \"value\": {\"norm\": {}}}]},\n"
        "   \"bad\": {\"patch\": [{\"op\": \"test\", \"path\": \"/vars/dim\", \"value\": 1}]},\n"
        "   \"baseline\": {\"set\": {\"/vars/dim\": 32}}}}");
    ck_assert_int_eq(mmx_sweep_plan_size(plan), 4);
    const mmx_trial *w = mmx_sweep_plan_trial(plan, 0), *s = mmx_sweep_plan_trial(plan, 1),
                    *bad = mmx_sweep_plan_trial(plan, 2), *base = mmx_sweep_plan_trial(plan, 3);
    ck_assert_int_eq(json_integer_value(spec_at(w, "/vars/dim")), 128);
    ck_assert_ptr_null(spec_at(w, "/vars/k")); /* null removes (RFC 7396) */
    ck_assert_str_eq(json_string_value(spec_at(s, "/blocks/body/1/mixer/op")), "pool");
    ck_assert_ptr_nonnull(spec_at(s, "/blocks/body/0/norm"));
    ck_assert_int_eq(json_array_size(spec_at(s, "/blocks/body")), 4);
    ck_assert_str_eq(json_string_value(spec_at(s, "/blocks/body/3/mixer/axis")), "channel");
    ck_assert_int_eq(json_integer_value(spec_at(s, "/vars/kernel")), 7);
    ck_assert_ptr_null(spec_at(s, "/vars/k"));
    ck_assert_ptr_null(spec_at(s, "/fake"));
    ck_assert_int_eq(bad->state, MMX_TRIAL_INVALID);
    ck_assert_str_eq(bad->reason, "variant 'bad': JSON patch operation 0 (test /vars/dim): test "
                                  "failed: expected 1, found 32");
    /* Without an ablation, the variant named baseline is the baseline. */
    ck_assert(base->baseline && !w->baseline && !s->baseline);
}
END_TEST

START_TEST(test_plan_variant_bases)
{
    /* A variant may start from another model spec (mixers at a matched budget). */
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *sub = g_build_filename(dir, "models", NULL);
    g_mkdir_with_parents(sub, 0755);
    write_text(sub, "other.json",
               "{\"mmx\": 1, \"name\": \"other\", \"plugins\": [\"./x.so\"], "
               "\"vars\": {\"dim\": 8}, \"train\": {\"lr\": 1}}");
    g_autofree char *path = sweep_file(
        dir, "{\"mmx_sweep\": 1, \"base\": \"base.json\", \"train\": {\"epochs\": 1},\n"
             " \"variants\": {\"same\": {\"set\": {\"/vars/dim\": 8}},\n"
             "   \"other\": {\"base\": \"models/other.json\", \"set\": {\"/vars/dim\": 16}}}}");
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_sweep) sweep = mmx_sweep_load(path, &error);
    ck_assert_msg(sweep != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_sweep_plan) plan = mmx_sweep_plan_new(sweep, &error);
    const mmx_trial *same = mmx_sweep_plan_trial(plan, 0), *other = mmx_sweep_plan_trial(plan, 1);
    ck_assert_str_eq(json_string_value(spec_at(same, "/name")), "tiny");
    ck_assert_str_eq(json_string_value(spec_at(other, "/name")), "other");
    ck_assert_int_eq(json_integer_value(spec_at(other, "/vars/dim")), 16);
    ck_assert_int_eq(json_integer_value(spec_at(other, "/train/epochs")), 1); /* train merged */
    ck_assert_int_eq(json_integer_value(spec_at(other, "/train/lr")), 1);
    g_autofree char *other_path = g_build_filename(sub, "other.json", NULL);
    ck_assert_str_eq(other->base_path, other_path);
    g_autoptr(json_t) file = mmx_sweep_trial_spec_for_file(plan, other);
    g_autofree char *want = g_build_filename(sub, "x.so", NULL);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(file, "plugins"), 0)), want);
    g_autofree char *ov = mmx_json_canonical(other->overrides);
    ck_assert_str_eq(ov, "{\"/vars/dim\":16,\"base\":\"models/other.json\",\"variant\":\"other\"}");
    /* A variant base that cannot be read. */
    write_text(dir, "sweep.json",
               "{\"mmx_sweep\": 1, \"base\": \"base.json\",\n"
               " \"variants\": {\"gone\": {\"base\": \"models/gone.json\"}}}");
    g_clear_error(&error);
    g_autoptr(mmx_sweep) bad = mmx_sweep_load(path, &error);
    ck_assert_ptr_null(bad);
    ck_assert_contains(error->message, "sweep.json:2:32: /variants/gone/base: cannot read the base "
                                       "model spec");
}
END_TEST

START_TEST(test_plan_wildcard_and_invalid)
{
    g_autoptr(mmx_sweep_plan) plan =
        plan_of("{\"mmx_sweep\": 1, \"base\": \"base.json\",\n"
                " \"grid\": {\"/blocks/body/*/mixer/activation/op\": [\"relu\"],\n"
                "          \"/vars/dmi\": [1]}, \n"
                " \"variants\": {\"ok\": {\"set\": {\"/vars/x\": 1}},\n"
                "              \"nope\": {\"set\": {\"/blocks/body/5/mixer\": 1}},\n"
                "              \"deep\": {\"set\": {\"/vars/dim/x\": 1}},\n"
                "              \"noparent\": {\"set\": {\"/vars/dmi2/x\": 1}}}}");
    ck_assert_int_eq(mmx_sweep_plan_size(plan), 4);
    const mmx_trial *t = mmx_sweep_plan_trial(plan, 0);
    ck_assert_int_eq(t->state, MMX_TRIAL_RUN);
    ck_assert_str_eq(json_string_value(spec_at(t, "/blocks/body/0/mixer/activation/op")), "relu");
    ck_assert_str_eq(json_string_value(spec_at(t, "/blocks/body/1/mixer/activation/op")), "relu");
    ck_assert_int_eq(json_integer_value(spec_at(t, "/vars/dmi")), 1); /* new member: added */
    ck_assert_str_eq(t->variant, "ok op=relu dmi=1");
    ck_assert_int_eq(mmx_sweep_plan_trial(plan, 1)->state, MMX_TRIAL_INVALID);
    ck_assert_str_eq(mmx_sweep_plan_trial(plan, 1)->reason,
                     "variant 'nope': cannot set /blocks/body/5/mixer: /blocks/body is an array "
                     "of 2 elements: '5' is not an index in it (use 0 to 1, or * for every "
                     "element)");
    ck_assert_str_eq(mmx_sweep_plan_trial(plan, 2)->reason,
                     "variant 'deep': cannot set /vars/dim/x: /vars/dim is a number, not an "
                     "object or array: it has no 'x'");
    ck_assert_str_eq(mmx_sweep_plan_trial(plan, 3)->reason,
                     "variant 'noparent': cannot set /vars/dmi2/x: /vars has no member 'dmi2' "
                     "(did you mean 'dim'?) (its members: dim, k)");
}
END_TEST

static bool
measure_dim(const json_t *spec, const char *base_path, int64_t *params, double *flops, void *user,
            GError **error)
{
    (void)base_path;
    int *calls = user;
    (*calls)++;
    json_int_t dim = json_integer_value(mmx_json_pointer_get((json_t *)spec, "/vars/dim"));
    if (dim == 0) {
        g_set_error(error, MMX_SWEEP_ERROR, MMX_SWEEP_ERROR_INVALID,
                    "blocks.0.mixer: shape mismatch");
        return false;
    }
    *params = dim * 1000;
    *flops = (double)dim * 1e6;
    return true;
}

START_TEST(test_plan_constraints_duplicates)
{
    g_autoptr(mmx_sweep_plan) plan =
        plan_of("{\"mmx_sweep\": 1, \"base\": \"base.json\", \"seeds\": [0, 1],\n"
                " \"grid\": {\"/vars/dim\": [32, 64, 32, 0, 40]},\n"
                " \"constraints\": {\"max_params\": 50000, \"max_flops\": 3.5e7}}");
    ck_assert_int_eq(mmx_sweep_plan_size(plan), 10);
    int calls = 0;
    mmx_sweep_plan_measure(plan, measure_dim, &calls);
    ck_assert_int_eq(calls, 4); /* once per distinct resolved spec */
    const mmx_trial *t = mmx_sweep_plan_trial(plan, 0);
    ck_assert_int_eq(t->state, MMX_TRIAL_RUN);
    ck_assert(t->measured);
    ck_assert_int_eq(t->params, 32000);
    ck_assert_double_eq(t->flops, 3.2e7);
    t = mmx_sweep_plan_trial(plan, 1);
    ck_assert_int_eq(t->state, MMX_TRIAL_SKIPPED);
    ck_assert_str_eq(t->reason, "params 64,000 over max_params 50,000");
    t = mmx_sweep_plan_trial(plan, 2);
    ck_assert_int_eq(t->state, MMX_TRIAL_DUPLICATE);
    ck_assert_str_eq(t->id, mmx_sweep_plan_trial(plan, 0)->id);
    g_autofree char *dup =
        g_strdup_printf("same resolved spec and seed as trial 0 (%s, dim=32)", t->id);
    ck_assert_str_eq(t->reason, dup);
    t = mmx_sweep_plan_trial(plan, 3);
    ck_assert_int_eq(t->state, MMX_TRIAL_INVALID);
    ck_assert_str_eq(t->reason, "blocks.0.mixer: shape mismatch");
    t = mmx_sweep_plan_trial(plan, 4);
    ck_assert_int_eq(t->state, MMX_TRIAL_SKIPPED);
    ck_assert_str_eq(t->reason, "FLOPs 4e+07 over max_flops 3.5e+07");
    ck_assert_int_eq(mmx_sweep_plan_count(plan, MMX_TRIAL_RUN), 2);
    ck_assert_int_eq(mmx_sweep_plan_trial(plan, 5)->state, MMX_TRIAL_RUN);

    /* Constraints with nothing to measure: refused, with the reason. */
    g_autoptr(mmx_sweep_plan) p2 = plan_of(
        "{\"mmx_sweep\": 1, \"base\": \"base.json\", \"constraints\": {\"max_params\": 1}}");
    mmx_sweep_plan_measure(p2, NULL, NULL);
    ck_assert_int_eq(mmx_sweep_plan_trial(p2, 0)->state, MMX_TRIAL_INVALID);
    ck_assert_contains(mmx_sweep_plan_trial(p2, 0)->reason, "nothing measures params");
}
END_TEST

START_TEST(test_plan_spec_for_file)
{
    g_autoptr(mmx_sweep_plan) plan = plan_of("{\"mmx_sweep\": 1, \"base\": \"base.json\"}");
    const mmx_trial *t = mmx_sweep_plan_trial(plan, 0);
    ck_assert_str_eq(t->variant, "base");
    g_autoptr(json_t) spec = mmx_sweep_trial_spec_for_file(plan, t);
    json_t *plugins = json_object_get(spec, "plugins");
    ck_assert_str_eq(json_string_value(json_array_get(plugins, 0)), "activation");
    g_autofree char *dir = g_path_get_dirname(mmx_sweep_plan_base_path(plan));
    g_autofree char *want = g_build_filename(dir, "my-gate.so", NULL);
    ck_assert_str_eq(json_string_value(json_array_get(plugins, 1)), want);
    /* The id does not depend on where the sweep lives. */
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(t->spec, "plugins"), 1)),
                     "./my-gate.so");
}
END_TEST

/* ---- rejected sweep specs ---- */

typedef struct bad_case {
    const char *text;
    const char *message;
} bad_case;

static const bad_case bad_cases[] = {
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\",}",
     "sweep.json:1:38: /: string or '}' expected near '}'"},
    {"{\"base\": \"base.json\"}", "sweep.json:1:1: /: missing key 'mmx_sweep' (the sweep format "
                                  "version: 1)"},
    {"{\"mmx_sweep\": 2, \"base\": \"base.json\"}",
     "sweep.json:1:15: /mmx_sweep: unsupported sweep format version; this mmx reads version 1"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\",\n \"grd\": {}}",
     "sweep.json:2:9: /grd: unknown key 'grd' in a sweep spec (did you mean 'grid'?); expected "
     "one of: mmx_sweep, name, doc, base, train, seeds, grid, zip, random, ablation, variants, "
     "constraints, prune, floors"},
    {"{\"mmx_sweep\": 1}", "sweep.json:1:1: /: missing key 'base' (the model spec to vary, "
                           "relative to this file)"},
    {"{\"mmx_sweep\": 1, \"base\": \"nowhere.json\"}", "/base: cannot read the base model spec"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"seeds\": [0, -1, 0]}",
     "sweep.json:1:52: /seeds/1: a seed is a non-negative integer, got -1"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"seeds\": [0, 1, 0]}",
     "sweep.json:1:55: /seeds/2: seed 0 is listed twice"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"seeds\": []}",
     "/seeds: expected a non-empty array of integers, got an empty array"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"grid\": {\"train/lr\": [1], \"/a\": 3, "
     "\"/b\": []}}",
     "/grid/train~1lr: 'train/lr' is not a JSON Pointer: it must start with '/' (e.g. "
     "\"/train/lr\")"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"grid\": {\"/a\": 3}}",
     "sweep.json:1:54: /grid/~1a: expected an array of values, got an integer"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"grid\": {\"/b\": []}}",
     "/grid/~1b: expected at least one value"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"grid\": {\"/a~2\": [1]}}",
     "/grid/~1a~02: '/a~2' is not a JSON Pointer: '~' must be followed by 0 or 1"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"zip\": {\"/a\": [1, 2], \"/b\": [1]}}",
     "/zip/~1b: zip axes move together: 1 values here, 2 in '/a'"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"random\": {\"n\": 3, \"axes\": {\"/a\": "
     "[1]}}}",
     "/random: missing key 'sampler_seed' (samples are drawn from it, so the plan is the same "
     "every time)"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"random\": {\"n\": 0, \"sampler_seed\": 1, "
     "\"axes\": {\"/a\": {\"min\": 2, \"max\": 1}, \"/b\": {\"min\": 0, \"max\": 1, \"log\": "
     "true}, \"/c\": 4}}}",
     "/random/n: expected an integer from 1 to 100000"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"random\": {\"n\": 1, \"sampler_seed\": 1, "
     "\"axes\": {\"/a\": {\"min\": 2, \"max\": 1}}}}",
     "/random/axes/~1a: range min 2 is above max 1"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"random\": {\"n\": 1, \"sampler_seed\": 1, "
     "\"axes\": {\"/b\": {\"min\": 0, \"max\": 1, \"log\": true}}}}",
     "/random/axes/~1b: a log range needs min > 0, got 0"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"random\": {\"n\": 1, \"sampler_seed\": 1, "
     "\"axes\": {\"/c\": 4}}}",
     "/random/axes/~1c: expected a list of values or a range {\"min\", \"max\", \"log\", "
     "\"int\"}, got an integer"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"ablation\": {\"baseline\": {}, \"changes\": "
     "{}}}",
     "/ablation/changes: expected an object of name -> {JSON Pointer: value} with at least one "
     "change"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"ablation\": {\"changes\": {\"baseline\": "
     "{\"/a\": 1}}}}",
     "/ablation/changes/baseline: 'baseline' is the name of the unchanged variant; pick another "
     "name"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"ablation\": {\"changes\": {\"x y\": {}}}}",
     "/ablation/changes/x y: change name 'x y': use letters, digits and . _ - + = only\n"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"variants\": {\"v\": {\"merge\": {}, "
     "\"patch\": []}}}",
     "/variants/v: a variant has one of \"merge\", \"patch\" or \"set\", not several"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"variants\": {\"v\": {\"patch\": [{\"op\": "
     "\"repalce\", \"path\": \"/a\", \"value\": 1}]}}}",
     "/variants/v/patch/0: unknown JSON patch op 'repalce' (did you mean 'replace'?); expected "
     "add, remove, replace, move, copy or test"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"variants\": {\"v\": {\"patch\": [{\"op\": "
     "\"add\", \"path\": \"/a\"}]}}}",
     "/variants/v/patch/0: JSON patch op 'add' needs a 'value'"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"variants\": {\"v\": {\"doc\": \"x\"}}}",
     "/variants/v: a variant needs \"base\", \"merge\", \"patch\" or \"set\""},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"constraints\": {\"max_params\": -1, "
     "\"max_flop\": 1}}",
     "/constraints/max_flop: unknown key 'max_flop' in constraints (did you mean 'max_flops'?)"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"constraints\": {\"max_params\": -1}}",
     "/constraints/max_params: expected a positive number"},
    {"[1, 2]", "sweep.json:1:1: /: a sweep spec is a JSON object, got an array"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"name\": \"a b\"}",
     "/name: sweep name 'a b': use letters, digits and . _ - + = only"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"train\": 3}",
     "/train: expected an object of training settings, got an integer"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"doc\": \"caf\xc3\"}",
     "sweep.json:1:50: /: the file is not valid UTF-8"},
    /* prune (base_spec trains 2 epochs) */
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"floors\": \"yes\"}",
     "/floors: expected true (add the identity and random token mixer floor baselines) or "
     "false, got a string"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": 3}",
     "sweep.json:1:48: /prune: expected an object {\"rule\": \"median\" | \"asha\", \"metric\", "
     "...}, got an integer"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"metric\": \"test_acc\"}}",
     "sweep.json:1:48: /prune: missing key 'rule' (\"median\" or \"asha\")"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": 3, \"metric\": "
     "\"test_acc\"}}",
     "/prune/rule: expected \"median\" or \"asha\", got an integer"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"medain\", \"metric\": "
     "\"test_acc\"}}",
     "sweep.json:1:57: /prune/rule: unknown pruning rule 'medain' (did you mean 'median'?); "
     "expected \"median\" or \"asha\""},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\"}}",
     "/prune: missing key 'metric' (a figure of each epoch's metrics.jsonl line, e.g. "
     "\"test_acc\")"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": "
     "\"test_accuracy\"}}",
     "/prune/metric: 'test_accuracy' is not a metric of metrics.jsonl (did you mean "
     "'test_acc'?); expected one of: test_acc, test_loss, val_acc, val_loss, val_bpb, val_ppl, "
     "train_acc, train_loss"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": 3}}",
     "/prune/metric: an integer is not a metric of metrics.jsonl; expected one of: test_acc"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": "
     "\"test_acc\", \"grace\": \"1\"}}",
     "/prune/grace: expected an integer epoch from 1 (the first decision comes after it), got "
     "a string"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": "
     "\"test_acc\", \"direction\": \"up\"}}",
     "/prune/direction: expected \"max\" (higher is better) or \"min\", got up"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": "
     "\"test_acc\", \"grace\": 0}}",
     "/prune/grace: expected an integer epoch from 1 (the first decision comes after it), got "
     "a smaller one"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": "
     "\"test_acc\", \"grace\": 2}}",
     "/prune/grace: the first decision comes after epoch 2, but the trials train 2 epochs: "
     "nothing would be pruned; lower grace or train longer"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"median\", \"metric\": "
     "\"test_acc\", \"eta\": 3}}",
     "/prune/eta: 'eta' is a setting of the asha rule, not of median"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": "
     "\"test_acc\", \"eta\": 1}}",
     "/prune/eta: expected an integer from 2 to 100 (1/eta of a rung goes on), got one outside"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": "
     "\"test_acc\", \"startup\": 3}}",
     "/prune/startup: 'startup' is a setting of the median rule, not of asha"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"median\", \"metric\": "
     "\"test_acc\", \"startup\": -1}}",
     "/prune/startup: expected a non-negative integer (completed variants before pruning "
     "starts), got a negative one"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": "
     "\"test_acc\", \"min_epochs\": 1}}",
     "/prune/min_epochs: unknown key 'min_epochs' in prune; expected one of: rule, metric, "
     "direction, grace, eta, startup, doc"},
    {"{\"mmx_sweep\": 1, \"base\": \"base.json\", \"prune\": {\"rule\": \"asha\", \"metric\": "
     "\"test_acc\", \"doc\": 1}}",
     "/prune/doc: expected a string, got an integer"},
};

START_TEST(test_rejected_inputs)
{
    for (size_t i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_autofree char *msg = load_error(bad_cases[i].text);
        ck_assert_msg(strstr(msg, bad_cases[i].message) != NULL,
                      "case %zu: expected \"%s\" in:\n%s", i, bad_cases[i].message, msg);
    }
}
END_TEST

START_TEST(test_all_errors_collected)
{
    g_autofree char *msg = load_error("{\"mmx_sweep\": 1, \"base\": \"base.json\",\n"
                                      " \"seeds\": \"x\",\n"
                                      " \"grid\": {\"/a\": 1},\n"
                                      " \"extra\": true}");
    g_auto(GStrv) lines = g_strsplit(msg, "\n", -1);
    ck_assert_int_eq(g_strv_length(lines), 3);
    ck_assert_contains(lines[0], "sweep.json:4:11: /extra: unknown key 'extra'");
    ck_assert_contains(lines[1], "sweep.json:2:11: /seeds: expected a non-empty array");
    ck_assert_contains(lines[2], "sweep.json:3:17: /grid/~1a: expected an array of values");
}
END_TEST

START_TEST(test_base_spec_broken)
{
    g_autofree char *dir = mmx_test_tmpdir();
    write_text(dir, "bad.json", "{\"mmx\": 1,\n \"name\": }");
    write_text(dir, "sweep.json", "{\"mmx_sweep\": 1, \"base\": \"bad.json\"}");
    g_autofree char *path = g_build_filename(dir, "sweep.json", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_sweep) sweep = mmx_sweep_load(path, &error);
    ck_assert_ptr_null(sweep);
    ck_assert_contains(error->message, "sweep.json:1:26: /base: cannot read the base model spec");
    ck_assert_contains(error->message, "bad.json:2:10: unexpected token near '}'");
}
END_TEST

/* ---- the coordinator, through `mmx sweep` with the stand-in trainer ---- */

START_TEST(test_shipped_sweeps)
{
    /* specs/sweeps/: every file is a well-formed sweep spec; with the zoo in place they
     * plan without an invalid trial. Before the zoo lands, the only problems allowed are
     * the missing base specs. */
    const char *names[] = {"ffnification.json", "symmetry.json", "mixers.json", "lr-asha.json"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *rel = g_build_filename("specs", "sweeps", names[i], NULL);
        g_autofree char *path = mmx_test_source_path(rel);
        g_autoptr(GError) error = NULL;
        g_autoptr(mmx_sweep) sweep = mmx_sweep_load(path, &error);
        if (sweep == NULL) {
            g_auto(GStrv) lines = g_strsplit(error->message, "\n", -1);
            for (char **l = lines; *l; l++)
                ck_assert_msg(strstr(*l, "cannot read the base model spec") != NULL, "%s: %s",
                              names[i], *l);
            printf("# %s: the zoo is not there yet: %s\n", names[i], lines[0]);
            continue;
        }
        g_autoptr(mmx_sweep_plan) plan = mmx_sweep_plan_new(sweep, &error);
        ck_assert_ptr_nonnull(plan);
        for (int t = 0; t < mmx_sweep_plan_size(plan); t++) {
            const mmx_trial *tr = mmx_sweep_plan_trial(plan, t);
            ck_assert_msg(tr->state != MMX_TRIAL_INVALID, "%s trial %d: %s", names[i], t,
                          tr->reason);
        }
    }
}
END_TEST

/* A valid model spec (the sweep measures it through the graph: 653 parameters, 5749
 * FLOPs, computed by hand in tests/core/test-graph.c) whose vars drive the stand-in
 * trainer. */
static const char run_base[] =
    "{\"mmx\": 1, \"name\": \"small\", \"input\": {\"shape\": [2, 2, 3], \"classes\": 5},\n"
    " \"vars\": {\"dim\": 8, \"fake_acc\": 0.80, \"fake_mode\": 0, \"fake_epoch_seconds\": 0},\n"
    " \"defs\": {\"ffn\": {\"mixer\": {\"key\": {\"op\": \"linear\", \"out\": \"2*${dim}\"},\n"
    "   \"activation\": {\"op\": \"gelu\"}, \"value\": {\"op\": \"linear\", \"out\": "
    "\"${dim}\"}},\n"
    "   \"layer_scale\": 0.5}},\n"
    " \"stem\": [{\"op\": \"linear\", \"out\": \"${dim}\"}],\n"
    " \"blocks\": {\"repeat\": 2, \"body\": [{\"use\": \"ffn\"}]},\n"
    " \"head\": [{\"op\": \"select_token\"}, {\"op\": \"linear\", \"out\": 5}],\n"
    " \"train\": {\"epochs\": 2, \"batch\": 4, \"lr\": 0.001}}\n";

static char *
run_dir(const char *sweep_text)
{
    char *dir = mmx_test_tmpdir();
    write_text(dir, "base.json", run_base);
    write_text(dir, "sweep.json", sweep_text);
    g_setenv("MMX_SWEEP_TRAINER", g_getenv("MMX_FAKE_TRAIN"), TRUE);
    return dir;
}

static int
sweep_cli(const char *dir, const char *const *extra, char **out, char **err)
{
    g_autofree char *sweep = g_build_filename(dir, "sweep.json", NULL);
    g_autofree char *outdir = g_build_filename(dir, "out", NULL);
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_ptr_array_add(args, "sweep");
    g_ptr_array_add(args, sweep);
    g_ptr_array_add(args, "--out");
    g_ptr_array_add(args, outdir);
    for (const char *const *e = extra; e && *e; e++)
        g_ptr_array_add(args, (gpointer)*e);
    g_ptr_array_add(args, NULL);
    return mmx_test_run_mmx((const char *const *)args->pdata, out, err);
}

static json_t *
records(const char *dir)
{
    g_autofree char *out = g_build_filename(dir, "out", NULL);
    g_autoptr(GError) error = NULL;
    json_t *r = mmx_sweep_read_results(out, NULL, &error);
    ck_assert_msg(r != NULL, "%s", error ? error->message : "");
    return r;
}

static int
count_events(json_t *recs, const char *event, const char *id)
{
    int n = 0;
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        if (g_strcmp0(json_string_value(json_object_get(r, "event")), event) == 0 &&
            (id == NULL || g_strcmp0(json_string_value(json_object_get(r, "id")), id) == 0))
            n++;
    }
    return n;
}

static const char *
event_reason(json_t *recs, int index, const char *event)
{
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        if (json_integer_value(json_object_get(r, "index")) == index &&
            g_strcmp0(json_string_value(json_object_get(r, "event")), event) == 0)
            return json_string_value(json_object_get(r, "reason"));
    }
    return NULL;
}

START_TEST(test_run_and_resume)
{
    g_autofree char *dir =
        run_dir("{\"mmx_sweep\": 1, \"name\": \"ok\", \"base\": \"base.json\", \"seeds\": [0, 1],\n"
                " \"ablation\": {\"changes\": {\"better\": {\"/vars/fake_acc\": 0.85}}}}");
    g_autofree char *out = NULL, *err = NULL;
    const char *workers[] = {"--workers", "2", NULL};
    int code = sweep_cli(dir, workers, &out, &err);
    ck_assert_msg(code == 0, "exit %d\n%s\n%s", code, out, err);
    ck_assert_contains(out, "sweep ok: 4 of 4 trials finished, 0 failed");
    g_autoptr(json_t) recs = records(dir);
    ck_assert_int_eq(count_events(recs, "started", NULL), 4);
    ck_assert_int_eq(count_events(recs, "finished", NULL), 4);
    /* The finished record carries result.json's figures. */
    json_t *fin = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(recs, i,
                       r) if (!strcmp(json_string_value(json_object_get(r, "event")), "finished") &&
                              json_integer_value(json_object_get(r, "index")) == 3) fin = r;
    ck_assert_ptr_nonnull(fin);
    ck_assert_double_eq_tol(
        json_number_value(json_object_get(json_object_get(fin, "result"), "test_acc")), 0.86, 1e-9);
    /* The manifest. */
    g_autofree char *mpath = g_build_filename(dir, "out", "sweep.json", NULL);
    json_error_t je;
    g_autoptr(json_t) m = json_load_file(mpath, 0, &je);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(strlen(json_string_value(json_object_get(m, "fingerprint"))), 64);
    ck_assert_str_eq(json_string_value(json_object_get(m, "mmx_version")), mmx_version());
    ck_assert_ptr_nonnull(json_object_get(json_object_get(m, "machine"), "cpu"));
    json_t *trials = json_object_get(m, "trials");
    ck_assert_int_eq(json_array_size(trials), 4);
    const char *id = json_string_value(json_object_get(json_array_get(trials, 1), "id"));
    g_autofree char *spec = g_build_filename(dir, "out", "trials", id, "spec.json", NULL);
    ck_assert(g_file_test(spec, G_FILE_TEST_EXISTS));

    /* Without --resume the folder is refused; with it nothing runs again. */
    g_free(out);
    g_free(err);
    code = sweep_cli(dir, NULL, &out, &err);
    ck_assert_int_eq(code, 2);
    ck_assert_contains(err, "already holds a sweep (sweep.json); add --resume");
    const char *resume[] = {"--resume", NULL};
    g_free(out);
    g_free(err);
    code = sweep_cli(dir, resume, &out, &err);
    ck_assert_msg(code == 0, "%s", err);
    ck_assert_contains(err, "4 trials, 4 finished before, 0 to run");
    g_autoptr(json_t) again = records(dir);
    ck_assert_int_eq(json_array_size(again), 8);

    /* A changed spec is refused, and accepted with --extend (new trials only). */
    write_text(dir, "sweep.json",
               "{\"mmx_sweep\": 1, \"name\": \"ok\", \"base\": \"base.json\", \"seeds\": [0, 1, "
               "2],\n \"ablation\": {\"changes\": {\"better\": {\"/vars/fake_acc\": 0.85}}}}");
    g_free(out);
    g_free(err);
    code = sweep_cli(dir, resume, &out, &err);
    ck_assert_int_eq(code, 2);
    ck_assert_contains(err, "changed since");
    ck_assert_contains(err, "add --extend");
    const char *extend[] = {"--resume", "--extend", NULL};
    g_free(out);
    g_free(err);
    code = sweep_cli(dir, extend, &out, &err);
    ck_assert_msg(code == 0, "%s", err);
    ck_assert_contains(err, "6 trials, 4 finished before, 2 to run");
    g_autoptr(json_t) ext = records(dir);
    ck_assert_int_eq(count_events(ext, "finished", NULL), 6);
}
END_TEST

START_TEST(test_failures_recorded)
{
    g_autofree char *dir = run_dir("{\"mmx_sweep\": 1, \"base\": \"base.json\",\n"
                                   " \"variants\": {\"ok\": {\"set\": {\"/vars/fake_mode\": 0}},\n"
                                   "   \"crash\": {\"set\": {\"/vars/fake_mode\": 1}},\n"
                                   "   \"diverge\": {\"set\": {\"/vars/fake_mode\": 2}},\n"
                                   "   \"invalid\": {\"set\": {\"/vars/fake_mode\": 3}},\n"
                                   "   \"hang\": {\"set\": {\"/vars/fake_mode\": 4}}}}");
    g_autofree char *out = NULL, *err = NULL;
    const char *opts[] = {"--timeout", "4", "--workers", "2", NULL};
    int code = sweep_cli(dir, opts, &out, &err);
    ck_assert_msg(code == 0, "exit %d\n%s\n%s", code, out, err);
    ck_assert_contains(out, "1 of 5 trials finished, 4 failed");
    g_autoptr(json_t) recs = records(dir);
    ck_assert_contains(event_reason(recs, 1, "failed"), "crashed: killed by SIGSEGV (signal 11); "
                                                        "last output: fake-train: about to crash");
    ck_assert_str_eq(event_reason(recs, 2, "failed"), "diverged: loss is NaN at step 12");
    ck_assert_contains(event_reason(recs, 3, "failed"),
                       "exit status 2 (invalid input): mmx train: ");
    ck_assert_contains(event_reason(recs, 3, "failed"), "/vars/fake_mode: invalid on purpose");
    ck_assert_str_eq(event_reason(recs, 4, "failed"), "timeout after 4 s");
    /* failure.json in the trial folder. */
    const char *id = json_string_value(json_object_get(json_array_get(recs, 0), "id"));
    (void)id;
    /* Resume does not re-run failures; --retry-failed does. */
    const char *resume[] = {"--resume", NULL};
    g_free(out);
    g_free(err);
    code = sweep_cli(dir, resume, &out, &err);
    ck_assert_contains(err, "5 trials, 1 finished before, 0 to run");
    const char *retry[] = {"--resume", "--retry-failed", "--timeout", "4", NULL};
    g_free(out);
    g_free(err);
    code = sweep_cli(dir, retry, &out, &err);
    ck_assert_int_eq(code, 0);
    ck_assert_contains(err, "5 trials, 1 finished before, 4 to run");
    g_autoptr(json_t) again = records(dir);
    ck_assert_int_eq(count_events(again, "failed", NULL), 8);
    ck_assert_int_eq(count_events(again, "finished", NULL), 1);
}
END_TEST

START_TEST(test_torn_line_and_lost_record)
{
    g_autofree char *dir =
        run_dir("{\"mmx_sweep\": 1, \"base\": \"base.json\", \"seeds\": [0, 1, 2]}");
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(sweep_cli(dir, NULL, &out, &err), 0);
    g_autofree char *res = g_build_filename(dir, "out", "results.jsonl", NULL);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(res, &text, NULL, NULL));
    /* Drop the last finished record (a kill between the trial's end and its record) and
     * leave half a line instead (a kill during the write). */
    g_strchomp(text);
    char *last = strrchr(text, '\n');
    g_autofree char *last_rec = g_strdup(last + 1);
    *last = '\0';
    g_autofree char *torn = g_strdup_printf("%s\n{\"event\": \"fini", text);
    write_text(dir, "out/results.jsonl", torn);
    g_autofree char *outdir = g_build_filename(dir, "out", NULL);
    bool was_torn = false;
    g_autoptr(GError) error = NULL;
    g_autoptr(json_t) before = mmx_sweep_read_results(outdir, &was_torn, &error);
    ck_assert(was_torn);
    ck_assert_int_eq(count_events(before, "finished", NULL), 2);
    const char *resume[] = {"--resume", NULL};
    g_free(out);
    g_free(err);
    ck_assert_int_eq(sweep_cli(dir, resume, &out, &err), 0);
    ck_assert_contains(err, "recorded 1 trial(s) that had ended without a record");
    ck_assert_contains(err, "0 to run");
    g_autoptr(json_t) after = mmx_sweep_read_results(outdir, &was_torn, &error);
    ck_assert(!was_torn);
    ck_assert_int_eq(count_events(after, "finished", NULL), 3);
    ck_assert_int_eq(count_events(after, "started", NULL), 3);
    /* A broken line in the middle is an error that names it. */
    g_autofree char *mid = g_strdup_printf("{\"event\": \"x\"}\nnot json\n%s\n", last_rec);
    write_text(dir, "out/results.jsonl", mid);
    g_autoptr(json_t) none = mmx_sweep_read_results(outdir, NULL, &error);
    ck_assert_ptr_null(none);
    ck_assert_contains(error->message, "results.jsonl:2: not a JSON line");
}
END_TEST

START_TEST(test_dry_run)
{
    g_autofree char *dir = run_dir(
        "{\"mmx_sweep\": 1, \"name\": \"dry\", \"base\": \"base.json\", \"seeds\": [0, 1],\n"
        " \"grid\": {\"/vars/dim\": [16, 16]}, \"variants\": {\"a\": {\"set\": {}}, "
        "\"b\": {\"set\": {\"/vars/x/y\": 1}}}}");
    /* set must not be empty: the reader says so */
    g_autofree char *out = NULL, *err = NULL;
    const char *dry[] = {"--dry-run", NULL};
    ck_assert_int_eq(sweep_cli(dir, dry, &out, &err), 2);
    ck_assert_contains(err, "/variants/a/set: expected at least one JSON Pointer -> value");
    write_text(
        dir, "sweep.json",
        "{\"mmx_sweep\": 1, \"name\": \"dry\", \"base\": \"base.json\", \"seeds\": [0, 1],\n"
        " \"grid\": {\"/vars/dim\": [16, 16]}, \"variants\": {\"a\": {\"set\": {\"/vars/a\": "
        "1}}, \"b\": {\"set\": {\"/vars/x/y\": 1}}}}");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(sweep_cli(dir, dry, &out, &err), 0);
    ck_assert_contains(out, "sweep dry: 8 trials: 2 to run, 0 skipped by constraints, 4 invalid, "
                            "2 duplicates");
    ck_assert_contains(out, "a dim=16 *");
    /* Measured through the graph: dim 16 gives 16*3+16 + 2*(16*32+32 + 32*16+16 + 16)
     * + 16*5+5 = 2325 parameters. */
    ck_assert_contains(out, "   2325  ");
    ck_assert_contains(out, "{\"variant\":\"a\",\"/vars/a\":1,\"/vars/dim\":16}");
    ck_assert_contains(out, "INVALID: variant 'b': cannot set /vars/x/y: /vars has no member 'x'");
    ck_assert_contains(out, "duplicate: same resolved spec and seed as trial 0");
    g_autofree char *outdir = g_build_filename(dir, "out", NULL);
    ck_assert(!g_file_test(outdir, G_FILE_TEST_EXISTS)); /* nothing written */
    const char *dryj[] = {"--dry-run", "--json", NULL};
    g_free(out);
    g_free(err);
    ck_assert_int_eq(sweep_cli(dir, dryj, &out, &err), 0);
    g_autoptr(json_t) j = json_loads(out, 0, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(j, "trials")), 8);
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_array_get(json_object_get(j, "trials"), 2), "state")),
                     "invalid");
}
END_TEST

START_TEST(test_slurm_and_collect)
{
    g_autofree char *dir = run_dir(
        "{\"mmx_sweep\": 1, \"name\": \"arr\", \"base\": \"base.json\", \"seeds\": [0, 1],\n"
        " \"variants\": {\"a\": {\"set\": {\"/vars/fake_acc\": 0.7}}, \"b\": {\"set\": "
        "{\"/nope/x\": 1}},\n"
        "   \"c\": {\"set\": {\"/vars/fake_mode\": 2}}}}");
    g_autofree char *script = g_build_filename(dir, "job.sh", NULL);
    const char *emit[] = {"--emit-slurm", script, NULL};
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_msg(sweep_cli(dir, emit, &out, &err) == 0, "%s", err);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(script, &text, NULL, NULL));
    ck_assert_contains(text, "#SBATCH --array=0,2-3,5\n");
    ck_assert_contains(text, "--trial \"$SLURM_ARRAY_TASK_ID\" --out ");
    ck_assert_contains(text, "sweep --collect ");
    for (int i = 0; i < 6; i++) {
        g_autofree char *idx = g_strdup_printf("%d", i);
        const char *trial[] = {"--trial", idx, NULL};
        g_free(out);
        g_free(err);
        int code = sweep_cli(dir, trial, &out, &err);
        if (i == 1 || i == 4) {
            ck_assert_int_eq(code, 0);
            ck_assert_contains(out, "is not run: variant 'b': cannot set /nope/x");
        } else {
            ck_assert_int_eq(code, i == 2 || i == 5 ? 1 : 0);
            ck_assert_contains(out, i == 2 || i == 5 ? "failed: diverged" : ": finished");
        }
    }
    g_autofree char *outdir = g_build_filename(dir, "out", NULL);
    const char *collect[] = {"sweep", "--collect", outdir, NULL};
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx(collect, &out, &err), 0);
    ck_assert_contains(out, "recorded 4 trial result(s)");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(mmx_test_run_mmx(collect, &out, &err), 0);
    ck_assert_contains(out, "recorded 0 trial result(s)");
    g_autoptr(json_t) recs = records(dir);
    ck_assert_int_eq(count_events(recs, "finished", NULL), 2);
    ck_assert_int_eq(count_events(recs, "failed", NULL), 2);
}
END_TEST

/* Starts `mmx sweep` in the background; returns its pid. */
static GPid
sweep_spawn(const char *dir, const char *const *extra)
{
    g_autofree char *sweep = g_build_filename(dir, "sweep.json", NULL);
    g_autofree char *outdir = g_build_filename(dir, "out", NULL);
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_ptr_array_add(args, (gpointer)g_getenv("MMX_EXE"));
    g_ptr_array_add(args, "sweep");
    g_ptr_array_add(args, sweep);
    g_ptr_array_add(args, "--out");
    g_ptr_array_add(args, outdir);
    for (const char *const *e = extra; e && *e; e++)
        g_ptr_array_add(args, (gpointer)*e);
    g_ptr_array_add(args, NULL);
    /* What the coordinators say goes to DIR/stderr.txt (sweep_stderr), for the messages
     * of the tests that kill them. */
    g_autofree char *errpath = g_build_filename(dir, "stderr.txt", NULL);
    int errfd = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    ck_assert_int_ge(errfd, 0);
    GPid pid;
    g_autoptr(GError) error = NULL;
    ck_assert_msg(g_spawn_async_with_fds(NULL, (char **)args->pdata, NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                                         NULL, NULL, &pid, -1, -1, errfd, &error),
                  "%s", error ? error->message : "");
    close(errfd);
    return pid;
}

/* Everything the coordinators spawned by sweep_spawn in DIR wrote to stderr. */
static char *
sweep_stderr(const char *dir)
{
    g_autofree char *errpath = g_build_filename(dir, "stderr.txt", NULL);
    char *text = NULL;
    if (!g_file_get_contents(errpath, &text, NULL, NULL))
        return g_strdup("");
    return text;
}

static int
wait_exit(GPid pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The children of a process (its trials). */
static GArray *
children_of(GPid parent)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
    const char *name;
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
            int pid = atoi(name);
            g_array_append_val(pids, pid);
        }
    }
    return pids;
}

START_TEST(test_sigterm_stops_cleanly)
{
    g_autofree char *dir =
        run_dir("{\"mmx_sweep\": 1, \"base\": \"base.json\", \"seeds\": [0, 1, 2, 3],\n"
                " \"train\": {\"epochs\": 3}, \"variants\": {\"slow\": {\"set\": "
                "{\"/vars/fake_epoch_seconds\": "
                "0.3}}}}");
    const char *opts[] = {"--workers", "2", NULL};
    GPid pid = sweep_spawn(dir, opts);
    g_usleep(600 * 1000);
    kill(pid, SIGTERM);
    ck_assert_int_eq(wait_exit(pid), 1);
    g_autoptr(json_t) recs = records(dir);
    ck_assert_int_ge(count_events(recs, "interrupted", NULL), 1);
    ck_assert_int_eq(count_events(recs, "finished", NULL), 0);
    /* The interrupted trials wrote result.json "interrupted" (the trainer got SIGTERM). */
    g_autofree char *out = NULL, *err = NULL;
    const char *resume[] = {"--resume", NULL};
    ck_assert_int_eq(sweep_cli(dir, resume, &out, &err), 0);
    ck_assert_contains(out, "4 of 4 trials finished");
    g_autoptr(json_t) after = records(dir);
    ck_assert_int_eq(count_events(after, "finished", NULL), 4);
}
END_TEST

START_TEST(test_locked_folder)
{
    /* A folder whose lock another process holds (past the grace period for a killed
     * coordinator's forked trial) is refused with a message naming it, and nothing in it
     * is touched; once the lock is free the same command runs. */
    g_autofree char *dir = run_dir("{\"mmx_sweep\": 1, \"base\": \"base.json\"}");
    g_autofree char *outdir = g_build_filename(dir, "out", NULL);
    g_autofree char *lockp = g_build_filename(outdir, ".lock", NULL);
    ck_assert_int_eq(g_mkdir_with_parents(outdir, 0755), 0);
    int fd = open(lockp, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    g_autofree char *out = NULL, *err = NULL;
    ck_assert_int_eq(sweep_cli(dir, NULL, &out, &err), 2);
    ck_assert_contains(err, "another mmx sweep is running on ");
    ck_assert_contains(err, lockp);
    g_autofree char *manifest = g_build_filename(outdir, "sweep.json", NULL);
    ck_assert(!g_file_test(manifest, G_FILE_TEST_EXISTS));
    close(fd);
    g_free(out), g_free(err);
    out = err = NULL;
    ck_assert_int_eq(sweep_cli(dir, NULL, &out, &err), 0);
}
END_TEST

START_TEST(test_sigint_message)
{
    g_autofree char *dir =
        run_dir("{\"mmx_sweep\": 1, \"base\": \"base.json\", \"train\": {\"epochs\": 50},\n"
                " \"variants\": {\"slow\": {\"set\": {\"/vars/fake_epoch_seconds\": 0.2}}}}");
    g_autofree char *sweep = g_build_filename(dir, "sweep.json", NULL);
    g_autofree char *outdir = g_build_filename(dir, "out", NULL);
    const char *argv[] = {g_getenv("MMX_EXE"), "sweep", sweep, "--out", outdir, NULL};
    GPid pid;
    int errfd;
    ck_assert(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                       NULL, &pid, NULL, NULL, &errfd, NULL));
    g_usleep(500 * 1000);
    kill(pid, SIGINT);
    ck_assert_int_eq(wait_exit(pid), 1);
    char raw[4096];
    ssize_t n = read(errfd, raw, sizeof raw - 1);
    close(errfd);
    raw[n > 0 ? n : 0] = '\0';
    const char *buf = raw;
    ck_assert_contains(buf, "interrupted with 0 of 1 trials finished");
    ck_assert_contains(buf, "Resume with: mmx sweep ");
    ck_assert_contains(buf, " --resume");
}
END_TEST

/* "floors": the IdentityFormer and RandFormer arms, every token mixer replaced by the
 * identity or by linear's random_mixing, as arms of the ablation or after the unchanged
 * spec; the random matrix is seeded and never trained. */
static const float *
st_matrix(mmx_safetensors *st, int64_t *n)
{
    const mmx_st_tensor *t = mmx_safetensors_find(st, "blocks.0.mixer.key.matrix");
    ck_assert_ptr_nonnull(t);
    *n = t->dims[0] * t->dims[1];
    return t->data;
}

START_TEST(test_floors)
{
    g_autofree char *dir = mmx_test_tmpdir();
    g_autofree char *zoo = mmx_test_source_path("specs/models/vit.json");
    g_autofree char *text = g_strdup_printf(
        "{\"mmx_sweep\": 1, \"base\": \"%s\", \"train\": {\"data\": \"synthetic:128:64\", "
        "\"epochs\": 1, \"batch\": 64},\n \"ablation\": {\"changes\": {\"gelu\": "
        "{\"/vars/act\": \"gelu\"}}}, \"floors\": true}",
        zoo);
    g_autofree char *path = g_build_filename(dir, "sweep.json", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_sweep) sweep = mmx_sweep_load_data(text, -1, path, &error);
    ck_assert_msg(sweep != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_sweep_plan) plan = mmx_sweep_plan_new(sweep, &error);
    ck_assert_int_eq(mmx_sweep_plan_size(plan), 4);
    const mmx_trial *idf = mmx_sweep_plan_trial(plan, 2), *rf = mmx_sweep_plan_trial(plan, 3);
    ck_assert_str_eq(idf->variant, "identity-floor");
    ck_assert_str_eq(rf->variant, "random-floor");
    g_autofree char *im = json_dumps(json_object_get(json_object_get(json_object_get(
                                         idf->spec, "defs"), "attention"), "mixer"),
                                     JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(im, "{\"axis\":\"token\"}");
    g_autofree char *rm = json_dumps(json_object_get(json_object_get(json_object_get(
                                         rf->spec, "defs"), "attention"), "mixer"),
                                     JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(rm, "{\"axis\":\"token\",\"key\":{\"op\":\"random_mixing\"}}");
    /* The channel mixer (the FFN) is left alone. */
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(
                         json_object_get(rf->spec, "defs"), "ffn"), "mixer"), "axis")),
                     "channel");
    /* The random floor trains with its matrix frozen: the same after 1 and 2 epochs, the
     * same for the same seed, another for another seed. */
    g_autoptr(json_t) spec = mmx_sweep_trial_spec_for_file(plan, rf);
    g_autofree char *sp = g_build_filename(dir, "random.json", NULL);
    ck_assert_int_eq(json_dump_file(spec, sp, 0), 0);
    const char *runs[][2] = {{"1", "0"}, {"2", "0"}, {"1", "1"}};
    mmx_safetensors *st[3];
    for (int i = 0; i < 3; i++) {
        g_autofree char *out = g_strdup_printf("%s/run%d", dir, i);
        ck_assert_int_eq(mmx_test_run_mmx((const char *[]){"train", sp, "--out", out, "--epochs",
                                                           runs[i][0], "--seed", runs[i][1],
                                                           "--quiet", "--threads", "1", NULL},
                                          NULL, NULL),
                         0);
        g_autofree char *f = g_build_filename(out, "final.safetensors", NULL);
        st[i] = mmx_safetensors_read(f, &error);
        ck_assert_ptr_nonnull(st[i]);
    }
    int64_t n0, n1, n2;
    const float *m0 = st_matrix(st[0], &n0), *m1 = st_matrix(st[1], &n1),
                *m2 = st_matrix(st[2], &n2);
    ck_assert_int_eq(n0, 49 * 49);
    ck_assert(memcmp(m0, m1, (size_t)n0 * sizeof(float)) == 0);
    ck_assert(memcmp(m0, m2, (size_t)n0 * sizeof(float)) != 0);
    const mmx_st_tensor *w0 = mmx_safetensors_find(st[0], "blocks.1.mixer.key.weight"),
                        *w1 = mmx_safetensors_find(st[1], "blocks.1.mixer.key.weight");
    ck_assert(memcmp(w0->data, w1->data, 16 * sizeof(float)) != 0); /* the FFN did train */
    for (int i = 0; i < 3; i++)
        mmx_safetensors_free(st[i]);

    /* Without an ablation the floors follow the unchanged spec; a spec without a token
     * mixer makes the floors invalid, with the reason. */
    write_text(dir, "base.json", run_base);
    g_autoptr(mmx_sweep) s2 = mmx_sweep_load_data(
        "{\"mmx_sweep\": 1, \"base\": \"base.json\", \"floors\": true}", -1, path, &error);
    ck_assert_ptr_nonnull(s2);
    g_autoptr(mmx_sweep_plan) p2 = mmx_sweep_plan_new(s2, &error);
    ck_assert_int_eq(mmx_sweep_plan_size(p2), 3);
    ck_assert_str_eq(mmx_sweep_plan_trial(p2, 0)->variant, "base");
    ck_assert_int_eq(mmx_sweep_plan_trial(p2, 0)->state, MMX_TRIAL_RUN);
    const mmx_trial *bad = mmx_sweep_plan_trial(p2, 1);
    ck_assert_int_eq(bad->state, MMX_TRIAL_INVALID);
    ck_assert_str_eq(bad->reason, "floor 'identity-floor': the spec has no token mixer to "
                                  "replace (a mixer with \"axis\": \"token\", in a block, a def "
                                  "or a \"parallel\" list)");
}
END_TEST

/* ---- pruning through the coordinator ---- */

/* 9 variants x 2 seeds, 9 epochs: the stand-in trainer's test_acc at epoch e is fake_acc +
 * 0.01 seed - 0.1 (9 - e), so the ranks are the same at every epoch. */
#define PRUNE_GRID                                                                             \
    " \"seeds\": [0, 1], \"train\": {\"epochs\": 9},\n"                                       \
    " \"grid\": {\"/vars/fake_acc\": [0.5, 0.6, 0.7, 0.55, 0.65, 0.75, 0.52, 0.62, 0.72]},\n"

static const char asha_sweep[] =
    "{\"mmx_sweep\": 1, \"name\": \"asha\", \"base\": \"base.json\",\n" PRUNE_GRID
    " \"prune\": {\"rule\": \"asha\", \"metric\": \"test_acc\", \"grace\": 1, \"eta\": 3}}";

static gint
cmp_str(gconstpointer a, gconstpointer b, gpointer user)
{
    (void)user;
    return strcmp(a, b);
}

/* id -> "pruned@E" or "finished": what became of every trial. */
static char *
outcomes(json_t *recs)
{
    g_autoptr(GTree) by_id = g_tree_new_full(cmp_str, NULL, NULL, g_free);
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        const char *ev = json_string_value(json_object_get(r, "event"));
        const char *id = json_string_value(json_object_get(r, "id"));
        if (g_strcmp0(ev, "pruned") == 0)
            g_tree_insert(by_id, (gpointer)id,
                          g_strdup_printf("pruned@%lld", (long long)json_integer_value(
                                                             json_object_get(r, "epoch"))));
        else if (g_strcmp0(ev, "finished") == 0)
            g_tree_insert(by_id, (gpointer)id, g_strdup("finished"));
    }
    GString *s = g_string_new(NULL);
    GTreeNode *n = g_tree_node_first(by_id);
    for (; n; n = g_tree_node_next(n))
        g_string_append_printf(s, "%s %s\n", (char *)g_tree_node_key(n),
                               (char *)g_tree_node_value(n));
    return g_string_free(s, FALSE);
}

START_TEST(test_prune_asha)
{
    g_autofree char *dir = run_dir(asha_sweep);
    g_autofree char *out = NULL, *err = NULL;
    const char *dry[] = {"--dry-run", NULL};
    ck_assert_int_eq(sweep_cli(dir, dry, &out, &err), 0);
    ck_assert_contains(out, "budget: 162 epochs without pruning; with "
                            "{\"eta\":3,\"grace\":1,\"metric\":\"test_acc\",\"rule\":\"asha\"}: 42 "
                            "worst case (26%), 42.0 expected (26%");
    g_free(out);
    g_free(err);
    const char *w2[] = {"--workers", "2", NULL};
    int code = sweep_cli(dir, w2, &out, &err);
    ck_assert_msg(code == 0, "exit %d\n%s\n%s", code, out, err);
    ck_assert_contains(out, "sweep asha: 2 of 18 trials finished, 16 pruned, 0 failed");
    /* Rung 1 at epoch 3 promotes 0.75 only; the paused trials resumed, never retrained. */
    ck_assert_contains(err, "resumed 9678d62470586965 (fake_acc=0.75, seed 0) from epoch 3, "
                            "until epoch 9");
    g_autoptr(json_t) recs = records(dir);
    ck_assert_int_eq(count_events(recs, "pruned", NULL), 16);
    ck_assert_int_eq(count_events(recs, "finished", NULL), 2);
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        if (g_strcmp0(json_string_value(json_object_get(r, "event")), "pruned") != 0)
            continue;
        /* The last metrics are kept in the record, and the folder (its checkpoint) stays. */
        json_int_t e = json_integer_value(json_object_get(r, "epoch"));
        ck_assert(e == 1 || e == 3);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "metrics"), "epoch")),
                         e);
        ck_assert_int_eq(json_array_size(json_object_get(r, "values")), e);
        g_autofree char *m = g_build_filename(dir, "out", "trials",
                                              json_string_value(json_object_get(r, "id")),
                                              "metrics.jsonl", NULL);
        ck_assert(g_file_test(m, G_FILE_TEST_EXISTS));
        ck_assert_contains(json_string_value(json_object_get(r, "reason")), "asha: rung ");
    }
    /* Epochs trained: 42, as the dry run said. */
    g_autofree char *o = g_build_filename(dir, "out", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_report) rep = mmx_report_new(o, &error);
    ck_assert_ptr_nonnull(rep);
    g_autofree char *md = mmx_report_markdown(rep, NULL);
    ck_assert_contains(md, "| fake_acc=0.75 | 2/2 | 75.50 ± 0.71 |");
    ck_assert_contains(md, "| **fake_acc=0.5** | 0/2, 2 pruned | - |");
    ck_assert_contains(md, "asha on test_acc: 42 epochs trained of the 162 the trials would "
                           "train without pruning (26%)");
    ck_assert_contains(md, "### Pruned trials (16)");
    ck_assert_contains(md, "- fake_acc=0.72, seed 1: epoch 3, test_acc 0.1300: asha: rung 1 "
                           "(epoch 3): test_acc 0.125 ranks 2 of the 3");

    /* One worker takes the same decisions; resuming a finished sweep adds nothing. */
    g_autofree char *dir1 = run_dir(asha_sweep);
    g_free(out);
    g_free(err);
    ck_assert_int_eq(sweep_cli(dir1, NULL, &out, &err), 0);
    g_autoptr(json_t) recs1 = records(dir1);
    g_autofree char *a = outcomes(recs), *b = outcomes(recs1);
    ck_assert_str_eq(a, b);
    const char *res[] = {"--resume", NULL};
    g_free(out);
    g_free(err);
    ck_assert_int_eq(sweep_cli(dir1, res, &out, &err), 0);
    g_autoptr(json_t) again = records(dir1);
    ck_assert_int_eq(json_array_size(again), json_array_size(recs1));
    /* --no-prune on a pruned folder leaves the pruned trials pruned (final), runs nothing. */
    const char *nop[] = {"--resume", "--no-prune", NULL};
    g_free(out);
    g_free(err);
    ck_assert_int_eq(sweep_cli(dir1, nop, &out, &err), 0);
    ck_assert_contains(out, "2 of 18 trials finished, 16 pruned, 0 failed");
    g_autoptr(json_t) again2 = records(dir1);
    ck_assert_int_eq(json_array_size(again2), json_array_size(recs1));

    /* Pruning needs the coordinator: no Slurm array tasks. */
    const char *slurm[] = {"--emit-slurm", "job.sh", NULL};
    g_free(out);
    g_free(err);
    ck_assert_int_eq(sweep_cli(dir1, slurm, &out, &err), 2);
    ck_assert_contains(err, "the sweep prunes (/prune), and pruning needs the coordinator to "
                            "pause and promote trials");
    const char *trial[] = {"--trial", "0", NULL};
    g_free(out);
    g_free(err);
    ck_assert_int_eq(sweep_cli(dir1, trial, &out, &err), 2);
    ck_assert_contains(err, "not as Slurm array tasks (--trial)");

    /* A metric the trials do not write: each trial fails at its first pause, saying so. */
    g_autofree char *dir2 = run_dir(
        "{\"mmx_sweep\": 1, \"name\": \"nometric\", \"base\": \"base.json\",\n" PRUNE_GRID
        " \"prune\": {\"rule\": \"asha\", \"metric\": \"val_acc\"}}");
    g_free(out);
    g_free(err);
    ck_assert_int_eq(sweep_cli(dir2, NULL, &out, &err), 0);
    ck_assert_contains(out, "0 of 18 trials finished, 0 pruned, 18 failed");
    g_autoptr(json_t) recs2 = records(dir2);
    ck_assert_contains(event_reason(recs2, 0, "failed"),
                       "metrics.jsonl has no number 'val_acc' at epoch 1 (the metric /prune "
                       "compares)");
}
END_TEST

START_TEST(test_prune_median)
{
    g_autofree char *dir = run_dir(
        "{\"mmx_sweep\": 1, \"name\": \"median\", \"base\": \"base.json\",\n" PRUNE_GRID
        " \"prune\": {\"rule\": \"median\", \"metric\": \"test_acc\", \"grace\": 2, "
        "\"startup\": 2}}");
    g_autofree char *out = NULL, *err = NULL;
    const char *w2[] = {"--workers", "2", NULL};
    int code = sweep_cli(dir, w2, &out, &err);
    ck_assert_msg(code == 0, "exit %d\n%s\n%s", code, out, err);
    ck_assert_contains(out, "sweep median: 12 of 18 trials finished, 6 pruned, 0 failed");
    /* Worked out by hand: 0.55 is below the median of (0.5, 0.6, 0.7) at epoch 2; 0.52 and
     * 0.62 below that of (0.5, 0.6, 0.7, 0.65, 0.75). */
    ck_assert_contains(err, "pruned 5d465a4584d60fb3 (fake_acc=0.55, seed 0) at epoch 2: median: "
                            "at epoch 2, the best test_acc so far, -0.145, is below the median "
                            "-0.095 of the 3 completed variants before it");
    ck_assert_contains(err, "(fake_acc=0.62, seed 1) at epoch 2: median: at epoch 2, the best "
                            "test_acc so far, -0.075, is below the median -0.045 of the 5");
}
END_TEST

static int kill9_until_done(const char *dir, guint32 seed);

/* The stress test of a pruned sweep: the coordinator and the trials (paused, promoted,
 * resumed from their checkpoints) killed with SIGKILL at random moments, resumed until
 * done, take the same decisions and give the same report as an uninterrupted sweep, with
 * one final record (pruned or finished) per trial. */
START_TEST(test_kill9_stress_pruned)
{
    const char *text =
        "{\"mmx_sweep\": 1, \"name\": \"stress\", \"base\": \"base.json\",\n" PRUNE_GRID
        " \"variants\": {\"base\": {\"set\": {\"/vars/fake_epoch_seconds\": 0.04}}},\n"
        " \"prune\": {\"rule\": \"asha\", \"metric\": \"test_acc\", \"grace\": 1, \"eta\": 3}}";
    const char *median =
        "{\"mmx_sweep\": 1, \"name\": \"stress\", \"base\": \"base.json\",\n" PRUNE_GRID
        " \"variants\": {\"base\": {\"set\": {\"/vars/fake_epoch_seconds\": 0.01}}},\n"
        " \"prune\": {\"rule\": \"median\", \"metric\": \"test_acc\", \"grace\": 2, "
        "\"startup\": 2}}";
    const char *texts[] = {text, median};
    for (int k = 0; k < 2; k++) {
        g_autofree char *dir = run_dir(texts[k]);
        int kills = kill9_until_done(dir, 777 + (guint32)k);
        ck_assert_int_gt(kills, 0);
        g_autofree char *dir2 = run_dir(texts[k]);
        g_autofree char *out = NULL, *err = NULL;
        const char *w[] = {"--workers", "2", NULL};
        ck_assert_int_eq(sweep_cli(dir2, w, &out, &err), 0);
        g_autoptr(json_t) r1 = records(dir), r2 = records(dir2);
        g_autofree char *o1 = outcomes(r1), *o2 = outcomes(r2);
        ck_assert_str_eq(o1, o2);
        g_autofree char *mpath = g_build_filename(dir, "out", "sweep.json", NULL);
        g_autoptr(json_t) m = json_load_file(mpath, 0, NULL);
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(m, "trials"), i, t)
        {
            const char *id = json_string_value(json_object_get(t, "id"));
            ck_assert_int_eq(count_events(r1, "finished", id) + count_events(r1, "pruned", id), 1);
        }
        ck_assert_int_eq(count_events(r1, "failed", NULL), 0);
        printf("# %s: %d kills; %d starts and resumptions (%d uninterrupted)\n",
               k ? "median" : "asha", kills, count_events(r1, "started", NULL),
               count_events(r2, "started", NULL));
        g_autofree char *d1 = g_build_filename(dir, "out", NULL);
        g_autofree char *d2 = g_build_filename(dir2, "out", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(mmx_report) rep1 = mmx_report_new(d1, &error);
        g_autoptr(mmx_report) rep2 = mmx_report_new(d2, &error);
        ck_assert_ptr_nonnull(rep1);
        ck_assert_ptr_nonnull(rep2);
        g_autofree char *md1 = mmx_report_markdown(rep1, NULL);
        g_autofree char *md2 = mmx_report_markdown(rep2, NULL);
        ck_assert_str_eq(md1, md2);
        g_autofree char *c1 = mmx_report_csv(rep1);
        g_autofree char *c2 = mmx_report_csv(rep2);
        ck_assert_str_eq(c1, c2);
    }
}
END_TEST

/* Runs `mmx sweep --workers 2 --resume` in dir again and again, killing the coordinator
 * and its trials with SIGKILL at random moments, until a coordinator finishes. The number
 * of kills. */
static int
kill9_until_done(const char *dir, guint32 seed)
{
    GRand *rng = g_rand_new_with_seed(seed);
    const char *opts[] = {"--workers", "2", "--resume", NULL};
    int rounds = 0, kills = 0;
    for (;; rounds++) {
        ck_assert_msg(rounds < 200, "the sweep did not finish in 200 rounds");
        GPid pid = sweep_spawn(dir, opts);
        /* Random moments; the window widens round by round so that a slow machine (or
         * the sanitizer build) still gets through. */
        gulong wait_us = (gulong)g_rand_int_range(rng, 20, 250 + 30 * rounds) * 1000;
        g_usleep(wait_us);
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            g_autofree char *said = sweep_stderr(dir);
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                          "round %d: status %d; the coordinators said:\n%s", rounds, status, said);
            break;
        }
        if (g_rand_boolean(rng)) {
            g_autoptr(GArray) kids = children_of(pid);
            if (kids->len) {
                kill(g_array_index(kids, int, g_rand_int_range(rng, 0, (int)kids->len)), SIGKILL);
                kills++;
            }
            /* Let it go on a moment, then kill it too, or let it finish. */
            g_usleep((gulong)g_rand_int_range(rng, 10, 150) * 1000);
        }
        kill(pid, SIGKILL);
        kills++;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            break;
    }
    g_rand_free(rng);
    return kills;
}

/* The reliability stress test: 30 short trials, the coordinator and the trials killed
 * with SIGKILL at random moments, resumed until done. */
START_TEST(test_kill9_stress)
{
    const char *text = "{\"mmx_sweep\": 1, \"name\": \"stress\", \"base\": \"base.json\",\n"
                       " \"seeds\": [0, 1, 2, 3, 4], \"train\": {\"epochs\": 2},\n"
                       " \"grid\": {\"/vars/fake_acc\": [0.5, 0.6, 0.7], "
                       "\"/vars/fake_epoch_seconds\": [0.02, 0.05]}}";
    g_autofree char *dir = run_dir(text);
    ck_assert_int_gt(kill9_until_done(dir, 12345), 0);
    g_autoptr(json_t) recs = records(dir);
    g_autofree char *mpath = g_build_filename(dir, "out", "sweep.json", NULL);
    g_autoptr(json_t) m = json_load_file(mpath, 0, NULL);
    json_t *trials = json_object_get(m, "trials");
    ck_assert_int_eq(json_array_size(trials), 30);
    size_t i;
    json_t *t;
    json_array_foreach(trials, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        ck_assert_msg(count_events(recs, "finished", id) == 1, "trial %zu has %d finished records",
                      i, count_events(recs, "finished", id));
    }
    ck_assert_int_eq(count_events(recs, "finished", NULL), 30);
    ck_assert_int_eq(count_events(recs, "failed", NULL), 0);

    /* The same figures as an uninterrupted run. */
    g_autofree char *dir2 = run_dir(text);
    g_autofree char *out = NULL, *err = NULL;
    const char *w[] = {"--workers", "2", NULL};
    ck_assert_int_eq(sweep_cli(dir2, w, &out, &err), 0);
    g_autofree char *o1 = g_build_filename(dir, "out", NULL);
    g_autofree char *o2 = g_build_filename(dir2, "out", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_report) r1 = mmx_report_new(o1, &error);
    ck_assert_msg(r1 != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_report) r2 = mmx_report_new(o2, &error);
    ck_assert_ptr_nonnull(r2);
    g_autofree char *c1 = mmx_report_csv(r1);
    g_autofree char *c2 = mmx_report_csv(r2);
    ck_assert_str_eq(c1, c2);
}
END_TEST

START_TEST(test_mpi_executor)
{
    g_autofree char *mpirun = g_find_program_in_path("mpirun");
    if (mpirun == NULL) {
        /* Reported as a skip in the TAP stream by the runner's message. */
        printf("# SKIP mpirun is not installed\n");
        return;
    }
    g_autofree char *dir = run_dir(
        "{\"mmx_sweep\": 1, \"name\": \"mpi\", \"base\": \"base.json\", \"seeds\": [0, 1, 2],\n"
        " \"ablation\": {\"changes\": {\"better\": {\"/vars/fake_acc\": 0.9}}}}");
    g_autofree char *sweep = g_build_filename(dir, "sweep.json", NULL);
    g_autofree char *outdir = g_build_filename(dir, "out", NULL);
    const char *argv[] = {mpirun,
                          "--oversubscribe",
                          "--allow-run-as-root",
                          "-n",
                          "3",
                          g_getenv("MMX_EXE"),
                          "sweep",
                          sweep,
                          "--out",
                          outdir,
                          "--executor",
                          "mpi",
                          NULL};
    g_autofree char *out = NULL, *err = NULL;
    int status = 0;
    g_autoptr(GError) error = NULL;
    /* Open MPI's own allocations outlive MPI_Finalize: under the sanitizer build they are
     * not ours to report. */
    g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "ASAN_OPTIONS", "detect_leaks=0", TRUE);
    ck_assert(g_spawn_sync(NULL, (char **)argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                           &status, &error));
    if (err && strstr(err, "built without MPI")) {
        printf("# SKIP this mmx was built without MPI\n");
        return;
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d\n%.1500s\n%.1500s",
                  status, out, err);
    ck_assert_contains(out, "6 of 6 trials finished");
    g_autoptr(json_t) recs = records(dir);
    ck_assert_int_eq(count_events(recs, "finished", NULL), 6);
    ck_assert_int_eq(count_events(recs, "started", NULL), 6);

    /* A pruned sweep over the ranks: paused and promoted trials (jobs with --pause-after
     * and --resume) take the decisions of the local executor. */
    g_autofree char *pdir = run_dir(asha_sweep);
    g_autofree char *psweep = g_build_filename(pdir, "sweep.json", NULL);
    g_autofree char *pout = g_build_filename(pdir, "out", NULL);
    argv[7] = psweep;
    argv[9] = pout;
    g_free(out);
    g_free(err);
    ck_assert(g_spawn_sync(NULL, (char **)argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                           &status, &error));
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d\n%.1500s\n%.1500s",
                  status, out, err);
    ck_assert_contains(out, "2 of 18 trials finished, 16 pruned");
    g_autofree char *ldir = run_dir(asha_sweep);
    ck_assert_int_eq(sweep_cli(ldir, NULL, NULL, NULL), 0);
    g_autoptr(json_t) pr = records(pdir), lr = records(ldir);
    g_autofree char *a = outcomes(pr), *b = outcomes(lr);
    ck_assert_str_eq(a, b);
}
END_TEST

/* An executor that runs nothing: it records which trials the coordinator starts and
 * answers each with "interrupted" (the trial stays pending). */
typedef struct recording_exec {
    GArray *started; /* int: plan indices, in start order */
    GQueue queue;    /* indices started and not yet polled */
} recording_exec;

static bool
recording_start(void *self, const mmx_sweep_job *job, GError **error)
{
    (void)error;
    recording_exec *x = self;
    g_array_append_val(x->started, job->index);
    g_queue_push_tail(&x->queue, GINT_TO_POINTER(job->index));
    return true;
}

static bool
recording_poll(void *self, int timeout_ms, mmx_sweep_outcome *o)
{
    (void)timeout_ms;
    recording_exec *x = self;
    if (g_queue_is_empty(&x->queue))
        return false;
    memset(o, 0, sizeof *o);
    o->index = GPOINTER_TO_INT(g_queue_pop_head(&x->queue));
    o->status = MMX_SWEEP_OUTCOME_INTERRUPTED;
    o->reason = g_strdup("stopped by the test");
    return true;
}

static void
recording_stop(void *self, bool hard)
{
    (void)self;
    (void)hard;
}

/* The report and the coordinator read results.jsonl the same way: for every trial, the
 * report's finished/failed/pending is what the coordinator counts or runs. The records
 * hold each way a trial's history can end: finished; failed; failed and then started
 * again by --retry-failed and interrupted (pending, not failed); started by a
 * coordinator that was killed; failed, retried and failed again; no record at all. */
START_TEST(test_report_and_coordinator_agree)
{
    g_autofree char *dir =
        run_dir("{\"mmx_sweep\": 1, \"base\": \"base.json\", \"seeds\": [0, 1, 2, 3, 4, 5]}");
    g_autofree char *spath = g_build_filename(dir, "sweep.json", NULL);
    g_autofree char *outdir = g_build_filename(dir, "out", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_sweep) sweep = mmx_sweep_load(spath, &error);
    ck_assert_msg(sweep != NULL, "%s", error ? error->message : "");
    g_autoptr(mmx_sweep_plan) plan = mmx_sweep_plan_new(sweep, &error);
    ck_assert_int_eq(mmx_sweep_plan_size(plan), 6);
    ck_assert(mmx_sweep_write_manifest(plan, outdir, false, &error));
    static const char *const history[6][4] = {
        {"started", "finished", NULL},
        {"started", "failed", NULL},
        {"started", "failed", "started", NULL},
        {"started", NULL},
        {"started", "failed", "started", "failed"},
        {NULL},
    };
    GString *log = g_string_new(NULL);
    for (int i = 0; i < 6; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        for (int k = 0; k < 4 && history[i][k]; k++) {
            g_autoptr(json_t) rec =
                json_pack("{ss ss si sI ss}", "event", history[i][k], "id", t->id, "index", i,
                          "seed", (json_int_t)t->seed, "variant", t->variant);
            if (strcmp(history[i][k], "finished") == 0)
                json_object_set_new(rec, "result",
                                    json_pack("{ss sf sf}", "status", "finished", "test_acc",
                                              0.8, "test_loss", 0.5));
            if (strcmp(history[i][k], "failed") == 0)
                json_object_set_new(rec, "reason", json_sprintf("attempt %d failed", k));
            g_autofree char *line = json_dumps(rec, JSON_COMPACT);
            g_string_append_printf(log, "%s\n", line);
        }
    }
    g_autofree char *text = g_string_free(log, FALSE);
    write_text(dir, "out/results.jsonl", text);

    /* The report's view. */
    g_autoptr(mmx_report) report = mmx_report_new(outdir, &error);
    ck_assert_msg(report != NULL, "%s", error ? error->message : "");
    g_autoptr(json_t) rj = mmx_report_to_json(report);
    json_t *v = json_array_get(json_object_get(rj, "variants"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "planned")), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "finished")), 1);
    json_t *failures = json_object_get(rj, "failures");
    g_autofree char *fs = json_dumps(failures, 0);
    ck_assert_msg(json_array_size(failures) == 2, "report failures: %s", fs);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "failed")), 2);
    ck_assert_contains(json_string_value(json_array_get(failures, 0)), "seed 1: attempt 1 failed");
    ck_assert_contains(json_string_value(json_array_get(failures, 1)), "seed 4: attempt 3 failed");

    /* The coordinator's view: what it counts as finished and failed, and what it runs
     * (without --retry-failed: only trials neither finished nor failed). */
    recording_exec x = {g_array_new(FALSE, FALSE, sizeof(int)), G_QUEUE_INIT};
    mmx_sweep_executor ex = {1, recording_start, recording_poll, recording_stop, &x};
    mmx_sweep_run_options opt = mmx_sweep_run_options_default();
    opt.out_dir = outdir;
    opt.trainer = "/bin/false";
    opt.resume = true;
    opt.log = NULL;
    mmx_sweep_summary sum;
    g_clear_error(&error);
    mmx_sweep_run(plan, &opt, &ex, &sum, &error);
    ck_assert_int_eq(sum.planned, 6);
    ck_assert_int_eq(sum.finished, 1);
    ck_assert_int_eq(sum.failed, 2);
    ck_assert_int_eq(x.started->len, 3);
    ck_assert_int_eq(g_array_index(x.started, int, 0), 2);
    ck_assert_int_eq(g_array_index(x.started, int, 1), 3);
    ck_assert_int_eq(g_array_index(x.started, int, 2), 5);
    g_array_unref(x.started);

    /* After that run (each trial started and interrupted) the report still agrees. */
    g_autoptr(mmx_report) again = mmx_report_new(outdir, &error);
    ck_assert_ptr_nonnull(again);
    g_autoptr(json_t) aj = mmx_report_to_json(again);
    ck_assert_int_eq(json_array_size(json_object_get(aj, "failures")), 2);
}
END_TEST

static Suite *
sweep_suite(void)
{
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("planner");
    tcase_add_test(tc, test_plan_grid_seeds);
    tcase_add_test(tc, test_plan_base_without_train);
    tcase_add_test(tc, test_plan_ids_ignore_docs);
    tcase_add_test(tc, test_plan_ids_are_canonical);
    tcase_add_test(tc, test_plan_zip);
    tcase_add_test(tc, test_plan_random);
    tcase_add_test(tc, test_plan_ablation);
    tcase_add_test(tc, test_plan_variants_patches);
    tcase_add_test(tc, test_plan_variant_bases);
    tcase_add_test(tc, test_plan_wildcard_and_invalid);
    tcase_add_test(tc, test_plan_constraints_duplicates);
    tcase_add_test(tc, test_plan_spec_for_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("reader");
    tcase_add_test(tc, test_rejected_inputs);
    tcase_add_test(tc, test_all_errors_collected);
    tcase_add_test(tc, test_base_spec_broken);
    tcase_add_test(tc, test_shipped_sweeps);
    suite_add_tcase(s, tc);
    tc = tcase_create("coordinator");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_run_and_resume);
    tcase_add_test(tc, test_failures_recorded);
    tcase_add_test(tc, test_torn_line_and_lost_record);
    tcase_add_test(tc, test_dry_run);
    tcase_add_test(tc, test_slurm_and_collect);
    tcase_add_test(tc, test_sigterm_stops_cleanly);
    tcase_add_test(tc, test_sigint_message);
    tcase_add_test(tc, test_locked_folder);
    tcase_add_test(tc, test_kill9_stress);
    tcase_add_test(tc, test_prune_asha);
    tcase_add_test(tc, test_prune_median);
    tcase_add_test(tc, test_kill9_stress_pruned);
    tcase_add_test(tc, test_floors);
    tcase_add_test(tc, test_mpi_executor);
    tcase_add_test(tc, test_report_and_coordinator_agree);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return mmx_test_run(sweep_suite());
}
