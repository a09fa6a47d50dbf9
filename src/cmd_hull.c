/* cmd_hull.c: `xtalgen hull build|query|check`: builds the convex-hull reference table from the
 * public crystal tables (or xtalgen datasets), answers energy-above-hull questions, and checks
 * the hull against Materials Project's own e_above_hull column (issue 6's acceptance test). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_csv.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_elements.h"
#include "properties/xg_hull.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/hull_m3gnet.h"

#define CMD "hull"
#define EFORM "formation_energy_per_atom"
#define EHULL "e_above_hull"

static const char usage[] =
    "usage: xtalgen hull build --entries FILE... [--keep-all] [--drop-inconsistent] [--quiet]\n"
    "                          -o HULL.h5\n"
    "       xtalgen hull query HULL.h5 FORMULA [ENERGY]\n"
    "       xtalgen hull check HULL.h5 DATASET [--tol 0.01] [--equal-tol 0.001]\n"
    "                          [--exclude-self] [--report OUT.csv]\n"
    "\n"
    "The lower convex hull of formation energy per atom over composition, elements at zero.\n"
    "E_hull = E_form - (hull energy at the composition), eV/atom; negative means below the hull.\n"
    "\n";

#define MAX_INPUTS 64

typedef struct {
    const char *entries[MAX_INPUTS];
    int nentries;
    const char *out;
    int keep_all, consistent, quiet;
} build_args;

static const xg_opt BUILD_OPTS[] = {
    XG_OPT_T("build   reads reference entries (composition and formation_energy_per_atom) from each FILE:\n"
             "        a CDVAE/MatterGen CSV (mp_20/train.csv, val.csv, train_no_positions.csv: the\n"
             "        composition comes from atomic_numbers or pretty_formula) or an xtalgen HDF5 dataset.\n"
             "        Rows without an energy are skipped. Duplicate compositions keep the lowest energy;\n"
             "        entries above the hull are dropped (they never change an answer) unless --keep-all.\n"
             "        Writes the table as HDF5 (format xtalgen-hull, version 1; see README).\n"),
    XG_OPT_LM("--entries", NULL, build_args, entries, nentries, "FILE...", MAX_INPUTS,
              "input files (the option may also be repeated)"),
    XG_OPT_F("--keep-all", NULL, build_args, keep_all,
             "keep every entry (needed for exact --exclude-self checks)"),
    XG_OPT_F("--drop-inconsistent", NULL, build_args, consistent,
             "where rows carrying MP's e_above_hull show our hull more than\n"
             "0.01 eV/atom below MP's, drop the entries without an e_above_hull\n"
             "of their own that cause it (another energy scheme), and rebuild"),
    XG_OPT_OUTPUT(build_args, out, "HULL.h5", "the hull table"),
    XG_OPT_QUIET(build_args, quiet),
    XG_OPT_TABLE_END};

typedef struct {
    const char *report;
    double tol, eq_tol;
    int exclude_self, quiet;
} check_args;

static const xg_opt CHECK_OPTS[] = {
    XG_OPT_T("\n"
             "check   for every crystal of DATASET (CSV or HDF5) with formation_energy_per_atom and\n"
             "        e_above_hull, compares our E_hull (from its DFT formation energy) with MP's.\n"
             "        Our reference set has fewer phases than MP's, so ours must not exceed MP's by more\n"
             "        than --tol; counts how often they agree within --equal-tol.\n"
             "        The crystal's own entry takes part if it is in HULL.h5 (as it is for val.csv with a\n"
             "        hull built from train+val+train_no_positions); --exclude-self leaves entries with\n"
             "        the crystal's id out. Exit status 1 when any crystal exceeds the tolerance.\n"),
    XG_OPT_D("--tol", NULL, check_args, tol, "X", 0, 10, "0.01",
             "largest accepted excess of our E_hull over MP's, eV/atom"),
    XG_OPT_D("--equal-tol", NULL, check_args, eq_tol, "X", 0, 10, "0.001",
             "agreement counted within this, eV/atom"),
    XG_OPT_F("--exclude-self", NULL, check_args, exclude_self,
             "leave entries with the crystal's id out of its hull"),
    XG_OPT_S("--report", NULL, check_args, report, "OUT.csv", NULL,
             "one row per crystal: id,formula,e_form,e_hull_mp,e_hull_ours"),
    XG_OPT_QUIET(check_args, quiet),
    XG_OPT_TABLE_END};

/* One row of an input table: what the hull needs, and MP's e_above_hull for the check. */
typedef struct {
    char id[XG_HULL_ID_LEN];
    xg_hull_comp comp;
    double e_form, e_hull_mp;
} row;

