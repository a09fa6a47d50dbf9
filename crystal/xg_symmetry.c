/* xg_symmetry.c: spglib behind xtalgen's conventions (see xg_symmetry.h). */
#include "crystal/xg_symmetry.h"

#include <math.h>
#include <spglib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_lattice.h"

/* THE transpose. xtalgen stores lattice vectors as rows (lattice[i] is vector i); spglib
 * stores them as columns (lattice[.][i] is vector i). Both directions are the same matrix
 * transpose; every lattice that crosses the spglib boundary goes through here and nowhere
 * else, so a convention bug has exactly one place to live (and tests/test_symmetry.c checks
 * it on a monoclinic cell, where getting it wrong changes the space group). */
static void lattice_convention_swap(const double in[3][3], double out[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out[i][j] = in[j][i];
}

static int spglib_failure(xg_error *err, const char *what, const xg_structure *s, double symprec)
{
    SpglibError code = spg_get_error_code();
    const char *msg = spg_get_error_message(code);
    if (code == SPGLIB_SUCCESS)
        msg = "no result";
    return xg_error_set(err, XG_ELIB, "%s: spglib %s failed at symprec %g: %s",
                        s->id[0] ? s->id : "structure", what, symprec, msg ? msg : "unknown error");
}

static int check_input(const xg_structure *s, double symprec, xg_error *err)
{
    if (!s || s->natoms <= 0 || !s->types || !s->frac)
        return xg_error_set(err, XG_EINVAL, "symmetry: structure has no atoms");
    if (!(symprec > 0) || !isfinite(symprec))
        return xg_error_set(err, XG_EINVAL, "symmetry: symprec must be a positive number, got %g",
                            symprec);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(s->lattice[i][j]))
                return xg_error_set(err, XG_EINVAL, "%s: lattice has a non-finite entry", s->id);
    double (*L)[3] = (double (*)[3])s->lattice;
    double det = L[0][0] * (L[1][1] * L[2][2] - L[1][2] * L[2][1]) -
                 L[0][1] * (L[1][0] * L[2][2] - L[1][2] * L[2][0]) +
                 L[0][2] * (L[1][0] * L[2][1] - L[1][1] * L[2][0]);
    if (!(fabs(det) > 1e-8))
        return xg_error_set(err, XG_EINVAL, "%s: lattice is singular (volume %g)", s->id, det);
    /* spglib 2.0 crashes (not fails: crashes) on cells thinner than a fraction of symprec, so
     * such cells are refused here. A cell that thin is no crystal: every atom would sit on
     * its own periodic image within the tolerance. */
    for (int i = 0; i < 3; i++) {
        const double *u = L[(i + 1) % 3], *v = L[(i + 2) % 3];
        double c[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                       u[0] * v[1] - u[1] * v[0]};
        double height = fabs(det) / sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
        double need = symprec > 0.1 ? symprec : 0.1;
        if (!(height >= need))
            return xg_error_set(err, XG_EINVAL,
                                "%s: the cell is only %.3g A thick along lattice vector %d (needs "
                                "at least %g A, and symprec): not a crystal to analyse",
                                s->id[0] ? s->id : "structure", height, i + 1, need);
    }
    for (int a = 0; a < s->natoms; a++) {
        for (int d = 0; d < 3; d++)
            if (!isfinite(s->frac[a][d]))
                return xg_error_set(err, XG_EINVAL, "%s: atom %d has a non-finite coordinate",
                                    s->id, a + 1);
    }
    return XG_OK;
}

/* Runs spg_get_dataset on s. The caller frees with spg_free_dataset. */
static SpglibDataset *get_dataset(const xg_structure *s, double symprec, xg_error *err)
{
    if (check_input(s, symprec, err))
        return NULL;
    double lat[3][3];
    lattice_convention_swap(s->lattice, lat);
    double (*pos)[3] = malloc((size_t)s->natoms * sizeof *pos);
    if (!pos) {
        xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
        return NULL;
    }
    memcpy(pos, s->frac, (size_t)s->natoms * sizeof *pos);
    SpglibDataset *d = spgat_get_dataset(lat, (SPGCONST double(*)[3])pos, s->types, s->natoms,
                                         symprec, XG_SYMMETRY_ANGLE_TOLERANCE);
    free(pos);
    if (!d || d->spacegroup_number <= 0) {
        if (d)
            spg_free_dataset(d);
        spglib_failure(err, "space-group search", s, symprec);
        return NULL;
    }
    return d;
}

void xg_symmetry_free(xg_symmetry *sym)
{
    if (!sym)
        return;
    free(sym->rotations);
    free(sym->translations);
    free(sym->wyckoffs);
    free(sym->site_symmetry);
    free(sym->equivalent_atoms);
    free(sym->crystallographic_orbits);
    free(sym);
}

