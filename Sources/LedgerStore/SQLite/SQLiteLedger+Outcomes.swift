import GRDB
public import LedgerCore

extension SQLiteLedger {
    /// Records outcomes in one transaction; ids already present are skipped.
    public func recordOutcomes(_ outcomes: [BusinessOutcome]) async throws -> RecordSummary {
        guard !outcomes.isEmpty else { return RecordSummary() }
        return try await pool.write { db in
            let statement = try db.makeStatement(
                sql: """
                    INSERT INTO outcomes (id, ts, feature, customer, name, count, value_pico) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO NOTHING
                    """)
            var inserted = 0
            for outcome in outcomes {
                try statement.execute(arguments: [
                    outcome.id, outcome.timestamp.microseconds, outcome.feature, outcome.customer ?? "",
                    outcome.name ?? "", outcome.count, String(outcome.value.picodollars),
                ])
                inserted += db.changesCount
            }
            return RecordSummary(inserted: inserted, duplicates: outcomes.count - inserted)
        }
    }

    /// Outcome counts and value in `[from, to)`, per feature or per customer (`""` for none).
    public func outcomeTotals(
        from: Timestamp, to: Timestamp, by dimension: AttributionDimension
    ) async throws -> [String: (count: Int64, value: Cost)] {
        let column = dimension == .customer ? "customer" : "feature"
        return try await pool.read { db in
            var result: [String: (count: Int64, value: Cost)] = [:]
            let rows = try Row.fetchCursor(
                db, sql: "SELECT \(column), count, value_pico FROM outcomes WHERE ts >= ? AND ts < ?",
                arguments: [from.microseconds, to.microseconds])
            while let row = try rows.next() {
                let key: String = row[0]
                let value = Cost(picodollars: DecimalText.parse(row[2] as String, scale: 0) ?? 0)
                let current = result[key] ?? (0, .zero)
                result[key] = (current.count + (row[1] as Int64), current.value + value)
            }
            return result
        }
    }
}
