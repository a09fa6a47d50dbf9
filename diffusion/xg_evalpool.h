/* xg_evalpool.h: the sampler's network evaluations spread over threads by crystals.
 *
 * Sampling spends ~90% of its time in the denoiser, whose GEMMs are too small to split well
 * across two cores (issue 18: two threads busy-waiting made generation 10x slower). The pool
 * instead cuts each batch into fixed chunks of `chunk` crystals and evaluates the chunks in
 * parallel, each on a private copy of the network running on one thread (OpenMP loops and
 * OpenBLAS inside a chunk stay single-threaded). Because the chunking does not depend on the
 * number of workers, the outputs are bit-identical for any thread count: crystal k depends on
 * the seed, its index, --batch and the chunk size only.
 *
 * Usage: p = xg_evalpool_alloc(net, workers, chunk, &err); pass xg_evalpool_eval as the
 * sampler's xg_eval_fn with p as its context; xg_evalpool_free(p). The network's parameters are
 * copied at alloc: later changes to `net` are not seen. Call openblas_set_num_threads(1) before
 * evaluating with more than one worker (OpenBLAS's own threads would compete with the pool's). */
#ifndef XG_EVALPOOL_H
#define XG_EVALPOOL_H

#include "crystal/xg_error.h"
#include "diffusion/xg_denoiser.h"

#define XG_EVALPOOL_CHUNK 16 /* crystals per chunk: big enough GEMMs, enough chunks for 2 cores */

typedef struct xg_evalpool xg_evalpool;

/* workers >= 1 threads, chunk >= 1 crystals. */
xg_evalpool *xg_evalpool_alloc(const xg_denoiser *net, int workers, int chunk, xg_error *err);
void xg_evalpool_free(xg_evalpool *p);

/* Puts every worker's network in inference mode (no gradient buffers, a smaller arena:
 * xg_denoiser_set_inference) and caps each worker's arena at max_bytes_each (0 = no cap). */
void xg_evalpool_set_inference(xg_evalpool *p, size_t max_bytes_each);

/* An xg_eval_fn (xg_sampler.h): ctx is an xg_evalpool *. Outputs stay valid until the next
 * call on the same pool. */
int xg_evalpool_eval(void *ctx, const xg_batch *b, xg_denoiser_out *out, xg_error *err);

/* Seconds spent inside xg_evalpool_eval since alloc (wall time), and the number of calls:
 * `xtalgen bench sampler` reports the network's share of the sampling time with them. */
double xg_evalpool_seconds(const xg_evalpool *p);
long xg_evalpool_calls(const xg_evalpool *p);

#endif
