/* xg_mpi.c: MPI for the commands, or single-process stand-ins without XTALGEN_MPI (xg_mpi.h). */
#include "src/xg_mpi.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef XTALGEN_MPI
#include <mpi.h>
#endif

/* MPI counts are int: big buffers go in pieces well below INT_MAX. */
#define PIECE_ELEMS ((size_t)1 << 30)
#define PIECE_BYTES ((size_t)1 << 30)

int xg_mpi_available(void)
{
#ifdef XTALGEN_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef XTALGEN_MPI
static int mpi_fail(xg_error *err, int mpirc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(mpirc, msg, &len);
    return xg_error_set(err, XG_ELIB, "MPI %s failed: %s", what, msg);
}
#endif

int xg_mpi_init(xg_mpi *m, xg_error *err)
{
    memset(m, 0, sizeof *m);
    m->rank = 0;
    m->size = 1;
#ifdef XTALGEN_MPI
    int done = 0;
    MPI_Initialized(&done);
    if (!done) {
        int provided = 0;
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS)
            return xg_error_set(err, XG_ELIB, "MPI_Init_thread failed (code %d)", rc);
        m->initialized = 1;
        /* Errors come back as codes with messages instead of aborting inside MPI. */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
#else
    (void)err;
#endif
    return XG_OK;
}

int xg_mpi_finalize(xg_mpi *m, int exit_code)
{
#ifdef XTALGEN_MPI
    if (m && m->initialized) {
        if (exit_code != 0 && m->size > 1)
            MPI_Abort(MPI_COMM_WORLD, exit_code);
        MPI_Finalize();
        m->initialized = 0;
    }
#else
    (void)m;
#endif
    return exit_code;
}

#ifdef XTALGEN_MPI
static int allreduce(xg_mpi *m, void *buf, size_t n, MPI_Datatype type, size_t elem, MPI_Op op,
                     xg_error *err)
{
    char *p = buf;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < PIECE_ELEMS ? n - done : PIECE_ELEMS;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p + done * elem, (int)k, type, op, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "Allreduce");
        done += k;
    }
    (void)m;
    return XG_OK;
}
#endif

int xg_mpi_sum_f32(xg_mpi *m, float *buf, size_t n, xg_error *err)
{
#ifdef XTALGEN_MPI
    if (m->size > 1)
        return allreduce(m, buf, n, MPI_FLOAT, sizeof(float), MPI_SUM, err);
#endif
    (void)m, (void)buf, (void)n, (void)err;
    return XG_OK;
}

int xg_mpi_sum_f64(xg_mpi *m, double *buf, size_t n, xg_error *err)
{
#ifdef XTALGEN_MPI
    if (m->size > 1)
        return allreduce(m, buf, n, MPI_DOUBLE, sizeof(double), MPI_SUM, err);
#endif
    (void)m, (void)buf, (void)n, (void)err;
    return XG_OK;
}

int xg_mpi_max_i64(xg_mpi *m, int64_t *buf, size_t n, xg_error *err)
{
#ifdef XTALGEN_MPI
    if (m->size > 1)
        return allreduce(m, buf, n, MPI_INT64_T, sizeof(int64_t), MPI_MAX, err);
#endif
    (void)m, (void)buf, (void)n, (void)err;
    return XG_OK;
}

int xg_mpi_barrier(xg_mpi *m, xg_error *err)
{
#ifdef XTALGEN_MPI
    if (m->size > 1) {
        int rc = MPI_Barrier(MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "Barrier");
    }
#endif
    (void)m, (void)err;
    return XG_OK;
}

int xg_mpi_gather_bytes(xg_mpi *m, const void *buf, size_t n, void **out, size_t *counts,
                        xg_error *err)
{
    *out = NULL;
    if (m->size <= 1) {
        counts[0] = n;
        void *copy = malloc(n ? n : 1);
        if (!copy)
            return xg_error_set(err, XG_ENOMEM, "gather: out of memory (%zu bytes)", n);
        if (n)
            memcpy(copy, buf, n);
        *out = copy;
        return XG_OK;
    }
#ifdef XTALGEN_MPI
    /* Sizes first (one collective), then the bytes point to point, in rank order. */
    uint64_t mine = (uint64_t)n;
    uint64_t *sizes = m->rank == 0 ? malloc((size_t)m->size * sizeof *sizes) : NULL;
    if (m->rank == 0 && !sizes)
        return xg_error_set(err, XG_ENOMEM, "gather: out of memory");
    int rc = MPI_Gather(&mine, 1, MPI_UINT64_T, sizes, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(sizes);
        return mpi_fail(err, rc, "Gather");
    }
    const int tag = 7301;
    if (m->rank != 0) {
        const char *p = buf;
        for (size_t done = 0; done < n;) {
            size_t k = n - done < PIECE_BYTES ? n - done : PIECE_BYTES;
            rc = MPI_Send(p + done, (int)k, MPI_BYTE, 0, tag, MPI_COMM_WORLD);
            if (rc != MPI_SUCCESS)
                return mpi_fail(err, rc, "Send");
            done += k;
        }
        return XG_OK;
    }
    size_t total = 0;
    for (int r = 0; r < m->size; r++) {
        counts[r] = (size_t)sizes[r];
        total += counts[r];
    }
    free(sizes);
    char *all = malloc(total ? total : 1);
    if (!all)
        return xg_error_set(err, XG_ENOMEM, "gather: out of memory (%zu bytes from %d ranks)",
                            total, m->size);
    if (n)
        memcpy(all, buf, n);
    size_t at = n;
    for (int r = 1; r < m->size; r++) {
        for (size_t done = 0; done < counts[r];) {
            size_t k = counts[r] - done < PIECE_BYTES ? counts[r] - done : PIECE_BYTES;
            rc = MPI_Recv(all + at + done, (int)k, MPI_BYTE, r, tag, MPI_COMM_WORLD,
                          MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) {
                free(all);
                return mpi_fail(err, rc, "Recv");
            }
            done += k;
        }
        at += counts[r];
    }
    *out = all;
    return XG_OK;
#else
    return xg_error_set(err, XG_EINVAL, "gather: %d ranks in a build without MPI", m->size);
#endif
}

static int dist_sum_f32(void *ctx, float *buf, size_t n, xg_error *err)
{
    return xg_mpi_sum_f32(ctx, buf, n, err);
}

static int dist_sum_f64(void *ctx, double *buf, size_t n, xg_error *err)
{
    return xg_mpi_sum_f64(ctx, buf, n, err);
}

void xg_mpi_train_dist(xg_mpi *m, xg_train_dist *d)
{
    memset(d, 0, sizeof *d);
    d->rank = m->rank;
    d->size = m->size;
    d->sum_f32 = dist_sum_f32;
    d->sum_f64 = dist_sum_f64;
    d->ctx = m;
}
