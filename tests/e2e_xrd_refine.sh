#!/usr/bin/env bash
# e2e_xrd_refine.sh: end-to-end runs of `xtalgen xrd-refine` and `xtalgen xrd-match --refine`.
# usage: e2e_xrd_refine.sh XTALGEN_BINARY SOURCE_DIR
#  A validation crystal of MP-20 (../shared/data; the rock-salt fixture without it) is simulated
#  with its lattice expanded by 1.2%, a zero shift of +0.03 degrees, a background and
#  Poisson-like noise; xrd-refine of the unstrained crystal must recover the expanded
#  conventional a within 0.05%, write the profile, parameters and refined CIF, and report
#  Rwp close to Rexp; xrd-match --refine 3 must rank it first among 10 candidates by Rwp.
#  Also: the disordered rutile fixture refines; usage errors exit 2, bad inputs exit 1.
set -u
BIN=${1:?usage: e2e_xrd_refine.sh XTALGEN SOURCE_DIR}
SRC=${2:?usage: e2e_xrd_refine.sh XTALGEN SOURCE_DIR}
DATA="$SRC/../shared/data/mp_20/val.csv"
T=$(mktemp -d /tmp/xg_e2e_xrd_refine.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}

if [ -f "$DATA" ]; then
    # the first 10 oxide records (a record spans lines until its quotes balance)
    awk -v out="$T/cands.csv" '
        NR == 1 { print > out; next }
        { rec = (rec == "" ? $0 : rec "\n" $0); q += gsub(/"/, "\"", $0) }
        q % 2 == 0 { if (rec ~ /'\''O'\''/ && n < 10) { print rec > out; n++ }; rec = ""; q = 0 }
    ' "$DATA"
    id=$(grep -o '^mp-[0-9]*' "$T/cands.csv" | sed -n 4p)
    awk -v id="$id" -v out="$T/target.csv" '
        NR == 1 { print > out; next }
        { rec = (rec == "" ? $0 : rec "\n" $0); q += gsub(/"/, "\"", $0) }
        q % 2 == 0 { if (rec ~ "^" id ",") print rec > out; rec = ""; q = 0 }
    ' "$T/cands.csv"
    target="$T/target.csv"
else
    echo "note: $DATA absent; the rock-salt fixture stands in"
    id=NaCl
    target="$SRC/tests/fixtures/data_cifs/NaCl.cif"
    cp "$target" "$T/cands.cif"
fi
"$BIN" xrd "$target" --lattice-scale 1.012 --fwhm 0.12 --two-theta 10:90:0.02 -o "$T/sim.csv"
check "simulated $id" test $? -eq 0
awk -F, 'BEGIN { srand(5); print "# simulated measurement" }
    NR > 1 { y = $2 * 100 + 300 + 5000 / $1; n = 0; for (k = 0; k < 12; k++) n += rand();
             printf "%.4f %.1f\n", $1 + 0.03, y + sqrt(y) * (n - 6) }' "$T/sim.csv" > "$T/measured.xy"
"$BIN" convert "$target" -o "$T/conv.cif" --symmetrize
a0=$(awk '/_cell_length_a/ {print $2}' "$T/conv.cif")
"$BIN" xrd-refine "$T/measured.xy" "$target" -o "$T/out" --quiet > "$T/summary.txt"
check "xrd-refine exits 0" test $? -eq 0
cat "$T/summary.txt" | head -3
check "profile.csv has header and 4001 points" test "$(wc -l < "$T/out/profile.csv")" -eq 4002
check "profile columns" grep -q '^two_theta,observed,calculated,background,difference$' \
    "$T/out/profile.csv"
check "refined.cif written" test -s "$T/out/refined.cif"
check "parameters.csv has Rwp and esds" grep -q '^Rwp,' "$T/out/parameters.csv"
a=$(awk -F, '$1 == "a" {print $2}' "$T/out/parameters.csv")
check "a = 1.012 x conventional a within 0.05% ($a vs $a0)" \
    awk -v a="$a" -v a0="$a0" 'BEGIN { r = a / (1.012 * a0) - 1; exit !(r < 5e-4 && r > -5e-4) }'
