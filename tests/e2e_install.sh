#!/usr/bin/env bash
# e2e_install.sh: xtalgen as a library (issue 20). Installs the build into a temporary prefix
# and uses it as a user would: a C program compiled with `pkg-config --cflags --libs xtalgen`
# (read a CIF, print its space group, match it with itself), a CMake project using
# find_package(xtalgen), the installed program and library finding their shipped model under
# share/xtalgen, and the Python module's tests against the installed library, ending with
# `python3 -c "import xtalgen; ..."` generating 2 crystals for ASE and pymatgen.
# usage: e2e_install.sh XTALGEN_BINARY SOURCE_DIR
set -u
BIN=${1:?binary}
SRC=${2:?source dir}
BUILD=$(cd "$(dirname "$BIN")" && pwd)
if [ -n "${XG_SANITIZED:-}" ]; then
    # python3 cannot load a library built with AddressSanitizer (the runtime must come first)
    echo "skip: sanitizer build"; exit 77
fi
if [ ! -f "$BUILD/cmake_install.cmake" ] || [ ! -e "$BUILD/libxtalgen.so" ]; then
    echo "skip: $BUILD is not a CMake build folder with libxtalgen.so"; exit 77
fi
PY=/usr/bin/python3
T=$(mktemp -d /tmp/e2e_install.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check DESCRIPTION CONDITION...
    local what=$1; shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
P="$T/prefix"
check "cmake --install into a temporary prefix" \
    eval 'cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1'
LIBDIR=$(dirname "$(find "$P" -name 'libxtalgen.so' | head -1)")
check "installed: program, library, header, pkg-config, CMake package" \
    test -x "$P/bin/xtalgen" -a -e "$LIBDIR/libxtalgen.so" -a -f "$P/include/xtalgen.h" \
    -a -f "$LIBDIR/pkgconfig/xtalgen.pc" -a -f "$LIBDIR/cmake/xtalgen/xtalgenConfig.cmake"
check "installed: models, templates, reference, hull tables under share/xtalgen" \
    test -f "$P/share/xtalgen/models/xtalgen-mp20.h5" -a -f "$P/share/xtalgen/models/templates-mp20.h5" \
    -a -f "$P/share/xtalgen/reference/mp20.h5" -a -f "$P/share/xtalgen/hull-mp20.h5"
check "internal headers are not installed" test -z "$(find "$P/include" -name 'xg_*.h')"

# --- a C program against pkg-config ---
cat >"$T/sg.c" <<'C'
#include <stdio.h>
#include <xtalgen.h>

int main(int argc, char **argv)
{
    xtalgen_error err;
    xtalgen_structure **s;
    int n;
    xtalgen_spacegroup sg;
    xtalgen_match_result m;
    if (argc != 2 || xtalgen_read(argv[1], &s, &n, &err)) {
        fprintf(stderr, "sg: %s\n", argc == 2 ? err.message : "usage: sg FILE");
        return 1;
    }
    if (xtalgen_symmetry(s[0], 0.1, &sg, NULL, NULL, &err) ||
        xtalgen_match(s[0], s[0], NULL, &m, &err)) {
        fprintf(stderr, "sg: %s\n", err.message);
        return 1;
    }
    printf("%s %d %s match=%d\n", xtalgen_structure_id(s[0]), sg.number, sg.international, m.match);
    xtalgen_structures_free(s, n);
    return 0;
}
C
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
check "pkg-config knows xtalgen $(pkg-config --modversion xtalgen 2>/dev/null)" pkg-config --exists xtalgen
check "compile with pkg-config --cflags --libs xtalgen" \
    eval 'cc -std=c11 -Wall -Werror "$T/sg.c" -o "$T/sg" $(pkg-config --cflags --libs xtalgen) \
          -Wl,-rpath,"$LIBDIR" 2>"$T/cc.err"'
"$T/sg" "$SRC/tests/fixtures/data_cifs/NaCl.cif" >"$T/sg.out" 2>&1
check "NaCl: Fm-3m (225), matches itself" grep -qx "NaCl 225 Fm-3m match=1" "$T/sg.out"
"$T/sg" "$SRC/tests/fixtures/data_cifs/Si.cif" >"$T/sg.out" 2>&1
check "Si: Fd-3m (227)" grep -qx "Si 227 Fd-3m match=1" "$T/sg.out"
"$T/sg" "$T/missing.cif" >"$T/sg.out" 2>&1
rc=$?
check "a missing file: non-zero exit naming it" \
    eval '[ $rc -ne 0 ] && grep -q "missing.cif" "$T/sg.out"'
check "only xtalgen_* symbols exported" \
    test -z "$(nm -D --defined-only "$LIBDIR/libxtalgen.so" | awk '$2 == "T" && $3 !~ /^xtalgen_/')"

# --- a CMake project using the package config ---
mkdir -p "$T/cm"
cp "$T/sg.c" "$T/cm/sg.c"
cat >"$T/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.19)
project(sg C)
find_package(xtalgen 0.1 REQUIRED)
add_executable(sg sg.c)
target_link_libraries(sg PRIVATE xtalgen::xtalgen)
CM
check "find_package(xtalgen) builds the same program" \
    eval 'cmake -S "$T/cm" -B "$T/cm/b" -DCMAKE_PREFIX_PATH="$P" >"$T/cm.log" 2>&1 &&
          cmake --build "$T/cm/b" >>"$T/cm.log" 2>&1 &&
          [ "$("$T/cm/b/sg" "$SRC/tests/fixtures/data_cifs/NaCl.cif")" = "NaCl 225 Fm-3m match=1" ]'

# --- the installed program finds its shipped model (no source tree, no env) ---
(cd "$T" && env -u XTALGEN_MODEL_DIR -u XTALGEN_DATA_DIR "$P/bin/xtalgen" generate -n 1 \
    --steps 5 --threads 1 --quiet -o "$T/gen" >"$T/gen.out" 2>&1)
check "installed xtalgen generate runs with the shipped model" test -f "$T/gen/generated.h5"
check "... the one under the prefix's share/xtalgen/models" \
    grep -q "$P/bin/../share/xtalgen/models/xtalgen-mp20.h5" "$T/gen/summary.json"

# --- Python against the installed library ---
PYDIR=$(dirname "$(find "$P" -path '*/xtalgen/__init__.py' | head -1)")
PYDIR=$(dirname "$PYDIR")
export PYTHONPATH="$PYDIR"
unset XTALGEN_LIB XTALGEN_MODEL_DIR XTALGEN_DATA_DIR
(cd "$T" && $PY -c 'import xtalgen; print(xtalgen.library_path); print(xtalgen.Model().path)') \
    >"$T/py.out" 2>&1
check "the installed module loads the installed library" \
    eval '[ "$(realpath "$(sed -n 1p "$T/py.out")")" = "$(realpath "$LIBDIR/libxtalgen.so")" ]'
check "... which finds the shipped model in share/xtalgen" grep -q "^$LIBDIR/../share/xtalgen/models/xtalgen-mp20.h5$" "$T/py.out"
(cd "$T" && XTALGEN_BIN="$P/bin/xtalgen" $PY -m unittest discover -s "$SRC/python/tests" \
    >"$T/unittest.out" 2>&1)
rc=$?
sed 's/^/    /' "$T/unittest.out" | grep -v DeprecationWarning | grep -v 'from imp import' | tail -5
check "Python tests against the installed library" test $rc -eq 0
if $PY -c 'import ase, pymatgen.core' 2>/dev/null; then
    (cd "$T" && $PY -c '
import xtalgen
cs = xtalgen.generate(2, steps=50, seed=1)
atoms = [xtalgen.to_ase(c) for c in cs]
structs = [xtalgen.to_pymatgen(c) for c in cs]
for c, a, s in zip(cs, atoms, structs):
    assert a.get_chemical_symbols() == c["species"] and len(s) == len(c["species"])
    print(c["id"], s.composition.reduced_formula, xtalgen.symmetry(a)["international"])
' >"$T/one.out" 2>&1)
    rc=$?
    check "python3 -c 'import xtalgen': 2 crystals to ASE and pymatgen" \
        eval '[ $rc -eq 0 ] && [ $(grep -c "^gen-000000[01] " "$T/one.out") -eq 2 ]'
    sed 's/^/    /' "$T/one.out"
else
    echo "skip ASE/pymatgen one-liner: install python3-ase and python3-pymatgen"
fi
[ $fail -eq 0 ] || { echo "--- install log"; tail -5 "$T/install.log"; cat "$T/cc.err" "$T/cm.log" 2>/dev/null | tail -20; }
exit $fail
