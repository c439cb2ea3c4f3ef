import LedgerCore
import Testing

@Suite struct MoneyTests {
    @Test func costFormatsExactlyWithTrimmedZeros() {
        #expect(Cost(picodollars: 12_345_000_000).decimalString == "0.012345")
        #expect(Cost(picodollars: 12_000_000_000_000).decimalString == "12.00")
        #expect(Cost(picodollars: 1).decimalString == "0.000000000001")
        #expect(Cost(picodollars: -3_100_000_000_000).decimalString == "-3.10")
        #expect(Cost.zero.decimalString == "0.00")
    }

    @Test func decimalsFormatAtEveryScaleAndSign() {
        #expect(DecimalText.format(0, scale: 0, minimumFractionDigits: 0) == "0")
        #expect(DecimalText.format(-7, scale: 0, minimumFractionDigits: 2) == "-7")
        #expect(DecimalText.format(1_500, scale: 3, minimumFractionDigits: 0) == "1.5")
        #expect(DecimalText.format(1_000, scale: 3, minimumFractionDigits: 0) == "1")
        #expect(DecimalText.format(-5, scale: 3, minimumFractionDigits: 1) == "-0.005")
        #expect(DecimalText.format(5, scale: 2, minimumFractionDigits: 4) == "0.05")
        #expect(
            DecimalText.format(Int128.max, scale: 12, minimumFractionDigits: 2)
                == "170141183460469231731687303.715884105727")
        #expect(
            DecimalText.format(Int128.min, scale: 0, minimumFractionDigits: 0)
                == "-170141183460469231731687303715884105728")
        #expect(
            DecimalText.format(Int128.min, scale: 38, minimumFractionDigits: 0)
                == "-1.70141183460469231731687303715884105728")
        for value: Int128 in [0, 1, -1, 99, 100, 123_456_789, -987_654_321_000] {
            for scale in [0, 2, 6, 12] {
                let text = DecimalText.format(value, scale: scale, minimumFractionDigits: 0)
                #expect(DecimalText.parse(text, scale: scale) == value, "\(value) at scale \(scale): \(text)")
            }
        }
    }

    @Test func costParsesDecimalStrings() {
        #expect(Cost(decimal: "0.0123375")?.picodollars == 12_337_500_000)
        #expect(Cost(decimal: "-1.5")?.picodollars == -1_500_000_000_000)
        #expect(Cost(decimal: "1.0000000000001") == nil)
        #expect(Cost(decimal: "1e5") == nil)
        #expect(Cost(decimal: "") == nil)
    }

    @Test func roundingIsHalfToEven() {
        #expect(Cost(decimal: "0.125")!.rounded(fractionDigits: 2) == "0.12")
        #expect(Cost(decimal: "0.135")!.rounded(fractionDigits: 2) == "0.14")
        #expect(Cost(decimal: "0.1251")!.rounded(fractionDigits: 2) == "0.13")
        #expect(Cost(decimal: "-0.125")!.rounded(fractionDigits: 2) == "-0.12")
        #expect(Cost(decimal: "2.5")!.rounded(fractionDigits: 0) == "2")
    }

    @Test func unitPricesAreMicrodollarsPerUnit() throws {
        #expect(UnitPrice(dollars: "2.50")?.microdollars == 2_500_000)
        #expect(UnitPrice(dollars: "0.0375")?.microdollars == 37_500)
        #expect(UnitPrice(dollars: "0.0000001") == nil, "finer than a microdollar is refused, not rounded")
        #expect(UnitPrice(dollars: "-1") == nil)
        #expect(try #require(UnitPrice(dollars: "0.075")).dollarString == "0.075")
    }

    @Test func adjustmentsStayExact() {
        let price = EffectivePrice(UnitPrice(microdollars: 3_000_000))
        let regional = price.adjusted(by: PriceAdjustment(percent: "10")!)
        #expect(regional.dollarString == "3.3")
        let halved = regional.adjusted(by: PriceAdjustment(percent: "-50")!)
        #expect(halved.dollarString == "1.65")
        // 333 tokens at $1.65 per million = $0.00054945 exactly.
        #expect(halved.cost(units: 333, unitsPerPrice: 1_000_000).decimalString == "0.00054945")
        #expect(PriceAdjustment(percent: "-100.5") == nil)
        #expect(PriceAdjustment(percent: "12.345") == nil)
    }
}
