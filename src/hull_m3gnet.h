/* hull_m3gnet.h: the M3GNet hull table: single-point M3GNet energies of reference crystals,
 * formation energies against the lowest-energy elemental crystals of the same set, and the
 * convex hull of those (`xtalgen hull m3gnet`), shipped as data/hull-m3gnet-mp20.h5.
 *
 * The file is a hull table (properties/xg_hull.h, format xtalgen-hull version 1) with, in
 * addition, the elemental reference energies the formation energies were taken against:
 *   /m3gnet_refs/z       (k,) int32 atomic numbers
 *   /m3gnet_refs/energy  (k,) float64 M3GNet energy per atom of the element's lowest crystal
 *   /m3gnet_refs/id      (k,) strings, the id of that crystal
 *   attribute /energy_model = "M3GNet-MP-2021.2.8 (xtalgen)"
 * A candidate's E_hull from a relaxed M3GNet energy E over N atoms is then
 * (E - sum_i ref(Z_i)) / N - h(composition). Elements without a reference give NaN. */
#ifndef XG_HULL_M3GNET_H
#define XG_HULL_M3GNET_H

#include "crystal/xg_error.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_structure.h"
#include "src/xg_opts.h"

#define XG_HULL_M3GNET_NAME "hull-m3gnet-mp20.h5"

/* `xtalgen hull m3gnet ...` (argv[0] = "m3gnet"), and its option table (src/xg_opts.h) for
 * `xtalgen help hull`. */
int xg_hull_m3gnet_cmd(int argc, char **argv);
extern const xg_opt xg_hull_m3gnet_opts[];

/* Reads the elemental references of an M3GNet hull file: refs[z] eV/atom, NaN where absent. */
int xg_hull_m3gnet_refs(const char *path, double refs[XG_MAX_Z + 1], xg_error *err);

/* Formation energy per atom of a crystal of total M3GNet energy e: NaN when an element has no
 * reference. */
double xg_hull_m3gnet_eform(const xg_structure *s, double e, const double refs[XG_MAX_Z + 1]);

#endif
