/* xg_elements.c: the periodic table for Z = 1..103, typed in as data.
 *
 * Sources of the columns:
 *  - mass: IUPAC standard atomic weights (CIAAW 2021, conventional/abridged values where the
 *    standard weight is an interval); for elements without stable isotopes the mass number of the
 *    longest-lived (or most commonly quoted) isotope, as IUPAC brackets it (Tc 98, Pm 145, ...).
 *  - electronegativity: Pauling scale, the values pymatgen ships (taken from WebElements), NAN for
 *    He, Ne and Ar where no Pauling value is defined. Kr 3.0, Xe 2.6, Rn 2.2 as pymatgen lists.
 *  - covalent_radius: Cordero et al., "Covalent radii revisited", Dalton Trans. 2008, 2832-2838
 *    (C: sp3 value 0.76; Mn, Fe, Co: low-spin values). Cordero stops at Cm (Z = 96); for Bk..Lr
 *    we use 1.50 A, an extrapolation of the actinide contraction, not a measured number.
 *  - oxidation states: pymatgen's "common_oxidation_states" (the bold states of the standard
 *    tables), the set SMACT-style charge-neutrality checks use. Noble gases get none, so a noble
 *    gas compound is only "valid" through the elemental / all-metal rule.
 *  - is_metal: pymatgen-like: alkali, alkaline earth, transition metals, the post-transition
 *    metals Al Ga In Sn Tl Pb Bi Po, lanthanides and actinides. Metalloids (B Si Ge As Sb Te)
 *    are not metals.
 *  - is_rare_earth: Sc, Y, La..Lu (the 17 rare earths).
 */
#include "crystal/xg_elements.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#define M 1 /* metal */
#define N 0 /* non-metal or metalloid */
#define RE 1
#define NO 0
#define OX0 0, {0}
#define OX1(a) 1, {a}
#define OX2(a, b) 2, {a, b}
#define OX3(a, b, c) 3, {a, b, c}
#define OX4(a, b, c, d) 4, {a, b, c, d}
#define OX5(a, b, c, d, e) 5, {a, b, c, d, e}

