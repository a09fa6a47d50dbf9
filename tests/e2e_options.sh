#!/usr/bin/env bash
# e2e_options.sh BINARY SOURCE_DIR: the commands whose options are declared in tables
# (src/xg_opts.h) accept --quiet, name the closest spelling of a misspelt option or value and
# list the valid ones (exit 2), show every option in `xtalgen help` within 92 columns, and take
# MatterGen's --batch_size for --batch, and on generate --num_batches and
# --diffusion_guidance_factor. Runs in a few seconds.
set -u
BIN=${1:?usage: e2e_options.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_options.sh BINARY SOURCE_DIR}
TMP=$(mktemp -d /tmp/xg_e2e_options.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# every command (and subcommand) converted so far; each must know --quiet
CMDS=("match" "xrd" "xrd-match" "xrd-refine" "hull build" "hull query" "hull check" "hull m3gnet"
      "model info" "model export" "model domain" "model stats" "model import-m3gnet" "symmetry" "convert"
      "dataset import" "dataset info" "templates build" "templates show" "report" "bench denoiser"
      "bench m3gnet" "relax" "train" "train-property" "generate" "screen" "export")
for c in "${CMDS[@]}"; do
    # shellcheck disable=SC2086
    "$BIN" $c --quiett > /dev/null 2> "$TMP/err"
    rc=$?
    [ $rc -eq 2 ] || fail "'$c --quiett' should be a usage error (exit 2), got $rc"
    grep -q "unknown option '--quiett'; did you mean --quiet?" "$TMP/err" || { cat "$TMP/err"; fail "$c: no suggestion"; }
    tr "\n" " " < "$TMP/err" | grep -q "valid options:.*--quiet" || fail "$c: valid options not listed"
done
for c in match xrd xrd-match xrd-refine hull model symmetry convert dataset templates report bench \
         relax train train-property generate screen export; do
    "$BIN" help "$c" > "$TMP/help" || fail "help $c"
    grep -q -- "--quiet" "$TMP/help" || fail "help $c does not show --quiet"
    awk 'length($0) > 92 { exit 1 }' "$TMP/help" || fail "help $c has lines over 92 columns"
done

# a misspelt value names the closest valid one
"$BIN" symmetry --format cvs x 2> "$TMP/err"; [ $? -eq 2 ] || fail "--format cvs should exit 2"
grep -q "did you mean 'csv'? (one of: table, csv, json)" "$TMP/err" || fail "enum suggestion"
"$BIN" train-property --loss l2 2> "$TMP/err"; [ $? -eq 2 ] || fail "--loss l2 should exit 2"
grep -q "did you mean 'l1'" "$TMP/err" || fail "--loss suggestion"

# --quiet really is accepted and changes no result
F="$SRC/tests/fixtures/xrd_ordered_TaCr2O6.cif"
"$BIN" match --quiet "$F" "$F" > "$TMP/out" 2> "$TMP/err" || fail "match --quiet"
grep -q "^match rms=" "$TMP/out" || fail "match --quiet output"
[ -s "$TMP/err" ] && fail "match --quiet wrote to stderr"
"$BIN" xrd -q "$F" --peaks > "$TMP/out" || fail "xrd -q"
"$BIN" xrd "$F" --peaks | cmp -s - "$TMP/out" || fail "xrd -q changed the results"

# MatterGen's spelling of --batch; the defaults in the help are the table's
"$BIN" dataset import --quiet "$SRC/tests/fixtures/cdvae_small.csv" -o "$TMP/d.h5" || fail "import"
"$BIN" train --data "$TMP/d.h5" -o "$TMP/a.h5" --batch_size 2 --epochs 1 --hidden 8 --layers 1 \
    --n-freq 2 --quiet 2> "$TMP/err" || { cat "$TMP/err"; fail "train --batch_size"; }
grep -q "2 steps per epoch" "$TMP/err" || fail "--batch_size 2 did not set the batch"
"$BIN" help train | grep -q -- "--batch, --batch_size B" || fail "help train shows the alias"
"$BIN" help train | grep -q -- "--warmup N.*(default 500)" || fail "help train: warm-up default"
"$BIN" help train-property | grep -q -- "--warmup N.*(default 300)" || fail "help train-property: warm-up default"
# MatterGen's spellings on generate: --num_batches B (B x --batch_size crystals) and
# --diffusion_guidance_factor (= --guidance) give the native spelling's bytes
M="$SRC/data/models/xtalgen-mp20-magnetic.h5"
G=(generate --model "$M" --steps 4 --seed 5 --condition dft_mag_density=0.1 --threads 1 --quiet)
"$BIN" "${G[@]}" -n 4 --batch 2 --guidance 2 -o "$TMP/native" || fail "generate (native spelling)"
"$BIN" "${G[@]}" --num_batches 2 --batch_size 2 --diffusion_guidance_factor 2 -o "$TMP/mg" \
    || fail "generate (MatterGen's spelling)"
for f in generated.extxyz generated.h5 summary.csv summary.json cif/gen-0000003.cif; do
    cmp -s "$TMP/native/$f" "$TMP/mg/$f" || fail "MatterGen's spelling changed $f"
done
[ "$(ls "$TMP/mg/cif" | wc -l)" -eq 4 ] || fail "--num_batches 2 x --batch_size 2 is 4 crystals"
"$BIN" generate -n 4 --num_batches 2 -o "$TMP/both" 2> "$TMP/err"; [ $? -eq 2 ] || fail "-n with --num_batches"
grep -q "give one of them" "$TMP/err" || fail "-n with --num_batches: message"
"$BIN" help generate | grep -q -- "--guidance, --diffusion_guidance_factor G" || fail "help generate: alias"
"$BIN" help generate | grep -q -- "--num_batches B" || fail "help generate: --num_batches"
echo "e2e_options: all passed"
