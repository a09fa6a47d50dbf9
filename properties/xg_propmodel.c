/* xg_propmodel.c: property models (xg_propmodel.h): the denoiser trunk, mean pooling of its
 * final node states, an H -> H -> 1 head; prediction, model files, and the model's part of
 * the training loop (diffusion/xg_trainer.h: the batch loss and gradient, the validation MAE
 * that chooses the kept weights, the checkpoint file). */
#include "properties/xg_propmodel.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crystal/xg_rng.h"
#include "crystal/xg_h5util.h"
#include "crystal/xg_validity.h"
#include "diffusion/xg_nn.h"
#include "diffusion/xg_optim.h"
#include "diffusion/xg_trainer.h"
#include "diffusion/xg_trainer_h5.h"

#define XG_PROPMODEL_FORMAT "xtalgen-propmodel"
#define XG_PROP_STREAM 0x70726f70ULL /* "prop": the trainer's shuffling stream */
#define XG_PROP_HIST_COLS 6
#define XG_PROP_CHUNK_STRUCTS 64
#define XG_PROP_CHUNK_PAIRS 32768L
#define XG_PROP_STR_(x) #x
#define XG_PROP_STR(x) XG_PROP_STR_(x)

/* The history / log columns (the checkpoint's /train/history) and how the log prints them. */
static const char *const hist_names[XG_PROP_HIST_COLS] = {"epoch", "step", "lr", "train_loss",
                                                          "val_mae", "elapsed_s"};
static const char *const hist_formats[XG_PROP_HIST_COLS] = {NULL, NULL, "%.6g", "%.6g", "%.6g",
                                                            "%.1f"};


struct xg_propmodel {
    xg_denoiser *net;
    int H;
    float *head, *head_g;
    size_t nhead, w1, b1, w2, b2;
    xg_propmodel_info info;
    /* head activations and gradients, sized for cap_s crystals / cap_a atoms */
    int cap_s, cap_a;
    float *tbuf, *pooled, *z1, *a1, *dpooled, *dz1, *da1, *du;
    int have_fwd, fwd_S, fwd_A;
    const int *fwd_offsets;
    /* packing buffers (predict and training) */
    int pcap_s, pcap_a;
    int *p_off, *p_tok;
    float *p_frac, *p_lat;
};

/* The denoiser's coordinate, type and lattice heads play no part in a regressor. */
static int trunk_tensor_used(const char *name)
{
    if (strncmp(name, "out.", 4) != 0)
        return 1;
    return strcmp(name, "out.ln_g") == 0 || strcmp(name, "out.ln_b") == 0;
}

/* ================================================================ model */

xg_propmodel *xg_propmodel_alloc(const xg_denoiser_config *trunk, const char *target,
                                 xg_error *err)
{
    if (!trunk || !target) {
        xg_error_set(err, XG_EINVAL, "xg_propmodel_alloc: missing configuration or target name");
        return NULL;
    }
    if (trunk->cond_dim != 0) {
        xg_error_set(err, XG_EINVAL, "xg_propmodel_alloc: a property model's trunk is "
                                     "unconditioned (cond_dim %d, expected 0)", trunk->cond_dim);
        return NULL;
    }
    if (!target[0] || strlen(target) >= XG_PROP_NAME_LEN) {
        xg_error_set(err, XG_EINVAL, "xg_propmodel_alloc: target name must have 1..%d characters",
                     XG_PROP_NAME_LEN - 1);
        return NULL;
    }
    xg_propmodel *m = calloc(1, sizeof *m);
    if (!m) {
        xg_error_set(err, XG_ENOMEM, "xg_propmodel_alloc: out of memory");
        return NULL;
    }
    m->net = xg_denoiser_alloc(trunk, err);
    if (!m->net) {
        free(m);
        return NULL;
    }
    const int H = trunk->hidden;
    m->H = H;
    m->w1 = 0;
    m->b1 = (size_t)H * H;
    m->w2 = m->b1 + H;
    m->b2 = m->w2 + H;
    m->nhead = m->b2 + 1;
    m->head = calloc(m->nhead, sizeof(float));
    m->head_g = calloc(m->nhead, sizeof(float));
    if (!m->head || !m->head_g) {
        xg_propmodel_free(m);
        xg_error_set(err, XG_ENOMEM, "xg_propmodel_alloc: out of memory");
        return NULL;
    }
    snprintf(m->info.target, sizeof m->info.target, "%s", target);
    m->info.loss = XG_PROPLOSS_L1;
    m->info.mean = 0.0;
    m->info.std = 1.0;
    m->info.val_mae = NAN;
    m->info.test_mae = NAN;
    xg_hparams_default(&m->info.hp);
    xg_propmodel_init_params(m, 0);
    return m;
}

static void free_work(xg_propmodel *m)
{
    free(m->tbuf);
    free(m->pooled);
    free(m->z1);
    free(m->a1);
    free(m->dpooled);
    free(m->dz1);
    free(m->da1);
    free(m->du);
    m->tbuf = m->pooled = m->z1 = m->a1 = m->dpooled = m->dz1 = m->da1 = m->du = NULL;
    m->cap_s = m->cap_a = 0;
}

void xg_propmodel_free(xg_propmodel *m)
{
    if (!m)
        return;
    xg_denoiser_free(m->net);
    free(m->head);
    free(m->head_g);
    free_work(m);
    free(m->p_off);
    free(m->p_tok);
    free(m->p_frac);
    free(m->p_lat);
    free(m);
}

void xg_propmodel_init_params(xg_propmodel *m, uint64_t seed)
{
    xg_denoiser_init_params(m->net, seed);
    float *w = xg_denoiser_params(m->net);
    for (int i = 0; i < xg_denoiser_param_count(m->net); i++) {
        size_t off;
        int rows, cols;
        const char *name = xg_denoiser_param_info(m->net, i, &off, &rows, &cols);
        if (!trunk_tensor_used(name))
            memset(w + off, 0, (size_t)rows * cols * sizeof(float));
    }
    xg_rng r;
    xg_rng_seed(&r, seed, 0x68656164); /* "head": apart from the trunk's stream */
    const int H = m->H;
    for (size_t k = 0; k < (size_t)H * H; k++)
        m->head[m->w1 + k] = (float)(xg_rng_normal(&r) / sqrt((double)H));
    /* The output layer starts small: the first predictions sit near the training mean. */
    for (int k = 0; k < H; k++) {
        m->head[m->b1 + k] = 0.0f;
        m->head[m->w2 + k] = (float)(0.1 * xg_rng_normal(&r) / sqrt((double)H));
    }
    m->head[m->b2] = 0.0f;
}

const xg_propmodel_info *xg_propmodel_get_info(const xg_propmodel *m) { return &m->info; }

int xg_propmodel_set_scaler(xg_propmodel *m, double mean, double std, xg_error *err)
{
    if (!isfinite(mean) || !(std > 0) || !isfinite(std))
        return xg_error_set(err, XG_EINVAL,
                            "xg_propmodel_set_scaler: need a finite mean and std > 0 (got %g, %g)",
                            mean, std);
    m->info.mean = mean;
    m->info.std = std;
    return XG_OK;
}

xg_denoiser *xg_propmodel_trunk(xg_propmodel *m) { return m->net; }

float *xg_propmodel_head_params(xg_propmodel *m, size_t *n)
{
    if (n)
        *n = m->nhead;
    return m->head;
}

float *xg_propmodel_head_grads(xg_propmodel *m, size_t *n)
{
    if (n)
        *n = m->nhead;
    return m->head_g;
}

void xg_propmodel_zero_grad(xg_propmodel *m)
{
    xg_denoiser_zero_grad(m->net);
    memset(m->head_g, 0, m->nhead * sizeof(float));
}

/* ================================================================ forward / backward */

static int ensure_work(xg_propmodel *m, int S, int A, xg_error *err)
{
    if (S <= m->cap_s && A <= m->cap_a)
        return XG_OK;
    int cs = S > m->cap_s ? S : m->cap_s, ca = A > m->cap_a ? A : m->cap_a;
    free_work(m);
    size_t SH = (size_t)cs * m->H;
    m->tbuf = malloc((size_t)cs * sizeof(float));
    m->pooled = malloc(SH * sizeof(float));
    m->z1 = malloc(SH * sizeof(float));
    m->a1 = malloc(SH * sizeof(float));
    m->dpooled = malloc(SH * sizeof(float));
    m->dz1 = malloc(SH * sizeof(float));
    m->da1 = malloc(SH * sizeof(float));
    m->du = malloc((size_t)ca * m->H * sizeof(float));
    m->have_fwd = 0;
    if (!m->tbuf || !m->pooled || !m->z1 || !m->a1 || !m->dpooled || !m->dz1 || !m->da1 || !m->du) {
        free_work(m);
        return xg_error_set(err, XG_ENOMEM, "property model: out of memory for %d crystals", S);
    }
    m->cap_s = cs;
    m->cap_a = ca;
    return XG_OK;
}

