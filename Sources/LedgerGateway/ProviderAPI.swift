import Foundation
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

    /// The `event:` name and the joined `data:` lines of one event, as bytes: an event is
    /// looked at, not rewritten, so nothing of it becomes a `String` unless it reports an error.
    static func fields(of event: [UInt8]) -> SSEFields {
        var fields = SSEFields()
        var dataLines = 0
        var start = event.startIndex
        while start < event.endIndex {
            var end = event[start...].firstIndex(of: 10) ?? event.endIndex
            let next = end == event.endIndex ? end : end + 1
            if end > start, event[end - 1] == 13 { end -= 1 }
            let line = event[start..<end]
            if line.starts(with: SSEFields.dataPrefix) {
                if dataLines > 0 { fields.data.append(10) }
                fields.data.append(contentsOf: line.dropFirst(5).drop { $0 == 32 })
                dataLines += 1
            } else if line.starts(with: SSEFields.eventPrefix) {
                fields.name = Array(line.dropFirst(6).drop { $0 == 32 })
            }
            start = next
        }
        return fields
    }
}

/// The fields of one server-sent event (see ``SSEScanner/fields(of:)``).
struct SSEFields {
    /// The `event:` name, if any.
    var name: [UInt8]?
    /// The `data:` lines, joined by line feeds.
    var data: [UInt8] = []

    static let dataPrefix = Array("data:".utf8)
    static let eventPrefix = Array("event:".utf8)
    static let done = Array("[DONE]".utf8)

    /// The OpenAI stream's last event.
    var isDone: Bool { data == Self.done }

    func named(_ name: String) -> Bool {
        guard let own = self.name else { return false }
        return own.elementsEqual(name.utf8)
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

    private static let usageKey = Array("\"usage\"".utf8)
    private static let deltaKey = Array("\"delta\"".utf8)
    private static let errorStart = Array("{\"error\"".utf8)

    /// Reads one event. Returns whether it is an OpenAI usage-only chunk (empty `choices`).
    ///
    /// Most events are text deltas: they are counted from a byte search, and only an event with a
    /// `"usage"` member holding an object is parsed (OpenAI repeats `"usage":null` in every chunk
    /// once usage is asked for).
    mutating func observe(_ event: SSEFields) -> Bool {
        let data = event.data
        if event.isDone { return false }
        if data.firstIndex(of: Self.deltaKey) != nil || event.named("content_block_delta")
            || event.named("response.output_text.delta")
        {
            deltas += 1
            outputBytes += Int64(data.count / 4)
        }
        if event.named("error") || data.starts(with: Self.errorStart) {
            upstreamError = String(decoding: data, as: UTF8.self)
        }
        guard Self.hasUsageObject(data), case .success(let object) = JSONRowParser.members(of: data) else {
            return false
        }
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

    /// Whether the bytes hold `"usage"` followed by a colon and an object, wherever it is.
    static func hasUsageObject(_ data: [UInt8]) -> Bool {
        func skipSpace(_ index: inout Int) {
            while index < data.endIndex, data[index] == 32 || data[index] == 9 || data[index] == 10 || data[index] == 13
            {
                index += 1
            }
        }
        var from = data.startIndex
        while let found = data.firstIndex(of: usageKey, from: from) {
            var index = found + usageKey.count
            skipSpace(&index)
            if index < data.endIndex, data[index] == UInt8(ascii: ":") {
                index += 1
                skipSpace(&index)
                if index < data.endIndex, data[index] == UInt8(ascii: "{") { return true }
            }
            from = found + 1
        }
        return false
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

extension [UInt8] {
    /// The position of the first occurrence of `pattern` at or after `from`.
    func firstIndex(of pattern: [UInt8], from: Int = 0) -> Int? {
        guard let first = pattern.first, from >= 0, count - from >= pattern.count else { return nil }
        return withUnsafeBufferPointer { haystack in
            pattern.withUnsafeBufferPointer { needle in
                guard let base = haystack.baseAddress, let needleBase = needle.baseAddress else { return nil }
                var index = from
                let last = haystack.count - needle.count
                while index <= last {
                    guard let found = memchr(base + index, Int32(first), last - index + 1) else { return nil }
                    let position = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + position, needleBase, needle.count) == 0 { return position }
                    index = position + 1
                }
                return nil
            }
        }
    }
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
