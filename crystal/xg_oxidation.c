/* xg_oxidation.c: SMACT-style charge balance (see xg_oxidation.h for the exact rules). */
#include "crystal/xg_oxidation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"

/* SMACT's default oxidation states (smact/data/oxidation_states.txt) and its metals list
 * (smact.metals), Z = 1..103: the data CDVAE's smact_validity uses. */
static const struct {
    const char *symbol;
    signed char is_metal, n, ox[10];
} smact_table[104] = {
    {"", 0, 0, {0}},
    {"H", 0, 2, {-1, 1}},
    {"He", 0, 0, {0}},
    {"Li", 1, 1, {1}},
    {"Be", 1, 2, {1, 2}},
    {"B", 0, 3, {1, 2, 3}},
    {"C", 0, 8, {-4, -3, -2, -1, 1, 2, 3, 4}},
    {"N", 0, 8, {-3, -2, -1, 1, 2, 3, 4, 5}},
    {"O", 0, 4, {-2, -1, 1, 2}},
    {"F", 0, 1, {-1}},
    {"Ne", 0, 0, {0}},
    {"Na", 1, 2, {-1, 1}},
    {"Mg", 1, 2, {1, 2}},
    {"Al", 1, 3, {1, 2, 3}},
    {"Si", 0, 8, {-4, -3, -2, -1, 1, 2, 3, 4}},
    {"P", 0, 8, {-3, -2, -1, 1, 2, 3, 4, 5}},
    {"S", 0, 8, {-2, -1, 1, 2, 3, 4, 5, 6}},
    {"Cl", 0, 8, {-1, 1, 2, 3, 4, 5, 6, 7}},
    {"Ar", 0, 0, {0}},
    {"K", 1, 2, {-1, 1}},
    {"Ca", 1, 2, {1, 2}},
    {"Sc", 1, 3, {1, 2, 3}},
    {"Ti", 1, 5, {-1, 1, 2, 3, 4}},
    {"V", 1, 6, {-1, 1, 2, 3, 4, 5}},
    {"Cr", 1, 8, {-2, -1, 1, 2, 3, 4, 5, 6}},
    {"Mn", 1, 10, {-3, -2, -1, 1, 2, 3, 4, 5, 6, 7}},
    {"Fe", 1, 8, {-2, -1, 1, 2, 3, 4, 5, 6}},
    {"Co", 1, 6, {-1, 1, 2, 3, 4, 5}},
    {"Ni", 1, 5, {-1, 1, 2, 3, 4}},
    {"Cu", 1, 4, {1, 2, 3, 4}},
    {"Zn", 1, 2, {1, 2}},
    {"Ga", 1, 3, {1, 2, 3}},
    {"Ge", 1, 8, {-4, -3, -2, -1, 1, 2, 3, 4}},
    {"As", 0, 5, {-3, 1, 2, 3, 5}},
    {"Se", 0, 5, {-2, 1, 2, 4, 6}},
    {"Br", 0, 7, {-1, 1, 2, 3, 4, 5, 7}},
    {"Kr", 0, 1, {2}},
    {"Rb", 1, 2, {-1, 1}},
    {"Sr", 1, 2, {1, 2}},
    {"Y", 1, 3, {1, 2, 3}},
    {"Zr", 1, 4, {1, 2, 3, 4}},
    {"Nb", 1, 6, {-1, 1, 2, 3, 4, 5}},
    {"Mo", 1, 8, {-2, -1, 1, 2, 3, 4, 5, 6}},
    {"Tc", 1, 9, {-3, -1, 1, 2, 3, 4, 5, 6, 7}},
    {"Ru", 1, 9, {-2, 1, 2, 3, 4, 5, 6, 7, 8}},
    {"Rh", 1, 7, {-1, 1, 2, 3, 4, 5, 6}},
    {"Pd", 1, 4, {1, 2, 4, 6}},
    {"Ag", 1, 4, {1, 2, 3, 4}},
    {"Cd", 1, 2, {1, 2}},
    {"In", 1, 3, {1, 2, 3}},
    {"Sn", 1, 3, {-4, 2, 4}},
    {"Sb", 1, 3, {-3, 3, 5}},
    {"Te", 0, 5, {-2, 2, 4, 5, 6}},
    {"I", 0, 6, {-1, 1, 3, 4, 5, 7}},
    {"Xe", 0, 5, {1, 2, 4, 6, 8}},
    {"Cs", 1, 2, {-1, 1}},
    {"Ba", 1, 1, {2}},
    {"La", 1, 2, {2, 3}},
    {"Ce", 1, 3, {2, 3, 4}},
    {"Pr", 1, 3, {2, 3, 4}},
    {"Nd", 1, 3, {2, 3, 4}},
    {"Pm", 0, 2, {2, 3}},
    {"Sm", 1, 2, {2, 3}},
    {"Eu", 1, 2, {2, 3}},
    {"Gd", 1, 3, {1, 2, 3}},
    {"Tb", 1, 4, {1, 2, 3, 4}},
    {"Dy", 1, 3, {2, 3, 4}},
    {"Ho", 1, 2, {2, 3}},
    {"Er", 1, 2, {2, 3}},
    {"Tm", 1, 2, {2, 3}},
    {"Yb", 1, 2, {2, 3}},
    {"Lu", 1, 1, {3}},
    {"Hf", 1, 3, {2, 3, 4}},
    {"Ta", 1, 5, {-1, 2, 3, 4, 5}},
    {"W", 1, 8, {-2, -1, 1, 2, 3, 4, 5, 6}},
    {"Re", 1, 9, {-3, -1, 1, 2, 3, 4, 5, 6, 7}},
    {"Os", 1, 10, {-2, -1, 1, 2, 3, 4, 5, 6, 7, 8}},
    {"Ir", 1, 10, {-2, -1, 1, 2, 3, 4, 5, 6, 7, 8}},
    {"Pt", 1, 8, {-2, -1, 1, 2, 3, 4, 5, 6}},
    {"Au", 1, 5, {-1, 1, 2, 3, 5}},
    {"Hg", 1, 3, {1, 2, 4}},
    {"Tl", 1, 3, {-1, 1, 3}},
    {"Pb", 1, 3, {-4, 2, 4}},
    {"Bi", 1, 5, {-3, 1, 3, 5, 7}},
    {"Po", 1, 5, {-2, 2, 4, 5, 6}},
    {"At", 0, 5, {-1, 1, 3, 5, 7}},
    {"Rn", 0, 2, {2, 6}},
    {"Fr", 1, 1, {1}},
    {"Ra", 1, 1, {2}},
    {"Ac", 1, 2, {2, 3}},
    {"Th", 1, 3, {2, 3, 4}},
    {"Pa", 1, 4, {2, 3, 4, 5}},
    {"U", 1, 5, {2, 3, 4, 5, 6}},
    {"Np", 1, 5, {3, 4, 5, 6, 7}},
    {"Pu", 1, 6, {3, 4, 5, 6, 7, 8}},
    {"Am", 1, 6, {2, 3, 4, 5, 6, 7}},
    {"Cm", 1, 5, {2, 3, 4, 6, 8}},
    {"Bk", 1, 3, {2, 3, 4}},
    {"Cf", 1, 3, {2, 3, 4}},
    {"Es", 1, 3, {2, 3, 4}},
    {"Fm", 1, 2, {2, 3}},
    {"Md", 1, 2, {2, 3}},
    {"No", 1, 2, {2, 3}},
    {"Lr", 0, 1, {3}},
};

