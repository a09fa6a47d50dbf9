/* xg_xrd.h: kinematic powder X-ray diffraction: peak lists, broadened profiles, and matching a
 * measured pattern against candidate crystals.
 *
 * Why: a candidate that reaches the lab is identified by comparing its simulated powder pattern
 * with the measured one (that is how MatterGen's TaCr2O6 was confirmed).
 *
 * Physics (the formalism of pymatgen's XRDCalculator, De Graef & McHenry ch. 11-12):
 *  - reflections: every reciprocal-lattice point g = h a* + k b* + l c* (crystallographic, no 2 pi)
 *    with 2 sin(theta_min)/lambda <= |g| <= 2 sin(theta_max)/lambda; d = 1/|g|,
 *    sin(theta) = lambda |g| / 2;
 *  - structure factor F = sum_j o_j f_j(s) exp(2 pi i g.x_j) exp(-B_j s^2), s = |g|/2, with f_j
 *    from xg_xrd_form_factor (Debye-Waller B off unless given) and o_j the occupancy of entry j
 *    (1 for an ordered crystal; a mixed site contributes one entry per element, as pymatgen);
 *  - intensity |F|^2 (1 + cos^2 2theta) / (sin^2 theta cos theta) (Lorentz-polarisation);
 *  - reflections at the same 2theta (within merge_tol) are one peak; their count is the
 *    multiplicity (Friedel pairs included), so symmetry is never needed;
 *  - intensities scaled so the strongest peak is 100; peaks under min_intensity dropped.
 * A K-alpha1/K-alpha2 doublet gives each reflection twice, the second line weighted by ratio2.
 *
 * All buffers are caller-owned or come with a free function. */
#ifndef XG_XRD_H
#define XG_XRD_H

#include "crystal/xg_structure.h"

/* ---- radiation ---- */

typedef struct {
    double lambda1;  /* Angstrom */
    double lambda2;  /* 0, or the second line of a doublet (K-alpha2) */
    double ratio2;   /* intensity of line 2 relative to line 1 (0.5 for K-alpha2) */
} xg_xrd_radiation;

/* Parses "CuKa" (1.54184, the weighted mean), "CuKa1", "CuKa2", "CuKb1", "CuKa12" (the
 * K-alpha1 + K-alpha2 doublet with ratio 0.5), the same for Mo, Cr, Fe, Co, Ag, or a wavelength in
 * Angstrom ("1.5406"). XG_EINVAL with the name for anything else. */
int xg_xrd_radiation_parse(const char *spec, xg_xrd_radiation *out, xg_error *err);

/* ---- atomic scattering factors (xg_scattering.c) ---- */

/* X-ray form factor of element z at s = sin(theta)/lambda (1/Angstrom); NAN where no
 * coefficients exist (z outside 1..98). */
double xg_xrd_form_factor(int z, double s);
int xg_xrd_has_form_factor(int z);

/* ---- peak list ---- */

typedef struct {
    xg_xrd_radiation radiation;
    double two_theta_min, two_theta_max; /* degrees; default 0..90 */
    double merge_tol;     /* degrees 2theta; default 1e-5 (pymatgen's TWO_THETA_TOL) */
    double min_intensity; /* on the 0..100 scale; default 1e-3 (pymatgen's SCALED_INTENSITY_TOL) */
    const double *debye_waller; /* NULL, or B (Angstrom^2) indexed by Z, 0..103 */
    int unscaled;         /* 1: keep raw |F|^2 LP intensities instead of scaling to 100 */
} xg_xrd_params;

typedef struct {
    double two_theta;   /* degrees */
    double d;           /* Angstrom */
    double intensity;   /* scaled to 100 for the strongest (or raw if unscaled) */
    int hkl[3];         /* one representative reflection (largest h, k, l first) */
    int multiplicity;   /* reflections merged into this peak */
    int line;           /* 0: lambda1, 1: lambda2 */
} xg_xrd_peak;

