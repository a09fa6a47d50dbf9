/* xg_condition.c: condition specs and encoders (see xg_condition.h). */
#include "diffusion/xg_condition.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_elements.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

void xg_cond_spec_init(xg_cond_spec *s)
{
    memset(s, 0, sizeof *s);
}

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= XG_PROP_NAME_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)name[i]) || name[i] == '=' || name[i] == ',')
            return 0;
    return 1;
}

static int add_item(xg_cond_spec *s, const char *name, int kind, int dim, xg_error *err)
{
    if (!s || !name)
        return xg_error_set(err, XG_EINVAL, "condition spec: missing spec or name");
    if (!name_ok(name))
        return xg_error_set(err, XG_EINVAL, "condition '%s': a name needs 1..%d printable characters "
                            "without '=' or ','", name, XG_PROP_NAME_LEN - 1);
    if (s->n >= XG_COND_MAX)
        return xg_error_set(err, XG_EINVAL, "condition '%s': at most %d conditions per model", name,
                            XG_COND_MAX);
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->item[i].name, name))
            return xg_error_set(err, XG_EINVAL, "condition '%s' given twice", name);
    xg_cond_item *it = &s->item[s->n];
    memset(it, 0, sizeof *it);
    snprintf(it->name, sizeof it->name, "%s", name);
    it->kind = kind;
    it->offset = s->dim;
    it->dim = dim;
    s->dim += dim;
    s->n++;
    return XG_OK;
}

int xg_cond_spec_add_scalar(xg_cond_spec *s, const char *name, double mean, double std,
                            xg_error *err)
{
    if (name && !strcmp(name, XG_COND_CHEMSYS_NAME))
        return xg_error_set(err, XG_EINVAL, "condition '%s' is the chemical system, not a scalar", name);
    if (!isfinite(mean) || !(std > 0) || !isfinite(std))
        return xg_error_set(err, XG_EINVAL,
                            "condition '%s': scaler mean %g, std %g is unusable (no labelled "
                            "crystals in the training set?)",
                            name ? name : "?", mean, std);
    int rc = add_item(s, name, XG_COND_SCALAR, 1 + 2 * XG_COND_SCALAR_FREQS, err);
    if (rc)
        return rc;
    xg_cond_item *it = &s->item[s->n - 1];
    it->mean = mean;
    it->std = std;
    it->n_freq = XG_COND_SCALAR_FREQS;
    it->freq0 = XG_COND_FREQ0;
    it->freq_ratio = XG_COND_FREQ_RATIO;
    return XG_OK;
}

int xg_cond_spec_add_chemsys(xg_cond_spec *s, xg_error *err)
{
    return add_item(s, XG_COND_CHEMSYS_NAME, XG_COND_CHEMSYS, 1 + XG_COND_NUM_Z, err);
}

int xg_cond_spec_find(const xg_cond_spec *s, const char *name)
{
    if (!s || !name)
        return -1;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->item[i].name, name))
            return i;
    /* DESIGN.md writes mag_density for MatterGen's dft_mag_density. */
    char alt[XG_PROP_NAME_LEN + 8];
    snprintf(alt, sizeof alt, "dft_%s", name);
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->item[i].name, alt))
            return i;
    return -1;
}

int xg_cond_spec_check(const xg_cond_spec *s, xg_error *err)
{
    if (s->n < 0 || s->n > XG_COND_MAX)
        return xg_error_set(err, XG_EINVAL, "condition spec: %d conditions (0..%d allowed)", s->n,
                            XG_COND_MAX);
    int off = 0;
    for (int i = 0; i < s->n; i++) {
        const xg_cond_item *it = &s->item[i];
        if (!name_ok(it->name))
            return xg_error_set(err, XG_EINVAL, "condition %d: bad name", i);
        for (int j = 0; j < i; j++)
            if (!strcmp(s->item[j].name, it->name))
                return xg_error_set(err, XG_EINVAL, "condition '%s' appears twice", it->name);
        if (it->offset != off)
            return xg_error_set(err, XG_EINVAL, "condition '%s': block at %d, expected %d", it->name,
                                it->offset, off);
        if (it->kind == XG_COND_SCALAR) {
            if (it->n_freq < 1 || it->n_freq > 256 || it->dim != 1 + 2 * it->n_freq)
                return xg_error_set(err, XG_EINVAL, "condition '%s': %d frequencies in a block of %d",
                                    it->name, it->n_freq, it->dim);
            if (!isfinite(it->mean) || !(it->std > 0) || !isfinite(it->std) || !(it->freq0 > 0) ||
                !isfinite(it->freq0) || !(it->freq_ratio > 0) || !isfinite(it->freq_ratio) ||
                !isfinite(it->freq0 * pow(it->freq_ratio, it->n_freq)))
                return xg_error_set(err, XG_EINVAL, "condition '%s': unusable scaler (mean %g, std %g) "
                                    "or frequencies (%g, ratio %g)",
                                    it->name, it->mean, it->std, it->freq0, it->freq_ratio);
            if (!strcmp(it->name, XG_COND_CHEMSYS_NAME))
                return xg_error_set(err, XG_EINVAL, "condition '%s' must be of kind chemsys", it->name);
        } else if (it->kind == XG_COND_CHEMSYS) {
            if (it->dim != 1 + XG_COND_NUM_Z || strcmp(it->name, XG_COND_CHEMSYS_NAME) != 0)
                return xg_error_set(err, XG_EINVAL, "condition '%s': a chemsys block is named '%s' "
                                    "and has %d entries", it->name, XG_COND_CHEMSYS_NAME, 1 + XG_COND_NUM_Z);
        } else {
            return xg_error_set(err, XG_EINVAL, "condition '%s': unknown kind %d", it->name, it->kind);
        }
        off += it->dim;
    }
    if (off != s->dim)
        return xg_error_set(err, XG_EINVAL, "condition spec: blocks cover %d entries, the vector has %d",
                            off, s->dim);
    if (!(s->drop >= 0 && s->drop < 1))
        return xg_error_set(err, XG_EINVAL, "condition spec: drop probability %g not in [0, 1)", s->drop);
    return XG_OK;
}

