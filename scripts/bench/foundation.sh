#!/usr/bin/env bash
# Foundation benchmarks, release-built, in one go:
#   rating throughput (one core), recording into SQLite, importing a large JSON Lines file
#   (throughput and peak memory), and month reports over a 10-million-event ledger.
# Usage: scripts/bench/foundation.sh [EVENTS]   (default 10,000,000; needs ~15 GB of free disk)
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-10000000}
work=${BENCH_DIR:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT

swift build -c release --product tokenledger >/dev/null
swift build -c release --product LedgerBenchmarks >/dev/null
bin=.build/release

peak() {  # run a command, then print its wall time and peak resident memory
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
start = time.monotonic()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
elapsed = time.monotonic() - start
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{elapsed:.1f} s, peak RSS {peak_mb:.0f} MB, exit {code}")
PY
}

echo "== rating (one core)"
taskset -c 0 "$bin/LedgerBenchmarks" rating 2000000

echo "== recording into SQLite"
"$bin/LedgerBenchmarks" record 1000000

echo "== import of a ${events}-row JSON Lines file"
"$bin/LedgerBenchmarks" write-jsonl "$work/events.jsonl" "$events"
ls -l "$work/events.jsonl" | awk '{printf "file: %.2f GB\n", $5/1e9}'
echo -n "import: "; peak "$bin/tokenledger" import "$work/events.jsonl" --db "$work/imported.sqlite"
"$bin/tokenledger" import "$work/events.jsonl" --db "$work/imported.sqlite" | tail -1
echo "(the second run re-reads every row and records nothing new: idempotency at full size)"

echo "== reports over the ${events}-event ledger"
"$bin/LedgerBenchmarks" report "$work/imported.sqlite"
echo -n "whole command (process start to table): "
python3 - "$bin/tokenledger" "$work/imported.sqlite" <<'PY'
import subprocess, sys, time
times = []
for _ in range(5):
    start = time.monotonic()
    subprocess.run([sys.argv[1], "report", "--db", sys.argv[2], "--period", "2026-10", "--by", "team,model"], stdout=subprocess.DEVNULL, check=True)
    times.append(time.monotonic() - start)
times.sort()
print(f"median {times[2]*1000:.0f} ms, max {times[4]*1000:.0f} ms")
PY
