/* cmd-info.c: `mmx info SPEC [--batch N] [--json]`: the graph of a model spec, node by
 * node: op, output shape, parameters, FLOPs and activation memory at a batch size, and
 * the totals, with the counting convention stated (docs/spec-format.md, "mmx info").
 */
#include "cli.h"
#include "graph-json.h"

#include <mmx/mmx-graph.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char convention[] =
    "FLOPs: per sample, forward only, as the ops' cost functions count them: 2 per "
    "multiply-add, 1 per other arithmetic operation. Parameters: elements of trainable "
    "tensors, a tied tensor counted once (at the node that owns it); buffers (running "
    "statistics) apart. Activation memory: the float32 output of every node times the "
    "batch, plus what each op saves for its backward pass at that batch, before the "
    "executor shares buffers between nodes.";

typedef struct node_row {
    int64_t params, buffers;
    double flops;
    int64_t act_bytes, saved_bytes;
} node_row;

static node_row
row_of(const mmx_graph *g, int i, int64_t batch)
{
    const mmx_graph_node *n = mmx_graph_get_node(g, i);
    node_row r = {0};
    for (int j = 0; j < MMX_MAX_PARAMS; j++) {
        const mmx_graph_param *p = mmx_graph_get_param(g, n->params[j]);
        if (p == NULL || p->owner != i)
            continue;
        if (p->flags & MMX_PARAM_BUFFER)
            r.buffers += mmx_shape_numel(&p->info.shape);
        else
            r.params += mmx_shape_numel(&p->info.shape);
    }
    mmx_cost cost = {.struct_size = sizeof(mmx_cost)};
    mmx_op_instance_cost(n->inst, &cost);
    r.flops = cost.flops;
    r.act_bytes = mmx_shape_numel(&mmx_graph_get_value(g, n->output)->shape) * batch * 4;
    mmx_buffer_sizes sizes = {.struct_size = sizeof(mmx_buffer_sizes)};
    mmx_op_instance_buffer_sizes(n->inst, batch, &sizes);
    r.saved_bytes = (int64_t)sizes.saved;
    return r;
}

/* "blocks.0.mixer.value.weight -> blocks.0.mixer.key.weight" for each tied use. */
static json_t *
ties_of(const mmx_graph *g, int i)
{
    const mmx_graph_node *n = mmx_graph_get_node(g, i);
    const mmx_op_desc *d = mmx_op_get_desc(n->op);
    json_t *list = json_array();
    for (size_t j = 0; j < d->n_params; j++) {
        const mmx_graph_param *p = mmx_graph_get_param(g, n->params[j]);
        if (p && p->owner != i) {
            g_autofree char *t =
                g_strdup_printf("%s.%s -> %s", n->name, d->params[j]->name, p->name);
            json_array_append_new(list, json_string(t));
        }
    }
    return list;
}

static json_t *
shape_json(const mmx_shape *s)
{
    json_t *o = json_object();
    json_t *dims = json_array();
    for (int i = 0; i < s->rank; i++)
        json_array_append_new(dims, json_integer(s->dim[i]));
    json_object_set_new(o, "dims", dims);
    json_object_set_new(o, "grid",
                        s->height > 0
                            ? json_pack("[I, I]", (json_int_t)s->height, (json_int_t)s->width)
                            : json_null());
    return o;
}

static char *
human_bytes(double b)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    return u == 0 ? g_strdup_printf("%.0f B", b) : g_strdup_printf("%.2f %s", b, units[u]);
}

/* The fusions the training executor plans (MMX_FUSE=0: none), as JSON. */
static json_t *
fusions_json(const mmx_graph *g, GArray *fusions)
{
    json_t *list = json_array();
    for (guint i = 0; i < fusions->len; i++) {
        const mmx_fusion *f = &g_array_index(fusions, mmx_fusion, i);
        const mmx_graph_node *p = mmx_graph_get_node(g, f->producer);
        json_t *o = json_pack("{s:s, s:s?, s:s}", "kind", mmx_fusion_kind_name(f->kind),
                              "producer", p ? p->name : NULL, "node",
                              mmx_graph_get_node(g, f->node)->name);
        if (f->kind == MMX_FUSION_RESIDUAL_GRADIENT) {
            json_t *inputs = json_array();
            for (int k = 0; k < 2; k++)
                if (f->shared & (1 << k))
                    json_array_append_new(inputs, json_integer(k));
            json_object_set_new(o, "shared_inputs", inputs);
        }
        json_array_append_new(list, o);
    }
    return list;
}

