/* plugin.c: loading plugins and the op registry.
 *
 * A plugin file is opened once per process with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE
 * and never closed (descriptors are static data inside it). Every way a file can be
 * refused becomes a GError naming the file and the reason, recorded in the registry's
 * failure list so `mmx plugins` can show it; a refused plugin never takes the process
 * down and the others still load.
 *
 * Because the entry point may run only once per process, opened plugins live in a
 * process-wide cache keyed by real path; registries share it.
 */
#include "mmx-private.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// clang-format off
G_DEFINE_QUARK(mmx-plugin-error-quark, mmx_plugin_error)
// clang-format on

struct mmx_op {
    const mmx_op_desc *desc;
    const mmx_plugin *plugin;
};

struct mmx_plugin {
    char *path; /* real path */
    const mmx_plugin_desc *desc;
    GPtrArray *ops; /* mmx_op*, owned */
};

typedef struct failure {
    char *path;
    char *message;
    int code;
} failure;

struct mmx_registry {
    GPtrArray *plugins;    /* mmx_plugin*, owned */
    GHashTable *ops;       /* name -> mmx_op*, borrowed from plugins */
    GHashTable *paths;     /* real paths already handled (loaded or refused) */
    GArray *failures;      /* failure */
    char **op_names;       /* sorted cache, rebuilt on demand */
};

/* ---- the process-wide cache of opened files ---- */

typedef struct opened {
    const mmx_plugin_desc *desc; /* NULL when refused */
    int code;
    char *message;
} opened;

static GMutex cache_lock;
static GHashTable *cache; /* real path -> opened* (never freed: plugins stay resident) */

static bool
valid_name(const char *name, bool allow_dot)
{
    if (name == NULL || !g_ascii_islower(name[0]))
        return false;
    for (const char *p = name; *p; p++)
        if (!(g_ascii_islower(*p) || g_ascii_isdigit(*p) || *p == '_' || (allow_dot && *p == '.')))
            return false;
    return true;
}

/* Checks a descriptor against the ABI rules; the message names the op and the field. */
static bool
validate_attr(const mmx_op_desc *op, const mmx_attr_desc *a, GString *why)
{
    if (a == NULL || a->struct_size < sizeof(mmx_attr_desc)) {
        g_string_printf(why, "op '%s': attribute descriptor is NULL or too small", op->name);
        return false;
    }
    if (!valid_name(a->name, false)) {
        g_string_printf(why, "op '%s': attribute name '%s' is not lower_snake_case", op->name,
                        a->name ? a->name : "(null)");
        return false;
    }
    bool ranged = (a->flags & MMX_ATTR_HAS_RANGE) != 0;
    if (ranged && !(a->min <= a->max)) {
        g_string_printf(why, "op '%s': attribute '%s': empty range [%g, %g]", op->name, a->name,
                        a->min, a->max);
        return false;
    }
    switch (a->type) {
    case MMX_ATTR_INT:
    case MMX_ATTR_FLOAT:
        if (ranged && !(a->flags & MMX_ATTR_REQUIRED) &&
            (a->default_number < a->min || a->default_number > a->max)) {
            g_string_printf(why, "op '%s': attribute '%s': default %g outside [%g, %g]", op->name,
                            a->name, a->default_number, a->min, a->max);
            return false;
        }
        break;
    case MMX_ATTR_BOOL:
        break;
    case MMX_ATTR_STRING:
        if (a->choices) {
            bool found = a->default_string == NULL || (a->flags & MMX_ATTR_REQUIRED);
            int n = 0;
            for (const char *const *c = a->choices; *c; c++, n++)
                if (a->default_string && strcmp(*c, a->default_string) == 0)
                    found = true;
            if (n == 0) {
                g_string_printf(why, "op '%s': attribute '%s': empty list of choices", op->name,
                                a->name);
                return false;
            }
            if (!found) {
                g_string_printf(why, "op '%s': attribute '%s': default '%s' is not one of its choices",
                                op->name, a->name, a->default_string);
                return false;
            }
        }
        break;
    case MMX_ATTR_INTS:
        if (a->default_count < 0 || a->default_count > MMX_MAX_ATTR_INTS) {
            g_string_printf(why, "op '%s': attribute '%s': default_count %d outside [0, %d]",
                            op->name, a->name, a->default_count, MMX_MAX_ATTR_INTS);
            return false;
        }
        break;
    default:
        g_string_printf(why, "op '%s': attribute '%s': unknown type %d", op->name, a->name,
                        (int)a->type);
        return false;
    }
    return true;
}

