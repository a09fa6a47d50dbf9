/* xg_noise.h: the three forward (noising) processes of DESIGN.md 3.2, their training targets
 * and the loss that compares the denoiser's outputs with those targets.
 *
 * Time t runs in (0, 1]; t -> 0 is the data, t = 1 the prior. Every parameter lives in
 * xg_noise_params, which model files store in /config, so a sampler rebuilds exactly the
 * process a model was trained on.
 *
 * Coordinates (wrapped normal on the torus [0,1)^3):
 *   x_t = (x_0 + sigma z) mod 1,  sigma(t, N) = sigma_min^(1-t) sigma_max^t * N^(-1/3).
 *   score(d) = d/dx log p_sigma(x_t | x_0), d = x_t - x_0, per dimension.
 *   lambda(sigma) = E[(sigma score)^2] per dimension: 1 for small sigma (plain Gaussian), falls
 *   to ~1e-8 at sigma 0.74 where the wrapped normal is nearly uniform.
 *   The denoiser's coordinate output c is trained to predict the NORMALISED target
 *   sigma * score / sqrt(lambda(sigma)) with a plain squared error. This is DiffCSP's weighting
 *   (loss divided by E[|sigma score|^2]) written so that the network's outputs stay O(1) at
 *   every sigma: weighting an unnormalised output by 1/lambda ~ 1e8 instead would make the
 *   gradients explode at large sigma. For sigma below ~0.1, lambda = 1 and c is exactly the
 *   sigma-scaled score. A sampler recovers the score as  score = c * sqrt(lambda) / sigma
 *   (xg_noise_coord_score_from_output).
 *
 * Lattice (variance preserving, on the symmetric polar factor S = (L L^T)^(1/2)):
 *   (S, same fractional coordinates) is the same crystal rotated (or mirrored when det L < 0),
 *   so training lattices are canonicalised to S (xg_noise_lattice_canonical).
 *   L_t = sqrt(abar) S_0 + (1 - sqrt(abar)) mu(N) + sqrt(1 - abar) s(N) eps_sym,
 *   mu(N) = (N / avg_density)^(1/3) I,  s(N) = lattice_c N^(1/3),
 *   eps_sym = (E + E^T) / sqrt(2), E 3x3 standard normal (diagonal variance 2, off-diagonal 1).
 *   abar(t) = cosine schedule f(t)/f(0), f(t) = cos^2(pi/2 (t + s)/(1 + s)), s = cos_s;
 *   abar(1) = 0, so L_1 ~ mu + s eps_sym exactly.
 *   lattice_c: chosen so the prior's Frobenius spread equals the data's,
 *   c^2 = mean_b ||S_b - mu(N_b)||_F^2 / (12 N_b^(2/3))  (12 = E||eps_sym||_F^2),
 *   computed from the training set (xg_noise_fit); ~0.25 mu(N)/N^(1/3) when no data is given.
 *   Target: eps_sym. The network's lattice output P = M(h) L_t is symmetrised,
 *   (P + P^T)/2, before the squared error (mean over the 9 entries).
 *
 * Types (absorbing-state "mask" diffusion, D3PM/MDLM):
 *   each site is replaced by XG_MASK_TOKEN with probability 1 - alpha(t), alpha(t) = 1 - t
 *   (linear: the masking rate equals t). Loss: cross-entropy over the XG_NUM_TYPES classes
 *   (class = Z - 1), averaged over the masked sites of a batch.
 *
 * Total loss = w_coord * coord loss + w_lattice * lattice loss + w_type * type loss. */
#ifndef XG_NOISE_H
#define XG_NOISE_H

#include <stdint.h>
#include "crystal/xg_error.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_denoiser.h"

typedef struct {
    double sigma_min;   /* coordinate noise at t = 0 before the N^(-1/3) factor (0.005) */
    double sigma_max;   /* coordinate noise at t = 1 before the N^(-1/3) factor (2.0) */
    double avg_density; /* atoms per cubic Angstrom of the training set (MP-20: ~0.0577) */
    double lattice_c;   /* lattice prior std s(N) = lattice_c * N^(1/3), Angstrom */
    double cos_s;       /* offset of the cosine schedule (0.008) */
    double t_min;       /* training draws t uniformly in [t_min, 1] (1e-3) */
    double w_coord, w_lattice, w_type; /* loss weights (1, 1, 1) */
    /* 1: a crystal-structure-prediction model (issue 16, as DiffCSP): types are never masked,
     * only coordinates and lattice are noised, and the sampler is given the composition.
     * Stored in the model file only when set (files without it are 0). */
    int csp;
    /* Probability that a crystal's types are masked element by element in training: every
     * atom of one element masked or shown together (one reveal coin per element), the way the
     * template sampler reveals an element pattern's classes (issue 23). The rest of the
     * crystals are masked atom by atom. 0 (the default) = always atom by atom. Stored in the
     * model file only when set. */
    double class_mask;
} xg_noise_params;

