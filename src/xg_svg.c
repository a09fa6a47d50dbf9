/* xg_svg.c: SVG plots for the run report (see xg_svg.h). */
#include "src/xg_svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ buffer ---- */

void xg_buf_free(xg_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

static int reserve(xg_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void xg_buf_add(xg_buf *b, const char *s, size_t n)
{
    if (reserve(b, n))
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void xg_buf_puts(xg_buf *b, const char *s) { xg_buf_add(b, s, strlen(s)); }

void xg_buf_printf(xg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when malformed. */
static int utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    int n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
    if (s[0] >= 0xF5)
        n = 0;
    for (int k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return n;
}

void xg_buf_escape(xg_buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (s && *s) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (rep) {
            xg_buf_puts(b, rep);
            s++;
            continue;
        }
        if (*s < 0x20 && *s != '\t' && *s != '\n') {
            xg_buf_puts(b, "\xEF\xBF\xBD");
            s++;
            continue;
        }
        int n = utf8_len(s);
        if (n == 0) {
            xg_buf_puts(b, "\xEF\xBF\xBD");
            s++;
            continue;
        }
        xg_buf_add(b, (const char *)s, (size_t)n);
        s += n;
    }
}

/* ------------------------------------------------------------------------- helpers ---- */

size_t xg_svg_hist_fractions(const double *v, size_t n, const double *edges, int nbins,
                             double *frac)
{
    size_t m = 0;
    for (int k = 0; k < nbins; k++)
        frac[k] = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        int k = 0;
        if (v[i] >= edges[nbins])
            k = nbins - 1;
        else if (v[i] > edges[0]) {
            /* binary search: the last edge <= v */
            int lo = 0, hi = nbins;
            while (hi - lo > 1) {
                int mid = (lo + hi) / 2;
                if (edges[mid] <= v[i])
                    lo = mid;
                else
                    hi = mid;
            }
            k = lo;
        }
        frac[k] += 1;
        m++;
    }
    if (m)
        for (int k = 0; k < nbins; k++)
            frac[k] /= (double)m;
    return m;
}

double xg_svg_nice_step(double span, int want)
{
    if (!(span > 0) || want < 1)
        return 1;
    double raw = span / want, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void svg_open(xg_buf *b, int w, int h, const char *title)
{
    xg_buf_printf(b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" role=\"img\" class=\"plot\"><title>",
                  w, h, w, h);
    xg_buf_escape(b, title);
    xg_buf_puts(b, "</title>\n");
}

static void text(xg_buf *b, double x, double y, const char *anchor, const char *cls,
                 const char *s)
{
    xg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s%s>", x, y, anchor,
                  cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    xg_buf_escape(b, s);
    xg_buf_puts(b, "</text>\n");
}

/* Tick label without trailing zeros: 0.5, 10, 1e+03 for big ones. */
static void tick_label(double v, double step, char *buf, size_t n)
{
    if (fabs(v) < step * 1e-6)
        v = 0;
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6)
        dec = 6;
    snprintf(buf, n, "%.*f", dec, v);
}

typedef struct {
    double x0, x1, y0, y1;     /* data range */
    double left, top, pw, ph;  /* plot area in pixels */
    double ystep;              /* tick step of y; y1 is a multiple of it */
} frame;

/* y from 0 to a multiple of a nice step above ymax, so the top gridline is a labelled tick */
static void y_range(frame *f, double ymax)
{
    if (!(ymax > 0))
        ymax = 1;
    f->ystep = xg_svg_nice_step(ymax, 4);
    f->y1 = f->ystep * ceil(ymax / f->ystep - 1e-9);
}

static double fx(const frame *f, double x) { return f->left + (x - f->x0) / (f->x1 - f->x0) * f->pw; }
static double fy(const frame *f, double y) { return f->top + f->ph - (y - f->y0) / (f->y1 - f->y0) * f->ph; }

/* y axis in percent with grid lines; the x axis line. */
static void y_axis_percent(xg_buf *b, const frame *f)
{
    double step = f->ystep;
    char lab[32];
    for (int k = 0; k * step <= f->y1 * (1 + 1e-9); k++) {
        double y = k * step;
        double py = fy(f, y);
        xg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n",
                      f->left, py, f->left + f->pw, py);
        tick_label(100 * y, 100 * step, lab, sizeof lab);
        strcat(lab, "%");
        text(b, f->left - 4, py + 3.5, "end", "tick", lab);
    }
    xg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n",
                  f->left, f->top + f->ph, f->left + f->pw, f->top + f->ph);
    xg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n",
                  f->left, f->top, f->left, f->top + f->ph);
}

