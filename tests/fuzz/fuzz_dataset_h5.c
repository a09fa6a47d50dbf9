/* fuzz_dataset_h5.c: libFuzzer harness for the HDF5 dataset reader (xg_dataset_read_h5; run by
 * tests/fuzz/run.sh). HDF5 opens files by name, so each input is written to a temporary file
 * first. Invariants beyond "no crash, no sanitizer report": what the reader accepts is
 * internally consistent (offsets, types), and writes back and reads back unchanged in size. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystal/xg_dataset.h"

static char path[64], back[80];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/xg_fuzz_dataset_%ld.h5", (long)getpid());
        snprintf(back, sizeof back, "%s.back.h5", path);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
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
    unlink(path);
    return 0;
}
