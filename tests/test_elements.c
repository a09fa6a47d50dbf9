/* test_elements.c: the element table (consistency and spot values from the cited sources),
 * symbol parsing, and the named element sets used by --exclude-elements. */
#include <math.h>
#include <string.h>

#include "crystal/xg_elements.h"
#include "xg_test.h"

static int count_mask(const unsigned char mask[XG_MAX_Z + 1])
{
    int n = 0;
    for (int z = 0; z <= XG_MAX_Z; z++)
        n += mask[z] != 0;
    return n;
}

static void test_table_consistency(void)
{
    CU_ASSERT_PTR_NULL(xg_element_get(0));
    CU_ASSERT_PTR_NULL(xg_element_get(-3));
    CU_ASSERT_PTR_NULL(xg_element_get(XG_MAX_Z + 1));
    for (int z = 1; z <= XG_MAX_Z; z++) {
        const xg_element *e = xg_element_get(z);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_EQUAL(e->z, z);
        CU_ASSERT(strlen(e->symbol) >= 1 && strlen(e->symbol) <= 2);
        CU_ASSERT(strlen(e->name) >= 3);
        CU_ASSERT_EQUAL(xg_element_from_symbol(e->symbol), z);
        CU_ASSERT(e->mass > 0.9 * z && e->mass < 2.7 * z + 1);
        CU_ASSERT(e->covalent_radius > 0.2 && e->covalent_radius < 3.0);
        CU_ASSERT(e->n_oxidation_states >= 0 && e->n_oxidation_states <= XG_MAX_OXI);
        for (int k = 0; k < e->n_oxidation_states; k++)
            CU_ASSERT(e->oxidation_states[k] >= -4 && e->oxidation_states[k] <= 8);
        if (!isnan(e->electronegativity))
            CU_ASSERT(e->electronegativity >= 0.7 && e->electronegativity <= 3.98);
        /* A rare earth is always a metal. */
        if (e->is_rare_earth)
            CU_ASSERT(e->is_metal);
    }
    /* Mass increases with Z except at the known inversions Ar/K, Co/Ni, Te/I, Th/Pa, U/Np and
     * Pu/Am (the last two by longest-lived isotope); a typo in a mass would add or hide one. */
    int inversions = 0;
    for (int z = 2; z <= 96; z++)
        if (xg_element_get(z)->mass < xg_element_get(z - 1)->mass)
            inversions++;
    CU_ASSERT_EQUAL(inversions, 6); /* K<Ar, Ni<Co, I<Te, Pa<Th, Np<U, Am<Pu */
    CU_ASSERT(xg_element_get(19)->mass < xg_element_get(18)->mass);
    CU_ASSERT(xg_element_get(28)->mass < xg_element_get(27)->mass);
    CU_ASSERT(xg_element_get(53)->mass < xg_element_get(52)->mass);
}

static void test_spot_values(void)
{
    const xg_element *fe = xg_element_get(26);
    CU_ASSERT_STRING_EQUAL(fe->symbol, "Fe");
    CU_ASSERT_STRING_EQUAL(fe->name, "Iron");
    XG_ASSERT_NEAR(fe->mass, 55.845, 1e-3);
    XG_ASSERT_NEAR(fe->electronegativity, 1.83, 1e-9);
    XG_ASSERT_NEAR(fe->covalent_radius, 1.32, 1e-9);
    CU_ASSERT_EQUAL(fe->n_oxidation_states, 2);
    CU_ASSERT(fe->oxidation_states[0] == 2 && fe->oxidation_states[1] == 3);

    const xg_element *o = xg_element_get(8);
    XG_ASSERT_NEAR(o->electronegativity, 3.44, 1e-9);
    CU_ASSERT(o->n_oxidation_states == 1 && o->oxidation_states[0] == -2);
    CU_ASSERT_FALSE(o->is_metal);

    const xg_element *n = xg_element_get(7);
    CU_ASSERT(n->n_oxidation_states == 3 && n->oxidation_states[0] == -3 &&
              n->oxidation_states[1] == 3 && n->oxidation_states[2] == 5);
    const xg_element *cl = xg_element_get(17);
    int cl_ox[] = {-1, 1, 3, 5, 7};
    CU_ASSERT_EQUAL_FATAL(cl->n_oxidation_states, 5);
    for (int k = 0; k < 5; k++)
        CU_ASSERT_EQUAL(cl->oxidation_states[k], cl_ox[k]);

    XG_ASSERT_NEAR(xg_element_get(1)->mass, 1.008, 1e-3);
    XG_ASSERT_NEAR(xg_element_get(6)->covalent_radius, 0.76, 1e-9); /* Cordero sp3 */
    XG_ASSERT_NEAR(xg_element_get(92)->mass, 238.029, 1e-3);
    XG_ASSERT_NEAR(xg_element_get(9)->electronegativity, 3.98, 1e-9);
    XG_ASSERT_NEAR(xg_element_get(36)->electronegativity, 3.0, 1e-9);
    XG_ASSERT_NEAR(xg_element_get(54)->electronegativity, 2.6, 1e-9);
    /* No Pauling value for the light noble gases; none of them has a common oxidation state. */
    CU_ASSERT(isnan(xg_element_get(2)->electronegativity));
    CU_ASSERT(isnan(xg_element_get(10)->electronegativity));
    CU_ASSERT(isnan(xg_element_get(18)->electronegativity));
    int noble[] = {2, 10, 18, 36, 54, 86};
    for (int k = 0; k < 6; k++)
        CU_ASSERT_EQUAL(xg_element_get(noble[k])->n_oxidation_states, 0);
}