static void legend(xg_buf *b, double x, double y, const xg_svg_series *s, int ns)
{
    for (int k = 0; k < ns; k++) {
        if (!s[k].name)
            continue;
        if (s[k].style == XG_SVG_STEP)
            xg_buf_printf(b,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"none\" "
                          "stroke=\"%s\" stroke-width=\"2\"/>\n",
                          x, y - 9, s[k].color);
        else
            xg_buf_printf(b,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"%s\"/>\n",
                          x, y - 9, s[k].color);
        text(b, x + 16, y, "start", "legend", s[k].name);
        x += 26 + 6.2 * (double)strlen(s[k].name);
    }
}

/* ---------------------------------------------------------------------- histogram ---- */

void xg_svg_histogram(xg_buf *b, int w, int h, const char *title, const char *xlabel,
                      const double *edges, int nbins, const xg_svg_series *series, int nseries,
                      double marker, const char *marker_label)
{
    frame f = {edges[0], edges[nbins], 0, 0, 46, 30, w - 60, h - 88, 1};
    double ymax = 0;
    for (int s = 0; s < nseries; s++)
        for (int k = 0; k < nbins; k++)
            if (isfinite(series[s].values[k]) && series[s].values[k] > ymax)
                ymax = series[s].values[k];
    y_range(&f, ymax);
    svg_open(b, w, h, title);
    text(b, w / 2.0, 16, "middle", "ptitle", title);
    y_axis_percent(b, &f);
    /* filled series first, outlines over them */
    for (int pass = 0; pass < 2; pass++) {
        for (int s = 0; s < nseries; s++) {
            const xg_svg_series *se = &series[s];
            if ((pass == 0) != (se->style == XG_SVG_FILLED))
                continue;
            if (se->style == XG_SVG_FILLED) {
                xg_buf_printf(b, "<g fill=\"%s\" fill-opacity=\"0.75\">\n", se->color);
                for (int k = 0; k < nbins; k++) {
                    double v = se->values[k];
                    if (!(v > 0))
                        continue;
                    double x0 = fx(&f, edges[k]), x1 = fx(&f, edges[k + 1]);
                    xg_buf_printf(b,
                                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                                  x0 + 0.5, fy(&f, v), x1 - x0 - 1 > 0.5 ? x1 - x0 - 1 : 0.5,
                                  fy(&f, 0) - fy(&f, v));
                }
                xg_buf_puts(b, "</g>\n");
            } else {
                xg_buf_printf(b,
                              "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                              "points=\"",
                              se->color);
                xg_buf_printf(b, "%.1f,%.1f", fx(&f, edges[0]), fy(&f, 0));
                for (int k = 0; k < nbins; k++) {
                    double v = isfinite(se->values[k]) ? se->values[k] : 0;
                    xg_buf_printf(b, " %.1f,%.1f %.1f,%.1f", fx(&f, edges[k]), fy(&f, v),
                                  fx(&f, edges[k + 1]), fy(&f, v));
                }
                xg_buf_printf(b, " %.1f,%.1f\"/>\n", fx(&f, edges[nbins]), fy(&f, 0));
            }
        }
    }
    /* x ticks */
    double xs = xg_svg_nice_step(f.x1 - f.x0, 6);
    char lab[32];
    for (double x = ceil(f.x0 / xs - 1e-9) * xs; x <= f.x1 + 1e-9 * xs; x += xs) {
        double px = fx(&f, x);
        xg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n",
                      px, f.top + f.ph, px, f.top + f.ph + 4);
        tick_label(x, xs, lab, sizeof lab);
        text(b, px, f.top + f.ph + 15, "middle", "tick", lab);
    }
    text(b, f.left + f.pw / 2, f.top + f.ph + 29, "middle", "label", xlabel);
    if (isfinite(marker)) {
        double m = marker < f.x0 ? f.x0 : marker > f.x1 ? f.x1 : marker;
        double px = fx(&f, m);
        xg_buf_printf(b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" "
                      "stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/>\n",
                      px, f.top, px, f.top + f.ph);
        if (marker_label)
            text(b, px + (px > f.left + f.pw * 0.7 ? -4 : 4), f.top + 10,
                 px > f.left + f.pw * 0.7 ? "end" : "start", "tick", marker_label);
    }
    legend(b, f.left, h - 6, series, nseries);
    xg_buf_puts(b, "</svg>\n");
}

