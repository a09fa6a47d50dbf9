/* xg_denoiser.c: the periodic message-passing denoiser of xg_denoiser.h, built from the layers
 * of xg_nn.h. One flat parameter array with a name table, one activation arena carved per batch
 * shape; forward and backward allocate nothing once the arena is large enough. */
#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_nn.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_rng.h"

#define XG_NAME_LEN 40

typedef struct {
    char name[XG_NAME_LEN];
    size_t offset;
    int rows, cols;
} param_entry;

/* Offsets of one message-passing layer's tensors in the flat parameter array. */
typedef struct {
    size_t ln_g, ln_b, A, B, F, G, b1, W2, b2, W3, b3, W4, b4;
} layer_params;

/* Activations of one layer that backward needs. */
typedef struct {
    float *h_in;         /* A x H, the layer's input h (h^l) */
    float *u;            /* A x H, LayerNorm(h) */
    float *mean, *rstd;  /* A */
    float *c;            /* A x 2H, [u, mean_j m_ij] */
    float *z3, *a3;      /* A x H */
    float *z1, *a1, *z2; /* E x H */
} layer_acts;

struct xg_denoiser {
    xg_denoiser_config cfg;
    int nt; /* number of parameter tensors */
    param_entry *table;
    size_t nparams;
    float *params, *grads;
    layer_params *lp;
    size_t type_embed, time_w, cond_w, uncond;
    size_t oln_g, oln_b, coord_w, type_w, type_b, lat_w, lat_b;

    /* the arena and its capacity in floats; pair offsets live beside it */
    float *arena;
    size_t arena_cap;
    long *pair_off;
    int pair_cap; /* capacity of pair_off in crystals */

    /* inference: forward only (sampling). The edge activations (E x H, the bulk of the arena)
     * are needed later only by backward, so one set serves every layer and the gradient
     * buffers are not carved: 1000 atoms need ~2/(3L+2) of the training arena. */
    int inference;
    size_t max_bytes; /* 0 = no cap; else reserve refuses an arena (plus pairs) above it */

    /* the last forward's shape and carved buffers */
    int have_fwd;
    int S, A;
    long E;
    const int *fwd_offsets;
    xg_nn_pairs pl;
    layer_acts *la;
    float *tfeat, *temb, *g6, *gG, *h_final, *P, *Q, *mbar;
    float *uo, *omean, *orstd, *coord, *logits, *ubar, *M, *lat;
    float *phi, *e1, *e2;
    float *dh, *du, *dc, *da3, *dz3, *dmbar, *dP, *dQ, *duo, *dtemb, *dgG, *dubar, *dM;
};

/* ------------------------------------------------------------------ parameters */

