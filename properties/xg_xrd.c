/* xg_xrd.c: powder X-ray diffraction: peaks, profiles, measured patterns, matching (xg_xrd.h). */
#include "properties/xg_xrd.h"
#include "crystal/xg_vec3.h"
#include "properties/xg_fftsize.h"

/* complex.h first: fftw_complex is then C99's double complex */
#include <complex.h>
#include <fftw3.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XG_PI 3.14159265358979323846
#define DEG (XG_PI / 180.0)
/* more reflections than any crystal xtalgen handles could produce below 180 degrees */
#define XG_XRD_MAX_REFL 50000000.0

/* ---- radiation ---- */

typedef struct {
    const char *anode;
    double ka, ka1, ka2, kb1; /* Angstrom: weighted K-alpha, K-alpha1, K-alpha2, K-beta1 */
} anode_lines;

/* Wavelengths as tabulated with pymatgen's XRDCalculator (International Tables Vol. C,
 * Table 4.2.2.1 / Hoelzer et al. 1997). */
static const anode_lines k_anodes[] = {
    {"Cu", 1.54184, 1.54056, 1.54439, 1.39222},   {"Mo", 0.71073, 0.70930, 0.71359, 0.63229},
    {"Cr", 2.29100, 2.28970, 2.29361, 2.08487},   {"Fe", 1.93735, 1.93604, 1.93998, 1.75661},
    {"Co", 1.79026, 1.78896, 1.79285, 1.63079},   {"Ag", 0.560885, 0.559421, 0.563813, 0.497082},
};

int xg_xrd_radiation_parse(const char *spec, xg_xrd_radiation *out, xg_error *err)
{
    if (!spec || !out)
        return xg_error_set(err, XG_EINVAL, "xrd: NULL wavelength");
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof k_anodes / sizeof k_anodes[0]; i++) {
        const anode_lines *a = &k_anodes[i];
        size_t la = strlen(a->anode);
        if (strncmp(spec, a->anode, la) != 0)
            continue;
        const char *t = spec + la;
        if (!strcmp(t, "Ka")) {
            out->lambda1 = a->ka;
        } else if (!strcmp(t, "Ka1")) {
            out->lambda1 = a->ka1;
        } else if (!strcmp(t, "Ka2")) {
            out->lambda1 = a->ka2;
        } else if (!strcmp(t, "Kb1") || !strcmp(t, "Kb")) {
            out->lambda1 = a->kb1;
        } else if (!strcmp(t, "Ka12") || !strcmp(t, "Ka1Ka2") || !strcmp(t, "Ka1+Ka2")) {
            out->lambda1 = a->ka1;
            out->lambda2 = a->ka2;
            out->ratio2 = 0.5;
        } else {
            break;
        }
        return XG_OK;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(spec, &end);
    if (end != spec && *end == '\0' && errno == 0 && isfinite(v) && v >= 0.01 && v <= 100.0) {
        out->lambda1 = v;
        return XG_OK;
    }
    return xg_error_set(err, XG_EINVAL,
                        "xrd: unknown wavelength '%s' (use CuKa, CuKa1, CuKa12, MoKa, ... "
                        "or a value in Angstrom between 0.01 and 100)",
                        spec);
}

/* ---- peaks ---- */

void xg_xrd_params_default(xg_xrd_params *p)
{
    memset(p, 0, sizeof *p);
    p->radiation.lambda1 = 1.54184;
    p->two_theta_min = 0.0;
    p->two_theta_max = 90.0;
    p->merge_tol = 1e-5;
    p->min_intensity = 1e-3;
}

void xg_xrd_pattern_free(xg_xrd_pattern *pat)
{
    if (!pat)
        return;
    free(pat->peaks);
    pat->peaks = NULL;
    pat->n = 0;
}

typedef struct {
    double g;        /* |g|, 1/Angstrom */
    double f2;       /* |F|^2 summed over the Friedel pair */
    int hkl[3];
} reflection;

typedef struct {
    double tt, inten;
    int refl, line;
} line_peak;

static int cmp_line_peak(const void *a, const void *b)
{
    const line_peak *x = a, *y = b;
    if (x->tt != y->tt)
        return x->tt < y->tt ? -1 : 1;
    return x->refl - y->refl;
}

/* hkl lexicographically larger: pymatgen lists a merged peak by the reflection with the
 * largest h, then k, then l, and so do we. */
static int hkl_greater(const int a[3], const int b[3])
{
    for (int k = 0; k < 3; k++)
        if (a[k] != b[k])
            return a[k] > b[k];
    return 0;
}

