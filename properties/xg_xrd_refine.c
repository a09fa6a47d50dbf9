/* xg_xrd_refine.c: whole-pattern refinement with structure intensities (xg_xrd_refine.h). */
#include "properties/xg_xrd_refine.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_vector.h>

#include "crystal/xg_lattice.h"
#include "crystal/xg_symmetry.h"

#define XG_PI 3.14159265358979323846
#define DEG (XG_PI / 180.0)
#define MAXE 16       /* distinct elements of a model */
#define REACH 30.0    /* profile evaluated within REACH FWHM of a peak */

void xg_xrd_refine_params_default(xg_xrd_refine_params *p)
{
    memset(p, 0, sizeof *p);
    p->radiation.lambda1 = 1.54184;
    p->nbkg = 6;
    p->fwhm0 = 0.1;
    p->eta0 = 0.5;
    p->lattice_scale0 = 1.0;
    p->zero0 = 0.0;
    p->refine_uv = 1;
    p->refine_eta = 1;
    p->symprec = 0.01;
    p->max_iter = 200;
}

void xg_xrd_refine_result_free(xg_xrd_refine_result *r)
{
    if (!r)
        return;
    xg_structure_free(r->cell);
    free(r->calc);
    free(r->background);
    r->cell = NULL;
    r->calc = r->background = NULL;
}

/* ---- the conventional cell of a possibly disordered model ---- */

/* Entries of a disordered structure grouped into sites (one position each); every distinct
 * combination of (element, occupancy) on a site gets a label 1..103, which spglib sees as the
 * "element", so symmetry respects the disorder; the conventional cell is then mapped back. */
static int conventional(const xg_structure *s, double symprec, xg_structure **out, int *sg,
                        char sym[16], xg_error *err)
{
    *sg = 1;
    snprintf(sym, 16, "P1");
    if (!s->occu) {
        int rc = xg_symmetry_conventional(s, symprec, out, err);
        if (rc == XG_OK && xg_symmetry_spacegroup(*out, symprec, sg, sym, NULL) != XG_OK)
            *sg = 1;
        return rc;
    }
    int n = s->natoms, ns = 0, nk = 0;
    int *site = malloc(sizeof(int) * (size_t)n), *rep = malloc(sizeof(int) * (size_t)n);
    int *kind = malloc(sizeof(int) * (size_t)n), *krep = malloc(sizeof(int) * (size_t)n);
    xg_structure *ps = NULL, *pc = NULL, *res = NULL;
    int rc = XG_OK;
    if (!site || !rep || !kind || !krep) {
        rc = xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        site[i] = -1;
        for (int j = 0; j < ns && site[i] < 0; j++) {
            double d = 0;
            for (int k = 0; k < 3; k++) {
                double t = s->frac[i][k] - s->frac[rep[j]][k];
                d = fmax(d, fabs(t - rint(t)));
            }
            if (d < 1e-4)
                site[i] = j;
        }
        if (site[i] < 0) {
            rep[ns] = i;
            site[i] = ns++;
        }
    }
    /* a site's kind: the multiset of (Z, occupancy) of its entries, compared entry by entry */
    for (int j = 0; j < ns; j++) {
        kind[j] = -1;
        for (int q = 0; q < nk && kind[j] < 0; q++) {
            int same = 1, cnt_a = 0, cnt_b = 0;
            for (int i = 0; i < n; i++) {
                if (site[i] == j)
                    cnt_a++;
                if (site[i] == site[krep[q]])
                    cnt_b++;
            }
            same = cnt_a == cnt_b;
            for (int i = 0; i < n && same; i++) {
                if (site[i] != j)
                    continue;
                int found = 0;
                for (int i2 = 0; i2 < n; i2++)
                    if (site[i2] == site[krep[q]] && s->types[i2] == s->types[i] &&
                        fabs(s->occu[i2] - s->occu[i]) < 1e-6)
                        found = 1;
                same = found;
            }
            if (same)
                kind[j] = q;
        }
        if (kind[j] < 0) {
            if (nk == 103) {
                rc = xg_error_set(err, XG_EUNSUPPORTED,
                                  "xrd-refine: '%s' has more than 103 kinds of disordered site",
                                  s->id);
                goto done;
            }
            krep[nk] = rep[j];
            kind[j] = nk++;
        }
    }
    ps = xg_structure_alloc(ns);
    if (!ps) {
        rc = xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
        goto done;
    }
    memcpy(ps->lattice, s->lattice, sizeof ps->lattice);
    memcpy(ps->id, s->id, sizeof ps->id);
    for (int j = 0; j < ns; j++) {
        ps->types[j] = kind[j] + 1;
        memcpy(ps->frac[j], s->frac[rep[j]], sizeof ps->frac[j]);
    }
    if ((rc = xg_symmetry_conventional(ps, symprec, &pc, err)))
        goto done;
    if (xg_symmetry_spacegroup(pc, symprec, sg, sym, NULL) != XG_OK)
        *sg = 1;
    /* back: every conventional site becomes the entries of its kind */
    int total = 0;
    for (int a = 0; a < pc->natoms; a++) {
        int q = pc->types[a] - 1, r = site[krep[q]];
        for (int i = 0; i < n; i++)
            total += site[i] == r;
    }
    res = xg_structure_alloc(total);
    if (!res || xg_structure_occu_alloc(res, err)) {
        rc = xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
        goto done;
    }
    memcpy(res->lattice, pc->lattice, sizeof res->lattice);
    memcpy(res->id, s->id, sizeof res->id);
    int t = 0;
    for (int a = 0; a < pc->natoms; a++) {
        int q = pc->types[a] - 1, r = site[krep[q]];
        for (int i = 0; i < n; i++)
            if (site[i] == r) {
                res->types[t] = s->types[i];
                res->occu[t] = s->occu[i];
                memcpy(res->frac[t], pc->frac[a], sizeof res->frac[t]);
                t++;
            }
    }
    *out = res;
    res = NULL;
done:
    free(site);
    free(rep);
    free(kind);
    free(krep);
    xg_structure_free(ps);
    xg_structure_free(pc);
    xg_structure_free(res);
    return rc;
}

