#!/usr/bin/env bash
# Trains (or resumes) one configuration of the compute-vs-quality study (issue 23) in the
# background-friendly way of train_mp20.sh: one core, resumable, checkpoints every 10 minutes.
#   scripts/train_study.sh NAME HIDDEN LAYERS EPOCHS [HOURS]
# e.g. scripts/train_study.sh h256l6 256 6 300 2.5
# State lives in checkpoints/study/NAME/ (git-ignored): NAME.ckpt.h5 (resumable, with optimizer
# state), NAME.log.csv (per-epoch losses), and NAME.h5 (the model, EMA weights, exported after
# each invocation). Run it again with the same arguments to continue where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=$1 HIDDEN=$2 LAYERS=$3 EPOCHS=$4 HOURS=${5:-2}
SHARED=${XG_SHARED_DATA:-../shared/data}/mp_20
CACHE=${XG_DATA_CACHE:-checkpoints/data}
BIN=${XTALGEN:-build/xtalgen}
DIR=checkpoints/study/$NAME
mkdir -p "$CACHE" "$DIR"
for split in train val test; do
  if [ ! -f "$CACHE/$split.h5" ]; then
    "$BIN" dataset import --quiet "$SHARED/$split.csv" --props "$SHARED/properties_$split.csv" \
      -o "$CACHE/$split.h5"
  fi
done
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512f /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SkylakeX
fi
ARGS=(--data "$CACHE/train.h5" --val "$CACHE/val.h5" -o "$DIR/$NAME.h5"
      --checkpoint "$DIR/$NAME.ckpt.h5" --hidden "$HIDDEN" --layers "$LAYERS" --batch 64
      --epochs "$EPOCHS" --lr 1e-3 --seed 1 --threads 1 --checkpoint-every 10 --hours "$HOURS" --quiet)
if [ -f "$DIR/$NAME.ckpt.h5" ]; then
  ARGS+=(--resume)
fi
"$BIN" train "${ARGS[@]}"
"$BIN" model export "$DIR/$NAME.ckpt.h5" -o "$DIR/$NAME.h5"
echo "train_study: $NAME exported to $DIR/$NAME.h5"
