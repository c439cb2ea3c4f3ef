import GRDB
public import LedgerCore

/// Which table answers a report, and how its columns read.
struct ReportSource {
    var table: String
    var dimensions: Set<String>
    /// The bucket in Unix seconds.
    var secondsExpression: String
    var isRaw: Bool
    /// Expressions summed for each of `SQLiteSchema.metricColumns`.
    var metricExpressions: [String]

    static func rollup(_ table: String, dimensions: [String]) -> ReportSource {
        ReportSource(
            table: table, dimensions: Set(dimensions), secondsExpression: "r.bucket", isRaw: false,
            metricExpressions: SQLiteSchema.metricColumns.map { "r." + SQLiteSchema.quoted($0) })
    }

    /// Whether allocation results are joined in: none recorded, per dimension set, or per set and
    /// per event (the raw events only).
    var allocation = AllocationJoin.none

    enum AllocationJoin { case none, sets, events }

    /// The table as `r`; for the raw events, only the rowid ranges of the zones that overlap the
    /// query's time range (the zone map stands in for an index on time). With allocation results
    /// recorded, each row is joined to the set its period's allocation gives it.
    var scanClause: String {
        let scan =
            isRaw
            ? " FROM event_zones z JOIN events r ON r.seq BETWEEN z.first_seq AND z.last_seq"
            : " FROM \(table) r"
        switch allocation {
        case .none: return scan
        case .sets:
            return scan
                + " LEFT JOIN allocation_sets a ON a.source_set = r.dimension_set AND a.period_start <= \(secondsExpression) AND \(secondsExpression) < a.period_end"
        case .events:
            return scan
                + " LEFT JOIN allocation_sets a ON a.source_set = r.dimension_set AND a.period_start <= \(secondsExpression) AND \(secondsExpression) < a.period_end"
                + " LEFT JOIN allocation_events ae ON ae.seq = r.seq"
        }
    }

    /// The dimension set a row counts under: its allocated set when one applies.
    var effectiveSet: String {
        switch allocation {
        case .none: "r.dimension_set"
        case .sets: "COALESCE(a.allocated_set, r.dimension_set)"
        case .events: "COALESCE(ae.allocated_set, a.allocated_set, r.dimension_set)"
        }
    }

    /// The `FROM` clause: the scan, joined to its (allocated) dimension sets as `d`.
    var fromClause: String { scanClause + " JOIN dimension_sets d ON d.id = \(effectiveSet)" }

    static let events: ReportSource = {
        let waste = "d.outcome IN ('error','retried','cancelled')"
        let expressions: [String] =
            [
                "r.requests", "(1 - r.priced)", "(d.outcome = 'error') * r.requests",
                "(d.outcome = 'retried') * r.requests",
                "(d.outcome = 'cancelled') * r.requests",
                "(d.outcome = 'estimated') * r.requests",
            ]
            + SQLiteSchema.tokenColumns.map { "r." + SQLiteSchema.quoted($0) }
            + [
                "r.gpu_us", "r.storage_byte_hours", "(r.cost_pico / 1000000)", "(r.cost_pico % 1000000)",
                "(CASE WHEN \(waste) THEN r.cost_pico / 1000000 ELSE 0 END)",
                "(CASE WHEN \(waste) THEN r.cost_pico % 1000000 ELSE 0 END)",
                "COALESCE(r.latency_ms, 0)", "(r.latency_ms IS NOT NULL)",
            ]
        let dimensions = SQLiteSchema.mainDimensions + SQLiteSchema.actorDimensions + ["region"]
        return ReportSource(
            table: "events", dimensions: Set(dimensions), secondsExpression: "(r.ts / 1000000)", isRaw: true,
            metricExpressions: expressions)
    }()

    static let hour = rollup("rollup_hour", dimensions: SQLiteSchema.mainDimensions)
    static let day = rollup("rollup_day", dimensions: SQLiteSchema.mainDimensions)
    static let dayActor = rollup(
        "rollup_day_actor", dimensions: SQLiteSchema.mainDimensions + SQLiteSchema.actorDimensions)

