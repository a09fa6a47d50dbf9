#!/usr/bin/env bash
# e2e_guidance_stats.sh BINARY SOURCE_DIR: scripts/guidance_stats.sh (issue 17) runs end to end
# on the shipped magnetic model with 2 seeds of 4 crystals and prints its table.
set -u
BIN=${1:?usage: e2e_guidance_stats.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_guidance_stats.sh BINARY SOURCE_DIR}
TMP=$(mktemp -d /tmp/xg_e2e_gstats.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
XTALGEN="$BIN" REFERENCE="$SRC/tests/fixtures/cdvae_small.csv" THREADS=1 \
    bash "$SRC/scripts/guidance_stats.sh" "$SRC/data/models/xtalgen-mp20-magnetic.h5" 2 4 5 "$TMP/g" \
    > "$TMP/out.txt" 2> "$TMP/err.txt" || { cat "$TMP/err.txt"; fail "guidance_stats.sh failed"; }
cat "$TMP/out.txt"
[ "$(grep -cE '^ +[12] +[0-9.]+ +[0-9.]+' "$TMP/out.txt")" -eq 2 ] || fail "expected one row per seed"
grep -q '^guided share: *min' "$TMP/out.txt" || fail "no min/median/max line"
grep -q '^worst guided run' "$TMP/out.txt" || fail "no worst-run line"
echo "e2e_guidance_stats: ok"
