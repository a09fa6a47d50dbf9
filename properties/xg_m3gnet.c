/* xg_m3gnet.c: M3GNet inference with an explicit backward pass (see xg_m3gnet.h).
 *
 * Layout of one call: the bond graph (edges sorted by source atom), the bases, then the
 * blocks forward saving every pre-activation, the readout, and the backward pass in reverse,
 * accumulating dE/d(rbf), dE/d(three-body basis) and dE/d(cutoff weights) over the blocks,
 * which the geometry step turns into dE/d(bond vector). Forces and stress both come from
 * those per-bond gradients. Dense layers are CBLAS GEMMs on rows of bonds or atoms. */
#include "properties/xg_m3gnet.h"

#include <cblas.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_h5util.h"
#include "crystal/xg_fileio.h"

#define MAXB 8       /* blocks */
#define MAXL 6       /* max_l */
#define MAXN 8       /* max_n */
#define NRO 4        /* readout layers */

/* A gated MLP of three layers whose input is [v_src, v_dst, e] (edge and node updates). */
typedef struct {
    float *L[3], *Lb[3], *G[3], *Gb[3]; /* raw (out, in) */
    float *rbf_w;                        /* (U, nb) */
    /* derived, double: first layer split by input block, layers and gates stacked (2U rows) */
    double *W1s, *W1d, *W1e, *b1;        /* (2U, U) x3, 2U */
    double *A2, *a2, *G2, *c2, *A3, *a3, *G3, *c3; /* (U, U), U */
    double *Wr;                          /* (U, nb) */
} conv_mlp;

typedef struct {
    float *atom_w, *atom_b;  /* (nb, U), nb */
    float *bond_w, *bond_g;  /* (U, nb) each */
    double *Wa, *ba, *Wb, *Wg;
    conv_mlp edge, node;
} block_w;

struct xg_m3gnet {
    double cutoff, tb_cutoff, mean, std;
    int max_n, max_l, nb, nblocks, U, nel;
    int *el_z;
    double *refs;
    int z2i[XG_MAX_Z + 1];
    float *emb, *emb_ew, *emb_eb;            /* (nel, U), (U, nb), U */
    float *ro_L[NRO], *ro_Lb[NRO], *ro_G[NRO], *ro_Gb[NRO];
    double *Emb, *Ew, *Eb, *RL[NRO], *RLb[NRO], *RG[NRO], *RGb[NRO];
    block_w blk[MAXB];
    double root[MAXL][MAXN], norm[MAXL][MAXN]; /* z_ln and sqrt(2/rc^3)/|j_{l+1}(z_ln)| */
    long nparams;
};

/* ------------------------------------------------------------------------------------------
 * tensor table: one entry per stored tensor, its xtalgen name and its matgl state-dict name
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    char xg[96], mg[128];
    float **slot;
    int rows, cols; /* cols 0: a vector of `rows` */
} tensor_ref;

#define MAXT 160

static int table(xg_m3gnet *m, tensor_ref *t)
{
    int n = 0, U = m->U, nb = m->nb;
#define ADD(XG, MG, SLOT, R, C)                                                   \
    do {                                                                          \
        snprintf(t[n].xg, sizeof t[n].xg, "%s", XG);                             \
        snprintf(t[n].mg, sizeof t[n].mg, "%s", MG);                             \
        t[n].slot = (SLOT);                                                       \
        t[n].rows = (R);                                                          \
        t[n].cols = (C);                                                          \
        n++;                                                                      \
    } while (0)
    ADD("embedding.node", "model.embedding.layer_node_embedding.weight", &m->emb, m->nel, U);
    ADD("embedding.edge_w", "model.embedding.layer_edge_embedding.layers.0.weight", &m->emb_ew, U,
        nb);
    ADD("embedding.edge_b", "model.embedding.layer_edge_embedding.layers.0.bias", &m->emb_eb, U, 0);
    for (int k = 0; k < NRO; k++) {
        char xg[96], mg[128];
        int out = k == NRO - 1 ? 1 : U;
        snprintf(xg, sizeof xg, "readout.layer%d_w", k);
        snprintf(mg, sizeof mg, "model.final_layer.gated.layers.%d.weight", 2 * k);
        ADD(xg, mg, &m->ro_L[k], out, U);
        snprintf(xg, sizeof xg, "readout.layer%d_b", k);
        snprintf(mg, sizeof mg, "model.final_layer.gated.layers.%d.bias", 2 * k);
        ADD(xg, mg, &m->ro_Lb[k], out, 0);
        snprintf(xg, sizeof xg, "readout.gate%d_w", k);
        snprintf(mg, sizeof mg, "model.final_layer.gated.gates.%d.weight", 2 * k);
        ADD(xg, mg, &m->ro_G[k], out, U);
        snprintf(xg, sizeof xg, "readout.gate%d_b", k);
        snprintf(mg, sizeof mg, "model.final_layer.gated.gates.%d.bias", 2 * k);
        ADD(xg, mg, &m->ro_Gb[k], out, 0);
    }
    for (int b = 0; b < m->nblocks; b++) {
        char xg[96], mg[128];
        block_w *B = &m->blk[b];
        snprintf(xg, sizeof xg, "block%d.tb.atom_w", b);
        snprintf(mg, sizeof mg, "model.three_body_interactions.%d.update_network_atom.layers.0.weight", b);
        ADD(xg, mg, &B->atom_w, nb, U);
        snprintf(xg, sizeof xg, "block%d.tb.atom_b", b);
        snprintf(mg, sizeof mg, "model.three_body_interactions.%d.update_network_atom.layers.0.bias", b);
        ADD(xg, mg, &B->atom_b, nb, 0);
        snprintf(xg, sizeof xg, "block%d.tb.bond_w", b);
        snprintf(mg, sizeof mg, "model.three_body_interactions.%d.update_network_bond.layers.0.weight", b);
        ADD(xg, mg, &B->bond_w, U, nb);
        snprintf(xg, sizeof xg, "block%d.tb.bond_gate_w", b);
        snprintf(mg, sizeof mg, "model.three_body_interactions.%d.update_network_bond.gates.0.weight", b);
        ADD(xg, mg, &B->bond_g, U, nb);
        for (int which = 0; which < 2; which++) {
            conv_mlp *c = which ? &B->node : &B->edge;
            const char *xn = which ? "node" : "edge";
            for (int k = 0; k < 3; k++) {
                int in = k == 0 ? 3 * U : U;
                snprintf(xg, sizeof xg, "block%d.%s.layer%d_w", b, xn, k);
                snprintf(mg, sizeof mg, "model.graph_layers.%d.conv.%s_update_func.layers.%d.weight", b, xn, 2 * k);
                ADD(xg, mg, &c->L[k], U, in);
                snprintf(xg, sizeof xg, "block%d.%s.layer%d_b", b, xn, k);
                snprintf(mg, sizeof mg, "model.graph_layers.%d.conv.%s_update_func.layers.%d.bias", b, xn, 2 * k);
                ADD(xg, mg, &c->Lb[k], U, 0);
                snprintf(xg, sizeof xg, "block%d.%s.gate%d_w", b, xn, k);
                snprintf(mg, sizeof mg, "model.graph_layers.%d.conv.%s_update_func.gates.%d.weight", b, xn, 2 * k);
                ADD(xg, mg, &c->G[k], U, in);
                snprintf(xg, sizeof xg, "block%d.%s.gate%d_b", b, xn, k);
                snprintf(mg, sizeof mg, "model.graph_layers.%d.conv.%s_update_func.gates.%d.bias", b, xn, 2 * k);
                ADD(xg, mg, &c->Gb[k], U, 0);
            }
            snprintf(xg, sizeof xg, "block%d.%s.rbf_w", b, xn);
            snprintf(mg, sizeof mg, "model.graph_layers.%d.conv.%s_weight_func.weight", b, xn);
            ADD(xg, mg, &c->rbf_w, U, nb);
        }
    }
#undef ADD
    return n;
}

/* ------------------------------------------------------------------------------------------
 * spherical Bessel functions j_0..j_(MAXL) and their roots
 * ------------------------------------------------------------------------------------------ */

/* j_l(x) for l = 0..lmax into j[]; the ascending series below x = 0.5 (the closed forms lose
 * digits to cancellation there), upward recurrence above (stable for x > l). */
static void sph_jn(int lmax, double x, double *j)
{
    if (x < 1.0) {
        for (int l = 0; l <= lmax; l++) {
            double pre = 1.0;
            for (int k = 1; k <= l; k++)
                pre *= x / (2 * k + 1);
            double term = 1.0, sum = 1.0, y = -0.5 * x * x;
            for (int k = 1; k < 40; k++) {
                term *= y / (k * (2.0 * l + 2 * k + 1));
                sum += term;
                if (fabs(term) < 1e-18 * fabs(sum))
                    break;
            }
            j[l] = pre * sum;
        }
        return;
    }
    double s = sin(x), c = cos(x);
    j[0] = s / x;
    if (lmax >= 1)
        j[1] = s / (x * x) - c / x;
    for (int l = 1; l < lmax; l++)
        j[l + 1] = (2 * l + 1) / x * j[l] - j[l - 1];
}

