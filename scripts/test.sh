#!/usr/bin/env bash
# Runs every test: builds the package (failing on any warning in our own code) and runs the
# Swift test suites, which start the real command-line tool, real SQLite files and real HTTP.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "==> swift format lint (.swift-format)"
swift format lint --strict --recursive Sources Tests Benchmarks Package.swift

echo "==> swift build --build-tests"
swift build --build-tests 2>&1 | tee "$log"
if grep -E "/(Sources|Tests|Benchmarks)/.*: warning:" "$log"; then
    echo "error: the build has warnings (above); fix them." >&2
    exit 1
fi

echo "==> swift test"
swift test --skip-build 2>&1 | tee "$log"
grep -Eq "Test run with [0-9]+ tests? .*passed" "$log" || { echo "error: tests did not pass" >&2; exit 1; }
