import Foundation
import HTTPTypes
import Hummingbird
import LedgerCore
import LedgerStore
import NIOCore

/// The admin API under `/api/v1`: keys, budgets, and the cost of a request. Authenticated with
/// the admin key (`Authorization: Bearer $TOKENLEDGER_ADMIN_KEY`); a virtual key may read the
/// requests it made.
enum AdminAPI {
    static func register(on router: Router<BasicRequestContext>, gateway: Gateway) {
        let api = router.group("/api/v1")
        api.get("/keys") { request, _ in
            try await gateway.asAdmin(request) {
                let keys = try await gateway.governance.keys()
                let budgets = try await gateway.governance.budgets()
                return Gateway.json(
                    .object([
                        (
                            "keys",
                            .array(
                                keys.map { key in
                                    KeyIssuer.json(
                                        key, budgets: budgets.filter { $0.scope == .key && $0.subject == key.id })
                                })
                        )
                    ]))
            }
        }
        api.post("/keys") { request, _ in
            try await gateway.asAdmin(request) {
                let body = try await request.body.collect(upTo: 64 * 1024)
                guard case .success(let fields) = JSONRowParser.members(of: body.readableBytesView) else {
                    return gateway.adminError(
                        400, "The body must be a JSON object such as {\"team\":\"search\",\"budget\":\"25/month\"}.")
                }
                let keyRequest: KeyRequest
                switch Self.keyRequest(fields) {
                case .success(let value): keyRequest = value
                case .failure(let error): return gateway.adminError(400, error.description)
                }
                do {
                    let issued = try await KeyIssuer.issue(keyRequest, governance: gateway.governance, now: .current)
                    try await gateway.refreshBudgets()
                    return Gateway.json(
                        KeyIssuer.json(issued.key, secret: issued.secret, budgets: issued.budget.map { [$0] } ?? []),
                        status: 201)
                } catch let error as ConfigurationError {
                    return gateway.adminError(400, error.description)
                }
            }
        }
        api.get("/keys/:id") { request, context in
            try await gateway.asAdmin(request) {
                let id = context.parameters.get("id") ?? ""
                guard let key = try await gateway.governance.key(id: id) else {
                    return gateway.adminError(404, "No key with id '\(id)'.")
                }
                let budgets = try await gateway.governance.budgets().filter { $0.scope == .key && $0.subject == id }
                return Gateway.json(KeyIssuer.json(key, budgets: budgets))
            }
        }
        api.delete("/keys/:id") { request, context in
            try await gateway.asAdmin(request) {
                let id = context.parameters.get("id") ?? ""
                guard let key = try await gateway.governance.revokeKey(id: id, at: .current) else {
                    return gateway.adminError(404, "No key with id '\(id)'.")
                }
                gateway.invalidateKeys()
                return Gateway.json(KeyIssuer.json(key))
            }
        }
        api.get("/budgets") { request, _ in
            try await gateway.asAdmin(request) {
                let statuses = try await gateway.governance.status(of: gateway.governance.budgets(), now: .current)
                return Gateway.json(.object([("budgets", .array(statuses.map(Self.json)))]))
            }
        }
        api.get("/requests/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            let rated: RatedEvent?
            if let pending = gateway.sink.pendingEvent(id: id) {
                rated = pending
            } else {
                rated = try await gateway.ledger.event(id: id)
            }
            let isAdmin = gateway.isAdmin(request)
            var owner: String?
            if !isAdmin, let secret = Gateway.secret(from: request.headers) {
                owner = try await gateway.key(secret: secret)?.id
            }
            guard isAdmin || (owner != nil && rated?.event.tags["key"] == owner) else {
                return gateway.adminError(
                    rated == nil || owner != nil ? 404 : 401,
                    owner == nil
                        ? "Send the admin key or the virtual key that made the request."
                        : "No request '\(id)' made by this key.")
            }
            guard let rated else { return gateway.adminError(404, "No request with id '\(id)' is recorded.") }
            return Gateway.json(Self.json(rated))
        }
    }

    static func json(_ status: BudgetStatus) -> OrderedJSON {
        .object([
            ("id", .string(status.budget.id)), ("scope", .string(status.budget.scope.rawValue)),
            ("subject", .string(status.budget.subject)), ("period", .string(status.budget.period.rawValue)),
            ("hard", .bool(status.budget.hard)), ("limit_usd", .string(status.budget.limit.decimalString)),
            ("spent_usd", .string(status.spent.decimalString)),
            ("reserved_usd", .string(status.reserved.decimalString)),
            ("percent_used", .integer(Int64(status.percentUsed))),
            ("period_start", .string(status.periodStart.iso8601)),
            ("resets_at", .string(status.resetsAt.iso8601)),
        ])
    }

