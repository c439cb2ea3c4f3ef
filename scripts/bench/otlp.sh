#!/usr/bin/env bash
# OTLP ingest throughput: `tokenledger serve` (release build, fresh ledger) receiving GenAI spans
# as protobuf export requests, plain and gzip, from scripts/bench/otlp_load.py; then checks that
# every span is in the ledger exactly once.
#
#   scripts/bench/otlp.sh            # BATCHES=200 SPANS=500 THREADS=4
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product tokenledger
work=$(mktemp -d)
port=${PORT:-18431}
key=tl-otlp-bench-00000000000000
cat > "$work/otlp.yaml" <<YAML
server: {host: 127.0.0.1, port: $port}
keys:
  - {id: key_otlp, name: otlp-bench, secret: $key, organisation: bench, team: bench, purpose: ingest}
YAML
.build/release/tokenledger serve --config "$work/otlp.yaml" --db "$work/otlp.sqlite" --log-level warning \
    > "$work/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
batches=${BATCHES:-200}
spans=${SPANS:-500}
echo "plain protobuf:"
python3 scripts/bench/otlp_load.py "http://127.0.0.1:$port" "$key" --batches "$batches" --spans "$spans" \
    --threads "${THREADS:-4}"
echo "the same spans again, gzip (already recorded: the receiver must count none twice):"
python3 scripts/bench/otlp_load.py "http://127.0.0.1:$port" "$key" --batches "$batches" --spans "$spans" \
    --threads "${THREADS:-4}" --gzip
kill "$pid" && wait "$pid" 2>/dev/null || true
events=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM events').fetchone()[0])" "$work/otlp.sqlite")
echo "ledger: $events events for $((batches * spans)) distinct spans sent twice"
[ "$events" -eq $((batches * spans)) ] || { echo "error: the ledger does not hold each span exactly once" >&2; exit 1; }
