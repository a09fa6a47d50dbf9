/* test_nn.c: every layer of the network engine against a double-precision reference written
 * here from the header's definitions: forward values, and every gradient the backward computes
 * against central finite differences of the double reference (step 1e-5; its error, ~1e-10, is
 * far below float32 rounding, so the tolerance only covers the float layer: 1e-4 relative plus
 * 1e-5 of the largest gradient entry; a wrong term or index is off by O(1)). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_nn.h"

/* ------------------------------------------------------------------ harness */

typedef struct {
    xg_rng rng;
} rnd;

static void fill(float *x, double *xd, int n, double scale, xg_rng *r)
{
    for (int k = 0; k < n; k++) {
        x[k] = (float)(scale * xg_rng_normal(r));
        if (xd)
            xd[k] = x[k];
    }
}

/* The reference of a layer: writes its nout outputs (double) from the double inputs in ctx. */
typedef void (*ref_fn)(void *ctx, double *out);

static double ref_loss(ref_fn f, void *ctx, const float *w, int nout)
{
    double *out = calloc((size_t)nout, sizeof *out);
    f(ctx, out);
    double s = 0;
    for (int k = 0; k < nout; k++)
        s += w[k] * out[k];
    free(out);
    return s;
}

/* Float forward output vs the reference output; returns the worst relative difference. */
static double check_forward(const char *name, ref_fn f, void *ctx, const float *out, int nout)
{
    double *ref = calloc((size_t)nout, sizeof *ref), worst = 0;
    f(ctx, ref);
    for (int k = 0; k < nout; k++)
        worst = fmax(worst, fabs(ref[k] - out[k]) / (1.0 + fabs(ref[k])));
    free(ref);
    if (worst > 1e-5)
        printf("\n    %s forward: worst relative difference %.3e\n", name, worst);
    return worst;
}

/* Every entry of g (the analytic gradient with respect to x, n entries) against central
 * differences of the reference loss sum(w * out). Returns the number of bad entries. */
static int check_grad(const char *name, ref_fn f, void *ctx, double *x, const float *g, int n,
                      const float *w, int nout)
{
    double gmax = 0;
    for (int k = 0; k < n; k++)
        gmax = fmax(gmax, fabs(g[k]));
    int bad = gmax == 0.0; /* an all-zero gradient would make the check vacuous */
    if (bad)
        printf("\n    %s: gradient is identically zero\n", name);
    for (int k = 0; k < n; k++) {
        double h = 1e-5, save = x[k];
        x[k] = save + h;
        double fp = ref_loss(f, ctx, w, nout);
        x[k] = save - h;
        double fm = ref_loss(f, ctx, w, nout);
        x[k] = save;
        double fd = (fp - fm) / (2 * h);
        if (fabs(fd - g[k]) > 1e-4 * fabs(fd) + 1e-5 * gmax + 1e-7) {
            if (bad < 5)
                printf("\n    %s[%d]: analytic %.7g, finite difference %.7g\n", name, k, g[k], fd);
            bad++;
        }
    }
    return bad;
}

/* ------------------------------------------------------------------ linear */

typedef struct {
    int N, I, O;
    double *in, *W, *b;
} lin_ctx;

static void ref_linear(void *p, double *out)
{
    lin_ctx *c = p;
    for (int r = 0; r < c->N; r++)
        for (int o = 0; o < c->O; o++) {
            double s = c->b[o];
            for (int i = 0; i < c->I; i++)
                s += c->in[r * c->I + i] * c->W[o * c->I + i];
            out[r * c->O + o] = s;
        }
}

