/* cmd_screen.c: `xtalgen screen`: the judge every candidate passes before DFT: validity,
 * symmetry, uniqueness within the set, novelty against reference sets, the distribution
 * metrics, and (issue 6) what a candidate is worth: predicted properties, predicted energy above
 * the hull, S.U.N., supply risk (HHI) and Madelung energy (src/screen_props.h), written as
 * DIR/screen.csv (one row per crystal) and DIR/summary.json.
 *
 * screen.csv is built from a table of column providers (name + formatter); later stages
 * (property predictions, hull energies, S.U.N.) add a row to that table and, for a 0/1 flag,
 * a summary key, without touching the writer. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystal/xg_input.h"
#include "crystal/xg_matcher.h"
#include "crystal/xg_metrics.h"
#include "crystal/xg_novelty.h"
#include "crystal/xg_symmetry.h"
#include "crystal/xg_validity.h"
#include "properties/xg_propmodel.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/outdir.h"
#include "src/report.h"
#include "src/screen_props.h"
#include "src/screen_relax.h"
#include "src/xg_mpi.h"
#include "crystal/xg_csv.h"
#include "crystal/xg_json.h"

#define CMD "screen"
#define MAX_PATHS 64
#define CHUNK 64

static const char usage[] =
    "usage: xtalgen screen INPUT... [--reference REF]... [--distribution-reference REF]\n"
    "                      [--property-model M]... [--hull H] [--ehull-max E] [--ehull-min E]\n"
    "                      [--no-default-reference] [--explain ID] [--relax [--mlip-hull H]]\n"
    "                      [-o DIR] [--symprec S] [--quiet]\n"
    "\n"
    "Judges every crystal of the inputs: structural validity (all distances >= 0.5 A, volume\n"
    ">= 0.1 A^3), geometric validity (every distance >= 0.70 of the covalent-radius sum),\n"
    "compositional validity (SMACT-style charge balance), space group (spglib),\n"
    "uniqueness within the inputs and novelty against the references, by pymatgen\n"
    "StructureMatcher() rules. INPUT and REF are CIF files, folders of CIF/POSCAR files,\n"
    "extxyz files, xtalgen .h5 datasets or CDVAE-format .csv tables.\n"
    "\n";

static const char usage_after[] =
    "\n"
    "Writes DIR/screen.csv with the columns id,formula,natoms,spacegroup_number,\n"
    "valid_structure,valid_composition,unique,duplicate_of,novel,matched_reference (flags are\n"
    "0/1, empty when not assessed; novel and matched_reference are empty with no reference at\n"
    "all; duplicate_of is the id of the first crystal of a duplicate group), then, each only\n"
    "when its inputs are given:\n"
    "  e_form_pred       predicted formation energy, eV/atom (formation_energy_per_atom model)\n"
    "  e_hull_pred       e_form_pred minus the hull energy of the composition, eV/atom, signed\n"
    "  stable            e_hull_pred < --ehull-max; empty (not assessed) outside the models'\n"
    "                    training domain (in_domain = 0) or below --ehull-min\n"
    "  sun               stable, unique, novel, valid_structure and valid_geometry\n"
    "  mag_density_pred  predicted magnetic density, muB/A^3 (dft_mag_density model)\n"
    "  band_gap_pred     predicted band gap, eV (band_gap model)\n"
    "and always:\n"
    "  hhi               production HHI, weight-fraction average (Gaultois et al. 2013);\n"
    "                    empty when an element has no data\n"
    "  ewald_per_atom    Madelung energy of the most plausible charge-balanced oxidation\n"
    "                    states, eV/atom; empty when there is none (or no ionic charges)\n"
    "  min_bond_ratio    smallest d_ij / (r_i + r_j) over all pairs and periodic images, r the\n"
    "                    covalent radii of Cordero et al., Dalton Trans. 2008\n"
    "  valid_geometry    min_bond_ratio >= 0.70 (99.91% of MP-20 test passes); sun needs it\n"
    "                    and valid_structure\n"
    "  n_elements        number of distinct elements (1: an elemental crystal)\n"
    "  in_domain         (with property models) 1 when the crystal lies inside every model's\n"
    "                    training domain: elements seen, density, smallest bond ratio and\n"
    "                    number of atoms within the training ranges (xtalgen model domain)\n"
    "and with --relax:\n"
    "  e_relaxed         M3GNet energy after relaxation, eV/atom\n"
    "  e_hull_mlip       its formation energy (M3GNet elemental references) minus the M3GNet\n"
    "                    hull energy of the composition, eV/atom, signed\n"
    "  relax_rmsd        rms displacement of the atoms during relaxation, A\n"
    "  relax_converged   max force below 0.05 eV/A within 500 steps\n"
    "  spacegroup_relaxed  space group after relaxation (symprec 0.1)\n"
    "  stable_mlip_0, sun_mlip_0  as stable and sun with e_hull_mlip < 0\n"
    "  stable_pred       the property model's verdict (e_hull_pred < --ehull-max)\n"
    "  error             why a stage failed for this crystal (unreadable file, spglib, the\n"
    "                    matcher's bounds, a model that cannot take it); the run goes on\n"
    "Predicted values are model outputs, not DFT: the summary names each model with its\n"
    "measured test MAE. DIR/summary.json holds counts, rates (stable and sun among them),\n"
    "distances and the means of the property columns; both files are written atomically, and\n"
    "the summary is printed.\n"
    "Band gap and magnetic density predictions below 0 are clipped to 0 (counted in\n"
    "summary.json \"clipped\"); per-crystal failures are counted in \"errors\".\n"
    "Exit status 1 when an input, a property model or the hull cannot be read or an output\n"
    "cannot be written (an unreadable file inside a folder only gets an error row), or\n"
    "when the --explain id is not among the inputs.\n"
    "\n"
    "With MPI (-DXTALGEN_MPI=ON): mpirun -n R xtalgen screen ... splits the crystals over the\n"
    "ranks (validity, symmetry, reduction, novelty, property predictions; each rank reads the\n"
    "references and the property models once), and rank 0 collects the results, finds the\n"
    "duplicates and writes the same files as one process.\n";

/* What is known about one crystal after screening. */
typedef struct {
    const char *inputs[MAX_PATHS], *refs[MAX_PATHS], *models[XG_SCREEN_MAX_MODELS];
    int nrefs, nmodels;
    const char *dist_ref, *outdir, *hull_path, *explain, *mlip_hull;
    int quiet, no_default_ref, no_report, relax, overwrite;
    double symprec, ehull_max, ehull_min;
} screen_args;

static const xg_opt OPTS[] = {
    XG_OPT_L("--reference", NULL, screen_args, refs, nrefs, "REF", MAX_PATHS,
             "more known crystals for novelty (repeatable), besides the shipped "
             "data/reference/mp20.h5: all 42,955 crystals of MP-20 (train, val and test), and "
             "the shipped data/reference/elements-extra.h5: 50 well-known elemental structures "
             "from published lattice constants (with fcc Fe, diamond and white tin, which MP-20 "
             "lacks), so that by default novel means \"not in MP-20 nor a common form of an "
             "element\""),
    XG_OPT_S("--explain", NULL, screen_args, explain, "ID", NULL,
             "also print, for the crystal with this id, the numbers behind each of its flags "
             "(why it is or is not valid, novel, stable, S.U.N.)"),
    XG_OPT_F("--no-default-reference", NULL, screen_args, no_default_ref,
             "leave the shipped references out (novelty only against --reference sets; none: "
             "novel stays empty)"),
    XG_OPT_S("--distribution-reference", NULL, screen_args, dist_ref, "REF", NULL,
             "crystals to compare distributions with: Wasserstein distances of density and "
             "number of elements, over the inputs valid in both senses (as CDVAE reports them)"),
    XG_OPT_S("--output", "-o", screen_args, outdir, "DIR", "screen_out",
             "output folder; a folder holding an earlier screen's results is refused unless "
             "--overwrite, one another run is writing always is, and DIR may not be an input "
             "(use RUN/screen, not RUN)"),
    XG_OPT_F("--overwrite", NULL, screen_args, overwrite,
             "replace an earlier screen's results in DIR (files xtalgen did not write there "
             "make it refuse)"),
    XG_OPT_L("--property-model", NULL, screen_args, models, nmodels, "M", XG_SCREEN_MAX_MODELS,
             "a property model (xtalgen train-property) of formation_energy_per_atom, "
             "dft_mag_density or band_gap (repeatable, one per target)"),
    XG_OPT_S("--hull", NULL, screen_args, hull_path, "H", NULL,
             "hull table (xtalgen hull build) for e_hull_pred (default the shipped "
             "data/hull-mp20.h5)"),
    XG_OPT_D("--ehull-max", NULL, screen_args, ehull_max, "E", 0, 10, "0.1",
             "stable: e_hull_pred < E eV/atom"),
    XG_OPT_D("--ehull-min", NULL, screen_args, ehull_min, "E", -1000, 0, NULL,
             "below E eV/atom a prediction is not believed: stable is left empty (default "
             "-0.3, ten times the shipped model's error below every known MP-20 phase)"),
    XG_OPT_D("--symprec", NULL, screen_args, symprec, "S", 1e-6, 5, "0.1",
             "spglib tolerance in Angstrom"),
    XG_OPT_F("--quiet", "-q", screen_args, quiet, "no progress display and no summary table"),
    XG_OPT_F("--no-report", NULL, screen_args, no_report,
             "do not write DIR/report.html (xtalgen help report)"),
    XG_OPT_F("--relax", NULL, screen_args, relax,
             "relax every crystal with the M3GNet potential (as `xtalgen relax`) and judge "
             "stability by its relaxed energy against the M3GNet hull of MP-20; then stable "
             "and sun come from e_hull_mlip (the property model's verdict stays as "
             "stable_pred)"),
    XG_OPT_S("--mlip-hull", NULL, screen_args, mlip_hull, "H", NULL,
             "M3GNet hull table (xtalgen hull m3gnet; default the shipped "
             "data/hull-m3gnet-mp20.h5)"),
    XG_OPT_TABLE_END};

