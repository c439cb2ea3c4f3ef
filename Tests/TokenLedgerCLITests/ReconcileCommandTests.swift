import Foundation
import LedgerCore
import Testing

/// Bills (FOCUS, OpenAI Costs, Anthropic cost report) imported next to metered events, and
/// `tokenledger reconcile` comparing them.
@Suite struct ReconcileCommandTests {
    static let focusHeader =
        "BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ProviderName,PublisherName,ServiceName,SkuId,SkuPriceDetails,SubAccountId,ChargeDescription"

    @Test func focusBillAgainstGatewayEventsPerModel() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        // The bill: gpt-4o-mini $1.50 (two identical lines, both real), gpt-4o $0.00002 in E notation,
        // a platform fee without a model, one euro line (refused), one bad date (refused).
        try runner.write(
            "bill.csv",
            "\u{FEFF}" + Self.focusHeader + "\r\n"
                + #"0.75,USD,2026-10-03T00:00:00Z,2026-10-04T00:00:00Z,Usage,OpenAI,OpenAI,OpenAI API,gpt-4o-mini-2024-07-18,"{""x_Model"":""gpt-4o-mini"",""x_TokenType"":""input""}",proj_1,"gpt-4o-mini, input""#
                + "\r\n"
                + #"0.75,USD,2026-10-03T00:00:00Z,2026-10-04T00:00:00Z,Usage,OpenAI,OpenAI,OpenAI API,gpt-4o-mini-2024-07-18,"{""x_Model"":""gpt-4o-mini"",""x_TokenType"":""input""}",proj_1,"gpt-4o-mini, input""#
                + "\r\n"
                + "2E-5,USD,2026-10-05T00:00:00Z,2026-10-06T00:00:00Z,Usage,OpenAI,OpenAI,OpenAI API,gpt-4o-2024-08-06,,proj_1,\r\n"
                + "5,USD,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,Fee,OpenAI,OpenAI,OpenAI API,,,,Platform fee\r\n"
                + "3,EUR,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,Usage,OpenAI,OpenAI,OpenAI API,gpt-4o,,,\r\n"
                + "3,USD,yesterday,2026-11-01T00:00:00Z,Usage,OpenAI,OpenAI,OpenAI API,gpt-4o,,,\r\n")
        // Metered: gateway events for gpt-4o-mini worth $1.00 (1M input at $0.15 + … ), plus the
        // provider's own usage report, which must not count as metered.
        try runner.write(
            "events.jsonl",
            #"{"id":"g1","timestamp":"2026-10-03T10:00:00Z","source":"gateway","provider":"openai","model":"gpt-4o-mini","tokens":{"input":2000000,"output":1000000},"team":"search"}"#
                + "\n"
                + #"{"id":"u1","timestamp":"2026-10-03T10:00:00Z","source":"openai-usage","provider":"openai","model":"gpt-4o-mini","tokens":{"input":9000000}}"#
                + "\n")
        let importEvents = try runner.run(["import", runner.path("events.jsonl"), "--db", runner.path("l.sqlite")])
        #expect(importEvents.status == 0, "\(importEvents.error)")
        let bill = try runner.run(["import", runner.path("bill.csv"), "--db", runner.path("l.sqlite")])
        // Two bad rows: exit 1, the good ones recorded, each bad one located.
        #expect(bill.status == 1)
        #expect(bill.output.contains("6 bill lines (focus), 4 recorded"), "\(bill.output)")
        #expect(bill.error.contains("bill.csv:6: field 'BillingCurrency'"), "\(bill.error)")
        #expect(bill.error.contains("bill.csv:7: field 'ChargePeriodStart'"), "\(bill.error)")
        // Importing the same bill again adds nothing.
        let again = try runner.run(["import", runner.path("bill.csv"), "--db", runner.path("l.sqlite")])
        #expect(again.output.contains("0 recorded, 4 already in the ledger"), "\(again.output)")

