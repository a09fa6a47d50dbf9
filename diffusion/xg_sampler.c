/* xg_sampler.c: predictor-corrector sampling of crystals (see xg_sampler.h). */
#include "diffusion/xg_sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_rng.h"

void xg_sampler_opts_default(xg_sampler_opts *o)
{
    memset(o, 0, sizeof *o);
    o->steps = XG_SAMPLER_DEFAULT_STEPS;
    o->corrector_steps = 1;
    /* DiffCSP's corrector step is step_lr (sigma / sigma_min)^2 with step_lr 1e-5 and
     * sigma_min 0.005, i.e. 0.4 sigma^2: the drift then moves an atom 0.4 of the way to where
     * the score points, and the injected noise has 0.9 sigma. */
    o->coord_lr = 0.4;
    o->lattice_lr = 0.0;
    o->guidance = 1.0;
    o->guidance_types = NAN;
}

int xg_sampler_check(const xg_sampler_opts *o, xg_error *err)
{
    if (o->steps < 1 || o->steps > 100000)
        return xg_error_set(err, XG_EINVAL, "sampler: steps must be in [1, 100000], got %d",
                            o->steps);
    if (o->corrector_steps < 0 || o->corrector_steps > 100)
        return xg_error_set(err, XG_EINVAL, "sampler: corrector steps must be in [0, 100]");
    if (!(o->coord_lr >= 0 && o->coord_lr <= 10) || !(o->lattice_lr >= 0 && o->lattice_lr <= 1))
        return xg_error_set(err, XG_EINVAL, "sampler: corrector step sizes out of range");
    if (!isfinite(o->guidance) || isinf(o->guidance_types))
        return xg_error_set(err, XG_EINVAL, "sampler: guidance must be finite");
    if (o->neg_cond && !o->cond)
        return xg_error_set(err, XG_EINVAL, "sampler: a negative condition needs a condition");
    if (o->cond && o->cond_dim <= 0)
        return xg_error_set(err, XG_EINVAL, "sampler: a condition needs cond_dim > 0");
    if (o->allowed) {
        int any = 0;
        for (int z = 1; z <= XG_NUM_TYPES && z <= XG_MAX_Z; z++)
            any |= o->allowed[z] != 0;
        if (!any)
            return xg_error_set(err, XG_EINVAL,
                                "sampler: the element constraints leave no element the model can "
                                "generate (it knows Z = 1..%d)",
                                XG_NUM_TYPES);
    }
    return XG_OK;
}

int xg_sampler_chem_check(const xg_sampler_chem *c, const unsigned char *allowed, int natoms,
                          const xg_template *tp, xg_error *err)
{
    if (c->allowed)
        allowed = c->allowed;
    int nunits = tp ? tp->norbits : natoms;
    const char *unit = tp ? "orbits" : "atoms";
    if (c->types) {
        for (int a = 0; a < natoms; a++) {
            int z = c->types[a];
            if (z < 1 || z > XG_NUM_TYPES)
                return xg_error_set(err, XG_EINVAL, "atom %d has Z = %d; the model knows Z = 1..%d",
                                    a + 1, z, XG_NUM_TYPES);
            if (allowed && !allowed[z])
                return xg_error_set(err, XG_EINVAL, "the composition holds %s, which the element "
                                    "constraints exclude", xg_element_get(z)->symbol);
        }
        for (int q = 0; tp && q < tp->norbits; q++)
            for (int a = tp->orbit_start[q] + 1; a < tp->orbit_start[q + 1]; a++)
                if (c->types[a] != c->types[tp->orbit_start[q]])
                    return xg_error_set(err, XG_EINVAL, "fixed types differ within orbit %d of the "
                                        "template", q + 1);
        return XG_OK;
    }
    if (c->nrequired < 0 || c->nrequired > XG_SAMPLER_MAX_REQUIRED)
        return xg_error_set(err, XG_EINVAL, "at most %d required elements, got %d",
                            XG_SAMPLER_MAX_REQUIRED, c->nrequired);
    for (int i = 0; i < c->nrequired; i++) {
        int z = c->required[i];
        if (z < 1 || z > XG_NUM_TYPES)
            return xg_error_set(err, XG_EINVAL, "required element Z = %d is not one the model "
                                "knows (Z = 1..%d)", z, XG_NUM_TYPES);
        if (allowed && !allowed[z])
            return xg_error_set(err, XG_EINVAL, "required element %s is excluded by the element "
                                "constraints", xg_element_get(z)->symbol);
        for (int k = 0; k < i; k++)
            if (c->required[k] == z)
                return xg_error_set(err, XG_EINVAL, "required element %s given twice",
                                    xg_element_get(z)->symbol);
    }
    if (c->min_elements < 0 || c->max_elements < 0)
        return xg_error_set(err, XG_EINVAL, "negative bound on the number of elements");
    if (c->max_elements > 0 && c->min_elements > c->max_elements)
        return xg_error_set(err, XG_EINVAL, "at least %d but at most %d elements cannot both hold",
                            c->min_elements, c->max_elements);
    if (c->max_elements > 0 && c->nrequired > c->max_elements)
        return xg_error_set(err, XG_EINVAL, "%d required elements but at most %d elements",
                            c->nrequired, c->max_elements);
    int need = c->nrequired > c->min_elements ? c->nrequired : c->min_elements;
    if (need > nunits)
        return xg_error_set(err, XG_EINVAL, "%d distinct elements cannot fit in %d %s", need,
                            nunits, unit);
    int navail = 0;
    for (int z = 1; z <= XG_NUM_TYPES; z++)
        navail += !allowed || allowed[z];
    if (c->min_elements > navail)
        return xg_error_set(err, XG_EINVAL, "at least %d elements asked but only %d are allowed",
                            c->min_elements, navail);
    return XG_OK;
}

