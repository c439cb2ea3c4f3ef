import Foundation
import LedgerCore
import Testing

/// `tokenledger import --mapping`: someone else's export, column by column.
@Suite struct MappedImportTests {
    @Test func aCSVExportWithOpenAIStyleCountsAndUnixTimes() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "mapping.yaml",
            """
            columns:
              id: request_id
              timestamp: created
              model: model_name
              tokens.input: prompt_tokens
              tokens.cache_read: cached_tokens
              tokens.output: completion_tokens
              team: department
              tags.env: environment
            defaults:
              provider: openai
              source: helicone
            timestamp_format: unix_s
            input_includes_cache: true
            """)
        try runner.write(
            "export.csv",
            """
            request_id,created,model_name,prompt_tokens,cached_tokens,completion_tokens,department,environment
            r1,1790935200,gpt-4o-mini,2000000,1000000,100000,search,prod
            r2,1790935260,gpt-4o-mini,100,500,10,search,prod
            r3,soon,gpt-4o-mini,100,0,10,search,prod
            r4,1790935320,gpt-4o-mini,100,0,ten,search,prod

            """)
        let db = runner.path("l.sqlite")
        let result = try runner.run([
            "import", runner.path("export.csv"), "--mapping", runner.path("mapping.yaml"), "--db", db,
        ])
        #expect(result.status == 1)
        #expect(result.output.contains("4 rows, 1 recorded"), "\(result.output)")
        // Errors name the file's own columns.
        #expect(result.error.contains("export.csv:3: field 'prompt_tokens'"), "\(result.error)")
        #expect(result.error.contains("export.csv:4: field 'created'"), "\(result.error)")
        #expect(result.error.contains("export.csv:5: field 'completion_tokens'"), "\(result.error)")
        let report = try runner.run([
            "report", "--db", db, "--period", "2026-10", "--by", "team,source,tag:env", "--format", "json",
        ]).json()
        let row = try #require((report["rows"] as? [[String: Any]])?.first)
        #expect(row["team"] as? String == "search" && row["source"] as? String == "helicone")
        #expect(row["tag:env"] as? String == "prod")
        // 1M uncached × $0.15 + 1M cached × $0.075 + 100k × $0.60.
        #expect(row["cost_usd"] as? String == "0.285", "\(row)")
        // Importing again counts nothing twice.
        let again = try runner.run([
            "import", runner.path("export.csv"), "--mapping", runner.path("mapping.yaml"), "--db", db,
        ])
        #expect(again.output.contains("0 recorded, 1 already in the ledger"), "\(again.output)")
    }

    @Test func jsonLinesWithNestedPathsAndBadMappings() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "mapping.yaml",
            """
            columns:
              timestamp: ts
              provider: vendor
              model: response.model
              tokens.input: response.usage.input_tokens
              tokens.output: response.usage.output_tokens
              user: meta.user
            """)
        try runner.write(
            "log.jsonl",
            #"{"ts":"2026-10-02T10:00:00Z","vendor":"anthropic","response":{"model":"claude-sonnet-4-5","usage":{"input_tokens":1000,"output_tokens":100}},"meta":{"user":"alice"}}"#
                + "\n" + #"{"ts":"2026-10-02T10:00:01Z","vendor":"anthropic"}"# + "\n")
        let result = try runner.run([
            "import", runner.path("log.jsonl"), "--mapping", runner.path("mapping.yaml"), "--db",
            runner.path("l.sqlite"),
        ])
        #expect(result.output.contains("2 rows, 1 recorded"), "\(result.output)")
        #expect(result.error.contains("log.jsonl:2: field 'response.model'"), "\(result.error)")

        try runner.write("bad.yaml", "columns:\n  timestamp: ts\n  modle: m\n")
        let bad = try runner.run([
            "import", runner.path("log.jsonl"), "--mapping", runner.path("bad.yaml"), "--db", runner.path("l.sqlite"),
        ])
        #expect(bad.status != 0 && bad.error.contains("'modle' is not an event field"), "\(bad.error)")
        try runner.write("csv.yaml", "columns:\n  timestamp: when\n  model: m\ndefaults:\n  provider: openai\n")
        try runner.write("x.csv", "time,m\n2026-10-02T10:00:00Z,gpt-4o\n")
        let missing = try runner.run([
            "import", runner.path("x.csv"), "--mapping", runner.path("csv.yaml"), "--db", runner.path("l.sqlite"),
        ])
        #expect(missing.status != 0 && missing.error.contains("no such column"), "\(missing.error)")
    }
}
