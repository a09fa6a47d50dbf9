/* xg_evalpool.c: see xg_evalpool.h. */
#include "diffusion/xg_evalpool.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

struct xg_evalpool {
    int workers, chunk;
    xg_denoiser **net; /* one private copy per worker */
    /* concatenated outputs of the last call */
    float *coord, *logits, *lattice;
    long cap_atoms, cap_structs;
    double seconds;
    long calls;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

xg_evalpool *xg_evalpool_alloc(const xg_denoiser *net, int workers, int chunk, xg_error *err)
{
    if (workers < 1 || chunk < 1) {
        xg_error_set(err, XG_EINVAL, "evaluation pool: %d workers and chunks of %d crystals "
                                     "(both must be >= 1)", workers, chunk);
        return NULL;
    }
    xg_evalpool *p = calloc(1, sizeof *p);
    if (!p || !(p->net = calloc((size_t)workers, sizeof *p->net))) {
        free(p);
        xg_error_set(err, XG_ENOMEM, "out of memory for the evaluation pool");
        return NULL;
    }
    p->workers = workers;
    p->chunk = chunk;
    /* xg_denoiser_params is not const-qualified; the source is only read. */
    xg_denoiser *src = (xg_denoiser *)net;
    size_t np = xg_denoiser_num_params(src);
    for (int w = 0; w < workers; w++) {
        p->net[w] = xg_denoiser_alloc(xg_denoiser_get_config(src), err);
        if (!p->net[w]) {
            xg_evalpool_free(p);
            return NULL;
        }
        memcpy(xg_denoiser_params(p->net[w]), xg_denoiser_params(src), np * sizeof(float));
    }
    return p;
}

void xg_evalpool_free(xg_evalpool *p)
{
    if (!p)
        return;
    for (int w = 0; w < p->workers && p->net; w++)
        xg_denoiser_free(p->net[w]);
    free(p->net);
    free(p->coord);
    free(p->logits);
    free(p->lattice);
    free(p);
}

void xg_evalpool_set_inference(xg_evalpool *p, size_t max_bytes_each)
{
    for (int w = 0; w < p->workers; w++) {
        xg_denoiser_set_inference(p->net[w], 1);
        xg_denoiser_set_max_memory(p->net[w], max_bytes_each);
    }
}

static int grow(xg_evalpool *p, long natoms, long nstructs, xg_error *err)
{
    if (natoms > p->cap_atoms) {
        float *c = realloc(p->coord, (size_t)natoms * 3 * sizeof *c);
        if (c)
            p->coord = c;
        float *l = c ? realloc(p->logits, (size_t)natoms * XG_NUM_TYPES * sizeof *l) : NULL;
        if (l)
            p->logits = l;
        if (!c || !l)
            return xg_error_set(err, XG_ENOMEM, "out of memory for %ld atoms' outputs", natoms);
        p->cap_atoms = natoms;
    }
    if (nstructs > p->cap_structs) {
        float *m = realloc(p->lattice, (size_t)nstructs * 9 * sizeof *m);
        if (!m)
            return xg_error_set(err, XG_ENOMEM, "out of memory for %ld lattices", nstructs);
        p->lattice = m;
        p->cap_structs = nstructs;
    }
    return XG_OK;
}

/* Evaluates crystals [c0, c1) of b on worker w and copies the outputs into place. */
static int eval_chunk(xg_evalpool *p, int w, const xg_batch *b, int c0, int c1, int *offs,
                      int cond_dim, xg_error *err)
{
    int a0 = b->offsets[c0], a1 = b->offsets[c1];
    for (int k = c0; k <= c1; k++)
        offs[k - c0] = b->offsets[k] - a0;
    xg_batch sub = {
        .nstructs = c1 - c0,
        .natoms = a1 - a0,
        .offsets = offs,
        .tokens = b->tokens + a0,
        .frac = b->frac + (size_t)a0 * 3,
        .lattice = b->lattice + (size_t)c0 * 9,
        .t = b->t + c0,
        .cond = b->cond ? b->cond + (size_t)c0 * (size_t)cond_dim : NULL,
        .cond_on = b->cond_on ? b->cond_on + c0 : NULL,
    };
    xg_denoiser_out o;
    int rc = xg_denoiser_forward(p->net[w], &sub, &o, err);
    if (rc)
        return rc;
    memcpy(p->coord + (size_t)a0 * 3, o.coord, (size_t)(a1 - a0) * 3 * sizeof(float));
    memcpy(p->logits + (size_t)a0 * XG_NUM_TYPES, o.logits,
           (size_t)(a1 - a0) * XG_NUM_TYPES * sizeof(float));
    memcpy(p->lattice + (size_t)c0 * 9, o.lattice, (size_t)(c1 - c0) * 9 * sizeof(float));
    return XG_OK;
}

int xg_evalpool_eval(void *ctx, const xg_batch *b, xg_denoiser_out *out, xg_error *err)
{
    xg_evalpool *p = ctx;
    double t0 = now_s();
    int rc = grow(p, b->natoms, b->nstructs, err);
    if (rc)
        return rc;
    int nchunks = (b->nstructs + p->chunk - 1) / p->chunk;
    int cond_dim = xg_denoiser_get_config(p->net[0])->cond_dim;
    int nthreads = p->workers < nchunks ? p->workers : nchunks;
    /* Per-chunk status: the first failure in chunk order is the one reported. */
    int *crc = calloc((size_t)nchunks, sizeof *crc);
    xg_error *cerr = calloc((size_t)nchunks, sizeof *cerr);
    int *offs = calloc((size_t)nthreads * (size_t)(p->chunk + 1), sizeof *offs);
    if (!crc || !cerr || !offs) {
        free(crc);
        free(cerr);
        free(offs);
        return xg_error_set(err, XG_ENOMEM, "out of memory for the evaluation pool");
    }
#pragma omp parallel num_threads(nthreads)
    {
        int w = 0;
#ifdef _OPENMP
        w = omp_get_thread_num();
        /* The chunk's own loops run on this thread alone, whatever the pool's size: the result
         * must not depend on the number of workers. */
        omp_set_num_threads(1);
#endif
#pragma omp for schedule(dynamic, 1)
        for (int c = 0; c < nchunks; c++) {
            int c0 = c * p->chunk;
            int c1 = c0 + p->chunk < b->nstructs ? c0 + p->chunk : b->nstructs;
            crc[c] = eval_chunk(p, w, b, c0, c1, offs + (size_t)w * (size_t)(p->chunk + 1),
                                cond_dim, &cerr[c]);
        }
    }
    for (int c = 0; c < nchunks && !rc; c++)
        if (crc[c]) {
            rc = crc[c];
            if (err)
                *err = cerr[c];
        }
    free(crc);
    free(cerr);
    free(offs);
    if (rc)
        return rc;
    out->coord = p->coord;
    out->logits = p->logits;
    out->lattice = p->lattice;
    p->seconds += now_s() - t0;
    p->calls++;
    return XG_OK;
}

double xg_evalpool_seconds(const xg_evalpool *p)
{
    return p->seconds;
}

long xg_evalpool_calls(const xg_evalpool *p)
{
    return p->calls;
}
