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
    "usage: xtalgen match [--ltol L] [--stol S] [--angle-tol A] A B\n"
    "\n"
    "Compares two crystals with the rules of pymatgen's StructureMatcher() (primitive cells,\n"
    "volumes scaled to each other, no supercells) and prints one line:\n"
    "  match rms=R max=M      (R, M: rms and largest site displacement, in units of\n"
    "                          (V/N)^(1/3), of the best mapping)\n"
    "  no match\n"
    "A and B are any input xtalgen reads (CIF, POSCAR, extxyz, .h5, CDVAE .csv) holding exactly\n"
    "one crystal each.\n"
    "\n"
    "  --ltol L        fractional lattice length tolerance (default 0.2)\n"
    "  --stol S        site tolerance in units of (V/N)^(1/3) (default 0.3)\n"
    "  --angle-tol A   angle tolerance in degrees (default 5)\n"
    "\n"
    "Exit status 0 whether or not the crystals match; 1 if an input cannot be read or holds\n"
    "other than one crystal; 2 on a usage error.\n";

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
    const char *paths[2];
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (xg_cli_is(a, "--ltol")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_double(CMD, "--ltol", v, 1e-6, 10, &p.ltol))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--stol")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_double(CMD, "--stol", v, 1e-6, 10, &p.stol))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--angle-tol")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_double(CMD, "--angle-tol", v, 1e-6, 90, &p.angle_tol))
                return XG_EXIT_USAGE;
        } else if (a[0] == '-' && a[1] == '-') {
            xg_cli_errorf(CMD, "unknown option '%s' (see xtalgen help match)", a);
            return XG_EXIT_USAGE;
        } else if (np < 2) {
            paths[np++] = a;
        } else {
            xg_cli_errorf(CMD, "expects exactly two inputs, got more ('%s')", a);
            return XG_EXIT_USAGE;
        }
    }
    if (np != 2) {
        xg_cli_errorf(CMD, "expects two inputs A B (see xtalgen help match)");
        return XG_EXIT_USAGE;
    }
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
