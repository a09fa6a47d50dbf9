#!/usr/bin/env bash
# Fine-tunes the magnetic-density conditioned model (issue 6, DESIGN.md 3.4) from a base model:
# the command behind data/models/xtalgen-mp20-magnetic.h5.
#   scripts/train_magnetic.sh [BASE] [EPOCHS]   (defaults data/models/xtalgen-mp20.h5, 24)
# Resumes when its checkpoint exists (checkpoints/mag/, ignored by git), and exports the model
# (weights and EMA weights, no optimizer state) at the end. The shipped file was fine-tuned from
# the EMA of the base run's epoch-74 checkpoint (exported while the base run finished its last
# epochs), so a rerun from the final base gives a close but not identical model.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-data/models/xtalgen-mp20.h5}
EPOCHS=${2:-24}
SHARED=${XG_SHARED_DATA:-../shared/data}/mp_20
CACHE=${XG_DATA_CACHE:-checkpoints/data}
BIN=${XTALGEN:-build/xtalgen}
mkdir -p "$CACHE" checkpoints/mag data/models
for split in train val; do
    if [ ! -f "$CACHE/$split.h5" ]; then
        "$BIN" dataset import --quiet "$SHARED/$split.csv" --props "$SHARED/properties_$split.csv" \
            -o "$CACHE/$split.h5"
    fi
done
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive
CK=checkpoints/mag/xtalgen-mp20-magnetic.ckpt.h5
ARGS=(--data "$CACHE/train.h5" --val "$CACHE/val.h5" -o checkpoints/mag/xtalgen-mp20-magnetic.h5
      --checkpoint "$CK" --condition dft_mag_density --epochs "$EPOCHS" --lr 5e-4 --warmup 200
      --seed 2 --threads 1 --checkpoint-every 10)
if [ -f "$CK" ]; then
    ARGS+=(--resume)
else
    ARGS+=(--finetune "$BASE")
fi
"$BIN" train "${ARGS[@]}"
"$BIN" model export "$CK" -o data/models/xtalgen-mp20-magnetic.h5
echo "train_magnetic: exported data/models/xtalgen-mp20-magnetic.h5"
