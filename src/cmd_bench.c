/* cmd_bench.c: `xtalgen bench denoiser`: how fast the denoiser runs on this machine, in
 * crystals per second and achieved GFLOP/s, beside what a plain 1024^2 SGEMM reaches, so the
 * training time of a model can be estimated before starting it. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crystal/xg_rng.h"
#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_nn.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/bench_m3gnet.h"
#include "src/bench_sampler.h"

static const char *const CMD = "bench";

static const char USAGE[] =
    "usage: xtalgen bench denoiser [--batch B] [--natoms N] [--hidden H] [--layers L]\n"
    "                              [--n-freq F] [--iters K] [--threads T] [--seed S]\n"
    "\n"
    "Times the denoiser on random crystals of N atoms each (all N^2 pairs per crystal):\n"
    "forward and forward+backward crystals/s and the achieved GFLOP/s, with the machine's\n"
    "1024^2 SGEMM GFLOP/s on one thread and on all cores for context.\n"
    "FLOPs count the GEMMs only (multiply-add = 2; backward = weight- and input-gradient\n"
    "GEMMs); elementwise work (SiLU, layer norm, gathers, Fourier features) is not counted.\n"
    "\n"
    "";

typedef struct {
    long batch, natoms, iters, threads, seed, hidden, layers, n_freq;
    int quiet;
} den_args;

static const xg_opt DEN_OPTS[] = {
    XG_OPT_I("--batch", "--batch_size", den_args, batch, "B", 1, 100000, "64", "crystals per batch"),
    XG_OPT_I("--natoms", NULL, den_args, natoms, "N", 1, 1000, "10", "atoms per crystal"),
    XG_OPT_I("--hidden", NULL, den_args, hidden, "H", 1, 4096, "128",
             "hidden width (the defaults are the recommended configuration)"),
    XG_OPT_I("--layers", NULL, den_args, layers, "L", 0, 64, "4", "message-passing layers"),
    XG_OPT_I("--n-freq", NULL, den_args, n_freq, "F", 1, 64, "8", "Fourier frequencies per dimension"),
    XG_OPT_I("--iters", NULL, den_args, iters, "K", 1, 1000000, "10", "timed iterations of each kind"),
    XG_OPT_THREADS(den_args, threads, 0, "0",
                   "OpenMP and OpenBLAS threads; 0 = as the environment sets them (all cores "
                   "unless OMP_NUM_THREADS says otherwise)"),
    XG_OPT_I("--seed", NULL, den_args, seed, "S", 0, 0x7fffffffL, "1",
             "seed of the random weights and crystals"),
    XG_OPT_QUIET(den_args, quiet),
    XG_OPT_TABLE_END};

/* CPU seconds of the whole process (all threads): on a shared machine wall time depends on
 * the neighbours, CPU time much less. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GFLOP/s of C = A B for 1024^2 matrices with the current OpenBLAS thread count. */
static double sgemm_gflops(float *a, float *b, float *c, int n)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    int reps = 0;
    double t0 = xg_now(), t;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        reps++;
        t = xg_now() - t0;
    } while (t < 0.5 && reps < 1000);
    return 2.0 * n * (double)n * n * reps / t / 1e9;
}

