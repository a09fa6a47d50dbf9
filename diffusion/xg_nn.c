/* xg_nn.c: the layers of xg_nn.h. Plain loops plus CBLAS; see the header for conventions. */
#include "diffusion/xg_nn.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Parallelising a loop only pays above a few tens of thousands of floats of work: below that
 * the OpenMP fork/join costs more than the loop. */
#define XG_NN_PAR_MIN 32768L

long xg_nn_pairs_layout(long *pair_offsets, const int *atom_offsets, int nstructs)
{
    long e = 0;
    for (int b = 0; b < nstructs; b++) {
        pair_offsets[b] = e;
        long n = atom_offsets[b + 1] - atom_offsets[b];
        e += n * n;
    }
    pair_offsets[nstructs] = e;
    return e;
}

/* dst[c] += sum_r src[r][c], in row order, parallel over independent column blocks. Double
 * accumulators: bias gradients sum tens of thousands of pair rows. */
static void colsum_add(float *dst, const float *src, long N, int C)
{
    enum { BLK = 16 };
    int nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if (N * C > XG_NN_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * BLK, c1 = c0 + BLK < C ? c0 + BLK : C;
        double acc[BLK] = {0};
        for (long r = 0; r < N; r++) {
            const float *row = src + (size_t)r * C;
            for (int c = c0; c < c1; c++)
                acc[c - c0] += row[c];
        }
        for (int c = c0; c < c1; c++)
            dst[c] += (float)acc[c - c0];
    }
}

/* ---------------------------------------------------------------- linear */

void xg_nn_linear_forward(float *out, const float *in, const float *W, const float *bias, int N,
                          int nin, int nout, int accumulate)
{
    if (N <= 0 || nout <= 0)
        return;
    if (nin > 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, nout, nin, 1.0f, in, nin, W, nin,
                    accumulate ? 1.0f : 0.0f, out, nout);
    } else if (!accumulate) {
        memset(out, 0, (size_t)N * nout * sizeof *out);
    }
    if (bias) {
#pragma omp parallel for schedule(static) if ((long)N * nout > XG_NN_PAR_MIN)
        for (int r = 0; r < N; r++) {
            float *row = out + (size_t)r * nout;
            for (int c = 0; c < nout; c++)
                row[c] += bias[c];
        }
    }
}

void xg_nn_linear_backward(float *din, float *dW, float *dbias, const float *dout, const float *in,
                           const float *W, int N, int nin, int nout)
{
    if (N <= 0 || nout <= 0)
        return;
    if (din && nin > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, nin, nout, 1.0f, dout, nout, W,
                    nin, 1.0f, din, nin);
    if (dW && nin > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nout, nin, N, 1.0f, dout, nout, in,
                    nin, 1.0f, dW, nin);
    if (dbias)
        colsum_add(dbias, dout, N, nout);
}

/* ---------------------------------------------------------------- SiLU */

/* The clamp below is a float compare; under GCC's default -ftrapping-math it counts as
 * possibly trapping and blocks if-conversion, hence vectorisation. It cannot trap here (no
 * signalling NaNs), so these few functions are compiled without trapping-math; the results are
 * the same. */
#if defined(__GNUC__) && !defined(__clang__)
#define XG_NN_VECTOR_MATH __attribute__((optimize("no-trapping-math")))
#else
#define XG_NN_VECTOR_MATH
#endif

/* exp(x) for x <= 0, branch-free so the SiLU loops vectorise (libm's expf is a scalar call, and
 * SiLU over every pair of every layer costs as much as a GEMM). Cody-Waite range reduction
 * x = n ln2 + r, |r| <= ln2/2, then Cephes' degree-5 minimax polynomial for exp(r): ~2 float
 * ulps. Clamped at -80 so that 2^n and the result stay normal floats: denormals cost a
 * microcode assist of ~100 cycles each and would make the loop 10x slower. */
XG_NN_VECTOR_MATH static inline float expf_nonpos(float x)
{
    x = x < -80.0f ? -80.0f : x;
    /* round-to-nearest of x log2(e) by the 1.5 * 2^23 trick (exact for |v| < 2^22) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f; /* ln2 split in a short high part ... */
    r = r + n * 2.12194440e-4f;     /* ... and the low remainder */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale;
    scale.i = ((int32_t)n + 127) << 23; /* 2^n, n in [-116, 0] */
    return p * scale.f;
}

