/// A business result AI spend produced — tickets resolved, documents drafted, deals won — with
/// its value in money, so reports can show cost per outcome, value per dollar and ROI by feature.
public struct BusinessOutcome: Sendable, Hashable {
    /// Unique: recording an outcome twice counts it once.
    public var id: String
    public var timestamp: Timestamp
    /// The feature that produced it (the `feature` dimension of its usage).
    public var feature: String
    public var customer: String?
    /// What it is (`ticket_resolved`).
    public var name: String?
    public var count: Int64
    /// Its total value in US dollars.
    public var value: Cost

    public init(
        id: String, timestamp: Timestamp, feature: String, customer: String? = nil, name: String? = nil,
        count: Int64 = 1, value: Cost = .zero
    ) {
        self.id = id
        self.timestamp = timestamp
        self.feature = feature
        self.customer = customer
        self.name = name
        self.count = count
        self.value = value
    }

    /// A refused outcome: the field and why.
    public struct Problem: Error, Sendable, Hashable {
        public var field: String
        public var reason: String

        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }
    }

    /// Reads `{"id","timestamp","feature","customer","outcome","count","value"}` (value a decimal
    /// string or number in US dollars; count defaults to 1).
    public init(members: [String: JSONValue]) throws(Problem) {
        func string(_ key: String) -> String? {
            if case .string(let text)? = members[key], !text.isEmpty { return text }
            return nil
        }
        guard let id = string("id") else {
            throw Problem(
                field: "id", reason: "every outcome needs a non-empty string id (outcomes are idempotent by id)")
        }
        guard let text = string("timestamp"), let timestamp = Timestamp(parsing: text) else {
            throw Problem(field: "timestamp", reason: "needs an RFC 3339 time such as 2026-10-03T14:00:00Z")
        }
        guard let feature = string("feature") else {
            throw Problem(field: "feature", reason: "name the feature that produced the outcome")
        }
        var count: Int64 = 1
        switch members["count"] {
        case nil, .null?: break
        case .integer(let value)? where value >= 0: count = value
        default: throw Problem(field: "count", reason: "must be a whole number, at least 0")
        }
        var value = Cost.zero
        switch members["value"] {
        case nil, .null?: break
        case .integer(let dollars)?: value = Cost(picodollars: Int128(dollars) * 1_000_000_000_000)
        case .number(let text)?, .string(let text)?:
            guard let picodollars = DecimalText.parse(text, scale: 12) else {
                throw Problem(field: "value", reason: "'\(text)' is not an amount in US dollars such as \"12.50\"")
            }
            value = Cost(picodollars: picodollars)
        default: throw Problem(field: "value", reason: "must be an amount in US dollars such as \"12.50\"")
        }
        self.init(
            id: id, timestamp: timestamp, feature: feature, customer: string("customer"),
            name: string("outcome") ?? string("name"), count: count, value: value)
    }
}
