/* xg_dft.h: inputs for the DFT codes a candidate goes to next: a VASP calculation folder
 * (POSCAR, INCAR, KPOINTS, POTCAR.spec) and a Quantum ESPRESSO pw.x input.
 *
 * Why these settings: candidates are compared with the Materials Project's convex hull, so the
 * VASP inputs follow the Materials Project's relaxation set (MPRelaxSet as pymatgen ships it):
 * PBE PAW potentials with MP's choice of symbol per element, ENCUT 520 eV, EDIFF 5e-5 eV per
 * atom, ISMEAR -5, ISIF 3, MP's default initial moments, and MP's +U for the oxides and
 * fluorides of Co, Cr, Fe, Mn, Mo, Ni, V and W. Every writer works on the standard cell of
 * xg_structure_make_standard (right-handed, a along x, b in xy, species grouped in the
 * formula's order), so POSCAR, INCAR's per-species and per-site lists, POTCAR.spec and the
 * pw.x species all follow one order.
 *
 * Spin: a crystal containing a magnetic element (one MP starts with a moment above its 0.6
 * default: Ce Co Cr Eu Fe Mn Mo Ni V W, and the lanthanides MP gives a moment as 3+ ions, Pr Nd
 * Pm Sm Gd Tb Dy Ho Er Tm Yb, with that moment) is spin-polarized: ISPIN 2 and one MAGMOM per
 * site, the other sites starting at 0.6 as in MP's set; otherwise ISPIN 1. POTCARs themselves
 * are licensed and never written: POTCAR.spec names the symbols, one per line, as pymatgen's
 * potcar_spec does.
 *
 * k-points: pymatgen's Kpoints.automatic_density(structure, kppa), reimplemented: with N atoms
 * and cell lengths a, b, c, mult = (kppa / N * a b c)^(1/3) and n_i = floor(max(mult / l_i, 1));
 * kppa is raised by 1% when it is within 1 of a perfect cube; the mesh is Gamma-centred when a
 * division is odd or the lattice is hexagonal (pymatgen's Lattice.is_hexagonal, 5 degrees and
 * 0.01 Angstrom), Monkhorst-Pack otherwise. */
#ifndef XG_DFT_H
#define XG_DFT_H

#include <stdio.h>

#include "crystal/xg_error.h"
#include "crystal/xg_structure.h"

typedef struct {
    int mesh[3];
    int gamma; /* 1 Gamma-centred, 0 Monkhorst-Pack */
} xg_kmesh;

/* The mesh of a k-point density kppa (> 0, k-points per reciprocal atom) for s's cell. */
int xg_dft_kmesh(const xg_structure *s, double kppa, xg_kmesh *out, xg_error *err);
/* pymatgen's Lattice.is_hexagonal: two angles within angle_tol of 90, one within it of 60 or
 * 120, and the two lengths at the right-angle positions equal within length_tol. */
int xg_dft_is_hexagonal(const double L[3][3], double angle_tol, double length_tol);

/* Materials Project data, by atomic number. */
const char *xg_dft_potcar_symbol(int z);  /* "Fe_pv"; NULL when MP's set has none */
double xg_dft_initial_moment(int z);      /* mu_B; 0.6 for elements MP gives no moment */
int xg_dft_is_magnetic(int z);            /* starts with a moment above 0.6 */
/* MP's U (eV) for element z in a compound whose most electronegative element is anion_z;
 * 0 when MP applies none. */
double xg_dft_hubbard_u(int z, int anion_z);

/* VASP inputs for s. note: provenance for the POSCAR title and an INCAR comment (may be NULL).
 * kppa: k-point density. XG_EUNSUPPORTED naming the element when MP has no POTCAR for it. */
int xg_dft_write_incar(FILE *f, const xg_structure *s, double kppa, const char *note,
                       xg_error *err);
int xg_dft_write_kpoints(FILE *f, const xg_structure *s, double kppa, xg_error *err);
int xg_dft_write_potcar_spec(FILE *f, const xg_structure *s, xg_error *err);
/* DIR/POSCAR, DIR/INCAR, DIR/KPOINTS, DIR/POTCAR.spec, each written atomically; DIR must exist. */
int xg_dft_write_vasp_dir(const char *dir, const xg_structure *s, double kppa, const char *note,
                          xg_error *err);

typedef struct {
    const char *pseudo_pattern; /* file name of a pseudopotential, "{El}" (or "{el}") stands
                                   for the element: "{El}.pbe-spn-kjpaw_psl.1.0.0.UPF" */
    const char *pseudo_dir;     /* "./pseudo" if NULL */
    const char *calculation;    /* "vc-relax" if NULL; "scf", "relax" */
    double kppa;                /* k-point density, as for VASP */
    double ecutwfc, ecutrho;    /* Ry; <= 0: 60 and 8 x ecutwfc (PAW/ultrasoft) */
    const char *note;           /* provenance: title and '!' comments; may be NULL */
} xg_espresso_opts;

/* pw.x input: &CONTROL, &SYSTEM (ibrav = 0, nat, ntyp, cutoffs, smearing, nspin = 2 and
 * starting_magnetization(i) for magnetic species), &ELECTRONS, &IONS and &CELL as the
 * calculation needs, ATOMIC_SPECIES (symbol, standard atomic weight, pseudopotential file),
 * CELL_PARAMETERS angstrom, ATOMIC_POSITIONS crystal, K_POINTS automatic (the mesh above; a
 * Monkhorst-Pack mesh becomes offsets 1 1 1). starting_magnetization is MP's initial moment
 * over the element's electrons outside its noble-gas core, at most 1. */
int xg_dft_write_espresso(FILE *f, const xg_structure *s, const xg_espresso_opts *o,
                          xg_error *err);
int xg_dft_write_espresso_file(const char *path, const xg_structure *s,
                               const xg_espresso_opts *o, xg_error *err);

#endif
