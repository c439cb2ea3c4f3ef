/// Where rated usage is kept: append-only, idempotent by event id, with rollups that keep
/// reports off the raw events. SQLite and PostgreSQL implement it in `LedgerStore`.
public protocol Ledger: Sendable {
    /// Records events in one transaction. An id already in the ledger is skipped, so recording
    /// the same event twice counts once.
    func record(_ events: [RatedEvent]) async throws -> RecordSummary

    /// Aggregates spend, tokens and requests for a period.
    func report(_ query: ReportQuery) async throws -> Report

    /// Counts and time span of what is recorded.
    func statistics() async throws -> LedgerStatistics
}

/// What one `record` call did.
public struct RecordSummary: Sendable, Hashable {
    /// Events newly written.
    public var inserted: Int
    /// Events skipped because their id was already recorded.
    public var duplicates: Int

    /// Creates a summary.
    public init(inserted: Int = 0, duplicates: Int = 0) {
        self.inserted = inserted
        self.duplicates = duplicates
    }

    public static func += (lhs: inout RecordSummary, rhs: RecordSummary) {
        lhs.inserted += rhs.inserted
        lhs.duplicates += rhs.duplicates
    }
}

/// Totals over the whole ledger.
public struct LedgerStatistics: Sendable, Hashable {
    /// Events recorded.
    public var events: Int
    /// Of which had no complete price.
    public var unpricedEvents: Int
    /// The earliest event.
    public var first: Timestamp?
    /// The latest event.
    public var last: Timestamp?
    /// Total cost.
    public var cost: Cost

    /// Creates statistics.
    public init(events: Int, unpricedEvents: Int, first: Timestamp?, last: Timestamp?, cost: Cost) {
        self.events = events
        self.unpricedEvents = unpricedEvents
        self.first = first
        self.last = last
        self.cost = cost
    }
}
