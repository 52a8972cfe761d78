/* report-svg.c: the plots of `mmx report`, written as SVG by mmx itself.
 *
 * Four plots of the sweep's metric (test accuracy in percent, or validation bits per byte
 * for language models: report-private.h): learning curves (the metric per epoch: the mean
 * over seeds as a line, the min-max over seeds as a band), the metric vs FLOPs and vs
 * params (mean +- std over seeds, the Pareto front as a dashed step line: no other variant
 * is both cheaper and better), and a forest plot of the deltas vs the baseline with their
 * 95% confidence intervals.
 *
 * Design: a tiny plotting kit (a plot area with linear or log axes, "nice" ticks at
 * 1-2-5 steps, labels, a legend) over a GString; text is XML-escaped; every file is a
 * standalone SVG 1.1 document with a white background, readable in a browser and by
 * rsvg-convert. Colors: the Tableau 10 palette, cycling.
 */
#include "report-private.h"

#include <math.h>
#include <string.h>

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

typedef struct plot {
    GString *s;
    double w, h;              /* document */
    double left, top, pw, ph; /* plot area */
    double x0, x1, y0, y1;    /* data ranges */
    bool logx;
} plot;

static void
xml_text(GString *s, const char *text)
{
    for (const char *c = text; *c; c++) {
        switch (*c) {
        case '&':
            g_string_append(s, "&amp;");
            break;
        case '<':
            g_string_append(s, "&lt;");
            break;
        case '>':
            g_string_append(s, "&gt;");
            break;
        case '"':
            g_string_append(s, "&quot;");
            break;
        default:
            g_string_append_c(s, *c);
        }
    }
}

static void
text_at(plot *p, double x, double y, const char *anchor, int size, const char *extra,
        const char *text)
{
    g_string_append_printf(p->s,
                           "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s%s>",
                           x, y, anchor, size, extra ? " " : "", extra ? extra : "");
    xml_text(p->s, text);
    g_string_append(p->s, "</text>\n");
}

static double
px(const plot *p, double x)
{
    double a = p->logx ? log10(p->x0) : p->x0, b = p->logx ? log10(p->x1) : p->x1;
    double v = p->logx ? log10(x) : x;
    return p->left + (b > a ? (v - a) / (b - a) : 0.5) * p->pw;
}

static double
py(const plot *p, double y)
{
    return p->top + p->ph - (p->y1 > p->y0 ? (y - p->y0) / (p->y1 - p->y0) : 0.5) * p->ph;
}

static void
plot_begin(plot *p, double w, double h, double left, double right, const char *title)
{
    p->s = g_string_new(NULL);
    p->w = w;
    p->h = h;
    p->left = left;
    p->top = 50;
    p->pw = w - left - right;
    p->ph = h - p->top - 60;
    g_string_append_printf(
        p->s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
        "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
        "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n",
        w, h, w, h, w, h);
    text_at(p, w / 2, 28, "middle", 16, "font-weight=\"bold\"", title);
}

/* Expands [lo, hi] a little and to a non-empty range. */
static void
pad_range(double *lo, double *hi, bool log)
{
    if (log) {
        if (*hi <= *lo) {
            *lo /= 2;
            *hi *= 2;
        } else {
            *lo /= 1.25;
            *hi *= 1.25;
        }
        return;
    }
    double span = *hi - *lo;
    if (span <= 0)
        span = fabs(*hi) > 0 ? fabs(*hi) * 0.1 : 1;
    *lo -= span * 0.08;
    *hi += span * 0.08;
}

