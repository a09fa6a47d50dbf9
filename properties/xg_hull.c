/* xg_hull.c: the lower convex hull of formation energy, queried as one small linear program per
 * composition (see xg_hull.h for the definition and the sign convention).
 *
 * Why a linear program: h(c) = min sum x_j e_j subject to sum x_j c_j = c, x >= 0 is exactly the
 * lower hull evaluated at c, in any number of elements, with degenerate and collinear entries
 * handled for free, and the optimal basis is the decomposition. The rows are the k elements of
 * the query (k <= XG_HULL_MAX_ELEMENTS, usually 2..5) and the columns the entries of its
 * subsystems, so a revised simplex keeping the k x k basis inverse is cheap. The pure elements at
 * zero energy form an identity basis that is feasible from the start (x = c), so no phase one is
 * needed. Dantzig's rule picks the entering column, switching to Bland's rule after a run of
 * degenerate pivots so the method cannot cycle. */
#include "properties/xg_hull.h"
#include "crystal/xg_h5util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_h5util.h"

#define HULL_FORMAT "xtalgen-hull"
#define HULL_VERSION 1
#define FORMULA_MAX_DEPTH 16

/* Simplex tolerances. Compositions are atom fractions (order 0.01..1) and energies are a few
 * eV/atom, so round-off sits near 1e-15; these are far above that and far below any physical
 * energy difference. */
#define TOL_REDUCED_COST 1e-11 /* eV/atom: a column improves the objective only below -this */
#define TOL_PIVOT 1e-9         /* a pivot element must exceed this */
#define TOL_ZERO 1e-12         /* basic values below this are zero */

typedef struct {
    uint64_t w[2]; /* bit z-1 of the 128-bit set, z = 1..103 */
} elmask;

struct xg_hull {
    int64_t n, cap;
    xg_hull_comp *comp; /* amounts as given (reduced when integral) */
    double *total;      /* sum of amounts, to turn them into fractions */
    double *e;          /* formation energy, eV/atom */
    char (*id)[XG_HULL_ID_LEN];
    elmask *mask;
    int finalized;
    /* The index: entries are sorted by chemical system, group g holds entries
     * gstart[g] .. gstart[g+1]-1, all with element set gmask[g]. */
    int64_t ngroups;
    elmask *gmask;
    int64_t *gstart;
};

/* ---------------------------------------------------------------- compositions */

static elmask comp_mask(const xg_hull_comp *c)
{
    elmask m = {{0, 0}};
    for (int i = 0; i < c->nel; i++) {
        int b = c->z[i] - 1;
        m.w[b >> 6] |= (uint64_t)1 << (b & 63);
    }
    return m;
}

static int mask_cmp(elmask a, elmask b)
{
    if (a.w[1] != b.w[1])
        return a.w[1] < b.w[1] ? -1 : 1;
    if (a.w[0] != b.w[0])
        return a.w[0] < b.w[0] ? -1 : 1;
    return 0;
}

/* Checks that c is well formed: elements strictly ascending in 1..XG_MAX_Z, amounts positive and
 * finite. Everything here trusts a composition only after this. */
static int comp_check(const xg_hull_comp *c, xg_error *err)
{
    if (!c)
        return xg_error_set(err, XG_EINVAL, "xg_hull: composition is NULL");
    if (c->nel < 1 || c->nel > XG_HULL_MAX_ELEMENTS)
        return xg_error_set(err, XG_EINVAL,
                            "xg_hull: a composition needs 1..%d elements, got %d",
                            XG_HULL_MAX_ELEMENTS, c->nel);
    for (int i = 0; i < c->nel; i++) {
        if (c->z[i] < 1 || c->z[i] > XG_MAX_Z)
            return xg_error_set(err, XG_EINVAL, "xg_hull: atomic number %d outside 1..%d",
                                c->z[i], XG_MAX_Z);
        if (i > 0 && c->z[i] <= c->z[i - 1])
            return xg_error_set(err, XG_EINVAL,
                                "xg_hull: composition elements must be distinct and ascending");
        if (!isfinite(c->amount[i]) || c->amount[i] <= 0)
            return xg_error_set(err, XG_EINVAL, "xg_hull: amount %g of element %d is not positive",
                                c->amount[i], c->z[i]);
    }
    return XG_OK;
}

/* Builds a composition from per-element amounts counts[1..XG_MAX_Z]. */
static int comp_from_counts(const double *counts, xg_hull_comp *c, const char *what, xg_error *err)
{
    memset(c, 0, sizeof *c);
    for (int z = 1; z <= XG_MAX_Z; z++) {
        if (counts[z] == 0)
            continue;
        if (!isfinite(counts[z]) || counts[z] < 0)
            return xg_error_set(err, XG_EPARSE, "%s: amount of element %d is not a positive number",
                                what, z);
        if (c->nel == XG_HULL_MAX_ELEMENTS)
            return xg_error_set(err, XG_EUNSUPPORTED, "%s: more than %d distinct elements", what,
                                XG_HULL_MAX_ELEMENTS);
        c->z[c->nel] = z;
        c->amount[c->nel] = counts[z];
        c->nel++;
    }
    if (c->nel == 0)
        return xg_error_set(err, XG_EPARSE, "%s: no elements", what);
    return XG_OK;
}

double xg_hull_comp_fraction(const xg_hull_comp *c, int z)
{
    double tot = 0, a = 0;
    for (int i = 0; i < c->nel; i++) {
        tot += c->amount[i];
        if (c->z[i] == z)
            a = c->amount[i];
    }
    return tot > 0 ? a / tot : 0;
}

