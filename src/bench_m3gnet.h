/* bench_m3gnet.h: `xtalgen bench m3gnet`, the timing of one M3GNet call (src/bench_m3gnet.c). */
#ifndef XG_BENCH_M3GNET_H
#define XG_BENCH_M3GNET_H

#include "src/xg_opts.h"

int xg_bench_m3gnet(int argc, char **argv);
extern const xg_opt xg_bench_m3gnet_opts[]; /* its options, for `xtalgen help bench` */

#endif