/* ---- model ---- */

enum { SYS_TRICLINIC, SYS_MONOCLINIC, SYS_ORTHO, SYS_TETRA, SYS_TRIGONAL, SYS_HEX, SYS_CUBIC };
static const char *const k_sys_name[] = {"triclinic", "monoclinic", "orthorhombic", "tetragonal",
                                         "trigonal", "hexagonal", "cubic"};

static int crystal_system(int sg)
{
    if (sg <= 2)
        return SYS_TRICLINIC;
    if (sg <= 15)
        return SYS_MONOCLINIC;
    if (sg <= 74)
        return SYS_ORTHO;
    if (sg <= 142)
        return SYS_TETRA;
    if (sg <= 167)
        return SYS_TRIGONAL;
    if (sg <= 194)
        return SYS_HEX;
    return SYS_CUBIC;
}

/* free lattice parameters of a system, as indices into (a, b, c, alpha, beta, gamma) */
static int lattice_free(int sys, int idx[6])
{
    switch (sys) {
    case SYS_CUBIC:
        idx[0] = 0;
        return 1;
    case SYS_TETRA:
    case SYS_TRIGONAL:
    case SYS_HEX:
        idx[0] = 0;
        idx[1] = 2;
        return 2;
    case SYS_ORTHO:
        idx[0] = 0;
        idx[1] = 1;
        idx[2] = 2;
        return 3;
    case SYS_MONOCLINIC:
        idx[0] = 0;
        idx[1] = 1;
        idx[2] = 2;
        idx[3] = 4;
        return 4;
    default:
        for (int k = 0; k < 6; k++)
            idx[k] = k;
        return 6;
    }
}

/* The six cell parameters from the free ones (ties of the system applied). */
static void lattice_full(int sys, const double *q, const double p0[6], double p[6])
{
    memcpy(p, p0, sizeof(double) * 6);
    switch (sys) {
    case SYS_CUBIC:
        p[0] = p[1] = p[2] = q[0];
        break;
    case SYS_TETRA:
    case SYS_TRIGONAL:
    case SYS_HEX:
        p[0] = p[1] = q[0];
        p[2] = q[1];
        break;
    case SYS_ORTHO:
        p[0] = q[0];
        p[1] = q[1];
        p[2] = q[2];
        break;
    case SYS_MONOCLINIC:
        p[0] = q[0];
        p[1] = q[1];
        p[2] = q[2];
        p[4] = q[3];
        break;
    default:
        memcpy(p, q, sizeof(double) * 6);
    }
}

typedef struct {
    int hkl[3];
    int mult;
    double M[MAXE][MAXE]; /* sum over merged reflections (and Friedel mates) of Re(S_e S_e'*) */
} refl_group;

/* Full parameter vector: lattice (nl), zero, scale, U, V, W, eta, background (nbkg). */
enum { P_ZERO = 0, P_SCALE, P_U, P_V, P_W, P_ETA, P_BKG }; /* offsets after the lattice */

typedef struct {
    const xg_xrd_measured *m;
    const double *w;        /* sqrt of the weights */
    int sys, nl, lidx[6], nbkg, ne, zs[MAXE], nfull;
    double p0[6];           /* start cell parameters (fixed angles and ties come from here) */
    refl_group *g;
    int ng;
    double lam[2], lw[2];
    int nlines;
    double inorm;           /* 1 / largest starting peak intensity: scale is O(1) */
    double reach;           /* profile evaluated within reach FWHM of each peak */
    double *full;           /* current full parameters */
    int *freeidx, nfree;    /* free parameter -> full index */
    double *ycalc, *ytmp, *ybkg;
    double *cheb;           /* n x nbkg Chebyshev values */
} fit_ctx;

static int full_lattice(const fit_ctx *c, const double *full, double L[3][3])
{
    double p[6];
    lattice_full(c->sys, full, c->p0, p);
    for (int k = 0; k < 3; k++)
        if (!(p[k] > 0.1) || !(p[k] < 1e4) || !(p[k + 3] > 1) || !(p[k + 3] < 179))
            return -1;
    return xg_lattice_from_params(p[0], p[1], p[2], p[3], p[4], p[5], L, NULL) ? -1 : 0;
}

/* y = model(full); when J is not NULL, the analytic columns of the free non-lattice parameters
 * are filled (unweighted; J is n x nfree, row-major; lattice columns untouched). Returns -1 for
 * an impossible cell. */
