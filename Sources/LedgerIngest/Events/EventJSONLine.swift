public import LedgerCore

/// Writes a ``UsageEvent`` as one line of the JSON Lines import format (`docs/EVENTS.md`), which
/// ``EventRowDecoder`` reads back to the same event.
public enum EventJSONLine {
    /// The event as a JSON object, without a trailing newline.
    public static func encode(_ event: UsageEvent) -> String {
        var line: [UInt8] = []
        encode(event, into: &line)
        return String(decoding: line, as: UTF8.self)
    }

    /// Appends the event as a JSON object, as UTF-8, to `line` (written byte by byte: the gateway
    /// spools one per request).
    public static func encode(_ event: UsageEvent, into line: inout [UInt8]) {
        line.reserveCapacity(line.count + 384)
        line.append(UInt8(ascii: "{"))
        var first = true
        func key(_ name: StaticString) {
            if !first { line.append(UInt8(ascii: ",")) }
            first = false
            line.append(UInt8(ascii: "\""))
            line.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            line.append(contentsOf: "\":".utf8)
        }
        func string(_ name: StaticString, _ value: String) {
            key(name)
            quote(value, into: &line)
        }
        func integer(_ name: StaticString, _ value: Int64) {
            key(name)
            line.append(contentsOf: String(value).utf8)
        }
        string("id", event.id)
        key("timestamp")
        quote(event.timestamp.iso8601, into: &line)
        string("source", event.source)
        string("provider", event.provider)
        string("model", event.model)
        string("outcome", event.outcome.rawValue)
        if let region = event.region { string("region", region) }
        if event.serviceTier != .standard { string("service_tier", event.serviceTier.rawValue) }
        if event.requests != 1 { integer("requests", event.requests) }
        if let latency = event.latencyMilliseconds { integer("latency_ms", latency) }
        key("tokens")
        line.append(UInt8(ascii: "{"))
        var firstKind = true
        for kind in TokenKind.all where event.tokens[kind] != 0 {
            if !firstKind { line.append(UInt8(ascii: ",")) }
            firstKind = false
            quote(kind.rawValue, into: &line)
            line.append(UInt8(ascii: ":"))
            line.append(contentsOf: String(event.tokens[kind]).utf8)
        }
        line.append(UInt8(ascii: "}"))
        if event.resources.gpuMicroseconds != 0 {
            key("gpu_seconds")  // an exact decimal number: GPU time is kept to the microsecond
            line.append(contentsOf: event.resources.gpuSecondsText.utf8)
        }
        if event.resources.storageByteHours != 0 { integer("storage_byte_hours", event.resources.storageByteHours) }
        for dimension in AttributionDimension.all {
            guard let value = event.attribution[dimension] else { continue }
            line.append(UInt8(ascii: ","))
            quote(dimension.rawValue, into: &line)
            line.append(UInt8(ascii: ":"))
            quote(value, into: &line)
        }
        if !event.tags.isEmpty {
            key("tags")
            line.append(UInt8(ascii: "{"))
            // Sorted, so a line is the same whatever the dictionary's order (one tag needs no sort).
            let tags = event.tags.count == 1 ? Array(event.tags) : event.tags.sorted(by: { $0.key < $1.key })
            for (index, tag) in tags.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                quote(tag.key, into: &line)
                line.append(UInt8(ascii: ":"))
                quote(tag.value, into: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
        line.append(UInt8(ascii: "}"))
    }

    /// Appends `text` as a JSON string literal.
    private static func quote(_ text: String, into line: inout [UInt8]) {
        let utf8 = text.utf8
        if utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            line.append(UInt8(ascii: "\""))
            line.append(contentsOf: utf8)
            line.append(UInt8(ascii: "\""))
        } else {
            line.append(contentsOf: OrderedJSON.quoted(text).utf8)
        }
    }
}
