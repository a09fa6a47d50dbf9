/* gen_chem.c: the hard-chemistry options of `xtalgen generate` (see gen_chem.h). */
#include "src/gen_chem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_csv.h"
#include "crystal/xg_input.h"
#include "diffusion/xg_condition.h"
#include "properties/xg_hull.h"


static long gcd_l(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The atoms of a formula, scaled to natoms (> 0) or to funits formula units of the reduced
 * formula (> 0), else as written. */
static int comp_from_formula(const char *formula, long natoms, long funits, gen_comp *c,
                             xg_error *err)
{
    xg_hull_comp hc;
    int rc = xg_hull_comp_parse(formula, &hc, err);
    if (rc)
        return rc;
    long cnt[XG_HULL_MAX_ELEMENTS], total = 0, g = 0;
    for (int e = 0; e < hc.nel; e++) {
        double x = hc.amount[e];
        if (!(x >= 1 && x <= 1000 && x == (double)(long)x))
            return xg_error_set(err, XG_EINVAL, "formula '%s': element counts must be whole "
                                "numbers from 1 to 1000", formula);
        cnt[e] = (long)x;
        total += cnt[e];
        g = gcd_l(g, cnt[e]);
    }
    long unit = total / g; /* atoms of the reduced formula */
    long scale_num = 1, scale_den = 1;
    if (natoms > 0) {
        if (natoms % unit != 0)
            return xg_error_set(err, XG_EINVAL, "formula '%s': %ld atoms is not a whole number of "
                                "formula units (the reduced formula has %ld atoms)", formula,
                                natoms, unit);
        scale_num = natoms / unit;
        scale_den = g;
    } else if (funits > 0) {
        scale_num = funits;
        scale_den = g;
    }
    long n = total / scale_den * scale_num;
    if (n < 1 || n > 1000)
        return xg_error_set(err, XG_EINVAL, "formula '%s': %ld atoms per cell (1..1000)", formula,
                            n);
    c->types = malloc(sizeof(int) * (size_t)n);
    if (!c->types)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    c->natoms = (int)n;
    int a = 0;
    for (int e = 0; e < hc.nel; e++) /* ascending Z */
        for (long j = 0; j < cnt[e] / scale_den * scale_num; j++)
            c->types[a++] = hc.z[e];
    xg_hull_comp_reduce(&hc);
    xg_error ferr = {0};
    if (xg_hull_comp_format(&hc, c->formula, sizeof c->formula, &ferr))
        snprintf(c->formula, sizeof c->formula, "%.100s", formula);
    return XG_OK;
}

static int cmp_int(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    return (a > b) - (a < b);
}

static int comp_push(gen_chem_plan *p, int *cap, xg_error *err)
{
    if (p->ncomp < *cap)
        return XG_OK;
    int nc = *cap ? 2 * *cap : 64;
    gen_comp *c = realloc(p->comp, sizeof *c * (size_t)nc);
    if (!c)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    memset(c + *cap, 0, sizeof *c * (size_t)(nc - *cap));
    p->comp = c;
    *cap = nc;
    return XG_OK;
}

/* A CSV with a formula column (and no cif column) is a formula table; anything else is a
 * structure input. */
static int is_formula_table(const char *path)
{
    size_t n = strlen(path);
    if (n < 4 || strcmp(path + n - 4, ".csv") != 0)
        return 0;
    xg_csv_reader *r = NULL;
    xg_error e = {0};
    if (xg_csv_open(path, &r, &e))
        return 0;
    int yes = xg_csv_column(r, "formula") >= 0 && xg_csv_column(r, "cif") < 0;
    xg_csv_close(r);
    return yes;
}

static int read_formula_table(const char *path, long natoms_opt, long funits, gen_chem_plan *p,
                              xg_error *err)
{
    xg_csv_reader *r = NULL;
    int rc = xg_csv_open(path, &r, err);
    if (rc)
        return rc;
    int cf = xg_csv_column(r, "formula"), cn = xg_csv_column(r, "num_atoms"),
        ci = xg_csv_column(r, "id");
    int cap = 0, got = 0;
    while ((rc = xg_csv_next(r, &got, err)) == XG_OK && got) {
        if ((rc = comp_push(p, &cap, err)))
            break;
        gen_comp *c = &p->comp[p->ncomp];
        long natoms = natoms_opt;
        if (cn >= 0 && xg_csv_field(r, cn)[0]) {
            double x;
            if (!xg_csv_parse_number(xg_csv_field(r, cn), &x) || x != (double)(long)x || x < 1 ||
                x > 1000) {
                rc = xg_error_set(err, XG_EPARSE, "%s:%ld: num_atoms '%s' is not a whole number "
                                  "from 1 to 1000", xg_csv_name(r), xg_csv_line(r),
                                  xg_csv_field(r, cn));
                break;
            }
            natoms = (long)x;
        }
        rc = comp_from_formula(xg_csv_field(r, cf), natoms, natoms > 0 ? 0 : funits, c, err);
        if (rc) {
            rc = xg_error_prefix(err, XG_EPARSE, "%s:%ld", xg_csv_name(r), xg_csv_line(r));
            break;
        }
        if (ci >= 0)
            snprintf(c->id, sizeof c->id, "%s", xg_csv_field(r, ci));
        else
            snprintf(c->id, sizeof c->id, "row%d", p->ncomp + 1);
        p->ncomp++;
    }
    xg_csv_close(r);
    if (rc == XG_OK && p->ncomp == 0)
        rc = xg_error_set(err, XG_EPARSE, "%s: no composition (the table is empty)", path);
    return rc;
}

static int read_structures(const char *path, gen_chem_plan *p, xg_error *err)
{
    xg_dataset *ds = NULL;
    int rc = xg_input_read(path, &ds, err);
    if (rc)
        return rc;
    int cap = 0;
    for (int64_t i = 0; i < ds->n && rc == XG_OK; i++) {
        xg_structure *s = xg_dataset_get(ds, i, err);
        if (!s) {
            rc = err->code ? err->code : XG_EIO;
            break;
        }
        if ((rc = comp_push(p, &cap, err)) == XG_OK) {
            gen_comp *c = &p->comp[p->ncomp];
            if (s->natoms < 1 || s->natoms > 1000) {
                rc = xg_error_set(err, XG_EINVAL, "%s: crystal %s has %d atoms (1..1000)", path,
                                  s->id, s->natoms);
            } else if (!(c->types = malloc(sizeof(int) * (size_t)s->natoms))) {
                rc = xg_error_set(err, XG_ENOMEM, "out of memory");
            } else {
                c->natoms = s->natoms;
                memcpy(c->types, s->types, sizeof(int) * (size_t)s->natoms);
                qsort(c->types, (size_t)c->natoms, sizeof(int), cmp_int);
                snprintf(c->id, sizeof c->id, "%s", s->id);
                xg_structure_reduced_formula(s, c->formula, sizeof c->formula);
                p->ncomp++;
            }
        }
        xg_structure_free(s);
    }
    xg_dataset_free(ds);
    return rc;
}

/* Appends the element sets of one --chemsys value ("Li-Fe-P-O,Fe-Co-N"). */
static int parse_systems(const char *arg, gen_chem_plan *p, xg_error *err)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", arg);
    int any = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!*tok)
            continue;
        if (p->nsys == GEN_CHEM_MAX_SYSTEMS)
            return xg_error_set(err, XG_EINVAL, "--chemsys: at most %d systems",
                                GEN_CHEM_MAX_SYSTEMS);
        unsigned char el[XG_COND_NUM_Z + 1];
        int rc = xg_cond_parse_chemsys(tok, el, err);
        if (rc)
            return xg_error_prefix(err, rc, "--chemsys");
        memset(p->sys[p->nsys], 0, XG_MAX_Z + 1);
        xg_sampler_chem *c = &p->sys_chem[p->nsys];
        memset(c, 0, sizeof *c);
        for (int z = 1; z <= XG_COND_NUM_Z; z++) {
            if (!el[z])
                continue;
            if (c->nrequired == XG_SAMPLER_MAX_REQUIRED)
                return xg_error_set(err, XG_EINVAL, "--chemsys %s: more than %d elements", tok,
                                    XG_SAMPLER_MAX_REQUIRED);
            p->sys[p->nsys][z] = 1;
            c->required[c->nrequired++] = z;
        }
        c->allowed = p->sys[p->nsys];
        p->nsys++;
        any = 1;
    }
    if (!any)
        return xg_error_set(err, XG_EINVAL, "--chemsys: no system in '%s'", arg);
    return XG_OK;
}

