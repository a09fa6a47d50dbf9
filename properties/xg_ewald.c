/* xg_ewald.c: direct Ewald sum and smooth particle-mesh Ewald (see xg_ewald.h).
 *
 * Notation: L rows are the lattice vectors a_k; fractional f, cartesian r = f L.
 * Reciprocal vectors with the 2 pi: b_k . a_l = 2 pi delta_kl, g = m1 b1 + m2 b2 + m3 b3.
 *   E_real  = k/2 sum_i sum_{j,n}' q_i q_j erfc(sqrt(eta) r) / r
 *   E_recip = k 2 pi / V sum_{g != 0} exp(-g^2 / (4 eta)) / g^2 |S(g)|^2, S(g) = sum_j q_j e^{i g.r_j}
 *   E_self  = -k sqrt(eta / pi) sum_i q_i^2
 *   E_bg    = -k pi Q^2 / (2 V eta)                      (only when Q = sum q != 0) */
#include "properties/xg_ewald.h"
#include "crystal/xg_vec3.h"
#include "crystal/xg_oxidation.h"
#include "properties/xg_fftsize.h"

/* complex.h first: fftw_complex is then C99's double complex */
#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XG_PI 3.14159265358979323846

/* A cell this lopsided would need more lattice translations than any sane run allows. */
#define XG_EWALD_MAX_TERMS 200000000.0

void xg_ewald_params_default(xg_ewald_params *p)
{
    memset(p, 0, sizeof *p);
    p->accuracy = 12.0;
}

double xg_ewald_madelung(double energy_per_formula_unit, double r0, double q)
{
    return -energy_per_formula_unit * r0 / (XG_COULOMB_EV_A * q * q);
}

typedef struct {
    double vol;          /* |det L| */
    double recip[3][3];  /* rows b_k with b_k . a_l = 2 pi delta_kl */
    double spacing[3];   /* distance between lattice planes (a_l, a_m): V / |a_l x a_m| */
    double len[3];       /* |a_k| */
} cell_info;

static int cell_setup(const xg_structure *s, cell_info *c, xg_error *err)
{
    double cr[3][3];
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++)
            if (!isfinite(s->lattice[k][l]))
                return xg_error_set(err, XG_EINVAL, "ewald: lattice of '%s' is not finite",
                                    s->id);
    xg_vec3_cross(s->lattice[1], s->lattice[2], cr[0]);
    xg_vec3_cross(s->lattice[2], s->lattice[0], cr[1]);
    xg_vec3_cross(s->lattice[0], s->lattice[1], cr[2]);
    double det = xg_vec3_dot(s->lattice[0], cr[0]);
    double scale = xg_vec3_norm(s->lattice[0]) * xg_vec3_norm(s->lattice[1]) * xg_vec3_norm(s->lattice[2]);
    if (!(fabs(det) > 1e-8 * scale) || !(fabs(det) > 1e-6))
        return xg_error_set(err, XG_EINVAL,
                            "ewald: lattice of '%s' is degenerate (volume %.3g A^3)",
                            s->id, det);
    c->vol = fabs(det);
    for (int k = 0; k < 3; k++) {
        for (int l = 0; l < 3; l++)
            c->recip[k][l] = 2.0 * XG_PI * cr[k][l] / det;
        c->spacing[k] = c->vol / xg_vec3_norm(cr[k]);
        c->len[k] = xg_vec3_norm(s->lattice[k]);
    }
    return XG_OK;
}

static int check_inputs(const xg_structure *s, const double *q, xg_error *err)
{
    if (!s || !q)
        return xg_error_set(err, XG_EINVAL, "ewald: NULL structure or charges");
    if (s->natoms <= 0)
        return xg_error_set(err, XG_EINVAL, "ewald: '%s' has no atoms", s->id);
    if (!s->frac)
        return xg_error_set(err, XG_EINVAL, "ewald: '%s' has no coordinates", s->id);
    for (int i = 0; i < s->natoms; i++) {
        if (!isfinite(q[i]))
            return xg_error_set(err, XG_EINVAL, "ewald: charge of site %d is not finite",
                                i);
        for (int k = 0; k < 3; k++)
            if (!isfinite(s->frac[i][k]) || fabs(s->frac[i][k]) > 1e6)
                return xg_error_set(err, XG_EINVAL,
                                    "ewald: coordinate of site %d of '%s' is not finite",
                                    i, s->id);
    }
    return XG_OK;
}