static int validate_structure(const xg_structure *s, xg_error *err)
{
    if (!s)
        return xg_error_set(err, XG_EINVAL, "xrd: NULL structure");
    if (s->natoms <= 0 || !s->frac || !s->types)
        return xg_error_set(err, XG_EINVAL, "xrd: '%s' has no atoms", s->id);
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++)
            if (!isfinite(s->lattice[k][l]))
                return xg_error_set(err, XG_EINVAL, "xrd: lattice of '%s' is not finite",
                                    s->id);
    for (int i = 0; i < s->natoms; i++) {
        if (!xg_xrd_has_form_factor(s->types[i]))
            return xg_error_set(err, XG_EUNSUPPORTED,
                                "xrd: no X-ray scattering coefficients for Z = %d (site %d "
                                "of '%s'; 1..98 are tabulated)",
                                s->types[i], i, s->id);
        for (int k = 0; k < 3; k++)
            if (!isfinite(s->frac[i][k]) || fabs(s->frac[i][k]) > 1e6)
                return xg_error_set(err, XG_EINVAL,
                                    "xrd: coordinate of site %d of '%s' is not finite",
                                    i, s->id);
    }
    return XG_OK;
}

/* All reflections with gmin <= |g| <= gmax, one per Friedel pair. */
static int reflections(const xg_structure *s, const double *bw, double gmin, double gmax,
                       reflection **out, size_t *nout, xg_error *err)
{
    double cr[3][3], rec[3][3];
    xg_vec3_cross(s->lattice[1], s->lattice[2], cr[0]);
    xg_vec3_cross(s->lattice[2], s->lattice[0], cr[1]);
    xg_vec3_cross(s->lattice[0], s->lattice[1], cr[2]);
    double det = xg_vec3_dot(s->lattice[0], cr[0]);
    double scale = sqrt(xg_vec3_dot(s->lattice[0], s->lattice[0]) *
                        xg_vec3_dot(s->lattice[1], s->lattice[1]) *
                        xg_vec3_dot(s->lattice[2], s->lattice[2]));
    if (!(fabs(det) > 1e-8 * scale) || !(fabs(det) > 1e-6))
        return xg_error_set(err, XG_EINVAL, "xrd: lattice of '%s' is degenerate (volume %.3g)",
                            s->id, det);
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++)
            rec[k][l] = cr[k][l] / det;
    int hm[3];
    double count = 1;
    for (int k = 0; k < 3; k++) {
        /* g . a_k = h_k, so |h_k| <= |g| |a_k| */
        double t = floor(gmax * sqrt(xg_vec3_dot(s->lattice[k], s->lattice[k])) + 1e-9);
        count *= 2 * t + 1;
        if (count > XG_XRD_MAX_REFL)
            return xg_error_set(err, XG_EUNSUPPORTED,
                                "xrd: cell of '%s' is too large for a pattern to this angle",
                                s->id);
        hm[k] = (int)t;
    }
    int n = s->natoms;
    /* distinct elements, so each form factor is computed once per reflection */
    int *elem = malloc(sizeof(int) * (size_t)n);
    int *zs = malloc(sizeof(int) * (size_t)n);
    double *fz = malloc(sizeof(double) * (size_t)n);
    double complex *ph[3] = {NULL, NULL, NULL};
    int w[3] = {2 * hm[0] + 1, 2 * hm[1] + 1, 2 * hm[2] + 1};
    size_t cap = 256, nr = 0;
    reflection *r = malloc(sizeof(reflection) * cap);
    int rc = XG_OK, ne = 0;
    if (!elem || !zs || !fz || !r)
        goto nomem;
    for (int i = 0; i < n; i++) {
        int e = 0;
        while (e < ne && zs[e] != s->types[i])
            e++;
        if (e == ne)
            zs[ne++] = s->types[i];
        elem[i] = e;
    }
    for (int k = 0; k < 3; k++) {
        ph[k] = malloc(sizeof(double complex) * (size_t)n * (size_t)w[k]);
        if (!ph[k])
            goto nomem;
        for (int i = 0; i < n; i++) {
            double x = s->frac[i][k] - floor(s->frac[i][k]);
            for (int h = -hm[k]; h <= hm[k]; h++)
                ph[k][(size_t)i * w[k] + h + hm[k]] = cexp(2.0 * XG_PI * I * h * x);
        }
    }
    double g2min = gmin * gmin, g2max = gmax * gmax;
    for (int h = 0; h <= hm[0]; h++)
        for (int k = (h == 0 ? 0 : -hm[1]); k <= hm[1]; k++)
            for (int l = (h == 0 && k == 0 ? 1 : -hm[2]); l <= hm[2]; l++) {
                double g[3];
                for (int c = 0; c < 3; c++)
                    g[c] = h * rec[0][c] + k * rec[1][c] + l * rec[2][c];
                double g2 = xg_vec3_dot(g, g);
                if (g2 > g2max || g2 < g2min || g2 == 0.0)
                    continue;
                double gs = sqrt(g2), sv = gs / 2.0, s2 = sv * sv;
                for (int e = 0; e < ne; e++) {
                    fz[e] = xg_xrd_form_factor(zs[e], sv);
                    if (bw)
                        fz[e] *= exp(-bw[zs[e]] * s2);
                }
                double complex F = 0.0;
                for (int i = 0; i < n; i++)
                    F += (s->occu ? s->occu[i] : 1.0) * fz[elem[i]] * ph[0][(size_t)i * w[0] + h + hm[0]] *
                         ph[1][(size_t)i * w[1] + k + hm[1]] * ph[2][(size_t)i * w[2] + l + hm[2]];
                if (nr == cap) {
                    cap *= 2;
                    reflection *t = realloc(r, sizeof(reflection) * cap);
                    if (!t)
                        goto nomem;
                    r = t;
                }
                r[nr].g = gs;
                /* the Friedel mate -g has the conjugate F: same |F|^2 */
                r[nr].f2 = 2.0 * (creal(F) * creal(F) + cimag(F) * cimag(F));
                int a[3] = {h, k, l}, b[3] = {-h, -k, -l};
                memcpy(r[nr].hkl, hkl_greater(a, b) ? a : b, sizeof a);
                nr++;
            }
    *out = r;
    *nout = nr;
    r = NULL;
    goto done;
