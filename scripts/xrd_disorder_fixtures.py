#!/usr/bin/python3
"""Writes the disordered-crystal XRD fixtures (tests/fixtures/xrd_disorder_*.cif and the
reference peak lists *_peaks.csv) with pymatgen, the oracle of tests/test_xrd.c.

    /usr/bin/python3 scripts/xrd_disorder_fixtures.py tests/fixtures

Structures: a rutile with Ta/Cr sharing the cation site (MatterGen's TaCr2O6 disorder, here
1/3 Ta + 2/3 Cr on every cation site), and a rock salt with vacancies (Fe0.9O-like: Fe 0.9)
plus one mixed anion site with a vacancy (O 0.5 + F 0.3). Peaks: XRDCalculator('CuKa'),
0..90 degrees, written with 10 significant digits."""
import os
import sys

from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.analysis.diffraction.xrd import XRDCalculator

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
mix = {"Ta": 1.0 / 3.0, "Cr": 2.0 / 3.0}
u = 0.3047
rutile = Structure(Lattice.tetragonal(4.652, 3.022), [mix, mix, "O", "O", "O", "O"],
                   [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [1 - u, 1 - u, 0],
                    [0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]])
fe = {"Fe": 0.9}
an = {"O": 0.5, "F": 0.3}
salt = Structure(Lattice.cubic(4.31), [fe] * 4 + ["O"] * 3 + [an],
                 [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
                  [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5]])
# the ordered trirutile TaCr2O6 (rutile tripled along c, Ta on every third cation layer): the
# model a generator proposes; its fully mixed variant (xtalgen xrd --disorder Ta,Cr) is the
# disordered rutile above, which e2e_xrd_refine.sh uses as the "measured" phase
species, coords = [], []
for r in range(3):
    for k, (x, y, z) in enumerate(((0, 0, 0), (0.5, 0.5, 0.5))):
        species.append("Ta" if (r, k) in ((0, 0), (1, 1)) else "Cr")
        coords.append([x, y, (z + r) / 3.0])
    for (x, y, z) in ((u, u, 0), (1 - u, 1 - u, 0), (0.5 + u, 0.5 - u, 0.5), (0.5 - u, 0.5 + u, 0.5)):
        species.append("O")
        coords.append([x, y, (z + r) / 3.0])
trirutile = Structure(Lattice.tetragonal(4.652, 3 * 3.022), species, coords)
CifWriter(trirutile).write_file(os.path.join(out, "xrd_ordered_TaCr2O6.cif"))
calc = XRDCalculator("CuKa")
for name, s in (("rutile_TaCr", rutile), ("rocksalt_vacancy", salt)):
    cif = os.path.join(out, "xrd_disorder_%s.cif" % name)
    CifWriter(s).write_file(cif)
    # the oracle reads the file back, as xtalgen will
    s2 = Structure.from_file(cif)
    p = calc.get_pattern(s2, two_theta_range=(0, 90))
    with open(os.path.join(out, "xrd_disorder_%s_peaks.csv" % name), "w") as f:
        f.write("two_theta,intensity\n")
        for x, y in zip(p.x, p.y):
            f.write("%.10f,%.10f\n" % (x, y))
    print(cif, len(p.x), "peaks")
