/* test_sampler.c: the reverse process, driven by test doubles of the network.
 *
 * The central check uses an "oracle" network that returns the exact scores of a data
 * distribution holding one crystal: the sampler must then land on that crystal. That tests the
 * predictor, the corrector and the lattice update against the forward process they invert. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "diffusion/xg_noise.h"
#include "diffusion/xg_sampler.h"

typedef struct {
    xg_noise_params noise;
    int natoms;
    double x0[8][3];
    double S0[9];
    int favourite;      /* class with the highest logit */
    int second;         /* the next one */
    float cond_shift;   /* added to the coordinate output when cond_on, times cond[0] */
    float cond_logit;   /* added to the logit of cond_class when cond_on, times cond[0] */
    int cond_class;
    int calls, cond_calls;
    float coord[64 * 8 * 3], logits[64 * 8 * XG_NUM_TYPES], lattice[64 * 9];
} oracle;

static int oracle_eval(void *ctx, const xg_batch *b, xg_denoiser_out *out, xg_error *err)
{
    oracle *o = ctx;
    o->calls++;
    for (int s = 0; s < b->nstructs; s++) {
        int a0 = b->offsets[s], n = b->offsets[s + 1] - a0;
        double t = b->t[s];
        double sig = xg_noise_coord_sigma(&o->noise, t, n);
        double lam = xg_noise_coord_norm(sig);
        int on = b->cond_on && b->cond_on[s];
        if (on)
            o->cond_calls++;
        float v = on ? b->cond[s] : 0.0f; /* the tests' conditions are one value wide */
        for (int a = 0; a < n; a++)
            for (int k = 0; k < 3; k++) {
                double d = b->frac[3 * (a0 + a) + k] - o->x0[a][k];
                double c = sig * xg_noise_wrapped_score(d, sig) / sqrt(lam);
                o->coord[3 * (a0 + a) + k] = (float)c + v * o->cond_shift;
            }
        for (int a = a0; a < a0 + n; a++)
            for (int k = 0; k < XG_NUM_TYPES; k++)
                o->logits[a * XG_NUM_TYPES + k] =
                    (k == o->favourite ? 10.0f : (k == o->second ? 5.0f : 0.0f)) +
                    (k == o->cond_class ? v * o->cond_logit : 0.0f);
        /* eps_hat = (L_t - mean_t) / std_t for the one-crystal data distribution. */
        double abar = xg_noise_abar(&o->noise, t), mu = xg_noise_lattice_mu(&o->noise, n);
        double sd = xg_noise_lattice_std(&o->noise, n);
        for (int k = 0; k < 9; k++) {
            double mean = sqrt(abar) * o->S0[k] + (1 - sqrt(abar)) * (k % 4 == 0 ? mu : 0.0);
            double std = sqrt(fmax(1 - abar, 1e-12)) * sd;
            o->lattice[9 * s + k] = (float)((b->lattice[9 * s + k] - mean) / std);
        }
    }
    out->coord = o->coord;
    out->logits = o->logits;
    out->lattice = o->lattice;
    (void)err;
    return XG_OK;
}

static void oracle_init(oracle *o, int natoms)
{
    memset(o, 0, sizeof *o);
    xg_noise_params_default(&o->noise);
    o->natoms = natoms;
    for (int a = 0; a < natoms; a++)
        for (int k = 0; k < 3; k++)
            o->x0[a][k] = fmod(0.137 * (a + 1) + 0.29 * k + 0.05 * a * k, 1.0);
    double S[9] = {4.1, 0.2, 0.1, 0.2, 3.9, -0.15, 0.1, -0.15, 4.4};
    memcpy(o->S0, S, sizeof S);
    o->favourite = 25; /* Fe */
    o->second = 7;     /* O */
}

static double torus_dist(double a, double b)
{
    double d = a - b;
    d -= floor(d + 0.5);
    return fabs(d);
}