static const xg_element table[XG_MAX_Z + 1] = {
    {0, "", "", 0.0, NAN, 0.0, OX0, N, NO}, /* index 0 unused */
    {1, "H", "Hydrogen", 1.008, 2.20, 0.31, OX2(-1, 1), N, NO},
    {2, "He", "Helium", 4.002602, NAN, 0.28, OX0, N, NO},
    {3, "Li", "Lithium", 6.94, 0.98, 1.28, OX1(1), M, NO},
    {4, "Be", "Beryllium", 9.0121831, 1.57, 0.96, OX1(2), M, NO},
    {5, "B", "Boron", 10.81, 2.04, 0.84, OX1(3), N, NO},
    {6, "C", "Carbon", 12.011, 2.55, 0.76, OX2(-4, 4), N, NO},
    {7, "N", "Nitrogen", 14.007, 3.04, 0.71, OX3(-3, 3, 5), N, NO},
    {8, "O", "Oxygen", 15.999, 3.44, 0.66, OX1(-2), N, NO},
    {9, "F", "Fluorine", 18.998403163, 3.98, 0.57, OX1(-1), N, NO},
    {10, "Ne", "Neon", 20.1797, NAN, 0.58, OX0, N, NO},
    {11, "Na", "Sodium", 22.98976928, 0.93, 1.66, OX1(1), M, NO},
    {12, "Mg", "Magnesium", 24.305, 1.31, 1.41, OX1(2), M, NO},
    {13, "Al", "Aluminium", 26.9815384, 1.61, 1.21, OX1(3), M, NO},
    {14, "Si", "Silicon", 28.085, 1.90, 1.11, OX2(-4, 4), N, NO},
    {15, "P", "Phosphorus", 30.973761998, 2.19, 1.07, OX3(-3, 3, 5), N, NO},
    {16, "S", "Sulfur", 32.06, 2.58, 1.05, OX4(-2, 2, 4, 6), N, NO},
    {17, "Cl", "Chlorine", 35.45, 3.16, 1.02, OX5(-1, 1, 3, 5, 7), N, NO},
    {18, "Ar", "Argon", 39.95, NAN, 1.06, OX0, N, NO},
    {19, "K", "Potassium", 39.0983, 0.82, 2.03, OX1(1), M, NO},
    {20, "Ca", "Calcium", 40.078, 1.00, 1.76, OX1(2), M, NO},
    {21, "Sc", "Scandium", 44.955907, 1.36, 1.70, OX1(3), M, RE},
    {22, "Ti", "Titanium", 47.867, 1.54, 1.60, OX1(4), M, NO},
    {23, "V", "Vanadium", 50.9415, 1.63, 1.53, OX1(5), M, NO},
    {24, "Cr", "Chromium", 51.9961, 1.66, 1.39, OX2(3, 6), M, NO},
    {25, "Mn", "Manganese", 54.938043, 1.55, 1.39, OX3(2, 4, 7), M, NO},
    {26, "Fe", "Iron", 55.845, 1.83, 1.32, OX2(2, 3), M, NO},
    {27, "Co", "Cobalt", 58.933194, 1.88, 1.26, OX2(2, 3), M, NO},
    {28, "Ni", "Nickel", 58.6934, 1.91, 1.24, OX1(2), M, NO},
    {29, "Cu", "Copper", 63.546, 1.90, 1.32, OX1(2), M, NO},
    {30, "Zn", "Zinc", 65.38, 1.65, 1.22, OX1(2), M, NO},
    {31, "Ga", "Gallium", 69.723, 1.81, 1.22, OX1(3), M, NO},
    {32, "Ge", "Germanium", 72.630, 2.01, 1.20, OX3(-4, 2, 4), N, NO},
    {33, "As", "Arsenic", 74.921595, 2.18, 1.19, OX3(-3, 3, 5), N, NO},
    {34, "Se", "Selenium", 78.971, 2.55, 1.20, OX4(-2, 2, 4, 6), N, NO},
    {35, "Br", "Bromine", 79.904, 2.96, 1.20, OX4(-1, 1, 3, 5), N, NO},
    {36, "Kr", "Krypton", 83.798, 3.00, 1.16, OX0, N, NO},
    {37, "Rb", "Rubidium", 85.4678, 0.82, 2.20, OX1(1), M, NO},
    {38, "Sr", "Strontium", 87.62, 0.95, 1.95, OX1(2), M, NO},
    {39, "Y", "Yttrium", 88.905838, 1.22, 1.90, OX1(3), M, RE},
    {40, "Zr", "Zirconium", 91.224, 1.33, 1.75, OX1(4), M, NO},
    {41, "Nb", "Niobium", 92.90637, 1.60, 1.64, OX1(5), M, NO},
    {42, "Mo", "Molybdenum", 95.95, 2.16, 1.54, OX2(4, 6), M, NO},
    {43, "Tc", "Technetium", 98.0, 1.90, 1.47, OX2(4, 7), M, NO},
    {44, "Ru", "Ruthenium", 101.07, 2.20, 1.46, OX2(3, 4), M, NO},
    {45, "Rh", "Rhodium", 102.90549, 2.28, 1.42, OX1(3), M, NO},
    {46, "Pd", "Palladium", 106.42, 2.20, 1.39, OX3(0, 2, 4), M, NO},
    {47, "Ag", "Silver", 107.8682, 1.93, 1.45, OX1(1), M, NO},
    {48, "Cd", "Cadmium", 112.414, 1.69, 1.44, OX1(2), M, NO},
    {49, "In", "Indium", 114.818, 1.78, 1.42, OX1(3), M, NO},
    {50, "Sn", "Tin", 118.710, 1.96, 1.39, OX3(-4, 2, 4), M, NO},
    {51, "Sb", "Antimony", 121.760, 2.05, 1.39, OX3(-3, 3, 5), N, NO},
    {52, "Te", "Tellurium", 127.60, 2.10, 1.38, OX4(-2, 2, 4, 6), N, NO},
    {53, "I", "Iodine", 126.90447, 2.66, 1.39, OX5(-1, 1, 3, 5, 7), N, NO},
    {54, "Xe", "Xenon", 131.293, 2.60, 1.40, OX0, N, NO},
    {55, "Cs", "Caesium", 132.90545196, 0.79, 2.44, OX1(1), M, NO},
    {56, "Ba", "Barium", 137.327, 0.89, 2.15, OX1(2), M, NO},
    {57, "La", "Lanthanum", 138.90547, 1.10, 2.07, OX1(3), M, RE},
    {58, "Ce", "Cerium", 140.116, 1.12, 2.04, OX2(3, 4), M, RE},
    {59, "Pr", "Praseodymium", 140.90766, 1.13, 2.03, OX1(3), M, RE},
    {60, "Nd", "Neodymium", 144.242, 1.14, 2.01, OX1(3), M, RE},
    {61, "Pm", "Promethium", 145.0, 1.13, 1.99, OX1(3), M, RE},
    {62, "Sm", "Samarium", 150.36, 1.17, 1.98, OX1(3), M, RE},
    {63, "Eu", "Europium", 151.964, 1.20, 1.98, OX2(2, 3), M, RE},
    {64, "Gd", "Gadolinium", 157.25, 1.20, 1.96, OX1(3), M, RE},
    {65, "Tb", "Terbium", 158.925354, 1.10, 1.94, OX1(3), M, RE},
    {66, "Dy", "Dysprosium", 162.500, 1.22, 1.92, OX1(3), M, RE},
    {67, "Ho", "Holmium", 164.930329, 1.23, 1.92, OX1(3), M, RE},
    {68, "Er", "Erbium", 167.259, 1.24, 1.89, OX1(3), M, RE},
    {69, "Tm", "Thulium", 168.934219, 1.25, 1.90, OX1(3), M, RE},
    {70, "Yb", "Ytterbium", 173.045, 1.10, 1.87, OX1(3), M, RE},
    {71, "Lu", "Lutetium", 174.9668, 1.27, 1.87, OX1(3), M, RE},
    {72, "Hf", "Hafnium", 178.49, 1.30, 1.75, OX1(4), M, NO},
    {73, "Ta", "Tantalum", 180.94788, 1.50, 1.70, OX1(5), M, NO},
    {74, "W", "Tungsten", 183.84, 2.36, 1.62, OX2(4, 6), M, NO},
    {75, "Re", "Rhenium", 186.207, 1.90, 1.51, OX1(4), M, NO},
    {76, "Os", "Osmium", 190.23, 2.20, 1.44, OX1(4), M, NO},
    {77, "Ir", "Iridium", 192.217, 2.20, 1.41, OX2(3, 4), M, NO},
    {78, "Pt", "Platinum", 195.084, 2.28, 1.36, OX2(2, 4), M, NO},
    {79, "Au", "Gold", 196.966570, 2.54, 1.36, OX1(3), M, NO},
    {80, "Hg", "Mercury", 200.592, 2.00, 1.32, OX2(1, 2), M, NO},
    {81, "Tl", "Thallium", 204.38, 1.62, 1.45, OX2(1, 3), M, NO},
    {82, "Pb", "Lead", 207.2, 2.33, 1.46, OX2(2, 4), M, NO},
    {83, "Bi", "Bismuth", 208.98040, 2.02, 1.48, OX1(3), M, NO},
    {84, "Po", "Polonium", 209.0, 2.00, 1.40, OX3(-2, 2, 4), M, NO},
    {85, "At", "Astatine", 210.0, 2.20, 1.50, OX2(-1, 1), N, NO},
    {86, "Rn", "Radon", 222.0, 2.20, 1.50, OX0, N, NO},
    {87, "Fr", "Francium", 223.0, 0.70, 2.60, OX1(1), M, NO},
    {88, "Ra", "Radium", 226.0, 0.90, 2.21, OX1(2), M, NO},
    {89, "Ac", "Actinium", 227.0, 1.10, 2.15, OX1(3), M, NO},
    {90, "Th", "Thorium", 232.0377, 1.30, 2.06, OX1(4), M, NO},
    {91, "Pa", "Protactinium", 231.03588, 1.50, 2.00, OX1(5), M, NO},
    {92, "U", "Uranium", 238.02891, 1.38, 1.96, OX1(6), M, NO},
    {93, "Np", "Neptunium", 237.0, 1.36, 1.90, OX1(5), M, NO},
    {94, "Pu", "Plutonium", 244.0, 1.28, 1.87, OX1(4), M, NO},
    {95, "Am", "Americium", 243.0, 1.13, 1.80, OX1(3), M, NO},
    {96, "Cm", "Curium", 247.0, 1.28, 1.69, OX1(3), M, NO},
    /* Cordero et al. give no radius beyond Cm: 1.50 A below is an extrapolated placeholder. */
    {97, "Bk", "Berkelium", 247.0, 1.30, 1.50, OX1(3), M, NO},
    {98, "Cf", "Californium", 251.0, 1.30, 1.50, OX1(3), M, NO},
    {99, "Es", "Einsteinium", 252.0, 1.30, 1.50, OX1(3), M, NO},
    {100, "Fm", "Fermium", 257.0, 1.30, 1.50, OX1(3), M, NO},
    {101, "Md", "Mendelevium", 258.0, 1.30, 1.50, OX1(3), M, NO},
    {102, "No", "Nobelium", 259.0, 1.30, 1.50, OX1(2), M, NO},
    {103, "Lr", "Lawrencium", 262.0, 1.30, 1.50, OX1(3), M, NO},
};

