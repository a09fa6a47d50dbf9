/* test_csv.c: the RFC 4180 reader (quotes, "" escapes, multi-line fields, CRLF, line numbers in
 * errors), strict number cells, the CDVAE/MatterGen table reader and property merging. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_csv.h"
#include "xg_test.h"

#define FIXTURE(name) XG_SOURCE_DIR "/tests/fixtures/" name

static void test_rfc4180(void)
{
    const char *text = "a,b,c\r\n"
                       "1,\"two, with comma\",3\r\n"
                       "\"multi\nline\r\nfield\",\"say \"\"hi\"\"\",\r\n"
                       "\r\n"
                       "x,,\"\"\n"
                       "last,row,no newline";
    const char *path = xg_test_tmpfile(".csv", text);
    xg_error err = {0};
    xg_csv_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_csv_open(path, &r, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_csv_ncolumns(r), 3);
    CU_ASSERT_EQUAL(xg_csv_column(r, "b"), 1);
    CU_ASSERT_EQUAL(xg_csv_column(r, "c"), 2); /* CRLF is not part of the last name */
    CU_ASSERT_EQUAL(xg_csv_column(r, "z"), -1);
    int got = 0;
    CU_ASSERT_EQUAL(xg_csv_next(r, &got, &err), XG_OK);
    CU_ASSERT_EQUAL(got, 1);
    CU_ASSERT_EQUAL(xg_csv_line(r), 2);
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 1), "two, with comma");
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 2), "3");
    CU_ASSERT_EQUAL(xg_csv_next(r, &got, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_csv_line(r), 3);
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 0), "multi\nline\r\nfield"); /* kept verbatim */
    CU_ASSERT_EQUAL(xg_csv_field_len(r, 0), strlen("multi\nline\r\nfield"));
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 1), "say \"hi\"");
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 2), "");
    CU_ASSERT_EQUAL(xg_csv_next(r, &got, &err), XG_OK); /* the blank line is skipped */
    CU_ASSERT_EQUAL(xg_csv_line(r), 7);
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 0), "x");
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 1), "");
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 2), "");
    CU_ASSERT_EQUAL(xg_csv_next(r, &got, &err), XG_OK);
    CU_ASSERT_EQUAL(got, 1);
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 2), "no newline");
    CU_ASSERT_EQUAL(xg_csv_next(r, &got, &err), XG_OK);
    CU_ASSERT_EQUAL(got, 0);
    CU_ASSERT_EQUAL(xg_csv_bytes_read(r), (long long)strlen(text));
    xg_csv_close(r);
}

static void test_bom_header(void)
{
    const char *path = xg_test_tmpfile(".csv", "\xEF\xBB\xBFmaterial_id,x\nm-1,2\n");
    xg_error err = {0};
    xg_csv_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_csv_open(path, &r, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_csv_column(r, "material_id"), 0);
    xg_csv_close(r);
}

/* Runs the reader over text until an error or the end; returns the status. */
static int read_all(const char *text, xg_error *err)
{
    const char *path = xg_test_tmpfile(".csv", text);
    xg_csv_reader *r = NULL;
    int rc = xg_csv_open(path, &r, err);
    int got = 1;
    while (rc == XG_OK && got)
        rc = xg_csv_next(r, &got, err);
    xg_csv_close(r);
    return rc;
}

static void test_errors(void)
{
    xg_error err = {0};
    CU_ASSERT_EQUAL(read_all("a,b,c\n1,2,3\n4,5\n", &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, ".csv:3: row has 2 fields, header has 3") != NULL);
    /* the line reported is where the record starts, even after multi-line fields */
    CU_ASSERT_EQUAL(read_all("a,b\n\"x\ny\nz\",1\n1,2,3\n", &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, ".csv:5: row has 3 fields") != NULL);
    CU_ASSERT_EQUAL(read_all("a,b\n1,\"open\nnever closed\n", &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, ".csv:2: quoted field") != NULL);
    CU_ASSERT_EQUAL(read_all("a,b\n\"x\"y,1\n", &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, "after a closing quote") != NULL);
    CU_ASSERT_EQUAL(read_all("", &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, "empty file") != NULL);
    xg_csv_reader *r = NULL;
    CU_ASSERT_EQUAL(xg_csv_open("/nonexistent/x.csv", &r, &err), XG_EIO);
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT_EQUAL(xg_csv_open("/tmp", &r, &err), XG_EIO);
}