    /// The time-range condition and its arguments.
    func rangeCondition(_ query: ReportQuery) -> (String, [any DatabaseValueConvertible]) {
        isRaw
            ? (
                "z.max_ts >= ? AND z.min_ts < ? AND r.ts >= ? AND r.ts < ?",
                [query.from.microseconds, query.to.microseconds, query.from.microseconds, query.to.microseconds]
            )
            : ("r.bucket >= ? AND r.bucket < ?", [query.from.seconds, query.to.seconds])
    }

    /// The period start for a granularity, in Unix seconds.
    func periodExpression(_ granularity: Granularity) -> String {
        switch granularity {
        case .hour: "(\(secondsExpression) - (\(secondsExpression) % 3600))"
        case .day: "(\(secondsExpression) - (\(secondsExpression) % 86400))"
        case .month: "CAST(strftime('%s', \(secondsExpression), 'unixepoch', 'start of month') AS INTEGER)"
        }
    }
}

extension ReportDimension {
    /// The column (or expression, with its argument) that holds this dimension.
    var column: (expression: String, argument: (any DatabaseValueConvertible)?) {
        switch self {
        case .tag(let key): ("json_extract(r.tags, ?)", "$.\"\(key.replacing("\"", with: ""))\"")
        default: ((SQLiteSchema.mainDimensions.contains(name) ? "d." : "r.") + SQLiteSchema.quoted(name), nil)
        }
    }

    /// The column name when the dimension is a plain column.
    var columnName: String? {
        if case .tag = self { return nil }
        return name
    }
}

extension SQLiteLedger {
    /// Picks the smallest table that holds every dimension the query needs at its granularity.
    static func plan(_ query: ReportQuery, allocation: ReportSource.AllocationJoin = .none) -> (
        main: ReportSource, distinct: ReportSource
    ) {
        var (main, distinct) = plan(query, eventLevel: allocation == .events)
        main.allocation = main.isRaw ? allocation : (allocation == .none ? .none : .sets)
        distinct.allocation = distinct.isRaw ? allocation : (allocation == .none ? .none : .sets)
        return (main, distinct)
    }

    /// The allocation results a report over `query`'s period must join: event-level results send
    /// every report to the raw events, since rollups are kept per recorded set.
    static func allocationJoin(_ db: Database, query: ReportQuery) throws -> ReportSource.AllocationJoin {
        let level = try Int.fetchOne(
            db,
            sql: "SELECT MAX(event_level) FROM allocation_runs WHERE period_start < ? AND period_end > ?",
            arguments: [query.to.seconds, query.from.seconds])
        switch level {
        case nil: return .none
        case 0: return .sets
        default: return .events
        }
    }

    private static func plan(_ query: ReportQuery, eventLevel: Bool) -> (main: ReportSource, distinct: ReportSource) {
        if eventLevel { return (.events, .events) }
        let needed = Set((query.groupBy + Array(query.filters.keys)).map { $0.columnName ?? "\u{0}tag" })
        let dayAligned = query.from.seconds % 86_400 == 0 && query.to.seconds % 86_400 == 0
        let hourAligned = query.from.seconds % 3_600 == 0 && query.to.seconds % 3_600 == 0
        func fits(_ source: ReportSource) -> Bool { needed.isSubset(of: source.dimensions) }
        let main: ReportSource
        if query.granularity == .hour || !dayAligned {
            main = hourAligned && fits(.hour) ? .hour : .events
        } else if fits(.day) {
            main = .day
        } else if fits(.dayActor) {
            main = .dayActor
        } else {
            main = .events
        }
        let distinct: ReportSource = dayAligned && query.granularity != .hour && fits(.dayActor) ? .dayActor : .events
        return (main, distinct)
    }

