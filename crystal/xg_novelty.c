/* xg_novelty.c: uniqueness and novelty by structure matching (see xg_novelty.h). */
#include "crystal/xg_novelty.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"

#define KEY_LEN 256

/* ---------------------------------------------------------------- composition keys ---- */

static long gcd_long(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Fractional composition as text, "8:1,14:2" (Z:count with counts divided by their gcd,
 * increasing Z), and a 64-bit FNV-1a hash of it. Returns -1 for an unknown element. */
static int key_from_counts(const long *cnt, char *key, uint64_t *hash)
{
    long g = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        g = gcd_long(g, cnt[z]);
    size_t pos = 0;
    key[0] = '\0';
    for (int z = 1; z <= XG_MAX_Z && g > 0; z++) {
        if (!cnt[z])
            continue;
        int w = snprintf(key + pos, KEY_LEN - pos, "%s%d:%ld", pos ? "," : "", z, cnt[z] / g);
        if (w < 0 || (size_t)w >= KEY_LEN - pos)
            break; /* absurdly many elements: the truncated key still only groups, never decides */
        pos += (size_t)w;
    }
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = key; *c; c++) {
        h ^= (unsigned char)*c;
        h *= 1099511628211ULL;
    }
    *hash = h;
    return 0;
}

static int key_of_structure(const xg_structure *s, char *key, uint64_t *hash)
{
    long cnt[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < s->natoms; i++) {
        if (s->types[i] < 1 || s->types[i] > XG_MAX_Z)
            return -1;
        cnt[s->types[i]]++;
    }
    return key_from_counts(cnt, key, hash);
}

/* ---------------------------------------------------------------- reduction ---- */

int xg_novelty_reduce_dataset(const xg_dataset *ds, const xg_matcher_params *p,
                              xg_structure **out, int64_t *nfailed, xg_error *err)
{
    if (!ds || !out)
        return xg_error_set(err, XG_EINVAL, "novelty: NULL argument");
    int64_t failed = 0;
    int nomem = 0, have_msg = 0;
    xg_error first = {0};
#pragma omp parallel for schedule(dynamic, 8) reduction(+ : failed)
    for (int64_t i = 0; i < ds->n; i++) {
        xg_error e = {0};
        out[i] = NULL;
        xg_structure *s = xg_dataset_get(ds, i, &e);
        int rc = s ? xg_matcher_reduce(s, p, &out[i], &e) : e.code ? e.code : XG_ENOMEM;
        xg_structure_free(s);
        if (rc) {
            failed++;
#pragma omp critical(xg_novelty_err)
            {
                if (rc == XG_ENOMEM)
                    nomem = 1;
                if (!have_msg) {
                    have_msg = 1;
                    first = e;
                    xg_error_prefix(&first, first.code, "structure %lld ('%s'): ", (long long)i, ds->ids[i]);
                }
            }
        }
    }
    if (nfailed)
        *nfailed = failed;
    if (have_msg && err)
        *err = first;
    if (nomem)
        return xg_error_set(err, XG_ENOMEM, "novelty: out of memory reducing cells");
    return XG_OK;
}

/* ---------------------------------------------------------------- uniqueness ---- */

