public import LedgerCore

/// Decodes rows of the plain, common shape straight from their bytes into events, building no
/// field values on the way: the fast path of the JSON Lines and CSV importers.
///
/// A row is plain when every value is as a well-behaved export writes it: text without escapes
/// and with nothing to trim, whole numbers written as digits, known fields each given once, the
/// timestamp, provider and model present. Anything else — a row with an error, or one the general
/// decoder accepts only after converting or trimming a value — gives `nil`, and the caller decodes
/// the row the general way (``RowFields`` and ``EventRowDecoder``), which names the field at fault.
/// A row this decoder accepts comes out exactly as the general way makes it; the tests and the
/// parser fuzz target check that on every row they try.
public struct PlainRowDecoder: Sendable {
    /// The `source` given to rows that name none.
    public var defaultSource: String

    /// An event with nothing set, copied for each row (cheaper than building one).
    private let blank = UsageEvent(id: "", timestamp: Timestamp(microseconds: 0), provider: "", model: "")

    /// Creates a decoder.
    public init(defaultSource: String = "import") {
        self.defaultSource = defaultSource
    }

    /// The event of one JSON Lines row, or nil when the row is not plain.
    public func decode(jsonLine line: UnsafeBufferPointer<UInt8>) -> UsageEvent? {
        var scanner = PlainJSONScanner(bytes: line)
        var row = PlainRow(event: blank)
        guard
            scanner.members({ key, scanner in
                guard let position = EventRowDecoder.fieldTable.position(of: key), row.first(position) else {
                    return false
                }
                switch scanner.peek() {
                case UInt8(ascii: "\""):
                    guard let text = scanner.string() else { return false }
                    return row.text(position, text)
                case UInt8(ascii: "{"):
                    if position == EventRowDecoder.Field.tokens { return row.tokens(&scanner) }
                    if position == EventRowDecoder.Field.tags { return row.tags(&scanner) }
                    return false
                case UInt8(ascii: "n"):
                    // null leaves a text field out, as if it were not there.
                    return scanner.null() && row.isText(position)
                default:
                    guard let number = scanner.wholeNumber() else { return false }
                    return row.count(position, number)
                }
            }), scanner.atEnd
        else { return nil }
        return row.event(raw: line, defaultSource: defaultSource)
    }

    /// The event of one CSV record (one line, no quotes) whose columns hold the fields at
    /// `positions` (see ``EventRowDecoder/knownFields``), or nil when the record is not plain.
    public func decode(csvRecord record: UnsafeBufferPointer<UInt8>, positions: [Int]) -> UsageEvent? {
        var row = PlainRow(event: blank)
        var column = 0
        var start = 0
        for index in 0...record.count {
            let byte = index < record.count ? record[index] : UInt8(ascii: ",")
            if byte == UInt8(ascii: "\"") { return nil }
            guard byte == UInt8(ascii: ",") else { continue }
            guard column < positions.count else { return nil }
            if index > start {
                let position = positions[column]
                guard row.first(position), row.text(position, UnsafeBufferPointer(rebasing: record[start..<index]))
                else { return nil }
            }
            column += 1
            start = index + 1
        }
        guard column == positions.count else { return nil }
        return row.event(raw: record, defaultSource: defaultSource)
    }
}

/// An event being filled from a plain row's fields.
private struct PlainRow {
    typealias Field = EventRowDecoder.Field
    typealias Bytes = UnsafeBufferPointer<UInt8>

    var event: UsageEvent
    /// Field positions seen, one bit each.
    var seen: UInt64 = 0
    var hasID = false
    var hasTimestamp = false
    var hasSource = false

    /// The bit of the `tokens` object, and those of the flat token fields, in `seen`.
    static let tokensObject: UInt64 = 1 << UInt64(Field.tokens)
    static let flatTokens: UInt64 = (1 << UInt64(Field.firstDimension)) - (1 << UInt64(Field.firstToken))
    /// Built once: the synthesized `allCases` builds a new array at every use.
    static let tiers = ServiceTier.allCases
    static let outcomes = Outcome.allCases

    init(event: UsageEvent) {
        self.event = event
    }

