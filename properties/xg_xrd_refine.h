/* xg_xrd_refine.h: least-squares refinement of a crystal model against a measured powder
 * pattern (whole-pattern fitting with structure intensities).
 *
 * Why: a generated crystal is never exactly the synthesised one: its lattice is a few per cent
 * off (DFT, temperature, strain), the diffractometer has a zero error and its own peak shape,
 * and the sample a background. Ranking candidates by a correlation with one lattice scale
 * (xg_xrd_match) cannot tell how well a model really explains a pattern; a refinement can,
 * and its Rwp is the number crystallographers compare.
 *
 * Model (Rietveld's, with atom positions and occupancies held fixed):
 *   y_calc(2theta_i) = bkg(2theta_i) + s * sum_k I_k * Omega(2theta_i - 2theta_k - zero; H_k, eta)
 *  - reflections k: every hkl of the crystal's conventional cell (spglib), reflections whose d
 *    stays equal under every strain of the crystal system merged (multiplicity); 2theta_k from
 *    d(hkl) of the refined cell and the wavelength (both lines of a K-alpha doublet);
 *  - I_k = |F_k|^2 times the Lorentz-polarisation factor, with F_k from the structure
 *    (occupancy-weighted atomic scattering factors at the refined sin(theta)/lambda, as
 *    xg_xrd_peaks): intensities are the structure's, not free (not Le Bail/Pawley), so a wrong
 *    structure cannot fit a pattern by adjusting them;
 *  - lattice parameters within the crystal system (cubic a; tetragonal, trigonal, hexagonal a, c;
 *    orthorhombic a, b, c; monoclinic a, b, c, beta; triclinic all six);
 *  - zero shift (degrees), scale s, background a Chebyshev series in 2theta over the measured
 *    range (nbkg terms);
 *  - Omega: area-normalised pseudo-Voigt, FWHM H_k^2 = U tan^2(theta) + V tan(theta) + W
 *    (Caglioti), Lorentzian fraction eta.
 * Fitted by weighted least squares (weights 1/sigma^2 from an xye sigma column, else Poisson
 * 1/max(y, 1)) with GSL's gsl_multifit_nlinear (trust region, Levenberg-Marquardt), in stages
 * (scale and background; a grid over the free cell lengths, -3..+3% around the start, scored
 * by chi^2 at the best scale, since one uniform start scale cannot follow strains of opposite
 * sign; the lattice and zero with broadened peaks, which widens the basin; the widths;
 * everything). Jacobian analytic except for the lattice columns
 * (forward differences). Reports as Rietveld programs do:
 *   Rwp = sqrt(sum w (yo - yc)^2 / sum w yo^2), Rp = sum |yo - yc| / sum |yo|,
 *   Rexp = sqrt((N - P) / sum w yo^2), GoF = chi^2 / (N - P) = (Rwp / Rexp)^2,
 * and standard errors sqrt(C_jj chi^2 / (N - P)) from the covariance C = (J^T W J)^-1.
 * Note: the function turns GSL's abort-on-error handler off (gsl_set_error_handler_off), a
 * process-wide GSL setting; every GSL status is checked here instead. */
#ifndef XG_XRD_REFINE_H
#define XG_XRD_REFINE_H

#include "properties/xg_xrd.h"

#define XG_XRD_REFINE_MAXPAR 32
#define XG_XRD_REFINE_MAXBKG 12

typedef struct {
    xg_xrd_radiation radiation; /* default CuKa */
    int nbkg;              /* Chebyshev background terms, 1..12; default 6 */
    double fwhm0;          /* starting FWHM in degrees (W = fwhm0^2, U = V = 0); default 0.1 */
    double eta0;           /* starting Lorentzian fraction; default 0.5 */
    double lattice_scale0; /* starting uniform lattice scale (xg_xrd_match's); default 1 */
    double zero0;          /* starting zero shift, degrees (xg_xrd_match's shift); default 0 */
    int refine_uv;         /* 1: U and V refined too (default); 0: W only (constant width) */
    int refine_eta;        /* 1: eta refined (default) */
    double symprec;        /* spglib tolerance for the crystal system, Angstrom; default 0.01 */
    int max_iter;          /* iterations per stage; default 200 */
} xg_xrd_refine_params;

void xg_xrd_refine_params_default(xg_xrd_refine_params *p);

typedef struct {
    int spacegroup;            /* of the model (spglib at symprec) */
    char symbol[16];
    char crystal_system[16];   /* "cubic", ..., "triclinic" */
    xg_structure *cell;        /* the refined conventional cell (owned) */
    double lattice[6], lattice_esd[6]; /* a, b, c, alpha, beta, gamma; esd 0 where fixed */
    int npar;                  /* refined parameters, in this order: lattice, zero, scale, U, V,
                                * W, eta, background */
    char names[XG_XRD_REFINE_MAXPAR][16];
    double value[XG_XRD_REFINE_MAXPAR], esd[XG_XRD_REFINE_MAXPAR];
    double zero, U, V, W, eta; /* also in the list above */
    double rwp, rp, rexp, gof, chi2;
    int nobs, nrefl, niter;    /* points, reflection groups, iterations of all stages */
    int n;                     /* the fitted profile: n points on the measured grid */
    double *calc, *background;
} xg_xrd_refine_result;

/* Refines s against m (not background-subtracted: the background is part of the model).
 * *out is filled; free with xg_xrd_refine_result_free. Errors: XG_EINVAL for an empty pattern
 * or bad parameters; XG_EUNSUPPORTED for an element without scattering factors; XG_ENUMERIC
 * when no reflection falls in the range or the fit breaks down (the message says which);
 * XG_ENOMEM. Disordered structures (occu) are accepted: their symmetry is that of the sites
 * with their occupancies. */
int xg_xrd_refine(const xg_xrd_measured *m, const xg_structure *s, const xg_xrd_refine_params *p,
                  xg_xrd_refine_result *out, xg_error *err);
void xg_xrd_refine_result_free(xg_xrd_refine_result *r);

#endif
