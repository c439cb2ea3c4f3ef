import ArgumentParser
import Foundation
import LedgerCatalogData
import LedgerCore
import LedgerGateway
import Yams

/// Options every command that touches the ledger or the catalog shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "The ledger file (default: ./tokenledger.sqlite, or `ledger.path` in the config file).")
    var db: String?

    @Option(
        name: .long, help: "Your own price file, laid over the shipped catalog (or `prices.file` in the config file).")
    var prices: String?

    @Option(name: .long, help: "Configuration file (default: ./tokenledger.yaml when present).")
    var config: String?

    /// The configuration file's contents, if any.
    func configuration() throws -> FileConfiguration {
        let path = config ?? (FileManager.default.fileExists(atPath: "tokenledger.yaml") ? "tokenledger.yaml" : nil)
        guard let path else { return FileConfiguration() }
        return try FileConfiguration.load(path: path)
    }

    /// The ledger path: the flag, else the config file, else the default.
    func databasePath() throws -> String {
        if let db { return db }
        return try configuration().ledger?.path ?? "tokenledger.sqlite"
    }

    /// The shipped catalog with the user's price file laid over it.
    func catalog() throws -> PriceCatalog {
        let shipped = try BundledCatalog.load()
        guard let path = try prices ?? configuration().prices?.file else { return shipped }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("Cannot read the price file '\(path)': check the path given to --prices.")
        }
        return shipped.overlaid(with: try PriceCatalog(json: data, origin: path))
    }
}

/// `tokenledger.yaml`: the parts the command-line tool reads.
struct FileConfiguration: Decodable {
    struct Ledger: Decodable { var path: String? }
    struct Prices: Decodable { var file: String? }
    var ledger: Ledger?
    var prices: Prices?
    /// The gateway's sections (server, upstreams, aliases, keys, budgets, limits).
    var gateway = GatewayConfiguration()
    /// Rate cards, shared-cost pools, exchange rates (docs/CHARGEBACK.md), read with the gateway's sections.
    var chargeback: ChargebackConfiguration { gateway.chargeback }

    enum CodingKeys: String, CodingKey { case ledger, prices }

    init() {}

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        ledger = try container.decodeIfPresent(Ledger.self, forKey: .ledger)
        prices = try container.decodeIfPresent(Prices.self, forKey: .prices)
        gateway = try GatewayConfiguration(from: decoder)
    }

    static func load(path: String) throws -> FileConfiguration {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw ValidationError("Cannot read the configuration file '\(path)'.")
        }
        do {
            let configuration = try YAMLDecoder().decode(FileConfiguration.self, from: text)
            if let problem = configuration.chargeback.problem() {
                throw ValidationError("Configuration file '\(path)', chargeback: \(problem).")
            }
            return configuration
        } catch let error as ValidationError {
            throw error
        } catch let error as DecodingError {
            throw ValidationError("Configuration file '\(path)' is not valid \(CatalogFileError.describe(error)).")
        } catch {
            throw ValidationError("Configuration file '\(path)' is not valid: \(error)")
        }
    }
}

/// A month given on the command line (`2026-10`), or a message naming the option.
func month(_ text: String, option: String = "--period") throws -> BillingPeriod {
    guard let period = BillingPeriod(parsing: text) else {
        throw ValidationError("\(option) '\(text)' must be a month, e.g. 2026-10.")
    }
    return period
}

/// A command that could not do its work (a file it cannot read, a ledger it cannot use): printed as
/// `Error: …` with exit status 1, without the usage text, which only helps when the command line
/// itself is wrong (for that, throw `ValidationError`).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Output formats.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// Writes to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

extension Timestamp {
    /// Parses a command-line date or timestamp, or fails with a message naming the option.
    static func argument(_ text: String, option: String) throws -> Timestamp {
        guard let value = Timestamp(parsing: text) else {
            throw ValidationError("\(option) '\(text)' is not a date: write 2026-03-02 or 2026-03-02T14:00:00Z.")
        }
        return value
    }
}
