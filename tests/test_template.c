/* test_template.c: space-group templates and symmetric sampling (issue 13).
 *
 * Checked: space-group names; the template of known crystals (rock salt, rutile, wurtzite: a
 * cubic, a tetragonal cell with an oblique free parameter (x, x, 0), a hexagonal basis); the
 * projection onto the symmetric subspace is idempotent, exact and keeps the free parameters;
 * expanding a real crystal's representatives through its template gives the crystal back (the
 * matcher decides); the sampler keeps a templated crystal exactly symmetric with a test-double
 * network that knows nothing of symmetry; per-orbit type draws honour element constraints; the
 * table survives an HDF5 round trip (with its members: each training crystal's template and
 * the element on each orbit) and draws by frequency. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "crystal/xg_input.h"
#include "crystal/xg_matcher.h"
#include "crystal/xg_symmetry.h"
#include "diffusion/xg_sampler.h"
#include "diffusion/xg_template.h"

static xg_structure *make(int n, const double L[3][3], const double (*x)[3], const int *z)
{
    xg_structure *s = xg_structure_alloc(n);
    memcpy(s->lattice, L, sizeof s->lattice);
    for (int a = 0; a < n; a++) {
        memcpy(s->frac[a], x[a], sizeof s->frac[a]);
        s->types[a] = z[a];
    }
    return s;
}

static xg_structure *nacl(void)
{
    const double L[3][3] = {{5.64, 0, 0}, {0, 5.64, 0}, {0, 0, 5.64}};
    const double x[8][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
                            {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}, {.5, .5, .5}};
    const int z[8] = {11, 11, 11, 11, 17, 17, 17, 17};
    return make(8, L, x, z);
}

static xg_structure *rutile(double u)
{
    const double L[3][3] = {{4.59, 0, 0}, {0, 4.59, 0}, {0, 0, 2.96}};
    const double x[6][3] = {{0, 0, 0}, {.5, .5, .5}, {u, u, 0}, {1 - u, 1 - u, 0},
                            {.5 + u, .5 - u, .5}, {.5 - u, .5 + u, .5}};
    const int z[6] = {22, 22, 8, 8, 8, 8};
    return make(6, L, x, z);
}

static xg_structure *wurtzite(void)
{
    double a = 3.25, c = 5.21, u = 0.382;
    const double L[3][3] = {{a, 0, 0}, {-a / 2, a * sqrt(3) / 2, 0}, {0, 0, c}};
    const double x[4][3] = {{1. / 3, 2. / 3, 0}, {2. / 3, 1. / 3, .5}, {1. / 3, 2. / 3, u},
                            {2. / 3, 1. / 3, .5 + u}};
    const int z[4] = {30, 30, 8, 8};
    return make(4, L, x, z);
}

static double frac_diff(double a, double b)
{
    double d = a - b;
    return fabs(d - floor(d + 0.5));
}

/* max |W^T G W - G| over the operations, G = L L^T. */
static double metric_asymmetry(const xg_template *t, const double L[9])
{
    double G[9], worst = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            G[3 * i + j] = L[3 * i] * L[3 * j] + L[3 * i + 1] * L[3 * j + 1] + L[3 * i + 2] * L[3 * j + 2];
    for (int k = 0; k < t->nops; k++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double acc = 0;
                for (int p = 0; p < 3; p++)
                    for (int q = 0; q < 3; q++)
                        acc += t->rot[k][p][i] * G[3 * p + q] * t->rot[k][q][j];
                worst = fmax(worst, fabs(acc - G[3 * i + j]));
            }
    return worst;
}

