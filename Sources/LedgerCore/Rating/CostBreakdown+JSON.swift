extension CostBreakdown {
    /// The documented JSON form of a quote (`tokenledger price --format json`).
    public func json(provider: String, model: String, serviceTier: ServiceTier, at timestamp: Timestamp) -> OrderedJSON
    {
        .object([
            ("provider", .string(provider)),
            ("model", .string(model)),
            ("resolved_model", .string(resolvedModel)),
            ("region", .optional(region)),
            ("service_tier", .string(serviceTier.rawValue)),
            ("at", .string(timestamp.iso8601)),
            ("price_effective_from", .string(priceEffectiveFrom.dateString)),
            ("total_usd", .string(total.decimalString)),
            (
                "lines",
                .array(
                    lines.map { line in
                        .object([
                            ("kind", .string(line.kind)),
                            ("quantity", .decimal(line.quantityText)),
                            ("unit_price_usd", .string(line.unitPrice.dollarString)),
                            ("price_per", .string(line.priceUnit)),
                            ("cost_usd", .string(line.cost.decimalString)),
                        ])
                    })
            ),
            ("unpriced", .array(unpricedKinds.map(OrderedJSON.string))),
            ("notes", .array(notes.map(OrderedJSON.string))),
        ])
    }
}
