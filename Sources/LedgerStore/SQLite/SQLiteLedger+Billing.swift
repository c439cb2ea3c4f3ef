import GRDB
public import LedgerCore

extension SQLiteLedger {
    /// Records billing lines in one transaction; a line whose id is already recorded is skipped.
    public func recordBilling(_ lines: [BillingLine]) async throws -> RecordSummary {
        guard !lines.isEmpty else { return RecordSummary() }
        return try await pool.write { db in
            var summary = RecordSummary()
            let statement = try db.makeStatement(
                sql: """
                    INSERT INTO billing_lines (id, source, provider, model, start_ts, end_ts, cost_pico, description, account)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING
                    """)
            for line in lines {
                try statement.execute(arguments: [
                    line.id, line.source, line.provider, line.model, line.start.microseconds, line.end.microseconds,
                    String(line.cost.picodollars), line.description, line.account,
                ])
                if db.changesCount > 0 { summary.inserted += 1 } else { summary.duplicates += 1 }
            }
            return summary
        }
    }

    /// The billing lines of `provider` whose charge period starts in [`from`, `to`).
    public func billingLines(provider: String, from: Timestamp, to: Timestamp) async throws -> [BillingLine] {
        try await pool.read { db in try Self.billingLines(db, provider: provider, from: from, to: to) }
    }

    static func billingLines(_ db: Database, provider: String, from: Timestamp, to: Timestamp) throws
        -> [BillingLine]
    {
        try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM billing_lines WHERE provider = ? AND start_ts >= ? AND start_ts < ? ORDER BY start_ts, id
                """, arguments: [provider, from.microseconds, to.microseconds]
        ).map { row in
            BillingLine(
                id: row["id"], source: row["source"], provider: row["provider"], model: row["model"],
                start: Timestamp(microseconds: row["start_ts"]), end: Timestamp(microseconds: row["end_ts"]),
                cost: Cost(picodollars: Int128(row["cost_pico"] as String) ?? 0), description: row["description"],
                account: row["account"])
        }
    }
}

extension SQLiteLedger {
    /// How far a pull connector (`openai-usage-completions`, …) has imported.
    public func syncCheckpoint(_ connector: String) async throws -> Timestamp? {
        try await pool.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT through_ts FROM sync_checkpoints WHERE connector = ?", arguments: [connector]
            )
            .map(Timestamp.init(microseconds:))
        }
    }

    /// Moves a connector's checkpoint forward (never back).
    public func advanceSyncCheckpoint(_ connector: String, through: Timestamp, at now: Timestamp) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO sync_checkpoints (connector, through_ts, updated_at) VALUES (?, ?, ?)
                    ON CONFLICT(connector) DO UPDATE SET through_ts = max(through_ts, excluded.through_ts),
                        updated_at = excluded.updated_at
                    """, arguments: [connector, through.microseconds, now.microseconds])
        }
    }
}
