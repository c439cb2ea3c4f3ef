import Foundation
import HTTPTypes
import Hummingbird
import LedgerCore
import LedgerStore
import NIOCore
import NIOPosix

/// Statements and the FOCUS export through the admin API (admin key):
///
/// - `GET /api/v1/statements?period=YYYY-MM&for=customer:acme[&format=json|html|csv]`: the
///   statement (a draft while the month is open, as issued once it is closed), with the rate
///   cards and pools of `chargeback:` in the configuration;
/// - `GET /api/v1/statements/{number}[?format=…]`: a statement already made, by number;
/// - `GET /api/v1/export/focus?period=YYYY-MM`: the month as a FOCUS 1.2 CSV.
///
/// The work reads the ledger synchronously, so it runs on NIO's blocking thread pool, never on an
/// event loop.
enum StatementAPI {
    static func register(on router: Router<BasicRequestContext>, gateway: Gateway) {
        let api = router.group("/api/v1")
        api.get("/statements") { request, _ in
            try await gateway.asAdmin(request) {
                let query = request.uri.queryParameters
                guard let period = query.get("period").flatMap({ BillingPeriod(parsing: $0) }) else {
                    return gateway.adminError(400, "Name the month: ?period=YYYY-MM.")
                }
                guard let subject = query.get("for").flatMap({ StatementSubject(parsing: $0) }) else {
                    return gateway.adminError(400, "Name who the statement is for: &for=customer:acme (or team:…).")
                }
                do {
                    let statement = try await NIOThreadPool.singleton.runIfActive {
                        try gateway.ledger.statement(
                            for: subject, period: period, configuration: gateway.configuration.chargeback,
                            catalog: gateway.catalog, at: .current)
                    }
                    return render(statement, format: query.get("format"), gateway: gateway)
                } catch let error as LedgerStoreError {
                    return gateway.adminError(422, error.description)
                }
            }
        }
        api.get("/statements/:number") { request, context in
            try await gateway.asAdmin(request) {
                let number = context.parameters.get("number") ?? ""
                let statement = try await NIOThreadPool.singleton.runIfActive {
                    try gateway.ledger.storedStatement(number: number)
                }
                guard let statement else { return gateway.adminError(404, "No statement numbered \(number).") }
                return render(statement, format: request.uri.queryParameters.get("format"), gateway: gateway)
            }
        }
        api.get("/export/focus") { request, _ in
            try await gateway.asAdmin(request) {
                guard let period = request.uri.queryParameters.get("period").flatMap({ BillingPeriod(parsing: $0) })
                else {
                    return gateway.adminError(400, "Name the month: ?period=YYYY-MM.")
                }
                let text = try await NIOThreadPool.singleton.runIfActive {
                    let export = try gateway.ledger.focusExport(
                        period: period, catalog: gateway.catalog, billingAccountID: "tokenledger",
                        billingAccountName: "TokenLedger")
                    var text = FocusExport.csvLine(FocusExport.header) + "\n"
                    for row in export.rows() { text += FocusExport.csvLine(row) + "\n" }
                    return text
                }
                return body(text, type: "text/csv; charset=utf-8", filename: "focus-\(period).csv")
            }
        }
    }

    static func render(_ statement: BillingStatement, format: String?, gateway: Gateway) -> Response {
        switch format ?? "json" {
        case "html":
            return body(
                statement.html(issuer: gateway.configuration.chargeback.issuer), type: "text/html; charset=utf-8")
        case "csv":
            return body(statement.csv(), type: "text/csv; charset=utf-8", filename: "\(statement.number).csv")
        case "json": return Gateway.json(statement.json())
        default: return gateway.adminError(400, "format must be json, html or csv.")
        }
    }

    static func body(_ text: String, type: String, filename: String? = nil) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        if let filename { headers[.contentDisposition] = "attachment; filename=\"\(filename)\"" }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
