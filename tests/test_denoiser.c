/* test_denoiser.c: the denoiser against an independent double-precision reference written from
 * the header comment (forward values and central-difference gradients of every parameter
 * tensor), its symmetries (atom order, translation, x -> x + 1, lattice rotation), batch packing,
 * determinism and input checking. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_nn.h"

/* ------------------------------------------------------------------ a small random batch */

#define MAXA 64
#define MAXS 8

typedef struct {
    int nstructs, natoms;
    int offsets[MAXS + 1];
    int tokens[MAXA];
    float frac[MAXA * 3];
    float lattice[MAXS * 9];
    float t[MAXS];
    float cond[MAXS * 4];
    unsigned char cond_on[MAXS];
} test_batch;

static void make_batch(test_batch *tb, const int *sizes, int nstructs, uint64_t seed)
{
    xg_rng r;
    xg_rng_seed(&r, seed, 1);
    memset(tb, 0, sizeof *tb);
    tb->nstructs = nstructs;
    for (int s = 0; s < nstructs; s++) {
        tb->offsets[s + 1] = tb->offsets[s] + sizes[s];
        double a = pow(17.0 * sizes[s], 1.0 / 3.0);
        for (int k = 0; k < 9; k++)
            tb->lattice[s * 9 + k] = (float)((k % 4 == 0 ? a : 0.0) + 0.8 * xg_rng_normal(&r));
        tb->t[s] = (float)(0.05 + 0.9 * xg_rng_uniform(&r));
        for (int k = 0; k < 4; k++)
            tb->cond[s * 4 + k] = (float)xg_rng_normal(&r);
        tb->cond_on[s] = (unsigned char)(s % 2 == 0);
    }
    tb->natoms = tb->offsets[nstructs];
    for (int i = 0; i < tb->natoms; i++) {
        tb->tokens[i] = (int)xg_rng_below(&r, XG_NUM_TOKENS); /* includes the mask token */
        for (int k = 0; k < 3; k++)
            tb->frac[i * 3 + k] = (float)xg_rng_uniform(&r);
    }
}

static xg_batch as_batch(const test_batch *tb, int cond_dim)
{
    xg_batch b = {tb->nstructs,
                  tb->natoms,
                  tb->offsets,
                  tb->tokens,
                  tb->frac,
                  tb->lattice,
                  tb->t,
                  cond_dim ? tb->cond : NULL,
                  cond_dim ? tb->cond_on : NULL};
    return b;
}

/* A denoiser with every parameter moved away from its initial value (biases non-zero, layer
 * norm gains not 1, heads not small) so that every gradient path is exercised. */
