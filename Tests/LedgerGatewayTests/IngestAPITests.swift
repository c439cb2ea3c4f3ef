import Foundation
import LedgerCore
import LedgerGateway
import LedgerStore
import NIOHTTP1
import Testing

@Suite(.serialized) struct IngestAPITests {
    static func event(_ id: String, model: String = "gpt-4o-mini", extra: String = "") -> String {
        #"{"id":"\#(id)","timestamp":"2026-11-02T10:00:00Z","provider":"openai","model":"\#(model)","tokens":{"input":1000000,"output":100000}\#(extra)}"#
    }

    @Test func aBatchIsRecordedOnceWithPerEventErrors() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key(team: "search", purpose: .ingest)
            let batch =
                #"{"events":[\#(Self.event("e1", extra: #","feature":"summaries""#)),\#(Self.event("e2")),"#
                + #"{"timestamp":"2026-11-02T10:00:00Z","provider":"openai","model":"gpt-4o-mini"},"#
                + #"{"id":"e4","timestamp":"yesterday","provider":"openai","model":"gpt-4o-mini"},"#
                + #"\#(Self.event("e5", extra: #","team":"ads""#)),42]}"#
            let reply = try await harness.post("/api/v1/events", key: key.secret, body: batch)
            #expect(reply.status == 200, "\(reply.body)")
            let json = try #require(reply.json)
            #expect(json["received"] == .integer(6))
            #expect(json["recorded"] == .integer(2))
            #expect(json["rejected"] == .integer(4))
            let errors = try #require(json["errors"]?.arrayValue)
            #expect(errors.map { $0["index"] } == [.integer(2), .integer(3), .integer(4), .integer(5)])
            #expect(errors[0]["field"] == .string("id"))
            #expect(errors[1]["id"] == .string("e4") && errors[1]["field"] == .string("timestamp"))
            // An ingest key of team search cannot record usage as team ads.
            #expect(errors[2]["field"] == .string("team"))
            #expect(errors[2]["message"]?.stringValue?.contains("'search'") == true)
            #expect(errors[3]["message"]?.stringValue?.contains("not a JSON object") == true)

            // Priced from the catalog, attributed to the key's owner, tagged with the key.
            let first = try #require(try await harness.gateway.ledger.event(id: "e1"))
            #expect(first.event.source == "api")
            #expect(first.event.attribution.team == "search" && first.event.attribution.feature == "summaries")
            #expect(first.event.tags["ingest_key"] == key.id)
            // gpt-4o-mini: 1M input × $0.15 + 100k output × $0.60/M.
            #expect(first.cost.decimalString == "0.21")

