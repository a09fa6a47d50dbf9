#!/usr/bin/env bash
# e2e_condition.sh BINARY SOURCE_DIR: property conditioning end to end on a tiny synthetic
# dataset: train a base model, fine-tune it with `train --finetune --condition` (a scalar with
# missing labels, and the chemical system), stop and resume the fine-tune, then
# `generate --condition ... --guidance` on the result, and the refusals: unknown condition names
# and unconditional models (exit 2), bad option combinations. Runs in a few seconds.
set -u
BIN=${1:?usage: e2e_condition.sh BINARY SOURCE_DIR}
TMP=$(mktemp -d /tmp/xg_e2e_condition.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
expect_rc() { # expect_rc CODE WHAT CMD...: runs CMD, which must exit CODE; its stderr in $TMP/last.err
    local want=$1 what=$2
    shift 2
    "$@" >/dev/null 2> "$TMP/last.err"
    local rc=$?
    [ $rc -eq "$want" ] || { cat "$TMP/last.err"; fail "$what: exit $rc, expected $want"; }
}

# ---- a tiny CDVAE-format CSV of binary rock-salt-like crystals (three element pairs) and a
# properties table whose dft_mag_density follows the pair, blank (missing) for every 5th ----
make_csv() { # make_csv FILE PROPS COUNT SEED
    awk -v n="$3" -v seed="$4" -v props="$2" 'BEGIN {
        srand(seed);
        split("Na Cl Fe O Mg O", el, " ");
        print "material_id,formation_energy_per_atom,band_gap,pretty_formula,e_above_hull,elements,cif,spacegroup.number";
        print "material_id,dft_mag_density" > props;
        for (s = 0; s < n; s++) {
            N = 2 ^ (1 + int(rand() * 2)); p = int(rand() * 3);
            A = el[2 * p + 1]; B = el[2 * p + 2];
            a = (N / 0.05) ^ (1 / 3) * (1 + 0.03 * (rand() - 0.5));
            printf "syn-%d,%.4f,1.0,%s%s,0.0,\"[\x27%s\x27, \x27%s\x27]\",\"# synthetic\n", s, -1 - 0.1 * p, A, B, A, B;
            printf "data_%s%s\n_symmetry_space_group_name_H-M   \x27P 1\x27\n", A, B;
            printf "_cell_length_a   %.6f\n_cell_length_b   %.6f\n_cell_length_c   %.6f\n", a, a, a;
            printf "_cell_angle_alpha   90.0\n_cell_angle_beta   90.0\n_cell_angle_gamma   90.0\n";
            printf "_symmetry_Int_Tables_number   1\nloop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1  \x27x, y, z\x27\n";
            printf "loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_symmetry_multiplicity\n";
            printf " _atom_site_fract_x\n _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n";
            for (i = 0; i < N; i++) {
                sp = (i % 2 == 0) ? A : B;
                x = int(i / 2) / (N / 2) + 0.01 * rand();
                y = 0.5 * (i % 2) + 0.01 * rand(); z = 0.5 * (i % 2) + 0.01 * rand();
                printf "  %s  %s%d  1  %.6f  %.6f  %.6f  1\n", sp, sp, i, x, y, z;
            }
            printf "\",1\n";
            if (s % 5 == 4) printf "syn-%d,\n", s > props;
            else printf "syn-%d,%.3f\n", s, (p == 1 ? 0.2 : 0.0) > props;
        }
    }' > "$1"
}

step "dataset"
make_csv "$TMP/train.csv" "$TMP/props_train.csv" 64 1
make_csv "$TMP/val.csv" "$TMP/props_val.csv" 16 2
"$BIN" dataset import --quiet "$TMP/train.csv" --props "$TMP/props_train.csv" -o "$TMP/train.h5" || fail "import train"
"$BIN" dataset import --quiet "$TMP/val.csv" --props "$TMP/props_val.csv" -o "$TMP/val.h5" || fail "import val"

COMMON=(--data "$TMP/train.h5" --val "$TMP/val.h5" --batch 8 --threads 1 --seed 3 --warmup 2 --quiet)

step "base model"
"$BIN" train "${COMMON[@]}" --hidden 16 --layers 1 --n-freq 2 --epochs 2 -o "$TMP/base.h5" \
    2> "$TMP/base.err" || { cat "$TMP/base.err"; fail "base training"; }

step "train usage errors"
"$BIN" help train | grep -q -- "--finetune" || fail "help text lacks --finetune"
expect_rc 2 "--finetune without --condition" "$BIN" train "${COMMON[@]}" --finetune "$TMP/base.h5" -o "$TMP/x.h5"
expect_rc 2 "--condition NAME=VALUE in train" "$BIN" train "${COMMON[@]}" --finetune "$TMP/base.h5" \
    --condition dft_mag_density=0.1 -o "$TMP/x.h5"
