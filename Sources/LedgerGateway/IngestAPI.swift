import Hummingbird
import LedgerCore
import LedgerIngest
import LedgerStore
import NIOCore
import Synchronization

/// `POST /api/v1/events`: usage that did not go through the gateway, as a JSON batch of events in
/// the import format (`docs/EVENTS.md`), from collectors, SDK wrappers and batch jobs.
///
/// Authenticated by an ingest key (`tokenledger keys create --ingest`) or the admin key.
/// Idempotent by event id: a batch sent twice records its events once. Each bad event is
/// answered with its index, id, field and reason; the good events of the batch are recorded.
enum IngestAPI {
    /// Events per request; larger batches are refused whole (413), so nothing is half-taken.
    static let maximumEvents = 10_000

    static func register(on router: Router<BasicRequestContext>, gateway: Gateway) {
        router.post("/api/v1/events") { request, _ in
            do {
                return try await gateway.ingestEvents(request)
            } catch let error as IngestError {
                return gateway.adminError(error.status, error.message)
            }
        }
        router.post("/api/v1/outcomes") { request, _ in
            do {
                return try await gateway.ingestOutcomes(request)
            } catch let error as IngestError {
                return gateway.adminError(error.status, error.message)
            }
        }
    }
}

/// A refused ingest request, answered in the admin API's error shape.
struct IngestError: Error {
    var status: Int
    var message: String
}

/// Who sends usage: the admin key (events keep their own attribution) or an ingest key (its owner
/// fills in and fixes the dimensions it names).
struct IngestCaller {
    var owner: Attribution
    var keyID: String?

    /// Applies the caller's ownership to an event: the key's owner fills the dimensions the event
    /// leaves empty and fixes the ones it names. Returns why the event is refused, if it is.
    func own(_ event: inout UsageEvent) -> (field: String, message: String)? {
        if let conflict = owner.conflict(with: event.attribution) {
            return (
                conflict.dimension.rawValue,
                "This ingest key belongs to \(conflict.dimension.rawValue) '\(conflict.owner)' and cannot record usage as '\(conflict.value)'."
            )
        }
        event.attribution.fill(from: owner)
        if let keyID { event.tags["ingest_key"] = keyID }
        return nil
    }
}

extension Gateway {
    /// Authenticates a caller of the ingest endpoints.
    func ingestCaller(_ request: Request) async throws -> IngestCaller {
        if isAdmin(request) { return IngestCaller(owner: Attribution(), keyID: nil) }
        guard let secret = Self.secret(from: request.headers) else {
            throw IngestError(
                status: 401,
                message:
                    "Send an ingest key as 'Authorization: Bearer tl-…' (create one with `tokenledger keys create --ingest --team T`)."
            )
        }
        guard let key = try await key(secret: secret) else {
            throw IngestError(
                status: 401, message: "The key \(VirtualKey.prefix(of: secret)) is not a TokenLedger key.")
        }
        if let reason = key.unusableReason(at: .current) {
            throw IngestError(status: 401, message: "The key \(key.id) cannot be used: \(reason).")
        }
        guard key.policy.purpose == .ingest else {
            throw IngestError(
                status: 403,
                message:
                    "The key \(key.id) is a gateway key: it calls models, it does not send usage. Use an ingest key (`tokenledger keys create --ingest`)."
            )
        }
        return IngestCaller(owner: key.owner, keyID: key.id)
    }