void xg_cond_spec_names(const xg_cond_spec *s, char *buf, size_t n)
{
    if (!n)
        return;
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < s->n && used + 1 < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", s->item[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (s->n == 0)
        snprintf(buf, n, "(none)");
}

void xg_cond_sinusoidal(double z, int n_freq, double freq0, double ratio, float *out)
{
    double f = freq0;
    for (int k = 0; k < n_freq; k++, f *= ratio) {
        out[2 * k] = (float)sin(f * z);
        out[2 * k + 1] = (float)cos(f * z);
    }
}

double xg_cond_decode_scalar(const xg_cond_item *it, const float *block)
{
    if (it->kind != XG_COND_SCALAR || block[0] == 0.0f)
        return NAN;
    /* The lowest frequency alone is unambiguous on |z| < pi / freq0; refine with the next ones
     * by unwrapping each phase around the previous estimate. */
    double z = atan2(block[1], block[2]) / it->freq0;
    double f = it->freq0;
    for (int k = 1; k < it->n_freq && k < 4; k++) {
        f *= it->freq_ratio;
        double ph = atan2(block[1 + 2 * k], block[2 + 2 * k]);
        double turns = round((f * z - ph) / (2 * M_PI));
        z = (ph + 2 * M_PI * turns) / f;
    }
    return z * it->std + it->mean;
}

int xg_cond_encode(const xg_cond_spec *s, const xg_cond_value *vals, float *out, int *any_present,
                   xg_error *err)
{
    if (any_present)
        *any_present = 0;
    memset(out, 0, sizeof(float) * (size_t)(s->dim > 0 ? s->dim : 0));
    int any = 0;
    for (int i = 0; i < s->n; i++) {
        const xg_cond_item *it = &s->item[i];
        const xg_cond_value *v = &vals[i];
        float *blk = out + it->offset;
        if (!v->present)
            continue; /* missing: the whole block stays zero */
        if (it->kind == XG_COND_SCALAR) {
            if (!isfinite(v->value))
                return xg_error_set(err, XG_EINVAL, "condition '%s': value %g is not finite", it->name,
                                    v->value);
            double z = (v->value - it->mean) / it->std;
            blk[0] = 1.0f;
            xg_cond_sinusoidal(z, it->n_freq, it->freq0, it->freq_ratio, blk + 1);
        } else {
            int count = 0;
            for (int zz = 1; zz <= XG_COND_NUM_Z; zz++)
                if (v->elements[zz]) {
                    blk[zz] = 1.0f;
                    count++;
                }
            if (!count)
                return xg_error_set(err, XG_EINVAL, "condition '%s': empty chemical system", it->name);
            blk[0] = 1.0f;
        }
        any = 1;
    }
    if (any_present)
        *any_present = any;
    return XG_OK;
}

