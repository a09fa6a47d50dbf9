/* xg_metrics.c: 1-D Wasserstein distances (see xg_metrics.h). */
#include "crystal/xg_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int xg_metrics_wasserstein(const double *u, size_t nu, const double *v, size_t nv, double *out,
                           xg_error *err)
{
    if (!u || !v || !out)
        return xg_error_set(err, XG_EINVAL, "metrics: NULL argument");
    if (nu == 0 || nv == 0)
        return xg_error_set(err, XG_EINVAL, "Wasserstein distance of an empty sample");
    for (size_t i = 0; i < nu; i++)
        if (!isfinite(u[i]))
            return xg_error_set(err, XG_EINVAL, "sample 1 value %zu is not finite",
                                i);
    for (size_t i = 0; i < nv; i++)
        if (!isfinite(v[i]))
            return xg_error_set(err, XG_EINVAL, "sample 2 value %zu is not finite",
                                i);
    double *a = malloc(nu * sizeof *a), *b = malloc(nv * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return xg_error_set(err, XG_ENOMEM, "metrics: out of memory");
    }
    memcpy(a, u, nu * sizeof *a);
    memcpy(b, v, nv * sizeof *b);
    qsort(a, nu, sizeof *a, cmp_double);
    qsort(b, nv, sizeof *b, cmp_double);
    /* Sweep the merged sorted values; between consecutive values x_k < x_{k+1} the CDFs are
     * constant, so the integral is a sum of |U - V| times the gap. */
    size_t i = 0, j = 0;
    double x = fmin(a[0], b[0]), w = 0.0;
    while (i < nu || j < nv) {
        double next;
        if (j >= nv || (i < nu && a[i] <= b[j]))
            next = a[i];
        else
            next = b[j];
        double cu = (double)i / (double)nu, cv = (double)j / (double)nv;
        w += fabs(cu - cv) * (next - x);
        x = next;
        while (i < nu && a[i] == x)
            i++;
        while (j < nv && b[j] == x)
            j++;
    }
    free(a);
    free(b);
    *out = w;
    return XG_OK;
}

int xg_metrics_collect(const xg_dataset *ds, double *density, double *nelements, xg_error *err)
{
    if (!ds)
        return xg_error_set(err, XG_EINVAL, "metrics: NULL dataset");
    for (int64_t s = 0; s < ds->n; s++) {
        int64_t a0 = ds->offsets[s], a1 = ds->offsets[s + 1];
        double mass = 0.0;
        unsigned char seen[XG_MAX_Z + 1] = {0};
        int ne = 0;
        for (int64_t a = a0; a < a1; a++) {
            const xg_element *e = xg_element_get(ds->types[a]);
            if (!e)
                return xg_error_set(err, XG_EINVAL, "structure '%s' has atomic number %d",
                                    ds->ids[s], (int)ds->types[a]);
            mass += e->mass;
            if (!seen[e->z]) {
                seen[e->z] = 1;
                ne++;
            }
        }
        const double *L = ds->lattices + 9 * s;
        double vol = fabs(L[0] * (L[4] * L[8] - L[5] * L[7]) - L[1] * (L[3] * L[8] - L[5] * L[6]) +
                          L[2] * (L[3] * L[7] - L[4] * L[6]));
        if (density) {
            /* g/mol per A^3 -> g/cm^3: divide by Avogadro's number and 1e-24 cm^3 per A^3. */
            density[s] = vol > 0 ? mass / vol * (1e24 / 6.02214076e23) : NAN;
        }
        if (nelements)
            nelements[s] = ne;
    }
    return XG_OK;
}
