#!/usr/bin/env python3
"""csp_oracle.py: pymatgen's StructureMatcher as a TEST ORACLE for `xtalgen csp-eval`
(issue 16). Not used by xtalgen. Needs pymatgen and ase (Debian: python3-pymatgen, python3-ase).

  csp_oracle.py PRED.extxyz TRUTH.csv [-k K] [--rows ROWS.csv]

PRED.extxyz: a generate run's generated.extxyz (K candidates per composition, in TRUTH's order);
TRUTH.csv: a CDVAE-format table (material_id, cif), of which the first count(PRED)/K rows are
used. Every candidate is compared with its truth by
StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3).get_rms_dist, as CDVAE's and DiffCSP's
evaluation code does. Prints the k = 1 and k = K match rates and RMSE without a validity
filter, and, with --rows (the -o table of `xtalgen csp-eval`), with that table's validity flags
applied (structure validity is also recomputed here with pymatgen's distance matrix; the
charge-balance flag is xtalgen's for the truth's composition, since SMACT is not installed), and
the row-by-row agreement
of the match verdicts with xtalgen's.
"""
import argparse
import csv
import sys
import time
import warnings

csv.field_size_limit(1 << 30)
warnings.filterwarnings("ignore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pred")
    ap.add_argument("truth")
    ap.add_argument("-k", type=int, default=1)
    ap.add_argument("--rows")
    a = ap.parse_args()

    import numpy as np
    from ase.io import read
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    t0 = time.time()
    preds = [AseAtomsAdaptor.get_structure(x) for x in read(a.pred, index=":")]
    n = len(preds) // a.k
    truths = []
    with open(a.truth, newline="") as f:
        for row in csv.DictReader(f):
            if len(truths) == n:
                break
            truths.append((row["material_id"], Structure.from_str(row["cif"], fmt="cif")))
    if len(truths) < n:
        sys.exit("truth has fewer rows than compositions")
    rows = None
    if a.rows:
        with open(a.rows, newline="") as f:
            rows = list(csv.DictReader(f))

    def struct_valid(s):
        if s.volume < 0.1:
            return False
        if len(s) == 1:
            return True
        d = s.distance_matrix + np.eye(len(s)) * 10.0
        return d.min() >= 0.5

    m = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    r1, rk, v_r1, v_rk = [], [], [], []
    agree1 = agreek = 0
    for i in range(n):
        tid, ts = truths[i]
        best = None
        best_valid = None
        first = None
        # Charge balance depends on the composition only, the same for truth and candidates:
        # xtalgen's flag for the truth (valid_truth also asks the truth's distances, which every
        # MP-20 crystal passes).
        comp_ok = rows is not None and rows[i]["valid_truth"] == "1"
        for j in range(a.k):
            p = preds[i * a.k + j]
            if p.composition.reduced_formula != ts.composition.reduced_formula:
                sys.exit(f"candidate {i * a.k + j} is {p.composition.reduced_formula}, truth "
                         f"{tid} is {ts.composition.reduced_formula}")
            try:
                r = m.get_rms_dist(p, ts)
            except Exception:
                r = None
            rms = None if r is None else r[0]
            if j == 0:
                first = rms
            if rms is not None and (best is None or rms < best):
                best = rms
            if rows is not None and rms is not None and struct_valid(p) and comp_ok:
                if best_valid is None or rms < best_valid:
                    best_valid = rms
        r1.append(first)
        rk.append(best)
        if rows is not None:
            ok1 = (first is not None and comp_ok and struct_valid(preds[i * a.k]) and
                   struct_valid(ts))
            v_r1.append(first if ok1 else None)
            v_rk.append(best_valid)
            agree1 += (ok1 == (rows[i]["match_1"] == "1"))
            agreek += ((best_valid is not None) == (rows[i]["match_k"] == "1"))

    def rate(xs):
        got = [x for x in xs if x is not None]
        return len(got), (float(np.mean(got)) if got else float("nan"))

    c, e = rate(r1)
    print(f"pymatgen, no validity filter: k=1 match rate {100 * c / n:.2f}% ({c}/{n}), RMSE {e:.4f}")
    if a.k > 1:
        c, e = rate(rk)
        print(f"pymatgen, no validity filter: k={a.k} match rate {100 * c / n:.2f}% ({c}/{n}), "
              f"RMSE {e:.4f}")
    if rows is not None:
        c, e = rate(v_r1)
        print(f"pymatgen, validity filter: k=1 match rate {100 * c / n:.2f}% ({c}/{n}), "
              f"RMSE {e:.4f}")
        if a.k > 1:
            c, e = rate(v_rk)
            print(f"pymatgen, validity filter: k={a.k} match rate {100 * c / n:.2f}% ({c}/{n}), "
                  f"RMSE {e:.4f}")
        print(f"verdicts agreeing with xtalgen csp-eval: k=1 {agree1}/{n}"
              + (f", k={a.k} {agreek}/{n}" if a.k > 1 else ""))
    print(f"time {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