int gen_chem_plan_build(const gen_chem_args *a, const unsigned char *allowed, long natoms_opt,
                        gen_chem_plan *p, xg_error *err)
{
    memset(p, 0, sizeof *p);
    p->k = a->k > 0 ? a->k : 1;
    int csp = a->composition || a->compositions;
    p->active = csp || a->nsys_args || a->min_elements || a->max_elements;
    if (!p->active) {
        if (a->k || a->formula_units || a->csp_types != GEN_CHEM_CSP_NOT_GIVEN ||
            a->csp_templates != GEN_CHEM_TPL_NOT_GIVEN)
            return xg_error_set(err, XG_EINVAL, "-k, --formula-units, --csp-types and "
                                "--csp-templates go with --composition or --compositions");
        return XG_OK;
    }
    if (a->composition && a->compositions)
        return xg_error_set(err, XG_EINVAL, "give --composition or --compositions, not both");
    if (csp && (a->nsys_args || a->min_elements || a->max_elements))
        return xg_error_set(err, XG_EINVAL, "--composition fixes every atom's element; it "
                            "cannot be combined with --chemsys, --min-elements or --max-elements");
    if (a->formula_units && natoms_opt > 0)
        return xg_error_set(err, XG_EINVAL, "give --num-atoms or --formula-units, not both");
    if (!csp && (a->k || a->formula_units || a->csp_types != GEN_CHEM_CSP_NOT_GIVEN ||
                 a->csp_templates != GEN_CHEM_TPL_NOT_GIVEN))
        return xg_error_set(err, XG_EINVAL, "-k, --formula-units, --csp-types and "
                            "--csp-templates go with --composition or --compositions");
    if (a->composition && a->k)
        return xg_error_set(err, XG_EINVAL, "-k goes with --compositions; with --composition, "
                            "-n is the number of candidates");
    int rc = XG_OK;
    int len = 0;
    if (csp) {
        p->unmask = a->csp_types != GEN_CHEM_CSP_FIXED;
        p->csp_types_given = a->csp_types != GEN_CHEM_CSP_NOT_GIVEN;
        p->similar = a->csp_templates != GEN_CHEM_TPL_FREQUENCY;
        p->similar_given = a->csp_templates == GEN_CHEM_TPL_SIMILAR;
        if (a->composition) {
            int cap = 0;
            if ((rc = comp_push(p, &cap, err)))
                return rc;
            rc = comp_from_formula(a->composition, natoms_opt, a->formula_units, &p->comp[0], err);
            if (rc)
                return xg_error_prefix(err, rc, "--composition");
            snprintf(p->comp[0].id, sizeof p->comp[0].id, "%.*s", (int)sizeof p->comp[0].id - 1, p->comp[0].formula);
            p->ncomp = 1;
            len += snprintf(p->desc + len, sizeof p->desc - (size_t)len, "composition=%s",
                            a->composition);
        } else {
            if (natoms_opt > 0 && !is_formula_table(a->compositions))
                return xg_error_set(err, XG_EINVAL, "--num-atoms applies to a formula table; %s "
                                    "is a structure input whose cells fix N", a->compositions);
            rc = is_formula_table(a->compositions)
                     ? read_formula_table(a->compositions, natoms_opt, a->formula_units, p, err)
                     : read_structures(a->compositions, p, err);
            if (rc)
                return xg_error_prefix(err, rc, "--compositions");
            len += snprintf(p->desc + len, sizeof p->desc - (size_t)len,
                            "compositions=%s;k=%ld", a->compositions, p->k);
            p->from_file = 1;
        }
        if (len < (int)sizeof p->desc) /* used with --symmetry template */
            len += snprintf(p->desc + len, sizeof p->desc - (size_t)len, ";csp_templates=%s",
                            p->similar ? "similar" : "frequency");
        for (int i = 0; i < p->ncomp; i++)
            for (int j = 0; j < p->comp[i].natoms; j++) {
                int z = p->comp[i].types[j];
                if (z > XG_NUM_TYPES || (allowed && !allowed[z]))
                    return xg_error_set(err, XG_EINVAL, "composition %s (%s) holds %s, which %s",
                                        p->comp[i].id, p->comp[i].formula,
                                        xg_element_get(z)->symbol,
                                        z > XG_NUM_TYPES ? "the model does not know"
                                                         : "the element constraints exclude");
            }
        return XG_OK;
    }
    p->sys = calloc(GEN_CHEM_MAX_SYSTEMS, sizeof *p->sys);
    p->sys_chem = calloc(GEN_CHEM_MAX_SYSTEMS, sizeof *p->sys_chem);
    if (!p->sys || !p->sys_chem)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    for (int i = 0; i < a->nsys_args; i++)
        if ((rc = parse_systems(a->sys_arg[i], p, err)))
            return rc;
    p->plain.min_elements = (int)a->min_elements;
    p->plain.max_elements = (int)a->max_elements;
    for (int s = 0; s < p->nsys; s++) {
        p->sys_chem[s].min_elements = (int)a->min_elements;
        p->sys_chem[s].max_elements = (int)a->max_elements;
    }
    /* Check each constraint now, with the largest N it could get (the sampler checks again
     * with the N each crystal gets). */
    int nmax = natoms_opt > 0 ? (int)natoms_opt : 1000;
    char name[256];
    for (int s = -1; s < p->nsys; s++) {
        const xg_sampler_chem *c = s < 0 ? &p->plain : &p->sys_chem[s];
        if (s < 0 && p->nsys > 0)
            continue;
        /* A system element the run's --elements / --exclude-elements leave out. */
        for (int i = 0; c->allowed && i < c->nrequired; i++)
            if (allowed && !allowed[c->required[i]])
                return xg_error_set(err, XG_EINVAL, "--chemsys: %s is excluded by --elements / "
                                    "--exclude-elements", xg_element_get(c->required[i])->symbol);
        rc = xg_sampler_chem_check(c, allowed, nmax, NULL, err);
        if (rc) {
            name[0] = '\0';
            for (int i = 0, l = 0; i < c->nrequired; i++)
                l += snprintf(name + l, sizeof name - (size_t)l, "%s%s", i ? "-" : "",
                              xg_element_get(c->required[i])->symbol);
            return xg_error_prefix(err, rc, "%s%s%s", s >= 0 ? "--chemsys " : "--min/max-elements",
                                   name, natoms_opt > 0 ? " with --num-atoms" : "");
        }
    }
    for (int s = 0; s < p->nsys; s++) {
        len += snprintf(p->desc + len, sizeof p->desc - (size_t)len, "%s", s ? "," : "chemsys=");
        for (int i = 0; i < p->sys_chem[s].nrequired && len < (int)sizeof p->desc; i++)
            len += snprintf(p->desc + len, sizeof p->desc - (size_t)len, "%s%s", i ? "-" : "",
                            xg_element_get(p->sys_chem[s].required[i])->symbol);
    }
    if (a->min_elements && len < (int)sizeof p->desc)
        len += snprintf(p->desc + len, sizeof p->desc - (size_t)len, "%smin_elements=%ld",
                        len ? ";" : "", a->min_elements);
    if (a->max_elements && len < (int)sizeof p->desc)
        snprintf(p->desc + len, sizeof p->desc - (size_t)len, "%smax_elements=%ld",
                 len ? ";" : "", a->max_elements);
    return XG_OK;
}

