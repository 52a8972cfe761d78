/* analyze.c: symmetry and spectra of a trained model's mixer weights (mmx-analyze.h).
 *
 * Everything is computed in double precision from the float weights. Singular values
 * come from the eigenvalues of the smaller Gram matrix (W W^T or W^T W) by cyclic Jacobi
 * rotations: the mixers' matrices are at most a few hundred wide, where Jacobi is exact
 * to rounding and needs no library. The power-law fit is Clauset, Shalizi & Newman's:
 * for each candidate xmin the continuous maximum-likelihood alpha, and the xmin whose
 * tail is closest to its fit in Kolmogorov-Smirnov distance.
 */
#include "analyze-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// clang-format off
G_DEFINE_QUARK(mmx-analyze-error-quark, mmx_analyze_error)
// clang-format on

bool
mmx__analyze_refuse(GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT, msg);
    return false;
}

/* The widest Gram matrix the Jacobi solver takes (its memory is n^2 doubles). */
#define GRAM_MAX 4096
/* A power law needs a few points to have an MLE at all. */
#define TAIL_MIN 5

double
mmx_analyze_cosine_transpose(const float *v, const float *k, int64_t rows, int64_t cols)
{
    g_return_val_if_fail(v != NULL && k != NULL, 0.0);
    double dot = 0, nk = 0, nv = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            double kij = k[i * cols + j], vji = v[j * rows + i];
            dot += vji * kij;
            nk += kij * kij;
            nv += vji * vji;
        }
    if (nk == 0 || nv == 0)
        return 0.0;
    return dot / (sqrt(nk) * sqrt(nv));
}

void
mmx_analyze_symmetry_split(const double *w, int64_t n, double *sym, double *anti)
{
    g_return_if_fail(w != NULL && sym != NULL && anti != NULL);
    double s = 0, a = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double x = w[i * n + j], y = w[j * n + i];
            s += 0.25 * (x + y) * (x + y);
            a += 0.25 * (x - y) * (x - y);
        }
    /* ||S||^2 + ||A||^2 = ||W||^2 exactly in real arithmetic: S and A are orthogonal. */
    double total = s + a;
    *sym = total > 0 ? s / total : 0.0;
    *anti = total > 0 ? a / total : 0.0;
}

/* Eigenvalues of the symmetric [n, n] matrix a (destroyed) into ev, by cyclic Jacobi
 * sweeps until the off-diagonal mass is negligible against the diagonal. */
static void
jacobi_eigenvalues(double *a, int64_t n, double *ev)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                if (i != j)
                    off += a[i * n + j] * a[i * n + j];
                else
                    diag += a[i * n + i] * a[i * n + i];
        if (off <= 1e-30 * diag || off == 0)
            break;
        for (int64_t p = 0; p < n - 1; p++)
            for (int64_t q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0)
                    continue;
                double app = a[p * n + p], aqq = a[q * n + q];
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int64_t k = 0; k < n; k++) { /* columns p and q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int64_t k = 0; k < n; k++) { /* rows p and q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int64_t i = 0; i < n; i++)
        ev[i] = a[i * n + i];
}

static int
descending(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? 1 : a > b ? -1 : 0;
}

static int
ascending(const void *x, const void *y)
{
    return -descending(x, y);
}

bool
mmx_analyze_singular_values(const float *w, int64_t rows, int64_t cols, double *sv, GError **error)
{
    g_return_val_if_fail(w != NULL && sv != NULL, false);
    if (rows < 1 || cols < 1) {
        g_set_error(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT,
                    "singular values of a [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                    "] matrix: both dimensions must be positive",
                    rows, cols);
        return false;
    }
    int64_t n = MIN(rows, cols);
    if (n > GRAM_MAX) {
        g_set_error(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT,
                    "singular values of a [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                    "] matrix: wider than %d on both sides",
                    rows, cols, GRAM_MAX);
        return false;
    }
    /* G = W W^T when rows <= cols, else W^T W: the same nonzero eigenvalues, s_i^2. */
    g_autofree double *g = g_new0(double, (gsize)(n * n));
    bool by_rows = rows <= cols;
    int64_t len = by_rows ? cols : rows;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            double acc = 0;
            for (int64_t k = 0; k < len; k++)
                acc += by_rows ? (double)w[i * cols + k] * w[j * cols + k]
                               : (double)w[k * cols + i] * w[k * cols + j];
            g[i * n + j] = g[j * n + i] = acc;
        }
    jacobi_eigenvalues(g, n, sv);
    for (int64_t i = 0; i < n; i++)
        sv[i] = sv[i] > 0 ? sqrt(sv[i]) : 0.0;
    qsort(sv, (size_t)n, sizeof *sv, descending);
    return true;
}

