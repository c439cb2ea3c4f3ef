/// A published price: microdollars (10⁻⁶ USD) per unit of quantity — per million tokens, per
/// GPU-hour, or per GB-month. `"2.50"` dollars per million tokens is `2_500_000`.
public struct UnitPrice: Sendable, Hashable, Comparable {
    /// Microdollars per unit.
    public var microdollars: Int64

    /// Creates a price of `microdollars` per unit.
    public init(microdollars: Int64) {
        self.microdollars = microdollars
    }

    /// Parses a dollar amount with at most six fraction digits, such as `"0.075"`.
    public init?(dollars text: some StringProtocol) {
        guard let value = DecimalText.parse(text, scale: 6), value >= 0, value <= Int128(Int64.max) else {
            return nil
        }
        self.microdollars = Int64(value)
    }

    /// The price in dollars as an exact decimal string: `"2.5"`, `"0.075"`.
    public var dollarString: String {
        DecimalText.format(Int128(microdollars), scale: 6, minimumFractionDigits: 0)
    }

    public static func < (lhs: UnitPrice, rhs: UnitPrice) -> Bool { lhs.microdollars < rhs.microdollars }
}

extension UnitPrice: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let price = UnitPrice(dollars: text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription:
                    "'\(text)' is not a price: write dollars as a decimal string with at most 6 fraction digits, e.g. \"2.50\""
            )
        }
        self = price
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(dollarString)
    }
}