/* --------------------------------------------------------------------------- bars ---- */

void xg_svg_bars(xg_buf *b, int w, int h, const char *title, int ncat,
                 const char *const *labels, const xg_svg_series *series, int nseries)
{
    /* turn the labels when the longest would not fit its slot (about 6.5 px a character) */
    size_t longest = 0;
    for (int k = 0; k < ncat; k++)
        if (strlen(labels[k]) > longest)
            longest = strlen(labels[k]);
    int rotate = 6.5 * (double)longest > (w - 56.0) / (ncat > 0 ? ncat : 1);
    /* turned labels reach down by their length times sin 60: the drawing grows by that */
    int extra = rotate ? (int)ceil(6.2 * (double)longest * 0.87) : 0;
    frame f = {0, ncat > 0 ? ncat : 1, 0, 0, 46, 30, w - 56, h - 72, 1};
    h += extra;
    double ymax = 0;
    for (int s = 0; s < nseries; s++)
        for (int k = 0; k < ncat; k++)
            if (isfinite(series[s].values[k]) && series[s].values[k] > ymax)
                ymax = series[s].values[k];
    y_range(&f, ymax);
    svg_open(b, w, h, title);
    text(b, w / 2.0, 16, "middle", "ptitle", title);
    y_axis_percent(b, &f);
    double slot = f.pw / (ncat > 0 ? ncat : 1), bw = slot * 0.8 / (nseries > 0 ? nseries : 1);
    for (int s = 0; s < nseries; s++) {
        xg_buf_printf(b, "<g fill=\"%s\">\n", series[s].color);
        for (int k = 0; k < ncat; k++) {
            double v = series[s].values[k];
            if (!(v > 0))
                continue;
            double x = f.left + k * slot + slot * 0.1 + s * bw;
            xg_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">",
                          x, fy(&f, v), bw, fy(&f, 0) - fy(&f, v));
            xg_buf_puts(b, "<title>");
            xg_buf_escape(b, labels[k]);
            xg_buf_printf(b, ": %.1f%%</title></rect>\n", 100 * v);
        }
        xg_buf_puts(b, "</g>\n");
    }
    for (int k = 0; k < ncat; k++) {
        double x = f.left + (k + 0.5) * slot, y = f.top + f.ph + 14;
        if (rotate) {
            xg_buf_printf(b,
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" class=\"tick\" "
                          "transform=\"rotate(-60 %.1f %.1f)\">",
                          x + 3, y - 4, x + 3, y - 4);
            xg_buf_escape(b, labels[k]);
            xg_buf_puts(b, "</text>\n");
        } else {
            text(b, x, y, "middle", "tick", labels[k]);
        }
    }
    legend(b, f.left, h - 8, series, nseries);
    xg_buf_puts(b, "</svg>\n");
}

/* ------------------------------------------------------------------ periodic table ---- */

/* Row (0..6 main table, 7..8 the f-block rows) and column (0..17) of element z. */
static void pt_pos(int z, int *row, int *col)
{
    static const int period_start[] = {1, 3, 11, 19, 37, 55, 87, 119};
    if (z >= 57 && z <= 71) {
        *row = 7;
        *col = 2 + (z - 57);
        return;
    }
    if (z >= 89 && z <= 103) {
        *row = 8;
        *col = 2 + (z - 89);
        return;
    }
    int p = 0;
    while (z >= period_start[p + 1])
        p++;
    int k = z - period_start[p];
    *row = p;
    if (p == 0)
        *col = k == 0 ? 0 : 17;
    else if (p <= 2)
        *col = k < 2 ? k : k + 10;
    else if (p <= 4)
        *col = k;
    else
        *col = k < 2 ? k : k - 14 + 0; /* 72 (Hf) is k = 17 -> column 3 */
}

