import Foundation
import GRDB
import GRDBSQLite
public import LedgerCore

/// What applying allocation rules to a period did (or, for `rules test`, would do).
public struct AllocationSummary: Sendable, Hashable {
    /// What one rule matched and moved.
    public struct RuleEffect: Sendable, Hashable {
        public var id: String
        /// Requests the rule's condition matched while it was in force.
        public var matchedRequests: Int64
        public var matchedCost: Cost
        /// Requests and cost whose dimensions this rule changed.
        public var movedRequests: Int64
        public var movedCost: Cost
    }

    /// Spend that changed owner on one dimension.
    public struct Move: Sendable, Hashable {
        public var dimension: AttributionDimension
        /// The recorded value; `""` is unallocated.
        public var from: String
        public var to: String
        public var requests: Int64
        public var cost: Cost
    }

    public var period: BillingPeriod
    /// Whether the rules read per-event fields (results kept per event, reports read raw events).
    public var eventLevel: Bool
    public var requests: Int64 = 0
    public var cost = Cost.zero
    /// Requests and cost whose dimensions the rules changed.
    public var movedRequests: Int64 = 0
    public var movedCost = Cost.zero
    public var rules: [RuleEffect] = []
    public var moves: [Move] = []
    /// Cost still unallocated after the rules, per allocatable dimension.
    public var unallocated: [AttributionDimension: Cost] = [:]
}

extension AllocationSummary {
    /// The summary as JSON (the CLI's `--format json` and the admin API).
    public func json() -> OrderedJSON {
        let summary = self
        func money(_ cost: Cost) -> OrderedJSON { .string(cost.decimalString) }
        return .object([
            ("period", .string(summary.period.description)),
            ("event_level", .bool(summary.eventLevel)),
            ("requests", .integer(summary.requests)),
            ("cost_usd", money(summary.cost)),
            ("moved_requests", .integer(summary.movedRequests)),
            ("moved_cost_usd", money(summary.movedCost)),
            (
                "rules",
                .array(
                    summary.rules.map { rule in
                        .object([
                            ("id", .string(rule.id)), ("matched_requests", .integer(rule.matchedRequests)),
                            ("matched_cost_usd", money(rule.matchedCost)),
                            ("moved_requests", .integer(rule.movedRequests)),
                            ("moved_cost_usd", money(rule.movedCost)),
                        ])
                    })
            ),
            (
                "moves",
                .array(
                    summary.moves.map { move in
                        .object([
                            ("dimension", .string(move.dimension.rawValue)), ("from", .string(move.from)),
                            ("to", .string(move.to)), ("requests", .integer(move.requests)),
                            ("cost_usd", money(move.cost)),
                        ])
                    })
            ),
            (
                "unallocated_usd",
                .object(
                    AllocationRule.targets.map { ($0.rawValue, money(summary.unallocated[$0] ?? .zero)) })
            ),
        ])
    }

}

/// A dimension set's values as an allocation subject (per-event fields are absent).
private struct SetSubject: AllocationSubject {
    let values: [String]
    var user: String?
    var session: String?
    var region: String?
    var tags: [String: String] = [:]

    func value(of field: ReportDimension) -> String? {
        switch field {
        case .region: return region
        case .tag(let key): return tags[key]
        case .attribution(.user): return user
        case .attribution(.session): return session
        default:
            guard let index = SQLiteSchema.mainDimensions.firstIndex(of: field.name) else { return nil }
            let value = values[index]
            return value.isEmpty ? nil : value
        }
    }
}

extension SQLiteLedger {
    // MARK: - Rule sets

