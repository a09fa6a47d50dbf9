/* test_model.c: model and checkpoint files: bit-exact round trips, the EMA/raw choice, refusal
 * of unknown versions and foreign files, clear errors for missing or mis-shaped datasets, and
 * the atomic write. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "xg_test.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_model.h"

typedef struct {
    xg_denoiser *net;
    float *w, *ema;
    xg_noise_params noise;
    xg_hparams hp;
    xg_model_stats stats;
    xg_train_state *st;
} fixture;

static void fixture_make(fixture *f, int cond_dim)
{
    memset(f, 0, sizeof *f);
    xg_denoiser_config cfg = {16, 2, 3, 8, cond_dim};
    xg_error err;
    f->net = xg_denoiser_alloc(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->net);
    xg_denoiser_init_params(f->net, 3);
    size_t np = xg_denoiser_num_params(f->net);
    f->w = malloc(np * sizeof(float));
    f->ema = malloc(np * sizeof(float));
    xg_rng r;
    xg_rng_seed(&r, 4, 0);
    memcpy(f->w, xg_denoiser_params(f->net), np * sizeof(float));
    for (size_t i = 0; i < np; i++)
        f->ema[i] = (float)xg_rng_normal(&r);
    xg_noise_params_default(&f->noise);
    f->noise.avg_density = 0.0611;
    f->noise.lattice_c = 0.4321;
    f->noise.class_mask = 0.25; /* written only when set: covers the optional attribute */
    xg_hparams_default(&f->hp);
    f->hp.seed = 0xfedcba9876543210ULL;
    f->hp.lr = 3.5e-4;
    f->hp.batch = 17;
    f->stats.hist_len = 5;
    f->stats.natoms_hist = calloc(5, sizeof(int64_t));
    f->stats.natoms_hist[1] = 3;
    f->stats.natoms_hist[4] = 9;
    f->stats.avg_density = 0.0611;
    f->stats.nstructs = 12;
    f->stats.nscalers = 2;
    f->stats.scaler_names = calloc(2, sizeof *f->stats.scaler_names);
    strcpy(f->stats.scaler_names[0], "formation_energy_per_atom");
    strcpy(f->stats.scaler_names[1], "dft_mag_density");
    f->stats.scaler_mean = calloc(2, sizeof(double));
    f->stats.scaler_std = calloc(2, sizeof(double));
    f->stats.scaler_mean[0] = -1.5;
    f->stats.scaler_std[0] = 0.9;
    f->stats.scaler_mean[1] = 0.02;
    f->stats.scaler_std[1] = 0.04;
    f->st = xg_train_state_alloc(np, 7, XG_HIST_COLS, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->st);
    for (size_t i = 0; i < np; i++) {
        f->st->adam_m[i] = (float)xg_rng_normal(&r);
        f->st->adam_v[i] = (float)xg_rng_uniform(&r);
    }
    f->st->step = 1234;
    f->st->epoch = 3;
    f->st->step_in_epoch = 5;
    f->st->horizon = 9999;
    f->st->threads = 2;
    for (int k = 0; k < 4; k++)
        f->st->rng[k] = xg_rng_u64(&r);
    int64_t perm[7] = {3, 0, 6, 1, 5, 2, 4};
    memcpy(f->st->perm, perm, sizeof perm);
    f->st->elapsed = 123.5;
    f->st->data_hash = 0x8000000000000001ULL;
    for (int k = 0; k < XG_SUMS; k++)
        f->st->sums[k] = k * 1.25;
    double row[XG_HIST_COLS];
    for (int e = 0; e < 3; e++) {
        for (int c = 0; c < XG_HIST_COLS; c++)
            row[c] = e * 100 + c + 0.5;
        xg_train_state_push_history(f->st, row, &err);
    }
}

static void fixture_free(fixture *f)
{
    xg_denoiser_free(f->net);
    free(f->w);
    free(f->ema);
    xg_model_stats_free(&f->stats);
    xg_train_state_free(f->st);
}

