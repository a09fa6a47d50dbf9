/* test_noise.c: the forward processes against independent references: the wrapped-normal score
 * against a numerical derivative of a directly summed density, the normaliser against Monte
 * Carlo, the lattice process's limit, the masking rate, and the loss gradients against finite
 * differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_noise.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* log of the wrapped normal density by brute force: 121 images in long double, log-sum-exp. */
static long double ref_logpdf(long double d, long double s)
{
    long double e[121], m = -1e300L, acc = 0;
    for (int k = -60; k <= 60; k++) {
        long double x = d + k;
        e[k + 60] = -x * x / (2 * s * s);
        if (e[k + 60] > m)
            m = e[k + 60];
    }
    for (int k = 0; k < 121; k++)
        acc += expl(e[k] - m);
    return logl(acc) + m - logl(s * sqrtl(2 * (long double)M_PI));
}

static void test_score_vs_numerical(void)
{
    const double sigmas[] = {0.001, 0.005, 0.02, 0.1, 0.25, 0.2999, 0.3, 0.45, 0.74, 1.0};
    const double ds[] = {-0.47, -0.3, -0.01, 0.0007, 0.013, 0.2, 0.49, 1.31, -2.2};
    int checked = 0;
    for (size_t a = 0; a < sizeof sigmas / sizeof *sigmas; a++) {
        double s = sigmas[a];
        for (size_t b = 0; b < sizeof ds / sizeof *ds; b++) {
            /* tiny sigma: stay where the reference's density is representable */
            double d = s < 0.01 ? ds[b] * s * 3 : ds[b];
            long double h = s * 1e-4L;
            long double num = (ref_logpdf(d + h, s) - ref_logpdf(d - h, s)) / (2 * h);
            double got = xg_noise_wrapped_score(d, s);
            double tol = 1e-6 * fabsl(num) + 1e-9 / s;
            if (fabs(got - (double)num) > tol)
                printf("\n  sigma %g d %g: score %.12g numerical %.12Lg\n", s, d, got, num);
            CU_ASSERT(fabs(got - (double)num) <= tol);
            /* and the log density itself */
            XG_ASSERT_NEAR(xg_noise_wrapped_logpdf(d, s), (double)ref_logpdf(d, s),
                           1e-9 * (1 + fabsl(ref_logpdf(d, s))));
            checked++;
        }
    }
    CU_ASSERT_EQUAL(checked, 90);
    /* Far in the uniform regime the score is tiny but keeps its relative precision: compare
     * with the leading Fourier term -4 pi a sin(2 pi d) / (1 + 2 a cos(2 pi d)). */
    for (double s = 1.2; s <= 2.01; s += 0.4) {
        double a = exp(-2 * M_PI * M_PI * s * s), d = 0.137;
        double lead = -4 * M_PI * a * sin(2 * M_PI * d) / (1 + 2 * a * cos(2 * M_PI * d));
        double got = xg_noise_wrapped_score(d, s);
        CU_ASSERT(got != 0);
        CU_ASSERT(fabs(got - lead) <= 1e-9 * fabs(lead));
    }
    /* small sigma: exactly the Gaussian score -d / sigma^2 */
    XG_ASSERT_NEAR(xg_noise_wrapped_score(0.003, 0.002), -0.003 / 0.002 / 0.002, 1e-6);
    /* periodic and odd */
    XG_ASSERT_NEAR(xg_noise_wrapped_score(0.1, 0.4), xg_noise_wrapped_score(3.1, 0.4), 1e-9);
    XG_ASSERT_NEAR(xg_noise_wrapped_score(0.1, 0.4), -xg_noise_wrapped_score(-0.1, 0.4), 1e-12);
}

static void test_logpdf_normalised(void)
{
    const double sigmas[] = {0.03, 0.2, 0.5, 1.5};
    for (int a = 0; a < 4; a++) {
        double acc = 0;
        int n = 4000;
        for (int j = 0; j < n; j++)
            acc += exp(xg_noise_wrapped_logpdf(-0.5 + (j + 0.5) / n, sigmas[a])) / n;
        XG_ASSERT_NEAR(acc, 1.0, 1e-9);
    }
}

