import Foundation
import Hummingbird
public import LedgerCore
import LedgerIngest
public import LedgerStore
public import Logging
import NIOCore
import Synchronization

/// The LLM gateway: authenticates virtual keys, attributes, rate-limits, reserves budgets,
/// forwards to the upstream provider, and records every call's usage and cost.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    let catalog: PriceCatalog
    let rater: Mutex<Rater>
    /// How OpenTelemetry spans become events (`otlp.attributes`).
    let spanMapper: GenAISpanMapper
    public let ledger: SQLiteLedger
    public let governance: SQLiteGovernance
    let sink: UsageSink
    let limiter = RateLimiter()
    let metrics = GatewayMetrics()
    let upstreamClient: UpstreamClient
    /// The GPU time of each upstream with `gpus`, by name.
    let gpuShares: [String: GPUShare]
    /// Where each upstream listens, and its base URL's path, parsed once.
    let upstreamAddresses: [String: (target: UpstreamTarget, basePath: String)]
    let logger: Logger
    /// The header field carrying each upstream's provider key (from the environment), by upstream
    /// name. Never logged or returned.
    let upstreamCredentials: [String: (name: String, value: String)]
    /// The admin API key, from the environment variable `server.admin_key_env`.
    let adminKey: String?
    private let keyCache = Mutex<[String: (key: VirtualKey, loadedAt: Int64)]>([:])
    private let budgetCache = Mutex<[Budget]>([])

    /// How long a cached key is trusted before it is read again (a revocation by another
    /// process takes effect within this time; one through this server's API at once).
    static let keyCacheMicroseconds: Int64 = 5_000_000
    /// How long a budget hold lives if its request never settles (a crash).
    var holdSeconds: Int64 { Int64(configuration.server.upstreamTimeoutSeconds) * 2 + 60 }

    /// Creates a gateway on an opened ledger.
    public init(
        configuration: GatewayConfiguration, catalog: PriceCatalog, ledger: SQLiteLedger, logger: Logger,
        environment: [String: String]? = nil
    ) throws {
        let environment = environment ?? ProcessInfo.processInfo.environment
        var configuration = configuration
        if configuration.upstreams.isEmpty { configuration.upstreams = GatewayConfiguration.defaultUpstreams }
        self.configuration = configuration
        self.catalog = catalog
        self.rater = Mutex(Rater(catalog: catalog))
        var dimensions = GenAISpanMapper.defaultDimensions
        for (attribute, name) in configuration.otlp.attributes {
            guard let dimension = AttributionDimension(rawValue: name) else {
                throw ConfigurationError(
                    "otlp.attributes maps '\(attribute)' to '\(name)', which is not one of "
                        + AttributionDimension.all.map(\.rawValue).joined(separator: ", "))
            }
            dimensions[attribute] = dimension
        }
        self.spanMapper = GenAISpanMapper(dimensions: dimensions)
        for (name, seconds) in [
            ("idle_timeout_seconds", configuration.server.idleTimeoutSeconds),
            ("request_timeout_seconds", configuration.server.requestTimeoutSeconds),
        ] where seconds < 1 {
            throw ConfigurationError("server.\(name) is \(seconds); give a number of seconds (1 or more)")
        }
        self.ledger = ledger
        self.governance = SQLiteGovernance(ledger: ledger)
        self.logger = logger
        // Upstream addresses first: a bad one stops the start before anything is opened.
        self.upstreamClient = UpstreamClient(
            connectTimeout: .seconds(Int64(configuration.server.connectTimeoutSeconds)))
        var addresses: [String: (target: UpstreamTarget, basePath: String)] = [:]
        for upstream in configuration.upstreams {
            // Secrets, addresses and metrics are kept by name.
            guard addresses[upstream.name] == nil else {
                throw ConfigurationError(
                    "upstreams: the name '\(upstream.name)' is used twice; give each upstream its own `name`")
            }
            let parsed = Result { try UpstreamTarget.parse(upstream.baseURL) }
            guard case .success(var (target, basePath)) = parsed else {
                throw ConfigurationError(
                    "upstreams '\(upstream.name)': base_url '\(upstream.baseURL)' is not an http:// or https:// URL "
                        + "(e.g. https://api.openai.com or http://127.0.0.1:8000)")
            }
            while basePath.hasSuffix("/") { basePath.removeLast() }
            target.caFile = upstream.caFile
            addresses[upstream.name] = (target, basePath)
            guard let caFile = upstream.caFile else { continue }
            guard target.tls else {
                throw ConfigurationError(
                    "upstreams '\(upstream.name)': ca_file is set but base_url '\(upstream.baseURL)' is not https://")
            }
            do {
                _ = try upstreamClient.tlsContext(caFile: caFile)
            } catch {
                throw ConfigurationError(
                    "upstreams '\(upstream.name)': ca_file '\(caFile)' cannot be used (\(error)); it must be a readable PEM file of CA certificates"
                )
            }
        }
        self.upstreamAddresses = addresses
        var shares: [String: GPUShare] = [:]
        for upstream in configuration.upstreams {
            guard let gpus = upstream.gpus else { continue }
            guard gpus >= 1 else {
                throw ConfigurationError(
                    "upstreams '\(upstream.name)': gpus is \(gpus); give the number of GPUs serving its models (1 or more)"
                )
            }
            shares[upstream.name] = GPUShare(gpus: gpus, timeoutSeconds: configuration.server.upstreamTimeoutSeconds)
            for model in upstream.models where !model.hasSuffix("*") {
                let priced = catalog.models.contains { entry in
                    PriceCatalog.canonicalProvider(entry.provider) == upstream.pricingProvider
                        && (entry.model == model || entry.aliases.contains(model))
                        && entry.prices.contains { $0.perMillion.gpuHour != nil }
                }
                if !priced {
                    logger.warning(
                        "upstream has gpus but its model has no gpu_hour price: its GPU time is recorded unpriced",
                        metadata: [
                            "upstream": "\(upstream.name)", "model": "\(upstream.pricingProvider)/\(model)",
                            "fix": "add a gpu_hour price for it to your price file (docs/PRICING.md)",
                        ])
                }
            }
        }
        self.gpuShares = shares
        let spool = configuration.server.spoolDirectory ?? ledger.path + ".spool"
        self.sink = try UsageSink(directory: spool, ledger: ledger, logger: logger)
        var credentials: [String: (name: String, value: String)] = [:]
        for upstream in configuration.upstreams {
            if let name = upstream.apiKeyEnv, let secret = environment[name], !secret.isEmpty {
                credentials[upstream.name] =
                    switch upstream.kind {
                    case .openAI, .openAICompatible: ("authorization", "Bearer \(secret)")
                    case .azure: ("api-key", secret)
                    case .anthropic: ("x-api-key", secret)
                    }
            }
        }
        self.upstreamCredentials = credentials
        self.adminKey = environment[configuration.server.adminKeyEnv].flatMap { $0.isEmpty ? nil : $0 }
    }

    // MARK: - Lifecycle

    /// Replays usage a crash left in the spool, stores the keys and budgets the configuration
    /// declares, and clears expired budget holds. Call before serving.
    public func prepare() async throws {
        let replayed = try await UsageSink.replay(
            directory: sink.directory, ledger: ledger, catalog: catalog, budgets: try await governance.budgets(),
            excluding: sink.currentSegment)
        if replayed.read > 0 {
            logger.notice(
                "replayed the spool after an unclean stop",
                metadata: ["events": "\(replayed.read)", "new_to_ledger": "\(replayed.recorded)"])
        }
        let now = Timestamp.current
        for declaration in configuration.keys {
            let key = try declaredKey(declaration, now: now)
            try await governance.declareKey(key.key)
            if let budget = key.budget { try await governance.setBudget(budget) }
        }
        for declaration in configuration.budgets {
            try await governance.setBudget(declaration.budget().get())
        }
        try await governance.sweepExpiredHolds(now: now)
        try await refreshBudgets()
    }

    private func declaredKey(_ declaration: KeyDeclaration, now: Timestamp) throws -> (key: VirtualKey, budget: Budget?)
    {
        let secret: String
        if let value = declaration.secret {
            secret = value
        } else if let name = declaration.secretEnv, let value = ProcessInfo.processInfo.environment[name],
            !value.isEmpty
        {
            secret = value
        } else {
            throw ConfigurationError(
                "key '\(declaration.name ?? declaration.id ?? "?")' in the configuration needs `secret` or `secret_env` (an environment variable that is set)"
            )
        }
        let hash = SHA256.hex(secret)
        let id = declaration.id ?? "key_" + hash.prefix(12)
        var budget: Budget?
        if let text = declaration.budget {
            guard let (amount, period) = Budget.parseLimit(text) else {
                throw ConfigurationError("key '\(id)': budget '\(text)' should look like 25/month, 5/day or 100/week")
            }
            budget = Budget(scope: .key, subject: id, period: period, limit: amount)
        }
        let key = VirtualKey(
            id: id, name: declaration.name, secretPrefix: VirtualKey.prefix(of: secret), secretHash: hash,
            owner: Attribution(
                organisation: declaration.organisation, team: declaration.team, user: declaration.user,
                project: declaration.project, customer: declaration.customer),
            policy: KeyPolicy(
                models: declaration.models, deniedModels: declaration.deniedModels ?? [], rpm: declaration.rpm,
                tpm: declaration.tpm, purpose: declaration.purpose ?? .gateway),
            createdAt: now)
        return (key, budget)
    }

    /// Background work until cancelled: flushes the spool to the ledger, sweeps expired holds,
    /// and re-reads budgets. Flushes once more when cancelled.
    public func runBackgroundWork() async {
        let interval = Duration.milliseconds(max(1, configuration.server.flushIntervalMilliseconds))
        var ticks = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await sink.flush()
            ticks += 1
            if ticks % max(1, 2_000 / max(1, configuration.server.flushIntervalMilliseconds)) == 0 {
                do {
                    try await refreshBudgets()
                    try await governance.sweepExpiredHolds(now: .current)
                } catch {
                    logger.error("budget refresh failed", metadata: ["error": "\(error)"])
                }
            }
        }
        // The last flush must not be cut short by the cancellation that ended the loop.
        await Task { await self.sink.flush() }.value
    }

    /// Writes what is spooled to the ledger, closes the spool and the upstream client.
    public func shutdown() async throws {
        await Task { await self.sink.flush() }.value
        sink.closeSpool()
        upstreamClient.shutdown()
    }

    /// Writes spooled usage to the ledger now.
    public func flush() async { await sink.flush() }

    func refreshBudgets() async throws {
        let budgets = try await governance.budgets()
        budgetCache.withLock { $0 = budgets }
    }

    /// Forgets cached keys (after a revocation through the API).
    func invalidateKeys() { keyCache.withLock { $0.removeAll() } }

    // MARK: - Admission helpers

    /// The key a secret belongs to, from the cache or the store.
    func key(secret: String) async throws -> VirtualKey? {
        if let cached = cachedKey(secret: secret) { return cached }
        let now = Timestamp.current.microseconds
        guard let key = try await governance.key(secretHash: SHA256.hex(secret)) else { return nil }
        keyCache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[secret] = (key, now)
        }
        return key
    }

    /// The key of a secret when it was loaded recently enough to be used without the ledger.
    func cachedKey(secret: String) -> VirtualKey? {
        let now = Timestamp.current.microseconds
        guard let cached = keyCache.withLock({ $0[secret] }), now - cached.loadedAt < Self.keyCacheMicroseconds else {
            return nil
        }
        return cached.key
    }

    /// The budgets that apply to a call by `key` attributed to `attribution`: the key's own, and
    /// those of its user, team, project, customer and organisation (a `*` subject gives each
    /// owner its own budget).
    func budgets(key: VirtualKey, attribution: Attribution) -> [Budget] {
        let all = budgetCache.withLock { $0 }
        guard !all.isEmpty else { return [] }
        var result: [Budget] = []
        for budget in all {
            let subject: String? =
                switch budget.scope {
                case .key: key.id
                case .user: attribution.user
                case .team: attribution.team
                case .project: attribution.project
                case .customer: attribution.customer
                case .organisation: attribution.organisation
                }
            guard let subject else { continue }
            if budget.subject == subject {
                result.append(budget)
            } else if budget.subject == "*" {
                var own = budget
                own.subject = subject
                if !all.contains(where: { $0.id == own.id }) { result.append(own) }
            }
        }
        return result
    }

    /// The upstream serving `model` on `route`, if any.
    func upstream(for model: String, route: APIRoute) -> UpstreamConfiguration? {
        configuration.upstreams.first { upstream in
            let speaks: Bool =
                switch (route.family, upstream.kind) {
                case (.anthropic, .anthropic): true
                case (.anthropic, _): false
                case (.openAI, _): true
                }
            return speaks && upstream.models.contains { ModelPattern.matches($0, model) }
        }
    }

    /// Models a key may use: catalog models the routes serve, plus aliases, filtered by policy.
    func models(for key: VirtualKey) -> [String] {
        var names = Set<String>()
        for upstream in configuration.upstreams {
            for pattern in upstream.models where !pattern.hasSuffix("*") { names.insert(pattern) }
            for entry in catalog.models where PriceCatalog.canonicalProvider(entry.provider) == upstream.pricingProvider
            {
                if upstream.models.contains(where: { ModelPattern.matches($0, entry.model) }) {
                    names.insert(entry.model)
                }
            }
        }
        for (alias, target) in configuration.aliases where key.policy.allows(model: target) { names.insert(alias) }
        return names.filter { key.policy.allows(model: configuration.aliases[$0] ?? $0) }.sorted()
    }

    /// The worst-case cost of a call: the whole prompt at the input price, the output limit at the
    /// output price and, on an upstream with `gpus`, all of them for the upstream timeout.
    func estimate(_ call: CallContext) throws(PricingError) -> Cost {
        try rater.withLock { rater throws(PricingError) in
            try rater.estimateUpperBound(
                provider: call.upstream.pricingProvider, model: call.model, promptTokens: Int64(call.promptBytes),
                maximumOutputTokens: call.inspection.maxOutputTokens, choices: call.inspection.choices,
                defaultOutputTokens: configuration.server.defaultMaxOutputTokens, embedding: call.route == .embeddings,
                gpuMicroseconds: gpuShares[call.upstream.name]?.maximumMicroseconds ?? 0, at: .current)
        }
    }

    /// Starts a billed call's share of its upstream's GPUs, once, as it goes upstream.
    func beginGPUShare(_ call: inout CallContext) {
        guard !gpuShares.isEmpty, call.gpu == nil, call.route.isBilled, let share = gpuShares[call.upstream.name]
        else { return }
        call.gpu = (share, share.begin())
    }

    /// Rates a finished call, spools it with its budget settlement (applied when the spool is
    /// flushed, in the transaction that records the event: until then its hold keeps counting) and
    /// counts it. Returns the rated event.
    func complete(_ call: CallContext, tokens: TokenCounts, outcome: Outcome, status: Int) -> RatedEvent {
        let now = Timestamp.current
        let gpuMicroseconds = call.gpu.map { $0.share.end($0.mark) } ?? 0
        let event = call.event(tokens: tokens, outcome: outcome, now: now, gpuMicroseconds: gpuMicroseconds)
        let rated = rater.withLock { $0.rate(event) }
        let settlement =
            call.budgets.isEmpty
            ? nil : Settlement(requestID: call.requestID, actual: rated.cost, budgets: call.budgets, at: now)
        do {
            try sink.append(rated, settlement: settlement)
        } catch {
            logger.critical(
                "usage could not be spooled; it is queued for the ledger but not crash-safe",
                metadata: ["request_id": "\(call.requestID)", "error": "\(error)"])
        }
        limiter.consume(tokens: tokens.total, subjects: call.rateSubjects, now: now.microseconds)
        metrics.record(
            route: call.route, team: call.attribution.team, model: call.model, outcome: outcome, status: status,
            tokens: tokens, cost: rated.cost, gpuMicroseconds: gpuMicroseconds)
        logger.info(
            "request",
            metadata: [
                "request_id": "\(call.requestID)", "key": "\(call.key.id)", "team": "\(call.attribution.team ?? "")",
                "model": "\(call.model)", "upstream": "\(call.upstream.name)", "status": "\(status)",
                "outcome": "\(outcome.rawValue)", "cost_usd": "\(rated.cost.decimalString)",
                "latency_ms": "\(rated.event.latencyMilliseconds ?? 0)",
            ])
        return rated
    }

    /// Releases a call's holds without spending (the call never reached the provider).
    func release(_ call: CallContext) async {
        guard !call.budgets.isEmpty else { return }
        _ = try? await governance.settle(requestID: call.requestID, actual: .zero, budgets: [], now: .current)
    }
}

extension Timestamp {
    /// Now, from the system clock.
    public static var current: Timestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp(microseconds: Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1_000)
    }
}
