#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Checks a FOCUS 1.2 cost-and-usage file against the spec's column- and row-level rules: column
/// presence and names, nullability, types and formats (numeric, date/time, currency, unit,
/// key-value JSON), allowed values, and the rules between columns (charge periods inside billing
/// periods, quantities present exactly for usage, `ListCost = ListUnitPrice × PricingQuantity`,
/// a service in one category, …). Unlike a dataset-level check, every row is checked.
///
/// Feed it the header, then each record; `finish()` gives the findings.
public struct FocusConformance: Sendable {
    public enum Severity: String, Sendable { case error, warning }

    /// One broken rule: how often, and the first few places.
    public struct Finding: Sendable, Hashable {
        public var rule: String
        public var severity: Severity
        public var message: String
        public var count: Int
        /// `line N, Column='value'` for the first violations.
        public var samples: [String]
    }

    public struct Result: Sendable {
        public var rows: Int
        public var findings: [Finding]
        public var errors: Int { findings.filter { $0.severity == .error }.reduce(0) { $0 + $1.count } }
        public var passed: Bool { !findings.contains { $0.severity == .error } }
    }

    private var header: [String] = []
    private var index: [String: Int] = [:]
    private var findings: [String: Finding] = [:]
    private var order: [String] = []
    private var rows = 0
    private var serviceCategories: [String: Set<String>] = [:]
    private var serviceSubcategories: [String: Set<String>] = [:]
    private var serviceFirstLine: [String: Int] = [:]

    public init() {}

    private mutating func report(
        _ rule: String, _ severity: Severity, _ message: String, line: Int? = nil, column: String? = nil,
        value: String? = nil
    ) {
        if findings[rule] == nil {
            findings[rule] = Finding(rule: rule, severity: severity, message: message, count: 0, samples: [])
            order.append(rule)
        }
        findings[rule]!.count += 1
        if findings[rule]!.samples.count < 3 {
            var sample = line.map { "line \($0)" } ?? "header"
            if let column { sample += ", \(column)" + (value.map { "='\($0)'" } ?? "") }
            findings[rule]!.samples.append(sample)
        }
    }

    /// Column-level rules.
    public mutating func begin(header: [String]) {
        self.header = header
        for (position, name) in header.enumerated() {
            if index[name] != nil {
                report("Columns.unique", .error, "Each column appears once.", column: name)
            }
            index[name] = position
            if FocusSpec.columnsByName[name] == nil {
                if name.hasPrefix("x_") { continue }
                report(
                    "Columns.custom-prefix", .error,
                    "A column that is not a FOCUS 1.2 column must be a custom column whose name starts with 'x_'.",
                    column: name)
            }
        }
        for column in FocusSpec.columns where column.level == .mandatory && index[column.name] == nil {
            report(
                "\(column.name).present", .error, "\(column.name) is mandatory and MUST be present.",
                column: column.name)
        }
        var seenCustom = false
        for name in header {
            if name.hasPrefix("x_") {
                seenCustom = true
            } else if seenCustom, FocusSpec.columnsByName[name] != nil {
                report(
                    "Columns.custom-last", .warning, "Custom columns SHOULD come after all FOCUS columns.", column: name
                )
                break
            }
        }
    }

    private func value(_ values: [String], _ name: String) -> String? {
        guard let position = index[name], position < values.count else { return nil }
        let value = values[position]
        return value.isEmpty ? nil : value
    }

