/* test_dataset.c: the ragged in-memory dataset, its HDF5 round trip, and hostile files (wrong
 * format, newer version, inconsistent offsets, bad atomic numbers, truncation) that must give
 * clear errors and never a crash. Also the folder and single-file inputs of xg_input.
 *
 * `test_dataset --write-v7 PATH` writes a dataset claiming layout version 7 (the fixture the
 * end-to-end test uses for "unknown version -> exit 1"). */
#include <hdf5.h>
#include <sys/stat.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_input.h"
#include "xg_test.h"

#define FIXTURE(name) XG_SOURCE_DIR "/tests/fixtures/" name

static xg_structure *toy(int n, int z0, const char *id)
{
    xg_structure *s = xg_structure_alloc(n);
    for (int i = 0; i < 3; i++)
        s->lattice[i][i] = 3.0 + i;
    s->lattice[1][0] = 0.5; /* non-orthogonal, to catch a transposed write */
    for (int a = 0; a < n; a++) {
        s->types[a] = z0 + a;
        for (int d = 0; d < 3; d++)
            s->frac[a][d] = 0.1 * (a + 1) + 0.01 * d;
    }
    snprintf(s->id, XG_ID_LEN, "%s", id);
    return s;
}

/* Three structures (1, 3 and 2 atoms) and two properties, one added after the rows. */
static xg_dataset *sample(void)
{
    xg_error err = {0};
    xg_dataset *ds = xg_dataset_alloc();
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    CU_ASSERT_EQUAL(xg_dataset_add_property(ds, "band_gap", &err), 0);
    const int sizes[3] = {1, 3, 2};
    const char *ids[3] = {"mp-1", "mp-22", "a-much-longer-identifier/with/slashes"};
    for (int i = 0; i < 3; i++) {
        xg_structure *s = toy(sizes[i], 8 + i, ids[i]);
        double p[1] = {i == 1 ? NAN : 1.5 * i};
        CU_ASSERT_EQUAL(xg_dataset_append(ds, s, p, &err), XG_OK);
        xg_structure_free(s);
    }
    int k = xg_dataset_add_property(ds, "dft_mag_density", &err);
    CU_ASSERT_EQUAL(k, 1);
    ds->props[2 * ds->nprops + k] = 0.25;
    return ds;
}

static void check_sample(const xg_dataset *ds)
{
    CU_ASSERT_EQUAL_FATAL(ds->n, 3);
    CU_ASSERT_EQUAL(ds->m, 6);
    CU_ASSERT_EQUAL(ds->offsets[0], 0);
    CU_ASSERT_EQUAL(ds->offsets[3], 6);
    CU_ASSERT_EQUAL(xg_dataset_natoms(ds, 1), 3);
    CU_ASSERT_EQUAL(xg_dataset_natoms(ds, 3), -1);
    CU_ASSERT_STRING_EQUAL(ds->ids[2], "a-much-longer-identifier/with/slashes");
    int bg = xg_dataset_find_property(ds, "band_gap");
    int md = xg_dataset_find_property(ds, "dft_mag_density");
    CU_ASSERT_FATAL(bg >= 0 && md >= 0);
    CU_ASSERT_EQUAL(xg_dataset_find_property(ds, "nope"), -1);
    XG_ASSERT_NEAR(ds->props[0 * ds->nprops + bg], 0.0, 0);
    CU_ASSERT(isnan(ds->props[1 * ds->nprops + bg]));
    XG_ASSERT_NEAR(ds->props[2 * ds->nprops + bg], 3.0, 0);
    CU_ASSERT(isnan(ds->props[0 * ds->nprops + md])); /* added later: NaN, not zero */
    XG_ASSERT_NEAR(ds->props[2 * ds->nprops + md], 0.25, 0);
    xg_error err = {0};
    xg_structure *s = xg_dataset_get(ds, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->natoms, 3);
    CU_ASSERT_EQUAL(s->types[2], 11);
    XG_ASSERT_NEAR(s->frac[2][1], 0.31, 1e-15);
    XG_ASSERT_NEAR(s->lattice[1][0], 0.5, 0); /* rows stay rows */
    XG_ASSERT_NEAR(s->lattice[0][1], 0.0, 0);
    CU_ASSERT_STRING_EQUAL(s->id, "mp-22");
    xg_structure_free(s);
    CU_ASSERT_PTR_NULL(xg_dataset_get(ds, 3, &err));
    CU_ASSERT_EQUAL(err.code, XG_EINVAL);
}

