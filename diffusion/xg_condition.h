/* xg_condition.h: property conditions of the denoiser (DESIGN.md 3.4, 3.6): what a crystal's
 * labels become in the condition vector `cond` that xg_denoiser projects with W_c.
 *
 * A spec is an ordered list of conditions; each owns one block of the condition vector:
 *   block = [present, features...]
 *   scalar (any dataset property, e.g. dft_mag_density, band_gap, formation_energy_per_atom):
 *     z = (value - mean) / std with the training set's scaler (over labelled crystals only),
 *     features = sin(f_k z), cos(f_k z) for k = 0..n_freq-1, f_k = freq0 * freq_ratio^k
 *     (geometric frequencies: the low ones keep the encoding monotonic over the data's range,
 *     the high ones resolve nearby values);
 *   chemsys (the chemical system, e.g. Li-Fe-P-O): multi-hot over Z = 1..XG_COND_NUM_Z.
 * A missing label leaves its whole block zero, `present` included, which no real value can
 * produce (cos terms and the flag are never all zero): missing is missing, never the value 0.
 * A crystal with no label at all is trained with cond_on = 0, the learned "unconditional"
 * vector; with several conditions a crystal with some labels uses cond_on = 1 and zero blocks
 * for the others, and a sampler may likewise give only some of a model's conditions.
 *
 * The spec is stored in model files (group /condition, see xg_model.h), so a sampler encodes a
 * request with exactly the scaler and frequencies the model was trained with. */
#ifndef XG_CONDITION_H
#define XG_CONDITION_H

#include <stdint.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"

#define XG_COND_MAX 8            /* conditions per model */
#define XG_COND_NUM_Z 100        /* chemsys covers Z = 1..100 (the denoiser's classes) */
#define XG_COND_SCALAR_FREQS 8   /* default frequencies of a scalar: 16 features + flag */
#define XG_COND_FREQ0 0.25       /* default lowest frequency (rad per std) */
#define XG_COND_FREQ_RATIO 2.0   /* default ratio of consecutive frequencies */
#define XG_COND_CHEMSYS_NAME "chemsys"

typedef enum { XG_COND_SCALAR = 1, XG_COND_CHEMSYS = 2 } xg_cond_kind;

typedef struct {
    char name[XG_PROP_NAME_LEN]; /* dataset property name, or "chemsys" */
    int kind;                    /* xg_cond_kind */
    int offset, dim;             /* block position and width in the condition vector */
    double mean, std;            /* scalar: the training scaler */
    int n_freq;                  /* scalar: number of frequencies (2 n_freq features) */
    double freq0, freq_ratio;    /* scalar: f_k = freq0 * freq_ratio^k */
} xg_cond_item;

typedef struct {
    int n;                       /* conditions, 0 = unconditional model */
    int dim;                     /* width of the condition vector (the denoiser's cond_dim) */
    xg_cond_item item[XG_COND_MAX];
    /* Training record (stored with the spec; not needed to encode): */
    double drop;                 /* probability of dropping a labelled crystal to unconditional */
    char base[512];              /* model file fine-tuned from, "" if trained from scratch */
} xg_cond_spec;

/* One crystal's label for one condition. */
typedef struct {
    int present;                               /* 0 = missing */
    double value;                              /* scalar */
    unsigned char elements[XG_COND_NUM_Z + 1]; /* chemsys: elements[z] != 0 for z in it */
} xg_cond_value;

void xg_cond_spec_init(xg_cond_spec *s);
/* Appends a scalar condition with its scaler (std > 0, both finite) and the default encoding. */
int xg_cond_spec_add_scalar(xg_cond_spec *s, const char *name, double mean, double std,
                            xg_error *err);
/* Appends the chemical-system condition (at most once). */
int xg_cond_spec_add_chemsys(xg_cond_spec *s, xg_error *err);
/* Index of the condition called name, or -1. "mag_density" also finds "dft_mag_density". */
int xg_cond_spec_find(const xg_cond_spec *s, const char *name);
/* Checks a spec read from a file: names, kinds, contiguous blocks, scalers, frequencies. */
int xg_cond_spec_check(const xg_cond_spec *s, xg_error *err);
/* "dft_mag_density, chemsys" into buf (for messages). */
void xg_cond_spec_names(const xg_cond_spec *s, char *buf, size_t n);

/* Encodes one crystal's labels (vals[s->n]) into out[s->dim]. *any_present (may be NULL) is
 * set to 1 when at least one label is present, i.e. when the crystal should use cond_on = 1.
 * XG_EINVAL for a non-finite present scalar or an empty chemical system. */
int xg_cond_encode(const xg_cond_spec *s, const xg_cond_value *vals, float *out, int *any_present,
                   xg_error *err);

/* The 2 n_freq sinusoidal features of a normalised value z (exposed for tests). */
void xg_cond_sinusoidal(double z, int n_freq, double freq0, double ratio, float *out);

/* Recovers z from a scalar block's features (least squares over the lowest frequency that is
 * unambiguous; exact up to float rounding for |z| < pi / freq0). For tests and debugging. */
double xg_cond_decode_scalar(const xg_cond_item *it, const float *block);

/* Parses "Li-Fe-P-O" (also "Li,Fe,P,O" or "LiFePO") into elements[1..XG_COND_NUM_Z]. */
int xg_cond_parse_chemsys(const char *text, unsigned char elements[XG_COND_NUM_Z + 1], xg_error *err);

/* Encodes a request "NAME=VALUE" x nargs (e.g. "dft_mag_density=0.15", "chemsys=Li-Fe-P-O")
 * into out[s->dim]; conditions not named stay missing. XG_EINVAL for an unknown name (the
 * message lists the model's conditions), a repeated one, or a malformed value. */
int xg_cond_encode_request(const xg_cond_spec *s, int nargs, const char *const *args, float *out,
                           xg_error *err);

/* Labels of crystal i of a dataset for every condition of s: scalar from the property column
 * of that name (NaN = missing), chemsys from its atoms. cols[s->n] from
 * xg_cond_dataset_columns. */
int xg_cond_dataset_columns(const xg_cond_spec *s, const xg_dataset *ds, int *cols, xg_error *err);
void xg_cond_dataset_values(const xg_cond_spec *s, const xg_dataset *ds, const int *cols,
                            int64_t i, xg_cond_value *vals);

#endif
