#!/bin/sh
# Builds the sketch parser's libFuzzer target with clang (ASan + UBSan) and runs it for a bounded
# time, seeded with the sketch corpus. Usage: scripts/fuzz.sh [SECONDS] (default 60).
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-60}"

./scripts/setup-debian.sh
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DANVIL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-fuzz -j"$(nproc)" --target sketch_parser_fuzzer

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
find tests/sketch_corpus knowledge/sketch -name '*.sketch' -exec cp {} "$work/corpus/" \; 2>/dev/null || true
# A crash or sanitizer report makes the fuzzer exit non-zero, failing this script.
./build-fuzz/sketch_parser_fuzzer -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -artifact_prefix="$work/" "$work/corpus"
