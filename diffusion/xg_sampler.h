/* xg_sampler.h: the reverse process of DESIGN.md 3.4: from the prior to crystals.
 *
 * A batch of crystals starts at t = 1 with uniform fractional coordinates, the limit lattice
 * mu(N) + s(N) eps_sym and every site masked. Each of `steps` steps goes from t to s = t - 1/steps:
 *   coordinates: `corrector_steps` Langevin moves at t (step c_lr * sigma_t^2), then the
 *     ancestral predictor of the variance-exploding wrapped normal:
 *       x_s = x_t + (sigma_t^2 - sigma_s^2) score + sqrt(sigma_s^2 (sigma_t^2 - sigma_s^2) / sigma_t^2) z
 *   lattice: the same Langevin corrector on Y = L - mu(N) with the score -eps_hat / (sqrt(1-abar) s),
 *     then the DDPM ancestral step of the variance-preserving process toward mu(N);
 *   types: every masked site is revealed with probability (alpha(s) - alpha(t)) / (1 - alpha(t)),
 *     its class drawn from the softmax of the logits over the allowed elements only (so an excluded
 *     element has probability exactly zero); revealed sites stay fixed.
 * With a condition, every network evaluation is done twice, unconditional and conditional, and
 * the outputs are mixed as out_u + gamma (out_c - out_u) (classifier-free guidance) for the
 * coordinate score, the lattice noise and the type logits.
 *
 * Symmetric sampling (DESIGN.md 3.4b): a crystal given a space-group template (xg_template.h)
 * starts from the projection of the prior onto the template's symmetric subspace and is projected
 * again after every corrector and predictor update (positions and lattice), so every
 * intermediate state is exactly symmetric. Projecting the whole update projects its noise: near
 * a symmetric point the projection is linear, so the noise that survives is the forward noise of
 * the subspace with the same scale (exactly so where the rotations are orthogonal in the cell's
 * basis). For a group-invariant density the score at a symmetric point already lies in the
 * subspace; the projection removes what the network gets wrong. Types are unmasked per orbit:
 * one reveal and one draw per orbit, from the softmax of the orbit's averaged logits over the
 * allowed elements, given to all its atoms.
 *
 * Randomness: crystal k of a run draws from its own stream (seed, k), so a crystal does not
 * depend on which other crystals share its batch, only on the seed, its index and the thread
 * count (GEMM blocking can change float rounding with the batch shape; the batch size is part
 * of what "same settings" means). */
#ifndef XG_SAMPLER_H
#define XG_SAMPLER_H

#include <stdint.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"
#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_noise.h"
#include "diffusion/xg_template.h"

/* The network as the sampler sees it: one evaluation of a batch. The real one wraps
 * xg_denoiser_forward; tests substitute doubles. Outputs must stay valid until the next call. */
typedef int (*xg_eval_fn)(void *ctx, const xg_batch *b, xg_denoiser_out *out, xg_error *err);

typedef struct {
    int steps;                /* predictor steps (default 1000) */
    int corrector_steps;      /* Langevin corrector moves per step (default 1) */
    double coord_lr;          /* corrector step for coordinates = coord_lr * sigma_t^2 */
    double lattice_lr;        /* corrector step for the lattice, relative to the noise variance */
    double guidance;          /* gamma; used only when cond != NULL */
    const float *cond;        /* cond_dim values applied to every crystal, or NULL */
    int cond_dim;
    /* allowed[z] != 0 for the elements that may appear (index 0 unused, z <= XG_MAX_Z). NULL
     * means every element the network knows (Z = 1..100). */
    const unsigned char *allowed;
    /* NULL, or one template per crystal of xg_sampler_run's batch (a NULL entry samples that
     * crystal without constraint); crystal k then has templates[k]->natoms atoms, in the
     * template's atom order. */
    const xg_template *const *templates;
} xg_sampler_opts;

void xg_sampler_opts_default(xg_sampler_opts *o);
/* The sampler's allowed[] from two element-set specs (xg_element_set_parse: "Fe,Co,O",
 * "rare-earths"): elements NULL = every element, minus exclude (may be NULL), restricted to
 * what the network can produce (Z <= XG_NUM_TYPES). A parse error is prefixed with the label
 * of the spec it came from (elements_label / exclude_label: "--elements", ...); XG_EINVAL when
 * nothing is left. */
int xg_sampler_allowed_elements(const char *elements, const char *exclude,
                                const char *elements_label, const char *exclude_label,
                                unsigned char allowed[XG_MAX_Z + 1], xg_error *err);

/* Checks that some element is allowed and that the options make sense. */
int xg_sampler_check(const xg_sampler_opts *o, xg_error *err);

/* Samples nstructs crystals with natoms[k] atoms each; crystal k uses stream first_index + k of
 * `seed`. out[k] receives a new structure (caller frees). eval is called with batches of exactly
 * these crystals. progress (may be NULL) is called after every step with (step, steps). */
int xg_sampler_run(const xg_noise_params *noise, xg_eval_fn eval, void *eval_ctx,
                   const xg_sampler_opts *o, int nstructs, const int *natoms, uint64_t seed,
                   uint64_t first_index, xg_structure **out,
                   void (*progress)(void *ctx, int step, int steps), void *progress_ctx,
                   xg_error *err);

/* out = u + gamma (c - u), elementwise over n values (the guidance rule, exposed for tests). */
void xg_sampler_mix(int n, const float *u, const float *c, double gamma, float *out);

/* The eval_fn for a real denoiser: ctx is an xg_denoiser *. */
int xg_sampler_eval_denoiser(void *ctx, const xg_batch *b, xg_denoiser_out *out, xg_error *err);

#endif
