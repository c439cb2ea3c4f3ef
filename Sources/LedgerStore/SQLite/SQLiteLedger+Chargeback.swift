import Foundation
import GRDB
public import LedgerCore

/// How one shared-cost pool was split for a period.
public struct PoolSplit: Sendable, Hashable {
    public var pool: SharedPool
    /// The pool's amount in US dollars.
    public var amount: Cost
    /// Each owner's part; the parts sum to `amount` exactly unless nobody was in scope.
    public var shares: [String: Cost]
    /// What no owner took (the whole amount when the scope held no events).
    public var unallocated: Cost { amount - shares.values.reduce(.zero, +) }
}

extension SQLiteLedger {
    /// Event sources that are a provider's own usage reports, not metering (they describe the bill).
    public static let providerReportSources: Set<String> = ["openai-usage", "anthropic-usage"]

    // MARK: - Periods

    /// Closes `period`: its statements are issued from the events recorded so far, and events that
    /// arrive later for it go to the next open period's adjustments. Returns the last sequence
    /// number the period holds.
    public func closePeriod(_ period: BillingPeriod, at time: Timestamp) async throws -> Int64 {
        try await pool.write { db in
            if let closed = try Self.closedPeriod(db, period) {
                throw LedgerStoreError("\(period) was already closed at \(closed.closedAt.iso8601).")
            }
            guard period.end <= time else {
                throw LedgerStoreError("\(period) has not ended yet; a period can be closed once it is over.")
            }
            let last = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0
            try db.execute(
                sql: "INSERT INTO closed_periods (period_start, period_end, closed_at, last_seq) VALUES (?, ?, ?, ?)",
                arguments: [period.start.seconds, period.end.seconds, time.microseconds, last])
            return last
        }
    }

    /// Closed periods and the last sequence number each holds.
    public func closedPeriods() throws -> [BillingPeriod: Int64] {
        try pool.read { db in
            var result: [BillingPeriod: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT period_start, last_seq FROM closed_periods") {
                result[BillingPeriod(containing: Timestamp(seconds: row[0]))] = row[1]
            }
            return result
        }
    }

    // MARK: - FOCUS

    /// The FOCUS 1.2 rows of `period`: every event, as allocated, priced by `catalog`. Blocks the
    /// calling thread (a month's events are read).
    public func focusExport(
        period: BillingPeriod, catalog: PriceCatalog, billingAccountID: String, billingAccountName: String
    ) throws -> FocusExport {
        var export = FocusExport(
            period: period, catalog: catalog, billingAccountID: billingAccountID,
            billingAccountName: billingAccountName)
        try forEachEvent(from: period.start, to: period.end) { _, event in export.add(event) }
        return export
    }

    // MARK: - Statements

