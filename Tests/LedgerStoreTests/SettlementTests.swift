import LedgerCatalogData
import LedgerCore
import LedgerStore
import Testing

/// Budget settlement in the transaction that records the event: exactly once per call.
@Suite struct SettlementTests {
    @Test func aRecordedEventSettlesItsBudgetsOnceAndReleasesItsHold() async throws {
        let temporary = try TemporaryLedger()
        defer { temporary.remove() }
        let governance = SQLiteGovernance(ledger: temporary.ledger)
        let budget = Budget(scope: .team, subject: "x", period: .month, limit: Cost(decimal: "1")!)
        try await governance.setBudget(budget)
        let now = Timestamp(parsing: "2026-10-02T10:00:00Z")!
        // The call reserved its worst case, $0.30.
        let decision = try await governance.reserve(
            requestID: "req-1", estimate: Cost(decimal: "0.3")!, budgets: [budget], now: now, holdFor: 600)
        #expect(decision == .reserved)
        #expect(try await governance.heldBudgets(for: ["req-1", "req-2"]) == ["req-1": [budget.id]])

        var rater = Rater(catalog: try BundledCatalog.load())
        let event = rater.rate(
            UsageEvent(
                id: "req-1", timestamp: now, provider: "openai", model: "gpt-4o-mini",
                tokens: TokenCounts(input: 1_000_000), attribution: Attribution(team: "x")))
        let settlement = Settlement(requestID: "req-1", actual: event.cost, budgets: [budget], at: now)
        let (first, _) = try await temporary.ledger.record([event], settling: ["req-1": settlement])
        // A re-flush or a replay of the same event records and settles nothing twice.
        let (second, _) = try await temporary.ledger.record([event], settling: ["req-1": settlement])
        #expect(first.inserted == 1 && second.duplicates == 1)
        let status = try #require(try await governance.status(of: [budget], now: now).first)
        #expect(status.spent == event.cost && status.spent.decimalString == "0.15")
        #expect(status.reserved == .zero)
        #expect(try await governance.heldBudgets(for: ["req-1"]).isEmpty)
    }
}
