#!/usr/bin/env bash
# e2e_relax.sh: `xtalgen relax` end to end: a strained rock-salt NaCl and a shaken bcc Fe relax
# (positions and cell), the outputs exist and parse, a crystal with an element M3GNet lacks
# gets an error row without stopping the others, --fixed-cell keeps the cell, usage errors.
# usage: e2e_relax.sh XTALGEN_BINARY SOURCE_DIR
set -u
BIN=${1:?binary}
SRC=${2:?source dir}
T=$(mktemp -d /tmp/e2e_relax.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check DESCRIPTION CONDITION...
    local what=$1; shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
status() { "$@" >"$T/out" 2>"$T/err"; echo $?; }

mkdir -p "$T/in"
# NaCl, conventional cell compressed to a = 5.40 A (DFT-PBE ~5.70)
cat >"$T/in/NaCl.vasp" <<'P'
NaCl
1.0
5.40 0 0
0 5.40 0
0 0 5.40
Na Cl
4 4
Direct
0 0 0
0 0.5 0.5
0.5 0 0.5
0.5 0.5 0
0.5 0.5 0.5
0.5 0 0
0 0.5 0
0 0 0.5
P
# bcc Fe with one atom displaced
cat >"$T/in/Fe.vasp" <<'P'
Fe
1.0
2.90 0 0
0 2.80 0
0 0 2.85
Fe
2
Direct
0 0 0
0.52 0.49 0.5
P
# Am is not among M3GNet's elements
cat >"$T/in/Am.vasp" <<'P'
Am
1.0
3.5 0 0
0 3.5 0
0 0 3.5
Am
1
Direct
0 0 0
P
check "relax runs (one bad crystal: exit 1)" test "$(status "$BIN" relax "$T/in" -o "$T/out1" --quiet)" = 1
check "error row names the element" grep -q "^Am,.*Am" "$T/out1/relax.csv"
check "relaxed CIFs written" test -s "$T/out1/cif/NaCl.cif" -a -s "$T/out1/cif/Fe.cif"
check "relaxed.h5 readable" test "$(status "$BIN" symmetry "$T/out1/relaxed.h5" --symprec 0.1 --format csv)" = 0
check "NaCl relaxed to Fm-3m" grep -q "NaCl,8,225" "$T/out"
check "bcc Fe symmetric after relaxation" grep -q "Fe,2,229" "$T/out"
# NaCl: converged, expanded (volume_change column 11 > 0.05), energy below the initial one
check "NaCl converged and expanded" awk -F, '$1=="NaCl" {exit !($9==1 && $11>0.05 && $4<$6)}' "$T/out1/relax.csv"
check "Fe converged" awk -F, '$1=="Fe" {exit !($9==1 && $7<0.05)}' "$T/out1/relax.csv"
check "fixed cell keeps the volume" test "$(status "$BIN" relax "$T/in/Fe.vasp" -o "$T/out2" --fixed-cell --quiet)" = 0
check "fixed cell: volume_change 0" awk -F, '$1=="Fe" {exit !($11==0)}' "$T/out2/relax.csv"
check "no inputs: 2" test "$(status "$BIN" relax -o "$T/x")" = 2
check "no -o: 2" test "$(status "$BIN" relax "$T/in")" = 2
check "bad --fmax: 2" test "$(status "$BIN" relax "$T/in" -o "$T/x" --fmax abc)" = 2
check "missing input: 1" test "$(status "$BIN" relax "$T/nothing.cif" -o "$T/x3" --quiet)" = 1

# hull m3gnet + screen --relax: a one-element M3GNet hull from relaxed bcc Fe, then an fcc Fe
# candidate is judged by its relaxed energy against it (fcc above bcc in M3GNet, as in DFT)
check "hull m3gnet builds a table" test "$(status "$BIN" hull m3gnet "$T/out1/relaxed.h5" -o "$T/hull.h5" --energies "$T/e.csv" --quiet)" = 0
check "hull m3gnet found the Fe reference" grep -q "elemental references: 1 " "$T/out"
mkdir -p "$T/cand"
cat >"$T/cand/Fefcc.vasp" <<'P'
Fe fcc
1.0
0 1.8 1.8
1.8 0 1.8
1.8 1.8 0
Fe
1
Direct
0 0 0
P
check "screen --relax runs" test "$(status "$BIN" screen "$T/cand" --relax --mlip-hull "$T/hull.h5" -o "$T/scr" --quiet)" = 0
check "screen.csv has the relax columns" grep -q "e_relaxed,e_hull_mlip,relax_rmsd,relax_converged,spacegroup_relaxed,stable_mlip_0" "$T/scr/screen.csv"
check "fcc Fe: 0 < e_hull_mlip < 0.2, stable at 0.1, not at 0" python3 - "$T/scr/screen.csv" <<'PY'
import csv, sys
r = next(csv.DictReader(open(sys.argv[1])))
e = float(r["e_hull_mlip"])
sys.exit(0 if 0 < e < 0.2 and r["stable"] == ("1" if e < 0.1 else "0") and r["stable_mlip_0"] == "0" and r["relax_converged"] == "1" else 1)
PY
check "screen --relax with a plain hull table: 1" test "$(status "$BIN" screen "$T/cand" --relax --mlip-hull "$SRC/data/hull-mp20.h5" -o "$T/scr2" --quiet)" = 1
check "names the missing references" grep -q "not an M3GNet hull table" "$T/err"
exit $fail
