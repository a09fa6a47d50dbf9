#!/usr/bin/env python3
"""gpaw_smoke.py: a DFT smoke test of exported candidates (not part of CI).

Reads the POSCAR of each given export folder with ASE and runs a PBE single point with GPAW
(plane waves, a low cutoff, the k-point mesh of the folder's KPOINTS, spin-polarized with the
INCAR's MAGMOM when there is one) to SCF convergence, printing the energy, the number of SCF
iterations and the wall time. It shows that the handoff runs end to end, not that the numbers
are converged: use the VASP or pw.x inputs for real calculations.
    /usr/bin/python3 scripts/gpaw_smoke.py EXPORT_DIR/<id> [EXPORT_DIR/<id> ...] [--ecut 300]
Needs Debian's gpaw and gpaw-data (test tools, never runtime dependencies). Exit status 0 when
every calculation converged, 1 otherwise, 77 when GPAW is missing.
"""
import argparse
import os
import sys
import time

try:
    from ase.io import read
    from gpaw import GPAW, PW, Mixer, MixerSum
except ImportError as exc:
    print(f"gpaw_smoke: skipped, GPAW not importable ({exc}); apt-get install gpaw gpaw-data")
    sys.exit(77)


def kpoints_mesh(path):
    lines = open(path).read().split("\n")
    mesh = [int(x) for x in lines[3].split()[:3]]
    return mesh, lines[2].strip().lower().startswith("g")


def magmoms(incar, natoms):
    for line in open(incar):
        if line.startswith("MAGMOM"):
            out = []
            for tok in line.split("=", 1)[1].split():
                if "*" in tok:
                    n, v = tok.split("*")
                    out += [float(v)] * int(n)
                else:
                    out.append(float(tok))
            return out if len(out) == natoms else None
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--ecut", type=float, default=300, help="plane-wave cutoff, eV (default 300)")
    ap.add_argument("--max-k", type=int, default=4, help="cap each mesh division (default 4)")
    a = ap.parse_args()
    ok = True
    for folder in a.folders:
        atoms = read(os.path.join(folder, "POSCAR"), format="vasp")
        mesh, gamma = kpoints_mesh(os.path.join(folder, "KPOINTS"))
        mesh = [min(m, a.max_k) for m in mesh]
        mm = magmoms(os.path.join(folder, "INCAR"), len(atoms))
        if mm:
            atoms.set_initial_magnetic_moments(mm)
        log = os.path.join(folder, "gpaw.txt")
        # a damped Pulay mixer (on the total density when spin-polarized): generated
        # crystals are often metallic and their first SCF cycles slosh charge
        mixer = MixerSum(0.05, 5, 50.0) if mm else Mixer(0.05, 5, 50.0)
        calc = GPAW(mode=PW(a.ecut), xc="PBE", kpts={"size": mesh, "gamma": gamma},
                    occupations={"name": "fermi-dirac", "width": 0.1}, txt=log, mixer=mixer,
                    convergence={"energy": 1e-4}, maxiter=300)
        atoms.calc = calc
        t0 = time.time()
        try:
            e = atoms.get_potential_energy()
            it = calc.get_number_of_iterations()
            print(f"{os.path.basename(folder.rstrip('/'))}: {atoms.get_chemical_formula()} "
                  f"{len(atoms)} atoms, mesh {mesh}, spin {'yes' if mm else 'no'}: "
                  f"E = {e:.4f} eV ({e / len(atoms):.4f} eV/atom), SCF converged in {it} "
                  f"iterations, {time.time() - t0:.1f} s")
        except Exception as exc:
            ok = False
            print(f"{folder}: FAILED after {time.time() - t0:.1f} s: {exc}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
