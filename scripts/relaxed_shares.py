#!/usr/bin/env python3
"""Shares of a relaxed screen (issue 17): what the stability tables of the README report.

    python3 scripts/relaxed_shares.py RUN/relax/screen.csv [...]

For each screen.csv written by `xtalgen screen ... --relax`: the share of all crystals with
e_hull_mlip < 0.1 and < 0 eV/atom (a crystal without a relaxed energy counts as neither), the
median e_hull_mlip, S.U.N. (the `sun` column, from the relaxed energies), structural and
compositional validity, converged relaxations and the share that is P1 after relaxation.
Standard library only.
"""
import csv
import statistics
import sys


def shares(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    n = len(rows)
    if n == 0:
        sys.exit(f"{path}: no crystals")
    e = []
    for r in rows:
        try:
            v = float(r["e_hull_mlip"])
        except (KeyError, ValueError):
            continue
        if v == v:  # not NaN
            e.append(v)
    pct = lambda k: 100.0 * k / n
    flag = lambda col: sum(r.get(col) == "1" for r in rows)
    return (f"{path}: n={n} ehull<0.1 {pct(sum(x < 0.1 for x in e)):.1f}% "
            f"<0 {pct(sum(x < 0 for x in e)):.1f}% "
            f"median {statistics.median(e) if e else float('nan'):.3f} "
            f"SUN {pct(flag('sun')):.1f}% struct/comp {pct(flag('valid_structure')):.1f}/"
            f"{pct(flag('valid_composition')):.1f}% conv {flag('relax_converged')} "
            f"P1relaxed {pct(sum(r.get('spacegroup_relaxed') == '1' for r in rows)):.1f}%")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        print(shares(p))
