/* xg_symmetry.c: spglib behind xtalgen's conventions (see xg_symmetry.h). */
#include "crystal/xg_symmetry.h"

#include <math.h>
#include <spglib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_elements.h"

/* THE transpose. xtalgen stores lattice vectors as rows (lattice[i] is vector i); spglib
 * stores them as columns (lattice[.][i] is vector i). Both directions are the same matrix
 * transpose; every lattice that crosses the spglib boundary goes through here and nowhere
 * else, so a convention bug has exactly one place to live (and tests/test_symmetry.c checks
 * it on a monoclinic cell, where getting it wrong changes the space group). */
static void lattice_convention_swap(const double in[3][3], double out[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out[i][j] = in[j][i];
}

static int spglib_failure(xg_error *err, const char *what, const xg_structure *s, double symprec)
{
    SpglibError code = spg_get_error_code();
    const char *msg = spg_get_error_message(code);
    if (code == SPGLIB_SUCCESS)
        msg = "no result";
    return xg_error_set(err, XG_ELIB, "%s: spglib %s failed at symprec %g: %s",
                        s->id[0] ? s->id : "structure", what, symprec, msg ? msg : "unknown error");
}

static int check_input(const xg_structure *s, double symprec, xg_error *err)
{
    if (!s || s->natoms <= 0 || !s->types || !s->frac)
        return xg_error_set(err, XG_EINVAL, "symmetry: structure has no atoms");
    if (!(symprec > 0) || !isfinite(symprec))
        return xg_error_set(err, XG_EINVAL, "symmetry: symprec must be a positive number, got %g",
                            symprec);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(s->lattice[i][j]))
                return xg_error_set(err, XG_EINVAL, "%s: lattice has a non-finite entry", s->id);
    double (*L)[3] = (double (*)[3])s->lattice;
    double det = L[0][0] * (L[1][1] * L[2][2] - L[1][2] * L[2][1]) -
                 L[0][1] * (L[1][0] * L[2][2] - L[1][2] * L[2][0]) +
                 L[0][2] * (L[1][0] * L[2][1] - L[1][1] * L[2][0]);
    if (!(fabs(det) > 1e-8))
        return xg_error_set(err, XG_EINVAL, "%s: lattice is singular (volume %g)", s->id, det);
    for (int a = 0; a < s->natoms; a++) {
        for (int d = 0; d < 3; d++)
            if (!isfinite(s->frac[a][d]))
                return xg_error_set(err, XG_EINVAL, "%s: atom %d has a non-finite coordinate",
                                    s->id, a + 1);
    }
    return XG_OK;
}

/* Runs spg_get_dataset on s. The caller frees with spg_free_dataset. */
static SpglibDataset *get_dataset(const xg_structure *s, double symprec, xg_error *err)
{
    if (check_input(s, symprec, err))
        return NULL;
    double lat[3][3];
    lattice_convention_swap(s->lattice, lat);
    double (*pos)[3] = malloc((size_t)s->natoms * sizeof *pos);
    if (!pos) {
        xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
        return NULL;
    }
    memcpy(pos, s->frac, (size_t)s->natoms * sizeof *pos);
    SpglibDataset *d = spg_get_dataset(lat, (SPGCONST double(*)[3])pos, s->types, s->natoms,
                                       symprec);
    free(pos);
    if (!d || d->spacegroup_number <= 0) {
        if (d)
            spg_free_dataset(d);
        spglib_failure(err, "space-group search", s, symprec);
        return NULL;
    }
    return d;
}

void xg_symmetry_free(xg_symmetry *sym)
{
    if (!sym)
        return;
    free(sym->rotations);
    free(sym->translations);
    free(sym->wyckoffs);
    free(sym->site_symmetry);
    free(sym->equivalent_atoms);
    free(sym->crystallographic_orbits);
    free(sym);
}

