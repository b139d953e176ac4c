#!/bin/sh
# run_schema_names.sh: kiln compiles adapter_instances.pt (with every field declared by
# --fields) and dict_in.pt to C (no main), and
# schema_names.c, which uses the headers' named input/output structs, is built against them
# with strict flags and run; it compares each named output with PyTorch's.
#
# usage: run_schema_names.sh KILN_BIN SCHEMA_NAMES_C FIXTURES_DIR WORKDIR
set -u
[ $# -eq 4 ] || { sed -n '6p' "$0" | sed 's/^# //' >&2; exit 2; }
kiln=$1 src=$2 fix=$3 work=$4
cc=${CC:-cc}
die() { echo "run_schema_names.sh: FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/gen" || die "cannot create $work"
"$kiln" "$fix/adapter_instances.pt" --input-shape 2x5x8 -o "$work/gen/adapter.c" \
	--fields pred_boxes:Boxes,scores:Tensor,pred_logits:Tensor,pred_masks:Tensor ||
	die "kiln adapter_instances.pt"
"$kiln" "$fix/dict_in.pt" --input-shape 3x5 --input-shape 2x5 -o "$work/gen/dictin.c" ||
	die "kiln dict_in.pt"
# shellcheck disable=SC2086 # KILN_TEST_CFLAGS is a word list on purpose
"$cc" -std=c11 -O2 -Wall -Wextra -pedantic -Werror ${KILN_TEST_CFLAGS:-} -I "$work/gen" "$src" "$work/gen/adapter.c" \
	"$work/gen/dictin.c" -o "$work/schema_names" -lm || die "cc"
"$work/schema_names" "$fix" || die "schema_names"
