#!/usr/bin/env bash
# e2e_screen_props.sh BINARY SOURCE_DIR: the property columns of `xtalgen screen` (issue 6):
#   - tiny property models made on the fly with `xtalgen train-property` on the fixture
#     tests/fixtures/cdvae_small.csv (formation energy, band gap, magnetic density: seconds);
#   - the header order with and without each input (models, hull, references);
#   - e_hull_pred = e_form_pred - hull energy, checked exactly against a hull built from the
#     fixture (NaCl at -2.1 eV/atom) and against `xtalgen hull query` on the shipped table;
#   - stable and sun consistent with e_hull_pred, --ehull-max, unique and novel on every row;
#   - hhi of known formulas (the values of tests/test_hhi.c: pymatgen's HHIModel) and
#     ewald_per_atom of rock salt (Madelung) and where it must be empty;
#   - summary.json rates and means, the table's statement that e_hull_pred is a prediction
#     with the model's test MAE;
#   - exit codes and messages for missing, malformed, unsupported and duplicate models;
#   - export --only sun on the new column; mpirun -n 2 identical to one process (MPI builds).
# Runs in well under a minute.
set -u
X=${1:?usage: e2e_screen_props.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_screen_props.sh BINARY SOURCE_DIR}
FIX="$SRC/tests/fixtures"
T=$(mktemp -d /tmp/xg_e2e_screen_props.XXXXXX)
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

step "candidates and tiny property models"
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
# the same crystal as a primitive cell: a duplicate, so never S.U.N.
cif "$C/b_nacl_prim.cif" 3.988 3.988 3.988 60 60 60 <<'E'
Na 0 0 0
Cl 0.5 0.5 0.5
E
cif "$C/c_fe2o3.cif" 5.0 5.0 5.0 90 90 90 <<'E'
Fe 0 0 0
Fe 0.5 0.5 0.5
O 0.5 0 0
O 0 0.5 0
O 0 0 0.5
E
cif "$C/d_bi2te3.cif" 6.5 6.5 6.5 90 90 90 <<'E'
Bi 0 0 0
Bi 0.5 0.5 0.5
Te 0.5 0 0
Te 0 0.5 0
Te 0 0 0.5
E
# an element: no ionic charges, so no Madelung energy
cif "$C/e_fe.cif" 2.87 2.87 2.87 90 90 90 <<'E'
Fe 0 0 0
Fe 0.5 0.5 0.5
E
# Fe3O4 needs two valences of Fe: no charge-balanced assignment of one state per element
cif "$C/f_fe3o4.cif" 6 6 6 90 90 90 <<'E'
Fe 0 0 0
Fe 0.5 0.5 0
Fe 0.5 0 0.5
O 0.25 0.25 0.25
O 0.75 0.75 0.25
O 0.75 0.25 0.75
O 0.25 0.75 0.75
E
# hydrogen has no HHI data: hhi must be empty, not zero
cif "$C/g_h2o.cif" 4 4 4 90 90 90 <<'E'
O 0 0 0
H 0.24 0 0
H 0 0.24 0
E
# nine elements (charge balanced: Li Na K Mg Ca Sr Al +12, O5 F2 -12): more than the charge search
# is allowed to try (XG_SCREEN_EWALD_MAX_ELEMENTS 8), so ewald_per_atom is empty, at once
cif "$C/h_nine.cif" 10 10 10 90 90 90 <<'E'
Li 0 0 0
Na 0.3333 0 0
K 0.6667 0 0
Mg 0 0.3333 0
Ca 0.3333 0.3333 0
Sr 0.6667 0.3333 0
Al 0 0.6667 0
O 0.3333 0.6667 0
O 0.6667 0.6667 0
O 0 0 0.5
O 0.3333 0 0.5
O 0.6667 0 0.5
F 0 0.3333 0.5
F 0.3333 0.3333 0.5
E

"$X" dataset import --quiet "$FIX/cdvae_small.csv" --props "$FIX/properties_small.csv" -o "$T/fix.h5" \
    || fail "dataset import of the fixture"