static void test_metal_and_rare_earth_flags(void)
{
    const char *metals[] = {"Li", "Cs", "Be", "Ba", "Sc", "Fe", "Hg", "Al", "Ga", "In", "Sn",
                            "Tl", "Pb", "Bi", "Po", "La", "Lu", "Ac", "U",  "Lr"};
    const char *nonmetals[] = {"H", "He", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl",
                               "Ge", "As", "Se", "Sb", "Te", "I", "Xe", "At", "Rn"};
    for (size_t k = 0; k < sizeof metals / sizeof metals[0]; k++)
        CU_ASSERT_TRUE(xg_element_get(xg_element_from_symbol(metals[k]))->is_metal);
    for (size_t k = 0; k < sizeof nonmetals / sizeof nonmetals[0]; k++)
        CU_ASSERT_FALSE(xg_element_get(xg_element_from_symbol(nonmetals[k]))->is_metal);
    int nre = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        nre += xg_element_get(z)->is_rare_earth;
    CU_ASSERT_EQUAL(nre, 17);
    CU_ASSERT_TRUE(xg_element_get(21)->is_rare_earth);
    CU_ASSERT_TRUE(xg_element_get(39)->is_rare_earth);
    CU_ASSERT_TRUE(xg_element_get(57)->is_rare_earth);
    CU_ASSERT_TRUE(xg_element_get(71)->is_rare_earth);
    CU_ASSERT_FALSE(xg_element_get(72)->is_rare_earth);
    CU_ASSERT_FALSE(xg_element_get(89)->is_rare_earth);
}

static void test_symbols(void)
{
    CU_ASSERT_EQUAL(xg_element_from_symbol("Fe"), 26);
    CU_ASSERT_EQUAL(xg_element_from_symbol("Lr"), 103);
    CU_ASSERT_EQUAL(xg_element_from_symbol("fe"), 0); /* case-sensitive */
    CU_ASSERT_EQUAL(xg_element_from_symbol("FE"), 0);
    CU_ASSERT_EQUAL(xg_element_from_symbol(""), 0);
    CU_ASSERT_EQUAL(xg_element_from_symbol(NULL), 0);
    CU_ASSERT_EQUAL(xg_element_from_symbol("Xx"), 0);
    CU_ASSERT_EQUAL(xg_element_from_symbol("Fee"), 0);
    CU_ASSERT_EQUAL(xg_element_from_symbol("D"), 0);
}

static void test_parse_prefix(void)
{
    const char *end = NULL;
    const char *s = "Fe2+";
    CU_ASSERT_EQUAL(xg_element_parse_prefix(s, &end), 26);
    CU_ASSERT_PTR_EQUAL(end, s + 2);
    s = "O1";
    CU_ASSERT_EQUAL(xg_element_parse_prefix(s, &end), 8);
    CU_ASSERT_PTR_EQUAL(end, s + 1);
    s = "Na";
    CU_ASSERT_EQUAL(xg_element_parse_prefix(s, &end), 11);
    CU_ASSERT_PTR_EQUAL(end, s + 2);
    /* Two letters win when they form a symbol: Cs, not C. */
    s = "Cs0";
    CU_ASSERT_EQUAL(xg_element_parse_prefix(s, &end), 55);
    CU_ASSERT_PTR_EQUAL(end, s + 2);
    /* An upper-case second letter starts the next symbol. */
    s = "CO";
    CU_ASSERT_EQUAL(xg_element_parse_prefix(s, &end), 6);
    CU_ASSERT_PTR_EQUAL(end, s + 1);
    /* "Bx": no element Bx, so B. */
    s = "Bx";
    CU_ASSERT_EQUAL(xg_element_parse_prefix(s, &end), 5);
    CU_ASSERT_PTR_EQUAL(end, s + 1);
    s = "Xx";
    CU_ASSERT_EQUAL(xg_element_parse_prefix(s, &end), 0);
    CU_ASSERT_PTR_EQUAL(end, s);
    s = "2Fe";
    CU_ASSERT_EQUAL(xg_element_parse_prefix(s, &end), 0);
    CU_ASSERT_PTR_EQUAL(end, s);
    CU_ASSERT_EQUAL(xg_element_parse_prefix("", NULL), 0);
    CU_ASSERT_EQUAL(xg_element_parse_prefix(NULL, NULL), 0);
    CU_ASSERT_EQUAL(xg_element_parse_prefix("U", NULL), 92);
}

