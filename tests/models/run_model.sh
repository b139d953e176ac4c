#!/usr/bin/env bash
# run_model.sh: one end-to-end model test: kiln -> C -> cc (with and without OpenMP) -> run ->
# compare every output with PyTorch's.
#
# usage: run_model.sh KILN_BIN MODEL.pt INPUT_SHAPES EXPECTED INPUT WORKDIR
#   INPUT_SHAPES  one kiln --input-shape spec per model input, comma-separated: 2x16 or 2x3x4,2x4x5
#   EXPECTED      NAME.output_0.npy (one output) or the prefix NAME.output_ (NAME.output_0.npy,
#                 NAME.output_1.npy, ... as many as exist)
#   INPUT         NAME.input_0.npy or the prefix NAME.input_ (likewise)
#   WORKDIR       scratch directory, emptied first
#
# Steps (each failure stops with "FAIL: <what>" and exit status 1; bad usage is status 2):
#   1. kiln MODEL.pt --input-shape S0 [--input-shape S1 ...] --main -o WORKDIR/gen/m.c
#      must exit 0, without "internal error"; every .c it writes into WORKDIR/gen is compiled.
#   2. kiln again with the same arguments must write byte-identical files (determinism).
#   3. cc -std=c11 -O2 -Wall -Wextra -pedantic -Werror [-fopenmp] gen/*.c -o m_omp|m_seq -lm
#   4. (cd WORKDIR && ./m_X -o out_X input_0.npy ...) must exit 0 and write out_X/output_K.npy
#      for every expected output and no more; each is compared with compare.py.
#   5. ./m_omp --bench 2 inputs... must print "latency_ms median=X min=Y".
# Tolerances: NAME.json next to the expected files gives rtol/atol per output (and the
# input shapes, checked against INPUT_SHAPES); KILN_RTOL / KILN_ATOL override.
# Environment: CC (default cc), KILN_PYTHON (default /usr/bin/python3), KILN_TEST_CFLAGS (extra
# cc flags), KILN_TEST_SEQ=0 (no m_seq), KILN_SKIP_DETERMINISM=1, KILN_TIMEOUT (seconds per kiln run, default 900),
# KILN_RUN_TIMEOUT (seconds per program run, default 300), OMP_NUM_THREADS (default 2).
set -u

usage() {
	sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
[ $# -eq 6 ] || usage

here=$(cd "$(dirname "$0")" && pwd)
py=${KILN_PYTHON:-/usr/bin/python3}
cc=${CC:-cc}
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
kiln=$(abspath "$1")
model=$(abspath "$2")
shapes=$3
expected=$(abspath "$4")
input=$(abspath "$5")
work=$(abspath "$6")
name=$(basename "$model" .pt)

say() { echo "run_model.sh: $name: $*"; }
die() {
	echo "run_model.sh: $name: FAIL: $*" >&2
	exit 1
}
# show LOG's first lines, indented, on stderr
show() { [ -s "$1" ] && sed -n "1,${2:-40}p" "$1" | sed 's/^/    /' >&2; true; }
# describe an exit status
status_text() {
	case $1 in
	124) echo "timed out" ;;
	12[5-7]) echo "could not be run (status $1)" ;;
	1[3-9][0-9]) echo "was killed by signal $(($1 - 128)) ($(kill -l $(($1 - 128)) 2>/dev/null || echo '?'))" ;;
	*) echo "exited with status $1" ;;
	esac
}

# A file or a prefix: the file itself, or PREFIX0.npy PREFIX1.npy ... as long as they exist.
expand() {
	if [ -f "$1" ]; then
		printf '%s\n' "$1"
		return
	fi
	local i=0
	while [ -f "$1$i.npy" ]; do
		printf '%s\n' "$1$i.npy"
		i=$((i + 1))
	done
}