    /// Row-level rules for one record (`line` is its line number in the file).
    public mutating func check(line: Int, values: [String]) {
        rows += 1
        if values.count != header.count {
            report(
                "Rows.width", .error, "Every row has as many fields as the header (\(header.count)).", line: line,
                column: "fields", value: String(values.count))
            return
        }
        for (position, name) in header.enumerated() {
            guard let spec = FocusSpec.columnsByName[name] else { continue }
            let raw = values[position]
            guard !raw.isEmpty else {
                if !spec.nullable {
                    report("\(name).not-null", .error, "\(name) MUST NOT be null.", line: line, column: name)
                }
                continue
            }
            switch spec.type {
            case .decimal:
                if !Self.isNumeric(raw) {
                    report(
                        "\(name).numeric", .error,
                        "\(name) MUST be a number in Numeric Format (digits, optional '.', optional E exponent; no symbols, units, separators or '+').",
                        line: line, column: name, value: raw)
                }
            case .dateTime:
                if !Self.isDateTime(raw) {
                    report(
                        "\(name).date-time", .error, "\(name) MUST be a UTC date/time as YYYY-MM-DDTHH:mm:ssZ.",
                        line: line, column: name, value: raw)
                }
            case .currency:
                if !(raw.utf8.count == 3 && raw.utf8.allSatisfy { $0 >= 65 && $0 <= 90 }) {
                    report(
                        "\(name).currency", .error, "\(name) MUST be an ISO 4217 currency code such as USD.",
                        line: line, column: name, value: raw)
                }
            case .json:
                if let problem = Self.keyValueProblem(raw, skuPriceDetails: name == "SkuPriceDetails") {
                    report(
                        "\(name).key-value", .error, "\(name) MUST be a JSON object in Key-Value Format: \(problem).",
                        line: line, column: name, value: raw)
                }
            case .unit:
                if !Self.isUnit(raw) {
                    report(
                        "\(name).unit-format", .warning,
                        "\(name) SHOULD follow the Unit Format (e.g. 'Tokens', '1000000 Tokens', 'GB-Hours'; never 'per').",
                        line: line, column: name, value: raw)
                }
            case .string:
                break
            }
            if let allowed = spec.allowed, !allowed.contains(raw) {
                report(
                    "\(name).allowed-values", .error,
                    "\(name) MUST be one of: \(allowed.joined(separator: ", ")).", line: line, column: name, value: raw)
            }
        }
        checkRelations(line: line, values: values)
    }