static long long gcd_ll(long long a, long long b)
{
    while (b) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void xg_hull_comp_reduce(xg_hull_comp *c)
{
    long long g = 0;
    for (int i = 0; i < c->nel; i++) {
        double a = c->amount[i];
        if (!(a >= 1 && a <= 1e12) || fabs(a - nearbyint(a)) > 1e-9)
            return; /* not all integers: leave alone */
        g = gcd_ll((long long)nearbyint(a), g);
    }
    if (g > 1)
        for (int i = 0; i < c->nel; i++)
            c->amount[i] = (double)((long long)nearbyint(c->amount[i]) / g);
}

int xg_hull_comp_from_types(const int *types, int n, xg_hull_comp *c, xg_error *err)
{
    if (!types || n < 1 || !c)
        return xg_error_set(err, XG_EINVAL, "xg_hull_comp_from_types: no atoms");
    double counts[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < n; i++) {
        if (types[i] < 1 || types[i] > XG_MAX_Z)
            return xg_error_set(err, XG_EINVAL,
                                "xg_hull_comp_from_types: atom %d has atomic number %d outside 1..%d",
                                i, types[i], XG_MAX_Z);
        counts[types[i]] += 1;
    }
    return comp_from_counts(counts, c, "xg_hull_comp_from_types", err);
}

/* Formula grammar: seq := (element number? | open seq close number?)* with whitespace allowed
 * between tokens. p points into the whole formula so messages can give the column. */
typedef struct {
    const char *start;
    const char *p;
    xg_error *err;
} formula_parser;

static void skip_space(formula_parser *fp)
{
    while (*fp->p == ' ' || *fp->p == '\t')
        fp->p++;
}

/* An optional multiplier; 1 when none. Returns -1 on a malformed number. */
static double parse_multiplier(formula_parser *fp)
{
    if (!isdigit((unsigned char)*fp->p) && *fp->p != '.')
        return 1;
    const char *s = fp->p;
    while (isdigit((unsigned char)*fp->p))
        fp->p++;
    if (*fp->p == '.') {
        fp->p++;
        while (isdigit((unsigned char)*fp->p))
            fp->p++;
    }
    char buf[64];
    size_t len = (size_t)(fp->p - s);
    if (len == 0 || len >= sizeof buf || (len == 1 && *s == '.'))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno || !isfinite(v) || v <= 0 || v > 1e9)
        return -1;
    return v;
}

static int parse_seq(formula_parser *fp, double *counts, int depth, char close)
{
    if (depth > FORMULA_MAX_DEPTH)
        return xg_error_set(fp->err, XG_EPARSE, "formula '%s': brackets nested deeper than %d",
                            fp->start, FORMULA_MAX_DEPTH);
    for (;;) {
        skip_space(fp);
        char ch = *fp->p;
        int col = (int)(fp->p - fp->start) + 1;
        if (ch == '\0') {
            if (close)
                return xg_error_set(fp->err, XG_EPARSE, "formula '%s': missing '%c'", fp->start,
                                    close);
            return XG_OK;
        }
        if (ch == close) {
            fp->p++;
            return XG_OK;
        }
        if (ch == '(' || ch == '[' || ch == '{') {
            char want = ch == '(' ? ')' : ch == '[' ? ']' : '}';
            double sub[XG_MAX_Z + 1] = {0};
            fp->p++;
            int rc = parse_seq(fp, sub, depth + 1, want);
            if (rc)
                return rc;
            double mult = parse_multiplier(fp);
            if (mult < 0)
                return xg_error_set(fp->err, XG_EPARSE, "formula '%s': bad number at column %d",
                                    fp->start, (int)(fp->p - fp->start) + 1);
            int any = 0;
            for (int z = 1; z <= XG_MAX_Z; z++) {
                counts[z] += mult * sub[z];
                any |= sub[z] > 0;
            }
            if (!any)
                return xg_error_set(fp->err, XG_EPARSE, "formula '%s': empty brackets at column %d",
                                    fp->start, col);
            continue;
        }
        if (isupper((unsigned char)ch)) {
            char sym[4] = {ch, 0, 0, 0};
            fp->p++;
            int nl = 0;
            while (islower((unsigned char)*fp->p)) {
                if (nl < 2)
                    sym[1 + nl] = *fp->p;
                nl++;
                fp->p++;
            }
            int z = nl <= 2 ? xg_element_from_symbol(sym) : 0;
            if (z < 1 || z > XG_MAX_Z)
                return xg_error_set(fp->err, XG_EPARSE,
                                    "formula '%s': unknown element symbol at column %d", fp->start,
                                    col);
            double mult = parse_multiplier(fp);
            if (mult < 0)
                return xg_error_set(fp->err, XG_EPARSE, "formula '%s': bad number at column %d",
                                    fp->start, (int)(fp->p - fp->start) + 1);
            counts[z] += mult;
            continue;
        }
        if (ch == ')' || ch == ']' || ch == '}')
            return xg_error_set(fp->err, XG_EPARSE, "formula '%s': unbalanced '%c' at column %d",
                                fp->start, ch, col);
        return xg_error_set(fp->err, XG_EPARSE, "formula '%s': unexpected character at column %d",
                            fp->start, col);
    }
}

int xg_hull_comp_parse(const char *formula, xg_hull_comp *c, xg_error *err)
{
    if (!formula || !c)
        return xg_error_set(err, XG_EINVAL, "xg_hull_comp_parse: NULL argument");
    if (strlen(formula) > 4096)
        return xg_error_set(err, XG_EPARSE, "formula of %zu characters is too long",
                            strlen(formula));
    double counts[XG_MAX_Z + 1] = {0};
    formula_parser fp = {formula, formula, err};
    int rc = parse_seq(&fp, counts, 0, 0);
    if (rc)
        return rc;
    char what[128];
    snprintf(what, sizeof what, "formula '%.80s'", formula);
    return comp_from_counts(counts, c, what, err);
}

static double electroneg(int z)
{
    const xg_element *el = xg_element_get(z);
    return el && isfinite(el->electronegativity) ? el->electronegativity : INFINITY;
}