    static func json(_ rated: RatedEvent) -> OrderedJSON {
        let event = rated.event
        var attribution: [(String, OrderedJSON)] = []
        for dimension in AttributionDimension.all {
            if let value = event.attribution[dimension] { attribution.append((dimension.rawValue, .string(value))) }
        }
        var resources: [(String, OrderedJSON)] = []
        if event.resources.gpuMicroseconds != 0 {
            resources.append(("gpu_seconds", .decimal(event.resources.gpuSecondsText)))
        }
        return .object(
            [
                ("request_id", .string(event.id)), ("timestamp", .string(event.timestamp.iso8601)),
                ("provider", .string(event.provider)), ("model", .string(event.model)),
                ("outcome", .string(event.outcome.rawValue)), ("cost_usd", .string(rated.cost.decimalString)),
                ("priced", .bool(rated.priced)),
                (
                    "tokens",
                    .object(
                        TokenKind.all.compactMap {
                            event.tokens[$0] == 0 ? nil : ($0.rawValue, .integer(event.tokens[$0]))
                        })
                ),
            ] + resources + [
                ("latency_ms", event.latencyMilliseconds.map { .integer($0) } ?? .null),
                ("attribution", .object(attribution)),
                ("tags", .object(event.tags.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ])
    }

    /// Reads `{"team": …, "user": …, "models": [...], "budget": "25/month", "rpm": 60, "expires": "2026-12-31"}`.
    static func keyRequest(_ fields: [String: JSONValue]) -> Result<KeyRequest, ConfigurationError> {
        let known: Set<String> = [
            "name", "organisation", "team", "user", "project", "customer", "models", "denied_models", "rpm", "tpm",
            "budget", "expires", "attribution_headers", "purpose",
        ]
        if let unknown = fields.keys.first(where: { !known.contains($0) }) {
            return .failure(
                ConfigurationError("unknown field '\(unknown)'; known: \(known.sorted().joined(separator: ", "))"))
        }
        func strings(_ key: String) -> [String]? { fields[key]?.arrayValue?.compactMap(\.stringValue) }
        var owner = Attribution()
        for dimension in [AttributionDimension.organisation, .team, .user, .project, .customer] {
            owner[dimension] = fields[dimension.rawValue]?.stringValue
        }
        var policy = KeyPolicy(
            models: strings("models"), deniedModels: strings("denied_models") ?? [],
            rpm: fields["rpm"]?.integerValue.map(Int.init), tpm: fields["tpm"]?.integerValue.map(Int.init))
        if let headers = strings("attribution_headers") { policy.attributionHeaders = headers }
        if let text = fields["purpose"]?.stringValue {
            guard let purpose = KeyPurpose(rawValue: text) else {
                return .failure(ConfigurationError("purpose '\(text)' is not one of gateway, ingest"))
            }
            policy.purpose = purpose
        }
        var expires: Timestamp?
        if let text = fields["expires"]?.stringValue {
            guard let value = Timestamp(parsing: text) else {
                return .failure(ConfigurationError("expires '\(text)' is not a date such as 2026-12-31"))
            }
            expires = value
        }
        return .success(
            KeyRequest(
                name: fields["name"]?.stringValue, owner: owner, policy: policy, budget: fields["budget"]?.stringValue,
                expires: expires))
    }
}

extension Gateway {
    func isAdmin(_ request: Request) -> Bool {
        guard let adminKey, let secret = Self.secret(from: request.headers) else { return false }
        return secret.utf8.count == adminKey.utf8.count
            && zip(secret.utf8, adminKey.utf8).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    func asAdmin(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        guard adminKey != nil else {
            return adminError(
                403,
                "The admin API is off: set the environment variable \(configuration.server.adminKeyEnv) before starting the server."
            )
        }
        guard isAdmin(request) else { return adminError(401, "Send the admin key as 'Authorization: Bearer …'.") }
        return try await body()
    }

    func adminError(_ status: Int, _ message: String) -> Response {
        Self.json(
            .object([("error", .object([("status", .integer(Int64(status))), ("message", .string(message))]))]),
            status: status)
    }
}
