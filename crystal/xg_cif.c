/* xg_cif.c: CIF 1.1 reader and writers (see xg_cif.h for what and why).
 *
 * Reading happens in two passes over one growable token array (no allocation per token):
 *   1. the tokenizer turns the text into tokens that point into the caller's buffer;
 *   2. each data block is scanned for the handful of tags xtalgen needs; a tag's values are
 *      remembered as a "column" (first token, stride, count), which is the same for a scalar
 *      item (count 1) and for a loop column (stride = number of tags in the loop). */
#include "crystal/xg_cif.h"
#include "crystal/xg_alloc.h"
#include "crystal/xg_fileio.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystal/xg_elements.h"
#include "crystal/xg_lattice.h"
#include "crystal/xg_spacegroup.h"

/* ------------------------------------------------------------------------------------------ */
/* Tokenizer                                                                                    */

enum { TK_VALUE, TK_TAG, TK_LOOP, TK_DATA, TK_GLOBAL, TK_SAVE, TK_STOP };

typedef struct {
    size_t off, len;     /* into the text; for TK_DATA the block name after "data_" */
    int line;
    unsigned char kind;
    unsigned char quoted; /* quoted or text field: '?' and '.' are then ordinary strings */
} cif_tok;

typedef struct {
    cif_tok *v;
    size_t n, cap;
} cif_toks;

static const char *cif_name(const char *name) { return name && name[0] ? name : "<cif>"; }

static int toks_push(cif_toks *t, size_t off, size_t len, int line, int kind, int quoted,
                     const char *name, xg_error *err)
{
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        cif_tok *nv = xg_realloc(t->v, ncap * sizeof *nv);
        if (!nv)
            return xg_error_set(err, XG_ENOMEM, "%s:%d: out of memory (%zu tokens)",
                                cif_name(name), line, t->n);
        t->v = nv;
        t->cap = ncap;
    }
    cif_tok *k = &t->v[t->n++];
    k->off = off;
    k->len = len;
    k->line = line;
    k->kind = (unsigned char)kind;
    k->quoted = (unsigned char)quoted;
    return XG_OK;
}

/* CIF whitespace. Other control bytes count as token characters, so binary garbage becomes
 * odd tokens that fail later with a message rather than something the tokenizer trips over. */
static int cif_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int ci_prefix(const char *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (tolower((unsigned char)s[i]) != p[i])
            return 0;
    return 1;
}

static int cif_tokenize(const char *t, size_t len, const char *name, cif_toks *out,
                        xg_error *err)
{
    size_t i = 0;
    int line = 1;
    while (i < len) {
        char c = t[i];
        if (c == '\n') {
            line++;
            i++;
            continue;
        }
        if (c == '\r') {
            line++;
            i += (i + 1 < len && t[i + 1] == '\n') ? 2 : 1;
            continue;
        }
        if (c == ' ' || c == '\t') {
            i++;
            continue;
        }
        if (c == '#') {
            while (i < len && t[i] != '\n' && t[i] != '\r')
                i++;
            continue;
        }
        int at_line_start = (i == 0 || t[i - 1] == '\n' || t[i - 1] == '\r');
        if (c == ';' && at_line_start) {
            /* Text field: runs to the next line that starts with ';'. The value excludes the
             * opening ';' and the line break before the closing one. */
            int start_line = line;
            size_t s = i + 1, j = i + 1;
            for (;;) {
                while (j < len && t[j] != '\n' && t[j] != '\r')
                    j++;
                if (j >= len)
                    return xg_error_set(err, XG_EPARSE,
                                        "%s:%d: unterminated semicolon text field (no closing "
                                        "';' at the start of a line)",
                                        cif_name(name), start_line);
                size_t nl = j;
                j += (t[j] == '\r' && j + 1 < len && t[j + 1] == '\n') ? 2 : 1;
                line++;
                if (j < len && t[j] == ';') {
                    int rc = toks_push(out, s, nl - s, start_line, TK_VALUE, 1, name, err);
                    if (rc)
                        return rc;
                    i = j + 1;
                    break;
                }
            }
            continue;
        }
        if (c == '\'' || c == '"') {
            /* A quote closes the string only when followed by whitespace or the end. */
            size_t j = i + 1;
            for (;;) {
                if (j >= len || t[j] == '\n' || t[j] == '\r')
                    return xg_error_set(err, XG_EPARSE,
                                        "%s:%d: unterminated %s-quoted string",
                                        cif_name(name), line, c == '"' ? "double" : "single");
                if (t[j] == c && (j + 1 >= len || cif_space(t[j + 1])))
                    break;
                j++;
            }
            int rc = toks_push(out, i + 1, j - i - 1, line, TK_VALUE, 1, name, err);
            if (rc)
                return rc;
            i = j + 1;
            continue;
        }
        size_t j = i;
        while (j < len && !cif_space(t[j]))
            j++;
        const char *w = t + i;
        size_t n = j - i;
        int kind = TK_VALUE;
        size_t off = i, tl = n;
        if (c == '_') {
            kind = TK_TAG;
        } else if (ci_prefix(w, n, "data_")) {
            kind = TK_DATA;
            off = i + 5;
            tl = n - 5;
        } else if (n == 5 && ci_prefix(w, n, "loop_")) {
            kind = TK_LOOP;
        } else if (n == 7 && ci_prefix(w, n, "global_")) {
            kind = TK_GLOBAL;
        } else if (ci_prefix(w, n, "save_")) {
            kind = TK_SAVE;
        } else if (n == 5 && ci_prefix(w, n, "stop_")) {
            kind = TK_STOP;
        }
        int rc = toks_push(out, off, tl, line, kind, 0, name, err);
        if (rc)
            return rc;
        i = j;
    }
    return XG_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The tags xtalgen reads                                                                       */

enum {
    T_CELL_A, T_CELL_B, T_CELL_C, T_CELL_ALPHA, T_CELL_BETA, T_CELL_GAMMA,
    T_SYMOP_OLD, T_SYMOP_NEW,
    T_TYPE, T_LABEL, T_FX, T_FY, T_FZ, T_CX, T_CY, T_CZ, T_OCC,
    T_SG_HM, T_SG_HM_ALT, T_SG_HALL, T_SG_HALL_OLD, T_SG_NUM, T_SG_NUM_OLD,
    T_NTAGS
};

static const char *const k_tags[T_NTAGS] = {
    "_cell_length_a", "_cell_length_b", "_cell_length_c",
    "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma",
    "_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz",
    "_atom_site_type_symbol", "_atom_site_label",
    "_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z",
    "_atom_site_Cartn_x", "_atom_site_Cartn_y", "_atom_site_Cartn_z",
    "_atom_site_occupancy",
    "_symmetry_space_group_name_H-M", "_space_group_name_H-M_alt",
    "_space_group_name_Hall", "_symmetry_space_group_name_Hall",
    "_space_group_IT_number", "_symmetry_Int_Tables_number",
};

/* Tag names are case-insensitive; DDL2 writes the category separator as '.'. */
static int tag_match(const char *s, size_t n, const char *tag)
{
    size_t k = strlen(tag);
    if (n != k)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = (char)tolower((unsigned char)s[i]);
        if (c == '.')
            c = '_';
        if (c != tolower((unsigned char)tag[i]))
            return 0;
    }
    return 1;
}

static int tag_lookup(const char *s, size_t n)
{
    /* Cheap filter first: every known tag starts "_cell", "_symm", "_spac" or "_atom". */
    if (n < 10)
        return -1;
    for (int k = 0; k < T_NTAGS; k++)
        if (tag_match(s, n, k_tags[k]))
            return k;
    return -1;
}

typedef struct {
    int present;
    size_t first; /* token index of the first value */
    size_t stride;
    size_t count;
    int loop;     /* loop number in the block, -1 for a scalar item */
    int line;     /* line of the tag */
} cif_col;

typedef struct {
    size_t name_tok;     /* index of the data_ token */
    cif_col col[T_NTAGS];
} cif_block;

/* '?' (unknown) or '.' (inapplicable), unquoted. */
static int tok_missing(const char *text, const cif_tok *k)
{
    return !k->quoted && k->len == 1 && (text[k->off] == '?' || text[k->off] == '.');
}

/* A CIF number: optional sign, digits with an optional point, optional exponent, optional
 * standard uncertainty in parentheses ("5.431(2)"). NaN, inf and hex floats are rejected, so
 * strtod only ever sees what CIF allows. Returns 1 and *v on success. */