typedef struct {
    uint64_t hash;
    int64_t idx;
    const char *key;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int xg_novelty_unique(xg_structure *const *reduced, int64_t n, const xg_matcher_params *p,
                      int64_t *dup_of, xg_error *err)
{
    if ((!reduced || !dup_of) && n > 0)
        return xg_error_set(err, XG_EINVAL, "novelty: NULL argument");
    char (*keys)[KEY_LEN] = malloc((size_t)(n ? n : 1) * sizeof *keys);
    keyed *ord = malloc((size_t)(n ? n : 1) * sizeof *ord);
    int64_t *gstart = malloc((size_t)(n + 1) * sizeof *gstart);
    unsigned char *undecided = calloc((size_t)(n ? n : 1), 1);
    if (!keys || !ord || !gstart || !undecided) {
        free(keys), free(ord), free(gstart), free(undecided);
        return xg_error_set(err, XG_ENOMEM, "novelty: out of memory");
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        dup_of[i] = -1;
        uint64_t h;
        if (!reduced[i] || key_of_structure(reduced[i], keys[i], &h))
            continue;
        ord[m].hash = h;
        ord[m].idx = i;
        ord[m].key = keys[i];
        m++;
    }
    qsort(ord, (size_t)m, sizeof *ord, cmp_keyed);
    int64_t ng = 0;
    for (int64_t k = 0; k < m; k++)
        if (k == 0 || ord[k].hash != ord[k - 1].hash || strcmp(ord[k].key, ord[k - 1].key))
            gstart[ng++] = k;
    gstart[ng] = m;
    int fail = 0;
    xg_error first = {0};
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t g = 0; g < ng; g++) {
        /* Within the group, ord is in input order: pymatgen's greedy grouping. */
        for (int64_t a = gstart[g]; a < gstart[g + 1]; a++) {
            int64_t ia = ord[a].idx;
            if (dup_of[ia] >= 0)
                continue;
            for (int64_t b = a + 1; b < gstart[g + 1]; b++) {
                int64_t ib = ord[b].idx;
                if (dup_of[ib] >= 0 || reduced[ia]->natoms != reduced[ib]->natoms)
                    continue;
                xg_match_result r;
                xg_error e = {0};
                int rc = xg_matcher_fit_reduced(reduced[ia], reduced[ib], p, XG_MATCH_FIRST, &r, &e);
                if (rc == XG_ENOMEM) {
#pragma omp critical(xg_novelty_err)
                    if (!fail) {
                        fail = rc;
                        first = e;
                    }
                    continue;
                }
                if (rc) { /* a search the matcher refuses: this pair is undecided */
                    undecided[ib] = 1;
                    continue;
                }
                if (r.match)
                    dup_of[ib] = ia;
            }
        }
    }
    /* A crystal that matched no earlier one but could not be compared with some is not known
     * to be unique. */
    for (int64_t i = 0; i < n; i++)
        if (dup_of[i] == -1 && undecided[i])
            dup_of[i] = XG_NOVELTY_NOT_ASSESSED;
    free(undecided);
    free(keys), free(ord), free(gstart);
    if (fail) {
        if (err)
            *err = first;
        return fail;
    }
    return XG_OK;
}

/* ---------------------------------------------------------------- reference index ---- */

struct xg_novelty_index {
    xg_matcher_params p;
    int nds;
    const xg_dataset **ds;
    int64_t *ds_start; /* nds + 1 global offsets */
    int64_t n;
    keyed *ord;        /* n entries sorted by (hash, key, idx) */
    char (*keys)[KEY_LEN];
    xg_structure **red;
    unsigned char *state; /* 0 not reduced, 1 reduced, 2 failed */
};

int xg_novelty_index_create(const xg_matcher_params *p, xg_novelty_index **out, xg_error *err)
{
    if (!out)
        return xg_error_set(err, XG_EINVAL, "novelty: NULL argument");
    xg_novelty_index *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->ds_start = calloc(1, sizeof *ix->ds_start))) {
        free(ix);
        return xg_error_set(err, XG_ENOMEM, "novelty: out of memory");
    }
    if (p)
        ix->p = *p;
    else
        xg_matcher_default_params(&ix->p);
    *out = ix;
    return XG_OK;
}

void xg_novelty_index_free(xg_novelty_index *ix)
{
    if (!ix)
        return;
    for (int64_t i = 0; i < ix->n; i++)
        xg_structure_free(ix->red[i]);
    free(ix->ds), free(ix->ds_start), free(ix->ord), free(ix->keys), free(ix->red);
    free(ix->state);
    free(ix);
}

int64_t xg_novelty_index_size(const xg_novelty_index *ix) { return ix ? ix->n : 0; }

