#!/usr/bin/env bash
# e2e_safety.sh: issue 19's reproducers for odd but real files and careless command lines, run
# through the binary: each gives the right result, or a clear message and a non-zero exit
# (never a crash, never silent success). Unit-level reproducers live in tests/test_safety.c.
# usage: e2e_safety.sh XTALGEN_BINARY SOURCE_DIR
set -u
BIN=${1:?binary}
SRC=${2:?source dir}
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")" # one check runs from another folder
FX="$SRC/tests/fixtures"
T=$(mktemp -d /tmp/e2e_safety.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check DESCRIPTION CONDITION...
    local what=$1; shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
status() { "$@" >"$T/out" 2>"$T/err"; local rc=$?; cat "$T/err" >>"$T/all_err"; echo $rc; }
natoms() { # natoms FILE: the atom count `symmetry --format csv` reports for a one-crystal file
    "$BIN" symmetry --quiet --format csv "$1" 2>/dev/null | awk -F, 'NR == 2 { print $3 }'
}

# ---- HDF5 readers --------------------------------------------------------------------------
check "fixed-length 'xtalgen-model' without terminator is a model" \
    test "$(status "$BIN" model info "$FX/safety/model_nullpad.h5")" = 0
check "fixed-length 'xtalgen-modelX' is not" \
    test "$(status "$BIN" model info "$FX/safety/model_nullpad_x.h5")" = 1
check "  ... and the message shows the whole string" grep -q "'xtalgen-modelX'" "$T/err"
check "natoms histogram summing past INT64_MAX refused at load" \
    test "$(status "$BIN" model info "$FX/safety/model_hist_overflow.h5")" = 1
check "  ... naming the histogram" grep -q "natoms_hist" "$T/err"
# 2.6 kB declaring 3 M structures: refused before allocating; 400 MB of address space is plenty
# for the refusal (the reader allocated 708 MB before refusing, issue 19 says 1.4 GB)
small() { # small CMD...: run with 400 MB of address space (OpenBLAS spins below ~250 MB)
    timeout 60 bash -c 'ulimit -v 400000; OPENBLAS_NUM_THREADS=1 exec "$@"' small "$@"
}
if ! small "$BIN" help >/dev/null 2>&1; then # a sanitizer build reserves terabytes of shadow
    echo "note: this binary does not start in 400 MB of address space (sanitizer build?);"
    echo "      the two checks below run without the cap"
    small() { "$@"; }
fi
check "a 2.6 kB dataset declaring 3 M structures is refused" \
    test "$(status small "$BIN" symmetry "$FX/safety/dataset_hollow.h5")" = 1
check "  ... because it stores nothing" grep -q "declares 3000000 elements" "$T/err"
check "a model /config larger than its file is refused before allocating" \
    test "$(status small "$BIN" model info "$FX/safety/model_huge_config.h5")" = 1
check "  ... saying so" grep -q "describes a network" "$T/err"

# ---- CSV property cells --------------------------------------------------------------------
sed 's/^xg-1,-2.1,/xg-1,NA,/' "$FX/cdvae_small.csv" >"$T/na.csv"
sed 's/^xg-1,-2.1,/xg-1,abc,/' "$FX/cdvae_small.csv" >"$T/abc.csv"
sed 's/^xg-1,-2.1,/xg-1,inf,/' "$FX/cdvae_small.csv" >"$T/inf.csv"
check "a CSV cell NA is missing: the import succeeds" \
    test "$(status "$BIN" dataset import --quiet "$T/na.csv" -o "$T/na.h5")" = 0
"$BIN" dataset info "$T/na.h5" >"$T/info" 2>&1
check "  ... and keeps the column, that cell missing" \
    grep -q "formation_energy_per_atom  *4 / 5" "$T/info"
check "a CSV cell 'abc' is an error" test "$(status "$BIN" dataset import --quiet "$T/abc.csv" -o "$T/abc.h5")" = 1
check "  ... naming file, line and column" grep -q "abc.csv:2: column 'formation_energy_per_atom'" "$T/err"
check "a CSV cell 'inf' is an error" test "$(status "$BIN" dataset import --quiet "$T/inf.csv" -o "$T/inf.h5")" = 1
check "  ... and nothing was written" test ! -e "$T/abc.h5" -a ! -e "$T/inf.h5"

# ---- byte order marks and NUL bytes ---------------------------------------------------------
CIF='data_NaCl
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_symmetry_equiv_pos_as_xyz
x,y,z
loop_
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na 0 0 0
Cl 0.5 0.5 0.5'
printf '\xef\xbb\xbf%s\n' "$CIF" >"$T/bom.cif"
printf '\xef\xbb\xbf2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\nNa 0 0 0\nCl 2 2 2\n' >"$T/bom.extxyz"
printf '\xef\xbb\xbfNaCl\n1.0\n4 0 0\n0 4 0\n0 0 4\nNa Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n' >"$T/bom.vasp"
printf '\xef\xbb\xbfmaterial_id,e,cif\nm-1,0.5,"%s"\n' "$CIF" >"$T/bom.csv"
for f in bom.cif bom.extxyz bom.vasp bom.csv; do
    check "UTF-8 byte order mark accepted: $f" test "$(status "$BIN" symmetry --quiet "$T/$f")" = 0
done
printf '2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\nNa 0 0 0\nC\000l 2 2 2\n' >"$T/nul.extxyz"
check "a NUL byte inside a type symbol is an error" test "$(status "$BIN" symmetry "$T/nul.extxyz")" = 1
check "  ... naming the line" grep -q "nul.extxyz:4: NUL byte" "$T/err"

# ---- symmetry operations with huge integer parts ----------------------------------------------
# the double nearest 100000000000000000.5 is 1e17, whose fraction is 0: the copy of Na at
# (0.5, 0, 0) was lost on the atom at the origin
printf '%s\n' "$CIF" | sed 's/^x,y,z$/x,y,z\nx+100000000000000000.5,y,z/' | sed 's/^Cl 0.5 0.5 0.5$//' >"$T/huge.cif"
check "translation x+100000000000000000.5 is x+0.5 (2 atoms, not 1)" test "$(natoms "$T/huge.cif")" = 2

# ---- space group given only by symbol ----------------------------------------------------------
check "garnet by H-M symbol only: 160 atoms (as pymatgen)" test "$(natoms "$FX/sg_symbol/yag.cif")" = 160
check "by IT number with '.' coordinates: 160 atoms" test "$(natoms "$FX/sg_symbol/yag_num_dots.cif")" = 160
check "spinel 'F d -3 m S' (ICSD origin 1): 56 atoms" test "$(natoms "$FX/sg_symbol/spinel_o1.cif")" = 56
check "Hall symbol '-P 2ybc': 8 atoms" test "$(natoms "$FX/sg_symbol/hall.cif")" = 8
check "an unknown symbol without operations is an error, not P1" \
    test "$(status "$BIN" symmetry "$FX/sg_symbol/unknown.cif")" = 1

# ---- outputs never overwrite inputs --------------------------------------------------------------
cp "$FX/cdvae_small.csv" "$T/x.csv"
sum0=$(cksum <"$T/x.csv")
check "dataset import x.csv -o x.csv refused" test "$(status "$BIN" dataset import "$T/x.csv" -o "$T/x.csv")" = 2
check "  ... and x.csv untouched" test "$(cksum <"$T/x.csv")" = "$sum0"
"$BIN" dataset import --quiet "$T/x.csv" -o "$T/d.h5" 2>/dev/null
sum0=$(cksum <"$T/d.h5")
check "train --data d.h5 -o d.h5 refused" test "$(status "$BIN" train --data "$T/d.h5" -o "$T/d.h5" --epochs 1)" = 2
ln -s "$T/d.h5" "$T/link.h5"
check "train --data d.h5 -o link-to-d.h5 refused" test "$(status "$BIN" train --data "$T/d.h5" -o "$T/link.h5" --epochs 1)" = 2
check "  ... and d.h5 untouched" test "$(cksum <"$T/d.h5")" = "$sum0"
cp "$FX/model_v1_uncond.h5" "$T/ck.h5"
sum0=$(cksum <"$T/ck.h5")
check "model export ck.h5 -o ./ck.h5 refused" test "$(cd "$T" && status "$BIN" model export ck.h5 -o ./ck.h5)" = 2
check "  ... and ck.h5 untouched" test "$(cksum <"$T/ck.h5")" = "$sum0"

# ---- one unreadable file never sinks a many-crystal command ----------------------------------------
mkdir -p "$T/cifs"
cp "$FX/sg_symbol/nacl.cif" "$FX/sg_symbol/rutile.cif" "$FX/sg_symbol/yag.cif" "$T/cifs/"
printf '%s\n' "$CIF" | sed 's/^_atom_site_fract_z$/_atom_site_fract_z\n_atom_site_occupancy/;s/^Na 0 0 0$/Na 0 0 0 0.5\nK 0 0 0 0.5/;s/^Cl 0.5 0.5 0.5$/Cl 0.5 0.5 0.5 1/' >"$T/cifs/a_disordered.cif"
check "symmetry on a folder with a disordered CIF: exit 1 at the end" \
    test "$(status "$BIN" symmetry --quiet --format csv "$T/cifs")" = 1
check "  ... the other three crystals analysed" test "$(grep -c -E '^(nacl|rutile|yag),' "$T/out")" = 3
check "  ... the unreadable one named with its reason" grep -q "a_disordered.cif.*occupancy" "$T/err"
"$BIN" xrd --quiet "$T/cifs/nacl.cif" -o "$T/nacl.xy" >/dev/null 2>&1 || "$BIN" xrd "$T/cifs/nacl.cif" -o "$T/nacl.xy" >/dev/null 2>&1
check "xrd-match on the folder: exit 1 at the end" \
    test "$(status "$BIN" xrd-match --quiet "$T/nacl.xy" "$T/cifs" -o "$T/rank.csv")" = 1
check "  ... NaCl still ranked first" grep -q "^1,nacl," "$T/rank.csv"
check "  ... the unreadable one named" grep -q "skipped unreadable .*a_disordered.cif" "$T/err"
check "xrd-match -o into the candidate folder refused" \
    test "$(status "$BIN" xrd-match --quiet "$T/nacl.xy" "$T/cifs" -o "$T/cifs/nacl.cif")" = 2
check "  ... and the CIF untouched" grep -q "^data_" "$T/cifs/nacl.cif"

# ---- allocation failures (debug builds: XG_FAIL_ALLOC_AFTER) -----------------------------------------
if XG_FAIL_ALLOC_AFTER=0 "$BIN" symmetry --quiet "$FX/sg_symbol/yag.cif" >/dev/null 2>&1; then
    echo "skip allocation failures: the hook is compiled out of this (release) build"
else
    worst=0
    for n in $(seq 0 40); do
        XG_FAIL_ALLOC_AFTER=$n "$BIN" symmetry --quiet "$FX/sg_symbol/yag.cif" >/dev/null 2>"$T/err"
        rc=$?
        [ $rc -gt $worst ] && worst=$rc
        cat "$T/err" >>"$T/all_err"
    done
    check "every early allocation failure of a CIF read exits 0 or 1, never a crash" test "$worst" -le 1
fi

# ---- output folders: one run owns its folder; nothing a user made is lost ------------------------------
G=(generate -n 2 --steps 3 --batch 2 --threads 1 --quiet)
check "generate into a new folder" "$BIN" "${G[@]}" -o "$T/run"
check "a second generate into a used folder is refused" bash -c "! '$BIN' ${G[*]} -o '$T/run' 2>'$T/err'"
check "  ... naming --overwrite" grep -q -- "--overwrite" "$T/err"
check "  ... and the first run's results are intact" test "$(wc -l < "$T/run/summary.csv")" -eq 3
check "--overwrite replaces an earlier run's results" "$BIN" "${G[@]}" --seed 9 -o "$T/run" --overwrite
check "  ... leaving one run's crystals" test "$(ls "$T/run/cif" | wc -l)" -eq 2
echo "my notes" > "$T/run/notes.txt"
check "--overwrite refuses a folder holding a user's file" bash -c "! '$BIN' ${G[*]} -o '$T/run' --overwrite 2>'$T/err'"
check "  ... and deletes nothing" bash -c "test -s '$T/run/notes.txt' && test -s '$T/run/generated.h5'"
rm -f "$T/run/notes.txt"
# A run in progress holds the folder: a second one is refused at once, not mixed in.
"$BIN" generate -n 200 --steps 200 --batch 1 --threads 1 --quiet -o "$T/busy" & busy=$!
for _ in $(seq 1 50); do [ -e "$T/busy/.xtalgen.lock" ] && break; sleep 0.1; done
check "a folder another run is writing is refused" bash -c "! '$BIN' ${G[*]} -o '$T/busy' --overwrite 2>'$T/err'"
check "  ... naming the other run" grep -q "another xtalgen run" "$T/err"
kill $busy 2>/dev/null; wait $busy 2>/dev/null
check "a killed run's folder is free again (--overwrite)" "$BIN" "${G[@]}" -o "$T/busy" --overwrite

# ---- generate --resume: an interrupted run continues to the bytes of an uninterrupted one ----------
R=(generate -n 6 --batch 2 --steps 30 --num-atoms 6 --threads 1 --quiet)
"$BIN" "${R[@]}" -o "$T/whole" 2>>"$T/all_err"
"$BIN" "${R[@]}" -o "$T/cut" 2>>"$T/all_err" & cut=$!
for _ in $(seq 1 2400); do [ "$(cat "$T/cut/summary.csv" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.05; done
kill -TERM $cut 2>/dev/null; wait $cut 2>/dev/null
if [ -e "$T/cut/.generate-progress" ]; then
    check "a run killed midway holds a committed prefix" \
        test "$("$BIN" dataset info "$T/cut/generated.h5" | awk '/^structures:/ { print $2 }')" -lt 6
    # what a kill inside a batch leaves behind: a cut row, a cut frame, a later CIF, temp files
    printf 'gen-0000005,Na' >> "$T/cut/summary.csv"
    printf '6\nLattice="' >> "$T/cut/generated.extxyz"
    cp "$T/whole/cif/gen-0000005.cif" "$T/cut/cif/"
    : > "$T/cut/generated.h5.tmp"; : > "$T/cut/cif/gen-0000004.cif.tmp.123"
    : > "$T/cut/cif/gen-0000001.cif.tmp.4392.0" # the atomic writer's NAME.tmp.PID.K
else
    echo "note: the run finished before the kill; resume is checked on a finished run only"
fi
check "a plain rerun into the interrupted folder is refused" bash -c "! '$BIN' ${R[*]} -o '$T/cut' 2>/dev/null"
check "--resume with other settings is refused" bash -c "! '$BIN' ${R[*]} --seed 5 -o '$T/cut' --resume 2>'$T/err'"
check "  ... naming the setting" grep -q '"seed"' "$T/err"
check "--resume --overwrite is a usage error" test "$(status "$BIN" "${R[@]}" -o "$T/cut" --resume --overwrite)" = 2
check "--resume continues the interrupted run" "$BIN" "${R[@]}" -o "$T/cut" --resume
for f in summary.csv generated.extxyz generated.h5 summary.json; do
    check "  ... $f byte-identical to an uninterrupted run" cmp -s "$T/whole/$f" "$T/cut/$f"
done
check "  ... the same CIFs" diff -r "$T/whole/cif" "$T/cut/cif"
check "  ... no progress record or temp file left" \
    bash -c "test -z \"\$(ls -A '$T/cut' | grep -E '^\\.generate-progress|\\.tmp')\""
sum0=$(cat "$T/cut"/summary.csv "$T/cut"/generated.h5 | cksum)
check "--resume on a finished run does nothing" "$BIN" "${R[@]}" -o "$T/cut" --resume
check "  ... and changes nothing" test "$(cat "$T/cut"/summary.csv "$T/cut"/generated.h5 | cksum)" = "$sum0"
check "--resume into a new folder starts the run" "$BIN" "${R[@]}" -o "$T/fresh" --resume
check "  ... with the same result" cmp -s "$T/whole/generated.h5" "$T/fresh/generated.h5"

# ---- memory: an oversized batch is refused before anything is written -------------------------------
check "--num-atoms 1000 with --max-memory 1G is refused" \
    test "$(status "$BIN" generate -n 1 --batch 1 --num-atoms 1000 --max-memory 1G -o "$T/big")" = 1
check "  ... saying how much it needs" grep -q "needs [0-9.]* GB for the network's activations" "$T/err"
check "  ... before creating the folder" test ! -e "$T/big"
check "--max-memory 12 parrots is a usage error" \
    test "$(status "$BIN" generate -n 1 --max-memory 12parrots -o "$T/big")" = 2

# ---- screen and convert own their output folders ------------------------------------------------------
check "screen into RUN/screen" "$BIN" screen --quiet --no-default-reference "$T/whole" -o "$T/whole/screen"
sum0=$(cksum < "$T/whole/screen/screen.csv")
check "a second screen into it is refused" \
    test "$(status "$BIN" screen --quiet --no-default-reference "$T/whole" -o "$T/whole/screen")" = 1
check "  ... and its screen.csv kept" test "$(cksum < "$T/whole/screen/screen.csv")" = "$sum0"
check "screen -o INPUT is refused" \
    test "$(status "$BIN" screen --quiet --no-default-reference "$T/whole" -o "$T/whole")" = 2
check "  ... and the run intact" cmp -s "$T/whole/generated.h5" "$T/fresh/generated.h5"
check "screen --overwrite replaces its own results" \
    "$BIN" screen --quiet --no-default-reference "$T/whole" -o "$T/whole/screen" --overwrite
XTALGEN="$BIN" bash "$SRC/examples/dft_export.sh" "$T/whole" "$T/to_dft" >"$T/dft.log" 2>&1
check "the DFT export example keeps an existing screen.csv" grep -q "using the existing" "$T/dft.log"
check "  ... unchanged" test "$(cksum < "$T/whole/screen/screen.csv")" = "$sum0"
sed 's/^xg-2,/xg-1,/;s/^xg-3,/xg-1_2,/' "$FX/cdvae_small.csv" > "$T/dup.csv"
check "convert of duplicate ids into a folder" "$BIN" convert --quiet "$T/dup.csv" -o "$T/conv" --format cif
check "  ... one file per crystal (5)" test "$(ls "$T/conv" | wc -l)" -eq 5
check "  ... the id taken twice and the one its suffix would hit both renamed" \
    test -s "$T/conv/xg-1_2.cif" -a -s "$T/conv/xg-1_2_2.cif"
"$BIN" convert "$T/dup.csv" -o "$T/conv2" --format cif 2>"$T/err" >/dev/null
check "  ... renames reported" grep -q "'xg-1_2' is written as 'xg-1_2_2'" "$T/err"
check "a second convert into the folder is refused" \
    test "$(status "$BIN" convert "$T/dup.csv" -o "$T/conv" --format cif)" = 1
check "convert --overwrite replaces its own files" \
    "$BIN" convert "$T/dup.csv" -o "$T/conv" --format cif --overwrite --quiet

# ---- export: duplicate ids, planted links, a stale screen.csv ------------------------------------------
check "export of duplicate ids" "$BIN" export "$T/dup.csv" --format cif,poscar -o "$T/exp" --quiet
check "  ... five CIFs under distinct names" test "$(ls "$T/exp"/*.cif | wc -l)" -eq 5
mkdir -p "$T/outside"
rm -rf "$T/exp/xg-4" && ln -s "$T/outside" "$T/exp/xg-4"
check "export --overwrite over a link planted in its folder" \
    "$BIN" export "$T/dup.csv" --format cif,poscar -o "$T/exp" --overwrite --quiet
check "  ... wrote nothing through it" test -z "$(ls -A "$T/outside")"
check "  ... and replaced the link by a folder" test -d "$T/exp/xg-4" -a ! -L "$T/exp/xg-4"
"$BIN" "${G[@]}" --seed 3 -o "$T/other" 2>>"$T/all_err"
check "export --only with another run's screen.csv is refused" \
    test "$(status "$BIN" export "$T/other" --only valid_structure --screen "$T/whole/screen/screen.csv" -o "$T/stale")" != 0
check "  ... naming the mismatch" grep -q "belongs to other crystals" "$T/err"

# ---- messages name problems, not build paths -----------------------------------------------------------
check "no message printed a source path (file.c:NNN)" bash -c "! grep -E '\\.c:[0-9]+' '$T/all_err'"

exit $fail
