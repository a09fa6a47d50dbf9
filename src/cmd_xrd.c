/* cmd_xrd.c: `xtalgen xrd` (simulated powder pattern of a crystal) and `xtalgen xrd-match`
 * (rank candidate crystals against a measured pattern). The physics lives in
 * properties/xg_xrd.h; this file parses options, reads inputs and writes results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_input.h"
#include "properties/xg_xrd.h"
#include "properties/xg_xrd_refine.h"
#include "src/cli.h"
#include "src/commands.h"
#include "crystal/xg_csv.h"

static const char usage_xrd[] =
    "usage: xtalgen xrd INPUT [--wavelength CuKa] [--two-theta 5:90:0.02] [--peaks]\n"
    "                   [--fwhm 0.1] [--eta 0.5] [--debye-waller B] [--lattice-scale F]\n"
    "                   [--disorder Ta,Cr] [-o pattern.csv]\n"
    "\n"
    "Kinematic powder X-ray pattern of every crystal in INPUT (CIF, POSCAR, extxyz, .h5, .csv or\n"
    "a folder): reflections from the reciprocal lattice, atomic scattering factors (Doyle &\n"
    "Turner), Lorentz-polarisation factor, equal-angle reflections merged (multiplicity),\n"
    "intensities scaled to 100 for the strongest peak. Same formalism as pymatgen's\n"
    "XRDCalculator, whose peak lists it reproduces. Disordered CIFs (partial occupancies, mixed\n"
    "sites) are read as such: each site scatters with its occupancy-weighted factors.\n"
    "\n"
    "";

typedef struct {
    const char *wavelength, *two_theta, *disorder, *output;
    double fwhm, eta, bfac, lscale;
    int peaks, quiet;
} xrd_args;

static const xg_opt XRD_OPTS[] = {
    XG_OPT_S("--wavelength", NULL, xrd_args, wavelength, "W", "CuKa",
             "CuKa (1.54184), CuKa1, CuKa2, CuKa12 (K-alpha1 + K-alpha2, ratio 0.5), CuKb1, "
             "likewise Mo, Cr, Fe, Co, Ag; or Angstrom (1.5406)"),
    XG_OPT_S("--two-theta", NULL, xrd_args, two_theta, "A:B:S", "5:90:0.02",
             "range and step in degrees"),
    XG_OPT_F("--peaks", NULL, xrd_args, peaks,
             "write the peak list (id,two_theta,d,intensity,h,k,l,multiplicity,line) instead of "
             "the profile"),
    XG_OPT_D("--fwhm", NULL, xrd_args, fwhm, "F", 1e-4, 20.0, "0.1",
             "pseudo-Voigt full width at half maximum, degrees"),
    XG_OPT_D("--eta", NULL, xrd_args, eta, "E", 0.0, 1.0, "0.5",
             "Lorentzian fraction of the pseudo-Voigt, 0..1"),
    XG_OPT_D("--debye-waller", NULL, xrd_args, bfac, "B", 0.0, 100.0, "0",
             "one isotropic B factor (Angstrom^2) for every element (0: off)"),
    XG_OPT_D("--lattice-scale", NULL, xrd_args, lscale, "F", 0.5, 2.0, "1",
             "multiply the lattice by F first (1.01 = 1% expansion, e.g. a DFT lattice error or "
             "thermal expansion)"),
    XG_OPT_S("--disorder", "--mix", xrd_args, disorder, "A,B", NULL,
             "simulate the fully mixed variant: every site of elements A, B, ... holds all of "
             "them at their average share (e.g. Ta,Cr in TaCr2O6: each cation site 1/3 Ta + 2/3 "
             "Cr), as a disordered synthesis product"),
    XG_OPT_OUTPUT(xrd_args, output, "FILE",
                  "CSV output (default: standard output). The profile has a two_theta column and "
                  "one intensity column per crystal, named by its id."),
    XG_OPT_QUIET(xrd_args, quiet),
    XG_OPT_TABLE_END};

static const char usage_match[] =
    "usage: xtalgen xrd-match MEASURED CANDIDATES... [--top K] [--wavelength CuKa]\n"
    "                         [--fwhm 0.1] [--eta 0.5] [--scale 0.97:1.03:0.0025]\n"
    "                         [--max-shift 0.3] [--background 3|none] [--refine K]\n"
    "                         [--disorder Ta,Cr] [-o ranking.csv]\n"
    "\n"
    "Ranks candidate crystals by how well their simulated powder pattern matches a measured one.\n"
    "MEASURED is two columns 2theta/intensity (comments with # ; !, a text header, commas or\n"
    "spaces all accepted; a three-column xye file uses the first two), or a 'start step end'\n"
    "header line followed by the intensities. CANDIDATES are any structure inputs (CIF, POSCAR,\n"
    "extxyz, .h5, .csv, folders); every crystal in them is a candidate.\n"
    "\n"
    "The background is removed (rolling-minimum opening over a window, smoothed). The score is\n"
    "the normalised cross-correlation (Pearson, -1..1) of measured and simulated profiles,\n"
    "maximised over 2theta shifts within --max-shift (all at once by FFT) and over a uniform\n"
    "lattice scaling (the strain between a relaxed model and the real crystal).\n"
    "\n"
    "";

static const char usage_match_after[] =
    "Output columns: rank, score, lattice scale, 2theta shift, Rwp (percent, refined ones), id,\n"
    "reduced formula.\n"
    "\n"
    "A candidate input that cannot be read, or a file of a folder that cannot be (a\n"
    "disordered CIF), is reported on stderr with its reason and skipped; the others are\n"
    "ranked and written, and the exit status is then 1. Crystals whose pattern cannot be\n"
    "simulated are reported and skipped too (exit status 1 only when none could be).\n";

typedef struct {
    long top, refine;
    const char *wavelength, *scale, *background, *disorder, *output;
    double fwhm, eta, max_shift;
    int quiet;
} match_args;

static const xg_opt MATCH_OPTS[] = {
    XG_OPT_I("--top", NULL, match_args, top, "K", 0, 100000000, "10", "print the K best (0 = all)"),
    XG_OPT_S("--wavelength", NULL, match_args, wavelength, "W", "CuKa", "as for `xtalgen xrd`"),
    XG_OPT_D("--fwhm", NULL, match_args, fwhm, "F", 1e-3, 5.0, "0.1",
             "simulated peak width, degrees; set to the measured peak width for the sharpest "
             "ranking"),
    XG_OPT_D("--eta", NULL, match_args, eta, "E", 0.0, 1.0, "0.5",
             "Lorentzian fraction of the simulated pseudo-Voigt"),
    XG_OPT_S("--scale", NULL, match_args, scale, "A:B:S", NULL,
             "lattice scale factors tried (default 0.97:1.03:0.0025, refined 5x around the best)"),
    XG_OPT_D("--max-shift", NULL, match_args, max_shift, "D", 0.0, 5.0, "0.3",
             "2theta shift window each way, degrees"),
    XG_OPT_S("--background", NULL, match_args, background, "W|none", "3",
             "background window in degrees, or none"),
    XG_OPT_I("--refine", NULL, match_args, refine, "K", 0, 100000, "0",
             "refine the K best candidates against the pattern as measured (`xtalgen "
             "xrd-refine`: lattice, zero, widths, background) and rank them first, by Rwp (lower "
             "is better). The correlation that picks them then uses peaks of at least 0.4 degree "
             "(tolerant to anisotropic strain) and a scale step of 0.005 unless --scale is given; "
             "the refinement starts from --fwhm"),
    XG_OPT_S("--disorder", "--mix", match_args, disorder, "A,B", NULL,
             "also try the fully mixed variant of every candidate holding two of the elements (id "
             "suffix +mixed; see `xtalgen help xrd`)"),
    XG_OPT_OUTPUT(match_args, output, "FILE",
                  "also write the full ranking as CSV (rank,id,formula,score,scale,shift,rwp)"),
    XG_OPT_QUIET(match_args, quiet),
    XG_OPT_TABLE_END};

/* "A:B:S" or "A:B" into up to three numbers; returns the count or -1. */
static int parse_triplet(const char *cmd, const char *opt, const char *v, double out[3])
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    int k = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
        if (k == 3) {
            xg_cli_errorf(cmd, "%s expects START:END[:STEP], got '%s'", opt, v);
            return -1;
        }
        if (xg_cli_parse_double(cmd, opt, t, -1e6, 1e6, &out[k]))
            return -1;
        k++;
    }
    if (k < 2) {
        xg_cli_errorf(cmd, "%s expects START:END[:STEP], got '%s'", opt, v);
        return -1;
    }
    return k;
}

