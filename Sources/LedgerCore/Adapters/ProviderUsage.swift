/// Converts each provider's own usage object into disjoint ``TokenCounts``.
///
/// The providers disagree on what their counts include:
/// - OpenAI Chat Completions: `prompt_tokens` *includes* `cached_tokens` (and audio, image and
///   cache-write tokens); `completion_tokens` *includes* `reasoning_tokens` and audio.
/// - OpenAI Responses: `input_tokens` includes cached; `output_tokens` includes reasoning.
/// - Anthropic Messages: `input_tokens` *excludes* cache reads and writes; `output_tokens`
///   includes thinking.
/// - Gemini: `promptTokenCount` includes `cachedContentTokenCount`; `thoughtsTokenCount` is
///   *not* in `candidatesTokenCount`; tool-use prompt tokens are billed as input.
/// - Bedrock: input, output, cache-read and cache-write counts are already disjoint.
public enum ProviderUsage {
    /// The usage shapes this adapter understands.
    public enum Shape: String, Sendable, CaseIterable {
        case openAIChat = "openai-chat"
        case openAIResponses = "openai-responses"
        case openAIEmbeddings = "openai-embeddings"
        case anthropic
        case gemini
        case bedrock
    }

    /// The normalised result.
    public struct Normalised: Sendable, Hashable {
        /// Disjoint counts.
        public var tokens: TokenCounts
        /// The shape that was recognised.
        public var shape: Shape
        /// The model named in the response, if it was a whole response.
        public var model: String?
        /// The service tier named in the response, if any.
        public var serviceTier: ServiceTier?
        /// Inconsistencies found and corrected (e.g. more cached than prompt tokens).
        public var warnings: [String]
    }

    /// Errors reading a usage object.
    public struct Error: Swift.Error, Sendable, CustomStringConvertible, Equatable {
        /// What is wrong.
        public var message: String
        public var description: String { message }
    }

    /// Normalises the usage in a whole response body (JSON bytes), building only the members
    /// ``normalise(_:provider:)`` reads: choices, content and embeddings are checked and skipped.
    /// A body that is itself a usage object is read whole. Nil when the body is not a JSON
    /// object or holds no usage this adapter recognises.
    public static func normalise(responseBody bytes: some Collection<UInt8>, provider: String?) -> Normalised? {
        var holdsUsage = false
        func read(_ pointer: UnsafeBufferPointer<UInt8>) -> [String: JSONValue]? {
            var root: [String: JSONValue] = [:]
            root.reserveCapacity(8)
            do throws(JSONRowParser.Failure) {
                try JSONRowParser.readObject(pointer) { key, parser throws(JSONRowParser.Failure) in
                    let name = String(decoding: key, as: UTF8.self)
                    switch name {
                    case "model", "modelVersion", "modelId", "service_tier", "object":
                        root[name] = try parser.readValue()
                    case "usage", "usageMetadata", "response", "message", "amazon-bedrock-invocationMetrics", "input",
                        "output":
                        guard parser.nextIsObject else { fallthrough }
                        // An `output` object holds usage only beside an `input` one (a Bedrock log).
                        if name != "output" { holdsUsage = true }
                        root[name] = try parser.readValue()
                    default:
                        try parser.skipValue()
                        // Only its presence is read (`data`: an embeddings list).
                        if name == "data" || name == "output" { root[name] = .null }
                    }
                }
                return root
            } catch {
                return nil
            }
        }
        guard let root = bytes.withContiguousStorageIfAvailable(read) ?? Array(bytes).withUnsafeBufferPointer(read)
        else { return nil }
        if holdsUsage { return try? normalise(.object(root), provider: provider) }
        guard case .success(let whole) = JSONRowParser.members(of: bytes) else { return nil }
        return try? normalise(.object(whole), provider: provider)
    }