const xg_command_options xg_options_screen = {OPTS, usage_after, NULL};

typedef struct {
    char formula[128];
    int natoms;
    int spacegroup;      /* 0 when spglib failed */
    int valid_structure; /* -1 when the structure could not be analysed */
    int valid_composition;
    int valid_geometry;  /* -1 when not assessed; bonds >= f * covalent sums (issue 14) */
    double min_bond_ratio; /* NaN when not assessed */
    double min_distance, volume; /* Angstrom, Angstrom^3; NaN when not assessed (--explain) */
    int unique;          /* -1 when not assessed (cell could not be reduced) */
    int64_t dup_of;      /* -1 or the index of the group's first crystal */
    int novel;           /* -1 when not assessed */
    int64_t matched;     /* reference number or -1 */
    double density, nelements;
    xg_screen_values pv; /* properties; NaN = missing */
    /* issue 14: what went wrong for this crystal (it still gets its row) */
    unsigned err_mask;   /* ERR_* bits: the stages that failed */
    char error[240];     /* their messages, "; "-separated, "" when none */
} row;

/* Per-crystal failure stages, counted in summary.json "errors". */
enum {
    ERR_READ = 1u << 0,     /* the file could not be parsed */
    ERR_VALIDITY = 1u << 1, /* distances or charge balance could not be computed */
    ERR_SPGLIB = 1u << 2,
    ERR_MATCHER = 1u << 3,  /* reduction failed, or a comparison the matcher refused */
    ERR_MODEL = 1u << 4,    /* a property model could not take the crystal */
    NERR = 5
};
static const char *const err_names[NERR] = {"read", "validity", "spglib", "matcher",
                                            "property_model"};

static void row_error(row *r, unsigned stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void row_error(row *r, unsigned stage, const char *fmt, ...)
{
    r->err_mask |= stage;
    size_t used = strlen(r->error);
    if (used + 3 >= sizeof r->error)
        return;
    if (used) {
        memcpy(r->error + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error + used, sizeof r->error - used, fmt, ap);
    va_end(ap);
}

typedef struct {
    const xg_dataset *ds;
    row *rows;
    const xg_novelty_index *ix;
    int have_refs;
    const xg_screen_props_info *pi; /* NULL without --property-model */
    double ehull_max;               /* stable: e_hull_pred < ehull_max */
    double ehull_min;               /* below it stable is not assessed (issue 14) */
    const xg_screen_relax_row *rx;  /* --relax: relaxed energies, else NULL */
} screen_run;

/* ---------------------------------------------------------------- column providers ---- */

typedef void (*column_fn)(const screen_run *r, int64_t i, char *buf, size_t n);

typedef struct {
    const char *name;    /* header of the CSV column */
    column_fn format;    /* writes the cell of row i (unquoted; the writer quotes) */
    const char *flag;    /* for 0/1 columns: the key counted in summary.json, else NULL */
    int (*value)(const screen_run *r, int64_t i); /* flag value: 1, 0, or -1 (not assessed) */
    int (*present)(const screen_run *r); /* whether the run has the column's inputs; NULL: always */
} screen_column;

static void flag_cell(int v, char *buf, size_t n)
{
    if (v < 0)
        buf[0] = '\0';
    else
        snprintf(buf, n, "%d", v);
}

static void col_id(const screen_run *r, int64_t i, char *b, size_t n)
{
    snprintf(b, n, "%s", r->ds->ids[i]);
}
static void col_formula(const screen_run *r, int64_t i, char *b, size_t n)
{
    snprintf(b, n, "%s", r->rows[i].formula);
}
static void col_natoms(const screen_run *r, int64_t i, char *b, size_t n)
{
    snprintf(b, n, "%d", r->rows[i].natoms);
}
static void col_sg(const screen_run *r, int64_t i, char *b, size_t n)
{
    if (r->rows[i].spacegroup > 0)
        snprintf(b, n, "%d", r->rows[i].spacegroup);
    else
        b[0] = '\0';
}
static int val_vs(const screen_run *r, int64_t i) { return r->rows[i].valid_structure; }
static int val_vc(const screen_run *r, int64_t i) { return r->rows[i].valid_composition; }
static int val_unique(const screen_run *r, int64_t i) { return r->rows[i].unique; }
static int val_vg(const screen_run *r, int64_t i) { return r->rows[i].valid_geometry; }
static int val_novel(const screen_run *r, int64_t i)
{
    return r->have_refs ? r->rows[i].novel : -1;
}
static void col_vs(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_vs(r, i), b, n);
}
static void col_vc(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_vc(r, i), b, n);
}
static void col_unique(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_unique(r, i), b, n);
}
static void col_dup(const screen_run *r, int64_t i, char *b, size_t n)
{
    int64_t d = r->rows[i].dup_of;
    snprintf(b, n, "%s", d >= 0 ? r->ds->ids[d] : "");
}
static void col_novel(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_novel(r, i), b, n);
}
static void col_matched(const screen_run *r, int64_t i, char *b, size_t n)
{
    int64_t m = r->rows[i].matched;
    snprintf(b, n, "%s", r->have_refs && m >= 0 ? xg_novelty_index_id(r->ix, m) : "");
}

/* Property columns (issue 6): each present only when the run has its inputs. */
static int has_model(const screen_run *r, int k) { return r->pi && r->pi->have[k]; }
static int has_eform(const screen_run *r) { return has_model(r, XG_SCREEN_EFORM); }
static int has_mag(const screen_run *r) { return has_model(r, XG_SCREEN_MAG); }
static int has_gap(const screen_run *r) { return has_model(r, XG_SCREEN_GAP); }
static int has_hull(const screen_run *r) { return r->pi && r->pi->have_hull; }
static int has_sun(const screen_run *r) { return (has_hull(r) || r->rx) && r->have_refs; }
static int has_models(const screen_run *r)
{
    return has_eform(r) || has_mag(r) || has_gap(r);
}

static void number_cell(double x, const char *fmt, char *buf, size_t n)
{
    if (isfinite(x))
        snprintf(buf, n, fmt, x);
    else
        buf[0] = '\0';
}
/* Not assessed (-1) outside the models' training domain and for an implausibly low
 * prediction (XG_SCREEN_EHULL_IMPLAUSIBLE): a number the model cannot back is no verdict. */
static int val_stable(const screen_run *r, int64_t i)
{
    const xg_screen_values *v = &r->rows[i].pv;
    double e = r->rx ? r->rx[i].e_hull_mlip : v->e_hull; /* --relax: the MLIP's */
    if (!isfinite(e))
        return -1;
    /* The property model's verdict is not assessed outside its domain or implausibly far
     * below the hull (issue 14); a relaxed M3GNet energy is physics, judged as it is. */
    if (!r->rx && (v->in_domain == 0 || e < r->ehull_min))
        return -1;
    return e < r->ehull_max;
}
/* Stable and unique and novel, on a structurally and geometrically valid crystal (a cell
 * with overlapping atoms is never worth DFT, whatever a model predicts for it): 0 as soon as
 * one is known to fail, 1 when all hold, -1 (not assessed) otherwise. */
