import LedgerCore

/// The fictional organisation the demo data describes: teams, people, applications, customers
/// and the models each workload uses.
struct DemoOrganisation {
    struct Workload {
        var application: String
        var feature: String
        var provider: String
        var model: String
        /// Typical prompt and completion sizes.
        var prompt: Int64
        var completion: Int64
        /// Share of the prompt served from cache, in percent.
        var cachedPercent: Int64
        /// Reasoning tokens per call (reasoning models).
        var reasoning: Int64 = 0
        var embedding = false
        var batch = false
        var customerFacing = false
        /// Calls in one conversation.
        var turns: ClosedRange<Int64> = 1...6
        var weight: Int
    }

    struct Team {
        var name: String
        var costCentre: String
        var project: String
        var workloads: [Workload]
        var weight: Int
    }

    static let organisation = "acme-corp"

    static let teams: [Team] = [
        Team(
            name: "support", costCentre: "CC-410", project: "help-center",
            workloads: [
                Workload(
                    application: "help-center", feature: "answer-bot", provider: "openai", model: "gpt-4.1-mini",
                    prompt: 3_200, completion: 350, cachedPercent: 55, customerFacing: true, turns: 2...8, weight: 60),
                Workload(
                    application: "help-center", feature: "ticket-summary", provider: "anthropic",
                    model: "claude-haiku-4-5-20251001", prompt: 2_400, completion: 220, cachedPercent: 20,
                    customerFacing: true, weight: 25),
                Workload(
                    application: "help-center", feature: "kb-embeddings", provider: "openai",
                    model: "text-embedding-3-small", prompt: 900, completion: 0, cachedPercent: 0, embedding: true,
                    customerFacing: true, turns: 1...3, weight: 15),
            ], weight: 22),
        Team(
            name: "search", costCentre: "CC-220", project: "semantic-search",
            workloads: [
                Workload(
                    application: "search", feature: "query-rewrite", provider: "google", model: "gemini-2.5-flash",
                    prompt: 700, completion: 90, cachedPercent: 10, customerFacing: true, turns: 1...4, weight: 45),
                Workload(
                    application: "search", feature: "rerank", provider: "openai", model: "gpt-4o-mini", prompt: 2_800,
                    completion: 60, cachedPercent: 30, customerFacing: true, turns: 1...3, weight: 35),
                Workload(
                    application: "search", feature: "embeddings", provider: "openai", model: "text-embedding-3-large",
                    prompt: 600, completion: 0, cachedPercent: 0, embedding: true, customerFacing: true, turns: 1...2,
                    weight: 20),
            ], weight: 16),
        Team(
            name: "sales", costCentre: "CC-510", project: "sales-copilot",
            workloads: [
                Workload(
                    application: "sales-copilot", feature: "email-draft", provider: "openai", model: "gpt-4.1-mini",
                    prompt: 1_800, completion: 450, cachedPercent: 25, turns: 1...4, weight: 55),
                Workload(
                    application: "sales-copilot", feature: "call-notes", provider: "anthropic",
                    model: "claude-sonnet-4-5-20250929", prompt: 9_000, completion: 700, cachedPercent: 15,
                    turns: 1...2, weight: 45),
            ], weight: 9),
        Team(
            name: "data-science", costCentre: "CC-330", project: "analytics-agent",
            workloads: [
                Workload(
                    application: "analytics-agent", feature: "sql-agent", provider: "openai", model: "gpt-5",
                    prompt: 14_000, completion: 600, cachedPercent: 70, reasoning: 1_800, turns: 3...12, weight: 50),
                Workload(
                    application: "analytics-agent", feature: "chart-explain", provider: "openai", model: "o4-mini",
                    prompt: 3_000, completion: 400, cachedPercent: 30, reasoning: 900, turns: 1...3, weight: 30),
                Workload(
                    application: "eval-harness", feature: "nightly-evals", provider: "openai", model: "gpt-5-mini",
                    prompt: 2_500, completion: 300, cachedPercent: 0, reasoning: 400, batch: true, turns: 1...1,
                    weight: 20),
            ], weight: 12),
        Team(
            name: "platform", costCentre: "CC-120", project: "dev-productivity",
            workloads: [
                Workload(
                    application: "code-assistant", feature: "code-review", provider: "anthropic",
                    model: "claude-sonnet-4-5", prompt: 22_000, completion: 900, cachedPercent: 60, reasoning: 600,
                    turns: 2...10, weight: 55),
                Workload(
                    application: "code-assistant", feature: "completion", provider: "mistral",
                    model: "codestral-latest", prompt: 1_500, completion: 120, cachedPercent: 0, turns: 4...16,
                    weight: 45),
            ], weight: 14),
        Team(
            name: "legal", costCentre: "CC-610", project: "contract-intel",
            workloads: [
                Workload(
                    application: "doc-intel", feature: "contract-review", provider: "bedrock",
                    model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", prompt: 48_000, completion: 1_500,
                    cachedPercent: 40, turns: 1...5, weight: 70),
                Workload(
                    application: "doc-intel", feature: "clause-extract", provider: "azure", model: "gpt-4.1",
                    prompt: 12_000, completion: 800, cachedPercent: 10, turns: 1...3, weight: 30),
            ], weight: 5),
        Team(
            name: "marketing", costCentre: "CC-710", project: "content-studio",
            workloads: [
                Workload(
                    application: "marketing-studio", feature: "copywriting", provider: "anthropic",
                    model: "claude-haiku-4-5", prompt: 1_200, completion: 650, cachedPercent: 0, turns: 1...6,
                    weight: 70),
                Workload(
                    application: "marketing-studio", feature: "translation", provider: "deepseek",
                    model: "deepseek-chat", prompt: 1_600, completion: 1_500, cachedPercent: 20, turns: 1...3,
                    weight: 30),
            ], weight: 6),
        Team(
            name: "finance", costCentre: "CC-810", project: "close-automation",
            workloads: [
                Workload(
                    application: "finance-close", feature: "reconciliation", provider: "openai", model: "gpt-4.1",
                    prompt: 6_500, completion: 500, cachedPercent: 35, turns: 1...4, weight: 100)
            ], weight: 3),
        Team(
            name: "mobile", costCentre: "CC-250", project: "mobile-assistant",
            workloads: [
                Workload(
                    application: "mobile-app", feature: "chat", provider: "openai", model: "gpt-4o-mini", prompt: 1_400,
                    completion: 280, cachedPercent: 45, customerFacing: true, turns: 2...10, weight: 75),
                Workload(
                    application: "mobile-app", feature: "voice", provider: "openai", model: "gpt-realtime", prompt: 600,
                    completion: 200, cachedPercent: 0, customerFacing: true, turns: 1...4, weight: 10),
                Workload(
                    application: "mobile-app", feature: "smart-reply", provider: "openai",
                    model: "ft:gpt-4.1-mini-2025-04-14:acme:smart-reply-v3", prompt: 500, completion: 40,
                    cachedPercent: 0, customerFacing: true, turns: 1...3, weight: 15),
            ], weight: 9),
        Team(
            name: "research", costCentre: "CC-340", project: "model-evals",
            workloads: [
                Workload(
                    application: "research-lab", feature: "long-context-eval", provider: "google",
                    model: "gemini-2.5-pro", prompt: 90_000, completion: 1_200, cachedPercent: 50, reasoning: 2_000,
                    batch: true, turns: 1...2, weight: 40),
                Workload(
                    application: "research-lab", feature: "red-team", provider: "anthropic", model: "claude-opus-4-5",
                    prompt: 8_000, completion: 1_200, cachedPercent: 25, reasoning: 1_500, turns: 1...6, weight: 35),
                Workload(
                    application: "research-lab", feature: "open-weights", provider: "groq",
                    model: "llama-3.3-70b-versatile", prompt: 3_000, completion: 600, cachedPercent: 0, turns: 1...6,
                    weight: 25),
            ], weight: 4),
    ]