[ -x "$kiln" ] || die "kiln binary $kiln not found or not executable"
[ -f "$model" ] || die "model $model not found"
mapfile -t exp_files < <(expand "$expected")
mapfile -t in_files < <(expand "$input")
[ ${#exp_files[@]} -gt 0 ] || die "no expected outputs at $expected (nor ${expected}0.npy)"
[ ${#in_files[@]} -gt 0 ] || die "no inputs at $input (nor ${input}0.npy)"
IFS=, read -r -a shape_list <<<"$shapes"
[ ${#shape_list[@]} -eq ${#in_files[@]} ] ||
	die "${#shape_list[@]} input shape(s) ($shapes) but ${#in_files[@]} input file(s)"

# Tolerances and declared shapes from NAME.json, if the fixture has one.
json=$(printf '%s\n' "$expected" | sed -E 's/\.output_?([0-9]+\.npy)?$//').json
declare -a rtol atol
for ((k = 0; k < ${#exp_files[@]}; k++)); do
	rtol[k]=1e-3
	atol[k]=1e-4
done
if [ -f "$json" ]; then
	info=$("$py" - "$json" <<-'EOF'
		import json, sys
		d = json.load(open(sys.argv[1]))
		print(",".join(d.get("input_shapes", [])))
		for o in d.get("outputs", []):
		    print(o.get("rtol", 1e-3), o.get("atol", 1e-4))
	EOF
	) || die "cannot read $json"
	declared=$(printf '%s\n' "$info" | sed -n 1p)
	[ -z "$declared" ] || [ "$declared" = "$shapes" ] ||
		die "input shapes '$shapes' differ from the fixture's '$declared' ($json)"
	k=0
	while read -r r a; do
		[ $k -lt ${#exp_files[@]} ] || break
		rtol[k]=$r
		atol[k]=$a
		k=$((k + 1))
	done < <(printf '%s\n' "$info" | sed 1d)
fi
for ((k = 0; k < ${#exp_files[@]}; k++)); do
	rtol[k]=${KILN_RTOL:-${rtol[k]}}
	atol[k]=${KILN_ATOL:-${atol[k]}}
done

case $work in / | "$here" | "$here"/fixtures | "$(dirname "$model")") die "refusing to use $work as WORKDIR" ;; esac
rm -rf "$work" && mkdir -p "$work/gen" || die "cannot create $work"
cd "$work" || die "cannot enter $work"

# 1. compile the model
kiln_args=("$model")
for s in "${shape_list[@]}"; do kiln_args+=(--input-shape "$s"); done
kiln_args+=(--verify --main -o "$work/gen/m.c")
run_kiln() {
	timeout "${KILN_TIMEOUT:-900}" "$kiln" "${kiln_args[@]}" >"$work/kiln.out" 2>"$work/kiln.err"
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
echo "\$ $kiln ${kiln_args[*]}"
t0=$(now)
run_kiln
rc=$?
t1=$(now)
if [ $rc -ne 0 ]; then
	show "$work/kiln.err"
	die "kiln $(status_text $rc)"
fi
if grep -q "internal error" "$work/kiln.err"; then
	show "$work/kiln.err"
	die "kiln reported an internal error"
fi
[ -s "$work/gen/m.c" ] || die "kiln exited 0 but wrote no $work/gen/m.c"
[ -s "$work/kiln.err" ] && { say "kiln said:"; show "$work/kiln.err" 20; }
mapfile -t srcs < <(cd "$work" && ls gen/*.c)

# 2. determinism: the same command again gives the same bytes
if [ "${KILN_SKIP_DETERMINISM:-0}" != 1 ]; then
	mv gen gen.first && mkdir gen || die "cannot rename $work/gen"
	run_kiln || die "second kiln run $(status_text $?)"
	diff -r gen.first gen >"$work/determinism.diff" 2>&1 || {
		show "$work/determinism.diff" 20
		die "kiln is not deterministic: two runs with the same arguments wrote different files"
	}
	rm -rf gen.first
fi

# 3. build the program, with and without OpenMP; the generated code must be warning-free
cflags=(-std=c11 -O2 -Wall -Wextra -pedantic -Werror)
# shellcheck disable=SC2206 # KILN_TEST_CFLAGS is a word list on purpose
extra=(${KILN_TEST_CFLAGS:-})
build() { # variant extra-flags...
	local v=$1
	shift
	echo "\$ $cc ${cflags[*]} $* ${extra[*]} ${srcs[*]} -o m_$v -lm"
	"$cc" "${cflags[@]}" "$@" "${extra[@]}" "${srcs[@]}" -o "m_$v" -lm >"cc_$v.log" 2>&1 || {
		show "cc_$v.log"
		die "the generated C does not compile cleanly ($v)"
	}
}
# KILN_TEST_SEQ=0 skips the build without OpenMP (the ASan stage's big models: the program
# under test there is kiln, and every other run builds both)
seq=${KILN_TEST_SEQ:-1}
variants=(omp)
[ "$seq" = 0 ] || variants+=(seq)
build omp -fopenmp
[ "$seq" = 0 ] || build seq
t2=$(now)

# 4. run both on the inputs, compare every output
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
nexp=${#exp_files[@]}
for v in "${variants[@]}"; do
	mkdir -p "out_$v"
	echo "\$ ./m_$v -o out_$v ${in_files[*]}"
	timeout "${KILN_RUN_TIMEOUT:-300}" "./m_$v" -o "out_$v" "${in_files[@]}" >"run_$v.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		show "run_$v.log"
		die "./m_$v -o out_$v ${in_files[*]} $(status_text $rc)"
	fi
	for ((k = 0; k < nexp; k++)); do
		out=out_$v/output_$k.npy
		[ -f "$out" ] || die "m_$v wrote no $out (expected $nexp output(s))"
		"$py" "$here/compare.py" "${exp_files[k]}" "$out" --rtol "${rtol[k]}" --atol "${atol[k]}" \
			>"cmp_${v}_$k.log" 2>&1 || {
			show "cmp_${v}_$k.log"
			die "output $k of m_$v differs from PyTorch's (${exp_files[k]})"
		}
		[ "$v" = omp ] && sed 's/^/    /' "cmp_${v}_$k.log"
	done
	[ ! -e "out_$v/output_$nexp.npy" ] || die "m_$v wrote more outputs than the $nexp expected"
done

# 5. the --bench contract
timeout "${KILN_RUN_TIMEOUT:-300}" ./m_omp --bench 2 "${in_files[@]}" >bench.log 2>&1
rc=$?
[ $rc -eq 0 ] || { show bench.log; die "./m_omp --bench 2 $(status_text $rc)"; }
lat=$(grep -E '^latency_ms median=[0-9.eE+-]+ min=[0-9.eE+-]+$' bench.log) || {
	show bench.log
	die "./m_omp --bench did not print 'latency_ms median=X min=Y'"
}

t3=$(now)
say "PASS ($nexp output(s); kiln $(secs "$t0" "$t1")s, cc $(secs "$t1" "$t2")s," \
	"total $(secs "$t0" "$t3")s; $lat)"
exit 0