static int model(const fit_ctx *c, const double *full, double *y, double *bkg, gsl_matrix *J)
{
    const xg_xrd_measured *m = c->m;
    int n = m->n, nl = c->nl;
    double L[3][3], R[3][3];
    if (full_lattice(c, full, L) || xg_lattice_reciprocal(L, 0, R, NULL))
        return -1;
    double zero = full[nl + P_ZERO], scale = full[nl + P_SCALE], U = full[nl + P_U],
           V = full[nl + P_V], W = full[nl + P_W], eta = full[nl + P_ETA];
    /* which free column each analytic derivative goes to (-1: fixed) */
    int col[P_BKG + XG_XRD_REFINE_MAXBKG];
    for (int k = 0; k < P_BKG + c->nbkg; k++)
        col[k] = -1;
    if (J)
        for (int f = 0; f < c->nfree; f++)
            if (c->freeidx[f] >= nl)
                col[c->freeidx[f] - nl] = f;
    for (int i = 0; i < n; i++) {
        double b = 0;
        for (int k = 0; k < c->nbkg; k++)
            b += full[nl + P_BKG + k] * c->cheb[(size_t)i * c->nbkg + k];
        y[i] = b;
        if (bkg)
            bkg[i] = b;
        if (J) {
            for (int f = 0; f < c->nfree; f++)
                if (c->freeidx[f] >= nl)
                    gsl_matrix_set(J, i, f, 0.0);
            for (int k = 0; k < c->nbkg; k++)
                if (col[P_BKG + k] >= 0)
                    gsl_matrix_set(J, i, col[P_BKG + k], c->cheb[(size_t)i * c->nbkg + k]);
        }
    }
    const double cg = 2.0 * sqrt(log(2.0) / XG_PI), cl = 2.0 / XG_PI, l2 = log(2.0);
    double x0 = m->two_theta0, x1 = m->two_theta0 + (n - 1) * m->step;
    for (int k = 0; k < c->ng; k++) {
        const refl_group *g = &c->g[k];
        double gv[3];
        for (int a = 0; a < 3; a++)
            gv[a] = g->hkl[0] * R[0][a] + g->hkl[1] * R[1][a] + g->hkl[2] * R[2][a];
        double gl = sqrt(gv[0] * gv[0] + gv[1] * gv[1] + gv[2] * gv[2]), sv = gl / 2.0;
        double f[MAXE], F2 = 0;
        for (int e = 0; e < c->ne; e++)
            f[e] = xg_xrd_form_factor(c->zs[e], sv);
        for (int e = 0; e < c->ne; e++)
            for (int e2 = 0; e2 < c->ne; e2++)
                F2 += f[e] * f[e2] * g->M[e][e2];
        for (int j = 0; j < c->nlines; j++) {
            double st = c->lam[j] * sv;
            if (!(st < 1.0))
                continue;
            double th = asin(st), pos = 2.0 * th / DEG + zero;
            double c2 = cos(2.0 * th), tn = tan(th);
            double I0 = F2 * (1.0 + c2 * c2) / (st * st * cos(th)) * c->lw[j] * c->inorm;
            double A = scale * I0;
            double H2 = U * tn * tn + V * tn + W, H = sqrt(fmax(H2, 1e-8));
            double reach = c->reach * H;
            if (pos + reach < x0 || pos - reach > x1)
                continue;
            long i0 = (long)floor((pos - reach - x0) / m->step),
                 i1 = (long)ceil((pos + reach - x0) / m->step);
            if (i0 < 0)
                i0 = 0;
            if (i1 > n - 1)
                i1 = n - 1;
            double iH = 1.0 / H, iH2 = iH * iH;
            for (long i = i0; i <= i1; i++) {
                double x = x0 + i * m->step - pos, x2 = x * x;
                double G = cg * iH * exp(-4.0 * l2 * x2 * iH2);
                double q = 1.0 + 4.0 * x2 * iH2, Lz = cl * iH / q;
                double Om = eta * Lz + (1.0 - eta) * G;
                y[i] += A * Om;
                if (!J)
                    continue;
                if (col[P_SCALE] >= 0)
                    *gsl_matrix_ptr(J, i, col[P_SCALE]) += I0 * Om;
                if (col[P_ETA] >= 0)
                    *gsl_matrix_ptr(J, i, col[P_ETA]) += A * (Lz - G);
                if (col[P_ZERO] >= 0) {
                    /* d Omega / d pos = - d Omega / dx */
                    double dG = G * (-8.0 * l2 * x * iH2), dL = Lz * (-8.0 * x * iH2 / q);
                    *gsl_matrix_ptr(J, i, col[P_ZERO]) -= A * (eta * dL + (1.0 - eta) * dG);
                }
                if (col[P_U] >= 0 || col[P_V] >= 0 || col[P_W] >= 0) {
                    double GH = G * (-iH + 8.0 * l2 * x2 * iH2 * iH);
                    double LH = Lz * (-iH + 8.0 * x2 * iH2 * iH / q);
                    double dH = A * (eta * LH + (1.0 - eta) * GH) * (H2 > 1e-8 ? 0.5 * iH : 0.0);
                    if (col[P_U] >= 0)
                        *gsl_matrix_ptr(J, i, col[P_U]) += dH * tn * tn;
                    if (col[P_V] >= 0)
                        *gsl_matrix_ptr(J, i, col[P_V]) += dH * tn;
                    if (col[P_W] >= 0)
                        *gsl_matrix_ptr(J, i, col[P_W]) += dH;
                }
            }
        }
    }
    return 0;
}

static void set_free(fit_ctx *c, const double *x)
{
    for (int f = 0; f < c->nfree; f++)
        c->full[c->freeidx[f]] = x[f];
}

static int cb_f(const gsl_vector *x, void *params, gsl_vector *fv)
{
    fit_ctx *c = params;
    set_free(c, x->data);
    int n = c->m->n;
    if (model(c, c->full, c->ycalc, NULL, NULL)) {
        /* an impossible cell: a huge residual makes the trust region reject the step */
        for (int i = 0; i < n; i++)
            gsl_vector_set(fv, i, 1e30);
        return GSL_SUCCESS;
    }
    for (int i = 0; i < n; i++)
        gsl_vector_set(fv, i, c->w[i] * (c->ycalc[i] - c->m->y[i]));
    return GSL_SUCCESS;
}

