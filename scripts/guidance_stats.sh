#!/usr/bin/env bash
# Guidance as a distribution, not one run (issue 17): S seeds x N crystals, each seed a guided
# and an unconditional run of the same model (scripts/measure_guidance.sh), then one table:
# per seed the share of crystals with predicted magnetic density >= 0.1 muB/A^3 (guided and
# unconditional), their mean HHI, and min / median / max over seeds, with the worst guided
# share against the mean unconditional share.
#   scripts/guidance_stats.sh [MODEL] [S] [N] [STEPS] [OUT]
#     defaults: data/models/xtalgen-mp20-magnetic.h5, 8 seeds, 64 crystals, 250 steps,
#               runs/guidance-stats; seeds are 1..S
# Environment as measure_guidance.sh (TARGET, GUIDANCE, CONDS, EXCLUDE, THREADS, REFERENCE...).
# Resumable: a seed whose report exists is not run again.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-data/models/xtalgen-mp20-magnetic.h5}
S=${2:-8}
N=${3:-64}
STEPS=${4:-250}
OUT=${5:-runs/guidance-stats}
mkdir -p "$OUT"
for seed in $(seq 1 "$S"); do
    d="$OUT/seed$seed"
    [ -f "$d/report.txt" ] && continue
    rm -rf "$d"
    SEED=$seed scripts/measure_guidance.sh "$MODEL" "$N" "$STEPS" "$d" >/dev/null
done
{
    echo "guidance over $S seeds: $MODEL, $N crystals per run, $STEPS steps," \
         "conditions ${CONDS:-dft_mag_density=${TARGET:-0.15}}, guidance ${GUIDANCE:-2.0}, excluded: ${EXCLUDE:-none}"
    printf "%6s %10s %10s %10s %10s\n" seed guided uncond hhi_g hhi_u
    for seed in $(seq 1 "$S"); do
        r="$OUT/seed$seed/report.txt"
        g=$(awk '/share with predicted density/ { print $(NF-1) }' "$r")
        u=$(awk '/share with predicted density/ { print $NF }' "$r")
        hg=$(awk '/mean HHI/ { print $(NF-1) }' "$r")
        hu=$(awk '/mean HHI/ { print $NF }' "$r")
        printf "%6d %10s %10s %10s %10s\n" "$seed" "$g" "$u" "$hg" "$hu"
    done > "$OUT/table.txt"
    cat "$OUT/table.txt"
    awk 'function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                                          if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
         { n++; g[n] = $2; u[n] = $3; su += $3; sg += $2 }
         END { mu = su / n; printf "guided share:        min %.3f  median %.3f  max %.3f  mean %.3f\n",
                   min(g, n), med(g, n), max(g, n), sg / n
               printf "unconditional share: min %.3f  median %.3f  max %.3f  mean %.3f\n",
                   min(u, n), med(u, n), max(u, n), mu
               if (mu > 0) printf "worst guided run / mean unconditional: %.2fx\n", min(g, n) / mu
               else print "worst guided run / mean unconditional: unconditional share is 0" }
         function min(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
         function max(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }' \
        "$OUT/table.txt"
} | tee "$OUT/summary.txt"