nomem:
    rc = xg_error_set(err, XG_ENOMEM, "xrd: out of memory");
done:
    free(r);
    free(elem);
    free(zs);
    free(fz);
    for (int k = 0; k < 3; k++)
        free(ph[k]);
    return rc;
}

int xg_xrd_peaks(const xg_structure *s, const xg_xrd_params *p, xg_xrd_pattern *out,
                 xg_error *err)
{
    xg_xrd_params def;
    if (!p) {
        xg_xrd_params_default(&def);
        p = &def;
    }
    if (!out)
        return xg_error_set(err, XG_EINVAL, "xrd: NULL pattern");
    out->n = 0;
    out->peaks = NULL;
    int rc = validate_structure(s, err);
    if (rc)
        return rc;
    double lam[2] = {p->radiation.lambda1, p->radiation.lambda2};
    double wgt[2] = {1.0, p->radiation.ratio2};
    int nl = (lam[1] > 0 && wgt[1] > 0) ? 2 : 1;
    for (int j = 0; j < nl; j++)
        if (!(lam[j] > 0) || !isfinite(lam[j]) || !isfinite(wgt[j]))
            return xg_error_set(err, XG_EINVAL, "xrd: bad wavelength %g", lam[j]);
    double t0 = p->two_theta_min, t1 = p->two_theta_max;
    if (!(t0 >= 0) || !(t1 > t0) || !(t1 <= 180.0))
        return xg_error_set(err, XG_EINVAL,
                            "xrd: 2theta range %g..%g degrees is not within 0..180",
                            t0, t1);
    double gmin = INFINITY, gmax = 0;
    for (int j = 0; j < nl; j++) {
        double lo = 2.0 * sin(t0 / 2.0 * DEG) / lam[j], hi = 2.0 * sin(t1 / 2.0 * DEG) / lam[j];
        gmin = fmin(gmin, lo);
        gmax = fmax(gmax, hi);
    }
    reflection *r = NULL;
    size_t nr = 0;
    if ((rc = reflections(s, p->debye_waller, gmin * (1 - 1e-12), gmax * (1 + 1e-12), &r, &nr, err)))
        return rc;
    line_peak *lp = malloc(sizeof(line_peak) * (nr * nl + 1));
    if (!lp) {
        free(r);
        return xg_error_set(err, XG_ENOMEM, "xrd: out of memory");
    }
    size_t np = 0;
    for (int j = 0; j < nl; j++)
        for (size_t i = 0; i < nr; i++) {
            double st = lam[j] * r[i].g / 2.0;
            if (st >= 1.0)
                continue;
            double th = asin(st), tt = 2.0 * th / DEG;
            if (tt < t0 || tt > t1)
                continue;
            double c2 = cos(2.0 * th);
            double lpf = (1.0 + c2 * c2) / (st * st * cos(th));
            lp[np].tt = tt;
            lp[np].inten = r[i].f2 * lpf * wgt[j];
            lp[np].refl = (int)i;
            lp[np].line = j;
            np++;
        }
    qsort(lp, np, sizeof *lp, cmp_line_peak);
    xg_xrd_peak *pk = malloc(sizeof(xg_xrd_peak) * (np + 1));
    if (!pk) {
        free(r);
        free(lp);
        return xg_error_set(err, XG_ENOMEM, "xrd: out of memory");
    }
    /* Merge equal 2theta per line: the first (lowest) 2theta of a group names the peak. */
    double tol = p->merge_tol > 0 ? p->merge_tol : 1e-5;
    int npk = 0;
    for (int j = 0; j < nl; j++) {
        int open = -1;
        for (size_t i = 0; i < np; i++) {
            if (lp[i].line != j)
                continue;
            const reflection *rf = &r[lp[i].refl];
            if (open >= 0 && lp[i].tt - pk[open].two_theta < tol) {
                pk[open].intensity += lp[i].inten;
                pk[open].multiplicity += 2;
                if (hkl_greater(rf->hkl, pk[open].hkl))
                    memcpy(pk[open].hkl, rf->hkl, sizeof rf->hkl);
                continue;
            }
            open = npk++;
            pk[open].two_theta = lp[i].tt;
            pk[open].d = 1.0 / rf->g;
            pk[open].intensity = lp[i].inten;
            memcpy(pk[open].hkl, rf->hkl, sizeof rf->hkl);
            pk[open].multiplicity = 2;
            pk[open].line = j;
        }
    }
    free(lp);
    free(r);
    double mx = 0;
    for (int i = 0; i < npk; i++)
        mx = fmax(mx, pk[i].intensity);
    int m = 0;
    for (int i = 0; i < npk; i++) {
        if (mx > 0 && pk[i].intensity / mx * 100.0 <= p->min_intensity)
            continue;
        pk[m] = pk[i];
        if (!p->unscaled && mx > 0)
            pk[m].intensity *= 100.0 / mx;
        m++;
    }
    /* lines were merged separately; interleave them by angle (two sorted runs) */
    for (int i = 1; i < m; i++) {
        xg_xrd_peak t = pk[i];
        int k = i - 1;
        while (k >= 0 && pk[k].two_theta > t.two_theta) {
            pk[k + 1] = pk[k];
            k--;
        }
        pk[k + 1] = t;
    }
    out->n = m;
    out->peaks = pk;
    return XG_OK;
}

