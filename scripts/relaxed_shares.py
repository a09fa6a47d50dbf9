#!/usr/bin/env python3
"""Shares of a relaxed screen (issue 17): what the stability tables of the README report.

    python3 scripts/relaxed_shares.py RUN/relax/screen.csv [...]

For each screen.csv written by `xtalgen screen ... --relax`: the share of all crystals with
e_hull_mlip < 0.1 and < 0 eV/atom (a crystal without a relaxed energy counts as neither), the
median e_hull_mlip, S.U.N. (the `sun` column, from the relaxed energies), structural and
compositional validity, converged relaxations and the share that is P1 after relaxation.
A second line splits the share below 0.1 between oxides (O in the formula) and the rest: a
guided run can raise the total by making fewer oxides (1,000 unconditional crystals: a quarter
are oxides, and 25-28% of those are below 0.1 against 53-57% of the rest) without making any
chemistry more stable.
Standard library only.
"""
import csv
import re
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
    split = []
    for label, want in (("oxides", True), ("others", False)):
        part = [r for r in rows if ("O" in re.findall(r"[A-Z][a-z]?", r.get("formula", ""))) == want]
        below = sum(below_01(r) for r in part)
        split.append(f"{label} {len(part)} ({100.0 * below / len(part) if part else float('nan'):.1f}% below 0.1)")
    return (f"{path}: n={n} ehull<0.1 {pct(sum(x < 0.1 for x in e)):.1f}% "
            f"<0 {pct(sum(x < 0 for x in e)):.1f}% "
            f"median {statistics.median(e) if e else float('nan'):.3f} "
            f"SUN {pct(flag('sun')):.1f}% struct/comp {pct(flag('valid_structure')):.1f}/"
            f"{pct(flag('valid_composition')):.1f}% conv {flag('relax_converged')} "
            f"P1relaxed {pct(sum(r.get('spacegroup_relaxed') == '1' for r in rows)):.1f}%\n"
            f"  {'; '.join(split)}")


def below_01(row):
    """True if the crystal's relaxed energy above the hull is below 0.1 eV/atom."""
    try:
        v = float(row["e_hull_mlip"])
    except (KeyError, ValueError):
        return False
    return v < 0.1


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        print(shares(p))
