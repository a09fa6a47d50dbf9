#!/usr/bin/env bash
# e2e_symgen.sh BINARY SOURCE_DIR: symmetric generation (issue 13) end to end with the shipped
# model and template table: `generate --spacegroup 225` gives crystals spglib finds in Fm-3m at
# symprec 1e-3 (or a supergroup, reported), symmetrized CIFs that read back in the same group,
# the template column of summary.csv, a group without a template named with its nearest ones,
# option conflicts, --spacegroup 1, and `templates build|show` on a small dataset.
set -u
BIN=${1:?usage: e2e_symgen.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_symgen.sh BINARY SOURCE_DIR}
TABLE="$SRC/data/models/templates-mp20.h5"
TMP=$(mktemp -d /tmp/xg_e2e_sym.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ -f "$TABLE" ] || fail "the shipped template table $TABLE is missing"

step "generate --spacegroup 225 -n 4 --steps 30"
"$BIN" generate --spacegroup 225 -n 4 --steps 30 --seed 2 -o "$TMP/fm3m" --quiet || fail "generate failed"
awk -F, 'NR>1 && $6!=225 {bad=1} END {exit bad}' "$TMP/fm3m/summary.csv" \
  || fail "template_spacegroup should be 225 in every row"
"$BIN" symmetry --symprec 1e-3 --format csv "$TMP/fm3m/generated.h5" > "$TMP/sg.csv" \
  || fail "symmetry on generated.h5 failed"
# Supergroups of Fm-3m that a crystal can reach by coincidence: Pm-3m (221), Im-3m (229) on a
# smaller cell. Anything else is a failure.
while IFS=, read -r id formula n num sym; do
  case "$num" in
    225) ;;
    221|229) echo "note: $id ($formula) is in the supergroup $sym ($num)" ;;
    *) fail "$id ($formula): spglib finds $num ($sym) at symprec 1e-3, not Fm-3m" ;;
  esac