static const char *tmp_path(const char *name)
{
    static char buf[4][600];
    static int k;
    const char *dir = xg_test_tmpdir();
    char *p = buf[k++ % 4];
    snprintf(p, 600, "%s/%s", dir ? dir : "/tmp", name);
    return p;
}

static int write_fixture(const fixture *f, const char *path, int with_state)
{
    xg_error err;
    int rc = xg_model_write(path, &(xg_model_desc){.net = f->net, .weights = f->w, .ema = f->ema, .noise = &f->noise, .hp = &f->hp, .stats = &f->stats, .cond = NULL, .state = with_state ? f->st : NULL}, &err);
    if (rc)
        printf("\n  write failed: %s\n", err.msg);
    return rc;
}

static void test_checkpoint_round_trip(void)
{
    fixture f;
    fixture_make(&f, 4);
    const char *path = tmp_path("ckpt.h5");
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 1), XG_OK);
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CU_ASSERT(!xg_test_exists(tmp)); /* renamed into place */
    xg_model *m = NULL;
    xg_error err;
    int rc = xg_model_load(path, XG_MODEL_LOAD_STATE, &m, &err);
    if (rc)
        printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    size_t np = xg_denoiser_num_params(f.net);
    CU_ASSERT_EQUAL_FATAL(xg_denoiser_num_params(m->net), np);
    CU_ASSERT(memcmp(&m->cfg, xg_denoiser_get_config(f.net), sizeof m->cfg) == 0);
    CU_ASSERT(memcmp(m->weights, f.w, np * sizeof(float)) == 0);
    CU_ASSERT(memcmp(m->ema, f.ema, np * sizeof(float)) == 0);
    CU_ASSERT(memcmp(xg_denoiser_params(m->net), f.w, np * sizeof(float)) == 0); /* raw asked */
    CU_ASSERT(memcmp(&m->noise, &f.noise, sizeof f.noise) == 0);
    CU_ASSERT_EQUAL(m->hp.seed, f.hp.seed);
    CU_ASSERT_EQUAL(m->hp.batch, 17);
    CU_ASSERT_EQUAL(m->hp.lr, 3.5e-4);
    CU_ASSERT_EQUAL(m->stats.hist_len, 5);
    CU_ASSERT_EQUAL(m->stats.natoms_hist[4], 9);
    CU_ASSERT_EQUAL(m->stats.avg_density, 0.0611);
    CU_ASSERT_EQUAL(m->stats.nscalers, 2);
    CU_ASSERT_STRING_EQUAL(m->stats.scaler_names[1], "dft_mag_density");
    CU_ASSERT_EQUAL(m->stats.scaler_std[1], 0.04);
    xg_train_state *s = m->state;
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT(memcmp(s->adam_m, f.st->adam_m, np * sizeof(float)) == 0);
    CU_ASSERT(memcmp(s->adam_v, f.st->adam_v, np * sizeof(float)) == 0);
    CU_ASSERT_EQUAL(s->step, 1234);
    CU_ASSERT_EQUAL(s->epoch, 3);
    CU_ASSERT_EQUAL(s->step_in_epoch, 5);
    CU_ASSERT_EQUAL(s->horizon, 9999);
    CU_ASSERT_EQUAL(s->threads, 2);
    CU_ASSERT(memcmp(s->rng, f.st->rng, sizeof s->rng) == 0);
    CU_ASSERT_EQUAL_FATAL(s->nperm, 7);
    CU_ASSERT(memcmp(s->perm, f.st->perm, 7 * sizeof(int64_t)) == 0);
    CU_ASSERT_EQUAL(s->elapsed, 123.5);
    CU_ASSERT_EQUAL(s->data_hash, 0x8000000000000001ULL);
    CU_ASSERT(memcmp(s->sums, f.st->sums, sizeof s->sums) == 0);
    CU_ASSERT_EQUAL_FATAL(s->nhist, 3);
    CU_ASSERT(memcmp(s->hist, f.st->hist, 3 * XG_HIST_COLS * sizeof(double)) == 0);
    xg_model_free(m);

    /* EMA weights on request */
    CU_ASSERT_EQUAL_FATAL(xg_model_load(path, XG_MODEL_LOAD_EMA, &m, &err), XG_OK);
    CU_ASSERT(memcmp(xg_denoiser_params(m->net), f.ema, np * sizeof(float)) == 0);
    CU_ASSERT_PTR_NULL(m->state);
    xg_model_free(m);

    /* the same file from its bytes in memory (the fuzz harness's entry); a cut copy is refused */
    FILE *fp = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *img = malloc((size_t)len);
    CU_ASSERT_FATAL(img && fread(img, 1, (size_t)len, fp) == (size_t)len);
    fclose(fp);
    rc = xg_model_load_image(img, (size_t)len, "mem.h5", XG_MODEL_LOAD_STATE, &m, &err);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT(memcmp(m->weights, f.w, np * sizeof(float)) == 0);
    CU_ASSERT(memcmp(m->ema, f.ema, np * sizeof(float)) == 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m->state);
    CU_ASSERT(memcmp(m->state->adam_v, f.st->adam_v, np * sizeof(float)) == 0);
    CU_ASSERT_EQUAL(m->state->step, 1234);
    xg_model_free(m);
    m = NULL;
    CU_ASSERT_NOT_EQUAL(xg_model_load_image(img, (size_t)len / 2, "cut.h5", XG_MODEL_LOAD_EMA, &m, &err), XG_OK);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cut.h5"));
    CU_ASSERT_EQUAL(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
    free(img);

    /* Found by fuzz_model_h5: a /config far larger than the file is refused from memory too,
     * before the network is built (the size check used stat() on the path, which an image
     * lacks: 8 CPU-seconds initialising a network of millions of parameters) */
    hid_t fh = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(fh, "config", H5P_DEFAULT);
    H5Adelete(g, "hidden");
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, "hidden", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int64_t big = 4096;
    CU_ASSERT(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &big) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Gclose(g);
    H5Fclose(fh);
    fp = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    img = malloc((size_t)len);
    CU_ASSERT_FATAL(img && fread(img, 1, (size_t)len, fp) == (size_t)len);
    fclose(fp);
    CU_ASSERT_EQUAL(xg_model_load_image(img, (size_t)len, "big.h5", XG_MODEL_LOAD_EMA, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "describes a network"));
    CU_ASSERT_EQUAL(xg_model_load(path, XG_MODEL_LOAD_EMA, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "describes a network"));
    CU_ASSERT_PTR_NULL(m);
    free(img);
    fixture_free(&f);
}

