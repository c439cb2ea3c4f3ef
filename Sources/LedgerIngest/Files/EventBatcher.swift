import LedgerCore

/// Gathers a file's decoded rows into batches of events and counts them, for importers that
/// read one event (or one error) per line.
struct EventBatcher {
    let batchSize: Int
    var summary = EventFileImporter.Summary()
    private var batch: [UsageEvent] = []

    init(batchSize: Int) {
        self.batchSize = batchSize
        batch.reserveCapacity(batchSize)
    }

    /// Counts a row; returns whether a full batch was handed to `onBatch`.
    @discardableResult
    mutating func take(
        _ outcome: Result<UsageEvent, IngestError>, onBatch: ([UsageEvent]) async throws -> Void,
        onReject: (IngestError) -> Void
    ) async throws -> Bool {
        summary.rows += 1
        switch outcome {
        case .success(let event):
            summary.accepted += 1
            batch.append(event)
        case .failure(let error):
            summary.rejected += 1
            onReject(error)
        }
        guard batch.count >= batchSize else { return false }
        try await onBatch(batch)
        batch.removeAll(keepingCapacity: true)
        return true
    }

    /// Hands over the last batch; returns the counts with the bytes read.
    mutating func finish(bytesRead: Int64, onBatch: ([UsageEvent]) async throws -> Void) async throws
        -> EventFileImporter.Summary
    {
        if !batch.isEmpty { try await onBatch(batch) }
        batch = []
        summary.bytes = bytesRead
        return summary
    }
}
