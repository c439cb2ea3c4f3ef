import LedgerCore

/// Renders a report as an aligned table for people.
enum ReportTable {
    static func render(_ report: Report) -> String {
        let query = report.query
        var columns = query.groupBy.map(\.name)
        if query.granularity != nil { columns.append("period") }
        let first = columns.count
        columns += [
            "requests", "cost (USD)", "share", "$/request", "$/1K tok", "tokens", "cached", "reasoning", "waste",
            "users", "sessions",
        ]
        var table = TextTable(columns: columns, rightAligned: Set(first..<columns.count))
        func cells(_ metrics: ReportMetrics) -> [String] {
            let total = report.totals.cost.picodollars
            let share = total > 0 ? percent(metrics.cost.picodollars, of: total) : "-"
            let prompt = metrics.tokens.prompt
            let cached = prompt > 0 ? percent(Int128(metrics.tokens.cacheRead), of: Int128(prompt)) : "-"
            return [
                grouped(metrics.requests), dollars(metrics.cost), share,
                metrics.costPerRequest.map { "$" + $0.rounded(fractionDigits: 6) } ?? "-",
                metrics.costPerThousandTokens.map { "$" + $0.rounded(fractionDigits: 5) } ?? "-",
                compact(metrics.tokens.total), cached, compact(metrics.tokens.reasoning),
                metrics.wasteShare.map { percent(fraction: $0) } ?? "-",
                metrics.users.map { grouped($0) } ?? "-", metrics.sessions.map { grouped($0) } ?? "-",
            ]
        }
        for row in report.rows {
            var line = row.keys.map { $0 ?? "(unallocated)" }
            if query.granularity != nil { line.append(report.periodLabel(row.period) ?? "") }
            table.append(line + cells(row.metrics))
        }
        var totalLine = Array(repeating: "", count: first)
        if first > 0 { totalLine[0] = "TOTAL" }
        table.append(totalLine + cells(report.totals))
        var output = table.render()
        output +=
            "\n\(report.query.from.iso8601) to \(report.query.to.iso8601) (end exclusive); served from \(report.servedFrom)."
            + report.providerReportsLeftOut.sorted { $0.key < $1.key }.map { provider, cost in
                "\n\(provider): \(ReportTable.dollars(cost)) of the provider's own usage reports left out — metered events cover \(provider) in this period, so the same calls are not counted twice (compare them: tokenledger reconcile --provider \(provider); see them: --where source=\(provider)-usage)."
            }.joined()
        if report.totals.unpricedEvents > 0 {
            output +=
                "\n\(grouped(report.totals.unpricedEvents)) unpriced events (model not in the price catalog): their cost is not included. See them with `tokenledger report --by provider,model`; price them with your own file (--prices FILE)."
        }
        return output
    }

    static func dollars(_ cost: Cost) -> String {
        let text = cost.rounded(fractionDigits: 2)
        let parts = text.split(separator: ".")
        let whole = Int64(parts[0]) ?? 0
        return "$" + grouped(whole) + "." + (parts.count > 1 ? parts[1] : "00")
    }

    static func percent(_ part: Int128, of whole: Int128) -> String {
        let tenths = DecimalText.divideRoundingHalfEven(part * 1000, by: whole)
        return DecimalText.format(tenths, scale: 1, minimumFractionDigits: 1) + "%"
    }

    static func percent(fraction: String) -> String {
        guard let millionths = DecimalText.parse(fraction, scale: 6) else { return fraction }
        return DecimalText.format(
            DecimalText.divideRoundingHalfEven(millionths, by: 1000), scale: 1, minimumFractionDigits: 1) + "%"
    }

    static func compact(_ value: Int64) -> String {
        func scaled(_ unit: Int64, _ suffix: String) -> String {
            DecimalText.format(
                DecimalText.divideRoundingHalfEven(Int128(value) * 10, by: Int128(unit)), scale: 1,
                minimumFractionDigits: 1) + suffix
        }
        switch value {
        case ..<1_000: return grouped(value)
        case ..<999_950: return scaled(1_000, "K")
        case ..<999_950_000: return scaled(1_000_000, "M")
        default: return scaled(1_000_000_000, "B")
        }
    }
}
