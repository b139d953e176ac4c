#!/usr/bin/env bash
# run_onnx.sh: one ONNX backend test: emit -> onnx.checker -> onnxruntime -> compare with PyTorch.
#
# usage: run_onnx.sh EMIT FIXTURE SHAPES OPSET LEVEL NODEDIR WORKDIR
#   EMIT     the emitter: onnx_emit (tests/onnx/onnx_emit.c), or kiln once it has --emit=onnx
#            (set KILN_ONNX_EMIT_ARGS="--emit=onnx" then)
#   FIXTURE  path without extension: FIXTURE.pt (or FIXTURE.kir, IR text emitted as it is),
#            FIXTURE.json, FIXTURE.input_K.npy, FIXTURE.output_K.npy
#   SHAPES   one --input-shape per model input, comma-separated: 2x16 or 2x3x4,2x4x5
#   OPSET    ONNX opset to emit;  LEVEL  0, 1 or 2 (-O)
#   NODEDIR  where setup_ort.sh installed onnxruntime-node (NODEDIR/node_modules)
#   WORKDIR  scratch directory, emptied first
#
# Steps (each failure prints "FAIL: <what>" and exits 1):
#   1. EMIT FIXTURE.pt --input-shape ... --opset OPSET -OLEVEL --verify -o m.onnx (in WORKDIR)
#   2. the same again (in WORKDIR/again) must write the same bytes (determinism)
#   3. check_onnx.py: onnx.checker full_check and the graph's inputs/outputs/metadata
#   4. run_ort.js: onnxruntime on FIXTURE.input_K.npy, writing out/output_K.npy
#   5. compare.py on every output, with the fixture's rtol/atol
set -u
[ $# -eq 7 ] || { sed -n '4,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
py=${KILN_PYTHON:-/usr/bin/python3}
emit=$1 fixture=$2 shapes=$3 opset=$4 level=$5 nodedir=$6 work=$7
name=$(basename "$fixture")
die() { echo "run_onnx.sh: $name: FAIL: $*" >&2; exit 1; }
show() { [ -s "$1" ] && sed -n '1,40p' "$1" | sed 's/^/    /' >&2; true; }

rm -rf "$work" && mkdir -p "$work/again" || die "cannot create $work"
# absolute paths: both runs below write "-o m.onnx" from their own directory, so that a
# command line recorded in the model (kiln's doc_string) is the same
fixture=$(cd "$(dirname "$fixture")" && pwd)/$(basename "$fixture")
case $emit in */*) emit=$(cd "$(dirname "$emit")" && pwd)/$(basename "$emit");; esac
work=$(cd "$work" && pwd)
if [ -f "$fixture.kir" ]; then
	args=("$fixture.kir")
else
	args=("$fixture.pt")
	IFS=, read -r -a shape_list <<<"$shapes"
	for s in "${shape_list[@]}"; do args+=(--input-shape "$s"); done
fi
# shellcheck disable=SC2206 # a word list on purpose
args+=(${KILN_ONNX_EMIT_ARGS:-} --opset "$opset" "-O$level" --verify)

echo "\$ (cd $work && $emit ${args[*]} -o m.onnx)"
(cd "$work" && "$emit" "${args[@]}" -o m.onnx 2>"$work/emit.err")
rc=$?
[ $rc -eq 0 ] || { show "$work/emit.err"; die "the emitter exited with status $rc"; }
grep -q "internal error" "$work/emit.err" && { show "$work/emit.err"; die "internal error"; }
[ -s "$work/m.onnx" ] || die "no $work/m.onnx"

(cd "$work/again" && "$emit" "${args[@]}" -o m.onnx 2>/dev/null) || die "second run failed"
cmp -s "$work/m.onnx" "$work/again/m.onnx" || die "two runs wrote different files (not deterministic)"

"$py" "$here/check_onnx.py" "$work/m.onnx" "$fixture.json" || die "check_onnx.py"

in_files=()
for ((k = 0; ; k++)); do
	[ -f "$fixture.input_$k.npy" ] || break
	in_files+=("$fixture.input_$k.npy")
done
NODE_PATH="$nodedir/node_modules" node "$here/run_ort.js" "$work/m.onnx" "$work/out" \
	"${in_files[@]}" >"$work/ort.log" 2>&1 || { show "$work/ort.log"; die "onnxruntime"; }
sed 's/^/    /' "$work/ort.log"

tols=$("$py" -c '
import json, sys
for o in json.load(open(sys.argv[1]))["outputs"]:
    print(o.get("rtol", 1e-3), o.get("atol", 1e-4))' "$fixture.json") || die "cannot read $fixture.json"
k=0
while read -r rtol atol; do
	exp=$fixture.output_$k.npy
	[ -f "$exp" ] || exp=$fixture.output.npy
	[ -f "$work/out/output_$k.npy" ] || die "onnxruntime wrote no output_$k.npy"
	"$py" "$here/../models/compare.py" "$exp" "$work/out/output_$k.npy" --rtol "$rtol" \
		--atol "$atol" || die "output $k differs from PyTorch's ($exp)"
	k=$((k + 1))
done <<<"$tols"
[ ! -e "$work/out/output_$k.npy" ] || die "onnxruntime wrote more outputs than the $k expected"
echo "run_onnx.sh: $name: PASS (opset $opset, -O$level, $k output(s))"
