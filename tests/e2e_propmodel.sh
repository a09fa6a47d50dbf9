#!/usr/bin/env bash
# e2e_propmodel.sh BINARY SOURCE_DIR: `xtalgen train-property` end to end on a tiny synthetic
# dataset made with `xtalgen dataset import`: usage errors, a run with a test set whose blank
# labels must be skipped and counted (never read as zero), the summary line, the model and log
# files, a resumed run, a clean stop on SIGINT, and a --hours budget. Runs in well under a minute.
set -u
BIN=${1:?usage: e2e_propmodel.sh BINARY SOURCE_DIR}
TMP=$(mktemp -d /tmp/xg_e2e_propmodel.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# ---- CDVAE-format CSV: rock-salt-like crystals of 2, 4 or 8 atoms; the formation energy
# depends on the element pair and the volume per atom; every BLANK-th row has no label ----
make_csv() { # make_csv FILE COUNT SEED BLANK
    awk -v n="$2" -v seed="$3" -v blank="$4" 'BEGIN {
        srand(seed);
        split("Na Cl K Br Mg O", el, " ");
        print "material_id,formation_energy_per_atom,band_gap,pretty_formula,e_above_hull,elements,cif,spacegroup.number";
        for (s = 0; s < n; s++) {
            N = 2 ^ (1 + int(rand() * 3)); p = int(rand() * 3);
            A = el[2 * p + 1]; B = el[2 * p + 2];
            vpa = 14 + 10 * rand();
            a = (N * vpa) ^ (1 / 3);
            ef = sprintf("%.4f", -1 - 0.5 * p + 0.05 * (vpa - 19));
            if (blank > 0 && s % blank == blank - 1) ef = "";
            printf "syn-%d,%s,1.0,%s%s,0.0,\"[\x27%s\x27, \x27%s\x27]\",\"# synthetic\n", s, ef, A, B, A, B;
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
        }
    }' > "$1"
}

step "dataset"
make_csv "$TMP/train.csv" 96 1 8   # 12 blank labels
make_csv "$TMP/val.csv" 32 2 0
make_csv "$TMP/test.csv" 40 3 5    # 8 blank labels
for s in train val test; do
    "$BIN" dataset import --quiet "$TMP/$s.csv" -o "$TMP/$s.h5" || fail "dataset import ($s)"
done

step "usage errors"
T=formation_energy_per_atom
"$BIN" train-property >/dev/null 2>&1; [ $? -eq 2 ] || fail "no arguments should exit 2"
"$BIN" train-property --target $T --data "$TMP/train.h5" -o "$TMP/x.h5" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing --val should exit 2"
"$BIN" train-property --target $T --data "$TMP/train.h5" --val "$TMP/val.h5" -o "$TMP/x.h5" --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option should exit 2"
"$BIN" train-property --target $T --data "$TMP/train.h5" --val "$TMP/val.h5" -o "$TMP/x.h5" --loss l3 >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --loss should exit 2"
"$BIN" train-property --target $T --data "$TMP/train.h5" --val "$TMP/val.h5" -o "$TMP/x.h5" --batch 0 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--batch 0 should exit 2"
"$BIN" train-property --target $T --data "$TMP/missing.h5" --val "$TMP/val.h5" -o "$TMP/x.h5" >/dev/null 2>&1
[ $? -eq 1 ] || fail "missing data should exit 1"
"$BIN" train-property --target nonsense --data "$TMP/train.h5" --val "$TMP/val.h5" -o "$TMP/x.h5" 2> "$TMP/e.txt"
[ $? -eq 1 ] || fail "unknown target should exit 1"
grep -q "^xtalgen train-property: .*no property 'nonsense'" "$TMP/e.txt" || fail "unknown target message: $(cat "$TMP/e.txt")"
"$BIN" train-property --target $T --data "$TMP/train.h5" --val "$TMP/val.h5" -o "$TMP/x.h5" --resume >/dev/null 2>&1
[ $? -eq 1 ] || fail "resume without a checkpoint should exit 1"
"$BIN" help train-property | grep -q -- "--target" || fail "help text"

