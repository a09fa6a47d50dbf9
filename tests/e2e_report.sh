#!/usr/bin/env bash
# e2e_report.sh BINARY SOURCE_DIR: `xtalgen report` end to end (issue 22): a tiny generate run,
# its report before and after `screen` (which writes one by default), the page parsed as strict
# XML, its numbers against summary.json, links to CIFs that exist, nothing fetched from
# anywhere, usage errors; and, where Debian's chromium is installed, a headless render to PNG
# without console errors (skipped with a message elsewhere).
set -u
BIN=${1:?usage: e2e_report.sh BINARY SOURCE_DIR}
SRC=${2:?usage: e2e_report.sh BINARY SOURCE_DIR}
TMP=$(mktemp -d /tmp/xg_e2e_report.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
PY=/usr/bin/python3
xml_ok() { # strict XML parse: xmllint where installed, else Python's expat
  if command -v xmllint >/dev/null; then xmllint --noout "$1"
  elif [ -x "$PY" ]; then "$PY" -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$1"
  else echo "no XML parser (xmllint or $PY)" >&2; return 1; fi
}

step "usage errors"
"$BIN" report >/dev/null 2>&1; [ $? -eq 2 ] || fail "no folder should exit 2"
"$BIN" report "$TMP" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$BIN" report "$TMP" --top -1 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--top -1 should exit 2"
mkdir -p "$TMP/empty"
"$BIN" report "$TMP/empty" >/dev/null 2>"$TMP/err"; [ $? -eq 1 ] || fail "a folder that is no run should exit 1"
grep -q "empty" "$TMP/err" || fail "the message should name the folder: $(cat "$TMP/err")"
"$BIN" report "$TMP/empty" --reference "$TMP/nope.csv" >/dev/null 2>&1; [ $? -eq 1 ] || fail "a missing reference should exit 1"

step "generate 8 crystals (and 4 to compare), report without screen results"
"$BIN" generate -n 8 --steps 20 --seed 5 -o "$TMP/run" --quiet || fail "generate failed"
"$BIN" generate -n 4 --steps 20 --seed 6 -o "$TMP/other" --quiet || fail "second generate failed"
"$BIN" report "$TMP/run" > "$TMP/out" || fail "report of an unscreened run failed"
[ -s "$TMP/run/report.html" ] || fail "no report.html"
xml_ok "$TMP/run/report.html" || fail "the page is not well-formed XML"
grep -q "No screen results" "$TMP/run/report.html" || fail "the page should say the run is not screened"

step "screen writes report.html by default; --no-report skips it"
PROPS=()
for m in "$SRC"/data/models/prop-formation_energy_per_atom.h5 "$SRC"/data/models/prop-dft_mag_density.h5; do
  [ -f "$m" ] && PROPS+=(--property-model "$m")
done
"$BIN" screen "$TMP/run" --reference "$TMP/other/generated.h5" "${PROPS[@]}" -o "$TMP/run/screen" --quiet \
  || fail "screen failed"
[ -s "$TMP/run/screen/report.html" ] || fail "screen did not write report.html"
xml_ok "$TMP/run/screen/report.html" || fail "the screen's page is not well-formed XML"
"$BIN" screen "$TMP/run" --no-report -o "$TMP/scr2" --quiet || fail "screen --no-report failed"
[ -e "$TMP/scr2/report.html" ] && fail "--no-report still wrote a report"

step "report with screen results, a target and a compared run"
"$BIN" screen "$TMP/other" "${PROPS[@]}" -o "$TMP/other/screen" --quiet --no-report || fail "second screen failed"
"$BIN" report "$TMP/run" -o "$TMP/page/r.html" --target dft_mag_density=0.15 --compare "$TMP/other" --top 5 \
  > "$TMP/out" 2>&1 && fail "a missing output folder should fail"
mkdir -p "$TMP/page"
"$BIN" report "$TMP/run" -o "$TMP/page/r.html" --target dft_mag_density=0.15 --compare "$TMP/other" --top 5 \
  > "$TMP/out" 2>&1 || fail "report failed: $(cat "$TMP/out")"
P="$TMP/page/r.html"
xml_ok "$P" || fail "the page is not well-formed XML"
for id in provenance rates distributions spacegroups guided elements candidates; do
  grep -q "<h2 id=\"$id\"" "$P" || fail "section $id missing"
done
grep -q "MP-20 test" "$P" || fail "the reference is not named"
grep -q "Wasserstein distance" "$P" || fail "no Wasserstein distances"
grep -q "target 0.15" "$P" || fail "the target is not marked"
grep -qi "<script\|<link\|<img\|@import\|url(" "$P" && fail "the page refers to something outside itself"
[ "$(grep -o 'http[s]*://[^"]*' "$P" | grep -cv 'www.w3.org')" -eq 0 ] || fail "the page links outside"
n=0
for href in $(grep -o 'href="[^"#][^"]*\.cif"' "$P" | sed 's/^href="//; s/"$//'); do
  [ -f "$TMP/page/$href" ] || fail "CIF link $href does not resolve"
  n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "no CIF links in the candidates table"
if [ -x "$PY" ]; then
  "$PY" - "$P" "$TMP/run/screen/summary.json" <<'PYEOF' || fail "page numbers differ from summary.json"
import json, re, sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
summary = json.load(open(sys.argv[2]))
n = 0
for tag in ("td", "b"):
    for e in doc.getElementsByTagName(tag):
        key = e.getAttribute("data-json")
        if not key:
            continue
        v = summary
        for k in key.split("."):
            v = v[k]
        scale = float(e.getAttribute("data-scale") or 1)
        text = "".join(t.data for t in e.childNodes if t.nodeType == t.TEXT_NODE).rstrip("%")
        dec = len(text.split(".")[1]) if "." in text else 0
        assert abs(float(text) - scale * v) <= 0.5 * 10 ** -dec + 1e-12, (key, text, v)
        n += 1
assert n >= 8, n
print("numbers checked:", n)
PYEOF
fi

step "headless Chromium render"
CHROME=""
for c in /usr/bin/chromium /usr/bin/chromium-browser; do [ -x "$c" ] && CHROME=$c && break; done
if [ -z "$CHROME" ]; then
  echo "SKIP: Chromium render (install Debian's chromium to run it)"
else
  # no network at all: a page that tried to fetch anything would log an error
  timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --host-resolver-rules="MAP * ~NOTFOUND" --enable-logging=stderr --v=0 \
    --user-data-dir="$TMP/chrome" --window-size=1200,3000 --screenshot="$TMP/page.png" \
    "file://$P" > "$TMP/chrome.log" 2>&1 || fail "chromium failed: $(tail -5 "$TMP/chrome.log")"
  [ -s "$TMP/page.png" ] || fail "chromium wrote no PNG"
  [ "$(head -c 8 "$TMP/page.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "not a PNG"
  grep -E "CONSOLE|Uncaught|net::ERR|Failed to load" "$TMP/chrome.log" && fail "console errors while rendering"
  echo "rendered $(wc -c < "$TMP/page.png") bytes of PNG"
fi
echo "PASS"
