import GRDB
import GRDBSQLite
import LedgerCore

/// Counts distinct users and sessions for every group of a report, and for its totals, in one
/// scan of the per-user, per-session rows.
///
/// SQLite's `COUNT(DISTINCT …)` keeps a temporary B-tree per group, which takes about a second
/// for a month of ten million events; here dimension sets are mapped to groups once (there are
/// few), and users and sessions are counted as 64-bit hashes of their names in hash sets. Two
/// names would have to share a 64-bit hash to be counted once (about one chance in 10⁷ for a
/// million sessions).
enum DistinctCounter {
    private struct Point: Hashable {
        var dimensionSet: Int64
        var period: Int64
        var user: String?
        var session: String?
    }

    private struct Counter {
        var users = Set<UInt64>()
        var sessions = Set<UInt64>()
    }

    static func count(_ db: Database, query: ReportQuery, source: ReportSource) throws -> (
        groups: [SQLiteLedger.DistinctKey: (users: Int64, sessions: Int64)], totals: (users: Int64, sessions: Int64)
    ) {
        // Dimension sets: their values, and whether they pass the filters on main dimensions.
        var values: [Int64: [String]] = [:]
        let sets = try Row.fetchCursor(
            db,
            sql:
                "SELECT id, \(SQLiteSchema.mainDimensions.map(SQLiteSchema.quoted).joined(separator: ", ")) FROM dimension_sets"
        )
        while let row = try sets.next() {
            values[row[0]] = (1...SQLiteSchema.mainDimensions.count).map { row[$0] }
        }
        let mainFilters = query.filters.compactMap { dimension, value -> (Int, String)? in
            guard let name = dimension.columnName, let position = SQLiteSchema.mainDimensions.firstIndex(of: name)
            else { return nil }
            return (position, value)
        }
        let (range, rangeArguments) = source.rangeCondition(query)
        var conditions = [range]
        var arguments = rangeArguments
        for (dimension, value) in query.filters.sorted(by: { $0.key.name < $1.key.name }) {
            guard let name = dimension.columnName, !SQLiteSchema.mainDimensions.contains(name) else { continue }
            conditions.append("r.\(SQLiteSchema.quoted(name)) = ?")
            arguments.append(value)
        }
        let sql =
            "SELECT \(source.effectiveSet), \(source.secondsExpression), r.\"user\", r.session \(source.scanClause) WHERE \(conditions.joined(separator: " AND "))"
        let statement = try db.makeStatement(sql: sql)
        try statement.setArguments(StatementArguments(arguments))
        let raw = statement.sqliteStatement
        defer { sqlite3_reset(raw) }

        let groupsByUser = query.groupBy.contains(.attribution(.user))
        let groupsBySession = query.groupBy.contains(.attribution(.session))
        var pointGroup: [Point: Int] = [:]
        var groupKeys: [SQLiteLedger.DistinctKey] = []
        var groupIndex: [SQLiteLedger.DistinctKey: Int] = [:]
        var counters: [Counter] = []
        var totals = Counter()
        var passes: [Int64: Bool] = [:]
        var periods: [Int64: Int64] = [:]

        while true {
            let code = sqlite3_step(raw)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                throw LedgerStoreError(
                    "Cannot count users and sessions: \(String(cString: sqlite3_errmsg(db.sqliteConnection)))")
            }
            let dimensionSet = sqlite3_column_int64(raw, 0)
            let allowed: Bool
            if let known = passes[dimensionSet] {
                allowed = known
            } else {
                let setValues = values[dimensionSet] ?? []
                allowed = mainFilters.allSatisfy { position, value in
                    position < setValues.count && setValues[position] == value
                }
                passes[dimensionSet] = allowed
            }
            guard allowed else { continue }
            let userHash = hash(raw, column: 2)
            let sessionHash = hash(raw, column: 3)
            var period: Int64 = 0
            if let granularity = query.granularity {
                let seconds = sqlite3_column_int64(raw, 1)
                if let known = periods[seconds] {
                    period = known
                } else {
                    let instant = Timestamp(seconds: seconds)
                    switch granularity {
                    case .hour: period = instant.startOfHour.seconds
                    case .day: period = instant.startOfDay.seconds
                    case .month: period = instant.startOfMonth.seconds
                    }
                    periods[seconds] = period
                }
            }
            let point = Point(
                dimensionSet: dimensionSet, period: period, user: groupsByUser ? text(raw, column: 2) : nil,
                session: groupsBySession ? text(raw, column: 3) : nil)
            let group: Int
            if let known = pointGroup[point] {
                group = known
            } else {
                let setValues = values[dimensionSet] ?? []
                let keys: [String?] = query.groupBy.map { dimension in
                    let value: String?
                    switch dimension {
                    case .attribution(.user): value = point.user
                    case .attribution(.session): value = point.session
                    default:
                        value = dimension.columnName.flatMap { SQLiteSchema.mainDimensions.firstIndex(of: $0) }.map {
                            setValues[$0]
                        }
                    }
                    return value.flatMap { $0.isEmpty ? nil : $0 }
                }
                let key = SQLiteLedger.DistinctKey(
                    keys: keys, period: query.granularity == nil ? nil : Timestamp(seconds: period))
                if let existing = groupIndex[key] {
                    group = existing
                } else {
                    group = counters.count
                    groupIndex[key] = group
                    groupKeys.append(key)
                    counters.append(Counter())
                }
                pointGroup[point] = group
            }
            if let userHash {
                counters[group].users.insert(userHash)
                totals.users.insert(userHash)
            }
            if let sessionHash {
                counters[group].sessions.insert(sessionHash)
                totals.sessions.insert(sessionHash)
            }
        }
        var result: [SQLiteLedger.DistinctKey: (users: Int64, sessions: Int64)] = [:]
        for (index, key) in groupKeys.enumerated() {
            result[key] = (Int64(counters[index].users.count), Int64(counters[index].sessions.count))
        }
        return (result, (Int64(totals.users.count), Int64(totals.sessions.count)))
    }

    /// FNV-1a of a text column, or `nil` for an empty value.
    private static func hash(_ statement: OpaquePointer, column: Int32) -> UInt64? {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let bytes = sqlite3_column_text(statement, column) else { return nil }
        return FNV1a.hash(UnsafeBufferPointer(start: bytes, count: count))
    }

    private static func text(_ statement: OpaquePointer, column: Int32) -> String? {
        guard let bytes = sqlite3_column_text(statement, column) else { return nil }
        return String(cString: bytes)
    }
}
