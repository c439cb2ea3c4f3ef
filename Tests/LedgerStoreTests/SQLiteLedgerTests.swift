import Foundation
import GRDB
import LedgerCatalogData
import LedgerCore
import Testing

@testable import LedgerStore

/// A ledger in a fresh temporary file, removed afterwards.
struct TemporaryLedger {
    let directory: URL
    let ledger: SQLiteLedger

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tokenledger-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        ledger = try SQLiteLedger(path: directory.appendingPathComponent("ledger.sqlite").path)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite struct SQLiteLedgerTests {
    static let catalog = try! BundledCatalog.load()

    func rated(_ events: [UsageEvent]) -> [RatedEvent] {
        var rater = Rater(catalog: Self.catalog)
        return events.map { rater.rate($0) }
    }

    /// GPU time of team x, with no request.
    func gpuEvent(microseconds: Int64) -> UsageEvent {
        var gpu = UsageEvent(
            id: "g", timestamp: Timestamp(parsing: "2026-10-01T10:00:00Z")!, provider: "self-hosted",
            model: "nvidia-h100")
        gpu.requests = 0
        gpu.resources.gpuMicroseconds = microseconds
        gpu.attribution.team = "x"
        return gpu
    }

    func event(
        _ id: String, _ at: String, team: String?, model: String = "gpt-4o", input: Int64 = 1_000,
        outcome: Outcome = .ok,
        user: String? = nil, session: String? = nil, region: String? = nil
    ) -> UsageEvent {
        UsageEvent(
            id: id, timestamp: Timestamp(parsing: at)!, provider: "openai", model: model, region: region,
            tokens: TokenCounts(input: input, output: 100),
            outcome: outcome, latencyMilliseconds: 100,
            attribution: Attribution(team: team, user: user, session: session))
    }

    @Test func theLedgerRunsTheSQLiteCompiledIntoTheProgram() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        // Not the system's library (Debian 12 has 3.40): the vendored copy the recording figures
        // were measured on.
        let connected = try await temporary.ledger.connectedSQLiteVersion()
        #expect(connected == SQLiteLedger.sqliteVersion)
        let parts = connected.split(separator: ".").compactMap { Int($0) }
        #expect(parts.count == 3)
        #expect(parts.lexicographicallyPrecedes([3, 54, 0]) == false, "SQLite \(connected) is older than 3.54")
    }

    @Test func eventsWithoutRequestsReachTheRollups() async throws {
        // Provider usage reports without request counts and resource events (GPU time, storage)
        // carry requests: 0; their tokens and cost still count, once, in every report.
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        var report = event("r", "2026-10-01T10:00:00Z", team: "x", input: 1_000_000)
        report.requests = 0
        let gpu = gpuEvent(microseconds: 3_600_000_000)
        let events = rated([report, gpu])
        _ = try await temporary.ledger.record(events)
        _ = try await temporary.ledger.record(events)
        let byTeam = try await temporary.ledger.report(
            ReportQuery(
                from: Timestamp(parsing: "2026-10-01")!, to: Timestamp(parsing: "2026-11-01")!,
                groupBy: [.attribution(.team)]))
        #expect(byTeam.rows.count == 1)
        #expect(byTeam.totals.tokens.input == 1_000_000 && byTeam.totals.resources.gpuMicroseconds == 3_600_000_000)
        #expect(byTeam.totals.cost == events[0].cost + events[1].cost)
        #expect(byTeam.totals.requests == 0)
    }

