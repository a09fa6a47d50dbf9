/* xg_hhi.c: per-element HHI values (Gaultois et al., Chem. Mater. 2013, 25, 2911; see xg_hhi.h)
 * and their weight-fraction average. */
#include "properties/xg_hhi.h"

#include <math.h>
#include <stddef.h>

#include "crystal/xg_elements.h"

typedef struct {
    int z;
    int production; /* HHI of production */
    int reserve;    /* HHI of reserves */
} hhi_row;

/* Typed in from the Gaultois et al. 2013 table as pymatgen distributes it, sorted by Z. The rare
 * earths share one value (the paper reports them as one commodity), as do the platinum-group
 * metals. */
static const hhi_row HHI_TABLE[] = {
    {2, 3200, 3900}, /* He */ {3, 2900, 4200}, /* Li */ {4, 8000, 4000}, /* Be */ {5, 2900, 2000}, /* B */
    {6, 500, 500}, /* C */ {7, 1300, 500}, /* N */ {8, 500, 500}, /* O */ {9, 1500, 1500}, /* F */
    {11, 1100, 500}, /* Na */ {12, 5300, 500}, /* Mg */ {13, 1600, 1000}, /* Al */ {14, 4700, 1000}, /* Si */
    {15, 2000, 5100}, /* P */ {16, 700, 1000}, /* S */ {17, 1500, 1500}, /* Cl */ {19, 1700, 7200}, /* K */
    {20, 3900, 1500}, /* Ca */ {21, 5500, 4500}, /* Sc */ {22, 1100, 1600}, /* Ti */ {23, 3300, 3400}, /* V */
    {24, 3100, 4100}, /* Cr */ {25, 1600, 1800}, /* Mn */ {26, 2400, 1400}, /* Fe */ {27, 3100, 2700}, /* Co */
    {28, 1000, 1500}, /* Ni */ {29, 1600, 1500}, /* Cu */ {30, 1600, 1900}, /* Zn */ {31, 5500, 1900}, /* Ga */
    {32, 5300, 1900}, /* Ge */ {33, 3300, 4000}, /* As */ {34, 2200, 1900}, /* Se */ {35, 3300, 6900}, /* Br */
    {37, 6000, 6000}, /* Rb */ {38, 4200, 3000}, /* Sr */ {39, 9800, 2600}, /* Y */ {40, 3400, 2600}, /* Zr */
    {41, 8500, 8800}, /* Nb */ {42, 2400, 5300}, /* Mo */ {44, 3200, 8000}, /* Ru */ {45, 3200, 8000}, /* Rh */
    {46, 3200, 8000}, /* Pd */ {47, 1200, 1400}, /* Ag */ {48, 1700, 1300}, /* Cd */ {49, 3300, 2000}, /* In */
    {50, 2600, 1600}, /* Sn */ {51, 7900, 3400}, /* Sb */ {52, 2900, 4900}, /* Te */ {53, 4900, 4800}, /* I */
    {55, 6000, 6000}, /* Cs */ {56, 3000, 2300}, /* Ba */ {57, 9500, 3100}, /* La */ {58, 9500, 3100}, /* Ce */
    {59, 9500, 3100}, /* Pr */ {60, 9500, 3100}, /* Nd */ {61, 9500, 3100}, /* Pm */ {62, 9500, 3100}, /* Sm */
    {63, 9500, 3100}, /* Eu */ {64, 9500, 3100}, /* Gd */ {65, 9500, 3100}, /* Tb */ {66, 9500, 3100}, /* Dy */
    {67, 9500, 3100}, /* Ho */ {68, 9500, 3100}, /* Er */ {69, 9500, 3100}, /* Tm */ {70, 9500, 3100}, /* Yb */
    {71, 9500, 3100}, /* Lu */ {72, 3400, 2600}, /* Hf */ {73, 2300, 4800}, /* Ta */ {74, 7000, 4300}, /* W */
    {75, 3300, 3300}, /* Re */ {76, 5500, 9100}, /* Os */ {77, 5500, 9100}, /* Ir */ {78, 5500, 9100}, /* Pt */
    {79, 1100, 1000}, /* Au */ {80, 5500, 3100}, /* Hg */ {81, 6500, 6500}, /* Tl */ {82, 2700, 1800}, /* Pb */
    {83, 5300, 6000}, /* Bi */
};

int xg_hhi_element(int z, double *production, double *reserve)
{
    size_t lo = 0, hi = sizeof HHI_TABLE / sizeof HHI_TABLE[0];
    while (lo < hi) { /* binary search: the table is sorted by Z */
        size_t mid = lo + (hi - lo) / 2;
        if (HHI_TABLE[mid].z == z) {
            if (production)
                *production = HHI_TABLE[mid].production;
            if (reserve)
                *reserve = HHI_TABLE[mid].reserve;
            return 1;
        }
        if (HHI_TABLE[mid].z < z)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (production)
        *production = NAN;
    if (reserve)
        *reserve = NAN;
    return 0;
}

int xg_hhi_composition(const int *z, const double *amount, int n, double *production,
                       double *reserve, int *missing_z, xg_error *err)
{
    if (production)
        *production = NAN;
    if (reserve)
        *reserve = NAN;
    if (missing_z)
        *missing_z = 0;
    if (!z || !amount || n < 1)
        return xg_error_set(err, XG_EINVAL, "xg_hhi_composition: empty composition");
    double mass = 0, sp = 0, sr = 0;
    int missing = 0;
    for (int i = 0; i < n; i++) {
        const xg_element *el = xg_element_get(z[i]);
        if (!el)
            return xg_error_set(err, XG_EINVAL, "xg_hhi_composition: atomic number %d outside 1..%d",
                                z[i], XG_MAX_Z);
        if (!isfinite(amount[i]) || amount[i] < 0)
            return xg_error_set(err, XG_EINVAL, "xg_hhi_composition: amount %g of %s is not >= 0",
                                amount[i], el->symbol);
        if (amount[i] == 0)
            continue;
        double p, r;
        if (!xg_hhi_element(z[i], &p, &r)) {
            if (!missing)
                missing = z[i];
            continue;
        }
        double w = amount[i] * el->mass; /* weight, normalized below */
        mass += w;
        sp += w * p;
        sr += w * r;
    }
    if (missing) {
        if (missing_z)
            *missing_z = missing;
        return XG_OK; /* missing data is an answer (NaN), not an error */
    }
    if (!(mass > 0))
        return xg_error_set(err, XG_EINVAL, "xg_hhi_composition: total mass is zero");
    if (production)
        *production = sp / mass;
    if (reserve)
        *reserve = sr / mass;
    return XG_OK;
}

int xg_hhi_structure(const xg_structure *s, double *production, double *reserve, int *missing_z,
                     xg_error *err)
{
    if (!s || s->natoms < 1 || !s->types)
        return xg_error_set(err, XG_EINVAL, "xg_hhi_structure: empty structure");
    /* Count atoms per element so the weighting sees the composition, not the site list. */
    double count[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < s->natoms; i++) {
        if (s->types[i] < 1 || s->types[i] > XG_MAX_Z)
            return xg_error_set(err, XG_EINVAL, "xg_hhi_structure: atom %d has atomic number %d", i,
                                s->types[i]);
        count[s->types[i]] += 1;
    }
    int zs[XG_MAX_Z];
    double am[XG_MAX_Z];
    int n = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (count[z] > 0) {
            zs[n] = z;
            am[n] = count[z];
            n++;
        }
    return xg_hhi_composition(zs, am, n, production, reserve, missing_z, err);
}
