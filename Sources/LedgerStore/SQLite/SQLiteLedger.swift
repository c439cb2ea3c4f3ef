import Foundation
import GRDB
import GRDBSQLite
public import LedgerCore

/// The embedded ledger: one SQLite file in WAL mode, created and migrated on open.
///
/// ```swift
/// let ledger = try SQLiteLedger(path: "tokenledger.sqlite")
/// let summary = try await ledger.record(ratedEvents)
/// ```
public final class SQLiteLedger: Ledger {
    let pool: DatabasePool
    /// The file.
    public let path: String

    /// Opens (creating and migrating if needed) the ledger at `path`.
    ///
    /// - Throws: ``LedgerStoreError`` naming the file when it cannot be opened or migrated.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA cache_size = -65536")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteSchema.migrator.migrate(pool)
        } catch {
            throw LedgerStoreError("Cannot open the ledger '\(path)': \(error). Check the path and that no other program holds it.")
        }
    }

    static let insertSQL: String = {
        let columns = [
            "id", "ts", "source", "provider", "model", "resolved_model", "region", "service_tier", "outcome", "latency_ms",
        ] + SQLiteSchema.tokenColumns + ["gpu_seconds", "storage_byte_hours"]
            + AttributionDimension.allCases.map(\.rawValue) + ["tags", "cost_pico", "priced"]
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ",")
        // Only a repeated id is skipped; a CHECK violation must fail the batch (OR IGNORE would hide it).
        return "INSERT INTO events (\(columns.map(SQLiteSchema.quoted).joined(separator: ","))) VALUES (\(placeholders)) ON CONFLICT(id) DO NOTHING"
    }()

    /// Records events in one transaction; ids already present are skipped, and only new events
    /// reach the rollups.
    public func record(_ events: [RatedEvent]) async throws -> RecordSummary {
        guard !events.isEmpty else { return RecordSummary() }
        for rated in events where rated.cost.picodollars > Int128(Int64.max) || rated.cost.picodollars < Int128(Int64.min) {
            throw LedgerStoreError("Event '\(rated.event.id)' costs \(rated.cost), more than one event can hold ($9.2M); split it.")
        }
        return try await pool.write { db in
            var hour: [RollupKey: RollupAccumulator] = [:]
            var day: [RollupKey: RollupAccumulator] = [:]
            var actor: [RollupKey: RollupAccumulator] = [:]
            var summary = RecordSummary()
            let statement = try db.cachedStatement(sql: SQLiteLedger.insertSQL)
            let raw = statement.sqliteStatement
            var binder = Binder(statement: raw)
            for rated in events {
                let event = rated.event
                binder.reset()
                binder.bind(event.id)
                binder.bind(event.timestamp.microseconds)
                binder.bind(event.source)
                binder.bind(event.provider)
                binder.bind(event.model)
                binder.bind(optional: rated.resolvedModel)
                binder.bind(event.region ?? "")
                binder.bind(event.serviceTier.rawValue)
                binder.bind(event.outcome.rawValue)
                binder.bind(optional: event.latencyMilliseconds)
                for kind in TokenKind.allCases { binder.bind(event.tokens[kind]) }
                binder.bind(event.resources.gpuSeconds)
                binder.bind(event.resources.storageByteHours)
                for dimension in AttributionDimension.allCases { binder.bind(event.attribution[dimension] ?? "") }
                binder.bind(optional: event.tags.isEmpty ? nil : SQLiteLedger.tagsJSON(event.tags))
                binder.bind(Int64(rated.cost.picodollars))
                binder.bind(rated.priced ? Int64(1) : 0)
                let code = sqlite3_step(raw)
                guard code == SQLITE_DONE else {
                    let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
                    sqlite3_reset(raw)
                    throw LedgerStoreError("Cannot record event '\(event.id)': \(message)")
                }
                guard db.changesCount == 1 else {
                    summary.duplicates += 1
                    continue
                }
                summary.inserted += 1
                let dimensions = event.mainDimensionValues
                let seconds = event.timestamp.seconds
                let hourBucket = seconds - seconds.positiveRemainder(3_600)
                let dayBucket = seconds - seconds.positiveRemainder(86_400)
                hour[RollupKey(bucket: hourBucket, dimensions: dimensions), default: RollupAccumulator()].add(rated)
                day[RollupKey(bucket: dayBucket, dimensions: dimensions), default: RollupAccumulator()].add(rated)
                let actorDimensions = dimensions + [event.attribution.user ?? "", event.attribution.session ?? ""]
                actor[RollupKey(bucket: dayBucket, dimensions: actorDimensions), default: RollupAccumulator()].add(rated)
            }
            sqlite3_reset(raw)
            try SQLiteLedger.upsert(hour, into: "rollup_hour", keys: SQLiteSchema.mainDimensions, db: db)
            try SQLiteLedger.upsert(day, into: "rollup_day", keys: SQLiteSchema.mainDimensions, db: db)
            try SQLiteLedger.upsert(actor, into: "rollup_day_actor", keys: SQLiteSchema.mainDimensions + SQLiteSchema.actorDimensions, db: db)
            return summary
        }
    }

    private static func upsert(_ rows: [RollupKey: RollupAccumulator], into table: String, keys: [String], db: Database) throws {
        let columns = ["bucket"] + keys + SQLiteSchema.metricColumns
        let updates = SQLiteSchema.metricColumns.map { "\(SQLiteSchema.quoted($0)) = \(SQLiteSchema.quoted($0)) + excluded.\(SQLiteSchema.quoted($0))" }
        let sql = """
            INSERT INTO \(table) (\(columns.map(SQLiteSchema.quoted).joined(separator: ","))) \
            VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ","))) \
            ON CONFLICT (\((["bucket"] + keys).map(SQLiteSchema.quoted).joined(separator: ","))) DO UPDATE SET \(updates.joined(separator: ", "))
            """
        let statement = try db.cachedStatement(sql: sql)
        let raw = statement.sqliteStatement
        var binder = Binder(statement: raw)
        for (key, accumulator) in rows {
            binder.reset()
            binder.bind(key.bucket)
            for value in key.dimensions { binder.bind(value) }
            for value in accumulator.values { binder.bind(value) }
            guard sqlite3_step(raw) == SQLITE_DONE else {
                let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
                sqlite3_reset(raw)
                throw LedgerStoreError("Cannot update \(table): \(message)")
            }
        }
        sqlite3_reset(raw)
    }

    static func tagsJSON(_ tags: [String: String]) -> String {
        OrderedJSON.object(tags.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).serialized()
    }

    /// Counts and time span of the whole ledger.
    public func statistics() async throws -> LedgerStatistics {
        try await pool.read { db in
            let row = try Row.fetchOne(
                db,
                sql: "SELECT COUNT(*), COALESCE(SUM(1 - priced), 0), MIN(ts), MAX(ts), COALESCE(SUM(cost_pico / 1000000), 0), COALESCE(SUM(cost_pico % 1000000), 0) FROM events"
            )!
            let micro: Int64 = row[4]
            let remainder: Int64 = row[5]
            return LedgerStatistics(
                events: row[0], unpricedEvents: row[1], first: (row[2] as Int64?).map(Timestamp.init(microseconds:)),
                last: (row[3] as Int64?).map(Timestamp.init(microseconds:)),
                cost: Cost(picodollars: Int128(micro) * 1_000_000 + Int128(remainder)))
        }
    }
}

/// Binds values to consecutive parameters of a raw statement, without allocating.
struct Binder {
    let statement: OpaquePointer
    var index: Int32 = 0

    init(statement: OpaquePointer) {
        self.statement = statement
    }

    mutating func reset() {
        sqlite3_reset(statement)
        index = 0
    }

    mutating func bind(_ value: Int64) {
        index += 1
        sqlite3_bind_int64(statement, index, value)
    }

    mutating func bind(_ value: String) {
        index += 1
        var value = value
        value.withUTF8 { buffer in
            if let base = buffer.baseAddress {
                _ = base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { pointer in
                    sqlite3_bind_text(statement, index, pointer, Int32(buffer.count), sqliteTransient)
                }
            } else {
                sqlite3_bind_text(statement, index, "", 0, nil)
            }
        }
    }

    mutating func bind(optional value: String?) {
        if let value { bind(value) } else { bindNull() }
    }

    mutating func bind(optional value: Int64?) {
        if let value { bind(value) } else { bindNull() }
    }

    mutating func bindNull() {
        index += 1
        sqlite3_bind_null(statement, index)
    }
}

/// SQLite's `SQLITE_TRANSIENT`: copy the bound bytes.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension Int64 {
    func positiveRemainder(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
