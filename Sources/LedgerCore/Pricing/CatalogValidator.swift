/// Checks a catalog for mistakes that decoding cannot catch: names that collide, versions that
/// overlap, tiers in the wrong order, suspicious prices.
public enum CatalogValidator {
    /// One finding.
    public struct Issue: Sendable, Hashable, CustomStringConvertible {
        /// How bad it is.
        public enum Severity: String, Sendable { case error, warning }
        public var severity: Severity
        /// Where: `openai/gpt-4o prices[1]`.
        public var location: String
        /// What is wrong and what to do.
        public var message: String

        public var description: String { "\(severity.rawValue): \(location): \(message)" }
    }

    /// All findings, errors first.
    public static func issues(in catalog: PriceCatalog) -> [Issue] {
        var issues: [Issue] = []
        var owners: [String: String] = [:]
        for entry in catalog.models {
            let label = "\(entry.provider)/\(entry.model)"
            func report(_ severity: Issue.Severity, _ location: String, _ message: String) {
                issues.append(Issue(severity: severity, location: location, message: message))
            }
            if entry.provider.isEmpty || entry.model.isEmpty {
                report(.error, label, "provider and model must not be empty")
            }
            if entry.source.isEmpty { report(.warning, label, "no source: say where the prices come from") }
            let provider = PriceCatalog.canonicalProvider(entry.provider)
            for name in [entry.model] + entry.aliases {
                let key = provider + "/" + name.lowercased()
                if let owner = owners[key], owner != label {
                    report(.error, label, "name '\(name)' is already used by \(owner); a name must mean one model")
                } else {
                    owners[key] = label
                }
            }
            if entry.prices.isEmpty { report(.error, label, "no prices: add at least one version with effective_from") }
            var dates = Set<Int64>()
            for (position, version) in entry.prices.enumerated() {
                let location = "\(label) prices[\(position)]"
                if !dates.insert(version.effectiveFrom.microseconds).inserted {
                    report(.error, location, "two versions start on \(version.effectiveFrom.dateString); merge them")
                }
                if position > 0, version.effectiveFrom < entry.prices[position - 1].effectiveFrom {
                    report(.warning, location, "versions are not in date order")
                }
                if version.perMillion.isEmpty { report(.error, location, "per_million lists no price") }
                if let input = version.perMillion.tokens[.input], let cached = version.perMillion.tokens[.cacheRead],
                    cached > input
                {
                    report(
                        .warning, location,
                        "cache_read (\(cached.dollarString)) costs more than input (\(input.dollarString))")
                }
                for tier in version.contextTiers {
                    if tier.abovePromptTokens <= 0 {
                        report(
                            .error, location, "context tier threshold must be positive, got \(tier.abovePromptTokens)")
                    }
                    if tier.perMillion.isEmpty {
                        report(.error, location, "context tier above \(tier.abovePromptTokens) lists no price")
                    }
                }
                for key in version.serviceTiers.keys where ServiceTier(rawValue: key) == nil || key == "standard" {
                    report(.error, location, "unknown service tier '\(key)'; use batch, flex or priority")
                }
                for (key, override) in version.regions where key.isEmpty {
                    _ = override
                    report(.error, location, "empty region name")
                }
            }
        }
        for discount in catalog.discounts
        where !catalog.models.contains(where: { PriceCatalog.canonicalProvider($0.provider) == discount.provider }) {
            issues.append(
                Issue(
                    severity: .warning, location: "discounts",
                    message: "discount for provider '\(discount.provider)' matches no model"))
        }
        return issues.sorted { ($0.severity == .error ? 0 : 1) < ($1.severity == .error ? 0 : 1) }
    }
}