/* j_l and dj_l/dx for l = 0..lmax (lmax < MAXL + 1). */
static void sph_jn_d(int lmax, double x, double *j, double *dj)
{
    double t[MAXL + 3];
    sph_jn(lmax + 1, x, t);
    for (int l = 0; l <= lmax; l++) {
        j[l] = t[l];
        /* j_l' = (l j_{l-1} - (l+1) j_{l+1}) / (2l+1): no division by x. */
        dj[l] = l == 0 ? -t[1] : (l * t[l - 1] - (l + 1) * t[l + 1]) / (2 * l + 1);
    }
}

static double jl_at(int l, double x)
{
    double t[MAXL + 3];
    sph_jn(l, x, t);
    return t[l];
}

static void bessel_roots(xg_m3gnet *m)
{
    for (int l = 0; l < m->max_l; l++) {
        int n = 0;
        double step = 0.05, a = l + 0.5, fa = jl_at(l, a);
        while (n < m->max_n) {
            double b = a + step, fb = jl_at(l, b);
            if (fa * fb < 0) {
                double lo = a, hi = b, flo = fa;
                for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
                    double mid = 0.5 * (lo + hi), fm = jl_at(l, mid);
                    if (flo * fm <= 0)
                        hi = mid;
                    else {
                        lo = mid;
                        flo = fm;
                    }
                }
                m->root[l][n] = 0.5 * (lo + hi);
                m->norm[l][n] = sqrt(2.0 / (m->cutoff * m->cutoff * m->cutoff)) /
                                fabs(jl_at(l + 1, m->root[l][n]));
                n++;
            }
            a = b;
            fa = fb;
        }
    }
}

/* The nb = max_l * max_n radial functions at r (clamped to the cutoff, as matgl does) and
 * their derivatives; column l * max_n + n. */
static void radial(const xg_m3gnet *m, double r, double *f, double *df)
{
    double rc = m->cutoff;
    int clamp = r > rc;
    if (clamp)
        r = rc;
    for (int l = 0; l < m->max_l; l++)
        for (int n = 0; n < m->max_n; n++) {
            double z = m->root[l][n], j[MAXL + 2], dj[MAXL + 2];
            sph_jn_d(l, z * r / rc, j, dj);
            f[l * m->max_n + n] = m->norm[l][n] * j[l];
            if (df)
                df[l * m->max_n + n] = clamp ? 0.0 : m->norm[l][n] * dj[l] * z / rc;
        }
}

/* Y_l0(cos) = sqrt((2l+1)/(4 pi)) P_l(cos) and derivatives in cos, l < max_l. */
static void ylm0(int max_l, double c, double *y, double *dy)
{
    double P[MAXL + 1], dP[MAXL + 1];
    P[0] = 1.0;
    dP[0] = 0.0;
    if (max_l > 1) {
        P[1] = c;
        dP[1] = 1.0;
    }
    for (int l = 1; l + 1 < max_l; l++) {
        P[l + 1] = ((2 * l + 1) * c * P[l] - l * P[l - 1]) / (l + 1);
        dP[l + 1] = (l + 1) * P[l] + c * dP[l];
    }
    for (int l = 0; l < max_l; l++) {
        double k = sqrt((2 * l + 1) / (4 * M_PI));
        y[l] = k * P[l];
        dy[l] = k * dP[l];
    }
}

/* Polynomial cutoff of exponent 3 and its derivative. */
static double poly_cut(double r, double rc, double *d)
{
    if (r > rc) {
        *d = 0.0;
        return 0.0;
    }
    double x = r / rc, x2 = x * x, x3 = x2 * x;
    *d = (-30.0 * x2 + 60.0 * x3 - 30.0 * x3 * x) / rc;
    return 1.0 - 10.0 * x3 + 15.0 * x3 * x - 6.0 * x3 * x2;
}

/* ------------------------------------------------------------------------------------------
 * model setup
 * ------------------------------------------------------------------------------------------ */
static double *to_d(const float *f, size_t n)
{
    double *d = malloc(n * sizeof *d);
    if (d)
        for (size_t i = 0; i < n; i++)
            d[i] = f[i];
    return d;
}

/* Derives the double-precision working copies (the first conv layer split into its three
 * input blocks, layers and gates stacked so one GEMM feeds both). */
static int finalize(xg_m3gnet *m, xg_error *err)
{
    int U = m->U, nb = m->nb;
    for (int z = 0; z <= XG_MAX_Z; z++)
        m->z2i[z] = -1;
    for (int i = 0; i < m->nel; i++)
        if (m->el_z[i] >= 1 && m->el_z[i] <= XG_MAX_Z)
            m->z2i[m->el_z[i]] = i;
    m->Emb = to_d(m->emb, (size_t)m->nel * U);
    m->Ew = to_d(m->emb_ew, (size_t)U * nb);
    m->Eb = to_d(m->emb_eb, (size_t)U);
    int ok = m->Emb && m->Ew && m->Eb;
    for (int k = 0; k < NRO; k++) {
        int out = k == NRO - 1 ? 1 : U;
        ok = ok && (m->RL[k] = to_d(m->ro_L[k], (size_t)out * U)) &&
             (m->RLb[k] = to_d(m->ro_Lb[k], (size_t)out)) &&
             (m->RG[k] = to_d(m->ro_G[k], (size_t)out * U)) &&
             (m->RGb[k] = to_d(m->ro_Gb[k], (size_t)out));
    }
    for (int b = 0; ok && b < m->nblocks; b++) {
        block_w *B = &m->blk[b];
        ok = (B->Wa = to_d(B->atom_w, (size_t)nb * U)) && (B->ba = to_d(B->atom_b, (size_t)nb)) &&
             (B->Wb = to_d(B->bond_w, (size_t)U * nb)) && (B->Wg = to_d(B->bond_g, (size_t)U * nb));
        for (int w = 0; ok && w < 2; w++) {
            conv_mlp *c = w ? &B->node : &B->edge;
            c->W1s = malloc(sizeof(double) * 2 * U * U);
            c->W1d = malloc(sizeof(double) * 2 * U * U);
            c->W1e = malloc(sizeof(double) * 2 * U * U);
            c->b1 = malloc(sizeof(double) * 2 * U);
            ok = c->W1s && c->W1d && c->W1e && c->b1;
            if (!ok)
                break;
            for (int o = 0; o < 2 * U; o++) {
                const float *row = o < U ? c->L[0] + (size_t)o * 3 * U : c->G[0] + (size_t)(o - U) * 3 * U;
                for (int i = 0; i < U; i++) {
                    c->W1s[(size_t)o * U + i] = row[i];
                    c->W1d[(size_t)o * U + i] = row[U + i];
                    c->W1e[(size_t)o * U + i] = row[2 * U + i];
                }
                c->b1[o] = o < U ? c->Lb[0][o] : c->Gb[0][o - U];
            }
            ok = (c->A2 = to_d(c->L[1], (size_t)U * U)) && (c->a2 = to_d(c->Lb[1], U)) &&
                 (c->G2 = to_d(c->G[1], (size_t)U * U)) && (c->c2 = to_d(c->Gb[1], U)) &&
                 (c->A3 = to_d(c->L[2], (size_t)U * U)) && (c->a3 = to_d(c->Lb[2], U)) &&
                 (c->G3 = to_d(c->G[2], (size_t)U * U)) && (c->c3 = to_d(c->Gb[2], U)) &&
                 (c->Wr = to_d(c->rbf_w, (size_t)U * nb));
        }
    }
    if (!ok)
        return xg_error_set(err, XG_ENOMEM, "M3GNet: out of memory setting up the model");
    bessel_roots(m);
    tensor_ref t[MAXT];
    int nt = table(m, t);
    m->nparams = 0;
    for (int i = 0; i < nt; i++)
        m->nparams += (long)t[i].rows * (t[i].cols ? t[i].cols : 1);
    return XG_OK;
}

void xg_m3gnet_free(xg_m3gnet *m)
{
    if (!m)
        return;
    tensor_ref t[MAXT];
    if (m->U > 0) {
        int nt = table(m, t);
        for (int i = 0; i < nt; i++)
            free(*t[i].slot);
    }
    free(m->el_z);
    free(m->refs);
    free(m->Emb);
    free(m->Ew);
    free(m->Eb);
    for (int k = 0; k < NRO; k++) {
        free(m->RL[k]);
        free(m->RLb[k]);
        free(m->RG[k]);
        free(m->RGb[k]);
    }
    for (int b = 0; b < MAXB; b++) {
        block_w *B = &m->blk[b];
        free(B->Wa);
        free(B->ba);
        free(B->Wb);
        free(B->Wg);
        for (int w = 0; w < 2; w++) {
            conv_mlp *c = w ? &B->node : &B->edge;
            free(c->W1s);
            free(c->W1d);
            free(c->W1e);
            free(c->b1);
            free(c->A2);
            free(c->a2);
            free(c->G2);
            free(c->c2);
            free(c->A3);
            free(c->a3);
            free(c->G3);
            free(c->c3);
            free(c->Wr);
        }
    }
    free(m);
}

