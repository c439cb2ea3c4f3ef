import Foundation
import HTTPTypes
import Hummingbird
import LedgerCore
import Logging
import NIOCore
import NIOHTTP1

extension Gateway {
    /// Sends an admitted call upstream and relays the answer; records the usage on every path.
    func forward(_ call: CallContext, body: ByteBuffer) async -> ProviderReply {
        var call = call
        beginGPUShare(&call)
        let response: UpstreamResponse
        do {
            guard let address = upstreamAddresses[call.upstream.name] else {
                throw UpstreamError.invalidURL(call.upstream.baseURL)
            }
            response = try await upstreamClient.post(
                to: address.target, path: upstreamPath(call, basePath: address.basePath),
                headers: upstreamHeaders(call), body: body,
                streamWanted: call.inspection.stream && call.route.isBilled,
                timeout: .seconds(Int64(configuration.server.upstreamTimeoutSeconds)), on: call.eventLoop)
        } catch {
            if !call.route.isBilled { await release(call) }
            return failed(call, error, cancelled: Task.isCancelled)
        }
        if case .stream(let chunks) = response.body {
            metrics.upstreamLatency(
                upstream: call.upstream.name, seconds: (ContinuousClock.now - call.startedInstant).seconds)
            return stream(call, response: response, chunks: chunks)
        }
        if !call.route.isBilled { await release(call) }
        return relay(call, response)
    }

    /// ``forward(_:body:)`` without a task, for a call with nothing to release (no budget hold)
    /// and no stream to relay, on an idle upstream connection of the caller's event loop. Nil when
    /// the call needs the task (then `forward`).
    func forwardNow(_ call: CallContext, body: ByteBuffer) -> DirectCall? {
        guard call.budgets.isEmpty, !(call.inspection.stream && call.route.isBilled),
            let address = upstreamAddresses[call.upstream.name],
            let (answer, close) = upstreamClient.postNow(
                to: address.target, path: upstreamPath(call, basePath: address.basePath),
                headers: upstreamHeaders(call), body: body,
                timeout: .seconds(Int64(configuration.server.upstreamTimeoutSeconds)), on: call.eventLoop)
        else { return nil }
        var sent = call
        beginGPUShare(&sent)
        let call = sent
        metrics.startedWithoutTask()
        return DirectCall(answer: answer, close: close) { result, cancelled -> DirectCall.Outcome in
            switch result {
            case .failure(UpstreamError.notSent) where !cancelled:
                // The idle connection was closed by the upstream before the request went out:
                // nothing reached it, so the task sends it on a fresh connection, as
                // `forward(_:body:)` does.
                return .retry {
                    await self.finishing(call.route, call.requestID) { await self.forward(call, body: body) }
                }
            case .success(let response):
                defer { self.metrics.finished() }
                return .reply(self.relay(call, response))
            case .failure(let error):
                defer { self.metrics.finished() }
                return .reply(self.failed(call, error, cancelled: cancelled))
            }
        }
    }

    /// The reply to an upstream call that failed, recorded when the route is billed.
    private func failed(_ call: CallContext, _ error: any Error, cancelled: Bool) -> ProviderReply {
        let (status, message) = upstreamFailure(error, call: call, cancelled: cancelled)
        if call.route.isBilled && status == 499 {
            // The caller went away and the call was cancelled: the provider has read the
            // prompt, and what it wrote before the cancel is unknown.
            var tokens = TokenCounts.zero
            tokens.input = call.estimatedPromptTokens
            _ = complete(call, tokens: tokens, outcome: .estimated, status: status)
        } else if call.route.isBilled {
            _ = complete(call, tokens: .zero, outcome: .error, status: status)
        }
        return errorReply(
            call.route.family, status: status, message: message, code: "upstream_error", requestID: call.requestID)
    }