void xg_svg_heat_color(double t, char buf[8], int *dark)
{
    /* ColorBrewer "Blues" stops: light to dark, readable as an order in grey scale too */
    static const double stop[5][3] = {
        {0xde, 0xeb, 0xf7}, {0x9e, 0xca, 0xe1}, {0x42, 0x92, 0xc6}, {0x21, 0x71, 0xb5}, {0x08, 0x30, 0x6b}};
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    double u = t * 4;
    int i = (int)u;
    if (i > 3)
        i = 3;
    double a = u - i;
    int c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (int)lround(stop[i][k] * (1 - a) + stop[i + 1][k] * a);
    snprintf(buf, 8, "#%02x%02x%02x", c[0] & 255, c[1] & 255, c[2] & 255);
    if (dark)
        *dark = t > 0.45;
}

void xg_svg_ptable(xg_buf *b, int cell, const double *value, const double *ref,
                   const char *ref_name, const char *title)
{
    int w = 18 * cell + 20, h = (int)(9.4 * cell) + 70;
    double vmax = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (isfinite(value[z]) && value[z] > vmax)
            vmax = value[z];
    svg_open(b, w, h, title);
    text(b, w / 2.0, 16, "middle", "ptitle", title);
    double top = 26;
    for (int z = 1; z <= XG_MAX_Z; z++) {
        const xg_element *e = xg_element_get(z);
        if (!e)
            continue;
        int row, col;
        pt_pos(z, &row, &col);
        double x = 10 + col * cell, y = top + (row >= 7 ? row + 0.4 : row) * cell;
        double v = isfinite(value[z]) ? value[z] : 0;
        char fill[8] = "#ffffff";
        int dark = 0;
        /* square root: the common elements would otherwise wash out every rare one */
        if (v > 0)
            xg_svg_heat_color(vmax > 0 ? sqrt(v / vmax) : 0, fill, &dark);
        xg_buf_printf(b, "<g><title>%s (%d): %.2f%% of crystals", e->symbol, z, 100 * v);
        if (ref && isfinite(ref[z])) {
            xg_buf_printf(b, "; %.2f%% in ", 100 * ref[z]);
            xg_buf_escape(b, ref_name ? ref_name : "the reference");
        }
        xg_buf_printf(b,
                      "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" "
                      "fill=\"%s\" stroke=\"%s\"/>",
                      x + 1, y + 1, cell - 2, cell - 2, fill, v > 0 ? "#6b7b8c" : "#d0d0d0");
        const char *tc = v > 0 ? (dark ? "#ffffff" : "#111111") : "#9a9a9a";
        xg_buf_printf(b,
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\" "
                      "class=\"sym\">%s</text>",
                      x + cell / 2.0, y + cell * 0.46, tc, e->symbol);
        if (v > 0) {
            char lab[16];
            double pc = 100 * v;
            snprintf(lab, sizeof lab, pc >= 10 ? "%.0f" : pc >= 0.95 ? "%.1f" : "%.2f", pc);
            xg_buf_printf(b,
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\" "
                          "class=\"small\">%s</text>",
                          x + cell / 2.0, y + cell * 0.82, tc, lab);
        }
        xg_buf_puts(b, "</g>\n");
    }
    /* colour scale: ten discrete steps (no gradient ids, so many plots can share a page) */
    double sy = top + 9.4 * cell + 12, sx = 10 + 3 * cell;
    text(b, sx - 6, sy + 10, "end", "tick", "0%");
    for (int k = 0; k < 10; k++) {
        char fill[8];
        xg_svg_heat_color((k + 0.5) / 10, fill, NULL);
        xg_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"12\" fill=\"%s\"/>\n",
                      sx + k * cell * 0.8, sy, cell * 0.8, fill);
    }
    char lab[64];
    snprintf(lab, sizeof lab, "%.1f%% of crystals contain it (colour ~ square root)", 100 * vmax);
    text(b, sx + 8 * cell + 6, sy + 10, "start", "tick", lab);
    xg_buf_puts(b, "</svg>\n");
}

/* ------------------------------------------------------------------ cell drawing ---- */

