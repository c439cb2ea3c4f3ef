import LedgerCore

/// The low-cardinality dimensions of an event: one row of `dimension_sets`.
///
/// Hashing looks at the five most discriminating fields only (equality still compares all),
/// because this key is hashed once per recorded event.
struct DimensionSet: Hashable, Sendable {
    var provider, model, source, serviceTier, outcome, organisation, team, project, application, feature, customer,
        costCentre,
        environment: String

    /// The set of the event at `event` (by pointer: read out of a batch, it would be copied).
    init(_ event: UnsafePointer<UsageEvent>) {
        provider = event.pointee.provider
        model = event.pointee.model
        source = event.pointee.source
        serviceTier = event.pointee.serviceTier.rawValue
        outcome = event.pointee.outcome.rawValue
        organisation = event.pointee.attribution.organisation ?? ""
        team = event.pointee.attribution.team ?? ""
        project = event.pointee.attribution.project ?? ""
        application = event.pointee.attribution.application ?? ""
        feature = event.pointee.attribution.feature ?? ""
        customer = event.pointee.attribution.customer ?? ""
        costCentre = event.pointee.attribution.costCentre ?? ""
        environment = event.pointee.attribution.environment ?? ""
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(model)
        hasher.combine(team)
        hasher.combine(feature)
        hasher.combine(customer)
        hasher.combine(outcome)
    }

    /// Whether the event at `event` has exactly these dimensions (cheaper than building its set
    /// to compare).
    func matches(_ event: UnsafePointer<UsageEvent>) -> Bool {
        model == event.pointee.model && team == (event.pointee.attribution.team ?? "")
            && feature == (event.pointee.attribution.feature ?? "")
            && customer == (event.pointee.attribution.customer ?? "")
            && outcome == event.pointee.outcome.rawValue && provider == event.pointee.provider
            && source == event.pointee.source && serviceTier == event.pointee.serviceTier.rawValue
            && organisation == (event.pointee.attribution.organisation ?? "")
            && project == (event.pointee.attribution.project ?? "")
            && application == (event.pointee.attribution.application ?? "")
            && costCentre == (event.pointee.attribution.costCentre ?? "")
            && environment == (event.pointee.attribution.environment ?? "")
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

/// The hour row and the day, user and session row an event adds to, for its dimension set (an id,
/// or a position in a prepared batch).
func rollupKeys(_ event: UnsafePointer<UsageEvent>, dimensionSet: Int64) -> (hour: RollupKey, actor: ActorRollupKey) {
    let seconds = event.pointee.timestamp.seconds
    return (
        RollupKey(bucket: seconds - seconds.positiveRemainder(3_600), dimensionSet: dimensionSet),
        ActorRollupKey(
            bucket: seconds - seconds.positiveRemainder(86_400), dimensionSet: dimensionSet,
            user: event.pointee.attribution.user ?? "", session: event.pointee.attribution.session ?? "")
    )
}

/// Sums figures into rollup rows by key. Runs of the same key (consecutive events of one
/// session) are summed before the dictionary is touched, so most events cost no hashing.
struct RollupGatherer<Key: Hashable> {
    var rows: [Key: RollupAccumulator] = [:]
    private var pending: (key: Key, figures: RollupAccumulator)?

    mutating func add(_ figures: RollupAccumulator, at key: Key) {
        if let run = pending, run.key == key {
            pending!.figures.add(figures)
        } else {
            flush()
            pending = (key, figures)
        }
    }

    /// The rows, with the last run added.
    mutating func finish() -> [Key: RollupAccumulator] {
        flush()
        return rows
    }

    private mutating func flush() {
        if let run = pending { rows[run.key, default: RollupAccumulator()].add(run.figures) }
        pending = nil
    }
}

/// The figures summed into one rollup row.
struct RollupAccumulator: Sendable {
    init() {}

    var requests: Int64 = 0
    var unpriced: Int64 = 0
    var failed: Int64 = 0
    var retried: Int64 = 0
    var cancelled: Int64 = 0
    var estimated: Int64 = 0
    var tokens = TokenCounts()
    var gpuMicroseconds: Int64 = 0
    var storageByteHours: Int64 = 0
    var costPicodollars: Int128 = 0
    var wastedPicodollars: Int128 = 0
    var latencySum: Int64 = 0
    var latencyCount: Int64 = 0

    /// Whether adding this changes nothing (duplicates taken back out cancel their own additions).
    /// Not `requests == 0`: resource events and provider usage reports carry no requests.
    var isZero: Bool {
        requests == 0 && unpriced == 0 && failed == 0 && retried == 0 && cancelled == 0 && estimated == 0
            && tokens == TokenCounts() && gpuMicroseconds == 0 && storageByteHours == 0 && costPicodollars == 0
            && wastedPicodollars == 0 && latencySum == 0 && latencyCount == 0
    }

    /// One event's figures (`sign` 1), or their opposite (`sign` -1, to take back out an event
    /// found already recorded at write time).
    ///
    /// Takes the event by pointer: read out of a batch's storage, it would be copied first (a
    /// retain and a release of each of its strings).
    init(_ event: UnsafePointer<UsageEvent>, _ rating: UnsafePointer<Rating>, sign: Int64 = 1) {
        let count = sign * event.pointee.requests
        requests = count
        if !rating.pointee.priced { unpriced = sign }
        switch event.pointee.outcome {
        case .error: failed = count
        case .retried: retried = count
        case .cancelled: cancelled = count
        case .estimated: estimated = count
        case .ok: break
        }
        tokens = event.pointee.tokens
        if sign != 1 {
            for kind in TokenKind.all { tokens[kind] = -tokens[kind] }
        }
        gpuMicroseconds = sign * event.pointee.resources.gpuMicroseconds
        storageByteHours = sign * event.pointee.resources.storageByteHours
        costPicodollars = Int128(sign) * rating.pointee.cost.picodollars
        if event.pointee.outcome.isWaste { wastedPicodollars = costPicodollars }
        if let latency = event.pointee.latencyMilliseconds {
            latencySum = sign * latency
            latencyCount = sign
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
        gpuMicroseconds += other.gpuMicroseconds
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
        binder.bind(requests)
        binder.bind(unpriced)
        binder.bind(failed)
        binder.bind(retried)
        binder.bind(cancelled)
        binder.bind(estimated)
        binder.bind(tokens)
        binder.bind(gpuMicroseconds)
        binder.bind(storageByteHours)
        binder.bind(Int64(costMicro))
        binder.bind(Int64(costPicodollars - costMicro * 1_000_000))
        binder.bind(Int64(wastedMicro))
        binder.bind(Int64(wastedPicodollars - wastedMicro * 1_000_000))
        binder.bind(latencySum)
        binder.bind(latencyCount)
    }
}
