/// One sample of the Prometheus text exposition format:
/// `name{label="value",…} 12.5 1761998400000`.
public struct PrometheusSample: Sendable, Hashable {
    public var name: String
    public var labels: [String: String]
    /// The value as written (decimal, `1.2e10`, `NaN`, `+Inf`).
    public var value: String
    /// Milliseconds since the epoch, when the line carries a timestamp.
    public var timestampMilliseconds: Int64?
}

/// Parses lines of the Prometheus text format (comments and blank lines yield nil).
public enum PrometheusText {
    public struct Malformed: Error, Sendable {
        public var reason: String
    }

    public static func sample(_ line: some StringProtocol) throws(Malformed) -> PrometheusSample? {
        let text = Substring(line).drop { $0 == " " || $0 == "\t" }
        if text.isEmpty || text.hasPrefix("#") { return nil }
        var index = text.startIndex
        while index < text.endIndex, text[index] != "{", text[index] != " ", text[index] != "\t" {
            index = text.index(after: index)
        }
        let name = String(text[text.startIndex..<index])
        guard !name.isEmpty else { throw Malformed(reason: "no metric name") }
        var labels: [String: String] = [:]
        if index < text.endIndex, text[index] == "{" {
            index = text.index(after: index)
            while true {
                while index < text.endIndex, text[index] == " " || text[index] == "," {
                    index = text.index(after: index)
                }
                guard index < text.endIndex else { throw Malformed(reason: "labels are not closed with '}'") }
                if text[index] == "}" {
                    index = text.index(after: index)
                    break
                }
                let keyStart = index
                while index < text.endIndex, text[index] != "=" { index = text.index(after: index) }
                guard index < text.endIndex else { throw Malformed(reason: "a label has no '='") }
                let key = String(text[keyStart..<index]).trimmingWhitespace()
                index = text.index(after: index)
                guard index < text.endIndex, text[index] == "\"" else {
                    throw Malformed(reason: "the value of label '\(key)' is not quoted")
                }
                index = text.index(after: index)
                var value = ""
                var closed = false
                while index < text.endIndex {
                    let character = text[index]
                    index = text.index(after: index)
                    if character == "\"" {
                        closed = true
                        break
                    }
                    if character == "\\", index < text.endIndex {
                        let escaped = text[index]
                        index = text.index(after: index)
                        value.append(escaped == "n" ? "\n" : escaped)
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { throw Malformed(reason: "the value of label '\(key)' is not closed") }
                labels[key] = value
            }
        }
        let rest = text[index...].split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let value = rest.first else { throw Malformed(reason: "'\(name)' has no value") }
        var timestamp: Int64?
        if rest.count > 1 {
            guard let parsed = Int64(rest[1]) else {
                throw Malformed(reason: "'\(rest[1])' is not a timestamp in milliseconds")
            }
            timestamp = parsed
        }
        return PrometheusSample(name: name, labels: labels, value: String(value), timestampMilliseconds: timestamp)
    }
}
