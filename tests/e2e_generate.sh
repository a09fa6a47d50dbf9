#!/usr/bin/env bash
# e2e_generate.sh BINARY SOURCE_DIR: `xtalgen generate` end to end with the shipped model:
# outputs and their readability, determinism for a seed, element exclusion, constraint errors,
# a killed run keeping its finished crystals, then `screen` and `export` on the result.
set -u
BIN=${1:?usage: e2e_generate.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_generate.sh BINARY SOURCE_DIR}
MODEL="$SRC/data/models/xtalgen-mp20.h5"
TMP=$(mktemp -d /tmp/xg_e2e_gen.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ -f "$MODEL" ] || fail "the shipped model $MODEL is missing"

step "usage errors exit 2"
"$BIN" generate -o "$TMP/x" >/dev/null 2>&1; [ $? -eq 2 ] || fail "missing -n should exit 2"
"$BIN" generate -n 2 -o "$TMP/x" --elements Xx >/dev/null 2>"$TMP/err"; [ $? -eq 2 ] || fail "unknown element should exit 2"
grep -q "Xx" "$TMP/err" || fail "the message should name the unknown element"
"$BIN" generate -n 2 -o "$TMP/x" --elements Og >/dev/null 2>"$TMP/err"; [ $? -eq 2 ] || fail "an element the model cannot make should exit 2"
"$BIN" generate -n 2 -o "$TMP/x" --model "$TMP/nope.h5" >/dev/null 2>&1; [ $? -eq 1 ] || fail "a missing model should exit 1"

step "generate 4 crystals with 50 steps"
"$BIN" generate -n 4 --steps 50 --seed 3 -o "$TMP/a" --quiet || fail "generate failed"
[ "$(ls "$TMP/a/cif" | wc -l)" -eq 4 ] || fail "expected 4 CIF files"
[ "$(wc -l < "$TMP/a/summary.csv")" -eq 5 ] || fail "summary.csv should have a header and 4 rows"
head -1 "$TMP/a/summary.csv" | grep -qx "id,formula,natoms,spacegroup_number,spacegroup_symbol,template_spacegroup,volume,density" \
  || fail "summary.csv header"
[ "$(grep -c Lattice= "$TMP/a/generated.extxyz")" -eq 4 ] || fail "generated.extxyz should hold 4 frames"
"$BIN" dataset info "$TMP/a/generated.h5" > "$TMP/info" 2>&1 || fail "generated.h5 unreadable"
grep -q "structures: 4" "$TMP/info" || fail "generated.h5 should hold 4 structures"
for f in "$TMP"/a/cif/*.cif; do
  "$BIN" symmetry "$f" >/dev/null 2>&1 || fail "our own reader rejects $f"
done

step "same seed, same crystals; another seed, others"
"$BIN" generate -n 4 --steps 50 --seed 3 -o "$TMP/b" --quiet || fail "second generate failed"
cmp -s "$TMP/a/summary.csv" "$TMP/b/summary.csv" || fail "same seed gave different crystals"
cmp -s "$TMP/a/generated.extxyz" "$TMP/b/generated.extxyz" || fail "same seed gave different coordinates"
"$BIN" generate -n 4 --steps 50 --seed 4 -o "$TMP/c" --quiet || fail "third generate failed"
cmp -s "$TMP/a/generated.extxyz" "$TMP/c/generated.extxyz" && fail "another seed gave the same crystals"

step "--exclude-elements rare-earths: no Sc, Y, La..Lu"
"$BIN" generate -n 12 --steps 20 --seed 5 --exclude-elements rare-earths -o "$TMP/re" --quiet \
  || fail "generate with exclusion failed"
awk 'NR>1 && NF==4 {print $1}' "$TMP/re/generated.extxyz" | sort -u > "$TMP/species"
grep -qxE "Sc|Y|La|Ce|Pr|Nd|Pm|Sm|Eu|Gd|Tb|Dy|Ho|Er|Tm|Yb|Lu" "$TMP/species" \
  && fail "a rare earth appeared: $(tr '\n' ' ' < "$TMP/species")"
[ -s "$TMP/species" ] || fail "no species read from the extxyz"

step "--elements Fe,O: only Fe and O"
"$BIN" generate -n 3 --steps 20 --seed 6 --elements Fe,O -o "$TMP/feo" --quiet || fail "generate --elements failed"
awk 'NR>1 && NF==4 {print $1}' "$TMP/feo/generated.extxyz" | sort -u | grep -vxE "Fe|O" \
  && fail "an element other than Fe and O appeared"

step "a killed run keeps its finished crystals"
"$BIN" generate -n 40 --batch 2 --steps 50 --seed 7 -o "$TMP/k" --quiet &
pid=$!
for _ in $(seq 1 1200); do
  [ -f "$TMP/k/summary.csv" ] && [ "$(wc -l < "$TMP/k/summary.csv")" -ge 5 ] && break
  sleep 0.1
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
rows=$(($(wc -l < "$TMP/k/summary.csv") - 1))
[ "$rows" -ge 4 ] || fail "expected at least 4 finished crystals after the kill, got $rows"
"$BIN" dataset info "$TMP/k/generated.h5" > "$TMP/kinfo" 2>&1 || fail "generated.h5 of the killed run is unreadable"
for f in "$TMP"/k/cif/*.cif; do
  "$BIN" symmetry "$f" >/dev/null 2>&1 || fail "a CIF of the killed run is unreadable: $f"
done

step "screen and export the result"
"$BIN" screen "$TMP/a" -o "$TMP/a/screen" --quiet || fail "screen failed"
[ "$(wc -l < "$TMP/a/screen/screen.csv")" -eq 5 ] || fail "screen.csv should have 4 rows"
"$BIN" export "$TMP/a" --only valid_structure -o "$TMP/dft" --quiet || fail "export failed"
n_ok=$(awk -F, 'NR>1 && $5==1' "$TMP/a/screen/screen.csv" | wc -l)
[ "$(ls "$TMP"/dft/*.cif 2>/dev/null | wc -l)" -eq "$n_ok" ] || fail "export should write one CIF per structurally valid crystal"
for d in "$TMP"/dft/*/; do
  [ -f "$d/POSCAR" ] || fail "export should write DIR/<id>/POSCAR"
  "$BIN" symmetry "$d/POSCAR" >/dev/null 2>&1 || fail "our reader rejects $d/POSCAR"
done
echo "e2e_generate: all checks passed"
