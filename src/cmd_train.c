/* cmd_train.c: `xtalgen train`: fits the denoiser to a dataset (diffusion/xg_train.h), with a
 * progress bar, a validation loss each epoch, checkpoints, and clean stops on SIGINT/SIGTERM
 * or at the end of a --hours budget. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crystal/xg_dataset.h"
#include "diffusion/xg_train.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/train_opts.h"
#include "src/xg_mpi.h"

static const char *const CMD = "train";

static const char USAGE[] =
    "usage: xtalgen train --data TRAIN.h5 [--val VAL.h5] -o MODEL.h5 [options]\n"
    "       xtalgen train --finetune BASE.h5 --condition NAME [--condition NAME2] --data TRAIN.h5\n"
    "                     [--val VAL.h5] -o MODEL.h5 [options]\n"
    "\n"
    "Trains the crystal denoiser on a dataset made by `xtalgen dataset import`. Writes the\n"
    "final model (config, weights, EMA weights, dataset statistics) to MODEL.h5, a checkpoint\n"
    "(everything, for --resume) at each epoch end, every --checkpoint-every minutes and on\n"
    "stop, and the per-epoch loss log to MODEL.log.csv (a trailing .h5 of MODEL dropped).\n"
    "Ctrl-C or SIGTERM finishes the current step, checkpoints and exits 0; a second Ctrl-C\n"
    "kills at once. A resumed run continues exactly where the checkpoint left off: with the\n"
    "same --threads its parameters equal those of an uninterrupted run bit for bit.\n"
    "\n";

typedef struct {
    train_cli t;
    const char *finetune;
    const char *conditions[XG_COND_MAX];
    int ncond;
    double cond_drop, class_mask;
    int allow_new_data, reschedule, csp;
} train_args;

static const xg_opt OPTS[] = {
    TRAIN_OPTS_DATA(train_args, t),
    XG_OPT_S("--val", NULL, train_args, t.val, "PATH", NULL,
             "validation set; its loss (EMA weights, fixed noise) each epoch"),
    XG_OPT_OUTPUT(train_args, t.output, "PATH", "final model file"),
    TRAIN_OPTS_SHAPE(train_args, t, "4"),
    TRAIN_OPTS_OPTIM(train_args, t, "500"),
    TRAIN_OPTS_RUN(train_args, t, "seed of the initialisation, data order and noise", "15"),
    XG_OPT_F("--allow-new-data", NULL, train_args, allow_new_data,
             "with --resume: accept a training set whose contents differ from\n"
             "the checkpoint's in the last bits (a re-import of the same\n"
             "crystals); training continues but is no longer bit-reproducible"),
    XG_OPT_F("--reschedule", NULL, train_args, reschedule,
             "with --resume --epochs E: refit the cosine learning-rate decay\n"
             "to end at epoch E (shorten or lengthen a run under way)"),
    TRAIN_OPTS_TAIL(train_args, t, "use only the first K crystals of each set (quick runs)"),
    XG_OPT_T("\n"
             "data-parallel (a build with -DXTALGEN_MPI=ON): mpirun -n R xtalgen train ... splits each\n"
             "batch of --batch crystals over R processes (--threads each) and sums their gradients\n"
             "before every step; the losses match a single process up to rounding. Rank 0 writes the\n"
             "model, the checkpoint and the log; --resume works with any R.\n"
             "\n"
             "conditioning (classifier-free guidance, DESIGN.md 3.4):\n"),
    XG_OPT_S("--finetune", NULL, train_args, finetune, "BASE.h5", NULL,
             "start from a trained model or checkpoint: its network shape, noise\n"
             "processes and EMA weights (--hidden, --layers, --n-freq ignored);\n"
             "the condition weights start at zero, so training starts from\n"
             "exactly the base network"),
    XG_OPT_L("--condition", NULL, train_args, conditions, ncond, "NAME", XG_COND_MAX,
             "condition on a property of the dataset (e.g. dft_mag_density,\n"
             "band_gap, formation_energy_per_atom; normalised by its mean and std\n"
             "over the labelled training crystals) or on 'chemsys' (the set of\n"
             "elements); repeatable (at most 8). Crystals without a label train\n"
             "with the unconditional vector: missing is never taken as zero"),
    XG_OPT_D("--cond-drop", NULL, train_args, cond_drop, "P", 0, 0.99, "0.2",
             "probability that a labelled crystal trains unconditionally"),
    XG_OPT_T("\ncrystal structure prediction (issue 16):\n"),
    XG_OPT_F("--csp", NULL, train_args, csp,
             "train a CSP model: atom types are never masked, only coordinates\n"
             "and lattice are noised (DiffCSP's setting); the model file records\n"
             "it and `generate --composition` then gives it the types from t = 1.\n"
             "With --finetune BASE.h5 (no --condition needed) it starts from a\n"
             "generative model's weights and noise processes, e.g.\n"
             "xtalgen train --csp --finetune data/models/xtalgen-mp20.h5 \\\n"
             "  --data train.h5 --val val.h5 -o data/models/xtalgen-mp20-csp.h5"),
    XG_OPT_T("\nelement patterns (issue 23):\n"),
    XG_OPT_D("--class-mask", NULL, train_args, class_mask, "P", 0, 1, "0",
             "probability that a crystal's types are masked element by element\n"
             "(all atoms of one element masked or shown together), as `generate`\n"
             "reveals a template's element classes; the others are masked atom by\n"
             "atom. Recorded in the model file. With --finetune BASE.h5 no\n"
             "--condition is needed"),
    XG_OPT_TABLE_END};

/* The only static state: set by the signal handler, read by the progress callback. */
static volatile sig_atomic_t g_stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    g_stop_requested = 1;
}