static double
nice_step(double span, int target)
{
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static char *
tick_label(double v, double step)
{
    if (fabs(v) >= 1e4 || (fabs(v) < 1e-3 && v != 0)) {
        double a = fabs(v);
        if (a >= 1e9)
            return g_strdup_printf("%gG", v / 1e9);
        if (a >= 1e6)
            return g_strdup_printf("%gM", v / 1e6);
        if (a >= 1e3)
            return g_strdup_printf("%gk", v / 1e3);
        return g_strdup_printf("%.1e", v);
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    return g_strdup_printf("%.*f", dec, v);
}

static void
draw_axes(plot *p, const char *xlabel, const char *ylabel, bool xticks_integer)
{
    GString *s = p->s;
    /* Grid and ticks: y */
    double ys = nice_step(p->y1 - p->y0, 6);
    for (double v = ceil(p->y0 / ys) * ys; v <= p->y1 + ys * 1e-9; v += ys) {
        double y = py(p, v);
        g_string_append_printf(s,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#e0e0e0\"/>\n",
                               p->left, y, p->left + p->pw, y);
        g_autofree char *l = tick_label(fabs(v) < ys * 1e-9 ? 0 : v, ys);
        text_at(p, p->left - 8, y + 4, "end", 12, NULL, l);
    }
    /* x */
    if (p->logx) {
        for (int e = (int)floor(log10(p->x0)); e <= (int)ceil(log10(p->x1)); e++) {
            for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
                double v = m * pow(10, e);
                if (v < p->x0 || v > p->x1)
                    continue;
                double x = px(p, v);
                g_string_append_printf(s,
                                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                       "stroke=\"#e0e0e0\"/>\n",
                                       x, p->top, x, p->top + p->ph);
                g_autofree char *l = tick_label(v, v);
                text_at(p, x, p->top + p->ph + 18, "middle", 12, NULL, l);
            }
        }
    } else {
        double xs = nice_step(p->x1 - p->x0, 7);
        if (xticks_integer && xs < 1)
            xs = 1;
        for (double v = ceil(p->x0 / xs) * xs; v <= p->x1 + xs * 1e-9; v += xs) {
            double x = px(p, v);
            g_string_append_printf(s,
                                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                   "stroke=\"#e0e0e0\"/>\n",
                                   x, p->top, x, p->top + p->ph);
            g_autofree char *l = tick_label(fabs(v) < xs * 1e-9 ? 0 : v, xs);
            text_at(p, x, p->top + p->ph + 18, "middle", 12, NULL, l);
        }
    }
    g_string_append_printf(s,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                           "fill=\"none\" stroke=\"#333\"/>\n",
                           p->left, p->top, p->pw, p->ph);
    text_at(p, p->left + p->pw / 2, p->top + p->ph + 42, "middle", 13, NULL, xlabel);
    g_autofree char *rot =
        g_strdup_printf("transform=\"rotate(-90 %.1f %.1f)\"", p->left - 50, p->top + p->ph / 2);
    text_at(p, p->left - 50, p->top + p->ph / 2, "middle", 13, rot, ylabel);
}

static void
legend(plot *p, const mmx_report *r, bool (*include)(const mmx__variant *))
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
                               x, y + k * 18, palette[i % G_N_ELEMENTS(palette)]);
        g_autofree char *l =
            g_strdup_printf("%.34s%s%s", v->label, strlen(v->label) > 34 ? "…" : "",
                            v->baseline && strcmp(v->label, "baseline") != 0 ? " (baseline)" : "");
        text_at(p, x + 20, y + k * 18 + 9, "start", 12, NULL, l);
        k++;
    }
}

static void
no_data(plot *p, const char *why)
{
    text_at(p, p->left + p->pw / 2, p->top + p->ph / 2, "middle", 14, "fill=\"#777\"", why);
}

