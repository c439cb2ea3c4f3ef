import Foundation
import LedgerCore
import Testing

/// The chargeback path end to end through the command-line tool: two allocation rules, one shared
/// pool and a rate card give an invoice whose lines sum to its total, trace back to ledger events,
/// stay the same when run again, lock when the month closes, and take late events as adjustments.
@Suite struct StatementCommandTests {
    static let events =
        [
            // acme's own usage: gpt-4o, 1M input ($2.50) + 100k output ($1.00).
            #"{"id":"e1","timestamp":"2026-09-03T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"input":1000000,"output":100000},"team":"search","customer":"acme","feature":"chat"}"#,
            // No customer: the chat rule gives it to acme. gpt-4o-mini 2M input = $0.30.
            #"{"id":"e2","timestamp":"2026-09-04T10:00:00Z","provider":"openai","model":"gpt-4o-mini","tokens":{"input":2000000},"team":"search","feature":"chat","tags":{"plan":"enterprise"}}"#,
            // globex: claude-sonnet-4-5 1M output = $15.00.
            #"{"id":"e3","timestamp":"2026-09-05T10:00:00Z","provider":"anthropic","model":"claude-sonnet-4-5","tokens":{"output":1000000},"team":"support","customer":"globex","feature":"summary"}"#,
        ].joined(separator: "\n") + "\n"

    static let rules = """
        rules:
          - id: chat-is-acme
            when:
              all:
                - { field: feature, equals: chat }
                - { field: customer, equals: "" }
            set: { customer: acme }
          - id: enterprise-plan
            when: { field: "tag:plan", equals: enterprise }
            set: { cost_centre: CC-ENT }
        """

    static let config = """
        chargeback:
          issuer: Example AI Platform
          fx:
            - { currency: EUR, from: "2026-01-01", rate: "0.9" }
          pools:
            - id: platform-fee
              description: Platform fee
              amount: "10.00"
              split: proportional_cost
              onto: customer
          rate_cards:
            - id: acme-resale
              for: customer:acme
              currency: EUR
              markup_percent: "20"
              allowance: "1.00"
        """

    func decimal(_ value: Any?) -> Int128 { DecimalText.parse(value as! String, scale: 12)! }

    /// A ledger in the runner's directory holding `events`; returns its path.
    static func ledger(_ runner: CommandRunner) throws -> String {
        let db = runner.path("l.sqlite")
        try runner.write("events.jsonl", events)
        let imported = try runner.run(["import", runner.path("events.jsonl"), "--db", db])
        #expect(imported.status == 0, "\(imported.error)")
        return db
    }

    @Test func invoiceAddsUpTracesBackAndLocks() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let db = try Self.ledger(runner)
        try runner.write("rules.yaml", Self.rules)
        try runner.write("tokenledger.yaml", Self.config)
        let test = try runner.run([
            "rules", "test", "rules.yaml", "--period", "2026-09", "--db", db, "--format", "json",
        ])
        #expect(test.status == 0, "\(test.error)")
        #expect(try test.json()["moved_cost_usd"] as? String == "0.30", "\(test.output)")
        let allocate = try runner.run(["allocate", "--period", "2026-09", "--rules", "rules.yaml", "--db", db])
        #expect(allocate.status == 0, "\(allocate.error)")

        let arguments = ["statement", "--period", "2026-09", "--for", "customer:acme", "--db", db, "--format", "json"]
        let first = try runner.run(arguments)
        #expect(first.status == 0, "\(first.error)")
        let statement = try first.json()
        #expect(statement["number"] as? String == "TL-202609-0001")
        #expect(statement["status"] as? String == "draft" && statement["currency"] as? String == "EUR")
        let lines = statement["lines"] as! [[String: Any]]
        // Lines sum to the total, to the cent.
        #expect(lines.map { decimal($0["amount"]) }.reduce(0, +) == decimal(statement["total"]))
        // Usage: gpt-4o input 2.25 EUR, output 0.90, gpt-4o-mini (allocated by the rule) 0.27.
        let usage = lines.filter { $0["type"] as? String == "usage" }
        #expect(usage.map { $0["amount"] as! String } == ["2.25", "0.90", "0.27"])
        // The shared fee: acme's cost 3.80 of 18.80 → 10 × 3.8 / 18.8 = 2.0212765957… USD → 1.82 EUR.
        let shared = lines.first { $0["type"] as? String == "shared" }!
        #expect(shared["amount"] as? String == "1.82")
        // Markup 20 % on cost-based lines, then the allowance.
        #expect(lines.first { $0["type"] as? String == "markup" }?["amount"] as? String == "1.05")
        #expect(lines.first { $0["type"] as? String == "allowance" }?["amount"] as? String == "-1.00")
        #expect(statement["total"] as? String == "5.29")