void gen_chem_plan_free(gen_chem_plan *p)
{
    for (int i = 0; i < p->ncomp; i++)
        free(p->comp[i].types);
    free(p->comp);
    free(p->sys);
    free(p->sys_chem);
    memset(p, 0, sizeof *p);
}

long gen_chem_count(const gen_chem_plan *p)
{
    return p->from_file ? (long)p->ncomp * p->k : 0;
}

const gen_comp *gen_chem_comp_of(const gen_chem_plan *p, long k)
{
    if (p->ncomp == 0)
        return NULL;
    if (!p->from_file)
        return &p->comp[0]; /* --composition: every crystal */
    return &p->comp[(k / p->k) % p->ncomp];
}

int gen_chem_need(const xg_sampler_chem *c)
{
    return c->nrequired > c->min_elements ? c->nrequired : c->min_elements;
}

/* Assigns the orbits order[q..] (largest first) to elements with left[e] atoms still to
 * place; elements are tried in a random order when r is given. A budget bounds the search. */
static int assign_orbits(const xg_template *t, const int *order, int q, int nel, long *left,
                         int *orbit_el, xg_rng *r, long *budget)
{
    if (q == t->norbits)
        return 1;
    if (--*budget < 0)
        return 0;
    int o = order[q];
    long size = t->orbit_start[o + 1] - t->orbit_start[o];
    int start = r ? (int)xg_rng_below(r, (uint64_t)nel) : 0;
    for (int j = 0; j < nel; j++) {
        int e = (start + j) % nel;
        if (left[e] < size)
            continue;
        left[e] -= size;
        orbit_el[o] = e;
        if (assign_orbits(t, order, q + 1, nel, left, orbit_el, r, budget))
            return 1;
        left[e] += size;
    }
    return 0;
}