/* ---- profile ---- */

int xg_xrd_profile(const xg_xrd_pattern *pat, double two_theta0, double step, int n, double fwhm,
                   double eta, double *y, xg_error *err)
{
    if (!pat || !y || n <= 0 || !(step > 0) || !isfinite(two_theta0) || !(fwhm > 0) ||
        !isfinite(fwhm) || !(eta >= 0 && eta <= 1))
        return xg_error_set(err, XG_EINVAL,
                            "xrd: profile needs n > 0, step > 0, fwhm > 0, 0 <= eta <= 1");
    memset(y, 0, sizeof(double) * (size_t)n);
    /* the Lorentzian is 1e-4 of its height 50 widths out: far enough */
    double reach = 50.0 * fwhm, g = 4.0 * log(2.0) / (fwhm * fwhm), l = 4.0 / (fwhm * fwhm);
    for (int k = 0; k < pat->n; k++) {
        double c = pat->peaks[k].two_theta, a = pat->peaks[k].intensity;
        long i0 = (long)floor((c - reach - two_theta0) / step), i1 = (long)ceil((c + reach - two_theta0) / step);
        if (i1 < 0 || i0 >= n)
            continue;
        if (i0 < 0)
            i0 = 0;
        if (i1 >= n)
            i1 = n - 1;
        for (long i = i0; i <= i1; i++) {
            double x = two_theta0 + i * step - c, x2 = x * x;
            y[i] += a * (eta / (1.0 + l * x2) + (1.0 - eta) * exp(-g * x2));
        }
    }
    return XG_OK;
}

/* ---- measured patterns ---- */

void xg_xrd_measured_free(xg_xrd_measured *m)
{
    if (!m)
        return;
    free(m->y);
    free(m->sigma);
    m->y = NULL;
    m->sigma = NULL;
    m->n = 0;
}

/* Numbers on a line (comma, semicolon or whitespace separated); -1 if a token is not a number. */
static int line_numbers(char *line, double *v, int max)
{
    int k = 0;
    char *p = line;
    for (;;) {
        while (*p && (isspace((unsigned char)*p) || *p == ',' || *p == ';'))
            p++;
        if (!*p)
            return k;
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno || !isfinite(x))
            return -1;
        if (*end && !isspace((unsigned char)*end) && *end != ',' && *end != ';')
            return -1;
        if (k < max)
            v[k] = x;
        k++;
        p = end;
    }
}