int xg_hull_comp_format(const xg_hull_comp *c, char *buf, size_t n, xg_error *err)
{
    int rc = comp_check(c, err);
    if (rc)
        return rc;
    if (!buf || n == 0)
        return xg_error_set(err, XG_EINVAL, "xg_hull_comp_format: no buffer");
    int order[XG_HULL_MAX_ELEMENTS];
    for (int i = 0; i < c->nel; i++)
        order[i] = i;
    for (int i = 1; i < c->nel; i++) { /* insertion sort: at most 16 elements */
        int t = order[i], j = i;
        while (j > 0) {
            double xa = electroneg(c->z[order[j - 1]]), xb = electroneg(c->z[t]);
            if (xa < xb || (xa == xb && c->z[order[j - 1]] < c->z[t]))
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = t;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < c->nel; i++) {
        const xg_element *el = xg_element_get(c->z[order[i]]);
        double a = c->amount[order[i]];
        int w;
        if (fabs(a - 1) < 1e-12)
            w = snprintf(buf + used, n - used, "%s", el ? el->symbol : "?");
        else
            w = snprintf(buf + used, n - used, "%s%.6g", el ? el->symbol : "?", a);
        if (w < 0 || (size_t)w >= n - used)
            return xg_error_set(err, XG_EINVAL, "xg_hull_comp_format: buffer of %zu bytes too small",
                                n);
        used += (size_t)w;
    }
    return XG_OK;
}

/* ---------------------------------------------------------------- the reference set */

xg_hull *xg_hull_alloc(void)
{
    return calloc(1, sizeof(xg_hull));
}

void xg_hull_free(xg_hull *h)
{
    if (!h)
        return;
    free(h->comp);
    free(h->total);
    free(h->e);
    free(h->id);
    free(h->mask);
    free(h->gmask);
    free(h->gstart);
    free(h);
}

static int hull_reserve(xg_hull *h, int64_t need, xg_error *err)
{
    if (need <= h->cap)
        return XG_OK;
    int64_t cap = h->cap ? h->cap : 256;
    while (cap < need)
        cap *= 2;
    xg_hull_comp *comp = realloc(h->comp, (size_t)cap * sizeof *comp);
    if (comp)
        h->comp = comp;
    double *total = realloc(h->total, (size_t)cap * sizeof *total);
    if (total)
        h->total = total;
    double *e = realloc(h->e, (size_t)cap * sizeof *e);
    if (e)
        h->e = e;
    char(*id)[XG_HULL_ID_LEN] = realloc(h->id, (size_t)cap * sizeof *id);
    if (id)
        h->id = id;
    elmask *mask = realloc(h->mask, (size_t)cap * sizeof *mask);
    if (mask)
        h->mask = mask;
    if (!comp || !total || !e || !id || !mask)
        return xg_error_set(err, XG_ENOMEM, "xg_hull: out of memory for %lld entries",
                            (long long)cap);
    h->cap = cap;
    return XG_OK;
}

int xg_hull_add(xg_hull *h, const xg_hull_comp *c, double e_form, const char *id, xg_error *err)
{
    if (!h)
        return xg_error_set(err, XG_EINVAL, "xg_hull_add: hull is NULL");
    if (h->finalized)
        return xg_error_set(err, XG_EINVAL, "xg_hull_add: the hull is finalized (read-only)");
    int rc = comp_check(c, err);
    if (rc)
        return xg_error_prefix(err, rc, "entry %s: ", id ? id : "(no id)");
    if (!isfinite(e_form))
        return xg_error_set(err, XG_EINVAL, "xg_hull_add: entry %s: formation energy is not finite",
                            id ? id : "(no id)");
    if ((rc = hull_reserve(h, h->n + 1, err)))
        return rc;
    int64_t i = h->n++;
    h->comp[i] = *c;
    xg_hull_comp_reduce(&h->comp[i]);
    double tot = 0;
    for (int k = 0; k < c->nel; k++)
        tot += h->comp[i].amount[k];
    h->total[i] = tot;
    h->e[i] = e_form;
    memset(h->id[i], 0, XG_HULL_ID_LEN);
    if (id)
        snprintf(h->id[i], XG_HULL_ID_LEN, "%s", id);
    h->mask[i] = comp_mask(c);
    return XG_OK;
}

int xg_hull_add_dataset(xg_hull *h, const xg_dataset *ds, const char *prop, int64_t *added,
                        xg_error *err)
{
    if (added)
        *added = 0;
    if (!h || !ds || !prop)
        return xg_error_set(err, XG_EINVAL, "xg_hull_add_dataset: NULL argument");
    int p = xg_dataset_find_property(ds, prop);
    if (p < 0)
        return xg_error_set(err, XG_EINVAL, "xg_hull_add_dataset: the dataset has no property '%s'",
                            prop);
    int64_t count = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        double e = ds->props[i * ds->nprops + p];
        if (isnan(e))
            continue; /* missing is missing: not an entry at zero */
        int64_t a = ds->offsets[i], b = ds->offsets[i + 1];
        if (a < 0 || b <= a || b > ds->m)
            return xg_error_set(err, XG_EINVAL, "xg_hull_add_dataset: structure %lld has bad offsets",
                                (long long)i);
        double counts[XG_MAX_Z + 1] = {0};
        for (int64_t k = a; k < b; k++) {
            int z = ds->types[k];
            if (z < 1 || z > XG_MAX_Z)
                return xg_error_set(err, XG_EINVAL,
                                    "xg_hull_add_dataset: structure %s has atomic number %d",
                                    ds->ids[i], z);
            counts[z] += 1;
        }
        xg_hull_comp c;
        int rc = comp_from_counts(counts, &c, ds->ids[i], err);
        if (!rc)
            rc = xg_hull_add(h, &c, e, ds->ids[i], err);
        if (rc)
            return rc;
        count++;
    }
    if (added)
        *added = count;
    return XG_OK;
}

xg_hull_options xg_hull_default_options(void)
{
    xg_hull_options o = {0, 1e-9};
    return o;
}

int64_t xg_hull_size(const xg_hull *h)
{
    return h ? h->n : 0;
}

