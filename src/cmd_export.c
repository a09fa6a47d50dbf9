/* cmd_export.c: `xtalgen export`: hand the crystals that survived screening to DFT: CIF (P1 or
 * symmetrized) and POSCAR files, selected by the flags of a screen.csv. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_csv.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_extxyz.h"
#include "crystal/xg_input.h"
#include "crystal/xg_poscar.h"
#include "crystal/xg_symmetry.h"
#include "src/cli.h"
#include "src/commands.h"

#define CMD "export"
#define MAX_FLAGS 8

static const char usage[] =
    "usage: xtalgen export INPUT -o DIR [--format cif,poscar,extxyz] [--only FLAGS]\n"
    "                      [--screen SCREEN.csv] [--symmetrize] [--symprec S] [--quiet]\n"
    "\n"
    "Writes the crystals of INPUT for DFT workflows: DIR/<id>.cif (P1, or symmetrized with\n"
    "--symmetrize: space group, symmetry operations and asymmetric unit from spglib),\n"
    "DIR/<id>/POSCAR (VASP 5, one folder per calculation) and DIR/exported.extxyz.\n"
    "INPUT is a `generate` output folder (its generated.h5 is read) or any crystal input.\n"
    "\n"
    "  --only FLAGS      keep only crystals whose screen.csv row has every flag set; FLAGS is a\n"
    "                    comma list of valid (structure and composition), valid_structure,\n"
    "                    valid_composition, valid_geometry, unique, novel, stable, sun,\n"
    "                    in_domain\n"
    "  --screen FILE     the screen.csv to filter with (default: INPUT/screen/screen.csv, then\n"
    "                    INPUT/screen_out/screen.csv, then ./screen_out/screen.csv)\n"
    "  --format LIST     any of cif, poscar, extxyz (default cif,poscar)\n"
    "  --symmetrize      symmetrized CIFs (P1 otherwise)\n"
    "  --symprec S       spglib tolerance for --symmetrize (default 0.1)\n"
    "  --quiet           no progress display\n";

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

/* The ids kept by --only: reads screen.csv and returns a malloc'd 0/1 array aligned with ds,
 * or NULL with an error. A crystal missing from screen.csv is not kept. */
static unsigned char *select_ids(const xg_dataset *ds, const char *screen, char flags[][32],
                                 int nflags, xg_error *err)
{
    xg_csv_reader *r = NULL;
    if (xg_csv_open(screen, &r, err))
        return NULL;
    int cid = xg_csv_column(r, "id");
    int col[MAX_FLAGS][2];
    for (int f = 0; f < nflags; f++) {
        col[f][1] = -1;
        if (!strcmp(flags[f], "valid")) {
            col[f][0] = xg_csv_column(r, "valid_structure");
            col[f][1] = xg_csv_column(r, "valid_composition");
        } else {
            col[f][0] = xg_csv_column(r, flags[f]);
        }
        if (cid < 0 || col[f][0] < 0 || (!strcmp(flags[f], "valid") && col[f][1] < 0)) {
            xg_error_set(err, XG_EPARSE, "%s: no column '%s'%s", screen,
                         cid < 0 ? "id" : flags[f],
                         (!strcmp(flags[f], "stable") || !strcmp(flags[f], "sun"))
                             ? " (screen with --property-model to get stability)"
                             : "");
            xg_csv_close(r);
            return NULL;
        }
    }
    unsigned char *keep = calloc((size_t)(ds->n > 0 ? ds->n : 1), 1);
    if (!keep) {
        xg_csv_close(r);
        xg_error_set(err, XG_ENOMEM, "out of memory");
        return NULL;
    }
    /* screen.csv rows follow the input order; match by id to be safe against reordering. */
    int64_t next = 0;
    int got = 0;
    while (xg_csv_next(r, &got, err) == XG_OK && got) {
        const char *id = xg_csv_field(r, cid);
        int ok = 1;
        for (int f = 0; f < nflags && ok; f++)
            for (int k = 0; k < 2; k++)
                if (col[f][k] >= 0 && strcmp(xg_csv_field(r, col[f][k]), "1") != 0)
                    ok = 0;
        int64_t i = -1;
        if (next < ds->n && !strcmp(ds->ids[next], id))
            i = next;
        else
            for (int64_t j = 0; j < ds->n; j++)
                if (!strcmp(ds->ids[j], id)) {
                    i = j;
                    break;
                }
        if (i >= 0) {
            keep[i] = (unsigned char)ok;
            next = i + 1;
        }
    }
    if (err && err->code) {
        free(keep);
        keep = NULL;
    }
    xg_csv_close(r);
    return keep;
}

