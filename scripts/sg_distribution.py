#!/usr/bin/env python3
"""sg_distribution.py: the space-group statistics of a `xtalgen generate` folder (issue 13): the
share of P1 crystals and the chi-square distance between its space-group distribution and a
reference set's (MP-20 test), 0.5 * sum over groups (p - q)^2 / (p + q) (0 for equal
distributions, 1 for disjoint ones). A MEASUREMENT SCRIPT, never a runtime dependency.

  sg_distribution.py DIR --reference test.csv [--pymatgen] [--symprec 0.1]

DIR/summary.csv gives xtalgen's space groups (spglib at generate's --symprec); with --pymatgen the
crystals of DIR/generated.extxyz are re-analysed with pymatgen's SpacegroupAnalyzer (symprec,
angle_tolerance 5) through ASE, and both sets of numbers are reported (run with /usr/bin/python3).
When DIR/screen/screen.csv exists, the P1 share is also given over the structurally valid
crystals. The reference's groups are its `spacegroup.number` column (MP-20: spglib at 0.1).
Crystals whose group could not be determined (0 in summary.csv) count as their own category.
"""
import argparse
import collections
import csv
import os
import sys

csv.field_size_limit(sys.maxsize)


def chi2(p, q):
    """0.5 * sum (p - q)^2 / (p + q) over the union of categories of two count tables."""
    np_, nq = sum(p.values()), sum(q.values())
    d = 0.0
    for g in set(p) | set(q):
        a, b = p.get(g, 0) / np_, q.get(g, 0) / nq
        if a + b > 0:
            d += (a - b) ** 2 / (a + b)
    return 0.5 * d


def report(name, groups, ref, valid):
    c = collections.Counter(groups.values())
    n = len(groups)
    p1 = sum(1 for g in groups.values() if g == 1)
    line = f"{name}: {n} crystals, P1 {p1} ({100.0 * p1 / n:.1f}%)"
    if valid is not None:
        vids = [i for i in groups if valid.get(i)]
        vp1 = sum(1 for i in vids if groups[i] == 1)
        line += f", P1 among the {len(vids)} structurally valid {100.0 * vp1 / max(1, len(vids)):.1f}%"
    undetermined = c.get(0, 0)
    line += f", undetermined {undetermined}, chi2 to reference {chi2(c, ref):.3f}"
    top = ", ".join(f"{g}:{k}" for g, k in c.most_common(8))
    print(line)
    print(f"  most common groups: {top}")
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--reference", required=True)
    ap.add_argument("--pymatgen", action="store_true")
    ap.add_argument("--symprec", type=float, default=0.1)
    a = ap.parse_args()
    ref = collections.Counter()
    with open(a.reference, newline="") as f:
        for row in csv.DictReader(f):
            v = row.get("spacegroup.number", "")
            if v:
                ref[int(v)] += 1
    print(f"reference {a.reference}: {sum(ref.values())} crystals, P1 "
          f"{100.0 * ref.get(1, 0) / sum(ref.values()):.1f}%")
    xt = {}
    with open(os.path.join(a.dir, "summary.csv"), newline="") as f:
        for row in csv.DictReader(f):
            xt[row["id"]] = int(row["spacegroup_number"] or 0)
    valid = None
    sp = os.path.join(a.dir, "screen", "screen.csv")
    if os.path.exists(sp):
        with open(sp, newline="") as f:
            valid = {row["id"]: row["valid_structure"] == "1" for row in csv.DictReader(f)}
    report("xtalgen (summary.csv)", xt, ref, valid)
    if a.pymatgen:
        import warnings
        warnings.filterwarnings("ignore")
        from ase.io import read
        from pymatgen.io.ase import AseAtomsAdaptor
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
        frames = read(os.path.join(a.dir, "generated.extxyz"), index=":")
        ids = list(xt)
        pm = {}
        for i, at in zip(ids, frames):
            try:
                s = AseAtomsAdaptor.get_structure(at)
                pm[i] = SpacegroupAnalyzer(s, symprec=a.symprec, angle_tolerance=5).get_space_group_number()
            except Exception:
                pm[i] = 0
        report(f"pymatgen (symprec {a.symprec})", pm, ref, valid)
        agree = sum(1 for i in pm if pm[i] == xt[i])
        print(f"  pymatgen agrees with xtalgen on {agree} of {len(pm)}")


if __name__ == "__main__":
    main()