static void test_norm_vs_monte_carlo(void)
{
    CU_ASSERT_EQUAL(xg_noise_coord_norm(0.01), 1.0);
    XG_ASSERT_NEAR(xg_noise_coord_norm(0.06), 1.0, 1e-12);
    const double sigmas[] = {0.15, 0.3, 0.5, 0.74};
    xg_rng r;
    xg_rng_seed(&r, 7, 0);
    double prev = 1.0;
    for (int a = 0; a < 4; a++) {
        double s = sigmas[a], acc = 0, acc2 = 0;
        int n = 200000;
        for (int i = 0; i < n; i++) {
            double d = s * xg_rng_normal(&r);
            double v = s * xg_noise_wrapped_score(d, s);
            acc += v * v;
            acc2 += v * v * v * v;
        }
        double mc = acc / n, se = sqrt((acc2 / n - mc * mc) / n);
        double lam = xg_noise_coord_norm(s);
        if (fabs(lam - mc) > 5 * se)
            printf("\n  sigma %g: lambda %.6g monte carlo %.6g +- %.2g\n", s, lam, mc, se);
        CU_ASSERT(fabs(lam - mc) <= 5 * se);
        CU_ASSERT(lam < prev);
        prev = lam;
    }
    /* against a fine quadrature (4096 points) across both regimes and the switch */
    for (double sg = 0.05; sg < 2.5; sg *= 1.13) {
        double fine = 0;
        for (int j = 0; j < 4096; j++) {
            double d = -0.5 + j / 4096.0, v = sg * xg_noise_wrapped_score(d, sg);
            fine += exp(xg_noise_wrapped_logpdf(d, sg)) * v * v / 4096.0;
        }
        double got = xg_noise_coord_norm(sg);
        if (fabs(got - fine) > 1e-10 * fine)
            printf("\n  sigma %g: lambda %.15g fine quadrature %.15g\n", sg, got, fine);
        CU_ASSERT(fabs(got - fine) <= 1e-10 * fine);
    }
    /* the uniform-regime asymptote 8 pi^2 sigma^2 a^2 */
    double s = 1.5, a = exp(-2 * M_PI * M_PI * s * s);
    double asym = 8 * M_PI * M_PI * s * s * a * a;
    CU_ASSERT(fabs(xg_noise_coord_norm(s) - asym) <= 1e-6 * asym);
    /* the score recovered from a network output inverts the normalisation */
    double sg = 0.6, d = 0.21;
    double c = sg * xg_noise_wrapped_score(d, sg) / sqrt(xg_noise_coord_norm(sg));
    XG_ASSERT_NEAR(xg_noise_coord_score_from_output(c, sg), xg_noise_wrapped_score(d, sg),
                   1e-9 * fabs(xg_noise_wrapped_score(d, sg)));
}

static void test_sigma_schedule(void)
{
    xg_noise_params p;
    xg_noise_params_default(&p);
    XG_ASSERT_NEAR(xg_noise_coord_sigma(&p, 0, 1), 0.005, 1e-15);
    XG_ASSERT_NEAR(xg_noise_coord_sigma(&p, 1, 1), 2.0, 1e-12);
    XG_ASSERT_NEAR(xg_noise_coord_sigma(&p, 1, 20), 2.0 / cbrt(20.0), 1e-12);
    XG_ASSERT_NEAR(xg_noise_coord_sigma(&p, 0.5, 8), 0.1 / 2.0, 1e-12);
    XG_ASSERT_NEAR(xg_noise_abar(&p, 0), 1.0, 1e-15);
    CU_ASSERT_EQUAL(xg_noise_abar(&p, 1), 0.0);
    CU_ASSERT(xg_noise_abar(&p, 0.3) > xg_noise_abar(&p, 0.6));
    xg_error err;
    CU_ASSERT_EQUAL(xg_noise_params_check(&p, &err), XG_OK);
    xg_noise_params q = p;
    q.sigma_min = 3;
    CU_ASSERT_EQUAL(xg_noise_params_check(&q, &err), XG_EINVAL);
    q = p;
    q.w_coord = q.w_lattice = q.w_type = 0;
    CU_ASSERT_EQUAL(xg_noise_params_check(&q, &err), XG_EINVAL);
    q = p;
    q.avg_density = NAN;
    CU_ASSERT_EQUAL(xg_noise_params_check(&q, &err), XG_EINVAL);
}

static void rot_matrix(double R[9], double ax, double ay, double az)
{
    double cx = cos(ax), sx = sin(ax), cy = cos(ay), sy = sin(ay), cz = cos(az), sz = sin(az);
    double X[9] = {1, 0, 0, 0, cx, -sx, 0, sx, cx}, Y[9] = {cy, 0, sy, 0, 1, 0, -sy, 0, cy},
           Z[9] = {cz, -sz, 0, sz, cz, 0, 0, 0, 1}, T[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            T[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++)
                T[i * 3 + j] += X[i * 3 + k] * Y[k * 3 + j];
        }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            R[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++)
                R[i * 3 + j] += T[i * 3 + k] * Z[k * 3 + j];
        }
}