int xg_symmetry_analyze(const xg_structure *s, double symprec, xg_symmetry **out, xg_error *err)
{
    *out = NULL;
    SpglibDataset *d = get_dataset(s, symprec, err);
    if (!d)
        return err ? err->code : XG_ELIB;
    xg_symmetry *sym = calloc(1, sizeof *sym);
    int nops = d->n_operations, na = d->n_atoms;
    if (sym) {
        sym->rotations = malloc((size_t)(nops > 0 ? nops : 1) * sizeof *sym->rotations);
        sym->translations = malloc((size_t)(nops > 0 ? nops : 1) * sizeof *sym->translations);
        sym->wyckoffs = malloc((size_t)na + 1);
        sym->site_symmetry = malloc((size_t)na * sizeof *sym->site_symmetry);
        sym->equivalent_atoms = malloc((size_t)na * sizeof *sym->equivalent_atoms);
        sym->crystallographic_orbits = malloc((size_t)na * sizeof(int));
    }
    if (!sym || !sym->rotations || !sym->translations || !sym->wyckoffs || !sym->site_symmetry ||
        !sym->equivalent_atoms || !sym->crystallographic_orbits) {
        xg_symmetry_free(sym);
        spg_free_dataset(d);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
    }
    sym->spacegroup_number = d->spacegroup_number;
    sym->hall_number = d->hall_number;
    snprintf(sym->international, sizeof sym->international, "%s", d->international_symbol);
    snprintf(sym->hall_symbol, sizeof sym->hall_symbol, "%s", d->hall_symbol);
    snprintf(sym->choice, sizeof sym->choice, "%s", d->choice);
    snprintf(sym->pointgroup, sizeof sym->pointgroup, "%s", d->pointgroup_symbol);
    sym->n_operations = nops;
    memcpy(sym->rotations, d->rotations, (size_t)nops * sizeof *sym->rotations);
    memcpy(sym->translations, d->translations, (size_t)nops * sizeof *sym->translations);
    sym->natoms = na;
    for (int i = 0; i < na; i++) {
        int w = d->wyckoffs[i];
        sym->wyckoffs[i] = (w >= 0 && w < 26) ? (char)('a' + w) : '?';
        snprintf(sym->site_symmetry[i], sizeof sym->site_symmetry[i], "%s",
                 d->site_symmetry_symbols[i]);
        sym->equivalent_atoms[i] = d->equivalent_atoms[i];
        sym->crystallographic_orbits[i] = d->crystallographic_orbits[i];
    }
    sym->wyckoffs[na] = '\0';
    memcpy(sym->transformation, d->transformation_matrix, sizeof sym->transformation);
    memcpy(sym->origin_shift, d->origin_shift, sizeof sym->origin_shift);
    memcpy(sym->std_rotation, d->std_rotation_matrix, sizeof sym->std_rotation);
    lattice_convention_swap(d->std_lattice, sym->std_lattice);
    lattice_convention_swap(d->primitive_lattice, sym->primitive_lattice);
    spg_free_dataset(d);
    *out = sym;
    return XG_OK;
}

int xg_symmetry_spacegroup(const xg_structure *s, double symprec, int *number, char *symbol,
                           xg_error *err)
{
    SpglibDataset *d = get_dataset(s, symprec, err);
    if (!d)
        return err ? err->code : XG_ELIB;
    if (number)
        *number = d->spacegroup_number;
    if (symbol)
        snprintf(symbol, 16, "%s", d->international_symbol);
    spg_free_dataset(d);
    return XG_OK;
}

/* Builds a structure from spglib's (column) lattice and arrays. */
static xg_structure *from_spglib(const double lat[3][3], const double (*pos)[3], const int *types,
                                 int n, const char *id, xg_error *err)
{
    xg_structure *o = xg_structure_alloc(n);
    if (!o) {
        xg_error_set(err, XG_ENOMEM, "%s: out of memory", id);
        return NULL;
    }
    lattice_convention_swap(lat, o->lattice);
    for (int i = 0; i < n; i++) {
        o->types[i] = types[i];
        for (int d = 0; d < 3; d++) {
            double x = pos[i][d] - floor(pos[i][d]);
            o->frac[i][d] = x >= 1.0 ? 0.0 : x;
        }
    }
    snprintf(o->id, XG_ID_LEN, "%s", id);
    return o;
}