typedef struct {
    xg_progress bar;
    int bar_on;
    int quiet;
    int silent;  /* ranks other than 0 of a data-parallel run print nothing */
    int nproc;
    int64_t epochs;
    char label[64];
} ui;

static int on_progress(const xg_train_progress *p, void *user)
{
    ui *u = user;
    char eta[32];
    if (u->silent)
        return g_stop_requested ? 1 : 0;
    switch (p->event) {
    case XG_TRAIN_EV_START:
        fprintf(stderr,
                "xtalgen train: %s: %lld training crystals (%lld skipped), %lld validation, "
                "%zu parameters, %lld steps per epoch, starting at epoch %lld step %lld\n",
                p->resumed ? "resuming" : "starting", (long long)p->ntrain, (long long)p->skipped,
                (long long)p->nval, p->nparams, (long long)p->steps_per_epoch,
                (long long)p->epoch + 1, (long long)p->step);
        if (u->nproc > 1)
            fprintf(stderr, "xtalgen train: data-parallel over %d processes (each batch split "
                            "between them, gradients summed)\n", u->nproc);
        if (p->cond && p->cond->n > 0) {
            char names[1024];
            xg_cond_spec_names(p->cond, names, sizeof names);
            fprintf(stderr,
                    "xtalgen train: conditions %s (%d features): %lld of %lld training crystals "
                    "labelled, dropped to unconditional with probability %.2f%s%s\n",
                    names, p->cond->dim, (long long)p->nlabelled, (long long)p->ntrain,
                    p->cond->drop, p->cond->base[0] ? "; fine-tuned from " : "", p->cond->base);
        }
        if (p->resumed && p->ckpt_threads > 0) {
#ifdef _OPENMP
            int nt = omp_get_max_threads();
#else
            int nt = 1;
#endif
            if (nt != p->ckpt_threads)
                fprintf(stderr, "xtalgen train: note: the checkpoint was written with %lld threads, "
                                "this run uses %d: the trajectory will not be bit-identical\n",
                        (long long)p->ckpt_threads, nt);
        }
        u->epochs = p->epochs;
        break;
    case XG_TRAIN_EV_STEP:
        if (!u->bar_on) {
            if (u->epochs > 0)
                snprintf(u->label, sizeof u->label, "epoch %lld/%lld", (long long)p->epoch + 1,
                         (long long)u->epochs);
            else
                snprintf(u->label, sizeof u->label, "epoch %lld", (long long)p->epoch + 1);
            xg_progress_start(&u->bar, u->label, (long)p->steps_per_epoch, u->quiet);
            u->bar_on = 1;
        }
        train_opts_fmt_dur(p->eta, eta, sizeof eta);
        snprintf(u->bar.extra, sizeof u->bar.extra,
                 "loss %.4f (x %.3f l %.3f a %.3f) lr %.2e %.1f cr/s run ETA %s", p->avg_total,
                 p->avg_coord, p->avg_lattice, p->avg_type, p->lr, p->crystals_per_s, eta);
        xg_progress_update(&u->bar, (long)p->step_in_epoch);
        break;
    case XG_TRAIN_EV_EPOCH:
        if (u->bar_on) {
            xg_progress_finish(&u->bar);
            u->bar_on = 0;
        }
        train_opts_fmt_dur(p->elapsed, eta, sizeof eta);
        /* Without --val the validation loss is NaN: say there is none rather than print it. */
        char val[96] = "no validation set";
        if (!isnan(p->val_total))
            snprintf(val, sizeof val, "val %.4f (x %.4f l %.4f a %.4f)", p->val_total,
                     p->val_coord, p->val_lattice, p->val_type);
        fprintf(stderr,
                "xtalgen train: epoch %lld: train %.4f (x %.4f l %.4f a %.4f)  %s  %.1f crystals/s  "
                "%.3f s/batch  elapsed %s\n",
                (long long)p->epoch, p->avg_total, p->avg_coord, p->avg_lattice, p->avg_type, val,
                p->crystals_per_s, p->sec_per_batch, eta);
        break;
    case XG_TRAIN_EV_CHECKPOINT:
        break;
    case XG_TRAIN_EV_DONE:
        if (u->bar_on) {
            xg_progress_finish(&u->bar);
            u->bar_on = 0;
        }
        break;
    }
    return g_stop_requested ? 1 : 0;
}

