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
 * coordinate score, the lattice noise and the type logits (the logits with their own gamma when
 * guidance_types is set). With neg_cond the first pass is conditioned on those values instead of
 * unconditional: guidance then pushes away from them rather than from no condition.
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
 * allowed elements, given to all its atoms; or, with element classes (orbit_class below), per
 * class of orbits that share an element.
 *
 * Hard chemistry (issue 16): a crystal may carry an xg_sampler_chem. Its elements come from its
 * own allowed set; each required element appears at least once, the number of distinct elements
 * stays within [min_elements, max_elements], enforced while unmasking rather than by rejection.
 * The sampler tracks, per crystal, the elements already revealed and the count m of new distinct
 * elements still owed (missing required ones, plus any further ones min_elements asks for).
 * Sites (orbits, with a template) are revealed in the usual random order and drawn from the
 * network's softmax as usual while more masked units remain than are owed; once the masked
 * units left equal m, each remaining draw is restricted to the owed elements (the missing
 * required ones, or any allowed element not yet present when min_elements still asks for more),
 * renormalised over them. With max_elements, an element that would exceed the bound is given
 * probability zero. The bias: the first reveals follow the network exactly, and the last m
 * units are reserved, so a missing element tends to occupy a late-revealed, low-multiplicity
 * position and appears about once when the network would not have chosen it; the network's
 * preferences still decide which owed element goes where, and the coordinates and lattice adapt
 * to the types as they appear. A crystal with fixed types (crystal structure prediction) has
 * them from t = 1: nothing is unmasked and only coordinates and lattice are sampled.
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

/* generate's default number of steps, chosen by the steps study (README, scripts/steps_study.sh):
 * the fewest steps whose 1,000-crystal quality table is as good as with more steps. */
#define XG_SAMPLER_DEFAULT_STEPS 100

/* The hard chemistry of one crystal (see above). Zero-initialise, then fill what applies. */
#define XG_SAMPLER_MAX_REQUIRED 16
/* The most atoms (so also orbits) one crystal may have. */
#define XG_SAMPLER_MAX_ATOMS 1000
typedef struct {
    /* NULL: the run's allowed set (xg_sampler_opts.allowed); else this crystal's, replacing it
     * (a chemical system: exactly its elements). Indexed by Z as opts.allowed. */
    const unsigned char *allowed;
    int nrequired;                          /* distinct atomic numbers that must all appear */
    int required[XG_SAMPLER_MAX_REQUIRED];
    int min_elements;                       /* at least this many distinct elements (0: none) */
    int max_elements;                       /* at most this many (0: no bound) */
    /* NULL, or natoms atomic numbers fixed from the start, in the crystal's atom order (the
     * template's order with a template, constant over each orbit): only coordinates and
     * lattice are sampled. The other fields are then not used. */
    const int *types;
    /* With types and no template: 0 = the types are given from t = 1 (a CSP model, trained
     * with types never masked); 1 = the sites are unmasked on the usual schedule, each draw
     * restricted to the elements whose count in `types` is not yet used up, so the network sees
     * the masked inputs it was trained on and decides which site takes which element, and the
     * crystal ends with exactly that composition. */
    int unmask;
} xg_sampler_chem;

typedef struct {
    int steps;                /* predictor steps (default XG_SAMPLER_DEFAULT_STEPS) */
    int corrector_steps;      /* Langevin corrector moves per step (default 1) */
    double coord_lr;          /* corrector step for coordinates = coord_lr * sigma_t^2 */
    double lattice_lr;        /* corrector step for the lattice, relative to the noise variance */
    double guidance;          /* gamma; used only when cond != NULL */
    /* gamma of the type logits alone, or NAN (the default) for `guidance`. The composition
     * decides most of a property such as the energy above the hull, while a large gamma on
     * the coordinate score and lattice noise pushes the geometry off the training
     * distribution: guiding the types harder than the geometry steers the chemistry only. */
    double guidance_types;
    const float *cond;        /* cond_dim values applied to every crystal, or NULL */
    int cond_dim;
    /* NULL, or cond_dim values of a negative condition: the pass that guidance pushes away from
     * is then the network conditioned on these values instead of the unconditional one, and
     * the outputs are mixed as out_n + gamma (out_c - out_n). Used only with cond. */
    const float *neg_cond;
    /* allowed[z] != 0 for the elements that may appear (index 0 unused, z <= XG_MAX_Z). NULL
     * means every element the network knows (Z = 1..100). */
    const unsigned char *allowed;
    /* NULL, or one template per crystal of xg_sampler_run's batch (a NULL entry samples that
     * crystal without constraint); crystal k then has templates[k]->natoms atoms, in the
     * template's atom order. */
    const xg_template *const *templates;
    /* NULL, or the random stream of each crystal of the batch (instead of first_index + k):
     * lets one batch gather crystals whose streams are not consecutive, such as redraws. */
    const uint64_t *streams;
    /* NULL, or one hard-chemistry constraint per crystal of the batch (NULL entries: none). */
    const xg_sampler_chem *const *chem;
    /* NULL, or per crystal of the batch NULL or its template's norbits element classes
     * (0 .. K-1, every class used): the orbits of one class take one element and orbits of
     * different classes different elements, the pattern of a training crystal on that template
     * (xg_template_member_classes). Types are then unmasked per class, largest class first
     * among those due at a step: one draw per class, from its atoms' pooled logits
     * (reveal_classes in xg_sampler.c says how) over the allowed elements that no other class
     * holds (over all allowed ones when the others have used them up). Without it every orbit
     * draws on its own, and nothing keeps two orbits from taking one element: measured on
     * 1,000 crystals, 6.3% came out elemental and 45% binary against 0.9% and 21% in MP-20.
     * Not used for a crystal with hard chemistry (its constraint decides per orbit). */
    const int *const *orbit_class;
    /* NULL, or the class-level element prior of the templates' training crystals
     * (xg_template_table_class_prior), used with orbit_class. The network predicts each atom
     * on its own and does not know which atoms share an element, so its logits carry the atom
     * frequencies (O: 13% of an MP-20 crystal's atoms on average) where a class draw needs the
     * class frequencies (O is the largest class of 23% of MP-20's crystals). With the prior, a
     * class's draw is from log p_class(Z | cell size, classes, rank) plus the average over its
     * atoms of logit - 0.7 log p_atom(Z | cell size): the network's evidence relative to the
     * atom frequencies (tempered: its predictions are flatter than those frequencies), on the
     * class frequencies of its place in the pattern (reveal_classes in xg_sampler.c). */
    const xg_class_prior *class_prior;
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

/* Can constraint c be met by a crystal of natoms atoms (with template tp, or NULL) whose
 * elements come from `allowed` (c->allowed when set; NULL: every element the network knows)?
 * XG_EINVAL with the reason otherwise: a required element that is not allowed or not one the
 * network knows, more required or minimum elements than atoms (orbits), min above max, more
 * required elements than max_elements, fixed types that are not allowed or not constant over
 * an orbit. */
int xg_sampler_chem_check(const xg_sampler_chem *c, const unsigned char *allowed, int natoms,
                          const xg_template *tp, xg_error *err);

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