int xg_symmetry_analyze(const xg_structure *s, double symprec, xg_symmetry **out, xg_error *err)
{
    *out = NULL;
    SpglibDataset *d = get_dataset(s, symprec, err);
    if (!d)
        return err ? err->code : XG_ELIB;
    xg_symmetry *sym = calloc(1, sizeof *sym);
    int nops = d->n_operations, na = d->n_atoms;
    if (sym) {
        sym->rotations = malloc((size_t)(nops > 0 ? nops : 1) * sizeof *sym->rotations);
        sym->translations = malloc((size_t)(nops > 0 ? nops : 1) * sizeof *sym->translations);
        sym->wyckoffs = malloc((size_t)na + 1);
        sym->site_symmetry = malloc((size_t)na * sizeof *sym->site_symmetry);
        sym->equivalent_atoms = malloc((size_t)na * sizeof *sym->equivalent_atoms);
        sym->crystallographic_orbits = malloc((size_t)na * sizeof(int));
    }
    if (!sym || !sym->rotations || !sym->translations || !sym->wyckoffs || !sym->site_symmetry ||
        !sym->equivalent_atoms || !sym->crystallographic_orbits) {
        xg_symmetry_free(sym);
        spg_free_dataset(d);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
    }
    sym->spacegroup_number = d->spacegroup_number;
    sym->hall_number = d->hall_number;
    snprintf(sym->international, sizeof sym->international, "%s", d->international_symbol);
    snprintf(sym->hall_symbol, sizeof sym->hall_symbol, "%s", d->hall_symbol);
    snprintf(sym->choice, sizeof sym->choice, "%s", d->choice);
    snprintf(sym->pointgroup, sizeof sym->pointgroup, "%s", d->pointgroup_symbol);
    sym->n_operations = nops;
    memcpy(sym->rotations, d->rotations, (size_t)nops * sizeof *sym->rotations);
    memcpy(sym->translations, d->translations, (size_t)nops * sizeof *sym->translations);
    sym->natoms = na;
    for (int i = 0; i < na; i++) {
        int w = d->wyckoffs[i];
        sym->wyckoffs[i] = (w >= 0 && w < 26) ? (char)('a' + w) : '?';
        snprintf(sym->site_symmetry[i], sizeof sym->site_symmetry[i], "%s",
                 d->site_symmetry_symbols[i]);
        sym->equivalent_atoms[i] = d->equivalent_atoms[i];
        sym->crystallographic_orbits[i] = d->crystallographic_orbits[i];
    }
    sym->wyckoffs[na] = '\0';
    memcpy(sym->transformation, d->transformation_matrix, sizeof sym->transformation);
    memcpy(sym->origin_shift, d->origin_shift, sizeof sym->origin_shift);
    memcpy(sym->std_rotation, d->std_rotation_matrix, sizeof sym->std_rotation);
    lattice_convention_swap(d->std_lattice, sym->std_lattice);
    lattice_convention_swap(d->primitive_lattice, sym->primitive_lattice);
    spg_free_dataset(d);
    *out = sym;
    return XG_OK;
}

/* ---------------------------------------------------------- fast space group -------- */

/* Why a second path: spg_get_dataset also assigns Wyckoff letters, which costs
 * O(letters x operations^2) overlap tests per orbit of the conventional cell and dominates the
 * run time for high-symmetry crystals (about 7 ms a crystal on MP-20, 20+ ms for F-centred
 * cubic ones). When only the space-group type is wanted (`xtalgen symmetry` on tens of
 * thousands of crystals), the operations are found here, the way spglib finds them (Delaunay-
 * reduced cell, lattice rotations among the 26 shortest combinations with spglib's
 * length/angle tolerances, translations from the rarest species), and spglib identifies the
 * type from them (spg_get_spacegroup_type_from_symmetry). Any doubt -- a non-primitive input
 * cell, no type found, or an operation count that does not match the point group of the type
 * found -- falls back to the full dataset, so the answer is always spglib's. */

#define FAST_MAX_OPS 48
/* Operations whose deviation exceeds this fraction of the tolerance are "borderline". */
#define FAST_MARGIN 0.5

