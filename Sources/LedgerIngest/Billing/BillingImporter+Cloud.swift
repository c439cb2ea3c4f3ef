import LedgerCore

/// Cloud bills: the AI lines of an AWS Cost and Usage Report (CUR 2.0), an Azure Cost Management
/// export and a Google Cloud billing export. Rows of other services are skipped, not rejected.
extension BillingImporter {
    /// A billing date-time: RFC 3339, `2026-10-01 00:00:00 UTC` (BigQuery), a date without a
    /// zone (exports are UTC), or `MM/DD/YYYY` (Azure EA exports).
    static func billingTime(_ text: String) -> Timestamp? {
        var text = text.trimmingWhitespace()
        if text.hasSuffix(" UTC") { text = String(text.dropLast(4)) + "Z" }
        if let parsed = Timestamp(parsing: text) { return parsed }
        let parts = text.split(separator: "/")
        if parts.count == 3, parts[2].count == 4, let month = Int(parts[0]), let day = Int(parts[1]) {
            let padded = "\(parts[2])-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day)"
            return Timestamp(parsing: padded)
        }
        return Timestamp(parsing: text + "Z")
    }

    /// A model name as billed (`Claude Sonnet 4.6`, `gpt 4o 0513`, `Gemini 2.5 Pro`) in the
    /// catalog's spelling (`claude-sonnet-4-6`, `gpt-4o`, `gemini-2.5-pro`): lower case, words
    /// joined by hyphens, a trailing four-digit Azure version dropped, Claude's dotted version
    /// hyphenated. `reconcile` then resolves it through the catalog.
    static func catalogSpelling(_ billed: String) -> String {
        var words = billed.lowercased().split { $0 == " " || $0 == "-" || $0 == "_" }.map(String.init)
        if words.count > 1, let last = words.last, last.count == 4, last.allSatisfy(\.isNumber) { words.removeLast() }
        var name = words.joined(separator: "-")
        if name.hasPrefix("claude") { name = name.replacing(".", with: "-") }
        return name
    }

    // MARK: AWS CUR 2.0

    func curLine(_ value: Row) -> RowResult {
        let product = value("product").flatMap { text -> [String: JSONValue]? in
            guard case .success(let members) = JSONRowParser.members(of: text.utf8) else { return nil }
            return members
        }
        let family = value("product_product_family") ?? product?["product_family"]?.stringValue ?? ""
        let service = value("product_servicename") ?? product?["servicename"]?.stringValue ?? ""
        let code = value("line_item_product_code") ?? ""
        guard family == "Amazon Bedrock" || code == "AmazonBedrock" || service.contains("Bedrock") else {
            return .skip
        }
        if let currency = value("line_item_currency_code"), currency != "USD" {
            return .failure(
                LineFailure(field: "line_item_currency_code", reason: "'\(currency)': only USD bills are reconciled"))
        }
        guard let costText = value("line_item_unblended_cost"), let cost = Self.dollars(costText) else {
            return .failure(
                LineFailure(
                    field: "line_item_unblended_cost",
                    reason: "'\(value("line_item_unblended_cost") ?? "")' is not a number"))
        }
        guard let start = value("line_item_usage_start_date").flatMap(Self.billingTime),
            let end = value("line_item_usage_end_date").flatMap(Self.billingTime), end >= start
        else {
            return .failure(
                LineFailure(
                    field: "line_item_usage_start_date",
                    reason: "the usage start and end must be date-times, the end not before the start"))
        }
        // The model: the product map's `model`, else the usage type between the region code and
        // the token class (`USE1-Claude4.6Sonnet-input-tokens`).
        var model = (value("product_model") ?? product?["model"]?.stringValue).map(Self.catalogSpelling)
        let usageType = value("line_item_usage_type") ?? ""
        if model == nil, let dash = usageType.firstIndex(of: "-") {
            let rest = usageType[usageType.index(after: dash)...]
            let cut = ["-mantle-", "-input-", "-output-", "-cache-"].compactMap { rest.firstRange(of: $0)?.lowerBound }
                .min()
            if let cut { model = String(rest[..<cut]) }
        }
        return .line(
            BillingLine(
                id: "", source: format.rawValue, provider: "bedrock", model: model, start: start, end: end, cost: cost,
                description: usageType.isEmpty ? value("line_item_line_item_description") : usageType,
                account: value("line_item_usage_account_id")))
    }

    // MARK: Azure Cost Management export

    func azureLine(_ value: Row) -> RowResult {
        let consumed = value("ConsumedService") ?? ""
        let category = [value("MeterCategory"), value("MeterSubCategory"), value("ProductName")].compactMap { $0 }
            .joined(separator: " ")
        guard
            consumed.caseInsensitiveContains("CognitiveServices") || category.caseInsensitiveContains("OpenAI")
                || category.caseInsensitiveContains("Foundry Models")
        else { return .skip }
        if let currency = value("BillingCurrencyCode") ?? value("BillingCurrency"), currency != "USD" {
            return .failure(
                LineFailure(field: "BillingCurrencyCode", reason: "'\(currency)': only USD bills are reconciled"))
        }
        guard let costText = value("CostInBillingCurrency") ?? value("Cost"), let cost = Self.dollars(costText) else {
            return .failure(LineFailure(field: "CostInBillingCurrency", reason: "not a number"))
        }
        guard let start = value("Date").flatMap(Self.billingTime) else {
            return .failure(
                LineFailure(field: "Date", reason: "'\(value("Date") ?? "")' is not a date (2026-10-01 or 10/01/2026)"))
        }
        // The meter names the model before its token class: `gpt-4o-mini-0718-Inp-glbl Tokens`.
        let meter = value("MeterName") ?? ""
        let lowered = meter.lowercased()
        let markers = [
            " input", "-input", " inp", "-inp", " inpt", " output", "-output", " outp", "-outp", " outpt", " cached",
            "-cached", " ccchd", "-ccchd", " batch", "-batch",
        ]
        var model: String?
        if let cut = markers.compactMap({ lowered.firstRange(of: $0)?.lowerBound }).min() {
            model = Self.catalogSpelling(String(meter[..<cut]))
        }
        return .line(
            BillingLine(
                id: "", source: format.rawValue, provider: "azure", model: model, start: start,
                end: start.adding(seconds: 86_400), cost: cost, description: meter,
                account: value("SubscriptionName") ?? value("SubscriptionId")))
    }

