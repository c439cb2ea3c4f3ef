import Foundation
import HTTPTypes
public import Hummingbird
public import LedgerCore
import Logging
import NIOCore
public import Synchronization

/// A local stand-in for the OpenAI and Anthropic APIs, answering with the providers' documented
/// payload shapes (chat completions, completions, embeddings, responses, messages, count_tokens;
/// JSON and server-sent events). Fixed usage numbers make pass-through checkable:
/// OpenAI prompt 42 (cached 32), completion 17 (reasoning 5); Anthropic input 42, output 17,
/// cache read 32, cache creation 8; embeddings 8.
///
/// A `"fake"` member in the request body chooses a behaviour: `fail-500` answers 500 in the
/// provider's error format; `slow` waits 3 s before answering; `busy` 300 ms (a model at work); `drip` streams ten deltas 150 ms
/// apart; `midfail` streams two deltas then drops the connection; without it the fake answers at once.
public final class FakeProvider: Sendable {
    /// What the fake has seen, for assertions.
    public struct Stats: Sendable {
        public var requests = 0
        public var streamsCancelled = 0
        public var lastBody: [String: JSONValue] = [:]
        public var lastHeaders: [String: String] = [:]
        public var paths: [String] = []
    }

    public let stats = Mutex(Stats())
    /// The upstream key the fake expects (`Authorization: Bearer` or `x-api-key`).
    public let expectedKey: String

    public init(expectedKey: String = "sk-fake-upstream") {
        self.expectedKey = expectedKey
    }