static int cif_number(const char *s, size_t n, double *v)
{
    char buf[128];
    size_t e = n;
    if (n > 0 && s[n - 1] == ')') {
        size_t p = n - 1;
        while (p > 0 && s[p - 1] != '(')
            p--;
        if (p == 0)
            return 0;
        for (size_t q = p; q < n - 1; q++)
            if (!isdigit((unsigned char)s[q]))
                return 0;
        e = p - 1;
    }
    if (e == 0 || e >= sizeof buf)
        return 0;
    int digits = 0;
    for (size_t q = 0; q < e; q++) {
        char c = s[q];
        if (isdigit((unsigned char)c))
            digits = 1;
        else if (c != '+' && c != '-' && c != '.' && c != 'e' && c != 'E')
            return 0;
    }
    if (!digits)
        return 0;
    memcpy(buf, s, e);
    buf[e] = '\0';
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    if (*end != '\0' || !isfinite(x) || errno == ERANGE)
        return 0;
    *v = x;
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Block scanning                                                                               */

static int record_tag(cif_block *b, int tag, size_t first, size_t stride, size_t count, int loop,
                      int line, const char *text, const cif_tok *k, const char *name,
                      xg_error *err)
{
    cif_col *c = &b->col[tag];
    if (c->present)
        return xg_error_set(err, XG_EPARSE, "%s:%d: duplicate tag %.*s (first on line %d)",
                            cif_name(name), line, (int)(k->len > 80 ? 80 : k->len),
                            text + k->off, c->line);
    c->present = 1;
    c->first = first;
    c->stride = stride;
    c->count = count;
    c->loop = loop;
    c->line = line;
    return XG_OK;
}

/* Scans tokens from *pos (just after a data_ token) to the next data_ token or the end. */
static int scan_block(const char *text, const cif_toks *tv, size_t *pos, const char *name,
                      cif_block *b, xg_error *err)
{
    size_t i = *pos, n = tv->n;
    int nloops = 0;
    while (i < n) {
        const cif_tok *k = &tv->v[i];
        switch (k->kind) {
        case TK_DATA:
            *pos = i;
            return XG_OK;
        case TK_TAG: {
            if (i + 1 >= n || tv->v[i + 1].kind != TK_VALUE)
                return xg_error_set(err, XG_EPARSE, "%s:%d: tag %.*s has no value",
                                    cif_name(name), k->line, (int)(k->len > 80 ? 80 : k->len),
                                    text + k->off);
            int tag = tag_lookup(text + k->off, k->len);
            if (tag >= 0) {
                int rc = record_tag(b, tag, i + 1, 1, 1, -1, k->line, text, k, name, err);
                if (rc)
                    return rc;
            }
            i += 2;
            break;
        }
        case TK_LOOP: {
            int loop_line = k->line;
            size_t t0 = ++i;
            while (i < n && tv->v[i].kind == TK_TAG)
                i++;
            size_t ntags = i - t0;
            if (ntags == 0)
                return xg_error_set(err, XG_EPARSE, "%s:%d: loop_ without tags", cif_name(name),
                                    loop_line);
            size_t v0 = i;
            while (i < n && tv->v[i].kind == TK_VALUE)
                i++;
            size_t nvals = i - v0;
            if (nvals == 0)
                return xg_error_set(err, XG_EPARSE, "%s:%d: loop_ has %zu tags but no values",
                                    cif_name(name), loop_line, ntags);
            if (nvals % ntags != 0)
                return xg_error_set(err, XG_EPARSE,
                                    "%s:%d: loop_ has %zu tags but row %zu has %zu values",
                                    cif_name(name), tv->v[i - 1].line, ntags, nvals / ntags + 1,
                                    nvals % ntags);
            for (size_t c = 0; c < ntags; c++) {
                const cif_tok *tk = &tv->v[t0 + c];
                int tag = tag_lookup(text + tk->off, tk->len);
                if (tag < 0)
                    continue;
                int rc = record_tag(b, tag, v0 + c, ntags, nvals / ntags, nloops, tk->line, text,
                                    tk, name, err);
                if (rc)
                    return rc;
            }
            nloops++;
            break;
        }
        case TK_VALUE:
            return xg_error_set(err, XG_EPARSE, "%s:%d: value '%.*s' without a tag",
                                cif_name(name), k->line, (int)(k->len > 40 ? 40 : k->len),
                                text + k->off);
        case TK_GLOBAL:
            return xg_error_set(err, XG_EPARSE,
                                "%s:%d: global_ blocks are STAR, not CIF 1.1; not supported",
                                cif_name(name), k->line);
        case TK_SAVE:
            return xg_error_set(err, XG_EPARSE,
                                "%s:%d: save_ frames belong in CIF dictionaries, not in data "
                                "files; not supported",
                                cif_name(name), k->line);
        default:
            return xg_error_set(err, XG_EPARSE, "%s:%d: stop_ is not allowed in CIF 1.1",
                                cif_name(name), k->line);
        }
    }
    *pos = i;
    return XG_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Symmetry operations                                                                          */

/* The value of a translation term N or N/D (digit strings, N may carry one '.') split into an
 * integer part and a fraction in [0, 1), exactly: "123456789012345678.5" is 0.5 past an
 * integer, which a double holding the whole number (1.2345678901234568e17) cannot say.
 * Integer parts up to 2^30 are kept (the reader's translations are not wrapped); larger ones
 * are dropped, a whole lattice translation, since x + k is the same position for integer k. */
#define XG_SYMOP_KEEP_INT 1073741824.0
static int translation_term(const char *ns, size_t nl, const char *ds, size_t dl, double *v,
                            xg_error *err)
{
    const char *dot = memchr(ns, '.', nl);
    if (!ds) {
        size_t il = dot ? (size_t)(dot - ns) : nl;
        double q = 0;
        for (size_t k = 0; k < il; k++)
            q = q * 10 + (ns[k] - '0');
        if (q > XG_SYMOP_KEEP_INT)
            q = 0; /* reduced mod 1: only the fraction matters */
        double f = 0;
        if (dot) {
            char buf[64] = "0.";
            size_t fl = nl - il - 1;
            if (fl > 40)
                fl = 40; /* beyond double precision anyway */
            memcpy(buf + 2, dot + 1, fl);
            buf[2 + fl] = '\0';
            if (memchr(buf + 2, '.', fl))
                return xg_error_set(err, XG_EPARSE, "bad number '%.*s'", (int)nl, ns);
            f = strtod(buf, NULL);
        }
        *v = q + f;
        return XG_OK;
    }
    if (dot || memchr(ds, '.', dl)) { /* a decimal fraction ("0.5/2"): only when small */
        double a, b;
        if (nl > 15 || dl > 15 || !cif_number(ns, nl, &a) || !cif_number(ds, dl, &b) || b == 0)
            return xg_error_set(err, XG_EPARSE, "translation '%.*s/%.*s' cannot be reduced "
                                "exactly", (int)nl, ns, (int)dl, ds);
        *v = a / b;
        return XG_OK;
    }
    if (dl > 15)
        return xg_error_set(err, XG_EPARSE, "denominator '%.*s' too large", (int)dl, ds);
    uint64_t d = 0;
    for (size_t k = 0; k < dl; k++)
        d = d * 10 + (uint64_t)(ds[k] - '0');
    if (d == 0)
        return xg_error_set(err, XG_EPARSE, "bad fraction denominator");
    uint64_t r = 0; /* N mod d, digit by digit: exact for any length of N */
    double q = 0;
    for (size_t k = 0; k < nl; k++) {
        uint64_t x = r * 10 + (uint64_t)(ns[k] - '0'); /* < 1e16 * 10: fits in 64 bits */
        q = q * 10 + (double)(x / d);
        r = x % d;
    }
    if (q > XG_SYMOP_KEEP_INT)
        q = 0;
    *v = q + (double)r / (double)d;
    return XG_OK;
}

static int symop_component(const char *s, size_t n, int row[3], double *t, xg_error *err)
{
    size_t i = 0;
    int nterms = 0;
    row[0] = row[1] = row[2] = 0;
    *t = 0.0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n)
            break;
        double sign = 1.0;
        if (s[i] == '+' || s[i] == '-') {
            sign = s[i] == '-' ? -1.0 : 1.0;
            i++;
            while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
        } else if (nterms > 0) {
            return xg_error_set(err, XG_EPARSE, "expected '+' or '-' between terms");
        }
        double num = 1.0, tv = 0.0;
        int have_num = 0;
        if (i < n && (isdigit((unsigned char)s[i]) || s[i] == '.')) {
            size_t j = i;
            while (j < n && (isdigit((unsigned char)s[j]) || s[j] == '.'))
                j++;
            const char *ns = s + i, *dstr = NULL;
            size_t nl = j - i, dl = 0;
            if (!cif_number(s + i, j - i, &num))
                return xg_error_set(err, XG_EPARSE, "bad number '%.*s'", (int)(j - i), s + i);
            i = j;
            have_num = 1;
            while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
            if (i < n && s[i] == '/') {
                i++;
                while (i < n && (s[i] == ' ' || s[i] == '\t'))
                    i++;
                j = i;
                while (j < n && (isdigit((unsigned char)s[j]) || s[j] == '.'))
                    j++;
                double den;
                if (j == i || !cif_number(s + i, j - i, &den) || den == 0.0)
                    return xg_error_set(err, XG_EPARSE, "bad fraction denominator");
                num /= den;
                dstr = s + i;
                dl = j - i;
                i = j;
            }
            int rc = translation_term(ns, nl, dstr, dl, &tv, err);
            if (rc)
                return rc;
            while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
            if (i < n && s[i] == '*') {
                i++;
                while (i < n && (s[i] == ' ' || s[i] == '\t'))
                    i++;
                if (i >= n || !strchr("xyzXYZ", s[i]))
                    return xg_error_set(err, XG_EPARSE, "expected x, y or z after '*'");
            }
        }
        if (i < n && s[i] != '\0' && strchr("xyzXYZ", s[i])) {
            int axis = tolower((unsigned char)s[i]) - 'x';
            double coef = sign * num;
            if (coef != rint(coef) || fabs(coef) > 2.0)
                return xg_error_set(err, XG_EPARSE, "coefficient %g of %c is not -2..2", coef,
                                    'x' + axis);
            row[axis] += (int)coef;
            i++;
        } else if (have_num) {
            *t += sign * tv;
        } else if (i >= n) {
            return xg_error_set(err, XG_EPARSE, "sign without a term");
        } else {
            return xg_error_set(err, XG_EPARSE, "unexpected character '%c'",
                                isprint((unsigned char)s[i]) ? s[i] : '?');
        }
        nterms++;
    }
    if (nterms == 0)
        return xg_error_set(err, XG_EPARSE, "empty component");
    return XG_OK;
}