typedef struct {
    row *r;
    long n, cap;
} rows;

static int rows_push(rows *rs, const row *r, xg_error *err)
{
    if (rs->n == rs->cap) {
        long cap = rs->cap ? rs->cap * 2 : 1024;
        row *p = realloc(rs->r, (size_t)cap * sizeof *p);
        if (!p)
            return xg_error_set(err, XG_ENOMEM, "out of memory for %ld rows", cap);
        rs->r = p;
        rs->cap = cap;
    }
    rs->r[rs->n++] = *r;
    return XG_OK;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* "73 73 14 78": the atomic numbers column of train_no_positions.csv. */
static int comp_from_numbers(const char *s, xg_hull_comp *c, xg_error *err)
{
    int types[4096];
    int n = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *end;
        long z = strtol(p, &end, 10);
        if (end == p || z < 1 || z > XG_MAX_Z || (*end && *end != ' ' && *end != '\t'))
            return xg_error_set(err, XG_EPARSE, "bad atomic number list '%.60s'", s);
        if (n == (int)(sizeof types / sizeof types[0]))
            return xg_error_set(err, XG_EUNSUPPORTED, "more than %d atoms", n);
        types[n++] = (int)z;
        p = end;
    }
    return xg_hull_comp_from_types(types, n, c, err);
}

static int read_csv_rows(const char *path, rows *rs, long *skipped, xg_error *err)
{
    xg_csv_reader *r = NULL;
    int rc = xg_csv_open(path, &r, err);
    if (rc)
        return rc;
    int cid = xg_csv_column(r, "material_id");
    int ce = xg_csv_column(r, EFORM);
    int ch = xg_csv_column(r, EHULL);
    int cz = xg_csv_column(r, "atomic_numbers");
    int cf = xg_csv_column(r, "pretty_formula");
    if (cf < 0)
        cf = xg_csv_column(r, "formula");
    if (ce < 0 || (cz < 0 && cf < 0)) {
        xg_csv_close(r);
        return xg_error_set(err, XG_EPARSE,
                            "%s: needs a %s column and an atomic_numbers or pretty_formula column",
                            path, EFORM);
    }
    for (;;) {
        int got = 0;
        if ((rc = xg_csv_next(r, &got, err)) || !got)
            break;
        row w;
        memset(&w, 0, sizeof w);
        if (cid >= 0)
            snprintf(w.id, sizeof w.id, "%s", xg_csv_field(r, cid));
        if (!xg_csv_parse_number(xg_csv_field(r, ce), &w.e_form)) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%ld: %s '%.40s' is not a number", path,
                              xg_csv_line(r), EFORM, xg_csv_field(r, ce));
            break;
        }
        w.e_hull_mp = NAN;
        if (ch >= 0 && !xg_csv_parse_number(xg_csv_field(r, ch), &w.e_hull_mp)) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%ld: %s '%.40s' is not a number", path,
                              xg_csv_line(r), EHULL, xg_csv_field(r, ch));
            break;
        }
        if (!isfinite(w.e_form)) {
            (*skipped)++; /* no energy: not an entry */
            continue;
        }
        /* Prefer the explicit atom list; the formula is the fallback (and what CDVAE has). */
        if (cz >= 0 && xg_csv_field(r, cz)[0])
            rc = comp_from_numbers(xg_csv_field(r, cz), &w.comp, err);
        else if (cf >= 0)
            rc = xg_hull_comp_parse(xg_csv_field(r, cf), &w.comp, err);
        else
            rc = xg_error_set(err, XG_EPARSE, "no composition");
        if (rc) {
            xg_error_prefix(err, rc, "%s:%ld: %s: ", path, xg_csv_line(r), w.id);
            break;
        }
        if ((rc = rows_push(rs, &w, err)))
            break;
    }
    xg_csv_close(r);
    return rc;
}

