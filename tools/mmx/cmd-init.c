/* cmd-init.c: `mmx init NAME [--from MODEL]`: writes NAME.json, a starting model spec to
 * edit: by default a small commented MLP-Mixer for 28x28 images (every part explained in
 * "doc" fields, which the format allows at the top, in blocks, mixers and ops), or a copy
 * of a zoo spec (specs/models/MODEL.json) with its "name" changed and the rest of its
 * text, layout included, as it is. An existing file is never overwritten. */
#include "cli.h"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const cmd = "init";

/* The starting spec; @NAME@ is replaced by the model's name (letters, digits, '-', '_',
 * '.': nothing to escape). Every key of "train" is spelled out with its default
 * (docs/training.md) so that it can be edited in place. */
static const char *const starter =
    "{\n"
    "  \"mmx\": 1,\n"
    "  \"name\": \"@NAME@\",\n"
    "  \"doc\": \"Written by mmx init: a small MLP-Mixer for 28x28 grayscale images "
    "(Fashion-MNIST), to edit. mmx: the format version. name: the model's name (it names "
    "output folders). input: one image is a 28x28 grid of 1 channel, and 10 classes. vars: "
    "named values, used below as ${dim}; change one to resize the model. stem: the ops from "
    "the image to the first block (4x4 patches: a 7x7 grid of 49 tokens of ${dim} "
    "channels). blocks: the body repeated ${depth} times; each block is x + "
    "mixer(norm(x)), a mixer is key, activation, value (and optional query and output) "
    "along an axis: token (across the 49 patches) or channel. head: the ops from the last "
    "block to the 10 logits. train: the recipe (every key optional; these are the "
    "defaults). Check it with 'mmx validate @NAME@.json' and 'mmx info @NAME@.json', train "
    "it with 'mmx train @NAME@.json --epochs 1 --out runs/@NAME@'. The format: "
    "docs/spec-format.md; the ops and their attributes: 'mmx plugins'; other starting "
    "points: 'mmx init NAME --from ffnet' (specs/models).\",\n"
    "  \"input\": {\"shape\": [28, 28, 1], \"classes\": 10},\n"
    "  \"vars\": {\"dim\": 64, \"tokens\": 49, \"depth\": 2},\n"
    "  \"stem\": [{\"op\": \"conv2d\", \"out\": \"${dim}\", \"kernel\": 4, \"stride\": 4,\n"
    "            \"doc\": \"4x4 patches, each to ${dim} channels: 7x7 = ${tokens} tokens\"}],\n"
    "  \"blocks\": {\"repeat\": \"${depth}\", \"body\": [\n"
    "    {\"doc\": \"token mixing: an MLP across the tokens, the same for every channel\",\n"
    "     \"norm\": {\"op\": \"layernorm\"},\n"
    "     \"mixer\": {\"axis\": \"token\",\n"
    "               \"key\": {\"op\": \"linear\", \"out\": \"2*${tokens}\"},\n"
    "               \"activation\": {\"op\": \"gelu\"},\n"
    "               \"value\": {\"op\": \"linear\", \"out\": \"${tokens}\", \"doc\": \"back "
    "to one value per token\"}}},\n"
    "    {\"doc\": \"channel mixing: an MLP across the channels, the same for every token\",\n"
    "     \"norm\": {\"op\": \"layernorm\"},\n"
    "     \"mixer\": {\"axis\": \"channel\",\n"
    "               \"key\": {\"op\": \"linear\", \"out\": \"4*${dim}\"},\n"
    "               \"activation\": {\"op\": \"gelu\"},\n"
    "               \"value\": {\"op\": \"linear\", \"out\": \"${dim}\"}}}]},\n"
    "  \"head\": [{\"op\": \"layernorm\"}, {\"op\": \"mean_tokens\", \"doc\": \"the average "
    "token\"},\n"
    "           {\"op\": \"linear\", \"out\": 10, \"doc\": \"one logit per class\"}],\n"
    "  \"train\": {\"data\": \"fashion-mnist\", \"epochs\": 10, \"batch\": 128, "
    "\"optimizer\": \"adamw\",\n"
    "            \"lr\": 0.001, \"wd\": 0.05, \"warmup\": 1, \"schedule\": \"cosine\",\n"
    "            \"label_smoothing\": 0.1, \"augment\": {\"crop\": 0, \"flip\": false}, "
    "\"seed\": 0}\n"
    "}\n";

static bool
valid_name(const char *name)
{
    if (*name == '\0')
        return false;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return false;
    return true;
}

/* The directory of the zoo specs: the source tree's from the build tree, else the
 * install's <datadir>/mmx/specs/models. */
