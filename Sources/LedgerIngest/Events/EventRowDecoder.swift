public import LedgerCore

/// Turns one row of the normalised event format (a JSON Lines object or a CSV record; see
/// `docs/EVENTS.md`) into a ``UsageEvent``, or says which field is wrong and why.
public struct EventRowDecoder: Sendable {
    /// Field names the format defines.
    public static let tokenFields = TokenKind.all.map(\.rawValue)
    public static let attributionFields = AttributionDimension.all.map(\.rawValue)
    public static let knownFields: [String] =
        [
            "id", "timestamp", "source", "provider", "model", "region", "service_tier", "outcome", "latency_ms",
            "tokens", "tags",
            "gpu_seconds", "storage_byte_hours", "requests",
        ] + tokenFields + attributionFields

    /// Positions in ``knownFields``.
    enum Field {
        static let id = 0
        static let timestamp = 1
        static let source = 2
        static let provider = 3
        static let model = 4
        static let region = 5
        static let serviceTier = 6
        static let outcome = 7
        static let latency = 8
        static let tokens = 9
        static let tags = 10
        static let gpuSeconds = 11
        static let storageByteHours = 12
        static let requests = 13
        static let firstToken = 14
        static let firstDimension = firstToken + TokenKind.all.count
    }

    static let fieldTable = NameTable(knownFields)
    static let tokenTable = NameTable(tokenFields)

    /// The `source` given to rows that name none.
    public var defaultSource: String

    /// Creates a decoder.
    public init(defaultSource: String = "import") {
        self.defaultSource = defaultSource
    }

    /// A field problem, before the file and line are known.
    public struct FieldError: Error, Sendable {
        public var field: String?
        public var reason: String
    }

    /// Decodes one row given by field name.
    ///
    /// - Parameter fallbackID: the id to use when the row has none (derived from the row's bytes,
    ///   so importing the same file twice gives the same ids).
    public func decode(_ fields: [String: FieldValue], fallbackID: () -> String) throws(FieldError) -> UsageEvent {
        try decode(RowFields(fields), fallbackID: fallbackID)
    }

    /// Decodes one row.
    public func decode(_ fields: RowFields, fallbackID: () -> String) throws(FieldError) -> UsageEvent {
        if let key = fields.unknownField {
            let suggestion = EventRowDecoder.closest(to: key).map { " Did you mean '\($0)'?" } ?? ""
            throw FieldError(field: key, reason: "unknown field.\(suggestion) Fields are listed in docs/EVENTS.md.")
        }
        let id = try optionalString(fields, Field.id) ?? fallbackID()
        guard let timestampText = try optionalString(fields, Field.timestamp) else {
            throw FieldError(field: "timestamp", reason: "missing; write an RFC 3339 time such as 2026-03-02T14:00:00Z")
        }
        guard let timestamp = Timestamp(parsing: timestampText) else {
            throw FieldError(
                field: "timestamp", reason: "'\(timestampText)' is not an RFC 3339 time (e.g. 2026-03-02T14:00:00Z)")
        }
        guard let provider = try optionalString(fields, Field.provider) else {
            throw FieldError(field: "provider", reason: "missing; e.g. openai, anthropic, bedrock, self-hosted")
        }
        let resources = ResourceUsage(
            gpuMicroseconds: try gpuMicroseconds(fields[Field.gpuSeconds]),
            storageByteHours: try count(fields[Field.storageByteHours], "storage_byte_hours"))
        let model = try optionalString(fields, Field.model)
        guard let model else {
            throw FieldError(
                field: "model", reason: "missing; name the model (or the GPU model / storage class for resource rows)")
        }
        var event = UsageEvent(
            id: id, timestamp: timestamp, source: try optionalString(fields, Field.source) ?? defaultSource,
            provider: provider, model: model)
        event.region = try optionalString(fields, Field.region)
        event.resources = resources
        if let tier = try optionalString(fields, Field.serviceTier) {
            guard let parsed = ServiceTier(rawValue: tier.lowercased()) else {
                throw FieldError(
                    field: "service_tier", reason: "'\(tier)' is not one of standard, batch, flex, priority")
            }
            event.serviceTier = parsed
        }
        if let outcome = try optionalString(fields, Field.outcome) {
            guard let parsed = Outcome(rawValue: outcome) ?? Outcome(rawValue: outcome.lowercased()) else {
                throw FieldError(
                    field: "outcome", reason: "'\(outcome)' is not one of ok, error, retried, cancelled, estimated")
            }
            event.outcome = parsed
        }
        if let requests = fields[Field.requests], requests != .null, requests != .string("") {
            event.requests = try count(requests, "requests")
        }
        if let latency = fields[Field.latency], latency != .null, latency != .string("") {
            event.latencyMilliseconds = try count(latency, "latency_ms")
        }
        // Tokens: flat fields, or a `tokens` object — not both.
        if let members = fields.tokens {
            if let kind = fields.unknownTokenKind {
                throw FieldError(
                    field: "tokens.\(kind)",
                    reason: "unknown token kind; kinds are \(EventRowDecoder.tokenFields.joined(separator: ", "))")
            }
            for (offset, kind) in TokenKind.all.enumerated() {
                if fields[Field.firstToken + offset] != nil {
                    throw FieldError(field: kind.rawValue, reason: "given both flat and inside 'tokens'; use one")
                }
                event.tokens[kind] = try count(members[offset], "tokens." + kind.rawValue)
            }
        } else if let nested = fields[Field.tokens], nested != .null {
            throw FieldError(field: "tokens", reason: "must be an object such as {\"input\":100,\"output\":20}")
        } else {
            for (offset, kind) in TokenKind.all.enumerated() {
                event.tokens[kind] = try count(fields[Field.firstToken + offset], kind.rawValue)
            }
        }
        for (offset, dimension) in AttributionDimension.all.enumerated() {
            event.attribution[dimension] = try optionalString(fields, Field.firstDimension + offset)
        }
        event.tags = try tags(fields[Field.tags])
        if id.isEmpty { throw FieldError(field: "id", reason: "must not be empty") }
        return event
    }

