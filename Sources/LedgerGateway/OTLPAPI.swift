import HTTPTypes
import Hummingbird
import LedgerCore
import LedgerIngest
import LedgerStore
import Logging
import NIOCore
import Synchronization

/// `POST /v1/traces`: an OTLP/HTTP trace receiver (protobuf or JSON, optionally gzip). Spans
/// that follow the OpenTelemetry GenAI conventions become usage events (`GenAISpanMapper`);
/// other spans are accepted and ignored. Authenticated like `/api/v1/events` (an ingest key or
/// the admin key), idempotent by trace and span id.
///
/// Answers follow the OTLP/HTTP specification: 200 with an `ExportTraceServiceResponse` in the
/// request's encoding (with `partial_success` naming the spans refused and why), or an error
/// status with a `google.rpc.Status` body.
enum OTLPAPI {
    static func register(on router: Router<BasicRequestContext>, gateway: Gateway) {
        router.post("/v1/traces") { request, _ in try await gateway.exportTraces(request) }
    }

    enum Encoding {
        case protobuf, json
        var contentType: String { self == .json ? "application/json" : "application/x-protobuf" }
    }

    /// `ExportTraceServiceResponse`, empty or with a partial success.
    static func response(rejected: Int, message: String, encoding: Encoding) -> Response {
        switch encoding {
        case .json:
            let body: OrderedJSON =
                rejected == 0
                ? .object([])
                : .object([
                    (
                        "partialSuccess",
                        .object([("rejectedSpans", .string(String(rejected))), ("errorMessage", .string(message))])
                    )
                ])
            return reply(200, Array(body.serialized().utf8), encoding)
        case .protobuf:
            guard rejected > 0 else { return reply(200, [], encoding) }
            var partial = ProtobufWriter()
            partial.varintField(1, UInt64(rejected))
            partial.stringField(2, message)
            var message = ProtobufWriter()
            message.bytesField(1, partial.bytes)
            return reply(200, message.bytes, encoding)
        }
    }

    /// A `google.rpc.Status` error.
    static func failure(_ status: Int, _ text: String, encoding: Encoding) -> Response {
        // gRPC codes: 3 INVALID_ARGUMENT, 16 UNAUTHENTICATED, 7 PERMISSION_DENIED, 8 RESOURCE_EXHAUSTED.
        let code: UInt64 = [401: 16, 403: 7, 413: 8, 429: 8][status] ?? 3
        switch encoding {
        case .json:
            let body = OrderedJSON.object([("code", .integer(Int64(code))), ("message", .string(text))])
            return reply(status, Array(body.serialized().utf8), encoding)
        case .protobuf:
            var writer = ProtobufWriter()
            writer.varintField(1, code)
            writer.stringField(2, text)
            return reply(status, writer.bytes, encoding)
        }
    }

    private static func reply(_ status: Int, _ bytes: [UInt8], _ encoding: Encoding) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = encoding.contentType
        return Response(
            status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension Gateway {
    static func decodeSpans(_ bytes: some Collection<UInt8>, encoding: OTLPAPI.Encoding) throws(OTLPTraces
        .DecodingError)
        -> [OTLPSpan]
    {
        encoding == .json ? try OTLPTraces.decodeJSON(bytes) : try OTLPTraces.decodeProtobuf(bytes)
    }

    func exportTraces(_ request: Request) async throws -> Response {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        let encoding: OTLPAPI.Encoding
        if contentType.hasPrefix("application/x-protobuf") || contentType.hasPrefix("application/protobuf") {
            encoding = .protobuf
        } else if contentType.hasPrefix("application/json") {
            encoding = .json
        } else {
            return OTLPAPI.failure(
                415, "Send OTLP traces as application/x-protobuf or application/json (not '\(contentType)').",
                encoding: .json)
        }
        do {
            let caller = try await ingestCaller(request)
            let limit = configuration.server.maxBodyBytes
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: limit)
            } catch {
                throw IngestError(
                    status: 413, message: "The body is larger than \(limit) bytes (server.max_body_bytes).")
            }
            let spans: [OTLPSpan]
            do {
                switch request.headers[.contentEncoding]?.lowercased() {
                case nil, "identity":
                    spans = try Self.decodeSpans(body.readableBytesView, encoding: encoding)
                case "gzip", "deflate":
                    let inflated: [UInt8]
                    do {
                        inflated = try Gzip.inflate(body.readableBytesView, limit: limit)
                    } catch {
                        throw IngestError(
                            status: 400, message: "Content-Encoding \(request.headers[.contentEncoding]!): \(error)")
                    }
                    spans = try Self.decodeSpans(inflated, encoding: encoding)
                case let other?:
                    throw IngestError(
                        status: 415, message: "Content-Encoding '\(other)' is not supported; use gzip or none.")
                }
            } catch let error as OTLPTraces.DecodingError {
                throw IngestError(status: 400, message: "The OTLP \(encoding) body cannot be read: \(error).")
            }
            var rated: [RatedEvent] = []
            var rejected: [String] = []
            rater.withLock { rater in
                for span in spans {
                    do throws(EventRowDecoder.FieldError) {
                        guard var event = try spanMapper.event(from: span) else { continue }
                        if let refusal = caller.own(&event) {
                            rejected.append("span \(span.spanID): \(refusal.field): \(refusal.message)")
                            continue
                        }
                        rated.append(rater.rate(event))
                    } catch {
                        rejected.append("span \(span.spanID): \(error.field ?? "?"): \(error.reason)")
                    }
                }
            }
            _ = try await ledger.record(rated)
            if !rejected.isEmpty {
                logger.notice(
                    "OTLP spans refused", metadata: ["count": "\(rejected.count)", "first": "\(rejected[0])"])
            }
            let message =
                rejected.prefix(5).joined(separator: "; ")
                + (rejected.count > 5 ? "; and \(rejected.count - 5) more" : "")
            return OTLPAPI.response(rejected: rejected.count, message: message, encoding: encoding)
        } catch let error as IngestError {
            return OTLPAPI.failure(error.status, error.message, encoding: encoding)
        }
    }
}