static void test_numbers(void)
{
    double x = 0;
    CU_ASSERT(xg_csv_parse_number("1.5", &x) && x == 1.5);
    CU_ASSERT(xg_csv_parse_number(" -2e-3 ", &x) && x == -2e-3);
    CU_ASSERT(xg_csv_parse_number(".5", &x) && x == 0.5);
    CU_ASSERT(xg_csv_parse_number("225", &x) && x == 225);
    CU_ASSERT(xg_csv_parse_number("", &x) && isnan(x));
    CU_ASSERT(xg_csv_parse_number("nan", &x) && isnan(x));
    CU_ASSERT(xg_csv_parse_number("NaN", &x) && isnan(x));
    CU_ASSERT_FALSE(xg_csv_parse_number("abc", &x));
    CU_ASSERT_FALSE(xg_csv_parse_number("1.2.3", &x));
    CU_ASSERT_FALSE(xg_csv_parse_number("inf", &x));
    CU_ASSERT_FALSE(xg_csv_parse_number("In", &x));
    CU_ASSERT_FALSE(xg_csv_parse_number("TmMgHg2", &x));
    CU_ASSERT_FALSE(xg_csv_parse_number("['Cl', 'Na']", &x));
    CU_ASSERT_FALSE(xg_csv_parse_number("1e", &x));
    CU_ASSERT_FALSE(xg_csv_parse_number("-", &x));
}

static double prop(const xg_dataset *ds, int64_t i, const char *name)
{
    int k = xg_dataset_find_property(ds, name);
    CU_ASSERT_FATAL(k >= 0);
    return ds->props[i * ds->nprops + k];
}

static void test_cdvae_fixture(void)
{
    xg_error err = {0};
    xg_dataset *ds = NULL;
    int rc = xg_csv_read_cdvae(FIXTURE("cdvae_small.csv"), &ds, NULL, NULL, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, XG_OK);
    CU_ASSERT_EQUAL(ds->n, 5);
    CU_ASSERT_STRING_EQUAL(ds->ids[0], "xg-1");
    CU_ASSERT_STRING_EQUAL(ds->ids[4], "xg-5");
    CU_ASSERT_EQUAL(xg_dataset_natoms(ds, 0), 2);
    CU_ASSERT_EQUAL(xg_dataset_natoms(ds, 3), 4);
    CU_ASSERT_EQUAL(xg_dataset_natoms(ds, 4), 6); /* rutile expanded from its symmetry operations */
    CU_ASSERT_EQUAL(ds->m, 2 + 2 + 2 + 4 + 6);
    /* numeric columns are properties, text columns are not */
    CU_ASSERT_EQUAL(ds->nprops, 4);
    CU_ASSERT_EQUAL(xg_dataset_find_property(ds, "pretty_formula"), -1);
    CU_ASSERT_EQUAL(xg_dataset_find_property(ds, "elements"), -1);
    CU_ASSERT_EQUAL(xg_dataset_find_property(ds, "cif"), -1);
    XG_ASSERT_NEAR(prop(ds, 0, "formation_energy_per_atom"), -2.1, 1e-12);
    XG_ASSERT_NEAR(prop(ds, 3, "band_gap"), 0.7, 1e-12);
    CU_ASSERT(isnan(prop(ds, 1, "e_above_hull"))); /* blank is missing, not zero */
    XG_ASSERT_NEAR(prop(ds, 2, "e_above_hull"), 0.01, 1e-12);
    XG_ASSERT_NEAR(prop(ds, 4, "spacegroup.number"), 136, 0);

    long matched = -1;
    CU_ASSERT_EQUAL_FATAL(xg_csv_merge_properties(ds, FIXTURE("properties_small.csv"), &matched,
                                                  &err),
                          XG_OK);
    CU_ASSERT_EQUAL(matched, 3); /* xg-99 is not in the dataset */
    CU_ASSERT_EQUAL(ds->nprops, 6);  /* dft_mag_density, num_atoms; the note column is text */
    CU_ASSERT_EQUAL(xg_dataset_find_property(ds, "note"), -1);
    XG_ASSERT_NEAR(prop(ds, 0, "dft_mag_density"), 0.0, 0);
    CU_ASSERT(isnan(prop(ds, 1, "dft_mag_density"))); /* id absent from the table */
    CU_ASSERT(isnan(prop(ds, 2, "dft_mag_density"))); /* blank cell */
    XG_ASSERT_NEAR(prop(ds, 3, "dft_mag_density"), 0.015, 1e-12);
    XG_ASSERT_NEAR(prop(ds, 3, "num_atoms"), 4, 0);
    /* the earlier columns survived the re-layout */
    XG_ASSERT_NEAR(prop(ds, 4, "spacegroup.number"), 136, 0);
    XG_ASSERT_NEAR(prop(ds, 0, "formation_energy_per_atom"), -2.1, 1e-12);
    xg_dataset_free(ds);
}

