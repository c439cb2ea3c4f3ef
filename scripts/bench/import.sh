#!/usr/bin/env bash
# Import throughput per format, release-built, in one go: the same demo events written as JSON
# Lines and as CSV, each read alone (parse and validate, nothing recorded: the reading side's
# ceiling) and then imported into a fresh ledger (parse, validate, rate, record), with wall time,
# rows per second and peak resident memory.
#
# Usage: scripts/bench/import.sh [ROWS]   (default 11,000,000: a ~5 GB JSON Lines file;
#        needs ~12 GB of free disk; BENCH_DIR=DIR keeps the files between runs)
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${1:-11000000}
work=${BENCH_DIR:-$(mktemp -d)}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"

swift build -c release --product tokenledger >/dev/null
swift build -c release --product LedgerBenchmarks >/dev/null
bin=.build/release

for format in jsonl csv; do
    file="$work/events-$rows.$format"
    if [ ! -s "$file" ]; then "$bin/LedgerBenchmarks" "write-$format" "$file" "$rows"; fi
done

measure() {  # FORMAT FILE: import into a fresh ledger; wall time, rows/s, peak RSS
    python3 - "$bin/tokenledger" "$1" "$2" "$work/ledger-$1.sqlite" <<'PY'
import os, re, resource, subprocess, sys, time
binary, fmt, path, db = sys.argv[1:]
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(db + suffix):
        os.remove(db + suffix)
start = time.monotonic()
run = subprocess.run([binary, "import", path, "--format", fmt, "--db", db], capture_output=True, text=True)
elapsed = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
summary = (run.stdout.strip().splitlines() or [run.stderr.strip()])[-1]
found = re.search(r"([\d,]+) rows", summary)
if run.returncode != 0 or not found:
    sys.exit(f"import {fmt} failed (exit {run.returncode}):\n{run.stderr.strip() or summary}")
rows = int(found.group(1).replace(",", ""))
size = os.path.getsize(path) / 1e9
print(f"import {fmt:5}: {rows:,} rows, {size:.2f} GB in {elapsed:.1f} s = {rows / elapsed / 1000:.0f}k rows/s, peak RSS {peak:.0f} MB ")
print(f"        {summary}")
PY
}

for format in jsonl csv; do
    file="$work/events-$rows.$format"
    ls -l "$file" | awk -v f="$format" '{printf "== %s: %.2f GB\n", f, $5/1e9}'
    "$bin/LedgerBenchmarks" read "$file"
    measure "$format" "$file"
done