    /// The reply to a whole upstream answer, with its cost, recorded when the route is billed.
    private func relay(_ call: CallContext, _ response: UpstreamResponse) -> ProviderReply {
        metrics.upstreamLatency(
            upstream: call.upstream.name, seconds: (ContinuousClock.now - call.startedInstant).seconds)
        guard case .whole(let bytes) = response.body else { preconditionFailure("a stream is relayed by stream()") }
        let status = Int(response.status.code)
        var headers = response.headers
        headers.add(name: ProviderReply.requestIDHeader, value: call.requestID)
        guard call.route.isBilled else {
            return ProviderReply(status: response.status, headers: headers, body: .whole(bytes))
        }
        var tokens = TokenCounts.zero
        var outcome = Outcome.ok
        if (200..<300).contains(status) {
            if let normalised = ProviderUsage.normalise(
                responseBody: bytes.readableBytesView, provider: call.upstream.pricingProvider)
            {
                tokens = normalised.tokens
            } else {
                // No usage in the answer (some OpenAI-compatible servers): estimate, and say so.
                tokens.input = call.estimatedPromptTokens
                tokens.output = Int64(bytes.readableBytes / 4)
                outcome = .estimated
            }
        } else {
            outcome = .error
        }
        let rated = complete(call, tokens: tokens, outcome: outcome, status: status)
        headers.add(name: ProviderReply.costHeader, value: rated.cost.decimalString)
        return ProviderReply(status: response.status, headers: headers, body: .whole(bytes))
    }

    /// Relays a server-sent-event stream event by event, reading usage from it.
    private func stream(_ call: CallContext, response: UpstreamResponse, chunks: UpstreamBodyStream) -> ProviderReply {
        var headers = response.headers
        headers.add(name: ProviderReply.requestIDHeader, value: call.requestID)
        let family = call.route.family
        let dropUsage = !call.inspection.callerAskedForUsage && family == .openAI
        let body = ProviderReply.Body.stream { writer in
            var tracker = StreamUsageTracker(route: call.route, provider: call.upstream.pricingProvider)
            var scanner = SSEScanner()
            var held: [UInt8] = []
            var clientGone = false
            var failure: (status: Int, message: String)?
            do {
                for try await chunk in chunks {
                    var out: [UInt8] = []
                    for event in scanner.append(chunk.readableBytesView) {
                        let fields = SSEScanner.fields(of: event)
                        let usageOnly = tracker.observe(fields)
                        if usageOnly && dropUsage { continue }
                        let bytes = dropUsage ? Self.removingNullUsage(event) : event
                        if fields.isDone || fields.named("message_stop") {
                            held.append(contentsOf: bytes)  // sent once the usage is recorded
                        } else {
                            out.append(contentsOf: bytes)
                        }
                    }
                    if !out.isEmpty {
                        do {
                            try await writer.write(ByteBuffer(bytes: out))
                        } catch {
                            clientGone = true
                            chunks.cancel()
                            break
                        }
                    }
                }
            } catch {
                // Unless the caller went away (its connection closed and cancelled the call, below),
                // the upstream failed.
                if !Task.isCancelled { failure = self.upstreamFailure(error, call: call, cancelled: false) }
            }
            if Task.isCancelled { clientGone = true }
            // Record before the response completes.
            let reported = tracker.reportedTokens()
            var tokens = reported ?? .zero
            var outcome = Outcome.ok
            if clientGone || failure != nil || reported == nil {
                if reported == nil { tokens.input = call.estimatedPromptTokens }
                tokens.output = max(tokens.output, tracker.estimatedOutputTokens)
                outcome = clientGone ? .estimated : (failure != nil ? .error : .estimated)
            }
            if tracker.upstreamError != nil { outcome = .error }
            let status = failure?.status ?? (clientGone ? 499 : 200)
            let rated = self.complete(call, tokens: tokens, outcome: outcome, status: status)
            if clientGone {
                self.logger.info("client disconnected mid-stream", metadata: ["request_id": "\(call.requestID)"])
                return
            }
            if let failure {
                held = Array(family.streamErrorEvent(status: failure.status, message: failure.message).utf8)
            }
            if !held.isEmpty { try await writer.write(ByteBuffer(bytes: held)) }
            try await writer.finish(trailers: [(ProviderReply.costHeader, rated.cost.decimalString)])
        }
        return ProviderReply(status: response.status, headers: headers, body: body)
    }