            // Sending the same batch again records nothing new.
            let again = try await harness.post("/api/v1/events", key: key.secret, body: batch)
            #expect(again.json?["recorded"] == .integer(0))
            #expect(again.json?["duplicates"] == .integer(2))
        }
    }

    @Test func outcomesAreRecordedOnceAndFeedValue() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key(purpose: .ingest)
            let batch = """
                {"outcomes":[\
                {"id":"o1","timestamp":"2026-11-02T10:00:00Z","feature":"answer-bot","customer":"acme","outcome":"ticket_resolved","count":3,"value":"12.50"},\
                {"id":"o2","timestamp":"2026-11-03T10:00:00Z","feature":"answer-bot","value":2},\
                {"id":"o3","timestamp":"2026-11-03T10:00:00Z","value":"1"},\
                {"id":"o4","timestamp":"2026-11-03T10:00:00Z","feature":"x","value":"12,50"}]}
                """
            let reply = try await harness.post("/api/v1/outcomes", key: key.secret, body: batch)
            #expect(reply.status == 200, "\(reply.body)")
            #expect(reply.json?["recorded"] == .integer(2) && reply.json?["rejected"] == .integer(2))
            let errors = try #require(reply.json?["errors"]?.arrayValue)
            #expect(errors[0]["id"] == .string("o3") && errors[0]["field"] == .string("feature"))
            #expect(errors[1]["field"] == .string("value"))
            let again = try await harness.post("/api/v1/outcomes", key: key.secret, body: batch)
            #expect(again.json?["recorded"] == .integer(0) && again.json?["duplicates"] == .integer(2))
            let totals = try await harness.gateway.ledger.outcomeTotals(
                from: Timestamp(parsing: "2026-11-01")!, to: Timestamp(parsing: "2026-12-01")!, by: .feature)
            #expect(totals["answer-bot"]?.count == 4)
            #expect(totals["answer-bot"]?.value.decimalString == "14.50")
            let unauthenticated = try await harness.post("/api/v1/outcomes", key: nil, body: batch)
            #expect(unauthenticated.status == 401)
        }
    }

    @Test func allocationRulesThroughTheAdminAPI() async throws {
        try await GatewayHarness.run { harness in
            let admin = "admin-secret"
            let ingest = try await harness.key(team: "search", purpose: .ingest)
            let batch =
                #"{"events":[\#(Self.event("a1", extra: #","feature":"search-box""#)),\#(Self.event("a2"))]}"#
            _ = try await harness.post("/api/v1/events", key: ingest.secret, body: batch)
            let rules =
                #"{"rules":[{"id":"search-box","when":{"field":"feature","prefix":"search"},"set":{"customer":"internal"}}]}"#
            // Not the admin key: refused.
            let refused = try await harness.post(
                "/api/v1/allocation/rules", key: ingest.secret, body: rules, method: .PUT)
            #expect(refused.status == 401)
            // A bad rule is named.
            let bad = try await harness.post(
                "/api/v1/allocation/rules", key: admin,
                body: #"{"rules":[{"id":"x","when":{"field":"teem","equals":"a"},"set":{"team":"b"}}]}"#,
                method: .PUT)
            #expect(bad.status == 400 && bad.body.contains("teem"), "\(bad.body)")
            let saved = try await harness.post("/api/v1/allocation/rules", key: admin, body: rules, method: .PUT)
            #expect(saved.status == 200 && saved.json?["version"] == .integer(1), "\(saved.body)")
            let shown = try await harness.get("/api/v1/allocation/rules", key: admin)
            #expect(shown.json?["rules"]?.arrayValue?.first?["id"] == .string("search-box"))
            let preview = try await harness.post("/api/v1/allocation/test?period=2026-11", key: admin, body: "")
            #expect(preview.status == 200 && preview.json?["moved_requests"] == .integer(1), "\(preview.body)")
            let run = try await harness.post("/api/v1/allocation/run?period=2026-11", key: admin, body: "")
            #expect(run.status == 200 && run.json?["moved_cost_usd"] == .string("0.21"), "\(run.body)")
            let report = try await harness.gateway.ledger.report(
                ReportQuery(
                    from: Timestamp(parsing: "2026-11-01")!, to: Timestamp(parsing: "2026-12-01")!,
                    groupBy: [.attribution(.customer)]))
            #expect(report.rows.map { $0.keys[0] }.sorted { ($0 ?? "") < ($1 ?? "") } == [nil, "internal"])
            let noPeriod = try await harness.post("/api/v1/allocation/run", key: admin, body: "")
            #expect(noPeriod.status == 400)
        }
    }

    @Test func statementsAndFocusExportThroughTheAdminAPI() async throws {
        try await GatewayHarness.run { harness in
            let admin = "admin-secret"
            let ingest = try await harness.key(team: "search", purpose: .ingest)
            let batch =
                #"{"events":[\#(Self.event("s1", extra: #","customer":"acme","feature":"chat""#)),\#(Self.event("s2", extra: #","customer":"acme""#)),\#(Self.event("s3", extra: #","customer":"globex""#))]}"#
            _ = try await harness.post("/api/v1/events", key: ingest.secret, body: batch)
            let json = try await harness.get("/api/v1/statements?period=2026-11&for=customer:acme", key: admin)
            #expect(json.status == 200, "\(json.body)")
            let statement = try #require(json.json)
            // Showback at cost: two gpt-4o-mini events at $0.21 each, input and output lines.
            #expect(statement["total"] == .string("0.42") && statement["currency"] == .string("USD"))
            let lines = try #require(statement["lines"]?.arrayValue)
            #expect(lines.count == 4)
            let number = try #require(statement["number"]?.stringValue)
            let html = try await harness.get("/api/v1/statements/\(number)?format=html", key: admin)
            #expect(html.status == 200 && html.body.contains("<svg") && html.body.contains(number))
            #expect(html.headers.first(name: "content-type") == "text/html; charset=utf-8")
            let csv = try await harness.get("/api/v1/statements/\(number)?format=csv", key: admin)
            #expect(csv.body.split(separator: "\n").count == 6)
            let focus = try await harness.get("/api/v1/export/focus?period=2026-11", key: admin)
            #expect(focus.status == 200 && focus.body.hasPrefix("AvailabilityZone,BilledCost,"))
            // The header, then input and output rows for each owner (acme/chat, acme, globex).
            #expect(focus.body.split(separator: "\n").count == 7)
            #expect(try await harness.get("/api/v1/statements?period=2026-11", key: admin).status == 400)
            #expect(try await harness.get("/api/v1/statements/TL-000000-0000", key: admin).status == 404)
            #expect(try await harness.get("/api/v1/export/focus?period=2026-11", key: ingest.secret).status == 401)
        }
    }

    @Test func keysAreCheckedAndBadBodiesExplained() async throws {
        try await GatewayHarness.run { harness in
            let gatewayKey = try await harness.key()
            let ingestKey = try await harness.key(purpose: .ingest)
            let batch = #"{"events":[\#(Self.event("x1"))]}"#
            let noKey = try await harness.post("/api/v1/events", key: nil, body: batch)
            #expect(noKey.status == 401)
            // A gateway key does not send usage, and an ingest key does not call models.
            let wrong = try await harness.post("/api/v1/events", key: gatewayKey.secret, body: batch)
            #expect(wrong.status == 403 && wrong.body.contains("ingest key"))
            let chat = try await harness.post("/v1/chat/completions", key: ingestKey.secret, body: GatewayTests.chat)
            #expect(chat.status == 403 && chat.body.contains("wrong_key_purpose"))
            // The admin key may send events too; they keep their own attribution.
            let admin = try await harness.post(
                "/api/v1/events", key: "admin-secret",
                body: #"{"events":[\#(Self.event("x2", extra: #","team":"ads""#))]}"#)
            #expect(admin.json?["recorded"] == .integer(1))
            #expect(try await harness.gateway.ledger.event(id: "x2")?.event.attribution.team == "ads")

            let notJSON = try await harness.post("/api/v1/events", key: ingestKey.secret, body: #"{"events": [1,"#)
            #expect(notJSON.status == 400 && notJSON.body.contains("not a JSON object"))
            let noEvents = try await harness.post("/api/v1/events", key: ingestKey.secret, body: #"{"rows":[]}"#)
            #expect(noEvents.status == 400 && noEvents.body.contains("\\\"events\\\""))
            let allBad = try await harness.post(
                "/api/v1/events", key: ingestKey.secret, body: #"{"events":[{"id":"b1","provider":"openai"}]}"#)
            #expect(allBad.status == 400 && allBad.json?["rejected"] == .integer(1))
            #expect(try await harness.gateway.ledger.event(id: "b1") == nil)
        }
    }

    @Test func otlpTracesInJSONAreRecordedAndErrorsFollowTheSpec() async throws {
        try await GatewayHarness.run(configure: { $0.otlp.attributes = ["app.feature": "feature"] }) { harness in
            let key = try await harness.key(team: "agents", purpose: .ingest)
            func span(_ id: String, _ attributes: String) -> String {
                #"{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"\#(id)","name":"chat","#
                    + #""startTimeUnixNano":"1793613600000000000","endTimeUnixNano":"1793613600400000000","#
                    + #""attributes":[\#(attributes)]}"#
            }
            func attribute(_ key: String, _ value: String) -> String {
                value.first == "\""
                    ? #"{"key":"\#(key)","value":{"stringValue":\#(value)}}"#
                    : #"{"key":"\#(key)","value":{"intValue":"\#(value)"}}"#
            }
            let good = [
                attribute("gen_ai.provider.name", #""openai""#), attribute("gen_ai.request.model", #""gpt-4o-mini""#),
                attribute("gen_ai.usage.input_tokens", "1000000"), attribute("gen_ai.usage.output_tokens", "0"),
                attribute("app.feature", #""triage""#),
            ].joined(separator: ",")
            let bad = [attribute("gen_ai.request.model", #""gpt-4o""#), attribute("gen_ai.usage.input_tokens", "-5")]
                .joined(separator: ",")
            let body =
                #"{"resourceSpans":[{"resource":{"attributes":[\#(attribute("service.name", #""bot""#))]},"#
                + #""scopeSpans":[{"spans":[\#(span("b7ad6b7169203331", good)),\#(span("00f067aa0ba902b7", bad))]}]}]}"#
            let reply = try await harness.post(
                "/v1/traces", key: key.secret, body: body, headers: [("content-type", "application/json")])
            #expect(reply.status == 200, "\(reply.body)")
            #expect(reply.json?["partialSuccess"]?["rejectedSpans"] == .string("1"))
            #expect(reply.body.contains("gen_ai.usage.input_tokens"))
            let event = try #require(
                try await harness.gateway.ledger.event(id: "otel-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"))
            #expect(event.event.attribution.team == "agents" && event.event.attribution.feature == "triage")
            #expect(event.event.attribution.application == "bot" && event.cost.decimalString == "0.15")
            // Sent again: accepted, recorded once.
            _ = try await harness.post(
                "/v1/traces", key: key.secret, body: body, headers: [("content-type", "application/json")])
            #expect(try await harness.gateway.ledger.statistics().events == 1)

            let protobuf = [("content-type", "application/x-protobuf")]
            let garbage = try await harness.post("/v1/traces", key: key.secret, body: "\u{0A}\u{7F}", headers: protobuf)
            #expect(garbage.status == 400 && garbage.body.contains("malformed protobuf"))
            let corrupt = try await harness.post(
                "/v1/traces", key: key.secret, body: "not gzip",
                headers: protobuf + [("content-encoding", "gzip")])
            #expect(corrupt.status == 400 && corrupt.body.contains("gzip"))
            let text = try await harness.post(
                "/v1/traces", key: key.secret, body: "{}", headers: [("content-type", "text/plain")])
            #expect(text.status == 415)
            let gatewayKey = try await harness.key()
            let refused = try await harness.post(
                "/v1/traces", key: gatewayKey.secret, body: "{}", headers: [("content-type", "application/json")])
            #expect(refused.status == 403 && refused.json?["code"] == .integer(7))
        }
    }
}
