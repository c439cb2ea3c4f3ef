/// Parses one JSON object (one line of a JSON Lines file) into fields, quickly and with
/// positions in its errors. Numbers keep their text unless they are 64-bit integers, so no
/// value passes through floating point.
public struct JSONRowParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Objects entered by ``readMembers(_:)``.
    private var depth = 0

    /// A parse failure at a byte column.
    public struct Failure: Error {
        public var column: Int
        public var reason: String
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Parses a line that must hold exactly one JSON object.
    public static func parseObject(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure) -> [String: JSONValue] {
        try wholeLine(bytes) { parser throws(Failure) in
            guard case .object(let fields) = try parser.value(depth: 0) else {
                throw parser.failure("expected a JSON object")
            }
            return fields
        }
    }

    /// Reads a line that must hold exactly one JSON object, member by member, building no
    /// dictionary: `member` receives each key's UTF-8 bytes (escapes decoded) with the parser at
    /// that key's value, and must read the value with ``readValue()`` or ``readMembers(_:)``.
    public static func readObject(
        _ bytes: UnsafeBufferPointer<UInt8>,
        _ member: (UnsafeBufferPointer<UInt8>, inout JSONRowParser) throws(Failure) -> Void
    ) throws(Failure) {
        try wholeLine(bytes) { parser throws(Failure) in try parser.readMembers(member) }
    }

    /// Runs `read` on a line that must be one JSON object and nothing after it.
    private static func wholeLine<Result>(
        _ bytes: UnsafeBufferPointer<UInt8>, _ read: (inout JSONRowParser) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var parser = JSONRowParser(bytes: bytes)
        parser.skipWhitespace()
        guard parser.peek() == UInt8(ascii: "{") else {
            throw parser.failure(
                parser.index >= bytes.count
                    ? "empty line where a JSON object was expected" : "expected a JSON object starting with '{'")
        }
        let result = try read(&parser)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.failure("unexpected text after the JSON object") }
        return result
    }

    /// Whether the value at the parser is an object.
    public var nextIsObject: Bool { peek() == UInt8(ascii: "{") }

    /// Reads the value at the parser.
    public mutating func readValue() throws(Failure) -> JSONValue {
        try value(depth: depth)
    }

    /// Reads the object at the parser member by member (see ``readObject(_:_:)``).
    public mutating func readMembers(
        _ member: (UnsafeBufferPointer<UInt8>, inout JSONRowParser) throws(Failure) -> Void
    ) throws(Failure) {
        guard depth < 64 else { throw failure("nested too deeply") }
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw failure("expected a JSON object") }
        depth += 1
        defer { depth -= 1 }
        if enter(closedBy: UInt8(ascii: "}")) { return }
        repeat {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw failure("expected a quoted field name") }
            // A key with escapes is decoded into `escaped`; a plain one is read in place.
            let plain = plainString()
            let escaped = plain == nil ? Array(try string().utf8) : []
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            if let plain {
                try member(UnsafeBufferPointer(rebasing: bytes[plain]), &self)
            } else {
                try escaped.withUnsafeBufferPointer { key throws(Failure) in try member(key, &self) }
            }
        } while try !leave(closedBy: UInt8(ascii: "}"), after: "a field")
    }

    /// Checks that the value at the parser is well-formed JSON and moves past it without building
    /// it. (Names that appear twice inside it are not looked for.)
    public mutating func skipValue() throws(Failure) {
        try skip(depth: depth)
    }

    private mutating func skip(depth: Int) throws(Failure) {
        guard depth < 64 else { throw failure("nested too deeply") }
        skipWhitespace()
        guard let byte = peek() else { throw failure("the line ends too early (truncated JSON?)") }
        switch byte {
        case UInt8(ascii: "{"):
            if enter(closedBy: UInt8(ascii: "}")) { return }
            repeat {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw failure("expected a quoted field name") }
                try skipString()
                try expect(UInt8(ascii: ":"))
                try skip(depth: depth + 1)
            } while try !leave(closedBy: UInt8(ascii: "}"), after: "a field")
        case UInt8(ascii: "["):
            if enter(closedBy: UInt8(ascii: "]")) { return }
            repeat {
                try skip(depth: depth + 1)
            } while try !leave(closedBy: UInt8(ascii: "]"), after: nil)
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): _ = try literal("true", .bool(true))
        case UInt8(ascii: "f"): _ = try literal("false", .bool(false))
        case UInt8(ascii: "n"): _ = try literal("null", .null)
        default: _ = try number()
        }
    }

    /// Moves into the object or array at the parser; true (and past its end) when it is empty.
    private mutating func enter(closedBy close: UInt8) -> Bool {
        index += 1
        skipWhitespace()
        guard peek() == close else { return false }
        index += 1
        return true
    }

    /// Moves past the `,` after an element (false) or the container's end (true).
    private mutating func leave(closedBy close: UInt8, after element: @autoclosure () -> String?) throws(Failure)
        -> Bool
    {
        skipWhitespace()
        guard let next = peek() else { throw failure("the line ends too early (truncated JSON?)") }
        if next == close || next == UInt8(ascii: ",") {
            index += 1
            return next == close
        }
        guard let element = element() else { throw failure("expected ',' or ']'") }
        throw failure("expected ',' or '\(Character(Unicode.Scalar(close)))' after \(element)")
    }

    /// Moves past the string at the parser, checking its escapes.
    private mutating func skipString() throws(Failure) {
        if plainString() == nil { _ = try string() }
    }

    /// A failure at the parser's position, for errors found by a ``readObject(_:_:)`` caller.
    public func failure(_ reason: String) -> Failure { Failure(column: index + 1, reason: reason) }

    /// The bytes of the string at the parser when it has no escapes (the parser moves past it);
    /// nil, with the parser unmoved, when it has escapes or is malformed.
    private mutating func plainString() -> Range<Int>? {
        var end = index + 1
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") {
                defer { index = end + 1 }
                return (index + 1)..<end
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            end += 1
        }
        return nil
    }

    /// The members of the JSON object in `bytes` (read in place when the bytes are contiguous).
    public static func members(of bytes: some Collection<UInt8>) -> Result<[String: JSONValue], Failure> {
        func parse(_ pointer: UnsafeBufferPointer<UInt8>) -> Result<[String: JSONValue], Failure> {
            do throws(Failure) {
                return .success(try parseObject(pointer))
            } catch {
                return .failure(error)
            }
        }
        return bytes.withContiguousStorageIfAvailable(parse) ?? Array(bytes).withUnsafeBufferPointer(parse)
    }

    /// The members of the JSON object in `bytes` whose names `build` accepts (it may look at the
    /// value with the parser, e.g. ``nextIsObject``). The others are checked for well-formed JSON
    /// and skipped without being built.
    public static func members(
        of bytes: some Collection<UInt8>, building build: (String, JSONRowParser) -> Bool
    ) -> Result<[String: JSONValue], Failure> {
        func parse(_ pointer: UnsafeBufferPointer<UInt8>) -> Result<[String: JSONValue], Failure> {
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(8)
            do throws(Failure) {
                try readObject(pointer) { key, parser throws(Failure) in
                    let name = String(decoding: key, as: UTF8.self)
                    guard build(name, parser) else { return try parser.skipValue() }
                    if members.updateValue(try parser.readValue(), forKey: name) != nil {
                        throw parser.failure("field '\(name)' appears twice")
                    }
                }
                return .success(members)
            } catch {
                return .failure(error)
            }
        }
        return bytes.withContiguousStorageIfAvailable(parse) ?? Array(bytes).withUnsafeBufferPointer(parse)
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 32 || bytes[index] == 9 || bytes[index] == 10 || bytes[index] == 13 {
            index += 1
        }
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        skipWhitespace()
        guard peek() == byte else {
            throw failure(
                index >= bytes.count
                    ? "the line ends too early (truncated JSON?)" : "expected '\(Character(Unicode.Scalar(byte)))'")
        }
        index += 1
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard depth < 64 else { throw failure("nested too deeply") }
        skipWhitespace()
        guard let byte = peek() else { throw failure("the line ends too early (truncated JSON?)") }
        switch byte {
        case UInt8(ascii: "{"):
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(6)
            if enter(closedBy: UInt8(ascii: "}")) { return .object(members) }
            var key = ""
            repeat {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw failure("expected a quoted field name") }
                key = try string()
                try expect(UInt8(ascii: ":"))
                let member = try value(depth: depth + 1)
                if members.updateValue(member, forKey: key) != nil { throw failure("field '\(key)' appears twice") }
            } while try !leave(closedBy: UInt8(ascii: "}"), after: "field '\(key)'")
            return .object(members)
        case UInt8(ascii: "["):
            var items: [JSONValue] = []
            if enter(closedBy: UInt8(ascii: "]")) { return .array(items) }
            repeat {
                items.append(try value(depth: depth + 1))
            } while try !leave(closedBy: UInt8(ascii: "]"), after: nil)
            return .array(items)
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default:
            return try number()
        }
    }

    private mutating func literal(_ word: StaticString, _ result: JSONValue) throws(Failure) -> JSONValue {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw failure("unexpected end of line") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw failure("unexpected text (expected a value)")
        }
        index += count
        return result
    }

    private mutating func number() throws(Failure) -> JSONValue {
        let begin = index
        var integer: Int64 = 0
        var negative = false
        var overflow = false
        var isInteger = true
        if peek() == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var digits = 0
        while let byte = peek(), byte >= 48, byte <= 57 {
            let (times, o1) = integer.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int64(byte - 48))
            overflow = overflow || o1 || o2
            integer = sum
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw failure("unexpected text (expected a value)") }
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            while let byte = peek(), byte >= 48, byte <= 57 { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            while let byte = peek(), byte >= 48, byte <= 57 { index += 1 }
        }
        if isInteger, !overflow { return .integer(negative ? -integer : integer) }
        return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[begin..<index]), as: UTF8.self))
    }

    private mutating func string() throws(Failure) -> String {
        index += 1
        let begin = index
        var plain = true
        while let byte = peek() {
            if byte == UInt8(ascii: "\"") {
                if plain {
                    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[begin..<index]), as: UTF8.self)
                    index += 1
                    return text
                }
                break
            }
            if byte == UInt8(ascii: "\\") {
                plain = false
                index += 2
                continue
            }
            if byte < 0x20 { throw failure("control character inside a string") }
            index += 1
        }
        guard !plain else { throw failure("unterminated string (truncated line?)") }
        // Slow path: decode escapes.
        index = begin
        var scalars = String.UnicodeScalarView()
        var pending: [UInt8] = []
        func flush() {
            if !pending.isEmpty {
                scalars.append(contentsOf: String(decoding: pending, as: UTF8.self).unicodeScalars)
                pending.removeAll()
            }
        }
        while let byte = peek() {
            index += 1
            if byte == UInt8(ascii: "\"") {
                flush()
                return String(scalars)
            }
            guard byte == UInt8(ascii: "\\") else {
                pending.append(byte)
                continue
            }
            flush()
            guard let escape = peek() else { break }
            index += 1
            switch escape {
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "b"): scalars.append("\u{8}")
            case UInt8(ascii: "f"): scalars.append("\u{C}")
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): scalars.append(Unicode.Scalar(escape))
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), peek() == UInt8(ascii: "\\") {
                    index += 1
                    guard peek() == UInt8(ascii: "u") else { throw failure("invalid surrogate pair") }
                    index += 1
                    let low = try hex4()
                    // A high surrogate must be followed by a low one (found by fuzzing: this used
                    // to underflow on `\uDBBF\uBBBB`).
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate in \\u escape") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw failure("invalid \\u escape") }
                scalars.append(scalar)
            default: throw failure("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
            }
        }
        throw failure("unterminated string (truncated line?)")
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt32
            switch byte {
            case 48...57: digit = UInt32(byte - 48)
            case 65...70: digit = UInt32(byte - 55)
            case 97...102: digit = UInt32(byte - 87)
            default: throw failure("invalid \\u escape")
            }
            value = value * 16 + digit
        }
        return value
    }
}
