/// A spending limit on one owner for a calendar period (UTC).
///
/// A *hard* budget is enforced in the request path: a request whose worst-case cost does not fit
/// in what is left (limit − spent − reserved) is refused before it reaches the provider. A *soft*
/// budget records threshold crossings (50 / 80 / 100 %) and, past 100 %, does what its
/// ``SoftAction`` says.
public struct Budget: Sendable, Hashable {
    /// Who a budget applies to.
    public enum Scope: String, Sendable, Hashable, Codable, CaseIterable {
        case key, user, team, project, customer, organisation
    }

    /// What a soft budget does once spent.
    public enum SoftAction: Sendable, Hashable {
        /// Only record threshold crossings.
        case alert
        /// Refuse further requests until the period resets.
        case block
        /// Send further requests to a cheaper model.
        case fallback(model: String)
    }

    /// A stable id: `scope:subject:period`.
    public var id: String { "\(scope.rawValue):\(subject):\(period.rawValue)" }
    public var scope: Scope
    /// The owner's id within the scope (a key id, a team name, …).
    public var subject: String
    public var period: BudgetPeriod
    public var limit: Cost
    /// Hard budgets refuse before spending; soft ones alert (and may block or fall back).
    public var hard: Bool
    public var softAction: SoftAction

    /// Creates a budget.
    public init(
        scope: Scope, subject: String, period: BudgetPeriod, limit: Cost, hard: Bool = true,
        softAction: SoftAction = .alert
    ) {
        self.scope = scope
        self.subject = subject
        self.period = period
        self.limit = limit
        self.hard = hard
        self.softAction = softAction
    }

    /// Soft-budget thresholds, in percent, that are recorded when first crossed in a period.
    public static let thresholds: [Int] = [50, 80, 100]

    /// The thresholds crossed by going from `before` to `after` spent.
    public func thresholdsCrossed(from before: Cost, to after: Cost) -> [Int] {
        guard limit.picodollars > 0 else { return [] }
        return Budget.thresholds.filter { percent in
            let mark = limit.picodollars * Int128(percent) / 100
            return before.picodollars < mark && after.picodollars >= mark
        }
    }
}

/// A budget's calendar period. Weeks start on Monday; every period is in UTC.
public enum BudgetPeriod: String, Sendable, Hashable, Codable, CaseIterable {
    case day, week, month

    /// `daily`, `weekly`, `monthly`.
    public var adjective: String {
        switch self {
        case .day: "daily"
        case .week: "weekly"
        case .month: "monthly"
        }
    }

    /// The start of the period containing `time`.
    public func start(containing time: Timestamp) -> Timestamp {
        switch self {
        case .day: return time.startOfDay
        case .week:
            let daysSinceMonday = Int64((time.weekday + 6) % 7)
            return time.startOfDay.adding(seconds: -daysSinceMonday * 86_400)
        case .month: return time.startOfMonth
        }
    }

    /// The start of the next period: when a budget resets.
    public func end(containing time: Timestamp) -> Timestamp {
        switch self {
        case .day: return time.startOfDay.adding(seconds: 86_400)
        case .week: return start(containing: time).adding(seconds: 7 * 86_400)
        case .month: return time.startOfNextMonth
        }
    }
}

/// Parsing `25/month`, `$1.50/day`, `1000/week`.
extension Budget {
    /// Reads a limit such as `25/month` into an amount and a period.
    public static func parseLimit(_ text: String) -> (Cost, BudgetPeriod)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let period = BudgetPeriod(rawValue: parts[1].lowercased().trimmingSpaces) else {
            return nil
        }
        var amount = Substring(parts[0].trimmingSpaces)
        if amount.first == "$" { amount = amount.dropFirst() }
        guard let cost = Cost(decimal: amount), cost.picodollars > 0 else { return nil }
        return (cost, period)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// Why a request was refused by a budget.
public struct BudgetRefusal: Sendable, Hashable, Error {
    public var budget: Budget
    /// Spent in the current period.
    public var spent: Cost
    /// Held by requests in flight.
    public var reserved: Cost
    /// This request's worst-case cost (zero for a spent soft budget that blocks).
    public var estimate: Cost
    /// When the period ends and the budget resets.
    public var resetsAt: Timestamp

    /// Creates a refusal.
    public init(budget: Budget, spent: Cost, reserved: Cost, estimate: Cost, resetsAt: Timestamp) {
        self.budget = budget
        self.spent = spent
        self.reserved = reserved
        self.estimate = estimate
        self.resetsAt = resetsAt
    }

    /// A sentence for the caller: which budget, its limit, what is spent and reserved, when it resets.
    public var message: String {
        let kind = budget.hard ? "hard" : "soft"
        let name = "\(budget.scope.rawValue) '\(budget.subject)'"
        var text =
            "Budget exceeded: the \(kind) \(budget.period.adjective) budget of \(name) is \(budget.limit.decimalString) USD; "
        text +=
            "spent \(spent.rounded(fractionDigits: 6)) USD, reserved by requests in flight \(reserved.rounded(fractionDigits: 6)) USD"
        if estimate.picodollars > 0 {
            text += ", and this request could cost up to \(estimate.rounded(fractionDigits: 6)) USD"
        }
        text += ". It resets at \(resetsAt.iso8601)."
        if budget.hard && estimate.picodollars > 0 {
            text += " Lower max_tokens to reduce the worst-case cost, or raise the budget."
        }
        return text
    }
}

/// Where a budget stands in its current period.
public struct BudgetStatus: Sendable, Hashable {
    public var budget: Budget
    public var periodStart: Timestamp
    public var resetsAt: Timestamp
    public var spent: Cost
    public var reserved: Cost

    /// Creates a status.
    public init(budget: Budget, periodStart: Timestamp, resetsAt: Timestamp, spent: Cost, reserved: Cost) {
        self.budget = budget
        self.periodStart = periodStart
        self.resetsAt = resetsAt
        self.spent = spent
        self.reserved = reserved
    }

    /// Spent as a whole percentage of the limit.
    public var percentUsed: Int {
        guard budget.limit.picodollars > 0 else { return 0 }
        return Int(spent.picodollars * 100 / budget.limit.picodollars)
    }
}

/// A soft-budget threshold crossed for the first time in a period.
public struct ThresholdCrossing: Sendable, Hashable {
    public var budget: Budget
    public var periodStart: Timestamp
    public var percent: Int
    public var spent: Cost
    public var at: Timestamp

    /// Creates a crossing.
    public init(budget: Budget, periodStart: Timestamp, percent: Int, spent: Cost, at: Timestamp) {
        self.budget = budget
        self.periodStart = periodStart
        self.percent = percent
        self.spent = spent
        self.at = at
    }
}

/// The outcome of reserving a request's worst case against its budgets.
public enum ReservationDecision: Sendable, Hashable {
    /// Holds are in place on every hard budget.
    case reserved
    /// A budget refuses the request.
    case refused(BudgetRefusal)
    /// A spent soft budget sends the request to a cheaper model; reserve again for that model.
    case fallback(model: String, budget: Budget)
}