static int locate(const xg_novelty_index *ix, int64_t ref, int *d, int64_t *local)
{
    if (ref < 0 || ref >= ix->n)
        return -1;
    int k = 0;
    while (k + 1 < ix->nds && ix->ds_start[k + 1] <= ref)
        k++;
    *d = k;
    *local = ref - ix->ds_start[k];
    return 0;
}

const char *xg_novelty_index_id(const xg_novelty_index *ix, int64_t ref)
{
    int d;
    int64_t l;
    if (!ix || locate(ix, ref, &d, &l))
        return "";
    return ix->ds[d]->ids[l];
}

int64_t xg_novelty_index_reduced(const xg_novelty_index *ix, int64_t *nfailed)
{
    int64_t done = 0, failed = 0;
    for (int64_t i = 0; ix && i < ix->n; i++) {
        done += ix->state[i] != 0;
        failed += ix->state[i] == 2;
    }
    if (nfailed)
        *nfailed = failed;
    return done;
}

int xg_novelty_index_add(xg_novelty_index *ix, const xg_dataset *ds, xg_error *err)
{
    if (!ix || !ds)
        return xg_error_set(err, XG_EINVAL, "novelty: NULL argument");
    int64_t n = ix->n + ds->n;
    const xg_dataset **nd = realloc(ix->ds, (size_t)(ix->nds + 1) * sizeof *nd);
    if (nd)
        ix->ds = nd;
    int64_t *ns = realloc(ix->ds_start, (size_t)(ix->nds + 2) * sizeof *ns);
    if (ns)
        ix->ds_start = ns;
    keyed *no = realloc(ix->ord, (size_t)(n ? n : 1) * sizeof *no);
    if (no)
        ix->ord = no;
    char(*nk)[KEY_LEN] = realloc(ix->keys, (size_t)(n ? n : 1) * sizeof *nk);
    if (nk)
        ix->keys = nk;
    xg_structure **nr = realloc(ix->red, (size_t)(n ? n : 1) * sizeof *nr);
    if (nr)
        ix->red = nr;
    unsigned char *st = realloc(ix->state, (size_t)(n ? n : 1));
    if (st)
        ix->state = st;
    if (!nd || !ns || !no || !nk || !nr || !st)
        return xg_error_set(err, XG_ENOMEM, "novelty: out of memory");
    /* keys moved: re-point the sorted entries. */
    for (int64_t i = 0; i < ix->n; i++)
        ix->ord[i].key = ix->keys[ix->ord[i].idx];
    ix->ds[ix->nds] = ds;
    ix->ds_start[ix->nds] = ix->n;
    ix->ds_start[ix->nds + 1] = n;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (int64_t i = 0; i < ds->n; i++) {
        int64_t g = ix->n + i;
        long cnt[XG_MAX_Z + 1] = {0};
        for (int64_t a = ds->offsets[i]; a < ds->offsets[i + 1]; a++) {
            int z = ds->types[a];
            if (z < 1 || z > XG_MAX_Z)
                bad++;
            else
                cnt[z]++;
        }
        key_from_counts(cnt, ix->keys[g], &ix->ord[g].hash);
        ix->ord[g].idx = g;
        ix->red[g] = NULL;
        ix->state[g] = 0;
    }
    if (bad)
        return xg_error_set(err, XG_EINVAL, "reference dataset has %d invalid atomic numbers",
                            bad);
    for (int64_t g = ix->n; g < n; g++)
        ix->ord[g].key = ix->keys[g];
    ix->n = n;
    ix->nds++;
    qsort(ix->ord, (size_t)n, sizeof *ix->ord, cmp_keyed);
    return XG_OK;
}

/* First entry of ord with this hash and key, and the end of the run; lo == hi if none. */
static void find_range(const xg_novelty_index *ix, uint64_t h, const char *key, int64_t *lo,
                       int64_t *hi)
{
    int64_t a = 0, b = ix->n;
    while (a < b) {
        int64_t mid = a + (b - a) / 2;
        const keyed *e = &ix->ord[mid];
        if (e->hash < h || (e->hash == h && strcmp(e->key, key) < 0))
            a = mid + 1;
        else
            b = mid;
    }
    int64_t c = a;
    while (c < ix->n && ix->ord[c].hash == h && !strcmp(ix->ord[c].key, key))
        c++;
    *lo = a;
    *hi = c;
}

