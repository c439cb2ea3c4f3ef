/// Builds FOCUS 1.2 cost-and-usage rows from rated events: one row per day, priced quantity
/// (model × token kind × unit price) and owner (allocated dimensions and tags).
///
/// Tokens are the consumed quantity (`Tokens`); the pricing quantity is millions of tokens
/// (`1000000 Tokens`) so `ListUnitPrice × PricingQuantity = ListCost` exactly. Catalog entries are
/// the SKUs; the attribution dimensions and event tags are the `Tags`.
///
/// Besides the mandatory columns it writes the conditional ones the official validator's rules
/// read: `CommitmentDiscountStatus` (always null: no commitments) and the `PricingCurrency*`
/// columns (prices are in the billing currency, so they repeat the unit prices and cost).
public struct FocusExport: Sendable {
    /// The columns written, FOCUS columns first (spec order), then custom `x_` columns.
    public static let header: [String] = [
        "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
        "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
        "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountStatus", "ConsumedQuantity",
        "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuerName",
        "ListCost", "ListUnitPrice", "PricingCategory", "PricingCurrency", "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "PricingQuantity", "PricingUnit",
        "ProviderName", "PublisherName",
        "RegionId", "RegionName", "ServiceCategory", "ServiceName", "ServiceSubcategory", "SkuId", "SkuMeter",
        "SkuPriceDetails", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags", "x_Requests", "x_Unpriced",
    ]

    public let period: BillingPeriod
    public let billingAccountID: String
    public let billingAccountName: String
    private var rater: Rater
    private var groups: [Key: Figures] = [:]
    /// Events whose stored cost differs from rating them now (the price file changed since).
    public private(set) var reratedEvents = 0
    public private(set) var events = 0
    public private(set) var cost = Cost.zero

    public init(period: BillingPeriod, catalog: PriceCatalog, billingAccountID: String, billingAccountName: String) {
        self.period = period
        self.rater = Rater(catalog: catalog)
        self.billingAccountID = billingAccountID
        self.billingAccountName = billingAccountName
    }

    private struct Key: Hashable {
        var day: Int64
        var provider: String
        var model: String
        var kind: String
        var priceUnit: String
        var unitPrice: EffectivePrice?
        var unitsPerPrice: Int128
        var serviceTier: String
        var region: String?
        var project: String?
        var tags: [String: String]
    }

    private struct Figures {
        var quantity: Int64 = 0
        var cost = Cost.zero
        var requests: Int64 = 0
    }

    /// By price unit: the consumed and pricing units, recorded units per pricing unit, and the
    /// decimal places of a recorded unit in the consumed unit (GPU time is recorded in
    /// microseconds and consumed in seconds).
    private static let units: [String: (consumed: String, pricing: String, per: Int128, scale: Int)] = [
        "1M tokens": ("Tokens", "1000000 Tokens", 1_000_000, 0),
        "GPU-hour": ("GPU-Seconds", "GPU-Hours", Int128(ResourceUsage.microsecondsPerHour), 6),
        "GB-month": ("Byte-Hours", "GB-Months", 730_000_000_000, 0),
    ]

    /// Adds one recorded event.
    public mutating func add(_ rated: RatedEvent) {
        let event = rated.event
        events += 1
        cost += rated.cost
        let day = event.timestamp.seconds - event.timestamp.secondOfDay
        var tags = event.tags
        for dimension in AttributionDimension.all where dimension != .user && dimension != .session {
            if let value = event.attribution[dimension] { tags[dimension.rawValue] = value }
        }
        func key(kind: String, priceUnit: String, price: EffectivePrice?, per: Int128, model: String) -> Key {
            Key(
                day: day, provider: event.provider, model: model, kind: kind, priceUnit: priceUnit, unitPrice: price,
                unitsPerPrice: per, serviceTier: event.serviceTier.rawValue, region: event.region,
                project: event.attribution.project, tags: tags)
        }
        var lines: [CostLine] = []
        var unpriced: [String] = []
        var model = rated.resolvedModel ?? event.model
        do {
            let breakdown = try rater.breakdown(event)
            lines = breakdown.lines
            unpriced = breakdown.unpricedKinds
            model = breakdown.resolvedModel
            if breakdown.total != rated.cost { reratedEvents += 1 }
        } catch {
            unpriced = TokenKind.all.filter { event.tokens[$0] > 0 }.map(\.rawValue)
        }
        var first = true
        for line in lines {
            let per = Self.units[line.priceUnit]?.per ?? 1_000_000
            let rowKey = key(kind: line.kind, priceUnit: line.priceUnit, price: line.unitPrice, per: per, model: model)
            groups[rowKey, default: Figures()].quantity += line.quantity
            groups[rowKey, default: Figures()].cost += line.cost
            if first { groups[rowKey, default: Figures()].requests += event.requests }
            first = false
        }
        for kindName in unpriced {
            let quantity: Int64
            let unit: String
            if let kind = TokenKind(rawValue: kindName) {
                quantity = event.tokens[kind]
                unit = "1M tokens"
            } else if kindName == "gpu_seconds" {
                quantity = event.resources.gpuMicroseconds
                unit = "GPU-hour"
            } else {
                quantity = event.resources.storageByteHours
                unit = "GB-month"
            }
            guard quantity > 0 else { continue }
            let rowKey = key(
                kind: kindName, priceUnit: unit, price: nil, per: Self.units[unit]!.per, model: model)
            groups[rowKey, default: Figures()].quantity += quantity
            if first { groups[rowKey, default: Figures()].requests += event.requests }
            first = false
        }
    }