/* The batch the trunk sees: the caller's crystals at the fixed time, unconditioned. */
static xg_batch trunk_batch(const xg_propmodel *m, const xg_batch *b)
{
    xg_batch c = *b;
    c.t = m->tbuf;
    c.cond = NULL;
    c.cond_on = NULL;
    return c;
}

int xg_propmodel_forward(xg_propmodel *m, const xg_batch *b, float *y, xg_error *err)
{
    if (!m || !b || !y || !b->offsets || !b->tokens)
        return xg_error_set(err, XG_EINVAL, "property model forward: missing argument");
    if (b->nstructs < 1 || b->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "property model forward: empty batch");
    for (int i = 0; i < b->natoms; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= XG_NUM_TYPES)
            return xg_error_set(err, XG_EINVAL,
                                "property model forward: atom %d has class %d outside 0..%d "
                                "(clean crystals only)",
                                i, b->tokens[i], XG_NUM_TYPES - 1);
    const int S = b->nstructs, A = b->natoms, H = m->H;
    m->have_fwd = 0;
    int rc = ensure_work(m, S, A, err);
    if (rc)
        return rc;
    for (int s = 0; s < S; s++)
        m->tbuf[s] = XG_PROPMODEL_TIME;
    xg_batch c = trunk_batch(m, b);
    rc = xg_denoiser_forward(m->net, &c, NULL, err);
    if (rc)
        return rc;
    const float *u = xg_denoiser_node_states(m->net);
    xg_nn_segment_mean_forward(m->pooled, u, b->offsets, S, H);
    xg_nn_linear_forward(m->z1, m->pooled, m->head + m->w1, m->head + m->b1, S, H, H, 0);
    xg_nn_silu_forward(m->a1, m->z1, (size_t)S * H);
    xg_nn_linear_forward(y, m->a1, m->head + m->w2, m->head + m->b2, S, H, 1, 0);
    m->have_fwd = 1;
    m->fwd_S = S;
    m->fwd_A = A;
    m->fwd_offsets = b->offsets;
    return XG_OK;
}

int xg_propmodel_backward(xg_propmodel *m, const xg_batch *b, const float *dy, xg_error *err)
{
    if (!m || !b || !dy)
        return xg_error_set(err, XG_EINVAL, "property model backward: missing argument");
    if (!m->have_fwd || b->nstructs != m->fwd_S || b->natoms != m->fwd_A ||
        b->offsets != m->fwd_offsets)
        return xg_error_set(err, XG_EINVAL,
                            "property model backward: not the batch of the last forward pass");
    const int S = b->nstructs, A = b->natoms, H = m->H;
    memset(m->da1, 0, (size_t)S * H * sizeof(float));
    memset(m->dz1, 0, (size_t)S * H * sizeof(float));
    memset(m->dpooled, 0, (size_t)S * H * sizeof(float));
    memset(m->du, 0, (size_t)A * H * sizeof(float));
    xg_nn_linear_backward(m->da1, m->head_g + m->w2, m->head_g + m->b2, dy, m->a1, m->head + m->w2,
                          S, H, 1);
    xg_nn_silu_backward(m->dz1, m->da1, m->z1, (size_t)S * H);
    xg_nn_linear_backward(m->dpooled, m->head_g + m->w1, m->head_g + m->b1, m->dz1, m->pooled,
                          m->head + m->w1, S, H, H);
    xg_nn_segment_mean_backward(m->du, m->dpooled, b->offsets, S, H);
    xg_batch c = trunk_batch(m, b);
    return xg_denoiser_backward_nodes(m->net, &c, NULL, NULL, NULL, m->du, err);
}

/* ================================================================ packing and prediction */

/* One crystal as plain arrays (a structure or a dataset row). */
typedef struct {
    int n;
    const int *z;
    const double *frac;    /* n * 3 */
    const double *lattice; /* 9, rows are vectors */
} xview;

/* Why a crystal cannot be taken, or NULL when it can. */
static const char *xview_problem(const xview *x)
{
    if (x->n < 1)
        return "it has no atoms";
    if (x->n > XG_PROPMODEL_MAX_ATOMS)
        return "it has more atoms than the model takes (" XG_PROP_STR(XG_PROPMODEL_MAX_ATOMS) ")";
    for (int i = 0; i < x->n; i++) {
        if (x->z[i] < 1 || x->z[i] > XG_NUM_TYPES)
            return "an atomic number is outside 1..100";
        for (int k = 0; k < 3; k++)
            if (!isfinite(x->frac[3 * i + k]))
                return "a fractional coordinate is not finite";
    }
    const double *L = x->lattice;
    for (int k = 0; k < 9; k++)
        if (!isfinite(L[k]))
            return "its lattice is not finite";
    double det = L[0] * (L[4] * L[8] - L[5] * L[7]) - L[1] * (L[3] * L[8] - L[5] * L[6]) +
                 L[2] * (L[3] * L[7] - L[4] * L[6]);
    if (!(fabs(det) > 1e-6))
        return "its cell has no volume";
    return NULL;
}

static int ensure_pack(xg_propmodel *m, int S, int A, xg_error *err)
{
    if (S <= m->pcap_s && A <= m->pcap_a)
        return XG_OK;
    int cs = S > m->pcap_s ? S : m->pcap_s, ca = A > m->pcap_a ? A : m->pcap_a;
    int *off = realloc(m->p_off, (size_t)(cs + 1) * sizeof(int));
    if (off)
        m->p_off = off;
    int *tok = realloc(m->p_tok, (size_t)ca * sizeof(int));
    if (tok)
        m->p_tok = tok;
    float *fr = realloc(m->p_frac, (size_t)ca * 3 * sizeof(float));
    if (fr)
        m->p_frac = fr;
    float *lat = realloc(m->p_lat, (size_t)cs * 9 * sizeof(float));
    if (lat)
        m->p_lat = lat;
    if (!off || !tok || !fr || !lat)
        return xg_error_set(err, XG_ENOMEM, "property model: out of memory packing a batch");
    m->pcap_s = cs;
    m->pcap_a = ca;
    return XG_OK;
}

/* Appends crystal x as entry s of the packing buffers (capacity already ensured). */
static void pack_one(xg_propmodel *m, int s, const xview *x)
{
    if (s == 0)
        m->p_off[0] = 0;
    int a0 = m->p_off[s];
    for (int i = 0; i < x->n; i++) {
        m->p_tok[a0 + i] = x->z[i] - 1;
        for (int k = 0; k < 3; k++) {
            double f = x->frac[3 * i + k];
            m->p_frac[3 * (a0 + i) + k] = (float)(f - floor(f));
        }
    }
    for (int k = 0; k < 9; k++)
        m->p_lat[9 * s + k] = (float)x->lattice[k];
    m->p_off[s + 1] = a0 + x->n;
}

static xg_batch packed_batch(const xg_propmodel *m, int S)
{
    xg_batch b;
    memset(&b, 0, sizeof b);
    b.nstructs = S;
    b.natoms = m->p_off[S];
    b.offsets = m->p_off;
    b.tokens = m->p_tok;
    b.frac = m->p_frac;
    b.lattice = m->p_lat;
    return b;
}

/* Runs crystals views[0..n-1] (all usable) in chunks and writes values in target units. */
static int predict_views(xg_propmodel *m, const xview *views, int n, double *values, xg_error *err)
{
    float y[XG_PROP_CHUNK_STRUCTS];
    int i = 0;
    while (i < n) {
        int S = 0, A = 0;
        long E = 0;
        while (i + S < n && S < XG_PROP_CHUNK_STRUCTS) {
            long nn = views[i + S].n;
            if (S > 0 && E + nn * nn > XG_PROP_CHUNK_PAIRS)
                break;
            E += nn * nn;
            A += (int)nn;
            S++;
        }
        int rc = ensure_pack(m, S, A, err);
        if (rc)
            return rc;
        for (int s = 0; s < S; s++)
            pack_one(m, s, &views[i + s]);
        xg_batch b = packed_batch(m, S);
        rc = xg_propmodel_forward(m, &b, y, err);
        if (rc)
            return rc;
        for (int s = 0; s < S; s++)
            values[i + s] = m->info.mean + m->info.std * (double)y[s];
        i += S;
    }
    return XG_OK;
}

static xview view_structure(const xg_structure *s)
{
    xview x = {s->natoms, s->types, s->natoms > 0 ? &s->frac[0][0] : NULL, &s->lattice[0][0]};
    return x;
}

