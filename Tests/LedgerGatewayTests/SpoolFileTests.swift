import Foundation
import LedgerCatalogData
import LedgerCore
import LedgerStore
import Logging
import Testing

@testable import LedgerGateway

/// The spool segment: lines appended through the mapping and past it, what a crash leaves on
/// disk, and the file cut to its lines when it is finished.
@Suite struct SpoolFileTests {
    private func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tl-spool-\(UUID().uuidString).jsonl").path
    }

    private func onDisk(_ path: String) -> [UInt8] {
        Array(FileManager.default.contents(atPath: path) ?? Data())
    }

    @Test func linesThroughAndPastTheMappingAreKeptInOrder() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var file = try SpoolFile(path: path, capacity: 256 << 10)
        var expected: [UInt8] = []
        // Lines of different lengths until the mapping is passed, so that one line straddles its end.
        var number = 0
        while expected.count < (256 << 10) + 50_000 {
            let pad = String(repeating: "x", count: number % 700)
            let line = Array("{\"id\":\"req-\(number)\",\"pad\":\"\(pad)\"}\n".utf8)
            try line.withUnsafeBytes { try file.append($0) }
            expected += line
            number += 1
        }
        let length = file.length
        #expect(length == expected.count)
        let full = file.isFull
        #expect(full)
        // What a crash of the process would leave: the lines, then at most a zero-filled tail.
        let crashed = onDisk(path)
        #expect(crashed.count >= expected.count)
        #expect(Array(SpoolFile.contents(ofSegment: crashed)) == expected)
        file.finish()
        #expect(onDisk(path) == expected)
    }

    @Test func aSegmentLeftByACrashReadsAsItsLines() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var file = try SpoolFile(path: path)
        let lines = Array("{\"id\":\"a\"}\n{\"id\":\"b\"}\n".utf8)
        try lines.withUnsafeBytes { try file.append($0) }
        let full = file.isFull
        #expect(!full)
        // Making the next page writable changes no byte of the file.
        file.prepareNextPage()
        let crashed = onDisk(path)
        #if os(Linux)
            // The reserved, mapped part of the file is there, zero-filled past the lines.
            #expect(crashed.count == SpoolFile.capacity)
            #expect(crashed[lines.count...].allSatisfy { $0 == 0 })
        #endif
        #expect(Array(SpoolFile.contents(ofSegment: crashed)) == lines)
        // A line cut short by the crash stays cut short (the replay skips it), with nothing after it.
        let torn = Array("{\"id\":\"a\"}\n{\"id\":".utf8)
        #expect(Array(SpoolFile.contents(ofSegment: torn + [0, 0, 0])) == torn)
        file.finish()
        #expect(Array(SpoolFile.contents(ofSegment: onDisk(path))) == lines)
    }

    @Test func aSpoolFileThatCannotBeCreatedSaysWhereAndWhy() {
        let path = "/nonexistent-\(UUID().uuidString)/segment.jsonl"
        #expect {
            _ = try SpoolFile(path: path)
        } throws: { error in
            let message = String(describing: error)
            return message.contains(path) && message.contains("No such file or directory")
        }
    }

    @Test func aSegmentLeftByACrashIsReplayedEachEventOnce() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tl-spool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = try SQLiteLedger(path: directory.appendingPathComponent("ledger.sqlite").path)
        let catalog = try BundledCatalog.load()
        var rater = Rater(catalog: catalog)
        func event(_ number: Int) -> RatedEvent {
            rater.rate(
                UsageEvent(
                    id: "req-\(number)", timestamp: Timestamp(microseconds: 1_790_000_000_000_000 + Int64(number)),
                    source: "gateway", provider: "openai", model: "gpt-4o-mini",
                    tokens: TokenCounts(input: 100, output: 10)))
        }
        let spool = directory.appendingPathComponent("spool").path
        let sink = try UsageSink(directory: spool, ledger: ledger, logger: Logger(label: "test"))
        // Three events are flushed to the ledger; their segment is not full, so it stays and the
        // next two go after them in the same file. Then the process "dies": no flush, no close.
        for number in 0..<3 { try sink.append(event(number)) }
        await sink.flush()
        for number in 3..<5 { try sink.append(event(number)) }
        #expect(try await ledger.event(id: "req-4") == nil)
        let segments = try FileManager.default.contentsOfDirectory(atPath: spool)
        #expect(segments.count == 1)
        // The next start replays the segment: five events read, the two the ledger lacked recorded.
        let replayed = try await UsageSink.replay(directory: spool, ledger: ledger, catalog: catalog, budgets: [])
        #expect(replayed.read == 5 && replayed.recorded == 2)
        for number in 0..<5 {
            #expect(try await ledger.event(id: "req-\(number)")?.cost == event(number).cost)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)
        sink.closeSpool()
    }
}
