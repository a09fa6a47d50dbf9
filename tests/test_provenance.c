/* test_provenance.c: the provenance record: its CIF block and POSCAR-title forms, its trip
 * through a dataset's HDF5 root attributes, and the crystal index of generate's ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_provenance.h"
#include "xg_test.h"

static void fill(xg_provenance *p)
{
    xg_provenance_init(p);
    snprintf(p->version, sizeof p->version, "0.1.0");
    snprintf(p->model, sizeof p->model, "m.h5");
    snprintf(p->model_sha256, sizeof p->model_sha256, "%064d", 7);
    snprintf(p->condition, sizeof p->condition, "dft_mag_density=0.15");
    snprintf(p->guidance, sizeof p->guidance, "2");
    snprintf(p->seed, sizeof p->seed, "42");
    snprintf(p->steps, sizeof p->steps, "100");
    p->index = 17;
}

static void test_format(void)
{
    xg_provenance p;
    fill(&p);
    char buf[2048];
    CU_ASSERT_EQUAL(xg_provenance_format(&p, 1, buf, sizeof buf), XG_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "xtalgen 0.1.0 model=m.h5 sha256=000"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, " condition=dft_mag_density=0.15 guidance=2 seed=42 steps=100 index=17"));
    CU_ASSERT_PTR_NULL(strchr(buf, '\n'));
    CU_ASSERT_EQUAL(xg_provenance_format(&p, 0, buf, sizeof buf), XG_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nseed: 42\nsteps: 100\ncrystal_index: 17"));
    CU_ASSERT_EQUAL(xg_provenance_format(&p, 0, buf, 20), XG_EINVAL);
    CU_ASSERT_STRING_EQUAL(buf, "");
    xg_provenance empty;
    xg_provenance_init(&empty);
    CU_ASSERT_EQUAL(xg_provenance_format(&empty, 1, buf, sizeof buf), XG_OK);
    CU_ASSERT_STRING_EQUAL(buf, "");
    CU_ASSERT_EQUAL(xg_provenance_index_of_id("gen-0000017"), 17);
    CU_ASSERT_EQUAL(xg_provenance_index_of_id("mp-149"), -1);
    CU_ASSERT_EQUAL(xg_provenance_index_of_id("gen-12x"), -1);

    /* the CIF block carries it as comments a CIF reader skips */
    xg_structure *s = xg_structure_alloc(1);
    s->types[0] = 29;
    s->lattice[0][0] = s->lattice[1][1] = s->lattice[2][2] = 3.6;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    xg_provenance_format(&p, 0, buf, sizeof buf);
    xg_error e;
    CU_ASSERT_EQUAL(xg_cif_write_annotated(f, s, buf, &e), XG_OK);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n# model_sha256: 000"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n# seed: 42\n"));
    xg_structure *back = NULL;
    CU_ASSERT_EQUAL(xg_cif_read_one_buffer(text, len, "t", &back, &e), XG_OK);
    CU_ASSERT_EQUAL(back ? back->natoms : 0, 1);
    xg_structure_free(back);
    free(text);
    xg_structure_free(s);
}

static void test_dataset_attrs(void)
{
    xg_dataset *ds = xg_dataset_alloc();
    xg_structure *s = xg_structure_alloc(1);
    s->types[0] = 14;
    s->lattice[0][0] = s->lattice[1][1] = s->lattice[2][2] = 5.4;
    snprintf(s->id, sizeof s->id, "gen-0000000");
    xg_error e;
    CU_ASSERT_EQUAL(xg_dataset_append(ds, s, NULL, &e), XG_OK);
    xg_provenance p, q;
    fill(&p);
    CU_ASSERT_EQUAL(xg_provenance_to_dataset(&p, ds, &e), XG_OK);
    CU_ASSERT_EQUAL(xg_dataset_set_attr(ds, "elements", "Li,Fe,O", &e), XG_OK);
    CU_ASSERT_EQUAL(xg_dataset_set_attr(ds, "seed", "43", &e), XG_OK); /* replaces */
    CU_ASSERT_EQUAL(xg_dataset_set_attr(ds, "format", "x", &e), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_dataset_set_attr(ds, "", "x", &e), XG_EINVAL);
    char path[600];
    snprintf(path, sizeof path, "%s/d.h5", xg_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(xg_dataset_write_h5(ds, path, &e), XG_OK);
    xg_dataset *r = NULL;
    CU_ASSERT_EQUAL_FATAL(xg_dataset_read_h5(path, &r, &e), XG_OK);
    CU_ASSERT(xg_provenance_from_dataset(r, &q));
    CU_ASSERT_STRING_EQUAL(q.model_sha256, p.model_sha256);
    CU_ASSERT_STRING_EQUAL(q.condition, "dft_mag_density=0.15");
    CU_ASSERT_STRING_EQUAL(q.seed, "43");
    CU_ASSERT_STRING_EQUAL(q.template_sg, "");
    CU_ASSERT_STRING_EQUAL(xg_dataset_get_attr(r, "elements"), "Li,Fe,O");
    CU_ASSERT_PTR_NULL(xg_dataset_get_attr(r, "format"));
    CU_ASSERT_EQUAL(r->n, 1);
    xg_dataset_free(r);
    xg_dataset_free(ds);
    xg_structure_free(s);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"formats, CIF comment block, crystal index", test_format},
        {"dataset root attributes round trip", test_dataset_attrs},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("provenance", tests);
}
