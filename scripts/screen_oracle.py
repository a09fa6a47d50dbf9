#!/usr/bin/env python3
"""screen_oracle.py: an independent re-check with pymatgen of what `xtalgen screen` reports for a
folder of crystals (structural and compositional validity, uniqueness, novelty). A TEST ORACLE,
never a runtime dependency of xtalgen.

Needs pymatgen and ASE (Debian: apt-get install -y python3-pymatgen python3-ase); run it with
/usr/bin/python3.

  screen_oracle.py DIR --reference REF.csv [--screen DIR/screen/screen.csv] [-o OUT.csv]
                   [--skip-novelty] [--oxidation-states {all,icsd,common}]

DIR is a `xtalgen generate` output folder (its CIFs in DIR/cif/<id>.cif) or a folder of CIF files
itself; the id of a crystal is its file name without .cif, as in screen.csv. REF.csv is a
CDVAE-format table (material_id, pretty_formula, cif), e.g. ../shared/data/mp_20/train.csv;
--reference may be repeated (references are searched in the order given, rows in file order).

What is checked, and how:
  reading      every CIF with pymatgen (Structure.from_file, the cell as written) and with ASE
               (ase.io.read); failures are listed by name. Both readers merge atoms that
               (nearly) coincide (pymatgen within 1e-4 in fractional coordinates, or it
               rejects the file when the merged occupancy exceeds 1); so for a CIF whose only
               symmetry operation is the identity the atom list as written (ASE's
               get_unsymmetrized_structure) is counted too, and when pymatgen's number of
               sites differs from it, the atoms as written are checked, since overlapping
               atoms are exactly what structural validity must see (noted by name).
  structure    CDVAE's structure_validity: every pairwise periodic distance (pymatgen
               distance_matrix, diagonal filled large) >= 0.5 A and volume >= 0.1 A^3, plus,
               as xtalgen does (crystal/xg_validity.h), an atom's distance to its own periodic
               image, i.e. the shortest lattice vector; crystals where that extra term decides
               the verdict are listed.
  composition  CDVAE's smact_validity, rules mirrored from crystal/xg_oxidation.h, DATA FROM
               PYMATGEN (so disagreements with xtalgen, which embeds SMACT's tables, come from
               the tables only): elements by increasing Z, counts divided by their gcd; one
               element -> valid; every element a metal (pymatgen Element.is_metal) -> valid
               (alloy); otherwise valid when one oxidation state per element (default
               pymatgen Element.oxidation_states, the full list; --oxidation-states icsd or
               common for Element.icsd_oxidation_states / common_oxidation_states) gives
               sum(state * count) == 0 and passes the Pauling test over element pairs in Z
               order: a cation (state > 0) strictly less electronegative (pymatgen Element.X)
               than an anion (state < 0); a pair reaching the comparison with an undefined
               electronegativity ends the test as a pass (SMACT's TypeError path). SMACT's own
               table differs from pymatgen's for ~38 elements (e.g. Pd +1/+6, Ag +4, Bi +1/+7,
               Xe/Kr/Rn have states in SMACT, none in pymatgen) and its metals list differs
               for Ge, Sb, Po (SMACT metals) and Pm, Lr (pymatgen metals).
  unique       StructureMatcher() defaults, group_structures over every crystal read: a
               crystal is unique when it opens its group (the first, in file order, of the
               crystals it matches within its reduced formula); duplicate_of = the opener.
  novel        as matcher_oracle.py: fit(candidate, reference) against the references of the
               same reduced formula, in file order; novel when none fits; the first fit is the
               matched reference. The reference tables are streamed once; only rows whose
               pretty_formula (normalised by pymatgen) occurs among the candidates are parsed.

Prints counts and rates (as xtalgen's summary: valid_structure, valid_composition, unique,
novel, valid, unique_valid, novel_unique_valid, all over the number of crystals), and with
--screen the per-column agreement with xtalgen's screen.csv and the disagreeing ids. OUT.csv has
id,valid_structure,valid_composition,unique,novel per crystal (novel empty with --skip-novelty).
Exit status 0, or 1 when a CIF could not be read or (with --screen) valid_structure, unique or
novel disagrees, or valid_composition disagrees even with SMACT's tables (data differences
between pymatgen's and SMACT's tables alone are reported, not failed).
"""
import argparse
import collections
import csv
import itertools
import math
import os
import sys
import time
import warnings
from functools import reduce