int xg_propmodel_predict(xg_propmodel *m, const xg_structure *const *s, int n, double *values,
                         xg_error *err)
{
    if (!m || (n > 0 && (!s || !values)) || n < 0)
        return xg_error_set(err, XG_EINVAL, "property model predict: missing argument");
    if (n == 0)
        return XG_OK;
    xview *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return xg_error_set(err, XG_ENOMEM, "property model predict: out of memory");
    for (int i = 0; i < n; i++) {
        if (!s[i]) {
            free(v);
            return xg_error_set(err, XG_EINVAL, "property model predict: crystal %d is NULL", i);
        }
        v[i] = view_structure(s[i]);
        const char *why = xview_problem(&v[i]);
        if (why) {
            free(v);
            return xg_error_set(err, XG_EINVAL, "property model %s: cannot predict crystal %d%s%s%s: %s",
                                m->info.target, i, s[i]->id[0] ? " (" : "", s[i]->id,
                                s[i]->id[0] ? ")" : "", why);
        }
    }
    int rc = predict_views(m, v, n, values, err);
    free(v);
    return rc;
}

int xg_propmodel_predict_structure(xg_propmodel *m, const xg_structure *s, double *value,
                                   xg_error *err)
{
    if (!value)
        return xg_error_set(err, XG_EINVAL, "property model predict: no output given");
    const xg_structure *one[1] = {s};
    return xg_propmodel_predict(m, one, 1, value, err);
}

static xview view_dataset(const xg_dataset *ds, int64_t i)
{
    int64_t a0 = ds->offsets[i], a1 = ds->offsets[i + 1];
    xview x = {(int)(a1 - a0), (const int *)ds->types + a0, ds->frac + 3 * a0, ds->lattices + 9 * i};
    return x;
}

static int dataset_row_ok(const xg_dataset *ds, int64_t i)
{
    int64_t a0 = ds->offsets[i], a1 = ds->offsets[i + 1];
    return a0 >= 0 && a1 >= a0 && a1 <= ds->m && a1 - a0 <= XG_PROPMODEL_MAX_ATOMS;
}

int xg_propmodel_predict_dataset(xg_propmodel *m, const xg_dataset *ds, double *values,
                                 int64_t *nskipped, xg_error *err)
{
    if (nskipped)
        *nskipped = 0;
    if (!m || !ds || (ds->n > 0 && !values))
        return xg_error_set(err, XG_EINVAL, "property model predict: missing argument");
    if (ds->n > 2000000000LL)
        return xg_error_set(err, XG_EINVAL, "property model predict: dataset too large");
    xview *v = calloc((size_t)(ds->n > 0 ? ds->n : 1), sizeof *v);
    int64_t *where = malloc((size_t)(ds->n > 0 ? ds->n : 1) * sizeof *where);
    double *vals = malloc((size_t)(ds->n > 0 ? ds->n : 1) * sizeof *vals);
    if (!v || !where || !vals) {
        free(v);
        free(where);
        free(vals);
        return xg_error_set(err, XG_ENOMEM, "property model predict: out of memory");
    }
    int k = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        values[i] = NAN;
        if (dataset_row_ok(ds, i)) {
            xview x = view_dataset(ds, i);
            if (!xview_problem(&x)) {
                v[k] = x;
                where[k++] = i;
                continue;
            }
        }
        if (nskipped)
            (*nskipped)++;
    }
    int rc = predict_views(m, v, k, vals, err);
    if (!rc)
        for (int j = 0; j < k; j++)
            values[where[j]] = vals[j];
    free(v);
    free(where);
    free(vals);
    return rc;
}

/* ================================================================ parameter groups */

/* Writes group `grp` holding every used trunk tensor (from trunk, laid out like the trunk's
 * flat array) and the head tensors (from head, laid out like the head array). */
static int write_tensors(hid_t f, const char *grp, const xg_propmodel *m, const float *trunk,
                         const float *head, const char *ctx, xg_error *err)
{
    hid_t g = xg_h5_group_create(f, grp);
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", grp);
    int rc = XG_OK;
    for (int i = 0; i < xg_denoiser_param_count(m->net) && !rc; i++) {
        size_t off;
        int rows, cols;
        const char *name = xg_denoiser_param_info(m->net, i, &off, &rows, &cols);
        if (!trunk_tensor_used(name))
            continue;
        hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
        rc = xg_h5_put_ds(g, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, trunk + off, ctx, err);
    }
    const hsize_t H = (hsize_t)m->H;
    hsize_t d_w1[2] = {H, H}, d_b1[2] = {1, H}, d_w2[2] = {1, H}, d_b2[2] = {1, 1};
    rc = rc ? rc : xg_h5_put_ds(g, "head.w1", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d_w1, head + m->w1, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "head.b1", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d_b1, head + m->b1, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "head.w2", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d_w2, head + m->w2, ctx, err);
    rc = rc ? rc : xg_h5_put_ds(g, "head.b2", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d_b2, head + m->b2, ctx, err);
    H5Gclose(g);
    return rc;
}

static int read_tensors(hid_t f, const char *grp, const xg_propmodel *m, float *trunk, float *head,
                        const char *ctx, xg_error *err)
{
    char path[256];
    for (int i = 0; i < xg_denoiser_param_count(m->net); i++) {
        size_t off;
        int rows, cols;
        const char *name = xg_denoiser_param_info(m->net, i, &off, &rows, &cols);
        if (!trunk_tensor_used(name)) {
            memset(trunk + off, 0, (size_t)rows * cols * sizeof(float));
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", grp, name);
        hsize_t want[2] = {(hsize_t)rows, (hsize_t)cols};
        int rc = xg_h5_get_ds(f, path, H5T_NATIVE_FLOAT, 2, want, trunk + off, ctx, err);
        if (rc)
            return rc;
    }
    const hsize_t H = (hsize_t)m->H;
    hsize_t d_w1[2] = {H, H}, d_b1[2] = {1, H}, d_w2[2] = {1, H}, d_b2[2] = {1, 1};
    const struct {
        const char *name;
        const hsize_t *dims;
        size_t off;
    } hs[4] = {{"head.w1", d_w1, m->w1}, {"head.b1", d_b1, m->b1}, {"head.w2", d_w2, m->w2},
               {"head.b2", d_b2, m->b2}};
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", grp, hs[k].name);
        int rc = xg_h5_get_ds(f, path, H5T_NATIVE_FLOAT, 2, hs[k].dims, head + hs[k].off, ctx, err);
        if (rc)
            return rc;
    }
    size_t nt = xg_denoiser_num_params(m->net);
    for (size_t k = 0; k < nt; k++)
        if (!isfinite(trunk[k]))
            return xg_error_set(err, XG_ENUMERIC, "%s: /%s holds non-finite weights", ctx, grp);
    for (size_t k = 0; k < m->nhead; k++)
        if (!isfinite(head[k]))
            return xg_error_set(err, XG_ENUMERIC, "%s: /%s holds non-finite weights", ctx, grp);
    return XG_OK;
}

/* ================================================================ the trainer's state */

/* A dataset reduced to the labelled crystals the model can take. */
typedef struct {
    int64_t n;
    int64_t *off;   /* n + 1 */
    int *cls;       /* classes Z - 1 */
    float *frac;
    float *lat;     /* n * 9 */
    double *label;  /* n, target units */
    int maxn;
    int64_t nolabel, unusable;
} pset;

static void pset_free(pset *p)
{
    free(p->off);
    free(p->cls);
    free(p->frac);
    free(p->lat);
    free(p->label);
    memset(p, 0, sizeof *p);
}

static int pset_build(const xg_dataset *ds, const char *target, int64_t limit, pset *p,
                      const char *what, xg_error *err)
{
    memset(p, 0, sizeof *p);
    if (!ds)
        return XG_OK;
    int col = xg_dataset_find_property(ds, target);
    if (col < 0) {
        char names[512] = "";
        for (int k = 0; k < ds->nprops; k++) {
            if (strlen(names) + strlen(ds->prop_names[k]) + 3 >= sizeof names)
                break;
            if (k)
                strcat(names, ", ");
            strcat(names, ds->prop_names[k]);
        }
        return xg_error_set(err, XG_EINVAL, "%s set has no property '%s' (it has: %s)", what,
                            target, names[0] ? names : "none");
    }
    int64_t n = ds->n, m = ds->m;
    p->off = malloc((size_t)(n + 1) * sizeof(int64_t));
    p->cls = malloc((size_t)(m > 0 ? m : 1) * sizeof(int));
    p->frac = malloc((size_t)(m > 0 ? m : 1) * 3 * sizeof(float));
    p->lat = malloc((size_t)(n > 0 ? n : 1) * 9 * sizeof(float));
    p->label = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!p->off || !p->cls || !p->frac || !p->lat || !p->label) {
        pset_free(p);
        return xg_error_set(err, XG_ENOMEM, "%s set: out of memory (%lld crystals)", what,
                            (long long)n);
    }
    p->off[0] = 0;
    for (int64_t i = 0; i < n && (limit <= 0 || p->n < limit); i++) {
        double y = ds->props[i * ds->nprops + col];
        if (isnan(y)) { /* missing is not zero: skipped */
            p->nolabel++;
            continue;
        }
        xview x;
        if (!isfinite(y) || !dataset_row_ok(ds, i) || (x = view_dataset(ds, i), xview_problem(&x))) {
            p->unusable++;
            continue;
        }
        int64_t b = p->n, o = p->off[b];
        for (int a = 0; a < x.n; a++) {
            p->cls[o + a] = x.z[a] - 1;
            for (int k = 0; k < 3; k++) {
                double f = x.frac[3 * a + k];
                p->frac[3 * (o + a) + k] = (float)(f - floor(f));
            }
        }
        for (int k = 0; k < 9; k++)
            p->lat[9 * b + k] = (float)x.lattice[k];
        p->label[b] = y;
        p->off[b + 1] = o + x.n;
        if (x.n > p->maxn)
            p->maxn = x.n;
        p->n++;
    }
    return XG_OK;
}