static int cb_df(const gsl_vector *x, void *params, gsl_matrix *J)
{
    fit_ctx *c = params;
    set_free(c, x->data);
    int n = c->m->n;
    if (model(c, c->full, c->ycalc, NULL, J)) {
        gsl_matrix_set_zero(J);
        return GSL_SUCCESS;
    }
    /* lattice columns: forward differences of the whole model (intensities move with the
     * cell too) */
    for (int f = 0; f < c->nfree; f++) {
        int p = c->freeidx[f];
        if (p >= c->nl)
            continue;
        double save = c->full[p], h = 1e-6 * fmax(fabs(save), 1.0);
        c->full[p] = save + h;
        int bad = model(c, c->full, c->ytmp, NULL, NULL);
        c->full[p] = save;
        for (int i = 0; i < n; i++)
            gsl_matrix_set(J, i, f, bad ? 0.0 : (c->ytmp[i] - c->ycalc[i]) / h);
    }
    for (int i = 0; i < n; i++)
        for (int f = 0; f < c->nfree; f++)
            *gsl_matrix_ptr(J, i, f) *= c->w[i];
    return GSL_SUCCESS;
}

/* One least-squares stage over the parameters flagged in mask (full-vector length). */
static int run_stage(fit_ctx *c, const int *mask, int max_iter, int *niter, gsl_matrix *covar,
                     double *chi2, xg_error *err)
{
    c->nfree = 0;
    for (int p = 0; p < c->nfull; p++)
        if (mask[p])
            c->freeidx[c->nfree++] = p;
    int n = c->m->n;
    if (n <= c->nfree)
        return xg_error_set(err, XG_EINVAL, "xrd-refine: %d points for %d parameters", n,
                            c->nfree);
    gsl_multifit_nlinear_fdf fdf;
    memset(&fdf, 0, sizeof fdf);
    fdf.f = cb_f;
    fdf.df = cb_df;
    fdf.n = (size_t)n;
    fdf.p = (size_t)c->nfree;
    fdf.params = c;
    gsl_multifit_nlinear_parameters fp = gsl_multifit_nlinear_default_parameters();
    fp.trs = gsl_multifit_nlinear_trs_lm;
    fp.scale = gsl_multifit_nlinear_scale_more;
    gsl_multifit_nlinear_workspace *w =
        gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &fp, (size_t)n, (size_t)c->nfree);
    gsl_vector *x = gsl_vector_alloc((size_t)c->nfree);
    if (!w || !x) {
        if (w)
            gsl_multifit_nlinear_free(w);
        if (x)
            gsl_vector_free(x);
        return xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
    }
    for (int f = 0; f < c->nfree; f++)
        gsl_vector_set(x, f, c->full[c->freeidx[f]]);
    int rc = XG_OK, info = 0;
    int st = gsl_multifit_nlinear_init(x, &fdf, w);
    if (st == GSL_SUCCESS)
        st = gsl_multifit_nlinear_driver((size_t)max_iter, 1e-7, 1e-6, 1e-9, NULL, NULL,
                                         &info, w);
    /* running out of iterations or of progress still leaves the best point found */
    if (st != GSL_SUCCESS && st != GSL_EMAXITER && st != GSL_ENOPROG) {
        rc = xg_error_set(err, XG_ENUMERIC, "xrd-refine: least squares failed: %s",
                          gsl_strerror(st));
        goto done;
    }
    const gsl_vector *xb = gsl_multifit_nlinear_position(w);
    set_free(c, xb->data);
    *niter += (int)gsl_multifit_nlinear_niter(w);
    const gsl_vector *fv = gsl_multifit_nlinear_residual(w);
    double ss = 0;
    gsl_blas_ddot(fv, fv, &ss);
    if (!isfinite(ss) || ss >= 1e50) {
        rc = xg_error_set(err, XG_ENUMERIC, "xrd-refine: the fit diverged");
        goto done;
    }
    if (chi2)
        *chi2 = ss;
    if (covar) {
        gsl_matrix_view cv = gsl_matrix_submatrix(covar, 0, 0, (size_t)c->nfree, (size_t)c->nfree);
        if (gsl_multifit_nlinear_covar(gsl_multifit_nlinear_jac(w), 0.0, &cv.matrix) !=
            GSL_SUCCESS)
            gsl_matrix_set_all(covar, NAN);
    }
done:
    gsl_multifit_nlinear_free(w);
    gsl_vector_free(x);
    return rc;
}