static void test_spacegroup_names(void)
{
    int g = 0;
    xg_error err = {0};
    CU_ASSERT(xg_symmetry_spacegroup_parse("225", &g, &err) == XG_OK && g == 225);
    CU_ASSERT(xg_symmetry_spacegroup_parse("Fm-3m", &g, &err) == XG_OK && g == 225);
    CU_ASSERT(xg_symmetry_spacegroup_parse("F m -3 m", &g, &err) == XG_OK && g == 225);
    CU_ASSERT(xg_symmetry_spacegroup_parse("P2_1/c", &g, &err) == XG_OK && g == 14);
    CU_ASSERT(xg_symmetry_spacegroup_parse("P21/c", &g, &err) == XG_OK && g == 14);
    CU_ASSERT(xg_symmetry_spacegroup_parse("P6_3mc", &g, &err) == XG_OK && g == 186);
    CU_ASSERT(xg_symmetry_spacegroup_parse("fm-3m", &g, &err) == XG_OK && g == 225);
    CU_ASSERT(xg_symmetry_spacegroup_parse("231", &g, &err) == XG_EINVAL);
    CU_ASSERT(xg_symmetry_spacegroup_parse("Xq-9", &g, &err) == XG_EINVAL);
    CU_ASSERT(strstr(err.msg, "Xq-9") != NULL);
    char sym[16];
    xg_symmetry_spacegroup_symbol(225, sym);
    CU_ASSERT_STRING_EQUAL(sym, "Fm-3m");
    xg_symmetry_spacegroup_symbol(136, sym);
    CU_ASSERT_STRING_EQUAL(sym, "P4_2/mnm");
    CU_ASSERT_EQUAL(xg_symmetry_crystal_system(186), 5);
    CU_ASSERT_EQUAL(xg_symmetry_crystal_system(1), 0);
}