int xg_cif_parse_symop(const char *text, size_t len, int rot[3][3], double trans[3],
                       xg_error *err)
{
    size_t start = 0;
    int comp = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != ',')
            continue;
        if (comp >= 3)
            return xg_error_set(err, XG_EPARSE, "symmetry operation '%.*s' has more than 3 "
                                "components", (int)(len > 60 ? 60 : len), text);
        int rc = symop_component(text + start, i - start, rot[comp], &trans[comp], err);
        if (rc) {
            xg_error_prefix(err, rc, "symmetry operation '%.*s' component %d",
                            (int)(len > 60 ? 60 : len), text, comp + 1);
            return rc;
        }
        comp++;
        start = i + 1;
    }
    if (comp != 3)
        return xg_error_set(err, XG_EPARSE, "symmetry operation '%.*s' has %d components, not 3",
                            (int)(len > 60 ? 60 : len), text, comp);
    long det = (long)rot[0][0] * (rot[1][1] * rot[2][2] - rot[1][2] * rot[2][1]) -
               (long)rot[0][1] * (rot[1][0] * rot[2][2] - rot[1][2] * rot[2][0]) +
               (long)rot[0][2] * (rot[1][0] * rot[2][1] - rot[1][1] * rot[2][0]);
    if (det != 1 && det != -1)
        return xg_error_set(err, XG_EPARSE, "symmetry operation '%.*s' has determinant %ld, "
                            "not +-1", (int)(len > 60 ? 60 : len), text, det);
    return XG_OK;
}

static void append_str(char *buf, size_t n, size_t *pos, const char *s)
{
    size_t k = strlen(s);
    if (*pos + k < n)
        memcpy(buf + *pos, s, k + 1);
    *pos += k;
}

int xg_cif_format_symop(const int rot[3][3], const double trans[3], char *buf, size_t n)
{
    size_t pos = 0;
    if (n == 0)
        return XG_EINVAL;
    buf[0] = '\0';
    for (int r = 0; r < 3; r++) {
        if (r > 0)
            append_str(buf, n, &pos, ", ");
        int any = 0;
        char tmp[64];
        for (int c = 0; c < 3; c++) {
            int k = rot[r][c];
            if (k == 0)
                continue;
            const char *sgn = k < 0 ? "-" : (any ? "+" : "");
            if (abs(k) == 1)
                snprintf(tmp, sizeof tmp, "%s%c", sgn, 'x' + c);
            else
                snprintf(tmp, sizeof tmp, "%s%d%c", sgn, abs(k), 'x' + c);
            append_str(buf, n, &pos, tmp);
            any = 1;
        }
        double t = trans[r];
        if (fabs(t) > 1e-9 || !any) {
            const char *sgn = t < 0 ? "-" : (any ? "+" : "");
            double a = fabs(t);
            int done = 0;
            static const int dens[] = {2, 3, 4, 6, 8, 12};
            for (int d = 0; d < 6 && !done; d++) {
                double num = a * dens[d];
                if (fabs(num - rint(num)) < 1e-6 && rint(num) != 0) {
                    long p = (long)rint(num), q = dens[d];
                    long g = p, h = q;
                    while (h) {
                        long tt = g % h;
                        g = h;
                        h = tt;
                    }
                    if (q / g == 1)
                        snprintf(tmp, sizeof tmp, "%s%ld", sgn, p / g);
                    else
                        snprintf(tmp, sizeof tmp, "%s%ld/%ld", sgn, p / g, q / g);
                    done = 1;
                }
            }
            if (!done) {
                if (a < 1e-9)
                    snprintf(tmp, sizeof tmp, "0");
                else
                    snprintf(tmp, sizeof tmp, "%s%.6g", sgn, a);
            }
            append_str(buf, n, &pos, tmp);
        }
    }
    return pos < n ? XG_OK : XG_EINVAL;
}

/* ------------------------------------------------------------------------------------------ */
/* Building a structure from a block                                                            */

typedef struct {
    int z;
    double f[3];
    double occ;
    int row;      /* first site (loop row) that put an atom here */
    int last_row; /* last site that added occupancy, so images of one site count once */
} cif_atom;

typedef struct {
    cif_atom *a;
    int n, cap;
    /* cell list over the fractional cube, each bin one merge radius wide, so a bin holds a
     * bounded number of atoms however the input clusters them; bins are hashed into nhead
     * chains (a power of two ~ the number of atoms) instead of allocating g0*g1*g2 heads */
    int g[3];
    size_t nhead;
    int *head;
    int *next; /* cap */
    double L[3][3];
} cif_sites;

static int col_tok(const cif_col *c, size_t row, size_t *out)
{
    if (!c->present || row >= c->count)
        return 0;
    *out = c->first + row * c->stride;
    return 1;
}

static double wrap01(double x)
{
    double w = x - floor(x);
    return w >= 1.0 ? 0.0 : w;
}

static int bin_of(const cif_sites *S, const double f[3], int axis)
{
    int b = (int)(f[axis] * S->g[axis]);
    if (b < 0)
        b = 0;
    if (b >= S->g[axis])
        b = S->g[axis] - 1;
    return b;
}

static size_t bin_hash(const cif_sites *S, int i0, int i1, int i2)
{
    uint64_t h = (uint64_t)(uint32_t)i0 * 0x9E3779B97F4A7C15ULL;
    h ^= (uint64_t)(uint32_t)i1 * 0xC2B2AE3D27D4EB4FULL;
    h ^= (uint64_t)(uint32_t)i2 * 0x165667B19E3779F9ULL;
    h ^= h >> 29;
    return (size_t)(h & (S->nhead - 1));
}

/* Coincident: within 0.01 Angstrom, or within 1e-3 in every fractional coordinate (coordinates
 * rounded to 3-4 decimals in the file) as long as that is still well below a bond (0.5 A). */
