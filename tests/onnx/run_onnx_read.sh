#!/usr/bin/env bash
# run_onnx_read.sh: one ONNX reader test: .pt -> ONNX -> kiln -> C gives PyTorch's answers,
# and the same answers as .pt -> C.
#
# usage: run_onnx_read.sh KILN FIXTURE SHAPES OPSET WORKDIR
#   FIXTURE  path without extension: FIXTURE.pt, FIXTURE.json (tolerances),
#            FIXTURE.input_K.npy, FIXTURE.output_K.npy (PyTorch's reference outputs)
#   SHAPES   one --input-shape per model input, comma-separated: 2x16 or 2x3x4,2x4x5
#
# Steps (each failure prints "FAIL: <what>" and exits 1):
#   1. kiln FIXTURE.pt --input-shape ... --emit=onnx --opset OPSET -o m.onnx
#   2. kiln m.onnx --main -o via_onnx.c  (the shapes come from the ONNX graph)
#   3. kiln FIXTURE.pt --input-shape ... --main -o direct.c
#   4. cc -O1 both, run both on the fixture's inputs
#   5. compare.py: via_onnx's outputs with PyTorch's (fixture tolerances), and with direct's
set -u
[ $# -eq 5 ] || { sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
py=${KILN_PYTHON:-/usr/bin/python3}
cc=${CC:-cc}
kiln=$1 fixture=$2 shapes=$3 opset=$4 work=$5
name=$(basename "$fixture")
die() { echo "run_onnx_read.sh: $name: FAIL: $*" >&2; exit 1; }
show() { [ -s "$1" ] && sed -n '1,40p' "$1" | sed 's/^/    /' >&2; true; }

rm -rf "$work" && mkdir -p "$work/via_onnx" "$work/direct" || die "cannot create $work"
args=()
IFS=, read -r -a shape_list <<<"$shapes"
for s in "${shape_list[@]}"; do args+=(--input-shape "$s"); done

run() {   # run LOG CMD...: echo, run, fail with the log on a nonzero status
	local log=$1
	shift
	echo "\$ $*"
	"$@" >"$log" 2>&1
	local rc=$?
	[ $rc -eq 0 ] || { show "$log"; die "'$1' exited with status $rc"; }
	grep -q "internal error" "$log" && { show "$log"; die "internal error"; }
	true
}
run "$work/emit.log" "$kiln" "$fixture.pt" "${args[@]}" --emit=onnx --opset "$opset" -o "$work/m.onnx"
run "$work/read.log" "$kiln" "$work/m.onnx" --main --verify -o "$work/via_onnx.c"
run "$work/direct.log" "$kiln" "$fixture.pt" "${args[@]}" --main -o "$work/direct.c"
for v in via_onnx direct; do
	# shellcheck disable=SC2086 # KILN_TEST_CFLAGS is a word list on purpose
	run "$work/cc_$v.log" "$cc" -std=c11 -O1 -Wall -Wextra -Werror ${KILN_TEST_CFLAGS:-} \
		"$work/$v.c" -o "$work/m_$v" -lm
done

in_files=()
for ((k = 0; ; k++)); do
	[ -f "$fixture.input_$k.npy" ] || break
	in_files+=("$fixture.input_$k.npy")
done
[ ${#in_files[@]} -gt 0 ] || die "no $fixture.input_0.npy"
for v in via_onnx direct; do
	run "$work/run_$v.log" "$work/m_$v" -o "$work/$v" "${in_files[@]}"
done

# tolerances per output from FIXTURE.json
mapfile -t tol < <("$py" -c '
import json, sys
for o in json.load(open(sys.argv[1]))["outputs"]:
    print(o.get("rtol", 1e-4), o.get("atol", 1e-5))' "$fixture.json") || die "cannot read $fixture.json"
n=0
for ((k = 0; ; k++)); do
	exp=$fixture.output_$k.npy
	[ -f "$exp" ] || break
	read -r rtol atol <<<"${tol[k]:-1e-4 1e-5}"
	"$py" "$here/../models/compare.py" "$exp" "$work/via_onnx/output_$k.npy" --rtol "$rtol" \
		--atol "$atol" || die "output $k of .pt -> ONNX -> C differs from PyTorch's"
	"$py" "$here/../models/compare.py" "$work/direct/output_$k.npy" "$work/via_onnx/output_$k.npy" \
		--rtol "$rtol" --atol "$atol" || die "output $k of .pt -> ONNX -> C differs from .pt -> C"
	n=$((n + 1))
done
[ $n -gt 0 ] || die "no $fixture.output_0.npy"
[ ! -e "$work/via_onnx/output_$n.npy" ] || die "the ONNX program wrote more than $n outputs"
echo "run_onnx_read.sh: $name: PASS ($n output(s))"
