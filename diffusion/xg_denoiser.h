/* xg_denoiser.h: the periodic message-passing denoiser of DESIGN.md 3.3.
 *
 * Inputs are a packed batch of crystals of different sizes (no padding). Every pair (i, j)
 * of atoms within one cell, i == j included, exchanges a message. The network is invariant to
 * atom order, to a common translation of the fractional coordinates, to x -> x + 1 and to
 * rotations of the lattice, by construction:
 *   h_i^0   = E_type[token_i] + W_t * sinusoidal(t) + W_c * cond (or the learned "unconditional" vector)
 *   per layer l:  u_i = LayerNorm(h_i)
 *     m_ij  = SiLU(W2 SiLU(A u_i + B u_j + F phi(x_j - x_i) + G g(L) + b1) + b2)
 *             phi = [sin(2 pi k d), cos(2 pi k d)] for k = 1..n_freq and each of the 3 dims,
 *             g(L) = the 6 distinct entries of the metric L L^T (normalised by N^(2/3))
 *     h_i  += W4 SiLU(W3 [u_i, mean_j m_ij] + b3) + b4
 *   outputs from u = LayerNorm(h):
 *     coord_i   = W_x u_i                   (3 numbers: sigma-scaled score of fractional coords)
 *     logits_i  = W_a u_i + b_a             (XG_NUM_TYPES classes, class k is Z = k + 1)
 *     lattice_b = M_b L_b,  M_b = reshape(W_l mean_{i in b} u_i + b_l)  (3x3; rotates with L)
 * The first edge layer is split: A u_i and B u_j are computed once per node, G g(L) once per
 * crystal, and only F phi is computed per edge.
 *
 * All parameters live in one flat float array (and gradients in another of the same size),
 * so optimisers, EMA, checkpoints and MPI allreduce treat them as one vector. */
#ifndef XG_DENOISER_H
#define XG_DENOISER_H

#include <stddef.h>
#include <stdint.h>
#include "crystal/xg_error.h"

#define XG_NUM_TYPES 100   /* clean atom classes: class k is atomic number k + 1 */
#define XG_MASK_TOKEN 100  /* input token of a masked (absorbed) site */
#define XG_NUM_TOKENS 101

typedef struct {
    int hidden;    /* H, width of node states and messages */
    int layers;    /* number of message-passing layers */
    int n_freq;    /* Fourier frequencies per dimension */
    int time_dim;  /* sinusoidal features of t (even) */
    int cond_dim;  /* width of the condition vector; 0 = unconditional model */
} xg_denoiser_config;

/* A packed batch. All pointers are caller-owned and must stay valid across forward+backward. */
typedef struct {
    int nstructs;
    int natoms;
    const int *offsets;       /* nstructs + 1; structure b has atoms offsets[b]..offsets[b+1]-1 */
    const int *tokens;        /* natoms: class 0..99 or XG_MASK_TOKEN */
    const float *frac;        /* natoms * 3 */
    const float *lattice;     /* nstructs * 9, rows are lattice vectors, Angstrom */
    const float *t;           /* nstructs, diffusion time in (0, 1] */
    const float *cond;        /* nstructs * cond_dim, or NULL */
    const unsigned char *cond_on; /* nstructs; 0 = use the unconditional vector. NULL = all 0 */
} xg_batch;

/* Outputs of a forward pass; they point into the denoiser's arena and stay valid until the
 * next forward. */
typedef struct {
    const float *coord;   /* natoms * 3 */
    const float *logits;  /* natoms * XG_NUM_TYPES */
    const float *lattice; /* nstructs * 9 */
} xg_denoiser_out;

typedef struct xg_denoiser xg_denoiser;

/* The recommended configuration (measured; see the README's bench table): hidden 128, 4
 * layers, 8 frequencies, time_dim 32, unconditional. */
void xg_denoiser_default_config(xg_denoiser_config *cfg);

