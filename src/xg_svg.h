/* xg_svg.h: the plots of `xtalgen report`, drawn as inline SVG text by the project's own code:
 * histograms against a reference, grouped bars, a periodic-table heat map and an orthographic
 * ball-and-stick drawing of a cell.
 *
 * Every plot appends one self-contained <svg> element (explicit xmlns, no ids, no scripts, no
 * external fonts or images) to a growing text buffer, so a page can hold many of them and still
 * parse as XML. All text that comes from data goes through xg_buf_escape. Colours: the
 * Okabe-Ito palette for series (distinguishable with the common colour-vision deficiencies),
 * a sequential blue scale for heat maps, and Jmol's element colours for atoms. */
#ifndef XG_SVG_H
#define XG_SVG_H

#include <stddef.h>
#include "crystal/xg_elements.h"
#include "crystal/xg_structure.h"

/* A growing text buffer. Zero-initialise it; after an allocation failure further appends are
 * ignored and `failed` is set, so callers check once at the end. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} xg_buf;

void xg_buf_free(xg_buf *b);
void xg_buf_add(xg_buf *b, const char *s, size_t n);
void xg_buf_puts(xg_buf *b, const char *s);
void xg_buf_printf(xg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s escaped for XML/XHTML text and attribute values: & < > " ' become entities, and
 * bytes XML 1.0 forbids (control characters other than tab and newline, and malformed UTF-8)
 * become U+FFFD so a stray byte in an id cannot make the page unparsable. */
void xg_buf_escape(xg_buf *b, const char *s);

/* Series colours (Okabe-Ito): the run, the reference, a third run. */
#define XG_SVG_BLUE "#0072B2"
#define XG_SVG_ORANGE "#D55E00"
#define XG_SVG_GREEN "#009E73"

typedef enum {
    XG_SVG_FILLED, /* bars filled with the colour (translucent for histograms) */
    XG_SVG_STEP    /* an outline only (a histogram's reference, drawn over the bars) */
} xg_svg_style;

typedef struct {
    const char *name;     /* legend text */
    const char *color;    /* "#rrggbb" */
    const double *values; /* one per bin or category; NaN = no value */
    xg_svg_style style;
} xg_svg_series;

/* Fractions of the finite values of v[0..n-1] in the bins [edges[k], edges[k+1]) (the last bin
 * closed); values below or above the range count in the first or last bin, so the fractions of
 * all finite values sum to 1. frac[nbins]. Returns the number of finite values. */
size_t xg_svg_hist_fractions(const double *v, size_t n, const double *edges, int nbins,
                             double *frac);

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `want` ticks over span. */
double xg_svg_nice_step(double span, int want);

/* Histogram: series over nbins bins with the given edges (nbins + 1 values), y = fraction.
 * marker: an x value drawn as a dashed vertical line labelled marker_label (NAN for none). */
void xg_svg_histogram(xg_buf *b, int w, int h, const char *title, const char *xlabel,
                      const double *edges, int nbins, const xg_svg_series *series, int nseries,
                      double marker, const char *marker_label);

/* Grouped vertical bars: ncat categories with labels, one bar per series and category;
 * y is a fraction shown in percent. Labels are turned 60 degrees when they would overlap, and
 * the drawing is then made taller than h by their reach. */
void xg_svg_bars(xg_buf *b, int w, int h, const char *title, int ncat,
                 const char *const *labels, const xg_svg_series *series, int nseries);

/* Periodic table (Z = 1..103, lanthanides and actinides in their own rows) coloured by
 * value[z] in [0, 1] (value[0] unused; NaN or 0 = absent), each cell showing the symbol and
 * the value in percent; a colour scale below. cell is the side of one cell in pixels. ref
 * (may be NULL) gives a reference share per element, named ref_name, shown in each cell's
 * tooltip. */
void xg_svg_ptable(xg_buf *b, int cell, const double *value, const double *ref,
                   const char *ref_name, const char *title);

/* Ball-and-stick drawing of the unit cell of s in an orthographic projection (a oblique view
 * with c up): cell edges, atoms in the cell plus their images on faces, edges and corners,
 * bonds between drawn atoms closer than 1.2 times the sum of their covalent radii (and half
 * bonds toward the neighbours in the next cells of an atom that has no bond in the drawing),
 * atoms in
 * Jmol colours with a legend of the elements below. size is the drawing's width in pixels. */
void xg_svg_cell(xg_buf *b, int size, const xg_structure *s);

/* Jmol's colour of element z ("#rrggbb"); grey for unknown z. */
const char *xg_svg_element_color(int z);
/* Sequential blue colour for t in [0, 1] ("#rrggbb" into buf[8]); *dark is set when white text
 * reads better on it. */
void xg_svg_heat_color(double t, char buf[8], int *dark);

#endif
