#!/usr/bin/env bash
# e2e_measure_stability.sh BINARY SOURCE_DIR: scripts/measure_stability.sh (issue 17) runs end
# to end, with the shipped magnetic model standing in for the stability-conditioned one, on 4
# crystals per run, and prints its table with the acceptance lines; a second invocation reuses
# the finished runs (same report).
set -u
BIN=${1:?usage: e2e_measure_stability.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_measure_stability.sh BINARY SOURCE_DIR}
TMP=$(mktemp -d /tmp/xg_e2e_stab.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run() {
    XTALGEN="$BIN" CONDS="dft_mag_density=0.15" THREADS=1 \
        bash "$SRC/scripts/measure_stability.sh" "$SRC/data/models/xtalgen-mp20-magnetic.h5" 4 5 \
        "$TMP/s" > "$1" 2> "$TMP/err.txt" || { cat "$TMP/err.txt"; fail "measure_stability.sh failed"; }
}
run "$TMP/out.txt"
cat "$TMP/out.txt"
grep -qE '^crystals +4 +4$' "$TMP/out.txt" || fail "expected 4 crystals per run"
for row in "predicted E_hull < 0.1 eV/atom" "predicted E_hull < 0" "S.U.N." "geometrically valid" \
           "valid (structure and composition)" "CPU seconds"; do
    grep -qF "$row" "$TMP/out.txt" || fail "no row '$row'"
done
grep -qE '^E_hull < 0.1: [+-][0-9.]+ points' "$TMP/out.txt" || fail "no acceptance line"
[ "$(wc -l < "$TMP/s/guided/screen/screen.csv")" -eq 5 ] || fail "guided run not screened"
run "$TMP/out2.txt"
cmp -s "$TMP/out.txt" "$TMP/out2.txt" || fail "a second invocation changed the report"
echo "e2e_measure_stability: ok"
