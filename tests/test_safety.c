/* test_safety.c: issue 19's reproducers for the readers and the error plumbing. Every test here
 * failed before its fix: failures reported as success through a NULL err, string attributes
 * losing their last byte, garbage CSV cells, BOMs and NUL bytes, symmetry translations with huge
 * integer parts, HDF5 files declaring more data than they hold, CIFs giving only a space-group
 * symbol, and (in debug builds) every allocation failure on the reader paths. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "crystal/xg_alloc.h"
#include "crystal/xg_cif.h"
#include "crystal/xg_csv.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"
#include "crystal/xg_input.h"
#include "crystal/xg_matcher.h"
#include "crystal/xg_validity.h"
#include "crystal/xg_spacegroup.h"
#include "crystal/xg_symmetry.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_model.h"
#include "properties/xg_hull.h"
#include "xg_test.h"

/* ---- error plumbing: a NULL err must never turn a failure into success ---- */

static void test_error_prefix_null(void)
{
    CU_ASSERT_EQUAL(xg_error_prefix(NULL, XG_EPARSE, "context"), XG_EPARSE);
    xg_error e;
    xg_error_set(&e, XG_EIO, "detail");
    CU_ASSERT_EQUAL(xg_error_prefix(&e, XG_EIO, "ctx %d", 1), XG_EIO);
    CU_ASSERT_STRING_EQUAL(e.msg, "ctx 1: detail");
    CU_ASSERT_EQUAL(e.code, XG_EIO);

    /* xg_hull_add with an invalid composition and no err reported XG_OK */
    xg_hull *h = xg_hull_alloc();
    xg_hull_comp bad = {2, {26, 8}, {1, 1}}; /* not ascending */
    CU_ASSERT_EQUAL(xg_hull_add(h, &bad, -1, "x", NULL), XG_EINVAL);
    xg_hull_free(h);

    /* xg_model_write with an invalid condition spec and no err reported XG_OK */
    xg_denoiser_config cfg = {8, 1, 2, 4, 2};
    xg_denoiser *net = xg_denoiser_alloc(&cfg, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(net);
    xg_cond_spec cs;
    xg_cond_spec_init(&cs);
    cs.n = 1;
    cs.dim = 2;
    cs.item[0].name[0] = '\0'; /* no name: invalid */
    xg_noise_params np;
    xg_noise_params_default(&np);
    xg_hparams hp;
    xg_hparams_default(&hp);
    xg_model_stats st;
    memset(&st, 0, sizeof st);
    const float *w = xg_denoiser_params(net);
    const char *dir = xg_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/m.h5", dir);
    CU_ASSERT_NOT_EQUAL(xg_model_write(path, &(xg_model_desc){.net = net, .weights = w, .ema = w, .noise = &np, .hp = &hp, .stats = &st, .cond = &cs, .state = NULL}, NULL), XG_OK);
    xg_denoiser_free(net);
}


/* ---- HDF5 readers ---- */

/* A small valid model file at a fresh path. */
static const char *write_small_model(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/model.h5", xg_test_tmpdir());
    xg_denoiser_config cfg = {8, 1, 2, 4, 0};
    xg_denoiser *net = xg_denoiser_alloc(&cfg, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(net);
    xg_noise_params np;
    xg_noise_params_default(&np);
    xg_hparams hp;
    xg_hparams_default(&hp);
    xg_model_stats st;
    memset(&st, 0, sizeof st);
    int64_t hist[4] = {0, 2, 0, 5};
    st.hist_len = 4;
    st.natoms_hist = hist;
    st.avg_density = 0.06;
    st.nstructs = 7;
    const float *w = xg_denoiser_params(net);
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_model_write(path, &(xg_model_desc){.net = net, .weights = w, .ema = w, .noise = &np, .hp = &hp, .stats = &st, .cond = NULL, .state = NULL}, &err), XG_OK);
    xg_denoiser_free(net);
    return path;
}

/* Replaces attribute `name` of object `obj` in `path` by a fixed-length string of exactly
 * strlen(v) bytes with the given padding (no room for a terminator). */
static void put_fixed_str(const char *path, const char *obj, const char *name, const char *v,
                          H5T_str_t pad)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    if (H5Aexists(o, name) > 0)
        H5Adelete(o, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v));
    H5Tset_strpad(t, pad);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT(H5Awrite(a, t, v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Oclose(o);
    H5Fclose(f);
}

static void test_h5_fixed_strings(void)
{
    const char *path = write_small_model();
    xg_model *m = NULL;
    xg_error err = {0};
    H5T_str_t pads[2] = {H5T_STR_NULLPAD, H5T_STR_SPACEPAD};
    for (int k = 0; k < 2; k++) {
        put_fixed_str(path, "/", "format", "xtalgen-model", pads[k]);
        CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_OK); /* was refused */
        xg_model_free(m);
        m = NULL;
        put_fixed_str(path, "/", "format", "xtalgen-modelX", pads[k]);
        CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EPARSE); /* was accepted */
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "xtalgen-modelX"));
        xg_model_free(m);
        m = NULL;
    }
}

