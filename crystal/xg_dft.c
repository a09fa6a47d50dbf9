/* xg_dft.c: VASP and Quantum ESPRESSO inputs (see xg_dft.h). The Materials Project numbers
 * below are MPRelaxSet's (pymatgen 2022.11, MPRelaxSet.yaml): PAW symbols, initial moments and
 * the +U values of its oxides/fluorides set. */
#include "crystal/xg_dft.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_fileio.h"
#include "crystal/xg_lattice.h"
#include "crystal/xg_poscar.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ------------------------------------------------------------ Materials Project data ---- */

static const struct {
    int z;
    const char *symbol;
} potcars[] = {
    {1, "H"},      {2, "He"},     {3, "Li_sv"},  {4, "Be_sv"},  {5, "B"},      {6, "C"},
    {7, "N"},      {8, "O"},      {9, "F"},      {10, "Ne"},    {11, "Na_pv"}, {12, "Mg_pv"},
    {13, "Al"},    {14, "Si"},    {15, "P"},     {16, "S"},     {17, "Cl"},    {18, "Ar"},
    {19, "K_sv"},  {20, "Ca_sv"}, {21, "Sc_sv"}, {22, "Ti_pv"}, {23, "V_pv"},  {24, "Cr_pv"},
    {25, "Mn_pv"}, {26, "Fe_pv"}, {27, "Co"},    {28, "Ni_pv"}, {29, "Cu_pv"}, {30, "Zn"},
    {31, "Ga_d"},  {32, "Ge_d"},  {33, "As"},    {34, "Se"},    {35, "Br"},    {36, "Kr"},
    {37, "Rb_sv"}, {38, "Sr_sv"}, {39, "Y_sv"},  {40, "Zr_sv"}, {41, "Nb_pv"}, {42, "Mo_pv"},
    {43, "Tc_pv"}, {44, "Ru_pv"}, {45, "Rh_pv"}, {46, "Pd"},    {47, "Ag"},    {48, "Cd"},
    {49, "In_d"},  {50, "Sn_d"},  {51, "Sb"},    {52, "Te"},    {53, "I"},     {54, "Xe"},
    {55, "Cs_sv"}, {56, "Ba_sv"}, {57, "La"},    {58, "Ce"},    {59, "Pr_3"},  {60, "Nd_3"},
    {61, "Pm_3"},  {62, "Sm_3"},  {63, "Eu"},    {64, "Gd"},    {65, "Tb_3"},  {66, "Dy_3"},
    {67, "Ho_3"},  {68, "Er_3"},  {69, "Tm_3"},  {70, "Yb_2"},  {71, "Lu_3"},  {72, "Hf_pv"},
    {73, "Ta_pv"}, {74, "W_pv"},  {75, "Re_pv"}, {76, "Os_pv"}, {77, "Ir"},    {78, "Pt"},
    {79, "Au"},    {80, "Hg"},    {81, "Tl_d"},  {82, "Pb_d"},  {83, "Bi"},    {89, "Ac"},
    {90, "Th"},    {91, "Pa"},    {92, "U"},     {93, "Np"},    {94, "Pu"},
};

const char *xg_dft_potcar_symbol(int z)
{
    for (size_t k = 0; k < sizeof potcars / sizeof potcars[0]; k++)
        if (potcars[k].z == z)
            return potcars[k].symbol;
    return NULL;
}

/* MP's MAGMOM table: elements (Ce Co Cr Eu Fe Mn Mo Ni V W) and, for the lanthanides it lists
 * only as 3+ ions, that ion's moment; 0.6 (MP's default) for everything else. */
static const struct {
    int z;
    double m;
} moments[] = {
    {23, 5.0}, {24, 5.0},  {25, 5.0}, {26, 5.0}, {27, 0.6}, {28, 5.0}, {42, 5.0}, {74, 5.0},
    {58, 5.0}, {59, 2.0},  {60, 3.0}, {61, 4.0}, {62, 5.0}, {63, 10.0}, {64, 7.0}, {65, 6.0},
    {66, 5.0}, {67, 4.0},  {68, 3.0}, {69, 2.0}, {70, 1.0},
};

