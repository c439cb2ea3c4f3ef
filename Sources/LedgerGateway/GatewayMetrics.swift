import LedgerCore
import Synchronization

/// Prometheus metrics with bounded label sets: route, team, model, upstream, outcome and refusal
/// reason — never user, session or key ids. Teams and models beyond ``maximumLabelValues`` are
/// counted as `other`, so junk model names cannot mint unbounded series.
final class GatewayMetrics: Sendable {
    static let maximumLabelValues = 200
    static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

    // Series are kept by their label values and formatted only when scraped.
    private struct RequestSeries: Hashable {
        var route: APIRoute, team: String, model: String, outcome: Outcome, status: Int
        var labels: String {
            GatewayMetrics.labels([
                ("route", route.label), ("team", team), ("model", model), ("outcome", outcome.rawValue),
                ("status", String(status)),
            ])
        }
    }
    private struct TokenSeries: Hashable {
        var team: String, model: String, kind: TokenKind
        var labels: String { GatewayMetrics.labels([("team", team), ("model", model), ("kind", kind.rawValue)]) }
    }
    private struct CostSeries: Hashable {
        var team: String, model: String
        var labels: String { GatewayMetrics.labels([("team", team), ("model", model)]) }
    }

    private struct State {
        var requests: [RequestSeries: Int64] = [:]
        var tokens: [TokenSeries: Int64] = [:]
        var costPico: [CostSeries: Int128] = [:]
        /// GPU time of calls to upstreams with `gpus`, in GPU-microseconds.
        var gpuMicroseconds: [CostSeries: Int64] = [:]
        var refusals: [String: Int64] = [:]
        /// Observations by upstream, by the first bucket they fall in (the last: above every bound).
        var latencyBuckets: [String: [Int64]] = [:]
        var latencySum: [String: Double] = [:]
        var teams: Set<String> = []
        var models: Set<String> = []
        var inFlight: Int64 = 0
        var callsWithoutTask: Int64 = 0
    }

    private let state = Mutex(State())

    private static func bounded(_ value: String, in set: inout Set<String>) -> String {
        if set.contains(value) { return value }
        if set.count >= maximumLabelValues { return "other" }
        set.insert(value)
        return value
    }

    fileprivate static func labels(_ pairs: [(String, String)]) -> String {
        pairs.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
    }

    private static func escape(_ text: String) -> String {
        var output = ""
        for character in text {
            switch character {
            case "\\": output += "\\\\"
            case "\"": output += "\\\""
            case "\n": output += "\\n"
            default: output.append(character)
            }
        }
        return output
    }

    func started() { state.withLock { $0.inFlight += 1 } }
    func finished() { state.withLock { $0.inFlight -= 1 } }
    /// Counts a call sent upstream and answered from the event loop, without a task.
    func startedWithoutTask() { state.withLock { $0.callsWithoutTask += 1 } }
    /// Calls sent upstream without a task so far (not exported: how a call ran is not a series).
    var callsWithoutTask: Int64 { state.withLock { $0.callsWithoutTask } }
    /// Provider calls being served (the `tokenledger_requests_in_flight` gauge).
    var inFlight: Int64 { state.withLock { $0.inFlight } }

    /// Counts a finished request.
    func record(
        route: APIRoute, team: String?, model: String, outcome: Outcome, status: Int, tokens: TokenCounts, cost: Cost,
        gpuMicroseconds: Int64 = 0
    ) {
        state.withLock { state in
            let team = Self.bounded(team ?? "", in: &state.teams)
            let model = Self.bounded(model, in: &state.models)
            state.requests[
                RequestSeries(route: route, team: team, model: model, outcome: outcome, status: status), default: 0] +=
                1
            for kind in TokenKind.all where tokens[kind] > 0 {
                state.tokens[TokenSeries(team: team, model: model, kind: kind), default: 0] += tokens[kind]
            }
            state.costPico[CostSeries(team: team, model: model), default: 0] += cost.picodollars
            if gpuMicroseconds > 0 {
                state.gpuMicroseconds[CostSeries(team: team, model: model), default: 0] += gpuMicroseconds
            }
        }
    }

    /// Counts a refused request.
    func refused(reason: String, route: APIRoute) {
        state.withLock { $0.refusals[Self.labels([("reason", reason), ("route", route.label)]), default: 0] += 1 }
    }

    /// Observes the upstream's time to response head.
    func upstreamLatency(upstream: String, seconds: Double) {
        // The first bucket the observation falls in; the cumulative counts are summed when scraped.
        let bucket = Self.latencyBuckets.firstIndex { seconds <= $0 } ?? Self.latencyBuckets.count
        state.withLock { state in
            state.latencyBuckets[upstream, default: Array(repeating: 0, count: Self.latencyBuckets.count + 1)][
                bucket] += 1
            state.latencySum[upstream, default: 0] += seconds
        }
    }

    /// The Prometheus text exposition, with extra gauge lines appended.
    func render(extra: [String]) -> String {
        state.withLock { state in
            var lines: [String] = []
            func family(_ name: String, _ type: String, _ help: String, _ values: [(String, String)]) {
                lines.append("# HELP \(name) \(help)")
                lines.append("# TYPE \(name) \(type)")
                for (labels, value) in values.sorted(by: { $0.0 < $1.0 }) {
                    lines.append(labels.isEmpty ? "\(name) \(value)" : "\(name){\(labels)} \(value)")
                }
            }
            family(
                "tokenledger_requests_total", "counter", "Requests through the gateway.",
                state.requests.map { ($0.key.labels, String($0.value)) })
            family(
                "tokenledger_tokens_total", "counter", "Tokens by kind.",
                state.tokens.map { ($0.key.labels, String($0.value)) })
            family(
                "tokenledger_cost_usd_total", "counter", "Cost in US dollars (exact decimal).",
                state.costPico.map { ($0.key.labels, Cost(picodollars: $0.value).decimalString) })
            family(
                "tokenledger_gpu_seconds_total", "counter",
                "GPU time of calls to self-hosted upstreams with gpus, in GPU-seconds (exact decimal).",
                state.gpuMicroseconds.map {
                    ($0.key.labels, ResourceUsage(gpuMicroseconds: $0.value).gpuSecondsText)
                })
            family(
                "tokenledger_refusals_total", "counter", "Requests refused, by reason.",
                state.refusals.map { ($0.key, String($0.value)) })
            family("tokenledger_requests_in_flight", "gauge", "Requests being served.", [("", String(state.inFlight))])
            lines.append("# HELP tokenledger_upstream_latency_seconds Time to the upstream's response head.")
            lines.append("# TYPE tokenledger_upstream_latency_seconds histogram")
            for (upstream, buckets) in state.latencyBuckets.sorted(by: { $0.key < $1.key }) {
                let key = Self.labels([("upstream", upstream)])
                var cumulative: Int64 = 0
                for (index, bound) in Self.latencyBuckets.enumerated() {
                    cumulative += buckets[index]
                    lines.append("tokenledger_upstream_latency_seconds_bucket{\(key),le=\"\(bound)\"} \(cumulative)")
                }
                let count = cumulative + buckets[Self.latencyBuckets.count]
                lines.append("tokenledger_upstream_latency_seconds_bucket{\(key),le=\"+Inf\"} \(count)")
                lines.append("tokenledger_upstream_latency_seconds_sum{\(key)} \(state.latencySum[upstream] ?? 0)")
                lines.append("tokenledger_upstream_latency_seconds_count{\(key)} \(count)")
            }
            return (lines + extra).joined(separator: "\n") + "\n"
        }
    }
}