static char *
human_count(double x)
{
    if (x >= 1e9)
        return g_strdup_printf("%.3gG", x / 1e9);
    if (x >= 1e6)
        return g_strdup_printf("%.3gM", x / 1e6);
    if (x >= 1e3)
        return g_strdup_printf("%.3gk", x / 1e3);
    return g_strdup_printf("%.0f", x);
}

int
mmx_cmd_info(int argc, char **argv)
{
    gboolean json = FALSE;
    int batch = 1;
    g_auto(GStrv) sets = NULL;
    GOptionEntry entries[] = {
        {"batch", 'b', 0, G_OPTION_ARG_INT, &batch, "Batch size for the memory figures (1)", "N"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Machine-readable output", NULL},
        {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sets,
         "Override a value of the spec before it is resolved (repeatable)", "/POINTER=VALUE"},
        MMX_CLI_PLUGIN_OPTION,
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find("info"), entries, convention, &argc, &argv, &code))
        return code;
    if (argc != 2)
        return mmx_cli_fail("info", MMX_EXIT_USAGE, "expected one spec; try 'mmx help info'");
    if (batch < 1)
        return mmx_cli_fail("info", MMX_EXIT_USAGE, "--batch must be at least 1, got %d", batch);
    g_autoptr(mmx_registry) reg = mmx_cli_registry();
    if (reg == NULL)
        return MMX_EXIT_USAGE;
    g_autoptr(mmx_diags) diags = mmx_diags_new();
    mmx_json_file *file = mmx_json_file_load(argv[1], diags);
    g_autoptr(mmx_spec) spec =
        file ? mmx_spec_new(reg, file, (const char *const *)sets, diags) : NULL;
    g_autoptr(mmx_graph) g = spec ? mmx_graph_new_diags(spec, diags) : NULL;
    if (g == NULL) {
        for (guint i = 0; i < mmx_diags_count(diags); i++) {
            g_autofree char *line = mmx_diags_format(diags, i);
            fprintf(stderr, "%s\n", line);
        }
        return MMX_EXIT_USAGE;
    }
    int n = mmx_graph_n_nodes(g);
    node_row total = {0};
    for (int i = 0; i < n; i++) {
        node_row r = row_of(g, i, batch);
        total.act_bytes += r.act_bytes;
        total.saved_bytes += r.saved_bytes;
    }
    total.params = mmx_graph_param_count(g);
    total.buffers = mmx_graph_buffer_count(g);
    total.flops = mmx_graph_flops(g);
    mmx_shape in = mmx_spec_input_shape(spec);
    /* What `mmx train` checks before allocating (AdamW: two state vectors): a spec too
     * big for this machine is reported here, and refused there. */
    size_t model_bytes = mmx_model_estimate(g, 2);
    size_t plan_bytes = mmx_exec_estimate(g, batch, true);
    size_t train_bytes = model_bytes == SIZE_MAX || plan_bytes == 0 || plan_bytes > SIZE_MAX / 2
                             ? SIZE_MAX
                             : model_bytes + plan_bytes;
    size_t avail = mmx_memory_available();
    g_autoptr(GArray) fusions =
        mmx_fusion_default() ? mmx_fusion_plan(g, true) : g_array_new(FALSE, FALSE, sizeof(mmx_fusion));

    if (json) {
        json_t *root = json_object();
        json_object_set_new(root, "name", json_string(mmx_spec_name(spec)));
        json_object_set_new(root, "path", json_string(mmx_spec_path(spec)));
        json_object_set_new(root, "batch", json_integer(batch));
        json_object_set_new(root, "input", shape_json(&in));
        json_object_set_new(root, "classes", json_integer(mmx_spec_classes(spec)));
        json_t *nodes = json_array();
        for (int i = 0; i < n; i++) {
            const mmx_graph_node *nd = mmx_graph_get_node(g, i);
            node_row r = row_of(g, i, batch);
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(nd->name));
            json_object_set_new(o, "op", json_string(mmx_op_name(nd->op)));
            json_object_set_new(o, "output",
                                shape_json(&mmx_graph_get_value(g, nd->output)->shape));
            json_object_set_new(o, "params", json_integer(r.params));
            json_object_set_new(o, "buffers", json_integer(r.buffers));
            json_object_set_new(o, "tied", ties_of(g, i));
            json_object_set_new(o, "flops", json_real(r.flops));
            json_object_set_new(o, "activation_bytes", json_integer(r.act_bytes));
            json_object_set_new(o, "saved_bytes", json_integer(r.saved_bytes));
            json_object_set_new(o, "where", json_string(nd->where));
            mmx_cli_graph_node_json(g, i, o);
            json_array_append_new(nodes, o);
        }
        json_object_set_new(root, "nodes", nodes);
        mmx_cli_graph_json(spec, g, root);
        json_t *t = json_object();
        json_object_set_new(t, "nodes", json_integer(n));
        json_object_set_new(t, "params", json_integer(total.params));
        json_object_set_new(t, "buffers", json_integer(total.buffers));
        json_object_set_new(t, "param_bytes", json_integer((total.params + total.buffers) * 4));
        json_object_set_new(t, "flops", json_real(total.flops));
        json_object_set_new(t, "activation_bytes", json_integer(total.act_bytes));
        json_object_set_new(t, "saved_bytes", json_integer(total.saved_bytes));
        json_object_set_new(t, "train_bytes",
                            train_bytes == SIZE_MAX ? json_null()
                                                    : json_integer((json_int_t)train_bytes));
        json_object_set_new(t, "available_bytes",
                            avail == SIZE_MAX ? json_null() : json_integer((json_int_t)avail));
        json_object_set_new(root, "totals", t);
        json_object_set_new(root, "fusions", fusions_json(g, fusions));
        json_object_set_new(root, "convention", json_string(convention));
        mmx_cli_print_json(root);
        return MMX_EXIT_OK;
    }

    g_autofree char *ins = mmx_shape_to_string(&in);
    printf("model %s (%s)\ninput %s, %d classes; memory at batch %d\n\n", mmx_spec_name(spec),
           mmx_spec_path(spec), ins, mmx_spec_classes(spec), batch);
    int w = 4;
    for (int i = 0; i < n; i++)
        w = MAX(w, (int)strlen(mmx_graph_get_node(g, i)->name));
    printf("%-*s  %-18s %-24s %12s %12s %12s\n", w, "node", "op", "output", "params", "FLOPs",
           "activations");
    for (int i = 0; i < n; i++) {
        const mmx_graph_node *nd = mmx_graph_get_node(g, i);
        node_row r = row_of(g, i, batch);
        g_autofree char *shape = mmx_shape_to_string(&mmx_graph_get_value(g, nd->output)->shape);
        g_autofree char *fl = human_count(r.flops);
        g_autofree char *mem = human_bytes((double)(r.act_bytes + r.saved_bytes));
        json_t *ties = ties_of(g, i);
        g_autofree char *params = json_array_size(ties)
                                      ? g_strdup_printf("%" PRId64 " tied", r.params)
                                      : g_strdup_printf("%" PRId64, r.params);
        json_decref(ties);
        printf("%-*s  %-18s %-24s %12s %12s %12s\n", w, nd->name, mmx_op_name(nd->op), shape,
               params, fl, mem);
    }
    g_autofree char *pb = human_bytes((double)(total.params + total.buffers) * 4);
    g_autofree char *ab = human_bytes((double)(total.act_bytes + total.saved_bytes));
    g_autofree char *tf = human_count(total.flops);
    g_autofree char *bf = human_count(total.flops * batch);
    printf("\ntotal: %d nodes; %" PRId64 " parameters (%" PRId64 " buffer elements, %s float32); "
           "%s FLOPs per sample (%.0f), %s per batch of %d; activations %s at batch %d\n\n%s\n",
           n, total.params, total.buffers, pb, tf, total.flops, bf, batch, ab, batch, convention);
    g_autofree char *tb = train_bytes == SIZE_MAX ? g_strdup("more than 2^62 bytes")
                                                  : human_bytes((double)train_bytes);
    g_autofree char *av = human_bytes((double)avail);
    printf("\ntraining memory at batch %d (AdamW): %s planned (parameters, gradients, optimizer "
           "state, shared activation buffers); %s available%s\n",
           batch, tb, avail == SIZE_MAX ? "unknown" : av,
           train_bytes > avail ? ": does not fit, mmx train refuses it before allocating" : "");
    printf("\nfusions the training executor plans (docs/performance.md, \"Fusion\"; MMX_FUSE=0 "
           "turns them off): %u%s\n",
           fusions->len, fusions->len ? "" : mmx_fusion_default() ? "" : " (MMX_FUSE=0)");
    for (guint i = 0; i < fusions->len; i++) {
        const mmx_fusion *f = &g_array_index(fusions, mmx_fusion, i);
        const mmx_graph_node *p = mmx_graph_get_node(g, f->producer);
        const mmx_graph_node *nd = mmx_graph_get_node(g, f->node);
        if (p)
            printf("  %-18s %s -> %s\n", mmx_fusion_kind_name(f->kind), p->name, nd->name);
        else
            printf("  %-18s %s (%s)\n", mmx_fusion_kind_name(f->kind), nd->name,
                   f->shared == 3 ? "both inputs share its gradient"
                                  : f->shared == 1 ? "input 0 shares its gradient"
                                                   : "input 1 shares its gradient");
    }
    return MMX_EXIT_OK;
}
