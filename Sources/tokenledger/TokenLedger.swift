import ArgumentParser
import LedgerStore

/// The `tokenledger` command.
@main
struct TokenLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenledger",
        abstract: "Meter, price, attribute and report every AI dollar.",
        version: "0.1.0 (SQLite \(SQLiteLedger.sqliteVersion))",
        subcommands: [
            ServeCommand.self, KeysCommand.self, DemoCommand.self, ReportCommand.self, ImportCommand.self,
            PriceCommand.self, PricesCommand.self, ReconcileCommand.self, EffectivePriceCommand.self, SyncCommand.self,
            RulesCommand.self, AllocateCommand.self, ExportCommand.self, StatementCommand.self, PeriodCommand.self,
            PoolsCommand.self, ExplainCommand.self, OutcomesCommand.self, ValueCommand.self,
        ]
    )

    static func main() async {
        // Before any thread allocates: a later cap leaves the arenas already made.
        if CommandLine.arguments.dropFirst().first == ImportCommand.configuration.commandName {
            RecordingPipeline.useFewMallocArenas()
        }
        await main(nil)
    }
}
