#!/bin/sh
# run_cli.sh KILN FIXTURES WORKDIR: command-line contract checks.
#  - --help exits 0 and documents every flag kiln accepts;
#  - bad usage exits 2;
#  - --example-input takes the input's shape from a .npy, and the program it builds
#    matches PyTorch's reference output.
set -u
kiln=$1 fx=$2 work=$3
fail() { echo "run_cli.sh: FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work/out" || fail "cannot create $work"

help=$("$kiln" --help) || fail "--help exited $?"
for flag in -o --emit= --opset --onnx-custom-domain --weights --init --emit=caffe2 --emit=svg --main --input-shape --example-input -O0 -O1 -O2 --dump-ir --verify -v \
            --emit=schema --flatten-order --fields \
            --version --help; do
	printf '%s' "$help" | grep -q -- "$flag" || fail "--help does not document $flag"
done
"$kiln" --no-such-flag >/dev/null 2>&1; st=$?
[ "$st" -eq 2 ] || fail "an unknown option exited $st, expected 2"
"$kiln" >/dev/null 2>&1; st=$?
[ "$st" -eq 2 ] || fail "no input file exited $st, expected 2"
"$kiln" "$fx/mlp.pt" --emit=onnx --onnx-custom-domain ai.onnx >/dev/null 2>&1; st=$?
[ "$st" -eq 2 ] || fail "--onnx-custom-domain ai.onnx (ONNX's own domain) exited $st, expected 2"

"$kiln" "$fx/lenet.pt" --example-input "$fx/lenet.input_0.npy" --main -o "$work/m.c" \
	|| fail "kiln --example-input failed"
cc -std=c11 -O2 -Wall -Wextra -pedantic -Werror "$work/m.c" -o "$work/m" -lm || fail "cc failed"
(cd "$work" && ./m -o out "$fx/lenet.input_0.npy") || fail "the compiled program failed"
/usr/bin/python3 "$(dirname "$0")/compare.py" "$fx/lenet.output_0.npy" "$work/out/output_0.npy" \
	|| fail "output differs from PyTorch"

"$kiln" "$fx/lenet.pt" --dump-ir "$work/dump" --input-shape 1x1x28x28 -o "$work/d.c" \
	|| fail "--dump-ir failed"
[ -s "$work/dump/model_ts_code.txt" ] || fail "--dump-ir wrote no model_ts_code.txt"
ls "$work/dump" | grep -q 'inline.kir$' || fail "--dump-ir wrote no IR after inline"
echo "run_cli.sh: PASS"