static uint64_t pset_hash(const pset *p)
{
    uint64_t h = XG_FNV_INIT;
    int64_t m = p->off[p->n];
    h = xg_fnv1a(h, &p->n, sizeof p->n);
    h = xg_fnv1a(h, p->off, (size_t)(p->n + 1) * sizeof(int64_t));
    h = xg_fnv1a(h, p->cls, (size_t)m * sizeof(int));
    h = xg_fnv1a(h, p->frac, (size_t)m * 3 * sizeof(float));
    h = xg_fnv1a(h, p->lat, (size_t)p->n * 9 * sizeof(float));
    h = xg_fnv1a(h, p->label, (size_t)p->n * sizeof(double));
    return h;
}

/* Packs crystals idx[0..B-1] of p into the model's packing buffers. */
static int pack_pset(xg_propmodel *m, const pset *p, const int64_t *idx, int B, xg_batch *b,
                     xg_error *err)
{
    int A = 0;
    for (int k = 0; k < B; k++)
        A += (int)(p->off[idx[k] + 1] - p->off[idx[k]]);
    int rc = ensure_pack(m, B, A, err);
    if (rc)
        return rc;
    m->p_off[0] = 0;
    for (int k = 0; k < B; k++) {
        int64_t i = idx[k], o = p->off[i];
        int n = (int)(p->off[i + 1] - o), a0 = m->p_off[k];
        memcpy(m->p_tok + a0, p->cls + o, (size_t)n * sizeof(int));
        memcpy(m->p_frac + 3 * (size_t)a0, p->frac + 3 * o, (size_t)n * 3 * sizeof(float));
        memcpy(m->p_lat + 9 * (size_t)k, p->lat + 9 * i, 9 * sizeof(float));
        m->p_off[k + 1] = a0 + n;
    }
    *b = packed_batch(m, B);
    return XG_OK;
}

/* Mean absolute error (target units) of the model's current weights over p. */
static int eval_mae(xg_propmodel *m, const pset *p, int B, double *mae, xg_error *err)
{
    *mae = NAN;
    if (p->n == 0)
        return XG_OK;
    int64_t idx[XG_PROP_CHUNK_STRUCTS];
    float y[XG_PROP_CHUNK_STRUCTS];
    if (B > XG_PROP_CHUNK_STRUCTS)
        B = XG_PROP_CHUNK_STRUCTS;
    double sum = 0;
    for (int64_t s0 = 0; s0 < p->n; s0 += B) {
        int nb = (int)(p->n - s0 < B ? p->n - s0 : B);
        for (int k = 0; k < nb; k++)
            idx[k] = s0 + k;
        xg_batch b;
        int rc = pack_pset(m, p, idx, nb, &b, err);
        rc = rc ? rc : xg_propmodel_forward(m, &b, y, err);
        if (rc)
            return rc;
        for (int k = 0; k < nb; k++)
            sum += fabs(m->info.mean + m->info.std * (double)y[k] - p->label[s0 + k]);
    }
    *mae = sum / (double)p->n;
    return XG_OK;
}

static double baseline_mae(const pset *p, double mean)
{
    if (p->n == 0)
        return NAN;
    double s = 0;
    for (int64_t i = 0; i < p->n; i++)
        s += fabs(p->label[i] - mean);
    return s / (double)p->n;
}

typedef struct {
    const xg_propmodel_train_config *cfg;
    xg_trainer core; /* the loop (diffusion/xg_trainer.h): hp, state, EMA, generator */
    xg_propmodel *m;
    pset set[3]; /* train, val, test */
    size_t ntrunk, np;
    float *y, *dy;
    xg_propmodel_progress_fn fn;
    void *user;
} ptrainer;

static void get_flat(xg_propmodel *m, float *dst)
{
    size_t nt = xg_denoiser_num_params(m->net);
    memcpy(dst, xg_denoiser_params(m->net), nt * sizeof(float));
    memcpy(dst + nt, m->head, m->nhead * sizeof(float));
}

static void set_flat(xg_propmodel *m, const float *src)
{
    size_t nt = xg_denoiser_num_params(m->net);
    memcpy(xg_denoiser_params(m->net), src, nt * sizeof(float));
    memcpy(m->head, src + nt, m->nhead * sizeof(float));
}

/* ================================================================ training domain */

int xg_propmodel_domain_compute(const xg_dataset *ds, const char *target, int64_t limit,
                                xg_propmodel_domain *out, int64_t *nskipped, xg_error *err)
{
    if (!ds || !out)
        return xg_error_set(err, XG_EINVAL, "training domain: NULL argument");
    memset(out, 0, sizeof *out);
    int col = -1;
    if (target && (col = xg_dataset_find_property(ds, target)) < 0)
        return xg_error_set(err, XG_EINVAL, "training domain: the data have no property '%s'",
                            target);
    int64_t skipped = 0;
    xg_propmodel_domain d;
    memset(&d, 0, sizeof d);
    d.density_min = d.bond_ratio_min = INFINITY;
    d.density_max = d.bond_ratio_max = -INFINITY;
    d.natoms_min = INT32_MAX;
    for (int64_t i = 0; i < ds->n && (limit <= 0 || d.n < limit); i++) {
        if (col >= 0 && !isfinite(ds->props[i * ds->nprops + col]))
            continue; /* not a training crystal of this target */
        xg_error e2 = {0};
        xg_structure *s = xg_dataset_get(ds, i, &e2);
        double ratio = NAN, rho = s ? xg_structure_density(s) : NAN;
        if (!s || xg_validity_min_bond_ratio(s, 5.0, &ratio, &e2) || !isfinite(rho)) {
            skipped++;
            xg_structure_free(s);
            continue;
        }
        for (int a = 0; a < s->natoms; a++)
            if (s->types[a] >= 1 && s->types[a] <= XG_MAX_Z)
                d.elements[s->types[a]] = 1;
        d.density_min = fmin(d.density_min, rho);
        d.density_max = fmax(d.density_max, rho);
        d.bond_ratio_min = fmin(d.bond_ratio_min, ratio);
        d.bond_ratio_max = fmax(d.bond_ratio_max, ratio);
        d.natoms_min = s->natoms < d.natoms_min ? s->natoms : d.natoms_min;
        d.natoms_max = s->natoms > d.natoms_max ? s->natoms : d.natoms_max;
        d.n++;
        xg_structure_free(s);
    }
    if (nskipped)
        *nskipped = skipped;
    if (d.n == 0)
        return xg_error_set(err, XG_EINVAL, "training domain: no crystal with a value of '%s'",
                            target ? target : "(any)");
    d.have = 1;
    *out = d;
    return XG_OK;
}

void xg_propmodel_set_domain(xg_propmodel *m, const xg_propmodel_domain *d)
{
    if (m && d)
        m->info.domain = *d;
}

int xg_propmodel_domain_check(const xg_propmodel_domain *d, const xg_structure *s, char *why,
                              size_t why_len)
{
    char dummy[8];
    if (!why || !why_len) {
        why = dummy;
        why_len = sizeof dummy;
    }
    why[0] = '\0';
    if (!d || !d->have) {
        snprintf(why, why_len, "the model carries no training domain");
        return -1;
    }
    if (!s || s->natoms < 1) {
        snprintf(why, why_len, "no atoms");
        return -1;
    }
    for (int a = 0; a < s->natoms; a++) {
        int z = s->types[a];
        if (z < 1 || z > XG_MAX_Z || !d->elements[z]) {
            const xg_element *e = xg_element_get(z);
            snprintf(why, why_len, "element %s never seen in training", e ? e->symbol : "?");
            return 0;
        }
    }
    if (s->natoms < d->natoms_min || s->natoms > d->natoms_max) {
        snprintf(why, why_len, "%d atoms, training had %d..%d", s->natoms, d->natoms_min,
                 d->natoms_max);
        return 0;
    }
    double rho = xg_structure_density(s), ratio = NAN;
    xg_error e2 = {0};
    if (!isfinite(rho) || xg_validity_min_bond_ratio(s, 5.0, &ratio, &e2)) {
        snprintf(why, why_len, "geometry cannot be analysed");
        return -1;
    }
    if (rho < d->density_min || rho > d->density_max) {
        snprintf(why, why_len, "density %.3g g/cm^3, training had %.3g..%.3g", rho,
                 d->density_min, d->density_max);
        return 0;
    }
    if (ratio < d->bond_ratio_min || ratio > d->bond_ratio_max) {
        snprintf(why, why_len, "min bond ratio %.3f, training had %.3f..%.3f", ratio,
                 d->bond_ratio_min, d->bond_ratio_max);
        return 0;
    }
    return 1;
}