static int read_h5_rows(const char *path, rows *rs, long *skipped, xg_error *err)
{
    xg_dataset *ds = NULL;
    int rc = xg_dataset_read_h5(path, &ds, err);
    if (rc)
        return rc;
    int pe = xg_dataset_find_property(ds, EFORM), ph = xg_dataset_find_property(ds, EHULL);
    if (pe < 0) {
        xg_dataset_free(ds);
        return xg_error_set(err, XG_EINVAL, "%s: the dataset has no property %s", path, EFORM);
    }
    for (int64_t i = 0; !rc && i < ds->n; i++) {
        row w;
        memset(&w, 0, sizeof w);
        snprintf(w.id, sizeof w.id, "%s", ds->ids[i]);
        w.e_form = ds->props[i * ds->nprops + pe];
        w.e_hull_mp = ph >= 0 ? ds->props[i * ds->nprops + ph] : NAN;
        if (!isfinite(w.e_form)) {
            (*skipped)++;
            continue;
        }
        int64_t a = ds->offsets[i], b = ds->offsets[i + 1];
        if (b <= a || b - a > 1 << 20) {
            rc = xg_error_set(err, XG_EPARSE, "%s: structure %s has %lld atoms", path, w.id,
                              (long long)(b - a));
            break;
        }
        int *types = malloc((size_t)(b - a) * sizeof *types);
        if (!types) {
            rc = xg_error_set(err, XG_ENOMEM, "out of memory");
            break;
        }
        for (int64_t k = a; k < b; k++)
            types[k - a] = ds->types[k];
        rc = xg_hull_comp_from_types(types, (int)(b - a), &w.comp, err);
        free(types);
        if (rc)
            xg_error_prefix(err, rc, "%s: %s: ", path, w.id);
        else
            rc = rows_push(rs, &w, err);
    }
    xg_dataset_free(ds);
    return rc;
}

static int read_rows(const char *path, rows *rs, long *skipped, xg_error *err)
{
    if (has_suffix(path, ".h5") || has_suffix(path, ".hdf5"))
        return read_h5_rows(path, rs, skipped, err);
    return read_csv_rows(path, rs, skipped, err);
}

/* Builds a finalized hull from the rows not marked in drop (may be NULL). */
static int build_hull(const rows *rs, const unsigned char *drop, int keep_all, xg_hull **out,
                      xg_error *err)
{
    *out = NULL;
    xg_hull *h = xg_hull_alloc();
    if (!h)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    int rc = XG_OK;
    for (long i = 0; !rc && i < rs->n; i++)
        if (!drop || !drop[i])
            rc = xg_hull_add(h, &rs->r[i].comp, rs->r[i].e_form, rs->r[i].id, err);
    xg_hull_options o = xg_hull_default_options();
    o.keep_all = keep_all;
    if (!rc)
        rc = xg_hull_finalize(h, &o, err);
    if (rc) {
        xg_hull_free(h);
        return rc;
    }
    *out = h;
    return XG_OK;
}

typedef struct {
    long row;
    int nel;
    double excess;
} viol;

static int viol_cmp(const void *a, const void *b)
{
    const viol *x = a, *y = b;
    if (x->nel != y->nel)
        return x->nel < y->nel ? -1 : 1;
    if (x->excess != y->excess)
        return x->excess > y->excess ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* --drop-inconsistent: the rows that carry MP's e_above_hull tell us MP's hull energy at their
 * composition, e_form - e_above_hull. Our set is a subset of MP's, so our hull cannot lie lower
 * there, unless some entry's energy comes from another energy scheme (the reassembled training
 * rows include copies from a later Materials Project database whose corrections differ, e.g.
 * for superoxides). Such a violation is blamed on the entries of its decomposition that have no
 * e_above_hull of their own; they are dropped and the hull rebuilt until no violation is left.
 * Returns the number of rows dropped in *ndropped and lists them on stderr. */
