/// Reads the protobuf wire format (varints, fixed 32/64-bit fields, length-delimited fields) from
/// a byte buffer, for the few OTLP messages TokenLedger decodes. Every read is bounds-checked:
/// truncated or malformed input throws, never traps.
struct ProtobufReader {
    struct Malformed: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "malformed protobuf at byte \(offset): \(reason)" }
    }

    enum WireType: Int {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    private let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int
    private let end: Int

    init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil) {
        self.bytes = bytes
        offset = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var isAtEnd: Bool { offset >= end }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws(Malformed) -> (number: Int, wireType: WireType)? {
        guard !isAtEnd else { return nil }
        let start = offset
        let key = try varint()
        guard let wireType = WireType(rawValue: Int(key & 7)) else {
            throw Malformed(offset: start, reason: "unsupported wire type \(key & 7)")
        }
        let number = Int(key >> 3)
        guard number > 0 else { throw Malformed(offset: start, reason: "field number 0") }
        return (number, wireType)
    }

    mutating func varint() throws(Malformed) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < end {
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift >= 64 { throw Malformed(offset: offset, reason: "varint longer than 10 bytes") }
        }
        throw Malformed(offset: offset, reason: "truncated varint")
    }

    mutating func fixed64() throws(Malformed) -> UInt64 {
        guard end - offset >= 8 else { throw Malformed(offset: offset, reason: "truncated 64-bit field") }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        offset += 8
        return value
    }

    mutating func fixed32() throws(Malformed) -> UInt32 {
        guard end - offset >= 4 else { throw Malformed(offset: offset, reason: "truncated 32-bit field") }
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * UInt32(index)) }
        offset += 4
        return value
    }

    /// The byte range of a length-delimited field (a string, bytes or an embedded message).
    mutating func lengthDelimited() throws(Malformed) -> Range<Int> {
        let start = offset
        let length = try varint()
        guard length <= UInt64(end - offset) else {
            throw Malformed(offset: start, reason: "length \(length) runs past the end of the message")
        }
        let range = offset..<(offset + Int(length))
        offset = range.upperBound
        return range
    }

    mutating func string() throws(Malformed) -> String {
        let range = try lengthDelimited()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    mutating func hexBytes() throws(Malformed) -> String {
        let range = try lengthDelimited()
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(range.count * 2)
        for index in range {
            text.append(digits[Int(bytes[index] >> 4)])
            text.append(digits[Int(bytes[index] & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A reader over an embedded message.
    mutating func message() throws(Malformed) -> ProtobufReader {
        ProtobufReader(bytes, range: try lengthDelimited())
    }

    mutating func skip(_ wireType: WireType) throws(Malformed) {
        switch wireType {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimited()
        }
    }
}
