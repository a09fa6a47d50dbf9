#!/usr/bin/env bash
# The sampling-steps study of issue 18: N crystals at each of several step counts with the same
# model, seed and sampler settings, screened like the README's quality table, then one table:
# steps, generation wall time, structural / compositional / geometric validity, uniqueness,
# novelty (against MP-20 train), Wasserstein density and number of elements (against MP-20
# test), P1 share and space-group chi-square (generate's own spglib column, summary.csv).
#
#   scripts/steps_study.sh [OUT] [N] [STEPS...]
#     defaults: runs/steps-study, 1000 crystals, steps 100 50 250 500 1000
# Environment: MODEL (data/models/xtalgen-mp20.h5), XTALGEN (build/xtalgen), THREADS (1),
# SEED (1), GEN_ARGS (extra generate options, e.g. "--symmetry none"), ORACLE (0: skip the
# pymatgen re-check, which costs minutes per 1,000 crystals; 1: run it).
# Resumable: a step count whose screen/summary.json exists is not run again, a half-done one is
# started afresh. Run it under `nice` in the background; the table is rewritten after each run.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/steps-study}
N=${2:-1000}
shift 2 2>/dev/null || shift $#
STEPS_LIST=("$@")
[ ${#STEPS_LIST[@]} -eq 0 ] && STEPS_LIST=(100 50 250 500 1000)
MODEL=${MODEL:-data/models/xtalgen-mp20.h5}
SHARED=${XG_SHARED_DATA:-../shared/data}/mp_20
mkdir -p "$OUT"
table() {
    /usr/bin/python3 - "$OUT" "$SHARED/test.csv" <<'EOF'
import csv, json, os, sys
from collections import Counter
out, test_csv = sys.argv[1], sys.argv[2]
ref = Counter()
with open(test_csv) as f:
    r = csv.DictReader(f)
    col = "spacegroup.number" if "spacegroup.number" in r.fieldnames else None
    for row in r:
        if col:
            ref[int(row[col])] += 1
nref = sum(ref.values())
rows = []
for d in sorted(os.listdir(out)):
    p = os.path.join(out, d, "screen", "summary.json")
    if not d.startswith("s") or not os.path.exists(p):
        continue
    s = json.load(open(p))
    g = json.load(open(os.path.join(out, d, "summary.json")))
    secs = open(os.path.join(out, d, "seconds.txt")).read().split()
    sg = Counter()
    with open(os.path.join(out, d, "summary.csv")) as f:
        for row in csv.DictReader(f):
            sg[int(row["spacegroup_number"] or 0)] += 1
    n = sum(sg.values())
    chi2 = float("nan")
    if nref:
        keys = set(sg) | set(ref)
        chi2 = 0.5 * sum((sg[k] / n - ref[k] / nref) ** 2 / (sg[k] / n + ref[k] / nref)
                         for k in keys if sg[k] + ref[k] > 0)
    r = s["rates"]
    w = s.get("wasserstein", {})
    rows.append((g["steps"], g.get("corrector"), g.get("symmetry"), secs[0], secs[1] if len(secs) > 1 else "?",
                 r["valid_structure"], r["valid_composition"], r["valid_geometry"], r["unique"],
                 r["novel"], w.get("density_g_cm3", float("nan")), w.get("n_elements", float("nan")),
                 sg[1] / n, chi2, n))
rows.sort(key=lambda x: -x[0])
print("%6s %4s %9s %8s %8s %7s %7s %7s %7s %7s %7s %7s %6s %6s %5s" % (
    "steps", "corr", "symmetry", "gen_s", "total_s", "struct", "comp", "geom", "unique", "novel",
    "W_dens", "W_nel", "P1", "chi2", "n"))
for x in rows:
    print("%6d %4s %9s %8s %8s %6.1f%% %6.1f%% %6.1f%% %6.1f%% %6.1f%% %7.3f %7.3f %5.1f%% %6.3f %5d" % (
        x[0], x[1], x[2], x[3], x[4], 100 * x[5], 100 * x[6], 100 * x[7], 100 * x[8], 100 * x[9],
        x[10], x[11], 100 * x[12], x[13], x[14]))
EOF
}
for steps in "${STEPS_LIST[@]}"; do
    d="$OUT/s$(printf %04d "$steps")"
    [ -f "$d/screen/summary.json" ] && continue
    rm -rf "$d"
    T0=$(date +%s.%N)
    NO_ORACLE=1
    [ "${ORACLE:-0}" = 1 ] && NO_ORACLE=0
    STEPS=$steps XG_NO_ORACLE=$NO_ORACLE scripts/measure_generation.sh "$MODEL" "$N" "$d" >"$d.log" 2>&1
    T1=$(date +%s.%N)
    grep "crystals generated in" "$d.log" | awk '{print $6}' >"$d/seconds.txt.tmp" || true
    echo "$(cat "$d/seconds.txt.tmp") $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.0f", b-a}')" >"$d/seconds.txt"
    rm -f "$d/seconds.txt.tmp"
    table >"$OUT/table.txt"
    cat "$OUT/table.txt"
done
table >"$OUT/table.txt"
cat "$OUT/table.txt"
