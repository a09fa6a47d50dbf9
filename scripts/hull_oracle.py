#!/usr/bin/python3
"""hull_oracle.py: checks `xtalgen hull` against pymatgen's PhaseDiagram (a test oracle only;
xtalgen never imports Python).

It reads the reference entries itself from the public MP-20 CSVs (composition from
pretty_formula or atomic_numbers, formation_energy_per_atom, elements at zero), so it shares no
parsing, deduplication or pruning with xtalgen. For a random sample of the rows of a report
written by `xtalgen hull check HULL.h5 DATASET --report REPORT.csv`, it builds pymatgen's
PhaseDiagram of the row's chemical system from every reference entry of its subsystems and
compares pymatgen's energy above the hull (negative allowed) with xtalgen's.

    apt-get install -y python3-pymatgen
    xtalgen hull build --entries train.csv val.csv train_no_positions.csv -o hull.h5
    xtalgen hull check hull.h5 val.csv --report report.csv
    /usr/bin/python3 scripts/hull_oracle.py --data ../shared/data/mp_20 --report report.csv

Pass --exclude-ids for entries the hull build dropped (--drop-inconsistent lists them), so both
sides use the same reference set. Exit status 1 when any sampled row differs by more than --tol.
"""
import argparse
import csv
import os
import random
import sys

try:
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition, Element
except ImportError:  # the Debian package installs into /usr/lib/python3/dist-packages
    sys.path.append("/usr/lib/python3/dist-packages")
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition, Element


def read_entries(path, exclude):
    """(id, Composition, formation energy per atom) of every row with an energy."""
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            e = row.get("formation_energy_per_atom", "")
            if e == "" or row.get("material_id") in exclude:
                continue
            if row.get("atomic_numbers"):
                counts = {}
                for z in row["atomic_numbers"].split():
                    counts[Element.from_Z(int(z))] = counts.get(Element.from_Z(int(z)), 0) + 1
                comp = Composition(counts)
            else:
                comp = Composition(row["pretty_formula"])
            out.append((row.get("material_id", ""), comp, float(e)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder with train.csv, val.csv, train_no_positions.csv")
    ap.add_argument("--report", required=True, help="CSV from `xtalgen hull check --report`")
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-6, help="eV/atom")
    ap.add_argument("--exclude-ids", default="", help="comma-separated material ids left out")
    ap.add_argument("--exclude-self", action="store_true",
                    help="leave the row's own id out (for reports of `check --exclude-self`)")
    args = ap.parse_args()

    exclude = set(x for x in args.exclude_ids.split(",") if x)
    entries = []
    for name in ("train.csv", "val.csv", "train_no_positions.csv"):
        path = os.path.join(args.data, name)
        if os.path.exists(path):
            entries += read_entries(path, exclude)
    by_system = {}
    for mid, comp, e in entries:
        by_system.setdefault(frozenset(el.symbol for el in comp.elements), []).append((mid, comp, e))

    with open(args.report, newline="") as f:
        rows = list(csv.DictReader(f))
    random.Random(args.seed).shuffle(rows)
    rows = rows[: args.sample]

    worst, bad = 0.0, 0
    for row in rows:
        comp = Composition(row["formula"])
        system = frozenset(el.symbol for el in comp.elements)
        pd_entries = [PDEntry(Composition(el), 0.0) for el in system]
        for sub, items in by_system.items():
            if sub <= system:
                for mid, c, e in items:
                    if args.exclude_self and mid == row["id"]:
                        continue
                    pd_entries.append(PDEntry(c, e * c.num_atoms))
        pd = PhaseDiagram(pd_entries)
        probe = PDEntry(comp, float(row["e_form"]) * comp.num_atoms)
        _, theirs = pd.get_decomp_and_e_above_hull(probe, allow_negative=True)
        ours = float(row["e_hull_ours"])
        diff = abs(ours - theirs)
        worst = max(worst, diff)
        if diff > args.tol:
            bad += 1
            print(f"MISMATCH {row['id']} {row['formula']}: xtalgen {ours:.8f} pymatgen {theirs:.8f}")
    print(f"hull_oracle: {len(rows)} rows compared with pymatgen PhaseDiagram, "
          f"max |xtalgen - pymatgen| = {worst:.3g} eV/atom, {bad} above {args.tol:g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
