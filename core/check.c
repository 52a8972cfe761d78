/* check.c: the conformance kit's API: the list of checks, running them (in forked
 * children with isolation), and the report in text and JSON.
 *
 * Each (op, check) pair runs on its own: with isolation in a child process that sends
 * its result back as one JSON line on a pipe, so a kernel that crashes, loops or aborts
 * fails that one check with an explanation and the rest still run. The fault handler of
 * check-buf.c writes its sentence to the same pipe ("F ..."), the result comes as
 * "R {...}". Without isolation the checks run in the caller's process, which a
 * crashing kernel ends (after the handler has said why on stderr).
 *
 * Adding a check? Add it to the table below, write it in check-num.c or check-hyg.c,
 * describe it in docs/conformance.md and give it a broken fixture in tests/fixtures/.
 */
#include "check-private.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Seconds a check may take in a child before it is stopped as hung. */
#define CK_TIMEOUT_S 600

static const struct {
    const char *name;
    ck_check_fn fn;
} check_table[] = {
    {"examples", ck_check_examples},       {"schema", ck_check_schema},
    {"memory", ck_check_memory},           {"gradients", ck_check_gradients},
    {"backward", ck_check_backward},       {"isa", ck_check_isa},
    {"workspace", ck_check_workspace},     {"threads", ck_check_threads},
    {"allocations", ck_check_allocations}, {"causal", ck_check_causal},
};

/* ---- results ---- */

const char *
ck_status_name(ck_status s)
{
    return s == CK_PASS ? "pass" : s == CK_FAIL ? "fail" : "skip";
}

ck_result *
ck_result_new(const char *name)
{
    ck_result *r = g_new0(ck_result, 1);
    r->name = g_strdup(name);
    r->status = CK_PASS;
    r->summary = g_string_new(NULL);
    r->details = g_ptr_array_new_with_free_func(g_free);
    r->data = json_object();
    return r;
}

void
ck_result_free(ck_result *r)
{
    if (r == NULL)
        return;
    g_free(r->name);
    g_string_free(r->summary, TRUE);
    g_ptr_array_unref(r->details);
    json_decref(r->data);
    g_free(r);
}

void
ck_fail(ck_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r->status = CK_FAIL;
    g_ptr_array_add(r->details, line);
}

void
ck_detail(ck_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_ptr_array_add(r->details, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

void
ck_summary(ck_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_string_vprintf(r->summary, fmt, ap);
    va_end(ap);
}

json_t *
ck_result_to_json(const ck_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "status", json_string(ck_status_name(r->status)));
    json_object_set_new(o, "summary", json_string(r->summary->str));
    json_t *d = json_array();
    for (guint i = 0; i < r->details->len; i++)
        json_array_append_new(d, json_string(r->details->pdata[i]));
    json_object_set_new(o, "details", d);
    const char *key;
    json_t *val;
    json_object_foreach(r->data, key, val)
    {
        if (json_object_get(o, key) == NULL)
            json_object_set(o, key, val);
    }
    return o;
}

ck_result *
ck_result_from_json(json_t *j)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *status = json_string_value(json_object_get(j, "status"));
    const char *summary = json_string_value(json_object_get(j, "summary"));
    if (name == NULL || status == NULL || summary == NULL)
        return NULL;
    ck_result *r = ck_result_new(name);
    r->status = strcmp(status, "pass") == 0   ? CK_PASS
                : strcmp(status, "skip") == 0 ? CK_SKIP
                                              : CK_FAIL;
    g_string_assign(r->summary, summary);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "details"), i, v)
    {
        if (json_is_string(v))
            g_ptr_array_add(r->details, g_strdup(json_string_value(v)));
    }
    const char *key;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "status") && strcmp(key, "summary") &&
            strcmp(key, "details"))
            json_object_set(r->data, key, v);
    }
    return r;
}

void
ck_worst_clear(ck_worst *w)
{
    g_free(w->where);
    if (w->json)
        json_decref(w->json);
    memset(w, 0, sizeof *w);
    w->err = -1;
}

