#!/usr/bin/env bash
# From generated crystals to DFT inputs: screen, keep the valid (structure, composition and
# geometry: no bond below 0.70 of the covalent-radius sum), unique and novel ones, and
# write symmetrized CIFs plus one VASP folder (POSCAR) per candidate.
#   examples/dft_export.sh RUNDIR [OUTDIR]     (RUNDIR: a `xtalgen generate` output folder)
# Novelty is judged against the shipped data/reference/mp20.h5 (all of MP-20).
# Environment: XTALGEN (the binary, default build/xtalgen).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: examples/dft_export.sh RUNDIR [OUTDIR]}
OUT=${2:-$RUN/to_dft}
X=${XTALGEN:-build/xtalgen}
"$X" screen "$RUN" -o "$RUN/screen"
"$X" export "$RUN" --only valid,valid_geometry,unique,novel --symmetrize --format cif,poscar -o "$OUT"
echo "DFT inputs in $OUT: <id>.cif (symmetrized) and <id>/POSCAR"