static void test_model_is_not_a_checkpoint(void)
{
    fixture f;
    fixture_make(&f, 0);
    f.stats.nscalers = 0; /* no scalers is a valid model too */
    const char *path = tmp_path("model.h5");
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 0), XG_OK);
    f.stats.nscalers = 2;
    xg_model *m = NULL;
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_model_load(path, XG_MODEL_LOAD_EMA, &m, &err), XG_OK);
    CU_ASSERT_EQUAL(m->stats.nscalers, 0);
    CU_ASSERT_PTR_NULL(m->state);
    xg_model_free(m);
    CU_ASSERT_EQUAL(xg_model_load(path, XG_MODEL_LOAD_STATE, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a checkpoint"));
    fixture_free(&f);
}

/* Rewrites the root attribute "version". */
static void set_version(const char *path, int64_t v)
{
    hid_t fh = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(fh >= 0);
    hid_t a = H5Aopen(fh, "version", H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Fclose(fh);
}

static void test_version_refusal(void)
{
    fixture f;
    fixture_make(&f, 0);
    const char *path = tmp_path("v.h5");
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 1), XG_OK);
    xg_model *m = NULL;
    xg_error err;
    set_version(path, 2);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EVERSION);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "version 2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "reads version 1"));
    set_version(path, 0);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EVERSION);
    set_version(path, 1);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_OK);
    xg_model_free(m);
    fixture_free(&f);
}

