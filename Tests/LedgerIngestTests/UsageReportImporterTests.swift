import Foundation
import LedgerCatalogData
import LedgerCore
import LedgerIngest
import Testing

@Suite struct UsageReportImporterTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tl-report-\(UUID().uuidString).json")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func run(_ text: String, _ format: UsageReportImporter.Format) async throws -> ([UsageEvent], [IngestError]) {
        let path = try write(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var events: [UsageEvent] = []
        var errors: [IngestError] = []
        _ = try await UsageReportImporter(path: path, format: format).run(
            onBatch: { events += $0 }, onReject: { errors.append($0) })
        return (events, errors)
    }

    /// A completions page as `GET /v1/organization/usage/completions?group_by[]=model&group_by[]=project_id` returns it.
    static let openAIPage = """
        {"object":"page","data":[
          {"object":"bucket","start_time":1759276800,"end_time":1759363200,"results":[
            {"object":"organization.usage.completions.result","input_tokens":120000,"output_tokens":9000,"input_cached_tokens":80000,
             "input_audio_tokens":0,"output_audio_tokens":0,"num_model_requests":42,"project_id":"proj_search","user_id":null,
             "api_key_id":null,"model":"gpt-4o-2024-08-06","batch":false,"service_tier":null},
            {"object":"organization.usage.completions.result","input_tokens":5000,"output_tokens":700,"input_cached_tokens":0,
             "num_model_requests":3,"project_id":"proj_search","model":"gpt-4.1-mini","batch":true}]},
          {"object":"bucket","start_time":1759363200,"end_time":1759449600,"results":[
            {"object":"organization.usage.completions.result","input_tokens":10,"output_tokens":1,"num_model_requests":1,"model":null},
            {"object":"organization.usage.completions.result","input_tokens":10,"output_tokens":1,"input_cached_tokens":50,"num_model_requests":1,"model":"gpt-4o"}]}],
         "has_more":false,"next_page":null}
        """

    @Test func openAIUsagePagesBecomeAggregatedEvents() async throws {
        let (events, errors) = try await run(Self.openAIPage, .openAIUsage)
        #expect(events.count == 2)
        let first = try #require(events.first)
        #expect(first.tokens == TokenCounts(input: 40_000, cacheRead: 80_000, output: 9_000))
        #expect(first.requests == 42)
        #expect(first.attribution.project == "proj_search")
        #expect(first.timestamp.iso8601 == "2025-10-01T00:00:00Z")
        #expect(events[1].serviceTier == .batch)
        #expect(errors.count == 2)
        #expect(errors[0].field == "data[1].results[0].model")
        #expect(errors[0].reason.contains("group_by[]=model"))
        #expect(errors[1].field == "data[1].results[1].input_tokens")
        #expect(errors.allSatisfy { $0.line == 1 })

        // 40,000 × $2.50 + 80,000 × $1.25 + 9,000 × $10 per million.
        var rater = Rater(catalog: try BundledCatalog.load())
        #expect(rater.rate(first).cost.decimalString == "0.29")
    }

    @Test func duplicatedPagesCountOnce() async throws {
        let twice = "[" + Self.openAIPage + "," + Self.openAIPage + "]"
        let (events, _) = try await run(twice, .openAIUsage)
        #expect(events.count == 4)
        #expect(Set(events.map(\.id)).count == 2, "the same bucket and grouping give the same id")
        let (again, _) = try await run(Self.openAIPage, .openAIUsage)
        #expect(again.map(\.id) == Array(events.prefix(2)).map(\.id))
    }

    /// A page of `GET /v1/organizations/usage_report/messages?group_by[]=model&group_by[]=workspace_id&group_by[]=context_window`.
    static let anthropicPage = """
        {"data":[{"starting_at":"2025-10-01T00:00:00Z","ending_at":"2025-10-02T00:00:00Z","results":[
          {"uncached_input_tokens":250000,"cache_creation":{"ephemeral_1h_input_tokens":1000,"ephemeral_5m_input_tokens":4000},
           "cache_read_input_tokens":900000,"output_tokens":30000,"server_tool_use":{"web_search_requests":0},"api_key_id":null,
           "workspace_id":"wrkspc_legal","model":"claude-sonnet-4-5-20250929","service_tier":"standard","context_window":"0-200k"},
          {"uncached_input_tokens":400000,"cache_read_input_tokens":0,"output_tokens":1000,"workspace_id":null,
           "model":"claude-sonnet-4-5-20250929","service_tier":"batch","context_window":"200k-1M"},
          {"uncached_input_tokens":-5,"output_tokens":1,"model":"claude-haiku-4-5"}]}],
         "has_more":false,"next_page":null}
        """

    @Test func anthropicUsageReportKeepsTheContextWindow() async throws {
        let (events, errors) = try await run(Self.anthropicPage, .anthropicUsage)
        #expect(events.count == 2)
        #expect(errors.map(\.field) == ["data[0].results[2].uncached_input_tokens"])
        let standard = events[0]
        #expect(
            standard.tokens
                == TokenCounts(
                    input: 250_000, cacheRead: 900_000, cacheWrite: 4_000, cacheWrite1h: 1_000, output: 30_000))
        #expect(standard.attribution.project == "wrkspc_legal")
        #expect(standard.requests == 0)
        var rater = Rater(catalog: try BundledCatalog.load())
        // The daily sum is far above 200k tokens, but the report says these requests were under 200k.
        // 250k × $3 + 900k × $0.30 + 4k × $3.75 + 1k × $6 + 30k × $15, per million.
        #expect(rater.rate(standard).cost.decimalString == "1.491")
        // Long-context requests in the batch tier: $6 in, $22.50 out, then half off.
        #expect(events[1].serviceTier == .batch)
        #expect(rater.rate(events[1]).cost.decimalString == "1.21125")
    }

    @Test func detectsTheFormatAndRejectsBrokenFiles() async throws {
        #expect(UsageReportImporter.Format.detect(try JSONValue(parsing: Data(Self.openAIPage.utf8))) == .openAIUsage)
        #expect(
            UsageReportImporter.Format.detect(try JSONValue(parsing: Data(Self.anthropicPage.utf8))) == .anthropicUsage)
        let path = try write("{\"data\":[{\"start_time\":1}]}\n{\"data\":[")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = await #expect(throws: IngestError.self) {
            try await UsageReportImporter(path: path, format: .openAIUsage).run(onBatch: { _ in }, onReject: { _ in })
        }
        #expect(error?.line == 2)
        #expect(error?.reason.contains("truncated") == true)
    }
}

