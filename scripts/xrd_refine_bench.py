#!/usr/bin/python3
"""Measures xtalgen's XRD refinement on simulated "measured" patterns (issue 21 acceptance).

    nice /usr/bin/python3 scripts/xrd_refine_bench.py build/xtalgen ../shared/data/mp_20/val.csv \
        [--n 50] [--candidates 100] [--refine 10] [--seed 21] [--work DIR] [--part I/K]
    /usr/bin/python3 scripts/xrd_refine_bench.py --summarize DIR   (all parts together)

For each of N validation crystals (seeded random choice):
  1. its conventional standard cell (spglib via pymatgen) is strained by 1-2% per free cell length
     (random sign, the crystal system's ties kept: cubic one value, tetragonal/hexagonal a = b);
  2. `xtalgen xrd` simulates the strained crystal (CuKa, 10-90 degrees, step 0.02, FWHM 0.12,
     eta 0.5); the "measured" pattern adds a zero shift of +0.04 degrees, a curved background
     and Poisson counting noise (peak maximum ~ 20000 counts);
  3. `xtalgen xrd-refine measured.xy true.cif` (the UNSTRAINED crystal as the model) must recover
     the strained a, b, c; the relative errors and |error| / esd are recorded;
  4. `xtalgen xrd-match measured.xy candidates.csv --refine K`: candidates are the true crystal
     and CANDIDATES-1 other validation crystals (seeded); the true crystal's rank is recorded.
Prints a summary and writes DIR/results.csv. pymatgen is the test oracle only (strain, cells)."""
import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer


def system_of(sg):
    if sg <= 2:
        return "triclinic"
    if sg <= 15:
        return "monoclinic"
    if sg <= 74:
        return "orthorhombic"
    if sg <= 142:
        return "tetragonal"
    if sg <= 194:
        return "hexagonal"
    return "cubic"


