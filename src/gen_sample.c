/* gen_sample.c: the crystals of a generate batch (see gen_sample.h). */
#include "src/gen_sample.h"

#include <stdlib.h>
#include <string.h>

#include "crystal/xg_symmetry.h"
#include "crystal/xg_validity.h"

void gen_streams_init(gen_streams *st, uint64_t seed)
{
    xg_rng_seed(&st->nrng, seed, UINT64_C(1) << 62);
    xg_rng_seed(&st->trng, seed, (UINT64_C(1) << 62) + 1);
    xg_rng_seed(&st->crng, seed, (UINT64_C(1) << 62) + 2);
}

/* The element pattern of a training crystal of template ti into cls; NULL when none is listed. */
static const int *pattern(const xg_template_table *tab, int ti, xg_rng *rng, int *cls)
{
    int64_t m = xg_template_table_draw_member(tab, ti, rng);
    if (m < 0)
        return NULL;
    xg_template_member_classes(tab, m, cls);
    return cls;
}

void gen_sample_sizes(gen_streams *st, const xg_model_stats *stats, const xg_template_table *tab,
                      const unsigned char *groups, long natoms_opt, int nb, int *natoms,
                      const xg_template **tpl, int *cls_buf, const int **cls)
{
    for (int k = 0; k < nb; k++) {
        if (cls)
            cls[k] = NULL;
        if (tab) {
            int ti = xg_template_table_draw(tab, groups, (int)natoms_opt, &st->trng);
            tpl[k] = &tab->t[ti]; /* ti >= 0: the caller checked the weight */
            natoms[k] = tpl[k]->natoms;
            if (cls)
                cls[k] = pattern(tab, ti, &st->crng, cls_buf + (size_t)k * GEN_CLASS_STRIDE);
        } else {
            natoms[k] = natoms_opt > 0 ? (int)natoms_opt : xg_model_sample_natoms(stats, &st->nrng);
        }
    }
}

/* ~13% of template crystals ended with atoms closer than the CDVAE limit of 0.5 A before the
 * redraws. They are rejection of unphysical samples, which conditions the distribution on
 * structural validity, as pyxtal and AIRSS do for random structures; summary.json counts
 * them. */
static int collapsed(const xg_structure *s)
{
    double d = 0;
    xg_error e = {0};
    return xg_validity_min_distance(s, 1.0, &d, &e) != XG_OK || d < 0.5;
}

/* With --spacegroup the user asked for these groups: a template crystal whose atoms ended where
 * spglib (at the run's symprec) finds a higher group is not what was asked for. The usual case
 * is two orbits of one element that together form a smaller lattice (rock salt of one element
 * is simple cubic Pm-3m, not Fm-3m): it is drawn again like a collapsed one. */
static int wrong_group(const xg_structure *s, const unsigned char *groups, double symprec)
{
    int sg = 0;
    char sym[32];
    xg_error e = {0};
    if (xg_symmetry_spacegroup(s, symprec, &sg, sym, &e) || sg < 1 || sg > 230)
        return 1;
    return !groups[sg];
}

enum { KEPT, COLLAPSED, WRONG_GROUP };

static int rejected(const gen_redraw_opts *r, const xg_structure *s)
{
    if (collapsed(s))
        return COLLAPSED;
    return r->groups && wrong_group(s, r->groups, r->symprec) ? WRONG_GROUP : KEPT;
}

/* A crystal kept as it is after its last attempt, counted by the reason of that attempt. */
static void kept(gen_redraw_counts *c, int why)
{
    if (why == WRONG_GROUP)
        c->wrong_kept++;
    else
        c->unresolved++;
}