    /// The routes.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        for path in ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"] {
            router.post(RouterPath(path)) { request, _ in try await self.answer(request, path: path, anthropic: false) }
        }
        router.post("/openai/deployments/:deployment/chat/completions") { request, _ in
            try await self.answer(request, path: "/v1/chat/completions", anthropic: false)
        }
        for path in ["/v1/messages", "/v1/messages/count_tokens"] {
            router.post(RouterPath(path)) { request, _ in try await self.answer(request, path: path, anthropic: true) }
        }
        router.get("/_fake/stats") { _, _ in
            let stats = self.stats.withLock { $0 }
            return Self.json(
                "{\"requests\":\(stats.requests),\"streams_cancelled\":\(stats.streamsCancelled),\"last_body\":\(JSONValue.object(stats.lastBody).serialized())}"
            )
        }
        return router
    }

    /// Runs the fake on `host:port` (0 picks a free port) until cancelled; `onReady` gets the port.
    public func run(host: String = "127.0.0.1", port: Int = 0, onReady: @escaping @Sendable (Int) async -> Void)
        async throws
    {
        var logger = Logger(label: "fake-provider")
        logger.logLevel = .critical
        let app = Application(
            router: router(), configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in await onReady(channel.localAddress?.port ?? port) }, logger: logger)
        try await app.runService(gracefulShutdownSignals: [])
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[HTTPField.Name("x-request-id")!] = "fake-req-1"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    private func answer(_ request: Request, path: String, anthropic: Bool) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 16 * 1024 * 1024)
        let body = (try? JSONValue.parseObject(bytes: buffer.readableBytesView).objectValue) ?? [:]
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        stats.withLock { stats in
            stats.requests += 1
            stats.lastBody = body
            stats.lastHeaders = headers
            stats.paths.append(request.uri.path)
        }
        let presented =
            anthropic ? headers["x-api-key"] : headers["authorization"].map { String($0.dropFirst("Bearer ".count)) }
        guard presented == expectedKey else {
            return Self.json(Self.error(anthropic, 401, "invalid x-api-key / Authorization"), status: .unauthorized)
        }
        let model = body["model"]?.stringValue ?? "unknown"
        let behaviour = body["fake"]?.stringValue ?? ""
        if behaviour == "fail-500" {
            return Self.json(
                Self.error(anthropic, 500, "The server had an error while processing your request."),
                status: .internalServerError)
        }
        if behaviour == "slow" { try await Task.sleep(for: .seconds(3)) }
        if behaviour == "busy" { try await Task.sleep(for: .milliseconds(300)) }
        let stream = body["stream"] == .bool(true)
        switch path {
        case "/v1/embeddings":
            return Self.json(
                #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0093,0.0158]}],"model":"\#(model)","usage":{"prompt_tokens":8,"total_tokens":8}}"#
            )
        case "/v1/messages/count_tokens":
            return Self.json(#"{"input_tokens":42}"#)
        default: break
        }
        if !stream { return Self.json(Self.whole(path: path, model: model)) }
        let includeUsage = body["stream_options"]?["include_usage"] == .bool(true)
        let drip = behaviour == "drip"
        let midFail = behaviour == "midfail"
        let events = Self.events(path: path, model: model, includeUsage: includeUsage, drip: drip)
        var responseHeaders = HTTPFields()
        responseHeaders[.contentType] = "text/event-stream"
        return Response(
            status: .ok, headers: responseHeaders,
            body: ResponseBody { writer in
                do {
                    for (index, event) in events.enumerated() {
                        if midFail && index == 3 { throw CancellationError() }
                        try await writer.write(ByteBuffer(string: event))
                        if drip { try await Task.sleep(for: .milliseconds(150)) }
                    }
                    try await writer.finish(nil)
                } catch {
                    if !midFail { self.stats.withLock { $0.streamsCancelled += 1 } }
                    throw error
                }
            })
    }

    static func error(_ anthropic: Bool, _ status: Int, _ message: String) -> String {
        anthropic
            ? #"{"type":"error","error":{"type":"\#(status == 401 ? "authentication_error" : "api_error")","message":"\#(message)"}}"#
            : #"{"error":{"message":"\#(message)","type":"\#(status == 401 ? "invalid_request_error" : "server_error")","param":null,"code":null}}"#
    }

    static let openAIUsage =
        #"{"prompt_tokens":42,"completion_tokens":17,"total_tokens":59,"prompt_tokens_details":{"cached_tokens":32,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":5,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#
    static let responsesUsage =
        #"{"input_tokens":42,"input_tokens_details":{"cached_tokens":32},"output_tokens":17,"output_tokens_details":{"reasoning_tokens":5},"total_tokens":59}"#
    static let anthropicUsage =
        #"{"input_tokens":42,"output_tokens":17,"cache_read_input_tokens":32,"cache_creation_input_tokens":8}"#

    static func whole(path: String, model: String) -> String {
        switch path {
        case "/v1/completions":
            return
                #"{"id":"cmpl-fake1","object":"text_completion","created":1732380000,"model":"\#(model)","choices":[{"text":"Hello from the fake.","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":\#(openAIUsage)}"#
        case "/v1/responses":
            return
                #"{"id":"resp_fake1","object":"response","created_at":1732380000,"status":"completed","model":"\#(model)","output":[{"type":"message","id":"msg_fake1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello from the fake.","annotations":[]}]}],"usage":\#(responsesUsage)}"#
        case "/v1/messages":
            return
                #"{"id":"msg_fake1","type":"message","role":"assistant","model":"\#(model)","content":[{"type":"text","text":"Hello from the fake."}],"stop_reason":"end_turn","stop_sequence":null,"usage":\#(anthropicUsage)}"#
        default:
            return
                #"{"id":"chatcmpl-fake1","object":"chat.completion","created":1732380000,"model":"\#(model)","system_fingerprint":"fp_fake","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the fake.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":\#(openAIUsage),"service_tier":"default"}"#
        }
    }

    static func events(path: String, model: String, includeUsage: Bool, drip: Bool) -> [String] {
        let pieces = drip ? (0..<10).map { "piece \($0) " } : ["Hello", " from", " the fake."]
        switch path {
        case "/v1/messages":
            var events = [
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_fake2\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"\(model)\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":42,\"output_tokens\":1,\"cache_read_input_tokens\":32,\"cache_creation_input_tokens\":8}}}\n\n",
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
                "event: ping\ndata: {\"type\": \"ping\"}\n\n",
            ]
            events += pieces.map {
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\($0)\"}}\n\n"
            }
            events += [
                "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":17}}\n\n",
                "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            ]
            return events
        case "/v1/responses":
            var events = [
                "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_fake2\",\"object\":\"response\",\"created_at\":1732380000,\"status\":\"in_progress\",\"model\":\"\(model)\",\"output\":[],\"usage\":null}}\n\n"
            ]
            events += pieces.enumerated().map {
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":\($0.offset + 1),\"item_id\":\"msg_fake2\",\"output_index\":0,\"content_index\":0,\"delta\":\"\($0.element)\",\"logprobs\":[]}\n\n"
            }
            events.append(
                "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":\(pieces.count + 1),\"response\":{\"id\":\"resp_fake2\",\"object\":\"response\",\"created_at\":1732380000,\"status\":\"completed\",\"model\":\"\(model)\",\"output\":[{\"type\":\"message\",\"id\":\"msg_fake2\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"\(pieces.joined())\",\"annotations\":[]}]}],\"usage\":\(responsesUsage)}}\n\n"
            )
            return events
        default:
            let usageField = includeUsage ? ",\"usage\":null" : ""
            let object = path == "/v1/completions" ? "text_completion" : "chat.completion.chunk"
            func chunk(_ choice: String) -> String {
                "data: {\"id\":\"chatcmpl-fake2\",\"object\":\"\(object)\",\"created\":1732380000,\"model\":\"\(model)\",\"system_fingerprint\":\"fp_fake\",\"choices\":[\(choice)]\(usageField)}\n\n"
            }
            var events = [
                chunk(
                    "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}"
                )
            ]
            events += pieces.map {
                chunk("{\"index\":0,\"delta\":{\"content\":\"\($0)\"},\"logprobs\":null,\"finish_reason\":null}")
            }
            events.append(chunk("{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}"))
            if includeUsage {
                events.append(
                    "data: {\"id\":\"chatcmpl-fake2\",\"object\":\"\(object)\",\"created\":1732380000,\"model\":\"\(model)\",\"system_fingerprint\":\"fp_fake\",\"choices\":[],\"usage\":\(openAIUsage)}\n\n"
                )
            }
            events.append("data: [DONE]\n\n")
            return events
        }
    }
}
