/* check-num.c: the numeric checks of the conformance kit.
 *
 * gradients  Central finite differences of L = sum_i w_i y_i (w = grad_out: random,
 *            non-uniform), accumulated in double from the reference forward, against the
 *            backward of every eligible kernel, for every input and trainable parameter,
 *            at a bounded random subset of elements. Inputs have magnitudes in [0.1, 1]
 *            and random signs, so with eps = 1e-3 no elementwise kink (relu at 0) is
 *            crossed; a kink inside an op (relu of a projection) shows up as a finite
 *            difference that changes with the step, and such elements are skipped and
 *            counted, not failed.
 * backward   The ABI's semantics: grad_in is overwritten (pre-filled with NaN, it must
 *            come out as with zeros), grad_param is accumulated (pre-filled with known
 *            values, they must be added to), and NULL gradients are skipped without
 *            changing the others.
 * isa        Every eligible kernel against the scalar reference, forward (output and
 *            updated BUFFER parameters) and backward (every gradient), on the examples
 *            and their tail variants.
 *
 * The error of one element is |got - ref| / max(|ref|, floor) (gradients: also |got| in
 * the denominator) where the floor is a fraction of the tensor's own scale, so values
 * that cancel to nearly zero do not turn rounding into a failure; docs/conformance.md
 * says why each constant is what it is.
 */
#include "check-private.h"

#include <math.h>
#include <string.h>

#define GRAD_EPS 1e-2
#define GRAD_TOL 1e-2
#define GRAD_TEXT "tol 1e-2, eps 1e-2"
#define GRAD_FLOOR 0.05 /* times the RMS of the tensor's gradient */
#define ISA_TOL 1e-4
#define ISA_TEXT "tol 1e-4"
#define ISA_FLOOR 1e-2 /* times the largest |ref| of the tensor */
#define BATCH 2

static GPtrArray *
backward_kernels(ck_ctx *ctx)
{
    GPtrArray *a = g_ptr_array_new();
    for (guint i = 0; i < ctx->kernels->len; i++) {
        const mmx_kernel_desc *k = ctx->kernels->pdata[i];
        if (k->backward)
            g_ptr_array_add(a, (gpointer)k);
    }
    return a;
}

static json_t *
kernel_names(GPtrArray *kernels)
{
    json_t *a = json_array();
    for (guint i = 0; i < kernels->len; i++)
        json_array_append_new(a, json_string(((const mmx_kernel_desc *)kernels->pdata[i])->name));
    return a;
}

static char *
kernel_list(GPtrArray *kernels)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < kernels->len; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "",
                               ((const mmx_kernel_desc *)kernels->pdata[i])->name);
    return g_string_free(s, FALSE);
}

static bool
no_examples(ck_ctx *ctx, ck_result *r)
{
    if (ctx->examples->len)
        return false;
    r->status = CK_SKIP;
    ck_summary(r, "no example of the op infers (see the examples check)");
    return true;
}

/* ---- gradients ---- */

typedef struct grad_tensor {
    ck_buf *value, *grad;
} grad_tensor;

static int
grad_tensors(ck_run *run, grad_tensor *t)
{
    int n = 0;
    for (size_t i = 0; i < run->cfg->n_inputs; i++)
        t[n++] = (grad_tensor){run->in[i], run->grad_in[i]};
    for (size_t j = 0; j < run->ctx->desc->n_params; j++)
        if (ck_param_trainable(run, j))
            t[n++] = (grad_tensor){run->param[j], run->grad_param[j]};
    return n;
}

/* dL/dx[idx] by central differences with step h through the reference forward. */
static bool
central_difference(ck_run *run, ck_buf *x, int64_t idx, double h, double *fd, GError **error)
{
    const ck_ctx *ctx = run->ctx;
    int64_t n_out = run->out->n;
    float x0 = x->data[idx];
    float xp = (float)(x0 + h), xm = (float)(x0 - h);
    g_autofree float *yp = NULL;
    ck_buf_seal(x, false);
    x->data[idx] = xp;
    ck_buf_seal(x, !x->writable);
    bool ok = ck_forward(run, ctx->ref, error);
    if (ok)
        yp = ck_copy(run->out->data, n_out);
    ck_buf_seal(x, false);
    x->data[idx] = xm;
    ck_buf_seal(x, !x->writable);
    ok = ok && ck_forward(run, ctx->ref, error);
    ck_buf_seal(x, false);
    x->data[idx] = x0;
    ck_buf_seal(x, !x->writable);
    if (!ok)
        return false;
    /* Differences first, then the sum: outputs x does not reach cancel exactly. */
    double dl = 0;
    for (int64_t i = 0; i < n_out; i++)
        dl += (double)run->grad_out->data[i] * ((double)yp[i] - (double)run->out->data[i]);
    *fd = dl / ((double)xp - (double)xm);
    return true;
}

