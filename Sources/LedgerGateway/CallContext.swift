import LedgerCore
import NIOCore

/// Everything known about one admitted call, carried from admission to recording. The model,
/// upstream, tags and reservation are settled by the budgets (a soft budget's fallback model).
struct CallContext: Sendable {
    let requestID: String
    let route: APIRoute
    let started: Timestamp
    let startedInstant: ContinuousClock.Instant
    let key: VirtualKey
    var upstream: UpstreamConfiguration
    /// The model sent upstream (after aliases and fallbacks).
    var model: String
    let attribution: Attribution
    var tags: [String: String]
    /// Hard and soft budgets that apply; holds were placed on the hard ones.
    let budgets: [Budget]
    var reserved: Cost
    let inspection: RequestInspection
    /// Bytes of the request body: the worst-case prompt size.
    let promptBytes: Int
    let rateSubjects: [String]
    /// Protocol headers from the caller that go upstream (`anthropic-version`, …).
    let forwardedHeaders: [(String, String)]
    /// The event loop of the caller's connection, where a new upstream connection is opened.
    let eventLoop: any EventLoop
    /// The upstream's ``GPUShare`` and the call's mark on it from when it went upstream (an
    /// upstream with `gpus`, a billed route).
    var gpu: (share: GPUShare, mark: Int64)? = nil

    /// The request's prompt tokens, estimated when the response does not say (4 bytes a token).
    var estimatedPromptTokens: Int64 { Int64(promptBytes / 4) }

    /// A usage event for this call.
    func event(tokens: TokenCounts, outcome: Outcome, now: Timestamp, gpuMicroseconds: Int64 = 0) -> UsageEvent {
        var event = UsageEvent(
            id: requestID, timestamp: started, source: "gateway", provider: upstream.pricingProvider, model: model,
            tokens: tokens, outcome: outcome, attribution: attribution, tags: tags)
        event.latencyMilliseconds = max(0, (now.microseconds - started.microseconds) / 1000)
        event.resources.gpuMicroseconds = gpuMicroseconds
        return event
    }
}
