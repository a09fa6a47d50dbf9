/* xg_provenance.c: formatting and storing the provenance record (see xg_provenance.h). */
#include "crystal/xg_provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xg_provenance_init(xg_provenance *p)
{
    memset(p, 0, sizeof *p);
    p->index = -1;
}

int xg_provenance_known(const xg_provenance *p)
{
    return p && (p->version[0] || p->model[0]);
}

/* Appends "fmt" to buf at *len; sets *over when it does not fit. */
static void add(char *buf, size_t n, size_t *len, int *over, const char *key, const char *val,
                const char *sep)
{
    if (*over || !val || !val[0])
        return;
    int w = snprintf(buf + *len, n - *len, "%s%s%s", *len ? sep : "", key, val);
    if (w < 0 || (size_t)w >= n - *len) {
        *over = 1;
        return;
    }
    *len += (size_t)w;
}

int xg_provenance_format(const xg_provenance *p, int one_line, char *buf, size_t n)
{
    if (!buf || n == 0)
        return XG_EINVAL;
    buf[0] = '\0';
    if (!p)
        return XG_OK;
    size_t len = 0;
    int over = 0;
    char idx[32] = "";
    if (p->index >= 0)
        snprintf(idx, sizeof idx, "%ld", p->index);
    const char *sep = one_line ? " " : "\n";
    char ver[48] = "";
    if (p->version[0])
        snprintf(ver, sizeof ver, "xtalgen %s", p->version);
    add(buf, n, &len, &over, "", ver, sep);
    if (one_line) {
        add(buf, n, &len, &over, "model=", p->model, sep);
        add(buf, n, &len, &over, "sha256=", p->model_sha256, sep);
        add(buf, n, &len, &over, "condition=", p->condition, sep);
        if (p->condition[0])
            add(buf, n, &len, &over, "guidance=", p->guidance, sep);
        add(buf, n, &len, &over, "seed=", p->seed, sep);
        add(buf, n, &len, &over, "steps=", p->steps, sep);
        add(buf, n, &len, &over, "template=", p->template_sg, sep);
        add(buf, n, &len, &over, "index=", idx, sep);
    } else {
        add(buf, n, &len, &over, "model: ", p->model, sep);
        add(buf, n, &len, &over, "model_sha256: ", p->model_sha256, sep);
        add(buf, n, &len, &over, "condition: ",
            p->condition[0] ? p->condition : (p->model[0] ? "none (unconditional)" : ""), sep);
        add(buf, n, &len, &over, "guidance: ", p->guidance, sep);
        add(buf, n, &len, &over, "seed: ", p->seed, sep);
        add(buf, n, &len, &over, "steps: ", p->steps, sep);
        add(buf, n, &len, &over, "template: ", p->template_sg, sep);
        add(buf, n, &len, &over, "crystal_index: ", idx, sep);
    }
    if (over) {
        buf[0] = '\0';
        return XG_EINVAL;
    }
    return XG_OK;
}

int xg_provenance_to_dataset(const xg_provenance *p, xg_dataset *ds, xg_error *err)
{
    const char *names[] = {"xtalgen_version", "model", "model_sha256", "condition",
                           "guidance", "seed", "steps", "template"};
    const char *vals[] = {p->version, p->model,     p->model_sha256, p->condition,
                          p->guidance, p->seed,     p->steps,        p->template_sg};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int rc = xg_dataset_set_attr(ds, names[k], vals[k], err);
        if (rc)
            return rc;
    }
    return XG_OK;
}

static int get(const xg_dataset *ds, const char *name, char *out, size_t n)
{
    const char *v = xg_dataset_get_attr(ds, name);
    if (!v)
        return 0;
    snprintf(out, n, "%s", v);
    return 1;
}

int xg_provenance_from_dataset(const xg_dataset *ds, xg_provenance *p)
{
    xg_provenance_init(p);
    int any = 0;
    any |= get(ds, "xtalgen_version", p->version, sizeof p->version);
    any |= get(ds, "model", p->model, sizeof p->model);
    any |= get(ds, "model_sha256", p->model_sha256, sizeof p->model_sha256);
    any |= get(ds, "condition", p->condition, sizeof p->condition);
    any |= get(ds, "guidance", p->guidance, sizeof p->guidance);
    any |= get(ds, "seed", p->seed, sizeof p->seed);
    any |= get(ds, "steps", p->steps, sizeof p->steps);
    any |= get(ds, "template", p->template_sg, sizeof p->template_sg);
    return any;
}

long xg_provenance_index_of_id(const char *id)
{
    if (!id || strncmp(id, "gen-", 4) != 0 || !id[4])
        return -1;
    char *end = NULL;
    long v = strtol(id + 4, &end, 10);
    return (end && *end == '\0' && v >= 0) ? v : -1;
}