int gen_sample_redraw(const gen_redraw_opts *r, const xg_noise_params *noise, xg_eval_fn eval,
                      void *eval_ctx, const xg_sampler_opts *so, const xg_template **tpl, int nb,
                      long done, xg_structure **batch, gen_redraw_counts *c, xg_error *err)
{
    /* The crystals still rejected after each attempt are sampled again together, as one
     * batch: their streams depend on their index and the attempt only, so gathering them does
     * not change any crystal, and the network sees batches big enough to be efficient. */
    int *idx = malloc((size_t)nb * sizeof *idx), *nat = malloc((size_t)nb * sizeof *nat);
    int *why = malloc((size_t)nb * sizeof *why); /* per crystal: the last verdict */
    uint64_t *streams = malloc((size_t)nb * sizeof *streams);
    const xg_template **one = malloc((size_t)nb * sizeof *one);
    xg_structure **fresh = calloc((size_t)nb, sizeof *fresh);
    xg_sampler_chem *cv = calloc((size_t)nb, sizeof *cv);
    const xg_sampler_chem **cp = calloc((size_t)nb, sizeof *cp);
    int *rbuf = r->cls ? malloc((size_t)nb * GEN_CLASS_STRIDE * sizeof *rbuf) : NULL;
    const int **rcls = r->cls ? calloc((size_t)nb, sizeof *rcls) : NULL;
    int rc = XG_OK;
    if (!idx || !nat || !why || !streams || !one || !fresh || !cv || !cp ||
        (r->cls && (!rbuf || !rcls))) {
        rc = xg_error_set(err, XG_ENOMEM, "out of memory for redraws");
        goto out;
    }
    int nleft = 0;
    for (int k = 0; k < nb; k++) {
        why[k] = tpl[k] ? rejected(r, batch[k]) : KEPT;
        if (why[k])
            idx[nleft++] = k;
        if (why[k] == COLLAPSED)
            c->redrawn++;
        else if (why[k] == WRONG_GROUP)
            c->wrong++;
    }
    for (int attempt = 1; attempt <= GEN_REDRAWS && nleft > 0; attempt++) {
        int nr = 0;
        for (int i = 0; i < nleft; i++) {
            uint64_t ci = (uint64_t)(done + idx[i]);
            xg_rng rng;
            xg_rng_seed(&rng, r->seed, (UINT64_C(1) << 61) + ci * 16 + (uint64_t)attempt);
            int k = idx[i];
            const gen_comp *comp = r->chemv ? gen_chem_comp_of(r->chem, done + k) : NULL;
            int nwant = comp ? comp->natoms : (int)r->natoms_opt;
            xg_sampler_chem c1 = r->chemv ? r->chemv[k] : (xg_sampler_chem){0};
            int *tb = r->chem_types ? r->chem_types + (size_t)k * 1000 : NULL;
            /* A composition draws again among the training crystals of its stoichiometry
             * (--csp-templates similar), else among the templates that fit. */
            int similar = comp && r->chem->similar
                              ? gen_chem_template_similar(comp, r->tab, r->groups, &rng, tb)
                              : -1;
            if (similar == -2) {
                rc = xg_error_set(err, XG_ENOMEM, "out of memory for redraws");
                goto out;
            }
            /* A chemical system by analogy (types, no composition) draws another analogue. */
            int analogue = r->chemv && !comp && c1.types && c1.allowed && r->chem->analogues;
            int64_t member = analogue ? gen_chem_analogue_draw(c1.allowed, r->tab, r->groups,
                                                               nwant, &rng)
                                      : -1;
            if (member == -2) {
                rc = xg_error_set(err, XG_ENOMEM, "out of memory for redraws");
                goto out;
            }
            if (analogue && member >= 0) {
                gen_chem_analogue_types(c1.allowed, r->tab, member, tb);
                c1.types = tb;
            }
            int ti = similar >= 0   ? similar
                     : member >= 0 ? r->tab->member_template[member]
                                   : xg_template_table_draw(r->tab, r->groups, nwant, &rng);
            /* Hard chemistry: only a template that can hold the crystal's constraint (a few
             * draws; the first one that fits). */
            for (int tries = 0; r->chemv && similar < 0 && !analogue && ti >= 0 && tries < 64;
                 tries++) {
                if (gen_chem_template_fits(&c1, comp, &r->tab->t[ti], &rng, tb))
                    break;
                ti = tries == 63 ? -1 : xg_template_table_draw(r->tab, r->groups, nwant, &rng);
            }
            if (ti < 0 || (analogue && member < 0)) {
                kept(c, why[k]); /* no template left to draw: kept as it is */
                continue;
            }
            if (comp)
                c1.types = tb;
            if (rcls)
                rcls[nr] = r->chemv ? NULL
                                    : pattern(r->tab, ti, &rng, rbuf + (size_t)nr * GEN_CLASS_STRIDE);
            idx[nr] = k;
            one[nr] = &r->tab->t[ti];
            nat[nr] = one[nr]->natoms;
            cv[nr] = c1;
            cp[nr] = &cv[nr];
            /* Sampler streams beyond 2^60 are never used by first draws (indices < N). */
            streams[nr] = (UINT64_C(1) << 60) + ci * 16 + (uint64_t)attempt;
            nr++;
        }
        if (nr == 0)
            break;
        xg_sampler_opts o1 = *so;
        o1.templates = one;
        o1.streams = streams;
        o1.chem = r->chemv ? cp : NULL;
        o1.orbit_class = rcls;
        rc = xg_sampler_run(noise, eval, eval_ctx, &o1, nr, nat, r->seed, 0, fresh, NULL, NULL,
                            err);
        if (rc)
            goto out;
        nleft = 0;
        for (int i = 0; i < nr; i++) {
            int k = idx[i];
            xg_structure_free(batch[k]);
            batch[k] = fresh[i];
            fresh[i] = NULL;
            tpl[k] = one[i];
            if (rcls) {
                int *dst = r->cls_buf + (size_t)k * GEN_CLASS_STRIDE;
                if (rcls[i])
                    memcpy(dst, rcls[i], (size_t)one[i]->norbits * sizeof *dst);
                r->cls[k] = rcls[i] ? dst : NULL;
            }
            if (r->chemv)
                r->chemv[k] = cv[i];
            if ((why[k] = rejected(r, batch[k])))
                idx[nleft++] = k;
        }
    }
    for (int i = 0; i < nleft; i++)
        kept(c, why[idx[i]]);
out:
    free(idx);
    free(nat);
    free(why);
    free(streams);
    free(one);
    free(fresh);
    free(cv);
    free(cp);
    free(rbuf);
    free(rcls);
    return rc;
}
