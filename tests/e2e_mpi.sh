#!/usr/bin/env bash
# e2e_mpi.sh BINARY SOURCE_DIR: the MPI scale-out (issue 7) with `mpirun -n 2` (and 3) on one
# machine, against single-process runs of the same binary:
#   generate: the merged outputs (summary.csv, generated.extxyz, cif/*.cif, generated.h5) are
#             identical, byte for byte, to one process's with the same --seed/--batch/threads;
#             the rank parts are gone; the same command twice gives the same crystals;
#   screen:   screen.csv and summary.json (timings aside) identical to one process's, with
#             duplicates spread over the ranks and novelty against references;
#   train:    per-epoch train and validation losses of -n 2 match -n 1 within rounding (the max
#             relative difference is printed), a stopped -n 2 run resumes to the uninterrupted
#             -n 2 run's losses exactly, a -n 2 checkpoint resumes in one process, and a batch
#             smaller than the number of ranks is refused.
# Skips (exit 0 with a note) when mpirun is missing or BINARY was built without MPI. Takes well
# under a minute on two cores.
set -u
BIN=${1:?usage: e2e_mpi.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_mpi.sh BINARY SOURCE_DIR}
MODEL="$SRC/data/models/xtalgen-mp20.h5"
FIX="$SRC/tests/fixtures"
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

if ! command -v mpirun >/dev/null 2>&1; then
    echo "e2e_mpi: skipped (no mpirun; install openmpi-bin)"; exit 0
fi
if ! ldd "$BIN" 2>/dev/null | grep -q 'libmpi'; then
    echo "e2e_mpi: skipped ($BIN was built without -DXTALGEN_MPI=ON)"; exit 0
