#!/usr/bin/env bash
# From generated crystals to DFT inputs: screen, keep the valid, unique and novel ones, and
# write per candidate a symmetrized CIF, a VASP folder (POSCAR, INCAR, KPOINTS, POTCAR.spec)
# and a Quantum ESPRESSO pw.x input, all in spglib's primitive cell with the symmetrized
# geometry and the run's provenance.
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
"$X" export "$RUN" --only valid,unique,novel --symmetrize --cell primitive \
  --format cif,vasp,espresso --kppa 1000 --pseudo-pattern '{El}.pbe-spn-kjpaw_psl.1.0.0.UPF' \
  -o "$OUT"
echo "DFT inputs in $OUT: <id>.cif (symmetrized), <id>/{POSCAR,INCAR,KPOINTS,POTCAR.spec,pw.in}"