static void matmul(const double *A, const double *B, double *C)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            C[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++)
                C[i * 3 + j] += A[i * 3 + k] * B[k * 3 + j];
        }
}

static void test_lattice_canonical(void)
{
    /* a triclinic cell, and the same cell rotated (rows times R^T = each vector rotated) */
    double L[9] = {4.1, 0.2, -0.3, 1.3, 5.2, 0.4, -0.7, 0.9, 6.3}, R[9], Rt[9], LR[9], S[9], S2[9];
    rot_matrix(R, 0.3, -1.1, 2.0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            Rt[i * 3 + j] = R[j * 3 + i];
    matmul(L, Rt, LR);
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_noise_lattice_canonical(L, S, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_noise_lattice_canonical(LR, S2, &err), XG_OK);
    double SS[9], G[9];
    matmul(S, S, SS);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            G[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++)
                G[i * 3 + j] += L[i * 3 + k] * L[j * 3 + k];
        }
    for (int k = 0; k < 9; k++) {
        XG_ASSERT_NEAR(SS[k], G[k], 1e-9);       /* S^2 = L L^T: same metric, same crystal */
        XG_ASSERT_NEAR(S[k], S2[k], 1e-9);       /* rotation removed */
        CU_ASSERT_EQUAL(S[k], S[(k % 3) * 3 + k / 3]); /* exactly symmetric */
    }
    /* positive definite: the diagonal of S is positive */
    CU_ASSERT(S[0] > 0 && S[4] > 0 && S[8] > 0);
    /* singular cells are refused, not crashed on */
    double bad[9] = {1, 0, 0, 2, 0, 0, 0, 0, 3};
    CU_ASSERT_EQUAL(xg_noise_lattice_canonical(bad, S, &err), XG_ENUMERIC);
    double nanl[9] = {NAN, 0, 0, 0, 1, 0, 0, 0, 1};
    CU_ASSERT_EQUAL(xg_noise_lattice_canonical(nanl, S, &err), XG_ENUMERIC);
}

static void test_lattice_limit(void)
{
    xg_noise_params p;
    xg_noise_params_default(&p);
    int N = 8, n = 40000;
    double S0[9] = {3, 0.5, 0, 0.5, 4, 0.2, 0, 0.2, 5};
    int cls[8] = {0};
    double frac0[24] = {0};
    int tokens[8];
    float ft[24], lt[9], ct[24], lg[9];
    double mean[9] = {0}, m2[9] = {0};
    xg_rng r;
    xg_rng_seed(&r, 3, 0);
    for (int s = 0; s < n; s++) {
        xg_noise_draw(&p, 1.0, N, cls, frac0, S0, &r, tokens, ft, lt, ct, lg, NULL);
        for (int k = 0; k < 9; k++) {
            CU_ASSERT(lt[k] == lt[(k % 3) * 3 + k / 3]);
            mean[k] += lt[k];
            m2[k] += (double)lt[k] * lt[k];
        }
    }
    double mu = xg_noise_lattice_mu(&p, N), sd = xg_noise_lattice_std(&p, N);
    XG_ASSERT_NEAR(mu, cbrt(N / p.avg_density), 1e-12);
    XG_ASSERT_NEAR(sd, p.lattice_c * 2.0, 1e-12);
    for (int k = 0; k < 9; k++) {
        int diag = k % 4 == 0;
        double m = mean[k] / n, var = m2[k] / n - m * m;
        double want_var = (diag ? 2.0 : 1.0) * sd * sd;
        double want_mean = diag ? mu : 0.0;
        /* 5 standard errors of the mean and of the variance */
        CU_ASSERT(fabs(m - want_mean) <= 5 * sqrt(want_var / n));
        CU_ASSERT(fabs(var - want_var) <= 5 * want_var * sqrt(2.0 / n));
    }
    /* at t -> 0 the lattice is the data's */
    xg_noise_draw(&p, 1e-6, N, cls, frac0, S0, &r, tokens, ft, lt, ct, lg, NULL);
    for (int k = 0; k < 9; k++)
        XG_ASSERT_NEAR(lt[k], S0[k], 1e-2);
}

