#!/bin/bash
# e2e_screen.sh BINARY SOURCE_DIR: `xtalgen match` and `xtalgen screen` end to end.
set -u
X="$1"
SRC="$2"
T=$(mktemp -d /tmp/xg_e2e_screen.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cif() { # name a b c alpha beta gamma, then "El x y z" lines on stdin
    local f="$1"; shift
    {
        echo "data_$(basename "$f" .cif)"
        echo "_cell_length_a $1"; echo "_cell_length_b $2"; echo "_cell_length_c $3"
        echo "_cell_angle_alpha $4"; echo "_cell_angle_beta $5"; echo "_cell_angle_gamma $6"
        echo "loop_"; echo "_atom_site_type_symbol"; echo "_atom_site_label"
        echo "_atom_site_fract_x"; echo "_atom_site_fract_y"; echo "_atom_site_fract_z"
        local k=0
        while read -r el x y z; do echo "$el $el$k $x $y $z"; k=$((k + 1)); done
    } > "$f"
}
mkdir -p "$T/cands" "$T/refs"
# rock salt, conventional cell
cif "$T/cands/a_nacl.cif" 5.64 5.64 5.64 90 90 90 <<'E'
Na 0 0 0
Na 0 0.5 0.5
Na 0.5 0 0.5
Na 0.5 0.5 0
Cl 0.5 0.5 0.5
Cl 0.5 0 0
Cl 0 0.5 0
Cl 0 0 0.5
E
# the same crystal: primitive cell, shifted origin, other site order, other volume
cif "$T/cands/b_nacl_prim.cif" 4.1 4.1 4.1 60 60 60 <<'E'
Cl 0.6 0.6 0.6
Na 0.1 0.1 0.1
E
# CsCl-type NaCl: same formula, different crystal
cif "$T/cands/c_nacl_cscl.cif" 3.3 3.3 3.3 90 90 90 <<'E'
Na 0 0 0
Cl 0.5 0.5 0.5
E
# two atoms 0.3 A apart: structurally invalid; NaCl2 is not charge balanced
cif "$T/cands/d_bad.cif" 5 5 5 90 90 90 <<'E'
Na 0 0 0
Cl 0.06 0 0
Cl 0.5 0.5 0.5
E
cp "$T/cands/c_nacl_cscl.cif" "$T/refs/known_cscl.cif"

# --- match
out=$("$X" match "$T/cands/a_nacl.cif" "$T/cands/b_nacl_prim.cif") || fail "match exit $?"
[[ "$out" == match\ rms=0.0000*\ max=* ]] || fail "match printed '$out'"
out=$("$X" match "$T/cands/a_nacl.cif" "$T/cands/c_nacl_cscl.cif") || fail "no-match exit $?"
[[ "$out" == "no match" ]] || fail "no-match printed '$out'"
"$X" match "$T/cands/a_nacl.cif" "$T/nonexistent.cif" 2>/dev/null; [ $? -eq 1 ] || fail "unreadable input should exit 1"
"$X" match "$T/cands/a_nacl.cif" 2>/dev/null; [ $? -eq 2 ] || fail "one input should exit 2"
"$X" match --stol abc "$T/cands/a_nacl.cif" "$T/cands/b_nacl_prim.cif" 2>/dev/null; [ $? -eq 2 ] || fail "bad --stol should exit 2"

# --- screen
"$X" screen 2>/dev/null; [ $? -eq 2 ] || fail "screen without input should exit 2"
"$X" screen "$T/cands" --bogus 2>/dev/null; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$X" screen "$T/nonexistent" -o "$T/o0" --quiet 2>/dev/null; [ $? -eq 1 ] || fail "unreadable input should exit 1"
# only the hand-made references here (the shipped MP-20 set is checked below)
"$X" screen "$T/cands" --no-default-reference --reference "$T/refs" --distribution-reference "$T/refs" \
    -o "$T/out" > "$T/table.txt" 2> "$T/err.txt" || { cat "$T/err.txt"; fail "screen exit $?"; }
head -1 "$T/out/screen.csv" | grep -q '^id,formula,natoms,spacegroup_number,valid_structure,valid_composition,unique,duplicate_of,novel,matched_reference' \
    || fail "screen.csv header: $(head -1 "$T/out/screen.csv")"
row() { grep "^$1," "$T/out/screen.csv" | cut -d, -f"$2"; }
[ "$(row a_nacl 1-10)" = "a_nacl,NaCl,8,225,1,1,1,,1," ] || fail "a_nacl row: $(row a_nacl 1-10)"
[ "$(row b_nacl_prim 5-10)" = "1,1,0,a_nacl,1," ] || fail "b row: $(row b_nacl_prim 5-10)"
[ "$(row c_nacl_cscl 4-10)" = "221,1,1,1,,0,known_cscl" ] || fail "c row: $(row c_nacl_cscl 4-10)"
[ "$(row d_bad 5-6)" = "0,0" ] || fail "d row: $(row d_bad 5-6)"
grep -q '"valid_structure": 3' "$T/out/summary.json" || fail "summary counts: $(cat "$T/out/summary.json")"
grep -q '"novel": 3' "$T/out/summary.json" || fail "summary novel count"
grep -q '"density_g_cm3": ' "$T/out/summary.json" || fail "summary lacks Wasserstein distances"
grep -q 'valid_composition' "$T/table.txt" || fail "no summary table printed"
ls "$T/out" | grep -q tmp && fail "temporary files left in the output folder"
# the shipped MP-20 reference is used by default and --reference adds to it: rock salt NaCl is
# in MP-20, the CsCl-type cell only in the hand-made references
if [ -f "$SRC/data/reference/mp20.h5" ]; then
    "$X" screen "$T/cands" --reference "$T/refs" -o "$T/outd" --quiet || fail "screen, default reference"
    rowd() { grep "^$1," "$T/outd/screen.csv" | cut -d, -f"$2"; }
    [ "$(rowd a_nacl 9)" = 0 ] || fail "rock salt NaCl should be known to MP-20: $(rowd a_nacl 1-10)"
    [ "$(rowd c_nacl_cscl 9-10)" = "0,known_cscl" ] || fail "c row with the default reference: $(rowd c_nacl_cscl 1-10)"
    grep -q 'reference/mp20.h5' "$T/outd/summary.json" || fail "summary.json should name the shipped reference"
fi

# --- real data: every validation crystal matches itself as a reference, and is valid
VAL="$SRC/../shared/data/mp_20/val.csv"
if [ -f "$VAL" ]; then
    # header + first 60 records (CIF cells span lines: a record ends when quotes balance)
    awk 'BEGIN{q=0; n=-1} { print; q += gsub(/"/, "\""); if (q % 2 == 0) { n++; if (n >= 60) exit } }' \
        "$VAL" > "$T/val60.csv"
    "$X" screen "$T/val60.csv" --no-default-reference --reference "$T/val60.csv" -o "$T/val" --quiet \
        || fail "screen val60"
    n=$(tail -n +2 "$T/val/screen.csv" | wc -l)
    [ "$n" -eq 60 ] || fail "expected 60 rows, got $n"
    bad=$(tail -n +2 "$T/val/screen.csv" | awk -F, '$5 != 1 || $9 != 0' | wc -l)
    [ "$bad" -eq 0 ] || fail "$bad validation crystals invalid or novel against themselves"
else
    echo "note: $VAL absent, real-data check skipped"
fi
echo "e2e_screen: all checks passed"