    static let customers = [
        "northwind", "contoso", "globex", "initech", "umbrella", "hooli", "stark-industries", "wayne-enterprises",
        "tyrell",
        "cyberdyne", "soylent", "massive-dynamic", "vandelay", "wonka", "gringotts", "oceanic", "acme-retail",
        "aperture",
        "blue-sun", "duff", "monarch", "nakatomi", "pied-piper", "sterling-cooper", "zorg",
    ]

    static let firstNames = [
        "alice", "bruno", "chen", "dara", "emeka", "fatima", "goran", "hana", "ines", "jamal", "kiri", "lena", "mateo",
        "nadia",
        "omar", "priya", "quinn", "rosa", "sven", "tariq",
    ]
    static let lastNames = [
        "nguyen", "okafor", "silva", "kowalski", "haddad", "tanaka", "novak", "mensah", "garcia", "larsen",
    ]

    /// `first.last` names, 200 by default, each in one team.
    static func users(count: Int) -> [(name: String, team: Int)] {
        var result: [(String, Int)] = []
        var random = SeededRandom(seed: 7)
        let weights = teams.map(\.weight)
        for index in 0..<count {
            let first = firstNames[index % firstNames.count]
            let last = lastNames[(index / firstNames.count) % lastNames.count]
            let suffix = index >= firstNames.count * lastNames.count ? String(index) : ""
            result.append(("\(first).\(last)\(suffix)", random.weighted(weights)))
        }
        return result
    }
}