static void test_oracle_recovers_crystal(void)
{
    oracle o;
    oracle_init(&o, 4);
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 200;
    int natoms[3] = {4, 4, 4};
    xg_structure *out[3];
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 3, natoms, 7, 0, out,
                                         NULL, NULL, &err), XG_OK);
    for (int s = 0; s < 3; s++) {
        double worst = 0;
        for (int a = 0; a < 4; a++)
            for (int k = 0; k < 3; k++)
                worst = fmax(worst, torus_dist(out[s]->frac[a][k], o.x0[a][k]));
        CU_ASSERT(worst < 0.01);
        double lw = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                lw = fmax(lw, fabs(out[s]->lattice[i][j] - o.S0[3 * i + j]));
        CU_ASSERT(lw < 0.05);
        for (int a = 0; a < 4; a++)
            CU_ASSERT(out[s]->types[a] == 26 || out[s]->types[a] == 8);
        xg_structure_free(out[s]);
    }
    /* 200 steps, each one evaluation plus one corrector re-evaluation, except the last. */
    CU_ASSERT_EQUAL(o.calls, 200 + 199);
}

static void test_deterministic_and_batch_independent(void)
{
    oracle o;
    oracle_init(&o, 3);
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 30;
    int natoms[4] = {3, 3, 3, 3};
    xg_structure *a[4], *b[4], *c[2];
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 4, natoms, 11, 0, a, NULL,
                                         NULL, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 4, natoms, 11, 0, b, NULL,
                                         NULL, &err), XG_OK);
    /* Crystals 2 and 3 sampled alone (first_index 2) must equal those of the full batch. */
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 2, natoms, 11, 2, c, NULL,
                                         NULL, &err), XG_OK);
    for (int s = 0; s < 4; s++) {
        CU_ASSERT(memcmp(a[s]->frac, b[s]->frac, sizeof(double) * 9) == 0);
        CU_ASSERT(memcmp(a[s]->lattice, b[s]->lattice, sizeof a[s]->lattice) == 0);
        CU_ASSERT(memcmp(a[s]->types, b[s]->types, sizeof(int) * 3) == 0);
    }
    CU_ASSERT(memcmp(a[2]->frac, c[0]->frac, sizeof(double) * 9) == 0);
    CU_ASSERT(memcmp(a[3]->lattice, c[1]->lattice, sizeof a[3]->lattice) == 0);
    /* Explicit streams gather crystals 3 and 1 into one batch, in that order. */
    xg_structure *e[2];
    uint64_t streams[2] = {3, 1};
    xg_sampler_opts so2 = so;
    so2.streams = streams;
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so2, 2, natoms, 11, 0, e,
                                         NULL, NULL, &err), XG_OK);
    CU_ASSERT(memcmp(a[3]->frac, e[0]->frac, sizeof(double) * 9) == 0);
    CU_ASSERT(memcmp(a[1]->frac, e[1]->frac, sizeof(double) * 9) == 0);
    CU_ASSERT(memcmp(a[1]->lattice, e[1]->lattice, sizeof a[1]->lattice) == 0);
    xg_structure_free(e[0]);
    xg_structure_free(e[1]);
    /* Different seeds differ. */
    xg_structure *d[4];
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 4, natoms, 12, 0, d, NULL,
                                         NULL, &err), XG_OK);
    CU_ASSERT(memcmp(a[0]->frac, d[0]->frac, sizeof(double) * 9) != 0);
    for (int s = 0; s < 4; s++) {
        xg_structure_free(a[s]);
        xg_structure_free(b[s]);
        xg_structure_free(d[s]);
    }
    xg_structure_free(c[0]);
    xg_structure_free(c[1]);
}

