/* xg_relax.c: FIRE on positions and cell with the M3GNet potential (see xg_relax.h). */
#include "properties/xg_relax.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void xg_relax_default_config(xg_relax_config *c)
{
    c->fmax = 0.05;
    c->max_steps = 500;
    c->fixed_cell = 0;
    c->max_step = 0.2;
}

static int inv3(const double a[3][3], double o[3][3])
{
    double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                 a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                 a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    if (!(fabs(det) > 1e-12) || !isfinite(det))
        return -1;
    o[0][0] = (a[1][1] * a[2][2] - a[1][2] * a[2][1]) / det;
    o[0][1] = (a[0][2] * a[2][1] - a[0][1] * a[2][2]) / det;
    o[0][2] = (a[0][1] * a[1][2] - a[0][2] * a[1][1]) / det;
    o[1][0] = (a[1][2] * a[2][0] - a[1][0] * a[2][2]) / det;
    o[1][1] = (a[0][0] * a[2][2] - a[0][2] * a[2][0]) / det;
    o[1][2] = (a[0][2] * a[1][0] - a[0][0] * a[1][2]) / det;
    o[2][0] = (a[1][0] * a[2][1] - a[1][1] * a[2][0]) / det;
    o[2][1] = (a[0][1] * a[2][0] - a[0][0] * a[2][1]) / det;
    o[2][2] = (a[0][0] * a[1][1] - a[0][1] * a[1][0]) / det;
    return 0;
}

static double det3(const double a[3][3])
{
    return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
           a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
           a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
}

/* State -> structure: lattice L0 G, fractional y L0^-1 (independent of G). */
static void place(xg_structure *s, const double L0[3][3], const double L0i[3][3],
                  const double (*y)[3], const double G[3][3])
{
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            s->lattice[r][c] = L0[r][0] * G[0][c] + L0[r][1] * G[1][c] + L0[r][2] * G[2][c];
    for (int i = 0; i < s->natoms; i++)
        for (int c = 0; c < 3; c++)
            s->frac[i][c] = y[i][0] * L0i[0][c] + y[i][1] * L0i[1][c] + y[i][2] * L0i[2][c];
}

/* Energy and generalized forces f ((n + 3) x 3; the last 3 rows are the cell's). Returns the
 * largest row norm in *fmax. */
static int evaluate(const xg_m3gnet *m, xg_m3gnet_work *w, xg_structure *s, const double G[3][3], int fixed_cell,
                    double (*F)[3], double (*f)[3], double *E, double stress[3][3],
                    double *fmax_out, xg_error *err)
{
    int n = s->natoms;
    int rc = xg_m3gnet_compute_work(m, w, s, E, F, stress, err);
    if (rc)
        return rc;
    double best = 0;
    for (int i = 0; i < n; i++) {
        double nrm = 0;
        for (int a = 0; a < 3; a++) {
            f[i][a] = F[i][0] * G[a][0] + F[i][1] * G[a][1] + F[i][2] * G[a][2];
            nrm += f[i][a] * f[i][a];
        }
        best = fmax(best, sqrt(nrm));
    }
    double Gi[3][3];
    if (inv3(G, Gi))
        return xg_error_set(err, XG_ENUMERIC, "%s: the cell collapsed during relaxation", s->id);
    double V = xg_structure_volume(s);
    for (int c = 0; c < 3; c++) {
        double nrm = 0;
        for (int b = 0; b < 3; b++) {
            double v = 0;
            /* -(1/N) V (G^-T sigma)_cb */
            for (int a = 0; a < 3; a++)
                v += Gi[a][c] * stress[a][b];
            f[n + c][b] = fixed_cell ? 0.0 : -V * v / n;
            nrm += f[n + c][b] * f[n + c][b];
        }
        best = fmax(best, sqrt(nrm));
    }
    *fmax_out = best;
    return XG_OK;
}