int gen_chem_template_fits(const xg_sampler_chem *c, const gen_comp *comp, const xg_template *t,
                           xg_rng *r, int *types_buf)
{
    if (!comp)
        return gen_chem_need(c) <= t->norbits;
    if (t->natoms != comp->natoms || t->norbits > 1000)
        return 0;
    /* Element counts (comp->types is grouped by element). */
    int zs[XG_HULL_MAX_ELEMENTS], nel = 0;
    long left[XG_HULL_MAX_ELEMENTS];
    for (int a = 0; a < comp->natoms; a++) {
        if (nel == 0 || zs[nel - 1] != comp->types[a]) {
            if (nel == XG_HULL_MAX_ELEMENTS)
                return 0;
            zs[nel] = comp->types[a];
            left[nel++] = 0;
        }
        left[nel - 1]++;
    }
    if (nel > t->norbits)
        return 0;
    int order[1000], orbit_el[1000];
    for (int o = 0; o < t->norbits; o++)
        order[o] = o;
    /* Largest orbits first: they constrain most. Insertion sort, stable. */
    for (int i = 1; i < t->norbits; i++)
        for (int j = i; j > 0; j--) {
            int a = order[j - 1], b = order[j];
            long sa = t->orbit_start[a + 1] - t->orbit_start[a];
            long sb = t->orbit_start[b + 1] - t->orbit_start[b];
            if (sa >= sb)
                break;
            order[j - 1] = b;
            order[j] = a;
        }
    long budget = 100000;
    if (!assign_orbits(t, order, 0, nel, left, orbit_el, r, &budget))
        return 0;
    if (types_buf)
        for (int o = 0; o < t->norbits; o++)
            for (int a = t->orbit_start[o]; a < t->orbit_start[o + 1]; a++)
                types_buf[a] = zs[orbit_el[o]];
    return 1;
}

