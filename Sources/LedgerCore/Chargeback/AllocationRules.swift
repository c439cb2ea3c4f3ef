#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Allocation rules ("virtual tags"): ordered rules that give unattributed or mis-attributed spend
/// an owner. Each rule matches events on any dimension, tag, key, provider or model and sets
/// dimension values; a later period can be re-allocated with changed rules.
///
/// Semantics, so that the order of rules is the only thing that matters:
/// - conditions always see the event's recorded values (not what earlier rules set);
/// - for each dimension, the first matching rule that sets it wins;
/// - a rule fills only dimensions the event left empty, unless it says `override: true`.
public struct AllocationRuleSet: Sendable, Hashable, Codable {
    public var rules: [AllocationRule]

    public init(rules: [AllocationRule]) {
        self.rules = rules
    }

    /// Whether any rule reads a per-event field (user, session, region, tags, key), which the
    /// per-dimension-set rollups do not hold.
    public var readsEventFields: Bool { rules.contains { $0.when.readsEventFields } }

    /// The per-event fields any rule reads: an event's allocation depends only on its dimension
    /// set, these fields and its time.
    public var eventFields: Set<ReportDimension> { rules.reduce(into: []) { $0.formUnion($1.when.eventFields) } }

    /// The instants inside `[from, to)` where a rule starts or stops applying, sorted.
    public func boundaries(from: Timestamp, to: Timestamp) -> [Timestamp] {
        var result = Set<Timestamp>()
        for rule in rules {
            for bound in [rule.effectiveFrom, rule.effectiveUntil].compactMap({ $0 }) where from < bound && bound < to {
                result.insert(bound)
            }
        }
        return result.sorted()
    }

    /// The first problem with the rules (duplicate ids, bad regular expressions, targets that are
    /// not allocatable), naming the rule; `nil` when they are usable.
    public func problem() -> String? {
        var seen = Set<String>()
        for (index, rule) in rules.enumerated() {
            let place = "rules[\(index)] (id '\(rule.id)')"
            if rule.id.isEmpty { return "rules[\(index)]: every rule needs an id" }
            if !seen.insert(rule.id).inserted { return "\(place): the id is used twice; ids must be unique" }
            if rule.assignments.isEmpty { return "\(place): 'set' names no dimension to set" }
            for (dimension, value) in rule.assignments {
                if !AllocationRule.targets.contains(dimension) {
                    return
                        "\(place): '\(dimension.rawValue)' cannot be set by a rule; rules set \(AllocationRule.targets.map(\.rawValue).joined(separator: ", "))"
                }
                if value.isEmpty { return "\(place): set.\(dimension.rawValue) is empty; give it a value" }
            }
            for (name, bound) in [("effective_from", rule.effectiveFrom), ("effective_until", rule.effectiveUntil)] {
                // Whole days, so a rule's window never splits a day of the daily rollups.
                if let bound, bound.secondOfDay != 0 || bound.microseconds % 1_000_000 != 0 {
                    return
                        "\(place): \(name) \(bound.iso8601) is not a day; rules take effect on whole days (YYYY-MM-DD, UTC)"
                }
            }
            if let from = rule.effectiveFrom, let until = rule.effectiveUntil, until <= from {
                return "\(place): effective_until \(until.iso8601) is not after effective_from \(from.iso8601)"
            }
            if let problem = rule.when.problem() { return "\(place): \(problem)" }
        }
        return nil
    }

    /// The dimension values the rules give an event at `time`, and the ids of the rules that set
    /// something; `nil` when no rule changes anything.
    public func allocate(_ subject: some AllocationSubject, at time: Timestamp) -> AllocationOutcome? {
        var assigned: [AttributionDimension: String] = [:]
        var ruleIDs: [String] = []
        for rule in rules where rule.applies(at: time) {
            guard rule.when.matches(subject) else { continue }
            var used = false
            for (dimension, value) in rule.assignments where assigned[dimension] == nil {
                let current = subject.value(of: .attribution(dimension)) ?? ""
                guard current.isEmpty || rule.override else { continue }
                assigned[dimension] = value
                if current != value { used = true }
            }
            if used { ruleIDs.append(rule.id) }
        }
        let changes = assigned.filter { subject.value(of: .attribution($0.key)) ?? "" != $0.value }
        return changes.isEmpty ? nil : AllocationOutcome(assignments: changes, rules: ruleIDs)
    }
}

