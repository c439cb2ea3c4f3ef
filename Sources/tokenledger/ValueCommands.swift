import ArgumentParser
import Foundation
import LedgerCore
import LedgerStore

/// `tokenledger outcomes import`: business outcomes from a JSON Lines file.
struct OutcomesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outcomes",
        abstract: "Business outcomes (what AI spend produced), for cost per outcome and ROI.",
        subcommands: [Import.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Import outcomes from JSON Lines: {\"id\",\"timestamp\",\"feature\",\"customer\",\"outcome\",\"count\",\"value\"}.",
            discussion: "Idempotent by id. Bad lines are reported with their line number and field; good ones are kept."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The JSON Lines file.") var file: String

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CommandFailure("Cannot read '\(file)': check the path.")
            }
            var outcomes: [BusinessOutcome] = []
            var rejected = 0
            for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                .enumerated()
            where !line.allSatisfy({ $0 == 32 || $0 == 13 || $0 == 9 }) {
                switch JSONRowParser.members(of: line) {
                case .failure(let failure):
                    printError("\(file):\(index + 1): not a JSON object (\(failure))")
                    rejected += 1
                case .success(let members):
                    do throws(BusinessOutcome.Problem) {
                        outcomes.append(try BusinessOutcome(members: members))
                    } catch {
                        printError("\(file):\(index + 1): field '\(error.field)': \(error.reason)")
                        rejected += 1
                    }
                }
            }
            let ledger = try SQLiteLedger(path: try common.databasePath())
            let summary = try await ledger.recordOutcomes(outcomes)
            print(
                "\(file): \(outcomes.count + rejected) outcomes, \(summary.inserted) recorded, \(summary.duplicates) already in the ledger, \(rejected) rejected."
            )
            if rejected > 0 { throw ExitCode(1) }
        }
    }
}

/// `tokenledger value`: unit economics and value per feature or customer.
struct ValueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "value",
        abstract: "Unit economics and value: cost per request, session, user and outcome; value per dollar; ROI.",
        discussion: """
            Cost comes from the ledger (allocated); outcomes from `tokenledger outcomes import` or \
            POST /api/v1/outcomes. ROI = (value − cost) / cost.
            """
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "The month, e.g. 2026-10.") var period: String
    @Option(help: "feature or customer.") var by: String = "feature"
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() async throws {
        let period = try month(period)
        guard let dimension = AttributionDimension(rawValue: by), dimension == .feature || dimension == .customer else {
            throw ValidationError("--by must be feature or customer.")
        }
        let ledger = try SQLiteLedger(path: try common.databasePath())
        let report = try await ledger.report(
            ReportQuery(from: period.start, to: period.end, groupBy: [.attribution(dimension)]))
        let outcomes = try await ledger.outcomeTotals(from: period.start, to: period.end, by: dimension)
        struct Row {
            var owner: String
            var metrics: ReportMetrics
            var outcomes: Int64
            var value: Cost
        }
        var rows: [Row] = report.rows.map { row in
            let owner = row.keys[0] ?? ""
            let outcome = outcomes[owner] ?? (0, .zero)
            return Row(owner: owner, metrics: row.metrics, outcomes: outcome.count, value: outcome.value)
        }
        for (owner, outcome) in outcomes where !rows.contains(where: { $0.owner == owner }) {
            rows.append(Row(owner: owner, metrics: ReportMetrics(), outcomes: outcome.count, value: outcome.value))
        }
        rows.sort { $0.metrics.cost > $1.metrics.cost || ($0.metrics.cost == $1.metrics.cost && $0.owner < $1.owner) }
        func per(_ cost: Cost, _ count: Int64?) -> String? {
            guard let count, count > 0 else { return nil }
            return Cost(picodollars: DecimalText.divideRoundingHalfEven(cost.picodollars, by: Int128(count)))
                .rounded(fractionDigits: 6)
        }
        /// `value / cost` with two decimals (× 100 for a percentage).
        func ratio(_ value: Cost, _ cost: Cost, times factor: Int128 = 1) -> String? {
            guard cost.picodollars > 0 else { return nil }
            return DecimalText.format(
                DecimalText.divideRoundingHalfEven(value.picodollars * 100 * factor, by: cost.picodollars), scale: 2,
                minimumFractionDigits: 2)
        }
        if format == .json {
            func text(_ value: String?) -> OrderedJSON { value.map(OrderedJSON.string) ?? .null }
            let json = OrderedJSON.object([
                ("period", .string(period.description)), ("by", .string(dimension.rawValue)),
                (
                    "rows",
                    .array(
                        rows.map { row in
                            .object([
                                (dimension.rawValue, row.owner.isEmpty ? .null : .string(row.owner)),
                                ("requests", .integer(row.metrics.requests)),
                                ("cost_usd", .string(row.metrics.cost.decimalString)),
                                ("cost_per_request", text(per(row.metrics.cost, row.metrics.requests))),
                                ("cost_per_session", text(per(row.metrics.cost, row.metrics.sessions))),
                                ("cost_per_user", text(per(row.metrics.cost, row.metrics.users))),
                                (
                                    "cost_per_1k_tokens",
                                    text(
                                        per(
                                            Cost(picodollars: row.metrics.cost.picodollars * 1_000),
                                            row.metrics.tokens.total))
                                ),
                                ("outcomes", .integer(row.outcomes)),
                                ("value_usd", .string(row.value.decimalString)),
                                ("cost_per_outcome", text(per(row.metrics.cost, row.outcomes))),
                                ("value_per_dollar", text(ratio(row.value, row.metrics.cost))),
                                (
                                    "roi_percent",
                                    text(ratio(row.value - row.metrics.cost, row.metrics.cost, times: 100))
                                ),
                            ])
                        })
                ),
            ])
            print(json.serialized(pretty: true))
            return
        }
        var table = TextTable(
            columns: [
                dimension.rawValue, "requests", "cost", "$/request", "$/session", "$/user", "outcomes", "value",
                "$/outcome", "value/$", "ROI",
            ], rightAligned: Set(1...10))
        for row in rows {
            table.append([
                row.owner.isEmpty ? "(unallocated)" : row.owner, grouped(row.metrics.requests),
                ReportTable.dollars(row.metrics.cost), per(row.metrics.cost, row.metrics.requests) ?? "-",
                per(row.metrics.cost, row.metrics.sessions) ?? "-", per(row.metrics.cost, row.metrics.users) ?? "-",
                grouped(row.outcomes), ReportTable.dollars(row.value), per(row.metrics.cost, row.outcomes) ?? "-",
                ratio(row.value, row.metrics.cost) ?? "-",
                ratio(row.value - row.metrics.cost, row.metrics.cost, times: 100).map { $0 + "%" } ?? "-",
            ])
        }
        print(table.render())
        if outcomes.isEmpty {
            print(
                "No outcomes recorded for \(period): send them to POST /api/v1/outcomes or import them (tokenledger outcomes import FILE)."
            )
        }
    }
}