    private mutating func checkRelations(line: Int, values: [String]) {
        let category = value(values, "ChargeCategory")
        let chargeClass = value(values, "ChargeClass")
        let correction = chargeClass == "Correction"
        // Periods.
        for (startName, endName) in [
            ("ChargePeriodStart", "ChargePeriodEnd"), ("BillingPeriodStart", "BillingPeriodEnd"),
        ] {
            if let start = value(values, startName), let end = value(values, endName), Self.isDateTime(start),
                Self.isDateTime(end), !(start < end)
            {
                report(
                    "\(endName).after-start", .error, "\(endName) MUST be after \(startName) (the end is exclusive).",
                    line: line, column: endName, value: end)
            }
        }
        if let chargeStart = value(values, "ChargePeriodStart"), let billingStart = value(values, "BillingPeriodStart"),
            let chargeEnd = value(values, "ChargePeriodEnd"), let billingEnd = value(values, "BillingPeriodEnd"),
            [chargeStart, billingStart, chargeEnd, billingEnd].allSatisfy(Self.isDateTime),
            chargeStart < billingStart || chargeEnd > billingEnd
        {
            report(
                "ChargePeriod.within-billing-period", .error,
                "The charge period MUST lie within the billing period.", line: line, column: "ChargePeriodStart",
                value: chargeStart)
        }
        // Quantities.
        if index["ConsumedQuantity"] != nil {
            let consumed = value(values, "ConsumedQuantity")
            if consumed != nil, category != "Usage" {
                report(
                    "ConsumedQuantity.null-unless-usage", .error,
                    "ConsumedQuantity MUST be null when ChargeCategory is not 'Usage'.", line: line,
                    column: "ChargeCategory", value: category)
            }
            if consumed == nil, category == "Usage", !correction {
                report(
                    "ConsumedQuantity.usage", .error,
                    "ConsumedQuantity MUST NOT be null for a usage charge that is not a correction.", line: line,
                    column: "ConsumedQuantity")
            }
            if index["ConsumedUnit"] != nil, (consumed == nil) != (value(values, "ConsumedUnit") == nil) {
                report(
                    "ConsumedUnit.with-quantity", .error,
                    "ConsumedUnit MUST be null exactly when ConsumedQuantity is null.", line: line,
                    column: "ConsumedUnit", value: value(values, "ConsumedUnit"))
            }
        }
        let pricingQuantity = value(values, "PricingQuantity")
        if pricingQuantity == nil, category == "Usage" || category == "Purchase", !correction {
            report(
                "PricingQuantity.usage-purchase", .error,
                "PricingQuantity MUST NOT be null for usage and purchase charges that are not corrections.",
                line: line, column: "PricingQuantity")
        }
        if pricingQuantity != nil, category == "Tax" {
            report(
                "PricingQuantity.tax", .error, "PricingQuantity MUST be null for tax charges.", line: line,
                column: "PricingQuantity", value: pricingQuantity)
        }
        if (pricingQuantity == nil) != (value(values, "PricingUnit") == nil) {
            report(
                "PricingUnit.with-quantity", .error, "PricingUnit MUST be null exactly when PricingQuantity is null.",
                line: line, column: "PricingUnit", value: value(values, "PricingUnit"))
        }
        // Cost = unit price × pricing quantity.
        for (costName, priceName) in [("ListCost", "ListUnitPrice"), ("ContractedCost", "ContractedUnitPrice")] {
            guard let cost = value(values, costName), let price = value(values, priceName), let pricingQuantity,
                let costValue = ExactDecimal(cost), let priceValue = ExactDecimal(price),
                let quantityValue = ExactDecimal(pricingQuantity)
            else { continue }
            if !costValue.matches(product: priceValue.times(quantityValue)) {
                report(
                    "\(costName).unit-price-times-quantity", .error,
                    "\(costName) MUST equal \(priceName) × PricingQuantity.", line: line, column: costName,
                    value: "\(cost) ≠ \(price) × \(pricingQuantity)")
            }
        }
        // Services.
        if let service = value(values, "ServiceName") {
            serviceFirstLine[service] = serviceFirstLine[service] ?? line
            if let category = value(values, "ServiceCategory") {
                serviceCategories[service, default: []].insert(category)
                if let subcategory = value(values, "ServiceSubcategory"),
                    let known = FocusSpec.serviceSubcategories[category], !known.contains(subcategory)
                {
                    report(
                        "ServiceSubcategory.of-category", .error,
                        "ServiceSubcategory MUST be one of the subcategories of its ServiceCategory.", line: line,
                        column: "ServiceSubcategory", value: "\(subcategory) (category \(category))")
                }
            }
            if let subcategory = value(values, "ServiceSubcategory") {
                serviceSubcategories[service, default: []].insert(subcategory)
            }
        }
        if value(values, "SkuPriceId") != nil, index["SkuId"] != nil, value(values, "SkuId") == nil {
            report(
                "SkuId.with-price-id", .error, "SkuId MUST NOT be null when SkuPriceId is not null.", line: line,
                column: "SkuId")
        }
        for name in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] {
            if let text = value(values, name), let amount = ExactDecimal(text), amount.scaled < 0, category == "Usage",
                !correction
            {
                report(
                    "\(name).usage-not-negative", .warning,
                    "\(name) of a usage charge is normally not negative (credits are ChargeCategory 'Credit').",
                    line: line, column: name, value: text)
            }
        }
    }

    /// Dataset-level rules, then every finding in the order first seen.
    public mutating func finish() -> Result {
        for (service, categories) in serviceCategories.sorted(by: { $0.key < $1.key }) where categories.count > 1 {
            report(
                "ServiceName.one-category", .error, "Each ServiceName MUST map to exactly one ServiceCategory.",
                line: serviceFirstLine[service], column: "ServiceName",
                value: "\(service) → \(categories.sorted().joined(separator: " | "))")
        }
        for (service, subcategories) in serviceSubcategories.sorted(by: { $0.key < $1.key })
        where subcategories.count > 1 {
            report(
                "ServiceName.one-subcategory", .warning,
                "Each ServiceName SHOULD map to exactly one ServiceSubcategory.",
                line: serviceFirstLine[service], column: "ServiceName",
                value: "\(service) → \(subcategories.sorted().joined(separator: " | "))")
        }
        return Result(rows: rows, findings: order.compactMap { findings[$0] })
    }

    // MARK: - Formats

    /// Numeric Format: `-12`, `0.5`, `35.2E-7`; no `+`, no signed positive exponent.
    static func isNumeric(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        var digits = 0
        while let byte = bytes.first, byte >= 48, byte <= 57 {
            digits += 1
            bytes = bytes.dropFirst()
        }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            var fraction = 0
            while let byte = bytes.first, byte >= 48, byte <= 57 {
                fraction += 1
                bytes = bytes.dropFirst()
            }
            if fraction == 0 { return false }
            digits += fraction
        }
        guard digits > 0 else { return false }
        if let byte = bytes.first, byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
            return true
        }
        return bytes.isEmpty
    }

    /// `YYYY-MM-DDTHH:mm:ssZ`, a real instant.
    static func isDateTime(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == 45, bytes[7] == 45, bytes[10] == 84, bytes[13] == 58, bytes[16] == 58,
            bytes[19] == 90
        else { return false }
        guard let time = Timestamp(parsing: text) else { return false }
        return time.iso8601 == text
    }

    /// The Unit Format's shapes, loosely: words, counts and time units joined by `-`, `/` and
    /// spaces, never `per`.
    static func isUnit(_ text: String) -> Bool {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "/" || $0 == "-" })
        guard !words.isEmpty, !words.contains(where: { $0.lowercased() == "per" }) else { return false }
        return text.first != " " && text.last != " " && !text.contains("  ")
    }

    /// Why `text` is not a flat JSON object with scalar values (and, for SkuPriceDetails, FOCUS
    /// or `x_` keys); `nil` when it is.
    static func keyValueProblem(_ text: String, skuPriceDetails: Bool) -> String? {
        guard let value = try? JSONValue(parsing: Data(text.utf8)) else { return "not valid JSON" }
        guard let object = value.objectValue else { return "not a JSON object" }
        for (key, member) in object {
            switch member {
            case .array, .object: return "the value of '\(key)' is an array or object; values must be scalars"
            default: break
            }
            if skuPriceDetails, !FocusSpec.skuPriceDetailKeys.contains(key), !key.hasPrefix("x_") {
                return "'\(key)' is not a FOCUS-defined key; custom keys must start with 'x_'"
            }
        }
        return nil
    }
}

