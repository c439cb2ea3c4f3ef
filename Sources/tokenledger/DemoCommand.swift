import ArgumentParser
import Foundation
import LedgerCore
import LedgerGateway
import LedgerIngest
import LedgerStore

/// `tokenledger demo`: fill a ledger with a realistic, reproducible organisation.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Fill the ledger with 90 days of a realistic organisation's AI usage (seeded, reproducible)."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "About how many events to generate.") var events: Int = 250_000
    @Option(help: "How many days, ending today.") var days: Int = 90
    @Option(help: "Random seed; the same seed and end date give the same events.") var seed: UInt64 = 42
    @Option(help: "Last day of the period (default: today, UTC).") var end: String?
    @Flag(help: "Do not print the overview report afterwards.") var quiet = false

    func validate() throws {
        guard events > 0 else { throw ValidationError("--events must be positive.") }
        guard (1...3_650).contains(days) else { throw ValidationError("--days must be between 1 and 3650.") }
    }

    func run() async throws {
        let endInstant: Timestamp =
            try end.map { try Timestamp.argument($0, option: "--end").adding(seconds: 86_400) } ?? .current
        let path = try common.databasePath()
        let ledger = try SQLiteLedger(path: path)
        try await Self.fill(
            ledger: ledger, catalog: try common.catalog(), events: events, days: days, seed: seed, end: endInstant)
        guard !quiet else { return }
        let to = endInstant.startOfDay.adding(seconds: endInstant == endInstant.startOfDay ? 0 : 86_400)
        let query = ReportQuery(from: to.adding(seconds: -30 * 86_400), to: to, groupBy: [.attribution(.team)])
        let report = try await ledger.report(query)
        print("\nSpend by team, last 30 days (`tokenledger report --by team,model` for more):\n")
        print(ReportTable.render(report))
    }

    /// Generates the demo organisation into `ledger`, with a progress bar and a summary.
    static func fill(
        ledger: SQLiteLedger, catalog: PriceCatalog, events: Int = 250_000, days: Int = 90, seed: UInt64 = 42,
        end endInstant: Timestamp = .current
    ) async throws {
        var configuration = DemoGenerator.Configuration(end: endInstant)
        configuration.events = events
        configuration.days = days
        configuration.seed = seed
        let path = ledger.path
        var pipeline = RecordingPipeline(ledger: ledger, catalog: catalog)
        var progress = ProgressBar(label: "demo", total: Int64(events), unit: "events")
        let started = ContinuousClock.now
        var generated: DemoGenerator.Summary?
        let result = try await pipeline.run(progress: { summary in
            let done = Int64(summary.recorded.inserted + summary.recorded.duplicates)
            progress.update(done: done, items: done)
        }) { submit in
            generated = try await DemoGenerator(configuration: configuration).generate(batchSize: 10_000) { batch in
                try await submit(batch)
            }
        }
        progress.finish()
        let elapsed = ContinuousClock.now - started
        guard let summary = generated else { return }
        let recorded = result.recorded
        print(
            """
            Demo ledger: \(path)
              \(grouped(Int64(recorded.inserted))) events recorded, \(grouped(Int64(recorded.duplicates))) already present \
            (\(summary.first?.dateString ?? "-") to \(summary.last?.dateString ?? "-"), in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))))
              \(grouped(Int64(result.unpriced))) events have no catalog price (a fine-tuned model): reports count them as unpriced.
              Planted incidents: a runaway agent on \(summary.runawayAgentDay.dateString); sales switched email drafting \
            to claude-sonnet-4-5 on \(summary.modelSwitchDay.dateString).
            """)
    }
}
