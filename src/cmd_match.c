/* cmd_match.c: `xtalgen match A B`: are two crystals the same material, by pymatgen
 * StructureMatcher() rules (crystal/xg_matcher.h)? */
#include <stdio.h>
#include <string.h>

#include "crystal/xg_input.h"
#include "crystal/xg_matcher.h"
#include "src/cli.h"
#include "src/commands.h"

#define CMD "match"

static const char usage[] =
    "usage: xtalgen match [--ltol L] [--stol S] [--angle-tol A] [--quiet] A B\n"
    "\n"
    "Compares two crystals with the rules of pymatgen's StructureMatcher() (primitive cells,\n"
    "volumes scaled to each other, no supercells) and prints one line:\n"
    "  match rms=R max=M      (R, M: rms and largest site displacement, in units of\n"
    "                          (V/N)^(1/3), of the best mapping)\n"
    "  no match\n"
    "A and B are any input xtalgen reads (CIF, POSCAR, extxyz, .h5, CDVAE .csv) holding exactly\n"
    "one crystal each.\n"
    "\n";

static const char usage_after[] =
    "\n"
    "Exit status 0 whether or not the crystals match; 1 if an input cannot be read or holds\n"
    "other than one crystal; 2 on a usage error.\n";

typedef struct {
    double ltol, stol, angle_tol;
    int quiet;
} match_args;

static const xg_opt OPTS[] = {
    XG_OPT_D("--ltol", NULL, match_args, ltol, "L", 1e-6, 10, "0.2",
             "fractional lattice length tolerance"),
    XG_OPT_D("--stol", NULL, match_args, stol, "S", 1e-6, 10, "0.3",
             "site tolerance in units of (V/N)^(1/3)"),
    XG_OPT_D("--angle-tol", NULL, match_args, angle_tol, "A", 1e-6, 90, "5",
             "angle tolerance in degrees"),
    XG_OPT_QUIET(match_args, quiet),
    XG_OPT_TABLE_END};

static int read_one(const char *path, xg_structure **out)
{
    xg_error err = {0};
    xg_dataset *ds = NULL;
    if (xg_input_read(path, &ds, &err) != XG_OK) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return -1;
    }
    if (ds->n != 1) {
        xg_cli_errorf(CMD, "%s holds %lld crystals; match compares exactly one with one", path,
                      (long long)ds->n);
        xg_dataset_free(ds);
        return -1;
    }
    *out = xg_dataset_get(ds, 0, &err);
    xg_dataset_free(ds);
    if (!*out) {
        xg_cli_errorf(CMD, "%s: %s", path, err.msg);
        return -1;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    xg_matcher_params p;
    xg_matcher_default_params(&p);
    match_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, sizeof A, &args, 2))
        return XG_EXIT_USAGE;
    if (args.npos != 2) {
        xg_cli_errorf(CMD, "expects two inputs A B (see xtalgen help match)");
        return XG_EXIT_USAGE;
    }
    p.ltol = A.ltol;
    p.stol = A.stol;
    p.angle_tol = A.angle_tol;
    const char *const *paths = args.pos;
    xg_structure *a = NULL, *b = NULL;
    if (read_one(paths[0], &a) || read_one(paths[1], &b)) {
        xg_structure_free(a);
        return XG_EXIT_FAIL;
    }
    xg_match_result r;
    xg_error err = {0};
    int rc = xg_matcher_fit(a, b, &p, XG_MATCH_BEST, &r, &err);
    xg_structure_free(a);
    xg_structure_free(b);
    if (rc) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    if (r.match)
        printf("match rms=%.6f max=%.6f\n", r.rms, r.max_dist);
    else
        printf("no match\n");
    return XG_EXIT_OK;
}

const xg_command xg_command_match = {"match", run, "are two crystals the same (pymatgen rules)?",
                                     usage};
const xg_command_options xg_options_match = {OPTS, usage_after, NULL};
