/* xtalgen_api.c: the public interface (include/xtalgen.h) over the internal layers.
 *
 * Thin on purpose: each call converts handles and errors and calls the one implementation the
 * commands use (xg_input_read for reading, xg_matcher_fit, xg_validity_check, xg_sampler_run,
 * ...), so the library and the program cannot drift apart. Nothing here keeps state between
 * calls. */
#include "include/xtalgen.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crystal/xg_cif.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_extxyz.h"
#include "crystal/xg_fileio.h"
#include "crystal/xg_input.h"
#include "crystal/xg_matcher.h"
#include "crystal/xg_poscar.h"
#include "crystal/xg_rng.h"
#include "crystal/xg_structure.h"
#include "crystal/xg_symmetry.h"
#include "crystal/xg_validity.h"
#include "diffusion/xg_condition.h"
#include "diffusion/xg_evalpool.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_sampler.h"
#include "diffusion/xg_template.h"
#include "properties/xg_hhi.h"
#include "src/gen_sample.h"
#include "src/model_path.h"

/* The public status codes are the internal ones, value for value. */
_Static_assert(XTALGEN_EBUSY == (int)XG_EBUSY, "xtalgen_status must mirror xg_status");
_Static_assert(XTALGEN_ERROR_LEN == XG_ERROR_MSG_LEN, "error buffers must be the same size");

struct xtalgen_structure {
    xg_structure *s;
};

struct xtalgen_model {
    xg_model *m;
    char path[4096];
};

const char *xtalgen_version(void) { return XTALGEN_VERSION; }

const char *xtalgen_status_string(int code) { return xg_status_str(code); }

/* Copies an internal error out; returns its code so calls end `return out_err(...)`. */
static int out_err(xtalgen_error *out, const xg_error *e, int rc)
{
    if (out) {
        out->code = rc;
        snprintf(out->message, sizeof out->message, "%s", e->msg[0] ? e->msg : xg_status_str(rc));
    }
    return rc;
}

static int fail(xtalgen_error *out, int rc, const char *msg)
{
    xg_error e;
    xg_error_set(&e, rc, "%s", msg);
    return out_err(out, &e, rc);
}

static void ok(xtalgen_error *out)
{
    if (out) {
        out->code = XTALGEN_OK;
        out->message[0] = '\0';
    }
}

/* Takes ownership of s. NULL when out of memory (s is freed then). */
static xtalgen_structure *wrap(xg_structure *s)
{
    xtalgen_structure *h = malloc(sizeof *h);
    if (!h) {
        xg_structure_free(s);
        return NULL;
    }
    h->s = s;
    return h;
}

/* ---- elements ---- */

const char *xtalgen_element_symbol(int z)
{
    const xg_element *e = xg_element_get(z);
    return e ? e->symbol : NULL;
}

int xtalgen_element_number(const char *symbol) { return symbol ? xg_element_from_symbol(symbol) : 0; }

/* ---- structures ---- */

int xtalgen_structure_create(int natoms, const double lattice[3][3], const int *types,
                             const double (*frac)[3], const char *id, xtalgen_structure **out,
                             xtalgen_error *err)
{
    if (!out)
        return fail(err, XTALGEN_EINVAL, "xtalgen_structure_create: out is NULL");
    *out = NULL;
    if (natoms < 1 || !lattice || !types || !frac)
        return fail(err, XTALGEN_EINVAL,
                    "xtalgen_structure_create: need natoms >= 1, a lattice, types and coordinates");
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(lattice[i][j]))
                return fail(err, XTALGEN_EINVAL, "xtalgen_structure_create: non-finite lattice");
    char msg[128];
    for (int i = 0; i < natoms; i++) {
        if (!xg_element_get(types[i])) {
            snprintf(msg, sizeof msg, "xtalgen_structure_create: atom %d has atomic number %d "
                     "(outside 1..%d)", i, types[i], XG_MAX_Z);
            return fail(err, XTALGEN_EINVAL, msg);
        }
        if (!isfinite(frac[i][0]) || !isfinite(frac[i][1]) || !isfinite(frac[i][2])) {
            snprintf(msg, sizeof msg, "xtalgen_structure_create: atom %d has a non-finite "
                     "coordinate", i);
            return fail(err, XTALGEN_EINVAL, msg);
        }
    }
    xg_structure *s = xg_structure_alloc(natoms);
    if (!s)
        return fail(err, XTALGEN_ENOMEM, "out of memory");
    memcpy(s->lattice, lattice, sizeof s->lattice);
    memcpy(s->types, types, (size_t)natoms * sizeof *types);
    memcpy(s->frac, frac, (size_t)natoms * sizeof *frac);
    if (id)
        snprintf(s->id, sizeof s->id, "%s", id);
    if (!(*out = wrap(s)))
        return fail(err, XTALGEN_ENOMEM, "out of memory");
    ok(err);
    return XTALGEN_OK;
}

