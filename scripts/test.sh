#!/bin/sh
# test.sh: install dependencies, build kiln with -Werror, run every test (unit, kernel, golden,
# end-to-end models, bad inputs). Extra arguments go to ctest, e.g. `scripts/test.sh -L small`
# or `scripts/test.sh -LE huge` (skips alexnet and vgg11).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DKILN_WERROR=ON
make -C build -j2
ctest --test-dir build --output-on-failure -j2 "$@"
