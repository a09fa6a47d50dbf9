#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [NAME...]: builds the libFuzzer harnesses (fuzz_cif, fuzz_poscar,
# fuzz_extxyz, fuzz_dataset_h5, fuzz_model_h5; or the NAMEs given) with clang,
# -fsanitize=fuzzer,address,undefined, into build-fuzz/ at the project root, and runs each for
# SECONDS (default 60). Exits non-zero when a harness crashes or a sanitizer reports; the
# crashing input is left as build-fuzz/crash-* for a regression test.
#
# No CMake: each harness and the *.c files its reader needs are compiled directly (the text
# readers need only a few crystal/ files and spglib; the HDF5 readers link HDF5, and the model
# reader the network code with OpenBLAS and LAPACKE). The HDF5 harnesses are structure-aware
# (tests/fuzz/h5_mutate.h says why): inputs are edit recipes applied to valid files, edited and
# read in memory (no disk). Working corpora live in tests/fuzz/corpus-<name>/ (git-ignored);
# the seeds in tests/fuzz/seeds_<name>/ are read-only.
# Environment: CC (default clang), XG_FUZZ_JOBS (parallel fuzzing processes per harness, 1),
# XG_FUZZ_RUNS (stop after that many executions; with SECONDS 0, a run of exactly that many: the
# corpus persists, so a long campaign is continued by running again with what is left).
set -euo pipefail

secs="${1:-60}"
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(cif poscar extxyz dataset_h5 model_h5)
case "$secs" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/build-fuzz"
cc="${CC:-clang}"
mkdir -p "$out"

if ! echo 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){return 0;}' |
        "$cc" -x c -fsanitize=fuzzer - -o "$out/.probe" 2>/dev/null; then
    echo "run.sh: $cc cannot link -fsanitize=fuzzer (Debian: apt-get install clang); not fuzzing" >&2
    exit 77
fi
rm -f "$out/.probe"

common=(crystal/xg_error.c crystal/xg_elements.c crystal/xg_lattice.c crystal/xg_structure.c
        crystal/xg_fileio.c crystal/xg_alloc.c)
flags=(-std=c11 -D_DEFAULT_SOURCE -g -O1 -fno-omit-frame-pointer -Wno-unknown-pragmas
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$root"
       -I/usr/include/hdf5/serial -I/usr/include/x86_64-linux-gnu/openblas-pthread)
hdf5=(-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5)

status=0
for name in "${names[@]}"; do
    src="$here/fuzz_$name.c"
    [ -f "$src" ] || continue
    case "$name" in
        cif) srcs=(crystal/xg_cif.c crystal/xg_spacegroup.c "${common[@]}"); libs=(-lsymspg -lm) ;;
        dataset_h5) srcs=(crystal/xg_dataset.c crystal/xg_h5util.c "${common[@]}")
                    libs=("${hdf5[@]}" -lm) ;;
        model_h5) srcs=(crystal/*.c diffusion/*.c)
                  libs=("${hdf5[@]}" -lsymspg -llapacke -lopenblas -lgsl -lm) ;;
        *) srcs=(crystal/xg_$name.c "${common[@]}"); libs=(-lm) ;;
    esac
    (cd "$root" && "$cc" "${flags[@]}" "$src" "${srcs[@]}" "${libs[@]}" -o "$out/fuzz_$name")
    maxlen=65536
    case "$name" in *_h5) maxlen=512 ;; esac # edit recipes (h5_mutate.h), not files
    corpus="$here/corpus-$name"
    mkdir -p "$corpus"
    extra=()
    [ -f "$here/$name.dict" ] && extra+=(-dict="$here/$name.dict")
    [ -n "${XG_FUZZ_RUNS:-}" ] && extra+=(-runs="$XG_FUZZ_RUNS")
    [ "${XG_FUZZ_JOBS:-1}" -gt 1 ] && extra+=(-jobs="$XG_FUZZ_JOBS" -workers="$XG_FUZZ_JOBS")
    echo "== fuzz_$name for ${secs}s (0: no limit)${XG_FUZZ_RUNS:+, at most $XG_FUZZ_RUNS executions}"
    if ! (cd "$out" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
            OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
            ./fuzz_$name -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -max_len="$maxlen" -print_final_stats=1 -artifact_prefix="$out/" \
            ${extra[@]+"${extra[@]}"} "$corpus" "$here/seeds_$name"); then
        echo "run.sh: fuzz_$name FAILED; see $out/crash-* and the report above" >&2
        status=1
    fi
done
exit $status
