/* h5_mutate.h: structure-aware mutation of HDF5 files for the fuzz harnesses of xtalgen's HDF5
 * readers (fuzz_dataset_h5.c, fuzz_model_h5.c; included, not compiled alone).
 *
 * Why not mutate the file's bytes: HDF5 1.10's own decoder is not robust to damaged files (a
 * byte-level harness hit a heap use-after-free inside H5Aexists within ten seconds), so such
 * a harness measures HDF5's bugs, not xtalgen's. These harnesses start from a valid file that
 * xtalgen wrote and let the fuzz input drive edits made through the HDF5 API: delete or
 * replace attributes and datasets with other types, ranks, shapes, values, storage layouts
 * (unwritten, chunked, compressed), and overwrite single values with hostile ones (NaN, inf,
 * negative counts, INT64_MAX). Every file the reader then sees is well-formed HDF5 whose
 * content is arbitrary: exactly what xtalgen's checks must survive. */
#ifndef XG_H5_MUTATE_H
#define XG_H5_MUTATE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <unistd.h>

#include "crystal/xg_h5util.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} fz_in;

static unsigned fz_u8(fz_in *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static uint64_t fz_u64(fz_in *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fz_u8(r);
    return v;
}

static int64_t fz_int(fz_in *r)
{
    static const int64_t pick[] = {0, 1, 2, 3, -1, 7, 100, 103, 104, 255, 65536, -65536,
                                   INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 3000000};
    unsigned k = fz_u8(r);
    if (k < 2 * sizeof pick / sizeof *pick)
        return pick[k % (sizeof pick / sizeof *pick)];
    return (int64_t)fz_u64(r);
}

static double fz_real(fz_in *r)
{
    static const double pick[] = {0, 0.5, 1, -1, 0.999999, 1e-300, 1e300, 4.0, -4.0, 90, 180};
    unsigned k = fz_u8(r);
    if (k < 11)
        return pick[k];
    if (k < 14)
        return k == 11 ? NAN : k == 12 ? INFINITY : -INFINITY;
    uint64_t b = fz_u64(r);
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

#define FZ_MAX_OBJ 256
typedef struct {
    char obj[FZ_MAX_OBJ][160]; /* datasets and groups, "/stats/natoms_hist" */
    int isds[FZ_MAX_OBJ];
    int nobj;
    char attr_obj[FZ_MAX_OBJ][160], attr_name[FZ_MAX_OBJ][64];
    int nattr;
} fz_objs;

static herr_t fz_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *ctx)
{
    (void)loc;
    (void)info;
    fz_objs *o = ctx;
    if (o->nattr < FZ_MAX_OBJ && strlen(name) < 64) {
        snprintf(o->attr_name[o->nattr], 64, "%s", name);
        o->nattr++;
    }
    return 0;
}

static herr_t fz_obj_cb(hid_t loc, const char *name, const H5O_info_t *info, void *ctx)
{
    fz_objs *o = ctx;
    if (o->nobj >= FZ_MAX_OBJ || strlen(name) >= 150)
        return 0;
    snprintf(o->obj[o->nobj], 160, "/%s", strcmp(name, ".") ? name : "");
    o->isds[o->nobj] = info->type == H5O_TYPE_DATASET;
    hid_t h = H5Oopen(loc, name, H5P_DEFAULT);
    if (h >= 0) {
        int first = o->nattr;
        H5Aiterate2(h, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, fz_attr_cb, o);
        for (int k = first; k < o->nattr; k++)
            snprintf(o->attr_obj[k], 160, "%s", o->obj[o->nobj]);
        H5Oclose(h);
    }
    o->nobj++;
    return 0;
}

/* A new dataset or attribute type chosen by the input. */
static hid_t fz_type(fz_in *r, int *is_str)
{
    *is_str = 0;
    switch (fz_u8(r) % 8) {
    case 0: return H5Tcopy(H5T_STD_I32LE);
    case 1: return H5Tcopy(H5T_STD_I64LE);
    case 2: return H5Tcopy(H5T_IEEE_F64LE);
    case 3: return H5Tcopy(H5T_IEEE_F32LE);
    case 4: return H5Tcopy(H5T_STD_U8LE);
    case 5: return H5Tcopy(H5T_STD_U64LE);
    case 6: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 1 + fz_u8(r) % 160);
        H5Tset_strpad(t, (H5T_str_t)(fz_u8(r) % 3));
        *is_str = 1;
        return t;
    }
    default: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        *is_str = 2;
        return t;
    }
    }
}