        // Every usage line traces back to its events.
        for line in usage {
            let number = line["line"] as! Int
            let explain = try runner.run(["explain", "TL-202609-0001/\(number)", "--db", db, "--format", "json"])
            #expect(explain.status == 0, "\(explain.error)")
            let traced = try explain.json()
            #expect(traced["events"] as? Int == line["events"] as? Int)
            // The events' USD cost × 0.9 is the line's exact amount.
            #expect(decimal(traced["cost_usd"]) * 9 / 10 == decimal(line["exact_amount"]))
        }
        let mini = usage.first { $0["model"] as? String == "gpt-4o-mini" }!
        let explained = try runner.run([
            "explain", "TL-202609-0001/\(mini["line"] as! Int)", "--db", db, "--format", "json",
        ])
        #expect(try explained.json()["event_ids"] as? [String] == ["e2"])

        // Run again: the same invoice, byte for byte, with the same number.
        #expect(try runner.run(arguments).output == first.output)
        // HTML and CSV forms of the same statement.
        let html = try runner.run([
            "statement", "--period", "2026-09", "--for", "customer:acme", "--db", db, "--format", "html",
        ])
        #expect(
            html.output.contains("<svg") && html.output.contains("TL-202609-0001") && html.output.contains("5.29 EUR"))
        #expect(html.output.contains("<title>Statement (draft) TL-202609-0001</title>"))
        let csv = try runner.run([
            "statement", "--period", "2026-09", "--for", "customer:acme", "--db", db, "--format", "csv",
        ])
        #expect(csv.output.split(separator: "\n").last?.hasSuffix(",total,Total,,,,,,,5.29,3") == true, "\(csv.output)")

        // Close September: the statement is issued and locked.
        let close = try runner.run(["period", "close", "2026-09", "--db", db])
        #expect(close.status == 0, "\(close.error)")
        let issued = try runner.run(arguments)
        #expect(try issued.json()["status"] as? String == "issued")
        #expect(try issued.json()["total"] as? String == "5.29")
        // A late event for September changes nothing issued; it lands in October's adjustments.
        try runner.write(
            "late.jsonl",
            #"{"id":"late","timestamp":"2026-09-20T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"input":1000000},"customer":"acme","feature":"chat"}"#
                + "\n")
        #expect(try runner.run(["import", runner.path("late.jsonl"), "--db", db]).status == 0)
        let again = try runner.run(arguments)
        #expect(try again.json()["total"] as? String == "5.29")
        #expect(again.output == issued.output)
        let october = try runner.run([
            "statement", "--period", "2026-10", "--for", "customer:acme", "--db", db, "--format", "json",
        ])
        #expect(october.status == 0, "\(october.error)")
        let adjustments = (try october.json()["lines"] as! [[String: Any]]).filter {
            $0["type"] as? String == "adjustment"
        }
        #expect(adjustments.count == 1)
        #expect(adjustments.first?["amount"] as? String == "2.25")
        #expect((adjustments.first?["description"] as? String)?.hasPrefix("Late usage for 2026-09") == true)
        // A closed month cannot be re-allocated.
        let locked = try runner.run(["allocate", "--period", "2026-09", "--db", db])
        #expect(locked.status != 0 && locked.error.contains("closed"), "\(locked.error)")
    }

    @Test func badConfigurationIsNamed() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "tokenledger.yaml",
            "chargeback:\n  rate_cards:\n    - { id: x, for: customer:acme, currency: EUR }\n")
        let missingRate = try runner.run([
            "statement", "--period", "2026-09", "--for", "customer:acme", "--db", runner.path("l.sqlite"),
        ])
        #expect(missingRate.status != 0)
        #expect(missingRate.error.contains("No exchange rate for EUR"), "\(missingRate.error)")
        try runner.write(
            "tokenledger.yaml",
            "chargeback:\n  pools:\n    - { id: p, amount: \"5\", split: fixed, onto: team, shares: { a: \"50\" } }\n")
        let badShares = try runner.run(["pools", "--period", "2026-09", "--db", runner.path("l.sqlite")])
        #expect(badShares.status != 0 && badShares.error.contains("add up to 50%"), "\(badShares.error)")
    }
}

