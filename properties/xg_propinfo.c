/* xg_propinfo.c: the table of known dataset properties (xg_propinfo.h). */
#include "properties/xg_propinfo.h"

#include <string.h>

/* Units as shared/data/README.md gives them for MP-20 (DFT values of the Materials Project);
 * HHI on Gaultois et al.'s 0..10000 scale (properties/xg_hhi.h). */
static const xg_propinfo TABLE[] = {
    {"formation_energy_per_atom", "eV/atom", "DFT formation energy (elements at zero)"},
    {"e_above_hull", "eV/atom", "DFT energy above the convex hull (0 = on the hull)"},
    {"band_gap", "eV", "DFT band gap"},
    {"dft_mag_density", "muB/A^3", "DFT total magnetization per cell over cell volume"},
    {"total_magnetization_muB_per_cell_derived", "muB", "DFT total magnetization per cell"},
    {"cell_volume_A3", "A^3", "volume of the cell the magnetization was computed in"},
    {"dft_bulk_modulus", "GPa", "DFT bulk modulus"},
    {"spacegroup.number", "", "space group number (1..230) at symprec 0.1"},
    {"num_atoms", "atoms", "atoms in the cell the magnetization was computed in"},
    {"hhi_production", "", "weight-averaged Herfindahl-Hirschman index of production, 0..10000"},
    {"hhi_reserve", "", "weight-averaged Herfindahl-Hirschman index of reserves, 0..10000"},
};
#define NTABLE ((int)(sizeof TABLE / sizeof TABLE[0]))

const xg_propinfo *xg_propinfo_get(int i)
{
    return i >= 0 && i < NTABLE ? &TABLE[i] : NULL;
}

const xg_propinfo *xg_propinfo_find(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, "mag_density"))
        name = "dft_mag_density"; /* the short name --condition accepts */
    for (int i = 0; i < NTABLE; i++)
        if (!strcmp(TABLE[i].name, name))
            return &TABLE[i];
    return NULL;
}
