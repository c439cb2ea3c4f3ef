import LedgerCore
import LedgerIngest
import Testing

/// Builds OTLP protobuf messages for tests, field by field (opentelemetry-proto trace/v1).
extension ProtobufWriter {
    /// A KeyValue with a string or an int value.
    mutating func attribute(_ number: UInt64, _ key: String, _ value: any Sendable) {
        messageField(number) { keyValue in
            keyValue.stringField(1, key)
            keyValue.messageField(2) { any in
                if let text = value as? String {
                    any.stringField(1, text)
                } else if let int = value as? Int {
                    any.varintField(3, UInt64(bitPattern: Int64(int)))
                }
            }
        }
    }

    /// An ExportTraceServiceRequest with one resource and the given spans.
    static func request(
        resource: [(String, any Sendable)], spans: [[(String, any Sendable)]], error: Bool = false
    ) -> [UInt8] {
        var request = ProtobufWriter()
        request.messageField(1) { resourceSpans in
            resourceSpans.messageField(1) { resourceMessage in
                for (key, value) in resource { resourceMessage.attribute(1, key, value) }
            }
            resourceSpans.messageField(2) { scope in
                for (index, attributes) in spans.enumerated() {
                    scope.messageField(2) { span in
                        span.bytesField(1, Array(repeating: 0xAB, count: 16))
                        span.bytesField(2, [0, 0, 0, 0, 0, 0, 0, UInt8(index + 1)])
                        span.stringField(5, "chat")
                        span.varintField(6, 3)
                        span.fixed64Field(7, 1_793_613_600_000_000_000)
                        span.fixed64Field(8, 1_793_613_601_250_000_000)
                        for (key, value) in attributes { span.attribute(9, key, value) }
                        if error { span.messageField(15) { status in status.varintField(3, 2) } }
                    }
                }
            }
        }
        return request.bytes
    }
}

struct OTLPTests {
    static let chat: [(String, any Sendable)] = [
        ("gen_ai.operation.name", "chat"), ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "gpt-4o-mini"), ("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
        ("gen_ai.usage.input_tokens", 1000), ("gen_ai.usage.output_tokens", 300),
        ("gen_ai.usage.cache_read.input_tokens", 400), ("gen_ai.usage.reasoning.output_tokens", 100),
        ("user.id", "alice"),
    ]

    @Test func protobufSpansBecomeDisjointUsageEvents() throws {
        let bytes = ProtobufWriter.request(
            resource: [("service.name", "support-bot"), ("deployment.environment.name", "prod")],
            spans: [Self.chat, [("gen_ai.operation.name", "execute_tool"), ("gen_ai.usage.input_tokens", 5)], []])
        let spans = try OTLPTraces.decodeProtobuf(bytes)
        #expect(spans.count == 3)
        #expect(spans[0].traceID == String(repeating: "ab", count: 16) && spans[0].spanID == "0000000000000001")
        let mapper = GenAISpanMapper()
        let event = try #require(try mapper.event(from: spans[0]))
        #expect(event.id == "otel-\(String(repeating: "ab", count: 16))-0000000000000001")
        #expect(event.provider == "openai" && event.model == "gpt-4o-mini-2024-07-18" && event.source == "otel")
        // input_tokens includes the cache reads; output_tokens includes reasoning.
        #expect(event.tokens.input == 600 && event.tokens.cacheRead == 400)
        #expect(event.tokens.output == 200 && event.tokens.reasoning == 100)
        #expect(event.latencyMilliseconds == 1250)
        #expect(event.timestamp.iso8601 == "2026-11-02T10:00:01.25Z")
        #expect(event.attribution.application == "support-bot" && event.attribution.environment == "prod")
        #expect(event.attribution.user == "alice")
        // A tool span and a span without GenAI attributes are not model calls.
        #expect(try mapper.event(from: spans[1]) == nil)
        #expect(try mapper.event(from: spans[2]) == nil)
    }

