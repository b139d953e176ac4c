#!/usr/bin/env bash
# run_roundtrip.sh: one Caffe2 round trip: kiln MODEL.pt --emit=caffe2, then check the files
# with protoc, read them back with kiln and compile, run and compare them with PyTorch.
#
# usage: run_roundtrip.sh KILN_BIN CAFFE2_PROTO FIXTURE SHAPES WORKDIR
#   FIXTURE  path without extension: FIXTURE.pt, FIXTURE.input_K.npy, FIXTURE.output_K.npy
#            (and FIXTURE.json with tolerances), as tests/models makes them
#   SHAPES   one --input-shape per model input, comma-separated: 2x16 or 2x3x4,2x4x5
# KILN_C2_EMIT_ARGS adds kiln options to the --emit=caffe2 runs (-O0: batch norms as SpatialBN).
#
# Steps (each failure prints "FAIL: <what>" and exits 1):
#   1. kiln FIXTURE.pt --input-shape ... --verify --emit=caffe2 -o WORKDIR/c2 writes
#      model.pb, model_init.pb and model.pbtxt; a second run writes the same bytes
#   2. protoc --decode_raw parses model.pb and model_init.pb
#   3. protoc --decode=caffe2.NetDef CAFFE2_PROTO < model.pb equals model.pbtxt, and the
#      predict net's argument kiln.schema is kiln --emit=schema's JSON
#   4. kiln WORKDIR/c2 (the directory) and kiln WORKDIR/c2/model.pb --init ... give the
#      same IR
#   5. kiln WORKDIR/c2 --main: the C, built with strict flags (-O1, OpenMP), run on
#      FIXTURE.input_K.npy; every output compared with PyTorch's (compare.py, FIXTURE.json's
#      tolerances)
set -u
[ $# -eq 5 ] || { sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
kiln=$(abspath "$1") proto=$(abspath "$2") fixture=$(abspath "$3") shapes=$4 work=$(abspath "$5")
name=$(basename "$fixture")
py=${KILN_PYTHON:-/usr/bin/python3}
die() { echo "run_roundtrip.sh: $name: FAIL: $*" >&2; exit 1; }
show() { [ -s "$1" ] && sed -n '1,30p' "$1" | sed 's/^/    /' >&2; true; }

rm -rf "$work" && mkdir -p "$work" || die "cannot create $work"
IFS=, read -r -a shape_list <<<"$shapes"
sargs=()
for s in "${shape_list[@]}"; do sargs+=(--input-shape "$s"); done
# shellcheck disable=SC2206 # a word list on purpose
eargs=(${KILN_C2_EMIT_ARGS:-})

echo "\$ $kiln $fixture.pt ${sargs[*]} ${eargs[*]} --verify --emit=caffe2 -o $work/c2"
"$kiln" "$fixture.pt" "${sargs[@]}" "${eargs[@]}" --verify --emit=caffe2 -o "$work/c2" 2>"$work/emit.err"
rc=$?
[ $rc -eq 0 ] || { show "$work/emit.err"; die "kiln --emit=caffe2 exited with status $rc"; }
for f in model.pb model_init.pb model.pbtxt; do
	[ -s "$work/c2/$f" ] || die "no $work/c2/$f"
done
mkdir -p "$work/again" || die "cannot create $work/again"
"$kiln" "$fixture.pt" "${sargs[@]}" "${eargs[@]}" --verify --emit=caffe2 -o "$work/again/c2" 2>/dev/null ||
	die "second run failed"
diff -r "$work/c2" "$work/again/c2" >/dev/null || die "two runs wrote different files (not deterministic)"

for f in model.pb model_init.pb; do
	protoc --decode_raw <"$work/c2/$f" >"$work/$f.raw" 2>"$work/protoc.err" ||
		{ show "$work/protoc.err"; die "protoc --decode_raw cannot parse $f"; }
done
protoc --decode=caffe2.NetDef -I"$(dirname "$proto")" "$proto" <"$work/c2/model.pb" \
	>"$work/decoded.pbtxt" 2>"$work/protoc.err" || { show "$work/protoc.err"; die "protoc --decode"; }
diff "$work/decoded.pbtxt" "$work/c2/model.pbtxt" >"$work/pbtxt.diff" ||
	{ show "$work/pbtxt.diff"; die "model.pbtxt differs from protoc --decode's text of model.pb"; }
protoc --decode=caffe2.NetDef -I"$(dirname "$proto")" "$proto" <"$work/c2/model_init.pb" \
	>/dev/null 2>"$work/protoc.err" || { show "$work/protoc.err"; die "protoc --decode model_init.pb"; }
# the predict net's argument kiln.schema is what kiln --emit=schema prints
"$kiln" "$fixture.pt" "${sargs[@]}" "${eargs[@]}" --emit=schema -o "$work/schema.json" ||
	die "kiln --emit=schema failed"
"$py" - "$work/decoded.pbtxt" "$work/schema.json" <<'PY' || die "the net's kiln.schema argument is not kiln --emit=schema's JSON"
import codecs, re, sys
text = open(sys.argv[1]).read()
m = re.search(r'^arg \{\n  name: "kiln\.schema"\n  s: "((?:[^"\\]|\\.)*)"\n\}', text, re.M)
if not m:
    sys.exit("run_roundtrip.sh: no net argument kiln.schema in model.pb")
got = codecs.escape_decode(m.group(1).encode())[0].decode()
want = open(sys.argv[2]).read().strip()
sys.exit(0 if got == want else "kiln.schema: %r\n--emit=schema: %r" % (got[:200], want[:200]))
PY
echo "    model.pb $(stat -c %s "$work/c2/model.pb") bytes ($(grep -c '^op {' "$work/c2/model.pbtxt") ops)," \
	"model_init.pb $(stat -c %s "$work/c2/model_init.pb") bytes; pbtxt matches protoc"

"$kiln" "$work/c2" "${sargs[@]}" --emit=ir -o "$work/dir.kir" 2>"$work/read.err" ||
	{ show "$work/read.err"; die "kiln cannot read the directory $work/c2"; }
"$kiln" "$work/c2/model.pb" --init "$work/c2/model_init.pb" "${sargs[@]}" --emit=ir \
	-o "$work/pb.kir" 2>"$work/read.err" || { show "$work/read.err"; die "kiln model.pb --init"; }
diff "$work/dir.kir" "$work/pb.kir" >/dev/null || die "kiln DIR and kiln model.pb --init differ"

mkdir -p "$work/run/gen" "$work/run/out" || die "cannot create $work/run"
"$kiln" "$work/c2" "${sargs[@]}" --verify --main -o "$work/run/gen/m.c" 2>"$work/run/kiln.err" ||
	{ show "$work/run/kiln.err"; die "kiln DIR --main"; }
# shellcheck disable=SC2086 # KILN_TEST_CFLAGS is a word list on purpose
${CC:-cc} -std=c11 -O1 -Wall -Wextra -pedantic -Werror -fopenmp ${KILN_TEST_CFLAGS:-} \
	"$work"/run/gen/*.c -o "$work/run/m" -lm 2>"$work/run/cc.log" || { show "$work/run/cc.log"; die "cc"; }
in_files=()
for ((k = 0; ; k++)); do
	[ -f "$fixture.input_$k.npy" ] || break
	in_files+=("$fixture.input_$k.npy")
done
(cd "$work/run" && ./m -o out "${in_files[@]}") >"$work/run/run.log" 2>&1 ||
	{ show "$work/run/run.log"; die "the program compiled from the Caffe2 nets failed"; }
tols=$("$py" -c '
import json, sys
for o in json.load(open(sys.argv[1]))["outputs"]:
    print(o.get("rtol", 1e-3), o.get("atol", 1e-4))' "$fixture.json") || die "cannot read $fixture.json"
k=0
while read -r rtol atol; do
	[ -f "$work/run/out/output_$k.npy" ] || die "the program wrote no output_$k.npy"
	"$py" "$here/../models/compare.py" "$fixture.output_$k.npy" "$work/run/out/output_$k.npy" \
		--rtol "$rtol" --atol "$atol" >"$work/run/cmp_$k.log" 2>&1
	rc=$?
	sed 's/^/    /' "$work/run/cmp_$k.log"
	[ $rc -eq 0 ] || die "output $k differs from PyTorch's"
	k=$((k + 1))
done <<<"$tols"
[ ! -e "$work/run/out/output_$k.npy" ] || die "the program wrote more outputs than the $k expected"
echo "run_roundtrip.sh: $name: PASS ($k output(s) match PyTorch's)"