double xg_dft_initial_moment(int z)
{
    for (size_t k = 0; k < sizeof moments / sizeof moments[0]; k++)
        if (moments[k].z == z)
            return moments[k].m;
    return 0.6;
}

int xg_dft_is_magnetic(int z)
{
    /* Co is listed at 0.6 (MP starts it low-spin) but is a magnetic element all the same. */
    for (size_t k = 0; k < sizeof moments / sizeof moments[0]; k++)
        if (moments[k].z == z)
            return 1;
    return 0;
}

double xg_dft_hubbard_u(int z, int anion_z)
{
    if (anion_z != 8 && anion_z != 9) /* O or F most electronegative: MP's +U set */
        return 0.0;
    static const struct {
        int z;
        double u;
    } u[] = {{27, 3.32}, {24, 3.7}, {26, 5.3}, {25, 3.9}, {42, 4.38}, {28, 6.2}, {23, 3.25},
             {74, 6.2}};
    for (size_t k = 0; k < sizeof u / sizeof u[0]; k++)
        if (u[k].z == z)
            return u[k].u;
    return 0.0;
}

/* ------------------------------------------------------------------------ k-points ---- */

int xg_dft_is_hexagonal(const double L[3][3], double angle_tol, double length_tol)
{
    double p[6];
    xg_lattice_to_params(L, p);
    int right[3], nright = 0, nhex = 0;
    for (int i = 0; i < 3; i++) {
        double ang = p[3 + i];
        if (fabs(ang - 90.0) < angle_tol)
            right[nright++] = i;
        if (fabs(ang - 60.0) < angle_tol || fabs(ang - 120.0) < angle_tol)
            nhex++;
    }
    /* pymatgen compares the lengths at the indices of the right angles (its rule, kept) */
    return nright == 2 && nhex == 1 && fabs(p[right[0]] - p[right[1]]) < length_tol;
}

int xg_dft_kmesh(const xg_structure *s, double kppa, xg_kmesh *out, xg_error *err)
{
    if (!s || !out || s->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "k-point mesh: no structure");
    if (!(kppa > 0) || !isfinite(kppa))
        return xg_error_set(err, XG_EINVAL, "k-point mesh: density %g must be positive", kppa);
    double p[6];
    xg_lattice_to_params((const double(*)[3])s->lattice, p);
    if (fabs(pow(floor(pow(kppa, 1.0 / 3.0) + 0.5), 3) - kppa) < 1)
        kppa += kppa * 0.01;
    double ngrid = kppa / s->natoms;
    double mult = pow(ngrid * p[0] * p[1] * p[2], 1.0 / 3.0);
    int odd = 0;
    for (int i = 0; i < 3; i++) {
        double v = floor(fmax(mult / p[i], 1.0));
        if (!(v < 1e6))
            return xg_error_set(err, XG_EINVAL, "k-point mesh: %g divisions along axis %d", v, i);
        out->mesh[i] = (int)v;
        odd |= out->mesh[i] % 2 == 1;
    }
    out->gamma = odd || xg_dft_is_hexagonal((const double(*)[3])s->lattice, 5.0, 0.01);
    return XG_OK;
}

/* ----------------------------------------------------------------------------- VASP ---- */

/* The standard cell the inputs describe, and its species in POSCAR order. */
typedef struct {
    xg_structure *s;
    int nsp;
    int z[XG_MAX_Z];
    int count[XG_MAX_Z];
} std_cell;

static int std_cell_make(const xg_structure *in, std_cell *c, xg_error *err)
{
    memset(c, 0, sizeof *c);
    if (!in || in->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "DFT input: structure has no atoms");
    c->s = xg_structure_copy(in);
    if (!c->s)
        return xg_error_set(err, XG_ENOMEM, "DFT input: out of memory");
    int rc = xg_structure_make_standard(c->s, err);
    if (rc) {
        xg_structure_free(c->s);
        c->s = NULL;
        return rc;
    }
    c->nsp = xg_structure_species_order(c->s, c->z, XG_MAX_Z);
    for (int k = 0; k < c->nsp; k++)
        for (int i = 0; i < c->s->natoms; i++)
            c->count[k] += c->s->types[i] == c->z[k];
    return XG_OK;
}