static bool
validate_op(const mmx_op_desc *op, GString *why)
{
    /* ABI 1.0's descriptor ends where 1.1 appended the flags: older plugins stay valid. */
    if (op == NULL || op->struct_size < offsetof(mmx_op_desc, flags)) {
        g_string_printf(why, "op descriptor is NULL or smaller than ABI 1.0's (%zu bytes)",
                        offsetof(mmx_op_desc, flags));
        return false;
    }
    if (!valid_name(op->name, true)) {
        g_string_printf(why, "op name '%s' is not lowercase [a-z0-9_.]",
                        op->name ? op->name : "(null)");
        return false;
    }
    if (op->min_inputs < 1 || op->min_inputs > op->max_inputs || op->max_inputs > MMX_MAX_INPUTS) {
        g_string_printf(why, "op '%s': arity %u..%u is not within 1..%d", op->name,
                        op->min_inputs, op->max_inputs, MMX_MAX_INPUTS);
        return false;
    }
    if (op->infer == NULL) {
        g_string_printf(why, "op '%s': no infer function (shape inference is mandatory)",
                        op->name);
        return false;
    }
    if (op->n_attrs > 0 && op->attrs == NULL) {
        g_string_printf(why, "op '%s': n_attrs is %zu but attrs is NULL", op->name, op->n_attrs);
        return false;
    }
    for (size_t i = 0; i < op->n_attrs; i++) {
        if (!validate_attr(op, op->attrs[i], why))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(op->attrs[i]->name, op->attrs[j]->name) == 0) {
                g_string_printf(why, "op '%s': attribute '%s' declared twice", op->name,
                                op->attrs[i]->name);
                return false;
            }
    }
    if (op->n_params > MMX_MAX_PARAMS || (op->n_params > 0 && op->params == NULL)) {
        g_string_printf(why, "op '%s': %zu parameters (at most %d, and params must be set)",
                        op->name, op->n_params, MMX_MAX_PARAMS);
        return false;
    }
    for (size_t i = 0; i < op->n_params; i++) {
        const mmx_param_desc *p = op->params[i];
        if (p == NULL || p->struct_size < sizeof(mmx_param_desc) || !valid_name(p->name, false)) {
            g_string_printf(why, "op '%s': parameter %zu has a NULL, short or badly named descriptor",
                            op->name, i);
            return false;
        }
        if ((unsigned)p->init > MMX_INIT_KAIMING_NORMAL) {
            g_string_printf(why, "op '%s': parameter '%s': unknown initializer %d", op->name,
                            p->name, (int)p->init);
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->name, op->params[j]->name) == 0) {
                g_string_printf(why, "op '%s': parameter '%s' declared twice", op->name, p->name);
                return false;
            }
    }
    bool has_scalar = false;
    if (op->n_kernels == 0 || op->kernels == NULL) {
        g_string_printf(why, "op '%s': no kernels", op->name);
        return false;
    }
    for (size_t i = 0; i < op->n_kernels; i++) {
        const mmx_kernel_desc *k = op->kernels[i];
        if (k == NULL || k->struct_size < sizeof(mmx_kernel_desc) || k->name == NULL ||
            k->forward == NULL) {
            g_string_printf(why, "op '%s': kernel %zu is NULL, short, unnamed or has no forward",
                            op->name, i);
            return false;
        }
        if ((unsigned)k->isa > MMX_ISA_AVX512) {
            g_string_printf(why, "op '%s': kernel '%s' needs unknown ISA %d", op->name, k->name,
                            (int)k->isa);
            return false;
        }
        if (k->isa == MMX_ISA_SCALAR)
            has_scalar = true;
    }
    if (op->examples == NULL || op->examples[0] == NULL) {
        g_string_printf(why, "op '%s': no examples (the conformance kit needs at least one)",
                        op->name);
        return false;
    }
    if (!has_scalar) {
        g_string_printf(why, "op '%s': no scalar reference kernel (it is mandatory)", op->name);
        return false;
    }
    return true;
}