static void test_linear(void)
{
    enum { N = 7, NI = 5, NO = 4 };
    xg_rng r;
    xg_rng_seed(&r, 1, 0);
    float in[N * NI], W[NO * NI], b[NO], out[N * NO], w[N * NO];
    double ind[N * NI], Wd[NO * NI], bd[NO];
    fill(in, ind, N * NI, 1, &r);
    fill(W, Wd, NO * NI, 0.5, &r);
    fill(b, bd, NO, 0.5, &r);
    fill(w, NULL, N * NO, 1, &r);
    lin_ctx c = {N, NI, NO, ind, Wd, bd};
    xg_nn_linear_forward(out, in, W, b, N, NI, NO, 0);
    CU_ASSERT(check_forward("linear", ref_linear, &c, out, N * NO) < 1e-5);
    /* accumulate: out += in W^T + b, so twice the value */
    xg_nn_linear_forward(out, in, W, b, N, NI, NO, 1);
    double worst = 0;
    double ref[N * NO];
    ref_linear(&c, ref);
    for (int k = 0; k < N * NO; k++)
        worst = fmax(worst, fabs(out[k] - 2 * ref[k]));
    CU_ASSERT(worst < 1e-5);
    /* backward adds: start from non-zero gradients and subtract them afterwards */
    float din[N * NI], dW[NO * NI], db[NO], din0[N * NI], dW0[NO * NI], db0[NO];
    fill(din0, NULL, N * NI, 1, &r);
    fill(dW0, NULL, NO * NI, 1, &r);
    fill(db0, NULL, NO, 1, &r);
    memcpy(din, din0, sizeof din);
    memcpy(dW, dW0, sizeof dW);
    memcpy(db, db0, sizeof db);
    xg_nn_linear_backward(din, dW, db, w, in, W, N, NI, NO);
    for (int k = 0; k < N * NI; k++)
        din[k] -= din0[k];
    for (int k = 0; k < NO * NI; k++)
        dW[k] -= dW0[k];
    for (int k = 0; k < NO; k++)
        db[k] -= db0[k];
    CU_ASSERT_EQUAL(check_grad("linear din", ref_linear, &c, ind, din, N * NI, w, N * NO), 0);
    CU_ASSERT_EQUAL(check_grad("linear dW", ref_linear, &c, Wd, dW, NO * NI, w, N * NO), 0);
    CU_ASSERT_EQUAL(check_grad("linear db", ref_linear, &c, bd, db, NO, w, N * NO), 0);
    /* optional gradients may be skipped */
    xg_nn_linear_backward(NULL, NULL, NULL, w, in, W, N, NI, NO);
}

/* ------------------------------------------------------------------ SiLU */

typedef struct {
    int n;
    double *x;
} vec_ctx;

static void ref_silu(void *p, double *out)
{
    vec_ctx *c = p;
    for (int k = 0; k < c->n; k++)
        out[k] = c->x[k] / (1 + exp(-c->x[k]));
}

static void test_silu(void)
{
    enum { n = 40 };
    xg_rng r;
    xg_rng_seed(&r, 2, 0);
    float x[n], y[n], w[n], dx[n] = {0};
    double xd[n];
    fill(x, xd, n, 3, &r);
    x[0] = 0.0f, xd[0] = 0.0;     /* the point where s' changes shape */
    x[1] = -30.0f, xd[1] = -30.0; /* saturated tails must not overflow */
    x[2] = 30.0f, xd[2] = 30.0;
    fill(w, NULL, n, 1, &r);
    vec_ctx c = {n, xd};
    xg_nn_silu_forward(y, x, n);
    CU_ASSERT(check_forward("silu", ref_silu, &c, y, n) < 1e-6);
    xg_nn_silu_backward(dx, w, x, n);
    CU_ASSERT_EQUAL(check_grad("silu", ref_silu, &c, xd, dx, n, w, n), 0);
    /* the vectorised exp: a sweep across the whole range, tails included */
    enum { NS_ = 3601 };
    static float xs[NS_], ys[NS_];
    double worst = 0;
    for (int k = 0; k < NS_; k++)
        xs[k] = -90.0f + 0.05f * k;
    xg_nn_silu_forward(ys, xs, NS_);
    for (int k = 0; k < NS_; k++) {
        double xd0 = xs[k], ref = xd0 / (1 + exp(-xd0));
        if (xd0 >= -80) /* below, SiLU is < 1e-32 and only that is promised */
            worst = fmax(worst, fabs(ys[k] - ref) / fmax(fabs(ref), 1e-30));
        else
            worst = fmax(worst, fabs(ys[k]) > 1e-30);
    }
    printf("\n    silu sweep [-90, 90]: worst relative error %.2e\n", worst);
    CU_ASSERT(worst < 5e-6);
    /* in place forward */
    memcpy(y, x, sizeof y);
    xg_nn_silu_forward(y, y, n);
    CU_ASSERT(check_forward("silu in place", ref_silu, &c, y, n) < 1e-6);
}

