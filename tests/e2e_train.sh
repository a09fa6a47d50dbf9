#!/usr/bin/env bash
# e2e_train.sh BINARY SOURCE_DIR: `xtalgen train` end to end on a tiny synthetic dataset made
# with `xtalgen dataset import`: usage errors, an uninterrupted reference run, a run killed with
# SIGKILL mid-run and resumed (its per-epoch losses must equal the reference's exactly), a clean
# stop on SIGINT, and a --hours budget. Runs in well under a minute.
set -u
BIN=${1:?usage: e2e_train.sh BINARY SOURCE_DIR}
TMP=$(mktemp -d /tmp/xg_e2e_train.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# ---- a tiny CDVAE-format CSV: rock-salt-like crystals of 2, 4 or 8 atoms, P1 CIFs ----
make_csv() { # make_csv FILE COUNT SEED
    awk -v n="$2" -v seed="$3" 'BEGIN {
        srand(seed);
        split("Na Cl K Br Mg O", el, " ");
        print "material_id,formation_energy_per_atom,band_gap,pretty_formula,e_above_hull,elements,cif,spacegroup.number";
        for (s = 0; s < n; s++) {
            N = 2 ^ (1 + int(rand() * 3)); p = int(rand() * 3);
            A = el[2 * p + 1]; B = el[2 * p + 2];
            a = (N / 0.05) ^ (1 / 3) * (1 + 0.03 * (rand() - 0.5));
            b = a * (1 + 0.02 * (rand() - 0.5)); c = a * (1 + 0.02 * (rand() - 0.5));
            printf "syn-%d,%.4f,1.0,%s%s,0.0,\"[\x27%s\x27, \x27%s\x27]\",\"# synthetic\n", s, -1 - 0.1 * p, A, B, A, B;
            printf "data_%s%s\n_symmetry_space_group_name_H-M   \x27P 1\x27\n", A, B;
            printf "_cell_length_a   %.6f\n_cell_length_b   %.6f\n_cell_length_c   %.6f\n", a, b, c;
            printf "_cell_angle_alpha   %.4f\n_cell_angle_beta   90.0\n_cell_angle_gamma   90.0\n", 90 + 2 * (rand() - 0.5);
            printf "_symmetry_Int_Tables_number   1\nloop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1  \x27x, y, z\x27\n";
            printf "loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_symmetry_multiplicity\n";
            printf " _atom_site_fract_x\n _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n";
            for (i = 0; i < N; i++) {
                sp = (i % 2 == 0) ? A : B;
                x = int(i / 2) / (N / 2) + 0.01 * (rand() - 0.5);
                y = 0.5 * (i % 2) + 0.01 * (rand() - 0.5); z = 0.5 * (i % 2) + 0.01 * (rand() - 0.5);
                x -= (x < 0) ? -1 : 0; y -= (y < 0) ? -1 : 0; z -= (z < 0) ? -1 : 0;
                printf "  %s  %s%d  1  %.6f  %.6f  %.6f  1\n", sp, sp, i, x, y, z;
            }
            printf "\",1\n";
        }
    }' > "$1"
}

step "dataset"
make_csv "$TMP/train.csv" 96 1
make_csv "$TMP/val.csv" 24 2
"$BIN" dataset import --quiet "$TMP/train.csv" -o "$TMP/train.h5" || fail "dataset import (train)"
"$BIN" dataset import --quiet "$TMP/val.csv" -o "$TMP/val.h5" || fail "dataset import (val)"

step "usage errors"
"$BIN" train >/dev/null 2>&1; [ $? -eq 2 ] || fail "no arguments should exit 2"
"$BIN" train --data "$TMP/train.h5" -o "$TMP/x.h5" --batch 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--batch 0 should exit 2"
"$BIN" train --data "$TMP/train.h5" -o "$TMP/x.h5" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$BIN" train --data "$TMP/missing.h5" -o "$TMP/x.h5" >/dev/null 2>&1; [ $? -eq 1 ] || fail "missing data should exit 1"
"$BIN" train --data "$TMP/train.h5" -o "$TMP/x.h5" --resume >/dev/null 2>&1; [ $? -eq 1 ] || fail "resume without checkpoint should exit 1"
"$BIN" help train | grep -q -- "--checkpoint-every" || fail "help text"

COMMON=(--data "$TMP/train.h5" --val "$TMP/val.h5" --hidden 64 --layers 2 --batch 8 --epochs 8
        --threads 1 --seed 5 --lr 2e-3 --warmup 5 --quiet)

step "reference run"
mkdir -p "$TMP/ref" "$TMP/kill" "$TMP/int"
"$BIN" train "${COMMON[@]}" -o "$TMP/ref/m.h5" 2> "$TMP/ref/err.txt" || { cat "$TMP/ref/err.txt"; fail "reference run"; }
[ -s "$TMP/ref/m.h5" ] && [ -s "$TMP/ref/m.ckpt.h5" ] && [ -s "$TMP/ref/m.log.csv" ] || fail "reference outputs missing"
[ "$(wc -l < "$TMP/ref/m.log.csv")" -eq 9 ] || fail "log should have a header and 8 epochs"
grep -q "epoch 8: train" "$TMP/ref/err.txt" || fail "per-epoch line missing"
# the validation loss (column 8) falls from the first epoch to the last
awk -F, 'NR == 2 { f = $8 } END { exit !($8 < f) }' "$TMP/ref/m.log.csv" || fail "validation loss did not fall"