static int drop_inconsistent(const rows *rs, unsigned char *drop, double tol, int quiet,
                             long *ndropped, xg_error *err)
{
    *ndropped = 0;
    /* id -> row, for rows without e_above_hull (the only ones that can be blamed). */
    const char **ids = malloc((size_t)(rs->n > 0 ? rs->n : 1) * sizeof *ids);
    if (!ids)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    long nid = 0;
    for (long i = 0; i < rs->n; i++)
        if (!isfinite(rs->r[i].e_hull_mp) && rs->r[i].id[0])
            ids[nid++] = rs->r[i].id;
    qsort(ids, (size_t)nid, sizeof *ids, id_cmp);
    int rc = XG_OK;
    for (int round = 0; round < 20 && !rc; round++) {
        xg_hull *h = NULL;
        if ((rc = build_hull(rs, drop, 1, &h, err))) /* keep_all: exclusions below are exact */
            break;
        /* Violations, simplest systems first: a bad binary entry also spoils the ternaries
         * built on it, and the blame belongs to the binary. */
        long nv = 0;
        viol *vs = malloc((size_t)(rs->n > 0 ? rs->n : 1) * sizeof *vs);
        if (!vs) {
            xg_hull_free(h);
            rc = xg_error_set(err, XG_ENOMEM, "out of memory");
            break;
        }
        for (long i = 0; !rc && i < rs->n; i++) {
            const row *w = &rs->r[i];
            if (!isfinite(w->e_hull_mp) || drop[i])
                continue;
            double hv;
            if ((rc = xg_hull_energy(h, &w->comp, NULL, &hv, NULL, err)))
                break;
            double excess = w->e_form - w->e_hull_mp - hv;
            if (excess > tol)
                vs[nv++] = (viol){i, w->comp.nel, excess};
        }
        qsort(vs, (size_t)nv, sizeof *vs, viol_cmp);
        long newly = 0;
        unsigned char *blamed_now = calloc((size_t)(h ? xg_hull_size(h) : 0) + 1, 1);
        if (!blamed_now && !rc)
            rc = xg_error_set(err, XG_ENOMEM, "out of memory");
        for (long v = 0; !rc && v < nv; v++) {
            const row *w = &rs->r[vs[v].row];
            double hv;
            xg_hull_decomp d;
            if ((rc = xg_hull_energy(h, &w->comp, NULL, &hv, &d, err)))
                break;
            int stale = 0; /* an entry already blamed this round: decide after the rebuild */
            for (int k = 0; k < d.n; k++)
                if (d.entry[k] >= 0 && blamed_now[d.entry[k]])
                    stale = 1;
            if (stale)
                continue;
            char wf[128];
            xg_error e2;
            if (xg_hull_comp_format(&w->comp, wf, sizeof wf, &e2))
                snprintf(wf, sizeof wf, "?");
            /* Candidates: decomposition entries without an e_above_hull of their own. When
             * there are several, blame those whose removal alone clears the violation (the
             * hull here keeps every entry, so leaving one out is exact); if none does, all. */
            int cand[XG_HULL_MAX_ELEMENTS], ncand = 0, nclear = 0;
            unsigned char clears[XG_HULL_MAX_ELEMENTS] = {0};
            for (int k = 0; k < d.n; k++) {
                const char *eid;
                if (d.entry[k] < 0)
                    continue;
                if ((rc = xg_hull_entry(h, d.entry[k], NULL, NULL, &eid, err)))
                    break;
                if (bsearch(&eid, ids, (size_t)nid, sizeof *ids, id_cmp))
                    cand[ncand++] = k;
            }
            for (int c = 0; ncand > 1 && c < ncand && !rc; c++) {
                const char *eid;
                double hx;
                if ((rc = xg_hull_entry(h, d.entry[cand[c]], NULL, NULL, &eid, err)) ||
                    (rc = xg_hull_energy(h, &w->comp, eid, &hx, NULL, err)))
                    break;
                if (hx >= w->e_form - w->e_hull_mp - tol) {
                    clears[c] = 1;
                    nclear++;
                }
            }
            for (int c = 0; c < ncand && !rc; c++) {
                int k = cand[c];
                if (nclear > 0 && !clears[c])
                    continue;
                const char *eid;
                if ((rc = xg_hull_entry(h, d.entry[k], NULL, NULL, &eid, err)))
                    break;
                blamed_now[d.entry[k]] = 1;
                for (long j = 0; j < rs->n; j++) /* every row of that id (rare: linear is fine) */
                    if (!drop[j] && !strcmp(rs->r[j].id, eid)) {
                        drop[j] = 1;
                        newly++;
                        if (!quiet) {
                            char buf[128];
                            if (xg_hull_comp_format(&rs->r[j].comp, buf, sizeof buf, &e2))
                                snprintf(buf, sizeof buf, "?");
                            fprintf(stderr,
                                    "xtalgen hull: dropping %s %s (%.4f eV/atom): it puts the "
                                    "hull %.4f eV/atom below MP's at %s %s\n",
                                    eid, buf, rs->r[j].e_form, vs[v].excess, w->id, wf);
                        }
                    }
            }
        }
        free(blamed_now);
        free(vs);
        xg_hull_free(h);
        *ndropped += newly;
        if (!newly)
            break;
    }
    free(ids);
    return rc;
}