/* ------------------------------------------------------------------ layer norm */

typedef struct {
    int N, C;
    double *x, *g, *b;
} ln_ctx;

static void ref_ln(void *p, double *out)
{
    ln_ctx *c = p;
    for (int r = 0; r < c->N; r++) {
        double m = 0, v = 0;
        for (int k = 0; k < c->C; k++)
            m += c->x[r * c->C + k];
        m /= c->C;
        for (int k = 0; k < c->C; k++)
            v += pow(c->x[r * c->C + k] - m, 2);
        v /= c->C;
        for (int k = 0; k < c->C; k++)
            out[r * c->C + k] = (c->x[r * c->C + k] - m) / sqrt(v + 1e-5) * c->g[k] + c->b[k];
    }
}

static void test_layernorm(void)
{
    enum { N = 5, C = 12 };
    xg_rng r;
    xg_rng_seed(&r, 3, 0);
    float x[N * C], g[C], b[C], y[N * C], mean[N], rstd[N], w[N * C];
    float dx[N * C] = {0}, dg[C] = {0}, db[C] = {0};
    double xd[N * C], gd[C], bd[C];
    fill(x, xd, N * C, 2, &r);
    for (int k = 0; k < N * C; k++) /* rows with different offsets and scales */
        xd[k] = x[k] = x[k] * (1 + k / C) + (float)(k / C);
    fill(g, gd, C, 0.5, &r);
    for (int k = 0; k < C; k++)
        gd[k] = g[k] += 1.0f;
    fill(b, bd, C, 0.5, &r);
    fill(w, NULL, N * C, 1, &r);
    ln_ctx c = {N, C, xd, gd, bd};
    xg_nn_layernorm_forward(y, mean, rstd, x, g, b, N, C);
    CU_ASSERT(check_forward("layernorm", ref_ln, &c, y, N * C) < 1e-5);
    xg_nn_layernorm_backward(dx, dg, db, w, x, mean, rstd, g, N, C);
    CU_ASSERT_EQUAL(check_grad("layernorm dx", ref_ln, &c, xd, dx, N * C, w, N * C), 0);
    CU_ASSERT_EQUAL(check_grad("layernorm dg", ref_ln, &c, gd, dg, C, w, N * C), 0);
    CU_ASSERT_EQUAL(check_grad("layernorm db", ref_ln, &c, bd, db, C, w, N * C), 0);
}

/* ------------------------------------------------------------------ embedding */

typedef struct {
    int N, C;
    const int *tok;
    double *table;
} emb_ctx;

static void ref_emb(void *p, double *out)
{
    emb_ctx *c = p;
    for (int r = 0; r < c->N; r++)
        for (int k = 0; k < c->C; k++)
            out[r * c->C + k] = c->table[c->tok[r] * c->C + k];
}

static void test_embedding(void)
{
    enum { N = 6, C = 4, T = 5 };
    const int tok[N] = {0, 3, 3, 4, 1, 3}; /* repeated tokens accumulate */
    xg_rng r;
    xg_rng_seed(&r, 4, 0);
    float table[T * C], y[N * C], w[N * C], dt[T * C] = {0};
    double td[T * C];
    fill(table, td, T * C, 1, &r);
    fill(w, NULL, N * C, 1, &r);
    emb_ctx c = {N, C, tok, td};
    xg_nn_embedding_forward(y, tok, table, N, C);
    CU_ASSERT(check_forward("embedding", ref_emb, &c, y, N * C) == 0.0);
    xg_nn_embedding_backward(dt, w, tok, N, C);
    CU_ASSERT_EQUAL(check_grad("embedding", ref_emb, &c, td, dt, T * C, w, N * C), 0);
    for (int k = 0; k < C; k++) /* token 2 is unused */
        CU_ASSERT_EQUAL(dt[2 * C + k], 0.0f);
}

/* ------------------------------------------------------------------ time features */

typedef struct {
    int N, D;
    double *t;
} time_ctx;

