/* xg_m3gnet_net.h: the M3GNet network (the gated MLPs, three-body aggregation, readout and
 * their backward pass) written once for a floating type REAL, included twice by xg_m3gnet.c:
 * once as double (the exact reference: finite-difference and invariance tests, oracles) and
 * once as float (the default, for screening and relaxation), in the way GSL instantiates its
 * vector and matrix code per element type. Not a public header.
 *
 * The includer defines before each inclusion:
 *   REAL       the element type of every network array and weight copy
 *   SFX(x)     x with a per-type suffix (x##_d, x##_f) so both copies link into one file
 *   GEMM       cblas_dgemm or cblas_sgemm
 *   EXPV(x)    a vectorizable exp in REAL
 * and undefines them afterwards. What stays double in both copies: the graph and bond
 * geometry, the radial and angular bases as computed, the per-bond dE/dr the geometry step
 * assembles, the energy sum over atoms, and forces and stress themselves. Only what the
 * network computes on (activations, their gradients, the weights) is REAL. */

/* ------------------------------------------------------------------------------------------
 * weights in REAL, derived from the model's float32 tensors
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    /* the first layer split by input block, layers and gates stacked (2U rows) */
    REAL *W1s, *W1d, *W1e, *b1;              /* (2U, U) x3, 2U */
    REAL *A2, *a2, *G2, *c2, *A3, *a3, *G3, *c3; /* (U, U), U */
    REAL *Wr;                                /* (U, nb) */
    /* the transposes (in, out) the forward products read (SFX(mm) multiplies by B = W^T as
     * stored, the backward ones by W itself: NoTrans x NoTrans both ways) */
    REAL *W1sT, *W1dT, *W1eT, *A2T, *G2T, *A3T, *G3T, *WrT; /* (U, 2U) x3, (U, U) x4, (nb, U) */
} SFX(conv_w);

typedef struct {
    REAL *Wa, *ba, *Wb, *Wg;
    REAL *WbT, *WgT; /* (nb, U) */
    SFX(conv_w) edge, node;
} SFX(block_w);

struct SFX(m3net) {
    REAL *Emb, *Ew, *Eb, *RL[NRO], *RLb[NRO], *RG[NRO], *RGb[NRO];
    REAL *EwT; /* (nb, U) */
    SFX(block_w) blk[MAXB];
};

static REAL *SFX(copy_w)(const float *f, size_t n)
{
    REAL *d = malloc(n * sizeof *d);
    if (d)
        for (size_t i = 0; i < n; i++)
            d[i] = (REAL)f[i];
    return d;
}

/* The transpose (cols x rows) of a (rows x cols) REAL matrix; NULL when out of memory. */
static REAL *SFX(transpose_w)(const REAL *a, int rows, int cols)
{
    REAL *t = a ? malloc(sizeof(REAL) * (size_t)rows * cols) : NULL;
    if (t)
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                t[(size_t)c * rows + r] = a[(size_t)r * cols + c];
    return t;
}

static void SFX(m3net_free)(struct SFX(m3net) *w)
{
    if (!w)
        return;
    free(w->Emb);
    free(w->Ew);
    free(w->Eb);
    free(w->EwT);
    for (int k = 0; k < NRO; k++) {
        free(w->RL[k]);
        free(w->RLb[k]);
        free(w->RG[k]);
        free(w->RGb[k]);
    }
    for (int b = 0; b < MAXB; b++) {
        SFX(block_w) *B = &w->blk[b];
        free(B->Wa);
        free(B->ba);
        free(B->Wb);
        free(B->Wg);
        free(B->WbT);
        free(B->WgT);
        for (int k = 0; k < 2; k++) {
            SFX(conv_w) *c = k ? &B->node : &B->edge;
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
            free(c->W1sT);
            free(c->W1dT);
            free(c->W1eT);
            free(c->A2T);
            free(c->G2T);
            free(c->A3T);
            free(c->G3T);
            free(c->WrT);
        }
    }
    free(w);
}