void xg_sampler_mix(int n, const float *u, const float *c, double gamma, float *out)
{
    float g = (float)gamma;
    for (int i = 0; i < n; i++)
        out[i] = u[i] + g * (c[i] - u[i]);
}

int xg_sampler_eval_denoiser(void *ctx, const xg_batch *b, xg_denoiser_out *out, xg_error *err)
{
    return xg_denoiser_forward((xg_denoiser *)ctx, b, out, err);
}

/* Symmetric noise with the forward process's covariance: (E + E^T) / sqrt(2). */
static void draw_sym(xg_rng *r, double e[9])
{
    double E[9];
    for (int k = 0; k < 9; k++)
        E[k] = xg_rng_normal(r);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            e[3 * i + j] = (E[3 * i + j] + E[3 * j + i]) / sqrt(2.0);
}

typedef struct {
    /* per atom */
    int *tokens;
    double *x;
    float *xf;
    /* per crystal */
    double *Y;      /* lattice minus mu(N) I, 9 per crystal */
    float *lat;     /* Y + mu as floats for the network */
    float *t;
    float *cond;
    float *neg;     /* the negative condition per crystal (xg_sampler_opts.neg_cond), or NULL */
    unsigned char *cond_on;
    int *offsets;
    xg_rng *rng;
    /* mixed network outputs */
    float *coord, *logits, *latout;
    /* unconditional outputs while the conditional pass runs */
    float *coord_u, *logits_u, *latout_u;
    double *prob, *avg;
    unsigned char mask[XG_MAX_Z + 1]; /* the elements one constrained draw may take */
} sampler_ws;

static void ws_free(sampler_ws *w)
{
    free(w->tokens);
    free(w->x);
    free(w->xf);
    free(w->Y);
    free(w->lat);
    free(w->t);
    free(w->cond);
    free(w->neg);
    free(w->cond_on);
    free(w->offsets);
    free(w->rng);
    free(w->coord);
    free(w->logits);
    free(w->latout);
    free(w->coord_u);
    free(w->logits_u);
    free(w->latout_u);
    free(w->prob);
    free(w->avg);
}

/* One (possibly guided) evaluation; the mixed outputs land in w->coord, w->logits, w->latout. */
static int evaluate(xg_eval_fn eval, void *ctx, const xg_sampler_opts *o, sampler_ws *w,
                    xg_batch *b, int B, int M, xg_error *err)
{
    xg_denoiser_out out;
    for (int k = 0; k < M * 3; k++)
        w->xf[k] = (float)w->x[k];
    b->cond_on = w->cond_on;
    b->cond = o->neg_cond ? w->neg : w->cond; /* the pass guidance pushes away from */
    memset(w->cond_on, o->neg_cond != NULL, (size_t)B);
    int rc = eval(ctx, b, &out, err);
    if (rc)
        return rc;
    if (!o->cond) {
        memcpy(w->coord, out.coord, sizeof(float) * (size_t)M * 3);
        memcpy(w->logits, out.logits, sizeof(float) * (size_t)M * XG_NUM_TYPES);
        memcpy(w->latout, out.lattice, sizeof(float) * (size_t)B * 9);
        return XG_OK;
    }
    /* Copy the unconditional pass out: the conditional pass reuses the network's arena. */
    memcpy(w->coord_u, out.coord, sizeof(float) * (size_t)M * 3);
    memcpy(w->logits_u, out.logits, sizeof(float) * (size_t)M * XG_NUM_TYPES);
    memcpy(w->latout_u, out.lattice, sizeof(float) * (size_t)B * 9);
    b->cond = w->cond;
    memset(w->cond_on, 1, (size_t)B);
    rc = eval(ctx, b, &out, err);
    if (rc)
        return rc;
    xg_sampler_mix(M * 3, w->coord_u, out.coord, o->guidance, w->coord);
    xg_sampler_mix(M * XG_NUM_TYPES, w->logits_u, out.logits,
                   isnan(o->guidance_types) ? o->guidance : o->guidance_types, w->logits);
    xg_sampler_mix(B * 9, w->latout_u, out.lattice, o->guidance, w->latout);
    return XG_OK;
}

