public import LedgerCore

/// A value read from one row of a JSON Lines or CSV file.
public typealias FieldValue = JSONValue

extension JSONValue {
    /// A short description for error messages.
    var summary: String {
        switch self {
        case .string(let text): "\"\(text.count > 40 ? text.prefix(40) + "…" : Substring(text))\""
        case .integer(let value): String(value)
        case .number(let text): text
        case .bool(let value): String(value)
        case .null: "null"
        case .object: "an object"
        case .array: "an array"
        }
    }
}