/* The REAL working copies of m's stored tensors; NULL when out of memory. */
static struct SFX(m3net) *SFX(m3net_make)(const xg_m3gnet *m)
{
    int U = m->U, nb = m->nb;
    struct SFX(m3net) *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    int ok = (w->Emb = SFX(copy_w)(m->emb, (size_t)m->nel * U)) &&
             (w->Ew = SFX(copy_w)(m->emb_ew, (size_t)U * nb)) &&
             (w->Eb = SFX(copy_w)(m->emb_eb, (size_t)U)) &&
             (w->EwT = SFX(transpose_w)(w->Ew, U, nb));
    for (int k = 0; ok && k < NRO; k++) {
        int out = k == NRO - 1 ? 1 : U;
        ok = (w->RL[k] = SFX(copy_w)(m->ro_L[k], (size_t)out * U)) &&
             (w->RLb[k] = SFX(copy_w)(m->ro_Lb[k], (size_t)out)) &&
             (w->RG[k] = SFX(copy_w)(m->ro_G[k], (size_t)out * U)) &&
             (w->RGb[k] = SFX(copy_w)(m->ro_Gb[k], (size_t)out));
    }
    for (int b = 0; ok && b < m->nblocks; b++) {
        const block_raw *R = &m->blk[b];
        SFX(block_w) *B = &w->blk[b];
        ok = (B->Wa = SFX(copy_w)(R->atom_w, (size_t)nb * U)) &&
             (B->ba = SFX(copy_w)(R->atom_b, (size_t)nb)) &&
             (B->Wb = SFX(copy_w)(R->bond_w, (size_t)U * nb)) &&
             (B->Wg = SFX(copy_w)(R->bond_g, (size_t)U * nb)) &&
             (B->WbT = SFX(transpose_w)(B->Wb, U, nb)) &&
             (B->WgT = SFX(transpose_w)(B->Wg, U, nb));
        for (int k = 0; ok && k < 2; k++) {
            const conv_raw *r = k ? &R->node : &R->edge;
            SFX(conv_w) *c = k ? &B->node : &B->edge;
            c->W1s = malloc(sizeof(REAL) * 2 * U * U);
            c->W1d = malloc(sizeof(REAL) * 2 * U * U);
            c->W1e = malloc(sizeof(REAL) * 2 * U * U);
            c->b1 = malloc(sizeof(REAL) * 2 * U);
            ok = c->W1s && c->W1d && c->W1e && c->b1;
            if (!ok)
                break;
            for (int o = 0; o < 2 * U; o++) {
                const float *row = o < U ? r->L[0] + (size_t)o * 3 * U
                                         : r->G[0] + (size_t)(o - U) * 3 * U;
                for (int i = 0; i < U; i++) {
                    c->W1s[(size_t)o * U + i] = (REAL)row[i];
                    c->W1d[(size_t)o * U + i] = (REAL)row[U + i];
                    c->W1e[(size_t)o * U + i] = (REAL)row[2 * U + i];
                }
                c->b1[o] = (REAL)(o < U ? r->Lb[0][o] : r->Gb[0][o - U]);
            }
            ok = (c->A2 = SFX(copy_w)(r->L[1], (size_t)U * U)) &&
                 (c->a2 = SFX(copy_w)(r->Lb[1], U)) &&
                 (c->G2 = SFX(copy_w)(r->G[1], (size_t)U * U)) &&
                 (c->c2 = SFX(copy_w)(r->Gb[1], U)) &&
                 (c->A3 = SFX(copy_w)(r->L[2], (size_t)U * U)) &&
                 (c->a3 = SFX(copy_w)(r->Lb[2], U)) &&
                 (c->G3 = SFX(copy_w)(r->G[2], (size_t)U * U)) &&
                 (c->c3 = SFX(copy_w)(r->Gb[2], U)) &&
                 (c->Wr = SFX(copy_w)(r->rbf_w, (size_t)U * nb)) &&
                 (c->W1sT = SFX(transpose_w)(c->W1s, 2 * U, U)) &&
                 (c->W1dT = SFX(transpose_w)(c->W1d, 2 * U, U)) &&
                 (c->W1eT = SFX(transpose_w)(c->W1e, 2 * U, U)) &&
                 (c->A2T = SFX(transpose_w)(c->A2, U, U)) &&
                 (c->G2T = SFX(transpose_w)(c->G2, U, U)) &&
                 (c->A3T = SFX(transpose_w)(c->A3, U, U)) &&
                 (c->G3T = SFX(transpose_w)(c->G3, U, U)) &&
                 (c->WrT = SFX(transpose_w)(c->Wr, U, nb));
        }
    }
    if (!ok) {
        SFX(m3net_free)(w);
        return NULL;
    }
    return w;
}

/* ------------------------------------------------------------------------------------------
 * dense helpers
 * ------------------------------------------------------------------------------------------ */
static inline REAL SFX(sigm)(REAL x) { return (REAL)1 / ((REAL)1 + EXPV(-x)); }
static inline REAL SFX(silu)(REAL x) { return x * SFX(sigm)(x); }
static inline REAL SFX(dsilu)(REAL x)
{
    REAL s = SFX(sigm)(x);
    return s * ((REAL)1 + x * ((REAL)1 - s));
}

/* Y[M x N] = (Y if acc, else bias (N) on every row, or 0) + X[M x K] B[K x N]; row strides
 * ldy, ldx, ldb; with D (row stride ldd), the result is then multiplied by D elementwise.
 * Every product is NoTrans x NoTrans, the forward ones on weights stored transposed: on these
 * small shapes (96 x 64 x 64 per edge tile) OpenBLAS then runs its small-matrix kernels, which
 * neither pack nor clear, where X W^T went through its packing path (9% of a call in packing,
 * 3% clearing outputs). */
