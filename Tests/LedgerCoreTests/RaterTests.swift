import Foundation
import LedgerCatalogData
import LedgerCore
import Testing

@Suite struct RaterTests {
    let catalog: PriceCatalog

    init() throws {
        catalog = try BundledCatalog.load()
    }

    func quote(
        _ provider: String, _ model: String, at: String = "2026-11-01T12:00:00Z", region: String? = nil,
        tier: ServiceTier = .standard,
        tokens: TokenCounts
    ) throws -> CostBreakdown {
        var rater = Rater(catalog: catalog)
        let event = UsageEvent(
            id: "t", timestamp: Timestamp(parsing: at)!, provider: provider, model: model, region: region,
            serviceTier: tier, tokens: tokens)
        return try rater.breakdown(event)
    }

    @Test func ratingIsExactPerTokenKind() throws {
        // gpt-4o: $2.50 in, $1.25 cached, $10 out per million.
        let result = try quote("openai", "gpt-4o", tokens: TokenCounts(input: 1_234_567, cacheRead: 7, output: 89))
        #expect(result.lines.map(\.kind) == ["input", "cache_read", "output"])
        #expect(result.lines[0].cost.decimalString == "3.0864175")
        #expect(result.lines[1].cost.decimalString == "0.00000875")
        #expect(result.lines[2].cost.decimalString == "0.00089")
        #expect(result.total.decimalString == "3.08731625")
        #expect(result.total == result.lines.reduce(Cost.zero) { $0 + $1.cost })
    }

    @Test func reasoningIsBilledAtTheOutputPrice() throws {
        let result = try quote("openai", "o4-mini", tokens: TokenCounts(output: 1_000, reasoning: 9_000))
        #expect(result.total.decimalString == "0.044")
    }

