/* fuzz_extxyz.c: libFuzzer harness for the extended XYZ reader (tests/fuzz/run.sh).
 * Whatever the reader accepts, the writer must accept too. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crystal/xg_extxyz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xg_structure **v;
    int n;
    xg_error e;
    if (xg_extxyz_read_buffer((const char *)data, size, "fuzz.extxyz", &v, &n, &e) != XG_OK)
        return 0;
    for (int i = 0; i < n; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
            abort();
        if (xg_extxyz_write(f, v[i], &e) != XG_OK) {
            fprintf(stderr, "writer refused what the reader produced: %s\n", e.msg);
            abort();
        }
        fclose(f);
        free(buf);
    }
    xg_extxyz_structures_free(v, n);
    return 0;
}
