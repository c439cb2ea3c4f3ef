/// The catalog compiled for the common case: flat tables with no references to retain, prices
/// per version with fallbacks already applied. An event that no tier, region, time window or
/// discount can touch is priced from these tables alone; anything else takes the layered path.
struct RatingPlan: Sendable {
    struct Model: Sendable {
        var firstVersion: Int32
        var versionCount: Int32
        var hasDiscounts: Bool
    }

    struct Version: Sendable {
        var effectiveFrom: Int64
        var priceOffset: Int32
        var hasRegions: Bool
        var hasServiceTiers: Bool
        var hasTimeWindows: Bool
        /// The smallest context-tier threshold (`Int64.max` without tiers).
        var smallestTier: Int64
    }

    static let kinds = TokenKind.all.count

    var models: [Model] = []
    var versions: [Version] = []
    /// `kinds` prices (microdollars per million) per version; -1 where the kind has no price.
    var prices: [Int64] = []

    init(catalog: PriceCatalog) {
        for entry in catalog.models {
            let provider = PriceCatalog.canonicalProvider(entry.provider)
            let sorted = entry.prices.sorted { $0.effectiveFrom < $1.effectiveFrom }
            models.append(
                Model(
                    firstVersion: Int32(versions.count), versionCount: Int32(sorted.count),
                    hasDiscounts: catalog.discounts.contains { PriceCatalog.canonicalProvider($0.provider) == provider }
                ))
            for version in sorted {
                versions.append(
                    Version(
                        effectiveFrom: version.effectiveFrom.microseconds, priceOffset: Int32(prices.count),
                        hasRegions: !version.regions.isEmpty, hasServiceTiers: !version.serviceTiers.isEmpty,
                        hasTimeWindows: !version.timeWindows.isEmpty,
                        smallestTier: version.contextTiers.map(\.abovePromptTokens).min() ?? Int64.max))
                for kind in TokenKind.all {
                    var candidate: TokenKind? = kind
                    var price: Int64 = -1
                    while let current = candidate {
                        if let listed = version.perMillion.tokens[current] {
                            price = listed.microdollars
                            break
                        }
                        candidate = current.fallback
                    }
                    prices.append(price)
                }
            }
        }
    }

    /// The version in force at `microseconds` for a model, or -1.
    func version(model: Int, at microseconds: Int64) -> Int {
        let plan = models[model]
        var index = Int(plan.firstVersion + plan.versionCount) - 1
        while index >= Int(plan.firstVersion) {
            if versions[index].effectiveFrom <= microseconds { return index }
            index -= 1
        }
        return -1
    }

    /// The cost of plain token counts at a version's standard prices, in picodollars, and
    /// whether every non-zero kind had a price.
    func standardCost(_ tokens: TokenCounts, version: Int) -> (picodollars: Int128, priced: Bool) {
        let base = Int(versions[version].priceOffset)
        return prices.withUnsafeBufferPointer { table in
            var total: Int128 = 0
            var priced = true
            @inline(__always) func add(_ quantity: Int64, _ offset: Int) {
                guard quantity != 0 else { return }
                let price = table[base + offset]
                if price < 0 {
                    priced = false
                } else {
                    total += Int128(quantity) * Int128(price)
                }
            }
            add(tokens.input, 0)
            add(tokens.cacheRead, 1)
            add(tokens.cacheWrite, 2)
            add(tokens.cacheWrite1h, 3)
            add(tokens.output, 4)
            add(tokens.reasoning, 5)
            add(tokens.audioInput, 6)
            add(tokens.audioOutput, 7)
            add(tokens.imageInput, 8)
            add(tokens.imageOutput, 9)
            add(tokens.embedding, 10)
            return (total, priced)
        }
    }
}