static int check_sizes(xg_m3gnet *m, const char *ctx, xg_error *err)
{
    if (m->max_n < 1 || m->max_n > MAXN || m->max_l < 1 || m->max_l > MAXL || m->nblocks < 1 ||
        m->nblocks > MAXB || m->U < 1 || m->U > 1024 || m->nel < 1 || m->nel > XG_MAX_Z ||
        !(m->cutoff > 0 && m->cutoff < 20) || !(m->tb_cutoff > 0 && m->tb_cutoff <= m->cutoff))
        return xg_error_set(err, XG_EUNSUPPORTED,
                            "%s: M3GNet sizes out of range (max_n %d, max_l %d, blocks %d, units "
                            "%d, elements %d, cutoffs %g/%g)",
                            ctx, m->max_n, m->max_l, m->nblocks, m->U, m->nel, m->cutoff,
                            m->tb_cutoff);
    m->nb = m->max_n * m->max_l;
    return XG_OK;
}

/* Reads every tensor of the table from file f, by xtalgen (mg = 0) or matgl (mg = 1) name. */
static int read_tensors(xg_m3gnet *m, hid_t f, int mg, const char *ctx, xg_error *err)
{
    tensor_ref t[MAXT];
    int nt = table(m, t);
    for (int i = 0; i < nt; i++) {
        char path[256];
        if (mg)
            snprintf(path, sizeof path, "%.200s", t[i].mg);
        else
            snprintf(path, sizeof path, "weights/%.90s", t[i].xg);
        hsize_t want[2] = {(hsize_t)t[i].rows, (hsize_t)t[i].cols};
        size_t n = (size_t)t[i].rows * (t[i].cols ? t[i].cols : 1);
        float *buf = malloc(n * sizeof *buf);
        if (!buf)
            return xg_error_set(err, XG_ENOMEM, "%s: out of memory", ctx);
        *t[i].slot = buf;
        int rc = xg_h5_get_ds(f, path, H5T_NATIVE_FLOAT, t[i].cols ? 2 : 1, want, buf, ctx, err);
        if (rc)
            return rc;
        for (size_t k = 0; k < n; k++)
            if (!isfinite(buf[k]))
                return xg_error_set(err, XG_EPARSE, "%s: %s holds a non-finite value", ctx, path);
    }
    return XG_OK;
}

int xg_m3gnet_load(const char *path, xg_m3gnet **out, xg_error *err)
{
    *out = NULL;
    xg_m3gnet *m = calloc(1, sizeof *m);
    if (!m)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    int rc = XG_OK;
    H5E_BEGIN_TRY
    {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) {
            rc = xg_error_set(err, XG_EIO, "%s: not a readable HDF5 file", path);
        } else {
            char fmt[64] = "";
            int64_t v = 0;
            if (xg_h5_get_str(f, "/", "format", fmt, sizeof fmt, path, err) ||
                strcmp(fmt, "xtalgen-m3gnet") != 0)
                rc = xg_error_set(err, XG_EVERSION, "%s: not an xtalgen M3GNet model file (format "
                                  "'%s'; make one with `xtalgen model import-m3gnet`)", path, fmt);
            else if ((rc = xg_h5_get_i64(f, "/", "version", &v, path, err)))
                ;
            else if (v != XG_M3GNET_VERSION)
                rc = xg_error_set(err, XG_EVERSION, "%s: M3GNet model file version %lld; this "
                                  "build reads version %d", path, (long long)v, XG_M3GNET_VERSION);
            int64_t i64;
            if (!rc) rc = xg_h5_get_f64(f, "/", "cutoff", &m->cutoff, path, err);
            if (!rc) rc = xg_h5_get_f64(f, "/", "threebody_cutoff", &m->tb_cutoff, path, err);
            if (!rc) rc = xg_h5_get_f64(f, "/", "data_mean", &m->mean, path, err);
            if (!rc) rc = xg_h5_get_f64(f, "/", "data_std", &m->std, path, err);
            if (!rc && !(rc = xg_h5_get_i64(f, "/", "max_n", &i64, path, err))) m->max_n = (int)i64;
            if (!rc && !(rc = xg_h5_get_i64(f, "/", "max_l", &i64, path, err))) m->max_l = (int)i64;
            if (!rc && !(rc = xg_h5_get_i64(f, "/", "nblocks", &i64, path, err))) m->nblocks = (int)i64;
            if (!rc && !(rc = xg_h5_get_i64(f, "/", "units", &i64, path, err))) m->U = (int)i64;
            if (!rc && !(rc = xg_h5_get_i64(f, "/", "nelements", &i64, path, err))) m->nel = (int)i64;
            if (!rc)
                rc = check_sizes(m, path, err);
            if (!rc) {
                hsize_t n = (hsize_t)m->nel;
                m->el_z = malloc(sizeof(int) * m->nel);
                m->refs = malloc(sizeof(double) * m->nel);
                if (!m->el_z || !m->refs)
                    rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
                if (!rc) rc = xg_h5_get_ds(f, "element_z", H5T_NATIVE_INT, 1, &n, m->el_z, path, err);
                if (!rc) rc = xg_h5_get_ds(f, "element_refs", H5T_NATIVE_DOUBLE, 1, &n, m->refs, path, err);
            }
            if (!rc)
                rc = read_tensors(m, f, 0, path, err);
            H5Fclose(f);
        }
    }
    H5E_END_TRY;
    if (!rc)
        rc = finalize(m, err);
    if (rc) {
        xg_m3gnet_free(m);
        return rc;
    }
    *out = m;
    return XG_OK;
}

void xg_m3gnet_get_info(const xg_m3gnet *m, xg_m3gnet_info *info)
{
    info->cutoff = m->cutoff;
    info->threebody_cutoff = m->tb_cutoff;
    info->max_n = m->max_n;
    info->max_l = m->max_l;
    info->nblocks = m->nblocks;
    info->units = m->U;
    info->nelements = m->nel;
    info->nparams = m->nparams;
}

int xg_m3gnet_has_element(const xg_m3gnet *m, int z)
{
    return z >= 1 && z <= XG_MAX_Z && m->z2i[z] >= 0;
}

/* ------------------------------------------------------------------------------------------
 * import from matgl's files
 * ------------------------------------------------------------------------------------------ */

/* The text after "key": in a JSON document (first occurrence), or NULL. Enough for matgl's
 * flat model.json: keys are unique and values are numbers, booleans, strings or a list of
 * strings. */
