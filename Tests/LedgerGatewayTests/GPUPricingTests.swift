import FakeProvider
import Foundation
import LedgerCore
import NIOCore
import NIOHTTP1
import Testing

@testable import LedgerGateway

/// A self-hosted model priced per GPU-hour: each call through the gateway is charged its share of
/// the upstream's GPUs while it was in flight.
@Suite struct GPUPricingTests {
    /// $3.60 a GPU-hour: a tenth of a cent a GPU-second, 1,000 picodollars a GPU-microsecond.
    static let prices = """
        {"models":[{"provider":"self-hosted","model":"llama-3.1-8b-instruct","source":"two H100s",
          "prices":[{"effective_from":"2025-01-01","per_million":{"gpu_hour":"3.60"}}]}]}
        """

    static func withGPUUpstream(timeout: Int = 300) -> (inout GatewayConfiguration) -> Void {
        { configuration in
            configuration.server.upstreamTimeoutSeconds = timeout
            configuration.upstreams.append(
                UpstreamConfiguration(
                    name: "vllm", kind: .openAICompatible, baseURL: configuration.upstreams[0].baseURL,
                    apiKeyEnv: "FAKE_KEY", models: ["llama-*"], provider: "self-hosted", gpus: 2))
        }
    }

    static let busyCall =
        #"{"model":"llama-3.1-8b-instruct","messages":[{"role":"user","content":"hi"}],"fake":"busy"}"#

    @Test func oneCallAtATimeHasAllTheGPUsForAsLongAsItRuns() async throws {
        try await GatewayHarness.run(prices: Self.prices, configure: Self.withGPUUpstream()) { harness in
            let key = try await harness.key()
            var total: Int64 = 0
            // Twice on one connection: the first call loads the key (a task), the second goes
            // upstream without one; both are metered.
            for _ in 0..<2 {
                let reply = try await harness.post("/v1/chat/completions", key: key.secret, body: Self.busyCall)
                #expect(reply.status == 200, "\(reply.body)")
                let id = try #require(reply.headers.first(name: "x-tokenledger-request-id"))
                let event = try #require(try await harness.recorded(id))
                let gpu = event.event.resources.gpuMicroseconds
                // Two GPUs for the fake's 300 ms, and not much more.
                #expect(gpu >= 600_000 && gpu < 1_600_000, "\(gpu) GPU-µs")
                #expect(event.cost.picodollars == Int128(gpu) * 1_000)
                #expect(event.priced)
                // The tokens are counted, and billed through the GPU time.
                #expect(
                    event.event.tokens.prompt == 42 && event.event.tokens.output + event.event.tokens.reasoning == 17)
                #expect(reply.headers.first(name: "x-tokenledger-cost-usd") == event.cost.decimalString)
                total += gpu
            }
            // Prometheus counts the GPU time by team and model, to the microsecond.
            let series =
                #"tokenledger_gpu_seconds_total{team="search",model="llama-3.1-8b-instruct"} "#
                + ResourceUsage(gpuMicroseconds: total).gpuSecondsText
            let metrics = try await harness.metrics(containing: series)
            #expect(metrics.contains(series), "\(metrics)")
        }
    }

    @Test func callsInFlightTogetherShareTheGPUs() async throws {
        try await GatewayHarness.run(prices: Self.prices, configure: Self.withGPUUpstream()) { harness in
            let key = try await harness.key()
            let started = ContinuousClock.now
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let reply = try await harness.post(
                            "/v1/chat/completions", key: key.secret, body: Self.busyCall)
                        #expect(reply.status == 200, "\(reply.body)")
                        return reply.headers.first(name: "x-tokenledger-request-id") ?? ""
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let wall = ContinuousClock.now - started
            let wallMicroseconds = wall.components.seconds * 1_000_000 + wall.components.attoseconds / 1_000_000_000_000
            var total: Int64 = 0
            for id in ids {
                let event = try #require(try await harness.recorded(id))
                total += event.event.resources.gpuMicroseconds
                #expect(event.event.resources.gpuMicroseconds > 0)
            }
            // Four calls on two GPUs are given no more GPU time than the GPUs had while they ran
            // (each call charged both GPUs for its whole time would be four times that).
            #expect(total <= 2 * wallMicroseconds, "\(total) GPU-µs in \(wall)")
            #expect(total >= 2 * 300_000)
        }
    }

    @Test func aBudgetReservesAllTheGPUsForTheUpstreamTimeout() async throws {
        // Two GPUs for 10 s at $0.001 a GPU-second: a call may cost up to $0.02.
        try await GatewayHarness.run(prices: Self.prices, configure: Self.withGPUUpstream(timeout: 10)) { harness in
            let small = try await harness.key(team: "small", budget: "0.01/day")
            let refused = try await harness.post("/v1/chat/completions", key: small.secret, body: Self.busyCall)
            #expect(refused.status == 429, "\(refused.body)")
            #expect(refused.body.contains("budget"))
            #expect(harness.fakeStats().requests == 0)
            let enough = try await harness.key(team: "enough", budget: "0.05/day")
            let reply = try await harness.post("/v1/chat/completions", key: enough.secret, body: Self.busyCall)
            #expect(reply.status == 200, "\(reply.body)")
            let id = try #require(reply.headers.first(name: "x-tokenledger-request-id"))
            let event = try #require(try await harness.recorded(id))
            #expect(event.event.resources.gpuMicroseconds >= 600_000)
        }
    }

    @Test func aGPUCountBelowOneIsRefusedAtStart() async throws {
        await #expect(throws: ConfigurationError.self) {
            try await GatewayHarness.run(configure: { configuration in
                configuration.upstreams[0].gpus = 0
            }) { _ in }
        }
    }

    @Test func sharesFollowTheCallsInFlight() {
        let share = GPUShare(gpus: 2, timeoutSeconds: 300)
        let second: UInt64 = 1_000_000_000
        let origin: UInt64 = 1_000 * second
        // A alone for 1 s, then with B for 1 s; B alone for 2 s; nobody for 5 s; C alone for 1 s.
        let a = share.begin(now: origin)
        let b = share.begin(now: origin + second)
        #expect(share.end(a, now: origin + 2 * second) == 3_000_000)  // 2 × 1 + 2 × 1 / 2
        #expect(share.end(b, now: origin + 4 * second) == 5_000_000)  // 2 × 1 / 2 + 2 × 2
        let c = share.begin(now: origin + 9 * second)
        #expect(share.end(c, now: origin + 10 * second) == 2_000_000)  // idle time is no call's
        // No call is given more than all the GPUs for the upstream timeout.
        let long = share.begin(now: origin + 10 * second)
        #expect(share.end(long, now: origin + 1_000 * second) == 2 * 300 * 1_000_000)
    }
}
