/* xg_elements.h: the periodic table xtalgen needs, Z = 1..103. */
#ifndef XG_ELEMENTS_H
#define XG_ELEMENTS_H

#include "crystal/xg_error.h"

#define XG_MAX_Z 103
#define XG_MAX_OXI 8

typedef struct {
    int z;
    const char *symbol;        /* "Fe" */
    const char *name;          /* "Iron" */
    double mass;               /* standard atomic weight, g/mol */
    double electronegativity;  /* Pauling; NAN where none is defined (noble gases He, Ne, Ar...) */
    double covalent_radius;    /* Angstrom */
    int n_oxidation_states;    /* common oxidation states, as used by SMACT/pymatgen */
    int oxidation_states[XG_MAX_OXI];
    int is_metal;
    int is_rare_earth;         /* Sc, Y, La..Lu */
} xg_element;

/* The element of atomic number z, or NULL when z is outside 1..XG_MAX_Z. */
const xg_element *xg_element_get(int z);

/* Period (row, 1..7) and IUPAC group (1..18; 3 for the lanthanides and actinides) of element
 * z, from its atomic number; 0 when z is outside 1..XG_MAX_Z. */
int xg_element_period(int z);
int xg_element_group(int z);

/* Atomic number of an exact symbol ("Fe"), case-sensitive; 0 if unknown. */
int xg_element_from_symbol(const char *symbol);

/* Reads the element symbol at the start of s ("Fe2+", "O1", "Na"), preferring a two-letter
 * symbol when one exists. Returns Z (0 if none) and sets *end past the symbol if end != NULL. */
int xg_element_parse_prefix(const char *s, const char **end);

/* Element sets for constraints: spec is a comma-separated list of symbols and named sets
 * ("rare-earths", "noble-gases", "radioactive", "lanthanides", "actinides", "alkali",
 * "alkaline-earths", "halogens", "transition-metals"). On success it writes every entry of
 * mask (XG_MAX_Z + 1 entries, index 0 unused): 1 for members, 0 for the rest, so the caller's
 * buffer need not be initialised. Unknown names give XG_EINVAL with the name and leave mask
 * untouched. */
int xg_element_set_parse(const char *spec, unsigned char mask[XG_MAX_Z + 1], xg_error *err);

/* Like xg_element_set_parse, but adds the members to a mask the caller has already written
 * (mask[z] |= member), for several specs. Left untouched on error. */
int xg_element_set_add(const char *spec, unsigned char mask[XG_MAX_Z + 1], xg_error *err);

#endif
