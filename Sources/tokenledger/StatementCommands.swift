import ArgumentParser
import Foundation
import LedgerCore
import LedgerGateway
import LedgerStore

/// `tokenledger statement`: numbered statements and invoices for customers and teams.
struct StatementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statement",
        abstract: "A numbered statement (showback) or invoice (rate card) for a customer or team and a month.",
        discussion: """
            Lines by model, token kind and feature, shared-cost shares, late usage of closed months, then markup, \
            volume discount, allowance and minimum from the rate card (chargeback: section of tokenledger.yaml). \
            Rounded to the cent once; the lines sum to the total. Draft while the month is open (same number, same \
            figures on every run while nothing changes); issued and locked once the month is closed (tokenledger \
            period close). Trace any line: tokenledger explain NUMBER/LINE.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case html, csv, json, table }

    @OptionGroup var common: CommonOptions
    @Option(help: "The month, e.g. 2026-10.") var period: String
    @Option(name: .customLong("for"), help: "Who: customer:acme, team:search, …") var subject: String?
    @Option(help: "Every owner of this dimension with spend or a rate card (customer, team, …).") var all: String?
    @Option(help: "html, csv, json or table.") var format: Format = .table
    @Option(help: "Write here: a file for one statement, a directory for --all (default: standard output).")
    var output: String?

    func run() async throws {
        let period = try month(period)
        let configuration = try common.configuration()
        let ledger = try SQLiteLedger(path: try common.databasePath())
        let catalog = try common.catalog()
        var subjects: [StatementSubject] = []
        if let subject {
            guard let parsed = StatementSubject(parsing: subject) else {
                throw ValidationError(
                    "--for '\(subject)' must be DIMENSION:VALUE with a dimension of \(AllocationRule.targets.map(\.rawValue).joined(separator: ", ")), e.g. customer:acme."
                )
            }
            subjects = [parsed]
        } else if let all {
            guard let dimension = AttributionDimension(rawValue: all), AllocationRule.targets.contains(dimension) else {
                throw ValidationError(
                    "--all '\(all)' must be one of \(AllocationRule.targets.map(\.rawValue).joined(separator: ", ")).")
            }
            var values = Set(try await ledger.owners(dimension, period: period))
            for card in configuration.chargeback.rateCards {
                if let subject = StatementSubject(parsing: card.subject), subject.dimension == dimension {
                    values.insert(subject.value)
                }
            }
            subjects = values.sorted().map { StatementSubject(dimension: dimension, value: $0) }
        } else {
            throw ValidationError("Name who the statement is for (--for customer:acme) or --all customer.")
        }
        // An open month is billed with the saved allocation rules.
        try await ledger.allocateIfStale(period: period, at: .current)
        var written: [String] = []
        // Split the shared pools once for every statement of the run.
        let splits =
            subjects.count > 1
            ? try ledger.poolSplits(
                period: period, configuration: configuration.chargeback, through: try ledger.closedPeriods()[period])
            : nil
        for subject in subjects {
            let statement: BillingStatement
            do {
                statement = try ledger.statement(
                    for: subject, period: period, configuration: configuration.chargeback, catalog: catalog,
                    at: .current, splits: splits)
            } catch let error as LedgerStoreError {
                throw CommandFailure(error.description)
            }
            let text = render(statement, issuer: configuration.chargeback.issuer)
            if let output {
                let path =
                    subjects.count > 1 || all != nil
                    ? URL(fileURLWithPath: output).appendingPathComponent(
                        "\(statement.number).\(format == .table ? "txt" : format.rawValue)"
                    ).path : output
                if subjects.count > 1 || all != nil {
                    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
                }
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                written.append(path)
            } else {
                print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            }
        }
        if !written.isEmpty {
            printError(
                "\(written.count) statement\(written.count == 1 ? "" : "s") for \(period) written: \(written.joined(separator: ", "))"
            )
        }
    }

    func render(_ statement: BillingStatement, issuer: String) -> String {
        switch format {
        case .html: return statement.html(issuer: issuer)
        case .csv: return statement.csv()
        case .json: return statement.json().serialized(pretty: true)
        case .table: return Self.table(statement)
        }
    }

    static func table(_ statement: BillingStatement) -> String {
        var table = TextTable(columns: ["#", "description", "quantity", "amount"], rightAligned: [0, 2, 3])
        for line in statement.lines {
            table.append([
                String(line.number), line.description,
                BillingStatement.quantityText(line, negativeSign: "-") ?? "",
                line.amount.rounded(fractionDigits: 2),
            ])
        }
        table.append(["", "TOTAL \(statement.currency)", "", statement.total.rounded(fractionDigits: 2)])
        var output =
            "\(statement.status == "issued" ? "Invoice" : "Statement (draft)") \(statement.number) — \(statement.subject), \(statement.period)\(statement.rateCard.map { ", rate card \($0)" } ?? "")\n\n"
            + table.render()
        for note in statement.notes { output += "\n" + note }
        output += "\nTrace a line: tokenledger explain \(statement.number)/LINE"
        return output
    }
}

/// `tokenledger period close`: issue a month's statements and lock it.
struct PeriodCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "period",
        abstract: "Close a month: issue its statements and lock them.",
        subcommands: [Close.self, List.self]
    )

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close a month: its statements are issued from the events recorded so far and never change.",
            discussion: "Events that arrive later for a closed month are billed as adjustments in the next open month."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The month, e.g. 2026-10.") var period: String
        @Option(help: "Also issue a statement for every owner of these dimensions (default: customer,team).")
        var statements = "customer,team"

        func run() async throws {
            let period = try month(period)
            let configuration = try common.configuration()
            let ledger = try SQLiteLedger(path: try common.databasePath())
            let catalog = try common.catalog()
            // Check what the statements need before anything is written, so a close never stops halfway.
            for card in configuration.chargeback.rateCards
            where configuration.chargeback.rates.millionths(card.currency, at: period.start) == nil {
                throw CommandFailure(
                    "Rate card '\(card.id)' bills in \(card.currency), and chargeback.fx has no rate for it on \(period.start.dateString): add one before closing \(period)."
                )
            }
            let dimensions = try statements.split(separator: ",").map { name in
                guard let dimension = AttributionDimension(rawValue: String(name)) else {
                    throw ValidationError("--statements: '\(name)' is not a dimension.")
                }
                return dimension
            }
            // Allocate with the saved rules first, so the issued statements carry the owners they say.
            try await ledger.allocateIfStale(period: period, at: .current)
            let last: Int64
            do {
                last = try await ledger.closePeriod(period, at: .current)
            } catch let error as LedgerStoreError {
                throw CommandFailure(error.description)
            }
            var subjects = Set<StatementSubject>()
            for dimension in dimensions {
                for value in try await ledger.owners(dimension, period: period) {
                    subjects.insert(StatementSubject(dimension: dimension, value: value))
                }
            }
            for card in configuration.chargeback.rateCards {
                if let subject = StatementSubject(parsing: card.subject) { subjects.insert(subject) }
            }
            var total = 0
            let splits = try ledger.poolSplits(period: period, configuration: configuration.chargeback, through: last)
            for subject in subjects.sorted(by: { $0.description < $1.description }) {
                _ = try ledger.statement(
                    for: subject, period: period, configuration: configuration.chargeback, catalog: catalog,
                    at: .current, splits: splits)
                total += 1
            }
            print(
                "\(period) closed at event \(grouped(last)): \(total) statements issued. Events arriving later for \(period) go to \(period.next)'s adjustments."
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List closed months.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let ledger = try SQLiteLedger(path: try common.databasePath())
            let closed = try ledger.closedPeriods()
            if closed.isEmpty { print("No closed months.") }
            for (period, last) in closed.sorted(by: { $0.key < $1.key }) {
                print("\(period)  closed through event \(grouped(last))")
            }
        }
    }
}

/// `tokenledger pools`: how shared costs split for a month.
struct PoolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pools", abstract: "Show how each shared-cost pool splits for a month (exact to the picodollar).")

    @OptionGroup var common: CommonOptions
    @Option(help: "The month, e.g. 2026-10.") var period: String
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() async throws {
        let period = try month(period)
        let configuration = try common.configuration()
        guard !configuration.chargeback.pools.isEmpty else {
            print("No shared-cost pools: declare them under chargeback.pools in tokenledger.yaml (docs/CHARGEBACK.md).")
            return
        }
        let ledger = try SQLiteLedger(path: try common.databasePath())
        let splits = try ledger.poolSplits(
            period: period, configuration: configuration.chargeback, through: try ledger.closedPeriods()[period])
        if format == .json {
            let json = OrderedJSON.array(
                splits.map { split in
                    .object([
                        ("pool", .string(split.pool.id)), ("onto", .string(split.pool.onto.rawValue)),
                        ("policy", .string(split.pool.policyDescription)),
                        ("amount_usd", .string(split.amount.decimalString)),
                        ("unallocated_usd", .string(split.unallocated.decimalString)),
                        (
                            "shares",
                            .object(
                                split.shares.sorted { $0.key < $1.key }.map {
                                    ($0.key, .string($0.value.decimalString))
                                })
                        ),
                    ])
                })
            print(json.serialized(pretty: true))
            return
        }
        for split in splits {
            print(
                "\(split.pool.id): \(ReportTable.dollars(split.amount)) \(split.pool.policyDescription)\(split.unallocated == .zero ? "" : ", \(ReportTable.dollars(split.unallocated)) unallocated (nobody in scope)")"
            )
            var table = TextTable(columns: [split.pool.onto.rawValue, "share", "exact USD"], rightAligned: [1, 2])
            for (owner, share) in split.shares.sorted(by: {
                $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key)
            }) {
                table.append([
                    owner,
                    split.amount.picodollars == 0
                        ? "-" : ReportTable.percent(share.picodollars, of: split.amount.picodollars),
                    share.decimalString,
                ])
            }
            print(table.render() + "\n")
        }
    }
}

/// `tokenledger explain NUMBER/LINE`: the ledger events behind a statement line.
struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain", abstract: "List the ledger events behind a statement line (NUMBER/LINE).")

    @OptionGroup var common: CommonOptions
    @Argument(help: "A statement line, e.g. TL-202610-0001/3.") var line: String
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() async throws {
        let parts = line.split(separator: "/")
        guard parts.count == 2, let lineNumber = Int(parts[1]) else {
            throw ValidationError("'\(line)' is not NUMBER/LINE, e.g. TL-202610-0001/3.")
        }
        let configuration = try common.configuration()
        let ledger = try SQLiteLedger(path: try common.databasePath())
        guard let statement = try ledger.storedStatement(number: String(parts[0])) else {
            throw CommandFailure("No statement numbered \(parts[0]): run tokenledger statement first.")
        }
        guard let line = statement.lines.first(where: { $0.number == lineNumber }) else {
            throw CommandFailure(
                "\(statement.number) has lines 1…\(statement.lines.count); there is no line \(lineNumber).")
        }
        guard line.type == .usage || line.type == .adjustment,
            let from = line.trace["from"].flatMap(Timestamp.init(parsing:)),
            let to = line.trace["to"].flatMap(Timestamp.init(parsing:))
        else {
            print(
                "Line \(lineNumber) (\(line.type.rawValue)) is computed from the statement's other lines: \(line.description), \(line.amount.rounded(fractionDigits: 2)) \(statement.currency)."
            )
            return
        }
        var usage = StatementUsage(catalog: try common.catalog())
        var rows: [(id: String, time: Timestamp, quantity: Int64, cost: Cost)] = []
        try ledger.forEachEvent(
            from: from, to: to, subject: statement.subject, after: line.trace["after_seq"].flatMap { Int64($0) },
            through: line.trace["through_seq"].flatMap { Int64($0) }
        ) { _, rated in
            guard SQLiteLedger.poolIndex(configuration.chargeback.pools, rated.event) == nil else { return }
            for part in usage.split(rated)
            where part.key.model == line.trace["model"] && part.key.kind == line.trace["kind"]
                && part.key.feature == (line.trace["feature"] ?? "")
            {
                rows.append((rated.event.id, rated.event.timestamp, part.quantity, part.cost))
            }
        }
        rows.sort { ($0.time, $0.id) < ($1.time, $1.id) }
        let quantity = rows.reduce(0) { $0 + $1.quantity }
        let cost = rows.reduce(Cost.zero) { $0 + $1.cost }
        if format == .json {
            print(
                OrderedJSON.object([
                    ("statement", .string(statement.number)), ("line", .integer(Int64(lineNumber))),
                    ("description", .string(line.description)), ("events", .integer(Int64(rows.count))),
                    ("quantity", .integer(quantity)), ("cost_usd", .string(cost.decimalString)),
                    ("amount", .string(line.amount.rounded(fractionDigits: 2))),
                    (
                        "event_ids",
                        .array(rows.map { .string($0.id) })
                    ),
                ]).serialized(pretty: true))
            return
        }
        var table = TextTable(columns: ["event", "time", "quantity", "cost USD"], rightAligned: [2, 3])
        for row in rows.prefix(50) {
            let quantity =
                line.trace["kind"] == "gpu_seconds"
                ? ResourceUsage(gpuMicroseconds: row.quantity).gpuSecondsText + " GPU-s" : grouped(row.quantity)
            table.append([row.id, row.time.iso8601, quantity, row.cost.decimalString])
        }
        print(
            "\(statement.number) line \(lineNumber): \(line.description) — \(grouped(Int64(rows.count))) events, \(grouped(quantity)) \(line.unit == "1M tokens" ? "tokens" : line.unit ?? ""), cost \(cost.decimalString) USD → \(line.amount.rounded(fractionDigits: 2)) \(statement.currency) on the statement.\n"
        )
        print(table.render())
        if rows.count > 50 { print("… \(rows.count - 50) more (--format json lists every id)") }
    }
}