static double
rel_err(double got, double ref, double floor)
{
    if (isnan(got) || isnan(ref) || isinf(got) || isinf(ref))
        return got == ref ? 0.0 : NAN;
    double den = MAX(MAX(fabs(got), fabs(ref)), floor);
    return den > 0 ? fabs(got - ref) / den : 0.0;
}

/* Elements to check: the first, the last and random others, at most `points`. */
static GArray *
pick_elements(int64_t n, int points, uint64_t seed)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(int64_t));
    if (n <= points) {
        for (int64_t i = 0; i < n; i++)
            g_array_append_val(a, i);
        return a;
    }
    int64_t first = 0, last = n - 1;
    g_array_append_val(a, first);
    g_array_append_val(a, last);
    for (uint64_t k = 0; (int)a->len < points && k < (uint64_t)points * 8; k++) {
        int64_t i = (int64_t)(ck_rand_u01(seed, k) * (double)n);
        bool dup = false;
        for (guint m = 0; m < a->len && !dup; m++)
            dup = g_array_index(a, int64_t, m) == i;
        if (!dup && i >= 0 && i < n)
            g_array_append_val(a, i);
    }
    return a;
}

static double
rms(const float *x, int64_t n)
{
    double s = 0;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            s += (double)x[i] * x[i];
            m++;
        }
    return m ? sqrt(s / (double)m) : 0.0;
}

/* The configurations gradients are checked on: the examples, plus tail variants (full
 * run: every variant up to 37; quick run: the smallest odd one of the first example). */
static GPtrArray *
gradient_configs(ck_ctx *ctx)
{
    GPtrArray *a = g_ptr_array_new();
    for (guint i = 0; i < ctx->examples->len; i++)
        g_ptr_array_add(a, ctx->examples->pdata[i]);
    for (guint i = 0; i < ctx->variants->len; i++) {
        ck_config *v = ctx->variants->pdata[i];
        if (ctx->quick ? (v->example == 0 && v->tail == 7) : v->tail <= 37)
            g_ptr_array_add(a, v);
    }
    return a;
}

/* Whether every kernel's gradient of tensor ti at element i matches fd. */
static bool
all_match(float *analytic[][MMX_MAX_INPUTS + MMX_MAX_PARAMS], guint nk, int ti, int64_t i,
          double fd, double floor)
{
    for (guint k = 0; k < nk; k++)
        if (!(rel_err(analytic[k][ti][i], fd, floor) <= GRAD_TOL))
            return false;
    return true;
}

/* Records a kernel whose backward failed in data.failed_kernels, once: check.c reads it
 * to say that an ISA mismatch may come from a reference that fails here. */
