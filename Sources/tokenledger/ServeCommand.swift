import ArgumentParser
import Foundation
import Hummingbird
import LedgerCore
import LedgerGateway
import LedgerStore
import Logging
import NIOCore
import NIOPosix

/// `tokenledger serve`: the gateway, the admin API and metrics, on the embedded ledger.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway: OpenAI- and Anthropic-compatible APIs that meter, attribute and enforce budgets."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Address to listen on (default: server.host, else 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (default: server.port, else 8080).") var port: Int?
    @Flag(help: "Fill an empty ledger with the demo organisation first, and create a demo key.") var demo = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "notice"
    @Option(
        help:
            "Re-apply the saved allocation rules to the open month every N minutes, so new events get their owners (0: never)."
    ) var allocateEvery: Int = 15

    func run() async throws {
        // Tasks run on the NIO event loops that do the I/O, instead of hopping to and from the
        // Dispatch pool on every read and write (a large share of the gateway's CPU per request).
        // One event loop per CPU this process may run on (NIO counts the machine's CPUs and cgroup
        // quotas, not an affinity mask such as `taskset`'s; extra loops on one CPU only add hops).
        if ProcessInfo.processInfo.environment["NIO_SINGLETON_GROUP_LOOP_COUNT"] == nil, let cpus = Self.allowedCPUs() {
            NIOSingletons.groupLoopCountSuggestion = min(cpus, System.coreCount)
        }
        await MainActor.run {
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        var logger = Logger(label: "tokenledger")
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error.")
        }
        logger.logLevel = level
        let fileConfiguration = try common.configuration()
        var configuration = fileConfiguration.gateway
        if let host { configuration.server.host = host }
        if let port { configuration.server.port = port }
        let path = try common.databasePath()
        let ledger = try SQLiteLedger(path: path, cacheMebibytes: 16)
        let catalog = try common.catalog()
        var demoSecret: String?
        if demo {
            if try await ledger.statistics().events == 0 {
                print("Filling the empty ledger \(path) with the demo organisation…")
                try await DemoCommand.fill(ledger: ledger, catalog: catalog)
            }
            demoSecret = "tl-demo-0000000000000000"
            configuration.keys.append(
                KeyDeclaration(
                    id: "key_demo", name: "demo", secret: demoSecret!, organisation: "acme", team: "platform"))
        }
        let gateway: Gateway
        do {
            gateway = try Gateway(configuration: configuration, catalog: catalog, ledger: ledger, logger: logger)
            try await gateway.prepare()
        } catch let error as ConfigurationError {
            throw ValidationError("Configuration: \(error.description)")
        }
        let server = configuration.server
        let app = GatewayApplication.application(gateway: gateway, host: server.host, port: server.port, logger: logger)
        let upstreams = gateway.configuration.upstreams.map {
            "\($0.name) → \($0.baseURL) [\($0.models.joined(separator: ", "))]"
        }
        let banner =
            """
            TokenLedger gateway listening on http://\(server.host):\(server.port)  (ledger: \(path), SQLite \(SQLiteLedger.sqliteVersion))
              upstreams: \(upstreams.joined(separator: "; "))
              first call: curl http://\(server.host):\(server.port)/v1/chat/completions \\
                -H "Authorization: Bearer \(demoSecret ?? "<key from: tokenledger keys create --team T>")" \\
                -H "Content-Type: application/json" \\
                -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'
              metrics: http://\(server.host):\(server.port)/metrics   health: http://\(server.host):\(server.port)/health

            """
        FileHandle.standardOutput.write(Data(banner.utf8))
        let connectors = try configuration.sync.map { settings in
            try Self.connector(settings, ledger: ledger, catalog: catalog, logger: logger)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await gateway.runBackgroundWork() }
            let syncLogger = logger
            for (sync, every) in connectors {
                group.addTask { await Self.runPeriodically(sync, every: every, logger: syncLogger) }
            }
            if allocateEvery > 0 {
                let every = Duration.seconds(60 * allocateEvery)
                group.addTask { await Self.allocatePeriodically(ledger, every: every, logger: syncLogger) }
            }
            try await app.runService()
            group.cancelAll()
        }
        try await gateway.shutdown()
    }

    /// The number of CPUs in this process's affinity mask (`Cpus_allowed` in /proc/self/status).
    static func allowedCPUs() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return nil }
        let count = line.dropFirst("Cpus_allowed:".count).reduce(0) { total, character in
            total + (character.hexDigitValue.map { $0.nonzeroBitCount } ?? 0)
        }
        return count > 0 ? count : nil
    }

    /// A configured pull connector and how often it runs.
    static func connector(
        _ settings: SyncConfiguration, ledger: SQLiteLedger, catalog: PriceCatalog, logger: Logger
    ) throws -> (ProviderSync, Duration) {
        guard let provider = ProviderSync.Provider(rawValue: settings.provider) else {
            throw ValidationError("Configuration: sync provider '\(settings.provider)' is not openai or anthropic.")
        }
        let variable = settings.adminKeyEnv ?? provider.defaultAdminKeyEnv
        guard let key = ProcessInfo.processInfo.environment[variable], !key.isEmpty else {
            throw ValidationError("Configuration: sync \(settings.provider) needs its admin key in \(variable).")
        }
        let sync = ProviderSync(
            provider: provider, baseURL: settings.baseURL, adminKey: key, ledger: ledger, catalog: catalog,
            logger: logger)
        return (sync, .seconds(60 * max(1, settings.everyMinutes ?? 60)))
    }

    /// Applies the saved allocation rules to the open month now and then every `every`, until
    /// cancelled (nothing to do while no rules are saved; a closed month is left alone).
    static func allocatePeriodically(_ ledger: SQLiteLedger, every: Duration, logger: Logger) async {
        while !Task.isCancelled {
            do {
                if let (version, rules) = try await ledger.allocationRules() {
                    let period = BillingPeriod(containing: .current)
                    if try ledger.closedPeriods()[period] == nil {
                        let summary = try await ledger.allocate(
                            period: period, rules: rules, version: version, at: .current)
                        logger.info(
                            "allocation",
                            metadata: [
                                "period": "\(period)", "rules": "\(version)",
                                "moved_usd": "\(summary.movedCost.decimalString)",
                            ])
                    }
                }
            } catch {
                logger.warning("allocation failed; retrying at the next turn", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: every)
        }
    }

    /// Runs a connector now and then every `every` until cancelled; a failed run is logged and
    /// retried at the next turn (its checkpoint keeps what it imported).
    static func runPeriodically(_ sync: ProviderSync, every: Duration, logger: Logger) async {
        while !Task.isCancelled {
            let now = Timestamp.current
            do {
                let summaries = try await sync.run(since: now.adding(seconds: -30 * 86_400), until: now, now: now)
                for summary in summaries where summary.recorded > 0 || !summary.rejected.isEmpty {
                    logger.notice(
                        "sync",
                        metadata: [
                            "connector": "\(summary.connector)", "recorded": "\(summary.recorded)",
                            "rejected": "\(summary.rejected.count)",
                        ])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("sync failed; retrying at the next interval", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: every)
        }
    }
}
