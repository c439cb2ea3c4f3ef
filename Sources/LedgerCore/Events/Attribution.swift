/// Who a usage event belongs to. Every dimension is optional; absent means *unallocated*.
public struct Attribution: Sendable, Hashable {
    public var organisation: String?
    public var team: String?
    public var user: String?
    public var project: String?
    public var application: String?
    public var feature: String?
    public var customer: String?
    public var costCentre: String?
    public var session: String?
    public var environment: String?

    /// Creates an attribution; every dimension defaults to absent.
    public init(
        organisation: String? = nil, team: String? = nil, user: String? = nil, project: String? = nil,
        application: String? = nil, feature: String? = nil, customer: String? = nil, costCentre: String? = nil,
        session: String? = nil, environment: String? = nil
    ) {
        self.organisation = organisation
        self.team = team
        self.user = user
        self.project = project
        self.application = application
        self.feature = feature
        self.customer = customer
        self.costCentre = costCentre
        self.session = session
        self.environment = environment
    }

    /// The value of one attribution dimension.
    public subscript(dimension: AttributionDimension) -> String? {
        get {
            switch dimension {
            case .organisation: organisation
            case .team: team
            case .user: user
            case .project: project
            case .application: application
            case .feature: feature
            case .customer: customer
            case .costCentre: costCentre
            case .session: session
            case .environment: environment
            }
        }
        set {
            switch dimension {
            case .organisation: organisation = newValue
            case .team: team = newValue
            case .user: user = newValue
            case .project: project = newValue
            case .application: application = newValue
            case .feature: feature = newValue
            case .customer: customer = newValue
            case .costCentre: costCentre = newValue
            case .session: session = newValue
            case .environment: environment = newValue
            }
        }
    }
}

/// The attribution dimensions, with the field names used in files, reports and the API.
public enum AttributionDimension: String, CaseIterable, Sendable, Codable, Hashable {
    /// Every dimension, in declaration order, built once (the synthesized `allCases` builds a new
    /// array at every use).
    public static let all: [AttributionDimension] = allCases

    case organisation
    case team
    case user
    case project
    case application
    case feature
    case customer
    case costCentre = "cost_centre"
    case session
    case environment
}
