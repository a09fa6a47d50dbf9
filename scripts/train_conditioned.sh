#!/usr/bin/env bash
# Fine-tunes a conditioned model (classifier-free guidance, DESIGN.md 3.4) from a base model:
# the command behind the shipped conditioned models other than the magnetic one.
#   scripts/train_conditioned.sh NAME CONDITIONS EPOCHS [BASE] [HOURS]
#     NAME        output: data/models/xtalgen-mp20-NAME.h5
#     CONDITIONS  comma-separated dataset properties, e.g. dft_mag_density,hhi_production
#     BASE        default data/models/xtalgen-mp20.h5
# Shipped with it:
#   scripts/train_conditioned.sh magnet-hhi dft_mag_density,hhi_production 24
#   scripts/train_conditioned.sh ehull e_above_hull 24
# The training data are MP-20 imported with `dataset import --derive hhi` (hhi_production), into
# checkpoints/data-hhi/ once. Resumes when its checkpoint (checkpoints/NAME/, ignored by git)
# exists, and exports the EMA model at the end of each invocation.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=$1 CONDS=$2 EPOCHS=$3
BASE=${4:-data/models/xtalgen-mp20.h5}
HOURS=${5:-100}
SHARED=${XG_SHARED_DATA:-../shared/data}/mp_20
CACHE=${XG_DATA_CACHE:-checkpoints/data-hhi}
BIN=${XTALGEN:-build/xtalgen}
DIR=checkpoints/$NAME
mkdir -p "$CACHE" "$DIR" data/models
for split in train val; do
    if [ ! -f "$CACHE/$split.h5" ]; then
        "$BIN" dataset import --quiet "$SHARED/$split.csv" --props "$SHARED/properties_$split.csv" \
            --derive hhi -o "$CACHE/$split.h5"
    fi
done
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive
CK=$DIR/xtalgen-mp20-$NAME.ckpt.h5
ARGS=(--data "$CACHE/train.h5" --val "$CACHE/val.h5" -o "$DIR/xtalgen-mp20-$NAME.h5"
      --checkpoint "$CK" --epochs "$EPOCHS" --lr 5e-4 --warmup 200
      --seed 2 --threads 1 --checkpoint-every 10 --hours "$HOURS" --quiet)
IFS=, read -ra CL <<< "$CONDS"
for c in "${CL[@]}"; do ARGS+=(--condition "$c"); done
if [ -f "$CK" ]; then
    ARGS+=(--resume)
else
    ARGS+=(--finetune "$BASE")
fi
"$BIN" train "${ARGS[@]}"
"$BIN" model export "$CK" -o "data/models/xtalgen-mp20-$NAME.h5"
echo "train_conditioned: exported data/models/xtalgen-mp20-$NAME.h5"
