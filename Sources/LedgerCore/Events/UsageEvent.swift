/// One metered unit of AI consumption: an LLM call, a span of GPU time, or stored bytes over time.
///
/// Token counts are disjoint by kind (see ``TokenKind``); provider adapters in
/// ``ProviderUsage`` convert each provider's own usage object into them.
public struct UsageEvent: Sendable, Hashable {
    /// A unique id; recording the same id twice counts once.
    public var id: String
    /// When the usage happened, UTC.
    public var timestamp: Timestamp
    /// Where the event came from: `gateway`, `import`, `otel`, `demo`, …
    public var source: String
    /// The provider that served it: `openai`, `anthropic`, `bedrock`, …
    public var provider: String
    /// The model name as the caller sent it.
    public var model: String
    /// The region or data zone it ran in, when it matters for price.
    public var region: String?
    /// The price tier it was served at.
    public var serviceTier: ServiceTier
    /// Tokens by kind.
    public var tokens: TokenCounts
    /// GPU time and storage, for self-hosted models and retrieval stores.
    public var resources: ResourceUsage
    /// How the request ended.
    public var outcome: Outcome
    /// End-to-end latency in milliseconds, when known.
    public var latencyMilliseconds: Int64?
    /// Who it belongs to.
    public var attribution: Attribution
    /// Free-form tags.
    public var tags: [String: String]
    /// How many requests the event stands for: 1 for a metered call, N for a provider's aggregated
    /// usage row (0 when the source does not say).
    public var requests: Int64 = 1
    /// Whether the requests were billed at the long-context tier, when the source says so
    /// (Anthropic's usage report does); `nil` decides from the prompt tokens per request.
    public var longContext: Bool?

    /// Creates an event.
    public init(
        id: String, timestamp: Timestamp, source: String = "import", provider: String, model: String,
        region: String? = nil, serviceTier: ServiceTier = .standard, tokens: TokenCounts = .zero,
        resources: ResourceUsage = .none, outcome: Outcome = .ok, latencyMilliseconds: Int64? = nil,
        attribution: Attribution = Attribution(), tags: [String: String] = [:]
    ) {
        self.id = id
        self.timestamp = timestamp
        self.source = source
        self.provider = provider
        self.model = model
        self.region = region
        self.serviceTier = serviceTier
        self.tokens = tokens
        self.resources = resources
        self.outcome = outcome
        self.latencyMilliseconds = latencyMilliseconds
        self.attribution = attribution
        self.tags = tags
    }
}

extension UsageEvent {
    /// Prompt tokens per request: what context-length tiers measure (an aggregated row's prompt
    /// tokens are spread over its requests).
    public var promptPerRequest: Int64 { requests > 1 ? tokens.prompt / requests : tokens.prompt }
}

/// Non-token consumption carried by an event: GPU time and storage.
public struct ResourceUsage: Sendable, Hashable {
    /// GPU time consumed, in GPU-microseconds (one GPU for one microsecond). Fine enough for a
    /// single call's share of a self-hosted model's GPUs; files and reports say GPU-seconds.
    public var gpuMicroseconds: Int64
    /// Byte-hours of storage held.
    public var storageByteHours: Int64

    /// Creates resource usage.
    public init(gpuMicroseconds: Int64 = 0, storageByteHours: Int64 = 0) {
        self.gpuMicroseconds = gpuMicroseconds
        self.storageByteHours = storageByteHours
    }

    /// No GPU time and no storage.
    public static let none = ResourceUsage()

    /// GPU-microseconds in a GPU-second.
    public static let microsecondsPerSecond: Int64 = 1_000_000
    /// GPU-microseconds in a GPU-hour: the unit GPU time is priced in.
    public static let microsecondsPerHour: Int64 = 3_600_000_000

    /// The GPU time as exact decimal GPU-seconds (`"0.25"`, `"3600"`).
    public var gpuSecondsText: String {
        DecimalText.format(Int128(gpuMicroseconds), scale: 6, minimumFractionDigits: 0)
    }
}

/// An event with its price: what the ledger records.
public struct RatedEvent: Sendable, Hashable {
    /// The event.
    public var event: UsageEvent
    /// Its cost (a lower bound when `priced` is false).
    public var cost: Cost
    /// Whether every billed quantity had a price.
    public var priced: Bool
    /// The catalog model the name resolved to, if any.
    public var resolvedModel: String?

    /// Creates a rated event.
    public init(event: UsageEvent, cost: Cost, priced: Bool, resolvedModel: String?) {
        self.event = event
        self.cost = cost
        self.priced = priced
        self.resolvedModel = resolvedModel
    }

    /// An event with its rating.
    public init(event: UsageEvent, rating: Rating) {
        self.init(event: event, cost: rating.cost, priced: rating.priced, resolvedModel: rating.resolvedModel)
    }

    /// The rating alone.
    public var rating: Rating { Rating(cost: cost, priced: priced, resolvedModel: resolvedModel) }
}

/// What rating found for an event: its cost, whether complete, and the catalog model. Bulk loads
/// keep ratings beside their events rather than copying each event into a ``RatedEvent``.
public struct Rating: Sendable, Hashable {
    /// The cost (a lower bound when `priced` is false).
    public var cost: Cost
    /// Whether every billed quantity had a price.
    public var priced: Bool
    /// The catalog model the name resolved to, if any.
    public var resolvedModel: String?

    /// Creates a rating.
    public init(cost: Cost, priced: Bool, resolvedModel: String?) {
        self.cost = cost
        self.priced = priced
        self.resolvedModel = resolvedModel
    }
}
