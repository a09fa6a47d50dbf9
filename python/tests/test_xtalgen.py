"""Tests of the Python module xtalgen (ctypes over libxtalgen).

Run from the source tree:   PYTHONPATH=python python3 -m unittest discover -s python/tests
tests/e2e_install.sh runs them against an installed copy. XTALGEN_BIN (the xtalgen program)
enables the check that generate() gives the command's crystals. ASE and pymatgen tests are
skipped, with the reason, when those packages are absent (Debian: python3-ase,
python3-pymatgen)."""

import math
import os
import subprocess
import tempfile
import unittest

import xtalgen

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "fixtures", "data_cifs"))

try:
    import ase  # noqa: F401
    HAVE_ASE = True
except ImportError:
    HAVE_ASE = False
try:
    import pymatgen.core  # noqa: F401
    HAVE_PMG = True
except ImportError:
    HAVE_PMG = False

# Generation is the slow part: one small run shared by the tests that need crystals.
_GEN = {}


def generated():
    if "c" not in _GEN:
        _GEN["c"] = xtalgen.generate(3, steps=20, seed=3, batch=2)
    return _GEN["c"]


def nacl():
    return xtalgen.read(os.path.join(FIX, "NaCl.cif"))[0]


def close(a, b, tol=1e-9):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


class TestRead(unittest.TestCase):
    def test_nacl(self):
        c = nacl()
        self.assertEqual(c["id"], "NaCl")
        self.assertEqual(c["species"], ["Na", "Cl"])
        self.assertEqual(c["numbers"], [11, 17])
        self.assertEqual(len(c["lattice"]), 3)
        self.assertTrue(close(c["frac_coords"][1], [0.5, 0.5, 0.5]))
        self.assertAlmostEqual(c["lattice"][0][0], 3.988)

    def test_folder_and_poscar(self):
        cs = xtalgen.read(FIX)
        ids = [c["id"] for c in cs]
        self.assertIn("NaCl", ids)
        self.assertIn("POSCAR_ZnO", ids)
        zno = [c for c in cs if c["id"] == "POSCAR_ZnO"][0]
        self.assertEqual(sorted(set(zno["species"])), ["O", "Zn"])

    def test_errors(self):
        with self.assertRaises(xtalgen.XtalgenError) as cm:
            xtalgen.read("/nonexistent/x.cif")
        self.assertEqual(cm.exception.code, 1)
        self.assertIn("/nonexistent/x.cif", str(cm.exception))
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "bad.cif")
            with open(bad, "w") as f:
                f.write("data_x\n_cell_length_a 4\n_cell_length_b\n")
            with self.assertRaises(xtalgen.XtalgenError) as cm:
                xtalgen.read(bad)
            self.assertEqual(cm.exception.code, 2)
            self.assertIn("bad.cif", str(cm.exception))
        with self.assertRaises(xtalgen.XtalgenError):
            xtalgen.symmetry({"lattice": [[3, 0, 0], [0, 3, 0], [0, 0, 3]], "species": ["Xx"],
                              "frac_coords": [[0, 0, 0]]})


class TestWrite(unittest.TestCase):
    def test_roundtrip(self):
        c = nacl()
        with tempfile.TemporaryDirectory() as d:
            for name in ("a.cif", "POSCAR", "b.vasp", "c.extxyz"):
                p = os.path.join(d, name)
                xtalgen.write(p, c)
                r = xtalgen.read(p)
                self.assertEqual(len(r), 1, name)
                self.assertTrue(xtalgen.match(c, r[0])["match"], name)
                self.assertEqual(xtalgen.symmetry(r[0])["number"], 225, name)
            p = os.path.join(d, "two.cif")
            si = xtalgen.read(os.path.join(FIX, "Si.cif"))[0]
            xtalgen.write(p, [c, si])
            self.assertEqual([x["id"] for x in xtalgen.read(p)], ["two_NaCl", "two_Si"])
            with self.assertRaises(xtalgen.XtalgenError):
                xtalgen.write(os.path.join(d, "POSCAR_2"), [c, si])
            with self.assertRaises(xtalgen.XtalgenError):
                xtalgen.write(os.path.join(d, "x.txt"), c)
            self.assertEqual(sorted(os.listdir(d)),
                             sorted(["a.cif", "POSCAR", "b.vasp", "c.extxyz", "two.cif"]))


