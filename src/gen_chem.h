/* gen_chem.h: the hard-chemistry options of `xtalgen generate` (issue 16): --chemsys,
 * --min-elements / --max-elements, and crystal structure prediction with --composition /
 * --compositions. Parses them, checks that they can be met, and gives every crystal its
 * constraint (diffusion/xg_sampler.h, xg_sampler_chem), its number of atoms and, with
 * --symmetry template, a template that can hold it. The sampler enforces the constraint while
 * unmasking types; this file only decides what each crystal asks for.
 *
 * Randomness: crystal k picks its chemical system (when several are given) from a stream of its
 * own, (seed, GEN_CHEM_STREAM + k), so it does not depend on the batch size, the threads or the
 * MPI rank. */
#ifndef XG_GEN_CHEM_H
#define XG_GEN_CHEM_H

#include <stdint.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_error.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_sampler.h"
#include "diffusion/xg_template.h"
#include "src/xg_opts.h"

#define GEN_CHEM_MAX_SYSTEMS 64
#define GEN_CHEM_STREAM (UINT64_C(1) << 59)

typedef struct {
    long min_elements, max_elements;          /* 0: not given */
    int nsys_args;
    const char *sys_arg[GEN_CHEM_MAX_SYSTEMS]; /* --chemsys values, each a list "A-B,C-D" */
    const char *composition;                   /* --composition FORMULA */
    const char *compositions;                  /* --compositions FILE */
    long formula_units;                        /* --formula-units Z (0: not given) */
    long k;                                    /* -k candidates per composition (0: not given) */
    int csp_types;                             /* --csp-types: GEN_CHEM_CSP_* */
    int csp_templates;                         /* --csp-templates: GEN_CHEM_TPL_* */
} gen_chem_args;

/* --csp-types: the index of the choice in the option table, or not given. */
enum { GEN_CHEM_CSP_NOT_GIVEN = -1, GEN_CHEM_CSP_FIXED, GEN_CHEM_CSP_UNMASK };
/* --csp-templates: the index of the choice in the option table, or not given. */
enum { GEN_CHEM_TPL_NOT_GIVEN = -1, GEN_CHEM_TPL_SIMILAR, GEN_CHEM_TPL_FREQUENCY };

/* A command parsing GEN_CHEM_OPTS marks the enum options its command line did not give as
 * GEN_CHEM_*_NOT_GIVEN after xg_opts_parse (which leaves them 0, a valid choice): whether they
 * were given decides what --compositions may combine with. */

/* The options as entries of an option table (src/xg_opts.h) of the struct S whose field F is a
 * gen_chem_args, with their part of `xtalgen help generate`. */
#define GEN_CHEM_OPTS(S, F)                                                                       \
    XG_OPT_T("\nhard chemistry (enforced while types are unmasked, not by rejection):\n"),        \
    XG_OPT_L("--chemsys", NULL, S, F.sys_arg, F.nsys_args, "A-B-C", GEN_CHEM_MAX_SYSTEMS,         \
             "every crystal contains each of these elements at least once and no other; "      \
             "repeatable or comma-separated (Li-Fe-P-O,Fe-Co-N): crystal k then takes one "     \
             "system, drawn from a stream of its own"),                                          \
    XG_OPT_I("--min-elements", NULL, S, F.min_elements, "K", 1, XG_SAMPLER_MAX_REQUIRED, NULL,   \
             "at least K distinct elements per crystal"),                                        \
    XG_OPT_I("--max-elements", NULL, S, F.max_elements, "K", 1, 100, NULL,                      \
             "at most K distinct elements per crystal"),                                         \
    XG_OPT_T(GEN_CHEM_HOW),                                                                     \
    XG_OPT_T("crystal structure prediction (the exact composition; see --csp-types):\n"),       \
    XG_OPT_S("--composition", NULL, S, F.composition, "F", NULL,                               \
             "every crystal has formula F (Fe2CoN, Fe4N2): as written, or scaled to "          \
             "--num-atoms N (a multiple of the reduced formula's atoms) or to --formula-units " \
             "Z of the reduced formula"),                                                        \
    XG_OPT_I("--formula-units", NULL, S, F.formula_units, "Z", 1, 1000, NULL,                   \
             "formula units of the reduced formula per cell"),                                   \
    XG_OPT_S("--compositions", NULL, S, F.compositions, "FILE", NULL,                          \
             "one composition per row: a CSV with column formula and optionally num_atoms and " \
             "id, or any structure input (CIF, POSCAR, extxyz, .h5, CDVAE .csv, folder) whose " \
             "cells' compositions are used; -n is then rows x K and crystal i*K+j (j < K) is "  \
             "candidate j of row i, in the input's order"),                                      \
    XG_OPT_I("-k", "--candidates", S, F.k, "K", 1, 100000, NULL,                                \
             "candidates per composition (default 1)"),                                          \
    XG_OPT_E("--csp-types", NULL, S, F.csp_types, "fixed|unmask", NULL,                        \
             "fixed: types given from t = 1 (for a CSP model); unmask: sites are unmasked on "  \
             "the model's schedule, each draw limited to the elements the composition has "     \
             "left (the network sees the inputs it was trained on; exact composition all the "   \
             "same). Default: unmask with a generative model, fixed with a CSP model (`train "   \
             "--csp`; data/models/xtalgen-mp20-csp.h5 is taken automatically when shipped and "  \
             "no --model is given); a template always takes its orbit assignment from t = 1"),   \
    XG_OPT_T(GEN_CHEM_TEMPLATES),                                                               \
    XG_OPT_E("--csp-templates", NULL, S, F.csp_templates, "similar|frequency", NULL,            \
             "with --symmetry template, how a composition's template is chosen. similar "        \
             "(default): among the training crystals with the same stoichiometry and N (counts " \
             "per element, as a multiset), drawn with weight exp(-d / 0.1), d the chemical "      \
             "distance of the best pairing of their elements with the composition's (per pair "   \
             "|electronegativity| + 0.5 |period| + 0.3 |group|); each orbit takes the element "   \
             "paired with the training crystal's element there; frequency when no training "      \
             "crystal has that stoichiometry. frequency: templates drawn with their training "   \
             "frequency among those whose orbit sizes fit, orbits assigned at random")

