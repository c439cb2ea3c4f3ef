import Foundation
import LedgerCatalogData
import LedgerStore
import Logging
import NIOCore
import NIOHTTP1
import Testing

@testable import LedgerGateway

/// The gateway's upstream HTTP client against a real local server: connection reuse, servers
/// that close, timeouts, streams, limits and TLS.
@Suite struct UpstreamClientTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/tls")
    static let certificate = fixtures.appendingPathComponent("localhost-cert.pem").path
    static let key = fixtures.appendingPathComponent("localhost-key.pem").path

    func withServer(
        tls: Bool = false, _ body: (FakeHTTPServer, UpstreamClient) async throws -> Void
    ) async throws {
        let server = try await FakeHTTPServer(tls: tls ? (Self.certificate, Self.key) : nil)
        let client = UpstreamClient(connectTimeout: .seconds(2), maximumResponseBytes: 64 * 1024)
        do {
            try await body(server, client)
        } catch {
            client.shutdown()
            await server.stop()
            throw error
        }
        client.shutdown()
        await server.stop()
    }

    func post(
        _ client: UpstreamClient, _ url: String, caFile: String? = nil, stream: Bool = false,
        timeout: TimeAmount = .seconds(5)
    ) async throws -> UpstreamResponse {
        var (target, path) = try UpstreamTarget.parse(url)
        target.caFile = caFile
        return try await client.post(
            to: target, path: path, headers: ["content-type": "application/json"], body: ByteBuffer(string: "{}"),
            streamWanted: stream, timeout: timeout)
    }

    func text(_ response: UpstreamResponse) async throws -> String {
        switch response.body {
        case .whole(let buffer): return String(buffer: buffer)
        case .stream(let chunks):
            var text = ""
            for try await chunk in chunks { text += String(buffer: chunk) }
            return text
        }
    }

    @Test func keepAliveConnectionsAreReused() async throws {
        try await withServer { server, client in
            for _ in 0..<20 {
                let response = try await post(client, "http://127.0.0.1:\(server.port)/ok")
                #expect(response.status == .ok)
                #expect(try await text(response) == #"{"ok":true}"#)
            }
            #expect(server.connections == 1, "one connection carries every sequential request")
            // Concurrent requests each get a connection; afterwards they are all reused.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { _ = try await self.post(client, "http://127.0.0.1:\(server.port)/ok") }
                }
                try await group.waitForAll()
            }
            let afterBurst = server.connections
            #expect(afterBurst <= 8)
            for _ in 0..<10 { _ = try await post(client, "http://127.0.0.1:\(server.port)/ok") }
            #expect(server.connections == afterBurst)
        }
    }

    @Test func connectionCloseAndServerHangupsAreHandled() async throws {
        try await withServer { server, client in
            for _ in 0..<3 {
                let response = try await post(client, "http://127.0.0.1:\(server.port)/close")
                #expect(try await text(response) == #"{"ok":true}"#)
            }
            #expect(server.connections == 3, "a `Connection: close` answer is not reused")
            // The server closes an idle connection: the next request opens a new one and succeeds.
            _ = try await post(client, "http://127.0.0.1:\(server.port)/hangup")
            try await Task.sleep(for: .milliseconds(300))
            let response = try await post(client, "http://127.0.0.1:\(server.port)/ok")
            #expect(response.status == .ok)
            #expect(server.connections == 5)
        }
    }

    @Test func aSilentUpstreamTimesOutAndIsDisconnected() async throws {
        try await withServer { server, client in
            let started = ContinuousClock.now
            await #expect(throws: UpstreamError.readTimeout) {
                _ = try await post(client, "http://127.0.0.1:\(server.port)/stall", timeout: .milliseconds(200))
            }
            // The 200 ms timeout fired, not the connection's 60 s default. (The bound is wide: with
            // every suite running at once on two cores, resuming this task can wait seconds.)
            #expect(ContinuousClock.now - started < .seconds(30))
            try await Task.sleep(for: .milliseconds(100))
            #expect(server.closedConnections == 1, "the timed-out connection is closed, not reused")
        }
    }

    @Test func aReusedConnectionTimesOutByItsOwnExchangesTimeout() async throws {
        try await withServer { server, client in
            // The read timer armed by an earlier exchange stays armed: one that would fire later
            // than the new exchange's deadline is replaced, one that fires earlier waits on.
            _ = try await post(client, "http://127.0.0.1:\(server.port)/ok", timeout: .seconds(120))
            let started = ContinuousClock.now
            await #expect(throws: UpstreamError.readTimeout) {
                _ = try await post(client, "http://127.0.0.1:\(server.port)/stall", timeout: .milliseconds(200))
            }
            #expect(ContinuousClock.now - started < .seconds(60), "the 200 ms timeout, not the first call's 120 s")
            #expect(server.connections == 1, "the stalled exchange ran on the reused connection")
            for _ in 0..<3 {
                let response = try await post(
                    client, "http://127.0.0.1:\(server.port)/ok", timeout: .milliseconds(300))
                #expect(response.status == .ok)
            }
            // A short-lived timer from the calls above fires between exchanges and lapses; the next
            // stall is still timed out.
            try await Task.sleep(for: .milliseconds(400))
            await #expect(throws: UpstreamError.readTimeout) {
                _ = try await post(client, "http://127.0.0.1:\(server.port)/stall", timeout: .milliseconds(200))
            }
            #expect(server.connections == 2, "the second stall also ran on a reused connection")
        }
    }

    @Test func streamsArriveChunkByChunkAndTheTimeoutIsBetweenReads() async throws {
        try await withServer { server, client in
            // 6 events 100 ms apart with a 300 ms timeout: the whole stream takes longer than the
            // timeout, but no gap does.
            let response = try await post(
                client, "http://127.0.0.1:\(server.port)/drip/6/100", stream: true, timeout: .milliseconds(300))
            let chunks = try #require(response.stream, "an event stream asked for is handed over as a stream")
            var events = 0
            for try await chunk in chunks { events += String(buffer: chunk).components(separatedBy: "data:").count - 1 }
            #expect(events == 6)
            // A gap longer than the timeout ends the stream with a timeout.
            let slow = try await post(
                client, "http://127.0.0.1:\(server.port)/drip/3/400", stream: true, timeout: .milliseconds(150))
            await #expect(throws: UpstreamError.readTimeout) { _ = try await text(slow) }
            // Not asked for as a stream: collected whole.
            let whole = try await post(client, "http://127.0.0.1:\(server.port)/drip/2/10")
            guard case .whole(let buffer) = whole.body else {
                Issue.record("a stream not asked for is collected")
                return
            }
            #expect(String(buffer: buffer).contains(#"{"left":0}"#))
        }
    }

    @Test func abandoningAStreamClosesTheUpstreamConnection() async throws {
        try await withServer { server, client in
            let response = try await post(
                client, "http://127.0.0.1:\(server.port)/drip/50/50", stream: true, timeout: .seconds(5))
            let chunks = try #require(response.stream)
            for try await _ in chunks { break }
            chunks.cancel()
            try await Task.sleep(for: .milliseconds(200))
            #expect(server.closedConnections == 1, "the provider sees the call cancelled")
        }
    }

    @Test func cancellingTheCallerClosesTheUpstreamConnection() async throws {
        try await withServer { server, client in
            let call = Task { try await post(client, "http://127.0.0.1:\(server.port)/stall") }
            try await Task.sleep(for: .milliseconds(200))
            call.cancel()
            _ = await call.result
            try await Task.sleep(for: .milliseconds(200))
            #expect(server.closedConnections == 1)
        }
    }

    @Test func oversizedAnswersAndUnreachableUpstreamsFailClearly() async throws {
        try await withServer { server, client in
            await #expect(throws: UpstreamError.responseTooLarge(64 * 1024)) {
                _ = try await post(client, "http://127.0.0.1:\(server.port)/big/100000")
            }
            let small = try await post(client, "http://127.0.0.1:\(server.port)/big/1000")
            #expect(try await text(small).count == 1000)
            // A port nothing listens on (a server that stopped).
            let gone = try await FakeHTTPServer()
            await gone.stop()
            await #expect {
                _ = try await post(client, "http://127.0.0.1:\(gone.port)/ok")
            } throws: { error in
                guard case UpstreamError.connectFailed(let reason) = error else { return false }
                return !reason.isEmpty
            }
        }
    }

    @Test func httpsUpstreamsAreVerifiedAgainstTheSystemRootsOrAConfiguredCA() async throws {
        try await withServer(tls: true) { server, client in
            // A self-signed certificate is refused without its CA…
            await #expect(throws: (any Error).self) {
                _ = try await post(client, "https://localhost:\(server.port)/ok")
            }
            // …and accepted with it, by name and by address.
            for host in ["localhost", "127.0.0.1"] {
                let response = try await post(client, "https://\(host):\(server.port)/ok", caFile: Self.certificate)
                #expect(try await text(response) == #"{"ok":true}"#)
            }
        }
    }

    @Test func badUpstreamAddressesStopTheStartWithTheirName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tl-up-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = try SQLiteLedger(path: directory.appendingPathComponent("ledger.sqlite").path)
        let catalog = try BundledCatalog.load()
        func start(_ upstreams: UpstreamConfiguration...) throws {
            var configuration = GatewayConfiguration()
            configuration.upstreams = upstreams
            configuration.server.spoolDirectory = directory.appendingPathComponent("spool").path
            _ = try Gateway(
                configuration: configuration, catalog: catalog, ledger: ledger, logger: Logger(label: "test"),
                environment: [:])
        }
        let cases: [(UpstreamConfiguration, String)] = [
            (
                UpstreamConfiguration(name: "vllm", kind: .openAICompatible, baseURL: "vllm:8000", models: ["*"]),
                "base_url"
            ),
            (
                UpstreamConfiguration(
                    name: "vllm", kind: .openAICompatible, baseURL: "https://vllm.internal", models: ["*"],
                    caFile: directory.appendingPathComponent("missing.pem").path), "ca_file"
            ),
            (
                UpstreamConfiguration(
                    name: "vllm", kind: .openAICompatible, baseURL: "http://vllm.internal", models: ["*"],
                    caFile: Self.certificate), "not https"
            ),
        ]
        // Two upstreams with one name (two unnamed OpenAI-compatible servers) would share a key.
        #expect {
            try start(
                UpstreamConfiguration(name: "vllm", kind: .openAICompatible, baseURL: "http://a:8000", models: ["a"]),
                UpstreamConfiguration(name: "vllm", kind: .openAICompatible, baseURL: "http://b:8000", models: ["b"]))
        } throws: { error in
            String(describing: error).contains("'vllm' is used twice")
        }
        for (upstream, mention) in cases {
            #expect {
                try start(upstream)
            } throws: { error in
                let message = String(describing: error)
                return message.contains("'vllm'") && message.contains(mention)
            }
        }
        try start(
            UpstreamConfiguration(
                name: "vllm", kind: .openAICompatible, baseURL: "https://vllm.internal/", models: ["*"],
                caFile: Self.certificate))
    }

    @Test func upstreamURLsAreParsed() throws {
        let (plain, path) = try UpstreamTarget.parse("http://127.0.0.1:8000/v1/chat/completions")
        #expect(plain == UpstreamTarget(tls: false, host: "127.0.0.1", port: 8000))
        #expect(path == "/v1/chat/completions")
        #expect(plain.hostHeader == "127.0.0.1:8000")
        let (azure, query) = try UpstreamTarget.parse(
            "https://example.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21")
        #expect(azure.tls && azure.port == 443 && azure.hostHeader == "example.openai.azure.com")
        #expect(query == "/openai/deployments/d/chat/completions?api-version=2024-10-21")
        let (v6, root) = try UpstreamTarget.parse("http://[::1]:9000")
        #expect(v6.host == "::1" && v6.port == 9000 && v6.hostHeader == "[::1]:9000" && root == "/")
        for bad in [
            "ftp://host/x", "api.openai.com/v1", "http://:80/", "http://host:99999/", "http://[::1/", "http://u@h/",
        ] {
            #expect(throws: UpstreamError.invalidURL(bad)) { _ = try UpstreamTarget.parse(bad) }
        }
    }
}

extension UpstreamResponse {
    /// The body when it is a stream.
    var stream: UpstreamBodyStream? {
        if case .stream(let chunks) = body { chunks } else { nil }
    }
}
