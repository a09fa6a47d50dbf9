/* run_record.c: provenance and summary.json of a generate run (see run_record.h). */
#include "src/run_record.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_fileio.h"
#include "crystal/xg_sha256.h"
#include "src/cli.h"
#include "crystal/xg_json.h"

#ifndef XTALGEN_VERSION
#define XTALGEN_VERSION "unknown"
#endif

/* Appends to buf (size n, *len used); 1 if it did not fit. */
static int appendf(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n - *len)
        return 1;
    *len += (size_t)w;
    return 0;
}

int xg_run_provenance(const char *model_path, int ncond, const char *const *cond,
                      double guidance, double guidance_types, int nneg, const char *const *neg,
                      long seed, long steps, xg_provenance *p, xg_error *err)
{
    xg_provenance_init(p);
    snprintf(p->version, sizeof p->version, "%s", XTALGEN_VERSION);
    const char *base = strrchr(model_path, '/');
    snprintf(p->model, sizeof p->model, "%s", base ? base + 1 : model_path);
    int rc = xg_sha256_file(model_path, p->model_sha256, err);
    if (rc)
        return rc;
    size_t len = 0;
    int over = 0;
    for (int k = 0; k < ncond; k++)
        over |= appendf(p->condition, sizeof p->condition, &len, "%s%s", k ? ";" : "", cond[k]);
    if (over)
        return xg_error_set(err, XG_EINVAL, "the conditions are too long to record");
    /* "1", "1 (types 3)", "1 (against e_above_hull=0.3)", "1 (types 3; against A=1 B=2)" */
    int types = ncond > 0 && !isnan(guidance_types), against = ncond > 0 && nneg > 0;
    len = 0;
    over = appendf(p->guidance, sizeof p->guidance, &len, "%g", ncond > 0 ? guidance : 1.0);
    if (types || against)
        over |= appendf(p->guidance, sizeof p->guidance, &len, " (");
    if (types)
        over |= appendf(p->guidance, sizeof p->guidance, &len, "types %g%s", guidance_types,
                        against ? "; " : "");
    for (int k = 0; against && k < nneg; k++)
        over |= appendf(p->guidance, sizeof p->guidance, &len, "%s%s", k ? " " : "against ", neg[k]);
    if (types || against)
        over |= appendf(p->guidance, sizeof p->guidance, &len, ")");
    if (over)
        return xg_error_set(err, XG_EINVAL, "the guidance settings are too long to record");
    snprintf(p->seed, sizeof p->seed, "%ld", seed);
    snprintf(p->steps, sizeof p->steps, "%ld", steps);
    return XG_OK;
}

int xg_run_elements_list(const unsigned char *allowed, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int z = 1; z <= XG_MAX_Z; z++) {
        if (!allowed[z])
            continue;
        int w = snprintf(buf + len, n - len, "%s%s", len ? "," : "", xg_element_get(z)->symbol);
        if (w < 0 || (size_t)w >= n - len)
            return XG_EINVAL;
        len += (size_t)w;
    }
    return XG_OK;
}

static void kv(FILE *f, const char *key, const char *val, int last)
{
    fprintf(f, "  ");
    xg_json_write_string(f, key);
    fputs(": ", f);
    xg_json_write_string(f, val);
    fputs(last ? "\n" : ",\n", f);
}

/* {"NAME": VALUE, ...} from n "NAME=VALUE" strings. */
static void write_conditions(FILE *f, int n, const char *const *cond)
{
    fputc('{', f);
    for (int k = 0; k < n; k++) {
        const char *eq = strchr(cond[k], '=');
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - cond[k]), cond[k]);
        fputs(k ? ", " : "", f);
        xg_json_write_string(f, name);
        fputs(": ", f);
        /* a number stays a number; a chemical system stays a string */
        char *end = NULL;
        double v = strtod(eq + 1, &end);
        if (end != eq + 1 && *end == '\0' && isfinite(v))
            fprintf(f, "%.15g", v); /* the value as typed, not its binary expansion */
        else
            xg_json_write_string(f, eq + 1);
    }
    fputc('}', f);
}

