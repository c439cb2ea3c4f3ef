import AsyncHTTPClient
import FakeProvider
import Foundation
import Hummingbird
import LedgerCatalogData
import LedgerCore
import LedgerGateway
import LedgerStore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// A real gateway on loopback in front of a real fake provider, on a fresh SQLite file.
final class GatewayHarness: Sendable {
    let fake: FakeProvider
    let gateway: Gateway
    let fakePort: Int
    let port: Int
    let directory: String
    let client = HTTPClient.shared
    private let tasks: [Task<Void, any Error>]

    /// Runs `body` against a fresh gateway and always stops it, also when the body fails, so
    /// a failed expectation is reported as a failure and not as a crash on teardown.
    ///
    /// - Parameter prices: a price file (JSON) laid over the bundled catalog.
    static func run(
        prices: String? = nil, configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: (GatewayHarness) async throws -> Void
    ) async throws {
        let harness = try await start(prices: prices, configure: configure)
        do {
            try await body(harness)
        } catch {
            try? await harness.stop()
            throw error
        }
        try await harness.stop()
    }

    private static func start(
        prices: String?, configure: (inout GatewayConfiguration) -> Void
    ) async throws -> GatewayHarness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tl-gw-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fake = FakeProvider()
        let (fakePortStream, fakeContinuation) = AsyncStream<Int>.makeStream()
        let fakeTask = Task { try await fake.run { port in fakeContinuation.yield(port) } }
        var iterator = fakePortStream.makeAsyncIterator()
        let fakePort = await iterator.next()!
        var configuration = GatewayConfiguration()
        configuration.server.port = 0
        configuration.server.flushIntervalMilliseconds = 20
        configuration.upstreams = [
            UpstreamConfiguration(
                name: "openai", kind: .openAI, baseURL: "http://127.0.0.1:\(fakePort)", apiKeyEnv: "FAKE_KEY",
                models: ["gpt-*", "text-embedding-*", "fail-500*", "slow-*", "drip-*", "midfail-*"]),
            UpstreamConfiguration(
                name: "anthropic", kind: .anthropic, baseURL: "http://127.0.0.1:\(fakePort)", apiKeyEnv: "FAKE_KEY",
                models: ["claude-*", "drip-claude*"]),
        ]
        configuration.aliases = ["fast": "gpt-4o-mini"]
        configure(&configuration)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let ledger = try SQLiteLedger(path: directory + "/ledger.sqlite")
        var catalog = try BundledCatalog.load()
        if let prices { catalog = catalog.overlaid(with: try PriceCatalog(json: Data(prices.utf8))) }
        let gateway = try Gateway(
            configuration: configuration, catalog: catalog, ledger: ledger, logger: logger,
            environment: ["FAKE_KEY": "sk-fake-upstream", "TOKENLEDGER_ADMIN_KEY": "admin-secret"])
        try await gateway.prepare()
        let (portStream, continuation) = AsyncStream<Int>.makeStream()
        let app = GatewayApplication.application(gateway: gateway, host: "127.0.0.1", port: 0, logger: logger) { port in
            continuation.yield(port)
        }
        let appTask = Task { try await app.runService(gracefulShutdownSignals: []) }
        let background = Task<Void, any Error> { await gateway.runBackgroundWork() }
        var portIterator = portStream.makeAsyncIterator()
        let port = await portIterator.next()!
        return GatewayHarness(
            gateway: gateway, fake: fake, fakePort: fakePort, port: port, directory: directory,
            tasks: [fakeTask, appTask, background])
    }

    private init(
        gateway: Gateway, fake: FakeProvider, fakePort: Int, port: Int, directory: String,
        tasks: [Task<Void, any Error>]
    ) {
        self.gateway = gateway
        self.fakePort = fakePort
        self.port = port
        self.directory = directory
        self.tasks = tasks
        self.fake = fake
    }

    private func stop() async throws {
        for task in tasks { task.cancel() }
        try await gateway.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Creates a key and returns its secret.
    func key(
        team: String = "search", user: String? = nil, budget: String? = nil, rpm: Int? = nil, tpm: Int? = nil,
        models: [String]? = nil, purpose: KeyPurpose = .gateway
    )
        async throws -> (id: String, secret: String)
    {
        let issued = try await KeyIssuer.issue(
            KeyRequest(
                owner: Attribution(organisation: "acme", team: team, user: user),
                policy: KeyPolicy(models: models, rpm: rpm, tpm: tpm, purpose: purpose), budget: budget),
            governance: gateway.governance, now: .current)
        try await gateway.prepare()
        return (issued.key.id, issued.secret)
    }

    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var json: JSONValue? { try? JSONValue.parseObject(bytes: Array(body.utf8)) }
    }

    func post(
        _ path: String, key: String?, body: String, headers extra: [(String, String)] = [], anthropic: Bool = false,
        method: HTTPMethod = .POST
    )
        async throws -> Reply
    {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if !extra.contains(where: { $0.0.lowercased() == "content-type" }) {
            request.headers.add(name: "content-type", value: "application/json")
        }
        if let key {
            if anthropic {
                request.headers.add(name: "x-api-key", value: key)
            } else {
                request.headers.add(name: "authorization", value: "Bearer \(key)")
            }
        }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 10 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    /// The `/metrics` text once it contains `text`, or after 2 s without it.
    func metrics(containing text: String) async throws -> String {
        var metrics = ""
        for _ in 0..<40 where !metrics.contains(text) {
            try await Task.sleep(for: .milliseconds(50))
            metrics = try await get("/metrics", key: nil).body
        }
        return metrics
    }

    func get(_ path: String, key: String?) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        if let key { request.headers.add(name: "authorization", value: "Bearer \(key)") }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 10 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    /// The recorded event for a request id, after the spool is flushed.
    func recorded(_ requestID: String) async throws -> RatedEvent? {
        await gateway.flush()
        return try await gateway.ledger.event(id: requestID)
    }

    func fakeStats() -> FakeProvider.Stats { fake.stats.withLock { $0 } }
}