static double det3(const double m[3][3])
{
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

/* Fractional difference wrapped to (-0.5, 0.5], then Cartesian length^2 with column lattice A. */
static double wrapped_dist2(const double a[3], const double b[3], const double A[3][3])
{
    double d[3], c[3];
    for (int k = 0; k < 3; k++) {
        d[k] = a[k] - b[k];
        d[k] -= nearbyint(d[k]);
    }
    for (int i = 0; i < 3; i++)
        c[i] = A[i][0] * d[0] + A[i][1] * d[1] + A[i][2] * d[2];
    return c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
}

/* Does (R, t) map every atom onto an atom of the same species? *worst2 (may be NULL) gets the
 * largest squared distance between an image and the atom it landed on. */
static int maps_all(const int R[3][3], const double t[3], int n, const double (*x)[3],
                    const int *types, const double A[3][3], double tol2, double *worst2)
{
    double w = 0;
    for (int a = 0; a < n; a++) {
        double y[3];
        for (int i = 0; i < 3; i++)
            y[i] = R[i][0] * x[a][0] + R[i][1] * x[a][1] + R[i][2] * x[a][2] + t[i];
        int found = 0;
        for (int b = 0; b < n && !found; b++) {
            if (types[b] != types[a])
                continue;
            double d2 = wrapped_dist2(y, x[b], A);
            if (d2 < tol2) {
                found = 1;
                w = d2 > w ? d2 : w;
            }
        }
        if (!found)
            return 0;
    }
    if (worst2)
        *worst2 = w;
    return 1;
}

static int det3i(const int m[3][3])
{
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

/* spglib's lattice-metric test with an angle tolerance in degrees. *margin gets the largest
 * deviation as a fraction of its tolerance (lengths and angles). */
static int same_metric(const double G[3][3], const double H[3][3], double symprec,
                       double angle_tol, double *margin)
{
    double lg[3], lh[3], worst = 0;
    for (int i = 0; i < 3; i++) {
        lg[i] = sqrt(G[i][i]);
        lh[i] = sqrt(H[i][i]);
        double dev = fabs(lg[i] - lh[i]) / symprec;
        if (dev > 1)
            return 0;
        worst = dev > worst ? dev : worst;
    }
    for (int i = 0; i < 3; i++) {
        int j = (i + 1) % 3, k = (i + 2) % 3;
        double cg = G[j][k] / (lg[j] * lg[k]), ch = H[j][k] / (lh[j] * lh[k]);
        cg = cg > 1 ? 1 : (cg < -1 ? -1 : cg);
        ch = ch > 1 ? 1 : (ch < -1 ? -1 : ch);
        double dev = fabs(acos(cg) - acos(ch)) * 180.0 / M_PI / angle_tol;
        if (dev > 1)
            return 0;
        worst = dev > worst ? dev : worst;
    }
    *margin = worst;
    return 1;
}

/* Order of the point group of a space-group type: operations of its standard setting divided
 * by its centring translations. */
static int pointgroup_order(int hall_number)
{
    int rot[192][3][3];
    double tr[192][3];
    int n = spg_get_symmetry_from_database(rot, tr, hall_number);
    int pure = 0;
    for (int k = 0; k < n; k++)
        pure += rot[k][0][0] == 1 && rot[k][1][1] == 1 && rot[k][2][2] == 1 && rot[k][0][1] == 0 &&
                rot[k][0][2] == 0 && rot[k][1][0] == 0 && rot[k][1][2] == 0 &&
                rot[k][2][0] == 0 && rot[k][2][1] == 0;
    return pure > 0 ? n / pure : 0;
}

/* Returns 1 with number/symbol set when the fast path is sure, 0 to fall back. */
static int fast_spacegroup(const xg_structure *s, double symprec, int *number, char *symbol)
{
    int n = s->natoms;
    double tol2 = symprec * symprec;
    /* reduce: A_r = A M with M unimodular (spglib's Delaunay reduction) */
    double A[3][3], Ar[3][3];
    lattice_convention_swap(s->lattice, A);
    memcpy(Ar, A, sizeof Ar);
    if (!spg_delaunay_reduce(Ar, symprec))
        return 0;
    double det = det3((const double(*)[3])A);
    if (!(fabs(det) > 1e-12))
        return 0;
    double Ainv[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int i1 = (i + 1) % 3, i2 = (i + 2) % 3, j1 = (j + 1) % 3, j2 = (j + 2) % 3;
            Ainv[j][i] = (A[i1][j1] * A[i2][j2] - A[i1][j2] * A[i2][j1]) / det;
        }
    double Minv_d[3][3];
    int M[3][3], Minv[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double v = 0;
            for (int k = 0; k < 3; k++)
                v += Ainv[i][k] * Ar[k][j];
            if (fabs(v - nearbyint(v)) > 1e-6)
                return 0;
            M[i][j] = (int)nearbyint(v);
        }
    int dm = det3i((const int(*)[3])M);
    if (dm != 1 && dm != -1)
        return 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int i1 = (i + 1) % 3, i2 = (i + 2) % 3, j1 = (j + 1) % 3, j2 = (j + 2) % 3;
            Minv_d[j][i] = (double)(M[i1][j1] * M[i2][j2] - M[i1][j2] * M[i2][j1]) / dm;
            Minv[j][i] = (int)nearbyint(Minv_d[j][i]);
        }
    /* positions in the reduced basis: x_r = M^-1 x */
    double (*x)[3] = malloc((size_t)n * sizeof *x);
    if (!x)
        return 0;
    for (int a = 0; a < n; a++)
        for (int i = 0; i < 3; i++) {
            double v = Minv[i][0] * s->frac[a][0] + Minv[i][1] * s->frac[a][1] +
                       Minv[i][2] * s->frac[a][2];
            x[a][i] = v - floor(v);
        }
    /* the rarest species anchors the translation search */
    int anchor = 0, best = n + 1;
    for (int a = 0; a < n; a++) {
        int c = 0;
        for (int b = 0; b < n; b++)
            c += s->types[b] == s->types[a];
        if (c < best) {
            best = c;
            anchor = a;
        }
    }
    int ok = 1;
    /* atoms closer than symprec: spglib refuses such cells ("too close"); let it say so */
    for (int a = 0; a < n && ok; a++)
        for (int b = a + 1; b < n && ok; b++)
            if (wrapped_dist2(x[a], x[b], (const double(*)[3])Ar) < tol2)
                ok = 0;
    /* a non-primitive cell (pure translations) goes to spglib's full treatment */
    static const int I3[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    for (int b = 0; b < n && ok; b++) {
        if (b == anchor || s->types[b] != s->types[anchor])
            continue;
        double t[3];
        for (int i = 0; i < 3; i++)
            t[i] = x[b][i] - x[anchor][i];
        if (maps_all(I3, t, n, (const double(*)[3])x, s->types, (const double(*)[3])Ar, tol2,
                     NULL))
            ok = 0;
    }
    /* lattice rotations: images of the basis among the 26 combinations c in {-1,0,1}^3 */
    double G[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            G[i][j] = Ar[0][i] * Ar[0][j] + Ar[1][i] * Ar[1][j] + Ar[2][i] * Ar[2][j];
    int comb[26][3], nc = 0;
    double clen[26];
    for (int c0 = -1; c0 <= 1; c0++)
        for (int c1 = -1; c1 <= 1; c1++)
            for (int c2 = -1; c2 <= 1; c2++) {
                if (!c0 && !c1 && !c2)
                    continue;
                int c[3] = {c0, c1, c2};
                double l2 = 0;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++)
                        l2 += c[i] * G[i][j] * c[j];
                memcpy(comb[nc], c, sizeof c);
                clen[nc++] = sqrt(l2);
            }
    int cand[3][26], ncand[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < nc; k++)
            if (fabs(clen[k] - sqrt(G[i][i])) <= symprec)
                cand[i][ncand[i]++] = k;
    int rot[FAST_MAX_OPS][3][3];
    double trans[FAST_MAX_OPS][3];
    int nops = 0;
    for (int p = 0; p < ncand[0] && ok; p++)
        for (int q = 0; q < ncand[1] && ok; q++)
            for (int r = 0; r < ncand[2] && ok; r++) {
                int W[3][3];
                for (int i = 0; i < 3; i++) {
                    W[i][0] = comb[cand[0][p]][i];
                    W[i][1] = comb[cand[1][q]][i];
                    W[i][2] = comb[cand[2][r]][i];
                }
                int dw = det3i((const int(*)[3])W);
                if (dw != 1 && dw != -1)
                    continue;
                double H[3][3];
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        double v = 0;
                        for (int k = 0; k < 3; k++)
                            for (int l = 0; l < 3; l++)
                                v += W[k][i] * G[k][l] * W[l][j];
                        H[i][j] = v;
                    }
                double margin = 0;
                if (!same_metric((const double(*)[3])G, (const double(*)[3])H, symprec,
                                 XG_SYMMETRY_ANGLE_TOLERANCE, &margin))
                    continue;
                /* a translation that makes (W, t) a symmetry of the crystal */
                double y[3];
                for (int i = 0; i < 3; i++)
                    y[i] = W[i][0] * x[anchor][0] + W[i][1] * x[anchor][1] +
                           W[i][2] * x[anchor][2];
                for (int b = 0; b < n; b++) {
                    if (s->types[b] != s->types[anchor])
                        continue;
                    double t[3];
                    for (int i = 0; i < 3; i++) {
                        t[i] = x[b][i] - y[i];
                        t[i] -= floor(t[i]);
                    }
                    double worst2 = 0;
                    if (maps_all((const int(*)[3])W, t, n, (const double(*)[3])x, s->types,
                                 (const double(*)[3])Ar, tol2, &worst2)) {
                        /* Near the edge of the tolerance spglib may settle on a smaller
                         * tolerance after retries; leave those crystals to it. */
                        if (nops == FAST_MAX_OPS || margin > FAST_MARGIN ||
                            worst2 > FAST_MARGIN * FAST_MARGIN * tol2) {
                            ok = 0;
                            break;
                        }
                        memcpy(rot[nops], W, sizeof W);
                        memcpy(trans[nops], t, sizeof t);
                        nops++;
                        break;
                    }
                }
            }
    free(x);
    if (!ok || nops == 0)
        return 0;
    /* spglib checks the operations against the lattice metric; give it the metric averaged
     * over the point group found (exactly symmetric), as a column lattice (Cholesky). */
    double Gs[3][3] = {{0}};
    for (int k = 0; k < nops; k++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double v = 0;
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++)
                        v += rot[k][a][i] * G[a][b] * rot[k][b][j];
                Gs[i][j] += v / nops;
            }
    double U[3][3] = {{0}};
    U[0][0] = sqrt(Gs[0][0]);
    U[0][1] = Gs[0][1] / U[0][0];
    U[0][2] = Gs[0][2] / U[0][0];
    double u11 = Gs[1][1] - U[0][1] * U[0][1];
    if (!(u11 > 0))
        return 0;
    U[1][1] = sqrt(u11);
    U[1][2] = (Gs[1][2] - U[0][1] * U[0][2]) / U[1][1];
    double u22 = Gs[2][2] - U[0][2] * U[0][2] - U[1][2] * U[1][2];
    if (!(u22 > 0))
        return 0;
    U[2][2] = sqrt(u22);
    SpglibSpacegroupType st = spg_get_spacegroup_type_from_symmetry(
        (SPGCONST int(*)[3][3])rot, (SPGCONST double(*)[3])trans, nops, U, symprec);
    if (st.number <= 0 || st.hall_number <= 0 || pointgroup_order(st.hall_number) != nops)
        return 0;
    *number = st.number;
    if (symbol)
        snprintf(symbol, 16, "%s", st.international_short);
    return 1;
}

