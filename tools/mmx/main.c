/* main.c: the mmx command line: subcommand dispatch, `mmx --help`, `mmx help CMD`.
 *
 * Exit status: 0 success, 1 runtime failure, 2 invalid input or usage (cli.h).
 * Each subcommand lives in cmd-<name>.c and parses its own options with GOption.
 */
#include "cli.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

int mmx_cmd_plugins(int argc, char **argv);
int mmx_cmd_sweep(int argc, char **argv);
int mmx_cmd_report(int argc, char **argv);
int mmx_cmd_validate(int argc, char **argv);
int mmx_cmd_info(int argc, char **argv);
int mmx_cmd_train(int argc, char **argv);
int mmx_cmd_eval(int argc, char **argv);
int mmx_cmd_bench(int argc, char **argv);
int mmx_cmd_generate(int argc, char **argv);
int mmx_cmd_analyze(int argc, char **argv);
int mmx_cmd_check_plugin(int argc, char **argv);
int mmx_cmd_new_plugin(int argc, char **argv);
int mmx_cmd_version(int argc, char **argv);
int mmx_cmd_init(int argc, char **argv);

/* Adding a command? Add its cmd-<name>.c to meson.build and a line here. */
const mmx_command mmx_commands[] = {
    {"init", "NAME [--from MODEL]",
     "write NAME.json, a commented starting model spec (or a copy of a zoo model) to edit",
     mmx_cmd_init},
    {"plugins", "[--json] [--plugin PATH]...",
     "list plugins, ops, attribute schemas, kernels (and which one this CPU gets), load errors",
     mmx_cmd_plugins},
    {"sweep",
     "SWEEP [--out DIR] [--workers N] [--threads-per-trial N] [--dry-run] [--resume] "
     "[--retry-failed] [--extend] [--timeout SECONDS] [--executor local|mpi] [--emit-slurm FILE] "
     "[--trial INDEX] [--collect DIR] [--json]",
     "run an ablation sweep: trials as child processes, resumable; see docs/sweeps.md",
     mmx_cmd_sweep},
    {"report", "DIR [--format md|csv|svg|all] [--json]",
     "tables and SVG plots of a sweep: mean +- std, deltas vs the baseline with 95% CIs",
     mmx_cmd_report},
    {"validate", "SPEC... [--set /PTR=VALUE]... [--json]",
     "check model specs: every error as file:line:col: /pointer: message", mmx_cmd_validate},
    {"info", "SPEC [--batch N] [--json] [--set /PTR=VALUE]...",
     "per node: op, output shape, parameters, FLOPs, activation memory; totals", mmx_cmd_info},
    {"train",
     "SPEC [--data NAME|DIR] [--epochs N] [--batch N] [--lr X] [--wd X] [--seed S] [--threads N] "
     "[--set /PTR=VALUE]... [--out DIR] [--resume DIR] [--quiet] [--json]",
     "train a spec; writes config.json, metrics.jsonl, result.json and checkpoints", mmx_cmd_train},
    {"eval", "SPEC --weights FILE [--data NAME|DIR] [--batch N] [--logits FILE] [--json]",
     "test accuracy and loss of a checkpoint", mmx_cmd_eval},
    {"bench", "SPEC [--batch N] [--mode train|infer] [--steps N] [--warmup N] [--json]",
     "warm-up, then timed steps: median, min and max of ms/step and img/s", mmx_cmd_bench},
    {"generate",
     "SPEC --weights FILE --prompt TEXT [--tokens N] [--temperature T] [--top-k K] [--seed S]",
     "continue a prompt with a trained byte language model, streaming to stdout",
     mmx_cmd_generate},
    {"analyze", "SPEC --weights FILE | RUN_DIR | SWEEP_DIR [--json] [--svg DIR]",
     "what trained mixers learned: weight symmetry, spectra, ranks, heavy tails; over training",
     mmx_cmd_analyze},
    {"check-plugin", "[FILE.so | NAME | --all] [--op NAME] [--quick] [--json] [--plugin PATH]...",
     "conformance kit: gradients, SIMD vs scalar, schemas, memory bounds, threads, leaks",
     mmx_cmd_check_plugin},
    {"new-plugin", "NAME [--kind channelwise|elementwise] [--dir DIR] [--json]",
     "write a buildable plugin project: one op with scalar and AVX2 kernels, tests, a spec",
     mmx_cmd_new_plugin},
    {"version", "[--pkg-config-path]",
     "print the version, or the directory of this install's mmx-plugin.pc", mmx_cmd_version},
    {NULL, NULL, NULL, NULL},
};

static void
usage(FILE *out)
{
    fprintf(out, "mmx %s: a plugin-based architecture explorer for the MetaMixer abstraction\n\n"
                 "Usage: mmx COMMAND [OPTIONS]\n\nCommands:\n",
            mmx_version());
    for (const mmx_command *c = mmx_commands; c->name; c++)
        fprintf(out, "  %-13s %s\n", c->name, c->summary);
    fprintf(out, "  %-13s %s\n", "help", "help CMD: the options of one command");
    fprintf(out, "\nExit status: 0 success, 1 runtime failure, 2 invalid input or usage.\n"
                 "Environment: MMX_PLUGIN_PATH (plugin directories, colon separated), "
                 "MMX_ISA (scalar|avx2|avx512 caps the kernels), MMX_THREADS.\n"
                 "Documentation: docs/ in the source tree or share/doc/mmx.\n");
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C"); /* numbers in JSON and tables always use '.' */
    if (argc < 2) {
        usage(stderr);
        return MMX_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return MMX_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0)
        name = "version";
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return MMX_EXIT_OK;
        }
        const mmx_command *c = mmx_command_find(argv[2]);
        if (c == NULL)
            return mmx_cli_fail("help", MMX_EXIT_USAGE, "unknown command '%s'", argv[2]);
        char *hargv[] = {argv[0], (char *)c->name, "--help", NULL};
        return c->run(3, hargv);
    }
    const mmx_command *c = mmx_command_find(name);
    if (c == NULL) {
        g_autoptr(GPtrArray) names = g_ptr_array_new();
        for (const mmx_command *k = mmx_commands; k->name; k++)
            g_ptr_array_add(names, (gpointer)k->name);
        g_ptr_array_add(names, NULL);
        const char *hint = mmx_suggest(name, (const char *const *)names->pdata);
        fprintf(stderr, "mmx: unknown command '%s'%s%s%s; see 'mmx --help'\n", name,
                hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        return MMX_EXIT_USAGE;
    }
    g_autoptr(GError) error = NULL;
    if (!mmx_isa_cap_from_env(&error)) {
        fprintf(stderr, "mmx: %s\n", error->message);
        return MMX_EXIT_USAGE;
    }
    /* Each command sees argv starting at its own name. */
    return c->run(argc - 1, argv + 1);
}
