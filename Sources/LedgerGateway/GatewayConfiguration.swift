public import LedgerCore

/// The gateway's part of `tokenledger.yaml`. Secrets are never in the file: each upstream names
/// the environment variable that holds its API key.
public struct GatewayConfiguration: Sendable, Decodable {
    public var server: ServerSettings
    public var upstreams: [UpstreamConfiguration]
    /// Model aliases: a name callers send → the model it means (`fast: gpt-4o-mini`).
    public var aliases: [String: String]
    /// Keys declared in the file (for example a benchmark key); created or updated on start.
    public var keys: [KeyDeclaration]
    /// Budgets declared in the file; created or updated on start.
    public var budgets: [BudgetDeclaration]
    /// Rate limits per team: `teams: {search: {rpm: 600, tpm: 2000000}}`.
    public var limits: Limits
    /// OpenTelemetry ingest (`POST /v1/traces`).
    public var otlp: OTLPSettings
    /// Pull connectors `serve` runs on an interval (`tokenledger sync` runs them once).
    public var sync: [SyncConfiguration]
    /// Rate cards, shared-cost pools and exchange rates, for statements served by the admin API.
    public var chargeback = ChargebackConfiguration()

    /// How spans become events.
    public struct OTLPSettings: Sendable, Decodable {
        /// Span or resource attribute → attribution dimension, added to the defaults
        /// (`user.id` → user, `session.id` → session, `tenant.id` → customer, …).
        public var attributes: [String: String] = [:]
        public init() {}
    }

    /// Per-team rate limits.
    public struct Limits: Sendable, Decodable {
        public var teams: [String: RateLimits] = [:]
        public init() {}
    }

    /// Requests and tokens per minute.
    public struct RateLimits: Sendable, Decodable, Hashable {
        public var rpm: Int?
        public var tpm: Int?
        public init(rpm: Int? = nil, tpm: Int? = nil) {
            self.rpm = rpm
            self.tpm = tpm
        }
    }

    /// Creates a configuration.
    public init(
        server: ServerSettings = ServerSettings(), upstreams: [UpstreamConfiguration] = [],
        aliases: [String: String] = [:], keys: [KeyDeclaration] = [], budgets: [BudgetDeclaration] = [],
        limits: Limits = Limits()
    ) {
        self.server = server
        self.upstreams = upstreams
        self.aliases = aliases
        self.keys = keys
        self.budgets = budgets
        self.limits = limits
        self.otlp = OTLPSettings()
        self.sync = []
    }

    enum CodingKeys: String, CodingKey {
        case server, upstreams, aliases, keys, budgets, limits, otlp, sync, chargeback
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        server = try container.decodeIfPresent(ServerSettings.self, forKey: .server) ?? ServerSettings()
        upstreams = try container.decodeIfPresent([UpstreamConfiguration].self, forKey: .upstreams) ?? []
        aliases = try container.decodeIfPresent([String: String].self, forKey: .aliases) ?? [:]
        keys = try container.decodeIfPresent([KeyDeclaration].self, forKey: .keys) ?? []
        budgets = try container.decodeIfPresent([BudgetDeclaration].self, forKey: .budgets) ?? []
        limits = try container.decodeIfPresent(Limits.self, forKey: .limits) ?? Limits()
        otlp = try container.decodeIfPresent(OTLPSettings.self, forKey: .otlp) ?? OTLPSettings()
        sync = try container.decodeIfPresent([SyncConfiguration].self, forKey: .sync) ?? []
        chargeback = try container.decodeIfPresent(ChargebackConfiguration.self, forKey: .chargeback) ?? .init()
    }

    /// The upstreams used when the file names none: OpenAI and Anthropic, keys from
    /// `OPENAI_API_KEY` and `ANTHROPIC_API_KEY`.
    public static let defaultUpstreams: [UpstreamConfiguration] = [
        UpstreamConfiguration(
            name: "openai", kind: .openAI, baseURL: "https://api.openai.com", apiKeyEnv: "OPENAI_API_KEY",
            models: ["gpt-*", "o1*", "o3*", "o4*", "chatgpt-*", "text-embedding-*", "gpt-image-*"]),
        UpstreamConfiguration(
            name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com",
            apiKeyEnv: "ANTHROPIC_API_KEY", models: ["claude-*"]),
    ]
}

