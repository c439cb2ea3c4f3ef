import ArgumentParser
import Foundation
import LedgerCore
import LedgerGateway
import LedgerStore
import Yams

/// `tokenledger rules`: the allocation rules (virtual tags).
struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Allocation rules: give unattributed spend an owner (docs/CHARGEBACK.md).",
        subcommands: [Set.self, Show.self, Test.self, Validate.self]
    )

    /// Reads a rules file (YAML or JSON: `rules: [...]`), or names what is wrong and where.
    static func load(_ path: String) throws -> AllocationRuleSet {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CommandFailure("Cannot read the rules file '\(path)': check the path.")
        }
        let rules: AllocationRuleSet
        do {
            rules = try YAMLDecoder().decode(AllocationRuleSet.self, from: text)
        } catch let error as DecodingError {
            throw CommandFailure(
                "The rules file '\(path)' \(CatalogFileError.describe(error)). See docs/CHARGEBACK.md for its shape.")
        } catch {
            throw CommandFailure("The rules file '\(path)' is not valid YAML: \(error)")
        }
        if let problem = rules.problem() { throw CommandFailure("The rules file '\(path)': \(problem).") }
        return rules
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a rules file without saving it.")
        @Argument(help: "The rules file (YAML).") var file: String

        func run() throws {
            let rules = try RulesCommand.load(file)
            print("\(file): \(rules.rules.count) rules, valid.")
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save a rules file as the ledger's allocation rules (a new version).")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The rules file (YAML).") var file: String

        func run() async throws {
            let rules = try RulesCommand.load(file)
            let ledger = try SQLiteLedger(path: try common.databasePath())
            let version = try await ledger.saveAllocationRules(rules, at: .current)
            print(
                "Saved \(rules.rules.count) allocation rules as version \(version). Apply them to a month: tokenledger allocate --period YYYY-MM"
            )
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the saved allocation rules.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let ledger = try SQLiteLedger(path: try common.databasePath())
            guard let (version, rules) = try await ledger.allocationRules() else {
                print("No allocation rules saved. Write a rules file and save it: tokenledger rules set FILE")
                return
            }
            print("# version \(version)")
            print(try YAMLEncoder().encode(rules), terminator: "")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what rules would match in a month and how much money they would move, without saving.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "A rules file to try (default: the saved rules).") var file: String?
        @Option(help: "The month, e.g. 2026-10.") var period: String
        @Option(help: "table or json.") var format: OutputFormat = .table

        func run() async throws {
            let period = try month(period)
            let ledger = try SQLiteLedger(path: try common.databasePath())
            let rules: AllocationRuleSet
            if let file {
                rules = try RulesCommand.load(file)
            } else if let saved = try await ledger.allocationRules() {
                rules = saved.rules
            } else {
                throw CommandFailure("No rules saved: name a rules file to test (tokenledger rules test FILE).")
            }
            let summary = try await ledger.previewAllocation(period: period, rules: rules)
            print(
                format == .json ? summary.json().serialized(pretty: true) : AllocateCommand.text(summary)
            )
        }
    }
}

/// `tokenledger allocate`: apply the allocation rules to a month.
struct AllocateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allocate",
        abstract: "Apply the allocation rules to a month (again), replacing its previous allocation.",
        discussion: """
            Events are never edited: every report, statement and export joins each event to the owner its month's \
            allocation gives it. Running it twice with the same rules changes nothing. A closed month is locked.
            """
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "The month, e.g. 2026-10.") var period: String
    @Option(help: "Save this rules file first (as `tokenledger rules set` does).") var rules: String?
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() async throws {
        let period = try month(period)
        let ledger = try SQLiteLedger(path: try common.databasePath())
        if let rules {
            _ = try await ledger.saveAllocationRules(try RulesCommand.load(rules), at: .current)
        }
        guard let (version, saved) = try await ledger.allocationRules() else {
            throw CommandFailure(
                "No allocation rules saved: pass --rules FILE or run tokenledger rules set FILE first.")
        }
        let summary = try await ledger.allocate(period: period, rules: saved, version: version, at: .current)
        print(format == .json ? summary.json().serialized(pretty: true) : Self.text(summary))
    }

    static func text(_ summary: AllocationSummary) -> String {
        var output =
            "\(summary.period): \(grouped(summary.requests)) requests, \(ReportTable.dollars(summary.cost)); the rules move \(grouped(summary.movedRequests)) requests, \(ReportTable.dollars(summary.movedCost)) (\(summary.cost.picodollars == 0 ? "0.0%" : ReportTable.percent(summary.movedCost.picodollars, of: summary.cost.picodollars)))."
        if summary.eventLevel { output += "\nRules read per-event fields: results are kept per event." }
        var rules = TextTable(
            columns: ["rule", "matched requests", "matched cost", "moved requests", "moved cost"],
            rightAligned: [1, 2, 3, 4])
        for rule in summary.rules {
            rules.append([
                rule.id, grouped(rule.matchedRequests), ReportTable.dollars(rule.matchedCost),
                grouped(rule.movedRequests), ReportTable.dollars(rule.movedCost),
            ])
        }
        output += "\n\n" + rules.render()
        if !summary.moves.isEmpty {
            var moves = TextTable(columns: ["dimension", "from", "to", "requests", "cost"], rightAligned: [3, 4])
            for move in summary.moves.prefix(20) {
                moves.append([
                    move.dimension.rawValue, move.from.isEmpty ? "(unallocated)" : move.from, move.to,
                    grouped(move.requests), ReportTable.dollars(move.cost),
                ])
            }
            output += "\n\n" + moves.render()
            if summary.moves.count > 20 { output += "\n… \(summary.moves.count - 20) more (--format json lists all)" }
        }
        let left = AllocationRule.targets.compactMap { dimension -> String? in
            guard let cost = summary.unallocated[dimension], cost.picodollars > 0 else { return nil }
            return "\(dimension.rawValue) \(ReportTable.dollars(cost))"
        }
        output += "\n\nStill unallocated: " + (left.isEmpty ? "nothing" : left.joined(separator: ", "))
        return output
    }
}