static void test_h5_model_config_vs_file_size(void)
{
    const char *path = write_small_model();
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "config", H5P_DEFAULT);
    int64_t big = 4096, layers = 64;
    hid_t a = H5Aopen(g, "hidden", H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &big);
    H5Aclose(a);
    a = H5Aopen(g, "layers", H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &layers);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
    xg_model *m = NULL;
    xg_error err = {0};
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "describes a network"));
    CU_ASSERT_PTR_NULL(m);
}

static void test_h5_natoms_hist_overflow(void)
{
    const char *path = write_small_model();
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "stats/natoms_hist", H5P_DEFAULT);
    int64_t h[4] = {0, INT64_MAX / 2, INT64_MAX / 2, 5}; /* sums past INT64_MAX */
    CU_ASSERT(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, h) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    xg_model *m = NULL;
    xg_error err = {0};
    CU_ASSERT_EQUAL(xg_model_load(path, 0, &m, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "natoms_hist"));
    /* and the sampler itself never overflows on such a histogram */
    xg_model_stats st = {0};
    st.hist_len = 4;
    st.natoms_hist = h;
    xg_rng r;
    xg_rng_seed(&r, 1, 0);
    CU_ASSERT_EQUAL(xg_model_sample_natoms(&st, &r), 0);
}