csv.field_size_limit(1 << 30)
warnings.filterwarnings("ignore")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import matcher_oracle  # noqa: E402  (same folder: StructureMatcher() and CIF-text parsing)

MIN_DISTANCE = 0.5  # Angstrom, CDVAE's cutoff
MIN_VOLUME = 0.1    # Angstrom^3


# ------------------------------------------------------------------------------- reading ----

def cif_paths(folder):
    """(id, path) of the CIFs of a generate folder (DIR/cif) or of a folder of CIFs, by name."""
    sub = os.path.join(folder, "cif")
    d = sub if os.path.isdir(sub) else folder
    names = sorted(f for f in os.listdir(d) if f.lower().endswith(".cif"))
    return [(os.path.splitext(f)[0], os.path.join(d, f)) for f in names]


def raw_p1_atoms(path):
    """ASE Atoms of a CIF's atom list exactly as written (no merging of close atoms) when the
    CIF has no symmetry operation but the identity; None otherwise or on failure."""
    try:
        from ase.io.cif import parse_cif

        block = next(b for b in parse_cif(path) if b.has_structure())
        ops = block._get_any(["_space_group_symop_operation_xyz",
                              "_space_group_symop.operation_xyz",
                              "_symmetry_equiv_pos_as_xyz"])
        if ops and any(o.replace(" ", "").lower() != "x,y,z" for o in ops):
            return None
        if not ops and (block._get_spacegroup_number() or 1) != 1:
            return None
        return block.get_unsymmetrized_structure()
    except Exception:  # noqa: BLE001
        return None


def read_crystal(path):
    """(structure or None, read by both, note). pymatgen's structure, or the atoms exactly as
    written (P1) / ASE's atoms when pymatgen fails or counts a different number of atoms."""
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    s = a = None
    err = []
    try:
        s = Structure.from_file(path)
    except Exception as e:  # noqa: BLE001: an oracle reports, it does not crash
        err.append(f"pymatgen: {type(e).__name__}: {e}")
    try:
        import ase.io

        a = ase.io.read(path, format="cif")
    except Exception as e:  # noqa: BLE001
        err.append(f"ase: {type(e).__name__}: {e}")
    both = s is not None and a is not None
    raw = raw_p1_atoms(path)
    truth = raw if raw is not None else a
    if truth is not None and (s is None or len(truth) != len(s)):
        what = "the atom list as written" if raw is not None else "ase's atoms"
        err.append(f"pymatgen read {len(s) if s is not None else 0} sites, ase "
                   f"{len(a) if a is not None else 0}, the CIF lists {len(truth)}: "
                   f"checked with {what}")
        s = AseAtomsAdaptor.get_structure(truth)
    return s, both, "; ".join(err)


# ---------------------------------------------------------------------- structural validity ----

def shortest_lattice_vector(lattice):
    """Length of the shortest non-zero lattice vector (LLL basis, combinations in [-2, 2]^3)."""
    import numpy as np

    m = np.array(lattice.lll_matrix)
    best = math.inf
    for c in itertools.product(range(-2, 3), repeat=3):
        if c != (0, 0, 0):
            best = min(best, float(np.linalg.norm(np.dot(c, m))))
    return best


def structure_validity(s):
    """(valid, valid_cdvae_strict, min_pair_distance, self_image_distance, volume)."""
    import numpy as np

    n = len(s)
    d = np.array(s.distance_matrix, dtype=float) if n > 1 else np.zeros((1, 1))
    d = d + np.diag(np.full(d.shape[0], MIN_DISTANCE + 10.0))  # as CDVAE
    pair = float(d.min()) if n > 1 else math.inf
    self_img = shortest_lattice_vector(s.lattice)
    vol = float(s.volume)
    strict = not (pair < MIN_DISTANCE or vol < MIN_VOLUME)
    full = strict and not (self_img < MIN_DISTANCE)
    return full, strict, pair, self_img, vol


