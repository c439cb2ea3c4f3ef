import LedgerCore
import Testing

@testable import LedgerIngest

/// The importers' fast path must decode every row it takes exactly as the general way does, and
/// leave every other row to it.
@Suite struct PlainRowDecoderTests {
    static let csvColumns =
        [
            "id", "timestamp", "source", "provider", "model", "region", "service_tier", "outcome", "latency_ms",
            "requests",
        ]
        + TokenKind.all.map(\.rawValue) + AttributionDimension.all.map(\.rawValue) + ["tags", "gpu_seconds"]
    static let csvPositions = csvColumns.map { EventRowDecoder.fieldTable.position(of: $0)! }

    /// What each way makes of a JSON line: the fast path's event (nil when it declines), and the
    /// general way's (nil when it reports an error).
    func decode(json line: [UInt8]) -> (plain: UsageEvent?, general: UsageEvent?) {
        line.withUnsafeBufferPointer { bytes in
            let general = try? EventRowDecoder().decode(RowFields.parse(jsonLine: bytes)) {
                RowIdentity.id(for: bytes)
            }
            return (PlainRowDecoder().decode(jsonLine: bytes), general)
        }
    }

    func decode(csv record: [UInt8]) -> (plain: UsageEvent?, general: UsageEvent?) {
        record.withUnsafeBufferPointer { bytes in
            let importer = EventFileImporter(path: "rows.csv", format: .csv)
            let general = try? importer.decodeCSVRecord(bytes, lineNumber: 2, positions: Self.csvPositions).get()
            return (PlainRowDecoder().decode(csvRecord: bytes, positions: Self.csvPositions), general)
        }
    }

    func csvRecord(_ event: UsageEvent) -> String {
        var fields = [
            event.id, event.timestamp.iso8601, event.source, event.provider, event.model, event.region ?? "",
            event.serviceTier.rawValue, event.outcome.rawValue, event.latencyMilliseconds.map(String.init) ?? "",
            String(event.requests),
        ]
        fields += TokenKind.all.map { event.tokens[$0] == 0 ? "" : String(event.tokens[$0]) }
        fields += AttributionDimension.all.map { event.attribution[$0] ?? "" }
        fields.append(event.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";"))
        fields.append(event.resources.gpuMicroseconds == 0 ? "" : event.resources.gpuSecondsText)
        return fields.joined(separator: ",")
    }

    func demoEvents(_ count: Int) async throws -> [UsageEvent] {
        var configuration = DemoGenerator.Configuration(end: Timestamp(year: 2026, month: 10, day: 1))
        configuration.events = count
        configuration.days = 10
        var events: [UsageEvent] = []
        _ = try await DemoGenerator(configuration: configuration).generate { events += $0 }
        return events
    }

    @Test func exportedRowsTakeTheFastPathAndDecodeAsTheGeneralWayDoes() async throws {
        let events = try await demoEvents(2_000)
        #expect(events.count > 1_500)
        for (index, event) in events.enumerated() {
            if index % 100 == 0 { await Task.yield() }
            let json = decode(json: Array(EventJSONLine.encode(event).utf8))
            #expect(json.plain != nil, "declined \(EventJSONLine.encode(event))")
            #expect(json.plain == json.general)
            #expect(json.plain == event)
            let csv = decode(csv: Array(csvRecord(event).utf8))
            #expect(csv.plain != nil, "declined \(csvRecord(event))")
            #expect(csv.plain == csv.general)
        }
    }

    @Test func rowsWithoutAnIDGetTheSameContentIDEitherWay() {
        let line = Array(#"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","input":3}"#.utf8)
        let decoded = decode(json: line)
        #expect(decoded.plain != nil)
        #expect(decoded.plain?.id.hasPrefix("row-") == true)
        #expect(decoded.plain == decoded.general)
    }

    @Test(arguments: [
        // Accepted by the general way only after decoding, trimming or converting a value.
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","user":"ann\u00e9"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","team":" search"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","outcome":"OK"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","service_tier":"Batch"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","id":7}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tags":{"n":3}}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tags":"a = b"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","input":"+5"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":null}"#,
        // Errors, which only the general way can explain.
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","latency_ms":-1}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","latency_ms":1.5}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","input":99999999999999999999}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","team":"a","team":"b"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","colour":"red"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","input":1,"tokens":{"output":2}}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"input":1,"input":2}}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tokens":{"words":1}}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o","tags":{"a":"1","a":"2"}}"#,
        #"{"timestamp":"2026-13-01T10:00:00Z","provider":"openai","model":"gpt-4o"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai"}"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o"} x"#,
        #"{"timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o""#,
    ])
    func rowsThatNeedTheGeneralWayAreLeftToIt(line: String) {
        #expect(decode(json: Array(line.utf8)).plain == nil)
    }

    @Test func everyOneByteChangeToARowDecodesAlikeOrIsLeftToTheGeneralWay() async throws {
        let replacements: [UInt8?] = [nil] + Array(#" "\,}{:09-xn;="#.utf8) + [0xC3, 0x00, 0x0A]
        var taken = 0
        var tried = 0
        for event in try await demoEvents(400).prefix(3) {
            for (row, decode) in [
                (Array(EventJSONLine.encode(event).utf8), decode(json:)),
                (Array(csvRecord(event).utf8), decode(csv:)),
            ] {
                for index in row.indices {
                    // Long and all on one thread of the shared pool: let the other tests' tasks run.
                    await Task.yield()
                    for replacement in replacements {
                        var changed = row
                        if let replacement { changed[index] = replacement } else { changed.remove(at: index) }
                        let result = decode(changed)
                        tried += 1
                        guard let plain = result.plain else { continue }
                        taken += 1
                        #expect(
                            plain == result.general,
                            "the two ways disagree on \(String(decoding: changed, as: UTF8.self))")
                    }
                }
            }
        }
        // Many changes (a digit of a count, a letter of a name) leave the row plain.
        #expect(taken > tried / 10)
        #expect(taken < tried)
    }
}
