/* cmd-plugins.c: `mmx plugins [--json]`: every plugin, op, attribute schema, parameter
 * and kernel (ISA, eligible here, chosen), and every load failure with its reason.
 * The JSON form is documented in docs/cli.md; its shape is held by tests/cli. */
#include "cli.h"

#include <math.h>
#include <stdio.h>

static const char *const attr_type_names[] = {"int", "float", "bool", "string", "ints"};
static const char *const failure_kinds[] = {"not_found", "not_shared", "no_entry", "abi",
                                            "entry_failed", "invalid", "duplicate"};

static json_t *
attr_json(const mmx_attr_desc *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "type", json_string(attr_type_names[a->type]));
    json_object_set_new(o, "required", json_boolean(a->flags & MMX_ATTR_REQUIRED));
    switch (a->type) {
    case MMX_ATTR_INT:
        json_object_set_new(o, "default", json_integer((json_int_t)a->default_number));
        break;
    case MMX_ATTR_FLOAT:
        json_object_set_new(o, "default", json_real(a->default_number));
        break;
    case MMX_ATTR_BOOL:
        json_object_set_new(o, "default", json_boolean(a->default_number != 0));
        break;
    case MMX_ATTR_STRING:
        json_object_set_new(o, "default", a->default_string ? json_string(a->default_string)
                                                            : json_null());
        break;
    case MMX_ATTR_INTS: {
        json_t *l = json_array();
        for (int i = 0; i < a->default_count; i++)
            json_array_append_new(l, json_integer(a->default_ints[i]));
        json_object_set_new(o, "default", l);
        break;
    }
    }
    if (a->flags & MMX_ATTR_HAS_RANGE) {
        json_object_set_new(o, "min", json_real(a->min));
        json_object_set_new(o, "max", json_real(a->max));
    }
    if (a->choices) {
        json_t *l = json_array();
        for (const char *const *c = a->choices; *c; c++)
            json_array_append_new(l, json_string(*c));
        json_object_set_new(o, "choices", l);
    }
    json_object_set_new(o, "doc", json_string(a->doc ? a->doc : ""));
    return o;
}

static json_t *
op_json(const mmx_op *op, mmx_isa here)
{
    const mmx_op_desc *d = mmx_op_get_desc(op);
    const mmx_kernel_desc *chosen = mmx_op_choose_kernel(op, here);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "version", json_integer(d->op_version));
    json_object_set_new(o, "doc", json_string(d->doc ? d->doc : ""));
    json_t *inputs = json_object();
    json_object_set_new(inputs, "min", json_integer(d->min_inputs));
    json_object_set_new(inputs, "max", json_integer(d->max_inputs));
    json_t *roles = json_array();
    for (uint32_t i = 0; i < d->max_inputs; i++)
        json_array_append_new(roles, json_string(d->input_roles && d->input_roles[i] == MMX_INPUT_MEMORY
                                                     ? "memory"
                                                     : "data"));
    json_object_set_new(inputs, "roles", roles);
    json_object_set_new(o, "inputs", inputs);
    json_t *attrs = json_array();
    for (size_t i = 0; i < d->n_attrs; i++)
        json_array_append_new(attrs, attr_json(d->attrs[i]));
    json_object_set_new(o, "attrs", attrs);
    json_t *params = json_array();
    for (size_t i = 0; i < d->n_params; i++) {
        const mmx_param_desc *p = d->params[i];
        json_t *po = json_object();
        json_object_set_new(po, "name", json_string(p->name));
        json_object_set_new(po, "init", json_string(mmx_init_name(p->init)));
        json_object_set_new(po, "no_decay", json_boolean(p->flags & MMX_PARAM_NO_DECAY));
        json_object_set_new(po, "buffer", json_boolean(p->flags & MMX_PARAM_BUFFER));
        json_object_set_new(po, "doc", json_string(p->doc ? p->doc : ""));
        json_array_append_new(params, po);
    }
    json_object_set_new(o, "params", params);
    json_t *kernels = json_array();
    for (size_t i = 0; i < d->n_kernels; i++) {
        const mmx_kernel_desc *k = d->kernels[i];
        json_t *ko = json_object();
        json_object_set_new(ko, "name", json_string(k->name));
        json_object_set_new(ko, "isa", json_string(mmx_isa_name(k->isa)));
        json_object_set_new(ko, "eligible", json_boolean(k->isa <= here));
        json_object_set_new(ko, "chosen", json_boolean(k == chosen));
        json_object_set_new(ko, "backward", json_boolean(k->backward != NULL));
        json_array_append_new(kernels, ko);
    }
    json_object_set_new(o, "kernels", kernels);
    return o;
}

