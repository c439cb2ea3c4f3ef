import AsyncHTTPClient
import Foundation
public import LedgerCore
import LedgerIngest
public import LedgerStore
public import Logging
import NIOCore
import NIOHTTP1

/// A pull connector in the configuration (`sync:`): `serve` runs it every `every_minutes`.
public struct SyncConfiguration: Sendable, Decodable {
    /// `openai` or `anthropic`.
    public var provider: String
    /// The environment variable holding the organisation's admin key.
    public var adminKeyEnv: String?
    /// The API's address (default: the provider's own).
    public var baseURL: String?
    public var everyMinutes: Int?
    /// Where the first run starts (default: 30 days back).
    public var since: String?

    enum CodingKeys: String, CodingKey {
        case provider
        case adminKeyEnv = "admin_key_env"
        case baseURL = "base_url"
        case everyMinutes = "every_minutes"
        case since
    }

    public init(provider: String, adminKeyEnv: String? = nil, baseURL: String? = nil) {
        self.provider = provider
        self.adminKeyEnv = adminKeyEnv
        self.baseURL = baseURL
    }
}

/// Pulls a provider's admin usage and cost reports (`tokenledger sync`, and `serve` on an
/// interval): usage as events, costs as billing lines.
///
/// - Pagination follows `has_more` / `next_page`.
/// - 429 and 5xx answers are retried with exponential backoff (honouring `Retry-After`); other
///   errors stop the run with the provider's message.
/// - Only complete buckets are imported (a day still in progress is imported once it ends, so
///   its final figures are the ones kept), and after each page a checkpoint records how far the
///   connector got: a restart resumes there. Everything is idempotent by id, so re-reading a page
///   counts nothing twice.
public final class ProviderSync: Sendable {
    public enum Provider: String, Sendable, CaseIterable {
        case openai, anthropic

        var defaultBaseURL: String { self == .openai ? "https://api.openai.com" : "https://api.anthropic.com" }
        public var defaultAdminKeyEnv: String { self == .openai ? "OPENAI_ADMIN_KEY" : "ANTHROPIC_ADMIN_KEY" }
    }

    enum Kind {
        case usage(UsageReportImporter.Format)
        case costs(BillingImporter.Format)
    }

    struct Endpoint {
        /// The checkpoint's name: `openai-completions`, …
        var connector: String
        var path: String
        var kind: Kind
        var query: [(String, String)]
    }

    /// What a run did, per endpoint.
    public struct Summary: Sendable {
        public var connector: String
        public var pages = 0
        public var recorded = 0
        public var duplicates = 0
        public var rejected: [String] = []
        public var from: Timestamp?
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    let provider: Provider
    let baseURL: String
    let adminKey: String
    let ledger: SQLiteLedger
    let catalog: PriceCatalog
    let client: HTTPClient
    let logger: Logger
    let retryBaseMilliseconds: Int64
    let maximumAttempts: Int

    public init(
        provider: Provider, baseURL: String? = nil, adminKey: String, ledger: SQLiteLedger, catalog: PriceCatalog,
        logger: Logger, retryBaseMilliseconds: Int64 = 1_000, maximumAttempts: Int = 6
    ) {
        self.provider = provider
        self.baseURL = (baseURL ?? provider.defaultBaseURL).trimmingSuffix("/")
        self.adminKey = adminKey
        self.ledger = ledger
        self.catalog = catalog
        self.client = .shared
        self.logger = logger
        self.retryBaseMilliseconds = retryBaseMilliseconds
        self.maximumAttempts = maximumAttempts
    }

    var endpoints: [Endpoint] {
        switch provider {
        case .openai:
            let groups = [("group_by[]", "model"), ("group_by[]", "project_id")]
            return [
                Endpoint(
                    connector: "openai-completions", path: "/v1/organization/usage/completions",
                    kind: .usage(.openAIUsage),
                    query: [("bucket_width", "1d"), ("limit", "31")] + groups + [("group_by[]", "batch")]),
                Endpoint(
                    connector: "openai-embeddings", path: "/v1/organization/usage/embeddings",
                    kind: .usage(.openAIUsage), query: [("bucket_width", "1d"), ("limit", "31")] + groups),
                Endpoint(
                    connector: "openai-costs", path: "/v1/organization/costs", kind: .costs(.openAICosts),
                    query: [
                        ("bucket_width", "1d"), ("limit", "180"), ("group_by[]", "line_item"),
                        ("group_by[]", "project_id"),
                    ]),
            ]
        case .anthropic:
            return [
                Endpoint(
                    connector: "anthropic-messages", path: "/v1/organizations/usage_report/messages",
                    kind: .usage(.anthropicUsage),
                    query: [
                        ("bucket_width", "1d"), ("limit", "31"), ("group_by[]", "model"),
                        ("group_by[]", "workspace_id"),
                        ("group_by[]", "service_tier"), ("group_by[]", "context_window"),
                    ]),
                Endpoint(
                    connector: "anthropic-costs", path: "/v1/organizations/cost_report", kind: .costs(.anthropicCosts),
                    query: [
                        ("bucket_width", "1d"), ("group_by[]", "description"), ("group_by[]", "workspace_id"),
                    ]),
            ]
        }
    }