static void test_mask_rate_and_coords(void)
{
    xg_noise_params p;
    xg_noise_params_default(&p);
    enum { N = 20 };
    int cls[N], tokens[N];
    double frac0[3 * N], S0[9] = {5, 0, 0, 0, 5, 0, 0, 0, 5};
    float ft[3 * N], lt[9], ct[3 * N], lg[9];
    for (int i = 0; i < N; i++) {
        cls[i] = i % 7;
        for (int k = 0; k < 3; k++)
            frac0[3 * i + k] = 0.05 * i + 0.01 * k;
    }
    const double ts[] = {0.05, 0.3, 0.5, 0.9};
    xg_rng r;
    xg_rng_seed(&r, 11, 0);
    for (int a = 0; a < 4; a++) {
        long masked = 0, total = 0;
        for (int rep = 0; rep < 2000; rep++) {
            xg_noise_draw(&p, ts[a], N, cls, frac0, S0, &r, tokens, ft, lt, ct, lg, NULL);
            for (int i = 0; i < N; i++) {
                masked += tokens[i] == XG_MASK_TOKEN;
                total++;
                CU_ASSERT(tokens[i] == XG_MASK_TOKEN || tokens[i] == cls[i]);
                for (int k = 0; k < 3; k++)
                    CU_ASSERT(ft[3 * i + k] >= 0.0f && ft[3 * i + k] < 1.0f);
            }
        }
        double rate = (double)masked / total, want = ts[a]; /* 1 - alpha(t) = t */
        CU_ASSERT(fabs(rate - want) <= 5 * sqrt(want * (1 - want) / total));
    }
    /* small t: the coordinate target is the standard normal that displaced the atom */
    double sigma;
    xg_noise_draw(&p, 0.01, N, cls, frac0, S0, &r, tokens, ft, lt, ct, lg, &sigma);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 3; k++) {
            double d = ft[3 * i + k] - frac0[3 * i + k];
            d -= floor(d + 0.5);
            XG_ASSERT_NEAR(ct[3 * i + k], -d / sigma, 1e-3 * (1 + fabs(d / sigma)));
        }
}

static void test_fit(void)
{
    /* cubic cells at density 0.05 with 5% random strains, randomly rotated */
    enum { n = 400 };
    double *lat = malloc(sizeof(double) * 9 * n);
    int nat[n];
    xg_rng r;
    xg_rng_seed(&r, 5, 0);
    double dens = 0;
    for (int b = 0; b < n; b++) {
        nat[b] = 1 + (int)xg_rng_below(&r, 20);
        double a = cbrt(nat[b] / 0.05), L[9] = {0}, R[9], Rt[9];
        for (int k = 0; k < 9; k++)
            L[k] = (k % 4 == 0 ? a : 0) + 0.05 * a * xg_rng_normal(&r);
        rot_matrix(R, xg_rng_uniform(&r) * 6, xg_rng_uniform(&r) * 6, xg_rng_uniform(&r) * 6);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                Rt[i * 3 + j] = R[j * 3 + i];
        matmul(L, Rt, lat + 9 * b);
        double *M = lat + 9 * b;
        double v = fabs(M[0] * (M[4] * M[8] - M[5] * M[7]) - M[1] * (M[3] * M[8] - M[5] * M[6]) +
                        M[2] * (M[3] * M[7] - M[4] * M[6]));
        dens += nat[b] / v;
    }
    xg_noise_params p;
    xg_noise_params_default(&p);
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_noise_fit(&p, n, lat, nat, &err), XG_OK);
    XG_ASSERT_NEAR(p.avg_density, dens / n, 1e-12);
    /* 5% strains of a: the spread per entry is ~0.05 a = 0.05 * 2.71 N^(1/3) */
    CU_ASSERT(p.lattice_c > 0.05 && p.lattice_c < 0.3);
    CU_ASSERT_EQUAL(xg_noise_fit(&p, 0, lat, nat, &err), XG_EINVAL);
    nat[3] = 0;
    CU_ASSERT_EQUAL(xg_noise_fit(&p, n, lat, nat, &err), XG_EINVAL);
    free(lat);
}

