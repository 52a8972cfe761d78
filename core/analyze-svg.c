/* analyze-svg.c: the plots of mmx analyze (mmx-analyze.h), with the kit of core/svg.c.
 *
 * spectra.svg: every matrix's singular values s_i / s_1 against the rank i on a log axis,
 * one line per matrix, so matrices of different sizes share the plot and a heavy tail
 * shows as a slow decay. symmetry.svg: cos(V, K^T) against the epoch, one line per mixer
 * of a run, or one line per trial of a sweep (the mean over its mixers).
 */
#include "svg-private.h"

#include <mmx/mmx-analyze.h>

#include <math.h>
#include <string.h>

static const char *
color_of(size_t i)
{
    return mmx__svg_palette[i % G_N_ELEMENTS(mmx__svg_palette)];
}

/* Dashed lines for the second round of the palette, so that 20 lines stay apart. */
static const char *
dash_of(size_t i)
{
    return (i / G_N_ELEMENTS(mmx__svg_palette)) % 2 ? " stroke-dasharray=\"5,3\"" : "";
}

static void
legend_entry(mmx__plot *p, int k, const char *color, const char *dash, const char *label)
{
    double x = p->left + p->pw + 16, y = p->top + 6 + k * 16;
    g_string_append_printf(p->s,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                           "stroke-width=\"2\"%s/>\n",
                           x, y + 5, x + 16, y + 5, color, dash);
    g_autofree char *l = g_strdup_printf("%.44s%s", label, strlen(label) > 44 ? "…" : "");
    mmx__svg_text(p, x + 20, y + 9, "start", 11, NULL, l);
}

