#!/usr/bin/env bash
# Measures generation quality as the README reports it (issue 5): N crystals from MODEL at the
# default sampler settings, screened by xtalgen against MP-20 train (novelty) and test
# (Wasserstein distances), then re-checked with pymatgen (scripts/screen_oracle.py) when
# Debian's python3-pymatgen is installed.
#
#   scripts/measure_generation.sh [MODEL] [N] [OUT]
#     MODEL  default data/models/xtalgen-mp20.h5
#     N      default 1000
#     OUT    default runs/quality: OUT/cif, OUT/screen/summary.json, OUT/oracle.txt
# Environment: XTALGEN (default build/xtalgen), STEPS (default: generate's default),
# THREADS (1), SEED (1), GEN_ARGS (more generate options, e.g. "--symmetry template"),
# XG_SHARED_DATA, XG_DATA_CACHE (default .cache), XG_NO_ORACLE (1: skip the pymatgen re-check).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-data/models/xtalgen-mp20.h5}
N=${2:-1000}
OUT=${3:-runs/quality}
X=${XTALGEN:-build/xtalgen}
THREADS=${THREADS:-1}
SEED=${SEED:-1}
SHARED=${XG_SHARED_DATA:-../shared/data}/mp_20
CACHE=${XG_DATA_CACHE:-.cache}
mkdir -p "$CACHE"
for split in train test; do
    if [ ! -f "$CACHE/$split.h5" ]; then
        "$X" dataset import --quiet "$SHARED/$split.csv" --props "$SHARED/properties_$split.csv" \
            -o "$CACHE/$split.h5"
    fi
done
GEN=(--model "$MODEL" -n "$N" --threads "$THREADS" --seed "$SEED" -o "$OUT")
[ -n "${STEPS:-}" ] && GEN+=(--steps "$STEPS")
# shellcheck disable=SC2206
[ -n "${GEN_ARGS:-}" ] && GEN+=($GEN_ARGS)
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
    echo "measure_generation: $OUT exists and is not empty; give another OUT" >&2
    exit 1
fi
T0=$(date +%s)
"$X" generate "${GEN[@]}"
T1=$(date +%s)
# novelty against MP-20 train alone, as CDVAE and DiffCSP report it (not the shipped all-MP-20 set)
"$X" screen "$OUT" --no-default-reference --reference "$CACHE/train.h5" \
    --distribution-reference "$CACHE/test.h5" \
    -o "$OUT/screen"
echo "measure_generation: $N crystals generated in $((T1 - T0)) s"
if [ "${XG_NO_ORACLE:-0}" = 1 ]; then
    echo "measure_generation: XG_NO_ORACLE=1: pymatgen oracle skipped"
elif /usr/bin/python3 -c "import pymatgen" 2>/dev/null; then
    /usr/bin/python3 scripts/screen_oracle.py "$OUT" --reference "$SHARED/train.csv" \
        --screen "$OUT/screen/screen.csv" -o "$OUT/oracle.csv" | tee "$OUT/oracle.txt" ||
        echo "measure_generation: the pymatgen oracle disagreed (see $OUT/oracle.txt)"
    /usr/bin/python3 scripts/sg_distribution.py "$OUT" --reference "$SHARED/test.csv" --pymatgen |
        tee "$OUT/spacegroups.txt"
else
    echo "measure_generation: no pymatgen (apt-get install python3-pymatgen): oracle skipped"
fi