static void test_excluded_elements_never_appear(void)
{
    oracle o;
    oracle_init(&o, 5);
    o.favourite = 56; /* La: the network wants it above all */
    o.second = 38;    /* Y, also a rare earth */
    unsigned char allowed[XG_MAX_Z + 1];
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_element_set_parse("rare-earths", allowed, &err), XG_OK);
    for (int z = 0; z <= XG_MAX_Z; z++)
        allowed[z] = z >= 1 && !allowed[z];
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 10;
    so.allowed = allowed;
    int natoms[16];
    for (int k = 0; k < 16; k++)
        natoms[k] = 5;
    long seen = 0;
    for (int rep = 0; rep < 8; rep++) {
        xg_structure *out[16];
        CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 16, natoms, 3,
                                             (uint64_t)rep * 16, out, NULL, NULL, &err), XG_OK);
        for (int s = 0; s < 16; s++) {
            for (int a = 0; a < 5; a++) {
                int z = out[s]->types[a];
                CU_ASSERT(z >= 1 && z <= 100);
                CU_ASSERT(!(z == 21 || z == 39 || (z >= 57 && z <= 71)));
                seen++;
            }
            xg_structure_free(out[s]);
        }
    }
    CU_ASSERT_EQUAL(seen, 8 * 16 * 5);

    /* Only Fe allowed: every atom is Fe even though Fe is not the favourite. */
    memset(allowed, 0, sizeof allowed);
    allowed[26] = 1;
    xg_structure *one[1];
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 3, 0, one,
                                         NULL, NULL, &err), XG_OK);
    for (int a = 0; a < 5; a++)
        CU_ASSERT_EQUAL(one[0]->types[a], 26);
    xg_structure_free(one[0]);

    /* Nothing allowed: a clear error, not a crash. */
    memset(allowed, 0, sizeof allowed);
    allowed[101] = 1; /* beyond what the network knows */
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 3, 0, one, NULL,
                                   NULL, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "no element") != NULL);
}

static void test_guidance_mixing(void)
{
    float u[4] = {1, 2, 3, -4}, c[4] = {2, 2, 1, 0}, out[4];
    xg_sampler_mix(4, u, c, 2.0, out);
    CU_ASSERT_DOUBLE_EQUAL(out[0], 3.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(out[1], 2.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(out[2], -1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(out[3], 4.0, 1e-6);
    xg_sampler_mix(4, u, c, 0.0, out);
    CU_ASSERT_DOUBLE_EQUAL(out[3], -4.0, 1e-6);

    /* With a condition the network is asked twice per evaluation, once unconditional and once
     * conditional; a conditional coordinate shift of delta moves the mixed output by
     * gamma * delta. With gamma = 0 the conditional pass must have no effect at all. */
    oracle o;
    oracle_init(&o, 2);
    o.cond_shift = 0.5f;
    float cond[1] = {1.0f};
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 20;
    so.cond = cond;
    so.cond_dim = 1;
    so.guidance = 0.0;
    int natoms[1] = {2};
    xg_structure *g0[1], *plain[1];
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 5, 0, g0, NULL,
                                         NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(o.calls, 2 * (20 + 19));
    CU_ASSERT_EQUAL(o.cond_calls, 20 + 19);
    so.cond = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 5, 0, plain,
                                         NULL, NULL, &err), XG_OK);
    CU_ASSERT(memcmp(g0[0]->frac, plain[0]->frac, sizeof(double) * 6) == 0);
    so.cond = cond;
    so.guidance = 2.0;
    xg_structure *g2[1];
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 5, 0, g2, NULL,
                                         NULL, &err), XG_OK);
    CU_ASSERT(memcmp(g2[0]->frac, plain[0]->frac, sizeof(double) * 6) != 0);
    xg_structure_free(g0[0]);
    xg_structure_free(g2[0]);
    xg_structure_free(plain[0]);
}

/* --type-guidance: the type logits take their own gamma, the coordinates and lattice keep
 * guidance. The double's conditional pass shifts the coordinates and favours one more class. */
