#!/usr/bin/env python3
"""matcher_oracle.py: pymatgen's StructureMatcher() as a TEST ORACLE for xtalgen's matcher,
uniqueness and novelty (crystal/xg_matcher.h, crystal/xg_novelty.h). Not used by xtalgen.

Needs pymatgen (Debian: apt-get install -y python3-pymatgen).

  matcher_oracle.py pairs PAIRS.csv
      re-derives the verdicts of a pairs file (columns kind, match, rms, cif_a, cif_b), e.g.
      ../shared/data/fixtures/matcher_pairs_val.csv, and prints agreement per kind.
  matcher_oracle.py novelty CANDIDATES.csv REFERENCE.csv [-n N] [-o OUT.csv]
      novelty of the first N candidates (CDVAE-format tables) against the references, with the
      same reduced-formula index and order xtalgen uses: fit(candidate, reference) against the
      references of the same reduced formula in file order; OUT.csv has id,novel,matched.
  matcher_oracle.py compare ORACLE.csv SCREEN.csv
      agreement of xtalgen screen's novel / matched_reference columns with the oracle's.
"""
import argparse
import collections
import csv
import sys
import time
import warnings

csv.field_size_limit(1 << 30)
warnings.filterwarnings("ignore")


def _matcher():
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher()  # defaults: ltol 0.2, stol 0.3, angle_tol 5, primitive, scale


def _parse(cif):
    from pymatgen.core import Structure

    return Structure.from_str(cif, fmt="cif")


def cmd_pairs(a):
    sm = _matcher()
    tot, ok = collections.Counter(), collections.Counter()
    with open(a.pairs) as f:
        for row in csv.DictReader(f):
            s1, s2 = _parse(row["cif_a"]), _parse(row["cif_b"])
            got = int(sm.fit(s1, s2))
            tot[row["kind"]] += 1
            ok[row["kind"]] += got == int(row["match"])
    for k in sorted(tot):
        print(f"{k:14s} {ok[k]:4d} / {tot[k]:4d}")
    print(f"overall {sum(ok.values())} / {sum(tot.values())}")


def cmd_novelty(a):
    t0 = time.time()
    sm = _matcher()
    cands = []
    with open(a.candidates) as f:
        for k, row in enumerate(csv.DictReader(f)):
            if a.n and k >= a.n:
                break
            cands.append((row["material_id"], _parse(row["cif"])))
    wanted = {s.composition.reduced_formula for _, s in cands}
    refs = collections.defaultdict(list)  # reduced formula -> [(id, structure)] in file order
    with open(a.reference) as f:
        for row in csv.DictReader(f):
            if row["pretty_formula"] in wanted or a.parse_all:
                s = _parse(row["cif"])
                refs[s.composition.reduced_formula].append((row["material_id"], s))
    t1 = time.time()
    out = []
    for cid, s in cands:
        match = ""
        for rid, r in refs.get(s.composition.reduced_formula, []):
            if sm.fit(s, r):
                match = rid
                break
        out.append((cid, 0 if match else 1, match))
    t2 = time.time()
    dest = open(a.output, "w", newline="") if a.output else sys.stdout
    w = csv.writer(dest)
    w.writerow(["id", "novel", "matched"])
    w.writerows(out)
    print(f"{len(out)} candidates, {sum(o[1] for o in out)} novel; "
          f"reading {t1 - t0:.1f} s, matching {t2 - t1:.1f} s", file=sys.stderr)


def cmd_compare(a):
    with open(a.oracle) as f:
        ora = {r["id"]: r for r in csv.DictReader(f)}
    with open(a.screen) as f:
        scr = {r["id"]: r for r in csv.DictReader(f)}
    n = agree = same_ref = 0
    for cid, o in ora.items():
        if cid not in scr:
            continue
        n += 1
        s = scr[cid]
        if int(o["novel"]) == int(s["novel"] or -1):
            agree += 1
            same_ref += o["matched"] == s["matched_reference"]
        else:
            print(f"disagree {cid}: pymatgen novel={o['novel']} ({o['matched']}) "
                  f"xtalgen novel={s['novel']} ({s['matched_reference']})")
    print(f"novelty agreement {agree} / {n} ({100.0 * agree / max(n, 1):.2f}%), "
          f"same matched reference {same_ref}")
    return 0 if n and agree >= 0.99 * n else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("pairs")
    q.add_argument("pairs")
    q = sub.add_parser("novelty")
    q.add_argument("candidates")
    q.add_argument("reference")
    q.add_argument("-n", type=int, default=0)
    q.add_argument("-o", "--output")
    q.add_argument("--parse-all", action="store_true", help="parse every reference (timing)")
    q = sub.add_parser("compare")
    q.add_argument("oracle")
    q.add_argument("screen")
    a = p.parse_args()
    return {"pairs": cmd_pairs, "novelty": cmd_novelty, "compare": cmd_compare}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
