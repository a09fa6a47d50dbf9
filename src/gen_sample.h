/* gen_sample.h: how `xtalgen generate` forms the crystals of a batch, in one place for the
 * command, `xtalgen bench sampler` and the library's xtalgen_generate, so that the three give
 * the same crystals for the same settings.
 *
 * Randomness: the numbers of atoms come from stream 2^62 of the seed, the templates from
 * stream 2^62 + 1 and their training crystals (element patterns) from 2^62 + 2, each drawn in
 * crystal order, so changing --num-atoms does not reshuffle the
 * other choices; crystal k is sampled from its own stream (seed, k) (xg_sampler.h); a redraw
 * of crystal k, attempt a, takes its template (and pattern) from stream 2^61 + 16 k + a and samples from
 * stream 2^60 + 16 k + a, so it depends on neither the batch nor the MPI rank. */
#ifndef XG_GEN_SAMPLE_H
#define XG_GEN_SAMPLE_H

#include <stdint.h>

#include "crystal/xg_error.h"
#include "crystal/xg_rng.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_sampler.h"
#include "diffusion/xg_template.h"
#include "src/gen_chem.h"

/* The run's streams of numbers of atoms and of templates. */
typedef struct {
    xg_rng nrng, trng, crng;
} gen_streams;

/* Element patterns (xg_sampler_opts.orbit_class): a template is drawn with its training
 * frequency, then one of its training crystals uniformly, and the crystal's orbits share and
 * differ in elements as that crystal's do. Each crystal of a batch has GEN_CLASS_STRIDE ints
 * of the caller's buffer (a template has at most 1,000 atoms, so at most 1,000 orbits). */
#define GEN_CLASS_STRIDE XG_SAMPLER_MAX_ATOMS

void gen_streams_init(gen_streams *st, uint64_t seed);

/* The next nb crystals' numbers of atoms (and templates, with a table): with tab, a template
 * drawn with its training frequency among `groups` (NULL: all) with natoms_opt atoms (0: any;
 * the caller has checked that one exists) and its N; without, natoms_opt or N drawn from the
 * model's histogram. tpl may be NULL without a table. With cls_buf (nb * GEN_CLASS_STRIDE
 * ints) and cls (nb pointers), each template crystal also gets an element pattern: cls[k]
 * points into cls_buf, or is NULL when the table lists no training crystal for the template;
 * both NULL: no patterns (every orbit draws its element on its own). */
void gen_sample_sizes(gen_streams *st, const xg_model_stats *stats, const xg_template_table *tab,
                      const unsigned char *groups, long natoms_opt, int nb, int *natoms,
                      const xg_template **tpl, int *cls_buf, const int **cls);

/* What the redraws of a template run need. */
typedef struct {
    uint64_t seed;
    long natoms_opt;                /* --num-atoms, 0 when not given */
    double symprec;                 /* spglib's tolerance for the group check */
    const xg_template_table *tab;
    const unsigned char *groups;    /* --spacegroup's groups (checked), NULL: any group */
    const gen_chem_plan *chem;      /* hard chemistry: the plan, and per crystal of the batch */
    xg_sampler_chem *chemv;         /* its constraint and types (NULL without) */
    int *chem_types;
    int *cls_buf;                   /* the batch's element patterns (gen_sample_sizes), */
    const int **cls;                /* replaced with the redrawn crystals'; NULL: none */
} gen_redraw_opts;

/* Crystals drawn again, and kept as they are after the last attempt. */
typedef struct {
    long redrawn, unresolved;       /* atoms closer than 0.5 A */
    long wrong, wrong_kept;         /* spglib's group outside `groups` */
} gen_redraw_counts;

/* Template sampling keeps every state exactly symmetric, so atoms that meet at a special
 * position cannot move apart again; crystal k of the batch (index done + k of the run) whose
 * atoms ended closer than 0.5 A, or, with groups, in a group outside them, is sampled again
 * with another template, up to GEN_REDRAWS times (crystals with tpl[k] NULL are left alone).
 * batch[k], tpl[k] (and the chemistry of k) are replaced by the redrawn ones; *c counts. */
#define GEN_REDRAWS 4
int gen_sample_redraw(const gen_redraw_opts *r, const xg_noise_params *noise, xg_eval_fn eval,
                      void *eval_ctx, const xg_sampler_opts *so, const xg_template **tpl, int nb,
                      long done, xg_structure **batch, gen_redraw_counts *c, xg_error *err);

#endif
