#!/usr/bin/env bash
# Measures classifier-free guidance on a magnetic-density model (issue 6, DESIGN.md 3.4): N
# crystals generated at dft_mag_density=TARGET with guidance G, N unconditional crystals of the
# same model, both screened with the shipped property models; prints the share of crystals with
# predicted magnetic density >= 0.1 muB/A^3 in each run, their ratio, and the validity rates.
#
#   scripts/measure_guidance.sh [MODEL] [N] [STEPS] [OUT]
#     MODEL  default data/models/xtalgen-mp20-magnetic.h5
#     N      crystals per run (default 500)
#     STEPS  reverse-diffusion steps (default 1000, the generate default)
#     OUT    default runs/guidance: OUT/guided, OUT/unconditional, OUT/report.txt
# Environment: XTALGEN (binary, default build/xtalgen), TARGET (0.15), GUIDANCE (2.0), THREADS
# (1), SEED (1), EXCLUDE (elements excluded in both runs, default none), CONDS (the conditions
# of the guided run, space-separated NAME=VALUE; default dft_mag_density=TARGET), REFERENCE
# (dataset for novelty; default: the imported train set), XG_SHARED_DATA, XG_DATA_CACHE
# (imported train set for novelty, default .cache).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-data/models/xtalgen-mp20-magnetic.h5}
N=${2:-500}
STEPS=${3:-1000}
OUT=${4:-runs/guidance}
X=${XTALGEN:-build/xtalgen}
TARGET=${TARGET:-0.15}
GUIDANCE=${GUIDANCE:-2.0}
THREADS=${THREADS:-1}
SEED=${SEED:-1}
SHARED=${XG_SHARED_DATA:-../shared/data}/mp_20
CACHE=${XG_DATA_CACHE:-.cache}
MAGPROP=data/models/prop-dft_mag_density.h5
say() { echo "measure_guidance: $*" >&2; }

[ -f "$MODEL" ] || { say "no model $MODEL"; exit 1; }
[ -f "$MAGPROP" ] || { say "no magnetic-density property model $MAGPROP"; exit 1; }
mkdir -p "$CACHE" "$OUT"
REFERENCE=${REFERENCE:-$CACHE/train.h5}
if [ ! -f "$REFERENCE" ]; then
    "$X" dataset import --quiet "$SHARED/train.csv" --props "$SHARED/properties_train.csv" \
        -o "$CACHE/train.h5"
fi
CONDS=${CONDS:-dft_mag_density=$TARGET}
CARGS=()
for c in $CONDS; do CARGS+=(--condition "$c"); done
GEN=(--model "$MODEL" -n "$N" --steps "$STEPS" --threads "$THREADS" --seed "$SEED" --quiet)
[ -n "${EXCLUDE:-}" ] && GEN+=(--exclude-elements "$EXCLUDE")
PROPS=()
for m in data/models/prop-*.h5; do PROPS+=(--property-model "$m"); done

T0=$(date +%s)
for run in guided unconditional; do
    if [ -e "$OUT/$run" ]; then
        say "$OUT/$run exists; give another OUT"
        exit 1
    fi
    if [ "$run" = guided ]; then
        say "generating $N crystals at $CONDS, guidance $GUIDANCE, $STEPS steps"
        "$X" generate "${GEN[@]}" "${CARGS[@]}" --guidance "$GUIDANCE" \
            -o "$OUT/$run"
    else
        say "generating $N unconditional crystals of the same model"
        "$X" generate "${GEN[@]}" -o "$OUT/$run"
    fi
    "$X" screen "$OUT/$run" --no-default-reference --reference "$REFERENCE" "${PROPS[@]}" -o "$OUT/$run/screen" \
        --quiet >/dev/null
done

stats() { # n struct comp both mean_mag share>=0.1 mean_hhi (as fractions)
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { n++; s += $(c["valid_structure"]); k += $(c["valid_composition"])
          b += ($(c["valid_structure"]) == 1 && $(c["valid_composition"]) == 1)
          m = $(c["mag_density_pred"]); if (m != "") { nm++; sm += m; hi += (m >= 0.1) }
          h = $(c["hhi"]); if (h != "" && h != "nan") { nh++; sh += h } }
        END { printf "%d %.4f %.4f %.4f %.4f %.4f %.1f\n", n, s / n, k / n, b / n,
              nm ? sm / nm : 0, nm ? hi / nm : 0, nh ? sh / nh : -1 }' "$1/screen/screen.csv"
}
read -r gn gs gc gb gm gh ghh <<< "$(stats "$OUT/guided")"
read -r un us uc ub um uh uhh <<< "$(stats "$OUT/unconditional")"
{
    echo "guidance check: $MODEL, $N crystals per run, $STEPS steps, seed $SEED, excluded: ${EXCLUDE:-none}"
    printf "%-44s %12s %14s\n" "" "guided" "unconditional"
    echo "condition: $CONDS, guidance $GUIDANCE (unconditional run: none)"
    printf "%-44s %12d %14d\n" "crystals" "$gn" "$un"
    printf "%-44s %12.3f %14.3f\n" "structurally valid" "$gs" "$us"
    printf "%-44s %12.3f %14.3f\n" "compositionally valid" "$gc" "$uc"
    printf "%-44s %12.3f %14.3f\n" "valid (both)" "$gb" "$ub"
    printf "%-44s %12.4f %14.4f\n" "mean predicted magnetic density (muB/A^3)" "$gm" "$um"
    printf "%-44s %12.3f %14.3f\n" "share with predicted density >= 0.1" "$gh" "$uh"
    printf "%-44s %12.1f %14.1f\n" "mean HHI (production, weight-averaged)" "$ghh" "$uhh"
    awk -v g="$gh" -v u="$uh" 'BEGIN { if (u > 0) printf "ratio of shares: %.2f\n", g / u;
                                       else print "ratio of shares: unconditional share is 0" }'
    echo "took $(( $(date +%s) - T0 )) s"
} | tee "$OUT/report.txt"
