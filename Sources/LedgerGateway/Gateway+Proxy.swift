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

extension Gateway {
    /// Serves one provider API call: the request's head and its body (nil when it was larger than
    /// `server.max_body_bytes`).
    func handle(route: APIRoute, head: HTTPRequestHead, body: ByteBuffer?, deployment: String? = nil) async
        -> ProviderReply
    {
        let requestID = Self.newRequestID()
        metrics.started()
        defer { metrics.finished() }
        do {
            let call = try await admit(
                route: route, head: head, body: body, requestID: requestID, deployment: deployment)
            return await forward(call.call, body: call.body)
        } catch let refusal as Refusal {
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
        } catch {
            logger.error("internal error", metadata: ["request_id": "\(requestID)", "error": "\(error)"])
            return errorReply(
                route.family, status: 500, message: "TokenLedger failed to handle the request: \(error)",
                code: "internal_error", requestID: requestID)
        }
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

    /// Authenticates, reads the body, applies policy, attribution, rate limits and budgets.
    private func admit(
        route: APIRoute, head: HTTPRequestHead, body: ByteBuffer?, requestID: String, deployment: String?
    ) async throws -> (call: CallContext, body: ByteBuffer) {
        let startedInstant = ContinuousClock.now
        let started = Timestamp.current
        // The key.
        guard let secret = Self.secret(from: head.headers) else {
            throw Refusal(
                status: 401,
                message:
                    "No API key. Send your TokenLedger key as 'Authorization: Bearer tl-…' (or in 'x-api-key'); create one with `tokenledger keys create`.",
                code: "missing_api_key", reason: "auth")
        }
        guard let key = try await key(secret: secret) else {
            throw Refusal(
                status: 401,
                message:
                    "The API key \(VirtualKey.prefix(of: secret)) is not a TokenLedger key. Provider keys are not accepted here; use a key from `tokenledger keys create`.",
                code: "invalid_api_key", reason: "auth")
        }
        if let reason = key.unusableReason(at: started) {
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
        guard var buffer = body else {
            throw Refusal(
                status: 413,
                message:
                    "The request body is larger than this gateway accepts (\(configuration.server.maxBodyBytes) bytes, server.max_body_bytes).",
                code: "request_too_large", reason: "bad_request")
        }
        let bytes = buffer.readableBytesView
        // Only the fields the gateway reads are built; the rest (messages, tools) is checked and
        // passed on as it came.
        var body = try Self.requestBody(
            JSONRowParser.members(of: bytes) { name, _ in RequestInspection.reads(name) }, bytes: bytes)
        if body["model"] == nil, let deployment { body["model"] = .string(deployment) }
        var inspection: RequestInspection
        switch RequestInspection.read(body, route: route) {
        case .success(let value): inspection = value
        case .failure(let error):
            throw Refusal(
                status: 400, message: "Invalid request: \(error.message).", code: "invalid_request",
                reason: "bad_request")
        }
        // The model: alias, policy and route.
        let requested = inspection.model
        var model = configuration.aliases[requested] ?? requested
        guard key.policy.allows(model: model) || key.policy.allows(model: requested) else {
            throw Refusal(
                status: 403,
                message:
                    "This key may not use the model '\(requested)'. It may use: \(models(for: key).prefix(40).joined(separator: ", ")).",
                code: "model_not_allowed", reason: "model_policy")
        }
        guard var upstream = upstream(for: model, route: route) else {
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
        if !limits.isEmpty, let refusal = limiter.admit(limits, now: started.microseconds) {
            throw Refusal(
                status: 429,
                message:
                    "Rate limit reached: \(refusal.subject) allows \(refusal.limit) \(refusal.unit) per minute. Retry in \(refusal.retryAfterSeconds) s.",
                code: "rate_limit_exceeded", reason: "rate_limit",
                headers: [("Retry-After", String(refusal.retryAfterSeconds))])
        }
        // Budgets: reserve the worst case on every hard budget, or refuse.
        let budgets = route.isBilled ? budgets(key: key, attribution: attribution) : []
        var reserved = Cost.zero
        var callTags = tags
        callTags["key"] = key.id
        if !budgets.isEmpty {
            var allowFallback = true
            while true {
                do throws(PricingError) {
                    reserved = try estimate(
                        provider: upstream.pricingProvider, model: model, inspection: inspection,
                        promptBytes: bytes.count, route: route)
                } catch {
                    throw Refusal(
                        status: 400,
                        message:
                            "The model '\(model)' has no complete price, so this call cannot be checked against its budgets: \(error)",
                        code: "unpriced_model", reason: "unpriced_model")
                }
                let decision = try await governance.reserve(
                    requestID: requestID, estimate: reserved, budgets: budgets, now: started, holdFor: holdSeconds,
                    allowFallback: allowFallback)
                switch decision {
                case .reserved: break
                case .refused(let refusal):
                    throw Refusal(
                        status: 429, message: refusal.message, code: "budget_exceeded", reason: "budget",
                        headers: [("x-should-retry", "false")])
                case .fallback(let fallback, let budget):
                    guard let fallbackUpstream = self.upstream(for: fallback, route: route) else {
                        throw Refusal(
                            status: 429,
                            message:
                                "The soft budget \(budget.id) is spent and its fallback model '\(fallback)' is not served by this gateway.",
                            code: "budget_exceeded", reason: "budget")
                    }
                    callTags["fallback_from"] = model
                    callTags["fallback_budget"] = budget.id
                    model = fallback
                    upstream = fallbackUpstream
                    allowFallback = false
                    continue
                }
                break
            }
        }
        // The body sent upstream: the routed model, and usage asked for on OpenAI streams.
        let askUsage =
            inspection.stream && !inspection.callerAskedForUsage && (route == .chatCompletions || route == .completions)
        if model != requested || askUsage {
            body = try Self.requestBody(JSONRowParser.members(of: bytes), bytes: bytes)
            body["model"] = .string(model)
            if askUsage {
                var options = body["stream_options"]?.objectValue ?? [:]
                options["include_usage"] = .bool(true)
                body["stream_options"] = .object(options)
            }
            buffer = ByteBuffer(string: JSONValue.object(body).serialized())
        }
        // Tokens are counted where a token limit applies.
        let rateSubjects = limits.compactMap { $0.tpm == nil ? nil : $0.subject }
        let call = CallContext(
            requestID: requestID, route: route, started: started, startedInstant: startedInstant, key: key,
            upstream: upstream, model: model, attribution: attribution, tags: callTags, budgets: budgets,
            reserved: reserved, inspection: inspection, promptBytes: bytes.count, rateSubjects: rateSubjects,
            forwardedHeaders: Self.forwardedHeaders.compactMap { name in
                head.headers.first(name: name).map { (name, $0) }
            })
        return (call, buffer)
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