void xg_propmodel_physical_range(const char *target, double *lo, double *hi)
{
    double l = -INFINITY, h = INFINITY;
    if (target && (!strcmp(target, "band_gap") || !strcmp(target, "dft_mag_density") ||
                   !strcmp(target, "e_above_hull")))
        l = 0; /* a gap, a magnetisation density and a distance above the hull are >= 0 */
    if (lo)
        *lo = l;
    if (hi)
        *hi = h;
}

/* ================================================================ files */

static int write_config(hid_t f, const xg_propmodel *m, const char *ctx, xg_error *err)
{
    hid_t g = xg_h5_group_create(f, "config");
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", "config");
    const xg_denoiser_config *c = xg_denoiser_get_config(m->net);
    const xg_hparams *h = &m->info.hp;
    int rc = xg_h5_put_i64(g, "hidden", c->hidden, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "layers", c->layers, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "n_freq", c->n_freq, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "time_dim", c->time_dim, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "head_hidden", m->H, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "train_batch", h->batch, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "train_warmup_steps", h->warmup_steps, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "train_threads", h->threads, ctx, err);
    rc = rc ? rc : xg_h5_put_u64(g, "train_seed", h->seed, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_lr", h->lr, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_lr_min", h->lr_min, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_weight_decay", h->weight_decay, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_clip_norm", h->clip_norm, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "train_ema_decay", h->ema_decay, ctx, err);
    H5Gclose(g);
    return rc;
}

static int write_state(hid_t f, const ptrainer *T, const char *ctx, xg_error *err)
{
    const xg_propmodel *m = T->m;
    const xg_train_state *st = T->core.st;
    size_t nt = T->ntrunk;
    int rc = write_tensors(f, "ema", m, T->core.ema, T->core.ema + nt, ctx, err);
    rc = rc ? rc : write_tensors(f, "best", m, st->best, st->best + nt, ctx, err);
    if (rc)
        return rc;
    hid_t g = xg_h5_group_create(f, "optimizer");
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", "optimizer");
    H5Gclose(g);
    rc = write_tensors(f, "optimizer/m", m, st->adam_m, st->adam_m + nt, ctx, err);
    rc = rc ? rc : write_tensors(f, "optimizer/v", m, st->adam_v, st->adam_v + nt, ctx, err);
    if (rc)
        return rc;
    g = xg_h5_group_create(f, "train");
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", "train");
    rc = xg_h5_put_i64(g, "step", st->step, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "epoch", st->epoch, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "step_in_epoch", st->step_in_epoch, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "horizon", st->horizon, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "best_epoch", st->best_epoch, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "elapsed", st->elapsed, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "best_val", st->best_val, ctx, err);
    rc = rc ? rc : xg_h5_put_u64(g, "data_hash", st->data_hash, ctx, err);
    /* This file's epoch_sums: loss sum, steps, seconds. */
    double sums[3] = {st->sums[XG_SUM_TOTAL], st->sums[XG_SUM_STEPS], st->sums[XG_SUM_SECONDS]};
    rc = rc ? rc : xg_train_state_write_h5(g, st, sums, 3, hist_names, ctx, err);
    H5Gclose(g);
    return rc;
}

