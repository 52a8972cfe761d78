/* svg.c: a tiny SVG plotting kit for mmx's own plots (svg-private.h): `mmx report`'s
 * (report-svg.c) and `mmx analyze`'s (analyze-report.c).
 *
 * A plot area with linear or log x axes, "nice" ticks at 1-2-5 steps, labels, over a
 * GString; text is XML-escaped; every file is a standalone SVG 1.1 document with a white
 * background, readable in a browser and by rsvg-convert. Colors: the Tableau 10 palette.
 */
#include "svg-private.h"

#include <math.h>
#include <string.h>

const char *const mmx__svg_palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};


void
mmx__svg_xml_text(GString *s, const char *text)
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

void
mmx__svg_text(mmx__plot *p, double x, double y, const char *anchor, int size, const char *extra,
        const char *text)
{
    g_string_append_printf(p->s,
                           "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s%s>",
                           x, y, anchor, size, extra ? " " : "", extra ? extra : "");
    mmx__svg_xml_text(p->s, text);
    g_string_append(p->s, "</text>\n");
}

double
mmx__svg_px(const mmx__plot *p, double x)
{
    double a = p->logx ? log10(p->x0) : p->x0, b = p->logx ? log10(p->x1) : p->x1;
    double v = p->logx ? log10(x) : x;
    return p->left + (b > a ? (v - a) / (b - a) : 0.5) * p->pw;
}

double
mmx__svg_py(const mmx__plot *p, double y)
{
    return p->top + p->ph - (p->y1 > p->y0 ? (y - p->y0) / (p->y1 - p->y0) : 0.5) * p->ph;
}

void
mmx__svg_begin(mmx__plot *p, double w, double h, double left, double right, const char *title)
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
    mmx__svg_text(p, w / 2, 28, "middle", 16, "font-weight=\"bold\"", title);
}

/* Expands [lo, hi] a little and to a non-empty range. */
void
mmx__svg_pad_range(double *lo, double *hi, bool log)
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

double
mmx__svg_nice_step(double span, int target)
{
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

char *
mmx__svg_tick_label(double v, double step)
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

void
mmx__svg_axes(mmx__plot *p, const char *xlabel, const char *ylabel, bool xticks_integer)
{
    GString *s = p->s;
    /* Grid and ticks: y */
    double ys = mmx__svg_nice_step(p->y1 - p->y0, 6);
    for (double v = ceil(p->y0 / ys) * ys; v <= p->y1 + ys * 1e-9; v += ys) {
        double y = mmx__svg_py(p, v);
        g_string_append_printf(s,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#e0e0e0\"/>\n",
                               p->left, y, p->left + p->pw, y);
        g_autofree char *l = mmx__svg_tick_label(fabs(v) < ys * 1e-9 ? 0 : v, ys);
        mmx__svg_text(p, p->left - 8, y + 4, "end", 12, NULL, l);
    }
    /* x */
    if (p->logx) {
        for (int e = (int)floor(log10(p->x0)); e <= (int)ceil(log10(p->x1)); e++) {
            for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
                double v = m * pow(10, e);
                if (v < p->x0 || v > p->x1)
                    continue;
                double x = mmx__svg_px(p, v);
                g_string_append_printf(s,
                                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                       "stroke=\"#e0e0e0\"/>\n",
                                       x, p->top, x, p->top + p->ph);
                g_autofree char *l = mmx__svg_tick_label(v, v);
                mmx__svg_text(p, x, p->top + p->ph + 18, "middle", 12, NULL, l);
            }
        }
    } else {
        double xs = mmx__svg_nice_step(p->x1 - p->x0, 7);
        if (xticks_integer && xs < 1)
            xs = 1;
        for (double v = ceil(p->x0 / xs) * xs; v <= p->x1 + xs * 1e-9; v += xs) {
            double x = mmx__svg_px(p, v);
            g_string_append_printf(s,
                                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                   "stroke=\"#e0e0e0\"/>\n",
                                   x, p->top, x, p->top + p->ph);
            g_autofree char *l = mmx__svg_tick_label(fabs(v) < xs * 1e-9 ? 0 : v, xs);
            mmx__svg_text(p, x, p->top + p->ph + 18, "middle", 12, NULL, l);
        }
    }
    g_string_append_printf(s,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                           "fill=\"none\" stroke=\"#333\"/>\n",
                           p->left, p->top, p->pw, p->ph);
    mmx__svg_text(p, p->left + p->pw / 2, p->top + p->ph + 42, "middle", 13, NULL, xlabel);
    g_autofree char *rot =
        g_strdup_printf("transform=\"rotate(-90 %.1f %.1f)\"", p->left - 50, p->top + p->ph / 2);
    mmx__svg_text(p, p->left - 50, p->top + p->ph / 2, "middle", 13, rot, ylabel);
}

void
mmx__svg_no_data(mmx__plot *p, const char *why)
{
    mmx__svg_text(p, p->left + p->pw / 2, p->top + p->ph / 2, "middle", 14, "fill=\"#777\"", why);
}

bool
mmx__svg_end(mmx__plot *p, const char *path, GError **error)
{
    g_string_append(p->s, "</svg>\n");
    bool ok = mmx_file_write_atomic(path, p->s->str, p->s->len, error);
    g_string_free(p->s, TRUE);
    return ok;
}
