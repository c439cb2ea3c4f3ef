/// What an event costs, line by line.
public struct CostBreakdown: Sendable, Hashable {
    /// The catalog entry the model resolved to.
    public var resolvedModel: String
    /// The region that priced it, if any.
    public var region: String?
    /// The date the price version took effect.
    public var priceEffectiveFrom: Timestamp
    /// One line per billed quantity.
    public var lines: [CostLine]
    /// The sum of the lines.
    public var total: Cost
    /// Quantities with no price (the total is then a lower bound).
    public var unpricedKinds: [String]
    /// How the price was chosen, when not the plain standard price.
    public var notes: [String]

    /// Whether every quantity had a price.
    public var isFullyPriced: Bool { unpricedKinds.isEmpty }
}

/// One billed quantity.
public struct CostLine: Sendable, Hashable {
    /// A ``TokenKind`` raw value, `gpu_seconds` or `storage_byte_hours`.
    public var kind: String
    /// How many units were billed: tokens, GPU-microseconds or byte-hours.
    public var quantity: Int64
    /// The price applied, per `priceUnit`.
    public var unitPrice: EffectivePrice
    /// `1M tokens`, `GPU-hour` or `GB-month`.
    public var priceUnit: String
    /// `quantity × unitPrice`, exact.
    public var cost: Cost

    /// The quantity as people read it: tokens, GPU-seconds (exact decimal) or byte-hours.
    public var quantityText: String {
        kind == "gpu_seconds"
            ? ResourceUsage(gpuMicroseconds: quantity).gpuSecondsText : String(quantity)
    }
}