static int coincide(const cif_sites *S, const double f1[3], const double f2[3])
{
    double d[3], c[3] = {0, 0, 0}, dmax = 0;
    for (int k = 0; k < 3; k++) {
        d[k] = f1[k] - f2[k];
        d[k] -= rint(d[k]);
        if (fabs(d[k]) > dmax)
            dmax = fabs(d[k]);
    }
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 3; j++)
            c[j] += d[k] * S->L[k][j];
    double dist = sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
    return dist < 0.01 || (dmax < 1e-3 && dist < 0.5);
}

static int sites_find(const cif_sites *S, const double f[3])
{
    int b[3], lo[3], hi[3];
    for (int k = 0; k < 3; k++) {
        b[k] = bin_of(S, f, k);
        if (S->g[k] >= 3) {
            lo[k] = b[k] - 1;
            hi[k] = b[k] + 1;
        } else {
            lo[k] = 0;
            hi[k] = S->g[k] - 1;
        }
    }
    for (int i0 = lo[0]; i0 <= hi[0]; i0++)
        for (int i1 = lo[1]; i1 <= hi[1]; i1++)
            for (int i2 = lo[2]; i2 <= hi[2]; i2++) {
                int j0 = (i0 + S->g[0]) % S->g[0], j1 = (i1 + S->g[1]) % S->g[1],
                    j2 = (i2 + S->g[2]) % S->g[2];
                for (int a = S->head[bin_hash(S, j0, j1, j2)]; a >= 0; a = S->next[a])
                    if (coincide(S, f, S->a[a].f))
                        return a;
            }
    return -1;
}

/* The atom of element z at position f, or -1; *other is set to any atom there (of any element)
 * or -1. A disordered site holds one atom per element at one position. */
static int sites_find_z(const cif_sites *S, const double f[3], int z, int *other)
{
    *other = -1;
    int b[3], lo[3], hi[3];
    for (int k = 0; k < 3; k++) {
        b[k] = bin_of(S, f, k);
        lo[k] = S->g[k] >= 3 ? b[k] - 1 : 0;
        hi[k] = S->g[k] >= 3 ? b[k] + 1 : S->g[k] - 1;
    }
    for (int i0 = lo[0]; i0 <= hi[0]; i0++)
        for (int i1 = lo[1]; i1 <= hi[1]; i1++)
            for (int i2 = lo[2]; i2 <= hi[2]; i2++) {
                int j0 = (i0 + S->g[0]) % S->g[0], j1 = (i1 + S->g[1]) % S->g[1],
                    j2 = (i2 + S->g[2]) % S->g[2];
                for (int a = S->head[bin_hash(S, j0, j1, j2)]; a >= 0; a = S->next[a])
                    if (coincide(S, f, S->a[a].f)) {
                        if (S->a[a].z == z)
                            return a;
                        *other = a;
                    }
            }
    return -1;
}

/* Sum of the occupancies of every atom at the position of atom i (i included). */
static double sites_total_occ(const cif_sites *S, int i)
{
    const double *f = S->a[i].f;
    int b[3], lo[3], hi[3];
    for (int k = 0; k < 3; k++) {
        b[k] = bin_of(S, f, k);
        lo[k] = S->g[k] >= 3 ? b[k] - 1 : 0;
        hi[k] = S->g[k] >= 3 ? b[k] + 1 : S->g[k] - 1;
    }
    /* neighbouring bins may share a hash chain: visit each chain once, or atoms count twice */
    size_t seen[27];
    int ns = 0;
    double t = 0;
    for (int i0 = lo[0]; i0 <= hi[0]; i0++)
        for (int i1 = lo[1]; i1 <= hi[1]; i1++)
            for (int i2 = lo[2]; i2 <= hi[2]; i2++) {
                int j0 = (i0 + S->g[0]) % S->g[0], j1 = (i1 + S->g[1]) % S->g[1],
                    j2 = (i2 + S->g[2]) % S->g[2];
                size_t h = bin_hash(S, j0, j1, j2);
                int dup = 0;
                for (int q = 0; q < ns; q++)
                    dup |= seen[q] == h;
                if (dup)
                    continue;
                seen[ns++] = h;
                for (int a = S->head[h]; a >= 0; a = S->next[a])
                    if (coincide(S, f, S->a[a].f))
                        t += S->a[a].occ;
            }
    return t;
}

static int sites_add(cif_sites *S, int z, const double f[3], double occ, int row)
{
    if (S->n == S->cap) {
        int ncap = S->cap ? S->cap * 2 : 64;
        cif_atom *na = xg_realloc(S->a, (size_t)ncap * sizeof *na);
        if (!na)
            return XG_ENOMEM;
        S->a = na;
        int *nn = xg_realloc(S->next, (size_t)ncap * sizeof *nn);
        if (!nn)
            return XG_ENOMEM;
        S->next = nn;
        S->cap = ncap;
    }
    cif_atom *a = &S->a[S->n];
    a->z = z;
    memcpy(a->f, f, sizeof a->f);
    a->occ = occ;
    a->row = row;
    a->last_row = row;
    size_t h = bin_hash(S, bin_of(S, f, 0), bin_of(S, f, 1), bin_of(S, f, 2));
    S->next[S->n] = S->head[h];
    S->head[h] = S->n;
    S->n++;
    return XG_OK;
}

/* A site's name for messages: its label, else its type and row number. */
static void site_name(const char *text, const cif_toks *tv, const cif_block *b, size_t row,
                      char *buf, size_t n)
{
    size_t ti;
    if (col_tok(&b->col[T_LABEL], row, &ti) && tv->v[ti].len > 0 && tv->v[ti].len < 40 &&
        !tok_missing(text, &tv->v[ti])) {
        snprintf(buf, n, "%.*s", (int)tv->v[ti].len, text + tv->v[ti].off);
        for (char *p = buf; *p; p++)
            if (!isprint((unsigned char)*p))
                *p = '?';
    } else {
        snprintf(buf, n, "#%zu", row + 1);
    }
}

/* The element of a type symbol ("Fe", "Fe3+", "O2-") or a label ("Fe1", "O2a"). SHELX-style
 * upper-case names read as the two-letter element when there is one ("CL1" is Cl, not C).
 * A type symbol (strict) may only carry digits and a charge after the element: "Fex" is no
 * element rather than a silent Fe. */
static int cif_element(const char *sym, int strict)
{
    const char *end;
    int z = xg_element_parse_prefix(sym, &end);
    if (z && end == sym + 1 && isupper((unsigned char)sym[1])) {
        char two[3] = {(char)toupper((unsigned char)sym[0]), (char)tolower((unsigned char)sym[1]),
                       0};
        int z2 = xg_element_from_symbol(two);
        if (z2) {
            z = z2;
            end = sym + 2;
        }
    }
    if (strict && z && *end && !isdigit((unsigned char)*end) && *end != '+' && *end != '-')
        return 0;
    return z;
}

static int block_number(const char *text, const cif_toks *tv, const cif_col *c, size_t row,
                        const char *what, const char *name, double *v, xg_error *err)
{
    size_t ti;
    if (!col_tok(c, row, &ti))
        return xg_error_set(err, XG_EPARSE, "%s: missing %s", cif_name(name), what);
    const cif_tok *k = &tv->v[ti];
    if (tok_missing(text, k))
        return xg_error_set(err, XG_EPARSE, "%s:%d: %s is unknown ('%c')", cif_name(name),
                            k->line, what, text[k->off]);
    if (!cif_number(text + k->off, k->len, v))
        return xg_error_set(err, XG_EPARSE, "%s:%d: %s: '%.*s' is not a finite number",
                            cif_name(name), k->line, what, (int)(k->len > 40 ? 40 : k->len),
                            text + k->off);
    return XG_OK;
}

/* The space group a block names without listing operations: its Hall number in *hall (0 when
 * the block names none). Tried in pymatgen's order: Hermann-Mauguin symbols, Hall symbols,
 * then the International Tables number. A group that is named but matches nothing is an error:
 * reading the sites as P1 would silently give the asymmetric unit, not the crystal. */
