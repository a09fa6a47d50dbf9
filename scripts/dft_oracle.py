#!/usr/bin/env python3
"""dft_oracle.py: do pymatgen and ASE accept what `xtalgen export` writes for DFT?

For every crystal folder DIR/<id>/ of an export (formats cif,vasp and optionally espresso):
  - pymatgen's Poscar reads POSCAR; the cell is right-handed (det > 0) with a along x and b in
    the xy plane; the title's formula lists the elements in the order of the species line;
  - ASE reads POSCAR (format vasp) and DIR/<id>.cif; pymatgen's CifParser reads the CIF and
    StructureMatcher matches it with the POSCAR crystal (same geometry in one folder);
  - pymatgen's Incar reads INCAR: ENCUT 520, EDIFF 5e-5 per atom; a crystal with a magnetic
    element has ISPIN 2 and one MAGMOM per site; MAGMOM, LDAUU and LDAUL equal those of
    pymatgen's MPRelaxSet for the same structure (for elements MP lists by element);
  - pymatgen's Kpoints reads KPOINTS and its mesh and style equal
    Kpoints.automatic_density(structure, kppa);
  - POTCAR.spec equals MPRelaxSet(structure).potcar_symbols;
  - with pw.in: ase.io.read(format="espresso-in") gives the POSCAR's crystal (same cell and
    positions to 1e-6 A), and, for the first --match-limit crystals, StructureMatcher says it
    is the crystal of the CIF;
  - with --expect-provenance: the CIF comment block names model_sha256, seed and steps, and the
    POSCAR title carries sha256=, seed= and steps=.
pymatgen and ASE are test tools only (Debian python3-pymatgen, python3-ase), never runtime
dependencies. Exit status 0 when every check passes, 1 on a failure, 77 (skip) when pymatgen or
ASE is missing, 2 on bad usage.
    /usr/bin/python3 scripts/dft_oracle.py EXPORT_DIR [--kppa 1000] [--expect-provenance]
"""
import argparse
import multiprocessing
import os
import re
import sys
import warnings

try:
    import numpy as np
    from ase.io import read as ase_read
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.cif import CifParser
    from pymatgen.io.vasp import Incar, Kpoints, Poscar
    from pymatgen.io.vasp.sets import MPRelaxSet
except ImportError as exc:  # the oracle is optional: skip, do not fail
    print(f"dft_oracle: skipped, pymatgen/ASE not importable ({exc}); "
          "apt-get install python3-pymatgen python3-ase")
    sys.exit(77)