static int grow(double **a, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 1024;
    while (c < need)
        c *= 2;
    double *t = realloc(*a, sizeof(double) * c);
    if (!t)
        return -1;
    *a = t;
    *cap = c;
    return 0;
}

int xg_xrd_measured_read(const char *path, xg_xrd_measured *out, xg_error *err)
{
    if (!out)
        return xg_error_set(err, XG_EINVAL, "xrd: NULL output");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f)
        return xg_error_set(err, XG_EIO, "%s: cannot open: %s", path, strerror(errno));
    char line[8192];
    double *x = NULL, *yv = NULL, *sv = NULL, hdr[3] = {0};
    size_t nx = 0, capx = 0, capy = 0, caps = 0;
    int all_sigma = 1; /* every data line carried a positive third column (xye) */
    int lineno = 0, mode = 0; /* 0 undecided, 1 two-column, 2 start/step/end + intensities */
    int rc = XG_OK, data_lines = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: line too long", path, lineno);
            goto fail;
        }
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#' || *p == ';' || *p == '!' || *p == '\'' || *p == '"')
            continue;
        double v[3];
        int k = line_numbers(p, v, 3);
        if (k < 0) {
            if (data_lines == 0)
                continue; /* a text header ("2theta intensity", instrument lines) */
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: expected numbers, got '%.40s'", path,
                              lineno, p);
            goto fail;
        }
        if (k == 0)
            continue;
        if (k == 1 && data_lines == 0 && mode == 0)
            continue; /* a lone number in a header (FullProf's temperature, a point count) */
        data_lines++;
        if (mode == 0) {
            if (k == 3) {
                /* "start step end" header, or three-column data (2theta I sigma): the next
                 * data line decides; keep the numbers for either reading. */
                memcpy(hdr, v, sizeof hdr);
                mode = 3;
                continue;
            }
            if (k == 2 || k > 3) {
                mode = 1;
            } else {
                rc = xg_error_set(err, XG_EPARSE,
                                  "%s:%d: a single number where the pattern should start (need "
                                  "'2theta intensity' columns or a 'start step end' header)",
                                  path, lineno);
                goto fail;
            }
        } else if (mode == 3) {
            /* three columns again, continuing the first column by a small step: 2theta I sigma
             * data; anything else (one or many numbers) is intensities after a header */
            if (k == 2 || (k == 3 && v[0] > hdr[0] && v[0] - hdr[0] < 1.0)) {
                mode = 1; /* it was data: keep the first line as a point */
                if (grow(&x, &capx, nx + 1) || grow(&yv, &capy, nx + 1) ||
                    grow(&sv, &caps, nx + 1))
                    goto nomem;
                x[nx] = hdr[0];
                yv[nx] = hdr[1];
                sv[nx] = hdr[2];
                all_sigma &= hdr[2] > 0;
                nx++;
            } else {
                mode = 2;
            }
        }
        if (mode == 1) {
            if (k < 2) {
                rc = xg_error_set(err, XG_EPARSE, "%s:%d: expected '2theta intensity'", path,
                                  lineno);
                goto fail;
            }
            if (grow(&x, &capx, nx + 1) || grow(&yv, &capy, nx + 1) || grow(&sv, &caps, nx + 1))
                goto nomem;
            x[nx] = v[0];
            yv[nx] = v[1];
            sv[nx] = k >= 3 ? v[2] : 0;
            all_sigma &= k >= 3 && v[2] > 0;
            nx++;
        } else { /* mode 2: any number of intensities per line */
            double *vals = NULL;
            int nv = line_numbers(p, NULL, 0);
            vals = malloc(sizeof(double) * (size_t)nv);
            if (!vals)
                goto nomem;
            line_numbers(p, vals, nv);
            if (grow(&yv, &capy, nx + (size_t)nv)) {
                free(vals);
                goto nomem;
            }
            memcpy(yv + nx, vals, sizeof(double) * (size_t)nv);
            nx += (size_t)nv;
            free(vals);
        }
    }
    if (ferror(f)) {
        rc = xg_error_set(err, XG_EIO, "%s: read error", path);
        goto fail;
    }
    if (mode == 3) { /* a lone three-number line: one point of three-column data is no pattern */
        rc = xg_error_set(err, XG_EPARSE, "%s: only one data line", path);
        goto fail;
    }
    if (nx < 8) {
        rc = xg_error_set(err, XG_EPARSE, "%s: %zu points is not a pattern (need at least 8)",
                          path, nx);
        goto fail;
    }
    if (mode == 2) {
        double start = hdr[0], step = hdr[1], end = hdr[2];
        if (!(step > 0) || !(end > start) || start < 0 || end > 180) {
            rc = xg_error_set(err, XG_EPARSE,
                              "%s: header 'start step end' = %g %g %g is not a valid 2theta range",
                              path, start, step, end);
            goto fail;
        }
        double expect = (end - start) / step + 1.0;
        if (fabs(expect - (double)nx) > 1.5) {
            rc = xg_error_set(err, XG_EPARSE,
                              "%s: header says %.0f points from %g to %g by %g, file has %zu", path,
                              expect, start, end, step, nx);
            goto fail;
        }
        out->two_theta0 = start;
        out->step = step;
        out->n = (int)nx;
        out->y = yv;
        yv = NULL;
        goto done;
    }
    /* two-column: increasing 2theta; regular grids pass through, irregular ones are resampled */
    for (size_t i = 1; i < nx; i++)
        if (!(x[i] > x[i - 1])) {
            rc = xg_error_set(err, XG_EPARSE, "%s: 2theta must increase (%g after %g)", path, x[i],
                              x[i - 1]);
            goto fail;
        }
    if (x[0] < 0 || x[nx - 1] > 180) {
        rc = xg_error_set(err, XG_EPARSE, "%s: 2theta %g..%g outside 0..180 degrees", path, x[0],
                          x[nx - 1]);
        goto fail;
    }
    {
        double *d = malloc(sizeof(double) * (nx - 1));
        if (!d)
            goto nomem;
        for (size_t i = 1; i < nx; i++)
            d[i - 1] = x[i] - x[i - 1];
        /* median step (insertion sort: steps of a scan are nearly all equal, so it is ~linear) */
        for (size_t i = 1; i < nx - 1; i++) {
            double t = d[i];
            size_t k = i;
            while (k > 0 && d[k - 1] > t) {
                d[k] = d[k - 1];
                k--;
            }
            d[k] = t;
        }
        double step = d[(nx - 1) / 2];
        free(d);
        int n = (int)floor((x[nx - 1] - x[0]) / step + 1e-6) + 1;
        if (n > 2000000) {
            rc = xg_error_set(err, XG_EPARSE, "%s: pattern too finely sampled (%d points)", path, n);
            goto fail;
        }
        double *y = malloc(sizeof(double) * (size_t)n);
        double *sg = all_sigma ? malloc(sizeof(double) * (size_t)n) : NULL;
        if (!y || (all_sigma && !sg)) {
            free(y);
            goto nomem;
        }
        size_t j = 0;
        for (int i = 0; i < n; i++) {
            double t = x[0] + i * step;
            while (j + 1 < nx - 1 && x[j + 1] < t)
                j++;
            double u = (t - x[j]) / (x[j + 1] - x[j]);
            u = u < 0 ? 0 : (u > 1 ? 1 : u);
            y[i] = yv[j] + u * (yv[j + 1] - yv[j]);
            if (sg)
                sg[i] = sv[j] + u * (sv[j + 1] - sv[j]);
        }
        out->two_theta0 = x[0];
        out->step = step;
        out->n = n;
        out->y = y;
        out->sigma = sg;
    }
    goto done;