    /// Marks a field as seen; false when it was already.
    mutating func first(_ position: Int) -> Bool {
        let bit: UInt64 = 1 << UInt64(position)
        guard seen & bit == 0 else { return false }
        seen |= bit
        return true
    }

    /// Whether the field at `position` holds text.
    func isText(_ position: Int) -> Bool {
        switch position {
        case Field.id, Field.timestamp, Field.source, Field.provider, Field.model, Field.region, Field.serviceTier,
            Field.outcome:
            true
        default: position >= Field.firstDimension
        }
    }

    /// Sets a field from its text; false when the text is not plain for that field.
    mutating func text(_ position: Int, _ bytes: Bytes) -> Bool {
        // Text the general decoder would trim, or treat as absent, goes its way.
        guard let first = bytes.first, let last = bytes.last, (33...126).contains(first), (33...126).contains(last)
        else { return false }
        switch position {
        case Field.id:
            event.id = String(decoding: bytes, as: UTF8.self)
            hasID = true
        case Field.timestamp:
            guard let timestamp = Timestamp(utf8: bytes) else { return false }
            event.timestamp = timestamp
            hasTimestamp = true
        case Field.source:
            event.source = String(decoding: bytes, as: UTF8.self)
            hasSource = true
        case Field.provider: event.provider = String(decoding: bytes, as: UTF8.self)
        case Field.model: event.model = String(decoding: bytes, as: UTF8.self)
        case Field.region: event.region = String(decoding: bytes, as: UTF8.self)
        case Field.serviceTier:
            guard let tier = PlainRow.match(bytes, PlainRow.tiers) else { return false }
            event.serviceTier = tier
        case Field.outcome:
            guard let outcome = PlainRow.match(bytes, PlainRow.outcomes) else { return false }
            event.outcome = outcome
        case Field.tags: return tags(text: bytes)
        case Field.tokens: return false
        case Field.firstDimension...:
            event.attribution[AttributionDimension.all[position - Field.firstDimension]] = String(
                decoding: bytes, as: UTF8.self)
        default:
            guard let number = PlainRow.wholeNumber(bytes) else { return false }
            return count(position, number)
        }
        return true
    }

    /// Sets a whole-number field; false when the field is not one.
    mutating func count(_ position: Int, _ value: Int64) -> Bool {
        switch position {
        case Field.latency: event.latencyMilliseconds = value
        case Field.requests: event.requests = value
        case Field.gpuSeconds:
            let (micro, overflow) = value.multipliedReportingOverflow(by: ResourceUsage.microsecondsPerSecond)
            guard !overflow else { return false }
            event.resources.gpuMicroseconds = micro
        case Field.storageByteHours: event.resources.storageByteHours = value
        case Field.firstToken..<Field.firstDimension:
            // Not with a `tokens` object: the general way says which to keep.
            guard seen & PlainRow.tokensObject == 0 else { return false }
            event.tokens[TokenKind.all[position - Field.firstToken]] = value
        default: return false
        }
        return true
    }

    /// Reads a `tokens` object of whole numbers.
    mutating func tokens(_ scanner: inout PlainJSONScanner) -> Bool {
        guard seen & PlainRow.flatTokens == 0 else { return false }
        var kinds: UInt32 = 0
        var counts = TokenCounts.zero
        guard
            scanner.members({ key, scanner in
                guard let slot = EventRowDecoder.tokenTable.position(of: key), kinds & (1 << UInt32(slot)) == 0,
                    let value = scanner.wholeNumber()
                else { return false }
                kinds |= 1 << UInt32(slot)
                counts[TokenKind.all[slot]] = value
                return true
            })
        else { return false }
        event.tokens = counts
        return true
    }

    /// Reads a `tags` object of text values.
    mutating func tags(_ scanner: inout PlainJSONScanner) -> Bool {
        var tags: [String: String] = [:]
        guard
            scanner.members({ key, scanner in
                guard scanner.peek() == UInt8(ascii: "\""), let value = scanner.string() else { return false }
                return tags.updateValue(
                    String(decoding: value, as: UTF8.self), forKey: String(decoding: key, as: UTF8.self))
                    == nil
            })
        else { return false }
        event.tags = tags
        return true
    }