void xtalgen_structure_free(xtalgen_structure *s)
{
    if (!s)
        return;
    xg_structure_free(s->s);
    free(s);
}

void xtalgen_structures_free(xtalgen_structure **list, int n)
{
    if (!list)
        return;
    for (int i = 0; i < n; i++)
        xtalgen_structure_free(list[i]);
    free(list);
}

int xtalgen_structure_natoms(const xtalgen_structure *s) { return s ? s->s->natoms : 0; }

void xtalgen_structure_lattice(const xtalgen_structure *s, double lattice[3][3])
{
    memcpy(lattice, s->s->lattice, sizeof s->s->lattice);
}

void xtalgen_structure_types(const xtalgen_structure *s, int *types)
{
    memcpy(types, s->s->types, (size_t)s->s->natoms * sizeof *types);
}

void xtalgen_structure_frac(const xtalgen_structure *s, double (*frac)[3])
{
    memcpy(frac, s->s->frac, (size_t)s->s->natoms * sizeof *frac);
}

const char *xtalgen_structure_id(const xtalgen_structure *s) { return s ? s->s->id : ""; }

int xtalgen_structure_formula(const xtalgen_structure *s, char *buf, size_t n)
{
    if (!s || !buf)
        return XTALGEN_EINVAL;
    return xg_structure_reduced_formula(s->s, buf, n);
}

double xtalgen_structure_volume(const xtalgen_structure *s)
{
    return s ? xg_structure_volume(s->s) : NAN;
}

/* ---- files ---- */

int xtalgen_read(const char *path, xtalgen_structure ***out, int *n, xtalgen_error *err)
{
    if (!path || !out || !n)
        return fail(err, XTALGEN_EINVAL, "xtalgen_read: NULL argument");
    *out = NULL;
    *n = 0;
    xg_error e = {0};
    xg_dataset *ds = NULL;
    int rc = xg_input_read(path, &ds, &e);
    if (rc)
        return out_err(err, &e, rc);
    if (ds->n > INT32_MAX) {
        xg_dataset_free(ds);
        return fail(err, XTALGEN_EUNSUPPORTED, "xtalgen_read: more than 2^31 crystals");
    }
    int count = (int)ds->n;
    xtalgen_structure **list = calloc((size_t)count, sizeof *list);
    if (!list) {
        xg_dataset_free(ds);
        return fail(err, XTALGEN_ENOMEM, "out of memory");
    }
    for (int i = 0; i < count; i++) {
        xg_structure *s = xg_dataset_get(ds, i, &e);
        if (!s)
            rc = e.code ? e.code : xg_error_set(&e, XG_ENOMEM, "out of memory");
        else if (!(list[i] = wrap(s)))
            rc = xg_error_set(&e, XG_ENOMEM, "out of memory");
        if (rc) {
            xtalgen_structures_free(list, i);
            xg_dataset_free(ds);
            return out_err(err, &e, rc);
        }
    }
    xg_dataset_free(ds);
    *out = list;
    *n = count;
    ok(err);
    return XTALGEN_OK;
}

typedef struct {
    const xtalgen_structure *const *list;
    int n;
    xg_input_format fmt;
} write_ctx;

static int write_all(FILE *f, const void *vctx, xg_error *err)
{
    const write_ctx *c = vctx;
    for (int i = 0; i < c->n; i++) {
        const xg_structure *s = c->list[i]->s;
        int rc = c->fmt == XG_INPUT_CIF      ? xg_cif_write(f, s, err)
                 : c->fmt == XG_INPUT_POSCAR ? xg_poscar_write(f, s, err)
                                             : xg_extxyz_write(f, s, err);
        if (rc)
            return rc;
    }
    return XG_OK;
}