/// Where the server listens and how it treats requests.
public struct ServerSettings: Sendable, Decodable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The largest request body accepted, in bytes.
    public var maxBodyBytes = 8 * 1024 * 1024
    /// Seconds to wait for the upstream's response head, and between two chunks of a stream.
    public var upstreamTimeoutSeconds = 300
    /// Seconds to wait for a connection to the upstream.
    public var connectTimeoutSeconds = 10
    /// The spool directory (default: the ledger path with `.spool` appended).
    public var spoolDirectory: String?
    /// The environment variable holding the admin API key (`/api/v1/keys`, …).
    public var adminKeyEnv = "TOKENLEDGER_ADMIN_KEY"
    /// Output tokens assumed for the worst case when neither the request nor the catalog gives a
    /// limit.
    public var defaultMaxOutputTokens: Int64 = 16_384
    /// How often spooled usage is written to the ledger, in milliseconds.
    public var flushIntervalMilliseconds = 50
    /// Seconds a caller's keep-alive connection may stay idle between requests before it closes.
    public var idleTimeoutSeconds = 120
    /// Seconds a caller has to send a request's head once it began, and at most between two reads
    /// of its body (then 408).
    public var requestTimeoutSeconds = 60

    public init() {}

    enum CodingKeys: String, CodingKey {
        case host, port
        case maxBodyBytes = "max_body_bytes"
        case upstreamTimeoutSeconds = "upstream_timeout_seconds"
        case connectTimeoutSeconds = "connect_timeout_seconds"
        case spoolDirectory = "spool_directory"
        case adminKeyEnv = "admin_key_env"
        case defaultMaxOutputTokens = "default_max_output_tokens"
        case flushIntervalMilliseconds = "flush_interval_ms"
        case idleTimeoutSeconds = "idle_timeout_seconds"
        case requestTimeoutSeconds = "request_timeout_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        host = try container.decodeIfPresent(String.self, forKey: .host) ?? host
        port = try container.decodeIfPresent(Int.self, forKey: .port) ?? port
        maxBodyBytes = try container.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? maxBodyBytes
        upstreamTimeoutSeconds =
            try container.decodeIfPresent(Int.self, forKey: .upstreamTimeoutSeconds) ?? upstreamTimeoutSeconds
        connectTimeoutSeconds =
            try container.decodeIfPresent(Int.self, forKey: .connectTimeoutSeconds) ?? connectTimeoutSeconds
        spoolDirectory = try container.decodeIfPresent(String.self, forKey: .spoolDirectory)
        adminKeyEnv = try container.decodeIfPresent(String.self, forKey: .adminKeyEnv) ?? adminKeyEnv
        defaultMaxOutputTokens =
            try container.decodeIfPresent(Int64.self, forKey: .defaultMaxOutputTokens) ?? defaultMaxOutputTokens
        flushIntervalMilliseconds =
            try container.decodeIfPresent(Int.self, forKey: .flushIntervalMilliseconds) ?? flushIntervalMilliseconds
        idleTimeoutSeconds = try container.decodeIfPresent(Int.self, forKey: .idleTimeoutSeconds) ?? idleTimeoutSeconds
        requestTimeoutSeconds =
            try container.decodeIfPresent(Int.self, forKey: .requestTimeoutSeconds) ?? requestTimeoutSeconds
    }
}

/// One provider endpoint the gateway forwards to.
public struct UpstreamConfiguration: Sendable, Decodable, Hashable {
    /// The wire protocol and authentication an upstream speaks.
    public enum Kind: String, Sendable, Decodable, Hashable {
        /// api.openai.com: `Authorization: Bearer`.
        case openAI = "openai"
        /// api.anthropic.com: `x-api-key` and `anthropic-version`.
        case anthropic
        /// Azure OpenAI: `/openai/deployments/{deployment}/…?api-version=`, `api-key` header.
        case azure
        /// vLLM, Ollama, llama.cpp, LM Studio, …: OpenAI's API at another base URL.
        case openAICompatible = "openai-compatible"
    }

    public var name: String
    public var kind: Kind
    /// `https://api.openai.com` (no `/v1`; the gateway forwards the caller's path).
    public var baseURL: String
    /// The environment variable with the provider API key (never logged or returned).
    public var apiKeyEnv: String?
    /// Model patterns routed here (`gpt-*`, `claude-sonnet-4-5`, `*`).
    public var models: [String]
    /// The provider name prices are looked up under (default: openai, anthropic, azure, or the
    /// upstream's name for OpenAI-compatible servers).
    public var provider: String?
    /// Azure: the `api-version` query parameter.
    public var apiVersion: String?
    /// Azure: model → deployment name (default: the model name).
    public var deployments: [String: String]
    /// A PEM file of certificate authorities trusted for this upstream besides the system's (a
    /// self-hosted server behind an internal CA).
    public var caFile: String?
    /// The GPUs behind a self-hosted upstream. When set, each call records its share of their
    /// time (the GPUs divided evenly among the calls in flight), priced by the `gpu_hour` entry
    /// of the model's catalog price.
    public var gpus: Int?