int gen_chem_plan_model(gen_chem_plan *p, int model_is_csp, const char *model_path,
                        xg_error *err)
{
    if (!model_is_csp)
        return XG_OK;
    if (p->ncomp == 0)
        return xg_error_set(err, XG_EINVAL, "%s is a crystal-structure-prediction model (trained "
                            "with types never masked): it needs --composition or --compositions",
                            model_path);
    if (p->unmask && p->csp_types_given)
        return xg_error_set(err, XG_EINVAL, "%s is a crystal-structure-prediction model: "
                            "--csp-types unmask does not apply (it takes the types from t = 1)",
                            model_path);
    p->unmask = 0;
    return XG_OK;
}

int gen_chem_check_templates(const gen_chem_plan *p, const xg_template_table *tab,
                             const unsigned char *groups, long natoms_opt, xg_error *err)
{
    if (p->ncomp > 0 && p->similar_given && tab->nmembers == 0)
        return xg_error_set(err, XG_EINVAL, "--csp-templates similar needs a template table with "
                            "its training crystals' compositions (built by this version of "
                            "`xtalgen templates build`); this one has none");
    if (!p->active || p->ncomp > 0)
        return XG_OK;
    int most = 0;
    for (int i = 0; i < tab->n; i++) {
        const xg_template *t = &tab->t[i];
        if ((groups && !groups[t->spacegroup]) || (natoms_opt > 0 && t->natoms != natoms_opt))
            continue;
        most = t->norbits > most ? t->norbits : most;
    }
    for (int s = p->nsys > 0 ? 0 : -1; s < p->nsys; s++) {
        const xg_sampler_chem *c = s < 0 ? &p->plain : &p->sys_chem[s];
        if (gen_chem_need(c) > most)
            return xg_error_set(err, XG_EINVAL, "%d distinct elements need %d orbits, but the "
                                "templates of the requested space groups%s have at most %d",
                                gen_chem_need(c), gen_chem_need(c),
                                natoms_opt > 0 ? " with --num-atoms" : "", most);
    }
    return XG_OK;
}

double gen_chem_element_distance(int za, int zb)
{
    if (za == zb)
        return 0.0;
    const xg_element *a = xg_element_get(za), *b = xg_element_get(zb);
    /* Noble gases have no Pauling electronegativity: taken as 0, so they pair with each other. */
    double xa = a && isfinite(a->electronegativity) ? a->electronegativity : 0.0;
    double xb = b && isfinite(b->electronegativity) ? b->electronegativity : 0.0;
    return fabs(xa - xb) + 0.5 * abs(xg_element_period(za) - xg_element_period(zb)) +
           0.3 * abs(xg_element_group(za) - xg_element_group(zb));
}

/* A composition's elements and their counts (comp->types is grouped by element). */
typedef struct {
    int n;
    int z[XG_HULL_MAX_ELEMENTS];
    long cnt[XG_HULL_MAX_ELEMENTS];
} el_counts;

