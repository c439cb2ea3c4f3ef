/// Shared-cost pools: a cost nobody's events carry alone (a GPU cluster, a vector database, a
/// platform fee, a commitment, the part of an invoice no metered event explains), split onto
/// teams or customers by a declared policy. Money is conserved exactly: the parts sum to the pool
/// to the picodollar.
public struct SharedPool: Sendable, Hashable, Codable {
    /// Where the pool's amount comes from, per period.
    public enum Source: Sendable, Hashable {
        /// A fixed amount in US dollars each period (a platform fee, a commitment).
        case amount(Cost)
        /// The cost of the period's events that match (e.g. the GPU cluster's events). Those events
        /// leave ordinary usage lines and are billed through the pool instead.
        case events(AllocationCondition)
        /// The part of a provider's invoice for the period that no metered event explains.
        case unexplained(provider: String)
    }

    /// How the pool is divided.
    public enum Policy: Sendable, Hashable {
        /// In proportion to the cost of each owner's events in scope.
        case proportionalToCost
        /// In proportion to each owner's tokens in scope.
        case proportionalToTokens
        /// Equally among the owners with events in scope (or the listed ones).
        case even
        /// Fixed percentages, which must add up to 100.
        case fixed([String: PriceAdjustment])
    }

    public var id: String
    public var description: String?
    public var source: Source
    public var policy: Policy
    /// The dimension the pool is split onto (team, customer, …).
    public var onto: AttributionDimension
    /// Which events count for proportional and even splits (default: every event with a value
    /// for `onto`, outside any pool).
    public var scope: AllocationCondition?
    /// For `even`: split among exactly these owners.
    public var among: [String]?

    public init(
        id: String, description: String? = nil, source: Source, policy: Policy, onto: AttributionDimension,
        scope: AllocationCondition? = nil, among: [String]? = nil
    ) {
        self.id = id
        self.description = description
        self.source = source
        self.policy = policy
        self.onto = onto
        self.scope = scope
        self.among = among
    }

    /// Splits `amount` in proportion to `weights`, exactly: each owner gets the floor of its
    /// share, and the picodollars left over go one each to the largest remainders (ties to the
    /// owner that sorts first). Owners with zero weight get nothing; with no weight at all the
    /// result is empty (the pool stays unallocated).
    public static func split(_ amount: Cost, weights: [String: Int128]) -> [String: Cost] {
        let owners = weights.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        let total = owners.reduce(Int128(0)) { $0 + $1.value }
        guard total > 0 else { return [:] }
        let negative = amount.picodollars < 0
        let magnitude = negative ? -amount.picodollars : amount.picodollars
        var parts: [(owner: String, base: Int128, remainder: Int128)] = owners.map { owner, weight in
            let (quotient, remainder) = Self.multiplyDivide(magnitude, weight, total)
            return (owner, quotient, remainder)
        }
        var left = magnitude - parts.reduce(Int128(0)) { $0 + $1.base }
        let order = parts.indices.sorted { lhs, rhs in
            parts[lhs].remainder != parts[rhs].remainder
                ? parts[lhs].remainder > parts[rhs].remainder : parts[lhs].owner < parts[rhs].owner
        }
        for index in order where left > 0 {
            parts[index].base += 1
            left -= 1
        }
        return Dictionary(
            uniqueKeysWithValues: parts.map { ($0.owner, Cost(picodollars: negative ? -$0.base : $0.base)) })
    }

    /// `(a × b) / c` and its remainder, without overflowing for a·b beyond Int128 when possible.
    static func multiplyDivide(_ a: Int128, _ b: Int128, _ c: Int128) -> (Int128, Int128) {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        if !overflow { return product.quotientAndRemainder(dividingBy: c) }
        // Split a = q·c + r: a·b/c = q·b + r·b/c.
        let (q, r) = a.quotientAndRemainder(dividingBy: c)
        let (inner, innerRemainder) = (r * b).quotientAndRemainder(dividingBy: c)
        return (q * b + inner, innerRemainder)
    }
}