const char *xg_svg_element_color(int z)
{
    /* Jmol's CPK-like scheme, Z = 1..103 */
    static const char *const jmol[XG_MAX_Z + 1] = {
        "#808080",
        "#FFFFFF", "#D9FFFF", "#CC80FF", "#C2FF00", "#FFB5B5", "#909090", "#3050F8", "#FF0D0D",
        "#90E050", "#B3E3F5", "#AB5CF2", "#8AFF00", "#BFA6A6", "#F0C8A0", "#FF8000", "#FFFF30",
        "#1FF01F", "#80D1E3", "#8F40D4", "#3DFF00", "#E6E6E6", "#BFC2C7", "#A6A6AB", "#8A99C7",
        "#9C7AC7", "#E06633", "#F090A0", "#50D050", "#C88033", "#7D80B0", "#C28F8F", "#668F8F",
        "#BD80E3", "#FFA100", "#A62929", "#5CB8D1", "#702EB0", "#00FF00", "#94FFFF", "#94E0E0",
        "#73C2C9", "#54B5B5", "#3B9E9E", "#248F8F", "#0A7D8C", "#006985", "#C0C0C0", "#FFD98F",
        "#A67573", "#668080", "#9E63B5", "#D47A00", "#940094", "#429EB0", "#57178F", "#00C900",
        "#70D4FF", "#FFFFC7", "#D9FFC7", "#C7FFC7", "#A3FFC7", "#8FFFC7", "#61FFC7", "#45FFC7",
        "#30FFC7", "#1FFFC7", "#00FF9C", "#00E675", "#00D452", "#00BF38", "#00AB24", "#4DC2FF",
        "#4DA6FF", "#2194D6", "#267DAB", "#266696", "#175487", "#D0D0E0", "#FFD123", "#B8B8D0",
        "#A6544D", "#575961", "#9E4FB5", "#AB5C00", "#754F45", "#428296", "#420066", "#007D00",
        "#70ABFA", "#00BAFF", "#00A1FF", "#008FFF", "#0080FF", "#006BFF", "#545CF2", "#785CE3",
        "#8A4FE3", "#A136D4", "#B31FD4", "#B31FBA", "#B30DA6", "#BD0D87", "#C70066"};
    return z >= 1 && z <= XG_MAX_Z ? jmol[z] : jmol[0];
}

typedef struct {
    double p[3]; /* screen x, screen y (down), depth (larger = nearer the viewer) */
    double f[3]; /* fractional coordinates of this image */
    int z;
} drawn_atom;

typedef struct {
    double depth;
    int kind; /* 0 bond, 1 atom, 2 half bond toward an atom outside the drawn cell */
    int a, b;
    double end[3]; /* kind 2: the bond's midpoint, in view coordinates */
} paint_item;

static int push_item(paint_item **items, int *n, int *cap, paint_item it)
{
    if (*n == *cap) {
        paint_item *ni = realloc(*items, (size_t)(*cap * 2) * sizeof *ni);
        if (!ni)
            return -1;
        *items = ni;
        *cap *= 2;
    }
    (*items)[(*n)++] = it;
    return 0;
}

static int by_depth(const void *pa, const void *pb)
{
    const paint_item *x = pa, *y = pb;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    return x->kind - y->kind; /* a bond before the atom at the same depth */
}

/* Orthographic view: turn about the vertical (c-ish) axis by 30 degrees, then look down from
 * 20 degrees above, so no lattice vector of an orthogonal cell is seen end on. */
static void view(const double c[3], double out[3])
{
    const double th = 30 * M_PI / 180, el = 20 * M_PI / 180;
    double x = cos(th) * c[0] - sin(th) * c[1], y = sin(th) * c[0] + cos(th) * c[1], z = c[2];
    out[0] = x;
    out[1] = -(z * cos(el) + y * sin(el)); /* screen y grows downwards */
    out[2] = -y * cos(el) + z * sin(el);
}

static void cart(const xg_structure *s, const double f[3], double c[3])
{
    for (int k = 0; k < 3; k++)
        c[k] = f[0] * s->lattice[0][k] + f[1] * s->lattice[1][k] + f[2] * s->lattice[2][k];
}

