#!/usr/bin/env bash
# e2e_valgrind.sh BINARY SOURCE_DIR: the user-facing commands once each under valgrind memcheck
# (issue 12): generate in every mode (plain, --elements, --exclude-elements, guided), screen,
# export, dataset import and train, all on tiny settings. Any use of uninitialised memory,
# invalid read/write or definite leak fails the test (--error-exitcode). ASan/UBSan do not see
# uninitialised reads; this does. OpenBLAS is pinned to its Haswell kernels (valgrind 3.19 has
# no AVX-512) and to one thread, OpenMP to one thread. Skips (77) without valgrind or in the
# sanitizer build (ASan and valgrind do not mix).
set -u
BIN=${1:?usage: e2e_valgrind.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_valgrind.sh BINARY SOURCE_DIR}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "e2e_valgrind: skipped (no valgrind; scripts/setup.sh installs it)"; exit 77
fi
if [ -n "${XG_SANITIZED:-}" ]; then
    echo "e2e_valgrind: skipped in the sanitizer build"; exit 77
fi
MAG="$SRC/data/models/xtalgen-mp20-magnetic.h5"
FIX="$SRC/tests/fixtures"
TMP=$(mktemp -d /tmp/xg_e2e_vg.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
VG=(valgrind --error-exitcode=42 --leak-check=full --errors-for-leak-kinds=definite
    --track-origins=yes -q)

vg() {
    local name=$1; shift
    local t0=$SECONDS
    "${VG[@]}" "$BIN" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err"
    local rc=$?
    if [ $rc -ne 0 ]; then
        head -60 "$TMP/$name.err" >&2
        [ $rc -eq 42 ] && fail "$name: valgrind found memory errors"
        fail "$name: exit $rc"
    fi
    echo "ok: $name under memcheck ($((SECONDS - t0)) s)"
}

G=(-n 2 --batch 2 --steps 3 --seed 1 --threads 1 --quiet)
vg gen-plain generate "${G[@]}" -o "$TMP/g"
vg gen-elements generate "${G[@]}" --elements Fe,B -o "$TMP/ge"
vg gen-exclude generate "${G[@]}" --exclude-elements rare-earths,radioactive -o "$TMP/gx"
vg gen-guided generate "${G[@]}" --model "$MAG" --condition dft_mag_density=0.15 --guidance 2 \
    --exclude-elements rare-earths -o "$TMP/gg"
vg gen-negative generate "${G[@]}" --model "$MAG" --condition dft_mag_density=0.15 \
    --negative-condition dft_mag_density=0 --guidance 1 --type-guidance 3 -o "$TMP/gn"
vg gen-chemsys generate "${G[@]}" --chemsys Li-Mn-O,Fe-Co-N -o "$TMP/gc"
vg import dataset import --quiet "$FIX/cdvae_small.csv" --props "$FIX/properties_small.csv" \
    -o "$TMP/small.h5"
vg screen screen "$TMP/g" --reference "$TMP/small.h5" -o "$TMP/s" --quiet
vg export export "$TMP/g" --screen "$TMP/s/screen.csv" --only valid_structure -o "$TMP/x" --quiet
vg train train --data "$TMP/small.h5" -o "$TMP/m.h5" --hidden 16 --layers 1 --batch 8 --epochs 1 \
    --threads 1 --quiet
echo "e2e_valgrind: all commands clean under memcheck"