static void ref_time(void *p, double *out)
{
    time_ctx *c = p;
    int half = c->D / 2;
    for (int r = 0; r < c->N; r++)
        for (int k = 0; k < half; k++) {
            double a = c->t[r] * 1000.0 * pow(10000.0, -(double)k / half);
            out[r * c->D + k] = sin(a);
            out[r * c->D + half + k] = cos(a);
        }
}

static void test_time_features(void)
{
    enum { N = 4, D = 16 };
    float t[N] = {0.001f, 0.25f, 0.5f, 1.0f}, y[N * D], w[N * D], dt[N] = {0};
    double td[N] = {0.001f, 0.25f, 0.5f, 1.0f};
    xg_rng r;
    xg_rng_seed(&r, 5, 0);
    fill(w, NULL, N * D, 1, &r);
    time_ctx c = {N, D, td};
    xg_nn_time_features_forward(y, t, N, D);
    CU_ASSERT(check_forward("time", ref_time, &c, y, N * D) < 1e-6);
    xg_nn_time_features_backward(dt, w, t, N, D);
    CU_ASSERT_EQUAL(check_grad("time dt", ref_time, &c, td, dt, N, w, N * D), 0);
    /* distinct times give distinct features */
    double dist = 0;
    for (int k = 0; k < D; k++)
        dist += fabs(y[k] - y[D + k]);
    CU_ASSERT(dist > 0.1);
}

/* ------------------------------------------------------------------ pairs */

#define NS 3
static const int sizes_off[NS + 1] = {0, 3, 4, 8}; /* crystals of 3, 1 and 4 atoms */

static xg_nn_pairs make_pairs(long *poff)
{
    long E = xg_nn_pairs_layout(poff, sizes_off, NS);
    xg_nn_pairs pl = {NS, sizes_off[NS], E, sizes_off, poff};
    return pl;
}

typedef struct {
    const xg_nn_pairs *pl;
    int nf, C;
    double *frac, *P, *Q, *R, *in;
} pair_ctx;

static void ref_fourier(void *p, double *out)
{
    pair_ctx *c = p;
    const xg_nn_pairs *pl = c->pl;
    int W = 6 * c->nf;
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int a = 0; a < 3; a++)
                    for (int k = 1; k <= c->nf; k++) {
                        double d = c->frac[(o + j) * 3 + a] - c->frac[(o + i) * 3 + a];
                        double *row = out + (pl->pair_offsets[b] + i * n + j) * W;
                        row[a * 2 * c->nf + 2 * (k - 1)] = sin(2 * M_PI * k * d);
                        row[a * 2 * c->nf + 2 * (k - 1) + 1] = cos(2 * M_PI * k * d);
                    }
    }
}

static void test_pair_layout(void)
{
    long poff[NS + 1];
    xg_nn_pairs pl = make_pairs(poff);
    CU_ASSERT_EQUAL(pl.npairs, 9 + 1 + 16);
    CU_ASSERT_EQUAL(poff[0], 0);
    CU_ASSERT_EQUAL(poff[1], 9);
    CU_ASSERT_EQUAL(poff[2], 10);
    CU_ASSERT_EQUAL(poff[3], 26);
}

static void test_fourier(void)
{
    long poff[NS + 1];
    xg_nn_pairs pl = make_pairs(poff);
    enum { NF = 8, A = 8 };
    const int W = 6 * NF, E = (int)pl.npairs;
    xg_rng r;
    xg_rng_seed(&r, 6, 0);
    float frac[A * 3], dfrac[A * 3] = {0};
    double fd[A * 3];
    for (int k = 0; k < A * 3; k++)
        fd[k] = frac[k] = (float)(xg_rng_uniform(&r) * 3.0 - 1.0); /* outside [0,1) too */
    float *y = malloc(sizeof(float) * E * W), *w = malloc(sizeof(float) * E * W);
    fill(w, NULL, E * W, 1, &r);
    pair_ctx c = {&pl, NF, 0, fd, NULL, NULL, NULL, NULL};
    xg_nn_pair_fourier_forward(y, frac, &pl, NF);
    /* the angle-addition recurrence stays within float rounding of the direct sin/cos */
    CU_ASSERT(check_forward("fourier", ref_fourier, &c, y, E * W) < 2e-6);
    xg_nn_pair_fourier_backward(dfrac, w, frac, &pl, NF);
    CU_ASSERT_EQUAL(check_grad("fourier dfrac", ref_fourier, &c, fd, dfrac, A * 3, w, E * W), 0);
    /* the i == j rows are sin 0 = 0, cos 0 = 1 */
    const float *self = y + (size_t)(poff[2]) * W;
    CU_ASSERT_EQUAL(self[0], 0.0f);
    CU_ASSERT_EQUAL(self[1], 1.0f);
    free(y);
    free(w);
}