/* ---- inputs that may be disordered ---- */

/* Reads every crystal of path as a list of structures. CIF files are read with
 * XG_CIF_DISORDER (partial occupancies and mixed sites kept, as XRD needs them); anything else
 * goes through xg_input (ordered crystals). Ids follow xg_input: the file stem for one crystal,
 * stem_block for several. */
static int load_crystals(const char *path, xg_structure ***out, int *nout, xg_error *err)
{
    *out = NULL;
    *nout = 0;
    xg_input_format fmt;
    int rc = xg_input_detect(path, &fmt, err);
    if (rc)
        return rc;
    if (fmt == XG_INPUT_CIF) {
        if ((rc = xg_cif_read_file_flags(path, XG_CIF_DISORDER, out, nout, err)))
            return rc;
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        char st[XG_ID_LEN];
        snprintf(st, sizeof st, "%s", b);
        char *dot = strrchr(st, '.');
        if (dot && dot != st)
            *dot = '\0';
        for (int i = 0; i < *nout; i++) {
            char id[XG_ID_LEN];
            if (*nout == 1)
                snprintf(id, sizeof id, "%s", st);
            else
                snprintf(id, sizeof id, "%.60s_%.60s", st, (*out)[i]->id);
            memcpy((*out)[i]->id, id, sizeof id);
        }
        return XG_OK;
    }
    xg_dataset *ds = NULL;
    if ((rc = xg_input_read(path, &ds, err)))
        return rc;
    xg_structure **list = calloc((size_t)ds->n + 1, sizeof *list);
    if (!list) {
        xg_dataset_free(ds);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    }
    for (int64_t i = 0; i < ds->n; i++)
        if (!(list[i] = xg_dataset_get(ds, i, err))) {
            xg_cif_structures_free(list, (int)i);
            xg_dataset_free(ds);
            return err->code ? err->code : XG_ENOMEM;
        }
    *out = list;
    *nout = (int)ds->n;
    xg_dataset_free(ds);
    return XG_OK;
}

/* "Ta,Cr" into atomic numbers; returns the count or -1 after printing the problem. */
static int parse_elements(const char *cmd, const char *v, int *zs, int max)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    int k = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int z = xg_element_from_symbol(t);
        if (!z || k == max) {
            xg_cli_errorf(cmd, "--disorder expects 2..%d element symbols such as Ta,Cr (got '%s')",
                          max, v);
            return -1;
        }
        zs[k++] = z;
    }
    if (k < 2) {
        xg_cli_errorf(cmd, "--disorder expects at least two elements such as Ta,Cr (got '%s')", v);
        return -1;
    }
    return k;
}

