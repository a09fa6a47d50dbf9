/* xg_m3gnet.h: the M3GNet universal interatomic potential (Chen and Ong, Nat. Comput. Sci. 2,
 * 718 (2022)): energy, forces and stress of any crystal of its 89 elements.
 *
 * The network, as the pretrained MP-2021.2.8 potential defines it:
 *  - graph: every directed pair i -> j (periodic images included) with 0 < r_ij <= cutoff
 *    (5.0 A); three-body terms over pairs of bonds i -> j, i -> k both within the three-body
 *    cutoff (4.0 A);
 *  - radial basis: spherical Bessel functions without smoothing,
 *      f_ln(r) = sqrt(2 / rc^3) j_l(z_ln r / rc) / |j_{l+1}(z_ln)|, l < max_l, n < max_n,
 *    z_ln the n-th positive root of j_l (9 functions for max_n = max_l = 3), rc = 5.0 for both
 *    the pair basis and the three-body basis;
 *  - three-body update of bond ij: sum_k f_ln(r_ik) Y_l0(theta_jik) sigmoid(W v_k + b)
 *    fc(r_ij) fc(r_ik), fc the polynomial cutoff 1 - 10x^3 + 15x^4 - 6x^5 (x = r / 4.0), then
 *    e_ij += SiLU(W1 .) * sigmoid(W2 .) (no biases);
 *  - per block: e_ij += GatedMLP([v_i, v_j, e_ij]) * (W_e rbf_ij), then
 *    v_j += sum_i GatedMLP'([v_i, v_j, e_ij]) * (W_v rbf_ij) (messages flow src -> dst);
 *  - readout: E = std * sum_i GatedMLP_r(v_i) + mean + sum_i ref(Z_i).
 * Precision (xg_m3gnet_set_precision): the network (every dense layer, activation and their
 * gradients) runs in float32 by default, with single-precision GEMMs, about twice as fast; or
 * in float64, the reference. The graph, the bases, the geometry of the backward pass, the sum
 * of the atomic energies and forces and stress themselves are double in both. float32 energies
 * differ from float64 ones by ~1e-6 eV/atom and forces by ~1e-5 eV/A (tests/test_m3gnet.c
 * bounds both), far below the potential's own error, but float rounding makes the float32
 * energy a step function of the positions at the 1e-6 eV level, so finite-difference checks
 * of the gradient and invariance tests at 1e-9 eV need float64: tests and oracles use it,
 * screening and relaxation use the default. Both are deterministic (fixed summation order,
 * one BLAS thread). Forces are -dE/dr by an explicit backward pass through the same graph; the stress is the virial (1/V) sum_bonds r (x) dE/dr, i.e. ASE's convention
 * (eV/A^3, (1/V) dE/d(strain), negative under compression; pressure = -trace/3).
 *
 * Model file (HDF5), version 1, written by xg_m3gnet_import (`xtalgen model import-m3gnet`):
 *   /   attributes: format = "xtalgen-m3gnet", version = 1 (int), source (string), license
 *       (string: the file holding the weights' license notice), cutoff, threebody_cutoff,
 *       data_mean, data_std (double), max_n, max_l, nblocks, units, nelements (int64)
 *   /element_z (nelements,) int32: atomic number of each embedding row
 *   /element_refs (nelements,) float64: per-element reference energies (eV/atom)
 *   /weights/<name> float32 (out, in) as torch.nn.Linear stores them, names listed in
 *       xg_m3gnet.c (embedding.node, embedding.edge_w, block0.tb.atom_w, ...).
 * Another format or version is refused (XG_EVERSION).
 *
 * A loaded model is read-only: xg_m3gnet_compute may run on many threads at once (each call
 * allocates its own work arrays). */
#ifndef XG_M3GNET_H
#define XG_M3GNET_H

#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

#define XG_M3GNET_VERSION 1

typedef struct xg_m3gnet xg_m3gnet;

/* Reads an xtalgen M3GNet model file. Its precision is XG_M3GNET_FLOAT32. */
int xg_m3gnet_load(const char *path, xg_m3gnet **out, xg_error *err);
void xg_m3gnet_free(xg_m3gnet *m);

/* The precision the network computes in (see the top of this file). Values are the indices of
 * "float32|float64" (the commands' --precision option). */
typedef enum { XG_M3GNET_FLOAT32 = 0, XG_M3GNET_FLOAT64 = 1 } xg_m3gnet_precision;

/* Sets the precision of later calls. Not thread-safe: call it before threads share m. */
void xg_m3gnet_set_precision(xg_m3gnet *m, xg_m3gnet_precision p);
xg_m3gnet_precision xg_m3gnet_get_precision(const xg_m3gnet *m);
/* "float32" or "float64". */
const char *xg_m3gnet_precision_name(xg_m3gnet_precision p);

/* Converts matgl's published files (DIR/model.json with the hyperparameters and element list,
 * DIR/<name>.h5 with the PyTorch state dict, one dataset per tensor) into an xtalgen model
 * file at out_path (written to a temporary name and renamed). license_name is recorded in the
 * file's `license` attribute (the notice shipped next to it). Hyperparameters this
 * implementation does not support (smooth basis, phi, states, intensive readout) are refused
 * with XG_EUNSUPPORTED. */
int xg_m3gnet_import(const char *dir, const char *out_path, const char *license_name,
                     xg_error *err);

/* The cutoffs and size of a model, for reports. */
typedef struct {
    double cutoff, threebody_cutoff;
    int max_n, max_l, nblocks, units, nelements;
    long nparams;
} xg_m3gnet_info;
void xg_m3gnet_get_info(const xg_m3gnet *m, xg_m3gnet_info *info);

/* 1 if the model has an embedding for atomic number z. */
int xg_m3gnet_has_element(const xg_m3gnet *m, int z);

/* Energy (eV) of s; forces (natoms x 3, eV/A) and stress (eV/A^3, ASE sign) when non-NULL
 * (either NULL skips the backward pass if both are). Fails with XG_EINVAL for an element the
 * model lacks or a degenerate lattice, XG_ENOMEM when the graph does not fit in memory. */
int xg_m3gnet_compute(const xg_m3gnet *m, const xg_structure *s, double *energy,
                      double (*forces)[3], double stress[3][3], xg_error *err);

/* A reusable work arena for xg_m3gnet_compute_work: one per thread (or per relaxation), so
 * repeated calls do not map and fault in fresh memory each time (a third of the time of a
 * 20-atom call went to the kernel before). Grows as needed; alloc/free pair. */
typedef struct xg_m3gnet_work xg_m3gnet_work;
xg_m3gnet_work *xg_m3gnet_work_alloc(void);
void xg_m3gnet_work_free(xg_m3gnet_work *w);
int xg_m3gnet_compute_work(const xg_m3gnet *m, xg_m3gnet_work *w, const xg_structure *s,
                           double *energy, double (*forces)[3], double stress[3][3],
                           xg_error *err);

/* Counts of the last graph, for benchmarks: bonds within the cutoff and three-body triples. */
int xg_m3gnet_graph_size(const xg_m3gnet *m, const xg_structure *s, long *nbonds, long *ntriples,
                         xg_error *err);

#endif