const xg_element *xg_element_get(int z)
{
    if (z < 1 || z > XG_MAX_Z)
        return NULL;
    return &table[z];
}

int xg_element_period(int z)
{
    static const int last[] = {2, 10, 18, 36, 54, 86, 118};
    if (z < 1 || z > XG_MAX_Z)
        return 0;
    int p = 0;
    while (z > last[p])
        p++;
    return p + 1;
}

int xg_element_group(int z)
{
    int p = xg_element_period(z);
    if (p == 0)
        return 0;
    if (p == 1)
        return z == 1 ? 1 : 18;
    static const int first[] = {0, 1, 3, 11, 19, 37, 55, 87};
    int pos = z - first[p] + 1; /* 1-based place in the period */
    if (p <= 3)
        return pos <= 2 ? pos : pos + 10;
    if (p <= 5)
        return pos;
    if (pos <= 2)
        return pos;
    if (pos <= 17)
        return 3; /* La..Lu, Ac..Lr */
    return pos - 14;
}

int xg_element_from_symbol(const char *symbol)
{
    if (!symbol || !symbol[0] || strlen(symbol) > 2)
        return 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (strcmp(table[z].symbol, symbol) == 0)
            return z;
    return 0;
}

int xg_element_parse_prefix(const char *s, const char **end)
{
    if (end)
        *end = s;
    if (!s || !isalpha((unsigned char)s[0]))
        return 0;
    /* The first letter may come in either case ("fe" in sloppy files); a second letter only
     * belongs to the symbol when it is lower case, so "CO" reads as C followed by O. */
    char sym[3] = {(char)toupper((unsigned char)s[0]), 0, 0};
    if (islower((unsigned char)s[1])) {
        sym[1] = s[1];
        int z = xg_element_from_symbol(sym);
        if (z) {
            if (end)
                *end = s + 2;
            return z;
        }
        sym[1] = 0;
    }
    int z = xg_element_from_symbol(sym);
    if (z && end)
        *end = s + 1;
    return z;
}

