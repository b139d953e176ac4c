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
# shellcheck disable=SC2086 # KILN_TEST_CFLAGS (the ASan stage's flags) is a word list on purpose
cc -std=c11 -O2 -Wall -Wextra -pedantic -Werror ${KILN_TEST_CFLAGS:-} "$work/m.c" -o "$work/m" -lm ||
	fail "cc failed"
(cd "$work" && ./m -o out "$fx/lenet.input_0.npy") || fail "the compiled program failed"
/usr/bin/python3 "$(dirname "$0")/compare.py" "$fx/lenet.output_0.npy" "$work/out/output_0.npy" \
	|| fail "output differs from PyTorch"

# The program's own errors: status 1 and one message naming the file, nothing leaked (under
# the ASan stage's flags a leak or other report exits 99).
# prog_fails WHAT PATTERN ARGS...: ./m ARGS must exit 1 and print PATTERN
prog_fails() {
	what=$1 pat=$2
	shift 2
	(cd "$work" && ./m "$@") >"$work/prog.log" 2>&1
	st=$?
	[ "$st" -eq 1 ] || { cat "$work/prog.log"; fail "the program given $what exited $st, expected 1"; }
	grep -q -- "$pat" "$work/prog.log" || { cat "$work/prog.log"; fail "the program given $what does not say '$pat'"; }
}
prog_fails "a missing input" "no_such.npy" -o out "$work/no_such.npy"
prog_fails "an input of the wrong shape" "mlp.input_0.npy" -o out "$fx/mlp.input_0.npy"
prog_fails "an output directory that does not exist" "no_dir/output_0.npy" -o no_dir \
	"$fx/lenet.input_0.npy"

"$kiln" "$fx/lenet.pt" --dump-ir "$work/dump" --input-shape 1x1x28x28 -o "$work/d.c" \
	|| fail "--dump-ir failed"
[ -s "$work/dump/model_ts_code.txt" ] || fail "--dump-ir wrote no model_ts_code.txt"
ls "$work/dump" | grep -q 'inline.kir$' || fail "--dump-ir wrote no IR after inline"
echo "run_cli.sh: PASS"