/* A dataset file whose datasets declare n structures but store nothing (late allocation). */
static const char *write_hollow_dataset(hsize_t n)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/hollow.h5", xg_test_tmpdir());
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen("xtalgen-dataset") + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "format", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, "xtalgen-dataset");
    H5Aclose(a);
    int64_t one = 1;
    a = H5Acreate2(f, "version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &one);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tset_size(t, XG_ID_LEN);
    hsize_t d1[1] = {n}, d1p[1] = {n + 1}, dx[2] = {n, 3}, dl[3] = {n, 3, 3};
    struct { const char *name; hid_t type; int rank; hsize_t *dims; } ds[5] = {
        {"ids", t, 1, d1}, {"offsets", H5T_STD_I64LE, 1, d1p}, {"atomic_numbers", H5T_STD_I32LE, 1, d1},
        {"frac_coords", H5T_IEEE_F64LE, 2, dx}, {"lattices", H5T_IEEE_F64LE, 3, dl}};
    for (int i = 0; i < 5; i++) {
        sp = H5Screate_simple(ds[i].rank, ds[i].dims, NULL);
        hid_t d = H5Dcreate2(f, ds[i].name, ds[i].type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dclose(d);
        H5Sclose(sp);
    }
    H5Tclose(t);
    H5Fclose(f);
    return path;
}

static void test_h5_dataset_declared_sizes(void)
{
    const char *path = write_hollow_dataset(3000000);
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    CU_ASSERT(size < 10000); /* a few kilobytes declaring 3 M structures */
    xg_dataset *ds = NULL;
    xg_error err = {0};
    CU_ASSERT_EQUAL(xg_dataset_read_h5(path, &ds, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "declares"));
    CU_ASSERT_PTR_NULL(ds);
}

/* Found by fuzz_dataset_h5: a 'version' attribute of three integers overran the single value
 * the dataset reader read it into (the hull reader had the same pattern). */
static void test_h5_version_array(void)
{
    xg_dataset *ds = NULL;
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_csv_read_cdvae(XG_SOURCE_DIR "/tests/fixtures/cdvae_small.csv", &ds,
                                            NULL, NULL, &err), XG_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/v.h5", xg_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(xg_dataset_write_h5(ds, path, &err), XG_OK);
    xg_dataset_free(ds);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "version");
    hsize_t three = 3;
    int64_t v[3] = {1, 1, 1};
    hid_t sp = H5Screate_simple(1, &three, NULL);
    hid_t a = H5Acreate2(f, "version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, v);
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
    ds = NULL;
    CU_ASSERT_EQUAL(xg_dataset_read_h5(path, &ds, &err), XG_EPARSE);
    CU_ASSERT_PTR_NULL(ds);
}

/* ---- CSV property cells ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    CU_ASSERT_FATAL(b && fread(b, 1, (size_t)n, f) == (size_t)n);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* The CDVAE fixture with xg-1's formation energy cell replaced by `cell`. */
static const char *cdvae_with_cell(const char *cell)
{
    char *t = slurp(XG_SOURCE_DIR "/tests/fixtures/cdvae_small.csv");
    char *at = strstr(t, "xg-1,-2.1,");
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    size_t head = (size_t)(at - t) + 5, tail = strlen(at + 9);
    char *u = malloc(strlen(t) + strlen(cell) + 1);
    memcpy(u, t, head);
    strcpy(u + head, cell);
    memcpy(u + head + strlen(cell), at + 9, tail + 1);
    const char *path = xg_test_tmpfile(".csv", u);
    free(t);
    free(u);
    return path;
}

static void test_csv_missing_and_garbage(void)
{
    const char *missing[] = {"", "NA", "na", "N/A", "NaN", " NA "};
    for (size_t k = 0; k < sizeof missing / sizeof *missing; k++) {
        xg_dataset *ds = NULL;
        xg_error err = {0};
        CU_ASSERT_EQUAL_FATAL(xg_csv_read_cdvae(cdvae_with_cell(missing[k]), &ds, NULL, NULL, &err), XG_OK);
        int p = xg_dataset_find_property(ds, "formation_energy_per_atom");
        CU_ASSERT(p >= 0); /* the column is kept, the cell is missing */
        if (p >= 0) {
            CU_ASSERT(isnan(ds->props[0 * ds->nprops + p]));
            CU_ASSERT(!isnan(ds->props[1 * ds->nprops + p]));
        }
        xg_dataset_free(ds);
    }
    const char *bad[] = {"inf", "-inf", "abc", "1e999", "1.5x"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        xg_dataset *ds = NULL;
        xg_error err = {0};
        CU_ASSERT_EQUAL(xg_csv_read_cdvae(cdvae_with_cell(bad[k]), &ds, NULL, NULL, &err), XG_EPARSE);
        CU_ASSERT_PTR_NULL(ds);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, ":2: column 'formation_energy_per_atom'"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[k]));
    }
    /* merging a property table: the same rules */
    xg_dataset *ds = NULL;
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_csv_read_cdvae(cdvae_with_cell("-2.1"), &ds, NULL, NULL, &err), XG_OK);
    const char *ok = xg_test_tmpfile(".csv", "material_id,mag,note\nxg-1,NA,a\nxg-3,0.5,b\n");
    CU_ASSERT_EQUAL(xg_csv_merge_properties(ds, ok, NULL, &err), XG_OK);
    CU_ASSERT(xg_dataset_find_property(ds, "mag") >= 0);
    CU_ASSERT(xg_dataset_find_property(ds, "note") < 0); /* text column */
    const char *garbage = xg_test_tmpfile(".csv", "material_id,mag2\nxg-1,0.1\nxg-3,abc\n");
    CU_ASSERT_EQUAL(xg_csv_merge_properties(ds, garbage, NULL, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, ":3: column 'mag2': 'abc'"));
    CU_ASSERT(xg_dataset_find_property(ds, "mag2") < 0);
    xg_dataset_free(ds);
}

