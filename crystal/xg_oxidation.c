/* xg_oxidation.c: SMACT-style charge balance (see xg_oxidation.h for the exact rules). */
#include "crystal/xg_oxidation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"

/* A composition reduced to distinct elements in increasing Z with gcd-reduced counts. */
typedef struct {
    int n;
    int z[XG_MAX_Z];
    long count[XG_MAX_Z];
    const xg_element *el[XG_MAX_Z];
} compo;

static long gcd_long(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int compo_build(const int *z, const int *count, int n, compo *c, xg_error *err)
{
    if (n < 1)
        return xg_error_set(err, XG_EINVAL, "%s:%d: empty composition", __FILE__, __LINE__);
    long tot[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < n; i++) {
        if (!xg_element_get(z[i]))
            return xg_error_set(err, XG_EINVAL, "%s:%d: unknown element Z=%d", __FILE__,
                                __LINE__, z[i]);
        if (count[i] <= 0)
            return xg_error_set(err, XG_EINVAL, "%s:%d: count %d of %s is not positive",
                                __FILE__, __LINE__, count[i], xg_element_get(z[i])->symbol);
        tot[z[i]] += count[i];
    }
    long g = 0;
    for (int k = 1; k <= XG_MAX_Z; k++)
        g = gcd_long(g, tot[k]);
    c->n = 0;
    for (int k = 1; k <= XG_MAX_Z; k++)
        if (tot[k]) {
            c->z[c->n] = k;
            c->count[c->n] = tot[k] / g;
            c->el[c->n] = xg_element_get(k);
            c->n++;
        }
    return XG_OK;
}

static int all_metals(const compo *c)
{
    for (int i = 0; i < c->n; i++)
        if (!c->el[i]->is_metal)
            return 0;
    return 1;
}

/* SMACT's eneg_states_test, pair by pair in element order. An undefined electronegativity in
 * a pair that reaches the comparison ends the test as a pass (SMACT's TypeError path). */
static int pauling_ok(const compo *c, const int *ox)
{
    for (int i = 0; i < c->n; i++)
        for (int j = i + 1; j < c->n; j++) {
            double ei = c->el[i]->electronegativity, ej = c->el[j]->electronegativity;
            int cat_an = ox[i] > 0 && ox[j] < 0, an_cat = ox[i] < 0 && ox[j] > 0;
            if (!cat_an && !an_cat)
                continue;
            if (isnan(ei) || isnan(ej))
                return 1;
            if (cat_an && ei >= ej)
                return 0;
            if (an_cat && ei <= ej)
                return 0;
        }
    return 1;
}

/* Enumerates every combination (odometer over each element's state list, last element
 * fastest, like itertools.product). mode 0: stop at the first neutral + Pauling combination
 * (validity). mode 1: keep the best by (Pauling, smallest total |charge|). */
typedef struct {
    int found, found_pauling;
    long best_abs;
    int best[XG_MAX_Z];
} search;

static void enumerate(const compo *c, int mode, search *r)
{
    int idx[XG_MAX_Z] = {0}, ox[XG_MAX_Z];
    memset(r, 0, sizeof *r);
    for (int i = 0; i < c->n; i++)
        if (c->el[i]->n_oxidation_states <= 0)
            return;
    for (;;) {
        long sum = 0, abs_sum = 0;
        for (int i = 0; i < c->n; i++) {
            ox[i] = c->el[i]->oxidation_states[idx[i]];
            sum += ox[i] * c->count[i];
            abs_sum += labs((long)ox[i]) * c->count[i];
        }
        if (sum == 0) {
            int pa = pauling_ok(c, ox);
            if (mode == 0 && pa) {
                r->found = r->found_pauling = 1;
                memcpy(r->best, ox, sizeof(int) * (size_t)c->n);
                return;
            }
            if (mode == 1) {
                int better = !r->found || (pa && !r->found_pauling) ||
                             (pa == r->found_pauling && abs_sum < r->best_abs);
                if (better) {
                    r->found = 1;
                    r->found_pauling = pa;
                    r->best_abs = abs_sum;
                    memcpy(r->best, ox, sizeof(int) * (size_t)c->n);
                }
            }
        }
        int i = c->n - 1;
        while (i >= 0 && ++idx[i] >= c->el[i]->n_oxidation_states) {
            idx[i] = 0;
            i--;
        }
        if (i < 0)
            return;
    }
}

int xg_oxidation_valid_composition(const int *z, const int *count, int n, int *valid,
                                   xg_error *err)
{
    if (!z || !count || !valid)
        return xg_error_set(err, XG_EINVAL, "%s:%d: NULL argument", __FILE__, __LINE__);
    compo c;
    int rc = compo_build(z, count, n, &c, err);
    if (rc)
        return rc;
    if (c.n == 1 || all_metals(&c)) {
        *valid = 1;
        return XG_OK;
    }
    search r;
    enumerate(&c, 0, &r);
    *valid = r.found;
    return XG_OK;
}

/* Composition of a structure as (Z, count) pairs. */
static int structure_compo(const xg_structure *s, compo *c, xg_error *err)
{
    if (!s || s->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "%s:%d: structure '%s' has no atoms", __FILE__,
                            __LINE__, s ? s->id : "");
    int *ones = malloc((size_t)s->natoms * sizeof *ones);
    if (!ones)
        return xg_error_set(err, XG_ENOMEM, "%s:%d: out of memory", __FILE__, __LINE__);
    for (int i = 0; i < s->natoms; i++)
        ones[i] = 1;
    int rc = compo_build(s->types, ones, s->natoms, c, err);
    free(ones);
    if (rc)
        xg_error_prefix(err, "structure '%s': ", s->id);
    return rc;
}

int xg_oxidation_valid_structure(const xg_structure *s, int *valid, xg_error *err)
{
    if (!valid)
        return xg_error_set(err, XG_EINVAL, "%s:%d: NULL argument", __FILE__, __LINE__);
    compo c;
    int rc = structure_compo(s, &c, err);
    if (rc)
        return rc;
    int cnt[XG_MAX_Z];
    for (int i = 0; i < c.n; i++)
        cnt[i] = (int)c.count[i];
    return xg_oxidation_valid_composition(c.z, cnt, c.n, valid, err);
}

int xg_oxidation_assign(const xg_structure *s, int *oxi_per_site, xg_error *err)
{
    if (!oxi_per_site)
        return xg_error_set(err, XG_EINVAL, "%s:%d: NULL argument", __FILE__, __LINE__);
    compo c;
    int rc = structure_compo(s, &c, err);
    if (rc)
        return rc;
    memset(oxi_per_site, 0, (size_t)s->natoms * sizeof *oxi_per_site);
    if (c.n == 1 || all_metals(&c))
        return XG_OK;
    search r;
    enumerate(&c, 1, &r);
    if (!r.found) {
        char f[256];
        if (xg_structure_reduced_formula(s, f, sizeof f))
            snprintf(f, sizeof f, "?");
        return xg_error_set(err, XG_EINVAL,
                            "%s:%d: no charge-balanced assignment of common oxidation states "
                            "for %s ('%s')",
                            __FILE__, __LINE__, f, s->id);
    }
    for (int i = 0; i < s->natoms; i++)
        for (int k = 0; k < c.n; k++)
            if (c.z[k] == s->types[i])
                oxi_per_site[i] = r.best[k];
    return XG_OK;
}