static void test_known_templates(void)
{
    xg_error err = {0};
    xg_structure *s = nacl();
    xg_template *t = NULL;
    double shift = 1;
    CU_ASSERT_EQUAL_FATAL(xg_template_from_structure(s, 0.1, &t, NULL, &shift, &err), XG_OK);
    CU_ASSERT_EQUAL(t->spacegroup, 225);
    CU_ASSERT_EQUAL(t->natoms, 8);
    CU_ASSERT_EQUAL(t->nops, 192); /* 48 rotations x 4 centring translations */
    CU_ASSERT_EQUAL(t->norbits, 2);
    for (int o = 0; o < 2; o++) {
        CU_ASSERT_EQUAL(t->orbit_start[o + 1] - t->orbit_start[o], 4);
        CU_ASSERT_EQUAL(t->site_start[o + 1] - t->site_start[o], 48);
        CU_ASSERT_STRING_EQUAL(t->site_symbol[o], "m-3m");
    }
    CU_ASSERT(shift < 1e-9);
    xg_template_free(t);
    xg_structure_free(s);

    s = rutile(0.305);
    CU_ASSERT_EQUAL_FATAL(xg_template_from_structure(s, 0.1, &t, NULL, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(t->spacegroup, 136);
    CU_ASSERT_EQUAL(t->norbits, 2);
    CU_ASSERT_EQUAL(t->orbit_start[2] - t->orbit_start[1], 4);
    xg_template_free(t);
    xg_structure_free(s);

    s = wurtzite();
    CU_ASSERT_EQUAL_FATAL(xg_template_from_structure(s, 0.1, &t, NULL, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(t->spacegroup, 186);
    CU_ASSERT_EQUAL(t->nops, 12);
    CU_ASSERT_EQUAL(t->norbits, 2);
    xg_template_free(t);
    xg_structure_free(s);
}

/* Perturbs, projects, and checks exactness and idempotence. */
static void check_projection(xg_structure *s, unsigned seed)
{
    xg_error err = {0};
    xg_template *t = NULL;
    int order[64];
    CU_ASSERT_EQUAL_FATAL(xg_template_from_structure(s, 0.1, &t, order, NULL, &err), XG_OK);
    int n = t->natoms;
    double x[64 * 3], y[64 * 3], L[9], L2[9];
    xg_rng r;
    xg_rng_seed(&r, seed, 0);
    for (int a = 0; a < n; a++)
        for (int k = 0; k < 3; k++)
            x[3 * a + k] = s->frac[order[a]][k] + 0.04 * (xg_rng_uniform(&r) - 0.5);
    for (int k = 0; k < 9; k++)
        L[k] = s->lattice[k / 3][k % 3] + 0.3 * (xg_rng_uniform(&r) - 0.5);
    CU_ASSERT(xg_template_asymmetry(t, x) > 1e-3); /* the perturbation broke the symmetry */
    xg_template_project_frac(t, x);
    CU_ASSERT(xg_template_asymmetry(t, x) < 1e-12);
    memcpy(y, x, sizeof(double) * 3 * (size_t)n);
    xg_template_project_frac(t, y);
    double worst = 0;
    for (int k = 0; k < 3 * n; k++)
        worst = fmax(worst, frac_diff(x[k], y[k]));
    CU_ASSERT(worst < 1e-12);
    /* The projection stays near the perturbed input: it moved each atom by at most the
     * perturbation (no jump to another branch). */
    for (int a = 0; a < n; a++)
        for (int k = 0; k < 3; k++)
            CU_ASSERT(frac_diff(x[3 * a + k], s->frac[order[a]][k]) < 0.04);
    CU_ASSERT(metric_asymmetry(t, L) > 1e-3);
    CU_ASSERT_EQUAL(xg_template_project_lattice(t, L, &err), XG_OK);
    CU_ASSERT(metric_asymmetry(t, L) < 1e-10);
    memcpy(L2, L, sizeof L);
    CU_ASSERT_EQUAL(xg_template_project_lattice(t, L2, &err), XG_OK);
    for (int k = 0; k < 9; k++)
        CU_ASSERT(fabs(L2[k] - L[k]) < 1e-12);
    CU_ASSERT(fabs(L[1] - L[3]) < 1e-14); /* a symmetric polar factor */
    xg_template_free(t);
}

static void test_projection_idempotent(void)
{
    for (unsigned seed = 1; seed <= 5; seed++) {
        xg_structure *s = nacl();
        check_projection(s, seed);
        xg_structure_free(s);
        s = rutile(0.305);
        check_projection(s, seed);
        xg_structure_free(s);
        s = wurtzite();
        check_projection(s, seed);
        xg_structure_free(s);
    }
}

/* A symmetric state elsewhere in the subspace (rutile with another u) is left alone: the
 * projection keeps free parameters, it does not snap back to the template's example. */
static void test_projection_keeps_free_parameters(void)
{
    xg_error err = {0};
    xg_structure *s = rutile(0.305), *s2 = rutile(0.21);
    xg_template *t = NULL;
    int order[6];
    CU_ASSERT_EQUAL_FATAL(xg_template_from_structure(s, 0.1, &t, order, NULL, &err), XG_OK);
    double x[18];
    for (int a = 0; a < 6; a++)
        for (int k = 0; k < 3; k++)
            x[3 * a + k] = s2->frac[order[a]][k];
    CU_ASSERT(xg_template_asymmetry(t, x) < 1e-12);
    double y[18];
    memcpy(y, x, sizeof y);
    xg_template_project_frac(t, y);
    for (int k = 0; k < 18; k++)
        CU_ASSERT(frac_diff(x[k], y[k]) < 1e-12);
    xg_template_free(t);
    xg_structure_free(s);
    xg_structure_free(s2);
}

/* Real MP-20 crystals: representatives expanded through the template give the crystal. */
static void test_expand_returns_crystal(void)
{
    xg_error err = {0};
    xg_dataset *ds = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_input_read(XG_SOURCE_DIR "/tests/fixtures/cdvae_small.csv", &ds, &err),
                          XG_OK);
    CU_ASSERT_FATAL(ds->n >= 5);
    xg_matcher_params mp;
    xg_matcher_default_params(&mp);
    int ok = 0, symmetric = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        xg_structure *s = xg_dataset_get(ds, i, &err);
        xg_template *t = NULL;
        int *order = malloc(sizeof(int) * (size_t)s->natoms);
        double shift = 0;
        int rc = xg_template_from_structure(s, 0.1, &t, order, &shift, &err);
        CU_ASSERT_EQUAL(rc, XG_OK);
        if (rc == XG_OK) {
            int *types = malloc(sizeof(int) * (size_t)t->norbits);
            for (int o = 0; o < t->norbits; o++)
                types[o] = s->types[order[t->orbit_start[o]]];
            xg_structure *e = NULL;
            CU_ASSERT_EQUAL(xg_template_expand(t, types, NULL, (const double(*)[3])s->lattice, &e,
                                               &err), XG_OK);
            double x[3 * 200];
            for (int a = 0; a < e->natoms; a++)
                memcpy(x + 3 * a, e->frac[a], sizeof(double) * 3);
            symmetric += xg_template_asymmetry(t, x) < 1e-10;
            xg_match_result res;
            CU_ASSERT_EQUAL(xg_matcher_fit(s, e, &mp, XG_MATCH_FIRST, &res, &err), XG_OK);
            ok += res.match;
            CU_ASSERT(shift < 0.3); /* within a few symprec of the input */
            int sg = 0;
            CU_ASSERT_EQUAL(xg_symmetry_spacegroup(e, 1e-4, &sg, NULL, &err), XG_OK);
            CU_ASSERT_EQUAL(sg, t->spacegroup); /* the expansion is exact, not approximate */
            xg_structure_free(e);
            free(types);
        }
        free(order);
        xg_template_free(t);
        xg_structure_free(s);
    }
    CU_ASSERT_EQUAL(ok, ds->n);
    CU_ASSERT_EQUAL(symmetric, ds->n);
    xg_dataset_free(ds);
}

/* A network double that knows nothing of symmetry: outputs depend on the atom index. It also
 * measures the asymmetry of every state it is shown (float inputs: ~1e-7 at best). */
typedef struct {
    const xg_template *t[4];
    double worst_seen;
    int calls;
    int favourite; /* class with the largest logit */
    float coord[4 * 64 * 3], logits[4 * 64 * XG_NUM_TYPES], lattice[4 * 9];
} double_net;

static int double_eval(void *ctx, const xg_batch *b, xg_denoiser_out *out, xg_error *err)
{
    double_net *d = ctx;
    d->calls++;
    for (int s = 0; s < b->nstructs; s++) {
        int a0 = b->offsets[s], n = b->offsets[s + 1] - a0;
        double x[64 * 3];
        for (int k = 0; k < 3 * n; k++)
            x[k] = b->frac[3 * a0 + k];
        d->worst_seen = fmax(d->worst_seen, xg_template_asymmetry(d->t[s], x));
        for (int a = a0; a < a0 + n; a++) {
            for (int k = 0; k < 3; k++)
                d->coord[3 * a + k] = (float)sin(1.7 * a + 2.3 * k + b->t[s]);
            for (int k = 0; k < XG_NUM_TYPES; k++)
                d->logits[a * XG_NUM_TYPES + k] =
                    (float)(k == d->favourite ? 40.0 : cos(0.37 * a * (k + 1)));
        }
        for (int k = 0; k < 9; k++)
            d->lattice[9 * s + k] = (float)(0.3 * sin(0.9 * k + s));
    }
    out->coord = d->coord;
    out->logits = d->logits;
    out->lattice = d->lattice;
    (void)err;
    return XG_OK;
}

static void run_double(const unsigned char *allowed, int steps, int *types_ok, double *worst)
{
    xg_error err = {0};
    xg_structure *src[3] = {nacl(), rutile(0.305), wurtzite()};
    xg_template *tp[3];
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL_FATAL(xg_template_from_structure(src[i], 0.1, &tp[i], NULL, NULL, &err), XG_OK);
    double_net d;
    memset(&d, 0, sizeof d);
    d.favourite = 0; /* hydrogen */
    const xg_template *list[3] = {tp[0], tp[1], tp[2]};
    for (int i = 0; i < 3; i++)
        d.t[i] = tp[i];
    xg_noise_params noise;
    xg_noise_params_default(&noise);
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = steps;
    so.templates = list;
    so.allowed = allowed;
    int natoms[3] = {tp[0]->natoms, tp[1]->natoms, tp[2]->natoms};
    xg_structure *out[3];
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&noise, double_eval, &d, &so, 3, natoms, 5, 0, out, NULL,
                                         NULL, &err), XG_OK);
    *worst = d.worst_seen;
    *types_ok = 1;
    for (int i = 0; i < 3; i++) {
        double x[64 * 3], L[9];
        for (int a = 0; a < out[i]->natoms; a++)
            memcpy(x + 3 * a, out[i]->frac[a], sizeof(double) * 3);
        memcpy(L, out[i]->lattice, sizeof L);
        *worst = fmax(*worst, xg_template_asymmetry(tp[i], x));
        CU_ASSERT(metric_asymmetry(tp[i], L) < 1e-10 * fmax(1.0, L[0] * L[0]));
        for (int o = 0; o < tp[i]->norbits; o++)
            for (int a = tp[i]->orbit_start[o]; a < tp[i]->orbit_start[o + 1]; a++) {
                int z = out[i]->types[a];
                *types_ok &= z == out[i]->types[tp[i]->orbit_start[o]];
                *types_ok &= allowed ? allowed[z] != 0 : z == 1;
            }
        xg_structure_free(out[i]);
        xg_template_free(tp[i]);
        xg_structure_free(src[i]);
    }
}