    /// The rows, sorted (day, provider, model, kind, owner), as CSV fields (`nil` is null).
    public func rows() -> [[String?]] {
        let billingStart = period.start.iso8601
        let billingEnd = period.end.iso8601
        let keyed = groups.map { (key: $0.key, figures: $0.value, tags: Self.json($0.key.tags)) }
        return keyed.sorted { lhs, rhs in
            (lhs.key.day, lhs.key.provider, lhs.key.model, lhs.key.kind, lhs.tags)
                < (rhs.key.day, rhs.key.provider, rhs.key.model, rhs.key.kind, rhs.tags)
        }.map { key, figures, tags in
            let service = FocusService.of(provider: key.provider, model: key.model, kind: key.kind)
            let units = Self.units[key.priceUnit] ?? Self.units["1M tokens"]!
            let pricingQuantity = Self.ratio(Int128(figures.quantity), units.per, scale: 9)
            let unitPrice = key.unitPrice.map(Self.dollars)
            let listCost = key.unitPrice.map { Self.product($0, pricingQuantity) } ?? "0.0"
            let billed = Self.decimal(figures.cost.picodollars, scale: 12)
            let meter = FocusService.meter(key.kind)
            let dayStart = Timestamp(seconds: key.day)
            let dayEnd = min(dayStart.adding(seconds: 86_400), period.end)
            var details: [String: String] = ["x_Model": key.model, "x_TokenType": key.kind]
            details["x_ServiceTier"] = key.serviceTier
            return [
                nil, billed, billingAccountID, billingAccountName, "USD", billingEnd, billingStart, "Usage", nil,
                "\(key.model) \(meter.lowercased()) (\(service.providerName))", "Usage-Based", dayEnd.iso8601,
                dayStart.iso8601, nil, Self.decimal(Int128(figures.quantity), scale: units.scale), units.consumed,
                listCost, unitPrice, billed, nil, service.invoiceIssuerName, listCost, unitPrice,
                key.serviceTier == "standard" ? "Standard" : "Other", "USD", unitPrice, billed, unitPrice,
                pricingQuantity.text, units.pricing,
                service.providerName, service.publisherName, key.region, key.region, service.category,
                service.serviceName, service.subcategory, key.model, meter, Self.json(details),
                "\(key.provider):\(key.model):\(key.kind):\(key.serviceTier)"
                    + (key.region.map { ":" + $0 } ?? "") + (unitPrice.map { "@" + $0 } ?? ""),
                key.project, key.project, key.tags.isEmpty ? nil : tags,
                String(figures.requests), key.unitPrice == nil ? "true" : "false",
            ]
        }
    }

    // MARK: - Formats

    /// A decimal with at least one fraction digit (so readers type it as a decimal, not an integer).
    static func decimal(_ value: Int128, scale: Int) -> String {
        let text = DecimalText.format(value, scale: scale, minimumFractionDigits: 1)
        return text.contains(".") ? text : text + ".0"
    }

    /// `numerator / denominator` rounded half-even to `scale` digits, as scaled integer and text.
    static func ratio(_ numerator: Int128, _ denominator: Int128, scale: Int) -> (
        scaled: Int128, scale: Int, text: String
    ) {
        let scaled = DecimalText.divideRoundingHalfEven(numerator * DecimalText.powerOfTen(scale), by: denominator)
        return (scaled, scale, decimal(scaled, scale: scale))
    }

    /// Dollars per pricing unit, exact: the price is microdollars × numerator / denominator.
    static func dollars(_ price: EffectivePrice) -> String {
        // numerator / (denominator × 10^6) with denominator a power of ten.
        var digits = 6
        var denominator = price.denominator
        while denominator > 1 {
            denominator /= 10
            digits += 1
        }
        return decimal(price.numerator, scale: digits)
    }