int xg_hull_entry(const xg_hull *h, int64_t i, xg_hull_comp *c, double *e_form, const char **id,
                  xg_error *err)
{
    if (!h || i < 0 || i >= h->n)
        return xg_error_set(err, XG_EINVAL, "xg_hull_entry: index %lld outside 0..%lld",
                            (long long)i, (long long)(h ? h->n - 1 : -1));
    if (c)
        *c = h->comp[i];
    if (e_form)
        *e_form = h->e[i];
    if (id)
        *id = h->id[i];
    return XG_OK;
}

/* Sort order of finalize: chemical system, then composition (as fractions), then energy, so
 * duplicates are adjacent and the lowest energy of a composition comes first. */
typedef struct {
    elmask mask;
    int nel;
    double frac[XG_HULL_MAX_ELEMENTS];
    double e;
    int64_t idx;
} sort_key;

static int sort_key_cmp(const void *pa, const void *pb)
{
    const sort_key *a = pa, *b = pb;
    int c = mask_cmp(a->mask, b->mask);
    if (c)
        return c;
    for (int i = 0; i < a->nel; i++) /* same mask: same elements, same nel */
        if (a->frac[i] != b->frac[i])
            return a->frac[i] < b->frac[i] ? -1 : 1;
    if (a->e != b->e)
        return a->e < b->e ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int same_comp(const sort_key *a, const sort_key *b)
{
    if (mask_cmp(a->mask, b->mask))
        return 0;
    for (int i = 0; i < a->nel; i++)
        if (fabs(a->frac[i] - b->frac[i]) > 1e-12)
            return 0;
    return 1;
}

/* Keeps the entries listed in keep[0..nk-1] (ascending source order) and rebuilds the index. */
static int hull_compact_and_index(xg_hull *h, const int64_t *keep, int64_t nk, xg_error *err)
{
    for (int64_t j = 0; j < nk; j++) {
        int64_t i = keep[j];
        if (i == j)
            continue;
        h->comp[j] = h->comp[i];
        h->total[j] = h->total[i];
        h->e[j] = h->e[i];
        memcpy(h->id[j], h->id[i], XG_HULL_ID_LEN);
        h->mask[j] = h->mask[i];
    }
    h->n = nk;
    free(h->gmask);
    free(h->gstart);
    h->gmask = NULL;
    h->gstart = NULL;
    h->ngroups = 0;
    int64_t ng = 0;
    for (int64_t i = 0; i < nk; i++)
        if (i == 0 || mask_cmp(h->mask[i], h->mask[i - 1]))
            ng++;
    h->gmask = malloc((size_t)(ng > 0 ? ng : 1) * sizeof *h->gmask);
    h->gstart = malloc((size_t)(ng + 1) * sizeof *h->gstart);
    if (!h->gmask || !h->gstart)
        return xg_error_set(err, XG_ENOMEM, "xg_hull: out of memory for the index");
    int64_t g = 0;
    for (int64_t i = 0; i < nk; i++) {
        if (i == 0 || mask_cmp(h->mask[i], h->mask[i - 1])) {
            h->gmask[g] = h->mask[i];
            h->gstart[g] = i;
            g++;
        }
    }
    h->gstart[ng] = nk;
    h->ngroups = ng;
    return XG_OK;
}

/* Sorts by chemical system (and composition, energy) and, unless keep_all, drops duplicate
 * compositions other than the lowest. */
static int hull_sort(xg_hull *h, int dedupe, xg_error *err)
{
    if (h->n == 0)
        return hull_compact_and_index(h, NULL, 0, err);
    sort_key *keys = malloc((size_t)h->n * sizeof *keys);
    int64_t *keep = malloc((size_t)h->n * sizeof *keep);
    xg_hull *tmp = xg_hull_alloc();
    int rc = XG_OK;
    if (!keys || !keep || !tmp) {
        rc = xg_error_set(err, XG_ENOMEM, "xg_hull: out of memory sorting %lld entries",
                          (long long)h->n);
        goto done;
    }
    for (int64_t i = 0; i < h->n; i++) {
        keys[i].mask = h->mask[i];
        keys[i].nel = h->comp[i].nel;
        for (int k = 0; k < h->comp[i].nel; k++)
            keys[i].frac[k] = h->comp[i].amount[k] / h->total[i];
        keys[i].e = h->e[i];
        keys[i].idx = i;
    }
    qsort(keys, (size_t)h->n, sizeof *keys, sort_key_cmp);
    /* Permute into a fresh copy in sorted order. */
    if ((rc = hull_reserve(tmp, h->n, err)))
        goto done;
    int64_t nk = 0;
    for (int64_t j = 0; j < h->n; j++) {
        if (dedupe && j > 0 && same_comp(&keys[j], &keys[j - 1]))
            continue;
        int64_t i = keys[j].idx;
        tmp->comp[nk] = h->comp[i];
        tmp->total[nk] = h->total[i];
        tmp->e[nk] = h->e[i];
        memcpy(tmp->id[nk], h->id[i], XG_HULL_ID_LEN);
        tmp->mask[nk] = h->mask[i];
        keep[nk] = nk;
        nk++;
    }
    /* Swap the sorted arrays in. */
    xg_hull_comp *c = h->comp;
    double *t = h->total, *e = h->e;
    char(*id)[XG_HULL_ID_LEN] = h->id;
    elmask *m = h->mask;
    int64_t cap = h->cap;
    h->comp = tmp->comp;
    h->total = tmp->total;
    h->e = tmp->e;
    h->id = tmp->id;
    h->mask = tmp->mask;
    h->cap = tmp->cap;
    tmp->comp = c;
    tmp->total = t;
    tmp->e = e;
    tmp->id = id;
    tmp->mask = m;
    tmp->cap = cap;
    h->n = nk;
    rc = hull_compact_and_index(h, keep, nk, err);
done:
    free(keys);
    free(keep);
    xg_hull_free(tmp);
    return rc;
}

int xg_hull_finalize(xg_hull *h, const xg_hull_options *opts, xg_error *err)
{
    if (!h)
        return xg_error_set(err, XG_EINVAL, "xg_hull_finalize: hull is NULL");
    if (h->finalized)
        return XG_OK;
    xg_hull_options o = opts ? *opts : xg_hull_default_options();
    if (!isfinite(o.prune_tol) || o.prune_tol < 0)
        return xg_error_set(err, XG_EINVAL, "xg_hull_finalize: prune tolerance %g is not >= 0",
                            o.prune_tol);
    int rc = hull_sort(h, !o.keep_all, err);
    if (rc)
        return rc;
    h->finalized = 1; /* queries below need the index */
    if (o.keep_all || h->n == 0)
        return XG_OK;

    /* Prune: an entry above the hull of the set never lowers h(c) for any c (replacing it by its
     * own decomposition costs no more), so dropping it changes no answer. */
    int64_t n = h->n;
    unsigned char *on = calloc((size_t)n, 1);
    int64_t *keep = malloc((size_t)n * sizeof *keep);
    if (!on || !keep) {
        free(on);
        free(keep);
        h->finalized = 0;
        return xg_error_set(err, XG_ENOMEM, "xg_hull: out of memory pruning");
    }
    int failed = 0;
    xg_error first;
    xg_error_clear(&first);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 64)
#endif
    for (int64_t i = 0; i < n; i++) {
        if (h->comp[i].nel == 1) {
            on[i] = h->e[i] < -o.prune_tol; /* else the implicit element at zero covers it */
            continue;
        }
        if (h->e[i] >= 0)
            continue; /* the elements at zero are at least as low */
        double hull_e;
        xg_error e1;
        if (xg_hull_energy(h, &h->comp[i], NULL, &hull_e, NULL, &e1)) {
#ifdef _OPENMP
#pragma omp critical(xg_hull_prune_err)
#endif
            {
                if (!failed)
                    first = e1;
                failed = 1;
            }
            continue;
        }
        on[i] = h->e[i] - hull_e <= o.prune_tol;
    }
    if (failed) {
        free(on);
        free(keep);
        h->finalized = 0;
        if (err)
            *err = first;
        return first.code ? first.code : XG_ENUMERIC;
    }
    int64_t nk = 0;
    for (int64_t i = 0; i < n; i++)
        if (on[i])
            keep[nk++] = i;
    rc = hull_compact_and_index(h, keep, nk, err);
    free(on);
    free(keep);
    return rc;
}

