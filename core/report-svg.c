/* report-svg.c: the plots of `mmx report`, written as SVG by mmx itself.
 *
 * Four plots of the sweep's metric (test accuracy in percent, or validation bits per byte
 * for language models: report-private.h): learning curves (the metric per epoch: the mean
 * over seeds as a line, the min-max over seeds as a band), the metric vs FLOPs and vs
 * params (mean +- std over seeds, the Pareto front as a dashed step line: no other variant
 * is both cheaper and better), and a forest plot of the deltas vs the baseline with their
 * 95% confidence intervals.
 * The plotting kit (axes, ticks, text, files) is core/svg.c's; the legend of variants is
 * here.
 */
#include "report-private.h"
#include "svg-private.h"

#include <math.h>
#include <string.h>

static void
legend(mmx__plot *p, const mmx_report *r, bool (*include)(const mmx__variant *))
{
    double x = p->left + p->pw + 16, y = p->top + 6;
    int k = 0;
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        if (!include(v))
            continue;
        g_string_append_printf(p->s,
                               "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" "
                               "fill=\"%s\"/>\n",
                               x, y + k * 18, mmx__svg_palette[i % G_N_ELEMENTS(mmx__svg_palette)]);
        g_autofree char *l =
            g_strdup_printf("%.34s%s%s", v->label, strlen(v->label) > 34 ? "…" : "",
                            v->baseline && strcmp(v->label, "baseline") != 0 ? " (baseline)" : "");
        mmx__svg_text(p, x + 20, y + k * 18 + 9, "start", 12, NULL, l);
        k++;
    }
}

/* ---- learning curves ---- */

static bool
has_curve(const mmx__variant *v)
{
    return v->epochs > 0;
}

bool
mmx__svg_curves(const mmx_report *r, const char *path, GError **error)
{
    mmx__plot p = {0};
    const double S = r->metric->scale;
    g_autofree char *title = g_strdup_printf("%s: %s per epoch", r->name, r->metric->name);
    mmx__svg_begin(&p, 860, 480, 80, 260, title);
    int epochs = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        epochs = MAX(epochs, v->epochs);
        for (int e = 0; e < v->epochs; e++) {
            lo = fmin(lo, S * g_array_index(v->c_min, double, e));
            hi = fmax(hi, S * g_array_index(v->c_max, double, e));
        }
    }
    if (epochs == 0) {
        p.x0 = 1, p.x1 = 2, p.y0 = 0, p.y1 = S;
        mmx__svg_axes(&p, "epoch", r->metric->axis, true);
        mmx__svg_no_data(&p, "no finished trial with metrics");
        return mmx__svg_end(&p, path, error);
    }
    p.x0 = 1;
    p.x1 = epochs > 1 ? epochs : 2;
    p.y0 = lo;
    p.y1 = hi;
    mmx__svg_pad_range(&p.y0, &p.y1, false);
    g_autofree char *ylabel = g_strdup_printf("%s: mean over seeds, band min-max", r->metric->axis);
    mmx__svg_axes(&p, "epoch", ylabel, true);
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        const char *color = mmx__svg_palette[i % G_N_ELEMENTS(mmx__svg_palette)];
        if (v->epochs == 0)
            continue;
        GString *band = g_string_new(NULL);
        for (int e = 0; e < v->epochs; e++)
            g_string_append_printf(band, "%.1f,%.1f ", mmx__svg_px(&p, e + 1),
                                   mmx__svg_py(&p, S * g_array_index(v->c_max, double, e)));
        for (int e = v->epochs - 1; e >= 0; e--)
            g_string_append_printf(band, "%.1f,%.1f ", mmx__svg_px(&p, e + 1),
                                   mmx__svg_py(&p, S * g_array_index(v->c_min, double, e)));
        g_string_append_printf(p.s,
                               "<polygon points=\"%s\" fill=\"%s\" fill-opacity=\"0.15\" "
                               "stroke=\"none\"/>\n",
                               band->str, color);
        g_string_free(band, TRUE);
        GString *line = g_string_new(NULL);
        for (int e = 0; e < v->epochs; e++)
            g_string_append_printf(line, "%.1f,%.1f ", mmx__svg_px(&p, e + 1),
                                   mmx__svg_py(&p, S * g_array_index(v->c_mean, double, e)));
        g_string_append_printf(p.s,
                               "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                               "stroke-width=\"%s\"/>\n",
                               line->str, color, v->baseline ? "3" : "2");
        g_string_free(line, TRUE);
        for (int e = 0; e < v->epochs; e++)
            g_string_append_printf(p.s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                                   mmx__svg_px(&p, e + 1), mmx__svg_py(&p, S * g_array_index(v->c_mean, double, e)),
                                   color);
    }
    legend(&p, r, has_curve);
    return mmx__svg_end(&p, path, error);
}

