#!/usr/bin/env bash
# e2e_foundation.sh BINARY SRCDIR: the first commands end to end on the small fixtures:
# symmetry (table/csv/json), convert (CIF, POSCAR, extxyz, symmetrized), dataset import + info,
# and the exit codes of bad input (1) and bad usage (2). The parts that need ../shared/data are
# skipped when it is absent.
set -u
BIN=${1:?usage: e2e_foundation.sh BINARY SRCDIR}
SRC=${2:?usage: e2e_foundation.sh BINARY SRCDIR}
FIX="$SRC/tests/fixtures"
SHARED="$SRC/../shared/data"
TMP=$(mktemp -d /tmp/e2e_foundation.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

# expect CODE DESCRIPTION -- command...: runs it, checks the exit code, keeps stdout/stderr
expect() {
    local want=$1 what=$2
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$what: exit $got, expected $want"
        sed 's/^/    stderr: /' "$TMP/err" | head -5
        return 1
    fi
    pass "$what"
}

contains() { # FILE TEXT DESCRIPTION
    if grep -qF -- "$2" "$1"; then pass "$3"; else
        fail "$3: '$2' not found in $(basename "$1")"
        sed 's/^/    /' "$1" | head -5
    fi
}

# ---- symmetry -----------------------------------------------------------------------------
expect 0 "symmetry csv on the CDVAE fixture" -- "$BIN" symmetry --symprec 0.1 --format csv "$FIX/cdvae_small.csv"
if [ "$(head -1 "$TMP/out")" = "id,formula,natoms,spacegroup_number,spacegroup_symbol" ]; then
    pass "csv header exact"
else
    fail "csv header: $(head -1 "$TMP/out")"
fi
got=$(tail -n +2 "$TMP/out" | cut -d, -f1,4 | tr '\n' ' ')
want="xg-1,225 xg-2,227 xg-3,221 xg-4,186 xg-5,136 "
[ "$got" = "$want" ] && pass "space groups of the fixture" || fail "space groups: '$got' != '$want'"
contains "$TMP/out" "xg-5,TiO2,6,136,P4_2/mnm" "rutile row (reduced formula, atoms from symmetry expansion)"

expect 0 "symmetry table on a folder and a CIF" -- "$BIN" symmetry "$FIX/data_cifs" "$FIX/data_cifs/Si.cif"
contains "$TMP/out" "POSCAR_ZnO" "folder ids from file names"
[ "$(grep -c Fd-3m "$TMP/out")" -eq 2 ] && pass "Si twice" || fail "Si rows"

expect 0 "symmetry json" -- "$BIN" symmetry --format json "$FIX/data_cifs/NaCl.cif"
contains "$TMP/out" '"spacegroup_number": 225' "json space group"
if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[0]["id"]=="NaCl"' "$TMP/out" \
        && pass "json parses" || fail "json does not parse"
fi

# ---- convert ------------------------------------------------------------------------------
expect 0 "convert CSV to a folder of CIFs" -- "$BIN" convert --quiet "$FIX/cdvae_small.csv" -o "$TMP/cifs" --format cif
[ "$(ls "$TMP/cifs" | wc -l)" -eq 5 ] && pass "5 CIF files" || fail "files: $(ls "$TMP/cifs")"
[ -f "$TMP/cifs/xg-4.cif" ] && pass "file named by id" || fail "xg-4.cif missing"
expect 0 "CIFs read back" -- "$BIN" symmetry --symprec 0.1 --format csv "$TMP/cifs"
contains "$TMP/out" "xg-5,TiO2,6,136" "rutile survives CIF round trip"

expect 0 "convert one CIF to POSCAR" -- "$BIN" convert "$TMP/cifs/xg-4.cif" -o "$TMP/POSCAR"
contains "$TMP/POSCAR" "Direct" "POSCAR has Direct coordinates"
expect 0 "POSCAR read back" -- "$BIN" symmetry --format csv "$TMP/POSCAR"
contains "$TMP/out" "POSCAR,ZnO,4,186" "wurtzite survives POSCAR"

expect 0 "convert all to one extxyz" -- "$BIN" convert "$FIX/cdvae_small.csv" -o "$TMP/all.extxyz"
[ "$(grep -c Lattice= "$TMP/all.extxyz")" -eq 5 ] && pass "5 extxyz frames" || fail "extxyz frames"
expect 0 "extxyz read back" -- "$BIN" symmetry --symprec 0.1 --format csv "$TMP/all.extxyz"
[ "$(tail -n +2 "$TMP/out" | wc -l)" -eq 5 ] && pass "5 structures from extxyz" || fail "extxyz rows"

expect 0 "symmetrized CIF" -- "$BIN" convert --symmetrize --symprec 0.1 "$TMP/cifs/xg-1.cif" -o "$TMP/sym.cif"
contains "$TMP/sym.cif" "_symmetry_Int_Tables_number   225" "symmetrized CIF states the group"
contains "$TMP/sym.cif" "'-x, -y, -z'" "symmetrized CIF lists operations"
expect 0 "symmetrized CIF read back" -- "$BIN" symmetry --format csv "$TMP/sym.cif"
contains "$TMP/out" "sym,NaCl,8,225,Fm-3m" "conventional cell of 8 atoms rebuilt from the operations"

expect 2 "convert: unknown output format" -- "$BIN" convert "$TMP/cifs/xg-1.cif" -o "$TMP/out.txt"
contains "$TMP/err" "xtalgen convert:" "message names the command"
expect 2 "convert: missing -o" -- "$BIN" convert "$TMP/cifs/xg-1.cif"
expect 1 "convert: missing input" -- "$BIN" convert "$TMP/none.cif" -o "$TMP/x.cif"

# ---- dataset ------------------------------------------------------------------------------
expect 0 "dataset import with properties" -- "$BIN" dataset import --quiet --props "$FIX/properties_small.csv" "$FIX/cdvae_small.csv" -o "$TMP/sub/small.h5"
[ -f "$TMP/sub/small.h5" ] && pass "dataset written (parent folder created)" || fail "no dataset"
ls "$TMP/sub" | grep -q tmp && fail "temporary file left behind" || pass "no temporary file left"
expect 0 "dataset info" -- "$BIN" dataset info "$TMP/sub/small.h5"
contains "$TMP/out" "structures: 5" "info: count"
contains "$TMP/out" "atoms: 16" "info: atoms"
grep -E "dft_mag_density +2 / 5" "$TMP/out" >/dev/null && pass "info: coverage of dft_mag_density" || fail "coverage line"
grep -E "e_above_hull +4 / 5" "$TMP/out" >/dev/null && pass "info: blank cells are missing" || fail "e_above_hull coverage"
contains "$TMP/out" "histogram" "info: histogram"
expect 0 "symmetry on the HDF5 dataset" -- "$BIN" symmetry --symprec 0.1 --format csv "$TMP/sub/small.h5"
contains "$TMP/out" "xg-2,Si,2,227" "dataset keeps ids and structures"

expect 0 "dataset import of a folder" -- "$BIN" dataset import --quiet "$FIX/data_cifs" -o "$TMP/folder.h5"
expect 0 "info of the folder dataset" -- "$BIN" dataset info "$TMP/folder.h5"
contains "$TMP/out" "structures: 4" "folder: 4 structures"

# ---- bad input -> 1, bad usage -> 2 -------------------------------------------------------
expect 1 "unknown dataset version" -- "$BIN" dataset info "$FIX/dataset_v7.h5"
contains "$TMP/err" "dataset layout version 7 is newer than this xtalgen understands (1)" "version message"
printf 'material_id,cif,band_gap\nm-1,"data_x\n_cell_length_a 3\n",1,extra\n' >"$TMP/bad.csv"
expect 1 "CSV with a bad row" -- "$BIN" dataset import "$TMP/bad.csv" -o "$TMP/bad.h5"
contains "$TMP/err" "bad.csv:2: row has 4 fields, header has 3" "CSV error names file and line"
[ -e "$TMP/bad.h5" ] && fail "output written despite the error" || pass "no output on error"
head -c 300 "$FIX/data_cifs/NaCl.cif" >"$TMP/trunc.cif"
expect 1 "truncated CIF" -- "$BIN" symmetry "$TMP/trunc.cif"
contains "$TMP/err" "xtalgen symmetry:" "message for truncated CIF"
head -c 2000 "$TMP/sub/small.h5" >"$TMP/trunc.h5"
expect 1 "truncated HDF5" -- "$BIN" dataset info "$TMP/trunc.h5"
expect 1 "symmetry of a missing file" -- "$BIN" symmetry "$TMP/missing.cif"
expect 2 "symmetry without input" -- "$BIN" symmetry
expect 2 "symmetry with a bad symprec" -- "$BIN" symmetry --symprec -1 "$FIX/data_cifs/Si.cif"
expect 2 "symmetry with a bad format" -- "$BIN" symmetry --format xml "$FIX/data_cifs/Si.cif"
expect 2 "dataset without subcommand" -- "$BIN" dataset
expect 2 "dataset import without -o" -- "$BIN" dataset import "$FIX/cdvae_small.csv"
expect 2 "dataset with unknown option" -- "$BIN" dataset import --frobnicate x -o y.h5
expect 0 "help dataset" -- "$BIN" help dataset
contains "$TMP/out" "usage: xtalgen dataset import" "usage text"

# ---- shared data (skipped when absent) ----------------------------------------------------
if [ -f "$SHARED/mp_20/val.csv" ]; then
    expect 0 "import MP-20 val with properties" -- "$BIN" dataset import --quiet --props "$SHARED/mp_20/properties_val.csv" "$SHARED/mp_20/val.csv" -o "$TMP/val.h5"
    expect 0 "info of val" -- "$BIN" dataset info "$TMP/val.h5"
    contains "$TMP/out" "structures: 9047" "val: 9047 structures"
    grep -E "dft_mag_density +[0-9]+ / 9047" "$TMP/out" >/dev/null && pass "val: magnetic density merged" || fail "val mag density"
else
    echo "skip: $SHARED not present"
fi

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all foundation checks passed"