TP=(--data "$T/fix.h5" --val "$T/fix.h5" --test "$T/fix.h5" --epochs 2 --hidden 16 --layers 1 --quiet)
for t in formation_energy_per_atom band_gap dft_mag_density e_above_hull; do
    "$X" train-property --target $t "${TP[@]}" -o "$T/$t.h5" > "$T/train_$t.log" 2>&1 \
        || { cat "$T/train_$t.log"; fail "train-property --target $t"; }
done
# The tiny models' training domain (issue 14) is the fixture's handful of crystals, which the
# candidates lie outside of (in_domain = 0, stable not assessed). The flag logic below is tested
# on models whose domain is widened to the candidates with `model domain`, from the candidates
# labelled through --props (ids are the file names); the domain test proper comes after.
for t in formation_energy_per_atom band_gap dft_mag_density; do
    cp "$T/$t.h5" "$T/narrow_$t.h5"
done
{ echo "material_id,formation_energy_per_atom,band_gap,dft_mag_density"
  for f in "$C"/*.cif; do echo "$(basename "$f" .cif),0,0,0"; done; } > "$T/cand_labels.csv"
"$X" dataset import --quiet "$C" --props "$T/cand_labels.csv" -o "$T/cands.h5" || fail "import candidates"
for t in formation_energy_per_atom band_gap dft_mag_density; do
    "$X" model domain "$T/$t.h5" --data "$T/cands.h5" > "$T/domain_$t.txt" 2>&1 \
        || { cat "$T/domain_$t.txt"; fail "model domain $t"; }
done
grep -q "8 crystals, 2..14 atoms" "$T/domain_formation_energy_per_atom.txt" \
    || fail "model domain: $(cat "$T/domain_formation_energy_per_atom.txt")"
FE="$T/formation_energy_per_atom.h5"
BG="$T/band_gap.h5"
MAG="$T/dft_mag_density.h5"
# a hull from the fixture: NaCl -2.1, CsCl -0.4, ZnO -1.8, TiO2 -3.3 eV/atom (Si at zero)
"$X" hull build --entries "$FIX/cdvae_small.csv" -o "$T/hull.h5" > /dev/null 2>&1 || fail "hull build"

# near A B TOL: |A - B| <= TOL, A not empty
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { exit !(a != "" && a - b <= t && b - a <= t) }'; }
# col FILE NAME: the column number of NAME in the header of FILE (empty if absent)
col() { head -1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }
# cell FILE ID NAME
cell() { local c; c=$(col "$1" "$3"); [ -n "$c" ] || fail "$1: no column $3"; grep "^$2," "$1" | cut -d, -f"$c"; }

step "header order"
BASE="id,formula,natoms,spacegroup_number,valid_structure,valid_composition,unique,duplicate_of,novel,matched_reference"
"$X" screen "$C" --no-default-reference -o "$T/s0" --quiet || fail "screen without models"
TAIL="min_bond_ratio,valid_geometry,n_elements"   # issue 14; in_domain with models; error last
[ "$(head -1 "$T/s0/screen.csv")" = "$BASE,hhi,ewald_per_atom,$TAIL,error" ] \
    || fail "header without models: $(head -1 "$T/s0/screen.csv")"
"$X" screen "$C" --no-default-reference --property-model "$FE" --hull "$T/hull.h5" -o "$T/s1" --quiet || fail "screen, no references"
[ "$(head -1 "$T/s1/screen.csv")" = "$BASE,e_form_pred,e_hull_pred,stable,hhi,ewald_per_atom,$TAIL,in_domain,error" ] \
    || fail "header without references (no sun): $(head -1 "$T/s1/screen.csv")"
"$X" screen "$C" --no-default-reference --property-model "$BG" --hull "$T/hull.h5" -o "$T/s2" --quiet 2> "$T/s2.err" \
    || fail "screen with a band-gap model only"
[ "$(head -1 "$T/s2/screen.csv")" = "$BASE,band_gap_pred,hhi,ewald_per_atom,$TAIL,in_domain,error" ] \
    || fail "header with a band-gap model only: $(head -1 "$T/s2/screen.csv")"
grep -q "hull" "$T/s2.err" || fail "an unused --hull should be mentioned"
# models in any order on the command line; columns in the documented order
"$X" screen "$C" --no-default-reference --reference "$FIX/cdvae_small.csv" --property-model "$MAG" --property-model "$BG" \
    --property-model "$FE" --hull "$T/hull.h5" -o "$T/s3" > "$T/s3.txt" 2> "$T/s3.err" \
    || { cat "$T/s3.err"; fail "screen with three models"; }
[ "$(head -1 "$T/s3/screen.csv")" = \
  "$BASE,e_form_pred,e_hull_pred,stable,sun,mag_density_pred,band_gap_pred,hhi,ewald_per_atom,$TAIL,in_domain,error" ] \
    || fail "full header: $(head -1 "$T/s3/screen.csv")"
[ "$(tail -n +2 "$T/s3/screen.csv" | wc -l)" -eq 8 ] || fail "expected 8 rows"
# the first ten columns are unchanged by the property stage
cut -d, -f1-10 "$T/s3/screen.csv" > "$T/a.cut"
"$X" screen "$C" --no-default-reference --reference "$FIX/cdvae_small.csv" -o "$T/s3b" --quiet || fail "screen with references"
cut -d, -f1-10 "$T/s3b/screen.csv" | cmp -s - "$T/a.cut" || fail "property models changed the first columns"

step "e_hull_pred against the hull"
S="$T/s3/screen.csv"
ce=$(col "$S" e_form_pred); ch=$(col "$S" e_hull_pred); cs=$(col "$S" stable); cu=$(col "$S" sun)
bad=$(awk -F, -v ce="$ce" -v ch="$ch" 'NR > 1 {
        if ($ce == "" || $ch == "") { print "empty " $1; next }
        d = $ch - $ce; want = ($2 == "NaCl") ? 2.1 : 0;   # only NaCl has a phase in this hull
        if (d - want > 2e-4 || want - d > 2e-4) print $1 " " d }' "$S")
[ -z "$bad" ] || fail "e_hull_pred - e_form_pred wrong: $bad"
# the default table is looked up in $XTALGEN_DATA_DIR first
mkdir -p "$T/datadir" && cp "$T/hull.h5" "$T/datadir/hull-mp20.h5"
XTALGEN_DATA_DIR="$T/datadir" "$X" screen "$C" --no-default-reference --property-model "$FE" -o "$T/sd" --quiet \
    || fail "screen with XTALGEN_DATA_DIR"
d=$(awk -v a="$(cell "$T/sd/screen.csv" a_nacl e_hull_pred)" -v b="$(cell "$T/sd/screen.csv" a_nacl e_form_pred)" \
    'BEGIN { print a - b }')
near "$d" 2.1 2e-4 || fail "XTALGEN_DATA_DIR hull not used: NaCl e_hull_pred - e_form_pred = $d"
grep -q "$T/datadir/hull-mp20.h5" "$T/sd/summary.json" || fail "summary.json should name the hull used"
# the shipped table, through the hull command
HS="$SRC/data/hull-mp20.h5"
if [ -f "$HS" ]; then
    "$X" screen "$C" --no-default-reference --property-model "$FE" -o "$T/s4" --quiet || fail "screen with the shipped hull"
    e=$(cell "$T/s4/screen.csv" c_fe2o3 e_form_pred); h=$(cell "$T/s4/screen.csv" c_fe2o3 e_hull_pred)
    q=$("$X" hull query "$HS" Fe2O3 "$e" | awk '$1 == "e_above_hull" { print $2 }')
    awk -v a="$h" -v b="$q" 'BEGIN { exit !(a - b < 2e-4 && b - a < 2e-4) }' \
        || fail "Fe2O3: e_hull_pred $h, hull query says $q"
    grep -q "hull-mp20.h5" "$T/s4/summary.json" || fail "summary.json does not name the shipped hull"
else
    echo "note: $HS absent, shipped-hull check skipped"
fi

step "stable and sun against the flags"
check_flags() { # FILE EHULL_MAX EHULL_MIN
    # stable: e_hull_pred < max, left empty (not assessed) outside the models' training domain or
    # below min; sun: stable, unique, novel, valid_structure and valid_geometry
    awk -F, -v ch="$(col "$1" e_hull_pred)" -v cs="$(col "$1" stable)" -v cu="$(col "$1" sun)" \
        -v cd="$(col "$1" in_domain)" -v cg="$(col "$1" valid_geometry)" -v m="$2" -v lo="$3" 'NR > 1 {
        st = ($cd == 0 || $ch < lo) ? "" : ($ch < m) ? 1 : 0;
        if ($cs != st) { print $1 ": stable " $cs " but e_hull_pred " $ch " in_domain " $cd; next }
        if (st == "0" || $7 == 0 || $9 == 0 || $5 == 0 || $cg == 0) sun = 0
        else sun = (st == 1) ? 1 : "";
        if ($cu != sun) print $1 ": sun " $cu " with stable " st " unique " $7 " novel " $9 }' "$1"
}
bad=$(check_flags "$S" 0.1 -0.3); [ -z "$bad" ] || fail "ehull-max 0.1: $bad"
# (the fixture hull knows only NaCl, so the tiny model's e_hull_pred of the others is its whole
# formation energy: --ehull-min -100 keeps the implausibility floor out of the way)
"$X" screen "$C" --no-default-reference --reference "$FIX/cdvae_small.csv" --property-model "$FE" --hull "$T/hull.h5" \
    --ehull-max 5 --ehull-min -100 -o "$T/s5" --quiet || fail "screen --ehull-max 5"
bad=$(check_flags "$T/s5/screen.csv" 5 -100); [ -z "$bad" ] || fail "ehull-max 5: $bad"
# with a large threshold every crystal is stable; the S.U.N. ones are exactly the unique and novel
n5=$(awk -F, -v c="$(col "$T/s5/screen.csv" stable)" 'NR > 1 && $c == 1' "$T/s5/screen.csv" | wc -l)
[ "$n5" -eq 8 ] || fail "--ehull-max 5: expected 8 stable, got $n5"
[ "$(cell "$T/s5/screen.csv" a_nacl sun)" = 0 ] || fail "a_nacl is in the references: not S.U.N."
[ "$(cell "$T/s5/screen.csv" b_nacl_prim sun)" = 0 ] || fail "b_nacl_prim is a duplicate: not S.U.N."
[ "$(cell "$T/s5/screen.csv" c_fe2o3 sun)" = 1 ] || fail "c_fe2o3 should be S.U.N. at --ehull-max 5"
grep -q '"sun": 6' "$T/s5/summary.json" || fail "summary count of sun: $(grep -A8 counts "$T/s5/summary.json")"
grep -A12 '"rates"' "$T/s5/summary.json" | grep -q '"stable": 1' || fail "summary rate of stable"

step "hhi and ewald_per_atom"
near "$(cell "$S" c_fe2o3 hhi)" 1828.908 1.0 || fail "Fe2O3 hhi $(cell "$S" c_fe2o3 hhi), want 1828.9"
near "$(cell "$S" d_bi2te3 hhi)" 4152.691 1.0 || fail "Bi2Te3 hhi $(cell "$S" d_bi2te3 hhi), want 4152.7"
near "$(cell "$S" e_fe hhi)" 2400 0.05 || fail "Fe hhi $(cell "$S" e_fe hhi), want 2400"
[ -z "$(cell "$S" g_h2o hhi)" ] || fail "H2O hhi should be empty (no data for H)"
# rock salt, a = 5.64: -M k / (2 r0) per atom with M = 1.747565, r0 = 2.82 A
near "$(cell "$S" a_nacl ewald_per_atom)" -4.4617 0.002 || fail "NaCl ewald $(cell "$S" a_nacl ewald_per_atom)"
near "$(cell "$S" b_nacl_prim ewald_per_atom)" "$(cell "$S" a_nacl ewald_per_atom)" 0.002 \
    || fail "the primitive cell's Madelung energy per atom differs"
[ -z "$(cell "$S" e_fe ewald_per_atom)" ] || fail "elemental Fe should have no ewald energy"
[ -z "$(cell "$S" f_fe3o4 ewald_per_atom)" ] || fail "Fe3O4 should have no charge-balanced ewald energy"
[ -z "$(cell "$S" h_nine ewald_per_atom)" ] || fail "a nine-element crystal should have no ewald energy"
[ -n "$(cell "$S" h_nine hhi)" ] || fail "the nine-element crystal should have an hhi"
near "$(cell "$S" c_fe2o3 ewald_per_atom)" -20 20 || fail "Fe2O3 ewald $(cell "$S" c_fe2o3 ewald_per_atom)"

step "summary and table"
J="$T/s3/summary.json"
for k in '"stable": ' '"sun": ' '"e_form_pred": {"mean": ' '"e_hull_pred": {"mean": ' \
         '"mag_density_pred": {"mean": ' '"band_gap_pred": {"mean": ' '"hhi": {"mean": ' \
         '"ewald_per_atom": {"mean": ' '"formation_energy_per_atom": {"path": ' '"ehull_max": 0.1'; do
    grep -qF "$k" "$J" || fail "summary.json lacks $k"
done
mean=$(awk -F, -v c="$ce" 'NR > 1 && $c != "" { s += $c; n++ } END { printf "%.6f", s / n }' "$S")
jm=$(grep -o '"e_form_pred": {"mean": [-0-9.e]*' "$J" | awk '{ print $NF }')
near "$jm" "$mean" 1e-3 || fail "mean e_form_pred $jm, column mean $mean"
nh=$(grep -o '"hhi": {"mean": [-0-9.e]*, "n": [0-9]*' "$J" | awk '{ print $NF }')
[ "$nh" = 7 ] || fail "hhi mean over $nh crystals, want 7 (H2O has none)"
# the model's measured test MAE, as stored in the model file, is shown with the prediction
mae=$(awk '/test MAE/ { for (i = 1; i <= NF; i++) if ($i == "MAE") { print $(i + 1); exit } }' "$T/train_formation_energy_per_atom.log")
[ -n "$mae" ] || fail "train-property printed no test MAE"
grep -q "test_mae\": $mae" "$J" || \
    near "$(grep -o '"formation_energy_per_atom": {"path": "[^"]*", "test_mae": [-0-9.e]*' "$J" | awk '{ print $NF }')" "$mae" 1e-3 \
    || fail "summary.json test_mae differs from the model's ($mae)"
grep -q "e_hull_pred is a PREDICTION, not DFT" "$T/s3.txt" || fail "the table must say e_hull_pred is a prediction"
grep -q "test MAE" "$T/s3.txt" || fail "the table must give the model's test MAE"
for f in stable sun; do grep -q "^  $f " "$T/s3.txt" || fail "the table lacks the $f rate"; done

step "exit codes"
"$X" screen "$C" --no-default-reference --property-model "$T/nonexistent.h5" -o "$T/e1" --quiet 2> "$T/e1.err"
[ $? -eq 1 ] || fail "a missing property model should exit 1"
grep -q "nonexistent.h5" "$T/e1.err" || fail "message should name the missing model: $(cat "$T/e1.err")"
grep -q "^xtalgen screen: " "$T/e1.err" || fail "message should start with 'xtalgen screen: '"
echo "not a model" > "$T/bad.h5"
"$X" screen "$C" --no-default-reference --property-model "$T/bad.h5" -o "$T/e2" --quiet 2> "$T/e2.err"
[ $? -eq 1 ] || fail "a malformed property model should exit 1"
grep -q "bad.h5" "$T/e2.err" || fail "message should name the malformed model: $(cat "$T/e2.err")"
"$X" screen "$C" --no-default-reference --property-model "$T/fix.h5" -o "$T/e3" --quiet 2> "$T/e3.err"
[ $? -eq 1 ] || fail "a dataset given as a property model should exit 1"
grep -q "fix.h5" "$T/e3.err" || fail "message should name the wrong file: $(cat "$T/e3.err")"
"$X" screen "$C" --no-default-reference --property-model "$T/e_above_hull.h5" -o "$T/e4" --quiet 2> "$T/e4.err"
[ $? -eq 1 ] || fail "a model of an unsupported target should exit 1"
grep -q "e_above_hull" "$T/e4.err" || fail "message should name the target: $(cat "$T/e4.err")"
"$X" screen "$C" --no-default-reference --property-model "$FE" --property-model "$FE" -o "$T/e5" --quiet 2> "$T/e5.err"
[ $? -eq 1 ] || fail "two models of one target should exit 1"
grep -q "both predict" "$T/e5.err" || fail "message should say both predict one target: $(cat "$T/e5.err")"
"$X" screen "$C" --no-default-reference --property-model "$FE" --hull "$T/nohull.h5" -o "$T/e6" --quiet 2> "$T/e6.err"
[ $? -eq 1 ] || fail "a missing hull should exit 1"
grep -q "nohull.h5" "$T/e6.err" || fail "message should name the hull: $(cat "$T/e6.err")"
"$X" screen "$C" --no-default-reference --property-model "$FE" --hull "$T/bad.h5" -o "$T/e7" --quiet 2> "$T/e7.err"
[ $? -eq 1 ] || fail "a malformed hull should exit 1"
"$X" screen "$C" --no-default-reference --property-model 2>/dev/null; [ $? -eq 2 ] || fail "--property-model without a value should exit 2"
"$X" screen "$C" --no-default-reference --ehull-max abc 2>/dev/null; [ $? -eq 2 ] || fail "--ehull-max abc should exit 2"
"$X" screen "$C" --no-default-reference --ehull-max -1 2>/dev/null; [ $? -eq 2 ] || fail "--ehull-max -1 should exit 2"
# under ASan/UBSan a report also exits 1: make sure the failures above are the command's own
grep -l "Sanitizer\|runtime error" "$T"/*.err 2>/dev/null && fail "sanitizer report in an error path"
for d in e1 e2 e3 e4 e5 e6 e7; do [ -e "$T/$d/screen.csv" ] && fail "$d: a failed run wrote screen.csv"; done
ls "$T/s3" | grep -q tmp && fail "temporary files left in the output folder"

step "export --only sun"
"$X" export "$C" --screen "$T/s5/screen.csv" --only sun --format cif -o "$T/x" --quiet \
    || fail "export --only sun"
nx=$(ls "$T/x"/*.cif 2>/dev/null | wc -l)
[ "$nx" -eq 6 ] || fail "export --only sun wrote $nx CIFs, want 6"
[ -e "$T/x/a_nacl.cif" ] && fail "export --only sun kept a non-S.U.N. crystal"

# the shipped formation-energy model, when it exists: its MAE is stated
SHIPPED="$SRC/data/models/prop-formation_energy_per_atom.h5"
if [ -f "$SHIPPED" ]; then
    step "the shipped formation-energy model"
    "$X" screen "$C" --no-default-reference --property-model "$SHIPPED" -o "$T/s6" > "$T/s6.txt" 2>&1 || fail "screen with $SHIPPED"
    grep -q "test MAE [0-9]" "$T/s6.txt" || fail "the shipped model's test MAE is not shown"
    near "$(cell "$T/s6/screen.csv" a_nacl e_form_pred)" -2.1 0.5 \
        || fail "shipped model: NaCl e_form_pred $(cell "$T/s6/screen.csv" a_nacl e_form_pred), DFT -2.1"
fi

# MPI builds: two ranks write what one process writes
if command -v mpirun >/dev/null 2>&1 && ldd "$X" 2>/dev/null | grep -q libmpi; then
    step "mpirun -n 2"
    ARGS=(screen "$C" "$FIX/cdvae_small.csv" --reference "$FIX/cdvae_small.csv" --property-model "$FE"
          --property-model "$MAG" --property-model "$BG" --hull "$T/hull.h5" --quiet)
    OMP_NUM_THREADS=1 "$X" "${ARGS[@]}" -o "$T/m1" || fail "single-process screen"
    OMP_NUM_THREADS=1 mpirun --oversubscribe --allow-run-as-root --bind-to none -x OMP_NUM_THREADS \
        -n 2 "$X" "${ARGS[@]}" -o "$T/m2" > "$T/m2.log" 2>&1 || { cat "$T/m2.log"; fail "screen -n 2"; }
    cmp -s "$T/m1/screen.csv" "$T/m2/screen.csv" \
        || { diff "$T/m1/screen.csv" "$T/m2/screen.csv"; fail "-n 2 screen.csv differs"; }
    cmp -s <(grep -v seconds "$T/m1/summary.json") <(grep -v seconds "$T/m2/summary.json") \
        || fail "-n 2 summary.json differs"
fi
echo "e2e_screen_props: all checks passed"
