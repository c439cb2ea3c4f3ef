/// How a customer or team is charged for what it used: cost-plus markup, fixed prices per million
/// tokens by model (or model class), an included allowance, volume tiers and a monthly minimum, in
/// the card's currency. Without a card, a statement is showback at cost in US dollars.
public struct RateCard: Sendable, Hashable, Codable {
    /// A fixed price for some models' tokens, overriding cost-plus for them.
    public struct FixedPrice: Sendable, Hashable, Codable {
        /// Model names or globs (`gpt-4o*`, `claude-*`), matched on the catalog entry and the name used.
        public var models: [String]
        /// Token kinds (`input`, `output`, …); absent means every kind.
        public var kinds: [String]?
        /// Price per million tokens, in the card's currency.
        public var perMillion: String

        enum CodingKeys: String, CodingKey {
            case models, kinds
            case perMillion = "per_million"
        }

        func matches(model: String, requested: String, kind: String) -> Bool {
            guard kinds?.contains(kind) ?? (TokenKind(rawValue: kind) != nil) else { return false }
            return models.contains { RateCard.glob($0, model) || RateCard.glob($0, requested) }
        }
    }

    /// A discount on the marked-up subtotal once it passes a threshold (the whole subtotal takes the
    /// highest tier reached).
    public struct Tier: Sendable, Hashable, Codable {
        /// Subtotal threshold, in the card's currency.
        public var above: String
        public var discountPercent: String

        enum CodingKeys: String, CodingKey {
            case above
            case discountPercent = "discount_percent"
        }
    }

    public var id: String
    /// Who the card bills: `customer:acme`, `team:search`.
    public var subject: String
    /// ISO 4217; amounts on the card are in it. USD when absent.
    public var currency: String
    /// Percent added to cost-based lines (usage at cost, shared-cost shares).
    public var markupPercent: String?
    public var prices: [FixedPrice]?
    /// Included each period, in the card's currency: deducted from the total, never below zero.
    public var allowance: String?
    public var tiers: [Tier]?
    /// The least the period is billed, in the card's currency.
    public var minimum: String?

    enum CodingKeys: String, CodingKey {
        case id, currency, prices, allowance, tiers, minimum
        case subject = "for"
        case markupPercent = "markup_percent"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        subject = try container.decode(String.self, forKey: .subject)
        currency = try container.decodeIfPresent(String.self, forKey: .currency) ?? "USD"
        markupPercent = try container.decodeIfPresent(String.self, forKey: .markupPercent)
        prices = try container.decodeIfPresent([FixedPrice].self, forKey: .prices)
        allowance = try container.decodeIfPresent(String.self, forKey: .allowance)
        tiers = try container.decodeIfPresent([Tier].self, forKey: .tiers)
        minimum = try container.decodeIfPresent(String.self, forKey: .minimum)
    }

    public init(id: String, subject: String, currency: String = "USD") {
        self.id = id
        self.subject = subject
        self.currency = currency
    }

    /// The first problem with the card, naming the field; `nil` when usable.
    public func problem() -> String? {
        let place = "rate card '\(id)'"
        if StatementSubject(parsing: subject) == nil {
            return "\(place): for '\(subject)' must be DIMENSION:VALUE, e.g. customer:acme"
        }
        if currency.count != 3 || !currency.allSatisfy({ $0.isUppercase && $0.isASCII }) {
            return "\(place): currency '\(currency)' is not an ISO 4217 code such as USD or EUR"
        }
        if let markupPercent, PriceAdjustment(percent: markupPercent) == nil {
            return "\(place): markup_percent '\(markupPercent)' is not a percentage"
        }
        for (name, value) in [("allowance", allowance), ("minimum", minimum)] {
            if let value, Self.amount(value) == nil { return "\(place): \(name) '\(value)' is not an amount" }
        }
        for price in prices ?? [] {
            if Self.amount(price.perMillion) == nil {
                return "\(place): per_million '\(price.perMillion)' is not an amount"
            }
            if price.models.isEmpty { return "\(place): a fixed price lists no models" }
            for kind in price.kinds ?? [] where TokenKind(rawValue: kind) == nil {
                return
                    "\(place): '\(kind)' is not a token kind (\(TokenKind.all.map(\.rawValue).joined(separator: ", ")))"
            }
        }
        for tier in tiers ?? [] {
            if Self.amount(tier.above) == nil || PriceAdjustment(percent: tier.discountPercent) == nil {
                return "\(place): tier above '\(tier.above)' / discount_percent '\(tier.discountPercent)' is not valid"
            }
        }
        return nil
    }

    /// A non-negative decimal amount as pico-units of a currency.
    static func amount(_ text: String) -> Cost? {
        guard let value = DecimalText.parse(text, scale: 12), value >= 0 else { return nil }
        return Cost(picodollars: value)
    }

    /// `*` matches any run of characters; everything else literally.
    static func glob(_ pattern: String, _ text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return pattern == text }
        guard text.hasPrefix(parts[0]), text.count >= parts[0].count + parts.last!.count, text.hasSuffix(parts.last!)
        else { return false }
        var rest = Substring(text.dropFirst(parts[0].count).dropLast(parts.last!.count))
        for middle in parts.dropFirst().dropLast() where !middle.isEmpty {
            guard let range = rest.firstRange(of: middle) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }

    /// The fixed price per million for a model's token kind, if the card sets one.
    func fixedPrice(model: String, requested: String, kind: String) -> Cost? {
        (prices ?? []).first { $0.matches(model: model, requested: requested, kind: kind) }.flatMap {
            Self.amount($0.perMillion)
        }
    }
}

/// Who a statement is for: a dimension and a value (`customer:acme`).
public struct StatementSubject: Sendable, Hashable, CustomStringConvertible {
    public var dimension: AttributionDimension
    public var value: String

    public init(dimension: AttributionDimension, value: String) {
        self.dimension = dimension
        self.value = value
    }

    public init?(parsing text: String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let dimension = AttributionDimension(rawValue: parts[0]),
            AllocationRule.targets.contains(dimension), !parts[1].isEmpty
        else { return nil }
        self.init(dimension: dimension, value: parts[1])
    }

    public var description: String { dimension.rawValue + ":" + value }
}

/// Dated exchange rates from US dollars: units of a currency per dollar, from a date on.
public struct ExchangeRates: Sendable, Hashable, Codable {
    public struct Rate: Sendable, Hashable, Codable {
        public var currency: String
        /// `YYYY-MM-DD`: in force from this day.
        public var from: String
        /// Units of `currency` per US dollar, up to six decimals.
        public var rate: String
    }

    public var rates: [Rate]

    public init(rates: [Rate] = []) {
        self.rates = rates
    }

    /// The rate in force at `time` as millionths of a unit per dollar; USD is always 1.
    public func millionths(_ currency: String, at time: Timestamp) -> Int128? {
        if currency == "USD" { return 1_000_000 }
        let candidates = rates.compactMap { rate -> (Timestamp, Int128)? in
            guard rate.currency == currency, let from = Timestamp(parsing: rate.from), from <= time,
                let value = DecimalText.parse(rate.rate, scale: 6), value > 0
            else { return nil }
            return (from, value)
        }
        return candidates.max { $0.0 < $1.0 }?.1
    }
}