static void SFX(gemm_bias)(REAL *Y, int ldy, const REAL *X, int ldx, const REAL *B, int ldb,
                           long M, int N, int K, const REAL *bias, int acc,
                           enum CBLAS_TRANSPOSE tb)
{
    if (bias && !acc)
        for (long r = 0; r < M; r++)
            memcpy(Y + r * ldy, bias, sizeof(REAL) * N);
    GEMM(CblasRowMajor, CblasNoTrans, tb, (int)M, N, K, 1, X, ldx, B, ldb, (bias || acc) ? 1 : 0,
         Y, ldy);
}

static void SFX(mm)(REAL *Y, int ldy, const REAL *X, int ldx, const REAL *B, int ldb, long M,
                    int N, int K, const REAL *bias, int acc, const REAL *D, int ldd)
{
    if (M <= 0)
        return;
    SFX(gemm_bias)(Y, ldy, X, ldx, B, ldb, M, N, K, bias, acc, CblasNoTrans);
    if (D)
        for (long r = 0; r < M; r++)
            for (int k = 0; k < N; k++)
                Y[r * ldy + k] *= D[r * ldd + k];
}

/* Y[N x out] (=, or += with acc) X[N x in] W^T (+ bias), given WT = W^T (in x out, row stride
 * ldwt). */
static void SFX(lin)(REAL *Y, const REAL *X, const REAL *WT, const REAL *bias, long N, int in,
                     int out, int ldx, int ldwt, int ldy, int acc)
{
    SFX(mm)(Y, ldy, X, ldx, WT, ldwt, N, out, in, bias, acc, NULL, 0);
}

/* The same from W itself (out x in, row stride ldw), by CBLAS: for the per-atom layers (N = the
 * atoms), whose weights are not kept transposed. */
static void SFX(lin_w)(REAL *Y, const REAL *X, const REAL *W, const REAL *bias, long N, int in,
                       int out, int ldx, int ldw, int ldy, int acc)
{
    if (N > 0)
        SFX(gemm_bias)(Y, ldy, X, ldx, W, ldw, N, out, in, bias, acc, CblasTrans);
}

/* dX[N x in] += dY[N x out] W (W: out x in, row stride ldw). */
static void SFX(lin_back)(REAL *dX, const REAL *dY, const REAL *W, long N, int in, int out,
                          int ldx, int ldw, int ldy)
{
    SFX(mm)(dX, ldx, dY, ldy, W, ldw, N, in, out, NULL, 1, NULL, 0);
}

/* dX[N x in] = dY[N x out] W (overwrites: saves clearing a buffer the product fills anyway). */
static void SFX(lin_back_set)(REAL *dX, const REAL *dY, const REAL *W, long N, int in, int out,
                              int ldx, int ldw, int ldy)
{
    SFX(mm)(dX, ldx, dY, ldy, W, ldw, N, in, out, NULL, 0, NULL, 0);
}

/* dX[N x in] = (dY[N x out] W) * D elementwise (D: N x in, row stride ldx): a layer's input
 * gradient times the SiLU' of the layer below. */
static void SFX(lin_back_mul)(REAL *dX, const REAL *dY, const REAL *W, const REAL *D, long N,
                              int in, int out, int ldx, int ldw, int ldy)
{
    SFX(mm)(dX, ldx, dY, ldy, W, ldw, N, in, out, NULL, 0, D, ldx);
}

/* Saved state of one conv gated MLP over E rows. */
typedef struct {
    REAL *d1, *d2;        /* E x 2U: SiLU' of layers 1 and 2 (layer | gate columns) */
    REAL *y, *gv, *gg;    /* E x U: the gated output y = SiLU(z3 layer) sigmoid(z3 gate) and
                             its derivatives in the two (SFX(gate_rows)) */
    REAL *w;              /* E x U: W_rbf rbf */
} SFX(conv_save);

/* The element-wise passes below are arithmetic-bound (a polynomial and a division per
 * sigmoid); where the CPU has AVX-512 they run twice as wide (XG_SIMD_CLONES). Element-wise,
 * so every copy computes the same numbers. */

/* x = SiLU(z) in place and d = SiLU'(z) over n numbers: a hidden layer's activation and what
 * its backward pass multiplies by. */
XG_SIMD_CLONES
static void SFX(silu_d_rows)(REAL *restrict x, REAL *restrict d, long n)
{
    for (long k = 0; k < n; k++) {
        REAL z = x[k], s = (REAL)1 / ((REAL)1 + EXPV(-z));
        x[k] = z * s;
        d[k] = s * ((REAL)1 + z * ((REAL)1 - s));
    }
}

