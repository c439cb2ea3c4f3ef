import Foundation
import GRDB
public import LedgerCore
import Synchronization

/// Virtual keys, budgets and budget reservations, in the ledger's SQLite file.
///
/// Reservations are durable rows with an expiry (`budget_holds`): admission reads spent plus
/// live holds and inserts its own hold in one write transaction, so concurrent requests — in
/// this process or in another process on the same file — are serialised by SQLite's write lock
/// and cannot overshoot a hard budget. A hold that is never settled (a crash) stops counting at
/// its expiry and is deleted by ``sweepExpiredHolds(now:)``.
public final class SQLiteGovernance: Sendable {
    private let pool: DatabasePool

    /// Opens the governance tables of a ledger file (created with the ledger's migrations).
    public init(ledger: SQLiteLedger) {
        pool = ledger.pool
    }

    // MARK: - Keys

    /// Stores a new key; fails if its id or secret is already used.
    public func createKey(_ key: VirtualKey) async throws {
        try await pool.write { db in try Self.insert(key, db: db, replace: false) }
    }

    /// Stores a key declared in the configuration file, replacing an earlier version of it.
    public func declareKey(_ key: VirtualKey) async throws {
        try await pool.write { db in try Self.insert(key, db: db, replace: true) }
    }

    private static func insert(_ key: VirtualKey, db: Database, replace: Bool) throws {
        let policy = String(decoding: try JSONEncoder().encode(key.policy), as: UTF8.self)
        let verb = replace ? "INSERT OR REPLACE" : "INSERT"
        try db.execute(
            sql: """
                \(verb) INTO virtual_keys (id, name, secret_prefix, secret_hash, organisation, team, "user", project,
                    customer, policy, created_at, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
                """,
            arguments: [
                key.id, key.name, key.secretPrefix, key.secretHash, key.owner.organisation, key.owner.team,
                key.owner.user, key.owner.project, key.owner.customer, policy, key.createdAt.microseconds,
                key.expiresAt?.microseconds, key.revokedAt?.microseconds,
            ])
    }

