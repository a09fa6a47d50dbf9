/* test_novelty.c: uniqueness with planted duplicates (supercell, shifted origin, permuted
 * sites) and novelty against a small reference dataset. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crystal/xg_novelty.h"
#include "xg_test.h"

/* Rock salt (conventional, 8 atoms) or CsCl-type (2 atoms) NaCl. */
static xg_structure *rocksalt(double a)
{
    static const double p[4][3] = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}};
    xg_structure *s = xg_structure_alloc(8);
    for (int i = 0; i < 3; i++)
        s->lattice[i][i] = a;
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) {
            s->types[i] = 11;
            s->types[4 + i] = 17;
            s->frac[i][k] = p[i][k];
            s->frac[4 + i][k] = fmod(p[i][k] + 0.5, 1.0);
        }
    return s;
}

static xg_structure *cscl(double a)
{
    xg_structure *s = xg_structure_alloc(2);
    for (int i = 0; i < 3; i++)
        s->lattice[i][i] = a;
    s->types[0] = 11;
    s->types[1] = 17;
    s->frac[1][0] = s->frac[1][1] = s->frac[1][2] = 0.5;
    return s;
}

/* A low-symmetry LiFeO2-like cell (4 atoms) and its 1x2x1 supercell. */
static xg_structure *tern(int rep)
{
    double f[4][3] = {{0.1, 0.2, 0.3}, {0.55, 0.65, 0.8}, {0.3, 0.9, 0.55}, {0.8, 0.4, 0.05}};
    int z[4] = {3, 26, 8, 8};
    xg_structure *s = xg_structure_alloc(4 * rep);
    double L[3][3] = {{4.9, 0, 0}, {0.8, 5.7, 0}, {-0.9, 0.3, 6.4}};
    memcpy(s->lattice, L, sizeof L);
    for (int k = 0; k < 3; k++)
        s->lattice[1][k] *= rep;
    for (int r = 0; r < rep; r++)
        for (int i = 0; i < 4; i++) {
            int j = r * 4 + i;
            s->types[j] = z[i];
            s->frac[j][0] = f[i][0];
            s->frac[j][1] = (f[i][1] + r) / rep;
            s->frac[j][2] = f[i][2];
        }
    return s;
}

static void shift_and_permute(xg_structure *s, double dx)
{
    for (int i = 0; i < s->natoms; i++)
        for (int k = 0; k < 3; k++)
            s->frac[i][k] = fmod(s->frac[i][k] + dx * (k + 1), 1.0);
    /* reverse the site order */
    for (int i = 0, j = s->natoms - 1; i < j; i++, j--) {
        int z = s->types[i];
        double f[3];
        memcpy(f, s->frac[i], sizeof f);
        s->types[i] = s->types[j];
        memcpy(s->frac[i], s->frac[j], sizeof f);
        s->types[j] = z;
        memcpy(s->frac[j], f, sizeof f);
    }
}

