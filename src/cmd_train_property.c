/* cmd_train_property.c: `xtalgen train-property`: fits a property model (properties/
 * xg_propmodel.h) to one dataset property, with a progress bar, the validation MAE each epoch,
 * checkpoints, clean stops on SIGINT/SIGTERM or at the end of a --hours budget, and the test
 * MAE measured and stored in the model file. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_dataset.h"
#include "properties/xg_propmodel.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/train_opts.h"

static const char *const CMD = "train-property";

static const char USAGE[] =
    "usage: xtalgen train-property --target NAME --data TRAIN.h5 --val VAL.h5 [--test TEST.h5]\n"
    "                              -o MODEL.h5 [options]\n"
    "\n"
    "Trains a property model: the denoiser's network run on clean crystals, mean-pooled and\n"
    "read out by a small MLP, on dataset property NAME (e.g. formation_energy_per_atom,\n"
    "band_gap, dft_mag_density). Crystals without a label (NaN) are skipped, never counted as\n"
    "zero. Each epoch reports the validation MAE of the EMA weights; the model file keeps the\n"
    "weights of the best validation epoch, its validation MAE and the test MAE. A checkpoint\n"
    "(MODEL.ckpt.h5) is written at each epoch end, every --checkpoint-every minutes and on stop,\n"
    "with the per-epoch log in MODEL.log.csv. Ctrl-C or SIGTERM checkpoints and exits 0.\n"
    "\n";

typedef struct {
    train_cli t;
    const char *target, *test, *log;
    int loss;
} prop_args;

static const xg_opt OPTS[] = {
    XG_OPT_S("--target", NULL, prop_args, target, "NAME", NULL, "dataset property to learn"),
    TRAIN_OPTS_DATA(prop_args, t),
    XG_OPT_S("--val", NULL, prop_args, t.val, "PATH", NULL,
             "validation set (chooses the weights; required)"),
    XG_OPT_S("--test", NULL, prop_args, test, "PATH", NULL,
             "test set: its MAE is reported and stored in the model"),
    XG_OPT_OUTPUT(prop_args, t.output, "PATH", "model file"),
    TRAIN_OPTS_SHAPE(prop_args, t, "3"),
    XG_OPT_E("--loss", NULL, prop_args, loss, "l1|mse", "l1",
             "training loss on the normalised target"),
    TRAIN_OPTS_OPTIM(prop_args, t, "300"),
    TRAIN_OPTS_RUN(prop_args, t, "seed of the initialisation and data order", "10"),
    XG_OPT_S("--log", NULL, prop_args, log, "PATH", NULL,
             "per-epoch CSV log (default MODEL.log.csv)"),
    TRAIN_OPTS_TAIL(prop_args, t, "use only the first K labelled crystals of each set (quick runs)"),
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
    int bar_on, quiet;
    int64_t epochs;
    char label[64];
    const char *target;
} ui;

static int on_progress(const xg_propmodel_progress *p, void *user)
{
    ui *u = user;
    char dur[32];
    switch (p->event) {
    case XG_PROP_EV_START:
        fprintf(stderr,
                "xtalgen train-property: %s '%s': %lld training crystals (%lld without a label "
                "skipped, %lld unusable), %lld validation (%lld unlabelled), %lld test (%lld "
                "unlabelled), %zu parameters, %lld steps per epoch, from epoch %lld step %lld\n",
                p->resumed ? "resuming" : "starting", u->target, (long long)p->ntrain,
                (long long)p->nolabel[0], (long long)p->unusable[0], (long long)p->nval,
                (long long)p->nolabel[1], (long long)p->ntest, (long long)p->nolabel[2],
                p->nparams, (long long)p->steps_per_epoch, (long long)p->epoch + 1,
                (long long)p->step);
        u->epochs = p->epochs;
        break;
    case XG_PROP_EV_STEP:
        if (!u->bar_on) {
            if (u->epochs > 0)
                snprintf(u->label, sizeof u->label, "epoch %lld/%lld", (long long)p->epoch + 1,
                         (long long)u->epochs);
            else
                snprintf(u->label, sizeof u->label, "epoch %lld", (long long)p->epoch + 1);
            xg_progress_start(&u->bar, u->label, (long)p->steps_per_epoch, u->quiet);
            u->bar_on = 1;
        }
        train_opts_fmt_dur(p->eta, dur, sizeof dur);
        snprintf(u->bar.extra, sizeof u->bar.extra, "loss %.4f lr %.2e %.1f cr/s run ETA %s",
                 p->avg_loss, p->lr, p->crystals_per_s, dur);
        xg_progress_update(&u->bar, (long)p->step_in_epoch);
        break;
    case XG_PROP_EV_EPOCH:
        if (u->bar_on) {
            xg_progress_finish(&u->bar);
            u->bar_on = 0;
        }
        train_opts_fmt_dur(p->elapsed, dur, sizeof dur);
        fprintf(stderr,
                "xtalgen train-property: epoch %lld: train loss %.4f  val MAE %.4f  (best %.4f at "
                "epoch %lld)  %.1f crystals/s  elapsed %s\n",
                (long long)p->epoch, p->avg_loss, p->val_mae, p->best_val_mae,
                (long long)p->best_epoch, p->crystals_per_s, dur);
        break;
    case XG_PROP_EV_DONE:
        if (u->bar_on) {
            xg_progress_finish(&u->bar);
            u->bar_on = 0;
        }
        break;
    }
    return g_stop_requested ? 1 : 0;
}

/* Units of the targets MP-20 carries, for the summary line. */
static const char *units_of(const char *target)
{
    if (strstr(target, "per_atom") || strstr(target, "e_above_hull"))
        return " eV/atom";
    if (strcmp(target, "band_gap") == 0)
        return " eV";
    if (strcmp(target, "dft_mag_density") == 0)
        return " muB/A^3";
    return "";
}