static json_t *
registry_json(const mmx_registry *reg)
{
    mmx_isa here = mmx_cpu_isa();
    json_t *root = json_object();
    json_object_set_new(root, "mmx_version", json_string(mmx_version()));
    json_t *abi = json_object();
    json_object_set_new(abi, "major", json_integer(MMX_PLUGIN_ABI_MAJOR));
    json_object_set_new(abi, "minor", json_integer(MMX_PLUGIN_ABI_MINOR));
    json_object_set_new(root, "abi", abi);
    json_t *cpu = json_object();
    g_autofree char *model = mmx_cpu_model();
    json_object_set_new(cpu, "model", json_string(model));
    json_object_set_new(cpu, "detected_isa", json_string(mmx_isa_name(mmx_cpu_isa_detected())));
    json_object_set_new(cpu, "isa", json_string(mmx_isa_name(here)));
    const char *cap = g_getenv("MMX_ISA");
    json_object_set_new(cpu, "cap", cap && *cap ? json_string(cap) : json_null());
    json_object_set_new(root, "cpu", cpu);
    json_t *plugins = json_array();
    for (guint i = 0; i < mmx_registry_n_plugins(reg); i++) {
        const mmx_plugin *p = mmx_registry_plugin(reg, i);
        const mmx_plugin_desc *d = mmx_plugin_get_desc(p);
        json_t *po = json_object();
        json_object_set_new(po, "name", json_string(d->name));
        json_object_set_new(po, "version", json_string(d->version ? d->version : ""));
        json_object_set_new(po, "abi_major", json_integer(d->abi_major));
        json_object_set_new(po, "abi_minor", json_integer(d->abi_minor));
        json_object_set_new(po, "path", json_string(mmx_plugin_path(p)));
        json_object_set_new(po, "doc", json_string(d->doc ? d->doc : ""));
        json_t *ops = json_array();
        for (guint j = 0; j < mmx_plugin_n_ops(p); j++)
            json_array_append_new(ops, op_json(mmx_plugin_op(p, j), here));
        json_object_set_new(po, "ops", ops);
        json_array_append_new(plugins, po);
    }
    json_object_set_new(root, "plugins", plugins);
    json_t *failures = json_array();
    for (guint i = 0; i < mmx_registry_n_failures(reg); i++) {
        const char *path, *message;
        int code;
        mmx_registry_failure(reg, i, &path, &message, &code);
        json_t *fo = json_object();
        json_object_set_new(fo, "path", json_string(path));
        json_object_set_new(fo, "kind", json_string(code >= 0 && code < (int)G_N_ELEMENTS(failure_kinds)
                                                        ? failure_kinds[code]
                                                        : "unknown"));
        json_object_set_new(fo, "message", json_string(message));
        json_array_append_new(failures, fo);
    }
    json_object_set_new(root, "failures", failures);
    return root;
}

