#!/usr/bin/env bash
# e2e_xrd.sh: end-to-end runs of `xtalgen xrd` and `xtalgen xrd-match`.
# usage: e2e_xrd.sh XTALGEN_BINARY SOURCE_DIR
#  1. xrd of a rock-salt CIF: peak list and profile, textbook NaCl positions; usage errors exit 2,
#     unreadable inputs exit 1.
#  2. xrd-match (needs ../shared/data; skipped cleanly without it): for several target crystals,
#     a "measured" pattern is made from the target's simulated profile with its lattice expanded
#     by 1%, wider peaks, a curved background and Gaussian noise; ranked among 100 oxides of
#     MP-20's validation split (similar chemistry), the target must come first.
set -u
BIN=${1:?usage: e2e_xrd.sh XTALGEN SOURCE_DIR}
SRC=${2:?usage: e2e_xrd.sh XTALGEN SOURCE_DIR}
DATA="$SRC/../shared/data/mp_20/val.csv"
T=$(mktemp -d /tmp/xg_e2e_xrd.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}

cat > "$T/NaCl.cif" <<'EOF'
data_NaCl
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   5.6402
_cell_length_b   5.6402
_cell_length_c   5.6402
_cell_angle_alpha   90
_cell_angle_beta   90
_cell_angle_gamma   90
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
  Na  Na0  0.0  0.0  0.0  1
  Na  Na1  0.0  0.5  0.5  1
  Na  Na2  0.5  0.0  0.5  1
  Na  Na3  0.5  0.5  0.0  1
  Cl  Cl4  0.5  0.0  0.0  1
  Cl  Cl5  0.5  0.5  0.5  1
  Cl  Cl6  0.0  0.0  0.5  1
  Cl  Cl7  0.0  0.5  0.0  1
EOF

# ---- 1. xrd ----
"$BIN" xrd "$T/NaCl.cif" --wavelength CuKa1 --peaks -o "$T/peaks.csv"
check "xrd --peaks exits 0" test $? -eq 0
check "peak list header" grep -q '^id,two_theta,d,intensity,h,k,l,multiplicity,line$' "$T/peaks.csv"
# NaCl card (CuKa1): 200 at 31.69 (strongest), 220 at 45.45, 222 at 56.48
near() { awk -F, -v t="$1" -v tol="$2" 'NR>1 && ($2-t)^2 < tol*tol {f=1} END {exit !f}' "$3"; }
check "200 at 31.69" near 31.69 0.015 "$T/peaks.csv"
check "220 at 45.45" near 45.45 0.015 "$T/peaks.csv"
check "222 at 56.48" near 56.48 0.015 "$T/peaks.csv"
check "200 strongest, multiplicity 6" \
    awk -F, 'NR>1 && $4==100.0000 {f=($8==6 && $2>31.6 && $2<31.8)} END {exit !f}' "$T/peaks.csv"
"$BIN" xrd "$T/NaCl.cif" --two-theta 20:60:0.05 -o "$T/prof.csv"
check "profile exits 0" test $? -eq 0
check "profile has 801 points + header" test "$(wc -l < "$T/prof.csv")" -eq 802
check "profile maximum near 31.73 (CuKa)" \
    awk -F, 'NR>1 && $2>m {m=$2; x=$1} END {exit !(x>31.6 && x<31.85 && m>80)}' "$T/prof.csv"
"$BIN" xrd "$T/NaCl.cif" --wavelength CuKa12 --peaks -o "$T/doublet.csv"
check "K-alpha doublet has line 2" awk -F, 'NR>1 && $9==2 {f=1} END {exit !f}' "$T/doublet.csv"