static int run(int argc, char **argv)
{
    xg_propmodel_train_config cfg;
    xg_propmodel_train_config_default(&cfg);
    prop_args A;
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, &A, sizeof A, &args, 0))
        return XG_EXIT_USAGE;
    const char *data = A.t.data, *valp = A.t.val, *testp = A.test, *out = A.t.output;
    const char *ckpt = A.t.checkpoint, *logp = A.log;
    int quiet = A.t.quiet;
    cfg.target = A.target;
    cfg.loss = A.loss == 1 ? XG_PROPLOSS_MSE : XG_PROPLOSS_L1;
    cfg.resume = A.t.resume;
    if (!cfg.target || !data || !valp || !out) {
        xg_cli_errorf(CMD, "--target, --data, --val and -o are required (see `xtalgen help "
                           "train-property`)");
        return XG_EXIT_USAGE;
    }
    if (train_opts_finish(CMD, &A.t, xg_opts_given(OPTS, &args, "--epochs"), &cfg.trunk, &cfg.hp,
                          &cfg.stop_at_step))
        return XG_EXIT_USAGE;

    const char *inputs[3] = {data, valp, testp};
    char *own[2];
    cfg.out_path = out;
    int pc = train_opts_paths(CMD, out, ckpt, logp, inputs, 3, &cfg.ckpt_path, &cfg.log_path, own);
    if (pc)
        return pc;
    train_opts_set_threads((int)cfg.hp.threads);

    int code = XG_EXIT_OK;
    xg_error err;
    xg_error_clear(&err);
    xg_dataset *tr = NULL, *va = NULL, *te = NULL;
    if (xg_dataset_read_h5(data, &tr, &err) != XG_OK || xg_dataset_read_h5(valp, &va, &err) != XG_OK ||
        (testp && xg_dataset_read_h5(testp, &te, &err) != XG_OK)) {
        xg_cli_errorf(CMD, "%s", err.msg);
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
    u.target = cfg.target;
    xg_propmodel_train_result res;
    int rc = xg_propmodel_train(&cfg, tr, va, te, on_progress, &u, &res, &err);
    if (u.bar_on)
        xg_progress_finish(&u.bar);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (rc) {
        xg_cli_errorf(CMD, "%s", err.msg);
        code = XG_EXIT_FAIL;
        goto out;
    }
    const char *un = units_of(cfg.target);
    fprintf(stderr,
            "xtalgen train-property: %s after %lld steps (%lld epochs); weights of epoch %lld\n"
            "xtalgen train-property: val MAE %.4f%s on %lld crystals (predicting the training mean: "
            "%.4f)\n",
            res.stopped_early ? "stopped" : "done", (long long)res.steps, (long long)res.epochs,
            (long long)res.best_epoch, res.val_mae, un, (long long)res.nval, res.baseline_val_mae);
    if (te)
        fprintf(stderr,
                "xtalgen train-property: test MAE %.4f%s on %lld crystals (predicting the training "
                "mean: %.4f; %lld without a label skipped)\n",
                res.test_mae, un, (long long)res.ntest, res.baseline_test_mae,
                (long long)res.nolabel[2]);
    fprintf(stderr, "xtalgen train-property: model %s, checkpoint %s, log %s\n", cfg.out_path,
            cfg.ckpt_path, cfg.log_path);
out:
    xg_dataset_free(tr);
    xg_dataset_free(va);
    xg_dataset_free(te);
    free(own[0]);
    free(own[1]);
    return code;
}

const xg_command xg_command_train_property = {"train-property", run,
                                              "train a property model (formation energy, band gap, "
                                              "magnetic density) on a dataset",
                                              USAGE};
const xg_command_options xg_options_train_property = {OPTS, NULL, NULL};
