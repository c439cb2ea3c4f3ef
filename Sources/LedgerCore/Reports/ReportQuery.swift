/// A dimension a report can group or filter by.
public enum ReportDimension: Sendable, Hashable, CustomStringConvertible {
    case provider
    case model
    case source
    case serviceTier
    case outcome
    case region
    case attribution(AttributionDimension)
    /// A free-form tag (`tag:KEY`).
    case tag(String)

    /// Every named dimension (without tags).
    public static let allNamed: [ReportDimension] =
        [.provider, .model, .source, .serviceTier, .outcome, .region]
        + AttributionDimension.all.map { .attribution($0) }

    /// The name used in flags, JSON keys and CSV headers.
    public var name: String {
        switch self {
        case .provider: "provider"
        case .model: "model"
        case .source: "source"
        case .serviceTier: "service_tier"
        case .outcome: "outcome"
        case .region: "region"
        case .attribution(let dimension): dimension.rawValue
        case .tag(let key): "tag:" + key
        }
    }

    public var description: String { name }

    /// Parses a name such as `team`, `cost_centre` or `tag:env`.
    public init?(name: String) {
        let lowered = name.lowercased()
        if lowered.hasPrefix("tag:"), name.count > 4 {
            self = .tag(String(name.dropFirst(4)))
            return
        }
        let aliases = [
            "cost_center": "cost_centre", "costcentre": "cost_centre", "tier": "service_tier", "org": "organisation",
            "organization": "organisation", "app": "application", "env": "environment",
        ]
        let canonical = aliases[lowered] ?? lowered
        guard let found = ReportDimension.allNamed.first(where: { $0.name == canonical }) else { return nil }
        self = found
    }
}

/// How finely a report splits time.
public enum Granularity: String, Sendable, CaseIterable, Codable {
    case hour, day, month
}

/// What to report on.
public struct ReportQuery: Sendable, Hashable {
    /// Start, inclusive.
    public var from: Timestamp
    /// End, exclusive.
    public var to: Timestamp
    /// Dimensions to group by, in column order.
    public var groupBy: [ReportDimension]
    /// Split by time, or one row per group for the whole period.
    public var granularity: Granularity?
    /// Keep the N most expensive groups; the rest become one `(other)` row, so totals still add up.
    public var top: Int?
    /// Only events whose dimension has this value (`""` means unallocated).
    public var filters: [ReportDimension: String]

    /// Creates a query.
    public init(
        from: Timestamp, to: Timestamp, groupBy: [ReportDimension] = [], granularity: Granularity? = nil,
        top: Int? = nil,
        filters: [ReportDimension: String] = [:]
    ) {
        self.from = from
        self.to = to
        self.groupBy = groupBy
        self.granularity = granularity
        self.top = top
        self.filters = filters
    }
}
