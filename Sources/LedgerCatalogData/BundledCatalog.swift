public import Foundation
public import LedgerCore

/// The price catalog shipped with TokenLedger (`Sources/LedgerCatalogData/prices.json`).
public enum BundledCatalog {
    /// The raw JSON of the shipped catalog.
    public static func data() throws -> Data {
        guard let url = Bundle.module.url(forResource: "prices", withExtension: "json") else {
            throw CatalogFileError(origin: "prices.json", message: "the bundled catalog is missing from the build")
        }
        return try Data(contentsOf: url)
    }

    /// The shipped catalog.
    public static func load() throws -> PriceCatalog {
        try PriceCatalog(json: data(), origin: "bundled prices.json")
    }
}
