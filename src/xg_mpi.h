/* xg_mpi.h: the thin layer between the xtalgen commands and MPI (DESIGN.md 5, issue 7).
 *
 * Why a layer: only the program (src/) may know about MPI. diffusion/ gets the one thing it
 * needs, a "sum these numbers over all processes" callback (xg_train_dist), from
 * xg_mpi_train_dist(); crystal/ and properties/ never see a rank. Built without XTALGEN_MPI
 * (the default), every function here is a single-process no-op: rank 0 of 1, sums leave the
 * buffer as it is, a gather copies the caller's own bytes. So the commands carry one code path.
 *
 * Failure: a collective that one rank leaves early would hang the others. Every command
 * therefore ends through xg_mpi_finalize(), which turns a non-zero exit code of any rank of a
 * multi-rank run into MPI_Abort (the whole job stops with that code) instead of a hang.
 * Ranks are assumed to run the same binary on the same architecture (raw structs travel as
 * bytes), as in any ordinary MPI job. */
#ifndef XG_MPI_H
#define XG_MPI_H

#include <stddef.h>
#include <stdint.h>

#include "crystal/xg_error.h"
#include "diffusion/xg_train.h"

typedef struct {
    int rank;        /* 0 .. size-1 */
    int size;        /* number of processes; 1 without MPI or outside mpirun */
    int initialized; /* this layer called MPI_Init (and must call MPI_Finalize) */
} xg_mpi;

/* 1 when this build has MPI support (XTALGEN_MPI), else 0. */
int xg_mpi_available(void);

/* Joins the MPI job (MPI_Init_thread, funneled: only the main thread calls MPI; OpenMP threads
 * do the number crunching in between). Without MPI: rank 0 of 1. Call after the command line
 * has been parsed, so that usage errors exit the same way on every rank without MPI. */
int xg_mpi_init(xg_mpi *m, xg_error *err);

/* Leaves the job and returns exit_code. In a run of several ranks a non-zero exit_code calls
 * MPI_Abort(exit_code): the other ranks may be waiting in a collective and would hang. */
int xg_mpi_finalize(xg_mpi *m, int exit_code);

/* In-place elementwise sums over all ranks (MPI_Allreduce, MPI_SUM). Every rank receives the
 * same values. Any n (large buffers go in pieces of at most 2^30 elements). */
int xg_mpi_sum_f32(xg_mpi *m, float *buf, size_t n, xg_error *err);
int xg_mpi_sum_f64(xg_mpi *m, double *buf, size_t n, xg_error *err);
/* In-place maximum over all ranks of n 64-bit integers (flags, counts). */
int xg_mpi_max_i64(xg_mpi *m, int64_t *buf, size_t n, xg_error *err);

/* Waits for every rank. */
int xg_mpi_barrier(xg_mpi *m, xg_error *err);

/* Gathers each rank's n bytes on rank 0: there, *out (malloc'ed; caller frees) holds the
 * parts of ranks 0, 1, ..., size-1 back to back, and counts[r] (caller array of size entries)
 * the length of rank r's part. Other ranks get *out = NULL. Sizes are unlimited (point to point
 * in pieces of at most 1 GiB). */
int xg_mpi_gather_bytes(xg_mpi *m, const void *buf, size_t n, void **out, size_t *counts,
                        xg_error *err);

/* Fills the trainer's data-parallel hook (diffusion/xg_train.h) with this job's rank, size and
 * the sums above. m must outlive the training run. */
void xg_mpi_train_dist(xg_mpi *m, xg_train_dist *d);

#endif
