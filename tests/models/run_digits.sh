#!/usr/bin/env bash
# run_digits.sh: the digits CNN, compiled by kiln, over the whole sklearn digits test set; its
# accuracy must equal PyTorch's exactly.
#
# usage: run_digits.sh KILN_BIN WORKDIR [FIXTURE_DIR] [--per-sample]
#   FIXTURE_DIR  holds digits_cnn.pt, digits_test_{x,y,logits}.npy, digits_cnn.json
#                (default: fixtures/ next to this script)
#   default      one program for the whole batch: kiln digits_cnn.pt --input-shape Nx1x8x8
#                (the model flattens with torch.flatten(x, 1), so the batch is free)
#   --per-sample the batch-1 program (--input-shape 1x1x8x8) run once per test sample
#
# Passes when the program's logits match PyTorch's (compare.py, rtol 1e-3, atol 1e-4) and
# the number of correct predictions equals PyTorch's. Exit status 1 on failure, 2 on usage.
# Environment: CC (default cc), KILN_PYTHON (default /usr/bin/python3), OMP_NUM_THREADS.
set -u

usage() {
	sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
here=$(cd "$(dirname "$0")" && pwd)
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
per_sample=0
pos=()
for a in "$@"; do
	case $a in
	--per-sample) per_sample=1 ;;
	-*) usage ;;
	*) pos+=("$a") ;;
	esac
done
[ ${#pos[@]} -ge 2 ] && [ ${#pos[@]} -le 3 ] || usage
kiln=$(abspath "${pos[0]}")
work=$(abspath "${pos[1]}")
fix=$(abspath "${pos[2]:-$here/fixtures}")
py=${KILN_PYTHON:-/usr/bin/python3}
cc=${CC:-cc}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

die() {
	echo "run_digits.sh: FAIL: $*" >&2
	exit 1
}
show() { [ -s "$1" ] && sed -n '1,40p' "$1" | sed 's/^/    /' >&2; true; }

[ -x "$kiln" ] || die "kiln binary $kiln not found or not executable"
for f in digits_cnn.pt digits_cnn.json digits_test_x.npy digits_test_y.npy digits_test_logits.npy; do
	[ -f "$fix/$f" ] || die "missing fixture $fix/$f (make_fixtures.py OUTDIR digits_cnn)"
done
n=$("$py" -c 'import numpy, sys; print(numpy.load(sys.argv[1]).shape[0])' "$fix/digits_test_x.npy") ||
	die "cannot read $fix/digits_test_x.npy"
case $work in / | "$fix" | "$here") die "refusing to use $work as the scratch directory" ;; esac
rm -rf "$work" && mkdir -p "$work/gen" "$work/out" || die "cannot create $work"
cd "$work" || exit 1

batch=$n
[ $per_sample = 1 ] && batch=1
"$kiln" "$fix/digits_cnn.pt" --input-shape "${batch}x1x8x8" --main -o gen/digits.c >kiln.log 2>&1
rc=$?
if [ $rc -ne 0 ] || [ ! -s gen/digits.c ]; then
	show kiln.log
	die "kiln $fix/digits_cnn.pt --input-shape ${batch}x1x8x8 --main -o gen/digits.c: exit status $rc"
fi
# shellcheck disable=SC2086 # KILN_TEST_CFLAGS is a word list on purpose
"$cc" -std=c11 -O2 -Wall -Wextra -pedantic -Werror -fopenmp ${KILN_TEST_CFLAGS:-} gen/*.c -o digits -lm \
	>cc.log 2>&1 || {
	show cc.log
	die "the generated C does not compile cleanly"
}

if [ $per_sample = 0 ]; then
	./digits -o out "$fix/digits_test_x.npy" >run.log 2>&1
	rc=$?
	[ $rc -eq 0 ] || { show run.log; die "./digits -o out digits_test_x.npy: exit status $rc"; }
	logits=out/output_0.npy
else
	mkdir -p samples
	"$py" - "$fix/digits_test_x.npy" samples <<-'EOF' || die "cannot split the test set"
		import numpy as np, sys
		x = np.load(sys.argv[1])
		for i in range(len(x)):
		    np.save(f"{sys.argv[2]}/{i:04d}.npy", np.ascontiguousarray(x[i:i + 1]))
	EOF
	for ((i = 0; i < n; i++)); do
		s=$(printf '%04d' $i)
		mkdir -p "out/$s"
		./digits -o "out/$s" "samples/$s.npy" >run.log 2>&1
		rc=$?
		[ $rc -eq 0 ] || { show run.log; die "./digits -o out/$s samples/$s.npy: exit status $rc"; }
	done
	"$py" - out "$n" <<-'EOF' || die "cannot gather the per-sample outputs"
		import numpy as np, sys
		d, n = sys.argv[1], int(sys.argv[2])
		np.save(f"{d}/all.npy", np.concatenate([np.load(f"{d}/{i:04d}/output_0.npy") for i in range(n)]))
	EOF
	logits=out/all.npy
fi
[ -f "$logits" ] || die "the program wrote no $logits"

"$py" "$here/compare.py" "$fix/digits_test_logits.npy" "$logits" >cmp.log 2>&1
cmp_rc=$?
"$py" - "$fix" "$logits" <<-'EOF'
	import json, sys
	import numpy as np
	fix, path = sys.argv[1], sys.argv[2]
	y = np.load(f"{fix}/digits_test_y.npy")
	ref = np.load(f"{fix}/digits_test_logits.npy").argmax(axis=1)
	meta = json.load(open(f"{fix}/digits_cnn.json"))
	try:
	    got = np.load(path).reshape(len(y), -1).argmax(axis=1)
	except Exception as e:
	    print(f"run_digits.sh: FAIL: cannot use {path}: {e}", file=sys.stderr)
	    sys.exit(1)
	n, c, cp = len(y), int((got == y).sum()), int(meta["test_correct"])
	diff = int((got != ref).sum())
	print(f"digits test set ({n} images): compiled {c}/{n} ({100.0 * c / n:.2f}%),"
	      f" PyTorch {cp}/{n} ({100.0 * cp / n:.2f}%);"
	      f" {'identical predictions' if diff == 0 else f'{diff} prediction(s) differ'}")
	sys.exit(0 if c == cp else 1)
EOF
acc_rc=$?
if [ $cmp_rc -ne 0 ]; then
	show cmp.log
	die "the compiled model's logits differ from PyTorch's"
fi
sed 's/^/    logits: /' cmp.log
[ $acc_rc -eq 0 ] || die "accuracy differs from PyTorch's"
echo "run_digits.sh: PASS"
exit 0