/* Named sets, each a predicate on Z, so the ranges stay readable and checkable. */
static int in_rare_earths(int z) { return z == 21 || z == 39 || (z >= 57 && z <= 71); }
static int in_noble_gases(int z)
{
    return z == 2 || z == 10 || z == 18 || z == 36 || z == 54 || z == 86;
}
static int in_radioactive(int z) { return z == 43 || z == 61 || z >= 84; }
static int in_lanthanides(int z) { return z >= 57 && z <= 71; }
static int in_actinides(int z) { return z >= 89 && z <= 103; }
static int in_alkali(int z) { return z == 3 || z == 11 || z == 19 || z == 37 || z == 55 || z == 87; }
static int in_alkaline_earths(int z)
{
    return z == 4 || z == 12 || z == 20 || z == 38 || z == 56 || z == 88;
}
static int in_halogens(int z) { return z == 9 || z == 17 || z == 35 || z == 53 || z == 85; }
/* d-block as pymatgen's is_transition_metal counts it: groups 3-12, with La and Ac. */
static int in_transition_metals(int z)
{
    return (z >= 21 && z <= 30) || (z >= 39 && z <= 48) || z == 57 || (z >= 72 && z <= 80) ||
           z == 89;
}

static const struct {
    const char *name;
    int (*member)(int z);
} named_sets[] = {
    {"rare-earths", in_rare_earths},
    {"noble-gases", in_noble_gases},
    {"radioactive", in_radioactive},
    {"lanthanides", in_lanthanides},
    {"actinides", in_actinides},
    {"alkali", in_alkali},
    {"alkaline-earths", in_alkaline_earths},
    {"halogens", in_halogens},
    {"transition-metals", in_transition_metals},
};

