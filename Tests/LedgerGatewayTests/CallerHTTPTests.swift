import FakeProvider
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import LedgerGateway

/// The gateway's own reading of callers' HTTP/1.1 requests: framing, strictness, and the answers
/// to requests it cannot read.
@Suite struct CallerHTTPTests {
    /// What a framer hands out for `input`: heads' start lines, bodies joined, ends, as text.
    private static func parts(of input: String, byteAtATime: Bool) throws -> [String] {
        var framer = HTTP1Framer(subject: "The request", maximumHeadBytes: 1024, messagesFollow: true)
        var parts: [String] = []
        var body = ""
        let bytes = Array(input.utf8)
        let feeds = byteAtATime ? bytes.map { [$0] } : [bytes]
        for feed in feeds {
            framer.append(ByteBuffer(bytes: feed))
            while let part = try framer.next() {
                switch part {
                case .head(let head):
                    let fields = try HTTP1Head(head, subject: "The request")
                    parts.append(String(buffer: fields.startLine))
                    if fields.hasTransferEncoding {
                        framer.frame(.chunked)
                    } else {
                        framer.frame(fields.contentLength.map { .length($0) } ?? .empty)
                    }
                case .body(let chunk):
                    body += String(buffer: chunk)
                case .end:
                    parts.append("body=\(body)")
                    body = ""
                }
            }
        }
        return parts
    }