static void ref_gather(void *p, double *out)
{
    pair_ctx *c = p;
    const xg_nn_pairs *pl = c->pl;
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < c->C; k++)
                    out[(pl->pair_offsets[b] + i * n + j) * c->C + k] =
                        c->in[(pl->pair_offsets[b] + i * n + j) * c->C + k] +
                        c->P[(o + i) * c->C + k] + c->Q[(o + j) * c->C + k] + c->R[b * c->C + k];
    }
}

static void test_pair_gather(void)
{
    long poff[NS + 1];
    xg_nn_pairs pl = make_pairs(poff);
    enum { C = 5, A = 8, E = 26 };
    xg_rng r;
    xg_rng_seed(&r, 7, 0);
    float P[A * C], Q[A * C], R[NS * C], y[E * C], w[E * C];
    float dP[A * C] = {0}, dQ[A * C] = {0}, dR[NS * C] = {0};
    double Pd[A * C], Qd[A * C], Rd[NS * C], yd[E * C];
    fill(P, Pd, A * C, 1, &r);
    fill(Q, Qd, A * C, 1, &r);
    fill(R, Rd, NS * C, 1, &r);
    fill(y, yd, E * C, 1, &r); /* the gather accumulates onto what is there */
    fill(w, NULL, E * C, 1, &r);
    pair_ctx c = {&pl, 0, C, NULL, Pd, Qd, Rd, yd};
    xg_nn_pair_gather_forward(y, P, Q, R, &pl, C);
    CU_ASSERT(check_forward("gather", ref_gather, &c, y, E * C) < 1e-6);
    xg_nn_pair_gather_backward(dP, dQ, dR, w, &pl, C);
    CU_ASSERT_EQUAL(check_grad("gather dP", ref_gather, &c, Pd, dP, A * C, w, E * C), 0);
    CU_ASSERT_EQUAL(check_grad("gather dQ", ref_gather, &c, Qd, dQ, A * C, w, E * C), 0);
    CU_ASSERT_EQUAL(check_grad("gather dR", ref_gather, &c, Rd, dR, NS * C, w, E * C), 0);
}

static void ref_pair_mean(void *p, double *out)
{
    pair_ctx *c = p;
    const xg_nn_pairs *pl = c->pl;
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < c->C; k++) {
                double s = 0;
                for (int j = 0; j < n; j++)
                    s += c->in[(pl->pair_offsets[b] + i * n + j) * c->C + k];
                out[(o + i) * c->C + k] = s / n;
            }
    }
}

static void test_pair_mean(void)
{
    long poff[NS + 1];
    xg_nn_pairs pl = make_pairs(poff);
    enum { C = 5, A = 8, E = 26 };
    xg_rng r;
    xg_rng_seed(&r, 8, 0);
    float in[E * C], y[A * C], w[A * C], din[E * C] = {0};
    double ind[E * C];
    fill(in, ind, E * C, 1, &r);
    fill(w, NULL, A * C, 1, &r);
    pair_ctx c = {&pl, 0, C, NULL, NULL, NULL, NULL, ind};
    xg_nn_pair_mean_forward(y, in, &pl, C);
    CU_ASSERT(check_forward("pair mean", ref_pair_mean, &c, y, A * C) < 1e-6);
    xg_nn_pair_mean_backward(din, w, &pl, C);
    CU_ASSERT_EQUAL(check_grad("pair mean din", ref_pair_mean, &c, ind, din, E * C, w, A * C), 0);
}

