import GRDB

/// The ledger's tables. Migrations are append-only: never edit one that has shipped.
///
/// Events are narrow: the low-cardinality dimensions (provider, model, team, feature, …) are
/// stored once in `dimension_sets` and referenced by id, so rows stay small and rollups are keyed
/// by integers.
enum SQLiteSchema {
    /// The dimensions of a dimension set, in column order.
    static let mainDimensions = [
        "provider", "model", "source", "service_tier", "outcome", "organisation", "team", "project", "application",
        "feature",
        "customer", "cost_centre", "environment",
    ]
    /// Extra keys of the per-user, per-session day rollup (also columns of `events`).
    static let actorDimensions = ["user", "session"]

    static let tokenColumns = [
        "input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning", "audio_input", "audio_output",
        "image_input", "image_output", "embedding",
    ]

    static let metricColumns =
        ["requests", "unpriced", "failed", "retried", "cancelled", "estimated"] + tokenColumns
        + [
            "gpu_us", "storage_byte_hours", "cost_micro", "cost_pico_rem", "wasted_micro", "wasted_pico_rem",
            "latency_ms_sum", "latency_count",
        ]

    static func quoted(_ name: String) -> String { "\"" + name + "\"" }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-events-and-rollups") { db in
            let dimensionColumns = mainDimensions.map { "\(quoted($0)) TEXT NOT NULL" }.joined(separator: ", ")
            try db.execute(
                sql: """
                    CREATE TABLE dimension_sets (
                        id INTEGER PRIMARY KEY,
                        \(dimensionColumns),
                        CHECK (provider <> ''),
                        CHECK (service_tier IN ('standard','batch','flex','priority')),
                        CHECK (outcome IN ('ok','error','retried','cancelled','estimated')),
                        UNIQUE (\(mainDimensions.map(quoted).joined(separator: ", ")))
                    )
                    """)
            let tokenChecks = tokenColumns.map { "\(quoted($0)) INTEGER NOT NULL DEFAULT 0 CHECK (\(quoted($0)) >= 0)" }
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE CHECK (id <> ''),
                        ts INTEGER NOT NULL,
                        dimension_set INTEGER NOT NULL REFERENCES dimension_sets(id),
                        "user" TEXT NOT NULL DEFAULT '',
                        session TEXT NOT NULL DEFAULT '',
                        region TEXT NOT NULL DEFAULT '',
                        resolved_model TEXT,
                        latency_ms INTEGER CHECK (latency_ms IS NULL OR latency_ms >= 0),
                    requests INTEGER NOT NULL DEFAULT 1 CHECK (requests >= 0),
                    long_context INTEGER CHECK (long_context IS NULL OR long_context IN (0, 1)),
                        \(tokenChecks.joined(separator: ",\n"))
                        , gpu_seconds INTEGER NOT NULL DEFAULT 0 CHECK (gpu_seconds >= 0),
                        storage_byte_hours INTEGER NOT NULL DEFAULT 0 CHECK (storage_byte_hours >= 0),
                        tags TEXT,
                        cost_pico INTEGER NOT NULL,
                        priced INTEGER NOT NULL CHECK (priced IN (0, 1))
                    )
                    """)
            // Instead of an index on ts, a zone map: each recorded batch's rowid range and time
            // span. A time range reads the rowid ranges of the zones it overlaps and filters on ts.
            try db.execute(
                sql: """
                    CREATE TABLE event_zones (
                        first_seq INTEGER PRIMARY KEY,
                        last_seq INTEGER NOT NULL CHECK (last_seq >= first_seq),
                        min_ts INTEGER NOT NULL,
                        max_ts INTEGER NOT NULL CHECK (max_ts >= min_ts)
                    )
                    """)
            try db.execute(sql: "CREATE INDEX event_zones_by_time ON event_zones(max_ts, min_ts)")
            // v1 named the GPU column gpu_seconds (renamed by v6).
            let metrics = metricColumns.map {
                "\(quoted($0 == "gpu_us" ? "gpu_seconds" : $0)) INTEGER NOT NULL DEFAULT 0"
            }
            .joined(separator: ", ")
            for table in ["rollup_hour", "rollup_day"] {
                try db.execute(
                    sql: """
                        CREATE TABLE \(table) (bucket INTEGER NOT NULL, dimension_set INTEGER NOT NULL REFERENCES dimension_sets(id), \(metrics),
                            PRIMARY KEY (bucket, dimension_set)) WITHOUT ROWID
                        """)
            }
            try db.execute(
                sql: """
                    CREATE TABLE rollup_day_actor (bucket INTEGER NOT NULL, dimension_set INTEGER NOT NULL REFERENCES dimension_sets(id),
                        "user" TEXT NOT NULL, session TEXT NOT NULL, \(metrics),
                        PRIMARY KEY (bucket, dimension_set, "user", session)) WITHOUT ROWID
                    """)
        }
        migrator.registerMigration("v2-keys-and-budgets") { db in
            try db.execute(
                sql: """
                    CREATE TABLE virtual_keys (
                        id TEXT PRIMARY KEY,
                        name TEXT,
                        secret_prefix TEXT NOT NULL,
                        secret_hash TEXT NOT NULL UNIQUE,
                        organisation TEXT, team TEXT, "user" TEXT, project TEXT, customer TEXT,
                        policy TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        expires_at INTEGER,
                        revoked_at INTEGER
                    );
                    CREATE TABLE budgets (
                        id TEXT PRIMARY KEY,
                        scope TEXT NOT NULL CHECK (scope IN ('key','user','team','project','customer','organisation')),
                        subject TEXT NOT NULL,
                        period TEXT NOT NULL CHECK (period IN ('day','week','month')),
                        limit_pico TEXT NOT NULL,
                        hard INTEGER NOT NULL,
                        action TEXT NOT NULL DEFAULT 'alert',
                        fallback_model TEXT
                    );
                    CREATE TABLE budget_spend (
                        budget_id TEXT NOT NULL,
                        period_start INTEGER NOT NULL,
                        spent_pico TEXT NOT NULL,
                        PRIMARY KEY (budget_id, period_start)
                    ) WITHOUT ROWID;
                    CREATE TABLE budget_holds (
                        request_id TEXT NOT NULL,
                        budget_id TEXT NOT NULL,
                        amount_pico INTEGER NOT NULL CHECK (amount_pico >= 0),
                        expires_at INTEGER NOT NULL,
                        PRIMARY KEY (request_id, budget_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX budget_holds_by_budget ON budget_holds(budget_id, expires_at);
                    CREATE TABLE budget_alerts (
                        budget_id TEXT NOT NULL,
                        period_start INTEGER NOT NULL,
                        percent INTEGER NOT NULL,
                        spent_pico TEXT NOT NULL,
                        at INTEGER NOT NULL,
                        PRIMARY KEY (budget_id, period_start, percent)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v3-billing-lines") { db in
            // Provider bills, kept apart from usage events so a call is never counted twice.
            try db.execute(
                sql: """
                    CREATE TABLE billing_lines (
                        id TEXT PRIMARY KEY CHECK (id <> ''),
                        source TEXT NOT NULL,
                        provider TEXT NOT NULL CHECK (provider <> ''),
                        model TEXT,
                        start_ts INTEGER NOT NULL,
                        end_ts INTEGER NOT NULL CHECK (end_ts >= start_ts),
                        cost_pico TEXT NOT NULL,
                        description TEXT,
                        account TEXT
                    );
                    CREATE INDEX billing_lines_by_provider ON billing_lines(provider, start_ts);
                    """)
        }
        migrator.registerMigration("v4-sync-checkpoints") { db in
            // How far each pull connector (tokenledger sync) has imported complete buckets.
            try db.execute(
                sql: """
                    CREATE TABLE sync_checkpoints (
                        connector TEXT PRIMARY KEY,
                        through_ts INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    )
                    """)
        }
        migrator.registerMigration("v5-chargeback") { db in
            // Allocation rules (versions of one YAML document) and the per-month results of applying
            // them. Events are never edited: a report joins an event's recorded dimension set to the
            // set its period's allocation gives it (per set, or per event for rules that read
            // per-event fields such as tags).
            try db.execute(
                sql: """
                    CREATE TABLE allocation_rule_sets (
                        version INTEGER PRIMARY KEY,
                        document TEXT NOT NULL,
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE allocation_runs (
                        period_start INTEGER PRIMARY KEY,
                        period_end INTEGER NOT NULL CHECK (period_end > period_start),
                        rule_version INTEGER NOT NULL,
                        ran_at INTEGER NOT NULL,
                        event_level INTEGER NOT NULL CHECK (event_level IN (0, 1)),
                        summary TEXT NOT NULL
                    );
                    CREATE TABLE allocation_sets (
                        source_set INTEGER NOT NULL,
                        period_start INTEGER NOT NULL,
                        period_end INTEGER NOT NULL,
                        allocated_set INTEGER NOT NULL REFERENCES dimension_sets(id),
                        rule TEXT NOT NULL,
                        PRIMARY KEY (source_set, period_start)
                    ) WITHOUT ROWID;
                    CREATE TABLE allocation_events (
                        seq INTEGER PRIMARY KEY,
                        allocated_set INTEGER NOT NULL REFERENCES dimension_sets(id),
                        rule TEXT NOT NULL
                    );
                    CREATE TABLE outcomes (
                        id TEXT PRIMARY KEY CHECK (id <> ''),
                        ts INTEGER NOT NULL,
                        feature TEXT NOT NULL CHECK (feature <> ''),
                        customer TEXT NOT NULL DEFAULT '',
                        name TEXT NOT NULL DEFAULT '',
                        count INTEGER NOT NULL CHECK (count >= 0),
                        value_pico TEXT NOT NULL
                    );
                    CREATE INDEX outcomes_by_time ON outcomes(ts);
                    CREATE TABLE closed_periods (
                        period_start INTEGER PRIMARY KEY,
                        period_end INTEGER NOT NULL,
                        closed_at INTEGER NOT NULL,
                        last_seq INTEGER NOT NULL
                    );
                    CREATE TABLE statements (
                        number TEXT PRIMARY KEY,
                        period_start INTEGER NOT NULL,
                        subject TEXT NOT NULL,
                        document TEXT NOT NULL,
                        issued_at INTEGER NOT NULL,
                        UNIQUE (period_start, subject)
                    );
                    """)
        }
        migrator.registerMigration("v6-gpu-microseconds") { db in
            // GPU time to the microsecond, so one call's share of a self-hosted model's GPUs counts.
            for table in ["events", "rollup_hour", "rollup_day", "rollup_day_actor"] {
                try db.execute(sql: "ALTER TABLE \(table) RENAME COLUMN gpu_seconds TO gpu_us")
                try db.execute(sql: "UPDATE \(table) SET gpu_us = gpu_us * 1000000 WHERE gpu_us <> 0")
            }
        }
        return migrator
    }
}