static int do_build(int argc, char **argv)
{
    build_args A;
    xg_opts_args args;
    if (xg_opts_parse("hull build", BUILD_OPTS, argc, argv, &A, sizeof A, &args, 0))
        return XG_EXIT_USAGE;
    const char *const *inputs = A.entries;
    int ninputs = A.nentries, keep_all = A.keep_all, quiet = A.quiet, consistent = A.consistent;
    const char *out = A.out;
    if (ninputs == 0 || !out) {
        xg_cli_errorf(CMD, "build needs --entries FILE... and -o HULL.h5");
        return XG_EXIT_USAGE;
    }
    if (xg_cli_check_output(CMD, "-o", out, inputs, ninputs))
        return XG_EXIT_USAGE;
    xg_error err;
    xg_error_clear(&err);
    double t0 = xg_now();
    rows rs = {0};
    for (int f = 0; f < ninputs; f++) {
        long before = rs.n, skipped = 0;
        if (read_rows(inputs[f], &rs, &skipped, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            free(rs.r);
            return XG_EXIT_FAIL;
        }
        if (!quiet)
            fprintf(stderr, "xtalgen hull: %s: %ld entries (%ld without an energy skipped)\n",
                    inputs[f], rs.n - before, skipped);
    }
    unsigned char *drop = calloc((size_t)(rs.n > 0 ? rs.n : 1), 1);
    xg_hull *h = NULL;
    long ndropped = 0;
    int rc = drop ? XG_OK : xg_error_set(&err, XG_ENOMEM, "out of memory");
    if (!rc && consistent)
        rc = drop_inconsistent(&rs, drop, 0.01, quiet, &ndropped, &err);
    if (!rc)
        rc = build_hull(&rs, drop, keep_all, &h, &err);
    if (!rc)
        rc = xg_hull_write_h5(h, out, &err);
    if (rc) {
        xg_cli_errorf(CMD, "%s", err.msg);
    } else if (!quiet) {
        printf("%s: %lld of %ld entries kept (%s)", out, (long long)xg_hull_size(h), rs.n,
               keep_all ? "all" : "on the hull");
        if (consistent)
            printf(", %ld dropped as inconsistent with MP's e_above_hull", ndropped);
        printf(" in %.2f s\n", xg_now() - t0);
    }
    xg_hull_free(h);
    free(drop);
    free(rs.r);
    return rc ? XG_EXIT_FAIL : XG_EXIT_OK;
}

static void format_comp(const xg_hull_comp *c, char *buf, size_t n)
{
    xg_error err;
    if (xg_hull_comp_format(c, buf, n, &err))
        snprintf(buf, n, "?");
}

typedef struct {
    int quiet;
} query_args;

static const xg_opt QUERY_OPTS[] = {
    XG_OPT_T("\n"
             "query   prints the hull energy at FORMULA (\"Fe2O3\", \"Nd(Al2Cu)4\") with its decomposition\n"
             "        into reference phases and, given ENERGY (eV/atom), the energy above the hull.\n"),
    XG_OPT_QUIET(query_args, quiet),
    XG_OPT_TABLE_END};

static int do_query(int argc, char **argv)
{
    query_args A;
    xg_opts_args args;
    if (xg_opts_parse("hull query", QUERY_OPTS, argc, argv, &A, sizeof A, &args, 3))
        return XG_EXIT_USAGE;
    argc = args.npos + 1; /* argv[1..] now holds the arguments, in order */
    if (argc != 3 && argc != 4) {
        xg_cli_errorf(CMD, "query needs HULL.h5 FORMULA [ENERGY]");
        return XG_EXIT_USAGE;
    }
    xg_error err;
    xg_hull_comp c;
    double e = NAN;
    if (xg_hull_comp_parse(argv[2], &c, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_USAGE;
    }
    if (argc == 4 && xg_cli_parse_double(CMD, "ENERGY", argv[3], -1e3, 1e3, &e))
        return XG_EXIT_USAGE;
    xg_hull *h = NULL;
    if (xg_hull_read_h5(argv[1], &h, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    double hv;
    xg_hull_decomp d;
    if (xg_hull_energy(h, &c, NULL, &hv, &d, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        xg_hull_free(h);
        return XG_EXIT_FAIL;
    }
    char buf[256];
    format_comp(&c, buf, sizeof buf);
    printf("formula       %s\n", buf);
    printf("hull_energy   %.6f eV/atom\n", hv);
    if (!isnan(e)) {
        printf("e_form        %.6f eV/atom\n", e);
        printf("e_above_hull  %.6f eV/atom%s\n", e - hv,
               e - hv < 0 ? "  (below the reference hull)" : "");
    }
    printf("decomposition (atom fraction, phase, id, formation energy eV/atom):\n");
    for (int i = 0; i < d.n; i++) {
        if (d.entry[i] < 0) {
            const xg_element *el = xg_element_get((int)-d.entry[i]);
            printf("  %.6f  %-16s %-14s %.6f\n", d.fraction[i], el ? el->symbol : "?", "(element)",
                   0.0);
        } else {
            xg_hull_comp ec;
            double ee;
            const char *id;
            if (xg_hull_entry(h, d.entry[i], &ec, &ee, &id, &err)) {
                xg_cli_errorf(CMD, "%s", err.msg);
                xg_hull_free(h);
                return XG_EXIT_FAIL;
            }
            format_comp(&ec, buf, sizeof buf);
            printf("  %.6f  %-16s %-14s %.6f\n", d.fraction[i], buf, id[0] ? id : "-", ee);
        }
    }
    xg_hull_free(h);
    return XG_EXIT_OK;
}

static int do_check(int argc, char **argv)
{
    check_args A;
    xg_opts_args args;
    if (xg_opts_parse("hull check", CHECK_OPTS, argc, argv, &A, sizeof A, &args, 2))
        return XG_EXIT_USAGE;
    const char *hull_path = args.npos > 0 ? args.pos[0] : NULL;
    const char *data_path = args.npos > 1 ? args.pos[1] : NULL;
    const char *report = A.report;
    double tol = A.tol, eq_tol = A.eq_tol;
    int exclude_self = A.exclude_self;
    if (!hull_path || !data_path) {
        xg_cli_errorf(CMD, "check needs HULL.h5 DATASET");
        return XG_EXIT_USAGE;
    }
    xg_error err;
    xg_error_clear(&err);
    xg_hull *h = NULL;
    if (xg_hull_read_h5(hull_path, &h, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    rows rs = {0};
    long skipped = 0;
    if (read_rows(data_path, &rs, &skipped, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        xg_hull_free(h);
        free(rs.r);
        return XG_EXIT_FAIL;
    }
    double t0 = xg_now();
    double *ours = malloc((size_t)(rs.n > 0 ? rs.n : 1) * sizeof *ours);
    if (!ours) {
        xg_cli_errorf(CMD, "out of memory");
        xg_hull_free(h);
        free(rs.r);
        return XG_EXIT_FAIL;
    }
    int failed = 0;
    long n = rs.n;
    /* Queries are independent and the hull is read-only: one per iteration, any thread. */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 32)
#endif
    for (long i = 0; i < n; i++) {
        xg_error e1;
        double hv;
        ours[i] = NAN;
        if (xg_hull_energy(h, &rs.r[i].comp, exclude_self ? rs.r[i].id : NULL, &hv, NULL, &e1)) {
#ifdef _OPENMP
#pragma omp critical(xg_hull_check_err)
#endif
            {
                if (!failed)
                    err = e1;
                failed = 1;
            }
            continue;
        }
        ours[i] = rs.r[i].e_form - hv;
    }
    double dt = xg_now() - t0;
    if (failed) {
        xg_cli_errorf(CMD, "%s", err.msg);
        free(ours);
        free(rs.r);
        xg_hull_free(h);
        return XG_EXIT_FAIL;
    }
    long checked = 0, over = 0, equal = 0, lower = 0;
    double max_excess = -INFINITY, sum_abs = 0;
    long worst = -1;
    for (long i = 0; i < n; i++) {
        if (!isfinite(rs.r[i].e_hull_mp)) {
            continue;
        }
        double d = ours[i] - rs.r[i].e_hull_mp;
        checked++;
        sum_abs += fabs(d);
        if (d > max_excess) {
            max_excess = d;
            worst = i;
        }
        if (d > tol)
            over++;
        if (fabs(d) <= eq_tol)
            equal++;
        else if (d < 0)
            lower++;
    }
    int rc = XG_EXIT_OK;
    if (report) {
        xg_atomic_file af;
        if (xg_atomic_open(&af, report, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            rc = XG_EXIT_FAIL;
        } else {
            fprintf(af.f, "id,formula,e_form,e_hull_mp,e_hull_ours\n");
            for (long i = 0; i < n; i++) {
                char buf[256];
                format_comp(&rs.r[i].comp, buf, sizeof buf);
                fprintf(af.f, "%s,%s,%.10g,%.10g,%.10g\n", rs.r[i].id, buf, rs.r[i].e_form,
                        rs.r[i].e_hull_mp, ours[i]);
            }
            if (xg_atomic_commit(&af, &err)) {
                xg_cli_errorf(CMD, "%s", err.msg);
                rc = XG_EXIT_FAIL;
            }
        }
    }
    printf("hull check: %s against %s (%lld reference entries)\n", data_path, hull_path,
           (long long)xg_hull_size(h));
    printf("  own entry:            %s\n",
           exclude_self ? "excluded (entries with the crystal's id left out)"
                        : "included (when the crystal is in the reference set)");
    printf("  crystals:             %ld with a formation energy (%ld skipped without), %ld with "
           "MP e_above_hull\n",
           n, skipped, checked);
    if (checked > 0) {
        printf("  ours > MP + %.3g:     %ld%s\n", tol, over, over ? "  FAIL" : "  (pass)");
        printf("  max(ours - MP):       %.6f eV/atom", max_excess);
        if (worst >= 0) {
            char buf[256];
            format_comp(&rs.r[worst].comp, buf, sizeof buf);
            printf("  (%s %s: ours %.6f, MP %.6f)", rs.r[worst].id, buf, ours[worst],
                   rs.r[worst].e_hull_mp);
        }
        printf("\n");
        printf("  equal within %.3g:    %ld of %ld (%.2f%%)\n", eq_tol, equal, checked,
               100.0 * (double)equal / (double)checked);
        printf("  ours lower than MP:   %ld (fewer competing phases in our reference set)\n",
               lower);
        printf("  mean |ours - MP|:     %.6f eV/atom\n", sum_abs / (double)checked);
    }
    printf("  query time:           %.3f s (%.1f us per crystal)\n", dt,
           n > 0 ? 1e6 * dt / (double)n : 0.0);
    if (over > 0 && rc == XG_EXIT_OK)
        rc = XG_EXIT_FAIL;
    free(ours);
    free(rs.r);
    xg_hull_free(h);
    return rc;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return XG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "build"))
        return do_build(argc - 1, argv + 1);
    if (!strcmp(argv[1], "m3gnet"))
        return xg_hull_m3gnet_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "query"))
        return do_query(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return do_check(argc - 1, argv + 1);
    xg_cli_errorf(CMD, "unknown subcommand '%s' (build, query or check)", argv[1]);
    return XG_EXIT_USAGE;
}

const xg_command xg_command_hull = {"hull", run,
                                    "convex-hull stability: build the reference, query, check",
                                    usage};
static const xg_opt *const MORE[] = {QUERY_OPTS, CHECK_OPTS, xg_hull_m3gnet_opts, NULL};
const xg_command_options xg_options_hull = {BUILD_OPTS, NULL, MORE};
