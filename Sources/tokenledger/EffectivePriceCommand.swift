import ArgumentParser
import LedgerCore
import LedgerStore

/// `tokenledger effective-price`: what a self-hosted model really costs per million tokens — the
/// GPU cost of the pods (or hosts) serving it divided by the tokens they served.
struct EffectivePriceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "effective-price",
        abstract: "The effective price per million tokens of a self-hosted model, from the GPU cost of what serves it.",
        discussion: """
            GPU cost: GPU events (tokenledger import --format dcgm|nvidia-smi) in the period whose pod (or host) \
            matches --pods (or --hosts), priced with your price file's gpu_hour entries. Tokens: every token of \
            the model's usage events in the period (gateway, OpenTelemetry, imports). The result, as a price-file \
            entry, can become the model's catalog price.
            """
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "The model served, as its usage events name it.") var model: String
    @Option(help: "The provider its usage events name.") var provider: String = "self-hosted"
    @Option(help: "The month, e.g. 2026-10.") var period: String
    @Option(help: "Pods serving the model: a name or a pattern such as vllm-llama-*.") var pods: String?
    @Option(help: "Hosts serving the model, when GPU metrics have no pods (nvidia-smi).") var hosts: String?
    @Option(help: "Only pods in this namespace.") var namespace: String?
    @Option(help: "table or json.") var format: OutputFormat = .table

    func validate() throws {
        if (pods == nil) == (hosts == nil) { throw ValidationError("Name what serves the model: --pods or --hosts.") }
        if format == .csv { throw ValidationError("--format must be table or json.") }
    }

    /// `*` matches any run of characters.
    static func matches(_ pattern: String, _ name: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return pattern == name }
        var rest = Substring(name)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let range = rest.firstRange(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return rest.hasSuffix(parts.last!)
    }

    func run() async throws {
        let range = try month(period)
        let (start, end) = (range.start, range.end)
        let ledger = try SQLiteLedger(path: try common.databasePath())
        let byPod = pods != nil
        let gpuReport = try await ledger.report(
            ReportQuery(
                from: start, to: end, groupBy: byPod ? [.tag("pod"), .tag("namespace")] : [.tag("host")],
                filters: [:]))
        var gpuCost = Cost.zero
        var gpuMicroseconds: Int64 = 0
        var unpricedGPUEvents: Int64 = 0
        var servers: [String] = []
        for row in gpuReport.rows where row.metrics.resources.gpuMicroseconds > 0 {
            guard let name = row.keys[0], Self.matches(pods ?? hosts ?? "", name) else { continue }
            if byPod, let namespace, row.keys[1] != namespace { continue }
            gpuCost += row.metrics.cost
            gpuMicroseconds += row.metrics.resources.gpuMicroseconds
            unpricedGPUEvents += row.metrics.unpricedEvents
            servers.append(name)
        }
        let usage = try await ledger.report(
            ReportQuery(from: start, to: end, groupBy: [], filters: [.model: model, .provider: provider]))
        let tokens = usage.rows.reduce(Int64(0)) { $0 + $1.metrics.tokens.total }
        let requests = usage.rows.reduce(Int64(0)) { $0 + $1.metrics.requests }
        guard gpuMicroseconds > 0 else {
            throw ValidationError(
                "No GPU time in \(period) for \(byPod ? "pods" : "hosts") matching '\(pods ?? hosts ?? "")': import the GPU metrics first (tokenledger import --format dcgm|nvidia-smi FILE)."
            )
        }
        guard tokens > 0 else {
            throw ValidationError("No tokens of \(provider)/\(model) in \(period): nothing to divide the GPU cost by.")
        }
        if unpricedGPUEvents > 0 {
            printError(
                "warning: \(unpricedGPUEvents) GPU events have no gpu_hour price; add their GPU types to your price file (docs/PRICING.md)."
            )
        }
        // Dollars per million tokens, to the microdollar (a price file's precision).
        let microdollarsPerMillion = DecimalText.divideRoundingHalfEven(
            gpuCost.picodollars * 1_000_000, by: Int128(tokens) * 1_000_000)
        let price = DecimalText.format(microdollarsPerMillion, scale: 6, minimumFractionDigits: 2)
        let entry = OrderedJSON.object([
            ("provider", .string(provider)), ("model", .string(model)),
            (
                "source",
                .string(
                    "effective price \(period): GPU cost \(gpuCost.rounded(fractionDigits: 2)) USD / \(tokens) tokens")
            ),
            (
                "prices",
                .array([
                    .object([
                        ("effective_from", .string(String(start.iso8601.prefix(10)))),
                        ("per_million", .object([("input", .string(price)), ("output", .string(price))])),
                    ])
                ])
            ),
        ])
        // GPU-hours to the millionth: GPU-microseconds / 3,600 at scale 6.
        let gpuHours = DecimalText.format(
            DecimalText.divideRoundingHalfEven(Int128(gpuMicroseconds), by: 3_600), scale: 6, minimumFractionDigits: 2)
        if format == .json {
            print(
                OrderedJSON.object([
                    ("model", .string(model)), ("provider", .string(provider)), ("period", .string(period)),
                    (
                        "gpu_hours",
                        .string(gpuHours)
                    ),
                    ("gpu_cost_usd", .string(gpuCost.decimalString)), ("tokens", .integer(tokens)),
                    ("requests", .integer(requests)), ("usd_per_million_tokens", .string(price)),
                    ("servers", .array(servers.sorted().map(OrderedJSON.string))), ("price_entry", entry),
                ]).serialized(pretty: true))
        } else {
            print(
                """
                \(provider)/\(model), \(period): \(price) USD per million tokens
                  GPU: \(servers.count) \(byPod ? "pods" : "hosts"), \(gpuHours) GPU-hours, \(gpuCost.rounded(fractionDigits: 2)) USD
                  served: \(tokens) tokens in \(requests) requests
                  as a price-file entry (docs/PRICING.md):
                    \(entry.serialized())
                """)
        }
    }
}
