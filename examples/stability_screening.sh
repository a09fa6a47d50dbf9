#!/usr/bin/env bash
# Stability screening: generate candidates, then judge them the way the field does (CDVAE,
# DiffCSP, MatterGen): structural and compositional validity, uniqueness, novelty against the
# MP-20 training set, and the distribution distances against the MP-20 test set.
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
for split in train test; do
  [ -f "$CACHE/$split.h5" ] || "$X" dataset import --quiet "$SHARED/$split.csv" \
    --props "$SHARED/properties_$split.csv" -o "$CACHE/$split.h5"
done
"$X" generate "${GEN[@]}"
"$X" screen "$OUT" --reference "$CACHE/train.h5" \
  --distribution-reference "$CACHE/test.h5" -o "$OUT/screen"
echo "per-crystal verdicts: $OUT/screen/screen.csv; rates: $OUT/screen/summary.json"
