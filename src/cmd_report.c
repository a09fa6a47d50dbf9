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
    "  -o FILE            the page (default DIR/report.html)\n"
    "  --screen SDIR      the screen results (screen.csv, summary.json); default DIR, then\n"
    "                     DIR/screen\n"
    "  --compare DIR2     another run (e.g. unguided) whose guided-property distribution and\n"
    "                     rates are drawn next to this one's\n"
    "  --target NAME=VAL  the condition the run was guided with, when its folder does not\n"
    "                     record it (e.g. dft_mag_density=0.15)\n"
    "  --top N            candidates listed with drawings (default 20, at most 500)\n"
    "  --rank COL[:desc]  rank candidates by a screen.csv column (default: closeness of the\n"
    "                     guided property to its target, else e_hull_pred)\n"
    "  --reference REF    reference distributions (default the shipped data/report-mp20.csv)\n"
    "  --quiet            print nothing on success\n"
    "\n"
    "--make-reference reads the crystals of DATA (any input `screen` reads: a CDVAE-format\n"
    "CSV such as MP-20's test.csv, an xtalgen .h5 dataset, CIF folders) and writes their\n"
    "distributions to REF (CSV: density and formation-energy quantiles, counts of atoms per\n"
    "cell, elements per crystal, space groups and elements). data/report-mp20.csv was made with\n"
    "  xtalgen report --make-reference ../shared/data/mp_20/test.csv --name 'MP-20 test' \\\n"
    "      -o data/report-mp20.csv\n"
    "Exit status 1 when a folder or file cannot be read or the page cannot be written.\n";

static int make_reference(int argc, char **argv)
{
    const char *inputs[64], *name = NULL, *out = NULL;
    int ninputs = 0, quiet = 0;
    double symprec = 0.1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--make-reference")) {
            continue;
        } else if (!strcmp(a, "-o") || xg_cli_is(a, "--output")) {
            if (!(out = xg_cli_value(CMD, argc, argv, &i)))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--name")) {
            if (!(name = xg_cli_value(CMD, argc, argv, &i)))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--symprec")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_double(CMD, "--symprec", v, 1e-6, 1, &symprec))
                return XG_EXIT_USAGE;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-') {
            xg_cli_errorf(CMD, "unknown option %s", a);
            return XG_EXIT_USAGE;
        } else if (ninputs < 64) {
            inputs[ninputs++] = a;
        }
    }
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
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--make-reference"))
            return make_reference(argc, argv);
    xg_report_options o = {0};
    o.top = 20;
    int quiet = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
#define VAL() do { if (!(v = xg_cli_value(CMD, argc, argv, &i))) return XG_EXIT_USAGE; } while (0)
        if (!strcmp(a, "-o") || xg_cli_is(a, "--output")) {
            VAL();
            o.output = v;
        } else if (xg_cli_is(a, "--screen")) {
            VAL();
            o.screen_dir = v;
        } else if (xg_cli_is(a, "--compare")) {
            VAL();
            o.compare_dir = v;
        } else if (xg_cli_is(a, "--target")) {
            VAL();
            o.target = v;
        } else if (xg_cli_is(a, "--rank")) {
            VAL();
            o.rank = v;
        } else if (xg_cli_is(a, "--reference")) {
            VAL();
            o.reference = v;
        } else if (xg_cli_is(a, "--top")) {
            long t;
            VAL();
            if (xg_cli_parse_int(CMD, "--top", v, 0, 500, &t))
                return XG_EXIT_USAGE;
            o.top = (int)t;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-') {
            xg_cli_errorf(CMD, "unknown option %s", a);
            return XG_EXIT_USAGE;
        } else if (!dir) {
            dir = a;
        } else {
            xg_cli_errorf(CMD, "one run folder at a time (got %s and %s)", dir, a);
            return XG_EXIT_USAGE;
        }
#undef VAL
    }
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
