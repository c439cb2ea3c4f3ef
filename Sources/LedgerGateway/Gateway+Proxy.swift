import Foundation
import HTTPTypes
import Hummingbird
import LedgerCore
import LedgerStore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The random part of request ids: SplitMix64 over a counter that starts at a random value, so
/// ids differ within the process and between processes without a `getrandom` call per request.
private enum RequestIDBits {
    private static let seed: UInt64 = {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }()
    private static let counter = Atomic<UInt64>(0)

    static func next() -> UInt64 {
        let count = counter.add(1, ordering: .relaxed).newValue
        var mixed = seed &+ count &* 0x9E37_79B9_7F4A_7C15
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// A refusal before the upstream is called: status, message, machine-readable code, metric reason.
struct Refusal: Error {
    var status: Int
    var message: String
    var code: String
    var reason: String
    var headers: [(String, String)] = []
}

/// How a provider call goes on from the read that completed its request.
enum CallStart {
    /// Answered at once: a refusal.
    case answered(ProviderReply)
    /// Admitted and sent upstream on the caller's event loop, with no task.
    case upstream(DirectCall)
    /// The rest needs waiting (a key to load, budgets to reserve in the ledger, a connection to
    /// open, a stream to relay): it runs in a task.
    case task(@Sendable () async -> ProviderReply)
}

extension Gateway {
    /// Starts one provider API call: the request's head and its body (nil when it was larger than
    /// `server.max_body_bytes`).
    ///
    /// Everything that needs no waiting is done here. With `withoutTask`, a call by a key already
    /// loaded, with no budget to reserve, no stream to relay and an idle upstream connection on
    /// `loop` (the one that read the request) goes upstream without a task, and its answer is
    /// relayed from the upstream's read. Any other call goes on in a task from the point it
    /// reached.
    func start(
        route: APIRoute, head: HTTPRequestHead, body: ByteBuffer?, deployment: String?, on loop: any EventLoop,
        withoutTask: Bool
    ) -> CallStart {
        let requestID = Self.newRequestID()
        metrics.started()
        do {
            let clock = CallClock()
            let secret = try Self.requiredSecret(from: head.headers)
            guard let key = cachedKey(secret: secret) else {
                return .task {
                    await self.finishing(route, requestID) {
                        let key = try await self.loadKey(secret: secret)
                        let screened = try self.screen(
                            route: route, head: head, body: body, requestID: requestID, deployment: deployment,
                            key: key, clock: clock, loop: loop)
                        return try await self.reserveAndForward(screened)
                    }
                }
            }
            let screened = try screen(
                route: route, head: head, body: body, requestID: requestID, deployment: deployment, key: key,
                clock: clock, loop: loop)
            guard screened.call.budgets.isEmpty else {
                return .task { await self.finishing(route, requestID) { try await self.reserveAndForward(screened) } }
            }
            let call = screened.call
            let buffer = try upstreamBody(call, buffer: screened.buffer, requested: screened.requested)
            if withoutTask, let direct = forwardNow(call, body: buffer) { return .upstream(direct) }
            return .task { await self.finishing(route, requestID) { await self.forward(call, body: buffer) } }
        } catch {
            metrics.finished()
            return .answered(reply(for: error, route: route, requestID: requestID))
        }
    }

    /// Runs the rest of a call in its task: a refusal becomes its error reply, and the call leaves
    /// the in-flight gauge at the end.
    func finishing(
        _ route: APIRoute, _ requestID: String, _ body: () async throws -> ProviderReply
    ) async -> ProviderReply {
        defer { metrics.finished() }
        do {
            return try await body()
        } catch {
            return reply(for: error, route: route, requestID: requestID)
        }
    }

    /// A refusal's error reply (counted and logged), or a 500 for anything else.
    private func reply(for error: any Error, route: APIRoute, requestID: String) -> ProviderReply {
        guard let refusal = error as? Refusal else {
            logger.error("internal error", metadata: ["request_id": "\(requestID)", "error": "\(error)"])
            return errorReply(
                route.family, status: 500, message: "TokenLedger failed to handle the request: \(error)",
                code: "internal_error", requestID: requestID)
        }
        metrics.refused(reason: refusal.reason, route: route)
        logger.info(
            "refused",
            metadata: [
                "request_id": "\(requestID)", "reason": "\(refusal.reason)", "status": "\(refusal.status)",
                "code": "\(refusal.code)",
            ])
        return errorReply(
            route.family, status: refusal.status, message: refusal.message, code: refusal.code,
            requestID: requestID, extraHeaders: refusal.headers)
    }

    static func newRequestID() -> String {
        // 24 hex digits: the time in milliseconds (48 bits), then 48 random bits. Ids made later
        // sort later, so the ledger's id index grows at its end instead of rewriting pages all
        // over it on every flush.
        let milliseconds = UInt64(max(0, Timestamp.current.microseconds / 1000))
        let random = RequestIDBits.next()
        return String(unsafeUninitializedCapacity: 28) { text in
            func hex(_ value: UInt64, at offset: Int) {
                for digit in 0..<12 {
                    let nibble = UInt8(truncatingIfNeeded: value >> UInt64(44 - digit * 4)) & 15
                    text[offset + digit] = nibble < 10 ? 48 + nibble : 87 + nibble
                }
            }
            for (index, byte) in "req_".utf8.enumerated() { text[index] = byte }
            hex(milliseconds, at: 4)
            hex(random, at: 16)
            return 28
        }
    }

    /// An error in the provider family's format, with the request id.
    func errorReply(
        _ family: APIFamily, status: Int, message: String, code: String?, requestID: String,
        extraHeaders: [(String, String)] = []
    ) -> ProviderReply {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: ProviderReply.requestIDHeader, value: requestID)
        for (name, value) in extraHeaders { headers.replaceOrAdd(name: name, value: value) }
        let body = family.errorBody(status: status, message: message, code: code)
        return ProviderReply(
            status: HTTPResponseStatus(statusCode: status), headers: headers, body: .whole(ByteBuffer(string: body)))
    }

    /// ``errorReply(_:status:message:code:requestID:extraHeaders:)`` for a route the router serves.
    func errorResponse(
        _ family: APIFamily, status: Int, message: String, code: String?, requestID: String,
        extraHeaders: [(String, String)] = []
    ) -> Response {
        let reply = errorReply(
            family, status: status, message: message, code: code, requestID: requestID, extraHeaders: extraHeaders)
        var fields = HTTPFields()
        for (name, value) in reply.headers {
            if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
        }
        guard case .whole(let body) = reply.body else { preconditionFailure("error replies are whole") }
        return Response(status: .init(code: status), headers: fields, body: ResponseBody(byteBuffer: body))
    }

    // MARK: - Admission

    /// When a call started, by the wall clock (its event's time) and the monotonic one (latency).
    struct CallClock: Sendable {
        let started = Timestamp.current
        let instant = ContinuousClock.now
    }

    /// A call that passed every check that needs no waiting, with the budgets that apply to it
    /// (not yet reserved), its body, and the model the caller asked for.
    struct Screened: Sendable {
        var call: CallContext
        var buffer: ByteBuffer
        var requested: String
    }

    /// The caller's key, or the 401 that says how to send one.
    private static func requiredSecret(from headers: HTTPHeaders) throws(Refusal) -> String {
        guard let secret = secret(from: headers) else {
            throw Refusal(
                status: 401,
                message:
                    "No API key. Send your TokenLedger key as 'Authorization: Bearer tl-…' (or in 'x-api-key'); create one with `tokenledger keys create`.",
                code: "missing_api_key", reason: "auth")
        }
        return secret
    }

    /// The key of a secret, from the ledger; a secret that is no key is refused.
    private func loadKey(secret: String) async throws -> VirtualKey {
        guard let key = try await key(secret: secret) else {
            throw Refusal(
                status: 401,
                message:
                    "The API key \(VirtualKey.prefix(of: secret)) is not a TokenLedger key. Provider keys are not accepted here; use a key from `tokenledger keys create`.",
                code: "invalid_api_key", reason: "auth")
        }
        return key
    }

    /// The key's state, the body, policy, model and route, attribution and rate limits; and the
    /// budgets that apply (reserved by ``reserveAndForward(_:)``).
    private func screen(
        route: APIRoute, head: HTTPRequestHead, body: ByteBuffer?, requestID: String, deployment: String?,
        key: VirtualKey, clock: CallClock, loop: any EventLoop
    ) throws -> Screened {
        if let reason = key.unusableReason(at: clock.started) {
            throw Refusal(
                status: 401, message: "The API key cannot be used: \(reason).", code: "invalid_api_key", reason: "auth")
        }
        guard key.policy.purpose == .gateway else {
            throw Refusal(
                status: 403,
                message:
                    "The key \(key.id) is an ingest key: it may send usage to /api/v1/events and /v1/traces, not call models. Use a gateway key (`tokenledger keys create` without --ingest).",
                code: "wrong_key_purpose", reason: "auth")
        }
        // The body.
        guard let buffer = body else {
            throw Refusal(
                status: 413,
                message:
                    "The request body is larger than this gateway accepts (\(configuration.server.maxBodyBytes) bytes, server.max_body_bytes).",
                code: "request_too_large", reason: "bad_request")
        }
        let bytes = buffer.readableBytesView
        // Only the fields the gateway reads are built; the rest (messages, tools) is checked and
        // passed on as it came.
        var fields = try Self.requestBody(
            JSONRowParser.members(of: bytes) { name, _ in RequestInspection.reads(name) }, bytes: bytes)
        if fields["model"] == nil, let deployment { fields["model"] = .string(deployment) }
        let inspection: RequestInspection
        switch RequestInspection.read(fields, route: route) {
        case .success(let value): inspection = value
        case .failure(let error):
            throw Refusal(
                status: 400, message: "Invalid request: \(error.message).", code: "invalid_request",
                reason: "bad_request")
        }
        // The model: alias, policy and route.
        let requested = inspection.model
        let model = configuration.aliases[requested] ?? requested
        guard key.policy.allows(model: model) || key.policy.allows(model: requested) else {
            throw Refusal(
                status: 403,
                message:
                    "This key may not use the model '\(requested)'. It may use: \(models(for: key).prefix(40).joined(separator: ", ")).",
                code: "model_not_allowed", reason: "model_policy")
        }
        guard let upstream = upstream(for: model, route: route) else {
            throw Refusal(
                status: 400,
                message:
                    "The model '\(requested)' is not served by this gateway on \(route.rawValue). This key may use: \(models(for: key).prefix(40).joined(separator: ", ")).",
                code: "model_not_found", reason: "unknown_model")
        }
        // Attribution.
        let (attribution, tags) = try attribute(key: key, headers: head.headers, endUser: inspection.endUser)
        // Rate limits.
        var limits: [(subject: String, rpm: Int?, tpm: Int?)] = []
        if key.policy.rpm != nil || key.policy.tpm != nil {
            limits.append(("key \(key.id)", key.policy.rpm, key.policy.tpm))
        }
        if let team = attribution.team, let teamLimits = configuration.limits.teams[team] {
            limits.append(("team \(team)", teamLimits.rpm, teamLimits.tpm))
        }
        if !limits.isEmpty, let refusal = limiter.admit(limits, now: clock.started.microseconds) {
            throw Refusal(
                status: 429,
                message:
                    "Rate limit reached: \(refusal.subject) allows \(refusal.limit) \(refusal.unit) per minute. Retry in \(refusal.retryAfterSeconds) s.",
                code: "rate_limit_exceeded", reason: "rate_limit",
                headers: [("Retry-After", String(refusal.retryAfterSeconds))])
        }
        var callTags = tags
        callTags["key"] = key.id
        let call = CallContext(
            requestID: requestID, route: route, started: clock.started, startedInstant: clock.instant, key: key,
            upstream: upstream, model: model, attribution: attribution, tags: callTags,
            budgets: route.isBilled ? budgets(key: key, attribution: attribution) : [], reserved: .zero,
            inspection: inspection, promptBytes: buffer.readableBytes,
            // Tokens are counted where a token limit applies.
            rateSubjects: limits.compactMap { $0.tpm == nil ? nil : $0.subject },
            forwardedHeaders: Self.forwardedHeaders.compactMap { name in
                head.headers.first(name: name).map { (name, $0) }
            },
            eventLoop: loop)
        return Screened(call: call, buffer: buffer, requested: requested)
    }

    /// Reserves the worst case on every hard budget (or refuses, or routes to a soft budget's
    /// fallback model), then sends the call upstream.
    private func reserveAndForward(_ screened: Screened) async throws -> ProviderReply {
        var call = screened.call
        if !call.budgets.isEmpty {
            var allowFallback = true
            while true {
                do throws(PricingError) {
                    call.reserved = try estimate(call)
                } catch {
                    throw Refusal(
                        status: 400,
                        message:
                            "The model '\(call.model)' has no complete price, so this call cannot be checked against its budgets: \(error)",
                        code: "unpriced_model", reason: "unpriced_model")
                }
                let decision = try await governance.reserve(
                    requestID: call.requestID, estimate: call.reserved, budgets: call.budgets, now: call.started,
                    holdFor: holdSeconds, allowFallback: allowFallback)
                switch decision {
                case .reserved: break
                case .refused(let refusal):
                    throw Refusal(
                        status: 429, message: refusal.message, code: "budget_exceeded", reason: "budget",
                        headers: [("x-should-retry", "false")])
                case .fallback(let fallback, let budget):
                    guard let fallbackUpstream = self.upstream(for: fallback, route: call.route) else {
                        throw Refusal(
                            status: 429,
                            message:
                                "The soft budget \(budget.id) is spent and its fallback model '\(fallback)' is not served by this gateway.",
                            code: "budget_exceeded", reason: "budget")
                    }
                    call.tags["fallback_from"] = call.model
                    call.tags["fallback_budget"] = budget.id
                    call.model = fallback
                    call.upstream = fallbackUpstream
                    allowFallback = false
                    continue
                }
                break
            }
        }
        let body = try upstreamBody(call, buffer: screened.buffer, requested: screened.requested)
        return await forward(call, body: body)
    }

    /// The body sent upstream: the routed model, and usage asked for on OpenAI streams.
    private func upstreamBody(_ call: CallContext, buffer: ByteBuffer, requested: String) throws(Refusal)
        -> ByteBuffer
    {
        let inspection = call.inspection
        let askUsage =
            inspection.stream && !inspection.callerAskedForUsage
            && (call.route == .chatCompletions || call.route == .completions)
        guard call.model != requested || askUsage else { return buffer }
        let bytes = buffer.readableBytesView
        var body = try Self.requestBody(JSONRowParser.members(of: bytes), bytes: bytes)
        body["model"] = .string(call.model)
        if askUsage {
            var options = body["stream_options"]?.objectValue ?? [:]
            options["include_usage"] = .bool(true)
            body["stream_options"] = .object(options)
        }
        return ByteBuffer(string: JSONValue.object(body).serialized())
    }

    /// A parsed request body, or the 400 that says where it is not valid JSON.
    static func requestBody(
        _ parsed: Result<[String: JSONValue], JSONRowParser.Failure>, bytes: ByteBufferView
    ) throws(Refusal) -> [String: JSONValue] {
        switch parsed {
        case .success(let object): return object
        case .failure(let error):
            let position = bytes.lineAndColumn(ofOffset: error.column - 1)
            throw Refusal(
                status: 400,
                message:
                    "The request body is not valid JSON: \(error.reason) at line \(position.line), column \(position.column) (byte \(error.column)).",
                code: "invalid_json", reason: "bad_request")
        }
    }

    /// The caller's secret: `Authorization: Bearer`, `x-api-key` (Anthropic) or `api-key` (Azure).
    static func secret(from headers: some HeaderLookup) -> String? {
        if let value = headers.value(of: "authorization") {
            // "Bearer " in any case.
            if value.utf8.count > 7, value.hasPrefix(lowercasedASCII: "bearer ") {
                var token = value.dropFirst(7).drop { $0 == " " }
                while token.last == " " { token = token.dropLast() }
                return String(token)
            }
        }
        return headers.value(of: "x-api-key") ?? headers.value(of: "api-key")
    }

    /// `X-TokenLedger-User`, `X-TokenLedger-Cost-Centre`, … one per attribution dimension.
    static let attributionHeaders: [(AttributionDimension, String)] = AttributionDimension.all.map { dimension in
        let name = dimension.rawValue.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }
            .joined(separator: "-")
        return (dimension, "X-TokenLedger-" + name)
    }