/* ---- text readers: byte order marks and NUL bytes ---- */

static const char *CIF_NACL =
    "data_NaCl\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n"
    "_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_type_symbol\n"
    "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nNa 0 0 0\nCl 0.5 0.5 0.5\n";
static const char *XYZ_NACL = "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3\n"
                              "Na 0 0 0\nCl 2 2 2\n";
static const char *POSCAR_NACL = "NaCl\n1.0\n4 0 0\n0 4 0\n0 0 4\nNa Cl\n1 1\nDirect\n0 0 0\n"
                                 "0.5 0.5 0.5\n";

/* Writes len bytes (NULs allowed) to a fresh file named `name` in a temporary folder. */
static const char *write_bytes(const char *name, const char *b, size_t len)
{
    static char path[8][512];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, 512, "%s/%s", xg_test_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    CU_ASSERT_FATAL(f && fwrite(b, 1, len, f) == len);
    fclose(f);
    return p;
}

static const char *with_bom(const char *name, const char *text)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "\xEF\xBB\xBF%s", text);
    return write_bytes(name, buf, (size_t)n);
}

static void test_bom_accepted(void)
{
    const char *paths[4] = {with_bom("a.cif", CIF_NACL), with_bom("a.extxyz", XYZ_NACL),
                            with_bom("POSCAR", POSCAR_NACL), with_bom("nameless", CIF_NACL)};
    for (int k = 0; k < 4; k++) {
        xg_dataset *ds = NULL;
        xg_error err = {0};
        int rc = xg_input_read(paths[k], &ds, &err);
        CU_ASSERT_EQUAL(rc, XG_OK);
        if (rc)
            fprintf(stderr, "\n%s\n", err.msg);
        else {
            CU_ASSERT_EQUAL(ds->n, 1);
            CU_ASSERT_EQUAL(ds->m, 2);
            CU_ASSERT_EQUAL(ds->types[0], 11);
        }
        xg_dataset_free(ds);
    }
    /* UTF-16 is refused with a message that says so */
    const char u16[] = "\xFF\xFE" "d\0a\0t\0a\0";
    xg_dataset *ds = NULL;
    xg_error err = {0};
    CU_ASSERT_EQUAL(xg_input_read(write_bytes("u.cif", u16, sizeof u16 - 1), &ds, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "UTF-16"));
}

static void test_nul_in_symbol(void)
{
    const char xyz[] = "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3\n"
                       "Na 0 0 0\nC\0l 2 2 2\n";
    const char cif[] = "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                       "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n"
                       "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
                       "_atom_site_fract_z\nNa 0 0 0\nC\0l 0.5 0.5 0.5\n";
    const char pos[] = "x\n1.0\n4 0 0\n0 4 0\n0 0 4\nNa C\0l\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n";
    const char *paths[3] = {write_bytes("n.extxyz", xyz, sizeof xyz - 1),
                            write_bytes("n.cif", cif, sizeof cif - 1),
                            write_bytes("n.vasp", pos, sizeof pos - 1)};
    const char *line[3] = {":4: NUL byte", ":14: NUL byte", ":6: NUL byte"};
    for (int k = 0; k < 3; k++) {
        xg_dataset *ds = NULL;
        xg_error err = {0};
        CU_ASSERT_EQUAL(xg_input_read(paths[k], &ds, &err), XG_EPARSE);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, line[k]));
        CU_ASSERT_PTR_NULL(ds);
    }
}