static int comp_counts(const gen_comp *comp, el_counts *e)
{
    e->n = 0;
    for (int a = 0; a < comp->natoms; a++) {
        if (e->n == 0 || e->z[e->n - 1] != comp->types[a]) {
            if (e->n == XG_HULL_MAX_ELEMENTS)
                return 0;
            e->z[e->n] = comp->types[a];
            e->cnt[e->n++] = 0;
        }
        e->cnt[e->n - 1]++;
    }
    return 1;
}

/* Member m's elements and counts on its template; 0 when it has more than the table holds. */
static int member_counts(const xg_template_table *tab, int64_t m, el_counts *e)
{
    const xg_template *t = &tab->t[tab->member_template[m]];
    const int32_t *z = tab->member_z + tab->member_start[m];
    e->n = 0;
    for (int o = 0; o < t->norbits; o++) {
        int j = 0;
        while (j < e->n && e->z[j] != z[o])
            j++;
        if (j == e->n) {
            if (e->n == XG_HULL_MAX_ELEMENTS)
                return 0;
            e->z[e->n] = z[o];
            e->cnt[e->n++] = 0;
        }
        e->cnt[j] += t->orbit_start[o + 1] - t->orbit_start[o];
    }
    return 1;
}

/* The cheapest pairing of c's elements with m's of equal count (depth-first, bounded; a
 * stoichiometry has few elements of one count). pair[i]: the index into m of c's element i. */
typedef struct {
    const el_counts *c, *m;
    double cost[XG_HULL_MAX_ELEMENTS][XG_HULL_MAX_ELEMENTS];
    int cur[XG_HULL_MAX_ELEMENTS], best[XG_HULL_MAX_ELEMENTS];
    unsigned char used[XG_HULL_MAX_ELEMENTS];
    double best_d;
    long budget;
} pairing;

static void pair_search(pairing *P, int i, double d)
{
    if (d >= P->best_d || --P->budget < 0)
        return;
    if (i == P->c->n) {
        P->best_d = d;
        memcpy(P->best, P->cur, sizeof P->best);
        return;
    }
    for (int j = 0; j < P->m->n; j++) {
        if (P->used[j] || P->m->cnt[j] != P->c->cnt[i])
            continue;
        P->used[j] = 1;
        P->cur[i] = j;
        pair_search(P, i + 1, d + P->cost[i][j]);
        P->used[j] = 0;
    }
}

/* d of the best pairing (INFINITY when the stoichiometries differ). */
static double pair_best(const el_counts *c, const el_counts *m, int *pair)
{
    if (c->n != m->n)
        return INFINITY;
    long a[XG_HULL_MAX_ELEMENTS], b[XG_HULL_MAX_ELEMENTS];
    memcpy(a, c->cnt, sizeof(long) * (size_t)c->n);
    memcpy(b, m->cnt, sizeof(long) * (size_t)m->n);
    for (int i = 1; i < c->n; i++) /* insertion sorts: a few elements */
        for (int j = i; j > 0 && a[j - 1] > a[j]; j--) {
            long x = a[j]; a[j] = a[j - 1]; a[j - 1] = x;
        }
    for (int i = 1; i < m->n; i++)
        for (int j = i; j > 0 && b[j - 1] > b[j]; j--) {
            long x = b[j]; b[j] = b[j - 1]; b[j - 1] = x;
        }
    if (memcmp(a, b, sizeof(long) * (size_t)c->n))
        return INFINITY;
    pairing P;
    memset(&P, 0, sizeof P);
    P.c = c;
    P.m = m;
    P.best_d = INFINITY;
    P.budget = 100000;
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < m->n; j++)
            P.cost[i][j] = gen_chem_element_distance(c->z[i], m->z[j]);
    pair_search(&P, 0, 0.0);
    if (pair && isfinite(P.best_d))
        memcpy(pair, P.best, sizeof(int) * (size_t)c->n);
    return P.best_d;
}

/* Draws i with weight exp(-(d[i] - dmin) / tau) among the finite d[i]; -1 when none is. */
static int64_t draw_nearest(const double *d, int64_t n, double dmin, double tau, xg_rng *r)
{
    if (!isfinite(dmin))
        return -1;
    double total = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(d[i]))
            total += exp(-(d[i] - dmin) / tau);
    double u = xg_rng_uniform(r) * total;
    int64_t pick = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(d[i]))
            continue;
        pick = i; /* the last candidate, should rounding leave u above the sum */
        u -= exp(-(d[i] - dmin) / tau);
        if (u < 0)
            break;
    }
    return pick;
}

