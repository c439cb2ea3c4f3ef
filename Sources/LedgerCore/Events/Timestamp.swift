/// An instant in UTC, as whole microseconds since 1970-01-01T00:00:00Z.
///
/// Parsing and formatting are done here, without Foundation, because importers parse one per
/// row and must be fast.
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Microseconds since the Unix epoch.
    public var microseconds: Int64

    /// Creates an instant from microseconds since the epoch.
    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    /// Creates an instant from whole seconds since the epoch.
    public init(seconds: Int64) {
        self.microseconds = seconds * 1_000_000
    }

    /// Whole seconds since the epoch (floor).
    public var seconds: Int64 { microseconds.floorDivided(by: 1_000_000) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    /// This instant moved by a number of seconds.
    public func adding(seconds: Int64) -> Timestamp { Timestamp(microseconds: microseconds + seconds * 1_000_000) }

    // MARK: - Calendar

    /// The civil date and time of day in UTC.
    public var components: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, microsecond: Int) {
        let days = microseconds.floorDivided(by: 86_400_000_000)
        let inDay = microseconds - days * 86_400_000_000
        let (year, month, day) = Timestamp.civil(fromDays: days)
        let secondOfDay = Int(inDay / 1_000_000)
        return (year, month, day, secondOfDay / 3600, secondOfDay % 3600 / 60, secondOfDay % 60, Int(inDay % 1_000_000))
    }

    /// Seconds since midnight UTC.
    public var secondOfDay: Int64 { seconds - seconds.floorDivided(by: 86_400) * 86_400 }

    /// Midnight UTC of this instant's day.
    public var startOfDay: Timestamp { Timestamp(seconds: seconds.floorDivided(by: 86_400) * 86_400) }

    /// The start of this instant's hour.
    public var startOfHour: Timestamp { Timestamp(seconds: seconds.floorDivided(by: 3_600) * 3_600) }

    /// Midnight UTC on the first of this instant's month.
    public var startOfMonth: Timestamp {
        let c = components
        return Timestamp(year: c.year, month: c.month, day: 1)
    }

    /// The first instant of the month after this instant's month.
    public var startOfNextMonth: Timestamp {
        let c = components
        return c.month == 12
            ? Timestamp(year: c.year + 1, month: 1, day: 1) : Timestamp(year: c.year, month: c.month + 1, day: 1)
    }

    /// Midnight UTC on a civil date.
    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        let days = Timestamp.days(fromCivilYear: year, month: month, day: day)
        self.init(seconds: days * 86_400 + Int64(hour * 3600 + minute * 60 + second))
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(fromCivilYear year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    /// Day of the week, 0 = Sunday … 6 = Saturday.
    public var weekday: Int {
        let days = microseconds.floorDivided(by: 86_400_000_000)
        return Int((days + 4).positiveModulo(7))
    }

    // MARK: - Text

    /// RFC 3339 in UTC: `2026-03-02T14:00:00Z`, with `.ffffff` when there are sub-seconds.
    public var iso8601: String {
        let c = components
        // Written digit by digit (the gateway writes one per call); a year outside 0…9999, which
        // no parsed timestamp has, is written in full before the rest.
        let wide = (0...9999).contains(c.year) ? "" : String(c.year)
        let rest = String(unsafeUninitializedCapacity: 28) { buffer in
            var index = 0
            func put(_ value: Int, _ width: Int) {
                var value = value
                for position in stride(from: index + width - 1, through: index, by: -1) {
                    buffer[position] = UInt8(48 + value % 10)
                    value /= 10
                }
                index += width
            }
            func put(_ byte: UInt8) {
                buffer[index] = byte
                index += 1
            }
            if wide.isEmpty { put(c.year, 4) }
            put(UInt8(ascii: "-"))
            put(c.month, 2)
            put(UInt8(ascii: "-"))
            put(c.day, 2)
            put(UInt8(ascii: "T"))
            put(c.hour, 2)
            put(UInt8(ascii: ":"))
            put(c.minute, 2)
            put(UInt8(ascii: ":"))
            put(c.second, 2)
            if c.microsecond != 0 {
                put(UInt8(ascii: "."))
                var fraction = c.microsecond
                var digits = 6
                while fraction % 10 == 0 {
                    fraction /= 10
                    digits -= 1
                }
                put(fraction, digits)
            }
            put(UInt8(ascii: "Z"))
            return index
        }
        return wide + rest
    }

    /// `2026-03-02`.
    public var dateString: String {
        let c = components
        return "\(Timestamp.pad(c.year, 4))-\(Timestamp.pad(c.month, 2))-\(Timestamp.pad(c.day, 2))"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// Parses RFC 3339 (`2026-03-02T14:00:00Z`, `…T14:00:00.123+01:00`, a space instead of `T`)
    /// or a bare date (`2026-03-02`, midnight UTC). Returns `nil` for anything else.
    public init?(parsing text: some StringProtocol) {
        guard
            let parsed = text.utf8.withContiguousStorageIfAvailable(Timestamp.init(utf8:))
                ?? Array(text.utf8).withUnsafeBufferPointer(Timestamp.init(utf8:))
        else { return nil }
        self = parsed
    }

    /// Parses the UTF-8 bytes of the text ``init(parsing:)`` accepts.
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        var parser = TimestampParser(bytes: bytes)
        guard let value = parser.parse() else { return nil }
        self.microseconds = value
    }
}

private struct TimestampParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    mutating func number(digits: Int) -> Int? {
        guard index + digits <= bytes.count else { return nil }
        var value = 0
        for _ in 0..<digits {
            let byte = bytes[index]
            guard byte >= 48, byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
            index += 1
        }
        return value
    }

    mutating func expect(_ character: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == character else { return false }
        index += 1
        return true
    }

    mutating func parse() -> Int64? {
        guard let year = number(digits: 4), expect(45), let month = number(digits: 2), expect(45),
            let day = number(digits: 2), (1...12).contains(month), day >= 1,
            day <= TimestampParser.daysIn(month: month, year: year)
        else { return nil }
        let days = Timestamp.days(fromCivilYear: year, month: month, day: day)
        if index == bytes.count { return days * 86_400_000_000 }
        guard expect(84) || expect(116) || expect(32) else { return nil }
        guard let hour = number(digits: 2), expect(58), let minute = number(digits: 2), hour < 24, minute < 60 else {
            return nil
        }
        var second = 0
        var micro = 0
        if expect(58) {
            guard let s = number(digits: 2), s < 61 else { return nil }
            second = min(s, 59)
            if expect(46) || expect(44) {
                var digits = 0
                while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                    if digits < 6 { micro = micro * 10 + Int(bytes[index] - 48) }
                    digits += 1
                    index += 1
                }
                guard digits > 0 else { return nil }
                for _ in digits..<max(digits, 6) { micro *= 10 }
            }
        }
        var offsetSeconds = 0
        if expect(90) || expect(122) {
            offsetSeconds = 0
        } else if index < bytes.count, bytes[index] == 43 || bytes[index] == 45 {
            let sign = bytes[index] == 45 ? -1 : 1
            index += 1
            guard let offsetHours = number(digits: 2) else { return nil }
            _ = expect(58)
            guard let offsetMinutes = number(digits: 2) else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        return seconds * 1_000_000 + Int64(micro)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension Int64 {
    /// Division rounding towards negative infinity.
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    func positiveModulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
