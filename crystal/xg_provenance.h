/* xg_provenance.h: what made a crystal, written into every file that leaves xtalgen for DFT.
 *
 * Why: a candidate sent to a week of DFT must say which model (file name and SHA-256 of its
 * content), which request (conditions, guidance), which random seed and how many steps made
 * it, and which crystal of the run it is, so the run can be reproduced and a bad model traced.
 * The same record goes into a CIF comment block, the POSCAR title line, the root attributes of
 * generated.h5 and summary.json; this module formats it once for all of them.
 *
 * Dataset attributes (names fixed, part of the generated.h5 layout; values are strings):
 *   xtalgen_version, model, model_sha256, condition ("" = unconditional, else
 *   "NAME=VALUE;NAME=VALUE"), guidance, seed, steps, elements (allowed elements, "Li,Fe,O"),
 *   template (space-group template of the run, "" = none). */
#ifndef XG_PROVENANCE_H
#define XG_PROVENANCE_H

#include <stddef.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"

typedef struct {
    char version[32];      /* xtalgen version */
    char model[256];       /* model file name (no folder) */
    char model_sha256[65]; /* hex SHA-256 of the model file's content */
    char condition[512];   /* "dft_mag_density=0.15;chemsys=Fe-Co" or "" */
    char guidance[160];    /* "1", "1 (types 3)" with generate --type-guidance, "1 (types 3;
                            * against e_above_hull=0.3)" with --negative-condition */
    char seed[32];
    char steps[32];
    char template_sg[64];  /* space-group template, "" = none */
    long index;            /* crystal index in the run; < 0 = not known */
} xg_provenance;

void xg_provenance_init(xg_provenance *p);
/* 1 when p says anything (a model or a version). */
int xg_provenance_known(const xg_provenance *p);

/* Multi-line text for a CIF comment block ("xtalgen 0.1.0\nmodel: ...\n..."), or, with
 * one_line, a single line for a POSCAR title ("xtalgen 0.1.0 model=... sha256=... seed=1 ...").
 * Writes "" when nothing is known. XG_EINVAL when buf is too small. */
int xg_provenance_format(const xg_provenance *p, int one_line, char *buf, size_t n);

/* Run-level fields to and from a dataset's root attributes (index is per crystal and not
 * stored). from_dataset leaves fields the dataset lacks empty and returns 1 if any was found. */
int xg_provenance_to_dataset(const xg_provenance *p, xg_dataset *ds, xg_error *err);
int xg_provenance_from_dataset(const xg_dataset *ds, xg_provenance *p);

/* The crystal index of an id "gen-0000017" (17); -1 for other ids. */
long xg_provenance_index_of_id(const char *id);

#endif
