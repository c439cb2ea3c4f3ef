import ArgumentParser
import LedgerCore
import LedgerStore

/// `tokenledger reconcile`: what the provider billed against what metered events account for.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Compare a provider's bill (imported cost exports) with metered usage, per model.",
        discussion: """
            Invoiced: the billing lines imported with `tokenledger import --format focus|openai-costs|anthropic-costs`. \
            Metered: usage events from the gateway, OpenTelemetry, logs and the ingest API (the provider's own usage \
            reports are left out: they describe the bill, not who ran it). Unexplained: the part of the invoice no \
            metered event accounts for — usage outside the gateway. Bills and events are stored apart, so nothing \
            is counted twice.
            """
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "The provider, as in the catalog: openai, anthropic, bedrock, azure, …") var provider: String
    @Option(help: "The month, e.g. 2026-10.") var month: String
    @Option(help: "table or json.") var format: OutputFormat = .table

    func validate() throws {
        if format == .csv { throw ValidationError("--format must be table or json.") }
    }

    func run() async throws {
        let period = try tokenledger.month(month, option: "--month")
        let (start, end) = (period.start, period.end)
        let ledger = try SQLiteLedger(path: try common.databasePath())
        let catalog = try common.catalog()
        let lines = try await ledger.billingLines(provider: provider, from: start, to: end)
        let report = try await ledger.report(
            ReportQuery(from: start, to: end, groupBy: [.model, .source], filters: [.provider: provider]))
        var metered: [(model: String, cost: Cost)] = []
        for row in report.rows where !SQLiteLedger.providerReportSources.contains(row.keys[1] ?? "") {
            metered.append((row.keys[0] ?? "", row.metrics.cost))
        }
        let reconciliation = Reconciliation.reconcile(
            provider: provider, from: start, to: end, lines: lines, metered: metered,
            canonical: { name in (try? catalog.resolve(provider: provider, model: name).entry.model) ?? name })
        if lines.isEmpty {
            printError(
                "No billing lines for \(provider) in \(month): import the provider's cost export first (tokenledger import --format focus|openai-costs|anthropic-costs FILE)."
            )
        }
        switch format {
        case .json: print(Self.json(reconciliation).serialized(pretty: true))
        default: print(Self.table(reconciliation))
        }
    }

    static func json(_ reconciliation: Reconciliation) -> OrderedJSON {
        func money(_ cost: Cost) -> OrderedJSON { .string(cost.decimalString) }
        return .object([
            ("provider", .string(reconciliation.provider)), ("from", .string(reconciliation.from.iso8601)),
            ("to", .string(reconciliation.to.iso8601)),
            (
                "rows",
                .array(
                    reconciliation.rows.map { row in
                        .object([
                            ("model", row.model.map(OrderedJSON.string) ?? .null),
                            ("invoiced_usd", money(row.invoiced)),
                            ("metered_usd", money(row.metered)), ("difference_usd", money(row.difference)),
                            ("unexplained_usd", money(row.unexplained)),
                        ])
                    })
            ),
            (
                "totals",
                .object([
                    ("invoiced_usd", money(reconciliation.invoiced)), ("metered_usd", money(reconciliation.metered)),
                    ("difference_usd", money(reconciliation.invoiced - reconciliation.metered)),
                    ("unexplained_usd", money(reconciliation.unexplained)),
                    ("unexplained_share", reconciliation.unexplainedShare.map(OrderedJSON.string) ?? .null),
                ])
            ),
        ])
    }

    static func table(_ reconciliation: Reconciliation) -> String {
        var table = TextTable(
            columns: ["model", "invoiced", "metered", "difference", "unexplained"], rightAligned: Set(1..<5))
        table.rows = reconciliation.rows.map { row in
            [
                row.model ?? "(no model: fees, credits)", row.invoiced.rounded(fractionDigits: 2),
                row.metered.rounded(fractionDigits: 2), row.difference.rounded(fractionDigits: 2),
                row.unexplained.rounded(fractionDigits: 2),
            ]
        }
        table.append([
            "total", reconciliation.invoiced.rounded(fractionDigits: 2),
            reconciliation.metered.rounded(fractionDigits: 2),
            (reconciliation.invoiced - reconciliation.metered).rounded(fractionDigits: 2),
            reconciliation.unexplained.rounded(fractionDigits: 2),
        ])
        let share = reconciliation.unexplainedShare.map { " — \($0) of the invoice unexplained by metered usage" } ?? ""
        return "\(reconciliation.provider), \(reconciliation.from.iso8601.prefix(7)) (USD)\(share)\n"
            + table.render()
    }
}
