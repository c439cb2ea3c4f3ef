/// The model price catalog: every model's prices over time, and the rules that turn the names
/// callers send into catalog entries.
///
/// ```swift
/// let catalog = try PriceCatalog(json: data)
/// let resolution = try catalog.resolve(provider: "bedrock", model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
/// ```
public struct PriceCatalog: Sendable {
    /// The entries, in file order.
    public private(set) var models: [ModelPricing]
    /// Negotiated discounts and markups.
    public private(set) var discounts: [PriceDiscount]
    /// When the catalog data was last refreshed, if stated.
    public var updated: String?

    /// Exact names (canonical and aliases), `provider\0name` lowercased → index in `models`.
    private var index: [String: Int]

    /// Creates a catalog from entries.
    public init(models: [ModelPricing], discounts: [PriceDiscount] = [], updated: String? = nil) {
        self.models = models
        self.discounts = discounts
        self.updated = updated
        self.index = [:]
        rebuildIndex()
    }

    private mutating func rebuildIndex() {
        index = [:]
        for (position, entry) in models.enumerated() {
            let provider = PriceCatalog.canonicalProvider(entry.provider)
            for name in [entry.model] + entry.aliases {
                index[PriceCatalog.key(provider, name)] = position
            }
        }
    }

    static func key(_ provider: String, _ model: String) -> String {
        provider + "\u{0}" + model.lowercased()
    }

    /// Providers known by another name in SDKs and tools.
    static let providerAliases: [String: String] = [
        "gemini": "google", "google-ai": "google", "google_ai_studio": "google", "gcp.gemini": "google",
        "vertex_ai": "vertex", "vertexai": "vertex", "gcp.vertex_ai": "vertex", "google-vertex": "vertex",
        "aws": "bedrock", "aws.bedrock": "bedrock", "amazon-bedrock": "bedrock", "bedrock_converse": "bedrock",
        "azure_openai": "azure", "azure-openai": "azure", "azure.ai.openai": "azure",
        "mistralai": "mistral", "mistral_ai": "mistral", "anthropic-ai": "anthropic",
    ]

    /// The catalog's name for a provider (`gemini` → `google`, `vertex_ai` → `vertex`).
    public static func canonicalProvider(_ provider: String) -> String {
        let lowered = provider.lowercased()
        return providerAliases[lowered] ?? lowered
    }

    /// Every provider the catalog lists.
    public var providers: [String] {
        Array(Set(models.map { PriceCatalog.canonicalProvider($0.provider) })).sorted()
    }

    // MARK: - Merging

    /// This catalog with a user's catalog laid over it: an entry with the same provider and model
    /// replaces the shipped one, other entries are added, discounts are appended.
    public func overlaid(with user: PriceCatalog) -> PriceCatalog {
        var merged = models
        var positions: [String: Int] = [:]
        for (position, entry) in merged.enumerated() {
            positions[PriceCatalog.key(PriceCatalog.canonicalProvider(entry.provider), entry.model)] = position
        }
        for entry in user.models {
            let key = PriceCatalog.key(PriceCatalog.canonicalProvider(entry.provider), entry.model)
            if let position = positions[key] {
                merged[position] = entry
            } else {
                positions[key] = merged.count
                merged.append(entry)
            }
        }
        return PriceCatalog(models: merged, discounts: discounts + user.discounts, updated: user.updated ?? updated)
    }

    // MARK: - Resolution

    /// Finds the entry for the name a caller sent.
    ///
    /// Tried in order: the exact name or an alias; then the same after stripping, one at a
    /// time, what providers add to a model id — a `models/` or `provider/` prefix, a Bedrock
    /// cross-region prefix (`us.`, `eu.`, `apac.`, `global.`, …, which also names the region), an
    /// inference-profile ARN, a Vertex `@date`, a Bedrock `-v1:0` version, a dated snapshot
    /// suffix (`-2024-08-06`, `-20250929`). Nothing else is guessed.
    ///
    /// - Throws: ``PricingError/unknownModel(provider:model:suggestions:)`` with the closest names.
    public func resolve(provider: String, model: String) throws(PricingError) -> ModelResolution {
        let provider = PriceCatalog.canonicalProvider(provider)
        // A Bedrock id without a cross-region prefix is an in-region call.
        let inRegion: String? = provider == "bedrock" && !model.hasPrefix("arn:") ? "in-region" : nil
        if let position = index[PriceCatalog.key(provider, model)] {
            return ModelResolution(position: position, entry: models[position], impliedRegion: inRegion)
        }
        var candidate = model
        var impliedRegion: String?
        var steps = 0
        while steps < 8 {
            steps += 1
            guard let (next, region) = PriceCatalog.strippedOnce(candidate, provider: provider) else { break }
            candidate = next
            if let region { impliedRegion = region }
            if let position = index[PriceCatalog.key(provider, candidate)] {
                return ModelResolution(
                    position: position, entry: models[position], impliedRegion: impliedRegion ?? inRegion)
            }
        }
        throw PricingError.unknownModel(
            provider: provider, model: model, suggestions: suggestions(provider: provider, model: model))
    }