static void
note_failed_kernel(ck_result *r, const char *name)
{
    json_t *list = json_object_get(r->data, "failed_kernels");
    if (list == NULL) {
        list = json_array();
        json_object_set_new(r->data, "failed_kernels", list);
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (strcmp(json_string_value(v), name) == 0) return;
    json_array_append_new(list, json_string(name));
}

typedef struct grad_stats {
    int64_t checked, nonsmooth;
    char *first_nonsmooth;
    int bad_kernels;
} grad_stats;

static void
gradients_on(ck_ctx *ctx, ck_result *r, const ck_config *cfg, GPtrArray *kernels, ck_worst *worst,
             grad_stats *st, uint64_t seed)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ck_run) run = ck_run_new(ctx, cfg, BATCH, seed, &error);
    if (run == NULL) {
        ck_fail(r, "%s: %s", cfg->label, error->message);
        return;
    }
    grad_tensor t[MMX_MAX_INPUTS + MMX_MAX_PARAMS];
    int nt = grad_tensors(run, t);
    /* analytic[k][ti]: kernel k's gradient of tensor ti. */
    float *analytic[16][MMX_MAX_INPUTS + MMX_MAX_PARAMS] = {{0}};
    guint nk = MIN(kernels->len, 16u);
    bool ok = true;
    for (guint k = 0; k < nk && ok; k++) {
        const mmx_kernel_desc *kd = kernels->pdata[k];
        ok = ck_forward(run, kd, &error) && ck_backward(run, kd, &error);
        for (int ti = 0; ok && ti < nt; ti++)
            analytic[k][ti] = ck_copy(t[ti].grad->data, t[ti].grad->n);
    }
    if (!ok)
        ck_fail(r, "%s", error->message);
    /* The reference output of the unperturbed inputs: the scale of the loss terms. */
    double noise = 0;
    if (ok && (ok = ck_forward(run, ctx->ref, &error)))
        for (int64_t i = 0; i < run->out->n; i++)
            noise += fabs((double)run->grad_out->data[i] * run->out->data[i]);
    noise *= 0x1p-24;
    int points = ctx->quick ? 6 : 16;
    for (int ti = 0; ok && ti < nt; ti++) {
        int64_t n = t[ti].value->n;
        /* The floor: 5% of the gradient's RMS, or the rounding noise of the finite
         * difference (2^-24 sum |w y| / 2h, an upper bound) over the tolerance, so that an
         * element whose true gradient is about zero is compared at the noise level. */
        double g_floor = GRAD_FLOOR * rms(analytic[0][ti], n) + 1e-12;
        double floor = MAX(g_floor, noise / (2 * GRAD_EPS) / GRAD_TOL);
        double fine_floor = MAX(g_floor, noise / (2 * GRAD_EPS / 10) / GRAD_TOL);
        g_autoptr(GArray) idx = pick_elements(n, points, mmx_rng_key(seed, 10, (uint64_t)ti));
        int bad[16] = {0};
        double kworst[16] = {0};
        char *kwhere[16] = {0};
        for (guint e = 0; ok && e < idx->len; e++) {
            int64_t i = g_array_index(idx, int64_t, e);
            double fd;
            if (!(ok = central_difference(run, t[ti].value, i, GRAD_EPS, &fd, &error)))
                break;
            if (!all_match(analytic, nk, ti, i, fd, floor)) {
                /* A strongly curved op: a 10x smaller step has 100x less truncation error
                 * (and 10x more rounding noise). If the backward matches that, fine. */
                double fine, mid;
                if (!(ok = central_difference(run, t[ti].value, i, GRAD_EPS / 10, &fine, &error)))
                    break;
                if (all_match(analytic, nk, ti, i, fine, fine_floor)) {
                    fd = fine;
                    floor = fine_floor;
                } else {
                    /* A kink: the finite difference itself moves with the step. */
                    if (!(ok = central_difference(run, t[ti].value, i, GRAD_EPS / 4, &mid, &error)))
                        break;
                    if (!(rel_err(mid, fd, fine_floor) <= GRAD_TOL / 2) ||
                        !(rel_err(fine, fd, fine_floor) <= GRAD_TOL / 2)) {
                        g_autofree char *at = ck_run_where(run, t[ti].value, i);
                        if (st->nonsmooth++ == 0)
                            st->first_nonsmooth = g_strdup_printf(
                                "%s %s on %s: finite differences %.7g, %.7g, %.7g with steps "
                                "%g, %g, %g; backward %.7g",
                                t[ti].grad->what, at, cfg->label, fd, mid, fine, GRAD_EPS,
                                GRAD_EPS / 4, GRAD_EPS / 10, analytic[0][ti][i]);
                        continue;
                    }
                }
            }
            st->checked++;
            for (guint k = 0; k < nk; k++) {
                const mmx_kernel_desc *kd = kernels->pdata[k];
                double an = analytic[k][ti][i];
                double err = rel_err(an, fd, floor);
                g_autofree char *at = ck_run_where(run, t[ti].value, i);
                json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f}", "kernel", kd->name,
                                      "tensor", t[ti].grad->what, "index", at, "config", cfg->label,
                                      "backward", isfinite(an) ? an : 0.0, "finite_difference",
                                      isfinite(fd) ? fd : 0.0);
                char *where = g_strdup_printf("%s %s, kernel %s, %s: backward %.7g vs finite "
                                              "difference %.7g",
                                              t[ti].grad->what, at, kd->name, cfg->label, an, fd);
                ck_worst_offer(worst, isnan(err) ? INFINITY : err, where, j);
                if (!(err <= GRAD_TOL)) {
                    bad[k]++;
                    if (!(err <= kworst[k])) {
                        kworst[k] = isnan(err) ? INFINITY : err;
                        g_free(kwhere[k]);
                        kwhere[k] = g_strdup_printf("%s: %.7g, finite differences give %.7g "
                                                    "(rel err %.2g)",
                                                    at, an, fd, err);
                    }
                }
            }
        }
        for (guint k = 0; k < nk; k++) {
            if (bad[k]) {
                const mmx_kernel_desc *kd = kernels->pdata[k];
                ck_fail(r,
                        "kernel %s backward: %s is wrong at %d of %u checked elements on %s; "
                        "worst at %s",
                        kd->name, t[ti].grad->what, bad[k], idx->len, cfg->label, kwhere[k]);
                st->bad_kernels++;
                note_failed_kernel(r, kd->name);
            }
            g_free(kwhere[k]);
        }
    }
    if (!ok && error)
        ck_fail(r, "%s", error->message);
    for (guint k = 0; k < nk; k++)
        for (int ti = 0; ti < nt; ti++)
            g_free(analytic[k][ti]);
}