/* The most electronegative element (MP keys its +U table on it). */
static int anion_of(const std_cell *c)
{
    int best = 0;
    double x = -1;
    for (int k = 0; k < c->nsp; k++) {
        double e = xg_element_get(c->z[k])->electronegativity;
        if (!isnan(e) && e > x) {
            x = e;
            best = c->z[k];
        }
    }
    return best;
}

static int check_potcars(const std_cell *c, const char *id, xg_error *err)
{
    for (int k = 0; k < c->nsp; k++)
        if (!xg_dft_potcar_symbol(c->z[k]))
            return xg_error_set(err, XG_EUNSUPPORTED,
                                "%s: the Materials Project's input set has no PAW potential for "
                                "%s; no VASP input written",
                                id[0] ? id : "structure", xg_element_get(c->z[k])->symbol);
    return XG_OK;
}

/* Writes a per-site list compressed as VASP allows ("2*5.0 3*0.6"). */
static void put_runs(FILE *f, const double *v, int n)
{
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && v[j] == v[i])
            j++;
        fputc(' ', f);
        if (j - i > 1)
            fprintf(f, "%d*%g", j - i, v[i]);
        else
            fprintf(f, "%g", v[i]);
        i = j;
    }
}

static int incar_body(FILE *f, const std_cell *c, double kppa, const char *note, xg_error *err)
{
    const xg_structure *s = c->s;
    xg_kmesh km = {{1, 1, 1}, 1};
    int rc = xg_dft_kmesh(s, kppa, &km, err);
    if (rc)
        return rc;
    int magnetic = 0, d_el = 0, f_el = 0;
    for (int k = 0; k < c->nsp; k++) {
        magnetic |= xg_dft_is_magnetic(c->z[k]);
        f_el |= c->z[k] > 56;
        d_el |= c->z[k] > 20;
    }
    char formula[1024];
    if (xg_structure_formula(s, formula, sizeof formula))
        snprintf(formula, sizeof formula, "xtalgen structure");
    /* SYSTEM is one line of at most 40 characters in VASP; the provenance goes in comments. */
    fprintf(f, "SYSTEM = %.40s\n", formula);
    if (note && note[0]) {
        fputs("# ", f);
        for (const char *q = note; *q; q++)
            fputc(*q == '\n' ? ' ' : *q, f);
        fputc('\n', f);
    }
    fputs("# Relaxation with the Materials Project's MPRelaxSet defaults (PBE PAW)\n", f);
    fputs("PREC = Accurate\nENCUT = 520\nALGO = Fast\nLREAL = Auto\nLASPH = .TRUE.\n", f);
    fprintf(f, "EDIFF = %.6g\n", 5e-5 * s->natoms); /* MP: 5e-5 eV per atom */
    fputs("NELM = 100\nIBRION = 2\nISIF = 3\nNSW = 99\n", f);
    /* The tetrahedron method needs at least four k-points in the mesh; VASP stops otherwise. */
    long nk = (long)km.mesh[0] * km.mesh[1] * km.mesh[2];
    if (nk >= 4)
        fputs("ISMEAR = -5\nSIGMA = 0.05\n", f);
    else
        fputs("ISMEAR = 0\nSIGMA = 0.05\n", f);
    fputs("LORBIT = 11\nLWAVE = .FALSE.\n", f);
    if (f_el)
        fputs("LMAXMIX = 6\n", f);
    else if (d_el)
        fputs("LMAXMIX = 4\n", f);
    if (magnetic) {
        double *m = malloc((size_t)s->natoms * sizeof *m);
        if (!m)
            return xg_error_set(err, XG_ENOMEM, "INCAR: out of memory");
        for (int i = 0; i < s->natoms; i++)
            m[i] = xg_dft_initial_moment(s->types[i]);
        fputs("ISPIN = 2\nMAGMOM =", f);
        put_runs(f, m, s->natoms);
        fputc('\n', f);
        free(m);
    } else {
        fputs("ISPIN = 1\n", f);
    }
    int anion = anion_of(c);
    double u[XG_MAX_Z], l[XG_MAX_Z], j[XG_MAX_Z], sum = 0;
    for (int k = 0; k < c->nsp; k++) {
        u[k] = xg_dft_hubbard_u(c->z[k], anion);
        l[k] = u[k] > 0 ? 2 : 0;
        j[k] = 0;
        sum += u[k];
    }
    if (sum > 0) {
        fputs("LDAU = .TRUE.\nLDAUTYPE = 2\nLDAUPRINT = 1\nLDAUU =", f);
        for (int k = 0; k < c->nsp; k++)
            fprintf(f, " %g", u[k]);
        fputs("\nLDAUL =", f);
        for (int k = 0; k < c->nsp; k++)
            fprintf(f, " %g", l[k]);
        fputs("\nLDAUJ =", f);
        for (int k = 0; k < c->nsp; k++)
            fprintf(f, " %g", j[k]);
        fputc('\n', f);
    }
    if (ferror(f))
        return xg_error_set(err, XG_EIO, "INCAR: write error");
    return XG_OK;
}

