public import LedgerCore

/// Generates a realistic, reproducible stretch of an organisation's AI usage: ten teams, two
/// hundred people, a dozen applications, twenty-five customers, several providers; weekday and
/// working-hour rhythms, prompt caching, reasoning models, failures and retries; and two planted
/// incidents — a runaway agent and a model switch that multiplies a team's spend.
///
/// The same configuration always yields the same events (ids included), so running the demo
/// twice records nothing new.
public struct DemoGenerator: Sendable {
    /// What to generate.
    public struct Configuration: Sendable {
        /// Roughly how many events (the incidents add a few more).
        public var events: Int = 250_000
        /// How many days, ending at `end`.
        public var days: Int = 90
        /// The end of the period, exclusive.
        public var end: Timestamp
        /// The random seed.
        public var seed: UInt64 = 42
        /// How many users.
        public var users: Int = 200

        /// Creates a configuration ending at `end`.
        public init(end: Timestamp) {
            self.end = end
        }
    }

    /// What was generated.
    public struct Summary: Sendable {
        public var events: Int
        public var first: Timestamp?
        public var last: Timestamp?
        /// When the runaway agent ran, and when the model switch happened.
        public var runawayAgentDay: Timestamp
        public var modelSwitchDay: Timestamp
    }

    /// The configuration.
    public var configuration: Configuration

    /// Creates a generator.
    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The first day of the period.
    public var start: Timestamp {
        configuration.end.adding(seconds: -Int64(configuration.days) * 86_400)
    }