step "SIGKILL mid-run, then resume"
"$BIN" train "${COMMON[@]}" -o "$TMP/kill/m.h5" --checkpoint-every 0.002 2> "$TMP/kill/err1.txt" &
PID=$!
for _ in $(seq 1 1000); do [ -s "$TMP/kill/m.ckpt.h5" ] && break; sleep 0.02; done
sleep 0.1
kill -9 "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
[ -s "$TMP/kill/m.ckpt.h5" ] || fail "no checkpoint before the kill"
if [ -e "$TMP/kill/m.h5" ]; then echo "note: the run finished before the kill (fast machine)"; fi
"$BIN" train "${COMMON[@]}" -o "$TMP/kill/m.h5" --resume 2> "$TMP/kill/err2.txt" || { cat "$TMP/kill/err2.txt"; fail "resume"; }
grep -q "resuming" "$TMP/kill/err2.txt" || fail "resume message"
grep -o "starting at epoch [0-9]* step [0-9]*" "$TMP/kill/err2.txt"
[ -s "$TMP/kill/m.h5" ] || fail "model missing after resume"
# Same per-epoch losses (train and validation, every digit): the resumed trajectory equals the
# uninterrupted one. Columns 1-11: epoch, step, lr, 4 train and 4 val losses.
cut -d, -f1-11 "$TMP/ref/m.log.csv" > "$TMP/ref.cols"
cut -d, -f1-11 "$TMP/kill/m.log.csv" > "$TMP/kill.cols"
cmp -s "$TMP/ref.cols" "$TMP/kill.cols" || { diff "$TMP/ref.cols" "$TMP/kill.cols"; fail "resumed run differs from the reference"; }
ls "$TMP/kill" | grep -q '\.tmp' && fail "temporary file left behind"

step "SIGINT stops cleanly"
"$BIN" train "${COMMON[@]}" --epochs 100000 -o "$TMP/int/m.h5" --checkpoint-every 0.002 2> "$TMP/int/err.txt" &
PID=$!
for _ in $(seq 1 400); do [ -s "$TMP/int/m.ckpt.h5" ] && break; sleep 0.05; done
kill -INT "$PID"
wait "$PID"; RC=$?
[ $RC -eq 0 ] || { cat "$TMP/int/err.txt"; fail "SIGINT exit code $RC"; }
grep -q "stopped after" "$TMP/int/err.txt" || fail "stop message"
[ -s "$TMP/int/m.h5" ] || fail "model missing after SIGINT"

step "--hours budget"
"$BIN" train "${COMMON[@]}" --epochs 100000 --hours 0.0003 -o "$TMP/h.h5" 2> "$TMP/h.txt" || { cat "$TMP/h.txt"; fail "--hours run"; }
grep -q "stopped after" "$TMP/h.txt" || fail "--hours stop message"
[ -s "$TMP/h.h5" ] || fail "model missing after --hours"
step "--reschedule refits the learning-rate decay of a resumed run"
mkdir -p "$TMP/re"
cp "$TMP/ref/m.ckpt.h5" "$TMP/re/m.ckpt.h5"
"$BIN" train "${COMMON[@]}" -o "$TMP/re/m.h5" --reschedule >/dev/null 2>&1; [ $? -eq 2 ] || fail "--reschedule without --resume should exit 2"
"$BIN" train "${COMMON[@]}" -o "$TMP/re/m.h5" --resume --epochs 4 --reschedule 2> "$TMP/re/err.txt"; [ $? -eq 1 ] || fail "rescheduling to an epoch already past should exit 1"
grep -q "cannot reschedule" "$TMP/re/err.txt" || fail "reschedule message"
"$BIN" train "${COMMON[@]}" -o "$TMP/re/m.h5" --resume --epochs 12 --reschedule 2> "$TMP/re/err.txt" || { cat "$TMP/re/err.txt"; fail "rescheduled resume"; }
[ "$(wc -l < "$TMP/re/m.log.csv")" -eq 13 ] || fail "rescheduled log should have 12 epochs"
# The original schedule ended at epoch 8 (lr at its floor); refitted to 12 epochs, epoch 9 is
# back at about a fifth of the peak.
awk -F, 'NR == 9 { a = $3 } NR == 10 { b = $3 } END { exit !(b > 10 * a) }' "$TMP/re/m.log.csv" || fail "learning rate not rescheduled"
step "element-wise masking: a fine-tune without conditions, recorded in the model"
mkdir -p "$TMP/cm"
"$BIN" train "${COMMON[@]}" --epochs 1 --finetune "$TMP/ref/m.h5" -o "$TMP/cm/m.h5" >/dev/null 2>&1; [ $? -eq 2 ] || fail "--finetune with nothing to add should exit 2"
"$BIN" train "${COMMON[@]}" --epochs 1 --finetune "$TMP/ref/m.h5" --class-mask 0.5 -o "$TMP/cm/m.h5" 2> "$TMP/cm/err.txt" || { cat "$TMP/cm/err.txt"; fail "--class-mask fine-tune"; }
"$BIN" model info "$TMP/cm/m.h5" | grep -q "masked element by element in 50% of training crystals" || fail "model info: class mask"
"$BIN" model info "$TMP/ref/m.h5" | grep -q "element by element" && fail "model info: class mask on a model without it"
echo "e2e_train: all passed"