int xg_symmetry_spacegroup(const xg_structure *s, double symprec, int *number, char *symbol,
                           xg_error *err)
{
    int rc = check_input(s, symprec, err);
    if (rc)
        return rc;
    int num = 0;
    char sym[16] = "";
    if (fast_spacegroup(s, symprec, &num, sym)) {
        if (number)
            *number = num;
        if (symbol)
            snprintf(symbol, 16, "%s", sym);
        return XG_OK;
    }
    SpglibDataset *d = get_dataset(s, symprec, err);
    if (!d)
        return err ? err->code : XG_ELIB;
    if (number)
        *number = d->spacegroup_number;
    if (symbol)
        snprintf(symbol, 16, "%s", d->international_symbol);
    spg_free_dataset(d);
    return XG_OK;
}

/* Builds a structure from spglib's (column) lattice and arrays. */
static xg_structure *from_spglib(const double lat[3][3], const double (*pos)[3], const int *types,
                                 int n, const char *id, xg_error *err)
{
    xg_structure *o = xg_structure_alloc(n);
    if (!o) {
        xg_error_set(err, XG_ENOMEM, "%s: out of memory", id);
        return NULL;
    }
    lattice_convention_swap(lat, o->lattice);
    for (int i = 0; i < n; i++) {
        o->types[i] = types[i];
        for (int d = 0; d < 3; d++) {
            double x = pos[i][d] - floor(pos[i][d]);
            o->frac[i][d] = x >= 1.0 ? 0.0 : x;
        }
    }
    snprintf(o->id, XG_ID_LEN, "%s", id);
    return o;
}

