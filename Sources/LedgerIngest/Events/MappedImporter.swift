public import LedgerCore

/// How the columns of someone else's CSV or JSON Lines export become TokenLedger events: a
/// column-mapping file (`docs/EVENTS.md#your-own-export-format`), read by `tokenledger import
/// --mapping FILE`.
public struct ColumnMapping: Sendable, Decodable {
    /// Event field (`timestamp`, `model`, `tokens.input`, `team`, `tags.env`, …) → the column or
    /// JSON path (`usage.prompt_tokens`) holding it.
    public var columns: [String: String]
    /// Values for fields no column holds (`provider: openai`).
    public var defaults: [String: String]
    /// How `timestamp` is written: `rfc3339` (default), `unix_s`, `unix_ms`.
    public var timestampFormat: TimestampFormat
    /// Whether the input count includes cache reads and writes (OpenAI-style `prompt_tokens`), so
    /// they are taken out of it; likewise output including reasoning.
    public var inputIncludesCache: Bool
    public var outputIncludesReasoning: Bool

    public enum TimestampFormat: String, Sendable, Decodable {
        case rfc3339
        case unixSeconds = "unix_s"
        case unixMilliseconds = "unix_ms"
    }

    enum CodingKeys: String, CodingKey {
        case columns, defaults
        case timestampFormat = "timestamp_format"
        case inputIncludesCache = "input_includes_cache"
        case outputIncludesReasoning = "output_includes_reasoning"
    }

    public init(
        columns: [String: String], defaults: [String: String] = [:], timestampFormat: TimestampFormat = .rfc3339,
        inputIncludesCache: Bool = false, outputIncludesReasoning: Bool = false
    ) {
        self.columns = columns
        self.defaults = defaults
        self.timestampFormat = timestampFormat
        self.inputIncludesCache = inputIncludesCache
        self.outputIncludesReasoning = outputIncludesReasoning
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        columns = try container.decode([String: String].self, forKey: .columns)
        defaults = try container.decodeIfPresent([String: String].self, forKey: .defaults) ?? [:]
        timestampFormat = try container.decodeIfPresent(TimestampFormat.self, forKey: .timestampFormat) ?? .rfc3339
        inputIncludesCache = try container.decodeIfPresent(Bool.self, forKey: .inputIncludesCache) ?? false
        outputIncludesReasoning = try container.decodeIfPresent(Bool.self, forKey: .outputIncludesReasoning) ?? false
    }

    /// Checks the mapping's event fields; returns what is wrong, if anything.
    public func problem() -> String? {
        let flat = Set(EventRowDecoder.knownFields).subtracting(["tokens", "tags"])
        for field in Array(columns.keys) + Array(defaults.keys) {
            if field.hasPrefix("tags."), field.count > 5 { continue }
            if field.hasPrefix("tokens."), TokenKind(rawValue: String(field.dropFirst(7))) != nil { continue }
            if flat.contains(field) { continue }
            return
                "'\(field)' is not an event field; use one of \(flat.sorted().joined(separator: ", ")), tokens.KIND or tags.KEY"
        }
        if columns["timestamp"] == nil && defaults["timestamp"] == nil { return "map a column to 'timestamp'" }
        if columns["model"] == nil && defaults["model"] == nil { return "map a column to 'model'" }
        if columns["provider"] == nil && defaults["provider"] == nil {
            return "map a column to 'provider' or give it in defaults"
        }
        return nil
    }

    /// The normalised fields of one row, given a lookup of its columns / JSON paths.
    func fields(_ value: (String) -> FieldValue?) throws(EventRowDecoder.FieldError) -> [String: FieldValue] {
        var fields: [String: FieldValue] = [:]
        var tokens: [String: FieldValue] = [:]
        var tags: [String: FieldValue] = [:]
        func put(_ field: String, _ item: FieldValue) {
            if field.hasPrefix("tokens.") {
                tokens[String(field.dropFirst(7))] = item
            } else if field.hasPrefix("tags.") {
                tags[String(field.dropFirst(5))] = item
            } else {
                fields[field] = item
            }
        }
        for (field, text) in defaults { put(field, .string(text)) }
        for (field, column) in columns {
            guard let item = value(column), item != .null, item != .string("") else { continue }
            put(field, item)
        }
        if let stamp = fields["timestamp"], timestampFormat != .rfc3339 {
            let number: Int64? =
                switch stamp {
                case .integer(let value): value
                case .string(let text): Int64(text.trimmingWhitespace())
                case .number(let text): Double(text).flatMap { $0.isFinite && abs($0) < 9e15 ? Int64($0) : nil }
                default: nil
                }
            let limit: Int64 = timestampFormat == .unixSeconds ? 253_402_300_799 : 253_402_300_799_999
            guard let number, (0...limit).contains(number) else {
                throw EventRowDecoder.FieldError(
                    field: columns["timestamp"] ?? "timestamp", reason: "'\(stamp.summary)' is not a Unix time")
            }
            let microseconds = timestampFormat == .unixSeconds ? number * 1_000_000 : number * 1_000
            fields["timestamp"] = .string(Timestamp(microseconds: microseconds).iso8601)
        }
        func whole(_ key: String) -> Int64 {
            switch tokens[key] {
            case .integer(let value)?: value
            case .string(let text)?: Int64(text.trimmingWhitespace()) ?? 0
            default: 0
            }
        }
        if inputIncludesCache, tokens["input"] != nil {
            let cached = whole("cache_read") + whole("cache_write") + whole("cache_write_1h")
            let input = whole("input")
            guard cached <= input else {
                throw EventRowDecoder.FieldError(
                    field: columns["tokens.input"] ?? "tokens.input",
                    reason: "the input count (\(input)) is smaller than the cached tokens (\(cached)) it should include"
                )
            }
            tokens["input"] = .integer(input - cached)
        }
        if outputIncludesReasoning, tokens["output"] != nil {
            let output = whole("output")
            let reasoning = whole("reasoning")
            guard reasoning <= output else {
                throw EventRowDecoder.FieldError(
                    field: columns["tokens.output"] ?? "tokens.output",
                    reason: "the output count (\(output)) is smaller than the reasoning tokens (\(reasoning))")
            }
            tokens["output"] = .integer(output - reasoning)
        }
        if !tokens.isEmpty { fields["tokens"] = .object(tokens) }
        if !tags.isEmpty { fields["tags"] = .object(tags) }
        return fields
    }
}

