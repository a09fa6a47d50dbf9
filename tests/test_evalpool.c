/* test_evalpool.c: the chunked, threaded network evaluation of the sampler (xg_evalpool.h).
 *
 * The pool must give the same outputs as one forward pass of the whole batch (up to float
 * rounding of GEMMs of another shape), bit-identical outputs for any number of workers, and the
 * streams option of the sampler must reproduce a crystal's draws whatever batch it is in. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xg_test.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_denoiser.h"
#include "diffusion/xg_evalpool.h"

#define NS 37 /* not a multiple of the chunk: the last chunk is short */

typedef struct {
    int offsets[NS + 1], tokens[NS * 12];
    float frac[NS * 12 * 3], lattice[NS * 9], t[NS], cond[NS * 2];
    unsigned char cond_on[NS];
    xg_batch b;
} batch_buf;

static void make_batch(batch_buf *bb, int with_cond)
{
    xg_rng r;
    xg_rng_seed(&r, 7, 0);
    int na = 0;
    for (int s = 0; s < NS; s++) {
        bb->offsets[s] = na;
        int n = 1 + (int)(xg_rng_uniform(&r) * 11.0);
        for (int a = 0; a < n; a++, na++) {
            bb->tokens[na] = xg_rng_uniform(&r) < 0.3 ? XG_MASK_TOKEN : (int)(xg_rng_uniform(&r) * 99);
            for (int k = 0; k < 3; k++)
                bb->frac[3 * na + k] = (float)xg_rng_uniform(&r);
        }
        for (int k = 0; k < 9; k++)
            bb->lattice[9 * s + k] = (k % 4 == 0 ? 4.0f : 0.0f) + 0.3f * (float)xg_rng_normal(&r);
        bb->t[s] = (float)(0.05 + 0.9 * xg_rng_uniform(&r));
        bb->cond[2 * s] = (float)xg_rng_normal(&r);
        bb->cond[2 * s + 1] = (float)xg_rng_normal(&r);
        bb->cond_on[s] = (unsigned char)(s % 2);
    }
    bb->offsets[NS] = na;
    bb->b = (xg_batch){NS, na, bb->offsets, bb->tokens, bb->frac, bb->lattice, bb->t,
                       with_cond ? bb->cond : NULL, with_cond ? bb->cond_on : NULL};
}

static void check_pool(int cond_dim)
{
    xg_denoiser_config cfg = {.hidden = 32, .layers = 2, .n_freq = 4, .time_dim = 16,
                              .cond_dim = cond_dim};
    xg_error err = {0};
    xg_denoiser *net = xg_denoiser_alloc(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(net);
    xg_denoiser_init_params(net, 3);
    static batch_buf bb;
    make_batch(&bb, cond_dim > 0);
    xg_denoiser_out ref;
    CU_ASSERT_EQUAL_FATAL(xg_denoiser_forward(net, &bb.b, &ref, &err), XG_OK);
    int na = bb.b.natoms;
    float *rc = malloc(sizeof(float) * (size_t)na * 3);
    float *rl = malloc(sizeof(float) * (size_t)na * XG_NUM_TYPES);
    float *rm = malloc(sizeof(float) * NS * 9);
    memcpy(rc, ref.coord, sizeof(float) * (size_t)na * 3);
    memcpy(rl, ref.logits, sizeof(float) * (size_t)na * XG_NUM_TYPES);
    memcpy(rm, ref.lattice, sizeof(float) * NS * 9);

    float *first = NULL;
    for (int workers = 1; workers <= 3; workers++) {
        xg_evalpool *p = xg_evalpool_alloc(net, workers, 8, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        xg_denoiser_out o;
        for (int rep = 0; rep < 2; rep++) /* a second call reuses the buffers */
            CU_ASSERT_EQUAL_FATAL(xg_evalpool_eval(p, &bb.b, &o, &err), XG_OK);
        double dmax = 0;
        for (int i = 0; i < na * 3; i++)
            dmax = fmax(dmax, fabs(o.coord[i] - rc[i]));
        for (int i = 0; i < na * XG_NUM_TYPES; i++)
            dmax = fmax(dmax, fabs(o.logits[i] - rl[i]));
        for (int i = 0; i < NS * 9; i++)
            dmax = fmax(dmax, fabs(o.lattice[i] - rm[i]));
        CU_ASSERT(dmax < 1e-4);
        CU_ASSERT_EQUAL(xg_evalpool_calls(p), 2);
        CU_ASSERT(xg_evalpool_seconds(p) >= 0);
        if (!first) {
            first = malloc(sizeof(float) * (size_t)na * (3 + XG_NUM_TYPES));
            memcpy(first, o.coord, sizeof(float) * (size_t)na * 3);
            memcpy(first + na * 3, o.logits, sizeof(float) * (size_t)na * XG_NUM_TYPES);
        } else {
            /* any number of workers: the same bits */
            CU_ASSERT(memcmp(first, o.coord, sizeof(float) * (size_t)na * 3) == 0);
            CU_ASSERT(memcmp(first + na * 3, o.logits,
                             sizeof(float) * (size_t)na * XG_NUM_TYPES) == 0);
        }
        xg_evalpool_free(p);
    }
    free(first);
    free(rc);
    free(rl);
    free(rm);
    xg_denoiser_free(net);
}

static void test_pool_matches_forward_unconditional(void)
{
    check_pool(0);
}

static void test_pool_matches_forward_conditional(void)
{
    check_pool(2);
}

static void test_pool_bad_arguments(void)
{
    xg_denoiser_config cfg = {.hidden = 16, .layers = 1, .n_freq = 2, .time_dim = 8};
    xg_error err = {0};
    xg_denoiser *net = xg_denoiser_alloc(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(net);
    CU_ASSERT_PTR_NULL(xg_evalpool_alloc(net, 0, 16, &err));
    CU_ASSERT_EQUAL(err.code, XG_EINVAL);
    CU_ASSERT_PTR_NULL(xg_evalpool_alloc(net, 2, 0, &err));
    xg_evalpool_free(NULL);
    xg_denoiser_free(net);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"pool equals one forward pass, any workers (unconditional)",
         test_pool_matches_forward_unconditional},
        {"pool equals one forward pass, any workers (conditional)",
         test_pool_matches_forward_conditional},
        {"bad arguments refused", test_pool_bad_arguments},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("evalpool", tests);
}