/* ---- accuracy vs cost, with the Pareto front ---- */

static bool
has_flops_point(const mmx__variant *v)
{
    return v->finished > 0 && v->has_flops && v->flops > 0;
}

static bool
has_params_point(const mmx__variant *v)
{
    return v->finished > 0 && v->has_params && v->params > 0;
}

typedef struct point {
    double x, y;
} point;

static gint
by_x(gconstpointer a, gconstpointer b)
{
    const point *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return p->y > q->y ? -1 : p->y < q->y;
}

bool
mmx__svg_scatter(const mmx_report *r, const char *path, bool flops, GError **error)
{
    mmx__plot p = {0};
    g_autofree char *per = g_strdup_printf("FLOPs per %s", r->metric->sample);
    const char *what = flops ? per : "parameters";
    const double S = r->metric->scale;
    /* Up is better on the plot's own terms: the front keeps the best of each cost. */
    const double better = r->metric->higher_better ? 1 : -1;
    g_autofree char *title = g_strdup_printf("%s: %s vs %s", r->name, r->metric->name, what);
    mmx__svg_begin(&p, 860, 480, 80, 260, title);
    bool (*has)(const mmx__variant *) = flops ? has_flops_point : has_params_point;
    g_autoptr(GArray) pts = g_array_new(FALSE, FALSE, sizeof(point));
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        if (!has(v))
            continue;
        point q = {flops ? v->flops : (double)v->params, S * v->acc_mean};
        g_array_append_val(pts, q);
        xlo = fmin(xlo, q.x);
        xhi = fmax(xhi, q.x);
        ylo = fmin(ylo, q.y - S * v->acc_std);
        yhi = fmax(yhi, q.y + S * v->acc_std);
    }
    g_autofree char *xlabel =
        g_strdup_printf("%s%s", what, flops ? " (forward, multiply-add = 2)" : "");
    if (pts->len == 0) {
        p.x0 = 0, p.x1 = 1, p.y0 = 0, p.y1 = S;
        mmx__svg_axes(&p, xlabel, r->metric->axis, false);
        mmx__svg_no_data(&p, flops ? "no FLOPs recorded" : "no parameter counts recorded");
        return mmx__svg_end(&p, path, error);
    }
    p.logx = xhi / xlo > 20;
    p.x0 = xlo;
    p.x1 = xhi;
    mmx__svg_pad_range(&p.x0, &p.x1, p.logx);
    if (!p.logx && p.x0 < 0 && xlo >= 0)
        p.x0 = 0;
    p.y0 = ylo;
    p.y1 = yhi;
    mmx__svg_pad_range(&p.y0, &p.y1, false);
    g_autofree char *xl = g_strdup_printf("%s%s", xlabel, p.logx ? ", log scale" : "");
    g_autofree char *yl = g_strdup_printf("%s: mean ± std over seeds", r->metric->axis);
    mmx__svg_axes(&p, xl, yl, false);

    /* The Pareto front: sorted by cost, each point better than every cheaper one. */
    g_array_sort(pts, by_x);
    GString *front = g_string_new(NULL);
    double best = -INFINITY; /* in better units */
    for (guint i = 0; i < pts->len; i++) {
        point q = g_array_index(pts, point, i);
        if (better * q.y <= best)
            continue;
        if (front->len)
            g_string_append_printf(front, "%.1f,%.1f ", mmx__svg_px(&p, q.x),
                                   mmx__svg_py(&p, better * best));
        g_string_append_printf(front, "%.1f,%.1f ", mmx__svg_px(&p, q.x), mmx__svg_py(&p, q.y));
        best = better * q.y;
    }
    /* The front holds to the right edge: nothing past the last point beats it. */
    g_string_append_printf(front, "%.1f,%.1f", p.left + p.pw, mmx__svg_py(&p, better * best));
    g_string_append_printf(p.s,
                           "<polyline points=\"%s\" fill=\"none\" stroke=\"#444\" "
                           "stroke-width=\"1.5\" stroke-dasharray=\"6,4\"/>\n",
                           front->str);
    g_string_free(front, TRUE);
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        if (!has(v))
            continue;
        const char *color = mmx__svg_palette[i % G_N_ELEMENTS(mmx__svg_palette)];
        double x = mmx__svg_px(&p, flops ? v->flops : (double)v->params);
        double y = mmx__svg_py(&p, S * v->acc_mean);
        double e0 = mmx__svg_py(&p, S * (v->acc_mean - v->acc_std));
        double e1 = mmx__svg_py(&p, S * (v->acc_mean + v->acc_std));
        g_string_append_printf(p.s,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"%s\" stroke-width=\"1.5\"/>\n",
                               x, e0, x, e1, color);
        g_string_append_printf(p.s,
                               "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\" "
                               "stroke=\"#222\"/>\n",
                               x, y, v->baseline ? 7 : 5, color);
    }
    mmx__svg_text(&p, p.left + p.pw - 6, p.top + p.ph - 8, "end", 11, "fill=\"#444\"",
            "dashed: Pareto front");
    legend(&p, r, has);
    return mmx__svg_end(&p, path, error);
}