static void sync_lattice(const xg_noise_params *noise, sampler_ws *w, int B)
{
    for (int b = 0; b < B; b++) {
        int n = w->offsets[b + 1] - w->offsets[b];
        double mu = xg_noise_lattice_mu(noise, n);
        for (int k = 0; k < 9; k++)
            w->lat[9 * b + k] = (float)(w->Y[9 * b + k] + ((k % 4 == 0) ? mu : 0.0));
    }
}

/* eps_hat: the symmetrised lattice output of crystal b. */
static void eps_hat(const sampler_ws *w, int b, double e[9])
{
    const float *P = w->latout + 9 * b;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            e[3 * i + j] = 0.5 * ((double)P[3 * i + j] + (double)P[3 * j + i]);
}

static void corrector(const xg_noise_params *noise, const xg_sampler_opts *o, sampler_ws *w,
                      int B, double t)
{
    double abar = xg_noise_abar(noise, t);
    for (int b = 0; b < B; b++) {
        int a0 = w->offsets[b], a1 = w->offsets[b + 1], n = a1 - a0;
        xg_rng *r = &w->rng[b];
        double sig = xg_noise_coord_sigma(noise, t, n);
        double step = o->coord_lr * sig * sig;
        double scale = xg_noise_coord_score_scale(sig); /* a quadrature: once per crystal */
        for (int k = 3 * a0; k < 3 * a1; k++) {
            double score = scale * w->coord[k];
            double x = w->x[k] + step * score + sqrt(2.0 * step) * xg_rng_normal(r);
            w->x[k] = x - floor(x);
        }
        if (o->lattice_lr > 0) {
            /* Langevin preconditioned by the noise covariance: drift -lr * std * eps_hat,
             * noise sqrt(2 lr) * std * eps_sym. */
            double sd = sqrt(1.0 - abar) * xg_noise_lattice_std(noise, n);
            double e[9], z[9];
            eps_hat(w, b, e);
            draw_sym(r, z);
            for (int k = 0; k < 9; k++)
                w->Y[9 * b + k] += -o->lattice_lr * sd * e[k] + sqrt(2.0 * o->lattice_lr) * sd * z[k];
        }
    }
}

/* Draws a class from the softmax of logits lg over the classes mask allows (mask indexed by Z;
 * NULL: all) (prob: scratch). */
static int draw_class(const unsigned char *mask, const double *lg, double *prob, xg_rng *r)
{
    double mx = -INFINITY;
    for (int k = 0; k < XG_NUM_TYPES; k++)
        if (!mask || mask[k + 1])
            mx = fmax(mx, lg[k]);
    double sum = 0;
    for (int k = 0; k < XG_NUM_TYPES; k++) {
        double p = (!mask || mask[k + 1]) ? exp(lg[k] - mx) : 0.0;
        prob[k] = p;
        sum += p;
    }
    double u = xg_rng_uniform(r) * sum, acc = 0;
    int pick = -1;
    for (int k = 0; k < XG_NUM_TYPES; k++) {
        if (prob[k] <= 0)
            continue;
        acc += prob[k];
        pick = k;
        if (u < acc)
            break;
    }
    return pick; /* >= 0: xg_sampler_check and chem_mask guarantee an allowed class */
}

static const xg_template *template_of(const xg_sampler_opts *o, int b)
{
    return o->templates ? o->templates[b] : NULL;
}

static const int *classes_of(const xg_sampler_opts *o, int b)
{
    return o->orbit_class && o->templates && o->templates[b] ? o->orbit_class[b] : NULL;
}

static const xg_sampler_chem *chem_of(const xg_sampler_opts *o, int b)
{
    return o->chem ? o->chem[b] : NULL;
}

/* What one crystal's hard chemistry still asks for, from the elements revealed so far. */
typedef struct {
    unsigned char present[XG_MAX_Z + 1];
    int distinct;   /* elements present */
    int missing;    /* required elements not yet present */
    int extra;      /* further new elements min_elements asks for beyond the missing ones */
} chem_state;

static void chem_state_update(const xg_sampler_chem *c, chem_state *st)
{
    st->missing = 0;
    for (int i = 0; i < c->nrequired; i++)
        st->missing += !st->present[c->required[i]];
    int e = c->min_elements - st->distinct - st->missing;
    st->extra = e > 0 ? e : 0;
}

/* The elements the next draw may take (into mask), given `masked` units still masked, this one
 * included. While more units remain than new elements are owed, the crystal's allowed set (less
 * any element max_elements forbids); once they are equal, only the owed ones. */