    @Test func priceHistoryFollowsTheEventTime() throws {
        let before = try quote("openai", "o3", at: "2025-05-01T00:00:00Z", tokens: TokenCounts(input: 1_000_000))
        let after = try quote("openai", "o3", at: "2025-07-01T00:00:00Z", tokens: TokenCounts(input: 1_000_000))
        #expect(before.total.decimalString == "10.00")
        #expect(after.total.decimalString == "2.00")
        #expect(throws: PricingError.self) {
            try quote("openai", "o3", at: "2024-01-01T00:00:00Z", tokens: TokenCounts(input: 1))
        }
    }

    @Test func longContextTierPricesTheWholeRequest() throws {
        let short = try quote("anthropic", "claude-sonnet-4-5", tokens: TokenCounts(input: 200_000, output: 1_000_000))
        let long = try quote(
            "anthropic", "claude-sonnet-4-5", tokens: TokenCounts(input: 150_000, cacheRead: 50_001, output: 1_000_000))
        #expect(short.total.decimalString == "15.60")
        // Above 200k prompt tokens: $6 input, $0.60 cache read, $22.50 output.
        #expect(long.total.decimalString == "23.4300006")
    }

    @Test func regionsAndCrossRegionPrefixes() throws {
        let tokens = TokenCounts(input: 100_000)
        #expect(
            try quote("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", tokens: tokens).total.decimalString
                == "0.30")
        #expect(
            try quote("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", tokens: tokens).total.decimalString
                == "0.33")
        #expect(
            try quote("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", tokens: tokens).total.decimalString
                == "0.33")
        #expect(
            try quote("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", tokens: TokenCounts(input: 300_000))
                .total.decimalString == "1.98")
        #expect(try quote("azure", "gpt-4o", tokens: tokens).total.decimalString == "0.25")
        #expect(try quote("azure", "gpt-4o", region: "datazone-eu", tokens: tokens).total.decimalString == "0.275")
        #expect(try quote("azure", "gpt-4o", region: "global", tokens: tokens).total.decimalString == "0.25")
        #expect(
            try quote("vertex", "claude-sonnet-4-5@20250929", region: "us-east5", tokens: tokens).total.decimalString
                == "0.33")
        #expect(
            try quote("vertex", "claude-sonnet-4-5@20250929", region: "global", tokens: tokens).total.decimalString
                == "0.30")
    }

    @Test func batchFlexAndPriorityTiers() throws {
        let tokens = TokenCounts(input: 1_000_000, output: 1_000_000)
        #expect(try quote("openai", "gpt-5", tokens: tokens).total.decimalString == "11.25")
        #expect(try quote("openai", "gpt-5", tier: .batch, tokens: tokens).total.decimalString == "5.625")
        #expect(try quote("openai", "gpt-5", tier: .flex, tokens: tokens).total.decimalString == "5.625")
        #expect(try quote("openai", "gpt-5", tier: .priority, tokens: tokens).total.decimalString == "22.50")
        #expect(try quote("anthropic", "claude-haiku-4-5", tier: .batch, tokens: tokens).total.decimalString == "3.00")
    }

    @Test func deepSeekOffPeakWindowCrossesMidnight() throws {
        let tokens = TokenCounts(input: 1_000_000)
        #expect(
            try quote("deepseek", "deepseek-chat", at: "2025-03-02T12:00:00Z", tokens: tokens).total.decimalString
                == "0.27")
        #expect(
            try quote("deepseek", "deepseek-chat", at: "2025-03-02T16:30:00Z", tokens: tokens).total.decimalString
                == "0.135")
        #expect(
            try quote("deepseek", "deepseek-chat", at: "2025-03-03T00:29:59Z", tokens: tokens).total.decimalString
                == "0.135")
        #expect(
            try quote("deepseek", "deepseek-chat", at: "2025-03-03T00:30:00Z", tokens: tokens).total.decimalString
                == "0.27")
        #expect(
            try quote("deepseek", "deepseek-reasoner", at: "2025-03-02T20:00:00Z", tokens: tokens).total.decimalString
                == "0.1375")
        #expect(
            try quote("deepseek", "deepseek-chat", at: "2025-10-02T20:00:00Z", tokens: tokens).total.decimalString
                == "0.28")
    }

    @Test func kindsWithoutAPriceLeaveTheEventUnpriced() throws {
        var rater = Rater(catalog: catalog)
        let event = UsageEvent(
            id: "a", timestamp: Timestamp(parsing: "2026-01-01")!, provider: "openai", model: "gpt-4.1",
            tokens: TokenCounts(input: 100, audioOutput: 50))
        let rated = rater.rate(event)
        #expect(!rated.priced)
        #expect(rated.cost.decimalString == "0.0002", "the priced part is kept as a lower bound")
        #expect(try rater.breakdown(event).unpricedKinds == ["audio_output"])
    }

    @Test func unknownModelsAreKeptUnpricedNotZeroedSilently() {
        var rater = Rater(catalog: catalog)
        let rated = rater.rate(
            UsageEvent(
                id: "u", timestamp: Timestamp(parsing: "2026-01-01")!, provider: "openai",
                model: "ft:gpt-4.1-mini:acme:x", tokens: TokenCounts(input: 10)))
        #expect(!rated.priced)
        #expect(rated.resolvedModel == nil)
    }

    @Test func gpuHoursStorageAndDiscountsFromAUserCatalog() throws {
        let user = try PriceCatalog(
            json: Data(
                """
                {"models":[
                  {"provider":"self-hosted","model":"nvidia-h100","source":"reserved instance","prices":[{"effective_from":"2025-01-01","per_million":{"gpu_hour":"2.40"}}]},
                  {"provider":"self-hosted","model":"vector-store","source":"managed db","prices":[{"effective_from":"2025-01-01","per_million":{"storage_gb_month":"0.25"}}]}
                ],"discounts":[{"provider":"openai","models":["gpt-4o*"],"adjust_percent":"-20","effective_from":"2026-01-01"}]}
                """.utf8))
        var rater = Rater(catalog: catalog.overlaid(with: user))
        let at = Timestamp(parsing: "2026-02-01")!
        let gpu = try rater.breakdown(
            UsageEvent(
                id: "g", timestamp: at, provider: "self-hosted", model: "nvidia-h100",
                resources: ResourceUsage(gpuMicroseconds: 5_400_000_000)))
        #expect(gpu.total.decimalString == "3.60")
        // A quarter of a GPU-second, exact to the picodollar: 2.40 × 0.25 / 3600 = 0.000166666…
        let share = try rater.breakdown(
            UsageEvent(
                id: "g", timestamp: at, provider: "self-hosted", model: "nvidia-h100",
                resources: ResourceUsage(gpuMicroseconds: 250_000)))
        #expect(share.total.picodollars == 166_666_667)
        #expect(share.lines.map(\.quantityText) == ["0.25"])
        // 100 GB held for a 730-hour month at $0.25/GB-month.
        let storage = try rater.breakdown(
            UsageEvent(
                id: "s", timestamp: at, provider: "self-hosted", model: "vector-store",
                resources: ResourceUsage(storageByteHours: 100_000_000_000 * 730)))
        #expect(storage.total.decimalString == "25.00")
        let discounted = try rater.breakdown(
            UsageEvent(
                id: "d", timestamp: at, provider: "openai", model: "gpt-4o", tokens: TokenCounts(input: 1_000_000)))
        #expect(discounted.total.decimalString == "2.00")
        let beforeDiscount = try rater.breakdown(
            UsageEvent(
                id: "d", timestamp: Timestamp(parsing: "2025-12-31")!, provider: "openai", model: "gpt-4o",
                tokens: TokenCounts(input: 1_000_000)))
        #expect(beforeDiscount.total.decimalString == "2.50")
    }

    @Test func upperBoundEstimateUsesTheModelOutputLimit() throws {
        var rater = Rater(catalog: catalog)
        let at = Timestamp(parsing: "2026-02-01")!
        let explicit = try rater.estimateUpperBound(
            provider: "openai", model: "gpt-4o", promptTokens: 1_000, maximumOutputTokens: 100, at: at)
        #expect(explicit.decimalString == "0.0035")
        let implicit = try rater.estimateUpperBound(
            provider: "openai", model: "gpt-4o", promptTokens: 1_000, maximumOutputTokens: nil, at: at)
        #expect(implicit.decimalString == "0.16634", "16,384 output tokens at $10/M plus the prompt")
    }

    @Test func fastPathAgreesWithTheLayeredRule() throws {
        // Every kind of event the demo produces, plus regions, tiers, windows and long prompts.
        var events: [UsageEvent] = []
        let models: [(String, String)] = [
            ("openai", "gpt-5"), ("openai", "gpt-4o-2024-08-06"), ("openai", "o3"), ("anthropic", "claude-sonnet-4-5"),
            ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            ("bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0"),
            ("google", "gemini-2.5-pro"), ("deepseek", "deepseek-chat"), ("azure", "gpt-4o"),
            ("openai", "gpt-realtime"),
            ("openai", "unknown-model"), ("openai", "text-embedding-3-small"),
        ]
        for index in 0..<600 {
            let (provider, model) = models[index % models.count]
            let at = Timestamp(parsing: "2025-01-01")!.adding(seconds: Int64(index) * 97_003)
            let tokens = TokenCounts(
                input: Int64(index * 977 % 260_000), cacheRead: Int64(index * 31 % 5_000),
                cacheWrite: Int64(index % 3) * 100,
                cacheWrite1h: Int64(index % 5) * 10, output: Int64(index * 13 % 9_000),
                reasoning: Int64(index % 7) * 50,
                audioInput: index % 10 == 9 ? 30 : 0, embedding: index % 4 == 0 ? 12 : 0)
            events.append(
                UsageEvent(
                    id: "e\(index)", timestamp: at, provider: provider, model: model,
                    region: index % 6 == 0 ? "eu" : nil,
                    serviceTier: ServiceTier.allCases[index % 4], tokens: tokens))
        }
        var fast = Rater(catalog: catalog)
        var layered = Rater(catalog: catalog)
        for event in events {
            let result = fast.cost(of: event)
            guard let breakdown = try? layered.breakdown(event) else {
                #expect(!result.priced, "\(event.model) at \(event.timestamp.iso8601)")
                continue
            }
            #expect(result.cost == breakdown.total, "\(event.provider)/\(event.model) \(event.tokens)")
            #expect(result.priced == breakdown.isFullyPriced)
        }
    }

    @Test func ratingIsAPureFunction() throws {
        var first = Rater(catalog: catalog)
        var second = Rater(catalog: catalog)
        let event = UsageEvent(
            id: "p", timestamp: Timestamp(parsing: "2026-03-01")!, provider: "google", model: "gemini-2.5-pro",
            tokens: TokenCounts(input: 300_000, output: 10))
        #expect(first.rate(event) == second.rate(event))
        #expect(first.rate(event) == first.rate(event))
    }

    @Test func aBatchIsRatedAsEachEventAloneWouldBe() throws {
        // The same model name under different providers, in runs and alternating: what a rater
        // remembers from the previous event must never leak into the next one.
        let names: [(String, String)] = [
            ("openai", "gpt-4o"), ("openai", "gpt-4o"), ("azure", "gpt-4o"), ("openai", "gpt-4o"),
            ("acme", "gpt-4o"), ("azure", "gpt-4o"), ("azure", "gpt-4o"), ("openai", "no-such-model"),
            ("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o"),
        ]
        let events = names.enumerated().map { index, name in
            UsageEvent(
                id: "b\(index)", timestamp: Timestamp(parsing: "2026-11-01T12:00:00Z")!, provider: name.0,
                model: name.1, region: "eastus", tokens: TokenCounts(input: 1_000, output: 100))
        }
        var batch = Rater(catalog: catalog)
        var unpriced = 0
        let ratings = batch.ratings(of: events, unpriced: &unpriced)
        let alone = events.map { event in
            var rater = Rater(catalog: catalog)
            return rater.rate(event)
        }
        #expect(ratings == alone.map(\.rating))
        #expect(unpriced == alone.count { !$0.priced })
        #expect(unpriced == 2, "the unknown provider and the unknown model")
        // Azure prices a regional deployment 10 % above OpenAI's gpt-4o, so a leak would show.
        #expect(alone[0].cost != alone[2].cost)
        #expect(zip(events, ratings).map { RatedEvent(event: $0, rating: $1) } == alone)
    }
}
