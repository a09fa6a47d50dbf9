/* fuzz_cif.c: libFuzzer harness for the CIF reader (tests/fuzz/run.sh builds and runs it).
 * Invariants checked beyond "no crash, no sanitizer report": whatever the reader accepts, the
 * writer must accept too, and the written text must read back without crashing. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crystal/xg_cif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xg_structure **v;
    int n;
    xg_error e;
    if (xg_cif_read_buffer((const char *)data, size, "fuzz.cif", &v, &n, &e) != XG_OK)
        return 0;
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
        if (xg_cif_read_buffer(buf, len, "rewritten.cif", &w, &m, &e) == XG_OK)
            xg_cif_structures_free(w, m);
        free(buf);
    }
    xg_cif_structures_free(v, n);
    return 0;
}