double
mmx_analyze_effective_rank(const double *sv, int64_t n)
{
    g_return_val_if_fail(sv != NULL || n == 0, 0.0);
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += fabs(sv[i]);
    if (sum == 0)
        return 0.0;
    double h = 0;
    for (int64_t i = 0; i < n; i++) {
        double p = fabs(sv[i]) / sum;
        if (p > 0)
            h -= p * log(p);
    }
    return exp(h);
}

double
mmx_analyze_stable_rank(const double *sv, int64_t n)
{
    g_return_val_if_fail(sv != NULL || n == 0, 0.0);
    double sum = 0, top = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += sv[i] * sv[i];
        top = MAX(top, sv[i] * sv[i]);
    }
    return top > 0 ? sum / top : 0.0;
}

bool
mmx_analyze_power_law(const double *x, int64_t n, mmx_power_law *fit, GError **error)
{
    g_return_val_if_fail((x != NULL || n == 0) && fit != NULL, false);
    g_autofree double *s = g_new(double, (gsize)MAX(n, 1));
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > 0 && isfinite(x[i]))
            s[m++] = x[i];
    qsort(s, (size_t)m, sizeof *s, ascending);
    /* Suffix sums of log x, so that each candidate's MLE is O(1) and its KS O(tail). */
    g_autofree double *logsum = g_new0(double, (gsize)(m + 1));
    for (int64_t i = m - 1; i >= 0; i--)
        logsum[i] = logsum[i + 1] + log(s[i]);
    mmx_power_law best = {.ks = INFINITY, .n = m};
    for (int64_t start = 0; start + TAIL_MIN <= m; start++) {
        if (start > 0 && s[start] == s[start - 1])
            continue; /* each distinct value once, with all its ties in the tail */
        double xmin = s[start];
        int64_t tail = m - start;
        double l = logsum[start] - (double)tail * log(xmin);
        if (l <= 0)
            continue; /* every tail value equals xmin: no power law */
        double alpha = 1 + (double)tail / l;
        /* The KS distance between the empirical and the fitted CDF over the tail, at both
         * sides of each step of the empirical CDF. */
        double ks = 0;
        for (int64_t i = start; i < m; i++) {
            double model = 1 - pow(s[i] / xmin, 1 - alpha);
            double lo = (double)(i - start) / (double)tail, hi = (double)(i - start + 1) / (double)tail;
            ks = MAX(ks, MAX(fabs(model - lo), fabs(hi - model)));
        }
        if (ks < best.ks)
            best = (mmx_power_law){.alpha = alpha, .xmin = xmin, .ks = ks, .n_tail = tail, .n = m};
    }
    if (!isfinite(best.ks)) {
        g_set_error(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT,
                    "a power-law fit needs at least %d distinct positive values above its xmin; "
                    "got %" G_GINT64_FORMAT " positive values",
                    TAIL_MIN, m);
        return false;
    }
    best.reliable = best.n_tail >= MMX_ANALYZE_POWER_LAW_MIN_TAIL;
    *fit = best;
    return true;
}

/* ---- a model's mixers ---- */

/* The 2-D matrix a linear node computes with, [out, in] as it is applied: the stored
 * weight, transposed when the node's "transpose" attribute says it is stored [in, out].
 * A new array, or NULL when the node has no 2-D weight. */
