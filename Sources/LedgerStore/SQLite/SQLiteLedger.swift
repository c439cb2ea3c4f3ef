import CSQLite
import Foundation
import GRDB
import GRDBSQLite
public import LedgerCore
import Synchronization

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
    /// Checkpoints the write-ahead log off the writer's thread (nil if its connection could not
    /// be opened: SQLite's automatic checkpoints then stay on).
    private let checkpointer: WALCheckpointer?

    /// Checkpoints of the write-ahead log run since the ledger was opened (0 when SQLite's own
    /// automatic checkpoints run instead).
    public var checkpoints: Int { checkpointer?.checkpoints ?? 0 }
    /// Dimension sets already in the file, so recording rarely has to look one up. Only ids from
    /// committed transactions are added.
    private let knownDimensionSets = Mutex<[DimensionSet: Int64]>([:])

    /// Opens (creating and migrating if needed) the ledger at `path`.
    ///
    /// - Parameters:
    ///   - cacheMebibytes: SQLite's page cache per connection. Large for imports and reports; the
    ///     gateway, which mostly appends, runs with less to keep its memory flat.
    ///   - checkpointPages: how long the write-ahead log may grow, in pages, before it is copied
    ///     into the database file (a checkpoint). The default, 16,384 pages of 16 KiB (256 MiB),
    ///     means few checkpoints under bulk loads.
    /// - Throws: ``LedgerStoreError`` naming the file when it cannot be opened or migrated.
    public init(path: String, cacheMebibytes: Int = 64, checkpointPages: Int = 16_384) throws {
        _ = SQLiteLedger.configureSQLite
        self.path = path
        let pages = Int32(clamping: max(1, checkpointPages))
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // 16 KiB pages: about a third faster to append to than the 4 KiB default, and better
            // for the range scans reports do. Only takes effect when the file is created.
            try db.execute(sql: "PRAGMA page_size = 16384")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA cache_size = -\(max(1, cacheMebibytes) * 1024)")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // SQLite's own checkpoints, for the writer when the checkpointer below cannot run.
            // Same durability whatever the interval (WAL + synchronous=NORMAL survives process
            // crashes); a longer one means far fewer fsyncs under bulk loads.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(pages)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteSchema.migrator.migrate(pool)
            checkpointer = WALCheckpointer(path: path, threshold: pages)
            if let checkpointer {
                pool.writeWithoutTransaction { db in checkpointer.install(on: db.sqliteConnection!) }
            }
        } catch {
            throw LedgerStoreError(
                "Cannot open the ledger '\(path)': \(error). Check the path and that no other program holds it.")
        }
    }

    /// Done once, before the process opens its first connection: SQLite without a mutex around
    /// every call (GRDB uses each connection from one thread at a time) and without allocation
    /// statistics. About a tenth off the cost of recording an event.
    private static let configureSQLite: Int32 = tokenledger_sqlite_configure()

    /// The SQLite the ledger runs: the copy compiled into the program (`Sources/CSQLite`), not
    /// the system's library.
    public static let sqliteVersion = String(cString: tokenledger_sqlite_version())

    /// The SQLite version a connection of this ledger reports (`SELECT sqlite_version()`).
    public func connectedSQLiteVersion() async throws -> String {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT sqlite_version()") ?? "" }
    }

    static let insertSQL: String = {
        let columns =
            [
                "id", "ts", "dimension_set", "user", "session", "region", "resolved_model", "latency_ms", "requests",
                "long_context",
            ]
            + SQLiteSchema.tokenColumns
            + ["gpu_us", "storage_byte_hours", "tags", "cost_pico", "priced"]
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ",")
        // Only a repeated id is skipped; a CHECK violation must fail the batch (OR IGNORE would hide it).
        return
            "INSERT INTO events (\(columns.map(SQLiteSchema.quoted).joined(separator: ","))) VALUES (\(placeholders)) ON CONFLICT(id) DO NOTHING"
    }()

    /// Records events in one transaction; ids already present are skipped, and only new events
    /// reach the rollups.
    public func record(_ events: [RatedEvent]) async throws -> RecordSummary {
        try await record(prepare(events))
    }

    /// Does the part of recording that needs no database — grouping events by dimension set and
    /// pre-aggregating the rollups — so it can run on the caller's core while the writer records
    /// the previous batch. Pass the result to ``record(_:)-(PreparedBatch)``.
    ///
    /// - Throws: ``LedgerStoreError`` for an event the ledger cannot hold.
    public nonisolated func prepare(_ rated: [RatedEvent]) throws -> PreparedBatch {
        try prepare(rated.map(\.event), ratings: rated.map(\.rating))
    }

    /// ``prepare(_:)-([RatedEvent])`` for events and their ratings kept side by side (`ratings[i]`
    /// is the rating of `events[i]`), which bulk loads use so no event is copied.
    ///
    /// - Throws: ``LedgerStoreError`` for an event the ledger cannot hold.
    public nonisolated func prepare(_ events: [UsageEvent], ratings: [Rating]) throws -> PreparedBatch {
        precondition(events.count == ratings.count, "one rating per event")
        var sets: [DimensionSet] = []
        var positions: [DimensionSet: Int32] = [:]
        var setOfEvent: [Int32] = []
        setOfEvent.reserveCapacity(events.count)
        var hour = RollupGatherer<RollupKey>()
        var actor = RollupGatherer<ActorRollupKey>()
        actor.rows.reserveCapacity(events.count / 4)
        var tags: [String?] = []
        tags.reserveCapacity(events.count)
        // Consecutive events usually share a session, and so their dimensions, hour, day and
        // tags: compare with the previous event before hashing (the gatherers do so too).
        var previousSet: DimensionSet?
        var previousPosition: Int32 = 0
        var previousTags: (tags: [String: String], json: String)?
        // Through buffer pointers, so each event is read in place rather than copied.
        try events.withUnsafeBufferPointer { events in
            try ratings.withUnsafeBufferPointer { ratings in
                for index in events.indices {
                    let event = events.baseAddress! + index
                    let rating = ratings.baseAddress! + index
                    let cost = rating.pointee.cost.picodollars
                    guard cost <= Int128(Int64.max), cost >= Int128(Int64.min) else {
                        throw LedgerStoreError(
                            "Event '\(event.pointee.id)' costs \(rating.pointee.cost), more than one event can hold ($9.2M); split it."
                        )
                    }
                    let position: Int32
                    if let previous = previousSet, previous.matches(event) {
                        position = previousPosition
                    } else {
                        let set = DimensionSet(event)
                        if let known = positions[set] {
                            position = known
                        } else {
                            position = Int32(sets.count)
                            positions[set] = position
                            sets.append(set)
                        }
                        previousSet = set
                    }
                    previousPosition = position
                    setOfEvent.append(position)
                    let figures = RollupAccumulator(event, rating)
                    let keys = rollupKeys(event, dimensionSet: Int64(position))
                    hour.add(figures, at: keys.hour)
                    actor.add(figures, at: keys.actor)
                    if event.pointee.tags.isEmpty {
                        tags.append(nil)
                    } else if let previous = previousTags, previous.tags == event.pointee.tags {
                        tags.append(previous.json)
                    } else {
                        let json = SQLiteLedger.tagsJSON(event.pointee.tags)
                        previousTags = (event.pointee.tags, json)
                        tags.append(json)
                    }
                }
            }
        }
        return PreparedBatch(
            events: events, ratings: ratings, sets: sets, setOfEvent: setOfEvent, tags: tags, hour: hour.finish(),
            actor: actor.finish())
    }

    /// Records a prepared batch in one transaction.
    public func record(_ batch: PreparedBatch) async throws -> RecordSummary {
        try await record(batch, then: nil)
    }

    /// Records a batch and, in the same transaction, runs `then` with the ids newly inserted (not
    /// the duplicates): work that must happen exactly once per event, such as budget settlement.
    func record(_ batch: PreparedBatch, then: (@Sendable (Database, [String]) throws -> Void)?) async throws
        -> RecordSummary
    {
        guard !batch.events.isEmpty else { return RecordSummary() }
        let snapshot = knownDimensionSets.withLock { $0 }
        let (summary, added) = try await pool.write { db in
            var added: [DimensionSet: Int64] = [:]
            var ids: [Int64] = []
            ids.reserveCapacity(batch.sets.count)
            for set in batch.sets {
                if let id = snapshot[set] {
                    ids.append(id)
                } else {
                    let id = try SQLiteLedger.dimensionSetID(set, db: db)
                    added[set] = id
                    ids.append(id)
                }
            }
            var summary = RecordSummary()
            var duplicates: [Int] = []
            var zone: (first: Int64, last: Int64, minimum: Int64, maximum: Int64)?
            let connection = db.sqliteConnection
            let statement = try db.cachedStatement(sql: SQLiteLedger.insertSQL)
            var binder = Binder(statement: statement.sqliteStatement)
            // Through buffer pointers, so each event is read in place rather than copied.
            try batch.events.withUnsafeBufferPointer { events in
                try batch.ratings.withUnsafeBufferPointer { ratings in
                    for index in events.indices {
                        try SQLiteLedger.insert(
                            events.baseAddress! + index, rating: ratings.baseAddress! + index,
                            dimensionSet: ids[Int(batch.setOfEvent[index])], tags: batch.tags[index],
                            binder: &binder, db: db)
                        // SQLite's own calls: GRDB's accessors check the calling queue on every use.
                        if sqlite3_changes(connection) == 1 {
                            summary.inserted += 1
                            let seq = sqlite3_last_insert_rowid(connection)
                            let ts = events[index].timestamp.microseconds
                            if let current = zone {
                                zone = (
                                    min(current.first, seq), max(current.last, seq), min(current.minimum, ts),
                                    max(current.maximum, ts)
                                )
                            } else {
                                zone = (seq, seq, ts, ts)
                            }
                        } else {
                            summary.duplicates += 1
                            duplicates.append(index)
                        }
                    }
                }
            }
            sqlite3_reset(binder.statement)
            if let zone {
                try db.execute(
                    sql: "INSERT INTO event_zones (first_seq, last_seq, min_ts, max_ts) VALUES (?, ?, ?, ?)",
                    arguments: [zone.first, zone.last, zone.minimum, zone.maximum])
            }
            var hour = batch.hour
            var actor = batch.actor
            batch.events.withUnsafeBufferPointer { events in
                batch.ratings.withUnsafeBufferPointer { ratings in
                    for index in duplicates {
                        // Already recorded: take it back out of the rollups.
                        let event = events.baseAddress! + index
                        let figures = RollupAccumulator(event, ratings.baseAddress! + index, sign: -1)
                        let keys = rollupKeys(event, dimensionSet: Int64(batch.setOfEvent[index]))
                        hour[keys.hour]?.add(figures)
                        actor[keys.actor]?.add(figures)
                    }
                }
            }
            var day: [RollupKey: RollupAccumulator] = [:]
            for (key, accumulator) in hour where !accumulator.isZero {
                day[
                    RollupKey(
                        bucket: key.bucket - key.bucket.positiveRemainder(86_400), dimensionSet: key.dimensionSet),
                    default: RollupAccumulator()
                ]
                .add(accumulator)
            }
            func id(_ position: Int64) -> Int64 { ids[Int(position)] }
            try SQLiteLedger.upsert(hour, into: "rollup_hour", keyColumns: ["bucket", "dimension_set"], db: db) {
                key, binder in
                binder.bind(key.bucket)
                binder.bind(id(key.dimensionSet))
            }
            try SQLiteLedger.upsert(day, into: "rollup_day", keyColumns: ["bucket", "dimension_set"], db: db) {
                key, binder in
                binder.bind(key.bucket)
                binder.bind(id(key.dimensionSet))
            }
            try SQLiteLedger.upsert(
                actor, into: "rollup_day_actor", keyColumns: ["bucket", "dimension_set", "user", "session"], db: db
            ) {
                key, binder in
                binder.bind(key.bucket)
                binder.bind(id(key.dimensionSet))
                binder.bind(key.user)
                binder.bind(key.session)
            }
            if let then {
                let duplicateSet = Set(duplicates)
                try then(
                    db, batch.events.indices.filter { !duplicateSet.contains($0) }.map { batch.events[$0].id })
            }
            return (summary, added)
        }
        if !added.isEmpty {
            knownDimensionSets.withLock { $0.merge(added) { current, _ in current } }
        }
        return summary
    }

    /// Inserts one event row (skipped by SQLite when its id is already recorded).
    ///
    /// Takes the event by pointer: a value read out of the batch's storage would be copied first,
    /// a retain and a release of each of its strings per row.
    private static func insert(
        _ event: UnsafePointer<UsageEvent>, rating: UnsafePointer<Rating>, dimensionSet: Int64, tags: String?,
        binder: inout Binder, db: Database
    ) throws {
        binder.reset()
        binder.bind(event.pointee.id)
        binder.bind(event.pointee.timestamp.microseconds)
        binder.bind(dimensionSet)
        binder.bind(event.pointee.attribution.user ?? "")
        binder.bind(event.pointee.attribution.session ?? "")
        binder.bind(event.pointee.region ?? "")
        binder.bind(optional: rating.pointee.resolvedModel)
        binder.bind(optional: event.pointee.latencyMilliseconds)
        binder.bind(event.pointee.requests)
        binder.bind(optional: event.pointee.longContext.map { $0 ? Int64(1) : 0 })
        binder.bind(event.pointee.tokens)
        binder.bind(event.pointee.resources.gpuMicroseconds)
        binder.bind(event.pointee.resources.storageByteHours)
        binder.bind(optional: tags)
        binder.bind(Int64(rating.pointee.cost.picodollars))
        binder.bind(rating.pointee.priced ? Int64(1) : 0)
        guard sqlite3_step(binder.statement) == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(binder.statement)
            throw LedgerStoreError("Cannot record event '\(event.pointee.id)': \(message)")
        }
    }

    /// The id of a dimension set, adding it when new.
    static func dimensionSetID(_ set: DimensionSet, db: Database) throws -> Int64 {
        let columns = SQLiteSchema.mainDimensions.map(SQLiteSchema.quoted)
        let arguments = StatementArguments(set.values)
        if let id = try Int64.fetchOne(
            db, sql: "SELECT id FROM dimension_sets WHERE \(columns.map { "\($0) = ?" }.joined(separator: " AND "))",
            arguments: arguments)
        {
            return id
        }
        do {
            try db.execute(
                sql:
                    "INSERT INTO dimension_sets (\(columns.joined(separator: ","))) VALUES (\(columns.map { _ in "?" }.joined(separator: ",")))",
                arguments: arguments)
        } catch {
            throw LedgerStoreError("Cannot record dimensions \(set.values): \(error)")
        }
        return db.lastInsertedRowID
    }

    private static func upsert<Key>(
        _ rows: [Key: RollupAccumulator], into table: String, keyColumns: [String], db: Database,
        bindKey: (Key, inout Binder) -> Void
    ) throws {
        guard !rows.isEmpty else { return }
        let columns = keyColumns + SQLiteSchema.metricColumns
        let updates = SQLiteSchema.metricColumns.map {
            "\(SQLiteSchema.quoted($0)) = \(SQLiteSchema.quoted($0)) + excluded.\(SQLiteSchema.quoted($0))"
        }
        let sql = """
            INSERT INTO \(table) (\(columns.map(SQLiteSchema.quoted).joined(separator: ","))) \
            VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ","))) \
            ON CONFLICT (\(keyColumns.map(SQLiteSchema.quoted).joined(separator: ","))) DO UPDATE SET \(updates.joined(separator: ", "))
            """
        let statement = try db.cachedStatement(sql: sql)
        let raw = statement.sqliteStatement
        var binder = Binder(statement: raw)
        for (key, accumulator) in rows where !accumulator.isZero {
            binder.reset()
            bindKey(key, &binder)
            accumulator.bind(to: &binder)
            guard sqlite3_step(raw) == SQLITE_DONE else {
                let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
                sqlite3_reset(raw)
                throw LedgerStoreError("Cannot update \(table): \(message)")
            }
        }
        sqlite3_reset(raw)
    }

    /// Tags as a compact JSON object with sorted keys.
    static func tagsJSON(_ tags: [String: String]) -> String {
        if tags.count == 1, let (key, value) = tags.first {
            return "{" + OrderedJSON.quoted(key) + ":" + OrderedJSON.quoted(value) + "}"
        }
        return "{"
            + tags.sorted { $0.key < $1.key }.map { OrderedJSON.quoted($0.key) + ":" + OrderedJSON.quoted($0.value) }
            .joined(separator: ",") + "}"
    }

    /// Counts and time span of the whole ledger.
    public func statistics() async throws -> LedgerStatistics {
        try await pool.read { db in
            let row = try Row.fetchOne(
                db,
                sql:
                    """
                    SELECT COUNT(*), COALESCE(SUM(1 - priced), 0), (SELECT MIN(min_ts) FROM event_zones), \
                    (SELECT MAX(max_ts) FROM event_zones), COALESCE(SUM(cost_pico / 1000000), 0), \
                    COALESCE(SUM(cost_pico % 1000000), 0) FROM events
                    """
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

/// A batch of rated events grouped and pre-aggregated for the writer (see ``SQLiteLedger/prepare(_:)``).
public struct PreparedBatch: Sendable {
    let events: [UsageEvent]
    /// `ratings[i]` rates `events[i]`.
    let ratings: [Rating]
    let sets: [DimensionSet]
    let setOfEvent: [Int32]
    /// Each event's tags as the JSON the ledger stores, or nil.
    let tags: [String?]
    let hour: [RollupKey: RollupAccumulator]
    let actor: [ActorRollupKey: RollupAccumulator]
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
        // Native strings are contiguous UTF-8: bound without copying the String first.
        let bound: Void? = value.utf8.withContiguousStorageIfAvailable { bindText($0) }
        if bound == nil {
            var value = value
            value.withUTF8 { bindText($0) }
        }
    }

    private func bindText(_ buffer: UnsafeBufferPointer<UInt8>) {
        if let base = buffer.baseAddress, !buffer.isEmpty {
            base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { pointer in
                _ = sqlite3_bind_text(statement, index, pointer, Int32(buffer.count), sqliteTransient)
            }
        } else {
            sqlite3_bind_text(statement, index, "", 0, nil)
        }
    }

    /// The token counts, in `SQLiteSchema.tokenColumns` order.
    mutating func bind(_ tokens: TokenCounts) {
        bind(tokens.input)
        bind(tokens.cacheRead)
        bind(tokens.cacheWrite)
        bind(tokens.cacheWrite1h)
        bind(tokens.output)
        bind(tokens.reasoning)
        bind(tokens.audioInput)
        bind(tokens.audioOutput)
        bind(tokens.imageInput)
        bind(tokens.imageOutput)
        bind(tokens.embedding)
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

/// SQLite's `SQLITE_TRANSIENT`: copy the bound bytes. Computed, so each use is a constant rather
/// than a global's lazy initialisation check.
var sqliteTransient: sqlite3_destructor_type { unsafeBitCast(-1, to: sqlite3_destructor_type.self) }

extension Int64 {
    func positiveRemainder(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
