/* xg_noise.c: forward processes, targets and loss (see xg_noise.h for the definitions). */
#include "diffusion/xg_noise.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include <lapacke.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Below this width the image sum converges in a few terms; above it the Fourier series does. */
#define XG_WN_SWITCH 0.3
/* Below this width lambda = 1 to 1e-10: the wrapped part of the density, near |d| = 1/2,
 * weighs ~15 exp(-1/(8 sigma^2)) < 1.3e-10 at sigma = 0.07. */
#define XG_WN_FLAT 0.07
/* Quadrature points of lambda. In the Fourier regime the integrand's harmonics decay like
 * exp(-pi^2 sigma^2 n^2): 32 points alias at e^-200 or less. In the image regime the integrand
 * is a Gaussian of width sigma (the trapezoid rule errs by exp(-2 pi^2 sigma^2 / h^2)) plus, at
 * d = +-1/2 where the nearest image changes, a step of width ~sigma^2 whose weight
 * exp(-1/(8 sigma^2)) matters only above sigma ~ 0.08: h ~ sigma^2 / 3 resolves it to ~1e-10
 * relative. Capped so lambda stays cheap (tens of microseconds). */
static int quad_points(double sigma)
{
    if (sigma >= XG_WN_SWITCH)
        return 32;
    double n = ceil(3.0 / (sigma * sigma));
    return n < 32 ? 32 : n > 400 ? 400 : (int)n;
}

void xg_noise_params_default(xg_noise_params *p)
{
    p->sigma_min = 0.005;
    p->sigma_max = 2.0;
    p->avg_density = 0.0577;
    /* s(N) ~ 0.25 mu(N) when no data is there to fit it: 0.25 * rho^(-1/3). */
    p->lattice_c = 0.25 * cbrt(1.0 / 0.0577);
    p->cos_s = 0.008;
    p->t_min = 1e-3;
    p->w_coord = 1.0;
    p->w_lattice = 1.0;
    p->w_type = 1.0;
    p->csp = 0;
    p->class_mask = 0.0;
}

int xg_noise_params_check(const xg_noise_params *p, xg_error *err)
{
    if (!(p->sigma_min > 0) || !(p->sigma_max > p->sigma_min) || !(p->sigma_max < 100))
        return xg_error_set(err, XG_EINVAL,
                            "noise: need 0 < sigma_min < sigma_max < 100 (got %g, %g)",
                            p->sigma_min, p->sigma_max);
    if (!(p->avg_density > 1e-4 && p->avg_density < 10))
        return xg_error_set(err, XG_EINVAL, "noise: average density %g atoms/A^3 is not physical",
                            p->avg_density);
    if (!(p->lattice_c > 0 && p->lattice_c < 100))
        return xg_error_set(err, XG_EINVAL, "noise: lattice prior scale %g out of range",
                            p->lattice_c);
    if (!(p->cos_s > 0 && p->cos_s < 1))
        return xg_error_set(err, XG_EINVAL, "noise: cosine schedule offset %g not in (0, 1)",
                            p->cos_s);
    if (!(p->t_min > 0 && p->t_min < 1))
        return xg_error_set(err, XG_EINVAL, "noise: t_min %g not in (0, 1)", p->t_min);
    if (!(p->w_coord >= 0 && p->w_lattice >= 0 && p->w_type >= 0) ||
        !(p->w_coord + p->w_lattice + p->w_type > 0) || !isfinite(p->w_coord + p->w_lattice + p->w_type))
        return xg_error_set(err, XG_EINVAL, "noise: loss weights must be >= 0, finite and not all 0");
    if (!(p->class_mask >= 0 && p->class_mask <= 1))
        return xg_error_set(err, XG_EINVAL, "noise: class-mask probability %g not in [0, 1]",
                            p->class_mask);
    return XG_OK;
}

/* ---------------------------------------------------------------- coordinates */

double xg_noise_coord_sigma(const xg_noise_params *p, double t, int natoms)
{
    double s = pow(p->sigma_min, 1.0 - t) * pow(p->sigma_max, t);
    return s / cbrt((double)(natoms > 0 ? natoms : 1));
}

static double wrap_half(double d)
{
    return d - floor(d + 0.5); /* [-0.5, 0.5) */
}

/* Number of images each side: the omitted ones weigh exp(-(K + 1/2)^2 / (2 sigma^2)) relative
 * to the nearest, below e^-45 with K + 1/2 >= sqrt(90) sigma. */
static int image_count(double sigma)
{
    return (int)ceil(sqrt(90.0) * sigma) + 1;
}