static void chem_mask(const xg_sampler_chem *c, const unsigned char *allowed, const chem_state *st,
                      int masked, unsigned char *mask)
{
    int owed = st->missing + st->extra;
    for (int z = 0; z <= XG_MAX_Z; z++)
        mask[z] = z >= 1 && z <= XG_NUM_TYPES && (!allowed || allowed[z]);
    if (masked <= owed) {
        if (st->extra > 0) {
            /* Any new element counts toward min_elements (the missing required ones too). */
            for (int z = 1; z <= XG_MAX_Z; z++)
                if (st->present[z])
                    mask[z] = 0;
        } else {
            for (int z = 1; z <= XG_MAX_Z; z++)
                mask[z] = 0;
            for (int i = 0; i < c->nrequired; i++)
                if (!st->present[c->required[i]])
                    mask[c->required[i]] = 1;
        }
    } else if (c->max_elements > 0 && st->distinct + st->missing >= c->max_elements) {
        /* No room for a new element other than the missing required ones. */
        for (int z = 1; z <= XG_MAX_Z; z++) {
            int req = 0;
            for (int i = 0; i < c->nrequired; i++)
                req |= c->required[i] == z;
            if (!st->present[z] && !req)
                mask[z] = 0;
        }
    }
}

/* Unmasks the sites of crystal b due between t and s: one unit is a site, or an orbit of the
 * crystal's template (one reveal and one draw per orbit, from the orbit's averaged logits,
 * given to all its atoms). */
static void reveal_crystal(const xg_sampler_opts *o, sampler_ws *w, int b, double p_reveal)
{
    xg_rng *r = &w->rng[b];
    const xg_template *tp = template_of(o, b);
    const xg_sampler_chem *c = chem_of(o, b);
    int a0 = w->offsets[b], n = w->offsets[b + 1] - a0;
    if (c && c->types && (!c->unmask || tp))
        return; /* fixed from the start */
    if (c && c->types) {
        /* The composition's counts left for the sites still masked. */
        int left[XG_MAX_Z + 1] = {0};
        for (int a = 0; a < n; a++) {
            left[c->types[a]]++;
            if (w->tokens[a0 + a] != XG_MASK_TOKEN)
                left[w->tokens[a0 + a] + 1]--;
        }
        for (int a = a0; a < a0 + n; a++) {
            if (w->tokens[a] != XG_MASK_TOKEN)
                continue;
            if (p_reveal < 1.0 && xg_rng_uniform(r) >= p_reveal)
                continue;
            for (int k = 0; k < XG_NUM_TYPES; k++)
                w->avg[k] = (double)w->logits[(size_t)a * XG_NUM_TYPES + k];
            for (int z = 0; z <= XG_MAX_Z; z++)
                w->mask[z] = z >= 1 && z <= XG_NUM_TYPES && left[z] > 0;
            int pick = draw_class(w->mask, w->avg, w->prob, r);
            w->tokens[a] = pick;
            left[pick + 1]--;
        }
        return;
    }
    int nunits = tp ? tp->norbits : n;
    const unsigned char *allowed = c && c->allowed ? c->allowed : o->allowed;
    chem_state st;
    int masked = 0;
    if (c) {
        memset(&st, 0, sizeof st);
        for (int u = 0; u < nunits; u++) {
            int tok = w->tokens[a0 + (tp ? tp->orbit_start[u] : u)];
            if (tok == XG_MASK_TOKEN) {
                masked++;
            } else if (!st.present[tok + 1]) {
                st.present[tok + 1] = 1;
                st.distinct++;
            }
        }
        chem_state_update(c, &st);
    }
    for (int u = 0; u < nunits; u++) {
        int u0 = a0 + (tp ? tp->orbit_start[u] : u), u1 = tp ? a0 + tp->orbit_start[u + 1] : u0 + 1;
        if (w->tokens[u0] != XG_MASK_TOKEN)
            continue;
        if (p_reveal < 1.0 && xg_rng_uniform(r) >= p_reveal)
            continue;
        for (int k = 0; k < XG_NUM_TYPES; k++) {
            double acc = 0;
            for (int a = u0; a < u1; a++)
                acc += (double)w->logits[(size_t)a * XG_NUM_TYPES + k];
            w->avg[k] = acc / (u1 - u0);
        }
        const unsigned char *mask = allowed;
        if (c) {
            chem_mask(c, allowed, &st, masked, w->mask);
            mask = w->mask;
        }
        int pick = draw_class(mask, w->avg, w->prob, r);
        for (int a = u0; a < u1; a++)
            w->tokens[a] = pick;
        if (c) {
            masked--;
            if (!st.present[pick + 1]) {
                st.present[pick + 1] = 1;
                st.distinct++;
            }
            chem_state_update(c, &st);
        }
    }
}

