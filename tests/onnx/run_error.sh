#!/bin/sh
# run_error.sh: an ONNX backend error test (STYLE K13): emitting errors/NAME.kir must exit 1,
# print exactly errors/NAME.err on stderr, and write no file.
#
# usage: run_error.sh EMIT NAME WORKDIR [emitter args...]     (--update rewrites NAME.err)
set -u
emit=$1 name=$2 work=$3
shift 3
dir=$(cd "$(dirname "$0")/errors" && pwd)
rm -rf "$work" && mkdir -p "$work" || exit 1
cd "$dir" || exit 1
update=0
[ "${1:-}" = --update ] && { update=1; shift; }
"$emit" "$name.kir" "$@" -o "$work/out.onnx" 2>"$work/stderr"
rc=$?
[ $update = 1 ] && { cp "$work/stderr" "$name.err"; exit 0; }
fail() { echo "[FAIL] $name: $*"; sed 's/^/    /' "$work/stderr"; exit 1; }
[ $rc -eq 1 ] || fail "exit status $rc, expected 1"
[ ! -e "$work/out.onnx" ] || fail "wrote $work/out.onnx despite the errors"
diff -u "$name.err" "$work/stderr" || fail "diagnostics differ from $name.err"
echo "[PASS] $name"
