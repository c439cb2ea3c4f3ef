import LedgerCore

/// One rollup row's key: a time bucket and the main dimensions (plus user and session for the
/// actor rollup).
struct RollupKey: Hashable {
    var bucket: Int64
    var dimensions: [String]
}

/// The figures summed into one rollup row.
struct RollupAccumulator {
    var requests: Int64 = 0
    var unpriced: Int64 = 0
    var failed: Int64 = 0
    var retried: Int64 = 0
    var cancelled: Int64 = 0
    var estimated: Int64 = 0
    var tokens = TokenCounts()
    var gpuSeconds: Int64 = 0
    var storageByteHours: Int64 = 0
    var costPicodollars: Int128 = 0
    var wastedPicodollars: Int128 = 0
    var latencySum: Int64 = 0
    var latencyCount: Int64 = 0

    mutating func add(_ rated: RatedEvent) {
        let event = rated.event
        requests += 1
        if !rated.priced { unpriced += 1 }
        switch event.outcome {
        case .error: failed += 1
        case .retried: retried += 1
        case .cancelled: cancelled += 1
        case .estimated: estimated += 1
        case .ok: break
        }
        tokens += event.tokens
        gpuSeconds += event.resources.gpuSeconds
        storageByteHours += event.resources.storageByteHours
        costPicodollars += rated.cost.picodollars
        if event.outcome.isWaste { wastedPicodollars += rated.cost.picodollars }
        if let latency = event.latencyMilliseconds {
            latencySum += latency
            latencyCount += 1
        }
    }

    /// Values in `SQLiteSchema.metricColumns` order. Money is split into whole microdollars
    /// and a picodollar remainder so SQLite's 64-bit sums cannot overflow.
    var values: [Int64] {
        let costMicro = costPicodollars / 1_000_000
        let wastedMicro = wastedPicodollars / 1_000_000
        return [requests, unpriced, failed, retried, cancelled, estimated]
            + TokenKind.allCases.map { tokens[$0] }
            + [
                gpuSeconds, storageByteHours, Int64(costMicro), Int64(costPicodollars - costMicro * 1_000_000), Int64(wastedMicro),
                Int64(wastedPicodollars - wastedMicro * 1_000_000), latencySum, latencyCount,
            ]
    }
}

extension UsageEvent {
    /// The main rollup dimensions, in `SQLiteSchema.mainDimensions` order.
    var mainDimensionValues: [String] {
        [
            provider, model, source, serviceTier.rawValue, outcome.rawValue, attribution.organisation ?? "", attribution.team ?? "",
            attribution.project ?? "", attribution.application ?? "", attribution.feature ?? "", attribution.customer ?? "",
            attribution.costCentre ?? "", attribution.environment ?? "",
        ]
    }
}
