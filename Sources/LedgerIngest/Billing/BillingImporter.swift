public import LedgerCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Imports what providers billed, as ``BillingLine``s (never as usage events):
///
/// - `focus`: a FOCUS 1.x cost and usage CSV from any provider (`BilledCost`, `BillingCurrency`,
///   `ChargePeriodStart`, `ChargePeriodEnd` and `ProviderName` — or 1.3's `ServiceProviderName` —
///   are required; the model comes from `SkuPriceDetails.x_Model`, else `SkuId`).
/// - `openai-costs`: `GET /v1/organization/costs` pages (`amount.value` in dollars; the model is the
///   first part of `line_item`, `"gpt-4o-2024-08-06, input"`).
/// - `anthropic-costs`: `GET /v1/organizations/cost_report` pages (`amount` is a decimal string in
///   **cents**).
///
/// Only US-dollar bills are taken; a line in another currency is rejected with its location.
/// Line ids derive from the row's content and position among identical rows, so importing the
/// same export again adds nothing.
public struct BillingImporter: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case focus
        case openAICosts = "openai-costs"
        case anthropicCosts = "anthropic-costs"
        case awsCUR = "aws-cur"
        case azureExport = "azure-export"
        case gcpBilling = "gcp-billing"

        /// Recognises a JSON cost page by its buckets' results.
        public static func detect(_ page: JSONValue) -> Format? {
            let bucket = page["data"]?.arrayValue?.first ?? page.arrayValue?.first?["data"]?.arrayValue?.first
            let result = bucket?["results"]?.arrayValue?.first
            if result?["object"]?.stringValue == "organization.costs.result" { return .openAICosts }
            if bucket?["starting_at"] != nil, case .string? = result?["amount"] { return .anthropicCosts }
            return nil
        }

        /// Recognises a cloud bill CSV by its header.
        public static func detect(header columns: [String]) -> Format? {
            let names = Set(columns.map { $0.lowercased() })
            if names.contains("billedcost") && names.contains("chargeperiodstart") { return .focus }
            if names.contains("line_item_unblended_cost") { return .awsCUR }
            if names.contains("meterName".lowercased()) && names.contains("costinbillingcurrency") {
                return .azureExport
            }
            if names.contains("sku.description") || names.contains("sku_description") { return .gcpBilling }
            return nil
        }
    }

    public var path: String
    public var format: Format

    public init(path: String, format: Format) {
        self.path = path
        self.format = format
    }

    public struct Summary: Sendable, Hashable {
        public var rows = 0
        public var accepted = 0
        public var rejected = 0
        /// Rows of other services in a cloud bill (not AI charges).
        public var skipped = 0
        public init() {}
    }

    /// Reads the whole export, handing good lines to `onBatch` and each bad row to `onReject`.
    public func run(
        batchSize: Int = 10_000, onBatch: ([BillingLine]) async throws -> Void, onReject: (IngestError) -> Void
    ) async throws -> Summary {
        switch format {
        case .focus, .awsCUR, .azureExport:
            return try await runCSV(batchSize: batchSize, onBatch: onBatch, onReject: onReject)
        case .gcpBilling:
            return path.lowercased().hasSuffix(".csv")
                ? try await runCSV(batchSize: batchSize, onBatch: onBatch, onReject: onReject)
                : try await runGCPJSONLines(batchSize: batchSize, onBatch: onBatch, onReject: onReject)
        case .openAICosts, .anthropicCosts:
            guard let data = FileManager.default.contents(atPath: path) else {
                throw IngestError(file: path, line: nil, field: nil, reason: "cannot read the file")
            }
            var summary = Summary()
            var lines: [BillingLine] = []
            // Line ids are stable per page, so a page saved twice counts once.
            for (pageNumber, page) in try UsageReportImporter.pages(data, path: path).enumerated() {
                let decoded = Self.decode(page: page, format: format)
                summary.rows += decoded.items.count + decoded.errors.count
                summary.accepted += decoded.items.count
                summary.rejected += decoded.errors.count
                lines += decoded.items
                for error in decoded.errors {
                    onReject(
                        IngestError(
                            file: path, line: nil, field: "page \(pageNumber + 1), \(error.location)",
                            reason: error.reason))
                }
            }
            if !lines.isEmpty { try await onBatch(lines) }
            return summary
        }
    }

    struct LineFailure: Error {
        var field: String
        var reason: String
    }

    func costLine(bucket: JSONValue, result: JSONValue) -> Result<BillingLine, LineFailure> {
        switch format {
        case .openAICosts:
            guard let start = UsageReportImporter.unixSeconds(bucket["start_time"]),
                let end = UsageReportImporter.unixSeconds(bucket["end_time"])
            else {
                return .failure(
                    LineFailure(field: "start_time", reason: "the bucket has no start_time/end_time in Unix seconds"))
            }
            let currency = result["amount"]?["currency"]?.stringValue ?? ""
            guard currency.lowercased() == "usd" else {
                return .failure(
                    LineFailure(field: "amount.currency", reason: "'\(currency)': only USD bills are reconciled"))
            }
            guard let text = result["amount"]?["value"].flatMap(Self.numberText), let cost = Self.dollars(text)
            else {
                return .failure(LineFailure(field: "amount.value", reason: "not a number"))
            }
            let item = result["line_item"]?.stringValue
            let model = item.flatMap { text in
                text.contains(", ") ? String(text.prefix { $0 != "," }) : nil
            }
            let project = result["project_id"]?.stringValue
            let key = [String(start.seconds), item ?? "", project ?? "", result["api_key_id"]?.stringValue ?? ""]
            return .success(
                BillingLine(
                    id: "openai-costs:" + key.joined(separator: "|"), source: format.rawValue, provider: "openai",
                    model: model, start: start, end: end, cost: cost, description: item, account: project))
        case .anthropicCosts:
            guard let startText = bucket["starting_at"]?.stringValue, let start = Timestamp(parsing: startText),
                let endText = bucket["ending_at"]?.stringValue, let end = Timestamp(parsing: endText)
            else {
                return .failure(
                    LineFailure(field: "starting_at", reason: "the bucket has no RFC 3339 starting_at/ending_at"))
            }
            let currency = result["currency"]?.stringValue ?? ""
            guard currency.uppercased() == "USD" else {
                return .failure(LineFailure(field: "currency", reason: "'\(currency)': only USD bills are reconciled"))
            }
            // The amount is in cents.
            guard let text = result["amount"].flatMap(Self.numberText), let cents = Self.dollars(text) else {
                return .failure(LineFailure(field: "amount", reason: "not a decimal amount (in cents)"))
            }
            let cost = Cost(picodollars: DecimalText.divideRoundingHalfEven(cents.picodollars, by: 100))
            let grouping = [
                "workspace_id", "description", "cost_type", "model", "token_type", "service_tier",
                "context_window", "inference_geo",
            ].map { result[$0]?.stringValue ?? "" }
            return .success(
                BillingLine(
                    id: "anthropic-costs:" + ([startText] + grouping).joined(separator: "|"), source: format.rawValue,
                    provider: "anthropic", model: result["model"]?.stringValue, start: start, end: end, cost: cost,
                    description: result["description"]?.stringValue ?? result["cost_type"]?.stringValue,
                    account: result["workspace_id"]?.stringValue))
        case .focus, .awsCUR, .azureExport, .gcpBilling:
            return .failure(LineFailure(field: "format", reason: "\(format.rawValue) is not a JSON page format"))
        }
    }

    static func numberText(_ value: JSONValue) -> String? {
        switch value {
        case .integer(let number): String(number)
        case .number(let text), .string(let text): text
        default: nil
        }
    }

    /// An exact amount from a decimal, also in E notation (`35.2E-7`, as FOCUS allows).
    static func dollars(_ text: String) -> Cost? {
        let trimmed = text.trimmingWhitespace()
        guard let exponentIndex = trimmed.firstIndex(where: { $0 == "e" || $0 == "E" }) else {
            return Cost(decimal: trimmed)
        }
        guard let exponent = Int(trimmed[trimmed.index(after: exponentIndex)...]), abs(exponent) <= 20,
            let mantissa = DecimalText.parse(trimmed[..<exponentIndex], scale: 18)
        else { return nil }
        // mantissa × 10^18 → picodollars × 10^(6 − exponent).
        let shift = 6 - exponent
        if shift <= 0 {
            var value = mantissa
            for _ in 0..<(-shift) {
                let (product, overflow) = value.multipliedReportingOverflow(by: 10)
                if overflow { return nil }
                value = product
            }
            return Cost(picodollars: value)
        }
        var divisor: Int128 = 1
        for _ in 0..<shift { divisor *= 10 }
        return Cost(picodollars: DecimalText.divideRoundingHalfEven(mantissa, by: divisor))
    }

    // MARK: - CSV bills

    /// What a CSV row of a bill is.
    enum RowResult {
        case line(BillingLine)
        /// A row of another service (an EC2 line in a CUR): not an AI charge, not an error.
        case skip
        case failure(LineFailure)
    }

    /// A row's values by (case-insensitive) column name; empty cells are nil.
    struct Row {
        let values: [String]
        let column: [String: Int]
        func callAsFunction(_ name: String) -> String? {
            column[name.lowercased()].map { values[$0] }.flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    /// The columns a format needs (any one name of each group).
    var requiredColumns: [[String]] {
        switch format {
        case .focus:
            [
                ["BilledCost"], ["BillingCurrency"], ["ChargePeriodStart"], ["ChargePeriodEnd"],
                ["ProviderName", "ServiceProviderName"],
            ]
        case .awsCUR:
            [
                ["line_item_usage_start_date"], ["line_item_usage_end_date"], ["line_item_unblended_cost"],
                ["line_item_product_code", "product_product_family", "product"],
            ]
        case .azureExport:
            [["Date"], ["CostInBillingCurrency", "Cost"], ["MeterName"], ["ConsumedService", "MeterCategory"]]
        case .gcpBilling:
            [
                ["service.description", "service_description"], ["sku.description", "sku_description"],
                ["usage_start_time"], ["cost"],
            ]
        case .openAICosts, .anthropicCosts: []
        }
    }

    func mapRow(_ row: Row) -> RowResult {
        switch format {
        case .focus: focusLine(row)
        case .awsCUR: curLine(row)
        case .azureExport: azureLine(row)
        case .gcpBilling: gcpLine(row)
        case .openAICosts, .anthropicCosts: .failure(LineFailure(field: "format", reason: "not a CSV format"))
        }
    }

    private func runCSV(
        batchSize: Int, onBatch: ([BillingLine]) async throws -> Void, onReject: (IngestError) -> Void
    ) async throws -> Summary {
        let table = try CSVTableReader(path: path)
        let header = table.header
        var column: [String: Int] = [:]
        for (index, name) in header.enumerated() { column[name.lowercased()] = index }
        let missing = requiredColumns.filter { group in !group.contains { column[$0.lowercased()] != nil } }
        guard missing.isEmpty else {
            throw IngestError(
                file: path, line: 1, field: missing.map { $0.joined(separator: " or ") }.joined(separator: ", "),
                reason: "missing column(s) of a \(format.rawValue) export; pass the right --format or fix the header")
        }
        var collector = BillCollector(importer: self, batchSize: batchSize)
        while let record = try table.next() {
            switch record {
            case .malformed(let error):
                collector.reject(error, onReject: onReject)
            case .fields(let line, let values, _):
                guard values.count == header.count else {
                    collector.reject(
                        IngestError(
                            file: path, line: line, field: nil,
                            reason: "has \(values.count) fields but the header has \(header.count)"),
                        onReject: onReject)
                    continue
                }
                try await collector.add(
                    mapRow(Row(values: values, column: column)), line: line,
                    content: values.joined(separator: "\u{1F}"), onBatch: onBatch, onReject: onReject)
            }
        }
        return try await collector.finish(onBatch: onBatch)
    }

    /// Gathers a bill's rows into batches: line ids from each row's content and its position
    /// among identical rows, and the counts of the summary.
    struct BillCollector {
        let importer: BillingImporter
        let batchSize: Int
        var summary = Summary()
        var batch: [BillingLine] = []
        var seen: [String: Int] = [:]

        mutating func reject(_ error: IngestError, onReject: (IngestError) -> Void) {
            summary.rows += 1
            summary.rejected += 1
            onReject(error)
        }

        mutating func add(
            _ result: RowResult, line: Int, content: String, onBatch: ([BillingLine]) async throws -> Void,
            onReject: (IngestError) -> Void
        ) async throws {
            switch result {
            case .line(var billing):
                summary.rows += 1
                let digest = SHA256.hex(content)
                seen[digest, default: 0] += 1
                billing.id = "\(importer.format.rawValue):\(digest.prefix(32)):\(seen[digest]!)"
                batch.append(billing)
                summary.accepted += 1
            case .skip:
                summary.rows += 1
                summary.skipped += 1
            case .failure(let failure):
                reject(
                    IngestError(file: importer.path, line: line, field: failure.field, reason: failure.reason),
                    onReject: onReject)
            }
            if batch.count >= batchSize {
                try await onBatch(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }

        mutating func finish(onBatch: ([BillingLine]) async throws -> Void) async throws -> Summary {
            if !batch.isEmpty { try await onBatch(batch) }
            batch = []
            return summary
        }
    }

    /// `ProviderName` / `PublisherName` / `ServiceName` → the catalog's provider.
    static func focusProvider(provider: String, publisher: String?, service: String?) -> String {
        let service = service?.lowercased() ?? ""
        if service.contains("bedrock") { return "bedrock" }
        if service.contains("vertex") { return "vertex" }
        if service.contains("openai") && (provider.lowercased().contains("microsoft") || service.contains("azure")) {
            return "azure"
        }
        let name = (publisher ?? provider).lowercased()
        for (needle, catalog) in [
            ("openai", "openai"), ("anthropic", "anthropic"), ("google", "google"), ("mistral", "mistral"),
            ("deepseek", "deepseek"), ("groq", "groq"), ("microsoft", "azure"), ("amazon", "bedrock"),
            ("aws", "bedrock"),
        ] where name.contains(needle) {
            return catalog
        }
        return name
    }

    private func focusLine(_ value: Row) -> RowResult {
        guard let currency = value("BillingCurrency"), currency == "USD" else {
            return .failure(
                LineFailure(
                    field: "BillingCurrency",
                    reason: "'\(value("BillingCurrency") ?? "")': only USD bills are reconciled"))
        }
        guard let costText = value("BilledCost"), let cost = Self.dollars(costText) else {
            return .failure(
                LineFailure(field: "BilledCost", reason: "'\(value("BilledCost") ?? "")' is not a FOCUS decimal"))
        }
        guard let startText = value("ChargePeriodStart"), let start = Timestamp(parsing: startText) else {
            return .failure(
                LineFailure(
                    field: "ChargePeriodStart",
                    reason: "'\(value("ChargePeriodStart") ?? "")' is not a date-time such as 2026-10-01T00:00:00Z"))
        }
        guard let endText = value("ChargePeriodEnd"), let end = Timestamp(parsing: endText), end >= start else {
            return .failure(
                LineFailure(
                    field: "ChargePeriodEnd",
                    reason: "'\(value("ChargePeriodEnd") ?? "")' is not a date-time at or after ChargePeriodStart"))
        }
        guard let providerName = value("ServiceProviderName") ?? value("ProviderName") else {
            return .failure(LineFailure(field: "ProviderName", reason: "empty; name the provider"))
        }
        let provider = Self.focusProvider(
            provider: providerName, publisher: value("HostProviderName") == nil ? value("PublisherName") : nil,
            service: value("ServiceName"))
        var model: String?
        if let details = value("SkuPriceDetails"), case .success(let fields) = JSONRowParser.members(of: details.utf8) {
            model = fields["x_Model"]?.stringValue
        }
        if model == nil, value("ChargeCategory") ?? "Usage" == "Usage" { model = value("SkuId") }
        return .line(
            BillingLine(
                id: "", source: "focus", provider: provider, model: model, start: start, end: end, cost: cost,
                description: value("ChargeDescription") ?? value("SkuMeter"),
                account: value("SubAccountId") ?? value("BillingAccountId")))
    }
}
