import Foundation
import GRDB
public import LedgerCore

extension SQLiteLedger {
    /// The columns `decodeEvent` reads, from events as `alias` joined to their sets as `d`.
    static func eventColumns(_ alias: String) -> String {
        let fields = [
            "seq", "id", "ts", "user", "session", "region", "resolved_model", "latency_ms", "requests", "long_context",
            "gpu_us", "storage_byte_hours", "tags", "cost_pico", "priced",
        ]
        return (fields + SQLiteSchema.tokenColumns).map { alias + "." + SQLiteSchema.quoted($0) }
            .joined(separator: ", ") + ", "
            + SQLiteSchema.mainDimensions.map { "d." + SQLiteSchema.quoted($0) }.joined(separator: ", ")
    }

    /// An event as recorded, from a row of `eventColumns` (read by position: this runs once per
    /// event in exports and statements).
    static func decodeEvent(_ row: Row) -> RatedEvent {
        let tokenBase = 15
        let dimensionBase = tokenBase + SQLiteSchema.tokenColumns.count
        var event = UsageEvent(
            id: row[1], timestamp: Timestamp(microseconds: row[2]), source: row[dimensionBase + 2],
            provider: row[dimensionBase], model: row[dimensionBase + 1])
        let region: String = row[5]
        event.region = region.isEmpty ? nil : region
        event.serviceTier = ServiceTier(rawValue: row[dimensionBase + 3]) ?? .standard
        event.outcome = Outcome(rawValue: row[dimensionBase + 4]) ?? .ok
        event.latencyMilliseconds = row[7]
        event.requests = row[8]
        event.longContext = (row[9] as Int64?).map { $0 == 1 }
        event.resources = ResourceUsage(gpuMicroseconds: row[10], storageByteHours: row[11])
        for (offset, kind) in TokenKind.all.enumerated() {
            // TokenKind.all and SQLiteSchema.tokenColumns list the kinds in the same order.
            event.tokens[kind] = row[tokenBase + offset]
        }
        let user: String = row[3]
        let session: String = row[4]
        if !user.isEmpty { event.attribution.user = user }
        if !session.isEmpty { event.attribution.session = session }
        for (offset, name) in SQLiteSchema.mainDimensions.enumerated().dropFirst(5) {
            let value: String = row[dimensionBase + offset]
            if !value.isEmpty, let attribution = AttributionDimension(rawValue: name) {
                event.attribution[attribution] = value
            }
        }
        if let tags: String = row[12],
            let object = try? JSONDecoder().decode([String: String].self, from: Data(tags.utf8))
        {
            event.tags = object
        }
        return RatedEvent(
            event: event, cost: Cost(picodollars: Int128(row[13] as Int64)), priced: row[14],
            resolvedModel: row[6])
    }

    /// The recorded event with id `id` (for the gateway, the request id), or `nil`.
    public func event(id: String) async throws -> RatedEvent? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql:
                    "SELECT \(Self.eventColumns("e")) FROM events e JOIN dimension_sets d ON d.id = e.dimension_set WHERE e.id = ?",
                arguments: [id]
            ).map(Self.decodeEvent)
        }
    }

    /// Calls `body` with every event in `[from, to)` (in no particular order: sorting would cost
    /// SQLite its good plan), with its dimensions as
    /// allocated (see `allocate`) and its sequence number; only the subject's events when one is
    /// given, and only sequence numbers in `(after, through]` when bounds are given. Reads in one
    /// snapshot; blocks the calling thread, so call it from batch work (exports, statements), not
    /// from a server's event loop.
    public func forEachEvent(
        from: Timestamp, to: Timestamp, subject: StatementSubject? = nil, after: Int64? = nil, through: Int64? = nil,
        _ body: (_ sequence: Int64, _ event: RatedEvent) throws -> Void
    ) throws {
        try pool.read { db in
            let query = ReportQuery(from: from, to: to)
            var source = ReportSource.events
            source.allocation = try Self.allocationJoin(db, query: query)
            var (condition, arguments) = source.rangeCondition(query)
            if let subject {
                condition += " AND d.\(SQLiteSchema.quoted(subject.dimension.rawValue)) = ?"
                arguments.append(subject.value)
            }
            if let after {
                condition += " AND r.seq > ?"
                arguments.append(after)
            }
            if let through {
                condition += " AND r.seq <= ?"
                arguments.append(through)
            }
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT \(Self.eventColumns("r"))\(source.fromClause) WHERE \(condition)",
                arguments: StatementArguments(arguments))
            while let row = try cursor.next() { try body(row["seq"], Self.decodeEvent(row)) }
        }
    }
}
