import Foundation
import LedgerCore
import Testing

/// `tokenledger export focus`: a month as FOCUS 1.2, checked by `--check`, which also catches
/// deliberately broken files rule by rule.
@Suite struct FocusExportTests {
    static let events =
        [
            #"{"id":"a","timestamp":"2026-10-03T10:00:00Z","source":"gateway","provider":"openai","model":"gpt-4o-2024-08-06","tokens":{"input":1000000,"cache_read":500000,"output":200000},"team":"search","project":"web","customer":"acme","tags":{"plan":"pro"}}"#,
            #"{"id":"b","timestamp":"2026-10-03T11:00:00Z","source":"gateway","provider":"anthropic","model":"claude-sonnet-4-5","tokens":{"input":3000,"output":700},"team":"support"}"#,
            #"{"id":"c","timestamp":"2026-10-31T23:59:59Z","source":"gateway","provider":"openai","model":"my-finetune-xyz","tokens":{"input":100}}"#,
            #"{"id":"d","timestamp":"2026-11-01T00:00:00Z","source":"gateway","provider":"openai","model":"gpt-4o","tokens":{"input":100}}"#,
        ].joined(separator: "\n") + "\n"

    func exported(_ runner: CommandRunner) throws -> (header: [String], rows: [[String]]) {
        try runner.write("events.jsonl", Self.events)
        let imported = try runner.run(["import", runner.path("events.jsonl"), "--db", runner.path("l.sqlite")])
        #expect(imported.status == 0, "\(imported.error)")
        let export = try runner.run([
            "export", "focus", "--period", "2026-10", "--db", runner.path("l.sqlite"), "--output", runner.path("f.csv"),
        ])
        #expect(export.status == 0, "\(export.error)")
        #expect(export.error.contains("from 3 events"), "\(export.error)")
        let text = try String(contentsOfFile: runner.path("f.csv"), encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        return (lines[0].split(separator: ",").map(String.init), lines.dropFirst().map(Self.fields))
    }

    /// Splits one CSV record (quoted fields with doubled quotes).
    static func fields(_ line: String) -> [String] {
        var result: [String] = []
        var field = ""
        var quoted = false
        var characters = Array(line)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        field.append("\"")
                        characters = characters.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                result.append(field)
                field = ""
            } else {
                field.append(character)
            }
        }
        result.append(field)
        return result
    }

    @Test func exportConformsAndReconcilesWithTheLedger() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let (header, rows) = try exported(runner)
        func column(_ name: String) -> Int { header.firstIndex(of: name)! }
        // gpt-4o: input, cache read, output; sonnet: input, output; the unknown model: one unpriced row.
        #expect(rows.count == 6)
        #expect(header.prefix(2) == ["AvailabilityZone", "BilledCost"] && header.last == "x_Unpriced")
        // Billed total = the ledger's total for the month, to the picodollar.
        let report = try runner.run([
            "report", "--db", runner.path("l.sqlite"), "--from", "2026-10-01", "--to", "2026-10-31", "--format", "json",
        ])
        let totals = try report.json()["totals"] as! [String: Any]
        let billed = rows.map { DecimalText.parse($0[column("BilledCost")], scale: 12)! }.reduce(0, +)
        #expect(billed == DecimalText.parse(totals["cost_usd"] as! String, scale: 12)!)
        // The gpt-4o input row: 1M tokens at $2.50, as tokens and millions of tokens.
        let input = rows.first { $0[column("SkuId")] == "gpt-4o" && $0[column("SkuMeter")] == "Input Tokens" }!
        #expect(input[column("ConsumedQuantity")] == "1000000.0" && input[column("ConsumedUnit")] == "Tokens")
        #expect(input[column("PricingQuantity")] == "1.0" && input[column("PricingUnit")] == "1000000 Tokens")
        #expect(input[column("ListUnitPrice")] == "2.5" && input[column("ListCost")] == "2.5")
        #expect(input[column("ChargePeriodStart")] == "2026-10-03T00:00:00Z")
        #expect(input[column("ChargePeriodEnd")] == "2026-10-04T00:00:00Z")
        #expect(input[column("BillingPeriodStart")] == "2026-10-01T00:00:00Z")
        #expect(input[column("ServiceName")] == "OpenAI API" && input[column("SubAccountId")] == "web")
        let tags = try JSONSerialization.jsonObject(with: Data(input[column("Tags")].utf8)) as! [String: String]
        #expect(tags == ["team": "search", "project": "web", "customer": "acme", "plan": "pro"])
        // The unknown model is kept, flagged, at zero — never dropped.
        let unpriced = rows.first { $0[column("x_Unpriced")] == "true" }!
        #expect(unpriced[column("SkuId")] == "my-finetune-xyz" && unpriced[column("BilledCost")] == "0.0")
        #expect(unpriced[column("ListUnitPrice")] == "")

        let check = try runner.run(["export", "focus", "--check", runner.path("f.csv")])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("6 rows — conforms."), "\(check.output)")
    }

    @Test func checkCatchesBrokenFilesRuleByRule() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        let (header, rows) = try exported(runner)
        func column(_ name: String) -> Int { header.firstIndex(of: name)! }
        func csv(_ fields: [String]) -> String {
            fields.map { $0.contains(",") || $0.contains("\"") ? "\"" + $0.replacing("\"", with: "\"\"") + "\"" : $0 }
                .joined(separator: ",")
        }
        let cases: [(String, (inout [String], inout [[String]]) -> Void)] = [
            ("BilledCost.numeric", { _, rows in rows[0][column("BilledCost")] = "$0.68" }),
            ("ChargeCategory.allowed-values", { _, rows in rows[1][column("ChargeCategory")] = "Usages" }),
            (
                "ChargePeriodStart.date-time",
                { _, rows in rows[0][column("ChargePeriodStart")] = "2026-10-03 00:00:00" }
            ),
            ("ListCost.unit-price-times-quantity", { _, rows in rows[0][column("ListCost")] = "99.99" }),
            ("ServiceSubcategory.of-category", { _, rows in rows[0][column("ServiceSubcategory")] = "LLM" }),
            ("BillingCurrency.currency", { _, rows in rows[0][column("BillingCurrency")] = "usd" }),
            ("ConsumedQuantity.usage", { _, rows in rows[0][column("ConsumedQuantity")] = "" }),
            ("PricingUnit.with-quantity", { _, rows in rows[0][column("PricingUnit")] = "" }),
            ("SkuPriceDetails.key-value", { _, rows in rows[0][column("SkuPriceDetails")] = #"{"Model":"x"}"# }),
            ("Tags.key-value", { _, rows in rows[0][column("Tags")] = #"{"team":["a","b"]}"# }),
            (
                "ChargePeriod.within-billing-period",
                { _, rows in rows[0][column("ChargePeriodStart")] = "2026-09-30T00:00:00Z" }
            ),
            (
                "ChargePeriodEnd.after-start",
                { _, rows in rows[0][column("ChargePeriodEnd")] = rows[0][column("ChargePeriodStart")] }
            ),
            (
                "ServiceName.one-category",
                { _, rows in
                    rows[0][column("ServiceCategory")] = "Compute";
                    rows[0][column("ServiceSubcategory")] = "Other (Compute)"
                }
            ),
            (
                "EffectiveCost.present",
                { header, rows in
                    let index = header.firstIndex(of: "EffectiveCost")!
                    header.remove(at: index)
                    for row in rows.indices { rows[row].remove(at: index) }
                }
            ),
            ("Columns.custom-prefix", { header, _ in header[header.count - 1] = "Unpriced" }),
        ]
        for (rule, breakIt) in cases {
            var brokenHeader = header
            var brokenRows = rows
            breakIt(&brokenHeader, &brokenRows)
            try runner.write("broken.csv", ([csv(brokenHeader)] + brokenRows.map(csv)).joined(separator: "\n") + "\n")
            let check = try runner.run(["export", "focus", "--check", runner.path("broken.csv")])
            #expect(check.status == 1, "\(rule): \(check.output)")
            #expect(check.output.contains("FAIL \(rule):"), "\(rule): \(check.output)")
        }
    }
}