/* ---- symmetry-operation translations ---- */

static void test_symop_huge_translation(void)
{
    int r[3][3];
    double t[3];
    xg_error e = {0};
    const char *op = "x+123456789012345678.5, y-98765432109876543210.25, z+123456789012345679/2";
    CU_ASSERT_EQUAL_FATAL(xg_cif_parse_symop(op, strlen(op), r, t, &e), XG_OK);
    CU_ASSERT_EQUAL(t[0], 0.5);   /* was 0: the double held 1.2345678901234568e17 */
    CU_ASSERT_EQUAL(t[1], -0.25); /* mod 1, the sign kept as written */
    CU_ASSERT_EQUAL(t[2], 0.5);   /* odd numerator over 2, exactly */
    op = "-y+1/3, x+1, z+0.75";   /* ordinary translations keep their integer parts */
    CU_ASSERT_EQUAL_FATAL(xg_cif_parse_symop(op, strlen(op), r, t, &e), XG_OK);
    XG_ASSERT_NEAR(t[0], 1.0 / 3, 1e-15);
    CU_ASSERT_EQUAL(t[1], 1.0);
    CU_ASSERT_EQUAL(t[2], 0.75);
    op = "x+0.1234567890123456789/3, y, z"; /* cannot be reduced exactly: refused */
    CU_ASSERT_EQUAL(xg_cif_parse_symop(op, strlen(op), r, t, &e), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "exactly"));
}

/* ---- CIFs naming the space group without operations ---- */

static void test_cif_spacegroup_by_symbol(void)
{
    /* natoms: pymatgen 2022.11 (CifParser(f).get_structures(primitive=False)) where it
     * recognises the symbol; where it falls back to P1 (ICSD suffixes, Hall symbols, short
     * monoclinic and pre-2002 names) the count of the crystal (diamond 8, spinel 56, P21/c with
     * two general sites 8, ...), confirmed by spglib finding the named group in the result. */
    static const struct { const char *file; int natoms, sg; } cases[] = {
        {"nacl.cif", 8, 225},        {"num225.cif", 8, 225},     {"dots.cif", 8, 225},
        {"si_o1.cif", 8, 227},       {"si_icsdZ.cif", 8, 227},   {"si_colon2.cif", 8, 227},
        {"spinel_o1.cif", 56, 227},  {"rutile.cif", 6, 136},     {"corundum.cif", 30, 167},
        {"corundum_plain.cif", 30, 167}, {"rhombo_R.cif", 2, 166}, {"p21n.cif", 8, 14},
        {"p21n_short.cif", 8, 14},   {"hall.cif", 8, 14},        {"pbnm.cif", 20, 62},
        {"cmca.cif", 24, 64},        {"p63mmc.cif", 8, 194},     {"yag.cif", 160, 230},
        {"yag_num_dots.cif", 160, 230},
    };
    char path[1024];
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        snprintf(path, sizeof path, "%s/tests/fixtures/sg_symbol/%s", XG_SOURCE_DIR, cases[k].file);
        xg_structure *st = NULL;
        xg_error err = {0};
        int rc = xg_cif_read_one_file(path, &st, &err);
        CU_ASSERT_EQUAL(rc, XG_OK);
        if (rc) {
            fprintf(stderr, "\n%s\n", err.msg);
            continue;
        }
        CU_ASSERT_EQUAL(st->natoms, cases[k].natoms);
        int sg = 0;
        CU_ASSERT_EQUAL(xg_symmetry_spacegroup(st, 0.01, &sg, NULL, &err), XG_OK);
        CU_ASSERT_EQUAL(sg, cases[k].sg);
        if (st->natoms != cases[k].natoms || sg != cases[k].sg)
            fprintf(stderr, "\n%s: %d atoms, group %d\n", cases[k].file, st->natoms, sg);
        xg_structure_free(st);
    }
    /* an unknown symbol with no operations is an error, not a P1 asymmetric unit */
    xg_structure *st = NULL;
    xg_error err = {0};
    snprintf(path, sizeof path, "%s/tests/fixtures/sg_symbol/unknown.cif", XG_SOURCE_DIR);
    CU_ASSERT_EQUAL(xg_cif_read_one_file(path, &st, &err), XG_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "X 9 q"));
    /* '?' for a coordinate is unknown, as pymatgen says too ("no structures") */
    snprintf(path, sizeof path, "%s/tests/fixtures/sg_symbol/question.cif", XG_SOURCE_DIR);
    CU_ASSERT_EQUAL(xg_cif_read_one_file(path, &st, &err), XG_EPARSE);
    /* lookups */
    CU_ASSERT_EQUAL(xg_spacegroup_hall_from_number(227), 525);
    CU_ASSERT_EQUAL(xg_spacegroup_hall_from_hm("Fd-3m:2", 7), 526);
    CU_ASSERT_EQUAL(xg_spacegroup_hall_from_hm("F d -3 m Z", 10), 526);
    CU_ASSERT_EQUAL(xg_spacegroup_hall_from_hm("R -3 m", 6), 458);
    CU_ASSERT_EQUAL(xg_spacegroup_hall_from_hm("R -3 m R", 8), 459);
    CU_ASSERT_EQUAL(xg_spacegroup_hall_from_hm("P 21/c", 6), 81);
    CU_ASSERT_EQUAL(xg_spacegroup_hall_from_hm("P 1 21/n 1", 10), 82);
    CU_ASSERT_EQUAL(xg_spacegroup_hall_from_hall_symbol(" -P  2ybc ", 11), 81);
    CU_ASSERT_EQUAL(xg_spacegroup_hall_from_hm("Q 42", 4), 0);
}