/* A gated output y = SiLU(zv) sigmoid(zg) over R rows of U numbers (zv and zg rows ldz
 * apart): out = y w and m = y (w given) or out += y (w NULL), and what the backward pass
 * multiplies by: gv = dy/dzv, gg = dy/dzg. out, w, gv, gg, m: rows of U. One pass, so the
 * backward pass reads two or three numbers per output instead of recomputing SiLU' from saved
 * pre-activations and sigmoids. The two uses get a loop each (one with no branch inside
 * vectorizes). */
XG_SIMD_CLONES
static void SFX(gate_rows)(const REAL *restrict zv, const REAL *restrict zg, long ldz,
                           const REAL *restrict w, REAL *restrict out, REAL *restrict gv,
                           REAL *restrict gg, REAL *restrict m, long R, int U)
{
    for (long r = 0; r < R; r++) {
        const REAL *a = zv + r * ldz, *b = zg + r * ldz;
        REAL *restrict o = out + r * U, *restrict pv = gv + r * U, *restrict pg = gg + r * U;
        if (w) {
            const REAL *restrict wr = w + r * U;
            REAL *restrict mr = m + r * U;
            for (int k = 0; k < U; k++) {
                REAL sv = (REAL)1 / ((REAL)1 + EXPV(-a[k]));
                REAL sg = (REAL)1 / ((REAL)1 + EXPV(-b[k]));
                REAL y = a[k] * sv * sg;
                pv[k] = sg * sv * ((REAL)1 + a[k] * ((REAL)1 - sv));
                pg[k] = y * ((REAL)1 - sg);
                o[k] = y * wr[k];
                mr[k] = y;
            }
        } else
            for (int k = 0; k < U; k++) {
                REAL sv = (REAL)1 / ((REAL)1 + EXPV(-a[k]));
                REAL sg = (REAL)1 / ((REAL)1 + EXPV(-b[k]));
                REAL y = a[k] * sv * sg;
                pv[k] = sg * sv * ((REAL)1 + a[k] * ((REAL)1 - sv));
                pg[k] = y * ((REAL)1 - sg);
                o[k] += y;
            }
    }
}

/* Backward of one row of SFX(gate_rows) with w: given d = dE/d out (U), dw = d y and
 * dz = [d w gv | d w gg] (2U). */
XG_SIMD_CLONES
static void SFX(gate_back_row)(const REAL *restrict d, const REAL *restrict w,
                               const REAL *restrict y, const REAL *restrict gv,
                               const REAL *restrict gg, REAL *restrict dw, REAL *restrict dz,
                               int U)
{
    for (int k = 0; k < U; k++) {
        REAL dy = d[k] * w[k];
        dw[k] = d[k] * y[k];
        dz[k] = dy * gv[k];
        dz[U + k] = dy * gg[k];
    }
}

/* out[E x U] = GatedMLP([v_src, v_dst, e]) * (W_rbf rbf). P (N x 2U) = v W1s^T, Q = v W1d^T;
 * h, h2: TILE x 2U work arrays. Edges go in tiles of CONV_TILE rows so each tile's activations
 * stay in cache between the GEMM that makes them and the sigmoid and GEMM that use them. */
static void SFX(conv_forward)(const SFX(conv_w) *c, SFX(conv_save) *S, REAL *out, const REAL *v,
                              const REAL *e, const REAL *rbf, const graph *g, int U, int nb,
                              REAL *P, REAL *Q, REAL *h, REAL *h2)
{
    long E = g->E;
    int n = g->n, U2 = 2 * U;
    SFX(lin)(P, v, c->W1sT, c->b1, n, U, U2, U, U2, U2, 0);
    SFX(lin)(Q, v, c->W1dT, NULL, n, U, U2, U, U2, U2, 0);
    SFX(lin)(S->w, rbf, c->WrT, NULL, E, nb, U, nb, U, U, 0);
    for (long r0 = 0; r0 < E; r0 += CONV_TILE) {
        long R = E - r0 < CONV_TILE ? E - r0 : CONV_TILE;
        REAL *d1 = S->d1 + r0 * U2, *d2 = S->d2 + r0 * U2;
        /* layer 1: the bond's part by GEMM, the two atoms' parts gathered; h = SiLU */
        SFX(lin)(h, e + r0 * U, c->W1eT, NULL, R, U, U2, U, U2, U2, 0);
        for (long r = 0; r < R; r++) {
            REAL *z = h + r * U2;
            const REAL *pp = P + (long)g->src[r0 + r] * U2, *q = Q + (long)g->dst[r0 + r] * U2;
            for (int k = 0; k < U2; k++)
                z[k] += pp[k] + q[k];
        }
        SFX(silu_d_rows)(h, d1, R * U2);
        /* layer 2: h (R x 2U) -> h2; layers read columns 0..U-1, gates U..2U-1 */
        SFX(lin)(h2, h, c->A2T, c->a2, R, U, U, U2, U, U2, 0);
        SFX(lin)(h2 + U, h + U, c->G2T, c->c2, R, U, U, U2, U, U2, 0);
        SFX(silu_d_rows)(h2, d2, R * U2);
        /* layer 3 into h (layer 1's activations are spent), then the gated output */
        SFX(lin)(h, h2, c->A3T, c->a3, R, U, U, U2, U, U2, 0);
        SFX(lin)(h + U, h2 + U, c->G3T, c->c3, R, U, U, U2, U, U2, 0);
        SFX(gate_rows)(h, h + U, U2, S->w + r0 * U, out + r0 * U, S->gv + r0 * U, S->gg + r0 * U,
                       S->y + r0 * U, R, U);
    }
}