    /// Recognises and normalises a provider's usage object, or a whole response containing one.
    ///
    /// - Parameters:
    ///   - json: the `usage` / `usageMetadata` object, or the whole response.
    ///   - provider: the provider, which settles ambiguous shapes (`{"input_tokens", "output_tokens"}`
    ///     is Anthropic's for `anthropic`, `bedrock` and `vertex`, and OpenAI Responses' otherwise).
    public static func normalise(_ json: JSONValue, provider: String?) throws(ProviderUsage.Error) -> Normalised {
        guard case .object(let root) = json else {
            throw Error(message: "usage must be a JSON object, e.g. {\"prompt_tokens\":19,\"completion_tokens\":10}")
        }
        let model = root["model"]?.stringValue ?? root["modelVersion"]?.stringValue ?? root["modelId"]?.stringValue
        var tier = root["service_tier"]?.stringValue.flatMap(serviceTier)
        // Unwrap a whole response.
        var usage = root
        if let inner = root["usage"]?.objectValue ?? root["usageMetadata"]?.objectValue
            ?? root["response"]?["usage"]?.objectValue ?? root["message"]?["usage"]?.objectValue
            ?? root["amazon-bedrock-invocationMetrics"]?.objectValue
        {
            usage = inner
            tier = tier ?? root["response"]?["service_tier"]?.stringValue.flatMap(serviceTier)
        } else if let input = root["input"]?.objectValue, root["output"] != nil {
            // A Bedrock model-invocation log record.
            usage = input.merging(root["output"]?.objectValue ?? [:]) { first, _ in first }
        }
        if let usageTier = usage["service_tier"]?.stringValue.flatMap(serviceTier) { tier = usageTier }
        let isEmbeddingResponse = root["object"]?.stringValue == "list" && root["data"] != nil
        let canonical = provider.map(PriceCatalog.canonicalProvider)

        var result: Normalised
        if usage["promptTokenCount"] != nil || usage["candidatesTokenCount"] != nil || usage["totalTokenCount"] != nil {
            result = try gemini(usage)
        } else if usage["inputTokenCount"] != nil || usage["inputTokens"] != nil || usage["outputTokenCount"] != nil {
            result = try bedrock(usage)
        } else if usage["prompt_tokens"] != nil {
            result =
                (usage["completion_tokens"] == nil || isEmbeddingResponse)
                ? try openAIEmbeddings(usage) : try openAIChat(usage)
        } else if usage["input_tokens"] != nil {
            let anthropicShaped =
                usage["cache_creation_input_tokens"] != nil || usage["cache_read_input_tokens"] != nil
                || usage["cache_creation"] != nil
            let openAIShaped =
                usage["input_tokens_details"] != nil || usage["output_tokens_details"]?["reasoning_tokens"] != nil
                || usage["total_tokens"] != nil
            let anthropicProvider = ["anthropic", "bedrock", "vertex"].contains(canonical ?? "")
            if anthropicShaped || (!openAIShaped && anthropicProvider) {
                result = try anthropic(usage)
            } else {
                result = try openAIResponses(usage)
            }
        } else {
            throw Error(
                message:
                    "no usage counts found: expected OpenAI (prompt_tokens / input_tokens), Anthropic (input_tokens), "
                    + "Gemini (promptTokenCount) or Bedrock (inputTokenCount) fields"
            )
        }
        result.model = model
        result.serviceTier = tier
        return result
    }

    /// The tier a provider's service-tier name bills at (`flex`, `on_demand_priority`, `batch`, …).
    public static func serviceTier(_ text: String) -> ServiceTier? {
        switch text.lowercased() {
        case "flex", "on_demand_flex", "flex_discount": .flex
        case "priority", "on_demand_priority", "priority_on_demand": .priority
        case "batch": .batch
        case "default", "standard", "auto", "on_demand", "scale": .standard
        default: nil
        }
    }

    // MARK: - Field access

    private static func count(_ object: [String: JSONValue], _ key: String) throws(ProviderUsage.Error) -> Int64 {
        guard let value = object[key], value != .null else { return 0 }
        guard let number = value.integerValue else {
            throw Error(message: "field '\(key)' must be a whole number of tokens, got \(value)")
        }
        guard number >= 0 else { throw Error(message: "field '\(key)' must not be negative, got \(number)") }
        return number
    }

    private static func object(_ object: [String: JSONValue], _ key: String) -> [String: JSONValue] {
        object[key]?.objectValue ?? [:]
    }

    /// `a - b`, clamped at zero with a warning when `b` is larger.
    private static func subtract(_ total: Int64, _ part: Int64, _ what: String, _ warnings: inout [String]) -> Int64 {
        if part > total {
            warnings.append("\(what): parts exceed the total; counted as 0")
            return 0
        }
        return total - part
    }

    // MARK: - Adapters

    /// OpenAI Chat Completions `usage` (`CompletionUsage`).
    public static func openAIChat(_ usage: [String: JSONValue]) throws(ProviderUsage.Error) -> Normalised {
        var warnings: [String] = []
        let prompt = try count(usage, "prompt_tokens")
        let completion = try count(usage, "completion_tokens")
        let promptDetails = object(usage, "prompt_tokens_details")
        let completionDetails = object(usage, "completion_tokens_details")
        var tokens = TokenCounts()
        tokens.cacheRead = try count(promptDetails, "cached_tokens")
        tokens.cacheWrite = try count(promptDetails, "cache_write_tokens")
        tokens.audioInput = try count(promptDetails, "audio_tokens")
        tokens.imageInput = try count(promptDetails, "image_tokens")
        tokens.input = subtract(
            prompt, tokens.cacheRead + tokens.cacheWrite + tokens.audioInput + tokens.imageInput, "prompt_tokens",
            &warnings)
        tokens.reasoning = try count(completionDetails, "reasoning_tokens")
        tokens.audioOutput = try count(completionDetails, "audio_tokens")
        tokens.output = subtract(completion, tokens.reasoning + tokens.audioOutput, "completion_tokens", &warnings)
        return Normalised(tokens: tokens, shape: .openAIChat, warnings: warnings)
    }

