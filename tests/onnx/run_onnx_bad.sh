#!/bin/sh
# run_onnx_bad.sh: an ONNX reader error test: kiln bad/NAME.onnx must exit 1, print exactly
# bad/NAME.err on stderr (the file, the node or place, what is wrong), and write no file.
#
# usage: run_onnx_bad.sh KILN NAME WORKDIR
set -u
kiln=$1 name=$2 work=$3
dir=$(cd "$(dirname "$0")/bad" && pwd)
rm -rf "$work" && mkdir -p "$work" || exit 1
cd "$dir" || exit 1
"$kiln" "$name.onnx" -o "$work/out.c" 2>"$work/stderr"
rc=$?
fail() { echo "[FAIL] $name: $*"; sed 's/^/    /' "$work/stderr"; exit 1; }
[ $rc -eq 1 ] || fail "exit status $rc, expected 1"
[ ! -e "$work/out.c" ] || fail "wrote $work/out.c despite the error"
diff -u "$name.err" "$work/stderr" || fail "diagnostics differ from $name.err"
echo "[PASS] $name"