static int standardize(const xg_structure *s, double symprec, int to_primitive,
                       xg_structure **out, xg_error *err)
{
    *out = NULL;
    int rc = check_input(s, symprec, err);
    if (rc)
        return rc;
    /* A conventional cell has at most 4 times the atoms of the input (F centring of a
     * primitive input); spglib requires that much room. */
    int cap = 4 * s->natoms;
    double (*pos)[3] = malloc((size_t)cap * sizeof *pos);
    int *types = malloc((size_t)cap * sizeof *types);
    if (!pos || !types) {
        free(pos);
        free(types);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
    }
    double lat[3][3];
    lattice_convention_swap(s->lattice, lat);
    memcpy(pos, s->frac, (size_t)s->natoms * sizeof *pos);
    memcpy(types, s->types, (size_t)s->natoms * sizeof *types);
    int n = spg_standardize_cell(lat, pos, types, s->natoms, to_primitive, 0, symprec);
    if (n <= 0 || n > cap) {
        rc = spglib_failure(err, to_primitive ? "primitive-cell search" : "standardization", s,
                            symprec);
    } else {
        *out = from_spglib((const double(*)[3])lat, (const double(*)[3])pos, types, n, s->id, err);
        if (!*out)
            rc = err ? err->code : XG_ENOMEM;
    }
    free(pos);
    free(types);
    return rc;
}

int xg_symmetry_primitive(const xg_structure *s, double symprec, xg_structure **out,
                          xg_error *err)
{
    return standardize(s, symprec, 1, out, err);
}

int xg_symmetry_conventional(const xg_structure *s, double symprec, xg_structure **out,
                             xg_error *err)
{
    return standardize(s, symprec, 0, out, err);
}

int xg_symmetry_refine(const xg_structure *s, double symprec, xg_structure **out, xg_error *err)
{
    return standardize(s, symprec, 0, out, err);
}

/* ----------------------------------------------------------- symmetrized CIF -------- */

static int gcd_int(int a, int b)
{
    a = abs(a);
    b = abs(b);
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int xg_symmetry_write_cif(FILE *f, const xg_structure *s, double symprec, xg_error *err)
{
    xg_structure *std = NULL;
    int rc = xg_symmetry_refine(s, symprec, &std, err);
    if (rc)
        return rc;
    /* Re-analyse the refined cell: its operations and orbits are then expressed in exactly the
     * cell the CIF lists, so expanding the asymmetric unit with them rebuilds that cell. */
    SpglibDataset *d = get_dataset(std, symprec, err);
    if (!d) {
        xg_structure_free(std);
        return err ? err->code : XG_ELIB;
    }
    int n = d->n_atoms, nsites = 0;
    int *types = malloc((size_t)n * sizeof *types);
    int *mult = calloc((size_t)n, sizeof *mult);
    double (*frac)[3] = malloc((size_t)n * sizeof *frac);
    if (!types || !mult || !frac) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
        goto done;
    }
    /* the asymmetric unit: one representative per orbit, with its orbit's size */
    for (int i = 0; i < n; i++) {
        if (d->equivalent_atoms[i] != i)
            continue;
        for (int j = 0; j < n; j++)
            mult[nsites] += d->equivalent_atoms[j] == i;
        types[nsites] = std->types[i];
        memcpy(frac[nsites], std->frac[i], sizeof frac[nsites]);
        nsites++;
    }
    int g = 0;
    int counts[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < std->natoms; i++)
        if (std->types[i] >= 1 && std->types[i] <= XG_MAX_Z)
            counts[std->types[i]]++;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (counts[z])
            g = gcd_int(g, counts[z]);
    char formula[1024], reduced[512];
    if ((rc = xg_structure_formula(std, formula, sizeof formula)) ||
        (rc = xg_structure_reduced_formula(std, reduced, sizeof reduced))) {
        xg_error_set(err, rc, "%s: formula too long for the CIF header", s->id);
        goto done;
    }
    xg_cif_sym_block b = {0};
    b.block_name = reduced;
    memcpy(b.lattice, std->lattice, sizeof b.lattice);
    b.hm_symbol = d->international_symbol;
    b.sg_number = d->spacegroup_number;
    b.nops = d->n_operations;
    b.rot = (const int(*)[3][3])d->rotations;
    b.trans = (const double(*)[3])d->translations;
    b.nsites = nsites;
    b.types = types;
    b.frac = (const double(*)[3])frac;
    b.multiplicity = mult;
    b.formula_structural = reduced;
    b.formula_sum = formula;
    b.formula_units_z = g > 0 ? g : 1;
    rc = xg_cif_write_symmetrized_raw(f, &b, err);
done:
    free(types);
    free(mult);
    free(frac);
    spg_free_dataset(d);
    xg_structure_free(std);
    return rc;
}

int xg_symmetry_cif_string(const xg_structure *s, double symprec, char **out, xg_error *err)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s ? s->id : "structure");
    int rc = xg_symmetry_write_cif(f, s, symprec, err);
    if (fclose(f) != 0 && rc == XG_OK)
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return XG_OK;
}
