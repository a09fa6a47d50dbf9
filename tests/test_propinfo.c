/* test_propinfo.c: the table of known dataset properties: units as shared/data/README.md gives
 * them, the short name --condition accepts, unknown names, and a table without duplicates. */
#include <string.h>

#include "xg_test.h"
#include "properties/xg_propinfo.h"

static void test_units(void)
{
    const xg_propinfo *p = xg_propinfo_find("e_above_hull");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->unit, "eV/atom");
    CU_ASSERT_STRING_EQUAL(xg_propinfo_find("formation_energy_per_atom")->unit, "eV/atom");
    CU_ASSERT_STRING_EQUAL(xg_propinfo_find("band_gap")->unit, "eV");
    CU_ASSERT_STRING_EQUAL(xg_propinfo_find("dft_mag_density")->unit, "muB/A^3");
    CU_ASSERT_STRING_EQUAL(xg_propinfo_find("dft_bulk_modulus")->unit, "GPa");
    CU_ASSERT_STRING_EQUAL(xg_propinfo_find("hhi_production")->unit, ""); /* an index */
    /* the short name of the magnetic density finds the same entry */
    CU_ASSERT_PTR_EQUAL(xg_propinfo_find("mag_density"), xg_propinfo_find("dft_mag_density"));
    CU_ASSERT_PTR_NULL(xg_propinfo_find("magnetism"));
    CU_ASSERT_PTR_NULL(xg_propinfo_find("chemsys")); /* a condition, not a scalar property */
    CU_ASSERT_PTR_NULL(xg_propinfo_find(""));
    CU_ASSERT_PTR_NULL(xg_propinfo_find(NULL));
}

static void test_table(void)
{
    int n = 0;
    for (const xg_propinfo *p; (p = xg_propinfo_get(n)) != NULL; n++) {
        CU_ASSERT(p->name[0] && p->unit && p->what && p->what[0]);
        CU_ASSERT_PTR_EQUAL(xg_propinfo_find(p->name), p); /* each name once */
    }
    CU_ASSERT(n >= 8);
    CU_ASSERT_PTR_NULL(xg_propinfo_get(-1));
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"units of the known properties", test_units},
        {"every entry is found by its name", test_table},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("propinfo", tests);
}
