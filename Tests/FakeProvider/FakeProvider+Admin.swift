import Foundation
import HTTPTypes
public import Hummingbird
import LedgerCore
import NIOCore
public import Synchronization

/// The providers' admin report APIs, as documented: OpenAI's organisation usage (completions,
/// embeddings) and costs, Anthropic's usage report (messages) and cost report. One result per
/// day of the asked range; seven days per page, so a month takes several pages.
public final class FakeAdminAPI: Sendable {
    /// What to break, for the connector's tests.
    public struct Faults: Sendable {
        /// The first request to each endpoint answers 429 with `Retry-After: 0`.
        public var rateLimitFirst = false
        /// After this many pages served, every request answers 500.
        public var failAfterPages: Int?
        public init() {}
    }

    public struct Log: Sendable {
        /// `path?query` of every request, in order.
        public var requests: [String] = []
        public var pagesServed = 0
        public var rateLimited: Set<String> = []
    }

    public let faults = Mutex(Faults())
    public let log = Mutex(Log())
    public let adminKey: String
    static let pageDays = 7

    public init(adminKey: String = "sk-admin-fake") {
        self.adminKey = adminKey
    }

    public func register(on router: Router<BasicRequestContext>) {
        for path in [
            "/v1/organization/usage/completions", "/v1/organization/usage/embeddings", "/v1/organization/costs",
            "/v1/organizations/usage_report/messages", "/v1/organizations/cost_report",
        ] {
            router.get(RouterPath(path)) { request, _ in self.answer(request, path: path) }
        }
    }

    private func answer(_ request: Request, path: String) -> Response {
        let anthropic = path.hasPrefix("/v1/organizations/")
        log.withLock { $0.requests.append(path + "?" + (request.uri.query ?? "")) }
        let presented =
            anthropic
            ? request.headers[HTTPField.Name("x-api-key")!]
            : request.headers[.authorization].map { String($0.dropFirst("Bearer ".count)) }
        guard presented == adminKey else {
            return FakeProvider.json(#"{"error":{"message":"invalid admin key"}}"#, status: .unauthorized)
        }
        let faults = self.faults.withLock { $0 }
        let rateLimit = log.withLock { log in
            guard faults.rateLimitFirst, !log.rateLimited.contains(path) else { return false }
            log.rateLimited.insert(path)
            return true
        }
        if rateLimit {
            var response = FakeProvider.json(#"{"error":{"message":"rate limited"}}"#, status: .tooManyRequests)
            response.headers[HTTPField.Name("retry-after")!] = "0"
            return response
        }
        if let limit = faults.failAfterPages, log.withLock({ $0.pagesServed }) >= limit {
            return FakeProvider.json(#"{"error":{"message":"upstream trouble"}}"#, status: .internalServerError)
        }
        let query = request.uri.queryParameters
        let start: Int64
        let end: Int64
        if anthropic {
            guard let from = query["starting_at"].flatMap({ Timestamp(parsing: String($0)) }),
                let to = query["ending_at"].flatMap({ Timestamp(parsing: String($0)) })
            else { return FakeProvider.json(#"{"error":{"message":"starting_at is required"}}"#, status: .badRequest) }
            start = from.seconds
            end = to.seconds
        } else {
            guard let from = query["start_time"].flatMap({ Int64(String($0)) }) else {
                return FakeProvider.json(#"{"error":{"message":"start_time is required"}}"#, status: .badRequest)
            }
            start = from
            end = query["end_time"].flatMap { Int64(String($0)) } ?? from + 7 * 86_400
        }
        let firstDay = start / 86_400 + (query["page"].flatMap { Int64(String($0).dropFirst()) } ?? 0)
        let lastDay = (end + 86_399) / 86_400
        let days = Array(firstDay..<min(lastDay, firstDay + Int64(Self.pageDays)))
        let hasMore = firstDay + Int64(Self.pageDays) < lastDay
        let offset = firstDay + Int64(Self.pageDays) - start / 86_400
        log.withLock { $0.pagesServed += 1 }
        let buckets = days.map { bucket(path: path, day: $0) }.joined(separator: ",")
        let next = hasMore ? "\"p\(offset)\"" : "null"
        let object = anthropic ? "" : #""object":"page","#
        return FakeProvider.json(#"{\#(object)"data":[\#(buckets)],"has_more":\#(hasMore),"next_page":\#(next)}"#)
    }

    private func bucket(path: String, day: Int64) -> String {
        let start = day * 86_400
        let end = start + 86_400
        let iso = { (seconds: Int64) in Timestamp(microseconds: seconds * 1_000_000).iso8601 }
        switch path {
        case "/v1/organization/usage/completions":
            return
                #"{"object":"bucket","start_time":\#(start),"end_time":\#(end),"results":[{"object":"organization.usage.completions.result","input_tokens":1000000,"output_tokens":100000,"input_cached_tokens":0,"num_model_requests":10,"project_id":"proj_1","model":"gpt-4o-mini-2024-07-18","batch":false}]}"#
        case "/v1/organization/usage/embeddings":
            return
                #"{"object":"bucket","start_time":\#(start),"end_time":\#(end),"results":[{"object":"organization.usage.embeddings.result","input_tokens":500000,"num_model_requests":5,"project_id":"proj_1","model":"text-embedding-3-small"}]}"#
        case "/v1/organization/costs":
            return
                #"{"object":"bucket","start_time":\#(start),"end_time":\#(end),"results":[{"object":"organization.costs.result","amount":{"value":0.25,"currency":"usd"},"line_item":"gpt-4o-mini-2024-07-18, input","project_id":"proj_1"}]}"#
        case "/v1/organizations/usage_report/messages":
            return
                #"{"starting_at":"\#(iso(start))","ending_at":"\#(iso(end))","results":[{"uncached_input_tokens":1000000,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"cache_read_input_tokens":0,"output_tokens":100000,"server_tool_use":{"web_search_requests":0},"api_key_id":null,"workspace_id":"wrk_1","model":"claude-sonnet-4-5-20250929","service_tier":"standard","context_window":"0-200k"}]}"#
        default:
            return
                #"{"starting_at":"\#(iso(start))","ending_at":"\#(iso(end))","results":[{"amount":"450.0","currency":"USD","workspace_id":"wrk_1","description":"Claude Sonnet 4.5 input","cost_type":"tokens","model":"claude-sonnet-4-5-20250929","token_type":"uncached_input_tokens","service_tier":"standard","context_window":"0-200k","inference_geo":null}]}"#
        }
    }

    /// Runs the admin API alone on `127.0.0.1` (a free port) until cancelled.
    public func run(onReady: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router(context: BasicRequestContext.self)
        register(on: router)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in await onReady(channel.localAddress?.port ?? 0) })
        try await app.runService(gracefulShutdownSignals: [])
    }
}