static bool
validate_plugin(const mmx_plugin_desc *d, GString *why)
{
    if (d == NULL) {
        g_string_assign(why, "the entry returned MMX_OK but no descriptor");
        return false;
    }
    if (d->struct_size < sizeof(mmx_plugin_desc)) {
        g_string_printf(why, "plugin descriptor is %u bytes, ABI 1.0 needs at least %zu",
                        d->struct_size, sizeof(mmx_plugin_desc));
        return false;
    }
    if (!valid_name(d->name, false)) {
        g_string_printf(why, "plugin name '%s' is not lower_snake_case",
                        d->name ? d->name : "(null)");
        return false;
    }
    if (d->n_ops > 0 && d->ops == NULL) {
        g_string_assign(why, "n_ops is set but ops is NULL");
        return false;
    }
    for (size_t i = 0; i < d->n_ops; i++) {
        if (!validate_op(d->ops[i], why))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->ops[i]->name, d->ops[j]->name) == 0) {
                g_string_printf(why, "op '%s' declared twice in the plugin", d->ops[i]->name);
                return false;
            }
    }
    return true;
}

/* Opens and checks one file. Never fails hard: the outcome is recorded in *o. */
static void
open_file(const char *path, opened *o)
{
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (handle == NULL) {
        const char *why = dlerror();
        o->code = MMX_PLUGIN_ERROR_NOT_SHARED;
        o->message = g_strdup_printf("cannot be loaded as a shared object: %s",
                                     why ? why : "unknown dlopen error");
        return;
    }
    /* The handle is deliberately never closed: plugins stay resident (RTLD_NODELETE). */
    void *sym = dlsym(handle, MMX_PLUGIN_ENTRY_NAME);
    if (sym == NULL) {
        for (int v = 0; v <= 64; v++) {
            if (v == MMX_PLUGIN_ABI_MAJOR)
                continue;
            char name[64];
            snprintf(name, sizeof name, "mmx_plugin_entry_v%d", v);
            if (dlsym(handle, name)) {
                o->code = MMX_PLUGIN_ERROR_ABI;
                o->message = g_strdup_printf(
                    "built for plugin ABI %d (exports %s), but this mmx loads ABI %d; rebuild "
                    "it against this mmx's mmx-plugin.h",
                    v, name, MMX_PLUGIN_ABI_MAJOR);
                return;
            }
        }
        o->code = MMX_PLUGIN_ERROR_NO_ENTRY;
        o->message = g_strdup_printf("no entry symbol %s: not an mmx plugin (or the symbol is "
                                     "hidden; mark it MMX_PLUGIN_EXPORT)",
                                     MMX_PLUGIN_ENTRY_NAME);
        return;
    }
    mmx_plugin_entry_fn entry;
    *(void **)&entry = sym; /* POSIX: dlsym returns object pointers usable as functions */
    mmx__call call;
    mmx_ctx ctx;
    mmx__call_init(&call, &ctx, NULL, NULL);
    const mmx_plugin_desc *desc = NULL;
    int st = entry(&ctx, &desc);
    if (st != MMX_OK) {
        o->code = MMX_PLUGIN_ERROR_ENTRY_FAILED;
        o->message = g_strdup_printf("the plugin's entry failed (status %d, %s): %s", st,
                                     mmx_status_text(st),
                                     call.message->len ? call.message->str : "no message");
        mmx__call_clear(&call);
        return;
    }
    mmx__call_clear(&call);
    if (desc && desc->struct_size >= offsetof(mmx_plugin_desc, name) &&
        desc->abi_major != MMX_PLUGIN_ABI_MAJOR) {
        o->code = MMX_PLUGIN_ERROR_ABI;
        o->message = g_strdup_printf("its descriptor says plugin ABI %u.%u, but this mmx loads "
                                     "ABI %d.%d",
                                     desc->abi_major, desc->abi_minor, MMX_PLUGIN_ABI_MAJOR,
                                     MMX_PLUGIN_ABI_MINOR);
        return;
    }
    g_autoptr(GString) why = g_string_new(NULL);
    if (!validate_plugin(desc, why)) {
        o->code = MMX_PLUGIN_ERROR_INVALID;
        o->message = g_strdup_printf("invalid descriptor: %s", why->str);
        return;
    }
    o->desc = desc;
}

