extension ReportMetrics {
    /// The documented JSON fields of a row or of the totals.
    public var jsonFields: [(String, OrderedJSON)] {
        func money(_ cost: Cost?) -> OrderedJSON { cost.map { .string($0.decimalString) } ?? .null }
        func count(_ value: Int64?) -> OrderedJSON { value.map(OrderedJSON.integer) ?? .null }
        var tokenFields: [(String, OrderedJSON)] = [("total", .integer(tokens.total))]
        for kind in TokenKind.all { tokenFields.append((kind.rawValue, .integer(tokens[kind]))) }
        return [
            ("requests", .integer(requests)),
            ("cost_usd", .string(cost.decimalString)),
            ("tokens", .object(tokenFields)),
            (
                "outcomes",
                .object([
                    ("failed", .integer(failed)), ("retried", .integer(retried)), ("cancelled", .integer(cancelled)),
                    ("estimated", .integer(estimated)),
                ])
            ),
            ("wasted_cost_usd", .string(wastedCost.decimalString)),
            ("waste_share", wasteShare.map { .decimal($0) } ?? .null),
            ("cost_per_request_usd", money(costPerRequest)),
            ("cost_per_1k_tokens_usd", money(costPerThousandTokens)),
            ("users", count(users)),
            ("cost_per_user_usd", money(costPer(users))),
            ("sessions", count(sessions)),
            ("cost_per_session_usd", money(costPer(sessions))),
            ("gpu_seconds", .decimal(resources.gpuSecondsText)),
            ("storage_byte_hours", .integer(resources.storageByteHours)),
            ("avg_latency_ms", count(averageLatencyMilliseconds)),
            ("unpriced_events", .integer(unpricedEvents)),
        ]
    }
}

extension Report {
    /// The stable JSON form documented in `docs/REPORTS.md`.
    public var json: OrderedJSON {
        let rowItems: [OrderedJSON] = rows.map { row in
            var fields: [(String, OrderedJSON)] = []
            for (dimension, key) in zip(query.groupBy, row.keys) { fields.append((dimension.name, .optional(key))) }
            if let label = periodLabel(row.period) { fields.append(("period", .string(label))) }
            if row.isOther { fields.append(("other", .bool(true))) }
            return .object(fields + row.metrics.jsonFields)
        }
        return .object([
            ("from", .string(query.from.iso8601)),
            ("to", .string(query.to.iso8601)),
            ("group_by", .array(query.groupBy.map { .string($0.name) })),
            ("granularity", .optional(query.granularity?.rawValue)),
            ("rows", .array(rowItems)),
            ("totals", .object(totals.jsonFields)),
            ("unpriced_events", .integer(totals.unpricedEvents)),
            ("served_from", .string(servedFrom)),
            (
                "provider_reports_left_out_usd",
                .object(
                    providerReportsLeftOut.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.decimalString)) })
            ),
        ])
    }

    /// CSV with a header line; one line per row, no totals line.
    public var csv: String {
        var header = query.groupBy.map(\.name)
        if query.granularity != nil { header.append("period") }
        header += [
            "requests", "failed", "retried", "cancelled", "cost_usd", "wasted_cost_usd", "waste_share",
            "cost_per_request_usd",
            "cost_per_1k_tokens_usd", "users", "sessions", "tokens_total",
        ]
        header += TokenKind.all.map { "tokens_" + $0.rawValue }
        header += ["gpu_seconds", "storage_byte_hours", "unpriced_events"]
        var lines = [header.map(Report.csvField).joined(separator: ",")]
        for row in rows {
            let m = row.metrics
            var cells = row.keys.map { $0 ?? "" }
            if query.granularity != nil { cells.append(periodLabel(row.period) ?? "") }
            cells += [
                String(m.requests), String(m.failed), String(m.retried), String(m.cancelled), m.cost.decimalString,
                m.wastedCost.decimalString, m.wasteShare ?? "", m.costPerRequest?.decimalString ?? "",
                m.costPerThousandTokens?.decimalString ?? "", m.users.map(String.init) ?? "",
                m.sessions.map(String.init) ?? "",
                String(m.tokens.total),
            ]
            cells += TokenKind.all.map { String(m.tokens[$0]) }
            cells += [m.resources.gpuSecondsText, String(m.resources.storageByteHours), String(m.unpricedEvents)]
            lines.append(cells.map(Report.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Quotes a CSV field when it needs it.
    public static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacing("\"", with: "\"\"") + "\""
    }
}
