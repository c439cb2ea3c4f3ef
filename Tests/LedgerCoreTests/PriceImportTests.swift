import Foundation
import LedgerCatalogData
import LedgerCore
import Testing

@Suite struct PriceImportTests {
    let shipped: PriceCatalog

    init() throws {
        shipped = try BundledCatalog.load()
    }

    static let litellm = """
        {
          "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "openai", "mode": "chat"},
          "gpt-4o": {"input_cost_per_token": 2.5e-06, "cache_read_input_token_cost": 1.25e-06, "output_cost_per_token": 1.2e-05,
                     "input_cost_per_token_batches": 1.25e-06, "litellm_provider": "openai", "mode": "chat"},
          "gpt-4.1": {"input_cost_per_token": 2e-06, "cache_read_input_token_cost": 5e-07, "output_cost_per_token": 8e-06, "litellm_provider": "openai", "mode": "chat"},
          "azure/eu/gpt-4o": {"input_cost_per_token": 9e-06, "litellm_provider": "azure", "mode": "chat"},
          "gemini/gemini-9-flash": {"input_cost_per_token": 1e-07, "output_cost_per_token": 4e-07,
                     "input_cost_per_token_above_200k_tokens": 2e-07, "litellm_provider": "gemini", "mode": "chat"},
          "text-embedding-3-small": {"input_cost_per_token": 3e-08, "output_cost_per_token": 0.0, "litellm_provider": "openai", "mode": "embedding"},
          "dall-e-3": {"input_cost_per_pixel": 1e-08, "litellm_provider": "openai", "mode": "image_generation"},
          "claude-sonnet-4-5": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.6e-05, "litellm_provider": "anthropic", "mode": "chat"}
        }
        """

    @Test func parsesLiteLLMExactly() throws {
        let prices = try CommunityPriceFormat.litellm.parse(Data(Self.litellm.utf8), origin: "map.json")
        let byName = Dictionary(uniqueKeysWithValues: prices.map { ("\($0.provider)/\($0.model)", $0) })
        #expect(byName["openai/gpt-4o"]?.perMillion.tokens[.output] == UnitPrice(dollars: "12"))
        #expect(
            byName["openai/gpt-4o"]?.serviceTiers["batch"]?.perMillion?.tokens[.input] == UnitPrice(dollars: "1.25"))
        #expect(byName["google/gemini-9-flash"]?.contextTiers.first?.abovePromptTokens == 200_000)
        #expect(byName["openai/text-embedding-3-small"]?.perMillion.tokens == [.embedding: UnitPrice(dollars: "0.03")!])
        #expect(byName["azure/gpt-4o"] == nil, "regional variants are not separate models")
        #expect(byName["openai/dall-e-3"] == nil)
    }

    @Test func changesBecomeNewVersionsAndOverridesAreKept() throws {
        let prices = try CommunityPriceFormat.litellm.parse(Data(Self.litellm.utf8), origin: "map.json")
        let user = try PriceCatalog(
            json: Data(
                #"{"models":[{"provider":"anthropic","model":"claude-sonnet-4-5","source":"our contract","prices":[{"effective_from":"2025-01-01","per_million":{"input":"2.00","output":"10.00"}}]}]}"#
                    .utf8))
        let effective = Timestamp(parsing: "2026-12-01")!
        let result = PriceImport(
            imported: prices, shipped: shipped, user: user, effective: effective, addNew: false, source: "litellm test")
        #expect(result.changed.map(\.model).sorted() == ["gpt-4o", "text-embedding-3-small"])
        #expect(result.keptOverrides == ["anthropic/claude-sonnet-4-5"])
        #expect(result.new.isEmpty)
        // The user's file now carries gpt-4o's full history plus the new version.
        let merged = shipped.overlaid(with: result.userCatalog)
        var rater = Rater(catalog: merged)
        func output(at date: String) throws -> String {
            try rater.breakdown(
                UsageEvent(
                    id: "x", timestamp: Timestamp(parsing: date)!, provider: "openai", model: "gpt-4o",
                    tokens: TokenCounts(output: 1_000_000))
            ).total.decimalString
        }
        #expect(try output(at: "2026-11-30") == "10.00")
        #expect(try output(at: "2026-12-01") == "12.00")
        #expect(
            try rater.breakdown(
                UsageEvent(
                    id: "y", timestamp: effective, provider: "anthropic", model: "claude-sonnet-4-5",
                    tokens: TokenCounts(input: 1_000_000))
            ).total.decimalString == "2.00", "the user's contract price is untouched")
        #expect(CatalogValidator.issues(in: result.userCatalog).filter { $0.severity == .error }.isEmpty)

        let withNew = PriceImport(
            imported: prices, shipped: shipped, user: user, effective: effective, addNew: true, source: "litellm test")
        #expect(withNew.new.map(\.model) == ["gemini-9-flash"])
    }

    @Test func readsTheGenaiPricesExportWithDatedVersions() throws {
        let export = """
            {"source":"genai-prices 0.2.3","providers":[
              {"id":"openai","models":[
                {"id":"o3","prices":[{"start_date":null,"prices":{"input_mtok":"10","output_mtok":"40"}},
                                     {"start_date":"2025-06-10","prices":{"input_mtok":"2","output_mtok":"8"}}]},
                {"id":"gpt-4.1-mini","prices":[{"start_date":null,"prices":{"input_mtok":"0.4","cache_read_mtok":"0.1","output_mtok":"1.6"}}]}]},
              {"id":"deepseek","models":[
                {"id":"deepseek-chat","prices":[{"start_date":null,"prices":{"input_mtok":"0.135"}},
                  {"start_date":null,"time_window":{"from":"00:30","to":"16:30"},"prices":{"input_mtok":"0.27"}}]}]}]}
            """
        let prices = try CommunityPriceFormat.genaiPrices.parse(Data(export.utf8), origin: "g.json")
        #expect(prices.filter { $0.model == "o3" }.count == 2)
        #expect(
            !prices.contains { $0.model == "deepseek-chat" }, "time-of-day prices are not guessed into a base price")
        let result = PriceImport(
            imported: prices, shipped: shipped, user: PriceCatalog(models: []),
            effective: Timestamp(parsing: "2026-11-23")!, addNew: false,
            source: "genai")
        #expect(result.changed.isEmpty, "\(result.changed)")
        #expect(result.unchanged == 2)
        #expect(throws: CatalogFileError.self) {
            try CommunityPriceFormat.genaiPrices.parse(Data("[1]".utf8), origin: "g.json")
        }
    }
}
