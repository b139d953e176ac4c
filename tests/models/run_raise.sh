#!/bin/sh
# run_raise.sh KILN MODEL SHAPE MESSAGE WORKDIR [KILN-ARGS...]: the model raises at run time
# on an all-zero input; the compiled program must print MESSAGE and exit 1 (not crash, not 0).
# MODEL is a .pt, or IR text with --weights MODEL.pt among KILN-ARGS.
set -u
kiln=$1 model=$2 shape=$3 msg=$4 work=$5
shift 5
fail() { echo "run_raise.sh: FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work/out" || fail "cannot create $work"
"$kiln" "$model" "$@" --input-shape "$shape" --main -o "$work/m.c" || fail "kiln failed"
${CC:-cc} -std=c11 -O2 -Wall -Wextra -pedantic -Werror "$work/m.c" -o "$work/m" -lm || fail "cc failed"
dims=$(echo "$shape" | tr x ,)
${KILN_PYTHON:-/usr/bin/python3} -c "import numpy as np; np.save('$work/zeros.npy', np.zeros(($dims,), np.float32))" \
	|| fail "cannot write the input"
"$work/m" -o "$work/out" "$work/zeros.npy" >"$work/stdout" 2>"$work/stderr"
st=$?
cat "$work/stderr"
[ "$st" -eq 1 ] || fail "the program exited $st, expected 1"
grep -qF "$msg" "$work/stderr" || fail "stderr does not name the message '$msg'"
[ ! -e "$work/out/output_0.npy" ] || fail "an output was written despite the exception"
echo "run_raise.sh: PASS"
