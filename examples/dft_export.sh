#!/usr/bin/env bash
# From generated crystals to DFT inputs: screen, keep the valid, unique and novel ones, and
# write symmetrized CIFs plus one VASP folder (POSCAR) per candidate.
#   examples/dft_export.sh RUNDIR [OUTDIR]     (RUNDIR: a `xtalgen generate` output folder)
# Environment: XTALGEN (the binary, default build/xtalgen), XG_SHARED_DATA, XG_DATA_CACHE.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: examples/dft_export.sh RUNDIR [OUTDIR]}
OUT=${2:-$RUN/to_dft}
SHARED=${XG_SHARED_DATA:-../shared/data}/mp_20
CACHE=${XG_DATA_CACHE:-.cache}
X=${XTALGEN:-build/xtalgen}
mkdir -p "$CACHE"
[ -f "$CACHE/train.h5" ] || "$X" dataset import --quiet "$SHARED/train.csv" \
  --props "$SHARED/properties_train.csv" -o "$CACHE/train.h5"
"$X" screen "$RUN" --reference "$CACHE/train.h5" -o "$RUN/screen"
"$X" export "$RUN" --only valid,unique,novel --symmetrize --format cif,poscar -o "$OUT"
echo "DFT inputs in $OUT: <id>.cif (symmetrized) and <id>/POSCAR"
