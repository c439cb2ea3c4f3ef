#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

extension PriceCatalog {
    /// The file's root object.
    struct File: Codable {
        var format: String?
        var version: Int?
        var updated: String?
        var models: [ModelPricing]
        var discounts: [PriceDiscount]?
    }

    /// The file format's identifier.
    public static let formatName = "tokenledger-price-catalog"

    /// Decodes a catalog file (JSON).
    ///
    /// - Throws: ``CatalogFileError`` naming the entry and field that is wrong.
    public init(json data: Data, origin: String = "catalog") throws(CatalogFileError) {
        do {
            let file = try JSONDecoder().decode(File.self, from: data)
            self.init(models: file.models, discounts: file.discounts ?? [], updated: file.updated)
        } catch let error as DecodingError {
            throw CatalogFileError(origin: origin, message: CatalogFileError.describe(error))
        } catch {
            throw CatalogFileError(origin: origin, message: "\(error)")
        }
    }

    /// Encodes the catalog as pretty, stably ordered JSON.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let file = File(
            format: PriceCatalog.formatName, version: 1, updated: updated, models: models,
            discounts: discounts.isEmpty ? nil : discounts
        )
        var data = try encoder.encode(file)
        data.append(UInt8(ascii: "\n"))
        return data
    }
}

/// A catalog file that cannot be read.
public struct CatalogFileError: Error, Sendable, CustomStringConvertible {
    /// The file.
    public var origin: String
    /// What is wrong and where.
    public var message: String

    public var description: String { "\(origin): \(message)" }

    /// Creates an error about a file.
    public init(origin: String, message: String) {
        self.origin = origin
        self.message = message
    }

    /// A decoding error as one line naming the path of the bad field.
    public static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
                .trimmingPrefix(".").description
        }
        switch error {
        case .dataCorrupted(let context):
            let detail =
                context.underlyingError.map { "\(context.debugDescription) (\($0))" } ?? context.debugDescription
            return context.codingPath.isEmpty
                ? "not valid JSON: \(detail)" : "at \(path(context.codingPath)): \(detail)"
        case .keyNotFound(let key, let context):
            return "at \(path(context.codingPath)): missing field '\(key.stringValue)'"
        case .typeMismatch(let type, let context):
            return "at \(path(context.codingPath)): expected \(type): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "at \(path(context.codingPath)): expected \(type), found null"
        @unknown default:
            return "\(error)"
        }
    }
}
