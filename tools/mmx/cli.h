/* cli.h: what the subcommands of the mmx binary share: exit codes, the command table,
 * option parsing around GOptionContext, plugin loading and JSON output. */
#ifndef MMX_CLI_H
#define MMX_CLI_H

#include <mmx/mmx.h>

/* Exit status (DESIGN section 5). */
enum {
    MMX_EXIT_OK = 0,
    MMX_EXIT_FAILURE = 1, /* runtime failure */
    MMX_EXIT_USAGE = 2,   /* invalid input or usage */
};

typedef struct mmx_command {
    const char *name;
    const char *args;    /* "SPEC [--batch N] [--json]" */
    const char *summary; /* one line */
    int (*run)(int argc, char **argv);
} mmx_command;

/* Commands, and lookup by name (NULL if none). */
extern const mmx_command mmx_commands[];
const mmx_command *mmx_command_find(const char *name);

/* Parses options for a command: on --help prints the help and sets *exit_code to 0;
 * on an error prints "mmx CMD: message" and sets it to 2. Returns false to stop. */
bool mmx_cli_parse(const mmx_command *cmd, GOptionEntry *entries, const char *description,
                   int *argc, char ***argv, int *exit_code);

/* Options every command that loads plugins accepts: --plugin PATH (repeatable). */
extern char **mmx_cli_plugin_paths;
#define MMX_CLI_PLUGIN_OPTION                                                                      \
    {"plugin", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &mmx_cli_plugin_paths,                           \
     "Load this plugin file or directory first (repeatable)", "PATH"}

/* A registry with the standard search, --plugin paths first (newly allocated). NULL when
 * a --plugin file cannot be loaded or does not exist: each such path and its reason is
 * then on stderr as "mmx CMD: --plugin PATH: reason", and the command exits 2. */
mmx_registry *mmx_cli_registry(void);

/* False when a --plugin file was refused by reg or does not exist, each printed as above. */
bool mmx_cli_plugin_paths_loaded(const mmx_registry *reg);

/* True when the running mmx is the build tree's own binary (not an install of it). */
bool mmx_cli_from_build_tree(void);

/* The install's directory for a configured one (MMX_LIBDIR, MMX_DATADIR of config.h):
 * an absolute one as configured, a relative one under the prefix the running binary is
 * in (its directory less the bindir), so a staged, unpacked or moved install answers
 * with where it is now. Newly allocated. Meaningless from the build tree. */
char *mmx_cli_install_dir(const char *configured);

/* Prints "mmx CMD: message" on stderr and returns code. */
int mmx_cli_fail(const char *cmd, int code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Writes JSON to stdout with a newline, indented; steals the reference. */
void mmx_cli_print_json(json_t *value);

#endif
