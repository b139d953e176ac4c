#!/bin/sh
# usage: standalone.sh CC RUNTIME_DIR WORK_DIR
# Compiles every runtime file, preceded by its "needs:" files (recursively, in order), as one
# translation unit, as the C backend pastes them: -std=c11 -Wall -Wextra -pedantic -Werror,
# with and without -fopenmp.
cc=$1 rt=$2 work=$3
mkdir -p "$work" || exit 1
status=0

needs() { sed -n '1s/.*needs:\([a-z0-9_ ]*\).*/\1/p' "$rt/$1.c"; }

# order NAME: prints NAME's dependencies depth-first, then NAME
order() {
	for d in $(needs "$1"); do order "$d"; done
	echo "$1"
}

for f in "$rt"/k_*.c; do
	name=$(basename "$f" .c)
	seen=""
	: > "$work/$name.c"
	for d in $(order "$name"); do
		case " $seen " in *" $d "*) continue ;; esac
		seen="$seen $d"
		cat "$rt/$d.c" >> "$work/$name.c"
	done
	for omp in "" -fopenmp; do
		if ! $cc -std=c11 -Wall -Wextra -pedantic -Wshadow -Werror -O2 $omp -c "$work/$name.c" \
			-o "$work/$name.o"; then
			echo "[FAIL] $name $omp"
			status=1
		else
			echo "[PASS] $name $omp ($seen )"
		fi
	done
done
# all files in one translation unit, as a model using every kernel family gets them
seen=""
: > "$work/all.c"
for f in "$rt"/k_*.c; do
	for d in $(order "$(basename "$f" .c)"); do
		case " $seen " in *" $d "*) continue ;; esac
		seen="$seen $d"
		cat "$rt/$d.c" >> "$work/all.c"
	done
done
for omp in "" -fopenmp; do
	if ! $cc -std=c11 -Wall -Wextra -pedantic -Wshadow -Werror -O2 $omp -c "$work/all.c" -o "$work/all.o"; then
		echo "[FAIL] all $omp"
		status=1
	else
		echo "[PASS] all $omp ($seen )"
	fi
done
exit $status