void
ck_worst_offer(ck_worst *w, double err, char *where, json_t *json)
{
    /* NaN is the worst error of all. */
    if (isnan(err) ? !isnan(w->err) : err > w->err) {
        g_free(w->where);
        if (w->json)
            json_decref(w->json);
        w->err = err;
        w->where = where;
        w->json = json;
        return;
    }
    g_free(where);
    if (json)
        json_decref(json);
}

/* ---- the report ---- */

typedef struct op_report {
    char *name;
    GPtrArray *checks; /* ck_result * */
} op_report;

static void
op_report_free(op_report *o)
{
    g_free(o->name);
    g_ptr_array_unref(o->checks);
    g_free(o);
}

struct mmx_check_report {
    char *plugin, *path, *version;
    mmx_isa isa;
    bool quick, isolate;
    double seconds;
    GPtrArray *ops;      /* op_report * */
    GPtrArray *problems; /* char *: failures that belong to no check */
};

void
mmx_check_report_free(mmx_check_report *r)
{
    if (r == NULL)
        return;
    g_free(r->plugin);
    g_free(r->path);
    g_free(r->version);
    g_ptr_array_unref(r->ops);
    g_ptr_array_unref(r->problems);
    g_free(r);
}

bool
mmx_check_report_passed(const mmx_check_report *r)
{
    g_return_val_if_fail(r != NULL, false);
    if (r->problems->len)
        return false;
    for (guint i = 0; i < r->ops->len; i++) {
        op_report *o = r->ops->pdata[i];
        for (guint k = 0; k < o->checks->len; k++)
            if (((ck_result *)o->checks->pdata[k])->status == CK_FAIL)
                return false;
    }
    return true;
}

static const char *
status_word(ck_status s)
{
    return s == CK_PASS ? "PASS" : s == CK_FAIL ? "FAIL" : "SKIP";
}

char *
mmx_check_report_text(const mmx_check_report *r)
{
    g_return_val_if_fail(r != NULL, NULL);
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "plugin %s %s (%s); CPU %s; %s run\n",
                           r->plugin ? r->plugin : "(none)", r->version ? r->version : "",
                           r->path ? r->path : "no file", mmx_isa_name(r->isa),
                           r->quick ? "quick" : "full");
    int width = 8;
    for (guint i = 0; i < r->ops->len; i++) {
        op_report *o = r->ops->pdata[i];
        width = MAX(width, (int)strlen(o->name));
    }
    int n_checks = 0, n_pass = 0, n_fail = 0, n_skip = 0;
    for (guint i = 0; i < r->ops->len; i++) {
        op_report *o = r->ops->pdata[i];
        for (guint k = 0; k < o->checks->len; k++) {
            ck_result *c = o->checks->pdata[k];
            n_checks++;
            n_pass += c->status == CK_PASS;
            n_fail += c->status == CK_FAIL;
            n_skip += c->status == CK_SKIP;
            g_string_append_printf(s, "%-*s %-11s %s  %s\n", width, o->name, c->name,
                                   status_word(c->status), c->summary->str);
            if (c->status == CK_FAIL)
                for (guint d = 0; d < c->details->len; d++)
                    if (strcmp(c->details->pdata[d], c->summary->str) != 0)
                        g_string_append_printf(s, "%*s- %s\n", width + 1, "",
                                               (char *)c->details->pdata[d]);
        }
    }
    for (guint i = 0; i < r->problems->len; i++)
        g_string_append_printf(s, "FAIL  %s\n", (char *)r->problems->pdata[i]);
    bool passed = mmx_check_report_passed(r);
    g_string_append_printf(s,
                           "summary: %s: %u op%s, %d checks: %d passed, %d failed, %d skipped "
                           "(%.1f s): %s\n",
                           r->plugin ? r->plugin : "(no plugin)", r->ops->len,
                           r->ops->len == 1 ? "" : "s", n_checks, n_pass, n_fail, n_skip,
                           r->seconds, passed ? "PASS" : "FAIL");
    return g_string_free(s, FALSE);
}