static void
print_text(const mmx_registry *reg)
{
    mmx_isa here = mmx_cpu_isa();
    g_autofree char *model = mmx_cpu_model();
    printf("CPU: %s; kernels chosen for %s (detected %s%s%s)\n", model, mmx_isa_name(here),
           mmx_isa_name(mmx_cpu_isa_detected()), g_getenv("MMX_ISA") ? ", MMX_ISA=" : "",
           g_getenv("MMX_ISA") ? g_getenv("MMX_ISA") : "");
    for (guint i = 0; i < mmx_registry_n_plugins(reg); i++) {
        const mmx_plugin *p = mmx_registry_plugin(reg, i);
        const mmx_plugin_desc *d = mmx_plugin_get_desc(p);
        printf("\nplugin %s %s (ABI %u.%u)  %s\n  %s\n", d->name, d->version ? d->version : "",
               d->abi_major, d->abi_minor, mmx_plugin_path(p), d->doc ? d->doc : "");
        for (guint j = 0; j < mmx_plugin_n_ops(p); j++) {
            const mmx_op *op = mmx_plugin_op(p, j);
            const mmx_op_desc *od = mmx_op_get_desc(op);
            const mmx_kernel_desc *chosen = mmx_op_choose_kernel(op, here);
            printf("  op %s v%u, %u..%u inputs: %s\n", od->name, od->op_version, od->min_inputs,
                   od->max_inputs, od->doc ? od->doc : "");
            for (size_t a = 0; a < od->n_attrs; a++) {
                const mmx_attr_desc *ad = od->attrs[a];
                g_autofree char *def = NULL;
                switch (ad->type) {
                case MMX_ATTR_STRING:
                    def = g_strdup(ad->default_string ? ad->default_string : "");
                    break;
                case MMX_ATTR_BOOL:
                    def = g_strdup(ad->default_number != 0 ? "true" : "false");
                    break;
                case MMX_ATTR_INTS:
                    def = g_strdup("[...]");
                    break;
                default:
                    def = g_strdup_printf("%g", ad->default_number);
                }
                g_autofree char *range = ad->flags & MMX_ATTR_HAS_RANGE
                                             ? g_strdup_printf(" in [%g, %g]", ad->min, ad->max)
                                             : g_strdup("");
                g_autofree char *choices = ad->choices ? g_strjoinv("|", (char **)ad->choices) : NULL;
                g_autofree char *value = ad->flags & MMX_ATTR_REQUIRED
                                             ? g_strdup("required")
                                             : g_strconcat("= ", def, NULL);
                printf("    attr %-12s %s%s%s%s%s %s  %s\n", ad->name, attr_type_names[ad->type],
                       range, choices ? " {" : "", choices ? choices : "", choices ? "}" : "",
                       value, ad->doc ? ad->doc : "");
            }
            for (size_t k = 0; k < od->n_params; k++)
                printf("    param %-11s init %s%s\n", od->params[k]->name,
                       mmx_init_name(od->params[k]->init),
                       od->params[k]->flags & MMX_PARAM_BUFFER ? " (buffer)" : "");
            for (size_t k = 0; k < od->n_kernels; k++) {
                const mmx_kernel_desc *kd = od->kernels[k];
                printf("    kernel %-20s %-7s %s%s\n", kd->name, mmx_isa_name(kd->isa),
                       kd->isa <= here ? "eligible" : "not eligible here",
                       kd == chosen ? "  <- chosen" : "");
            }
        }
    }
    guint nf = mmx_registry_n_failures(reg);
    if (nf)
        printf("\n%u plugin file%s refused:\n", nf, nf == 1 ? "" : "s");
    for (guint i = 0; i < nf; i++) {
        const char *path, *message;
        mmx_registry_failure(reg, i, &path, &message, NULL);
        printf("  %s: %s\n", path, message);
    }
}

int
mmx_cmd_plugins(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Machine-readable output (docs/cli.md)", NULL},
        MMX_CLI_PLUGIN_OPTION,
        G_OPTION_ENTRY_NULL,
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find("plugins"), entries,
                       "Plugins are searched in --plugin paths, MMX_PLUGIN_PATH, then the build "
                       "tree (when run from it) or the install directory.",
                       &argc, &argv, &code))
        return code;
    if (argc > 1)
        return mmx_cli_fail("plugins", MMX_EXIT_USAGE, "unexpected argument '%s'", argv[1]);
    g_autoptr(mmx_registry) reg = mmx_registry_new();
    mmx_registry_scan_default(reg, (const char *const *)mmx_cli_plugin_paths);
    if (json)
        mmx_cli_print_json(registry_json(reg));
    else
        print_text(reg);
    /* Files found on the search path that fail to load are listed, not fatal: the listing
     * succeeded. A --plugin file the user named that fails is exit 2, after the listing
     * (which says why). */
    return mmx_cli_plugin_paths_loaded(reg) ? MMX_EXIT_OK : MMX_EXIT_USAGE;
}
