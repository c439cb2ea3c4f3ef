import ArgumentParser
import Foundation
import LedgerCore
import LedgerGateway
import LedgerStore
import Logging

/// `tokenledger sync`: pull a provider's admin usage and cost reports into the ledger.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Pull OpenAI or Anthropic admin usage and cost reports (usage as events, costs as billing lines).",
        discussion: """
            Complete days only; a checkpoint per report remembers how far the last run got, so a run after \
            an interruption resumes there (re-reading is harmless: everything is idempotent by id). 429 and 5xx \
            answers are retried with backoff. `serve` runs the same connectors on an interval (`sync:` in \
            tokenledger.yaml).
            """
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "openai or anthropic.") var provider: String
    @Option(help: "The first day to pull (default: 30 days back, or each report's checkpoint if later).")
    var since: String?
    @Option(help: "The end, exclusive (default: now).") var until: String?
    @Option(help: "The API's address (default: the provider's).") var baseURL: String?
    @Option(help: "The environment variable holding the admin key (default: OPENAI_ADMIN_KEY / ANTHROPIC_ADMIN_KEY).")
    var adminKeyEnv: String?
    @Option(help: "Backoff before the first retry of a 429 or 5xx, doubling each time (without Retry-After).")
    var retryBaseMs: Int64 = 1_000

    func run() async throws {
        guard let which = ProviderSync.Provider(rawValue: provider) else {
            throw ValidationError("'\(provider)' is not openai or anthropic.")
        }
        let variable = adminKeyEnv ?? which.defaultAdminKeyEnv
        guard let key = ProcessInfo.processInfo.environment[variable], !key.isEmpty else {
            throw ValidationError(
                "Set \(variable) to the organisation's admin key (\(which == .openai ? "sk-admin-…" : "sk-ant-admin…"))."
            )
        }
        let now = Timestamp.current
        let start = try since.map { try Timestamp.argument($0, option: "--since") } ?? now.adding(seconds: -30 * 86_400)
        let end = try until.map { try Timestamp.argument($0, option: "--until") } ?? now
        guard start < end else { throw ValidationError("--since must be before --until.") }
        let ledger = try SQLiteLedger(path: try common.databasePath())
        var logger = Logger(label: "tokenledger.sync")
        logger.logLevel = .warning
        let sync = ProviderSync(
            provider: which, baseURL: baseURL, adminKey: key, ledger: ledger, catalog: try common.catalog(),
            logger: logger, retryBaseMilliseconds: retryBaseMs)
        let summaries: [ProviderSync.Summary]
        do {
            summaries = try await sync.run(since: start, until: end, now: now)
        } catch let failure as ProviderSync.Failure {
            printError("sync stopped: \(failure). What was imported is kept; run again to resume from the checkpoint.")
            throw ExitCode(1)
        }
        var rejected = 0
        for summary in summaries {
            print(
                "\(summary.connector): \(summary.pages) pages from \(summary.from.map { String($0.iso8601.prefix(10)) } ?? "-"), \(summary.recorded) recorded, \(summary.duplicates) already in the ledger, \(summary.rejected.count) rejected"
            )
            for line in summary.rejected.prefix(20) { printError("rejected: \(line)") }
            rejected += summary.rejected.count
        }
        if rejected > 0 { throw ExitCode(1) }
    }
}
