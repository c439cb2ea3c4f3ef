import LedgerCore
import Testing

@testable import LedgerGateway

@Suite struct GatewayMetricsTests {
    @Test func seriesAreCountedByTheirLabelsAndRenderedSorted() {
        let metrics = GatewayMetrics()
        var tokens = TokenCounts.zero
        tokens.input = 10
        tokens.output = 5
        for _ in 0..<3 {
            metrics.record(
                route: .chatCompletions, team: "red", model: "gpt-4o-mini", outcome: .ok, status: 200, tokens: tokens,
                cost: Cost(picodollars: 1_500_000))
        }
        metrics.record(
            route: .chatCompletions, team: "red", model: "gpt-4o-mini", outcome: .error, status: 502, tokens: .zero,
            cost: .zero)
        metrics.record(
            route: .messages, team: nil, model: "claude-sonnet-4-5", outcome: .ok, status: 200, tokens: tokens,
            cost: Cost(picodollars: 2_000_000))
        let lines = metrics.render(extra: []).split(separator: "\n").map(String.init)
        func series(_ name: String) -> [String] { lines.filter { $0.hasPrefix(name + "{") } }
        #expect(
            series("tokenledger_requests_total") == [
                #"tokenledger_requests_total{route="chat_completions",team="red",model="gpt-4o-mini",outcome="error",status="502"} 1"#,
                #"tokenledger_requests_total{route="chat_completions",team="red",model="gpt-4o-mini",outcome="ok",status="200"} 3"#,
                #"tokenledger_requests_total{route="messages",team="",model="claude-sonnet-4-5",outcome="ok",status="200"} 1"#,
            ])
        #expect(
            series("tokenledger_tokens_total") == [
                #"tokenledger_tokens_total{team="",model="claude-sonnet-4-5",kind="input"} 10"#,
                #"tokenledger_tokens_total{team="",model="claude-sonnet-4-5",kind="output"} 5"#,
                #"tokenledger_tokens_total{team="red",model="gpt-4o-mini",kind="input"} 30"#,
                #"tokenledger_tokens_total{team="red",model="gpt-4o-mini",kind="output"} 15"#,
            ])
        #expect(
            series("tokenledger_cost_usd_total") == [
                #"tokenledger_cost_usd_total{team="",model="claude-sonnet-4-5"} 0.000002"#,
                #"tokenledger_cost_usd_total{team="red",model="gpt-4o-mini"} 0.0000045"#,
            ])
    }

    @Test func labelValuesBeyondTheLimitAreCountedAsOther() {
        let metrics = GatewayMetrics()
        let limit = GatewayMetrics.maximumLabelValues
        for index in 0..<(limit + 5) {
            metrics.record(
                route: .chatCompletions, team: "t", model: "model-\(index)", outcome: .ok, status: 200,
                tokens: .zero, cost: Cost(picodollars: 1))
        }
        let text = metrics.render(extra: [])
        let requests = text.split(separator: "\n").filter { $0.hasPrefix("tokenledger_requests_total{") }
        #expect(requests.count == limit + 1, "\(limit) models and other")
        #expect(
            text.contains(
                #"tokenledger_requests_total{route="chat_completions",team="t",model="other",outcome="ok",status="200"} 5"#
            ))
        #expect(text.contains(#"tokenledger_cost_usd_total{team="t",model="other"} 0.000000000005"#))
        // A model seen before the limit was reached keeps its own series.
        metrics.record(
            route: .chatCompletions, team: "t", model: "model-0", outcome: .ok, status: 200, tokens: .zero,
            cost: .zero)
        #expect(metrics.render(extra: []).contains(#"model="model-0",outcome="ok",status="200"} 2"#))
    }
}