/* The loss gradients against central differences of the loss itself. */
static void test_loss_gradients(void)
{
    xg_noise_params p;
    xg_noise_params_default(&p);
    p.w_coord = 0.7;
    p.w_lattice = 1.3;
    p.w_type = 0.9;
    int offsets[3] = {0, 2, 5};
    int tokens[5] = {3, XG_MASK_TOKEN, XG_MASK_TOKEN, 7, XG_MASK_TOKEN};
    int classes[5] = {3, 10, 0, 7, 99};
    float frac[15] = {0}, lat[18] = {0}, t[2] = {0.5f, 0.5f};
    xg_batch b = {2, 5, offsets, tokens, frac, lat, t, NULL, NULL};
    static float coord[15], logits[5 * XG_NUM_TYPES], lout[18], ct[15], lt[18];
    xg_rng r;
    xg_rng_seed(&r, 9, 0);
    for (int i = 0; i < 15; i++) {
        coord[i] = (float)xg_rng_normal(&r);
        ct[i] = (float)xg_rng_normal(&r);
    }
    for (int i = 0; i < 18; i++) {
        lout[i] = (float)xg_rng_normal(&r);
        lt[i] = (float)xg_rng_normal(&r);
    }
    for (int i = 0; i < 5 * XG_NUM_TYPES; i++)
        logits[i] = (float)(2 * xg_rng_normal(&r));
    xg_denoiser_out out = {coord, logits, lout};
    static float dc[15], dl[5 * XG_NUM_TYPES], dlat[18];
    xg_noise_loss L0, L1, L2;
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_noise_loss_eval(&p, &b, &out, classes, ct, lt, &L0, dc, dl, dlat, &err), XG_OK);
    CU_ASSERT_EQUAL(L0.masked, 3);
    XG_ASSERT_NEAR(L0.total, 0.7 * L0.coord + 1.3 * L0.lattice + 0.9 * L0.type, 1e-12);
    float *arrs[3] = {coord, logits, lout}, *grads[3] = {dc, dl, dlat};
    int lens[3] = {15, 5 * XG_NUM_TYPES, 18};
    double maxerr = 0;
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < lens[a]; i += (a == 1 ? 7 : 1)) {
            float keep = arrs[a][i];
            float h = 1e-2f;
            arrs[a][i] = keep + h;
            xg_noise_loss_eval(&p, &b, &out, classes, ct, lt, &L1, NULL, NULL, NULL, &err);
            arrs[a][i] = keep - h;
            xg_noise_loss_eval(&p, &b, &out, classes, ct, lt, &L2, NULL, NULL, NULL, &err);
            arrs[a][i] = keep;
            double num = (L1.total - L2.total) / (2.0 * h);
            double e = fabs(num - grads[a][i]);
            if (e > maxerr)
                maxerr = e;
        }
    if (maxerr >= 2e-4)
        printf("\n  max gradient error %g\n", maxerr);
    CU_ASSERT(maxerr < 2e-4);
    /* unmasked sites get no type gradient */
    for (int k = 0; k < XG_NUM_TYPES; k++)
        CU_ASSERT_EQUAL(dl[0 * XG_NUM_TYPES + k], 0.0f);
    /* a class out of range is an error, not a read out of bounds */
    classes[1] = 100;
    CU_ASSERT_EQUAL(xg_noise_loss_eval(&p, &b, &out, classes, ct, lt, &L1, NULL, NULL, NULL, &err), XG_EINVAL);
    classes[1] = 10;
    /* a non-finite output is reported */
    coord[0] = NAN;
    CU_ASSERT_EQUAL(xg_noise_loss_eval(&p, &b, &out, classes, ct, lt, &L1, NULL, NULL, NULL, &err), XG_ENUMERIC);
}

/* A CSP model (issue 16) sees every type at every t; the coordinate and lattice noise are the
 * same draws as the generative model's. */
static void test_csp_never_masks(void)
{
    xg_noise_params p;
    xg_noise_params_default(&p);
    enum { N = 40 };
    int classes[N], tok0[N], tok1[N];
    double frac0[N * 3], S0[9] = {5, 0, 0, 0, 5, 0, 0, 0, 5};
    float f0[N * 3], f1[N * 3], l0[9], l1[9], c0[N * 3], c1[N * 3], lt0[9], lt1[9];
    for (int a = 0; a < N; a++) {
        classes[a] = a % 7;
        for (int k = 0; k < 3; k++)
            frac0[3 * a + k] = fmod(0.1 * a + 0.3 * k, 1.0);
    }
    xg_rng r0, r1;
    xg_rng_seed(&r0, 5, 1);
    xg_rng_seed(&r1, 5, 1);
    xg_noise_draw(&p, 0.95, N, classes, frac0, S0, &r0, tok0, f0, l0, c0, lt0, NULL);
    p.csp = 1;
    xg_noise_draw(&p, 0.95, N, classes, frac0, S0, &r1, tok1, f1, l1, c1, lt1, NULL);
    int masked = 0;
    for (int a = 0; a < N; a++) {
        masked += tok0[a] == XG_MASK_TOKEN;
        CU_ASSERT_EQUAL(tok1[a], classes[a]);
    }
    CU_ASSERT(masked > N / 2);
    CU_ASSERT(memcmp(f0, f1, sizeof f0) == 0);
    CU_ASSERT(memcmp(l0, l1, sizeof l0) == 0);
}