/* Cartesian positions of the atoms with fractional coordinates wrapped into [0, 1). */
static void wrapped(const xg_structure *s, double (*f)[3], double (*r)[3])
{
    for (int i = 0; i < s->natoms; i++) {
        for (int k = 0; k < 3; k++) {
            double x = s->frac[i][k] - floor(s->frac[i][k]);
            f[i][k] = x >= 1.0 ? 0.0 : x;
        }
        for (int l = 0; l < 3; l++)
            r[i][l] = f[i][0] * s->lattice[0][l] + f[i][1] * s->lattice[1][l] +
                      f[i][2] * s->lattice[2][l];
    }
}

/* ---- real space: shared by both methods ---- */

static int real_space(const xg_structure *s, const cell_info *c, const double (*f)[3],
                      const double *q, double sqrt_eta, double rmax, double *e_atom, double *e_sum,
                      xg_error *err)
{
    int n = s->natoms;
    int nm[3];
    double terms = (double)n * n;
    for (int k = 0; k < 3; k++) {
        /* After wrapping the frac difference into [-0.5, 0.5], an image farther than
         * rmax / spacing + 0.5 cells along the plane normal cannot be inside the sphere. */
        double t = floor(rmax / c->spacing[k] + 0.5) + 1.0;
        terms *= 2.0 * t + 1.0;
        if (terms > XG_EWALD_MAX_TERMS)
            return xg_error_set(err, XG_EUNSUPPORTED,
                                "ewald: real-space sum of '%s' (%d atoms, cutoff %.1f A) "
                                "too large for the direct method; use PME (xg_ewald_pme)",
                                s->id, n, rmax);
        nm[k] = (int)t;
    }
    int ntr = (2 * nm[0] + 1) * (2 * nm[1] + 1) * (2 * nm[2] + 1);
    double (*tr)[3] = malloc(sizeof(double[3]) * (size_t)ntr);
    if (!tr)
        return xg_error_set(err, XG_ENOMEM, "ewald: out of memory");
    int t = 0;
    for (int a = -nm[0]; a <= nm[0]; a++)
        for (int b = -nm[1]; b <= nm[1]; b++)
            for (int cc = -nm[2]; cc <= nm[2]; cc++, t++)
                for (int l = 0; l < 3; l++)
                    tr[t][l] = a * s->lattice[0][l] + b * s->lattice[1][l] + cc * s->lattice[2][l];
    double r2max = rmax * rmax, total = 0.0;
    /* Each thread writes only e_atom[i] of its own i: the pair is visited from both ends. */
#pragma omp parallel for schedule(dynamic) reduction(+ : total)
    for (int i = 0; i < n; i++) {
        double ei = 0.0;
        for (int j = 0; j < n; j++) {
            if (q[j] == 0.0)
                continue;
            double d[3], dc[3];
            for (int k = 0; k < 3; k++) {
                d[k] = f[j][k] - f[i][k];
                d[k] -= nearbyint(d[k]);
            }
            for (int l = 0; l < 3; l++)
                dc[l] = d[0] * s->lattice[0][l] + d[1] * s->lattice[1][l] + d[2] * s->lattice[2][l];
            double sj = 0.0;
            for (int u = 0; u < ntr; u++) {
                double x = dc[0] + tr[u][0], y = dc[1] + tr[u][1], z = dc[2] + tr[u][2];
                double r2 = x * x + y * y + z * z;
                if (r2 >= r2max || r2 < 1e-16)
                    continue;
                double r = sqrt(r2);
                sj += erfc(sqrt_eta * r) / r;
            }
            ei += q[j] * sj;
        }
        ei *= 0.5 * q[i] * XG_COULOMB_EV_A;
        e_atom[i] += ei;
        total += ei;
    }
    free(tr);
    *e_sum = total;
    return XG_OK;
}