/* ---- xtalgen xrd ---- */

static int run_xrd(int argc, char **argv)
{
    const char *cmd = "xrd";
    double tt[3] = {5.0, 90.0, 0.02};
    int nmix = 0, mixz[16];
    xg_xrd_params prm;
    xg_xrd_params_default(&prm);
    xg_error err = {0};
    xrd_args A;
    xg_opts_args args;
    if (xg_opts_parse(cmd, XRD_OPTS, argc, argv, &A, sizeof A, &args, 1))
        return XG_EXIT_USAGE;
    const char *input = args.npos ? args.pos[0] : NULL, *output = A.output;
    double fwhm = A.fwhm, eta = A.eta, bfac = A.bfac, lscale = A.lscale;
    int peaks_only = A.peaks;
    if (xg_xrd_radiation_parse(A.wavelength, &prm.radiation, &err)) {
        xg_cli_errorf(cmd, "--wavelength: unknown '%s' (CuKa, CuKa1, CuKa12, MoKa, ... or "
                           "Angstrom)", A.wavelength);
        return XG_EXIT_USAGE;
    }
    {
        const char *v = A.two_theta;
        double t[3] = {0, 0, 0.02};
        int k = parse_triplet(cmd, "--two-theta", v, t);
        if (k < 0)
            return XG_EXIT_USAGE;
        if (!(t[0] >= 0) || !(t[1] > t[0]) || t[1] > 180 || !(t[2] > 0) ||
            (t[1] - t[0]) / t[2] > 1e7) {
            xg_cli_errorf(cmd, "--two-theta needs 0 <= START < END <= 180 and a step > 0 "
                               "(got '%s')", v);
            return XG_EXIT_USAGE;
        }
        memcpy(tt, t, sizeof tt);
    }
    if (A.disorder && (nmix = parse_elements(cmd, A.disorder, mixz, 16)) < 0)
        return XG_EXIT_USAGE;
    if (!input) {
        xg_cli_errorf(cmd, "needs an INPUT (see xtalgen help xrd)");
        return XG_EXIT_USAGE;
    }
    if (xg_cli_check_output(cmd, "-o", output, &input, 1))
        return XG_EXIT_USAGE;
    prm.two_theta_min = tt[0];
    prm.two_theta_max = tt[1];
    double bw[XG_MAX_Z + 1];
    if (bfac > 0) {
        for (int z = 0; z <= XG_MAX_Z; z++)
            bw[z] = bfac;
        prm.debye_waller = bw;
    }
    xg_structure **list = NULL;
    int nlist = 0;
    if (load_crystals(input, &list, &nlist, &err)) {
        xg_cli_errorf(cmd, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    for (int i = 0; i < nlist && nmix > 0; i++) {
        xg_structure *mx = NULL;
        if (xg_structure_mix(list[i], mixz, nmix, &mx, &err)) {
            xg_cli_errorf(cmd, "--disorder: %s", err.msg);
            xg_cif_structures_free(list, nlist);
            return XG_EXIT_FAIL;
        }
        xg_structure_free(list[i]);
        list[i] = mx;
    }
    int64_t n = nlist;
    int npts = (int)floor((tt[1] - tt[0]) / tt[2] + 1e-9) + 1;
    double *prof = NULL;
    if (!peaks_only) {
        prof = malloc(sizeof(double) * (size_t)npts * (size_t)n);
        if (!prof) {
            xg_cli_errorf(cmd, "out of memory for %lld profiles of %d points", (long long)n, npts);
            xg_cif_structures_free(list, nlist);
            return XG_EXIT_FAIL;
        }
    }
    xg_atomic_file af;
    FILE *out = stdout;
    if (output) {
        if (xg_atomic_open(&af, output, &err)) {
            xg_cli_errorf(cmd, "%s", err.msg);
            free(prof);
            xg_cif_structures_free(list, nlist);
            return XG_EXIT_FAIL;
        }
        out = af.f;
    }
    int status = XG_EXIT_OK;
    if (peaks_only)
        fprintf(out, "id,two_theta,d,intensity,h,k,l,multiplicity,line\n");
    for (int64_t i = 0; i < n && status == XG_EXIT_OK; i++) {
        xg_structure *s = list[i];
        xg_xrd_pattern pat = {0, NULL};
        if (s)
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < 3; l++)
                    s->lattice[k][l] *= lscale;
        if (!s || xg_xrd_peaks(s, &prm, &pat, &err) ||
            (!peaks_only && xg_xrd_profile(&pat, tt[0], tt[2], npts, fwhm, eta,
                                           prof + (size_t)i * npts, &err))) {
            xg_cli_errorf(cmd, "%s: %s", s ? s->id : input, err.msg);
            status = XG_EXIT_FAIL;
        } else if (peaks_only) {
            for (int k = 0; k < pat.n; k++) {
                const xg_xrd_peak *p = &pat.peaks[k];
                xg_csv_write_cell(out, s->id);
                fprintf(out, ",%.5f,%.6f,%.4f,%d,%d,%d,%d,%d\n", p->two_theta, p->d, p->intensity,
                        p->hkl[0], p->hkl[1], p->hkl[2], p->multiplicity, p->line + 1);
            }
        }
        xg_xrd_pattern_free(&pat);
    }
    if (status == XG_EXIT_OK && !peaks_only) {
        fprintf(out, "two_theta");
        for (int64_t i = 0; i < n; i++) {
            fputc(',', out);
            xg_csv_write_cell(out, list[i]->id[0] ? list[i]->id : "intensity");
        }
        fputc('\n', out);
        for (int k = 0; k < npts; k++) {
            fprintf(out, "%.4f", tt[0] + k * tt[2]);
            for (int64_t i = 0; i < n; i++)
                fprintf(out, ",%.4f", prof[(size_t)i * npts + k]);
            fputc('\n', out);
        }
    }
    if (output) {
        if (status == XG_EXIT_OK) {
            if (xg_atomic_commit(&af, &err)) {
                xg_cli_errorf(cmd, "%s", err.msg);
                status = XG_EXIT_FAIL;
            }
        } else {
            xg_atomic_abort(&af);
        }
    } else if (fflush(stdout) != 0) {
        xg_cli_errorf(cmd, "writing standard output failed");
        status = XG_EXIT_FAIL;
    }
    free(prof);
    xg_cif_structures_free(list, nlist);
    return status;
}

/* ---- xtalgen xrd-match ---- */

typedef struct {
    char id[XG_ID_LEN];
    char formula[64];
    xg_xrd_match_result r;
    int ok, quiet_fail; /* quiet_fail: a mixed variant that does not apply (not an error) */
    int set;            /* input file and row, to fetch it again for refinement */
    int64_t row;
    int mixed;          /* the fully mixed variant (--disorder) of that crystal */
    int refined;        /* 1: refined (rwp valid), -1: refinement failed */
    double rwp;
    char error[256];
} candidate;

static int refine_one(const xg_xrd_measured *m, const xg_structure *s,
                      const xg_xrd_refine_params *base, int use_match, xg_xrd_refine_result *res,
                      xg_error *err);

/* Refined candidates first, by Rwp; then the rest by score. */
static int cmp_refined(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    int rx = x->refined == 1, ry = y->refined == 1;
    if (rx != ry)
        return ry - rx;
    if (rx && x->rwp != y->rwp)
        return x->rwp < y->rwp ? -1 : 1;
    if (x->ok != y->ok)
        return y->ok - x->ok;
    if (x->r.score != y->r.score)
        return x->r.score > y->r.score ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int cmp_candidate(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->ok != y->ok)
        return y->ok - x->ok;
    if (x->r.score != y->r.score)
        return x->r.score > y->r.score ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int run_match(int argc, char **argv)
{
    const char *cmd = "xrd-match";
    int scale_given = 0;
    int nmix = 0, mixz[16];
    double bgwin = 3.0;
    xg_xrd_measured raw = {0};
    xg_xrd_match_params mp;
    xg_xrd_match_params_default(&mp);
    xg_error err = {0};
    xg_dataset **sets = NULL;
    candidate *res = NULL;
    xg_xrd_measured m = {0};
    match_args A;
    xg_opts_args args;
    if (xg_opts_parse(cmd, MATCH_OPTS, argc, argv, &A, sizeof A, &args, -1))
        return XG_EXIT_USAGE;
    const char *measured = args.npos ? args.pos[0] : NULL, *output = A.output;
    const char *const *cands = args.npos ? args.pos + 1 : NULL;
    int ncand_files = args.npos > 1 ? args.npos - 1 : 0, quiet = A.quiet;
    long top = A.top, refine_k = A.refine;
    int status = XG_EXIT_USAGE;
    mp.fwhm = A.fwhm;
    mp.eta = A.eta;
    mp.max_shift = A.max_shift;
    if (xg_xrd_radiation_parse(A.wavelength, &mp.radiation, &err)) {
        xg_cli_errorf(cmd, "--wavelength: unknown '%s' (CuKa, CuKa1, CuKa12, MoKa, ... or "
                           "Angstrom)", A.wavelength);
        goto out;
    }
    if (A.scale) {
        const char *v = A.scale;
        double t[3] = {0, 0, mp.scale_step};
        if (parse_triplet(cmd, "--scale", v, t) < 0)
            goto out;
        if (!(t[0] > 0.5) || !(t[1] >= t[0]) || !(t[1] < 2.0) || !(t[2] > 0) ||
            (t[1] - t[0]) / t[2] > 2000) {
            xg_cli_errorf(cmd, "--scale needs 0.5 < MIN <= MAX < 2 and at most 2000 steps "
                               "(got '%s')", v);
            goto out;
        }
        mp.scale_min = t[0];
        mp.scale_max = t[1];
        mp.scale_step = t[2];
        scale_given = 1;
    }
    if (!strcmp(A.background, "none"))
        bgwin = 0;
    else if (xg_cli_parse_double(cmd, "--background", A.background, 0.05, 90.0, &bgwin))
        goto out;
    if (A.disorder && (nmix = parse_elements(cmd, A.disorder, mixz, 16)) < 0)
        goto out;
    if (!measured || ncand_files == 0) {
        xg_cli_errorf(cmd, "needs MEASURED and at least one CANDIDATES input (see xtalgen help "
                           "xrd-match)");
        goto out;
    }
    if (xg_cli_check_output(cmd, "-o", output, &measured, 1) ||
        xg_cli_check_output(cmd, "-o", output, cands, ncand_files))
        goto out;
    status = XG_EXIT_FAIL;
    if (xg_xrd_measured_read(measured, &m, &err)) {
        xg_cli_errorf(cmd, "%s", err.msg);
        goto out;
    }
    /* refinement models the background itself: keep the pattern as measured */
    raw = m;
    raw.y = malloc(sizeof(double) * (size_t)m.n);
    raw.sigma = NULL;
    if (!raw.y) {
        xg_cli_errorf(cmd, "out of memory");
        goto out;
    }
    memcpy(raw.y, m.y, sizeof(double) * (size_t)m.n);
    if (m.sigma) {
        raw.sigma = m.sigma;
        m.sigma = NULL;
    }
    if (bgwin > 0 && xg_xrd_background_subtract(&m, bgwin, &err)) {
        xg_cli_errorf(cmd, "%s: %s", measured, err.msg);
        goto out;
    }
    sets = calloc((size_t)ncand_files, sizeof *sets);
    if (!sets) {
        xg_cli_errorf(cmd, "out of memory");
        goto out;
    }
    int64_t total = 0;
    long unreadable = 0;
    for (int f = 0; f < ncand_files; f++) {
        /* one unreadable file never sinks the ranking: report it, rank the rest */
        xg_input_options io = {NULL, NULL, xg_cli_report_skip, (void *)cmd};
        long skipped = 0;
        int rc = xg_input_read_opts(cands[f], &io, &sets[f], &skipped, &err);
        unreadable += skipped;
        if (rc == XG_ENOMEM) {
            xg_cli_errorf(cmd, "%s", err.msg);
            goto out;
        }
        if (rc) {
            xg_cli_errorf(cmd, "skipped unreadable %s", err.msg);
            unreadable++;
            continue;
        }
        total += sets[f]->n;
    }
    if (total == 0) {
        xg_cli_errorf(cmd, "no readable candidate crystals");
        goto out;
    }
    /* with --disorder every crystal also enters as its fully mixed variant */
    int64_t nbase = total;
    if (nmix > 0)
        total *= 2;
    res = calloc((size_t)total, sizeof *res);
    if (!res) {
        xg_cli_errorf(cmd, "out of memory for %lld candidates", (long long)total);
        goto out;
    }
    /* flat index -> (set, row) so candidates can be scored in parallel */
    int64_t *fi = malloc(sizeof(int64_t) * (size_t)total);
    int *ff = malloc(sizeof(int) * (size_t)total);
    if (!fi || !ff) {
        free(fi);
        free(ff);
        xg_cli_errorf(cmd, "out of memory");
        goto out;
    }
    for (int f = 0, k = 0; f < ncand_files; f++)
        for (int64_t i = 0; sets[f] && i < sets[f]->n; i++, k++) {
            ff[k] = f;
            fi[k] = i;
            if (nmix > 0) {
                ff[k + nbase] = f;
                fi[k + nbase] = i;
            }
        }
    /* Before a refinement the correlation only has to keep the right crystal among the K
     * best: peaks broadened to 0.4 degree tolerate the anisotropic strain one lattice scale
     * cannot follow (measured: a triclinic crystal strained -1.6/+1.1/+2.0% ranks 6th at 0.1
     * degree, 1st at 0.5), and the coarser scale step they allow halves the time. */
    xg_xrd_match_params screen = mp;
    if (refine_k > 0) {
        screen.fwhm = fmax(mp.fwhm, 0.4);
        if (!scale_given)
            screen.scale_step = 0.005;
    }
    xg_progress prog;
    xg_progress_start(&prog, "matching", (long)total, quiet);
    long done = 0;
#pragma omp parallel for schedule(dynamic)
    for (int64_t k = 0; k < total; k++) {
        xg_error e = {0};
        candidate *c = &res[k];
        xg_structure *s = xg_dataset_get(sets[ff[k]], fi[k], &e);
        c->set = ff[k];
        c->row = fi[k];
        if (s && k >= nbase) {
            xg_structure *mx = NULL;
            c->mixed = 1;
            if (xg_structure_mix(s, mixz, nmix, &mx, &e)) {
                c->quiet_fail = 1; /* fewer than two of the elements: no variant */
                xg_structure_free(s);
                s = NULL;
            } else {
                xg_structure_free(s);
                s = mx;
                size_t l = strnlen(s->id, XG_ID_LEN - 8);
                snprintf(s->id + l, XG_ID_LEN - l, "+mixed");
            }
        }
        if (s) {
            snprintf(c->id, sizeof c->id, "%s", s->id);
            if (xg_structure_reduced_formula(s, c->formula, sizeof c->formula) != XG_OK)
                snprintf(c->formula, sizeof c->formula, "?");
            c->ok = xg_xrd_match(&m, s, &screen, &c->r, &e) == XG_OK;
            xg_structure_free(s);
        }
        if (!c->ok)
            snprintf(c->error, sizeof c->error, "%.255s", e.msg);
#pragma omp critical(xg_xrd_match_progress)
        xg_progress_update(&prog, ++done);
    }
    xg_progress_finish(&prog);
    free(fi);
    free(ff);
    long failed = 0;
    for (int64_t k = 0; k < total; k++)
        if (!res[k].ok && !res[k].quiet_fail) {
            xg_cli_errorf(cmd, "candidate %s skipped: %s", res[k].id[0] ? res[k].id : "?",
                          res[k].error);
            failed++;
        }
    qsort(res, (size_t)total, sizeof *res, cmp_candidate);
    if (refine_k > 0) {
        /* refine the K best by correlation against the pattern as measured, re-rank by Rwp */
        xg_xrd_refine_params rp;
        xg_xrd_refine_params_default(&rp);
        rp.radiation = mp.radiation;
        rp.fwhm0 = mp.fwhm;
        rp.eta0 = mp.eta;
        /* ranking needs Rwp to a few digits, not the last iteration of a wrong model */
        rp.max_iter = 30;
        int64_t nk = 0;
        while (nk < total && nk < refine_k && res[nk].ok)
            nk++;
        xg_progress rprog;
        xg_progress_start(&rprog, "refining", (long)nk, quiet);
        for (int64_t k = 0; k < nk; k++) {
            candidate *c = &res[k];
            xg_error e = {0};
            xg_structure *s = xg_dataset_get(sets[c->set], c->row, &e);
            if (s && c->mixed) {
                xg_structure *mx = NULL;
                if (xg_structure_mix(s, mixz, nmix, &mx, &e) == XG_OK) {
                    xg_structure_free(s);
                    s = mx;
                }
            }
            xg_xrd_refine_result rr;
            memset(&rr, 0, sizeof rr);
            rp.lattice_scale0 = c->r.scale;
            rp.zero0 = c->r.shift;
            if (s && refine_one(&raw, s, &rp, 0, &rr, &e) == XG_OK) {
                c->refined = 1;
                c->rwp = rr.rwp;
            } else {
                c->refined = -1;
                xg_cli_errorf(cmd, "candidate %s not refined: %s", c->id, e.msg);
            }
            xg_xrd_refine_result_free(&rr);
            xg_structure_free(s);
            xg_progress_update(&rprog, (long)k + 1);
        }
        xg_progress_finish(&rprog);
        qsort(res, (size_t)total, sizeof *res, cmp_refined);
    }
    int64_t shown = (top == 0 || top > total) ? total : top;
    printf("%4s %8s %7s %7s %8s  %-24s %s\n", "rank", "score", "scale", "shift", "Rwp%", "id",
           "formula");
    for (int64_t k = 0; k < shown; k++) {
        if (!res[k].ok)
            break;
        char rw[32] = "-";
        if (res[k].refined == 1)
            snprintf(rw, sizeof rw, "%.3f", 100 * res[k].rwp);
        printf("%4lld %8.4f %7.4f %+7.3f %8s  %-24s %s\n", (long long)k + 1, res[k].r.score,
               res[k].r.scale, res[k].r.shift, rw, res[k].id, res[k].formula);
    }
    if (output) {
        xg_atomic_file af;
        if (xg_atomic_open(&af, output, &err)) {
            xg_cli_errorf(cmd, "%s", err.msg);
            goto out;
        }
        fprintf(af.f, "rank,id,formula,score,scale,shift,rwp\n");
        for (int64_t k = 0; k < total && res[k].ok; k++) {
            fprintf(af.f, "%lld,", (long long)k + 1);
            xg_csv_write_cell(af.f, res[k].id);
            fputc(',', af.f);
            xg_csv_write_cell(af.f, res[k].formula);
            fprintf(af.f, ",%.6f,%.5f,%.4f,", res[k].r.score, res[k].r.scale, res[k].r.shift);
            if (res[k].refined == 1)
                fprintf(af.f, "%.6f", res[k].rwp);
            fputc('\n', af.f);
        }
        if (xg_atomic_commit(&af, &err)) {
            xg_cli_errorf(cmd, "%s", err.msg);
            goto out;
        }
    }
    if (unreadable)
        xg_cli_errorf(cmd, "%ld candidate input%s could not be read (see above); %lld crystals "
                      "were ranked", unreadable, unreadable == 1 ? "" : "s",
                      (long long)(total - failed));
    status = (failed == nbase || unreadable) ? XG_EXIT_FAIL : XG_EXIT_OK;
out:
    if (sets)
        for (int f = 0; f < ncand_files; f++)
            xg_dataset_free(sets[f]);
    free(sets);
    free(res);
    xg_xrd_measured_free(&m);
    xg_xrd_measured_free(&raw);
    return status;
}

/* ---- xtalgen xrd-refine ---- */

static const char usage_refine[] =
    "usage: xtalgen xrd-refine MEASURED CRYSTAL [-o DIR] [--wavelength CuKa] [--fwhm 0.1]\n"
    "                          [--eta 0.5] [--background-terms 6] [--width W|UVW]\n"
    "                          [--fix-eta] [--no-match] [--symprec 0.01] [--quiet]\n"
    "\n"
    "Refines the crystal's model against a measured powder pattern by weighted least squares\n"
    "(GSL gsl_multifit_nlinear, trust-region Levenberg-Marquardt): lattice parameters within\n"
    "the crystal system (spglib's conventional cell), zero shift, scale, a Chebyshev background,\n"
    "pseudo-Voigt widths (Caglioti U, V, W) and Lorentzian fraction eta. Peak intensities come\n"
    "from the structure (|F|^2 with occupancy-weighted scattering factors, Lorentz-polarisation;\n"
    "atom positions fixed): a structure-intensity (Rietveld-style) fit, not Le Bail/Pawley, so\n"
    "Rwp measures how well this structure explains the pattern. The start comes from\n"
    "`xrd-match` (uniform lattice scale and shift, broad peaks), then the fit runs in stages\n"
    "(scale and background; a grid over the cell lengths, +-3%, for strains of opposite sign;\n"
    "lattice and zero with broadened peaks; widths; everything).\n"
    "\n"
    "MEASURED: two columns 2theta/intensity, xye (third column sigma, used as weights; otherwise\n"
    "Poisson weights 1/y), the 'start step end' header form, or GSAS/FullProf .xy exports\n"
    "(comment, XYDATA/INTER/TEMP/title lines skipped). The background is refined, not removed.\n"
    "CRYSTAL: one crystal (CIF, disordered CIFs included, POSCAR, ...).\n"
    "\n"
    "";

static const char usage_refine_after[] =
    "Reported as Rietveld programs do: Rwp, Rp, Rexp (percent), GoF = chi^2/(N-P), and every\n"
    "parameter with its standard error sqrt(C_jj chi^2/(N-P)) from the covariance.\n";

typedef struct {
    const char *wavelength, *output;
    double fwhm, eta, symprec;
    long nbkg;
    int width, fix_eta, no_match, quiet;
} refine_args;

static const xg_opt REFINE_OPTS[] = {
    XG_OPT_S("--wavelength", NULL, refine_args, wavelength, "W", "CuKa", "as for `xtalgen xrd`"),
    XG_OPT_D("--fwhm", NULL, refine_args, fwhm, "F", 1e-3, 5.0, "0.1", "starting peak width, degrees"),
    XG_OPT_D("--eta", NULL, refine_args, eta, "E", 0.0, 1.0, "0.5", "starting Lorentzian fraction"),
    XG_OPT_I("--background-terms", NULL, refine_args, nbkg, "N", 1, XG_XRD_REFINE_MAXBKG, "6",
             "Chebyshev background terms"),
    XG_OPT_E("--width", NULL, refine_args, width, "UVW|W", "UVW",
             "refine the Caglioti U, V, W or one constant width W"),
    XG_OPT_F("--fix-eta", NULL, refine_args, fix_eta, "keep eta at its starting value"),
    XG_OPT_F("--no-match", NULL, refine_args, no_match,
             "start from the model's own cell and zero shift 0"),
    XG_OPT_D("--symprec", NULL, refine_args, symprec, "S", 1e-5, 1.0, "0.01",
             "spglib tolerance in Angstrom for the crystal system; stricter than the 0.1 of the "
             "other commands because the cell is refined within the system found"),
    XG_OPT_OUTPUT(refine_args, output, "DIR",
                  "write DIR/profile.csv (two_theta,observed,calculated,background,difference), "
                  "DIR/parameters.csv (name,value,esd, then Rwp, Rp, Rexp, GoF) and "
                  "DIR/refined.cif (the refined conventional cell)"),
    XG_OPT_F("--quiet", "-q", refine_args, quiet, "only the summary"),
    XG_OPT_TABLE_END};

/* Starting lattice scale and shift for a refinement: xrd-match on a background-subtracted copy. */
static int refine_start(const xg_xrd_measured *m, const xg_structure *s,
                        const xg_xrd_radiation *rad, double fwhm, double *scale, double *shift,
                        xg_error *err)
{
    xg_xrd_measured c = *m;
    c.sigma = NULL;
    c.y = malloc(sizeof(double) * (size_t)m->n);
    if (!c.y)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    memcpy(c.y, m->y, sizeof(double) * (size_t)m->n);
    xg_xrd_match_params mp;
    xg_xrd_match_params_default(&mp);
    mp.radiation = *rad;
    /* broad peaks, as xrd-match --refine's pre-screen: one lattice scale cannot follow an
     * anisotropic strain, and sharp peaks then lock onto a wrong scale (measured: 5 of 50
     * strained validation crystals refined to a false minimum from a 0.1 degree start) */
    mp.fwhm = fmax(fwhm, 0.4);
    mp.scale_step = 0.005;
    xg_xrd_match_result r;
    int rc = xg_xrd_background_subtract(&c, 3.0, err);
    /* match correlates an ordered profile; a disordered model scores through its peaks too */
    if (!rc)
        rc = xg_xrd_match(&c, s, &mp, &r, err);
    free(c.y);
    if (!rc) {
        *scale = r.scale;
        *shift = r.shift;
    }
    return rc;
}

static int refine_one(const xg_xrd_measured *m, const xg_structure *s,
                      const xg_xrd_refine_params *base, int use_match, xg_xrd_refine_result *res,
                      xg_error *err)
{
    xg_xrd_refine_params rp = *base;
    if (use_match) {
        int rc = refine_start(m, s, &rp.radiation, rp.fwhm0, &rp.lattice_scale0, &rp.zero0, err);
        if (rc)
            return rc;
    }
    return xg_xrd_refine(m, s, &rp, res, err);
}

static void print_refinement(FILE *f, const xg_structure *s, const xg_xrd_refine_result *r)
{
    fprintf(f, "crystal %s: space group %s (%d), %s\n", s->id, r->symbol, r->spacegroup,
            r->crystal_system);
    fprintf(f, "Rwp %.3f%%  Rp %.3f%%  Rexp %.3f%%  GoF (chi2/(N-P)) %.3f  N %d  P %d  "
            "reflections %d  iterations %d\n",
            100 * r->rwp, 100 * r->rp, 100 * r->rexp, r->gof, r->nobs, r->npar, r->nrefl,
            r->niter);
    fprintf(f, "cell  a %.5f(%.5f)  b %.5f(%.5f)  c %.5f(%.5f)  alpha %.4f  beta %.4f  gamma "
            "%.4f\n",
            r->lattice[0], r->lattice_esd[0], r->lattice[1], r->lattice_esd[1], r->lattice[2],
            r->lattice_esd[2], r->lattice[3], r->lattice[4], r->lattice[5]);
    fprintf(f, "%-8s %14s %12s\n", "param", "value", "esd");
    for (int k = 0; k < r->npar; k++)
        fprintf(f, "%-8s %14.6g %12.3g\n", r->names[k], r->value[k], r->esd[k]);
}

static int write_refinement(const char *dir, const xg_xrd_measured *m,
                            const xg_xrd_refine_result *r, xg_error *err)
{
    if (xg_mkdir_p(dir, err))
        return err->code;
    char path[4200];
    xg_atomic_file af;
    snprintf(path, sizeof path, "%s/profile.csv", dir);
    if (xg_atomic_open(&af, path, err))
        return err->code;
    fprintf(af.f, "two_theta,observed,calculated,background,difference\n");
    for (int i = 0; i < m->n; i++)
        fprintf(af.f, "%.5f,%.6g,%.6g,%.6g,%.6g\n", m->two_theta0 + i * m->step, m->y[i],
                r->calc[i], r->background[i], m->y[i] - r->calc[i]);
    if (xg_atomic_commit(&af, err))
        return err->code;
    snprintf(path, sizeof path, "%s/parameters.csv", dir);
    if (xg_atomic_open(&af, path, err))
        return err->code;
    fprintf(af.f, "name,value,esd\n");
    for (int k = 0; k < r->npar; k++)
        fprintf(af.f, "%s,%.10g,%.6g\n", r->names[k], r->value[k], r->esd[k]);
    fprintf(af.f, "Rwp,%.8g,\nRp,%.8g,\nRexp,%.8g,\nGoF,%.8g,\n", r->rwp, r->rp, r->rexp, r->gof);
    if (xg_atomic_commit(&af, err))
        return err->code;
    snprintf(path, sizeof path, "%s/refined.cif", dir);
    return xg_cif_write_file(path, r->cell, err);
}

static int run_refine(int argc, char **argv)
{
    const char *cmd = "xrd-refine";
    xg_xrd_refine_params rp;
    xg_xrd_refine_params_default(&rp);
    xg_error err = {0};
    refine_args A;
    xg_opts_args args;
    if (xg_opts_parse(cmd, REFINE_OPTS, argc, argv, &A, sizeof A, &args, -1))
        return XG_EXIT_USAGE;
    if (args.npos > 2) {
        xg_cli_errorf(cmd, "MEASURED and one CRYSTAL only (extra '%s'); to rank many, use "
                           "`xtalgen xrd-match --refine K`", args.pos[2]);
        return XG_EXIT_USAGE;
    }
    const char *measured = args.npos > 0 ? args.pos[0] : NULL;
    const char *crystal = args.npos > 1 ? args.pos[1] : NULL, *output = A.output;
    int quiet = A.quiet, use_match = !A.no_match;
    long nbkg = A.nbkg;
    double symprec = A.symprec;
    if (xg_xrd_radiation_parse(A.wavelength, &rp.radiation, &err)) {
        xg_cli_errorf(cmd, "--wavelength: unknown '%s' (CuKa, CuKa1, CuKa12, MoKa, ... or "
                           "Angstrom)", A.wavelength);
        return XG_EXIT_USAGE;
    }
    rp.fwhm0 = A.fwhm;
    rp.eta0 = A.eta;
    rp.refine_uv = A.width == 0;
    if (A.fix_eta)
        rp.refine_eta = 0;
    if (!measured || !crystal) {
        xg_cli_errorf(cmd, "needs MEASURED and CRYSTAL (see xtalgen help xrd-refine)");
        return XG_EXIT_USAGE;
    }
    rp.nbkg = (int)nbkg;
    rp.symprec = symprec;
    xg_xrd_measured m = {0};
    if (xg_xrd_measured_read(measured, &m, &err)) {
        xg_cli_errorf(cmd, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    xg_structure **list = NULL;
    int nlist = 0;
    if (load_crystals(crystal, &list, &nlist, &err)) {
        xg_cli_errorf(cmd, "%s", err.msg);
        xg_xrd_measured_free(&m);
        return XG_EXIT_FAIL;
    }
    int status = XG_EXIT_FAIL;
    xg_xrd_refine_result res;
    memset(&res, 0, sizeof res);
    if (nlist != 1) {
        xg_cli_errorf(cmd, "%s holds %d crystals; give one (or rank them with `xtalgen "
                           "xrd-match --refine K`)", crystal, nlist);
        goto out;
    }
    if (!quiet)
        fprintf(stderr, "xrd-refine: %s against %s (%d points)\n", list[0]->id, measured, m.n);
    if (refine_one(&m, list[0], &rp, use_match, &res, &err)) {
        xg_cli_errorf(cmd, "%s: %s", list[0]->id, err.msg);
        goto out;
    }
    print_refinement(stdout, list[0], &res);
    if (output && write_refinement(output, &m, &res, &err)) {
        xg_cli_errorf(cmd, "%s", err.msg);
        goto out;
    }
    status = XG_EXIT_OK;
out:
    xg_xrd_refine_result_free(&res);
    xg_cif_structures_free(list, nlist);
    xg_xrd_measured_free(&m);
    return status;
}

const xg_command xg_command_xrd = {"xrd", run_xrd, "simulated powder X-ray diffraction pattern",
                                   usage_xrd};
const xg_command xg_command_xrd_match = {"xrd-match", run_match,
                                         "rank candidate crystals against a measured XRD pattern",
                                         usage_match};
const xg_command xg_command_xrd_refine = {
    "xrd-refine", run_refine,
    "refine a crystal against a measured XRD pattern (lattice, zero, widths, background)",
    usage_refine};
const xg_command_options xg_options_xrd = {XRD_OPTS, NULL, NULL};
const xg_command_options xg_options_xrd_match = {MATCH_OPTS, usage_match_after, NULL};
const xg_command_options xg_options_xrd_refine = {REFINE_OPTS, usage_refine_after, NULL};