int xtalgen_write(const char *path, const xtalgen_structure *const *list, int n,
                  xtalgen_error *err)
{
    if (!path || !list || n < 1)
        return fail(err, XTALGEN_EINVAL, "xtalgen_write: need a path and at least one crystal");
    for (int i = 0; i < n; i++)
        if (!list[i])
            return fail(err, XTALGEN_EINVAL, "xtalgen_write: NULL crystal in the list");
    xg_input_format fmt = xg_input_format_from_name(path);
    xg_error e = {0};
    if (fmt != XG_INPUT_CIF && fmt != XG_INPUT_POSCAR && fmt != XG_INPUT_EXTXYZ) {
        xg_error_set(&e, XG_EINVAL, "%s: cannot tell the format from the name; use .cif, .vasp, "
                     ".poscar, POSCAR*, CONTCAR*, .extxyz or .xyz", path);
        return out_err(err, &e, XG_EINVAL);
    }
    if (fmt == XG_INPUT_POSCAR && n != 1) {
        xg_error_set(&e, XG_EINVAL, "%s: a POSCAR holds one crystal, not %d", path, n);
        return out_err(err, &e, XG_EINVAL);
    }
    write_ctx c = {list, n, fmt};
    int rc = xg_file_write_atomic_with(path, write_all, &c, &e);
    if (rc)
        return out_err(err, &e, rc);
    ok(err);
    return XTALGEN_OK;
}

/* ---- symmetry ---- */

int xtalgen_symmetry(const xtalgen_structure *s, double symprec, xtalgen_spacegroup *out,
                     char *wyckoffs, int *equivalent_atoms, xtalgen_error *err)
{
    if (!s || !out)
        return fail(err, XTALGEN_EINVAL, "xtalgen_symmetry: NULL argument");
    if (!(symprec > 0))
        return fail(err, XTALGEN_EINVAL, "xtalgen_symmetry: symprec must be > 0");
    memset(out, 0, sizeof *out);
    xg_error e = {0};
    xg_symmetry *sym = NULL;
    int rc = xg_symmetry_analyze(s->s, symprec, &sym, &e);
    if (rc)
        return out_err(err, &e, rc);
    out->number = sym->spacegroup_number;
    out->hall_number = sym->hall_number;
    snprintf(out->international, sizeof out->international, "%s", sym->international);
    snprintf(out->hall_symbol, sizeof out->hall_symbol, "%s", sym->hall_symbol);
    snprintf(out->pointgroup, sizeof out->pointgroup, "%s", sym->pointgroup);
    out->n_operations = sym->n_operations;
    for (int i = 0; i < sym->natoms; i++) {
        if (wyckoffs)
            wyckoffs[i] = sym->wyckoffs[i];
        if (equivalent_atoms)
            equivalent_atoms[i] = sym->equivalent_atoms[i];
    }
    xg_symmetry_free(sym);
    ok(err);
    return XTALGEN_OK;
}

int xtalgen_standardize(const xtalgen_structure *s, xtalgen_cell cell, int symmetrize,
                        double symprec, xtalgen_structure **out, xtalgen_error *err)
{
    if (!s || !out)
        return fail(err, XTALGEN_EINVAL, "xtalgen_standardize: NULL argument");
    *out = NULL;
    if (cell < XTALGEN_CELL_AS_IS || cell > XTALGEN_CELL_CONVENTIONAL || !(symprec > 0))
        return fail(err, XTALGEN_EINVAL,
                    "xtalgen_standardize: cell must be 0, 1 or 2 and symprec > 0");
    xg_error e = {0};
    xg_structure *r = NULL;
    int rc = xg_symmetry_dft_cell(s->s, (xg_cell_choice)cell, symmetrize != 0, symprec, &r, &e);
    if (rc)
        return out_err(err, &e, rc);
    if (!(*out = wrap(r)))
        return fail(err, XTALGEN_ENOMEM, "out of memory");
    ok(err);
    return XTALGEN_OK;
}

/* ---- matching ---- */

void xtalgen_match_default_params(xtalgen_match_params *p)
{
    xg_matcher_params q;
    xg_matcher_default_params(&q);
    p->ltol = q.ltol;
    p->stol = q.stol;
    p->angle_tol = q.angle_tol;
    p->primitive_cell = q.primitive_cell;
    p->scale = q.scale;
    p->best = 0;
}

