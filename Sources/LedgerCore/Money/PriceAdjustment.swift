/// A percentage change to a price, exact to a hundredth of a percent: `"-50"` halves a price,
/// `"10"` adds a tenth, `"-12.5"` takes off an eighth.
public struct PriceAdjustment: Sendable, Hashable {
    /// The multiplier in ten-thousandths: 10_000 is unchanged, 11_000 is +10 %.
    public var factorTenThousandths: Int64

    /// The identity adjustment.
    public static let none = PriceAdjustment(factorTenThousandths: 10_000)

    /// Creates an adjustment from its multiplier in ten-thousandths.
    public init(factorTenThousandths: Int64) {
        self.factorTenThousandths = factorTenThousandths
    }

    /// Parses a percentage such as `"-50"` or `"12.5"`; `nil` when malformed, finer than 0.01 %,
    /// or below -100 %.
    public init?(percent text: some StringProtocol) {
        guard let hundredths = DecimalText.parse(text, scale: 2), hundredths >= -10_000, hundredths <= 1_000_000 else {
            return nil
        }
        self.factorTenThousandths = 10_000 + Int64(hundredths)
    }

    /// The percentage as a decimal string, `"-50"`.
    public var percentString: String {
        DecimalText.format(Int128(factorTenThousandths - 10_000), scale: 2, minimumFractionDigits: 0)
    }
}

extension PriceAdjustment: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text: String
        if let number = try? container.decode(Int.self) {
            text = String(number)
        } else {
            text = try container.decode(String.self)
        }
        guard let adjustment = PriceAdjustment(percent: text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription:
                    "'\(text)' is not a percentage adjustment: write e.g. \"-50\" or \"10\" (at least -100)"
            )
        }
        self = adjustment
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(percentString)
    }
}

/// A price after adjustments: `numerator / denominator` microdollars per unit, exact.
/// The denominator is always a power of ten, so the value has a finite decimal form.
public struct EffectivePrice: Sendable, Hashable {
    /// Scaled microdollars per unit.
    public var numerator: Int128
    /// A power of ten.
    public var denominator: Int128

    /// An unadjusted published price.
    public init(_ price: UnitPrice) {
        self.numerator = Int128(price.microdollars)
        self.denominator = 1
    }

    /// This price with `adjustment` applied.
    public func adjusted(by adjustment: PriceAdjustment) -> EffectivePrice {
        if adjustment == .none { return self }
        var copy = self
        copy.numerator *= Int128(adjustment.factorTenThousandths)
        copy.denominator *= 10_000
        return copy
    }

    /// The cost of `units` when the price is quoted per `unitsPerPrice` units (1,000,000 for
    /// tokens), rounded half-even to the picodollar (exact for unadjusted token prices).
    public func cost(units: Int64, unitsPerPrice: Int128) -> Cost {
        // microdollars × units / unitsPerPrice → picodollars = × 10^6.
        let scaled = numerator * Int128(units) * 1_000_000
        return Cost(picodollars: DecimalText.divideRoundingHalfEven(scaled, by: denominator * unitsPerPrice))
    }

    /// The dollars-per-unit as an exact decimal string.
    public var dollarString: String {
        var numerator = numerator
        var denominator = denominator
        while denominator > 1, numerator % 10 == 0 {
            numerator /= 10
            denominator /= 10
        }
        var digits = 6
        var d = denominator
        while d > 1 {
            d /= 10
            digits += 1
        }
        return DecimalText.format(numerator, scale: digits, minimumFractionDigits: 0)
    }
}