static const char *mini_cif = "data_X\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                              "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                              "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n"
                              "_atom_site_fract_y\n_atom_site_fract_z\nFe 0 0 0\n";

static void test_cdvae_errors(void)
{
    xg_error err = {0};
    xg_dataset *ds = NULL;
    char text[2048];
    /* a missing cif column */
    const char *p = xg_test_tmpfile(".csv", "material_id,band_gap\nm-1,1\n");
    CU_ASSERT_EQUAL(xg_csv_read_cdvae(p, &ds, NULL, NULL, &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, "'cif'") != NULL);
    CU_ASSERT_PTR_NULL(ds);
    /* a broken CIF in row 3 (line 4, after a multi-line CIF): file, line and id named */
    snprintf(text, sizeof text,
             "material_id,cif,band_gap\nm-1,\"%s\",1\nm-2,\"data_broken\n_cell_length_a 4\n\",2\n",
             mini_cif);
    p = xg_test_tmpfile(".csv", text);
    int rc = xg_csv_read_cdvae(p, &ds, NULL, NULL, &err);
    CU_ASSERT_NOT_EQUAL(rc, XG_OK);
    CU_ASSERT_PTR_NULL(ds);
    char where[64];
    snprintf(where, sizeof where, ":%d: m-2", 2 + 14);
    CU_ASSERT(strstr(err.msg, where) != NULL);
    if (!strstr(err.msg, where))
        fprintf(stderr, "message was: %s\n", err.msg);
    /* a valid table: one structure, and a property column */
    snprintf(text, sizeof text, "material_id,cif,band_gap\nm-1,\"%s\",1.25\n", mini_cif);
    p = xg_test_tmpfile(".csv", text);
    CU_ASSERT_EQUAL_FATAL(xg_csv_read_cdvae(p, &ds, NULL, NULL, &err), XG_OK);
    CU_ASSERT_EQUAL(ds->n, 1);
    XG_ASSERT_NEAR(prop(ds, 0, "band_gap"), 1.25, 0);
    /* a property table without material_id */
    p = xg_test_tmpfile(".csv", "id,x\nm-1,2\n");
    CU_ASSERT_EQUAL(xg_csv_merge_properties(ds, p, NULL, &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, "material_id") != NULL);
    xg_dataset_free(ds);
}

typedef struct {
    long long last, total;
    int calls;
} progress_seen;

static void on_progress(void *ctx, long long done, long long total)
{
    progress_seen *p = ctx;
    CU_ASSERT(done >= p->last);
    p->last = done;
    p->total = total;
    p->calls++;
}

/* The real MP-20 validation table: 9,047 rows, the spacegroup.number column intact. */
static void test_mp20_val(void)
{
    const char *path = XG_SHARED_DATA "/mp_20/val.csv";
    if (!xg_test_exists(path)) {
        printf("\n    (skipped: %s not present)\n", path);
        return;
    }
    xg_error err = {0};
    xg_dataset *ds = NULL;
    progress_seen ps = {0};
    CU_ASSERT_EQUAL_FATAL(xg_csv_read_cdvae(path, &ds, on_progress, &ps, &err), XG_OK);
    CU_ASSERT_EQUAL(ds->n, 9047);
    CU_ASSERT_STRING_EQUAL(ds->ids[0], "mp-865981");
    XG_ASSERT_NEAR(prop(ds, 0, "spacegroup.number"), 225, 0);
    CU_ASSERT(ps.calls > 0);
    CU_ASSERT_EQUAL(ps.last, ps.total);
    for (int64_t i = 0; i < ds->n; i++)
        CU_ASSERT_FATAL(xg_dataset_natoms(ds, i) >= 1 && xg_dataset_natoms(ds, i) <= 20);
    xg_dataset_free(ds);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"RFC 4180: quotes, escapes, multi-line fields, CRLF", test_rfc4180},
        {"UTF-8 byte order mark before the header", test_bom_header},
        {"errors name file and line", test_errors},
        {"strict number cells", test_numbers},
        {"CDVAE fixture and property merge", test_cdvae_fixture},
        {"CDVAE errors", test_cdvae_errors},
        {"MP-20 val.csv (shared data)", test_mp20_val},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("csv", tests);
}