static const char *json_after(const char *doc, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(doc, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p && isspace((unsigned char)*p))
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

static int json_num(const char *doc, const char *key, double *v, const char *ctx, xg_error *err)
{
    const char *p = json_after(doc, key);
    char *end;
    if (p)
        *v = strtod(p, &end);
    if (!p || end == p)
        return xg_error_set(err, XG_EPARSE, "%s: no number for \"%s\"", ctx, key);
    return XG_OK;
}

/* 1 if the value of key starts with `want` (true/false/"SphericalBessel"/null...). */
static int json_is(const char *doc, const char *key, const char *want)
{
    const char *p = json_after(doc, key);
    return p && !strncmp(p, want, strlen(want));
}

static int import_json(xg_m3gnet *m, const char *path, xg_error *err)
{
    char *doc = NULL;
    size_t n = 0;
    int rc = xg_file_read_all(path, (size_t)1 << 24, &doc, &n, err);
    if (rc)
        return rc;
    double v[5];
    const char *keys[5] = {"max_n", "max_l", "nblocks", "units", "cutoff"};
    for (int i = 0; i < 5 && !rc; i++)
        rc = json_num(doc, keys[i], &v[i], path, err);
    if (!rc)
        rc = json_num(doc, "threebody_cutoff", &m->tb_cutoff, path, err);
    if (!rc) {
        m->max_n = (int)v[0];
        m->max_l = (int)v[1];
        m->nblocks = (int)v[2];
        m->U = (int)v[3];
        m->cutoff = v[4];
        double de = 0, dn = 0;
        if (json_num(doc, "dim_edge_embedding", &de, path, err) ||
            json_num(doc, "dim_node_embedding", &dn, path, err) || de != m->U || dn != m->U)
            rc = xg_error_set(err, XG_EUNSUPPORTED, "%s: embedding widths differ from units", path);
    }
    if (!rc && (!json_is(doc, "use_smooth", "false") || !json_is(doc, "use_phi", "false") ||
                !json_is(doc, "include_state", "false") || !json_is(doc, "is_intensive", "false") ||
                !json_is(doc, "readout_type", "\"weighted_atom\"") ||
                !json_is(doc, "activation_type", "\"swish\"") ||
                !json_is(doc, "rbf_type", "\"SphericalBessel\"") ||
                !json_is(doc, "ntargets", "1")))
        rc = xg_error_set(err, XG_EUNSUPPORTED,
                          "%s: only the M3GNet potential form is supported (spherical Bessel basis "
                          "without smoothing, no phi, no state, weighted-atom extensive readout, "
                          "swish, one target)", path);
    if (!rc) {
        const char *p = json_after(doc, "element_types");
        if (!p || *p != '[') {
            rc = xg_error_set(err, XG_EPARSE, "%s: no \"element_types\" list", path);
        } else {
            m->el_z = malloc(sizeof(int) * (XG_MAX_Z + 1));
            m->nel = 0;
            if (!m->el_z)
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
            p++;
            while (!rc) {
                while (*p && (isspace((unsigned char)*p) || *p == ','))
                    p++;
                if (*p == ']')
                    break;
                char sym[8] = "";
                int k = 0;
                if (*p == '"') {
                    p++;
                    while (*p && *p != '"' && k < 7)
                        sym[k++] = *p++;
                    sym[k] = 0;
                    if (*p == '"')
                        p++;
                }
                int z = k ? xg_element_from_symbol(sym) : 0;
                if (z <= 0 || m->nel >= XG_MAX_Z)
                    rc = xg_error_set(err, XG_EPARSE, "%s: bad element '%s' in element_types",
                                      path, sym);
                else
                    m->el_z[m->nel++] = z;
            }
        }
    }
    free(doc);
    if (!rc)
        rc = check_sizes(m, path, err);
    return rc;
}

typedef struct {
    const xg_m3gnet *m;
    const char *source, *license;
} import_ctx;

static int write_model(hid_t f, const void *user, const char *path, xg_error *err)
{
    const import_ctx *c = user;
    const xg_m3gnet *m = c->m;
    int rc = xg_h5_put_str(f, "format", "xtalgen-m3gnet", path, err);
    if (!rc) rc = xg_h5_put_i64(f, "version", XG_M3GNET_VERSION, path, err);
    if (!rc) rc = xg_h5_put_str(f, "source", c->source, path, err);
    if (!rc) rc = xg_h5_put_str(f, "license", c->license, path, err);
    if (!rc) rc = xg_h5_put_str(f, "reference", "C. Chen and S. P. Ong, Nat. Comput. Sci. 2, 718 "
                                "(2022); weights: matgl M3GNet-MP-2021.2.8-PES (BSD-3-Clause)",
                                path, err);
    if (!rc) rc = xg_h5_put_f64(f, "cutoff", m->cutoff, path, err);
    if (!rc) rc = xg_h5_put_f64(f, "threebody_cutoff", m->tb_cutoff, path, err);
    if (!rc) rc = xg_h5_put_f64(f, "data_mean", m->mean, path, err);
    if (!rc) rc = xg_h5_put_f64(f, "data_std", m->std, path, err);
    if (!rc) rc = xg_h5_put_i64(f, "max_n", m->max_n, path, err);
    if (!rc) rc = xg_h5_put_i64(f, "max_l", m->max_l, path, err);
    if (!rc) rc = xg_h5_put_i64(f, "nblocks", m->nblocks, path, err);
    if (!rc) rc = xg_h5_put_i64(f, "units", m->U, path, err);
    if (!rc) rc = xg_h5_put_i64(f, "nelements", m->nel, path, err);
    hsize_t n = (hsize_t)m->nel;
    if (!rc) rc = xg_h5_put_ds(f, "element_z", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &n, m->el_z, path, err);
    if (!rc) rc = xg_h5_put_ds(f, "element_refs", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, m->refs, path, err);
    hid_t g = -1;
    if (!rc && (g = H5Gcreate2(f, "weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        rc = xg_h5_fail(err, path, "create group", "weights");
    tensor_ref t[MAXT];
    int nt = table((xg_m3gnet *)m, t);
    for (int i = 0; i < nt && !rc; i++) {
        hsize_t dims[2] = {(hsize_t)t[i].rows, (hsize_t)t[i].cols};
        rc = xg_h5_put_ds(g, t[i].xg, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t[i].cols ? 2 : 1, dims,
                          *t[i].slot, path, err);
    }
    if (g >= 0)
        H5Gclose(g);
    return rc;
}

int xg_m3gnet_import(const char *dir, const char *out_path, const char *license_name,
                     xg_error *err)
{
    char jpath[4096], hpath[4096];
    snprintf(jpath, sizeof jpath, "%s/model.json", dir);
    snprintf(hpath, sizeof hpath, "%s/m3gnet-mp-2021.2.8-pes.h5", dir);
    xg_m3gnet *m = calloc(1, sizeof *m);
    if (!m)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    int rc = import_json(m, jpath, err);
    H5E_BEGIN_TRY
    {
        hid_t f = -1;
        if (!rc && (f = H5Fopen(hpath, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
            rc = xg_error_set(err, XG_EIO, "%s: not a readable HDF5 file", hpath);
        if (!rc) {
            float mean = 0, std = 0;
            hid_t d;
            rc = XG_OK;
            /* data_mean and data_std are scalars (rank 0). */
            if ((d = H5Dopen2(f, "data_mean", H5P_DEFAULT)) < 0 ||
                H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &mean) < 0)
                rc = xg_h5_fail(err, hpath, "read", "data_mean");
            if (d >= 0)
                H5Dclose(d);
            if (!rc && ((d = H5Dopen2(f, "data_std", H5P_DEFAULT)) < 0 ||
                        H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &std) < 0))
                rc = xg_h5_fail(err, hpath, "read", "data_std");
            if (!rc && d >= 0)
                H5Dclose(d);
            m->mean = mean;
            m->std = std;
            if (!rc) {
                hsize_t n = (hsize_t)m->nel;
                float *r = malloc(sizeof(float) * m->nel);
                m->refs = malloc(sizeof(double) * m->nel);
                if (!r || !m->refs)
                    rc = xg_error_set(err, XG_ENOMEM, "out of memory");
                if (!rc)
                    rc = xg_h5_get_ds(f, "element_refs.property_offset", H5T_NATIVE_FLOAT, 1, &n,
                                      r, hpath, err);
                for (int i = 0; !rc && i < m->nel; i++)
                    m->refs[i] = r[i];
                free(r);
            }
            if (!rc)
                rc = read_tensors(m, f, 1, hpath, err);
        }
        if (f >= 0)
            H5Fclose(f);
    }
    H5E_END_TRY;
    if (!rc) {
        import_ctx c = {m, "matgl M3GNet-MP-2021.2.8-PES (model.json + state dict)",
                        license_name ? license_name : "LICENSE-m3gnet"};
        rc = xg_h5_write_atomic(out_path, write_model, &c, "M3GNet model write", err);
    }
    xg_m3gnet_free(m);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * the graph
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    int n;                 /* atoms */
    long E, cap;           /* bonds */
    int *src, *dst;
    double (*vec)[3], *d;
    int *tb_start;         /* n + 1: the three-body bonds of atom i */
    long *tb;              /* their bond indices */
    long ntb;
    long T;                /* triples */
} graph;

static void graph_free(graph *g)
{
    free(g->src);
    free(g->dst);
    free(g->vec);
    free(g->d);
    free(g->tb_start);
    free(g->tb);
}

static int push_edge(graph *g, int i, int j, const double r[3], double d)
{
    if (g->E == g->cap) {
        long nc = g->cap ? 2 * g->cap : 1024;
        int *s = realloc(g->src, sizeof(int) * nc);
        if (s) g->src = s;
        int *t = realloc(g->dst, sizeof(int) * nc);
        if (t) g->dst = t;
        double(*v)[3] = realloc(g->vec, sizeof(double[3]) * nc);
        if (v) g->vec = v;
        double *dd = realloc(g->d, sizeof(double) * nc);
        if (dd) g->d = dd;
        if (!s || !t || !v || !dd)
            return -1;
        g->cap = nc;
    }
    g->src[g->E] = i;
    g->dst[g->E] = j;
    memcpy(g->vec[g->E], r, sizeof(double[3]));
    g->d[g->E] = d;
    g->E++;
    return 0;
}

/* All bonds i -> j + image within the cutoff. The image range along each lattice vector is
 * cutoff / height + 1 (the height is the distance between opposite faces, V / |b x c|, which
 * is what bounds the images of a skewed cell; the + 1 covers coordinates anywhere in [0, 1)).
 * Bonds come out sorted by source atom, the order the three-body step relies on. */
static int build_graph(const xg_m3gnet *m, const xg_structure *s, graph *g, xg_error *err)
{
    memset(g, 0, sizeof *g);
    int n = s->natoms;
    g->n = n;
    const double(*L)[3] = s->lattice;
    double cr[3][3];
    for (int a = 0; a < 3; a++) {
        const double *u = L[(a + 1) % 3], *v = L[(a + 2) % 3];
        cr[a][0] = u[1] * v[2] - u[2] * v[1];
        cr[a][1] = u[2] * v[0] - u[0] * v[2];
        cr[a][2] = u[0] * v[1] - u[1] * v[0];
    }
    double vol = fabs(L[0][0] * cr[0][0] + L[0][1] * cr[0][1] + L[0][2] * cr[0][2]);
    int na[3];
    for (int a = 0; a < 3; a++) {
        double h = vol / sqrt(cr[a][0] * cr[a][0] + cr[a][1] * cr[a][1] + cr[a][2] * cr[a][2]);
        if (!(h > 1e-3) || !isfinite(h))
            return xg_error_set(err, XG_EINVAL, "%s: degenerate lattice (height %g A)", s->id, h);
        double k = ceil(m->cutoff / h) + 1;
        if (k > 200)
            return xg_error_set(err, XG_EINVAL, "%s: cell too thin for a %.1f A cutoff", s->id,
                                m->cutoff);
        na[a] = (int)k;
    }
    double(*x)[3] = malloc(sizeof(double[3]) * (n ? n : 1));
    if (!x)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        double f[3];
        for (int a = 0; a < 3; a++)
            f[a] = s->frac[i][a] - floor(s->frac[i][a]);
        for (int c = 0; c < 3; c++)
            x[i][c] = f[0] * L[0][c] + f[1] * L[1][c] + f[2] * L[2][c];
    }
    double rc2 = m->cutoff * m->cutoff;
    for (int i = 0; i < n; i++)
        for (int a = -na[0]; a <= na[0]; a++)
            for (int b = -na[1]; b <= na[1]; b++)
                for (int c = -na[2]; c <= na[2]; c++) {
                    double sh[3];
                    for (int k = 0; k < 3; k++)
                        sh[k] = a * L[0][k] + b * L[1][k] + c * L[2][k] - x[i][k];
                    for (int j = 0; j < n; j++) {
                        double r[3] = {x[j][0] + sh[0], x[j][1] + sh[1], x[j][2] + sh[2]};
                        double d2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
                        if (d2 > rc2 || d2 < 1e-16)
                            continue;
                        if (push_edge(g, i, j, r, sqrt(d2))) {
                            free(x);
                            return xg_error_set(err, XG_ENOMEM, "%s: out of memory for bonds", s->id);
                        }
                    }
                }
    free(x);
    g->tb_start = calloc((size_t)n + 1, sizeof(int));
    g->tb = malloc(sizeof(long) * (g->E ? g->E : 1));
    if (!g->tb_start || !g->tb)
        return xg_error_set(err, XG_ENOMEM, "out of memory");
    long k = 0;
    g->T = 0;
    for (long e = 0, i = 0; i < n; i++) {
        g->tb_start[i] = (int)k;
        long c = 0;
        for (; e < g->E && g->src[e] == i; e++)
            if (g->d[e] <= m->tb_cutoff) {
                g->tb[k++] = e;
                c++;
            }
        g->T += c * (c - 1);
    }
    g->tb_start[n] = (int)k;
    g->ntb = k;
    return XG_OK;
}

int xg_m3gnet_graph_size(const xg_m3gnet *m, const xg_structure *s, long *nbonds, long *ntriples,
                         xg_error *err)
{
    graph g;
    int rc = build_graph(m, s, &g, err);
    if (!rc) {
        *nbonds = g.E;
        *ntriples = g.T;
    }
    graph_free(&g);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * dense helpers
 * ------------------------------------------------------------------------------------------ */
/* exp(x) without a library call, so that loops over sigmoids vectorize: glibc's exp is one
 * scalar call per number, and the ~1.6 million sigmoids of a 20-atom energy+forces call took
 * 40% of its time in exp and the division behind it. Cody-Waite reduction x = k ln2 + r
 * (|r| <= ln2 / 2, ln2 split in a 32-bit head and a tail so k ln2 is exact), exp(r) by its
 * Taylor series to degree 13 (remainder below 4e-18 relative), 2^k put into the exponent bits.
 * The integer k comes from adding 1.5 * 2^52, which rounds x / ln2 to the nearest integer in
 * the low mantissa bits without a float-to-int conversion (AVX2 has none for 64-bit
 * integers). Within 2 ulp of exp for |x| <= 708; clamped outside, where the sigmoid it feeds
 * is 0 or 1 to double precision anyway. */
static inline double exp_vec(double x)
{
    const double shifter = 0x1.8p52, ln2_hi = 0x1.62e42feep-1, ln2_lo = 0x1.a39ef35793c76p-33;
    x = x < -708.0 ? -708.0 : (x > 708.0 ? 708.0 : x);
    double kd = x * 0x1.71547652b82fep0 + shifter;
    double k = kd - shifter;
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0;             /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t ki, si, sh;
    memcpy(&ki, &kd, sizeof ki);
    memcpy(&sh, &shifter, sizeof sh);
    si = (ki - sh + 1023) << 52; /* 2^k: k in [-1022, 1022] after the clamp */
    double scale;
    memcpy(&scale, &si, sizeof scale);
    return p * scale;
}

static inline double sigm(double x) { return 1.0 / (1.0 + exp_vec(-x)); }
static inline double silu(double x) { return x * sigm(x); }
static inline double dsilu(double x)
{
    double s = sigm(x);
    return s * (1.0 + x * (1.0 - s));
}

/* Y[N x out] (=, or += with acc) X[N x in] W^T (W is out x in, row stride ldw) (+ bias). */
static void lin(double *Y, const double *X, const double *W, const double *bias, long N, int in,
                int out, int ldx, int ldw, int ldy, int acc)
{
    if (N <= 0)
        return;
    if (bias && !acc)
        for (long r = 0; r < N; r++)
            memcpy(Y + r * ldy, bias, sizeof(double) * out);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, out, in, 1.0, X, ldx, W, ldw,
                (bias || acc) ? 1.0 : 0.0, Y, ldy);
}

/* dX[N x in] += dY[N x out] W. */
static void lin_back(double *dX, const double *dY, const double *W, long N, int in, int out,
                     int ldx, int ldw, int ldy)
{
    if (N <= 0)
        return;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, in, out, 1.0, dY, ldy, W, ldw,
                1.0, dX, ldx);
}

/* dX[N x in] = dY[N x out] W (overwrites: saves clearing a buffer the GEMM fills anyway). */
static void lin_back_set(double *dX, const double *dY, const double *W, long N, int in, int out,
                         int ldx, int ldw, int ldy)
{
    if (N <= 0)
        return;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, in, out, 1.0, dY, ldy, W, ldw,
                0.0, dX, ldx);
}

/* Saved state of one conv gated MLP over E rows. */
typedef struct {
    double *z1;        /* E x 2U (layer | gate pre-activations) */
    double *z2, *z3;   /* E x 2U each */
    double *s1, *s2, *s3; /* their sigmoids, so backward needs no exp */
    double *w;         /* E x U: W_rbf rbf */
} conv_save;

/* s = sigmoid(z) over n numbers; h (optional) = SiLU(z) = z s. */
/* The sigmoid passes are arithmetic-bound (a 13-term polynomial and a division per number);
 * where the CPU has AVX-512 they run twice as wide. GCC builds one copy per target and picks
 * at load time (an ifunc); elementwise, the copies compute the same numbers. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define XG_SIMD_CLONES __attribute__((target_clones("avx512f", "default")))
#else
#define XG_SIMD_CLONES
#endif

XG_SIMD_CLONES
static void sig_rows(double *restrict s, double *restrict h, const double *restrict z, long n)
{
    if (h)
        for (long k = 0; k < n; k++) {
            double sk = 1.0 / (1.0 + exp_vec(-z[k]));
            s[k] = sk;
            h[k] = z[k] * sk;
        }
    else
        for (long k = 0; k < n; k++)
            s[k] = 1.0 / (1.0 + exp_vec(-z[k]));
}

/* SiLU'(z) from z and s = sigmoid(z). */
static inline double dsilu_s(double z, double s) { return s * (1.0 + z * (1.0 - s)); }

/* Edges go through a gated MLP in tiles of this many rows: each tile's activations (a few
 * hundred KB for all edges) stay in the core's cache between the GEMM that makes them and the
 * sigmoid and GEMM that use them. Done over all edges at once, every layer made a round trip
 * through L3 and the sigmoid passes were bound by memory, not arithmetic. */
#define CONV_TILE 96

/* out[E x U] = GatedMLP([v_src, v_dst, e]) * (W_rbf rbf). P (N x 2U) = v W1s^T, Q = v W1d^T;
 * h: a TILE x 2U work array. */
static void conv_forward(const conv_mlp *c, conv_save *S, double *out, const double *v,
                         const double *e, const double *rbf, const graph *g, int U, int nb,
                         double *P, double *Q, double *h)
{
    long E = g->E;
    int n = g->n, U2 = 2 * U;
    lin(P, v, c->W1s, c->b1, n, U, U2, U, U, U2, 0);
    lin(Q, v, c->W1d, NULL, n, U, U2, U, U, U2, 0);
    lin(S->w, rbf, c->Wr, NULL, E, nb, U, nb, nb, U, 0);
    for (long r0 = 0; r0 < E; r0 += CONV_TILE) {
        long R = E - r0 < CONV_TILE ? E - r0 : CONV_TILE;
        double *z1 = S->z1 + r0 * U2, *z2 = S->z2 + r0 * U2, *z3 = S->z3 + r0 * U2;
        double *s1 = S->s1 + r0 * U2, *s2 = S->s2 + r0 * U2, *s3 = S->s3 + r0 * U2;
        lin(z1, e + r0 * U, c->W1e, NULL, R, U, U2, U, U, U2, 0);
        for (long r = 0; r < R; r++) {
            double *z = z1 + r * U2;
            const double *pp = P + (long)g->src[r0 + r] * U2, *q = Q + (long)g->dst[r0 + r] * U2;
            for (int k = 0; k < U2; k++)
                z[k] += pp[k] + q[k];
        }
        sig_rows(s1, h, z1, R * U2);
        /* layer 2: h (R x 2U) -> z2; layers read columns 0..U-1, gates U..2U-1 */
        lin(z2, h, c->A2, c->a2, R, U, U, U2, U, U2, 0);
        lin(z2 + U, h + U, c->G2, c->c2, R, U, U, U2, U, U2, 0);
        sig_rows(s2, h, z2, R * U2);
        lin(z3, h, c->A3, c->a3, R, U, U, U2, U, U2, 0);
        lin(z3 + U, h + U, c->G3, c->c3, R, U, U, U2, U, U2, 0);
        sig_rows(s3, NULL, z3, R * U2);
        for (long r = 0; r < R; r++) {
            const double *z = z3 + r * U2, *sg = s3 + r * U2, *w = S->w + (r0 + r) * U;
            double *o = out + (r0 + r) * U;
            for (int k = 0; k < U; k++)
                o[k] = z[k] * sg[k] * sg[U + k] * w[k];
        }
    }
}

/* Backward of conv_forward given dout: adds into dv (N x U), de (E x U), drbf (E x nb). Row r
 * of dout is dout[r] (E x U), or dout[dout_atom[r]] when dout_atom is given (a node update's
 * message gradient is that of its destination atom: no E x U gather). dout may be de itself:
 * each tile reads its rows of dout before it adds into the same rows of de.
 * Work arrays: t1, t2 (TILE x 2U at least), dw (E x U), dP (2 N x 2U). */
static void conv_backward(const conv_mlp *c, const conv_save *S, const double *dout,
                          const int *dout_atom, double *dv, double *de, double *drbf,
                          const graph *g, int U, int nb, double *t1, double *t2, double *dw,
                          double *dP)
{
    long E = g->E;
    int n = g->n, U2 = 2 * U;
    double *dPs = dP, *dPd = dP + (size_t)n * U2; /* by source and by destination atom */
    memset(dP, 0, sizeof(double) * 2 * n * U2);
    for (long r0 = 0; r0 < E; r0 += CONV_TILE) {
        long R = E - r0 < CONV_TILE ? E - r0 : CONV_TILE;
        const double *z1 = S->z1 + r0 * U2, *z2 = S->z2 + r0 * U2, *z3 = S->z3 + r0 * U2;
        const double *s1 = S->s1 + r0 * U2, *s2 = S->s2 + r0 * U2, *s3 = S->s3 + r0 * U2;
        /* d(w) = dout * mlp_out -> drbf (after the loop); d z3 into t2 */
        for (long r = 0; r < R; r++) {
            const double *z = z3 + r * U2, *sr = s3 + r * U2, *w = S->w + (r0 + r) * U;
            const double *d = dout + (dout_atom ? (long)dout_atom[r0 + r] : r0 + r) * U;
            double *dz = t2 + r * U2, *dwr = dw + (r0 + r) * U;
            for (int k = 0; k < U; k++) {
                double a = z[k] * sr[k], sg = sr[U + k];
                dwr[k] = d[k] * a * sg;
                dz[k] = d[k] * w[k] * sg * dsilu_s(z[k], sr[k]);
                dz[U + k] = d[k] * w[k] * a * sg * (1.0 - sg);
            }
        }
        /* through layer 3 into h2 (t1), layer 2 into h1 (t2) */
        lin_back_set(t1, t2, c->A3, R, U, U, U2, U, U2);
        lin_back_set(t1 + U, t2 + U, c->G3, R, U, U, U2, U, U2);
        for (long k = 0; k < R * U2; k++)
            t1[k] *= dsilu_s(z2[k], s2[k]);
        lin_back_set(t2, t1, c->A2, R, U, U, U2, U, U2);
        lin_back_set(t2 + U, t1 + U, c->G2, R, U, U, U2, U, U2);
        for (long k = 0; k < R * U2; k++)
            t2[k] *= dsilu_s(z1[k], s1[k]);
        /* t2 = dz1 (R x 2U): into e, and summed per source and destination atom for the
         * split first layer */
        lin_back(de + r0 * U, t2, c->W1e, R, U, U2, U, U, U2);
        for (long r = 0; r < R; r++) {
            double *ps = dPs + (long)g->src[r0 + r] * U2, *pd = dPd + (long)g->dst[r0 + r] * U2;
            const double *d = t2 + r * U2;
            for (int k = 0; k < U2; k++) {
                ps[k] += d[k];
                pd[k] += d[k];
            }
        }
    }
    lin_back(drbf, dw, c->Wr, E, nb, U, nb, nb, U);
    lin_back(dv, dPs, c->W1s, n, U, U2, U, U, U2);
    lin_back(dv, dPd, c->W1d, n, U, U2, U, U, U2);
}

/* ------------------------------------------------------------------------------------------
 * energy, forces, stress
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    /* what the backward pass reads: the three-body atom gates and bond pre-activations with
     * their sigmoids, and the two gated MLPs' saves; edge and node features themselves are
     * not needed there and live in one buffer each, updated in place (the arena is ~2 MB per
     * block for 20 atoms, so every array not kept is memory traffic saved) */
    double *atoms, *zb, *zg, *sb, *sg;
    conv_save ce, cn;
} block_save;

struct xg_m3gnet_work {
    double *arena;
    size_t cap; /* doubles */
};

xg_m3gnet_work *xg_m3gnet_work_alloc(void) { return calloc(1, sizeof(xg_m3gnet_work)); }

void xg_m3gnet_work_free(xg_m3gnet_work *w)
{
    if (w) {
        free(w->arena);
        free(w);
    }
}

int xg_m3gnet_compute(const xg_m3gnet *m, const xg_structure *s, double *energy,
                      double (*forces)[3], double stress[3][3], xg_error *err)
{
    xg_m3gnet_work w = {NULL, 0};
    int rc = xg_m3gnet_compute_work(m, &w, s, energy, forces, stress, err);
    free(w.arena);
    return rc;
}

int xg_m3gnet_compute_work(const xg_m3gnet *m, xg_m3gnet_work *work, const xg_structure *s,
                           double *energy, double (*forces)[3], double stress[3][3],
                           xg_error *err)
{
    int n = s->natoms, U = m->U, nb = m->nb, U2 = 2 * U, NB = m->nblocks;
    int backward = forces || stress;
    if (n < 1)
        return xg_error_set(err, XG_EINVAL, "%s: no atoms", s->id);
    for (int i = 0; i < n; i++)
        if (!xg_m3gnet_has_element(m, s->types[i])) {
            const xg_element *el = xg_element_get(s->types[i]);
            return xg_error_set(err, XG_EINVAL, "%s: M3GNet has no parameters for element %s (Z = %d)",
                                s->id, el ? el->symbol : "?", s->types[i]);
        }
    graph g;
    int rc = build_graph(m, s, &g, err);
    if (rc) {
        graph_free(&g);
        return rc;
    }
    long E = g.E, T = g.T;
    long Eg = E ? E : 1, Tg = T ? T : 1;
    /* one arena for everything */
    size_t need = 0;
    need += (size_t)Eg * nb * 3;                /* rbf, drbf_dr, g_rbf */
    need += (size_t)Tg * (nb * 2 + 8);          /* basis, dbasis, ... */
    need += (size_t)Eg * 2;                     /* fc, dfc */
    need += (size_t)NB * ((size_t)n * nb + (size_t)Eg * U * 6 + (size_t)Eg * U2 * 12);
    need += (size_t)n * U * 4 + (size_t)n * U2 * 4 + (size_t)Eg * U2 * 3 + (size_t)Eg * U * 4 +
            (size_t)n * (U * 2 * NRO + 8) + (size_t)Eg * nb + (size_t)n * nb;
    if (work->cap < need) {
        /* grow with headroom: a relaxation's graph changes size a little from step to step */
        size_t nc = need + need / 4;
        double *na = realloc(work->arena, nc * sizeof(double));
        if (na) {
            work->arena = na;
            work->cap = nc;
        }
    }
    double *arena = work->cap >= need ? work->arena : NULL;
    if (!arena) {
        graph_free(&g);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory (%ld bonds, %ld triples)", s->id,
                            E, T);
    }
    double *p = arena;
#define TAKE(N) (p += (N), p - (N))
    double *rbf = TAKE((size_t)Eg * nb), *drbf = TAKE((size_t)Eg * nb), *grbf = TAKE((size_t)Eg * nb);
    double *basis = TAKE((size_t)Tg * nb), *gbasis = TAKE((size_t)Tg * nb);
    double *tw = TAKE((size_t)Tg), *gtw = TAKE((size_t)Tg), *tcos = TAKE((size_t)Tg);
    /* the two bond indices of each triple, stored in double-sized slots of the arena */
    double *tslots = TAKE((size_t)Tg * 2);
    long *tb1 = (long *)tslots, *tb2 = (long *)(tslots + Tg);
    double *fc = TAKE((size_t)Eg), *dfc = TAKE((size_t)Eg);
    block_save bs[MAXB];
    for (int b = 0; b < NB; b++) {
        block_save *B = &bs[b];
        B->atoms = TAKE((size_t)n * nb);
        B->zb = TAKE((size_t)Eg * U);
        B->zg = TAKE((size_t)Eg * U);
        B->ce.z1 = TAKE((size_t)Eg * U2);
        B->ce.z2 = TAKE((size_t)Eg * U2);
        B->ce.z3 = TAKE((size_t)Eg * U2);
        B->cn.z1 = TAKE((size_t)Eg * U2);
        B->cn.z2 = TAKE((size_t)Eg * U2);
        B->cn.z3 = TAKE((size_t)Eg * U2);
        B->ce.s1 = TAKE((size_t)Eg * U2);
        B->ce.s2 = TAKE((size_t)Eg * U2);
        B->ce.s3 = TAKE((size_t)Eg * U2);
        B->cn.s1 = TAKE((size_t)Eg * U2);
        B->cn.s2 = TAKE((size_t)Eg * U2);
        B->cn.s3 = TAKE((size_t)Eg * U2);
        B->sb = TAKE((size_t)Eg * U);
        B->sg = TAKE((size_t)Eg * U);
        B->ce.w = TAKE((size_t)Eg * U);
        B->cn.w = TAKE((size_t)Eg * U);
    }
    double *v = TAKE((size_t)n * U), *dv = TAKE((size_t)n * U), *dv2 = TAKE((size_t)n * U);
    double *P = TAKE((size_t)n * U2), *Q = TAKE((size_t)n * U2), *dP = TAKE((size_t)n * U2 * 2);
    double *h = TAKE((size_t)Eg * U2), *t1 = TAKE((size_t)Eg * U2), *t2 = TAKE((size_t)Eg * U2);
    double *de = TAKE((size_t)Eg * U), *ez = TAKE((size_t)Eg * U);
    double *ro = TAKE((size_t)n * U * 2 * NRO);
    double *ro_y = TAKE((size_t)n * 8);
    double *dnb = TAKE((size_t)Eg * nb), *datoms = TAKE((size_t)n * nb);
    double *ecur = TAKE((size_t)Eg * U), *eout = TAKE((size_t)Eg * U); /* edge features, a conv's output */
#undef TAKE

    /* ---- bases ---- */
    for (long e = 0; e < E; e++) {
        radial(m, g.d[e], rbf + e * nb, drbf + e * nb);
        fc[e] = g.d[e] <= m->tb_cutoff ? poly_cut(g.d[e], m->tb_cutoff, &dfc[e]) : 0.0;
        if (g.d[e] > m->tb_cutoff)
            dfc[e] = 0.0;
    }
    long t = 0;
    for (int i = 0; i < n; i++)
        for (int a = g.tb_start[i]; a < g.tb_start[i + 1]; a++)
            for (int b = g.tb_start[i]; b < g.tb_start[i + 1]; b++) {
                if (a == b)
                    continue;
                long e1 = g.tb[a], e2 = g.tb[b];
                const double *r1 = g.vec[e1], *r2 = g.vec[e2];
                double c = (r1[0] * r2[0] + r1[1] * r2[1] + r1[2] * r2[2]) / (g.d[e1] * g.d[e2]);
                /* torch clamps to +-(1 - 1e-7); the gradient is zero where it clamps */
                tcos[t] = c;
                double cc = fmin(fmax(c, -1 + 1e-7), 1 - 1e-7), Y[MAXL], dY[MAXL];
                ylm0(m->max_l, cc, Y, dY);
                /* the three-body radial part uses the pair basis (same cutoff and orders) */
                const double *f2 = rbf + e2 * nb;
                for (int l = 0; l < m->max_l; l++)
                    for (int k = 0; k < m->max_n; k++)
                        basis[t * nb + l * m->max_n + k] = f2[l * m->max_n + k] * Y[l];
                tw[t] = fc[e1] * fc[e2];
                tb1[t] = e1;
                tb2[t] = e2;
                t++;
            }

    /* ---- embedding ---- */
    for (int i = 0; i < n; i++)
        memcpy(v + (size_t)i * U, m->Emb + (size_t)m->z2i[s->types[i]] * U, sizeof(double) * U);
    lin(ez, rbf, m->Ew, m->Eb, E, nb, U, nb, nb, U, 0);
    for (long k = 0; k < E * U; k++)
        ecur[k] = silu(ez[k]);

    /* ---- blocks ---- */
    for (int b = 0; b < NB; b++) {
        const block_w *W = &m->blk[b];
        block_save *B = &bs[b];
        /* three-body */
        lin(B->atoms, v, W->Wa, W->ba, n, U, nb, U, U, nb, 0);
        for (long k = 0; k < (long)n * nb; k++)
            B->atoms[k] = sigm(B->atoms[k]);
        double *nbs = dnb; /* free until the backward pass */
        memset(nbs, 0, sizeof(double) * E * nb);
        for (long q = 0; q < T; q++) {
            double *o = nbs + tb1[q] * nb;
            const double *at = B->atoms + (long)g.dst[tb2[q]] * nb, *bq = basis + q * nb;
            for (int c = 0; c < nb; c++)
                o[c] += bq[c] * at[c] * tw[q];
        }
        lin(B->zb, nbs, W->Wb, NULL, E, nb, U, nb, nb, U, 0);
        lin(B->zg, nbs, W->Wg, NULL, E, nb, U, nb, nb, U, 0);
        sig_rows(B->sb, NULL, B->zb, E * U);
        sig_rows(B->sg, NULL, B->zg, E * U);
        for (long k = 0; k < E * U; k++)
            ecur[k] += B->zb[k] * B->sb[k] * B->sg[k];
        /* edge update */
        conv_forward(&W->edge, &B->ce, eout, v, ecur, rbf, &g, U, nb, P, Q, h);
        for (long k = 0; k < E * U; k++)
            ecur[k] += eout[k];
        /* node update: messages src -> dst */
        conv_forward(&W->node, &B->cn, eout, v, ecur, rbf, &g, U, nb, P, Q, h);
        for (long r = 0; r < E; r++) {
            double *vd = v + (long)g.dst[r] * U;
            const double *o = eout + r * U;
            for (int k = 0; k < U; k++)
                vd[k] += o[k];
        }
    }

    /* ---- readout: per atom gated MLP, NRO layers ---- */
    /* ro holds per layer k: zL (n x U) at ro + 2k n U, zG at ro + (2k+1) n U (last: width 1) */
    double sum = 0.0;
    {
        const double *x = v;
        double *xh = dv2, *xg = P; /* layer / gate activations of the previous layer */
        for (int k = 0; k < NRO; k++) {
            int out = k == NRO - 1 ? 1 : U;
            double *zL = ro + (size_t)2 * k * n * U, *zG = ro + (size_t)(2 * k + 1) * n * U;
            lin(zL, k == 0 ? x : xh, m->RL[k], m->RLb[k], n, U, out, U, U, out, 0);
            lin(zG, k == 0 ? x : xg, m->RG[k], m->RGb[k], n, U, out, U, U, out, 0);
            if (k < NRO - 1) {
                double *nh = k % 2 ? dv2 : Q, *ng = k % 2 ? P : dP;
                for (long q = 0; q < (long)n * U; q++) {
                    nh[q] = silu(zL[q]);
                    ng[q] = silu(zG[q]);
                }
                xh = nh;
                xg = ng;
            }
        }
        double *zL = ro + (size_t)2 * (NRO - 1) * n * U, *zG = ro + (size_t)(2 * NRO - 1) * n * U;
        for (int i = 0; i < n; i++) {
            ro_y[i] = zL[i] * sigm(zG[i]);
            sum += ro_y[i];
        }
    }
    double etot = m->std * sum + m->mean;
    for (int i = 0; i < n; i++)
        etot += m->refs[m->z2i[s->types[i]]];
    *energy = etot;
    if (!isfinite(etot)) {
        graph_free(&g);
        return xg_error_set(err, XG_ENUMERIC, "%s: M3GNet energy is not finite", s->id);
    }
    if (!backward) {
        graph_free(&g);
        return XG_OK;
    }

    /* ================= backward ================= */
    /* readout: recompute activations layer by layer from the saved pre-activations */
    memset(dv, 0, sizeof(double) * n * U);
    {
        double *zL = ro + (size_t)2 * (NRO - 1) * n * U, *zG = ro + (size_t)(2 * NRO - 1) * n * U;
        double *dh = Q, *dg = dP; /* n x U each: gradient wrt previous layer's activations */
        double *dzL = dv2, *dzG = P;
        /* last layer: y = zL * sigm(zG); dy = std */
        double *dzl = ro_y + n * 2, *dzg = ro_y + n * 4; /* n each */
        for (int i = 0; i < n; i++) {
            double sg = sigm(zG[i]);
            dzl[i] = m->std * sg;
            dzg[i] = m->std * zL[i] * sg * (1 - sg);
        }
        for (int k = NRO - 1; k >= 0; k--) {
            int out = k == NRO - 1 ? 1 : U;
            const double *gl = k == NRO - 1 ? dzl : dzL, *gg = k == NRO - 1 ? dzg : dzG;
            if (k == 0) {
                lin_back(dv, gl, m->RL[0], n, U, out, U, U, out);
                lin_back(dv, gg, m->RG[0], n, U, out, U, U, out);
                break;
            }
            memset(dh, 0, sizeof(double) * n * U);
            memset(dg, 0, sizeof(double) * n * U);
            lin_back(dh, gl, m->RL[k], n, U, out, U, U, out);
            lin_back(dg, gg, m->RG[k], n, U, out, U, U, out);
            const double *pzL = ro + (size_t)2 * (k - 1) * n * U, *pzG = ro + (size_t)(2 * k - 1) * n * U;
            for (long q = 0; q < (long)n * U; q++) {
                dzL[q] = dh[q] * dsilu(pzL[q]);
                dzG[q] = dg[q] * dsilu(pzG[q]);
            }
        }
    }
    memset(grbf, 0, sizeof(double) * E * nb);
    memset(gbasis, 0, sizeof(double) * Tg * nb);
    memset(gtw, 0, sizeof(double) * Tg);
    memset(de, 0, sizeof(double) * E * U); /* dE/d e_new of the last block */
    for (int b = NB - 1; b >= 0; b--) {
        const block_w *W = &m->blk[b];
        block_save *B = &bs[b];
        /* node update: v_out = v_in + scatter_dst(out_n); dv (wrt v_out) passes through */
        memcpy(dv2, dv, sizeof(double) * n * U); /* dv2 = dE/dv_in accumulator */
        /* dE/d(message of bond r) = dE/dv[dst r]; h is conv_backward's E x U work array */
        conv_backward(&W->node, &B->cn, dv, g.dst, dv2, de, grbf, &g, U, nb, t1, t2, h, dP);
        /* edge update: e_new = e_mid + out_e, so the conv's output gradient is de itself */
        conv_backward(&W->edge, &B->ce, de, NULL, dv2, de, grbf, &g, U, nb, t1, t2, h, dP);
        /* de is now dE/d e_mid; three-body: e_mid = e_in + silu(zb) sigm(zg) */
        for (long k = 0; k < E * U; k++) {
            double sb = B->zb[k] * B->sb[k], sg = B->sg[k];
            t1[k] = de[k] * sg * dsilu_s(B->zb[k], B->sb[k]);
            t2[k] = de[k] * sb * sg * (1 - sg);
        }
        lin_back_set(dnb, t1, W->Wb, E, nb, U, nb, nb, U);
        lin_back(dnb, t2, W->Wg, E, nb, U, nb, nb, U);
        memset(datoms, 0, sizeof(double) * n * nb);
        for (long q = 0; q < T; q++) {
            const double *dn = dnb + tb1[q] * nb;
            long k = g.dst[tb2[q]];
            const double *at = B->atoms + k * nb, *bq = basis + q * nb;
            double *da = datoms + k * nb, *gb = gbasis + q * nb, w = tw[q], acc = 0;
            for (int c = 0; c < nb; c++) {
                gb[c] += dn[c] * at[c] * w;
                da[c] += dn[c] * bq[c] * w;
                acc += dn[c] * bq[c] * at[c];
            }
            gtw[q] += acc;
        }
        for (long k = 0; k < (long)n * nb; k++)
            datoms[k] *= B->atoms[k] * (1 - B->atoms[k]);
        lin_back(dv2, datoms, W->Wa, n, U, nb, U, U, nb);
        /* de stays dE/d e_in = dE/d e_new of the previous block */
        memcpy(dv, dv2, sizeof(double) * n * U);
    }
    /* edge embedding: e0 = silu(Ew rbf + Eb) */
    for (long k = 0; k < E * U; k++)
        de[k] *= dsilu(ez[k]);
    lin_back(grbf, de, m->Ew, E, nb, U, nb, nb, U);

    /* ---- geometry: per-bond dE/dr ---- */
    double(*gv)[3] = (double(*)[3])t1; /* E x 3 fits in E x 2U */
    memset(gv, 0, sizeof(double[3]) * E);
    double *gd = t2; /* dE/d(distance) per bond */
    for (long e = 0; e < E; e++) {
        double acc = 0;
        for (int c = 0; c < nb; c++)
            acc += grbf[e * nb + c] * drbf[e * nb + c];
        gd[e] = acc;
    }
    for (long q = 0; q < T; q++) {
        long e1 = tb1[q], e2 = tb2[q];
        double c = tcos[q], cc = fmin(fmax(c, -1 + 1e-7), 1 - 1e-7), Y[MAXL], dY[MAXL];
        ylm0(m->max_l, cc, Y, dY);
        const double *f = rbf + e2 * nb, *df = drbf + e2 * nb;
        double gdist = 0, gcos = 0;
        for (int l = 0; l < m->max_l; l++)
            for (int k = 0; k < m->max_n; k++) {
                int idx = l * m->max_n + k;
                double gbq = gbasis[q * nb + idx];
                gdist += gbq * df[idx] * Y[l];
                gcos += gbq * f[idx] * dY[l];
            }
        if (c != cc)
            gcos = 0;
        gd[e1] += gtw[q] * dfc[e1] * fc[e2];
        gd[e2] += gtw[q] * fc[e1] * dfc[e2] + gdist;
        const double *r1 = g.vec[e1], *r2 = g.vec[e2];
        double d1 = g.d[e1], d2 = g.d[e2], inv = 1.0 / (d1 * d2);
        for (int a = 0; a < 3; a++) {
            gv[e1][a] += gcos * (r2[a] * inv - c * r1[a] / (d1 * d1));
            gv[e2][a] += gcos * (r1[a] * inv - c * r2[a] / (d2 * d2));
        }
    }
    for (long e = 0; e < E; e++)
        for (int a = 0; a < 3; a++)
            gv[e][a] += gd[e] * g.vec[e][a] / g.d[e];
    if (forces) {
        memset(forces, 0, sizeof(double[3]) * n);
        for (long e = 0; e < E; e++)
            for (int a = 0; a < 3; a++) {
                forces[g.src[e]][a] += gv[e][a];
                forces[g.dst[e]][a] -= gv[e][a];
            }
    }
    if (stress) {
        double vol = xg_structure_volume(s);
        for (int a = 0; a < 3; a++)
            for (int b2 = 0; b2 < 3; b2++) {
                double acc = 0;
                for (long e = 0; e < E; e++)
                    acc += g.vec[e][a] * gv[e][b2];
                stress[a][b2] = acc / vol;
            }
        for (int a = 0; a < 3; a++)
            for (int b2 = a + 1; b2 < 3; b2++) {
                double sym = 0.5 * (stress[a][b2] + stress[b2][a]);
                stress[a][b2] = stress[b2][a] = sym;
            }
    }
    graph_free(&g);
    return XG_OK;
}
