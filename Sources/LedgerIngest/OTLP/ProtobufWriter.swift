/// Writes protobuf fields: the OTLP receiver's responses, and OTLP requests in tests and
/// benchmarks.
public struct ProtobufWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    public mutating func tag(_ number: UInt64, _ wireType: UInt64) { varint(number << 3 | wireType) }

    public mutating func varintField(_ number: UInt64, _ value: UInt64) {
        tag(number, 0)
        varint(value)
    }

    public mutating func fixed64Field(_ number: UInt64, _ value: UInt64) {
        tag(number, 1)
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
    }

    public mutating func bytesField(_ number: UInt64, _ value: [UInt8]) {
        tag(number, 2)
        varint(UInt64(value.count))
        bytes += value
    }

    public mutating func stringField(_ number: UInt64, _ value: String) { bytesField(number, Array(value.utf8)) }

    /// An embedded message, built by `build`.
    public mutating func messageField(_ number: UInt64, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        bytesField(number, inner.bytes)
    }
}