static void test_unique_and_novel(void)
{
    xg_error err = {0};
    /* Candidates: 0 rock salt, 1 CsCl-type, 2 rock salt shifted+permuted+rescaled,
     * 3 ternary, 4 its supercell shifted+permuted, 5 CsCl again (bigger), 6 ternary with
     * one O moved far (different crystal). */
    xg_structure *c[7];
    c[0] = rocksalt(5.64);
    c[1] = cscl(3.2);
    c[2] = rocksalt(5.9);
    shift_and_permute(c[2], 0.137);
    c[3] = tern(1);
    c[4] = tern(2);
    shift_and_permute(c[4], 0.21);
    c[5] = cscl(3.5);
    c[6] = tern(1);
    c[6]->frac[3][0] = 0.35;
    c[6]->frac[3][2] = 0.6;
    xg_dataset *cands = xg_dataset_alloc();
    for (int i = 0; i < 7; i++) {
        snprintf(c[i]->id, sizeof c[i]->id, "cand-%d", i);
        CU_ASSERT_EQUAL_FATAL(xg_dataset_append(cands, c[i], NULL, &err), XG_OK);
    }
    xg_structure *red[7];
    int64_t nfail = -1, dup[7];
    CU_ASSERT_EQUAL_FATAL(xg_novelty_reduce_dataset(cands, NULL, red, &nfail, &err), XG_OK);
    CU_ASSERT_EQUAL(nfail, 0);
    CU_ASSERT_EQUAL(red[4]->natoms, 4); /* the supercell reduced to the primitive cell */
    CU_ASSERT_EQUAL(xg_novelty_unique(red, 7, NULL, dup, &err), XG_OK);
    int64_t want_dup[7] = {-1, -1, 0, -1, 3, 1, -1};
    for (int i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(dup[i], want_dup[i]);

    /* References: ternary supercell (matches 3, 4), CsCl (matches 1, 5), and a KCl. */
    xg_dataset *refs = xg_dataset_alloc();
    xg_structure *r0 = tern(2), *r1 = cscl(3.3), *r2 = cscl(3.3);
    r2->types[0] = 19;
    snprintf(r0->id, sizeof r0->id, "ref-tern");
    snprintf(r1->id, sizeof r1->id, "ref-cscl");
    snprintf(r2->id, sizeof r2->id, "ref-kcl");
    CU_ASSERT_EQUAL(xg_dataset_append(refs, r2, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_dataset_append(refs, r0, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_dataset_append(refs, r1, NULL, &err), XG_OK);
    xg_novelty_index *ix = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_novelty_index_create(NULL, &ix, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_novelty_index_add(ix, refs, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_novelty_index_size(ix), 3);
    int novel[7];
    int64_t matched[7];
    CU_ASSERT_EQUAL(xg_novelty_check(ix, red, 7, novel, matched, &err), XG_OK);
    int want_novel[7] = {1, 0, 1, 0, 0, 0, 1};
    int64_t want_match[7] = {-1, 2, -1, 1, 1, 2, -1};
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_EQUAL(novel[i], want_novel[i]);
        CU_ASSERT_EQUAL(matched[i], want_match[i]);
    }
    CU_ASSERT_STRING_EQUAL(xg_novelty_index_id(ix, 1), "ref-tern");
    CU_ASSERT_STRING_EQUAL(xg_novelty_index_id(ix, 7), "");
    /* Lazy reduction: the KCl reference never shares a composition, so it is never reduced. */
    int64_t nf = -1;
    CU_ASSERT_EQUAL(xg_novelty_index_reduced(ix, &nf), 2);
    CU_ASSERT_EQUAL(nf, 0);
    /* A NULL candidate (failed reduction) is neither novel nor matched. */
    xg_structure *none[1] = {NULL};
    CU_ASSERT_EQUAL(xg_novelty_check(ix, none, 1, novel, matched, &err), XG_OK);
    CU_ASSERT_EQUAL(novel[0], 0);
    CU_ASSERT_EQUAL(matched[0], -1);

    /* A needle pair (3 x 3 x 3000 A) of one formula: the matcher refuses to search, and the
     * crystals are "not assessed" instead of failing the call (issue 14). */
    xg_structure *nd[2], *nred[2];
    for (int k = 0; k < 2; k++) {
        nd[k] = xg_structure_alloc(2);
        nd[k]->lattice[0][0] = nd[k]->lattice[1][1] = 3.0;
        nd[k]->lattice[2][2] = 3000.0;
        nd[k]->types[0] = 26;
        nd[k]->types[1] = 27;
        nd[k]->frac[1][0] = nd[k]->frac[1][1] = 0.5;
        nd[k]->frac[1][2] = 0.0003 + 0.00001 * k;
        snprintf(nd[k]->id, sizeof nd[k]->id, "needle-%d", k);
        CU_ASSERT_EQUAL_FATAL(xg_matcher_reduce(nd[k], NULL, &nred[k], &err), XG_OK);
    }
    int64_t ndup[2];
    CU_ASSERT_EQUAL(xg_novelty_unique(nred, 2, NULL, ndup, &err), XG_OK);
    CU_ASSERT_EQUAL(ndup[0], -1);
    CU_ASSERT_EQUAL(ndup[1], XG_NOVELTY_NOT_ASSESSED);
    xg_dataset *nrefs = xg_dataset_alloc();
    CU_ASSERT_EQUAL(xg_dataset_append(nrefs, nd[0], NULL, &err), XG_OK);
    xg_novelty_index *nix = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_novelty_index_create(NULL, &nix, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_novelty_index_add(nix, nrefs, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_novelty_check(nix, nred, 2, novel, matched, &err), XG_OK);
    CU_ASSERT_EQUAL(novel[0], 0); /* itself: matched at once */
    CU_ASSERT_EQUAL(matched[0], 0);
    CU_ASSERT_EQUAL(novel[1], -1); /* the other needle: not assessed */
    CU_ASSERT_EQUAL(matched[1], -1);
    xg_novelty_index_free(nix);
    xg_dataset_free(nrefs);
    for (int k = 0; k < 2; k++) {
        xg_structure_free(nd[k]);
        xg_structure_free(nred[k]);
    }

    xg_novelty_index_free(ix);
    for (int i = 0; i < 7; i++) {
        xg_structure_free(c[i]);
        xg_structure_free(red[i]);
    }
    xg_structure_free(r0);
    xg_structure_free(r1);
    xg_structure_free(r2);
    xg_dataset_free(refs);
    xg_dataset_free(cands);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"planted duplicates and reference matches", test_unique_and_novel},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("novelty", tests);
}
