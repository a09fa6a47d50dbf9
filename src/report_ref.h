/* report_ref.h: the reference distributions a run report compares a run with (issue 22): the
 * shipped data/report-mp20.csv, written by `xtalgen report --make-reference` from MP-20.
 *
 * Why a summary and not the dataset: a clean clone must draw its report without ../shared, and
 * the distributions fit in a few kilobytes. Continuous quantities (density, formation energy)
 * are kept as XG_REF_NQ mid-quantiles (the values at probabilities (k + 0.5) / XG_REF_NQ), an
 * equally weighted sample whose Wasserstein distance to any run differs from the full
 * reference's by at most about the quantile spacing; discrete ones (atoms per cell, elements
 * per crystal, space group, elements present) as exact counts.
 *
 * File (CSV, RFC 4180, columns section,key,value; version 1):
 *   meta,format,xtalgen-reference-distribution   meta,version,1   meta,name,<text>
 *   meta,n,<crystals>   meta,source,<text>
 *   density_q,<k>,<g/cm^3>          e_form_q,<k>,<eV/atom>   (k = 0..XG_REF_NQ-1)
 *   natoms,<N>,<count>              nelements,<k>,<count>
 *   spacegroup,<number>,<count>     element,<symbol>,<crystals containing it> */
#ifndef XG_REPORT_REF_H
#define XG_REPORT_REF_H

#include "crystal/xg_dataset.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_error.h"

#define XG_REF_NQ 1000
#define XG_REF_MAX_NATOMS 400
#define XG_REF_MAX_NELEM 16
#define XG_REF_FILE "report-mp20.csv"

typedef struct {
    char name[256];   /* "MP-20 test" */
    char source[512]; /* what it was made from */
    long n;           /* crystals */
    int n_density, n_eform;        /* quantiles present (0 or XG_REF_NQ) */
    double density_q[XG_REF_NQ];   /* g/cm^3, ascending */
    double eform_q[XG_REF_NQ];     /* eV/atom, ascending */
    double natoms[XG_REF_MAX_NATOMS + 1];   /* counts; the last bin holds larger cells */
    double nelements[XG_REF_MAX_NELEM + 1];
    double spacegroup[231];                  /* index 0: not determined */
    double element[XG_MAX_Z + 1];            /* crystals containing element z */
} xg_refdist;

/* Builds the distributions of ds: density and element counts from the structures, the space
 * group from the property "spacegroup.number" where present and spglib at symprec otherwise,
 * the formation energy from the property "formation_energy_per_atom" when ds has it. */
int xg_refdist_build(const xg_dataset *ds, const char *name, const char *source, double symprec,
                     xg_refdist *out, xg_error *err);
int xg_refdist_write(const char *path, const xg_refdist *r, xg_error *err);
/* Errors name the file and line; a file of another format or a later version is refused. */
int xg_refdist_read(const char *path, xg_refdist *r, xg_error *err);

/* Quantiles of n values (NaNs skipped) into q[nq]: q[k] = the sorted value at rank
 * floor((k + 0.5) / nq * m), m the finite count. Returns m (0: q untouched). */
long xg_refdist_quantiles(const double *v, long n, double *q, int nq, xg_error *err);

#endif