static int val_sun(const screen_run *r, int64_t i)
{
    int f[5] = {val_stable(r, i), val_unique(r, i), val_novel(r, i), val_vs(r, i), val_vg(r, i)};
    int all = 1;
    for (int k = 0; k < 5; k++) {
        if (f[k] == 0)
            return 0;
        all &= f[k] == 1;
    }
    return all ? 1 : -1;
}
static void col_eform(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rows[i].pv.pred[XG_SCREEN_EFORM], "%.4f", b, n);
}
static void col_ehull(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rows[i].pv.e_hull, "%.4f", b, n);
}
static void col_stable(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_stable(r, i), b, n);
}
static void col_sun(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_sun(r, i), b, n);
}
/* ---- --relax columns (screen_relax.h) ---- */
static int has_relax(const screen_run *r) { return r->rx != NULL; }
static int has_stable(const screen_run *r) { return has_hull(r) || has_relax(r); }
static int has_pred_relax(const screen_run *r) { return has_hull(r) && has_relax(r); }
static int has_sun_relax(const screen_run *r) { return has_relax(r) && r->have_refs; }
static int val_stable_pred(const screen_run *r, int64_t i)
{
    double e = r->rows[i].pv.e_hull;
    return isfinite(e) ? e < r->ehull_max : -1;
}
static int val_stable0(const screen_run *r, int64_t i)
{
    double e = r->rx[i].e_hull_mlip;
    return isfinite(e) ? e < 0 : -1;
}
static int val_sun0(const screen_run *r, int64_t i)
{
    int f[3] = {val_stable0(r, i), val_unique(r, i), val_novel(r, i)};
    if (f[0] == 0 || f[1] == 0 || f[2] == 0)
        return 0;
    return f[0] == 1 && f[1] == 1 && f[2] == 1 ? 1 : -1;
}
static int val_rconv(const screen_run *r, int64_t i) { return r->rx[i].converged; }
static void col_erelax(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rx[i].e_relaxed, "%.4f", b, n);
}
static void col_ehull_mlip(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rx[i].e_hull_mlip, "%.4f", b, n);
}
static void col_rrmsd(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rx[i].rmsd, "%.4f", b, n);
}
static void col_rconv(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_rconv(r, i), b, n);
}
static void col_sg_relaxed(const screen_run *r, int64_t i, char *b, size_t n)
{
    if (r->rx[i].sg_relaxed > 0)
        snprintf(b, n, "%d", r->rx[i].sg_relaxed);
    else
        b[0] = '\0';
}
static void col_stable0(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_stable0(r, i), b, n);
}
static void col_sun0(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_sun0(r, i), b, n);
}
static void col_stable_pred(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_stable_pred(r, i), b, n);
}

static void col_mag(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rows[i].pv.pred[XG_SCREEN_MAG], "%.5f", b, n);
}
static void col_gap(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rows[i].pv.pred[XG_SCREEN_GAP], "%.4f", b, n);
}
static void col_hhi(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rows[i].pv.hhi, "%.1f", b, n);
}
static void col_ewald(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rows[i].pv.ewald, "%.4f", b, n);
}

/* Issue 14: geometric validity, elemental flag. */
static void col_mbr(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rows[i].min_bond_ratio, "%.3f", b, n);
}
static void col_vg(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_vg(r, i), b, n);
}
static void col_nel(const screen_run *r, int64_t i, char *b, size_t n)
{
    number_cell(r->rows[i].nelements, "%.0f", b, n);
}
static int val_dom(const screen_run *r, int64_t i) { return r->rows[i].pv.in_domain; }
static void col_error(const screen_run *r, int64_t i, char *b, size_t n)
{
    snprintf(b, n, "%s", r->rows[i].error);
}
static void col_dom(const screen_run *r, int64_t i, char *b, size_t n)
{
    flag_cell(val_dom(r, i), b, n);
}

/* The first ten columns are fixed by the interface (issue 3); the property columns follow in
 * the order of issue 6. Append new ones below. */
static const screen_column columns[] = {
    {"id", col_id, NULL, NULL, NULL},
    {"formula", col_formula, NULL, NULL, NULL},
    {"natoms", col_natoms, NULL, NULL, NULL},
    {"spacegroup_number", col_sg, NULL, NULL, NULL},
    {"valid_structure", col_vs, "valid_structure", val_vs, NULL},
    {"valid_composition", col_vc, "valid_composition", val_vc, NULL},
    {"unique", col_unique, "unique", val_unique, NULL},
    {"duplicate_of", col_dup, NULL, NULL, NULL},
    {"novel", col_novel, "novel", val_novel, NULL},
    {"matched_reference", col_matched, NULL, NULL, NULL},
    {"e_form_pred", col_eform, NULL, NULL, has_eform},
    {"e_hull_pred", col_ehull, NULL, NULL, has_hull},
    {"stable", col_stable, "stable", val_stable, has_stable},
    {"sun", col_sun, "sun", val_sun, has_sun},
    {"mag_density_pred", col_mag, NULL, NULL, has_mag},
    {"band_gap_pred", col_gap, NULL, NULL, has_gap},
    {"hhi", col_hhi, NULL, NULL, NULL},
    {"ewald_per_atom", col_ewald, NULL, NULL, NULL},
    {"min_bond_ratio", col_mbr, NULL, NULL, NULL},
    {"valid_geometry", col_vg, "valid_geometry", val_vg, NULL},
    {"n_elements", col_nel, NULL, NULL, NULL},
    {"in_domain", col_dom, "in_domain", val_dom, has_models},
    {"e_relaxed", col_erelax, NULL, NULL, has_relax},
    {"e_hull_mlip", col_ehull_mlip, NULL, NULL, has_relax},
    {"relax_rmsd", col_rrmsd, NULL, NULL, has_relax},
    {"relax_converged", col_rconv, "relax_converged", val_rconv, has_relax},
    {"spacegroup_relaxed", col_sg_relaxed, NULL, NULL, has_relax},
    {"stable_mlip_0", col_stable0, "stable_mlip_0", val_stable0, has_relax},
    {"sun_mlip_0", col_sun0, "sun_mlip_0", val_sun0, has_sun_relax},
    {"stable_pred", col_stable_pred, "stable_pred", val_stable_pred, has_pred_relax},
    {"error", col_error, NULL, NULL, NULL},
};
#define NCOLUMNS ((int)(sizeof columns / sizeof columns[0]))

static int col_on(const screen_run *r, int c)
{
    return !columns[c].present || columns[c].present(r);
}
/* A flag column of this run (counted in the summary). */
static int flag_on(const screen_run *r, int c) { return columns[c].flag && col_on(r, c); }

/* Means of the numeric property columns, for the summary. */
typedef struct {
    const char *name, *unit;
    int on;
    double mean;
    long n;
} prop_mean;

enum { NMEANS = 6 };

static void property_means(const screen_run *r, prop_mean *pm)
{
    const char *names[NMEANS] = {"e_form_pred",   "e_hull_pred", "mag_density_pred",
                                 "band_gap_pred", "hhi",         "ewald_per_atom"};
    const char *units[NMEANS] = {"eV/atom", "eV/atom", "muB/A^3", "eV", "", "eV/atom"};
    int on[NMEANS] = {has_eform(r), has_hull(r), has_mag(r), has_gap(r), 1, 1};
    for (int k = 0; k < NMEANS; k++) {
        double sum = 0;
        long cnt = 0;
        for (int64_t i = 0; on[k] && i < r->ds->n; i++) {
            const xg_screen_values *v = &r->rows[i].pv;
            double x = k == 0   ? v->pred[XG_SCREEN_EFORM]
                       : k == 1 ? v->e_hull
                       : k == 2 ? v->pred[XG_SCREEN_MAG]
                       : k == 3 ? v->pred[XG_SCREEN_GAP]
                       : k == 4 ? v->hhi
                                : v->ewald;
            if (isfinite(x)) {
                sum += x;
                cnt++;
            }
        }
        pm[k] = (prop_mean){names[k], units[k], on[k], cnt ? sum / (double)cnt : NAN, cnt};
    }
}

/* ---------------------------------------------------------------- output ---- */

static void json_number(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, "%.6g", x);
    else
        fputs("null", f);
}

static int write_csv(const char *path, const screen_run *r, xg_error *err)
{
    xg_atomic_file a;
    int rc = xg_atomic_open(&a, path, err);
    if (rc)
        return rc;
    for (int c = 0; c < NCOLUMNS; c++)
        if (col_on(r, c))
            fprintf(a.f, "%s%s", c ? "," : "", columns[c].name);
    fputc('\n', a.f);
    char cell[512];
    for (int64_t i = 0; i < r->ds->n; i++) {
        for (int c = 0; c < NCOLUMNS; c++) {
            if (!col_on(r, c))
                continue;
            if (c)
                fputc(',', a.f);
            columns[c].format(r, i, cell, sizeof cell);
            xg_csv_write_cell(a.f, cell);
        }
        fputc('\n', a.f);
    }
    return xg_atomic_commit(&a, err);
}

typedef struct {
    long count, assessed;
} flag_stat;

typedef struct {
    const char *const *inputs;
    int ninputs;
    const char *const *refs;
    int nrefs;
    const char *dist_ref;
    double w_density, w_nelements; /* NAN when not computed */
    long n_dist_samples, n_dist_ref;
    long valid_both, unique_valid, novel_unique_valid; /* combined rates */
    long reduce_failed, refs_total;
    double seconds;
    double t_read, t_checks, t_unique, t_novelty, t_props; /* phase times, seconds */
} summary;

static void flag_stats(const screen_run *r, flag_stat *st)
{
    for (int c = 0; c < NCOLUMNS; c++) {
        st[c].count = st[c].assessed = 0;
        if (!flag_on(r, c))
            continue;
        for (int64_t i = 0; i < r->ds->n; i++) {
            int v = columns[c].value(r, i);
            if (v >= 0) {
                st[c].assessed++;
                st[c].count += v == 1;
            }
        }
    }
}