float *
mmx__analyze_weight(mmx_model *model, const mmx_graph_node *node, int64_t *out, int64_t *in,
                    int *param)
{
    const mmx_graph *g = mmx_model_graph(model);
    int p = node->params[0];
    if (p < 0)
        return NULL;
    const mmx_graph_param *gp = mmx_graph_get_param(g, p);
    if (gp->info.shape.rank != 2)
        return NULL;
    int64_t r = gp->info.shape.dim[0], c = gp->info.shape.dim[1];
    int ti = mmx_op_attr_index(node->op, "transpose");
    bool transpose = ti >= 0 && mmx_op_instance_node(node->inst)->attrs[ti].i != 0;
    const float *w = mmx_model_param(model, p);
    float *e = g_new(float, (gsize)(r * c));
    if (transpose)
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < c; j++)
                e[j * r + i] = w[i * c + j];
    else
        memcpy(e, w, (size_t)(r * c) * sizeof *e);
    *out = transpose ? c : r;
    *in = transpose ? r : c;
    *param = p;
    return e;
}

const char *
mmx__analyze_axis(const mmx_graph_node *node)
{
    int ai = mmx_op_attr_index(node->op, "axis");
    const char *axis = ai >= 0 ? mmx_op_instance_node(node->inst)->attrs[ai].s : NULL;
    return axis ? axis : "channel";
}

static json_t *
spectrum(const char *node, const char *role, const char *axis, const float *w, int64_t rows,
         int64_t cols, GError **error)
{
    int64_t n = MIN(rows, cols);
    g_autofree double *sv = g_new(double, (gsize)n);
    if (!mmx_analyze_singular_values(w, rows, cols, sv, error)) {
        g_prefix_error(error, "%s: ", node);
        return NULL;
    }
    json_t *values = json_array();
    g_autofree double *ev = g_new(double, (gsize)n);
    for (int64_t i = 0; i < n; i++) {
        json_array_append_new(values, json_real(sv[i]));
        ev[i] = sv[i] * sv[i];
    }
    json_t *rec = json_pack("{s:s, s:s, s:s, s:[I,I], s:o, s:f, s:f}", "node", node, "role", role,
                            "axis", axis, "shape", (json_int_t)rows, (json_int_t)cols,
                            "singular_values", values, "effective_rank",
                            mmx_analyze_effective_rank(sv, n), "stable_rank",
                            mmx_analyze_stable_rank(sv, n));
    mmx_power_law fit;
    if (mmx_analyze_power_law(ev, n, &fit, NULL))
        json_object_set_new(rec, "power_law",
                            json_pack("{s:f, s:f, s:f, s:I, s:I, s:b}", "alpha", fit.alpha, "xmin",
                                      fit.xmin, "ks", fit.ks, "n_tail", (json_int_t)fit.n_tail,
                                      "n_eigenvalues", (json_int_t)fit.n, "reliable", fit.reliable));
    else
        json_object_set_new(rec, "power_law", json_null());
    return rec;
}

