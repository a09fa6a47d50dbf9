/* cmd_model.c: `xtalgen model`: look inside model files and turn a training checkpoint into the
 * model file that ships (weights and EMA weights, no optimizer state). */
#include <math.h>
#include <string.h>

#include "crystal/xg_input.h"
#include "crystal/xg_sha256.h"
#include "diffusion/xg_model.h"
#include "properties/xg_propinfo.h"
#include "properties/xg_propmodel.h"
#include "properties/xg_m3gnet.h"
#include "src/cli.h"
#include "src/commands.h"

#define CMD "model"

static const char usage[] =
    "usage: xtalgen model info MODEL.h5\n"
    "       xtalgen model export CHECKPOINT.h5 -o MODEL.h5\n"
    "       xtalgen model domain PROPMODEL.h5 --data TRAIN.h5 [-o OUT.h5]\n"
    "       xtalgen model stats MODEL.h5 --data TRAIN.h5 [-o OUT.h5]\n"
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

static const xg_opt STATS_OPTS[] = {
    XG_OPT_T("\n"
             "stats   records, in a model or checkpoint written before they were stored, how many\n"
             "        training crystals carry each property and its range (printed by info). TRAIN.h5\n"
             "        must be the set it was trained on: its crystal count, size histogram and every\n"
             "        stored mean and std must match, else nothing is written. Weights, EMA,\n"
             "        conditions and training state are copied unchanged (checked after writing).\n"),
    XG_OPT_S("--data", NULL, model_args, data, "TRAIN.h5", NULL, "the model's training set (required)"),
    XG_OPT_OUTPUT(model_args, out, "OUT.h5", "write the model with its label statistics here "
                  "(default: in place)"),
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
    xg_opts_args args;
    if (xg_opts_parse(who, t, argc - 1, argv + 1, A, sizeof *A, &args, 1))
        return -1;
    *in = args.npos ? args.pos[0] : NULL;
    return 0;
}

/* 24862 -> "24,862" (label counts read better grouped). */
static const char *grouped(int64_t v, char buf[32])
{
    char raw[24];
    int n = snprintf(raw, sizeof raw, "%lld", (long long)(v < 0 ? -v : v));
    char *o = buf;
    if (v < 0)
        *o++ = '-';
    for (int i = 0; i < n; i++) {
        *o++ = raw[i];
        if ((n - 1 - i) % 3 == 0 && i < n - 1)
            *o++ = ',';
    }
    *o = '\0';
    return buf;
}

/* One condition's first two lines: its unit and meaning (properties/xg_propinfo.h), and the
 * training labels behind it ("15,138 of 24,862 training crystals labelled, range 0 .. 0.08
 * eV/atom"); files from before label counts were stored say so. */
