public import LedgerCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Imports the usage reports providers serve from their admin APIs, saved as JSON: one page, an
/// array of pages, or one page per line.
///
/// - `openai-usage`: `GET /v1/organization/usage/completions` and `/embeddings` pages. `input_tokens`
///   includes cached, cache-write, audio and image tokens; they are split into disjoint kinds.
/// - `anthropic-usage`: `GET /v1/organizations/usage_report/messages` pages. The report has no
///   request counts (events carry `requests: 0`); its `context_window` says whether the
///   long-context tier applied.
///
/// Each result row becomes one event standing for the bucket's requests. Its id is derived from
/// the bucket and the row's grouping, so importing the same or overlapping pages again counts
/// nothing twice.
public struct UsageReportImporter: Sendable {
    /// The report formats.
    public enum Format: String, Sendable, CaseIterable {
        case openAIUsage = "openai-usage"
        case anthropicUsage = "anthropic-usage"

        /// Recognises a page by its buckets' time fields.
        public static func detect(_ page: JSONValue) -> Format? {
            let first = page["data"]?.arrayValue?.first ?? page.arrayValue?.first?["data"]?.arrayValue?.first
            if first?["start_time"] != nil { return .openAIUsage }
            if first?["starting_at"] != nil { return .anthropicUsage }
            return nil
        }
    }

    /// The file.
    public var path: String
    /// Its format.
    public var format: Format

    /// Creates an importer.
    public init(path: String, format: Format) {
        self.path = path
        self.format = format
    }

