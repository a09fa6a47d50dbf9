#!/usr/bin/env python3
"""Does generation keep the density the model was trained on? (issue 23)

Compares the density and volume-per-atom distributions of generated crystals with MP-20's
(percentiles and Wasserstein distances), over all generated crystals and split by xtalgen's
compositional verdict, plus the composition statistics that explain a density gap: mean mass
per atom, share of O among atoms, and the number-of-elements histogram.

    /usr/bin/python3 scripts/density_check.py RUN [RUN...] --reference ../shared/data/mp_20/test.csv

RUN is a `generate` folder (summary.csv); RUN/screen/screen.csv (from `xtalgen screen`) adds the
valid / invalid split. The reference's densities are computed with pymatgen (about a minute for
MP-20 test). A test oracle: Debian's python3-pymatgen, never a runtime dependency.
"""
import argparse
import collections
import csv
import os
import sys
import warnings

import numpy as np
from scipy.stats import wasserstein_distance

warnings.filterwarnings("ignore")
from pymatgen.core import Composition, Structure  # noqa: E402

csv.field_size_limit(1 << 30)
Q = [5, 25, 50, 75, 95]


def comp_stats(formulas):
    """Mean mass per atom, mean O share of atoms, the share of crystals whose largest element
    class is O alone (ties count as not O), and the number-of-elements histogram."""
    mass, oxygen, o_largest, nel = [], [], 0, collections.Counter()
    for f in formulas:
        c = Composition(f)
        mass.append(c.weight / c.num_atoms)
        oxygen.append(c.get_atomic_fraction("O"))
        amounts = sorted(c.get_el_amt_dict().items(), key=lambda kv: -kv[1])
        o_largest += amounts[0][0] == "O" and (len(amounts) == 1 or amounts[1][1] < amounts[0][1])
        nel[len(c)] += 1
    n = len(formulas)
    hist = {k: round(v / n, 3) for k, v in sorted(nel.items())}
    return float(np.mean(mass)), 100.0 * float(np.mean(oxygen)), 100.0 * o_largest / n, hist


def line(label, d, v, ref_d, ref_v):
    return ("  %-22s n %5d  density p5..p95 %s  W %.3f g/cm^3 | volume/atom median %.1f  W %.2f A^3"
            % (label, len(d), np.round(np.percentile(d, Q), 2), wasserstein_distance(d, ref_d),
               np.median(v), wasserstein_distance(v, ref_v)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--reference", required=True, help="MP-20 CSV (cif column)")
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.reference)))
    ref_d, ref_v, ref_f = [], [], []
    for r in rows:
        s = Structure.from_str(r["cif"], fmt="cif")
        ref_d.append(s.density)
        ref_v.append(s.volume / len(s))
        ref_f.append(s.composition.reduced_formula)
    ref_d, ref_v = np.array(ref_d), np.array(ref_v)
    m, o, ol, h = comp_stats(ref_f)
    print("%s: %d crystals, density p5..p95 %s, volume/atom median %.1f A^3; mass/atom %.1f u, "
          "O %.1f%% of atoms, O the largest class in %.1f%%, elements %s"
          % (a.reference, len(rows), np.round(np.percentile(ref_d, Q), 2), np.median(ref_v), m, o, ol, h))
    for run in a.runs:
        gen = list(csv.DictReader(open(os.path.join(run, "summary.csv"))))
        d = np.array([float(r["density"]) for r in gen])
        v = np.array([float(r["volume"]) / int(r["natoms"]) for r in gen])
        m, o, ol, h = comp_stats([r["formula"] for r in gen])
        print("%s: mass/atom %.1f u, O %.1f%% of atoms, O the largest class in %.1f%%, elements %s"
              % (run, m, o, ol, h))
        print(line("all", d, v, ref_d, ref_v))
        sp = os.path.join(run, "screen", "screen.csv")
        if os.path.exists(sp):
            verdict = {r["id"]: r for r in csv.DictReader(open(sp))}
            for label, want in (("valid (struct + comp)", True), ("not valid", False)):
                idx = [i for i, r in enumerate(gen)
                       if r["id"] in verdict and
                       (verdict[r["id"]]["valid_structure"] == "1" and
                        verdict[r["id"]]["valid_composition"] == "1") == want]
                if idx:
                    print(line(label, d[idx], v[idx], ref_d, ref_v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
