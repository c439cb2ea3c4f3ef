import Foundation
import Hummingbird
import LedgerCore
import LedgerStore

/// The allocation rules through the admin API (the same rules `tokenledger rules` manages):
///
/// - `GET /api/v1/allocation/rules`: the saved rules and their version;
/// - `PUT /api/v1/allocation/rules`: save `{"rules":[…]}` as a new version (400 names the problem);
/// - `POST /api/v1/allocation/test?period=YYYY-MM`: what the saved rules (or `{"rules":[…]}` in the
///   body) would match and move, nothing written;
/// - `POST /api/v1/allocation/run?period=YYYY-MM`: apply the saved rules to the month (409 when closed).
enum AllocationAPI {
    static func register(on router: Router<BasicRequestContext>, gateway: Gateway) {
        let api = router.group("/api/v1/allocation")
        api.get("/rules") { request, _ in
            try await gateway.asAdmin(request) {
                guard let (version, rules) = try await gateway.ledger.allocationRules() else {
                    return Gateway.json(.object([("version", .null), ("rules", .array([]))]))
                }
                return Gateway.json(.object([("version", .integer(Int64(version))), ("rules", try Self.json(rules))]))
            }
        }
        api.put("/rules") { request, _ in
            try await gateway.asAdmin(request) {
                let rules: AllocationRuleSet
                switch try await Self.rules(request) {
                case .success(let parsed?): rules = parsed
                case .success(nil):
                    return gateway.adminError(400, "Send the rules as {\"rules\": [{…}, …]} (docs/CHARGEBACK.md).")
                case .failure(let problem): return gateway.adminError(400, problem.message)
                }
                let version = try await gateway.ledger.saveAllocationRules(rules, at: .current)
                return Gateway.json(
                    .object([("version", .integer(Int64(version))), ("rules", .integer(Int64(rules.rules.count)))]))
            }
        }
        api.post("/test") { request, _ in
            try await gateway.asAdmin(request) {
                guard let period = Self.period(request) else {
                    return gateway.adminError(400, "Name the month: ?period=YYYY-MM.")
                }
                var rules: AllocationRuleSet
                switch try await Self.rules(request) {
                case .success(let parsed?): rules = parsed
                case .success(nil):
                    guard let saved = try await gateway.ledger.allocationRules() else {
                        return gateway.adminError(404, "No rules saved: send {\"rules\": [...]} to test them.")
                    }
                    rules = saved.rules
                case .failure(let problem): return gateway.adminError(400, problem.message)
                }
                return Gateway.json(try await gateway.ledger.previewAllocation(period: period, rules: rules).json())
            }
        }
        api.post("/run") { request, _ in
            try await gateway.asAdmin(request) {
                guard let period = Self.period(request) else {
                    return gateway.adminError(400, "Name the month: ?period=YYYY-MM.")
                }
                guard let (version, rules) = try await gateway.ledger.allocationRules() else {
                    return gateway.adminError(404, "No rules saved: PUT /api/v1/allocation/rules first.")
                }
                do {
                    let summary = try await gateway.ledger.allocate(
                        period: period, rules: rules, version: version, at: .current)
                    return Gateway.json(summary.json())
                } catch let error as LedgerStoreError {
                    return gateway.adminError(409, error.description)
                }
            }
        }
    }

    struct RulesProblem: Error {
        var message: String
    }

    static func period(_ request: Request) -> BillingPeriod? {
        request.uri.queryParameters.get("period").flatMap { BillingPeriod(parsing: $0) }
    }

    /// The body's rules: `nil` for an empty body, a message naming the problem for bad ones.
    static func rules(_ request: Request) async throws -> Result<AllocationRuleSet?, RulesProblem> {
        let body = try await request.body.collect(upTo: 1 << 20)
        guard body.readableBytes > 0 else { return .success(nil) }
        do {
            let rules = try JSONDecoder().decode(AllocationRuleSet.self, from: Data(body.readableBytesView))
            if let problem = rules.problem() {
                return .failure(RulesProblem(message: "The rules are not usable: \(problem)."))
            }
            return .success(rules)
        } catch let error as DecodingError {
            return .failure(RulesProblem(message: "The rules are not valid \(CatalogFileError.describe(error))."))
        }
    }

    static func json(_ rules: AllocationRuleSet) throws -> OrderedJSON {
        OrderedJSON(try JSONValue(parsing: try JSONEncoder().encode(rules))["rules"] ?? .array([]))
    }
}