/* ---- parameters ---- */

typedef struct {
    double eta, sqrt_eta, rmax, gmax, qtot;
} ewald_setup;

static int setup_params(const xg_structure *s, const double *q, const cell_info *c,
                        const xg_ewald_params *p, int pme, ewald_setup *e, xg_error *err)
{
    double acc = p->accuracy > 0 ? p->accuracy : 12.0;
    if (acc > 16)
        acc = 16;
    if (p->eta < 0 || p->real_cutoff < 0 || p->recip_cutoff < 0 || !isfinite(p->eta))
        return xg_error_set(err, XG_EINVAL, "ewald: negative eta or cutoff");
    double accf = sqrt(log(pow(10.0, acc)));
    if (p->eta > 0) {
        e->eta = p->eta;
    } else if (pme) {
        double rc = p->pme_real_cutoff > 0 ? p->pme_real_cutoff : 10.0;
        e->eta = (accf / rc) * (accf / rc);
    } else {
        const double w = 1.0 / sqrt(2.0);
        e->eta = cbrt(s->natoms * w / (c->vol * c->vol)) * XG_PI;
    }
    e->sqrt_eta = sqrt(e->eta);
    e->rmax = p->real_cutoff > 0 ? p->real_cutoff : accf / e->sqrt_eta;
    e->gmax = p->recip_cutoff > 0 ? p->recip_cutoff : 2.0 * e->sqrt_eta * accf;
    e->qtot = 0.0;
    double qscale = 0.0;
    for (int i = 0; i < s->natoms; i++) {
        e->qtot += q[i];
        qscale += fabs(q[i]);
    }
    if (fabs(e->qtot) <= 1e-8 * (qscale > 1 ? qscale : 1))
        e->qtot = 0.0;
    if (e->qtot != 0.0 && p->refuse_charged)
        return xg_error_set(err, XG_EINVAL, "ewald: cell of '%s' carries charge %g",
                            s->id, e->qtot);
    return XG_OK;
}

/* Self and background terms, added to per-atom energies and to the result. */
static void self_and_background(const xg_structure *s, const double *q, const cell_info *c,
                                const ewald_setup *e, double *e_atom, xg_ewald_result *out)
{
    double self = 0.0, pref = -XG_COULOMB_EV_A * sqrt(e->eta / XG_PI);
    for (int i = 0; i < s->natoms; i++) {
        double v = pref * q[i] * q[i];
        e_atom[i] += v;
        self += v;
    }
    double bg = 0.0;
    if (e->qtot != 0.0) {
        /* The uniform neutralising background: no site owns it, so it is shared equally. */
        bg = -XG_COULOMB_EV_A * XG_PI * e->qtot * e->qtot / (2.0 * c->vol * e->eta);
        for (int i = 0; i < s->natoms; i++)
            e_atom[i] += bg / s->natoms;
    }
    out->self = self;
    out->charged = bg;
}

/* ---- direct reciprocal space ---- */