/// Outcomes imported next to usage give cost per outcome, value per dollar and ROI by feature.
@Suite struct ValueCommandTests {
    @Test func valueByFeature() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let db = try StatementCommandTests.ledger(runner)
        try runner.write(
            "outcomes.jsonl",
            #"{"id":"o1","timestamp":"2026-09-10T00:00:00Z","feature":"chat","outcome":"answer","count":38,"value":"19.00"}"#
                + "\n" + #"{"id":"o2","timestamp":"2026-09-10T00:00:00Z","feature":"chat","count":"many"}"# + "\n")
        let imported = try runner.run(["outcomes", "import", runner.path("outcomes.jsonl"), "--db", db])
        #expect(imported.status == 1)
        #expect(imported.output.contains("1 recorded") && imported.error.contains("outcomes.jsonl:2: field 'count'"))
        let value = try runner.run(["value", "--period", "2026-09", "--db", db, "--format", "json"])
        #expect(value.status == 0, "\(value.error)")
        let rows = try value.json()["rows"] as! [[String: Any]]
        let chat = rows.first { $0["feature"] as? String == "chat" }!
        // chat cost: 3.50 + 0.30 = 3.80 for 38 answers worth 19.00.
        #expect(chat["cost_usd"] as? String == "3.80")
        #expect(chat["cost_per_outcome"] as? String == "0.100000")
        #expect(chat["value_per_dollar"] as? String == "5.00")
        #expect(chat["roi_percent"] as? String == "400.00")
        #expect(chat["cost_per_request"] as? String == "1.900000")
    }
}

/// `tokenledger serve` applies the saved allocation rules to the open month by itself.
@Suite struct ServeAllocationTests {
    @Test func serveAllocatesTheOpenMonth() async throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let db = runner.path("l.sqlite")
        let now = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000))
        try runner.write(
            "events.jsonl",
            #"{"id":"n1","timestamp":"\#(now.iso8601)","provider":"openai","model":"gpt-4o-mini","tokens":{"input":1000000},"feature":"search-box"}"#
                + "\n")
        try runner.write(
            "rules.yaml",
            "rules:\n  - id: search\n    when: { field: feature, prefix: search }\n    set: { team: search }\n")
        #expect(try runner.run(["import", runner.path("events.jsonl"), "--db", db]).status == 0)
        #expect(try runner.run(["rules", "set", "rules.yaml", "--db", db]).status == 0)
        let port = Int.random(in: 20_000..<40_000)
        let serve = Process()
        serve.executableURL = CommandRunner.executable
        serve.arguments = ["serve", "--db", db, "--port", String(port), "--allocate-every", "1"]
        serve.currentDirectoryURL = runner.directory
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        defer {
            serve.terminate()
            serve.waitUntilExit()
        }
        let period = BillingPeriod(containing: now)
        var team: String?
        for _ in 0..<50 where team == nil {
            try await Task.sleep(for: .milliseconds(200))
            let report = try runner.run([
                "report", "--db", db, "--period", period.description, "--by", "team", "--format", "json",
            ])
            let rows = (try? report.json())?["rows"] as? [[String: Any]]
            team = rows?.first?["team"] as? String
        }
        #expect(team == "search")
    }
}

/// A pool of the part of a provider's invoice no metered event explains.
@Suite struct UnexplainedPoolTests {
    @Test func theUnmeteredPartOfAnInvoiceIsSplitExactly() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let db = try StatementCommandTests.ledger(runner)
        // OpenAI billed $10.00 for September; metered OpenAI usage is $3.80 (e1 $3.50 + e2 $0.30).
        try runner.write(
            "bill.csv",
            ReconcileCommandTests.focusHeader + "\n"
                + "10.00,USD,2026-09-01T00:00:00Z,2026-10-01T00:00:00Z,Usage,OpenAI,OpenAI,OpenAI API,gpt-4o,,proj,Usage\n"
        )
        let bill = try runner.run(["import", runner.path("bill.csv"), "--db", db, "--format", "focus"])
        #expect(bill.status == 0, "\(bill.output) \(bill.error)")
        try runner.write(
            "tokenledger.yaml",
            """
            chargeback:
              pools:
                - id: openai-unmetered
                  unexplained: openai
                  split: fixed
                  onto: team
                  shares: { search: "66.67", support: "33.33" }
            """)
        let pools = try runner.run(["pools", "--period", "2026-09", "--db", db, "--format", "json"])
        #expect(pools.status == 0, "\(pools.error)")
        let split = try #require(
            (try JSONSerialization.jsonObject(with: Data(pools.output.utf8)) as? [[String: Any]])?.first)
        #expect(split["amount_usd"] as? String == "6.20")
        let shares = try #require(split["shares"] as? [String: String])
        // 6.20 × 66.67 % = 4.13354, 6.20 × 33.33 % = 2.06646: exact, and they sum to the pool.
        #expect(shares == ["search": "4.13354", "support": "2.06646"])
        #expect(split["unallocated_usd"] as? String == "0.00")
        // The team statement carries its share.
        let statement = try runner.run([
            "statement", "--period", "2026-09", "--for", "team:support", "--db", db, "--format", "json",
        ])
        let lines = try #require(try statement.json()["lines"] as? [[String: Any]])
        #expect(lines.first { $0["type"] as? String == "shared" }?["amount"] as? String == "2.07")
    }
}