    /// Aggregates a period from the rollups (or the raw events when the query needs a dimension
    /// or a time boundary the rollups do not have).
    public func report(_ query: ReportQuery) async throws -> Report {
        guard query.from < query.to else {
            throw LedgerStoreError(
                "The report period is empty: --from \(query.from.iso8601) is not before --to \(query.to.iso8601).")
        }
        return try await pool.read { db in
            let (main, distinct) = SQLiteLedger.plan(
                query, allocation: try SQLiteLedger.allocationJoin(db, query: query))
            let leftOut = try SQLiteLedger.providerReportsToLeaveOut(db, query: query)
            var rows = try SQLiteLedger.aggregate(db, query: query, source: main, leavingOut: Array(leftOut.keys))
            var totals = ReportMetrics()
            for row in rows { totals.add(row.metrics) }
            let counts: [DistinctKey: (users: Int64, sessions: Int64)]
            let totalCounts: (users: Int64, sessions: Int64)
            if query.groupBy.contains(where: { $0.columnName == nil || $0 == .region }) {
                counts = try SQLiteLedger.distinctCounts(db, query: query, source: distinct, grouped: true)
                totalCounts =
                    try SQLiteLedger.distinctCounts(db, query: query, source: distinct, grouped: false).values.first
                    ?? (0, 0)
            } else {
                (counts, totalCounts) = try DistinctCounter.count(db, query: query, source: distinct)
            }
            for index in rows.indices {
                let key = DistinctKey(keys: rows[index].keys, period: rows[index].period)
                rows[index].metrics.users = counts[key]?.users ?? 0
                rows[index].metrics.sessions = counts[key]?.sessions ?? 0
            }
            totals.users = totalCounts.users
            totals.sessions = totalCounts.sessions
            rows = Report.limited(Report.sorted(rows), top: query.top)
            var report = Report(query: query, rows: rows, totals: totals, servedFrom: main.table)
            report.providerReportsLeftOut = leftOut
            return report
        }
    }

    struct DistinctKey: Hashable {
        var keys: [String?]
        var period: Timestamp?
    }