int xtalgen_match(const xtalgen_structure *a, const xtalgen_structure *b,
                  const xtalgen_match_params *p, xtalgen_match_result *out, xtalgen_error *err)
{
    if (!a || !b || !out)
        return fail(err, XTALGEN_EINVAL, "xtalgen_match: NULL argument");
    out->match = 0;
    out->rms = out->max_dist = NAN;
    xg_matcher_params q;
    xg_matcher_default_params(&q); /* prim_tol stays pymatgen's */
    int best = 0;
    if (p) {
        if (!(p->ltol > 0) || !(p->stol > 0) || !(p->angle_tol > 0))
            return fail(err, XTALGEN_EINVAL, "xtalgen_match: tolerances must be > 0");
        q.ltol = p->ltol;
        q.stol = p->stol;
        q.angle_tol = p->angle_tol;
        q.primitive_cell = p->primitive_cell != 0;
        q.scale = p->scale != 0;
        best = p->best != 0;
    }
    xg_error e = {0};
    xg_match_result r;
    int rc = xg_matcher_fit(a->s, b->s, &q, best ? XG_MATCH_BEST : XG_MATCH_FIRST, &r, &e);
    if (rc)
        return out_err(err, &e, rc);
    out->match = r.match;
    out->rms = r.rms;
    out->max_dist = r.max_dist;
    ok(err);
    return XTALGEN_OK;
}

/* ---- screening ---- */

int xtalgen_screen(const xtalgen_structure *s, double symprec, xtalgen_screen_result *out,
                   xtalgen_error *err)
{
    if (!s || !out)
        return fail(err, XTALGEN_EINVAL, "xtalgen_screen: NULL argument");
    if (!(symprec > 0))
        return fail(err, XTALGEN_EINVAL, "xtalgen_screen: symprec must be > 0");
    memset(out, 0, sizeof *out);
    const xg_structure *x = s->s;
    xg_error e = {0};
    int rc = xg_structure_check_ordered(x, "screening", &e);
    xg_validity v;
    if (!rc)
        rc = xg_validity_check(x, &v, &e);
    if (rc)
        return out_err(err, &e, rc);
    out->valid_structure = v.valid_structure;
    out->valid_geometry = v.valid_geometry;
    out->valid_composition = v.valid_composition;
    out->min_distance = v.min_distance;
    out->min_bond_ratio = v.min_bond_ratio;
    out->volume = v.volume;
    out->density = xg_structure_density(x);
    /* An unphysical crystal can defeat spglib: no group is a result here, as in `screen`. */
    xg_error se = {0};
    if (xg_symmetry_spacegroup(x, symprec, &out->spacegroup, out->spacegroup_symbol, &se)) {
        out->spacegroup = 0;
        out->spacegroup_symbol[0] = '\0';
    }
    out->nelements = xg_structure_nelements(x);
    if (xg_structure_reduced_formula(x, out->formula, sizeof out->formula))
        out->formula[0] = '\0';
    int missing = 0;
    if ((rc = xg_hhi_structure(x, &out->hhi_production, &out->hhi_reserve, &missing, &e)))
        return out_err(err, &e, rc);
    out->rare_earth_free = 1;
    for (int i = 0; i < x->natoms; i++)
        if (xg_element_get(x->types[i])->is_rare_earth)
            out->rare_earth_free = 0;
    ok(err);
    return XTALGEN_OK;
}

/* ---- models and generation ---- */

int xtalgen_model_load(const char *path, xtalgen_model **out, xtalgen_error *err)
{
    if (!out)
        return fail(err, XTALGEN_EINVAL, "xtalgen_model_load: out is NULL");
    *out = NULL;
    xtalgen_model *h = calloc(1, sizeof *h);
    if (!h)
        return fail(err, XTALGEN_ENOMEM, "out of memory");
    xg_error e = {0};
    int rc = XG_OK;
    if (path) {
        if (strlen(path) >= sizeof h->path)
            rc = xg_error_set(&e, XG_EINVAL, "model path too long");
        else
            snprintf(h->path, sizeof h->path, "%s", path);
    } else {
        rc = xg_default_model_path("xtalgen-mp20.h5", h->path, sizeof h->path, &e);
    }
    if (!rc)
        rc = xg_model_load(h->path, XG_MODEL_LOAD_EMA, &h->m, &e);
    if (rc) {
        free(h);
        return out_err(err, &e, rc);
    }
    *out = h;
    ok(err);
    return XTALGEN_OK;
}

