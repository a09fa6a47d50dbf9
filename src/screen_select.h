/* screen_select.h: `--only FLAGS` of export and convert: which crystals of a dataset a
 * screen.csv marks with every flag asked for. */
#ifndef XG_SCREEN_SELECT_H
#define XG_SCREEN_SELECT_H

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"
#include "src/xg_opts.h"

/* The flags --only knows: valid (structure and composition), valid_structure,
 * valid_composition, valid_geometry, unique, novel, stable, sun, in_domain. */
#define XG_SELECT_FLAGS_HELP                                                                     \
    "valid (structure and composition), valid_structure, valid_composition, valid_geometry,\n"  \
    "unique, novel, stable, sun, in_domain"

/* --only and --screen as option-table entries (src/xg_opts.h) of the struct S, into its
 * fields ONLY and SCREEN: the same spelling and help in every command that selects. */
#define XG_OPT_SELECT(S, ONLY, SCREEN)                                                           \
    XG_OPT_S("--only", NULL, S, ONLY, "FLAGS", NULL,                                             \
             "keep only crystals whose screen.csv row has every flag set, a comma\n"             \
             "list of: " XG_SELECT_FLAGS_HELP),                                                  \
    XG_OPT_S("--screen", NULL, S, SCREEN, "FILE", NULL,                                          \
             "the screen.csv for --only (default: INPUT/screen/screen.csv, then\n"               \
             "INPUT/screen_out/screen.csv, then ./screen_out/screen.csv)")

/* Checks a comma list of flags; XG_EINVAL naming an unknown one. */
int xg_select_check_flags(const char *only, xg_error *err);

/* The screen.csv to use: screen if given, else INPUT/screen/screen.csv, INPUT/screen_out/
 * screen.csv, ./screen_out/screen.csv, the first that exists; XG_EIO with a hint if none. */
int xg_select_find_screen(const char *input, const char *screen, char *out, size_t n,
                          xg_error *err);

/* A malloc'd array of ds->n bytes: 1 for crystals whose screen.csv row (matched by id) has
 * every flag of `only` set to 1; crystals missing from screen.csv are not kept. NULL with an
 * error (unknown column, unreadable file). */
unsigned char *xg_select_by_flags(const xg_dataset *ds, const char *screen, const char *only,
                                  xg_error *err);

#endif