        let result = try runner.run([
            "reconcile", "--provider", "openai", "--month", "2026-10", "--db", runner.path("l.sqlite"), "--format",
            "json",
        ])
        #expect(result.status == 0, "\(result.error)")
        let json = try result.json()
        let rows = try #require(json["rows"] as? [[String: Any]])
        let byModel = Dictionary(uniqueKeysWithValues: rows.map { (($0["model"] as? String) ?? "-", $0) })
        // gpt-4o-mini: 2M × $0.15 + 1M × $0.60 = $0.90 metered against $1.50 billed.
        #expect(byModel["gpt-4o-mini"]?["invoiced_usd"] as? String == "1.50")
        #expect(byModel["gpt-4o-mini"]?["metered_usd"] as? String == "0.90")
        #expect(byModel["gpt-4o-mini"]?["unexplained_usd"] as? String == "0.60")
        // The dated SKU meets the family; E notation is exact.
        #expect(byModel["gpt-4o"]?["invoiced_usd"] as? String == "0.00002")
        #expect(byModel["-"]?["invoiced_usd"] as? String == "5.00")
        let totals = try #require(json["totals"] as? [String: Any])
        #expect(totals["invoiced_usd"] as? String == "6.50002")
        #expect(totals["metered_usd"] as? String == "0.90")
        // Unexplained: 0.60 + 0.00002 + 5 of 6.50002.
        #expect(totals["unexplained_usd"] as? String == "5.60002")
        #expect(totals["unexplained_share"] as? String == "0.8615")
        // The rows add up to the totals.
        let invoiced = rows.compactMap { ($0["invoiced_usd"] as? String).flatMap { Cost(decimal: $0) } }
            .reduce(Cost.zero, +)
        #expect(invoiced.decimalString == "6.50002")

        let table = try runner.run([
            "reconcile", "--provider", "openai", "--month", "2026-10", "--db", runner.path("l.sqlite"),
        ])
        #expect(table.output.contains("0.8615 of the invoice unexplained"), "\(table.output)")
    }

    @Test func providerCostPagesAreDetectedAndExact() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "openai-costs.json",
            #"{"object":"page","data":[{"object":"bucket","start_time":1790899200,"end_time":1790985600,"results":["#
                + #"{"object":"organization.costs.result","amount":{"value":0.123456789,"currency":"usd"},"line_item":"gpt-4.1-2025-04-14, input","project_id":"proj_a"},"#
                + #"{"object":"organization.costs.result","amount":{"value":2,"currency":"usd"},"line_item":"web search tool calls","project_id":null},"#
                + #"{"object":"organization.costs.result","amount":{"value":"x","currency":"usd"},"line_item":"gpt-4.1, output"}"#
                + #"]}],"has_more":false,"next_page":null}"#)
        try runner.write(
            "anthropic-costs.json",
            #"{"data":[{"starting_at":"2026-10-02T00:00:00Z","ending_at":"2026-10-03T00:00:00Z","results":["#
                + #"{"amount":"12345.5","currency":"USD","workspace_id":"wrk_1","description":"Claude Sonnet 4.5 input","cost_type":"tokens","model":"claude-sonnet-4-5-20250929","token_type":"uncached_input_tokens","service_tier":"standard","context_window":"0-200k"}"#
                + #"]}],"has_more":false,"next_page":null}"#)
        let openAI = try runner.run(["import", runner.path("openai-costs.json"), "--db", runner.path("l.sqlite")])
        #expect(
            openAI.status == 1 && openAI.output.contains("3 bill lines (openai-costs), 2 recorded"), "\(openAI.output)")
        #expect(openAI.error.contains("page 1, data[0].results[2].amount.value"), "\(openAI.error)")
        let anthropic = try runner.run(["import", runner.path("anthropic-costs.json"), "--db", runner.path("l.sqlite")])
        #expect(
            anthropic.status == 0 && anthropic.output.contains("(anthropic-costs), 1 recorded"), "\(anthropic.output)")

        let openAIMonth = try runner.run([
            "reconcile", "--provider", "openai", "--month", "2026-10", "--db", runner.path("l.sqlite"), "--format",
            "json",
        ]).json()
        let openAIRows = try #require(openAIMonth["rows"] as? [[String: Any]])
        #expect(openAIRows.map { $0["model"] as? String } == [nil, "gpt-4.1"])
        #expect(openAIRows.map { $0["invoiced_usd"] as? String } == ["2.00", "0.123456789"])
        // The same page saved twice in one file counts once.
        let page = try String(contentsOfFile: runner.path("openai-costs.json"), encoding: .utf8)
        try runner.write("twice.json", "[\(page),\(page)]")
        let twice = try runner.run(["import", runner.path("twice.json"), "--db", runner.path("twice.sqlite")])
        #expect(
            twice.output.contains("6 bill lines (openai-costs), 2 recorded, 2 already in the ledger"), "\(twice.output)"
        )
        // Anthropic's amount is in cents: 12345.5 cents = $123.455.
        let anthropicMonth = try runner.run([
            "reconcile", "--provider", "anthropic", "--month", "2026-10", "--db", runner.path("l.sqlite"), "--format",
            "json",
        ]).json()
        let totals = try #require(anthropicMonth["totals"] as? [String: Any])
        #expect(totals["invoiced_usd"] as? String == "123.455" && totals["unexplained_share"] as? String == "1.0000")
    }

    @Test func aFOCUSFileWithoutItsColumnsIsRefusedWhole() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write("bill.csv", "BilledCost,ChargePeriodStart\n1,2026-10-01T00:00:00Z\n")
        let result = try runner.run(["import", runner.path("bill.csv"), "--db", runner.path("l.sqlite")])
        #expect(result.status != 0)
        #expect(result.error.contains("BillingCurrency, ChargePeriodEnd, ProviderName"), "\(result.error)")
    }
}

