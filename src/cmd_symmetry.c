/* cmd_symmetry.c: `xtalgen symmetry`: space groups of every crystal in the inputs, through
 * spglib, in parallel over structures and printed in input order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_input.h"
#include "crystal/xg_symmetry.h"
#include "src/cli.h"
#include "src/commands.h"
#include "crystal/xg_csv.h"
#include "crystal/xg_json.h"

#define CMD "symmetry"
#define CHUNK 256

static const char usage[] =
    "usage: xtalgen symmetry [--symprec S] [--format table|csv|json] [--quiet] INPUT...\n"
    "\n"
    "Finds the space group of every crystal in the inputs with spglib. INPUT is a CIF (all\n"
    "blocks), a POSCAR, an extxyz file, an xtalgen .h5 dataset, a CDVAE-format .csv or a folder\n"
    "of CIF/POSCAR files. Results are printed in input order.\n"
    "\n"
    "";

static const char usage_after[] =
    "\n"
    "An input that cannot be read, or a file of a folder that cannot be (a disordered CIF),\n"
    "is reported on stderr with its reason and skipped; the rest is analysed. Exit status 1\n"
    "at the end when anything was skipped or spglib failed on a structure (its row then shows\n"
    "space group 0 and the reason goes to stderr).\n";

typedef struct {
    double symprec;
    int format, quiet;
} sym_args;

enum { FMT_TABLE, FMT_CSV, FMT_JSON };

static const xg_opt OPTS[] = {
    XG_OPT_D("--symprec", NULL, sym_args, symprec, "S", 1e-8, 10.0, "0.1",
             "distance tolerance in Angstrom (the Materials Project's and\n"
             "MP-20's spacegroup.number tolerance and every other command's;\n"
             "0.01 is strict)"),
    XG_OPT_E("--format", NULL, sym_args, format, "table|csv|json", "table",
             "how the results are printed on stdout: an aligned table, csv\n"
             "(header: id,formula,natoms,spacegroup_number,spacegroup_symbol)\n"
             "or json (adds Hall number, point group, operation count and\n"
             "Wyckoff letters: spglib's full analysis, slower)"),
    XG_OPT_QUIET(sym_args, quiet),
    XG_OPT_TABLE_END};

typedef struct {
    int number, hall, nops, natoms;
    char symbol[16], pointgroup[8], formula[128];
    char *wyckoffs; /* per atom, json only */
    char error[XG_ERROR_MSG_LEN];
} result;

static void analyse(const xg_dataset *ds, int64_t i, double symprec, int want_details,
                    result *r)
{
    xg_error err = {0};
    memset(r, 0, sizeof *r);
    xg_structure *s = xg_dataset_get(ds, i, &err);
    if (!s) {
        snprintf(r->error, sizeof r->error, "%s", err.msg);
        return;
    }
    r->natoms = s->natoms;
    if (xg_structure_reduced_formula(s, r->formula, sizeof r->formula) != XG_OK)
        snprintf(r->formula, sizeof r->formula, "?");
    xg_symmetry *sym = NULL;
    if (!want_details) {
        /* the space-group type alone: the fast path of xg_symmetry_spacegroup */
        if (xg_symmetry_spacegroup(s, symprec, &r->number, r->symbol, &err) != XG_OK) {
            snprintf(r->error, sizeof r->error, "%s", err.msg);
            snprintf(r->symbol, sizeof r->symbol, "?");
            r->number = 0;
        }
    } else if (xg_symmetry_analyze(s, symprec, &sym, &err) != XG_OK) {
        snprintf(r->error, sizeof r->error, "%s", err.msg);
        snprintf(r->symbol, sizeof r->symbol, "?");
    } else {
        r->number = sym->spacegroup_number;
        r->hall = sym->hall_number;
        r->nops = sym->n_operations;
        snprintf(r->symbol, sizeof r->symbol, "%s", sym->international);
        snprintf(r->pointgroup, sizeof r->pointgroup, "%s", sym->pointgroup);
        r->wyckoffs = strdup(sym->wyckoffs);
        xg_symmetry_free(sym);
    }
    xg_structure_free(s);
}

