/// What refreshing the catalog from a community price map would change, and the user price file
/// that results. The user's own entries are never changed; prices that moved become a new dated
/// version, so events are still priced at the price in force at their time.
public struct PriceImport: Sendable {
    /// One model whose price moved.
    public struct Change: Sendable, Hashable {
        public var provider: String
        public var model: String
        /// The kinds that differ.
        public var differences: [TokenKind: Difference]
    }

    /// A price before and after.
    public struct Difference: Sendable, Hashable {
        public var old: UnitPrice?
        public var new: UnitPrice
    }

    /// Models whose prices changed.
    public var changed: [Change] = []
    /// Models the catalog does not have (added only when asked).
    public var new: [ImportedPrice] = []
    /// Models with the same prices.
    public var unchanged = 0
    /// Models skipped because the user's price file overrides them.
    public var keptOverrides: [String] = []
    /// The user's price file after the import.
    public var userCatalog: PriceCatalog

    /// Compares imported prices with the effective catalog (shipped + user) at `effective`.
    ///
    /// - Parameters:
    ///   - addNew: also add models the catalog lacks (for providers it already knows).
    ///   - source: recorded as the `source` of new entries and in the note of new versions.
    public init(
        imported: [ImportedPrice], shipped: PriceCatalog, user: PriceCatalog, effective: Timestamp, addNew: Bool,
        source: String
    ) {
        userCatalog = user
        let merged = shipped.overlaid(with: user)
        let userNames = Set(
            user.models.map { PriceCatalog.canonicalProvider($0.provider) + "/" + $0.model.lowercased() })
        let knownProviders = Set(shipped.providers)
        // The newest price per model in the map as of `effective`.
        var latest: [String: ImportedPrice] = [:]
        for price in imported where (price.effectiveFrom ?? Timestamp(seconds: 0)) <= effective {
            let key = price.provider + "/" + price.model.lowercased()
            if let existing = latest[key],
                (existing.effectiveFrom ?? Timestamp(seconds: 0)) > (price.effectiveFrom ?? Timestamp(seconds: 0))
            {
                continue
            }
            latest[key] = price
        }
        var additions: [ModelPricing] = []
        for key in latest.keys.sorted() {
            let price = latest[key]!
            guard let entry = merged.exactEntry(provider: price.provider, model: price.model) else {
                if addNew, knownProviders.contains(price.provider) {
                    new.append(price)
                    additions.append(
                        ModelPricing(
                            provider: price.provider, model: price.model, source: source,
                            maxInputTokens: price.maxInputTokens,
                            maxOutputTokens: price.maxOutputTokens,
                            prices: [
                                PriceVersion(
                                    effectiveFrom: price.effectiveFrom ?? effective.startOfDay,
                                    perMillion: price.perMillion,
                                    contextTiers: price.contextTiers, serviceTiers: price.serviceTiers,
                                    note: "imported from \(source)")
                            ]))
                }
                continue
            }
            let entryKey = PriceCatalog.canonicalProvider(entry.provider) + "/" + entry.model.lowercased()
            guard let current = entry.version(at: effective) else { continue }
            // Only kinds the entry lists are compared (a map's `input` is an embedding model's
            // `embedding`); a kind the entry does not bill is never added by an import.
            let listed = current.perMillion.tokens
            var differences: [TokenKind: Difference] = [:]
            for (importedKind, newPrice) in price.perMillion.tokens {
                let kind =
                    importedKind == .input && listed[.input] == nil && listed[.embedding] != nil
                    ? TokenKind.embedding : importedKind
                guard let old = listed[kind], old != newPrice else { continue }
                differences[kind] = Difference(old: old, new: newPrice)
            }
            if differences.isEmpty {
                unchanged += 1
                continue
            }
            if userNames.contains(entryKey) {
                keptOverrides.append("\(entry.provider)/\(entry.model)")
                continue
            }
            changed.append(Change(provider: entry.provider, model: entry.model, differences: differences))
            var updated = entry
            var version = current
            version.effectiveFrom = max(
                price.effectiveFrom ?? effective.startOfDay, current.effectiveFrom.adding(seconds: 86_400))
            version.perMillion = current.perMillion.overlaid(with: PriceSheet(tokens: differences.mapValues(\.new)))
            version.note = "imported from \(source)"
            updated.prices.append(version)
            additions.append(updated)
        }
        userCatalog = user.overlaid(with: PriceCatalog(models: additions))
    }
}

extension PriceCatalog {
    /// The entry whose canonical name or alias is exactly `model` (no normalisation).
    public func exactEntry(provider: String, model: String) -> ModelPricing? {
        let canonical = PriceCatalog.canonicalProvider(provider)
        return models.first { entry in
            PriceCatalog.canonicalProvider(entry.provider) == canonical
                && ([entry.model] + entry.aliases).contains { $0.lowercased() == model.lowercased() }
        }
    }
}
