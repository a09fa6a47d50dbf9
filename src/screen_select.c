/* screen_select.c: crystals selected by the flags of a screen.csv (see screen_select.h). */
#include "src/screen_select.h"

#include "crystal/xg_structure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crystal/xg_csv.h"

#define MAX_FLAGS 8

static const char *const known[] = {"valid", "valid_structure", "valid_composition", "unique",
                                    "novel", "stable", "sun", "valid_geometry", "in_domain"};

static int split_flags(const char *only, char flags[MAX_FLAGS][32], xg_error *err)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", only);
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= !strcmp(tok, known[k]);
        if (!ok) {
            xg_error_set(err, XG_EINVAL, "--only: unknown flag '%s' (known: %s)", tok,
                         XG_SELECT_FLAGS_HELP);
            return -1;
        }
        if (n == MAX_FLAGS) {
            xg_error_set(err, XG_EINVAL, "--only: at most %d flags", MAX_FLAGS);
            return -1;
        }
        snprintf(flags[n++], 32, "%s", tok);
    }
    if (n == 0) {
        xg_error_set(err, XG_EINVAL, "--only: no flag given");
        return -1;
    }
    return n;
}

int xg_select_check_flags(const char *only, xg_error *err)
{
    char flags[MAX_FLAGS][32];
    return split_flags(only, flags, err) < 0 ? XG_EINVAL : XG_OK;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int xg_select_find_screen(const char *input, const char *screen, char *out, size_t n,
                          xg_error *err)
{
    if (screen) {
        snprintf(out, n, "%s", screen);
        return XG_OK;
    }
    const char *cands[] = {"%s/screen/screen.csv", "%s/screen_out/screen.csv", NULL};
    for (int k = 0; cands[k]; k++) {
        snprintf(out, n, cands[k], input);
        if (file_exists(out))
            return XG_OK;
    }
    snprintf(out, n, "screen_out/screen.csv");
    if (file_exists(out))
        return XG_OK;
    return xg_error_set(err, XG_EIO,
                        "--only needs a screen.csv: run `xtalgen screen %s -o %s/screen` first "
                        "or pass --screen FILE",
                        input, input);
}

unsigned char *xg_select_by_flags(const xg_dataset *ds, const char *screen, const char *only,
                                  xg_error *err)
{
    char flags[MAX_FLAGS][32];
    xg_error_clear(err);
    int nflags = split_flags(only, flags, err);
    if (nflags <= 0)
        return NULL;
    xg_csv_reader *r = NULL;
    if (xg_csv_open(screen, &r, err))
        return NULL;
    int cid = xg_csv_column(r, "id");
    int cformula = xg_csv_column(r, "formula");
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
        if (i >= 0 && cformula >= 0) {
            /* A screen.csv of another run (a reused folder) has the same ids for other
             * crystals: its verdicts must not be applied to these (issue 19). */
            char formula[256] = "";
            xg_structure *st = xg_dataset_get(ds, i, err);
            if (!st)
                break;
            xg_structure_reduced_formula(st, formula, sizeof formula);
            xg_structure_free(st);
            const char *want = xg_csv_field(r, cformula);
            if (strcmp(formula, want) != 0) {
                xg_error_set(err, XG_EINVAL,
                             "%s: row '%s' has formula %s but the crystal '%s' is %s: this "
                             "screen.csv belongs to other crystals (screen them again)",
                             screen, id, want, id, formula);
                break;
            }
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