/// The AI lines of cloud bills: AWS CUR 2.0 (Bedrock), Azure Cost Management (Azure OpenAI) and
/// Google Cloud billing (Vertex AI, Gemini API), other services skipped.
@Suite struct CloudBillTests {
    @Test func awsCURBedrockLines() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "cur.csv",
            "line_item_usage_account_id,line_item_product_code,product_product_family,line_item_usage_type,line_item_usage_start_date,line_item_usage_end_date,line_item_unblended_cost,line_item_currency_code,product\n"
                + #"111,7zgyu5r4,Amazon Bedrock,USE1-Claude4.6Sonnet-input-tokens,2026-10-02T00:00:00Z,2026-10-03T00:00:00Z,1.25,USD,"{""model"":""Claude Sonnet 4.5"",""provider"":""Anthropic""}""#
                + "\n"
                + "111,AmazonBedrock,Amazon Bedrock,USE1-NovaLite-output-tokens,2026-10-02T00:00:00.000Z,2026-10-03T00:00:00.000Z,0.5,USD,\n"
                + "111,AmazonEC2,Compute Instance,USE1-BoxUsage:m5.large,2026-10-02T00:00:00Z,2026-10-03T00:00:00Z,9.99,USD,\n"
                + "111,AmazonBedrock,Amazon Bedrock,USE1-NovaLite-input-tokens,2026-10-02T00:00:00Z,2026-10-03T00:00:00Z,abc,USD,\n"
        )
        let result = try runner.run(["import", runner.path("cur.csv"), "--db", runner.path("l.sqlite")])
        #expect(result.status == 1)
        #expect(
            result.output.contains(
                "4 bill lines (aws-cur), 2 recorded, 0 already in the ledger, 1 rejected, 1 of other services skipped"),
            "\(result.output)")
        #expect(result.error.contains("cur.csv:5: field 'line_item_unblended_cost'"), "\(result.error)")
        let json = try runner.run([
            "reconcile", "--provider", "bedrock", "--month", "2026-10", "--db", runner.path("l.sqlite"), "--format",
            "json",
        ]).json()
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.count == 2)
        #expect((json["totals"] as? [String: Any])?["invoiced_usd"] as? String == "1.75")
        // The product map's model, in the catalog's spelling; the usage type when there is none.
        let models = Set(rows.compactMap { $0["model"] as? String })
        #expect(models.contains { $0.hasPrefix("claude-sonnet-4") || $0.contains("claude-sonnet-4-5") }, "\(models)")
        #expect(models.contains("NovaLite"), "\(models)")
    }

    @Test func azureOpenAIMetersAndGoogleBillingJSON() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "azure.csv",
            "\u{FEFF}SubscriptionName,Date,MeterCategory,MeterSubCategory,MeterName,UnitOfMeasure,Quantity,CostInBillingCurrency,BillingCurrencyCode,ConsumedService\n"
                + "prod,10/02/2026,Cognitive Services,Azure OpenAI,gpt-4o-mini-0718-Inp-glbl Tokens,1K,1250.5,0.187575,USD,Microsoft.CognitiveServices\n"
                + "prod,10/02/2026,Cognitive Services,Azure OpenAI,gpt 4o 0513 Output global Tokens,1K,10,0.15,USD,Microsoft.CognitiveServices\n"
                + "prod,10/02/2026,Storage,Tables,LRS Data Stored,1 GB/Month,1,0.05,USD,Microsoft.Storage\n")
        let azure = try runner.run(["import", runner.path("azure.csv"), "--db", runner.path("l.sqlite")])
        #expect(azure.status == 0, "\(azure.error)")
        #expect(azure.output.contains("(azure-export), 2 recorded"), "\(azure.output)")
        let azureJSON = try runner.run([
            "reconcile", "--provider", "azure", "--month", "2026-10", "--db", runner.path("l.sqlite"), "--format",
            "json",
        ]).json()
        let azureRows = try #require(azureJSON["rows"] as? [[String: Any]])
        #expect(Set(azureRows.compactMap { $0["model"] as? String }) == ["gpt-4o-mini", "gpt-4o"], "\(azureRows)")
        #expect((azureJSON["totals"] as? [String: Any])?["invoiced_usd"] as? String == "0.337575")

        try runner.write(
            "gcp.jsonl",
            #"{"service":{"id":"C7E2-9256-1C43","description":"Vertex AI"},"sku":{"id":"x","description":"Gemini 2.5 Pro Text Input (≤200k)"},"usage_start_time":"2026-10-02 00:00:00 UTC","usage_end_time":"2026-10-02 01:00:00 UTC","project":{"id":"ml-prod"},"cost":4.5,"currency":"USD","credits":[{"name":"FreeTier","amount":-0.5}]}"#
                + "\n"
                + #"{"service":{"id":"6F81-5844-456A","description":"Compute Engine"},"sku":{"description":"N2 Instance Core"},"usage_start_time":"2026-10-02 00:00:00 UTC","cost":3,"currency":"USD"}"#
                + "\n"
                + #"{"service":{"description":"Gemini API"},"sku":{"description":"Gemini 2.5 Flash Text Output"},"usage_start_time":"2026-10-03 00:00:00 UTC","cost":1,"currency":"EUR"}"#
                + "\n")
        let gcp = try runner.run(["import", runner.path("gcp.jsonl"), "--db", runner.path("l.sqlite")])
        #expect(gcp.status == 1)
        #expect(
            gcp.output.contains(
                "(gcp-billing), 1 recorded, 0 already in the ledger, 1 rejected, 1 of other services skipped"),
            "\(gcp.output)")
        #expect(gcp.error.contains("gcp.jsonl:3: field 'currency'"), "\(gcp.error)")
        let vertex = try runner.run([
            "reconcile", "--provider", "vertex", "--month", "2026-10", "--db", runner.path("l.sqlite"), "--format",
            "json",
        ]).json()
        let vertexRows = try #require(vertex["rows"] as? [[String: Any]])
        // Cost net of credits: 4.5 − 0.5.
        #expect(vertexRows.first?["invoiced_usd"] as? String == "4.00")
        #expect((vertexRows.first?["model"] as? String)?.hasPrefix("gemini-2.5-pro") == true, "\(vertexRows)")
    }
}