void xg_svg_cell(xg_buf *b, int size, const xg_structure *s)
{
    /* atoms in [0,1)^3 and their images on the faces (a coordinate within 0.01 of 0) */
    const double eps = 0.01;
    int cap = s->natoms * 8 + 1, na = 0;
    drawn_atom *at = malloc((size_t)cap * sizeof *at);
    if (!at) {
        b->failed = 1;
        return;
    }
    for (int i = 0; i < s->natoms; i++) {
        double f[3];
        for (int k = 0; k < 3; k++) {
            f[k] = s->frac[i][k] - floor(s->frac[i][k]);
            if (f[k] > 1 - eps)
                f[k] -= 1; /* near 1: treat as near 0 so the image at 1 is drawn too */
        }
        for (int m = 0; m < 8; m++) {
            double g[3];
            int ok = 1;
            for (int k = 0; k < 3; k++) {
                int shift = (m >> k) & 1;
                if (shift && fabs(f[k]) > eps)
                    ok = 0;
                g[k] = f[k] + shift;
            }
            if (!ok)
                continue;
            double c[3];
            cart(s, g, c);
            view(c, at[na].p);
            memcpy(at[na].f, g, sizeof g);
            at[na].z = s->types[i];
            na++;
        }
    }
    /* corners of the cell, for the frame and the scale */
    double corner[8][3];
    double lo[2] = {1e300, 1e300}, hi[2] = {-1e300, -1e300};
    for (int m = 0; m < 8; m++) {
        double g[3] = {m & 1, (m >> 1) & 1, (m >> 2) & 1}, c[3];
        cart(s, g, c);
        view(c, corner[m]);
        for (int k = 0; k < 2; k++) {
            lo[k] = fmin(lo[k], corner[m][k]);
            hi[k] = fmax(hi[k], corner[m][k]);
        }
    }
    /* legend: the distinct elements, in order of Z */
    int elems[XG_MAX_Z + 1], ne = 0;
    unsigned char seen[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < s->natoms; i++)
        if (s->types[i] >= 1 && s->types[i] <= XG_MAX_Z)
            seen[s->types[i]] = 1;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (seen[z])
            elems[ne++] = z;
    int per_row = size / 46 > 0 ? size / 46 : 1, legend_rows = (ne + per_row - 1) / per_row;
    double pad = 14, span = fmax(hi[0] - lo[0], hi[1] - lo[1]);
    double scale = span > 0 ? (size - 2 * pad) / span : 1;
    double drawh = (hi[1] - lo[1]) * scale + 2 * pad;
    int h = (int)ceil(drawh) + 18 * legend_rows + 4;
    double ox = (size - (hi[0] - lo[0]) * scale) / 2 - lo[0] * scale, oy = pad - lo[1] * scale;
#define SX(p) ((p)[0] * scale + ox)
#define SY(p) ((p)[1] * scale + oy)
    char title[160];
    xg_structure_formula(s, title, sizeof title);
    svg_open(b, size, h, title);
    /* cell edges: corners differing in one bit */
    xg_buf_puts(b, "<g stroke=\"#8a8a8a\" stroke-width=\"1\">\n");
    for (int m = 0; m < 8; m++)
        for (int k = 0; k < 3; k++)
            if (!(m & (1 << k))) {
                int n2 = m | (1 << k);
                xg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                              SX(corner[m]), SY(corner[m]), SX(corner[n2]), SY(corner[n2]));
            }
    xg_buf_puts(b, "</g>\n");
    /* bonds and atoms, painted from the back */
    int nitems = 0, icap = na + 64;
    paint_item *items = malloc((size_t)icap * sizeof *items);
    if (!items) {
        free(at);
        b->failed = 1;
        return;
    }
    for (int i = 0; i < na; i++)
        items[nitems++] = (paint_item){at[i].p[2], 1, i, 0, {0, 0, 0}};
    int *nbond = calloc((size_t)na + 1, sizeof *nbond);
    if (!nbond)
        b->failed = 1;
    for (int i = 0; i < na && !b->failed; i++) {
        const xg_element *ei = xg_element_get(at[i].z);
        if (!ei)
            continue;
        /* bonds between drawn atoms */
        for (int j = i + 1; j < na; j++) {
            const xg_element *ej = xg_element_get(at[j].z);
            if (!ej)
                continue;
            double d2 = 0;
            for (int k = 0; k < 3; k++)
                d2 += (at[i].p[k] - at[j].p[k]) * (at[i].p[k] - at[j].p[k]);
            double cut = 1.2 * (ei->covalent_radius + ej->covalent_radius);
            if (d2 > cut * cut || d2 < 0.01)
                continue;
            if (push_item(&items, &nitems, &icap,
                          (paint_item){(at[i].p[2] + at[j].p[2]) / 2 - 1e-3, 0, i, j, {0, 0, 0}}))
                b->failed = 1;
            nbond[i]++;
            nbond[j]++;
        }
    }
    for (int i = 0; i < na && !b->failed; i++) {
        const xg_element *ei = xg_element_get(at[i].z);
        /* an atom with no bond inside the drawing (an anion whose cations sit in the next
         * cells) gets half bonds toward its neighbours there, so nothing floats; bonded atoms
         * get none, which keeps metals readable */
        if (!ei || nbond[i])
            continue;
        for (int j = 0; j < s->natoms; j++) {
            const xg_element *ej = xg_element_get(s->types[j]);
            if (!ej)
                continue;
            double cut = 1.2 * (ei->covalent_radius + ej->covalent_radius);
            for (int m = 0; m < 27; m++) {
                double g[3], c[3], q[3];
                int inside = 1;
                for (int k = 0; k < 3; k++) {
                    int shift = (m / (k == 0 ? 1 : k == 1 ? 3 : 9)) % 3 - 1;
                    g[k] = s->frac[j][k] - floor(s->frac[j][k]) + shift;
                    inside &= g[k] >= -eps && g[k] <= 1 + eps;
                }
                if (inside)
                    continue; /* drawn: handled above */
                cart(s, g, c);
                view(c, q);
                double d2 = 0;
                for (int k = 0; k < 3; k++)
                    d2 += (at[i].p[k] - q[k]) * (at[i].p[k] - q[k]);
                if (d2 > cut * cut || d2 < 0.01)
                    continue;
                paint_item it = {(at[i].p[2] + q[2]) / 2 - 1e-3, 2, i, 0, {0, 0, 0}};
                for (int k = 0; k < 3; k++)
                    it.end[k] = (at[i].p[k] + q[k]) / 2;
                if (push_item(&items, &nitems, &icap, it))
                    b->failed = 1;
            }
        }
    }
    free(nbond);
    if (b->failed) {
        free(items);
        free(at);
        return;
    }
    qsort(items, (size_t)nitems, sizeof *items, by_depth);
    for (int k = 0; k < nitems; k++) {
        const paint_item *it = &items[k];
        if (it->kind == 2) {
            const double *p = at[it->a].p, *q = it->end;
            xg_buf_printf(b,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\" "
                          "stroke-width=\"4\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                          "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                          SX(p), SY(p), SX(q), SY(q), SX(p), SY(p), SX(q), SY(q),
                          xg_svg_element_color(at[it->a].z));
        } else if (it->kind == 0) {
            const double *p = at[it->a].p, *q = at[it->b].p;
            double mx = (SX(p) + SX(q)) / 2, my = (SY(p) + SY(q)) / 2;
            /* two halves in the colours of their atoms, over a dark casing for contrast */
            xg_buf_printf(b,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\" "
                          "stroke-width=\"4\"/>",
                          SX(p), SY(p), SX(q), SY(q));
            xg_buf_printf(b,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-width=\"2\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                          "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                          SX(p), SY(p), mx, my, xg_svg_element_color(at[it->a].z), mx, my, SX(q),
                          SY(q), xg_svg_element_color(at[it->b].z));
        } else {
            const drawn_atom *a = &at[it->a];
            const xg_element *e = xg_element_get(a->z);
            double r = 0.42 * (e ? e->covalent_radius : 1.0) * scale;
            if (r < 2.5)
                r = 2.5;
            xg_buf_printf(b,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"#333\" "
                          "stroke-width=\"0.8\"/>\n",
                          SX(a->p), SY(a->p), r, xg_svg_element_color(a->z));
        }
    }
    free(items);
    free(at);
    for (int k = 0; k < ne; k++) {
        double x = 8 + (k % per_row) * 46, y = drawh + 18 * (k / per_row) + 6;
        const xg_element *e = xg_element_get(elems[k]);
        xg_buf_printf(b,
                      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5.5\" fill=\"%s\" stroke=\"#333\" "
                      "stroke-width=\"0.8\"/>",
                      x + 5, y, xg_svg_element_color(elems[k]));
        xg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">%s</text>\n", x + 14,
                      y + 4, e ? e->symbol : "?");
    }
#undef SX
#undef SY
    xg_buf_puts(b, "</svg>\n");
}
