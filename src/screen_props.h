/* screen_props.h: the property stage of `xtalgen screen` (issue 6, DESIGN.md 3.5-3.6): what a
 * candidate is worth besides being valid and new.
 *
 *  - predictions of property models (properties/xg_propmodel.h), one column per known target:
 *    formation_energy_per_atom -> e_form_pred, dft_mag_density -> mag_density_pred,
 *    band_gap -> band_gap_pred;
 *  - e_hull_pred = e_form_pred - h(composition) against a hull table (properties/xg_hull.h,
 *    by default the shipped data/hull-mp20.h5). It is a PREDICTION carrying the formation-energy
 *    model's error (its measured test MAE, read from the model file), never DFT truth;
 *  - hhi (production HHI, weight-fraction average) and ewald_per_atom (Madelung energy of the
 *    most plausible charge-balanced oxidation states), which need no model.
 *
 * Why a separate file: cmd_screen.c owns the command line, the sharding over MPI ranks and the
 * writers; this file owns loading, checking and evaluating the property inputs, so the screen's
 * judge stays readable and this part can be driven on any subset of crystals (one rank's).
 *
 * Every value is NaN when it could not be computed (a crystal the model cannot take, an element
 * without HHI data, no charge-balanced assignment): missing, never zero. */
#ifndef XG_SCREEN_PROPS_H
#define XG_SCREEN_PROPS_H

#include <stddef.h>
#include <stdint.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

#define XG_SCREEN_MAX_MODELS 8
/* The shipped hull table, looked up like the shipped models (see xg_screen_props_hull_path). */
#define XG_SCREEN_HULL_FILE "hull-mp20.h5"

/* The property targets screen knows how to show. */
enum {
    XG_SCREEN_EFORM = 0, /* formation_energy_per_atom, eV/atom */
    XG_SCREEN_MAG = 1,   /* dft_mag_density, Bohr magnetons per cubic Angstrom */
    XG_SCREEN_GAP = 2,   /* band_gap, eV */
    XG_SCREEN_NTARGETS = 3
};

/* A predicted energy this far below the hull (eV/atom) is not believed: known crystals sit on
 * or above the MP-20 hull, the formation-energy model's test MAE is 0.027 eV/atom, and a
 * candidate a third of an eV below every known phase is far likelier a model failure (a
 * crystal unlike its training data) than a discovery. Its stability is "not assessed".
 * The default of `screen --ehull-min`. */
#define XG_SCREEN_EHULL_IMPLAUSIBLE (-0.3)

/* Values of one crystal; NaN = not available. */
typedef struct {
    double pred[XG_SCREEN_NTARGETS]; /* model predictions, indexed by XG_SCREEN_* */
    double e_hull;                   /* pred[EFORM] - h(c), eV/atom, signed (xg_hull.h) */
    double hhi;                      /* production HHI, 0..10000 */
    double ewald;                    /* eV/atom */
    /* issue 14: honesty about the predictions */
    int in_domain;                   /* 1 inside every loaded model's training domain, 0
                                        outside one, -1 unknown (no model or no domain) */
    char domain_why[96];             /* the first criterion failed, when in_domain == 0 */
    unsigned char clipped[XG_SCREEN_NTARGETS]; /* prediction raised to its physical range */
    unsigned char failed[XG_SCREEN_NTARGETS];  /* the model could not take the crystal */
} xg_screen_values;

/* What was loaded, for the report (read-only view). */
typedef struct {
    int have[XG_SCREEN_NTARGETS];       /* a model of this target was given */
    char model_path[XG_SCREEN_NTARGETS][4096];
    double test_mae[XG_SCREEN_NTARGETS]; /* from the model file; NaN when not measured */
    double val_mae[XG_SCREEN_NTARGETS];
    int64_t n_test[XG_SCREEN_NTARGETS];
    int have_hull;                       /* e_hull can be computed (EFORM model and hull) */
    char hull_path[4096];
    int64_t hull_entries;
} xg_screen_props_info;

typedef struct xg_screen_props xg_screen_props;

/* Target name of column index k ("formation_energy_per_atom", ...). */
const char *xg_screen_props_target(int k);

/* The shipped novelty reference (issue 14): all of MP-20 (train, val, test), ids and
 * structures, built with `xtalgen dataset import --compact` (README "Shipped reference"). */
#define XG_SCREEN_REFERENCE_FILE "reference/mp20.h5"
/* Shipped next to it: well-known elemental structures (fcc, bcc, hcp, diamond, graphite, white
 * tin) from published lattice constants, among them phases MP-20 lacks (fcc Fe, mp-150;
 * diamond; white tin), built with `xtalgen dataset import --compact` from the committed
 * data/reference/elements-extra.csv, whose `source` column cites each one. */
#define XG_SCREEN_REFERENCE_EXTRA_FILE "reference/elements-extra.h5"

/* Finds a shipped data file (name relative to data/, e.g. "hull-mp20.h5"): xg_default_data_path. XG_EIO naming every place tried when none exists. */
int xg_screen_data_path(const char *name, char *out, size_t n, xg_error *err);

/* Finds the shipped hull table hull-mp20.h5 where xg_default_data_path (src/model_path.h)
 * looks: $XTALGEN_DATA_DIR, data/ or share/xtalgen/ beside the binary or the library, the
 * install prefix, the source tree. XG_EIO naming every place tried when none exists. */
int xg_screen_props_hull_path(char *out, size_t n, xg_error *err);

/* Loads the property models (paths[0..nmodels-1]) and, when a formation-energy model is among
 * them, the hull: hull_path, or when NULL the shipped table (if that is not found, *note
 * receives why, e_hull is left out and the call still succeeds; note may be NULL). Errors
 * (XG_EIO, XG_EFORMAT, XG_EVERSION, XG_EINVAL) name the file: an unreadable or malformed model,
 * a target screen has no column for, two models of one target, an unreadable hull. */
int xg_screen_props_load(const char *const *paths, int nmodels, const char *hull_path,
                         xg_screen_props **out, char *note, size_t note_len, xg_error *err);
void xg_screen_props_free(xg_screen_props *p);
const xg_screen_props_info *xg_screen_props_get_info(const xg_screen_props *p);

/* Model predictions and hull energies of crystals idx[0..n-1] of ds into out[0..n-1]
 * (caller-owned; pred[], e_hull, in_domain, domain_why, clipped[] and failed[] are written,
 * the others left alone). Predictions outside their physical range (a negative band gap or
 * magnetic density, xg_propmodel_physical_range) are clipped to it and flagged in clipped[].
 * Batched and parallel inside (the models' OpenMP); results depend only on each crystal, not on which
 * others are in the call, so shards of a run agree with one process. A crystal a model cannot
 * take gets NaN; only an internal failure (memory) is an error. p may be NULL (nothing to do:
 * all NaN). */
int xg_screen_props_predict(xg_screen_props *p, const xg_dataset *ds, const int64_t *idx,
                            int64_t n, xg_screen_values *out, xg_error *err);

/* Above this many distinct elements ewald is left missing: the charge-balance search
 * (crystal/xg_oxidation.h) tries every combination of oxidation states, exponential in the
 * number of elements (8 elements: at most ~10^8 combinations, under a second; a 19-element
 * generated crystal: hours). MP-20 crystals have at most 7. */
#define XG_SCREEN_EWALD_MAX_ELEMENTS 8

/* The model-free values of one crystal: hhi and ewald (NaN when they do not apply). Safe to
 * call from many threads at once. */
void xg_screen_props_intrinsic(const xg_structure *s, xg_screen_values *v);

#endif