/* ---- forest plot of the deltas ---- */

static bool
has_delta(const mmx__variant *v)
{
    return !v->baseline && v->pairs > 0;
}

bool
mmx__svg_forest(const mmx_report *r, const char *path, GError **error)
{
    int rows = 0;
    double lo = 0, hi = 0;
    const double S = r->metric->scale;
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        if (!has_delta(v))
            continue;
        rows++;
        lo = fmin(lo, S * (v->pairs >= 2 ? v->d_lo : v->d_mean));
        hi = fmax(hi, S * (v->pairs >= 2 ? v->d_hi : v->d_mean));
    }
    mmx__plot p = {0};
    g_autofree char *title =
        g_strdup_printf("%s: Δ %s vs %s (95%% CI, paired by seed)", r->name, r->metric->name,
                        r->baseline ? r->baseline->label : "the baseline");
    double h = 140 + 28.0 * (rows ? rows : 1);
    mmx__svg_begin(&p, 860, h, 300, 40, title);
    p.x0 = lo;
    p.x1 = hi;
    mmx__svg_pad_range(&p.x0, &p.x1, false);
    p.y0 = 0;
    p.y1 = rows ? rows : 1;
    /* No horizontal grid: rows are categories. Axes by hand. */
    double xs = mmx__svg_nice_step(p.x1 - p.x0, 7);
    for (double v = ceil(p.x0 / xs) * xs; v <= p.x1 + xs * 1e-9; v += xs) {
        double x = mmx__svg_px(&p, v);
        g_string_append_printf(p.s,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#e0e0e0\"/>\n",
                               x, p.top, x, p.top + p.ph);
        g_autofree char *l = mmx__svg_tick_label(fabs(v) < xs * 1e-9 ? 0 : v, xs);
        mmx__svg_text(&p, x, p.top + p.ph + 18, "middle", 12, NULL, l);
    }
    g_string_append_printf(p.s,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                           "fill=\"none\" stroke=\"#333\"/>\n",
                           p.left, p.top, p.pw, p.ph);
    double zx = mmx__svg_px(&p, 0);
    g_string_append_printf(p.s,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" "
                           "stroke-dasharray=\"4,3\"/>\n",
                           zx, p.top, zx, p.top + p.ph);
    g_autofree char *xaxis =
        g_strdup_printf("%s; whiskers: 95%% CI, Student's t", r->metric->delta_axis);
    mmx__svg_text(&p, p.left + p.pw / 2, p.top + p.ph + 42, "middle", 13, NULL, xaxis);
    if (rows == 0)
        mmx__svg_no_data(&p, "no variant shares a finished seed with the baseline");
    int k = 0;
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        if (!has_delta(v))
            continue;
        const char *color = mmx__svg_palette[i % G_N_ELEMENTS(mmx__svg_palette)];
        double y = mmx__svg_py(&p, rows - k - 0.5);
        if (v->pairs >= 2)
            g_string_append_printf(p.s,
                                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                   "stroke=\"%s\" stroke-width=\"2\"/>\n",
                                   mmx__svg_px(&p, S * v->d_lo), y, mmx__svg_px(&p, S * v->d_hi), y, color);
        g_string_append_printf(p.s,
                               "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" "
                               "fill=\"%s\" stroke=\"#222\"/>\n",
                               mmx__svg_px(&p, S * v->d_mean) - 5, y - 5, color);
        g_autofree char *l =
            g_strdup_printf("%.36s%s (n=%d)", v->label, strlen(v->label) > 36 ? "…" : "", v->pairs);
        mmx__svg_text(&p, p.left - 10, y + 4, "end", 12, NULL, l);
        k++;
    }
    return mmx__svg_end(&p, path, error);
}
