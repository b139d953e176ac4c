#!/usr/bin/env bash
# demo.sh: the main job, end to end. Installs dependencies, builds kiln, compiles a trained
# PyTorch model (a small CNN for sklearn's 8x8 digits, shipped as a TorchScript archive) to C,
# builds that C into a program, runs it on a test image, checks it against PyTorch's output, and
# runs it over the whole test set to compare accuracy with PyTorch's.
set -euo pipefail
cd "$(dirname "$0")/.."

fix=tests/models/fixtures
demo=build/demo
py=/usr/bin/python3
fail() {
	echo "demo.sh: $*" >&2
	exit 1
}
step() { printf '\n== %s\n' "$*"; }

step "dependencies"
scripts/setup.sh

# run: echo a command, then run it
run() {
	echo "\$ $*"
	"$@"
}

step "building kiln"
mkdir -p build
cmake -S . -B build >build/cmake.log 2>&1 || { tail -30 build/cmake.log >&2; fail "cmake failed"; }
make -C build -j2 >build/make.log 2>&1 || { tail -30 build/make.log >&2; fail "build failed"; }
echo "build/kiln: $(build/kiln --version 2>&1 | head -1 || true)"

step "compiling digits_cnn.pt to C"
rm -rf "$demo" && mkdir -p "$demo/out"
run build/kiln "$fix/digits_cnn.pt" --input-shape 1x1x8x8 --main -o "$demo/digits.c" ||
	fail "kiln could not compile the model (exit status $?)"
[ -s "$demo/digits.c" ] || fail "kiln exited 0 but wrote no $demo/digits.c"
echo "$demo/digits.c: $(wc -l <"$demo/digits.c") lines of C"
run cc -O2 -std=c11 -fopenmp "$demo/digits.c" -o "$demo/digits" -lm ||
	fail "the generated C does not compile"
run "$demo/digits" -o "$demo/out" "$fix/digits_cnn.input_0.npy" ||
	fail "the compiled model failed to run (exit status $?)"

step "checking against PyTorch"
cmp_out=$("$py" tests/models/compare.py "$fix/digits_cnn.output_0.npy" "$demo/out/output_0.npy" 2>&1) || {
	echo "$cmp_out" >&2
	fail "the compiled model's output differs from PyTorch's"
}
err=$(printf '%s\n' "$cmp_out" | sed -n 's/.*max abs err \([^,]*\),.*/\1/p')
"$py" - "$demo/out/output_0.npy" "$fix/digits_test_y.npy" <<'EOF'
import sys
import numpy as np
out, y = np.load(sys.argv[1]), np.load(sys.argv[2])
print(f"test image 0: compiled model predicts {int(out.argmax())}, true label {int(y[0])}")
EOF
echo "digits_cnn: compiled C matches PyTorch (max abs err $err)"
run "$demo/digits" --bench 200 "$fix/digits_cnn.input_0.npy" || fail "--bench failed"

step "accuracy over the test set, compiled vs PyTorch"
tests/models/run_digits.sh build/kiln "$demo/testset" "$fix"
