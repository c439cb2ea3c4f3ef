import Foundation
import GRDB
public import LedgerCore

extension SQLiteLedger {
    /// The columns `decodeEvent` reads, from events as `alias` joined to their sets as `d`.
    static func eventColumns(_ alias: String) -> String {
        let fields = [
            "seq", "id", "ts", "user", "session", "region", "resolved_model", "latency_ms", "requests", "long_context",
            "gpu_seconds", "storage_byte_hours", "tags", "cost_pico", "priced",
        ]
        return (fields + SQLiteSchema.tokenColumns).map { alias + "." + SQLiteSchema.quoted($0) }
            .joined(separator: ", ") + ", "
            + SQLiteSchema.mainDimensions.map { "d." + SQLiteSchema.quoted($0) }.joined(separator: ", ")
    }

    /// An event as recorded, from a row of `eventColumns`.
    static func decodeEvent(_ row: Row) -> RatedEvent {
        var event = UsageEvent(
            id: row["id"], timestamp: Timestamp(microseconds: row["ts"]), source: row["source"],
            provider: row["provider"], model: row["model"])
        event.region = (row["region"] as String?).flatMap { $0.isEmpty ? nil : $0 }
        event.serviceTier = ServiceTier(rawValue: row["service_tier"]) ?? .standard
        event.outcome = Outcome(rawValue: row["outcome"]) ?? .ok
        event.latencyMilliseconds = row["latency_ms"]
        event.requests = row["requests"]
        event.longContext = (row["long_context"] as Int64?).map { $0 == 1 }
        event.resources = ResourceUsage(gpuSeconds: row["gpu_seconds"], storageByteHours: row["storage_byte_hours"])
        for kind in TokenKind.allCases { event.tokens[kind] = row[kind.rawValue] }
        for dimension in AttributionDimension.allCases {
            let value: String? = row[dimension.rawValue]
            if let value, !value.isEmpty { event.attribution[dimension] = value }
        }
        if let tags: String = row["tags"],
            let object = try? JSONDecoder().decode([String: String].self, from: Data(tags.utf8))
        {
            event.tags = object
        }
        return RatedEvent(
            event: event, cost: Cost(picodollars: Int128(row["cost_pico"] as Int64)), priced: row["priced"],
            resolvedModel: row["resolved_model"])
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

    /// Calls `body` with every event in `[from, to)`, in recording order, with its dimensions as
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
                db, sql: "SELECT \(Self.eventColumns("r"))\(source.fromClause) WHERE \(condition) ORDER BY r.seq",
                arguments: StatementArguments(arguments))
            while let row = try cursor.next() { try body(row["seq"], Self.decodeEvent(row)) }
        }
    }
}