/* sigmoid(x) through exp(-|x|) in (0, 1]: no overflow, no denormals on either side. */
XG_NN_VECTOR_MATH static inline float sigmoid_fast(float x)
{
    float e = expf_nonpos(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

XG_NN_VECTOR_MATH void xg_nn_silu_forward(float *out, const float *in, size_t n)
{
#pragma omp parallel for schedule(static) if ((long)n > XG_NN_PAR_MIN)
    for (size_t k = 0; k < n; k++) {
        float x = in[k];
        out[k] = x * sigmoid_fast(x);
    }
}

XG_NN_VECTOR_MATH void xg_nn_silu_backward(float *din, const float *dout, const float *in, size_t n)
{
#pragma omp parallel for schedule(static) if ((long)n > XG_NN_PAR_MIN)
    for (size_t k = 0; k < n; k++) {
        float x = in[k];
        float s = sigmoid_fast(x);
        din[k] += dout[k] * s * (1.0f + x * (1.0f - s));
    }
}

/* ---------------------------------------------------------------- layer norm */

void xg_nn_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *g,
                             const float *b, int N, int C)
{
#pragma omp parallel for schedule(static) if ((long)N * C > XG_NN_PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *x = in + (size_t)r * C;
        float *y = out + (size_t)r * C;
        double m = 0.0, v = 0.0;
        for (int c = 0; c < C; c++)
            m += x[c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (x[c] - m) * (x[c] - m);
        v /= C;
        float s = (float)(1.0 / sqrt(v + 1e-5));
        float mf = (float)m;
        for (int c = 0; c < C; c++)
            y[c] = (x[c] - mf) * s * g[c] + b[c];
        mean[r] = mf;
        rstd[r] = s;
    }
}

void xg_nn_layernorm_backward(float *din, float *dg, float *db, const float *dout, const float *in,
                              const float *mean, const float *rstd, const float *g, int N, int C)
{
    if (din) {
#pragma omp parallel for schedule(static) if ((long)N * C > XG_NN_PAR_MIN)
        for (int r = 0; r < N; r++) {
            const float *x = in + (size_t)r * C, *dy = dout + (size_t)r * C;
            float *dx = din + (size_t)r * C;
            float m = mean[r], s = rstd[r];
            double a = 0.0, bsum = 0.0; /* mean(dxhat), mean(dxhat * xhat) */
            for (int c = 0; c < C; c++) {
                float dxh = dy[c] * g[c];
                a += dxh;
                bsum += dxh * ((x[c] - m) * s);
            }
            float fa = (float)(a / C), fb = (float)(bsum / C);
            for (int c = 0; c < C; c++) {
                float xh = (x[c] - m) * s;
                dx[c] += (dy[c] * g[c] - fa - xh * fb) * s;
            }
        }
    }
    /* Parameter gradients sum over rows: serial in row order (N is the node count, small). */
    if (dg || db) {
        for (int r = 0; r < N; r++) {
            const float *x = in + (size_t)r * C, *dy = dout + (size_t)r * C;
            float m = mean[r], s = rstd[r];
            for (int c = 0; c < C; c++) {
                if (dg)
                    dg[c] += dy[c] * (x[c] - m) * s;
                if (db)
                    db[c] += dy[c];
            }
        }
    }
}

/* ---------------------------------------------------------------- embedding */

void xg_nn_embedding_forward(float *out, const int *tokens, const float *table, int N, int C)
{
    for (int r = 0; r < N; r++)
        memcpy(out + (size_t)r * C, table + (size_t)tokens[r] * C, (size_t)C * sizeof *out);
}

void xg_nn_embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int C)
{
    /* Rows may share a token: serial, in row order, for determinism. */
    for (int r = 0; r < N; r++) {
        float *d = dtable + (size_t)tokens[r] * C;
        const float *g = dout + (size_t)r * C;
        for (int c = 0; c < C; c++)
            d[c] += g[c];
    }
}

/* ---------------------------------------------------------------- time features */

static double time_freq(int k, int half)
{
    return 1000.0 * exp(-log(10000.0) * (double)k / (double)half);
}

void xg_nn_time_features_forward(float *out, const float *t, int N, int D)
{
    int half = D / 2;
    for (int r = 0; r < N; r++) {
        float *o = out + (size_t)r * D;
        for (int k = 0; k < half; k++) {
            double a = (double)t[r] * time_freq(k, half);
            o[k] = (float)sin(a);
            o[half + k] = (float)cos(a);
        }
    }
}