static int standardize(const xg_structure *s_in, double symprec, int to_primitive,
                       int no_idealize, xg_structure **out, xg_error *err)
{
    *out = NULL;
    int rc = check_input(s_in, symprec, err);
    if (rc)
        return rc;
    /* spglib's standard cells keep the handedness of the input (its transformations have
     * det > 0), and a left-handed cell written as CIF parameters becomes its mirror image. So
     * spglib sees the input in the standard orientation (right-handed, same crystal), and its
     * output is rotated into that orientation too (a rotation: fractional coordinates and the
     * space group's operations stay valid). */
    xg_structure *s = xg_structure_copy(s_in);
    if (!s)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s_in->id);
    if ((rc = xg_structure_orient(s, err))) {
        xg_structure_free(s);
        return rc;
    }
    /* A conventional cell has at most 4 times the atoms of the input (F centring of a
     * primitive input); spglib requires that much room. */
    int cap = 4 * s->natoms;
    double (*pos)[3] = malloc((size_t)cap * sizeof *pos);
    int *types = malloc((size_t)cap * sizeof *types);
    if (!pos || !types) {
        free(pos);
        free(types);
        xg_structure_free(s);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s_in->id);
    }
    double lat[3][3];
    lattice_convention_swap(s->lattice, lat);
    memcpy(pos, s->frac, (size_t)s->natoms * sizeof *pos);
    memcpy(types, s->types, (size_t)s->natoms * sizeof *types);
    int n = spgat_standardize_cell(lat, pos, types, s->natoms, to_primitive, no_idealize, symprec,
                                   XG_SYMMETRY_ANGLE_TOLERANCE);
    if (n <= 0 || n > cap) {
        rc = spglib_failure(err, to_primitive ? "primitive-cell search" : "standardization", s,
                            symprec);
    } else {
        *out = from_spglib((const double(*)[3])lat, (const double(*)[3])pos, types, n, s->id, err);
        if (!*out)
            rc = err ? err->code : XG_ENOMEM;
        else if (xg_lattice_volume_signed((const double(*)[3])(*out)->lattice) <= 0)
            rc = xg_error_set(err, XG_ELIB, "%s: spglib returned a left-handed standard cell",
                              s->id);
        else
            rc = xg_structure_orient(*out, err);
        if (rc) {
            xg_structure_free(*out);
            *out = NULL;
        }
    }
    free(pos);
    free(types);
    xg_structure_free(s);
    return rc;
}

