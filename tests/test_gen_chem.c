/* test_gen_chem.c: choosing a composition's template by analogy with training crystals of the
 * same stoichiometry (generate --csp-templates similar, issue 16).
 *
 * Checked: the chemical distance of two elements (zero for one element, a neighbour in the
 * same group nearer than an element across the table, symmetric); with a table built from rock
 * salt NaCl and KBr, zincblende ZnS and rutile TiO2, ZnSe takes the zincblende template (Zn on
 * the orbit of Zn, Se on that of S) and KCl rock salt; two polymorphs of one formula at equal
 * distance are drawn about equally often; a space-group filter is honoured; a stoichiometry is
 * a multiset of counts (Ti2O takes rutile, Ti on the 4-fold orbit); a stoichiometry or N no
 * training crystal has, or a table without members, gives -1 (the caller falls back). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "diffusion/xg_template.h"
#include "src/gen_chem.h"

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

static const double FCC[4][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}};

/* A conventional cubic cell: cation on the fcc sites, anion shifted by (s, s, s). */
static xg_structure *binary(int zc, int za, double a, double shift)
{
    const double L[3][3] = {{a, 0, 0}, {0, a, 0}, {0, 0, a}};
    double x[8][3];
    int z[8];
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) {
            x[i][k] = FCC[i][k];
            x[4 + i][k] = fmod(FCC[i][k] + shift, 1.0);
        }
    for (int i = 0; i < 4; i++) {
        z[i] = zc;
        z[4 + i] = za;
    }
    return make(8, L, (const double(*)[3])x, z);
}

static xg_structure *rutile(void)
{
    double u = 0.305;
    const double L[3][3] = {{4.59, 0, 0}, {0, 4.59, 0}, {0, 0, 2.96}};
    const double x[6][3] = {{0, 0, 0}, {.5, .5, .5}, {u, u, 0}, {1 - u, 1 - u, 0},
                            {.5 + u, .5 - u, .5}, {.5 - u, .5 + u, .5}};
    const int z[6] = {22, 22, 8, 8, 8, 8};
    return make(6, L, x, z);
}

/* Table from crystals (dataset order = member order). */
static xg_template_table *table_of(xg_structure **s, int n)
{
    xg_error err = {0};
    xg_dataset *ds = xg_dataset_alloc();
    for (int i = 0; i < n; i++) {
        snprintf(s[i]->id, sizeof s[i]->id, "x-%d", i);
        CU_ASSERT_EQUAL(xg_dataset_append(ds, s[i], NULL, &err), XG_OK);
        xg_structure_free(s[i]);
    }
    xg_template_table *tab = NULL;
    CU_ASSERT_EQUAL(xg_template_table_build(ds, 0.1, "test", NULL, NULL, &tab, &err), XG_OK);
    xg_dataset_free(ds);
    return tab;
}

static gen_comp comp_of(int *types, int n)
{
    gen_comp c;
    memset(&c, 0, sizeof c);
    c.natoms = n;
    c.types = types;
    return c;
}

static void test_element_distance(void)
{
    CU_ASSERT_EQUAL(gen_chem_element_distance(26, 26), 0.0);
    double na_k = gen_chem_element_distance(11, 19), na_cl = gen_chem_element_distance(11, 17);
    CU_ASSERT(na_k > 0 && na_k < na_cl);
    CU_ASSERT_EQUAL(gen_chem_element_distance(17, 11), na_cl);
    CU_ASSERT(gen_chem_element_distance(34, 16) < gen_chem_element_distance(34, 30)); /* Se~S */
}

