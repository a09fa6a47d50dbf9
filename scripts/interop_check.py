#!/usr/bin/env python3
"""interop_check.py: do pymatgen and ASE read xtalgen's CIF and POSCAR files as the same crystals?

For the first N rows of a CDVAE-format table (default: MP-20 val.csv), xtalgen's `convert` writes
each crystal as a P1 CIF, a POSCAR and a symmetrized CIF. This script then reads every file back
with pymatgen and with ASE and compares against the crystal parsed by pymatgen from the table's
own CIF text:
  - same composition,
  - lattice parameters a, b, c, alpha, beta, gamma within 1e-4 relative,
  - sites matched one to one (same element, periodic distance below 1e-3 A; pymatgen's
    StructureMatcher as a fallback for a permuted or re-wrapped cell),
  - the symmetrized CIF (read by pymatgen, which applies its symmetry operations) gives the same
    space group under SpacegroupAnalyzer(symprec=0.1) as the table's spacegroup.number, the same
    reduced composition, and the volume per atom within 2% (refinement idealizes the lattice).
pymatgen and ASE are test tools only (Debian python3-pymatgen, python3-ase), never runtime
dependencies of xtalgen. Run with the Python that has them, e.g.
    /usr/bin/python3 scripts/interop_check.py --binary build/xtalgen -n 1000
Exit status 0 when every crystal passes every check, 1 otherwise, 2 on bad usage.
"""
import argparse
import csv
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import warnings

LAT_RTOL = 1e-4
SITE_TOL = 1e-3  # Angstrom


def load_rows(path, n):
    csv.field_size_limit(1 << 30)
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for r in reader:
            rows.append(r)
            if n and len(rows) >= n:
                break
    return rows, reader.fieldnames


def lattice_ok(p_ref, p_got):
    return all(abs(a - b) <= LAT_RTOL * max(abs(a), 1e-12) for a, b in zip(p_ref, p_got))


def sites_match(ref, got):
    """Direct one-to-one site comparison in the reference cell; StructureMatcher as a fallback."""
    import numpy as np
    if len(ref) != len(got):
        return False
    fr = ref.frac_coords
    fg = got.lattice.get_fractional_coords(got.cart_coords)  # in the got cell
    # express got's Cartesian positions in the reference cell (lattices agree to 1e-4)
    fg = ref.lattice.get_fractional_coords(got.lattice.get_cartesian_coords(fg))
    used = set()
    for i, site in enumerate(ref):
        d = fg - fr[i]
        d -= np.round(d)
        dist = np.linalg.norm(ref.lattice.get_cartesian_coords(d), axis=1)
        ok = False
        for j in np.argsort(dist):
            if dist[j] > SITE_TOL:
                break
            if j not in used and got[j].species == site.species:
                used.add(j)
                ok = True
                break
        if not ok:
            from pymatgen.analysis.structure_matcher import StructureMatcher
            return StructureMatcher(primitive_cell=False, scale=False).fit(ref, got)
    return True


def check_one(job):
    """Returns (id, [failure messages])."""
    warnings.filterwarnings("ignore")
    from pymatgen.core import Structure
    from pymatgen.io.cif import CifParser
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    import ase.io

    mid, cif_text, sg_ref, dirs = job
    fails = []
    try:
        ref = CifParser.from_string(cif_text).get_structures(primitive=False)[0]
    except Exception as e:  # the reference itself does not parse in this pymatgen
        return mid, ["reference CIF unreadable by pymatgen: %s" % e]
    p_ref = ref.lattice.parameters

    for kind, path in (("cif", os.path.join(dirs["cif"], mid + ".cif")),
                       ("poscar", os.path.join(dirs["poscar"], mid + ".vasp"))):
        if not os.path.exists(path):
            fails.append("%s: file missing" % kind)
            continue
        # pymatgen
        try:
            got = Structure.from_file(path)
            if got.composition != ref.composition:
                fails.append("%s/pymatgen: composition %s != %s" % (kind, got.composition.formula,
                                                                    ref.composition.formula))
            elif not lattice_ok(p_ref, got.lattice.parameters):
                fails.append("%s/pymatgen: lattice %s != %s" % (kind, got.lattice.parameters, p_ref))
            elif not sites_match(ref, got):
                fails.append("%s/pymatgen: sites do not match" % kind)
        except Exception as e:
            fails.append("%s/pymatgen: cannot read: %s" % (kind, e))
        # ASE
        try:
            atoms = ase.io.read(path, format="cif" if kind == "cif" else "vasp")
            from pymatgen.io.ase import AseAtomsAdaptor
            got = AseAtomsAdaptor.get_structure(atoms)
            if got.composition != ref.composition:
                fails.append("%s/ase: composition %s != %s" % (kind, got.composition.formula,
                                                               ref.composition.formula))
            elif not lattice_ok(p_ref, tuple(atoms.cell.cellpar())):
                fails.append("%s/ase: lattice %s != %s" % (kind, tuple(atoms.cell.cellpar()), p_ref))
            elif not sites_match(ref, got):
                fails.append("%s/ase: sites do not match" % kind)
        except Exception as e:
            fails.append("%s/ase: cannot read: %s" % (kind, e))

    path = os.path.join(dirs["sym"], mid + ".cif")
    if not os.path.exists(path):
        return mid, fails + ["symmetrized cif: not written (see convert's message)"]
    try:
        sym = CifParser(path).get_structures(primitive=False)[0]
        sg = SpacegroupAnalyzer(sym, symprec=0.1).get_space_group_number()
        if sg_ref is not None and sg != sg_ref:
            fails.append("symmetrized cif: space group %d != %d" % (sg, sg_ref))
        if sym.composition.reduced_formula != ref.composition.reduced_formula:
            fails.append("symmetrized cif: formula %s != %s" % (sym.composition.reduced_formula,
                                                                ref.composition.reduced_formula))
        # spglib's refinement idealizes the lattice to the exact metric of the group, which
        # moves the volume by up to about 1% on MP-20; a larger change means a broken file.
        vpa_ref, vpa = ref.volume / len(ref), sym.volume / len(sym)
        if abs(vpa - vpa_ref) > 2e-2 * vpa_ref:
            fails.append("symmetrized cif: volume per atom %.5f != %.5f" % (vpa, vpa_ref))
    except Exception as e:
        fails.append("symmetrized cif: cannot read/analyse: %s" % e)
    return mid, fails