static int recip_direct(const xg_structure *s, const cell_info *c, const double (*f)[3],
                        const double *q, const ewald_setup *e, double *e_atom, double *e_sum,
                        xg_error *err)
{
    int n = s->natoms, mm[3];
    double terms = n;
    for (int k = 0; k < 3; k++) {
        /* g . a_k = 2 pi m_k and |g . a_k| <= gmax |a_k|. */
        double t = floor(e->gmax * c->len[k] / (2.0 * XG_PI)) + 1.0;
        terms *= 2.0 * t + 1.0;
        if (terms > XG_EWALD_MAX_TERMS)
            return xg_error_set(err, XG_EUNSUPPORTED,
                                "ewald: cell of '%s' needs too many reciprocal vectors",
                                s->id);
        mm[k] = (int)t;
    }
    /* Phase tables e^{2 pi i m f}: a product of three table entries replaces a sincos per
     * (g, atom) pair. */
    int w[3] = {2 * mm[0] + 1, 2 * mm[1] + 1, 2 * mm[2] + 1};
    double complex *ph[3];
    for (int k = 0; k < 3; k++) {
        ph[k] = malloc(sizeof(double complex) * (size_t)n * (size_t)w[k]);
        if (!ph[k]) {
            for (int l = 0; l < k; l++)
                free(ph[l]);
            return xg_error_set(err, XG_ENOMEM, "ewald: out of memory");
        }
        for (int i = 0; i < n; i++)
            for (int m = -mm[k]; m <= mm[k]; m++)
                ph[k][(size_t)i * w[k] + m + mm[k]] = cexp(2.0 * XG_PI * I * m * f[i][k]);
    }
    /* Collect the half space of g vectors (g and -g give equal terms) inside the sphere. */
    size_t cap = 1024, ng = 0;
    int (*gm)[3] = malloc(sizeof(int[3]) * cap);
    double *coef = malloc(sizeof(double) * cap);
    double complex *sg = NULL;
    int rc = XG_OK;
    if (!gm || !coef)
        goto nomem;
    double g2max = e->gmax * e->gmax, pref = 2.0 * XG_PI / c->vol * XG_COULOMB_EV_A;
    for (int a = 0; a <= mm[0]; a++)
        for (int b = (a == 0 ? 0 : -mm[1]); b <= mm[1]; b++)
            for (int d = (a == 0 && b == 0 ? 1 : -mm[2]); d <= mm[2]; d++) {
                double g[3];
                for (int l = 0; l < 3; l++)
                    g[l] = a * c->recip[0][l] + b * c->recip[1][l] + d * c->recip[2][l];
                double g2 = xg_vec3_dot(g, g);
                if (g2 > g2max)
                    continue;
                if (ng == cap) {
                    cap *= 2;
                    void *p1 = realloc(gm, sizeof(int[3]) * cap);
                    if (!p1)
                        goto nomem;
                    gm = p1;
                    void *p2 = realloc(coef, sizeof(double) * cap);
                    if (!p2)
                        goto nomem;
                    coef = p2;
                }
                gm[ng][0] = a;
                gm[ng][1] = b;
                gm[ng][2] = d;
                /* factor 2 for the -g partner */
                coef[ng] = 2.0 * pref * exp(-g2 / (4.0 * e->eta)) / g2;
                ng++;
            }
    sg = malloc(sizeof(double complex) * (ng ? ng : 1));
    if (!sg)
        goto nomem;
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (size_t t = 0; t < ng; t++) {
        double complex acc = 0.0;
        for (int i = 0; i < n; i++)
            acc += q[i] * ph[0][(size_t)i * w[0] + gm[t][0] + mm[0]] *
                   ph[1][(size_t)i * w[1] + gm[t][1] + mm[1]] *
                   ph[2][(size_t)i * w[2] + gm[t][2] + mm[2]];
        sg[t] = acc;
        total += coef[t] * (creal(acc) * creal(acc) + cimag(acc) * cimag(acc));
    }
    /* Site i's share: q_i Re[conj(e^{i g.r_i}) S(g)], which sums to |S(g)|^2 over i. */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        double ei = 0.0;
        for (size_t t = 0; t < ng; t++) {
            double complex p = ph[0][(size_t)i * w[0] + gm[t][0] + mm[0]] *
                               ph[1][(size_t)i * w[1] + gm[t][1] + mm[1]] *
                               ph[2][(size_t)i * w[2] + gm[t][2] + mm[2]];
            ei += coef[t] * creal(conj(p) * sg[t]);
        }
        e_atom[i] += q[i] * ei;
    }
    *e_sum = total;
    goto done;