zero=$(awk -F, '$1 == "zero" {print $2}' "$T/out/parameters.csv")
check "zero shift 0.03 recovered ($zero)" awk -v z="$zero" 'BEGIN { exit !(z > 0.02 && z < 0.04) }'
check "GoF near 1" awk '/GoF/ { for (i = 1; i < NF; i++) if ($i == "(chi2/(N-P))") g = $(i+1) }
    END { exit !(g > 0.7 && g < 1.5) }' "$T/summary.txt"

if [ -f "$DATA" ]; then
    "$BIN" xrd-match "$T/measured.xy" "$T/cands.csv" --refine 3 --top 3 --quiet -o "$T/rank.csv" \
        > "$T/rank.txt"
    check "xrd-match --refine exits 0" test $? -eq 0
    first=$(awk -F, 'NR == 2 {print $2}' "$T/rank.csv")
    check "refined ranking puts $id first (got $first)" test "$first" = "$id"
    check "ranking CSV has Rwp" awk -F, 'NR == 2 { exit !($7 > 0) }' "$T/rank.csv"
fi

# a disordered model refines too
"$BIN" xrd "$SRC/tests/fixtures/xrd_disorder_rutile_TaCr.cif" --two-theta 15:90:0.02 \
    --fwhm 0.1 -o "$T/dsim.csv"
awk -F, 'NR > 1 { printf "%.4f %.2f\n", $1, $2 * 50 + 100 }' "$T/dsim.csv" > "$T/dmeas.xy"
"$BIN" xrd-refine "$T/dmeas.xy" "$SRC/tests/fixtures/xrd_disorder_rutile_TaCr.cif" --quiet \
    > "$T/dsum.txt"
check "disordered rutile refines (tetragonal)" grep -q 'tetragonal' "$T/dsum.txt"

# the disordered variant wins: a pattern of the Ta/Cr-disordered rutile (expanded 1%, noise) is
# explained by the fully mixed variant of the ordered trirutile TaCr2O6 (--disorder Ta,Cr), not by
# the ordered model itself, whose superstructure peaks are absent
"$BIN" xrd "$SRC/tests/fixtures/xrd_disorder_rutile_TaCr.cif" --two-theta 15:90:0.02 --fwhm 0.1 \
    --lattice-scale 1.01 -o "$T/tsim.csv"
awk -F, 'BEGIN { srand(3) } NR > 1 { y = $2 * 50 + 100; n = 0; for (k = 0; k < 12; k++) n += rand();
    printf "%.4f %.2f\n", $1, y + sqrt(y) * (n - 6) }' "$T/tsim.csv" > "$T/tmeas.xy"
"$BIN" xrd-match "$T/tmeas.xy" "$SRC/tests/fixtures/xrd_ordered_TaCr2O6.cif" \
    "$SRC/tests/fixtures/data_cifs/NaCl.cif" --disorder Ta,Cr --refine 3 --quiet -o "$T/trank.csv" \
    > /dev/null
check "xrd-match --disorder exits 0" test $? -eq 0
first=$(awk -F, 'NR == 2 {print $2}' "$T/trank.csv")
check "the mixed TaCr2O6 variant ranks first (got $first)" test "$first" = "xrd_ordered_TaCr2O6+mixed"

# errors
"$BIN" xrd-refine "$T/measured.xy" 2> "$T/err"
check "missing CRYSTAL exits 2" test $? -eq 2
"$BIN" xrd-refine "$T/measured.xy" "$target" --background-terms 40 2> "$T/err"
check "bad --background-terms exits 2" test $? -eq 2
printf '10 1\n11 2\n' > "$T/short.xy"
"$BIN" xrd-refine "$T/short.xy" "$target" -o "$T/bad" 2> "$T/err"
check "too-short pattern exits 1" test $? -eq 1
check "message names the file" grep -q 'short.xy' "$T/err"
check "no output folder on failure" test ! -e "$T/bad/profile.csv"
"$BIN" match "$SRC/tests/fixtures/xrd_disorder_rutile_TaCr.cif" \
    "$SRC/tests/fixtures/xrd_disorder_rutile_TaCr.cif" 2> "$T/err"
check "match refuses a disordered CIF" test $? -ne 0
check "saying it is disordered" grep -q 'disordered' "$T/err"
exit $fail