/* Paragraphs of the help, indented as an option's text. */
#define GEN_CHEM_HOW                                                                            \
    "                         How: sites (orbits with --symmetry template) are unmasked in the\n" \
    "                         usual random order from the network's distribution while more\n"  \
    "                         masked sites remain than elements are still owed; the last ones\n" \
    "                         are reserved for the owed elements (the network picks which goes\n" \
    "                         where). Bias: a missing element tends to land late, on few sites\n" \
    "                         (often once). N is drawn among the model's N that can hold the\n"  \
    "                         elements; templates among those with enough orbits. With\n"       \
    "                         templates and --element-pattern training (the defaults), a\n"     \
    "                         --chemsys of K elements instead takes the template and\n"         \
    "                         stoichiometry of a training crystal with K elements, drawn by\n"  \
    "                         chemical similarity, each element replaced by the system's\n"    \
    "                         nearest one (a composition then, its geometry generated)\n"
#define GEN_CHEM_TEMPLATES                                                                      \
    "                         With --symmetry template a composition takes only templates whose\n" \
    "                         orbit sizes can be split among its element counts (one element\n" \
    "                         per orbit); a composition no template can hold is sampled without\n" \
    "                         one\n"

/* One composition to predict: natoms atomic numbers, grouped by element. */
typedef struct {
    int natoms;
    int *types;
    char id[XG_ID_LEN];
    char formula[128]; /* reduced formula, for messages */
} gen_comp;

typedef struct {
    int active;       /* any option given */
    int nsys;
    unsigned char (*sys)[XG_MAX_Z + 1];        /* nsys element sets */
    xg_sampler_chem *sys_chem;                 /* nsys constraints (point into sys) */
    xg_sampler_chem plain;                     /* min/max elements without a system */
    int ncomp;
    gen_comp *comp;
    long k;                                    /* candidates per composition */
    int from_file;                             /* --compositions: crystal k is row k / k */
    int unmask;                                /* --csp-types unmask */
    int similar;                               /* --csp-templates similar (the default) */
    int analogues;                             /* a chemical system by analogy (set by the
                                                * caller: --element-pattern training) */
    int similar_given;
    int csp_types_given;
    char desc[1024];                           /* "chemsys=Fe-Co-N;min_elements=2" */
} gen_chem_plan;

/* Builds the plan from the options against the run's allowed elements and --num-atoms
 * (natoms_opt, 0 when not given). Refuses (XG_EINVAL, message naming the option) what cannot be
 * met: a system element that is excluded or unknown to the model, more required elements than
 * --num-atoms, a formula whose atoms do not divide --num-atoms, combinations that make no sense
 * (--chemsys with --composition). XG_EPARSE / XG_EIO for a --compositions file that cannot be
 * read (the message names the file and line). */
int gen_chem_plan_build(const gen_chem_args *a, const unsigned char *allowed, long natoms_opt,
                        gen_chem_plan *p, xg_error *err);
void gen_chem_plan_free(gen_chem_plan *p);

/* Crystals a --compositions run makes (rows x k), 0 otherwise. */
long gen_chem_count(const gen_chem_plan *p);

/* Distinct elements crystal c needs at least (atoms or orbits it must have). */
int gen_chem_need(const xg_sampler_chem *c);

