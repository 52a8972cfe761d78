/* svg-private.h: the SVG plotting kit of core/svg.c, shared by report-svg.c and
 * analyze-report.c. Not part of the API. */
#ifndef MMX_SVG_PRIVATE_H
#define MMX_SVG_PRIVATE_H

#include "mmx-private.h"

/* The Tableau 10 palette; plots cycle through it. */
extern const char *const mmx__svg_palette[10];

typedef struct mmx__plot {
    GString *s;
    double w, h;              /* document */
    double left, top, pw, ph; /* mmx__plot area */
    double x0, x1, y0, y1;    /* data ranges */
    bool logx;
} mmx__plot;

/* A new document of w x h with the plot area left of `right` and right of `left`, and a
 * title. */
void mmx__svg_begin(mmx__plot *p, double w, double h, double left, double right, const char *title);
/* Data coordinates to the document's. */
double mmx__svg_px(const mmx__plot *p, double x);
double mmx__svg_py(const mmx__plot *p, double y);
/* Expands [lo, hi] a little and to a non-empty range. */
void mmx__svg_pad_range(double *lo, double *hi, bool log);
/* A tick step of 1, 2 or 5 times a power of ten giving about target ticks over span. */
double mmx__svg_nice_step(double span, int target);
/* A tick's label at that step (newly allocated). */
char *mmx__svg_tick_label(double v, double step);
/* Grid, ticks, frame and axis labels of the current ranges. */
void mmx__svg_axes(mmx__plot *p, const char *xlabel, const char *ylabel, bool xticks_integer);
/* Escaped text at (x, y); extra: more attributes or NULL. */
void mmx__svg_text(mmx__plot *p, double x, double y, const char *anchor, int size, const char *extra,
                   const char *text);
void mmx__svg_xml_text(GString *s, const char *text);
/* A grey note in the middle of the plot area. */
void mmx__svg_no_data(mmx__plot *p, const char *why);
/* Closes the document and writes it atomically to path. */
bool mmx__svg_end(mmx__plot *p, const char *path, GError **error);

#endif /* MMX_SVG_PRIVATE_H */