# ------------------------------------------------------------------- compositional validity ----

class OxidationData:
    """pymatgen's per-element data, cached: states, Pauling electronegativity, metal flag.
    smact: {symbol: (states, is_metal)} from xtalgen's embedded SMACT table, used (for the
    states, the metal flags or both, per `use`) only to explain disagreements."""

    def __init__(self, which, smact=None, use=()):
        self.which = which
        self.smact = smact or {}
        self.use = use
        self.cache = {}

    def get(self, el):
        if el.symbol not in self.cache:
            states = {"all": el.oxidation_states, "icsd": el.icsd_oxidation_states,
                      "common": el.common_oxidation_states}[self.which]
            metal = bool(el.is_metal)
            if el.symbol in self.smact:
                if "states" in self.use:
                    states = self.smact[el.symbol][0]
                if "metals" in self.use:
                    metal = self.smact[el.symbol][1]
            x = el.X  # nan (with a warning) when pymatgen has no Pauling value
            self.cache[el.symbol] = (tuple(states or ()), x, metal)
        return self.cache[el.symbol]


def xtalgen_smact_table():
    """{symbol: (states, is_metal)} parsed from ../crystal/xg_oxidation.c, or {} if absent.
    Used only to attribute a disagreement to the data (the rules stay the oracle's own)."""
    import re

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crystal",
                        "xg_oxidation.c")
    try:
        src = open(path).read()
    except OSError:
        return {}
    out = {}
    for sym, met, n, ox in re.findall(r'\{"(\w+)", (\d), (\d+), \{([-\d, ]*)\}\}', src):
        states = tuple(int(x) for x in ox.split(",")[: int(n)]) if int(n) else ()
        out[sym] = (states, bool(int(met)))
    return out


def pauling_ok(states, enegs):
    """SMACT's eneg_states_test over pairs in order; a NaN reaching a comparison -> pass."""
    for i, j in itertools.combinations(range(len(states)), 2):
        cat_an = states[i] > 0 and states[j] < 0
        an_cat = states[i] < 0 and states[j] > 0
        if not (cat_an or an_cat):
            continue
        if math.isnan(enegs[i]) or math.isnan(enegs[j]):
            return True
        if cat_an and enegs[i] >= enegs[j]:
            return False
        if an_cat and enegs[i] <= enegs[j]:
            return False
    return True