    /// Reads tags written as text, `k=v;k2=v2`, when no part needs trimming.
    mutating func tags(text bytes: Bytes) -> Bool {
        guard bytes.first != UInt8(ascii: "{"), bytes.allSatisfy({ (33...126).contains($0) }) else { return false }
        var tags: [String: String] = [:]
        for pair in bytes.split(separator: UInt8(ascii: ";")) {
            guard let equals = pair.firstIndex(of: UInt8(ascii: "=")), equals > pair.startIndex,
                equals + 1 < pair.endIndex
            else { return false }
            tags[String(decoding: UnsafeBufferPointer(rebasing: bytes[pair.startIndex..<equals]), as: UTF8.self)] =
                String(decoding: UnsafeBufferPointer(rebasing: bytes[(equals + 1)..<pair.endIndex]), as: UTF8.self)
        }
        event.tags = tags
        return true
    }

    /// The finished event, or nil when a field the general decoder requires is missing.
    consuming func event(raw: Bytes, defaultSource: String) -> UsageEvent? {
        guard hasTimestamp, !event.provider.isEmpty, !event.model.isEmpty else { return nil }
        if !hasID { event.id = RowIdentity.id(for: raw) }
        if !hasSource { event.source = defaultSource }
        return event
    }

    /// Digits only, at most 18 of them (so no overflow).
    static func wholeNumber(_ bytes: Bytes) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= 48, byte <= 57 else { return nil }
            value = value &* 10 &+ Int64(byte &- 48)
        }
        return value
    }

    /// The case whose raw value is exactly `bytes`.
    static func match<Value: RawRepresentable<String>>(_ bytes: Bytes, _ cases: [Value]) -> Value? {
        cases.first { $0.rawValue.utf8.elementsEqual(bytes) }
    }
}

/// Reads the JSON of a plain row: objects, strings without escapes, whole numbers, `null`.
/// Every method returns nil or false at anything else.
struct PlainJSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    /// Whether only whitespace is left.
    var atEnd: Bool {
        var scanner = self
        scanner.skipWhitespace()
        return scanner.index == bytes.count
    }

    mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 32 || bytes[index] == 9 || bytes[index] == 10 || bytes[index] == 13 {
            index += 1
        }
    }

    /// Reads an object: `member` gets each key's bytes with the scanner at the value, and must
    /// read the value (false to stop).
    mutating func members(
        _ member: (UnsafeBufferPointer<UInt8>, inout PlainJSONScanner) -> Bool
    ) -> Bool {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { return false }
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return true
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\""), let key = string() else { return false }
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { return false }
            index += 1
            skipWhitespace()
            guard member(key, &self) else { return false }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return true
            default: return false
            }
        }
    }

    /// The bytes of the string at the scanner, which has no escapes or control characters.
    mutating func string() -> UnsafeBufferPointer<UInt8>? {
        var end = index + 1
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") {
                defer { index = end + 1 }
                return UnsafeBufferPointer(rebasing: bytes[(index + 1)..<end])
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            end += 1
        }
        return nil
    }

    /// A whole number written as digits (no sign, fraction, exponent or leading zero), followed
    /// by whitespace, `,` or `}`.
    mutating func wholeNumber() -> Int64? {
        var end = index
        while end < bytes.count, bytes[end] >= 48, bytes[end] <= 57 { end += 1 }
        guard end > index, bytes[index] != 48 || end == index + 1 else { return nil }
        if end < bytes.count {
            switch bytes[end] {
            case UInt8(ascii: ","), UInt8(ascii: "}"), 32, 9, 10, 13: break
            default: return nil
            }
        }
        guard let value = PlainRow.wholeNumber(UnsafeBufferPointer(rebasing: bytes[index..<end])) else { return nil }
        index = end
        return value
    }

    /// `null`.
    mutating func null() -> Bool {
        guard index + 4 <= bytes.count, bytes[index + 1] == UInt8(ascii: "u"), bytes[index + 2] == UInt8(ascii: "l"),
            bytes[index + 3] == UInt8(ascii: "l")
        else { return false }
        index += 4
        return true
    }
}