/* Reflection groups of the conventional cell cs up to |g| <= gmax. */
static int build_groups(fit_ctx *c, const xg_structure *cs, double gmax, xg_error *err)
{
    double R[3][3];
    if (xg_lattice_reciprocal(cs->lattice, 0, R, err))
        return err ? err->code : XG_ENUMERIC;
    int hm[3];
    for (int k = 0; k < 3; k++) {
        double a = sqrt(cs->lattice[k][0] * cs->lattice[k][0] +
                        cs->lattice[k][1] * cs->lattice[k][1] +
                        cs->lattice[k][2] * cs->lattice[k][2]);
        hm[k] = (int)floor(gmax * a + 1e-9);
    }
    if ((2.0 * hm[0] + 1) * (2.0 * hm[1] + 1) * (2.0 * hm[2] + 1) > 4e6)
        return xg_error_set(err, XG_EUNSUPPORTED, "xrd-refine: cell of '%s' too large", cs->id);
    /* two strained cells of the same system: reflections equal in d in all three stay equal
     * under any strain the refinement can apply (a symmetry, or a metric identity) */
    double pp[3][6], Rp[3][3][3];
    xg_lattice_to_params(cs->lattice, pp[0]);
    static const double dq[2][6] = {{0.0123, 0.0231, 0.0371, 0.77, 1.31, 0.53},
                                    {-0.0179, 0.0089, -0.0261, -0.41, 0.67, -0.97}};
    for (int t = 0; t < 3; t++) {
        if (t > 0) {
            double q[6];
            for (int k = 0; k < c->nl; k++) {
                int id = c->lidx[k];
                q[k] = pp[0][id] + (id < 3 ? pp[0][id] * dq[t - 1][id] : dq[t - 1][id]);
            }
            lattice_full(c->sys, q, pp[0], pp[t]);
        }
        double L[3][3];
        if (xg_lattice_from_params(pp[t][0], pp[t][1], pp[t][2], pp[t][3], pp[t][4], pp[t][5], L,
                                   err) ||
            xg_lattice_reciprocal(L, 0, Rp[t], err))
            return XG_ENUMERIC;
    }
    size_t cap = 1024, nr = 0;
    typedef struct {
        double q[3];
        int hkl[3];
    } rr;
    rr *r = malloc(sizeof(rr) * cap);
    if (!r)
        return xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
    for (int h = 0; h <= hm[0]; h++)
        for (int k = (h == 0 ? 0 : -hm[1]); k <= hm[1]; k++)
            for (int l = (h == 0 && k == 0 ? 1 : -hm[2]); l <= hm[2]; l++) {
                double q[3];
                for (int t = 0; t < 3; t++) {
                    double g[3];
                    for (int a = 0; a < 3; a++)
                        g[a] = h * Rp[t][0][a] + k * Rp[t][1][a] + l * Rp[t][2][a];
                    q[t] = g[0] * g[0] + g[1] * g[1] + g[2] * g[2];
                }
                if (q[0] > gmax * gmax || q[0] == 0)
                    continue;
                if (nr == cap) {
                    cap *= 2;
                    rr *t = realloc(r, sizeof(rr) * cap);
                    if (!t) {
                        free(r);
                        return xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
                    }
                    r = t;
                }
                memcpy(r[nr].q, q, sizeof q);
                r[nr].hkl[0] = h;
                r[nr].hkl[1] = k;
                r[nr].hkl[2] = l;
                nr++;
            }
    c->g = calloc(nr + 1, sizeof *c->g);
    if (!c->g) {
        free(r);
        return xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
    }
    int *grp = malloc(sizeof(int) * (nr + 1));
    if (!grp) {
        free(r);
        return xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
    }
    /* group: O(nr * groups in the same d shell); the list is unsorted, so compare with every
     * group whose first d matches (kept short by hashing on rounded q[0]) */
    int ng = 0;
    double fmx = 0;
    for (size_t i = 0; i < nr; i++) {
        int found = -1;
        for (int gi = ng - 1; gi >= 0 && found < 0; gi--) {
            const rr *a = &r[grp[gi]];
            int same = 1;
            for (int t = 0; t < 3 && same; t++)
                same = fabs(a->q[t] - r[i].q[t]) <= 1e-9 * r[i].q[t];
            if (same)
                found = gi;
        }
        if (found < 0) {
            grp[ng] = (int)i;
            memcpy(c->g[ng].hkl, r[i].hkl, sizeof r[i].hkl);
            found = ng++;
        }
        refl_group *g = &c->g[found];
        g->mult += 2;
        double complex S[MAXE] = {0};
        for (int a = 0; a < cs->natoms; a++) {
            int e = 0;
            while (c->zs[e] != cs->types[a])
                e++;
            double ph = 2.0 * XG_PI *
                        (r[i].hkl[0] * cs->frac[a][0] + r[i].hkl[1] * cs->frac[a][1] +
                         r[i].hkl[2] * cs->frac[a][2]);
            S[e] += (cs->occu ? cs->occu[a] : 1.0) * cexp(I * ph);
        }
        for (int e = 0; e < c->ne; e++)
            for (int e2 = 0; e2 < c->ne; e2++)
                g->M[e][e2] += 2.0 * creal(S[e] * conj(S[e2]));
        (void)fmx;
    }
    free(grp);
    free(r);
    /* drop extinct groups (|F| = 0 for every f): they only cost time */
    int keep = 0;
    for (int gi = 0; gi < ng; gi++) {
        double tr = 0, mx = 0;
        for (int e = 0; e < c->ne; e++)
            for (int e2 = 0; e2 < c->ne; e2++) {
                tr += fabs(c->g[gi].M[e][e2]);
                mx = fmax(mx, (double)c->g[gi].mult * cs->natoms * cs->natoms);
            }
        if (tr > 1e-8 * mx)
            c->g[keep++] = c->g[gi];
    }
    c->ng = keep;
    return XG_OK;
}

/* chi^2 of the current cell at its best scale, background (from the current parameters) held;
 * the scale that achieves it in *sbest. INFINITY for an impossible cell. */
static double chi2_best_scale(fit_ctx *c, const double *wbuf, double *sbest)
{
    const xg_xrd_measured *m = c->m;
    int n = m->n;
    if (model(c, c->full, c->ycalc, c->ytmp, NULL))
        return INFINITY;
    double sab = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        double w2 = wbuf[i] * wbuf[i], yp = c->ycalc[i] - c->ytmp[i];
        sab += w2 * (m->y[i] - c->ytmp[i]) * yp;
        sbb += w2 * yp * yp;
    }
    double sc = sbb > 0 ? fmax(sab / sbb, 0.0) : 0.0, chi = 0;
    for (int i = 0; i < n; i++) {
        double d = m->y[i] - c->ytmp[i] - sc * (c->ycalc[i] - c->ytmp[i]);
        chi += wbuf[i] * wbuf[i] * d * d;
    }
    *sbest = sc;
    return chi;
}

