import Foundation
import LedgerCore
import Testing

@Suite struct VersionTests {
    @Test func versionNamesTheSQLiteItRuns() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let result = try runner.run(["--version"])
        #expect(result.status == 0)
        // The copy compiled in (Sources/CSQLite/VERSION), not the system's library.
        let vendored = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("Sources/CSQLite/VERSION"), encoding: .utf8
        ).split(separator: " ").first.map(String.init)
        #expect(vendored != nil)
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0 (SQLite \(vendored ?? "?"))")
    }
}

@Suite struct PriceCommandTests {
    @Test func quotesDisjointCountsAsExactJSON() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let result = try runner.run([
            "price", "--provider", "anthropic", "--model", "claude-sonnet-4-5-20250929", "--input", "1000",
            "--cache-read", "20000",
            "--cache-write", "3000", "--cache-write-1h", "1000", "--output", "500", "--reasoning", "250", "--at",
            "2026-03-02T14:00:00Z",
            "--format", "json",
        ])
        #expect(result.status == 0, "\(result.error)")
        let json = try result.json()
        #expect(json["resolved_model"] as? String == "claude-sonnet-4-5")
        // 1000×3 + 20000×0.30 + 3000×3.75 + 1000×6 + 500×15 + 250×15, per million.
        #expect(json["total_usd"] as? String == "0.0375")
        let lines = try #require(json["lines"] as? [[String: Any]])
        #expect(
            lines.map { $0["kind"] as? String } == [
                "input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning",
            ])
        let sum = lines.compactMap { ($0["cost_usd"] as? String).flatMap { Cost(decimal: $0) } }.reduce(Cost.zero, +)
        #expect(sum.decimalString == "0.0375")
    }

    @Test func normalisesAProvidersOwnUsage() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let usage =
            #"{"model":"gpt-4o-mini","usage":{"prompt_tokens":2000,"completion_tokens":100,"prompt_tokens_details":{"cached_tokens":1000}}}"#
        let result = try runner.run([
            "price", "--provider", "openai", "--usage-json", usage, "--at", "2026-01-01", "--format", "json",
        ])
        #expect(result.status == 0, "\(result.error)")
        let json = try result.json()
        // 1000 uncached × $0.15 + 1000 cached × $0.075 + 100 × $0.60, per million.
        #expect(json["total_usd"] as? String == "0.000285")
        #expect(json["model"] as? String == "gpt-4o-mini")
    }

    @Test func unknownModelExitsTwoWithSuggestions() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let result = try runner.run(["price", "--provider", "anthropic", "--model", "claude-sonet-4-5", "--input", "1"])
        #expect(result.status == 2)
        #expect(result.error.contains("Unknown model 'claude-sonet-4-5'"))
        #expect(result.error.contains("claude-sonnet-4-5"))
    }

    @Test func timeOfDayRegionAndTierFlagsMatter() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        func total(_ extra: [String], provider: String = "deepseek", model: String = "deepseek-chat") throws -> String?
        {
            let result = try runner.run(
                ["price", "--provider", provider, "--model", model, "--input", "1000000", "--format", "json"] + extra)
            return try result.json()["total_usd"] as? String
        }
        #expect(try total(["--at", "2025-03-02T10:00:00Z"]) == "0.27")
        #expect(try total(["--at", "2025-03-02T18:00:00Z"]) == "0.135")
        #expect(try total(["--at", "2026-01-01", "--batch"], provider: "openai", model: "gpt-4.1") == "1.00")
        #expect(
            try total(["--at", "2026-01-01", "--service-tier", "priority"], provider: "openai", model: "gpt-5")
                == "2.50")
        #expect(
            try total(
                ["--at", "2026-01-01", "--region", "eu-west-1"], provider: "bedrock",
                model: "anthropic.claude-haiku-4-5-20251001-v1:0") == "1.10")
        let bad = try runner.run(["price", "--provider", "openai", "--model", "gpt-4o", "--at", "tomorrow"])
        #expect(bad.status != 0)
        #expect(bad.error.contains("--at 'tomorrow' is not a date"))
    }

    @Test func pricesListShowAndValidate() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let validate = try runner.run(["prices", "validate"])
        #expect(validate.status == 0, "\(validate.output)")
        #expect(validate.output.contains("0 errors"))
        let list = try runner.run(["prices", "list", "--provider", "mistral"])
        #expect(list.output.contains("mistral-large-latest"))
        #expect(!list.output.contains("gpt-4o"))
        let show = try runner.run(["prices", "show", "--provider", "openai", "o3-2025-04-16"])
        #expect(
            show.output.contains("\"effective_from\" : \"2025-06-10\"")
                || show.output.contains("\"effective_from\": \"2025-06-10\""))
        try runner.write(
            "broken.json",
            #"{"models":[{"provider":"x","model":"y","prices":[{"effective_from":"2025-01-01","per_million":{"input":"one"}}]}]}"#
        )
        let broken = try runner.run(["prices", "validate", "broken.json"])
        #expect(broken.status == 1)
        #expect(broken.error.contains("broken.json"))
        #expect(broken.error.contains("not a price"))
    }
}