    /// Removes the `"usage":null` member OpenAI adds to every chunk when usage was asked for, so a
    /// caller that did not ask sees the chunks it would have seen.
    static func removingNullUsage(_ event: [UInt8]) -> [UInt8] {
        for pattern in nullUsagePatterns {
            if let start = event.firstIndex(of: pattern) {
                var copy = event
                copy.removeSubrange(start..<start + pattern.count)
                return copy
            }
        }
        return event
    }

    private static let nullUsagePatterns = [Array(",\"usage\":null".utf8), Array("\"usage\":null,".utf8)]

    /// Status and message for an upstream that failed or did not answer in time.
    func upstreamFailure(_ error: any Error, call: CallContext, cancelled: Bool) -> (Int, String) {
        let name = call.upstream.name
        let id = call.requestID
        // A caller that went away closes the upstream connection: whatever error that caused, the
        // call was cancelled, not failed by the upstream.
        if cancelled || error is CancellationError {
            return (499, "The request was cancelled. Request id \(id).")
        }
        switch error {
        case UpstreamError.readTimeout:
            let seconds = configuration.server.upstreamTimeoutSeconds
            return (
                504,
                "The upstream '\(name)' did not answer within \(seconds) s (server.upstream_timeout_seconds). Request id \(id)."
            )
        case UpstreamError.connectTimeout:
            let seconds = configuration.server.connectTimeoutSeconds
            return (
                502,
                "Could not connect to the upstream '\(name)' within \(seconds) s (server.connect_timeout_seconds). Request id \(id)."
            )
        default:
            return (502, "The upstream '\(name)' failed: \(error). Request id \(id).")
        }
    }

    /// The path (and query) on the upstream for a call, under the base URL's path.
    func upstreamPath(_ call: CallContext, basePath base: String) -> String {
        guard call.upstream.kind == .azure else { return base + call.route.rawValue }
        let version = call.upstream.apiVersion.map { "?api-version=\($0)" } ?? ""
        if call.route == .responses { return base + "/openai/v1/responses" + version }
        let deployment = call.upstream.deployments[call.model] ?? call.model
        let suffix = call.route.rawValue.dropFirst("/v1/".count)
        return base + "/openai/deployments/\(deployment)/\(suffix)" + version
    }

    /// Headers for the upstream: the provider key from the environment, and the caller's
    /// protocol headers (`anthropic-version`, `anthropic-beta`, `openai-beta`). The caller's own
    /// credentials never go upstream.
    func upstreamHeaders(_ call: CallContext) -> HTTPHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(4 + call.forwardedHeaders.count)
        fields.append(("content-type", "application/json"))
        fields.append(("accept", call.inspection.stream ? "text/event-stream" : "application/json"))
        if let credential = upstreamCredentials[call.upstream.name] { fields.append(credential) }
        fields.append(contentsOf: call.forwardedHeaders)
        if call.upstream.kind == .anthropic
            && !call.forwardedHeaders.contains(where: { $0.0.equals(lowercasedASCII: "anthropic-version") })
        {
            fields.append(("anthropic-version", "2023-06-01"))
        }
        return HTTPHeaders(fields)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// A call sent upstream without a task: its answer becomes the reply on the caller's event loop,
/// where every use of it happens.
final class DirectCall {
    /// How the call ends.
    enum Outcome {
        /// The reply (also for a failed call).
        case reply(ProviderReply)
        /// The request did not go out: the rest of the call runs in a task.
        case retry(@Sendable () async -> ProviderReply)
    }

    private let answer: EventLoopFuture<UpstreamResponse>
    private let close: () -> Void
    private let outcome: (Result<UpstreamResponse, any Error>, _ cancelled: Bool) -> Outcome
    private var cancelled = false

    init(
        answer: EventLoopFuture<UpstreamResponse>, close: @escaping () -> Void,
        outcome: @escaping (Result<UpstreamResponse, any Error>, _ cancelled: Bool) -> Outcome
    ) {
        self.answer = answer
        self.close = close
        self.outcome = outcome
    }

    /// The caller went away: the upstream connection closes, and the call is recorded as
    /// cancelled.
    func cancel() {
        cancelled = true
        close()
    }

    /// Calls `body` with the call's outcome once the upstream has answered or failed.
    func whenDone(_ body: @escaping (Outcome) -> Void) {
        answer.assumeIsolated().whenComplete { result in body(self.outcome(result, self.cancelled)) }
    }
}