/* Fourier terms: exp(-q n^2) relative to the leading exp(-q) below 1e-18. */
static int fourier_count(double q)
{
    return (int)ceil(sqrt(42.0 / q + 1.0)) + 1;
}

/* Image sum with log-sum-exp: at tiny sigma every weight alone would underflow. */
static void images(double d, double sigma, double *score, double *logpdf)
{
    d = wrap_half(d);
    int K = image_count(sigma);
    double s2 = sigma * sigma, m = -d * d / (2 * s2);
    double num = 0, den = 0;
    for (int k = -K; k <= K; k++) {
        double e = d + k, w = exp(-e * e / (2 * s2) - m);
        num += -e / s2 * w;
        den += w;
    }
    if (score)
        *score = num / den;
    if (logpdf)
        *logpdf = log(den) + m - log(sigma * sqrt(2 * M_PI));
}

/* Theta series p(d) = 1 + 2 sum_n exp(-2 pi^2 sigma^2 n^2) cos(2 pi n d): the derivative is
 * computed term by term, so the score keeps full relative precision even when it is 1e-30. */
static void fourier(double d, double sigma, double *score, double *logpdf)
{
    double q = 2 * M_PI * M_PI * sigma * sigma;
    int M = fourier_count(q);
    double p = 1, dp = 0;
    for (int n = 1; n <= M; n++) {
        double a = exp(-q * n * n);
        p += 2 * a * cos(2 * M_PI * n * d);
        dp += -4 * M_PI * n * a * sin(2 * M_PI * n * d);
    }
    if (score)
        *score = dp / p;
    if (logpdf)
        *logpdf = log(p);
}

double xg_noise_wrapped_score(double d, double sigma)
{
    double s;
    if (sigma < XG_WN_SWITCH)
        images(d, sigma, &s, NULL);
    else
        fourier(d, sigma, &s, NULL);
    return s;
}

double xg_noise_wrapped_logpdf(double d, double sigma)
{
    double l;
    if (sigma < XG_WN_SWITCH)
        images(d, sigma, NULL, &l);
    else
        fourier(d, sigma, NULL, &l);
    return l;
}

double xg_noise_coord_norm(double sigma)
{
    if (sigma < XG_WN_FLAT)
        return 1.0;
    int nq = quad_points(sigma);
    double acc = 0, h = 1.0 / nq;
    for (int j = 0; j < nq; j++) {
        double d = -0.5 + j * h, s, l;
        if (sigma < XG_WN_SWITCH)
            images(d, sigma, &s, &l);
        else
            fourier(d, sigma, &s, &l);
        acc += exp(l) * (sigma * s) * (sigma * s);
    }
    return acc * h;
}

double xg_noise_coord_score_scale(double sigma)
{
    return sqrt(xg_noise_coord_norm(sigma)) / sigma;
}

double xg_noise_coord_score_from_output(double c, double sigma)
{
    return c * xg_noise_coord_score_scale(sigma);
}

/* ---------------------------------------------------------------- lattice */

double xg_noise_abar(const xg_noise_params *p, double t)
{
    double s = p->cos_s;
    double f0 = cos(0.5 * M_PI * s / (1 + s));
    double ft = cos(0.5 * M_PI * (t + s) / (1 + s));
    double a = (ft * ft) / (f0 * f0);
    if (a < 0)
        a = 0;
    if (a > 1)
        a = 1;
    if (t >= 1)
        a = 0; /* cos(pi/2) is 6e-17 in floating point; the limit is exactly the prior */
    return a;
}

double xg_noise_lattice_mu(const xg_noise_params *p, int natoms)
{
    return cbrt((double)(natoms > 0 ? natoms : 1) / p->avg_density);
}

double xg_noise_lattice_std(const xg_noise_params *p, int natoms)
{
    return p->lattice_c * cbrt((double)(natoms > 0 ? natoms : 1));
}

