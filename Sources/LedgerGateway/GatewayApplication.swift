import Foundation
import HTTPTypes
public import Hummingbird
import HummingbirdCore
import LedgerCore
import LedgerStore
public import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// The HTTP server: provider APIs, the admin API, `/health` and `/metrics`.
public enum GatewayApplication {
    /// The routes. The provider API routes are not among them: ``ProviderChannelHandler`` serves
    /// those before a request reaches the router.
    public static func router(gateway: Gateway) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/v1/models") { request, _ in await gateway.listModels(request: request) }
        router.get("/health") { _, _ in await gateway.health() }
        router.head("/health") { _, _ in await gateway.health() }
        router.get("/metrics") { _, _ in await gateway.metricsResponse() }
        AdminAPI.register(on: router, gateway: gateway)
        IngestAPI.register(on: router, gateway: gateway)
        AllocationAPI.register(on: router, gateway: gateway)
        StatementAPI.register(on: router, gateway: gateway)
        OTLPAPI.register(on: router, gateway: gateway)
        // Anything else under /v1 is refused: there is no unmetered pass-through.
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] {
            router.on("/v1/**", method: method) { request, _ in
                let family: APIFamily = request.uri.path.hasPrefix("/v1/messages") ? .anthropic : .openAI
                return gateway.errorResponse(
                    family, status: 404,
                    message:
                        "TokenLedger does not serve \(request.method) \(request.uri.path). Metered routes: \(APIRoute.allCases.map(\.rawValue).joined(separator: ", ")), GET /v1/models.",
                    code: "unknown_route", requestID: Gateway.newRequestID())
            }
        }
        return router
    }

    /// The application listening on `host:port`.
    public static func application(
        gateway: Gateway, host: String, port: Int, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(gateway: gateway),
            server: HTTPServerBuilder { responder in
                ProviderHTTP1Channel(inner: HTTP1Channel(responder: responder), gateway: gateway)
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "TokenLedger"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}

/// Hummingbird's HTTP/1.1 connection with ``ProviderChannelHandler`` in place of NIO's HTTP/1.1
/// codec: it reads every request, serves the provider routes, and hands the rest to Hummingbird's
/// handlers as NIO's request parts.
struct ProviderHTTP1Channel: ServerChildChannel {
    let inner: HTTP1Channel
    let gateway: Gateway

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        let gateway = self.gateway
        return channel.eventLoop.makeCompletedFuture {
            // A streamed answer is many small writes: each goes out at once, not when the
            // caller acknowledges the one before (Nagle's algorithm with delayed ACKs).
            try channel.syncOptions?.setOption(.socketOption(.tcp_nodelay), value: 1)
            // The pipeline of `HTTP1Channel.setup`, with this codec instead of NIO's.
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(ProviderChannelHandler(gateway: gateway))
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(HTTPConnectionStateHandler(logger: logger))
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension Gateway {
    /// `GET /v1/models`: the models the caller's key may use, in OpenAI's list format.
    func listModels(request: Request) async -> Response {
        guard let secret = Self.secret(from: request.headers), let key = try? await key(secret: secret),
            key.unusableReason(at: .current) == nil
        else {
            return errorResponse(
                .openAI, status: 401, message: "Send a valid TokenLedger key to list the models it may use.",
                code: "invalid_api_key", requestID: Self.newRequestID())
        }
        let created = Int64(key.createdAt.seconds)
        let data = models(for: key).map { name -> OrderedJSON in
            .object([
                ("id", .string(name)), ("object", .string("model")), ("created", .integer(created)),
                (
                    "owned_by",
                    .string(
                        upstream(for: configuration.aliases[name] ?? name, route: .chatCompletions)?.name
                            ?? "tokenledger")
                ),
            ])
        }
        return Self.json(.object([("object", .string("list")), ("data", .array(data))]))
    }

    /// `GET /health`.
    func health() async -> Response {
        let pending = sink.pendingCount
        let ledgerOK = (try? await ledger.statistics()) != nil
        let body = OrderedJSON.object([
            ("status", .string(ledgerOK ? "ok" : "degraded")), ("ledger", .string(ledgerOK ? "ok" : "unavailable")),
            ("spool_pending", .integer(Int64(pending))),
        ])
        return Self.json(body, status: ledgerOK ? 200 : 503)
    }

    /// `GET /metrics`: Prometheus text, with budget utilisation for team, project and organisation
    /// budgets (key, user and customer budgets would make unbounded series).
    func metricsResponse() async -> Response {
        var extra: [String] = [
            "# HELP tokenledger_spool_pending Usage events spooled and not yet in the ledger.",
            "# TYPE tokenledger_spool_pending gauge", "tokenledger_spool_pending \(sink.pendingCount)",
        ]
        let budgets =
            (try? await governance.budgets())?.filter {
                [.team, .project, .organisation].contains($0.scope) && $0.subject != "*"
            } ?? []
        if let statuses = try? await governance.status(of: budgets, now: .current), !statuses.isEmpty {
            extra.append("# HELP tokenledger_budget_utilisation_ratio Spent over limit in the current period.")
            extra.append("# TYPE tokenledger_budget_utilisation_ratio gauge")
            for status in statuses {
                let ratio = Double(status.spent.picodollars) / Double(max(status.budget.limit.picodollars, 1))
                extra.append(
                    "tokenledger_budget_utilisation_ratio{scope=\"\(status.budget.scope.rawValue)\",subject=\"\(status.budget.subject)\",period=\"\(status.budget.period.rawValue)\",hard=\"\(status.budget.hard)\"} \(ratio)"
                )
            }
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.render(extra: extra))))
    }

    static func json(_ value: OrderedJSON, status: Int = 200) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(
            status: .init(code: status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized() + "\n")))
    }
}
