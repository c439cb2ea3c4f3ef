#!/usr/bin/env bash
# Fuzzes every parser of untrusted input (JSON rows, OTLP protobuf and JSON, Prometheus text, CSV
# records, timestamps and decimals, provider usage and cost pages, provider usage objects) with
# libFuzzer, for a bounded time:
#
#   scripts/fuzz/run.sh [SECONDS]      # default 120
#
# Starts from the seed corpus in Fuzz/corpus; new inputs go to .build/fuzz/corpus, crashes to
# .build/fuzz/crashes/ (add a crashing input to Fuzz/corpus once fixed: the normal test run
# replays that corpus through the same code, built without the fuzzer).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-120}
swift build -c release --product ParserFuzz --build-path .build/fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
mkdir -p .build/fuzz/corpus .build/fuzz/crashes
# Swift's own backtracer would catch a trap before libFuzzer can save the input: leave it to libFuzzer.
SWIFT_BACKTRACE=enable=no .build/fuzz/release/ParserFuzz .build/fuzz/corpus Fuzz/corpus -max_total_time="$seconds" -max_len=8192 \
    -artifact_prefix=.build/fuzz/crashes/ -print_final_stats=1
