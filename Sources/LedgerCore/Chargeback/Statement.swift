/// Usage summed for a statement: per catalog model, token kind and feature, with cost in US
/// dollars, and per day for the chart.
public struct StatementUsage: Sendable {
    public struct Key: Sendable, Hashable, Comparable {
        public var model: String
        public var requested: String
        public var kind: String
        public var feature: String

        public static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.model, lhs.kind, lhs.feature, lhs.requested) < (rhs.model, rhs.kind, rhs.feature, rhs.requested)
        }
    }

    public struct Figures: Sendable, Hashable {
        public var quantity: Int64 = 0
        public var cost = Cost.zero
        public var events = 0
    }

    public private(set) var items: [Key: Figures] = [:]
    public private(set) var daily: [Int64: Cost] = [:]
    public private(set) var events = 0
    public private(set) var cost = Cost.zero
    private var rater: Rater

    public init(catalog: PriceCatalog) {
        rater = Rater(catalog: catalog)
    }

    /// Adds one event, split into its billed quantities as the catalog rates them (the event's
    /// recorded cost is kept: a line's cost is the sum of its events' recorded costs, split by kind).
    public mutating func add(_ rated: RatedEvent) {
        events += 1
        cost += rated.cost
        let day = rated.event.timestamp.seconds - rated.event.timestamp.secondOfDay
        daily[day, default: .zero] += rated.cost
        for (key, quantity, cost) in split(rated) {
            items[key, default: Figures()].quantity += quantity
            items[key, default: Figures()].cost += cost
            items[key, default: Figures()].events += 1
        }
    }

    /// An event's statement lines: the keys it adds to, with its quantity and cost on each.
    public mutating func split(_ rated: RatedEvent) -> [(key: Key, quantity: Int64, cost: Cost)] {
        let event = rated.event
        let feature = event.attribution.feature ?? ""
        var lines: [(kind: String, quantity: Int64, cost: Cost)] = []
        var model = rated.resolvedModel ?? event.model
        if let breakdown = try? rater.breakdown(event) {
            model = breakdown.resolvedModel
            lines = breakdown.lines.map { ($0.kind, $0.quantity, $0.cost) }
            for kind in breakdown.unpricedKinds {
                if let tokenKind = TokenKind(rawValue: kind) { lines.append((kind, event.tokens[tokenKind], .zero)) }
            }
            // Keep the recorded total: put any difference (a price file changed since) on the first line.
            let difference = rated.cost - lines.reduce(Cost.zero) { $0 + $1.cost }
            if difference != .zero, !lines.isEmpty { lines[0].cost += difference }
        } else {
            lines = TokenKind.all.filter { event.tokens[$0] > 0 }.map { ($0.rawValue, event.tokens[$0], .zero) }
            if event.resources.gpuMicroseconds > 0 {
                lines.append(("gpu_seconds", event.resources.gpuMicroseconds, .zero))
            }
            if event.resources.storageByteHours > 0 {
                lines.append(("storage_byte_hours", event.resources.storageByteHours, .zero))
            }
            if !lines.isEmpty { lines[0].cost += rated.cost }
        }
        return lines.map { line in
            (Key(model: model, requested: event.model, kind: line.kind, feature: feature), line.quantity, line.cost)
        }
    }
}

/// A numbered statement (showback) or invoice (chargeback) for one owner and period: line items
/// that sum, to the cent, to the total.
public struct BillingStatement: Sendable, Hashable {
    public enum LineType: String, Sendable, Hashable {
        case usage, shared, adjustment, markup, discount, allowance, minimum
    }

    public struct Line: Sendable, Hashable {
        public var number: Int
        public var type: LineType
        public var description: String
        public var model: String?
        public var tokenKind: String?
        public var feature: String?
        public var quantity: Int64?
        public var unit: String?
        /// Price per unit in the statement's currency, when a rate applies.
        public var unitPrice: String?
        /// The exact amount, in pico-units of the currency, before rounding.
        public var exact: Cost
        /// Rounded to the cent: the amount billed.
        public var amount: Cost
        /// How many ledger events make up the line.
        public var events: Int
        /// How to find those events: the filter `tokenledger explain` applies.
        public var trace: [String: String]
    }

    public var number: String
    public var status: String
    public var period: BillingPeriod
    public var subject: StatementSubject
    public var currency: String
    /// Units of the currency per US dollar (6 decimals).
    public var exchangeRate: String
    public var rateCard: String?
    public var lines: [Line]
    public var total: Cost
    /// Cost per day in US dollars (for the chart).
    public var daily: [(day: Timestamp, cost: Cost)]
    public var notes: [String]