int xg_cond_parse_chemsys(const char *text, unsigned char elements[XG_COND_NUM_Z + 1], xg_error *err)
{
    memset(elements, 0, XG_COND_NUM_Z + 1);
    if (!text)
        return xg_error_set(err, XG_EINVAL, "chemsys: no text");
    const char *p = text;
    int count = 0;
    while (*p) {
        if (*p == '-' || *p == ',' || *p == ' ') {
            p++;
            continue;
        }
        /* An exact symbol: upper-case letter, optionally one lower-case letter; prefer the
         * two-letter reading when it is an element ("Co" not "C" + "o"). */
        char sym[3] = {0};
        int z = 0;
        if (isupper((unsigned char)p[0])) {
            sym[0] = p[0];
            if (islower((unsigned char)p[1])) {
                sym[1] = p[1];
                z = xg_element_from_symbol(sym);
                if (z)
                    p += 2;
                sym[1] = '\0';
            }
            if (!z) {
                z = xg_element_from_symbol(sym);
                if (z)
                    p += 1;
            }
        }
        if (!z)
            return xg_error_set(err, XG_EINVAL, "chemsys '%s': no element symbol at '%s' (write e.g. "
                                "Li-Fe-P-O)", text, p);
        if (z > XG_COND_NUM_Z)
            return xg_error_set(err, XG_EINVAL, "chemsys '%s': Z = %d is beyond the model's Z = 1..%d",
                                text, z, XG_COND_NUM_Z);
        if (elements[z])
            return xg_error_set(err, XG_EINVAL, "chemsys '%s': element %s given twice", text,
                                xg_element_get(z) ? xg_element_get(z)->symbol : "?");
        elements[z] = 1;
        count++;
    }
    if (!count)
        return xg_error_set(err, XG_EINVAL, "chemsys '%s': no elements", text);
    return XG_OK;
}

int xg_cond_encode_request(const xg_cond_spec *s, int nargs, const char *const *args, float *out,
                           xg_error *err)
{
    if (s->n == 0)
        return xg_error_set(err, XG_EINVAL, "the model has no conditions");
    xg_cond_value vals[XG_COND_MAX];
    memset(vals, 0, sizeof vals);
    char known[XG_COND_MAX * (XG_PROP_NAME_LEN + 2) + 8];
    xg_cond_spec_names(s, known, sizeof known);
    for (int a = 0; a < nargs; a++) {
        const char *arg = args[a], *eq = arg ? strchr(arg, '=') : NULL;
        if (!eq || eq == arg || !eq[1])
            return xg_error_set(err, XG_EINVAL, "condition '%s': expected NAME=VALUE", arg ? arg : "");
        char name[XG_PROP_NAME_LEN];
        size_t n = (size_t)(eq - arg);
        if (n >= sizeof name)
            return xg_error_set(err, XG_EINVAL, "condition '%.*s...': name too long", 20, arg);
        memcpy(name, arg, n);
        name[n] = '\0';
        int i = xg_cond_spec_find(s, name);
        if (i < 0)
            return xg_error_set(err, XG_EINVAL, "unknown condition '%s'; this model is conditioned on: %s",
                                name, known);
        if (vals[i].present)
            return xg_error_set(err, XG_EINVAL, "condition '%s' given twice", s->item[i].name);
        if (s->item[i].kind == XG_COND_SCALAR) {
            char *end = NULL;
            double v = strtod(eq + 1, &end);
            if (end == eq + 1 || *end || !isfinite(v))
                return xg_error_set(err, XG_EINVAL, "condition '%s': '%s' is not a number", name, eq + 1);
            vals[i].value = v;
        } else {
            int rc = xg_cond_parse_chemsys(eq + 1, vals[i].elements, err);
            if (rc)
                return rc;
        }
        vals[i].present = 1;
    }
    return xg_cond_encode(s, vals, out, NULL, err);
}

int xg_cond_dataset_columns(const xg_cond_spec *s, const xg_dataset *ds, int *cols, xg_error *err)
{
    for (int i = 0; i < s->n; i++) {
        cols[i] = -1;
        if (s->item[i].kind != XG_COND_SCALAR)
            continue;
        cols[i] = xg_dataset_find_property(ds, s->item[i].name);
        if (cols[i] < 0) {
            char have[1024] = "";
            size_t used = 0;
            for (int k = 0; k < ds->nprops && used + 1 < sizeof have; k++) {
                int w = snprintf(have + used, sizeof have - used, "%s%s", k ? ", " : "", ds->prop_names[k]);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            return xg_error_set(err, XG_EINVAL,
                                "condition '%s': the dataset has no such property (it has: %s); "
                                "import it with `xtalgen dataset import --props`",
                                s->item[i].name, ds->nprops ? have : "none");
        }
    }
    return XG_OK;
}

void xg_cond_dataset_values(const xg_cond_spec *s, const xg_dataset *ds, const int *cols,
                            int64_t i, xg_cond_value *vals)
{
    for (int c = 0; c < s->n; c++) {
        xg_cond_value *v = &vals[c];
        v->present = 0;
        v->value = NAN;
        if (s->item[c].kind == XG_COND_SCALAR) {
            double x = ds->props[i * ds->nprops + cols[c]];
            if (isfinite(x)) {
                v->present = 1;
                v->value = x;
            }
        } else {
            memset(v->elements, 0, sizeof v->elements);
            int count = 0;
            for (int64_t a = ds->offsets[i]; a < ds->offsets[i + 1]; a++) {
                int z = ds->types[a];
                if (z >= 1 && z <= XG_COND_NUM_Z && !v->elements[z]) {
                    v->elements[z] = 1;
                    count++;
                }
            }
            v->present = count > 0;
        }
    }
}