/* MP-20 defaults; avg_density and lattice_c are refitted from the data by xg_noise_fit. */
void xg_noise_params_default(xg_noise_params *p);
/* XG_EINVAL with a message when a parameter is out of range (sigma_min <= 0, ...). */
int xg_noise_params_check(const xg_noise_params *p, xg_error *err);

/* ---- coordinates ---- */
double xg_noise_coord_sigma(const xg_noise_params *p, double t, int natoms);
/* d/dx log p(x) of the wrapped normal of width sigma at displacement d (any real; the
 * function is periodic in d). Exact to double precision for every sigma > 0: images
 * k = -K..K (log-sum-exp) for sigma < 0.3, the Fourier (theta) series above. */
double xg_noise_wrapped_score(double d, double sigma);
/* log of the wrapped normal density (normalised on [0,1)), same branches. */
double xg_noise_wrapped_logpdf(double d, double sigma);
/* lambda(sigma) = E[(sigma score)^2] per dimension, by periodic trapezoid quadrature
 * (spectrally accurate, 32..400 points, ~1e-10 relative); 1 below sigma = 0.07. */
double xg_noise_coord_norm(double sigma);
/* score of one coordinate from the network output c at this sigma (for samplers):
 * c * xg_noise_coord_score_scale(sigma). The scale costs a quadrature: a sampler should
 * compute it once per crystal and step, not per coordinate. */
double xg_noise_coord_score_scale(double sigma);
double xg_noise_coord_score_from_output(double c, double sigma);

/* ---- lattice ---- */
double xg_noise_abar(const xg_noise_params *p, double t);
/* Limit mean mu(N) (the diagonal value) and std s(N). */
double xg_noise_lattice_mu(const xg_noise_params *p, int natoms);
double xg_noise_lattice_std(const xg_noise_params *p, int natoms);
/* S = (L L^T)^(1/2) of a lattice with rows as vectors. XG_ENUMERIC when L is singular or the
 * eigensolver fails. S may alias L. */
int xg_noise_lattice_canonical(const double L[9], double S[9], xg_error *err);

/* Fits avg_density (mean of N/V) and lattice_c (see above) from n lattices (rows, 9 doubles
 * each, any orientation) and atom counts. XG_EINVAL for n == 0 or degenerate cells. */
int xg_noise_fit(xg_noise_params *p, int64_t n, const double *lattices, const int *natoms,
                 xg_error *err);

/* ---- one crystal's forward draw ---- */
/* Draws the noised state of one crystal at time t from rng:
 *   in:  natoms, classes[natoms] (0..99), frac0[natoms*3], S0[9] (canonical lattice)
 *   out: tokens[natoms] (class or XG_MASK_TOKEN), frac_t[natoms*3] in [0,1), lat_t[9],
 *        coord_target[natoms*3] (normalised score, see above), lat_target[9] (eps_sym),
 *        *sigma_out (may be NULL).
 * Every output is caller-owned. Draw order is fixed, so a given rng state gives one draw. */
void xg_noise_draw(const xg_noise_params *p, double t, int natoms, const int *classes,
                   const double *frac0, const double S0[9], xg_rng *rng, int *tokens,
                   float *frac_t, float *lat_t, float *coord_target, float *lat_target,
                   double *sigma_out);

/* ---- loss ---- */
typedef struct {
    double total;   /* w_coord * coord + w_lattice * lattice + w_type * type */
    double coord;   /* mean over atoms of mean over 3 dims of squared error */
    double lattice; /* mean over crystals of mean over 9 entries of squared error */
    double type;    /* mean cross-entropy over masked sites (0 when none is masked) */
    long masked;    /* masked sites in the batch */
} xg_noise_loss;

/* Loss of a forward pass on a packed batch and, when the d_* pointers are non-NULL, its
 * gradients with respect to the three outputs (overwritten, ready for
 * xg_denoiser_backward). classes: the clean class of every atom; b->tokens says which are
 * masked. Returns XG_ENUMERIC when the loss is not finite. */
int xg_noise_loss_eval(const xg_noise_params *p, const xg_batch *b, const xg_denoiser_out *out,
                       const int *classes, const float *coord_target, const float *lat_target,
                       xg_noise_loss *loss, float *d_coord, float *d_logits, float *d_lattice,
                       xg_error *err);

#endif