def composition_validity(comp, data):
    """1/0 as CDVAE's smact_validity with pymatgen data; comp a pymatgen Composition."""
    amounts = sorted(((el.Z, el, int(round(q))) for el, q in comp.element_composition.items()),
                     key=lambda t: t[0])
    amounts = [t for t in amounts if t[2] > 0]
    if len(amounts) == 1:
        return 1
    g = reduce(math.gcd, (t[2] for t in amounts))
    counts = [t[2] // g for t in amounts]
    info = [data.get(t[1]) for t in amounts]
    if all(m for _, _, m in info):
        return 1
    lists = [s for s, _, _ in info]
    enegs = [x for _, x, _ in info]
    if any(not s for s in lists):
        return 0
    # depth-first over elements with bounds on what the rest can still add (exhaustive)
    k = len(lists)
    lo = [0] * (k + 1)
    hi = [0] * (k + 1)
    for i in range(k - 1, -1, -1):
        lo[i] = lo[i + 1] + counts[i] * min(lists[i])
        hi[i] = hi[i + 1] + counts[i] * max(lists[i])
    chosen = [0] * k

    def dfs(i, total):
        if i == k:
            return total == 0 and pauling_ok(chosen, enegs)
        for st in lists[i]:
            t = total + counts[i] * st
            if t + lo[i + 1] > 0 or t + hi[i + 1] < 0:
                continue
            chosen[i] = st
            if dfs(i + 1, t):
                return True
        return False

    return int(dfs(0, 0))


def explain(verdict, alt):
    """Which table swap (to SMACT's, as embedded in xtalgen) flips the pymatgen-data verdict."""
    if not alt:
        return "no SMACT table to compare with"
    if alt["both"] == verdict:
        return f"same verdict {verdict} with SMACT's states and metals"
    parts = [k for k in ("states", "metals") if alt[k] != verdict]
    return (f"with SMACT's states and metals: {alt['both']}; flipped by SMACT's "
            + (" or ".join(parts) + " alone" if parts else "states and metals together"))


# ------------------------------------------------------------------- uniqueness and novelty ----

def uniqueness(structs, sm):
    """duplicate_of index (-1 for a group's opener) for each structure, pymatgen group_structures."""
    pos = {id(s): i for i, s in enumerate(structs)}
    dup = [-1] * len(structs)
    for group in sm.group_structures(structs):
        idx = [pos[id(s)] for s in group]
        first = idx[0]  # group_structures opens groups in input order within a formula
        assert first == min(idx)
        for i in idx[1:]:
            dup[i] = first
    return dup


def load_references(paths, wanted):
    """reduced formula -> [(material_id, Structure)] in file order, parsing only wanted formulas."""
    from pymatgen.core import Composition

    norm = {}
    refs = collections.defaultdict(list)
    nrows = nparsed = 0
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                nrows += 1
                pf = row["pretty_formula"]
                if pf not in norm:
                    try:
                        norm[pf] = Composition(pf).reduced_formula
                    except Exception:  # noqa: BLE001
                        norm[pf] = pf
                if norm[pf] not in wanted:
                    continue
                s = matcher_oracle._parse(row["cif"])
                nparsed += 1
                refs[s.composition.reduced_formula].append((row["material_id"], s))
    return refs, nrows, nparsed


def novelty(structs, refs, sm):
    """(novel 0/1, matched id or '') per structure, first fit in file order."""
    out = []
    for s in structs:
        match = ""
        for rid, r in refs.get(s.composition.reduced_formula, []):
            if sm.fit(s, r):
                match = rid
                break
        out.append((0 if match else 1, match))
    return out


# ---------------------------------------------------------------------------- comparison ----

def compare(rows, screen_path):
    """Per-column agreement with xtalgen's screen.csv; returns the number of disagreements."""
    from pymatgen.core import Composition

    with open(screen_path, newline="") as f:
        scr = {r["id"]: r for r in csv.DictReader(f)}
    ora = {r["id"]: r for r in rows}
    only_o = sorted(set(ora) - set(scr))
    only_s = sorted(set(scr) - set(ora))
    if only_o or only_s:
        print(f"ids only in the oracle: {len(only_o)} {only_o[:10]}; "
              f"only in screen.csv: {len(only_s)} {only_s[:10]}")
    common = [i for i in ora if i in scr]

    def flag(v):
        return "" if v in (None, "", -1) else str(int(v))

    def same_formula(o, s):
        try:
            return Composition(s["formula"]).reduced_formula == o["reduced_formula"]
        except Exception:  # noqa: BLE001
            return False

    checks = [
        ("natoms", lambda o, s: str(o["natoms"]) == s["natoms"]),
        ("formula (reduced)", same_formula),
        ("valid_structure", lambda o, s: flag(o["valid_structure"]) == s["valid_structure"]),
        ("valid_composition",
         lambda o, s: flag(o["valid_composition"]) == s["valid_composition"]),
        ("unique", lambda o, s: flag(o["unique"]) == s["unique"]),
        ("duplicate_of", lambda o, s: o["duplicate_of"] == s["duplicate_of"]),
    ]
    if any(o["novel"] is not None for o in rows):
        checks += [
            ("novel", lambda o, s: flag(o["novel"]) == s["novel"]),
            ("matched_reference", lambda o, s: o["matched"] == s["matched_reference"]),
        ]
    bad_total = 0
    print(f"agreement with {screen_path} ({len(common)} crystals in both):")
    for name, ok in checks:
        bad = [i for i in common if not ok(ora[i], scr[i])]
        if name == "valid_composition" and rows and rows[0].get("smact_verdicts"):
            pass  # counted below: only what SMACT's own tables do not explain is a failure
        elif name not in ("natoms", "formula (reduced)", "duplicate_of", "matched_reference"):
            bad_total += len(bad)
        print(f"  {name:18s} agree {len(common) - len(bad):6d}  disagree {len(bad):5d}")
        for i in bad[:50]:
            o, s = ora[i], scr[i]
            if name == "valid_composition":
                extra = f" formula {o['formula']}; {o['why_composition']}"
            elif name == "valid_structure":
                extra = f" min pair {o['min_pair']:.4f} A, self image {o['self_image']:.4f} A, " \
                        f"volume {o['volume']:.4f} A^3"
            elif name in ("novel", "matched_reference"):
                extra = f" oracle matched '{o['matched']}', xtalgen '{s['matched_reference']}'"
            elif name in ("unique", "duplicate_of"):
                extra = f" oracle duplicate_of '{o['duplicate_of']}', " \
                        f"xtalgen '{s['duplicate_of']}'"
            elif name == "formula (reduced)":
                extra = f" oracle {o['reduced_formula']}, xtalgen {s['formula']}"
            else:
                extra = f" oracle {o['natoms']}, xtalgen {s['natoms']}"
            if name in ("natoms", "formula (reduced)", "duplicate_of", "matched_reference"):
                print(f"    {i}:{extra}")
            else:
                print(f"    {i}: oracle {flag(o[name])} xtalgen {s[name]};{extra}")
        if len(bad) > 50:
            print(f"    ... {len(bad) - 50} more")
    if common and ora[common[0]].get("smact_verdicts"):
        bad = [i for i in common
               if flag(ora[i]["smact_verdicts"]["both"]) != scr[i]["valid_composition"]]
        print(f"  rules check: the oracle's composition rules with SMACT's states and metals "
              f"(crystal/xg_oxidation.c) instead of pymatgen's: agree {len(common) - len(bad)}, "
              f"disagree {len(bad)} {bad[:20]}")
        bad_total += len(bad)
    return bad_total


# ---------------------------------------------------------------------------------- main ----

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("dir", help="generate output folder (DIR/cif/*.cif) or a folder of CIFs")
    p.add_argument("--reference", action="append", default=[],
                   help="CDVAE-format CSV of known crystals (repeatable)")
    p.add_argument("--screen", help="xtalgen's screen.csv to compare with")
    p.add_argument("-o", "--output", help="write id,valid_structure,valid_composition,unique,"
                   "novel per crystal")
    p.add_argument("--skip-novelty", action="store_true")
    p.add_argument("--oxidation-states", choices=("all", "icsd", "common"), default="all",
                   help="pymatgen Element list: oxidation_states (default), "
                        "icsd_oxidation_states or common_oxidation_states")
    a = p.parse_args()
    if not a.skip_novelty and not a.reference:
        p.error("--reference is needed unless --skip-novelty")

    t0 = time.time()
    paths = cif_paths(a.dir)
    if not paths:
        print(f"no CIF files in {a.dir}", file=sys.stderr)
        return 1
    rows, structs, failed, notes = [], [], [], []
    for cid, path in paths:
        s, both_ok, note = read_crystal(path)
        if not both_ok:
            failed.append((cid, note))
        elif note:
            notes.append((cid, note))
        if s is None:
            continue
        rows.append({"id": cid, "structure": s})
        structs.append(s)
    t_read = time.time() - t0
    print(f"read {len(paths)} CIFs from {a.dir}: {len(paths) - len(failed)} by both pymatgen "
          f"and ASE, {len(rows)} checked")
    for cid, note in failed:
        print(f"  unreadable {cid}: {note}")
    for cid, note in notes:
        print(f"  note {cid}: {note}")

    t0 = time.time()
    data = OxidationData(a.oxidation_states)
    smact = xtalgen_smact_table()
    smact_data = {} if not smact else {
        k: OxidationData(a.oxidation_states, smact, use)
        for k, use in (("states", ("states",)), ("metals", ("metals",)),
                       ("both", ("states", "metals")))}
    for r in rows:
        s = r["structure"]
        full, strict, pair, self_img, vol = structure_validity(s)
        r.update(valid_structure=int(full), strict=int(strict), min_pair=pair,
                 self_image=self_img, volume=vol, natoms=len(s), composition=s.composition,
                 formula=s.composition.formula.replace(" ", ""),
                 reduced_formula=s.composition.reduced_formula,
                 valid_composition=composition_validity(s.composition, data))
        r["smact_verdicts"] = {k: composition_validity(s.composition, d)
                               for k, d in smact_data.items()}
        r["why_composition"] = explain(r["valid_composition"], r["smact_verdicts"])
    t_checks = time.time() - t0

    t0 = time.time()
    sm = matcher_oracle._matcher()
    dup = uniqueness(structs, sm)
    for r, d in zip(rows, dup):
        r["unique"] = int(d < 0)
        r["duplicate_of"] = rows[d]["id"] if d >= 0 else ""
    t_unique = time.time() - t0

    t0 = time.time()
    nrows = nparsed = 0
    if a.skip_novelty:
        for r in rows:
            r["novel"], r["matched"] = None, ""
    else:
        wanted = {s.composition.reduced_formula for s in structs}
        refs, nrows, nparsed = load_references(a.reference, wanted)
        for r, (nov, m) in zip(rows, novelty(structs, refs, sm)):
            r["novel"], r["matched"] = nov, m
    t_novel = time.time() - t0

    # report
    n = len(rows)
    strict_only = [r["id"] for r in rows if r["strict"] != r["valid_structure"]]
    cnt = collections.OrderedDict()
    cnt["valid_structure"] = sum(r["valid_structure"] for r in rows)
    cnt["valid_composition"] = sum(r["valid_composition"] for r in rows)
    cnt["unique"] = sum(r["unique"] for r in rows)
    if not a.skip_novelty:
        cnt["novel"] = sum(r["novel"] for r in rows)
    valid = [r["valid_structure"] and r["valid_composition"] for r in rows]
    cnt["valid"] = sum(valid)
    cnt["unique_valid"] = sum(v and r["unique"] for v, r in zip(valid, rows))
    if not a.skip_novelty:
        cnt["novel_unique_valid"] = sum(v and r["unique"] and r["novel"]
                                        for v, r in zip(valid, rows))
    print(f"pymatgen oracle: {n} crystals"
          + ("" if a.skip_novelty else f", {nrows} reference rows ({nparsed} parsed)")
          + "; oxidation states: pymatgen Element."
          + {"all": "oxidation_states", "icsd": "icsd_oxidation_states",
             "common": "common_oxidation_states"}[a.oxidation_states])
    print(f"  {'flag':22s} {'count':>8s} {'rate':>8s}")
    for k, v in cnt.items():
        print(f"  {k:22s} {v:8d} {100.0 * v / max(n, 1):7.2f}%")
    if strict_only:
        print(f"  valid by CDVAE's distance matrix alone but with a lattice vector < "
              f"{MIN_DISTANCE} A: {strict_only}")
    print(f"  times: read {t_read:.1f} s, checks {t_checks:.1f} s, unique {t_unique:.1f} s, "
          f"novelty (reference reading included) {t_novel:.1f} s")

    if a.output:
        with open(a.output, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "valid_structure", "valid_composition", "unique", "novel"])
            for r in rows:
                w.writerow([r["id"], r["valid_structure"], r["valid_composition"], r["unique"],
                            "" if r["novel"] is None else r["novel"]])
    rc = 1 if failed else 0
    if a.screen:
        rc |= 1 if compare(rows, a.screen) else 0
    return rc


if __name__ == "__main__":
    sys.exit(main())