json_t *
mmx_check_report_json(const mmx_check_report *r)
{
    g_return_val_if_fail(r != NULL, NULL);
    json_t *root = json_object();
    json_t *p = json_object();
    json_object_set_new(p, "name", r->plugin ? json_string(r->plugin) : json_null());
    json_object_set_new(p, "version", r->version ? json_string(r->version) : json_null());
    json_object_set_new(p, "path", r->path ? json_string(r->path) : json_null());
    json_object_set_new(root, "plugin", p);
    json_object_set_new(root, "cpu_isa", json_string(mmx_isa_name(r->isa)));
    json_object_set_new(root, "quick", json_boolean(r->quick));
    json_object_set_new(root, "isolate", json_boolean(r->isolate));
    json_object_set_new(root, "passed", json_boolean(mmx_check_report_passed(r)));
    json_object_set_new(root, "seconds", json_real(r->seconds));
    int n_checks = 0, n_pass = 0, n_fail = 0, n_skip = 0;
    json_t *ops = json_array();
    for (guint i = 0; i < r->ops->len; i++) {
        op_report *o = r->ops->pdata[i];
        json_t *oj = json_object();
        json_t *checks = json_array();
        bool op_passed = true;
        for (guint k = 0; k < o->checks->len; k++) {
            ck_result *c = o->checks->pdata[k];
            n_checks++;
            n_pass += c->status == CK_PASS;
            n_fail += c->status == CK_FAIL;
            n_skip += c->status == CK_SKIP;
            op_passed = op_passed && c->status != CK_FAIL;
            json_array_append_new(checks, ck_result_to_json(c));
        }
        json_object_set_new(oj, "name", json_string(o->name));
        json_object_set_new(oj, "passed", json_boolean(op_passed));
        json_object_set_new(oj, "checks", checks);
        json_array_append_new(ops, oj);
    }
    json_t *sum = json_object();
    json_object_set_new(sum, "ops", json_integer(r->ops->len));
    json_object_set_new(sum, "checks", json_integer(n_checks));
    json_object_set_new(sum, "passed", json_integer(n_pass));
    json_object_set_new(sum, "failed", json_integer(n_fail));
    json_object_set_new(sum, "skipped", json_integer(n_skip));
    json_object_set_new(root, "summary", sum);
    json_t *probs = json_array();
    for (guint i = 0; i < r->problems->len; i++)
        json_array_append_new(probs, json_string(r->problems->pdata[i]));
    json_object_set_new(root, "problems", probs);
    json_object_set_new(root, "ops", ops);
    return root;
}

/* ---- running checks ---- */

static void
finish_result(ck_result *r)
{
    if (r->summary->len == 0 && r->details->len)
        g_string_assign(r->summary, r->details->pdata[0]);
}

static ck_result *
run_here(const mmx_op *op, guint check, bool quick, int fault_fd)
{
    ck_result *r = ck_result_new(check_table[check].name);
    ck_fault_install(fault_fd);
    g_autoptr(ck_ctx) ctx = ck_ctx_new(op, quick);
    check_table[check].fn(ctx, r);
    ck_fault_uninstall();
    finish_result(r);
    return r;
}

static bool
write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, text, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        text += w;
        len -= (size_t)w;
    }
    return true;
}

/* How far past the end the faulting access was, from the handler's sentence ("the access
 * touched byte N after its last element"), or -1. */
static long
fault_bytes_past(const char *fault)
{
    const char *p = strstr(fault, "touched byte ");
    return p ? strtol(p + strlen("touched byte "), NULL, 10) : -1;
}

/* True when the sentence's "in kernel NAME " names a kernel of op that is not scalar. */
static bool
fault_in_simd_kernel(const mmx_op *op, const char *fault)
{
    const char *p = strstr(fault, "in kernel ");
    if (p == NULL)
        return false;
    p += strlen("in kernel ");
    const mmx_op_desc *d = mmx_op_get_desc(op);
    for (size_t k = 0; k < d->n_kernels; k++) {
        size_t n = strlen(d->kernels[k]->name);
        if (strncmp(p, d->kernels[k]->name, n) == 0 && p[n] == ' ')
            return d->kernels[k]->isa != MMX_ISA_SCALAR;
    }
    return false;
}