static void ref_pair_mean_silu(void *p, double *out)
{
    pair_ctx *c = p;
    const xg_nn_pairs *pl = c->pl;
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < c->C; k++) {
                double s = 0;
                for (int j = 0; j < n; j++) {
                    double z = c->in[(pl->pair_offsets[b] + i * n + j) * c->C + k];
                    s += z / (1 + exp(-z));
                }
                out[(o + i) * c->C + k] = s / n;
            }
    }
}

static void test_pair_mean_silu(void)
{
    long poff[NS + 1];
    xg_nn_pairs pl = make_pairs(poff);
    enum { C = 5, A = 8, E = 26 };
    xg_rng r;
    xg_rng_seed(&r, 14, 0);
    float in[E * C], y[A * C], w[A * C], din[E * C] = {0};
    double ind[E * C];
    fill(in, ind, E * C, 2, &r);
    fill(w, NULL, A * C, 1, &r);
    pair_ctx c = {&pl, 0, C, NULL, NULL, NULL, NULL, ind};
    xg_nn_pair_mean_silu_forward(y, in, &pl, C);
    CU_ASSERT(check_forward("pair mean silu", ref_pair_mean_silu, &c, y, A * C) < 1e-6);
    xg_nn_pair_mean_silu_backward(din, w, in, &pl, C);
    CU_ASSERT_EQUAL(
        check_grad("pair mean silu din", ref_pair_mean_silu, &c, ind, din, E * C, w, A * C), 0);
}

/* Large batches take the OpenMP paths: they must give the same sums as a serial double loop,
 * and the same bits run after run. */
static void test_pairs_parallel_paths(void)
{
    enum { S = 40, C = 64 };
    int off[S + 1];
    long poff[S + 1];
    off[0] = 0;
    for (int s = 0; s < S; s++)
        off[s + 1] = off[s] + 1 + (s * 7) % 20;
    long E = xg_nn_pairs_layout(poff, off, S);
    xg_nn_pairs pl = {S, off[S], E, off, poff};
    int A = off[S];
    xg_rng r;
    xg_rng_seed(&r, 9, 0);
    float *g = malloc(sizeof(float) * E * C), *dP = calloc((size_t)A * C, sizeof(float));
    float *dQ = calloc((size_t)A * C, sizeof(float)), *dR = calloc((size_t)S * C, sizeof(float));
    float *dP2 = calloc((size_t)A * C, sizeof(float)), *m = malloc(sizeof(float) * A * C);
    fill(g, NULL, (int)(E * C), 1, &r);
    xg_nn_pair_gather_backward(dP, dQ, dR, g, &pl, C);
    xg_nn_pair_gather_backward(dP2, NULL, NULL, g, &pl, C);
    xg_nn_pair_mean_forward(m, g, &pl, C);
    double worst = 0;
    for (int s = 0; s < S; s++) {
        int n = off[s + 1] - off[s];
        for (int k = 0; k < C; k++) {
            double rs = 0;
            for (int i = 0; i < n; i++) {
                double pi = 0, qi = 0;
                for (int j = 0; j < n; j++) {
                    pi += g[(poff[s] + (long)i * n + j) * C + k];
                    qi += g[(poff[s] + (long)j * n + i) * C + k];
                }
                rs += pi;
                worst = fmax(worst, fabs(pi - dP[(off[s] + i) * C + k]));
                worst = fmax(worst, fabs(qi - dQ[(off[s] + i) * C + k]));
                worst = fmax(worst, fabs(pi / n - m[(off[s] + i) * C + k]));
            }
            worst = fmax(worst, fabs(rs - dR[s * C + k]) / 10);
        }
    }
    CU_ASSERT(worst < 1e-4);
    CU_ASSERT(!memcmp(dP, dP2, sizeof(float) * A * C));
    free(g), free(dP), free(dQ), free(dR), free(dP2), free(m);
}

/* ------------------------------------------------------------------ segments, concat */

typedef struct {
    const int *off;
    int nseg, C;
    double *in;
} seg_ctx;

static void ref_seg_mean(void *p, double *out)
{
    seg_ctx *c = p;
    for (int s = 0; s < c->nseg; s++)
        for (int k = 0; k < c->C; k++) {
            double acc = 0;
            int n = c->off[s + 1] - c->off[s];
            for (int r = c->off[s]; r < c->off[s + 1]; r++)
                acc += c->in[r * c->C + k];
            out[s * c->C + k] = n ? acc / n : 0.0;
        }
}

