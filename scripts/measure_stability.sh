#!/usr/bin/env bash
# Measures stability guidance (issue 17): N crystals from the e_above_hull-conditioned model
# guided toward e_above_hull = TARGET, and N crystals of the unconditional shipped model, same
# seed and steps, both screened against the shipped MP-20 hull with the shipped formation-energy
# model; prints per run the share with predicted E_hull < 0.1 eV/atom and < 0, the validity
# rates (structural, compositional, geometric), stable and S.U.N. shares, and the CPU seconds of
# each generate and screen.
#
#   scripts/measure_stability.sh [MODEL] [N] [STEPS] [OUT]
#     MODEL  default data/models/xtalgen-mp20-ehull.h5
#     N      crystals per run (default 1000)
#     STEPS  reverse-diffusion steps (default 100, the generate default)
#     OUT    default runs/stability: OUT/guided, OUT/unconditional, OUT/report.txt
# Environment: XTALGEN (binary, default build/xtalgen), UNCOND (the unconditional model, default
# data/models/xtalgen-mp20.h5), TARGET (0), GUIDANCE (2.0), CONDS (the guided run's conditions,
# space-separated NAME=VALUE; default e_above_hull=TARGET), SEED (1), THREADS (1), EXCLUDE
# (elements excluded in both runs, default none), HULL (default data/hull-mp20.h5), RUNS (which
# runs, default "guided unconditional"; a run whose screen exists is not redone, so a second
# invocation with other GUIDANCE needs another OUT).
# Novelty (for S.U.N.) is against screen's shipped references: all of MP-20 and common elemental
# structures. E_hull is a prediction (formation-energy model, test MAE 0.027 eV/atom), not DFT.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-data/models/xtalgen-mp20-ehull.h5}
N=${2:-1000}
STEPS=${3:-100}
OUT=${4:-runs/stability}
X=${XTALGEN:-build/xtalgen}
UNCOND=${UNCOND:-data/models/xtalgen-mp20.h5}
TARGET=${TARGET:-0}
GUIDANCE=${GUIDANCE:-2.0}
CONDS=${CONDS:-e_above_hull=$TARGET}
SEED=${SEED:-1}
THREADS=${THREADS:-1}
HULL=${HULL:-data/hull-mp20.h5}
RUNS=${RUNS:-guided unconditional}
EFORM=data/models/prop-formation_energy_per_atom.h5
say() { echo "measure_stability: $*" >&2; }

for f in "$MODEL" "$UNCOND" "$EFORM" "$HULL"; do
    [ -f "$f" ] || { say "missing $f"; exit 1; }
done
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1
mkdir -p "$OUT"
CARGS=()
for c in $CONDS; do CARGS+=(--condition "$c"); done
GEN=(-n "$N" --steps "$STEPS" --threads "$THREADS" --seed "$SEED" --quiet)
[ -n "${EXCLUDE:-}" ] && GEN+=(--exclude-elements "$EXCLUDE")

# cpu LOG CMD...: runs CMD, appending its user + system CPU seconds to LOG
cpu() {
    local log=$1
    shift
    /usr/bin/time -f "%U %S" -o "$log.one" "$@"
    awk '{ printf "%.1f\n", $1 + $2 }' "$log.one" >> "$log"
    rm -f "$log.one"
}

for run in $RUNS; do
    d="$OUT/$run"
    [ -f "$d/screen/screen.csv" ] && continue
    rm -rf "$d" "$d.cpu"
    if [ "$run" = guided ]; then
        say "$N crystals of $MODEL at $CONDS, guidance $GUIDANCE, $STEPS steps, seed $SEED"
        cpu "$d.cpu" "$X" generate --model "$MODEL" "${GEN[@]}" "${CARGS[@]}" \
            --guidance "$GUIDANCE" -o "$d"
    else
        say "$N crystals of $UNCOND (no condition), $STEPS steps, seed $SEED"
        cpu "$d.cpu" "$X" generate --model "$UNCOND" "${GEN[@]}" -o "$d"
    fi
    cpu "$d.cpu" "$X" screen "$d" --property-model "$EFORM" --hull "$HULL" -o "$d/screen" \
        --quiet >/dev/null
