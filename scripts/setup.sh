#!/bin/sh
# setup.sh: install everything kiln needs to build, test and run its demo (Debian packages).
# Idempotent: when every package is already installed it only checks, and apt is not touched.
# Runs apt-get as root, or through sudo when not root.
set -eu

pkgs="build-essential cmake pkg-config libzip-dev libprotobuf-c-dev protobuf-c-compiler
protobuf-compiler libcmocka-dev libclang-dev python3-torch python3-torchvision python3-onnx
libonnx-dev libonnx-testdata python3-numpy python3-sklearn graphviz libgraphviz-dev python3-protobuf valgrind clang libclang-rt-dev"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "setup.sh: this is not a Debian-based system; install the equivalents of:" >&2
	echo "  $pkgs" | tr '\n' ' ' >&2
	echo >&2
	exit 1
fi

missing=
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		as_root=
	elif command -v sudo >/dev/null 2>&1; then
		as_root=sudo
	else
		echo "setup.sh: missing packages:$missing" >&2
		echo "setup.sh: not root and no sudo: install them as root and rerun" >&2
		exit 1
	fi
	echo "setup.sh: installing:$missing"
	$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# The test fixtures need PyTorch, which only Debian's /usr/bin/python3 has.
if ! /usr/bin/python3 -c 'import torch, torchvision, numpy, sklearn' 2>/dev/null; then
	echo "setup.sh: /usr/bin/python3 cannot import torch, torchvision, numpy and sklearn" >&2
	exit 1
fi
echo "setup.sh: all dependencies present"
