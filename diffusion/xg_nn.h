/* xg_nn.h: the network engine: one explicit forward and backward per layer on plain float arrays.
 *
 * Why this shape (llm.c style): the denoiser (and property models reusing it) is a fixed graph,
 * so a general autograd would only add indirection. Every layer is a pair of functions,
 *   xg_nn_<layer>_forward(outputs..., inputs..., sizes)
 *   xg_nn_<layer>_backward(d_inputs..., d_params..., d_outputs, saved inputs..., sizes)
 * with caller-owned buffers and no allocation.
 *
 * Conventions, the same for every layer:
 *  - Matrices are row-major; a batch of N rows of width C is N*C floats.
 *  - Weights are stored out x in (PyTorch/llm.c layout): y = x W^T + b.
 *  - backward ADDS (+=) into every gradient it touches: parameter gradients and input gradients
 *    alike, so gradients from several consumers accumulate. Zero them before the first use.
 *    Any gradient pointer documented as optional may be NULL to skip that gradient.
 *  - Outputs of forward are overwritten (=), except where "accumulates" is stated.
 *  - Deterministic: loops run in parallel (OpenMP) only over independent rows, nodes or
 *    crystals, and every sum is taken in a fixed order, so results are bit-identical from run
 *    to run at a given thread count. GEMMs go through CBLAS (OpenBLAS), called outside any
 *    parallel region.
 *
 * Pairs: the message-passing layers work on all ordered pairs (i, j), i == j included, of the
 * atoms of each crystal of a packed batch. Crystal b with n_b atoms starting at atom o_b owns
 * the pair rows pair_offsets[b] .. pair_offsets[b] + n_b^2 - 1, laid out i-major:
 *   row(i, j) = pair_offsets[b] + (i - o_b) * n_b + (j - o_b),
 * so the n_b pairs of node i are one contiguous segment (its mean is a contiguous reduction). */
#ifndef XG_NN_H
#define XG_NN_H

#include <stddef.h>

/* The layout of a packed batch's pairs. Build it with xg_nn_pairs_layout. */
typedef struct {
    int nstructs;
    int natoms;
    long npairs;
    const int *atom_offsets;  /* nstructs + 1 */
    const long *pair_offsets; /* nstructs + 1, filled by xg_nn_pairs_layout */
} xg_nn_pairs;

/* Fills pair_offsets (nstructs + 1 longs, caller-owned) from atom_offsets and returns the total
 * number of pairs, sum of n_b^2. */
long xg_nn_pairs_layout(long *pair_offsets, const int *atom_offsets, int nstructs);

/* ---- linear: out[N x nout] = in[N x nin] W^T + bias ----
 * W is nout x nin, bias (nout) may be NULL. */
/* accumulate = 0: out is overwritten; accumulate = 1: out += in W^T + bias (residual adds). */
void xg_nn_linear_forward(float *out, const float *in, const float *W, const float *bias, int N,
                          int nin, int nout, int accumulate);
/* din[N x nin] += dout W (din optional), dW[nout x nin] += dout^T in (dW optional),
 * dbias += column sums of dout (dbias optional). */
void xg_nn_linear_backward(float *din, float *dW, float *dbias, const float *dout, const float *in,
                           const float *W, int N, int nin, int nout);

/* ---- SiLU: out = x sigmoid(x) elementwise; out may alias in ---- */
void xg_nn_silu_forward(float *out, const float *in, size_t n);
/* din += dout * silu'(in). din must not alias dout. */
void xg_nn_silu_backward(float *din, const float *dout, const float *in, size_t n);

/* ---- layer norm over the C entries of each row, with gain g and bias b (C each) ----
 * Saves mean and rstd (N each) for backward. eps = 1e-5. */
void xg_nn_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *g,
                             const float *b, int N, int C);
/* din += d/din, dg += sum_rows dout*xhat, db += sum_rows dout. din, dg, db optional. */
void xg_nn_layernorm_backward(float *din, float *dg, float *db, const float *dout, const float *in,
                              const float *mean, const float *rstd, const float *g, int N, int C);

/* ---- embedding lookup: out[r] = table[tokens[r]] (tokens must be in 0..ntokens-1) ---- */
void xg_nn_embedding_forward(float *out, const int *tokens, const float *table, int N, int C);
/* dtable[tokens[r]] += dout[r], rows taken in order. */
void xg_nn_embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int C);

/* ---- sinusoidal time features of t in (0, 1]: D (even) features per row ----
 * out[r][k] = sin(1000 t w_k), out[r][D/2 + k] = cos(1000 t w_k), w_k = 10000^(-k/(D/2)):
 * the transformer/DDPM embedding with t scaled to the usual 1000-step range. */
void xg_nn_time_features_forward(float *out, const float *t, int N, int D);
/* dt[r] += sum_k dout[r][k] d out[r][k] / dt. */
void xg_nn_time_features_backward(float *dt, const float *dout, const float *t, int N, int D);

