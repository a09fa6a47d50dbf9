#!/usr/bin/env python3
"""physics_oracle.py: reference values from pymatgen for xtalgen's Ewald and XRD code.

pymatgen is used here as a TEST ORACLE only (Debian: apt-get install python3-pymatgen); xtalgen
itself never runs Python, and the CUnit suites pass without this file. The reference file it
writes is read by tests/test_ewald.c and tests/test_xrd.c when XG_PHYSICS_ORACLE points to it:

    /usr/bin/python3 scripts/physics_oracle.py --n 250 --out /tmp/xg_physics_oracle.txt
    XG_PHYSICS_ORACLE=/tmp/xg_physics_oracle.txt build/test_ewald
    XG_PHYSICS_ORACLE=/tmp/xg_physics_oracle.txt build/test_xrd

Structures are written as pymatgen parsed them (lattice rows, fractional coordinates, Z), so the
comparison does not depend on xtalgen's CIF reader. Format, one block per crystal:

    structure ID NATOMS
    lattice a1x a1y a1z a2x ... a3z
    site Z fx fy fz CHARGE           (NATOMS lines; CHARGE 0 where no oxidation state was found)
    ewald TOTAL_EV                   (only for crystals with a nonzero charge-balanced guess)
    xrd NPEAKS                       (CuKa, 2theta 0..90, scaled to 100)
    peak TWO_THETA INTENSITY D_HKL MULTIPLICITY
    end
"""
import argparse
import csv
import signal
import sys

csv.field_size_limit(1 << 30)


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", default=None,
                    help="CDVAE-format CSV (default: ../shared/data/mp_20/val.csv from the project)")
    ap.add_argument("--n", type=int, default=250, help="number of crystals (default 250)")
    ap.add_argument("--skip", type=int, default=0, help="rows to skip first")
    ap.add_argument("--out", default="/tmp/xg_physics_oracle.txt")
    args = ap.parse_args()

    import os
    import warnings
    warnings.filterwarnings("ignore")
    from pymatgen.core import Structure
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    path = args.csv or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "shared", "data", "mp_20", "val.csv")
    calc = XRDCalculator(wavelength="CuKa")
    signal.signal(signal.SIGALRM, _alarm)
    n_written = n_ewald = 0
    with open(path, newline="") as f, open(args.out + ".tmp", "w") as out:
        reader = csv.DictReader(f)
        for k, row in enumerate(reader):
            if k < args.skip:
                continue
            if n_written >= args.n:
                break
            try:
                s = Structure.from_str(row["cif"], fmt="cif")
            except Exception as e:  # noqa: BLE001 - a reference set skips what it cannot parse
                print(f"skip {row['material_id']}: {e}", file=sys.stderr)
                continue
            charges = [0.0] * len(s)
            energy = None
            try:
                signal.alarm(5)
                d = s.copy()
                d.add_oxidation_state_by_guess()
                charges = [float(getattr(site.specie, "oxi_state", 0) or 0) for site in d]
                if any(abs(q) > 0 for q in charges):
                    energy = EwaldSummation(d).total_energy
                signal.alarm(0)
            except Exception:  # noqa: BLE001 - Timeout or no guess: XRD only
                signal.alarm(0)
                charges = [0.0] * len(s)
                energy = None
            pat = calc.get_pattern(s)
            out.write(f"structure {row['material_id']} {len(s)}\n")
            out.write("lattice " + " ".join(repr(float(v)) for v in s.lattice.matrix.flatten()) + "\n")
            for site, q in zip(s, charges):
                fc = site.frac_coords
                out.write(f"site {site.specie.Z} {fc[0]!r} {fc[1]!r} {fc[2]!r} {q!r}\n")
            if energy is not None:
                out.write(f"ewald {energy!r}\n")
                n_ewald += 1
            out.write(f"xrd {len(pat.x)}\n")
            for x, y, fam, dh in zip(pat.x, pat.y, pat.hkls, pat.d_hkls):
                mult = sum(h["multiplicity"] for h in fam)
                out.write(f"peak {x!r} {y!r} {dh!r} {mult}\n")
            out.write("end\n")
            n_written += 1
    os.replace(args.out + ".tmp", args.out)
    print(f"wrote {n_written} crystals ({n_ewald} with Ewald energies) to {args.out}")


if __name__ == "__main__":
    main()