/* Parses spec into local (cleared first). Both public entry points go through here, so a bad
 * spec never touches the caller's mask. */
static int parse_set(const char *spec, unsigned char local[XG_MAX_Z + 1], xg_error *err)
{
    if (!spec)
        return xg_error_set(err, XG_EINVAL, "element set: no specification given");
    memset(local, 0, XG_MAX_Z + 1);
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *stop = comma ? comma : p + strlen(p);
        const char *a = p, *b = stop;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        size_t len = (size_t)(b - a);
        if (len == 0)
            return xg_error_set(err, XG_EINVAL,
                                "element set \"%s\": empty entry (stray comma?)", spec);
        char item[64];
        if (len >= sizeof item)
            return xg_error_set(err, XG_EINVAL, "element set \"%s\": unknown element or set \"%.*s\"",
                                spec, (int)len, a);
        memcpy(item, a, len);
        item[len] = '\0';
        int found = 0;
        int z = xg_element_from_symbol(item);
        if (z) {
            local[z] = 1;
            found = 1;
        } else {
            /* Set names are matched case-insensitively ("Rare-Earths" is clearly meant). */
            for (size_t k = 0; k < sizeof named_sets / sizeof named_sets[0]; k++) {
                if (strcasecmp(item, named_sets[k].name) == 0) {
                    for (int zz = 1; zz <= XG_MAX_Z; zz++)
                        if (named_sets[k].member(zz))
                            local[zz] = 1;
                    found = 1;
                    break;
                }
            }
        }
        if (!found)
            return xg_error_set(err, XG_EINVAL,
                                "element set \"%s\": unknown element or set \"%s\" (known sets: "
                                "rare-earths, noble-gases, radioactive, lanthanides, actinides, "
                                "alkali, alkaline-earths, halogens, transition-metals)",
                                spec, item);
        if (!comma)
            break;
        p = comma + 1;
    }
    return XG_OK;
}

int xg_element_set_parse(const char *spec, unsigned char mask[XG_MAX_Z + 1], xg_error *err)
{
    if (!mask)
        return xg_error_set(err, XG_EINVAL, "element set: no mask given");
    unsigned char local[XG_MAX_Z + 1];
    int rc = parse_set(spec, local, err);
    if (rc)
        return rc;
    memcpy(mask, local, sizeof local); /* every entry written: no stale caller bytes survive */
    return XG_OK;
}

int xg_element_set_add(const char *spec, unsigned char mask[XG_MAX_Z + 1], xg_error *err)
{
    if (!mask)
        return xg_error_set(err, XG_EINVAL, "element set: no mask given");
    unsigned char local[XG_MAX_Z + 1];
    int rc = parse_set(spec, local, err);
    if (rc)
        return rc;
    for (int zz = 1; zz <= XG_MAX_Z; zz++)
        mask[zz] |= local[zz];
    return XG_OK;
}