static int block_spacegroup(const char *text, const cif_toks *tv, const cif_block *b,
                            const char *nm, int *hall, xg_error *err)
{
    static const int tags[] = {T_SG_HM, T_SG_HM_ALT, T_SG_HALL, T_SG_HALL_OLD, T_SG_NUM,
                               T_SG_NUM_OLD};
    *hall = 0;
    const cif_tok *named = NULL;
    for (size_t k = 0; k < sizeof tags / sizeof *tags && !*hall; k++) {
        size_t ti;
        if (!col_tok(&b->col[tags[k]], 0, &ti) || tok_missing(text, &tv->v[ti]))
            continue;
        const cif_tok *t = &tv->v[ti];
        const char *v = text + t->off;
        if (!named)
            named = t;
        if (tags[k] == T_SG_HM || tags[k] == T_SG_HM_ALT) {
            *hall = xg_spacegroup_hall_from_hm(v, t->len);
        } else if (tags[k] == T_SG_HALL || tags[k] == T_SG_HALL_OLD) {
            *hall = xg_spacegroup_hall_from_hall_symbol(v, t->len);
        } else {
            double x;
            if (cif_number(v, t->len, &x) && x == rint(x) && x >= 1 && x <= 230)
                *hall = xg_spacegroup_hall_from_number((int)x);
        }
    }
    if (named && !*hall)
        return xg_error_set(err, XG_EUNSUPPORTED, "%s:%d: space group '%.*s' is not one xtalgen "
                            "knows and the block lists no symmetry operations (add "
                            "_space_group_symop_operation_xyz)", nm, named->line,
                            (int)(named->len > 40 ? 40 : named->len), text + named->off);
    return XG_OK;
}

