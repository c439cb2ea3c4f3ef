import Foundation
import Testing

@testable import LedgerCore

/// Shared-cost splits and statement rounding: money is conserved exactly, whatever the inputs.
@Suite struct ChargebackTests {
    typealias Generator = SeededRandom

    @Test(arguments: 0..<200) func splitsConserveThePoolExactly(seed: Int) {
        var random = Generator(seed: UInt64(seed))
        let amount = Cost(picodollars: Int128(random.below(1 << 50)) * Int128(random.below(1000) + 1))
        var weights: [String: Int128] = [:]
        for index in 0..<Int(random.below(12)) {
            // Weights from zero to huge, including equal ones (ties) and one dominant owner.
            weights["owner-\(index)"] = Int128(random.below(4)) * Int128(random.below(1 << 40))
        }
        let parts = SharedPool.split(amount, weights: weights)
        let total = weights.values.reduce(0, +)
        if total == 0 {
            #expect(parts.isEmpty, "seed \(seed)")
            return
        }
        #expect(parts.values.reduce(Cost.zero, +) == amount, "seed \(seed)")
        for (owner, part) in parts {
            // Each part is its exact share rounded down or up by less than one picodollar.
            let exactTimesTotal = amount.picodollars * weights[owner]!
            #expect(part.picodollars * total <= exactTimesTotal + total, "seed \(seed)")
            #expect(part.picodollars * total >= exactTimesTotal - total, "seed \(seed)")
            #expect(weights[owner]! > 0)
        }
        // Negative pools (a credit) split the same way, with the sign.
        let credit = SharedPool.split(Cost(picodollars: -amount.picodollars), weights: weights)
        #expect(credit.values.reduce(Cost.zero, +) == Cost(picodollars: -amount.picodollars))
    }

    @Test func evenSplitGivesTheLeftoverPicodollarsToTheFirstOwners() {
        let parts = SharedPool.split(Cost(picodollars: 10), weights: ["c": 1, "a": 1, "b": 1])
        #expect(parts == ["a": Cost(picodollars: 4), "b": Cost(picodollars: 3), "c": Cost(picodollars: 3)])
    }

    func line(_ exact: Int128) -> BillingStatement.Line {
        BillingStatement.Line(
            number: 0, type: .usage, description: "", model: nil, tokenKind: nil, feature: nil, quantity: nil,
            unit: nil, unitPrice: nil, exact: Cost(picodollars: exact), amount: .zero, events: 1, trace: [:])
    }

    @Test(arguments: 0..<200) func roundedLinesSumToTheRoundedTotal(seed: Int) {
        var random = Generator(seed: UInt64(seed) &+ 1_000)
        var lines = (0..<Int(random.below(40) + 1)).map { _ in
            // Picodollar amounts from sub-cent to thousands of dollars; a few negative (allowance, discount).
            let magnitude = Int128(random.below(1 << 52))
            return line(random.below(8) == 0 ? -magnitude : magnitude)
        }
        let exact = lines.reduce(Int128(0)) { $0 + $1.exact.picodollars }
        let total = StatementBuilder.roundToCents(&lines)
        let cent: Int128 = 10_000_000_000
        #expect(total.picodollars % cent == 0)
        #expect(lines.reduce(Cost.zero) { $0 + $1.amount } == total, "seed \(seed)")
        #expect((total.picodollars - exact).magnitude * 2 <= cent, "seed \(seed)")
        for line in lines {
            #expect(line.amount.picodollars % cent == 0)
            #expect((line.amount.picodollars - line.exact.picodollars).magnitude < cent, "seed \(seed)")
        }
    }

    @Test func fixedSharesMustAddUpToAHundred() throws {
        let yaml = #"{"id":"p","amount":"100","split":"fixed","onto":"team","shares":{"a":"60","b":"30"}}"#
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(SharedPool.self, from: Data(yaml.utf8))
        }
    }

    @Test func globsMatchModelClasses() {
        #expect(RateCard.glob("claude-sonnet-*", "claude-sonnet-4-5"))
        #expect(RateCard.glob("gpt-*-mini", "gpt-4.1-mini"))
        #expect(!RateCard.glob("gpt-*-mini", "gpt-4.1"))
        #expect(RateCard.glob("gpt-4o", "gpt-4o") && !RateCard.glob("gpt-4o", "gpt-4o-mini"))
    }
}
