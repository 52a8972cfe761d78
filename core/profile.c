/* profile.c: the opt-in per-node timer. With MMX_PROFILE=1 in the environment the
 * executor times every kernel call (forward and backward apart) and its own work between
 * them (zeroing gradients, summing the gradients of values read twice), the optimizer
 * times its steps, and a table by op and kernel, then by node, goes to stderr at exit:
 * milliseconds, share of the timed total, and the achieved GFLOP/s and GB/s from the
 * ops' cost functions (forward FLOPs and bytes per sample times the batch; backward
 * counted as twice the forward FLOPs), i.e. a roofline point per op.
 *
 * A fused pass (fuse.c) is a row of its own ("fused bias+gelu (gelu_avx512)"), and the
 * head of the table says which fusions each executor planned.
 *
 * Off (the default) it costs the executor one predictable branch per node: the
 * environment is read once, and nothing is allocated or timed.
 */
#include "mmx-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct prof_row {
    char *key; /* "op (kernel)" or a node name or an executor activity */
    int64_t fwd_calls, bwd_calls;
    int64_t fwd_ns, bwd_ns;
    double fwd_flops, fwd_bytes; /* summed over calls: cost per sample x batch */
    double bwd_flops;
    GHashTable *nodes; /* op rows: distinct node names */
} prof_row;

static int state; /* 0 unknown, 1 off, 2 on */
static GMutex lock;
static GHashTable *by_op, *by_node, *other; /* char* -> prof_row* */
static GPtrArray *fusions;                     /* lines: the fusions each executor planned */

bool
mmx__profile_on(void)
{
    int s = g_atomic_int_get(&state);
    if (G_LIKELY(s != 0))
        return s == 2;
    const char *v = g_getenv("MMX_PROFILE");
    bool on = v && *v && strcmp(v, "0") != 0;
    g_atomic_int_set(&state, on ? 2 : 1);
    return on;
}

int64_t
mmx__profile_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
row_free(gpointer p)
{
    prof_row *r = p;
    g_free(r->key);
    if (r->nodes)
        g_hash_table_unref(r->nodes);
    g_free(r);
}

static prof_row *
row_get(GHashTable *t, const char *key)
{
    prof_row *r = g_hash_table_lookup(t, key);
    if (r == NULL) {
        r = g_new0(prof_row, 1);
        r->key = g_strdup(key);
        g_hash_table_insert(t, r->key, r);
    }
    return r;
}

static int
by_total_desc(const void *a, const void *b)
{
    const prof_row *x = *(prof_row *const *)a, *y = *(prof_row *const *)b;
    int64_t tx = x->fwd_ns + x->bwd_ns, ty = y->fwd_ns + y->bwd_ns;
    return tx > ty ? -1 : tx < ty;
}

static GPtrArray *
sorted_rows(GHashTable *t)
{
    GPtrArray *rows = g_ptr_array_new();
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, t);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_ptr_array_add(rows, v);
    qsort(rows->pdata, rows->len, sizeof(gpointer), by_total_desc);
    return rows;
}

static int64_t
total_ns(GHashTable *t)
{
    int64_t sum = 0;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, t);
    while (g_hash_table_iter_next(&it, &k, &v))
        sum += ((prof_row *)v)->fwd_ns + ((prof_row *)v)->bwd_ns;
    return sum;
}

static double
rate(double amount, int64_t ns)
{
    return ns > 0 ? amount / (double)ns : 0.0; /* per ns = G per s */
}

static void
print_row(FILE *f, const prof_row *r, int width, double all, bool node)
{
    double ms_f = (double)r->fwd_ns / 1e6, ms_b = (double)r->bwd_ns / 1e6;
    fprintf(f, "  %-*s %6u %7" G_GINT64_FORMAT " %10.1f %10.1f %6.1f%% %9.2f %8.2f %9.2f\n", width,
            r->key, node ? 1u : (r->nodes ? g_hash_table_size(r->nodes) : 0u),
            r->fwd_calls + r->bwd_calls, ms_f, ms_b,
            all > 0 ? 100.0 * (double)(r->fwd_ns + r->bwd_ns) / all : 0.0,
            rate(r->fwd_flops, r->fwd_ns), rate(r->fwd_bytes, r->fwd_ns),
            rate(r->bwd_flops, r->bwd_ns));
}

