/* fuzz_poscar.c: libFuzzer harness for the POSCAR reader (tests/fuzz/run.sh builds and runs it).
 * The first input byte picks whether VASP 4 species are supplied, so both paths are explored.
 * Whatever the reader accepts, the writer must accept too, and its output must read back. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crystal/xg_poscar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int species[3] = {8, 26, 3};
    int nsp = 0;
    if (size > 0) {
        nsp = data[0] % 4;
        data++;
        size--;
    }
    xg_structure *s;
    xg_error e;
    if (xg_poscar_read_buffer((const char *)data, size, "fuzz/POSCAR", nsp ? species : NULL, nsp,
                              &s, &e) != XG_OK)
        return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    if (xg_poscar_write(f, s, &e) != XG_OK) {
        fprintf(stderr, "writer refused what the reader produced: %s\n", e.msg);
        abort();
    }
    fclose(f);
    xg_structure *t;
    if (xg_poscar_read_buffer(buf, len, "rewritten", NULL, 0, &t, &e) == XG_OK) {
        if (t->natoms != s->natoms) {
            fprintf(stderr, "round trip changed the atom count %d -> %d\n", s->natoms, t->natoms);
            abort();
        }
        xg_structure_free(t);
    }
    free(buf);
    xg_structure_free(s);
    return 0;
}