static xg_denoiser *make_net(int H, int L, int nf, int td, int cd, uint64_t seed)
{
    xg_denoiser_config cfg = {H, L, nf, td, cd};
    xg_error err;
    xg_denoiser *d = xg_denoiser_alloc(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    xg_denoiser_init_params(d, seed);
    xg_rng r;
    xg_rng_seed(&r, seed, 2);
    float *w = xg_denoiser_params(d);
    for (size_t k = 0; k < xg_denoiser_num_params(d); k++)
        w[k] += (float)(0.3 * xg_rng_normal(&r));
    return d;
}

/* ------------------------------------------------------------------ double reference */

typedef struct {
    const xg_denoiser *d;
    int H, L, nf, td, cd;
} ref_net;

static size_t off(const ref_net *rn, const char *name)
{
    for (int i = 0; i < xg_denoiser_param_count(rn->d); i++) {
        size_t o;
        const char *nm = xg_denoiser_param_info(rn->d, i, &o, NULL, NULL);
        if (!strcmp(nm, name))
            return o;
    }
    fprintf(stderr, "no parameter %s\n", name);
    abort();
}

static size_t loff(const ref_net *rn, int l, const char *field)
{
    char nm[64];
    snprintf(nm, sizeof nm, "layer%d.%s", l, field);
    return off(rn, nm);
}

static double silu(double x) { return x / (1.0 + exp(-x)); }

static void ref_layernorm(double *y, const double *x, const double *g, const double *b, int C)
{
    double m = 0, v = 0;
    for (int c = 0; c < C; c++)
        m += x[c];
    m /= C;
    for (int c = 0; c < C; c++)
        v += (x[c] - m) * (x[c] - m);
    v /= C;
    for (int c = 0; c < C; c++)
        y[c] = (x[c] - m) / sqrt(v + 1e-5) * g[c] + b[c];
}

/* y = W x (+ bias), W rows x cols at w */
static void ref_matvec(double *y, const double *W, const double *x, const double *bias, int rows,
                       int cols, int accumulate)
{
    for (int r = 0; r < rows; r++) {
        double s = bias ? bias[r] : 0.0;
        for (int c = 0; c < cols; c++)
            s += W[(size_t)r * cols + c] * x[c];
        y[r] = accumulate ? y[r] + s : s;
    }
}

/* The network exactly as xg_denoiser.h's comment states it, plain loops in double. */
static void ref_forward(const ref_net *rn, const double *w, const test_batch *tb, double *coord,
                        double *logits, double *lat)
{
    const int H = rn->H, L = rn->L, nf = rn->nf, td = rn->td, cd = rn->cd, A = tb->natoms;
    double *h = calloc((size_t)A * H, sizeof *h), *u = calloc((size_t)A * H, sizeof *u);
    double *mbar = calloc((size_t)A * H, sizeof *mbar);
    double tmp[512], tmp2[512], cvec[1024], phi[6 * 16];
    for (int s = 0; s < tb->nstructs; s++) {
        int o = tb->offsets[s], n = tb->offsets[s + 1] - o;
        double tf[256], te[256];
        int half = td / 2;
        for (int k = 0; k < half; k++) {
            double a = tb->t[s] * 1000.0 * pow(10000.0, -(double)k / half);
            tf[k] = sin(a);
            tf[half + k] = cos(a);
        }
        ref_matvec(te, w + off(rn, "time_w"), tf, NULL, H, td, 0);
        if (cd > 0) {
            if (tb->cond_on[s]) {
                double cv[8];
                for (int k = 0; k < cd; k++)
                    cv[k] = tb->cond[s * cd + k];
                ref_matvec(te, w + off(rn, "cond_w"), cv, NULL, H, cd, 1);
            } else {
                for (int c = 0; c < H; c++)
                    te[c] += w[off(rn, "uncond") + c];
            }
        }
        for (int i = o; i < o + n; i++)
            for (int c = 0; c < H; c++)
                h[(size_t)i * H + c] =
                    w[off(rn, "type_embed") + (size_t)tb->tokens[i] * H + c] + te[c];
    }
    for (int l = 0; l < L; l++) {
        for (int i = 0; i < A; i++)
            ref_layernorm(u + (size_t)i * H, h + (size_t)i * H, w + loff(rn, l, "ln_g"),
                          w + loff(rn, l, "ln_b"), H);
        for (int s = 0; s < tb->nstructs; s++) {
            int o = tb->offsets[s], n = tb->offsets[s + 1] - o;
            const float *Lb = tb->lattice + s * 9;
            double G[3][3], g6[6], n23 = pow(n, 2.0 / 3.0);
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 3; c++)
                    G[r][c] = (double)Lb[r * 3] * Lb[c * 3] +
                              (double)Lb[r * 3 + 1] * Lb[c * 3 + 1] +
                              (double)Lb[r * 3 + 2] * Lb[c * 3 + 2];
            g6[0] = G[0][0] / n23, g6[1] = G[1][1] / n23, g6[2] = G[2][2] / n23;
            g6[3] = G[0][1] / n23, g6[4] = G[0][2] / n23, g6[5] = G[1][2] / n23;
            for (int i = o; i < o + n; i++) {
                for (int c = 0; c < H; c++)
                    mbar[(size_t)i * H + c] = 0.0;
                for (int j = o; j < o + n; j++) {
                    for (int a = 0; a < 3; a++) {
                        double dd = (double)tb->frac[j * 3 + a] - tb->frac[i * 3 + a];
                        for (int k = 1; k <= nf; k++) {
                            phi[a * 2 * nf + 2 * (k - 1)] = sin(2 * M_PI * k * dd);
                            phi[a * 2 * nf + 2 * (k - 1) + 1] = cos(2 * M_PI * k * dd);
                        }
                    }
                    ref_matvec(tmp, w + loff(rn, l, "A"), u + (size_t)i * H, w + loff(rn, l, "b1"),
                               H, H, 0);
                    ref_matvec(tmp, w + loff(rn, l, "B"), u + (size_t)j * H, NULL, H, H, 1);
                    ref_matvec(tmp, w + loff(rn, l, "F"), phi, NULL, H, 6 * nf, 1);
                    ref_matvec(tmp, w + loff(rn, l, "G"), g6, NULL, H, 6, 1);
                    for (int c = 0; c < H; c++)
                        tmp[c] = silu(tmp[c]);
                    ref_matvec(tmp2, w + loff(rn, l, "W2"), tmp, w + loff(rn, l, "b2"), H, H, 0);
                    for (int c = 0; c < H; c++)
                        mbar[(size_t)i * H + c] += silu(tmp2[c]) / n;
                }
            }
        }
        for (int i = 0; i < A; i++) {
            for (int c = 0; c < H; c++) {
                cvec[c] = u[(size_t)i * H + c];
                cvec[H + c] = mbar[(size_t)i * H + c];
            }
            ref_matvec(tmp, w + loff(rn, l, "W3"), cvec, w + loff(rn, l, "b3"), H, 2 * H, 0);
            for (int c = 0; c < H; c++)
                tmp[c] = silu(tmp[c]);
            ref_matvec(h + (size_t)i * H, w + loff(rn, l, "W4"), tmp, w + loff(rn, l, "b4"), H, H,
                       1);
        }
    }
    for (int i = 0; i < A; i++) {
        ref_layernorm(u + (size_t)i * H, h + (size_t)i * H, w + off(rn, "out.ln_g"),
                      w + off(rn, "out.ln_b"), H);
        ref_matvec(coord + i * 3, w + off(rn, "out.coord_w"), u + (size_t)i * H, NULL, 3, H, 0);
        ref_matvec(logits + (size_t)i * XG_NUM_TYPES, w + off(rn, "out.type_w"), u + (size_t)i * H,
                   w + off(rn, "out.type_b"), XG_NUM_TYPES, H, 0);
    }
    for (int s = 0; s < tb->nstructs; s++) {
        int o = tb->offsets[s], n = tb->offsets[s + 1] - o;
        double ub[512] = {0}, M[9];
        for (int i = o; i < o + n; i++)
            for (int c = 0; c < H; c++)
                ub[c] += u[(size_t)i * H + c] / n;
        ref_matvec(M, w + off(rn, "out.lattice_w"), ub, w + off(rn, "out.lattice_b"), 9, H, 0);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) {
                double acc = 0;
                for (int k = 0; k < 3; k++)
                    acc += M[r * 3 + k] * tb->lattice[s * 9 + k * 3 + c];
                lat[s * 9 + r * 3 + c] = acc;
            }
    }
    free(h);
    free(u);
    free(mbar);
}