    private func optionalString(_ fields: RowFields, _ position: Int) throws(FieldError) -> String? {
        guard let value = fields[position] else { return nil }
        switch value {
        case .null: return nil
        case .string(let text):
            let trimmed = text.trimmingWhitespace()
            return trimmed.isEmpty ? nil : trimmed
        case .integer(let number): return String(number)
        default:
            throw FieldError(
                field: EventRowDecoder.knownFields[position], reason: "expected text, got \(value.summary)")
        }
    }

    private func count(_ value: FieldValue?, _ name: @autoclosure () -> String) throws(FieldError) -> Int64 {
        guard let value else { return 0 }
        let number: Int64
        switch value {
        case .null: return 0
        case .integer(let integer): number = integer
        case .string(let text):
            let trimmed = text.trimmingWhitespace()
            if trimmed.isEmpty { return 0 }
            guard let parsed = Int64(trimmed) else {
                throw FieldError(field: name(), reason: "'\(text)' is not a whole number")
            }
            number = parsed
        case .number(let text):
            throw FieldError(field: name(), reason: "\(text) is not a whole number")
        default:
            throw FieldError(field: name(), reason: "expected a whole number, got \(value.summary)")
        }
        guard number >= 0 else { throw FieldError(field: name(), reason: "must not be negative, got \(number)") }
        return number
    }

    /// `gpu_seconds`, a whole or decimal number of GPU-seconds (to the microsecond), in
    /// GPU-microseconds.
    private func gpuMicroseconds(_ value: FieldValue?) throws(FieldError) -> Int64 {
        let text: String
        switch value {
        case nil, .null?: return 0
        case .integer(let integer)?: text = String(integer)
        case .number(let number)?: text = number
        case .string(let string)?:
            text = string.trimmingWhitespace()
            if text.isEmpty { return 0 }
        case let other?:
            throw FieldError(field: "gpu_seconds", reason: "expected a number of GPU-seconds, got \(other.summary)")
        }
        guard let micro = DecimalText.parse(text, scale: 6) else {
            throw FieldError(
                field: "gpu_seconds",
                reason: "'\(text)' is not a number of GPU-seconds with at most 6 decimal places (e.g. 3600 or 0.25)")
        }
        guard micro <= Int128(Int64.max) else {
            throw FieldError(field: "gpu_seconds", reason: "'\(text)' is too large (at most 9223372036854 GPU-seconds)")
        }
        guard micro >= 0 else { throw FieldError(field: "gpu_seconds", reason: "must not be negative, got \(text)") }
        return Int64(micro)
    }

    private func tags(_ value: FieldValue?) throws(FieldError) -> [String: String] {
        guard let value else { return [:] }
        switch value {
        case .null: return [:]
        case .object(let members):
            var tags: [String: String] = [:]
            for (key, member) in members {
                switch member {
                case .string(let text): tags[key] = text
                case .integer(let number): tags[key] = String(number)
                case .number(let text): tags[key] = text
                case .bool(let flag): tags[key] = String(flag)
                default: throw FieldError(field: "tags.\(key)", reason: "tag values must be text, numbers or booleans")
                }
            }
            return tags
        case .string(let text):
            let trimmed = text.trimmingWhitespace()
            if trimmed.isEmpty { return [:] }
            if trimmed.hasPrefix("{") {
                let object: [String: FieldValue]
                do {
                    object = try Array(trimmed.utf8).withUnsafeBufferPointer { buffer throws(JSONRowParser.Failure) in
                        try JSONRowParser.parseObject(buffer)
                    }
                } catch {
                    throw FieldError(
                        field: "tags", reason: "not a valid JSON object: \(error.reason) at column \(error.column)")
                }
                return try tags(.object(object))
            }
            var tags: [String: String] = [:]
            for pair in trimmed.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw FieldError(
                        field: "tags", reason: "'\(pair)' is not key=value; write tags as k=v;k2=v2 or a JSON object")
                }
                tags[String(parts[0]).trimmingWhitespace()] = String(parts[1]).trimmingWhitespace()
            }
            return tags
        default:
            throw FieldError(field: "tags", reason: "must be an object of text values")
        }
    }

    static func closest(to name: String) -> String? {
        var best: (Int, String)?
        for known in knownFields {
            let distance = EditDistance.between(name.lowercased(), known)
            if distance <= 3, best == nil || distance < best!.0 { best = (distance, known) }
        }
        return best?.1
    }
}

extension String {
    func trimmingWhitespace() -> String {
        // Most values start and end with a visible ASCII character: nothing to trim.
        if let first = utf8.first, let last = utf8.last, (33...126).contains(first), (33...126).contains(last) {
            return self
        }
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view = view.dropFirst() }
        while let last = view.last, last.isWhitespace { view = view.dropLast() }
        return String(view)
    }
}