@Suite struct AggregatedEventTests {
    @Test func aggregatedRowsUseThePromptPerRequestForTiers() throws {
        var rater = Rater(catalog: try BundledCatalog.load())
        var event = UsageEvent(
            id: "a", timestamp: Timestamp(parsing: "2026-01-01")!, provider: "anthropic", model: "claude-sonnet-4-5",
            tokens: TokenCounts(input: 1_000_000))
        #expect(rater.rate(event).cost.decimalString == "6.00", "one request of 1M tokens is long-context")
        event.requests = 10
        #expect(rater.rate(event).cost.decimalString == "3.00", "ten requests of 100k tokens are not")
        event.longContext = true
        #expect(rater.rate(event).cost.decimalString == "6.00", "unless the source says so")
    }
}

@Suite struct BedrockLogImporterTests {
    /// Records shaped as Bedrock delivers them to S3 (see the model-invocation-logging guide).
    static let logs = """
        {"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-08-10T14:03:11Z","accountId":"123456789012","identity":{"arn":"arn:aws:sts::123456789012:assumed-role/app/ci"},"region":"us-east-1","requestId":"a1b2","operation":"Converse","modelId":"us.anthropic.claude-haiku-4-5-20251001-v1:0","input":{"inputContentType":"application/json","inputTokenCount":1000,"cacheReadInputTokenCount":4000,"cacheWriteInputTokenCount":0},"output":{"outputContentType":"application/json","outputTokenCount":200,"outputBodyJson":{"metrics":{"latencyMs":812}}},"requestMetadata":{"team":"legal","feature":"contract-review","ticket":"FIN-12"}}
        {"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-08-10T14:03:12Z","accountId":"123456789012","region":"us-east-1","requestId":"c3d4","operation":"InvokeModel","modelId":"amazon.nova-lite-v1:0","errorCode":"ThrottlingException","input":{"inputTokenCount":50},"output":{"outputTokenCount":0}}
        {"schemaType":"ModelInvocationLog","timestamp":"2026-08-10T14:03:13Z","requestId":"e5f6","modelId":"amazon.nova-lite-v1:0","input":{"inputTokenCount":-1},"output":{}}
        {"schemaType":"ModelInvocationLog","timestamp":"2026-08-10T14:03:13Z","requestId":"g7
        """

    @Test func invocationLogsBecomeAttributedEvents() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tl-bedrock-\(UUID().uuidString).jsonl"
        ).path
        try Self.logs.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var events: [UsageEvent] = []
        var errors: [IngestError] = []
        let summary = try await BedrockLogImporter(path: path).run(
            onBatch: { events += $0 }, onReject: { errors.append($0) })
        #expect(summary.rows == 4)
        #expect(events.map(\.id) == ["bedrock-a1b2", "bedrock-c3d4"])
        let first = events[0]
        #expect(first.tokens == TokenCounts(input: 1_000, cacheRead: 4_000, output: 200))
        #expect(first.attribution.team == "legal")
        #expect(first.attribution.feature == "contract-review")
        #expect(first.tags["ticket"] == "FIN-12")
        #expect(first.tags["iam_arn"]?.hasSuffix("assumed-role/app/ci") == true)
        #expect(first.latencyMilliseconds == 812)
        #expect(events[1].outcome == .error)
        #expect(events[1].tags["error_code"] == "ThrottlingException")
        #expect(errors.map(\.line) == [3, 4])
        #expect(errors[0].reason.contains("negative"))
        #expect(errors[1].reason.contains("truncated"))
        // Geographic (us.) Haiku 4.5 costs 10 % more than global: 1,000 × $1.10 + 4,000 × $0.11 + 200 × $5.50, per million.
        var rater = Rater(catalog: try BundledCatalog.load())
        #expect(rater.rate(first).cost.decimalString == "0.00264")
    }
}