static void test_memory(void)
{
    xg_dataset *ds = sample();
    check_sample(ds);
    xg_error err = {0};
    CU_ASSERT_EQUAL(xg_dataset_add_property(ds, "band_gap", &err), 0); /* existing -> index */
    CU_ASSERT(xg_dataset_add_property(ds, "", &err) < 0);
    CU_ASSERT(xg_dataset_add_property(ds, "a/b", &err) < 0);
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[99] = '\0';
    CU_ASSERT(xg_dataset_add_property(ds, longname, &err) < 0);
    /* many appends: capacity growth keeps everything in place */
    for (int i = 0; i < 1000; i++) {
        xg_structure *s = toy(1 + i % 20, 1 + i % 90, "grow");
        CU_ASSERT_EQUAL_FATAL(xg_dataset_append(ds, s, NULL, &err), XG_OK);
        xg_structure_free(s);
    }
    CU_ASSERT_EQUAL(ds->n, 1003);
    CU_ASSERT(isnan(ds->props[1002 * ds->nprops]));
    XG_ASSERT_NEAR(ds->props[2 * ds->nprops + 1], 0.25, 0);
    CU_ASSERT_EQUAL(ds->offsets[ds->n], ds->m);
    xg_dataset_free(ds);
    xg_dataset_free(NULL);
}

static const char *tmp_h5(const char *name)
{
    static char paths[16][600];
    static int k;
    char *p = paths[k++ % 16];
    snprintf(p, 600, "%s/%s", xg_test_tmpdir(), name);
    return p;
}

static void test_h5_roundtrip(void)
{
    xg_error err = {0};
    xg_dataset *ds = sample();
    const char *path = tmp_h5("rt.h5");
    CU_ASSERT_EQUAL_FATAL(xg_dataset_write_h5(ds, path, &err), XG_OK);
    xg_dataset_free(ds);
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CU_ASSERT_FALSE(xg_test_exists(tmp)); /* renamed into place */
    xg_dataset *back = NULL;
    int rc = xg_dataset_read_h5(path, &back, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    check_sample(back);
    xg_dataset_free(back);

    /* an empty dataset is a valid file too */
    xg_dataset *empty = xg_dataset_alloc();
    path = tmp_h5("empty.h5");
    CU_ASSERT_EQUAL_FATAL(xg_dataset_write_h5(empty, path, &err), XG_OK);
    xg_dataset_free(empty);
    CU_ASSERT_EQUAL_FATAL(xg_dataset_read_h5(path, &back, &err), XG_OK);
    CU_ASSERT_EQUAL(back->n, 0);
    CU_ASSERT_EQUAL(back->m, 0);
    xg_dataset_free(back);

    CU_ASSERT_EQUAL(xg_dataset_write_h5(ds = sample(), "/nonexistent-dir/x.h5", &err), XG_EIO);
    xg_dataset_free(ds);
}

/* The same file read from its bytes in memory (the fuzz harness's entry) gives the same
 * dataset; bytes that are no HDF5 file are refused under the given name. */
static void test_h5_image(void)
{
    xg_error err = {0};
    xg_dataset *ds = sample();
    const char *path = tmp_h5("image.h5");
    CU_ASSERT_EQUAL_FATAL(xg_dataset_write_h5(ds, path, &err), XG_OK);
    xg_dataset_free(ds);
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static unsigned char img[1 << 20];
    size_t len = fread(img, 1, sizeof img, f);
    fclose(f);
    CU_ASSERT_FATAL(len > 0 && len < sizeof img);
    xg_dataset *back = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_dataset_read_h5_image(img, len, "mem.h5", &back, &err), XG_OK);
    check_sample(back);
    xg_dataset_free(back);
    CU_ASSERT_EQUAL(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
    back = NULL;
    CU_ASSERT_EQUAL(xg_dataset_read_h5_image(img, len / 2, "half.h5", &back, &err), XG_EPARSE);
    CU_ASSERT_PTR_NULL(back);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "half.h5"));
    CU_ASSERT_EQUAL(xg_dataset_read_h5_image("CIF", 3, "text.h5", &back, &err), XG_EPARSE);
    CU_ASSERT_PTR_NULL(back);
    CU_ASSERT_EQUAL(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

/* Writes the sample, then lets `mutate` damage it through the HDF5 API. */
static const char *damaged(const char *name, void (*mutate)(hid_t file))
{
    xg_error err = {0};
    xg_dataset *ds = sample();
    const char *path = tmp_h5(name);
    CU_ASSERT_EQUAL(xg_dataset_write_h5(ds, path, &err), XG_OK);
    xg_dataset_free(ds);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    mutate(f);
    H5Fclose(f);
    return path;
}

static void set_version_7(hid_t f)
{
    hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
    int v = 7;
    H5Awrite(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
}

static void set_format_other(hid_t f)
{
    H5Adelete(f, "format");
    hid_t sp = H5Screate(H5S_SCALAR), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 5);
    hid_t a = H5Acreate2(f, "format", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, "other");
    H5Aclose(a);
    H5Tclose(t);
    H5Sclose(sp);
}

static void write_ints(hid_t f, const char *name, hid_t type, const void *v)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
}

