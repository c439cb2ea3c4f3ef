#!/usr/bin/env bash
# Runs every test: builds the package (failing on any warning in our own code) and runs the
# Swift test suites (the real command-line tool, real SQLite files, the real gateway on loopback),
# then the official Python SDKs against `tokenledger serve` (a venv with them is made under .build/).
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "==> swift format lint (.swift-format)"
swift format lint --strict --recursive Sources Tests Benchmarks Fuzz Package.swift

echo "==> swift build --build-tests"
swift build --build-tests 2>&1 | tee "$log"
if grep -E "/(Sources|Tests|Benchmarks|Fuzz)/.*: warning:" "$log"; then
    echo "error: the build has warnings (above); fix them." >&2
    exit 1
fi

echo "==> swift test"
swift test --skip-build 2>&1 | tee "$log"
grep -Eq "Test run with [0-9]+ tests? .*passed" "$log" || { echo "error: tests did not pass" >&2; exit 1; }

echo "==> parser fuzz corpus (replayed without the fuzzer; scripts/fuzz/run.sh fuzzes)"
"$(swift build --show-bin-path)/ParserFuzz" Fuzz/corpus

echo "==> FOCUS 1.2: export last month of a demo ledger and run the conformance check on it"
bin="$(swift build --show-bin-path)"
focus_dir=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$focus_dir"' EXIT
last_month=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)
"$bin/tokenledger" demo --db "$focus_dir/demo.sqlite" --events 20000 --quiet
"$bin/tokenledger" export focus --period "$last_month" --db "$focus_dir/demo.sqlite" --output "$focus_dir/focus.csv"
"$bin/tokenledger" export focus --check "$focus_dir/focus.csv"

echo "==> gateway from outside: official openai, anthropic and OpenTelemetry SDKs, kill -9 recovery"
venv=.build/sdk-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openai, anthropic, opentelemetry.exporter.otlp.proto.http" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check openai anthropic \
        opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
fi
"$venv/bin/python" -W ignore::DeprecationWarning Tests/sdk/test_sdk.py "$(swift build --show-bin-path)"