static double ref_loss(const ref_net *rn, const double *w, const test_batch *tb, const float *wc,
                       const float *wl, const float *wt)
{
    int A = tb->natoms, S = tb->nstructs;
    double *coord = malloc(sizeof(double) * A * 3),
           *logits = malloc(sizeof(double) * A * XG_NUM_TYPES);
    double lat[MAXS * 9];
    ref_forward(rn, w, tb, coord, logits, lat);
    double s = 0;
    for (int k = 0; k < A * 3; k++)
        s += wc[k] * coord[k];
    for (int k = 0; k < A * XG_NUM_TYPES; k++)
        s += wl[k] * logits[k];
    for (int k = 0; k < S * 9; k++)
        s += wt[k] * lat[k];
    free(coord);
    free(logits);
    return s;
}

/* ------------------------------------------------------------------ tests */

static void test_forward_matches_reference(void)
{
    const int sizes[] = {3, 1, 5};
    test_batch tb;
    make_batch(&tb, sizes, 3, 11);
    xg_denoiser *d = make_net(16, 2, 3, 8, 2, 5);
    xg_batch b = as_batch(&tb, 2);
    xg_denoiser_out out;
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_denoiser_forward(d, &b, &out, &err), XG_OK);
    ref_net rn = {d, 16, 2, 3, 8, 2};
    size_t np = xg_denoiser_num_params(d);
    double *w = malloc(np * sizeof *w);
    for (size_t k = 0; k < np; k++)
        w[k] = xg_denoiser_params(d)[k];
    int A = tb.natoms;
    double *coord = malloc(sizeof(double) * A * 3),
           *logits = malloc(sizeof(double) * A * XG_NUM_TYPES);
    double lat[MAXS * 9];
    ref_forward(&rn, w, &tb, coord, logits, lat);
    double worst = 0;
    for (int k = 0; k < A * 3; k++)
        worst = fmax(worst, fabs(coord[k] - out.coord[k]) / (1 + fabs(coord[k])));
    for (int k = 0; k < A * XG_NUM_TYPES; k++)
        worst = fmax(worst, fabs(logits[k] - out.logits[k]) / (1 + fabs(logits[k])));
    for (int k = 0; k < 3 * 9; k++)
        worst = fmax(worst, fabs(lat[k] - out.lattice[k]) / (1 + fabs(lat[k])));
    printf("\n    forward vs double reference: worst relative difference %.2e\n", worst);
    CU_ASSERT(worst < 1e-4);
    free(coord);
    free(logits);
    free(w);
    xg_denoiser_free(d);
}

/* Every parameter tensor: analytic float gradient vs central differences of the double
 * reference (step 1e-4 in double: truncation ~1e-8, rounding ~1e-12, so the reference is exact
 * to ~1e-7 and the tolerance only has to cover float32 rounding in the network, ~1e-5
 * relative; 2e-3 relative plus 1e-4 of the tensor's largest gradient leaves a wide margin while
 * any real mistake (a missing term, a wrong index, a factor) is off by O(1)). */