void
ck_check_gradients(ck_ctx *ctx, ck_result *r)
{
    if (no_examples(ctx, r))
        return;
    g_autoptr(GPtrArray) kernels = backward_kernels(ctx);
    json_object_set_new(r->data, "kernels", kernel_names(kernels));
    json_object_set_new(r->data, "epsilon", json_real(GRAD_EPS));
    json_object_set_new(r->data, "tolerance", json_real(GRAD_TOL));
    if (kernels->len == 0 || ctx->ref->backward == NULL) {
        r->status = CK_SKIP;
        ck_summary(r, "%s",
                   kernels->len ? "the scalar reference has no backward, so the "
                                  "op is not differentiable"
                                : "no kernel has a backward: the op is not "
                                  "differentiable");
        return;
    }
    g_autoptr(GPtrArray) configs = gradient_configs(ctx);
    ck_worst worst = {.err = -1};
    grad_stats st = {0};
    for (guint c = 0; c < configs->len; c++)
        gradients_on(ctx, r, configs->pdata[c], kernels, &worst, &st,
                     mmx_rng_key(0x6752414430ull, c, 0));
    json_object_set_new(r->data, "configs", json_integer(configs->len));
    json_object_set_new(r->data, "elements", json_integer(st.checked));
    json_object_set_new(r->data, "nonsmooth_skipped", json_integer(st.nonsmooth));
    if (st.first_nonsmooth)
        json_object_set_new(r->data, "nonsmooth_first", json_string(st.first_nonsmooth));
    if (worst.json) {
        json_object_set_new(worst.json, "error",
                            json_real(isfinite(worst.err) ? worst.err : 1e308));
        json_object_set(r->data, "worst", worst.json);
    }
    g_autofree char *names = kernel_list(kernels);
    if (r->status == CK_FAIL && st.bad_kernels > 0) {
        ck_summary(r, "worst rel err %.3g (" GRAD_TEXT ") at %s", worst.err,
                   worst.where ? worst.where : "(no element compared)");
        ck_detail(r, "hint: the backward does not match the forward. Check the derivative "
                     "(a factor, a sign, a missing term), that every input and parameter "
                     "gets its gradient, and that backward reads the same inputs as forward");
    } else if (r->status == CK_FAIL) {
        /* Only errors (a kernel failed, a canary changed): the first one says it. */
    } else if (st.nonsmooth > st.checked) {
        r->status = CK_FAIL;
        ck_summary(r,
                   "%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " elements could not be compared: "
                   "their finite differences change with the step (kinks, or a forward that is "
                   "not a function of its inputs alone)",
                   st.nonsmooth, st.nonsmooth + st.checked);
    } else {
        g_autofree char *nonsmooth_text =
            g_strdup_printf(" (%" G_GINT64_FORMAT " more skipped at kinks)", st.nonsmooth);
        ck_summary(r,
                   "worst rel err %.2g (" GRAD_TEXT ") over %" G_GINT64_FORMAT
                   " elements on %u configs%s; kernels %s",
                   worst.err, st.checked, configs->len, st.nonsmooth ? nonsmooth_text : "", names);
    }
    ck_worst_clear(&worst);
    g_free(st.first_nonsmooth);
}

/* ---- backward semantics ---- */

static bool
same_bits(const float *a, const float *b, int64_t n, int64_t *first)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            *first = i;
            return false;
        }
    return true;
}