static void test_type_guidance(void)
{
    oracle o;
    oracle_init(&o, 3);
    o.cond_shift = 0.5f;
    o.cond_class = 11; /* Mg: conditional logit 6 against the favourite's 10 */
    o.cond_logit = 6.0f;
    float cond[1] = {1.0f};
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    CU_ASSERT(isnan(so.guidance_types)); /* by default the types take guidance */
    so.steps = 20;
    so.cond = cond;
    so.cond_dim = 1;
    int natoms[1] = {3};
    xg_error err = {0};
    xg_structure *plain[1], *types_only[1], *geom_only[1];
    so.guidance = 0.0; /* unconditional throughout */
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0, plain,
                                         NULL, NULL, &err), XG_OK);
    /* types guided at 3 (logit 18 for Mg, 10 for Fe), geometry unconditional */
    so.guidance_types = 3.0;
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0,
                                         types_only, NULL, NULL, &err), XG_OK);
    /* geometry guided at 2, types unconditional */
    so.guidance = 2.0;
    so.guidance_types = 0.0;
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0,
                                         geom_only, NULL, NULL, &err), XG_OK);
    for (int a = 0; a < 3; a++) {
        CU_ASSERT_EQUAL(plain[0]->types[a], 26);      /* Fe, the unconditional favourite */
        CU_ASSERT_EQUAL(types_only[0]->types[a], 12); /* Mg */
        CU_ASSERT_EQUAL(geom_only[0]->types[a], plain[0]->types[a]);
    }
    CU_ASSERT(memcmp(types_only[0]->frac, plain[0]->frac, sizeof(double) * 9) == 0);
    CU_ASSERT(memcmp(types_only[0]->lattice, plain[0]->lattice, sizeof plain[0]->lattice) == 0);
    CU_ASSERT(memcmp(geom_only[0]->frac, plain[0]->frac, sizeof(double) * 9) != 0);
    /* an infinite gamma is refused */
    so.guidance_types = INFINITY;
    xg_structure *bad[1];
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0, bad, NULL,
                                   NULL, &err), XG_EINVAL);
    xg_structure_free(plain[0]);
    xg_structure_free(types_only[0]);
    xg_structure_free(geom_only[0]);
}

/* --negative-condition: guidance mixes the conditional pass against the network conditioned on
 * the negative values instead of the unconditional one. The double's condition scales its
 * conditional shifts, so a condition of 0 is the unconditional output. */
static void test_negative_condition(void)
{
    oracle o;
    oracle_init(&o, 3);
    o.cond_shift = 0.5f;
    o.cond_class = 11; /* Mg: conditional logit 1 x cond against the favourite Fe's 10 */
    o.cond_logit = 1.0f;
    float cond[1] = {1.0f}, neg[1] = {0.0f};
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    CU_ASSERT_PTR_NULL(so.neg_cond);
    so.steps = 20;
    so.cond = cond;
    so.cond_dim = 1;
    so.guidance = 2.0;
    int natoms[1] = {3};
    xg_error err = {0};
    xg_structure *plain[1], *zero[1], *against[1], *same[1], *cond_only[1];
    /* u + 2 (c - u): Mg at 2, far below Fe */
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0, plain,
                                         NULL, NULL, &err), XG_OK);
    /* a negative condition of 0 is the unconditional pass of this double: the same crystal,
     * and every evaluation is conditional */
    so.neg_cond = neg;
    o.calls = o.cond_calls = 0;
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0, zero,
                                         NULL, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(o.cond_calls, o.calls);
    CU_ASSERT(memcmp(zero[0]->frac, plain[0]->frac, sizeof(double) * 9) == 0);
    /* against -20: n + 2 (c - n) gives Mg -20 + 2 x 21 = 22, far above Fe's 10 */
    neg[0] = -20.0f;
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0, against,
                                         NULL, NULL, &err), XG_OK);
    /* against the condition itself: no guidance left, the plainly conditional crystal */
    neg[0] = 1.0f;
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0, same,
                                         NULL, NULL, &err), XG_OK);
    so.neg_cond = NULL;
    so.guidance = 1.0;
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0,
                                         cond_only, NULL, NULL, &err), XG_OK);
    for (int a = 0; a < 3; a++) {
        CU_ASSERT_EQUAL(plain[0]->types[a], 26);
        CU_ASSERT_EQUAL(against[0]->types[a], 12);
    }
    CU_ASSERT(memcmp(same[0]->frac, cond_only[0]->frac, sizeof(double) * 9) == 0);
    CU_ASSERT(memcmp(same[0]->frac, plain[0]->frac, sizeof(double) * 9) != 0);
    /* a negative condition without a condition is refused */
    so.cond = NULL;
    so.neg_cond = neg;
    xg_structure *bad[1];
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 7, 0, bad, NULL,
                                   NULL, &err), XG_EINVAL);
    xg_structure_free(plain[0]);
    xg_structure_free(zero[0]);
    xg_structure_free(against[0]);
    xg_structure_free(same[0]);
    xg_structure_free(cond_only[0]);
}