    static let bedrockGeoPrefixes = ["us-gov", "global", "apac", "us", "eu", "jp", "au", "ca"]

    /// One normalisation step, or `nil` when none applies.
    static func strippedOnce(_ name: String, provider: String) -> (String, String?)? {
        if name.hasPrefix("models/") { return (String(name.dropFirst(7)), nil) }
        if name.hasPrefix(provider + "/") { return (String(name.dropFirst(provider.count + 1)), nil) }
        if let slash = name.lastIndex(of: "/"), name.hasPrefix("arn:") {
            return (String(name[name.index(after: slash)...]), nil)
        }
        if provider == "bedrock" {
            for prefix in bedrockGeoPrefixes where name.hasPrefix(prefix + ".") {
                return (String(name.dropFirst(prefix.count + 1)), prefix)
            }
        }
        if let at = name.firstIndex(of: "@") {
            let base = String(name[..<at])
            let date = name[name.index(after: at)...]
            if date.allSatisfy(\.isNumber), !date.isEmpty { return (base + "-" + date, nil) }
            return (base, nil)
        }
        if let dash = name.lastIndex(of: "-") {
            let suffix = name[name.index(after: dash)...]
            if suffix.first == "v", suffix.count > 1, suffix.dropFirst().allSatisfy({ $0.isNumber || $0 == ":" }),
                suffix.dropFirst().first?.isNumber == true
            {
                return (String(name[..<dash]), nil)
            }
        }
        if let stripped = strippingDateSuffix(name) { return (stripped, nil) }
        return nil
    }

    /// `gpt-4o-2024-08-06` → `gpt-4o`; `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`.
    static func strippingDateSuffix(_ name: String) -> String? {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 2 else { return nil }
        let last = parts[parts.count - 1]
        if last.count == 8, last.allSatisfy(\.isNumber), last.hasPrefix("20") {
            return parts.dropLast().joined(separator: "-")
        }
        if parts.count >= 4, last.count == 2, parts[parts.count - 2].count == 2, parts[parts.count - 3].count == 4,
            parts[parts.count - 3].hasPrefix("20"),
            (parts[(parts.count - 3)...]).allSatisfy({ $0.allSatisfy(\.isNumber) })
        {
            return parts.dropLast(3).joined(separator: "-")
        }
        return nil
    }

    /// Up to five known names closest to `model` (edit distance), this provider's first.
    public func suggestions(provider: String, model: String, limit: Int = 5) -> [String] {
        let provider = PriceCatalog.canonicalProvider(provider)
        let target = model.lowercased()
        var scored: [(score: Int, name: String)] = []
        for entry in models {
            let entryProvider = PriceCatalog.canonicalProvider(entry.provider)
            let penalty = entryProvider == provider ? 0 : 1000
            let label = entryProvider == provider ? entry.model : "\(entryProvider)/\(entry.model)"
            let best = ([entry.model] + entry.aliases).map { EditDistance.between(target, $0.lowercased()) }.min() ?? 0
            scored.append((best + penalty, label))
        }
        scored.sort { $0.score != $1.score ? $0.score < $1.score : $0.name < $1.name }
        var names: [String] = []
        for candidate in scored where !names.contains(candidate.name) {
            names.append(candidate.name)
            if names.count == limit { break }
        }
        return names
    }
}

/// The catalog entry a model name resolved to.
public struct ModelResolution: Sendable {
    /// Position in ``PriceCatalog/models``.
    public var position: Int
    /// The entry.
    public var entry: ModelPricing
    /// A region named by the model id itself (a Bedrock `us.` prefix), if any.
    public var impliedRegion: String?
}

/// Errors from the price catalog and rating.
public enum PricingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The model is not in the catalog under that provider.
    case unknownModel(provider: String, model: String, suggestions: [String])
    /// The model has no price in force at that time.
    case noPriceInForce(model: String, at: Timestamp, earliest: Timestamp?)
    /// The requested service tier is not offered for this model.
    case tierNotOffered(model: String, tier: ServiceTier)
    /// The model is in the catalog but lacks a price that is needed (input, output, …).
    case unpricedKinds(model: String, kinds: [String])

    public var description: String {
        switch self {
        case .unknownModel(let provider, let model, let suggestions):
            let hint = suggestions.isEmpty ? "" : " Closest known: \(suggestions.joined(separator: ", "))."
            return "Unknown model '\(model)' for provider '\(provider)'.\(hint) "
                + "Add it to your own price file (--prices FILE) or check the spelling with `tokenledger prices list`."
        case .noPriceInForce(let model, let at, let earliest):
            let first = earliest.map { " Its first price is from \($0.dateString)." } ?? ""
            return "Model '\(model)' has no price in force at \(at.iso8601).\(first)"
        case .tierNotOffered(let model, let tier):
            return
                "Model '\(model)' has no '\(tier.rawValue)' price in the catalog; quote it at the standard tier or add the tier to your price file."
        case .unpricedKinds(let model, let kinds):
            return
                "Model '\(model)' has no price for \(kinds.joined(separator: ", ")); add it to your price file (--prices FILE)."
        }
    }
}