typedef struct grads {
    float *in[MMX_MAX_INPUTS];
    float *param[MMX_MAX_PARAMS];
} grads;

static void
grads_take(ck_run *run, grads *g)
{
    for (size_t i = 0; i < run->cfg->n_inputs; i++)
        g->in[i] = ck_copy(run->grad_in[i]->data, run->grad_in[i]->n);
    for (size_t j = 0; j < run->ctx->desc->n_params; j++)
        if (ck_param_trainable(run, j))
            g->param[j] = ck_copy(run->grad_param[j]->data, run->grad_param[j]->n);
}

static void
grads_clear(grads *g)
{
    for (int i = 0; i < MMX_MAX_INPUTS; i++)
        g_clear_pointer(&g->in[i], g_free);
    for (int j = 0; j < MMX_MAX_PARAMS; j++)
        g_clear_pointer(&g->param[j], g_free);
}

static void
want_all(ck_run *run, bool inputs, bool params)
{
    for (size_t i = 0; i < run->cfg->n_inputs; i++)
        run->want_grad_in[i] = inputs;
    for (size_t j = 0; j < run->ctx->desc->n_params; j++)
        run->want_grad_param[j] = params && ck_param_trainable(run, j);
}

/* Parameter gradients of this call against the zero-filled call g0 (plus `added`). */
static bool
params_match(ck_result *r, ck_run *run, const mmx_kernel_desc *k, const grads *g0,
             float *const *added, const char *how)
{
    bool ok = true;
    for (size_t j = 0; j < run->ctx->desc->n_params; j++) {
        if (!ck_param_trainable(run, j) || !run->want_grad_param[j])
            continue;
        const float *got = run->grad_param[j]->data;
        int64_t n = run->grad_param[j]->n;
        double scale = rms(g0->param[j], n) + 1e-7;
        for (int64_t i = 0; i < n; i++) {
            double p = added ? added[j][i] : 0.0;
            double expect = p + g0->param[j][i];
            double tol = 1e-5 * (fabs(p) + fabs(g0->param[j][i]) + scale);
            if (fabs(got[i] - expect) <= tol)
                continue;
            g_autofree char *at = ck_run_where(run, run->grad_param[j], i);
            const char *why;
            if (added && fabs(got[i] - g0->param[j][i]) <= tol)
                why = "it was overwritten instead of accumulated: backward must ADD into "
                      "grad_param (a tied parameter receives the gradient of every use)";
            else if (added && fabs(got[i] - p) <= tol)
                why = "the gradient was not added at all";
            else
                why = "it differs from the call with every gradient requested";
            ck_fail(r, "kernel %s backward %s: %s at %s is %.7g, expected %.7g: %s on %s", k->name,
                    how, run->grad_param[j]->what, at, got[i], expect, why, run->cfg->label);
            ok = false;
            break;
        }
    }
    return ok;
}

static bool
inputs_match(ck_result *r, ck_run *run, const mmx_kernel_desc *k, const grads *g0, const char *how)
{
    bool ok = true;
    for (size_t i = 0; i < run->cfg->n_inputs; i++) {
        if (!run->want_grad_in[i])
            continue;
        int64_t at;
        const float *got = run->grad_in[i]->data;
        if (same_bits(got, g0->in[i], run->grad_in[i]->n, &at))
            continue;
        g_autofree char *where = ck_run_where(run, run->grad_in[i], at);
        if (isnan(got[at]) && !isnan(g0->in[i][at]))
            ck_fail(r,
                    "kernel %s backward %s: %s at %s still holds the NaN it held before the "
                    "call (%.7g with a zeroed buffer): backward must overwrite every element "
                    "of grad_in, on %s",
                    k->name, how, run->grad_in[i]->what, where, g0->in[i][at], run->cfg->label);
        else
            ck_fail(r,
                    "kernel %s backward %s: %s at %s is %.7g but %.7g with a zeroed buffer "
                    "(backward must overwrite grad_in, not accumulate into it), on %s",
                    k->name, how, run->grad_in[i]->what, where, got[at], g0->in[i][at],
                    run->cfg->label);
        ok = false;
    }
    return ok;
}