static void test_gradients_all_parameters(void)
{
    const int sizes[] = {3, 1, 4};
    test_batch tb;
    make_batch(&tb, sizes, 3, 21);
    const int H = 8, L = 2, nf = 2, td = 6, cd = 2;
    xg_denoiser *d = make_net(H, L, nf, td, cd, 9);
    xg_batch b = as_batch(&tb, cd);
    xg_error err;
    xg_denoiser_out out;
    int A = tb.natoms, S = tb.nstructs;
    float *wc = malloc(sizeof(float) * A * 3), *wl = malloc(sizeof(float) * A * XG_NUM_TYPES);
    float wt[MAXS * 9];
    xg_rng r;
    xg_rng_seed(&r, 33, 0);
    for (int k = 0; k < A * 3; k++)
        wc[k] = (float)xg_rng_normal(&r);
    for (int k = 0; k < A * XG_NUM_TYPES; k++)
        wl[k] = (float)xg_rng_normal(&r);
    for (int k = 0; k < S * 9; k++)
        wt[k] = (float)xg_rng_normal(&r);
    CU_ASSERT_EQUAL_FATAL(xg_denoiser_forward(d, &b, &out, &err), XG_OK);
    xg_denoiser_zero_grad(d);
    CU_ASSERT_EQUAL_FATAL(xg_denoiser_backward(d, &b, wc, wl, wt, &err), XG_OK);
    const float *g = xg_denoiser_grads(d);

    ref_net rn = {d, H, L, nf, td, cd};
    size_t np = xg_denoiser_num_params(d);
    double *w = malloc(np * sizeof *w);
    for (size_t k = 0; k < np; k++)
        w[k] = xg_denoiser_params(d)[k];
    int nbad = 0, nchecked = 0;
    for (int t = 0; t < xg_denoiser_param_count(d); t++) {
        size_t o;
        int rows, cols;
        const char *name = xg_denoiser_param_info(d, t, &o, &rows, &cols);
        size_t n = (size_t)rows * cols;
        double gmax = 0;
        for (size_t k = 0; k < n; k++)
            gmax = fmax(gmax, fabs(g[o + k]));
        /* a tensor whose gradient is all zero would make the check vacuous */
        if (gmax == 0.0) {
            printf("\n    %s: gradient is identically zero\n", name);
            nbad++;
        }
        for (int rep = 0; rep < 4; rep++) {
            size_t k = (size_t)xg_rng_below(&r, n);
            if (!strcmp(name, "type_embed")) /* only rows of tokens present have gradients */
                k = (size_t)tb.tokens[xg_rng_below(&r, (uint64_t)A)] * H + xg_rng_below(&r, H);
            double h = 1e-4, save = w[o + k];
            w[o + k] = save + h;
            double fp = ref_loss(&rn, w, &tb, wc, wl, wt);
            w[o + k] = save - h;
            double fm = ref_loss(&rn, w, &tb, wc, wl, wt);
            w[o + k] = save;
            double fd = (fp - fm) / (2 * h), an = g[o + k];
            nchecked++;
            if (fabs(fd - an) > 2e-3 * fabs(fd) + 1e-4 * gmax + 1e-6) {
                printf("\n    %s[%zu]: analytic %.6g, finite difference %.6g\n", name, k, an, fd);
                nbad++;
            }
        }
    }
    printf("\n    %d gradient entries checked over %d tensors, %d bad\n", nchecked,
           xg_denoiser_param_count(d), nbad);
    CU_ASSERT_EQUAL(nbad, 0);
    free(w);
    free(wc);
    free(wl);
    xg_denoiser_free(d);
}

static int run(xg_denoiser *d, const test_batch *tb, int cd, float *coord, float *logits,
               float *lat)
{
    xg_batch b = as_batch(tb, cd);
    xg_denoiser_out out;
    xg_error err;
    int rc = xg_denoiser_forward(d, &b, &out, &err);
    if (rc)
        return rc;
    memcpy(coord, out.coord, sizeof(float) * tb->natoms * 3);
    memcpy(logits, out.logits, sizeof(float) * tb->natoms * XG_NUM_TYPES);
    memcpy(lat, out.lattice, sizeof(float) * tb->nstructs * 9);
    return 0;
}

static double maxdiff(const float *a, const float *b, int n)
{
    double m = 0;
    for (int k = 0; k < n; k++)
        m = fmax(m, fabs((double)a[k] - b[k]) / (1.0 + fabs((double)b[k])));
    return m;
}

typedef struct {
    float coord[MAXA * 3], logits[MAXA * XG_NUM_TYPES], lat[MAXS * 9];
} outputs;

static void test_permutation(void)
{
    const int sizes[] = {6, 4};
    test_batch tb, tp;
    make_batch(&tb, sizes, 2, 41);
    xg_denoiser *d = make_net(32, 3, 4, 16, 0, 3);
    static outputs o1, o2;
    CU_ASSERT_EQUAL_FATAL(run(d, &tb, 0, o1.coord, o1.logits, o1.lat), 0);
    /* permute the atoms of crystal 0 and of crystal 1 */
    const int perm[] = {3, 0, 5, 1, 4, 2, 9, 7, 6, 8};
    tp = tb;
    for (int i = 0; i < tb.natoms; i++) {
        tp.tokens[i] = tb.tokens[perm[i]];
        memcpy(tp.frac + i * 3, tb.frac + perm[i] * 3, sizeof(float) * 3);
    }
    CU_ASSERT_EQUAL_FATAL(run(d, &tp, 0, o2.coord, o2.logits, o2.lat), 0);
    double worst = 0;
    for (int i = 0; i < tb.natoms; i++) {
        worst = fmax(worst, maxdiff(o2.coord + i * 3, o1.coord + perm[i] * 3, 3));
        worst = fmax(worst, maxdiff(o2.logits + i * XG_NUM_TYPES,
                                    o1.logits + perm[i] * XG_NUM_TYPES, XG_NUM_TYPES));
    }
    worst = fmax(worst, maxdiff(o2.lat, o1.lat, 18));
    printf("\n    permutation: worst difference %.2e\n", worst);
    CU_ASSERT(worst < 1e-5);
    /* and the outputs do depend on the coordinates: moving one atom changes them */
    tp = tb;
    tp.frac[4] += 0.1f;
    CU_ASSERT_EQUAL_FATAL(run(d, &tp, 0, o2.coord, o2.logits, o2.lat), 0);
    CU_ASSERT(maxdiff(o2.coord, o1.coord, tb.natoms * 3) > 1e-3);
    xg_denoiser_free(d);
}

