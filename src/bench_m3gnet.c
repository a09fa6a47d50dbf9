/* bench_m3gnet.c: `xtalgen bench m3gnet`: CPU milliseconds of one M3GNet energy+forces+stress
 * call on one thread, on an MP-20-like crystal (or the crystals of --input). */
#include "src/bench_m3gnet.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crystal/xg_input.h"
#include "crystal/xg_rng.h"
#include "properties/xg_m3gnet.h"
#include "src/cli.h"
#include "src/relax_util.h"

#define CMD "bench"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* N atoms at MP-20's mean density (0.0577 atoms/A^3) in a slightly skewed cell, no two closer
 * than 1.9 A (random sequential placement), a mix of common elements. */
static xg_structure *synthetic(int n, uint64_t seed)
{
    static const int Z[] = {3, 8, 12, 14, 16, 22, 26, 29, 31, 38, 42, 52};
    xg_structure *s = xg_structure_alloc(n);
    if (!s)
        return NULL;
    double a = cbrt(n / 0.0577);
    double L[3][3] = {{a, 0, 0}, {0.1 * a, 0.98 * a, 0}, {-0.05 * a, 0.08 * a, 1.02 * a}};
    memcpy(s->lattice, L, sizeof L);
    uint64_t st = seed * 0x9E3779B97F4A7C15ULL + 7;
    for (int i = 0; i < n; i++) {
        for (int tries = 0; tries < 10000; tries++) {
            for (int c = 0; c < 3; c++) {
                st = st * 6364136223846793005ULL + 1442695040888963407ULL;
                s->frac[i][c] = (double)(st >> 11) / 9007199254740992.0;
            }
            xg_structure tmp = *s;
            tmp.natoms = i + 1;
            if (i == 0 || xg_structure_min_distance(&tmp) > 1.9)
                break;
        }
        s->types[i] = Z[i % (int)(sizeof Z / sizeof Z[0])];
    }
    snprintf(s->id, sizeof s->id, "synthetic-%d", n);
    return s;
}

typedef struct {
    long natoms, iters;
    const char *input, *model;
    int quiet, precision;
} m3_args;

const xg_opt xg_bench_m3gnet_opts[] = {
    XG_OPT_T("\n"
             "usage: xtalgen bench m3gnet [--natoms N] [--input CRYSTALS] [--iters K] [--model FILE]\n"
             "                            [--precision float32|float64]\n"
             "\n"
             "CPU milliseconds of one M3GNet call on one thread (median of K): energy only\n"
             "and energy + forces + stress, with the bond and three-body triple counts, on a synthetic\n"
             "N-atom crystal at MP-20's mean density or on every crystal of INPUT.\n"
             "\n"),
    XG_OPT_I("--natoms", NULL, m3_args, natoms, "N", 1, 2000, "20", "atoms of the synthetic crystal"),
    XG_OPT_S("--input", NULL, m3_args, input, "CRYSTALS", NULL, "time these crystals instead"),
    XG_OPT_I("--iters", NULL, m3_args, iters, "K", 1, 1000000, "20", "timed calls of each kind"),
    XG_OPT_S("--model", NULL, m3_args, model, "FILE", NULL, "the potential (default: the shipped one)"),
    XG_OPT_E("--precision", NULL, m3_args, precision, "float32|float64", "float32",
             "the network's arithmetic (float64: the reference the tests check gradients in)"),
    XG_OPT_QUIET(m3_args, quiet),
    XG_OPT_TABLE_END};

int xg_bench_m3gnet(int argc, char **argv)
{
    m3_args A;
    xg_opts_args args;
    if (xg_opts_parse("bench m3gnet", xg_bench_m3gnet_opts, argc, argv, &A, sizeof A, &args, 0))
        return XG_EXIT_USAGE;
    long natoms = A.natoms, iters = A.iters;
    const char *input = A.input, *model = A.model;
    xg_error err = {0};
    xg_m3gnet *m = NULL;
    if (xg_relax_load_model(model, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    xg_m3gnet_set_precision(m, (xg_m3gnet_precision)A.precision);
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    xg_dataset *ds = NULL;
    if (input) {
        if (xg_input_read(input, &ds, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            xg_m3gnet_free(m);
            return XG_EXIT_FAIL;
        }
    } else {
        ds = xg_dataset_alloc();
        xg_structure *s = synthetic((int)natoms, 1);
        if (!ds || !s || xg_dataset_append(ds, s, NULL, &err)) {
            xg_cli_errorf(CMD, "out of memory");
            xg_structure_free(s);
            xg_dataset_free(ds);
            xg_m3gnet_free(m);
            return XG_EXIT_FAIL;
        }
        xg_structure_free(s);
    }
    printf("M3GNet (%s), one thread, CPU time per call (median of %ld):\n",
           xg_m3gnet_precision_name(xg_m3gnet_get_precision(m)), iters);
    printf("%-24s %6s %7s %8s %10s %14s\n", "crystal", "atoms", "bonds", "triples", "energy ms",
           "E+F+stress ms");
    int status = XG_EXIT_OK;
    double *t = malloc(sizeof(double) * iters);
    xg_m3gnet_work *w = xg_m3gnet_work_alloc();
    for (int64_t k = 0; t && k < ds->n; k++) {
        xg_structure *s = xg_dataset_get(ds, k, &err);
        long nb = 0, nt = 0;
        double e, st[3][3], (*F)[3] = s ? malloc(sizeof(double[3]) * s->natoms) : NULL;
        if (!s || !F || xg_m3gnet_graph_size(m, s, &nb, &nt, &err) ||
            xg_m3gnet_compute(m, s, &e, F, st, &err)) {
            xg_cli_errorf(CMD, "%s", s ? err.msg : "out of memory");
            status = XG_EXIT_FAIL;
            free(F);
            xg_structure_free(s);
            continue;
        }
        double med[2];
        for (int kind = 0; kind < 2; kind++) {
            for (long r = 0; r < iters; r++) {
                double t0 = cpu_now();
                xg_m3gnet_compute_work(m, w, s, &e, kind ? F : NULL, kind ? st : NULL, &err);
                t[r] = cpu_now() - t0;
            }
            for (long a = 1; a < iters; a++) /* insertion sort: iters is small */
                for (long b = a; b > 0 && t[b] < t[b - 1]; b--) {
                    double x = t[b];
                    t[b] = t[b - 1];
                    t[b - 1] = x;
                }
            med[kind] = t[iters / 2] * 1e3;
        }
        printf("%-24s %6d %7ld %8ld %10.2f %14.2f\n", s->id, s->natoms, nb, nt, med[0], med[1]);
        free(F);
        xg_structure_free(s);
    }
    free(t);
    xg_m3gnet_work_free(w);
    xg_dataset_free(ds);
    xg_m3gnet_free(m);
    return status;
}
