/// How a metered request ended.
public enum Outcome: String, CaseIterable, Sendable, Codable, Hashable {
    /// Succeeded; usage as reported by the provider.
    case ok
    /// Failed; any tokens were still billed.
    case error
    /// Failed and was retried; this attempt's spend is waste.
    case retried
    /// Cancelled by the client before completion.
    case cancelled
    /// Succeeded, but usage was estimated because the provider did not report it.
    case estimated

    /// Whether spend on this outcome is wasted (the goodput figures).
    public var isWaste: Bool {
        switch self {
        case .error, .retried, .cancelled: true
        case .ok, .estimated: false
        }
    }
}

/// The price tier a request was served at.
public enum ServiceTier: String, CaseIterable, Sendable, Codable, Hashable {
    case standard
    case batch
    case flex
    case priority
}
