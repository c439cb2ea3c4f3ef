import LedgerCore
import Testing

struct GovernanceTests {
    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func budgetPeriodsStartAndResetInUTC() {
        let wednesday = Timestamp(year: 2026, month: 11, day: 25, hour: 13)
        #expect(BudgetPeriod.day.start(containing: wednesday) == Timestamp(year: 2026, month: 11, day: 25))
        #expect(BudgetPeriod.week.start(containing: wednesday) == Timestamp(year: 2026, month: 11, day: 23))
        #expect(BudgetPeriod.week.end(containing: wednesday) == Timestamp(year: 2026, month: 11, day: 30))
        #expect(BudgetPeriod.month.end(containing: wednesday) == Timestamp(year: 2026, month: 12, day: 1))
        let sunday = Timestamp(year: 2026, month: 11, day: 29, hour: 23)
        #expect(BudgetPeriod.week.start(containing: sunday) == Timestamp(year: 2026, month: 11, day: 23))
    }

    @Test func limitsParseAndThresholdsAreCrossedOnce() throws {
        let (amount, period) = try #require(Budget.parseLimit("$25/month"))
        #expect(amount == Cost(decimal: "25")! && period == .month)
        #expect(
            Budget.parseLimit("25") == nil && Budget.parseLimit("-1/day") == nil && Budget.parseLimit("5/year") == nil)
        let budget = Budget(scope: .team, subject: "search", period: .month, limit: amount, hard: false)
        #expect(budget.thresholdsCrossed(from: Cost(decimal: "10")!, to: Cost(decimal: "21")!) == [50, 80])
        #expect(budget.thresholdsCrossed(from: Cost(decimal: "21")!, to: Cost(decimal: "30")!) == [100])
        #expect(budget.thresholdsCrossed(from: Cost(decimal: "30")!, to: Cost(decimal: "31")!) == [])
    }

    @Test func modelPatternsIgnoreCaseAndMatchPrefixes() {
        #expect(ModelPattern.matches("*", "anything"))
        #expect(ModelPattern.matches("gpt-4o", "GPT-4o"))
        #expect(!ModelPattern.matches("gpt-4o", "gpt-4o-mini"))
        #expect(!ModelPattern.matches("gpt-4o-mini", "gpt-4o"))
        #expect(ModelPattern.matches("GPT-*", "gpt-4o-mini"))
        #expect(ModelPattern.matches("gpt-4o*", "gpt-4o"))
        #expect(!ModelPattern.matches("gpt-4o*", "gpt-4"))
        #expect(!ModelPattern.matches("claude-*", "gpt-4o"))
        #expect(!ModelPattern.matches("gpt-[", "gpt-{"))  // '[' and '{' differ by the case bit only
        // Beyond ASCII, Unicode's lowercasing.
        #expect(ModelPattern.matches("MODÈLE-*", "modèle-7b"))
        #expect(ModelPattern.matches("Ünïcode", "üNÏCODE"))
        #expect(!ModelPattern.matches("modèle", "modele"))
    }

    @Test func keyPolicyMatchesPatternsAndDenies() {
        let policy = KeyPolicy(models: ["gpt-4o-mini", "claude-*"], deniedModels: ["claude-opus-*"])
        #expect(policy.allows(model: "gpt-4o-mini") && policy.allows(model: "claude-sonnet-4-5"))
        #expect(!policy.allows(model: "gpt-4o") && !policy.allows(model: "claude-opus-4-1"))
        #expect(VirtualKey.generateSecret().count == 43 && VirtualKey.generateSecret() != VirtualKey.generateSecret())
    }
}