    /// Stores a new version of the allocation rules; returns its version number.
    public func saveAllocationRules(_ rules: AllocationRuleSet, at time: Timestamp) async throws -> Int {
        if let problem = rules.problem() { throw LedgerStoreError("The allocation rules are not usable: \(problem).") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let document = String(decoding: try encoder.encode(rules), as: UTF8.self)
        return try await pool.write { db in
            if let current = try Row.fetchOne(
                db, sql: "SELECT version, document FROM allocation_rule_sets ORDER BY version DESC LIMIT 1"),
                (current["document"] as String) == document
            {
                return current["version"]
            }
            try db.execute(
                sql: "INSERT INTO allocation_rule_sets (document, created_at) VALUES (?, ?)",
                arguments: [document, time.microseconds])
            return Int(db.lastInsertedRowID)
        }
    }

    /// The newest allocation rules and their version; `nil` when none were ever saved.
    public func allocationRules() async throws -> (version: Int, rules: AllocationRuleSet)? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT version, document FROM allocation_rule_sets ORDER BY version DESC LIMIT 1")
            else { return nil }
            let rules = try JSONDecoder().decode(AllocationRuleSet.self, from: Data((row["document"] as String).utf8))
            return (row["version"], rules)
        }
    }

    // MARK: - Applying rules

    /// Applies `rules` to every event of `period`, replacing the period's previous allocation.
    /// Running it again with the same rules changes nothing. Events are never edited: reports join
    /// each event to the set its allocation gives it.
    public func allocate(
        period: BillingPeriod, rules: AllocationRuleSet, version: Int, at time: Timestamp
    ) async throws -> AllocationSummary {
        try await pool.write { db in
            if try Self.closedPeriod(db, period) != nil {
                throw LedgerStoreError(
                    "\(period) is closed: its statements are issued and its allocation is locked. Late events go to the next open period's adjustments."
                )
            }
            return try Self.runAllocation(db, period: period, rules: rules, version: version, write: true, at: time)
        }
    }

    /// What applying `rules` to `period` would do, without writing anything (`tokenledger rules test`).
    public func previewAllocation(period: BillingPeriod, rules: AllocationRuleSet) async throws -> AllocationSummary {
        try await pool.read { db in
            try Self.runAllocation(
                db, period: period, rules: rules, version: 0, write: false, at: .init(microseconds: 0))
        }
    }

    /// Applies the saved rules to `period` when it is open and was allocated with another version
    /// (or never): what a statement of the month must be based on. Returns whether it ran.
    @discardableResult
    public func allocateIfStale(period: BillingPeriod, at time: Timestamp) async throws -> Bool {
        guard try closedPeriods()[period] == nil, let (version, rules) = try await allocationRules(),
            try await allocationRun(period: period)?.version != version
        else { return false }
        _ = try await allocate(period: period, rules: rules, version: version, at: time)
        return true
    }

    /// The newest allocation run of `period`: its rule version and when it ran.
    public func allocationRun(period: BillingPeriod) async throws -> (version: Int, ranAt: Timestamp)? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT rule_version, ran_at FROM allocation_runs WHERE period_start = ?",
                arguments: [period.start.seconds]
            ).map { ($0["rule_version"], Timestamp(microseconds: $0["ran_at"])) }
        }
    }

    private struct Figures {
        var requests: Int64 = 0
        var cost = Cost.zero
        mutating func add(requests: Int64, cost: Cost) {
            self.requests += requests
            self.cost += cost
        }
    }

    /// The engine behind `allocate` and `previewAllocation`.
    private static func runAllocation(
        _ db: Database, period: BillingPeriod, rules: AllocationRuleSet, version: Int, write: Bool, at time: Timestamp
    ) throws -> AllocationSummary {
        // Segments: the period cut where a rule starts or stops, so one evaluation holds per segment.
        let cuts = [period.start] + rules.boundaries(from: period.start, to: period.end) + [period.end]
        let segments = (0..<(cuts.count - 1)).map { (cuts[$0], cuts[$0 + 1]) }
        func segment(ofSeconds seconds: Int64) -> Int {
            var index = 0
            while index + 1 < segments.count, segments[index + 1].0.seconds <= seconds { index += 1 }
            return index
        }
        var setValues: [Int64: [String]] = [:]
        let sets = try Row.fetchCursor(
            db,
            sql:
                "SELECT id, \(SQLiteSchema.mainDimensions.map(SQLiteSchema.quoted).joined(separator: ", ")) FROM dimension_sets"
        )
        while let row = try sets.next() { setValues[row[0]] = (1...SQLiteSchema.mainDimensions.count).map { row[$0] } }

        var summary = AllocationSummary(period: period, eventLevel: rules.readsEventFields)
        var ruleFigures: [String: (matched: Figures, moved: Figures)] = [:]
        var moves: [AllocationSummary.Move: Figures] = [:]
        var unallocated: [AttributionDimension: Cost] = [:]
        var allocatedSetIDs: [[String]: Int64] = [:]

        /// The values after an outcome.
        func applied(_ values: [String], _ outcome: AllocationOutcome?) -> [String] {
            guard let outcome else { return values }
            var result = values
            for (dimension, value) in outcome.assignments {
                result[SQLiteSchema.mainDimensions.firstIndex(of: dimension.rawValue)!] = value
            }
            return result
        }
        func setID(_ values: [String]) throws -> Int64 {
            if let known = allocatedSetIDs[values] { return known }
            let id = try SQLiteLedger.dimensionSetID(DimensionSet(values: values), db: db)
            allocatedSetIDs[values] = id
            return id
        }
        func count(_ subject: SetSubject, outcome: AllocationOutcome?, at instant: Timestamp, figures: Figures) {
            summary.requests += figures.requests
            summary.cost += figures.cost
            for rule in rules.rules where rule.applies(at: instant) && rule.when.matches(subject) {
                ruleFigures[rule.id, default: (Figures(), Figures())].matched.add(
                    requests: figures.requests, cost: figures.cost)
            }
            if let outcome {
                summary.movedRequests += figures.requests
                summary.movedCost += figures.cost
                for id in outcome.rules {
                    ruleFigures[id, default: (Figures(), Figures())].moved.add(
                        requests: figures.requests, cost: figures.cost)
                }
                for (dimension, value) in outcome.assignments {
                    let move = AllocationSummary.Move(
                        dimension: dimension, from: subject.value(of: .attribution(dimension)) ?? "", to: value,
                        requests: 0, cost: .zero)
                    moves[move, default: Figures()].add(requests: figures.requests, cost: figures.cost)
                }
            }
            for dimension in AllocationRule.targets
            where (outcome?.assignments[dimension] ?? subject.value(of: .attribution(dimension)) ?? "").isEmpty {
                unallocated[dimension, default: .zero] += figures.cost
            }
        }

        // Per dimension set and segment, from the day rollups (rule windows are whole days, so a
        // segment never splits a day).
        var perSet: [Int64: [Int: Figures]] = [:]
        let rows = try Row.fetchCursor(
            db,
            sql:
                "SELECT dimension_set, bucket, requests, cost_micro, cost_pico_rem FROM rollup_day WHERE bucket >= ? AND bucket < ?",
            arguments: [period.start.seconds, period.end.seconds])
        while let row = try rows.next() {
            let cost = Cost(picodollars: Int128(row[3] as Int64) * 1_000_000 + Int128(row[4] as Int64))
            perSet[row[0], default: [:]][segment(ofSeconds: row[1]), default: Figures()].add(
                requests: row[2], cost: cost)
        }
        struct SetSegment: Hashable {
            var set: Int64
            var segment: Int
        }
        var setOutcomes: [SetSegment: AllocationOutcome?] = [:]
        var setRows: [(SetSegment, Int64, String)] = []
        for (set, bySegment) in perSet {
            guard let values = setValues[set] else { continue }
            for (index, figures) in bySegment {
                let instant = segments[index].0
                let subject = SetSubject(values: values)
                let outcome = rules.allocate(subject, at: instant)
                setOutcomes[SetSegment(set: set, segment: index)] = outcome
                if !summary.eventLevel { count(subject, outcome: outcome, at: instant, figures: figures) }
                if write, let outcome {
                    setRows.append(
                        (
                            SetSegment(set: set, segment: index), try setID(applied(values, outcome)),
                            outcome.rules.joined(separator: ",")
                        ))
                }
            }
        }

        // Per event, when a rule reads tags, users, sessions or regions.
        var eventRows: [(Int64, Int64, String)] = []
        var staleEvents: [Int64] = []
        if summary.eventLevel {
            let sql = """
                SELECT r.seq, r.ts, r.dimension_set, r."user", r.session, r.region, r.tags, r.requests, r.cost_pico,
                    ae.allocated_set, ae.rule
                FROM event_zones z JOIN events r ON r.seq BETWEEN z.first_seq AND z.last_seq
                LEFT JOIN allocation_events ae ON ae.seq = r.seq
                WHERE z.max_ts >= ? AND z.min_ts < ? AND r.ts >= ? AND r.ts < ?
                """
            let statement = try db.makeStatement(sql: sql)
            try statement.setArguments([
                period.start.microseconds, period.end.microseconds, period.start.microseconds, period.end.microseconds,
            ])
            let raw = statement.sqliteStatement
            defer { sqlite3_reset(raw) }
            struct MemoKey: Hashable {
                var set: Int64
                var segment: Int
                var fields: UInt64
            }
            var memo: [MemoKey: Int] = [:]
            var entries:
                [(
                    subject: SetSubject, outcome: AllocationOutcome?, segment: Int, allocated: Int64?, rule: String,
                    figures: Figures
                )] = []
            let fields = rules.eventFields
            let readsUser = fields.contains(.attribution(.user))
            let readsSession = fields.contains(.attribution(.session))
            let readsRegion = fields.contains(.region)
            let readsTags = fields.contains { if case .tag = $0 { true } else { false } }
            func sameText(_ column: Int32, _ expected: String) -> Bool {
                let count = Int(sqlite3_column_bytes(raw, column))
                guard count > 0, let pointer = sqlite3_column_text(raw, column) else { return expected.isEmpty }
                var expected = expected
                return expected.withUTF8 { $0.count == count && memcmp($0.baseAddress!, pointer, count) == 0 }
            }
            func text(_ column: Int32) -> String {
                guard let pointer = sqlite3_column_text(raw, column) else { return "" }
                return String(cString: pointer)
            }
            while true {
                let code = sqlite3_step(raw)
                if code == SQLITE_DONE { break }
                guard code == SQLITE_ROW else {
                    throw LedgerStoreError(
                        "Cannot read events: \(String(cString: sqlite3_errmsg(db.sqliteConnection)))")
                }
                let seq = sqlite3_column_int64(raw, 0)
                let seconds = sqlite3_column_int64(raw, 1) / 1_000_000
                let set = sqlite3_column_int64(raw, 2)
                // Only the fields some rule reads go into the key (sessions are nearly unique per
                // event; users, regions and tags repeat). The key hashes the column bytes in place
                // (64-bit FNV-1a; two distinct field values would have to collide to share a result).
                var hash = FNV1a.basis
                for (column, wanted) in [(Int32(3), readsUser), (4, readsSession), (5, readsRegion), (6, readsTags)]
                where wanted {
                    if let pointer = sqlite3_column_text(raw, column) {
                        let count = Int(sqlite3_column_bytes(raw, column))
                        hash = FNV1a.hash(UnsafeBufferPointer(start: pointer, count: count), startingFrom: hash)
                    }
                    hash = (hash ^ 0xFF) &* 0x0000_0100_0000_01B3
                }
                let figures = Figures(
                    requests: sqlite3_column_int64(raw, 7),
                    cost: Cost(picodollars: Int128(sqlite3_column_int64(raw, 8))))
                let index = segment(ofSeconds: seconds)
                let key = MemoKey(set: set, segment: index, fields: hash)
                let position: Int
                if let known = memo[key] {
                    position = known
                } else {
                    guard let values = setValues[set] else { continue }
                    let (user, session, region, tags) = (text(3), text(4), text(5), text(6))
                    var subject = SetSubject(values: values)
                    subject.user = user.isEmpty ? nil : user
                    subject.session = session.isEmpty ? nil : session
                    subject.region = region.isEmpty ? nil : region
                    if !tags.isEmpty {
                        subject.tags = (try? JSONDecoder().decode([String: String].self, from: Data(tags.utf8))) ?? [:]
                    }
                    let outcome = rules.allocate(subject, at: segments[index].0)
                    let setLevel = setOutcomes[SetSegment(set: set, segment: index)] ?? nil
                    var allocated: Int64?
                    if write, outcome?.assignments != setLevel?.assignments {
                        allocated = try setID(applied(subject.values, outcome))
                    }
                    position = entries.count
                    entries.append(
                        (subject, outcome, index, allocated, outcome?.rules.joined(separator: ",") ?? "", Figures()))
                    memo[key] = position
                }
                entries[position].figures.add(requests: figures.requests, cost: figures.cost)
                // Write only what changes: a re-run with the same rules writes nothing per event.
                let existing: Int64? =
                    sqlite3_column_type(raw, 9) == SQLITE_NULL ? nil : sqlite3_column_int64(raw, 9)
                if let allocated = entries[position].allocated {
                    if existing != allocated || !sameText(10, entries[position].rule) {
                        eventRows.append((seq, allocated, entries[position].rule))
                    }
                } else if existing != nil {
                    staleEvents.append(seq)
                }
            }
            // Figures per distinct subject, not per event.
            for entry in entries {
                count(entry.subject, outcome: entry.outcome, at: segments[entry.segment].0, figures: entry.figures)
            }
        }

        summary.rules = rules.rules.map { rule in
            let figures = ruleFigures[rule.id] ?? (Figures(), Figures())
            return AllocationSummary.RuleEffect(
                id: rule.id, matchedRequests: figures.matched.requests, matchedCost: figures.matched.cost,
                movedRequests: figures.moved.requests, movedCost: figures.moved.cost)
        }
        summary.moves = moves.map { move, figures in
            var move = move
            move.requests = figures.requests
            move.cost = figures.cost
            return move
        }.sorted { ($0.cost, $0.dimension.rawValue, $0.from, $0.to) > ($1.cost, $1.dimension.rawValue, $1.from, $1.to) }
        summary.unallocated = unallocated
        guard write else { return summary }

        // Replace the period's previous results.
        try db.execute(
            sql: "DELETE FROM allocation_sets WHERE period_start >= ? AND period_start < ?",
            arguments: [period.start.seconds, period.end.seconds])
        if summary.eventLevel {
            let delete = try db.makeStatement(sql: "DELETE FROM allocation_events WHERE seq = ?")
            for seq in staleEvents { try delete.execute(arguments: [seq]) }
        } else if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM allocation_events)") == true {
            // Rules no longer read per-event fields: drop the period's per-event results.
            try db.execute(
                sql: """
                    DELETE FROM allocation_events WHERE seq IN (SELECT r.seq FROM event_zones z
                        JOIN events r ON r.seq BETWEEN z.first_seq AND z.last_seq
                        WHERE z.max_ts >= ? AND z.min_ts < ? AND r.ts >= ? AND r.ts < ?)
                    """,
                arguments: [
                    period.start.microseconds, period.end.microseconds, period.start.microseconds,
                    period.end.microseconds,
                ])
        }
        let insertSet = try db.makeStatement(
            sql:
                "INSERT INTO allocation_sets (source_set, period_start, period_end, allocated_set, rule) VALUES (?, ?, ?, ?, ?)"
        )
        for (key, allocated, rule) in setRows {
            let (start, end) = segments[key.segment]
            try insertSet.execute(arguments: [key.set, start.seconds, end.seconds, allocated, rule])
        }
        if !eventRows.isEmpty {
            let statement = try db.makeStatement(
                sql: "INSERT OR REPLACE INTO allocation_events (seq, allocated_set, rule) VALUES (?, ?, ?)")
            var binder = Binder(statement: statement.sqliteStatement)
            for (seq, allocated, rule) in eventRows {
                binder.reset()
                binder.bind(seq)
                binder.bind(allocated)
                binder.bind(rule)
                guard sqlite3_step(binder.statement) == SQLITE_DONE else {
                    throw LedgerStoreError(
                        "Cannot record the allocation: \(String(cString: sqlite3_errmsg(db.sqliteConnection)))")
                }
            }
            binder.reset()
        }
        let summaryText =
            "{\"requests\":\(summary.requests),\"cost\":\"\(summary.cost.decimalString)\",\"moved_requests\":\(summary.movedRequests),\"moved_cost\":\"\(summary.movedCost.decimalString)\"}"
        try db.execute(
            sql: """
                INSERT INTO allocation_runs (period_start, period_end, rule_version, ran_at, event_level, summary)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (period_start) DO UPDATE SET rule_version = excluded.rule_version,
                    ran_at = excluded.ran_at, event_level = excluded.event_level, summary = excluded.summary
                """,
            arguments: [
                period.start.seconds, period.end.seconds, version, time.microseconds, summary.eventLevel ? 1 : 0,
                summaryText,
            ])
        return summary
    }

    // MARK: - Closed periods

    /// When `period` was closed and the last event sequence number it holds; `nil` while open.
    static func closedPeriod(_ db: Database, _ period: BillingPeriod) throws -> (
        closedAt: Timestamp, lastSequence: Int64
    )? {
        try Row.fetchOne(
            db, sql: "SELECT closed_at, last_seq FROM closed_periods WHERE period_start = ?",
            arguments: [period.start.seconds]
        ).map { (Timestamp(microseconds: $0["closed_at"]), $0["last_seq"]) }
    }
}
