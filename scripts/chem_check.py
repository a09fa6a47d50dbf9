#!/usr/bin/env python3
"""chem_check.py: pymatgen's reading of a generate run's chemistry (issue 16), as an oracle.
Not used by xtalgen. Needs pymatgen and ase (Debian: python3-pymatgen, python3-ase).

  chem_check.py DIR [--chemsys A-B-C[,D-E]] [--min-elements K] [--max-elements K]
                    [--composition FORMULA]

Reads DIR/generated.extxyz and DIR/cif/*.cif (the files users take away) with pymatgen and
counts the crystals whose element set is exactly one of the systems, whose number of distinct
elements is within the bounds, and whose composition equals the formula (same reduced formula).
Exits 1 when any crystal fails.
"""
import argparse
import glob
import os
import sys
import warnings

warnings.filterwarnings("ignore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--chemsys")
    ap.add_argument("--min-elements", type=int, default=0)
    ap.add_argument("--max-elements", type=int, default=0)
    ap.add_argument("--composition")
    a = ap.parse_args()

    from ase.io import read
    from pymatgen.core import Composition, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = [AseAtomsAdaptor.get_structure(x)
              for x in read(os.path.join(a.dir, "generated.extxyz"), index=":")]
    cifs = sorted(glob.glob(os.path.join(a.dir, "cif", "*.cif")))
    structs = [("extxyz", s) for s in frames] + \
              [("cif", Structure.from_file(f)) for f in cifs]
    systems = None
    if a.chemsys:
        systems = [frozenset(s.split("-")) for s in a.chemsys.split(",")]
    want = Composition(a.composition).reduced_formula if a.composition else None
    bad = 0
    hist = {}
    for kind, s in structs:
        els = frozenset(e.symbol for e in s.composition.elements)
        n = len(els)
        if kind == "extxyz":
            hist[n] = hist.get(n, 0) + 1
        ok = True
        if systems is not None and els not in systems:
            ok = False
        if a.min_elements and n < a.min_elements:
            ok = False
        if a.max_elements and n > a.max_elements:
            ok = False
        if want and s.composition.reduced_formula != want:
            ok = False
        if not ok:
            bad += 1
            print(f"fails ({kind}): {s.composition.reduced_formula}")
    print(f"pymatgen: {len(frames)} crystals in generated.extxyz, {len(cifs)} CIFs; "
          f"{len(structs) - bad}/{len(structs)} pass; distinct elements per crystal: "
          + ", ".join(f"{k}: {hist[k]}" for k in sorted(hist)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