    /// A stored statement by number.
    public func storedStatement(number: String) throws -> BillingStatement? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT document FROM statements WHERE number = ?", arguments: [number])
        }.flatMap { try? JSONValue(parsing: Data($0.utf8)) }.flatMap(BillingStatement.init(json:))
    }

    /// Every stored statement of a period, by number.
    public func storedStatements(period: BillingPeriod) throws -> [BillingStatement] {
        try pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT document FROM statements WHERE period_start = ? ORDER BY number",
                arguments: [period.start.seconds])
        }.compactMap { try? JSONValue(parsing: Data($0.utf8)) }.compactMap(BillingStatement.init(json:))
    }

    /// The values of `dimension` that have spend in `period` (the owners to bill).
    public func owners(_ dimension: AttributionDimension, period: BillingPeriod) async throws -> [String] {
        let report = try await report(
            ReportQuery(from: period.start, to: period.end, groupBy: [.attribution(dimension)]))
        return report.rows.compactMap { $0.keys[0] }.sorted()
    }

    /// Splits every pool of `configuration` for `period` (events up to sequence `through` when given).
    public func poolSplits(
        period: BillingPeriod, configuration: ChargebackConfiguration, through: Int64? = nil
    ) throws -> [PoolSplit] {
        guard !configuration.pools.isEmpty else { return [] }
        let pools = configuration.pools
        var pooled = Array(repeating: Cost.zero, count: pools.count)
        var costWeights = Array(repeating: [String: Int128](), count: pools.count)
        var tokenWeights = Array(repeating: [String: Int128](), count: pools.count)
        var metered: [String: Cost] = [:]
        try forEachEvent(from: period.start, to: period.end, through: through) { _, rated in
            let event = rated.event
            if !Self.providerReportSources.contains(event.source) {
                metered[event.provider, default: .zero] += rated.cost
            }
            if let index = Self.poolIndex(pools, event) {
                pooled[index] += rated.cost
                return
            }
            for (index, pool) in pools.enumerated() {
                guard let owner = event.attribution[pool.onto], pool.scope?.matches(event) ?? true else { continue }
                costWeights[index][owner, default: 0] += max(rated.cost.picodollars, 0)
                tokenWeights[index][owner, default: 0] += Int128(event.tokens.total)
            }
        }
        var result: [PoolSplit] = []
        for (index, pool) in pools.enumerated() {
            let amount: Cost
            switch pool.source {
            case .amount(let fixed): amount = fixed
            case .events: amount = pooled[index]
            case .unexplained(let provider):
                let lines = try self.pool.read { db in
                    try Self.billingLines(db, provider: provider, from: period.start, to: period.end)
                }
                let invoiced = lines.reduce(Cost.zero) { $0 + $1.cost }
                let difference = invoiced - (metered[provider] ?? .zero)
                amount = difference.picodollars > 0 ? difference : .zero
            }
            let weights: [String: Int128]
            switch pool.policy {
            case .proportionalToCost: weights = costWeights[index]
            case .proportionalToTokens: weights = tokenWeights[index]
            case .even:
                let owners = pool.among ?? Array(tokenWeights[index].keys)
                weights = Dictionary(owners.map { ($0, Int128(1)) }) { first, _ in first }
            case .fixed(let shares):
                weights = shares.mapValues { Int128($0.factorTenThousandths - 10_000) }
            }
            result.append(PoolSplit(pool: pool, amount: amount, shares: SharedPool.split(amount, weights: weights)))
        }
        return result
    }

    /// The pool (by position) whose event source takes `event`, if any: the first that matches.
    public static func poolIndex(_ pools: [SharedPool], _ event: UsageEvent) -> Int? {
        pools.firstIndex { pool in
            if case .events(let condition) = pool.source { return condition.matches(event) }
            return false
        }
    }

    /// The statement for `subject` and `period`: an issued one as it was issued; otherwise built
    /// from the ledger (a draft while the period is open, issued and kept once it is closed). Its
    /// number is assigned the first time and kept. Pass `splits` (from `poolSplits` with the
    /// period's closing bound) when making many statements of one period, to split the pools once.
    public func statement(
        for subject: StatementSubject, period: BillingPeriod, configuration: ChargebackConfiguration,
        catalog: PriceCatalog, at time: Timestamp, splits precomputed: [PoolSplit]? = nil
    ) throws -> BillingStatement {
        let existing = try pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT number, document FROM statements WHERE period_start = ? AND subject = ?",
                arguments: [period.start.seconds, subject.description])
        }
        if let existing, let document = try? JSONValue(parsing: Data((existing["document"] as String).utf8)),
            let statement = BillingStatement(json: document), statement.status == "issued"
        {
            return statement
        }
        let closed = try closedPeriods()
        let through = closed[period]
        let number: String
        if let existingNumber: String = existing?["number"] {
            number = existingNumber
        } else {
            let count = try pool.read { db in
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM statements WHERE period_start = ?", arguments: [period.start.seconds]
                )
                    ?? 0
            }
            let sequence = String(count + 1)
            number =
                "\(configuration.numberPrefix)-\(period.description.filter { $0 != "-" })-\(String(repeating: "0", count: max(0, 4 - sequence.count)))\(sequence)"
        }
        // Usage: the subject's events, less those billed through a pool.
        var usage = StatementUsage(catalog: catalog)
        try forEachEvent(from: period.start, to: period.end, subject: subject, through: through) { _, rated in
            if Self.poolIndex(configuration.pools, rated.event) == nil { usage.add(rated) }
        }
        let splits = try precomputed ?? poolSplits(period: period, configuration: configuration, through: through)
        let shares = splits.compactMap {
            split -> StatementBuilder.Share? in
            guard split.pool.onto == subject.dimension, let share = split.shares[subject.value] else { return nil }
            return StatementBuilder.Share(
                pool: split.pool.id,
                description: (split.pool.description ?? split.pool.id) + ", " + split.pool.policyDescription,
                amount: share)
        }
        // Late usage of closed periods, first billed here.
        var late: [(period: BillingPeriod, usage: StatementUsage, trace: [String: String])] = []
        var earlier = period.previous
        for _ in 0..<12 {
            defer { earlier = earlier.previous }
            guard closed[earlier] != nil else { continue }
            var after = Int64.min
            var month = earlier
            while month < period {
                if let last = closed[month] { after = max(after, last) }
                month = month.next
            }
            var lateUsage = StatementUsage(catalog: catalog)
            try forEachEvent(from: earlier.start, to: earlier.end, subject: subject, after: after, through: through) {
                _, rated in
                if Self.poolIndex(configuration.pools, rated.event) == nil { lateUsage.add(rated) }
            }
            guard lateUsage.events > 0 else { continue }
            var trace = [
                "from": earlier.start.iso8601, "to": earlier.end.iso8601, subject.dimension.rawValue: subject.value,
                "after_seq": String(after),
            ]
            if let through { trace["through_seq"] = String(through) }
            late.append((earlier, lateUsage, trace))
        }
        let builder = StatementBuilder(
            number: number, status: through == nil ? "draft" : "issued", period: period, subject: subject,
            card: configuration.card(for: subject), rates: configuration.rates)
        var statement: BillingStatement
        do {
            statement = try builder.build(usage: usage, shares: shares, late: late.reversed())
        } catch {
            throw LedgerStoreError(error.description)
        }
        if let through {
            for index in statement.lines.indices where statement.lines[index].type == .usage {
                statement.lines[index].trace["through_seq"] = String(through)
            }
        }
        let document = statement.json().serialized()
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO statements (number, period_start, subject, document, issued_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (number) DO UPDATE SET document = excluded.document, issued_at = excluded.issued_at
                    """,
                arguments: [number, period.start.seconds, subject.description, document, time.microseconds])
        }
        return statement
    }
}