    @Test func aLedgerFromBeforeMicrosecondGPUTimeKeepsItsGPUHours() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        let path = temporary.directory.appendingPathComponent("old.sqlite").path
        // A ledger as v5 left it: GPU time in whole seconds, in the events and their rollups.
        let gpu = gpuEvent(microseconds: 5_400_000_000)
        do {
            let ledger = try SQLiteLedger(path: path)
            _ = try await ledger.record(rated([gpu]))
        }
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            for table in ["events", "rollup_hour", "rollup_day", "rollup_day_actor"] {
                try db.execute(sql: "ALTER TABLE \(table) RENAME COLUMN gpu_us TO gpu_seconds")
                try db.execute(sql: "UPDATE \(table) SET gpu_seconds = gpu_seconds / 1000000")
            }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v6-gpu-microseconds'")
        }
        try queue.close()
        let ledger = try SQLiteLedger(path: path)
        let report = try await ledger.report(
            ReportQuery(
                from: Timestamp(parsing: "2026-10-01")!, to: Timestamp(parsing: "2026-11-01")!,
                groupBy: [.attribution(.team)]))
        #expect(report.totals.resources.gpuMicroseconds == 5_400_000_000)
        #expect(try await ledger.event(id: "g")?.event.resources.gpuMicroseconds == 5_400_000_000)
    }

    @Test func recordingTheSameEventTwiceCountsOnce() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        let events = rated([
            event("a", "2026-10-01T10:00:00Z", team: "x"), event("b", "2026-10-01T11:00:00Z", team: "y"),
        ])
        let first = try await temporary.ledger.record(events)
        #expect(first == RecordSummary(inserted: 2, duplicates: 0))
        let second = try await temporary.ledger.record(events + rated([event("c", "2026-10-02T11:00:00Z", team: "y")]))
        #expect(second == RecordSummary(inserted: 1, duplicates: 2))
        let report = try await temporary.ledger.report(
            ReportQuery(from: Timestamp(parsing: "2026-10-01")!, to: Timestamp(parsing: "2026-11-01")!))
        #expect(report.totals.requests == 3)
        // The duplicates are taken back out of the rollups whole: tokens, latency and cost too.
        #expect(report.totals.tokens == TokenCounts(input: 3_000, output: 300))
        #expect(report.totals.latencyMillisecondsSum == 300 && report.totals.latencyCount == 3)
        #expect(
            report.totals.cost == events.map(\.cost).reduce(.zero, +)
                + rated([event("c", "2026-10-02T11:00:00Z", team: "y")])[0].cost)
        let statistics = try await temporary.ledger.statistics()
        #expect(statistics.events == 3)
        #expect(statistics.cost == report.totals.cost)
    }

    @Test func aBadEventWritesNothingFromItsBatch() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        var bad = event("bad", "2026-10-01T10:00:00Z", team: "x")
        bad.tokens.output = -1
        await #expect(throws: LedgerStoreError.self) {
            try await temporary.ledger.record(rated([event("ok", "2026-10-01T09:00:00Z", team: "x"), bad]))
        }
        #expect(try await temporary.ledger.statistics().events == 0)
        let report = try await temporary.ledger.report(
            ReportQuery(from: Timestamp(parsing: "2026-10-01")!, to: Timestamp(parsing: "2026-10-02")!))
        #expect(report.totals.requests == 0, "rollups roll back with the events")
    }

    @Test func rollupsAgreeWithRawEvents() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        var events: [UsageEvent] = []
        let teams = ["search", "support", nil]
        let models = ["gpt-4o", "gpt-4.1-mini", "o3", "unknown-model-x"]
        for index in 0..<600 {
            let hour = index % 72
            let at = Timestamp(parsing: "2026-10-30T00:00:00Z")!.adding(
                seconds: Int64(hour) * 3_600 + Int64(index % 60) * 7)
            var item = event(
                "e\(index)", at.iso8601, team: teams[index % 3], model: models[index % 4],
                input: Int64(index * 37 % 5_000),
                outcome: index % 17 == 0 ? .error : (index % 23 == 0 ? .retried : .ok), user: "u\(index % 9)",
                session: "s\(index % 40)",
                region: index % 2 == 0 ? "eu" : "us")
            item.tokens.cacheRead = Int64(index % 11) * 100
            events.append(item)
        }
        _ = try await temporary.ledger.record(rated(events))
        let from = Timestamp(parsing: "2026-10-30")!
        let to = Timestamp(parsing: "2026-11-02")!
        let day = try await temporary.ledger.report(
            ReportQuery(from: from, to: to, groupBy: [.attribution(.team), .model]))
        #expect(day.servedFrom == "rollup_day")
        // `region` is not in the rollups, so this one reads the raw events.
        let raw = try await temporary.ledger.report(
            ReportQuery(from: from, to: to, groupBy: [.attribution(.team), .model, .region]))
        #expect(raw.servedFrom == "events")
        let hourly = try await temporary.ledger.report(
            ReportQuery(from: from, to: to, groupBy: [.attribution(.team)], granularity: .hour))
        #expect(hourly.servedFrom == "rollup_hour")
        let actor = try await temporary.ledger.report(ReportQuery(from: from, to: to, groupBy: [.attribution(.user)]))
        #expect(actor.servedFrom == "rollup_day_actor")
        let unaligned = try await temporary.ledger.report(
            ReportQuery(from: from.adding(seconds: 1), to: to, groupBy: [.attribution(.team)]))
        #expect(unaligned.servedFrom == "events")

        let expectedCost = rated(events).reduce(Cost.zero) { $0 + $1.cost }
        for report in [day, raw, hourly, actor] {
            #expect(report.totals.cost == expectedCost)
            #expect(report.totals.requests == 600)
            #expect(report.totals.users == 9)
            #expect(report.totals.sessions == 40)
            #expect(report.totals.unpricedEvents == 150)
            #expect(
                report.rows.reduce(Cost.zero) { $0 + $1.metrics.cost } == report.totals.cost,
                "rows reconcile with totals")
            #expect(report.rows.reduce(Int64(0)) { $0 + $1.metrics.requests } == 600)
        }
        // The same groups from the rollup and from the raw events.
        var rawByKey: [[String?]: ReportMetrics] = [:]
        for row in raw.rows { rawByKey[Array(row.keys.prefix(2)), default: ReportMetrics()].add(row.metrics) }
        for row in day.rows {
            let other = try #require(rawByKey[row.keys])
            #expect(other.cost == row.metrics.cost)
            #expect(other.tokens == row.metrics.tokens)
            #expect(other.failed == row.metrics.failed)
            #expect(other.wastedCost == row.metrics.wastedCost)
        }
        #expect(day.totals.failed == Int64(events.filter { $0.outcome == .error }.count))
        #expect(unaligned.totals.requests < 600)
    }

    @Test func filtersGranularityAndTop() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        var events: [UsageEvent] = []
        for index in 0..<90 {
            events.append(
                event(
                    "f\(index)", "2026-0\(index % 3 + 7)-1\(index % 9)T12:00:00Z",
                    team: ["a", "b", "c", "d"][index % 4], input: Int64(1_000 * (index % 4 + 1))))
        }
        _ = try await temporary.ledger.record(rated(events))
        let from = Timestamp(parsing: "2026-07-01")!
        let to = Timestamp(parsing: "2026-10-01")!
        let monthly = try await temporary.ledger.report(
            ReportQuery(from: from, to: to, groupBy: [.attribution(.team)], granularity: .month, top: 2))
        #expect(Set(monthly.rows.compactMap { monthly.periodLabel($0.period) }) == ["2026-07", "2026-08", "2026-09"])
        #expect(monthly.rows.filter { $0.isOther }.count == 3)
        #expect(monthly.rows.reduce(Cost.zero) { $0 + $1.metrics.cost } == monthly.totals.cost)
        let filtered = try await temporary.ledger.report(
            ReportQuery(from: from, to: to, filters: [.attribution(.team): "d"]))
        #expect(filtered.totals.requests == Int64(events.filter { $0.attribution.team == "d" }.count))
        let unallocated = try await temporary.ledger.report(
            ReportQuery(from: from, to: to, filters: [.attribution(.team): ""]))
        #expect(unallocated.totals.requests == 0)
        await #expect(throws: LedgerStoreError.self) {
            try await temporary.ledger.report(ReportQuery(from: to, to: from))
        }
    }

    @Test func tagsCanBeGroupedAndFiltered() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        var tagged = event("t1", "2026-10-01T10:00:00Z", team: "x")
        tagged.tags = ["env": "prod"]
        var other = event("t2", "2026-10-01T10:00:00Z", team: "x")
        other.tags = ["env": "dev"]
        _ = try await temporary.ledger.record(rated([tagged, other, event("t3", "2026-10-01T10:00:00Z", team: "x")]))
        let report = try await temporary.ledger.report(
            ReportQuery(
                from: Timestamp(parsing: "2026-10-01")!, to: Timestamp(parsing: "2026-10-02")!, groupBy: [.tag("env")]))
        #expect(Set(report.rows.map { $0.keys[0] }) == ["prod", "dev", nil])
        let prod = try await temporary.ledger.report(
            ReportQuery(
                from: Timestamp(parsing: "2026-10-01")!, to: Timestamp(parsing: "2026-10-02")!,
                filters: [.tag("env"): "prod"]))
        #expect(prod.totals.requests == 1)
    }

    @Test func thousandsOfEventsAtOneInstantAndExactTimeBoundaries() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        // A provider export's daily buckets: many rows share one timestamp.
        let midnight = "2026-10-02T00:00:00Z"
        var events = (0..<5_000).map { event("bucket-\($0)", midnight, team: "x", region: "eu") }
        events.append(event("before", "2026-10-01T23:59:59.999999Z", team: "x", region: "eu"))
        events.append(event("after", "2026-10-02T00:00:00.000001Z", team: "x", region: "eu"))
        let first = try await temporary.ledger.record(rated(events))
        #expect(first.inserted == 5_002)
        let again = try await temporary.ledger.record(rated(events))
        #expect(again == RecordSummary(inserted: 0, duplicates: 5_002))
        // `region` forces the raw events; the boundaries are exact to the microsecond.
        let at = Timestamp(parsing: midnight)!
        func requests(_ from: Timestamp, _ to: Timestamp) async throws -> Int64 {
            try await temporary.ledger.report(ReportQuery(from: from, to: to, groupBy: [.region])).totals.requests
        }
        #expect(try await requests(at, at.adding(seconds: 1)) == 5_001)
        #expect(try await requests(Timestamp(microseconds: at.microseconds - 1), at) == 1)
        #expect(try await requests(at, Timestamp(microseconds: at.microseconds + 1)) == 5_000)
        let statistics = try await temporary.ledger.statistics()
        #expect(statistics.first?.iso8601 == "2026-10-01T23:59:59.999999Z")
        #expect(statistics.last?.iso8601 == "2026-10-02T00:00:00.000001Z")
    }

    @Test func reopeningKeepsEverything() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        _ = try await temporary.ledger.record(rated([event("r", "2026-10-01T10:00:00Z", team: "x")]))
        let reopened = try SQLiteLedger(path: temporary.ledger.path)
        #expect(try await reopened.statistics().events == 1)
        #expect(throws: LedgerStoreError.self) { try SQLiteLedger(path: "/nonexistent-directory/ledger.sqlite") }
    }
}

