/* xg_propinfo.h: what the dataset properties xtalgen knows are: their unit and meaning, in one
 * table for every command that prints a property (model info, dataset info, reports), so a unit
 * is written once, here, and not at each call site.
 *
 * The names are the columns `xtalgen dataset import` reads from MP-20 (train.csv and
 * properties_*.csv, shared/data/README.md) and the ones it derives (--derive hhi). A dataset
 * may carry other columns; they are simply unknown here (xg_propinfo_find returns NULL) and
 * printed without a unit. */
#ifndef XG_PROPINFO_H
#define XG_PROPINFO_H

typedef struct {
    const char *name;  /* dataset property name */
    const char *unit;  /* "eV/atom", "muB/A^3", ...; "" for a dimensionless quantity */
    const char *what;  /* one line: what it is and where it comes from */
} xg_propinfo;

/* The entry of a property, or NULL when it is not a known one. "mag_density" finds
 * dft_mag_density, as --condition accepts it. */
const xg_propinfo *xg_propinfo_find(const char *name);

/* Entry i of the table (0, 1, ...), NULL past its end: for listings and tests. */
const xg_propinfo *xg_propinfo_get(int i);

#endif