static int bench_denoiser(int argc, char **argv)
{
    den_args o;
    xg_opts_args args;
    if (xg_opts_parse("bench denoiser", DEN_OPTS, argc, argv, &o, sizeof o, &args, 0))
        return XG_EXIT_USAGE;
    xg_denoiser_config cfg;
    xg_denoiser_default_config(&cfg);
    cfg.hidden = (int)o.hidden;
    cfg.layers = (int)o.layers;
    cfg.n_freq = (int)o.n_freq;
    long batch = o.batch, natoms = o.natoms, iters = o.iters, threads = o.threads, seed = o.seed;
    if ((double)batch * natoms * natoms > 2e9) {
        xg_cli_errorf(CMD, "batch %ld of %ld atoms has too many pairs", batch, natoms);
        return XG_EXIT_USAGE;
    }

    /* SGEMM reference first, on 1 thread and on all cores. */
    long ncores = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncores < 1)
        ncores = 1;
    const int n = 1024;
    float *ga = malloc(sizeof(float) * n * n), *gb = malloc(sizeof(float) * n * n),
          *gc = malloc(sizeof(float) * n * n);
    if (!ga || !gb || !gc) {
        free(ga), free(gb), free(gc);
        xg_cli_errorf(CMD, "out of memory");
        return XG_EXIT_FAIL;
    }
    for (long k = 0; k < (long)n * n; k++) {
        ga[k] = (float)((k * 7 % 13) - 6) / 6.0f;
        gb[k] = (float)((k * 5 % 11) - 5) / 5.0f;
    }
    int blas_threads0 = openblas_get_num_threads();
    openblas_set_num_threads(1);
    double sg1 = sgemm_gflops(ga, gb, gc, n);
    openblas_set_num_threads((int)ncores);
    double sgn = sgemm_gflops(ga, gb, gc, n);
    free(ga), free(gb), free(gc);
    openblas_set_num_threads(threads > 0 ? (int)threads : blas_threads0);
#ifdef _OPENMP
    if (threads > 0)
        omp_set_num_threads((int)threads);
    int omp_threads = omp_get_max_threads();
#else
    int omp_threads = 1;