fi
[ -f "$MODEL" ] || fail "the shipped model $MODEL is missing"
TMP=$(mktemp -d /tmp/xg_e2e_mpi.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# --bind-to none: with binding, a rank would be pinned to one core whatever its thread count.
MPI=(mpirun --oversubscribe --allow-run-as-root --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS)

# ------------------------------------------------------------------------------ generate
step "generate: 1 process vs mpirun -n 2 and -n 3"
GEN=(generate --model "$MODEL" -n 10 --batch 2 --steps 25 --seed 11 --threads 1 --quiet)
"$BIN" "${GEN[@]}" -o "$TMP/g1" || fail "single-process generate"
"${MPI[@]}" -n 2 "$BIN" "${GEN[@]}" -o "$TMP/g2" > "$TMP/g2.log" 2>&1 || { cat "$TMP/g2.log"; fail "generate -n 2"; }
"${MPI[@]}" -n 3 "$BIN" "${GEN[@]}" -o "$TMP/g3" > "$TMP/g3.log" 2>&1 || { cat "$TMP/g3.log"; fail "generate -n 3"; }
"$BIN" convert "$TMP/g1/generated.h5" -o "$TMP/g1.h5.extxyz" --format extxyz >/dev/null 2>&1 \
  || fail "convert of the single-process generated.h5"
for d in g2 g3; do
    cmp -s "$TMP/g1/summary.csv" "$TMP/$d/summary.csv" \
      || { diff "$TMP/g1/summary.csv" "$TMP/$d/summary.csv"; fail "$d: summary.csv differs from one process's"; }
    cmp -s "$TMP/g1/generated.extxyz" "$TMP/$d/generated.extxyz" || fail "$d: generated.extxyz differs"
    [ "$(ls "$TMP/$d/cif" | wc -l)" -eq 10 ] || fail "$d: expected 10 CIF files"
    for f in "$TMP"/g1/cif/*.cif; do
        cmp -s "$f" "$TMP/$d/cif/$(basename "$f")" || fail "$d: $(basename "$f") differs"
    done
    # generated.h5 holds the same crystals in the same order (compared through its extxyz form)
    "$BIN" convert "$TMP/$d/generated.h5" -o "$TMP/$d.h5.extxyz" --format extxyz >/dev/null 2>&1 \
      || fail "$d: generated.h5 unreadable"
    cmp -s "$TMP/g1.h5.extxyz" "$TMP/$d.h5.extxyz" || fail "$d: generated.h5 differs"
    ls -A "$TMP/$d" | grep -q '^\.rank' && fail "$d: rank parts left behind"
    ls "$TMP/$d" | grep -q '\.tmp' && fail "$d: temporary files left behind"
done
[ "$(cut -d, -f1 "$TMP/g2/summary.csv" | sort | uniq -d | wc -l)" -eq 0 ] || fail "duplicate ids"
"${MPI[@]}" -n 2 "$BIN" "${GEN[@]}" -o "$TMP/g2b" > /dev/null 2>&1 || fail "second generate -n 2"
cmp -s "$TMP/g2/generated.extxyz" "$TMP/g2b/generated.extxyz" || fail "same command, other crystals"
echo "generate: -n 2 and -n 3 outputs identical to the single-process run"

# Issue 12: the same mpirun command as 8 separate jobs, with exclusions (once read from
# uninitialised memory), writes the same bytes every time.
step "generate: mpirun -n 2 with --exclude-elements, 8 jobs, identical outputs"
GX=(generate --model "$MODEL" -n 4 --batch 2 --steps 10 --seed 5 --threads 1 --quiet
    --exclude-elements rare-earths,radioactive)
digest() { (cd "$1" && find . -type f ! -name .xtalgen.lock | LC_ALL=C sort | xargs md5sum) | md5sum | cut -d' ' -f1; }
first=""
for r in 1 2 3 4 5 6 7 8; do
    "${MPI[@]}" -n 2 "$BIN" "${GX[@]}" -o "$TMP/gx$r" > "$TMP/gx.log" 2>&1 || { cat "$TMP/gx.log"; fail "generate -n 2 (job $r)"; }
    d=$(digest "$TMP/gx$r")
    [ -z "$first" ] && first=$d
    [ "$d" = "$first" ] || fail "mpirun job $r wrote other bytes than job 1"
done
echo "generate: 8 mpirun jobs with exclusions, identical outputs"

# ------------------------------------------------------------------------------ screen
step "screen: 1 process vs mpirun -n 2"
# The generated set twice (every crystal has a duplicate, on another rank half of the time),
# plus known crystals, against references: uniqueness and novelty both have work to do.
SCR=(screen "$TMP/g1" "$TMP/g1/generated.extxyz" "$FIX/cdvae_small.csv" --reference "$FIX/cdvae_small.csv"
     --distribution-reference "$FIX/cdvae_small.csv" --quiet)
"$BIN" "${SCR[@]}" -o "$TMP/s1" || fail "single-process screen"
"${MPI[@]}" -n 2 "$BIN" "${SCR[@]}" -o "$TMP/s2" > "$TMP/s2.log" 2>&1 || { cat "$TMP/s2.log"; fail "screen -n 2"; }
cmp -s "$TMP/s1/screen.csv" "$TMP/s2/screen.csv" \
  || { diff "$TMP/s1/screen.csv" "$TMP/s2/screen.csv"; fail "screen.csv differs from one process's"; }
grep -v seconds "$TMP/s1/summary.json" > "$TMP/s1.json"
grep -v seconds "$TMP/s2/summary.json" > "$TMP/s2.json"
cmp -s "$TMP/s1.json" "$TMP/s2.json" || { diff "$TMP/s1.json" "$TMP/s2.json"; fail "summary.json differs"; }
ndup=$(awk -F, 'NR > 1 && $8 != ""' "$TMP/s1/screen.csv" | wc -l)
[ "$ndup" -ge 10 ] || fail "expected every generated crystal to have a duplicate, got $ndup"
grep -q '"novel": [1-9]' "$TMP/s1/summary.json" || fail "novelty was not assessed"
echo "screen: identical outputs ($ndup duplicates found)"

# ------------------------------------------------------------------------------ train
step "train: mpirun -n 2 vs one process"
make_csv() { # make_csv FILE COUNT SEED: rock-salt-like crystals of 2, 4 or 8 atoms (as e2e_train.sh)
    awk -v n="$2" -v seed="$3" 'BEGIN {
        srand(seed);
        split("Na Cl K Br Mg O", el, " ");
        print "material_id,formation_energy_per_atom,band_gap,pretty_formula,e_above_hull,elements,cif,spacegroup.number";
        for (s = 0; s < n; s++) {
            N = 2 ^ (1 + int(rand() * 3)); p = int(rand() * 3);
            A = el[2 * p + 1]; B = el[2 * p + 2];
            a = (N / 0.05) ^ (1 / 3) * (1 + 0.03 * (rand() - 0.5));
            printf "syn-%d,%.4f,1.0,%s%s,0.0,\"[\x27%s\x27, \x27%s\x27]\",\"# synthetic\n", s, -1 - 0.1 * p, A, B, A, B;
            printf "data_%s%s\n_symmetry_space_group_name_H-M   \x27P 1\x27\n", A, B;
            printf "_cell_length_a   %.6f\n_cell_length_b   %.6f\n_cell_length_c   %.6f\n", a, a * 1.01, a * 0.99;
            printf "_cell_angle_alpha   90.0\n_cell_angle_beta   90.0\n_cell_angle_gamma   90.0\n";
            printf "_symmetry_Int_Tables_number   1\nloop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1  \x27x, y, z\x27\n";
            printf "loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_symmetry_multiplicity\n";
            printf " _atom_site_fract_x\n _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n";
            for (i = 0; i < N; i++) {
                sp = (i % 2 == 0) ? A : B;
                x = int(i / 2) / (N / 2) + 0.01 * rand(); y = 0.5 * (i % 2) + 0.01 * rand(); z = 0.5 * (i % 2) + 0.01 * rand();
                printf "  %s  %s%d  1  %.6f  %.6f  %.6f  1\n", sp, sp, i, x, y, z;
            }
            printf "\",1\n";
        }
    }' > "$1"
}
make_csv "$TMP/train.csv" 48 1
make_csv "$TMP/val.csv" 16 2
"$BIN" dataset import --quiet "$TMP/train.csv" -o "$TMP/train.h5" >/dev/null 2>&1 || fail "dataset import (train)"
"$BIN" dataset import --quiet "$TMP/val.csv" -o "$TMP/val.h5" >/dev/null 2>&1 || fail "dataset import (val)"
# 48 crystals, batch 8: 6 steps per epoch; 3 epochs = 18 optimizer steps.
TR=(train --data "$TMP/train.h5" --val "$TMP/val.h5" --hidden 32 --layers 2 --batch 8 --epochs 3
    --threads 1 --seed 5 --lr 2e-3 --warmup 3 --quiet)
mkdir -p "$TMP/t1" "$TMP/t2" "$TMP/t2r" "$TMP/t2s"
"$BIN" "${TR[@]}" -o "$TMP/t1/m.h5" 2> "$TMP/t1.log" || { cat "$TMP/t1.log"; fail "single-process train"; }
"${MPI[@]}" -n 2 "$BIN" "${TR[@]}" -o "$TMP/t2/m.h5" > "$TMP/t2.log" 2>&1 || { cat "$TMP/t2.log"; fail "train -n 2"; }
grep -q "data-parallel over 2 processes" "$TMP/t2.log" || fail "the -n 2 run did not report its 2 processes"
[ "$(grep -c 'epoch 3: train' "$TMP/t2.log")" -eq 1 ] || fail "rank 0 alone should print the epoch lines"
[ -s "$TMP/t2/m.h5" ] && [ -s "$TMP/t2/m.ckpt.h5" ] || fail "-n 2: model or checkpoint missing"
[ "$(wc -l < "$TMP/t2/m.log.csv")" -eq 4 ] || fail "-n 2: the log should have a header and 3 epochs"
cut -d, -f1-2 "$TMP/t1/m.log.csv" | cmp -s - <(cut -d, -f1-2 "$TMP/t2/m.log.csv") || fail "epochs/steps differ"
# columns 3-11: lr, 4 train losses (means over the epoch's steps), 4 validation losses (EMA
# weights after the epoch: they see any difference in the gradients)
maxrel=$(paste -d, "$TMP/t1/m.log.csv" "$TMP/t2/m.log.csv" | awk -F, 'NR > 1 {
    for (c = 3; c <= 11; c++) { a = $c; b = $(c + 13); d = a - b; if (d < 0) d = -d;
        s = a < 0 ? -a : a; r = s > 0 ? d / s : d; if (r > m) m = r } }
    END { printf "%.3g", m }')
echo "train: max relative difference of the per-epoch losses, -n 2 vs -n 1: $maxrel"
awk -v m="$maxrel" 'BEGIN { exit !(m < 1e-4) }' || fail "-n 2 losses differ from one process's by $maxrel"

step "train: a stopped -n 2 run resumes exactly; a -n 2 checkpoint resumes in one process"
"${MPI[@]}" -n 2 "$BIN" "${TR[@]}" -o "$TMP/t2r/m.h5" --stop-at-step 8 > "$TMP/t2r.log" 2>&1 \
  || { cat "$TMP/t2r.log"; fail "train -n 2 --stop-at-step 8"; }
grep -q "stopped after 8 steps" "$TMP/t2r.log" || fail "the run should stop after 8 steps"
cp "$TMP/t2r/m.ckpt.h5" "$TMP/t2s/m.ckpt.h5"
"${MPI[@]}" -n 2 "$BIN" "${TR[@]}" -o "$TMP/t2r/m.h5" --resume > "$TMP/t2r2.log" 2>&1 \
  || { cat "$TMP/t2r2.log"; fail "train -n 2 --resume"; }
grep -q "resuming.*step 8" "$TMP/t2r2.log" || fail "resume should start at step 8"
cut -d, -f1-11 "$TMP/t2/m.log.csv" | cmp -s - <(cut -d, -f1-11 "$TMP/t2r/m.log.csv") \
  || { diff "$TMP/t2/m.log.csv" "$TMP/t2r/m.log.csv"; fail "the resumed -n 2 run differs from the uninterrupted one"; }
"$BIN" "${TR[@]}" -o "$TMP/t2s/m.h5" --resume 2> "$TMP/t2s.log" || { cat "$TMP/t2s.log"; fail "one process resuming a -n 2 checkpoint"; }
[ "$(wc -l < "$TMP/t2s/m.log.csv")" -eq 4 ] || fail "the single-process resume should finish 3 epochs"

step "train: a batch smaller than the number of ranks is refused"
"${MPI[@]}" -n 2 "$BIN" "${TR[@]}" --batch 1 -o "$TMP/bad.h5" > "$TMP/bad.log" 2>&1 && fail "--batch 1 with 2 ranks should fail"
grep -q "cannot be split over 2 processes" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "message for --batch 1"; }
echo "e2e_mpi: all passed"