/* What a beginner should look at after a fault, from the handler's sentence. */
static const char *
fault_hint(const mmx_op *op, const char *fault)
{
    /* A SIMD kernel faulting within one vector (64 bytes, AVX-512) of a parameter's end is
     * most often a vector loop without a scalar tail: it reads past every tensor it walks,
     * and a per-channel parameter as long as the row is the first to end on a guard page. */
    if (strstr(fault, "past the end of parameter") && fault_in_simd_kernel(op, fault) &&
        fault_bytes_past(fault) >= 0 && fault_bytes_past(fault) < 64)
        return "hint: the access is within one vector of the parameter's end: either a vector "
               "loop loads a whole vector at the tail (it reads past the parameter as past any "
               "tensor it walks; use a scalar remainder or a mask), or the kernel uses the "
               "parameter as bigger than infer declares it (a parameter must have the shape "
               "infer declares, the one the kernel indexes)";
    if (strstr(fault, "past the end of parameter"))
        return "hint: the kernel uses the parameter as bigger than infer declares it: a "
               "parameter must have the shape infer declares (the one the kernel indexes)";
    if (strstr(fault, "read past the end of") || strstr(fault, "accessed past the end of"))
        return "hint: a vector loop must not load or store a whole vector at the tail (use a "
               "scalar remainder or a mask); check the loop bounds against the shape";
    if (strstr(fault, "wrote past the end of"))
        return "hint: check the loop bounds of the stores against the output's shape";
    if (strstr(fault, "which kernels may only read"))
        return "hint: kernels may not write into their inputs, parameters, grad_out or (in "
               "backward) the forward's output and saved buffer";
    return NULL;
}