def run(cmd, partial_ok=False):
    """Runs xtalgen; exit 1 is accepted when partial_ok (some crystals not written: their
    missing files are counted as failures by the checks)."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode == 1 and partial_ok:
        sys.stderr.write(r.stderr)
    elif r.returncode != 0:
        sys.stderr.write("command failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr))
        sys.exit(1)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(here, "..", "build", "xtalgen"))
    ap.add_argument("--csv", default=os.path.join(here, "..", "..", "shared", "data", "mp_20",
                                                  "val.csv"))
    ap.add_argument("-n", type=int, default=0, help="first N rows (0: all)")
    ap.add_argument("-j", type=int, default=2, help="worker processes")
    ap.add_argument("--keep", help="folder to keep the written files in (default: a temp dir)")
    a = ap.parse_args()
    if not os.path.exists(a.csv):
        print("skip: %s not present" % a.csv)
        return 0
    if not os.access(a.binary, os.X_OK):
        ap.error("binary %s is not executable" % a.binary)
    t0 = time.time()
    rows, fields = load_rows(a.csv, a.n)
    tmp = None if a.keep else tempfile.TemporaryDirectory(prefix="xg_interop_")
    work = a.keep or tmp.name
    os.makedirs(work, exist_ok=True)
    sub = os.path.join(work, "subset.csv")
    with open(sub, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    dirs = {k: os.path.join(work, k) for k in ("cif", "poscar", "sym")}
    run([a.binary, "convert", "--quiet", sub, "-o", dirs["cif"], "--format", "cif"])
    run([a.binary, "convert", "--quiet", sub, "-o", dirs["poscar"], "--format", "poscar"])
    run([a.binary, "convert", "--quiet", "--symmetrize", "--symprec", "0.1", sub, "-o",
         dirs["sym"], "--format", "cif"], partial_ok=True)
    t_conv = time.time() - t0
    jobs = []
    for r in rows:
        sg = r.get("spacegroup.number", "")
        jobs.append((r["material_id"], r["cif"], int(float(sg)) if sg.strip() else None, dirs))
    bad = {}
    done = 0
    with multiprocessing.Pool(a.j) as pool:
        for mid, fails in pool.imap_unordered(check_one, jobs, chunksize=16):
            done += 1
            if fails:
                bad[mid] = fails
            if done % 500 == 0:
                sys.stderr.write("checked %d/%d (%d failing)\n" % (done, len(jobs), len(bad)))
    print("interop: %d crystals, %d pass every check, %d fail (convert %.1f s, total %.1f s)"
          % (len(jobs), len(jobs) - len(bad), len(bad), t_conv, time.time() - t0))
    kinds = {}
    for mid, fails in bad.items():
        for f in fails:
            kinds.setdefault(f.split(":")[0], []).append(mid)
    for k, ids in sorted(kinds.items()):
        print("  %-24s %d (e.g. %s)" % (k, len(ids), ", ".join(ids[:5])))
    for mid in list(bad)[:20]:
        print("  %s: %s" % (mid, "; ".join(bad[mid])))
    if tmp:
        tmp.cleanup()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