expect_rc 2 "--cond-drop without --condition" "$BIN" train "${COMMON[@]}" --cond-drop 0.3 -o "$TMP/x.h5"
expect_rc 2 "--cond-drop 1" "$BIN" train "${COMMON[@]}" --finetune "$TMP/base.h5" \
    --condition dft_mag_density --cond-drop 1 -o "$TMP/x.h5"
expect_rc 2 "same condition twice" "$BIN" train "${COMMON[@]}" --finetune "$TMP/base.h5" \
    --condition band_gap --condition band_gap -o "$TMP/x.h5"
expect_rc 1 "unknown property" "$BIN" train "${COMMON[@]}" --finetune "$TMP/base.h5" \
    --condition magnetism -o "$TMP/x.h5"
grep -q "dft_mag_density" "$TMP/last.err" || fail "unknown property message should list the dataset's properties"
expect_rc 1 "missing base" "$BIN" train "${COMMON[@]}" --finetune "$TMP/nope.h5" --condition band_gap -o "$TMP/x.h5"

step "fine-tune (stopped, then resumed)"
FT=("${COMMON[@]}" --finetune "$TMP/base.h5" --condition dft_mag_density --condition chemsys
    --epochs 4 --lr 3e-3 -o "$TMP/ft.h5")
"$BIN" train "${FT[@]}" --stop-at-step 10 2> "$TMP/ft1.err" || { cat "$TMP/ft1.err"; fail "fine-tune"; }
grep -q "conditions dft_mag_density, chemsys" "$TMP/ft1.err" || { cat "$TMP/ft1.err"; fail "conditions line"; }
# 64 crystals, every 5th unlabelled: 52 carry dft_mag_density, all 64 a chemical system
grep -q "64 of 64 training crystals labelled" "$TMP/ft1.err" || { cat "$TMP/ft1.err"; fail "labelled count"; }
grep -q "fine-tuned from" "$TMP/ft1.err" || fail "base model not reported"
"$BIN" train "${FT[@]}" --resume 2> "$TMP/ft2.err" || { cat "$TMP/ft2.err"; fail "resume fine-tune"; }
grep -q "resuming" "$TMP/ft2.err" || fail "resume message"
"$BIN" train "${FT[@]}" --epochs 4 -o "$TMP/ft_ref.h5" 2> "$TMP/ftref.err" || { cat "$TMP/ftref.err"; fail "reference fine-tune"; }
cut -d, -f1-11 "$TMP/ft.log.csv" > "$TMP/a.cols"
cut -d, -f1-11 "$TMP/ft_ref.log.csv" > "$TMP/b.cols"
cmp -s "$TMP/a.cols" "$TMP/b.cols" || { diff "$TMP/a.cols" "$TMP/b.cols"; fail "resumed fine-tune differs from the uninterrupted one"; }

step "model info and model stats (label counts, ranges, units)"
"$BIN" model info "$TMP/ft.h5" > "$TMP/info.txt" || fail "model info"
grep -q "dft_mag_density *muB/A^3: " "$TMP/info.txt" || { cat "$TMP/info.txt"; fail "unit of the condition"; }
grep -qF "52 of 64 training crystals labelled, range 0 .. 0.2 muB/A^3" "$TMP/info.txt" \
    || { cat "$TMP/info.txt"; fail "label count and range of the condition"; }
grep -q "normalised with mean" "$TMP/info.txt" || fail "normalisation not printed"
# recomputing them from the training set changes nothing: the same bytes
"$BIN" model stats "$TMP/ft.h5" --data "$TMP/train.h5" -o "$TMP/ft_stats.h5" > "$TMP/stats.txt" \
    || { cat "$TMP/stats.txt"; fail "model stats"; }
grep -qF "dft_mag_density              52 labelled, range 0 .. 0.2 muB/A^3" "$TMP/stats.txt" \
    || { cat "$TMP/stats.txt"; fail "model stats output"; }
cmp -s "$TMP/ft.h5" "$TMP/ft_stats.h5" || fail "model stats on a model that has them changed its bytes"
# another dataset is refused and nothing is written
expect_rc 1 "model stats, wrong data" "$BIN" model stats "$TMP/ft.h5" --data "$TMP/val.h5" -o "$TMP/bad.h5"
grep -q "is not the training set" "$TMP/last.err" || { cat "$TMP/last.err"; fail "wrong-data message"; }
[ ! -e "$TMP/bad.h5" ] || fail "model stats wrote a model for the wrong data"
expect_rc 2 "model stats without --data" "$BIN" model stats "$TMP/ft.h5"

step "generate with conditions"
GEN=(--model "$TMP/ft.h5" -n 3 --batch 3 --steps 10 --threads 1 --quiet)
"$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 --guidance 2.0 -o "$TMP/g1" 2> "$TMP/g1.err" \
    || { cat "$TMP/g1.err"; fail "generate --condition"; }
[ "$(ls "$TMP/g1/cif" | wc -l)" -eq 3 ] || fail "expected 3 CIFs"
[ "$(wc -l < "$TMP/g1/summary.csv")" -eq 4 ] || fail "summary rows"
"$BIN" generate "${GEN[@]}" --condition chemsys=Fe-O --condition mag_density=0.2 -o "$TMP/g2" 2> "$TMP/g2.err" \
    || { cat "$TMP/g2.err"; fail "generate with chemsys and the short name"; }
