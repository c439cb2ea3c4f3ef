public import LedgerCore

/// Turns spans that follow the OpenTelemetry GenAI semantic conventions into usage events.
///
/// A span counts when it is a model call (`gen_ai.operation.name` chat, generate_content,
/// text_completion or embeddings, or no operation name) carrying a model or token usage. Agent,
/// workflow, tool and retrieval spans are skipped: when they carry usage it is their children's,
/// and counting it again would double the bill.
///
/// Tokens follow the conventions: `gen_ai.usage.input_tokens` includes cache reads and writes and
/// `output_tokens` includes reasoning, so the disjoint counts are the differences. An
/// instrumentation that reports a provider's exclusive input count (cache reads larger than the
/// input) is taken as it is.
public struct GenAISpanMapper: Sendable {
    /// Span or resource attribute → attribution dimension (`user.id` → user, …).
    public var dimensions: [String: AttributionDimension]

    public static let defaultDimensions: [String: AttributionDimension] = [
        "user.id": .user, "enduser.id": .user, "session.id": .session, "gen_ai.conversation.id": .session,
        "tenant.id": .customer, "customer.id": .customer,
    ]

    static let modelCalls: Set<String> = ["chat", "generate_content", "text_completion", "embeddings"]

    /// `gen_ai.provider.name` (or the older `gen_ai.system`) → the catalog's provider.
    static let providers: [String: String] = [
        "aws.bedrock": "bedrock", "azure.ai.openai": "azure", "azure.ai.inference": "azure", "az.ai.openai": "azure",
        "az.ai.inference": "azure", "gcp.gemini": "google", "gcp.gen_ai": "google", "gemini": "google",
        "gcp.vertex_ai": "vertex", "vertex_ai": "vertex", "mistral_ai": "mistral", "x_ai": "xai",
    ]

    public init(dimensions: [String: AttributionDimension] = GenAISpanMapper.defaultDimensions) {
        self.dimensions = dimensions
    }

    /// The span's usage event, or nil when the span is not a model call.
    public func event(from span: OTLPSpan) throws(EventRowDecoder.FieldError) -> UsageEvent? {
        let attributes = span.attributes
        let operation = attributes["gen_ai.operation.name"]?.text
        if let operation, !Self.modelCalls.contains(operation) { return nil }
        let model = attributes["gen_ai.response.model"]?.text ?? attributes["gen_ai.request.model"]?.text
        func count(_ keys: String...) throws(EventRowDecoder.FieldError) -> Int64? {
            for key in keys {
                guard let value = attributes[key] else { continue }
                guard let number = value.integer, number >= 0 else {
                    throw EventRowDecoder.FieldError(field: key, reason: "not a non-negative integer")
                }
                return number
            }
            return nil
        }
        let input = try count("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
        let output = try count("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
        guard model != nil || input != nil || output != nil else { return nil }
        guard let model, !model.isEmpty else {
            throw EventRowDecoder.FieldError(
                field: "gen_ai.request.model", reason: "the span has token usage but names no model")
        }
        guard !span.spanID.isEmpty, !span.traceID.isEmpty else {
            throw EventRowDecoder.FieldError(field: "spanId", reason: "the span has no trace or span id")
        }
        let nanos = span.endNanos != 0 ? span.endNanos : span.startNanos
        guard nanos != 0 else {
            throw EventRowDecoder.FieldError(field: "endTimeUnixNano", reason: "the span has no time")
        }
        let system = attributes["gen_ai.provider.name"]?.text ?? attributes["gen_ai.system"]?.text
        let provider = system.map { Self.providers[$0.lowercased()] ?? $0.lowercased() } ?? "unknown"
        var event = UsageEvent(
            id: "otel-\(span.traceID)-\(span.spanID)",
            timestamp: Timestamp(microseconds: Int64(clamping: nanos / 1000)), source: "otel",
            provider: provider, model: model)

        let cacheRead = try count("gen_ai.usage.cache_read.input_tokens") ?? 0
        let cacheWrite = try count("gen_ai.usage.cache_creation.input_tokens") ?? 0
        let reasoning = try count("gen_ai.usage.reasoning.output_tokens") ?? 0
        let allInput = input ?? 0
        let uncached = cacheRead + cacheWrite <= allInput ? allInput - cacheRead - cacheWrite : allInput
        if operation == "embeddings" {
            event.tokens.embedding = uncached
        } else {
            event.tokens.input = uncached
        }
        event.tokens.cacheRead = cacheRead
        event.tokens.cacheWrite = cacheWrite
        let allOutput = output ?? 0
        event.tokens.reasoning = reasoning
        event.tokens.output = reasoning <= allOutput ? allOutput - reasoning : allOutput

        if span.endNanos >= span.startNanos, span.startNanos != 0 {
            event.latencyMilliseconds = Int64(clamping: (span.endNanos - span.startNanos) / 1_000_000)
        }
        if span.statusCode == 2 || attributes["error.type"] != nil { event.outcome = .error }
        if let tier = attributes["openai.response.service_tier"]?.text
            ?? attributes["openai.request.service_tier"]?.text,
            let parsed = ServiceTier(rawValue: tier)
        {
            event.serviceTier = parsed
        }
        if let service = span.resource["service.name"]?.text { event.attribution.application = service }
        if let environment = (span.resource["deployment.environment.name"] ?? span.resource["deployment.environment"])?
            .text
        {
            event.attribution.environment = environment
        }
        for (key, dimension) in dimensions.sorted(by: { $0.key < $1.key }) {
            if let value = (attributes[key] ?? span.resource[key])?.text, !value.isEmpty {
                event.attribution[dimension] = value
            }
        }
        if let operation { event.tags["operation"] = operation }
        return event
    }
}
