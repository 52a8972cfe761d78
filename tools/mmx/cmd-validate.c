/* cmd-validate.c: `mmx validate SPEC...`: reads each spec and checks it all the way:
 * every problem on stderr as `file:line:col: /pointer: message`. Exit 0 when all are
 * valid, 2 otherwise.
 *
 * The kind of a spec is its top-level key: "mmx" is a model spec (resolved, checked
 * against the ops' schemas, every shape inferred), "mmx_sweep" a sweep spec (the sweep
 * reader's checks, then every trial's resolved model through the model reader). Adding
 * a kind is adding a row to `kinds` below.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Checks one spec of a kind (taking file): problems go to diags; the facts of the
 * summary go to info ("name", and "summary": the text after "valid <kind> 'name': "). */
typedef void (*validate_fn)(mmx_registry *reg, mmx_json_file *file, const char *const *overrides,
                            mmx_diags *diags, json_t *info);

static void
validate_model(mmx_registry *reg, mmx_json_file *file, const char *const *overrides,
               mmx_diags *diags, json_t *info)
{
    g_autoptr(mmx_spec) spec = mmx_spec_new(reg, file, overrides, diags);
    if (spec == NULL)
        return;
    g_autoptr(mmx_graph) graph = mmx_graph_new_diags(spec, diags);
    if (graph == NULL)
        return;
    json_object_set_new(info, "name", json_string(mmx_spec_name(spec)));
    json_object_set_new(info, "nodes", json_integer(mmx_graph_n_nodes(graph)));
    json_object_set_new(info, "params", json_integer(mmx_graph_param_count(graph)));
    json_object_set_new(info, "flops", json_real(mmx_graph_flops(graph)));
    g_autofree char *summary = g_strdup_printf(
        "%d nodes, %" PRId64 " parameters, %.4g FLOPs per sample", mmx_graph_n_nodes(graph),
        mmx_graph_param_count(graph), mmx_graph_flops(graph));
    json_object_set_new(info, "summary", json_string(summary));
}

/* The sweep reader reports "file:line:col: /pointer: message" lines in one GError: each
 * becomes one problem with its fields. */
static void
add_error_lines(mmx_diags *diags, const char *path, const char *text)
{
    g_autoptr(GRegex) re = g_regex_new("^(.+?):([0-9]+):([0-9]+): (/[^ ]*|/): (.*)$", 0, 0, NULL);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (**l == '\0')
            continue;
        g_autoptr(GMatchInfo) m = NULL;
        if (g_regex_match(re, *l, 0, &m)) {
            g_autofree char *file = g_match_info_fetch(m, 1);
            g_autofree char *line = g_match_info_fetch(m, 2);
            g_autofree char *col = g_match_info_fetch(m, 3);
            g_autofree char *ptr = g_match_info_fetch(m, 4);
            g_autofree char *msg = g_match_info_fetch(m, 5);
            mmx_diags_add(diags, file, atoi(line), atoi(col), strcmp(ptr, "/") ? ptr : "", "%s",
                          msg);
        } else {
            const char *msg = g_str_has_prefix(*l, path) && (*l)[strlen(path)] == ':'
                                  ? *l + strlen(path) + 1 + ((*l)[strlen(path) + 1] == ' ')
                                  : *l;
            mmx_diags_add(diags, path, 0, 0, NULL, "%s", msg);
        }
    }
}