/* /domain (see the header); nothing when the domain is unknown. */
static int write_domain(hid_t f, const xg_propmodel_domain *d, const char *ctx, xg_error *err)
{
    if (!d->have)
        return XG_OK;
    hid_t g = H5Gcreate2(f, "domain", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return xg_h5_fail(err, ctx, "create group", "domain");
    int32_t z[XG_MAX_Z];
    hsize_t nz = 0;
    for (int k = 1; k <= XG_MAX_Z; k++)
        if (d->elements[k])
            z[nz++] = k;
    int rc = xg_h5_put_i64(g, "n", d->n, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "density_min", d->density_min, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "density_max", d->density_max, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "bond_ratio_min", d->bond_ratio_min, ctx, err);
    rc = rc ? rc : xg_h5_put_f64(g, "bond_ratio_max", d->bond_ratio_max, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "natoms_min", d->natoms_min, ctx, err);
    rc = rc ? rc : xg_h5_put_i64(g, "natoms_max", d->natoms_max, ctx, err);
    rc = rc ? rc
            : xg_h5_put_ds(g, "elements", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &nz, z, ctx, err);
    H5Gclose(g);
    return rc;
}

/* Reads /domain when present (d->have = 0 otherwise). */
static int read_domain(hid_t f, xg_propmodel_domain *d, const char *ctx, xg_error *err)
{
    memset(d, 0, sizeof *d);
    if (H5Lexists(f, "domain", H5P_DEFAULT) <= 0)
        return XG_OK;
    hid_t g = H5Gopen2(f, "domain", H5P_DEFAULT);
    if (g < 0)
        return xg_error_set(err, XG_EPARSE, "%s: /domain is not a group", ctx);
    int64_t n = 0;
    int rc = xg_h5_get_i64(g, "/domain", "n", &n, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/domain", "density_min", &d->density_min, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/domain", "density_max", &d->density_max, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/domain", "bond_ratio_min", &d->bond_ratio_min, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/domain", "bond_ratio_max", &d->bond_ratio_max, ctx, err);
    rc = rc ? rc : xg_h5_get_int(g, "/domain", "natoms_min", 1, 1 << 30, &d->natoms_min, ctx, err);
    rc = rc ? rc : xg_h5_get_int(g, "/domain", "natoms_max", 1, 1 << 30, &d->natoms_max, ctx, err);
    hsize_t nz = 0;
    rc = rc ? rc : xg_h5_ds_shape(g, "elements", 1, &nz, ctx, err);
    if (!rc && nz > XG_MAX_Z)
        rc = xg_error_set(err, XG_EPARSE, "%s: /domain/elements has %llu entries", ctx,
                          (unsigned long long)nz);
    int32_t z[XG_MAX_Z];
    rc = rc ? rc : xg_h5_get_ds(g, "elements", H5T_NATIVE_INT32, 1, &nz, z, ctx, err);
    H5Gclose(g);
    for (hsize_t k = 0; !rc && k < nz; k++) {
        if (z[k] < 1 || z[k] > XG_MAX_Z)
            rc = xg_error_set(err, XG_EPARSE, "%s: /domain/elements holds Z = %d", ctx, z[k]);
        else
            d->elements[z[k]] = 1;
    }
    if (!rc && !(d->density_min <= d->density_max && d->bond_ratio_min <= d->bond_ratio_max &&
                 d->natoms_min <= d->natoms_max && n > 0))
        rc = xg_error_set(err, XG_EPARSE, "%s: /domain ranges are inconsistent", ctx);
    if (rc) {
        memset(d, 0, sizeof *d);
        return rc;
    }
    d->n = n;
    d->have = 1;
    return XG_OK;
}

/* What one file holds: the model and, for a checkpoint, the trainer's state. */
struct prop_file {
    const xg_propmodel *m;
    const ptrainer *T;
};

static int fill_file(hid_t f, const void *user, const char *path, xg_error *err)
{
    const xg_propmodel *m = ((const struct prop_file *)user)->m;
    const ptrainer *T = ((const struct prop_file *)user)->T;
    const xg_propmodel_info *in = &m->info;
    int rc = xg_h5_put_str(f, "format", XG_PROPMODEL_FORMAT, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "version", XG_PROPMODEL_VERSION, path, err);
    rc = rc ? rc : xg_h5_put_str(f, "kind", T ? "checkpoint" : "model", path, err);
    rc = rc ? rc : xg_h5_put_str(f, "target", in->target, path, err);
    rc = rc ? rc : xg_h5_put_str(f, "loss", in->loss == XG_PROPLOSS_MSE ? "mse" : "l1", path, err);
    rc = rc ? rc : xg_h5_put_f64(f, "time", XG_PROPMODEL_TIME, path, err);
    rc = rc ? rc : xg_h5_put_f64(f, "target_mean", in->mean, path, err);
    rc = rc ? rc : xg_h5_put_f64(f, "target_std", in->std, path, err);
    rc = rc ? rc : xg_h5_put_f64(f, "val_mae", in->val_mae, path, err);
    rc = rc ? rc : xg_h5_put_f64(f, "test_mae", in->test_mae, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "n_train", in->n_train, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "n_val", in->n_val, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "n_test", in->n_test, path, err);
    rc = rc ? rc : xg_h5_put_i64(f, "epochs", in->epochs, path, err);
    rc = rc ? rc : write_config(f, m, path, err);
    rc = rc ? rc : write_domain(f, &in->domain, path, err);
    rc = rc ? rc : write_tensors(f, "weights", m, xg_denoiser_params(m->net), m->head, path, err);
    if (!rc && T)
        rc = write_state(f, T, path, err);
    return rc;
}

/* Writes m (its current weights) and, with T, the trainer's state: a checkpoint. */
static int write_file(const xg_propmodel *m, const char *path, const ptrainer *T, xg_error *err)
{
    if (!m || !path)
        return xg_error_set(err, XG_EINVAL, "property model write: missing argument");
    struct prop_file pf = {m, T};
    return xg_h5_write_atomic(path, fill_file, &pf, "property model write", err);
}

int xg_propmodel_write(const xg_propmodel *m, const char *path, xg_error *err)
{
    return write_file(m, path, NULL, err);
}

static int load_impl(hid_t f, const char *path, xg_propmodel **out, int *is_ckpt, xg_error *err)
{
    char fmt[64], kind[32], target[XG_PROP_NAME_LEN], loss[16];
    if (xg_h5_get_str(f, "/", "format", fmt, sizeof fmt, path, NULL) != XG_OK)
        return xg_error_set(err, XG_EPARSE, "%s: not an xtalgen property model (no 'format' "
                                            "attribute)", path);
    if (strcmp(fmt, XG_PROPMODEL_FORMAT) != 0)
        return xg_error_set(err, XG_EPARSE,
                            "%s: not an xtalgen property model (format '%s', expected '%s')%s",
                            path, fmt, XG_PROPMODEL_FORMAT,
                            strcmp(fmt, "xtalgen-model") == 0 ? "; this is a generative model" : "");
    int64_t version = 0;
    int rc = xg_h5_get_i64(f, "/", "version", &version, path, err);
    if (rc)
        return rc;
    if (version != XG_PROPMODEL_VERSION)
        return xg_error_set(err, XG_EVERSION,
                            "%s: property model layout version %lld; this build of xtalgen reads "
                            "version %d%s",
                            path, (long long)version, XG_PROPMODEL_VERSION,
                            version > XG_PROPMODEL_VERSION ? " (a newer xtalgen wrote it; upgrade)" : "");
    rc = xg_h5_get_str(f, "/", "kind", kind, sizeof kind, path, err);
    rc = rc ? rc : xg_h5_get_str(f, "/", "target", target, sizeof target, path, err);
    rc = rc ? rc : xg_h5_get_str(f, "/", "loss", loss, sizeof loss, path, err);
    if (rc)
        return rc;
    if (H5Lexists(f, "config", H5P_DEFAULT) <= 0)
        return xg_error_set(err, XG_EPARSE, "%s: missing group /config", path);
    hid_t g = H5Gopen2(f, "config", H5P_DEFAULT);
    if (g < 0)
        return xg_error_set(err, XG_EPARSE, "%s: /config is not a group", path);
    xg_denoiser_config c = {0, 0, 0, 0, 0};
    int head_hidden = 0;
    xg_hparams hp;
    xg_hparams_default(&hp);
    int64_t i64 = 0;
    rc = xg_h5_get_int(g, "/config", "hidden", 1, 4096, &c.hidden, path, err);
    rc = rc ? rc : xg_h5_get_int(g, "/config", "layers", 0, 64, &c.layers, path, err);
    rc = rc ? rc : xg_h5_get_int(g, "/config", "n_freq", 1, 64, &c.n_freq, path, err);
    rc = rc ? rc : xg_h5_get_int(g, "/config", "time_dim", 2, 4096, &c.time_dim, path, err);
    rc = rc ? rc : xg_h5_get_int(g, "/config", "head_hidden", 1, 4096, &head_hidden, path, err);
    rc = rc ? rc : xg_h5_get_int(g, "/config", "train_batch", 1, 100000000, &hp.batch, path, err);
    rc = rc ? rc : xg_h5_get_i64(g, "/config", "train_warmup_steps", &i64, path, err);
    hp.warmup_steps = (long)i64;
    rc = rc ? rc : xg_h5_get_int(g, "/config", "train_threads", 0, 1 << 20, &hp.threads, path, err);
    rc = rc ? rc : xg_h5_get_attr(g, "/config", "train_seed", H5T_NATIVE_UINT64, &hp.seed, path, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/config", "train_lr", &hp.lr, path, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/config", "train_lr_min", &hp.lr_min, path, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/config", "train_weight_decay", &hp.weight_decay, path, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/config", "train_clip_norm", &hp.clip_norm, path, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/config", "train_ema_decay", &hp.ema_decay, path, err);
    H5Gclose(g);
    if (rc)
        return rc;
    if (head_hidden != c.hidden)
        return xg_error_set(err, XG_EPARSE, "%s: head_hidden %d differs from hidden %d", path,
                            head_hidden, c.hidden);
    /* the weights are stored as float32, uncompressed: refuse before allocating from /config */
    struct stat sb;
    double need = sizeof(float) * xg_denoiser_params_lower_bound(&c);
    if (stat(path, &sb) == 0 && need > (double)sb.st_size)
        return xg_error_set(err, XG_EPARSE, "%s: /config describes a network of at least %.0f "
                            "bytes of weights, but the file has %lld bytes (truncated or crafted)",
                            path, need, (long long)sb.st_size);
    xg_propmodel *m = xg_propmodel_alloc(&c, target, err);
    if (!m) {
        xg_error_prefix(err, err->code, "%s: building the network from /config", path);
        return err ? err->code : XG_EINVAL;
    }
    xg_propmodel_info *in = &m->info;
    in->hp = hp;
    in->loss = strcmp(loss, "mse") == 0 ? XG_PROPLOSS_MSE : XG_PROPLOSS_L1;
    double t = 0;
    rc = xg_h5_get_f64(f, "/", "time", &t, path, err);
    if (!rc && fabs(t - (double)XG_PROPMODEL_TIME) > 1e-9)
        rc = xg_error_set(err, XG_EPARSE, "%s: trained at trunk time %g; this build uses %g", path,
                          t, (double)XG_PROPMODEL_TIME);
    rc = rc ? rc : xg_h5_get_f64(f, "/", "target_mean", &in->mean, path, err);
    rc = rc ? rc : xg_h5_get_f64(f, "/", "target_std", &in->std, path, err);
    rc = rc ? rc : xg_h5_get_f64(f, "/", "val_mae", &in->val_mae, path, err);
    rc = rc ? rc : xg_h5_get_f64(f, "/", "test_mae", &in->test_mae, path, err);
    rc = rc ? rc : xg_h5_get_i64(f, "/", "n_train", &in->n_train, path, err);
    rc = rc ? rc : xg_h5_get_i64(f, "/", "n_val", &in->n_val, path, err);
    rc = rc ? rc : xg_h5_get_i64(f, "/", "n_test", &in->n_test, path, err);
    rc = rc ? rc : xg_h5_get_i64(f, "/", "epochs", &in->epochs, path, err);
    if (!rc && (!isfinite(in->mean) || !(in->std > 0) || !isfinite(in->std)))
        rc = xg_error_set(err, XG_EPARSE, "%s: invalid target scaler (mean %g, std %g)", path,
                          in->mean, in->std);
    rc = rc ? rc : read_domain(f, &in->domain, path, err);
    rc = rc ? rc : read_tensors(f, "weights", m, xg_denoiser_params(m->net), m->head, path, err);
    if (rc) {
        xg_propmodel_free(m);
        return rc;
    }
    if (is_ckpt)
        *is_ckpt = strcmp(kind, "checkpoint") == 0;
    *out = m;
    return XG_OK;
}

int xg_propmodel_load(const char *path, xg_propmodel **out, xg_error *err)
{
    if (!out)
        return xg_error_set(err, XG_EINVAL, "property model load: no output given");
    *out = NULL;
    if (!path)
        return xg_error_set(err, XG_EINVAL, "property model load: no path");
    if (access(path, R_OK) != 0)
        return xg_error_set(err, XG_EIO, "%s: cannot read (%s)", path, strerror(errno));
    int rc = XG_OK;
    H5E_BEGIN_TRY
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) {
            rc = xg_error_set(err, XG_EIO, "%s: not a readable HDF5 file", path);
        } else {
            rc = load_impl(f, path, out, NULL, err);
            H5Fclose(f);
        }
    }
    H5E_END_TRY;
    return rc;
}