static void add_param(xg_denoiser *d, const char *name, int rows, int cols, size_t *where)
{
    param_entry *p = &d->table[d->nt++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->offset = d->nparams;
    p->rows = rows;
    p->cols = cols;
    *where = d->nparams;
    d->nparams += (size_t)rows * cols;
}

void xg_denoiser_default_config(xg_denoiser_config *cfg)
{
    cfg->hidden = 128;
    cfg->layers = 4;
    cfg->n_freq = 8;
    cfg->time_dim = 32;
    cfg->cond_dim = 0;
}

double xg_denoiser_params_lower_bound(const xg_denoiser_config *cfg)
{
    /* per layer A, B, W2, W4 (H x H) and W3 (H x 2H); type and time embeddings */
    double H = cfg->hidden > 0 ? cfg->hidden : 0, L = cfg->layers > 0 ? cfg->layers : 0;
    double T = cfg->time_dim > 0 ? cfg->time_dim : 0;
    return L * 6.0 * H * H + (XG_NUM_TOKENS + T) * H;
}

xg_denoiser *xg_denoiser_alloc(const xg_denoiser_config *cfg, xg_error *err)
{
    if (!cfg) {
        xg_error_set(err, XG_EINVAL, "xg_denoiser_alloc: no configuration given");
        return NULL;
    }
    if (cfg->hidden < 1 || cfg->hidden > 4096 || cfg->layers < 0 || cfg->layers > 64 ||
        cfg->n_freq < 1 || cfg->n_freq > 64 || cfg->time_dim < 2 || cfg->time_dim > 4096 ||
        cfg->time_dim % 2 != 0 || cfg->cond_dim < 0 || cfg->cond_dim > 4096) {
        xg_error_set(err, XG_EINVAL,
                     "xg_denoiser_alloc: invalid configuration (hidden %d in 1..4096, layers %d "
                     "in 0..64, n_freq %d in 1..64, time_dim %d even in 2..4096, cond_dim %d in "
                     "0..4096)",
                     cfg->hidden, cfg->layers, cfg->n_freq, cfg->time_dim, cfg->cond_dim);
        return NULL;
    }
    xg_denoiser *d = calloc(1, sizeof *d);
    if (!d)
        goto nomem;
    d->cfg = *cfg;
    const int H = cfg->hidden, L = cfg->layers;
    int maxt = 4 + 13 * L + 7;
    d->table = calloc((size_t)maxt, sizeof *d->table);
    d->lp = calloc((size_t)(L > 0 ? L : 1), sizeof *d->lp);
    d->la = calloc((size_t)(L > 0 ? L : 1), sizeof *d->la);
    if (!d->table || !d->lp || !d->la)
        goto nomem;

    add_param(d, "type_embed", XG_NUM_TOKENS, H, &d->type_embed);
    add_param(d, "time_w", H, cfg->time_dim, &d->time_w);
    if (cfg->cond_dim > 0) {
        add_param(d, "cond_w", H, cfg->cond_dim, &d->cond_w);
        add_param(d, "uncond", 1, H, &d->uncond);
    }
    for (int l = 0; l < L; l++) {
        char nm[XG_NAME_LEN];
        layer_params *p = &d->lp[l];
#define XG_LAYER_PARAM(field, r, c)                                                                \
    snprintf(nm, sizeof nm, "layer%d." #field, l);                                                 \
    add_param(d, nm, r, c, &p->field)
        XG_LAYER_PARAM(ln_g, 1, H);
        XG_LAYER_PARAM(ln_b, 1, H);
        XG_LAYER_PARAM(A, H, H);
        XG_LAYER_PARAM(B, H, H);
        XG_LAYER_PARAM(F, H, 6 * cfg->n_freq);
        XG_LAYER_PARAM(G, H, 6);
        XG_LAYER_PARAM(b1, 1, H);
        XG_LAYER_PARAM(W2, H, H);
        XG_LAYER_PARAM(b2, 1, H);
        XG_LAYER_PARAM(W3, H, 2 * H);
        XG_LAYER_PARAM(b3, 1, H);
        XG_LAYER_PARAM(W4, H, H);
        XG_LAYER_PARAM(b4, 1, H);
#undef XG_LAYER_PARAM
    }
    add_param(d, "out.ln_g", 1, H, &d->oln_g);
    add_param(d, "out.ln_b", 1, H, &d->oln_b);
    add_param(d, "out.coord_w", 3, H, &d->coord_w);
    add_param(d, "out.type_w", XG_NUM_TYPES, H, &d->type_w);
    add_param(d, "out.type_b", 1, XG_NUM_TYPES, &d->type_b);
    add_param(d, "out.lattice_w", 9, H, &d->lat_w);
    add_param(d, "out.lattice_b", 1, 9, &d->lat_b);

    d->params = calloc(d->nparams, sizeof *d->params);
    d->grads = calloc(d->nparams, sizeof *d->grads);
    if (!d->params || !d->grads)
        goto nomem;
    xg_denoiser_init_params(d, 0);
    return d;
nomem:
    xg_denoiser_free(d);
    xg_error_set(err, XG_ENOMEM, "xg_denoiser_alloc: out of memory for the parameters");
    return NULL;
}

void xg_denoiser_free(xg_denoiser *d)
{
    if (!d)
        return;
    free(d->table);
    free(d->lp);
    free(d->la);
    free(d->params);
    free(d->grads);
    free(d->arena);
    free(d->pair_off);
    free(d);
}

const xg_denoiser_config *xg_denoiser_get_config(const xg_denoiser *d) { return &d->cfg; }
size_t xg_denoiser_num_params(const xg_denoiser *d) { return d->nparams; }
float *xg_denoiser_params(xg_denoiser *d) { return d->params; }
float *xg_denoiser_grads(xg_denoiser *d) { return d->grads; }
void xg_denoiser_zero_grad(xg_denoiser *d) { memset(d->grads, 0, d->nparams * sizeof *d->grads); }
int xg_denoiser_param_count(const xg_denoiser *d) { return d->nt; }

const char *xg_denoiser_param_info(const xg_denoiser *d, int i, size_t *offset, int *rows,
                                   int *cols)
{
    if (i < 0 || i >= d->nt)
        return NULL;
    if (offset)
        *offset = d->table[i].offset;
    if (rows)
        *rows = d->table[i].rows;
    if (cols)
        *cols = d->table[i].cols;
    return d->table[i].name;
}

static void fill_normal(float *p, size_t n, double std, xg_rng *r)
{
    for (size_t k = 0; k < n; k++)
        p[k] = (float)(std * xg_rng_normal(r));
}

static void fill_const(float *p, size_t n, float v)
{
    for (size_t k = 0; k < n; k++)
        p[k] = v;
}

void xg_denoiser_init_params(xg_denoiser *d, uint64_t seed)
{
    const int H = d->cfg.hidden, K = 6 * d->cfg.n_freq;
    float *w = d->params;
    xg_rng r;
    xg_rng_seed(&r, seed, 0x6e6e); /* a stream of its own, apart from data/noise streams */
    /* The node state starts O(1) per entry; the layer norms make its scale irrelevant anyway. */
    fill_normal(w + d->type_embed, (size_t)XG_NUM_TOKENS * H, 1.0, &r);
    fill_normal(w + d->time_w, (size_t)H * d->cfg.time_dim, 1.0 / sqrt(d->cfg.time_dim), &r);
    if (d->cfg.cond_dim > 0) {
        /* Zero, adapter style: a conditional model fine-tuned from an unconditional one starts
         * from exactly the unconditional network. */
        fill_const(w + d->cond_w, (size_t)H * d->cfg.cond_dim, 0.0f);
        fill_const(w + d->uncond, (size_t)H, 0.0f);
    }
    /* Metric entries are ~(V/N)^(2/3) = 6.7 at MP-20's density after the N^(2/3) scaling. */
    const double metric_scale = 6.7;
    for (int l = 0; l < d->cfg.layers; l++) {
        const layer_params *p = &d->lp[l];
        fill_const(w + p->ln_g, (size_t)H, 1.0f);
        fill_const(w + p->ln_b, (size_t)H, 0.0f);
        /* Four terms add into the first edge pre-activation: each gets 1/4 of unit variance. */
        fill_normal(w + p->A, (size_t)H * H, 0.5 / sqrt(H), &r);
        fill_normal(w + p->B, (size_t)H * H, 0.5 / sqrt(H), &r);
        fill_normal(w + p->F, (size_t)H * K, 0.5 * sqrt(2.0 / K), &r);
        fill_normal(w + p->G, (size_t)H * 6, 0.5 / (sqrt(6.0) * metric_scale), &r);
        fill_const(w + p->b1, (size_t)H, 0.0f);
        fill_normal(w + p->W2, (size_t)H * H, 1.0 / sqrt(H), &r);
        fill_const(w + p->b2, (size_t)H, 0.0f);
        fill_normal(w + p->W3, (size_t)H * 2 * H, 1.0 / sqrt(2.0 * H), &r);
        fill_const(w + p->b3, (size_t)H, 0.0f);
        fill_normal(w + p->W4, (size_t)H * H, 1.0 / sqrt(H), &r);
        fill_const(w + p->b4, (size_t)H, 0.0f);
    }
    fill_const(w + d->oln_g, (size_t)H, 1.0f);
    fill_const(w + d->oln_b, (size_t)H, 0.0f);
    /* Output heads at 0.1x: the first steps predict ~0 (a stable start) while gradients still
     * reach every layer. */
    fill_normal(w + d->coord_w, (size_t)3 * H, 0.1 / sqrt(H), &r);
    fill_normal(w + d->type_w, (size_t)XG_NUM_TYPES * H, 0.1 / sqrt(H), &r);
    fill_const(w + d->type_b, XG_NUM_TYPES, 0.0f);
    fill_normal(w + d->lat_w, (size_t)9 * H, 0.1 / sqrt(H), &r);
    fill_const(w + d->lat_b, 9, 0.0f);
}

/* ------------------------------------------------------------------ arena */

/* Carves the arena for a batch of S crystals, A atoms, E pairs. With assign == 0 it only
 * counts; the count is what reserve allocates. Every buffer starts 64-byte aligned. */
static size_t carve(xg_denoiser *d, int S, int A, long E, int assign)
{
    const size_t H = (size_t)d->cfg.hidden;
    const int L = d->cfg.layers;
    size_t used = 0;
#define TAKE(ptr, n)                                                                               \
    do {                                                                                           \
        size_t n_ = ((size_t)(n) + 15) & ~(size_t)15;                                              \
        if (assign)                                                                                \
            (ptr) = d->arena + used;                                                               \
        used += n_;                                                                                \
    } while (0)
    TAKE(d->tfeat, (size_t)S * d->cfg.time_dim);
    TAKE(d->temb, S * H);
    TAKE(d->g6, (size_t)S * 6);
    TAKE(d->gG, S * H);
    for (int l = 0; l < L; l++) {
        layer_acts *a = &d->la[l];
        TAKE(a->h_in, A * H);
        TAKE(a->u, A * H);
        TAKE(a->mean, A);
        TAKE(a->rstd, A);
        TAKE(a->c, 2 * A * H);
        TAKE(a->z3, A * H);
        TAKE(a->a3, A * H);
        if (!d->inference) {
            TAKE(a->z1, E * H);
            TAKE(a->a1, E * H);
            TAKE(a->z2, E * H);
        } else if (l == 0) {
            /* z2 = W2 a1 + b2 may overwrite z1: nothing reads z1 after a1 = SiLU(z1) */
            TAKE(a->z1, E * H);
            TAKE(a->a1, E * H);
            if (assign)
                a->z2 = a->z1;
        } else if (assign) {
            a->z1 = a->z2 = d->la[0].z1;
            a->a1 = d->la[0].a1;
        }
    }
    TAKE(d->h_final, A * H);
    TAKE(d->P, A * H);
    TAKE(d->Q, A * H);
    TAKE(d->mbar, A * H);
    TAKE(d->uo, A * H);
    TAKE(d->omean, A);
    TAKE(d->orstd, A);
    TAKE(d->coord, (size_t)A * 3);
    TAKE(d->logits, (size_t)A * XG_NUM_TYPES);
    TAKE(d->ubar, S * H);
    TAKE(d->M, (size_t)S * 9);
    TAKE(d->lat, (size_t)S * 9);
    TAKE(d->phi, (size_t)E * 6 * d->cfg.n_freq);
    if (d->inference) { /* no backward: no gradient buffers */
        if (assign)
            d->e1 = d->e2 = d->dh = d->du = d->dc = d->da3 = d->dz3 = d->dmbar = d->dP = d->dQ =
                d->duo = d->dtemb = d->dgG = d->dubar = d->dM = NULL;
        return used;
    }
    TAKE(d->e1, E * H);
    TAKE(d->e2, E * H);
    TAKE(d->dh, A * H);
    TAKE(d->du, A * H);
    TAKE(d->dc, 2 * A * H);
    TAKE(d->da3, A * H);
    TAKE(d->dz3, A * H);
    TAKE(d->dmbar, A * H);
    TAKE(d->dP, A * H);
    TAKE(d->dQ, A * H);
    TAKE(d->duo, A * H);
    TAKE(d->dtemb, S * H);
    TAKE(d->dgG, S * H);
    TAKE(d->dubar, S * H);
    TAKE(d->dM, (size_t)S * 9);
#undef TAKE
    return used;
}

int xg_denoiser_reserve(xg_denoiser *d, int max_structs, int max_atoms, long max_pairs,
                        xg_error *err)
{
    if (max_structs < 0 || max_atoms < 0 || max_pairs < 0)
        return xg_error_set(err, XG_EINVAL, "xg_denoiser_reserve: negative size (%d, %d, %ld)",
                            max_structs, max_atoms, max_pairs);
    if (max_pairs > INT_MAX) /* GEMM dimensions are ints */
        return xg_error_set(err, XG_EINVAL,
                            "xg_denoiser_reserve: %ld pairs in one batch is more than supported",
                            max_pairs);
    size_t need = carve(d, max_structs, max_atoms, max_pairs, 0);
    if (d->max_bytes > 0 && need > d->arena_cap) {
        double bytes = xg_denoiser_arena_bytes(d, max_structs, max_atoms, max_pairs);
        if (bytes > (double)d->max_bytes)
            return xg_error_set(err, XG_ENOMEM,
                                "%d crystals with %d atoms in all (%ld atom pairs) need %.2f GB "
                                "of network activations, more than the memory cap of %.2f GB",
                                max_structs, max_atoms, max_pairs, bytes / 1e9,
                                (double)d->max_bytes / 1e9);
    }
    if (need > d->arena_cap) {
        float *p = NULL;
        if (posix_memalign((void **)&p, 64, need * sizeof(float)) != 0 || !p)
            return xg_error_set(err, XG_ENOMEM,
                                "xg_denoiser_reserve: out of memory for a %.1f MB activation arena",
                                need * 4.0 / 1e6);
        free(d->arena);
        d->arena = p;
        d->arena_cap = need;
        d->have_fwd = 0; /* carved pointers of an old forward are gone */
    }
    if (max_structs + 1 > d->pair_cap) {
        long *q = malloc((size_t)(max_structs + 1) * sizeof *q);
        if (!q)
            return xg_error_set(err, XG_ENOMEM, "xg_denoiser_reserve: out of memory");
        free(d->pair_off);
        d->pair_off = q;
        d->pair_cap = max_structs + 1;
        d->have_fwd = 0;
    }
    return XG_OK;
}

double xg_denoiser_arena_bytes(xg_denoiser *d, int max_structs, int max_atoms, long max_pairs)
{
    if (max_structs < 0 || max_atoms < 0 || max_pairs < 0)
        return 0;
    return (double)carve(d, max_structs, max_atoms, max_pairs, 0) * sizeof(float) +
           (double)(max_structs + 1) * sizeof(long);
}

void xg_denoiser_set_inference(xg_denoiser *d, int on)
{
    if (d->inference != (on != 0)) {
        d->inference = on != 0;
        d->have_fwd = 0; /* the carving changes: an earlier forward cannot be gone back through */
    }
}

void xg_denoiser_set_max_memory(xg_denoiser *d, size_t bytes) { d->max_bytes = bytes; }

/* ------------------------------------------------------------------ forward */

static int check_batch(const xg_denoiser *d, const xg_batch *b, long *npairs, xg_error *err)
{
    if (!b || !b->offsets || !b->tokens || !b->frac || !b->lattice || !b->t)
        return xg_error_set(err, XG_EINVAL, "xg_denoiser: batch is missing an input array");
    if (b->nstructs < 1 || b->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "xg_denoiser: empty batch (%d crystals, %d atoms)",
                            b->nstructs, b->natoms);
    if (b->offsets[0] != 0 || b->offsets[b->nstructs] != b->natoms)
        return xg_error_set(err, XG_EINVAL,
                            "xg_denoiser: offsets must run from 0 to natoms (%d), got %d..%d",
                            b->natoms, b->offsets[0], b->offsets[b->nstructs]);
    long e = 0;
    for (int s = 0; s < b->nstructs; s++) {
        long n = (long)b->offsets[s + 1] - b->offsets[s];
        if (n < 1 || n > b->natoms) /* offsets must be increasing */
            return xg_error_set(err, XG_EINVAL,
                                "xg_denoiser: crystal %d of the batch has %ld atoms", s, n);
        e += n * n;
        if (e > INT_MAX) /* checked as it grows: the sum itself must not overflow */
            return xg_error_set(err, XG_EINVAL,
                                "xg_denoiser: more than %d atom pairs in one batch", INT_MAX);
        if (!(b->t[s] > 0.0f && b->t[s] <= 1.0f))
            return xg_error_set(err, XG_EINVAL,
                                "xg_denoiser: crystal %d has diffusion time %g outside (0, 1]", s,
                                (double)b->t[s]);
        for (int k = 0; k < 9; k++)
            if (!isfinite(b->lattice[s * 9 + k]))
                return xg_error_set(err, XG_EINVAL,
                                    "xg_denoiser: crystal %d has a non-finite lattice", s);
        if (d->cfg.cond_dim > 0 && b->cond_on && b->cond_on[s]) {
            if (!b->cond)
                return xg_error_set(err, XG_EINVAL,
                                    "xg_denoiser: crystal %d is conditioned but cond is NULL", s);
            for (int k = 0; k < d->cfg.cond_dim; k++)
                if (!isfinite(b->cond[(size_t)s * d->cfg.cond_dim + k]))
                    return xg_error_set(err, XG_EINVAL,
                                        "xg_denoiser: crystal %d has a non-finite condition", s);
        }
    }
    for (int i = 0; i < b->natoms; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= XG_NUM_TOKENS)
            return xg_error_set(err, XG_EINVAL, "xg_denoiser: atom %d has token %d outside 0..%d",
                                i, b->tokens[i], XG_NUM_TOKENS - 1);
        for (int k = 0; k < 3; k++)
            if (!isfinite(b->frac[i * 3 + k]))
                return xg_error_set(err, XG_EINVAL,
                                    "xg_denoiser: atom %d has a non-finite coordinate", i);
    }
    *npairs = e;
    return XG_OK;
}

int xg_denoiser_forward(xg_denoiser *d, const xg_batch *b, xg_denoiser_out *out, xg_error *err)
{
    long E = 0;
    int rc = check_batch(d, b, &E, err);
    if (rc)
        return rc;
    const int S = b->nstructs, A = b->natoms, H = d->cfg.hidden, L = d->cfg.layers;
    const int K = 6 * d->cfg.n_freq, TD = d->cfg.time_dim, CD = d->cfg.cond_dim;
    if (carve(d, S, A, E, 0) > d->arena_cap || S + 1 > d->pair_cap) {
        rc = xg_denoiser_reserve(d, S, A, E, err);
        if (rc)
            return rc;
    }
    carve(d, S, A, E, 1);
    d->have_fwd = 0;
    d->S = S;
    d->A = A;
    d->E = E;
    d->fwd_offsets = b->offsets;
    xg_nn_pairs_layout(d->pair_off, b->offsets, S);
    d->pl = (xg_nn_pairs){S, A, E, b->offsets, d->pair_off};
    const float *w = d->params;

    /* h0 = E_type[token] + W_t sinusoidal(t) + (W_c cond | uncond) */
    float *h = L > 0 ? d->la[0].h_in : d->h_final;
    xg_nn_embedding_forward(h, b->tokens, w + d->type_embed, A, H);
    xg_nn_time_features_forward(d->tfeat, b->t, S, TD);
    xg_nn_linear_forward(d->temb, d->tfeat, w + d->time_w, NULL, S, TD, H, 0);
    if (CD > 0) {
        for (int s = 0; s < S; s++) {
            float *te = d->temb + (size_t)s * H;
            if (b->cond_on && b->cond_on[s])
                xg_nn_linear_forward(te, b->cond + (size_t)s * CD, w + d->cond_w, NULL, 1, CD, H,
                                     1);
            else
                for (int c = 0; c < H; c++)
                    te[c] += w[d->uncond + c];
        }
    }
    xg_nn_segment_broadcast_forward(h, d->temb, b->offsets, S, H);

    /* metric features g(L) = entries of L L^T / N^(2/3): 00 11 22 01 02 12 */
    for (int s = 0; s < S; s++) {
        const float *Lb = b->lattice + (size_t)s * 9;
        double m[3][3];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                m[r][c] = (double)Lb[r * 3 + 0] * Lb[c * 3 + 0] +
                          (double)Lb[r * 3 + 1] * Lb[c * 3 + 1] +
                          (double)Lb[r * 3 + 2] * Lb[c * 3 + 2];
        double n23 = pow((double)(b->offsets[s + 1] - b->offsets[s]), 2.0 / 3.0);
        float *g = d->g6 + (size_t)s * 6;
        g[0] = (float)(m[0][0] / n23);
        g[1] = (float)(m[1][1] / n23);
        g[2] = (float)(m[2][2] / n23);
        g[3] = (float)(m[0][1] / n23);
        g[4] = (float)(m[0][2] / n23);
        g[5] = (float)(m[1][2] / n23);
    }
    xg_nn_pair_fourier_forward(d->phi, b->frac, &d->pl, d->cfg.n_freq);

    for (int l = 0; l < L; l++) {
        const layer_params *p = &d->lp[l];
        layer_acts *a = &d->la[l];
        float *hnext = l + 1 < L ? d->la[l + 1].h_in : d->h_final;
        const size_t EH = (size_t)E * H;
        xg_nn_layernorm_forward(a->u, a->mean, a->rstd, a->h_in, w + p->ln_g, w + p->ln_b, A, H);
        /* split first edge layer: A u_i, B u_j per node, G g(L) + b1 per crystal, F phi per pair */
        xg_nn_linear_forward(d->P, a->u, w + p->A, NULL, A, H, H, 0);
        xg_nn_linear_forward(d->Q, a->u, w + p->B, NULL, A, H, H, 0);
        xg_nn_linear_forward(d->gG, d->g6, w + p->G, w + p->b1, S, 6, H, 0);
        xg_nn_linear_forward(a->z1, d->phi, w + p->F, NULL, (int)E, K, H, 0);
        xg_nn_pair_gather_forward(a->z1, d->P, d->Q, d->gG, &d->pl, H);
        xg_nn_silu_forward(a->a1, a->z1, EH);
        xg_nn_linear_forward(a->z2, a->a1, w + p->W2, w + p->b2, (int)E, H, H, 0);
        /* m_ij = SiLU(z2) is only needed through its mean over j: fused */
        xg_nn_pair_mean_silu_forward(d->mbar, a->z2, &d->pl, H);
        /* node update h += W4 SiLU(W3 [u, mean_j m] + b3) + b4 */
        xg_nn_concat_forward(a->c, a->u, d->mbar, A, H, H);
        xg_nn_linear_forward(a->z3, a->c, w + p->W3, w + p->b3, A, 2 * H, H, 0);
        xg_nn_silu_forward(a->a3, a->z3, (size_t)A * H);
        memcpy(hnext, a->h_in, (size_t)A * H * sizeof *hnext);
        xg_nn_linear_forward(hnext, a->a3, w + p->W4, w + p->b4, A, H, H, 1);
    }

    /* heads */
    xg_nn_layernorm_forward(d->uo, d->omean, d->orstd, d->h_final, w + d->oln_g, w + d->oln_b, A,
                            H);
    xg_nn_linear_forward(d->coord, d->uo, w + d->coord_w, NULL, A, H, 3, 0);
    xg_nn_linear_forward(d->logits, d->uo, w + d->type_w, w + d->type_b, A, H, XG_NUM_TYPES, 0);
    xg_nn_segment_mean_forward(d->ubar, d->uo, b->offsets, S, H);
    xg_nn_linear_forward(d->M, d->ubar, w + d->lat_w, w + d->lat_b, S, H, 9, 0);
    /* lattice_b = M_b L_b (row convention: L -> L R^T gives M L R^T, rotated like L) */
    for (int s = 0; s < S; s++) {
        const float *Mb = d->M + (size_t)s * 9, *Lb = b->lattice + (size_t)s * 9;
        float *o = d->lat + (size_t)s * 9;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                o[r * 3 + c] = Mb[r * 3 + 0] * Lb[0 * 3 + c] + Mb[r * 3 + 1] * Lb[1 * 3 + c] +
                               Mb[r * 3 + 2] * Lb[2 * 3 + c];
    }
    d->have_fwd = 1;
    if (out) {
        out->coord = d->coord;
        out->logits = d->logits;
        out->lattice = d->lat;
    }
    return XG_OK;
}

/* ------------------------------------------------------------------ backward */

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof *p); }

