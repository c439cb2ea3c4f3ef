import CSQLite
public import LedgerCore

/// Rates and records a stream of event batches, overlapping the CPU work of one batch (rating,
/// grouping, rollup pre-aggregation) with the database writes of earlier ones (up to `depth`
/// prepared batches wait). Batches are written in order, one at a time.
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
    /// Batches prepared and waiting for the writer or being written, at most.
    public var depth: Int

    /// Creates a pipeline into a ledger, pricing with a catalog.
    ///
    /// - Parameter depth: how many prepared batches may wait for the writer: more smooths out a
    ///   slow transaction (one that checkpoints the write-ahead log) at the cost of memory.
    public init(ledger: SQLiteLedger, catalog: PriceCatalog, depth: Int = 2) {
        self.ledger = ledger
        self.rater = Rater(catalog: catalog)
        self.depth = max(1, depth)
    }

    /// Makes the process's C allocator keep at most two arenas. A bulk load allocates its batches
    /// on one thread and frees them on others; with an arena per thread, glibc keeps each one's
    /// high-water mark. For commands that load in bulk, before any other thread starts (a later
    /// cap leaves the arenas already made); not for the server.
    public static func useFewMallocArenas() {
        _ = tokenledger_few_malloc_arenas()
    }

    /// Runs `produce`, which calls `submit` with each batch of events; returns when every batch
    /// is recorded. An error from a write or from `produce` ends the run (earlier batches stay
    /// recorded; each batch is one transaction; no batch after a failed one is written).
    ///
    /// - Parameter progress: called after each batch is written, with the running totals.
    public mutating func run(
        progress: @escaping (Summary) -> Void = { _ in },
        _ produce: (_ submit: ([UsageEvent]) async throws -> Void) async throws -> Void
    ) async throws -> Summary {
        var summary = Summary()
        var rater = self.rater
        let ledger = self.ledger
        let depth = self.depth
        // Each write waits for the one before it, so batches are written in order.
        var writes: [Task<RecordSummary, any Error>] = []
        func finishOldest() async throws {
            summary.recorded += try await writes.removeFirst().value
            progress(summary)
        }
        do {
            try await produce { events in
                let prepared = try ledger.prepare(
                    events, ratings: rater.ratings(of: events, unpriced: &summary.unpriced))
                if writes.count >= depth { try await finishOldest() }
                let previous = writes.last
                writes.append(
                    Task {
                        _ = try await previous?.value
                        return try await ledger.record(prepared)
                    })
            }
            while !writes.isEmpty { try await finishOldest() }
        } catch {
            // Let the writes under way end (those after a failed one do not write) before reporting.
            for write in writes { _ = try? await write.value }
            throw error
        }
        self.rater = rater
        return summary
    }
}
