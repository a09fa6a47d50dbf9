/* report_ref.c: reference distributions for the run report (see report_ref.h). */
#include "src/report_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_csv.h"
#include "crystal/xg_symmetry.h"
#include "src/cli.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

long xg_refdist_quantiles(const double *v, long n, double *q, int nq, xg_error *err)
{
    double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s)
        return -xg_error_set(err, XG_ENOMEM, "out of memory for %ld values", n);
    long m = 0;
    for (long i = 0; i < n; i++)
        if (isfinite(v[i]))
            s[m++] = v[i];
    qsort(s, (size_t)m, sizeof *s, cmp_double);
    if (m > 0)
        for (int k = 0; k < nq; k++) {
            long r = (long)floor((k + 0.5) / nq * (double)m);
            q[k] = s[r < m ? r : m - 1];
        }
    free(s);
    return m;
}

int xg_refdist_build(const xg_dataset *ds, const char *name, const char *source, double symprec,
                     xg_refdist *out, xg_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    snprintf(out->source, sizeof out->source, "%s", source);
    out->n = (long)ds->n;
    double *dens = malloc((size_t)(ds->n + 1) * sizeof *dens);
    double *ef = malloc((size_t)(ds->n + 1) * sizeof *ef);
    if (!dens || !ef) {
        free(dens);
        free(ef);
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    }
    int p_sg = xg_dataset_find_property(ds, "spacegroup.number");
    int p_ef = xg_dataset_find_property(ds, "formation_energy_per_atom");
    int rc = XG_OK;
    for (int64_t i = 0; i < ds->n && !rc; i++) {
        xg_structure *s = xg_dataset_get(ds, i, err);
        if (!s) {
            rc = err ? err->code : XG_ENOMEM;
            break;
        }
        dens[i] = xg_structure_density(s);
        int na = s->natoms < XG_REF_MAX_NATOMS ? s->natoms : XG_REF_MAX_NATOMS;
        out->natoms[na] += 1;
        int ne = xg_structure_nelements(s);
        out->nelements[ne < XG_REF_MAX_NELEM ? ne : XG_REF_MAX_NELEM] += 1;
        unsigned char seen[XG_MAX_Z + 1] = {0};
        for (int a = 0; a < s->natoms; a++)
            if (s->types[a] >= 1 && s->types[a] <= XG_MAX_Z)
                seen[s->types[a]] = 1;
        for (int z = 1; z <= XG_MAX_Z; z++)
            out->element[z] += seen[z];
        double sgv = p_sg >= 0 ? ds->props[i * ds->nprops + p_sg] : NAN;
        int sg = 0;
        if (isfinite(sgv) && sgv >= 1 && sgv <= 230) {
            sg = (int)sgv;
        } else {
            char sym[32];
            xg_error e2 = {0};
            if (xg_symmetry_spacegroup(s, symprec, &sg, sym, &e2) != XG_OK || sg < 1 || sg > 230)
                sg = 0;
        }
        out->spacegroup[sg] += 1;
        ef[i] = p_ef >= 0 ? ds->props[i * ds->nprops + p_ef] : NAN;
        xg_structure_free(s);
    }
    if (!rc) {
        long m = xg_refdist_quantiles(dens, (long)ds->n, out->density_q, XG_REF_NQ, err);
        if (m < 0)
            rc = (int)-m;
        else
            out->n_density = m > 0 ? XG_REF_NQ : 0;
    }
    if (!rc) {
        long m = xg_refdist_quantiles(ef, (long)ds->n, out->eform_q, XG_REF_NQ, err);
        if (m < 0)
            rc = (int)-m;
        else
            out->n_eform = m > 0 ? XG_REF_NQ : 0;
    }
    free(dens);
    free(ef);
    return rc;
}

int xg_refdist_write(const char *path, const xg_refdist *r, xg_error *err)
{
    xg_atomic_file a;
    int rc = xg_atomic_open(&a, path, err);
    if (rc)
        return rc;
    FILE *f = a.f;
    fputs("section,key,value\nmeta,format,xtalgen-reference-distribution\nmeta,version,1\n"
          "meta,name,",
          f);
    xg_csv_write_cell(f, r->name);
    fputs("\nmeta,source,", f);
    xg_csv_write_cell(f, r->source);
    fprintf(f, "\nmeta,n,%ld\n", r->n);
    for (int k = 0; k < r->n_density; k++)
        fprintf(f, "density_q,%d,%.6g\n", k, r->density_q[k]);
    for (int k = 0; k < r->n_eform; k++)
        fprintf(f, "e_form_q,%d,%.6g\n", k, r->eform_q[k]);
    for (int k = 0; k <= XG_REF_MAX_NATOMS; k++)
        if (r->natoms[k] > 0)
            fprintf(f, "natoms,%d,%.0f\n", k, r->natoms[k]);
    for (int k = 0; k <= XG_REF_MAX_NELEM; k++)
        if (r->nelements[k] > 0)
            fprintf(f, "nelements,%d,%.0f\n", k, r->nelements[k]);
    for (int k = 0; k <= 230; k++)
        if (r->spacegroup[k] > 0)
            fprintf(f, "spacegroup,%d,%.0f\n", k, r->spacegroup[k]);
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (r->element[z] > 0)
            fprintf(f, "element,%s,%.0f\n", xg_element_get(z)->symbol, r->element[z]);
    if (ferror(f)) {
        xg_atomic_abort(&a);
        return xg_error_set(err, XG_EIO, "%s: write error", path);
    }
    return xg_atomic_commit(&a, err);
}