/* Member pick's template atoms, each orbit's element replaced by its partner among c's in the
 * best pairing of c with m (m: the member's elements, as member_counts lists them). */
static void substitute(const el_counts *c, const el_counts *m, const xg_template_table *tab,
                       int64_t pick, int *types_buf)
{
    int pair[XG_HULL_MAX_ELEMENTS], back[XG_HULL_MAX_ELEMENTS];
    pair_best(c, m, pair);
    for (int i = 0; i < c->n; i++)
        back[pair[i]] = c->z[i]; /* member element pair[i] -> element i of c */
    const xg_template *t = &tab->t[tab->member_template[pick]];
    const int32_t *mz = tab->member_z + tab->member_start[pick];
    for (int o = 0; o < t->norbits; o++) {
        int j = 0;
        while (m->z[j] != mz[o])
            j++;
        for (int a = t->orbit_start[o]; a < t->orbit_start[o + 1]; a++)
            types_buf[a] = back[j];
    }
}

int gen_chem_template_similar(const gen_comp *comp, const xg_template_table *tab,
                              const unsigned char *groups, xg_rng *r, int *types_buf)
{
    el_counts c, m;
    if (!tab || tab->nmembers == 0 || !comp_counts(comp, &c))
        return -1;
    double *d = malloc(sizeof(double) * (size_t)tab->nmembers);
    if (!d)
        return -2;
    double dmin = INFINITY;
    for (int64_t i = 0; i < tab->nmembers; i++) {
        const xg_template *t = &tab->t[tab->member_template[i]];
        d[i] = INFINITY;
        if (t->natoms != comp->natoms || (groups && !groups[t->spacegroup]) ||
            !member_counts(tab, i, &m))
            continue;
        d[i] = pair_best(&c, &m, NULL);
        dmin = d[i] < dmin ? d[i] : dmin;
    }
    int64_t pick = draw_nearest(d, tab->nmembers, dmin, GEN_CHEM_SIMILAR_TAU, r);
    free(d);
    if (pick < 0)
        return -1;
    member_counts(tab, pick, &m);
    substitute(&c, &m, tab, pick, types_buf);
    return tab->member_template[pick];
}

int gen_chem_analogue_k(const xg_sampler_chem *c)
{
    if (c->types || !c->allowed)
        return 0;
    int K = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        K += c->allowed[z] != 0;
    int ok = c->nrequired == K && c->min_elements <= K &&
             (c->max_elements == 0 || c->max_elements >= K);
    return ok ? K : 0;
}

/* The system's elements, each counted once (so any pairing with a member's is allowed). */
static int system_counts(const unsigned char *sys, el_counts *e)
{
    e->n = 0;
    for (int z = 1; z <= XG_MAX_Z; z++) {
        if (!sys[z])
            continue;
        if (e->n == XG_HULL_MAX_ELEMENTS)
            return 0;
        e->z[e->n] = z;
        e->cnt[e->n++] = 1;
    }
    return 1;
}

/* Member m's distinct elements, each counted once; 0 when it has more than the table holds. */
static int member_elements(const xg_template_table *tab, int64_t m, el_counts *e)
{
    if (!member_counts(tab, m, e))
        return 0;
    for (int k = 0; k < e->n; k++)
        e->cnt[k] = 1;
    return 1;
}

int64_t gen_chem_analogue_draw(const unsigned char *sys, const xg_template_table *tab,
                               const unsigned char *groups, int natoms, xg_rng *rng)
{
    el_counts c, m;
    if (!system_counts(sys, &c) || tab->nmembers == 0)
        return -1;
    double *d = malloc(sizeof(double) * (size_t)tab->nmembers);
    if (!d)
        return -2;
    double dmin = INFINITY;
    for (int64_t i = 0; i < tab->nmembers; i++) {
        const xg_template *t = &tab->t[tab->member_template[i]];
        d[i] = INFINITY;
        if ((groups && !groups[t->spacegroup]) || (natoms > 0 && t->natoms != natoms) ||
            !member_elements(tab, i, &m) || m.n != c.n)
            continue;
        d[i] = pair_best(&c, &m, NULL);
        dmin = d[i] < dmin ? d[i] : dmin;
    }
    int64_t pick = draw_nearest(d, tab->nmembers, dmin, GEN_CHEM_ANALOGUE_TAU, rng);
    free(d);
    return pick;
}

