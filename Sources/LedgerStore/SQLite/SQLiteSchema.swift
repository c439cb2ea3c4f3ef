import GRDB

/// The ledger's tables. Migrations are append-only: never edit one that has shipped.
enum SQLiteSchema {
    /// Dimensions every rollup is keyed by, in column order.
    static let mainDimensions = [
        "provider", "model", "source", "service_tier", "outcome", "organisation", "team", "project", "application", "feature",
        "customer", "cost_centre", "environment",
    ]
    /// Extra keys of the per-user, per-session day rollup.
    static let actorDimensions = ["user", "session"]

    static let tokenColumns = [
        "input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning", "audio_input", "audio_output",
        "image_input", "image_output", "embedding",
    ]

    static let metricColumns =
        ["requests", "unpriced", "failed", "retried", "cancelled", "estimated"] + tokenColumns
        + ["gpu_seconds", "storage_byte_hours", "cost_micro", "cost_pico_rem", "wasted_micro", "wasted_pico_rem", "latency_ms_sum", "latency_count"]

    static func quoted(_ name: String) -> String { "\"" + name + "\"" }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-events-and-rollups") { db in
            let tokenChecks = tokenColumns.map { "\(quoted($0)) INTEGER NOT NULL DEFAULT 0 CHECK (\(quoted($0)) >= 0)" }
            let dimensionColumns = (["organisation", "team", "user", "project", "application", "feature", "customer", "cost_centre", "session", "environment"])
                .map { "\(quoted($0)) TEXT NOT NULL DEFAULT ''" }
            try db.execute(sql: """
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE CHECK (id <> ''),
                    ts INTEGER NOT NULL,
                    source TEXT NOT NULL,
                    provider TEXT NOT NULL CHECK (provider <> ''),
                    model TEXT NOT NULL,
                    resolved_model TEXT,
                    region TEXT NOT NULL DEFAULT '',
                    service_tier TEXT NOT NULL CHECK (service_tier IN ('standard','batch','flex','priority')),
                    outcome TEXT NOT NULL CHECK (outcome IN ('ok','error','retried','cancelled','estimated')),
                    latency_ms INTEGER CHECK (latency_ms IS NULL OR latency_ms >= 0),
                    \(tokenChecks.joined(separator: ",\n"))
                    , gpu_seconds INTEGER NOT NULL DEFAULT 0 CHECK (gpu_seconds >= 0),
                    storage_byte_hours INTEGER NOT NULL DEFAULT 0 CHECK (storage_byte_hours >= 0),
                    \(dimensionColumns.joined(separator: ",\n")),
                    tags TEXT,
                    cost_pico INTEGER NOT NULL,
                    priced INTEGER NOT NULL CHECK (priced IN (0, 1))
                )
                """)
            try db.execute(sql: "CREATE INDEX events_by_time ON events(ts)")
            let metrics = metricColumns.map { "\(quoted($0)) INTEGER NOT NULL DEFAULT 0" }.joined(separator: ", ")
            for (table, keys) in [
                ("rollup_hour", mainDimensions), ("rollup_day", mainDimensions), ("rollup_day_actor", mainDimensions + actorDimensions),
            ] {
                let keyColumns = keys.map { "\(quoted($0)) TEXT NOT NULL" }.joined(separator: ", ")
                let primaryKey = (["bucket"] + keys).map(quoted).joined(separator: ", ")
                try db.execute(sql: """
                    CREATE TABLE \(table) (bucket INTEGER NOT NULL, \(keyColumns), \(metrics),
                        PRIMARY KEY (\(primaryKey))) WITHOUT ROWID
                    """)
            }
        }
        return migrator
    }
}
