/// Spend, tokens and requests for one group (or the totals).
public struct ReportMetrics: Sendable, Hashable {
    /// Requests (events).
    public var requests: Int64 = 0
    /// Requests by outcome.
    public var failed: Int64 = 0
    public var retried: Int64 = 0
    public var cancelled: Int64 = 0
    public var estimated: Int64 = 0
    /// Events without a complete price.
    public var unpricedEvents: Int64 = 0
    /// Tokens by kind.
    public var tokens = TokenCounts()
    /// GPU time and storage byte-hours.
    public var resources = ResourceUsage()
    /// Total cost.
    public var cost = Cost.zero
    /// Cost of failed, retried and cancelled requests.
    public var wastedCost = Cost.zero
    /// Distinct users and sessions (`nil` where they cannot be counted, such as a merged row).
    public var users: Int64?
    public var sessions: Int64?
    /// Latency over the requests that reported one.
    public var latencyMillisecondsSum: Int64 = 0
    public var latencyCount: Int64 = 0

    /// Creates empty metrics.
    public init() {}

    /// Adds another group's metrics; distinct counts become unknown.
    public mutating func add(_ other: ReportMetrics) {
        requests += other.requests
        failed += other.failed
        retried += other.retried
        cancelled += other.cancelled
        estimated += other.estimated
        unpricedEvents += other.unpricedEvents
        tokens += other.tokens
        resources.gpuMicroseconds += other.resources.gpuMicroseconds
        resources.storageByteHours += other.resources.storageByteHours
        cost += other.cost
        wastedCost += other.wastedCost
        latencyMillisecondsSum += other.latencyMillisecondsSum
        latencyCount += other.latencyCount
        users = nil
        sessions = nil
    }

    // MARK: - Unit economics

    /// Cost divided by a count, exact to the picodollar (half-even), or `nil` for zero.
    public func costPer(_ count: Int64?) -> Cost? {
        guard let count, count > 0 else { return nil }
        return Cost(picodollars: DecimalText.divideRoundingHalfEven(cost.picodollars, by: Int128(count)))
    }

    /// Cost per request.
    public var costPerRequest: Cost? { costPer(requests) }

    /// Cost per thousand tokens.
    public var costPerThousandTokens: Cost? {
        let total = tokens.total
        guard total > 0 else { return nil }
        return Cost(picodollars: DecimalText.divideRoundingHalfEven(cost.picodollars * 1000, by: Int128(total)))
    }

    /// The share of spend on failed, retried and cancelled calls, as a decimal fraction string
    /// with six digits (`"0.042130"`), or `nil` with no spend.
    public var wasteShare: String? {
        guard cost.picodollars > 0 else { return nil }
        let millionths = DecimalText.divideRoundingHalfEven(wastedCost.picodollars * 1_000_000, by: cost.picodollars)
        return DecimalText.format(millionths, scale: 6, minimumFractionDigits: 6)
    }

    /// Mean latency in milliseconds.
    public var averageLatencyMilliseconds: Int64? {
        latencyCount > 0 ? latencyMillisecondsSum / latencyCount : nil
    }
}

/// One line of a report.
public struct ReportRow: Sendable, Hashable {
    /// Values of the grouped dimensions, in query order; `nil` is unallocated.
    public var keys: [String?]
    /// The period's start, when the report has a granularity.
    public var period: Timestamp?
    /// Whether this row merges the groups beyond `top`.
    public var isOther: Bool
    /// The figures.
    public var metrics: ReportMetrics

    /// Creates a row.
    public init(keys: [String?], period: Timestamp?, isOther: Bool = false, metrics: ReportMetrics) {
        self.keys = keys
        self.period = period
        self.isOther = isOther
        self.metrics = metrics
    }
}

/// A finished report: rows whose figures add up to the totals.
public struct Report: Sendable, Hashable {
    /// What was asked.
    public var query: ReportQuery
    /// The rows, by period then cost (highest first).
    public var rows: [ReportRow]
    /// The totals over the whole period (distinct users and sessions counted once).
    public var totals: ReportMetrics
    /// Which table answered: a rollup or the raw events.
    public var servedFrom: String
    /// Per provider, the cost of its own usage reports (`openai-usage`, `anthropic-usage`) left out
    /// because metered events (gateway, OpenTelemetry, logs, API) cover that provider in the
    /// period: the same calls are never counted twice. `tokenledger reconcile` compares the two.
    public var providerReportsLeftOut: [String: Cost] = [:]

    /// Creates a report.
    public init(query: ReportQuery, rows: [ReportRow], totals: ReportMetrics, servedFrom: String) {
        self.query = query
        self.rows = rows
        self.totals = totals
        self.servedFrom = servedFrom
    }

    /// The label of a period for this report's granularity: `2026-10-01T13:00:00Z`, `2026-10-01`, `2026-10`.
    public func periodLabel(_ period: Timestamp?) -> String? {
        guard let period, let granularity = query.granularity else { return nil }
        switch granularity {
        case .hour: return period.iso8601
        case .day: return period.dateString
        case .month: return String(period.dateString.prefix(7))
        }
    }

    /// Keeps the `top` most expensive groups and merges the rest into one `(other)` row per
    /// period, so the rows still sum to the totals.
    public static func limited(_ rows: [ReportRow], top: Int?) -> [ReportRow] {
        guard let top, top >= 0 else { return rows }
        var costByGroup: [[String?]: Int128] = [:]
        for row in rows { costByGroup[row.keys, default: 0] += row.metrics.cost.picodollars }
        guard costByGroup.count > top else { return rows }
        let ranked = costByGroup.sorted { $0.value != $1.value ? $0.value > $1.value : "\($0.key)" < "\($1.key)" }
        let kept = Set(ranked.prefix(top).map(\.key))
        var result: [ReportRow] = []
        var others: [Timestamp?: ReportMetrics] = [:]
        var otherOrder: [Timestamp?] = []
        for row in rows {
            if kept.contains(row.keys) {
                result.append(row)
            } else {
                if others[row.period] == nil { otherOrder.append(row.period) }
                var metrics = others[row.period] ?? ReportMetrics()
                metrics.add(row.metrics)
                others[row.period] = metrics
            }
        }
        let width = rows.first?.keys.count ?? 0
        for period in otherOrder {
            result.append(
                ReportRow(
                    keys: Array(repeating: "(other)", count: width), period: period, isOther: true,
                    metrics: others[period]!))
        }
        return sorted(result)
    }

    /// Rows by period, then cost (highest first), then keys.
    public static func sorted(_ rows: [ReportRow]) -> [ReportRow] {
        rows.sorted { a, b in
            if a.period != b.period { return (a.period?.microseconds ?? 0) < (b.period?.microseconds ?? 0) }
            if a.isOther != b.isOther { return !a.isOther }
            if a.metrics.cost != b.metrics.cost { return a.metrics.cost > b.metrics.cost }
            return a.keys.map { $0 ?? "" }.joined(separator: "\u{0}")
                < b.keys.map { $0 ?? "" }.joined(separator: "\u{0}")
        }
    }
}