/// Imports a CSV (with a header) or JSON Lines file through a ``ColumnMapping``, with the same
/// validation, ids and error reports as the normalised formats.
public struct MappedImporter: Sendable {
    public var path: String
    public var mapping: ColumnMapping
    public var json: Bool
    public var decoder: EventRowDecoder

    public init(path: String, mapping: ColumnMapping, json: Bool, decoder: EventRowDecoder) {
        self.path = path
        self.mapping = mapping
        self.json = json
        self.decoder = decoder
    }

    public func run(
        batchSize: Int = 10_000, onBatch: ([UsageEvent]) async throws -> Void, onReject: (IngestError) -> Void
    ) async throws -> EventFileImporter.Summary {
        var batcher = EventBatcher(batchSize: batchSize)
        if json {
            var reader = try LineReader(path: path)
            while let outcome = try reader.nextLine({ line, number -> Result<UsageEvent, IngestError>? in
                if line.allSatisfy({ $0 == 32 || $0 == 9 }) { return nil }
                guard case .success(let object) = JSONRowParser.members(of: line) else {
                    return .failure(IngestError(file: path, line: number, field: nil, reason: "not a JSON object"))
                }
                return decode(line: number, raw: Array(line)) { path in
                    var value: JSONValue? = .object(object)
                    for key in path.split(separator: ".") { value = value?[String(key)] }
                    return value
                }
            }) {
                guard let outcome else { continue }
                try await batcher.take(outcome, onBatch: onBatch, onReject: onReject)
            }
            return try await batcher.finish(bytesRead: reader.bytesRead, onBatch: onBatch)
        }
        let table = try CSVTableReader(path: path)
        var column: [String: Int] = [:]
        for (index, name) in table.header.enumerated() { column[name] = index }
        for (field, name) in mapping.columns.sorted(by: { $0.key < $1.key }) where column[name] == nil {
            throw IngestError(
                file: path, line: 1, field: name,
                reason:
                    "the mapping reads '\(name)' for \(field), but the header has no such column (it has \(table.header.joined(separator: ", ")))"
            )
        }
        while let record = try table.next() {
            switch record {
            case .malformed(let error):
                try await batcher.take(.failure(error), onBatch: onBatch, onReject: onReject)
            case .fields(let line, let values, _):
                guard values.count == table.header.count else {
                    let error = IngestError(
                        file: path, line: line, field: nil,
                        reason: "has \(values.count) fields but the header has \(table.header.count)")
                    try await batcher.take(.failure(error), onBatch: onBatch, onReject: onReject)
                    continue
                }
                let outcome = decode(line: line, raw: Array(values.joined(separator: "\u{1F}").utf8)) { name in
                    column[name].map { FieldValue.string(values[$0]) }
                }
                try await batcher.take(outcome, onBatch: onBatch, onReject: onReject)
            }
        }
        return try await batcher.finish(bytesRead: table.bytesRead, onBatch: onBatch)
    }

    private func decode(line: Int, raw: [UInt8], _ value: (String) -> FieldValue?) -> Result<UsageEvent, IngestError> {
        do throws(EventRowDecoder.FieldError) {
            let fields = try mapping.fields(value)
            let event = try decoder.decode(fields) {
                "map-" + SHA256.hex(String(decoding: raw, as: UTF8.self)).prefix(24)
            }
            return .success(event)
        } catch {
            let column = error.field.flatMap { field in mapping.columns[field] ?? (field.contains(".") ? nil : field) }
            return .failure(IngestError(file: path, line: line, field: column ?? error.field, reason: error.reason))
        }
    }
}
