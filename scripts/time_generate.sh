#!/usr/bin/env bash
# The timing table of issue 18, in one sitting: wall and CPU time of `xtalgen generate` at the
# default settings for 1,000 crystals with the default threads and with --threads 1, the old
# default (1,000 steps, no symmetry constraint) on OLD_N crystals scaled to 1,000, and the quick
# start (`generate -n 16`). Run it on a quiet machine (nothing else running): it measures wall
# time with /usr/bin/time.
#   scripts/time_generate.sh [OUT] [OLD_N]
#     defaults: runs/timing, OLD_N = 100 (the old default takes ~40 minutes for 1,000 on one core)
# Environment: XTALGEN (build/xtalgen), N (1000).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/timing}
OLD_N=${2:-100}
N=${N:-1000}
X=${XTALGEN:-build/xtalgen}
rm -rf "$OUT"
mkdir -p "$OUT"
run() { # name n args...
    local name=$1 n=$2
    shift 2
    /usr/bin/time -f "%e %U %S" -o "$OUT/$name.time" "$X" generate -n "$n" --quiet -o "$OUT/$name" "$@"
    read -r wall user sys <"$OUT/$name.time"
    awk -v name="$name" -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" \
        'BEGIN { printf "%-34s %6d %9.1f %9.1f %12.1f\n", name, n, w, u + s, w * 1000 / n }' |
        tee -a "$OUT/table.txt"
}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
printf "%-34s %6s %9s %9s %12s\n" "run" "n" "wall_s" "cpu_s" "wall_per_1000" | tee "$OUT/table.txt"
run quickstart-n16 16
run default-threads-all "$N"
run default-threads-1 "$N" --threads 1
run old-default-1000steps-none "$OLD_N" --steps 1000 --symmetry none
run old-default-1000steps-none-t1 "$OLD_N" --steps 1000 --symmetry none --threads 1
echo "cores: $(nproc); model: data/models/xtalgen-mp20.h5; load average before: $LOAD0" |
    tee -a "$OUT/table.txt"
