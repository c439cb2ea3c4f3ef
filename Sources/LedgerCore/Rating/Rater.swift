/// Prices usage events from a catalog: a pure function of (event, catalog), exact.
///
/// A `Rater` remembers how names resolved, so keep one per stream of events:
/// ```swift
/// var rater = Rater(catalog: catalog)
/// let rated = events.map { rater.rate($0) }
/// ```
public struct Rater: Sendable {
    /// The catalog prices come from.
    public let catalog: PriceCatalog
    private let plan: RatingPlan
    private var names: [NameKey: Int32] = [:]
    private var resolutions: [ResolutionResult] = []
    /// The names of the last lookup and where they resolved.
    private var lastName: (key: NameKey, index: Int)?

    private struct NameKey: Hashable, Sendable {
        var provider: String
        var model: String
    }

    private enum ResolutionResult: Sendable {
        case found(ModelResolution)
        case missing(PricingError)
    }

    /// Creates a rater over a catalog.
    public init(catalog: PriceCatalog) {
        self.catalog = catalog
        self.plan = RatingPlan(catalog: catalog)
    }

    private mutating func resolutionIndex(provider: String, model: String) -> Int {
        // Consecutive events mostly name the same model: compare before hashing.
        if let last = lastName, last.key.model == model, last.key.provider == provider { return last.index }
        let index = lookUpResolution(provider: provider, model: model)
        lastName = (NameKey(provider: provider, model: model), index)
        return index
    }

    private mutating func lookUpResolution(provider: String, model: String) -> Int {
        let key = NameKey(provider: provider, model: model)
        if let known = names[key] { return Int(known) }
        let result: ResolutionResult
        do {
            result = .found(try catalog.resolve(provider: provider, model: model))
        } catch {
            result = .missing(error)
        }
        resolutions.append(result)
        names[key] = Int32(resolutions.count - 1)
        return resolutions.count - 1
    }

    private mutating func resolution(provider: String, model: String) -> ResolutionResult {
        resolutions[resolutionIndex(provider: provider, model: model)]
    }

    /// The cost of an event, as fast as the catalog allows: `priced` is false when the model,
    /// its price at that time, or a billed kind's price is unknown (the cost is then what could
    /// be priced). `model` is the catalog position of the resolved entry, or -1.
    public mutating func cost(of event: borrowing UsageEvent) -> (cost: Cost, priced: Bool, model: Int) {
        let index = resolutionIndex(provider: event.provider, model: event.model)
        guard case .found(let resolution) = resolutions[index] else { return (.zero, false, -1) }
        let model = resolution.position
        let versionIndex = plan.version(model: model, at: event.timestamp.microseconds)
        guard versionIndex >= 0 else { return (.zero, false, model) }
        let version = plan.versions[versionIndex]
        let needsLayers =
            plan.models[model].hasDiscounts || version.hasTimeWindows
            || (version.hasRegions && (event.region != nil || resolution.impliedRegion != nil))
            || (version.hasServiceTiers && event.serviceTier != .standard)
            || (version.smallestTier != Int64.max
                && (event.longContext == true || event.promptPerRequest > version.smallestTier))
            || event.resources != .none
        if !needsLayers {
            let (picodollars, priced) = plan.standardCost(event.tokens, version: versionIndex)
            return (Cost(picodollars: picodollars), priced, model)
        }
        guard let priceVersion = resolution.entry.version(at: event.timestamp) else { return (.zero, false, model) }
        var total = Cost.zero
        var priced = true
        price(event, resolution: resolution, version: priceVersion) { line in
            if let line { total += line.cost } else { priced = false }
        }
        return (total, priced, model)
    }

    /// Rates an event for the ledger. An event whose model or price is unknown is kept with the
    /// cost of what could be priced and `priced == false` — never silently $0.
    public mutating func rate(_ event: consuming UsageEvent) -> RatedEvent {
        let rating = rating(of: event)
        return RatedEvent(event: event, rating: rating)
    }

    /// An event's rating alone (see ``rate(_:)``).
    public mutating func rating(of event: borrowing UsageEvent) -> Rating {
        let result = cost(of: event)
        return Rating(
            cost: result.cost, priced: result.priced,
            resolvedModel: result.model >= 0 ? catalog.models[result.model].model : nil)
    }

    /// Rates every event of a batch, in order, leaving the events where they are.
    ///
    /// - Parameter unpriced: increased by the number of events without a complete price.
    public mutating func ratings(of events: borrowing [UsageEvent], unpriced: inout Int) -> [Rating] {
        events.withUnsafeBufferPointer { source in
            [Rating](unsafeUninitializedCapacity: source.count) { ratings, count in
                for index in source.indices {
                    let rating = rating(of: source[index])
                    if !rating.priced { unpriced += 1 }
                    (ratings.baseAddress! + index).initialize(to: rating)
                    count = index + 1
                }
            }
        }
    }

