#!/usr/bin/env python3
"""Generated crystals labelled with their relaxed energy above the hull (issue 17, session 7).

    python3 scripts/label_generated.py OUT.csv TAG:GENDIR:SCREEN.csv [...] [--min -0.2]

For each triple: GENDIR is a `generate` run (its cif/ID.cif files), SCREEN.csv the screen of that
run with `--relax`. Every crystal that is structurally valid and whose relaxation converged with
e_hull_mlip >= --min (below it, M3GNet artefacts are likelier than new stable phases) becomes
a row material_id = TAG-ID, e_above_hull = e_hull_mlip, cif = the generated (unrelaxed) CIF: a
CDVAE-style CSV that `xtalgen dataset import` reads next to MP-20's train.csv, e.g.

    xtalgen dataset import ../shared/data/mp_20/train.csv OUT.csv -o train-aug.h5

TAG keeps ids of different runs apart. Standard library only.

GENDIR may also be an `xtalgen relax` output folder (its cif/ID.cif are the relaxed crystals),
with SCREEN.csv the `screen --relax` of its relaxed.h5: then the rows are relaxed structures with
their own relaxed energy above the hull, which is what a model conditioned on stability should
see (as-generated geometry is itself a tell: generated crystals are unrelaxed, MP-20's are
relaxed; README, Stability guidance, session 10).
"""
import argparse
import csv
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("runs", nargs="+", metavar="TAG:GENDIR:SCREEN.csv")
    ap.add_argument("--min", type=float, default=-0.2, help="lowest label kept (eV/atom)")
    a = ap.parse_args()
    csv.field_size_limit(1 << 30)
    kept = skipped = 0
    tmp = a.out + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["material_id", "e_above_hull", "cif"])
        for spec in a.runs:
            parts = spec.split(":")
            if len(parts) != 3:
                sys.exit(f"label_generated: '{spec}' is not TAG:GENDIR:SCREEN.csv")
            tag, gdir, screen = parts
            with open(screen, newline="") as s:
                for r in csv.DictReader(s):
                    try:
                        e = float(r["e_hull_mlip"])
                    except ValueError:
                        e = float("nan")
                    cif = os.path.join(gdir, "cif", r["id"] + ".cif")
                    if (not e >= a.min or r["relax_converged"] != "1"
                            or r["valid_structure"] != "1" or not os.path.exists(cif)):
                        skipped += 1
                        continue
                    with open(cif) as c:
                        w.writerow([f"{tag}-{r['id']}", r["e_hull_mlip"], c.read()])
                    kept += 1
    os.replace(tmp, a.out)
    print(f"label_generated: {kept} crystals written to {a.out}, {skipped} skipped")


if __name__ == "__main__":
    main()