nomem:
    rc = xg_error_set(err, XG_ENOMEM, "ewald: out of memory");
done:
    free(sg);
    free(gm);
    free(coef);
    for (int k = 0; k < 3; k++)
        free(ph[k]);
    return rc;
}

/* ---- common driver ---- */

typedef int (*recip_fn)(const xg_structure *s, const cell_info *c, const double (*f)[3],
                        const double *q, const ewald_setup *e, const xg_ewald_params *p,
                        double *e_atom, double *e_sum, int grid[3], xg_error *err);

static int recip_direct_adapter(const xg_structure *s, const cell_info *c, const double (*f)[3],
                                const double *q, const ewald_setup *e, const xg_ewald_params *p,
                                double *e_atom, double *e_sum, int grid[3], xg_error *err)
{
    grid[0] = grid[1] = grid[2] = 0;
    return recip_direct(s, c, f, q, e, e_atom, e_sum, err);
}

static int recip_pme(const xg_structure *s, const cell_info *c, const double (*f)[3],
                     const double *q, const ewald_setup *e, const xg_ewald_params *p,
                     double *e_atom, double *e_sum, int grid[3], xg_error *err);

static int ewald_run(const xg_structure *s, const double *charges, const xg_ewald_params *params,
                     int pme, xg_ewald_result *out, double *per_atom, xg_error *err)
{
    /* point charges need whole atoms: a disordered crystal has no single Madelung energy */
    if (s && xg_structure_check_ordered(s, "Ewald", err))
        return XG_EUNSUPPORTED;
    xg_ewald_params defaults;
    if (!params) {
        xg_ewald_params_default(&defaults);
        params = &defaults;
    }
    if (!out)
        return xg_error_set(err, XG_EINVAL, "ewald: NULL result");
    memset(out, 0, sizeof *out);
    int rc = check_inputs(s, charges, err);
    if (rc)
        return rc;
    cell_info c;
    if ((rc = cell_setup(s, &c, err)))
        return rc;
    ewald_setup e;
    if ((rc = setup_params(s, charges, &c, params, pme, &e, err)))
        return rc;
    int n = s->natoms;
    double (*f)[3] = malloc(sizeof(double[3]) * (size_t)n);
    double (*r)[3] = malloc(sizeof(double[3]) * (size_t)n);
    double *ea = calloc((size_t)n, sizeof(double));
    if (!f || !r || !ea) {
        rc = xg_error_set(err, XG_ENOMEM, "ewald: out of memory");
        goto done;
    }
    wrapped(s, f, r);
    if ((rc = real_space(s, &c, (const double(*)[3])f, charges, e.sqrt_eta, e.rmax, ea, &out->real,
                         err)))
        goto done;
    recip_fn recip = pme ? recip_pme : recip_direct_adapter;
    if ((rc = recip(s, &c, (const double(*)[3])f, charges, &e, params, ea, &out->recip, out->grid,
                    err)))
        goto done;
    self_and_background(s, charges, &c, &e, ea, out);
    out->total = out->real + out->recip + out->self + out->charged;
    out->eta = e.eta;
    out->real_cutoff = e.rmax;
    out->recip_cutoff = e.gmax;
    if (!isfinite(out->total)) {
        rc = xg_error_set(err, XG_ENUMERIC, "ewald: energy of '%s' is not finite", s->id);
        goto done;
    }
    if (per_atom)
        memcpy(per_atom, ea, sizeof(double) * (size_t)n);
done:
    free(f);
    free(r);
    free(ea);
    return rc;
}

int xg_ewald_direct(const xg_structure *s, const double *charges, const xg_ewald_params *params,
                    xg_ewald_result *out, double *per_atom, xg_error *err)
{
    return ewald_run(s, charges, params, 0, out, per_atom, err);
}