    // MARK: Google Cloud billing export

    /// Vertex AI and the Gemini API, by service id or description.
    static let googleServices: [String: String] = [
        "C7E2-9256-1C43": "vertex", "AEFD-7695-64FA": "google", "Vertex AI": "vertex", "Gemini API": "google",
    ]

    func gcpLine(_ value: Row) -> RowResult {
        gcpLine(
            service: value("service.description") ?? value("service_description"),
            serviceID: value("service.id") ?? value("service_id"),
            sku: value("sku.description") ?? value("sku_description"), start: value("usage_start_time"),
            end: value("usage_end_time"), cost: value("cost"), currency: value("currency"),
            credits: Self.jsonArray(value("credits")), project: value("project.id") ?? value("project_id"))
    }

    /// A JSON array held in a CSV cell (`[{"amount": -0.1, …}]`), or empty.
    static func jsonArray(_ text: String?) -> [JSONValue] {
        guard let text, case .success(let wrapper) = JSONRowParser.members(of: Array(("{\"a\":" + text + "}").utf8))
        else { return [] }
        return wrapper["a"]?.arrayValue ?? []
    }

    func gcpLine(
        service: String?, serviceID: String?, sku: String?, start startText: String?, end endText: String?,
        cost costText: String?, currency: String?, credits: [JSONValue], project: String?
    ) -> RowResult {
        guard
            let provider = serviceID.flatMap({ Self.googleServices[$0] })
                ?? service.flatMap({ Self.googleServices[$0] })
        else { return .skip }
        if let currency, currency != "USD" {
            return .failure(LineFailure(field: "currency", reason: "'\(currency)': only USD bills are reconciled"))
        }
        guard let costText, var cost = Self.dollars(costText) else {
            return .failure(LineFailure(field: "cost", reason: "'\(costText ?? "")' is not a number"))
        }
        // Credits (negative amounts) are part of what is billed.
        for credit in credits {
            if let amount = credit["amount"].flatMap(Self.numberText).flatMap(Self.dollars) { cost += amount }
        }
        guard let start = startText.flatMap(Self.billingTime) else {
            return .failure(
                LineFailure(field: "usage_start_time", reason: "'\(startText ?? "")' is not a date-time"))
        }
        let end = endText.flatMap(Self.billingTime) ?? start
        // `Gemini 2.5 Pro Text Input (≤200k)` → gemini-2.5-pro.
        var model: String?
        if let sku {
            let stops = [" Text", " Input", " Output", " Image", " Audio", " Video", " Thinking", " Global", " Batch"]
            if let cut = stops.compactMap({ sku.firstRange(of: $0)?.lowerBound }).min() {
                model = Self.catalogSpelling(String(sku[..<cut]))
            }
        }
        return .line(
            BillingLine(
                id: "", source: format.rawValue, provider: provider, model: model, start: start, end: max(start, end),
                cost: cost, description: sku, account: project))
    }

    /// BigQuery's newline-delimited JSON export: nested `service`, `sku`, `project`, `credits`.
    func runGCPJSONLines(
        batchSize: Int, onBatch: ([BillingLine]) async throws -> Void, onReject: (IngestError) -> Void
    ) async throws -> Summary {
        var reader = try LineReader(path: path)
        var collector = BillCollector(importer: self, batchSize: batchSize)
        while let outcome = try reader.nextLine({ line, number -> (Int, RowResult, String)? in
            if line.allSatisfy({ $0 == 32 || $0 == 9 }) { return nil }
            guard case .success(let row) = JSONRowParser.members(of: line) else {
                return (number, .failure(LineFailure(field: "-", reason: "not a JSON object")), "")
            }
            func text(_ value: JSONValue?) -> String? { value.flatMap { $0.stringValue ?? Self.numberText($0) } }
            let result = gcpLine(
                service: text(row["service"]?["description"]), serviceID: text(row["service"]?["id"]),
                sku: text(row["sku"]?["description"]), start: text(row["usage_start_time"]),
                end: text(row["usage_end_time"]), cost: text(row["cost"]), currency: text(row["currency"]),
                credits: row["credits"]?.arrayValue ?? [], project: text(row["project"]?["id"]))
            return (number, result, String(decoding: line, as: UTF8.self))
        }) {
            guard let (line, result, raw) = outcome else { continue }
            try await collector.add(result, line: line, content: raw, onBatch: onBatch, onReject: onReject)
        }
        return try await collector.finish(onBatch: onBatch)
    }
}

extension String {
    func caseInsensitiveContains(_ other: String) -> Bool { lowercased().contains(other.lowercased()) }
}