static ck_result *
run_isolated(const mmx_op *op, guint check, bool quick, FILE *log)
{
    const char *name = check_table[check].name;
    int fds[2];
    if (pipe(fds) != 0) {
        ck_result *r = ck_result_new(name);
        ck_fail(r, "cannot make a pipe to isolate the check: %s", g_strerror(errno));
        return r;
    }
    if (log)
        fflush(log);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        ck_result *r = ck_result_new(name);
        ck_fail(r, "cannot fork to isolate the check: %s", g_strerror(errno));
        return r;
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(CK_TIMEOUT_S);
        ck_result *r = run_here(op, check, quick, fds[1]);
        json_t *j = ck_result_to_json(r);
        char *text = json_dumps(j, JSON_COMPACT);
        bool ok = text && write_all(fds[1], "R ", 2) && write_all(fds[1], text, strlen(text)) &&
                  write_all(fds[1], "\n", 1);
        /* _exit: the parent's atexit handlers and stdio buffers are not ours to run. */
        _exit(ok ? 0 : 3);
    }
    close(fds[1]);
    GString *got = g_string_new(NULL);
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        g_string_append_len(got, chunk, n);
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    ck_result *r = NULL;
    g_autofree char *fault = NULL;
    g_auto(GStrv) lines = g_strsplit(got->str, "\n", -1);
    g_string_free(got, TRUE);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "R ") && r == NULL) {
            json_t *j = json_loads(*l + 2, 0, NULL);
            if (j) {
                r = ck_result_from_json(j);
                json_decref(j);
            }
        } else if (g_str_has_prefix(*l, "F ") && fault == NULL) {
            fault = g_strdup(*l + 2);
        }
    }
    if (r && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return r;
    ck_result_free(r);
    r = ck_result_new(name);
    if (fault) {
        ck_fail(r, "%s", fault);
        if (fault_hint(op, fault))
            ck_detail(r, "%s", fault_hint(op, fault));
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        ck_fail(r, "timed out after %d s (an endless loop in a kernel or infer?)", CK_TIMEOUT_S);
    else if (WIFSIGNALED(status))
        ck_fail(r, "the check process was killed by signal %d (%s)", WTERMSIG(status),
                g_strsignal(WTERMSIG(status)));
    else
        ck_fail(r,
                "the check process ended with status %d without a result (did the plugin "
                "call exit(), or a sanitizer stop it? see stderr)",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    finish_result(r);
    return r;
}

static void add_problem(mmx_check_report *rep, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
add_problem(mmx_check_report *rep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_ptr_array_add(rep->problems, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static ck_result *
find_result(const op_report *o, const char *name)
{
    for (guint k = 0; k < o->checks->len; k++) {
        ck_result *c = o->checks->pdata[k];
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

/* The isa check holds every SIMD kernel to the scalar reference; when the gradients check
 * found the reference's own backward wrong, a mismatch may be the reference's fault, not
 * the SIMD kernel's, and the isa result says so. */
static void
blame_reference(const op_report *o)
{
    ck_result *isa = find_result(o, "isa"), *grad = find_result(o, "gradients");
    if (isa == NULL || grad == NULL || isa->status != CK_FAIL || grad->status != CK_FAIL)
        return;
    const char *ref = json_string_value(json_object_get(isa->data, "reference"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(grad->data, "failed_kernels"), i, v)
    {
        if (ref && strcmp(json_string_value(v), ref) == 0) {
            ck_detail(isa,
                      "the gradients check failed on the scalar reference %s itself: this "
                      "mismatch may come from the reference, not from the SIMD kernel; fix "
                      "%s's backward first, then run the kit again",
                      ref, ref);
            return;
        }
    }
}

mmx_check_report *
mmx_check_run(mmx_registry *reg, const mmx_plugin *plugin, const mmx_check_options *opts)
{
    mmx_check_options defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    gint64 t0 = g_get_monotonic_time();
    mmx_check_report *rep = g_new0(mmx_check_report, 1);
    rep->ops = g_ptr_array_new_with_free_func((GDestroyNotify)op_report_free);
    rep->problems = g_ptr_array_new_with_free_func(g_free);
    rep->isa = mmx_cpu_isa();
    rep->quick = opts->quick;
    rep->isolate = opts->isolate;
    if (plugin == NULL) {
        GString *s = g_string_new("no plugin to check (mmx_registry_find_plugin returned NULL?)");
        for (guint i = 0; reg && i < mmx_registry_n_failures(reg); i++) {
            const char *path, *message;
            mmx_registry_failure(reg, i, &path, &message, NULL);
            g_string_append_printf(s, "; %s was not loaded: %s", path, message);
        }
        g_ptr_array_add(rep->problems, g_string_free(s, FALSE));
        return rep;
    }
    rep->plugin = g_strdup(mmx_plugin_name(plugin));
    rep->path = g_strdup(mmx_plugin_path(plugin));
    rep->version = g_strdup(mmx_plugin_get_desc(plugin)->version);
    bool found = opts->only_op == NULL;
    for (guint i = 0; i < mmx_plugin_n_ops(plugin); i++) {
        const mmx_op *op = mmx_plugin_op(plugin, i);
        if (opts->only_op && strcmp(opts->only_op, mmx_op_name(op)) != 0)
            continue;
        found = true;
        op_report *o = g_new0(op_report, 1);
        o->name = g_strdup(mmx_op_name(op));
        o->checks = g_ptr_array_new_with_free_func((GDestroyNotify)ck_result_free);
        g_ptr_array_add(rep->ops, o);
        for (guint k = 0; k < G_N_ELEMENTS(check_table); k++) {
            /* The causal check is a promise some ops make: the others do not list it. */
            if (check_table[k].fn == ck_check_causal && !ck_op_declares_causal(mmx_op_get_desc(op)))
                continue;
            gint64 c0 = g_get_monotonic_time();
            ck_result *r = opts->isolate ? run_isolated(op, k, opts->quick, opts->log)
                                         : run_here(op, k, opts->quick, 2);
            json_object_set_new(r->data, "seconds",
                                json_real((double)(g_get_monotonic_time() - c0) / 1e6));
            g_ptr_array_add(o->checks, r);
            if (opts->log) {
                fprintf(opts->log, "%s %s %s: %s (%.2f s)\n", rep->plugin, o->name, r->name,
                        status_word(r->status), (double)(g_get_monotonic_time() - c0) / 1e6);
                fflush(opts->log);
            }
        }
        blame_reference(o);
    }
    if (!found) {
        GString *names = g_string_new(NULL);
        for (guint i = 0; i < mmx_plugin_n_ops(plugin); i++)
            g_string_append_printf(names, "%s%s", i ? ", " : "",
                                   mmx_op_name(mmx_plugin_op(plugin, i)));
        add_problem(rep, "plugin %s has no op '%s'; its ops: %s", rep->plugin, opts->only_op,
                    names->str);
        g_string_free(names, TRUE);
    }
    rep->seconds = (double)(g_get_monotonic_time() - t0) / 1e6;
    return rep;
}