/// What the rules did to one event.
public struct AllocationOutcome: Sendable, Hashable {
    /// The dimensions set, with their new values.
    public var assignments: [AttributionDimension: String]
    /// The rules that set them, in order.
    public var rules: [String]
}

/// The fields a rule can read. Missing values are `nil`.
public protocol AllocationSubject {
    func value(of field: ReportDimension) -> String?
}

extension UsageEvent: AllocationSubject {
    public func value(of field: ReportDimension) -> String? {
        switch field {
        case .provider: provider
        case .model: model
        case .source: source
        case .serviceTier: serviceTier.rawValue
        case .outcome: outcome.rawValue
        case .region: region
        case .attribution(let dimension): attribution[dimension]
        case .tag(let key): tags[key]
        }
    }
}

/// One rule.
public struct AllocationRule: Sendable, Hashable, Codable {
    /// The dimensions a rule may set: the ones reports group spend by. Users and sessions are facts
    /// of a call, not allocations.
    public static let targets: [AttributionDimension] = [
        .organisation, .team, .project, .application, .feature, .customer, .costCentre, .environment,
    ]

    public var id: String
    public var description: String?
    public var when: AllocationCondition
    /// What to set.
    public var assignments: [AttributionDimension: String]
    /// Replace values the event already has (default: only fill empty ones).
    public var override: Bool
    /// From this instant on (inclusive); `nil` is always.
    public var effectiveFrom: Timestamp?
    /// Until this instant (exclusive); `nil` is for ever.
    public var effectiveUntil: Timestamp?

    public init(
        id: String, description: String? = nil, when: AllocationCondition,
        assignments: [AttributionDimension: String], override: Bool = false, effectiveFrom: Timestamp? = nil,
        effectiveUntil: Timestamp? = nil
    ) {
        self.id = id
        self.description = description
        self.when = when
        self.assignments = assignments
        self.override = override
        self.effectiveFrom = effectiveFrom
        self.effectiveUntil = effectiveUntil
    }

    /// Whether the rule is in force at `time`.
    public func applies(at time: Timestamp) -> Bool {
        if let effectiveFrom, time < effectiveFrom { return false }
        if let effectiveUntil, effectiveUntil <= time { return false }
        return true
    }

    enum CodingKeys: String, CodingKey {
        case id, description, when, set, override
        case effectiveFrom = "effective_from"
        case effectiveUntil = "effective_until"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        when = try container.decodeIfPresent(AllocationCondition.self, forKey: .when) ?? .always
        let raw = try container.decode([String: String].self, forKey: .set)
        var assignments: [AttributionDimension: String] = [:]
        for (name, value) in raw {
            guard let dimension = AttributionDimension(rawValue: name) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .set, in: container,
                    debugDescription:
                        "'\(name)' is not a dimension; set one of \(AllocationRule.targets.map(\.rawValue).joined(separator: ", "))"
                )
            }
            assignments[dimension] = value
        }
        self.assignments = assignments
        override = try container.decodeIfPresent(Bool.self, forKey: .override) ?? false
        effectiveFrom = try Self.decodeDate(container, .effectiveFrom)
        effectiveUntil = try Self.decodeDate(container, .effectiveUntil)
    }

    private static func decodeDate(
        _ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
    ) throws -> Timestamp? {
        guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let time = Timestamp(parsing: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container, debugDescription: "'\(text)' is not a date: write YYYY-MM-DD")
        }
        return time
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encode(when, forKey: .when)
        try container.encode(
            Dictionary(uniqueKeysWithValues: assignments.map { ($0.key.rawValue, $0.value) }), forKey: .set)
        if override { try container.encode(true, forKey: .override) }
        try container.encodeIfPresent(effectiveFrom?.iso8601, forKey: .effectiveFrom)
        try container.encodeIfPresent(effectiveUntil?.iso8601, forKey: .effectiveUntil)
    }
}