class TestSymmetryMatchScreen(unittest.TestCase):
    def test_symmetry(self):
        s = xtalgen.symmetry(nacl())
        self.assertEqual((s["number"], s["international"], s["pointgroup"]), (225, "Fm-3m", "m-3m"))
        self.assertEqual(sorted(s["wyckoffs"]), ["a", "b"])
        self.assertEqual(s["equivalent_atoms"], [0, 1])
        si = xtalgen.read(os.path.join(FIX, "Si.cif"))[0]
        self.assertEqual(xtalgen.symmetry(si)["number"], 227)

    def test_standardize(self):
        conv = xtalgen.standardize(nacl(), "conventional")
        self.assertEqual(len(conv["species"]), 8)
        self.assertTrue(xtalgen.match(conv, nacl())["match"])
        with self.assertRaises(ValueError):
            xtalgen.standardize(nacl(), "weird")

    def test_match(self):
        c = nacl()
        self.assertEqual(xtalgen.match(c, c, best=True),
                         {"match": True, "rms": 0.0, "max_dist": 0.0})
        cscl = xtalgen.read(os.path.join(FIX, "CsCl.cif"))[0]
        r = xtalgen.match(c, cscl)
        self.assertFalse(r["match"])
        self.assertTrue(math.isnan(r["rms"]))
        rattled = dict(c)
        rattled["frac_coords"] = [[0.01, 0, 0], [0.5, 0.5, 0.49]]
        r = xtalgen.match(c, rattled, best=True)
        self.assertTrue(r["match"])
        self.assertTrue(0 < r["rms"] < 0.1)
        self.assertFalse(xtalgen.match(c, rattled, stol=0.001)["match"])

    def test_screen(self):
        r = xtalgen.screen(nacl())
        self.assertTrue(r["valid_structure"] and r["valid_geometry"] and r["valid_composition"])
        self.assertEqual((r["spacegroup"], r["formula"], r["nelements"]), (225, "NaCl", 2))
        self.assertAlmostEqual(r["min_distance"], 3.988 * math.sqrt(2) / 2, places=6)
        self.assertTrue(r["rare_earth_free"])
        bad = {"lattice": [[4, 0, 0], [0, 4, 0], [0, 0, 4]], "species": ["Nd", "O"],
               "frac_coords": [[0, 0, 0], [0.075, 0, 0]]}
        r = xtalgen.screen(bad)
        self.assertFalse(r["valid_structure"])
        self.assertAlmostEqual(r["min_distance"], 0.3)
        self.assertFalse(r["rare_earth_free"])


class TestGenerate(unittest.TestCase):
    def test_generate(self):
        cs = generated()
        self.assertEqual([c["id"] for c in cs], ["gen-0000000", "gen-0000001", "gen-0000002"])
        for c in cs:
            self.assertTrue(1 <= len(c["species"]) <= 20)
            self.assertEqual(len(c["frac_coords"]), len(c["species"]))
            xtalgen.screen(c)  # analysable
        again = xtalgen.generate(3, steps=20, seed=3, batch=2)
        self.assertEqual(cs, again)  # the same seed gives the same crystals, to the bit
        other = xtalgen.generate(1, steps=20, seed=4)
        self.assertNotEqual(other[0]["frac_coords"], cs[0]["frac_coords"])

    def test_model_and_constraints(self):
        with xtalgen.Model() as m:
            self.assertTrue(m.path.endswith("xtalgen-mp20.h5"))
            self.assertEqual(m.num_conditions, 0)
            cs = m.generate(2, steps=10, seed=1, exclude_elements="O,N,rare-earths", natoms=6)
            for c in cs:
                self.assertEqual(len(c["species"]), 6)
                self.assertFalse(set(c["species"]) & {"O", "N", "La", "Nd", "Y", "Sc"})
            with self.assertRaises(xtalgen.XtalgenError) as cm:
                m.generate(1, steps=5, conditions={"dft_mag_density": 0.1})
            self.assertIn("unconditional", str(cm.exception))
        with self.assertRaises(xtalgen.XtalgenError):
            xtalgen.Model("/nonexistent/model.h5")

    def test_symmetric_by_default(self):
        # template sampling, as the command's default: 2.8% P1 over 1,000 crystals (README)
        numbers = [xtalgen.symmetry(c)["number"] for c in generated()]
        self.assertGreaterEqual(sum(n > 1 for n in numbers), 2, numbers)
        with self.assertRaises(xtalgen.XtalgenError):
            xtalgen.generate(1, steps=2, symmetry="spacegroup")

    @unittest.skipUnless(os.environ.get("XTALGEN_BIN"), "XTALGEN_BIN not set")
    def test_same_as_command(self):
        # the command's crystals, bit for bit, with templates (the default) and without
        for symmetry, lib in (("template", generated()),
                              ("none", xtalgen.generate(2, steps=8, seed=3, batch=2,
                                                        symmetry="none"))):
            n, steps = (3, 20) if symmetry == "template" else (2, 8)
            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "run")
                subprocess.run([os.environ["XTALGEN_BIN"], "generate", "-n", str(n), "--steps",
                                str(steps), "--seed", "3", "--batch", "2", "--symmetry",
                                symmetry, "--quiet", "-o", out], check=True)
                cmd = xtalgen.read(os.path.join(out, "generated.h5"))
            self.assertEqual(cmd, lib, symmetry)