/* Element-wise masking (issue 23): with class_mask 1 the atoms of one element are always
 * masked together and the mask rate per element is t; with class_mask 0.5 about half of the
 * crystals are masked that way and the rest atom by atom, whose per-atom rate is still t. */
static void test_class_mask(void)
{
    xg_noise_params p;
    xg_noise_params_default(&p);
    enum { N = 12, DRAWS = 4000 };
    int classes[N], tok[N];
    double frac0[N * 3], S0[9] = {5, 0, 0, 0, 5, 0, 0, 0, 5};
    float f[N * 3], l[9], c[N * 3], lt[9];
    for (int a = 0; a < N; a++) {
        classes[a] = a < 6 ? 7 : a < 9 ? 2 : 40 + a; /* O x 6, Li x 3, three singletons */
        for (int k = 0; k < 3; k++)
            frac0[3 * a + k] = fmod(0.07 * a + 0.3 * k, 1.0);
    }
    xg_error err;
    p.class_mask = 1.5;
    CU_ASSERT_EQUAL(xg_noise_params_check(&p, &err), XG_EINVAL);
    p.class_mask = 1.0;
    CU_ASSERT_EQUAL(xg_noise_params_check(&p, &err), XG_OK);
    xg_rng r;
    xg_rng_seed(&r, 9, 3);
    long masked_o = 0, split = 0;
    for (int d = 0; d < DRAWS; d++) {
        xg_noise_draw(&p, 0.3, N, classes, frac0, S0, &r, tok, f, l, c, lt, NULL);
        for (int a = 1; a < N; a++)
            if (classes[a] == classes[a - 1])
                split += (tok[a] == XG_MASK_TOKEN) != (tok[a - 1] == XG_MASK_TOKEN);
        masked_o += tok[0] == XG_MASK_TOKEN;
    }
    CU_ASSERT_EQUAL(split, 0);
    CU_ASSERT_DOUBLE_EQUAL((double)masked_o / DRAWS, 0.3, 0.03);
    /* half the crystals element-wise: O split in some draws, and the per-atom rate is t */
    p.class_mask = 0.5;
    long masked = 0, all_or_none = 0;
    for (int d = 0; d < DRAWS; d++) {
        xg_noise_draw(&p, 0.3, N, classes, frac0, S0, &r, tok, f, l, c, lt, NULL);
        int mo = 0;
        for (int a = 0; a < N; a++) {
            masked += tok[a] == XG_MASK_TOKEN;
            mo += a < 6 && tok[a] == XG_MASK_TOKEN;
        }
        all_or_none += mo == 0 || mo == 6;
    }
    CU_ASSERT_DOUBLE_EQUAL((double)masked / (DRAWS * N), 0.3, 0.02);
    /* P(O all or none) = 0.5 + 0.5 (0.7^6 + 0.3^6) = 0.559 */
    CU_ASSERT_DOUBLE_EQUAL((double)all_or_none / DRAWS, 0.559, 0.03);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"CSP model: types never masked, same noise", test_csp_never_masks},
        {"element-wise masking: an element's atoms masked together", test_class_mask},
        {"wrapped-normal score = numerical derivative of the density", test_score_vs_numerical},
        {"wrapped-normal density is normalised", test_logpdf_normalised},
        {"score normaliser = Monte Carlo E[(sigma score)^2]", test_norm_vs_monte_carlo},
        {"sigma and abar schedules, parameter checks", test_sigma_schedule},
        {"lattice canonicalisation removes rotation", test_lattice_canonical},
        {"lattice process reaches its limit mean and variance", test_lattice_limit},
        {"mask rate = 1 - alpha(t); coordinate targets", test_mask_rate_and_coords},
        {"density and prior scale fitted from data", test_fit},
        {"loss gradients = finite differences", test_loss_gradients},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("noise", tests);
}
