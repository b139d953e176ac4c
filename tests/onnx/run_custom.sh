#!/bin/sh
# run_custom.sh: --onnx-custom-domain. An op with no standard ONNX form is an error naming
# it unless the flag is given; with it, the op is a node of the named domain.
#
# usage: run_custom.sh EMIT MODEL WORKDIR DOMAIN WITHOUT -- EMIT_ARGS... -- OP_TYPE[:ATTR=TEXT]...
#   EMIT       kiln or tests/onnx/onnx_emit; EMIT_ARGS its arguments besides MODEL, -o and
#              the flag (e.g. --emit=onnx --input-shape 2x3)
#   WITHOUT    what emitting without the flag must do: "error:TEXT" (exit 1, no file, an
#              error line containing TEXT) or "warning:TEXT" (exit 0, a warning line with TEXT)
#   OP_TYPE... the custom-domain nodes expected with the flag (check_custom.py)
set -u
emit=$1 model=$2 work=$3 domain=$4 without=$5
shift 5
[ "${1:-}" = -- ] || { sed -n '2,12p' "$0" >&2; exit 2; }
shift
args=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do args="$args $1"; shift; done
[ "${1:-}" = -- ] && shift
here=$(cd "$(dirname "$0")" && pwd)
py=${KILN_PYTHON:-/usr/bin/python3}
fail() { echo "run_custom.sh: FAIL: $*"; [ -s "$work/stderr" ] && sed 's/^/    /' "$work/stderr"; exit 1; }
rm -rf "$work" && mkdir -p "$work" || exit 1

# shellcheck disable=SC2086 # a word list on purpose
"$emit" "$model" $args -o "$work/std.onnx" 2>"$work/stderr"
rc=$?
case $without in
error:*)
	[ $rc -eq 1 ] || fail "without the flag: exit status $rc, expected 1"
	[ ! -e "$work/std.onnx" ] || fail "without the flag: a file was written despite the error"
	grep -F -- "${without#error:}" "$work/stderr" | grep -q "error: " ||
		fail "no error saying '${without#error:}'";;
warning:*)
	[ $rc -eq 0 ] || fail "without the flag: exit status $rc, expected 0"
	grep -F -- "${without#warning:}" "$work/stderr" | grep -q "warning: " ||
		fail "no warning saying '${without#warning:}'"
	"$py" -c 'import onnx, sys; m = onnx.load(sys.argv[1]); sys.exit(any(o.domain for o in m.opset_import))' \
		"$work/std.onnx" || fail "without the flag the model imports a custom domain";;
*) fail "bad WITHOUT '$without'";;
esac
echo "without --onnx-custom-domain: as expected ($without)"

# shellcheck disable=SC2086
"$emit" "$model" $args --onnx-custom-domain "$domain" -o "$work/custom.onnx" 2>"$work/stderr" ||
	fail "with --onnx-custom-domain $domain: exit status $?"
"$py" "$here/check_custom.py" "$work/custom.onnx" "$domain" "$@" || fail "check_custom.py"
echo "run_custom.sh: PASS"