static void test_bad_options(void)
{
    oracle o;
    oracle_init(&o, 2);
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    int natoms[1] = {0};
    xg_structure *out[1];
    xg_error err = {0};
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 1, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
    so.steps = 0;
    natoms[0] = 2;
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 1, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
}

static void test_few_steps_still_work(void)
{
    oracle o;
    oracle_init(&o, 3);
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 1;
    int natoms[2] = {3, 3};
    xg_structure *out[2];
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 2, natoms, 1, 0, out,
                                         NULL, NULL, &err), XG_OK);
    for (int s = 0; s < 2; s++) {
        for (int a = 0; a < 3; a++)
            for (int k = 0; k < 3; k++)
                CU_ASSERT(out[s]->frac[a][k] >= 0 && out[s]->frac[a][k] < 1);
        CU_ASSERT(isfinite(out[s]->lattice[0][0]));
        xg_structure_free(out[s]);
    }
}

/* Hard chemistry (issue 16). The oracle wants Fe above all and O next: a chemical system must
 * still bring in every one of its elements, and nothing else, in every crystal. */
static int has_type(const xg_structure *s, int z)
{
    for (int a = 0; a < s->natoms; a++)
        if (s->types[a] == z)
            return 1;
    return 0;
}

static int distinct_types(const xg_structure *s)
{
    int n = 0;
    for (int a = 0; a < s->natoms; a++) {
        int seen = 0;
        for (int b = 0; b < a; b++)
            seen |= s->types[b] == s->types[a];
        n += !seen;
    }
    return n;
}

static void test_chemsys_every_element_present(void)
{
    oracle o;
    oracle_init(&o, 8);
    unsigned char sys[XG_MAX_Z + 1] = {0};
    int req[4] = {3, 26, 15, 8}; /* Li Fe P O */
    xg_sampler_chem c;
    memset(&c, 0, sizeof c);
    c.allowed = sys;
    c.nrequired = 4;
    for (int i = 0; i < 4; i++) {
        sys[req[i]] = 1;
        c.required[i] = req[i];
    }
    const xg_sampler_chem *cs[16];
    int natoms[16];
    for (int k = 0; k < 16; k++) {
        cs[k] = &c;
        natoms[k] = 4 + k % 5; /* 4..8 atoms: with 4, every site is reserved */
    }
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 10;
    so.chem = cs;
    xg_error err = {0};
    long crystals = 0, fe_sites = 0, sites = 0;
    for (int rep = 0; rep < 8; rep++) {
        xg_structure *out[16];
        CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 16, natoms, 11,
                                             (uint64_t)rep * 16, out, NULL, NULL, &err), XG_OK);
        for (int s = 0; s < 16; s++) {
            for (int i = 0; i < 4; i++)
                CU_ASSERT(has_type(out[s], req[i]));
            for (int a = 0; a < out[s]->natoms; a++) {
                CU_ASSERT(sys[out[s]->types[a]]);
                fe_sites += out[s]->types[a] == 26;
            }
            sites += out[s]->natoms;
            crystals++;
            xg_structure_free(out[s]);
        }
    }
    CU_ASSERT_EQUAL(crystals, 128);
    /* The unreserved sites still follow the network: Fe (its favourite) fills them. */
    CU_ASSERT(fe_sites > sites / 3);
}

