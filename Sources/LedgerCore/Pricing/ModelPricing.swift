/// One model's prices over time, as the catalog file lists them.
public struct ModelPricing: Sendable, Hashable, Codable {
    /// The provider that bills it (`openai`, `bedrock`, …).
    public var provider: String
    /// The canonical model id.
    public var model: String
    /// Other names that mean exactly this model (dated snapshots, regional ids).
    public var aliases: [String]
    /// Where the prices come from (a public pricing page or data set).
    public var source: String
    /// The largest prompt, when known.
    public var maxInputTokens: Int64?
    /// The largest completion, when known: the worst-case output for budget estimates.
    public var maxOutputTokens: Int64?
    /// Price versions, oldest first; each is in force from its date until the next one.
    public var prices: [PriceVersion]

    /// Creates a model entry.
    public init(
        provider: String, model: String, aliases: [String] = [], source: String, maxInputTokens: Int64? = nil,
        maxOutputTokens: Int64? = nil, prices: [PriceVersion]
    ) {
        self.provider = provider
        self.model = model
        self.aliases = aliases
        self.source = source
        self.maxInputTokens = maxInputTokens
        self.maxOutputTokens = maxOutputTokens
        self.prices = prices
    }

    enum CodingKeys: String, CodingKey {
        case provider, model, aliases, source, prices
        case maxInputTokens = "max_input_tokens"
        case maxOutputTokens = "max_output_tokens"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.provider = try container.decode(String.self, forKey: .provider)
        self.model = try container.decode(String.self, forKey: .model)
        self.aliases = try container.decodeIfPresent([String].self, forKey: .aliases) ?? []
        self.source = try container.decodeIfPresent(String.self, forKey: .source) ?? ""
        self.maxInputTokens = try container.decodeIfPresent(Int64.self, forKey: .maxInputTokens)
        self.maxOutputTokens = try container.decodeIfPresent(Int64.self, forKey: .maxOutputTokens)
        self.prices = try container.decode([PriceVersion].self, forKey: .prices)
    }

    /// The version in force at an instant, or `nil` before the first one.
    public func version(at timestamp: Timestamp) -> PriceVersion? {
        var chosen: PriceVersion?
        for version in prices where version.effectiveFrom <= timestamp {
            if chosen == nil || version.effectiveFrom >= chosen!.effectiveFrom { chosen = version }
        }
        return chosen
    }
}

/// The prices of a model from one date on.
public struct PriceVersion: Sendable, Hashable, Codable {
    /// The first instant these prices apply (a date means midnight UTC).
    public var effectiveFrom: Timestamp
    /// Standard prices.
    public var perMillion: PriceSheet
    /// Long-context tiers, by threshold.
    public var contextTiers: [ContextTier]
    /// Prices for `batch`, `flex`, `priority`.
    public var serviceTiers: [String: PriceOverride]
    /// Prices by region or data zone: exact name, `prefix*`, or `*` for any stated region not listed.
    public var regions: [String: PriceOverride]
    /// Time-of-day prices.
    public var timeWindows: [TimeWindow]
    /// Free text, e.g. why the price changed.
    public var note: String?