static void test_sampler_keeps_symmetry(void)
{
    for (int steps = 1; steps <= 3; steps++) {
        int types_ok = 0;
        double worst = 1;
        run_double(NULL, steps, &types_ok, &worst);
        CU_ASSERT(types_ok);
        /* Outputs exact to 1e-10; states shown to the network exact up to float rounding. */
        CU_ASSERT(worst < 1e-6);
    }
    /* The final output alone, in double precision. */
    xg_error err = {0};
    xg_structure *s = rutile(0.305);
    xg_template *t = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_template_from_structure(s, 0.1, &t, NULL, NULL, &err), XG_OK);
    double_net d;
    memset(&d, 0, sizeof d);
    d.t[0] = t;
    const xg_template *list[1] = {t};
    xg_noise_params noise;
    xg_noise_params_default(&noise);
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = 1;
    so.templates = list;
    int natoms[1] = {t->natoms};
    xg_structure *out[1];
    CU_ASSERT_EQUAL_FATAL(xg_sampler_run(&noise, double_eval, &d, &so, 1, natoms, 9, 0, out, NULL,
                                         NULL, &err), XG_OK);
    double x[18];
    for (int a = 0; a < 6; a++)
        memcpy(x + 3 * a, out[0]->frac[a], sizeof(double) * 3);
    CU_ASSERT(xg_template_asymmetry(t, x) < 1e-10);
    xg_structure_free(out[0]);
    /* A template whose N differs from the crystal's is refused. */
    natoms[0] = 5;
    out[0] = NULL;
    CU_ASSERT_EQUAL(xg_sampler_run(&noise, double_eval, &d, &so, 1, natoms, 9, 0, out, NULL, NULL,
                                   &err), XG_EINVAL);
    xg_structure_free(out[0]);
    xg_template_free(t);
    xg_structure_free(s);
}