static void test_broken_files(void)
{
    fixture f;
    fixture_make(&f, 0);
    xg_model *m = NULL;
    xg_error err;
    /* absent, not HDF5, HDF5 of another kind */
    CU_ASSERT_EQUAL(xg_model_load("/nonexistent/dir/model.h5", 0, &m, &err), XG_EIO);
    const char *txt = xg_test_tmpfile(".h5", "this is not an HDF5 file\n");
    CU_ASSERT_EQUAL(xg_model_load(txt, 0, &m, &err), XG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a readable HDF5 file"));
    const char *other = tmp_path("other.h5");
    hid_t fh = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(fh);
    CU_ASSERT_EQUAL(xg_model_load(other, 0, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not an xtalgen model"));

    /* a missing weight tensor */
    const char *path = tmp_path("miss.h5");
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 1), XG_OK);
    fh = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(fh, "/ema/out.coord_w", H5P_DEFAULT);
    H5Fclose(fh);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ema/out.coord_w"));
    CU_ASSERT_PTR_NULL(m);

    /* a mis-shaped one */
    path = tmp_path("shape.h5");
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 1), XG_OK);
    fh = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(fh, "/weights/out.coord_w", H5P_DEFAULT);
    hsize_t dims[2] = {4, 16};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(fh, "/weights/out.coord_w", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float zeros[64] = {0};
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros);
    H5Dclose(d);
    H5Sclose(sp);
    /* and a missing config attribute in another copy below */
    H5Fclose(fh);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "out.coord_w"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected 3"));

    path = tmp_path("cfg.h5");
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 1), XG_OK);
    fh = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(fh, "config", H5P_DEFAULT);
    H5Adelete(g, "hidden");
    H5Gclose(g);
    H5Fclose(fh);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "hidden"));

    /* an absurd configuration is refused before anything is allocated from it */
    path = tmp_path("huge.h5");
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 0), XG_OK);
    fh = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    g = H5Gopen2(fh, "config", H5P_DEFAULT);
    hid_t a = H5Aopen(g, "hidden", H5P_DEFAULT);
    int64_t big = 1LL << 40;
    H5Awrite(a, H5T_NATIVE_INT64, &big);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(fh);
    CU_ASSERT_NOT_EQUAL(xg_model_load(path, 0, &m, &err), XG_OK);
    CU_ASSERT_PTR_NULL(m);

    /* a permutation out of range in a checkpoint */
    path = tmp_path("perm.h5");
    f.st->perm[2] = 99;
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 1), XG_OK);
    CU_ASSERT_EQUAL(xg_model_load(path, XG_MODEL_LOAD_STATE, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "permutation"));

    /* unwritable destination: an error, and nothing left behind */
    CU_ASSERT_EQUAL(xg_model_write("/nonexistent/dir/m.h5", &(xg_model_desc){.net = f.net, .weights = f.w, .ema = f.ema, .noise = &f.noise, .hp = &f.hp, .stats = &f.stats, .cond = NULL, .state = NULL}, &err), XG_EIO);
    fixture_free(&f);
}

