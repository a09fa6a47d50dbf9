/* fuzz_dataset_h5.c: libFuzzer harness for the HDF5 dataset reader (xg_dataset_read_h5; run by
 * tests/fuzz/run.sh). Structure-aware (see h5_mutate.h): the first byte picks a valid base file
 * xtalgen wrote (with or without properties), the rest drives edits made through the HDF5 API,
 * and the edited file is written to a temporary file and read. Invariants beyond "no crash, no
 * sanitizer report, no leak": what the reader accepts is internally consistent and writes back
 * and reads back with the same sizes, and no HDF5 object is left open on any path. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_elements.h"
#include "h5_mutate.h"

static char path[64], back[80];
static unsigned char *base[2];
static size_t base_len[2];

static void make_bases(void)
{
    char p[96];
    for (int b = 0; b < 2; b++) {
        xg_dataset *ds = xg_dataset_alloc();
        xg_error e;
        if (!ds || (b == 0 && (xg_dataset_add_property(ds, "formation_energy_per_atom", &e) < 0 ||
                               xg_dataset_add_property(ds, "band_gap", &e) < 0)))
            abort();
        for (int k = 0; k < 3; k++) {
            xg_structure *s = xg_structure_alloc(k + 1);
            if (!s)
                abort();
            snprintf(s->id, sizeof s->id, "mp-%d", k + 1);
            for (int i = 0; i < 3; i++)
                s->lattice[i][i] = 4.0 + k;
            for (int i = 0; i <= k; i++) {
                s->types[i] = 8 + 3 * i;
                s->frac[i][0] = 0.25 * i;
                s->frac[i][1] = 0.5;
                s->frac[i][2] = 0.1 * i;
            }
            double props[2] = {-1.5 + k, k == 1 ? NAN : 0.5 * k};
            if (xg_dataset_append(ds, s, b == 0 ? props : NULL, &e) != XG_OK)
                abort();
            xg_structure_free(s);
        }
        snprintf(p, sizeof p, "%s.base%d", path, b);
        if (xg_dataset_write_h5(ds, p, &e) != XG_OK)
            abort();
        xg_dataset_free(ds);
        base[b] = fz_slurp(p, &base_len[b]);
        unlink(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the harness's own edits may fail: quietly */
        snprintf(path, sizeof path, "/tmp/xg_fuzz_dataset_%ld.h5", (long)getpid());
        snprintf(back, sizeof back, "%s.back.h5", path);
        make_bases();
    }
    fz_in in = {data, size};
    int b = (int)(fz_u8(&in) % 2);
    fz_spit(path, base[b], base_len[b]);
    fz_mutate(path, &in);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
        abort(); /* the mutator closed everything */
    xg_dataset *ds = NULL;
    xg_error e;
    if (xg_dataset_read_h5(path, &ds, &e) == XG_OK) {
        if (ds->offsets[0] != 0 || ds->offsets[ds->n] != ds->m)
            abort();
        for (int64_t i = 0; i < ds->m; i++)
            if (ds->types[i] < 1 || ds->types[i] > XG_MAX_Z)
                abort();
        if (xg_dataset_write_h5(ds, back, &e) != XG_OK) {
            fprintf(stderr, "writer refused what the reader produced: %s\n", e.msg);
            abort();
        }
        xg_dataset *rt = NULL;
        if (xg_dataset_read_h5(back, &rt, &e) != XG_OK || rt->n != ds->n || rt->m != ds->m ||
            rt->nprops != ds->nprops) {
            fprintf(stderr, "read back differs: %s\n", e.msg);
            abort();
        }
        xg_dataset_free(rt);
        xg_dataset_free(ds);
        unlink(back);
    }
    /* every HDF5 handle the reader opened is closed again, on every path */
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
        fprintf(stderr, "the reader left HDF5 objects open\n");
        abort();
    }
    unlink(path);
    return 0;
}