    static let tagsHeader = "X-TokenLedger-Tags"

    /// The caller's protocol headers passed upstream.
    static let forwardedHeaders = ["anthropic-version", "anthropic-beta", "openai-beta"]

    /// The call's attribution: the key's owner, refined by headers the key's policy allows.
    private func attribute(key: VirtualKey, headers: HTTPHeaders, endUser: String?) throws -> (
        Attribution, [String: String]
    ) {
        var attribution = key.owner
        var tags: [String: String] = [:]
        let allowed = key.policy.attributionHeaders
        func set(_ dimension: AttributionDimension, _ value: String?, source: String) throws {
            guard let value else { return }
            if let fixed = key.owner[dimension] {
                if fixed != value {
                    throw Refusal(
                        status: 403,
                        message:
                            "This key belongs to \(dimension.rawValue) '\(fixed)' and cannot record spend as \(dimension.rawValue) '\(value)' (\(source)).",
                        code: "attribution_not_allowed", reason: "attribution")
                }
                return
            }
            guard allowed.contains(dimension.rawValue) else {
                throw Refusal(
                    status: 403,
                    message:
                        "This key's policy does not let callers set the \(dimension.rawValue) (\(source)); allowed: \(key.policy.attributionHeaders.joined(separator: ", ")).",
                    code: "attribution_not_allowed", reason: "attribution")
            }
            attribution[dimension] = value
        }
        // Most calls carry no attribution headers: one pass over the headers says so.
        let hasHeaders = headers.contains { $0.name.hasPrefix(lowercasedASCII: "x-tokenledger-") }
        if hasHeaders {
            for (dimension, name) in Self.attributionHeaders {
                if let value = headers.first(name: name), !value.isEmpty {
                    try set(dimension, value, source: "header \(name.lowercased())")
                }
            }
        }
        if attribution.user == nil || attribution.user == endUser {
            if let endUser, allowed.contains("user") || key.owner.user != nil {
                try set(.user, endUser, source: "the body's user field")
            }
        }
        if hasHeaders, let text = headers.first(name: Self.tagsHeader), !text.isEmpty {
            guard allowed.contains("tags") else {
                throw Refusal(
                    status: 403,
                    message: "This key's policy does not let callers set tags (header X-TokenLedger-Tags).",
                    code: "attribution_not_allowed", reason: "attribution")
            }
            for pair in text.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw Refusal(
                        status: 400,
                        message: "X-TokenLedger-Tags: '\(pair)' is not key=value; write tags as a=1,b=2.",
                        code: "invalid_request", reason: "bad_request")
                }
                let name = parts[0].trimmingCharacters(in: .whitespaces)
                guard name != "key", !name.hasPrefix("fallback_") else {
                    throw Refusal(
                        status: 400, message: "X-TokenLedger-Tags: the tag '\(name)' is reserved by TokenLedger.",
                        code: "invalid_request", reason: "bad_request")
                }
                tags[name] = parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return (attribution, tags)
    }
}