static const opened *
open_cached(const char *real)
{
    g_mutex_lock(&cache_lock);
    if (cache == NULL)
        cache = g_hash_table_new(g_str_hash, g_str_equal);
    opened *o = g_hash_table_lookup(cache, real);
    if (o == NULL) {
        o = g_new0(opened, 1);
        open_file(real, o);
        g_hash_table_insert(cache, g_strdup(real), o);
    }
    g_mutex_unlock(&cache_lock);
    return o;
}

/* ---- registry ---- */

static void
plugin_free(gpointer data)
{
    mmx_plugin *p = data;
    g_free(p->path);
    g_ptr_array_unref(p->ops);
    g_free(p);
}

mmx_registry *
mmx_registry_new(void)
{
    mmx_registry *reg = g_new0(mmx_registry, 1);
    reg->plugins = g_ptr_array_new_with_free_func(plugin_free);
    reg->ops = g_hash_table_new(g_str_hash, g_str_equal);
    reg->paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    reg->failures = g_array_new(FALSE, TRUE, sizeof(failure));
    return reg;
}

void
mmx_registry_free(mmx_registry *reg)
{
    if (reg == NULL)
        return;
    for (guint i = 0; i < reg->failures->len; i++) {
        failure *f = &g_array_index(reg->failures, failure, i);
        g_free(f->path);
        g_free(f->message);
    }
    g_array_unref(reg->failures);
    g_hash_table_unref(reg->ops);
    g_hash_table_unref(reg->paths);
    g_ptr_array_unref(reg->plugins);
    g_free(reg->op_names);
    g_free(reg);
}

static bool
fail(mmx_registry *reg, const char *path, int code, const char *message, GError **error)
{
    failure f = {g_strdup(path), g_strdup(message), code};
    g_array_append_val(reg->failures, f);
    g_set_error(error, MMX_PLUGIN_ERROR, code, "%s: %s", path, message);
    return false;
}

bool
mmx_registry_load(mmx_registry *reg, const char *path, GError **error)
{
    g_return_val_if_fail(reg != NULL && path != NULL, false);
    char real[PATH_MAX];
    if (realpath(path, real) == NULL)
        return fail(reg, path, MMX_PLUGIN_ERROR_NOT_FOUND,
                    g_strerror(errno), error); /* "No such file or directory" */
    if (g_hash_table_contains(reg->paths, real)) {
        /* Already loaded into this registry, or already refused (and reported once). */
        for (guint i = 0; i < reg->failures->len; i++) {
            failure *f = &g_array_index(reg->failures, failure, i);
            if (strcmp(f->path, real) == 0) {
                g_set_error(error, MMX_PLUGIN_ERROR, f->code, "%s: %s", real, f->message);
                return false;
            }
        }
        return true;
    }
    g_hash_table_add(reg->paths, g_strdup(real));
    const opened *o = open_cached(real);
    if (o->desc == NULL)
        return fail(reg, real, o->code, o->message, error);

    /* Same op name from two files: a hard error naming both, and this file is refused. */
    for (size_t i = 0; i < o->desc->n_ops; i++) {
        const mmx_op *other = g_hash_table_lookup(reg->ops, o->desc->ops[i]->name);
        if (other) {
            g_autofree char *msg = g_strdup_printf(
                "op '%s' is already provided by %s; two plugins may not define the same op "
                "(remove one of them from the plugin path)",
                o->desc->ops[i]->name, other->plugin->path);
            return fail(reg, real, MMX_PLUGIN_ERROR_DUPLICATE, msg, error);
        }
    }
    mmx_plugin *p = g_new0(mmx_plugin, 1);
    p->path = g_strdup(real);
    p->desc = o->desc;
    p->ops = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < o->desc->n_ops; i++) {
        mmx_op *op = g_new0(mmx_op, 1);
        op->desc = o->desc->ops[i];
        op->plugin = p;
        g_ptr_array_add(p->ops, op);
        g_hash_table_insert(reg->ops, (gpointer)op->desc->name, op);
    }
    g_ptr_array_add(reg->plugins, p);
    g_clear_pointer(&reg->op_names, g_free);
    return true;
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
mmx_registry_scan_dir(mmx_registry *reg, const char *dir, bool recurse_once)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    if (d == NULL)
        return; /* a missing directory on the path is not an error, as with PATH */
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL)
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, compare_strings); /* a stable order, whatever readdir says */
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *full = g_build_filename(dir, names->pdata[i], NULL);
        if (recurse_once && g_file_test(full, G_FILE_TEST_IS_DIR)) {
            mmx_registry_scan_dir(reg, full, false);
            continue;
        }
        if (!g_str_has_suffix(names->pdata[i], ".so") || !g_file_test(full, G_FILE_TEST_IS_REGULAR))
            continue;
        /* Shadowing: a plugin file name already loaded from an earlier directory wins. */
        bool shadowed = false;
        for (guint j = 0; j < reg->plugins->len; j++) {
            const mmx_plugin *p = reg->plugins->pdata[j];
            g_autofree char *base = g_path_get_basename(p->path);
            if (strcmp(base, names->pdata[i]) == 0 && strcmp(p->path, full) != 0)
                shadowed = true;
        }
        if (!shadowed)
            mmx_registry_load(reg, full, NULL);
    }
}

