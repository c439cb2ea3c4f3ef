#!/usr/bin/env bash
# Allocation benchmark: applies rules to one month holding EVENTS events (default 10,000,000),
# release-built.
#   - set-level rules (dimensions only): evaluated once per dimension set, results per set;
#   - event-level rules (a tag and a user prefix): every event is read and evaluated (memoised),
#     results kept for the events they move;
#   - re-running the same rules (idempotent: same figures);
#   - a month report by team after allocation (reports join the allocation).
# Usage: scripts/bench/allocate.sh [EVENTS]   (needs ~3 GB of free disk per 10M events)
# Keep the ledger between runs with BENCH_DIR=/some/dir (it is built once, ~1 min per 10M events).
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-10000000}
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT

swift build -c release --product tokenledger >/dev/null 2>&1
bin=.build/release/tokenledger
db="$work/allocate-$events.sqlite"

if [ ! -f "$db" ]; then
    echo "== building a ledger of $events events in October 2026 (demo generator)"
    "$bin" demo --db "$db" --events "$events" --days 30 --end 2026-10-31 --quiet
fi

internal_work='  - id: internal-work
    when:
      all:
        - { field: customer, equals: "" }
        - { field: environment, equals: production }
    set: { customer: internal }'
cat > "$work/set-rules.yaml" <<YAML
rules:
$internal_work
  - id: frontier-models
    when: { field: model, regex: "^(claude-opus|gpt-5|o3)" }
    set: { cost_centre: CC-FRONTIER }
    override: true
YAML
cat > "$work/event-rules.yaml" <<YAML
rules:
$internal_work
  - id: enterprise-plan
    when: { field: "tag:plan", equals: enterprise }
    set: { cost_centre: CC-ENT }
    override: true
  - id: contractors
    when: { field: user, prefix: "user-1" }
    set: { project: contractors }
    override: true
YAML

run() {  # label, command...
    local label=$1
    shift
    local start end
    start=$(date +%s.%N)
    "$@" > "$work/out.txt"
    end=$(date +%s.%N)
    printf "%-44s %6.2f s   %s\n" "$label" "$(echo "$end - $start" | bc)" "$(head -1 "$work/out.txt" | cut -c1-110)"
}

echo "== allocation of 2026-10 ($events events)"
run "set-level rules" "$bin" allocate --period 2026-10 --rules "$work/set-rules.yaml" --db "$db"
run "set-level rules, again (idempotent)" "$bin" allocate --period 2026-10 --db "$db"
run "event-level rules (tag, user prefix)" "$bin" allocate --period 2026-10 --rules "$work/event-rules.yaml" --db "$db"
run "event-level rules, again (idempotent)" "$bin" allocate --period 2026-10 --db "$db"
run "report by team after allocation" "$bin" report --db "$db" --from 2026-10-01 --to 2026-10-31 --by team
