import FakeProvider
import Foundation
import LedgerCore
import Synchronization
import Testing

/// `tokenledger sync` against a local fake of the providers' admin report APIs.
@Suite struct SyncCommandTests {
    /// Runs `body` with the fake admin API listening; returns its base URL to `body`.
    func withFakeAdmin(_ fake: FakeAdminAPI, _ body: (String) async throws -> Void) async throws {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = Task { try await fake.run { port in continuation.yield(port) } }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        try await body("http://127.0.0.1:\(port)")
    }

    @Test func openAIUsageAndCostsWithBackoffAndResume() async throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let fake = FakeAdminAPI()
        // 429 first on every endpoint; then the server fails after 6 pages (mid-way through the costs).
        fake.faults.withLock {
            $0.rateLimitFirst = true
            $0.failAfterPages = 12
        }
        try await withFakeAdmin(fake) { base in
            let arguments = [
                "sync", "openai", "--since", "2026-10-01", "--until", "2026-11-01", "--base-url", base,
                "--retry-base-ms",
                "5", "--db", runner.path("l.sqlite"),
            ]
            let environment = ["OPENAI_ADMIN_KEY": fake.adminKey]
            let first = try await runner.runInBackground(arguments, environment: environment)
            // Completions (5 pages) and embeddings (5 pages) done, costs stopped after 2 pages.
            #expect(first.status == 1, "\(first.output)")
            #expect(first.error.contains("sync stopped") && first.error.contains("HTTP 500"), "\(first.error)")
            fake.faults.withLock { $0.failAfterPages = nil }
            let second = try await runner.runInBackground(arguments, environment: environment)
            #expect(second.status == 0, "\(second.error)")
            #expect(second.output.contains("openai-completions: 0 pages"), "\(second.output)")
            // The costs resume after the 14 days already imported.
            #expect(second.output.contains("openai-costs: 3 pages from 2026-10-15, 17 recorded"), "\(second.output)")
            let costRequests = fake.log.withLock { $0.requests.filter { $0.hasPrefix("/v1/organization/costs") } }
            #expect(costRequests.last?.contains("start_time=1792022400") == true, "\(costRequests)")

            // Every day once: 31 completion buckets at 1M × $0.15 + 100k × $0.60.
            let report = try runner.run([
                "report", "--db", runner.path("l.sqlite"), "--period", "2026-10", "--by", "model", "--format", "json",
            ]).json()
            let rows = try #require(report["rows"] as? [[String: Any]])
            let mini = try #require(rows.first { ($0["model"] as? String)?.hasPrefix("gpt-4o-mini") == true })
            #expect(mini["cost_usd"] as? String == "6.51", "\(rows)")
            #expect(mini["requests"] as? Int == 310)
            let reconcile = try runner.run([
                "reconcile", "--provider", "openai", "--month", "2026-10", "--db", runner.path("l.sqlite"), "--format",
                "json",
            ]).json()
            // The usage report is the provider's own: not metered; the bill is 31 × $0.25.
            let totals = try #require(reconcile["totals"] as? [String: Any])
            #expect(totals["invoiced_usd"] as? String == "7.75" && totals["metered_usd"] as? String == "0.00")

            // A wrong key is a clear error, not a retry loop.
            let wrong = try await runner.runInBackground(
                Array(arguments.dropLast()) + [runner.path("other.sqlite")],
                environment: ["OPENAI_ADMIN_KEY": "sk-nope"])
            #expect(wrong.status == 1 && wrong.error.contains("HTTP 401") && wrong.error.contains("admin key"))
        }
    }

    @Test func anthropicReportsAndCentsAndAMissingKey() async throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let fake = FakeAdminAPI()
        try await withFakeAdmin(fake) { base in
            let arguments = [
                "sync", "anthropic", "--since", "2026-10-01", "--until", "2026-10-08", "--base-url", base, "--db",
                runner.path("l.sqlite"),
            ]
            let missing = try await runner.runInBackground(arguments, environment: ["ANTHROPIC_ADMIN_KEY": ""])
            #expect(missing.status != 0 && missing.error.contains("ANTHROPIC_ADMIN_KEY"))
            let result = try await runner.runInBackground(
                arguments, environment: ["ANTHROPIC_ADMIN_KEY": fake.adminKey])
            #expect(result.status == 0, "\(result.error)")
            #expect(
                result.output.contains("anthropic-messages: 1 pages from 2026-10-01, 7 recorded"), "\(result.output)")
            let reconcile = try runner.run([
                "reconcile", "--provider", "anthropic", "--month", "2026-10", "--db", runner.path("l.sqlite"),
                "--format", "json",
            ]).json()
            // 450 cents a day for 7 days.
            #expect((reconcile["totals"] as? [String: Any])?["invoiced_usd"] as? String == "31.50")
        }
    }
}