done < <(tail -n +2 "$TMP/sg.csv")
[ "$(tail -n +2 "$TMP/sg.csv" | wc -l)" -eq 4 ] || fail "expected 4 crystals"
for f in "$TMP"/fm3m/cif/*.cif; do
  grep -q "_symmetry_Int_Tables_number" "$f" || fail "$f is not a symmetrized CIF"
  [ "$(grep -c "'[^']*, [^']*, [^']*'" "$f")" -gt 1 ] || fail "$f lists no symmetry operations"
  "$BIN" symmetry --format csv "$f" | tail -n +2 | cut -d, -f4 | grep -qxE "225|221|229" \
    || fail "$f does not read back in Fm-3m"
done

step "a symbol, a list and --num-atoms"
"$BIN" generate --spacegroup "Fm-3m,P6_3/mmc" --num-atoms 4 -n 3 --steps 5 --seed 3 -o "$TMP/list" \
  --quiet || fail "generate with a list failed"
awk -F, 'NR>1 && ($3!=4 || ($6!=225 && $6!=194)) {bad=1} END {exit bad}' "$TMP/list/summary.csv" \
  || fail "crystals outside the groups or N asked for"

step "a group without a template names the nearest groups with one"
"$BIN" generate --spacegroup 225 --num-atoms 19 -n 1 --steps 2 -o "$TMP/none" >/dev/null 2>"$TMP/err"
[ $? -eq 2 ] || fail "no template should exit 2"
grep -q "no template for space group 225" "$TMP/err" || fail "message: $(cat "$TMP/err")"
grep -q "nearest groups" "$TMP/err" || fail "message should name the nearest groups: $(cat "$TMP/err")"

step "option errors"
"$BIN" generate --spacegroup 225 --symmetry none -n 1 -o "$TMP/x" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--spacegroup with --symmetry none should exit 2"
"$BIN" generate --spacegroup 231 -n 1 -o "$TMP/x" >/dev/null 2>&1; [ $? -eq 2 ] || fail "group 231 should exit 2"
"$BIN" generate --symmetry maybe -n 1 -o "$TMP/x" >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --symmetry should exit 2"
"$BIN" generate --symmetry template --templates "$SRC/data/models/xtalgen-mp20.h5" -n 1 -o "$TMP/x" \
  >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] || fail "a model file is no template table"
grep -q "template table" "$TMP/err" || fail "message: $(cat "$TMP/err")"

step "--spacegroup 1 is the unconstrained sampler"
"$BIN" generate --spacegroup 1 -n 2 --steps 5 --seed 4 -o "$TMP/p1" --quiet || fail "--spacegroup 1 failed"
"$BIN" generate --symmetry none -n 2 --steps 5 --seed 4 -o "$TMP/none2" --quiet || fail "--symmetry none failed"
cmp -s "$TMP/p1/generated.extxyz" "$TMP/none2/generated.extxyz" \
  || fail "--spacegroup 1 should equal --symmetry none"
awk -F, 'NR>1 && $6!=1 {bad=1} END {exit bad}' "$TMP/p1/summary.csv" || fail "template column should be 1"

step "element patterns: recorded, switchable, analogues for a chemical system"
"$BIN" generate -n 6 --steps 5 --seed 6 -o "$TMP/pat" --quiet || fail "generate (patterns) failed"
grep -q '"element_pattern": "training"' "$TMP/pat/summary.json" || fail "default pattern not recorded"
"$BIN" generate -n 6 --steps 5 --seed 6 --element-pattern free -o "$TMP/free" --quiet \
  || fail "generate --element-pattern free failed"
grep -q '"element_pattern": "free"' "$TMP/free/summary.json" || fail "free not recorded"
cmp -s "$TMP/pat/generated.extxyz" "$TMP/free/generated.extxyz" && fail "patterns changed nothing"
grep -q '"class_prior": "on"' "$TMP/pat/summary.json" || fail "default class prior not recorded"
grep -q '"class_prior"' "$TMP/free/summary.json" && fail "free patterns have no class prior"
"$BIN" generate -n 6 --steps 5 --seed 6 --class-prior off -o "$TMP/flat" --quiet \
  || fail "generate --class-prior off failed"
grep -q '"class_prior": "off"' "$TMP/flat/summary.json" || fail "--class-prior off not recorded"
cmp -s "$TMP/pat/generated.extxyz" "$TMP/flat/generated.extxyz" && fail "the class prior changed nothing"
"$BIN" generate -n 2 --steps 3 --chemsys Fe-O -o "$TMP/patchem" --quiet || fail "chemsys failed"
# a chemical system takes a training analogue's stoichiometry (recorded as "training"); per
# orbit with free
grep -q '"element_pattern": "training"' "$TMP/patchem/summary.json" || fail "chemsys: analogues not recorded"
"$BIN" generate -n 2 --steps 3 --chemsys Fe-O --element-pattern free -o "$TMP/patchemf" --quiet \
  || fail "chemsys free failed"
grep -q '"element_pattern": "free"' "$TMP/patchemf/summary.json" || fail "chemsys: free not recorded"
"$BIN" generate -n 2 --steps 3 --min-elements 2 -o "$TMP/patmin" --quiet || fail "min-elements failed"
grep -q '"element_pattern"' "$TMP/patmin/summary.json" && fail "--min-elements alone has no pattern"
"$BIN" generate -n 2 --steps 3 --symmetry none -o "$TMP/patnone" --quiet || fail "none failed"
grep -q '"element_pattern"' "$TMP/patnone/summary.json" && fail "--symmetry none has no pattern"
"$BIN" generate -n 2 --element-pattern trainin -o "$TMP/patbad" 2>"$TMP/err"
[ $? -eq 2 ] || fail "a bad --element-pattern should exit 2"
grep -q "training" "$TMP/err" || fail "message: $(cat "$TMP/err")"

step "templates build and show"
"$BIN" dataset import --quiet "$SRC/tests/fixtures/cdvae_small.csv" -o "$TMP/small.h5" || fail "import failed"
"$BIN" templates build --data "$TMP/small.h5" -o "$TMP/t.h5" --quiet || fail "templates build failed"
"$BIN" templates show "$TMP/t.h5" > "$TMP/show" || fail "templates show failed"
grep -q "templates in" "$TMP/show" || fail "show output: $(cat "$TMP/show")"
"$BIN" generate --templates "$TMP/t.h5" --symmetry template -n 2 --steps 3 -o "$TMP/own" --quiet \
  || fail "generate with a built table failed"
"$BIN" templates build --data "$TMP/nope.h5" -o "$TMP/t2.h5" --quiet 2>/dev/null
[ $? -eq 1 ] || fail "a missing dataset should exit 1"
echo "e2e_symgen: all checks passed"