void xg_nn_time_features_backward(float *dt, const float *dout, const float *t, int N, int D)
{
    int half = D / 2;
    for (int r = 0; r < N; r++) {
        const float *g = dout + (size_t)r * D;
        double acc = 0.0;
        for (int k = 0; k < half; k++) {
            double w = time_freq(k, half), a = (double)t[r] * w;
            acc += g[k] * w * cos(a) - g[half + k] * w * sin(a);
        }
        dt[r] += (float)acc;
    }
}

/* ---------------------------------------------------------------- Fourier features */

/* The wrapped difference of one dimension, reduced to [-0.5, 0.5] in double. */
static double wrapped_diff(float xj, float xi)
{
    double d = (double)xj - (double)xi;
    return d - rint(d);
}

void xg_nn_pair_fourier_forward(float *out, const float *frac, const xg_nn_pairs *pl, int n_freq)
{
    const int W = 6 * n_freq;
#pragma omp parallel for schedule(dynamic, 1) if (pl->npairs * W > XG_NN_PAR_MIN)
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                float *row = out + (size_t)(pl->pair_offsets[b] + (long)i * n + j) * W;
                for (int a = 0; a < 3; a++) {
                    double d = wrapped_diff(frac[(o + j) * 3 + a], frac[(o + i) * 3 + a]);
                    /* sin/cos of 2 pi k d by the angle-addition recurrence: two libm calls per
                     * dimension instead of 2 n_freq, exact to ~k double epsilons. */
                    double s1 = sin(2.0 * M_PI * d), c1 = cos(2.0 * M_PI * d);
                    double s = s1, c = c1;
                    float *f = row + a * 2 * n_freq;
                    for (int k = 0; k < n_freq; k++) {
                        f[2 * k] = (float)s;
                        f[2 * k + 1] = (float)c;
                        double sn = s * c1 + c * s1;
                        c = c * c1 - s * s1;
                        s = sn;
                    }
                }
            }
        }
    }
}

void xg_nn_pair_fourier_backward(float *dfrac, const float *dout, const float *frac,
                                 const xg_nn_pairs *pl, int n_freq)
{
    const int W = 6 * n_freq;
#pragma omp parallel for schedule(dynamic, 1) if (pl->npairs * W > XG_NN_PAR_MIN)
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                const float *g = dout + (size_t)(pl->pair_offsets[b] + (long)i * n + j) * W;
                for (int a = 0; a < 3; a++) {
                    double d = wrapped_diff(frac[(o + j) * 3 + a], frac[(o + i) * 3 + a]);
                    double acc = 0.0;
                    for (int k = 1; k <= n_freq; k++) {
                        double w = 2.0 * M_PI * k;
                        acc += g[a * 2 * n_freq + 2 * (k - 1)] * w * cos(w * d) -
                               g[a * 2 * n_freq + 2 * (k - 1) + 1] * w * sin(w * d);
                    }
                    dfrac[(o + j) * 3 + a] += (float)acc;
                    dfrac[(o + i) * 3 + a] -= (float)acc;
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- pair gather / mean */

void xg_nn_pair_gather_forward(float *out, const float *P, const float *Q, const float *R,
                               const xg_nn_pairs *pl, int C)
{
#pragma omp parallel for schedule(dynamic, 1) if (pl->npairs * C > XG_NN_PAR_MIN)
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        const float *r = R ? R + (size_t)b * C : NULL;
        for (int i = 0; i < n; i++) {
            const float *p = P ? P + (size_t)(o + i) * C : NULL;
            for (int j = 0; j < n; j++) {
                float *y = out + (size_t)(pl->pair_offsets[b] + (long)i * n + j) * C;
                const float *q = Q ? Q + (size_t)(o + j) * C : NULL;
                if (p)
                    for (int c = 0; c < C; c++)
                        y[c] += p[c];
                if (q)
                    for (int c = 0; c < C; c++)
                        y[c] += q[c];
                if (r)
                    for (int c = 0; c < C; c++)
                        y[c] += r[c];
            }
        }
    }
}

void xg_nn_pair_gather_backward(float *dP, float *dQ, float *dR, const float *dout,
                                const xg_nn_pairs *pl, int C)
{
    /* One crystal per thread: every node row and crystal row written belongs to that crystal,
     * and the pairs are visited in a fixed order, so the sums are deterministic. */
#pragma omp parallel for schedule(dynamic, 1) if (pl->npairs * C > XG_NN_PAR_MIN)
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        float *r = dR ? dR + (size_t)b * C : NULL;
        for (int i = 0; i < n; i++) {
            float *p = dP ? dP + (size_t)(o + i) * C : NULL;
            for (int j = 0; j < n; j++) {
                const float *g = dout + (size_t)(pl->pair_offsets[b] + (long)i * n + j) * C;
                float *q = dQ ? dQ + (size_t)(o + j) * C : NULL;
                if (p)
                    for (int c = 0; c < C; c++)
                        p[c] += g[c];
                if (q)
                    for (int c = 0; c < C; c++)
                        q[c] += g[c];
                if (r)
                    for (int c = 0; c < C; c++)
                        r[c] += g[c];
            }
        }
    }
}

