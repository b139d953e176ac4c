#!/usr/bin/env bash
# run_tsir.sh: tests of the TorchScript IR text frontend (frontend/ts_graph.c) and writer
# (frontend/ts_graph_print.c), driven by tsir_compile.
#
# usage: run_tsir.sh model TSIR_COMPILE NAME SHAPE WORKDIR
#          For tests/models/fixtures/NAME.pt: compile each PyTorch dump fixtures/NAME.{graph,
#          inlined,frozen,dump}.txt with --weights NAME.pt to C, build it with strict flags, run
#          it on NAME.input_K.npy and compare with every one of PyTorch's NAME.output_K.npy
#          (compare.py).
#          Then write kiln's own dumps (--dump-ir: model_ts_code.txt, model_ts_IR.txt,
#          model_ts_IR_inlined.txt, model.txt), check they are non-empty, compile the two IR
#          dumps the same way, and check that reading and writing an IR dump is a fixed point.
#        run_tsir.sh errors TSIR_COMPILE WORKDIR
#          Every errors/NAME.txt (weights: errors/NAME.args names a models fixture) must fail
#          with exit status 1 and print exactly errors/NAME.err (paths stripped). Then deep
#          nesting, and truncations of fixture dumps, must fail cleanly (status 1, no crash).
# Environment: TSIR_KINDS (the dumps compiled and run, of graph inlined frozen dump model_ts_IR
# model_ts_IR_inlined; default all: big models take fewer, the fixed point is always checked),
# TSIR_KILN (the kiln command line, which then compiles the dumps instead of TSIR_COMPILE),
# CC (default cc), KILN_PYTHON (default /usr/bin/python3), TSIR_MODELS (where
# NAME.pt and its reference outputs are; default tests/models/fixtures), TSIR_DUMPS (where
# PyTorch's dumps are; default tests/tsir/fixtures).
set -u
here=$(cd "$(dirname "$0")" && pwd)
models=$(cd "${TSIR_MODELS:-$here/../models/fixtures}" && pwd)
dumps=${TSIR_DUMPS:-$here/fixtures}   # PyTorch's dumps of the models
py=${KILN_PYTHON:-/usr/bin/python3}
cc=${CC:-cc}
fail=0
die() { echo "run_tsir.sh: FAIL: $*" >&2; exit 1; }
bad() { echo "[FAIL] $*"; fail=1; }
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

# compile_run LABEL IR.txt NAME SHAPE DIR: IR text + weights -> C -> program -> compare.
compile_run() {
	local label=$1 ir=$2 name=$3 shape=$4 dir=$5
	mkdir -p "$dir/out"
	if ! "${TSIR_KILN:-$tsir}" "$ir" --weights "$models/$name.pt" --input-shape "$shape" --main \
		-o "$dir/m.c" >"$dir/kiln.log" 2>&1; then
		sed 's/^/    /' "$dir/kiln.log"
		bad "$label: $(basename "${TSIR_KILN:-$tsir}") failed"
		return
	fi
	# shellcheck disable=SC2086 # KILN_TEST_CFLAGS is a word list on purpose
	if ! "$cc" -std=c11 -O2 -Wall -Wextra -pedantic -Werror ${KILN_TEST_CFLAGS:-} "$dir"/m.c -o "$dir/m" -lm \
		>"$dir/cc.log" 2>&1; then
		sed 's/^/    /' "$dir/cc.log" | head -20
		bad "$label: the generated C does not compile cleanly"
		return
	fi
	local inputs=("$models/$name".input_*.npy)
	if ! (cd "$dir" && ./m -o out "${inputs[@]}" >run.log 2>&1); then
		bad "$label: the program failed"
		return
	fi
	# every output PyTorch gave, and no more
	local k=0
	while [ -e "$models/$name.output_$k.npy" ]; do
		if ! "$py" "$here/../models/compare.py" "$models/$name.output_$k.npy" \
			"$dir/out/output_$k.npy" >"$dir/cmp_$k.log" 2>&1; then
			sed 's/^/    /' "$dir/cmp_$k.log"
			bad "$label: output $k differs from PyTorch's"
			return
		fi
		k=$((k + 1))
	done
	if [ $k -eq 0 ] || [ -e "$dir/out/output_$k.npy" ]; then
		bad "$label: the program wrote other outputs than PyTorch's $k"
		return
	fi
	echo "[PASS] $label: $k output(s) match; $(tail -1 "$dir/cmp_$((k - 1)).log")"
	rm -f "$dir/m.c" "$dir/m"   # big models' C runs to GBs; kept only when a check fails
}

# Whether dump kind $1 is checked (TSIR_KINDS).
want() {
	case " ${TSIR_KINDS:-graph inlined frozen dump model_ts_IR model_ts_IR_inlined} " in
	*" $1 "*) return 0 ;;
	*) echo "[SKIP] $name.$1: not in TSIR_KINDS"; return 1 ;;
	esac
}