    /// Providers whose own usage reports the query must leave out, with their cost: those that also
    /// have metered events in the period (unless the query asks about sources explicitly).
    static func providerReportsToLeaveOut(_ db: Database, query: ReportQuery) throws -> [String: Cost] {
        if query.filters[.source] != nil || query.groupBy.contains(.source) { return [:] }
        let list = SQLiteLedger.providerReportSources.sorted().map { "'\($0)'" }.joined(separator: ",")
        let start = query.from.seconds - query.from.seconds.positiveRemainder(3_600)
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT d.provider, SUM(r.cost_micro), SUM(r.cost_pico_rem) FROM rollup_hour r
                JOIN dimension_sets d ON d.id = r.dimension_set
                WHERE r.bucket >= ? AND r.bucket < ? AND d.source IN (\(list))
                AND d.provider IN (SELECT d2.provider FROM rollup_hour r2 JOIN dimension_sets d2 ON d2.id = r2.dimension_set
                    WHERE r2.bucket >= ? AND r2.bucket < ? AND d2.source NOT IN (\(list)))
                GROUP BY d.provider
                """,
            arguments: [start, query.to.seconds, start, query.to.seconds])
        var result: [String: Cost] = [:]
        for row in rows {
            result[row[0]] = Cost(picodollars: Int128(row[1] as Int64) * 1_000_000 + Int128(row[2] as Int64))
        }
        return result
    }

    /// `WHERE` and `GROUP BY` parts shared by both queries.
    private static func clauses(
        _ query: ReportQuery, source: ReportSource, grouped: Bool, leavingOut providers: [String] = []
    ) -> (select: [String], whereClause: String, groupBy: String, arguments: [any DatabaseValueConvertible]) {
        var select: [String] = []
        var selectArguments: [any DatabaseValueConvertible] = []
        if grouped {
            for dimension in query.groupBy {
                let column = dimension.column
                select.append(column.expression)
                if let argument = column.argument { selectArguments.append(argument) }
            }
            if let granularity = query.granularity { select.append(source.periodExpression(granularity)) }
        }
        let (range, rangeArguments) = source.rangeCondition(query)
        var conditions = [range]
        var whereArguments = rangeArguments
        for (dimension, value) in query.filters.sorted(by: { $0.key.name < $1.key.name }) {
            let column = dimension.column
            if let argument = column.argument {
                conditions.append("COALESCE(\(column.expression), '') = ?")
                whereArguments.append(argument)
            } else {
                conditions.append("\(column.expression) = ?")
            }
            whereArguments.append(value)
        }
        if !providers.isEmpty {
            let sources = SQLiteLedger.providerReportSources.sorted()
            conditions.append(
                "NOT (d.source IN (\(sources.map { _ in "?" }.joined(separator: ","))) AND d.provider IN (\(providers.map { _ in "?" }.joined(separator: ","))))"
            )
            whereArguments += sources as [any DatabaseValueConvertible]
            whereArguments += providers as [any DatabaseValueConvertible]
        }
        let groupBy =
            grouped && !select.isEmpty ? " GROUP BY " + (1...select.count).map(String.init).joined(separator: ", ") : ""
        return (select, " WHERE " + conditions.joined(separator: " AND "), groupBy, selectArguments + whereArguments)
    }

    /// The first `count` columns as dimension values; `''` (unallocated) becomes `nil`.
    private static func groupKeys(_ row: Row, count: Int) -> [String?] {
        (0..<count).map { index in
            let value: String? = row[index]
            return value.flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    static func aggregate(
        _ db: Database, query: ReportQuery, source: ReportSource, leavingOut providers: [String] = []
    ) throws -> [ReportRow] {
        let parts = clauses(query, source: source, grouped: true, leavingOut: providers)
        let sums = source.metricExpressions.map { "COALESCE(SUM(\($0)), 0)" }
        let sql =
            "SELECT \((parts.select + sums).joined(separator: ", "))\(source.fromClause)\(parts.whereClause)\(parts.groupBy)"
        let keyCount = query.groupBy.count
        let hasPeriod = query.granularity != nil
        var result: [ReportRow] = []
        let cursor = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(parts.arguments))
        while let row = try cursor.next() {
            let keys = groupKeys(row, count: keyCount)
            var column = keyCount
            var period: Timestamp?
            if hasPeriod {
                period = Timestamp(seconds: row[column])
                column += 1
            }
            func next() -> Int64 {
                defer { column += 1 }
                return row[column]
            }
            var metrics = ReportMetrics()
            metrics.requests = next()
            metrics.unpricedEvents = next()
            metrics.failed = next()
            metrics.retried = next()
            metrics.cancelled = next()
            metrics.estimated = next()
            for kind in TokenKind.all { metrics.tokens[kind] = next() }
            metrics.resources.gpuMicroseconds = next()
            metrics.resources.storageByteHours = next()
            let costMicro = next()
            let costRemainder = next()
            let wastedMicro = next()
            let wastedRemainder = next()
            metrics.cost = Cost(picodollars: Int128(costMicro) * 1_000_000 + Int128(costRemainder))
            metrics.wastedCost = Cost(picodollars: Int128(wastedMicro) * 1_000_000 + Int128(wastedRemainder))
            metrics.latencyMillisecondsSum = next()
            metrics.latencyCount = next()
            result.append(ReportRow(keys: keys, period: period, metrics: metrics))
        }
        return result
    }

    static func distinctCounts(
        _ db: Database, query: ReportQuery, source: ReportSource, grouped: Bool
    ) throws -> [DistinctKey: (users: Int64, sessions: Int64)] {
        let parts = clauses(query, source: source, grouped: grouped)
        let counts = ["COUNT(DISTINCT NULLIF(r.\"user\", ''))", "COUNT(DISTINCT NULLIF(r.session, ''))"]
        let sql =
            "SELECT \((parts.select + counts).joined(separator: ", "))\(source.fromClause)\(parts.whereClause)\(parts.groupBy)"
        let keyCount = grouped ? query.groupBy.count : 0
        let hasPeriod = grouped && query.granularity != nil
        var result: [DistinctKey: (users: Int64, sessions: Int64)] = [:]
        let cursor = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(parts.arguments))
        while let row = try cursor.next() {
            let keys = groupKeys(row, count: keyCount)
            let period: Timestamp? = hasPeriod ? Timestamp(seconds: row[keyCount]) : nil
            let base = keyCount + (hasPeriod ? 1 : 0)
            result[DistinctKey(keys: keys, period: period)] = (row[base], row[base + 1])
        }
        return result
    }
}