int xg_symmetry_primitive(const xg_structure *s, double symprec, xg_structure **out,
                          xg_error *err)
{
    return standardize(s, symprec, 1, 0, out, err);
}

int xg_symmetry_conventional(const xg_structure *s, double symprec, xg_structure **out,
                             xg_error *err)
{
    return standardize(s, symprec, 0, 0, out, err);
}

int xg_symmetry_refine(const xg_structure *s, double symprec, xg_structure **out, xg_error *err)
{
    return standardize(s, symprec, 0, 0, out, err);
}

int xg_cell_choice_parse(const char *name)
{
    if (!name)
        return -1;
    if (!strcmp(name, "as-is"))
        return XG_CELL_AS_IS;
    if (!strcmp(name, "primitive"))
        return XG_CELL_PRIMITIVE;
    if (!strcmp(name, "conventional"))
        return XG_CELL_CONVENTIONAL;
    return -1;
}

const char *xg_cell_choice_name(int choice)
{
    return choice == XG_CELL_PRIMITIVE      ? "primitive"
           : choice == XG_CELL_CONVENTIONAL ? "conventional"
                                            : "as-is";
}

int xg_symmetry_dft_cell(const xg_structure *s, xg_cell_choice cell, int symmetrize,
                         double symprec, xg_structure **out, xg_error *err)
{
    *out = NULL;
    int rc;
    if (cell == XG_CELL_AS_IS && !symmetrize) {
        *out = xg_structure_copy(s);
        if (!*out)
            return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
        rc = XG_OK;
    } else {
        rc = standardize(s, symprec, cell == XG_CELL_PRIMITIVE, !symmetrize, out, err);
    }
    if (rc == XG_OK && (rc = xg_structure_make_standard(*out, err))) {
        xg_structure_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ----------------------------------------------------------- symmetrized CIF -------- */

static int gcd_int(int a, int b)
{
    a = abs(a);
    b = abs(b);
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Space group of a cell at symprec through the full dataset (the refined cells below are in the
 * standard setting, where the fast path's answer would be the same but no faster). */
static int dataset_number(const xg_structure *s, double symprec)
{
    SpglibDataset *d = get_dataset(s, symprec, NULL);
    int n = d ? d->spacegroup_number : 0;
    if (d)
        spg_free_dataset(d);
    return n;
}

/* Orbits of the atoms of cell c under the operations: rep[i] is the first atom of i's orbit.
 * Returns 0 when some image lands on no atom within tol (Angstrom). */
static int orbits(const xg_structure *c, int nops, const int (*rot)[3][3],
                  const double (*trans)[3], double tol, int *rep)
{
    double A[3][3];
    lattice_convention_swap(c->lattice, A);
    for (int i = 0; i < c->natoms; i++)
        rep[i] = -1;
    for (int i = 0; i < c->natoms; i++) {
        if (rep[i] >= 0)
            continue;
        rep[i] = i;
        for (int k = 0; k < nops; k++) {
            double y[3];
            for (int r = 0; r < 3; r++)
                y[r] = rot[k][r][0] * c->frac[i][0] + rot[k][r][1] * c->frac[i][1] +
                       rot[k][r][2] * c->frac[i][2] + trans[k][r];
            int found = -1;
            for (int j = 0; j < c->natoms && found < 0; j++)
                if (c->types[j] == c->types[i] &&
                    wrapped_dist2(y, c->frac[j], (const double(*)[3])A) < tol * tol)
                    found = j;
            if (found < 0)
                return 0;
            if (rep[found] < 0)
                rep[found] = i;
        }
    }
    return 1;
}

int xg_symmetry_write_cif(FILE *f, const xg_structure *s, double symprec, xg_error *err)
{
    return xg_symmetry_write_cif_annotated(f, s, symprec, NULL, err);
}

int xg_symmetry_write_cif_annotated(FILE *f, const xg_structure *s, double symprec,
                                    const char *comment, xg_error *err)
{
    /* The group of the input, and its operations in the standard setting (from spglib's
     * database): the refined cell is exactly symmetric under them, so expanding the asymmetric
     * unit with them rebuilds that cell exactly. */
    SpglibDataset *d = get_dataset(s, symprec, err);
    if (!d)
        return err ? err->code : XG_ELIB;
    int g0 = d->spacegroup_number, hall = d->hall_number;
    char hm[16];
    snprintf(hm, sizeof hm, "%s", d->international_symbol);
    spg_free_dataset(d);
    int(*rot)[3][3] = malloc(192 * sizeof *rot);
    double(*trans)[3] = malloc(192 * sizeof *trans);
    xg_structure *std = NULL;
    int *rep = NULL, *types = NULL, *mult = NULL;
    double(*frac)[3] = NULL;
    int rc = XG_OK;
    if (!rot || !trans) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
        goto done;
    }
    int nops = spg_get_symmetry_from_database(rot, trans, hall);
    if (nops <= 0) {
        rc = xg_error_set(err, XG_ELIB, "%s: spglib has no operations for Hall number %d", s->id,
                          hall);
        goto done;
    }
    /* Refinement moves atoms by up to symprec; for a crystal just outside a higher symmetry
     * that can carry it inside, and pymatgen would then read a group the input does not have.
     * So: the idealized cell first; else the input's own lattice in the same standard setting
     * (no_idealize) with the symmetrized positions; else the same at a tighter refinement
     * tolerance that still finds the input's group. The first cell whose group at symprec is
     * the input's wins; if none, the idealized cell at symprec is written. */
    for (int attempt = 0; attempt < 4 && !std; attempt++) {
        double tol = symprec / (double)(1 << attempt);
        int gt = 0;
        if (attempt > 0 && (xg_symmetry_spacegroup(s, tol, &gt, NULL, NULL) != XG_OK || gt != g0))
            break;
        xg_structure *ideal = NULL, *raw = NULL;
        if (xg_symmetry_refine(s, tol, &ideal, attempt ? NULL : err) != XG_OK) {
            if (attempt == 0) {
                rc = err ? err->code : XG_ELIB;
                goto done;
            }
            break;
        }
        if (dataset_number(ideal, symprec) == g0) {
            std = ideal;
            break;
        }
        if (standardize(s, tol, 0, 1, &raw, NULL) == XG_OK && raw->natoms == ideal->natoms) {
            xg_structure *alt = xg_structure_copy(ideal);
            if (alt) {
                memcpy(alt->lattice, raw->lattice, sizeof alt->lattice);
                if (dataset_number(alt, symprec) == g0) {
                    std = alt;
                    alt = NULL;
                }
                xg_structure_free(alt);
            }
        }
        xg_structure_free(raw);
        xg_structure_free(ideal);
    }
    if (!std && (rc = xg_symmetry_refine(s, symprec, &std, err)))
        goto done;
    int n = std->natoms, nsites = 0;
    rep = malloc((size_t)n * sizeof *rep);
    types = malloc((size_t)n * sizeof *types);
    mult = calloc((size_t)n, sizeof *mult);
    frac = malloc((size_t)n * sizeof *frac);
    if (!rep || !types || !mult || !frac) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
        goto done;
    }
    /* Refined positions are exact to rounding, so the orbits must close at a tight tolerance.
     * If they do not, the refined cell is in another origin choice than the database setting;
     * then its own operations (spglib on the refined cell, tight tolerance) are used. */
    if (!orbits(std, nops, (const int(*)[3][3])rot, (const double(*)[3])trans, 1e-3, rep)) {
        SpglibDataset *e = get_dataset(std, 1e-3, NULL);
        int ok = e && e->spacegroup_number == g0 && e->n_operations <= 192 &&
                 e->n_atoms == std->natoms;
        if (ok) {
            nops = e->n_operations;
            memcpy(rot, e->rotations, (size_t)nops * sizeof *rot);
            memcpy(trans, e->translations, (size_t)nops * sizeof *trans);
            ok = orbits(std, nops, (const int(*)[3][3])rot, (const double(*)[3])trans, 1e-3,
                        rep);
        }
        if (e)
            spg_free_dataset(e);
        if (!ok) {
            rc = xg_error_set(err, XG_ELIB,
                              "%s: the refined cell is not exactly symmetric under the "
                              "operations of %s; no symmetrized CIF written",
                              s->id, hm);
            goto done;
        }
    }
    /* the asymmetric unit: one representative per orbit, with its orbit's size */
    for (int i = 0; i < n; i++) {
        if (rep[i] != i)
            continue;
        for (int j = 0; j < n; j++)
            mult[nsites] += rep[j] == i;
        types[nsites] = std->types[i];
        memcpy(frac[nsites], std->frac[i], sizeof frac[nsites]);
        nsites++;
    }
    int g = 0;
    int counts[XG_MAX_Z + 1] = {0};
    for (int i = 0; i < n; i++)
        if (std->types[i] >= 1 && std->types[i] <= XG_MAX_Z)
            counts[std->types[i]]++;
    for (int z = 1; z <= XG_MAX_Z; z++)
        if (counts[z])
            g = gcd_int(g, counts[z]);
    char formula[1024], reduced[512];
    if ((rc = xg_structure_formula(std, formula, sizeof formula)) ||
        (rc = xg_structure_reduced_formula(std, reduced, sizeof reduced))) {
        xg_error_set(err, rc, "%s: formula too long for the CIF header", s->id);
        goto done;
    }
    xg_cif_sym_block b = {0};
    b.block_name = reduced;
    memcpy(b.lattice, std->lattice, sizeof b.lattice);
    b.hm_symbol = hm;
    b.sg_number = g0;
    b.nops = nops;
    b.rot = (const int(*)[3][3])rot;
    b.trans = (const double(*)[3])trans;
    b.nsites = nsites;
    b.types = types;
    b.frac = (const double(*)[3])frac;
    b.multiplicity = mult;
    b.formula_structural = reduced;
    b.formula_sum = formula;
    b.formula_units_z = g > 0 ? g : 1;
    b.comment = comment;
    rc = xg_cif_write_symmetrized_raw(f, &b, err);
done:
    free(rot);
    free(trans);
    free(rep);
    free(types);
    free(mult);
    free(frac);
    xg_structure_free(std);
    return rc;
}

int xg_symmetry_cif_string(const xg_structure *s, double symprec, char **out, xg_error *err)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", s ? s->id : "structure");
    int rc = xg_symmetry_write_cif(f, s, symprec, err);
    if (fclose(f) != 0 && rc == XG_OK)
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", s->id);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return XG_OK;
}

/* ------------------------------------------------------ space-group names -------- */

/* Copies text without spaces and underscores into out (n bytes). */
static void squeeze_symbol(const char *text, char *out, size_t n)
{
    size_t k = 0;
    for (; *text && k + 1 < n; text++)
        if (*text != ' ' && *text != '_')
            out[k++] = *text;
    out[k] = '\0';
}

static int strcaseeq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return *a == *b;
}