/* Unmasks the element classes of crystal b due between t and s (xg_sampler_opts.orbit_class).
 * A class is masked while its orbits are. Every masked class tosses the usual reveal coin, and
 * as many classes as came up are unmasked, largest first (most atoms; ties: the lower class):
 * the element that fills most of the cell, in an ionic crystal its anion, constrains the rest
 * most, and the network then picks the others in its presence. Unmasked in random order
 * instead, 1,000 crystals were 75.0% compositionally valid against 81.2% (README, issue 23).
 * One draw per class, among the allowed elements no unmasked class holds, from the logits summed
 * over the class's k atoms and divided by k^POOL_EXP (k^(1 - POOL_EXP) times their average). The
 * network predicts each atom alone; k atoms that must share one element are more evidence than
 * one atom (the average, POOL_EXP 1: the largest class took O as rarely as a single atom does,
 * 6% of atoms against MP-20's 13%) and less than k independent ones (the sum, POOL_EXP 0: their
 * predictions are correlated; O rose to 31%). The exponent sets how often the largest class is
 * the anion, so the mass per atom and the density; 0.6 matches MP-20's (1,000 crystals, three
 * seeds: mass per atom 78 u against 80, median volume per atom 18.4 A^3 as in MP-20, the
 * Wasserstein distance of density to MP-20 test a quarter below that of 0.5 on average), at
 * the same compositional validity as 0.5 and 0.7 (README, issue 23). That is the draw without
 * a class prior (generate --class-prior off). With one (xg_sampler_opts.class_prior), the class
 * takes the training crystals' frequencies of its place in the pattern (cell size, number of
 * classes, rank by size) and the network's evidence on top: the average over its atoms of
 * logit - REF_EXP log p_atom(Z | cell size), the log ratio of what the network predicts to what
 * it would predict knowing nothing (then the draw is the prior), with the reference tempered
 * (below). Averaged, not summed, for the reason above. 1,000 crystals, seeds 1 / 2 / 3:
 * compositionally valid 84.4 / 83.1 / 82.8% against 81.8 / 81.1 / 79.9% without the prior; O
 * alone the largest class in 20-23% of crystals (MP-20 test 20.5%) (README, issue 23). */
#define POOL_EXP 0.6
/* The know-nothing reference of the class prior's evidence is p_atom(Z | cell size)^REF_EXP, not
 * p_atom itself. The network's prediction for a masked atom is flatter than the training
 * marginal, so the full ratio rewards rare elements for being rare; they are mostly heavy
 * ones. Measured over the 2,235 atoms of classes revealed in 200 crystals, the mean of
 * log_softmax(logit) - log p_atom falls with log p_atom at slope -0.27 (78 elements with
 * p_atom > 1e-3, unweighted; -0.42 weighted by p_atom): the network's log prediction goes as
 * 0.73 log p_atom, and the ratio to p_atom^0.7 is flat in the element's rarity. With REF_EXP 1
 * (session 9) 1,000 crystals had 90 u per atom against MP-20's 80 and 21-22 A^3 per atom
 * against 18.4; with 0.7, 82-85 u and 19.6-20.1 A^3, O 13-14% of atoms as in MP-20, the density
 * distance to MP-20 test 0.12-0.17 g/cm^3 instead of 0.21-0.30 and compositional validity
 * 82.8-84.4% on seeds 1 to 3 (README, issue 23). */
#define REF_EXP 0.7
_Static_assert(XG_CLASS_PRIOR_TYPES == XG_NUM_TYPES, "the class prior is over the network's classes");
static void reveal_classes(const xg_sampler_opts *o, sampler_ws *w, int b, const xg_template *tp,
                           const int *cls, double p_reveal)
{
    xg_rng *r = &w->rng[b];
    int a0 = w->offsets[b], ncls = 0;
    int size[XG_SAMPLER_MAX_ATOMS] = {0}, masked[XG_SAMPLER_MAX_ATOMS] = {0};
    unsigned char held[XG_MAX_Z + 1] = {0};
    for (int q = 0; q < tp->norbits; q++) {
        int k = cls[q], tok = w->tokens[a0 + tp->orbit_start[q]];
        ncls = k + 1 > ncls ? k + 1 : ncls;
        size[k] += tp->orbit_start[q + 1] - tp->orbit_start[q];
        masked[k] = tok == XG_MASK_TOKEN;
        if (tok != XG_MASK_TOKEN)
            held[tok + 1] = 1;
    }
    int due = 0;
    for (int k = 0; k < ncls; k++)
        due += masked[k] && (p_reveal >= 1.0 || xg_rng_uniform(r) < p_reveal);
    for (; due > 0; due--) {
        int k = -1;
        for (int c = 0; c < ncls; c++)
            if (masked[c] && (k < 0 || size[c] > size[k]))
                k = c;
        masked[k] = 0;
        for (int j = 0; j < XG_NUM_TYPES; j++)
            w->avg[j] = 0;
        for (int q = 0; q < tp->norbits; q++)
            for (int a = a0 + tp->orbit_start[q]; cls[q] == k && a < a0 + tp->orbit_start[q + 1]; a++)
                for (int j = 0; j < XG_NUM_TYPES; j++)
                    w->avg[j] += (double)w->logits[(size_t)a * XG_NUM_TYPES + j];
        if (o->class_prior) {
            const xg_class_prior *cp = o->class_prior;
            int c1 = (ncls < XG_CLASS_PRIOR_NCLS ? ncls : XG_CLASS_PRIOR_NCLS) - 1;
            int bin = xg_class_prior_bin(tp->natoms);
            int rk = xg_class_rank(size, ncls, k);
            rk = rk < XG_CLASS_PRIOR_RANKS ? rk : XG_CLASS_PRIOR_RANKS - 1;
            for (int j = 0; j < XG_NUM_TYPES; j++)
                w->avg[j] = w->avg[j] / size[k] - REF_EXP * cp->atom[bin][j] + cp->cls[bin][c1][rk][j];
        } else {
            for (int j = 0; j < XG_NUM_TYPES; j++)
                w->avg[j] /= pow((double)size[k], POOL_EXP);
        }
        int free_left = 0;
        for (int z = 0; z <= XG_MAX_Z; z++) {
            w->mask[z] = z >= 1 && z <= XG_NUM_TYPES && (!o->allowed || o->allowed[z]);
            free_left |= w->mask[z] && !held[z];
        }
        for (int z = 0; free_left && z <= XG_MAX_Z; z++)
            w->mask[z] &= !held[z];
        int pick = draw_class(w->mask, w->avg, w->prob, r);
        held[pick + 1] = 1;
        for (int q = 0; q < tp->norbits; q++)
            for (int a = a0 + tp->orbit_start[q]; cls[q] == k && a < a0 + tp->orbit_start[q + 1]; a++)
                w->tokens[a] = pick;
    }
}