/* ---------------------------------------------------------------- the linear program */

/* Binary search of the group with exactly mask m; -1 if none. */
static int64_t find_group(const xg_hull *h, elmask m)
{
    int64_t lo = 0, hi = h->ngroups - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = mask_cmp(h->gmask[mid], m);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Appends group g's entries (minus the excluded id) to cols; cols has room for h->n. */
static int64_t take_group(const xg_hull *h, int64_t g, const char *exclude_id, int64_t *cols,
                          int64_t nc)
{
    for (int64_t i = h->gstart[g]; i < h->gstart[g + 1]; i++) {
        if (exclude_id && strncmp(h->id[i], exclude_id, XG_HULL_ID_LEN) == 0)
            continue;
        cols[nc++] = i;
    }
    return nc;
}

int xg_hull_energy(const xg_hull *h, const xg_hull_comp *c, const char *exclude_id, double *hull_e,
                   xg_hull_decomp *dec, xg_error *err)
{
    if (!h || !hull_e)
        return xg_error_set(err, XG_EINVAL, "xg_hull_energy: NULL argument");
    if (!h->finalized)
        return xg_error_set(err, XG_EINVAL, "xg_hull_energy: call xg_hull_finalize first");
    int rc = comp_check(c, err);
    if (rc)
        return rc;
    if (exclude_id && !exclude_id[0])
        exclude_id = NULL; /* an empty id names no entry (and must not match id-less ones) */
    const int k = c->nel;
    double q[XG_HULL_MAX_ELEMENTS], tot = 0;
    for (int i = 0; i < k; i++)
        tot += c->amount[i];
    for (int i = 0; i < k; i++)
        q[i] = c->amount[i] / tot;
    elmask qm = comp_mask(c);

    /* Candidate entries: those of every subsystem. Few elements: look each subset up; many:
     * scan the groups for subsets of the query's system. */
    int64_t *cols = malloc((size_t)(h->n > 0 ? h->n : 1) * sizeof *cols);
    if (!cols)
        return xg_error_set(err, XG_ENOMEM, "xg_hull_energy: out of memory");
    int64_t nent = 0;
    if (k <= 10) {
        for (unsigned s = 1; s < (1u << k); s++) {
            elmask m = {{0, 0}};
            for (int i = 0; i < k; i++)
                if (s & (1u << i)) {
                    int b = c->z[i] - 1;
                    m.w[b >> 6] |= (uint64_t)1 << (b & 63);
                }
            int64_t g = find_group(h, m);
            if (g >= 0)
                nent = take_group(h, g, exclude_id, cols, nent);
        }
    } else {
        for (int64_t g = 0; g < h->ngroups; g++)
            if (!(h->gmask[g].w[0] & ~qm.w[0]) && !(h->gmask[g].w[1] & ~qm.w[1]))
                nent = take_group(h, g, exclude_id, cols, nent);
    }

    /* Columns 0..k-1: the pure elements (unit vectors, energy 0); k..k+nent-1: the entries. */
    const int64_t ncol = k + nent;
    double *a = malloc((size_t)(nent > 0 ? nent : 1) * (size_t)k * sizeof *a);
    double *cost = malloc((size_t)ncol * sizeof *cost);
    unsigned char *basic = calloc((size_t)ncol, 1);
    if (!a || !cost || !basic) {
        free(cols);
        free(a);
        free(cost);
        free(basic);
        return xg_error_set(err, XG_ENOMEM, "xg_hull_energy: out of memory for %lld columns",
                            (long long)ncol);
    }
    for (int i = 0; i < k; i++)
        cost[i] = 0;
    for (int64_t j = 0; j < nent; j++) {
        const xg_hull_comp *ec = &h->comp[cols[j]];
        double *aj = a + j * k;
        for (int i = 0; i < k; i++)
            aj[i] = 0;
        int r = 0;
        for (int t = 0; t < ec->nel; t++) { /* both element lists ascend: merge */
            while (c->z[r] < ec->z[t])
                r++;
            aj[r] = ec->amount[t] / h->total[cols[j]];
        }
        cost[k + j] = h->e[cols[j]];
    }

    double binv[XG_HULL_MAX_ELEMENTS][XG_HULL_MAX_ELEMENTS];
    double xb[XG_HULL_MAX_ELEMENTS], y[XG_HULL_MAX_ELEMENTS], w[XG_HULL_MAX_ELEMENTS];
    int64_t basis[XG_HULL_MAX_ELEMENTS];
    for (int i = 0; i < k; i++) {
        for (int j = 0; j < k; j++)
            binv[i][j] = i == j;
        xb[i] = q[i];
        basis[i] = i;
        basic[i] = 1;
    }
#define COLVAL(j, i) ((j) < k ? (double)((j) == (i)) : a[((j) - k) * k + (i)])

    const long max_iter = 1000 + 50 * (long)ncol;
    int bland = 0, degenerate_run = 0;
    rc = XG_OK;
    long it;
    for (it = 0; it < max_iter; it++) {
        /* Duals y = c_B^T B^-1. */
        for (int i = 0; i < k; i++) {
            double s = 0;
            for (int r = 0; r < k; r++)
                s += cost[basis[r]] * binv[r][i];
            y[i] = s;
        }
        /* Pricing: Dantzig (most negative reduced cost), or Bland (first negative) after a run
         * of degenerate pivots, which guarantees termination. */
        int64_t enter = -1;
        double best = -TOL_REDUCED_COST;
        for (int64_t j = 0; j < ncol; j++) {
            if (basic[j])
                continue;
            double d = cost[j];
            if (j < k)
                d -= y[j];
            else {
                const double *aj = a + (j - k) * k;
                for (int i = 0; i < k; i++)
                    d -= y[i] * aj[i];
            }
            if (d < best) {
                enter = j;
                best = d;
                if (bland)
                    break;
            }
        }
        if (enter < 0)
            break; /* optimal */
        /* Ratio test on w = B^-1 a_enter; ties go to the smallest column index (Bland). */
        for (int i = 0; i < k; i++) {
            double s = 0;
            for (int r = 0; r < k; r++)
                s += binv[i][r] * COLVAL(enter, r);
            w[i] = s;
        }
        int leave = -1;
        double tmin = INFINITY;
        for (int i = 0; i < k; i++) {
            if (w[i] <= TOL_PIVOT)
                continue;
            double t = xb[i] / w[i];
            if (leave < 0 || t < tmin - 1e-14) {
                leave = i;
                tmin = t;
            } else if (t <= tmin + 1e-14 && basis[i] < basis[leave]) {
                leave = i;
                tmin = fmin(t, tmin);
            }
        }
        if (leave < 0) {
            /* Cannot happen with fractions summing to one (the region is bounded). */
            rc = xg_error_set(err, XG_ENUMERIC, "xg_hull_energy: unbounded linear program");
            break;
        }
        if (tmin <= TOL_ZERO) {
            if (++degenerate_run > 2 * k + 4)
                bland = 1;
        } else {
            degenerate_run = 0;
        }
        /* Pivot. */
        double wl = w[leave];
        for (int r = 0; r < k; r++)
            binv[leave][r] /= wl;
        xb[leave] = tmin;
        for (int i = 0; i < k; i++) {
            if (i == leave)
                continue;
            double f = w[i];
            if (f == 0)
                continue;
            for (int r = 0; r < k; r++)
                binv[i][r] -= f * binv[leave][r];
            xb[i] -= f * tmin;
            if (xb[i] < 0 && xb[i] > -TOL_ZERO)
                xb[i] = 0;
        }
        basic[basis[leave]] = 0;
        basis[leave] = enter;
        basic[enter] = 1;
    }
    if (!rc && it == max_iter)
        rc = xg_error_set(err, XG_ENUMERIC, "xg_hull_energy: simplex did not converge in %ld steps",
                          max_iter);
    if (!rc) {
        /* One step of iterative refinement of x_B against the original columns. */
        double res[XG_HULL_MAX_ELEMENTS];
        for (int i = 0; i < k; i++) {
            double s = q[i];
            for (int r = 0; r < k; r++)
                s -= COLVAL(basis[r], i) * xb[r];
            res[i] = s;
        }
        for (int i = 0; i < k; i++) {
            double s = 0;
            for (int r = 0; r < k; r++)
                s += binv[i][r] * res[r];
            xb[i] += s;
            if (fabs(xb[i]) < TOL_ZERO)
                xb[i] = 0;
        }
        double hv = 0;
        for (int i = 0; i < k; i++)
            hv += cost[basis[i]] * xb[i];
        if (!isfinite(hv))
            rc = xg_error_set(err, XG_ENUMERIC, "xg_hull_energy: non-finite hull energy");
        else
            *hull_e = hv;
        if (!rc && dec) {
            memset(dec, 0, sizeof *dec);
            double sum = 0;
            for (int i = 0; i < k; i++) {
                if (xb[i] <= TOL_ZERO)
                    continue;
                int64_t j = basis[i];
                dec->entry[dec->n] = j < k ? -(int64_t)c->z[j] : cols[j - k];
                dec->fraction[dec->n] = xb[i];
                sum += xb[i];
                dec->n++;
            }
            for (int i = 0; i < dec->n; i++)
                dec->fraction[i] /= sum;
            for (int i = 1; i < dec->n; i++) { /* largest fraction first */
                double f = dec->fraction[i];
                int64_t en = dec->entry[i];
                int j = i;
                while (j > 0 && dec->fraction[j - 1] < f) {
                    dec->fraction[j] = dec->fraction[j - 1];
                    dec->entry[j] = dec->entry[j - 1];
                    j--;
                }
                dec->fraction[j] = f;
                dec->entry[j] = en;
            }
        }
    }
#undef COLVAL
    free(cols);
    free(a);
    free(cost);
    free(basic);
    return rc;
}

int xg_hull_e_above(const xg_hull *h, const xg_hull_comp *c, double e_form, double *e_above,
                    xg_hull_decomp *dec, xg_error *err)
{
    if (!e_above)
        return xg_error_set(err, XG_EINVAL, "xg_hull_e_above: NULL argument");
    if (!isfinite(e_form))
        return xg_error_set(err, XG_EINVAL, "xg_hull_e_above: formation energy is not finite");
    double hv;
    int rc = xg_hull_energy(h, c, NULL, &hv, dec, err);
    if (rc)
        return rc;
    *e_above = e_form - hv;
    return XG_OK;
}

/* ---------------------------------------------------------------- HDF5 */

static int h5_write_attrs(hid_t f, xg_error *err)
{
    int rc = XG_OK;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, strlen(HULL_FORMAT));
    hid_t a1 = H5Acreate2(f, "format", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a1 < 0 || H5Awrite(a1, st, HULL_FORMAT) < 0)
        rc = xg_error_set(err, XG_ELIB, "HDF5: cannot write the format attribute");
    if (a1 >= 0)
        H5Aclose(a1);
    int v = HULL_VERSION;
    hid_t a2 = H5Acreate2(f, "version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (!rc && (a2 < 0 || H5Awrite(a2, H5T_NATIVE_INT, &v) < 0))
        rc = xg_error_set(err, XG_ELIB, "HDF5: cannot write the version attribute");
    if (a2 >= 0)
        H5Aclose(a2);
    H5Tclose(st);
    H5Sclose(sp);
    return rc;
}

/* Writes a 1-D dataset, deflate-compressed when the filter is available (the table is mostly
 * small integers and repeated ids, so it shrinks several-fold). */
static int h5_write_1d(hid_t f, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
                       const void *data, xg_error *err)
{
    hsize_t dims[1] = {n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t dcpl = xg_h5_dcpl();
    if (n > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
        hsize_t chunk[1] = {n < 65536 ? n : 65536};
        H5Pset_chunk(dcpl, 1, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 6);
    }
    hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = XG_OK;
    if (d < 0 || (n > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
        rc = xg_error_set(err, XG_ELIB, "HDF5: cannot write dataset /%s", name);
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return rc;
}

typedef struct {
    const xg_hull *h;
    int64_t n, m;
    const int32_t *off;
    const unsigned char *el;
    const double *am;
} hull_job;

static int fill_hull(hid_t f, const void *ctx, const char *path, xg_error *err)
{
    const hull_job *j = ctx;
    const xg_hull *h = j->h;
    int64_t n = j->n, m = j->m;
    const int32_t *off = j->off;
    const unsigned char *el = j->el;
    const double *am = j->am;
    int rc;
    hid_t idt = H5Tcopy(H5T_C_S1);
    H5Tset_size(idt, XG_HULL_ID_LEN);
    H5Tset_strpad(idt, H5T_STR_NULLPAD);
    H5E_BEGIN_TRY
    {
        rc = h5_write_attrs(f, err);
        if (!rc)
            rc = h5_write_1d(f, "ids", idt, idt, (hsize_t)n, h->id, err);
        if (!rc)
            rc = h5_write_1d(f, "offsets", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)(n + 1),
                             off, err);
        if (!rc)
            rc = h5_write_1d(f, "elements", H5T_STD_U8LE, H5T_NATIVE_UCHAR, (hsize_t)m, el, err);
        if (!rc)
            rc = h5_write_1d(f, "amounts", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)m, am, err);
        if (!rc)
            rc = h5_write_1d(f, "formation_energy_per_atom", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                             (hsize_t)n, h->e, err);
    }
    H5E_END_TRY;
    H5Tclose(idt);
    if (rc)
        xg_error_prefix(err, rc, "%s: ", path);
    return rc;
}

int xg_hull_write_h5(const xg_hull *h, const char *path, xg_error *err)
{
    if (!h || !path)
        return xg_error_set(err, XG_EINVAL, "xg_hull_write_h5: NULL argument");
    if (!h->finalized)
        return xg_error_set(err, XG_EINVAL, "xg_hull_write_h5: call xg_hull_finalize first");
    int64_t n = h->n, m = 0;
    for (int64_t i = 0; i < n; i++)
        m += h->comp[i].nel;
    if (m > INT32_MAX)
        return xg_error_set(err, XG_EUNSUPPORTED, "xg_hull_write_h5: too many entries");
    int32_t *off = malloc((size_t)(n + 1) * sizeof *off);
    unsigned char *el = malloc((size_t)(m > 0 ? m : 1));
    double *am = malloc((size_t)(m > 0 ? m : 1) * sizeof *am);
    if (!off || !el || !am) {
        free(off);
        free(el);
        free(am);
        return xg_error_set(err, XG_ENOMEM, "xg_hull_write_h5: out of memory");
    }
    int64_t p = 0;
    off[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int t = 0; t < h->comp[i].nel; t++) {
            el[p] = (unsigned char)h->comp[i].z[t];
            am[p] = h->comp[i].amount[t];
            p++;
        }
        off[i + 1] = (int32_t)p;
    }
    hull_job j = {h, n, m, off, el, am};
    int rc = xg_h5_write_atomic(path, fill_hull, &j, "hull table", err);
    free(off);
    free(el);
    free(am);
    return rc;
}

/* Reads a 1-D dataset of exactly `want` elements (want < 0: any length, returned in *len). */
static int h5_read_1d(hid_t f, const char *path, const char *name, hid_t mtype, size_t esize,
                      int64_t want, void **out, int64_t *len, xg_error *err)
{
    *out = NULL;
    hid_t d;
    H5E_BEGIN_TRY { d = H5Dopen2(f, name, H5P_DEFAULT); }
    H5E_END_TRY;
    if (d < 0)
        return xg_error_set(err, XG_EPARSE, "%s: missing dataset /%s", path, name);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[1] = {0};
    int nd = H5Sget_simple_extent_ndims(sp);
    int rc = XG_OK;
    if (nd != 1) {
        rc = xg_error_set(err, XG_EPARSE, "%s: /%s must be one-dimensional", path, name);
    } else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        if (want >= 0 && (int64_t)dims[0] != want)
            rc = xg_error_set(err, XG_EPARSE, "%s: /%s has %llu elements, expected %lld", path,
                              name, (unsigned long long)dims[0], (long long)want);
        else if (dims[0] > ((hsize_t)1 << 31))
            rc = xg_error_set(err, XG_EPARSE, "%s: /%s is too large", path, name);
        else {
            char where[96];
            snprintf(where, sizeof where, "/%s", name);
            H5E_BEGIN_TRY { rc = xg_h5_check_stored(d, where, path, err); }
            H5E_END_TRY;
        }
    }
    if (!rc) {
        *out = malloc((size_t)(dims[0] > 0 ? dims[0] : 1) * esize);
        if (!*out)
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory reading /%s", path, name);
    }
    if (!rc && dims[0] > 0) {
        herr_t s;
        H5E_BEGIN_TRY { s = H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out); }
        H5E_END_TRY;
        if (s < 0)
            rc = xg_error_set(err, XG_EPARSE, "%s: cannot read /%s (wrong type?)", path, name);
    }
    if (rc) {
        free(*out);
        *out = NULL;
    }
    if (len)
        *len = (int64_t)dims[0];
    H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

