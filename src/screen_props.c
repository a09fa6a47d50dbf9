/* screen_props.c: the property stage of `xtalgen screen` (see screen_props.h). */
#include "src/screen_props.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "properties/xg_ewald.h"
#include "properties/xg_hhi.h"
#include "properties/xg_hull.h"
#include "properties/xg_propmodel.h"
#include "src/model_path.h"

struct xg_screen_props {
    xg_propmodel *model[XG_SCREEN_NTARGETS]; /* NULL when not given */
    xg_hull *hull;                           /* NULL without a formation-energy model */
    xg_screen_props_info info;
};

static const char *const target_names[XG_SCREEN_NTARGETS] = {
    "formation_energy_per_atom", "dft_mag_density", "band_gap"};

const char *xg_screen_props_target(int k)
{
    return k >= 0 && k < XG_SCREEN_NTARGETS ? target_names[k] : NULL;
}

int xg_screen_data_path(const char *name, char *out, size_t n, xg_error *err)
{
    return xg_default_data_path(name, out, n, err); /* one search for every shipped file */
}

int xg_screen_props_hull_path(char *out, size_t n, xg_error *err)
{
    return xg_screen_data_path(XG_SCREEN_HULL_FILE, out, n, err);
}

void xg_screen_props_free(xg_screen_props *p)
{
    if (!p)
        return;
    for (int k = 0; k < XG_SCREEN_NTARGETS; k++)
        xg_propmodel_free(p->model[k]);
    xg_hull_free(p->hull);
    free(p);
}

const xg_screen_props_info *xg_screen_props_get_info(const xg_screen_props *p)
{
    return p ? &p->info : NULL;
}

int xg_screen_props_load(const char *const *paths, int nmodels, const char *hull_path,
                         xg_screen_props **out, char *note, size_t note_len, xg_error *err)
{
    if (note && note_len)
        note[0] = '\0';
    if (!out || nmodels < 0 || nmodels > XG_SCREEN_MAX_MODELS || (nmodels && !paths))
        return xg_error_set(err, XG_EINVAL, "screen properties: bad arguments (at most %d models)",
                            XG_SCREEN_MAX_MODELS);
    *out = NULL;
    xg_screen_props *p = calloc(1, sizeof *p);
    if (!p)
        return xg_error_set(err, XG_ENOMEM, "screen properties: out of memory");
    for (int k = 0; k < XG_SCREEN_NTARGETS; k++)
        p->info.test_mae[k] = p->info.val_mae[k] = NAN;
    int rc = XG_OK;
    for (int i = 0; i < nmodels && !rc; i++) {
        xg_propmodel *m = NULL;
        if ((rc = xg_propmodel_load(paths[i], &m, err))) {
            xg_error_prefix(err, rc, "property model");
            break;
        }
        const xg_propmodel_info *mi = xg_propmodel_get_info(m);
        int k = -1;
        for (int t = 0; t < XG_SCREEN_NTARGETS; t++)
            if (!strcmp(mi->target, target_names[t]))
                k = t;
        if (k < 0) {
            rc = xg_error_set(err, XG_EUNSUPPORTED,
                              "property model %s predicts '%s'; screen has columns for %s, %s "
                              "and %s only",
                              paths[i], mi->target, target_names[0], target_names[1],
                              target_names[2]);
        } else if (p->model[k]) {
            rc = xg_error_set(err, XG_EINVAL,
                              "property models %s and %s both predict '%s'; give one",
                              p->info.model_path[k], paths[i], mi->target);
        } else if (strlen(paths[i]) >= sizeof p->info.model_path[k]) {
            rc = xg_error_set(err, XG_EINVAL, "property model path too long: %s", paths[i]);
        }
        if (rc) {
            xg_propmodel_free(m);
            break;
        }
        p->model[k] = m;
        p->info.have[k] = 1;
        snprintf(p->info.model_path[k], sizeof p->info.model_path[k], "%s", paths[i]);
        p->info.test_mae[k] = mi->test_mae;
        p->info.val_mae[k] = mi->val_mae;
        p->info.n_test[k] = mi->n_test;
    }
    /* The hull only matters with a formation energy to compare against it. */
    if (!rc && p->model[XG_SCREEN_EFORM]) {
        char found[4096];
        const char *hp = hull_path;
        if (!hp) {
            xg_error e2 = {0};
            if (xg_screen_props_hull_path(found, sizeof found, &e2) == XG_OK) {
                hp = found;
            } else if (note && note_len) {
                snprintf(note, note_len, "%s; e_hull_pred, stable and sun left out (pass --hull)",
                         e2.msg);
            }
        }
        if (hp) {
            if ((rc = xg_hull_read_h5(hp, &p->hull, err))) {
                xg_error_prefix(err, rc, "hull table");
            } else if (strlen(hp) >= sizeof p->info.hull_path) {
                rc = xg_error_set(err, XG_EINVAL, "hull path too long: %s", hp);
            } else {
                p->info.have_hull = 1;
                p->info.hull_entries = xg_hull_size(p->hull);
                snprintf(p->info.hull_path, sizeof p->info.hull_path, "%s", hp);
            }
        }
    }
    if (rc) {
        xg_screen_props_free(p);
        return rc;
    }
    *out = p;
    return XG_OK;
}

/* The hull energy of crystal i: NaN when its composition cannot be formed (too many elements,
 * an unknown element) or e_form is not finite. */
