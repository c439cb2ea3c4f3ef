/// A calendar month in UTC: the period allocation, statements and exports work in.
public struct BillingPeriod: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    /// 1 to 12.
    public var month: Int

    /// Creates a period; `month` must be 1…12.
    public init(year: Int, month: Int) {
        precondition((1...12).contains(month), "month out of range")
        self.year = year
        self.month = month
    }

    /// Parses `YYYY-MM` (e.g. `2026-10`); `nil` for anything else.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let year = Int(parts[0]),
            let month = Int(parts[1]), (1...12).contains(month), year >= 1970, year < 10_000
        else { return nil }
        self.init(year: year, month: month)
    }

    /// The period holding `time`.
    public init(containing time: Timestamp) {
        let parts = time.components
        self.init(year: parts.year, month: parts.month)
    }

    /// The first instant, inclusive.
    public var start: Timestamp { Timestamp(year: year, month: month, day: 1) }
    /// The first instant of the next period, exclusive.
    public var end: Timestamp { next.start }
    /// The following month.
    public var next: BillingPeriod {
        month == 12 ? BillingPeriod(year: year + 1, month: 1) : BillingPeriod(year: year, month: month + 1)
    }
    /// The preceding month.
    public var previous: BillingPeriod {
        month == 1 ? BillingPeriod(year: year - 1, month: 12) : BillingPeriod(year: year, month: month - 1)
    }
    /// `2026-10`.
    public var description: String { String(year) + "-" + (month < 10 ? "0" : "") + String(month) }

    public static func < (lhs: BillingPeriod, rhs: BillingPeriod) -> Bool {
        (lhs.year, lhs.month) < (rhs.year, rhs.month)
    }
}