    /// Reads the whole report; `onReject` gets every result row that cannot become an event,
    /// located by page, bucket and result.
    public func run(
        onBatch: ([UsageEvent]) async throws -> Void, onReject: (IngestError) -> Void
    ) async throws -> EventFileImporter.Summary {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError(file: path, line: nil, field: nil, reason: "cannot read the file")
        }
        let pages = try UsageReportImporter.pages(data, path: path)
        var summary = EventFileImporter.Summary()
        summary.bytes = Int64(data.count)
        var events: [UsageEvent] = []
        for (pageNumber, page) in pages.enumerated() {
            let decoded = Self.decode(page: page, format: format)
            summary.rows += decoded.items.count + decoded.errors.count
            summary.accepted += decoded.items.count
            summary.rejected += decoded.errors.count
            events += decoded.items
            for error in decoded.errors {
                onReject(
                    IngestError(
                        file: path, line: pageNumber + 1, field: error.location,
                        reason: "page \(pageNumber + 1): \(error.reason)"))
            }
            if events.count >= 5_000 {
                try await onBatch(events)
                events.removeAll(keepingCapacity: true)
            }
        }
        if !events.isEmpty { try await onBatch(events) }
        return summary
    }

    /// The pages of a file: a page object, an array of pages, or one page per line.
    static func pages(_ data: Data, path: String) throws -> [JSONValue] {
        if let whole = try? JSONValue(parsing: data) {
            if case .array(let items) = whole { return items }
            return [whole]
        }
        var pages: [JSONValue] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n")).enumerated()
        where !line.allSatisfy({ $0 == 32 || $0 == 13 }) {
            do {
                pages.append(try JSONValue(parsing: Data(line)))
            } catch {
                throw IngestError(
                    file: path, line: index + 1, field: nil, reason: "not a JSON page (truncated or corrupt?): \(error)"
                )
            }
        }
        return pages
    }

    struct RowError: Error {
        var field: String
        var reason: String
    }

    static func count(_ object: JSONValue?, _ key: String) throws(RowError) -> Int64 {
        guard let value = object?[key], value != .null else { return 0 }
        guard let number = value.integerValue, number >= 0 else {
            throw RowError(field: key, reason: "'\(key)' must be a non-negative whole number, got \(value)")
        }
        return number
    }

    static func text(_ object: JSONValue?, _ key: String) -> String? {
        guard let value = object?[key]?.stringValue, !value.isEmpty else { return nil }
        return value
    }

    static func stableID(_ prefix: String, _ parts: [String?]) -> String {
        let hash = FNV1a.hash(parts.map({ $0 ?? "-" }).joined(separator: "\u{1F}").utf8)
        let hex = String(hash, radix: 16)
        return prefix + String(repeating: "0", count: 16 - hex.count) + hex
    }

    // MARK: - OpenAI

    static func openAI(bucket: JSONValue, result: JSONValue) throws(RowError) -> UsageEvent {
        guard let start = unixSeconds(bucket["start_time"])?.seconds else {
            throw RowError(field: "start_time", reason: "the bucket has no start_time in Unix seconds (1970–9999)")
        }
        let kind = text(result, "object") ?? "organization.usage.completions.result"
        guard kind == "organization.usage.completions.result" || kind == "organization.usage.embeddings.result" else {
            throw RowError(
                field: "object", reason: "'\(kind)' is not token usage; import completions and embeddings pages")
        }
        guard let model = text(result, "model") else {
            throw RowError(
                field: "model", reason: "no model: request the usage with group_by[]=model so it can be priced")
        }
        var tokens = TokenCounts()
        let input = try count(result, "input_tokens")
        if kind == "organization.usage.embeddings.result" {
            tokens.embedding = input
        } else {
            tokens.cacheRead = try count(result, "input_cached_tokens")
            tokens.cacheWrite = try count(result, "input_cache_write_tokens")
            tokens.audioInput = max(
                0, try count(result, "input_audio_tokens") - count(result, "input_cached_audio_tokens"))
            tokens.imageInput = max(
                0, try count(result, "input_image_tokens") - count(result, "input_cached_image_tokens"))
            let parts = tokens.cacheRead + tokens.cacheWrite + tokens.audioInput + tokens.imageInput
            guard parts <= input else {
                throw RowError(
                    field: "input_tokens",
                    reason: "input_tokens (\(input)) is less than its cached, audio and image parts (\(parts))")
            }
            tokens.input = input - parts
            let output = try count(result, "output_tokens")
            tokens.audioOutput = try count(result, "output_audio_tokens")
            tokens.imageOutput = try count(result, "output_image_tokens")
            guard tokens.audioOutput + tokens.imageOutput <= output else {
                throw RowError(
                    field: "output_tokens", reason: "output_tokens (\(output)) is less than its audio and image parts")
            }
            tokens.output = output - tokens.audioOutput - tokens.imageOutput
        }
        let batch = result["batch"] == .bool(true)
        let tier =
            batch ? ServiceTier.batch : text(result, "service_tier").flatMap(ProviderUsage.serviceTier) ?? .standard
        let project = text(result, "project_id")
        let user = text(result, "user_id")
        let key = text(result, "api_key_id")
        let id = stableID(
            "openai-usage-",
            [
                kind, String(start), bucket["end_time"]?.integerValue.map(String.init), project, user, key, model,
                String(batch), tier.rawValue,
            ])
        var event = UsageEvent(
            id: id, timestamp: Timestamp(seconds: start), source: "openai-usage", provider: "openai", model: model,
            serviceTier: tier,
            tokens: tokens, attribution: Attribution(user: user, project: project))
        event.requests = try count(result, "num_model_requests")
        if let key { event.tags["api_key_id"] = key }
        return event
    }

    // MARK: - Anthropic

    static func anthropic(bucket: JSONValue, result: JSONValue) throws(RowError) -> UsageEvent {
        guard let startText = text(bucket, "starting_at"), let start = Timestamp(parsing: startText) else {
            throw RowError(field: "starting_at", reason: "the bucket has no RFC 3339 starting_at")
        }
        guard let model = text(result, "model") else {
            throw RowError(
                field: "model", reason: "no model: request the report with group_by[]=model so it can be priced")
        }
        let creation = result["cache_creation"]
        let tokens = TokenCounts(
            input: try count(result, "uncached_input_tokens"), cacheRead: try count(result, "cache_read_input_tokens"),
            cacheWrite: try count(creation, "ephemeral_5m_input_tokens"),
            cacheWrite1h: try count(creation, "ephemeral_1h_input_tokens"),
            output: try count(result, "output_tokens"))
        let tier = text(result, "service_tier").flatMap(ProviderUsage.serviceTier) ?? .standard
        let workspace = text(result, "workspace_id")
        let key = text(result, "api_key_id")
        let window = text(result, "context_window")
        let id = stableID(
            "anthropic-usage-", [startText, text(bucket, "ending_at"), workspace, key, model, tier.rawValue, window])
        var event = UsageEvent(
            id: id, timestamp: start, source: "anthropic-usage", provider: "anthropic", model: model, serviceTier: tier,
            tokens: tokens,
            attribution: Attribution(project: workspace))
        event.requests = 0
        event.longContext = window.map { $0 != "0-200k" }
        if let key { event.tags["api_key_id"] = key }
        return event
    }
}