static void test_stats(void)
{
    xg_dataset *ds = xg_dataset_alloc();
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    xg_error err;
    int pi = xg_dataset_add_property(ds, "band_gap", &err);
    CU_ASSERT_FATAL(pi >= 0);
    int sizes[5] = {2, 2, 3, 1, 2};
    double gaps[5] = {1.0, NAN, 3.0, 5.0, NAN};
    for (int s = 0; s < 5; s++) {
        xg_structure *st = xg_structure_alloc(sizes[s]);
        double a = cbrt(sizes[s] / 0.05);
        st->lattice[0][0] = st->lattice[1][1] = st->lattice[2][2] = a;
        for (int i = 0; i < sizes[s]; i++) {
            st->types[i] = 8 + i;
            st->frac[i][0] = 0.1 * i;
        }
        CU_ASSERT_EQUAL(xg_dataset_append(ds, st, &gaps[s], &err), XG_OK);
        xg_structure_free(st);
    }
    xg_model_stats stats;
    CU_ASSERT_EQUAL_FATAL(xg_model_stats_from_dataset(&stats, ds, &err), XG_OK);
    CU_ASSERT_EQUAL(stats.hist_len, 4);
    CU_ASSERT_EQUAL(stats.natoms_hist[2], 3);
    CU_ASSERT_EQUAL(stats.natoms_hist[1], 1);
    XG_ASSERT_NEAR(stats.avg_density, 0.05, 1e-12);
    CU_ASSERT_EQUAL(stats.nscalers, 1);
    XG_ASSERT_NEAR(stats.scaler_mean[0], 3.0, 1e-12); /* NaN is missing, not zero */
    XG_ASSERT_NEAR(stats.scaler_std[0], 2.0, 1e-12);
    /* label counts and ranges: the missing ones are not counted */
    CU_ASSERT_PTR_NOT_NULL_FATAL(stats.scaler_count);
    CU_ASSERT_EQUAL(stats.scaler_count[0], 3);
    CU_ASSERT_EQUAL(stats.scaler_min[0], 1.0);
    CU_ASSERT_EQUAL(stats.scaler_max[0], 5.0);
    CU_ASSERT_EQUAL(xg_model_stats_find(&stats, "band_gap"), 0);
    CU_ASSERT_EQUAL(xg_model_stats_find(&stats, "e_above_hull"), -1);
    /* over chosen rows (the trainer's kept crystals): the same numbers as a dataset of them */
    xg_model_stats sub = {0};
    int64_t rows[2] = {3, 1};
    CU_ASSERT_EQUAL_FATAL(xg_model_stats_set_scalers(&sub, ds, rows, 2, &err), XG_OK);
    CU_ASSERT_EQUAL(sub.scaler_count[0], 1);
    CU_ASSERT_EQUAL(sub.scaler_mean[0], 5.0);
    CU_ASSERT_EQUAL(sub.scaler_min[0], 5.0);
    CU_ASSERT_EQUAL(sub.scaler_max[0], 5.0);
    rows[0] = 4; /* no label at all: count 0, range and mean undefined (NaN), never 0 */
    CU_ASSERT_EQUAL_FATAL(xg_model_stats_set_scalers(&sub, ds, rows, 2, &err), XG_OK);
    CU_ASSERT_EQUAL(sub.scaler_count[0], 0);
    CU_ASSERT(isnan(sub.scaler_min[0]) && isnan(sub.scaler_max[0]) && isnan(sub.scaler_mean[0]));
    xg_model_stats_free(&sub);
    xg_rng r;
    xg_rng_seed(&r, 1, 0);
    int count[4] = {0};
    for (int i = 0; i < 6000; i++) {
        int n = xg_model_sample_natoms(&stats, &r);
        CU_ASSERT_FATAL(n >= 1 && n <= 3);
        count[n]++;
    }
    CU_ASSERT(abs(count[2] - 3600) < 200);
    CU_ASSERT(abs(count[1] - 1200) < 150);
    xg_model_stats_free(&stats);
    xg_dataset_free(ds);
}

/* Label counts and ranges in /stats: absent from files written before them (loaded as "not
 * recorded", NULL), added with xg_model_stats_copy_labels, round-tripped exactly, and files with
 * only some of them, or impossible counts, refused. */
