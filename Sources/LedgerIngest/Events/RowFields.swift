public import LedgerCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Finds a name among a fixed list by its UTF-8 bytes, without building a `String` or hashing
/// with `Hasher`: an open-addressing table keyed by the length and three of the bytes, checked
/// byte for byte.
struct NameTable: Sendable {
    /// The names' bytes, one after another.
    private let bytes: [UInt8]
    /// Each name's start in `bytes`, and its end after the last.
    private let offsets: [Int]
    private let slots: [Int16]
    private let mask: Int

    init(_ names: [String]) {
        bytes = names.flatMap(\.utf8)
        offsets = names.reduce(into: [0]) { offsets, name in offsets.append(offsets.last! + name.utf8.count) }
        var size = 16
        while size < names.count * 4 { size *= 2 }
        mask = size - 1
        var slots = [Int16](repeating: -1, count: size)
        for (position, name) in names.enumerated() {
            var slot = Array(name.utf8).withUnsafeBufferPointer { NameTable.hash($0) } & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int16(position)
        }
        self.slots = slots
    }

    private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        guard let first = key.first, let last = key.last else { return 0 }
        return (key.count &* 73) ^ (Int(first) &* 31) ^ (Int(last) &* 131) ^ (Int(key[key.count / 2]) &* 7)
    }

    /// The position of the name spelled by `key`, or nil when it is not in the list.
    func position(of key: UnsafeBufferPointer<UInt8>) -> Int? {
        var slot = NameTable.hash(key) & mask
        return bytes.withUnsafeBufferPointer { names in
            while true {
                let candidate = Int(slots[slot])
                if candidate < 0 { return nil }
                let start = offsets[candidate]
                if offsets[candidate + 1] - start == key.count,
                    key.isEmpty || memcmp(names.baseAddress! + start, key.baseAddress!, key.count) == 0
                {
                    return candidate
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// The position of `name`, or nil.
    func position(of name: String) -> Int? {
        var name = name
        return name.withUTF8 { position(of: $0) }
    }
}

/// One row of the normalised event format, its fields held by their position in
/// ``EventRowDecoder/knownFields`` rather than by name, so decoding a row hashes no names.
public struct RowFields: Sendable {
    /// Values by field position.
    var values: [FieldValue?]
    /// The members of a `tokens` object, by `TokenKind` position; nil when the row has none.
    var tokens: [FieldValue?]?
    /// The first field the format does not define.
    var unknownField: String?
    /// The first member of `tokens` that is not a token kind.
    var unknownTokenKind: String?

    /// No fields.
    init() {
        values = Array(repeating: nil, count: EventRowDecoder.knownFields.count)
    }

    /// The fields of a decoded JSON object or named columns.
    public init(_ fields: [String: FieldValue]) {
        self.init()
        for (name, value) in fields {
            guard let position = EventRowDecoder.fieldTable.position(of: name) else {
                if unknownField == nil { unknownField = name }
                continue
            }
            if position == EventRowDecoder.Field.tokens, case .object(let members) = value {
                var tokens = [FieldValue?](repeating: nil, count: TokenKind.all.count)
                for (kind, count) in members {
                    if let slot = EventRowDecoder.tokenTable.position(of: kind) {
                        tokens[slot] = count
                    } else if unknownTokenKind == nil {
                        unknownTokenKind = kind
                    }
                }
                self.tokens = tokens
            } else {
                values[position] = value
            }
        }
    }

    subscript(_ position: Int) -> FieldValue? { values[position] }

    /// Reads one JSON Lines row in a single pass: each member goes straight to its slot, and the
    /// `tokens` object into its own.
    public static func parse(jsonLine line: UnsafeBufferPointer<UInt8>) throws(JSONRowParser.Failure) -> RowFields {
        var fields = RowFields()
        try JSONRowParser.readObject(line) { key, parser throws(JSONRowParser.Failure) in
            guard let position = EventRowDecoder.fieldTable.position(of: key) else {
                if fields.unknownField == nil { fields.unknownField = String(decoding: key, as: UTF8.self) }
                _ = try parser.readValue()
                return
            }
            guard fields.values[position] == nil, position != EventRowDecoder.Field.tokens || fields.tokens == nil
            else {
                throw parser.failure("field '\(String(decoding: key, as: UTF8.self))' appears twice")
            }
            guard position == EventRowDecoder.Field.tokens, parser.nextIsObject else {
                fields.values[position] = try parser.readValue()
                return
            }
            var tokens = [FieldValue?](repeating: nil, count: TokenKind.all.count)
            try parser.readMembers { kind, parser throws(JSONRowParser.Failure) in
                guard let slot = EventRowDecoder.tokenTable.position(of: kind) else {
                    if fields.unknownTokenKind == nil {
                        fields.unknownTokenKind = String(decoding: kind, as: UTF8.self)
                    }
                    _ = try parser.readValue()
                    return
                }
                guard tokens[slot] == nil else {
                    throw parser.failure("field '\(String(decoding: kind, as: UTF8.self))' appears twice")
                }
                tokens[slot] = try parser.readValue()
            }
            fields.tokens = tokens
        }
        return fields
    }
}