static int run(int argc, char **argv)
{
    const char *input = NULL, *outdir = NULL, *screen = NULL, *format = "cif,poscar",
               *only = NULL;
    int symmetrize = 0, quiet = 0;
    double symprec = 0.1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-o") || xg_cli_is(a, "--output")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)))
                return XG_EXIT_USAGE;
            outdir = v;
        } else if (xg_cli_is(a, "--format")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)))
                return XG_EXIT_USAGE;
            format = v;
        } else if (xg_cli_is(a, "--only")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)))
                return XG_EXIT_USAGE;
            only = v;
        } else if (xg_cli_is(a, "--screen")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)))
                return XG_EXIT_USAGE;
            screen = v;
        } else if (xg_cli_is(a, "--symprec")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_double(CMD, "--symprec", v, 1e-6, 1, &symprec))
                return XG_EXIT_USAGE;
        } else if (!strcmp(a, "--symmetrize")) {
            symmetrize = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            xg_cli_errorf(CMD, "unknown option '%s' (see xtalgen help export)", a);
            return XG_EXIT_USAGE;
        } else if (!input) {
            input = a;
        } else {
            xg_cli_errorf(CMD, "one INPUT only (got '%s' and '%s')", input, a);
            return XG_EXIT_USAGE;
        }
    }
    if (!input || !outdir) {
        xg_cli_errorf(CMD, "need INPUT and -o DIR (see xtalgen help export)");
        return XG_EXIT_USAGE;
    }
    int want_cif = 0, want_poscar = 0, want_xyz = 0;
    {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", format);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            if (!strcmp(tok, "cif"))
                want_cif = 1;
            else if (!strcmp(tok, "poscar") || !strcmp(tok, "vasp"))
                want_poscar = 1;
            else if (!strcmp(tok, "extxyz"))
                want_xyz = 1;
            else {
                xg_cli_errorf(CMD, "--format: unknown format '%s' (cif, poscar, extxyz)", tok);
                return XG_EXIT_USAGE;
            }
        }
    }
    char flags[MAX_FLAGS][32];
    int nflags = 0;
    if (only) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", only);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            static const char *known[] = {"valid", "valid_structure", "valid_composition",
                                          "unique", "novel", "stable", "sun",
                                          "valid_geometry", "in_domain"};
            int ok = 0;
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
                ok |= !strcmp(tok, known[k]);
            if (!ok || nflags == MAX_FLAGS) {
                xg_cli_errorf(CMD, "--only: unknown flag '%s'", tok);
                return XG_EXIT_USAGE;
            }
            snprintf(flags[nflags++], 32, "%s", tok);
        }
    }

    /* A generate output folder is read through its dataset; anything else as crystal input. */
    char path[4200], scr[4200];
    const char *src = input;
    if (is_dir(input)) {
        snprintf(path, sizeof path, "%s/generated.h5", input);
        if (file_exists(path))
            src = path;
    }
    if (nflags && !screen) {
        const char *cands[] = {"%s/screen/screen.csv", "%s/screen_out/screen.csv", NULL};
        for (int k = 0; cands[k] && !screen; k++) {
            snprintf(scr, sizeof scr, cands[k], input);
            if (file_exists(scr))
                screen = scr;
        }
        if (!screen && file_exists("screen_out/screen.csv"))
            screen = "screen_out/screen.csv";
        if (!screen) {
            xg_cli_errorf(CMD, "--only needs a screen.csv: run `xtalgen screen %s -o %s/screen` "
                               "first or pass --screen FILE", input, input);
            return XG_EXIT_USAGE;
        }
    }
    xg_error err = {0};
    xg_dataset *ds = NULL;
    if (xg_input_read(src, &ds, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    int rc = XG_EXIT_FAIL;
    unsigned char *keep = NULL;
    FILE *xyz = NULL;
    xg_atomic_file xa = {0};
    if (nflags && !(keep = select_ids(ds, screen, flags, nflags, &err))) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if (xg_mkdir_p(outdir, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if (want_xyz) {
        snprintf(path, sizeof path, "%s/exported.extxyz", outdir);
        if (xg_atomic_open(&xa, path, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        xyz = xa.f;
    }
    xg_progress bar;
    xg_progress_start(&bar, "export", (long)ds->n, quiet);
    long written = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        if (keep && !keep[i])
            continue;
        xg_structure *s = xg_dataset_get(ds, i, &err);
        if (!s) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        char id[XG_ID_LEN + 8];
        /* ids become file names: keep them to a safe alphabet */
        snprintf(id, sizeof id, "%s", s->id[0] ? s->id : "crystal");
        for (char *c = id; *c; c++)
            if (!(*c == '-' || *c == '_' || *c == '.' || (*c >= '0' && *c <= '9') ||
                  (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
                *c = '_';
        if (id[0] == '.')
            id[0] = '_';
        int bad = 0;
        if (want_cif) {
            snprintf(path, sizeof path, "%s/%s.cif", outdir, id);
            if (symmetrize) {
                xg_atomic_file af;
                bad = xg_atomic_open(&af, path, &err) ||
                      xg_symmetry_write_cif(af.f, s, symprec, &err);
                if (bad && af.f)
                    xg_atomic_abort(&af);
                else if (!bad)
                    bad = xg_atomic_commit(&af, &err);
            } else {
                bad = xg_cif_write_file(path, s, &err);
            }
        }
        if (!bad && want_poscar) {
            snprintf(path, sizeof path, "%s/%s", outdir, id);
            bad = xg_mkdir_p(path, &err);
            snprintf(path, sizeof path, "%s/%s/POSCAR", outdir, id);
            if (!bad)
                bad = xg_poscar_write_file(path, s, &err);
        }
        if (!bad && xyz)
            bad = xg_extxyz_write(xyz, s, &err);
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
        fprintf(stderr, "xtalgen export: %ld of %lld crystals written to %s\n", written,
                (long long)ds->n, outdir);
    rc = XG_EXIT_OK;
done:
    if (xyz)
        xg_atomic_abort(&xa);
    free(keep);
    xg_dataset_free(ds);
    return rc;
}

const xg_command xg_command_export = {"export", run,
                                      "write screened crystals as CIF/POSCAR for DFT", usage};