#endif

    /* random crystals at MP-20's density */
    xg_error err;
    xg_denoiser *d = xg_denoiser_alloc(&cfg, &err);
    if (!d) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_USAGE;
    }
    xg_denoiser_init_params(d, (uint64_t)seed);
    int S = (int)batch, A = (int)(batch * natoms);
    int *offsets = malloc(sizeof(int) * (S + 1)), *tokens = malloc(sizeof(int) * A);
    float *frac = malloc(sizeof(float) * A * 3), *lat = malloc(sizeof(float) * S * 9);
    float *t = malloc(sizeof(float) * S), *dcoord = malloc(sizeof(float) * A * 3);
    float *dlogits = malloc(sizeof(float) * A * XG_NUM_TYPES),
          *dlat = malloc(sizeof(float) * S * 9);
    int rc = XG_EXIT_FAIL;
    if (!offsets || !tokens || !frac || !lat || !t || !dcoord || !dlogits || !dlat) {
        xg_cli_errorf(CMD, "out of memory");
        goto done;
    }
    xg_rng r;
    xg_rng_seed(&r, (uint64_t)seed, 7);
    double edge = cbrt((double)natoms / 0.0577);
    for (int s = 0; s <= S; s++)
        offsets[s] = s * (int)natoms;
    for (int s = 0; s < S; s++) {
        for (int k = 0; k < 9; k++)
            lat[s * 9 + k] = (float)((k % 4 == 0 ? edge : 0.0) + 0.3 * xg_rng_normal(&r));
        t[s] = (float)(0.001 + 0.999 * xg_rng_uniform(&r));
    }
    for (int i = 0; i < A; i++) {
        tokens[i] = (int)xg_rng_below(&r, XG_NUM_TOKENS);
        for (int k = 0; k < 3; k++)
            frac[i * 3 + k] = (float)xg_rng_uniform(&r);
    }
    for (int k = 0; k < A * 3; k++)
        dcoord[k] = (float)xg_rng_normal(&r) / A;
    for (int k = 0; k < A * XG_NUM_TYPES; k++)
        dlogits[k] = (float)xg_rng_normal(&r) / A;
    for (int k = 0; k < S * 9; k++)
        dlat[k] = (float)xg_rng_normal(&r) / S;
    xg_batch b = {S, A, offsets, tokens, frac, lat, t, NULL, NULL};
    long E = (long)S * natoms * natoms;
    if (xg_denoiser_reserve(d, S, A, E, &err) != XG_OK) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    xg_denoiser_out out;
    /* warm-up: first touch of the arena, OpenBLAS thread start */
    if (xg_denoiser_forward(d, &b, &out, &err) ||
        xg_denoiser_backward(d, &b, dcoord, dlogits, dlat, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    double t0 = xg_now(), c0 = cpu_now();
    for (long it = 0; it < iters; it++)
        if (xg_denoiser_forward(d, &b, &out, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
    double tf = (xg_now() - t0) / iters, cf = (cpu_now() - c0) / iters;
    t0 = xg_now();
    c0 = cpu_now();
    for (long it = 0; it < iters; it++) {
        xg_denoiser_zero_grad(d);
        if (xg_denoiser_forward(d, &b, &out, &err) ||
            xg_denoiser_backward(d, &b, dcoord, dlogits, dlat, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
    }
    double tfb = (xg_now() - t0) / iters, cfb = (cpu_now() - c0) / iters;
    double ff = xg_denoiser_flops(d, &b, 0), ffb = xg_denoiser_flops(d, &b, 1);

    printf("denoiser: hidden %d, layers %d, n_freq %d, time_dim %d, %zu parameters\n", cfg.hidden,
           cfg.layers, cfg.n_freq, cfg.time_dim, xg_denoiser_num_params(d));
    printf(
        "batch: %d crystals x %ld atoms = %d atoms, %ld pairs; threads: OpenMP %d, OpenBLAS %d\n",
        S, natoms, A, E, omp_threads, openblas_get_num_threads());
    printf("forward:          %9.2f ms/batch (CPU %7.2f ms) %9.1f crystals/s %7.2f GFLOP/s "
           "(%.3f GFLOP/batch)\n",
           tf * 1e3, cf * 1e3, S / tf, ff / tf / 1e9, ff / 1e9);
    printf("forward+backward: %9.2f ms/batch (CPU %7.2f ms) %9.1f crystals/s %7.2f GFLOP/s "
           "(%.3f GFLOP/batch)\n",
           tfb * 1e3, cfb * 1e3, S / tfb, ffb / tfb / 1e9, ffb / 1e9);
    printf("sgemm 1024^2:     %8.2f GFLOP/s on 1 thread, %.2f GFLOP/s on %ld threads\n", sg1, sgn,
           ncores);
    printf("OpenBLAS kernels: %s\n", openblas_get_corename());
    printf("(GFLOP counts GEMMs only, multiply-add = 2; see `xtalgen help bench`)\n");
    fflush(stdout);
    /* OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to its SSE3 kernels,
     * 3-4x slower; the core type can only be chosen before the library loads. */
    if (!strcmp(openblas_get_corename(), "Prescott") && __builtin_cpu_supports("avx2"))
        fprintf(stderr,
                "xtalgen bench: note: OpenBLAS runs its generic SSE3 kernels on this "
                "AVX2 CPU; OPENBLAS_CORETYPE=%s in the environment makes GEMMs ~3x faster\n",
                __builtin_cpu_supports("avx512f") ? "SkylakeX" : "Haswell");
    rc = XG_EXIT_OK;
done:
    free(offsets), free(tokens), free(frac), free(lat), free(t), free(dcoord), free(dlogits),
        free(dlat);
    xg_denoiser_free(d);
    return rc;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        xg_cli_errorf(CMD, "which benchmark? (`xtalgen bench denoiser`)");
        fputs(USAGE, stderr);
        return XG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "denoiser"))
        return bench_denoiser(argc - 1, argv + 1);
    if (!strcmp(argv[1], "m3gnet"))
        return xg_bench_m3gnet(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sampler"))
        return xg_bench_sampler(argc - 1, argv + 1);
    xg_cli_errorf(CMD, "unknown benchmark '%s' (known: denoiser, m3gnet, sampler)", argv[1]);
    return XG_EXIT_USAGE;
}

const xg_command xg_command_bench = {"bench", run, "time the denoiser (crystals/s, GFLOP/s)",
                                     USAGE};
static const xg_opt *const MORE[] = {xg_bench_m3gnet_opts, xg_bench_sampler_opts, NULL};
const xg_command_options xg_options_bench = {DEN_OPTS, NULL, MORE};