nomem:
    rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
fail:
done:
    fclose(f);
    free(x);
    free(yv);
    free(sv);
    return rc;
}

int xg_xrd_background_subtract(xg_xrd_measured *m, double window, xg_error *err)
{
    if (!m || !m->y || m->n <= 0 || !(m->step > 0))
        return xg_error_set(err, XG_EINVAL, "xrd: empty pattern");
    if (!(window > 0))
        window = 3.0;
    int n = m->n, h = (int)ceil(window / m->step / 2.0);
    if (h < 1)
        h = 1;
    double *a = malloc(sizeof(double) * (size_t)n), *b = malloc(sizeof(double) * (size_t)n);
    if (!a || !b) {
        free(a);
        free(b);
        return xg_error_set(err, XG_ENOMEM, "xrd: out of memory");
    }
    /* opening = max filter of the min filter: follows the baseline under any peak narrower than
     * the window. O(n h): n is a few thousand points. */
    for (int i = 0; i < n; i++) {
        double v = INFINITY;
        for (int k = (i - h < 0 ? 0 : i - h); k <= (i + h >= n ? n - 1 : i + h); k++)
            v = fmin(v, m->y[k]);
        a[i] = v;
    }
    for (int i = 0; i < n; i++) {
        double v = -INFINITY;
        for (int k = (i - h < 0 ? 0 : i - h); k <= (i + h >= n ? n - 1 : i + h); k++)
            v = fmax(v, a[k]);
        b[i] = v;
    }
    /* smooth the stair steps of the opening with a moving average over the same window */
    double sum = 0;
    int lo = 0, hi = -1;
    for (int i = 0; i < n; i++) {
        int want_lo = i - h < 0 ? 0 : i - h, want_hi = i + h >= n ? n - 1 : i + h;
        while (hi < want_hi)
            sum += b[++hi];
        while (lo < want_lo)
            sum -= b[lo++];
        a[i] = sum / (hi - lo + 1);
    }
    for (int i = 0; i < n; i++) {
        /* the smoothed opening may bulge above the opening itself at peak feet: take the lower */
        double v = m->y[i] - fmin(a[i], b[i]);
        m->y[i] = v > 0 ? v : 0;
    }
    free(a);
    free(b);
    return XG_OK;
}

