/// Prices by billed quantity: per million tokens of each kind, per GPU-hour, per GB-month.
/// A sheet may be partial; a missing kind falls back as ``TokenKind/fallback`` says.
public struct PriceSheet: Sendable, Hashable {
    /// Dollars per million tokens, by kind.
    public var tokens: [TokenKind: UnitPrice]
    /// Dollars per GPU-hour.
    public var gpuHour: UnitPrice?
    /// Dollars per GB-month (10⁹ bytes held for 730 hours).
    public var storageGBMonth: UnitPrice?

    /// Creates a sheet.
    public init(tokens: [TokenKind: UnitPrice] = [:], gpuHour: UnitPrice? = nil, storageGBMonth: UnitPrice? = nil) {
        self.tokens = tokens
        self.gpuHour = gpuHour
        self.storageGBMonth = storageGBMonth
    }

    /// Whether the sheet has no price at all.
    public var isEmpty: Bool { tokens.isEmpty && gpuHour == nil && storageGBMonth == nil }

    /// The listed prices of `other` replace this sheet's.
    public func overlaid(with other: PriceSheet) -> PriceSheet {
        var copy = self
        copy.tokens.merge(other.tokens) { _, new in new }
        if let gpuHour = other.gpuHour { copy.gpuHour = gpuHour }
        if let storage = other.storageGBMonth { copy.storageGBMonth = storage }
        return copy
    }
}

extension PriceSheet: Codable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        static let gpuHour = Key(stringValue: "gpu_hour")
        static let storageGBMonth = Key(stringValue: "storage_gb_month")
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        var tokens: [TokenKind: UnitPrice] = [:]
        for key in container.allKeys {
            if key.stringValue == Key.gpuHour.stringValue || key.stringValue == Key.storageGBMonth.stringValue {
                continue
            }
            guard let kind = TokenKind(rawValue: key.stringValue) else {
                let known = TokenKind.all.map(\.rawValue) + ["gpu_hour", "storage_gb_month"]
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container,
                    debugDescription: "unknown price '\(key.stringValue)'; known: \(known.joined(separator: ", "))"
                )
            }
            tokens[kind] = try container.decode(UnitPrice.self, forKey: key)
        }
        self.tokens = tokens
        self.gpuHour = try container.decodeIfPresent(UnitPrice.self, forKey: .gpuHour)
        self.storageGBMonth = try container.decodeIfPresent(UnitPrice.self, forKey: .storageGBMonth)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for kind in TokenKind.all {
            if let price = tokens[kind] { try container.encode(price, forKey: Key(stringValue: kind.rawValue)) }
        }
        try container.encodeIfPresent(gpuHour, forKey: .gpuHour)
        try container.encodeIfPresent(storageGBMonth, forKey: .storageGBMonth)
    }
}

/// A change to a sheet for one situation (a region, a service tier, a time window): listed
/// prices replace the sheet's, then `adjustPercent` scales every price.
public struct PriceOverride: Sendable, Hashable, Codable {
    /// Replacement prices.
    public var perMillion: PriceSheet?
    /// A percentage applied to every price after replacement.
    public var adjustPercent: PriceAdjustment?

    /// Creates an override.
    public init(perMillion: PriceSheet? = nil, adjustPercent: PriceAdjustment? = nil) {
        self.perMillion = perMillion
        self.adjustPercent = adjustPercent
    }

    enum CodingKeys: String, CodingKey {
        case perMillion = "per_million"
        case adjustPercent = "adjust_percent"
    }
}

/// A context-length tier: when a request's prompt is longer than `abovePromptTokens`, the whole
/// request is billed at these prices (Anthropic's and Gemini's long-context rule).
public struct ContextTier: Sendable, Hashable, Codable {
    /// The prompt length (all input-side tokens) above which the tier applies.
    public var abovePromptTokens: Int64
    /// The tier's prices (replacing the base sheet's listed kinds).
    public var perMillion: PriceSheet

    /// Creates a tier.
    public init(abovePromptTokens: Int64, perMillion: PriceSheet) {
        self.abovePromptTokens = abovePromptTokens
        self.perMillion = perMillion
    }

    enum CodingKeys: String, CodingKey {
        case abovePromptTokens = "above_prompt_tokens"
        case perMillion = "per_million"
    }
}

/// A daily window (UTC, `HH:MM`, may cross midnight) with different prices, such as an
/// off-peak discount.
public struct TimeWindow: Sendable, Hashable, Codable {
    /// Start, inclusive, `HH:MM` UTC.
    public var from: String
    /// End, exclusive, `HH:MM` UTC.
    public var to: String
    /// What changes inside the window.
    public var override: PriceOverride

    /// Creates a window.
    public init(from: String, to: String, override: PriceOverride) {
        self.from = from
        self.to = to
        self.override = override
    }

    enum CodingKeys: String, CodingKey {
        case from, to
        case perMillion = "per_million"
        case adjustPercent = "adjust_percent"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.from = try container.decode(String.self, forKey: .from)
        self.to = try container.decode(String.self, forKey: .to)
        self.override = PriceOverride(
            perMillion: try container.decodeIfPresent(PriceSheet.self, forKey: .perMillion),
            adjustPercent: try container.decodeIfPresent(PriceAdjustment.self, forKey: .adjustPercent)
        )
        guard TimeWindow.minutes(from) != nil, TimeWindow.minutes(to) != nil else {
            throw DecodingError.dataCorruptedError(
                forKey: .from, in: container,
                debugDescription: "time window bounds must be HH:MM (UTC), got '\(from)'–'\(to)'"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encodeIfPresent(override.perMillion, forKey: .perMillion)
        try container.encodeIfPresent(override.adjustPercent, forKey: .adjustPercent)
    }

    /// Minutes after midnight for `HH:MM`.
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0...24).contains(hour),
            (0..<60).contains(minute)
        else { return nil }
        return hour * 60 + minute
    }

    /// Whether an instant's UTC time of day falls inside the window.
    public func contains(_ timestamp: Timestamp) -> Bool {
        guard let start = TimeWindow.minutes(from), let end = TimeWindow.minutes(to) else { return false }
        let minute = Int(timestamp.secondOfDay / 60)
        return start <= end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }
}