static int write_json(FILE *f, const void *ctx, xg_error *err)
{
    const void *const *pp = ctx;
    const xg_provenance *p = pp[0];
    const xg_run_settings *r = pp[1];
    fputs("{\n", f);
    kv(f, "xtalgen_version", p->version, 0);
    kv(f, "model", p->model, 0);
    kv(f, "model_path", r->model_path, 0);
    kv(f, "model_sha256", p->model_sha256, 0);
    fputs("  \"conditions\": ", f);
    write_conditions(f, r->ncond, r->cond);
    fputs(",\n", f);
    if (r->ncond > 0 && r->nneg > 0) {
        fputs("  \"negative_conditions\": ", f);
        write_conditions(f, r->nneg, r->neg);
        fputs(",\n", f);
    }
    fprintf(f, "  \"guidance\": %.15g,\n", r->ncond > 0 ? r->guidance : 1.0);
    if (r->ncond > 0 && !isnan(r->guidance_types))
        fprintf(f, "  \"type_guidance\": %.15g,\n", r->guidance_types);
    fprintf(f, "  \"seed\": %ld,\n  \"steps\": %ld,\n  \"corrector\": %ld,\n", r->seed, r->steps,
            r->corrector);
    fprintf(f, "  \"n\": %ld,\n  \"batch\": %ld,\n", r->n, r->batch);
    if (r->threads > 0)
        fprintf(f, "  \"threads\": %ld,\n", r->threads);
    else
        fputs("  \"threads\": null,\n", f); /* OpenMP's default: all cores */
    if (r->natoms > 0)
        fprintf(f, "  \"num_atoms\": %ld,\n", r->natoms);
    else
        fputs("  \"num_atoms\": null,\n", f);
    fprintf(f, "  \"symprec\": %.10g,\n  \"mpi_ranks\": %d,\n", r->symprec, r->mpi_ranks);
    fprintf(f, "  \"symmetry\": \"%s\",\n", r->symmetry ? r->symmetry : "none");
    if (r->redrawn >= 0)
        fprintf(f, "  \"redrawn_collapsed\": %ld,\n  \"collapsed_kept\": %ld,\n"
                   "  \"redrawn_wrong_group\": %ld,\n  \"wrong_group_kept\": %ld,\n",
                r->redrawn, r->unresolved, r->wrong_group, r->wrong_group_kept);
    kv(f, "template", p->template_sg, 0);
    if (r->element_pattern)
        fprintf(f, "  \"element_pattern\": \"%s\",\n", r->element_pattern);
    if (r->class_prior)
        fprintf(f, "  \"class_prior\": \"%s\",\n", r->class_prior);
    if (r->chemistry && r->chemistry[0]) { /* issue 16: --chemsys, --composition(s), ... */
        fputs("  \"chemistry\": ", f);
        xg_json_write_string(f, r->chemistry);
        fputs(",\n", f);
    }
    fputs("  \"elements_option\": ", f);
    if (r->elements_spec)
        xg_json_write_string(f, r->elements_spec);
    else
        fputs("null", f);
    fputs(",\n  \"exclude_elements_option\": ", f);
    if (r->exclude_spec)
        xg_json_write_string(f, r->exclude_spec);
    else
        fputs("null", f);
    fputs(",\n  \"elements\": [", f);
    int first = 1;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (r->allowed[z]) {
            fputs(first ? "" : ", ", f);
            xg_json_write_string(f, xg_element_get(z)->symbol);
            first = 0;
        }
    fputs("]\n}\n", f);
    if (ferror(f))
        return xg_error_set(err, XG_EIO, "write error");
    return XG_OK;
}

int xg_run_write_summary_json(const char *path, const xg_provenance *p, const xg_run_settings *r,
                              xg_error *err)
{
    const void *ctx[2] = {p, r};
    return xg_file_write_atomic_with(path, write_json, ctx, err);
}