static void test_translation_and_image_shift(void)
{
    const int sizes[] = {5, 3};
    test_batch tb, tp;
    make_batch(&tb, sizes, 2, 43);
    xg_denoiser *d = make_net(32, 3, 8, 16, 0, 4);
    static outputs o1, o2;
    CU_ASSERT_EQUAL_FATAL(run(d, &tb, 0, o1.coord, o1.logits, o1.lat), 0);
    /* a common shift of crystal 0 (wrapped back into [0, 1)), a different one for crystal 1 */
    const float shift[2][3] = {{0.137f, 0.42f, 0.71f}, {0.9f, 0.05f, 0.333f}};
    tp = tb;
    for (int s = 0; s < 2; s++)
        for (int i = tb.offsets[s]; i < tb.offsets[s + 1]; i++)
            for (int k = 0; k < 3; k++) {
                float x = tb.frac[i * 3 + k] + shift[s][k];
                tp.frac[i * 3 + k] = x - floorf(x);
            }
    CU_ASSERT_EQUAL_FATAL(run(d, &tp, 0, o2.coord, o2.logits, o2.lat), 0);
    double w1 = fmax(
        maxdiff(o2.coord, o1.coord, tb.natoms * 3),
        fmax(maxdiff(o2.logits, o1.logits, tb.natoms * XG_NUM_TYPES), maxdiff(o2.lat, o1.lat, 18)));
    /* x -> x + 1 on one atom, x -> x - 1 on another */
    tp = tb;
    tp.frac[2 * 3 + 0] += 1.0f;
    tp.frac[6 * 3 + 2] -= 1.0f;
    CU_ASSERT_EQUAL_FATAL(run(d, &tp, 0, o2.coord, o2.logits, o2.lat), 0);
    double w2 = fmax(
        maxdiff(o2.coord, o1.coord, tb.natoms * 3),
        fmax(maxdiff(o2.logits, o1.logits, tb.natoms * XG_NUM_TYPES), maxdiff(o2.lat, o1.lat, 18)));
    printf("\n    translation: %.2e, image shift: %.2e\n", w1, w2);
    CU_ASSERT(w1 < 1e-5);
    CU_ASSERT(w2 < 1e-5);
    xg_denoiser_free(d);
}

static void rot_from_axis(double R[3][3], const double axis[3], double angle)
{
    double n = sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
    double x = axis[0] / n, y = axis[1] / n, z = axis[2] / n, c = cos(angle), s = sin(angle);
    double C = 1 - c;
    double M[3][3] = {{c + x * x * C, x * y * C - z * s, x * z * C + y * s},
                      {y * x * C + z * s, c + y * y * C, y * z * C - x * s},
                      {z * x * C - y * s, z * y * C + x * s, c + z * z * C}};
    memcpy(R, M, sizeof M);
}

static void test_rotation(void)
{
    const int sizes[] = {4, 7};
    test_batch tb, tr;
    make_batch(&tb, sizes, 2, 47);
    xg_denoiser *d = make_net(32, 3, 4, 16, 0, 6);
    static outputs o1, o2;
    CU_ASSERT_EQUAL_FATAL(run(d, &tb, 0, o1.coord, o1.logits, o1.lat), 0);
    double R[3][3];
    const double axis[3] = {0.3, -1.2, 0.7};
    rot_from_axis(R, axis, 1.1);
    tr = tb;
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) { /* L' = L R^T: (L R^T)[r][c] = sum_k L[r][k] R[c][k] */
                double acc = 0;
                for (int k = 0; k < 3; k++)
                    acc += tb.lattice[s * 9 + r * 3 + k] * R[c][k];
                tr.lattice[s * 9 + r * 3 + c] = (float)acc;
            }
    CU_ASSERT_EQUAL_FATAL(run(d, &tr, 0, o2.coord, o2.logits, o2.lat), 0);
    double w1 = fmax(maxdiff(o2.coord, o1.coord, tb.natoms * 3),
                     maxdiff(o2.logits, o1.logits, tb.natoms * XG_NUM_TYPES));
    float expect[18];
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) {
                double acc = 0;
                for (int k = 0; k < 3; k++)
                    acc += o1.lat[s * 9 + r * 3 + k] * R[c][k];
                expect[s * 9 + r * 3 + c] = (float)acc;
            }
    double w2 = maxdiff(o2.lat, expect, 18);
    printf("\n    rotation: coord/logits %.2e, lattice output vs old R^T %.2e\n", w1, w2);
    CU_ASSERT(w1 < 1e-4);
    CU_ASSERT(w2 < 1e-4);
    /* the lattice output is not trivially invariant: it did change */
    CU_ASSERT(maxdiff(o2.lat, o1.lat, 18) > 1e-3);
    xg_denoiser_free(d);
}