/// A rule's condition: a field test, or `all` / `any` / `not` of conditions.
public indirect enum AllocationCondition: Sendable, Hashable, Codable {
    case always
    case field(ReportDimension, AllocationMatch)
    case all([AllocationCondition])
    case any([AllocationCondition])
    case not(AllocationCondition)

    /// Whether the condition holds for `subject`.
    public func matches(_ subject: some AllocationSubject) -> Bool {
        switch self {
        case .always: true
        case .field(let field, let match): match.matches(subject.value(of: field))
        case .all(let conditions): conditions.allSatisfy { $0.matches(subject) }
        case .any(let conditions): conditions.contains { $0.matches(subject) }
        case .not(let condition): !condition.matches(subject)
        }
    }

    /// The per-event fields (user, session, region, tags) the condition reads.
    public var eventFields: Set<ReportDimension> {
        switch self {
        case .always: []
        case .field(let field, _): Self.isEventField(field) ? [field] : []
        case .all(let conditions), .any(let conditions): conditions.reduce(into: []) { $0.formUnion($1.eventFields) }
        case .not(let condition): condition.eventFields
        }
    }

    /// Whether the condition reads a field the dimension sets do not hold.
    public var readsEventFields: Bool {
        switch self {
        case .always: false
        case .field(let field, _): Self.isEventField(field)
        case .all(let conditions), .any(let conditions): conditions.contains(where: \.readsEventFields)
        case .not(let condition): condition.readsEventFields
        }
    }

    /// Fields of an event that are not part of its dimension set.
    public static func isEventField(_ field: ReportDimension) -> Bool {
        switch field {
        case .region, .tag, .attribution(.user), .attribution(.session): true
        default: false
        }
    }

    func problem() -> String? {
        switch self {
        case .always: nil
        case .field(let field, let match): match.problem.map { "\(field.name): \($0)" }
        case .all(let conditions), .any(let conditions):
            conditions.lazy.compactMap { $0.problem() }.first
        case .not(let condition): condition.problem()
        }
    }

    private struct Keys: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private static let matchKeys = ["equals", "in", "prefix", "regex", "present"]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let keys = Set(container.allKeys.map(\.stringValue))
        if keys == ["all"] {
            self = .all(try container.decode([AllocationCondition].self, forKey: Keys(stringValue: "all")))
        } else if keys == ["any"] {
            self = .any(try container.decode([AllocationCondition].self, forKey: Keys(stringValue: "any")))
        } else if keys == ["not"] {
            self = .not(try container.decode(AllocationCondition.self, forKey: Keys(stringValue: "not")))
        } else if keys.contains("field") {
            let name = try container.decode(String.self, forKey: Keys(stringValue: "field"))
            let field: ReportDimension
            if name == "key" {
                field = .tag("key")
            } else if let parsed = ReportDimension(name: name.hasPrefix("tag.") ? "tag:" + name.dropFirst(4) : name) {
                field = parsed
            } else {
                throw DecodingError.dataCorruptedError(
                    forKey: Keys(stringValue: "field"), in: container,
                    debugDescription:
                        "'\(name)' is not a field; use provider, model, source, service_tier, outcome, region, key, a dimension (team, customer, …) or tag:NAME"
                )
            }
            let tests = keys.subtracting(["field"])
            guard tests.count == 1, let test = tests.first, Self.matchKeys.contains(test) else {
                throw DecodingError.dataCorruptedError(
                    forKey: Keys(stringValue: "field"), in: container,
                    debugDescription:
                        "a field condition needs exactly one test of \(Self.matchKeys.joined(separator: ", ")); found \(tests.sorted())"
                )
            }
            let key = Keys(stringValue: test)
            let match: AllocationMatch
            switch test {
            case "equals": match = .equals(try container.decode(String.self, forKey: key))
            case "in": match = .oneOf(try container.decode([String].self, forKey: key))
            case "prefix": match = .prefix(try container.decode(String.self, forKey: key))
            case "regex":
                let source = try container.decode(String.self, forKey: key)
                do {
                    match = .regex(try AllocationPattern(source))
                } catch {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: container,
                        debugDescription: "'\(source)' is not a valid regular expression (\(error))")
                }
            default: match = .present(try container.decode(Bool.self, forKey: key))
            }
            self = .field(field, match)
        } else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: decoder.codingPath,
                    debugDescription:
                        "a condition is {field: NAME, equals|in|prefix|regex|present: …}, {all: [...]}, {any: [...]} or {not: {...}}; found keys \(keys.sorted())"
                ))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .always: try container.encode([AllocationCondition](), forKey: Keys(stringValue: "all"))
        case .all(let conditions): try container.encode(conditions, forKey: Keys(stringValue: "all"))
        case .any(let conditions): try container.encode(conditions, forKey: Keys(stringValue: "any"))
        case .not(let condition): try container.encode(condition, forKey: Keys(stringValue: "not"))
        case .field(let field, let match):
            let name: String
            if case .tag(let key) = field { name = key == "key" ? "key" : "tag:" + key } else { name = field.name }
            try container.encode(name, forKey: Keys(stringValue: "field"))
            switch match {
            case .equals(let value): try container.encode(value, forKey: Keys(stringValue: "equals"))
            case .oneOf(let values): try container.encode(values, forKey: Keys(stringValue: "in"))
            case .prefix(let value): try container.encode(value, forKey: Keys(stringValue: "prefix"))
            case .regex(let pattern): try container.encode(pattern.source, forKey: Keys(stringValue: "regex"))
            case .present(let value): try container.encode(value, forKey: Keys(stringValue: "present"))
            }
        }
    }
}