    public static func == (lhs: BillingStatement, rhs: BillingStatement) -> Bool {
        lhs.json().serialized() == rhs.json().serialized()
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(json().serialized()) }

    /// The sum of the usage, shared and adjustment lines.
    public var subtotal: Cost {
        lines.filter { [.usage, .shared, .adjustment].contains($0.type) }.reduce(.zero) { $0 + $1.amount }
    }

    public func amount(of type: LineType) -> Cost {
        lines.filter { $0.type == type }.reduce(.zero) { $0 + $1.amount }
    }
}

/// Builds a statement from usage, shared-cost shares and late adjustments, applying a rate card.
public struct StatementBuilder: Sendable {
    /// A pool's share for the subject.
    public struct Share: Sendable, Hashable {
        public var pool: String
        public var description: String
        public var amount: Cost

        public init(pool: String, description: String, amount: Cost) {
            self.pool = pool
            self.description = description
            self.amount = amount
        }
    }

    public var number: String
    public var status: String
    public var period: BillingPeriod
    public var subject: StatementSubject
    public var card: RateCard?
    public var rates: ExchangeRates

    public init(
        number: String, status: String, period: BillingPeriod, subject: StatementSubject, card: RateCard?,
        rates: ExchangeRates
    ) {
        self.number = number
        self.status = status
        self.period = period
        self.subject = subject
        self.card = card
        self.rates = rates
    }

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    static func unit(_ kind: String) -> (name: String, per: Int128) {
        switch kind {
        case "gpu_seconds": ("GPU-hours", Int128(ResourceUsage.microsecondsPerHour))
        case "storage_byte_hours": ("GB-months", 730_000_000_000)
        default: ("1M tokens", 1_000_000)
        }
    }