static void bad_offsets(hid_t f)
{
    int64_t off[4] = {0, 4, 3, 6}; /* decreasing */
    write_ints(f, "offsets", H5T_NATIVE_INT64, off);
}

static void bad_last_offset(hid_t f)
{
    int64_t off[4] = {0, 1, 4, 9};
    write_ints(f, "offsets", H5T_NATIVE_INT64, off);
}

static void bad_z(hid_t f)
{
    int32_t z[6] = {8, 9, 10, 11, 200, 11};
    write_ints(f, "atomic_numbers", H5T_NATIVE_INT32, z);
}

static void missing_lattices(hid_t f) { H5Ldelete(f, "lattices", H5P_DEFAULT); }

static void short_property(hid_t f)
{
    H5Ldelete(f, "properties/band_gap", H5P_DEFAULT);
    hsize_t n = 2;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "properties/band_gap", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    double v[2] = {1, 2};
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(sp);
}

static void expect_refused(const char *path, int code, const char *needle)
{
    xg_error err = {0};
    xg_dataset *ds = (xg_dataset *)1;
    int rc = xg_dataset_read_h5(path, &ds, &err);
    CU_ASSERT_EQUAL(rc, code);
    CU_ASSERT_PTR_NULL(ds);
    CU_ASSERT(strstr(err.msg, needle) != NULL);
    if (!strstr(err.msg, needle))
        fprintf(stderr, "\n    expected '%s' in: %s\n", needle, err.msg);
}

