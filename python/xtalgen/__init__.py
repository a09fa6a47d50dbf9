"""xtalgen for Python: generate, read, write, check and compare crystals.

A ctypes binding of libxtalgen (include/xtalgen.h); nothing to compile, nothing beyond the
standard library. Crystals are plain dicts:

    {"id": "NaCl",
     "lattice": [[ax, ay, az], [bx, by, bz], [cx, cy, cz]],   # rows = vectors, Angstrom
     "species": ["Na", "Cl"],
     "numbers": [11, 17],
     "frac_coords": [[0, 0, 0], [0.5, 0.5, 0.5]]}

Every function that takes a crystal also takes an ASE Atoms or a pymatgen Structure (ordered).
to_ase() and to_pymatgen() convert back; ASE and pymatgen are imported only when used.

    import xtalgen
    crystals = xtalgen.generate(2, steps=100, seed=1)
    xtalgen.symmetry(crystals[0])["international"]
    atoms = xtalgen.to_ase(crystals[0]); struct = xtalgen.to_pymatgen(crystals[1])

The library is found through $XTALGEN_LIB (a path to libxtalgen.so), then the installation
this module belongs to, then a build folder of the source tree it sits in (build*/), then the
system's library path. Errors raise XtalgenError, whose .code is an xtalgen_status and whose
message names the file and line where there is one.
"""

import ctypes
import glob
import os

__all__ = [
    "XtalgenError", "Model", "version", "read", "write", "symmetry", "standardize", "match",
    "screen", "generate", "to_ase", "to_pymatgen", "from_ase", "from_pymatgen", "library_path",
]

# ---- finding and loading the library ---------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("XTALGEN_LIB")
    if env:
        yield env
        return  # an explicit choice is not second-guessed: a wrong path is an error
    try:
        from . import _install  # written by `cmake --install`
        yield os.path.join(_install.LIBDIR, "libxtalgen.so")
    except ImportError:
        pass
    # <prefix>/<libdir>/python3/dist-packages/xtalgen -> <prefix>/<libdir>
    yield os.path.normpath(os.path.join(_HERE, "..", "..", "..", "libxtalgen.so"))
    # the source tree: python/xtalgen -> build*/ beside python/
    root = os.path.normpath(os.path.join(_HERE, "..", ".."))
    yield os.path.join(root, "build", "libxtalgen.so")
    for p in sorted(glob.glob(os.path.join(root, "build*", "libxtalgen.so"))):
        yield p
    import ctypes.util
    found = ctypes.util.find_library("xtalgen")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if path in tried:
            continue
        tried.append(path)
        if os.sep in path and not os.path.exists(path):
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            if os.environ.get("XTALGEN_LIB"):
                raise ImportError("xtalgen: cannot load $XTALGEN_LIB=%s: %s" % (path, e))
    raise ImportError("xtalgen: libxtalgen.so not found (tried %s); build it (cmake --build "
                      "build) or install it (cmake --install build --prefix P), or set "
                      "XTALGEN_LIB" % ", ".join(tried))


_lib, library_path = _load()

# ---- the C declarations (include/xtalgen.h) --------------------------------------------------

_c_double_p = ctypes.POINTER(ctypes.c_double)
_c_int_p = ctypes.POINTER(ctypes.c_int)
_handle = ctypes.c_void_p


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 1024)]


class _Spacegroup(ctypes.Structure):
    _fields_ = [("number", ctypes.c_int), ("hall_number", ctypes.c_int),
                ("international", ctypes.c_char * 16), ("hall_symbol", ctypes.c_char * 20),
                ("pointgroup", ctypes.c_char * 8), ("n_operations", ctypes.c_int)]


class _MatchParams(ctypes.Structure):
    _fields_ = [("ltol", ctypes.c_double), ("stol", ctypes.c_double),
                ("angle_tol", ctypes.c_double), ("primitive_cell", ctypes.c_int),
                ("scale", ctypes.c_int), ("best", ctypes.c_int)]


class _MatchResult(ctypes.Structure):
    _fields_ = [("match", ctypes.c_int), ("rms", ctypes.c_double), ("max_dist", ctypes.c_double)]