    /// Imports complete buckets from `since` (or each endpoint's checkpoint, if later) to `until`.
    public func run(since: Timestamp, until: Timestamp, now: Timestamp = .current) async throws -> [Summary] {
        var summaries: [Summary] = []
        for endpoint in endpoints {
            summaries.append(try await run(endpoint, since: since, until: min(until, now), now: now))
        }
        return summaries
    }

    private func run(_ endpoint: Endpoint, since: Timestamp, until: Timestamp, now: Timestamp) async throws -> Summary {
        var summary = Summary(connector: endpoint.connector)
        let checkpoint = try await ledger.syncCheckpoint(endpoint.connector)
        let start = max(since, checkpoint ?? since).startOfDay
        summary.from = start
        guard start < until else { return summary }
        var rater = Rater(catalog: catalog)
        var cursor: String?
        repeat {
            let page = try await fetch(endpoint, start: start, end: until, page: cursor)
            summary.pages += 1
            var lastEnd: Timestamp?
            for bucket in page["data"]?.arrayValue ?? [] {
                if let end = UsageReportImporter.bucketEnd(bucket), end <= now { lastEnd = max(lastEnd ?? end, end) }
            }
            let location = "\(endpoint.connector) page \(summary.pages)"
            switch endpoint.kind {
            case .usage(let format):
                let decoded = UsageReportImporter.decode(page: page, format: format, completeBefore: now)
                let recorded = try await ledger.record(decoded.items.map { rater.rate($0) })
                summary.recorded += recorded.inserted
                summary.duplicates += recorded.duplicates
                summary.rejected += decoded.errors.map { "\(location), \($0.location): \($0.reason)" }
                cursor = decoded.hasMore ? decoded.nextPage : nil
            case .costs(let format):
                let decoded = BillingImporter.decode(page: page, format: format, completeBefore: now)
                let recorded = try await ledger.recordBilling(decoded.items)
                summary.recorded += recorded.inserted
                summary.duplicates += recorded.duplicates
                summary.rejected += decoded.errors.map { "\(location), \($0.location): \($0.reason)" }
                cursor = decoded.hasMore ? decoded.nextPage : nil
            }
            if let lastEnd { try await ledger.advanceSyncCheckpoint(endpoint.connector, through: lastEnd, at: now) }
        } while cursor != nil
        return summary
    }

    func url(_ endpoint: Endpoint, start: Timestamp, end: Timestamp, page: String?) -> String {
        var query = endpoint.query
        switch provider {
        case .openai:
            query += [("start_time", String(start.seconds)), ("end_time", String(end.seconds))]
        case .anthropic:
            query += [("starting_at", start.iso8601), ("ending_at", end.iso8601)]
        }
        if let page { query.append(("page", page)) }
        let encoded = query.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        return baseURL + endpoint.path + "?" + encoded
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(
            withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+")))
            ?? text
    }

    private func fetch(_ endpoint: Endpoint, start: Timestamp, end: Timestamp, page: String?) async throws -> JSONValue
    {
        let address = url(endpoint, start: start, end: end, page: page)
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: address)
            switch provider {
            case .openai: request.headers.add(name: "authorization", value: "Bearer \(adminKey)")
            case .anthropic:
                request.headers.add(name: "x-api-key", value: adminKey)
                request.headers.add(name: "anthropic-version", value: "2023-06-01")
            }
            let response = try await client.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
            let status = Int(response.status.code)
            if status == 200 {
                do {
                    return try JSONValue(parsing: Data(body.readableBytesView))
                } catch {
                    throw Failure(description: "\(endpoint.connector): the page at \(address) is not JSON: \(error)")
                }
            }
            let message = String(buffer: body).prefix(300)
            guard status == 429 || status >= 500, attempt < maximumAttempts else {
                let hint = status == 401 || status == 403 ? " Check the admin key (an admin key, not an API key)." : ""
                throw Failure(
                    description:
                        "\(endpoint.connector): HTTP \(status) from \(baseURL)\(endpoint.path): \(message)\(hint)")
            }
            let retryAfter = response.headers.first(name: "retry-after").flatMap { Int64($0) }
            let delay = retryAfter.map { $0 * 1_000 } ?? retryBaseMilliseconds << Int64(attempt - 1)
            logger.notice(
                "sync: retrying after HTTP \(status)",
                metadata: ["connector": "\(endpoint.connector)", "attempt": "\(attempt)", "delay_ms": "\(delay)"])
            try await Task.sleep(for: .milliseconds(min(delay, 60_000)))
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