    /// The full breakdown of an event's cost.
    ///
    /// - Throws: ``PricingError`` when the model is unknown or has no price at the event's time.
    public mutating func breakdown(_ event: UsageEvent) throws(PricingError) -> CostBreakdown {
        let resolution: ModelResolution
        switch self.resolution(provider: event.provider, model: event.model) {
        case .found(let found): resolution = found
        case .missing(let error): throw error
        }
        guard let version = resolution.entry.version(at: event.timestamp) else {
            throw PricingError.noPriceInForce(
                model: resolution.entry.model, at: event.timestamp,
                earliest: resolution.entry.prices.map(\.effectiveFrom).min()
            )
        }
        var lines: [CostLine] = []
        var unpriced: [String] = []
        var total = Cost.zero
        let notes = price(event, resolution: resolution, version: version, describe: true) { line in
            if let line {
                lines.append(line)
                total += line.cost
            }
        } unpriced: {
            unpriced.append($0)
        }
        return CostBreakdown(
            resolvedModel: resolution.entry.model, region: event.region ?? resolution.impliedRegion,
            priceEffectiveFrom: version.effectiveFrom, lines: lines, total: total, unpricedKinds: unpriced,
            notes: notes
        )
    }

    /// The worst-case cost of a request before it is sent: the whole prompt at the dearest
    /// input-side price (plain input, or a cache write when the model charges more for one), and
    /// the output limit at the output price for each choice. The output limit is the request's
    /// (`max_tokens`), capped by the model's own limit from the catalog; when the request has none,
    /// the model's limit, else `defaultOutputTokens`. `gpuMicroseconds` is the most GPU time the
    /// call can be given, for a model priced per GPU-hour (whose tokens need no price then).
    ///
    /// - Throws: ``PricingError`` when the model or its input or output price is unknown, so a
    ///   budget is never checked against a made-up zero.
    public mutating func estimateUpperBound(
        provider: String, model: String, promptTokens: Int64, maximumOutputTokens: Int64?, choices: Int64 = 1,
        defaultOutputTokens: Int64 = 16_384, embedding: Bool = false, gpuMicroseconds: Int64 = 0,
        at timestamp: Timestamp
    ) throws(PricingError) -> Cost {
        let entry: ModelPricing
        switch resolution(provider: provider, model: model) {
        case .found(let found): entry = found.entry
        case .missing(let error): throw error
        }
        var output = maximumOutputTokens ?? entry.maxOutputTokens ?? defaultOutputTokens
        if let limit = entry.maxOutputTokens { output = min(output, limit) }
        var worst = Cost.zero
        let inputKinds: [TokenKind] = embedding ? [.embedding, .input] : [.input, .cacheWrite, .cacheWrite1h]
        for (index, kind) in inputKinds.enumerated() {
            var event = UsageEvent(id: "estimate", timestamp: timestamp, provider: provider, model: model)
            event.resources.gpuMicroseconds = gpuMicroseconds
            event.tokens[kind] = promptTokens
            if !embedding { event.tokens.output = output * max(choices, 1) }
            let breakdown = try breakdown(event)
            if !breakdown.isFullyPriced {
                // Only the plain input price (or, for embeddings, one of the two) is required.
                if index == 0 && !embedding {
                    throw PricingError.unpricedKinds(model: entry.model, kinds: breakdown.unpricedKinds)
                }
                continue
            }
            worst = max(worst, breakdown.total)
        }
        if embedding && worst == .zero && promptTokens > 0 {
            throw PricingError.unpricedKinds(model: entry.model, kinds: ["embedding"])
        }
        return worst
    }

    // MARK: - The pricing rule