/* True when this process runs the build tree's own libmmx (the CLI and the tests of a
 * build). Asked of the library rather than the executable: an mmx installed to a prefix
 * inside the build directory (the SDK test does that) runs the installed libmmx and must
 * see the installed plugins, not the build's. */
static bool
running_from_build_tree(void)
{
    const char *lib = mmx__library_dir();
    if (lib == NULL)
        return false;
    char *real = realpath(mmx__build_lib_dir(), NULL); /* malloc'd by libc */
    bool same = real && strcmp(real, lib) == 0;
    free(real);
    return same;
}

char **
mmx_registry_search_dirs(const char *const *extra_paths)
{
    GPtrArray *dirs = g_ptr_array_new();
    for (const char *const *p = extra_paths; p && *p; p++)
        g_ptr_array_add(dirs, g_strdup(*p));
    const char *env = g_getenv("MMX_PLUGIN_PATH");
    if (env && *env) {
        g_auto(GStrv) parts = g_strsplit(env, ":", -1);
        for (char **p = parts; *p; p++)
            if (**p)
                g_ptr_array_add(dirs, g_strdup(*p));
    }
    if (running_from_build_tree())
        g_ptr_array_add(dirs, g_strdup(mmx__build_plugin_dir()));
    else
        g_ptr_array_add(dirs, g_strdup(mmx__install_plugin_dir()));
    g_ptr_array_add(dirs, NULL);
    return (char **)g_ptr_array_free(dirs, FALSE);
}

void
mmx_registry_scan_default(mmx_registry *reg, const char *const *extra_paths)
{
    g_auto(GStrv) dirs = mmx_registry_search_dirs(extra_paths);
    for (char **d = dirs; *d; d++) {
        if (g_file_test(*d, G_FILE_TEST_IS_DIR))
            mmx_registry_scan_dir(reg, *d, true);
        else if (g_file_test(*d, G_FILE_TEST_EXISTS))
            mmx_registry_load(reg, *d, NULL);
        else if (extra_paths && g_strv_contains(extra_paths, *d))
            mmx_registry_load(reg, *d, NULL); /* records "No such file" for the user */
    }
}

const mmx_plugin *
mmx__registry_find_on_path(mmx_registry *reg, const char *name, GError **error)
{
    const mmx_plugin *p = mmx_registry_find_plugin(reg, name);
    if (p)
        return p;
    /* The same files the CLI's registry holds: a no-op for a registry already scanned. */
    mmx_registry_scan_default(reg, NULL);
    if ((p = mmx_registry_find_plugin(reg, name)) != NULL)
        return p;
    g_auto(GStrv) dirs = mmx_registry_search_dirs(NULL);
    g_autoptr(GString) where = g_string_new(NULL);
    for (char **d = dirs; *d; d++) {
        bool again = false; /* MMX_PLUGIN_PATH may name the default directory too */
        for (char **e = dirs; e < d; e++)
            again = again || strcmp(*e, *d) == 0;
        if (!again)
            g_string_append_printf(where, "%s%s", where->len ? ", " : "", *d);
    }
    g_autofree char *file = g_strconcat(name, ".so", NULL);
    g_autoptr(GString) refused = g_string_new(NULL);
    for (guint i = 0; i < reg->failures->len; i++) {
        const failure *f = &g_array_index(reg->failures, failure, i);
        g_autofree char *base = g_path_get_basename(f->path);
        if (strcmp(base, file) == 0)
            g_string_append_printf(refused, "; %s was refused: %s", f->path, f->message);
    }
    g_set_error(error, MMX_PLUGIN_ERROR, MMX_PLUGIN_ERROR_NOT_FOUND,
                "plugin '%s' not found: no *.so file in %s or their subdirectories (one "
                "level down) provides it%s; put the directory that holds %s on "
                "MMX_PLUGIN_PATH, or give a path such as \"./%s\" (docs/cli.md, \"Plugin "
                "search\")",
                name, where->str, refused->str, file, file);
    return NULL;
}

