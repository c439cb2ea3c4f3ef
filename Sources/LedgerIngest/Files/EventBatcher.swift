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

    /// Whether the batch is ready to be handed over.
    var isFull: Bool { batch.count >= batchSize }

    /// Counts a good row.
    mutating func add(_ event: consuming UsageEvent) {
        summary.rows += 1
        summary.accepted += 1
        batch.append(event)
    }

    /// Counts a row, good or bad.
    mutating func add(_ outcome: consuming Result<UsageEvent, IngestError>, onReject: (IngestError) -> Void) {
        switch consume outcome {
        case .success(let event): add(event)
        case .failure(let error):
            summary.rows += 1
            summary.rejected += 1
            onReject(error)
        }
    }

    /// Counts a row; returns whether a full batch was handed to `onBatch`.
    @discardableResult
    mutating func take(
        _ outcome: Result<UsageEvent, IngestError>, onBatch: ([UsageEvent]) async throws -> Void,
        onReject: (IngestError) -> Void
    ) async throws -> Bool {
        add(outcome, onReject: onReject)
        guard isFull else { return false }
        try await handOver(onBatch)
        return true
    }

    /// Reads rows with `readRow` (which adds what it reads, and returns false at the end of the
    /// file), handing each full batch to `onBatch` and then calling `afterBatch`. A batch's rows are
    /// read with no suspension point between them.
    mutating func read(
        _ readRow: (inout EventBatcher) throws -> Bool, onBatch: ([UsageEvent]) async throws -> Void,
        afterBatch: (EventFileImporter.Summary) -> Void
    ) async throws {
        while true {
            while !isFull {
                guard try readRow(&self) else { return }
            }
            try await handOver(onBatch)
            afterBatch(summary)
        }
    }

    /// Hands the batch over and starts a new one. The batch leaves rather than being emptied in
    /// place, so the receiver may keep it without a copy.
    private mutating func handOver(_ onBatch: ([UsageEvent]) async throws -> Void) async throws {
        let full = batch
        batch = []
        batch.reserveCapacity(batchSize)
        try await onBatch(full)
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