static void test_min_max_elements(void)
{
    oracle o;
    oracle_init(&o, 6);
    xg_sampler_chem c;
    memset(&c, 0, sizeof c);
    c.min_elements = 3;
    const xg_sampler_chem *cs[16];
    int natoms[16];
    for (int k = 0; k < 16; k++) {
        cs[k] = &c;
        natoms[k] = 3 + k % 4;
    }
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 8;
    so.chem = cs;
    unsigned char allowed[XG_MAX_Z + 1] = {0};
    allowed[26] = allowed[8] = allowed[14] = allowed[13] = 1; /* Fe O Si Al */
    so.allowed = allowed;
    xg_error err = {0};
    xg_structure *out[16];
    for (int rep = 0; rep < 4; rep++) {
        CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 16, natoms, 5,
                                             (uint64_t)rep * 16, out, NULL, NULL, &err), XG_OK);
        for (int s = 0; s < 16; s++) {
            CU_ASSERT(distinct_types(out[s]) >= 3);
            for (int a = 0; a < out[s]->natoms; a++)
                CU_ASSERT(allowed[out[s]->types[a]]);
            xg_structure_free(out[s]);
        }
    }
    /* At most one element. With its favourite (O) excluded, the network gives Fe about 60% and
     * the 98 other elements 40% together: without the bound nearly every crystal would mix. */
    memset(&c, 0, sizeof c);
    c.max_elements = 1;
    for (int z = 0; z <= XG_MAX_Z; z++)
        allowed[z] = z >= 1 && z != 8;
    for (int k = 0; k < 16; k++)
        natoms[k] = 6;
    o.favourite = 7;  /* O */
    o.second = 25;    /* Fe */
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 16, natoms, 5, 0, out,
                                         NULL, NULL, &err), XG_OK);
    for (int s = 0; s < 16; s++) {
        CU_ASSERT_EQUAL(distinct_types(out[s]), 1);
        xg_structure_free(out[s]);
    }
    /* Fe and S both required, at most two elements: exactly Fe and S. */
    c.nrequired = 2;
    c.required[0] = 26;
    c.required[1] = 16;
    c.max_elements = 2;
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 16, natoms, 6, 0, out,
                                         NULL, NULL, &err), XG_OK);
    for (int s = 0; s < 16; s++) {
        CU_ASSERT_EQUAL(distinct_types(out[s]), 2);
        CU_ASSERT(has_type(out[s], 26) && has_type(out[s], 16));
        xg_structure_free(out[s]);
    }
}

static void test_fixed_composition(void)
{
    oracle o;
    oracle_init(&o, 8);
    int types[8] = {26, 26, 27, 7, 26, 26, 27, 7}; /* Fe4Co2N2: the oracle wants none of them */
    xg_sampler_chem c;
    memset(&c, 0, sizeof c);
    c.types = types;
    const xg_sampler_chem *cs[3] = {&c, NULL, &c};
    int natoms[3] = {8, 8, 8};
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 12;
    so.chem = cs;
    xg_error err = {0};
    xg_structure *out[3];
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 3, natoms, 2, 0, out,
                                         NULL, NULL, &err), XG_OK);
    for (int a = 0; a < 8; a++) {
        CU_ASSERT_EQUAL(out[0]->types[a], types[a]);
        CU_ASSERT_EQUAL(out[2]->types[a], types[a]);
        CU_ASSERT(out[1]->types[a] == 26 || out[1]->types[a] == 8); /* unconstrained */
    }
    for (int s = 0; s < 3; s++)
        xg_structure_free(out[s]);
    /* A fixed type the element constraints exclude is refused. */
    unsigned char allowed[XG_MAX_Z + 1] = {0};
    allowed[26] = allowed[7] = 1;
    so.allowed = allowed;
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 3, natoms, 2, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "Co") != NULL);
}