static int run(int argc, char **argv)
{
    xg_train_config cfg;
    xg_train_config_default(&cfg);
    train_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, sizeof A, &args, 0))
        return XG_EXIT_USAGE;
    const char *data = A.t.data, *valp = A.t.val, *out = A.t.output, *ckpt = A.t.checkpoint;
    int quiet = A.t.quiet;
    for (int k = 0; k < A.ncond; k++) {
        const char *val = A.conditions[k];
        if (!*val || strchr(val, '=')) {
            xg_cli_errorf(CMD, "--condition takes a property name (e.g. dft_mag_density or "
                               "chemsys), not '%s'; values are given to `xtalgen generate`", val);
            return XG_EXIT_USAGE;
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(A.conditions[j], val)) {
                xg_cli_errorf(CMD, "--condition %s given twice", val);
                return XG_EXIT_USAGE;
            }
        cfg.cond_names[k] = val;
    }
    cfg.ncond = A.ncond;
    cfg.finetune_path = A.finetune;
    cfg.cond_drop = A.cond_drop;
    cfg.resume = A.t.resume;
    cfg.allow_new_data = A.allow_new_data;
    cfg.reschedule = A.reschedule;
    cfg.csp = A.csp;
    cfg.noise.class_mask = A.class_mask;
    int epochs_given = xg_opts_given(OPTS, &args, "--epochs");
    if (!data || !out) {
        xg_cli_errorf(CMD, "--data and -o are required (see `xtalgen help train`)");
        return XG_EXIT_USAGE;
    }
    if (cfg.finetune_path && cfg.ncond == 0 && !cfg.csp && !(A.class_mask > 0)) {
        xg_cli_errorf(CMD, "--finetune needs at least one --condition NAME (or --csp, or "
                           "--class-mask P)");
        return XG_EXIT_USAGE;
    }
    if (cfg.reschedule && (!cfg.resume || !epochs_given)) {
        xg_cli_errorf(CMD, "--reschedule needs --resume and --epochs E (the epoch the schedule ends at)");
        return XG_EXIT_USAGE;
    }
    if (xg_opts_given(OPTS, &args, "--cond-drop") && cfg.ncond == 0) {
        xg_cli_errorf(CMD, "--cond-drop needs --condition");
        return XG_EXIT_USAGE;
    }
    if (train_opts_finish(CMD, &A.t, epochs_given, &cfg.net, &cfg.hp, &cfg.stop_at_step))
        return XG_EXIT_USAGE;

    const char *inputs[3] = {data, valp, cfg.finetune_path};
    char *own[2];
    cfg.out_path = out;
    int pc = train_opts_paths(CMD, out, ckpt, NULL, inputs, 3, &cfg.ckpt_path, &cfg.log_path, own);
    if (pc)
        return pc;
    train_opts_set_threads((int)cfg.hp.threads);

    int code = XG_EXIT_OK;
    xg_error err;
    xg_error_clear(&err);
    xg_dataset *tr = NULL, *va = NULL;
    /* Joined after the command line was checked: usage errors exit alike on every rank. */
    xg_mpi mpi;
    if (xg_mpi_init(&mpi, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        free(own[0]);
        free(own[1]);
        return XG_EXIT_FAIL;
    }
    xg_mpi_train_dist(&mpi, &cfg.dist);
    char rank_tag[32] = "";
    if (mpi.size > 1)
        snprintf(rank_tag, sizeof rank_tag, "rank %d: ", mpi.rank);
    if (xg_dataset_read_h5(data, &tr, &err) != XG_OK ||
        (valp && xg_dataset_read_h5(valp, &va, &err) != XG_OK)) {
        xg_cli_errorf(CMD, "%s%s", rank_tag, err.msg);
        code = XG_EXIT_FAIL;
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    ui u;
    memset(&u, 0, sizeof u);
    u.quiet = quiet;
    u.silent = mpi.rank != 0;
    u.nproc = mpi.size;
    xg_train_result res;
    int rc = xg_train_run(&cfg, tr, va, on_progress, &u, &res, &err);
    if (u.bar_on)
        xg_progress_finish(&u.bar);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (rc) {
        xg_cli_errorf(CMD, "%s%s", rank_tag, err.msg);
        code = XG_EXIT_FAIL;
        goto out;
    }
    if (mpi.rank == 0) {
        char vl[40] = "no validation set";
        if (!isnan(res.val_loss))
            snprintf(vl, sizeof vl, "val loss %.4f", res.val_loss);
        fprintf(stderr,
            "xtalgen train: %s after %lld steps (%lld epochs): train loss %.4f, %s\n"
            "xtalgen train: model %s, checkpoint %s, log %s\n",
            res.stopped_early ? "stopped" : "done", (long long)res.steps, (long long)res.epochs,
            res.train_loss, vl, cfg.out_path, cfg.ckpt_path, cfg.log_path);
    }
out:
    xg_dataset_free(tr);
    xg_dataset_free(va);
    free(own[0]);
    free(own[1]);
    return xg_mpi_finalize(&mpi, code);
}

const xg_command xg_command_train = {"train", run, "train the crystal denoiser on a dataset", USAGE};
const xg_command_options xg_options_train = {OPTS, NULL, NULL};
