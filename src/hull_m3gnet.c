/* hull_m3gnet.c: `xtalgen hull m3gnet` (see hull_m3gnet.h). */
#include "src/hull_m3gnet.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "crystal/xg_input.h"
#include "crystal/xg_h5util.h"
#include "properties/xg_hull.h"
#include "properties/xg_m3gnet.h"
#include "src/cli.h"
#include "src/relax_util.h"

#define CMD "hull"
#define MAXIN 16

typedef struct {
    char id[XG_ID_LEN];
    char formula[64];
    int natoms, nel, has_of;
    int z1;            /* the element of an elemental crystal, else 0 */
    double e, eform, eform_dft, fmax, fsum2;
    int ok;
} entry;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double xg_hull_m3gnet_eform(const xg_structure *s, double e, const double refs[XG_MAX_Z + 1])
{
    double sum = 0;
    for (int i = 0; i < s->natoms; i++) {
        int z = s->types[i];
        if (z < 1 || z > XG_MAX_Z || isnan(refs[z]))
            return NAN;
        sum += refs[z];
    }
    return (e - sum) / s->natoms;
}

int xg_hull_m3gnet_refs(const char *path, double refs[XG_MAX_Z + 1], xg_error *err)
{
    for (int z = 0; z <= XG_MAX_Z; z++)
        refs[z] = NAN;
    int rc = XG_OK;
    H5E_BEGIN_TRY
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) {
            rc = xg_error_set(err, XG_EIO, "%s: not a readable HDF5 file", path);
        } else {
            hsize_t n[1];
            if ((rc = xg_h5_ds_shape(f, "m3gnet_refs/z", 1, n, path, err)))
                rc = xg_error_set(err, XG_EVERSION, "%s: not an M3GNet hull table (no "
                                  "/m3gnet_refs; build one with `xtalgen hull m3gnet`)", path);
            int *z = NULL;
            double *e = NULL;
            if (!rc) {
                z = malloc(sizeof(int) * (n[0] + 1));
                e = malloc(sizeof(double) * (n[0] + 1));
                if (!z || !e)
                    rc = xg_error_set(err, XG_ENOMEM, "out of memory");
            }
            if (!rc) rc = xg_h5_get_ds(f, "m3gnet_refs/z", H5T_NATIVE_INT, 1, n, z, path, err);
            if (!rc) rc = xg_h5_get_ds(f, "m3gnet_refs/energy", H5T_NATIVE_DOUBLE, 1, n, e, path, err);
            for (hsize_t i = 0; !rc && i < n[0]; i++)
                if (z[i] >= 1 && z[i] <= XG_MAX_Z)
                    refs[z[i]] = e[i];
            free(z);
            free(e);
            H5Fclose(f);
        }
    }
    H5E_END_TRY;
    return rc;
}

