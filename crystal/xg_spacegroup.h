/* xg_spacegroup.h: space groups by name, from spglib's database.
 *
 * Many real CIFs (ICSD exports, older COD entries, hand-written files) give the space group
 * only as a symbol or a number and list no symmetry operations; read as they stand they are
 * asymmetric units, not crystals. These calls find the group's Hall number (spglib's 1..530,
 * one per setting) from what such a file gives, and its operations from spglib's database:
 *   - a Hermann-Mauguin symbol, spaces and underscores ignored, case-insensitive, in short
 *     ("Fd-3m", "P21/c", "P21/n"), full ("F 41/d -3 2/m") or setting ("P 1 21/n 1") form,
 *     with a setting suffix ":1" ":2" ":H" ":R" ":b1" ..., or the ICSD suffix " Z" (origin
 *     choice 2), " S" (origin choice 1), " H" or " R" (hexagonal or rhombohedral axes);
 *   - a Hall symbol ("-P 2ybc"), spacing and case ignored;
 *   - an International Tables number (1..230).
 * Without a setting, the first of spglib's settings is taken: origin choice 1, hexagonal axes
 * for R groups, unique axis b, cell choice 1. That is what pymatgen's CifParser does
 * (SpaceGroup.from_int_number matches spglib's first setting for all 230 numbers, checked with
 * pymatgen 2022.11). Old names of the e-glide groups (Abm2, Aba2, Cmca, Cmma, Ccca) are known.
 * Every function returns the Hall number, 0 when nothing matches. */
#ifndef XG_SPACEGROUP_H
#define XG_SPACEGROUP_H

#include <stddef.h>

#define XG_SPACEGROUP_MAX_OPS 192

int xg_spacegroup_hall_from_hm(const char *symbol, size_t len);
int xg_spacegroup_hall_from_hall_symbol(const char *symbol, size_t len);
int xg_spacegroup_hall_from_number(int number);

/* The operations of Hall number hall (x' = rot x + trans on fractional coordinates, the
 * centring translations included); returns their count, 0 for an invalid number. */
int xg_spacegroup_operations(int hall, int rot[XG_SPACEGROUP_MAX_OPS][3][3],
                             double trans[XG_SPACEGROUP_MAX_OPS][3]);

#endif
