#!/usr/bin/env bash
# e2e_dft.sh BINARY SOURCE_DIR: the DFT handoff (issue 15):
#   - generate: every lattice in generated.h5 right-handed (`dataset info`), provenance as
#     attributes of generated.h5 and in every CIF (model SHA-256 = sha256sum of the model file,
#     seed, steps), summary.json with the settings and the "elements" list;
#   - export --format cif,vasp,espresso,extxyz: every POSCAR right-handed with a along x and b
#     in the xy plane, title and species lines in one order, provenance in the title, INCAR,
#     KPOINTS, POTCAR.spec and pw.in present; --cell primitive of a conventional rock salt gives
#     2 atoms; a left-handed POSCAR comes out right-handed; Fe2O3 gets ISPIN 2, one MAGMOM per
#     site, MP's U and nspin 2;
#   - convert --only and --cell; usage errors;
#   - scripts/dft_oracle.py (pymatgen and ASE read everything; KPOINTS = automatic_density;
#     pw.x input = the CIF's crystal) when /usr/bin/python3 has pymatgen and ASE.
# Runs in well under a minute.
set -u
X=${1:?usage: e2e_dft.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_dft.sh BINARY SOURCE_DIR}
T=$(mktemp -d /tmp/xg_e2e_dft.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# right-handed, standard orientation: a_y = a_z = b_z = 0 and det > 0 (lines 3-5 of a POSCAR)
poscar_ok() {
    awk 'NR==3{ax=$1;ay=$2;az=$3} NR==4{bx=$1;by=$2;bz=$3} NR==5{cx=$1;cy=$2;cz=$3}
         NR==6{sp=$0} NR==1{title=$0}
         END{ det = ax*(by*cz-bz*cy) - ay*(bx*cz-bz*cx) + az*(bx*cy-by*cx)
              if (!(det > 0)) { print "left-handed (det " det ")"; exit 1 }
              if (ay != 0 || az != 0 || bz != 0) { print "not in standard orientation"; exit 1 }
              n = split(title, t, " "); m = split(sp, s, " "); k = 0
              for (i = 1; i <= n; i++) { if (t[i] !~ /^[A-Z][a-z]?[0-9]+$/) break
                                         e = t[i]; sub(/[0-9]+$/, "", e); k++
                                         if (e != s[k]) { print "title " title " vs species " sp; exit 1 } }
              if (k != m) { print "title " title " vs species " sp; exit 1 } }' "$1"
}

step "generate: standard cells and provenance"
"$X" generate -n 6 --steps 10 --batch 3 --seed 11 -o "$T/run" --quiet || fail "generate failed"
"$X" dataset info "$T/run/generated.h5" > "$T/info" || fail "dataset info failed"
grep -q "^right-handed lattices: 6 of 6$" "$T/info" || fail "generated.h5: $(grep right-handed "$T/info")"
model=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model_path"])' \
        "$T/run/summary.json" 2>/dev/null) || fail "summary.json unreadable"
sha=$(sha256sum "$model" | cut -d' ' -f1)
grep -q "^attribute model_sha256: $sha$" "$T/info" || fail "generated.h5 lacks the model hash $sha"
grep -q "^attribute seed: 11$" "$T/info" || fail "generated.h5 lacks the seed"
grep -q "^attribute steps: 10$" "$T/info" || fail "generated.h5 lacks the steps"
python3 - "$T/run/summary.json" "$sha" <<'E' || fail "summary.json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["model_sha256"] == sys.argv[2] and d["seed"] == 11 and d["steps"] == 10, d
assert "Fe" in d["elements"] and len(d["elements"]) > 80, d["elements"]
E
for c in "$T"/run/cif/*.cif; do
    grep -q "^# model_sha256: $sha$" "$c" && grep -q "^# seed: 11$" "$c" && grep -q "^# steps: 10$" "$c" \
        || fail "$c lacks provenance"
done
"$X" generate -n 2 --steps 5 --seed 3 --elements Fe,O -o "$T/feo" --quiet || fail "generate --elements"
grep -q '"elements": \["O", "Fe"\]' "$T/feo/summary.json" || fail "summary.json elements: $(grep '"elements"' "$T/feo/summary.json")"

step "export: VASP and pw.x folders"
"$X" export "$T/run" -o "$T/out" --format cif,vasp,espresso,extxyz --quiet || fail "export failed"
n=0
for d in "$T"/out/gen-*/; do
    id=$(basename "$d")
    for f in POSCAR INCAR KPOINTS POTCAR.spec pw.in; do [ -s "$d/$f" ] || fail "$id: no $f"; done
    [ -s "$T/out/$id.cif" ] || fail "$id: no CIF"
    msg=$(poscar_ok "$d/POSCAR") || fail "$id/POSCAR: $msg"
    grep -q "sha256=$sha seed=11 steps=10" "$d/POSCAR" || fail "$id/POSCAR title lacks provenance"
    grep -q "^# model_sha256: $sha$" "$T/out/$id.cif" || fail "$id.cif lacks provenance"
    grep -q "^ENCUT = 520$" "$d/INCAR" || fail "$id/INCAR: ENCUT"
    n=$((n + 1))
done
[ "$n" -eq 6 ] || fail "expected 6 crystal folders, got $n"
[ "$(grep -c Lattice= "$T/out/exported.extxyz")" -eq 6 ] || fail "extxyz frames"

step "export: --cell, left-handed input, magnetic oxide"
cat > "$T/nacl.cif" <<'E'
data_NaCl
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
loop_
_symmetry_equiv_pos_as_xyz
x,y,z
x,y+1/2,z+1/2
x+1/2,y,z+1/2
x+1/2,y+1/2,z
loop_
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na 0 0 0
Cl 0.5 0.5 0.5
E
"$X" export "$T/nacl.cif" -o "$T/nacl" --format poscar --quiet || fail "export NaCl"
[ "$(sed -n 7p "$T/nacl/nacl/POSCAR")" = "1 1" ] || fail "primitive NaCl: $(sed -n 6,7p "$T/nacl/nacl/POSCAR")"
"$X" export "$T/nacl.cif" -o "$T/naclc" --format poscar --cell conventional --quiet || fail "export conventional"
[ "$(sed -n 7p "$T/naclc/nacl/POSCAR")" = "4 4" ] || fail "conventional NaCl"
cat > "$T/POSCAR_left" <<'E'
left-handed Fe2O3-like cell
1.0
 5.03 0.0 0.0
 0.0 -5.03 0.0
 0.2 0.3 13.7
O Fe
6 4
Direct
 0.31 0.00 0.25
 0.00 0.31 0.25
 0.69 0.69 0.25
 0.69 0.00 0.75
 0.00 0.69 0.75
 0.31 0.31 0.75
 0.00 0.00 0.355
 0.00 0.00 0.145
 0.00 0.00 0.645
 0.00 0.00 0.855
E
"$X" export "$T/POSCAR_left" -o "$T/left" --format vasp,espresso --cell as-is --quiet || fail "export left"
d=$(ls -d "$T"/left/*/ | head -1)
msg=$(poscar_ok "$d/POSCAR") || fail "left-handed input: $msg"
grep -q "^ISPIN = 2$" "$d/INCAR" || fail "Fe2O3: ISPIN"
grep -q "^MAGMOM = 4\*5 6\*0.6$" "$d/INCAR" || fail "Fe2O3: MAGMOM $(grep MAGMOM "$d/INCAR")"
grep -q "^LDAUU = 5.3 0$" "$d/INCAR" || fail "Fe2O3: LDAUU"
[ "$(cat "$d/POTCAR.spec" | tr '\n' ' ')" = "Fe_pv O " ] || fail "POTCAR.spec"
grep -q "nspin = 2" "$d/pw.in" && grep -q "starting_magnetization(1)" "$d/pw.in" || fail "pw.in spin"

step "convert: --only, --cell"
{ echo "id,valid_structure,valid_composition,unique,novel"
  echo "gen-0000000,1,1,1,1"; echo "gen-0000001,1,0,1,1"; echo "gen-0000002,1,1,1,0"
  echo "gen-0000003,1,1,1,1"; echo "gen-0000004,0,1,1,1"; echo "gen-0000005,1,1,0,1"; } > "$T/screen.csv"
"$X" convert "$T/run" -o "$T/sel" --format poscar --only valid,novel --screen "$T/screen.csv" \
    --cell primitive --quiet || fail "convert --only"
[ "$(ls "$T/sel" | tr '\n' ' ')" = "gen-0000000.vasp gen-0000003.vasp gen-0000005.vasp " ] \
    || fail "convert --only kept: $(ls "$T/sel" | tr '\n' ' ')"
for f in "$T"/sel/*.vasp; do msg=$(poscar_ok "$f") || fail "$f: $msg"; done
"$X" export "$T/run" -o "$T/sel2" --only valid,novel --screen "$T/screen.csv" --format vasp --quiet \
    || fail "export --only"
[ "$(ls -d "$T"/sel2/*/ | wc -l)" -eq 3 ] || fail "export --only kept $(ls "$T/sel2")"

step "usage errors"
"$X" export "$T/run" -o "$T/x" --cell bogus 2>/dev/null; [ $? -eq 2 ] || fail "--cell bogus: exit 2"
"$X" export "$T/run" -o "$T/x" --pseudo-pattern Fe.UPF 2>/dev/null; [ $? -eq 2 ] || fail "--pseudo-pattern without {El}"
"$X" export "$T/run" -o "$T/x" --format vasp,doc 2>/dev/null; [ $? -eq 2 ] || fail "unknown format"
"$X" convert "$T/run" -o "$T/x" --only shiny 2>/dev/null; [ $? -eq 2 ] || fail "--only shiny"
"$X" export "$T/run" -o "$T/x" --kppa 0 2>/dev/null; [ $? -eq 2 ] || fail "--kppa 0"

step "pymatgen/ASE oracle"
if /usr/bin/python3 -c "import pymatgen.io.vasp.sets, ase.io" 2>/dev/null; then
    /usr/bin/python3 "$SRC/scripts/dft_oracle.py" "$T/out" --expect-provenance --generated "$T/run" \
        || fail "dft_oracle on the export"
    /usr/bin/python3 "$SRC/scripts/dft_oracle.py" "$T/left" || fail "dft_oracle on the Fe2O3 export"
else
    echo "skip: /usr/bin/python3 lacks pymatgen or ASE (apt-get install python3-pymatgen python3-ase)"
fi
echo "e2e_dft: all checks passed"
