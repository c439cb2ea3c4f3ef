public import LedgerCore

/// Writes a ``UsageEvent`` as one line of the JSON Lines import format (`docs/EVENTS.md`), which
/// ``EventRowDecoder`` reads back to the same event.
public enum EventJSONLine {
    /// The event as a JSON object, without a trailing newline.
    public static func encode(_ event: UsageEvent) -> String {
        var fields: [(String, OrderedJSON)] = [
            ("id", .string(event.id)), ("timestamp", .string(event.timestamp.iso8601)),
            ("source", .string(event.source)), ("provider", .string(event.provider)),
            ("model", .string(event.model)), ("outcome", .string(event.outcome.rawValue)),
        ]
        if let region = event.region { fields.append(("region", .string(region))) }
        if event.serviceTier != .standard { fields.append(("service_tier", .string(event.serviceTier.rawValue))) }
        if event.requests != 1 { fields.append(("requests", .integer(event.requests))) }
        if let latency = event.latencyMilliseconds { fields.append(("latency_ms", .integer(latency))) }
        fields.append(
            (
                "tokens",
                .object(
                    TokenKind.allCases.compactMap { kind in
                        event.tokens[kind] == 0 ? nil : (kind.rawValue, .integer(event.tokens[kind]))
                    })
            ))
        if event.resources.gpuSeconds != 0 { fields.append(("gpu_seconds", .integer(event.resources.gpuSeconds))) }
        if event.resources.storageByteHours != 0 {
            fields.append(("storage_byte_hours", .integer(event.resources.storageByteHours)))
        }
        for dimension in AttributionDimension.allCases {
            if let value = event.attribution[dimension] { fields.append((dimension.rawValue, .string(value))) }
        }
        if !event.tags.isEmpty {
            fields.append(("tags", .object(event.tags.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        return OrderedJSON.object(fields).serialized()
    }
}