    /// `price × quantity` exactly, as a decimal.
    static func product(_ price: EffectivePrice, _ quantity: (scaled: Int128, scale: Int, text: String)) -> String {
        var digits = 6
        var denominator = price.denominator
        while denominator > 1 {
            denominator /= 10
            digits += 1
        }
        return decimal(price.numerator * quantity.scaled, scale: digits + quantity.scale)
    }

    /// A flat JSON object with sorted keys.
    static func json(_ object: [String: String]) -> String {
        "{"
            + object.sorted { $0.key < $1.key }.map { OrderedJSON.quoted($0.key) + ":" + OrderedJSON.quoted($0.value) }
            .joined(separator: ",") + "}"
    }

    /// One CSV record (RFC 4180): fields with commas, quotes or line breaks are quoted; null is empty.
    public static func csvLine(_ fields: [String?]) -> String {
        fields.map { field -> String in
            guard let field else { return "" }
            if field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                return "\"" + field.replacing("\"", with: "\"\"") + "\""
            }
            return field
        }.joined(separator: ",")
    }
}

/// How a provider and model appear in FOCUS: who provides, publishes and invoices, and under
/// which service. Each service name maps to exactly one category and subcategory.
public struct FocusService: Sendable, Hashable {
    public var providerName: String
    public var publisherName: String
    public var invoiceIssuerName: String
    public var serviceName: String
    public var category: String
    public var subcategory: String

    static func of(provider: String, model: String, kind: String) -> FocusService {
        let generative = ("AI and Machine Learning", "Generative AI")
        func service(_ provider: String, _ publisher: String, _ name: String) -> FocusService {
            FocusService(
                providerName: provider, publisherName: publisher, invoiceIssuerName: provider, serviceName: name,
                category: generative.0, subcategory: generative.1)
        }
        let lowered = model.lowercased()
        func publisher(default fallback: String) -> String {
            if lowered.contains("claude") { return "Anthropic" }
            if lowered.contains("gemini") || lowered.contains("gemma") { return "Google" }
            if lowered.contains("llama") { return "Meta" }
            if lowered.contains("mistral") || lowered.contains("mixtral") { return "Mistral AI" }
            if lowered.contains("gpt") || lowered.hasPrefix("o3") || lowered.hasPrefix("o4") { return "OpenAI" }
            if lowered.contains("deepseek") { return "DeepSeek" }
            if lowered.contains("nova") || lowered.contains("titan") { return "Amazon" }
            if lowered.contains("command") || lowered.contains("cohere") { return "Cohere" }
            return fallback
        }
        switch provider {
        case "openai": return service("OpenAI", "OpenAI", "OpenAI API")
        case "anthropic": return service("Anthropic", "Anthropic", "Claude API")
        case "google": return service("Google", "Google", "Gemini API")
        case "vertex": return service("Google Cloud", publisher(default: "Google"), "Vertex AI")
        case "bedrock": return service("AWS", publisher(default: "Amazon"), "Amazon Bedrock")
        case "azure": return service("Microsoft", publisher(default: "OpenAI"), "Azure OpenAI")
        case "mistral": return service("Mistral AI", "Mistral AI", "Mistral API")
        case "deepseek": return service("DeepSeek", "DeepSeek", "DeepSeek API")
        case "groq": return service("Groq", publisher(default: "Groq"), "GroqCloud")
        default:
            if kind == "gpu_seconds" {
                var result = service(provider, provider, "\(provider) GPU")
                result.subcategory = "AI Platforms"
                return result
            }
            if kind == "storage_byte_hours" {
                var result = service(provider, provider, "\(provider) storage")
                result.category = "Storage"
                result.subcategory = "Other (Storage)"
                return result
            }
            return service(provider, publisher(default: provider), "\(provider) models")
        }
    }

    static func meter(_ kind: String) -> String {
        switch kind {
        case "input": "Input Tokens"
        case "cache_read": "Cache Read Input Tokens"
        case "cache_write": "Cache Write Input Tokens (5m)"
        case "cache_write_1h": "Cache Write Input Tokens (1h)"
        case "output": "Output Tokens"
        case "reasoning": "Reasoning Tokens"
        case "audio_input": "Audio Input Tokens"
        case "audio_output": "Audio Output Tokens"
        case "image_input": "Image Input Tokens"
        case "image_output": "Image Output Tokens"
        case "embedding": "Embedding Tokens"
        case "gpu_seconds": "GPU Time"
        case "storage_byte_hours": "Storage"
        default: kind
        }
    }
}
