import Foundation
import LedgerCatalogData
import LedgerCore
import Testing

@Suite struct PriceCatalogTests {
    let catalog: PriceCatalog

    init() throws {
        catalog = try BundledCatalog.load()
    }

    @Test func shippedCatalogIsValidAndBroad() {
        let issues = CatalogValidator.issues(in: catalog)
        #expect(issues.filter { $0.severity == .error }.isEmpty, "\(issues)")
        #expect(catalog.models.count >= 60)
        for provider in ["openai", "anthropic", "google", "vertex", "bedrock", "azure", "mistral", "deepseek", "groq"] {
            #expect(catalog.providers.contains(provider), "missing \(provider)")
        }
        #expect(catalog.models.allSatisfy { !$0.source.isEmpty })
    }

    @Test func aliasesAndDatedSnapshotsResolveToTheirFamily() throws {
        #expect(try catalog.resolve(provider: "openai", model: "gpt-4o-2024-08-06").entry.model == "gpt-4o")
        #expect(try catalog.resolve(provider: "OpenAI", model: "GPT-4o").entry.model == "gpt-4o")
        // A dated snapshot that is not listed falls back to its family by the documented rule...
        #expect(try catalog.resolve(provider: "openai", model: "gpt-4.1-mini-2030-01-01").entry.model == "gpt-4.1-mini")
        #expect(
            try catalog.resolve(provider: "anthropic", model: "claude-haiku-4-5-20990101").entry.model
                == "claude-haiku-4-5")
        // ...but a snapshot priced differently is its own entry.
        #expect(try catalog.resolve(provider: "openai", model: "gpt-4o-2024-05-13").entry.model == "gpt-4o-2024-05-13")
    }

    @Test func providerSpecificIdsResolve() throws {
        let bedrock = try catalog.resolve(provider: "bedrock", model: "eu.anthropic.claude-sonnet-4-5-20250929-v1:0")
        #expect(bedrock.entry.model == "anthropic.claude-sonnet-4-5-20250929-v1:0")
        #expect(bedrock.impliedRegion == "eu")
        #expect(
            try catalog.resolve(provider: "bedrock", model: "global.anthropic.claude-haiku-4-5-20251001-v1:0")
                .impliedRegion == "global")
        #expect(
            try catalog.resolve(provider: "bedrock", model: "anthropic.claude-opus-4-1-20250805-v1:0").impliedRegion
                == "in-region")
        #expect(
            try catalog.resolve(provider: "vertex_ai", model: "claude-sonnet-4-5@20250929").entry.model
                == "claude-sonnet-4-5")
        #expect(try catalog.resolve(provider: "gemini", model: "models/gemini-2.5-pro").entry.provider == "google")
        #expect(
            try catalog.resolve(provider: "groq", model: "openai/gpt-oss-120b").entry.model == "openai/gpt-oss-120b")
    }

    @Test func unknownModelsAreNeverGuessed() {
        let error = #expect(throws: PricingError.self) { try catalog.resolve(provider: "openai", model: "gpt-4p") }
        guard case .unknownModel(_, _, let suggestions) = error else {
            Issue.record("expected unknownModel, got \(String(describing: error))")
            return
        }
        #expect(suggestions.first == "gpt-4o")
        #expect(suggestions.count == 5)
        // A family prefix alone is not a match.
        #expect(throws: PricingError.self) { try catalog.resolve(provider: "openai", model: "gpt-4o-turbo-ultra") }
        #expect(throws: PricingError.self) { try catalog.resolve(provider: "anthropic", model: "gpt-4o") }
    }

    @Test func userCatalogOverridesAndExtends() throws {
        let user = try PriceCatalog(
            json: Data(
                """
                {"models":[
                  {"provider":"openai","model":"gpt-4o","source":"contract","prices":[{"effective_from":"2024-01-01","per_million":{"input":"1.00","output":"4.00"}}]},
                  {"provider":"self-hosted","model":"llama-3.3-70b","source":"our GPUs","prices":[{"effective_from":"2025-01-01","per_million":{"input":"0.20","output":"0.20"}}]}
                ],"discounts":[{"provider":"anthropic","adjust_percent":"-15"}]}
                """.utf8), origin: "mine.json")
        let merged = catalog.overlaid(with: user)
        #expect(merged.models.count == catalog.models.count + 1)
        let gpt = try merged.resolve(provider: "openai", model: "gpt-4o-2024-11-20")
        #expect(gpt.entry.source == "contract")
        #expect(try merged.resolve(provider: "self-hosted", model: "llama-3.3-70b").entry.model == "llama-3.3-70b")
        #expect(merged.discounts.count == 1)
    }

    @Test func badCatalogFilesNameTheProblem() {
        let cases: [(String, String)] = [
            (
                #"{"models":[{"provider":"x","model":"m","prices":[{"effective_from":"2025-01-01","per_million":{"input":"abc"}}]}]}"#,
                "not a price"
            ),
            (
                #"{"models":[{"provider":"x","model":"m","prices":[{"effective_from":"soon","per_million":{"input":"1"}}]}]}"#,
                "not a date"
            ),
            (
                #"{"models":[{"provider":"x","model":"m","prices":[{"effective_from":"2025-01-01","per_million":{"inptu":"1"}}]}]}"#,
                "unknown price 'inptu'"
            ),
            (#"{"models":[{"provider":"x","prices":[]}]}"#, "missing field 'model'"),
            (#"{"models":[ "#, "not valid JSON"),
        ]
        for (text, expected) in cases {
            let error = #expect(throws: CatalogFileError.self) {
                try PriceCatalog(json: Data(text.utf8), origin: "bad.json")
            }
            #expect(
                error?.description.contains(expected) == true, "\(String(describing: error)) should mention \(expected)"
            )
            #expect(error?.description.hasPrefix("bad.json") == true)
        }
    }

    @Test func validatorFindsCollisionsAndDuplicateVersions() throws {
        let bad = try PriceCatalog(
            json: Data(
                """
                {"models":[
                  {"provider":"x","model":"a","aliases":["b"],"source":"s","prices":[{"effective_from":"2025-01-01","per_million":{"input":"1"}},{"effective_from":"2025-01-01","per_million":{"input":"2"}}]},
                  {"provider":"x","model":"b","source":"s","prices":[{"effective_from":"2025-01-01","per_million":{"input":"1","cache_read":"3"}, "service_tiers":{"turbo":{"adjust_percent":"10"}}}]}
                ]}
                """.utf8))
        let messages = CatalogValidator.issues(in: bad).map(\.description)
        #expect(messages.contains { $0.contains("already used by x/a") })
        #expect(messages.contains { $0.contains("two versions start on 2025-01-01") })
        #expect(messages.contains { $0.contains("unknown service tier 'turbo'") })
        #expect(messages.contains { $0.contains("warning") && $0.contains("cache_read") })
    }
}