class _ScreenResult(ctypes.Structure):
    _fields_ = [("valid_structure", ctypes.c_int), ("valid_geometry", ctypes.c_int),
                ("valid_composition", ctypes.c_int), ("min_distance", ctypes.c_double),
                ("min_bond_ratio", ctypes.c_double), ("volume", ctypes.c_double),
                ("density", ctypes.c_double), ("spacegroup", ctypes.c_int),
                ("spacegroup_symbol", ctypes.c_char * 16), ("nelements", ctypes.c_int),
                ("formula", ctypes.c_char * 64), ("hhi_production", ctypes.c_double),
                ("hhi_reserve", ctypes.c_double), ("rare_earth_free", ctypes.c_int)]


class _GenerateOptions(ctypes.Structure):
    _fields_ = [("steps", ctypes.c_int), ("corrector_steps", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("batch", ctypes.c_int), ("natoms", ctypes.c_int),
                ("elements", ctypes.c_char_p), ("exclude_elements", ctypes.c_char_p),
                ("conditions", ctypes.POINTER(ctypes.c_char_p)), ("nconditions", ctypes.c_int),
                ("guidance", ctypes.c_double), ("symmetry", ctypes.c_int),
                ("templates", ctypes.c_char_p)]

# xtalgen_generate_options.symmetry
_SYMMETRY = {"none": 0, "template": 1}


def _declare(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_E = ctypes.POINTER(_Error)
_version = _declare("xtalgen_version", ctypes.c_char_p)
_symbol = _declare("xtalgen_element_symbol", ctypes.c_char_p, ctypes.c_int)
_number = _declare("xtalgen_element_number", ctypes.c_int, ctypes.c_char_p)
_create = _declare("xtalgen_structure_create", ctypes.c_int, ctypes.c_int, _c_double_p, _c_int_p,
                   _c_double_p, ctypes.c_char_p, ctypes.POINTER(_handle), _E)
_free = _declare("xtalgen_structure_free", None, _handle)
_free_list = _declare("xtalgen_structures_free", None, ctypes.POINTER(_handle), ctypes.c_int)
_natoms = _declare("xtalgen_structure_natoms", ctypes.c_int, _handle)
_lattice = _declare("xtalgen_structure_lattice", None, _handle, _c_double_p)
_types = _declare("xtalgen_structure_types", None, _handle, _c_int_p)
_frac = _declare("xtalgen_structure_frac", None, _handle, _c_double_p)
_id = _declare("xtalgen_structure_id", ctypes.c_char_p, _handle)
_read = _declare("xtalgen_read", ctypes.c_int, ctypes.c_char_p,
                 ctypes.POINTER(ctypes.POINTER(_handle)), _c_int_p, _E)
_write = _declare("xtalgen_write", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_handle),
                  ctypes.c_int, _E)
_symmetry = _declare("xtalgen_symmetry", ctypes.c_int, _handle, ctypes.c_double,
                     ctypes.POINTER(_Spacegroup), ctypes.c_char_p, _c_int_p, _E)
_standardize = _declare("xtalgen_standardize", ctypes.c_int, _handle, ctypes.c_int, ctypes.c_int,
                        ctypes.c_double, ctypes.POINTER(_handle), _E)
_match_defaults = _declare("xtalgen_match_default_params", None, ctypes.POINTER(_MatchParams))
_match = _declare("xtalgen_match", ctypes.c_int, _handle, _handle, ctypes.POINTER(_MatchParams),
                  ctypes.POINTER(_MatchResult), _E)
_screen = _declare("xtalgen_screen", ctypes.c_int, _handle, ctypes.c_double,
                   ctypes.POINTER(_ScreenResult), _E)
_model_load = _declare("xtalgen_model_load", ctypes.c_int, ctypes.c_char_p,
                       ctypes.POINTER(_handle), _E)
_model_free = _declare("xtalgen_model_free", None, _handle)
_model_path = _declare("xtalgen_model_path", ctypes.c_char_p, _handle)
_model_nconds = _declare("xtalgen_model_num_conditions", ctypes.c_int, _handle)
_gen_defaults = _declare("xtalgen_generate_default_options", None,
                         ctypes.POINTER(_GenerateOptions))
_generate = _declare("xtalgen_generate", ctypes.c_int, _handle, ctypes.c_int,
                     ctypes.POINTER(_GenerateOptions), ctypes.POINTER(_handle), _E)


# xtalgen_status values the module raises itself.
EUNSUPPORTED, EINVAL = 3, 5


class XtalgenError(Exception):
    """A failed libxtalgen call: .code is the xtalgen_status, str() the library's message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _check(rc, err):
    if rc:
        raise XtalgenError(rc, err.message.decode("utf-8", "replace"))


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


def _path(p):
    return os.fsencode(os.fspath(p))


def version():
    """The library's version string ("0.1.0")."""
    return _text(_version())


# ---- crystals: dicts <-> handles -------------------------------------------------------------

def _from_handle(h):
    n = _natoms(h)
    lat = (ctypes.c_double * 9)()
    types = (ctypes.c_int * n)()
    frac = (ctypes.c_double * (3 * n))()
    _lattice(h, lat)
    _types(h, types)
    _frac(h, frac)
    numbers = list(types)
    return {
        "id": _text(_id(h)),
        "lattice": [list(lat[3 * i:3 * i + 3]) for i in range(3)],
        "species": [_text(_symbol(z)) for z in numbers],
        "numbers": numbers,
        "frac_coords": [list(frac[3 * i:3 * i + 3]) for i in range(n)],
    }


def _as_crystal(obj):
    """A crystal dict from a dict, an ASE Atoms or a pymatgen Structure."""
    if isinstance(obj, dict):
        return obj
    mod = type(obj).__module__
    if mod.startswith("ase"):
        return from_ase(obj)
    if mod.startswith("pymatgen"):
        return from_pymatgen(obj)
    raise TypeError("xtalgen: expected a crystal dict, an ase.Atoms or a pymatgen Structure, "
                    "got %s" % type(obj).__name__)


def _numbers(c):
    if "numbers" in c:
        return [int(z) for z in c["numbers"]]
    out = []
    for s in c["species"]:
        z = _number(str(s).encode())
        if z == 0:
            raise XtalgenError(EINVAL, "unknown element symbol %r" % (s,))
        out.append(z)
    return out


def _to_handle(obj):
    c = _as_crystal(obj)
    numbers = _numbers(c)
    n = len(numbers)
    frac = c["frac_coords"]
    lat = c["lattice"]
    if len(frac) != n or len(lat) != 3:
        raise XtalgenError(EINVAL, "crystal %r: %d species but %d coordinates, or a lattice without "
                           "3 rows" % (c.get("id", ""), n, len(frac)))
    clat = (ctypes.c_double * 9)(*[float(lat[i][j]) for i in range(3) for j in range(3)])
    ctypes_types = (ctypes.c_int * max(n, 1))(*numbers)
    cfrac = (ctypes.c_double * max(3 * n, 1))(*[float(x) for row in frac for x in row])
    h = _handle()
    err = _Error()
    _check(_create(n, clat, ctypes_types, cfrac, str(c.get("id", "")).encode(),
                   ctypes.byref(h), ctypes.byref(err)), err)
    return h


class _Handles:
    """Handles of crystals, freed when the with-block ends."""

    def __init__(self, objs):
        self.h = []
        self.objs = objs

    def __enter__(self):
        for o in self.objs:
            self.h.append(_to_handle(o))
        return self.h

    def __exit__(self, *exc):
        for h in self.h:
            _free(h)


# ---- the API ---------------------------------------------------------------------------------

def read(path):
    """Every crystal of a file (CIF, POSCAR, extxyz, xtalgen .h5, CDVAE .csv) or folder."""
    arr = ctypes.POINTER(_handle)()
    n = ctypes.c_int(0)
    err = _Error()
    _check(_read(_path(path), ctypes.byref(arr), ctypes.byref(n), ctypes.byref(err)), err)
    try:
        return [_from_handle(arr[i]) for i in range(n.value)]
    finally:
        _free_list(arr, n.value)


def write(path, crystals):
    """Writes one crystal or a list to path; the format from the name (.cif, .extxyz/.xyz,
    POSCAR*/.vasp: one crystal). The file appears whole or not at all."""
    if isinstance(crystals, dict) or not isinstance(crystals, (list, tuple)):
        crystals = [crystals]
    with _Handles(crystals) as hs:
        arr = (_handle * len(hs))(*hs)
        err = _Error()
        _check(_write(_path(path), arr, len(hs), ctypes.byref(err)), err)


def symmetry(crystal, symprec=0.1):
    """Space group (spglib at symprec Angstrom, 5 degrees): number, international, hall_number,
    hall_symbol, pointgroup, n_operations, wyckoffs and equivalent_atoms (per atom)."""
    with _Handles([crystal]) as (h,):
        n = _natoms(h)
        sg = _Spacegroup()
        wy = ctypes.create_string_buffer(max(n, 1))
        eq = (ctypes.c_int * max(n, 1))()
        err = _Error()
        _check(_symmetry(h, float(symprec), ctypes.byref(sg), wy, eq, ctypes.byref(err)), err)
        return {
            "number": sg.number, "international": _text(sg.international),
            "hall_number": sg.hall_number, "hall_symbol": _text(sg.hall_symbol),
            "pointgroup": _text(sg.pointgroup), "n_operations": sg.n_operations,
            "wyckoffs": [chr(c) for c in wy.raw[:n]], "equivalent_atoms": list(eq)[:n],
        }


_CELLS = {"as-is": 0, "primitive": 1, "conventional": 2}


def standardize(crystal, cell="primitive", symmetrize=True, symprec=0.1):
    """The crystal in spglib's standard primitive or conventional cell ("as-is" keeps the cell),
    idealized to its exact symmetry when symmetrize."""
    if cell not in _CELLS:
        raise ValueError("cell must be one of %s" % ", ".join(_CELLS))
    with _Handles([crystal]) as (h,):
        out = _handle()
        err = _Error()
        _check(_standardize(h, _CELLS[cell], int(bool(symmetrize)), float(symprec),
                            ctypes.byref(out), ctypes.byref(err)), err)
        try:
            return _from_handle(out)
        finally:
            _free(out)


def match(a, b, ltol=0.2, stol=0.3, angle_tol=5.0, primitive_cell=True, scale=True,
          best=False):
    """Are a and b the same crystal? pymatgen StructureMatcher's verdicts and defaults. Returns
    {"match": bool, "rms": float, "max_dist": float} (NaN without a match; best=True searches
    every mapping for the smallest rms, as get_rms_dist)."""
    p = _MatchParams()
    _match_defaults(ctypes.byref(p))
    p.ltol, p.stol, p.angle_tol = float(ltol), float(stol), float(angle_tol)
    p.primitive_cell, p.scale, p.best = int(bool(primitive_cell)), int(bool(scale)), int(bool(best))
    with _Handles([a, b]) as (ha, hb):
        r = _MatchResult()
        err = _Error()
        _check(_match(ha, hb, ctypes.byref(p), ctypes.byref(r), ctypes.byref(err)), err)
        return {"match": bool(r.match), "rms": r.rms, "max_dist": r.max_dist}


def screen(crystal, symprec=0.1):
    """The checks of `xtalgen screen` that need no reference set or model: validity
    (structural, geometric, compositional), space group, formula, density, HHI, rare earths."""
    with _Handles([crystal]) as (h,):
        r = _ScreenResult()
        err = _Error()
        _check(_screen(h, float(symprec), ctypes.byref(r), ctypes.byref(err)), err)
        out = {}
        for name, _ in _ScreenResult._fields_:
            v = getattr(r, name)
            if isinstance(v, bytes):
                v = _text(v)
            elif name.startswith("valid_") or name == "rare_earth_free":
                v = bool(v)
            out[name] = v
        return out


class Model:
    """A trained model, loaded once for several generate() calls. path None: the shipped
    MP-20 model (found like the program finds it: $XTALGEN_MODEL_DIR, share/xtalgen/models of
    this installation, the source tree)."""

    def __init__(self, path=None):
        self._h = _handle()
        err = _Error()
        _check(_model_load(_path(path) if path is not None else None, ctypes.byref(self._h),
                           ctypes.byref(err)), err)
        self.path = _text(_model_path(self._h))
        self.num_conditions = _model_nconds(self._h)

    def close(self):
        if self._h:
            _model_free(self._h)
            self._h = _handle()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def generate(self, n, steps=100, seed=1, batch=64, natoms=0, corrector_steps=1,
                 elements=None, exclude_elements=None, conditions=None, guidance=1.0,
                 symmetry="template", templates=None):
        """n crystals, bit for bit those `xtalgen generate -n n --seed seed --steps steps
        --batch batch --symmetry symmetry` writes (ids gen-0000000, ...), for any thread count.
        symmetry: "template" (the command's default: each crystal sampled exactly symmetric in
        a space-group template from the templates file, None for the shipped one) or "none".
        elements / exclude_elements: element sets as the command takes them ("Fe,Co,O",
        "rare-earths"); conditions: {"dft_mag_density": 0.15} or ["name=value"] for a
        fine-tuned model, with guidance."""
        if not self._h:
            raise XtalgenError(EINVAL, "the model is closed")
        if symmetry not in _SYMMETRY:
            raise XtalgenError(EINVAL, "symmetry is 'template' or 'none', not %r" % (symmetry,))
        o = _GenerateOptions()
        _gen_defaults(ctypes.byref(o))
        o.symmetry = _SYMMETRY[symmetry]
        o.templates = os.fsencode(templates) if templates else None
        o.steps, o.seed, o.batch = int(steps), int(seed), int(batch)
        o.natoms, o.corrector_steps, o.guidance = int(natoms), int(corrector_steps), float(guidance)
        o.elements = elements.encode() if elements else None
        o.exclude_elements = exclude_elements.encode() if exclude_elements else None
        if isinstance(conditions, dict):
            conditions = ["%s=%s" % kv for kv in conditions.items()]
        conds = [str(c).encode() for c in (conditions or [])]
        carr = (ctypes.c_char_p * max(len(conds), 1))(*conds)
        o.conditions = carr if conds else None
        o.nconditions = len(conds)
        n = int(n)
        out = (_handle * max(n, 1))()
        err = _Error()
        _check(_generate(self._h, n, ctypes.byref(o), out, ctypes.byref(err)), err)
        try:
            return [_from_handle(out[k]) for k in range(n)]
        finally:
            for k in range(n):
                _free(out[k])


def generate(n, model=None, **options):
    """n crystals from model (a Model, a model file, or None for the shipped MP-20 model); the
    options are Model.generate's (steps, seed, batch, natoms, elements, exclude_elements,
    conditions, guidance, symmetry, templates)."""
    if isinstance(model, Model):
        return model.generate(n, **options)
    with Model(model) as m:
        return m.generate(n, **options)


# ---- converters ------------------------------------------------------------------------------

def to_ase(crystal):
    """An ase.Atoms (periodic in all three directions) of a crystal dict."""
    from ase import Atoms
    c = _as_crystal(crystal)
    atoms = Atoms(numbers=_numbers(c), cell=c["lattice"], scaled_positions=c["frac_coords"],
                  pbc=True)
    if c.get("id"):
        atoms.info["id"] = c["id"]
    return atoms


def to_pymatgen(crystal):
    """A pymatgen.core.Structure of a crystal dict."""
    from pymatgen.core import Lattice, Structure
    c = _as_crystal(crystal)
    s = Structure(Lattice(c["lattice"]), c["species"] if "species" in c else _numbers(c),
                  c["frac_coords"])
    if c.get("id") and isinstance(getattr(s, "properties", None), dict):
        s.properties["id"] = c["id"]  # pymatgen >= 2023.x; older ones have no place for it
    return s


def _plain(lattice, numbers, frac, ident):
    return {
        "id": ident,
        "lattice": [[float(x) for x in row] for row in lattice],
        "species": [_text(_symbol(int(z))) for z in numbers],
        "numbers": [int(z) for z in numbers],
        "frac_coords": [[float(x) for x in row] for row in frac],
    }


def from_ase(atoms):
    """A crystal dict of an ase.Atoms with a full 3D cell."""
    if not all(atoms.pbc) or abs(atoms.cell.volume) < 1e-12:
        raise XtalgenError(EINVAL, "an ase.Atoms needs a 3D periodic cell to be a crystal")
    return _plain(atoms.cell[:], atoms.numbers, atoms.get_scaled_positions(wrap=False),
                  str(atoms.info.get("id", "")))


def from_pymatgen(structure):
    """A crystal dict of an ordered pymatgen Structure."""
    if not structure.is_ordered:
        raise XtalgenError(EUNSUPPORTED, "a disordered pymatgen Structure (partial occupancies) is not "
                           "supported")
    return _plain(structure.lattice.matrix, [site.specie.Z for site in structure],
                  structure.frac_coords,
                  str((getattr(structure, "properties", None) or {}).get("id", "")))