guint
mmx_registry_n_plugins(const mmx_registry *reg)
{
    return reg->plugins->len;
}

const mmx_plugin *
mmx_registry_plugin(const mmx_registry *reg, guint index)
{
    return index < reg->plugins->len ? reg->plugins->pdata[index] : NULL;
}

const mmx_plugin *
mmx_registry_find_plugin(const mmx_registry *reg, const char *name)
{
    for (guint i = 0; i < reg->plugins->len; i++) {
        const mmx_plugin *p = reg->plugins->pdata[i];
        if (strcmp(p->desc->name, name) == 0)
            return p;
    }
    return NULL;
}

guint
mmx_registry_n_failures(const mmx_registry *reg)
{
    return reg->failures->len;
}

void
mmx_registry_failure(const mmx_registry *reg, guint index, const char **path,
                     const char **message, int *code)
{
    g_return_if_fail(index < reg->failures->len);
    const failure *f = &g_array_index(reg->failures, failure, index);
    if (path)
        *path = f->path;
    if (message)
        *message = f->message;
    if (code)
        *code = f->code;
}

const mmx_op *
mmx_registry_find_op(const mmx_registry *reg, const char *name)
{
    return name ? g_hash_table_lookup(reg->ops, name) : NULL;
}

const char *const *
mmx_registry_op_names(mmx_registry *reg)
{
    if (reg->op_names == NULL) {
        guint n = 0;
        reg->op_names = (char **)g_hash_table_get_keys_as_array(reg->ops, &n);
        qsort(reg->op_names, n, sizeof(char *), compare_strings);
    }
    return (const char *const *)reg->op_names;
}

const char *
mmx_plugin_name(const mmx_plugin *plugin)
{
    return plugin->desc->name;
}

const char *
mmx_plugin_path(const mmx_plugin *plugin)
{
    return plugin->path;
}

const mmx_plugin_desc *
mmx_plugin_get_desc(const mmx_plugin *plugin)
{
    return plugin->desc;
}

guint
mmx_plugin_n_ops(const mmx_plugin *plugin)
{
    return plugin->ops->len;
}

const mmx_op *
mmx_plugin_op(const mmx_plugin *plugin, guint index)
{
    return index < plugin->ops->len ? plugin->ops->pdata[index] : NULL;
}

const mmx_op_desc *
mmx_op_get_desc(const mmx_op *op)
{
    return op->desc;
}

const mmx_plugin *
mmx_op_plugin(const mmx_op *op)
{
    return op->plugin;
}

const char *
mmx_op_name(const mmx_op *op)
{
    return op->desc->name;
}

int
mmx_op_attr_index(const mmx_op *op, const char *name)
{
    for (size_t i = 0; i < op->desc->n_attrs; i++)
        if (strcmp(op->desc->attrs[i]->name, name) == 0)
            return (int)i;
    return -1;
}

int
mmx_op_param_index(const mmx_op *op, const char *name)
{
    for (size_t i = 0; i < op->desc->n_params; i++)
        if (strcmp(op->desc->params[i]->name, name) == 0)
            return (int)i;
    return -1;
}

const mmx_kernel_desc *
mmx_op_choose_kernel(const mmx_op *op, mmx_isa isa)
{
    const mmx_kernel_desc *best = NULL;
    for (size_t i = 0; i < op->desc->n_kernels; i++) {
        const mmx_kernel_desc *k = op->desc->kernels[i];
        if (k->isa <= isa && (best == NULL || k->isa > best->isa))
            best = k;
    }
    return best;
}