static void
backward_on(ck_ctx *ctx, ck_result *r, const ck_config *cfg, const mmx_kernel_desc *k,
            uint64_t seed)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ck_run) run = ck_run_new(ctx, cfg, BATCH, seed, &error);
    if (run == NULL) {
        ck_fail(r, "%s: %s", cfg->label, error->message);
        return;
    }
    grads g0;
    memset(&g0, 0, sizeof g0);
    size_t np = ctx->desc->n_params;
    float *prefill[MMX_MAX_PARAMS] = {0};
    bool has_params = false;
    if (!ck_forward(run, k, &error) || !ck_backward(run, k, &error)) {
        ck_fail(r, "%s", error->message);
        return;
    }
    grads_take(run, &g0);
    /* grad_in holds NaN, grad_param known values before the call. */
    run->grad_in_fill = NAN;
    for (size_t j = 0; j < np; j++)
        if (ck_param_trainable(run, j)) {
            has_params = true;
            prefill[j] = g_new(float, run->grad_param[j]->n);
            for (int64_t i = 0; i < run->grad_param[j]->n; i++)
                prefill[j][i] = 4.0f * ck_rand_signed(mmx_rng_key(seed, 20, j), (uint64_t)i);
            run->grad_param_fill[j] = prefill[j];
        }
    bool ok = ck_backward(run, k, &error);
    if (!ok)
        ck_fail(r, "%s", error->message);
    /* Both, so a kernel that gets both rules wrong hears about both. */
    if (ok) {
        bool in_ok = inputs_match(r, run, k, &g0, "with grad_in pre-filled with NaN");
        bool param_ok = params_match(r, run, k, &g0, prefill, "with grad_param pre-filled");
        ok = in_ok && param_ok;
    }
    run->grad_in_fill = 0;
    for (size_t j = 0; j < np; j++)
        run->grad_param_fill[j] = NULL;
    /* NULL gradients: every input's, then every parameter's, then input 0's alone. */
    if (ok && has_params) {
        want_all(run, false, true);
        if (!ck_backward(run, k, &error))
            ck_fail(r, "with every grad_in NULL: %s", error->message), ok = false;
        ok = ok && params_match(r, run, k, &g0, NULL, "with every grad_in NULL");
        want_all(run, true, false);
        if (ok && !ck_backward(run, k, &error))
            ck_fail(r, "with every grad_param NULL: %s", error->message), ok = false;
        ok = ok && inputs_match(r, run, k, &g0, "with every grad_param NULL");
    }
    if (ok && cfg->n_inputs > 1) {
        want_all(run, true, true);
        run->want_grad_in[0] = false;
        if (!ck_backward(run, k, &error))
            ck_fail(r, "with grad_in[0] NULL: %s", error->message), ok = false;
        ok = ok && inputs_match(r, run, k, &g0, "with grad_in[0] NULL");
        ok = ok && params_match(r, run, k, &g0, NULL, "with grad_in[0] NULL");
    }
    for (size_t j = 0; j < np; j++)
        g_free(prefill[j]);
    grads_clear(&g0);
}

void
ck_check_backward(ck_ctx *ctx, ck_result *r)
{
    if (no_examples(ctx, r))
        return;
    g_autoptr(GPtrArray) kernels = backward_kernels(ctx);
    json_object_set_new(r->data, "kernels", kernel_names(kernels));
    if (kernels->len == 0) {
        r->status = CK_SKIP;
        ck_summary(r, "no kernel has a backward: the op is not differentiable");
        return;
    }
    g_autoptr(GPtrArray) configs = g_ptr_array_new();
    for (guint i = 0; i < ctx->examples->len; i++)
        if (!ctx->quick || i == 0)
            g_ptr_array_add(configs, ctx->examples->pdata[i]);
    if (ctx->variants->len)
        g_ptr_array_add(configs, ctx->variants->pdata[0]);
    for (guint c = 0; c < configs->len; c++)
        for (guint k = 0; k < kernels->len; k++)
            backward_on(ctx, r, configs->pdata[c], kernels->pdata[k],
                        mmx_rng_key(0x6277640000ull, c, k));
    json_object_set_new(r->data, "configs", json_integer(configs->len));
    g_autofree char *names = kernel_list(kernels);
    if (r->status != CK_FAIL)
        ck_summary(r, "grad_in overwritten, %sNULL gradients skipped; kernels %s on %u configs",
                   ctx->desc->n_params ? "grad_param accumulated, " : "", names, configs->len);
}

/* ---- ISA equivalence ---- */

