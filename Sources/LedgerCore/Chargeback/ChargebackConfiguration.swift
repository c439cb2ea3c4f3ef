/// The `chargeback:` section of `tokenledger.yaml`: rate cards, shared-cost pools, exchange rates
/// and statement numbering.
public struct ChargebackConfiguration: Sendable, Codable {
    public var rateCards: [RateCard]
    public var pools: [SharedPool]
    public var fx: [ExchangeRates.Rate]
    /// Statement numbers are `PREFIX-YYYYMM-NNNN`.
    public var numberPrefix: String
    /// The issuer printed on statements.
    public var issuer: String

    enum CodingKeys: String, CodingKey {
        case pools, fx, issuer
        case rateCards = "rate_cards"
        case numberPrefix = "number_prefix"
    }

    public init(
        rateCards: [RateCard] = [], pools: [SharedPool] = [], fx: [ExchangeRates.Rate] = [],
        numberPrefix: String = "TL", issuer: String = "TokenLedger"
    ) {
        self.rateCards = rateCards
        self.pools = pools
        self.fx = fx
        self.numberPrefix = numberPrefix
        self.issuer = issuer
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        rateCards = try container.decodeIfPresent([RateCard].self, forKey: .rateCards) ?? []
        pools = try container.decodeIfPresent([SharedPool].self, forKey: .pools) ?? []
        fx = try container.decodeIfPresent([ExchangeRates.Rate].self, forKey: .fx) ?? []
        numberPrefix = try container.decodeIfPresent(String.self, forKey: .numberPrefix) ?? "TL"
        issuer = try container.decodeIfPresent(String.self, forKey: .issuer) ?? "TokenLedger"
    }

    public var rates: ExchangeRates { ExchangeRates(rates: fx) }

    /// The card billing `subject`, if any.
    public func card(for subject: StatementSubject) -> RateCard? {
        rateCards.first { StatementSubject(parsing: $0.subject) == subject }
    }

    /// The first problem (duplicate ids, two cards for one subject, a bad card, a rate), or `nil`.
    public func problem() -> String? {
        var subjects = Set<String>()
        for card in rateCards {
            if let problem = card.problem() { return problem }
            if !subjects.insert(card.subject).inserted { return "two rate cards are for \(card.subject)" }
        }
        var ids = Set<String>()
        for pool in pools where !ids.insert(pool.id).inserted { return "the pool id '\(pool.id)' is used twice" }
        for rate in fx {
            if Timestamp(parsing: rate.from) == nil { return "fx: '\(rate.from)' is not a date (YYYY-MM-DD)" }
            guard let value = DecimalText.parse(rate.rate, scale: 6), value > 0 else {
                return "fx: rate '\(rate.rate)' for \(rate.currency) is not a positive number with at most 6 decimals"
            }
        }
        return nil
    }
}
