import LedgerCore
import Testing

@Suite struct ReportTests {
    func row(_ key: String, cost: Int128, period: Int64? = nil) -> ReportRow {
        var metrics = ReportMetrics()
        metrics.cost = Cost(picodollars: cost)
        metrics.requests = 1
        return ReportRow(keys: [key], period: period.map(Timestamp.init(seconds:)), metrics: metrics)
    }

    @Test func topKeepsTheMostExpensiveAndMergesTheRest() {
        let rows = [row("a", cost: 5), row("b", cost: 50), row("c", cost: 7), row("d", cost: 1)]
        let limited = Report.limited(Report.sorted(rows), top: 2)
        #expect(limited.map { $0.keys[0] } == ["b", "c", "(other)"])
        #expect(limited.last?.isOther == true)
        #expect(limited.reduce(Int128(0)) { $0 + $1.metrics.cost.picodollars } == 63)
        #expect(limited.last?.metrics.users == nil, "distinct counts cannot be summed")
    }

    @Test func unitEconomicsAreExact() {
        var metrics = ReportMetrics()
        metrics.cost = Cost(decimal: "10")!
        metrics.wastedCost = Cost(decimal: "0.5")!
        metrics.requests = 3
        metrics.tokens.input = 7_000
        #expect(metrics.costPerRequest?.decimalString == "3.333333333333")
        #expect(metrics.costPerThousandTokens?.decimalString == "1.428571428571")
        #expect(metrics.wasteShare == "0.050000")
        metrics.users = 0
        #expect(metrics.costPer(metrics.users) == nil)
    }

    @Test func dimensionsParseWithAliases() {
        #expect(ReportDimension(name: "cost_center") == .attribution(.costCentre))
        #expect(ReportDimension(name: "tag:env") == .tag("env"))
        #expect(ReportDimension(name: "Team") == .attribution(.team))
        #expect(ReportDimension(name: "nope") == nil)
    }
}