extension SharedPool {
    enum CodingKeys: String, CodingKey {
        case id, description, amount, events, unexplained, split, onto, scope, among, shares
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        let sources = [CodingKeys.amount, .events, .unexplained].filter { container.contains($0) }
        guard sources.count == 1 else {
            throw DecodingError.dataCorruptedError(
                forKey: .id, in: container,
                debugDescription:
                    "pool '\(id)' needs exactly one source: amount (USD per month), events (a condition) or unexplained (a provider)"
            )
        }
        switch sources[0] {
        case .amount:
            let text = try container.decode(String.self, forKey: .amount)
            guard let picodollars = DecimalText.parse(text, scale: 12), picodollars >= 0 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .amount, in: container,
                    debugDescription: "'\(text)' is not an amount in dollars, e.g. \"1200.00\"")
            }
            source = .amount(Cost(picodollars: picodollars))
        case .events: source = .events(try container.decode(AllocationCondition.self, forKey: .events))
        default: source = .unexplained(provider: try container.decode(String.self, forKey: .unexplained))
        }
        let ontoName = try container.decode(String.self, forKey: .onto)
        guard let onto = AttributionDimension(rawValue: ontoName), AllocationRule.targets.contains(onto) else {
            throw DecodingError.dataCorruptedError(
                forKey: .onto, in: container,
                debugDescription:
                    "'\(ontoName)' cannot receive shared costs; use one of \(AllocationRule.targets.map(\.rawValue).joined(separator: ", "))"
            )
        }
        self.onto = onto
        let policy = try container.decode(String.self, forKey: .split)
        switch policy {
        case "proportional_cost", "cost": self.policy = .proportionalToCost
        case "proportional_tokens", "tokens": self.policy = .proportionalToTokens
        case "even": self.policy = .even
        case "fixed":
            let shares = try container.decode([String: PriceAdjustment].self, forKey: .shares)
            // PriceAdjustment parses percentages exactly; here the value is a share, not a change.
            let total = shares.values.reduce(Int64(0)) { $0 + $1.factorTenThousandths - 10_000 }
            guard total == 10_000 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .shares, in: container,
                    debugDescription:
                        "the fixed shares of pool '\(id)' add up to \(DecimalText.format(Int128(total), scale: 2, minimumFractionDigits: 0))%, not 100%"
                )
            }
            self.policy = .fixed(shares)
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .split, in: container,
                debugDescription:
                    "'\(policy)' is not a split policy; use proportional_cost, proportional_tokens, even or fixed")
        }
        scope = try container.decodeIfPresent(AllocationCondition.self, forKey: .scope)
        among = try container.decodeIfPresent([String].self, forKey: .among)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encodeIfPresent(description, forKey: .description)
        switch source {
        case .amount(let cost): try container.encode(cost.decimalString, forKey: .amount)
        case .events(let condition): try container.encode(condition, forKey: .events)
        case .unexplained(let provider): try container.encode(provider, forKey: .unexplained)
        }
        try container.encode(onto.rawValue, forKey: .onto)
        switch policy {
        case .proportionalToCost: try container.encode("proportional_cost", forKey: .split)
        case .proportionalToTokens: try container.encode("proportional_tokens", forKey: .split)
        case .even: try container.encode("even", forKey: .split)
        case .fixed(let shares):
            try container.encode("fixed", forKey: .split)
            try container.encode(shares, forKey: .shares)
        }
        try container.encodeIfPresent(scope, forKey: .scope)
        try container.encodeIfPresent(among, forKey: .among)
    }

    /// The policy in words, for statements.
    public var policyDescription: String {
        switch policy {
        case .proportionalToCost: "in proportion to \(onto.rawValue) cost"
        case .proportionalToTokens: "in proportion to \(onto.rawValue) tokens"
        case .even: "evenly among \(onto.rawValue)s"
        case .fixed: "by fixed shares"
        }
    }
}