/* Grid over the free cell lengths (and the zero shift: start or 0); leaves the best point in
 * c->full, with the scale multiplied by its best factor. */
static void grid_search(fit_ctx *c, const double *wbuf)
{
    int nl = c->nl, lpos[3], nlen = 0;
    for (int k = 0; k < nl; k++)
        if (c->lidx[k] < 3)
            lpos[nlen++] = k;
    if (nlen == 0)
        return;
    double base[6], best = INFINITY, best_s = 1.0, zeros[2] = {c->full[nl + P_ZERO], 0.0};
    double best_len[3], best_zero = zeros[0];
    for (int k = 0; k < nl; k++)
        base[k] = c->full[k];
    for (int j = 0; j < nlen; j++)
        best_len[j] = base[lpos[j]];
    int nz = zeros[0] != 0.0 ? 2 : 1;
    for (int pass = 0; pass < 3; pass++) {
        int npt = pass == 0 ? 5 : 3;
        double step = pass == 0 ? 0.015 : (pass == 1 ? 0.0075 : 0.00375), centre[3];
        for (int j = 0; j < nlen; j++)
            centre[j] = pass == 0 ? base[lpos[j]] : best_len[j];
        int ncomb = 1;
        for (int j = 0; j < nlen; j++)
            ncomb *= npt;
        for (int zi = 0; zi < (pass == 0 ? nz : 1); zi++) {
            c->full[nl + P_ZERO] = pass == 0 ? zeros[zi] : best_zero;
            for (int code = 0; code < ncomb; code++) {
                int q = code;
                for (int j = 0; j < nlen; j++) {
                    c->full[lpos[j]] = centre[j] * (1.0 + step * (q % npt - npt / 2));
                    q /= npt;
                }
                double sc = 1.0, chi = chi2_best_scale(c, wbuf, &sc);
                if (chi < best) {
                    best = chi;
                    best_s = sc;
                    best_zero = c->full[nl + P_ZERO];
                    for (int j = 0; j < nlen; j++)
                        best_len[j] = c->full[lpos[j]];
                }
            }
        }
    }
    for (int k = 0; k < nl; k++)
        c->full[k] = base[k];
    c->full[nl + P_ZERO] = zeros[0];
    if (isfinite(best)) {
        for (int j = 0; j < nlen; j++)
            c->full[lpos[j]] = best_len[j];
        c->full[nl + P_ZERO] = best_zero;
        if (best_s > 0)
            c->full[nl + P_SCALE] *= best_s;
    }
}