/* ---- matching ---- */

void xg_xrd_match_params_default(xg_xrd_match_params *p)
{
    memset(p, 0, sizeof *p);
    p->radiation.lambda1 = 1.54184;
    p->fwhm = 0.1;
    p->eta = 0.5;
    p->scale_min = 0.97;
    p->scale_max = 1.03;
    p->scale_step = 0.0025;
    p->max_shift = 0.3;
}

typedef struct {
    const xg_xrd_measured *m;
    const xg_xrd_match_params *p;
    xg_structure scaled;      /* shares types/frac with the candidate, own lattice */
    const xg_structure *orig;
    int L, N;                 /* shift reach in points; FFT length */
    double *bext, *prefix, *prefix2, *work;
    fftw_complex *A, *B;
    fftw_plan plan_b, plan_inv;
    double norm_a;
} match_ws;

/* Best correlation over all shifts for one lattice scale. */
static int match_one_scale(match_ws *w, double scale, double *best, double *best_shift,
                           xg_error *err)
{
    const xg_xrd_measured *m = w->m;
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++)
            w->scaled.lattice[k][l] = w->orig->lattice[k][l] * scale;
    xg_xrd_params pp;
    xg_xrd_params_default(&pp);
    pp.radiation = w->p->radiation;
    double lo = m->two_theta0 - w->L * m->step, hi = m->two_theta0 + (m->n - 1 + w->L) * m->step;
    /* peaks just outside the grid still leak in through their tails */
    pp.two_theta_min = fmax(0.0, lo - 10 * w->p->fwhm);
    pp.two_theta_max = fmin(179.0, hi + 10 * w->p->fwhm);
    xg_xrd_pattern pat;
    int rc = xg_xrd_peaks(&w->scaled, &pp, &pat, err);
    if (rc)
        return rc;
    int next = m->n + 2 * w->L;
    rc = xg_xrd_profile(&pat, lo, m->step, next, w->p->fwhm, w->p->eta, w->bext, err);
    xg_xrd_pattern_free(&pat);
    if (rc)
        return rc;
    /* prefix sums give the simulated window's mean and norm at every shift */
    w->prefix[0] = w->prefix2[0] = 0;
    for (int i = 0; i < next; i++) {
        w->prefix[i + 1] = w->prefix[i] + w->bext[i];
        w->prefix2[i + 1] = w->prefix2[i] + w->bext[i] * w->bext[i];
    }
    memset(w->work, 0, sizeof(double) * (size_t)w->N);
    memcpy(w->work, w->bext, sizeof(double) * (size_t)next);
    fftw_execute_dft_r2c(w->plan_b, w->work, w->B);
    int nh = w->N / 2 + 1;
    for (int i = 0; i < nh; i++)
        w->B[i] = conj(w->A[i]) * w->B[i];
    fftw_execute_dft_c2r(w->plan_inv, w->B, w->work);
    /* work[t] * N = sum_i a[i] b_ext[i + t]; t = L - shift_points */
    for (int t = 0; t <= 2 * w->L; t++) {
        double sb = w->prefix[t + m->n] - w->prefix[t];
        double sb2 = w->prefix2[t + m->n] - w->prefix2[t];
        double var = sb2 - sb * sb / m->n;
        if (!(var > 1e-300) || !(w->norm_a > 0))
            continue;
        double c = w->work[t] / w->N / (w->norm_a * sqrt(var));
        if (c > *best) {
            *best = c;
            *best_shift = (w->L - t) * m->step;
        }
    }
    return XG_OK;
}

