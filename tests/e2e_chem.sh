#!/usr/bin/env bash
# e2e_chem.sh BINARY SOURCE_DIR: hard chemistry and crystal structure prediction (issue 16)
# end to end with the shipped model: --chemsys gives crystals of exactly that system,
# --composition exactly that formula and N, --compositions keeps the input's order, csp-eval
# scores a run, the same command twice gives the same bytes, and constraints that cannot be met
# are refused with a message and exit status 2.
set -u
BIN=${1:?usage: e2e_chem.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_chem.sh BINARY SOURCE_DIR}
TMP=$(mktemp -d /tmp/xg_e2e_chem.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
# The element symbols of a formula, sorted: "LiFePO4" -> "Fe Li O P".
elements() { echo "$1" | grep -oE '[A-Z][a-z]?' | sort -u | tr '\n' ' ' | sed 's/ $//'; }

step "generate --chemsys Li-Fe-P-O -n 4 --steps 30"
"$BIN" generate --chemsys Li-Fe-P-O -n 4 --steps 30 -o "$TMP/lfpo" --quiet || fail "generate failed"
# The project's own reading of the crystals, from generated.h5 (not summary.csv's text).
"$BIN" symmetry --format csv "$TMP/lfpo/generated.h5" > "$TMP/lfpo.csv" || fail "symmetry failed"
[ "$(tail -n +2 "$TMP/lfpo.csv" | wc -l)" -eq 4 ] || fail "expected 4 crystals"
while IFS=, read -r id formula rest; do
  [ "$(elements "$formula")" = "Fe Li O P" ] || fail "$id is $formula, not in exactly Li-Fe-P-O"
done < <(tail -n +2 "$TMP/lfpo.csv")
grep -q '"chemistry": "chemsys=' "$TMP/lfpo/summary.json" || fail "summary.json lacks the chemistry"

grep -q '"element_pattern": "training"' "$TMP/lfpo/summary.json" \
  || fail "a --chemsys run on templates should take training crystals' element patterns"

step "same command twice: same bytes"
"$BIN" generate --chemsys Li-Fe-P-O -n 4 --steps 30 -o "$TMP/lfpo2" --quiet || fail "second run failed"
for f in summary.csv generated.extxyz generated.h5; do
  cmp -s "$TMP/lfpo/$f" "$TMP/lfpo2/$f" || fail "$f differs between two identical runs"
done

step "generate --chemsys Fe-Co-N,Li-O --symmetry template -n 4 --steps 20"
"$BIN" generate --chemsys Fe-Co-N,Li-O --symmetry template -n 4 --steps 20 -o "$TMP/two" --quiet \
  || fail "generate with two systems on templates failed"
while IFS=, read -r id formula rest; do
  e=$(elements "$formula")
  [ "$e" = "Co Fe N" ] || [ "$e" = "Li O" ] || fail "$id is $formula, in neither system"
done < <(tail -n +2 "$TMP/two/summary.csv")

step "generate --composition NaCl --num-atoms 8 -n 2 --steps 30"
"$BIN" generate --composition NaCl --num-atoms 8 -n 2 --steps 30 -o "$TMP/nacl" --quiet \
  || fail "generate --composition failed"
"$BIN" symmetry --format csv "$TMP/nacl/generated.h5" > "$TMP/nacl.csv" || fail "symmetry failed"
[ "$(awk -F, 'NR>1 && $2=="NaCl" && $3==8' "$TMP/nacl.csv" | wc -l)" -eq 2 ] \
  || fail "expected 2 crystals Na4Cl4: $(cat "$TMP/nacl.csv")"
# Four atoms of each in every frame of the extxyz.
[ "$(grep -c '^Na ' "$TMP/nacl/generated.extxyz")" -eq 8 ] || fail "expected 4 Na per crystal"
[ "$(grep -c '^Cl ' "$TMP/nacl/generated.extxyz")" -eq 8 ] || fail "expected 4 Cl per crystal"

step "generate --compositions: the input's order, k candidates each"
printf 'id,formula,num_atoms\na,Fe2O3,10\nb,NaCl,\nc,LiFePO4,7\n' > "$TMP/comps.csv"
"$BIN" generate --compositions "$TMP/comps.csv" -k 2 --steps 20 -o "$TMP/csp" --quiet \
  || fail "generate --compositions failed"
got=$(tail -n +2 "$TMP/csp/summary.csv" | cut -d, -f2,3 | tr '\n' ' ')
[ "$got" = "Fe2O3,10 Fe2O3,10 NaCl,2 NaCl,2 LiFePO4,7 LiFePO4,7 " ] \
  || fail "--compositions rows out of order or wrong: $got"

step "csp-eval: a run against itself matches; against another order is refused"
"$BIN" csp-eval -k 2 "$TMP/csp/generated.h5" "$TMP/csp/generated.h5" > "$TMP/self.txt" 2>&1 && \
  fail "6 predictions with -k 2 against 6 truths should line up as 3 compositions, then differ"
"$BIN" csp-eval "$TMP/csp/generated.h5" "$TMP/csp/generated.h5" -o "$TMP/rows.csv" --quiet \
  > "$TMP/self.txt" || fail "csp-eval failed: $(cat "$TMP/self.txt")"
grep -q "k=1 without the validity filter: match rate 100.00% (6/6)" "$TMP/self.txt" \
  || fail "a crystal should match itself: $(cat "$TMP/self.txt")"
[ "$(tail -n +2 "$TMP/rows.csv" | wc -l)" -eq 6 ] || fail "rows.csv should have 6 rows"
"$BIN" csp-eval "$TMP/nacl/generated.h5" "$TMP/csp/generated.h5" --quiet > /dev/null 2> "$TMP/err.txt"
[ $? -eq 1 ] || fail "csp-eval of NaCl against Fe2O3 should fail with status 1"
grep -q "compositions differ" "$TMP/err.txt" || fail "no message: $(cat "$TMP/err.txt")"

step "csp-eval -k 2: k = 1 and k = 2 rows against one truth per composition"
"$BIN" generate --compositions "$TMP/comps.csv" --steps 10 --seed 9 -o "$TMP/truth" --quiet \
  || fail "generate of the truths failed"
"$BIN" csp-eval -k 2 "$TMP/csp" "$TMP/truth/generated.h5" --quiet > "$TMP/k2.txt" \
  || fail "csp-eval -k 2 failed: $(cat "$TMP/k2.txt")"
grep -q "compositions: 3, candidates per composition: 2" "$TMP/k2.txt" || fail "$(cat "$TMP/k2.txt")"
grep -q "^k=2: match rate" "$TMP/k2.txt" || fail "no k=2 line: $(cat "$TMP/k2.txt")"

step "--composition on templates: orbits split among the element counts"
"$BIN" generate --composition Fe2CoN --formula-units 2 --symmetry template -n 3 --steps 10 \
  -o "$TMP/tpl" --quiet || fail "generate --composition --symmetry template failed"
[ "$(awk -F, 'NR>1 && $2=="Fe2CoN" && $3==8 && $6!=""' "$TMP/tpl/summary.csv" | wc -l)" -eq 3 ] \
  || fail "expected 3 crystals Fe4Co2N2 on templates: $(cat "$TMP/tpl/summary.csv")"

step "--csp-templates similar (the default): NaCl takes rock salt, as its analogues in training"
"$BIN" generate --composition NaCl --num-atoms 2 --symmetry template -n 4 --steps 10 \
  -o "$TMP/sim" --quiet || fail "generate --composition NaCl on templates failed"
[ "$(awk -F, 'NR>1 && $2=="NaCl" && $6==225' "$TMP/sim/summary.csv" | wc -l)" -eq 4 ] \
  || fail "expected 4 NaCl on Fm-3m templates: $(cat "$TMP/sim/summary.csv")"
grep -q 'csp_templates=similar' "$TMP/sim/summary.json" || fail "summary.json lacks csp_templates"
"$BIN" generate --composition NaCl --num-atoms 2 --symmetry template -n 4 --steps 10 \
  --csp-templates frequency -o "$TMP/freq" --quiet || fail "--csp-templates frequency failed"
grep -q 'csp_templates=frequency' "$TMP/freq/summary.json" || fail "summary.json lacks frequency"

step "templates build keeps its members; compositions take the template of their analogue"
"$BIN" dataset import --quiet "$SRC/tests/fixtures/cdvae_small.csv" -o "$TMP/small.h5" || fail "import failed"
"$BIN" templates build --data "$TMP/small.h5" -o "$TMP/t.h5" --quiet || fail "templates build failed"
"$BIN" templates show "$TMP/t.h5" | grep -q "^members: 5 training crystals" || fail "show: no members"
printf 'id,formula,num_atoms\na,KBr,2\nb,CsBr,2\nc,SnO2,6\n' > "$TMP/analog.csv"
"$BIN" generate --compositions "$TMP/analog.csv" --templates "$TMP/t.h5" --symmetry template \
  --steps 3 -o "$TMP/analog" --quiet || fail "generate on the small table failed"
got=$(tail -n +2 "$TMP/analog/summary.csv" | cut -d, -f6 | tr '\n' ' ')
[ "$got" = "225 221 136 " ] || fail "KBr, CsBr, SnO2 should take NaCl's, CsCl's, TiO2's groups: $got"

step "constraints that cannot be met are refused (status 2, a message)"
refuse() {
  local want=$1; shift
  "$BIN" generate "$@" -n 2 --steps 5 -o "$TMP/bad" --quiet 2> "$TMP/err.txt"
  [ $? -eq 2 ] || fail "generate $* should exit 2"
  grep -q "$want" "$TMP/err.txt" || fail "generate $*: expected '$want' in: $(cat "$TMP/err.txt")"
  [ ! -e "$TMP/bad/summary.csv" ] || fail "generate $* wrote results"
}
refuse "cannot fit in 3 atoms" --chemsys Li-Fe-P-O --num-atoms 3
refuse "Co is excluded" --chemsys Fe-Co-N --exclude-elements Co
refuse "Co is excluded" --chemsys Fe-Co-N --elements Fe,N,O
refuse "not a whole number of formula units" --composition NaCl --num-atoms 7
refuse "cannot be combined" --composition NaCl --chemsys Na-Cl
refuse "at least 4 but at most 2" --min-elements 4 --max-elements 2
refuse "go with --composition" --chemsys Na-Cl --csp-templates frequency
refuse "one of: similar, frequency" --composition NaCl --csp-templates nearest
refuse "need 4 orbits" --chemsys Fe-Co-N-O --spacegroup 225 --num-atoms 4
echo "e2e_chem: all passed"