int xg_ewald_pme(const xg_structure *s, const double *charges, const xg_ewald_params *params,
                 xg_ewald_result *out, double *per_atom, xg_error *err)
{
    return ewald_run(s, charges, params, 1, out, per_atom, err);
}

int xg_ewald_oxidation_energy(const xg_structure *s, double *energy_per_atom, int *oxi,
                              xg_ewald_result *out, xg_error *err)
{
    if (!s || s->natoms <= 0 || !energy_per_atom)
        return xg_error_set(err, XG_EINVAL, "ewald: empty structure or NULL output");
    *energy_per_atom = NAN;
    if (xg_structure_check_ordered(s, "Ewald", err))
        return XG_EUNSUPPORTED;
    int n = s->natoms;
    int *st = malloc(sizeof(int) * (size_t)n);
    double *q = malloc(sizeof(double) * (size_t)n);
    int rc = XG_OK;
    if (!st || !q) {
        rc = xg_error_set(err, XG_ENOMEM, "ewald: out of memory");
        goto done;
    }
    if ((rc = xg_oxidation_assign(s, st, err)))
        goto done;
    int nonzero = 0;
    for (int i = 0; i < n; i++) {
        q[i] = st[i];
        nonzero |= st[i] != 0;
    }
    if (!nonzero) {
        rc = xg_error_set(err, XG_EUNSUPPORTED,
                          "ewald: '%s' has no ionic charges (element or alloy)", s->id);
        goto done;
    }
    xg_ewald_result r;
    rc = n > 200 ? xg_ewald_pme(s, q, NULL, &r, NULL, err) : xg_ewald_direct(s, q, NULL, &r, NULL, err);
    if (rc)
        goto done;
    *energy_per_atom = r.total / n;
    if (out)
        *out = r;
    if (oxi)
        memcpy(oxi, st, sizeof(int) * (size_t)n);
done:
    free(st);
    free(q);
    return rc;
}

/* ---- smooth PME ---- */

/* w[j] = M_p(x + j), j = 0..p-1, for 0 <= x < 1: the cardinal B-spline of order p evaluated
 * at the p grid distances an atom at fractional grid offset x touches. */
static void bspline_weights(int p, double x, double *w)
{
    w[0] = x;
    w[1] = 1.0 - x;
    /* order 2: M_2(x) = x, M_2(x + 1) = 1 - x; raise the order one step at a time with
     * M_k(y) = [y M_{k-1}(y) + (k - y) M_{k-1}(y - 1)] / (k - 1). */
    for (int k = 3; k <= p; k++) {
        w[k - 1] = 0.0;
        for (int j = k - 1; j >= 0; j--) {
            double y = x + j;
            double a = j <= k - 2 ? w[j] : 0.0;
            double b = j >= 1 ? w[j - 1] : 0.0;
            w[j] = (y * a + (k - y) * b) / (k - 1);
        }
    }
}

/* |b(m)|^2 of Essmann eq. 4.4 for one axis: 1 / |sum_{j=0}^{p-2} M_p(j + 1) e^{2 pi i m j / K}|^2. */
static void bspline_moduli(int p, int K, double *bsq)
{
    double mv[16];
    bspline_weights(p, 0.0, mv); /* mv[j] = M_p(j); M_p(0) = 0 */
    for (int m = 0; m < K; m++) {
        double re = 0.0, im = 0.0;
        for (int j = 0; j <= p - 2; j++) {
            double arg = 2.0 * XG_PI * m * j / K;
            re += mv[j + 1] * cos(arg);
            im += mv[j + 1] * sin(arg);
        }
        double d = re * re + im * im;
        bsq[m] = d > 1e-14 ? 1.0 / d : -1.0;
    }
    /* Odd orders vanish at m = K/2: use the neighbours' mean there (Essmann's remedy). */
    for (int m = 0; m < K; m++)
        if (bsq[m] < 0) {
            double lo = bsq[(m + K - 1) % K], hi = bsq[(m + 1) % K];
            bsq[m] = 0.5 * ((lo > 0 ? lo : 0) + (hi > 0 ? hi : 0));
        }
}