/* Backward of conv_forward given dout: adds into dv (N x U), de (E x U), drbf (E x nb). Row r
 * of dout is dout[r] (E x U), or dout[dout_atom[r]] when dout_atom is given (a node update's
 * message gradient is that of its destination atom: no E x U gather). dout may be de itself:
 * each tile reads its rows of dout before it adds into the same rows of de.
 * Work arrays: t1, t2 (TILE x 2U at least), dw (E x U), dP (2 N x 2U). */
static void SFX(conv_backward)(const SFX(conv_w) *c, const SFX(conv_save) *S, const REAL *dout,
                               const int *dout_atom, REAL *dv, REAL *de, REAL *drbf,
                               const graph *g, int U, int nb, REAL *t1, REAL *t2, REAL *dw,
                               REAL *dP)
{
    long E = g->E;
    int n = g->n, U2 = 2 * U;
    REAL *dPs = dP, *dPd = dP + (size_t)n * U2; /* by source and by destination atom */
    memset(dP, 0, sizeof(REAL) * 2 * n * U2);
    for (long r0 = 0; r0 < E; r0 += CONV_TILE) {
        long R = E - r0 < CONV_TILE ? E - r0 : CONV_TILE;
        const REAL *d1 = S->d1 + r0 * U2, *d2 = S->d2 + r0 * U2;
        /* d(w) = dout * mlp_out -> drbf (after the loop); d z3 into t2 */
        for (long r = 0; r < R; r++) {
            long e0 = (r0 + r) * U;
            const REAL *d = dout + (dout_atom ? (long)dout_atom[r0 + r] : r0 + r) * U;
            SFX(gate_back_row)(d, S->w + e0, S->y + e0, S->gv + e0, S->gg + e0, dw + e0,
                               t2 + r * U2, U);
        }
        /* through layer 3 and SiLU' into z2 (t1), layer 2 and SiLU' into z1 (t2) */
        SFX(lin_back_mul)(t1, t2, c->A3, d2, R, U, U, U2, U, U2);
        SFX(lin_back_mul)(t1 + U, t2 + U, c->G3, d2 + U, R, U, U, U2, U, U2);
        SFX(lin_back_mul)(t2, t1, c->A2, d1, R, U, U, U2, U, U2);
        SFX(lin_back_mul)(t2 + U, t1 + U, c->G2, d1 + U, R, U, U, U2, U, U2);
        /* t2 = dz1 (R x 2U): into e, and summed per source and destination atom for the
         * split first layer */
        SFX(lin_back)(de + r0 * U, t2, c->W1e, R, U, U2, U, U, U2);
        for (long r = 0; r < R; r++) {
            REAL *ps = dPs + (long)g->src[r0 + r] * U2, *pd = dPd + (long)g->dst[r0 + r] * U2;
            const REAL *d = t2 + r * U2;
            for (int k = 0; k < U2; k++) {
                ps[k] += d[k];
                pd[k] += d[k];
            }
        }
    }
    SFX(lin_back)(drbf, dw, c->Wr, E, nb, U, nb, nb, U);
    SFX(lin_back)(dv, dPs, c->W1s, n, U, U2, U, U, U2);
    SFX(lin_back)(dv, dPd, c->W1d, n, U, U2, U, U, U2);
}

/* ------------------------------------------------------------------------------------------
 * the network over a graph
 * ------------------------------------------------------------------------------------------ */
typedef struct {
    /* what the backward pass reads: the three-body atom gates and bond pre-activations with
     * their sigmoids, and the two gated MLPs' saves; edge and node features themselves are
     * not needed there and live in one buffer each, updated in place */
    REAL *atoms, *gv, *gg; /* gv, gg: the three-body gated update's SFX(gate_rows) */
    SFX(conv_save) ce, cn;
} SFX(block_save);