void gen_chem_analogue_types(const unsigned char *sys, const xg_template_table *tab, int64_t m,
                             int *types_buf)
{
    el_counts c, e;
    system_counts(sys, &c);
    member_elements(tab, m, &e);
    substitute(&c, &e, tab, m, types_buf);
}

int gen_chem_setup(const gen_chem_plan *p, uint64_t seed, long k, long natoms_opt,
                   const xg_model_stats *stats, xg_rng *nrng, const xg_template_table *tab,
                   const unsigned char *groups, xg_rng *trng, xg_sampler_chem *c, int *types_buf,
                   int *natoms, const xg_template **tp, xg_error *err)
{
    memset(c, 0, sizeof *c);
    *tp = NULL;
    const gen_comp *comp = gen_chem_comp_of(p, k);
    if (comp) {
        c->types = comp->types;
        c->unmask = p->unmask;
        *natoms = comp->natoms;
    } else if (p->nsys > 0) {
        int pick = 0;
        if (p->nsys > 1) {
            xg_rng r;
            xg_rng_seed(&r, seed, GEN_CHEM_STREAM + (uint64_t)k);
            pick = (int)xg_rng_below(&r, (uint64_t)p->nsys);
        }
        *c = p->sys_chem[pick];
    } else {
        *c = p->plain;
    }
    if (tab && comp && p->similar) {
        int ti = gen_chem_template_similar(comp, tab, groups, trng, types_buf);
        if (ti == -2)
            return xg_error_set(err, XG_ENOMEM, "out of memory choosing a template");
        if (ti >= 0) {
            *tp = &tab->t[ti];
            c->types = types_buf;
            return XG_OK;
        }
    }
    if (tab && p->analogues && gen_chem_analogue_k(c) > 0) {
        int64_t m = gen_chem_analogue_draw(c->allowed, tab, groups, (int)natoms_opt, trng);
        if (m == -2)
            return xg_error_set(err, XG_ENOMEM, "out of memory choosing an analogue");
        if (m >= 0) {
            *tp = &tab->t[tab->member_template[m]];
            *natoms = (*tp)->natoms;
            gen_chem_analogue_types(c->allowed, tab, m, types_buf);
            c->types = types_buf; /* on a template: given from t = 1, as for a composition */
            return XG_OK;
        }
    }
    if (tab) {
        /* The template's training frequency, among those that can hold the constraint. */
        int want_n = comp ? comp->natoms : (int)natoms_opt;
        int64_t total = 0;
        for (int i = 0; i < tab->n; i++) {
            const xg_template *t = &tab->t[i];
            if ((groups && !groups[t->spacegroup]) || (want_n > 0 && t->natoms != want_n))
                continue;
            if (gen_chem_template_fits(c, comp, t, NULL, NULL))
                total += t->frequency;
        }
        if (total > 0) {
            uint64_t u = xg_rng_below(trng, (uint64_t)total);
            for (int i = 0; i < tab->n && !*tp; i++) {
                const xg_template *t = &tab->t[i];
                if ((groups && !groups[t->spacegroup]) || (want_n > 0 && t->natoms != want_n) ||
                    !gen_chem_template_fits(c, comp, t, NULL, NULL))
                    continue;
                if (u < (uint64_t)t->frequency)
                    *tp = t;
                else
                    u -= (uint64_t)t->frequency;
            }
        }
        if (*tp) {
            *natoms = (*tp)->natoms;
            if (comp) {
                gen_chem_template_fits(c, comp, *tp, trng, types_buf);
                c->types = types_buf;
            }
            return XG_OK;
        }
        if (!comp)
            return xg_error_set(err, XG_EINVAL, "no template of the requested space groups%s has "
                                "the %d orbits needed for %d distinct elements",
                                natoms_opt > 0 ? " and --num-atoms" : "", gen_chem_need(c),
                                gen_chem_need(c));
        return XG_OK; /* a composition no template holds: sampled without one */
    }
    if (comp)
        return XG_OK;
    if (natoms_opt > 0) {
        *natoms = (int)natoms_opt;
        return XG_OK;
    }
    /* N from the model's histogram, among the N that hold the required elements. */
    int need = gen_chem_need(c);
    for (int tries = 0; tries < 100000; tries++) {
        int n = xg_model_sample_natoms(stats, nrng);
        if (n >= need) {
            *natoms = n;
            return XG_OK;
        }
    }
    return xg_error_set(err, XG_EINVAL, "the model's numbers of atoms (almost) never reach the %d "
                        "needed for %d distinct elements; pass --num-atoms", need, need);
}
