#!/usr/bin/env bash
# From generated crystals to DFT inputs: screen, keep the valid, unique and novel ones, and
# write symmetrized CIFs plus one VASP folder (POSCAR) per candidate.
#   examples/dft_export.sh RUNDIR [OUTDIR]     (RUNDIR: a `xtalgen generate` output folder)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: examples/dft_export.sh RUNDIR [OUTDIR]}
OUT=${2:-$RUN/to_dft}
SHARED=${XG_SHARED_DATA:-../shared/data}/mp_20
CACHE=${XG_DATA_CACHE:-.cache}
mkdir -p "$CACHE"
[ -f "$CACHE/train.h5" ] || build/xtalgen dataset import --quiet "$SHARED/train.csv" \
  --props "$SHARED/properties_train.csv" -o "$CACHE/train.h5"
build/xtalgen screen "$RUN" --reference "$CACHE/train.h5" -o "$RUN/screen"
build/xtalgen export "$RUN" --only valid,unique,novel --symmetrize --format cif,poscar -o "$OUT"
echo "DFT inputs in $OUT: <id>.cif (symmetrized) and <id>/POSCAR"
