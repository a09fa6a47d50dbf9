#!/usr/bin/env bash
# Stability screening: generate candidates, then judge them the way the field does (CDVAE,
# DiffCSP, MatterGen): structural, geometric and compositional validity, uniqueness, novelty
# against all of MP-20 (the shipped data/reference/mp20.h5), and the distribution distances
# against the MP-20 test set (from XG_SHARED_DATA when it is there, else against the shipped
# reference, so the example runs on a fresh clone).
#   examples/stability_screening.sh [N] [OUTDIR]
# Environment: XTALGEN (the binary, default build/xtalgen), STEPS (reverse-diffusion steps,
# default generate's 1000), XG_SHARED_DATA (default ../shared/data), XG_DATA_CACHE (default .cache).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-64}
OUT=${2:-runs/stability}
SHARED=${XG_SHARED_DATA:-../shared/data}/mp_20
CACHE=${XG_DATA_CACHE:-.cache}
X=${XTALGEN:-build/xtalgen}
GEN=(-n "$N" -o "$OUT")
[ -n "${STEPS:-}" ] && GEN+=(--steps "$STEPS")
mkdir -p "$CACHE"
if [ -f "$SHARED/test.csv" ]; then
  [ -f "$CACHE/test.h5" ] || "$X" dataset import --quiet "$SHARED/test.csv" \
    --props "$SHARED/properties_test.csv" -o "$CACHE/test.h5"
  DIST="$CACHE/test.h5"
else
  DIST=data/reference/mp20.h5
  echo "stability_screening: no $SHARED/test.csv: distribution distances against $DIST (all of MP-20)"
fi
"$X" generate "${GEN[@]}"
"$X" screen "$OUT" --distribution-reference "$DIST" -o "$OUT/screen"
echo "per-crystal verdicts: $OUT/screen/screen.csv; rates: $OUT/screen/summary.json"