int xg_hull_read_h5(const char *path, xg_hull **out, xg_error *err)
{
    if (!path || !out)
        return xg_error_set(err, XG_EINVAL, "xg_hull_read_h5: NULL argument");
    *out = NULL;
    hid_t f;
    H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); }
    H5E_END_TRY;
    if (f < 0)
        return xg_error_set(err, XG_EIO, "%s: cannot open as HDF5", path);
    char fmt[64];
    int rc = XG_OK;
    xg_error e2;
    int bad;
    H5E_BEGIN_TRY { bad = xg_h5_get_str(f, "/", "format", fmt, sizeof fmt, path, &e2); }
    H5E_END_TRY;
    if (bad || strcmp(fmt, HULL_FORMAT) != 0) {
        rc = xg_error_set(err, XG_EPARSE, "%s: not an xtalgen hull reference (format attribute "
                                          "'%s', expected '%s')",
                          path, fmt, HULL_FORMAT);
        H5Fclose(f);
        return rc;
    }
    /* through the shared reader, which checks the attribute holds a single number first */
    int64_t version = -1;
    H5E_BEGIN_TRY { bad = xg_h5_get_i64(f, "/", "version", &version, path, &e2); }
    H5E_END_TRY;
    if (bad)
        rc = xg_error_set(err, XG_EPARSE, "%s: missing version attribute", path);
    else if (version != HULL_VERSION)
        rc = xg_error_set(err, XG_EVERSION,
                          "%s: hull reference version %lld; this build reads version %d", path,
                          (long long)version, HULL_VERSION);
    if (rc) {
        H5Fclose(f);
        return rc;
    }
    void *ids = NULL, *off = NULL, *el = NULL, *am = NULL, *e = NULL;
    int64_t n = 0, m = 0;
    hid_t idt = H5Tcopy(H5T_C_S1);
    H5Tset_size(idt, XG_HULL_ID_LEN);
    H5Tset_strpad(idt, H5T_STR_NULLPAD);
    rc = h5_read_1d(f, path, "formation_energy_per_atom", H5T_NATIVE_DOUBLE, sizeof(double), -1, &e,
                    &n, err);
    if (!rc)
        rc = h5_read_1d(f, path, "ids", idt, XG_HULL_ID_LEN, n, &ids, NULL, err);
    if (!rc)
        rc = h5_read_1d(f, path, "offsets", H5T_NATIVE_INT32, sizeof(int32_t), n + 1, &off, NULL,
                        err);
    if (!rc)
        rc = h5_read_1d(f, path, "elements", H5T_NATIVE_UCHAR, 1, -1, &el, &m, err);
    if (!rc)
        rc = h5_read_1d(f, path, "amounts", H5T_NATIVE_DOUBLE, sizeof(double), m, &am, NULL, err);
    H5Tclose(idt);
    H5Fclose(f);
    xg_hull *h = NULL;
    if (!rc) {
        h = xg_hull_alloc();
        if (!h)
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    }
    const int32_t *o = off;
    if (!rc && (o[0] != 0 || o[n] != m))
        rc = xg_error_set(err, XG_EPARSE, "%s: /offsets must run from 0 to %lld", path,
                          (long long)m);
    for (int64_t i = 0; !rc && i < n; i++) {
        if (o[i + 1] <= o[i] || o[i + 1] - o[i] > XG_HULL_MAX_ELEMENTS) {
            rc = xg_error_set(err, XG_EPARSE, "%s: entry %lld has %d elements", path, (long long)i,
                              o[i + 1] - o[i]);
            break;
        }
        xg_hull_comp c;
        memset(&c, 0, sizeof c);
        c.nel = o[i + 1] - o[i];
        for (int t = 0; t < c.nel; t++) {
            c.z[t] = ((const unsigned char *)el)[o[i] + t];
            c.amount[t] = ((const double *)am)[o[i] + t];
        }
        char id[XG_HULL_ID_LEN + 1];
        memcpy(id, (const char *)ids + i * XG_HULL_ID_LEN, XG_HULL_ID_LEN);
        id[XG_HULL_ID_LEN] = '\0';
        rc = xg_hull_add(h, &c, ((const double *)e)[i], id, err);
        if (rc)
            xg_error_prefix(err, rc, "%s: entry %lld: ", path, (long long)i);
    }
    if (!rc) {
        xg_hull_options opts = xg_hull_default_options();
        opts.keep_all = 1; /* the file holds exactly what its writer kept */
        rc = xg_hull_finalize(h, &opts, err);
    }
    free(ids);
    free(off);
    free(el);
    free(am);
    free(e);
    if (rc) {
        xg_hull_free(h);
        return rc;
    }
    *out = h;
    return XG_OK;
}
