/* xg_metrics.h: distribution metrics of a set of crystals against a reference set, as the
 * CDVAE benchmark reports them (Xie et al., ICLR 2022): the 1-D Wasserstein (earth mover's)
 * distance between the empirical distributions of density (g/cm^3) and of the number of
 * distinct elements per crystal.
 *
 * Why: validity and novelty say nothing about whether a generator reproduces the data
 * distribution; these two numbers do, and they are what papers compare. */
#ifndef XG_METRICS_H
#define XG_METRICS_H

#include <stddef.h>
#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"

/* W1 between the empirical distributions of u (nu values) and v (nv values), each value with
 * equal weight: the integral of |U(x) - V(x)| over x, U and V the empirical CDFs. Same value as
 * scipy.stats.wasserstein_distance(u, v). XG_EINVAL for an empty sample or a NaN/inf value;
 * XG_ENOMEM if the sorted copies cannot be allocated. */
int xg_metrics_wasserstein(const double *u, size_t nu, const double *v, size_t nv, double *out,
                           xg_error *err);

/* Density (g/cm^3) and number of distinct elements of every structure of ds, into caller
 * arrays of ds->n values each (either may be NULL). */
int xg_metrics_collect(const xg_dataset *ds, double *density, double *nelements, xg_error *err);

#endif