/* The backward pass of both public entry points: d_u (optional) is a gradient with respect to
 * the final node states u = LayerNorm(h), added to what the three heads send back there. */
static int backward_impl(xg_denoiser *d, const xg_batch *b, const float *d_coord,
                         const float *d_logits, const float *d_lattice, const float *d_u,
                         xg_error *err)
{
    if (d->inference)
        return xg_error_set(err, XG_EINVAL,
                            "xg_denoiser_backward: the network is in inference mode (forward "
                            "only)");
    if (!d->have_fwd)
        return xg_error_set(err, XG_EINVAL,
                            "xg_denoiser_backward: no forward pass to go back through");
    if (!b || b->nstructs != d->S || b->natoms != d->A || b->offsets != d->fwd_offsets)
        return xg_error_set(err, XG_EINVAL,
                            "xg_denoiser_backward: the batch is not the one of the last forward");
    const int S = d->S, A = d->A, H = d->cfg.hidden, L = d->cfg.layers;
    const int K = 6 * d->cfg.n_freq, TD = d->cfg.time_dim, CD = d->cfg.cond_dim;
    const long E = d->E;
    const size_t EH = (size_t)E * H;
    const float *w = d->params;
    float *gw = d->grads;

    /* heads -> duo, the gradient at the final layer norm's output */
    zero(d->duo, (size_t)A * H);
    if (d_u)
        for (size_t k = 0; k < (size_t)A * H; k++)
            d->duo[k] = d_u[k];
    if (d_coord)
        xg_nn_linear_backward(d->duo, gw + d->coord_w, NULL, d_coord, d->uo, w + d->coord_w, A, H,
                              3);
    if (d_logits)
        xg_nn_linear_backward(d->duo, gw + d->type_w, gw + d->type_b, d_logits, d->uo,
                              w + d->type_w, A, H, XG_NUM_TYPES);
    if (d_lattice) {
        /* dM_b = dlat_b L_b^T */
        for (int s = 0; s < S; s++) {
            const float *g = d_lattice + (size_t)s * 9, *Lb = b->lattice + (size_t)s * 9;
            float *dm = d->dM + (size_t)s * 9;
            for (int r = 0; r < 3; r++)
                for (int k = 0; k < 3; k++)
                    dm[r * 3 + k] = g[r * 3 + 0] * Lb[k * 3 + 0] + g[r * 3 + 1] * Lb[k * 3 + 1] +
                                    g[r * 3 + 2] * Lb[k * 3 + 2];
        }
        zero(d->dubar, (size_t)S * H);
        xg_nn_linear_backward(d->dubar, gw + d->lat_w, gw + d->lat_b, d->dM, d->ubar, w + d->lat_w,
                              S, H, 9);
        xg_nn_segment_mean_backward(d->duo, d->dubar, b->offsets, S, H);
    }
    zero(d->dh, (size_t)A * H);
    xg_nn_layernorm_backward(d->dh, gw + d->oln_g, gw + d->oln_b, d->duo, d->h_final, d->omean,
                             d->orstd, w + d->oln_g, A, H);

    /* layers in reverse; dh holds dLoss/dh^{l+1} and becomes dLoss/dh^l (residual) */
    for (int l = L - 1; l >= 0; l--) {
        const layer_params *p = &d->lp[l];
        const layer_acts *a = &d->la[l];
        zero(d->da3, (size_t)A * H);
        xg_nn_linear_backward(d->da3, gw + p->W4, gw + p->b4, d->dh, a->a3, w + p->W4, A, H, H);
        zero(d->dz3, (size_t)A * H);
        xg_nn_silu_backward(d->dz3, d->da3, a->z3, (size_t)A * H);
        zero(d->dc, (size_t)A * 2 * H);
        xg_nn_linear_backward(d->dc, gw + p->W3, gw + p->b3, d->dz3, a->c, w + p->W3, A, 2 * H, H);
        zero(d->du, (size_t)A * H);
        zero(d->dmbar, (size_t)A * H);
        xg_nn_concat_backward(d->du, d->dmbar, d->dc, A, H, H);
        /* messages: dz2_ij = silu'(z2_ij) dmbar_i / n */
        zero(d->e2, EH);
        xg_nn_pair_mean_silu_backward(d->e2, d->dmbar, a->z2, &d->pl, H);
        zero(d->e1, EH);
        xg_nn_linear_backward(d->e1, gw + p->W2, gw + p->b2, d->e2, a->a1, w + p->W2, (int)E, H, H);
        zero(d->e2, EH);
        xg_nn_silu_backward(d->e2, d->e1, a->z1, EH); /* e2 = dz1 */
        /* split first edge layer */
        zero(d->dP, (size_t)A * H);
        zero(d->dQ, (size_t)A * H);
        zero(d->dgG, (size_t)S * H);
        xg_nn_pair_gather_backward(d->dP, d->dQ, d->dgG, d->e2, &d->pl, H);
        xg_nn_linear_backward(NULL, gw + p->F, NULL, d->e2, d->phi, w + p->F, (int)E, K, H);
        xg_nn_linear_backward(NULL, gw + p->G, gw + p->b1, d->dgG, d->g6, w + p->G, S, 6, H);
        xg_nn_linear_backward(d->du, gw + p->A, NULL, d->dP, a->u, w + p->A, A, H, H);
        xg_nn_linear_backward(d->du, gw + p->B, NULL, d->dQ, a->u, w + p->B, A, H, H);
        /* dh (residual path) += LayerNorm backward of du */
        xg_nn_layernorm_backward(d->dh, gw + p->ln_g, gw + p->ln_b, d->du, a->h_in, a->mean,
                                 a->rstd, w + p->ln_g, A, H);
    }

    /* embeddings */
    xg_nn_embedding_backward(gw + d->type_embed, d->dh, b->tokens, A, H);
    zero(d->dtemb, (size_t)S * H);
    xg_nn_segment_broadcast_backward(d->dtemb, d->dh, b->offsets, S, H);
    xg_nn_linear_backward(NULL, gw + d->time_w, NULL, d->dtemb, d->tfeat, w + d->time_w, S, TD, H);
    if (CD > 0) {
        for (int s = 0; s < S; s++) {
            const float *g = d->dtemb + (size_t)s * H;
            if (b->cond_on && b->cond_on[s])
                xg_nn_linear_backward(NULL, gw + d->cond_w, NULL, g, b->cond + (size_t)s * CD,
                                      w + d->cond_w, 1, CD, H);
            else
                for (int c = 0; c < H; c++)
                    gw[d->uncond + c] += g[c];
        }
    }
    return XG_OK;
}