@Suite struct PricesImportCommandTests {
    @Test func importWritesMovedPricesAsANewVersionInTheUsersFile() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "litellm.json",
            """
            {"gpt-4.1-mini": {"input_cost_per_token": 5e-07, "cache_read_input_token_cost": 1e-07, "output_cost_per_token": 1.6e-06,
                              "litellm_provider": "openai", "mode": "chat"},
             "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "litellm_provider": "openai", "mode": "chat"}}
            """)
        let dry = try runner.run([
            "prices", "import", "--from", "litellm", "litellm.json", "--effective", "2026-12-01", "--dry-run",
        ])
        #expect(dry.status == 0, "\(dry.error)")
        #expect(dry.output.contains("changed  openai/gpt-4.1-mini: input $0.4 → $0.5"))
        #expect(dry.output.contains("1 changed, 0 added, 1 unchanged"))
        #expect(!FileManager.default.fileExists(atPath: runner.path("prices.local.json")))

        let real = try runner.run([
            "prices", "import", "--from", "litellm", "litellm.json", "--effective", "2026-12-01",
        ])
        #expect(real.status == 0, "\(real.error)")
        #expect(FileManager.default.fileExists(atPath: runner.path("prices.local.json")))
        func quote(_ at: String) throws -> String? {
            let result = try runner.run([
                "price", "--provider", "openai", "--model", "gpt-4.1-mini", "--input", "1000000", "--at", at,
                "--prices", "prices.local.json",
                "--format", "json",
            ])
            return try result.json()["total_usd"] as? String
        }
        #expect(try quote("2026-11-30") == "0.40")
        #expect(try quote("2026-12-01") == "0.50")
        let again = try runner.run([
            "prices", "import", "--from", "litellm", "litellm.json", "--effective", "2026-12-01", "--prices",
            "prices.local.json",
        ])
        #expect(again.output.contains("0 changed"), "\(again.output)")
        try runner.write("broken.json", "{not json")
        let broken = try runner.run(["prices", "import", "--from", "litellm", "broken.json"])
        #expect(broken.status == 1)
        #expect(broken.error.contains("broken.json"))
    }
}

