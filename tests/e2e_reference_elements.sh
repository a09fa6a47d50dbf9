#!/bin/bash
# e2e_reference_elements.sh BINARY SOURCE_DIR: the shipped elemental reference (issue 14: "bcc
# and fcc Fe are not novel"; fcc Fe, mp-150, is not in MP-20).
#   - data/reference/elements-extra.h5 is what `dataset import --compact` makes of the committed
#     data/reference/elements-extra.csv, byte for byte (the build is reproducible and the
#     shipped file is current);
#   - screen with no --reference: fcc Fe (a primitive cell at a slightly different lattice
#     constant) matches the curated fcc Fe, bcc Fe matches MP-20's mp-13, both not novel;
#     --no-default-reference leaves novelty unassessed.
set -u
X=${1:?usage: e2e_reference_elements.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_reference_elements.sh BINARY SOURCE_DIR}
T=$(mktemp -d /tmp/xg_e2e_refel.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
CSV="$SRC/data/reference/elements-extra.csv"
H5="$SRC/data/reference/elements-extra.h5"
[ -f "$CSV" ] && [ -f "$H5" ] || fail "the shipped elemental reference or its source is missing"

"$X" dataset import --compact --quiet "$CSV" -o "$T/e.h5" || fail "dataset import of $CSV"
cmp -s "$T/e.h5" "$H5" || fail "$H5 is not what \`xtalgen dataset import --compact $CSV\` makes (rebuild it)"
n=$("$X" dataset info "$H5" | awk '/^structures:/ {print $2}')
[ "$n" -ge 40 ] || fail "expected the curated set (>= 40 structures), got $n"

mkdir -p "$T/c"
# fcc Fe as its primitive rhombohedral cell (a_cubic = 3.59 A: 60-degree cell edge 2.539 A)
cat > "$T/c/fe_fcc.cif" <<'E'
data_fe_fcc
_cell_length_a 2.5385
_cell_length_b 2.5385
_cell_length_c 2.5385
_cell_angle_alpha 60
_cell_angle_beta 60
_cell_angle_gamma 60
loop_
_atom_site_type_symbol
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Fe Fe0 0 0 0
E
cat > "$T/c/fe_bcc.cif" <<'E'
data_fe_bcc
_cell_length_a 2.8665
_cell_length_b 2.8665
_cell_length_c 2.8665
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_type_symbol
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Fe Fe0 0 0 0
Fe Fe1 0.5 0.5 0.5
E
"$X" screen "$T/c" -o "$T/s" --quiet --no-report || fail "screen with the default references"
col() { head -1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }
cell() { grep "^$2," "$1" | cut -d, -f"$(col "$1" "$3")"; }
S="$T/s/screen.csv"
[ "$(cell "$S" fe_fcc novel)" = 0 ] || fail "fcc Fe should not be novel: $(grep '^fe_fcc,' "$S")"
[ "$(cell "$S" fe_fcc matched_reference)" = xg-Fe-fcc ] || fail "fcc Fe matched $(cell "$S" fe_fcc matched_reference)"
[ "$(cell "$S" fe_bcc novel)" = 0 ] || fail "bcc Fe should not be novel: $(grep '^fe_bcc,' "$S")"
if [ -f "$SRC/data/reference/mp20.h5" ]; then
    [ "$(cell "$S" fe_bcc matched_reference)" = mp-13 ] || fail "bcc Fe matched $(cell "$S" fe_bcc matched_reference), want MP-20's mp-13"
    grep -q 'reference/mp20.h5' "$T/s/summary.json" || fail "summary.json should name mp20.h5"
fi
grep -q 'reference/elements-extra.h5' "$T/s/summary.json" || fail "summary.json should name elements-extra.h5"
"$X" screen "$T/c" -o "$T/s2" --quiet --no-report --no-default-reference || fail "screen --no-default-reference"
[ -z "$(cell "$T/s2/screen.csv" fe_fcc novel)" ] || fail "no reference at all: novel should be empty"
echo "e2e_reference_elements: all checks passed"