static void
print_table(void)
{
    g_mutex_lock(&lock);
    if (by_op == NULL) {
        g_mutex_unlock(&lock);
        return;
    }
    FILE *f = stderr;
    int64_t kernels = total_ns(by_op), extra = total_ns(other);
    double all = (double)(kernels + extra);
    fprintf(f,
            "\nmmx profile (MMX_PROFILE): %.1f ms timed: %.1f ms in kernels, %.1f ms in the "
            "executor's own work and the optimizer.\nGFLOP/s and GB/s from the ops' cost "
            "functions (forward FLOPs and bytes per sample x batch; backward = 2 x forward "
            "FLOPs).\n",
            all / 1e6, (double)kernels / 1e6, (double)extra / 1e6);
    for (guint i = 0; i < fusions->len; i++)
        fprintf(f, "Fusions planned (MMX_FUSE=0 turns them off), %s.\n",
                (const char *)fusions->pdata[i]);
    g_autoptr(GPtrArray) ops = sorted_rows(by_op);
    g_autoptr(GPtrArray) nodes = sorted_rows(by_node);
    g_autoptr(GPtrArray) others = sorted_rows(other);
    int w = 24;
    for (guint i = 0; i < ops->len; i++)
        w = MAX(w, (int)strlen(((prof_row *)ops->pdata[i])->key));
    for (guint i = 0; i < nodes->len && i < 25; i++)
        w = MAX(w, (int)strlen(((prof_row *)nodes->pdata[i])->key));
    for (guint i = 0; i < others->len; i++)
        w = MAX(w, (int)strlen(((prof_row *)others->pdata[i])->key));
    const char *head = "%-*s %6s %7s %10s %10s %7s %9s %8s %9s\n";
    fprintf(f, "\n");
    fprintf(f, head, w + 2, "by op (kernel)", "nodes", "calls", "fwd ms", "bwd ms", "share",
            "fwd GF/s", "fwd GB/s", "bwd GF/s");
    for (guint i = 0; i < ops->len; i++)
        print_row(f, ops->pdata[i], w, all, false);
    for (guint i = 0; i < others->len; i++)
        print_row(f, others->pdata[i], w, all, false);
    fprintf(f, "\n");
    fprintf(f, head, w + 2, "by node (top 25)", "", "calls", "fwd ms", "bwd ms", "share",
            "fwd GF/s", "fwd GB/s", "bwd GF/s");
    for (guint i = 0; i < nodes->len && i < 25; i++)
        print_row(f, nodes->pdata[i], w, all, true);
    g_clear_pointer(&by_op, g_hash_table_unref);
    g_clear_pointer(&by_node, g_hash_table_unref);
    g_clear_pointer(&other, g_hash_table_unref);
    g_clear_pointer(&fusions, g_ptr_array_unref);
    g_mutex_unlock(&lock);
}

static void
ensure_tables(void)
{
    if (by_op)
        return;
    by_op = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, row_free);
    fusions = g_ptr_array_new_with_free_func(g_free);
    by_node = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, row_free);
    other = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, row_free);
    static bool registered;
    if (!registered) {
        registered = true;
        atexit(print_table);
    }
}

static void
record(const mmx_graph_node *nd, const char *key, int64_t batch, bool backward, int64_t ns)
{
    mmx_cost cost = {.struct_size = sizeof cost};
    mmx_op_instance_cost(nd->inst, &cost);
    g_mutex_lock(&lock);
    ensure_tables();
    prof_row *rows[2] = {row_get(by_op, key), row_get(by_node, nd->name)};
    if (rows[0]->nodes == NULL)
        rows[0]->nodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_add(rows[0]->nodes, g_strdup(nd->name));
    for (int k = 0; k < 2; k++) {
        prof_row *r = rows[k];
        if (backward) {
            r->bwd_calls++;
            r->bwd_ns += ns;
            r->bwd_flops += 2.0 * cost.flops * (double)batch;
        } else {
            r->fwd_calls++;
            r->fwd_ns += ns;
            r->fwd_flops += cost.flops * (double)batch;
            r->fwd_bytes += cost.bytes * (double)batch;
        }
    }
    g_mutex_unlock(&lock);
}

void
mmx__profile_node(const mmx_graph_node *nd, int64_t batch, bool backward, int64_t ns)
{
    g_autofree char *key =
        g_strdup_printf("%s (%s)", mmx_op_name(nd->op), mmx_op_instance_kernel(nd->inst)->name);
    record(nd, key, batch, backward, ns);
}

void
mmx__profile_fused(const mmx_graph_node *nd, const char *what, int64_t batch, bool backward,
                   int64_t ns)
{
    record(nd, what, batch, backward, ns);
}

void
mmx__profile_fusions(bool training, const char *summary)
{
    g_autofree char *line =
        g_strdup_printf("%s executor: %s", training ? "training" : "inference", summary);
    g_mutex_lock(&lock);
    ensure_tables();
    if (!g_ptr_array_find_with_equal_func(fusions, line, g_str_equal, NULL))
        g_ptr_array_add(fusions, g_steal_pointer(&line));
    g_mutex_unlock(&lock);
}

void
mmx__profile_other(const char *what, int64_t ns)
{
    g_mutex_lock(&lock);
    ensure_tables();
    prof_row *r = row_get(other, what);
    r->fwd_calls++;
    r->fwd_ns += ns;
    g_mutex_unlock(&lock);
}