    /// Creates an upstream.
    public init(
        name: String, kind: Kind, baseURL: String, apiKeyEnv: String? = nil, models: [String], provider: String? = nil,
        apiVersion: String? = nil, deployments: [String: String] = [:], caFile: String? = nil, gpus: Int? = nil
    ) {
        self.caFile = caFile
        self.gpus = gpus
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
        self.models = models
        self.provider = provider
        self.apiVersion = apiVersion
        self.deployments = deployments
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, models, provider, deployments, gpus
        case baseURL = "base_url"
        case apiKeyEnv = "api_key_env"
        case apiVersion = "api_version"
        case caFile = "ca_file"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decode(Kind.self, forKey: .kind)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? kind.rawValue
        baseURL = try container.decode(String.self, forKey: .baseURL)
        apiKeyEnv = try container.decodeIfPresent(String.self, forKey: .apiKeyEnv)
        models = try container.decodeIfPresent([String].self, forKey: .models) ?? ["*"]
        provider = try container.decodeIfPresent(String.self, forKey: .provider)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion)
        deployments = try container.decodeIfPresent([String: String].self, forKey: .deployments) ?? [:]
        caFile = try container.decodeIfPresent(String.self, forKey: .caFile)
        gpus = try container.decodeIfPresent(Int.self, forKey: .gpus)
    }

    /// The provider the catalog prices this upstream's models under.
    public var pricingProvider: String {
        if let provider { return provider }
        switch kind {
        case .openAI: return "openai"
        case .anthropic: return "anthropic"
        case .azure: return "azure"
        case .openAICompatible: return name
        }
    }
}

/// A key declared in the configuration file.
public struct KeyDeclaration: Sendable, Decodable {
    /// The key's public id (default: derived from the secret's hash).
    public var id: String?
    public var name: String?
    /// The secret itself (for a fixed benchmark or development key) …
    public var secret: String?
    /// … or the environment variable holding it (preferred).
    public var secretEnv: String?
    public var organisation: String?
    public var team: String?
    public var user: String?
    public var project: String?
    public var customer: String?
    public var models: [String]?
    public var deniedModels: [String]?
    public var rpm: Int?
    public var tpm: Int?
    /// `25/month`, `5/day`.
    public var budget: String?
    /// `gateway` (the default: calls models) or `ingest` (sends usage and spans).
    public var purpose: KeyPurpose?

    /// Declares a key with a fixed secret.
    public init(
        id: String? = nil, name: String? = nil, secret: String, organisation: String? = nil, team: String? = nil
    ) {
        self.id = id
        self.name = name
        self.secret = secret
        self.organisation = organisation
        self.team = team
    }

    enum CodingKeys: String, CodingKey {
        case id, name, secret, organisation, team, user, project, customer, models, rpm, tpm, budget, purpose
        case secretEnv = "secret_env"
        case deniedModels = "denied_models"
    }
}

/// A budget declared in the configuration file.
public struct BudgetDeclaration: Sendable, Decodable {
    /// `key`, `user`, `team`, `project`, `customer` or `organisation`.
    public var scope: String
    /// The owner within the scope: a team name, a user id, … (`*` gives each one its own budget).
    public var subject: String
    /// `500/month`, `20/day`.
    public var limit: String
    /// Hard (refuse before spending) or soft (alert). Default hard.
    public var hard: Bool?
    /// Soft budgets: `alert` (default), `block` or `fallback`.
    public var action: String?
    /// Soft budgets with `action: fallback`: the cheaper model to use once spent.
    public var fallbackModel: String?

    enum CodingKeys: String, CodingKey {
        case scope, subject, limit, hard, action
        case fallbackModel = "fallback_model"
    }

    /// The budget, or a message saying what is wrong.
    public func budget() -> Result<Budget, ConfigurationError> {
        guard let scope = Budget.Scope(rawValue: scope) else {
            return .failure(
                ConfigurationError(
                    "budget scope '\(self.scope)' is not one of \(Budget.Scope.allCases.map(\.rawValue).joined(separator: ", "))"
                ))
        }
        guard let (amount, period) = Budget.parseLimit(limit) else {
            return .failure(
                ConfigurationError(
                    "budget limit '\(limit)' for \(scope.rawValue) '\(subject)': write it as 500/month, 20/day or 100/week"
                ))
        }
        let soft: Budget.SoftAction
        switch action ?? "alert" {
        case "alert": soft = .alert
        case "block": soft = .block
        case "fallback":
            guard let fallbackModel else {
                return .failure(
                    ConfigurationError("budget \(scope.rawValue) '\(subject)': action fallback needs fallback_model"))
            }
            soft = .fallback(model: fallbackModel)
        default:
            return .failure(ConfigurationError("budget action '\(action ?? "")' is not one of alert, block, fallback"))
        }
        return .success(
            Budget(scope: scope, subject: subject, period: period, limit: amount, hard: hard ?? true, softAction: soft))
    }
}

/// A configuration mistake, said so that it can be fixed.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