COMMON=(--target $T --data "$TMP/train.h5" --val "$TMP/val.h5" --test "$TMP/test.h5" --hidden 32
        --layers 1 --n-freq 2 --batch 8 --threads 1 --seed 2 --lr 3e-3 --warmup 10 --quiet)

step "a run with a test set"
"$BIN" train-property "${COMMON[@]}" --epochs 6 -o "$TMP/m.h5" 2> "$TMP/run.txt" || { cat "$TMP/run.txt"; fail "training run"; }
cat "$TMP/run.txt"
[ -s "$TMP/m.h5" ] && [ -s "$TMP/m.ckpt.h5" ] && [ -s "$TMP/m.log.csv" ] || fail "outputs missing"
[ ! -e "$TMP/m.h5.tmp" ] || fail "temporary file left behind"
[ "$(wc -l < "$TMP/m.log.csv")" -eq 7 ] || fail "log should have a header and 6 epochs"
grep -q "84 training crystals (12 without a label skipped" "$TMP/run.txt" || fail "train label count"
grep -Eq "test MAE [0-9.]+ eV/atom on 32 crystals \(predicting the training mean: [0-9.]+; 8 without a label skipped\)" "$TMP/run.txt" \
    || fail "test summary line"
grep -q "epoch 6: train loss" "$TMP/run.txt" || fail "per-epoch line"
# the model beats predicting the mean on the test set
awk '/test MAE/ { for (i = 1; i <= NF; i++) { if ($i == "MAE") m = $(i + 1); if ($i == "mean:") b = $(i + 1) } }
     END { sub(";", "", b); exit !(m + 0 < b + 0) }' "$TMP/run.txt" || fail "test MAE not below the mean predictor"

step "resume to more epochs"
"$BIN" train-property "${COMMON[@]}" --epochs 8 -o "$TMP/m.h5" --resume 2> "$TMP/res.txt" || { cat "$TMP/res.txt"; fail "resume"; }
grep -q "resuming 'formation_energy_per_atom'.*from epoch 7 step" "$TMP/res.txt" || fail "resume message: $(head -1 "$TMP/res.txt")"
[ "$(wc -l < "$TMP/m.log.csv")" -eq 9 ] || fail "resumed log should have 8 epochs"
grep -q "done after .* (8 epochs)" "$TMP/res.txt" || fail "resumed run should finish at epoch 8"

step "SIGINT stops cleanly"
"$BIN" train-property "${COMMON[@]}" --epochs 100000 -o "$TMP/int.h5" 2> "$TMP/int.txt" &
PID=$!
for _ in $(seq 1 1500); do [ -s "$TMP/int.ckpt.h5" ] && break; sleep 0.02; done
kill -INT "$PID"
wait "$PID"; RC=$?
[ $RC -eq 0 ] || { cat "$TMP/int.txt"; fail "SIGINT should exit 0, got $RC"; }
grep -q "stopped after" "$TMP/int.txt" || fail "stop message"
[ -s "$TMP/int.h5" ] || fail "no model after SIGINT"

step "--hours budget"
"$BIN" train-property "${COMMON[@]}" --hours 0.0008 -o "$TMP/h.h5" 2> "$TMP/h.txt" || { cat "$TMP/h.txt"; fail "--hours run"; }
grep -q "stopped after" "$TMP/h.txt" || fail "--hours should stop the run"
[ -s "$TMP/h.h5" ] || fail "no model after --hours"

step "a generative model file is not a checkpoint"
cp "$2/tests/fixtures/model_v1_uncond.h5" "$TMP/gen.h5"
"$BIN" train-property "${COMMON[@]}" --epochs 2 -o "$TMP/g.h5" --checkpoint "$TMP/gen.h5" --resume 2> "$TMP/g.txt"
[ $? -eq 1 ] || fail "resuming from a generative model should exit 1"
grep -q "xtalgen-propmodel" "$TMP/g.txt" || fail "format message: $(cat "$TMP/g.txt")"
echo "e2e_propmodel: all passed"