static void ref_seg_bcast(void *p, double *out)
{
    seg_ctx *c = p;
    for (int s = 0; s < c->nseg; s++)
        for (int r = c->off[s]; r < c->off[s + 1]; r++)
            for (int k = 0; k < c->C; k++)
                out[r * c->C + k] = c->in[s * c->C + k];
}

static void test_segments(void)
{
    enum { NSEG = 4, C = 3, ROWS = 7 };
    const int off[NSEG + 1] = {0, 2, 2, 6, 7}; /* segment 1 is empty */
    xg_rng r;
    xg_rng_seed(&r, 10, 0);
    float in[ROWS * C], y[NSEG * C], w[NSEG * C], din[ROWS * C] = {0};
    double ind[ROWS * C];
    fill(in, ind, ROWS * C, 1, &r);
    fill(w, NULL, NSEG * C, 1, &r);
    seg_ctx c = {off, NSEG, C, ind};
    xg_nn_segment_mean_forward(y, in, off, NSEG, C);
    CU_ASSERT(check_forward("segment mean", ref_seg_mean, &c, y, NSEG * C) < 1e-6);
    CU_ASSERT_EQUAL(y[1 * C], 0.0f);
    xg_nn_segment_mean_backward(din, w, off, NSEG, C);
    CU_ASSERT_EQUAL(check_grad("segment mean", ref_seg_mean, &c, ind, din, ROWS * C, w, NSEG * C),
                    0);

    /* broadcast: per-segment rows onto the rows of the segment */
    float sv[NSEG * C], yb[ROWS * C] = {0}, wb[ROWS * C], dsv[NSEG * C] = {0};
    double svd[NSEG * C];
    fill(sv, svd, NSEG * C, 1, &r);
    fill(wb, NULL, ROWS * C, 1, &r);
    seg_ctx cb = {off, NSEG, C, svd};
    xg_nn_segment_broadcast_forward(yb, sv, off, NSEG, C);
    CU_ASSERT(check_forward("broadcast", ref_seg_bcast, &cb, yb, ROWS * C) < 1e-6);
    xg_nn_segment_broadcast_backward(dsv, wb, off, NSEG, C);
    /* the empty segment gets no gradient: check the others through the reference */
    double worst = 0;
    for (int k = 0; k < C; k++)
        worst = fmax(worst, fabs(dsv[1 * C + k]));
    CU_ASSERT_EQUAL(worst, 0.0);
    int bad = 0;
    for (int s = 0; s < NSEG; s += 2) /* segments 0 and 2 via FD */
        bad +=
            check_grad("broadcast", ref_seg_bcast, &cb, svd + s * C, dsv + s * C, C, wb, ROWS * C);
    CU_ASSERT_EQUAL(bad, 0);
}

typedef struct {
    int N, C1, C2;
    double *a, *b;
} cat_ctx;

static void ref_concat(void *p, double *out)
{
    cat_ctx *c = p;
    for (int r = 0; r < c->N; r++) {
        for (int k = 0; k < c->C1; k++)
            out[r * (c->C1 + c->C2) + k] = c->a[r * c->C1 + k];
        for (int k = 0; k < c->C2; k++)
            out[r * (c->C1 + c->C2) + c->C1 + k] = c->b[r * c->C2 + k];
    }
}

static void test_concat(void)
{
    enum { N = 3, C1 = 2, C2 = 4 };
    xg_rng r;
    xg_rng_seed(&r, 11, 0);
    float a[N * C1], b[N * C2], y[N * (C1 + C2)], w[N * (C1 + C2)], da[N * C1] = {0},
                                                                           db[N * C2] = {0};
    double ad[N * C1], bd[N * C2];
    fill(a, ad, N * C1, 1, &r);
    fill(b, bd, N * C2, 1, &r);
    fill(w, NULL, N * (C1 + C2), 1, &r);
    cat_ctx c = {N, C1, C2, ad, bd};
    xg_nn_concat_forward(y, a, b, N, C1, C2);
    CU_ASSERT(check_forward("concat", ref_concat, &c, y, N * (C1 + C2)) == 0.0);
    xg_nn_concat_backward(da, db, w, N, C1, C2);
    CU_ASSERT_EQUAL(check_grad("concat da", ref_concat, &c, ad, da, N * C1, w, N * (C1 + C2)), 0);
    CU_ASSERT_EQUAL(check_grad("concat db", ref_concat, &c, bd, db, N * C2, w, N * (C1 + C2)), 0);
}

