import ArgumentParser
import Foundation
import LedgerCore
import LedgerGateway
import LedgerStore

/// `tokenledger report`: spend, tokens, unit economics and goodput, grouped as you like.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Spend, tokens, requests, unit economics and waste, grouped by any dimensions.",
        discussion: """
            Dimensions: provider, model, source, service_tier, outcome, region, organisation, team, user, project, \
            application, feature, customer, cost_centre, session, environment, tag:KEY. \
            Dates are whole UTC days and --to is inclusive; a full timestamp is an exact (exclusive) end.
            """
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "First day (default: 30 days before --to).") var from: String?
    @Option(help: "Last day, inclusive (default: today).") var to: String?
    @Option(help: "A whole month instead of --from/--to, e.g. 2026-10.") var period: String?
    @Option(help: "Comma-separated dimensions to group by, e.g. team,model.") var by: String?
    @Option(help: "hour, day or month.") var granularity: GranularityArgument?
    @Option(help: "Keep the N most expensive groups; the rest become one (other) row.") var top: Int?
    @Option(
        name: .customLong("where"), help: "Filter, e.g. team=search (repeatable). An empty value means unallocated.")
    var filters: [String] = []
    @Option(help: "table, csv or json.") var format: OutputFormat = .table

    func validate() throws {
        if period != nil, from != nil || to != nil { throw ValidationError("Use --period or --from/--to, not both.") }
        if let top, top < 0 { throw ValidationError("--top must not be negative.") }
    }

    func query() throws -> ReportQuery {
        let (start, end) = try range()
        var dimensions: [ReportDimension] = []
        for name in (by ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
        where !name.isEmpty {
            guard let dimension = ReportDimension(name: name) else {
                let known = ReportDimension.allNamed.map(\.name).joined(separator: ", ")
                throw ValidationError("--by: unknown dimension '\(name)'. Known: \(known), tag:KEY.")
            }
            dimensions.append(dimension)
        }
        var filterMap: [ReportDimension: String] = [:]
        for filter in filters {
            let parts = filter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let dimension = ReportDimension(name: String(parts[0])) else {
                throw ValidationError("--where '\(filter)' must be DIMENSION=VALUE, e.g. team=search.")
            }
            filterMap[dimension] = String(parts[1])
        }
        return ReportQuery(
            from: start, to: end, groupBy: dimensions,
            granularity: granularity.map { Granularity(rawValue: $0.rawValue)! }, top: top, filters: filterMap)
    }

    func range() throws -> (Timestamp, Timestamp) {
        if let period {
            guard let start = Timestamp(parsing: period + "-01") else {
                throw ValidationError("--period '\(period)' must be a month, e.g. 2026-10.")
            }
            return (start, start.startOfNextMonth)
        }
        let end: Timestamp
        if let to {
            let parsed = try Timestamp.argument(to, option: "--to")
            end = to.count <= 10 ? parsed.adding(seconds: 86_400) : parsed
        } else {
            end = Timestamp.current.startOfDay.adding(seconds: 86_400)
        }
        let start = try from.map { try Timestamp.argument($0, option: "--from") } ?? end.adding(seconds: -30 * 86_400)
        guard start < end else { throw ValidationError("--from must be before --to.") }
        return (start, end)
    }

    func run() async throws {
        let query = try query()
        let ledger = try SQLiteLedger(path: try common.databasePath())
        let report = try await ledger.report(query)
        switch format {
        case .json: print(report.json.serialized(pretty: true))
        case .csv: print(report.csv, terminator: "")
        case .table: print(ReportTable.render(report))
        }
    }
}

/// The values `--granularity` accepts.
enum GranularityArgument: String, ExpressibleByArgument, CaseIterable {
    case hour, day, month
}
