/* report.h: the run report (issue 22): one self-contained XHTML page (inline SVG and CSS, no
 * scripts, nothing fetched) that shows what a `generate` run made and what `screen` found:
 * provenance, rates, distributions against the shipped MP-20 reference with Wasserstein
 * distances, space groups, the guided property against its target, an element map and the best
 * candidates with drawings of their cells and links to their CIFs.
 *
 * Every file is read by column and key NAME, and whatever is missing (no screen results, no
 * property models, no provenance, columns added by later versions) leaves out its part of the
 * page with a note instead of failing, so one report reads the folders of every version. */
#ifndef XG_REPORT_H
#define XG_REPORT_H

#include "crystal/xg_error.h"

typedef struct {
    const char *run_dir;     /* a generate folder (summary.csv, generated.h5, cif/); may be NULL
                              * when the crystals come from the screen's inputs */
    const char *screen_dir;  /* screen.csv + summary.json; NULL: run_dir, then run_dir/screen */
    const char *compare_dir; /* a run to compare the guided property with (its screen results
                              * looked up the same way); NULL for none */
    const char *reference;   /* reference distributions (report_ref.h); NULL: the shipped one */
    const char *output;      /* the HTML file to write */
    const char *target;      /* "NAME=VALUE" when the run folder does not record its condition */
    const char *rank;        /* "COLUMN" (ascending) or "COLUMN:desc"; NULL: by default */
    int top;                 /* candidates listed with drawings */
} xg_report_options;

typedef struct {
    double seconds;   /* wall time of xg_report_write */
    long bytes;       /* size of the page */
    long crystals;    /* crystals in the run */
    long candidates;  /* candidates drawn */
} xg_report_stats;

/* Reads the run and writes the page to o->output atomically. stats may be NULL. */
int xg_report_write(const xg_report_options *o, xg_report_stats *stats, xg_error *err);

#endif
