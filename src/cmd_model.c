/* cmd_model.c: `xtalgen model`: look inside model files and turn a training checkpoint into the
 * model file that ships (weights and EMA weights, no optimizer state). */
#include <math.h>
#include <string.h>

#include "crystal/xg_input.h"
#include "crystal/xg_sha256.h"
#include "diffusion/xg_model.h"
#include "properties/xg_propmodel.h"
#include "properties/xg_m3gnet.h"
#include "src/cli.h"
#include "src/commands.h"

#define CMD "model"

static const char usage[] =
    "usage: xtalgen model info MODEL.h5\n"
    "       xtalgen model export CHECKPOINT.h5 -o MODEL.h5\n"
    "       xtalgen model domain PROPMODEL.h5 --data TRAIN.h5 [-o OUT.h5]\n"
    "       xtalgen model import-m3gnet DIR -o MODEL.h5 [--license NAME]\n"
    "\n";

typedef struct {
    const char *out, *data, *license;
    int quiet;
} model_args;

static const xg_opt INFO_OPTS[] = {
    XG_OPT_T("info    prints a model's SHA-256 (the hash generate records as provenance), network size,\n"
             "        noise processes, training settings, training-set statistics, its conditions (names,\n"
             "        normalisation, encoding) and, for checkpoints, the per-epoch loss history.\n"),
    XG_OPT_QUIET(model_args, quiet),
    XG_OPT_TABLE_END};

static const xg_opt EXPORT_OPTS[] = {
    XG_OPT_T("\n"
             "export  writes the model file of a checkpoint: configuration, weights, EMA weights and\n"
             "        statistics, without the optimizer state (about half the size). Samplers use the\n"
             "        EMA weights.\n"),
    XG_OPT_OUTPUT(model_args, out, "MODEL.h5", "the model file (required)"),
    XG_OPT_QUIET(model_args, quiet),
    XG_OPT_TABLE_END};

static const xg_opt DOMAIN_OPTS[] = {
    XG_OPT_T("\n"
             "domain  computes a property model's training domain (elements, density, bond ratio and\n"
             "        size ranges of its labelled training crystals) and stores it in the model file.\n"),
    XG_OPT_S("--data", NULL, model_args, data, "TRAIN.h5", NULL, "the model's training set (required)"),
    XG_OPT_OUTPUT(model_args, out, "OUT.h5", "write the model with its domain here (default: in place)"),
    XG_OPT_QUIET(model_args, quiet),
    XG_OPT_TABLE_END};

static const xg_opt IMPORT_OPTS[] = {
    XG_OPT_T("\n"
             "import-m3gnet  converts the published M3GNet potential in DIR into xtalgen's HDF5 form.\n"),
    XG_OPT_OUTPUT(model_args, out, "MODEL.h5", "the potential file (required)"),
    XG_OPT_S("--license", NULL, model_args, license, "NAME", "LICENSE-m3gnet",
             "the licence file recorded with it"),
    XG_OPT_QUIET(model_args, quiet),
    XG_OPT_TABLE_END};

/* Parses a subcommand's options (argv[1] is the subcommand) with at most one positional. */
static int sub_parse(const char *who, const xg_opt *t, int argc, char **argv, model_args *A,
                     const char **in)
{
    memset(A, 0, sizeof *A);
    xg_opts_args args;
    if (xg_opts_parse(who, t, argc - 1, argv + 1, A, &args, 1))
        return -1;
    *in = args.npos ? args.pos[0] : NULL;
    return 0;
}

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
    char hex[XG_SHA256_HEX_LEN];
    if (xg_sha256_file(path, hex, NULL) == XG_OK) /* the hash provenance records name */
        printf("sha256: %s\n", hex);
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
    if (m->cond.n == 0) {
        printf("conditions: none (unconditional model%s)\n",
               m->cfg.cond_dim > 0 ? "; the file has a condition width but no /condition group"
                                   : "");
    } else {
        printf("conditions: %d, vector width %d, dropped to unconditional with probability %g "
               "in training%s%s\n",
               m->cond.n, m->cond.dim, m->cond.drop, m->cond.base[0] ? ", fine-tuned from " : "",
               m->cond.base);
        for (int k = 0; k < m->cond.n; k++) {
            const xg_cond_item *it = &m->cond.item[k];
            if (it->kind == XG_COND_SCALAR)
                printf("  %-28s scalar, normalised (value - %.6g) / %.6g; %d sinusoidal "
                       "frequencies from %g, ratio %g; vector block %d..%d\n",
                       it->name, it->mean, it->std, it->n_freq, it->freq0, it->freq_ratio,
                       it->offset, it->offset + it->dim - 1);
            else
                printf("  %-28s chemical system, multi-hot over Z = 1..%d; vector block %d..%d\n",
                       it->name, XG_COND_NUM_Z, it->offset, it->offset + it->dim - 1);
        }
        printf("  request with: xtalgen generate --condition NAME=VALUE [--guidance G]\n");
    }
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
    xg_model_desc d = {.net = m->net, .weights = m->weights, .ema = m->ema, .noise = &m->noise,
                       .hp = &m->hp, .stats = &m->stats, .cond = &m->cond};
    int rc = xg_model_write(out, &d, &err);
    xg_model_free(m);
    if (rc) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    return XG_EXIT_OK;
}

