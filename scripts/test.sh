#!/bin/sh
# Installs what is missing, builds, and runs every test (GoogleTest unit and end-to-end tests,
# pytest for the harness). With --sanitize: the same under AddressSanitizer and
# UndefinedBehaviorSanitizer, in build-sanitize/.
set -eu
cd "$(dirname "$0")/.."

build_dir=build
sanitize=OFF
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-sanitize
  sanitize=ON
fi

./scripts/setup-debian.sh
cmake -S . -B "$build_dir" -DANVIL_SANITIZE="$sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir" -j"$(nproc)"

# Sanitizer reports fail the run; leak checking stays on.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)"
