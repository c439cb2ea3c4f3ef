/// An exact amount of US dollars, held as an integer number of picodollars (10⁻¹² USD).
///
/// A token price is quoted in microdollars per million tokens, so `tokens × price` is an exact
/// number of picodollars: no rounding happens while costs are computed or summed.
/// Rounding to the cent happens once, when a statement is issued.
public struct Cost: Sendable, Hashable, Comparable {
    /// Picodollars per dollar.
    public static let picodollarsPerDollar: Int128 = 1_000_000_000_000

    /// The amount in picodollars.
    public var picodollars: Int128

    /// Zero dollars.
    public static let zero = Cost(picodollars: 0)

    /// Creates an amount from a number of picodollars.
    public init(picodollars: Int128) {
        self.picodollars = picodollars
    }

    /// Parses a plain decimal string such as `"12.5"` or `"-0.000001"`; `nil` when it is not one
    /// or has more than 12 fraction digits.
    public init?(decimal text: some StringProtocol) {
        guard let value = DecimalText.parse(text, scale: 12) else { return nil }
        self.picodollars = value
    }

    /// The exact amount as a decimal string in dollars, trailing zeros trimmed, at least two
    /// fraction digits: `"0.0123375"`, `"12.00"`, `"-3.10"`.
    public var decimalString: String {
        DecimalText.format(picodollars, scale: 12, minimumFractionDigits: 2)
    }

    /// The amount rounded half-to-even to `fractionDigits` digits, as a decimal string.
    public func rounded(fractionDigits: Int) -> String {
        precondition((0...12).contains(fractionDigits))
        let unit = DecimalText.powerOfTen(12 - fractionDigits)
        let rounded = DecimalText.divideRoundingHalfEven(picodollars, by: unit)
        return DecimalText.format(rounded, scale: fractionDigits, minimumFractionDigits: fractionDigits)
    }

    public static func + (lhs: Cost, rhs: Cost) -> Cost { Cost(picodollars: lhs.picodollars + rhs.picodollars) }
    public static func - (lhs: Cost, rhs: Cost) -> Cost { Cost(picodollars: lhs.picodollars - rhs.picodollars) }
    public static func += (lhs: inout Cost, rhs: Cost) { lhs.picodollars += rhs.picodollars }
    public static func < (lhs: Cost, rhs: Cost) -> Bool { lhs.picodollars < rhs.picodollars }
}

extension Cost: CustomStringConvertible {
    /// `"$12.345"`, exact.
    public var description: String { "$" + decimalString }
}
