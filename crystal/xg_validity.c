/* xg_validity.c: structural and compositional validity (see xg_validity.h). */
#include "crystal/xg_validity.h"
#include "crystal/xg_vec3.h"

#include <math.h>
#include <string.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_oxidation.h"

#define MIN_DIST_CAP 10.0
#define MIN_RATIO_CAP 5.0 /* bond ratios are exact below this */

static double det3(const double m[3][3])
{
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

/* The smallest d_ij / w_ij over all pairs, periodic images (and an atom's own images)
 * included, where w_ij = 1 (plain distances) or r_cov(i) + r_cov(j) (bond ratios). Exact when
 * below cap, cap otherwise. */
static int min_scaled(const xg_structure *s, double cap, int by_radii, double *out, xg_error *err)
{
    if (!s || !out)
        return xg_error_set(err, XG_EINVAL, "validity: NULL argument");
    if (s->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "structure '%s' has no atoms", s->id);
    if (!(cap > 0) || !isfinite(cap))
        return xg_error_set(err, XG_EINVAL, "validity: distance cap must be > 0");
    const double(*L)[3] = s->lattice;
    double vol = fabs(det3(s->lattice));
    if (!isfinite(vol) || vol <= 0)
        return xg_error_set(err, XG_EINVAL, "structure '%s' has a singular lattice",
                            s->id);
    /* Plane spacings: a vector of length r has |fractional component k| <= r / width_k, which
     * bounds the images to search exactly. */
    double width[3];
    for (int k = 0; k < 3; k++) {
        double c[3];
        xg_vec3_cross(L[(k + 1) % 3], L[(k + 2) % 3], c);
        width[k] = vol / sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
    }
    for (int i = 0; i < s->natoms; i++) {
        for (int k = 0; k < 3; k++)
            if (!isfinite(s->frac[i][k]))
                return xg_error_set(err, XG_EINVAL,
                                    "structure '%s' atom %d has a non-finite coordinate",
                                    s->id, i);
        if (by_radii) {
            const xg_element *e = xg_element_get(s->types[i]);
            if (!e || !(e->covalent_radius > 0))
                return xg_error_set(err, XG_EINVAL,
                                    "structure '%s' atom %d: no covalent radius for "
                                    "Z = %d",
                                    s->id, i, s->types[i]);
        }
    }
    double best = cap;
    for (int i = 0; i < s->natoms; i++) {
        double ri = by_radii ? xg_element_get(s->types[i])->covalent_radius : 0;
        for (int j = i; j < s->natoms; j++) {
            double w = by_radii ? ri + xg_element_get(s->types[j])->covalent_radius : 1.0;
            double lim = best * w, lim2 = lim * lim; /* distances that would improve best */
            double f[3];
            for (int k = 0; k < 3; k++) {
                f[k] = s->frac[j][k] - s->frac[i][k];
                f[k] -= nearbyint(f[k]);
            }
            int lo[3], hi[3];
            for (int k = 0; k < 3; k++) {
                double r = lim / width[k];
                lo[k] = (int)ceil(-r - f[k]);
                hi[k] = (int)floor(r - f[k]);
            }
            for (int a = lo[0]; a <= hi[0]; a++)
                for (int b = lo[1]; b <= hi[1]; b++)
                    for (int c = lo[2]; c <= hi[2]; c++) {
                        if (i == j && a == 0 && b == 0 && c == 0)
                            continue;
                        double g[3] = {f[0] + a, f[1] + b, f[2] + c}, d[3];
                        for (int k = 0; k < 3; k++)
                            d[k] = g[0] * L[0][k] + g[1] * L[1][k] + g[2] * L[2][k];
                        double d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                        if (d2 < lim2) {
                            lim2 = d2;
                            lim = sqrt(d2);
                            best = lim / w;
                        }
                    }
        }
    }
    *out = best;
    return XG_OK;
}

int xg_validity_min_distance(const xg_structure *s, double cap, double *out, xg_error *err)
{
    return min_scaled(s, cap, 0, out, err);
}

int xg_validity_min_bond_ratio(const xg_structure *s, double cap, double *out, xg_error *err)
{
    return min_scaled(s, cap, 1, out, err);
}

int xg_validity_structure(const xg_structure *s, int *valid, xg_error *err)
{
    if (!valid)
        return xg_error_set(err, XG_EINVAL, "validity: NULL argument");
    double d;
    int rc = xg_validity_min_distance(s, XG_VALIDITY_MIN_DISTANCE, &d, err);
    if (rc)
        return rc;
    *valid = d >= XG_VALIDITY_MIN_DISTANCE && fabs(det3(s->lattice)) >= XG_VALIDITY_MIN_VOLUME;
    return XG_OK;
}

int xg_validity_check(const xg_structure *s, xg_validity *out, xg_error *err)
{
    if (!out)
        return xg_error_set(err, XG_EINVAL, "validity: NULL argument");
    memset(out, 0, sizeof *out);
    int rc = xg_validity_min_distance(s, MIN_DIST_CAP, &out->min_distance, err);
    if (rc)
        return rc;
    rc = xg_validity_min_bond_ratio(s, MIN_RATIO_CAP, &out->min_bond_ratio, err);
    if (rc)
        return rc;
    out->valid_geometry = out->min_bond_ratio >= XG_VALIDITY_MIN_BOND_RATIO;
    out->volume = fabs(det3(s->lattice));
    out->valid_structure = out->min_distance >= XG_VALIDITY_MIN_DISTANCE &&
                           out->volume >= XG_VALIDITY_MIN_VOLUME;
    return xg_oxidation_valid_structure(s, &out->valid_composition, err);
}