static void reveal_types(const xg_sampler_opts *o, sampler_ws *w, int B, double t, double s)
{
    /* alpha(t) = 1 - t: a site masked at t is revealed by s with probability (t - s) / t. */
    double p_reveal = s <= 0 ? 1.0 : (t - s) / t;
    for (int b = 0; b < B; b++) {
        const int *cls = classes_of(o, b);
        if (cls && !chem_of(o, b))
            reveal_classes(o, w, b, template_of(o, b), cls, p_reveal);
        else
            reveal_crystal(o, w, b, p_reveal);
    }
}

/* Projects every templated crystal onto its symmetric subspace (positions and lattice). */
static int project(const xg_noise_params *noise, const xg_sampler_opts *o, sampler_ws *w, int B,
                   xg_error *err)
{
    for (int b = 0; b < B; b++) {
        const xg_template *tp = template_of(o, b);
        if (!tp)
            continue;
        int n = w->offsets[b + 1] - w->offsets[b];
        xg_template_project_frac(tp, w->x + 3 * (size_t)w->offsets[b]);
        double mu = xg_noise_lattice_mu(noise, n), L[9];
        for (int k = 0; k < 9; k++)
            L[k] = w->Y[9 * b + k] + (k % 4 == 0 ? mu : 0.0);
        int rc = xg_template_project_lattice(tp, L, err);
        if (rc)
            return xg_error_prefix(err, rc, "sampler: crystal %d", b);
        for (int k = 0; k < 9; k++)
            w->Y[9 * b + k] = L[k] - (k % 4 == 0 ? mu : 0.0);
    }
    return XG_OK;
}

static void predictor(const xg_noise_params *noise, sampler_ws *w, int B, double t, double s)
{
    double abar_t = xg_noise_abar(noise, t), abar_s = xg_noise_abar(noise, s);
    double alpha = abar_s > 0 ? abar_t / abar_s : 0;
    double beta = 1.0 - alpha;
    double post_var = (1.0 - abar_t) > 1e-12 ? beta * (1.0 - abar_s) / (1.0 - abar_t) : 0;
    int last = s <= 0;
    for (int b = 0; b < B; b++) {
        int a0 = w->offsets[b], a1 = w->offsets[b + 1], n = a1 - a0;
        xg_rng *r = &w->rng[b];
        double st = xg_noise_coord_sigma(noise, t, n), ss = xg_noise_coord_sigma(noise, s, n);
        double dvar = st * st - ss * ss;
        double nstd = last ? 0.0 : sqrt(ss * ss * dvar / (st * st));
        double scale = xg_noise_coord_score_scale(st);
        for (int k = 3 * a0; k < 3 * a1; k++) {
            double score = scale * w->coord[k];
            double z = last ? 0.0 : xg_rng_normal(r);
            double x = w->x[k] + dvar * score + nstd * z;
            w->x[k] = x - floor(x);
        }
        double sd = xg_noise_lattice_std(noise, n);
        double e[9], z[9];
        eps_hat(w, b, e);
        if (!last)
            draw_sym(r, z);
        /* The x0 form of the DDPM step: predict the clean lattice, clip it to the range the
         * data occupies, then take the posterior mean. The equivalent eps form divides by
         * sqrt(alpha) ~ 0.03 on the first steps, so any error of the network is amplified
         * thirtyfold and compounds; the clip keeps an imperfect network from inflating cells
         * to millions of cubic Angstrom. The prior's width s(N) was fitted to the data's
         * spread, so 6 s(N) bounds every training lattice. */
        double at = fmax(abar_t, 1e-8);
        double c0 = sqrt(abar_s) * beta / fmax(1.0 - abar_t, 1e-12);
        double ct = sqrt(alpha) * (1.0 - abar_s) / fmax(1.0 - abar_t, 1e-12);
        double lim = 6.0 * sd;
        for (int k = 0; k < 9; k++) {
            double yt = w->Y[9 * b + k];
            double y0 = (yt - sqrt(1.0 - at) * sd * e[k]) / sqrt(at);
            y0 = y0 > lim ? lim : (y0 < -lim ? -lim : y0);
            double y = last ? y0 : c0 * y0 + ct * yt + sqrt(post_var) * sd * z[k];
            w->Y[9 * b + k] = y;
        }
    }
}

