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
    "  --wavelength W     CuKa (1.54184, default), CuKa1, CuKa2, CuKa12 (K-alpha1 + K-alpha2,\n"
    "                     ratio 0.5), CuKb1, likewise Mo, Cr, Fe, Co, Ag; or Angstrom (1.5406)\n"
    "  --two-theta A:B:S  range and step in degrees (default 5:90:0.02)\n"
    "  --peaks            write the peak list (id,two_theta,d,intensity,h,k,l,multiplicity,line)\n"
    "                     instead of the profile\n"
    "  --fwhm F           pseudo-Voigt full width at half maximum, degrees (default 0.1)\n"
    "  --eta E            Lorentzian fraction of the pseudo-Voigt, 0..1 (default 0.5)\n"
    "  --debye-waller B   one isotropic B factor (Angstrom^2) for every element (default 0: off)\n"
    "  --lattice-scale F  multiply the lattice by F first (0.5..2; 1.01 = 1% expansion, e.g. a\n"
    "                     DFT lattice error or thermal expansion)\n"
    "  --disorder A,B     simulate the fully mixed variant: every site of elements A, B, ... holds\n"
    "                     all of them at their average share (e.g. Ta,Cr in TaCr2O6: each cation\n"
    "                     site 1/3 Ta + 2/3 Cr), as a disordered synthesis product (alias --mix)\n"
    "  -o, --output FILE  CSV output (default: standard output). The profile has a two_theta\n"
    "                     column and one intensity column per crystal, named by its id.\n";

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
    "  --top K            print the K best (default 10; 0 = all)\n"
    "  --wavelength W     as for `xtalgen xrd` (default CuKa)\n"
    "  --fwhm F, --eta E  simulated peak shape (defaults 0.1 degree, 0.5); set to the\n"
    "                     measured peak width for the sharpest ranking\n"
    "  --scale A:B:S      lattice scale factors tried (default 0.97:1.03:0.0025, refined 5x\n"
    "                     around the best)\n"
    "  --max-shift D      2theta shift window each way, degrees (default 0.3)\n"
    "  --background W     background window in degrees (default 3), or none\n"
    "  --refine K         refine the K best candidates against the pattern as measured\n"
    "                     (`xtalgen xrd-refine`: lattice, zero, widths, background) and rank\n"
    "                     them first, by Rwp (lower is better). The correlation that picks\n"
    "                     them then uses peaks of at least 0.4 degree (tolerant to anisotropic\n"
    "                     strain) and a scale step of 0.005 unless --scale is given; the\n"
    "                     refinement starts from --fwhm\n"
    "  --disorder A,B     also try the fully mixed variant of every candidate holding two of\n"
    "                     the elements (id suffix +mixed; see `xtalgen help xrd`)\n"
    "  -o, --output FILE  also write the full ranking as CSV\n"
    "                     (rank,id,formula,score,scale,shift,rwp)\n"
    "  --quiet            no progress display\n"
    "Output columns: rank, score, lattice scale, 2theta shift, Rwp (percent, refined ones), id,\n"
    "reduced formula.\n"
    "\n"
    "A candidate input that cannot be read, or a file of a folder that cannot be (a\n"
    "disordered CIF), is reported on stderr with its reason and skipped; the others are\n"
    "ranked and written, and the exit status is then 1. Crystals whose pattern cannot be\n"
    "simulated are reported and skipped too (exit status 1 only when none could be).\n";

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
    const char *cmd = "xrd", *input = NULL, *output = NULL;
    double tt[3] = {5.0, 90.0, 0.02}, fwhm = 0.1, eta = 0.5, bfac = 0.0, lscale = 1.0;
    int peaks_only = 0, nmix = 0, mixz[16];
    xg_xrd_params prm;
    xg_xrd_params_default(&prm);
    xg_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (xg_cli_is(a, "--wavelength")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                return XG_EXIT_USAGE;
            if (xg_xrd_radiation_parse(v, &prm.radiation, &err)) {
                xg_cli_errorf(cmd, "--wavelength: unknown '%s' (CuKa, CuKa1, CuKa12, MoKa, ... or "
                                   "Angstrom)", v);
                return XG_EXIT_USAGE;
            }
        } else if (xg_cli_is(a, "--two-theta")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                return XG_EXIT_USAGE;
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
        } else if (!strcmp(a, "--peaks")) {
            peaks_only = 1;
        } else if (xg_cli_is(a, "--disorder") || xg_cli_is(a, "--mix")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                (nmix = parse_elements(cmd, v, mixz, 16)) < 0)
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--fwhm")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--fwhm", v, 1e-4, 20.0, &fwhm))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--eta")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--eta", v, 0.0, 1.0, &eta))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--debye-waller")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--debye-waller", v, 0.0, 100.0, &bfac))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--lattice-scale")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--lattice-scale", v, 0.5, 2.0, &lscale))
                return XG_EXIT_USAGE;
        } else if (!strcmp(a, "-o") || xg_cli_is(a, "--output")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                return XG_EXIT_USAGE;
            output = v;
        } else if (a[0] == '-' && a[1]) {
            xg_cli_errorf(cmd, "unknown option '%s' (see `xtalgen help xrd`)", a);
            return XG_EXIT_USAGE;
        } else if (!input) {
            input = a;
        } else {
            xg_cli_errorf(cmd, "one INPUT only (got '%s' and '%s')", input, a);
            return XG_EXIT_USAGE;
        }
    }
    if (!input) {
        xg_cli_errorf(cmd, "needs an INPUT\n%s", usage_xrd);
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
    const char *cmd = "xrd-match", *measured = NULL, *output = NULL;
    const char **cands = calloc((size_t)argc, sizeof *cands);
    int ncand_files = 0, quiet = 0;
    long top = 10, refine_k = 0;
    int scale_given = 0;
    int nmix = 0, mixz[16];
    double bgwin = 3.0;
    xg_xrd_measured raw = {0};
    xg_xrd_match_params mp;
    xg_xrd_match_params_default(&mp);
    xg_error err = {0};
    int status = XG_EXIT_USAGE;
    xg_dataset **sets = NULL;
    candidate *res = NULL;
    xg_xrd_measured m = {0};
    if (!cands) {
        xg_cli_errorf(cmd, "out of memory");
        return XG_EXIT_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (xg_cli_is(a, "--refine")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_int(cmd, "--refine", v, 0, 100000, &refine_k))
                goto out;
        } else if (xg_cli_is(a, "--disorder") || xg_cli_is(a, "--mix")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                (nmix = parse_elements(cmd, v, mixz, 16)) < 0)
                goto out;
        } else if (xg_cli_is(a, "--top")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_int(cmd, "--top", v, 0, 100000000, &top))
                goto out;
        } else if (xg_cli_is(a, "--wavelength")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                goto out;
            if (xg_xrd_radiation_parse(v, &mp.radiation, &err)) {
                xg_cli_errorf(cmd, "--wavelength: unknown '%s' (CuKa, CuKa1, CuKa12, MoKa, ... or "
                                   "Angstrom)", v);
                goto out;
            }
        } else if (xg_cli_is(a, "--fwhm")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--fwhm", v, 1e-3, 5.0, &mp.fwhm))
                goto out;
        } else if (xg_cli_is(a, "--eta")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--eta", v, 0.0, 1.0, &mp.eta))
                goto out;
        } else if (xg_cli_is(a, "--scale")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                goto out;
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
        } else if (xg_cli_is(a, "--max-shift")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--max-shift", v, 0.0, 5.0, &mp.max_shift))
                goto out;
        } else if (xg_cli_is(a, "--background")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                goto out;
            if (!strcmp(v, "none"))
                bgwin = 0;
            else if (xg_cli_parse_double(cmd, "--background", v, 0.05, 90.0, &bgwin))
                goto out;
        } else if (!strcmp(a, "-o") || xg_cli_is(a, "--output")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                goto out;
            output = v;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            xg_cli_errorf(cmd, "unknown option '%s' (see `xtalgen help xrd-match`)", a);
            goto out;
        } else if (!measured) {
            measured = a;
        } else {
            cands[ncand_files++] = a;
        }
    }
    if (!measured || ncand_files == 0) {
        xg_cli_errorf(cmd, "needs MEASURED and at least one CANDIDATES input\n%s", usage_match);
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
    free(cands);
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
    "  --wavelength W        as for `xtalgen xrd` (default CuKa)\n"
    "  --fwhm F, --eta E     starting peak width (degrees, default 0.1) and eta (0.5)\n"
    "  --background-terms N  Chebyshev terms, 1..12 (default 6)\n"
    "  --width UVW|W         refine the Caglioti U, V, W (default) or one constant width W\n"
    "  --fix-eta             keep eta at its starting value\n"
    "  --no-match            start from the model's own cell and zero shift 0\n"
    "  --symprec S           spglib tolerance for the crystal system (default 0.01 A)\n"
    "  -o, --output DIR      write DIR/profile.csv (two_theta,observed,calculated,background,\n"
    "                        difference), DIR/parameters.csv (name,value,esd, then Rwp, Rp,\n"
    "                        Rexp, GoF) and DIR/refined.cif (the refined conventional cell)\n"
    "  --quiet               only the summary\n"
    "Reported as Rietveld programs do: Rwp, Rp, Rexp (percent), GoF = chi^2/(N-P), and every\n"
    "parameter with its standard error sqrt(C_jj chi^2/(N-P)) from the covariance.\n";

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
    const char *cmd = "xrd-refine", *measured = NULL, *crystal = NULL, *output = NULL;
    int quiet = 0, use_match = 1;
    long nbkg = 6;
    double symprec = 0.01;
    xg_xrd_refine_params rp;
    xg_xrd_refine_params_default(&rp);
    xg_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (xg_cli_is(a, "--wavelength")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                return XG_EXIT_USAGE;
            if (xg_xrd_radiation_parse(v, &rp.radiation, &err)) {
                xg_cli_errorf(cmd, "--wavelength: unknown '%s' (CuKa, CuKa1, CuKa12, MoKa, ... or "
                                   "Angstrom)", v);
                return XG_EXIT_USAGE;
            }
        } else if (xg_cli_is(a, "--fwhm")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--fwhm", v, 1e-3, 5.0, &rp.fwhm0))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--eta")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--eta", v, 0.0, 1.0, &rp.eta0))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--background-terms")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_int(cmd, "--background-terms", v, 1, XG_XRD_REFINE_MAXBKG, &nbkg))
                return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--width")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                return XG_EXIT_USAGE;
            if (!strcmp(v, "UVW") || !strcmp(v, "uvw")) {
                rp.refine_uv = 1;
            } else if (!strcmp(v, "W") || !strcmp(v, "w")) {
                rp.refine_uv = 0;
            } else {
                xg_cli_errorf(cmd, "--width expects UVW or W, got '%s'", v);
                return XG_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--fix-eta")) {
            rp.refine_eta = 0;
        } else if (!strcmp(a, "--no-match")) {
            use_match = 0;
        } else if (xg_cli_is(a, "--symprec")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)) ||
                xg_cli_parse_double(cmd, "--symprec", v, 1e-5, 1.0, &symprec))
                return XG_EXIT_USAGE;
        } else if (!strcmp(a, "-o") || xg_cli_is(a, "--output")) {
            if (!(v = xg_cli_value(cmd, argc, argv, &i)))
                return XG_EXIT_USAGE;
            output = v;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            xg_cli_errorf(cmd, "unknown option '%s' (see `xtalgen help xrd-refine`)", a);
            return XG_EXIT_USAGE;
        } else if (!measured) {
            measured = a;
        } else if (!crystal) {
            crystal = a;
        } else {
            xg_cli_errorf(cmd, "MEASURED and one CRYSTAL only (extra '%s'); to rank many, use "
                               "`xtalgen xrd-match --refine K`", a);
            return XG_EXIT_USAGE;
        }
    }
    if (!measured || !crystal) {
        xg_cli_errorf(cmd, "needs MEASURED and CRYSTAL\n%s", usage_refine);
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