void xtalgen_model_free(xtalgen_model *m)
{
    if (!m)
        return;
    xg_model_free(m->m);
    free(m);
}

const char *xtalgen_model_path(const xtalgen_model *m) { return m ? m->path : ""; }

int xtalgen_model_num_conditions(const xtalgen_model *m) { return m ? m->m->cond.n : 0; }

void xtalgen_generate_default_options(xtalgen_generate_options *o)
{
    /* The defaults of `xtalgen generate`: the sampler's own, seed 1, batches of 64. */
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    memset(o, 0, sizeof *o);
    o->steps = so.steps;
    o->corrector_steps = so.corrector_steps;
    o->guidance = so.guidance;
    o->seed = 1;
    o->batch = 64;
    o->symmetry = XTALGEN_SYMMETRY_TEMPLATE;
}


int xtalgen_generate(xtalgen_model *h, int n, const xtalgen_generate_options *opts,
                     xtalgen_structure **out, xtalgen_error *err)
{
    if (!h || !out || n < 0)
        return fail(err, XTALGEN_EINVAL, "xtalgen_generate: NULL argument or n < 0");
    for (int k = 0; k < n; k++)
        out[k] = NULL;
    xtalgen_generate_options o;
    if (opts)
        o = *opts;
    else
        xtalgen_generate_default_options(&o);
    if (o.steps < 1 || o.corrector_steps < 0 || o.batch < 1 || o.natoms < 0 ||
        o.nconditions < 0 || (o.nconditions && !o.conditions) || !isfinite(o.guidance))
        return fail(err, XTALGEN_EINVAL, "xtalgen_generate: need steps >= 1, corrector_steps >= "
                    "0, batch >= 1, natoms >= 0 and a finite guidance");
    xg_model *m = h->m;
    xg_error e = {0};
    unsigned char allowed[XG_MAX_Z + 1];
    int rc = xg_sampler_allowed_elements(o.elements, o.exclude_elements, "elements",
                                         "exclude_elements", allowed, &e);
    if (rc)
        return out_err(err, &e, rc);
    if (o.nconditions > 0 && (m->cfg.cond_dim == 0 || m->cond.n == 0)) {
        xg_error_set(&e, XG_EINVAL, "%s is an unconditional model (or describes no conditions); "
                     "conditions need a model fine-tuned with them", h->path);
        return out_err(err, &e, XG_EINVAL);
    }
    if (o.symmetry != XTALGEN_SYMMETRY_NONE && o.symmetry != XTALGEN_SYMMETRY_TEMPLATE)
        return fail(err, XTALGEN_EINVAL, "xtalgen_generate: symmetry is XTALGEN_SYMMETRY_NONE "
                    "or XTALGEN_SYMMETRY_TEMPLATE");
    float *cond = NULL;
    xg_template_table *tab = NULL;
    xg_evalpool *pool = NULL;
    xg_structure **batch = calloc((size_t)o.batch, sizeof *batch);
    int *natoms = calloc((size_t)o.batch, sizeof *natoms);
    const xg_template **tpl = calloc((size_t)o.batch, sizeof *tpl);
    /* Element patterns as generate's default (--element-pattern training). */
    int *cls_buf = malloc((size_t)o.batch * GEN_CLASS_STRIDE * sizeof *cls_buf);
    const int **cls = calloc((size_t)o.batch, sizeof *cls);
    xg_class_prior *prior = malloc(sizeof *prior);
    /* The pool's workers run OpenBLAS single-threaded, as generate does; restored at the end. */
    int blas_threads = openblas_get_num_threads();
    if (!batch || !natoms || !tpl || !cls_buf || !cls || !prior) {
        rc = xg_error_set(&e, XG_ENOMEM, "out of memory");
        goto done;
    }
    if (o.symmetry == XTALGEN_SYMMETRY_TEMPLATE) {
        char tp[4096];
        if (o.templates)
            snprintf(tp, sizeof tp, "%s", o.templates);
        else if ((rc = xg_default_model_path("templates-mp20.h5", tp, sizeof tp, &e)))
            goto done;
        if ((rc = xg_template_table_read(tp, &tab, &e)))
            goto done;
        if (xg_template_table_weight(tab, NULL, o.natoms) == 0) {
            /* no template with natoms atoms: without the constraint, as generate's default */
            xg_template_table_free(tab);
            tab = NULL;
        }
    }
    if (m->stats.hist_len <= 1 && o.natoms == 0 && !tab) {
        rc = xg_error_set(&e, XG_EINVAL, "%s has no number-of-atoms histogram; set natoms",
                          h->path);
        goto done;
    }
    if (o.nconditions > 0) {
        if (!(cond = calloc((size_t)m->cfg.cond_dim, sizeof *cond))) {
            rc = xg_error_set(&e, XG_ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = xg_cond_encode_request(&m->cond, o.nconditions, o.conditions, cond, &e))) {
            xg_error_prefix(&e, rc, "%s", h->path);
            goto done;
        }
    }
    /* The network is evaluated as generate evaluates it (chunks of crystals, each on one
     * worker), which makes the crystals the command's for any number of threads. */
    int workers = 1;
#ifdef _OPENMP
    workers = omp_get_max_threads();
#endif
    openblas_set_num_threads(1);
    if (!(pool = xg_evalpool_alloc(m->net, workers, XG_EVALPOOL_CHUNK, &e))) {
        rc = e.code ? e.code : XG_ENOMEM;
        goto done;
    }
    xg_evalpool_set_inference(pool, 0);
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = o.steps;
    so.corrector_steps = o.corrector_steps;
    so.guidance = o.guidance;
    so.allowed = allowed;
    so.cond = cond;
    so.cond_dim = m->cfg.cond_dim;
    so.templates = tab ? tpl : NULL;
    int pat = tab && tab->nmembers > 0;
    so.orbit_class = pat ? cls : NULL;
    if (pat && (rc = xg_template_table_class_prior(tab, prior, &e)))
        goto done;
    so.class_prior = pat ? prior : NULL; /* generate's default --class-prior on */
    /* The streams of `xtalgen generate` (src/gen_sample.h), so the same options give the same
     * crystals as the command. */
    gen_streams st;
    gen_streams_init(&st, o.seed);
    gen_redraw_opts rdo = {o.seed, o.natoms, 0.1, tab, NULL, NULL, NULL, NULL,
                           pat ? cls_buf : NULL, pat ? cls : NULL};
    gen_redraw_counts rdc = {0, 0, 0, 0};
    for (int done = 0; done < n;) {
        int nb = n - done < o.batch ? n - done : o.batch;
        gen_sample_sizes(&st, &m->stats, tab, NULL, o.natoms, nb, natoms, tpl,
                         pat ? cls_buf : NULL, pat ? cls : NULL);
        if ((rc = xg_sampler_run(&m->noise, xg_evalpool_eval, pool, &so, nb, natoms, o.seed,
                                 (uint64_t)done, batch, NULL, NULL, &e)))
            goto done;
        if (tab && (rc = gen_sample_redraw(&rdo, &m->noise, xg_evalpool_eval, pool, &so, tpl, nb,
                                           done, batch, &rdc, &e)))
            goto done;
        for (int k = 0; k < nb; k++) {
            xg_structure *s = batch[k];
            batch[k] = NULL;
            snprintf(s->id, sizeof s->id, "gen-%07d", done + k);
            /* The DFT-ready cell every output of the command holds; a cell that cannot be
             * oriented (singular) stays as sampled, as there. */
            xg_error oe = {0};
            xg_structure_make_standard(s, &oe);
            if (!(out[done + k] = wrap(s))) {
                rc = xg_error_set(&e, XG_ENOMEM, "out of memory");
                goto done;
            }
        }
        done += nb;
    }
done:
    openblas_set_num_threads(blas_threads);
    for (int k = 0; batch && k < o.batch; k++)
        xg_structure_free(batch[k]);
    xg_evalpool_free(pool);
    xg_template_table_free(tab);
    free(cond);
    free(batch);
    free(natoms);
    free(tpl);
    free(cls_buf);
    free(cls);
    free(prior);
    if (rc) {
        for (int k = 0; k < n; k++) {
            xtalgen_structure_free(out[k]);
            out[k] = NULL;
        }
        return out_err(err, &e, rc);
    }
    ok(err);
    return XTALGEN_OK;
}
