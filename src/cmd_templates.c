/* cmd_templates.c: `xtalgen templates`: build and inspect the space-group template tables
 * that `generate --symmetry template` samples inside (diffusion/xg_template.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_symmetry.h"
#include "diffusion/xg_template.h"
#include "src/cli.h"
#include "src/commands.h"

#define CMD "templates"

static const char usage[] =
    "usage: xtalgen templates build --data TRAIN.h5 -o TABLE.h5 [--symprec S] [--quiet]\n"
    "       xtalgen templates show TABLE.h5 [--top K]\n"
    "\n"
    "";

typedef struct {
    const char *data, *out;
    double symprec;
    long top;
    int quiet;
} tpl_args;

static const xg_opt BUILD_OPTS[] = {
    XG_OPT_T("build: analyses every crystal of an xtalgen dataset (`xtalgen dataset import`; use the set\n"
             "the model was trained on, in the cell it was trained on) with spglib and writes the table\n"
             "of distinct space-group templates with their training frequencies: the operations of the\n"
             "cell, the orbits of equivalent atoms, each orbit's site-symmetry operations and its\n"
             "representative position. Distinct means a different (space group, number of atoms,\n"
             "orbits as multiplicity + Wyckoff letter + site symmetry). Every training crystal is kept\n"
             "as a member: its template and the element on each orbit, which `generate --composition`\n"
             "uses to take the templates of chemically similar crystals of the same stoichiometry\n"
             "(--csp-templates similar). The shipped table for the MP-20 models is\n"
             "data/models/templates-mp20.h5; `generate --templates TABLE.h5` uses another.\n"),
    XG_OPT_S("--data", NULL, tpl_args, data, "FILE", NULL, "the training dataset (required)"),
    XG_OPT_OUTPUT(tpl_args, out, "FILE", "the table to write (required; written atomically)"),
    XG_OPT_SYMPREC(tpl_args, symprec, "spglib tolerance in Angstrom (MP-20's own)"),
    XG_OPT_QUIET(tpl_args, quiet),
    XG_OPT_TABLE_END};

static const xg_opt SHOW_OPTS[] = {
    XG_OPT_T("\n"
             "show: prints the table's provenance, how many templates each space group has, and the K\n"
             "most frequent templates with their orbits.\n"),
    XG_OPT_I("--top", NULL, tpl_args, top, "K", 0, 1000000, "20", "templates listed"),
    XG_OPT_QUIET(tpl_args, quiet),
    XG_OPT_TABLE_END};

typedef struct {
    xg_progress *bar;
} prog_ctx;

static void on_progress(void *ctx, long done, long total)
{
    (void)total;
    xg_progress_update(((prog_ctx *)ctx)->bar, done);
}

static int build(int argc, char **argv)
{
    tpl_args A;
    xg_opts_args args;
    if (xg_opts_parse("templates build", BUILD_OPTS, argc - 1, argv + 1, &A, sizeof A, &args, 0))
        return XG_EXIT_USAGE;
    const char *data = A.data, *outp = A.out;
    double symprec = A.symprec;
    int quiet = A.quiet;
    if (!data || !outp) {
        xg_cli_errorf(CMD, "build needs --data TRAIN.h5 and -o TABLE.h5");
        return XG_EXIT_USAGE;
    }
    xg_error err = {0};
    xg_dataset *ds = NULL;
    if (xg_dataset_read_h5(data, &ds, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    xg_progress bar;
    xg_progress_start(&bar, "templates", (long)ds->n, quiet);
    prog_ctx pc = {&bar};
    xg_template_table *tab = NULL;
    double t0 = xg_now();
    int rc = xg_template_table_build(ds, symprec, data, on_progress, &pc, &tab, &err);
    xg_progress_finish(&bar);
    xg_dataset_free(ds);
    if (rc || xg_template_table_write(tab, outp, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        xg_template_table_free(tab);
        return XG_EXIT_FAIL;
    }
    if (!quiet)
        fprintf(stderr, "xtalgen templates: %d distinct templates from %lld crystals (%lld "
                        "without one) at symprec %g in %.0f s -> %s\n",
                tab->n, (long long)tab->ncrystals, (long long)tab->nskipped, symprec,
                xg_now() - t0, outp);
    xg_template_table_free(tab);
    return XG_EXIT_OK;
}

typedef struct {
    int64_t freq;
    int idx;
} ranked;

/* Most frequent first; ties in table order. */
static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->freq != y->freq)
        return x->freq < y->freq ? 1 : -1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int show(int argc, char **argv)
{
    tpl_args A;
    xg_opts_args args;
    if (xg_opts_parse("templates show", SHOW_OPTS, argc - 1, argv + 1, &A, sizeof A, &args, 1))
        return XG_EXIT_USAGE;
    const char *path = args.npos ? args.pos[0] : NULL;
    long top = A.top;
    if (!path) {
        xg_cli_errorf(CMD, "show needs a TABLE.h5");
        return XG_EXIT_USAGE;
    }
    xg_error err = {0};
    xg_template_table *tab = NULL;
    if (xg_template_table_read(path, &tab, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    int64_t per[231] = {0}, nt[231] = {0}, total = 0;
    for (int i = 0; i < tab->n; i++) {
        per[tab->t[i].spacegroup] += tab->t[i].frequency;
        nt[tab->t[i].spacegroup]++;
        total += tab->t[i].frequency;
    }
    int groups = 0;
    for (int g = 1; g <= 230; g++)
        groups += nt[g] > 0;
    printf("%s: %d templates in %d space groups from %lld crystals of %s (%lld without a "
           "template), spglib symprec %g\n", path, tab->n, groups, (long long)tab->ncrystals,
           tab->source, (long long)tab->nskipped, tab->symprec);
    if (tab->nmembers > 0)
        printf("members: %lld training crystals with the element on each orbit (for "
               "generate --csp-templates similar)\n", (long long)tab->nmembers);
    else
        printf("members: none (a table from before issue 16; generate --composition then draws "
               "templates by frequency)\n");
    printf("space group: templates, share of the training crystals\n");
    for (int g = 1; g <= 230; g++)
        if (nt[g]) {
            char sym[16];
            xg_symmetry_spacegroup_symbol(g, sym);
            printf("  %3d %-10s %5lld  %6.2f%%\n", g, sym, (long long)nt[g],
                   100.0 * (double)per[g] / (double)(total ? total : 1));
        }
    ranked *idx = malloc(sizeof *idx * (size_t)tab->n);
    if (!idx) {
        xg_template_table_free(tab);
        xg_cli_errorf(CMD, "out of memory");
        return XG_EXIT_FAIL;
    }
    for (int i = 0; i < tab->n; i++) {
        idx[i].freq = tab->t[i].frequency;
        idx[i].idx = i;
    }
    qsort(idx, (size_t)tab->n, sizeof *idx, cmp_ranked);
    if (top > 0)
        printf("most frequent templates: frequency, group, N, operations, orbits "
               "(multiplicity+Wyckoff letter, site symmetry), example\n");
    for (long k = 0; k < top && k < tab->n; k++) {
        const xg_template *t = &tab->t[idx[k].idx];
        char sym[16];
        xg_symmetry_spacegroup_symbol(t->spacegroup, sym);
        printf("  %6lld  %3d %-10s N=%-3d ops=%-3d ", (long long)t->frequency, t->spacegroup, sym,
               t->natoms, t->nops);
        for (int o = 0; o < t->norbits; o++)
            printf("%s%d%c(%s)", o ? " " : "", t->orbit_start[o + 1] - t->orbit_start[o],
                   t->wyckoff[o], t->site_symbol[o]);
        printf("  %s\n", t->example);
    }
    free(idx);
    xg_template_table_free(tab);
    return XG_EXIT_OK;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        xg_cli_errorf(CMD, "expects build or show (see xtalgen help templates)");
        return XG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "build"))
        return build(argc, argv);
    if (!strcmp(argv[1], "show"))
        return show(argc, argv);
    xg_cli_errorf(CMD, "unknown subcommand '%s' (build or show)", argv[1]);
    return XG_EXIT_USAGE;
}

const xg_command xg_command_templates = {"templates", run,
                                         "build or show space-group template tables", usage};
static const xg_opt *const MORE[] = {SHOW_OPTS, NULL};
const xg_command_options xg_options_templates = {BUILD_OPTS, NULL, MORE};
