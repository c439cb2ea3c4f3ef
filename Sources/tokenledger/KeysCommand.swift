import ArgumentParser
import Foundation
import LedgerCore
import LedgerGateway
import LedgerStore

/// `tokenledger keys create|list|show|revoke`.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list, show and revoke virtual keys for the gateway.",
        subcommands: [Create.self, List.self, Show.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key. Its secret is printed once and stored only as a hash.")

        @OptionGroup var common: CommonOptions
        @Option(help: "A name for the key.") var name: String?
        @Option(help: "The organisation that owns the key.") var organisation: String?
        @Option(help: "The team that owns the key.") var team: String?
        @Option(help: "The user the key belongs to.") var user: String?
        @Option(help: "The project the key belongs to.") var project: String?
        @Option(help: "The customer whose spend the key records.") var customer: String?
        @Option(help: "Hard budget for the key, e.g. 25/month, 5/day, 100/week.") var budget: String?
        @Option(help: "Requests per minute.") var rpm: Int?
        @Option(help: "Tokens per minute.") var tpm: Int?
        @Option(help: "Models the key may use, comma-separated (patterns like claude-* allowed).") var models: String?
        @Option(help: "Models the key may never use, comma-separated.") var denyModels: String?
        @Option(help: "Expiry date, e.g. 2026-12-31.") var expires: String?
        @Flag(
            help:
                "An ingest key: it sends usage to POST /api/v1/events and /v1/traces (its owner fills and fixes their attribution) and cannot call models."
        ) var ingest = false
        @Option(help: "Output: table or json.") var format: OutputFormat = .table

        func run() async throws {
            let ledger = try SQLiteLedger(path: try common.databasePath())
            let governance = SQLiteGovernance(ledger: ledger)
            let list = { (text: String?) in
                text.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            }
            let request = KeyRequest(
                name: name,
                owner: Attribution(
                    organisation: organisation, team: team, user: user, project: project, customer: customer),
                policy: KeyPolicy(
                    models: list(models), deniedModels: list(denyModels) ?? [], rpm: rpm, tpm: tpm,
                    purpose: ingest ? .ingest : .gateway),
                budget: budget, expires: try expires.map { try Timestamp.argument($0, option: "--expires") })
            let issued: (key: VirtualKey, secret: String, budget: Budget?)
            do {
                issued = try await KeyIssuer.issue(request, governance: governance, now: .current)
            } catch let error as ConfigurationError {
                throw ValidationError(error.description.prefix(1).uppercased() + error.description.dropFirst() + ".")
            }
            if format == .json {
                print(
                    KeyIssuer.json(issued.key, secret: issued.secret, budgets: issued.budget.map { [$0] } ?? [])
                        .serialized(pretty: true))
            } else {
                print("Created \(issued.key.id). Its secret, shown only now:\n\n  \(issued.secret)\n")
                print(KeysCommand.describe(issued.key, budgets: issued.budget.map { [$0] } ?? []))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var common: CommonOptions
        @Option(help: "Output: table or json.") var format: OutputFormat = .table

        func run() async throws {
            let governance = SQLiteGovernance(ledger: try SQLiteLedger(path: try common.databasePath()))
            let keys = try await governance.keys()
            let budgets = try await governance.budgets()
            if format == .json {
                let items = keys.map { key in
                    KeyIssuer.json(key, budgets: budgets.filter { $0.scope == .key && $0.subject == key.id })
                }
                print(OrderedJSON.object([("keys", .array(items))]).serialized(pretty: true))
                return
            }
            guard !keys.isEmpty else {
                print("No keys yet. Create one with: tokenledger keys create --team TEAM [--budget 25/month]")
                return
            }
            let rows = keys.map { key -> [String] in
                let budget = budgets.first { $0.scope == .key && $0.subject == key.id }
                let state =
                    key.unusableReason(at: .current) == nil ? "active" : (key.revokedAt != nil ? "revoked" : "expired")
                return [
                    key.id, key.name ?? "", key.secretPrefix, key.owner.team ?? "", key.owner.user ?? "",
                    budget.map { "\($0.limit.rounded(fractionDigits: 2))/\($0.period.rawValue)" } ?? "", state,
                ]
            }
            var table = TextTable(columns: ["id", "name", "prefix", "team", "user", "budget", "state"])
            table.rows = rows
            print(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one key and its budget status.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The key id (key_…).") var id: String
        @Option(help: "Output: table or json.") var format: OutputFormat = .table

        func run() async throws {
            let governance = SQLiteGovernance(ledger: try SQLiteLedger(path: try common.databasePath()))
            guard let key = try await governance.key(id: id) else {
                throw ValidationError("No key with id '\(id)'. List them with `tokenledger keys list`.")
            }
            let budgets = try await governance.budgets().filter { $0.scope == .key && $0.subject == id }
            if format == .json {
                print(KeyIssuer.json(key, budgets: budgets).serialized(pretty: true))
                return
            }
            print(KeysCommand.describe(key, budgets: budgets))
            for status in try await governance.status(of: budgets, now: .current) {
                print(
                    "  spent this \(status.budget.period.rawValue): \(status.spent.rounded(fractionDigits: 4)) of \(status.budget.limit.rounded(fractionDigits: 2)) USD (\(status.percentUsed) %), resets \(status.resetsAt.iso8601)"
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key. A running gateway refuses it within 5 seconds (at once through the admin API).")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The key id (key_…).") var id: String

        func run() async throws {
            let governance = SQLiteGovernance(ledger: try SQLiteLedger(path: try common.databasePath()))
            guard let key = try await governance.revokeKey(id: id, at: .current) else {
                throw ValidationError("No key with id '\(id)'. List them with `tokenledger keys list`.")
            }
            print("Revoked \(key.id) at \(key.revokedAt?.iso8601 ?? "-").")
        }
    }

    static func describe(_ key: VirtualKey, budgets: [Budget]) -> String {
        var owner: [String] = []
        for dimension in [AttributionDimension.organisation, .team, .user, .project, .customer] {
            if let value = key.owner[dimension] { owner.append("\(dimension.rawValue) \(value)") }
        }
        var lines = [
            "\(key.id)\(key.name.map { " (\($0))" } ?? "")  \(key.secretPrefix)",
            "  owner: \(owner.joined(separator: ", "))",
            "  models: \(key.policy.models?.joined(separator: ", ") ?? "every routed model")"
                + (key.policy.deniedModels.isEmpty ? "" : "; never \(key.policy.deniedModels.joined(separator: ", "))"),
        ]
        if key.policy.rpm != nil || key.policy.tpm != nil {
            lines.append(
                "  limits: \(key.policy.rpm.map { "\($0) rpm" } ?? "") \(key.policy.tpm.map { "\($0) tpm" } ?? "")")
        }
        for budget in budgets {
            lines.append(
                "  budget: \(budget.limit.rounded(fractionDigits: 2)) USD per \(budget.period.rawValue) (hard)")
        }
        lines.append("  created \(key.createdAt.iso8601)" + (key.expiresAt.map { ", expires \($0.iso8601)" } ?? ""))
        if let revoked = key.revokedAt { lines.append("  revoked \(revoked.iso8601)") }
        return lines.joined(separator: "\n")
    }
}