@Suite struct WriteAheadLogTests {
    @Test func theLogIsCheckpointedAwayFromTheWriterAndStartsAgainFromItsBeginning() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tokenledger-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("ledger.sqlite").path
        // 32 pages of 16 KiB between checkpoints; each batch below writes a few dozen.
        let ledger = try SQLiteLedger(path: path, checkpointPages: 32)
        var rater = Rater(catalog: SQLiteLedgerTests.catalog)
        let batches = (0..<60).map { batch in
            (0..<1_000).map { index in
                rater.rate(
                    UsageEvent(
                        id: "e-\(batch)-\(index)",
                        timestamp: Timestamp(seconds: 1_790_000_000 + Int64(batch * 1_000 + index)),
                        provider: "openai", model: "gpt-4o", tokens: TokenCounts(input: 100, output: 10),
                        attribution: Attribution(
                            team: "t\(index % 7)", user: "u\(index % 50)", session: "s-\(batch)-\(index / 10)")))
            }
        }
        // Four at a time, so the writer goes from one transaction to the next without a pause (the
        // log only starts again if the writer itself finishes each checkpoint), without filling
        // the shared thread pool with the batches' preparation.
        let watching = Task {
            var largest: Int64 = 0
            while !Task.isCancelled {
                let size = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int64) ?? 0
                largest = max(largest, size)
                try? await Task.sleep(for: .milliseconds(2))
            }
            return largest
        }
        let recorded = try await withThrowingTaskGroup(of: Int.self) { group in
            var total = 0
            for (index, events) in batches.enumerated() {
                if index >= 4 { total += try await group.next() ?? 0 }
                group.addTask { try await ledger.record(events).inserted }
            }
            return try await group.reduce(total, +)
        }
        watching.cancel()
        let largestLog = await watching.value
        #expect(recorded == 60_000)
        #expect(ledger.checkpoints >= 2, "the checkpointer never ran")
        // The run writes about 60 MB of log: without restarts the log keeps every page of it. With
        // them it holds the threshold plus the few transactions committed while a checkpoint ran.
        #expect(largestLog < 12 << 20, "the write-ahead log grew to \(largestLog) bytes")
        let statistics = try await ledger.statistics()
        #expect(statistics.events == 60_000)
    }
}
