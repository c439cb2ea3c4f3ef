import Foundation
import LedgerCore
import Testing

@testable import LedgerIngest

@Suite struct EventFileImporterTests {
    func write(_ text: String, suffix: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tl-\(UUID().uuidString).\(suffix)")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func run(_ path: String, format: EventFileImporter.Format, batchSize: Int = 2) async throws
        -> (events: [UsageEvent], errors: [IngestError], summary: EventFileImporter.Summary)
    {
        var events: [UsageEvent] = []
        var errors: [IngestError] = []
        let summary = try await EventFileImporter(path: path, format: format, batchSize: batchSize).run(
            onBatch: { events += $0 }, onReject: { errors.append($0) })
        return (events, errors, summary)
    }

    @Test func readsJSONLinesWithNestedOrFlatTokens() async throws {
        let path = try write(
            """
            {"id":"a","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"input":10,"cache_read":5,"output":2},"team":"search","tags":{"env":"prod","n":3}}
            {"id":"b","timestamp":"2026-10-01T10:00:01.5+02:00","provider":"anthropic","model":"claude-haiku-4-5","input":7,"cache_write_1h":3,"outcome":"retried","latency_ms":120,"service_tier":"batch","user":"ann\\u00e9"}

            {"id":"c","timestamp":"2026-10-01","provider":"self-hosted","model":"nvidia-h100","gpu_seconds":3600,"source":"dcgm"}
            {"id":"d","timestamp":"2026-10-01","provider":"self-hosted","model":"llama","gpu_seconds":0.000250,"input":9}
            {"id":"e","timestamp":"2026-10-01","provider":"self-hosted","model":"llama","gpu_seconds":"1.5"}
            """, suffix: "jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await run(path, format: .jsonl)
        #expect(result.errors.isEmpty, "\(result.errors)")
        #expect(result.summary.rows == 5)
        #expect(result.events.map(\.id) == ["a", "b", "c", "d", "e"])
        #expect(result.events[0].tokens == TokenCounts(input: 10, cacheRead: 5, output: 2))
        #expect(result.events[0].tags == ["env": "prod", "n": "3"])
        #expect(result.events[0].source == "import")
        #expect(result.events[1].timestamp.iso8601 == "2026-10-01T08:00:01.5Z")
        #expect(result.events[1].outcome == .retried)
        #expect(result.events[1].serviceTier == .batch)
        #expect(result.events[1].attribution.user == "annÃ©".replacingOccurrences(of: "Ã©", with: "é"))
        #expect(result.events[2].resources.gpuMicroseconds == 3_600_000_000)
        // GPU time is kept to the microsecond: a call's share of a GPU, written as decimal seconds.
        #expect(result.events[3].resources.gpuMicroseconds == 250)
        #expect(result.events[4].resources.gpuMicroseconds == 1_500_000)
        #expect(result.events[2].source == "dcgm")
    }

    @Test func reportsEveryBadRowWithLineFieldAndReason() async throws {
        let path = try write(
            """
            {"id":"ok","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","input":1}
            {"id":"t","timestamp":"2026-10-01T10:00","provider":"openai","model":"gpt-4o"}
            {"id":"n","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","output":"12x"}
            {"id":"f","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","output":1.5}
            {"id":"u","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tem":"x"}
            {"id":"o","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","outcome":"maybe"}
            {"id":"m","timestamp":"2026-10-01T10:00:00Z","model":"gpt-4o"}
            {"id":"trunc","timestamp":"2026-10-01T10:00:00Z","provider":"op
            not json at all
            {"id":"d","id":"e","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o"}
            {"id":"g","timestamp":"2026-10-01T10:00:00Z","provider":"self-hosted","model":"l","gpu_seconds":0.0000001}
            {"id":"h","timestamp":"2026-10-01T10:00:00Z","provider":"self-hosted","model":"l","gpu_seconds":-2}
            {"id":"i","timestamp":"2026-10-01T10:00:00Z","provider":"self-hosted","model":"l","gpu_seconds":99999999999999}
            """, suffix: "jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await run(path, format: .jsonl)
        #expect(result.events.map(\.id) == ["ok"])
        #expect(result.summary.rejected == 12)
        let byLine = Dictionary(uniqueKeysWithValues: result.errors.map { ($0.line!, $0) })
        #expect(byLine[2]?.field == "timestamp")
        #expect(byLine[3]?.field == "output")
        #expect(byLine[3]?.reason.contains("12x") == true)
        #expect(byLine[4]?.reason.contains("whole number") == true)
        #expect(byLine[5]?.field == "tem")
        #expect(byLine[5]?.reason.contains("Did you mean 'team'?") == true)
        #expect(byLine[6]?.field == "outcome")
        #expect(byLine[7]?.field == "provider")
        #expect(byLine[8]?.reason.contains("truncated") == true)
        #expect(byLine[9]?.reason.contains("expected a JSON object") == true)
        #expect(byLine[10]?.reason.contains("appears twice") == true)
        #expect(byLine[11]?.field == "gpu_seconds")
        #expect(byLine[11]?.reason.contains("at most 6 decimal places") == true)
        #expect(byLine[12]?.reason.contains("must not be negative") == true)
        #expect(byLine[13]?.reason.contains("too large") == true)
        #expect(result.errors.allSatisfy { $0.file == path })
        #expect(byLine[2]!.description.hasPrefix("\(path):2: field 'timestamp': "))
    }

    @Test func readsEachMemberOnceWhereverItIsAndWhateverItsSpelling() async throws {
        let path = try write(
            #"""
            {"id":"a","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","te\u0061m":"search","tokens":{"outp\u0075t":4,"input":null}}
            {"id":"b","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"input":1,"input":2}}
            {"id":"c","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"inptu":1}}
            {"id":"d","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"input":1},"input":2}
            {"id":"e","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":7}
            {"id":"f","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"input":1},"tokens":{"output":1}}
            {"id":"g","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":null,"output":3,"region":" eu-west-1 "}
            {"id":"h","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"input":1}
            """#, suffix: "jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await run(path, format: .jsonl)
        #expect(result.events.map(\.id) == ["a", "g"])
        #expect(result.events[0].attribution.team == "search")
        #expect(result.events[0].tokens[.output] == 4 && result.events[0].tokens[.input] == 0)
        #expect(result.events[1].tokens[.output] == 3)
        #expect(result.events[1].region == "eu-west-1")
        let byLine = Dictionary(uniqueKeysWithValues: result.errors.map { ($0.line!, $0) })
        #expect(byLine[2]?.reason.contains("field 'input' appears twice") == true)
        #expect(byLine[3]?.field == "tokens.inptu")
        #expect(byLine[3]?.reason.contains("unknown token kind") == true)
        #expect(byLine[4]?.field == "input")
        #expect(byLine[4]?.reason.contains("both flat and inside 'tokens'") == true)
        #expect(byLine[5]?.field == "tokens")
        #expect(byLine[5]?.reason.contains("must be an object") == true)
        #expect(byLine[6]?.reason.contains("field 'tokens' appears twice") == true)
        #expect(byLine[8]?.reason.contains("truncated") == true)
    }

    @Test func fieldPositionsNameTheirFields() {
        typealias Field = EventRowDecoder.Field
        let named: [(Int, String)] = [
            (Field.id, "id"), (Field.timestamp, "timestamp"), (Field.source, "source"), (Field.provider, "provider"),
            (Field.model, "model"), (Field.region, "region"), (Field.serviceTier, "service_tier"),
            (Field.outcome, "outcome"), (Field.latency, "latency_ms"), (Field.tokens, "tokens"), (Field.tags, "tags"),
            (Field.gpuSeconds, "gpu_seconds"), (Field.storageByteHours, "storage_byte_hours"),
            (Field.requests, "requests"),
        ]
        for (position, name) in named { #expect(EventRowDecoder.knownFields[position] == name) }
        let fields = EventRowDecoder.knownFields
        #expect(Array(fields[Field.firstToken..<Field.firstDimension]) == TokenKind.all.map(\.rawValue))
        #expect(Array(fields[Field.firstDimension...]) == AttributionDimension.all.map(\.rawValue))
        for (position, name) in fields.enumerated() {
            #expect(EventRowDecoder.fieldTable.position(of: name) == position)
        }
        #expect(EventRowDecoder.fieldTable.position(of: "tem") == nil)
        #expect(EventRowDecoder.fieldTable.position(of: "") == nil)
    }

    @Test func decodingByNameAndByPositionAgree() async throws {
        let fields: [String: FieldValue] = [
            "id": .string("x"), "timestamp": .string("2026-10-01T10:00:00Z"), "provider": .string("openai"),
            "model": .string("gpt-4o"), "tokens": .object(["input": .integer(5), "cache_read": .string("2")]),
            "cost_centre": .string("CC-1"), "environment": .string("prod"), "requests": .integer(3),
            "latency_ms": .integer(90), "tags": .object(["a": .string("b")]), "storage_byte_hours": .integer(7),
        ]
        let line = try #require(String(data: JSONEncoder().encode(fields), encoding: .utf8))
        let path = try write(line, suffix: "jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let byName = try EventRowDecoder().decode(fields) { "unused" }
        #expect(byName.tokens[.input] == 5 && byName.tokens[.cacheRead] == 2)
        #expect(byName.attribution.costCentre == "CC-1" && byName.attribution.environment == "prod")
        #expect(byName.requests == 3 && byName.latencyMilliseconds == 90 && byName.resources.storageByteHours == 7)
        #expect(byName.tags == ["a": "b"])
        let fromFile = try await run(path, format: .jsonl)
        #expect(fromFile.events == [byName])
    }

    @Test func encodedEventsReadBackTheSame() async throws {
        var full = UsageEvent(
            id: "e\"1", timestamp: Timestamp(microseconds: 1_790_000_000_123_400), source: "gateway",
            provider: "openai", model: "gpt-4o", region: "eu", serviceTier: .priority,
            tokens: TokenCounts(input: 10, cacheRead: 5, cacheWrite: 1, cacheWrite1h: 2, output: 3, reasoning: 4),
            resources: ResourceUsage(gpuMicroseconds: 7_000_250, storageByteHours: 9), outcome: .estimated,
            latencyMilliseconds: 42, tags: ["quote": "say \"hi\"", "line": "a\nb\tc\u{1}", "ü": "ß"])
        full.requests = 3
        for dimension in AttributionDimension.all { full.attribution[dimension] = "\(dimension.rawValue) \\ é" }
        let bare = UsageEvent(
            id: "e2", timestamp: Timestamp(microseconds: 1_790_000_000_000_000), provider: "anthropic",
            model: "claude-haiku-4-5")
        let lines = [full, bare].map { EventJSONLine.encode($0) }
        #expect(
            lines[1]
                == #"{"id":"e2","timestamp":"2026-09-21T14:13:20Z","source":"import","provider":"anthropic","model":"claude-haiku-4-5","outcome":"ok","tokens":{}}"#
        )
        let path = try write(lines.joined(separator: "\n"), suffix: "jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let read = try await run(path, format: .jsonl)
        #expect(read.errors.isEmpty, "\(read.errors)")
        #expect(read.events == [full, bare])
    }

    @Test func readsCSVWithQuotesAndMultilineFields() async throws {
        let path = try write(
            "id,timestamp,provider,model,input,output,team,tags,feature\r\n"
                + "a,2026-10-01T10:00:00Z,openai,gpt-4o,100,20,search,env=prod;tier=gold,\"summary, long\"\r\n"
                + "b,2026-10-01T11:00:00Z,openai,gpt-4o,5,,,\"{\"\"env\"\":\"\"dev\"\"}\",\"multi\nline\"\n"
                + "c,2026-10-01T11:00:00Z,openai,gpt-4o,x,1,,,\n"
                + "d,2026-10-01T11:00:00Z,openai\n"
                + "e,2026-10-01T12:00:00Z,openai,gpt-4o,1,1,,,\n",
            suffix: "csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await run(path, format: .csv)
        #expect(result.events.map(\.id) == ["a", "b", "e"])
        #expect(result.events[0].attribution.feature == "summary, long")
        #expect(result.events[0].tags == ["env": "prod", "tier": "gold"])
        #expect(result.events[1].tags == ["env": "dev"])
        #expect(result.events[1].attribution.feature == "multi\nline")
        #expect(result.events[1].attribution.team == nil)
        #expect(result.errors.map(\.line) == [5, 6])
        #expect(result.errors[0].field == "input")
        #expect(result.errors[1].reason.contains("has 3 fields but the header has 9"))
    }

    @Test func unknownCSVColumnsStopTheFileWithAHint() async throws {
        let path = try write("id,timestamp,provider,modle\na,2026-10-01T10:00:00Z,openai,gpt-4o\n", suffix: "csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = await #expect(throws: IngestError.self) { try await run(path, format: .csv) }
        #expect(error?.field == "modle")
        #expect(error?.reason.contains("Did you mean 'model'?") == true)
        #expect(error?.line == 1)
    }

    @Test func rowsWithoutIdsGetStableIds() async throws {
        let text = """
            {"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","input":1}
            {"timestamp":"2026-10-01T10:00:01Z","provider":"openai","model":"gpt-4o","input":1}
            """
        let first = try write(text, suffix: "jsonl")
        let second = try write(text, suffix: "jsonl")
        defer {
            try? FileManager.default.removeItem(atPath: first)
            try? FileManager.default.removeItem(atPath: second)
        }
        let a = try await run(first, format: .jsonl)
        let b = try await run(second, format: .jsonl)
        #expect(a.events.map(\.id) == b.events.map(\.id))
        #expect(Set(a.events.map(\.id)).count == 2)
        #expect(a.events[0].id.hasPrefix("row-"))
    }

    @Test func missingFilesAreClearErrors() async throws {
        let error = await #expect(throws: IngestError.self) { try await run("/no/such/file.jsonl", format: .jsonl) }
        #expect(error?.description.contains("/no/such/file.jsonl") == true)
    }

    @Test func formatDetection() {
        #expect(EventFileImporter.Format.detect(path: "x.NDJSON", firstByte: nil) == .jsonl)
        #expect(EventFileImporter.Format.detect(path: "x.csv", firstByte: nil) == .csv)
        #expect(EventFileImporter.Format.detect(path: "x.log", firstByte: UInt8(ascii: "{")) == .jsonl)
        #expect(EventFileImporter.Format.detect(path: "x.log", firstByte: UInt8(ascii: "i")) == nil)
    }
}

@Suite struct DemoGeneratorTests {
    @Test func demoIsReproducibleAndRealistic() async throws {
        var configuration = DemoGenerator.Configuration(end: Timestamp(parsing: "2026-11-23")!)
        configuration.events = 6_000
        var first: [UsageEvent] = []
        var second: [UsageEvent] = []
        _ = try await DemoGenerator(configuration: configuration).generate(batchSize: 700) { first += $0 }
        let summary = try await DemoGenerator(configuration: configuration).generate { second += $0 }
        #expect(first == second)
        #expect(first.count > 5_500 && first.count < 7_500)
        #expect(Set(first.map(\.id)).count == first.count)
        #expect(
            first.allSatisfy { $0.timestamp < configuration.end && $0.timestamp >= Timestamp(parsing: "2026-08-25")! })
        #expect(Set(first.compactMap(\.attribution.team)).count == 10)
        #expect(Set(first.compactMap(\.attribution.customer)).count >= 20)
        #expect(Set(first.map(\.provider)).count >= 7)
        #expect(first.contains { $0.outcome == .error } && first.contains { $0.outcome == .retried })
        #expect(first.contains { $0.tokens.cacheRead > 0 } && first.contains { $0.tokens.reasoning > 0 })
        #expect(first.filter { $0.tags["incident"] == "runaway-agent" }.count >= 300)
        let weekday = first.filter { ![0, 6].contains($0.timestamp.weekday) }.count
        #expect(weekday > first.count * 3 / 4, "weekdays are busier")
        #expect(summary.modelSwitchDay < summary.runawayAgentDay)
        let drafts = first.filter { $0.attribution.feature == "email-draft" }
        #expect(drafts.filter { $0.timestamp < summary.modelSwitchDay }.allSatisfy { $0.model == "gpt-4.1-mini" })
        #expect(drafts.filter { $0.timestamp >= summary.modelSwitchDay }.allSatisfy { $0.model == "claude-sonnet-4-5" })
    }
}