static void test_packing(void)
{
    const int sizes[] = {5, 3};
    test_batch tb, t0, t1;
    make_batch(&tb, sizes, 2, 53);
    xg_denoiser *d = make_net(32, 2, 4, 16, 4, 7);
    static outputs ob, o0, o1;
    CU_ASSERT_EQUAL_FATAL(run(d, &tb, 4, ob.coord, ob.logits, ob.lat), 0);
    /* each crystal alone */
    memset(&t0, 0, sizeof t0);
    memset(&t1, 0, sizeof t1);
    t0.nstructs = t1.nstructs = 1;
    t0.natoms = t0.offsets[1] = 5;
    t1.natoms = t1.offsets[1] = 3;
    memcpy(t0.tokens, tb.tokens, sizeof(int) * 5);
    memcpy(t1.tokens, tb.tokens + 5, sizeof(int) * 3);
    memcpy(t0.frac, tb.frac, sizeof(float) * 15);
    memcpy(t1.frac, tb.frac + 15, sizeof(float) * 9);
    memcpy(t0.lattice, tb.lattice, sizeof(float) * 9);
    memcpy(t1.lattice, tb.lattice + 9, sizeof(float) * 9);
    t0.t[0] = tb.t[0];
    t1.t[0] = tb.t[1];
    memcpy(t0.cond, tb.cond, sizeof(float) * 4);
    memcpy(t1.cond, tb.cond + 4, sizeof(float) * 4);
    t0.cond_on[0] = tb.cond_on[0];
    t1.cond_on[0] = tb.cond_on[1];
    CU_ASSERT_EQUAL_FATAL(run(d, &t0, 4, o0.coord, o0.logits, o0.lat), 0);
    CU_ASSERT_EQUAL_FATAL(run(d, &t1, 4, o1.coord, o1.logits, o1.lat), 0);
    double w = fmax(maxdiff(ob.coord, o0.coord, 15), maxdiff(ob.coord + 15, o1.coord, 9));
    w = fmax(w, maxdiff(ob.logits, o0.logits, 5 * XG_NUM_TYPES));
    w = fmax(w, maxdiff(ob.logits + 5 * XG_NUM_TYPES, o1.logits, 3 * XG_NUM_TYPES));
    w = fmax(w, fmax(maxdiff(ob.lat, o0.lat, 9), maxdiff(ob.lat + 9, o1.lat, 9)));
    printf("\n    packing: worst difference %.2e\n", w);
    CU_ASSERT(w < 1e-5);
    xg_denoiser_free(d);
}

static void test_determinism(void)
{
    const int sizes[] = {12, 7, 20, 1, 9};
    test_batch tb;
    make_batch(&tb, sizes, 5, 59);
    xg_denoiser *d = make_net(64, 2, 8, 16, 4, 8);
    xg_batch b = as_batch(&tb, 4);
    size_t np = xg_denoiser_num_params(d);
    float *g1 = malloc(np * sizeof *g1);
    static outputs o1;
    static float dc[MAXA * 3], dl[MAXA * XG_NUM_TYPES], dt[MAXS * 9];
    xg_rng r;
    xg_rng_seed(&r, 5, 0);
    for (int k = 0; k < tb.natoms * 3; k++)
        dc[k] = (float)xg_rng_normal(&r);
    for (int k = 0; k < tb.natoms * XG_NUM_TYPES; k++)
        dl[k] = (float)xg_rng_normal(&r);
    for (int k = 0; k < tb.nstructs * 9; k++)
        dt[k] = (float)xg_rng_normal(&r);
    int same = 1;
    for (int rep = 0; rep < 2; rep++) {
        xg_denoiser_out out;
        xg_error err;
        CU_ASSERT_EQUAL_FATAL(xg_denoiser_forward(d, &b, &out, &err), XG_OK);
        xg_denoiser_zero_grad(d);
        CU_ASSERT_EQUAL_FATAL(xg_denoiser_backward(d, &b, dc, dl, dt, &err), XG_OK);
        if (rep == 0) {
            memcpy(o1.coord, out.coord, sizeof(float) * tb.natoms * 3);
            memcpy(o1.logits, out.logits, sizeof(float) * tb.natoms * XG_NUM_TYPES);
            memcpy(o1.lat, out.lattice, sizeof(float) * tb.nstructs * 9);
            memcpy(g1, xg_denoiser_grads(d), np * sizeof *g1);
        } else {
            same = !memcmp(o1.coord, out.coord, sizeof(float) * tb.natoms * 3) &&
                   !memcmp(o1.logits, out.logits, sizeof(float) * tb.natoms * XG_NUM_TYPES) &&
                   !memcmp(o1.lat, out.lattice, sizeof(float) * tb.nstructs * 9) &&
                   !memcmp(g1, xg_denoiser_grads(d), np * sizeof *g1);
        }
    }
    CU_ASSERT(same);
    /* gradients accumulate: a second backward without zeroing doubles them */
    xg_error err;
    CU_ASSERT_EQUAL(xg_denoiser_backward(d, &b, dc, dl, dt, &err), XG_OK);
    /* not bit-exact: sums taken into a non-zero accumulator round differently; compare with
     * the largest gradient, since single entries may be sums that nearly cancel */
    double worst = 0, gmax = 0;
    for (size_t k = 0; k < np; k++) {
        worst = fmax(worst, fabs(xg_denoiser_grads(d)[k] - 2.0 * g1[k]));
        gmax = fmax(gmax, fabs(g1[k]));
    }
    printf("\n    accumulation: worst difference from 2x %.2e of the largest gradient\n",
           worst / gmax);
    CU_ASSERT(worst < 1e-5 * gmax);
    free(g1);
    xg_denoiser_free(d);
}

