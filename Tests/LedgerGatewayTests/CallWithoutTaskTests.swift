import Foundation
import LedgerCore
import LedgerStore
import Testing

@testable import LedgerGateway

/// A call by a loaded key with no budget, on a gateway with an idle upstream connection on the
/// caller's event loop, goes upstream and back without a task. The same connection carries a
/// first call (which loads the key and opens the upstream connection, in a task) and then the
/// call under test.
@Suite struct CallWithoutTaskTests {
    static func chat(_ key: String, fake: String? = nil) -> String {
        let behaviour = fake.map { #","fake":"\#($0)""# } ?? ""
        return RawClient.chatRequest(
            key: key,
            body: #"{"model":"gpt-4o-mini"\#(behaviour),"messages":[{"role":"user","content":"Hello there"}]}"#)
    }

    static func header(_ name: String, in answer: String) -> String? {
        answer.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name + ":") }
            .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) }
    }

    @Test func aCallWithoutTaskIsAnsweredPricedAndRecorded() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let answers = try await RawClient.keepAlive(
                port: harness.port, [Self.chat(key.secret), Self.chat(key.secret)])
            #expect(harness.gateway.metrics.callsWithoutTask == 1, "the second call went without a task")
            let answer = try #require(answers.last)
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            let id = try #require(Self.header("x-tokenledger-request-id", in: answer))
            let cost = try #require(Self.header("x-tokenledger-cost-usd", in: answer))
            #expect(Cost(decimal: cost)! > .zero)
            let event = try #require(try await harness.recorded(id))
            #expect(event.event.outcome == .ok && event.event.tokens.output > 0)
            #expect(event.cost.decimalString == cost, "the header's cost is the recorded cost")
            #expect(harness.gateway.metrics.inFlight == 0)
        }
    }

    @Test func anUpstreamErrorWithoutTaskIsRelayedAndRecorded() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let answers = try await RawClient.keepAlive(
                port: harness.port, [Self.chat(key.secret), Self.chat(key.secret, fake: "fail-500")])
            #expect(harness.gateway.metrics.callsWithoutTask == 1)
            let answer = try #require(answers.last)
            #expect(answer.hasPrefix("HTTP/1.1 500"), "the provider's status is relayed: \(answer)")
            let id = try #require(Self.header("x-tokenledger-request-id", in: answer))
            let event = try #require(try await harness.recorded(id))
            #expect(event.event.outcome == .error)
        }
    }

    @Test func aCallerThatHangsUpCancelsACallWithoutTask() async throws {
        try await GatewayHarness.run(configure: { $0.server.upstreamTimeoutSeconds = 1 }) { harness in
            let key = try await harness.key()
            // The fake answers after 3 s and the upstream timeout is 1 s: a 504 would be recorded
            // if hanging up did not cancel the call.
            _ = try await RawClient.keepAlive(
                port: harness.port, [Self.chat(key.secret), Self.chat(key.secret, fake: "slow")], hangUpAfter: 0.2)
            #expect(harness.gateway.metrics.callsWithoutTask == 1)
            let metrics = try await harness.metrics(containing: #"status="499""#)
            #expect(metrics.contains(#"outcome="estimated",status="499"} 1"#), "\(metrics)")
            #expect(!metrics.contains(#"status="504""#))
            #expect(harness.gateway.metrics.inFlight == 0)
        }
    }
}
