/* fuzz-sweep.c: libFuzzer target for the sweep reader and planner: the sweep spec's
 * structure, its base model spec (a small one, fixed, next to the fuzzed file), grid,
 * zip, random, ablation, variants with merge and JSON patches, wildcards, constraints and
 * duplicates, down to the manifest's JSON.
 *
 * Inputs whose "base" (or a variant's) names a path with '/' are skipped: the reader
 * would read that file, and the file system is not the input under test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <mmx/mmx.h>

static char *sweep_dir, *sweep_path;
static const char *const names[] = {"base.json", "other.json"};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base_spec[] =
    "{\"mmx\": 1, \"name\": \"base\", \"input\": {\"shape\": [8, 8, 1], \"classes\": 4},\n"
    " \"vars\": {\"dim\": 8, \"depth\": 1},\n"
    " \"stem\": [{\"op\": \"linear\", \"out\": \"${dim}\"}],\n"
    " \"blocks\": {\"repeat\": \"${depth}\", \"body\": [{\"norm\": {\"op\": \"layernorm\"},\n"
    "   \"mixer\": {\"key\": {\"op\": \"linear\", \"out\": \"2*${dim}\"}, \"activation\": {\"op\": "
    "\"gelu\"}, \"value\": {\"op\": \"linear\", \"out\": \"${dim}\"}}}]},\n"
    " \"head\": [{\"op\": \"mean_tokens\"}, {\"op\": \"linear\", \"out\": 4}],\n"
    " \"train\": {\"epochs\": 1, \"batch\": 16, \"lr\": 0.001, \"data\": \"synthetic:64:16\"}}\n";

static void
cleanup(void)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
        char *p = g_build_filename(sweep_dir, names[i], NULL);
        g_unlink(p);
        g_free(p);
    }
    g_rmdir(sweep_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sweep_dir = g_dir_make_tmp("mmx-fuzz-sweep-XXXXXX", NULL);
    if (sweep_dir == NULL)
        return 0;
    /* Two base specs a sweep may name: base.json and other.json. */
    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
        char *p = g_build_filename(sweep_dir, names[i], NULL);
        g_file_set_contents(p, base_spec, -1, NULL);
        g_free(p);
    }
    sweep_path = g_build_filename(sweep_dir, "sweep.json", NULL);
    atexit(cleanup);
    return 0;
}

static bool
reads_outside(json_t *root)
{
    const char *b = json_string_value(json_object_get(root, "base"));
    if (b && strchr(b, '/'))
        return true;
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(root, "variants"), name, v)
    {
        const char *vb = json_string_value(json_object_get(v, "base"));
        if (vb && strchr(vb, '/'))
            return true;
    }
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sweep_path == NULL)
        return 0;
    json_t *peek = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    bool skip = peek && reads_outside(peek);
    json_decref(peek);
    if (skip)
        return -1;
    GError *error = NULL;
    mmx_sweep *sweep = mmx_sweep_load_data((const char *)data, (gssize)size, sweep_path, &error);
    if (sweep == NULL) {
        g_error_free(error);
        return 0;
    }
    mmx_sweep_plan *plan = mmx_sweep_plan_new(sweep, &error);
    if (plan) {
        json_t *j = mmx_sweep_plan_to_json(plan);
        json_decref(j);
        for (int i = 0; i < mmx_sweep_plan_size(plan) && i < 4; i++) {
            json_t *spec = mmx_sweep_trial_spec_for_file(plan, mmx_sweep_plan_trial(plan, i));
            json_decref(spec);
        }
        mmx_sweep_plan_free(plan);
    } else {
        g_error_free(error);
    }
    mmx_sweep_free(sweep);
    return 0;
}
