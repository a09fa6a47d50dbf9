/* test_condition.c: property conditioning (diffusion/xg_condition.h) and its use in model files
 * and fine-tuning: encoder round trips and determinism, missing labels, chemical-system
 * parsing, request parsing with clear refusals, the /condition group round trip, an
 * unconditional model file written before conditioning existed still loading, fine-tuning that
 * starts from exactly the base network, is deterministic and resumes bit for bit, and a short
 * fine-tune on an informative condition after which the conditional loss is below the
 * unconditional loss on the same data and noise. Data are synthetic; nothing from shared/. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "xg_test.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_condition.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_train.h"

/* ---------------------------------------------------------------- encoders */

static void test_scalar_round_trip(void)
{
    xg_cond_spec s;
    xg_cond_spec_init(&s);
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_cond_spec_add_scalar(&s, "dft_mag_density", 0.03, 0.05, &err), XG_OK);
    CU_ASSERT_EQUAL(s.n, 1);
    CU_ASSERT_EQUAL(s.dim, 1 + 2 * XG_COND_SCALAR_FREQS);
    CU_ASSERT_EQUAL(xg_cond_spec_check(&s, &err), XG_OK);
    float a[64], b[64];
    const double vals[] = {-0.2, 0.0, 0.03, 0.15, 0.4};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        xg_cond_value v = {1, vals[k], {0}};
        int any = 0;
        CU_ASSERT_EQUAL_FATAL(xg_cond_encode(&s, &v, a, &any, &err), XG_OK);
        CU_ASSERT_EQUAL(any, 1);
        CU_ASSERT_EQUAL(a[0], 1.0f); /* the presence flag */
        XG_ASSERT_NEAR(xg_cond_decode_scalar(&s.item[0], a), vals[k], 1e-5);
        /* deterministic: the same value gives the same bits */
        CU_ASSERT_EQUAL(xg_cond_encode(&s, &v, b, NULL, &err), XG_OK);
        CU_ASSERT_EQUAL(memcmp(a, b, sizeof(float) * (size_t)s.dim), 0);
        /* sin^2 + cos^2 = 1 per frequency */
        for (int f = 0; f < XG_COND_SCALAR_FREQS; f++)
            XG_ASSERT_NEAR(a[1 + 2 * f] * a[1 + 2 * f] + a[2 + 2 * f] * a[2 + 2 * f], 1.0, 1e-6);
    }
    /* nearby values give distinct encodings, the normalised value is z = (v - mean) / std */
    xg_cond_value v1 = {1, 0.15, {0}}, v2 = {1, 0.151, {0}};
    xg_cond_encode(&s, &v1, a, NULL, &err);
    xg_cond_encode(&s, &v2, b, NULL, &err);
    CU_ASSERT(memcmp(a, b, sizeof(float) * (size_t)s.dim) != 0);
    float ref[2 * XG_COND_SCALAR_FREQS];
    xg_cond_sinusoidal((0.15 - 0.03) / 0.05, XG_COND_SCALAR_FREQS, XG_COND_FREQ0, XG_COND_FREQ_RATIO, ref);
    CU_ASSERT_EQUAL(memcmp(a + 1, ref, sizeof ref), 0);
    XG_ASSERT_NEAR(ref[0], sin(XG_COND_FREQ0 * 2.4), 1e-6);
    XG_ASSERT_NEAR(ref[3], cos(XG_COND_FREQ0 * XG_COND_FREQ_RATIO * 2.4), 1e-6);

    /* missing is missing: an all-zero block, never the encoding of 0 */
    xg_cond_value miss = {0, 0.0, {0}}, zero = {1, 0.0, {0}};
    int any = 1;
    CU_ASSERT_EQUAL(xg_cond_encode(&s, &miss, a, &any, &err), XG_OK);
    CU_ASSERT_EQUAL(any, 0);
    for (int i = 0; i < s.dim; i++)
        CU_ASSERT_EQUAL(a[i], 0.0f);
    xg_cond_encode(&s, &zero, b, &any, &err);
    CU_ASSERT_EQUAL(any, 1);
    CU_ASSERT(memcmp(a, b, sizeof(float) * (size_t)s.dim) != 0);
    CU_ASSERT(isnan(xg_cond_decode_scalar(&s.item[0], a)));

    /* bad values and bad scalers are refused */
    xg_cond_value inf = {1, INFINITY, {0}};
    CU_ASSERT_EQUAL(xg_cond_encode(&s, &inf, a, NULL, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_cond_spec_add_scalar(&s, "band_gap", 1.0, 0.0, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_cond_spec_add_scalar(&s, "band_gap", NAN, 1.0, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_cond_spec_add_scalar(&s, "dft_mag_density", 0, 1, &err), XG_EINVAL); /* twice */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "twice"));
    CU_ASSERT_EQUAL(xg_cond_spec_add_scalar(&s, "a=b", 0, 1, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_cond_spec_add_scalar(&s, "", 0, 1, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_cond_spec_add_scalar(&s, "chemsys", 0, 1, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(s.n, 1);
}

static void test_chemsys(void)
{
    unsigned char el[XG_COND_NUM_Z + 1];
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_cond_parse_chemsys("Li-Fe-P-O", el, &err), XG_OK);
    int count = 0;
    for (int z = 1; z <= XG_COND_NUM_Z; z++)
        count += el[z] != 0;
    CU_ASSERT_EQUAL(count, 4);
    CU_ASSERT(el[3] && el[26] && el[15] && el[8]);
    /* two-letter symbols win: Co is cobalt, not C + o */
    CU_ASSERT_EQUAL(xg_cond_parse_chemsys("Co-O", el, &err), XG_OK);
    CU_ASSERT(el[27] && el[8] && !el[6]);
    CU_ASSERT_EQUAL(xg_cond_parse_chemsys("CO", el, &err), XG_OK); /* carbon and oxygen */
    CU_ASSERT(el[6] && el[8] && !el[27]);
    CU_ASSERT_EQUAL(xg_cond_parse_chemsys("Mn,Bi", el, &err), XG_OK);
    CU_ASSERT(el[25] && el[83]);
    CU_ASSERT_EQUAL(xg_cond_parse_chemsys("Li-Xx", el, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Xx"));
    CU_ASSERT_EQUAL(xg_cond_parse_chemsys("Fe-Fe", el, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_cond_parse_chemsys("", el, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_cond_parse_chemsys("LiFePO4", el, &err), XG_EINVAL); /* digits */
    CU_ASSERT_EQUAL(xg_cond_parse_chemsys("Li-Lr", el, &err), XG_EINVAL);   /* Z = 103 > 100 */

    xg_cond_spec s;
    xg_cond_spec_init(&s);
    CU_ASSERT_EQUAL_FATAL(xg_cond_spec_add_chemsys(&s, &err), XG_OK);
    CU_ASSERT_EQUAL(s.dim, 1 + XG_COND_NUM_Z);
    CU_ASSERT_EQUAL(xg_cond_spec_add_chemsys(&s, &err), XG_EINVAL);
    float v[1 + XG_COND_NUM_Z];
    const char *req[] = {"chemsys=Li-Fe-P-O"};
    CU_ASSERT_EQUAL_FATAL(xg_cond_encode_request(&s, 1, req, v, &err), XG_OK);
    CU_ASSERT_EQUAL(v[0], 1.0f);
    float sum = 0;
    for (int z = 1; z <= XG_COND_NUM_Z; z++)
        sum += v[z];
    CU_ASSERT_EQUAL(sum, 4.0f);
    CU_ASSERT(v[3] == 1.0f && v[26] == 1.0f && v[15] == 1.0f && v[8] == 1.0f);
    xg_cond_value empty;
    memset(&empty, 0, sizeof empty);
    empty.present = 1;
    CU_ASSERT_EQUAL(xg_cond_encode(&s, &empty, v, NULL, &err), XG_EINVAL);
}

static void test_requests(void)
{
    xg_cond_spec s;
    xg_cond_spec_init(&s);
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_cond_spec_add_scalar(&s, "dft_mag_density", 0.03, 0.05, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_cond_spec_add_chemsys(&s, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_cond_spec_add_scalar(&s, "band_gap", 1.2, 1.5, &err), XG_OK);
    CU_ASSERT_EQUAL(s.item[1].offset, s.item[0].dim);
    CU_ASSERT_EQUAL(s.item[2].offset, s.item[0].dim + s.item[1].dim);
    CU_ASSERT_EQUAL(xg_cond_spec_find(&s, "band_gap"), 2);
    CU_ASSERT_EQUAL(xg_cond_spec_find(&s, "mag_density"), 0); /* DESIGN.md's short name */
    CU_ASSERT_EQUAL(xg_cond_spec_find(&s, "nope"), -1);
    float *v = malloc(sizeof(float) * (size_t)s.dim);
    const char *one[] = {"mag_density=0.15"};
    CU_ASSERT_EQUAL_FATAL(xg_cond_encode_request(&s, 1, one, v, &err), XG_OK);
    XG_ASSERT_NEAR(xg_cond_decode_scalar(&s.item[0], v), 0.15, 1e-5);
    for (int i = s.item[1].offset; i < s.dim; i++) /* the others stay missing */
        CU_ASSERT_EQUAL(v[i], 0.0f);
    const char *all[] = {"band_gap=3", "chemsys=Fe-N", "dft_mag_density=0.1"};
    CU_ASSERT_EQUAL(xg_cond_encode_request(&s, 3, all, v, &err), XG_OK);
    XG_ASSERT_NEAR(xg_cond_decode_scalar(&s.item[2], v + s.item[2].offset), 3.0, 1e-5);
    CU_ASSERT_EQUAL(v[s.item[1].offset + 26], 1.0f);

    const char *unknown[] = {"magnetism=0.1"};
    CU_ASSERT_EQUAL(xg_cond_encode_request(&s, 1, unknown, v, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "magnetism"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dft_mag_density, chemsys, band_gap"));
    const char *twice[] = {"band_gap=1", "band_gap=2"};
    CU_ASSERT_EQUAL(xg_cond_encode_request(&s, 2, twice, v, &err), XG_EINVAL);
    const char *notnum[] = {"band_gap=wide"};
    CU_ASSERT_EQUAL(xg_cond_encode_request(&s, 1, notnum, v, &err), XG_EINVAL);
    const char *noval[] = {"band_gap="};
    CU_ASSERT_EQUAL(xg_cond_encode_request(&s, 1, noval, v, &err), XG_EINVAL);
    const char *noeq[] = {"band_gap"};
    CU_ASSERT_EQUAL(xg_cond_encode_request(&s, 1, noeq, v, &err), XG_EINVAL);
    xg_cond_spec none;
    xg_cond_spec_init(&none);
    CU_ASSERT_EQUAL(xg_cond_encode_request(&none, 1, one, v, &err), XG_EINVAL);

    /* a corrupted spec is caught */
    xg_cond_spec bad = s;
    bad.item[1].offset++;
    CU_ASSERT_EQUAL(xg_cond_spec_check(&bad, &err), XG_EINVAL);
    bad = s;
    bad.item[0].std = -1;
    CU_ASSERT_EQUAL(xg_cond_spec_check(&bad, &err), XG_EINVAL);
    bad = s;
    bad.dim++;
    CU_ASSERT_EQUAL(xg_cond_spec_check(&bad, &err), XG_EINVAL);
    bad = s;
    bad.item[2].kind = 7;
    CU_ASSERT_EQUAL(xg_cond_spec_check(&bad, &err), XG_EINVAL);
    free(v);
}

/* ---------------------------------------------------------------- synthetic data */

/* n crystals of N = 1..3 atoms of ONE element each, drawn from four; property "tag" is that
 * element's index (0..3), so it tells the network the atom types; every 8th crystal has no tag
 * (NaN). Near-cubic cells at ~0.05 atoms/A^3. */
static const int k_elems[4] = {3, 26, 8, 29};

static xg_dataset *tagged(int n, uint64_t seed)
{
    xg_dataset *ds = xg_dataset_alloc();
    xg_error err;
    int other = xg_dataset_add_property(ds, "other", &err);
    int tag = xg_dataset_add_property(ds, "tag", &err);
    CU_ASSERT(other == 0 && tag == 1);
    xg_rng r;
    xg_rng_seed(&r, seed, 0);
    for (int s = 0; s < n; s++) {
        int N = 1 + (int)xg_rng_below(&r, 3);
        int e = (int)xg_rng_below(&r, 4);
        xg_structure *st = xg_structure_alloc(N);
        double a = cbrt(N / 0.05);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                st->lattice[i][j] = (i == j ? a : 0) + 0.02 * a * xg_rng_normal(&r);
        for (int i = 0; i < N; i++) {
            st->types[i] = k_elems[e];
            for (int k = 0; k < 3; k++)
                st->frac[i][k] = xg_rng_uniform(&r);
        }
        snprintf(st->id, sizeof st->id, "tag-%d", s);
        double props[2] = {1.0, s % 8 == 7 ? NAN : (double)e};
        CU_ASSERT_EQUAL(xg_dataset_append(ds, st, props, &err), XG_OK);
        xg_structure_free(st);
    }
    return ds;
}

static void tiny_config(xg_train_config *c, const char *dir, const char *name)
{
    static char out[8][600], ck[8][600];
    static int k;
    int i = k++ % 8;
    xg_train_config_default(c);
    c->net.hidden = 16;
    c->net.layers = 1;
    c->net.n_freq = 2;
    c->net.time_dim = 8;
    c->hp.batch = 16;
    c->hp.epochs = 2;
    c->hp.lr = 5e-3;
    c->hp.lr_min = 1e-3;
    c->hp.warmup_steps = 5;
    c->hp.seed = 11;
    c->hp.threads = 1;
    c->hp.ema_decay = 0.9;
    c->hp.checkpoint_minutes = 0;
    snprintf(out[i], 600, "%s/%s.h5", dir, name);
    snprintf(ck[i], 600, "%s/%s.ckpt.h5", dir, name);
    c->out_path = out[i];
    c->ckpt_path = ck[i];
    c->log_path = NULL;
}

/* A base (unconditional) model trained briefly: the starting point of the fine-tunes below. */
static int make_base(const char *dir, const xg_dataset *tr, char *path, size_t n)
{
    xg_train_config c;
    tiny_config(&c, dir, "base");
    c.hp.epochs = 3;
    xg_error err;
    xg_train_result res;
    int rc = xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err);
    if (rc)
        printf("\n  base training failed: %s\n", err.msg);
    snprintf(path, n, "%s", c.out_path);
    return rc;
}

/* ---------------------------------------------------------------- model files */

static void test_model_file_round_trip(void)
{
    const char *dir = xg_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    xg_error err;
    xg_cond_spec s;
    xg_cond_spec_init(&s);
    CU_ASSERT_EQUAL_FATAL(xg_cond_spec_add_scalar(&s, "dft_mag_density", 0.0312, 0.0571, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_cond_spec_add_chemsys(&s, &err), XG_OK);
    s.drop = 0.2;
    snprintf(s.base, sizeof s.base, "checkpoints/base.h5");
    xg_denoiser_config cfg = {8, 1, 2, 4, s.dim};
    xg_denoiser *net = xg_denoiser_alloc(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(net);
    xg_denoiser_init_params(net, 5);
    size_t np = xg_denoiser_num_params(net);
    float *w = xg_denoiser_params(net);
    for (size_t i = 0; i < np; i++)
        w[i] += 1e-3f * (float)(i % 7); /* condition tensors nonzero too */
    xg_noise_params noise;
    xg_noise_params_default(&noise);
    xg_hparams hp;
    xg_hparams_default(&hp);
    xg_model_stats st;
    memset(&st, 0, sizeof st);
    int64_t hist[3] = {0, 2, 3};
    st.hist_len = 3;
    st.natoms_hist = hist;
    st.avg_density = 0.05;
    st.nstructs = 5;
    char path[600];
    snprintf(path, sizeof path, "%s/cond.h5", dir);
    CU_ASSERT_EQUAL_FATAL(xg_model_write(path, &(xg_model_desc){.net = net, .weights = w, .ema = w, .noise = &noise, .hp = &hp, .stats = &st, .cond = &s, .state = NULL}, &err), XG_OK);
    xg_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_model_load(path, XG_MODEL_LOAD_EMA, &m, &err), XG_OK);
    CU_ASSERT_EQUAL(m->cfg.cond_dim, s.dim);
    CU_ASSERT_EQUAL(m->cond.n, 2);
    CU_ASSERT_EQUAL(m->cond.dim, s.dim);
    CU_ASSERT_STRING_EQUAL(m->cond.item[0].name, "dft_mag_density");
    CU_ASSERT_STRING_EQUAL(m->cond.item[1].name, "chemsys");
    CU_ASSERT_EQUAL(m->cond.item[0].kind, XG_COND_SCALAR);
    CU_ASSERT_EQUAL(m->cond.item[1].kind, XG_COND_CHEMSYS);
    CU_ASSERT_EQUAL(m->cond.item[0].mean, 0.0312);
    CU_ASSERT_EQUAL(m->cond.item[0].std, 0.0571);
    CU_ASSERT_EQUAL(m->cond.item[1].offset, s.item[1].offset);
    CU_ASSERT_EQUAL(m->cond.drop, 0.2);
    CU_ASSERT_STRING_EQUAL(m->cond.base, "checkpoints/base.h5");
    CU_ASSERT_EQUAL(memcmp(m->ema, w, np * sizeof(float)), 0);
    /* the reloaded spec encodes a request exactly as the original */
    const char *req[] = {"dft_mag_density=0.15", "chemsys=Fe-Co"};
    float *a = malloc(sizeof(float) * (size_t)s.dim), *b = malloc(sizeof(float) * (size_t)s.dim);
    CU_ASSERT_EQUAL(xg_cond_encode_request(&s, 2, req, a, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_cond_encode_request(&m->cond, 2, req, b, &err), XG_OK);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof(float) * (size_t)s.dim), 0);
    xg_model_free(m);

    /* the spec must fit the network */
    xg_cond_spec wrong = s;
    wrong.n = 1;
    wrong.dim = s.item[0].dim;
    CU_ASSERT_EQUAL(xg_model_write(path, &(xg_model_desc){.net = net, .weights = w, .ema = w, .noise = &noise, .hp = &hp, .stats = &st, .cond = &wrong, .state = NULL}, &err), XG_EINVAL);

    /* a tampered /condition group is refused with a message naming it */
    CU_ASSERT_EQUAL_FATAL(xg_model_write(path, &(xg_model_desc){.net = net, .weights = w, .ema = w, .noise = &noise, .hp = &hp, .stats = &st, .cond = &s, .state = NULL}, &err), XG_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "condition/std", H5P_DEFAULT);
    double bad[2] = {-1.0, 0.0};
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, bad);
    H5Dclose(d);
    H5Fclose(f);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/condition"));
    CU_ASSERT_PTR_NULL(m);

    /* an unconditional model gets no /condition group at all: its file is what it always was */
    xg_denoiser_config c0 = {8, 1, 2, 4, 0};
    xg_denoiser *n0 = xg_denoiser_alloc(&c0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n0);
    float *w0 = xg_denoiser_params(n0);
    CU_ASSERT_EQUAL_FATAL(xg_model_write(path, &(xg_model_desc){.net = n0, .weights = w0, .ema = w0, .noise = &noise, .hp = &hp, .stats = &st, .cond = NULL, .state = NULL}, &err), XG_OK);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_EQUAL(H5Lexists(f, "condition", H5P_DEFAULT), 0);
    H5Fclose(f);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_OK);
    CU_ASSERT_EQUAL(m->cond.n, 0);
    xg_model_free(m);
    free(a);
    free(b);
    xg_denoiser_free(n0);
    xg_denoiser_free(net);
}

/* tests/fixtures/model_v1_uncond.h5 was written by xg_model.c as it was before conditioning
 * (git 7bf2f45): hidden 8, layers 1, n_freq 2, time_dim 4, init seed 3, EMA = weights / 2. */
static void test_old_model_file_loads(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/model_v1_uncond.h5", XG_SOURCE_DIR);
    xg_model *m = NULL;
    xg_error err;
    int rc = xg_model_load(path, XG_MODEL_LOAD_EMA, &m, &err);
    if (rc)
        printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(m->cfg.hidden, 8);
    CU_ASSERT_EQUAL(m->cfg.layers, 1);
    CU_ASSERT_EQUAL(m->cfg.cond_dim, 0);
    CU_ASSERT_EQUAL(m->cond.n, 0);
    CU_ASSERT_EQUAL(xg_denoiser_num_params(m->net), 2437);
    CU_ASSERT_EQUAL(m->stats.hist_len, 4);
    CU_ASSERT_EQUAL(m->stats.natoms_hist[2], 7);
    CU_ASSERT_EQUAL(m->stats.nscalers, 1);
    CU_ASSERT_STRING_EQUAL(m->stats.scaler_names[0], "dft_mag_density");
    /* the same weights as a network initialised the same way today */
    xg_denoiser_config c = {8, 1, 2, 4, 0};
    xg_denoiser *ref = xg_denoiser_alloc(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    xg_denoiser_init_params(ref, 3);
    const float *w = xg_denoiser_params(ref);
    size_t np = xg_denoiser_num_params(ref), same = 0;
    for (size_t i = 0; i < np; i++)
        same += m->weights[i] == w[i] && m->ema[i] == 0.5f * w[i];
    CU_ASSERT_EQUAL(same, np);
    xg_denoiser_free(ref);
    xg_model_free(m);
}

/* ---------------------------------------------------------------- fine-tuning */

static void finetune_config(xg_train_config *c, const char *dir, const char *name, const char *base)
{
    tiny_config(c, dir, name);
    c->finetune_path = base;
    c->ncond = 1;
    c->cond_names[0] = "tag";
    c->cond_drop = 0.2;
}

/* Fine-tuning starts from exactly the base network: after one step at a negligible learning
 * rate the conditional and the unconditional losses both equal the base model's. */
static void test_finetune_starts_from_base(void)
{
    const char *dir = xg_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    xg_dataset *tr = tagged(64, 1);
    char base[700];
    CU_ASSERT_EQUAL_FATAL(make_base(dir, tr, base, sizeof base), XG_OK);
    xg_train_config c;
    finetune_config(&c, dir, "ft0", base);
    c.hp.lr = 1e-9;
    c.hp.lr_min = 1e-9;
    c.hp.warmup_steps = 0;
    c.stop_at_step = 1;
    xg_error err;
    xg_train_result res;
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err), XG_OK);
    xg_model *b = NULL, *m = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_model_load(base, XG_MODEL_LOAD_EMA, &b, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_model_load(c.out_path, XG_MODEL_LOAD_EMA, &m, &err), XG_OK);
    CU_ASSERT_EQUAL(m->cfg.hidden, b->cfg.hidden);
    CU_ASSERT_EQUAL(m->cfg.cond_dim, 1 + 2 * XG_COND_SCALAR_FREQS);
    CU_ASSERT_EQUAL(m->cond.n, 1);
    CU_ASSERT_STRING_EQUAL(m->cond.item[0].name, "tag");
    CU_ASSERT_STRING_EQUAL(m->cond.base, base);
    CU_ASSERT_EQUAL(m->cond.drop, 0.2);
    /* the noise processes are the base model's, not refitted */
    CU_ASSERT_EQUAL(memcmp(&m->noise, &b->noise, sizeof m->noise), 0);
    /* the scaler: mean/std of the tag over the labelled crystals only (NaN rows skipped) */
    double s1 = 0, s2 = 0;
    int cnt = 0;
    for (int64_t i = 0; i < tr->n; i++) {
        double v = tr->props[i * tr->nprops + 1];
        if (!isnan(v)) {
            s1 += v;
            cnt++;
        }
    }
    for (int64_t i = 0; i < tr->n; i++) {
        double v = tr->props[i * tr->nprops + 1];
        if (!isnan(v))
            s2 += (v - s1 / cnt) * (v - s1 / cnt);
    }
    XG_ASSERT_NEAR(m->cond.item[0].mean, s1 / cnt, 1e-12);
    XG_ASSERT_NEAR(m->cond.item[0].std, sqrt(s2 / (cnt - 1)), 1e-12);
    xg_noise_loss lb, lu, lc;
    CU_ASSERT_EQUAL(xg_train_evaluate(b->net, &b->noise, NULL, 0, tr, 16, 9, &lb, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_train_evaluate(m->net, &m->noise, &m->cond, 0, tr, 16, 9, &lu, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_train_evaluate(m->net, &m->noise, &m->cond, 1, tr, 16, 9, &lc, &err), XG_OK);
    XG_ASSERT_NEAR(lu.total, lb.total, 1e-4 * lb.total);
    XG_ASSERT_NEAR(lc.total, lb.total, 1e-4 * lb.total);
    /* use_cond needs a spec; a spec that does not fit the network is refused */
    CU_ASSERT_EQUAL(xg_train_evaluate(m->net, &m->noise, NULL, 1, tr, 16, 9, &lc, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_train_evaluate(b->net, &b->noise, &m->cond, 1, tr, 16, 9, &lc, &err), XG_EINVAL);
    xg_model_free(b);
    xg_model_free(m);
    xg_dataset_free(tr);
}

/* The condition is informative (it names the element), so after a short fine-tune the loss with
 * the condition is clearly below the loss without it, on the same crystals and noise. */
static void test_conditioning_helps(void)
{
    const char *dir = xg_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    xg_dataset *tr = tagged(128, 3);
    char base[700];
    CU_ASSERT_EQUAL_FATAL(make_base(dir, tr, base, sizeof base), XG_OK);
    xg_train_config c;
    finetune_config(&c, dir, "ft", base);
    c.hp.epochs = 40; /* 8 steps per epoch: 320 steps */
    c.hp.lr = 1e-2;
    xg_error err;
    xg_train_result res;
    int rc = xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err);
    if (rc)
        printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(res.steps, 320);
    xg_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_model_load(c.out_path, XG_MODEL_LOAD_EMA, &m, &err), XG_OK);
    xg_noise_loss lu, lc;
    CU_ASSERT_EQUAL(xg_train_evaluate(m->net, &m->noise, &m->cond, 0, tr, 32, 5, &lu, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_train_evaluate(m->net, &m->noise, &m->cond, 1, tr, 32, 5, &lc, &err), XG_OK);
    printf("\n  unconditional loss %.4f (type %.4f), conditional %.4f (type %.4f) ", lu.total, lu.type,
           lc.total, lc.type);
    CU_ASSERT(lc.total < lu.total);
    /* the gain is in the atom types, which the tag names (without it only the unmasked sites of
     * the same crystal tell the element) */
    CU_ASSERT(lc.type < 0.5 * lu.type);
    CU_ASSERT(lu.type - lc.type > 0.3);
    xg_model_free(m);
    xg_dataset_free(tr);
}

static int same_weights(const char *pa, const char *pb)
{
    xg_model *a = NULL, *b = NULL;
    xg_error err;
    int ok = xg_model_load(pa, 0, &a, &err) == XG_OK && xg_model_load(pb, 0, &b, &err) == XG_OK;
    ok = ok && xg_denoiser_num_params(a->net) == xg_denoiser_num_params(b->net) &&
         !memcmp(a->weights, b->weights, xg_denoiser_num_params(a->net) * sizeof(float)) &&
         !memcmp(a->ema, b->ema, xg_denoiser_num_params(a->net) * sizeof(float));
    xg_model_free(a);
    xg_model_free(b);
    return ok;
}

/* Deterministic, and a fine-tune stopped mid-way and resumed equals the uninterrupted one. */
static void test_finetune_deterministic_and_resumable(void)
{
    const char *dir = xg_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    xg_dataset *tr = tagged(64, 4), *va = tagged(16, 5);
    char base[700];
    CU_ASSERT_EQUAL_FATAL(make_base(dir, tr, base, sizeof base), XG_OK);
    xg_train_config a, b, r;
    finetune_config(&a, dir, "a", base);
    finetune_config(&b, dir, "b", base);
    finetune_config(&r, dir, "r", base);
    a.hp.epochs = b.hp.epochs = r.hp.epochs = 3;
    xg_error err;
    xg_train_result res;
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&a, tr, va, NULL, NULL, &res, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&b, tr, va, NULL, NULL, &res, &err), XG_OK);
    CU_ASSERT(same_weights(a.out_path, b.out_path));
    /* another drop rate is another run */
    r.cond_drop = 0.5;
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&r, tr, va, NULL, NULL, &res, &err), XG_OK);
    CU_ASSERT(!same_weights(a.out_path, r.out_path));
    /* stop at step 5 (mid-epoch), then resume */
    finetune_config(&r, dir, "r", base);
    r.hp.epochs = 3;
    r.stop_at_step = 5;
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&r, tr, va, NULL, NULL, &res, &err), XG_OK);
    CU_ASSERT_EQUAL(res.steps, 5);
    r.stop_at_step = 0;
    r.resume = 1;
    r.finetune_path = NULL; /* everything comes from the checkpoint */
    int rc = xg_train_run(&r, tr, va, NULL, NULL, &res, &err);
    if (rc)
        printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT(same_weights(a.out_path, r.out_path));
    /* resuming with other conditions is refused */
    r.cond_names[0] = "other";
    CU_ASSERT_EQUAL(xg_train_run(&r, tr, va, NULL, NULL, &res, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "tag"));
    /* other labels are another training set: the fingerprint covers them */
    r.cond_names[0] = "tag";
    xg_dataset *relabel = tagged(64, 4);
    relabel->props[1] = relabel->props[1] == 0 ? 1 : 0;
    r.hp.epochs = 4;
    CU_ASSERT_EQUAL(xg_train_run(&r, relabel, va, NULL, NULL, &res, &err), XG_EINVAL);
    xg_dataset_free(relabel);
    xg_dataset_free(tr);
    xg_dataset_free(va);
}

static void test_finetune_refusals(void)
{
    const char *dir = xg_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    xg_dataset *tr = tagged(32, 6);
    char base[700];
    CU_ASSERT_EQUAL_FATAL(make_base(dir, tr, base, sizeof base), XG_OK);
    xg_train_config c;
    xg_error err;
    xg_train_result res;
    /* a property the dataset lacks: the message lists what it has */
    finetune_config(&c, dir, "x", base);
    c.cond_names[0] = "dft_mag_density";
    CU_ASSERT_EQUAL(xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dft_mag_density"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "tag"));
    /* a property nobody is labelled with */
    xg_dataset *nolabel = tagged(32, 6);
    for (int64_t i = 0; i < nolabel->n; i++)
        nolabel->props[i * nolabel->nprops + 1] = NAN;
    finetune_config(&c, dir, "x", base);
    CU_ASSERT_EQUAL(xg_train_run(&c, nolabel, NULL, NULL, NULL, &res, &err), XG_EINVAL);
    xg_dataset_free(nolabel);
    /* a validation set without the property */
    xg_dataset *va = xg_dataset_alloc();
    xg_structure *st = xg_dataset_get(tr, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    xg_dataset_append(va, st, NULL, &err);
    xg_structure_free(st);
    finetune_config(&c, dir, "x", base);
    CU_ASSERT_EQUAL(xg_train_run(&c, tr, va, NULL, NULL, &res, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "validation"));
    xg_dataset_free(va);
    /* a missing base model, a bad drop rate, twice the same condition */
    finetune_config(&c, dir, "x", "/nonexistent/base.h5");
    CU_ASSERT_EQUAL(xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err), XG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "fine-tuning"));
    finetune_config(&c, dir, "x", base);
    c.cond_drop = 1.0;
    CU_ASSERT_EQUAL(xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err), XG_EINVAL);
    finetune_config(&c, dir, "x", base);
    c.ncond = 2;
    c.cond_names[1] = "tag";
    CU_ASSERT_EQUAL(xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err), XG_EINVAL);
    /* chemsys plus a scalar, from scratch (no base): works, and the spec says so */
    tiny_config(&c, dir, "scratch");
    c.ncond = 2;
    c.cond_names[0] = "chemsys";
    c.cond_names[1] = "tag";
    c.hp.epochs = 1;
    CU_ASSERT_EQUAL_FATAL(xg_train_run(&c, tr, NULL, NULL, NULL, &res, &err), XG_OK);
    xg_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_model_load(c.out_path, 0, &m, &err), XG_OK);
    CU_ASSERT_EQUAL(m->cond.n, 2);
    CU_ASSERT_EQUAL(m->cond.item[0].kind, XG_COND_CHEMSYS);
    CU_ASSERT_EQUAL(m->cfg.cond_dim, 1 + XG_COND_NUM_Z + 1 + 2 * XG_COND_SCALAR_FREQS);
    CU_ASSERT_STRING_EQUAL(m->cond.base, "");
    xg_model_free(m);
    xg_dataset_free(tr);
}

int main(void)
{
    static CU_TestInfo tests[] = {
        {"scalar encoder: round trip, determinism, missing", test_scalar_round_trip},
        {"chemical system parsing and encoding", test_chemsys},
        {"requests: names, aliases, refusals", test_requests},
        {"model file /condition round trip", test_model_file_round_trip},
        {"pre-conditioning model file still loads", test_old_model_file_loads},
        {"fine-tune starts from the base network", test_finetune_starts_from_base},
        {"informative condition lowers the loss", test_conditioning_helps},
        {"fine-tune deterministic and resumable", test_finetune_deterministic_and_resumable},
        {"fine-tune refusals", test_finetune_refusals},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("condition", tests);
}