static void test_similar_templates(void)
{
    xg_structure *s[4] = {binary(11, 17, 5.64, 0.5), binary(19, 35, 6.6, 0.5),
                          binary(30, 16, 5.41, 0.25), rutile()};
    xg_template_table *tab = table_of(s, 4);
    CU_ASSERT_FATAL(tab != NULL && tab->nmembers == 4);
    int tz = tab->member_template[2], trs = tab->member_template[0];
    CU_ASSERT_EQUAL(tab->t[tz].spacegroup, 216);
    CU_ASSERT_EQUAL(tab->t[trs].spacegroup, 225);
    xg_rng r;
    xg_rng_seed(&r, 5, 0);
    int buf[8];
    /* ZnSe: zincblende, Zn where Zn was, Se where S was. */
    int znse[8] = {30, 30, 30, 30, 34, 34, 34, 34};
    gen_comp c = comp_of(znse, 8);
    CU_ASSERT_EQUAL(gen_chem_template_similar(&c, tab, NULL, &r, buf), tz);
    const int32_t *mz = tab->member_z + tab->member_start[2];
    for (int o = 0; o < tab->t[tz].norbits; o++)
        for (int a = tab->t[tz].orbit_start[o]; a < tab->t[tz].orbit_start[o + 1]; a++)
            CU_ASSERT_EQUAL(buf[a], mz[o] == 30 ? 30 : 34);
    /* KCl: rock salt (NaCl and KBr are both nearer than ZnS). */
    int kcl[8] = {17, 17, 17, 17, 19, 19, 19, 19};
    c = comp_of(kcl, 8);
    int hits = 0;
    for (int k = 0; k < 200; k++)
        hits += gen_chem_template_similar(&c, tab, NULL, &r, buf) == trs;
    CU_ASSERT_EQUAL(hits, 200);
    int nk = 0;
    for (int a = 0; a < 8; a++)
        nk += buf[a] == 19;
    CU_ASSERT_EQUAL(nk, 4);
    /* Restricted to F-43m, KCl takes zincblende. */
    unsigned char g[231] = {0};
    g[216] = 1;
    CU_ASSERT_EQUAL(gen_chem_template_similar(&c, tab, g, &r, buf), tz);
    /* TiO2 with 6 atoms: rutile; with 3 atoms (no training crystal has N = 3): none. */
    int tio2[6] = {8, 8, 8, 8, 22, 22};
    c = comp_of(tio2, 6);
    CU_ASSERT_EQUAL(gen_chem_template_similar(&c, tab, NULL, &r, buf), tab->member_template[3]);
    c = comp_of(tio2 + 2, 3);
    c.types = (int[]){8, 8, 22};
    CU_ASSERT_EQUAL(gen_chem_template_similar(&c, tab, NULL, &r, buf), -1);
    /* Ti2O has rutile's stoichiometry (counts 2 and 4, as a multiset): Ti on the 4-fold orbit. */
    int ti2o[6] = {8, 8, 22, 22, 22, 22};
    c = comp_of(ti2o, 6);
    int tr = tab->member_template[3];
    CU_ASSERT_EQUAL_FATAL(gen_chem_template_similar(&c, tab, NULL, &r, buf), tr);
    for (int o = 0; o < tab->t[tr].norbits; o++) {
        int size = tab->t[tr].orbit_start[o + 1] - tab->t[tr].orbit_start[o];
        CU_ASSERT_EQUAL(buf[tab->t[tr].orbit_start[o]], size == 4 ? 22 : 8);
    }
    int tio5[6] = {8, 8, 8, 8, 8, 22};
    c = comp_of(tio5, 6);
    CU_ASSERT_EQUAL(gen_chem_template_similar(&c, tab, NULL, &r, buf), -1);
    xg_template_table_free(tab);
}

static void test_polymorphs_drawn_evenly(void)
{
    /* NaCl twice, as rock salt and as zincblende: equal distance 0, so each about half. */
    xg_structure *s[2] = {binary(11, 17, 5.64, 0.5), binary(11, 17, 5.9, 0.25)};
    xg_template_table *tab = table_of(s, 2);
    CU_ASSERT_FATAL(tab != NULL && tab->n == 2);
    int nacl[8] = {11, 11, 11, 11, 17, 17, 17, 17}, buf[8], cnt[2] = {0};
    gen_comp c = comp_of(nacl, 8);
    xg_rng r;
    xg_rng_seed(&r, 9, 0);
    for (int k = 0; k < 2000; k++)
        cnt[gen_chem_template_similar(&c, tab, NULL, &r, buf)]++;
    CU_ASSERT(cnt[0] > 900 && cnt[1] > 900);
    /* Without members (an older table) nothing is chosen. */
    int64_t m = tab->nmembers;
    tab->nmembers = 0;
    CU_ASSERT_EQUAL(gen_chem_template_similar(&c, tab, NULL, &r, buf), -1);
    tab->nmembers = m;
    xg_template_table_free(tab);
}

