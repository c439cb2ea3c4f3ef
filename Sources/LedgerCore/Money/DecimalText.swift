/// Exact conversions between scaled integers and decimal strings. No floating point anywhere.
public enum DecimalText {
    /// 10^exponent as an `Int128`.
    public static func powerOfTen(_ exponent: Int) -> Int128 {
        var result: Int128 = 1
        for _ in 0..<exponent { result *= 10 }
        return result
    }

    /// Parses `[-+]digits[.digits]` into an integer scaled by 10^scale. Returns `nil` for anything
    /// else, including more fraction digits than `scale` (after trailing zeros are trimmed).
    public static func parse(_ text: some StringProtocol, scale: Int) -> Int128? {
        var utf8 = Substring(text).utf8[...]
        guard !utf8.isEmpty else { return nil }
        var negative = false
        if utf8.first == UInt8(ascii: "-") || utf8.first == UInt8(ascii: "+") {
            negative = utf8.first == UInt8(ascii: "-")
            utf8 = utf8.dropFirst()
        }
        var integerPart: Int128 = 0
        var fraction: Int128 = 0
        var fractionDigits = 0
        var seenDot = false
        var seenDigit = false
        var pendingZeros = 0
        for byte in utf8 {
            if byte == UInt8(ascii: ".") {
                if seenDot { return nil }
                seenDot = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            seenDigit = true
            let digit = Int128(byte - UInt8(ascii: "0"))
            if seenDot {
                if digit == 0 {
                    pendingZeros += 1
                    continue
                }
                fractionDigits += pendingZeros + 1
                guard fractionDigits <= scale else { return nil }
                for _ in 0..<pendingZeros { fraction *= 10 }
                pendingZeros = 0
                fraction = fraction * 10 + digit
            } else {
                let (product, overflow) = integerPart.multipliedReportingOverflow(by: 10)
                guard !overflow, product <= Int128.max / powerOfTen(scale) else { return nil }
                integerPart = product + digit
            }
        }
        guard seenDigit else { return nil }
        let value = integerPart * powerOfTen(scale) + fraction * powerOfTen(scale - fractionDigits)
        return negative ? -value : value
    }

    /// Formats an integer scaled by 10^scale as a decimal string, trimming trailing zeros down to
    /// `minimumFractionDigits`.
    public static func format(_ value: Int128, scale: Int, minimumFractionDigits: Int) -> String {
        // Written digit by digit from the end into a small buffer (every gateway answer carries a
        // cost): the fraction's `scale` digits less the trailing zeros, then the whole part.
        let magnitude = value.magnitude
        let unit = UInt128(powerOfTen(scale))
        var whole = magnitude / unit
        var fraction = magnitude % unit
        var fractionDigits = scale
        while fractionDigits > minimumFractionDigits, fraction % 10 == 0 {
            fraction /= 10
            fractionDigits -= 1
        }
        // 39 digits at most on either side, a point and a sign.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2 * 40 + 2) { buffer in
            var start = buffer.count
            func put(_ byte: UInt8) {
                start -= 1
                buffer[start] = byte
            }
            for _ in 0..<fractionDigits {
                put(UInt8(ascii: "0") + UInt8(fraction % 10))
                fraction /= 10
            }
            if fractionDigits > 0 { put(UInt8(ascii: ".")) }
            repeat {
                put(UInt8(ascii: "0") + UInt8(whole % 10))
                whole /= 10
            } while whole > 0
            if value < 0 { put(UInt8(ascii: "-")) }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[start...]), as: UTF8.self)
        }
    }

    /// `numerator / denominator` rounded half to even. `denominator` must be positive.
    public static func divideRoundingHalfEven(_ numerator: Int128, by denominator: Int128) -> Int128 {
        precondition(denominator > 0)
        var quotient = numerator / denominator
        let remainder = numerator % denominator
        let twiceRemainder = remainder.magnitude * 2
        if twiceRemainder > denominator.magnitude
            || (twiceRemainder == denominator.magnitude && quotient % 2 != 0)
        {
            quotient += numerator < 0 ? -1 : 1
        }
        return quotient
    }
}