/* Bytes of arena SFX(net_run) needs for n atoms, E bonds, T triples (each array rounded up to
 * ARENA_ALIGN bytes). */
static size_t SFX(net_arena_bytes)(int n, long E, long T, int U, int nb, int NB)
{
    size_t U2 = 2 * (size_t)U, Eg = E ? (size_t)E : 1, Tg = T ? (size_t)T : 1, elems = 0;
    int arrays = 0;
    elems += Eg * nb * 2 + Tg * nb * 2 + Tg * 2; /* rbf, grbf, basis, gbasis, tw, gtw */
    arrays += 6;
    elems += (size_t)NB * ((size_t)n * nb + Eg * U * 10 + Eg * U2 * 4);
    arrays += NB * 15;
    elems += (size_t)n * U * 3 + (size_t)n * U2 * 4 + Eg * U2 * 3 + Eg * U * 4 +
             (size_t)n * (U * 2 * NRO + 8) + Eg * nb + (size_t)n * nb;
    arrays += 17;
    return elems * sizeof(REAL) + (size_t)arrays * ARENA_ALIGN;
}

/* The energy of the graph g (whose bases the caller computed in double: rbf_d, basis_d, tw_d)
 * and, with gr non-NULL, the gradients the geometry step needs: gr->grbf (E x nb, dE/d rbf),
 * gr->gbasis (T x nb), gr->gtw (T), converted to double. arena: net_arena_bytes(...) bytes. */
