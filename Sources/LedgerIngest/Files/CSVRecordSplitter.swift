/// Splits CSV records (RFC 4180: quoted fields, doubled quotes, newlines inside quotes) into
/// fields.
public enum CSVRecordSplitter {
    /// Whether a line leaves a quoted field open, so the record continues on the next line.
    public static func hasOpenQuote(_ bytes: UnsafeBufferPointer<UInt8>, startingOpen: Bool) -> Bool {
        var open = startingOpen
        for byte in bytes where byte == UInt8(ascii: "\"") { open.toggle() }
        return open
    }

    /// The fields of one complete record, or a reason it is malformed.
    public static func fields(_ bytes: UnsafeBufferPointer<UInt8>, separator: UInt8 = UInt8(ascii: ",")) -> Result<
        [String], CSVError
    > {
        var fields: [String] = []
        var index = 0
        let count = bytes.count
        while true {
            if index < count, bytes[index] == UInt8(ascii: "\"") {
                index += 1
                var value: [UInt8] = []
                var closed = false
                while index < count {
                    let byte = bytes[index]
                    index += 1
                    if byte == UInt8(ascii: "\"") {
                        if index < count, bytes[index] == UInt8(ascii: "\"") {
                            value.append(byte)
                            index += 1
                        } else {
                            closed = true
                            break
                        }
                    } else {
                        value.append(byte)
                    }
                }
                guard closed else {
                    return .failure(CSVError(column: fields.count + 1, reason: "unterminated quoted field"))
                }
                fields.append(String(decoding: value, as: UTF8.self))
                if index < count, bytes[index] != separator {
                    return .failure(CSVError(column: fields.count, reason: "unexpected text after a closing quote"))
                }
            } else {
                let begin = index
                while index < count, bytes[index] != separator { index += 1 }
                fields.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[begin..<index]), as: UTF8.self))
            }
            if index >= count { return .success(fields) }
            index += 1
            if index == count {
                fields.append("")
                return .success(fields)
            }
        }
    }

    /// A malformed record.
    public struct CSVError: Error, Sendable {
        /// The 1-based field position.
        public var column: Int
        public var reason: String
    }
}