"$BIN" xrd "$T/NaCl.cif" --wavelength XyKa -o "$T/x.csv" 2> "$T/err"
check "bad wavelength exits 2" test $? -eq 2
check "bad wavelength message" grep -q '^xtalgen xrd: ' "$T/err"
"$BIN" xrd "$T/NaCl.cif" --two-theta 50:40 2> "$T/err"
check "bad range exits 2" test $? -eq 2
"$BIN" xrd "$T/NaCl.cif" --frobnicate 2> "$T/err"
check "unknown option exits 2" test $? -eq 2
"$BIN" xrd "$T/missing.cif" -o "$T/x.csv" 2> "$T/err"
check "missing input exits 1" test $? -eq 1
check "no output left behind on failure" test ! -e "$T/x.csv"
printf '10 1\n11 2\n' > "$T/short.xy"
"$BIN" xrd-match "$T/short.xy" "$T/NaCl.cif" 2> "$T/err"
check "too-short measured pattern exits 1" test $? -eq 1
check "its message names the file" grep -q 'short.xy' "$T/err"
"$BIN" xrd-match "$T/short.xy" 2> "$T/err"
check "xrd-match without candidates exits 2" test $? -eq 2

# ---- 2. matching against real candidates ----
if [ ! -f "$DATA" ]; then
    echo "note: $DATA absent; matching on MP-20 skipped"
    exit $fail
fi
# One CSV record may span many lines (the quoted CIF): a record is complete when its quotes
# balance. Oxides are the records whose elements list holds 'O'.
awk -v out="$T/oxides.csv" '
    NR == 1 { print > out; next }
    { rec = (rec == "" ? $0 : rec "\n" $0); q += gsub(/"/, "\"", $0) }
    q % 2 == 0 { if (rec ~ /'\''O'\''/ && n < 100) { print rec > out; n++ }; rec = ""; q = 0 }
' "$DATA"
check "100 oxide candidates extracted" test "$(grep -c '^mp-' "$T/oxides.csv")" -ge 100
# Targets spread over the candidate list; each becomes its own one-row CSV.
targets=$(grep -o '^mp-[0-9]*' "$T/oxides.csv" | awk 'NR % 20 == 7')
seed=1
for id in $targets; do
    awk -v id="$id" -v out="$T/target.csv" '
        NR == 1 { print > out; next }
        { rec = (rec == "" ? $0 : rec "\n" $0); q += gsub(/"/, "\"", $0) }
        q % 2 == 0 { if (index(rec, id ",") == 1) print rec > out; rec = ""; q = 0 }
    ' "$T/oxides.csv"
    "$BIN" xrd "$T/target.csv" --lattice-scale 1.01 --fwhm 0.13 --two-theta 10:80:0.02 \
        -o "$T/clean.csv" || { echo "FAIL xrd of $id"; fail=1; continue; }
    # measured = clean * 10 + background (decaying + broad hump) + Gaussian noise (Box-Muller)
    awk -F, -v seed=$seed 'BEGIN { srand(seed); print "# synthetic measurement"; print "2theta counts" }
        NR > 1 { x = $1; bg = 200 + 3000 / x + 60 * exp(-((x - 30) / 12)^2)
                 u1 = rand(); if (u1 < 1e-12) u1 = 1e-12; u2 = rand()
                 n = sqrt(-2 * log(u1)) * cos(6.283185307 * u2)
                 printf "%.2f %.2f\n", x, $2 * 10 + bg + 8 * n }' "$T/clean.csv" > "$T/measured.xy"
    "$BIN" xrd-match "$T/measured.xy" "$T/oxides.csv" --top 3 --quiet -o "$T/rank.csv" \
        > "$T/rank.txt" 2> "$T/err"
    rc=$?
    first=$(awk -F, 'NR == 2 {print $2}' "$T/rank.csv" 2> /dev/null)
    score=$(awk -F, 'NR == 2 {print $4, "scale", $5}' "$T/rank.csv" 2> /dev/null)
    second=$(awk -F, 'NR == 3 {print $4}' "$T/rank.csv" 2> /dev/null)
    ncand=$(($(wc -l < "$T/rank.csv") - 1))
    echo "     $id: first $first (score $score), runner-up score $second, $ncand candidates"
    check "xrd-match ranks $id first among $ncand oxides" test "$rc" -eq 0 -a "$first" = "$id"
    seed=$((seed + 1))
done
exit $fail