/* ---- Fourier features of fractional differences, one row per pair ----
 * d = x_j - x_i (3 numbers), reduced by the nearest integer first (sin/cos are 1-periodic, so
 * this changes nothing but keeps the arguments small and the x -> x + 1 invariance tight);
 * row = [sin(2 pi k d_a), cos(2 pi k d_a)] for a = 0..2, k = 1..n_freq, in that order
 * (a outer, k middle, sin/cos inner): 6 * n_freq floats. frac is natoms x 3. */
void xg_nn_pair_fourier_forward(float *out, const float *frac, const xg_nn_pairs *pl, int n_freq);
/* dfrac[natoms x 3] += d/dfrac of sum(dout * out). */
void xg_nn_pair_fourier_backward(float *dfrac, const float *dout, const float *frac,
                                 const xg_nn_pairs *pl, int n_freq);

/* ---- gather of node rows onto pairs: out[row(i,j)] += P[i] + Q[j] + R[b] (accumulates) ----
 * P, Q (natoms x C) and R (nstructs x C) may each be NULL. This is the split first edge layer:
 * A u_i, B u_j and G g(L_b) are computed once per node / crystal and only added per pair. */
void xg_nn_pair_gather_forward(float *out, const float *P, const float *Q, const float *R,
                               const xg_nn_pairs *pl, int C);
/* dP[i] += sum_j dout[row(i,j)], dQ[j] += sum_i dout[row(i,j)], dR[b] += sum over b's pairs.
 * Each optional. */
void xg_nn_pair_gather_backward(float *dP, float *dQ, float *dR, const float *dout,
                                const xg_nn_pairs *pl, int C);

/* ---- mean of each node's pair rows: out[i] = (1/n_b) sum_j in[row(i,j)] ---- */
void xg_nn_pair_mean_forward(float *out, const float *in, const xg_nn_pairs *pl, int C);
/* din[row(i,j)] += dout[i] / n_b. */
void xg_nn_pair_mean_backward(float *din, const float *dout, const xg_nn_pairs *pl, int C);

/* ---- SiLU then pair mean, fused: out[i] = (1/n_b) sum_j SiLU(in[row(i,j)]) ----
 * The messages m_ij = SiLU(z_ij) are only ever used through their mean, so fusing saves
 * writing and re-reading an E x C array in forward and two more in backward. */
void xg_nn_pair_mean_silu_forward(float *out, const float *in, const xg_nn_pairs *pl, int C);
/* din[row(i,j)] += SiLU'(in[row(i,j)]) * dout[i] / n_b. */
void xg_nn_pair_mean_silu_backward(float *din, const float *dout, const float *in,
                                   const xg_nn_pairs *pl, int C);

/* ---- segment mean: out[s] = mean of in rows offsets[s] .. offsets[s+1]-1 (0 if empty) ----
 * Used for the per-crystal mean of node rows (offsets = atom offsets). */
void xg_nn_segment_mean_forward(float *out, const float *in, const int *offsets, int nseg, int C);
void xg_nn_segment_mean_backward(float *din, const float *dout, const int *offsets, int nseg,
                                 int C);

/* ---- segment broadcast: out[r] += in[s] for every row r of segment s (accumulates) ----
 * Used to add per-crystal vectors (time, condition) onto the crystal's nodes. */
void xg_nn_segment_broadcast_forward(float *out, const float *in, const int *offsets, int nseg,
                                     int C);
/* din[s] += sum of dout rows of segment s. */
void xg_nn_segment_broadcast_backward(float *din, const float *dout, const int *offsets, int nseg,
                                      int C);

/* ---- concat: out[N x (C1 + C2)] = [a (N x C1), b (N x C2)] ---- */
void xg_nn_concat_forward(float *out, const float *a, const float *b, int N, int C1, int C2);
/* da += left block of dout, db += right block (each optional). */
void xg_nn_concat_backward(float *da, float *db, const float *dout, int N, int C1, int C2);

/* ---- softmax cross-entropy, one row of C logits per sample ----
 * losses[r] = -log softmax(logits[r])[targets[r]], probs = softmax(logits); a row whose target
 * is negative is ignored (loss 0, probs still written). Returns the sum of the losses (double). */
double xg_nn_xent_forward(float *losses, float *probs, const float *logits, const int *targets,
                          int N, int C);
/* dlogits[r] += dlosses[r] * (probs[r] - onehot(targets[r])); ignored rows get nothing. */
void xg_nn_xent_backward(float *dlogits, const float *probs, const int *targets,
                         const float *dlosses, int N, int C);

/* ---- mean squared error over n numbers: returns (1/n) sum (pred - target)^2 ---- */
double xg_nn_mse_forward(const float *pred, const float *target, size_t n);
/* dpred += dloss * 2 (pred - target) / n. */
void xg_nn_mse_backward(float *dpred, const float *pred, const float *target, size_t n,
                        float dloss);

#endif