xg_denoiser *xg_denoiser_alloc(const xg_denoiser_config *cfg, xg_error *err);
/* A lower bound on the parameters cfg allocates (its H x H blocks and embeddings), computed
 * without allocating: file readers compare it with the file's size before building a network
 * from a file's /config, so a small file cannot make them allocate gigabytes. */
double xg_denoiser_params_lower_bound(const xg_denoiser_config *cfg);
void xg_denoiser_free(xg_denoiser *d);
const xg_denoiser_config *xg_denoiser_get_config(const xg_denoiser *d);

size_t xg_denoiser_num_params(const xg_denoiser *d);
float *xg_denoiser_params(xg_denoiser *d);  /* num_params floats */
float *xg_denoiser_grads(xg_denoiser *d);   /* num_params floats, accumulated by backward */
void xg_denoiser_zero_grad(xg_denoiser *d);
/* Deterministic initialisation from a seed (scaled normal weights, zero biases, LN gain 1). */
void xg_denoiser_init_params(xg_denoiser *d, uint64_t seed);

/* The parameter tensors, for naming them in model files: i = 0..count-1. */
int xg_denoiser_param_count(const xg_denoiser *d);
const char *xg_denoiser_param_info(const xg_denoiser *d, int i, size_t *offset, int *rows, int *cols);

/* Grows the activation arena so batches up to these sizes need no allocation. forward calls it
 * itself when a batch is larger; call it once up front to keep malloc out of the loop. */
int xg_denoiser_reserve(xg_denoiser *d, int max_structs, int max_atoms, long max_pairs, xg_error *err);

/* Inference mode (on != 0): forward only, as sampling needs. One set of edge activations
 * serves every layer and no gradient buffers are carved, so the arena for a batch with E pairs
 * shrinks from about (3L + 2 + 6 n_freq / H) E H floats to (2 + 6 n_freq / H) E H; the outputs
 * are bit for bit those of the training mode. backward is refused while it is on. */
void xg_denoiser_set_inference(xg_denoiser *d, int on);

/* Bytes the arena (and pair offsets) for a batch of these sizes takes in the current mode,
 * computed without allocating. */
double xg_denoiser_arena_bytes(xg_denoiser *d, int max_structs, int max_atoms, long max_pairs);

/* Caps the arena: a batch needing more than `bytes` (0 = no cap) is refused by reserve and
 * forward with XG_ENOMEM and a message giving both sizes, before anything is allocated. */
void xg_denoiser_set_max_memory(xg_denoiser *d, size_t bytes);

int xg_denoiser_forward(xg_denoiser *d, const xg_batch *b, xg_denoiser_out *out, xg_error *err);
/* Backpropagates the loss gradients with respect to the three outputs (any may be NULL = zero)
 * through the last forward pass of the same batch, ADDING into the parameter gradients. */
int xg_denoiser_backward(xg_denoiser *d, const xg_batch *b, const float *d_coord,
                         const float *d_logits, const float *d_lattice, xg_error *err);

/* The final node states, for models that pool them (properties/xg_propmodel.h): u =
 * LayerNorm(h) of the last forward pass, natoms x hidden, the features every head reads; valid
 * until the next forward; NULL before any forward. */
const float *xg_denoiser_node_states(const xg_denoiser *d);
/* xg_denoiser_backward with one more incoming gradient, d_u (natoms x hidden, may be NULL)
 * with respect to those node states; the heads' gradients (any may be NULL) are added to it.
 * ADDS into the parameter gradients like backward. */
int xg_denoiser_backward_nodes(xg_denoiser *d, const xg_batch *b, const float *d_coord,
                               const float *d_logits, const float *d_lattice, const float *d_u,
                               xg_error *err);

/* FLOPs of one forward (backward = 0) or forward+backward (1) pass on this batch, counting a
 * multiply-add as 2. Used by `xtalgen bench denoiser` to report GFLOP/s. */
double xg_denoiser_flops(const xg_denoiser *d, const xg_batch *b, int backward);

#endif
