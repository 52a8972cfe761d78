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

/* A curve of the epochs ep and the values ys (arrays of the same length; null is a gap). */
static curve *
curve_of(const char *label, json_t *ep, json_t *ys)
{
    curve *c = curve_new(label);
    for (size_t k = 0; k < json_array_size(ep); k++)
        curve_add(c, (double)json_integer_value(json_array_get(ep, k)),
                  num_or_nan(json_array_get(ys, k)));
    return c;
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
        g_ptr_array_add(
            curves, curve_of(label, json_object_get(ser, "epoch"), json_object_get(ser, "cosine")));
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

bool
mmx_analyze_sweep_symmetry_svg(json_t *sweep, const char *path, GError **error)
{
    g_return_val_if_fail(sweep != NULL && path != NULL, false);
    g_autoptr(json_t) variants = mmx_analyze_sweep_series(sweep);
    g_autoptr(GPtrArray) curves = g_ptr_array_new_with_free_func(curve_free);
    size_t i;
    json_t *v;
    json_array_foreach(variants, i, v)
    {
        g_autofree char *label = g_strdup_printf("%s (%" JSON_INTEGER_FORMAT ")",
                                                 json_string_value(json_object_get(v, "variant")),
                                                 json_integer_value(json_object_get(v, "trials")));
        g_ptr_array_add(curves, curve_of(label, json_object_get(v, "epoch"),
                                         json_object_get(v, "mean_cosine")));
    }
    return curves_svg(curves, "symmetry over training by variant (trials)",
                      "mean cos(V, K^T) over mixers and trials", path, error);
}

/* ---- the key-value memory view ---- */

static int
by_usage(const void *a, const void *b, void *user)
{
    json_t *usage = user;
    double x = json_number_value(json_array_get(usage, (size_t) * (const int *)a));
    double y = json_number_value(json_array_get(usage, (size_t) * (const int *)b));
    return x < y ? 1 : x > y ? -1 : *(const int *)a - *(const int *)b;
}

/* Rows: the most used keys (at most 32); columns: each key's top-activating tokens, drawn
 * as the image around the token (one patch of context on each side) with the token's own
 * patch outlined. */
static bool
memory_svg(json_t *mixer, const mmx_dataset *ds, const char *path, GError **error)
{
    json_t *usage = json_object_get(mixer, "usage"), *top = json_object_get(mixer, "top");
    int nkeys = (int)json_array_size(usage), rows = MIN(nkeys, 32), ntop = 0;
    for (int j = 0; j < nkeys; j++)
        ntop = MAX(ntop, (int)json_array_size(json_array_get(top, (size_t)j)));
    json_t *grid = json_object_get(mixer, "grid"), *patch = json_object_get(mixer, "patch");
    int gw = (int)json_integer_value(json_array_get(grid, 1));
    int ph = (int)json_integer_value(json_array_get(patch, 0));
    int pw = (int)json_integer_value(json_array_get(patch, 1));
    int H = mmx_dataset_height(ds), W = mmx_dataset_width(ds), C = mmx_dataset_channels(ds);
    double scale = MAX(1.0, 16.0 / MAX(ph, pw)), cell = scale * 3 * MAX(ph, pw) + 8;
    g_autofree int *order = g_new(int, MAX(nkeys, 1));
    for (int j = 0; j < nkeys; j++)
        order[j] = j;
    g_qsort_with_data(order, nkeys, sizeof *order, by_usage, usage);
    mmx__plot p = {0};
    g_autofree char *title = g_strdup_printf("%s: top-activating patches per key",
                                             json_string_value(json_object_get(mixer, "mixer")));
    double width = MAX(760, 180 + ntop * cell + 20);
    mmx__svg_begin(&p, width, 80 + rows * cell + 20, 0, 0, title);
    g_autofree char *sub = g_strdup_printf(
        "the %d most used of %d keys, by mean max(h, 0); %zu dead; %.1f effective keys", rows,
        nkeys, json_array_size(json_object_get(mixer, "dead")),
        json_number_value(json_object_get(mixer, "effective_keys")));
    mmx__svg_text(&p, width / 2, 50, "middle", 12, NULL, sub);
    for (int r = 0; r < rows; r++) {
        int j = order[r];
        double y = 70 + r * cell;
        g_autofree char *label = g_strdup_printf(
            "key %d (%.3f)", j, json_number_value(json_array_get(usage, (size_t)j)));
        mmx__svg_text(&p, 170, y + cell / 2 + 4, "end", 11, NULL, label);
        json_t *hits = json_array_get(top, (size_t)j);
        for (size_t t = 0; t < json_array_size(hits); t++) {
            json_t *hit = json_array_get(hits, t);
            int64_t img = json_integer_value(json_object_get(hit, "image"));
            int tok = (int)json_integer_value(json_object_get(hit, "token"));
            const uint8_t *px = mmx_dataset_image(ds, img);
            int r0 = tok / gw * ph, c0 = tok % gw * pw;
            double x0 = 180 + (double)t * cell;
            /* The window in pixel units: a black ground, then one path per gray level (16
             * levels) of the pixels above black, so a file stays small. */
            int a0 = MAX(-ph, -r0), a1 = MIN(2 * ph, H - r0), b0 = MAX(-pw, -c0),
                b1 = MIN(2 * pw, W - c0);
            g_string_append_printf(
                p.s,
                "<g transform=\"translate(%.1f %.1f) scale(%.3f)\" shape-rendering=\"crispEdges\">"
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>",
                x0 + pw * scale, y + ph * scale, scale, b0, a0, b1 - b0, a1 - a0);
            GString *level[16] = {0};
            for (int a = a0; a < a1; a++)
                for (int b = b0; b < b1; b++) {
                    int sum = 0;
                    for (int c = 0; c < C; c++)
                        sum += px[((r0 + a) * W + c0 + b) * C + c];
                    int q = sum / C >> 4;
                    if (q == 0)
                        continue;
                    if (level[q] == NULL)
                        level[q] = g_string_new(NULL);
                    g_string_append_printf(level[q], "M%d %dh1v1h-1z", b, a);
                }
            for (int q = 1; q < 16; q++)
                if (level[q]) {
                    int v = q * 17;
                    g_string_append_printf(p.s, "<path fill=\"rgb(%d,%d,%d)\" d=\"%s\"/>", v, v, v,
                                           level[q]->str);
                    g_string_free(level[q], TRUE);
                }
            g_string_append(p.s, "</g>\n");
            g_string_append_printf(p.s,
                                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                                   "fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n",
                                   x0 + pw * scale, y + ph * scale, pw * scale, ph * scale);
        }
    }
    return mmx__svg_end(&p, path, error);
}

bool
mmx_analyze_memory_svg(json_t *memory, const mmx_dataset *ds, const char *dir, GPtrArray *files,
                       GError **error)
{
    g_return_val_if_fail(memory != NULL && ds != NULL && dir != NULL, false);
    if (!mmx_mkdir_p(dir, error))
        return false;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(memory, "mixers"), i, m)
    {
        g_autofree char *name =
            g_strdup_printf("memory-%s.svg", json_string_value(json_object_get(m, "mixer")));
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (!memory_svg(m, ds, path, error) || !add_file(files, path))
            return false;
    }
    return true;
}
