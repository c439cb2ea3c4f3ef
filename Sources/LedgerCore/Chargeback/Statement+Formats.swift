#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension BillingStatement {
    static func money(_ cost: Cost) -> String { cost.rounded(fractionDigits: 2) }

    /// The statement as JSON: amounts are decimal strings in the statement's currency.
    public func json() -> OrderedJSON {
        func optional(_ value: String?) -> OrderedJSON { value.map(OrderedJSON.string) ?? .null }
        return .object([
            ("number", .string(number)),
            ("status", .string(status)),
            ("period", .string(period.description)),
            ("for", .string(subject.description)),
            ("currency", .string(currency)),
            ("exchange_rate_per_usd", .decimal(exchangeRate)),
            ("rate_card", optional(rateCard)),
            (
                "lines",
                .array(
                    lines.map { line in
                        .object([
                            ("line", .integer(Int64(line.number))),
                            ("type", .string(line.type.rawValue)),
                            ("description", .string(line.description)),
                            ("model", optional(line.model)),
                            ("token_kind", optional(line.tokenKind)),
                            ("feature", optional(line.feature)),
                            ("quantity", line.quantity.map(OrderedJSON.integer) ?? .null),
                            ("unit", optional(line.unit)),
                            ("unit_price", optional(line.unitPrice)),
                            ("exact_amount", .string(line.exact.decimalString)),
                            ("amount", .string(Self.money(line.amount))),
                            ("events", .integer(Int64(line.events))),
                            (
                                "trace",
                                .object(line.trace.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
                            ),
                        ])
                    })
            ),
            ("subtotal", .string(Self.money(subtotal))),
            ("markup", .string(Self.money(amount(of: .markup)))),
            ("discount", .string(Self.money(amount(of: .discount)))),
            ("allowance", .string(Self.money(amount(of: .allowance)))),
            ("minimum", .string(Self.money(amount(of: .minimum)))),
            ("total", .string(Self.money(total))),
            (
                "cost_by_day_usd",
                .array(
                    daily.map {
                        .object([
                            ("day", .string(String($0.day.iso8601.prefix(10)))),
                            ("cost", .string($0.cost.decimalString)),
                        ])
                    })
            ),
            ("notes", .array(notes.map(OrderedJSON.string))),
        ])
    }

    /// Reads a statement back from its JSON (issued statements are kept as JSON).
    public init?(json value: JSONValue) {
        func text(_ key: String, _ object: JSONValue) -> String? { object[key]?.stringValue }
        func amount(_ text: String?) -> Cost? {
            text.flatMap { DecimalText.parse($0, scale: 12) }.map { Cost(picodollars: $0) }
        }
        guard let number = text("number", value), let status = text("status", value),
            let period = text("period", value).flatMap({ BillingPeriod(parsing: $0) }),
            let subject = text("for", value).flatMap({ StatementSubject(parsing: $0) }),
            let currency = text("currency", value), let total = amount(text("total", value)),
            let lineValues = value["lines"]?.arrayValue
        else { return nil }
        var rate = "1.00"
        if case .number(let number)? = value["exchange_rate_per_usd"] { rate = number }
        if case .integer(let number)? = value["exchange_rate_per_usd"] { rate = String(number) }
        var lines: [Line] = []
        for entry in lineValues {
            guard case .integer(let lineNumber)? = entry["line"], let type = text("type", entry).flatMap(LineType.init),
                let exact = amount(text("exact_amount", entry)), let billed = amount(text("amount", entry))
            else { return nil }
            var quantity: Int64?
            if case .integer(let value)? = entry["quantity"] { quantity = value }
            var events = 0
            if case .integer(let value)? = entry["events"] { events = Int(value) }
            let trace = (entry["trace"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
            lines.append(
                Line(
                    number: Int(lineNumber), type: type, description: text("description", entry) ?? "",
                    model: text("model", entry), tokenKind: text("token_kind", entry), feature: text("feature", entry),
                    quantity: quantity, unit: text("unit", entry), unitPrice: text("unit_price", entry), exact: exact,
                    amount: billed, events: events, trace: trace))
        }
        let daily = (value["cost_by_day_usd"]?.arrayValue ?? []).compactMap { day -> (Timestamp, Cost)? in
            guard let time = text("day", day).flatMap({ Timestamp(parsing: $0) }), let cost = amount(text("cost", day))
            else { return nil }
            return (time, cost)
        }
        self.init(
            number: number, status: status, period: period, subject: subject, currency: currency, exchangeRate: rate,
            rateCard: text("rate_card", value), lines: lines, total: total, daily: daily,
            notes: (value["notes"]?.arrayValue ?? []).compactMap(\.stringValue))
    }

    /// The statement as CSV: one row per line, then the total.
    public func csv() -> String {
        var rows = [
            "statement,period,for,currency,line,type,description,model,token_kind,feature,quantity,unit,unit_price,amount,events"
        ]
        for line in lines {
            rows.append(
                FocusExport.csvLine([
                    number, period.description, subject.description, currency, String(line.number), line.type.rawValue,
                    line.description, line.model, line.tokenKind, line.feature, line.quantity.map(String.init),
                    line.unit, line.unitPrice, Self.money(line.amount), String(line.events),
                ]))
        }
        rows.append(
            FocusExport.csvLine([
                number, period.description, subject.description, currency, nil, "total", "Total", nil, nil, nil, nil,
                nil, nil, Self.money(total), String(lines.reduce(0) { $0 + $1.events }),
            ]))
        return rows.joined(separator: "\n") + "\n"
    }

    private static func escape(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;")
            .replacing("\"", with: "&quot;")
    }

    /// A line's quantity in the unit it is counted in, grouped by thousands: `1,234,567 tokens`,
    /// `12.5 GPU-seconds` (recorded in microseconds), `3,600 byte-hours`. The line's `unit` is
    /// the unit its price is per.
    public static func quantityText(_ line: Line, negativeSign: String = "−") -> String? {
        guard let quantity = line.quantity else { return nil }
        switch line.unit {
        case "GPU-hours":
            return grouped(ResourceUsage(gpuMicroseconds: quantity).gpuSecondsText, negativeSign: negativeSign)
                + " GPU-seconds"
        case "GB-months": return grouped(String(quantity), negativeSign: negativeSign) + " byte-hours"
        case "1M tokens", nil: return grouped(String(quantity), negativeSign: negativeSign) + " tokens"
        case let unit?: return grouped(String(quantity), negativeSign: negativeSign) + " " + unit
        }
    }

    private static func grouped(_ text: String, negativeSign: String = "−") -> String {
        let negative = text.hasPrefix("-")
        let body = negative ? String(text.dropFirst()) : text
        let parts = body.split(separator: ".", maxSplits: 1)
        var whole = ""
        for (index, character) in parts[0].enumerated() {
            if index > 0, (parts[0].count - index) % 3 == 0 { whole.append(",") }
            whole.append(character)
        }
        return (negative ? negativeSign : "") + whole + (parts.count > 1 ? "." + parts[1] : "")
    }

    /// A printable HTML page, self-contained, with the period's daily usage as an inline SVG chart.
    public func html(issuer: String = "TokenLedger") -> String {
        let title = status == "issued" ? "Invoice" : "Statement (draft)"
        var rows = ""
        for line in lines {
            let quantity = Self.quantityText(line) ?? ""
            rows += """
                <tr class="\(line.type.rawValue)"><td class="n">\(line.number)</td><td>\(Self.escape(line.description))</td>\
                <td class="r">\(Self.escape(quantity))</td><td class="r">\(Self.grouped(Self.money(line.amount)))</td></tr>

                """
        }
        let summary = [
            ("Subtotal", subtotal), ("Markup", amount(of: .markup)), ("Discount", amount(of: .discount)),
            ("Allowance", amount(of: .allowance)), ("Minimum", amount(of: .minimum)),
        ].filter { $0.0 == "Subtotal" || $0.1 != .zero }
        let summaryRows = summary.map {
            "<tr><td>\($0.0)</td><td class=\"r\">\(Self.grouped(Self.money($0.1)))</td></tr>"
        }.joined()
        let notesHTML = notes.map { "<p class=\"note\">\(Self.escape($0))</p>" }.joined()
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title) \(Self.escape(number))</title>
            <style>
            body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d2433;margin:40px auto;max-width:860px;padding:0 24px}
            header{display:flex;justify-content:space-between;align-items:flex-start;border-bottom:3px solid #2f5bea;padding-bottom:16px}
            h1{font-size:26px;margin:0;color:#2f5bea}.meta{text-align:right;color:#5a6478}.meta b{color:#1d2433}
            table{width:100%;border-collapse:collapse;margin-top:18px}th{text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5a6478;border-bottom:1px solid #d5dae3;padding:6px 8px}
            td{padding:6px 8px;border-bottom:1px solid #eef0f4;vertical-align:top}.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.n{color:#8a93a6;width:28px}
            tr.markup td,tr.discount td,tr.allowance td,tr.minimum td{color:#3d4760;font-style:italic}tr.shared td{background:#f6f8fd}tr.adjustment td{background:#fff8ec}
            .totals{margin-left:auto;width:320px;margin-top:10px}.totals td{border:none;padding:3px 8px}.grand td{font-size:18px;font-weight:700;border-top:2px solid #1d2433;padding-top:8px}
            .chart{margin-top:26px}.chart h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#5a6478;margin:0 0 6px}
            .note{color:#5a6478;font-size:12px}@media print{body{margin:0}}
            </style></head><body>
            <header><div><h1>\(title)</h1><div>\(Self.escape(issuer))</div></div>
            <div class="meta"><div>No. <b>\(Self.escape(number))</b></div><div>Period <b>\(period.description)</b></div>\
            <div>For <b>\(Self.escape(subject.description))</b></div><div>Currency <b>\(currency)</b>\(currency == "USD" ? "" : " (\(exchangeRate) per USD)")</div>\
            \(rateCard.map { "<div>Rate card <b>\(Self.escape($0))</b></div>" } ?? "")</div></header>
            <table><thead><tr><th>#</th><th>Description</th><th class="r">Quantity</th><th class="r">Amount (\(currency))</th></tr></thead><tbody>
            \(rows)</tbody></table>
            <table class="totals">\(summaryRows)<tr class="grand"><td>Total</td><td class="r">\(Self.grouped(Self.money(total))) \(currency)</td></tr></table>
            <div class="chart"><h2>Usage by day (cost at provider prices, USD)</h2>\(chart())</div>
            \(notesHTML)
            <p class="note">Every line traces to ledger events: tokenledger explain \(Self.escape(number))/LINE</p>
            </body></html>

            """
    }

    /// Daily cost as an SVG bar chart, one bar per day of the period.
    func chart() -> String {
        let width = 800
        let height = 140
        var days: [Int64: Cost] = [:]
        for (day, cost) in daily { days[day.seconds] = cost }
        var count = 0
        var day = period.start
        var values: [(Timestamp, Int128)] = []
        while day < period.end {
            values.append((day, days[day.seconds]?.picodollars ?? 0))
            day = day.adding(seconds: 86_400)
            count += 1
        }
        let peak = max(values.map(\.1).max() ?? 0, 1)
        let slot = Double(width) / Double(max(count, 1))
        var bars = ""
        for (index, (time, value)) in values.enumerated() {
            let barHeight = Double(value) / Double(peak) * Double(height - 20)
            let x = Double(index) * slot + 1
            bars +=
                "<rect x=\"\(Self.fixed(x))\" y=\"\(Self.fixed(Double(height - 16) - barHeight))\" width=\"\(Self.fixed(max(slot - 2, 1)))\" height=\"\(Self.fixed(barHeight))\" fill=\"#2f5bea\"><title>\(time.iso8601.prefix(10)): $\(Cost(picodollars: value).rounded(fractionDigits: 2))</title></rect>"
            if index % 7 == 0 {
                bars +=
                    "<text x=\"\(Self.fixed(x))\" y=\"\(height - 2)\" font-size=\"10\" fill=\"#8a93a6\">\(time.iso8601.dropFirst(5).prefix(5))</text>"
            }
        }
        return
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" width=\"100%\" role=\"img\" aria-label=\"Usage by day\">\(bars)</svg>"
    }

    private static func fixed(_ value: Double) -> String {
        // Chart geometry only (never money): one decimal is plenty.
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
