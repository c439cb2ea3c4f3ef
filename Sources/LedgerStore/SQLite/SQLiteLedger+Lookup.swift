import Foundation
import GRDB
public import LedgerCore

extension SQLiteLedger {
    /// The recorded event with id `id` (for the gateway, the request id), or `nil`.
    public func event(id: String) async throws -> RatedEvent? {
        try await pool.read { db in
            let tokenColumns = SQLiteSchema.tokenColumns.map { "e." + SQLiteSchema.quoted($0) }.joined(separator: ", ")
            let dimensions = SQLiteSchema.mainDimensions.map { "d." + SQLiteSchema.quoted($0) }.joined(separator: ", ")
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT e.id, e.ts, e."user", e.session, e.region, e.resolved_model, e.latency_ms, e.requests,
                            e.tags, e.cost_pico, e.priced, \(tokenColumns), \(dimensions)
                        FROM events e JOIN dimension_sets d ON d.id = e.dimension_set WHERE e.id = ?
                        """, arguments: [id])
            else { return nil }
            var event = UsageEvent(
                id: row["id"], timestamp: Timestamp(microseconds: row["ts"]), source: row["source"],
                provider: row["provider"], model: row["model"])
            event.region = (row["region"] as String?).flatMap { $0.isEmpty ? nil : $0 }
            event.serviceTier = ServiceTier(rawValue: row["service_tier"]) ?? .standard
            event.outcome = Outcome(rawValue: row["outcome"]) ?? .ok
            event.latencyMilliseconds = row["latency_ms"]
            event.requests = row["requests"]
            for kind in TokenKind.allCases { event.tokens[kind] = row[kind.rawValue] }
            for dimension in AttributionDimension.allCases {
                let column = dimension.rawValue
                let value: String? = row[column]
                if let value, !value.isEmpty { event.attribution[dimension] = value }
            }
            if let tags: String = row["tags"], let data = tags.data(using: .utf8),
                let object = try? JSONDecoder().decode([String: String].self, from: data)
            {
                event.tags = object
            }
            return RatedEvent(
                event: event, cost: Cost(picodollars: Int128(row["cost_pico"] as Int64)), priced: row["priced"],
                resolvedModel: row["resolved_model"])
        }
    }
}