# Elements MPRelaxSet gives a moment by element (its lanthanide moments are for 3+ ions only,
# where xtalgen uses that ion's moment, so those are compared for ISPIN/length only).
MP_ELEMENT_MOMENTS = {"Ce", "Co", "Cr", "Eu", "Fe", "Mn", "Mo", "Ni", "V", "W"}
MAGNETIC = MP_ELEMENT_MOMENTS | {"Pr", "Nd", "Pm", "Sm", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb"}


def title_elements(title):
    out = []
    for tok in title.split():
        m = re.fullmatch(r"([A-Z][a-z]?)(\d+(?:\.\d+)?)", tok)
        if not m:
            break
        out.append(m.group(1))
    return out


def read_pw(path):
    """ase.io.read(format="espresso-in"). ASE 3.22 takes each species' valence from its
    pseudopotential file or, without one, from its SSSP table, which stops at Z = 86 (an
    IndexError for Np, Pu, ...); then the read is repeated with stub pseudopotential files
    (z_valence only, in a temporary ESPRESSO_PSEUDO) so the geometry can be checked."""
    try:
        return ase_read(path, format="espresso-in")
    except IndexError:
        import tempfile
        stub = tempfile.mkdtemp(prefix="dft_oracle_pseudo")
        text = open(path).read()
        block = text.split("ATOMIC_SPECIES", 1)[1].split("CELL_PARAMETERS", 1)[0]
        for line in block.strip().splitlines():
            parts = line.split()
            if len(parts) == 3:
                with open(os.path.join(stub, parts[2]), "w") as f:
                    f.write('<PP_HEADER z_valence="1.0" />\n')
        old = os.environ.get("ESPRESSO_PSEUDO")
        os.environ["ESPRESSO_PSEUDO"] = stub
        try:
            return ase_read(path, format="espresso-in")
        finally:
            if old is None:
                del os.environ["ESPRESSO_PSEUDO"]
            else:
                os.environ["ESPRESSO_PSEUDO"] = old


def check_one(args):
    folder, cif, kppa, expect_prov, do_match, gen_cif = args
    fails = []
    stats = {"espresso": 0, "matched_pw": 0}
    warnings.simplefilter("ignore")
    name = os.path.basename(folder)
    try:
        pos = Poscar.from_file(os.path.join(folder, "POSCAR"))
        s = pos.structure
        L = s.lattice.matrix
        if not np.linalg.det(L) > 0:
            fails.append("POSCAR left-handed")
        if abs(L[0][1]) > 1e-12 or abs(L[0][2]) > 1e-12 or abs(L[1][2]) > 1e-12:
            fails.append("POSCAR not in standard orientation")
        if title_elements(pos.comment) != pos.site_symbols:
            fails.append(f"title {pos.comment.split('  ')[0]!r} vs species {pos.site_symbols}")
        if expect_prov and not all(k in pos.comment for k in ("sha256=", "seed=", "steps=")):
            fails.append("POSCAR title lacks provenance")
        ase_read(os.path.join(folder, "POSCAR"), format="vasp")
    except Exception as exc:
        return name, [f"POSCAR unreadable: {exc}"], stats
    has_cif = os.path.exists(cif)
    try:
        if not has_cif:
            raise FileNotFoundError  # exported without cif: nothing to compare
        c = CifParser(cif).get_structures(primitive=False)[0]
        ase_read(cif)
        if not StructureMatcher().fit(c, s):
            fails.append("CIF and POSCAR are different crystals")
        if expect_prov:
            text = open(cif).read()
            for key in ("# model_sha256: ", "# seed: ", "# steps: "):
                if key not in text:
                    fails.append(f"CIF lacks '{key.strip()}'")
    except FileNotFoundError:
        pass
    except Exception as exc:
        fails.append(f"CIF: {exc}")
    if gen_cif:
        try:
            g = CifParser(gen_cif).get_structures(primitive=False)[0]
            if not StructureMatcher().fit(g, s):
                fails.append("POSCAR is not the crystal generate wrote")
        except Exception as exc:
            fails.append(f"generated CIF: {exc}")
    mp = MPRelaxSet(s, sort_structure=False)
    try:
        inc = Incar.from_file(os.path.join(folder, "INCAR"))
        if inc.get("ENCUT") != 520:
            fails.append(f"ENCUT {inc.get('ENCUT')}")
        if abs(inc.get("EDIFF", 0) - 5e-5 * len(s)) > 1e-12:
            fails.append(f"EDIFF {inc.get('EDIFF')}")
        symbols = {sp.symbol for sp in s.composition.elements}
        magnetic = bool(symbols & MAGNETIC)
        if magnetic:
            mag = inc.get("MAGMOM")
            if inc.get("ISPIN") != 2 or not isinstance(mag, list) or len(mag) != len(s):
                fails.append(f"magnetic: ISPIN {inc.get('ISPIN')}, MAGMOM {mag}")
            elif not (symbols & (MAGNETIC - MP_ELEMENT_MOMENTS)):
                ref = mp.incar.get("MAGMOM")
                if [float(x) for x in mag] != [float(x) for x in ref]:
                    fails.append(f"MAGMOM {mag} vs MPRelaxSet {ref}")
        elif inc.get("ISPIN") != 1 or "MAGMOM" in inc:
            fails.append("non-magnetic crystal with spin settings")
        ref_inc = mp.incar
        for key in ("LDAUU", "LDAUL"):
            a, b = inc.get(key), ref_inc.get(key)
            if (a is None) != (b is None) or (a is not None and
                                              [float(x) for x in a] != [float(x) for x in b]):
                fails.append(f"{key} {a} vs MPRelaxSet {b}")
    except Exception as exc:
        fails.append(f"INCAR: {exc}")
    try:
        k = Kpoints.from_file(os.path.join(folder, "KPOINTS"))
        ref = Kpoints.automatic_density(s, kppa)
        if list(k.kpts[0]) != list(ref.kpts[0]) or k.style != ref.style:
            fails.append(f"KPOINTS {k.kpts[0]} {k.style.name} vs pymatgen "
                         f"{ref.kpts[0]} {ref.style.name}")
    except Exception as exc:
        fails.append(f"KPOINTS: {exc}")
    try:
        spec = open(os.path.join(folder, "POTCAR.spec")).read().split()
        if spec != mp.potcar_symbols:
            fails.append(f"POTCAR.spec {spec} vs MPRelaxSet {mp.potcar_symbols}")
    except Exception as exc:
        fails.append(f"POTCAR.spec: {exc}")
    pw = os.path.join(folder, "pw.in")
    if os.path.exists(pw):
        stats["espresso"] = 1
        try:
            atoms = read_pw(pw)
            if not np.allclose(atoms.cell.array, L, atol=1e-6):
                fails.append("pw.in cell differs from POSCAR")
            # same atoms in the same order: Cartesian positions modulo the cell
            d = atoms.get_scaled_positions(wrap=True) - s.frac_coords % 1.0
            d -= np.round(d)
            if np.abs(d @ L).max() > 1e-6 or atoms.get_chemical_symbols() != \
                    [sp.symbol for sp in s.species]:
                fails.append("pw.in atoms differ from POSCAR")
            if do_match:
                ref = CifParser(cif).get_structures(primitive=False)[0] if has_cif else s
                if StructureMatcher().fit(AseAtomsAdaptor.get_structure(atoms), ref):
                    stats["matched_pw"] = 1
                else:
                    fails.append("pw.in read by ASE is not the CIF's (or POSCAR's) crystal")
        except Exception as exc:
            fails.append(f"pw.in: {exc}")
    return name, fails, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export_dir")
    ap.add_argument("--kppa", type=float, default=1000)
    ap.add_argument("--expect-provenance", action="store_true")
    ap.add_argument("--match-limit", type=int, default=100,
                    help="StructureMatcher for pw.in vs CIF on this many crystals (default 100)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--generated", metavar="RUNDIR",
                    help="also match each POSCAR with RUNDIR/cif/<id>.cif (the crystal as "
                         "generate wrote it)")
    a = ap.parse_args()
    folders = sorted(f for f in os.listdir(a.export_dir)
                     if os.path.isdir(os.path.join(a.export_dir, f)))
    if not folders:
        print(f"dft_oracle: no crystal folders in {a.export_dir}")
        return 1
    jobs = []
    for i, f in enumerate(folders):
        path = os.path.join(a.export_dir, f)
        gen = os.path.join(a.generated, "cif", f + ".cif") if a.generated else None
        jobs.append((path, path + ".cif", a.kppa, a.expect_provenance, i < a.match_limit, gen))
    with multiprocessing.Pool(a.jobs) as pool:
        results = pool.map(check_one, jobs, chunksize=8)
    bad = [(n, f) for n, f, _ in results if f]
    n_pw = sum(st["espresso"] for _, _, st in results)
    n_match = sum(st["matched_pw"] for _, _, st in results)
    for n, f in bad[:20]:
        print(f"FAIL {n}: {'; '.join(f)}")
    print(f"dft_oracle: {len(folders) - len(bad)}/{len(folders)} crystal folders pass "
          f"(POSCAR right-handed and read by pymatgen and ASE, title = species order, INCAR/"
          f"KPOINTS/POTCAR.spec = MPRelaxSet/automatic_density, CIF = POSCAR crystal); "
          f"pw.in read by ASE as the POSCAR's cell and atoms: {n_pw}; "
          f"StructureMatcher pw.in = CIF: {n_match}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