static int run(int argc, char **argv)
{
    sym_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, sizeof A, &args, -1))
        return XG_EXIT_USAGE;
    double symprec = A.symprec;
    int quiet = A.quiet, ninputs = args.npos;
    const char *const *inputs = args.pos;
    if (ninputs == 0) {
        xg_cli_errorf(CMD, "needs at least one INPUT (see xtalgen help symmetry)");
        return XG_EXIT_USAGE;
    }
    int csv = A.format == FMT_CSV, json = A.format == FMT_JSON;
    int status = XG_EXIT_OK;
    long failures = 0, printed = 0, unreadable = 0;
    if (csv)
        printf("id,formula,natoms,spacegroup_number,spacegroup_symbol\n");
    else if (json)
        printf("[");
    else
        printf("%-24s %-16s %6s %5s %s\n", "id", "formula", "natoms", "sg", "symbol");
    for (int k = 0; k < ninputs; k++) {
        xg_error err = {0};
        xg_dataset *ds = NULL;
        xg_input_options io = {NULL, NULL, xg_cli_report_skip, (void *)CMD};
        long skipped = 0;
        int rc = xg_input_read_opts(inputs[k], &io, &ds, &skipped, &err);
        unreadable += skipped;
        if (rc) {
            xg_cli_errorf(CMD, "%s", err.msg);
            if (rc == XG_ENOMEM)
                return XG_EXIT_FAIL;
            unreadable++;
            continue;
        }
        result *res = calloc((size_t)(ds->n < CHUNK ? ds->n : CHUNK), sizeof *res);
        if (!res) {
            xg_cli_errorf(CMD, "out of memory");
            xg_dataset_free(ds);
            return XG_EXIT_FAIL;
        }
        xg_progress bar;
        xg_progress_start(&bar, "symmetry", (long)ds->n, quiet || ds->n < 2 * CHUNK);
        for (int64_t c0 = 0; c0 < ds->n; c0 += CHUNK) {
            int cn = (int)(ds->n - c0 < CHUNK ? ds->n - c0 : CHUNK);
            int j;
#pragma omp parallel for schedule(dynamic, 4)
            for (j = 0; j < cn; j++)
                analyse(ds, c0 + j, symprec, json, &res[j]);
            for (j = 0; j < cn; j++) {
                result *r = &res[j];
                const char *id = ds->ids[c0 + j];
                if (r->error[0]) {
                    xg_cli_errorf(CMD, "%s", r->error);
                    failures++;
                }
                if (csv) {
                    xg_csv_write_cell(stdout, id);
                    putchar(',');
                    xg_csv_write_cell(stdout, r->formula);
                    printf(",%d,%d,", r->natoms, r->number);
                    xg_csv_write_cell(stdout, r->symbol);
                    putchar('\n');
                } else if (json) {
                    printf("%s\n  {\"id\": ", printed ? "," : "");
                    xg_json_write_string(stdout, id);
                    printf(", \"formula\": ");
                    xg_json_write_string(stdout, r->formula);
                    printf(", \"natoms\": %d, \"spacegroup_number\": %d, \"spacegroup_symbol\": ",
                           r->natoms, r->number);
                    xg_json_write_string(stdout, r->symbol);
                    printf(", \"hall_number\": %d, \"pointgroup\": ", r->hall);
                    xg_json_write_string(stdout, r->pointgroup);
                    printf(", \"n_operations\": %d, \"wyckoffs\": ", r->nops);
                    xg_json_write_string(stdout, r->wyckoffs ? r->wyckoffs : "");
                    if (r->error[0]) {
                        printf(", \"error\": ");
                        xg_json_write_string(stdout, r->error);
                    }
                    printf("}");
                } else {
                    printf("%-24s %-16s %6d %5d %s\n", id, r->formula, r->natoms, r->number,
                           r->symbol);
                }
                printed++;
                free(r->wyckoffs);
                r->wyckoffs = NULL;
            }
            xg_progress_update(&bar, (long)(c0 + cn));
        }
        if (ds->n >= 2 * CHUNK)
            xg_progress_finish(&bar);
        free(res);
        xg_dataset_free(ds);
    }
    if (json)
        printf("%s]\n", printed ? "\n" : "");
    if (fflush(stdout) != 0) {
        xg_cli_errorf(CMD, "writing the output failed");
        status = XG_EXIT_FAIL;
    }
    if (failures) {
        xg_cli_errorf(CMD, "spglib failed on %ld of %ld structures", failures, printed);
        status = XG_EXIT_FAIL;
    }
    if (unreadable) {
        xg_cli_errorf(CMD, "%ld input%s could not be read (see above); the other %ld crystals "
                      "were analysed", unreadable, unreadable == 1 ? "" : "s", printed);
        status = XG_EXIT_FAIL;
    }
    return status;
}

const xg_command xg_command_symmetry = {"symmetry", run,
                                        "space groups of crystals (spglib), as table, CSV or JSON",
                                        usage};
const xg_command_options xg_options_symmetry = {OPTS, usage_after, NULL};