static int recip_pme(const xg_structure *s, const cell_info *c, const double (*f)[3],
                     const double *q, const ewald_setup *e, const xg_ewald_params *p,
                     double *e_atom, double *e_sum, int grid[3], xg_error *err)
{
    int order = p->pme_order > 0 ? p->pme_order : 6;
    if (order < 3 || order > 12)
        return xg_error_set(err, XG_EINVAL, "ewald: PME order %d outside 3..12", order);
    double h = p->pme_spacing > 0 ? p->pme_spacing : 0.25;
    int K[3];
    double cells = 1.0;
    for (int k = 0; k < 3; k++) {
        if (p->pme_grid[k] > 0) {
            K[k] = p->pme_grid[k];
        } else {
            /* Resolve the reciprocal sphere (m_k up to gmax |a_k| / 2 pi) at least twice over
             * and the requested real-space spacing. */
            double need = ceil(c->len[k] / h);
            double nyq = 2.0 * ceil(e->gmax * c->len[k] / (2.0 * XG_PI)) + 1.0;
            if (need < nyq)
                need = nyq;
            if (need < 2 * order)
                need = 2 * order;
            if (need > 4096)
                return xg_error_set(err, XG_EUNSUPPORTED,
                                    "ewald: PME grid of %.0f points along axis %d is too "
                                    "large",
                                    need, k);
            K[k] = xg_fft_good_size((int)need);
        }
        if (K[k] < order)
            return xg_error_set(err, XG_EINVAL, "ewald: PME grid %d smaller than order %d",
                                K[k], order);
        cells *= K[k];
        grid[k] = K[k];
    }
    if (cells > 3e8)
        return xg_error_set(err, XG_EUNSUPPORTED, "ewald: PME grid too large");
    int n = s->natoms;
    size_t ntot = (size_t)K[0] * K[1] * K[2];
    int kh = K[2] / 2 + 1;
    size_t nc = (size_t)K[0] * K[1] * kh;
    double *Q = fftw_malloc(sizeof(double) * ntot);
    fftw_complex *F = fftw_malloc(sizeof(fftw_complex) * nc);
    double *bs[3] = {malloc(sizeof(double) * K[0]), malloc(sizeof(double) * K[1]),
                     malloc(sizeof(double) * K[2])};
    /* per atom: base grid index and p weights per axis */
    int (*base)[3] = malloc(sizeof(int[3]) * (size_t)n);
    double *wt = malloc(sizeof(double) * (size_t)n * 3 * order);
    fftw_plan fwd = NULL, bwd = NULL;
    int rc = XG_OK;
    if (!Q || !F || !bs[0] || !bs[1] || !bs[2] || !base || !wt) {
        rc = xg_error_set(err, XG_ENOMEM, "ewald: out of memory for the PME grid");
        goto done;
    }
    /* FFTW's planner is not thread-safe: callers running structures in parallel share it. */
#pragma omp critical(xg_fftw_planner)
    {
        fwd = fftw_plan_dft_r2c_3d(K[0], K[1], K[2], Q, F, FFTW_ESTIMATE);
        bwd = fftw_plan_dft_c2r_3d(K[0], K[1], K[2], F, Q, FFTW_ESTIMATE);
    }
    if (!fwd || !bwd) {
        rc = xg_error_set(err, XG_ELIB, "ewald: FFTW could not plan a %dx%dx%d transform",
                          K[0], K[1], K[2]);
        goto done;
    }
    for (int k = 0; k < 3; k++)
        bspline_moduli(order, K[k], bs[k]);
    /* Spread the charges. */
    memset(Q, 0, sizeof(double) * ntot);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            double u = f[i][k] * K[k];
            double fl = floor(u);
            base[i][k] = (int)fl;
            bspline_weights(order, u - fl, wt + ((size_t)i * 3 + k) * order);
        }
        if (q[i] == 0.0)
            continue;
        const double *w0 = wt + ((size_t)i * 3 + 0) * order, *w1 = w0 + order, *w2 = w1 + order;
        for (int a = 0; a < order; a++) {
            int ia = ((base[i][0] - a) % K[0] + K[0]) % K[0];
            for (int b = 0; b < order; b++) {
                int ib = ((base[i][1] - b) % K[1] + K[1]) % K[1];
                double qab = q[i] * w0[a] * w1[b];
                double *row = Q + ((size_t)ia * K[1] + ib) * K[2];
                for (int d = 0; d < order; d++) {
                    int id = ((base[i][2] - d) % K[2] + K[2]) % K[2];
                    row[id] += qab * w2[d];
                }
            }
        }
    }
    fftw_execute(fwd);
    /* Multiply by the influence function C(m) B(m); accumulate the energy from the half spectrum.
     * C(m) = exp(-pi^2 |m~|^2 / eta) / (pi V |m~|^2), m~ = sum m_k a*_k (no 2 pi). */
    double total = 0.0, pi2_eta = XG_PI * XG_PI / e->eta;
    double pref = XG_COULOMB_EV_A / (XG_PI * c->vol);
    for (int a = 0; a < K[0]; a++) {
        int ma = a <= K[0] / 2 ? a : a - K[0];
        for (int b = 0; b < K[1]; b++) {
            int mb = b <= K[1] / 2 ? b : b - K[1];
            for (int d = 0; d < kh; d++) {
                size_t idx = ((size_t)a * K[1] + b) * kh + d;
                if (a == 0 && b == 0 && d == 0) {
                    F[idx] = 0.0;
                    continue;
                }
                double mt[3];
                for (int l = 0; l < 3; l++)
                    mt[l] = (ma * c->recip[0][l] + mb * c->recip[1][l] + d * c->recip[2][l]) /
                            (2.0 * XG_PI);
                double m2 = xg_vec3_dot(mt, mt);
                double cb = pref * exp(-pi2_eta * m2) / m2 * bs[0][a] * bs[1][b] * bs[2][d];
                /* the c2r half spectrum holds m3 and -m3 once, except m3 = 0 and K3/2 */
                double mult = (d == 0 || (K[2] % 2 == 0 && d == K[2] / 2)) ? 1.0 : 2.0;
                total += 0.5 * mult * cb * (creal(F[idx]) * creal(F[idx]) + cimag(F[idx]) * cimag(F[idx]));
                F[idx] *= cb;
            }
        }
    }
    /* Potential on the grid: phi = c2r(C B F); E_i = q_i/2 sum over its stencil w phi. */
    fftw_execute(bwd);
    for (int i = 0; i < n; i++) {
        if (q[i] == 0.0)
            continue;
        const double *w0 = wt + ((size_t)i * 3 + 0) * order, *w1 = w0 + order, *w2 = w1 + order;
        double acc = 0.0;
        for (int a = 0; a < order; a++) {
            int ia = ((base[i][0] - a) % K[0] + K[0]) % K[0];
            for (int b = 0; b < order; b++) {
                int ib = ((base[i][1] - b) % K[1] + K[1]) % K[1];
                const double *row = Q + ((size_t)ia * K[1] + ib) * K[2];
                double sab = 0.0;
                for (int d = 0; d < order; d++) {
                    int id = ((base[i][2] - d) % K[2] + K[2]) % K[2];
                    sab += w2[d] * row[id];
                }
                acc += w0[a] * w1[b] * sab;
            }
        }
        e_atom[i] += 0.5 * q[i] * acc;
    }
    *e_sum = total;
done:
#pragma omp critical(xg_fftw_planner)
    {
        if (fwd)
            fftw_destroy_plan(fwd);
        if (bwd)
            fftw_destroy_plan(bwd);
    }
    fftw_free(Q);
    fftw_free(F);
    for (int k = 0; k < 3; k++)
        free(bs[k]);
    free(base);
    free(wt);
    return rc;
}