static int build_structure(const char *text, const cif_toks *tv, const cif_block *b,
                           const char *name, int disorder, xg_structure **out, xg_error *err)
{
    const cif_tok *bt = &tv->v[b->name_tok];
    int bline = bt->line;
    const char *nm = cif_name(name);
    static const char *const cell_what[6] = {"_cell_length_a", "_cell_length_b",
                                             "_cell_length_c", "_cell_angle_alpha",
                                             "_cell_angle_beta", "_cell_angle_gamma"};
    double p[6];
    for (int k = 0; k < 6; k++) {
        const cif_col *c = &b->col[T_CELL_A + k];
        if (!c->present)
            return xg_error_set(err, XG_EPARSE, "%s:%d: data_%.*s: missing %s", nm, bline,
                                (int)(bt->len > 60 ? 60 : bt->len), text + bt->off,
                                cell_what[k]);
        if (c->count != 1)
            return xg_error_set(err, XG_EPARSE, "%s:%d: %s has %zu values, expected one", nm,
                                c->line, cell_what[k], c->count);
        int rc = block_number(text, tv, c, 0, cell_what[k], name, &p[k], err);
        if (rc)
            return rc;
        if (k < 3 && !(p[k] > 0 && p[k] < 1e5))
            return xg_error_set(err, XG_EPARSE, "%s:%d: %s = %g is not a length in (0, 1e5) A",
                                nm, tv->v[c->first].line, cell_what[k], p[k]);
        if (k >= 3 && !(p[k] > 0 && p[k] < 180))
            return xg_error_set(err, XG_EPARSE, "%s:%d: %s = %g is not an angle in (0, 180)",
                                nm, tv->v[c->first].line, cell_what[k], p[k]);
    }
    double L[3][3], Linv[3][3];
    int rc = xg_lattice_from_params(p[0], p[1], p[2], p[3], p[4], p[5], L, NULL);
    if (!rc)
        rc = xg_lattice_inverse(L, Linv, NULL);
    if (rc)
        return xg_error_set(err, XG_EPARSE, "%s:%d: data_%.*s: the cell has zero volume "
                            "(angles %g %g %g cannot close a cell)", nm, bline,
                            (int)(bt->len > 60 ? 60 : bt->len), text + bt->off, p[3], p[4],
                            p[5]);

    /* Atom sites: fractional or Cartesian columns, all in one loop. */
    int frac = b->col[T_FX].present || b->col[T_FY].present || b->col[T_FZ].present;
    int cartn = b->col[T_CX].present || b->col[T_CY].present || b->col[T_CZ].present;
    int t0 = frac ? T_FX : T_CX;
    if (!frac && !cartn)
        return xg_error_set(err, XG_EPARSE, "%s:%d: data_%.*s has no atom sites (no "
                            "_atom_site_fract_x/y/z or _atom_site_Cartn_x/y/z)", nm, bline,
                            (int)(bt->len > 60 ? 60 : bt->len), text + bt->off);
    for (int k = 0; k < 3; k++)
        if (!b->col[t0 + k].present)
            return xg_error_set(err, XG_EPARSE, "%s:%d: data_%.*s: missing %s", nm, bline,
                                (int)(bt->len > 60 ? 60 : bt->len), text + bt->off,
                                k_tags[t0 + k]);
    const cif_col *ctype = b->col[T_TYPE].present ? &b->col[T_TYPE] : &b->col[T_LABEL];
    if (!ctype->present)
        return xg_error_set(err, XG_EPARSE, "%s:%d: data_%.*s: no _atom_site_type_symbol or "
                            "_atom_site_label to give the elements", nm, bline,
                            (int)(bt->len > 60 ? 60 : bt->len), text + bt->off);
    size_t nrows = b->col[t0].count;
    const int site_cols[] = {t0, t0 + 1, t0 + 2, T_TYPE, T_LABEL, T_OCC};
    for (int k = 0; k < 6; k++) {
        const cif_col *c = &b->col[site_cols[k]];
        if (c->present && (c->loop != b->col[t0].loop || c->count != nrows))
            return xg_error_set(err, XG_EPARSE, "%s:%d: %s is not in the same loop as %s", nm,
                                c->line, k_tags[site_cols[k]], k_tags[t0]);
    }

    /* Symmetry operations: listed, else those of the space group the block names (a symbol
     * or a number, from spglib's database), else P1. */
    int nops = 1;
    int (*rot)[3][3] = NULL;
    double (*tr)[3] = NULL;
    const cif_col *cs = b->col[T_SYMOP_NEW].present ? &b->col[T_SYMOP_NEW] : &b->col[T_SYMOP_OLD];
    int hall = 0;
    int sg_rot[XG_SPACEGROUP_MAX_OPS][3][3];
    double sg_tr[XG_SPACEGROUP_MAX_OPS][3];
    if (cs->present) {
        if (cs->count > XG_CIF_MAX_SYMOPS)
            return xg_error_set(err, XG_EPARSE, "%s:%d: %zu symmetry operations (more than %d)",
                                nm, cs->line, cs->count, XG_CIF_MAX_SYMOPS);
        nops = (int)cs->count;
    } else {
        rc = block_spacegroup(text, tv, b, nm, &hall, err);
        if (rc)
            return rc;
        if (hall)
            nops = xg_spacegroup_operations(hall, sg_rot, sg_tr);
        if (hall && nops < 1)
            return xg_error_set(err, XG_ELIB, "%s:%d: spglib has no operations for Hall number %d",
                                nm, bline, hall);
    }
    rot = xg_malloc((size_t)nops * sizeof *rot);
    tr = xg_malloc((size_t)nops * sizeof *tr);
    cif_sites S = {0};
    char sname[48], sname2[48];
    xg_structure *s = NULL;
    if (!rot || !tr) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", nm);
        goto done;
    }
    if (hall) {
        memcpy(rot, sg_rot, (size_t)nops * sizeof *rot);
        memcpy(tr, sg_tr, (size_t)nops * sizeof *tr);
    } else if (cs->present) {
        for (int o = 0; o < nops; o++) {
            const cif_tok *k = &tv->v[cs->first + (size_t)o * cs->stride];
            rc = xg_cif_parse_symop(text + k->off, k->len, rot[o], tr[o], err);
            if (rc) {
                xg_error_prefix(err, rc, "%s:%d", nm, k->line);
                goto done;
            }
        }
    } else {
        memset(rot, 0, sizeof *rot);
        rot[0][0][0] = rot[0][1][1] = rot[0][2][2] = 1;
        tr[0][0] = tr[0][1] = tr[0][2] = 0;
    }
    if ((double)nrows * nops > 4e6) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: %zu sites x %d symmetry operations is too "
                          "many", nm, bline, nrows, nops);
        goto done;
    }

    memcpy(S.L, L, sizeof L);
    for (int k = 0; k < 3; k++) {
        /* The merge radius in fractional units along k. |delta f_k| <= dist * |column k of
         * L^-1|, so: max(0.01 A clause, min(1e-3 clause, 0.5 A cap of that clause)). */
        double cn = sqrt(Linv[0][k] * Linv[0][k] + Linv[1][k] * Linv[1][k] +
                         Linv[2][k] * Linv[2][k]);
        double r = fmax(0.01 * cn, fmin(1e-3, 0.5 * cn));
        double g = floor(1.0 / r);
        S.g[k] = !(g >= 1) ? 1 : (g > (1 << 20) ? (1 << 20) : (int)g);
    }
    double ncand = (double)nrows * nops;
    S.nhead = 64;
    while (S.nhead < 2 * ncand && S.nhead < 2 * (size_t)XG_CIF_MAX_ATOMS)
        S.nhead *= 2;
    S.head = xg_malloc(S.nhead * sizeof *S.head);
    if (!S.head) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", nm);
        goto done;
    }
    for (size_t h = 0; h < S.nhead; h++)
        S.head[h] = -1;

    for (size_t row = 0; row < nrows; row++) {
        size_t ti = 0;
        col_tok(ctype, row, &ti);
        const cif_tok *tk = &tv->v[ti];
        int from_type = ctype == &b->col[T_TYPE];
        if (from_type && tok_missing(text, tk) && b->col[T_LABEL].present) {
            col_tok(&b->col[T_LABEL], row, &ti);
            tk = &tv->v[ti];
            from_type = 0;
        }
        char sym[16];
        size_t cl = tk->len < sizeof sym - 1 ? tk->len : sizeof sym - 1;
        memcpy(sym, text + tk->off, cl);
        sym[cl] = '\0';
        int z = cif_element(sym, from_type);
        site_name(text, tv, b, row, sname, sizeof sname);
        if (z <= 0 || z > XG_MAX_Z) {
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: site %s: no element in '%.*s'", nm,
                              tk->line, sname, (int)(tk->len > 20 ? 20 : tk->len),
                              text + tk->off);
            goto done;
        }
        double x[3], f[3];
        for (int k = 0; k < 3; k++) {
            /* '.' (inapplicable) for a coordinate: ICSD exports write it for 0, and pymatgen
             * reads it as 0. '?' (unknown) stays an error: no position can be guessed. */
            size_t tc;
            if (col_tok(&b->col[t0 + k], row, &tc) && !tv->v[tc].quoted && tv->v[tc].len == 1 &&
                text[tv->v[tc].off] == '.') {
                x[k] = 0.0;
                continue;
            }
            rc = block_number(text, tv, &b->col[t0 + k], row, k_tags[t0 + k], name, &x[k], err);
            if (rc)
                goto done;
            if (fabs(x[k]) > 1e6) {
                size_t tj = 0;
                col_tok(&b->col[t0 + k], row, &tj);
                rc = xg_error_set(err, XG_EPARSE, "%s:%d: site %s: coordinate %g is absurd", nm,
                                  tv->v[tj].line, sname, x[k]);
                goto done;
            }
        }
        if (frac) {
            memcpy(f, x, sizeof f);
        } else {
            for (int k = 0; k < 3; k++)
                f[k] = x[0] * Linv[0][k] + x[1] * Linv[1][k] + x[2] * Linv[2][k];
        }
        double occ = 1.0;
        if (col_tok(&b->col[T_OCC], row, &ti) && !tok_missing(text, &tv->v[ti])) {
            rc = block_number(text, tv, &b->col[T_OCC], row, "_atom_site_occupancy", name, &occ,
                              err);
            if (rc)
                goto done;
            if (!(occ > 0 && occ <= 1.0 + 1e-3)) {
                rc = xg_error_set(err, XG_EPARSE, "%s:%d: site %s: occupancy %g outside (0, 1]",
                                  nm, tv->v[ti].line, sname, occ);
                goto done;
            }
        }
        for (int o = 0; o < nops; o++) {
            double g[3];
            for (int k = 0; k < 3; k++)
                g[k] = wrap01(rot[o][k][0] * f[0] + rot[o][k][1] * f[1] + rot[o][k][2] * f[2] +
                              tr[o][k]);
            int other = -1;
            int a = disorder ? sites_find_z(&S, g, z, &other) : sites_find(&S, g);
            /* disordered reading: another element here (other >= 0, a < 0) makes this a
             * mixed site, a new entry below; the occupancy sum is checked at the end */
            (void)other;
            /* Without symmetry operations every listed row is an atom the author (or a
             * generator) put there: two full sites on one position are two atoms too close
             * together, which validity checks must see, not one atom and a wrong formula.
             * With operations, a row landing on another row's image is a repeated listing. */
            if (a >= 0 && nops == 1 && S.a[a].last_row != (int)row && occ > 1.0 - 1e-3 &&
                S.a[a].occ > 1.0 - 1e-3)
                a = -1;
            if (a < 0) {
                if (S.n >= XG_CIF_MAX_ATOMS) {
                    rc = xg_error_set(err, XG_EPARSE, "%s:%d: more than %d atoms", nm, bline,
                                      XG_CIF_MAX_ATOMS);
                    goto done;
                }
                if (sites_add(&S, z, g, occ, (int)row)) {
                    rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", nm);
                    goto done;
                }
                continue;
            }
            cif_atom *at = &S.a[a];
            if (at->last_row == (int)row)
                continue; /* an image of this same site: a special position */
            site_name(text, tv, b, (size_t)at->row, sname2, sizeof sname2);
            if (at->z != z) {
                int partial = occ < 1.0 - 1e-3 || at->occ < 1.0 - 1e-3;
                const xg_element *e1 = xg_element_get(at->z), *e2 = xg_element_get(z);
                if (partial)
                    rc = xg_error_set(err, XG_EUNSUPPORTED, "%s:%d: sites %s (%s, occupancy %g) "
                                      "and %s (%s, occupancy %g) "
                                      "share one position: the crystal is disordered (mixed "
                                      "site); this command needs an ordered crystal (xrd, "
                                      "xrd-refine, xrd-match and convert read disordered CIFs)",
                                      nm, tk->line, sname2, e1->symbol, at->occ, sname,
                                      e2->symbol, occ);
                else
                    rc = xg_error_set(err, XG_EPARSE, "%s:%d: sites %s (%s) and %s (%s) fall on "
                                      "the same position", nm, tk->line, sname2, e1->symbol,
                                      sname, e2->symbol);
                goto done;
            }
            /* The same element listed twice at full occupancy is a duplicate, not 2 atoms. */
            if (!(at->occ > 1.0 - 1e-3 && occ > 1.0 - 1e-3))
                at->occ += occ;
            at->last_row = (int)row;
        }
    }
    for (int a = 0; a < S.n && disorder; a++) {
        double t = sites_total_occ(&S, a);
        if (t > 1.0 + 1e-3) {
            site_name(text, tv, b, (size_t)S.a[a].row, sname, sizeof sname);
            size_t ti = 0;
            col_tok(ctype, (size_t)S.a[a].row, &ti);
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: occupancies at site %s sum to %g > 1", nm,
                              tv->v[ti].line, sname, t);
            goto done;
        }
    }
    for (int a = 0; a < S.n && !disorder; a++) {
        if (fabs(S.a[a].occ - 1.0) > 1e-3) {
            site_name(text, tv, b, (size_t)S.a[a].row, sname, sizeof sname);
            size_t ti = 0;
            col_tok(ctype, (size_t)S.a[a].row, &ti);
            if (S.a[a].occ < 1.0)
                rc = xg_error_set(err, XG_EUNSUPPORTED, "%s:%d: the crystal is disordered: site %s has "
                                  "partial occupancy %g; this command needs an ordered crystal "
                                  "(xrd, xrd-refine, xrd-match and convert read disordered CIFs)",
                                  nm, tv->v[ti].line, sname, S.a[a].occ);
            else
                rc = xg_error_set(err, XG_EPARSE, "%s:%d: occupancies at site %s sum to %g > 1",
                                  nm, tv->v[ti].line, sname, S.a[a].occ);
            goto done;
        }
    }
    if (S.n == 0) {
        rc = xg_error_set(err, XG_EPARSE, "%s:%d: data_%.*s has no atom sites", nm, bline,
                          (int)(bt->len > 60 ? 60 : bt->len), text + bt->off);
        goto done;
    }
    s = xg_structure_alloc(S.n);
    if (!s) {
        rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory for %d atoms", nm, S.n);
        goto done;
    }
    memcpy(s->lattice, L, sizeof L);
    int partial = 0;
    for (int a = 0; a < S.n; a++) {
        s->types[a] = S.a[a].z;
        memcpy(s->frac[a], S.a[a].f, sizeof S.a[a].f);
        partial |= fabs(S.a[a].occ - 1.0) > 1e-3;
    }
    if (partial) {
        if (xg_structure_occu_alloc(s, err)) {
            xg_structure_free(s);
            s = NULL;
            rc = XG_ENOMEM;
            goto done;
        }
        for (int a = 0; a < S.n; a++)
            s->occu[a] = fmin(S.a[a].occ, 1.0);
    }
    size_t idn = bt->len < XG_ID_LEN - 1 ? bt->len : XG_ID_LEN - 1;
    memcpy(s->id, text + bt->off, idn);
    s->id[idn] = '\0';
    for (size_t q = 0; q < idn; q++)
        if (!isprint((unsigned char)s->id[q]))
            s->id[q] = '_';
    *out = s;
    rc = XG_OK;