/// A provider's own usage report and the gateway's events for the same calls are never added
/// together in a report.
@Suite struct ProviderReportOverlapTests {
    @Test func providerReportsAreLeftOutWhereMeteredEventsCoverTheProvider() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write(
            "events.jsonl",
            [
                // Metered openai usage ($0.90) and openai's own report of the same calls ($1.35 at 9M input).
                #"{"id":"g1","timestamp":"2026-10-03T10:00:00Z","source":"gateway","provider":"openai","model":"gpt-4o-mini","tokens":{"input":2000000,"output":1000000},"team":"search"}"#,
                #"{"id":"u1","timestamp":"2026-10-03T00:00:00Z","source":"openai-usage","provider":"openai","model":"gpt-4o-mini","tokens":{"input":9000000}}"#,
                // Anthropic is only known from its report: it counts.
                #"{"id":"a1","timestamp":"2026-10-03T00:00:00Z","source":"anthropic-usage","provider":"anthropic","model":"claude-haiku-4-5","tokens":{"input":1000000}}"#,
            ].joined(separator: "\n") + "\n")
        let db = runner.path("l.sqlite")
        #expect(try runner.run(["import", runner.path("events.jsonl"), "--db", db]).status == 0)
        func total(_ extra: [String]) throws -> (String, [String: Any]) {
            let result = try runner.run(
                ["report", "--db", db, "--from", "2026-10-01", "--to", "2026-10-31", "--format", "json"] + extra)
            #expect(result.status == 0, "\(result.error)")
            let json = try result.json()
            return ((json["totals"] as! [String: Any])["cost_usd"] as! String, json)
        }
        // gpt-4o-mini: 2M × 0.15 + 1M × 0.60 = 0.90; haiku 4.5: 1M × 1.00 = 1.00.
        let (cost, json) = try total(["--by", "provider"])
        #expect(cost == "1.90")
        #expect((json["provider_reports_left_out_usd"] as? [String: String]) == ["openai": "1.35"])
        // Asking about sources shows every source, each once.
        #expect(try total(["--by", "source"]).0 == "3.25")
        #expect(try total(["--where", "source=openai-usage"]).0 == "1.35")
        let table = try runner.run(["report", "--db", db, "--from", "2026-10-01", "--to", "2026-10-31"])
        #expect(table.output.contains("openai: $1.35 of the provider's own usage reports left out"), "\(table.output)")
    }
}
