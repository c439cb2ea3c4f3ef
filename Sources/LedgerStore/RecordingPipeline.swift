public import LedgerCore

/// Rates and records a stream of event batches, overlapping the CPU work of one batch (rating,
/// grouping, rollup pre-aggregation) with the database write of the previous one. Batches are
/// written in order, one at a time.
///
/// ```swift
/// var pipeline = RecordingPipeline(ledger: ledger, catalog: catalog)
/// let summary = try await pipeline.run { submit in
///     for batch in batches { try await submit(batch) }
/// }
/// ```
public struct RecordingPipeline: Sendable {
    /// What a run recorded.
    public struct Summary: Sendable, Hashable {
        /// New and already-recorded events.
        public var recorded = RecordSummary()
        /// Events without a complete price.
        public var unpriced = 0
    }

    public let ledger: SQLiteLedger
    var rater: Rater

    /// Creates a pipeline into a ledger, pricing with a catalog.
    public init(ledger: SQLiteLedger, catalog: PriceCatalog) {
        self.ledger = ledger
        self.rater = Rater(catalog: catalog)
    }

    /// Runs `produce`, which calls `submit` with each batch of events; returns when every batch
    /// is recorded. An error from a write or from `produce` ends the run (earlier batches stay
    /// recorded; each batch is one transaction).
    ///
    /// - Parameter progress: called after each batch is written, with the running totals.
    public mutating func run(
        progress: @escaping (Summary) -> Void = { _ in },
        _ produce: (_ submit: ([UsageEvent]) async throws -> Void) async throws -> Void
    ) async throws -> Summary {
        var summary = Summary()
        var rater = self.rater
        let ledger = self.ledger
        try await withThrowingTaskGroup(of: RecordSummary.self) { group in
            var inFlight = false
            try await produce { events in
                var rated: [RatedEvent] = []
                rated.reserveCapacity(events.count)
                for event in events {
                    let result = rater.rate(event)
                    if !result.priced { summary.unpriced += 1 }
                    rated.append(result)
                }
                let prepared = try ledger.prepare(rated)
                if inFlight, let written = try await group.next() {
                    summary.recorded += written
                    progress(summary)
                }
                group.addTask { try await ledger.record(prepared) }
                inFlight = true
            }
            while let written = try await group.next() {
                summary.recorded += written
                progress(summary)
            }
        }
        self.rater = rater
        return summary
    }
}
