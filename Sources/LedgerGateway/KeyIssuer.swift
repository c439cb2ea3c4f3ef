public import LedgerCore
public import LedgerStore

/// What a new key should be: owner, policy, budget and expiry.
public struct KeyRequest: Sendable {
    public var name: String?
    public var owner: Attribution
    public var policy: KeyPolicy
    /// `25/month`, `5/day`.
    public var budget: String?
    public var expires: Timestamp?

    public init(
        name: String? = nil, owner: Attribution, policy: KeyPolicy = KeyPolicy(), budget: String? = nil,
        expires: Timestamp? = nil
    ) {
        self.name = name
        self.owner = owner
        self.policy = policy
        self.budget = budget
        self.expires = expires
    }
}

/// Creates keys for the CLI and the admin API alike.
public enum KeyIssuer {
    /// Validates the request, stores the key (hashed) and its budget, and returns the key with
    /// its secret — the only time the secret is available.
    public static func issue(_ request: KeyRequest, governance: SQLiteGovernance, now: Timestamp) async throws
        -> (key: VirtualKey, secret: String, budget: Budget?)
    {
        guard
            request.owner.team != nil || request.owner.organisation != nil || request.owner.customer != nil
                || request.owner.project != nil || request.owner.user != nil
        else {
            throw ConfigurationError(
                "a key needs an owner: give at least --team (or --organisation, --project, --customer, --user)")
        }
        if let expires = request.expires, expires <= now {
            throw ConfigurationError("the expiry \(expires.iso8601) is in the past")
        }
        for limit in [request.policy.rpm, request.policy.tpm].compactMap({ $0 }) where limit <= 0 {
            throw ConfigurationError("rpm and tpm must be positive whole numbers")
        }
        let secret = VirtualKey.generateSecret()
        let key = VirtualKey(
            id: VirtualKey.generateID(), name: request.name, secretPrefix: VirtualKey.prefix(of: secret),
            secretHash: SHA256.hex(secret), owner: request.owner, policy: request.policy, createdAt: now,
            expiresAt: request.expires)
        var budget: Budget?
        if let text = request.budget {
            guard let (amount, period) = Budget.parseLimit(text) else {
                throw ConfigurationError("budget '\(text)' should look like 25/month, 5/day or 100/week")
            }
            budget = Budget(scope: .key, subject: key.id, period: period, limit: amount)
        }
        try await governance.createKey(key)
        if let budget { try await governance.setBudget(budget) }
        return (key, secret, budget)
    }

    /// A key as JSON (never with its secret hash; with the secret only when given).
    public static func json(_ key: VirtualKey, secret: String? = nil, budgets: [Budget] = []) -> OrderedJSON {
        var owner: [(String, OrderedJSON)] = []
        for dimension in [AttributionDimension.organisation, .team, .user, .project, .customer] {
            if let value = key.owner[dimension] { owner.append((dimension.rawValue, .string(value))) }
        }
        var fields: [(String, OrderedJSON)] = [("id", .string(key.id))]
        if let secret { fields.append(("secret", .string(secret))) }
        fields += [
            ("name", .optional(key.name)), ("prefix", .string(key.secretPrefix)), ("owner", .object(owner)),
            (
                "policy",
                .object([
                    ("purpose", .string(key.policy.purpose.rawValue)),
                    ("models", key.policy.models.map { .array($0.map(OrderedJSON.string)) } ?? .null),
                    ("denied_models", .array(key.policy.deniedModels.map(OrderedJSON.string))),
                    ("rpm", key.policy.rpm.map { .integer(Int64($0)) } ?? .null),
                    ("tpm", key.policy.tpm.map { .integer(Int64($0)) } ?? .null),
                    ("attribution_headers", .array(key.policy.attributionHeaders.map(OrderedJSON.string))),
                ])
            ),
            (
                "budgets",
                .array(
                    budgets.map { budget in
                        .object([
                            ("id", .string(budget.id)), ("limit_usd", .string(budget.limit.decimalString)),
                            ("period", .string(budget.period.rawValue)), ("hard", .bool(budget.hard)),
                        ])
                    })
            ),
            ("created_at", .string(key.createdAt.iso8601)),
            ("expires_at", .optional(key.expiresAt?.iso8601)),
            ("revoked_at", .optional(key.revokedAt?.iso8601)),
        ]
        return .object(fields)
    }
}