    /// OpenAI Responses `usage` (`ResponseUsage`).
    public static func openAIResponses(_ usage: [String: JSONValue]) throws(ProviderUsage.Error) -> Normalised {
        var warnings: [String] = []
        let input = try count(usage, "input_tokens")
        let output = try count(usage, "output_tokens")
        let inputDetails = object(usage, "input_tokens_details")
        var tokens = TokenCounts()
        tokens.cacheRead = try count(inputDetails, "cached_tokens")
        tokens.cacheWrite = try count(inputDetails, "cache_write_tokens")
        tokens.input = subtract(input, tokens.cacheRead + tokens.cacheWrite, "input_tokens", &warnings)
        tokens.reasoning = try count(object(usage, "output_tokens_details"), "reasoning_tokens")
        tokens.output = subtract(output, tokens.reasoning, "output_tokens", &warnings)
        return Normalised(tokens: tokens, shape: .openAIResponses, warnings: warnings)
    }

    /// OpenAI Embeddings `usage` (`prompt_tokens`, `total_tokens`).
    public static func openAIEmbeddings(_ usage: [String: JSONValue]) throws(ProviderUsage.Error) -> Normalised {
        var tokens = TokenCounts()
        tokens.embedding = try count(usage, "prompt_tokens")
        return Normalised(tokens: tokens, shape: .openAIEmbeddings, warnings: [])
    }

    /// Anthropic Messages `usage`, including `cache_creation` with its 5-minute / 1-hour split.
    public static func anthropic(_ usage: [String: JSONValue]) throws(ProviderUsage.Error) -> Normalised {
        var warnings: [String] = []
        var tokens = TokenCounts()
        tokens.input = try count(usage, "input_tokens")
        tokens.cacheRead = try count(usage, "cache_read_input_tokens")
        let creation = try count(usage, "cache_creation_input_tokens")
        let split = object(usage, "cache_creation")
        if split.isEmpty {
            tokens.cacheWrite = creation
        } else {
            tokens.cacheWrite1h = try count(split, "ephemeral_1h_input_tokens")
            tokens.cacheWrite = try count(split, "ephemeral_5m_input_tokens")
            let splitTotal = tokens.cacheWrite + tokens.cacheWrite1h
            if creation > splitTotal {
                // Older payloads: the unsplit remainder has the default 5-minute lifetime.
                tokens.cacheWrite += creation - splitTotal
            }
        }
        let output = try count(usage, "output_tokens")
        tokens.reasoning = try count(object(usage, "output_tokens_details"), "thinking_tokens")
        tokens.output = subtract(output, tokens.reasoning, "output_tokens", &warnings)
        return Normalised(tokens: tokens, shape: .anthropic, warnings: warnings)
    }

    /// Gemini / Vertex `usageMetadata`.
    public static func gemini(_ usage: [String: JSONValue]) throws(ProviderUsage.Error) -> Normalised {
        var warnings: [String] = []
        let prompt = try count(usage, "promptTokenCount")
        let cached = try count(usage, "cachedContentTokenCount")
        let toolPrompt = try count(usage, "toolUsePromptTokenCount")
        func modality(_ key: String, _ name: String) throws(ProviderUsage.Error) -> Int64 {
            var sum: Int64 = 0
            for item in usage[key]?.arrayValue ?? [] {
                guard case .object(let detail) = item, detail["modality"]?.stringValue == name else { continue }
                sum += try count(detail, "tokenCount")
            }
            return sum
        }
        let audioPrompt = try modality("promptTokensDetails", "AUDIO")
        let audioCached = try modality("cacheTokensDetails", "AUDIO")
        var tokens = TokenCounts()
        tokens.cacheRead = cached
        tokens.audioInput = subtract(audioPrompt, audioCached, "promptTokensDetails AUDIO", &warnings)
        tokens.input = subtract(prompt, cached + tokens.audioInput, "promptTokenCount", &warnings) + toolPrompt
        tokens.output = try count(usage, "candidatesTokenCount")
        tokens.reasoning = try count(usage, "thoughtsTokenCount")
        let tier = usage["trafficType"]?.stringValue.flatMap(serviceTier)
        return Normalised(tokens: tokens, shape: .gemini, serviceTier: tier, warnings: warnings)
    }

    /// Bedrock counts: invocation logs and `InvokeModel` metrics (`inputTokenCount`, …) or
    /// Converse `usage` (`inputTokens`, …).
    public static func bedrock(_ usage: [String: JSONValue]) throws(ProviderUsage.Error) -> Normalised {
        var tokens = TokenCounts()
        tokens.input = try count(usage, "inputTokenCount") + count(usage, "inputTokens")
        tokens.output = try count(usage, "outputTokenCount") + count(usage, "outputTokens")
        tokens.cacheRead = try count(usage, "cacheReadInputTokenCount") + count(usage, "cacheReadInputTokens")
        let writes = try count(usage, "cacheWriteInputTokenCount") + count(usage, "cacheWriteInputTokens")
        var oneHour: Int64 = 0
        for item in usage["cacheDetails"]?.arrayValue ?? [] {
            if case .object(let detail) = item, detail["ttl"]?.stringValue == "1h" {
                oneHour += try count(detail, "inputTokens")
            }
        }
        tokens.cacheWrite1h = min(oneHour, writes)
        tokens.cacheWrite = writes - tokens.cacheWrite1h
        return Normalised(tokens: tokens, shape: .bedrock, warnings: [])
    }
}
