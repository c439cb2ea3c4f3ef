/// A line of a provider's bill: what was charged, for which model and period. Billing lines are
/// the truth of *what was billed*; usage events are the truth of *who* used it. They are kept
/// apart — a billing line is never a usage event — so the same call seen by the gateway and by
/// the provider's export is never counted twice in any total.
public struct BillingLine: Sendable, Hashable {
    /// Stable id derived from the source row, so importing the same export again adds nothing.
    public var id: String
    /// Where the line came from: `focus`, `openai-costs`, `anthropic-costs`.
    public var source: String
    /// The catalog's provider name (`openai`, `anthropic`, `bedrock`, …).
    public var provider: String
    /// The model the line charges for, when it names one (fees and credits do not).
    public var model: String?
    /// The charge period, start inclusive, end exclusive.
    public var start: Timestamp
    public var end: Timestamp
    /// The billed amount in US dollars (credits are negative).
    public var cost: Cost
    /// The provider's description of the line (line item, SKU, meter).
    public var description: String?
    /// The provider's account, project or workspace.
    public var account: String?

    public init(
        id: String, source: String, provider: String, model: String?, start: Timestamp, end: Timestamp, cost: Cost,
        description: String? = nil, account: String? = nil
    ) {
        self.id = id
        self.source = source
        self.provider = provider
        self.model = model
        self.start = start
        self.end = end
        self.cost = cost
        self.description = description
        self.account = account
    }
}

/// Invoiced against metered cost for one provider and period, per model.
public struct Reconciliation: Sendable, Hashable {
    public struct Row: Sendable, Hashable {
        /// The catalog model both sides resolve to, or the name as billed; nil for lines that
        /// name no model (fees, credits).
        public var model: String?
        /// What the provider billed.
        public var invoiced: Cost
        /// What metered events (gateway, OpenTelemetry, logs, the ingest API) account for.
        public var metered: Cost
        /// Invoiced minus metered.
        public var difference: Cost { invoiced - metered }
        /// The part of the invoice no metered event explains (usage outside the gateway).
        public var unexplained: Cost { invoiced > metered ? invoiced - metered : .zero }
    }

    public var provider: String
    public var from: Timestamp
    public var to: Timestamp
    /// Largest invoiced amount first.
    public var rows: [Row]

    public var invoiced: Cost { rows.reduce(.zero) { $0 + $1.invoiced } }
    public var metered: Cost { rows.reduce(.zero) { $0 + $1.metered } }
    public var unexplained: Cost { rows.reduce(.zero) { $0 + $1.unexplained } }

    /// The unexplained share of the invoice as a decimal fraction with four digits (`"0.1250"`),
    /// or nil when nothing was invoiced.
    public var unexplainedShare: String? {
        let total = invoiced.picodollars
        guard total > 0 else { return nil }
        let tenThousandths = DecimalText.divideRoundingHalfEven(unexplained.picodollars * 10_000, by: total)
        return DecimalText.format(tenThousandths, scale: 4, minimumFractionDigits: 4)
    }

    /// Pairs billed and metered amounts by model. `canonical` maps a model name to the name both
    /// sides are compared under (the catalog's entry, so `gpt-4o-2024-08-06` meets `gpt-4o`).
    public static func reconcile(
        provider: String, from: Timestamp, to: Timestamp, lines: [BillingLine], metered: [(model: String, cost: Cost)],
        canonical: (String) -> String
    ) -> Reconciliation {
        var rows: [String?: Row] = [:]
        for line in lines {
            let model = line.model.map(canonical)
            rows[model, default: Row(model: model, invoiced: .zero, metered: .zero)].invoiced += line.cost
        }
        for (name, cost) in metered {
            let model = canonical(name)
            rows[model, default: Row(model: model, invoiced: .zero, metered: .zero)].metered += cost
        }
        let ordered = rows.values.sorted {
            ($0.invoiced, $0.metered, $1.model ?? "") > ($1.invoiced, $1.metered, $0.model ?? "")
        }
        return Reconciliation(provider: provider, from: from, to: to, rows: ordered)
    }
}