int xg_dft_write_incar(FILE *f, const xg_structure *s, double kppa, const char *note,
                       xg_error *err)
{
    std_cell c;
    int rc = std_cell_make(s, &c, err);
    if (rc)
        return rc;
    rc = check_potcars(&c, s->id, err);
    if (rc == XG_OK)
        rc = incar_body(f, &c, kppa, note, err);
    xg_structure_free(c.s);
    return rc;
}

int xg_dft_write_kpoints(FILE *f, const xg_structure *s, double kppa, xg_error *err)
{
    xg_kmesh km = {{1, 1, 1}, 1};
    int rc = xg_dft_kmesh(s, kppa, &km, err);
    if (rc)
        return rc;
    fprintf(f, "xtalgen with grid density = %.0f / number of atoms\n0\n%s\n%d %d %d\n0 0 0\n", kppa,
            km.gamma ? "Gamma" : "Monkhorst", km.mesh[0], km.mesh[1], km.mesh[2]);
    return ferror(f) ? xg_error_set(err, XG_EIO, "KPOINTS: write error") : XG_OK;
}

int xg_dft_write_potcar_spec(FILE *f, const xg_structure *s, xg_error *err)
{
    std_cell c;
    int rc = std_cell_make(s, &c, err);
    if (rc)
        return rc;
    rc = check_potcars(&c, s->id, err);
    for (int k = 0; rc == XG_OK && k < c.nsp; k++)
        fprintf(f, "%s\n", xg_dft_potcar_symbol(c.z[k]));
    if (rc == XG_OK && ferror(f))
        rc = xg_error_set(err, XG_EIO, "POTCAR.spec: write error");
    xg_structure_free(c.s);
    return rc;
}

typedef struct {
    const xg_structure *s;
    double kppa;
    const char *note;
    int which; /* 0 INCAR, 1 KPOINTS, 2 POTCAR.spec */
} vasp_job;

static int vasp_job_write(FILE *f, const void *ctx, xg_error *err)
{
    const vasp_job *j = ctx;
    if (j->which == 0)
        return xg_dft_write_incar(f, j->s, j->kppa, j->note, err);
    if (j->which == 1)
        return xg_dft_write_kpoints(f, j->s, j->kppa, err);
    return xg_dft_write_potcar_spec(f, j->s, err);
}

int xg_dft_write_vasp_dir(const char *dir, const xg_structure *s, double kppa, const char *note,
                          xg_error *err)
{
    std_cell c;
    int rc = std_cell_make(s, &c, err);
    if (rc)
        return rc;
    /* refuse before anything is written: a folder without a POTCAR choice is no input */
    rc = check_potcars(&c, s->id, err);
    xg_structure_free(c.s);
    if (rc)
        return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/POSCAR", dir);
    if ((rc = xg_poscar_write_titled_file(path, s, note, err)))
        return rc;
    const char *names[3] = {"INCAR", "KPOINTS", "POTCAR.spec"};
    for (int k = 0; k < 3; k++) {
        vasp_job j = {s, kppa, note, k};
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        if ((rc = xg_file_write_atomic_with(path, vasp_job_write, &j, err)))
            return rc;
    }
    return XG_OK;
}

