#!/usr/bin/env bash
# The gateway benchmark: direct-to-mock, through the nginx reverse proxy, and through
# TokenLedger (metering, attribution, budget check and recording all on), release-built, in one
# run, with a table of ratios. Uses the shared benchmark kit (mock LLM upstream, reference proxy,
# wrk script), which is not part of this repository:
#
#   BENCH_KIT=../shared/bench scripts/bench/gateway.sh
#
# Knobs are the kit's (ROUNDS, DURATION, CONNS, RATE, STREAM, …; see its run_peer_bench.sh).
# The gateway runs with examples/bench.yaml on a fresh ledger; after the run the ledger's totals
# are printed, so the recording can be checked against the requests wrk reports.
#
# Then three measurements the kit does not make, with the mock on CPU 0 and the gateway on CPU 1:
#   - streaming time to first byte, direct and through the gateway, request by request
#     alternately (TTFB_REQUESTS pairs, default 300; curl's time_starttransfer − time_pretransfer);
#   - fixed rate on a busy machine: 50 req/s, direct and through the gateway alternately
#     (BUSY_ROUNDS rounds of 8 s, default 3), each while BUSY_RATE req/s (default 1000) of other
#     traffic go the same way on other connections. On this machine an idle core makes every
#     request slower (the fixed-rate figures of the kit above include that); this shows what the
#     gateway adds once its core is awake;
#   - memory: SOAK_S seconds (default 60) of closed-loop load (32 connections) on the gateway,
#     its RSS sampled every 5 s.
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
echo "ledger after the run: $(.build/release/tokenledger report --db "$db" --format json | head -c 300)"

# ---------------------------------------------------------------- TTFB and memory soak
bin=$PWD/.build/release/tokenledger
mock=$work/bench/mock
mkdir -p "$mock/run"
taskset -c 0 nginx -p "$mock/" -c "$mock/nginx.conf" -e "$mock/run/error.log" -g 'daemon off;' &
mock_pid=$!
taskset -c 1 "$bin" serve --config examples/bench.yaml --db "$work/soak.sqlite" --log-level warning \
    > "$work/soak.log" 2>&1 &
gw_pid=$!
trap 'kill $gw_pid $mock_pid 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    curl -sf -o /dev/null http://127.0.0.1:18080/health && curl -sf -o /dev/null http://127.0.0.1:8080/health && break
    sleep 0.1
done

body='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}],"max_tokens":64}'
ttfb() {  # url: milliseconds from request sent to first response byte
    curl -s -o /dev/null -w '%{time_pretransfer} %{time_starttransfer}\n' -H 'content-type: application/json' \
        -H 'authorization: Bearer tl-bench-0000000000000000' -d "$body" "$1" | awk '{printf "%.3f\n", ($2 - $1) * 1000}'
}
: > "$work/ttfb-direct" && : > "$work/ttfb-gateway"
for _ in $(seq 1 "${TTFB_REQUESTS:-300}"); do
    ttfb http://127.0.0.1:18080/v1/chat/completions >> "$work/ttfb-direct"
    ttfb http://127.0.0.1:8080/v1/chat/completions >> "$work/ttfb-gateway"
done
percentiles() { sort -n "$1" | awk '{a[NR] = $1} END {printf "p50 %.3f ms  p99 %.3f ms", a[int(NR * 0.5) + 1], a[int(NR * 0.99) + 1]}'; }
echo
echo "streaming time to first byte (${TTFB_REQUESTS:-300} requests each, alternating)"
echo "  direct:      $(percentiles "$work/ttfb-direct")"
echo "  tokenledger: $(percentiles "$work/ttfb-gateway")"

fixed_rate() {  # url, background rate: p50 and p99 in ms of 50 req/s for 8 s
    local background=""
    if [ "$2" -gt 0 ]; then
        BENCH_RATE=$2 BENCH_API_KEY=tl-bench-0000000000000000 taskset -c 0 wrk -t1 -c4 -d10s \
            -s "$work/bench/chat.lua" "$1" > /dev/null 2>&1 &
        background=$!
        sleep 1
    fi
    BENCH_RATE=50 BENCH_API_KEY=tl-bench-0000000000000000 taskset -c 0 wrk -t1 -c16 -d8s \
        -s "$work/bench/chat.lua" "$1" 2>&1 | awk '/^BENCH_RESULT/ {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            printf "%s %s\n", v["p50_ms"], v["p99_ms"] }'
    [ -z "$background" ] || wait "$background"
}
busy=${BUSY_RATE:-1000}
echo
echo "fixed rate, 50 req/s: idle, and beside ${busy} req/s of other traffic (p50 / p99 ms, ${BUSY_ROUNDS:-3} rounds)"
for round in $(seq 1 "${BUSY_ROUNDS:-3}"); do
    for load in 0 "$busy"; do
        read -r d50 d99 < <(fixed_rate http://127.0.0.1:18080/v1/chat/completions "$load")
        read -r g50 g99 < <(fixed_rate http://127.0.0.1:8080/v1/chat/completions "$load")
        awk -v r="$round" -v l="$load" -v d50="$d50" -v d99="$d99" -v g50="$g50" -v g99="$g99" 'BEGIN {
            printf "  round %d, %5d req/s beside: direct %.3f / %.3f  tokenledger %.3f / %.3f  added p50 %+.3f p99 %+.3f\n",
                r, l, d50, d99, g50, g99, g50 - d50, g99 - d99 }'
    done
done

soak=${SOAK_S:-60}
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$gw_pid/status"; }
echo
echo "memory: ${soak} s of closed-loop load (32 connections); gateway RSS in MB every 5 s"
samples="before=$(rss)"
BENCH_API_KEY=tl-bench-0000000000000000 taskset -c 0 wrk -t1 -c32 -d"${soak}s" --timeout 10s \
    -s "$work/bench/chat.lua" http://127.0.0.1:8080/v1/chat/completions > "$work/soak-wrk.txt" 2>&1 &
wrk_pid=$!
for second in $(seq 5 5 "$soak"); do
    sleep 5
    samples+=" ${second}s=$(rss)"
done
wait "$wrk_pid"
echo "  $samples"
echo "  $(grep -E '^BENCH_RESULT' "$work/soak-wrk.txt" | tail -1)"
kill -TERM "$gw_pid" && wait "$gw_pid" 2>/dev/null || true
echo "  ledger after the soak: $("$bin" report --db "$work/soak.sqlite" --format json | head -c 300)"