/* Reads a checkpoint's state into T's (whose model, sets and state are already set up). */
static int read_state(hid_t f, ptrainer *T, const char *ctx, xg_error *err)
{
    size_t nt = T->ntrunk;
    xg_propmodel *m = T->m;
    xg_train_state *st = T->core.st;
    int rc = read_tensors(f, "ema", m, T->core.ema, T->core.ema + nt, ctx, err);
    rc = rc ? rc : read_tensors(f, "best", m, st->best, st->best + nt, ctx, err);
    rc = rc ? rc : read_tensors(f, "optimizer/m", m, st->adam_m, st->adam_m + nt, ctx, err);
    rc = rc ? rc : read_tensors(f, "optimizer/v", m, st->adam_v, st->adam_v + nt, ctx, err);
    if (rc)
        return rc;
    if (H5Lexists(f, "train", H5P_DEFAULT) <= 0)
        return xg_error_set(err, XG_EPARSE, "%s: missing group /train", ctx);
    hid_t g = H5Gopen2(f, "train", H5P_DEFAULT);
    if (g < 0)
        return xg_error_set(err, XG_EPARSE, "%s: /train is not a group", ctx);
    rc = xg_h5_get_i64(g, "/train", "step", &st->step, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, "/train", "epoch", &st->epoch, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, "/train", "step_in_epoch", &st->step_in_epoch, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, "/train", "horizon", &st->horizon, ctx, err);
    rc = rc ? rc : xg_h5_get_i64(g, "/train", "best_epoch", &st->best_epoch, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/train", "elapsed", &st->elapsed, ctx, err);
    rc = rc ? rc : xg_h5_get_f64(g, "/train", "best_val", &st->best_val, ctx, err);
    rc = rc ? rc : xg_h5_get_attr(g, "/train", "data_hash", H5T_NATIVE_UINT64, &st->data_hash, ctx, err);
    hsize_t np = 0;
    double sums[3] = {0, 0, 0};
    rc = rc ? rc : xg_h5_ds_shape(g, "perm", 1, &np, ctx, err);
    if (!rc && np != (hsize_t)T->set[0].n)
        rc = xg_error_set(err, XG_EINVAL,
                          "resuming %s: the checkpoint was made on %llu labelled training crystals, "
                          "this training set has %lld; resume with the same --data and --target",
                          ctx, (unsigned long long)np, (long long)T->set[0].n);
    rc = rc ? rc : xg_train_state_read_h5(g, st, sums, 3, 0, ctx, err);
    st->sums[XG_SUM_TOTAL] = sums[0];
    st->sums[XG_SUM_STEPS] = sums[1];
    st->sums[XG_SUM_SECONDS] = sums[2];
    /* Every step of an epoch has B crystals (xg_trainer.h). */
    int64_t n = T->set[0].n;
    st->sums[XG_SUM_CRYSTALS] = sums[1] * (double)(T->core.hp.batch < n ? T->core.hp.batch : n);
    H5Gclose(g);
    if (rc)
        return rc;
    int bad = st->step < 0 || st->epoch < 0 || st->step_in_epoch < 0 || st->horizon < 0;
    if (bad)
        return xg_error_set(err, XG_EPARSE, "%s: /train holds an inconsistent state", ctx);
    return XG_OK;
}

/* ================================================================ training */

void xg_propmodel_train_config_default(xg_propmodel_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->trunk.hidden = 128;
    c->trunk.layers = 3;
    c->trunk.n_freq = 8;
    c->trunk.time_dim = 32;
    c->trunk.cond_dim = 0;
    c->loss = XG_PROPLOSS_L1;
    xg_hparams_default(&c->hp);
    c->hp.warmup_steps = 300;
    c->hp.epochs = 100;
    c->hp.checkpoint_minutes = 10;
}

static void trainer_free(ptrainer *T)
{
    for (int k = 0; k < 3; k++)
        pset_free(&T->set[k]);
    free(T->core.ema);
    xg_train_state_free(T->core.st);
    xg_trainer_free(&T->core);
    free(T->y);
    free(T->dy);
    xg_propmodel_free(T->m);
}

static void fill_progress(const ptrainer *T, xg_propmodel_progress *p, const xg_trainer_progress *g)
{
    memset(p, 0, sizeof *p);
    p->event = g->event == XG_TRAINER_EV_STEP ? XG_PROP_EV_STEP : XG_PROP_EV_EPOCH;
    p->ntrain = T->set[0].n;
    p->nval = T->set[1].n;
    p->ntest = T->set[2].n;
    for (int k = 0; k < 3; k++) {
        p->nolabel[k] = T->set[k].nolabel;
        p->unusable[k] = T->set[k].unusable;
    }
    p->nparams = T->np;
    p->epoch = g->epoch;
    p->epochs = g->epochs;
    p->step_in_epoch = g->step_in_epoch;
    p->steps_per_epoch = g->steps_per_epoch;
    p->step = g->step;
    p->lr = g->lr;
    p->avg_loss = g->avg[0];
    p->val_mae = g->event == XG_TRAINER_EV_EPOCH ? g->val[0] : NAN;
    p->best_val_mae = g->best_val;
    p->best_epoch = g->best_epoch;
    p->crystals_per_s = g->crystals_per_s;
    p->elapsed = g->elapsed;
    p->eta = g->eta;
}

/* xg_trainer_ops.batch: the loss on the normalised target, mean over the batch, and its
 * gradient. */
static int op_batch(void *ctx, const int64_t *idx, int B, xg_rng *rng, double *loss_out,
                    xg_error *err)
{
    (void)rng; /* no random draws: a property model sees clean crystals */
    ptrainer *T = ctx;
    xg_propmodel *m = T->m;
    const pset *tr = &T->set[0];
    xg_batch b;
    int rc = pack_pset(m, tr, idx, B, &b, err);
    xg_propmodel_zero_grad(m);
    rc = rc ? rc : xg_propmodel_forward(m, &b, T->y, err);
    if (rc)
        return rc;
    double loss = 0;
    const double mu = m->info.mean, sd = m->info.std;
    for (int k = 0; k < B; k++) {
        double r = (double)T->y[k] - (tr->label[idx[k]] - mu) / sd;
        if (m->info.loss == XG_PROPLOSS_MSE) {
            loss += r * r;
            T->dy[k] = (float)(2.0 * r / B);
        } else {
            loss += fabs(r);
            T->dy[k] = (float)((r > 0) - (r < 0)) / (float)B;
        }
    }
    loss /= B;
    loss_out[0] = loss;
    return xg_propmodel_backward(m, &b, T->dy, err);
}

/* xg_trainer_ops.validate: the validation MAE (target units). */
static int op_validate(void *ctx, double *val, xg_error *err)
{
    ptrainer *T = ctx;
    return eval_mae(T->m, &T->set[1], T->core.B, &val[0], err);
}

static int op_checkpoint(void *ctx, const char *path, const xg_trainer *core, xg_error *err)
{
    (void)core;
    ptrainer *T = ctx;
    return write_file(T->m, path, T, err);
}

static int op_progress(void *ctx, const xg_trainer_progress *g)
{
    ptrainer *T = ctx;
    if (!T->fn || g->event == XG_TRAINER_EV_CHECKPOINT)
        return 0;
    xg_propmodel_progress p;
    fill_progress(T, &p, g);
    return T->fn(&p, T->user);
}

static int setup_arrays(ptrainer *T, int B, xg_error *err)
{
    T->ntrunk = xg_denoiser_num_params(T->m->net);
    T->np = T->ntrunk + T->m->nhead;
    size_t np = T->np;
    T->core.ema = malloc(np * sizeof(float));
    T->core.st = xg_train_state_alloc(np, T->set[0].n, XG_PROP_HIST_COLS, 1, err);
    T->y = malloc((size_t)B * sizeof(float));
    T->dy = malloc((size_t)B * sizeof(float));
    if (!T->core.st)
        return err ? err->code : XG_ENOMEM;
    if (!T->core.ema || !T->y || !T->dy)
        return xg_error_set(err, XG_ENOMEM, "train-property: out of memory (%zu parameters)", np);
    get_flat(T->m, T->core.ema);
    get_flat(T->m, T->core.st->best);
    return XG_OK;
}

/* Grows the trunk's arena once for the largest batch any set can produce. */
static int reserve_trunk(ptrainer *T, xg_error *err)
{
    long atoms = 0, pairs = 0;
    int B = T->core.B;
    for (int k = 0; k < 3; k++) {
        long a = 0, e = 0;
        int rc = xg_train_batch_bound(T->set[k].off, T->set[k].n, B, &a, &e, err);
        if (rc)
            return rc;
        if (a > atoms)
            atoms = a;
        if (e > pairs)
            pairs = e;
    }
    int rc = xg_denoiser_reserve(T->m->net, B, (int)atoms, pairs, err);
    rc = rc ? rc : ensure_work(T->m, B, (int)atoms, err);
    return rc ? rc : ensure_pack(T->m, B, (int)atoms, err);
}

int xg_propmodel_train(const xg_propmodel_train_config *cfg, const xg_dataset *train,
                       const xg_dataset *val, const xg_dataset *test, xg_propmodel_progress_fn fn,
                       void *user, xg_propmodel_train_result *res, xg_error *err)
{
    xg_propmodel_train_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof *res);
    res->train_loss = res->val_mae = res->test_mae = NAN;
    res->baseline_val_mae = res->baseline_test_mae = NAN;
    if (!cfg || !train || !cfg->target || !cfg->out_path || !cfg->ckpt_path)
        return xg_error_set(err, XG_EINVAL, "train-property: need a configuration, a target, a "
                                            "training set, and output and checkpoint paths");
    ptrainer T;
    memset(&T, 0, sizeof T);
    T.cfg = cfg;
    T.fn = fn;
    T.user = user;
    xg_trainer *C = &T.core;
    C->t0 = xg_train_clock();
    C->hp = cfg->hp;
    int rc = XG_OK;
    hid_t ck = -1;

    if (cfg->resume) {
        H5E_BEGIN_TRY
        {
            int is_ckpt = 0;
            if (access(cfg->ckpt_path, R_OK) != 0)
                rc = xg_error_set(err, XG_EIO, "resuming: %s: cannot read (%s)", cfg->ckpt_path,
                                  strerror(errno));
            else if ((ck = H5Fopen(cfg->ckpt_path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
                rc = xg_error_set(err, XG_EIO, "resuming: %s: not a readable HDF5 file",
                                  cfg->ckpt_path);
            else
                rc = load_impl(ck, cfg->ckpt_path, &T.m, &is_ckpt, err);
            if (!rc && !is_ckpt)
                rc = xg_error_set(err, XG_EINVAL, "resuming: %s is a final model, not a checkpoint",
                                  cfg->ckpt_path);
            if (!rc && strcmp(T.m->info.target, cfg->target) != 0)
                rc = xg_error_set(err, XG_EINVAL,
                                  "resuming: %s was trained on '%s', not '%s'", cfg->ckpt_path,
                                  T.m->info.target, cfg->target);
        }
        H5E_END_TRY;
        if (rc)
            goto done;
        /* The run's identity is the checkpoint's; this invocation only says when to stop (and
         * which crystals are used: a property model's data limit is not part of its state). */
        xg_hparams_resume(&C->hp, &T.m->info.hp, &cfg->hp);
        C->hp.max_structures = cfg->hp.max_structures;
    }
    rc = xg_optim_check_hparams(&C->hp, 100000, "train-property", err);
    if (rc)
        goto done;
#ifdef _OPENMP
    if (C->hp.threads > 0)
        omp_set_num_threads(C->hp.threads);
#endif
    const char *names[3] = {"training", "validation", "test"};
    const xg_dataset *sets[3] = {train, val, test};
    for (int k = 0; k < 3 && !rc; k++)
        rc = pset_build(sets[k], cfg->target, C->hp.max_structures, &T.set[k], names[k], err);
    if (rc)
        goto done;
    if (T.set[0].n < 2) {
        rc = xg_error_set(err, XG_EINVAL,
                          "train-property: %lld labelled, usable training crystals for '%s' (%lld "
                          "without a label, %lld unusable); need at least 2",
                          (long long)T.set[0].n, cfg->target, (long long)T.set[0].nolabel,
                          (long long)T.set[0].unusable);
        goto done;
    }
    if (!cfg->resume) {
        T.m = xg_propmodel_alloc(&cfg->trunk, cfg->target, err);
        if (!T.m) {
            rc = err ? err->code : XG_EINVAL;
            goto done;
        }
        xg_propmodel_init_params(T.m, C->hp.seed);
        T.m->info.loss = cfg->loss;
        T.m->info.hp = C->hp;
        /* The scaler: mean and sample std of the labelled training crystals. */
        const pset *tr = &T.set[0];
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < tr->n; i++)
            s += tr->label[i];
        double mean = s / (double)tr->n;
        for (int64_t i = 0; i < tr->n; i++)
            s2 += (tr->label[i] - mean) * (tr->label[i] - mean);
        double sd = sqrt(s2 / (double)(tr->n - 1));
        if (!(sd > 0))
            sd = 1.0;
        T.m->info.mean = mean;
        T.m->info.std = sd;
    }
    {
        int64_t n = T.set[0].n;
        rc = setup_arrays(&T, C->hp.batch < n ? C->hp.batch : (int)n, err);
    }
    if (rc)
        goto done;
    if (cfg->resume) {
        H5E_BEGIN_TRY { rc = read_state(ck, &T, cfg->ckpt_path, err); }
        H5E_END_TRY;
        H5Fclose(ck);
        ck = -1;
        if (!rc && C->st->data_hash != pset_hash(&T.set[0]))
            rc = xg_error_set(err, XG_EINVAL, "resuming %s: the checkpoint was made on a different "
                              "training set; resume with the same --data", cfg->ckpt_path);
        if (rc)
            goto done;
        memcpy(C->rng.s, C->st->rng, sizeof C->rng.s);
    } else {
        C->st->data_hash = pset_hash(&T.set[0]);
        xg_rng_seed(&C->rng, C->hp.seed, XG_PROP_STREAM);
    }
    /* The loop's part (diffusion/xg_trainer.h). */
    C->ops.nloss = 1;
    C->ops.nval = 1;
    C->ops.keep_best = 1;
    C->ops.throughput = 0;
    C->ops.hours_policy = XG_HOURS_EVERY_EPOCH;
    C->ops.who = "train-property";
    C->ops.columns = hist_names;
    C->ops.formats = hist_formats;
    C->ops.batch = op_batch;
    C->ops.validate = T.set[1].n > 0 ? op_validate : NULL;
    C->ops.checkpoint = op_checkpoint;
    C->ops.progress = op_progress;
    C->ops.ctx = &T;
    C->ckpt_path = cfg->ckpt_path;
    C->log_path = cfg->log_path;
    C->stop_at_step = cfg->stop_at_step;
    C->nseg = 2;
    C->seg_p[0] = xg_denoiser_params(T.m->net);
    C->seg_g[0] = xg_denoiser_grads(T.m->net);
    C->seg_n[0] = T.ntrunk;
    C->seg_p[1] = T.m->head;
    C->seg_g[1] = T.m->head_g;
    C->seg_n[1] = T.m->nhead;
    C->ntrain = T.set[0].n;
    rc = xg_trainer_start(C, err);
    if (rc)
        goto done;
    if (!cfg->resume && C->hp.epochs > 0)
        C->st->horizon = (int64_t)C->hp.epochs * C->spe;
    rc = reserve_trunk(&T, err);
    if (rc)
        goto done;
    res->baseline_val_mae = baseline_mae(&T.set[1], T.m->info.mean);
    res->baseline_test_mae = baseline_mae(&T.set[2], T.m->info.mean);
    xg_trainer_progress g;
    xg_propmodel_progress p;
    if (fn) {
        xg_trainer_progress_fill(C, XG_TRAINER_EV_STEP, &g);
        fill_progress(&T, &p, &g);
        p.event = XG_PROP_EV_START;
        p.resumed = cfg->resume;
        fn(&p, user);
    }
    int stopped = 0;
    rc = xg_trainer_run(C, &stopped, err);
    if (rc)
        goto done;
    res->stopped_early = stopped;
    const xg_train_state *st = C->st;
    /* The model: the best epoch's EMA weights by validation MAE, else the current EMA. */
    set_flat(T.m, st->best_epoch > 0 ? st->best : C->ema);
    rc = eval_mae(T.m, &T.set[1], C->B, &res->val_mae, err);
    rc = rc ? rc : eval_mae(T.m, &T.set[2], C->B, &res->test_mae, err);
    if (rc)
        goto done;
    T.m->info.hp = C->hp;
    T.m->info.val_mae = res->val_mae;
    T.m->info.test_mae = res->test_mae;
    T.m->info.n_train = T.set[0].n;
    T.m->info.n_val = T.set[1].n;
    T.m->info.n_test = T.set[2].n;
    T.m->info.epochs = st->epoch;
    /* The crystals it learned from, so predictions far from them can be flagged (issue 14). */
    rc = xg_propmodel_domain_compute(train, cfg->target, C->hp.max_structures, &T.m->info.domain,
                                     NULL, err);
    rc = rc ? rc : write_file(T.m, cfg->out_path, NULL, err);
    if (rc)
        goto done;
    res->steps = st->step;
    res->epochs = st->epoch;
    res->best_epoch = st->best_epoch;
    res->train_loss = st->nhist > 0 ? st->hist[(st->nhist - 1) * XG_PROP_HIST_COLS + 3] : NAN;
    res->ntrain = T.set[0].n;
    res->nval = T.set[1].n;
    res->ntest = T.set[2].n;
    for (int k = 0; k < 3; k++) {
        res->nolabel[k] = T.set[k].nolabel;
        res->unusable[k] = T.set[k].unusable;
    }
    if (fn) {
        xg_trainer_progress_fill(C, XG_TRAINER_EV_STEP, &g);
        fill_progress(&T, &p, &g);
        p.event = XG_PROP_EV_DONE;
        p.val_mae = res->val_mae;
        p.path = cfg->out_path;
        fn(&p, user);
    }
done:
    if (ck >= 0)
        H5Fclose(ck);
    trainer_free(&T);
    return rc;
}