/* The worst element of got against ref; returns its error and index. */
static double
compare_tensor(const float *got, const float *ref, int64_t n, int64_t *at)
{
    double mx = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(ref[i]))
            mx = MAX(mx, fabs(ref[i]));
    double floor = ISA_FLOOR * mx + 1e-30;
    double worst = 0;
    *at = 0;
    for (int64_t i = 0; i < n; i++) {
        double e;
        if (memcmp(&got[i], &ref[i], sizeof(float)) == 0 || (isnan(got[i]) && isnan(ref[i])))
            e = 0;
        else if (!isfinite(got[i]) || !isfinite(ref[i]))
            e = INFINITY;
        else
            e = fabs((double)got[i] - ref[i]) / MAX(fabs(ref[i]), floor);
        if (e > worst) {
            worst = e;
            *at = i;
        }
    }
    return worst;
}

typedef struct isa_state {
    ck_worst worst[16]; /* per kernel */
    int bad[16];
} isa_state;

static void
isa_compare(ck_result *r, ck_run *run, guint kidx, const mmx_kernel_desc *k, const ck_buf *b,
            const float *ref, const char *phase, isa_state *st)
{
    int64_t at;
    double e = compare_tensor(b->data, ref, b->n, &at);
    if (b->n == 0)
        return;
    g_autofree char *where = ck_run_where(run, b, at);
    char *text = g_strdup_printf("%s %s (%s) on %s: %.7g vs %.7g from %s", b->what, where, phase,
                                 run->cfg->label, b->data[at], ref[at], run->ctx->ref->name);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f}", "tensor", b->what, "index", where,
                          "phase", phase, "config", run->cfg->label, "got",
                          isfinite(b->data[at]) ? b->data[at] : 0.0, "reference",
                          isfinite(ref[at]) ? ref[at] : 0.0);
    if (!(e <= ISA_TOL) && st->bad[kidx]++ == 0) {
        ck_fail(r, "kernel %s disagrees with %s: rel err %.3g (" ISA_TEXT ") at %s", k->name,
                run->ctx->ref->name, e, text);
        if (b->n - at <= 16)
            ck_detail(r,
                      "hint: flat index %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                      " is in the last 16 of the buffer, where a vector loop hands over "
                      "to its tail: check the remainder loop or the tail mask",
                      at, b->n);
    }
    ck_worst_offer(&st->worst[kidx], e, text, j);
}

static void
isa_on(ck_ctx *ctx, ck_result *r, const ck_config *cfg, isa_state *st, uint64_t seed)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ck_run) run = ck_run_new(ctx, cfg, BATCH, seed, &error);
    if (run == NULL) {
        ck_fail(r, "%s: %s", cfg->label, error->message);
        return;
    }
    const mmx_op_desc *d = ctx->desc;
    const mmx_kernel_desc *ref = ctx->ref;
    if (!ck_forward(run, ref, &error)) {
        ck_fail(r, "%s", error->message);
        return;
    }
    g_autofree float *ref_out = ck_copy(run->out->data, run->out->n);
    float *ref_buf[MMX_MAX_PARAMS] = {0};
    for (size_t j = 0; j < d->n_params; j++)
        if (run->param[j] && run->param[j]->writable)
            ref_buf[j] = ck_copy(run->param[j]->data, run->param[j]->n);
    grads g_ref;
    memset(&g_ref, 0, sizeof g_ref);
    bool ref_bwd = ref->backward && ck_backward(run, ref, &error);
    if (ref->backward && !ref_bwd)
        ck_fail(r, "%s", error->message);
    if (ref_bwd)
        grads_take(run, &g_ref);
    for (guint k = 1; k < ctx->kernels->len && k < 16; k++) {
        const mmx_kernel_desc *kd = ctx->kernels->pdata[k];
        if (!ck_forward(run, kd, &error)) {
            ck_fail(r, "%s", error->message);
            g_clear_error(&error);
            continue;
        }
        isa_compare(r, run, k, kd, run->out, ref_out, "forward", st);
        for (size_t j = 0; j < d->n_params; j++)
            if (ref_buf[j])
                isa_compare(r, run, k, kd, run->param[j], ref_buf[j], "forward state", st);
        if (!ref_bwd || kd->backward == NULL)
            continue;
        if (!ck_backward(run, kd, &error)) {
            ck_fail(r, "%s", error->message);
            g_clear_error(&error);
            continue;
        }
        for (size_t i = 0; i < cfg->n_inputs; i++)
            isa_compare(r, run, k, kd, run->grad_in[i], g_ref.in[i], "backward", st);
        for (size_t j = 0; j < d->n_params; j++)
            if (g_ref.param[j])
                isa_compare(r, run, k, kd, run->grad_param[j], g_ref.param[j], "backward", st);
    }
    for (size_t j = 0; j < d->n_params; j++)
        g_free(ref_buf[j]);
    grads_clear(&g_ref);
}