int xg_noise_lattice_canonical(const double L[9], double S[9], xg_error *err)
{
    double G[9], w[3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            G[i * 3 + j] = L[i * 3 + 0] * L[j * 3 + 0] + L[i * 3 + 1] * L[j * 3 + 1] +
                           L[i * 3 + 2] * L[j * 3 + 2];
    for (int i = 0; i < 9; i++)
        if (!isfinite(G[i]))
            return xg_error_set(err, XG_ENUMERIC, "lattice canonicalisation: non-finite lattice");
    lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', 3, G, 3, w);
    if (info != 0)
        return xg_error_set(err, XG_ENUMERIC,
                            "lattice canonicalisation: LAPACKE_dsyev failed (info %d)", (int)info);
    /* Eigenvalues ascend; a cell of (near) zero volume has no meaningful polar factor. */
    if (!(w[0] > 1e-10 * w[2]) || !(w[2] > 0))
        return xg_error_set(err, XG_ENUMERIC,
                            "lattice canonicalisation: singular lattice (metric eigenvalues %g, %g, %g)",
                            w[0], w[1], w[2]);
    double r[3] = {sqrt(w[0]), sqrt(w[1]), sqrt(w[2])}, out[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double acc = 0;
            for (int k = 0; k < 3; k++)
                acc += G[i * 3 + k] * r[k] * G[j * 3 + k];
            out[i * 3 + j] = acc;
        }
    /* Exactly symmetric, so the noised lattice built on it is too. */
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            out[i * 3 + j] = out[j * 3 + i] = 0.5 * (out[i * 3 + j] + out[j * 3 + i]);
    memcpy(S, out, sizeof out);
    return XG_OK;
}

static double det3(const double L[9])
{
    return L[0] * (L[4] * L[8] - L[5] * L[7]) - L[1] * (L[3] * L[8] - L[5] * L[6]) +
           L[2] * (L[3] * L[7] - L[4] * L[6]);
}

int xg_noise_fit(xg_noise_params *p, int64_t n, const double *lattices, const int *natoms,
                 xg_error *err)
{
    if (n <= 0)
        return xg_error_set(err, XG_EINVAL, "noise fit: no structures");
    double dens = 0;
    for (int64_t b = 0; b < n; b++) {
        double v = fabs(det3(lattices + 9 * b));
        if (!(v > 1e-6) || natoms[b] <= 0)
            return xg_error_set(err, XG_EINVAL,
                                "noise fit: structure %lld has volume %g and %d atoms",
                                (long long)b, v, natoms[b]);
        dens += natoms[b] / v;
    }
    dens /= (double)n;
    xg_noise_params q = *p;
    q.avg_density = dens;
    double acc = 0;
    for (int64_t b = 0; b < n; b++) {
        double S[9];
        int rc = xg_noise_lattice_canonical(lattices + 9 * b, S, err);
        if (rc) {
            xg_error_prefix(err, rc, "noise fit, structure %lld: ", (long long)b);
            return rc;
        }
        double mu = xg_noise_lattice_mu(&q, natoms[b]), f = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double e = S[i * 3 + j] - (i == j ? mu : 0);
                f += e * e;
            }
        acc += f / (12.0 * pow(natoms[b], 2.0 / 3.0));
    }
    q.lattice_c = sqrt(acc / (double)n);
    if (!(q.lattice_c > 1e-6))
        q.lattice_c = 1e-6 > p->lattice_c ? 1e-6 : p->lattice_c; /* all cells identical */
    *p = q;
    return XG_OK;
}

/* ---------------------------------------------------------------- one draw */

void xg_noise_draw(const xg_noise_params *p, double t, int natoms, const int *classes,
                   const double *frac0, const double S0[9], xg_rng *rng, int *tokens,
                   float *frac_t, float *lat_t, float *coord_target, float *lat_target,
                   double *sigma_out)
{
    /* Lattice first (9 normals), then per atom: mask draw, 3 normals. */
    double E[9];
    for (int i = 0; i < 9; i++)
        E[i] = xg_rng_normal(rng);
    double abar = xg_noise_abar(p, t), sa = sqrt(abar), sn = sqrt(1 - abar);
    double mu = xg_noise_lattice_mu(p, natoms), sd = xg_noise_lattice_std(p, natoms);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double eps = (E[i * 3 + j] + E[j * 3 + i]) / sqrt(2.0);
            lat_t[i * 3 + j] = (float)(sa * S0[i * 3 + j] + (1 - sa) * (i == j ? mu : 0) + sn * sd * eps);
            lat_target[i * 3 + j] = (float)eps;
        }
    double sigma = xg_noise_coord_sigma(p, t, natoms);
    double rnorm = 1.0 / sqrt(xg_noise_coord_norm(sigma));
    /* Element-wise masking: the coin of an element's first atom decides for all its atoms.
     * The extra draw exists only when class_mask is set, so other models' streams are as
     * they were. */
    signed char by_class[XG_NUM_TYPES];
    int per_class = p->class_mask > 0 && xg_rng_uniform(rng) < p->class_mask;
    if (per_class)
        memset(by_class, -1, sizeof by_class);
    for (int a = 0; a < natoms; a++) {
        double u = xg_rng_uniform(rng);
        /* P(mask) = 1 - alpha(t) = t; a CSP model sees every type (u is drawn all the same, so
         * the coordinate noise of both kinds of model comes from the same stream). */
        int masked = u < t;
        if (per_class && classes[a] >= 0 && classes[a] < XG_NUM_TYPES) {
            if (by_class[classes[a]] < 0)
                by_class[classes[a]] = (signed char)masked;
            masked = by_class[classes[a]];
        }
        tokens[a] = masked && !p->csp ? XG_MASK_TOKEN : classes[a];
        for (int k = 0; k < 3; k++) {
            double d = sigma * xg_rng_normal(rng);
            double x = frac0[a * 3 + k] + d;
            x -= floor(x);
            float xf = (float)x;
            if (xf >= 1.0f) /* rounding of 1 - 1e-9 */
                xf = 0.0f;
            frac_t[a * 3 + k] = xf;
            coord_target[a * 3 + k] = (float)(sigma * xg_noise_wrapped_score(d, sigma) * rnorm);
        }
    }
    if (sigma_out)
        *sigma_out = sigma;
}

