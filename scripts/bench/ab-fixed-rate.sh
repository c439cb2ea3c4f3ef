#!/usr/bin/env bash
# Two gateway builds compared at a fixed 50 req/s, alternately in one run: the added p50 of a
# change is smaller than the spread between runs on this machine, so only an A/B in one run
# measures it. Each round measures direct-to-mock, then A and B (B first in even rounds), each
# on a fresh ledger with examples/bench.yaml; the mock and wrk on CPU 0, the gateway on CPU 1.
#
#   BENCH_KIT=../shared/bench scripts/bench/ab-fixed-rate.sh OLD_BINARY NEW_BINARY
#
# ROUNDS (default 6) and DURATION in seconds (default 6). Prints each round's added p50 and the
# median added p50 of A and B. Release builds: `swift build -c release`, copy the binary aside,
# change, build again.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 2 ] || { echo "usage: $0 BINARY_A BINARY_B" >&2; exit 2; }
kit=${BENCH_KIT:-../shared/bench}
[ -f "$kit/chat.lua" ] || { echo "error: no benchmark kit at $kit (set BENCH_KIT)" >&2; exit 2; }
rounds=${ROUNDS:-6}
duration=${DURATION:-6}
config=$PWD/examples/bench.yaml
work=$(mktemp -d)
cp -r "$kit" "$work/bench"
[ -x "$work/bench/setup.sh" ] && "$work/bench/setup.sh" >/dev/null
mkdir -p "$work/bench/mock/run"
taskset -c 0 nginx -p "$work/bench/mock/" -c "$work/bench/mock/nginx.conf" -e "$work/bench/mock/run/error.log" \
    -g 'daemon off;' &
mock=$!
gateway=
cleanup() {
    [ -n "$gateway" ] && kill "$gateway" 2>/dev/null
    kill "$mock" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
sleep 0.5

# p50 in ms at 50 req/s against a URL.
p50() {
    BENCH_RATE=50 BENCH_API_KEY=tl-bench-0000000000000000 taskset -c 0 wrk -t1 -c16 -d"${duration}s" \
        -s "$work/bench/chat.lua" "$1" 2>&1 | sed -n 's/^BENCH_RESULT.* p50_ms=\([0-9.]*\).*/\1/p'
}

gateway_p50() {
    local db
    db=$(mktemp -d "$work/db.XXXX")
    taskset -c 1 "$1" serve --config "$config" --db "$db/ledger.sqlite" --log-level warning >/dev/null 2>&1 &
    gateway=$!
    for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:8080/health && break; sleep 0.1; done
    # Warm up: the key loaded, upstream connections pooled.
    BENCH_API_KEY=tl-bench-0000000000000000 taskset -c 0 wrk -t1 -c4 -d1s -s "$work/bench/chat.lua" \
        http://127.0.0.1:8080/v1/chat/completions >/dev/null 2>&1
    sleep 0.5
    p50 http://127.0.0.1:8080/v1/chat/completions
    kill "$gateway"
    wait "$gateway" 2>/dev/null || true
    gateway=
}

results=$work/results
for round in $(seq "$rounds"); do
    direct=$(p50 http://127.0.0.1:18080/v1/chat/completions)
    order="A B"
    [ $((round % 2)) -eq 0 ] && order="B A"
    for name in $order; do
        binary=$1
        [ "$name" = B ] && binary=$2
        through=$(gateway_p50 "$binary")
        echo "$round $name $direct $through" >>"$results"
        awk -v r="$round" -v n="$name" -v d="$direct" -v g="$through" \
            'BEGIN { printf "round %s %s: direct %.3f ms, gateway %.3f ms, added %+.3f ms\n", r, n, d, g, g - d }'
    done
done
for name in A B; do
    awk -v n="$name" '$2 == n { print $4 - $3 }' "$results" | sort -n | awk -v n="$name" \
        '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%s: median added p50 %+.3f ms over %d rounds\n", n, m, NR }'
done
