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

/* A gated MLP of three layers whose input is [v_src, v_dst, e] (edge and node updates), as
 * stored: float32 (out, in). The network computes on working copies of these in the chosen
 * precision (struct m3net_d / m3net_f, made in xg_m3gnet_net.h). */
typedef struct {
    float *L[3], *Lb[3], *G[3], *Gb[3];
    float *rbf_w;                        /* (U, nb) */
} conv_raw;

typedef struct {
    float *atom_w, *atom_b;  /* (nb, U), nb */
    float *bond_w, *bond_g;  /* (U, nb) each */
    conv_raw edge, node;
} block_raw;

struct m3net_d;
struct m3net_f;

struct xg_m3gnet {
    double cutoff, tb_cutoff, mean, std;
    int max_n, max_l, nb, nblocks, U, nel;
    int *el_z;
    double *refs;
    int z2i[XG_MAX_Z + 1];
    float *emb, *emb_ew, *emb_eb;            /* (nel, U), (U, nb), U */
    float *ro_L[NRO], *ro_Lb[NRO], *ro_G[NRO], *ro_Gb[NRO];
    block_raw blk[MAXB];
    double root[MAXL][MAXN], norm[MAXL][MAXN]; /* z_ln and sqrt(2/rc^3)/|j_{l+1}(z_ln)| */
    long nparams;
    /* both working copies are made at load (0.3M parameters: 3.6 MB together), so switching
     * precision is free and a loaded model stays read-only while threads compute */
    struct m3net_d *net_d;
    struct m3net_f *net_f;
    xg_m3gnet_precision precision;
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
        block_raw *B = &m->blk[b];
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
            conv_raw *c = which ? &B->node : &B->edge;
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
static struct m3net_d *m3net_make_d(const xg_m3gnet *m);
static struct m3net_f *m3net_make_f(const xg_m3gnet *m);
static void m3net_free_d(struct m3net_d *w);
static void m3net_free_f(struct m3net_f *w);

/* Element lookup, Bessel roots, the parameter count, and the working copies of the weights in
 * both precisions (the first conv layer split into its three input blocks, layers and gates
 * stacked so one GEMM feeds both). */
static int finalize(xg_m3gnet *m, xg_error *err)
{
    for (int z = 0; z <= XG_MAX_Z; z++)
        m->z2i[z] = -1;
    for (int i = 0; i < m->nel; i++)
        if (m->el_z[i] >= 1 && m->el_z[i] <= XG_MAX_Z)
            m->z2i[m->el_z[i]] = i;
    m->precision = XG_M3GNET_FLOAT32;
    m->net_d = m3net_make_d(m);
    m->net_f = m3net_make_f(m);
    if (!m->net_d || !m->net_f)
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
    m3net_free_d(m->net_d);
    m3net_free_f(m->net_f);
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
 * vectorizable exponentials for the sigmoids
 * ------------------------------------------------------------------------------------------ */
/* exp(x) without a library call, so that loops over sigmoids vectorize: glibc's exp is one
 * scalar call per number, and the ~1.6 million sigmoids of a 20-atom energy+forces call took
 * 40% of its time in exp and the division behind it. Cody-Waite reduction x = k ln2 + r
 * (|r| <= ln2 / 2, ln2 split in a 32-bit head and a tail so k ln2 is exact), exp(r) by its
 * Taylor series to degree 13 (remainder below 4e-18 relative), 2^k put into the exponent bits.
 * The integer k comes from adding 1.5 * 2^52, which rounds x / ln2 to the nearest integer in
 * the low mantissa bits without a float-to-int conversion (AVX2 has none for 64-bit
 * integers). Within 2 ulp of exp for |x| <= 708; clamped outside, where the sigmoid it feeds
 * is 0 or 1 to double precision anyway. The clamp is an integer minimum of x's magnitude bits
 * (for non-negative numbers the bit patterns order as the values): two comparisons and blends
 * in the float domain, NaN-aware, cost a third of a sigmoid pass. NaN and infinities come out
 * as NaN (x - x is 0 for every finite x, so adding it changes nothing else). */
static inline double exp_vec(double x)
{
    const double shifter = 0x1.8p52, ln2_hi = 0x1.62e42feep-1, ln2_lo = 0x1.a39ef35793c76p-33;
    const double lim = 708.0, x0 = x;
    int64_t xb, lb;
    memcpy(&xb, &x, sizeof xb);
    memcpy(&lb, &lim, sizeof lb);
    int64_t ab = xb & INT64_MAX;
    ab = ab < lb ? ab : lb;
    xb = ab | (xb & INT64_MIN);
    memcpy(&x, &xb, sizeof x);
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
    return p * scale + (x0 - x0);
}

/* The same construction in single precision: shifter 1.5 * 2^23, ln2 split in a 16-bit head
 * (k ln2_hi exact for |k| < 2^8) and a tail, Taylor series to degree 7 (remainder below 6e-9
 * relative for |r| <= ln2 / 2, under float's half ulp). Clamped to [-87, 87], where the
 * sigmoid is 0 or 1 to single precision, as exp_vec clamps. */
static inline float expf_vec(float x)
{
    const float shifter = 0x1.8p23f, ln2_hi = 0x1.62e4p-1f, ln2_lo = 0x1.7f7d1cp-20f;
    const float lim = 87.0f, x0 = x;
    int32_t xb, lb;
    memcpy(&xb, &x, sizeof xb);
    memcpy(&lb, &lim, sizeof lb);
    int32_t ab = xb & INT32_MAX;
    ab = ab < lb ? ab : lb;
    xb = ab | (xb & INT32_MIN);
    memcpy(&x, &xb, sizeof x);
    float kd = x * 0x1.715476p0f + shifter;
    float k = kd - shifter;
    float r = (x - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t ki, si, sh;
    memcpy(&ki, &kd, sizeof ki);
    memcpy(&sh, &shifter, sizeof sh);
    si = (ki - sh + 127) * (1 << 23); /* 2^k: k in [-126, 126] after the clamp */
    float scale;
    memcpy(&scale, &si, sizeof scale);
    return p * scale + (x0 - x0);
}

/* The sigmoid passes are arithmetic-bound; where the CPU has AVX-512 they run twice as wide.
 * GCC builds one copy per target and picks at load time (an ifunc). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define XG_SIMD_CLONES __attribute__((target_clones("avx512f", "default")))
#else
#define XG_SIMD_CLONES
#endif

/* Edges go through a gated MLP in tiles of this many rows: each tile's activations (a few
 * hundred KB for all edges) stay in the core's cache between the GEMM that makes them and the
 * sigmoid and GEMM that use them. Done over all edges at once, every layer made a round trip
 * through L3 and the sigmoid passes were bound by memory, not arithmetic. */
#define CONV_TILE 96

/* Arrays of the work arena start on cache-line boundaries (also what AVX-512 loads like). */
#define ARENA_ALIGN 64

static void *arena_take(char **p, size_t bytes)
{
    char *r = *p;
    *p += (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    return r;
}

/* What the network hands back to the geometry step (double, whatever it computed in). */
typedef struct {
    double *grbf, *gbasis, *gtw; /* E x nb, T x nb, T */
} net_grads;

/* the network, once per precision */
#define REAL double
#define SFX(x) x##_d
#define GEMM cblas_dgemm
#define EXPV(x) exp_vec(x)
#include "properties/xg_m3gnet_net.h"
#undef REAL
#undef SFX
#undef GEMM
#undef EXPV

#define REAL float
#define SFX(x) x##_f
#define GEMM cblas_sgemm
#define EXPV(x) expf_vec(x)
#include "properties/xg_m3gnet_net.h"
#undef REAL
#undef SFX
#undef GEMM
#undef EXPV

void xg_m3gnet_set_precision(xg_m3gnet *m, xg_m3gnet_precision p)
{
    m->precision = p == XG_M3GNET_FLOAT64 ? XG_M3GNET_FLOAT64 : XG_M3GNET_FLOAT32;
}

xg_m3gnet_precision xg_m3gnet_get_precision(const xg_m3gnet *m) { return m->precision; }

const char *xg_m3gnet_precision_name(xg_m3gnet_precision p)
{
    return p == XG_M3GNET_FLOAT64 ? "float64" : "float32";
}

/* ------------------------------------------------------------------------------------------
 * energy, forces, stress
 * ------------------------------------------------------------------------------------------ */
struct xg_m3gnet_work {
    char *arena;
    size_t cap; /* bytes */
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
    int n = s->natoms, U = m->U, nb = m->nb, NB = m->nblocks;
    int backward = forces || stress, f32 = m->precision == XG_M3GNET_FLOAT32;
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
    size_t Eg = E ? (size_t)E : 1, Tg = T ? (size_t)T : 1;
    /* one arena: the geometry's double arrays, then the network's */
    size_t geo = (Eg * nb * 3 + Tg * (nb * 2 + 5) + Eg * 6) * sizeof(double) + 16 * ARENA_ALIGN;
    size_t need = geo + (f32 ? net_arena_bytes_f(n, E, T, U, nb, NB)
                             : net_arena_bytes_d(n, E, T, U, nb, NB));
    if (work->cap < need) {
        /* grow with headroom: a relaxation's graph changes size a little from step to step */
        size_t nc = need + need / 4;
        free(work->arena);
        work->arena = aligned_alloc(ARENA_ALIGN, (nc + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
        work->cap = work->arena ? nc : 0;
    }
    if (!work->arena) {
        graph_free(&g);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory (%ld bonds, %ld triples)", s->id,
                            E, T);
    }
    char *p = work->arena;
#define TAKE_D(N) ((double *)arena_take(&p, (size_t)(N) * sizeof(double)))
    double *rbf = TAKE_D(Eg * nb), *drbf = TAKE_D(Eg * nb), *grbf = TAKE_D(Eg * nb);
    double *basis = TAKE_D(Tg * nb), *gbasis = TAKE_D(Tg * nb);
    double *tw = TAKE_D(Tg), *gtw = TAKE_D(Tg), *tcos = TAKE_D(Tg);
    long *tb1 = (long *)arena_take(&p, Tg * sizeof(long)), *tb2 = (long *)arena_take(&p, Tg * sizeof(long));
    double *fc = TAKE_D(Eg), *dfc = TAKE_D(Eg), *gd = TAKE_D(Eg);
    double(*gv)[3] = (double(*)[3])TAKE_D(Eg * 3);
#undef TAKE_D
    char *net_arena = p;

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

    /* ---- the network ---- */
    net_grads gr = {grbf, gbasis, gtw};
    net_grads *grp = backward ? &gr : NULL;
    double sum = f32 ? net_run_f(m, m->net_f, &g, s->types, rbf, basis, tw, tb1, tb2, net_arena, grp)
                     : net_run_d(m, m->net_d, &g, s->types, rbf, basis, tw, tb1, tb2, net_arena, grp);
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

    /* ---- geometry: per-bond dE/dr ---- */
    memset(gv, 0, sizeof(double[3]) * E);
    for (long e = 0; e < E; e++) { /* dE/d(distance) per bond */
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
