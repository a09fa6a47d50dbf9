/* run_record.h: the provenance of a `generate` run (xtalgen version, model file and its
 * SHA-256, conditions, guidance, seed, steps) and its summary.json, shared by generate (which
 * records it) and export (which carries it into every DFT input). */
#ifndef XG_RUN_RECORD_H
#define XG_RUN_RECORD_H

#include "crystal/xg_elements.h"
#include "crystal/xg_provenance.h"

/* Fills p from the run's settings; hashes the model file (XG_EIO if it cannot be read).
 * guidance_types: the type logits' own gamma (--type-guidance), NAN when they take guidance;
 * recorded as "1 (types 3)". neg: the nneg --negative-condition NAME=VALUE, recorded as
 * "1 (against NAME=VALUE)". */
int xg_run_provenance(const char *model_path, int ncond, const char *const *cond,
                      double guidance, double guidance_types, int nneg, const char *const *neg,
                      long seed, long steps, xg_provenance *p, xg_error *err);

/* The settings summary.json records besides the provenance. */
typedef struct {
    const char *model_path;
    long n, batch, steps, corrector, seed, threads, natoms;
    double guidance, symprec;
    int ncond;
    const char *const *cond;
    int nneg;
    const char *const *neg;        /* --negative-condition NAME=VALUE ("negative_conditions") */
    const char *elements_spec, *exclude_spec; /* as given, NULL if not */
    const unsigned char *allowed;             /* XG_MAX_Z + 1: the elements sampled from */
    int mpi_ranks;
    const char *symmetry;          /* "template" or "none" */
    long redrawn, unresolved;      /* template crystals drawn again (collapsed atoms), and
                                    * those still collapsed after every redraw; -1: not known
                                    * yet (the run has not finished) */
    long wrong_group, wrong_group_kept; /* with --spacegroup: crystals drawn again because
                                    * spglib found a group outside the request (a supergroup),
                                    * and those kept so after every redraw */
    const char *chemistry;         /* hard chemistry, "chemsys=Fe-Co-N;min_elements=2"; NULL:
                                    * none (src/gen_chem.h) */
    const char *element_pattern;   /* template runs without hard chemistry: "training" or
                                    * "free" (--element-pattern); NULL: not applicable */
    double guidance_types;         /* --type-guidance; NAN: not given (then summary.json has no
                                    * "type_guidance", as before the option existed) */
    const char *class_prior;       /* with element patterns: "on" or "off" (--class-prior);
                                    * NULL: not applicable */
} xg_run_settings;

/* Writes PATH (atomically) as a JSON object: the provenance fields, "settings", and
 * "elements", the list of element symbols the sampler could choose from. */
int xg_run_write_summary_json(const char *path, const xg_provenance *p, const xg_run_settings *r,
                              xg_error *err);

/* "Li,Fe,O": the symbols of allowed[1..XG_MAX_Z] into buf; XG_EINVAL if it does not fit. */
int xg_run_elements_list(const unsigned char *allowed, char *buf, size_t n);

#endif
