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

#include "diffusion/xg_evalpool.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_sampler.h"
#include "diffusion/xg_template.h"
#include "src/bench_sampler.h"
#include "src/cli.h"
#include "src/gen_sample.h"
#include "src/model_path.h"
#include "src/xg_opts.h"

static const char *const CMD = "bench sampler";

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const char *model, *templates;
    long n, steps, batch, threads, corrector;
    uint64_t seed;
    int symmetry, quiet;
} bs_args;

const xg_opt xg_bench_sampler_opts[] = {
    XG_OPT_T("\n"
             "usage: xtalgen bench sampler [--model FILE] [-n N] [--steps S] [--corrector K]\n"
             "                             [--batch B] [--threads T] [--symmetry template|none]\n"
             "\n"
             "Generates N crystals as generate does at its defaults, writes nothing, and prints\n"
             "crystals/s, wall and CPU time, the network's share of the time and the time per\n"
             "crystal and step spent outside the network (sampler updates, projections, RNG).\n"
             "\n"),
    XG_OPT_S("--model", NULL, bs_args, model, "FILE", NULL, "the model (default: the shipped one)"),
    XG_OPT_S("--templates", NULL, bs_args, templates, "FILE", NULL,
             "template table (default: the shipped one)"),
    XG_OPT_I("-n", "--num", bs_args, n, "N", 1, 1000000, "64", "crystals to generate"),
    XG_OPT_I("--steps", NULL, bs_args, steps, "S", 1, 100000, NULL,
             "reverse-diffusion steps (default: generate's)"),
    XG_OPT_I("--corrector", NULL, bs_args, corrector, "K", 0, 100, "1",
             "Langevin corrector moves per step"),
    XG_OPT_I("--batch", "--batch_size", bs_args, batch, "B", 1, 100000, "64",
             "crystals denoised together"),
    XG_OPT_THREADS_ALL(bs_args, threads),
    XG_OPT_U("--seed", NULL, bs_args, seed, "S", "1", "random seed"),
    XG_OPT_E("--symmetry", NULL, bs_args, symmetry, "template|none", "template",
             "symmetric template sampling or none"),
    XG_OPT_QUIET(bs_args, quiet),
    XG_OPT_TABLE_END};

int xg_bench_sampler(int argc, char **argv)
{
    bs_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, xg_bench_sampler_opts, argc, argv, &A, sizeof A, &args, 0))
        return XG_EXIT_USAGE;
    const char *model = A.model, *templates = A.templates;
    long n = A.n, steps = A.steps, batch = A.batch, threads = A.threads, corrector = A.corrector;
    uint64_t seed = A.seed;
    int symmetric = A.symmetry == 0, quiet = A.quiet;
    if (!xg_opts_given(xg_bench_sampler_opts, &args, "--steps"))
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
    int *cls_buf = malloc((size_t)batch * GEN_CLASS_STRIDE * sizeof *cls_buf);
    const int **cls = calloc((size_t)batch, sizeof *cls);
    xg_class_prior *prior = malloc(sizeof *prior);
    if (!natoms || !tpl || !out || !cls_buf || !cls || !prior) {
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
    int pat = tab && tab->nmembers > 0; /* generate's default element patterns and prior */
    so.orbit_class = pat ? cls : NULL;
    if (pat && xg_template_table_class_prior(tab, prior, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    so.class_prior = pat ? prior : NULL;
    gen_streams st; /* generate's streams: the same crystals as generate --seed */
    gen_streams_init(&st, (uint64_t)seed);
    long atoms = 0;
    double w0 = xg_now(), c0 = cpu_now();
    for (long done = 0; done < n;) {
        int nb = (int)(n - done < batch ? n - done : batch);
        gen_sample_sizes(&st, &m->stats, tab, NULL, 0, nb, natoms, tpl, pat ? cls_buf : NULL,
                         pat ? cls : NULL);
        for (int k = 0; k < nb; k++)
            atoms += natoms[k];
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
    free(cls_buf);
    free(cls);
    free(prior);
    xg_evalpool_free(pool);
    xg_template_table_free(tab);
    xg_model_free(m);
    return rc;
}