static void test_named_sets(void)
{
    struct {
        const char *name;
        int count;
        int member, nonmember;
    } cases[] = {
        {"rare-earths", 17, 66, 72},     {"noble-gases", 6, 86, 1},
        {"radioactive", 22, 43, 83},     {"lanthanides", 15, 71, 39},
        {"actinides", 15, 89, 88},       {"alkali", 6, 87, 1},
        {"alkaline-earths", 6, 4, 3},    {"halogens", 5, 85, 2},
        {"transition-metals", 31, 80, 13},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char mask[XG_MAX_Z + 1] = {0};
        xg_error err;
        CU_ASSERT_EQUAL_FATAL(xg_element_set_parse(cases[k].name, mask, &err), XG_OK);
        CU_ASSERT_EQUAL(count_mask(mask), cases[k].count);
        CU_ASSERT_EQUAL(mask[cases[k].member], 1);
        CU_ASSERT_EQUAL(mask[cases[k].nonmember], 0);
        CU_ASSERT_EQUAL(mask[0], 0);
    }
    /* Radioactive: Tc, Pm and everything from Po up; not Bi. */
    unsigned char mask[XG_MAX_Z + 1] = {0};
    CU_ASSERT_EQUAL(xg_element_set_parse("radioactive", mask, NULL), XG_OK);
    CU_ASSERT(mask[43] && mask[61] && mask[84] && mask[103] && !mask[83] && !mask[42]);
}

static void test_set_lists_and_errors(void)
{
    unsigned char mask[XG_MAX_Z + 1] = {0};
    xg_error err;
    CU_ASSERT_EQUAL(xg_element_set_parse("Fe, O ,rare-earths", mask, &err), XG_OK);
    CU_ASSERT_EQUAL(count_mask(mask), 19);
    CU_ASSERT(mask[26] && mask[8] && mask[21]);
    /* A second spec accumulates through _add. */
    CU_ASSERT_EQUAL(xg_element_set_add("Co", mask, &err), XG_OK);
    CU_ASSERT_EQUAL(count_mask(mask), 20);
    /* Set names are case-insensitive, symbols are not. */
    CU_ASSERT_EQUAL(xg_element_set_add("Noble-Gases", mask, &err), XG_OK);
    CU_ASSERT_EQUAL(count_mask(mask), 26);

    /* Unknown names fail, name the culprit, and leave the mask as it was. */
    unsigned char before[XG_MAX_Z + 1];
    memcpy(before, mask, sizeof before);
    xg_error_clear(&err);
    CU_ASSERT_EQUAL(xg_element_set_parse("Ni,unobtainium", mask, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(err.code, XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unobtainium"));
    CU_ASSERT_EQUAL(memcmp(before, mask, sizeof before), 0);
    CU_ASSERT_EQUAL(xg_element_set_add("Ni,unobtainium", mask, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(memcmp(before, mask, sizeof before), 0);
    CU_ASSERT_EQUAL(xg_element_set_parse("fe", mask, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_element_set_parse("Fe,,O", mask, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_element_set_parse("", mask, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_element_set_parse("Fe,", mask, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_element_set_parse("rare-earth", mask, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(xg_element_set_parse(NULL, mask, &err), XG_EINVAL);
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CU_ASSERT_EQUAL(xg_element_set_parse(longname, mask, &err), XG_EINVAL);
    CU_ASSERT_EQUAL(memcmp(before, mask, sizeof before), 0);
}

/* Issue 12: parse must write every entry, whatever the caller's buffer held before (an
 * uninitialised stack mask excluded random elements from generation). */
static void test_set_parse_overwrites(void)
{
    unsigned char mask[XG_MAX_Z + 1];
    memset(mask, 0xA5, sizeof mask);
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_element_set_parse("rare-earths", mask, &err), XG_OK);
    CU_ASSERT_EQUAL(count_mask(mask), 17);
    for (int z = 1; z <= XG_MAX_Z; z++)
        CU_ASSERT(mask[z] == 0 || mask[z] == 1);
    CU_ASSERT_EQUAL(mask[26], 0); /* Fe, the element the garbage once took away */
    CU_ASSERT_EQUAL(mask[57], 1);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"table consistency", test_table_consistency},
        {"spot values", test_spot_values},
        {"metal and rare-earth flags", test_metal_and_rare_earth_flags},
        {"symbols", test_symbols},
        {"parse prefix", test_parse_prefix},
        {"named sets", test_named_sets},
        {"set lists and errors", test_set_lists_and_errors},
        {"set parse overwrites the mask", test_set_parse_overwrites},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("elements", tests);
}
