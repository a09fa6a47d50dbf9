/* fuzz_cif.c: libFuzzer harness for the CIF reader (tests/fuzz/run.sh builds and runs it).
 * Invariants checked beyond "no crash, no sanitizer report": whatever the reader accepts, the
 * writer must accept too, and the written text must read back without crashing. The same
 * for the disordered reading (XG_CIF_DISORDER: partial occupancies, mixed sites). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crystal/xg_cif.h"

static void one(const uint8_t *data, size_t size, int flags)
{
    xg_structure **v;
    int n;
    xg_error e;
    if (xg_cif_read_buffer_flags((const char *)data, size, "fuzz.cif", flags, &v, &n, &e) != XG_OK)
        return;
    for (int i = 0; i < n; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
            abort();
        if (xg_cif_write(f, v[i], &e) != XG_OK) {
            fprintf(stderr, "writer refused what the reader produced: %s\n", e.msg);
            abort();
        }
        fclose(f);
        xg_structure **w;
        int m;
        if (xg_cif_read_buffer_flags(buf, len, "rewritten.cif", flags, &w, &m, &e) == XG_OK)
            xg_cif_structures_free(w, m);
        free(buf);
    }
    xg_cif_structures_free(v, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size, 0);
    one(data, size, XG_CIF_DISORDER);
    return 0;
}