static void test_label_stats(void)
{
    fixture f;
    fixture_make(&f, 0);
    xg_error err;
    xg_model *m = NULL;
    const char *old = tmp_path("old.h5"), *path = tmp_path("labels.h5");
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, old, 0), XG_OK); /* as before counts existed */
    CU_ASSERT_EQUAL_FATAL(xg_model_load(old, 0, &m, &err), XG_OK);
    CU_ASSERT_PTR_NULL(m->stats.scaler_count);
    CU_ASSERT_PTR_NULL(m->stats.scaler_min);
    CU_ASSERT_EQUAL(m->stats.scaler_std[1], 0.04);
    xg_model_free(m);

    /* labels from a "dataset" whose scalers come in another order, with an extra one */
    xg_model_stats from = {0};
    from.nscalers = 3;
    from.scaler_names = calloc(3, sizeof *from.scaler_names);
    from.scaler_count = calloc(3, sizeof(int64_t));
    from.scaler_min = calloc(3, sizeof(double));
    from.scaler_max = calloc(3, sizeof(double));
    CU_ASSERT_PTR_NOT_NULL_FATAL(from.scaler_max);
    strcpy(from.scaler_names[0], "dft_mag_density");
    strcpy(from.scaler_names[1], "hhi_production");
    strcpy(from.scaler_names[2], "formation_energy_per_atom");
    int64_t cnt[3] = {11, 10, 12};
    double lo[3] = {0, 500, -4.25}, hi[3] = {0.25, 9800, 0.0625};
    for (int c = 0; c < 3; c++) {
        from.scaler_count[c] = cnt[c];
        from.scaler_min[c] = lo[c];
        from.scaler_max[c] = hi[c];
    }
    CU_ASSERT_EQUAL_FATAL(xg_model_stats_copy_labels(&f.stats, &from, &err), XG_OK);
    CU_ASSERT_EQUAL(f.stats.scaler_count[0], 12); /* formation energy, the model's order */
    CU_ASSERT_EQUAL(f.stats.scaler_count[1], 11);
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 0), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_model_load(path, 0, &m, &err), XG_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m->stats.scaler_count);
    CU_ASSERT_EQUAL(m->stats.scaler_count[0], 12);
    CU_ASSERT_EQUAL(m->stats.scaler_min[0], -4.25);
    CU_ASSERT_EQUAL(m->stats.scaler_max[0], 0.0625);
    CU_ASSERT_EQUAL(m->stats.scaler_count[1], 11);
    CU_ASSERT_EQUAL(m->stats.scaler_max[1], 0.25);
    size_t np = xg_denoiser_num_params(f.net);
    CU_ASSERT(memcmp(m->ema, f.ema, np * sizeof(float)) == 0);
    xg_model_free(m);

    /* a name the source lacks: refused, and the model's labels are left as they were */
    strcpy(from.scaler_names[0], "band_gap");
    CU_ASSERT_EQUAL(xg_model_stats_copy_labels(&f.stats, &from, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dft_mag_density"));
    CU_ASSERT_EQUAL(f.stats.scaler_count[1], 11);
    xg_model_stats_free(&from);

    /* only some of the three datasets */
    hid_t fh = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(fh >= 0);
    CU_ASSERT(H5Ldelete(fh, "stats/scaler_max", H5P_DEFAULT) >= 0);
    H5Fclose(fh);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "scaler_max"));

    /* more labelled crystals than training crystals */
    f.stats.scaler_count[1] = 13;
    CU_ASSERT_EQUAL_FATAL(write_fixture(&f, path, 0), XG_OK);
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "scaler_count"));
    fixture_free(&f);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"checkpoint round trip is bit-exact", test_checkpoint_round_trip},
        {"a final model loads, but is not a checkpoint", test_model_is_not_a_checkpoint},
        {"unknown versions are refused", test_version_refusal},
        {"broken files give clear errors", test_broken_files},
        {"dataset statistics and natoms sampling", test_stats},
        {"label counts and ranges: old files, added, refused when broken", test_label_stats},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("model", tests);
}
