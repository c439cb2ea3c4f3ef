public import LedgerCore

/// Writes a ``UsageEvent`` as one line of the JSON Lines import format (`docs/EVENTS.md`), which
/// ``EventRowDecoder`` reads back to the same event.
public enum EventJSONLine {
    /// The event as a JSON object, without a trailing newline.
    public static func encode(_ event: UsageEvent) -> String {
        var line = ""
        encode(event, into: &line)
        return line
    }

    /// Appends the event as a JSON object to `line` (written directly: the gateway spools one
    /// per request).
    public static func encode(_ event: UsageEvent, into line: inout String) {
        line.reserveCapacity(line.utf8.count + 384)
        line += "{"
        var first = true
        func key(_ name: StaticString) {
            line += first ? "\"" : ",\""
            first = false
            line += name.description
            line += "\":"
        }
        func string(_ name: StaticString, _ value: String) {
            key(name)
            OrderedJSON.writeString(value, into: &line)
        }
        func integer(_ name: StaticString, _ value: Int64) {
            key(name)
            line += String(value)
        }
        string("id", event.id)
        key("timestamp")
        line += "\""
        event.timestamp.writeISO8601(into: &line)
        line += "\""
        string("source", event.source)
        string("provider", event.provider)
        string("model", event.model)
        string("outcome", event.outcome.rawValue)
        if let region = event.region { string("region", region) }
        if event.serviceTier != .standard { string("service_tier", event.serviceTier.rawValue) }
        if event.requests != 1 { integer("requests", event.requests) }
        if let latency = event.latencyMilliseconds { integer("latency_ms", latency) }
        key("tokens")
        line += "{"
        var firstKind = true
        for kind in TokenKind.allCases where event.tokens[kind] != 0 {
            line += firstKind ? "\"" : ",\""
            firstKind = false
            line += kind.rawValue
            line += "\":"
            line += String(event.tokens[kind])
        }
        line += "}"
        if event.resources.gpuSeconds != 0 { integer("gpu_seconds", event.resources.gpuSeconds) }
        if event.resources.storageByteHours != 0 { integer("storage_byte_hours", event.resources.storageByteHours) }
        for dimension in AttributionDimension.allCases {
            guard let value = event.attribution[dimension] else { continue }
            line += ",\""
            line += dimension.rawValue
            line += "\":"
            OrderedJSON.writeString(value, into: &line)
        }
        if !event.tags.isEmpty {
            key("tags")
            line += "{"
            for (index, tag) in event.tags.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line += "," }
                OrderedJSON.writeString(tag.key, into: &line)
                line += ":"
                OrderedJSON.writeString(tag.value, into: &line)
            }
            line += "}"
        }
        line += "}"
    }
}