static void print_domain(const xg_propmodel_domain *d)
{
    printf("training domain: %lld crystals, %d..%d atoms, density %.4g..%.4g g/cm^3, min bond "
           "ratio %.3f..%.3f\nelements:",
           (long long)d->n, d->natoms_min, d->natoms_max, d->density_min, d->density_max,
           d->bond_ratio_min, d->bond_ratio_max);
    int k = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (d->elements[z])
            printf("%s%s", k++ % 20 ? " " : "\n  ", xg_element_get(z)->symbol);
    printf("\n  (%d elements)\n", k);
}

/* `model domain`: the training domain of a shipped property model, added after the fact. */
static int domain_cmd(int argc, char **argv)
{
    model_args A;
    const char *in = NULL;
    if (sub_parse("model domain", DOMAIN_OPTS, argc, argv, &A, &in))
        return XG_EXIT_USAGE;
    const char *out = A.out, *data = A.data;
    if (!in || !data) {
        xg_cli_errorf(CMD, "usage: xtalgen model domain PROPMODEL.h5 --data TRAIN.h5 [-o OUT.h5]");
        return XG_EXIT_USAGE;
    }
    if (!out)
        out = in;
    xg_error err = {0};
    xg_propmodel *m = NULL;
    xg_dataset *ds = NULL;
    int status = XG_EXIT_FAIL;
    if (xg_propmodel_load(in, &m, &err) || xg_input_read(data, &ds, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    const xg_propmodel_info *mi = xg_propmodel_get_info(m);
    xg_propmodel_domain d;
    int64_t skipped = 0;
    if (xg_propmodel_domain_compute(ds, mi->target, mi->hp.max_structures, &d, &skipped, &err)) {
        xg_cli_errorf(CMD, "%s: %s", data, err.msg);
        goto done;
    }
    if (mi->n_train > 0 && d.n != mi->n_train)
        xg_cli_errorf(CMD, "note: %lld crystals of %s have a '%s' value; the model was trained "
                           "on %lld (is this its training set?)",
                      (long long)d.n, data, mi->target, (long long)mi->n_train);
    xg_propmodel_set_domain(m, &d);
    if (xg_propmodel_write(m, out, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    printf("%s (%s): ", out, mi->target);
    print_domain(&d);
    if (skipped)
        printf("  %lld crystals skipped (geometry could not be analysed)\n", (long long)skipped);
    status = XG_EXIT_OK;
done:
    xg_propmodel_free(m);
    xg_dataset_free(ds);
    return status;
}

static int run(int argc, char **argv)
{
    model_args A;
    const char *in = NULL;
    if (argc >= 2 && !strcmp(argv[1], "domain"))
        return domain_cmd(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "info")) {
        if (sub_parse("model info", INFO_OPTS, argc, argv, &A, &in))
            return XG_EXIT_USAGE;
        if (!in) {
            xg_cli_errorf(CMD, "usage: xtalgen model info MODEL.h5");
            return XG_EXIT_USAGE;
        }
        return info(in);
    }
    if (argc >= 2 && !strcmp(argv[1], "export")) {
        if (sub_parse("model export", EXPORT_OPTS, argc, argv, &A, &in))
            return XG_EXIT_USAGE;
        const char *out = A.out;
        if (!in || !out) {
            xg_cli_errorf(CMD, "usage: xtalgen model export CHECKPOINT.h5 -o MODEL.h5");
            return XG_EXIT_USAGE;
        }
        if (xg_cli_check_output(CMD, "-o", out, &in, 1))
            return XG_EXIT_USAGE; /* the export would drop the checkpoint's optimizer state */
        return export_model(in, out);
    }
    if (argc >= 2 && !strcmp(argv[1], "import-m3gnet")) {
        if (sub_parse("model import-m3gnet", IMPORT_OPTS, argc, argv, &A, &in))
            return XG_EXIT_USAGE;
        const char *out = A.out, *lic = A.license;
        if (!in || !out) {
            xg_cli_errorf(CMD, "usage: xtalgen model import-m3gnet DIR -o MODEL.h5");
            return XG_EXIT_USAGE;
        }
        xg_error err = {0};
        xg_m3gnet *m = NULL;
        if (xg_m3gnet_import(in, out, lic, &err) || xg_m3gnet_load(out, &m, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            return XG_EXIT_FAIL;
        }
        xg_m3gnet_info inf;
        xg_m3gnet_get_info(m, &inf);
        printf("wrote %s: M3GNet, %d blocks x %d units, %d elements, %ld parameters, cutoffs "
               "%.1f/%.1f A\n", out, inf.nblocks, inf.units, inf.nelements, inf.nparams,
               inf.cutoff, inf.threebody_cutoff);
        xg_m3gnet_free(m);
        return XG_EXIT_OK;
    }
    fputs(usage, stderr);
    return XG_EXIT_USAGE;
}

const xg_command xg_command_model = {"model", run, "inspect model files; export a checkpoint",
                                     usage};
static const xg_opt *const MORE[] = {EXPORT_OPTS, DOMAIN_OPTS, IMPORT_OPTS, NULL};
const xg_command_options xg_options_model = {INFO_OPTS, NULL, MORE};