static void test_orbit_types_honour_constraints(void)
{
    unsigned char allowed[XG_MAX_Z + 1] = {0};
    allowed[8] = allowed[26] = 1; /* the network prefers hydrogen: it must not appear */
    int types_ok = 0;
    double worst = 1;
    run_double(allowed, 20, &types_ok, &worst);
    CU_ASSERT(types_ok);
    CU_ASSERT(worst < 1e-6);
}

static void test_table_roundtrip_and_draw(void)
{
    xg_error err = {0};
    xg_dataset *ds = xg_dataset_alloc();
    xg_structure *s[4] = {nacl(), nacl(), rutile(0.305), wurtzite()};
    for (int a = 0; a < 8; a++) /* the second rock salt is KBr, Br on NaCl's Na positions */
        s[1]->types[a] = a < 4 ? 35 : 19;
    for (int i = 0; i < 4; i++) {
        snprintf(s[i]->id, sizeof s[i]->id, "x-%d", i);
        CU_ASSERT_EQUAL(xg_dataset_append(ds, s[i], NULL, &err), XG_OK);
        xg_structure_free(s[i]);
    }
    xg_template_table *tab = NULL, *back = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_template_table_build(ds, 0.1, "test", NULL, NULL, &tab, &err), XG_OK);
    CU_ASSERT_EQUAL(tab->n, 3);
    CU_ASSERT_EQUAL(tab->t[0].frequency, 2);
    const char *path = xg_test_tmpfile(".h5", "");
    CU_ASSERT_EQUAL_FATAL(xg_template_table_write(tab, path, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_template_table_read(path, &back, &err), XG_OK);
    CU_ASSERT_EQUAL(back->n, 3);
    for (int i = 0; i < 3; i++) {
        const xg_template *a = &tab->t[i], *b = &back->t[i];
        CU_ASSERT(a->spacegroup == b->spacegroup && a->natoms == b->natoms && a->nops == b->nops &&
                  a->norbits == b->norbits && a->frequency == b->frequency);
        CU_ASSERT(memcmp(a->rot, b->rot, sizeof *a->rot * (size_t)a->nops) == 0);
        CU_ASSERT(memcmp(a->atom_op, b->atom_op, sizeof(int) * (size_t)a->natoms) == 0);
        CU_ASSERT(memcmp(a->rep, b->rep, sizeof *a->rep * (size_t)a->norbits) == 0);
        CU_ASSERT(memcmp(a->site_ops, b->site_ops,
                         sizeof(int) * (size_t)a->site_start[a->norbits]) == 0);
        CU_ASSERT_STRING_EQUAL(a->example, b->example);
    }
    /* The members: every crystal's template and the element on each of its orbits, the same
     * after the round trip. Orbits are paired by Wyckoff position: KBr's Br sits where NaCl's
     * Na does (4a), so it lands on NaCl's Na orbit. */
    CU_ASSERT_EQUAL_FATAL(tab->nmembers, 4);
    CU_ASSERT_EQUAL_FATAL(back->nmembers, 4);
    const int want_t[4] = {0, 0, 1, 2};
    for (int m = 0; m < 4; m++) {
        CU_ASSERT_EQUAL(back->member_template[m], want_t[m]);
        CU_ASSERT_EQUAL(back->member_start[m], tab->member_start[m]);
    }
    CU_ASSERT(memcmp(tab->member_z, back->member_z, sizeof(int32_t) * 8) == 0);
    const int32_t *z0 = back->member_z, *z1 = back->member_z + back->member_start[1];
    const int32_t *z2 = back->member_z + back->member_start[2];
    CU_ASSERT((z0[0] == 11 && z0[1] == 17) || (z0[0] == 17 && z0[1] == 11));
    CU_ASSERT_EQUAL(z1[0], z0[0] == 11 ? 35 : 19);
    CU_ASSERT_EQUAL(z1[1], z0[1] == 11 ? 35 : 19);
    for (int o = 0; o < back->t[1].norbits; o++) /* rutile: Ti on the 2-fold orbit, O on the 4 */
        CU_ASSERT_EQUAL(z2[o], back->t[1].orbit_start[o + 1] - back->t[1].orbit_start[o] == 2 ? 22 : 8);
    /* Draws follow the frequencies 2:1:1; filters by group and N. */
    xg_rng r;
    xg_rng_seed(&r, 3, 0);
    int cnt[3] = {0};
    for (int k = 0; k < 4000; k++)
        cnt[xg_template_table_draw(back, NULL, 0, &r)]++;
    CU_ASSERT(cnt[0] > 1800 && cnt[0] < 2200 && cnt[1] > 850 && cnt[2] > 850);
    unsigned char g[231] = {0};
    g[186] = 1;
    CU_ASSERT_EQUAL(xg_template_table_draw(back, g, 0, &r), 2);
    CU_ASSERT_EQUAL(xg_template_table_draw(back, g, 8, &r), -1);
    CU_ASSERT_EQUAL(xg_template_table_draw(back, NULL, 6, &r), 1);
    int near[3];
    CU_ASSERT_EQUAL(xg_template_table_nearest(back, 227, 0, near, 3), 3);
    CU_ASSERT_EQUAL(near[0], 225); /* cubic first */
    /* The class prior: 26 atoms, 6 of them O, in size bins 0 (wurtzite, 4 atoms), 1 (rutile,
     * 6) and 2 (the rock salts, 8); classes ranked by size, ties to the class of the first
     * orbit. Rutile's O (4 of 6 atoms) is its largest class; wurtzite's 2 O rank 0 when O holds
     * the first orbit, else 1. */
    const int sz[3] = {4, 4, 2}, sz2[2] = {2, 4};
    CU_ASSERT(xg_class_rank(sz, 3, 0) == 0 && xg_class_rank(sz, 3, 1) == 1 &&
              xg_class_rank(sz, 3, 2) == 2 && xg_class_rank(sz2, 2, 0) == 1);
    CU_ASSERT(xg_class_prior_bin(1) == 0 && xg_class_prior_bin(4) == 0 &&
              xg_class_prior_bin(5) == 1 && xg_class_prior_bin(16) == 4 &&
              xg_class_prior_bin(17) == 5 && xg_class_prior_bin(1000) == 5);
    xg_class_prior *cp = malloc(sizeof *cp);
    CU_ASSERT_EQUAL_FATAL(xg_template_table_class_prior(back, cp, &err), XG_OK);
    const double w = XG_CLASS_PRIOR_SHRINK, po = 6.0 / 26;
    const double pa1 = (4 + w * po) / (6 + w), pa0 = (2 + w * po) / (4 + w);
    const int32_t *z3 = back->member_z + back->member_start[3];
    int wz_rank = z3[0] == 8 ? 0 : 1;
    CU_ASSERT_DOUBLE_EQUAL(cp->atom[1][7], log(pa1), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cp->cls[1][1][0][7], log((1 + w * pa1) / (1 + w)), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cp->cls[1][1][1][7], log((0 + w * pa1) / (1 + w)), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cp->atom[0][7], log(pa0), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cp->cls[0][1][wz_rank][7], log((1 + w * pa0) / (1 + w)), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cp->atom[3][7], log(po), 1e-12); /* an empty bin: all atoms */
    CU_ASSERT_DOUBLE_EQUAL(cp->cls[3][2][0][7], log(po), 1e-12);
    CU_ASSERT(cp->atom[1][25] < log(1e-7)); /* Fe: no member holds it; finite, tiny */
    CU_ASSERT(isfinite(cp->cls[1][1][0][25]));
    back->nmembers = 0; /* an old table without members has no prior */
    CU_ASSERT_EQUAL(xg_template_table_class_prior(back, cp, &err), XG_EINVAL);
    back->nmembers = 4;
    free(cp);
    xg_template_table_free(tab);
    xg_template_table_free(back);
    xg_dataset_free(ds);
    /* A file of another kind is refused with a message. */
    CU_ASSERT_NOT_EQUAL(xg_template_table_read(XG_SOURCE_DIR "/tests/fixtures/dataset_v7.h5",
                                               &back, &err), XG_OK);
    CU_ASSERT(strstr(err.msg, "template") != NULL);
}

int main(void)
{
    static CU_TestInfo tests[] = {
        {"space-group names", test_spacegroup_names},
        {"templates of rock salt, rutile, wurtzite", test_known_templates},
        {"projection exact and idempotent", test_projection_idempotent},
        {"projection keeps free parameters", test_projection_keeps_free_parameters},
        {"expanding representatives returns the crystal", test_expand_returns_crystal},
        {"sampler keeps a templated crystal symmetric", test_sampler_keeps_symmetry},
        {"per-orbit types honour element constraints", test_orbit_types_honour_constraints},
        {"table round trip and frequency draws", test_table_roundtrip_and_draw},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("template", tests);
}