static void test_impossible_chemistry_refused(void)
{
    oracle o;
    oracle_init(&o, 3);
    xg_sampler_chem c;
    memset(&c, 0, sizeof c);
    c.nrequired = 4;
    int req[4] = {3, 26, 15, 8};
    memcpy(c.required, req, sizeof req);
    const xg_sampler_chem *cs[1] = {&c};
    int natoms[1] = {3};
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 2;
    so.chem = cs;
    xg_error err = {0};
    xg_structure *out[1];
    /* Four required elements, three atoms. */
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 1, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "cannot fit in 3 atoms") != NULL);
    /* A required element the run excludes. */
    natoms[0] = 4;
    unsigned char allowed[XG_MAX_Z + 1];
    for (int z = 0; z <= XG_MAX_Z; z++)
        allowed[z] = z >= 1 && z != 15;
    so.allowed = allowed;
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 1, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "P is excluded") != NULL);
    so.allowed = NULL;
    /* Bounds that contradict each other or the required set. */
    c.max_elements = 3;
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 1, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
    c.nrequired = 0;
    c.min_elements = 3;
    c.max_elements = 2;
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 1, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
    c.min_elements = 5;
    c.max_elements = 0;
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 1, natoms, 1, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
}

/* The template of rock salt NaCl (Fm-3m: orbits 4a and 4b of four atoms each), or NULL. */
static xg_template *rocksalt_template(void)
{
    xg_structure *nacl = xg_structure_alloc(8);
    double f[8][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
                      {.5, .5, .5}, {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}};
    for (int a = 0; a < 8; a++) {
        nacl->types[a] = a < 4 ? 11 : 17;
        memcpy(nacl->frac[a], f[a], sizeof f[a]);
    }
    memset(nacl->lattice, 0, sizeof nacl->lattice);
    for (int i = 0; i < 3; i++)
        nacl->lattice[i][i] = 5.64;
    xg_template *tp = NULL;
    xg_error err = {0};
    if (xg_template_from_structure(nacl, 0.1, &tp, NULL, NULL, &err) != XG_OK || tp->norbits != 2) {
        xg_template_free(tp);
        tp = NULL;
    }
    xg_structure_free(nacl);
    return tp;
}

/* Rock salt: two orbits of four atoms (Fm-3m, 4a and 4b). Types are drawn per orbit, so a
 * two-element system fills one orbit each, and a three-element one cannot fit. */
static void test_chemsys_on_template(void)
{
    xg_error err = {0};
    xg_template *tp = rocksalt_template();
    CU_ASSERT_PTR_NOT_NULL_FATAL(tp);
    oracle o;
    oracle_init(&o, 8);
    xg_sampler_chem c;
    memset(&c, 0, sizeof c);
    unsigned char sys[XG_MAX_Z + 1] = {0};
    sys[26] = sys[16] = 1; /* Fe S: the oracle prefers Fe, then O (not allowed) */
    c.allowed = sys;
    c.nrequired = 2;
    c.required[0] = 26;
    c.required[1] = 16;
    const xg_sampler_chem *cs[8];
    const xg_template *tps[8];
    int natoms[8];
    for (int k = 0; k < 8; k++) {
        cs[k] = &c;
        tps[k] = tp;
        natoms[k] = 8;
    }
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 6;
    so.chem = cs;
    so.templates = tps;
    xg_structure *out[8];
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 8, natoms, 4, 0, out,
                                         NULL, NULL, &err), XG_OK);
    for (int s = 0; s < 8; s++) {
        CU_ASSERT(has_type(out[s], 26) && has_type(out[s], 16));
        CU_ASSERT_EQUAL(distinct_types(out[s]), 2);
        /* One element per orbit. */
        CU_ASSERT_EQUAL(out[s]->types[0], out[s]->types[3]);
        CU_ASSERT_EQUAL(out[s]->types[4], out[s]->types[7]);
        xg_structure_free(out[s]);
    }
    c.nrequired = 3;
    c.required[2] = 8;
    sys[8] = 1;
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 8, natoms, 4, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "cannot fit in 2 orbits") != NULL);
    xg_template_free(tp);
}