@Suite struct LedgerCommandTests {
    @Test func importIsIdempotentAndReportsBadRows() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "events.jsonl",
            """
            {"id":"1","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","input":1000000,"team":"search"}
            {"id":"2","timestamp":"2026-10-02T10:00:00Z","provider":"openai","model":"gpt-4o","output":1000000,"team":"support"}
            {"id":"3","timestamp":"2026-10-02T10:00:00Z","provider":"openai","model":"gpt-4o","output":"many"}
            """)
        let strict = try runner.run(["import", "--strict", "events.jsonl"])
        #expect(strict.status == 1)
        #expect(strict.error.contains("events.jsonl:3: field 'output'"))
        #expect(!FileManager.default.fileExists(atPath: runner.path("tokenledger.sqlite")), "--strict wrote nothing")

        let first = try runner.run(["import", "events.jsonl"])
        #expect(first.status == 1)
        #expect(first.output.contains("2 recorded"))
        let second = try runner.run(["import", "--file", "events.jsonl"])
        #expect(second.output.contains("0 recorded, 2 already in the ledger"))

        let report = try runner.run(["report", "--period", "2026-10", "--by", "team", "--format", "json"])
        #expect(report.status == 0, "\(report.error)")
        let json = try report.json()
        let totals = try #require(json["totals"] as? [String: Any])
        #expect(totals["cost_usd"] as? String == "12.50")
        #expect(totals["requests"] as? Int == 2)
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.map { $0["team"] as? String } == ["support", "search"])
        #expect(json["unpriced_events"] as? Int == 0)
    }

    @Test func importsAProviderUsageReportOnce() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "openai-usage.json",
            """
            {"object":"page","data":[{"object":"bucket","start_time":1759276800,"end_time":1759363200,"results":[
              {"object":"organization.usage.completions.result","input_tokens":1000000,"output_tokens":0,"input_cached_tokens":0,
               "num_model_requests":25,"project_id":"proj_a","model":"gpt-4o"}]}],"has_more":false,"next_page":null}
            """)
        let first = try runner.run(["import", "openai-usage.json"])
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.contains("1 rows, 1 recorded"))
        let second = try runner.run(["import", "--format", "openai-usage", "openai-usage.json"])
        #expect(second.output.contains("0 recorded, 1 already in the ledger"))
        let json = try runner.run(["report", "--period", "2025-10", "--by", "project,source", "--format", "json"])
            .json()
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.first?["project"] as? String == "proj_a")
        #expect(rows.first?["source"] as? String == "openai-usage")
        #expect(rows.first?["requests"] as? Int == 25)
        #expect(rows.first?["cost_usd"] as? String == "2.50")
        #expect(rows.first?["cost_per_request_usd"] as? String == "0.10")
    }

    @Test func detectsBedrockInvocationLogs() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "invocations.jsonl",
            """
            {"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-08-10T14:03:11Z","requestId":"r-1","modelId":"global.anthropic.claude-haiku-4-5-20251001-v1:0","input":{"inputTokenCount":1000000},"output":{"outputTokenCount":0},"requestMetadata":{"team":"legal"}}
            """)
        let result = try runner.run(["import", "invocations.jsonl"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("1 rows, 1 recorded"))
        let json = try runner.run(["report", "--period", "2026-08", "--by", "team,source", "--format", "json"]).json()
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.first?["team"] as? String == "legal")
        #expect(rows.first?["source"] as? String == "bedrock-logs")
        #expect(rows.first?["cost_usd"] as? String == "1.00")
    }

    @Test func demoThenReportReconciles() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write("tokenledger.yaml", "ledger:\n  path: from-config.sqlite\n")
        let demo = try runner.run(["demo", "--events", "4000", "--end", "2026-11-20", "--quiet"])
        #expect(demo.status == 0, "\(demo.error)")
        #expect(
            FileManager.default.fileExists(atPath: runner.path("from-config.sqlite")),
            "the config file names the ledger")
        let again = try runner.run(["demo", "--events", "4000", "--end", "2026-11-20", "--quiet"])
        #expect(again.output.contains(" 0 events recorded"), "\(again.output)")

        let report = try runner.run([
            "report", "--from", "2026-08-01", "--to", "2026-11-20", "--by", "team,model", "--format", "json",
        ])
        let json = try report.json()
        let rows = try #require(json["rows"] as? [[String: Any]])
        let totals = try #require(json["totals"] as? [String: Any])
        let sum = rows.compactMap { ($0["cost_usd"] as? String).flatMap { Cost(decimal: $0) } }.reduce(Cost.zero, +)
        #expect(sum.decimalString == totals["cost_usd"] as? String)
        #expect((json["unpriced_events"] as? Int ?? 0) > 0, "the demo's fine-tuned model has no price")
        #expect(rows.allSatisfy { $0["tokens"] is [String: Any] && $0["requests"] is Int })

        let csv = try runner.run([
            "report", "--from", "2026-11-01", "--to", "2026-11-19", "--by", "team", "--granularity", "day", "--format",
            "csv",
        ])
        #expect(csv.output.hasPrefix("team,period,requests,"))
        let table = try runner.run(["report", "--by", "feature", "--top", "3", "--to", "2026-11-19"])
        #expect(table.output.contains("(other)"))
        #expect(table.output.contains("TOTAL"))
        let unknown = try runner.run(["report", "--by", "teams"])
        #expect(unknown.status != 0)
        #expect(unknown.error.contains("unknown dimension 'teams'"))
    }
}