/* dash: "" or a stroke-dasharray attribute. */
static void
polyline(mmx__plot *p, const double *x, const double *y, int n, const char *color, const char *dash,
         bool dots)
{
    GString *line = g_string_new(NULL);
    for (int i = 0; i < n; i++)
        if (isfinite(y[i]))
            g_string_append_printf(line, "%.1f,%.1f ", mmx__svg_px(p, x[i]), mmx__svg_py(p, y[i]));
    g_string_append_printf(
        p->s, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s/>\n",
        line->str, color, dash);
    g_string_free(line, TRUE);
    for (int i = 0; dots && i < n; i++)
        if (isfinite(y[i]))
            g_string_append_printf(p->s,
                                   "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                                   mmx__svg_px(p, x[i]), mmx__svg_py(p, y[i]), color);
}

static bool
spectra_svg(json_t *ck, const char *title, const char *path, GError **error)
{
    mmx__plot p = {0};
    json_t *spectra = json_object_get(ck, "spectra");
    double height = MAX(480, 110 + 16 * (double)json_array_size(spectra));
    mmx__svg_begin(&p, 900, height, 80, 300, title);
    int64_t longest = 1;
    size_t i;
    json_t *rec;
    json_array_foreach(spectra, i, rec) longest =
        MAX(longest, (int64_t)json_array_size(json_object_get(rec, "singular_values")));
    p.logx = true;
    p.x0 = 1;
    p.x1 = (double)MAX(longest, 2);
    p.y0 = 0;
    p.y1 = 1;
    mmx__svg_pad_range(&p.x0, &p.x1, true);
    mmx__svg_pad_range(&p.y0, &p.y1, false);
    mmx__svg_axes(&p, "rank i (log)", "singular value s_i / s_1", false);
    json_array_foreach(spectra, i, rec)
    {
        json_t *sv = json_object_get(rec, "singular_values");
        int n = (int)json_array_size(sv);
        double top = json_number_value(json_array_get(sv, 0));
        g_autofree double *x = g_new(double, MAX(n, 1)), *y = g_new(double, MAX(n, 1));
        for (int k = 0; k < n; k++) {
            x[k] = k + 1;
            y[k] = top > 0 ? json_number_value(json_array_get(sv, k)) / top : NAN;
        }
        polyline(&p, x, y, n, color_of(i), dash_of(i), false);
        json_t *pl = json_object_get(rec, "power_law");
        g_autofree char *label =
            json_is_object(pl) ? g_strdup_printf("%s (alpha %.2f)",
                                                 json_string_value(json_object_get(rec, "node")),
                                                 json_number_value(json_object_get(pl, "alpha")))
                               : g_strdup(json_string_value(json_object_get(rec, "node")));
        legend_entry(&p, (int)i, color_of(i), dash_of(i), label);
    }
    return mmx__svg_end(&p, path, error);
}

/* A series per line: label, epochs and values. */
typedef struct curve {
    char *label;
    GArray *x, *y; /* double */
} curve;

static void
curve_free(gpointer c)
{
    curve *k = c;
    g_free(k->label);
    g_array_unref(k->x);
    g_array_unref(k->y);
    g_free(k);
}

static curve *
curve_new(const char *label)
{
    curve *c = g_new0(curve, 1);
    c->label = g_strdup(label);
    c->x = g_array_new(FALSE, FALSE, sizeof(double));
    c->y = g_array_new(FALSE, FALSE, sizeof(double));
    return c;
}

static void
curve_add(curve *c, double x, double y)
{
    g_array_append_val(c->x, x);
    g_array_append_val(c->y, y);
}

static bool
curves_svg(GPtrArray *curves, const char *title, const char *ylabel, const char *path,
           GError **error)
{
    mmx__plot p = {0};
    mmx__svg_begin(&p, 900, MAX(480, 110 + 16 * (double)curves->len), 80, 300, title);
    double x1 = 1, lo = INFINITY, hi = -INFINITY;
    for (guint i = 0; i < curves->len; i++) {
        curve *c = g_ptr_array_index(curves, i);
        for (guint k = 0; k < c->x->len; k++) {
            x1 = fmax(x1, g_array_index(c->x, double, k));
            double y = g_array_index(c->y, double, k);
            if (isfinite(y)) {
                lo = fmin(lo, y);
                hi = fmax(hi, y);
            }
        }
    }
    p.x0 = 0;
    p.x1 = x1;
    p.y0 = isfinite(lo) ? fmin(lo, 0) : 0;
    p.y1 = isfinite(hi) ? fmax(hi, 0) : 1;
    mmx__svg_pad_range(&p.y0, &p.y1, false);
    mmx__svg_axes(&p, "epoch (0: initialization)", ylabel, true);
    if (!isfinite(lo))
        mmx__svg_no_data(&p, "no mixer with a square coupling");
    for (guint i = 0; i < curves->len; i++) {
        curve *c = g_ptr_array_index(curves, i);
        polyline(&p, (double *)c->x->data, (double *)c->y->data, (int)c->x->len, color_of(i),
                 dash_of(i), true);
        legend_entry(&p, (int)i, color_of(i), dash_of(i), c->label);
    }
    return mmx__svg_end(&p, path, error);
}

static double
num_or_nan(json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* cos(V, K^T) per mixer over a run's checkpoints. */
static GPtrArray *
run_curves(json_t *run)
{
    GPtrArray *curves = g_ptr_array_new_with_free_func(curve_free);
    size_t i;
    json_t *ser;
    json_array_foreach(json_object_get(run, "series"), i, ser)
    {
        g_autofree char *label =
            g_strdup_printf("%s (%s%s)", json_string_value(json_object_get(ser, "mixer")),
                            json_string_value(json_object_get(ser, "axis")),
                            json_is_true(json_object_get(ser, "tied")) ? ", tied" : "");
        curve *c = curve_new(label);
        json_t *ep = json_object_get(ser, "epoch"), *cos = json_object_get(ser, "cosine");
        for (size_t k = 0; k < json_array_size(ep); k++)
            curve_add(c, (double)json_integer_value(json_array_get(ep, k)),
                      num_or_nan(json_array_get(cos, k)));
        g_ptr_array_add(curves, c);
    }
    return curves;
}

static bool
add_file(GPtrArray *files, const char *path)
{
    if (files)
        g_ptr_array_add(files, g_strdup(path));
    return true;
}

static bool
run_svg(json_t *run, const char *dir, const char *prefix, GPtrArray *files, GError **error)
{
    json_t *cks = json_object_get(run, "checkpoints");
    json_t *last = json_array_get(cks, json_array_size(cks) - 1);
    g_autofree char *sname =
        g_strdup_printf("spectra%s%s.svg", prefix ? "-" : "", prefix ? prefix : "");
    g_autofree char *spath = g_build_filename(dir, sname, NULL);
    g_autofree char *stitle = g_strdup_printf("%s, epoch %" JSON_INTEGER_FORMAT ": singular values",
                                              json_string_value(json_object_get(run, "spec_name")),
                                              json_integer_value(json_object_get(last, "epoch")));
    if (!spectra_svg(last, stitle, spath, error) || !add_file(files, spath))
        return false;
    if (prefix)
        return true; /* a sweep plots the symmetry of all trials together */
    g_autoptr(GPtrArray) curves = run_curves(run);
    g_autofree char *ypath = g_build_filename(dir, "symmetry.svg", NULL);
    g_autofree char *ytitle = g_strdup_printf("%s: symmetry over training",
                                              json_string_value(json_object_get(run, "spec_name")));
    return curves_svg(curves, ytitle, "cos(V, K^T)", ypath, error) && add_file(files, ypath);
}

bool
mmx_analyze_write_svg(json_t *doc, const char *dir, GPtrArray **files, GError **error)
{
    g_return_val_if_fail(doc != NULL && dir != NULL, false);
    if (!mmx_mkdir_p(dir, error))
        return false;
    g_autoptr(GPtrArray) written = g_ptr_array_new_with_free_func(g_free);
    bool ok;
    if (json_object_get(doc, "sweep")) {
        g_autoptr(GPtrArray) curves = g_ptr_array_new_with_free_func(curve_free);
        size_t i;
        json_t *t;
        ok = true;
        json_array_foreach(json_object_get(doc, "trials"), i, t)
        {
            const char *id = json_string_value(json_object_get(t, "trial"));
            json_t *run = json_object_get(t, "analysis");
            ok = ok && run_svg(run, dir, id, written, error);
            curve *c = curve_new(id);
            size_t k;
            json_t *ck;
            json_array_foreach(json_object_get(run, "checkpoints"), k, ck)
                curve_add(c, (double)json_integer_value(json_object_get(ck, "epoch")),
                          num_or_nan(json_object_get(ck, "mean_cosine")));
            g_ptr_array_add(curves, c);
        }
        g_autofree char *ypath = g_build_filename(dir, "symmetry.svg", NULL);
        g_autofree char *title = g_strdup_printf("%s: symmetry over training per trial",
                                                 json_string_value(json_object_get(doc, "sweep")));
        ok = ok && curves_svg(curves, title, "mean cos(V, K^T) over the mixers", ypath, error) &&
             add_file(written, ypath);
    } else if (json_object_get(doc, "run")) {
        ok = run_svg(doc, dir, NULL, written, error);
    } else {
        g_autofree char *path = g_build_filename(dir, "spectra.svg", NULL);
        g_autofree char *title = g_strdup_printf(
            "%s: singular values", json_string_value(json_object_get(doc, "weights")));
        ok = spectra_svg(doc, title, path, error) && add_file(written, path);
    }
    if (ok && files)
        *files = g_steal_pointer(&written);
    return ok;
}