int xg_xrd_match(const xg_xrd_measured *m, const xg_structure *s, const xg_xrd_match_params *p,
                 xg_xrd_match_result *out, xg_error *err)
{
    xg_xrd_match_params def;
    if (!p) {
        xg_xrd_match_params_default(&def);
        p = &def;
    }
    if (!m || !m->y || m->n < 8 || !(m->step > 0) || !out)
        return xg_error_set(err, XG_EINVAL, "xrd-match: empty measured pattern");
    if (!(p->scale_min > 0) || !(p->scale_max >= p->scale_min) || !(p->scale_step > 0) ||
        !(p->max_shift >= 0) || !(p->fwhm > 0) || (p->scale_max - p->scale_min) / p->scale_step > 1e5)
        return xg_error_set(err, XG_EINVAL, "xrd-match: bad scale range, shift or width");
    int rc = validate_structure(s, err);
    if (rc)
        return rc;
    match_ws w;
    memset(&w, 0, sizeof w);
    w.m = m;
    w.p = p;
    w.orig = s;
    w.scaled = *s;
    w.L = (int)ceil(p->max_shift / m->step);
    if (w.L > m->n)
        w.L = m->n;
    int next = m->n + 2 * w.L;
    w.N = xg_fft_good_size(next);
    int nh = w.N / 2 + 1;
    w.bext = malloc(sizeof(double) * (size_t)next);
    w.prefix = malloc(sizeof(double) * (size_t)(next + 1));
    w.prefix2 = malloc(sizeof(double) * (size_t)(next + 1));
    w.work = fftw_malloc(sizeof(double) * (size_t)w.N);
    w.A = fftw_malloc(sizeof(fftw_complex) * (size_t)nh);
    w.B = fftw_malloc(sizeof(fftw_complex) * (size_t)nh);
    if (!w.bext || !w.prefix || !w.prefix2 || !w.work || !w.A || !w.B) {
        rc = xg_error_set(err, XG_ENOMEM, "xrd-match: out of memory");
        goto done;
    }
    /* FFTW's planner is not thread-safe: callers running candidates in parallel share it. */
#pragma omp critical(xg_fftw_planner)
    {
        w.plan_b = fftw_plan_dft_r2c_1d(w.N, w.work, w.B, FFTW_ESTIMATE);
        w.plan_inv = fftw_plan_dft_c2r_1d(w.N, w.B, w.work, FFTW_ESTIMATE);
    }
    if (!w.plan_b || !w.plan_inv) {
        rc = xg_error_set(err, XG_ELIB, "xrd-match: FFTW could not plan length %d",
                          w.N);
        goto done;
    }
    /* measured, mean-removed, zero-padded: its transform is reused for every scale */
    double mean = 0;
    for (int i = 0; i < m->n; i++)
        mean += m->y[i];
    mean /= m->n;
    memset(w.work, 0, sizeof(double) * (size_t)w.N);
    double na = 0;
    for (int i = 0; i < m->n; i++) {
        w.work[i] = m->y[i] - mean;
        na += w.work[i] * w.work[i];
    }
    w.norm_a = sqrt(na);
    fftw_execute_dft_r2c(w.plan_b, w.work, w.A);
    double best = -2, shift = 0, scale = 1.0;
    /* coarse scan, then a fine one around the best coarse scale */
    int ns = (int)floor((p->scale_max - p->scale_min) / p->scale_step + 1e-9) + 1;
    for (int i = 0; i < ns; i++) {
        double sc = p->scale_min + i * p->scale_step, b = -2, sh = 0;
        if ((rc = match_one_scale(&w, sc, &b, &sh, err)))
            goto done;
        if (b > best) {
            best = b;
            shift = sh;
            scale = sc;
        }
    }
    double c0 = scale, fine = p->scale_step / 5.0;
    for (int i = -4; i <= 4; i++) {
        double sc = c0 + i * fine, b = -2, sh = 0;
        if (i == 0 || sc < p->scale_min - 1e-12 || sc > p->scale_max + 1e-12)
            continue;
        if ((rc = match_one_scale(&w, sc, &b, &sh, err)))
            goto done;
        if (b > best) {
            best = b;
            shift = sh;
            scale = sc;
        }
    }
    out->score = best < -1 ? 0 : best;
    out->scale = scale;
    out->shift = shift;
done:
#pragma omp critical(xg_fftw_planner)
    {
        if (w.plan_b)
            fftw_destroy_plan(w.plan_b);
        if (w.plan_inv)
            fftw_destroy_plan(w.plan_inv);
    }
    free(w.bext);
    free(w.prefix);
    free(w.prefix2);
    fftw_free(w.work);
    fftw_free(w.A);
    fftw_free(w.B);
    return rc;
}