int xg_symmetry_spacegroup_parse(const char *text, int *number, xg_error *err)
{
    *number = 0;
    if (!text || !*text)
        return xg_error_set(err, XG_EINVAL, "empty space group");
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end != text && *end == '\0') {
        if (v < 1 || v > 230)
            return xg_error_set(err, XG_EINVAL, "space group %ld: numbers run from 1 to 230", v);
        *number = (int)v;
        return XG_OK;
    }
    char want[64];
    squeeze_symbol(text, want, sizeof want);
    /* Every setting spglib knows (its 530 Hall numbers), short and full symbols; an exact
     * match wins, otherwise a case-blind one that names a single group. */
    int exact = 0, loose = 0, loose_other = 0;
    for (int hall = 1; hall <= 530 && !exact; hall++) {
        SpglibSpacegroupType t = spg_get_spacegroup_type(hall);
        if (t.number <= 0)
            continue;
        const char *names[2] = {t.international_short, t.international_full};
        for (int k = 0; k < 2; k++) {
            char have[64];
            squeeze_symbol(names[k], have, sizeof have);
            if (!strcmp(have, want)) {
                exact = t.number;
                break;
            }
            if (strcaseeq(have, want)) {
                if (!loose)
                    loose = t.number;
                else if (loose != t.number)
                    loose_other = t.number;
            }
        }
    }
    if (exact)
        *number = exact;
    else if (loose && !loose_other)
        *number = loose;
    else if (loose)
        return xg_error_set(err, XG_EINVAL,
                            "space group '%s' is ambiguous without letter case (%d or %d)", text,
                            loose, loose_other);
    else
        return xg_error_set(err, XG_EINVAL,
                            "'%s' is neither a space-group number (1..230) nor a Hermann-Mauguin "
                            "symbol spglib knows (e.g. Fm-3m, P2_1/c)", text);
    return XG_OK;
}

void xg_symmetry_spacegroup_symbol(int number, char *symbol)
{
    symbol[0] = '\0';
    if (number < 1 || number > 230)
        return;
    /* Hall numbers ascend with the space-group number; the first of each is the standard
     * setting. */
    for (int hall = 1; hall <= 530; hall++) {
        SpglibSpacegroupType t = spg_get_spacegroup_type(hall);
        if (t.number == number) {
            snprintf(symbol, 16, "%s", t.international_short);
            return;
        }
    }
}

int xg_symmetry_crystal_system(int number)
{
    static const int last[7] = {2, 15, 74, 142, 167, 194, 230};
    if (number < 1 || number > 230)
        return -1;
    for (int k = 0; k < 7; k++)
        if (number <= last[k])
            return k;
    return -1;
}
