/// JSON with keys in the order written, for output that scripts read and people diff.
public indirect enum OrderedJSON: Sendable, Hashable {
    case object([(String, OrderedJSON)])
    case array([OrderedJSON])
    case string(String)
    case integer(Int64)
    /// A number written as given (an exact decimal).
    case decimal(String)
    case bool(Bool)
    case null

    public static func == (lhs: OrderedJSON, rhs: OrderedJSON) -> Bool { lhs.serialized() == rhs.serialized() }
    public func hash(into hasher: inout Hasher) { hasher.combine(serialized()) }

    /// A string, or `null` for `nil`.
    public static func optional(_ value: String?) -> OrderedJSON { value.map(OrderedJSON.string) ?? .null }

    /// The compact serialization, or an indented one when `pretty`.
    public func serialized(pretty: Bool = false) -> String {
        var output = ""
        write(into: &output, pretty: pretty, indent: 0)
        return output
    }

    private func write(into output: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .object(let members):
            if members.isEmpty {
                output += "{}"
                return
            }
            output += "{"
            for (position, (key, value)) in members.enumerated() {
                if position > 0 { output += "," }
                if pretty { output += "\n" + String(repeating: "  ", count: indent + 1) }
                OrderedJSON.writeString(key, into: &output)
                output += pretty ? ": " : ":"
                value.write(into: &output, pretty: pretty, indent: indent + 1)
            }
            if pretty { output += "\n" + String(repeating: "  ", count: indent) }
            output += "}"
        case .array(let items):
            if items.isEmpty {
                output += "[]"
                return
            }
            output += "["
            for (position, item) in items.enumerated() {
                if position > 0 { output += "," }
                if pretty { output += "\n" + String(repeating: "  ", count: indent + 1) }
                item.write(into: &output, pretty: pretty, indent: indent + 1)
            }
            if pretty { output += "\n" + String(repeating: "  ", count: indent) }
            output += "]"
        case .string(let text): OrderedJSON.writeString(text, into: &output)
        case .integer(let value): output += String(value)
        case .decimal(let text): output += text
        case .bool(let value): output += value ? "true" : "false"
        case .null: output += "null"
        }
    }

    /// A string as a JSON string literal.
    public static func quoted(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
        var output = ""
        writeString(text, into: &output)
        return output
    }

    static func writeString(_ text: String, into output: inout String) {
        output += "\""
        // Most strings need no escaping: append them whole; otherwise append the runs between escapes.
        let utf8 = text.utf8
        if utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            output += text
        } else {
            var runStart = utf8.startIndex
            var index = runStart
            while index != utf8.endIndex {
                let byte = utf8[index]
                if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                    utf8.formIndex(after: &index)
                    continue
                }
                output.append(contentsOf: text[runStart..<index])
                switch byte {
                case 0x22: output += "\\\""
                case 0x5C: output += "\\\\"
                case 0x0A: output += "\\n"
                case 0x0D: output += "\\r"
                case 0x09: output += "\\t"
                default:
                    let hex = String(byte, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
                utf8.formIndex(after: &index)
                runStart = index
            }
            output.append(contentsOf: text[runStart..<index])
        }
        output += "\""
    }
}