static bool
plot_end(plot *p, const char *path, GError **error)
{
    g_string_append(p->s, "</svg>\n");
    bool ok = mmx_file_write_atomic(path, p->s->str, p->s->len, error);
    g_string_free(p->s, TRUE);
    return ok;
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
    plot p = {0};
    const double S = r->metric->scale;
    g_autofree char *title = g_strdup_printf("%s: %s per epoch", r->name, r->metric->name);
    plot_begin(&p, 860, 480, 80, 260, title);
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
        draw_axes(&p, "epoch", r->metric->axis, true);
        no_data(&p, "no finished trial with metrics");
        return plot_end(&p, path, error);
    }
    p.x0 = 1;
    p.x1 = epochs > 1 ? epochs : 2;
    p.y0 = lo;
    p.y1 = hi;
    pad_range(&p.y0, &p.y1, false);
    g_autofree char *ylabel = g_strdup_printf("%s: mean over seeds, band min-max", r->metric->axis);
    draw_axes(&p, "epoch", ylabel, true);
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        const char *color = palette[i % G_N_ELEMENTS(palette)];
        if (v->epochs == 0)
            continue;
        GString *band = g_string_new(NULL);
        for (int e = 0; e < v->epochs; e++)
            g_string_append_printf(band, "%.1f,%.1f ", px(&p, e + 1),
                                   py(&p, S * g_array_index(v->c_max, double, e)));
        for (int e = v->epochs - 1; e >= 0; e--)
            g_string_append_printf(band, "%.1f,%.1f ", px(&p, e + 1),
                                   py(&p, S * g_array_index(v->c_min, double, e)));
        g_string_append_printf(p.s,
                               "<polygon points=\"%s\" fill=\"%s\" fill-opacity=\"0.15\" "
                               "stroke=\"none\"/>\n",
                               band->str, color);
        g_string_free(band, TRUE);
        GString *line = g_string_new(NULL);
        for (int e = 0; e < v->epochs; e++)
            g_string_append_printf(line, "%.1f,%.1f ", px(&p, e + 1),
                                   py(&p, S * g_array_index(v->c_mean, double, e)));
        g_string_append_printf(p.s,
                               "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                               "stroke-width=\"%s\"/>\n",
                               line->str, color, v->baseline ? "3" : "2");
        g_string_free(line, TRUE);
        for (int e = 0; e < v->epochs; e++)
            g_string_append_printf(p.s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                                   px(&p, e + 1), py(&p, S * g_array_index(v->c_mean, double, e)),
                                   color);
    }
    legend(&p, r, has_curve);
    return plot_end(&p, path, error);
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
    plot p = {0};
    bool lm = !r->metric->higher_better; /* bits per byte: the samples are text windows */
    const char *what = flops ? (lm ? "FLOPs per window" : "FLOPs per image") : "parameters";
    const double S = r->metric->scale;
    /* Up is better on the plot's own terms: the front keeps the best of each cost. */
    const double better = r->metric->higher_better ? 1 : -1;
    g_autofree char *title = g_strdup_printf("%s: %s vs %s", r->name, r->metric->name, what);
    plot_begin(&p, 860, 480, 80, 260, title);
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
        draw_axes(&p, xlabel, r->metric->axis, false);
        no_data(&p, flops ? "no FLOPs recorded" : "no parameter counts recorded");
        return plot_end(&p, path, error);
    }
    p.logx = xhi / xlo > 20;
    p.x0 = xlo;
    p.x1 = xhi;
    pad_range(&p.x0, &p.x1, p.logx);
    if (!p.logx && p.x0 < 0 && xlo >= 0)
        p.x0 = 0;
    p.y0 = ylo;
    p.y1 = yhi;
    pad_range(&p.y0, &p.y1, false);
    g_autofree char *xl = g_strdup_printf("%s%s", xlabel, p.logx ? ", log scale" : "");
    g_autofree char *yl = g_strdup_printf("%s: mean ± std over seeds", r->metric->axis);
    draw_axes(&p, xl, yl, false);

    /* The Pareto front: sorted by cost, each point better than every cheaper one. */
    g_array_sort(pts, by_x);
    GString *front = g_string_new(NULL);
    double best = -INFINITY; /* in better units */
    for (guint i = 0; i < pts->len; i++) {
        point q = g_array_index(pts, point, i);
        if (better * q.y <= best)
            continue;
        if (front->len)
            g_string_append_printf(front, "%.1f,%.1f ", px(&p, q.x), py(&p, better * best));
        g_string_append_printf(front, "%.1f,%.1f ", px(&p, q.x), py(&p, q.y));
        best = better * q.y;
    }
    /* The front holds to the right edge: nothing past the last point beats it. */
    g_string_append_printf(front, "%.1f,%.1f", p.left + p.pw, py(&p, better * best));
    g_string_append_printf(p.s,
                           "<polyline points=\"%s\" fill=\"none\" stroke=\"#444\" "
                           "stroke-width=\"1.5\" stroke-dasharray=\"6,4\"/>\n",
                           front->str);
    g_string_free(front, TRUE);
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        if (!has(v))
            continue;
        const char *color = palette[i % G_N_ELEMENTS(palette)];
        double x = px(&p, flops ? v->flops : (double)v->params);
        double y = py(&p, S * v->acc_mean);
        double e0 = py(&p, S * (v->acc_mean - v->acc_std));
        double e1 = py(&p, S * (v->acc_mean + v->acc_std));
        g_string_append_printf(p.s,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"%s\" stroke-width=\"1.5\"/>\n",
                               x, e0, x, e1, color);
        g_string_append_printf(p.s,
                               "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\" "
                               "stroke=\"#222\"/>\n",
                               x, y, v->baseline ? 7 : 5, color);
    }
    text_at(&p, p.left + p.pw - 6, p.top + p.ph - 8, "end", 11, "fill=\"#444\"",
            "dashed: Pareto front");
    legend(&p, r, has);
    return plot_end(&p, path, error);
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
    plot p = {0};
    g_autofree char *title =
        g_strdup_printf("%s: Δ %s vs %s (95%% CI, paired by seed)", r->name, r->metric->name,
                        r->baseline ? r->baseline->label : "the baseline");
    double h = 140 + 28.0 * (rows ? rows : 1);
    plot_begin(&p, 860, h, 300, 40, title);
    p.x0 = lo;
    p.x1 = hi;
    pad_range(&p.x0, &p.x1, false);
    p.y0 = 0;
    p.y1 = rows ? rows : 1;
    /* No horizontal grid: rows are categories. Axes by hand. */
    double xs = nice_step(p.x1 - p.x0, 7);
    for (double v = ceil(p.x0 / xs) * xs; v <= p.x1 + xs * 1e-9; v += xs) {
        double x = px(&p, v);
        g_string_append_printf(p.s,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#e0e0e0\"/>\n",
                               x, p.top, x, p.top + p.ph);
        g_autofree char *l = tick_label(fabs(v) < xs * 1e-9 ? 0 : v, xs);
        text_at(&p, x, p.top + p.ph + 18, "middle", 12, NULL, l);
    }
    g_string_append_printf(p.s,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                           "fill=\"none\" stroke=\"#333\"/>\n",
                           p.left, p.top, p.pw, p.ph);
    double zx = px(&p, 0);
    g_string_append_printf(p.s,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" "
                           "stroke-dasharray=\"4,3\"/>\n",
                           zx, p.top, zx, p.top + p.ph);
    g_autofree char *xaxis =
        g_strdup_printf("%s; whiskers: 95%% CI, Student's t", r->metric->delta_axis);
    text_at(&p, p.left + p.pw / 2, p.top + p.ph + 42, "middle", 13, NULL, xaxis);
    if (rows == 0)
        no_data(&p, "no variant shares a finished seed with the baseline");
    int k = 0;
    for (guint i = 0; i < r->variants->len; i++) {
        const mmx__variant *v = g_ptr_array_index(r->variants, i);
        if (!has_delta(v))
            continue;
        const char *color = palette[i % G_N_ELEMENTS(palette)];
        double y = py(&p, rows - k - 0.5);
        if (v->pairs >= 2)
            g_string_append_printf(p.s,
                                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                   "stroke=\"%s\" stroke-width=\"2\"/>\n",
                                   px(&p, S * v->d_lo), y, px(&p, S * v->d_hi), y, color);
        g_string_append_printf(p.s,
                               "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" "
                               "fill=\"%s\" stroke=\"#222\"/>\n",
                               px(&p, S * v->d_mean) - 5, y - 5, color);
        g_autofree char *l =
            g_strdup_printf("%.36s%s (n=%d)", v->label, strlen(v->label) > 36 ? "…" : "", v->pairs);
        text_at(&p, p.left - 10, y + 4, "end", 12, NULL, l);
        k++;
    }
    return plot_end(&p, path, error);
}