int xg_xrd_refine(const xg_xrd_measured *m, const xg_structure *s, const xg_xrd_refine_params *p,
                  xg_xrd_refine_result *out, xg_error *err)
{
    xg_xrd_refine_params def;
    if (!p) {
        xg_xrd_refine_params_default(&def);
        p = &def;
    }
    if (!out)
        return xg_error_set(err, XG_EINVAL, "xrd-refine: NULL result");
    memset(out, 0, sizeof *out);
    if (!m || !m->y || m->n < 16 || !(m->step > 0))
        return xg_error_set(err, XG_EINVAL, "xrd-refine: the measured pattern is empty");
    if (!s || s->natoms <= 0)
        return xg_error_set(err, XG_EINVAL, "xrd-refine: no crystal");
    if (p->nbkg < 1 || p->nbkg > XG_XRD_REFINE_MAXBKG || !(p->fwhm0 > 0) || !(p->eta0 >= 0) ||
        !(p->eta0 <= 1) || !(p->lattice_scale0 > 0.5) || !(p->lattice_scale0 < 2) ||
        !isfinite(p->zero0) || !(p->symprec > 0) || p->max_iter < 1 ||
        !(p->radiation.lambda1 > 0))
        return xg_error_set(err, XG_EINVAL, "xrd-refine: bad refinement parameters");
    gsl_set_error_handler_off();
    for (int i = 0; i < s->natoms; i++)
        if (!xg_xrd_has_form_factor(s->types[i]))
            return xg_error_set(err, XG_EUNSUPPORTED,
                                "xrd-refine: no X-ray scattering factors for Z = %d in '%s'",
                                s->types[i], s->id);
    fit_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.nbkg = p->nbkg;
    c.lam[0] = p->radiation.lambda1;
    c.lw[0] = 1.0;
    c.nlines = 1;
    if (p->radiation.lambda2 > 0 && p->radiation.ratio2 > 0) {
        c.lam[1] = p->radiation.lambda2;
        c.lw[1] = p->radiation.ratio2;
        c.nlines = 2;
    }
    xg_structure *cs = NULL;
    double *wbuf = NULL;
    gsl_matrix *covar = NULL;
    int sg = 1;
    char sym[16] = "P1";
    int rc = conventional(s, p->symprec, &cs, &sg, sym, err);
    if (rc)
        return rc;
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++)
            cs->lattice[k][l] *= p->lattice_scale0;
    /* the system comes from the idealized conventional cell itself: its metric decides which
     * ties hold, whatever the labelled group was */
    c.sys = crystal_system(sg);
    out->spacegroup = sg;
    snprintf(out->symbol, sizeof out->symbol, "%s", sym);
    snprintf(out->crystal_system, sizeof out->crystal_system, "%s", k_sys_name[c.sys]);
    c.nl = lattice_free(c.sys, c.lidx);
    xg_lattice_to_params(cs->lattice, c.p0);
    /* a metric that does not obey the ties (a mislabelled system) falls back to triclinic */
    {
        double chk[6];
        double q[6];
        for (int k = 0; k < c.nl; k++)
            q[k] = c.p0[c.lidx[k]];
        lattice_full(c.sys, q, c.p0, chk);
        double bad = 0;
        for (int k = 0; k < 6; k++)
            bad = fmax(bad, fabs(chk[k] - c.p0[k]) / (k < 3 ? c.p0[k] : 90.0));
        if (c.sys != SYS_TRIGONAL && c.sys != SYS_HEX && c.sys != SYS_TRICLINIC &&
            c.sys != SYS_MONOCLINIC) {
            for (int k = 3; k < 6; k++)
                bad = fmax(bad, fabs(c.p0[k] - 90.0) / 90.0);
        }
        if (bad > 1e-4) {
            c.sys = SYS_TRICLINIC;
            c.nl = lattice_free(c.sys, c.lidx);
            snprintf(out->crystal_system, sizeof out->crystal_system, "%s", k_sys_name[c.sys]);
        }
    }
    /* distinct elements */
    for (int a = 0; a < cs->natoms; a++) {
        int e = 0;
        while (e < c.ne && c.zs[e] != cs->types[a])
            e++;
        if (e == c.ne) {
            if (c.ne == MAXE) {
                rc = xg_error_set(err, XG_EUNSUPPORTED, "xrd-refine: more than %d elements",
                                  MAXE);
                goto done;
            }
            c.zs[c.ne++] = cs->types[a];
        }
    }
    int n = m->n;
    double x0 = m->two_theta0, x1 = m->two_theta0 + (n - 1) * m->step;
    double lmin = c.lam[0];
    if (c.nlines == 2)
        lmin = fmin(lmin, c.lam[1]);
    /* reflections up to the end of the range, with room for the cell to grow or shrink 5% and
     * for the zero shift and peak tails */
    double tmax = fmin(179.0, x1 + 2.0 + fabs(p->zero0));
    double gmax = 2.0 * sin(tmax / 2.0 * DEG) / lmin * 1.05;
    if ((rc = build_groups(&c, cs, gmax, err)))
        goto done;
    if (c.ng == 0) {
        rc = xg_error_set(err, XG_ENUMERIC, "xrd-refine: '%s' has no reflection below %.1f degrees",
                          s->id, x1);
        goto done;
    }
    c.nfull = c.nl + P_BKG + c.nbkg;
    c.full = calloc((size_t)c.nfull, sizeof(double));
    c.freeidx = malloc(sizeof(int) * (size_t)c.nfull);
    c.ycalc = malloc(sizeof(double) * (size_t)n);
    c.ytmp = malloc(sizeof(double) * (size_t)n);
    c.cheb = malloc(sizeof(double) * (size_t)n * (size_t)c.nbkg);
    wbuf = malloc(sizeof(double) * (size_t)n);
    covar = gsl_matrix_alloc((size_t)c.nfull, (size_t)c.nfull);
    if (!c.full || !c.freeidx || !c.ycalc || !c.ytmp || !c.cheb || !wbuf || !covar) {
        rc = xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
        goto done;
    }
    double sumw_y2 = 0;
    for (int i = 0; i < n; i++) {
        double sg2 = m->sigma ? m->sigma[i] * m->sigma[i] : fmax(fabs(m->y[i]), 1.0);
        wbuf[i] = 1.0 / sqrt(sg2);
        sumw_y2 += m->y[i] * m->y[i] / sg2;
        double t = x1 > x0 ? 2.0 * (x0 + i * m->step - x0) / (x1 - x0) - 1.0 : 0.0;
        double tm = 1, tc = t;
        for (int k = 0; k < c.nbkg; k++) {
            double v = k == 0 ? 1.0 : (k == 1 ? t : 2.0 * t * tc - tm);
            if (k >= 2) {
                tm = tc;
                tc = v;
            }
            c.cheb[(size_t)i * c.nbkg + k] = v;
        }
    }
    c.w = wbuf;
    for (int k = 0; k < c.nl; k++)
        c.full[k] = c.p0[c.lidx[k]];
    int nl = c.nl;
    c.full[nl + P_ZERO] = p->zero0;
    c.full[nl + P_SCALE] = 1.0;
    c.full[nl + P_U] = 0;
    c.full[nl + P_V] = 0;
    c.full[nl + P_W] = p->fwhm0 * p->fwhm0;
    c.full[nl + P_ETA] = p->eta0;
    /* intensities normalised so the strongest starting peak has height ~1 at scale 1 */
    c.inorm = 1.0;
    c.reach = REACH;
    if (model(&c, c.full, c.ycalc, NULL, NULL)) {
        rc = xg_error_set(err, XG_ENUMERIC, "xrd-refine: the starting cell of '%s' is degenerate",
                          s->id);
        goto done;
    }
    double ymax = 0, omax = 0;
    for (int i = 0; i < n; i++) {
        ymax = fmax(ymax, c.ycalc[i]);
        omax = fmax(omax, m->y[i]);
    }
    if (!(ymax > 0)) {
        rc = xg_error_set(err, XG_ENUMERIC, "xrd-refine: '%s' has no peak in %.2f..%.2f degrees",
                          s->id, x0, x1);
        goto done;
    }
    c.inorm = 1.0 / ymax;
    c.full[nl + P_SCALE] = omax > 0 ? omax : 1.0;
    int mask[XG_XRD_REFINE_MAXPAR + 8];
    int niter = 0;
    double chi2 = 0;
    /* stage 0: scale and background (linear) */
    memset(mask, 0, sizeof mask);
    mask[nl + P_SCALE] = 1;
    for (int k = 0; k < c.nbkg; k++)
        mask[nl + P_BKG + k] = 1;
    if ((rc = run_stage(&c, mask, p->max_iter, &niter, NULL, &chi2, err)))
        goto done;
    /* stage 1: lattice and zero with peaks broadened 4x, which lets a peak a few widths off
     * still feel its partner; then stage 2 at the starting width */
    for (int k = 0; k < nl; k++)
        mask[k] = 1;
    mask[nl + P_ZERO] = 1;
    double wide = fmax(4.0 * p->fwhm0, 0.3);
    c.full[nl + P_W] = wide * wide;
    /* the broadened stages only steer the lattice: their peaks need not carry their far tails
     * (this keeps a wide peak from costing thousands of points) */
    c.reach = 8.0;
    /* A uniform scale (the start) cannot follow strains of opposite sign along different axes,
     * and from there least squares can stop in a false minimum (measured: 6 of 38 strained
     * validation crystals). So first a grid over the free cell lengths, -3..+3% in 1.5% steps
     * around the start, then +-0.75% and +-0.375% around the best, each point scored by chi^2
     * at its best scale (background held), with the zero shift at its start and at 0 (the
     * start's shift comes from a uniform-scale match, which anisotropic strain misleads): at
     * most 2 x 5^3 + 2 x 3^3 broad profiles. */
    grid_search(&c, wbuf);
    if ((rc = run_stage(&c, mask, p->max_iter, &niter, NULL, &chi2, err)))
        goto done;
    c.full[nl + P_W] = 2.0 * p->fwhm0 * 2.0 * p->fwhm0;
    if ((rc = run_stage(&c, mask, p->max_iter, &niter, NULL, &chi2, err)))
        goto done;
    c.full[nl + P_W] = p->fwhm0 * p->fwhm0;
    c.reach = REACH;
    mask[nl + P_W] = 1;
    if (p->refine_eta)
        mask[nl + P_ETA] = 1;
    if ((rc = run_stage(&c, mask, p->max_iter, &niter, NULL, &chi2, err)))
        goto done;
    /* final: everything, covariance at the minimum */
    if (p->refine_uv) {
        mask[nl + P_U] = 1;
        mask[nl + P_V] = 1;
    }
    if ((rc = run_stage(&c, mask, p->max_iter, &niter, covar, &chi2, err)))
        goto done;
    /* results */
    int P = c.nfree;
    out->nobs = n;
    out->nrefl = c.ng;
    out->niter = niter;
    out->chi2 = chi2;
    out->gof = chi2 / (n - P);
    out->calc = malloc(sizeof(double) * (size_t)n);
    out->background = malloc(sizeof(double) * (size_t)n);
    if (!out->calc || !out->background) {
        rc = xg_error_set(err, XG_ENOMEM, "xrd-refine: out of memory");
        goto done;
    }
    model(&c, c.full, out->calc, out->background, NULL);
    out->n = n;
    double swd = 0, sad = 0, say = 0;
    for (int i = 0; i < n; i++) {
        double d = m->y[i] - out->calc[i];
        swd += wbuf[i] * wbuf[i] * d * d;
        sad += fabs(d);
        say += fabs(m->y[i]);
    }
    out->rwp = sumw_y2 > 0 ? sqrt(swd / sumw_y2) : NAN;
    out->rp = say > 0 ? sad / say : NAN;
    out->rexp = sumw_y2 > 0 ? sqrt((n - P) / sumw_y2) : NAN;
    static const char *const lnames[6] = {"a", "b", "c", "alpha", "beta", "gamma"};
    static const char *const onames[P_BKG] = {"zero", "scale", "U", "V", "W", "eta"};
    double red = out->gof;
    out->npar = P;
    for (int f = 0; f < P; f++) {
        int q = c.freeidx[f];
        if (q < nl)
            snprintf(out->names[f], sizeof out->names[f], "%s", lnames[c.lidx[q]]);
        else if (q < nl + P_BKG)
            snprintf(out->names[f], sizeof out->names[f], "%s", onames[q - nl]);
        else
            snprintf(out->names[f], sizeof out->names[f], "bkg%d", q - nl - P_BKG);
        out->value[f] = c.full[q];
        out->esd[f] = sqrt(gsl_matrix_get(covar, f, f) * red);
        if (q < nl)
            out->lattice_esd[c.lidx[q]] = out->esd[f];
    }
    lattice_full(c.sys, c.full, c.p0, out->lattice);
    /* tied parameters share the esd of the one they follow */
    if (c.sys == SYS_CUBIC)
        out->lattice_esd[1] = out->lattice_esd[2] = out->lattice_esd[0];
    else if (c.sys == SYS_TETRA || c.sys == SYS_TRIGONAL || c.sys == SYS_HEX)
        out->lattice_esd[1] = out->lattice_esd[0];
    out->zero = c.full[nl + P_ZERO];
    out->U = c.full[nl + P_U];
    out->V = c.full[nl + P_V];
    out->W = c.full[nl + P_W];
    out->eta = c.full[nl + P_ETA];
    if (full_lattice(&c, c.full, cs->lattice)) {
        rc = xg_error_set(err, XG_ENUMERIC, "xrd-refine: the refined cell is degenerate");
        goto done;
    }
    out->cell = cs;
    cs = NULL;
done:
    if (rc)
        xg_xrd_refine_result_free(out);
    xg_structure_free(cs);
    free(c.g);
    free(c.full);
    free(c.freeidx);
    free(c.ycalc);
    free(c.ytmp);
    free(c.cheb);
    free(wbuf);
    if (covar)
        gsl_matrix_free(covar);
    return rc;
}
