/* fuzz_model_h5.c: libFuzzer harness for the model file reader (xg_model_load_image, the
 * loader of xg_model_load below the open, with the EMA weights or with the optimizer state; run
 * by tests/fuzz/run.sh). Structure-aware (see h5_mutate.h): the first byte picks a valid base
 * file xtalgen wrote (a final model or a checkpoint of a tiny network) and the load, the rest
 * drives edits made through the HDF5 API, and the edited file is loaded from memory (HDF5's
 * core driver: no disk). Beyond "no crash, no sanitizer
 * report, no leak": a model the reader accepts has finite weights, and no HDF5 object is left
 * open on any path. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diffusion/xg_model.h"
#include "h5_mutate.h"

static char dir[96];
static fz_base base[2];

static void make_bases(void)
{
    xg_denoiser_config cfg = {4, 1, 1, 2, 0};
    xg_denoiser *net = xg_denoiser_alloc(&cfg, NULL);
    xg_noise_params np;
    xg_noise_params_default(&np);
    xg_hparams hp;
    xg_hparams_default(&hp);
    xg_model_stats st;
    memset(&st, 0, sizeof st);
    int64_t hist[3] = {0, 2, 5};
    st.hist_len = 3;
    st.natoms_hist = hist;
    st.avg_density = 0.06;
    st.nstructs = 7;
    xg_error e;
    xg_train_state *s = net ? xg_train_state_alloc(xg_denoiser_num_params(net), 3, XG_HIST_COLS, 0, &e) : NULL;
    if (!s)
        abort();
    for (int i = 0; i < 3; i++)
        s->perm[i] = i;
    const float *w = xg_denoiser_params(net);
    char p[160];
    for (int b = 0; b < 2; b++) {
        snprintf(p, sizeof p, "%s/base%d.h5", dir, b);
        if (xg_model_write(p, &(xg_model_desc){.net = net, .weights = w, .ema = w, .noise = &np, .hp = &hp, .stats = &st, .cond = NULL, .state = b ? s : NULL}, &e) != XG_OK)
            abort();
        fz_base_load(&base[b], p);
    }
    xg_train_state_free(s);
    xg_denoiser_free(net);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        fz_setup(dir, sizeof dir, "model");
        make_bases();
    }
    fz_in in = {data, size};
    /* the first byte: the base, and the load (final weights with the state, which a model file
     * must refuse, or the EMA weights): one load per execution, the fuzzer covers the pairs */
    unsigned pick = fz_u8(&in);
    int b = (int)(pick % 2);
    int flags = (pick >> 1) & 1 ? XG_MODEL_LOAD_STATE : XG_MODEL_LOAD_EMA;
    size_t len;
    unsigned char *img = fz_mutate(&base[b], &in, &len);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
        abort();
    if (!img)
        return 0;
    xg_model *m = NULL;
    xg_error e;
    if (xg_model_load_image(img, len, "fuzz.h5", flags, &m, &e) == XG_OK) {
        size_t np = xg_denoiser_num_params(m->net);
        for (size_t i = 0; i < np; i++)
            if (!isfinite(m->weights[i]) || !isfinite(m->ema[i]))
                abort();
        xg_model_free(m);
    }
    free(img);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
        fprintf(stderr, "the reader left HDF5 objects open\n");
        abort();
    }
    return 0;
}
