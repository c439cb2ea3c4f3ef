public import LedgerCore

/// The provider APIs the gateway serves. Every one of them is metered and budgeted: there is no
/// pass-through route.
public enum APIRoute: String, Sendable, CaseIterable {
    case chatCompletions = "/v1/chat/completions"
    case completions = "/v1/completions"
    case embeddings = "/v1/embeddings"
    case responses = "/v1/responses"
    case messages = "/v1/messages"
    case countTokens = "/v1/messages/count_tokens"

    /// Whose error format and authentication the route speaks.
    public var family: APIFamily {
        switch self {
        case .messages, .countTokens: .anthropic
        default: .openAI
        }
    }

    /// A short label for metrics.
    public var label: String {
        switch self {
        case .chatCompletions: "chat_completions"
        case .completions: "completions"
        case .embeddings: "embeddings"
        case .responses: "responses"
        case .messages: "messages"
        case .countTokens: "count_tokens"
        }
    }

    /// Whether the route's calls cost money (count_tokens is free).
    public var isBilled: Bool { self != .countTokens }
}

/// OpenAI-shaped or Anthropic-shaped.
public enum APIFamily: String, Sendable {
    case openAI = "openai"
    case anthropic

    /// An error body in the provider's own format.
    public func errorBody(status: Int, message: String, code: String? = nil) -> String {
        switch self {
        case .openAI:
            let type: String =
                switch status {
                case 401: "authentication_error"
                case 403: "permission_error"
                case 404: "invalid_request_error"
                case 429: code == "budget_exceeded" ? "insufficient_quota" : "rate_limit_exceeded"
                case 400..<500: "invalid_request_error"
                default: "api_error"
                }
            return OrderedJSON.object([
                (
                    "error",
                    .object([
                        ("message", .string(message)), ("type", .string(type)), ("param", .null),
                        ("code", .optional(code)),
                    ])
                )
            ]).serialized()
        case .anthropic:
            let type: String =
                switch status {
                case 401: "authentication_error"
                case 403: "permission_error"
                case 404: "not_found_error"
                case 413: "request_too_large"
                case 429: "rate_limit_error"
                case 400..<500: "invalid_request_error"
                case 504: "timeout_error"
                case 529: "overloaded_error"
                default: "api_error"
                }
            return OrderedJSON.object([
                ("type", .string("error")),
                ("error", .object([("type", .string(type)), ("message", .string(message))])),
            ]).serialized()
        }
    }

    /// An error sent as a server-sent event, for failures after a stream has started.
    public func streamErrorEvent(status: Int, message: String) -> String {
        switch self {
        case .openAI: "data: \(errorBody(status: status, message: message))\n\n"
        case .anthropic: "event: error\ndata: \(errorBody(status: status, message: message))\n\n"
        }
    }
}

/// What the gateway reads from a request body before forwarding it.
public struct RequestInspection: Sendable, Hashable {
    public var model: String
    public var stream: Bool
    /// `stream_options.include_usage` as the caller sent it.
    public var callerAskedForUsage: Bool
    /// `max_tokens`, `max_completion_tokens` or `max_output_tokens`.
    public var maxOutputTokens: Int64?
    /// Choices per request (`n`, `best_of`): the output limit applies to each.
    public var choices: Int64
    /// The body's end-user id: OpenAI `user`, Anthropic `metadata.user_id`.
    public var endUser: String?

    /// Whether ``read(_:route:)`` looks at the body field `name`.
    static func reads(_ name: String) -> Bool {
        switch name {
        case "model", "stream", "max_completion_tokens", "max_tokens", "max_output_tokens", "n", "best_of",
            "stream_options", "user", "safety_identifier", "metadata":
            true
        default: false
        }
    }

    /// Reads a parsed body; fails with a message naming the field.
    public static func read(_ body: [String: JSONValue], route: APIRoute) -> Result<RequestInspection, InspectionError>
    {
        guard let modelValue = body["model"] else {
            return .failure(InspectionError(field: "model", message: "the request has no 'model' field"))
        }
        guard let model = modelValue.stringValue, !model.isEmpty else {
            return .failure(InspectionError(field: "model", message: "'model' must be a non-empty string"))
        }
        var stream = false
        if let value = body["stream"], value != .null {
            guard case .bool(let flag) = value else {
                return .failure(InspectionError(field: "stream", message: "'stream' must be true or false"))
            }
            stream = flag
        }
        var maxOutput: Int64?
        for field in ["max_completion_tokens", "max_tokens", "max_output_tokens"] {
            guard let value = body[field], value != .null else { continue }
            guard let number = value.integerValue, number >= 0, case .integer = value else {
                return .failure(InspectionError(field: field, message: "'\(field)' must be a whole number ≥ 0"))
            }
            maxOutput = number
            break
        }
        var choices: Int64 = 1
        for field in ["n", "best_of"] {
            guard let value = body[field], value != .null else { continue }
            guard case .integer(let number) = value, number >= 1, number <= 128 else {
                return .failure(
                    InspectionError(field: field, message: "'\(field)' must be a whole number from 1 to 128"))
            }
            choices = max(choices, number)
        }
        let asked = body["stream_options"]?["include_usage"] == .bool(true)
        let endUser: String? =
            switch route.family {
            case .openAI: body["user"]?.stringValue ?? body["safety_identifier"]?.stringValue
            case .anthropic: body["metadata"]?["user_id"]?.stringValue
            }
        return .success(
            RequestInspection(
                model: model, stream: stream, callerAskedForUsage: asked, maxOutputTokens: maxOutput, choices: choices,
                endUser: endUser))
    }
}