/// A test on one field's value. An absent value is the empty string for `equals`, `in` and
/// `prefix` (so `equals: ""` finds unallocated spend).
public enum AllocationMatch: Sendable, Hashable {
    case equals(String)
    case oneOf([String])
    case prefix(String)
    case regex(AllocationPattern)
    case present(Bool)

    func matches(_ value: String?) -> Bool {
        switch self {
        case .equals(let expected): (value ?? "") == expected
        case .oneOf(let values): values.contains(value ?? "")
        case .prefix(let prefix): (value ?? "").hasPrefix(prefix)
        case .regex(let pattern): pattern.matches(value ?? "")
        case .present(let wanted): (value.map { !$0.isEmpty } ?? false) == wanted
        }
    }

    var problem: String? {
        if case .oneOf(let values) = self, values.isEmpty { return "'in' lists no values" }
        return nil
    }
}

/// A regular expression, searched for anywhere in the value (anchor it with `^…$`).
public struct AllocationPattern: Sendable, Hashable {
    public let source: String
    private let compiled: Compiled

    private final class Compiled: @unchecked Sendable {
        // Regex is immutable once built; matching does not mutate it.
        let regex: Regex<AnyRegexOutput>
        init(_ regex: Regex<AnyRegexOutput>) { self.regex = regex }
    }

    public init(_ source: String) throws {
        do {
            compiled = Compiled(try Regex(source))
        } catch {
            throw PatternError(description: "\(error)")
        }
        self.source = source
    }

    func matches(_ value: String) -> Bool { (try? compiled.regex.firstMatch(in: value)) != nil }

    public static func == (lhs: AllocationPattern, rhs: AllocationPattern) -> Bool { lhs.source == rhs.source }
    public func hash(into hasher: inout Hasher) { hasher.combine(source) }

    /// Why a pattern does not compile.
    public struct PatternError: Error, CustomStringConvertible {
        public var description: String
    }
}
