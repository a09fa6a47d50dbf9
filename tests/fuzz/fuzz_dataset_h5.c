/* fuzz_dataset_h5.c: libFuzzer harness for the HDF5 dataset reader (xg_dataset_read_h5; run by
 * tests/fuzz/run.sh). Structure-aware (see h5_mutate.h): the first byte picks a valid base file
 * xtalgen wrote (with or without properties), the rest drives edits made through the HDF5 API,
 * and the edited file is read from memory (HDF5's core driver: no disk; base 2 is the appendable
 * layout of generate, and what the reader accepts is written out and appended to as a resumed
 * run would, in a private folder on tmpfs). Invariants beyond "no crash, no
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

static char dir[96], path[128], back[128];
static fz_base base[3];

static void make_bases(void)
{
    char p[160];
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
        fz_base_load(&base[b], p);
    }
    /* base 2: the appendable layout `generate` grows batch by batch (chunked, extendible) */
    snprintf(p, sizeof p, "%s.base2", path);
    xg_dataset *head = xg_dataset_alloc();
    xg_error e;
    if (!head || xg_dataset_set_attr(head, "seed", "1", &e) != XG_OK ||
        xg_dataset_h5_append(p, head, &e) != XG_OK)
        abort();
    for (int b = 0; b < 2; b++) {
        xg_dataset *part = xg_dataset_alloc();
        xg_structure *s = xg_structure_alloc(2 + b);
        if (!part || !s)
            abort();
        snprintf(s->id, sizeof s->id, "gen-%07d", b);
        for (int i = 0; i < 3; i++)
            s->lattice[i][i] = 5.0;
        for (int i = 0; i < 2 + b; i++) {
            s->types[i] = 3 + i;
            s->frac[i][0] = 0.3 * i;
        }
        if (xg_dataset_append(part, s, NULL, &e) != XG_OK || xg_dataset_h5_append(p, part, &e))
            abort();
        xg_structure_free(s);
        xg_dataset_free(part);
    }
    xg_dataset_free(head);
    fz_base_load(&base[2], p);
}

/* What a resumed generate does with a file the reader accepted: append to it. Whatever the
 * file holds, the append succeeds or fails with a message; it never crashes. */
static void try_append(const xg_dataset *ds)
{
    xg_error e;
    xg_dataset *one = xg_dataset_alloc();
    xg_structure *s = xg_structure_alloc(1);
    if (!one || !s)
        abort();
    snprintf(s->id, sizeof s->id, "gen-x");
    s->lattice[0][0] = s->lattice[1][1] = s->lattice[2][2] = 4.0;
    s->types[0] = 8;
    for (int k = 0; k < ds->nprops; k++)
        if (xg_dataset_add_property(one, ds->prop_names[k], &e) < 0)
            abort();
    if (xg_dataset_append(one, s, NULL, &e) != XG_OK)
        abort();
    (void)xg_dataset_h5_append(path, one, &e);
    xg_structure_free(s);
    xg_dataset_free(one);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        fz_setup(dir, sizeof dir, "dataset");
        snprintf(path, sizeof path, "%s/in.h5", dir);
        snprintf(back, sizeof back, "%s/back.h5", dir);
        make_bases();
    }
    fz_in in = {data, size};
    int b = (int)(fz_u8(&in) % 3);
    size_t len;
    unsigned char *img = fz_mutate(&base[b], &in, &len);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
        abort(); /* the mutator closed everything */
    if (!img)
        return 0;
    xg_dataset *ds = NULL;
    xg_error e;
    if (xg_dataset_read_h5_image(img, len, "fuzz.h5", &ds, &e) == XG_OK) {
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
        unlink(back);
        fz_spit(path, img, len);
        try_append(ds);
        unlink(path);
        xg_dataset_free(ds);
    }
    free(img);
    /* every HDF5 handle the reader opened is closed again, on every path */
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
        fprintf(stderr, "the reader left HDF5 objects open\n");
        abort();
    }
    return 0;
}