int xg_novelty_check(xg_novelty_index *ix, xg_structure *const *cands, int64_t n, int *novel,
                     int64_t *matched, xg_error *err)
{
    if (!ix || (!cands && n > 0))
        return xg_error_set(err, XG_EINVAL, "novelty: NULL argument");
    int64_t *lo = malloc((size_t)(n ? n : 1) * sizeof *lo);
    int64_t *hi = malloc((size_t)(n ? n : 1) * sizeof *hi);
    int64_t *todo = malloc((size_t)(ix->n ? ix->n : 1) * sizeof *todo);
    if (!lo || !hi || !todo) {
        free(lo), free(hi), free(todo);
        return xg_error_set(err, XG_ENOMEM, "novelty: out of memory");
    }
    /* 1. Which references can match anything at all: same composition as some candidate. */
    int64_t ntodo = 0;
    for (int64_t i = 0; i < n; i++) {
        lo[i] = hi[i] = 0;
        char key[KEY_LEN];
        uint64_t h;
        if (!cands[i] || key_of_structure(cands[i], key, &h))
            continue;
        find_range(ix, h, key, &lo[i], &hi[i]);
        for (int64_t k = lo[i]; k < hi[i]; k++) {
            int64_t r = ix->ord[k].idx;
            if (ix->state[r] == 0) {
                ix->state[r] = 3; /* queued */
                todo[ntodo++] = r;
            }
        }
    }
    /* 2. Reduce those references once (cached in the index for later calls). */
    int nomem = 0;
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t t = 0; t < ntodo; t++) {
        int64_t r = todo[t];
        int d = 0;
        int64_t l = 0;
        locate(ix, r, &d, &l);
        xg_error e = {0};
        xg_structure *s = xg_dataset_get(ix->ds[d], l, &e), *red = NULL;
        int rc = s ? xg_matcher_reduce(s, &ix->p, &red, &e) : XG_ENOMEM;
        xg_structure_free(s);
        if (rc == XG_ENOMEM)
            nomem = 1;
        ix->red[r] = red;
        ix->state[r] = rc ? 2 : 1;
    }
    free(todo);
    /* 3. Match candidates in parallel; references in index (insertion) order. */
    int fail = 0;
    xg_error first = {0};
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < n; i++) {
        int64_t found = -1;
        int undecided = 0;
        if (cands[i]) {
            /* ord within one key run is sorted by reference number. */
            for (int64_t k = lo[i]; k < hi[i] && found < 0; k++) {
                int64_t r = ix->ord[k].idx;
                if (ix->state[r] != 1 || ix->red[r]->natoms != cands[i]->natoms)
                    continue;
                xg_match_result m;
                xg_error e = {0};
                int rc = xg_matcher_fit_reduced(cands[i], ix->red[r], &ix->p, XG_MATCH_FIRST,
                                                &m, &e);
                if (rc == XG_ENOMEM) {
#pragma omp critical(xg_novelty_err)
                    if (!fail) {
                        fail = rc;
                        first = e;
                    }
                    continue;
                }
                if (rc) { /* a search the matcher refuses: undecided against this reference */
                    undecided = 1;
                    continue;
                }
                if (m.match)
                    found = r;
            }
        }
        if (novel)
            novel[i] = !cands[i] ? 0 : found >= 0 ? 0 : undecided ? -1 : 1;
        if (matched)
            matched[i] = found;
    }
    free(lo), free(hi);
    if (nomem)
        return xg_error_set(err, XG_ENOMEM, "novelty: out of memory reducing references");
    if (fail) {
        if (err)
            *err = first;
        return fail;
    }
    return XG_OK;
}
