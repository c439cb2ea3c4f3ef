import ArgumentParser
import Foundation
import LedgerCatalogData
import LedgerCore
import LedgerGateway

/// `tokenledger prices`: inspect, check and refresh the price catalog.
struct PricesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices",
        abstract: "List, show, validate and import model prices.",
        subcommands: [List.self, Show.self, Validate.self, Import.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the catalog's models and current prices.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Only this provider.") var provider: String?
        @Option(help: "table or json.") var format: OutputFormat = .table

        func run() async throws {
            let catalog = try common.catalog()
            let now = Timestamp.current
            let wanted = provider.map(PriceCatalog.canonicalProvider)
            let entries = catalog.models.filter {
                wanted == nil || PriceCatalog.canonicalProvider($0.provider) == wanted
            }
            if format == .json {
                let items: [OrderedJSON] = entries.map { entry in
                    let sheet = entry.version(at: now)?.perMillion
                    return .object([
                        ("provider", .string(entry.provider)), ("model", .string(entry.model)),
                        ("aliases", .array(entry.aliases.map(OrderedJSON.string))),
                        (
                            "per_million",
                            .object(
                                TokenKind.all.compactMap { kind in
                                    sheet?.tokens[kind].map { (kind.rawValue, .string($0.dollarString)) }
                                })
                        ),
                        ("source", .string(entry.source)),
                    ])
                }
                print(OrderedJSON.array(items).serialized(pretty: true))
                return
            }
            var table = TextTable(
                columns: ["provider", "model", "input", "cache read", "cache write", "output", "since"],
                rightAligned: [2, 3, 4, 5])
            for entry in entries {
                let version = entry.version(at: now)
                let sheet = version?.perMillion.tokens ?? [:]
                func cell(_ kind: TokenKind) -> String { sheet[kind].map { "$" + $0.dollarString } ?? "" }
                table.append([
                    entry.provider, entry.model,
                    sheet[.embedding] != nil && sheet[.input] == nil ? cell(.embedding) : cell(.input),
                    cell(.cacheRead), cell(.cacheWrite), cell(.output), version?.effectiveFrom.dateString ?? "not yet",
                ])
            }
            print(table.render())
            print(
                "\(entries.count) models; prices in USD per million tokens. `tokenledger prices show MODEL` for details."
            )
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one model's prices, tiers, regions and history.")
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

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refresh prices from a community price map (LiteLLM or genai-prices) into your price file.",
            discussion: """
                Reads LiteLLM's model_prices_and_context_window.json (in the litellm wheel on PyPI) or the JSON that \
                scripts/prices/export_genai_prices.py writes from the genai-prices package. Prices that moved are written \
                to your price file as a new version from --effective (history is kept: older events keep their price); \
                models your file already overrides are left alone. Prints what changed.
                """)
        @OptionGroup var common: CommonOptions
        @Option(name: .customLong("from"), help: "litellm or genai-prices.") var source: SourceArgument
        @Argument(help: "The price map file.") var file: String
        @Option(help: "Where to write the updated price file (default: --prices, or prices.local.json).") var output:
            String?
        @Option(help: "When the new prices take effect (default: today).") var effective: String?
        @Flag(name: .customLong("add-new"), help: "Also add models the catalog does not have, for providers it knows.")
        var addNew = false
        @Flag(name: .customLong("dry-run"), help: "Report the changes without writing.") var dryRun = false
        @Option(help: "table or json.") var format: OutputFormat = .table

        enum SourceArgument: String, ExpressibleByArgument, CaseIterable {
            case litellm
            case genaiPrices = "genai-prices"
        }

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("Cannot read '\(file)'.")
            }
            let format: CommunityPriceFormat = source == .litellm ? .litellm : .genaiPrices
            let imported: [ImportedPrice]
            do {
                imported = try format.parse(data, origin: file)
            } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
            let configured = try common.prices ?? common.configuration().prices?.file
            let target = output ?? configured ?? "prices.local.json"
            var user = PriceCatalog(models: [])
            if let existing = FileManager.default.contents(atPath: target) {
                user = try PriceCatalog(json: existing, origin: target)
            }
            let effectiveFrom =
                try effective.map { try Timestamp.argument($0, option: "--effective") } ?? Timestamp.current.startOfDay
            let result = PriceImport(
                imported: imported, shipped: try BundledCatalog.load(), user: user, effective: effectiveFrom,
                addNew: addNew,
                source: "\(format.rawValue) \((file as NSString).lastPathComponent)")
            if self.format == .json {
                let changes: [OrderedJSON] = result.changed.map { change in
                    .object([
                        ("provider", .string(change.provider)), ("model", .string(change.model)),
                        (
                            "changes",
                            .object(
                                change.differences.sorted { $0.key.rawValue < $1.key.rawValue }.map { kind, pair in
                                    (
                                        kind.rawValue,
                                        .object([
                                            ("old", .optional(pair.old?.dollarString)),
                                            ("new", .string(pair.new.dollarString)),
                                        ])
                                    )
                                })
                        ),
                    ])
                }
                print(
                    OrderedJSON.object([
                        ("read", .integer(Int64(imported.count))), ("changed", .array(changes)),
                        ("added", .array(result.new.map { .string("\($0.provider)/\($0.model)") })),
                        ("unchanged", .integer(Int64(result.unchanged))),
                        ("kept_overrides", .array(result.keptOverrides.map(OrderedJSON.string))),
                        ("output", dryRun ? .null : .string(target)),
                    ]).serialized(pretty: true))
            } else {
                print("Read \(imported.count) prices from \(file) (\(format.rawValue)).")
                for change in result.changed {
                    let parts = change.differences.sorted { $0.key.rawValue < $1.key.rawValue }.map { kind, pair in
                        "\(kind.rawValue) \(pair.old.map { "$" + $0.dollarString } ?? "none") → $\(pair.new.dollarString)"
                    }
                    print("  changed  \(change.provider)/\(change.model): \(parts.joined(separator: ", "))")
                }
                for price in result.new { print("  added    \(price.provider)/\(price.model)") }
                for name in result.keptOverrides { print("  kept     \(name) (your price file overrides it)") }
                print(
                    "\(result.changed.count) changed, \(result.new.count) added, \(result.unchanged) unchanged, \(result.keptOverrides.count) overrides kept."
                )
            }
            guard !dryRun else { return }
            guard !result.changed.isEmpty || !result.new.isEmpty else { return }
            let issues = CatalogValidator.issues(in: result.userCatalog).filter { $0.severity == .error }
            guard issues.isEmpty else {
                for issue in issues { printError("error: \(issue)") }
                printError("The imported prices do not form a valid price file; nothing was written.")
                throw ExitCode(1)
            }
            try result.userCatalog.jsonData().write(to: URL(fileURLWithPath: target), options: .atomic)
            if self.format != .json {
                print("Wrote \(target). Use it with --prices \(target) (or prices.file in tokenledger.yaml).")
            }
        }
    }
}
