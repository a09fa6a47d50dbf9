#!/usr/bin/env bash
# e2e_hull.sh: `xtalgen hull build|query|check` end to end: a hand-made reference table with known
# answers, the usage and failure exit codes, and (when ../shared/data is present) the issue-6
# acceptance check of the hull against MP's e_above_hull on the validation crystals, plus a
# pymatgen PhaseDiagram cross-check when pymatgen is installed.
# usage: e2e_hull.sh XTALGEN_BINARY SOURCE_DIR
set -u
BIN=${1:?binary}
SRC=${2:?source dir}
DATA="$SRC/../shared/data/mp_20"
T=$(mktemp -d /tmp/e2e_hull.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check DESCRIPTION CONDITION...
    local what=$1; shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
status() { "$@" >"$T/out" 2>"$T/err"; echo $?; }

# A binary Fe-O table: FeO at -1 eV/atom is stable, so Fe2O at -0.5 is 1/6 eV/atom above the hull.
cat >"$T/ref.csv" <<'CSV'
material_id,formation_energy_per_atom,pretty_formula,e_above_hull
x-1,-1.0,FeO,0.0
x-2,-0.8,FeO,0.2
x-3,-0.5,Fe2O,
x-4,,Fe3O4,
CSV
check "build a small table" test "$(status "$BIN" hull build --entries "$T/ref.csv" -o "$T/h.h5")" = 0
check "build reports kept entries" grep -q "1 of 3 entries kept" "$T/out"
check "query exit 0" test "$(status "$BIN" hull query "$T/h.h5" Fe2O -0.5)" = 0
check "query e_above_hull = 0.166667" grep -q "e_above_hull  0.166667" "$T/out"
check "query decomposition lists FeO" grep -q "0.666667  FeO *x-1" "$T/out"
check "query below the hull: exit 0" test "$(status "$BIN" hull query "$T/h.h5" "(FeO)2" -1.25)" = 0
check "query below the hull is negative" grep -q "e_above_hull  -0.250000" "$T/out"
check "query without energy" test "$(status "$BIN" hull query "$T/h.h5" Fe2O3)" = 0
check "check exits 0 on a consistent table" test "$(status "$BIN" hull check "$T/h.h5" "$T/ref.csv")" = 0

# Usage errors exit 2, failures 1, with "xtalgen hull:" messages.
check "no subcommand: 2" test "$(status "$BIN" hull)" = 2
check "unknown subcommand: 2" test "$(status "$BIN" hull frobnicate)" = 2
check "bad formula: 2" test "$(status "$BIN" hull query "$T/h.h5" Fe2Xx3 -1)" = 2
check "bad formula message" grep -q "^xtalgen hull: formula 'Fe2Xx3': unknown element" "$T/err"
check "bad energy: 2" test "$(status "$BIN" hull query "$T/h.h5" Fe2O3 abc)" = 2
check "build without -o: 2" test "$(status "$BIN" hull build --entries "$T/ref.csv")" = 2
check "missing hull file: 1" test "$(status "$BIN" hull query "$T/none.h5" FeO -1)" = 1
check "not a hull file: 1" test "$(status "$BIN" hull query "$T/ref.csv" FeO -1)" = 1
printf 'material_id,formation_energy_per_atom,pretty_formula\nx-1,-1.0,Fe(O\n' >"$T/bad.csv"
check "bad formula in input: 1" test "$(status "$BIN" hull build --entries "$T/bad.csv" -o "$T/b.h5")" = 1
check "input error names file and line" grep -q "bad.csv:2" "$T/err"
check "no partial output" test ! -e "$T/b.h5"
printf 'material_id,formation_energy_per_atom,pretty_formula\nx-1,minus one,FeO\n' >"$T/bad2.csv"
check "bad energy in input: 1" test "$(status "$BIN" hull build --entries "$T/bad2.csv" -o "$T/b.h5")" = 1

if [ -f "$DATA/val.csv" ] && [ -f "$DATA/train.csv" ]; then
    t0=$(date +%s.%N)
    check "build the MP-20 hull" test "$(status "$BIN" hull build --entries "$DATA/train.csv" "$DATA/val.csv" \
        "$DATA/train_no_positions.csv" --drop-inconsistent -o "$T/mp20.h5")" = 0
    cat "$T/out"; grep dropping "$T/err"
    size=$(stat -c %s "$T/mp20.h5")
    check "hull table under 2 MB ($size bytes)" test "$size" -lt 2000000
    check "acceptance: val e_above_hull never above MP's + 0.01" \
        test "$(status "$BIN" hull check "$T/mp20.h5" "$DATA/val.csv" --report "$T/val.csv")" = 0
    cat "$T/out"
    t1=$(date +%s.%N)
    echo "MP-20 build + check: $(echo "$t1 - $t0" | bc) s"
    # The same check without the consistency filter shows the entries from another MP energy
    # scheme (it is reported, not required).
    "$BIN" hull build --entries "$DATA/train.csv" "$DATA/val.csv" "$DATA/train_no_positions.csv" \
        --quiet -o "$T/raw.h5" && "$BIN" hull check "$T/raw.h5" "$DATA/val.csv" | grep "MP +" | sed "s/^/info, unfiltered build (not required):/"
    if /usr/bin/python3 -c "import pymatgen.analysis.phase_diagram" 2>/dev/null; then
        ids=$(grep dropping "$T/err" | awk '{print $4}' | paste -sd, -)
        check "pymatgen PhaseDiagram agrees on 60 val crystals" \
            /usr/bin/python3 "$SRC/scripts/hull_oracle.py" --data "$DATA" --report "$T/val.csv" \
            --sample 60 --exclude-ids "$ids"
    else
        echo "skip pymatgen oracle (apt-get install -y python3-pymatgen)"
    fi
else
    echo "skip MP-20 checks: $DATA not present"
fi
exit $fail