typedef struct {
    int n;
    xg_xrd_peak *peaks; /* sorted by two_theta */
} xg_xrd_pattern;

/* CuKa, 0..90 degrees, pymatgen's tolerances. */
void xg_xrd_params_default(xg_xrd_params *p);

/* Peak list of s. *out is filled (free with xg_xrd_pattern_free). Errors: XG_EINVAL for a
 * degenerate lattice, a bad range or wavelength, no atoms; XG_EUNSUPPORTED for an element without
 * scattering coefficients; XG_ENOMEM. A structure with no reflection in range gives n = 0. */
int xg_xrd_peaks(const xg_structure *s, const xg_xrd_params *p, xg_xrd_pattern *out,
                 xg_error *err);
void xg_xrd_pattern_free(xg_xrd_pattern *pat);

/* ---- profile ---- */

/* Pseudo-Voigt broadening of a peak list onto the grid two_theta0 + i * step, i < n:
 * y_i = sum_k I_k [eta L(x) + (1 - eta) G(x)], x = 2theta_i - 2theta_k, with G and L of full width
 * fwhm at half maximum and unit height (an isolated peak keeps its intensity as its height).
 * eta in [0, 1] is the Lorentzian fraction. y has n caller-owned values. */
int xg_xrd_profile(const xg_xrd_pattern *pat, double two_theta0, double step, int n, double fwhm,
                   double eta, double *y, xg_error *err);

/* ---- measured patterns and matching ---- */

/* A pattern on a uniform grid: y[i] at two_theta0 + i * step. */
typedef struct {
    double two_theta0, step;
    int n;
    double *y;
    double *sigma; /* n standard uncertainties from an xye third column, or NULL */
} xg_xrd_measured;

/* Reads a measured pattern: two columns "2theta intensity" (whitespace or comma separated;
 * lines starting with # ; ! or text headers skipped, as in the GSAS/FullProf .xy exports with
 * XYDATA / INTER / TEMP / title lines; lone numbers before the data skipped too), xye with a
 * third sigma column (kept in sigma when every line has a positive one) or the "start step end" header line followed
 * by one intensity per line. Two-column data on an irregular grid is resampled linearly onto its
 * median step. XG_EPARSE names file and line. Free with xg_xrd_measured_free. */
int xg_xrd_measured_read(const char *path, xg_xrd_measured *out, xg_error *err);
void xg_xrd_measured_free(xg_xrd_measured *m);

/* Removes a slowly varying background in place: a morphological opening (rolling minimum then
 * rolling maximum over `window` degrees) smoothed by a moving average of the same width, which a
 * peak narrower than the window cannot lift. window <= 0 means 3 degrees. */
int xg_xrd_background_subtract(xg_xrd_measured *m, double window, xg_error *err);

typedef struct {
    xg_xrd_radiation radiation;
    double fwhm;          /* simulated peak width, degrees; default 0.1 */
    double eta;           /* pseudo-Voigt Lorentzian fraction; default 0.5 */
    double scale_min, scale_max, scale_step; /* uniform lattice scaling; 0.97..1.03 by 0.0025 */
    double max_shift;     /* 2theta shift window, degrees, each way; default 0.3 */
} xg_xrd_match_params;

void xg_xrd_match_params_default(xg_xrd_match_params *p);

typedef struct {
    double score;   /* best normalised cross-correlation, -1..1 (1 = identical shape) */
    double scale;   /* lattice scale factor at the best score */
    double shift;   /* 2theta shift at the best score, degrees (simulated moved by +shift) */
} xg_xrd_match_result;

/* Scores one candidate against a (background-subtracted) measured pattern: the simulated
 * profile of s with its lattice scaled by each factor, correlated with the measured one over all
 * 2theta shifts within max_shift at once by FFT (FFTW), best value kept. */
int xg_xrd_match(const xg_xrd_measured *m, const xg_structure *s, const xg_xrd_match_params *p,
                 xg_xrd_match_result *out, xg_error *err);

#endif