done:
    free(rot);
    free(tr);
    free(S.a);
    free(S.next);
    free(S.head);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Public readers                                                                               */

void xg_cif_structures_free(xg_structure **list, int n)
{
    if (!list)
        return;
    for (int i = 0; i < n; i++)
        xg_structure_free(list[i]);
    free(list);
}

int xg_cif_read_buffer(const char *text, size_t len, const char *name, xg_structure ***out,
                       int *nout, xg_error *err)
{
    return xg_cif_read_buffer_flags(text, len, name, 0, out, nout, err);
}

int xg_cif_read_buffer_flags(const char *text, size_t len, const char *name, int flags,
                             xg_structure ***out, int *nout, xg_error *err)
{
    int disorder = (flags & XG_CIF_DISORDER) != 0;
    if (out)
        *out = NULL;
    if (nout)
        *nout = 0;
    if (!out || !nout || (!text && len > 0))
        return xg_error_set(err, XG_EINVAL, "xg_cif_read_buffer: NULL argument");
    const char *nm = cif_name(name);
    size_t bom = 0;
    int trc = xg_text_check(text, len, nm, &bom, err);
    if (trc)
        return trc;
    text += bom;
    len -= bom;
    cif_toks tv = {0};
    xg_structure **list = NULL;
    int n = 0, cap = 0;
    int rc = cif_tokenize(text, len, name, &tv, err);
    if (rc)
        goto fail;
    size_t i = 0;
    /* Anything before the first data_ other than comments is an error. */
    if (tv.n > 0 && tv.v[0].kind != TK_DATA) {
        const cif_tok *k = &tv.v[0];
        if (k->kind == TK_GLOBAL || k->kind == TK_SAVE || k->kind == TK_STOP) {
            cif_block dummy;
            memset(&dummy, 0, sizeof dummy);
            rc = scan_block(text, &tv, &i, name, &dummy, err);
            if (!rc)
                rc = xg_error_set(err, XG_EPARSE, "%s:%d: unexpected token", nm, k->line);
        } else {
            rc = xg_error_set(err, XG_EPARSE, "%s:%d: '%.*s' before the first data_ block", nm,
                              k->line, (int)(k->len > 40 ? 40 : k->len), text + k->off);
        }
        goto fail;
    }
    while (i < tv.n) {
        cif_block b;
        memset(&b, 0, sizeof b);
        b.name_tok = i++;
        rc = scan_block(text, &tv, &i, name, &b, err);
        if (rc)
            goto fail;
        int any = 0;
        for (int k = 0; k < T_NTAGS; k++)
            if (k != T_SYMOP_OLD && k != T_SYMOP_NEW)
                any |= b.col[k].present;
        if (!any)
            continue; /* a metadata block (publication details): no crystal in it */
        xg_structure *s = NULL;
        rc = build_structure(text, &tv, &b, name, disorder, &s, err);
        if (rc)
            goto fail;
        if (n == cap) {
            int ncap = cap ? cap * 2 : 4;
            xg_structure **nl = xg_realloc(list, (size_t)ncap * sizeof *nl);
            if (!nl) {
                xg_structure_free(s);
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", nm);
                goto fail;
            }
            list = nl;
            cap = ncap;
        }
        list[n++] = s;
    }
    if (n == 0) {
        rc = xg_error_set(err, XG_EPARSE, "%s: no crystal structure (no data_ block with a cell "
                          "and atom sites)", nm);
        goto fail;
    }
    free(tv.v);
    *out = list;
    *nout = n;
    return XG_OK;
fail:
    free(tv.v);
    xg_cif_structures_free(list, n);
    return rc;
}

int xg_cif_read_file(const char *path, xg_structure ***out, int *nout, xg_error *err)
{
    return xg_cif_read_file_flags(path, 0, out, nout, err);
}

int xg_cif_read_file_flags(const char *path, int flags, xg_structure ***out, int *nout,
                           xg_error *err)
{
    if (out)
        *out = NULL;
    if (nout)
        *nout = 0;
    if (!path)
        return xg_error_set(err, XG_EINVAL, "xg_cif_read_file: NULL path");
    char *buf;
    size_t len;
    int rc = xg_file_read_all(path, (size_t)1 << 31, &buf, &len, err);
    if (rc)
        return rc;
    rc = xg_cif_read_buffer_flags(buf, len, path, flags, out, nout, err);
    free(buf);
    return rc;
}

static int one_of(xg_structure **list, int n, const char *name, xg_structure **out, xg_error *err)
{
    if (n != 1) {
        xg_cif_structures_free(list, n);
        return xg_error_set(err, XG_EPARSE, "%s: holds %d structures, expected exactly one",
                            cif_name(name), n);
    }
    *out = list[0];
    free(list);
    return XG_OK;
}

int xg_cif_read_one_buffer(const char *text, size_t len, const char *name, xg_structure **out,
                           xg_error *err)
{
    if (!out)
        return xg_error_set(err, XG_EINVAL, "xg_cif_read_one_buffer: NULL out");
    *out = NULL;
    xg_structure **list;
    int n, rc = xg_cif_read_buffer(text, len, name, &list, &n, err);
    return rc ? rc : one_of(list, n, name, out, err);
}