def summarize(work):
    """Re-reads every finished crystal folder of WORK: refined.cif against strained.cif (cell
    lengths compared sorted, as pymatgen's conventional setting may order the axes differently
    from spglib's, e.g. orthorhombic a < b < c; Niggli-reduced cells where the settings differ
    more), and ranking.csv for the true crystal's rank."""
    import glob
    rel, ranks, corr, names = [], [], [], []
    for d in sorted(glob.glob(os.path.join(work, "[0-9][0-9]_mp-*"))):
        rc, rk = os.path.join(d, "refine", "refined.cif"), os.path.join(d, "ranking.csv")
        if not (os.path.exists(rc) and os.path.exists(rk)):
            continue
        mid = os.path.basename(d).split("_", 1)[1]
        st = Structure.from_file(os.path.join(d, "strained.cif")).lattice
        rf = Structure.from_file(rc).lattice
        e = np.abs(np.sort(rf.abc) / np.sort(st.abc) - 1)
        if e.max() > 0.002:
            # a different conventional setting (triclinic or monoclinic cell choice): compare
            # the Niggli-reduced cells, the same for any cell of one lattice
            e2 = np.abs(np.sort(rf.get_niggli_reduced_lattice().abc) /
                        np.sort(st.get_niggli_reduced_lattice().abc) - 1)
            if e2.max() < e.max():
                e = e2
        with open(rk) as f:
            rows = list(csv.DictReader(f))
        r = [int(x["rank"]) for x in rows if x["id"] == mid]
        sc = sorted(rows, key=lambda x: -float(x["score"]))
        c = [k + 1 for k, x in enumerate(sc) if x["id"] == mid]
        rel.append(e.max())
        ranks.append(r[0] if r else -1)
        corr.append(c[0] if c else -1)
        names.append(mid)
        print("%-12s max rel error %.5f%%  rank %d (pre-screen %d)" % (mid, 100 * e.max(), ranks[-1],
                                                                      corr[-1]))
    rel, ranks, corr = np.array(rel), np.array(ranks), np.array(corr)
    print("crystals finished: %d" % len(rel))
    print("a, b, c within 0.2%%: %d of %d (median max rel error %.5f%%, worst %.4f%%)" %
          (np.sum(rel < 0.002), len(rel), 100 * np.median(rel), 100 * rel.max()))
    print("true crystal ranked first after refinement: %d of %d (pre-screen correlation "
          "first: %d, top 5: %d, top 10: %d; worst pre-screen rank %d)" %
          (np.sum(ranks == 1), len(rel), np.sum(corr == 1), np.sum((corr >= 1) & (corr <= 5)),
           np.sum((corr >= 1) & (corr <= 10)), corr.max()))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--summarize":
        summarize(sys.argv[2])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("xtalgen")
    ap.add_argument("val_csv")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--refine", type=int, default=10)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--work", default=None)
    ap.add_argument("--part", default="0/1", help="I/K: only crystals t with t %% K == I "
                    "(run K processes; each crystal has its own random stream)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="xg_xrd_bench_")
    os.makedirs(work, exist_ok=True)
    csv.field_size_limit(1 << 30)
    with open(a.val_csv, newline="") as f:
        rd = csv.DictReader(f)
        fields = rd.fieldnames
        rows = list(rd)
    rng = np.random.default_rng(a.seed)
    picks = rng.choice(len(rows), size=a.n, replace=False)
    pi, pk = (int(v) for v in a.part.split("/"))
    out = []
    for t, ix in enumerate(picks):
        if t % pk != pi:
            continue
        rng = np.random.default_rng([a.seed, t])
        row = rows[ix]
        mid = row["material_id"]
        s = Structure.from_str(row["cif"], fmt="cif")
        sga = SpacegroupAnalyzer(s, symprec=0.01)
        conv = sga.get_conventional_standard_structure()
        sysn = system_of(sga.get_space_group_number())
        e = rng.uniform(0.01, 0.02, 3) * rng.choice([-1, 1], 3)
        if sysn == "cubic":
            e[:] = e[0]
        elif sysn in ("tetragonal", "hexagonal"):
            e[1] = e[0]
        L = conv.lattice
        if sysn in ("triclinic", "monoclinic"):
            newL = Lattice.from_parameters(L.a * (1 + e[0]), L.b * (1 + e[1]), L.c * (1 + e[2]),
                                           L.alpha, L.beta, L.gamma)
        else:
            newL = Lattice(np.array(L.matrix) * (1 + e)[:, None])
        strained = Structure(newL, conv.species, conv.frac_coords)
        d = os.path.join(work, "%02d_%s" % (t, mid))
        os.makedirs(d, exist_ok=True)
        strained.to(filename=os.path.join(d, "strained.cif"))
        with open(os.path.join(d, "true.cif"), "w") as f:
            f.write(row["cif"])
        subprocess.run([a.xtalgen, "xrd", os.path.join(d, "strained.cif"), "--two-theta",
                        "10:90:0.02", "--fwhm", "0.12", "--eta", "0.5", "-o",
                        os.path.join(d, "sim.csv")], check=True)
        sim = np.loadtxt(os.path.join(d, "sim.csv"), delimiter=",", skiprows=1)
        x = sim[:, 0] + 0.04
        y = sim[:, 1] / sim[:, 1].max() * 20000.0 + 400.0 + 8000.0 / x + 0.05 * (x - 50) ** 2
        y = rng.poisson(y).astype(float)
        meas = os.path.join(d, "measured.xy")
        with open(meas, "w") as f:
            f.write("# simulated: %s strained %s, zero +0.04\n" % (mid, " ".join("%+.4f" % v for v in e)))
            for xi, yi in zip(x, y):
                f.write("%.4f %.0f\n" % (xi, yi))
        # 3. refinement of the true (unstrained) model
        r = subprocess.run([a.xtalgen, "xrd-refine", meas, os.path.join(d, "true.cif"), "-o",
                            os.path.join(d, "refine"), "--quiet"], capture_output=True, text=True)
        abc = [np.nan] * 3
        esd = [np.nan] * 3
        rwp = np.nan
        if r.returncode == 0:
            m = re.search(r"cell\s+a ([\d.]+)\(([\d.]+)\)\s+b ([\d.]+)\(([\d.]+)\)\s+c ([\d.]+)\(([\d.]+)\)",
                          r.stdout)
            abc = [float(m.group(1)), float(m.group(3)), float(m.group(5))]
            esd = [float(m.group(2)), float(m.group(4)), float(m.group(6))]
            rwp = float(re.search(r"Rwp ([\d.]+)%", r.stdout).group(1))
        else:
            print("refine failed", mid, r.stderr.strip()[:200], file=sys.stderr)
        true_abc = [newL.a, newL.b, newL.c]
        rel = [abs(abc[k] - true_abc[k]) / true_abc[k] for k in range(3)]
        # 4. ranking among candidates
        others = [j for j in range(len(rows)) if j != ix]
        cand = rng.choice(others, size=a.candidates - 1, replace=False)
        cpath = os.path.join(d, "candidates.csv")
        with open(cpath, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerow(row)
            for j in cand:
                w.writerow(rows[j])
        r2 = subprocess.run([a.xtalgen, "xrd-match", meas, cpath, "--refine", str(a.refine),
                             "--top", "0", "--quiet", "-o", os.path.join(d, "ranking.csv")],
                            capture_output=True, text=True)
        rank = -1
        rank_corr = -1
        if r2.returncode == 0:
            with open(os.path.join(d, "ranking.csv")) as f:
                for rr in csv.DictReader(f):
                    if rr["id"] == mid:
                        rank = int(rr["rank"])
            # the correlation-only rank, from the score column
            with open(os.path.join(d, "ranking.csv")) as f:
                sc = sorted(csv.DictReader(f), key=lambda rr: -float(rr["score"]))
            for k, rr in enumerate(sc):
                if rr["id"] == mid:
                    rank_corr = k + 1
        else:
            print("match failed", mid, r2.stderr.strip()[:200], file=sys.stderr)
        res = dict(id=mid, system=sysn, natoms=len(conv), strain=" ".join("%+.4f" % v for v in e),
                   rel_a=rel[0], rel_b=rel[1], rel_c=rel[2],
                   z_a=abs(abc[0] - true_abc[0]) / esd[0] if esd[0] > 0 else np.nan,
                   z_b=abs(abc[1] - true_abc[1]) / esd[1] if esd[1] > 0 else np.nan,
                   z_c=abs(abc[2] - true_abc[2]) / esd[2] if esd[2] > 0 else np.nan,
                   rwp=rwp, rank=rank, rank_corr=rank_corr)
        out.append(res)
        print("%2d %-12s %-12s maxrel %.5f rwp %6.2f rank %d (corr %d)" %
              (t, mid, sysn, max(rel), rwp, rank, rank_corr), flush=True)
    with open(os.path.join(work, "results_%d_%d.csv" % (pi, pk)), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0].keys()))
        w.writeheader()
        w.writerows(out)
    mr = np.array([max(o["rel_a"], o["rel_b"], o["rel_c"]) for o in out])
    ranks = np.array([o["rank"] for o in out])
    rc = np.array([o["rank_corr"] for o in out])
    print("crystals %d" % len(out))
    print("a, b, c within 0.2%%: %d of %d (median max rel error %.5f%%, worst %.4f%%)" %
          (np.sum(mr < 0.002), len(out), 100 * np.nanmedian(mr), 100 * np.nanmax(mr)))
    print("true crystal ranked first after --refine %d: %d of %d (correlation alone: %d)" %
          (a.refine, np.sum(ranks == 1), len(out), np.sum(rc == 1)))
    print("results:", os.path.join(work, "results_%d_%d.csv" % (pi, pk)))


if __name__ == "__main__":
    main()
