/* cmd_report.c: `xtalgen report`: the run report page (src/report.h), and the making of the
 * reference distributions it compares with (src/report_ref.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crystal/xg_input.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/report.h"
#include "src/report_ref.h"

#define CMD "report"

static const char usage[] =
    "usage: xtalgen report DIR [-o FILE] [--screen SDIR] [--compare DIR2] [--target NAME=VALUE]\n"
    "                      [--top N] [--rank COLUMN[:desc]] [--reference REF] [--quiet]\n"
    "       xtalgen report --make-reference DATA... --name NAME -o REF [--symprec S] [--quiet]\n"
    "\n"
    "Writes one self-contained HTML page (XHTML: inline SVG and CSS, no scripts, nothing\n"
    "fetched; opens offline, attaches to an e-mail) about a `generate` folder DIR and its\n"
    "`screen` results: the run's provenance, the rates (valid, unique, novel, stable, S.U.N.)\n"
    "with their reference sets, histograms of density, atoms per cell, elements per crystal\n"
    "and predicted formation energy against MP-20 with Wasserstein distances, crystal systems\n"
    "and the most common space groups against MP-20, the guided property against its target,\n"
    "a periodic-table map of the elements, and the top candidates with a drawing of each cell\n"
    "and a link to its CIF. Files are read by column and key name; what a folder lacks is left\n"
    "out with a note. `xtalgen screen` writes this page as report.html next to its results.\n"
    "\n"
    "";

static const char usage_after[] =
    "\n"
    "Exit status 1 when a folder or file cannot be read or the page cannot be written.\n";

typedef struct {
    xg_report_options o;
    long top;
    int quiet, make_ref;
    const char *name;
    double symprec;
} report_args;

static const xg_opt OPTS[] = {
    XG_OPT_OUTPUT(report_args, o.output, "FILE", "the page (default DIR/report.html); with\n"
                  "--make-reference the reference CSV"),
    XG_OPT_S("--screen", NULL, report_args, o.screen_dir, "SDIR", NULL,
             "the screen results (screen.csv, summary.json); default DIR, then DIR/screen"),
    XG_OPT_S("--compare", NULL, report_args, o.compare_dir, "DIR2", NULL,
             "another run (e.g. unguided) whose guided-property distribution and rates are drawn "
             "next to this one's"),
    XG_OPT_S("--target", NULL, report_args, o.target, "NAME=VAL", NULL,
             "the condition the run was guided with, when its folder does not record it (e.g. "
             "dft_mag_density=0.15)"),
    XG_OPT_I("--top", NULL, report_args, top, "N", 0, 500, "20", "candidates listed with drawings"),
    XG_OPT_S("--rank", NULL, report_args, o.rank, "COL[:desc]", NULL,
             "rank candidates by a screen.csv column (default: closeness of the guided property "
             "to its target, else e_hull_pred)"),
    XG_OPT_S("--reference", NULL, report_args, o.reference, "REF", NULL,
             "reference distributions (default the shipped data/report-mp20.csv)"),
    XG_OPT_QUIET(report_args, quiet),
    XG_OPT_T("\n"
             "--make-reference reads the crystals of DATA (any input `screen` reads: a CDVAE-format\n"
             "CSV such as MP-20's test.csv, an xtalgen .h5 dataset, CIF folders) and writes their\n"
             "distributions to REF (CSV: density and formation-energy quantiles, counts of atoms per\n"
             "cell, elements per crystal, space groups and elements). data/report-mp20.csv was made with\n"
             "  xtalgen report --make-reference ../shared/data/mp_20/test.csv --name 'MP-20 test' \\\n"
             "      -o data/report-mp20.csv\n"),
    XG_OPT_F("--make-reference", NULL, report_args, make_ref, "build a reference from DATA..."),
    XG_OPT_S("--name", NULL, report_args, name, "NAME", NULL, "the reference's name (required)"),
    XG_OPT_SYMPREC(report_args, symprec, "spglib tolerance in Angstrom for the space groups"),
    XG_OPT_TABLE_END};

static int make_reference(const report_args *A, const xg_opts_args *args)
{
    const char *const *inputs = args->pos, *name = A->name, *out = A->o.output;
    int ninputs = args->npos, quiet = A->quiet;
    double symprec = A->symprec;
    if (!ninputs || !name || !out) {
        xg_cli_errorf(CMD, "--make-reference needs DATA, --name and -o (see `xtalgen help report`)");
        return XG_EXIT_USAGE;
    }
    xg_dataset *all = NULL;
    xg_error err = {0};
    char source[512] = "";
    for (int k = 0; k < ninputs; k++) {
        xg_dataset *d = NULL;
        if (xg_input_read(inputs[k], &d, &err) != XG_OK) {
            xg_cli_errorf(CMD, "%s", err.msg);
            xg_dataset_free(all);
            return XG_EXIT_FAIL;
        }
        const char *base = strrchr(inputs[k], '/');
        size_t u = strlen(source);
        snprintf(source + u, sizeof source - u, "%s%s", k ? " + " : "", base ? base + 1 : inputs[k]);
        if (!all) {
            all = d;
            continue;
        }
        for (int64_t i = 0; i < d->n; i++) {
            xg_structure *s = xg_dataset_get(d, i, &err);
            int rc = s ? xg_dataset_append(all, s, NULL, &err) : XG_ENOMEM;
            xg_structure_free(s);
            if (rc) {
                xg_cli_errorf(CMD, "%s", err.msg);
                xg_dataset_free(d);
                xg_dataset_free(all);
                return XG_EXIT_FAIL;
            }
        }
        xg_dataset_free(d);
    }
    xg_refdist *ref = malloc(sizeof *ref);
    int rc = ref ? xg_refdist_build(all, name, source, symprec, ref, &err)
                 : xg_error_set(&err, XG_ENOMEM, "out of memory");
    if (!rc)
        rc = xg_refdist_write(out, ref, &err);
    if (rc)
        xg_cli_errorf(CMD, "%s", err.msg);
    else if (!quiet)
        printf("%s: distributions of %ld crystals (%s)\n", out, ref->n, source);
    free(ref);
    xg_dataset_free(all);
    return rc ? XG_EXIT_FAIL : XG_EXIT_OK;
}

static int run(int argc, char **argv)
{
    report_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, sizeof A, &args, -1))
        return XG_EXIT_USAGE;
    if (A.make_ref)
        return make_reference(&A, &args);
    if (args.npos > 1) {
        xg_cli_errorf(CMD, "one run folder at a time (got %s and %s)", args.pos[0], args.pos[1]);
        return XG_EXIT_USAGE;
    }
    if (xg_opts_given(OPTS, &args, "--name") || xg_opts_given(OPTS, &args, "--symprec")) {
        xg_cli_errorf(CMD, "--name and --symprec go with --make-reference");
        return XG_EXIT_USAGE;
    }
    xg_report_options o = A.o;
    o.top = (int)A.top;
    int quiet = A.quiet;
    const char *dir = args.npos ? args.pos[0] : NULL;
    if (!dir && !o.screen_dir) {
        xg_cli_errorf(CMD, "no run folder given (see `xtalgen help report`)");
        return XG_EXIT_USAGE;
    }
    o.run_dir = dir;
    char out[4200];
    if (!o.output) {
        snprintf(out, sizeof out, "%s/report.html", dir ? dir : o.screen_dir);
        o.output = out;
    }
    xg_report_stats st;
    xg_error err = {0};
    if (xg_report_write(&o, &st, &err) != XG_OK) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    if (!quiet)
        printf("%s: %ld crystals, %ld drawn, %.1f kB, %.2f s\n", o.output, st.crystals,
               st.candidates, st.bytes / 1024.0, st.seconds);
    return XG_EXIT_OK;
}

const xg_command xg_command_report = {"report", run, "one HTML page about a generate/screen run",
                                      usage};
const xg_command_options xg_options_report = {OPTS, usage_after, NULL};