static double hull_energy(const xg_hull *h, const xg_dataset *ds, int64_t i, double e_form)
{
    if (!isfinite(e_form))
        return NAN;
    int64_t a = ds->offsets[i], b = ds->offsets[i + 1];
    if (b <= a || b - a > 1000000)
        return NAN;
    int *types = malloc((size_t)(b - a) * sizeof *types);
    if (!types)
        return NAN;
    for (int64_t k = a; k < b; k++)
        types[k - a] = ds->types[k];
    xg_error err = {0};
    xg_hull_comp c;
    double above = NAN;
    if (xg_hull_comp_from_types(types, (int)(b - a), &c, &err) ||
        xg_hull_e_above(h, &c, e_form, &above, NULL, &err))
        above = NAN;
    free(types);
    return above;
}

int xg_screen_props_predict(xg_screen_props *p, const xg_dataset *ds, const int64_t *idx,
                            int64_t n, xg_screen_values *out, xg_error *err)
{
    if (n < 0 || (n > 0 && (!ds || !idx || !out)))
        return xg_error_set(err, XG_EINVAL, "screen properties: bad arguments");
    for (int64_t j = 0; j < n; j++) {
        for (int k = 0; k < XG_SCREEN_NTARGETS; k++) {
            out[j].pred[k] = NAN;
            out[j].clipped[k] = out[j].failed[k] = 0;
        }
        out[j].e_hull = NAN;
        out[j].in_domain = -1;
        out[j].domain_why[0] = '\0';
        if (idx[j] < 0 || idx[j] >= ds->n)
            return xg_error_set(err, XG_EINVAL, "screen properties: crystal %lld out of range",
                                (long long)idx[j]);
    }
    if (!p || n == 0)
        return XG_OK;
    int any = 0;
    for (int k = 0; k < XG_SCREEN_NTARGETS; k++)
        any |= p->model[k] != NULL;
    if (!any)
        return XG_OK;
    /* The crystals asked for, as one dataset (the whole of ds when idx is 0..n-1: one process),
     * so the model batches and parallelises them itself and skips those it cannot take. */
    int whole = n == ds->n;
    for (int64_t j = 0; whole && j < n; j++)
        whole = idx[j] == j;
    xg_dataset *sub = NULL;
    const xg_dataset *use = ds;
    int rc = XG_OK;
    if (!whole) {
        if (!(sub = xg_dataset_alloc()))
            return xg_error_set(err, XG_ENOMEM, "screen properties: out of memory");
        for (int64_t j = 0; j < n && !rc; j++) {
            xg_error e2 = {0};
            xg_structure *s = xg_dataset_get(ds, idx[j], &e2);
            if (!s || xg_dataset_append(sub, s, NULL, &e2))
                rc = xg_error_set(err, e2.code ? e2.code : XG_ENOMEM,
                                  "screen properties: crystal %lld: %s", (long long)idx[j],
                                  e2.msg[0] ? e2.msg : "out of memory");
            xg_structure_free(s);
        }
        use = sub;
    }
    double *vals = rc ? NULL : malloc((size_t)n * sizeof *vals);
    if (!rc && !vals)
        rc = xg_error_set(err, XG_ENOMEM, "screen properties: out of memory");
    for (int k = 0; k < XG_SCREEN_NTARGETS && !rc; k++) {
        if (!p->model[k])
            continue;
        if ((rc = xg_propmodel_predict_dataset(p->model[k], use, vals, NULL, err))) {
            xg_error_prefix(err, rc, "%s", p->info.model_path[k]);
            break;
        }
        double lo, hi;
        xg_propmodel_physical_range(target_names[k], &lo, &hi);
        for (int64_t j = 0; j < n; j++) {
            double v = vals[j];
            out[j].failed[k] = !isfinite(v);
            if (isfinite(v) && (v < lo || v > hi)) {
                v = v < lo ? lo : hi;
                out[j].clipped[k] = 1;
            }
            out[j].pred[k] = v;
        }
    }
    free(vals);
    /* Training domains: a crystal is in domain when it lies in every loaded model's. */
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t j = 0; j < n; j++) {
        if (rc)
            continue;
        xg_error e2 = {0};
        xg_structure *s = xg_dataset_get(use, j, &e2);
        int in = -1;
        for (int k = 0; s && k < XG_SCREEN_NTARGETS && in != 0; k++) {
            if (!p->model[k])
                continue;
            char why[96];
            int v = xg_propmodel_domain_check(&xg_propmodel_get_info(p->model[k])->domain, s,
                                              why, sizeof why);
            if (v == 0) {
                in = 0;
                snprintf(out[j].domain_why, sizeof out[j].domain_why, "%s", why);
            } else if (v == 1) {
                in = 1;
            }
        }
        out[j].in_domain = in;
        xg_structure_free(s);
    }
    xg_dataset_free(sub);
    if (rc || !p->hull)
        return rc;
    /* Hull queries are independent small linear programs on a read-only hull. */
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t j = 0; j < n; j++)
        out[j].e_hull = hull_energy(p->hull, ds, idx[j], out[j].pred[XG_SCREEN_EFORM]);
    return XG_OK;
}

void xg_screen_props_intrinsic(const xg_structure *s, xg_screen_values *v)
{
    v->hhi = v->ewald = NAN;
    if (!s || s->natoms <= 0)
        return;
    xg_error err = {0};
    double prod = NAN;
    if (xg_hhi_structure(s, &prod, NULL, NULL, &err) == XG_OK && isfinite(prod))
        v->hhi = prod;
    /* No charge-balanced assignment, an element or an alloy (no ionic charges), a cell the
     * sum cannot take and too many elements to search all leave the energy missing. */
    if (xg_structure_nelements(s) > XG_SCREEN_EWALD_MAX_ELEMENTS)
        return;
    double e = NAN;
    if (xg_ewald_oxidation_energy(s, &e, NULL, NULL, &err) == XG_OK && isfinite(e))
        v->ewald = e;
}