/* An integer key in [lo, hi], or -1. */
static int int_key(const char *s, int lo, int hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= lo && v <= hi ? (int)v : -1;
}

int xg_refdist_read(const char *path, xg_refdist *r, xg_error *err)
{
    memset(r, 0, sizeof *r);
    xg_csv_reader *c = NULL;
    int rc = xg_csv_open(path, &c, err);
    if (rc)
        return rc;
    if (xg_csv_ncolumns(c) != 3 || xg_csv_column(c, "section") != 0 ||
        xg_csv_column(c, "key") != 1 || xg_csv_column(c, "value") != 2) {
        xg_csv_close(c);
        return xg_error_set(err, XG_EPARSE, "%s:1: header must be section,key,value", path);
    }
    int got = 0, have_format = 0, nd = 0, ne = 0;
    while (!(rc = xg_csv_next(c, &got, err)) && got) {
        const char *sec = xg_csv_field(c, 0), *key = xg_csv_field(c, 1), *val = xg_csv_field(c, 2);
        long line = xg_csv_line(c);
        if (!strcmp(sec, "meta")) {
            if (!strcmp(key, "format")) {
                if (strcmp(val, "xtalgen-reference-distribution")) {
                    rc = xg_error_set(err, XG_EPARSE, "%s:%ld: format '%s' is not "
                                      "xtalgen-reference-distribution", path, line, val);
                    break;
                }
                have_format = 1;
            } else if (!strcmp(key, "version")) {
                if (int_key(val, 1, 1) != 1) {
                    rc = xg_error_set(err, XG_EVERSION, "%s:%ld: version %s; this build reads "
                                      "version 1", path, line, val);
                    break;
                }
            } else if (!strcmp(key, "name")) {
                snprintf(r->name, sizeof r->name, "%s", val);
            } else if (!strcmp(key, "source")) {
                snprintf(r->source, sizeof r->source, "%s", val);
            } else if (!strcmp(key, "n")) {
                r->n = int_key(val, 0, 1 << 30);
            }
            continue;
        }
        double v;
        if (!xg_csv_parse_number(val, &v) || !isfinite(v)) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%ld: value '%s' is not a number", path, line, val);
            break;
        }
        int k = -1;
        double *slot = NULL;
        if (!strcmp(sec, "density_q") && (k = int_key(key, 0, XG_REF_NQ - 1)) >= 0) {
            slot = &r->density_q[k];
            nd++;
        } else if (!strcmp(sec, "e_form_q") && (k = int_key(key, 0, XG_REF_NQ - 1)) >= 0) {
            slot = &r->eform_q[k];
            ne++;
        } else if (!strcmp(sec, "natoms") && (k = int_key(key, 0, XG_REF_MAX_NATOMS)) >= 0) {
            slot = &r->natoms[k];
        } else if (!strcmp(sec, "nelements") && (k = int_key(key, 0, XG_REF_MAX_NELEM)) >= 0) {
            slot = &r->nelements[k];
        } else if (!strcmp(sec, "spacegroup") && (k = int_key(key, 0, 230)) >= 0) {
            slot = &r->spacegroup[k];
        } else if (!strcmp(sec, "element") && (k = xg_element_from_symbol(key)) > 0) {
            slot = &r->element[k];
        }
        if (!slot) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%ld: unknown entry %s,%s", path, line, sec, key);
            break;
        }
        *slot = v;
    }
    xg_csv_close(c);
    if (!rc && !have_format)
        rc = xg_error_set(err, XG_EPARSE, "%s: no meta,format line: not a reference distribution",
                          path);
    if (!rc && ((nd && nd != XG_REF_NQ) || (ne && ne != XG_REF_NQ)))
        rc = xg_error_set(err, XG_EPARSE, "%s: %d density and %d formation-energy quantiles; "
                          "expected 0 or %d of each", path, nd, ne, XG_REF_NQ);
    r->n_density = nd;
    r->n_eform = ne;
    return rc;
}