    /// The body's `key` array (`{"events": [...]}`, `{"outcomes": [...]}`), within the batch limit.
    func batch(_ request: Request, key: String) async throws -> [JSONValue] {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: configuration.server.maxBodyBytes)
        } catch {
            throw IngestError(
                status: 413,
                message:
                    "The body is larger than \(configuration.server.maxBodyBytes) bytes (server.max_body_bytes): send smaller batches."
            )
        }
        let fields: [String: JSONValue]
        switch JSONRowParser.members(of: body.readableBytesView) {
        case .success(let members): fields = members
        case .failure(let failure):
            throw IngestError(
                status: 400,
                message: "The body is not a JSON object (\(failure)). Send {\"events\": [{…}, …]} (docs/EVENTS.md).")
        }
        guard case .array(let items) = fields[key] else {
            throw IngestError(
                status: 400, message: "The body has no \"\(key)\" array. Send {\"\(key)\": [{…}, …]}.")
        }
        guard items.count <= IngestAPI.maximumEvents else {
            throw IngestError(
                status: 413,
                message: "\(items.count) \(key) in one batch; at most \(IngestAPI.maximumEvents). Split the batch.")
        }
        return items
    }

    /// `POST /api/v1/outcomes`: business outcomes (`{"outcomes": [{"id","timestamp","feature",
    /// "customer","outcome","count","value"}]}`), idempotent by id; an ingest key that belongs to a
    /// customer records only that customer's outcomes.
    func ingestOutcomes(_ request: Request) async throws -> Response {
        let caller = try await ingestCaller(request)
        let items = try await batch(request, key: "outcomes")
        var accepted: [BusinessOutcome] = []
        var errors: [OrderedJSON] = []
        for (index, item) in items.enumerated() {
            guard case .object(let members) = item else {
                errors.append(.object([("index", .integer(Int64(index))), ("message", .string("not a JSON object"))]))
                continue
            }
            do throws(BusinessOutcome.Problem) {
                var outcome = try BusinessOutcome(members: members)
                if let owner = caller.owner.customer {
                    if let customer = outcome.customer, customer != owner {
                        throw BusinessOutcome.Problem(
                            field: "customer",
                            reason:
                                "This ingest key belongs to customer '\(owner)' and cannot record outcomes for '\(customer)'."
                        )
                    }
                    outcome.customer = owner
                }
                accepted.append(outcome)
            } catch {
                var entry: [(String, OrderedJSON)] = [("index", .integer(Int64(index)))]
                if case .string(let id)? = members["id"] { entry.append(("id", .string(id))) }
                entry.append(("field", .string(error.field)))
                entry.append(("message", .string(error.reason)))
                errors.append(.object(entry))
            }
        }
        let summary = try await ledger.recordOutcomes(accepted)
        return Self.json(
            .object([
                ("received", .integer(Int64(items.count))),
                ("recorded", .integer(Int64(summary.inserted))),
                ("duplicates", .integer(Int64(summary.duplicates))),
                ("rejected", .integer(Int64(errors.count))),
                ("errors", .array(errors)),
            ]),
            status: accepted.isEmpty && !items.isEmpty ? 400 : 200)
    }

    func ingestEvents(_ request: Request) async throws -> Response {
        let caller = try await ingestCaller(request)
        let items = try await batch(request, key: "events")
        let decoder = EventRowDecoder(defaultSource: "api")
        var accepted: [RatedEvent] = []
        var errors: [OrderedJSON] = []
        for (index, item) in items.enumerated() {
            func reject(_ field: String?, _ reason: String, id: String? = nil) {
                var error: [(String, OrderedJSON)] = [("index", .integer(Int64(index)))]
                if let id { error.append(("id", .string(id))) }
                if let field { error.append(("field", .string(field))) }
                error.append(("message", .string(reason)))
                errors.append(.object(error))
            }
            guard case .object(let members) = item else {
                reject(nil, "events[\(index)] is not a JSON object.")
                continue
            }
            guard case .string(let id) = members["id"], !id.isEmpty else {
                reject("id", "Every event needs a non-empty string id: the API is idempotent by event id.")
                continue
            }
            var event: UsageEvent
            do {
                event = try decoder.decode(members, fallbackID: { id })
            } catch {
                reject(error.field, error.reason, id: id)
                continue
            }
            if let refusal = caller.own(&event) {
                reject(refusal.field, refusal.message, id: id)
                continue
            }
            accepted.append(rater.withLock { $0.rate(event) })
        }
        let summary = try await ledger.record(accepted)
        let status = accepted.isEmpty && !items.isEmpty ? 400 : 200
        return Self.json(
            .object([
                ("received", .integer(Int64(items.count))),
                ("recorded", .integer(Int64(summary.inserted))),
                ("duplicates", .integer(Int64(accepted.count - summary.inserted))),
                ("rejected", .integer(Int64(errors.count))),
                ("unpriced", .integer(Int64(accepted.filter { !$0.priced }.count))),
                ("errors", .array(errors)),
            ]),
            status: status)
    }
}

extension Attribution {
    /// The first dimension this owner fixes that `other` sets to another value.
    func conflict(with other: Attribution) -> (dimension: AttributionDimension, owner: String, value: String)? {
        for dimension in AttributionDimension.all {
            if let owner = self[dimension], let value = other[dimension], owner != value {
                return (dimension, owner, value)
            }
        }
        return nil
    }

    /// Sets every dimension this attribution leaves empty from `owner`.
    mutating func fill(from owner: Attribution) {
        for dimension in AttributionDimension.all where self[dimension] == nil {
            if let value = owner[dimension] { self[dimension] = value }
        }
    }
}