static int add_refs(const char *path, const double refs[XG_MAX_Z + 1],
                    char ref_id[][XG_HULL_ID_LEN], xg_error *err)
{
    int rc = XG_OK;
    H5E_BEGIN_TRY
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), g = -1;
        if (f < 0)
            rc = xg_error_set(err, XG_EIO, "%s: cannot reopen", path);
        if (!rc && (g = H5Gcreate2(f, "m3gnet_refs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
            rc = xg_h5_fail(err, path, "create group", "m3gnet_refs");
        int z[XG_MAX_Z + 1];
        double e[XG_MAX_Z + 1];
        char ids[XG_MAX_Z + 1][XG_HULL_ID_LEN];
        hsize_t k = 0;
        for (int q = 1; q <= XG_MAX_Z; q++)
            if (!isnan(refs[q])) {
                z[k] = q;
                e[k] = refs[q];
                memcpy(ids[k], ref_id[q], XG_HULL_ID_LEN);
                k++;
            }
        if (!rc) rc = xg_h5_put_ds(g, "z", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &k, z, path, err);
        if (!rc) rc = xg_h5_put_ds(g, "energy", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &k, e, path, err);
        if (!rc) rc = xg_h5_put_names(g, "id", ids, k, XG_HULL_ID_LEN, "/m3gnet_refs/id", path, err);
        if (!rc) rc = xg_h5_put_str(f, "energy_model", "M3GNet-MP-2021.2.8 (xtalgen)", path, err);
        if (g >= 0)
            H5Gclose(g);
        if (f >= 0)
            H5Fclose(f);
    }
    H5E_END_TRY;
    return rc;
}

static const char usage[] =
    "usage: xtalgen hull m3gnet INPUT... [-o HULL.h5] [--refs HULL.h5] [--energies OUT.csv]\n"
    "                          [--limit N] [--model M3GNET.h5] [--precision P] [--threads N]\n"
    "                          [--quiet]\n";

typedef struct {
    const char *out, *refs, *energies, *model;
    long limit, threads;
    int quiet, precision;
} m3_args;

const xg_opt xg_hull_m3gnet_opts[] = {
    XG_OPT_T("\n"
             "usage: xtalgen hull m3gnet INPUT... [-o HULL.h5] [--refs HULL.h5] [--energies OUT.csv]\n"
             "                          [--limit N] [--model M3GNET.h5] [--precision P] [--threads N]\n"
             "                          [--quiet]\n"
             "m3gnet  single-point M3GNet energies (and forces) of every crystal of the inputs, formation\n"
             "        energies against elemental references, and (with -o) the convex hull of those:\n"
             "        data/hull-m3gnet-mp20.h5, which `screen --relax` reads, is this command on MP-20's\n"
             "        train, val and test crystals. References are the lowest M3GNet energy per atom\n"
             "        among the inputs' elemental crystals, or those stored in --refs HULL.h5; crystals\n"
             "        with an element without a reference get no formation energy and stay out of the\n"
             "        hull. Prints the median |F| per atom and, where the inputs carry DFT\n"
             "        formation_energy_per_atom, the MAE against it (all, and without O and F, which\n"
             "        carry MP's anion corrections the potential does not have).\n"),
    XG_OPT_OUTPUT(m3_args, out, "HULL.h5", "the hull of the M3GNet formation energies"),
    XG_OPT_S("--refs", NULL, m3_args, refs, "HULL.h5", NULL,
             "take the elemental references from this file"),
    XG_OPT_S("--energies", NULL, m3_args, energies, "OUT.csv", NULL,
             "one row per crystal: id,formula,natoms,energy,energy_per_atom,\n"
             "eform_m3gnet,eform_dft,max_force,has_O_or_F"),
    XG_OPT_I("--limit", NULL, m3_args, limit, "N", 1, 100000000, NULL,
             "only the first N crystals of each input"),
    XG_OPT_S("--model", NULL, m3_args, model, "M3GNET.h5", NULL,
             "the potential (default: the shipped one)"),
    XG_OPT_E("--precision", NULL, m3_args, precision, "float32|float64", "float32",
             "the network's arithmetic: float32 as screen --relax and relax use, or float64,\n"
             "the reference (energies differ by ~1e-6 eV/atom; see README)"),
    XG_OPT_THREADS_ALL(m3_args, threads),
    XG_OPT_QUIET(m3_args, quiet),
    XG_OPT_TABLE_END};

int xg_hull_m3gnet_cmd(int argc, char **argv)
{
    m3_args A;
    xg_opts_args args;
    if (xg_opts_parse("hull m3gnet", xg_hull_m3gnet_opts, argc, argv, &A, sizeof A, &args, MAXIN))
        return XG_EXIT_USAGE;
    const char *const *inputs = args.pos;
    const char *out = A.out, *refs_path = A.refs, *csv = A.energies, *model = A.model;
    int ninputs = args.npos, quiet = A.quiet;
    long limit = A.limit, threads = A.threads;
    if (!ninputs || (!out && !csv && !refs_path)) {
        xg_cli_errorf(CMD, "m3gnet needs INPUT... and -o HULL.h5 (or --refs/--energies)\n%s", usage);
        return XG_EXIT_USAGE;
    }
    xg_error err = {0};
    xg_m3gnet *m = NULL;
    if (xg_relax_load_model(model, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    xg_m3gnet_set_precision(m, (xg_m3gnet_precision)A.precision);
    if (threads > 0)
        omp_set_num_threads((int)threads);
    openblas_set_num_threads(1);
    entry *E = NULL;
    long n = 0, cap = 0;
    double *fabs_all = NULL;
    long nf = 0, capf = 0;
    int status = XG_EXIT_OK;
    xg_dataset *keep[MAXIN] = {0};
    long base[MAXIN + 1] = {0};
    double t0 = xg_now();
    /* one work arena per thread, reused from crystal to crystal */
    int nth = omp_get_max_threads();
    xg_m3gnet_work **works = calloc((size_t)nth, sizeof *works);
    for (int t = 0; works && t < nth; t++)
        if (!(works[t] = xg_m3gnet_work_alloc())) {
            xg_cli_errorf(CMD, "out of memory");
            return XG_EXIT_FAIL;
        }
    if (!works) {
        xg_cli_errorf(CMD, "out of memory");
        return XG_EXIT_FAIL;
    }
    for (int k = 0; k < ninputs; k++) {
        xg_dataset *ds = NULL;
        base[k + 1] = base[k];
        if (xg_input_read(inputs[k], &ds, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            status = XG_EXIT_FAIL;
            continue;
        }
        keep[k] = ds;
        long cnt = limit > 0 && limit < ds->n ? limit : (long)ds->n;
        if (n + cnt > cap) {
            cap = n + cnt;
            entry *ne = realloc(E, sizeof(entry) * cap);
            if (!ne) {
                xg_cli_errorf(CMD, "out of memory");
                return XG_EXIT_FAIL;
            }
            E = ne;
        }
        int ip = xg_dataset_find_property(ds, "formation_energy_per_atom");
        long atoms = 0;
        for (long i = 0; i < cnt; i++)
            atoms += xg_dataset_natoms(ds, i);
        if (nf + atoms > capf) {
            capf = nf + atoms;
            double *nfa = realloc(fabs_all, sizeof(double) * capf);
            if (!nfa) {
                xg_cli_errorf(CMD, "out of memory");
                return XG_EXIT_FAIL;
            }
            fabs_all = nfa;
        }
        long *aoff = malloc(sizeof(long) * (cnt + 1));
        aoff[0] = nf;
        for (long i = 0; i < cnt; i++)
            aoff[i + 1] = aoff[i] + xg_dataset_natoms(ds, i);
        xg_progress bar;
        xg_progress_start(&bar, inputs[k], cnt, quiet);
        long done = 0;
#pragma omp parallel for schedule(dynamic, 4)
        for (long i = 0; i < cnt; i++) {
            entry *en = &E[n + i];
            memset(en, 0, sizeof *en);
            en->e = en->eform = en->fmax = NAN;
            en->eform_dft = ip >= 0 ? ds->props[i * ds->nprops + ip] : NAN;
            snprintf(en->id, sizeof en->id, "%s", ds->ids[i]);
            xg_error e2 = {0};
            xg_structure *s = xg_dataset_get(ds, i, &e2);
            if (s) {
                en->natoms = s->natoms;
                en->nel = xg_structure_nelements(s);
                en->z1 = en->nel == 1 ? s->types[0] : 0;
                for (int a = 0; a < s->natoms; a++)
                    en->has_of |= s->types[a] == 8 || s->types[a] == 9;
                xg_structure_reduced_formula(s, en->formula, sizeof en->formula);
                double(*F)[3] = malloc(sizeof(double[3]) * s->natoms);
                if (F && !xg_m3gnet_compute_work(m, works[omp_get_thread_num()], s, &en->e, F, NULL,
                                                 &e2)) {
                    en->ok = 1;
                    en->fmax = 0;
                    for (int a = 0; a < s->natoms; a++) {
                        double f = sqrt(F[a][0] * F[a][0] + F[a][1] * F[a][1] + F[a][2] * F[a][2]);
                        fabs_all[aoff[i] + a] = f;
                        en->fmax = fmax(en->fmax, f);
                    }
                } else {
                    for (int a = 0; a < s->natoms; a++)
                        fabs_all[aoff[i] + a] = NAN;
                }
                free(F);
                xg_structure_free(s);
            }
#pragma omp critical
            xg_progress_update(&bar, ++done);
        }
        xg_progress_finish(&bar);
        nf = aoff[cnt];
        free(aoff);
        n += cnt;
        base[k + 1] = n;
    }
    double secs = xg_now() - t0;
    for (int t = 0; works && t < nth; t++)
        xg_m3gnet_work_free(works[t]);
    free(works);
    /* elemental references */
    double refs[XG_MAX_Z + 1];
    static char ref_id[XG_MAX_Z + 1][XG_HULL_ID_LEN];
    if (refs_path) {
        if (xg_hull_m3gnet_refs(refs_path, refs, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            return XG_EXIT_FAIL;
        }
    } else {
        for (int z = 0; z <= XG_MAX_Z; z++)
            refs[z] = NAN;
        memset(ref_id, 0, sizeof ref_id);
        for (long i = 0; i < n; i++)
            if (E[i].ok && E[i].z1 > 0) {
                double epa = E[i].e / E[i].natoms;
                if (isnan(refs[E[i].z1]) || epa < refs[E[i].z1]) {
                    refs[E[i].z1] = epa;
                    snprintf(ref_id[E[i].z1], XG_HULL_ID_LEN, "%s", E[i].id);
                }
            }
    }
    int nrefs = 0;
    for (int z = 1; z <= XG_MAX_Z; z++)
        nrefs += !isnan(refs[z]);
    /* formation energies, hull, statistics */
    xg_hull *h = out ? xg_hull_alloc() : NULL;
    long failed = 0, noref = 0, nmae = 0, nmae_no = 0;
    double mae = 0, mae_no = 0;
    for (int k = 0; k < ninputs; k++) {
        xg_dataset *ds = keep[k];
        for (long i = base[k]; ds && i < base[k + 1]; i++) {
            entry *en = &E[i];
            if (!en->ok) {
                failed++;
                continue;
            }
            xg_structure *s = xg_dataset_get(ds, i - base[k], &err);
            en->eform = s ? xg_hull_m3gnet_eform(s, en->e, refs) : NAN;
            if (isnan(en->eform)) {
                noref++;
            } else {
                if (!isnan(en->eform_dft)) {
                    mae += fabs(en->eform - en->eform_dft);
                    nmae++;
                    if (!en->has_of) {
                        mae_no += fabs(en->eform - en->eform_dft);
                        nmae_no++;
                    }
                }
                xg_hull_comp c;
                if (h && (xg_hull_comp_from_types(s->types, s->natoms, &c, &err) ||
                          xg_hull_add(h, &c, en->eform, en->id, &err))) {
                    xg_cli_errorf(CMD, "%s", err.msg);
                    status = XG_EXIT_FAIL;
                }
            }
            xg_structure_free(s);
        }
    }
    long nvalid = 0;
    for (long i = 0; i < nf; i++)
        if (!isnan(fabs_all[i]))
            fabs_all[nvalid++] = fabs_all[i];
    qsort(fabs_all, (size_t)nvalid, sizeof(double), cmp_d);
    printf("M3GNet single points: %ld crystals (%ld failed) in %.1f s, %d threads\n", n, failed,
           secs, omp_get_max_threads());
    printf("  elemental references: %d (%s)\n", nrefs,
           refs_path ? refs_path : "lowest energy per atom of each element's crystals here");
    printf("  without a reference for some element: %ld crystals\n", noref);
    if (nvalid)
        printf("  |F| per atom: median %.4f, 90th percentile %.4f eV/A over %ld atoms\n",
               fabs_all[nvalid / 2], fabs_all[(long)(0.9 * (nvalid - 1))], nvalid);
    if (nmae)
        printf("  formation energy vs DFT: MAE %.4f eV/atom over %ld crystals; without O and F "
               "%.4f over %ld\n", mae / nmae, nmae, nmae_no ? mae_no / nmae_no : NAN, nmae_no);
    if (csv) {
        xg_atomic_file af;
        if (xg_atomic_open(&af, csv, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            status = XG_EXIT_FAIL;
        } else {
            fprintf(af.f, "id,formula,natoms,energy,energy_per_atom,eform_m3gnet,eform_dft,"
                          "max_force,has_O_or_F\n");
            for (long i = 0; i < n; i++)
                fprintf(af.f, "%s,%s,%d,%.6f,%.6f,%.6f,%.6f,%.5f,%d\n", E[i].id, E[i].formula,
                        E[i].natoms, E[i].e, E[i].ok ? E[i].e / E[i].natoms : NAN, E[i].eform,
                        E[i].eform_dft, E[i].fmax, E[i].has_of);
            if (xg_atomic_commit(&af, &err)) {
                xg_cli_errorf(CMD, "%s", err.msg);
                status = XG_EXIT_FAIL;
            }
        }
    }
    if (h) {
        /* written whole (hull, then the elemental references) before it takes the name */
        char tmp[4200];
        int rc = xg_hull_finalize(h, NULL, &err);
        int have_tmp = !rc && !(rc = xg_atomic_tmpname(out, tmp, sizeof tmp, &err));
        if (!rc) rc = xg_hull_write_h5(h, tmp, &err);
        if (!rc) rc = add_refs(tmp, refs, ref_id, &err);
        if (!rc) rc = xg_atomic_rename(tmp, out, &err);
        if (rc) {
            if (have_tmp)
                unlink(tmp);
            xg_cli_errorf(CMD, "%s", err.msg);
            status = XG_EXIT_FAIL;
        } else {
            printf("  wrote %s: %lld hull entries, %d elemental references\n", out,
                   (long long)xg_hull_size(h), nrefs);
        }
        xg_hull_free(h);
    }
    for (int k = 0; k < ninputs; k++)
        xg_dataset_free(keep[k]);
    free(E);
    free(fabs_all);
    xg_m3gnet_free(m);
    return status;
}