static void print_condition_labels(const char *name, const xg_model_stats *st)
{
    const xg_propinfo *pi = xg_propinfo_find(name);
    const char *unit = pi ? pi->unit : "";
    if (pi)
        printf("  %-22s %s: %s\n", name, unit[0] ? unit : "no unit", pi->what);
    else
        printf("  %-22s unit unknown (not a property xtalgen knows)\n", name);
    int c = xg_model_stats_find(st, name);
    char a[32], b[32];
    if (c < 0 || !st->scaler_count)
        printf("  %-22s training labels: count and range not recorded (xtalgen model stats)\n",
               "");
    else if (st->scaler_count[c] == 0)
        printf("  %-22s 0 of %s training crystals labelled\n", "", grouped(st->nstructs, b));
    else
        printf("  %-22s %s of %s training crystals labelled, range %.6g .. %.6g%s%s\n", "",
               grouped(st->scaler_count[c], a), grouped(st->nstructs, b), st->scaler_min[c],
               st->scaler_max[c], unit[0] ? " " : "", unit);
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
    if (m->noise.class_mask > 0)
        printf("types: masked element by element in %.0f%% of training crystals (--class-mask %g)\n",
               100 * m->noise.class_mask, m->noise.class_mask);
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
            if (it->kind == XG_COND_SCALAR) {
                print_condition_labels(it->name, &m->stats);
                printf("  %-22s normalised with mean %.6g, std %.6g; %d frequencies "
                       "from %g, ratio %g; block %d..%d\n",
                       "", it->mean, it->std, it->n_freq, it->freq0, it->freq_ratio,
                       it->offset, it->offset + it->dim - 1);
            } else
                printf("  %-22s chemical system, multi-hot over Z = 1..%d; vector block %d..%d\n",
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

/* a == b up to a few ulps of the larger (the trainer sums the same values in the same order,
 * so its scalers are bit-identical; the density comes from another lattice form) */
static int close_enough(double a, double b, double rel)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

/* Why data cannot be the training set of a model with stats st, in msg; 0 when it can. */
static int stats_mismatch(const xg_model_stats *st, const xg_model_stats *d, char *msg, size_t n)
{
    if (d->nstructs != st->nstructs)
        return snprintf(msg, n, "it has %lld crystals, the model was trained on %lld",
                        (long long)d->nstructs, (long long)st->nstructs), 1;
    for (int a = 0; a < st->hist_len || a < d->hist_len; a++) {
        int64_t x = a < st->hist_len ? st->natoms_hist[a] : 0;
        int64_t y = a < d->hist_len ? d->natoms_hist[a] : 0;
        if (x != y)
            return snprintf(msg, n, "it has %lld crystals of %d atoms, the model's training set "
                            "%lld", (long long)y, a, (long long)x), 1;
    }
    if (!close_enough(d->avg_density, st->avg_density, 1e-9))
        return snprintf(msg, n, "its average density is %.10g atoms/A^3, the model's %.10g",
                        d->avg_density, st->avg_density), 1;
    for (int c = 0; c < st->nscalers; c++) {
        int k = xg_model_stats_find(d, st->scaler_names[c]);
        if (k < 0)
            return snprintf(msg, n, "it has no property '%s'", st->scaler_names[c]), 1;
        if (!close_enough(d->scaler_mean[k], st->scaler_mean[c], 1e-12) ||
            !close_enough(d->scaler_std[k], st->scaler_std[c], 1e-12))
            return snprintf(msg, n, "its '%s' has mean %.10g and std %.10g, the model's %.10g "
                            "and %.10g", st->scaler_names[c], d->scaler_mean[k], d->scaler_std[k],
                            st->scaler_mean[c], st->scaler_std[c]), 1;
    }
    return 0;
}

/* Everything but the statistics of a and b is the same: network, weights, EMA, conditions. */
static int same_model(const xg_model *a, const xg_model *b)
{
    size_t np = xg_denoiser_num_params(a->net);
    const xg_denoiser_config *x = &a->cfg, *y = &b->cfg;
    if (np != xg_denoiser_num_params(b->net) || x->hidden != y->hidden ||
        x->layers != y->layers || x->n_freq != y->n_freq || x->time_dim != y->time_dim ||
        x->cond_dim != y->cond_dim || memcmp(a->weights, b->weights, np * sizeof(float)) ||
        memcmp(a->ema, b->ema, np * sizeof(float)) || !a->state != !b->state)
        return 0;
    const xg_cond_spec *p = &a->cond, *q = &b->cond;
    if (p->n != q->n || p->dim != q->dim || p->drop != q->drop || strcmp(p->base, q->base))
        return 0;
    for (int k = 0; k < p->n; k++) {
        const xg_cond_item *i = &p->item[k], *j = &q->item[k];
        if (strcmp(i->name, j->name) || i->kind != j->kind || i->offset != j->offset ||
            i->dim != j->dim || i->mean != j->mean || i->std != j->std ||
            i->n_freq != j->n_freq || i->freq0 != j->freq0 || i->freq_ratio != j->freq_ratio)
            return 0;
    }
    return 1;
}

/* `model stats`: label counts and ranges for a model written before they were stored. */
static int stats_cmd(int argc, char **argv)
{
    model_args A;
    const char *in = NULL;
    if (sub_parse("model stats", STATS_OPTS, argc, argv, &A, &in))
        return XG_EXIT_USAGE;
    if (!in || !A.data) {
        xg_cli_errorf(CMD, "usage: xtalgen model stats MODEL.h5 --data TRAIN.h5 [-o OUT.h5]");
        return XG_EXIT_USAGE;
    }
    const char *out = A.out ? A.out : in;
    xg_error err = {0};
    xg_model *m = NULL, *back = NULL;
    xg_dataset *ds = NULL;
    xg_model_stats d = {0};
    int status = XG_EXIT_FAIL;
    /* a checkpoint keeps its training state; a model file has none */
    if (xg_model_load(in, XG_MODEL_LOAD_STATE, &m, &err) && xg_model_load(in, 0, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if (xg_input_read(A.data, &ds, &err) || xg_model_stats_from_dataset(&d, ds, &err)) {
        xg_cli_errorf(CMD, "%s: %s", A.data, err.msg);
        goto done;
    }
    char why[512];
    if (stats_mismatch(&m->stats, &d, why, sizeof why)) {
        xg_cli_errorf(CMD, "%s is not the training set of %s: %s; nothing written", A.data, in,
                      why);
        goto done;
    }
    xg_model_stats *st = &m->stats;
    if (xg_model_stats_copy_labels(st, &d, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    xg_model_desc desc = {.net = m->net, .weights = m->weights, .ema = m->ema, .noise = &m->noise,
                          .hp = &m->hp, .stats = st, .cond = &m->cond, .state = m->state};
    if (xg_model_write(out, &desc, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    /* read it back: only the statistics may differ from what was read */
    if (xg_model_load(out, m->state ? XG_MODEL_LOAD_STATE : 0, &back, &err)) {
        xg_cli_errorf(CMD, "%s: written but unreadable: %s", out, err.msg);
        goto done;
    }
    if (!same_model(m, back) || !back->stats.scaler_count) {
        xg_cli_errorf(CMD, "%s: the written model differs from %s beyond its statistics", out, in);
        goto done;
    }
    if (!A.quiet) {
        char a[32], b[32];
        printf("%s: label statistics of %d properties over %s training crystals\n", out,
               st->nscalers, grouped(st->nstructs, b));
        for (int c = 0; c < st->nscalers; c++) {
            const xg_propinfo *pi = xg_propinfo_find(st->scaler_names[c]);
            printf("  %-28s %s labelled", st->scaler_names[c], grouped(st->scaler_count[c], a));
            if (st->scaler_count[c] > 0)
                printf(", range %.6g .. %.6g%s%s", st->scaler_min[c], st->scaler_max[c],
                       pi && pi->unit[0] ? " " : "", pi ? pi->unit : "");
            printf("\n");
        }
    }
    status = XG_EXIT_OK;
done:
    xg_model_stats_free(&d);
    xg_dataset_free(ds);
    xg_model_free(back);
    xg_model_free(m);
    return status;
}

static int run(int argc, char **argv)
{
    model_args A;
    const char *in = NULL;
    if (argc >= 2 && !strcmp(argv[1], "domain"))
        return domain_cmd(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "stats"))
        return stats_cmd(argc, argv);
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
static const xg_opt *const MORE[] = {EXPORT_OPTS, DOMAIN_OPTS, STATS_OPTS, IMPORT_OPTS, NULL};
const xg_command_options xg_options_model = {INFO_OPTS, NULL, MORE};
