#!/usr/bin/env bash
# The gateway benchmark: direct-to-mock, through the nginx reverse proxy, and through
# TokenLedger (metering, attribution, budget check and recording all on), release-built, in one
# run, with a table of ratios. Uses the shared benchmark kit (mock LLM upstream, reference proxy,
# wrk script), which is not part of this repository:
#
#   BENCH_KIT=../shared/bench scripts/bench/gateway.sh
#
# Knobs are the kit's (ROUNDS, DURATION, CONNS, RATE, STREAM, …; see its run_peer_bench.sh).
# The gateway runs with examples/bench.yaml on a fresh ledger; after the run the ledger's event
# count is printed, so the recording can be checked against the requests wrk reports.
set -euo pipefail
cd "$(dirname "$0")/../.."
kit=${BENCH_KIT:-../shared/bench}
[ -x "$kit/run_peer_bench.sh" ] || { echo "error: no benchmark kit at $kit (set BENCH_KIT)" >&2; exit 2; }

swift build -c release --product tokenledger
work=$(mktemp -d)
cp -r "$kit" "$work/bench"
[ -x "$work/bench/setup.sh" ] && "$work/bench/setup.sh"
db="$work/bench.sqlite"
GATEWAY_NAME=tokenledger GATEWAY_URL=http://127.0.0.1:8080 GATEWAY_KEY=tl-bench-0000000000000000 \
    GATEWAY_CMD="$PWD/.build/release/tokenledger serve --config $PWD/examples/bench.yaml --db $db --log-level warning" \
    REFPROXY=1 LITELLM=${LITELLM:-0} "$work/bench/run_peer_bench.sh"
echo "ledger: $(.build/release/tokenledger report --db "$db" --config examples/bench.yaml --format json 2>/dev/null | head -c 400)"