void xg_nn_pair_mean_forward(float *out, const float *in, const xg_nn_pairs *pl, int C)
{
#pragma omp parallel for schedule(dynamic, 1) if (pl->npairs * C > XG_NN_PAR_MIN)
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        float inv = n > 0 ? 1.0f / (float)n : 0.0f;
        for (int i = 0; i < n; i++) {
            float *y = out + (size_t)(o + i) * C;
            memset(y, 0, (size_t)C * sizeof *y);
            const float *seg = in + (size_t)(pl->pair_offsets[b] + (long)i * n) * C;
            for (int j = 0; j < n; j++)
                for (int c = 0; c < C; c++)
                    y[c] += seg[(size_t)j * C + c];
            for (int c = 0; c < C; c++)
                y[c] *= inv;
        }
    }
}

void xg_nn_pair_mean_backward(float *din, const float *dout, const xg_nn_pairs *pl, int C)
{
#pragma omp parallel for schedule(dynamic, 1) if (pl->npairs * C > XG_NN_PAR_MIN)
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        float inv = n > 0 ? 1.0f / (float)n : 0.0f;
        for (int i = 0; i < n; i++) {
            const float *g = dout + (size_t)(o + i) * C;
            float *seg = din + (size_t)(pl->pair_offsets[b] + (long)i * n) * C;
            for (int j = 0; j < n; j++)
                for (int c = 0; c < C; c++)
                    seg[(size_t)j * C + c] += g[c] * inv;
        }
    }
}

XG_NN_VECTOR_MATH void xg_nn_pair_mean_silu_forward(float *out, const float *in,
                                                    const xg_nn_pairs *pl, int C)
{
#pragma omp parallel for schedule(dynamic, 1) if (pl->npairs * C > XG_NN_PAR_MIN)
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        float inv = n > 0 ? 1.0f / (float)n : 0.0f;
        for (int i = 0; i < n; i++) {
            float *y = out + (size_t)(o + i) * C;
            memset(y, 0, (size_t)C * sizeof *y);
            const float *seg = in + (size_t)(pl->pair_offsets[b] + (long)i * n) * C;
            for (int j = 0; j < n; j++) {
                const float *z = seg + (size_t)j * C;
                for (int c = 0; c < C; c++)
                    y[c] += z[c] * sigmoid_fast(z[c]);
            }
            for (int c = 0; c < C; c++)
                y[c] *= inv;
        }
    }
}

