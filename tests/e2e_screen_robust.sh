#!/bin/bash
# e2e_screen_robust.sh BINARY SOURCE_DIR: issue 14, screening a user can act on.
#   - one unparsable file and a needle pair (3 x 3 x 3000 A, one formula) among good crystals:
#     screen runs to the end, exit 0, every file has its row, failures in the error column and
#     counted in summary.json; a crystal always matches itself;
#   - geometric validity: bcc Fe at a = 2.87 A passes, squeezed to 1.6 A it fails and is not S.U.N.;
#   - the shipped MP-20 reference is used without --reference (bcc Fe is mp-13: not novel);
#   - with the shipped property models: in_domain, clipping to >= 0, stable not assessed outside
#     the training domain; --explain.
set -u
X=${1:?usage: e2e_screen_robust.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_screen_robust.sh BINARY SOURCE_DIR}
T=$(mktemp -d /tmp/xg_e2e_screen_robust.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
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
col() { head -1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }
cell() { local c; c=$(col "$1" "$3"); [ -n "$c" ] || fail "$1: no column $3"; grep "^$2," "$1" | cut -d, -f"$c"; }

C="$T/cands"
mkdir -p "$C"
cif "$C/a_nacl.cif" 5.64 5.64 5.64 90 90 90 <<'E'
Na 0 0 0
Na 0 0.5 0.5
Na 0.5 0 0.5
Na 0.5 0.5 0
Cl 0.5 0.5 0.5
Cl 0.5 0 0
Cl 0 0.5 0
Cl 0 0 0.5
E
cif "$C/b_fe_bcc.cif" 2.87 2.87 2.87 90 90 90 <<'E'
Fe 0 0 0
Fe 0.5 0.5 0.5
E
cif "$C/c_fe_squeezed.cif" 1.6 1.6 1.6 90 90 90 <<'E'
Fe 0 0 0
Fe 0.5 0.5 0.5
E
cif "$C/d_needle1.cif" 3 3 3000 90 90 90 <<'E'
Fe 0 0 0
Co 0.5 0.5 0.00031
E
cif "$C/e_needle2.cif" 3 3 3000 90 90 90 <<'E'
Fe 0 0 0
Co 0.5 0.5 0.00032
E
printf 'data_broken\n_cell_length_a 3\nloop_\n_atom_site_type_symbol\nFe 0 0\n' > "$C/f_broken.cif"

step "match: a needle matches itself; a needle pair is not assessed, quickly"
out=$("$X" match "$C/d_needle1.cif" "$C/d_needle1.cif") || fail "self-match exit $?"
[[ "$out" == "match rms=0.000000 max=0.000000" ]] || fail "self-match printed '$out'"
"$X" match "$C/d_needle1.cif" "$C/e_needle2.cif" > /dev/null 2> "$T/m.err"
[ $? -eq 1 ] || fail "a needle pair should be refused (exit 1)"
grep -q "not assessed" "$T/m.err" || fail "needle pair message: $(cat "$T/m.err")"

step "screen runs to the end"
PROPS=()
for t in formation_energy_per_atom band_gap dft_mag_density; do
    m="$SRC/data/models/prop-$t.h5"
    [ -f "$m" ] && PROPS+=(--property-model "$m")
done
"$X" screen "$C" "${PROPS[@]}" -o "$T/out" --explain c_fe_squeezed > "$T/out.txt" 2> "$T/out.err" \
    || { cat "$T/out.err"; fail "screen exit $?"; }
S="$T/out/screen.csv"
[ "$(tail -n +2 "$S" | wc -l)" -eq 6 ] || fail "expected 6 rows (one per file), got $(tail -n +2 "$S" | wc -l)"
[ "$(tail -1 "$S" | cut -d, -f1)" = f_broken ] || fail "the unreadable file has no row"
cell "$S" f_broken error | grep -q "unreadable" || fail "f_broken error: $(cell "$S" f_broken error)"
[ -z "$(cell "$S" f_broken valid_structure)" ] || fail "f_broken should not be assessed"
[ "$(cell "$S" d_needle1 unique)" = 1 ] || fail "the first needle opens its group"
[ -z "$(cell "$S" e_needle2 unique)" ] || fail "the second needle: unique not assessed"
cell "$S" e_needle2 error | grep -q "unique not assessed" || fail "e_needle2 error: $(cell "$S" e_needle2 error)"
grep -q '"errors": {"rows": 2, "read": 1, "validity": 0, "spglib": 0, "matcher": 1' "$T/out/summary.json" \
    || fail "summary errors: $(grep errors "$T/out/summary.json")"

step "geometric validity and the shipped reference"
[ "$(cell "$S" b_fe_bcc valid_geometry)" = 1 ] || fail "bcc Fe should be geometrically valid"
[ "$(cell "$S" c_fe_squeezed valid_geometry)" = 0 ] || fail "squeezed Fe should be geometrically invalid"
[ "$(cell "$S" c_fe_squeezed valid_structure)" = 1 ] || fail "squeezed Fe passes the 0.5 A rule"
awk -v r="$(cell "$S" c_fe_squeezed min_bond_ratio)" 'BEGIN { exit !(r > 0.52 && r < 0.53) }' \
    || fail "squeezed Fe min_bond_ratio $(cell "$S" c_fe_squeezed min_bond_ratio), want 0.525"
[ "$(cell "$S" b_fe_bcc n_elements)" = 1 ] && [ "$(cell "$S" a_nacl n_elements)" = 2 ] || fail "n_elements"
if [ -f "$SRC/data/reference/mp20.h5" ]; then
    [ "$(cell "$S" b_fe_bcc novel)" = 0 ] || fail "bcc Fe is in MP-20 (mp-13): not novel"
    [ "$(cell "$S" a_nacl novel)" = 0 ] || fail "rock salt NaCl is in MP-20: not novel"
fi

if [ ${#PROPS[@]} -eq 6 ]; then
    step "honest predictions with the shipped models"
    [ "$(cell "$S" c_fe_squeezed in_domain)" = 0 ] || fail "squeezed Fe should be outside the training domain"
    [ -z "$(cell "$S" c_fe_squeezed stable)" ] || fail "squeezed Fe: stable must be empty (not assessed)"
    [ "$(cell "$S" c_fe_squeezed sun)" = 0 ] || fail "squeezed Fe can never be S.U.N."
    [ "$(cell "$S" b_fe_bcc in_domain)" = 1 ] || fail "bcc Fe is inside the training domain"
    neg=$(awk -F, -v g="$(col "$S" band_gap_pred)" -v m="$(col "$S" mag_density_pred)" \
        'NR > 1 && (($g != "" && $g < 0) || ($m != "" && $m < 0))' "$S" | wc -l)
    [ "$neg" -eq 0 ] || fail "$neg negative band gap or magnetic density predictions"
    grep -q '"clipped": {"formation_energy_per_atom": 0, "dft_mag_density": [0-9]*, "band_gap": [0-9]*}' \
        "$T/out/summary.json" || fail "summary clipped: $(grep clipped "$T/out/summary.json")"
    grep -q '"outside_domain": [1-9]' "$T/out/summary.json" || fail "summary outside_domain"
fi

step "--explain"
grep -q "^c_fe_squeezed: Fe, 2 atoms" "$T/out.txt" || fail "--explain header: $(cat "$T/out.txt")"
grep -q "valid_geometry     0: smallest d / (r_i + r_j) = 0.525, below 0.70" "$T/out.txt" \
    || fail "--explain valid_geometry: $(grep valid_geometry "$T/out.txt")"
"$X" screen "$C" -o "$T/out2" --quiet --explain nosuchid 2> "$T/x.err"
[ $? -eq 1 ] || fail "--explain of an unknown id should exit 1"
grep -q "nosuchid" "$T/x.err" || fail "--explain message: $(cat "$T/x.err")"
echo "e2e_screen_robust: all checks passed"