/* ---- messages name the problem, not a source file ---- */

static void test_messages_without_source_paths(void)
{
    xg_error err = {0};
    xg_structure *s = xg_structure_alloc(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    s->types[0] = 11;
    s->lattice[0][0] = s->lattice[1][1] = s->lattice[2][2] = 4.0;
    double d;
    CU_ASSERT_NOT_EQUAL(xg_validity_min_distance(s, 0.0, &d, &err), XG_OK); /* bad cap */
    CU_ASSERT_PTR_NULL(strstr(err.msg, ".c:"));
    xg_structure *out = NULL;
    CU_ASSERT_NOT_EQUAL(xg_matcher_primitive(s, -1.0, &out, &err), XG_OK);
    CU_ASSERT_PTR_NULL(strstr(err.msg, ".c:"));
    CU_ASSERT(strlen(err.msg) > 0);
    xg_structure_free(s);
}

/* ---- allocation failures (debug builds): every one gives a clean XG_ENOMEM ---- */

typedef int (*read_op)(const void *arg, xg_error *err);

static int op_cif(const void *arg, xg_error *err)
{
    xg_structure **list = NULL;
    int n = 0;
    int rc = xg_cif_read_file(arg, &list, &n, err);
    CU_ASSERT(rc == XG_OK || (list == NULL && n == 0));
    xg_cif_structures_free(list, n);
    return rc;
}

static int op_input(const void *arg, xg_error *err)
{
    xg_dataset *ds = NULL;
    int rc = xg_input_read(arg, &ds, err);
    CU_ASSERT(rc == XG_OK || ds == NULL);
    xg_dataset_free(ds);
    return rc;
}

static int op_csv(const void *arg, xg_error *err)
{
    xg_dataset *ds = NULL;
    int rc = xg_csv_read_cdvae(arg, &ds, NULL, NULL, err);
    CU_ASSERT(rc == XG_OK || ds == NULL);
    xg_dataset_free(ds);
    return rc;
}

static int op_h5(const void *arg, xg_error *err)
{
    xg_dataset *ds = NULL;
    int rc = xg_dataset_read_h5(arg, &ds, err);
    CU_ASSERT(rc == XG_OK || ds == NULL);
    xg_dataset_free(ds);
    return rc;
}

/* Fails the allocation after n = 0, 1, 2, ... successful ones until op succeeds; every failure
 * must be XG_ENOMEM with a message (leaks show under the sanitizer build). Returns the number
 * of failure points tried. */
static long fail_each_allocation(read_op op, const void *arg, const char *what)
{
    long n;
    for (n = 0; n < 200000; n++) {
        xg_error err = {0};
        xg_alloc_fail_after(n);
        int rc = op(arg, &err);
        xg_alloc_fail_after(-1);
        if (rc == XG_OK)
            break;
        CU_ASSERT_EQUAL(rc, XG_ENOMEM);
        CU_ASSERT(err.msg[0] != '\0');
        if (rc != XG_ENOMEM) {
            fprintf(stderr, "\n%s, allocation %ld failing: code %d: %s\n", what, n, rc, err.msg);
            break;
        }
    }
    CU_ASSERT(n > 0 && n < 200000);
    return n;
}

static void test_alloc_failures(void)
{
    if (!xg_alloc_fail_after(-1)) {
        fprintf(stderr, " (release build: the hook is compiled out; this runs in debug builds) ");
        return;
    }
    char cif[1024], dir[1024], h5[1024];
    snprintf(cif, sizeof cif, "%s/tests/fixtures/sg_symbol/yag.cif", XG_SOURCE_DIR);
    const char *csv = XG_SOURCE_DIR "/tests/fixtures/cdvae_small.csv";
    /* a folder of CIF, POSCAR and extxyz files, and the dataset written from it */
    snprintf(dir, sizeof dir, "%s", xg_test_tmpdir());
    const char *files[3][2] = {{"a.cif", CIF_NACL}, {"b.extxyz", XYZ_NACL}, {"POSCAR", POSCAR_NACL}};
    for (int k = 0; k < 3; k++) {
        char p[1100];
        snprintf(p, sizeof p, "%s/%s", dir, files[k][0]);
        FILE *f = fopen(p, "w");
        CU_ASSERT_FATAL(f != NULL);
        fputs(files[k][1], f);
        fclose(f);
    }
    xg_dataset *ds = NULL;
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_csv_read_cdvae(csv, &ds, NULL, NULL, &err), XG_OK);
    snprintf(h5, sizeof h5, "%s/d.h5", xg_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(xg_dataset_write_h5(ds, h5, &err), XG_OK);
    xg_dataset_free(ds);
    long n1 = fail_each_allocation(op_cif, cif, "CIF read");
    long n2 = fail_each_allocation(op_input, dir, "folder read");
    long n3 = fail_each_allocation(op_csv, csv, "CSV read");
    long n4 = fail_each_allocation(op_h5, h5, "dataset read");
    fprintf(stderr, " (failure points: CIF %ld, folder %ld, CSV %ld, dataset %ld) ", n1, n2, n3, n4);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"xg_error_prefix keeps the failure code with a NULL err", test_error_prefix_null},
        {"HDF5 fixed-length strings without a terminator", test_h5_fixed_strings},
        {"model /config larger than the file", test_h5_model_config_vs_file_size},
        {"model natoms histogram summing past INT64_MAX", test_h5_natoms_hist_overflow},
        {"dataset declaring more than it stores", test_h5_dataset_declared_sizes},
        {"dataset version attribute holding three numbers", test_h5_version_array},
        {"CSV cells: NA/blank missing, inf/abc an error", test_csv_missing_and_garbage},
        {"UTF-8 byte order mark in CIF, extxyz, POSCAR", test_bom_accepted},
        {"NUL byte inside a type symbol", test_nul_in_symbol},
        {"symmetry-operation translations with huge integer parts", test_symop_huge_translation},
        {"CIF space group by symbol, Hall symbol or number", test_cif_spacegroup_by_symbol},
        {"messages without build paths", test_messages_without_source_paths},
        {"every allocation failure in the readers is clean", test_alloc_failures},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("safety", tests);
}