int xg_denoiser_backward(xg_denoiser *d, const xg_batch *b, const float *d_coord,
                         const float *d_logits, const float *d_lattice, xg_error *err)
{
    return backward_impl(d, b, d_coord, d_logits, d_lattice, NULL, err);
}

/* ------------------------------------------------------------------ node states (xg_denoiser.h) */

const float *xg_denoiser_node_states(const xg_denoiser *d)
{
    return d && d->have_fwd ? d->uo : NULL;
}

int xg_denoiser_backward_nodes(xg_denoiser *d, const xg_batch *b, const float *d_coord,
                               const float *d_logits, const float *d_lattice, const float *d_u,
                               xg_error *err)
{
    return backward_impl(d, b, d_coord, d_logits, d_lattice, d_u, err);
}

/* ------------------------------------------------------------------ FLOPs */

double xg_denoiser_flops(const xg_denoiser *d, const xg_batch *b, int backward)
{
    /* GEMM FLOPs only (multiply-add = 2); elementwise work (SiLU, layer norm, gathers, means,
     * Fourier features) is memory-bound and not counted. Backward counts the weight-gradient
     * GEMM of every linear layer and the input-gradient GEMM where an input gradient is needed
     * (not for the Fourier, metric, time and condition inputs). */
    if (!b || b->nstructs < 1 || !b->offsets)
        return 0.0;
    const double H = d->cfg.hidden, K = 6.0 * d->cfg.n_freq, TD = d->cfg.time_dim;
    const double CD = d->cfg.cond_dim, S = b->nstructs, A = b->natoms;
    double E = 0.0, ncond = 0.0;
    for (int s = 0; s < b->nstructs; s++) {
        double n = b->offsets[s + 1] - b->offsets[s];
        E += n * n;
        if (CD > 0 && b->cond_on && b->cond_on[s])
            ncond += 1.0;
    }
    /* each term: forward flops, and whether the input gradient is computed */
    struct {
        double f;
        int din;
    } g[] = {
        {2 * S * TD * H, 0},                 /* time_w */
        {2 * ncond * CD * H, 0},             /* cond_w */
        {2 * A * H * H * 2, 1},              /* A and B */
        {2 * S * 6 * H, 0},                  /* G */
        {2 * E * K * H, 0},                  /* F */
        {2 * E * H * H, 1},                  /* W2 */
        {2 * A * 2 * H * H, 1},              /* W3 */
        {2 * A * H * H, 1},                  /* W4 */
        {2 * A * H * (3 + XG_NUM_TYPES), 1}, /* coord and type heads */
        {2 * S * H * 9 + 2 * S * 27, 1},     /* lattice head and M L */
    };
    const int nterms = (int)(sizeof g / sizeof g[0]);
    double total = 0.0;
    for (int k = 0; k < nterms; k++) {
        double reps = (k >= 2 && k <= 7) ? d->cfg.layers : 1.0;
        double f = g[k].f * reps;
        total += f;
        if (backward)
            total += f * (g[k].din ? 2.0 : 1.0);
    }
    return total;
}
