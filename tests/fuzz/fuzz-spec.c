/* fuzz-spec.c: libFuzzer target for the model spec reader: the bytes as a spec file, read
 * with positions, resolved, checked and expanded into a graph against the shipped plugins
 * (MMX_PLUGIN_PATH), then the figures `mmx info` and `mmx train` compute before they
 * allocate anything (parameter count, FLOPs, the memory estimates). Any input must end in
 * a spec or in located problems, never in a crash, a leak or a hang. Built with
 * -Dfuzz=true (clang); tests/fuzz/run-fuzz.sh runs it:
 *
 *     CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false && ninja -C build-fuzz
 *     tests/fuzz/run-fuzz.sh build-fuzz 60 spec
 *
 * Inputs that name plugin files by path ("plugins": ["./x.so"]) are skipped: loading
 * arbitrary shared objects from the file system is not parsing.
 */
#include <string.h>

#include <mmx/mmx.h>

static mmx_registry *reg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when a "plugins" list names a file path rather than a plugin name. */
static bool
names_plugin_file(json_t *root)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(root, "plugins"), i, e)
    {
        const char *s = json_string_value(e);
        if (s && strchr(s, '/'))
            return true;
    }
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (reg == NULL) {
        reg = mmx_registry_new();
        mmx_registry_scan_default(reg, NULL);
    }
    mmx_diags *diags = mmx_diags_new();
    mmx_json_file *file = mmx_json_file_parse("fuzz.json", (const char *)data, size, diags);
    if (file && names_plugin_file(mmx_json_file_root(file))) {
        mmx_json_file_free(file);
        mmx_diags_free(diags);
        return -1; /* not added to the corpus */
    }
    mmx_spec *spec = file ? mmx_spec_new(reg, file, NULL, diags) : NULL;
    mmx_graph *graph = spec ? mmx_graph_new_diags(spec, diags) : NULL;
    /* Every refusal says something. */
    if (graph == NULL && mmx_diags_count(diags) == 0)
        __builtin_trap();
    if (graph) {
        (void)mmx_graph_param_count(graph);
        (void)mmx_graph_flops(graph);
        (void)mmx_model_estimate(graph, 2);
        (void)mmx_exec_estimate(graph, 3, true);
    }
    /* Every message is formatted, as mmx validate prints it. */
    g_free(mmx_diags_to_string(diags));
    mmx_graph_free(graph);
    mmx_spec_free(spec);
    mmx_diags_free(diags);
    return 0;
}
