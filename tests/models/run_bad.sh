#!/usr/bin/env bash
# run_bad.sh: kiln must reject a bad input cleanly.
#
# usage: run_bad.sh KILN_BIN BADFILE EXPECTED_SUBSTRING [extra kiln args...]
#
# Runs `KILN_BIN BADFILE [extra args] -o TMP/out.c` (the -o is added unless the extra args have
# one) and passes when: the exit status is exactly 1 (not 0, not 2 = usage, not a signal, not a
# hang: 60 s limit), stderr has a line with "error:" and contains EXPECTED_SUBSTRING (fixed
# string, case-sensitive), and stderr does not say "internal error".
# KILN_VALGRIND=1 runs kiln under valgrind (memcheck), which must report no errors.
set -u

if [ $# -lt 3 ]; then
	sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
kiln=$1
bad=$2
want=$3
shift 3
name=$(basename "$bad")
die() {
	echo "run_bad.sh: $name: FAIL: $*" >&2
	[ -s "$tmp/err" ] && sed -n '1,30p' "$tmp/err" | sed 's/^/    stderr: /' >&2
	exit 1
}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
[ -x "$kiln" ] || die "kiln binary $kiln not found or not executable"
[ -e "$bad" ] || die "bad input $bad not found"

args=("$bad" "$@")
has_o=0
for a in "$@"; do [ "$a" = -o ] && has_o=1; done
[ $has_o = 1 ] || args+=(-o "$tmp/out.c")
wrap=()
if [ "${KILN_VALGRIND:-0}" = 1 ]; then
	wrap=(valgrind -q --error-exitcode=99 --leak-check=no)
fi

timeout 60 "${wrap[@]}" "$kiln" "${args[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
cmd="$kiln ${args[*]}"
case $rc in
1) ;;
0) die "kiln accepted it (exit status 0): $cmd" ;;
2) die "kiln exited with status 2 (usage error), expected 1 (bad input): $cmd" ;;
99) die "valgrind found memory errors: $cmd" ;;
124) die "kiln hung (killed after 60 s): $cmd" ;;
1[3-9][0-9]) die "kiln crashed: signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null)): $cmd" ;;
*) die "kiln exited with status $rc, expected 1: $cmd" ;;
esac
grep -q "internal error" "$tmp/err" && die "kiln reported an internal error instead of a diagnostic"
grep -q "error:" "$tmp/err" || die "no 'error:' diagnostic on stderr"
grep -qF -- "$want" "$tmp/err" || die "stderr does not mention \"$want\""
echo "run_bad.sh: $name: PASS: $(grep -m1 'error:' "$tmp/err")"
exit 0
