/* fuzz_model_h5.c: libFuzzer harness for the model file reader (xg_model_load, with and
 * without the optimizer state; run by tests/fuzz/run.sh). HDF5 opens files by name, so each
 * input is written to a temporary file first. Beyond "no crash, no sanitizer report": a model
 * the reader accepts has a network matching its /config and finite weights. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "diffusion/xg_model.h"

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/xg_fuzz_model_%ld.h5", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    static const int flags[2] = {XG_MODEL_LOAD_EMA, XG_MODEL_LOAD_STATE};
    for (int k = 0; k < 2; k++) {
        xg_model *m = NULL;
        xg_error e;
        if (xg_model_load(path, flags[k], &m, &e) != XG_OK)
            continue;
        size_t np = xg_denoiser_num_params(m->net);
        for (size_t i = 0; i < np; i++)
            if (!isfinite(m->weights[i]) || !isfinite(m->ema[i]))
                abort();
        xg_model_free(m);
    }
    unlink(path);
    return 0;
}