done

# n, shares of all n: e_hull_pred < 0.1, < 0, stable, sun, valid_structure, valid_composition,
# valid_geometry, valid (structure and composition), all three; then crystals with a
# prediction and the median e_hull_pred (an empty e_hull_pred counts as not below anything)
stats() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { n++; e = $(c["e_hull_pred"])
          if (e != "") { ne++; v[ne] = e + 0; lt1 += (e < 0.1); lt0 += (e < 0) }
          st += ($(c["stable"]) == 1); su += ($(c["sun"]) == 1)
          s = $(c["valid_structure"]) == 1; k = $(c["valid_composition"]) == 1
          g = $(c["valid_geometry"]) == 1
          vs += s; vk += k; vg += g; vb += s && k; va += s && k && g }
        END { for (i = 1; i <= ne; i++) for (j = i + 1; j <= ne; j++)
                  if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
              med = ne ? (ne % 2 ? v[(ne + 1) / 2] : (v[ne / 2] + v[ne / 2 + 1]) / 2) : 0
              printf "%d %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %d %.4f\n", n, lt1 / n,
                     lt0 / n, st / n, su / n, vs / n, vk / n, vg / n, vb / n, va / n, ne, med }' \
        "$1/screen/screen.csv"
}
cpusum() { [ -f "$1.cpu" ] && awk '{ s += $1 } END { printf "%.0f", s }' "$1.cpu" || echo "?"; }

{
    echo "stability guidance: $N crystals per run, $STEPS steps, seed $SEED, excluded: ${EXCLUDE:-none}"
    echo "guided: $MODEL, $CONDS, guidance $GUIDANCE; unconditional: $UNCOND"
    echo "E_hull predicted by $EFORM against $HULL"
    have=()
    for run in guided unconditional; do [ -f "$OUT/$run/screen/screen.csv" ] && have+=("$run"); done
    declare -A R
    for run in "${have[@]}"; do R[$run]=$(stats "$OUT/$run"); done
    printf "%-44s" ""
    for run in "${have[@]}"; do printf " %14s" "$run"; done
    echo
    row() { # row LABEL FIELD FORMAT
        printf "%-44s" "$1"
        for run in "${have[@]}"; do
            printf " %14s" "$(echo "${R[$run]}" | awk -v f="$2" -v fmt="$3" '{ printf fmt, $f }')"
        done
        echo
    }
    row "crystals" 1 "%d"
    row "predicted E_hull < 0.1 eV/atom" 2 "%.3f"
    row "predicted E_hull < 0" 3 "%.3f"
    row "median predicted E_hull (eV/atom)" 12 "%.4f"
    row "crystals with a prediction" 11 "%d"
    row "stable (screen: assessed and < 0.1)" 4 "%.3f"
    row "S.U.N." 5 "%.3f"
    row "structurally valid" 6 "%.3f"
    row "compositionally valid" 7 "%.3f"
    row "geometrically valid" 8 "%.3f"
    row "valid (structure and composition)" 9 "%.3f"
    row "valid (all three)" 10 "%.3f"
    printf "%-44s" "CPU seconds (generate + screen)"
    for run in "${have[@]}"; do printf " %14s" "$(cpusum "$OUT/$run")"; done
    echo
    if [ -n "${R[guided]:-}" ] && [ -n "${R[unconditional]:-}" ]; then
        echo "${R[guided]} ${R[unconditional]}" | awk '{
            printf "E_hull < 0.1: %+.1f points guided vs unconditional (acceptance: >= +10)\n", 100 * ($2 - $14)
            printf "validity (structure and composition): %+.1f points (acceptance: within 2)\n", 100 * ($9 - $21) }'
    fi
} | tee "$OUT/report.txt"
