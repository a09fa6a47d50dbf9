/* bench_sampler.h: `xtalgen bench sampler`, the speed of generation and the network's share of
 * it (src/bench_sampler.c). */
#ifndef XG_BENCH_SAMPLER_H
#define XG_BENCH_SAMPLER_H

#include "src/xg_opts.h"

int xg_bench_sampler(int argc, char **argv);
extern const xg_opt xg_bench_sampler_opts[]; /* its options, for `xtalgen help bench` */

#endif