/* Issue 14: crystals with a failure recorded in their row, in all and per stage. */
static void write_json_errors(FILE *f, const screen_run *r)
{
    long rows = 0, per[NERR] = {0};
    for (int64_t i = 0; i < r->ds->n; i++) {
        rows += r->rows[i].err_mask != 0;
        for (int k = 0; k < NERR; k++)
            per[k] += (r->rows[i].err_mask >> k) & 1u;
    }
    fprintf(f, "  \"errors\": {\"rows\": %ld", rows);
    for (int k = 0; k < NERR; k++)
        fprintf(f, ", \"%s\": %ld", err_names[k], per[k]);
    fputs("},\n", f);
}

/* Issue 14: how many predictions were clipped to their physical range, fell outside the
 * training domain or were implausibly far below the hull. */
static void write_json_honesty(FILE *f, const screen_run *r)
{
    fputs(",\n    \"clipped\": {", f);
    int first = 1;
    for (int k = 0; k < XG_SCREEN_NTARGETS; k++) {
        if (!has_model(r, k))
            continue;
        long c = 0;
        for (int64_t i = 0; i < r->ds->n; i++)
            c += r->rows[i].pv.clipped[k];
        fprintf(f, "%s\"%s\": %ld", first ? "" : ", ", xg_screen_props_target(k), c);
        first = 0;
    }
    long out = 0, unknown = 0, implausible = 0;
    for (int64_t i = 0; i < r->ds->n; i++) {
        out += r->rows[i].pv.in_domain == 0;
        unknown += r->rows[i].pv.in_domain < 0;
        implausible += r->rows[i].pv.e_hull < r->ehull_min;
    }
    fprintf(f, "},\n    \"outside_domain\": %ld, \"domain_unknown\": %ld", out, unknown);
    fprintf(f, ",\n    \"ehull_implausible\": %ld, \"ehull_implausible_below\": ", implausible);
    json_number(f, r->ehull_min);
}

/* The property block: which models and hull made the predictions, with the models' measured
 * errors (predictions are never DFT values), and the means of the property columns. */
static void write_json_properties(FILE *f, const screen_run *r)
{
    const xg_screen_props_info *pi = r->pi;
    fputs("  \"properties\": {\n    \"note\": \"*_pred columns and e_hull_pred are model "
          "predictions (errors: the models' test MAE), not DFT values\",\n    \"ehull_max\": ",
          f);
    json_number(f, r->ehull_max);
    fputs(",\n    \"hull\": ", f);
    if (has_hull(r)) {
        xg_json_write_string(f, pi->hull_path);
        fprintf(f, ",\n    \"hull_entries\": %lld", (long long)pi->hull_entries);
    } else {
        fputs("null", f);
    }
    fputs(",\n    \"models\": {", f);
    int first = 1;
    for (int k = 0; k < XG_SCREEN_NTARGETS; k++) {
        if (!has_model(r, k))
            continue;
        fprintf(f, "%s\n      \"%s\": {\"path\": ", first ? "" : ",", xg_screen_props_target(k));
        xg_json_write_string(f, pi->model_path[k]);
        fputs(", \"test_mae\": ", f);
        json_number(f, pi->test_mae[k]);
        fprintf(f, ", \"n_test\": %lld, \"val_mae\": ", (long long)pi->n_test[k]);
        json_number(f, pi->val_mae[k]);
        fputs("}", f);
        first = 0;
    }
    fputs(first ? "}" : "\n    }", f);
    write_json_honesty(f, r);
    fputs(",\n    \"means\": {", f);
    prop_mean pm[NMEANS];
    property_means(r, pm);
    first = 1;
    for (int k = 0; k < NMEANS; k++) {
        if (!pm[k].on)
            continue;
        fprintf(f, "%s\n      \"%s\": {\"mean\": ", first ? "" : ",", pm[k].name);
        json_number(f, pm[k].mean);
        fprintf(f, ", \"n\": %ld}", pm[k].n);
        first = 0;
    }
    fputs("\n    }\n  }", f);
}

static int write_json(const char *path, const screen_run *r, const flag_stat *st,
                      const summary *sm, xg_error *err)
{
    xg_atomic_file a;
    int rc = xg_atomic_open(&a, path, err);
    if (rc)
        return rc;
    FILE *f = a.f;
    long n = (long)r->ds->n;
    fprintf(f, "{\n  \"n_structures\": %ld,\n  \"inputs\": [", n);
    for (int k = 0; k < sm->ninputs; k++) {
        fputs(k ? ", " : "", f);
        xg_json_write_string(f, sm->inputs[k]);
    }
    fputs("],\n  \"references\": [", f);
    for (int k = 0; k < sm->nrefs; k++) {
        fputs(k ? ", " : "", f);
        xg_json_write_string(f, sm->refs[k]);
    }
    fprintf(f, "],\n  \"n_references\": %ld,\n", sm->refs_total);
    fputs("  \"counts\": {", f);
    int first = 1;
    for (int c = 0; c < NCOLUMNS; c++) {
        if (!flag_on(r, c))
            continue;
        fprintf(f, "%s\n    \"%s\": ", first ? "" : ",", columns[c].flag);
        if (st[c].assessed)
            fprintf(f, "%ld", st[c].count);
        else
            fputs("null", f);
        first = 0;
    }
    fprintf(f, ",\n    \"valid\": %ld", sm->valid_both);
    fprintf(f, ",\n    \"unique_valid\": %ld", sm->unique_valid);
    if (r->have_refs)
        fprintf(f, ",\n    \"novel_unique_valid\": %ld", sm->novel_unique_valid);
    fputs("\n  },\n  \"rates\": {", f);
    first = 1;
    for (int c = 0; c < NCOLUMNS; c++) {
        if (!flag_on(r, c))
            continue;
        fprintf(f, "%s\n    \"%s\": ", first ? "" : ",", columns[c].flag);
        json_number(f, st[c].assessed ? (double)st[c].count / (double)st[c].assessed : NAN);
        first = 0;
    }
    fputs(",\n    \"valid\": ", f);
    json_number(f, n ? (double)sm->valid_both / n : NAN);
    fputs(",\n    \"unique_valid\": ", f);
    json_number(f, n ? (double)sm->unique_valid / n : NAN);
    if (r->have_refs) {
        fputs(",\n    \"novel_unique_valid\": ", f);
        json_number(f, n ? (double)sm->novel_unique_valid / n : NAN);
    }
    fputs("\n  },\n  \"not_assessed\": {", f);
    first = 1;
    for (int c = 0; c < NCOLUMNS; c++) {
        if (!flag_on(r, c))
            continue;
        fprintf(f, "%s\n    \"%s\": %ld", first ? "" : ",", columns[c].flag,
                st[c].assessed ? n - st[c].assessed : n);
        first = 0;
    }
    fputs("\n  },\n", f);
    write_json_errors(f, r);
    write_json_properties(f, r);
    fputs(",\n  \"wasserstein\": ", f);
    if (sm->dist_ref) {
        fputs("{\n    \"reference\": ", f);
        xg_json_write_string(f, sm->dist_ref);
        fputs(",\n    \"density_g_cm3\": ", f);
        json_number(f, sm->w_density);
        fputs(",\n    \"n_elements\": ", f);
        json_number(f, sm->w_nelements);
        fprintf(f, ",\n    \"n_samples\": %ld,\n    \"n_reference\": %ld\n  }", sm->n_dist_samples,
                sm->n_dist_ref);
    } else {
        fputs("null", f);
    }
    fputs(",\n  \"matcher\": {\"ltol\": 0.2, \"stol\": 0.3, \"angle_tol\": 5, "
          "\"primitive_cell\": true, \"scale\": true},\n",
          f);
    fprintf(f,
            "  \"seconds\": %.3f,\n  \"phase_seconds\": {\"read\": %.3f, \"checks\": %.3f, "
            "\"unique\": %.3f, \"novelty\": %.3f, \"properties\": %.3f}\n}\n",
            sm->seconds, sm->t_read, sm->t_checks, sm->t_unique, sm->t_novelty, sm->t_props);
    return xg_atomic_commit(&a, err);
}

/* " (test MAE 0.051 eV/atom on 9046 crystals)" or " (test MAE not measured)". */
static void mae_text(const screen_run *r, int k, const char *unit, char *buf, size_t n)
{
    double mae = r->pi->test_mae[k];
    if (isfinite(mae))
        snprintf(buf, n, "test MAE %.3g %s on %lld crystals", mae, unit,
                 (long long)r->pi->n_test[k]);
    else
        snprintf(buf, n, "test MAE not measured");
}

