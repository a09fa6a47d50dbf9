#!/usr/bin/env bash
# e2e_trainer_golden.sh BINARY SOURCE_DIR: the training loop's numbers are frozen. Tiny runs of
# `xtalgen train` (fresh, stopped and resumed, fine-tuned with conditions) and `xtalgen
# train-property` (fresh; MSE loss stopped and resumed) on the 5-crystal fixture must print the
# per-epoch lines and write the per-epoch CSV logs of tests/fixtures/trainer_golden/ to every
# digit (wall-clock columns removed). The golden files were recorded with the binary from before
# the two trainers were merged into diffusion/xg_trainer.c (issue 20), one thread, on x86-64
# with Debian's OpenBLAS; floating point is deterministic for a given thread count and build,
# so a difference means the loop's arithmetic or order changed. A resumed run must also end
# with a model file byte-identical to the uninterrupted run's. Takes a few seconds.
#
# After a deliberate change of the numbers, re-record (and say why in the commit):
#   XG_GOLDEN_RECORD=1 tests/e2e_trainer_golden.sh build/xtalgen .
set -u
BIN=${1:?usage: e2e_trainer_golden.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_trainer_golden.sh BINARY SOURCE_DIR}
GOLD="$SRC/tests/fixtures/trainer_golden"
TMP=$(mktemp -d /tmp/xg_e2e_golden.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# Per-epoch lines without their timing fields (throughput, seconds per batch, elapsed).
epoch_lines() {
    grep -E '^xtalgen train(-property)?: (epoch|starting|resuming|done|stopped|val MAE|test MAE)' "$1" |
        sed -E -e 's/  [0-9.]+ crystals\/s.*$//' -e 's#(model|checkpoint|log) [^ ,]*#\1 F#g'
}
# CSV logs without the wall-clock columns (crystals_per_s, elapsed_s).
csv_den() { cut -d, -f1-11 "$1"; }
csv_prop() { cut -d, -f1-5 "$1"; }

"$BIN" dataset import --quiet "$SRC/tests/fixtures/cdvae_small.csv" -o "$TMP/d.h5" ||
    fail "dataset import"
D="$TMP/d.h5"
DEN=(--data "$D" --val "$D" --epochs 4 --batch 2 --hidden 16 --layers 1 --n-freq 2 --threads 1
     --seed 1 --warmup 2 --quiet)
PROP=(--target formation_energy_per_atom --data "$D" --val "$D" --test "$D" --epochs 4 --batch 2
      --hidden 16 --layers 1 --n-freq 2 --threads 1 --seed 3 --warmup 2 --quiet)

step "denoiser: fresh, stopped at step 3 and resumed, fine-tuned on two conditions"
"$BIN" train "${DEN[@]}" -o "$TMP/a.h5" 2> "$TMP/a.err" || { cat "$TMP/a.err"; fail "train"; }
"$BIN" train "${DEN[@]}" -o "$TMP/b.h5" --stop-at-step 3 2> "$TMP/b1.err" || fail "train (stop)"
"$BIN" train "${DEN[@]}" -o "$TMP/b.h5" --resume 2> "$TMP/b2.err" || fail "train (resume)"
cmp -s "$TMP/a.h5" "$TMP/b.h5" || fail "the resumed model differs from the uninterrupted one"
"$BIN" train "${DEN[@]}" --finetune "$TMP/a.h5" --condition band_gap --condition chemsys \
    --epochs 2 -o "$TMP/c.h5" 2> "$TMP/c.err" || { cat "$TMP/c.err"; fail "fine-tune"; }

step "property model: fresh; MSE stopped at step 3 and resumed"
"$BIN" train-property "${PROP[@]}" -o "$TMP/p.h5" 2> "$TMP/p.err" || { cat "$TMP/p.err"; fail "train-property"; }
"$BIN" train-property "${PROP[@]}" --loss mse -o "$TMP/q.h5" --stop-at-step 3 2> "$TMP/q1.err" ||
    fail "train-property (stop)"
"$BIN" train-property "${PROP[@]}" --loss mse -o "$TMP/q.h5" --resume 2> "$TMP/q2.err" ||
    fail "train-property (resume)"

mkdir -p "$TMP/now"
for r in a b1 b2 c p q1 q2; do epoch_lines "$TMP/$r.err" > "$TMP/now/$r.txt"; done
for r in a b c; do csv_den "$TMP/$r.log.csv" > "$TMP/now/$r.csv"; done
for r in p q; do csv_prop "$TMP/$r.log.csv" > "$TMP/now/$r.csv"; done
for f in "$TMP"/now/*; do [ -s "$f" ] || fail "$(basename "$f"): nothing recorded"; done

if [ "${XG_GOLDEN_RECORD:-0}" = 1 ]; then
    mkdir -p "$GOLD" && cp "$TMP"/now/* "$GOLD/" && echo "recorded into $GOLD" && exit 0
fi
step "compare with $GOLD"
for f in "$TMP"/now/*; do
    g="$GOLD/$(basename "$f")"
    [ -f "$g" ] || fail "missing golden file $g"
    if ! cmp -s "$f" "$g"; then
        diff "$g" "$f" | head -20 >&2
        fail "$(basename "$f") differs from the golden log (see above: < golden, > now)"
    fi
done
echo "e2e_trainer_golden: all passed"