XG_NN_VECTOR_MATH void xg_nn_pair_mean_silu_backward(float *din, const float *dout, const float *in,
                                                     const xg_nn_pairs *pl, int C)
{
#pragma omp parallel for schedule(dynamic, 1) if (pl->npairs * C > XG_NN_PAR_MIN)
    for (int b = 0; b < pl->nstructs; b++) {
        int o = pl->atom_offsets[b], n = pl->atom_offsets[b + 1] - o;
        float inv = n > 0 ? 1.0f / (float)n : 0.0f;
        for (int i = 0; i < n; i++) {
            const float *g = dout + (size_t)(o + i) * C;
            size_t row0 = (size_t)(pl->pair_offsets[b] + (long)i * n) * C;
            for (int j = 0; j < n; j++) {
                const float *z = in + row0 + (size_t)j * C;
                float *dz = din + row0 + (size_t)j * C;
                for (int c = 0; c < C; c++) {
                    float x = z[c], sg = sigmoid_fast(x);
                    dz[c] += g[c] * inv * sg * (1.0f + x * (1.0f - sg));
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- segments */

void xg_nn_segment_mean_forward(float *out, const float *in, const int *offsets, int nseg, int C)
{
    for (int s = 0; s < nseg; s++) {
        float *y = out + (size_t)s * C;
        int r0 = offsets[s], r1 = offsets[s + 1];
        for (int c = 0; c < C; c++) {
            double acc = 0.0;
            for (int r = r0; r < r1; r++)
                acc += in[(size_t)r * C + c];
            y[c] = r1 > r0 ? (float)(acc / (r1 - r0)) : 0.0f;
        }
    }
}

void xg_nn_segment_mean_backward(float *din, const float *dout, const int *offsets, int nseg, int C)
{
    for (int s = 0; s < nseg; s++) {
        int r0 = offsets[s], r1 = offsets[s + 1];
        if (r1 <= r0)
            continue;
        float inv = 1.0f / (float)(r1 - r0);
        for (int r = r0; r < r1; r++)
            for (int c = 0; c < C; c++)
                din[(size_t)r * C + c] += dout[(size_t)s * C + c] * inv;
    }
}

void xg_nn_segment_broadcast_forward(float *out, const float *in, const int *offsets, int nseg,
                                     int C)
{
    for (int s = 0; s < nseg; s++)
        for (int r = offsets[s]; r < offsets[s + 1]; r++)
            for (int c = 0; c < C; c++)
                out[(size_t)r * C + c] += in[(size_t)s * C + c];
}

void xg_nn_segment_broadcast_backward(float *din, const float *dout, const int *offsets, int nseg,
                                      int C)
{
    for (int s = 0; s < nseg; s++)
        for (int r = offsets[s]; r < offsets[s + 1]; r++)
            for (int c = 0; c < C; c++)
                din[(size_t)s * C + c] += dout[(size_t)r * C + c];
}

/* ---------------------------------------------------------------- concat */

void xg_nn_concat_forward(float *out, const float *a, const float *b, int N, int C1, int C2)
{
    for (int r = 0; r < N; r++) {
        memcpy(out + (size_t)r * (C1 + C2), a + (size_t)r * C1, (size_t)C1 * sizeof *out);
        memcpy(out + (size_t)r * (C1 + C2) + C1, b + (size_t)r * C2, (size_t)C2 * sizeof *out);
    }
}

void xg_nn_concat_backward(float *da, float *db, const float *dout, int N, int C1, int C2)
{
    for (int r = 0; r < N; r++) {
        const float *g = dout + (size_t)r * (C1 + C2);
        if (da)
            for (int c = 0; c < C1; c++)
                da[(size_t)r * C1 + c] += g[c];
        if (db)
            for (int c = 0; c < C2; c++)
                db[(size_t)r * C2 + c] += g[C1 + c];
    }
}

/* ---------------------------------------------------------------- losses */

double xg_nn_xent_forward(float *losses, float *probs, const float *logits, const int *targets,
                          int N, int C)
{
    double total = 0.0;
    for (int r = 0; r < N; r++) {
        const float *z = logits + (size_t)r * C;
        float *p = probs + (size_t)r * C;
        float mx = z[0];
        for (int c = 1; c < C; c++)
            mx = z[c] > mx ? z[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < C; c++)
            sum += exp((double)z[c] - mx);
        for (int c = 0; c < C; c++)
            p[c] = (float)(exp((double)z[c] - mx) / sum);
        double l = 0.0;
        if (targets[r] >= 0 && targets[r] < C)
            l = log(sum) + mx - z[targets[r]];
        losses[r] = (float)l;
        total += l;
    }
    return total;
}

void xg_nn_xent_backward(float *dlogits, const float *probs, const int *targets,
                         const float *dlosses, int N, int C)
{
    for (int r = 0; r < N; r++) {
        int t = targets[r];
        if (t < 0 || t >= C)
            continue;
        const float *p = probs + (size_t)r * C;
        float *d = dlogits + (size_t)r * C;
        for (int c = 0; c < C; c++)
            d[c] += dlosses[r] * (p[c] - (c == t ? 1.0f : 0.0f));
    }
}

double xg_nn_mse_forward(const float *pred, const float *target, size_t n)
{
    if (n == 0)
        return 0.0;
    double s = 0.0;
    for (size_t k = 0; k < n; k++) {
        double d = (double)pred[k] - target[k];
        s += d * d;
    }
    return s / (double)n;
}

void xg_nn_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss)
{
    if (n == 0)
        return;
    float scale = 2.0f * dloss / (float)n;
    for (size_t k = 0; k < n; k++)
        dpred[k] += scale * (pred[k] - target[k]);
}