    @Test func pipelinedRequestsAreFramedByLengthChunksOrNothing() throws {
        let input =
            "\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            + "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
            + "POST /d HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        let expected = [
            "POST /a HTTP/1.1", "body=hello", "GET /b HTTP/1.1", "body=", "POST /c HTTP/1.1", "body=abcde",
            "POST /d HTTP/1.1", "body=",
        ]
        #expect(try Self.parts(of: input, byteAtATime: false) == expected)
        #expect(try Self.parts(of: input, byteAtATime: true) == expected)
    }

    @Test func malformedHeadsAreRefusedWithWhatWasWrong() throws {
        let cases: [(String, String)] = [
            ("POST /a HTTP/1.1\nHost: x\r\n\r\n", "does not end with CRLF"),
            ("POST /a HTTP/1.1\r\nHost : x\r\n\r\n", "malformed header line"),
            ("POST /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "malformed header line"),
            ("POST /a HTTP/1.1\r\nX-A: a\u{1}b\r\n\r\n", "control character"),
            ("POST /a HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", "Content-Length that is not usable"),
            ("POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "Content-Length that is not usable"),
            ("POST /a HTTP/1.1\r\nContent-Length: +5\r\n\r\n", "Content-Length that is not usable"),
        ]
        for (input, problem) in cases {
            var framer = HTTP1Framer(subject: "The request", maximumHeadBytes: 1024, messagesFollow: true)
            framer.append(ByteBuffer(string: input))
            guard case .head(let head) = try framer.next() else {
                Issue.record("no head in \(input)")
                continue
            }
            #expect(throws: HTTP1Error.self, "\(input)") { _ = try HTTP1Head(head, subject: "The request") }
            do {
                _ = try HTTP1Head(head, subject: "The request")
            } catch {
                #expect(error.description.contains(problem), "\(error) for \(input)")
            }
        }
        // The same length twice is one length.
        let twice = try HTTP1Head(
            ByteBuffer(string: "POST /a HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n"),
            subject: "The request")
        #expect(twice.contentLength == 5)
        // A head larger than the limit is refused before its end arrives.
        var framer = HTTP1Framer(subject: "The request", maximumHeadBytes: 64, messagesFollow: true)
        framer.append(ByteBuffer(string: "GET / HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: 80)))
        #expect(throws: HTTP1Error.self) { _ = try framer.next() }
    }

    @Test func requestLinesAreReadStrictly() throws {
        let (method, uri, version) = try ProviderChannelHandler.requestLine(
            ByteBuffer(string: "POST /v1/chat/completions?x=1 HTTP/1.1"))
        #expect(method == .POST && uri == "/v1/chat/completions?x=1" && version == .http1_1)
        #expect(try ProviderChannelHandler.requestLine(ByteBuffer(string: "GET /health HTTP/1.0")).2 == .http1_0)
        for line in [
            "POST  /a HTTP/1.1", "POST /a", "POST /a HTTP/1.1 ", "PO\u{1}ST /a HTTP/1.1", "POST /a b HTTP/1.1",
        ] {
            #expect(throws: HTTP1Error.self, "\(line)") {
                _ = try ProviderChannelHandler.requestLine(ByteBuffer(string: line))
            }
        }
        do {
            _ = try ProviderChannelHandler.requestLine(ByteBuffer(string: "GET / HTTP/2.0"))
            Issue.record("HTTP/2.0 was accepted")
        } catch {
            #expect(error.status == .httpVersionNotSupported)
        }
    }

    /// The answers to `raw`, sent in one write on one connection, up to the server's close.
    private static func answers(_ harness: GatewayHarness, _ raw: String) async throws -> [String] {
        let received = try await RawClient.pipeline(port: harness.port, [raw])
        return received.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0 }
    }

    @Test func ambiguousRequestsAreRefusedAndNothingInsideThemIsServed() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let body = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#
            // A request with both framings, hiding a second call in what one reading takes for its
            // body: refused, and the hidden call is not made.
            let hidden = RawClient.chatRequest(key: key.secret, body: body)
            let smuggled =
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key.secret)\r\n"
                + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden
            let refused = try await Self.answers(harness, smuggled)
            try #require(refused.count == 1, "one answer in \(refused)")
            #expect(refused[0].hasPrefix("400"))
            #expect(refused[0].contains("both Content-Length and Transfer-Encoding"))
            #expect(refused[0].lowercased().contains("connection: close"))
            // A coding the gateway does not read.
            let gzip = try await Self.answers(
                harness,
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
            #expect(gzip.first?.hasPrefix("501") == true, "\(gzip)")
            #expect(gzip.first?.contains("not supported") == true)
            // A version it does not speak; a malformed request line.
            let version = try await Self.answers(harness, "GET /health HTTP/2.0\r\n\r\n")
            #expect(version.first?.hasPrefix("505") == true, "\(version)")
            let line = try await Self.answers(harness, "GET /health\r\n\r\n")
            #expect(line.first?.hasPrefix("400") == true && line.first?.contains("request line") == true, "\(line)")
            // A head larger than the limit.
            let large = try await Self.answers(
                harness,
                "GET /health HTTP/1.1\r\nX-Large: \(String(repeating: "a", count: ProviderChannelHandler.maximumHeadBytes))\r\n\r\n"
            )
            #expect(large.first?.hasPrefix("431") == true, "\(large.first?.prefix(80) ?? "")")
            #expect(harness.fakeStats().requests == 0, "no call reached the provider")
        }
    }

    @Test func chunkedBodiesAreReadForCallsAndForTheRouter() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            let body = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#
            let (first, second) = (body.prefix(20), body.dropFirst(20))
            let call =
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key.secret)\r\n"
                + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "\(String(first.utf8.count, radix: 16))\r\n\(first)\r\n\(String(second.utf8.count, radix: 16))\r\n\(second)\r\n0\r\n\r\n"
            let rules = #"{"rules":[{"id":"r","when":{"field":"feature","prefix":"s"},"set":{"customer":"c"}}]}"#
            let put =
                "PUT /api/v1/allocation/rules HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-secret\r\n"
                + "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "\(String(rules.utf8.count, radix: 16))\r\n\(rules)\r\n0\r\n\r\n"
            let answers = try await Self.answers(harness, call + put)
            try #require(answers.count == 2, "two answers in \(answers)")
            #expect(answers[0].hasPrefix("200") && answers[0].lowercased().contains("x-tokenledger-cost-usd:"))
            #expect(answers[1].hasPrefix("200") && answers[1].contains(#""version":1"#), "\(answers[1])")
            #expect(harness.fakeStats().requests == 1)
        }
    }

    @Test func answersFitTheRequestTheyAnswer() async throws {
        try await GatewayHarness.run { harness in
            let key = try await harness.key()
            // HEAD (a load balancer's health check): the head of the answer GET would get, no
            // body; the next request on the connection is answered after it.
            let head = try await Self.answers(
                harness,
                "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            try #require(head.count == 2, "two answers in \(head)")
            #expect(
                head[0].hasPrefix("200") && head[0].hasSuffix("\r\n\r\n") && !head[0].contains("spool_pending"),
                "\(head[0])")
            #expect(head[1].contains("spool_pending"))
            // An HTTP/1.0 caller's stream is not chunked: it ends when the connection closes.
            let body = #"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#
            let stream =
                "POST /v1/chat/completions HTTP/1.0\r\nAuthorization: Bearer \(key.secret)\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let streamed = try await Self.answers(harness, stream)
            try #require(streamed.count == 1, "\(streamed)")
            #expect(streamed[0].hasPrefix("200"))
            #expect(!streamed[0].lowercased().contains("transfer-encoding"))
            #expect(streamed[0].lowercased().contains("connection: close"))
            #expect(streamed[0].hasSuffix("data: [DONE]\n\n"), "\(streamed[0].suffix(40))")
            // An HTTP/1.1 caller's stream is chunked, and ends with the last chunk.
            let chunked = try await Self.answers(
                harness,
                stream.replacingOccurrences(of: "HTTP/1.0", with: "HTTP/1.1").replacingOccurrences(
                    of: "\r\nContent-Length", with: "\r\nConnection: close\r\nContent-Length"))
            #expect(chunked.first?.lowercased().contains("transfer-encoding: chunked") == true, "\(chunked)")
            // The last chunk carries the cost as a trailer field.
            let last = try #require(chunked.first?.components(separatedBy: "\r\n0\r\n").last)
            #expect(last.hasPrefix("X-TokenLedger-Cost-USD: 0.") && last.hasSuffix("\r\n\r\n"), "\(last)")
        }
    }

    @Test func stalledRequestsAndIdleConnectionsAreClosedButSlowCallsAreNot() async throws {
        let configure: @Sendable (inout GatewayConfiguration) -> Void = {
            $0.server.idleTimeoutSeconds = 1
            $0.server.requestTimeoutSeconds = 1
        }
        try await GatewayHarness.run(configure: configure) { harness in
            let key = try await harness.key()
            // A head that never ends, and a body that stops coming: 408, then the close.
            for stalled in [
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key.secret)\r\n",
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\":",
            ] {
                let started = ContinuousClock.now
                let answers = try await Self.answers(harness, stalled)
                let waited = ContinuousClock.now - started
                #expect(answers.count == 1 && answers[0].hasPrefix("408"), "\(answers)")
                #expect(answers.first?.contains("server.request_timeout_seconds (1 s)") == true)
                #expect(waited >= .milliseconds(900) && waited < .seconds(4), "\(waited)")
            }
            // A keep-alive connection left idle after its answer is closed.
            let started = ContinuousClock.now
            let idle = try await Self.answers(harness, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let waited = ContinuousClock.now - started
            #expect(idle.count == 1 && idle[0].hasPrefix("200"), "\(idle)")
            #expect(waited >= .milliseconds(900) && waited < .seconds(4), "\(waited)")
            // A call that takes 3 s upstream is answered: the caller is not idle, the gateway is busy.
            let slow = try await Self.answers(
                harness,
                RawClient.chatRequest(
                    key: key.secret,
                    body: #"{"model":"gpt-4o-mini","fake":"slow","messages":[{"role":"user","content":"Hi"}]}"#,
                    extraHeaders: "Connection: close\r\n"))
            #expect(slow.count == 1 && slow[0].hasPrefix("200"), "\(slow.first?.prefix(200) ?? "")")
            #expect(harness.fakeStats().requests == 1, "no stalled request reached the provider")
        }
        // Timeouts below a second are refused at start.
        await #expect(throws: ConfigurationError.self) {
            try await GatewayHarness.run(configure: { $0.server.idleTimeoutSeconds = 0 }) { _ in }
        }
    }
}