/// A decimal as an exact scaled integer, for comparing costs with price × quantity.
struct ExactDecimal {
    var scaled: Int128
    var scale: Int

    init?(_ text: String) {
        guard FocusConformance.isNumeric(text) else { return nil }
        var mantissa = Substring(text)
        var exponent = 0
        if let e = mantissa.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let parsed = Int(mantissa[mantissa.index(after: e)...]), abs(parsed) < 30 else { return nil }
            exponent = parsed
            mantissa = mantissa[..<e]
        }
        let fraction = mantissa.firstIndex(of: ".").map { mantissa.distance(from: $0, to: mantissa.endIndex) - 1 } ?? 0
        guard fraction - exponent <= 30, let value = DecimalText.parse(mantissa, scale: fraction) else { return nil }
        if exponent > fraction {
            scaled = value * DecimalText.powerOfTen(exponent - fraction)
            scale = 0
        } else {
            scaled = value
            scale = fraction - exponent
        }
    }

    init(scaled: Int128, scale: Int) {
        self.scaled = scaled
        self.scale = scale
    }

    func times(_ other: ExactDecimal) -> ExactDecimal? {
        let (product, overflow) = scaled.multipliedReportingOverflow(by: other.scaled)
        guard !overflow, scale + other.scale <= 36 else { return nil }
        return ExactDecimal(scaled: product, scale: scale + other.scale)
    }

    /// Whether this (written) value equals `product` to within half a unit of its own last digit.
    func matches(product: ExactDecimal?) -> Bool {
        guard let product else { return true }  // too many digits to compare exactly: not judged
        if product.scale <= scale {
            return product.scaled * DecimalText.powerOfTen(scale - product.scale) == scaled
        }
        let widened = scaled * DecimalText.powerOfTen(product.scale - scale)
        let difference = (widened - product.scaled).magnitude
        return difference * 2 <= DecimalText.powerOfTen(product.scale - scale).magnitude
    }
}
