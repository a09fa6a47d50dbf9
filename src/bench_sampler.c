/* bench_sampler.c: `xtalgen bench sampler`: crystals per second of the reverse process at
 * generate's settings, and how the time splits between the network and everything around it
 * (the sampler's own updates, template projections, RNG), so that a slow step outside the
 * network is visible (issue 18). Nothing is written: the crystals are generated and freed. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crystal/xg_rng.h"
#include "diffusion/xg_evalpool.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_sampler.h"
#include "diffusion/xg_template.h"
#include "src/bench_sampler.h"
#include "src/cli.h"
#include "src/model_path.h"

static const char *const CMD = "bench sampler";

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int xg_bench_sampler(int argc, char **argv)
{
    const char *model = NULL, *templates = NULL;
    long n = 64, steps = -1, batch = 64, threads = 0, seed = 1, corrector = 1;
    int symmetric = 1, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (xg_cli_is(a, "--model")) {
            if (!(model = xg_cli_value(CMD, argc, argv, &i))) return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--templates")) {
            if (!(templates = xg_cli_value(CMD, argc, argv, &i))) return XG_EXIT_USAGE;
        } else if (!strcmp(a, "-n")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_int(CMD, "-n", v, 1, 1000000, &n)) return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--steps")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_int(CMD, "--steps", v, 1, 100000, &steps)) return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--corrector")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_int(CMD, "--corrector", v, 0, 100, &corrector)) return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--batch")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_int(CMD, "--batch", v, 1, 100000, &batch)) return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--threads")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_int(CMD, "--threads", v, 1, 4096, &threads)) return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--seed")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i)) ||
                xg_cli_parse_int(CMD, "--seed", v, 0, INT64_MAX, &seed)) return XG_EXIT_USAGE;
        } else if (xg_cli_is(a, "--symmetry")) {
            if (!(v = xg_cli_value(CMD, argc, argv, &i))) return XG_EXIT_USAGE;
            if (!strcmp(v, "template"))
                symmetric = 1;
            else if (!strcmp(v, "none"))
                symmetric = 0;
            else {
                xg_cli_errorf(CMD, "--symmetry takes template or none, not '%s'", v);
                return XG_EXIT_USAGE;
            }
        } else if (xg_cli_is(a, "--quiet")) {
            quiet = 1;
        } else {
            xg_cli_errorf(CMD, "unknown option '%s' (see xtalgen help bench)", a);
            return XG_EXIT_USAGE;
        }
    }
    if (steps < 0)
        steps = XG_SAMPLER_DEFAULT_STEPS;
    xg_error err = {0};
    char path[4096];
    if (model)
        snprintf(path, sizeof path, "%s", model);
    else if (xg_default_model_path("xtalgen-mp20.h5", path, sizeof path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    xg_model *m = NULL;
    if (xg_model_load(path, XG_MODEL_LOAD_EMA, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    int rc = XG_EXIT_FAIL;
    xg_template_table *tab = NULL;
    xg_evalpool *pool = NULL;
    int *natoms = calloc((size_t)batch, sizeof *natoms);
    const xg_template **tpl = calloc((size_t)batch, sizeof *tpl);
    xg_structure **out = calloc((size_t)batch, sizeof *out);
    if (!natoms || !tpl || !out) {
        xg_cli_errorf(CMD, "out of memory");
        goto done;
    }
    if (symmetric) {
        char tp[4096];
        if (templates)
            snprintf(tp, sizeof tp, "%s", templates);
        else if (xg_default_model_path("templates-mp20.h5", tp, sizeof tp, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        if (xg_template_table_read(tp, &tab, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
    }
    int workers = 1;
#ifdef _OPENMP
    if (threads > 0)
        omp_set_num_threads((int)threads);
    workers = omp_get_max_threads();
#endif
    openblas_set_num_threads(1);
    if (!(pool = xg_evalpool_alloc(m->net, workers, XG_EVALPOOL_CHUNK, &err))) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = (int)steps;
    so.corrector_steps = (int)corrector;
    so.templates = tab ? tpl : NULL;
    xg_rng nrng, trng;
    xg_rng_seed(&nrng, (uint64_t)seed, UINT64_C(1) << 62);
    xg_rng_seed(&trng, (uint64_t)seed, (UINT64_C(1) << 62) + 1);
    long atoms = 0;
    double w0 = xg_now(), c0 = cpu_now();
    for (long done = 0; done < n;) {
        int nb = (int)(n - done < batch ? n - done : batch);
        for (int k = 0; k < nb; k++) {
            if (tab) {
                int ti = xg_template_table_draw(tab, NULL, 0, &trng);
                tpl[k] = &tab->t[ti];
                natoms[k] = tpl[k]->natoms;
            } else {
                natoms[k] = xg_model_sample_natoms(&m->stats, &nrng);
            }
            atoms += natoms[k];
        }
        if (xg_sampler_run(&m->noise, xg_evalpool_eval, pool, &so, nb, natoms, (uint64_t)seed,
                           (uint64_t)done, out, NULL, NULL, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        for (int k = 0; k < nb; k++) {
            xg_structure_free(out[k]);
            out[k] = NULL;
        }
        done += nb;
        if (!quiet)
            fprintf(stderr, "\rxtalgen bench sampler: %ld of %ld crystals", done, n);
    }
    double wall = xg_now() - w0, cpu = cpu_now() - c0, net = xg_evalpool_seconds(pool);
    if (!quiet)
        fputc('\n', stderr);
    printf("sampler: %s, %s, %ld steps, corrector %ld, batch %ld, %d thread%s\n", path,
           tab ? "symmetric (templates)" : "unconstrained", steps, corrector, batch, workers,
           workers == 1 ? "" : "s");
    printf("  %ld crystals (%.1f atoms on average) in %.2f s wall, %.2f s CPU: %.2f crystals/s\n",
           n, (double)atoms / (double)n, wall, cpu, (double)n / wall);
    printf("  network: %ld evaluations, %.2f s wall = %.1f%% of the time; outside it %.2f s "
           "(%.3f ms per crystal and step)\n",
           xg_evalpool_calls(pool), net, 100.0 * net / wall, wall - net,
           1e3 * (wall - net) / (double)n / (double)steps);
    printf("  projected: 1,000 crystals in %.0f s wall at this rate\n", 1000.0 * wall / (double)n);
    rc = XG_EXIT_OK;
done:
    if (out)
        for (long k = 0; k < batch; k++)
            xg_structure_free(out[k]);
    free(out);
    free(natoms);
    free(tpl);
    xg_evalpool_free(pool);
    xg_template_table_free(tab);
    xg_model_free(m);
    return rc;
}