static double SFX(net_run)(const xg_m3gnet *m, const struct SFX(m3net) *W0, const graph *g,
                           const int *types, const double *rbf_d, const double *basis_d,
                           const double *tw_d, const long *tb1, const long *tb2, char *arena,
                           net_grads *gr)
{
    int n = g->n, U = m->U, nb = m->nb, U2 = 2 * U, NB = m->nblocks;
    long E = g->E, T = g->T;
    long Eg = E ? E : 1, Tg = T ? T : 1;
    char *p = arena;
#define TAKE(N) ((REAL *)arena_take(&p, (size_t)(N) * sizeof(REAL)))
    REAL *rbf = TAKE((size_t)Eg * nb), *grbf = TAKE((size_t)Eg * nb);
    REAL *basis = TAKE((size_t)Tg * nb), *gbasis = TAKE((size_t)Tg * nb);
    REAL *tw = TAKE((size_t)Tg), *gtw = TAKE((size_t)Tg);
    SFX(block_save) bs[MAXB];
    for (int b = 0; b < NB; b++) {
        SFX(block_save) *B = &bs[b];
        B->atoms = TAKE((size_t)n * nb);
        B->gv = TAKE((size_t)Eg * U);
        B->gg = TAKE((size_t)Eg * U);
        B->ce.d1 = TAKE((size_t)Eg * U2);
        B->ce.d2 = TAKE((size_t)Eg * U2);
        B->ce.y = TAKE((size_t)Eg * U);
        B->cn.d1 = TAKE((size_t)Eg * U2);
        B->cn.d2 = TAKE((size_t)Eg * U2);
        B->cn.y = TAKE((size_t)Eg * U);
        B->ce.gv = TAKE((size_t)Eg * U);
        B->ce.gg = TAKE((size_t)Eg * U);
        B->cn.gv = TAKE((size_t)Eg * U);
        B->cn.gg = TAKE((size_t)Eg * U);
        B->ce.w = TAKE((size_t)Eg * U);
        B->cn.w = TAKE((size_t)Eg * U);
    }
    REAL *v = TAKE((size_t)n * U), *dv = TAKE((size_t)n * U), *dv2 = TAKE((size_t)n * U);
    REAL *P = TAKE((size_t)n * U2), *Q = TAKE((size_t)n * U2), *dP = TAKE((size_t)n * U2 * 2);
    REAL *h = TAKE((size_t)Eg * U2), *t1 = TAKE((size_t)Eg * U2), *t2 = TAKE((size_t)Eg * U2);
    REAL *de = TAKE((size_t)Eg * U), *ez = TAKE((size_t)Eg * U);
    REAL *ro = TAKE((size_t)n * U * 2 * NRO);
    REAL *ro_y = TAKE((size_t)n * 8);
    REAL *dnb = TAKE((size_t)Eg * nb), *datoms = TAKE((size_t)n * nb);
    REAL *ecur = TAKE((size_t)Eg * U), *eout = TAKE((size_t)Eg * U); /* edge features, a conv's output */
#undef TAKE
    for (long k = 0; k < E * nb; k++)
        rbf[k] = (REAL)rbf_d[k];
    for (long k = 0; k < T * nb; k++)
        basis[k] = (REAL)basis_d[k];
    for (long k = 0; k < T; k++)
        tw[k] = (REAL)tw_d[k];

    /* ---- embedding ---- */
    for (int i = 0; i < n; i++)
        memcpy(v + (size_t)i * U, W0->Emb + (size_t)m->z2i[types[i]] * U, sizeof(REAL) * U);
    SFX(lin)(ez, rbf, W0->EwT, W0->Eb, E, nb, U, nb, U, U, 0);
    for (long k = 0; k < E * U; k++)
        ecur[k] = SFX(silu)(ez[k]);

    /* ---- blocks ---- */
    for (int b = 0; b < NB; b++) {
        const SFX(block_w) *W = &W0->blk[b];
        SFX(block_save) *B = &bs[b];
        /* three-body */
        SFX(lin_w)(B->atoms, v, W->Wa, W->ba, n, U, nb, U, U, nb, 0);
        for (long k = 0; k < (long)n * nb; k++)
            B->atoms[k] = SFX(sigm)(B->atoms[k]);
        REAL *nbs = dnb; /* free until the backward pass */
        memset(nbs, 0, sizeof(REAL) * E * nb);
        for (long q = 0; q < T; q++) {
            REAL *o = nbs + tb1[q] * nb;
            const REAL *at = B->atoms + (long)g->dst[tb2[q]] * nb, *bq = basis + q * nb;
            for (int c = 0; c < nb; c++)
                o[c] += bq[c] * at[c] * tw[q];
        }
        /* e += SiLU(zb) sigmoid(zg); zb, zg in eout and de, free until the convs and the
         * backward pass */
        SFX(lin)(eout, nbs, W->WbT, NULL, E, nb, U, nb, U, U, 0);
        SFX(lin)(de, nbs, W->WgT, NULL, E, nb, U, nb, U, U, 0);
        SFX(gate_rows)(eout, de, U, NULL, ecur, B->gv, B->gg, NULL, E, U);
        /* edge update */
        SFX(conv_forward)(&W->edge, &B->ce, eout, v, ecur, rbf, g, U, nb, P, Q, h, t1);
        for (long k = 0; k < E * U; k++)
            ecur[k] += eout[k];
        /* node update: messages src -> dst */
        SFX(conv_forward)(&W->node, &B->cn, eout, v, ecur, rbf, g, U, nb, P, Q, h, t1);
        for (long r = 0; r < E; r++) {
            REAL *vd = v + (long)g->dst[r] * U;
            const REAL *o = eout + r * U;
            for (int k = 0; k < U; k++)
                vd[k] += o[k];
        }
    }

    /* ---- readout: per atom gated MLP, NRO layers ---- */
    /* ro holds per layer k: zL (n x U) at ro + 2k n U, zG at ro + (2k+1) n U (last: width 1) */
    double sum = 0.0; /* over atoms in double and in atom order, in both precisions */
    {
        const REAL *x = v;
        REAL *xh = dv2, *xg = P; /* layer / gate activations of the previous layer */
        for (int k = 0; k < NRO; k++) {
            int out = k == NRO - 1 ? 1 : U;
            REAL *zL = ro + (size_t)2 * k * n * U, *zG = ro + (size_t)(2 * k + 1) * n * U;
            SFX(lin_w)(zL, k == 0 ? x : xh, W0->RL[k], W0->RLb[k], n, U, out, U, U, out, 0);
            SFX(lin_w)(zG, k == 0 ? x : xg, W0->RG[k], W0->RGb[k], n, U, out, U, U, out, 0);
            if (k < NRO - 1) {
                REAL *nh = k % 2 ? dv2 : Q, *ng = k % 2 ? P : dP;
                for (long q = 0; q < (long)n * U; q++) {
                    nh[q] = SFX(silu)(zL[q]);
                    ng[q] = SFX(silu)(zG[q]);
                }
                xh = nh;
                xg = ng;
            }
        }
        REAL *zL = ro + (size_t)2 * (NRO - 1) * n * U, *zG = ro + (size_t)(2 * NRO - 1) * n * U;
        for (int i = 0; i < n; i++) {
            ro_y[i] = zL[i] * SFX(sigm)(zG[i]);
            sum += (double)ro_y[i];
        }
    }
    if (!gr)
        return sum;

    /* ================= backward ================= */
    /* readout: recompute activations layer by layer from the saved pre-activations */
    memset(dv, 0, sizeof(REAL) * n * U);
    {
        REAL *zL = ro + (size_t)2 * (NRO - 1) * n * U, *zG = ro + (size_t)(2 * NRO - 1) * n * U;
        REAL *dh = Q, *dg = dP; /* n x U each: gradient wrt previous layer's activations */
        REAL *dzL = dv2, *dzG = P;
        /* last layer: y = zL * sigm(zG); dy = std */
        REAL *dzl = ro_y + n * 2, *dzg = ro_y + n * 4; /* n each */
        REAL sd = (REAL)m->std;
        for (int i = 0; i < n; i++) {
            REAL sg = SFX(sigm)(zG[i]);
            dzl[i] = sd * sg;
            dzg[i] = sd * zL[i] * sg * ((REAL)1 - sg);
        }
        for (int k = NRO - 1; k >= 0; k--) {
            int out = k == NRO - 1 ? 1 : U;
            const REAL *gl = k == NRO - 1 ? dzl : dzL, *gg = k == NRO - 1 ? dzg : dzG;
            if (k == 0) {
                SFX(lin_back)(dv, gl, W0->RL[0], n, U, out, U, U, out);
                SFX(lin_back)(dv, gg, W0->RG[0], n, U, out, U, U, out);
                break;
            }
            memset(dh, 0, sizeof(REAL) * n * U);
            memset(dg, 0, sizeof(REAL) * n * U);
            SFX(lin_back)(dh, gl, W0->RL[k], n, U, out, U, U, out);
            SFX(lin_back)(dg, gg, W0->RG[k], n, U, out, U, U, out);
            const REAL *pzL = ro + (size_t)2 * (k - 1) * n * U, *pzG = ro + (size_t)(2 * k - 1) * n * U;
            for (long q = 0; q < (long)n * U; q++) {
                dzL[q] = dh[q] * SFX(dsilu)(pzL[q]);
                dzG[q] = dg[q] * SFX(dsilu)(pzG[q]);
            }
        }
    }
    memset(grbf, 0, sizeof(REAL) * E * nb);
    memset(gbasis, 0, sizeof(REAL) * Tg * nb);
    memset(gtw, 0, sizeof(REAL) * Tg);
    memset(de, 0, sizeof(REAL) * E * U); /* dE/d e_new of the last block */
    for (int b = NB - 1; b >= 0; b--) {
        const SFX(block_w) *W = &W0->blk[b];
        SFX(block_save) *B = &bs[b];
        /* node update: v_out = v_in + scatter_dst(out_n); dv (wrt v_out) passes through */
        memcpy(dv2, dv, sizeof(REAL) * n * U); /* dv2 = dE/dv_in accumulator */
        /* dE/d(message of bond r) = dE/dv[dst r]; h is conv_backward's E x U work array */
        SFX(conv_backward)(&W->node, &B->cn, dv, g->dst, dv2, de, grbf, g, U, nb, t1, t2, h, dP);
        /* edge update: e_new = e_mid + out_e, so the conv's output gradient is de itself */
        SFX(conv_backward)(&W->edge, &B->ce, de, NULL, dv2, de, grbf, g, U, nb, t1, t2, h, dP);
        /* de is now dE/d e_mid; three-body: e_mid = e_in + silu(zb) sigm(zg) */
        for (long k = 0; k < E * U; k++) {
            t1[k] = de[k] * B->gv[k];
            t2[k] = de[k] * B->gg[k];
        }
        SFX(lin_back_set)(dnb, t1, W->Wb, E, nb, U, nb, nb, U);
        SFX(lin_back)(dnb, t2, W->Wg, E, nb, U, nb, nb, U);
        memset(datoms, 0, sizeof(REAL) * n * nb);
        for (long q = 0; q < T; q++) {
            const REAL *dn = dnb + tb1[q] * nb;
            long k = g->dst[tb2[q]];
            const REAL *at = B->atoms + k * nb, *bq = basis + q * nb;
            REAL *da = datoms + k * nb, *gb = gbasis + q * nb, w = tw[q], acc = 0;
            for (int c = 0; c < nb; c++) {
                gb[c] += dn[c] * at[c] * w;
                da[c] += dn[c] * bq[c] * w;
                acc += dn[c] * bq[c] * at[c];
            }
            gtw[q] += acc;
        }
        for (long k = 0; k < (long)n * nb; k++)
            datoms[k] *= B->atoms[k] * ((REAL)1 - B->atoms[k]);
        SFX(lin_back)(dv2, datoms, W->Wa, n, U, nb, U, U, nb);
        /* de stays dE/d e_in = dE/d e_new of the previous block */
        memcpy(dv, dv2, sizeof(REAL) * n * U);
    }
    /* edge embedding: e0 = silu(Ew rbf + Eb) */
    for (long k = 0; k < E * U; k++)
        de[k] *= SFX(dsilu)(ez[k]);
    SFX(lin_back)(grbf, de, W0->Ew, E, nb, U, nb, nb, U);
    for (long k = 0; k < E * nb; k++)
        gr->grbf[k] = (double)grbf[k];
    for (long k = 0; k < T * nb; k++)
        gr->gbasis[k] = (double)gbasis[k];
    for (long k = 0; k < T; k++)
        gr->gtw[k] = (double)gtw[k];
    return sum;
}
