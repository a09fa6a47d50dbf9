/* xg_sampler.c: predictor-corrector sampling of crystals (see xg_sampler.h). */
#include "diffusion/xg_sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_rng.h"

void xg_sampler_opts_default(xg_sampler_opts *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 1000;
    o->corrector_steps = 1;
    /* DiffCSP's corrector step is step_lr (sigma / sigma_min)^2 with step_lr 1e-5 and
     * sigma_min 0.005, i.e. 0.4 sigma^2: the drift then moves an atom 0.4 of the way to where
     * the score points, and the injected noise has 0.9 sigma. */
    o->coord_lr = 0.4;
    o->lattice_lr = 0.0;
    o->guidance = 1.0;
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
    if (!isfinite(o->guidance))
        return xg_error_set(err, XG_EINVAL, "sampler: guidance must be finite");
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
    unsigned char *cond_on;
    int *offsets;
    xg_rng *rng;
    /* mixed network outputs */
    float *coord, *logits, *latout;
    /* unconditional outputs while the conditional pass runs */
    float *coord_u, *logits_u, *latout_u;
    double *prob, *avg;
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
    memset(w->cond_on, 0, (size_t)B);
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
    memset(w->cond_on, 1, (size_t)B);
    rc = eval(ctx, b, &out, err);
    if (rc)
        return rc;
    xg_sampler_mix(M * 3, w->coord_u, out.coord, o->guidance, w->coord);
    xg_sampler_mix(M * XG_NUM_TYPES, w->logits_u, out.logits, o->guidance, w->logits);
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

/* Draws a class from the softmax of logits lg over the allowed classes (prob: scratch). */
static int draw_class(const xg_sampler_opts *o, const double *lg, double *prob, xg_rng *r)
{
    double mx = -INFINITY;
    for (int k = 0; k < XG_NUM_TYPES; k++)
        if (!o->allowed || o->allowed[k + 1])
            mx = fmax(mx, lg[k]);
    double sum = 0;
    for (int k = 0; k < XG_NUM_TYPES; k++) {
        double p = (!o->allowed || o->allowed[k + 1]) ? exp(lg[k] - mx) : 0.0;
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
    return pick; /* >= 0: xg_sampler_check guaranteed an allowed class */
}

static const xg_template *template_of(const xg_sampler_opts *o, int b)
{
    return o->templates ? o->templates[b] : NULL;
}

static void reveal_types(const xg_sampler_opts *o, sampler_ws *w, int B, double t, double s)
{
    /* alpha(t) = 1 - t: a site masked at t is revealed by s with probability (t - s) / t. */
    double p_reveal = s <= 0 ? 1.0 : (t - s) / t;
    for (int b = 0; b < B; b++) {
        xg_rng *r = &w->rng[b];
        const xg_template *tp = template_of(o, b);
        if (tp) {
            /* One reveal and one draw per orbit, from the orbit's averaged logits. */
            for (int q = 0; q < tp->norbits; q++) {
                int a0 = w->offsets[b] + tp->orbit_start[q], a1 = w->offsets[b] + tp->orbit_start[q + 1];
                if (w->tokens[a0] != XG_MASK_TOKEN)
                    continue;
                if (p_reveal < 1.0 && xg_rng_uniform(r) >= p_reveal)
                    continue;
                for (int k = 0; k < XG_NUM_TYPES; k++) {
                    double acc = 0;
                    for (int a = a0; a < a1; a++)
                        acc += (double)w->logits[(size_t)a * XG_NUM_TYPES + k];
                    w->avg[k] = acc / (a1 - a0);
                }
                int pick = draw_class(o, w->avg, w->prob, r);
                for (int a = a0; a < a1; a++)
                    w->tokens[a] = pick;
            }
            continue;
        }
        for (int a = w->offsets[b]; a < w->offsets[b + 1]; a++) {
            if (w->tokens[a] != XG_MASK_TOKEN)
                continue;
            if (p_reveal < 1.0 && xg_rng_uniform(r) >= p_reveal)
                continue;
            const float *lg = w->logits + (size_t)a * XG_NUM_TYPES;
            for (int k = 0; k < XG_NUM_TYPES; k++)
                w->avg[k] = (double)lg[k];
            w->tokens[a] = draw_class(o, w->avg, w->prob, r);
        }
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
        if (natoms[b] < 1 || natoms[b] > 1000)
            return xg_error_set(err, XG_EINVAL, "sampler: crystal %d asks for %d atoms (1..1000)",
                                b, natoms[b]);
        M += natoms[b];
        const xg_template *tp = template_of(o, b);
        if (tp && tp->natoms != natoms[b])
            return xg_error_set(err, XG_EINVAL, "sampler: crystal %d asks for %d atoms but its "
                                "template has %d", b, natoms[b], tp->natoms);
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
        w.coord_u = malloc(sizeof(float) * (size_t)M * 3);
        w.logits_u = malloc(sizeof(float) * (size_t)M * XG_NUM_TYPES);
        w.latout_u = malloc(sizeof(float) * (size_t)B * 9);
    }
    if (!w.tokens || !w.x || !w.xf || !w.Y || !w.lat || !w.t || !w.cond_on || !w.offsets ||
        !w.rng || !w.coord || !w.logits || !w.latout || !w.prob || !w.avg ||
        (o->cond && (!w.cond || !w.coord_u || !w.logits_u || !w.latout_u))) {
        ws_free(&w);
        return xg_error_set(err, XG_ENOMEM, "sampler: out of memory for %d crystals", B);
    }

    /* The prior: uniform coordinates, the limit lattice, every site masked. */
    w.offsets[0] = 0;
    for (int b = 0; b < B; b++) {
        w.offsets[b + 1] = w.offsets[b] + natoms[b];
        xg_rng_seed(&w.rng[b], seed, first_index + (uint64_t)b);
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
    }
    for (int a = 0; a < M; a++)
        w.tokens[a] = XG_MASK_TOKEN;
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
