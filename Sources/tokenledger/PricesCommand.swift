import ArgumentParser
import Foundation
import LedgerCore

/// `tokenledger prices`: inspect, check and refresh the price catalog.
struct PricesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices",
        abstract: "List, show, validate and import model prices.",
        subcommands: [List.self, Show.self, Validate.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the catalog's models and current prices.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Only this provider.") var provider: String?
        @Option(help: "table or json.") var format: OutputFormat = .table

        func run() async throws {
            let catalog = try common.catalog()
            let now = Timestamp.now
            let wanted = provider.map(PriceCatalog.canonicalProvider)
            let entries = catalog.models.filter { wanted == nil || PriceCatalog.canonicalProvider($0.provider) == wanted }
            if format == .json {
                let items: [OrderedJSON] = entries.map { entry in
                    let sheet = entry.version(at: now)?.perMillion
                    return .object([
                        ("provider", .string(entry.provider)), ("model", .string(entry.model)),
                        ("aliases", .array(entry.aliases.map(OrderedJSON.string))),
                        ("per_million", .object(TokenKind.allCases.compactMap { kind in
                            sheet?.tokens[kind].map { (kind.rawValue, .string($0.dollarString)) }
                        })),
                        ("source", .string(entry.source)),
                    ])
                }
                print(OrderedJSON.array(items).serialized(pretty: true))
                return
            }
            var table = TextTable(columns: ["provider", "model", "input", "cache read", "cache write", "output", "since"], rightAligned: [2, 3, 4, 5])
            for entry in entries {
                let version = entry.version(at: now)
                let sheet = version?.perMillion.tokens ?? [:]
                func cell(_ kind: TokenKind) -> String { sheet[kind].map { "$" + $0.dollarString } ?? "" }
                table.append([
                    entry.provider, entry.model, sheet[.embedding] != nil && sheet[.input] == nil ? cell(.embedding) : cell(.input),
                    cell(.cacheRead), cell(.cacheWrite), cell(.output), version?.effectiveFrom.dateString ?? "not yet",
                ])
            }
            print(table.render())
            print("\(entries.count) models; prices in USD per million tokens. `tokenledger prices show MODEL` for details.")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one model's prices, tiers, regions and history.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Provider.") var provider: String
        @Argument(help: "Model name or alias.") var model: String

        func run() async throws {
            let catalog = try common.catalog()
            let resolution: ModelResolution
            do {
                resolution = try catalog.resolve(provider: provider, model: model)
            } catch {
                printError("error: \(error)")
                throw ExitCode(2)
            }
            let data = try PriceCatalog(models: [resolution.entry]).jsonData()
            print(String(decoding: data, as: UTF8.self), terminator: "")
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a price file (default: the shipped catalog with your overrides).")
        @OptionGroup var common: CommonOptions
        @Argument(help: "A price file to check on its own.") var file: String?

        func run() async throws {
            let catalog: PriceCatalog
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw ValidationError("Cannot read '\(file)'.")
                }
                do {
                    catalog = try PriceCatalog(json: data, origin: file)
                } catch {
                    printError("error: \(error)")
                    throw ExitCode(1)
                }
            } else {
                catalog = try common.catalog()
            }
            let issues = CatalogValidator.issues(in: catalog)
            for issue in issues { print(issue) }
            let errors = issues.filter { $0.severity == .error }.count
            print("\(catalog.models.count) models, \(errors) errors, \(issues.count - errors) warnings")
            if errors > 0 { throw ExitCode(1) }
        }
    }
}