    @Test func errorSpansAndOlderConventions() throws {
        let older: [(String, any Sendable)] = [
            ("gen_ai.system", "anthropic"), ("gen_ai.request.model", "claude-sonnet-4-5"),
            ("gen_ai.usage.prompt_tokens", 50), ("gen_ai.usage.completion_tokens", 7), ("tenant.id", "acme"),
        ]
        let spans = try OTLPTraces.decodeProtobuf(ProtobufWriter.request(resource: [], spans: [older], error: true))
        let event = try #require(try GenAISpanMapper().event(from: spans[0]))
        #expect(event.provider == "anthropic" && event.outcome == .error)
        #expect(event.tokens.input == 50 && event.tokens.output == 7)
        #expect(event.attribution.customer == "acme")
    }

    @Test func jsonEncodingWithStringIntegersAndCustomDimensions() throws {
        let json = #"""
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rag"}}]},
             "scopeSpans":[{"scope":{"name":"x"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C",
              "spanId":"EEE19B7EC3C1B174","name":"embeddings text-embedding-3-small","kind":3,
              "startTimeUnixNano":"1793613600000000000","endTimeUnixNano":1793613600050000000,
              "unknownField":{"ignored":true},
              "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"embeddings"}},
               {"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
               {"key":"gen_ai.request.model","value":{"stringValue":"text-embedding-3-small"}},
               {"key":"gen_ai.usage.input_tokens","value":{"intValue":"812"}},
               {"key":"app.team","value":{"stringValue":"search"}}],
              "status":{"code":1}}]}]}]}
            """#
        let spans = try OTLPTraces.decodeJSON(Array(json.utf8))
        let mapper = GenAISpanMapper(dimensions: GenAISpanMapper.defaultDimensions.merging(["app.team": .team]) { $1 })
        let event = try #require(try mapper.event(from: spans[0]))
        #expect(event.id == "otel-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174")
        #expect(event.tokens.embedding == 812 && event.tokens.input == 0)
        #expect(event.attribution.team == "search" && event.attribution.application == "rag")
        #expect(event.latencyMilliseconds == 50 && event.outcome == .ok)
    }

    @Test func malformedInputIsAnErrorNotACrash() throws {
        let good = ProtobufWriter.request(resource: [], spans: [Self.chat])
        // Every truncation of a valid request either decodes (a prefix can end on a field
        // boundary) or throws; none traps.
        var failures = 0
        for length in 0..<good.count {
            do { _ = try OTLPTraces.decodeProtobuf(good[0..<length]) } catch { failures += 1 }
        }
        #expect(failures > good.count / 2)
        #expect(throws: OTLPTraces.DecodingError.self) { try OTLPTraces.decodeProtobuf([0x0A, 0xFF, 0xFF, 0x03]) }
        #expect(throws: OTLPTraces.DecodingError.self) { try OTLPTraces.decodeJSON(Array("{\"resourceSpans\":[".utf8)) }
        let badTime = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#
        #expect(throws: OTLPTraces.DecodingError.self) { try OTLPTraces.decodeJSON(Array(badTime.utf8)) }
        // Usage with no model, and negative counts, are refused by the mapper with the attribute named.
        let noModel = try OTLPTraces.decodeProtobuf(
            ProtobufWriter.request(resource: [], spans: [[("gen_ai.usage.input_tokens", 3)]]))
        #expect(throws: EventRowDecoder.FieldError.self) { try GenAISpanMapper().event(from: noModel[0]) }
        let negative = try OTLPTraces.decodeProtobuf(
            ProtobufWriter.request(
                resource: [], spans: [[("gen_ai.request.model", "gpt-4o"), ("gen_ai.usage.output_tokens", -4)]]))
        do {
            _ = try GenAISpanMapper().event(from: negative[0])
            Issue.record("a negative count must be refused")
        } catch {
            #expect(error.field == "gen_ai.usage.output_tokens")
        }
    }
}