/* -------------------------------------------------------------------- Quantum ESPRESSO ---- */

/* Electrons outside the noble-gas core: the scale of starting_magnetization's fraction. */
static int outer_electrons(int z)
{
    static const int noble[] = {86, 54, 36, 18, 10, 2, 0};
    for (int k = 0; k < 7; k++)
        if (z > noble[k])
            return z - noble[k];
    return z;
}

/* The pattern with {El} (or {el}, lowercase) replaced by the symbol. */
static int pseudo_name(const char *pattern, const char *sym, char *out, size_t n)
{
    size_t len = 0;
    for (const char *p = pattern; *p;) {
        const char *rep = NULL;
        char low[4] = "";
        if (!strncmp(p, "{El}", 4)) {
            rep = sym;
        } else if (!strncmp(p, "{el}", 4)) {
            for (int k = 0; sym[k] && k < 3; k++)
                low[k] = (char)(sym[k] >= 'A' && sym[k] <= 'Z' ? sym[k] - 'A' + 'a' : sym[k]);
            rep = low;
        }
        if (rep) {
            size_t r = strlen(rep);
            if (len + r + 1 > n)
                return XG_EINVAL;
            memcpy(out + len, rep, r);
            len += r;
            p += 4;
        } else {
            if (len + 2 > n)
                return XG_EINVAL;
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
    return XG_OK;
}

/* A namelist string value in single quotes; quotes in it become double quotes. */
static void put_quoted(FILE *f, const char *v, size_t max)
{
    fputc('\'', f);
    for (size_t k = 0; v[k] && k < max; k++)
        fputc(v[k] == '\'' ? '"' : (v[k] == '\n' || v[k] == '\r' ? ' ' : v[k]), f);
    fputc('\'', f);
}

int xg_dft_write_espresso(FILE *f, const xg_structure *in, const xg_espresso_opts *o,
                          xg_error *err)
{
    if (!o || !o->pseudo_pattern || !o->pseudo_pattern[0])
        return xg_error_set(err, XG_EINVAL, "pw.x input: no pseudopotential pattern");
    std_cell c;
    int rc = std_cell_make(in, &c, err);
    if (rc)
        return rc;
    const xg_structure *s = c.s;
    xg_kmesh km = {{1, 1, 1}, 1};
    if ((rc = xg_dft_kmesh(s, o->kppa, &km, err))) {
        xg_structure_free(c.s);
        return rc;
    }
    const char *calc = o->calculation && o->calculation[0] ? o->calculation : "vc-relax";
    double ecutwfc = o->ecutwfc > 0 ? o->ecutwfc : 60.0;
    double ecutrho = o->ecutrho > 0 ? o->ecutrho : 8.0 * ecutwfc;
    int magnetic = 0;
    for (int k = 0; k < c.nsp; k++)
        magnetic |= xg_dft_is_magnetic(c.z[k]);
    char formula[1024];
    if (xg_structure_formula(s, formula, sizeof formula))
        snprintf(formula, sizeof formula, "xtalgen structure");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%.63s", s->id[0] ? s->id : "xtalgen");
    for (char *p = prefix; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            *p = '_';

    fputs("&CONTROL\n", f);
    if (o->note && o->note[0]) {
        /* '!' starts a comment inside a namelist, for pw.x and for ASE's reader */
        fputs("  ! ", f);
        for (const char *q = o->note; *q; q++)
            fputc(*q == '\n' ? ' ' : *q, f);
        fputc('\n', f);
    }
    fputs("  calculation = ", f);
    put_quoted(f, calc, 32);
    fputs("\n  title = ", f);
    char title[1200];
    snprintf(title, sizeof title, "%s%s%s", formula, o->note && o->note[0] ? "  " : "",
             o->note ? o->note : "");
    put_quoted(f, title, 250);
    fputs("\n  prefix = ", f);
    put_quoted(f, prefix, 60);
    fputs("\n  pseudo_dir = ", f);
    put_quoted(f, o->pseudo_dir && o->pseudo_dir[0] ? o->pseudo_dir : "./pseudo", 1000);
    fputs("\n  outdir = './tmp'\n  tprnfor = .true.\n  tstress = .true.\n", f);
    if (strcmp(calc, "scf") != 0)
        fputs("  forc_conv_thr = 1.0d-3\n  etot_conv_thr = 1.0d-5\n  nstep = 100\n", f);
    fputs("/\n&SYSTEM\n  ibrav = 0\n", f);
    fprintf(f, "  nat = %d\n  ntyp = %d\n", s->natoms, c.nsp);
    fprintf(f, "  ecutwfc = %g\n  ecutrho = %g\n", ecutwfc, ecutrho);
    fputs("  occupations = 'smearing'\n  smearing = 'mv'\n  degauss = 0.01\n", f);
    if (magnetic) {
        fputs("  nspin = 2\n", f);
        for (int k = 0; k < c.nsp; k++) {
            double m = xg_dft_is_magnetic(c.z[k])
                           ? fmin(1.0, xg_dft_initial_moment(c.z[k]) / outer_electrons(c.z[k]))
                           : 0.0;
            if (m > 0)
                fprintf(f, "  starting_magnetization(%d) = %.4f\n", k + 1, m);
        }
    }
    fputs("/\n&ELECTRONS\n  conv_thr = 1.0d-8\n  mixing_beta = 0.4\n/\n", f);
    if (!strcmp(calc, "relax") || !strcmp(calc, "vc-relax") || !strcmp(calc, "md") ||
        !strcmp(calc, "vc-md"))
        fputs("&IONS\n/\n", f);
    if (!strcmp(calc, "vc-relax") || !strcmp(calc, "vc-md"))
        fputs("&CELL\n  press_conv_thr = 0.5\n/\n", f);
    fputs("ATOMIC_SPECIES\n", f);
    for (int k = 0; k < c.nsp; k++) {
        const xg_element *e = xg_element_get(c.z[k]);
        char pp[512];
        if (pseudo_name(o->pseudo_pattern, e->symbol, pp, sizeof pp)) {
            xg_structure_free(c.s);
            return xg_error_set(err, XG_EINVAL, "pw.x input: pseudopotential name too long");
        }
        fprintf(f, "  %-3s %12.6f  %s\n", e->symbol, e->mass, pp);
    }
    fputs("CELL_PARAMETERS angstrom\n", f);
    for (int i = 0; i < 3; i++)
        fprintf(f, "  %21.16f %21.16f %21.16f\n", s->lattice[i][0] + 0.0, s->lattice[i][1] + 0.0,
                s->lattice[i][2] + 0.0);
    fputs("ATOMIC_POSITIONS crystal\n", f);
    for (int i = 0; i < s->natoms; i++)
        fprintf(f, "  %-3s %21.16f %21.16f %21.16f\n", xg_element_get(s->types[i])->symbol,
                s->frac[i][0], s->frac[i][1], s->frac[i][2]);
    int sh = km.gamma ? 0 : 1;
    fprintf(f, "K_POINTS automatic\n  %d %d %d %d %d %d\n", km.mesh[0], km.mesh[1], km.mesh[2], sh,
            sh, sh);
    xg_structure_free(c.s);
    return ferror(f) ? xg_error_set(err, XG_EIO, "pw.x input: write error") : XG_OK;
}

typedef struct {
    const xg_structure *s;
    const xg_espresso_opts *o;
} espresso_job;

static int espresso_job_write(FILE *f, const void *ctx, xg_error *err)
{
    const espresso_job *j = ctx;
    return xg_dft_write_espresso(f, j->s, j->o, err);
}

int xg_dft_write_espresso_file(const char *path, const xg_structure *s,
                               const xg_espresso_opts *o, xg_error *err)
{
    espresso_job j = {s, o};
    return xg_file_write_atomic_with(path, espresso_job_write, &j, err);
}