@unittest.skipUnless(HAVE_ASE, "ASE not installed (Debian package python3-ase)")
class TestASE(unittest.TestCase):
    def test_to_and_from(self):
        import ase.io
        c = nacl()
        atoms = xtalgen.to_ase(c)
        self.assertEqual(atoms.get_chemical_formula(), "ClNa")
        self.assertAlmostEqual(atoms.get_volume(), xtalgen.screen(c)["volume"], places=8)
        back = xtalgen.from_ase(atoms)
        self.assertEqual(back["numbers"], c["numbers"])
        self.assertTrue(xtalgen.match(back, c)["match"])
        self.assertEqual(xtalgen.symmetry(atoms)["number"], 225)  # Atoms accepted directly
        for g in generated():
            a = xtalgen.to_ase(g)
            self.assertEqual(list(a.numbers), g["numbers"])
        # ASE reads what xtalgen writes
        with tempfile.TemporaryDirectory() as d:
            for name in ("g.cif", "POSCAR", "g.extxyz"):
                p = os.path.join(d, name)
                xtalgen.write(p, generated()[0])
                a = ase.io.read(p)
                self.assertEqual(sorted(a.get_chemical_symbols()), sorted(generated()[0]["species"]))
                self.assertAlmostEqual(a.get_volume(), xtalgen.screen(generated()[0])["volume"],
                                       places=4)


@unittest.skipUnless(HAVE_PMG, "pymatgen not installed (Debian package python3-pymatgen)")
class TestPymatgen(unittest.TestCase):
    def test_to_and_from(self):
        from pymatgen.analysis.structure_matcher import StructureMatcher
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
        c = nacl()
        s = xtalgen.to_pymatgen(c)
        self.assertEqual(s.composition.reduced_formula, "NaCl")
        self.assertEqual(SpacegroupAnalyzer(s, symprec=0.1).get_space_group_number(), 225)
        self.assertTrue(xtalgen.match(s, c)["match"])  # Structure accepted directly
        back = xtalgen.from_pymatgen(s)
        self.assertEqual(back["species"], c["species"])
        sm = StructureMatcher()
        gs = generated()
        for g in gs:
            p = xtalgen.to_pymatgen(g)
            self.assertEqual(len(p), len(g["species"]))
            self.assertEqual(sm.fit(p, p), xtalgen.match(g, g)["match"])
        # the verdict on a pair of different crystals agrees with pymatgen's
        a, b = xtalgen.to_pymatgen(gs[0]), xtalgen.to_pymatgen(gs[1])
        self.assertEqual(sm.fit(a, b), xtalgen.match(gs[0], gs[1])["match"])
        from pymatgen.core import Structure
        with tempfile.TemporaryDirectory() as d:
            for name in ("g.cif", "POSCAR"):
                p = os.path.join(d, name)
                xtalgen.write(p, gs[0])
                r = Structure.from_file(p)
                self.assertTrue(sm.fit(r, xtalgen.to_pymatgen(gs[0])), name)


if __name__ == "__main__":
    unittest.main()
