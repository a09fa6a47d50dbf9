/* cmd_export.c: `xtalgen export`: hand the crystals that survived screening to DFT: CIF (P1 or
 * symmetrized), POSCAR, complete VASP folders, Quantum ESPRESSO pw.x inputs and extxyz, all of
 * one geometry in one cell per crystal, selected by the flags of a screen.csv, each file
 * carrying the provenance of the run that made the crystal. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_dft.h"
#include "crystal/xg_extxyz.h"
#include "crystal/xg_input.h"
#include "crystal/xg_poscar.h"
#include "crystal/xg_provenance.h"
#include "crystal/xg_symmetry.h"
#include "src/cli.h"
#include "src/outdir.h"
#include "src/commands.h"
#include "src/screen_select.h"

#define CMD "export"
#define DEFAULT_PSEUDO "{El}.UPF"

static const char usage[] =
    "usage: xtalgen export INPUT -o DIR [--format cif,poscar,vasp,espresso,extxyz]\n"
    "                      [--only FLAGS] [--screen SCREEN.csv]\n"
    "                      [--cell primitive|conventional|as-is] [--symmetrize] [--symprec S]\n"
    "                      [--kppa K] [--pseudo-pattern P] [--pseudo-dir D] [--ecutwfc E]\n"
    "                      [--overwrite] [--quiet]\n"
    "\n"
    "Writes the crystals of INPUT for DFT, every file of a crystal in one cell and one geometry:\n"
    "  cif       DIR/<id>.cif (P1, or symmetrized with --symmetrize: space group, symmetry\n"
    "            operations and asymmetric unit from spglib)\n"
    "  poscar    DIR/<id>/POSCAR (VASP 5)\n"
    "  vasp      DIR/<id>/ with POSCAR, INCAR (the Materials Project's relaxation defaults:\n"
    "            ENCUT 520, EDIFF 5e-5/atom, ISMEAR -5, ISPIN 2 and MAGMOM per site when a\n"
    "            magnetic element is present, MP's +U for Co Cr Fe Mn Mo Ni V W oxides and\n"
    "            fluorides), KPOINTS (from --kppa, as pymatgen's Kpoints.automatic_density) and\n"
    "            POTCAR.spec (MP's PAW symbols; POTCARs are licensed and never written)\n"
    "  espresso  DIR/<id>/pw.in, a pw.x vc-relax input (ibrav 0, CELL_PARAMETERS angstrom,\n"
    "            ATOMIC_POSITIONS crystal, K_POINTS automatic from --kppa, nspin 2 and\n"
    "            starting_magnetization for magnetic elements)\n"
    "  extxyz    DIR/exported.extxyz\n"
    "Every cell is right-handed with a along x and b in the xy plane; POSCAR species are grouped\n"
    "in the formula's order (electronegativity, as pymatgen). INPUT is a `generate` output\n"
    "folder (its generated.h5 is read, and its provenance -- xtalgen version, model and its\n"
    "SHA-256, conditions, guidance, seed, steps, crystal index -- goes into the CIF comments,\n"
    "POSCAR titles, INCAR and pw.x inputs) or any crystal input.\n"
    "\n";

static const char usage_after[] =
    "A crystal spglib cannot standardize is written in its own cell (a warning says so); one\n"
    "with an element the Materials Project has no POTCAR for gets no VASP folder, which makes\n"
    "the exit status 1 after every other crystal is written.\n";

typedef struct {
    const char *outdir, *screen, *format, *only, *pseudo, *pseudo_dir;
    int symmetrize, quiet, cell, overwrite;
    double symprec, kppa, ecutwfc;
} export_args;

static const xg_opt OPTS[] = {
    XG_OPT_OUTPUT(export_args, outdir, "DIR", "output folder (required)"),
    XG_OPT_S("--format", NULL, export_args, format, "LIST", "cif,vasp",
             "comma list of the formats above (espresso also as qe or pw)"),
    XG_OPT_E("--cell", NULL, export_args, cell, "as-is|primitive|conventional", "primitive",
             "primitive: spglib's standardized primitive cell, the cheapest for DFT; "
             "conventional: spglib's standard conventional cell; as-is: the input's"),
    XG_OPT_F("--symmetrize", NULL, export_args, symmetrize,
             "every format gets spglib's symmetrized (idealized) geometry; with --cell as-is, "
             "the refined conventional cell. Otherwise the geometry is the input's, only the "
             "cell changes"),
    XG_OPT_D("--symprec", NULL, export_args, symprec, "S", 1e-6, 1, "0.1",
             "spglib tolerance in Angstrom"),
    XG_OPT_D("--kppa", NULL, export_args, kppa, "K", 1, 1e7, "1000",
             "k-points per reciprocal atom for KPOINTS and pw.x"),
    XG_OPT_S("--pseudo-pattern", NULL, export_args, pseudo, "P", DEFAULT_PSEUDO,
             "pw.x pseudopotential file names, {El} for the element (e.g. "
             "'{El}.pbe-spn-kjpaw_psl.1.0.0.UPF')"),
    XG_OPT_S("--pseudo-dir", NULL, export_args, pseudo_dir, "D", NULL,
             "pw.x pseudo_dir (default ./pseudo)"),
    XG_OPT_D("--ecutwfc", NULL, export_args, ecutwfc, "E", 5, 1000, "60",
             "pw.x wave-function cutoff in Ry (ecutrho = 8 E)"),
    XG_OPT_SELECT(export_args, only, screen),
    XG_OPT_F("--overwrite", NULL, export_args, overwrite,
             "replace what an earlier export wrote in DIR (files it did not write make it "
             "refuse)"),
    XG_OPT_QUIET(export_args, quiet),
    XG_OPT_TABLE_END};

const xg_command_options xg_options_export = {OPTS, usage_after, NULL};

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

typedef struct {
    int cif, poscar, vasp, espresso, xyz;
} formats;

static int parse_formats(const char *list, formats *f)
{
    memset(f, 0, sizeof *f);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "cif"))
            f->cif = 1;
        else if (!strcmp(tok, "poscar"))
            f->poscar = 1;
        else if (!strcmp(tok, "vasp"))
            f->vasp = 1;
        else if (!strcmp(tok, "espresso") || !strcmp(tok, "qe") || !strcmp(tok, "pw"))
            f->espresso = 1;
        else if (!strcmp(tok, "extxyz"))
            f->xyz = 1;
        else {
            xg_cli_errorf(CMD, "--format: unknown format '%s' (cif, poscar, vasp, espresso, "
                               "extxyz)", tok);
            return -1;
        }
    }
    if (!(f->cif || f->poscar || f->vasp || f->espresso || f->xyz)) {
        xg_cli_errorf(CMD, "--format: no format given");
        return -1;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    export_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, sizeof A, &args, -1))
        return XG_EXIT_USAGE;
    if (args.npos > 1) {
        xg_cli_errorf(CMD, "one INPUT only (got '%s' and '%s')", args.pos[0], args.pos[1]);
        return XG_EXIT_USAGE;
    }
    const char *input = args.npos ? args.pos[0] : NULL, *outdir = A.outdir, *screen = A.screen;
    const char *format = A.format, *only = A.only, *pseudo = A.pseudo;
    const char *pseudo_dir = A.pseudo_dir;
    int symmetrize = A.symmetrize, quiet = A.quiet, cell = A.cell, overwrite = A.overwrite;
    double symprec = A.symprec, kppa = A.kppa, ecutwfc = A.ecutwfc;
    if (!strstr(pseudo, "{El}") && !strstr(pseudo, "{el}")) {
        xg_cli_errorf(CMD, "--pseudo-pattern '%s' has no {El} (or {el}) for the element", pseudo);
        return XG_EXIT_USAGE;
    }
    if (!input || !outdir) {
        xg_cli_errorf(CMD, "need INPUT and -o DIR (see xtalgen help export)");
        return XG_EXIT_USAGE;
    }
    formats fm;
    if (parse_formats(format, &fm))
        return XG_EXIT_USAGE;
    xg_error err = {0};
    if (only && xg_select_check_flags(only, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_USAGE;
    }

    /* A generate output folder is read through its dataset; anything else as crystal input. */
    char path[4600], scr[4200];
    const char *src = input;
    if (is_dir(input)) {
        snprintf(path, sizeof path, "%s/generated.h5", input);
        if (file_exists(path))
            src = path;
    }
    if (only && xg_select_find_screen(input, screen, scr, sizeof scr, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_USAGE;
    }
    xg_dataset *ds = NULL;
    if (xg_input_read(src, &ds, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    int rc = XG_EXIT_FAIL;
    unsigned char *keep = NULL;
    FILE *xyz = NULL;
    xg_atomic_file xa = {0};
    xg_provenance prov;
    xg_outdir od = {.lock_fd = -1, .manifest_fd = -1};
    char **names = NULL;
    int have_prov = xg_provenance_from_dataset(ds, &prov);
    int tcol = xg_dataset_find_property(ds, "template_spacegroup");
    if (only && !(keep = xg_select_by_flags(ds, scr, only, &err))) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    /* The folder is this export's alone while it writes; an earlier export's files are replaced
     * only with --overwrite, and a user's own files never (issue 19). */
    if (xg_outdir_open(&od, outdir, "export", overwrite ? XG_OUTDIR_OVERWRITE : XG_OUTDIR_NEW,
                       &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    /* collision-free names, renames reported (issue 19: a duplicate id once overwrote the first
     * crystal while export said "2 of 2 written") */
    if (xg_outdir_unique_names(ds, keep, "cif", "export", quiet, &names, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if (fm.xyz) {
        if (xg_outdir_record(&od, "exported.extxyz", &err) ||
            xg_outdir_path(&od, "exported.extxyz", path, sizeof path, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        if (xg_atomic_open(&xa, path, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        xyz = xa.f;
    }
    xg_progress bar;
    xg_progress_start(&bar, "export", (long)ds->n, quiet);
    long written = 0, as_is = 0, no_vasp = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        if (keep && !keep[i])
            continue;
        xg_structure *s = xg_dataset_get(ds, i, &err);
        if (!s) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        const char *id = names[i];

        /* The one cell and geometry every file of this crystal describes. */
        xg_structure *w = NULL;
        xg_error serr = {0};
        const char *cell_used = xg_cell_choice_name(cell);
        int sym_used = symmetrize;
        if (xg_symmetry_dft_cell(s, cell, symmetrize, symprec, &w, &serr)) {
            xg_cli_errorf(CMD, "warning: %s: spglib could not give the %s cell (%s); written "
                               "in its own cell, not symmetrized", s->id, cell_used, serr.msg);
            as_is++;
            cell_used = "as-is (spglib failed)";
            sym_used = 0;
            if (xg_symmetry_dft_cell(s, XG_CELL_AS_IS, 0, symprec, &w, &err)) {
                xg_cli_errorf(CMD, "%s", err.msg);
                xg_structure_free(s);
                goto done;
            }
        }
        snprintf(w->id, sizeof w->id, "%s", s->id);

        /* Provenance: the run's record, this crystal's index, and how it was exported. */
        xg_provenance p = prov;
        p.index = xg_provenance_index_of_id(s->id);
        if (p.index < 0 && have_prov)
            p.index = (long)i;
        if (tcol >= 0 && !isnan(ds->props[i * ds->nprops + tcol]))
            snprintf(p.template_sg, sizeof p.template_sg, "%g", ds->props[i * ds->nprops + tcol]);
        char block[4096], line[2048], exp[256];
        xg_provenance_format(&p, 0, block, sizeof block);
        xg_provenance_format(&p, 1, line, sizeof line);
        snprintf(exp, sizeof exp, "cell=%s symmetrized=%s symprec=%g", cell_used,
                 sym_used ? "yes" : "no", symprec);
        size_t bl = strlen(block), ll = strlen(line);
        snprintf(block + bl, sizeof block - bl, "%sexport: %s", bl ? "\n" : "", exp);
        snprintf(line + ll, sizeof line - ll, "%s%s", ll ? " " : "", exp);

        int bad = 0;
        char cifname[XG_ID_LEN + 40];
        snprintf(cifname, sizeof cifname, "%s.cif", id);
        if (fm.cif)
            bad = xg_outdir_record(&od, cifname, &err) ||
                  xg_outdir_path(&od, cifname, path, sizeof path, &err);
        if (!bad && (fm.poscar || fm.vasp || fm.espresso))
            bad = xg_outdir_record(&od, id, &err);
        if (!bad && fm.cif) {
            if (sym_used) {
                xg_atomic_file af;
                bad = xg_atomic_open(&af, path, &err);
                if (!bad && xg_symmetry_write_cif_annotated(af.f, s, symprec, block, &serr)) {
                    /* rare: the refined cell does not close under the operations */
                    xg_atomic_abort(&af);
                    xg_cli_errorf(CMD, "warning: %s: %s; P1 CIF of the symmetrized cell written",
                                  s->id, serr.msg);
                    bad = xg_cif_write_annotated_file(path, w, block, &err);
                } else if (!bad) {
                    bad = xg_atomic_commit(&af, &err);
                }
            } else {
                bad = xg_cif_write_annotated_file(path, w, block, &err);
            }
        }
        char dir[4300];
        if (!bad)
            bad = xg_outdir_path(&od, id, dir, sizeof dir, &err);
        if (!bad && (fm.poscar || fm.vasp || fm.espresso))
            bad = xg_mkdir_p(dir, &err);
        if (!bad && fm.poscar && !fm.vasp) {
            snprintf(path, sizeof path, "%s/POSCAR", dir);
            bad = xg_poscar_write_titled_file(path, w, line, &err);
        }
        if (!bad && fm.vasp) {
            int vr = xg_dft_write_vasp_dir(dir, w, kppa, line, &serr);
            if (vr == XG_EUNSUPPORTED) {
                xg_cli_errorf(CMD, "warning: %s", serr.msg);
                no_vasp++;
            } else if (vr) {
                err = serr;
                bad = vr;
            }
        }
        if (!bad && fm.espresso) {
            xg_espresso_opts eo = {pseudo, pseudo_dir, NULL, kppa, ecutwfc, 0, line};
            snprintf(path, sizeof path, "%s/pw.in", dir);
            bad = xg_dft_write_espresso_file(path, w, &eo, &err);
        }
        if (!bad && xyz)
            bad = xg_extxyz_write(xyz, w, &err);
        xg_structure_free(w);
        xg_structure_free(s);
        if (bad) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        written++;
        xg_progress_update(&bar, (long)i + 1);
    }
    xg_progress_finish(&bar);
    if (xyz) {
        xyz = NULL;
        if (xg_atomic_commit(&xa, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
    }
    if (!quiet)
        fprintf(stderr, "xtalgen export: %ld of %lld crystals written to %s (%s cell%s)\n",
                written, (long long)ds->n, outdir, xg_cell_choice_name(cell),
                symmetrize ? ", symmetrized" : "");
    if (as_is)
        xg_cli_errorf(CMD, "warning: %ld crystals could not be standardized by spglib and were "
                           "written in their own cell", as_is);
    if (no_vasp) {
        xg_cli_errorf(CMD, "%ld crystals have no VASP folder (an element without a Materials "
                           "Project POTCAR)", no_vasp);
        rc = XG_EXIT_FAIL;
    } else {
        rc = XG_EXIT_OK;
    }
done:
    if (xyz)
        xg_atomic_abort(&xa);
    xg_outdir_close(&od);
    if (names)
        for (int64_t i = 0; i < ds->n; i++)
            free(names[i]);
    free(names);
    free(keep);
    xg_dataset_free(ds);
    return rc;
}

const xg_command xg_command_export = {"export", run,
                                      "write screened crystals as CIF, POSCAR, VASP and "
                                      "Quantum ESPRESSO inputs for DFT",
                                      usage};