/* Fills n values of type t (memory = file type) from the input. */
static void *fz_values(fz_in *r, hid_t t, int is_str, size_t n)
{
    if (is_str == 2) {
        char **v = calloc(n ? n : 1, sizeof *v);
        static char pool[4][24] = {"xtalgen-model", "xtalgen-dataset", "", "xtalgen-hull"};
        for (size_t i = 0; v && i < n; i++)
            v[i] = pool[fz_u8(r) % 4];
        return v;
    }
    size_t sz = H5Tget_size(t);
    unsigned char *b = calloc(n ? n : 1, sz);
    if (!b)
        return NULL;
    H5T_class_t c = H5Tget_class(t);
    for (size_t i = 0; i < n; i++) {
        unsigned char *e = b + i * sz;
        if (c == H5T_STRING) {
            static const char *words[] = {"xtalgen-model", "xtalgen-dataset", "xtalgen-modelX",
                                          "mp-1", "formation_energy_per_atom", "x"};
            const char *w = words[fz_u8(r) % 6];
            size_t l = strlen(w) < sz ? strlen(w) : sz;
            memcpy(e, w, l);
            if (fz_u8(r) & 1)
                for (size_t k = 0; k < sz; k++)
                    e[k] = (unsigned char)fz_u8(r);
        } else if (c == H5T_FLOAT) {
            double d = fz_real(r);
            if (sz == 4) {
                float f = (float)d;
                memcpy(e, &f, 4);
            } else {
                memcpy(e, &d, 8);
            }
        } else {
            int64_t v = fz_int(r);
            memcpy(e, &v, sz < 8 ? sz : 8); /* little-endian: the low bytes */
        }
    }
    return b;
}

/* Replaces dataset `path` (or creates it) with one the input describes. */
static void fz_new_dataset(hid_t f, const char *path, fz_in *r)
{
    if (H5Lexists(f, path, H5P_DEFAULT) > 0)
        H5Ldelete(f, path, H5P_DEFAULT);
    int rank = fz_u8(r) % 4;
    hsize_t dims[3], total = 1;
    for (int k = 0; k < rank; k++) {
        unsigned d = fz_u8(r);
        dims[k] = d < 200 ? d % 12 : d < 250 ? 3 : 3000000; /* small, or a declared 3 M */
        total *= dims[k];
    }
    int is_str;
    hid_t t = fz_type(r, &is_str);
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    unsigned mode = fz_u8(r) % 4; /* 0, 1: written contiguous; 2: chunked+deflate; 3: never written */
    if (mode == 2 && rank > 0 && total > 0) {
        hsize_t ch[3];
        for (int k = 0; k < rank; k++)
            ch[k] = dims[k] ? (dims[k] < 4 ? dims[k] : 4) : 1;
        H5Pset_chunk(pl, rank, ch);
        H5Pset_deflate(pl, 1);
    }
    hid_t d = H5Dcreate2(f, path, t, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    if (d >= 0 && mode != 3 && total > 0 && total <= 4096) {
        void *v = fz_values(r, t, is_str, (size_t)total);
        if (v)
            H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        free(v);
    }
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(pl);
    H5Sclose(sp);
    H5Tclose(t);
}

/* Overwrites one element of an existing numeric dataset with a hostile value. */
static void fz_poke(hid_t f, const char *path, fz_in *r)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0)
        return;
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5T_class_t c = H5Tget_class(t);
    /* a poke into a huge unwritten dataset would allocate all of it on disk: leave those */
    if (n > 0 && n <= 65536 && (c == H5T_INTEGER || c == H5T_FLOAT)) {
        hsize_t at = (hsize_t)(fz_u64(r) % (uint64_t)n);
        int rank = H5Sget_simple_extent_ndims(sp);
        hsize_t dims[8], coord[8];
        H5Sget_simple_extent_dims(sp, dims, NULL);
        for (int k = rank - 1; k >= 0; k--) {
            coord[k] = dims[k] ? at % dims[k] : 0;
            at = dims[k] ? at / dims[k] : 0;
        }
        hsize_t one = 1;
        hid_t ms = H5Screate_simple(1, &one, NULL);
        H5Sselect_elements(sp, H5S_SELECT_SET, 1, coord);
        if (c == H5T_FLOAT) {
            double v = fz_real(r);
            H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, sp, H5P_DEFAULT, &v);
        } else {
            int64_t v = fz_int(r);
            H5Dwrite(d, H5T_NATIVE_INT64, ms, sp, H5P_DEFAULT, &v);
        }
        H5Sclose(ms);
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
}