/* A chemical system by analogy (--chemsys with --element-pattern training): only training
 * crystals with as many elements as the system qualify, weighted by chemical similarity (K-Cl
 * takes rock salt, from NaCl and KBr, not ZnS or TiO2), and each element is replaced by its
 * partner in the nearest pairing (on NaCl: K for Na, Cl for Cl; on ZnS, restricted to
 * F-43m: K for Zn, Cl for S); the space-group and N filters hold; a system of three elements
 * finds none among binaries. */
static void test_chemsys_analogues(void)
{
    xg_structure *s[4] = {binary(11, 17, 5.64, 0.5), binary(19, 35, 6.6, 0.5),
                          binary(30, 16, 5.41, 0.25), rutile()};
    xg_template_table *tab = table_of(s, 4);
    CU_ASSERT_FATAL(tab != NULL && tab->nmembers == 4);
    xg_sampler_chem c;
    memset(&c, 0, sizeof c);
    unsigned char kcl[XG_MAX_Z + 1] = {0};
    kcl[19] = kcl[17] = 1;
    c.allowed = kcl;
    c.nrequired = 2;
    CU_ASSERT_EQUAL(gen_chem_analogue_k(&c), 2);
    c.max_elements = 1;
    CU_ASSERT_EQUAL(gen_chem_analogue_k(&c), 0);
    c.max_elements = 0;
    c.nrequired = 1; /* not every element required: not a plain system */
    CU_ASSERT_EQUAL(gen_chem_analogue_k(&c), 0);
    c.nrequired = 2;
    int types[2] = {17, 19};
    c.types = types;
    CU_ASSERT_EQUAL(gen_chem_analogue_k(&c), 0);
    xg_rng r;
    xg_rng_seed(&r, 9, 0);
    int rock = 0;
    for (int k = 0; k < 200; k++) {
        int64_t m = gen_chem_analogue_draw(kcl, tab, NULL, 0, &r);
        CU_ASSERT(m >= 0 && m < 4);
        rock += m == 0 || m == 1;
    }
    CU_ASSERT(rock >= 190); /* rutile (Ti-O) weighs about 0.8% */
    int buf[8];
    const xg_template *t0 = &tab->t[tab->member_template[0]];
    gen_chem_analogue_types(kcl, tab, 0, buf);
    const int32_t *mz = tab->member_z + tab->member_start[0];
    for (int o = 0; o < t0->norbits; o++)
        for (int a = t0->orbit_start[o]; a < t0->orbit_start[o + 1]; a++)
            CU_ASSERT_EQUAL(buf[a], mz[o] == 11 ? 19 : 17);
    unsigned char g[231] = {0};
    g[216] = 1;
    CU_ASSERT_EQUAL(gen_chem_analogue_draw(kcl, tab, g, 0, &r), 2); /* ZnS, the one in F-43m */
    const xg_template *t2 = &tab->t[tab->member_template[2]];
    gen_chem_analogue_types(kcl, tab, 2, buf);
    mz = tab->member_z + tab->member_start[2];
    for (int o = 0; o < t2->norbits; o++) /* Zn-K 4.1 + S-Cl 0.9 beats Zn-Cl 3.5 + S-K 6.8 */
        CU_ASSERT_EQUAL(buf[t2->orbit_start[o]], mz[o] == 30 ? 19 : 17);
    CU_ASSERT_EQUAL(gen_chem_analogue_draw(kcl, tab, NULL, 6, &r), 3); /* rutile, N = 6 */
    CU_ASSERT_EQUAL(gen_chem_analogue_draw(kcl, tab, NULL, 5, &r), -1);
    kcl[8] = 1;
    CU_ASSERT_EQUAL(gen_chem_analogue_draw(kcl, tab, NULL, 0, &r), -1);
    xg_template_table_free(tab);
}

int main(void)
{
    static CU_TestInfo tests[] = {
        {"chemical distance of elements", test_element_distance},
        {"templates of the nearest stoichiometric analogue", test_similar_templates},
        {"polymorphs at equal distance drawn evenly", test_polymorphs_drawn_evenly},
        {"a chemical system by analogy", test_chemsys_analogues},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("gen_chem", tests);
}