static void test_params_table(void)
{
    xg_denoiser_config cfg;
    xg_denoiser_default_config(&cfg);
    cfg.cond_dim = 3;
    xg_error err;
    xg_denoiser *d = xg_denoiser_alloc(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    /* the tensors tile the flat array exactly, in order, with unique names */
    size_t next = 0;
    int n = xg_denoiser_param_count(d);
    for (int i = 0; i < n; i++) {
        size_t o;
        int r, c;
        const char *nm = xg_denoiser_param_info(d, i, &o, &r, &c);
        CU_ASSERT_PTR_NOT_NULL_FATAL(nm);
        CU_ASSERT_EQUAL(o, next);
        next += (size_t)r * c;
        for (int j = 0; j < i; j++)
            CU_ASSERT(strcmp(nm, xg_denoiser_param_info(d, j, NULL, NULL, NULL)) != 0);
    }
    CU_ASSERT_EQUAL(next, xg_denoiser_num_params(d));
    CU_ASSERT_PTR_NULL(xg_denoiser_param_info(d, n, NULL, NULL, NULL));
    CU_ASSERT_PTR_NULL(xg_denoiser_param_info(d, -1, NULL, NULL, NULL));
    /* the same seed gives the same weights, another seed others */
    size_t np = xg_denoiser_num_params(d);
    float *a = malloc(np * sizeof *a);
    xg_denoiser_init_params(d, 77);
    memcpy(a, xg_denoiser_params(d), np * sizeof *a);
    xg_denoiser_init_params(d, 77);
    CU_ASSERT(!memcmp(a, xg_denoiser_params(d), np * sizeof *a));
    xg_denoiser_init_params(d, 78);
    CU_ASSERT(memcmp(a, xg_denoiser_params(d), np * sizeof *a) != 0);
    free(a);
    xg_denoiser_free(d);
    cfg.time_dim = 7;
    CU_ASSERT_PTR_NULL(xg_denoiser_alloc(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XG_EINVAL);
    cfg.time_dim = 16;
    cfg.hidden = 0;
    CU_ASSERT_PTR_NULL(xg_denoiser_alloc(&cfg, &err));
}

static void test_bad_input(void)
{
    const int sizes[] = {3, 2};
    test_batch tb;
    make_batch(&tb, sizes, 2, 61);
    xg_denoiser *d = make_net(16, 1, 2, 8, 4, 9);
    xg_batch b = as_batch(&tb, 4);
    xg_error err;
    xg_denoiser_out out;
    float dc[15] = {0};
    /* backward before any forward */
    CU_ASSERT_EQUAL(xg_denoiser_backward(d, &b, dc, NULL, NULL, &err), XG_EINVAL);
    tb.tokens[1] = XG_NUM_TOKENS;
    CU_ASSERT_EQUAL(xg_denoiser_forward(d, &b, &out, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "token") != NULL);
    tb.tokens[1] = -1;
    CU_ASSERT_EQUAL(xg_denoiser_forward(d, &b, &out, &err), XG_EINVAL);
    tb.tokens[1] = 3;
    tb.t[1] = 0.0f;
    CU_ASSERT_EQUAL(xg_denoiser_forward(d, &b, &out, &err), XG_EINVAL);
    tb.t[1] = 0.5f;
    tb.frac[4] = NAN;
    CU_ASSERT_EQUAL(xg_denoiser_forward(d, &b, &out, &err), XG_EINVAL);
    tb.frac[4] = 0.5f;
    tb.offsets[1] = 0; /* an empty crystal */
    CU_ASSERT_EQUAL(xg_denoiser_forward(d, &b, &out, &err), XG_EINVAL);
    tb.offsets[1] = -2000000000; /* wild offsets must not overflow the pair count */
    CU_ASSERT_EQUAL(xg_denoiser_forward(d, &b, &out, &err), XG_EINVAL);
    tb.offsets[1] = 3;
    b.cond = NULL; /* conditioned crystal without a condition */
    CU_ASSERT_EQUAL(xg_denoiser_forward(d, &b, &out, &err), XG_EINVAL);
    b.cond = tb.cond;
    CU_ASSERT_EQUAL(xg_denoiser_forward(d, &b, &out, &err), XG_OK);
    /* a different batch than the forward's */
    xg_batch b2 = b;
    b2.nstructs = 1;
    b2.natoms = 3;
    CU_ASSERT_EQUAL(xg_denoiser_backward(d, &b2, dc, NULL, NULL, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_denoiser_backward(d, &b, dc, NULL, NULL, &err), XG_OK);
    xg_denoiser_free(d);
}

/* reserve up front, then batches of that size or smaller run, and a larger one grows it */
static void test_reserve_and_growth(void)
{
    xg_denoiser *d = make_net(16, 2, 2, 8, 0, 10);
    xg_error err;
    CU_ASSERT_EQUAL(xg_denoiser_reserve(d, 2, 10, 50, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_denoiser_reserve(d, -1, 10, 50, &err), XG_EINVAL);
    const int s1[] = {5, 5}, s2[] = {20, 20, 20};
    test_batch tb;
    static outputs o;
    make_batch(&tb, s1, 2, 3);
    CU_ASSERT_EQUAL(run(d, &tb, 0, o.coord, o.logits, o.lat), 0);
    make_batch(&tb, s2, 3, 4);
    CU_ASSERT_EQUAL(run(d, &tb, 0, o.coord, o.logits, o.lat), 0);
    xg_denoiser_free(d);
}

/* Inference mode (sampling): the same outputs bit for bit, a much smaller arena, no backward,
 * and a memory cap that refuses before allocating (issue 19: 1000 atoms took 9.4 GB). */
static void test_inference_mode(void)
{
    xg_denoiser *d = make_net(16, 3, 2, 8, 4, 21);
    xg_error err;
    const int sizes[] = {7, 12, 3};
    test_batch tb;
    static outputs a, b;
    make_batch(&tb, sizes, 3, 5);
    CU_ASSERT_EQUAL_FATAL(run(d, &tb, 4, a.coord, a.logits, a.lat), 0);
    double train_bytes = xg_denoiser_arena_bytes(d, 1, 1000, 1000000);
    xg_denoiser_set_inference(d, 1);
    double infer_bytes = xg_denoiser_arena_bytes(d, 1, 1000, 1000000);
    CU_ASSERT(infer_bytes < 0.3 * train_bytes);
    CU_ASSERT_EQUAL_FATAL(run(d, &tb, 4, b.coord, b.logits, b.lat), 0);
    CU_ASSERT_EQUAL(memcmp(a.coord, b.coord, sizeof(float) * tb.natoms * 3), 0);
    CU_ASSERT_EQUAL(memcmp(a.logits, b.logits, sizeof(float) * tb.natoms * XG_NUM_TYPES), 0);
    CU_ASSERT_EQUAL(memcmp(a.lat, b.lat, sizeof(float) * tb.nstructs * 9), 0);
    xg_batch bb = as_batch(&tb, 4);
    float dc[MAXA * 3] = {0};
    CU_ASSERT_EQUAL(xg_denoiser_backward(d, &bb, dc, NULL, NULL, &err), XG_EINVAL);
    /* the cap: a batch needing more is refused with both sizes named, a small one still runs */
    xg_denoiser *c = make_net(16, 3, 2, 8, 0, 22);
    xg_denoiser_set_inference(c, 1);
    xg_denoiser_set_max_memory(c, 100000);
    CU_ASSERT_EQUAL(xg_denoiser_reserve(c, 1, 400, 160000, &err), XG_ENOMEM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "memory cap"));
    CU_ASSERT_EQUAL(xg_denoiser_reserve(c, 1, 3, 9, &err), XG_OK);
    /* back in training mode the same network trains again */
    xg_denoiser_set_inference(d, 0);
    CU_ASSERT_EQUAL(run(d, &tb, 4, b.coord, b.logits, b.lat), 0);
    CU_ASSERT_EQUAL(xg_denoiser_backward(d, &bb, dc, NULL, NULL, &err), XG_OK);
    xg_denoiser_free(c);
    xg_denoiser_free(d);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"forward matches the double reference", test_forward_matches_reference},
        {"gradients of every parameter tensor", test_gradients_all_parameters},
        {"permuting atoms permutes outputs", test_permutation},
        {"translation and x -> x + 1 invariance", test_translation_and_image_shift},
        {"rotation invariance / equivariance", test_rotation},
        {"packing equals separate crystals", test_packing},
        {"bit-identical repeat runs", test_determinism},
        {"parameter table and init", test_params_table},
        {"bad input is refused", test_bad_input},
        {"reserve and arena growth", test_reserve_and_growth},
        {"inference mode: same outputs, small arena, memory cap", test_inference_mode},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("denoiser", tests);
}