/* ------------------------------------------------------------------ losses */

typedef struct {
    int N, C;
    const int *t;
    double *z;
} xent_ctx;

static void ref_xent(void *p, double *out)
{
    xent_ctx *c = p;
    for (int r = 0; r < c->N; r++) {
        double s = 0;
        for (int k = 0; k < c->C; k++)
            s += exp(c->z[r * c->C + k]);
        out[r] = c->t[r] < 0 ? 0.0 : log(s) - c->z[r * c->C + c->t[r]];
    }
}

static void test_xent(void)
{
    enum { N = 4, C = 6 };
    const int t[N] = {2, -1, 0, 5}; /* row 1 is ignored */
    xg_rng r;
    xg_rng_seed(&r, 12, 0);
    float z[N * C], probs[N * C], losses[N], dl[N], dz[N * C] = {0};
    double zd[N * C];
    fill(z, zd, N * C, 2, &r);
    z[0] = 80.0f, zd[0] = 80.0; /* a large logit must not overflow */
    fill(dl, NULL, N, 1, &r);
    xent_ctx c = {N, C, t, zd};
    double total = xg_nn_xent_forward(losses, probs, z, t, N, C);
    CU_ASSERT(check_forward("xent", ref_xent, &c, losses, N) < 1e-5);
    XG_ASSERT_NEAR(total, losses[0] + losses[1] + losses[2] + losses[3], 1e-4);
    CU_ASSERT_EQUAL(losses[1], 0.0f);
    double psum = 0;
    for (int k = 0; k < C; k++)
        psum += probs[C + k];
    XG_ASSERT_NEAR(psum, 1.0, 1e-6);
    xg_nn_xent_backward(dz, probs, t, dl, N, C);
    CU_ASSERT_EQUAL(check_grad("xent dlogits", ref_xent, &c, zd, dz, N * C, dl, N), 0);
}

typedef struct {
    int n;
    double *p;
    const float *t;
} mse_ctx;

static void ref_mse(void *p, double *out)
{
    mse_ctx *c = p;
    double s = 0;
    for (int k = 0; k < c->n; k++)
        s += pow(c->p[k] - c->t[k], 2);
    out[0] = s / c->n;
}

static void test_mse(void)
{
    enum { n = 9 };
    xg_rng r;
    xg_rng_seed(&r, 13, 0);
    float p[n], t[n], dp[n] = {0}, one = 0.7f;
    double pd[n];
    fill(p, pd, n, 1, &r);
    fill(t, NULL, n, 1, &r);
    mse_ctx c = {n, pd, t};
    double l = xg_nn_mse_forward(p, t, n);
    double ref;
    ref_mse(&c, &ref);
    XG_ASSERT_NEAR(l, ref, 1e-6);
    xg_nn_mse_backward(dp, p, t, n, one);
    CU_ASSERT_EQUAL(check_grad("mse", ref_mse, &c, pd, dp, n, &one, 1), 0);
    CU_ASSERT_EQUAL(xg_nn_mse_forward(p, t, 0), 0.0);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"linear", test_linear},
        {"silu", test_silu},
        {"layer norm", test_layernorm},
        {"embedding", test_embedding},
        {"time features", test_time_features},
        {"pair layout", test_pair_layout},
        {"fourier features", test_fourier},
        {"pair gather", test_pair_gather},
        {"pair mean", test_pair_mean},
        {"fused SiLU + pair mean", test_pair_mean_silu},
        {"pair layers on the parallel path", test_pairs_parallel_paths},
        {"segment mean and broadcast", test_segments},
        {"concat", test_concat},
        {"softmax cross-entropy", test_xent},
        {"mean squared error", test_mse},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("nn", tests);
}