int xg_cif_read_one_file(const char *path, xg_structure **out, xg_error *err)
{
    if (!out)
        return xg_error_set(err, XG_EINVAL, "xg_cif_read_one_file: NULL out");
    *out = NULL;
    xg_structure **list;
    int n, rc = xg_cif_read_file(path, &list, &n, err);
    return rc ? rc : one_of(list, n, path, out, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Writers                                                                                      */

/* A CIF value: bare when it is a plain word, else single-quoted (pymatgen does the same). */
static void put_value(FILE *f, const char *v)
{
    int plain = v[0] != '\0' && !strchr("_#$'\";[]", v[0]);
    for (const char *p = v; *p && plain; p++)
        if (isspace((unsigned char)*p))
            plain = 0;
    if (plain && (!strcmp(v, "?") || !strcmp(v, ".") || ci_prefix(v, strlen(v), "data_") ||
                  ci_prefix(v, strlen(v), "loop_") || ci_prefix(v, strlen(v), "save_") ||
                  ci_prefix(v, strlen(v), "global_") || ci_prefix(v, strlen(v), "stop_")))
        plain = 0;
    if (plain)
        fputs(v, f);
    else if (!strstr(v, "' ") && v[strlen(v) ? strlen(v) - 1 : 0] != '\'')
        fprintf(f, "'%s'", v);
    else
        fprintf(f, "\"%s\"", v);
}

/* -0.00000000 reads oddly and diffs badly; print zero as zero. */
static double unneg(double x, double eps) { return fabs(x) < eps ? 0.0 : x; }

int xg_cif_write_symmetrized_raw(FILE *f, const xg_cif_sym_block *b, xg_error *err)
{
    if (!f || !b)
        return xg_error_set(err, XG_EINVAL, "xg_cif_write_symmetrized_raw: NULL argument");
    if (b->nops < 1 || !b->rot || !b->trans)
        return xg_error_set(err, XG_EINVAL, "CIF writer: no symmetry operations");
    if (b->nsites < 0 || (b->nsites > 0 && (!b->types || !b->frac)))
        return xg_error_set(err, XG_EINVAL, "CIF writer: no sites");
    for (int i = 0; i < b->nsites; i++) {
        if (!xg_element_get(b->types[i]))
            return xg_error_set(err, XG_EINVAL, "CIF writer: site %d has atomic number %d", i,
                                b->types[i]);
        for (int k = 0; k < 3; k++)
            if (!isfinite(b->frac[i][k]))
                return xg_error_set(err, XG_EINVAL, "CIF writer: site %d has a non-finite "
                                    "coordinate", i);
    }
    double p[6];
    xg_lattice_to_params(b->lattice, p);
    double vol = fabs(xg_lattice_volume(b->lattice));
    for (int k = 0; k < 6; k++)
        if (!isfinite(p[k]))
            return xg_error_set(err, XG_EINVAL, "CIF writer: the lattice is not finite");
    const char *fs = b->formula_structural ? b->formula_structural : "";
    const char *bn = b->block_name && b->block_name[0] ? b->block_name : fs;

    fputs("# generated using xtalgen\n", f);
    if (b->comment && b->comment[0]) {
        fputs("# ", f);
        for (const char *q = b->comment; *q; q++) {
            if (*q == '\n') {
                if (q[1])
                    fputs("\n# ", f);
            } else {
                fputc(iscntrl((unsigned char)*q) ? ' ' : *q, f);
            }
        }
        fputc('\n', f);
    }
    fputs("data_", f);
    for (const char *q = bn; *q; q++) /* a block name is one word */
        fputc(isspace((unsigned char)*q) || !isprint((unsigned char)*q) ? '_' : *q, f);
    fputc('\n', f);
    fputs("_symmetry_space_group_name_H-M   ", f);
    put_value(f, b->hm_symbol && b->hm_symbol[0] ? b->hm_symbol : "?");
    fputc('\n', f);
    static const char *const cell[6] = {"_cell_length_a", "_cell_length_b", "_cell_length_c",
                                        "_cell_angle_alpha", "_cell_angle_beta",
                                        "_cell_angle_gamma"};
    for (int k = 0; k < 6; k++)
        fprintf(f, "%s   %.8f\n", cell[k], p[k]);
    fprintf(f, "_symmetry_Int_Tables_number   %d\n", b->sg_number);
    if (fs[0]) {
        fputs("_chemical_formula_structural   ", f);
        put_value(f, fs);
        fputc('\n', f);
    }
    if (b->formula_sum && b->formula_sum[0]) {
        fputs("_chemical_formula_sum   ", f);
        put_value(f, b->formula_sum);
        fputc('\n', f);
    }
    fprintf(f, "_cell_volume   %.8f\n", vol);
    fprintf(f, "_cell_formula_units_Z   %d\n", b->formula_units_z);
    fputs("loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n", f);
    for (int o = 0; o < b->nops; o++) {
        char op[128];
        if (xg_cif_format_symop(b->rot[o], b->trans[o], op, sizeof op))
            return xg_error_set(err, XG_EINVAL, "CIF writer: symmetry operation %d", o);
        fprintf(f, "  %d  '%s'\n", o + 1, op);
    }
    fputs("loop_\n _atom_site_type_symbol\n _atom_site_label\n"
          " _atom_site_symmetry_multiplicity\n _atom_site_fract_x\n _atom_site_fract_y\n"
          " _atom_site_fract_z\n _atom_site_occupancy\n", f);
    for (int i = 0; i < b->nsites; i++) {
        const char *sym = xg_element_get(b->types[i])->symbol;
        fprintf(f, "  %s  %s%d  %d  %.8f  %.8f  %.8f  ", sym, sym, i,
                b->multiplicity ? b->multiplicity[i] : 1, unneg(b->frac[i][0], 5e-9),
                unneg(b->frac[i][1], 5e-9), unneg(b->frac[i][2], 5e-9));
        if (b->occu && fabs(b->occu[i] - 1.0) > 1e-12)
            fprintf(f, "%.8g\n", b->occu[i]);
        else
            fputs("1\n", f);
    }
    if (ferror(f))
        return xg_error_set(err, XG_EIO, "CIF writer: write error");
    return XG_OK;
}

/* Atoms in a formula such as "Fe2O3", "RbAl(SO4)2" or "O2". */
static long formula_atoms(const char *f)
{
    long total = 0, group = 0, mult_sym = 0;
    int in_group = 0;
    const char *p = f;
    while (*p) {
        if (*p == '(') {
            in_group = 1;
            group = 0;
            p++;
        } else if (*p == ')') {
            p++;
            long m = isdigit((unsigned char)*p) ? strtol(p, (char **)&p, 10) : 1;
            total += group * m;
            in_group = 0;
        } else if (isupper((unsigned char)*p)) {
            p++;
            while (islower((unsigned char)*p))
                p++;
            mult_sym = isdigit((unsigned char)*p) ? strtol(p, (char **)&p, 10) : 1;
            if (in_group)
                group += mult_sym;
            else
                total += mult_sym;
        } else {
            p++;
        }
    }
    return total;
}

/* _cell_formula_units_Z as pymatgen writes it: atoms in the cell over atoms in the reduced
 * formula (so "F2" with 4 atoms gives 2, not the gcd 4); 1 when that is not whole (one O atom). */
static int formula_units(int natoms, const char *reduced)
{
    long per = formula_atoms(reduced);
    if (per > 0 && natoms % per == 0)
        return (int)(natoms / per);
    return 1;
}

int xg_cif_write(FILE *f, const xg_structure *s, xg_error *err)
{
    return xg_cif_write_annotated(f, s, NULL, err);
}

/* The P1 block of s, whose lattice is already in the standard orientation. */
static int write_p1(FILE *f, const xg_structure *s, const char *comment, xg_error *err)
{
    if (s->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "xg_cif_write: structure has no atoms");
    for (int i = 0; i < s->natoms; i++)
        if (!xg_element_get(s->types[i]))
            return xg_error_set(err, XG_EINVAL, "xg_cif_write: atom %d has atomic number %d", i,
                                s->types[i]);
    char reduced[2048], sum[4096];
    if (xg_structure_reduced_formula(s, reduced, sizeof reduced) ||
        xg_structure_formula(s, sum, sizeof sum))
        return xg_error_set(err, XG_EINVAL, "xg_cif_write: formula too long");
    int z = formula_units(s->natoms, reduced);
    int *mult = xg_malloc((size_t)s->natoms * sizeof *mult);
    if (!mult)
        return xg_error_set(err, XG_ENOMEM, "xg_cif_write: out of memory");
    for (int i = 0; i < s->natoms; i++)
        mult[i] = 1;
    static const int ident[1][3][3] = {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
    static const double zero[1][3] = {{0, 0, 0}};
    xg_cif_sym_block b = {
        .block_name = reduced,
        .hm_symbol = "P 1",
        .sg_number = 1,
        .nops = 1,
        .rot = ident,
        .trans = zero,
        .nsites = s->natoms,
        .types = s->types,
        .frac = (const double(*)[3])s->frac,
        .multiplicity = mult,
        .formula_structural = reduced,
        .formula_sum = sum,
        .formula_units_z = z,
        .comment = comment,
        .occu = s->occu,
    };
    memcpy(b.lattice, s->lattice, sizeof b.lattice);
    int rc = xg_cif_write_symmetrized_raw(f, &b, err);
    free(mult);
    return rc;
}

int xg_cif_write_annotated(FILE *f, const xg_structure *s, const char *comment, xg_error *err)
{
    if (!f || !s)
        return xg_error_set(err, XG_EINVAL, "xg_cif_write: NULL argument");
    if (s->natoms < 1)
        return xg_error_set(err, XG_EINVAL, "xg_cif_write: structure has no atoms");
    xg_structure *o = xg_structure_copy(s);
    if (!o)
        return xg_error_set(err, XG_ENOMEM, "xg_cif_write: out of memory");
    /* A singular cell has no orientation or handedness; it is written as it is (the
     * validity checks flag it) rather than not at all. */
    xg_structure_orient(o, NULL);
    int rc = write_p1(f, o, comment, err);
    xg_structure_free(o);
    return rc;
}

int xg_cif_write_file(const char *path, const xg_structure *s, xg_error *err)
{
    return xg_file_write_atomic(path, xg_cif_write, s, err);
}

int xg_cif_write_annotated_file(const char *path, const xg_structure *s, const char *comment,
                                xg_error *err)
{
    return xg_file_write_atomic_note(path, xg_cif_write_annotated, s, comment, err);
}