static void test_hostile(void)
{
    /* HDF5 must not print its own error stack for these: the reader silences it */
    const char *p = damaged("v7.h5", set_version_7);
    char want[700];
    snprintf(want, sizeof want,
             "%s: dataset layout version 7 is newer than this xtalgen understands (1)", p);
    expect_refused(p, XG_EVERSION, want);
    expect_refused(damaged("fmt.h5", set_format_other), XG_EPARSE, "not an xtalgen dataset");
    expect_refused(damaged("off.h5", bad_offsets), XG_EPARSE, "inconsistent offsets");
    expect_refused(damaged("off2.h5", bad_last_offset), XG_EPARSE, "inconsistent offsets");
    expect_refused(damaged("z.h5", bad_z), XG_EPARSE, "atomic number 200");
    expect_refused(damaged("lat.h5", missing_lattices), XG_EPARSE, "/lattices is missing");
    expect_refused(damaged("prop.h5", short_property), XG_EPARSE, "has 2 values for 3");

    /* truncated: the first half of a valid file */
    xg_error err = {0};
    xg_dataset *ds = sample();
    const char *full = tmp_h5("full.h5");
    CU_ASSERT_EQUAL(xg_dataset_write_h5(ds, full, &err), XG_OK);
    xg_dataset_free(ds);
    FILE *f = fopen(full, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char *cut = tmp_h5("cut.h5");
    for (size_t keep = n / 2; keep > 0; keep /= 4) {
        f = fopen(cut, "wb");
        fwrite(buf, 1, keep, f);
        fclose(f);
        xg_dataset *out = NULL;
        CU_ASSERT_NOT_EQUAL(xg_dataset_read_h5(cut, &out, &err), XG_OK);
        CU_ASSERT_PTR_NULL(out);
        CU_ASSERT(strstr(err.msg, cut) != NULL);
    }
    /* not HDF5 at all, and no file */
    expect_refused(xg_test_tmpfile(".h5", "hello, I am text\n"), XG_EPARSE, "not an HDF5 file");
    expect_refused("/nonexistent/file.h5", XG_EIO, "cannot open");
}

static void test_input_formats(void)
{
    xg_error err = {0};
    xg_dataset *ds = NULL;
    /* a folder: CIFs and a POSCAR, sorted by name, ids from file names, README skipped */
    int rc = xg_input_read(FIXTURE("data_cifs"), &ds, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(ds->n, 4);
    CU_ASSERT_STRING_EQUAL(ds->ids[0], "CsCl");
    CU_ASSERT_STRING_EQUAL(ds->ids[1], "NaCl");
    CU_ASSERT_STRING_EQUAL(ds->ids[2], "POSCAR_ZnO");
    CU_ASSERT_STRING_EQUAL(ds->ids[3], "Si");
    CU_ASSERT_EQUAL(xg_dataset_natoms(ds, 2), 4);
    xg_dataset_free(ds);

    xg_input_format fmt;
    CU_ASSERT_EQUAL(xg_input_detect(FIXTURE("cdvae_small.csv"), &fmt, &err), XG_OK);
    CU_ASSERT_EQUAL(fmt, XG_INPUT_CSV);
    CU_ASSERT_EQUAL(xg_input_read(FIXTURE("cdvae_small.csv"), &ds, &err), XG_OK);
    CU_ASSERT_EQUAL(ds->n, 5);
    /* through HDF5 and back via the generic reader (content sniffing: no extension) */
    const char *h5 = tmp_h5("noext");
    CU_ASSERT_EQUAL(xg_dataset_write_h5(ds, h5, &err), XG_OK);
    xg_dataset_free(ds);
    CU_ASSERT_EQUAL(xg_input_detect(h5, &fmt, &err), XG_OK);
    CU_ASSERT_EQUAL(fmt, XG_INPUT_H5);
    CU_ASSERT_EQUAL_FATAL(xg_input_read(h5, &ds, &err), XG_OK);
    CU_ASSERT_EQUAL(ds->n, 5);
    CU_ASSERT_STRING_EQUAL(ds->ids[4], "xg-5");
    xg_dataset_free(ds);

    /* a CIF without extension is recognised by content; a CIF with two blocks gives two ids */
    const char *two = "data_A\n_cell_length_a 3\n_cell_length_b 3\n_cell_length_c 3\n"
                      "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                      "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
                      "_atom_site_fract_z\nCu 0 0 0\n"
                      "data_B\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                      "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                      "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
                      "_atom_site_fract_z\nFe 0 0 0\nFe 0.5 0.5 0.5\n";
    const char *p = xg_test_tmpfile("", two);
    CU_ASSERT_EQUAL(xg_input_detect(p, &fmt, &err), XG_OK);
    CU_ASSERT_EQUAL(fmt, XG_INPUT_CIF);
    CU_ASSERT_EQUAL_FATAL(xg_input_read(p, &ds, &err), XG_OK);
    CU_ASSERT_EQUAL(ds->n, 2);
    const char *base = strrchr(p, '/') + 1;
    char want[256];
    snprintf(want, sizeof want, "%s_B", base);
    CU_ASSERT_STRING_EQUAL(ds->ids[1], want);
    xg_dataset_free(ds);

    /* garbage and empty folders are errors, not crashes */
    p = xg_test_tmpfile(".dat", "\x01\x02 nothing here\n");
    CU_ASSERT_EQUAL(xg_input_read(p, &ds, &err), XG_EUNSUPPORTED);
    CU_ASSERT_PTR_NULL(ds);
    CU_ASSERT_EQUAL(xg_input_read(xg_test_tmpdir(), &ds, &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, "no CIF") != NULL);
    CU_ASSERT_EQUAL(xg_input_read("/nonexistent/x.cif", &ds, &err), XG_EIO);
}

/* Issue 14: the compact layout (shipped reference) and tolerant folder reading (screen). */
static void test_compact_and_tolerant(void)
{
    xg_error err = {0};
    xg_dataset *ds = sample();
    const char *path = tmp_h5("compact.h5");
    CU_ASSERT_EQUAL_FATAL(xg_dataset_write_h5_compact(ds, path, 1, &err), XG_OK);
    xg_dataset *back = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_dataset_read_h5(path, &back, &err), XG_OK);
    CU_ASSERT_EQUAL(back->n, 3);
    CU_ASSERT_EQUAL(back->m, 6);
    CU_ASSERT_EQUAL(back->nprops, 0); /* compact: structures only */
    CU_ASSERT_STRING_EQUAL(back->ids[2], ds->ids[2]);
    for (int64_t a = 0; a < ds->m; a++) {
        CU_ASSERT_EQUAL(back->types[a], ds->types[a]);
        for (int d = 0; d < 3; d++) /* float32 on disk */
            CU_ASSERT(fabs(back->frac[3 * a + d] - ds->frac[3 * a + d]) < 1e-7);
    }
    for (int k = 0; k < 9 * 3; k++)
        CU_ASSERT(fabs(back->lattices[k] - ds->lattices[k]) < 1e-6);
    xg_dataset_free(back);
    xg_dataset_free(ds);

    /* a folder with one good and one malformed CIF: strict reading fails naming the file,
     * tolerant reading keeps both, the bad one as a placeholder with no atoms */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tolerant", xg_test_tmpdir());
    CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
    char f1[700], f2[700];
    snprintf(f1, sizeof f1, "%s/a_good.cif", dir);
    snprintf(f2, sizeof f2, "%s/b_bad.cif", dir);
    FILE *f = fopen(f1, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("data_g\n_cell_length_a 3\n_cell_length_b 3\n_cell_length_c 3\n_cell_angle_alpha 90\n"
          "_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_type_symbol\n"
          "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nCu 0 0 0\n",
          f);
    fclose(f);
    f = fopen(f2, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("data_b\n_cell_length_a 3\nloop_\n_atom_site_type_symbol\nCu 0 0\n", f);
    fclose(f);
    CU_ASSERT_NOT_EQUAL(xg_input_read(dir, &ds, &err), XG_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "b_bad.cif"));
    xg_input_failure *fails = NULL;
    int64_t nf = -1;
    CU_ASSERT_EQUAL_FATAL(xg_input_read_tolerant(dir, NULL, NULL, &ds, &fails, &nf, &err), XG_OK);
    CU_ASSERT_EQUAL(ds->n, 2);
    CU_ASSERT_EQUAL(nf, 1);
    CU_ASSERT_EQUAL(fails[0].index, 1);
    CU_ASSERT_STRING_EQUAL(ds->ids[1], "b_bad");
    CU_ASSERT_EQUAL(xg_dataset_natoms(ds, 1), 0);
    CU_ASSERT_EQUAL(xg_dataset_natoms(ds, 0), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(fails[0].msg, "b_bad.cif"));
    free(fails);
    xg_dataset_free(ds);
}

/* The trainer's file, if the import has been run on this machine. */
static void test_data_cache(void)
{
    const char *path = "/work/data-cache/train.h5";
    if (!xg_test_exists(path)) {
        printf("\n    (skipped: %s not present)\n", path);
        return;
    }
    xg_error err = {0};
    xg_dataset *ds = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_dataset_read_h5(path, &ds, &err), XG_OK);
    CU_ASSERT_EQUAL(ds->n, 24862);
    CU_ASSERT(xg_dataset_find_property(ds, "dft_mag_density") >= 0);
    xg_dataset_free(ds);
}

static int write_v7(const char *path)
{
    xg_error err = {0};
    xg_dataset *ds = xg_dataset_alloc();
    xg_structure *s = toy(2, 11, "v7");
    xg_dataset_append(ds, s, NULL, &err);
    xg_structure_free(s);
    int rc = xg_dataset_write_h5(ds, path, &err);
    xg_dataset_free(ds);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return 1;
    set_version_7(f);
    H5Fclose(f);
    return 0;
}

/* generated.h5 grows in place (issue 19): appends in batches read back as one dataset, the
 * same appends give the same bytes, and a file written whole is not appended to. */
static void test_h5_append(void)
{
    xg_error err = {0};
    const char *p1 = tmp_h5("app1.h5"), *p2 = tmp_h5("app2.h5");
    xg_dataset *all = xg_dataset_alloc(), *head = xg_dataset_alloc();
    CU_ASSERT_EQUAL_FATAL(xg_dataset_set_attr(head, "seed", "7", &err), XG_OK);
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass ? p2 : p1;
        CU_ASSERT_EQUAL_FATAL(xg_dataset_h5_append(p, head, &err), XG_OK); /* empty, attrs */
        for (int b = 0; b < 5; b++) {
            xg_dataset *part = xg_dataset_alloc();
            for (int k = 0; k < 60; k++) { /* 5 x 60 x ~10 atoms: several chunks of each */
                char id[32];
                snprintf(id, sizeof id, "gen-%07d", b * 60 + k);
                xg_structure *s = toy(1 + (b * 60 + k) % 19, 1 + k % 80, id);
                CU_ASSERT_EQUAL_FATAL(xg_dataset_append(part, s, NULL, &err), XG_OK);
                if (pass == 0)
                    CU_ASSERT_EQUAL_FATAL(xg_dataset_append(all, s, NULL, &err), XG_OK);
                xg_structure_free(s);
            }
            CU_ASSERT_EQUAL_FATAL(xg_dataset_h5_append(p, part, &err), XG_OK);
            xg_dataset_free(part);
        }
    }
    xg_dataset *back = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_dataset_read_h5(p1, &back, &err), XG_OK);
    CU_ASSERT_EQUAL(back->n, all->n);
    CU_ASSERT_EQUAL(back->m, all->m);
    CU_ASSERT_EQUAL(memcmp(back->offsets, all->offsets, (size_t)(all->n + 1) * sizeof(int64_t)), 0);
    CU_ASSERT_EQUAL(memcmp(back->types, all->types, (size_t)all->m * sizeof(int32_t)), 0);
    CU_ASSERT_EQUAL(memcmp(back->frac, all->frac, (size_t)all->m * 3 * sizeof(double)), 0);
    CU_ASSERT_EQUAL(memcmp(back->lattices, all->lattices, (size_t)all->n * 9 * sizeof(double)), 0);
    CU_ASSERT_STRING_EQUAL(back->ids[299], "gen-0000299");
    CU_ASSERT_STRING_EQUAL(xg_dataset_get_attr(back, "seed"), "7");
    xg_dataset_free(back);
    /* same appends, same bytes */
    FILE *f1 = fopen(p1, "rb"), *f2 = fopen(p2, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f2);
    int c1, c2, same = 1;
    do {
        c1 = fgetc(f1);
        c2 = fgetc(f2);
        same &= c1 == c2;
    } while (c1 != EOF && c2 != EOF);
    fclose(f1);
    fclose(f2);
    CU_ASSERT(same);
    /* a file written whole (contiguous arrays) is refused with a message, and left alone */
    const char *whole = tmp_h5("whole.h5");
    CU_ASSERT_EQUAL_FATAL(xg_dataset_write_h5(all, whole, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_dataset_h5_append(whole, all, &err), XG_EPARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "extendible"));
    CU_ASSERT_EQUAL(xg_dataset_read_h5(whole, &back, &err), XG_OK);
    CU_ASSERT_EQUAL(back->n, all->n);
    xg_dataset_free(back);
    /* property columns must match */
    xg_dataset *withp = xg_dataset_alloc();
    CU_ASSERT(xg_dataset_add_property(withp, "band_gap", &err) >= 0);
    CU_ASSERT_EQUAL(xg_dataset_h5_append(p1, withp, &err), XG_EPARSE);
    xg_dataset_free(withp);
    xg_dataset_free(all);
    xg_dataset_free(head);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-v7"))
        return write_v7(argv[2]);
    CU_TestInfo tests[] = {
        {"in-memory dataset: append, properties, get", test_memory},
        {"HDF5 round trip (and empty dataset)", test_h5_roundtrip},
        {"HDF5 read from bytes in memory", test_h5_image},
        {"appendable HDF5: batches, same bytes, refusals", test_h5_append},
        {"hostile HDF5 files are refused clearly", test_hostile},
        {"xg_input: folders, CSV, HDF5, sniffing, errors", test_input_formats},
        {"compact layout; tolerant folder reading", test_compact_and_tolerant},
        {"data-cache train.h5 (when present)", test_data_cache},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("dataset", tests);
}
