/// A TokenLedger API key handed to an application instead of a provider key. Its secret is
/// shown once, when created, and only its SHA-256 hash is stored.
public struct VirtualKey: Sendable, Hashable {
    /// The public id (`key_…`), used to show, revoke and budget the key.
    public var id: String
    /// A human name.
    public var name: String?
    /// The first characters of the secret, to recognise it (`tl-3f9a2c…`).
    public var secretPrefix: String
    /// The hex SHA-256 of the secret.
    public var secretHash: String
    /// Who the key's spend belongs to. Only organisation, team, user, project and customer are used.
    public var owner: Attribution
    /// What the key may do.
    public var policy: KeyPolicy
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var revokedAt: Timestamp?

    /// Creates a key record.
    public init(
        id: String, name: String? = nil, secretPrefix: String, secretHash: String, owner: Attribution,
        policy: KeyPolicy = KeyPolicy(), createdAt: Timestamp, expiresAt: Timestamp? = nil, revokedAt: Timestamp? = nil
    ) {
        self.id = id
        self.name = name
        self.secretPrefix = secretPrefix
        self.secretHash = secretHash
        self.owner = owner
        self.policy = policy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// Why the key cannot be used at `time`, or `nil` when it can.
    public func unusableReason(at time: Timestamp) -> String? {
        if let revokedAt, revokedAt <= time { return "the key \(id) was revoked at \(revokedAt.iso8601)" }
        if let expiresAt, expiresAt <= time { return "the key \(id) expired at \(expiresAt.iso8601)" }
        return nil
    }

    /// A new random secret: `tl-` and 40 characters from [a-z0-9] (about 206 bits).
    public static func generateSecret() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return "tl-" + String((0..<40).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// A new random key id: `key_` and 12 hex digits.
    public static func generateID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = UInt64.random(in: 0..<(1 << 48), using: &generator)
        let hex = String(value, radix: 16)
        return "key_" + String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// How a secret is shown after creation: its first 11 characters and an ellipsis.
    public static func prefix(of secret: String) -> String { String(secret.prefix(11)) + "…" }
}

/// What a virtual key may do.
public struct KeyPolicy: Sendable, Hashable, Codable {
    /// Model patterns the key may use (`gpt-4o-mini`, `claude-*`); `nil` allows every routed model.
    public var models: [String]?
    /// Model patterns the key may never use, even when `models` allows them.
    public var deniedModels: [String]
    /// Requests per minute.
    public var rpm: Int?
    /// Tokens (input + output) per minute.
    public var tpm: Int?
    /// Attribution dimensions the caller may set per request with `X-TokenLedger-*` headers or the
    /// body's `user` / `metadata.user_id`. A dimension the key fixes (its team, say) can never be
    /// set to another value.
    public var attributionHeaders: [String]
    /// What the key is for: calling models through the gateway, or sending usage to the ingest
    /// endpoints (`POST /api/v1/events`, `POST /v1/traces`). A key does one or the other.
    public var purpose: KeyPurpose

    /// The dimensions callers may set unless a policy says otherwise.
    public static let defaultAttributionHeaders = ["user", "feature", "customer", "session", "tags"]

    /// Creates a policy.
    public init(
        models: [String]? = nil, deniedModels: [String] = [], rpm: Int? = nil, tpm: Int? = nil,
        attributionHeaders: [String] = KeyPolicy.defaultAttributionHeaders, purpose: KeyPurpose = .gateway
    ) {
        self.purpose = purpose
        self.models = models
        self.deniedModels = deniedModels
        self.rpm = rpm
        self.tpm = tpm
        self.attributionHeaders = attributionHeaders
    }

    enum CodingKeys: String, CodingKey {
        case models
        case deniedModels = "denied_models"
        case rpm, tpm
        case attributionHeaders = "attribution_headers"
        case purpose
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        models = try container.decodeIfPresent([String].self, forKey: .models)
        deniedModels = try container.decodeIfPresent([String].self, forKey: .deniedModels) ?? []
        rpm = try container.decodeIfPresent(Int.self, forKey: .rpm)
        tpm = try container.decodeIfPresent(Int.self, forKey: .tpm)
        attributionHeaders =
            try container.decodeIfPresent([String].self, forKey: .attributionHeaders)
            ?? KeyPolicy.defaultAttributionHeaders
        purpose = try container.decodeIfPresent(KeyPurpose.self, forKey: .purpose) ?? .gateway
    }

    /// Whether the key may use `model`.
    public func allows(model: String) -> Bool {
        if deniedModels.contains(where: { ModelPattern.matches($0, model) }) { return false }
        guard let models else { return true }
        return models.contains { ModelPattern.matches($0, model) }
    }
}

/// What a virtual key may be used for.
public enum KeyPurpose: String, Sendable, Hashable, Codable, CaseIterable {
    /// Calls models through the gateway's OpenAI- and Anthropic-compatible routes.
    case gateway
    /// Sends usage events and OpenTelemetry spans; cannot call models.
    case ingest
}

/// Model name patterns: an exact name, `prefix*`, or `*`.
public enum ModelPattern {
    /// Whether `name` matches `pattern` (case-insensitive).
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        if pattern == "*" { return true }
        let wildcard = pattern.utf8.last == UInt8(ascii: "*")
        // ASCII names (all of the providers' models) are compared byte by byte, in place.
        let ascii = pattern.utf8.withContiguousStorageIfAvailable { pattern in
            name.utf8.withContiguousStorageIfAvailable { name in
                asciiMatch(
                    wildcard ? UnsafeBufferPointer(rebasing: pattern.dropLast()) : pattern, name, wildcard: wildcard)
            }
        }
        if let ascii, let ascii, let matched = ascii { return matched }
        if wildcard { return name.lowercased().hasPrefix(pattern.dropLast().lowercased()) }
        return pattern.lowercased() == name.lowercased()
    }

    /// Whether `name` is `pattern` (or starts with it, for a wildcard) ignoring ASCII case; nil when
    /// either is not ASCII.
    private static func asciiMatch(
        _ pattern: UnsafeBufferPointer<UInt8>, _ name: UnsafeBufferPointer<UInt8>, wildcard: Bool
    )
        -> Bool?
    {
        guard wildcard ? name.count >= pattern.count : name.count == pattern.count else {
            return pattern.allSatisfy { $0 < 0x80 } && name.allSatisfy { $0 < 0x80 } ? false : nil
        }
        var matched = true
        for index in pattern.indices {
            let (a, b) = (pattern[index], name[index])
            guard a < 0x80, b < 0x80 else { return nil }
            if asciiLowercase(a) != asciiLowercase(b) { matched = false }
        }
        return matched
    }

    private static func asciiLowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}