    public func build(
        usage: StatementUsage, shares: [Share],
        late: [(period: BillingPeriod, usage: StatementUsage, trace: [String: String])]
    ) throws(Problem) -> BillingStatement {
        let currency = card?.currency ?? "USD"
        guard let rate = rates.millionths(currency, at: period.start) else {
            throw Problem(
                description:
                    "No exchange rate for \(currency) on \(period.start.iso8601.prefix(10)): add one under fx: in the configuration (units of \(currency) per US dollar)."
            )
        }
        func convert(_ usd: Cost) -> Cost {
            Cost(picodollars: DecimalText.divideRoundingHalfEven(usd.picodollars * rate, by: 1_000_000))
        }
        var lines: [BillingStatement.Line] = []
        var costBased = Cost.zero
        let base = ["from": period.start.iso8601, "to": period.end.iso8601, subject.dimension.rawValue: subject.value]
        func usageLines(
            _ usage: StatementUsage, type: BillingStatement.LineType, label: String, trace: [String: String]
        ) {
            for (key, figures) in usage.items.sorted(by: { $0.key < $1.key }) {
                let unit = Self.unit(key.kind)
                var line = BillingStatement.Line(
                    number: 0, type: type,
                    description: label + "\(key.model) \(key.kind.replacing("_", with: " "))"
                        + (key.feature.isEmpty ? "" : " — \(key.feature)"),
                    model: key.model, tokenKind: key.kind, feature: key.feature.isEmpty ? nil : key.feature,
                    quantity: figures.quantity, unit: unit.name, unitPrice: nil, exact: .zero, amount: .zero,
                    events: figures.events, trace: trace)
                line.trace["model"] = key.model
                line.trace["kind"] = key.kind
                line.trace["feature"] = key.feature
                if let fixed = card?.fixedPrice(model: key.model, requested: key.requested, kind: key.kind) {
                    line.exact = Cost(
                        picodollars: DecimalText.divideRoundingHalfEven(
                            fixed.picodollars * Int128(figures.quantity), by: unit.per))
                    line.unitPrice = fixed.rounded(fractionDigits: 6)
                } else {
                    line.exact = convert(figures.cost)
                    costBased += line.exact
                }
                lines.append(line)
            }
        }
        usageLines(usage, type: .usage, label: "", trace: base)
        for share in shares.sorted(by: { $0.pool < $1.pool }) {
            let exact = convert(share.amount)
            costBased += exact
            lines.append(
                BillingStatement.Line(
                    number: 0, type: .shared, description: "Shared cost: \(share.description)", model: nil,
                    tokenKind: nil, feature: nil, quantity: nil, unit: nil, unitPrice: nil, exact: exact, amount: .zero,
                    events: 0, trace: base.merging(["pool": share.pool]) { $1 }))
        }
        for (latePeriod, lateUsage, trace) in late {
            usageLines(lateUsage, type: .adjustment, label: "Late usage for \(latePeriod): ", trace: trace)
        }
        let subtotal = lines.reduce(Cost.zero) { $0 + $1.exact }
        var running = subtotal
        func add(_ type: BillingStatement.LineType, _ description: String, _ exact: Cost) {
            guard exact != .zero else { return }
            running += exact
            lines.append(
                BillingStatement.Line(
                    number: 0, type: type, description: description, model: nil, tokenKind: nil, feature: nil,
                    quantity: nil, unit: nil, unitPrice: nil, exact: exact, amount: .zero, events: 0, trace: [:]))
        }
        if let markup = card?.markupPercent.flatMap(PriceAdjustment.init(percent:)), markup != .none {
            let amount = DecimalText.divideRoundingHalfEven(
                costBased.picodollars * Int128(markup.factorTenThousandths - 10_000), by: 10_000)
            add(.markup, "Markup \(markup.percentString)% on cost", Cost(picodollars: amount))
        }
        if let tiers = card?.tiers {
            let reached = tiers.compactMap { tier -> (Cost, PriceAdjustment)? in
                guard let above = RateCard.amount(tier.above),
                    let discount = PriceAdjustment(percent: tier.discountPercent),
                    running > above
                else { return nil }
                return (above, discount)
            }.max { $0.0 < $1.0 }
            if let (above, discount) = reached {
                let amount = DecimalText.divideRoundingHalfEven(
                    running.picodollars * Int128(discount.factorTenThousandths - 10_000), by: 10_000)
                add(
                    .discount,
                    "Volume discount \(discount.percentString)% (over \(above.rounded(fractionDigits: 2)) \(currency))",
                    Cost(picodollars: -amount))
            }
        }
        if let allowance = card?.allowance.flatMap(RateCard.amount), allowance.picodollars > 0, running.picodollars > 0
        {
            let used = min(allowance.picodollars, running.picodollars)
            add(
                .allowance, "Included allowance (\(allowance.rounded(fractionDigits: 2)) \(currency))",
                Cost(picodollars: -used))
        }
        if let minimum = card?.minimum.flatMap(RateCard.amount), running < minimum {
            add(
                .minimum, "Monthly minimum (\(minimum.rounded(fractionDigits: 2)) \(currency))",
                minimum - running)
        }
        let total = Self.roundToCents(&lines)
        for index in lines.indices { lines[index].number = index + 1 }
        var notes: [String] = []
        if card == nil { notes.append("Showback at cost: no rate card for \(subject).") }
        let unpriced = usage.items.filter { $0.value.cost == .zero && $0.value.quantity > 0 }.count
        if unpriced > 0 {
            notes.append("\(unpriced) lines have no catalog price and are at zero unless the rate card prices them.")
        }
        return BillingStatement(
            number: number, status: status, period: period, subject: subject, currency: currency,
            exchangeRate: DecimalText.format(rate, scale: 6, minimumFractionDigits: 2), rateCard: card?.id,
            lines: lines, total: total,
            daily: usage.daily.sorted { $0.key < $1.key }.map { (Timestamp(seconds: $0.key), $0.value) },
            notes: notes)
    }

    /// Rounds every line to the cent so the rounded lines sum exactly to the rounded total:
    /// each line takes the cent below its exact amount, and the cents the total still needs go to
    /// the lines with the largest remainders (ties to the earlier line). Returns the total.
    static func roundToCents(_ lines: inout [BillingStatement.Line]) -> Cost {
        let cent: Int128 = 10_000_000_000
        let exactTotal = lines.reduce(Int128(0)) { $0 + $1.exact.picodollars }
        let totalCents = DecimalText.divideRoundingHalfEven(exactTotal, by: cent)
        var floors: [Int128] = []
        var remainders: [Int128] = []
        for line in lines {
            let value = line.exact.picodollars
            var quotient = value / cent
            if value % cent != 0, value < 0 { quotient -= 1 }
            floors.append(quotient)
            remainders.append(value - quotient * cent)
        }
        var missing = totalCents - floors.reduce(0, +)
        let order = lines.indices.sorted {
            remainders[$0] != remainders[$1] ? remainders[$0] > remainders[$1] : $0 < $1
        }
        for index in order where missing > 0 {
            floors[index] += 1
            missing -= 1
        }
        for index in lines.indices { lines[index].amount = Cost(picodollars: floors[index] * cent) }
        return Cost(picodollars: totalCents * cent)
    }
}