/* Element patterns (xg_sampler_opts.orbit_class) on rock salt: the oracle prefers Fe, then O,
 * at every site. Drawn per orbit, both orbits take Fe (an elemental "rock salt"); with the
 * pattern {0, 1} of NaCl the second class may not take the first's element; with
 * {0, 0} both take one element; when the allowed elements run out the pattern gives way. */
static void test_element_pattern(void)
{
    xg_error err = {0};
    xg_template *tp = rocksalt_template();
    CU_ASSERT_PTR_NOT_NULL_FATAL(tp);
    oracle o;
    oracle_init(&o, 8);
    const xg_template *tps[8];
    int natoms[8];
    const int two[2] = {0, 1}, one[2] = {0, 0}, bad[2] = {1, 0};
    const int *cls[8];
    for (int k = 0; k < 8; k++) {
        tps[k] = tp;
        natoms[k] = 8;
    }
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 6;
    so.templates = tps;
    xg_structure *out[8];
    /* Per orbit: Fe everywhere (logit 10 against 5: e^-5 per draw). */
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 8, natoms, 4, 0, out,
                                         NULL, NULL, &err), XG_OK);
    int elemental = 0;
    for (int s = 0; s < 8; s++) {
        elemental += distinct_types(out[s]) == 1;
        xg_structure_free(out[s]);
    }
    CU_ASSERT(elemental >= 7);
    for (int pass = 0; pass < 3; pass++) {
        const int *pat = pass == 1 ? one : two;
        for (int k = 0; k < 8; k++)
            cls[k] = pat;
        so.orbit_class = cls;
        unsigned char only_fe[XG_MAX_Z + 1] = {0};
        only_fe[26] = 1;
        so.allowed = pass == 2 ? only_fe : NULL;
        CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 8, natoms, 4, 0,
                                             out, NULL, NULL, &err), XG_OK);
        for (int s = 0; s < 8; s++) {
            CU_ASSERT_EQUAL(out[s]->types[0], out[s]->types[3]); /* one element per orbit */
            CU_ASSERT_EQUAL(out[s]->types[4], out[s]->types[7]);
            if (pass == 0) {
                CU_ASSERT_EQUAL(distinct_types(out[s]), 2);
                CU_ASSERT(has_type(out[s], 26)); /* the other: O (60%) or any of 98 others */
            } else {
                CU_ASSERT_EQUAL(distinct_types(out[s]), 1);
                CU_ASSERT(has_type(out[s], 26));
            }
            xg_structure_free(out[s]);
        }
    }
    so.allowed = NULL;
    for (int k = 0; k < 8; k++)
        cls[k] = bad; /* classes are numbered by first use */
    CU_ASSERT_EQUAL(xg_sampler_run(&o.noise, oracle_eval, &o, &so, 8, natoms, 4, 0, out, NULL,
                                   NULL, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "element class") != NULL);
    xg_template_free(tp);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"oracle network recovers its crystal", test_oracle_recovers_crystal},
        {"deterministic and batch independent", test_deterministic_and_batch_independent},
        {"excluded elements never appear", test_excluded_elements_never_appear},
        {"guidance mixing", test_guidance_mixing},
        {"type guidance apart from the geometry", test_type_guidance},
        {"guidance against a negative condition", test_negative_condition},
        {"bad options", test_bad_options},
        {"one step still works", test_few_steps_still_work},
        {"chemsys: every element present, no other", test_chemsys_every_element_present},
        {"min and max number of elements", test_min_max_elements},
        {"fixed composition (CSP)", test_fixed_composition},
        {"impossible chemistry refused", test_impossible_chemistry_refused},
        {"chemsys on a template: per orbit", test_chemsys_on_template},
        {"element patterns on a template", test_element_pattern},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("sampler", tests);
}
