/* cmd_model.c: `xtalgen model`: look inside model files and turn a training checkpoint into the
 * model file that ships (weights and EMA weights, no optimizer state). */
#include <math.h>
#include <string.h>

#include "diffusion/xg_model.h"
#include "src/cli.h"
#include "src/commands.h"

#define CMD "model"

static const char usage[] =
    "usage: xtalgen model info MODEL.h5\n"
    "       xtalgen model export CHECKPOINT.h5 -o MODEL.h5\n"
    "\n"
    "info    prints a model's network size, noise processes, training settings, training-set\n"
    "        statistics, conditions and, for checkpoints, the per-epoch loss history.\n"
    "export  writes the model file of a checkpoint: configuration, weights, EMA weights and\n"
    "        statistics, without the optimizer state (about half the size). Samplers use the\n"
    "        EMA weights.\n";

static int info(const char *path)
{
    xg_error err = {0};
    xg_model *m = NULL;
    /* A checkpoint carries its history in the training state; a model file has none. */
    if (xg_model_load(path, XG_MODEL_LOAD_STATE, &m, &err) &&
        xg_model_load(path, 0, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    printf("file: %s (%s)\n", path, m->state ? "checkpoint" : "model");
    printf("network: hidden %d, layers %d, Fourier frequencies %d, time features %d, "
           "condition width %d, %zu parameters\n",
           m->cfg.hidden, m->cfg.layers, m->cfg.n_freq, m->cfg.time_dim, m->cfg.cond_dim,
           xg_denoiser_num_params(m->net));
    printf("noise: sigma %g..%g (x N^-1/3), lattice prior c %.4f, density %.5f atoms/A^3\n",
           m->noise.sigma_min, m->noise.sigma_max, m->noise.lattice_c, m->noise.avg_density);
    printf("training: batch %d, lr %g, EMA %g, seed %llu, threads %d\n", m->hp.batch, m->hp.lr,
           m->hp.ema_decay, (unsigned long long)m->hp.seed, m->hp.threads);
    printf("training set: %lld crystals, atoms per crystal up to %d\n",
           (long long)m->stats.nstructs, m->stats.hist_len - 1);
    if (m->state) {
        const xg_train_state *s = m->state;
        printf("state: %lld steps, %lld epochs, %.2f CPU-thread hours of training\n",
               (long long)s->step, (long long)s->epoch, s->elapsed / 3600.0 * (double)s->threads);
        if (s->nhist > 0) {
            printf("%6s %8s %10s %10s %10s\n", "epoch", "step", "lr", "train", "val");
            for (int64_t e = 0; e < s->nhist; e++) {
                const double *h = s->hist + e * XG_HIST_COLS;
                printf("%6.0f %8.0f %10.3g %10.4f %10.4f\n", h[XG_HIST_EPOCH], h[XG_HIST_STEP],
                       h[XG_HIST_LR], h[XG_HIST_TRAIN], h[XG_HIST_VAL]);
            }
        }
    }
    xg_model_free(m);
    return XG_EXIT_OK;
}

static int export_model(const char *in, const char *out)
{
    xg_error err = {0};
    xg_model *m = NULL;
    if (xg_model_load(in, 0, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    int rc = xg_model_write_cond(out, m->net, m->weights, m->ema, &m->noise, &m->hp, &m->stats,
                                 m->cond.n > 0 ? &m->cond : NULL, NULL, &err);
    xg_model_free(m);
    if (rc) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    return XG_EXIT_OK;
}

static int run(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "info") && argc == 3)
        return info(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "export")) {
        const char *in = NULL, *out = NULL;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "-o") || xg_cli_is(argv[i], "--output")) {
                if (!(out = xg_cli_value(CMD, argc, argv, &i)))
                    return XG_EXIT_USAGE;
            } else if (argv[i][0] == '-') {
                xg_cli_errorf(CMD, "unknown option '%s'", argv[i]);
                return XG_EXIT_USAGE;
            } else if (!in) {
                in = argv[i];
            } else {
                xg_cli_errorf(CMD, "export takes one checkpoint");
                return XG_EXIT_USAGE;
            }
        }
        if (!in || !out) {
            xg_cli_errorf(CMD, "usage: xtalgen model export CHECKPOINT.h5 -o MODEL.h5");
            return XG_EXIT_USAGE;
        }
        if (xg_cli_check_output(CMD, "-o", out, &in, 1))
            return XG_EXIT_USAGE; /* the export would drop the checkpoint's optimizer state */
        return export_model(in, out);
    }
    fputs(usage, stderr);
    return XG_EXIT_USAGE;
}

const xg_command xg_command_model = {"model", run, "inspect model files; export a checkpoint",
                                     usage};