static void
validate_sweep(mmx_registry *reg, mmx_json_file *file, const char *const *overrides,
               mmx_diags *diags, json_t *info)
{
    g_autofree char *path = g_strdup(mmx_json_file_name(file));
    mmx_json_file_free(file); /* the sweep reader reads the file itself */
    if (overrides && *overrides)
        mmx_diags_add(diags, path, 0, 0, NULL,
                      "--set applies to model specs; a sweep states its changes itself");
    g_autoptr(GError) error = NULL;
    g_autoptr(mmx_sweep) sweep = mmx_sweep_load(path, &error);
    g_autoptr(mmx_sweep_plan) plan = sweep ? mmx_sweep_plan_new(sweep, &error) : NULL;
    if (plan == NULL) {
        add_error_lines(diags, path, error->message);
        return;
    }
    mmx_sweep_plan_measure(plan, mmx_graph_measure, reg);
    int n = mmx_sweep_plan_size(plan);
    for (int i = 0; i < n; i++) {
        const mmx_trial *t = mmx_sweep_plan_trial(plan, i);
        if (t->state == MMX_TRIAL_INVALID)
            mmx_diags_add(diags, path, 0, 0, NULL, "trial %d (%s, seed %" PRId64 "): %s", t->index,
                          t->variant, t->seed, t->reason ? t->reason : "invalid");
    }
    json_object_set_new(info, "name", json_string(mmx_sweep_name(sweep)));
    json_object_set_new(info, "trials", json_integer(n));
    g_autofree char *summary = g_strdup_printf(
        "%d trials (%d to run, %d duplicates, %d over the constraints)", n,
        mmx_sweep_plan_count(plan, MMX_TRIAL_RUN), mmx_sweep_plan_count(plan, MMX_TRIAL_DUPLICATE),
        mmx_sweep_plan_count(plan, MMX_TRIAL_SKIPPED));
    json_object_set_new(info, "summary", json_string(summary));
}

static const struct {
    const char *key;  /* the top-level key that marks the kind */
    const char *kind; /* "model" */
    validate_fn fn;
} kinds[] = {
    {"mmx", "model", validate_model}, /* the first row is the default */
    {"mmx_sweep", "sweep", validate_sweep},
};

static int
validate_one(mmx_registry *reg, const char *path, const char *const *overrides, json_t *report)
{
    g_autoptr(mmx_diags) diags = mmx_diags_new();
    json_t *info = json_object();
    json_object_set_new(info, "path", json_string(path));
    const char *kind = NULL;
    mmx_json_file *file = mmx_json_file_load(path, diags);
    if (file) {
        /* The first kind whose key is present; a document with none of them (or not an
         * object) is read as a model, whose reader says what is missing. */
        json_t *root = mmx_json_file_root(file);
        size_t k = 0;
        for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++)
            if (json_is_object(root) && json_object_get(root, kinds[i].key)) {
                k = i;
                break;
            }
        kind = kinds[k].kind;
        json_object_set_new(info, "kind", json_string(kind));
        kinds[k].fn(reg, file, overrides, diags, info);
    }
    bool valid = mmx_diags_count(diags) == 0;
    for (guint i = 0; i < mmx_diags_count(diags); i++) {
        g_autofree char *line = mmx_diags_format(diags, i);
        fprintf(stderr, "%s\n", line);
    }
    json_object_set_new(info, "valid", json_boolean(valid));
    json_object_set_new(info, "errors", mmx_diags_to_json(diags));
    if (report) {
        json_array_append_new(report, info);
    } else {
        if (valid)
            printf("%s: valid %s '%s': %s\n", path, kind,
                   json_string_value(json_object_get(info, "name")),
                   json_string_value(json_object_get(info, "summary")));
        json_decref(info);
    }
    return valid ? MMX_EXIT_OK : MMX_EXIT_USAGE;
}

int
mmx_cmd_validate(int argc, char **argv)
{
    gboolean json = FALSE;
    g_auto(GStrv) sets = NULL;
    GOptionEntry entries[] = {
        {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sets,
         "Override a value of a model spec before it is resolved (repeatable)", "/POINTER=VALUE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json,
         "Print a JSON report on stdout (problems still go to stderr)", NULL},
        MMX_CLI_PLUGIN_OPTION,
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find("validate"), entries,
                       "Every problem is printed as file:line:col: /json/pointer: message.\n"
                       "A sweep spec (\"mmx_sweep\") is checked with every trial's model.\n"
                       "Exit status: 0 when every spec is valid, 2 otherwise.",
                       &argc, &argv, &code))
        return code;
    if (argc < 2)
        return mmx_cli_fail("validate", MMX_EXIT_USAGE, "no spec given; try 'mmx help validate'");
    g_autoptr(mmx_registry) reg = mmx_cli_registry();
    if (reg == NULL)
        return MMX_EXIT_USAGE;
    json_t *report = json ? json_array() : NULL;
    int status = MMX_EXIT_OK;
    for (int i = 1; i < argc; i++)
        if (validate_one(reg, argv[i], (const char *const *)sets, report) != MMX_EXIT_OK)
            status = MMX_EXIT_USAGE;
    if (report)
        mmx_cli_print_json(report);
    return status;
}