model() {
	local name=$1 shape=$2 work=$3
	for kind in graph inlined frozen dump; do
		want "$kind" || continue
		# make_tsir_fixtures.py writes no frozen dump where freezing makes new weights
		[ -e "$dumps/$name.$kind.txt" ] || { echo "[SKIP] $name.$kind: no fixture"; continue; }
		compile_run "$name.$kind" "$dumps/$name.$kind.txt" "$name" "$shape" "$work/$kind"
	done
	local d=$work/dump_ir
	"$tsir" --dump-ir "$models/$name.pt" "$d" >"$work/dump.log" 2>&1 ||
		{ cat "$work/dump.log"; bad "$name: --dump-ir failed"; return; }
	for f in model_ts_code.txt model_ts_IR.txt model_ts_IR_inlined.txt model.txt; do
		[ -s "$d/$f" ] || bad "$name: --dump-ir wrote no $f"
	done
	for f in model_ts_IR model_ts_IR_inlined; do
		want "$f" || continue
		compile_run "$name.kiln.$f" "$d/$f.txt" "$name" "$shape" "$work/kiln_$f"
	done
	# Writing what was read, then reading and writing that again, gives the same text.
	f=model_ts_IR_inlined
	"$tsir" "$d/$f.txt" --weights "$models/$name.pt" --print -o "$work/$f.a.txt" &&
		"$tsir" "$work/$f.a.txt" --weights "$models/$name.pt" --print -o "$work/$f.b.txt" &&
		cmp -s "$work/$f.a.txt" "$work/$f.b.txt" &&
		echo "[PASS] $name.kiln.$f: read and written again, a fixed point" ||
		bad "$name.kiln.$f: reading and writing the dump is not a fixed point"
}

# expect_clean_failure LABEL ARGS...: status 1 with an error: line, no crash, no internal error.
expect_clean_failure() {
	local label=$1
	shift
	"$tsir" "$@" --emit=ir -o /dev/null >"$work/out.log" 2>&1
	local rc=$?
	if [ $rc -ne 1 ] || grep -q "internal error" "$work/out.log" || ! grep -q "error:" "$work/out.log"; then
		sed 's/^/    /' "$work/out.log" | head -5
		bad "$label: status $rc (expected 1 with a diagnostic)"
		return 1
	fi
}

errors() {
	local n=0
	for t in "$here"/errors/*.txt; do
		local name
		name=$(basename "$t" .txt)
		local args=()
		[ -f "$here/errors/$name.args" ] && args=(--weights "$models/$(cat "$here/errors/$name.args")")
		(cd "$here/errors" && "$tsir" "$name.txt" "${args[@]}" --emit=ir -o /dev/null) \
			>"$work/$name.out" 2>&1
		local rc=$?
		sed -i "s#$models/##g" "$work/$name.out"
		if [ $rc -eq 1 ] && diff -u "$here/errors/$name.err" "$work/$name.out" >"$work/$name.diff"; then
			n=$((n + 1))
		else
			sed 's/^/    /' "$work/$name.diff"
			bad "errors/$name: status $rc, or the diagnostics differ from $name.err"
		fi
	done
	echo "[PASS] $n error tests"
	# Deep nesting is refused with a diagnostic, not a stack overflow.
	{
		echo "graph(%c : bool):"
		for ((i = 0; i < 200; i++)); do echo "   = prim::If(%c)"; echo "    block0():"; done
	} >"$work/deep.txt"
	expect_clean_failure "deep nesting" "$work/deep.txt" && echo "[PASS] deep nesting"
	# Every truncation of a real dump fails cleanly.
	local k=0
	for f in ctrl.dump.txt mlp_scripted.inlined.txt lenet.frozen.txt; do
		local src=$here/fixtures/$f size
		size=$(wc -c <"$src")
		for ((off = 1; off < size - 2; off += 23)); do
			head -c "$off" "$src" >"$work/trunc.txt"
			expect_clean_failure "$f truncated at $off" "$work/trunc.txt" \
				--weights "$models/${f%%.*}.pt" || break
			k=$((k + 1))
		done
	done
	echo "[PASS] $k truncations fail cleanly"
}

case ${1:-} in
model)
	[ $# -eq 5 ] || die "usage: run_tsir.sh model TSIR_COMPILE NAME SHAPE WORKDIR"
	tsir=$(abspath "$2")
	work=$(abspath "$5")
	rm -rf "$work" && mkdir -p "$work" || die "cannot create $work"
	model "$3" "$4" "$work"
	;;
errors)
	[ $# -eq 3 ] || die "usage: run_tsir.sh errors TSIR_COMPILE WORKDIR"
	tsir=$(abspath "$2")
	work=$(abspath "$3")
	rm -rf "$work" && mkdir -p "$work" || die "cannot create $work"
	errors
	;;
*) die "usage: run_tsir.sh model|errors ..." ;;
esac
exit $fail