/* ---------------------------------------------------------------- loss */

int xg_noise_loss_eval(const xg_noise_params *p, const xg_batch *b, const xg_denoiser_out *out,
                       const int *classes, const float *coord_target, const float *lat_target,
                       xg_noise_loss *loss, float *d_coord, float *d_logits, float *d_lattice,
                       xg_error *err)
{
    memset(loss, 0, sizeof *loss);
    int A = b->natoms, B = b->nstructs;
    if (A <= 0 || B <= 0)
        return xg_error_set(err, XG_EINVAL, "loss: empty batch (%d structures, %d atoms)", B, A);

    /* coordinates */
    double lc = 0, gx = p->w_coord * 2.0 / (3.0 * A);
    for (int i = 0; i < 3 * A; i++) {
        double e = (double)out->coord[i] - coord_target[i];
        lc += e * e;
        if (d_coord)
            d_coord[i] = (float)(gx * e);
    }
    loss->coord = lc / (3.0 * A);

    /* lattice: symmetrise the prediction, then the squared error over 9 entries */
    double ll = 0, gl = p->w_lattice * 2.0 / (9.0 * B);
    for (int s = 0; s < B; s++) {
        const float *P = out->lattice + 9 * s;
        const float *T = lat_target + 9 * s;
        double e[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                e[i * 3 + j] = 0.5 * ((double)P[i * 3 + j] + P[j * 3 + i]) - T[i * 3 + j];
                ll += e[i * 3 + j] * e[i * 3 + j];
            }
        /* d/dP_ij of sum (sym(P) - T)^2 = e_ij + e_ji (= 2 e_ij for the symmetric eps target) */
        if (d_lattice)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    d_lattice[9 * s + i * 3 + j] = (float)(gl * 0.5 * (e[i * 3 + j] + e[j * 3 + i]));
    }
    loss->lattice = ll / (9.0 * B);

    /* types: cross-entropy over masked sites */
    long nm = 0;
    for (int i = 0; i < A; i++)
        nm += b->tokens[i] == XG_MASK_TOKEN;
    double la = 0;
    for (int i = 0; i < A; i++) {
        float *g = d_logits ? d_logits + (size_t)i * XG_NUM_TYPES : NULL;
        if (b->tokens[i] != XG_MASK_TOKEN) {
            if (g)
                memset(g, 0, sizeof(float) * XG_NUM_TYPES);
            continue;
        }
        if (classes[i] < 0 || classes[i] >= XG_NUM_TYPES)
            return xg_error_set(err, XG_EINVAL, "loss: atom %d has class %d outside 0..%d", i,
                                classes[i], XG_NUM_TYPES - 1);
        const float *z = out->logits + (size_t)i * XG_NUM_TYPES;
        double m = -DBL_MAX, sum = 0;
        for (int k = 0; k < XG_NUM_TYPES; k++)
            if (z[k] > m)
                m = z[k];
        for (int k = 0; k < XG_NUM_TYPES; k++)
            sum += exp(z[k] - m);
        double lse = m + log(sum);
        la += lse - z[classes[i]];
        if (g) {
            double ga = p->w_type / (double)nm;
            for (int k = 0; k < XG_NUM_TYPES; k++)
                g[k] = (float)(ga * (exp(z[k] - lse) - (k == classes[i])));
        }
    }
    loss->type = nm ? la / (double)nm : 0.0;
    loss->masked = nm;
    loss->total = p->w_coord * loss->coord + p->w_lattice * loss->lattice + p->w_type * loss->type;
    if (!isfinite(loss->total))
        return xg_error_set(err, XG_ENUMERIC,
                            "loss is not finite (coord %g, lattice %g, type %g): the network diverged",
                            loss->coord, loss->lattice, loss->type);
    return XG_OK;
}