    /// Creates a version.
    public init(
        effectiveFrom: Timestamp, perMillion: PriceSheet, contextTiers: [ContextTier] = [],
        serviceTiers: [String: PriceOverride] = [:], regions: [String: PriceOverride] = [:],
        timeWindows: [TimeWindow] = [], note: String? = nil
    ) {
        self.effectiveFrom = effectiveFrom
        self.perMillion = perMillion
        self.contextTiers = contextTiers
        self.serviceTiers = serviceTiers
        self.regions = regions
        self.timeWindows = timeWindows
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case effectiveFrom = "effective_from"
        case perMillion = "per_million"
        case contextTiers = "context_tiers"
        case serviceTiers = "service_tiers"
        case regions
        case timeWindows = "time_windows"
        case note
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .effectiveFrom)
        guard let from = Timestamp(parsing: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .effectiveFrom, in: container,
                debugDescription: "'\(text)' is not a date: write YYYY-MM-DD or an RFC 3339 timestamp"
            )
        }
        self.effectiveFrom = from
        self.perMillion = try container.decode(PriceSheet.self, forKey: .perMillion)
        self.contextTiers = try container.decodeIfPresent([ContextTier].self, forKey: .contextTiers) ?? []
        self.serviceTiers = try container.decodeIfPresent([String: PriceOverride].self, forKey: .serviceTiers) ?? [:]
        self.regions = try container.decodeIfPresent([String: PriceOverride].self, forKey: .regions) ?? [:]
        self.timeWindows = try container.decodeIfPresent([TimeWindow].self, forKey: .timeWindows) ?? []
        self.note = try container.decodeIfPresent(String.self, forKey: .note)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let isMidnight = effectiveFrom.secondOfDay == 0 && effectiveFrom.microseconds % 1_000_000 == 0
        try container.encode(isMidnight ? effectiveFrom.dateString : effectiveFrom.iso8601, forKey: .effectiveFrom)
        try container.encode(perMillion, forKey: .perMillion)
        if !contextTiers.isEmpty { try container.encode(contextTiers, forKey: .contextTiers) }
        if !serviceTiers.isEmpty { try container.encode(serviceTiers, forKey: .serviceTiers) }
        if !regions.isEmpty { try container.encode(regions, forKey: .regions) }
        if !timeWindows.isEmpty { try container.encode(timeWindows, forKey: .timeWindows) }
        try container.encodeIfPresent(note, forKey: .note)
    }

    /// The region override for a stated region: exact name first, then the longest matching
    /// `prefix*`, then `*`.
    public func regionOverride(for region: String?) -> PriceOverride? {
        guard let region, !region.isEmpty else { return nil }
        let lowered = region.lowercased()
        if let exact = regions[lowered] ?? regions[region] { return exact }
        var best: (length: Int, override: PriceOverride)?
        for (key, override) in regions where key.count > 1 && key.hasSuffix("*") {
            let prefix = key.dropLast()
            if lowered.hasPrefix(prefix), prefix.count > (best?.length ?? -1) { best = (prefix.count, override) }
        }
        return best?.override ?? regions["*"]
    }
}

/// A negotiated discount or markup on a provider's list prices, from the user's own catalog.
public struct PriceDiscount: Sendable, Hashable, Codable {
    /// The provider it applies to.
    public var provider: String
    /// Model ids it applies to: exact, `prefix*`, or `*` (the default).
    public var models: [String]
    /// The change, e.g. `"-15"` for 15 % off.
    public var adjustPercent: PriceAdjustment
    /// First instant it applies.
    public var effectiveFrom: Timestamp?
    /// First instant it no longer applies.
    public var effectiveUntil: Timestamp?

    enum CodingKeys: String, CodingKey {
        case provider, models
        case adjustPercent = "adjust_percent"
        case effectiveFrom = "effective_from"
        case effectiveUntil = "effective_until"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.provider = try container.decode(String.self, forKey: .provider)
        self.models = try container.decodeIfPresent([String].self, forKey: .models) ?? ["*"]
        self.adjustPercent = try container.decode(PriceAdjustment.self, forKey: .adjustPercent)
        func date(_ key: CodingKeys) throws -> Timestamp? {
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let value = Timestamp(parsing: text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "'\(text)' is not a date")
            }
            return value
        }
        self.effectiveFrom = try date(.effectiveFrom)
        self.effectiveUntil = try date(.effectiveUntil)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(provider, forKey: .provider)
        try container.encode(models, forKey: .models)
        try container.encode(adjustPercent, forKey: .adjustPercent)
        try container.encodeIfPresent(effectiveFrom?.dateString, forKey: .effectiveFrom)
        try container.encodeIfPresent(effectiveUntil?.dateString, forKey: .effectiveUntil)
    }

    /// Whether the discount applies to a model at an instant.
    public func applies(provider: String, model: String, at timestamp: Timestamp) -> Bool {
        guard provider == PriceCatalog.canonicalProvider(self.provider) else { return false }
        if let from = effectiveFrom, timestamp < from { return false }
        if let until = effectiveUntil, timestamp >= until { return false }
        return models.contains { pattern in
            pattern == "*" || pattern == model || (pattern.hasSuffix("*") && model.hasPrefix(pattern.dropLast()))
        }
    }
}