static void print_properties(const screen_run *r)
{
    prop_mean pm[NMEANS];
    property_means(r, pm);
    printf("  %-22s %10s %6s\n", "property (mean)", "mean", "n");
    for (int k = 0; k < NMEANS; k++) {
        if (!pm[k].on)
            continue;
        if (pm[k].n)
            printf("  %-22s %10.4g %6ld%s%s\n", pm[k].name, pm[k].mean, pm[k].n,
                   pm[k].unit[0] ? " " : "", pm[k].unit);
        else
            printf("  %-22s %10s %6ld\n", pm[k].name, "-", 0L);
    }
    if (!r->pi)
        return;
    char mae[160];
    static const char *const units[XG_SCREEN_NTARGETS] = {"eV/atom", "muB/A^3", "eV"};
    for (int k = 0; k < XG_SCREEN_NTARGETS; k++) {
        if (!has_model(r, k))
            continue;
        mae_text(r, k, units[k], mae, sizeof mae);
        printf("  %s: predicted by %s (%s)\n", xg_screen_props_target(k), r->pi->model_path[k],
               mae);
    }
    if (has_hull(r)) {
        mae_text(r, XG_SCREEN_EFORM, "eV/atom", mae, sizeof mae);
        printf("  e_hull_pred is a PREDICTION, not DFT: predicted E_form minus the hull of %s\n"
               "    (%lld entries); it carries the formation-energy model's error (%s).\n"
               "    stable: e_hull_pred < %g eV/atom\n",
               r->pi->hull_path, (long long)r->pi->hull_entries, mae, r->ehull_max);
    }
}

static void print_table(const screen_run *r, const flag_stat *st, const summary *sm)
{
    long n = (long)r->ds->n;
    printf("xtalgen screen: %ld crystals", n);
    if (sm->nrefs)
        printf(", %ld reference crystals", sm->refs_total);
    printf(" (%.2f s)\n", sm->seconds);
    printf("  %-22s %8s %8s\n", "flag", "count", "rate");
    for (int c = 0; c < NCOLUMNS; c++) {
        if (!flag_on(r, c))
            continue;
        if (!st[c].assessed) {
            printf("  %-22s %8s %8s\n", columns[c].flag, "-", "-");
            continue;
        }
        printf("  %-22s %8ld %7.2f%%\n", columns[c].flag, st[c].count,
               100.0 * st[c].count / st[c].assessed);
    }
    printf("  %-22s %8ld %7.2f%%\n", "valid (both)", sm->valid_both,
           n ? 100.0 * sm->valid_both / n : 0.0);
    printf("  %-22s %8ld %7.2f%%\n", "unique & valid", sm->unique_valid,
           n ? 100.0 * sm->unique_valid / n : 0.0);
    if (r->have_refs)
        printf("  %-22s %8ld %7.2f%%\n", "novel & unique & valid", sm->novel_unique_valid,
               n ? 100.0 * sm->novel_unique_valid / n : 0.0);
    if (sm->dist_ref) {
        printf("  Wasserstein distance vs %s (%ld valid vs %ld reference crystals):\n",
               sm->dist_ref, sm->n_dist_samples, sm->n_dist_ref);
        printf("    density            %.4f g/cm^3\n", sm->w_density);
        printf("    number of elements %.4f\n", sm->w_nelements);
    }
    print_properties(r);
    if (sm->reduce_failed)
        printf("  %ld crystals could not be reduced for matching (unique/novel left empty)\n",
               sm->reduce_failed);
    long nerr = 0;
    for (int64_t i = 0; i < r->ds->n; i++)
        nerr += r->rows[i].err_mask != 0;
    if (nerr)
        printf("  %ld crystals with a failure recorded in the error column of screen.csv (their "
               "other columns are filled where possible)\n", nerr);
}

/* ---------------------------------------------------------------- --explain ---- */

static const char *flag_word(int v) { return v < 0 ? "(not assessed)" : v ? "1" : "0"; }

/* Why each flag of crystal i is what it is (issue 14): the numbers behind every verdict. */
static void explain_row(const screen_run *r, int64_t i, FILE *f)
{
    const row *w = &r->rows[i];
    const xg_screen_values *v = &w->pv;
    fprintf(f, "\n%s: %s, %d atoms, %.0f element%s\n", r->ds->ids[i],
            w->formula[0] ? w->formula : "(no formula)", w->natoms, w->nelements,
            w->nelements == 1 ? " (elemental)" : "s");
    if (w->error[0])
        fprintf(f, "  error              %s\n", w->error);
    fprintf(f, "  valid_structure    %s: ", flag_word(w->valid_structure));
    if (w->valid_structure < 0)
        fprintf(f, "the distances could not be computed\n");
    else
        fprintf(f, "shortest distance %.3f A (CDVAE rule: >= %.1f A), volume %.3g A^3 (>= %.1f)\n",
                w->min_distance, XG_VALIDITY_MIN_DISTANCE, w->volume, XG_VALIDITY_MIN_VOLUME);
    fprintf(f, "  valid_geometry     %s: ", flag_word(w->valid_geometry));
    if (w->valid_geometry < 0)
        fprintf(f, "the bond ratios could not be computed\n");
    else
        fprintf(f, "smallest d / (r_i + r_j) = %.3f, %s %.2f (Cordero 2008 covalent radii)\n",
                w->min_bond_ratio, w->valid_geometry ? ">=" : "below", XG_VALIDITY_MIN_BOND_RATIO);
    fprintf(f, "  valid_composition  %s: %s\n", flag_word(w->valid_composition),
            w->valid_composition < 0 ? "the charge balance could not be computed"
            : w->valid_composition   ? "charge-balanced with common oxidation states, or "
                                       "elemental / all-metal (SMACT rule)"
                                     : "no assignment of common oxidation states is neutral "
                                       "with cations less electronegative than anions");
    if (w->spacegroup > 0)
        fprintf(f, "  spacegroup         %d (spglib)\n", w->spacegroup);
    fprintf(f, "  unique             %s: ", flag_word(w->unique));
    if (w->unique < 0)
        fprintf(f, "not compared (see error)\n");
    else if (w->dup_of >= 0)
        fprintf(f, "matches %s, earlier in the inputs\n", r->ds->ids[w->dup_of]);
    else
        fprintf(f, "no earlier crystal of the inputs matches it\n");
    fprintf(f, "  novel              %s: ", flag_word(val_novel(r, i)));
    if (!r->have_refs)
        fprintf(f, "no reference set\n");
    else if (w->novel < 0)
        fprintf(f, "not compared (see error)\n");
    else if (w->matched >= 0)
        fprintf(f, "matches reference %s\n", xg_novelty_index_id(r->ix, w->matched));
    else
        fprintf(f, "no reference crystal of the same reduced formula and site count matches\n");
    if (has_models(r)) {
        fprintf(f, "  in_domain          %s: %s\n", flag_word(v->in_domain),
                v->in_domain == 1   ? "inside every loaded model's training domain"
                : v->in_domain == 0 ? v->domain_why
                                    : "the models carry no training domain");
        for (int k = 0; k < XG_SCREEN_NTARGETS; k++)
            if (has_model(r, k) && isfinite(v->pred[k]))
                fprintf(f, "  %-18s %.4g%s\n", xg_screen_props_target(k), v->pred[k],
                        v->clipped[k] ? " (the model predicted below 0: clipped to 0)" : "");
    }
    if (has_hull(r)) {
        int st = val_stable(r, i);
        fprintf(f, "  stable             %s: ", flag_word(st));
        if (!isfinite(v->e_hull))
            fprintf(f, "no e_hull_pred\n");
        else if (v->in_domain == 0)
            fprintf(f, "e_hull_pred %.3f eV/atom, but outside the training domain\n", v->e_hull);
        else if (v->e_hull < r->ehull_min)
            fprintf(f, "e_hull_pred %.3f eV/atom is below --ehull-min %.2f: not believed\n",
                    v->e_hull, r->ehull_min);
        else
            fprintf(f, "e_hull_pred %.3f eV/atom %s --ehull-max %.2f (a prediction, not DFT)\n",
                    v->e_hull, st ? "<" : ">=", r->ehull_max);
    }
    if (has_sun(r)) {
        int sn = val_sun(r, i);
        const char *names[5] = {"stable", "unique", "novel", "valid_structure", "valid_geometry"};
        int fl[5] = {val_stable(r, i), val_unique(r, i), val_novel(r, i), val_vs(r, i),
                     val_vg(r, i)};
        fprintf(f, "  sun                %s: ", flag_word(sn));
        if (sn == 1) {
            fprintf(f, "stable, unique, novel, valid_structure and valid_geometry\n");
        } else {
            fprintf(f, "%s", sn == 0 ? "0 for" : "not assessed for");
            for (int k = 0; k < 5; k++)
                if (fl[k] == (sn == 0 ? 0 : -1))
                    fprintf(f, " %s", names[k]);
            fputc('\n', f);
        }
    }
}

/* ---------------------------------------------------------------- the command ---- */

/* Reads and concatenates several inputs into one dataset, tolerantly: a file of a folder that
 * cannot be parsed keeps a row (a placeholder with no atoms) and its message in (*readerr)[i]
 * (NULL where the crystal was read; free the strings and the array). */