    /// Generates every event, handing them over in batches of `batchSize`.
    public func generate(batchSize: Int = 5_000, _ consume: ([UsageEvent]) async throws -> Void) async throws -> Summary
    {
        var random = SeededRandom(seed: configuration.seed)
        let users = DemoOrganisation.users(count: max(1, configuration.users))
        let days = max(1, configuration.days)
        let firstDay = start.startOfDay
        let runawayDay = firstDay.adding(seconds: Int64(max(0, days - 20)) * 86_400)
        let switchDay = firstDay.adding(seconds: Int64(max(0, days - 35)) * 86_400)
        // Day weights: weekdays busier than weekends, and adoption growing over the period.
        var weights: [Int64] = []
        for index in 0...days {
            let day = firstDay.adding(seconds: Int64(index) * 86_400)
            let weekend = day.weekday == 0 || day.weekday == 6
            weights.append((weekend ? 28 : 100) * (100 + Int64(40 * index / days)))
        }
        let totalWeight = weights.reduce(0, +)
        let customerWeights = DemoOrganisation.customers.indices.map { 30 - $0 }
        var batch: [UsageEvent] = []
        batch.reserveCapacity(batchSize)
        var counter = 0
        var first: Timestamp?
        var last: Timestamp?

        func emit(_ event: UsageEvent) async throws {
            guard event.timestamp >= start, event.timestamp < configuration.end else { return }
            if first == nil || event.timestamp < first! { first = event.timestamp }
            if last == nil || event.timestamp > last! { last = event.timestamp }
            batch.append(event)
            if batch.count >= batchSize {
                try await consume(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }

        for index in 0...days {
            let day = firstDay.adding(seconds: Int64(index) * 86_400)
            if day >= configuration.end { break }
            let budget = Int64(configuration.events) * weights[index] / totalWeight
            var emitted: Int64 = 0
            while emitted < budget {
                let user = users[Int(random.int(0...Int64(users.count - 1)))]
                let team = DemoOrganisation.teams[user.team]
                var workload = team.workloads[random.weighted(team.workloads.map(\.weight))]
                if workload.feature == "email-draft", day >= switchDay {
                    // The planted model switch: the sales team moves drafting to a frontier model.
                    workload.provider = "anthropic"
                    workload.model = "claude-sonnet-4-5"
                    workload.completion = workload.completion * 3 / 2
                }
                let customer =
                    workload.customerFacing
                    ? DemoOrganisation.customers[random.weighted(customerWeights)] : nil
                let environment =
                    !workload.customerFacing && random.chance(basisPoints: 1_000) ? "staging" : "production"
                counter += 1
                let session = "s-\(configuration.seed)-\(counter)"
                var second = Self.workingSecond(&random)
                let turns = random.int(workload.turns)
                for turn in 0..<turns {
                    second += random.int(4...90)
                    counter += 1
                    var event = makeEvent(
                        id: "demo-\(configuration.seed)-\(counter)", at: day.adding(seconds: min(second, 86_399)),
                        workload: workload, turn: turn, random: &random)
                    event.attribution = Attribution(
                        organisation: DemoOrganisation.organisation, team: team.name, user: user.name,
                        project: team.project,
                        application: workload.application, feature: workload.feature, customer: customer,
                        costCentre: team.costCentre, session: session, environment: environment)
                    if let customer { event.tags = ["plan": customer.count % 3 == 0 ? "enterprise" : "pro"] }
                    try await emit(event)
                    emitted += 1
                    if event.outcome == .retried {
                        counter += 1
                        var retry = event
                        retry.id = "demo-\(configuration.seed)-\(counter)"
                        retry.timestamp = event.timestamp.adding(seconds: 2)
                        retry.outcome = .ok
                        retry.tokens.output = random.around(workload.completion, low: 1, high: workload.completion * 6)
                        try await emit(retry)
                        emitted += 1
                    }
                }
            }
            if day == runawayDay {
                // The planted incident: an agent stuck in a tool loop for six hours at night.
                let loops = max(300, configuration.events / 60)
                var prompt: Int64 = 20_000
                for loop in 0..<loops {
                    counter += 1
                    var tokens = TokenCounts()
                    prompt = min(prompt + 40, 120_000)
                    tokens.cacheRead = prompt * 8 / 10
                    tokens.input = prompt - tokens.cacheRead
                    tokens.output = random.around(350, low: 50, high: 2_000)
                    tokens.reasoning = random.around(1_200, low: 100, high: 8_000)
                    let event = UsageEvent(
                        id: "demo-\(configuration.seed)-\(counter)",
                        timestamp: day.adding(seconds: 3_600 + Int64(loop) * 21_600 / Int64(loops)), source: "demo",
                        provider: "openai", model: "gpt-5", tokens: tokens, outcome: .ok,
                        latencyMilliseconds: random.around(9_000, low: 1_000, high: 60_000),
                        attribution: Attribution(
                            organisation: DemoOrganisation.organisation, team: "data-science",
                            user: "svc-analytics-agent",
                            project: "analytics-agent", application: "analytics-agent", feature: "sql-agent",
                            costCentre: "CC-330",
                            session: "runaway-\(configuration.seed)", environment: "production"),
                        tags: ["incident": "runaway-agent"])
                    try await emit(event)
                }
            }
        }
        if !batch.isEmpty { try await consume(batch) }
        return Summary(
            events: counter, first: first, last: last, runawayAgentDay: runawayDay, modelSwitchDay: switchDay)
    }

    /// A second of the day, mostly in working hours (07:00–19:00 UTC).
    static func workingSecond(_ random: inout SeededRandom) -> Int64 {
        let hourWeights = [1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 19, 18, 15, 17, 19, 18, 16, 12, 8, 5, 3, 2, 2, 1]
        let hour = Int64(random.weighted(hourWeights))
        return hour * 3_600 + random.int(0...3_500)
    }

    private func makeEvent(
        id: String, at timestamp: Timestamp, workload: DemoOrganisation.Workload, turn: Int64,
        random: inout SeededRandom
    )
        -> UsageEvent
    {
        var tokens = TokenCounts()
        let prompt = random.around(workload.prompt * (10 + 3 * min(turn, 10)) / 10, low: 20, high: 400_000)
        if workload.embedding {
            tokens.embedding = prompt
        } else if workload.model == "gpt-realtime" {
            tokens.input = 120
            tokens.audioInput = prompt
            tokens.audioOutput = random.around(workload.completion, low: 10, high: 4_000)
        } else {
            let cachedPercent = turn == 0 ? workload.cachedPercent / 2 : min(90, workload.cachedPercent + 10)
            let cached = prompt * cachedPercent / 100
            if workload.provider == "anthropic" || workload.provider == "bedrock", turn == 0 {
                tokens.cacheWrite = cached
            } else {
                tokens.cacheRead = cached
            }
            tokens.input = prompt - cached
            tokens.output = random.around(workload.completion, low: 1, high: workload.completion * 8)
            if workload.reasoning > 0 {
                tokens.reasoning = random.around(workload.reasoning, low: 0, high: workload.reasoning * 10)
            }
        }
        var outcome = Outcome.ok
        let roll = random.int(0...9_999)
        if roll < 200 {
            outcome = .error
            tokens.output = 0
            tokens.reasoning = 0
            tokens.audioOutput = 0
        } else if roll < 350 {
            outcome = .retried
            tokens.output /= 3
        } else if roll < 390 {
            outcome = .cancelled
            tokens.output /= 4
        }
        let latency = 250 + (tokens.output + tokens.reasoning) * 12 + random.int(0...400)
        return UsageEvent(
            id: id, timestamp: timestamp, source: "demo", provider: workload.provider, model: workload.model,
            serviceTier: workload.batch ? .batch : .standard, tokens: tokens, outcome: outcome,
            latencyMilliseconds: outcome == .error ? random.int(80...900) : latency)
    }
}