/* One mixer: its symmetry record appended to sym, its matrices' spectra to spectra. */
static bool
analyze_mixer(mmx_model *model, const mmx_graph_node *key, const mmx_graph_node *value,
              const char *mixer, json_t *sym, json_t *spectra, GError **error)
{
    int64_t kh, kn, vn, vh;
    int kp, vp;
    g_autofree float *k = mmx__analyze_weight(model, key, &kh, &kn, &kp);
    g_autofree float *v = mmx__analyze_weight(model, value, &vn, &vh, &vp);
    if (k == NULL || v == NULL)
        return true; /* not a matrix mixer (a conv, an attention): nothing to say here */
    const char *axis = mmx__analyze_axis(key);
    bool tied = kp == vp;
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:b}", "mixer", mixer, "axis", axis, "key",
                            mmx_graph_get_param(mmx_model_graph(model), kp)->name, "value",
                            mmx_graph_get_param(mmx_model_graph(model), vp)->name, "tied", tied);
    if (vn == kn && vh == kh) {
        /* A tied value is K^T by construction: its cosine is 1, not 1 - rounding. */
        double cosine = tied ? 1.0 : mmx_analyze_cosine_transpose(v, k, kh, kn);
        /* The coupling C = V K [n, n] of the input to itself through the hidden layer:
         * symmetric (K^T K) for a tied mixer, the Hopfield network's condition. */
        g_autofree double *c = g_new0(double, (gsize)(kn * kn));
        for (int64_t i = 0; i < kn; i++)
            for (int64_t h = 0; h < kh; h++) {
                double vih = v[i * kh + h];
                for (int64_t j = 0; j < kn; j++)
                    c[i * kn + j] += vih * k[h * kn + j];
            }
        double s, a;
        mmx_analyze_symmetry_split(c, kn, &s, &a);
        json_object_set_new(rec, "cosine", json_real(cosine));
        json_object_set_new(rec, "coupling_symmetric", json_real(s));
        json_object_set_new(rec, "coupling_antisymmetric", json_real(a));
    } else {
        json_object_set_new(rec, "cosine", json_null());
    }
    json_array_append_new(sym, rec);
    g_autofree char *kname = g_strdup_printf("%s.key", mixer);
    json_t *ks = spectrum(kname, "key", axis, k, kh, kn, error);
    if (ks == NULL)
        return false;
    json_array_append_new(spectra, ks);
    if (!tied) {
        g_autofree char *vname = g_strdup_printf("%s.value", mixer);
        json_t *vs = spectrum(vname, "value", axis, v, vn, vh, error);
        if (vs == NULL)
            return false;
        json_array_append_new(spectra, vs);
    }
    return true;
}

json_t *
mmx_analyze_model(mmx_model *model, const char *what, GError **error)
{
    g_return_val_if_fail(model != NULL && what != NULL, NULL);
    g_autoptr(json_t) doc = json_pack("{s:[], s:[]}", "symmetry", "spectra");
    json_t *sym = json_object_get(doc, "symmetry"), *spectra = json_object_get(doc, "spectra");
    const mmx_graph *g = mmx_model_graph(model);
    double sum = 0;
    int n_cos = 0;
    for (int i = 0; i < mmx_graph_n_nodes(g); i++) {
        const mmx_graph_node *key = mmx_graph_get_node(g, i);
        if (!g_str_has_suffix(key->name, ".key"))
            continue;
        g_autofree char *mixer = g_strndup(key->name, strlen(key->name) - strlen(".key"));
        g_autofree char *vname = g_strdup_printf("%s.value", mixer);
        int vi = mmx_graph_find_node(g, vname);
        if (vi < 0)
            continue;
        if (!analyze_mixer(model, key, mmx_graph_get_node(g, vi), mixer, sym, spectra, error))
            return NULL;
    }
    size_t at;
    json_t *rec;
    json_array_foreach (sym, at, rec) {
        json_t *c = json_object_get(rec, "cosine");
        if (json_is_real(c)) {
            sum += json_real_value(c);
            n_cos++;
        }
    }
    if (json_array_size(sym) == 0) {
        g_set_error(error, MMX_ANALYZE_ERROR, MMX_ANALYZE_ERROR_INPUT,
                    "%s: the model has no mixer with a key and a value matrix to analyze", what);
        return NULL;
    }
    json_object_set_new(doc, "mean_cosine", n_cos ? json_real(sum / n_cos) : json_null());
    return g_steal_pointer(&doc);
}

json_t *
mmx_analyze_checkpoint(mmx_model *model, const char *path, GError **error)
{
    g_return_val_if_fail(model != NULL && path != NULL, NULL);
    json_t *meta = NULL;
    if (!mmx_model_load(model, path, NULL, &meta, error))
        return NULL;
    const char *spec_name = json_string_value(json_object_get(meta, "spec_name"));
    g_autoptr(json_t) head = json_pack("{s:s, s:s?}", "weights", path, "spec_name", spec_name);
    json_decref(meta);
    json_t *doc = mmx_analyze_model(model, path, error);
    if (doc == NULL)
        return NULL;
    /* The weights and spec name first, as the document always listed them. */
    json_object_update(head, doc);
    json_decref(doc);
    return g_steal_pointer(&head);
}