    /// Calls `line` for every billed quantity (with `nil` for an unpriced one) and returns notes.
    @discardableResult
    private func price(
        _ event: borrowing UsageEvent, resolution: ModelResolution, version: PriceVersion, describe: Bool = false,
        line: (CostLine?) -> Void, unpriced: (String) -> Void = { _ in }
    ) -> [String] {
        var notes: [String] = []
        // Layers, lowest first; a higher layer's listed price wins.
        var tierSheet: PriceSheet?
        if !version.contextTiers.isEmpty {
            let prompt = event.promptPerRequest
            var best: ContextTier?
            if let longContext = event.longContext {
                best = longContext ? version.contextTiers.min { $0.abovePromptTokens < $1.abovePromptTokens } : nil
            } else {
                for tier in version.contextTiers where prompt > tier.abovePromptTokens {
                    if best == nil || tier.abovePromptTokens > best!.abovePromptTokens { best = tier }
                }
            }
            if let best {
                tierSheet = best.perMillion
                if describe {
                    notes.append("prompt of \(prompt) tokens is above \(best.abovePromptTokens): long-context prices")
                }
            }
        }
        let region = event.region ?? resolution.impliedRegion
        let regionOverride = version.regionOverride(for: region)
        if describe, let region, let regionOverride,
            regionOverride.perMillion != nil || regionOverride.adjustPercent != nil
        {
            notes.append("regional price for '\(region)'")
        }
        var tierOverride: PriceOverride?
        if event.serviceTier != .standard {
            tierOverride = version.serviceTiers[event.serviceTier.rawValue]
            if describe {
                notes.append(
                    tierOverride == nil
                        ? "no \(event.serviceTier.rawValue) price listed for this model: standard price used"
                        : "\(event.serviceTier.rawValue) price")
            }
        }
        var windowOverride: PriceOverride?
        for window in version.timeWindows where window.contains(event.timestamp) {
            windowOverride = window.override
            if describe { notes.append("time-of-day price \(window.from)–\(window.to) UTC") }
            break
        }
        var adjustment = PriceAdjustment.none
        var adjustments: [PriceAdjustment] = []
        for override in [regionOverride, tierOverride, windowOverride] {
            if let percent = override?.adjustPercent { adjustments.append(percent) }
        }
        let entry = resolution.entry
        for discount in catalog.discounts
        where discount.applies(
            provider: PriceCatalog.canonicalProvider(entry.provider), model: entry.model, at: event.timestamp)
        {
            adjustments.append(discount.adjustPercent)
            if describe { notes.append("negotiated adjustment \(discount.adjustPercent.percentString)%") }
        }
        if adjustments.count == 1 { adjustment = adjustments[0] }

        func layered(_ kind: TokenKind) -> UnitPrice? {
            var candidate: TokenKind? = kind
            while let current = candidate {
                if let price = windowOverride?.perMillion?.tokens[current] ?? tierOverride?.perMillion?.tokens[current]
                    ?? regionOverride?.perMillion?.tokens[current] ?? tierSheet?.tokens[current]
                    ?? version.perMillion.tokens[current]
                {
                    return price
                }
                candidate = current.fallback
            }
            return nil
        }
        func effective(_ price: UnitPrice) -> EffectivePrice {
            if adjustments.count <= 1 { return EffectivePrice(price).adjusted(by: adjustment) }
            return adjustments.reduce(EffectivePrice(price)) { $0.adjusted(by: $1) }
        }
        let gpuPrice =
            event.resources.gpuMicroseconds == 0
            ? nil
            : windowOverride?.perMillion?.gpuHour ?? tierOverride?.perMillion?.gpuHour
                ?? regionOverride?.perMillion?.gpuHour ?? version.perMillion.gpuHour
        for kind in TokenKind.all {
            let quantity = event.tokens[kind]
            guard quantity != 0 else { continue }
            guard let price = layered(kind) else {
                // A model priced per GPU-hour (a self-hosted model behind the gateway): the
                // call's share of the GPUs is its price, and its tokens are counted, not billed.
                if gpuPrice != nil { continue }
                line(nil)
                unpriced(kind.rawValue)
                continue
            }
            let unitPrice = effective(price)
            line(
                CostLine(
                    kind: kind.rawValue, quantity: quantity, unitPrice: unitPrice, priceUnit: "1M tokens",
                    cost: unitPrice.cost(units: quantity, unitsPerPrice: 1_000_000)))
        }
        if event.resources.gpuMicroseconds != 0 {
            if let price = gpuPrice {
                let unitPrice = effective(price)
                line(
                    CostLine(
                        kind: "gpu_seconds", quantity: event.resources.gpuMicroseconds, unitPrice: unitPrice,
                        priceUnit: "GPU-hour",
                        cost: unitPrice.cost(
                            units: event.resources.gpuMicroseconds,
                            unitsPerPrice: Int128(ResourceUsage.microsecondsPerHour))))
            } else {
                line(nil)
                unpriced("gpu_seconds")
            }
        }
        if event.resources.storageByteHours != 0 {
            let price = regionOverride?.perMillion?.storageGBMonth ?? version.perMillion.storageGBMonth
            if let price {
                let unitPrice = effective(price)
                line(
                    CostLine(
                        kind: "storage_byte_hours", quantity: event.resources.storageByteHours, unitPrice: unitPrice,
                        priceUnit: "GB-month",
                        cost: unitPrice.cost(units: event.resources.storageByteHours, unitsPerPrice: 730_000_000_000)))
            } else {
                line(nil)
                unpriced("storage_byte_hours")
            }
        }
        return notes
    }
}