void
ck_check_isa(ck_ctx *ctx, ck_result *r)
{
    if (no_examples(ctx, r))
        return;
    json_object_set_new(r->data, "reference", json_string(ctx->ref->name));
    json_object_set_new(r->data, "tolerance", json_real(ISA_TOL));
    json_t *ineligible = json_array();
    GString *not_here = g_string_new(NULL);
    for (size_t i = 0; i < ctx->desc->n_kernels; i++) {
        const mmx_kernel_desc *k = ctx->desc->kernels[i];
        if (k->isa > ctx->isa) {
            json_array_append_new(ineligible, json_string(k->name));
            g_string_append_printf(not_here, "%s%s needs %s", not_here->len ? ", " : "", k->name,
                                   mmx_isa_name(k->isa));
        }
    }
    json_object_set_new(r->data, "not_eligible", ineligible);
    g_autoptr(GPtrArray) compared = g_ptr_array_new();
    for (guint k = 1; k < ctx->kernels->len; k++)
        g_ptr_array_add(compared, ctx->kernels->pdata[k]);
    json_object_set_new(r->data, "kernels", kernel_names(compared));
    if (compared->len == 0) {
        r->status = CK_SKIP;
        if (not_here->len)
            ck_summary(r, "only the scalar reference %s runs here (%s; this CPU: %s)",
                       ctx->ref->name, not_here->str, mmx_isa_name(ctx->isa));
        else
            ck_summary(r, "the op has only its scalar reference %s: nothing to compare",
                       ctx->ref->name);
        g_string_free(not_here, TRUE);
        return;
    }
    isa_state st;
    memset(&st, 0, sizeof st);
    for (int k = 0; k < 16; k++)
        st.worst[k].err = -1;
    guint n_configs = 0;
    for (guint c = 0; c < ctx->examples->len; c++, n_configs++)
        isa_on(ctx, r, ctx->examples->pdata[c], &st, mmx_rng_key(0x697361ull, n_configs, 0));
    for (guint c = 0; c < ctx->variants->len; c++, n_configs++)
        isa_on(ctx, r, ctx->variants->pdata[c], &st, mmx_rng_key(0x697361ull, n_configs, 0));
    json_object_set_new(r->data, "configs", json_integer(n_configs));
    json_t *per = json_array();
    double worst = 0;
    guint worst_k = 1;
    for (guint k = 1; k < ctx->kernels->len && k < 16; k++) {
        const mmx_kernel_desc *kd = ctx->kernels->pdata[k];
        json_t *o = json_object();
        json_object_set_new(o, "kernel", json_string(kd->name));
        json_object_set_new(o, "error",
                            json_real(isfinite(st.worst[k].err) ? MAX(st.worst[k].err, 0) : 1e308));
        json_object_set_new(o, "passed", json_boolean(st.bad[k] == 0));
        if (st.worst[k].json)
            json_object_set(o, "worst", st.worst[k].json);
        json_array_append_new(per, o);
        if (!(st.worst[k].err <= worst)) {
            worst = st.worst[k].err;
            worst_k = k;
        }
    }
    json_object_set_new(r->data, "per_kernel", per);
    g_autofree char *names = kernel_list(compared);
    const ck_worst *w = &st.worst[worst_k];
    if (r->status == CK_FAIL)
        ck_summary(r, "worst rel err %.3g (" ISA_TEXT ") in kernel %s: %s", w->err,
                   ((const mmx_kernel_desc *)ctx->kernels->pdata[worst_k])->name,
                   w->where ? w->where : "");
    else
        ck_summary(r,
                   "%s vs %s on %u configs, forward and backward: worst rel err %.2g "
                   "(" ISA_TEXT ")%s%s",
                   names, ctx->ref->name, n_configs, MAX(worst, 0.0),
                   not_here->len ? "; not run here: " : "", not_here->str);
    for (int k = 0; k < 16; k++)
        ck_worst_clear(&st.worst[k]);
    g_string_free(not_here, TRUE);
}
