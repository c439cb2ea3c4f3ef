import LedgerCore

/// The low-cardinality dimensions of an event: one row of `dimension_sets`.
///
/// Hashing looks at the five most discriminating fields only (equality still compares all),
/// because this key is hashed once per recorded event.
struct DimensionSet: Hashable, Sendable {
    var provider, model, source, serviceTier, outcome, organisation, team, project, application, feature, customer,
        costCentre,
        environment: String

    init(_ event: borrowing UsageEvent) {
        provider = event.provider
        model = event.model
        source = event.source
        serviceTier = event.serviceTier.rawValue
        outcome = event.outcome.rawValue
        organisation = event.attribution.organisation ?? ""
        team = event.attribution.team ?? ""
        project = event.attribution.project ?? ""
        application = event.attribution.application ?? ""
        feature = event.attribution.feature ?? ""
        customer = event.attribution.customer ?? ""
        costCentre = event.attribution.costCentre ?? ""
        environment = event.attribution.environment ?? ""
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(model)
        hasher.combine(team)
        hasher.combine(feature)
        hasher.combine(customer)
        hasher.combine(outcome)
    }

    /// Whether `event` has exactly these dimensions (cheaper than building its set to compare).
    func matches(_ event: borrowing UsageEvent) -> Bool {
        let attribution = event.attribution
        return model == event.model && team == (attribution.team ?? "") && feature == (attribution.feature ?? "")
            && customer == (attribution.customer ?? "") && outcome == event.outcome.rawValue
            && provider == event.provider && source == event.source && serviceTier == event.serviceTier.rawValue
            && organisation == (attribution.organisation ?? "") && project == (attribution.project ?? "")
            && application == (attribution.application ?? "") && costCentre == (attribution.costCentre ?? "")
            && environment == (attribution.environment ?? "")
    }

    /// A set from its values in `SQLiteSchema.mainDimensions` order.
    init(values: [String]) {
        precondition(values.count == SQLiteSchema.mainDimensions.count)
        (provider, model, source, serviceTier, outcome) = (values[0], values[1], values[2], values[3], values[4])
        (organisation, team, project, application, feature) = (values[5], values[6], values[7], values[8], values[9])
        (customer, costCentre, environment) = (values[10], values[11], values[12])
    }

    /// Values in `SQLiteSchema.mainDimensions` order.
    var values: [String] {
        [
            provider, model, source, serviceTier, outcome, organisation, team, project, application, feature, customer,
            costCentre, environment,
        ]
    }
}

/// A rollup row's key: a time bucket and a dimension set (an id in the file, or a position in a
/// prepared batch before ids are known).
struct RollupKey: Hashable, Sendable {
    var bucket: Int64
    var dimensionSet: Int64
}

/// A per-user, per-session rollup row's key.
struct ActorRollupKey: Hashable, Sendable {
    var bucket: Int64
    var dimensionSet: Int64
    var user: String
    var session: String
}

/// The figures summed into one rollup row.
struct RollupAccumulator: Sendable {
    var requests: Int64 = 0
    var unpriced: Int64 = 0
    var failed: Int64 = 0
    var retried: Int64 = 0
    var cancelled: Int64 = 0
    var estimated: Int64 = 0
    var tokens = TokenCounts()
    var gpuSeconds: Int64 = 0
    var storageByteHours: Int64 = 0
    var costPicodollars: Int128 = 0
    var wastedPicodollars: Int128 = 0
    var latencySum: Int64 = 0
    var latencyCount: Int64 = 0

    /// Whether adding this changes nothing (duplicates taken back out cancel their own additions).
    /// Not `requests == 0`: resource events and provider usage reports carry no requests.
    var isZero: Bool {
        requests == 0 && unpriced == 0 && failed == 0 && retried == 0 && cancelled == 0 && estimated == 0
            && tokens == TokenCounts() && gpuSeconds == 0 && storageByteHours == 0 && costPicodollars == 0
            && wastedPicodollars == 0 && latencySum == 0 && latencyCount == 0
    }

    /// Adds an event (`sign` 1), or takes one back out (`sign` -1, for a duplicate found at write time).
    mutating func add(_ rated: borrowing RatedEvent, sign: Int64 = 1) {
        let count = sign * rated.event.requests
        requests += count
        if !rated.priced { unpriced += sign }
        switch rated.event.outcome {
        case .error: failed += count
        case .retried: retried += count
        case .cancelled: cancelled += count
        case .estimated: estimated += count
        case .ok: break
        }
        let tokens = rated.event.tokens
        if sign == 1 {
            self.tokens += tokens
        } else {
            for kind in TokenKind.all { self.tokens[kind] -= tokens[kind] }
        }
        gpuSeconds += sign * rated.event.resources.gpuSeconds
        storageByteHours += sign * rated.event.resources.storageByteHours
        costPicodollars += Int128(sign) * rated.cost.picodollars
        if rated.event.outcome.isWaste { wastedPicodollars += Int128(sign) * rated.cost.picodollars }
        if let latency = rated.event.latencyMilliseconds {
            latencySum += sign * latency
            latencyCount += sign
        }
    }

    /// Adds another accumulator (an hour into its day).
    mutating func add(_ other: RollupAccumulator) {
        requests += other.requests
        unpriced += other.unpriced
        failed += other.failed
        retried += other.retried
        cancelled += other.cancelled
        estimated += other.estimated
        tokens += other.tokens
        gpuSeconds += other.gpuSeconds
        storageByteHours += other.storageByteHours
        costPicodollars += other.costPicodollars
        wastedPicodollars += other.wastedPicodollars
        latencySum += other.latencySum
        latencyCount += other.latencyCount
    }

    /// Binds the values in `SQLiteSchema.metricColumns` order. Money is split into whole
    /// microdollars and a picodollar remainder so SQLite's 64-bit sums cannot overflow.
    func bind(to binder: inout Binder) {
        let costMicro = costPicodollars / 1_000_000
        let wastedMicro = wastedPicodollars / 1_000_000
        for value in [requests, unpriced, failed, retried, cancelled, estimated] { binder.bind(value) }
        for kind in TokenKind.all { binder.bind(tokens[kind]) }
        binder.bind(gpuSeconds)
        binder.bind(storageByteHours)
        binder.bind(Int64(costMicro))
        binder.bind(Int64(costPicodollars - costMicro * 1_000_000))
        binder.bind(Int64(wastedMicro))
        binder.bind(Int64(wastedPicodollars - wastedMicro * 1_000_000))
        binder.bind(latencySum)
        binder.bind(latencyCount)
    }
}
