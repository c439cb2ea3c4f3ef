/// A problem with one input row, or with a whole file: where it is and what to do.
public struct IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// The 1-based line (or record) number, when the problem is in one row.
    public var line: Int?
    /// The field, when one field is wrong.
    public var field: String?
    /// What is wrong and how to fix it.
    public var reason: String

    /// Creates an error.
    public init(file: String, line: Int?, field: String?, reason: String) {
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
    }

    /// `events.jsonl:12: field 'timestamp': …`
    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let field { text += "field '\(field)': " }
        return text + reason
    }
}