int xg_relax_run(const xg_m3gnet *m, xg_structure *s, const xg_relax_config *cfg,
                 xg_relax_result *res, xg_error *err)
{
    memset(res, 0, sizeof *res);
    int n = s->natoms, nr = n + 3;
    if (n < 1)
        return xg_error_set(err, XG_EINVAL, "%s: no atoms", s->id);
    double L0[3][3], L0i[3][3], G[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    memcpy(L0, s->lattice, sizeof L0);
    if (inv3(L0, L0i))
        return xg_error_set(err, XG_EINVAL, "%s: singular lattice", s->id);
    xg_structure *in = xg_structure_copy(s);
    double(*q)[3] = malloc(sizeof(double[3]) * nr);   /* y (n rows) then N G (3 rows) */
    double(*v)[3] = calloc((size_t)nr, sizeof(double[3]));
    double(*f)[3] = malloc(sizeof(double[3]) * nr);
    double(*F)[3] = malloc(sizeof(double[3]) * n);
    double(*best_q)[3] = malloc(sizeof(double[3]) * nr);
    xg_m3gnet_work *w = xg_m3gnet_work_alloc();
    if (!in || !q || !v || !f || !F || !best_q || !w) {
        xg_m3gnet_work_free(w);
        xg_structure_free(in);
        free(q), free(v), free(f), free(F), free(best_q);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            q[i][c] = s->frac[i][0] * L0[0][c] + s->frac[i][1] * L0[1][c] + s->frac[i][2] * L0[2][c];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            q[n + r][c] = n * G[r][c];
    double E, fm, stress[3][3];
    int rc = evaluate(m, w, s, G, cfg->fixed_cell, F, f, &E, stress, &fm, err);
    if (rc)
        goto done;
    res->e_initial = E;
    res->fmax_initial = fm;
    double best_E = E;
    memcpy(best_q, q, sizeof(double[3]) * nr);
    const double dtmax = 1.0, finc = 1.1, fdec = 0.5, astart = 0.1, fa = 0.99;
    const int nmin = 5;
    double dt = 0.1, alpha = astart;
    int npos = 0, step = 0;
    while (fm >= cfg->fmax && step < cfg->max_steps) {
        double vf = 0, vv = 0, ff = 0;
        for (int r = 0; r < nr; r++)
            for (int c = 0; c < 3; c++) {
                vf += v[r][c] * f[r][c];
                vv += v[r][c] * v[r][c];
                ff += f[r][c] * f[r][c];
            }
        if (vf > 0) {
            double sc = ff > 0 ? sqrt(vv / ff) : 0;
            for (int r = 0; r < nr; r++)
                for (int c = 0; c < 3; c++)
                    v[r][c] = (1 - alpha) * v[r][c] + alpha * f[r][c] * sc;
            if (npos > nmin) {
                dt = fmin(dt * finc, dtmax);
                alpha *= fa;
            }
            npos++;
        } else {
            memset(v, 0, sizeof(double[3]) * nr);
            alpha = astart;
            dt *= fdec;
            npos = 0;
        }
        double dr2 = 0;
        for (int r = 0; r < nr; r++)
            for (int c = 0; c < 3; c++) {
                v[r][c] += dt * f[r][c];
                dr2 += dt * v[r][c] * dt * v[r][c];
            }
        double scale = sqrt(dr2) > cfg->max_step ? cfg->max_step / sqrt(dr2) : 1.0;
        for (int r = 0; r < nr; r++)
            for (int c = 0; c < 3; c++)
                q[r][c] += scale * dt * v[r][c];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                G[r][c] = q[n + r][c] / n;
        step++;
        if (!(det3(G) > 0.2 && det3(G) < 5.0)) {
            rc = xg_error_set(err, XG_ENUMERIC, "%s: relaxation changed the volume %.2fx; stopped "
                              "at step %d", s->id, det3(G), step);
            break;
        }
        place(s, L0, L0i, (const double(*)[3])q, G);
        rc = evaluate(m, w, s, G, cfg->fixed_cell, F, f, &E, stress, &fm, err);
        if (rc)
            break;
        if (E < best_E) {
            best_E = E;
            memcpy(best_q, q, sizeof(double[3]) * nr);
        }
    }
    if (rc) {
        /* give back the lowest-energy structure seen */
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                G[r][c] = best_q[n + r][c] / n;
        place(s, L0, L0i, (const double(*)[3])best_q, G);
        res->e_final = best_E;
        res->steps = step;
        goto done;
    }
    res->e_final = E;
    res->fmax_final = fm;
    res->steps = step;
    res->converged = fm < cfg->fmax;
    memcpy(res->stress, stress, sizeof stress);
    res->max_force = 0;
    for (int i = 0; i < n; i++)
        res->max_force =
            fmax(res->max_force, sqrt(F[i][0] * F[i][0] + F[i][1] * F[i][1] + F[i][2] * F[i][2]));
    /* displacement from the input: fractional differences (minimal image, mean removed) in the
     * final cell */
    {
        double mean[3] = {0, 0, 0}, (*d)[3] = F;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) {
                double x = s->frac[i][c] - in->frac[i][c];
                d[i][c] = x - round(x);
                mean[c] += d[i][c] / n;
            }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double fr[3], cart[3];
            for (int c = 0; c < 3; c++) {
                fr[c] = d[i][c] - mean[c];
                fr[c] -= round(fr[c]);
            }
            for (int c = 0; c < 3; c++) {
                cart[c] = fr[0] * s->lattice[0][c] + fr[1] * s->lattice[1][c] + fr[2] * s->lattice[2][c];
                sum += cart[c] * cart[c];
            }
        }
        res->rms_displacement = sqrt(sum / n);
        res->volume_change = xg_structure_volume(s) / xg_structure_volume(in) - 1.0;
    }
done:
    xg_m3gnet_work_free(w);
    xg_structure_wrap(s);
    xg_structure_free(in);
    free(q), free(v), free(f), free(F), free(best_q);
    return rc;
}