/* Replaces attribute `name` of object `obj` with one the input describes. */
static void fz_new_attr(hid_t f, const char *obj, const char *name, fz_in *r)
{
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    if (o < 0)
        return;
    if (H5Aexists(o, name) > 0)
        H5Adelete(o, name);
    if (fz_u8(r) % 5) { /* else: deleted */
        int is_str;
        hid_t t = fz_type(r, &is_str);
        hsize_t n = 1 + fz_u8(r) % 3;
        hid_t sp = (n == 1 || fz_u8(r) & 1) ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
        if (H5Sget_simple_extent_type(sp) == H5S_SCALAR)
            n = 1;
        hid_t a = H5Acreate2(o, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        void *v = fz_values(r, t, is_str, (size_t)n);
        if (a >= 0 && v)
            H5Awrite(a, t, v);
        free(v);
        if (a >= 0)
            H5Aclose(a);
        H5Sclose(sp);
        H5Tclose(t);
    }
    H5Oclose(o);
}

/* One-time set-up of a harness: HDF5 quiet (the edits may fail; the readers silence it
 * themselves), HDF5's free lists allowed to keep what one execution frees (by default HDF5
 * frees its ~600 KB metadata cache at every close, and under ASan every such allocation is a
 * fresh mmap whose zeroed pages dominated the time of an execution), and a private folder on
 * tmpfs for the files the invariants write (the writers sweep their folder for leftovers: a
 * crowded /tmp made every write list thousands of names). */
static const char *fz_dir;
static void fz_rmdir(void) { rmdir(fz_dir); }

static void fz_setup(char *dir, size_t n, const char *tag)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5set_free_list_limits(64 << 20, 16 << 20, 64 << 20, 16 << 20, 64 << 20, 16 << 20);
    snprintf(dir, n, "%s/xg_fuzz_%s_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             tag);
    if (!mkdtemp(dir))
        abort();
    fz_dir = dir;
    atexit(fz_rmdir); /* empty by then: each execution removes what it wrote */
}

/* A valid base file: its bytes and the objects and attributes the edits may pick (listed once:
 * visiting the file at every execution was the largest cost of one). */
typedef struct {
    unsigned char *img;
    size_t len;
    fz_objs *objs;
} fz_base;

static unsigned char *fz_slurp(const char *path, size_t *n);

/* Loads the base from the file at path, which is then removed. */
static void fz_base_load(fz_base *b, const char *path)
{
    b->img = fz_slurp(path, &b->len);
    unlink(path);
    b->objs = calloc(1, sizeof *b->objs);
    hid_t f = xg_h5_open_image(b->img, b->len, H5F_ACC_RDONLY);
    if (!b->objs || f < 0)
        abort();
    H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, fz_obj_cb, b->objs);
    H5Fclose(f);
}

/* Applies the edits the input asks for to an in-memory copy of the base (no disk: HDF5's core
 * driver, xg_h5_open_image); returns the edited bytes (malloc'd; *n their length), or NULL when
 * HDF5 could not write the edited file out. */
static unsigned char *fz_mutate(const fz_base *b, fz_in *r, size_t *n)
{
    hid_t f = xg_h5_open_image(b->img, b->len, H5F_ACC_RDWR);
    if (f < 0)
        abort(); /* the base is a file xtalgen wrote */
    const fz_objs *o = b->objs;
    for (int edit = 0; edit < 12 && r->n > 0; edit++) {
        unsigned op = fz_u8(r) % 6;
        if ((op == 0 || op == 1) && o->nattr > 0) {
            int k = (int)(fz_u8(r) % (unsigned)o->nattr);
            fz_new_attr(f, o->attr_obj[k], o->attr_name[k], r);
        } else if (op == 2 && o->nobj > 1) {
            int k = 1 + (int)(fz_u8(r) % (unsigned)(o->nobj - 1));
            if (o->isds[k] || fz_u8(r) % 4 == 0)
                fz_new_dataset(f, o->obj[k], r);
        } else if (op == 3 && o->nobj > 1) {
            int k = 1 + (int)(fz_u8(r) % (unsigned)(o->nobj - 1));
            if (H5Lexists(f, o->obj[k], H5P_DEFAULT) > 0)
                H5Ldelete(f, o->obj[k], H5P_DEFAULT);
        } else if (o->nobj > 1) {
            int k = 1 + (int)(fz_u8(r) % (unsigned)(o->nobj - 1));
            if (o->isds[k])
                fz_poke(f, o->obj[k], r);
        }
    }
    unsigned char *img = NULL;
    ssize_t sz = H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(f, NULL, 0);
    if (sz > 0 && (img = malloc((size_t)sz)) != NULL &&
        H5Fget_file_image(f, img, (size_t)sz) != sz) {
        free(img);
        img = NULL;
    }
    *n = img ? (size_t)sz : 0;
    if (H5Fclose(f) < 0) {
        /* HDF5 could not finish the file (it keeps it open then): start the library afresh */
        H5close();
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        H5set_free_list_limits(64 << 20, 16 << 20, 64 << 20, 16 << 20, 64 << 20, 16 << 20);
    }
    return img;
}

/* The bytes of a file (the valid base each input starts from). */
static unsigned char *fz_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len);
    if (!b || fread(b, 1, (size_t)len, f) != (size_t)len)
        abort();
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void fz_spit(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n)
        abort();
    fclose(f);
}

#endif