static char *
zoo_dir(void)
{
    if (mmx_cli_from_build_tree())
        return g_build_filename(MMX_SOURCE_ROOT, "specs", "models", NULL);
    g_autofree char *data = mmx_cli_install_dir(MMX_DATADIR);
    return g_build_filename(data, "mmx", "specs", "models", NULL);
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The zoo's model names (NAME of NAME.json), sorted; newly allocated. */
static char **
zoo_names(const char *dir)
{
    GPtrArray *names = g_ptr_array_new();
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *f;
    while (d && (f = g_dir_read_name(d)) != NULL)
        if (g_str_has_suffix(f, ".json"))
            g_ptr_array_add(names, g_strndup(f, strlen(f) - 5));
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

/* The text of the spec --from names, with its top-level "name" replaced by name (found
 * at its position in the text, so the rest stays as written). NULL after printing why. */
static char *
copy_zoo_spec(const char *from, const char *name, char **source)
{
    g_autofree char *dir = zoo_dir();
    bool is_path = strchr(from, '/') || g_str_has_suffix(from, ".json");
    g_autofree char *file = g_strconcat(from, ".json", NULL);
    *source = is_path ? g_strdup(from) : g_build_filename(dir, file, NULL);
    if (!is_path && !g_file_test(*source, G_FILE_TEST_IS_REGULAR)) {
        g_auto(GStrv) names = zoo_names(dir);
        g_autofree char *list = g_strjoinv(", ", names);
        const char *hint = mmx_suggest(from, (const char *const *)names);
        mmx_cli_fail(cmd, MMX_EXIT_USAGE, "--from %s: no such model in %s%s%s%s; the models: %s",
                     from, dir, hint ? " (did you mean '" : "", hint ? hint : "",
                     hint ? "'?)" : "", *list ? list : "none");
        return NULL;
    }
    g_autoptr(mmx_diags) diags = mmx_diags_new();
    g_autoptr(mmx_json_file) f = mmx_json_file_load(*source, diags);
    if (f == NULL) {
        for (guint i = 0; i < mmx_diags_count(diags); i++) {
            g_autofree char *line = mmx_diags_format(diags, i);
            fprintf(stderr, "%s\n", line);
        }
        mmx_cli_fail(cmd, MMX_EXIT_USAGE, "--from %s: cannot read %s", from, *source);
        return NULL;
    }
    json_t *old = json_object_get(mmx_json_file_root(f), "name");
    int line = 0, col = 0;
    g_autofree char *text = NULL;
    if (json_is_string(old) && mmx_json_file_position(f, "/name", false, &line, &col))
        g_file_get_contents(*source, &text, NULL, NULL);
    /* The value's first character: line and column count from 1. */
    char *at = text;
    for (int l = 1; at && l < line; l++)
        at = (at = strchr(at, '\n')) ? at + 1 : NULL;
    g_autofree char *quoted =
        json_is_string(old) ? g_strdup_printf("\"%s\"", json_string_value(old)) : NULL;
    if (at == NULL || (int)strlen(at) < col || !g_str_has_prefix(at + col - 1, quoted)) {
        mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                     "--from %s: %s has no \"name\" string to replace (is it a model spec?)",
                     from, *source);
        return NULL;
    }
    at += col - 1;
    return g_strdup_printf("%.*s\"%s\"%s", (int)(at - text), text, name, at + strlen(quoted));
}

int
mmx_cmd_init(int argc, char **argv)
{
    g_autofree char *from = NULL;
    GOptionEntry entries[] = {
        {"from", 0, 0, G_OPTION_ARG_STRING, &from,
         "Start from this zoo model (specs/models/MODEL.json: ffnet, vit, mlp-mixer, ...) or "
         "spec file, with its name changed",
         "MODEL"},
        G_OPTION_ENTRY_NULL,
    };
    int code;
    if (!mmx_cli_parse(mmx_command_find(cmd), entries,
                       "Writes NAME.json in the current directory: a small MLP-Mixer for 28x28 "
                       "images whose \"doc\" fields explain every part, or with --from a copy "
                       "of a zoo model. An existing file is not overwritten. Then: mmx validate "
                       "NAME.json; mmx train NAME.json --out runs/NAME.",
                       &argc, &argv, &code))
        return code;
    if (argc != 2)
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "give the new model's name (mmx init NAME [--from MODEL])");
    g_autofree char *name = g_str_has_suffix(argv[1], ".json")
                                ? g_strndup(argv[1], strlen(argv[1]) - 5)
                                : g_strdup(argv[1]);
    if (!valid_name(name))
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "'%s': a model's name is letters, digits, '-', '_' and '.' (it "
                            "names NAME.json in the current directory and output folders)",
                            argv[1]);
    g_autofree char *path = g_strconcat(name, ".json", NULL);
    if (g_file_test(path, G_FILE_TEST_EXISTS))
        return mmx_cli_fail(cmd, MMX_EXIT_USAGE,
                            "%s already exists: nothing written (remove it, or choose another "
                            "name)",
                            path);
    g_autofree char *source = NULL;
    g_autofree char *text = NULL;
    if (from) {
        if ((text = copy_zoo_spec(from, name, &source)) == NULL)
            return MMX_EXIT_USAGE;
    } else {
        g_auto(GStrv) parts = g_strsplit(starter, "@NAME@", -1);
        text = g_strjoinv(name, parts);
    }
    /* O_EXCL: a file that appeared since the test above is not overwritten either. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return mmx_cli_fail(cmd, errno == EEXIST ? MMX_EXIT_USAGE : MMX_EXIT_FAILURE,
                            "cannot create %s: %s", path, g_strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(path);
            return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "cannot write %s: %s", path,
                                g_strerror(e));
        }
        done += (size_t)w;
    }
    if (close(fd) != 0) {
        unlink(path);
        return mmx_cli_fail(cmd, MMX_EXIT_FAILURE, "cannot write %s: %s", path,
                            g_strerror(errno));
    }
    if (source)
        printf("wrote %s: model '%s', a copy of %s\n", path, name, source);
    else
        printf("wrote %s: model '%s', a small MLP-Mixer whose \"doc\" fields explain it\n", path,
               name);
    printf("next: mmx validate %s; mmx info %s; mmx train %s --epochs 1 --out runs/%s\n", path,
           path, path, name);
    return MMX_EXIT_OK;
}
