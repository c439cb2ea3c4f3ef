import Foundation
import LedgerCatalogData
import LedgerCore
import LedgerStore
import Testing

@Suite struct AllocationTests {
    static let catalog = try! BundledCatalog.load()
    let october = BillingPeriod(year: 2026, month: 10)

    func rated(_ events: [UsageEvent]) -> [RatedEvent] {
        var rater = Rater(catalog: Self.catalog)
        return events.map { rater.rate($0) }
    }

    func event(_ id: String, day: Int, team: String?, feature: String? = nil, tags: [String: String] = [:])
        -> UsageEvent
    {
        UsageEvent(
            id: id, timestamp: Timestamp(year: 2026, month: 10, day: day, hour: 12), provider: "openai",
            model: "gpt-4o", tokens: TokenCounts(input: 1_000_000, output: 0),
            attribution: Attribution(team: team, feature: feature), tags: tags)
    }

    func byTeam(_ ledger: SQLiteLedger) async throws -> [String: Cost] {
        let report = try await ledger.report(
            ReportQuery(from: october.start, to: october.end, groupBy: [.attribution(.team)]))
        return Dictionary(uniqueKeysWithValues: report.rows.map { ($0.keys[0] ?? "(unallocated)", $0.metrics.cost) })
    }

    static let rules = AllocationRuleSet(rules: [
        AllocationRule(
            id: "search-feature", when: .field(.attribution(.feature), .prefix("search")),
            assignments: [.team: "search"]),
        AllocationRule(
            id: "vip-tag", when: .field(.tag("owner"), .equals("platform")), assignments: [.team: "platform"],
            override: true, effectiveFrom: Timestamp(year: 2026, month: 10, day: 15)),
    ])

    @Test func rulesAllocateAPeriodAndReportsFollow() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        let ledger = temporary.ledger
        let events = rated([
            event("a", day: 2, team: nil, feature: "search-box"),  // → search (rule 1)
            event("b", day: 3, team: nil),  // stays unallocated
            event("c", day: 4, team: "ads", feature: "search-ads"),  // keeps ads (no override)
            event("d", day: 10, team: "ads", tags: ["owner": "platform"]),  // before vip-tag starts: ads
            event("e", day: 20, team: "ads", tags: ["owner": "platform"]),  // → platform (override)
            event("f", day: 21, team: nil, feature: "search-x", tags: ["owner": "platform"]),  // first rule wins
        ])
        _ = try await ledger.record(events)
        let unit = events[0].cost
        #expect(unit.picodollars > 0)
        #expect(try await byTeam(ledger) == ["(unallocated)": unit + unit + unit, "ads": unit + unit + unit])

        let preview = try await ledger.previewAllocation(period: october, rules: Self.rules)
        #expect(preview.eventLevel)
        #expect(preview.movedRequests == 3 && preview.movedCost == unit + unit + unit)
        #expect(preview.rules.map(\.movedRequests) == [2, 1])
        #expect(preview.unallocated[.team] == unit)
        // A preview writes nothing.
        #expect(try await byTeam(ledger)["ads"] == unit + unit + unit)

        let version = try await ledger.saveAllocationRules(Self.rules, at: .init(seconds: 0))
        let first = try await ledger.allocate(
            period: october, rules: Self.rules, version: version, at: .init(seconds: 1))
        let expected = ["search": unit + unit, "(unallocated)": unit, "ads": unit + unit, "platform": unit]
        #expect(try await byTeam(ledger) == expected)
        // Idempotent: the same rules again give the same figures; saving them again keeps the version.
        #expect(try await ledger.saveAllocationRules(Self.rules, at: .init(seconds: 2)) == version)
        let second = try await ledger.allocate(
            period: october, rules: Self.rules, version: version, at: .init(seconds: 3))
        #expect(second == first)
        #expect(try await byTeam(ledger) == expected)
        // Totals never change: allocation moves money, it does not create it.
        let total = try await ledger.report(ReportQuery(from: october.start, to: october.end)).totals.cost
        #expect(total == events.reduce(Cost.zero) { $0 + $1.cost })

        // Changed rules re-applied to the past period replace the old allocation.
        let setOnly = AllocationRuleSet(rules: [Self.rules.rules[0]])
        #expect(!setOnly.readsEventFields)
        _ = try await ledger.allocate(period: october, rules: setOnly, version: version + 1, at: .init(seconds: 4))
        #expect(try await byTeam(ledger) == ["search": unit + unit, "(unallocated)": unit, "ads": unit + unit + unit])
        // The per-set result also reaches reports served from the rollups.
        let daily = try await ledger.report(
            ReportQuery(
                from: october.start, to: october.end, groupBy: [.attribution(.team)], granularity: .day))
        #expect(daily.servedFrom == "rollup_day")
        #expect(daily.rows.filter { $0.keys[0] == "search" }.count == 2)
    }

    @Test func setLevelRulesWithEffectiveDatesSplitTheMonth() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        let ledger = temporary.ledger
        let events = rated([
            event("early", day: 5, team: nil, feature: "search-a"),
            event("late", day: 25, team: nil, feature: "search-b"),
        ])
        _ = try await ledger.record(events)
        let rules = AllocationRuleSet(rules: [
            AllocationRule(
                id: "old-owner", when: .field(.attribution(.feature), .prefix("search")), assignments: [.team: "ads"],
                effectiveUntil: Timestamp(year: 2026, month: 10, day: 20)),
            AllocationRule(
                id: "new-owner", when: .field(.attribution(.feature), .prefix("search")),
                assignments: [.team: "search"],
                effectiveFrom: Timestamp(year: 2026, month: 10, day: 20)),
        ])
        #expect(rules.problem() == nil && !rules.readsEventFields)
        _ = try await ledger.allocate(period: october, rules: rules, version: 1, at: .init(seconds: 0))
        let unit = events[0].cost
        #expect(try await byTeam(ledger) == ["ads": unit, "search": unit])
        // The same from the raw events (a report by region must read them).
        let raw = try await ledger.report(
            ReportQuery(from: october.start, to: october.end, groupBy: [.attribution(.team), .region]))
        #expect(raw.servedFrom == "events")
        #expect(Set(raw.rows.map { $0.keys[0] ?? "" }) == ["ads", "search"])
        // A window that does not start at midnight is refused.
        var bad = rules
        bad.rules[1].effectiveFrom = Timestamp(year: 2026, month: 10, day: 20, hour: 12)
        #expect(bad.problem()?.contains("not a day") == true)
    }

    @Test func badRulesAreRefusedWithTheirPlace() throws {
        let yamlLike = Data(
            #"{"rules":[{"id":"x","when":{"field":"teem","equals":"a"},"set":{"team":"b"}}]}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(AllocationRuleSet.self, from: yamlLike) }
        let bad = AllocationRuleSet(rules: [
            AllocationRule(id: "x", when: .always, assignments: [.user: "u"])
        ])
        #expect(bad.problem()?.contains("'user' cannot be set") == true)
        let duplicate = AllocationRuleSet(rules: [
            AllocationRule(id: "x", when: .always, assignments: [.team: "a"]),
            AllocationRule(id: "x", when: .always, assignments: [.team: "b"]),
        ])
        #expect(duplicate.problem()?.contains("used twice") == true)
        let regex = Data(#"{"rules":[{"id":"x","when":{"field":"model","regex":"(["},"set":{"team":"b"}}]}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(AllocationRuleSet.self, from: regex) }
    }
}
