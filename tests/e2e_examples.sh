#!/bin/bash
# e2e_examples.sh BINARY SOURCE_DIR: the four examples/ scripts end to end on tiny settings
# (4 crystals, 20 steps) with the shipped models, so a change that breaks a documented workflow
# fails CI; from a copy of the clone's files with no ../shared data (issue 14). Quality is not judged here (scripts/measure_*.sh do that); the plumbing is: every
# output the examples promise exists, is readable, and honours the element exclusions.
set -u
X="$1"
SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$SRC/data/models/xtalgen-mp20.h5" ] || fail "the shipped model is missing"
[ -f "$SRC/data/reference/mp20.h5" ] || fail "the shipped MP-20 reference is missing"
T=$(mktemp -d /tmp/xg_e2e_examples.XXXXXX)
trap 'rm -rf "$T"' EXIT
# A fresh clone has no ../shared (issue 14): the examples run from a copy of what a clone holds
# (examples/ and data/) in a folder with no ../shared beside it, with XG_SHARED_DATA pointing
# nowhere and the shipped data found through the copy.
mkdir -p "$T/clone"
cp -r "$SRC/examples" "$SRC/data" "$T/clone/"
[ ! -e "$T/shared" ] || fail "$T/shared exists"
export XTALGEN="$X" XG_SHARED_DATA="$T/no-shared-data" XG_DATA_CACHE="$T/cache" THREADS=1 \
    XTALGEN_DATA_DIR="$T/clone/data"
SRC="$T/clone"

echo "== stability_screening.sh"
STEPS=20 "$SRC/examples/stability_screening.sh" 4 "$T/stab" > "$T/stab.log" 2>&1 ||
    { cat "$T/stab.log"; fail "stability_screening.sh"; }
[ "$(ls "$T/stab/cif" | wc -l)" -eq 4 ] || fail "stability: 4 CIFs expected"
grep -q '"n_structures": 4' "$T/stab/screen/summary.json" || fail "stability: summary.json"

echo "== dft_export.sh"
"$SRC/examples/dft_export.sh" "$T/stab" "$T/dft" > "$T/dft.log" 2>&1 ||
    { cat "$T/dft.log"; fail "dft_export.sh"; }
for c in "$T"/dft/*.cif; do
    [ -e "$c" ] || break # none valid, unique and novel: allowed on 4 crystals
    id=$(basename "$c" .cif)
    [ -s "$T/dft/$id/POSCAR" ] || fail "dft_export: $id has no POSCAR"
    "$X" symmetry "$c" > /dev/null || fail "dft_export: $c unreadable"
    "$X" symmetry "$T/dft/$id/POSCAR" > /dev/null || fail "dft_export: $id/POSCAR unreadable"
done

echo "== rare_earth_free_magnets.sh"
"$SRC/examples/rare_earth_free_magnets.sh" 4 20 "$T/mag" > "$T/mag.log" 2>&1 ||
    { cat "$T/mag.log"; fail "rare_earth_free_magnets.sh"; }
[ -s "$T/mag/report.txt" ] || fail "magnets: no report"
grep -q "share with predicted density" "$T/mag/report.txt" || fail "magnets: report lacks the magnetic share"
if [ -f "$SRC/data/models/xtalgen-mp20-magnetic.h5" ]; then
    grep -q "guided: dft_mag_density=" "$T/mag/report.txt" || fail "magnets: the conditioned model was not used"
fi
[ -f "$T/mag/guided/to_dft/ranking.csv" ] || fail "magnets: no ranking.csv"
grep -q "<h2 id=\"candidates\"" "$T/mag/report.html" || fail "magnets: no report page"
# No rare earth (Sc, Y, La..Lu) and nothing radioactive in either run.
for run in guided unguided; do
    "$X" convert "$T/mag/$run/generated.h5" -o "$T/$run.extxyz" --format extxyz > /dev/null 2>&1 ||
        fail "magnets: $run/generated.h5 unreadable"
    if awk '{ print $1 }' "$T/$run.extxyz" |
        grep -qxE 'Sc|Y|La|Ce|Pr|Nd|Pm|Sm|Eu|Gd|Tb|Dy|Ho|Er|Tm|Yb|Lu|Tc|Pm|Po|At|Rn|Fr|Ra|Ac|Th|Pa|U|Np|Pu|Am|Cm|Bk|Cf|Es|Fm|Md|No|Lr'; then
        fail "magnets: an excluded element appears in $run"
    fi
done
echo "== chemical_system.sh"
"$SRC/examples/chemical_system.sh" Li-Mn-O 4 20 "$T/cs" > "$T/cs.log" 2>&1 ||
    { cat "$T/cs.log"; fail "chemical_system.sh"; }
[ -f "$T/cs/to_dft/ranking.csv" ] || fail "chemical_system: no ranking.csv"
grep -q "within 0.1 eV/atom of the M3GNet hull" "$T/cs.log" || fail "chemical_system: no summary line"
"$X" convert "$T/cs/generated.h5" -o "$T/cs.extxyz" --format extxyz > /dev/null 2>&1 ||
    fail "chemical_system: generated.h5 unreadable"
# every crystal has exactly Li, Mn and O
awk 'NF == 1 && $1 ~ /^[0-9]+$/ { if (seen) print els; els = ""; seen = 1; delete e; next }
     $1 ~ /^[A-Z][a-z]?$/ && NF >= 4 && !($1 in e) { e[$1] = 1; els = els " " $1 }
     END { print els }' "$T/cs.extxyz" | while read -r a b c d; do
    [ -z "$d" ] && [ "$(printf '%s\n' "$a" "$b" "$c" | sort | tr '\n' ' ')" = "Li Mn O " ] ||
        fail "chemical_system: a crystal of $a $b $c $d, not Li-Mn-O"
done || exit 1
echo "e2e_examples: all passed"
