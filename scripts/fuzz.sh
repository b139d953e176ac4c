#!/bin/sh
# fuzz.sh: run a libFuzzer target of tests/fuzz for a while (STYLE K15, issue 8).
#
# usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer options...]
#   TARGET   pt, unpickle, ts_parse, irtext, npy, ts_graph, caffe2 or onnx (all: each in turn, SECONDS each)
#   SECONDS  how long to fuzz (libFuzzer -max_total_time)
#
# Builds build-fuzz/ (clang, -DKILN_FUZZ=ON: ASan + UBSan + coverage; KILN_FUZZ_BUILD overrides
# the directory), seeds a working corpus build-fuzz/corpus/TARGET from tests/fuzz/corpus/TARGET
# and the test fixtures, and fuzzes. A crash, sanitizer report, leak, hang (> 10 s per input)
# or allocation over 2 GB stops it with exit status 1 and leaves the input in
# build-fuzz/artifacts/TARGET/; copy it into tests/fuzz/corpus/TARGET/ (where the ctest test
# fuzz_replay_TARGET replays it) once fixed. KILN_FUZZ_JOBS=N runs N processes in parallel
# on one target; KILN_FUZZ_LANES=N runs N targets at a time (all: the CI smoke uses 2 lanes on
# its 2 cores, so 8 targets x SECONDS take 4 x SECONDS).
set -eu
cd "$(dirname "$0")/.."
targets="pt unpickle ts_parse irtext npy ts_graph caffe2 onnx"
if [ $# -lt 2 ]; then
	sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
target=$1
secs=$2
shift 2
case " $targets all " in *" $target "*) ;; *) echo "fuzz.sh: unknown target '$target'" >&2; exit 2 ;; esac
[ "$target" = all ] && target=$targets
build=${KILN_FUZZ_BUILD:-build-fuzz}
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 1; }

if [ ! -f "$build/CMakeCache.txt" ]; then
	CC=clang cmake -S . -B "$build" -DKILN_FUZZ=ON -DKILN_SANITIZE=ON >"$build.cmake.log" 2>&1 ||
		{ cat "$build.cmake.log" >&2; exit 1; }
fi
for t in $target; do
	make -s -C "$build" -j2 "fuzz_$t" >/dev/null
done

# seeds TARGET: the fixture files a target starts from (copied; the committed corpus is added
# as a read-only corpus directory).
seeds() {
	case $1 in
	pt) find tests/models/fixtures tests/unit/fixtures -name '*.pt' -size -64k ;;
	ts_parse) find tests/unit/ts -name '*.py' ;;
	irtext) find tests/ir tests/errors -name '*.kir' ;;
	npy) find tests/models/fixtures -name '*.npy' -size -64k ;;
	ts_graph) find tests/tsir/fixtures tests/tsir/errors -name '*.txt' -size -64k ;;
	onnx) find tests/onnx/bad /usr/include/onnx/backend/test/data/node -name '*.onnx' -size -64k 2>/dev/null ;;
	esac
}

# fuzz_one TARGET: fuzz one target; status 1 when it found a problem
fuzz_one() {
	t=$1
	shift
	work=$build/corpus/$t
	art=$build/artifacts/$t
	mkdir -p "$work" "$art"
	seeds "$t" | while read -r f; do cp "$f" "$work/seed-$(echo "$f" | tr / _)"; done
	echo "fuzz.sh: fuzz_$t for ${secs}s"
	jobs=${KILN_FUZZ_JOBS:-1}
	par=
	[ "$jobs" -gt 1 ] && par="-fork=$jobs"
	# shellcheck disable=SC2086 # $par is one optional word
	if ! ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		"$build/fuzz_$t" $par -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" "$@" \
		"$work" "tests/fuzz/corpus/$t" >"$build/fuzz_$t.log" 2>&1; then
		tail -n 60 "$build/fuzz_$t.log" >&2
		echo "fuzz.sh: fuzz_$t FOUND A PROBLEM; input saved in $art/ (log: $build/fuzz_$t.log)" >&2
		return 1
	fi
	grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' "$build/fuzz_$t.log" |
		sed "s/^/fuzz.sh: fuzz_$t: /"
}

# lane K of N: every N-th target from the K-th, in turn
lane() {
	n=$1 k=0 st=0
	shift
	for t in $target; do
		[ $((k % lanes)) -eq "$n" ] && { fuzz_one "$t" "$@" || st=1; }
		k=$((k + 1))
	done
	return $st
}

lanes=${KILN_FUZZ_LANES:-1}
status=0
pids=
l=0
while [ $l -lt "$lanes" ]; do
	lane $l "$@" &
	pids="$pids $!"
	l=$((l + 1))
done
for p in $pids; do
	wait "$p" || status=1
done
exit $status