/// A request field the gateway cannot use.
public struct InspectionError: Error, Sendable, Hashable {
    public var field: String
    public var message: String
}

/// Finds whole server-sent events in a byte stream that arrives in arbitrary pieces.
struct SSEScanner {
    private var pending: [UInt8] = []

    /// Adds bytes; returns the events completed by them (each with its terminating blank line).
    mutating func append(_ bytes: some Collection<UInt8>) -> [[UInt8]] {
        pending.append(contentsOf: bytes)
        var events: [[UInt8]] = []
        var start = 0
        var index = 0
        let count = pending.count
        while index + 1 < count {
            if pending[index] == 10 && pending[index + 1] == 10 {
                events.append(Array(pending[start...(index + 1)]))
                index += 2
                start = index
            } else if index + 3 < count, pending[index] == 13, pending[index + 1] == 10, pending[index + 2] == 13,
                pending[index + 3] == 10
            {
                events.append(Array(pending[start...(index + 3)]))
                index += 4
                start = index
            } else {
                index += 1
            }
        }
        if start > 0 { pending.removeFirst(start) }
        return events
    }

    /// The `event:` name and the joined `data:` lines of one event.
    static func fields(of event: [UInt8]) -> (name: String?, data: String) {
        var name: String?
        var data: [Substring] = []
        let text = String(decoding: event, as: UTF8.self)
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if line.hasPrefix("data:") {
                data.append(line.dropFirst(5).drop { $0 == " " })
            } else if line.hasPrefix("event:") {
                name = String(line.dropFirst(6).drop { $0 == " " })
            }
        }
        return (name, data.joined(separator: "\n"))
    }
}

/// Collects the usage a streamed response reports, and an estimate of its output in case the
/// stream ends early.
struct StreamUsageTracker {
    let route: APIRoute
    let provider: String
    /// Usage objects seen, merged (Anthropic reports input in `message_start`, output in `message_delta`).
    private(set) var usage: [String: JSONValue] = [:]
    private(set) var sawUsage = false
    /// Output pieces streamed (one text delta is usually one token).
    private(set) var deltas: Int64 = 0
    /// Bytes of streamed output text.
    private(set) var outputBytes: Int64 = 0
    /// An error event the upstream sent in the stream.
    private(set) var upstreamError: String?

    init(route: APIRoute, provider: String) {
        self.route = route
        self.provider = provider
    }

    /// Reads one event. Returns whether it is an OpenAI usage-only chunk (empty `choices`).
    mutating func observe(name: String?, data: String) -> Bool {
        if data == "[DONE]" { return false }
        let mentionsUsage = data.utf8.count > 8 && data.contains("\"usage\"")
        let isDelta =
            data.contains("\"delta\"") || name == "content_block_delta" || name == "response.output_text.delta"
        if isDelta {
            deltas += 1
            outputBytes += Int64(data.utf8.count / 4)
        }
        if name == "error" || data.hasPrefix("{\"error\"") { upstreamError = data }
        guard mentionsUsage, case .success(let object) = JSONRowParser.members(of: data.utf8) else { return false }
        var usageOnly = false
        switch route.family {
        case .anthropic:
            if let start = object["message"]?["usage"]?.objectValue { merge(start) }
            if let delta = object["usage"]?.objectValue { merge(delta) }
        case .openAI:
            if let inner = object["response"]?["usage"]?.objectValue {
                usage = inner
                sawUsage = true
            } else if let inner = object["usage"]?.objectValue {
                usage = inner
                sawUsage = true
                usageOnly = (object["choices"]?.arrayValue?.isEmpty ?? false)
            }
        }
        return usageOnly
    }

    private mutating func merge(_ part: [String: JSONValue]) {
        usage.merge(part) { _, new in new }
        sawUsage = true
    }

    /// The reported usage, normalised, if the stream carried any.
    func reportedTokens() -> TokenCounts? {
        guard sawUsage else { return nil }
        return try? ProviderUsage.normalise(.object(["usage": .object(usage)]), provider: provider).tokens
    }

    /// Output tokens estimated from what was streamed.
    var estimatedOutputTokens: Int64 { max(deltas, outputBytes) }
}

extension Collection<UInt8> {
    /// Line and column (1-based) of a byte offset, for error messages about request bodies.
    func lineAndColumn(ofOffset offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for (index, byte) in enumerated() {
            if index >= offset { break }
            if byte == 10 {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}