/* A composition reduced to distinct elements in increasing Z with gcd-reduced counts. */
typedef struct {
    int n;
    int z[XG_MAX_Z];
    long count[XG_MAX_Z];
    const xg_element *el[XG_MAX_Z];
    int nox[XG_MAX_Z];     /* the state list in use for each element */
    int ox[XG_MAX_Z][10];
    int metal[XG_MAX_Z];
} compo;

/* Which state lists to use: SMACT's (validity, as CDVAE) or the element table's common states
 * (the plausible assignment). */
enum { STATES_SMACT, STATES_COMMON };

static void compo_use_states(compo *c, int which)
{
    for (int i = 0; i < c->n; i++) {
        if (which == STATES_SMACT) {
            c->nox[i] = smact_table[c->z[i]].n;
            for (int k = 0; k < c->nox[i]; k++)
                c->ox[i][k] = smact_table[c->z[i]].ox[k];
            c->metal[i] = smact_table[c->z[i]].is_metal;
        } else {
            c->nox[i] = c->el[i]->n_oxidation_states < 10 ? c->el[i]->n_oxidation_states : 10;
            for (int k = 0; k < c->nox[i]; k++)
                c->ox[i][k] = c->el[i]->oxidation_states[k];
            c->metal[i] = c->el[i]->is_metal;
        }
    }
}

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
        return xg_error_set(err, XG_EINVAL, "oxidation states: empty composition");
    long tot[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < n; i++) {
        if (!xg_element_get(z[i]))
            return xg_error_set(err, XG_EINVAL, "unknown element Z=%d", z[i]);
        if (count[i] <= 0)
            return xg_error_set(err, XG_EINVAL, "count %d of %s is not positive",
                                count[i], xg_element_get(z[i])->symbol);
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
        if (!c->metal[i])
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
        if (c->nox[i] <= 0)
            return;
    for (;;) {
        long sum = 0, abs_sum = 0;
        for (int i = 0; i < c->n; i++) {
            ox[i] = c->ox[i][idx[i]];
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
        while (i >= 0 && ++idx[i] >= c->nox[i]) {
            idx[i] = 0;
            i--;
        }
        if (i < 0)
            return;
    }
}

/* Existence search for validity: depth-first over the elements in order of electronegativity,
 * pruning a branch when the charge still reachable cannot bring the sum back to zero and, when
 * every element has an electronegativity, as soon as a chosen cation is not less
 * electronegative than a chosen anion (pauling_ok's rule; an element without one makes
 * pauling_ok accept the whole assignment, so no partial pruning is sound then). It visits the
 * same assignments as enumerate() minus branches that cannot succeed, so the verdict is the
 * same, but a 19-element crystal from an untrained model takes milliseconds instead of the
 * hours the full product of state lists would. The node cap only guards absurd inputs. */
#define XG_OXI_NODE_CAP 50000000L

typedef struct {
    const compo *c;
    int order[XG_MAX_Z];
    long minrest[XG_MAX_Z + 1], maxrest[XG_MAX_Z + 1];
    int ox[XG_MAX_Z];
    int prune_pauling;
    long nodes;
    int capped;
} dfs_ctx;

static int dfs(dfs_ctx *d, int depth, long sum, double max_cat, double min_an)
{
    const compo *c = d->c;
    if (++d->nodes > XG_OXI_NODE_CAP) {
        d->capped = 1;
        return 0;
    }
    if (sum + d->minrest[depth] > 0 || sum + d->maxrest[depth] < 0)
        return 0;
    if (depth == c->n)
        return sum == 0 && pauling_ok(c, d->ox);
    int i = d->order[depth];
    double e = c->el[i]->electronegativity;
    for (int k = 0; k < c->nox[i]; k++) {
        int o = c->ox[i][k];
        double mc = max_cat, ma = min_an;
        if (d->prune_pauling) {
            if (o > 0) {
                if (e >= min_an)
                    continue;
                mc = fmax(mc, e);
            } else if (o < 0) {
                if (e <= max_cat)
                    continue;
                ma = fmin(ma, e);
            }
        }
        d->ox[i] = o;
        if (dfs(d, depth + 1, sum + (long)o * c->count[i], mc, ma))
            return 1;
        if (d->capped)
            return 0;
    }
    return 0;
}

static int search_valid(const compo *c)
{
    dfs_ctx d;
    memset(&d, 0, sizeof d);
    d.c = c;
    d.prune_pauling = 1;
    for (int i = 0; i < c->n; i++) {
        if (c->nox[i] <= 0)
            return 0;
        d.order[i] = i;
        if (isnan(c->el[i]->electronegativity))
            d.prune_pauling = 0;
    }
    /* insertion sort by electronegativity (NaN last): cations come first in a valid pattern */
    for (int a = 1; a < c->n; a++)
        for (int b = a; b > 0; b--) {
            double x = c->el[d.order[b - 1]]->electronegativity;
            double y = c->el[d.order[b]]->electronegativity;
            if (!(isnan(x) && !isnan(y)) && !(x > y))
                break;
            int t = d.order[b - 1];
            d.order[b - 1] = d.order[b];
            d.order[b] = t;
        }
    for (int k = c->n - 1; k >= 0; k--) {
        int i = d.order[k];
        long lo = 0, hi = 0;
        for (int s = 0; s < c->nox[i]; s++) {
            long v = (long)c->ox[i][s] * c->count[i];
            if (s == 0 || v < lo)
                lo = v;
            if (s == 0 || v > hi)
                hi = v;
        }
        d.minrest[k] = d.minrest[k + 1] + lo;
        d.maxrest[k] = d.maxrest[k + 1] + hi;
    }
    return dfs(&d, 0, 0, -INFINITY, INFINITY);
}

int xg_oxidation_valid_composition(const int *z, const int *count, int n, int *valid,
                                   xg_error *err)
{
    if (!z || !count || !valid)
        return xg_error_set(err, XG_EINVAL, "oxidation states: NULL argument");
    compo c;
    int rc = compo_build(z, count, n, &c, err);
    if (rc)
        return rc;
    compo_use_states(&c, STATES_SMACT);
    if (c.n == 1 || all_metals(&c)) {
        *valid = 1;
        return XG_OK;
    }
    *valid = search_valid(&c);
    return XG_OK;
}

/* Composition of a structure as (Z, count) pairs. */
static int structure_compo(const xg_structure *s, compo *c, xg_error *err)
{
    if (!s || s->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "structure '%s' has no atoms", s ? s->id : "");
    int *ones = malloc((size_t)s->natoms * sizeof *ones);
    if (!ones)
        return xg_error_set(err, XG_ENOMEM, "oxidation states: out of memory");
    for (int i = 0; i < s->natoms; i++)
        ones[i] = 1;
    int rc = compo_build(s->types, ones, s->natoms, c, err);
    free(ones);
    if (rc)
        xg_error_prefix(err, rc, "structure '%s': ", s->id);
    return rc;
}

int xg_oxidation_valid_structure(const xg_structure *s, int *valid, xg_error *err)
{
    if (!valid)
        return xg_error_set(err, XG_EINVAL, "oxidation states: NULL argument");
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
        return xg_error_set(err, XG_EINVAL, "oxidation states: NULL argument");
    compo c;
    int rc = structure_compo(s, &c, err);
    if (rc)
        return rc;
    memset(oxi_per_site, 0, (size_t)s->natoms * sizeof *oxi_per_site);
    compo_use_states(&c, STATES_COMMON);
    if (c.n == 1 || all_metals(&c))
        return XG_OK;
    search r;
    enumerate(&c, 1, &r);
    if (!r.found) {
        /* Mixed or unusual valence: SMACT's longer list may still balance the formula. */
        compo_use_states(&c, STATES_SMACT);
        enumerate(&c, 1, &r);
    }
    if (!r.found) {
        char f[256];
        if (xg_structure_reduced_formula(s, f, sizeof f))
            snprintf(f, sizeof f, "?");
        return xg_error_set(err, XG_EINVAL,
                            "no charge-balanced assignment of common oxidation states "
                            "for %s ('%s')",
                            f, s->id);
    }
    for (int i = 0; i < s->natoms; i++)
        for (int k = 0; k < c.n; k++)
            if (c.z[k] == s->types[i])
                oxi_per_site[i] = r.best[k];
    return XG_OK;
}