# the same request twice gives the same crystals; guidance changes them
"$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 --guidance 2.0 -o "$TMP/g3" 2>/dev/null || fail "repeat"
cmp -s "$TMP/g1/generated.extxyz" "$TMP/g3/generated.extxyz" || fail "conditioned sampling is not reproducible"
"$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 --guidance 0.0 -o "$TMP/g4" 2>/dev/null || fail "guidance 0"
cmp -s "$TMP/g1/generated.extxyz" "$TMP/g4/generated.extxyz" && fail "guidance had no effect"
# --type-guidance (issue 17): its own gamma for the atom types, recorded in summary.json and in
# the provenance; giving it the value of --guidance changes nothing
"$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 --guidance 2.0 --type-guidance 2.0 \
    -o "$TMP/g6" 2>/dev/null || fail "--type-guidance equal to --guidance"
cmp -s "$TMP/g1/generated.extxyz" "$TMP/g6/generated.extxyz" \
    || fail "--type-guidance equal to --guidance changed the crystals"
"$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 --guidance 1.0 --type-guidance 4 \
    -o "$TMP/g7" 2>/dev/null || fail "--type-guidance"
grep -q '"type_guidance": 4,' "$TMP/g7/summary.json" || fail "type_guidance not in summary.json"
grep -q '"type_guidance"' "$TMP/g1/summary.json" && fail "type_guidance recorded without the option"
grep -rq "guidance: 1 (types 4)" "$TMP/g7/cif" || fail "type guidance not in the CIF provenance"
expect_rc 2 "bad --type-guidance" "$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 \
    --type-guidance inf -o "$TMP/r7"
# --negative-condition: the pass guidance mixes against is conditioned on the replaced values;
# against the condition itself there is nothing to guide (c + gamma (c - c): any gamma gives
# the same crystals), and the setting is recorded in summary.json and the provenance
"$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 --guidance 5.0 \
    --negative-condition dft_mag_density=0.15 -o "$TMP/n0" 2>/dev/null || fail "--negative-condition"
"$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 --guidance 2.0 \
    --negative-condition dft_mag_density=0.15 -o "$TMP/n1" 2>/dev/null || fail "--negative-condition"
cmp -s "$TMP/n0/generated.extxyz" "$TMP/n1/generated.extxyz" \
    || fail "guidance against the condition itself depends on gamma"
"$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 --guidance 2.0 --type-guidance 3 \
    --negative-condition dft_mag_density=0 -o "$TMP/n2" 2>/dev/null || fail "--negative-condition 0"
cmp -s "$TMP/g1/generated.extxyz" "$TMP/n2/generated.extxyz" && fail "--negative-condition had no effect"
grep -q '"negative_conditions": {"dft_mag_density": 0}' "$TMP/n2/summary.json" \
    || fail "negative_conditions not in summary.json"
grep -rq "guidance: 2 (types 3; against dft_mag_density=0)" "$TMP/n2/cif" \
    || fail "negative condition not in the CIF provenance"
expect_rc 2 "--negative-condition without --condition" "$BIN" generate "${GEN[@]}" \
    --negative-condition dft_mag_density=0 -o "$TMP/r8"
expect_rc 2 "unknown negative condition" "$BIN" generate "${GEN[@]}" --condition dft_mag_density=0.15 \
    --negative-condition band_gap=1 -o "$TMP/r9"
# a conditioned model still samples unconditionally without --condition
"$BIN" generate "${GEN[@]}" -o "$TMP/g5" 2>/dev/null || fail "unconditional sampling of a conditioned model"

step "generate refusals"
expect_rc 2 "unknown condition" "$BIN" generate "${GEN[@]}" --condition band_gap=1 -o "$TMP/r1"
grep -q "unknown condition 'band_gap'" "$TMP/last.err" || { cat "$TMP/last.err"; fail "unknown-name message"; }
grep -q "dft_mag_density, chemsys" "$TMP/last.err" || fail "message should list the model's conditions"
expect_rc 2 "unconditional model" "$BIN" generate --model "$TMP/base.h5" -n 1 --steps 2 --quiet \
    --condition dft_mag_density=0.1 -o "$TMP/r2"
grep -q "unconditional model" "$TMP/last.err" || fail "unconditional-model message"
expect_rc 2 "bad value" "$BIN" generate "${GEN[@]}" --condition dft_mag_density=high -o "$TMP/r3"
expect_rc 2 "bad chemsys" "$BIN" generate "${GEN[@]}" --condition chemsys=Fe-Qq -o "$TMP/r4"
expect_rc 2 "no value" "$BIN" generate "${GEN[@]}" --condition dft_mag_density= -o "$TMP/r5"
expect_rc 2 "no name" "$BIN" generate "${GEN[@]}" --condition =0.1 -o "$TMP/r6"
echo "e2e_condition: all passed"