static int read_inputs(const char *const *paths, int n, xg_dataset **out, char ***readerr)
{
    xg_error err = {0};
    xg_dataset *all = NULL;
    char **msgs = NULL;
    int64_t nmsgs = 0;
    for (int k = 0; k < n; k++) {
        xg_dataset *ds = NULL;
        xg_input_failure *fails = NULL;
        int64_t nfails = 0;
        if (xg_input_read_tolerant(paths[k], NULL, NULL, &ds, &fails, &nfails, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto fail;
        }
        int64_t base = all ? all->n : 0;
        if (!all) {
            all = ds;
            ds = NULL;
        } else {
            for (int64_t i = 0; i < ds->n; i++) {
                xg_structure *s = xg_dataset_get(ds, i, &err);
                if (!s || xg_dataset_append(all, s, NULL, &err)) {
                    xg_cli_errorf(CMD, "%s: %s", paths[k], err.msg);
                    xg_structure_free(s);
                    xg_dataset_free(ds);
                    free(fails);
                    goto fail;
                }
                xg_structure_free(s);
            }
            xg_dataset_free(ds);
        }
        char **grown = realloc(msgs, (size_t)(all->n ? all->n : 1) * sizeof *msgs);
        if (!grown) {
            free(fails);
            xg_cli_errorf(CMD, "out of memory");
            goto fail;
        }
        msgs = grown;
        for (int64_t i = nmsgs; i < all->n; i++)
            msgs[i] = NULL;
        nmsgs = all->n;
        for (int64_t f = 0; f < nfails; f++)
            msgs[base + fails[f].index] = strdup(fails[f].msg);
        free(fails);
    }
    *out = all;
    *readerr = msgs;
    return 0;
fail:
    for (int64_t i = 0; i < nmsgs; i++)
        free(msgs[i]);
    free(msgs);
    xg_dataset_free(all);
    return -1;
}

static void analyse_one(const xg_dataset *ds, int64_t i, const char *readerr, double symprec,
                        const xg_matcher_params *mp, row *r, xg_structure **reduced)
{
    xg_error err = {0};
    memset(r, 0, sizeof *r);
    r->valid_structure = r->valid_composition = r->valid_geometry = r->unique = r->novel = -1;
    r->min_bond_ratio = r->min_distance = r->volume = NAN;
    r->dup_of = r->matched = -1;
    r->density = r->nelements = NAN;
    for (int k = 0; k < XG_SCREEN_NTARGETS; k++)
        r->pv.pred[k] = NAN;
    r->pv.e_hull = r->pv.hhi = r->pv.ewald = NAN;
    r->pv.in_domain = -1;
    *reduced = NULL;
    if (readerr) {
        row_error(r, ERR_READ, "unreadable: %s", readerr);
        return;
    }
    xg_structure *s = xg_dataset_get(ds, i, &err);
    if (!s) {
        row_error(r, ERR_READ, "%s", err.msg);
        return;
    }
    r->natoms = s->natoms;
    if (xg_structure_reduced_formula(s, r->formula, sizeof r->formula))
        r->formula[0] = '\0';
    xg_validity v;
    if (xg_validity_check(s, &v, &err) == XG_OK) {
        r->valid_structure = v.valid_structure;
        r->valid_composition = v.valid_composition;
        r->valid_geometry = v.valid_geometry;
        r->min_bond_ratio = v.min_bond_ratio;
        r->min_distance = v.min_distance;
        r->volume = v.volume;
    } else if (v.volume > 0) { /* the geometry was judged; the charge balance failed */
        r->valid_structure = v.valid_structure;
        r->valid_geometry = v.valid_geometry;
        r->min_bond_ratio = v.min_bond_ratio;
        r->min_distance = v.min_distance;
        r->volume = v.volume;
        row_error(r, ERR_VALIDITY, "composition not assessed: %s", err.msg);
    } else {
        row_error(r, ERR_VALIDITY, "validity not assessed: %s", err.msg);
    }
    if (r->valid_structure == 1 &&
        xg_symmetry_spacegroup(s, symprec, &r->spacegroup, NULL, &err) != XG_OK) {
        r->spacegroup = 0;
        row_error(r, ERR_SPGLIB, "spglib: %s", err.msg);
    }
    r->density = xg_structure_density(s);
    r->nelements = xg_structure_nelements(s);
    xg_screen_props_intrinsic(s, &r->pv);
    if (s->natoms > 0 && xg_matcher_reduce(s, mp, reduced, &err) != XG_OK) {
        *reduced = NULL;
        row_error(r, ERR_MATCHER, "unique/novel not assessed: %s", err.msg);
    }
    xg_structure_free(s);
}

/* ---------------------------------------------------------------- several ranks ---- */

/* One record per crystal of a rank: its index, its row, and its reduced cell when it has one.
 * Raw bytes: every rank runs the same binary. */
typedef struct {
    int64_t index;
    row r;
    int32_t has_cell, natoms;
    double lattice[9];
    char id[XG_ID_LEN];
} cell_head;

static size_t record_size(const xg_structure *c)
{
    return sizeof(cell_head) + (c ? (size_t)c->natoms * (sizeof(int32_t) + 3 * sizeof(double)) : 0);
}

/* Ranks other than 0 send the rows and reduced cells of their crystals (i = rank mod R) to
 * rank 0, which puts them in place: afterwards rank 0 holds what one process would have. */
static int gather_results(xg_mpi *mpi, const xg_dataset *ds, row *rows, xg_structure **red,
                          xg_error *err)
{
    size_t bytes = 0;
    for (int64_t i = mpi->rank; i < ds->n; i += mpi->size)
        bytes += mpi->rank ? record_size(red[i]) : 0;
    unsigned char *buf = malloc(bytes ? bytes : 1), *p = buf;
    if (!buf)
        return xg_error_set(err, XG_ENOMEM, "out of memory (%zu bytes)", bytes);
    for (int64_t i = mpi->rank; mpi->rank && i < ds->n; i += mpi->size) {
        cell_head h;
        memset(&h, 0, sizeof h);
        h.index = i;
        h.r = rows[i];
        const xg_structure *c = red[i];
        if (c) {
            h.has_cell = 1;
            h.natoms = c->natoms;
            memcpy(h.lattice, c->lattice, sizeof h.lattice);
            memcpy(h.id, c->id, sizeof h.id);
        }
        memcpy(p, &h, sizeof h);
        p += sizeof h;
        for (int a = 0; c && a < c->natoms; a++) {
            int32_t z = c->types[a];
            memcpy(p, &z, sizeof z);
            p += sizeof z;
        }
        if (c) {
            memcpy(p, c->frac, (size_t)c->natoms * 3 * sizeof(double));
            p += (size_t)c->natoms * 3 * sizeof(double);
        }
    }
    void *all = NULL;
    size_t *counts = calloc((size_t)mpi->size, sizeof *counts);
    int rc = counts ? xg_mpi_gather_bytes(mpi, buf, bytes, &all, counts, err)
                    : xg_error_set(err, XG_ENOMEM, "out of memory");
    free(buf);
    if (rc || mpi->rank != 0) {
        free(counts);
        free(all);
        return rc;
    }
    size_t total = 0;
    for (int r = 0; r < mpi->size; r++)
        total += counts[r];
    free(counts);
    const unsigned char *q = all, *end = q + total;
    while (q < end && !rc) {
        cell_head h;
        if ((size_t)(end - q) < sizeof h) {
            rc = xg_error_set(err, XG_EINVAL, "a truncated record from another rank");
            break;
        }
        memcpy(&h, q, sizeof h);
        q += sizeof h;
        size_t need = h.has_cell ? (size_t)h.natoms * (sizeof(int32_t) + 3 * sizeof(double)) : 0;
        if (h.index < 0 || h.index >= ds->n || h.natoms < 0 || (size_t)(end - q) < need) {
            rc = xg_error_set(err, XG_EINVAL, "a malformed record from another rank");
            break;
        }
        rows[h.index] = h.r;
        if (!h.has_cell)
            continue;
        xg_structure *c = xg_structure_alloc(h.natoms);
        if (!c) {
            rc = xg_error_set(err, XG_ENOMEM, "out of memory for a reduced cell");
            break;
        }
        memcpy(c->lattice, h.lattice, sizeof h.lattice);
        memcpy(c->id, h.id, sizeof c->id);
        for (int a = 0; a < h.natoms; a++) {
            int32_t z;
            memcpy(&z, q, sizeof z);
            q += sizeof z;
            c->types[a] = z;
        }
        memcpy(c->frac, q, (size_t)h.natoms * 3 * sizeof(double));
        q += (size_t)h.natoms * 3 * sizeof(double);
        xg_structure_free(red[h.index]);
        red[h.index] = c;
    }
    free(all);
    return rc;
}

/* The run report (src/report.h) next to the results: about the generate folder when the one
 * input is one, else about the crystals of the inputs. A report that cannot be written is a
 * warning: the screen's own results are already safe on disk. */
static void write_report(const char *const *inputs, int ninputs, const char *outdir, int quiet)
{
    char page[4200], probe[4200];
    snprintf(page, sizeof page, "%s/report.html", outdir);
    snprintf(probe, sizeof probe, "%s/generated.h5", ninputs == 1 ? inputs[0] : "");
    xg_report_options o = {.run_dir = ninputs == 1 && access(probe, R_OK) == 0 ? inputs[0] : NULL,
                           .screen_dir = outdir, .output = page, .top = 20};
    xg_report_stats st;
    xg_error err = {0};
    if (xg_report_write(&o, &st, &err))
        xg_cli_errorf(CMD, "warning: report not written: %s", err.msg);
    else if (!quiet)
        printf("  report: %s (%.0f kB)\n", page, st.bytes / 1024.0);
}

static int run(int argc, char **argv)
{
    screen_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, sizeof A, &args, -1))
        return XG_EXIT_USAGE;
    if (!xg_opts_given(OPTS, &args, "--ehull-min"))
        A.ehull_min = XG_SCREEN_EHULL_IMPLAUSIBLE; /* the default lives with the verdict code */
    if (args.npos > MAX_PATHS) {
        xg_cli_errorf(CMD, "at most %d inputs", MAX_PATHS);
        return XG_EXIT_USAGE;
    }
    const char **inputs = (const char **)args.pos, **refs = A.refs, **models = A.models;
    const char *dist_ref = A.dist_ref, *outdir = A.outdir, *hull_path = A.hull_path;
    const char *explain = A.explain, *mlip_hull = A.mlip_hull;
    int ninputs = args.npos, nrefs = A.nrefs, nmodels = A.nmodels, quiet = A.quiet;
    int no_default_ref = A.no_default_ref, report = !A.no_report, relax = A.relax;
    int overwrite = A.overwrite;
    xg_screen_relax_row *rx = NULL;
    double symprec = A.symprec, ehull_max = A.ehull_max, ehull_min = A.ehull_min;
    if (!ninputs) {
        xg_cli_errorf(CMD, "no INPUT given (see xtalgen help screen)");
        return XG_EXIT_USAGE;
    }
    /* The shipped references come first, so novelty means "not in MP-20 nor a well-known
     * elemental structure" out of the box (fcc Fe is not in MP-20); --reference adds sets
     * after them. */
    static char default_ref[2][4096];
    static const char *const default_names[2] = {XG_SCREEN_REFERENCE_FILE,
                                                 XG_SCREEN_REFERENCE_EXTRA_FILE};
    for (int d = 0, at = 0; !no_default_ref && d < 2; d++) {
        xg_error e2 = {0};
        if (nrefs == MAX_PATHS) {
            xg_cli_errorf(CMD, "at most %d references besides the shipped ones", MAX_PATHS - 2);
            return XG_EXIT_USAGE;
        }
        if (xg_screen_data_path(default_names[d], default_ref[d], sizeof default_ref[d],
                                &e2) == XG_OK) {
            memmove(refs + at + 1, refs + at, (size_t)(nrefs - at) * sizeof refs[0]);
            refs[at++] = default_ref[d];
            nrefs++;
        } else {
            xg_cli_errorf(CMD, "note: %s; novelty without it", e2.msg);
        }
    }
    double t0 = xg_now();
    xg_error err = {0};
    int status = XG_EXIT_FAIL;
    xg_dataset *ds = NULL, *dref = NULL;
    xg_dataset *refds[MAX_PATHS] = {0};
    xg_novelty_index *ix = NULL;
    xg_structure **red = NULL;
    xg_screen_props *props = NULL;
    xg_screen_values *pvals = NULL;
    int64_t *pidx = NULL;
    row *rows = NULL;
    double *dens = NULL, *nel = NULL, *rd = NULL, *rn = NULL;
    char **readerr = NULL;
    /* Joined after the command line was checked: usage errors exit alike on every rank. */
    xg_mpi mpi;
    if (xg_mpi_init(&mpi, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    const int R = mpi.size, me = mpi.rank;
    if (me != 0)
        quiet = 1; /* rank 0 speaks for the job */
    /* The output folder is this screen's alone while it runs (issue 19): rank 0 locks it before
     * the long work, and refuses an input, or an earlier screen's results without --overwrite
     * (the DFT export after the magnet example once replaced its screen.csv). */
    xg_outdir od = {.lock_fd = -1, .manifest_fd = -1};
    int64_t od_fail = 0;
    if (me == 0) {
        if (xg_cli_check_output(CMD, "-o", outdir, inputs, ninputs)) {
            od_fail = 2;
        } else if (xg_outdir_open(&od, outdir, "screen",
                                  overwrite ? XG_OUTDIR_OVERWRITE : XG_OUTDIR_NEW, &err) ||
                   xg_outdir_record(&od, "screen.csv", &err) ||
                   xg_outdir_record(&od, "summary.json", &err) ||
                   xg_outdir_record(&od, "report.html", &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            od_fail = 1;
        }
    }
    if (R > 1 && xg_mpi_max_i64(&mpi, &od_fail, 1, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        od_fail = 1;
    }
    if (od_fail) {
        status = od_fail == 2 ? XG_EXIT_USAGE : XG_EXIT_FAIL;
        goto out;
    }
    /* Property models and the hull first: a bad file fails before the long work. Every rank
     * loads them (each predicts its own crystals). */
    if (nmodels) {
        char note[1200];
        if (xg_screen_props_load(models, nmodels, hull_path, &props, note, sizeof note, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto out;
        }
        if (note[0] && me == 0)
            xg_cli_errorf(CMD, "%s", note);
    }
    if (me == 0 && hull_path && !(props && xg_screen_props_get_info(props)->have[XG_SCREEN_EFORM]))
        xg_cli_errorf(CMD, "--hull is used only with a formation_energy_per_atom "
                           "--property-model; ignored");
    if (read_inputs(inputs, ninputs, &ds, &readerr))
        goto out;
    double t_read = xg_now() - t0, t_phase = xg_now();
    int64_t n = ds->n;
    /* This rank's crystals: me, me + R, me + 2R, ... (all of them for one process). */
    int64_t nl = me < n ? (n - me + R - 1) / R : 0;
    rows = calloc((size_t)n, sizeof *rows);
    red = calloc((size_t)n, sizeof *red);
    int64_t *dup = malloc((size_t)n * sizeof *dup);
    int *novel = malloc((size_t)(nl ? nl : 1) * sizeof *novel);
    int64_t *matched = malloc((size_t)(nl ? nl : 1) * sizeof *matched);
    xg_structure **mine = malloc((size_t)(nl ? nl : 1) * sizeof *mine);
    if (!rows || !red || !dup || !novel || !matched || !mine) {
        free(dup), free(novel), free(matched), free(mine);
        xg_cli_errorf(CMD, "out of memory for %lld crystals", (long long)n);
        goto out;
    }
    xg_matcher_params mp;
    xg_matcher_default_params(&mp);

    /* 1. Per-crystal checks and reduced cells, in parallel chunks (progress between chunks). */
    xg_progress pg;
    xg_progress_start(&pg, "screen: checking", (long)nl, quiet);
    for (int64_t c0 = 0; c0 < nl; c0 += CHUNK) {
        int64_t c1 = c0 + CHUNK < nl ? c0 + CHUNK : nl;
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t k = c0; k < c1; k++) {
            int64_t i = me + k * R;
            analyse_one(ds, i, readerr[i], symprec, &mp, &rows[i], &red[i]);
        }
        xg_progress_update(&pg, (long)c1);
    }
    xg_progress_finish(&pg);
    for (int64_t k = 0; k < nl; k++)
        mine[k] = red[me + k * R];
    double t_checks = xg_now() - t_phase;
    t_phase = xg_now();

    /* 1b. Property predictions and hull energies of this rank's crystals (batched and parallel
     * inside the models; a crystal's values depend on nothing else, so sharding changes none).
     * They travel to rank 0 inside the rows. */
    double t_props = 0;
    if (props) {
        pidx = malloc((size_t)(nl ? nl : 1) * sizeof *pidx);
        pvals = malloc((size_t)(nl ? nl : 1) * sizeof *pvals);
        if (!pidx || !pvals) {
            xg_cli_errorf(CMD, "out of memory for %lld predictions", (long long)nl);
            free(dup), free(novel), free(matched), free(mine);
            goto out;
        }
        for (int64_t k = 0; k < nl; k++)
            pidx[k] = me + k * R;
        if (!quiet)
            fprintf(stderr, "xtalgen screen: predicting properties of %lld crystals\n",
                    (long long)nl);
        if (xg_screen_props_predict(props, ds, pidx, nl, pvals, &err)) {
            xg_cli_errorf(CMD, "property predictions: %s", err.msg);
            free(dup), free(novel), free(matched), free(mine);
            goto out;
        }
        for (int64_t k = 0; k < nl; k++) {
            row *rw = &rows[pidx[k]];
            /* everything the model stage writes; hhi and ewald came from analyse_one */
            double hhi = rw->pv.hhi, ewald = rw->pv.ewald;
            rw->pv = pvals[k];
            rw->pv.hhi = hhi;
            rw->pv.ewald = ewald;
            for (int t = 0; t < XG_SCREEN_NTARGETS; t++)
                if (rw->pv.failed[t] && rw->natoms > 0)
                    row_error(rw, ERR_MODEL, "%s model cannot take this crystal (more than "
                              "%d atoms, Z > 100, or a flat cell)", xg_screen_props_target(t),
                              XG_PROPMODEL_MAX_ATOMS);
        }
        t_props = xg_now() - t_phase;
        t_phase = xg_now();
    }

    /* 2. Novelty of this rank's crystals against the references (each rank reads them once;
     * reading included). A candidate's verdict depends on nothing but itself and the references,
     * so splitting the candidates changes no result. */
    summary sm = {inputs, ninputs, refs, nrefs, dist_ref, NAN, NAN, 0, 0, 0, 0, 0, 0, 0, 0,
                  t_read, t_checks, 0, 0, t_props};
    if (nrefs) {
        if (xg_novelty_index_create(&mp, &ix, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            free(dup), free(novel), free(matched), free(mine);
            goto out;
        }
        for (int k = 0; k < nrefs; k++) {
            if (xg_input_read(refs[k], &refds[k], &err) ||
                xg_novelty_index_add(ix, refds[k], &err)) {
                xg_cli_errorf(CMD, "reference %s: %s", refs[k], err.msg);
                free(dup), free(novel), free(matched), free(mine);
                goto out;
            }
        }
        sm.refs_total = (long)xg_novelty_index_size(ix);
        xg_progress_start(&pg, "screen: novelty", (long)nl, quiet);
        for (int64_t c0 = 0; c0 < nl; c0 += 4 * CHUNK) {
            int64_t c1 = c0 + 4 * CHUNK < nl ? c0 + 4 * CHUNK : nl;
            if (xg_novelty_check(ix, mine + c0, c1 - c0, novel + c0, matched + c0, &err)) {
                xg_cli_errorf(CMD, "novelty: %s", err.msg);
                free(dup), free(novel), free(matched), free(mine);
                goto out;
            }
            xg_progress_update(&pg, (long)c1);
        }
        xg_progress_finish(&pg);
        for (int64_t k = 0; k < nl; k++) {
            int64_t i = me + k * R;
            rows[i].novel = red[i] ? novel[k] : -1;
            rows[i].matched = matched[k];
            if (red[i] && novel[k] < 0)
                row_error(&rows[i], ERR_MATCHER, "novel not assessed: the matcher's lattice "
                          "search exceeds its bound against a reference of this formula "
                          "(an extreme cell shape)");
        }
    }
    free(novel), free(matched), free(mine);
    sm.t_novelty = xg_now() - t_phase;
    t_phase = xg_now();

    /* 3. Several ranks: rank 0 collects every row and reduced cell; the others are done. */
    if (R > 1) {
        int grc = gather_results(&mpi, ds, rows, red, &err);
        if (grc) {
            xg_cli_errorf(CMD, "collecting the ranks' results: %s", err.msg);
            free(dup);
            goto out;
        }
        if (me != 0) {
            free(dup);
            status = XG_EXIT_OK;
            goto out;
        }
    }

    /* 4. Uniqueness within the inputs: needs every candidate, so one process does it. */
    if (xg_novelty_unique(red, n, &mp, dup, &err)) {
        xg_cli_errorf(CMD, "uniqueness: %s", err.msg);
        free(dup);
        goto out;
    }
    for (int64_t i = 0; i < n; i++) {
        int undecided = red[i] && dup[i] == XG_NOVELTY_NOT_ASSESSED;
        rows[i].dup_of = red[i] && dup[i] >= 0 ? dup[i] : -1;
        rows[i].unique = !red[i] || undecided ? -1 : dup[i] < 0;
        if (undecided)
            row_error(&rows[i], ERR_MATCHER, "unique not assessed: the matcher's lattice search "
                      "exceeds its bound against a crystal of this formula (an extreme cell "
                      "shape)");
    }
    free(dup);
    sm.t_unique = xg_now() - t_phase;

    /* 5. Distribution metrics over the crystals valid in both senses, as CDVAE computes them. */
    if (dist_ref) {
        if (xg_input_read(dist_ref, &dref, &err)) {
            xg_cli_errorf(CMD, "distribution reference %s: %s", dist_ref, err.msg);
            goto out;
        }
        dens = malloc((size_t)(n ? n : 1) * sizeof *dens);
        nel = malloc((size_t)(n ? n : 1) * sizeof *nel);
        rd = malloc((size_t)(dref->n ? dref->n : 1) * sizeof *rd);
        rn = malloc((size_t)(dref->n ? dref->n : 1) * sizeof *rn);
        if (!dens || !nel || !rd || !rn) {
            xg_cli_errorf(CMD, "out of memory");
            goto out;
        }
        if (xg_metrics_collect(dref, rd, rn, &err)) {
            xg_cli_errorf(CMD, "distribution reference %s: %s", dist_ref, err.msg);
            goto out;
        }
        long m = 0;
        for (int64_t i = 0; i < n; i++)
            if (rows[i].valid_structure == 1 && rows[i].valid_composition == 1 &&
                isfinite(rows[i].density)) {
                dens[m] = rows[i].density;
                nel[m] = rows[i].nelements;
                m++;
            }
        sm.n_dist_samples = m;
        sm.n_dist_ref = (long)dref->n;
        if (m == 0) {
            xg_cli_errorf(CMD, "no valid crystal to compare distributions with; Wasserstein "
                               "distances left empty");
        } else if (xg_metrics_wasserstein(dens, (size_t)m, rd, (size_t)dref->n, &sm.w_density,
                                          &err) ||
                   xg_metrics_wasserstein(nel, (size_t)m, rn, (size_t)dref->n, &sm.w_nelements,
                                          &err)) {
            xg_cli_errorf(CMD, "distribution metrics: %s", err.msg);
            goto out;
        }
    }

    /* 5b. --relax: M3GNet relaxation and the MLIP hull (screen_relax.h). */
    if (relax) {
        xg_screen_relax_info rinfo;
        rx = calloc((size_t)(n > 0 ? n : 1), sizeof *rx);
        if (!rx || xg_screen_relax_run(ds, mlip_hull, quiet, rx, &rinfo, &err)) {
            xg_cli_errorf(CMD, "--relax: %s", rx ? err.msg : "out of memory");
            goto out;
        }
        if (!quiet)
            fprintf(stderr, "relaxed %lld crystals with %s in %.1f s: %ld converged, %ld failed; "
                    "hull %s\n", (long long)n, rinfo.model_path, rinfo.seconds,
                    rinfo.n_converged, rinfo.n_failed, rinfo.hull_path);
    }

    /* 6. Outputs. */
    screen_run run_ = {ds,        rows,      ix, nrefs > 0, xg_screen_props_get_info(props),
                       ehull_max, ehull_min, rx};
    for (int64_t i = 0; i < n; i++) {
        int valid = rows[i].valid_structure == 1 && rows[i].valid_composition == 1;
        sm.valid_both += valid;
        sm.unique_valid += valid && rows[i].unique == 1;
        sm.novel_unique_valid += valid && rows[i].unique == 1 && rows[i].novel == 1;
        sm.reduce_failed += red[i] == NULL;
    }
    flag_stat st[NCOLUMNS];
    flag_stats(&run_, st);
    sm.seconds = xg_now() - t0;
    char path[4096];
    if (xg_outdir_path(&od, "screen.csv", path, sizeof path, &err) ||
        write_csv(path, &run_, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto out;
    }
    if (xg_outdir_path(&od, "summary.json", path, sizeof path, &err) ||
        write_json(path, &run_, st, &sm, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto out;
    }
    if (!quiet)
        print_table(&run_, st, &sm);
    if (explain) {
        int64_t k = 0;
        while (k < n && strcmp(ds->ids[k], explain))
            k++;
        if (k == n) {
            xg_cli_errorf(CMD, "--explain: no crystal with id '%s' among the inputs (outputs "
                               "written)", explain);
            goto out;
        }
        explain_row(&run_, k, stdout);
    }
    if (report)
        write_report(inputs, ninputs, outdir, quiet);
    status = XG_EXIT_OK;
out:
    xg_outdir_close(&od);
    if (red)
        for (int64_t i = 0; ds && i < ds->n; i++)
            xg_structure_free(red[i]);
    free(red);
    free(rows);
    free(rx);
    free(pidx);
    free(pvals);
    xg_screen_props_free(props);
    free(dens), free(nel), free(rd), free(rn);
    xg_novelty_index_free(ix);
    for (int k = 0; k < nrefs; k++)
        xg_dataset_free(refds[k]);
    xg_dataset_free(dref);
    for (int64_t i = 0; readerr && ds && i < ds->n; i++)
        free(readerr[i]);
    free(readerr);
    xg_dataset_free(ds);
    return xg_mpi_finalize(&mpi, status);
}

const xg_command xg_command_screen = {
    "screen", run, "validity, symmetry, uniqueness, novelty and distribution metrics", usage};