    /// The key whose secret hashes to `hash`.
    public func key(secretHash hash: String) async throws -> VirtualKey? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM virtual_keys WHERE secret_hash = ?", arguments: [hash])
                .map(Self.key)
        }
    }

    /// The key with public id `id`.
    public func key(id: String) async throws -> VirtualKey? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM virtual_keys WHERE id = ?", arguments: [id]).map(Self.key)
        }
    }

    /// Every key, newest first.
    public func keys() async throws -> [VirtualKey] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM virtual_keys ORDER BY created_at DESC, id").map(Self.key)
        }
    }

    /// Revokes a key (from `time` on); returns the updated key, or `nil` when there is no such key.
    public func revokeKey(id: String, at time: Timestamp) async throws -> VirtualKey? {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE virtual_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                arguments: [time.microseconds, id])
            return try Row.fetchOne(db, sql: "SELECT * FROM virtual_keys WHERE id = ?", arguments: [id]).map(Self.key)
        }
    }

    private static func key(_ row: Row) throws -> VirtualKey {
        let policyText: String = row["policy"]
        let policy = try JSONDecoder().decode(KeyPolicy.self, from: Data(policyText.utf8))
        return VirtualKey(
            id: row["id"], name: row["name"], secretPrefix: row["secret_prefix"], secretHash: row["secret_hash"],
            owner: Attribution(
                organisation: row["organisation"], team: row["team"], user: row["user"], project: row["project"],
                customer: row["customer"]),
            policy: policy, createdAt: Timestamp(microseconds: row["created_at"]),
            expiresAt: (row["expires_at"] as Int64?).map(Timestamp.init(microseconds:)),
            revokedAt: (row["revoked_at"] as Int64?).map(Timestamp.init(microseconds:)))
    }

    // MARK: - Budgets

    /// Creates or replaces a budget (same scope, subject and period).
    public func setBudget(_ budget: Budget) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO budgets (id, scope, subject, period, limit_pico, hard, action, fallback_model)
                    VALUES (?,?,?,?,?,?,?,?)
                    """,
                arguments: [
                    budget.id, budget.scope.rawValue, budget.subject, budget.period.rawValue,
                    String(budget.limit.picodollars), budget.hard, Self.actionName(budget.softAction),
                    Self.fallbackModel(budget.softAction),
                ])
        }
    }

    /// Deletes a budget; returns whether it existed.
    public func deleteBudget(id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM budgets WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    /// Every budget.
    public func budgets() async throws -> [Budget] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM budgets ORDER BY scope, subject, period").compactMap { row in
                guard let scope = Budget.Scope(rawValue: row["scope"]),
                    let period = BudgetPeriod(rawValue: row["period"]),
                    let limit = Int128(row["limit_pico"] as String)
                else { return nil }
                let action: String = row["action"]
                let soft: Budget.SoftAction =
                    switch action {
                    case "block": .block
                    case "fallback": .fallback(model: row["fallback_model"] ?? "")
                    default: .alert
                    }
                return Budget(
                    scope: scope, subject: row["subject"], period: period, limit: Cost(picodollars: limit),
                    hard: row["hard"], softAction: soft)
            }
        }
    }

    private static func actionName(_ action: Budget.SoftAction) -> String {
        switch action {
        case .alert: "alert"
        case .block: "block"
        case .fallback: "fallback"
        }
    }

    private static func fallbackModel(_ action: Budget.SoftAction) -> String? {
        if case .fallback(let model) = action { return model }
        return nil
    }

    // MARK: - Reservations

    /// Reserves `estimate` on every hard budget in `budgets` for request `requestID`, or refuses.
    ///
    /// In one write transaction: for each budget, spent in the current period plus live holds plus
    /// the estimate must fit in the limit. Soft budgets get no hold; a spent soft budget that
    /// blocks refuses, one that falls back answers ``ReservationDecision/fallback(model:budget:)``
    /// (unless `allowFallback` is false).
    public func reserve(
        requestID: String, estimate: Cost, budgets: [Budget], now: Timestamp, holdFor seconds: Int64,
        allowFallback: Bool = true
    ) async throws -> ReservationDecision {
        guard !budgets.isEmpty else { return .reserved }
        return try await pool.write { db in
            for budget in budgets {
                let start = budget.period.start(containing: now)
                let spent = try Self.spent(budget, periodStart: start, db: db)
                let reserved = try Self.reserved(budget, now: now, db: db)
                let resets = budget.period.end(containing: now)
                if budget.hard {
                    if spent + reserved + estimate > budget.limit {
                        return .refused(
                            BudgetRefusal(
                                budget: budget, spent: spent, reserved: reserved, estimate: estimate, resetsAt: resets))
                    }
                } else if spent >= budget.limit {
                    switch budget.softAction {
                    case .alert: break
                    case .block:
                        return .refused(
                            BudgetRefusal(
                                budget: budget, spent: spent, reserved: reserved, estimate: .zero, resetsAt: resets))
                    case .fallback(let model):
                        if allowFallback { return .fallback(model: model, budget: budget) }
                    }
                }
            }
            let expires = now.adding(seconds: seconds).microseconds
            for budget in budgets where budget.hard {
                try db.execute(
                    sql:
                        "INSERT OR REPLACE INTO budget_holds (request_id, budget_id, amount_pico, expires_at) VALUES (?,?,?,?)",
                    arguments: [requestID, budget.id, Int64(clamping: estimate.picodollars), expires])
            }
            return .reserved
        }
    }

    /// Releases the request's holds and adds its actual cost to every budget in `budgets`.
    /// Settling twice is harmless for the holds; callers settle once per request (the gateway
    /// settles through ``SQLiteLedger/record(_:settling:governance:)``, once per recorded event).
    /// Returns the soft-budget thresholds this request crossed.
    public func settle(requestID: String, actual: Cost, budgets: [Budget], now: Timestamp) async throws
        -> [ThresholdCrossing]
    {
        try await pool.write { db in
            try Self.settle(Settlement(requestID: requestID, actual: actual, budgets: budgets, at: now), db: db)
        }
    }

    static func settle(_ settlement: Settlement, db: Database) throws -> [ThresholdCrossing] {
        try db.execute(sql: "DELETE FROM budget_holds WHERE request_id = ?", arguments: [settlement.requestID])
        var crossings: [ThresholdCrossing] = []
        let actual = settlement.actual
        let now = settlement.at
        guard actual.picodollars > 0 else { return crossings }
        for budget in settlement.budgets {
            let start = budget.period.start(containing: now)
            let before = try Self.spent(budget, periodStart: start, db: db)
            let after = before + actual
            try db.execute(
                sql: "INSERT OR REPLACE INTO budget_spend (budget_id, period_start, spent_pico) VALUES (?,?,?)",
                arguments: [budget.id, start.microseconds, String(after.picodollars)])
            for percent in budget.thresholdsCrossed(from: before, to: after) {
                try db.execute(
                    sql: """
                        INSERT INTO budget_alerts (budget_id, period_start, percent, spent_pico, at) VALUES (?,?,?,?,?)
                        ON CONFLICT DO NOTHING
                        """,
                    arguments: [budget.id, start.microseconds, percent, String(after.picodollars), now.microseconds])
                if db.changesCount > 0 {
                    crossings.append(
                        ThresholdCrossing(budget: budget, periodStart: start, percent: percent, spent: after, at: now))
                }
            }
        }
        return crossings
    }

    /// The hard budgets still holding money for each of `requestIDs` (to settle calls whose
    /// settlement a crash interrupted: their usage comes back from the spool).
    public func heldBudgets(for requestIDs: [String]) async throws -> [String: [String]] {
        guard !requestIDs.isEmpty else { return [:] }
        return try await pool.read { db in
            var held: [String: [String]] = [:]
            for chunk in stride(from: 0, to: requestIDs.count, by: 500).map({
                requestIDs[$0..<min($0 + 500, requestIDs.count)]
            }) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for row in try Row.fetchAll(
                    db, sql: "SELECT request_id, budget_id FROM budget_holds WHERE request_id IN (\(marks))",
                    arguments: StatementArguments(Array(chunk)))
                {
                    held[row["request_id"], default: []].append(row["budget_id"])
                }
            }
            return held
        }
    }

    /// Deletes holds past their expiry (left by a crashed process); returns how many.
    @discardableResult
    public func sweepExpiredHolds(now: Timestamp) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM budget_holds WHERE expires_at <= ?", arguments: [now.microseconds])
            return db.changesCount
        }
    }

    /// Where each budget stands now.
    public func status(of budgets: [Budget], now: Timestamp) async throws -> [BudgetStatus] {
        try await pool.read { db in
            try budgets.map { budget in
                let start = budget.period.start(containing: now)
                return BudgetStatus(
                    budget: budget, periodStart: start, resetsAt: budget.period.end(containing: now),
                    spent: try Self.spent(budget, periodStart: start, db: db),
                    reserved: try Self.reserved(budget, now: now, db: db))
            }
        }
    }

    /// Threshold crossings recorded for soft budgets, newest first.
    public func alerts(limit: Int = 100) async throws -> [(budgetID: String, percent: Int, spent: Cost, at: Timestamp)]
    {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT budget_id, percent, spent_pico, at FROM budget_alerts ORDER BY at DESC LIMIT ?",
                arguments: [limit]
            ).map { row in
                (
                    row["budget_id"], row["percent"], Cost(picodollars: Int128(row["spent_pico"] as String) ?? 0),
                    Timestamp(microseconds: row["at"])
                )
            }
        }
    }

    private static func spent(_ budget: Budget, periodStart: Timestamp, db: Database) throws -> Cost {
        let text = try String.fetchOne(
            db, sql: "SELECT spent_pico FROM budget_spend WHERE budget_id = ? AND period_start = ?",
            arguments: [budget.id, periodStart.microseconds])
        return Cost(picodollars: text.flatMap { Int128($0) } ?? 0)
    }

    private static func reserved(_ budget: Budget, now: Timestamp, db: Database) throws -> Cost {
        let sum = try Int64.fetchOne(
            db, sql: "SELECT COALESCE(SUM(amount_pico), 0) FROM budget_holds WHERE budget_id = ? AND expires_at > ?",
            arguments: [budget.id, now.microseconds])
        return Cost(picodollars: Int128(sum ?? 0))
    }
}

/// A finished call's budget settlement: release its holds, add its actual cost.
public struct Settlement: Sendable, Hashable {
    public var requestID: String
    public var actual: Cost
    public var budgets: [Budget]
    public var at: Timestamp

    public init(requestID: String, actual: Cost, budgets: [Budget], at: Timestamp) {
        self.requestID = requestID
        self.actual = actual
        self.budgets = budgets
        self.at = at
    }
}

extension SQLiteLedger {
    /// Records events and settles the budgets of those newly recorded, in one transaction: a
    /// call's spend reaches its budgets exactly once, together with its usage (a replayed or
    /// re-flushed event settles nothing twice). Returns the soft-budget thresholds crossed.
    public func record(_ events: [RatedEvent], settling settlements: [String: Settlement]) async throws -> (
        RecordSummary, [ThresholdCrossing]
    ) {
        let crossings = Mutex<[ThresholdCrossing]>([])
        let summary = try await record(prepare(events)) { db, inserted in
            var found: [ThresholdCrossing] = []
            for id in inserted {
                if let settlement = settlements[id] { found += try SQLiteGovernance.settle(settlement, db: db) }
            }
            crossings.withLock { $0 += found }
        }
        return (summary, crossings.withLock { $0 })
    }
}
