#!/usr/bin/env bash
# From generated crystals to DFT inputs: screen, keep the valid (structure, composition and
# geometry: no bond below 0.70 of the covalent-radius sum), unique and novel ones, and write per
# candidate a symmetrized CIF, a VASP folder (POSCAR, INCAR, KPOINTS, POTCAR.spec) and a Quantum
# ESPRESSO pw.x input, all in spglib's primitive cell with the symmetrized geometry and the run's
# provenance.
#   examples/dft_export.sh RUNDIR [OUTDIR]     (RUNDIR: a `xtalgen generate` output folder;
#                                              OUTDIR: default RUNDIR/dft_export, a new folder)
# Novelty is judged against the shipped data/reference/mp20.h5 (all of MP-20). A run screened
# already (RUNDIR/screen/screen.csv, e.g. by the magnet or stability example, with property
# models) keeps its screen.csv: it is used as it is, never replaced.
# Environment: XTALGEN (the binary, default build/xtalgen).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: examples/dft_export.sh RUNDIR [OUTDIR]}
OUT=${2:-$RUN/dft_export}
X=${XTALGEN:-build/xtalgen}
if [ -f "$RUN/screen/screen.csv" ]; then
  echo "dft_export: using the existing $RUN/screen/screen.csv"
else
  "$X" screen "$RUN" -o "$RUN/screen"
fi
"$X" export "$RUN" --only valid,valid_geometry,unique,novel --symmetrize --cell primitive \
  --format cif,vasp,espresso --kppa 1000 --pseudo-pattern '{El}.pbe-spn-kjpaw_psl.1.0.0.UPF' \
  -o "$OUT"
echo "DFT inputs in $OUT: <id>.cif (symmetrized), <id>/{POSCAR,INCAR,KPOINTS,POTCAR.spec,pw.in}"