int xg_sampler_run(const xg_noise_params *noise, xg_eval_fn eval, void *eval_ctx,
                   const xg_sampler_opts *o, int nstructs, const int *natoms, uint64_t seed,
                   uint64_t first_index, xg_structure **out,
                   void (*progress)(void *ctx, int step, int steps), void *progress_ctx,
                   xg_error *err)
{
    int rc = xg_sampler_check(o, err);
    if (rc)
        return rc;
    if (nstructs <= 0)
        return xg_error_set(err, XG_EINVAL, "sampler: nothing to sample (%d crystals)", nstructs);
    for (int b = 0; b < nstructs; b++)
        out[b] = NULL;
    int B = nstructs, M = 0;
    for (int b = 0; b < B; b++) {
        if (natoms[b] < 1 || natoms[b] > XG_SAMPLER_MAX_ATOMS)
            return xg_error_set(err, XG_EINVAL, "sampler: crystal %d asks for %d atoms (1..%d)",
                                b, natoms[b], XG_SAMPLER_MAX_ATOMS);
        M += natoms[b];
        const xg_template *tp = template_of(o, b);
        if (tp && tp->natoms != natoms[b])
            return xg_error_set(err, XG_EINVAL, "sampler: crystal %d asks for %d atoms but its "
                                "template has %d", b, natoms[b], tp->natoms);
        const xg_sampler_chem *c = chem_of(o, b);
        if (c && (rc = xg_sampler_chem_check(c, o->allowed, natoms[b], tp, err)))
            return xg_error_prefix(err, rc, "sampler: crystal %d", b);
        const int *cls = classes_of(o, b);
        if (cls && !tp)
            return xg_error_set(err, XG_EINVAL, "sampler: crystal %d has element classes but no "
                                "template", b);
        for (int q = 0, top = -1; cls && q < tp->norbits; q++) {
            if (cls[q] < 0 || cls[q] > top + 1)
                return xg_error_set(err, XG_EINVAL, "sampler: crystal %d: orbit %d has element "
                                    "class %d (classes are numbered from 0 in order of first use)",
                                    b, q, cls[q]);
            top = cls[q] > top ? cls[q] : top;
        }
    }
    sampler_ws w;
    memset(&w, 0, sizeof w);
    w.tokens = malloc(sizeof(int) * (size_t)M);
    w.x = malloc(sizeof(double) * (size_t)M * 3);
    w.xf = malloc(sizeof(float) * (size_t)M * 3);
    w.Y = malloc(sizeof(double) * (size_t)B * 9);
    w.lat = malloc(sizeof(float) * (size_t)B * 9);
    w.t = malloc(sizeof(float) * (size_t)B);
    w.cond_on = malloc((size_t)B);
    w.offsets = malloc(sizeof(int) * (size_t)(B + 1));
    w.rng = malloc(sizeof(xg_rng) * (size_t)B);
    w.coord = malloc(sizeof(float) * (size_t)M * 3);
    w.logits = malloc(sizeof(float) * (size_t)M * XG_NUM_TYPES);
    w.latout = malloc(sizeof(float) * (size_t)B * 9);
    w.prob = malloc(sizeof(double) * XG_NUM_TYPES);
    w.avg = malloc(sizeof(double) * XG_NUM_TYPES);
    if (o->cond) {
        w.cond = malloc(sizeof(float) * (size_t)B * (size_t)o->cond_dim);
        if (o->neg_cond)
            w.neg = malloc(sizeof(float) * (size_t)B * (size_t)o->cond_dim);
        w.coord_u = malloc(sizeof(float) * (size_t)M * 3);
        w.logits_u = malloc(sizeof(float) * (size_t)M * XG_NUM_TYPES);
        w.latout_u = malloc(sizeof(float) * (size_t)B * 9);
    }
    if (!w.tokens || !w.x || !w.xf || !w.Y || !w.lat || !w.t || !w.cond_on || !w.offsets ||
        !w.rng || !w.coord || !w.logits || !w.latout || !w.prob || !w.avg ||
        (o->cond && (!w.cond || !w.coord_u || !w.logits_u || !w.latout_u)) ||
        (o->neg_cond && !w.neg)) {
        ws_free(&w);
        return xg_error_set(err, XG_ENOMEM, "sampler: out of memory for %d crystals", B);
    }

    /* The prior: uniform coordinates, the limit lattice, every site masked. */
    w.offsets[0] = 0;
    for (int b = 0; b < B; b++) {
        w.offsets[b + 1] = w.offsets[b] + natoms[b];
        xg_rng_seed(&w.rng[b], seed, o->streams ? o->streams[b] : first_index + (uint64_t)b);
        xg_rng *r = &w.rng[b];
        for (int k = 3 * w.offsets[b]; k < 3 * w.offsets[b + 1]; k++)
            w.x[k] = xg_rng_uniform(r);
        double z[9];
        draw_sym(r, z);
        double sd = xg_noise_lattice_std(noise, natoms[b]);
        for (int k = 0; k < 9; k++)
            w.Y[9 * b + k] = sd * z[k];
        if (o->cond)
            memcpy(w.cond + (size_t)b * o->cond_dim, o->cond, sizeof(float) * (size_t)o->cond_dim);
        if (o->neg_cond)
            memcpy(w.neg + (size_t)b * o->cond_dim, o->neg_cond, sizeof(float) * (size_t)o->cond_dim);
    }
    for (int a = 0; a < M; a++)
        w.tokens[a] = XG_MASK_TOKEN;
    for (int b = 0; b < B; b++) { /* crystal structure prediction: types known from t = 1 */
        const xg_sampler_chem *c = chem_of(o, b);
        for (int a = 0; c && c->types && !(c->unmask && !template_of(o, b)) && a < natoms[b]; a++)
            w.tokens[w.offsets[b] + a] = c->types[a] - 1;
    }
    /* A templated crystal starts from the prior projected onto its subspace. */
    rc = project(noise, o, &w, B, err);

    xg_batch batch = {
        .nstructs = B, .natoms = M, .offsets = w.offsets, .tokens = w.tokens, .frac = w.xf,
        .lattice = w.lat, .t = w.t, .cond = w.cond, .cond_on = w.cond_on,
    };
    int S = o->steps;
    for (int i = S; i >= 1 && rc == XG_OK; i--) {
        double t = (double)i / S, s = (double)(i - 1) / S;
        for (int b = 0; b < B; b++)
            w.t[b] = (float)t;
        sync_lattice(noise, &w, B);
        rc = evaluate(eval, eval_ctx, o, &w, &batch, B, M, err);
        /* Correct at t (not at the very end, where there is no noise left to correct). */
        for (int c = 0; c < o->corrector_steps && rc == XG_OK && i > 1; c++) {
            corrector(noise, o, &w, B, t);
            rc = project(noise, o, &w, B, err);
            if (rc)
                break;
            sync_lattice(noise, &w, B);
            rc = evaluate(eval, eval_ctx, o, &w, &batch, B, M, err);
        }
        if (rc)
            break;
        reveal_types(o, &w, B, t, s);
        predictor(noise, &w, B, t, s);
        rc = project(noise, o, &w, B, err);
        if (progress)
            progress(progress_ctx, S - i + 1, S);
    }
    if (rc == XG_OK) {
        for (int b = 0; b < B && rc == XG_OK; b++) {
            xg_structure *st = xg_structure_alloc(natoms[b]);
            if (!st) {
                rc = xg_error_set(err, XG_ENOMEM, "sampler: out of memory");
                break;
            }
            double mu = xg_noise_lattice_mu(noise, natoms[b]);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    st->lattice[i][j] = w.Y[9 * b + 3 * i + j] + (i == j ? mu : 0.0);
            for (int a = 0; a < natoms[b]; a++) {
                int g = w.offsets[b] + a;
                st->types[a] = w.tokens[g] + 1;
                for (int k = 0; k < 3; k++) {
                    double x = w.x[3 * g + k];
                    st->frac[a][k] = x >= 1.0 ? 0.0 : x;
                }
            }
            out[b] = st;
        }
        if (rc) {
            for (int b = 0; b < B; b++) {
                xg_structure_free(out[b]);
                out[b] = NULL;
            }
        }
    }
    ws_free(&w);
    return rc;
}

int xg_sampler_allowed_elements(const char *elements, const char *exclude,
                                const char *elements_label, const char *exclude_label,
                                unsigned char allowed[XG_MAX_Z + 1], xg_error *err)
{
    unsigned char in[XG_MAX_Z + 1], ex[XG_MAX_Z + 1]; /* written in full by the parser */
    int rc;
    if (elements) {
        if ((rc = xg_element_set_parse(elements, in, err)))
            return xg_error_prefix(err, rc, "%s", elements_label);
    } else {
        memset(in, 1, sizeof in);
    }
    memset(ex, 0, sizeof ex);
    if (exclude && (rc = xg_element_set_parse(exclude, ex, err)))
        return xg_error_prefix(err, rc, "%s", exclude_label);
    int any = 0;
    allowed[0] = 0;
    for (int z = 1; z <= XG_MAX_Z; z++) {
        allowed[z] = in[z] && !ex[z] && z <= XG_NUM_TYPES;
        any |= allowed[z];
    }
    if (!any)
        return xg_error_set(err, XG_EINVAL,
                            "the element constraints leave no element to generate (the model "
                            "knows Z = 1..%d)", XG_NUM_TYPES);
    return XG_OK;
}