/* Sets up crystal k of the run: its constraint *c (pointing into the plan, or into types_buf
 * for a composition or a chemical system's analogue on a template, gen_chem_analogue_draw;
 * types_buf holds room for 1000 atoms), its number of atoms
 * and, when tab is not NULL, its template *tp (for a composition with p->similar, that of a
 * chemical analogue, gen_chem_template_similar; otherwise, or when the composition has no
 * analogue, drawn with its training frequency among those of `groups` that can hold the
 * constraint: enough orbits, or, for a composition, orbit sizes that add up to every element's
 * count; NULL when no template can, and the crystal is then sampled without one). Without a template or a composition, N is --num-atoms or drawn from the model's
 * histogram among N that hold the required elements. nrng and trng are the run's number-of-atoms
 * and template streams. Returns 0, or an error (none of the model's N can hold the constraint). */
int gen_chem_setup(const gen_chem_plan *p, uint64_t seed, long k, long natoms_opt,
                   const xg_model_stats *stats, xg_rng *nrng, const xg_template_table *tab,
                   const unsigned char *groups, xg_rng *trng, xg_sampler_chem *c, int *types_buf,
                   int *natoms, const xg_template **tp, xg_error *err);

/* A chemical system by analogy (plan.analogues: --element-pattern training, the default). A
 * crystal whose constraint is a chemical system of K elements, with no --min-elements above K
 * nor --max-elements below it, takes a training crystal with exactly K distinct elements, its
 * template, and its stoichiometry: each of its elements is replaced by the system's element it
 * is paired with, in the pairing of least chemical distance d (gen_chem_element_distance
 * summed over the pairs). The training crystal is drawn among those on templates of `groups`
 * (and with natoms atoms, when above 0) with weight exp(-(d - d_min) / GEN_CHEM_ANALOGUE_TAU):
 * Li-Mn-O takes the structures of Li-Mn-O, Na-Mn-O, Li-Fe-O, ... The sampler then generates
 * the geometry for those types, as for a composition. Without analogues every orbit draws its
 * element from the network and the owed elements take the last sites: on 400 crystals of 8
 * ternary oxide systems oxygen often came once (KMoO, Ca2VO), 68% were compositionally valid
 * and 8.5% within 0.1 eV/atom of the hull after relaxation, against 42% by analogy (README,
 * issue 17).
 * gen_chem_analogue_k: K when c qualifies, else 0. gen_chem_analogue_draw: the member index, -1
 * when no training crystal qualifies, -2 when out of memory. gen_chem_analogue_types: member
 * m's template's atoms' elements after the substitution into types_buf (template atom order). */
#define GEN_CHEM_ANALOGUE_TAU 0.5
int gen_chem_analogue_k(const xg_sampler_chem *c);
int64_t gen_chem_analogue_draw(const unsigned char *sys, const xg_template_table *tab,
                               const unsigned char *groups, int natoms, xg_rng *rng);
void gen_chem_analogue_types(const unsigned char *sys, const xg_template_table *tab, int64_t m,
                             int *types_buf);

/* Whether template t can hold crystal k's constraint c (the composition comp when c->types is
 * set: then types_buf receives the per-atom types of an assignment of orbits to elements, drawn
 * with r). Used again when a collapsed template crystal is drawn anew. */
int gen_chem_template_fits(const xg_sampler_chem *c, const gen_comp *comp, const xg_template *t,
                           xg_rng *r, int *types_buf);

/* Crystal structure prediction by analogy (--csp-templates similar): draws, with r, a training
 * crystal of tab's members with comp's N and stoichiometry (groups: 231 flags or NULL), with
 * weight exp(-(d - d_min) / GEN_CHEM_SIMILAR_TAU) where d is the smallest chemical distance of
 * a count-preserving pairing of its elements with comp's; types_buf (the template's N) receives
 * the template's atoms' elements under that pairing. Returns the template's index, -1 when no
 * member has that stoichiometry (or the table has no members), -2 when out of memory. */
#define GEN_CHEM_SIMILAR_TAU 0.1
int gen_chem_template_similar(const gen_comp *comp, const xg_template_table *tab,
                              const unsigned char *groups, xg_rng *r, int *types_buf);
/* The chemical distance of two elements used above (0 for equal elements). */
double gen_chem_element_distance(int za, int zb);

/* The CSP model `generate --composition` takes when no --model is given and it is shipped. */
#define GEN_CHEM_CSP_MODEL "xtalgen-mp20-csp.h5"

/* Adapts the plan to the model: a CSP model (types never masked in training) is given the types
 * from t = 1; it cannot generate without a composition, nor unmask (XG_EINVAL). */
int gen_chem_plan_model(gen_chem_plan *p, int model_is_csp, const char *model_path,
                        xg_error *err);

/* With --symmetry template: refuses (XG_EINVAL) a chemical system or element bound that no
 * template of `groups` (with N = natoms_opt when > 0) has the orbits for, before any work.
 * Compositions are not refused: one that no template holds is sampled without one. */
int gen_chem_check_templates(const gen_chem_plan *p, const xg_template_table *tab,
                             const unsigned char *groups, long natoms_opt, xg_error *err);

/* The composition of crystal k (NULL without --composition(s)). */
const gen_comp *gen_chem_comp_of(const gen_chem_plan *p, long k);

#endif
