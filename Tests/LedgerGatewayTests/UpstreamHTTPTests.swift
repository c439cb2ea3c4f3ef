import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

@testable import LedgerGateway

/// The gateway's own HTTP/1.1 for provider calls: the request bytes, and answers read whole or
/// a byte at a time (every split a network can make).
@Suite struct UpstreamHTTPTests {
    /// The parts of `answer` as text (`head 200 keep-alive`, `body …`, `end`), bodies joined.
    static func parts(of answer: String, byteByByte: Bool) throws -> [String] {
        var parser = UpstreamResponseParser()
        parser.expectAnswer()
        var parts: [String] = []
        func record(_ part: UpstreamPart) {
            switch part {
            case .head(let status, let headers, let keepAlive):
                // Only the fields relayed to callers are kept.
                let kept = headers.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
                parts.append("head \(status.code) \(keepAlive ? "keep-alive" : "close") \(kept)")
            case .body(let bytes):
                let text = String(buffer: bytes)
                if let last = parts.last, last.hasPrefix("body ") {
                    parts[parts.count - 1] = last + text
                } else {
                    parts.append("body " + text)
                }
            case .end: parts.append("end")
            }
        }
        let bytes = Array(answer.utf8)
        if byteByByte {
            for byte in bytes { try parser.feed(ByteBuffer(bytes: [byte]), record) }
        } else {
            try parser.feed(ByteBuffer(bytes: bytes), record)
        }
        if parser.endsAtClose { parts.append("(until close)") }
        return parts
    }

    static func expectParts(_ answer: String, _ expected: [String]) throws {
        #expect(try parts(of: answer, byteByByte: false) == expected)
        #expect(try parts(of: answer, byteByByte: true) == expected)
    }

    @Test func aLengthFramedAnswer() throws {
        try Self.expectParts(
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nX-Request-Id:  abc \r\n"
                + "Set-Cookie: a=b\r\nOpenAI-Processing-Ms: 12\r\nx-ratelimit-remaining-tokens: 9\r\nContent-Length: 5\r\n\r\nhello",
            [
                "head 200 keep-alive Content-Type=application/json,X-Request-Id=abc,OpenAI-Processing-Ms=12,x-ratelimit-remaining-tokens=9",
                "body hello", "end",
            ])
        try Self.expectParts("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", ["head 200 keep-alive ", "end"])
        try Self.expectParts(
            "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
            ["head 500 close ", "body {}", "end"])
    }

    @Test func aChunkedAnswerWithExtensionsAndTrailers() throws {
        try Self.expectParts(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n7;name=value\r\npedia i\r\n"
                + "B\r\nn \r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n",
            ["head 200 keep-alive ", "body Wikipedia in \r\nchunks.", "end"])
    }

    @Test func interimAnswersAreSkippedAndBodilessStatusesEndAtTheirHead() throws {
        try Self.expectParts(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ["head 200 keep-alive ", "body ok", "end"])
        try Self.expectParts("HTTP/1.1 204 No Content\r\n\r\n", ["head 204 keep-alive ", "end"])
    }

    @Test func framingAndKeepAliveFollowRFC9112() throws {
        // No length: the body runs until the connection closes, which is then not reused.
        try Self.expectParts("HTTP/1.1 200 OK\r\n\r\npartial", ["head 200 close ", "body partial", "(until close)"])
        // Transfer coding wins over a length, and the connection is not reused after both.
        try Self.expectParts(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            ["head 200 close ", "body ok", "end"])
        // HTTP/1.0 keeps the connection only when it says so.
        try Self.expectParts("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", ["head 200 close ", "body x", "end"])
        try Self.expectParts(
            "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx",
            ["head 200 keep-alive ", "body x", "end"])
    }

    @Test func answersThatCannotBeReadAreRefused() throws {
        let bad = [
            "SMTP 220 hello\r\n\r\n",
            "HTTP/1.1 2x0 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy",
            "HTTP/1.1 200 OK\r\n" + String(repeating: "X-Pad: 0123456789abcdef\r\n", count: 3_000),
        ]
        for answer in bad {
            #expect(throws: HTTP1Error.self, "\(answer.prefix(60))") {
                _ = try Self.parts(of: answer, byteByByte: false)
            }
            #expect(throws: HTTP1Error.self, "\(answer.prefix(60))") {
                _ = try Self.parts(of: answer, byteByByte: true)
            }
        }
    }

    @Test func theRequestIsOneBufferThatNothingCanSplit() {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "Host", value: "evil.example")
        headers.add(name: "content-length", value: "999")
        headers.add(name: "x-injected", value: "a\r\nX-Evil: 1")
        headers.add(name: "anthropic-version", value: "2023-06-01")
        let request = UpstreamHTTP.request(
            path: "/openai/deployments/gpt 4\r\nX: y/chat/completions?api-version=1", hostHeader: "api.example:8443",
            headers: headers, body: ByteBuffer(string: "{\"a\":1}"), allocator: ByteBufferAllocator())
        #expect(
            String(buffer: request)
                == "POST /openai/deployments/gpt%204%0D%0AX:%20y/chat/completions?api-version=1 HTTP/1.1\r\n"
                + "host: api.example:8443\r\ncontent-type: application/json\r\nanthropic-version: 2023-06-01\r\n"
                + "content-length: 7\r\n\r\n{\"a\":1}")
    }
}

/// A server that answers each request with fixed bytes, then closes if told to: answers a real
/// HTTP server would not send.
final class RawAnswerServer: Sendable {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    let port: Int
    private let accepted = Counter()
    private let channel: any Channel
    /// Connections accepted so far.
    var connections: Int { accepted.value.load(ordering: .relaxed) }

    init(answer: String, closeAfter: Bool) async throws {
        let accepted = self.accepted
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                accepted.value.add(1, ordering: .relaxed)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Answerer(answer: answer, closeAfter: closeAfter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    func stop() async { try? await channel.close() }

    private final class Answerer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answer: String
        let closeAfter: Bool
        var received = ""

        init(answer: String, closeAfter: Bool) {
            self.answer = answer
            self.closeAfter = closeAfter
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: unwrapInboundIn(data))
            // The client's requests here have the body `{}`.
            guard received.hasSuffix("\r\n\r\n{}") else { return }
            received = ""
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer)), promise: written)
            if closeAfter { written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
        }
    }
}

@Suite struct UpstreamAnswerFramingTests {
    func post(_ client: UpstreamClient, port: Int, stream: Bool = false) async throws -> (Int, String) {
        let (target, path) = try UpstreamTarget.parse("http://127.0.0.1:\(port)/v1/chat/completions")
        let response = try await client.post(
            to: target, path: path, headers: ["content-type": "application/json"], body: ByteBuffer(string: "{}"),
            streamWanted: stream, timeout: .seconds(5))
        switch response.body {
        case .whole(let bytes): return (Int(response.status.code), String(buffer: bytes))
        case .stream(let chunks):
            var text = ""
            for try await chunk in chunks { text += String(buffer: chunk) }
            return (Int(response.status.code), text)
        }
    }

    @Test func anAnswerEndedByTheConnectionsCloseIsWholeAndTheConnectionIsNotReused() async throws {
        let server = try await RawAnswerServer(answer: "HTTP/1.1 200 OK\r\n\r\n{\"ok\":true}", closeAfter: true)
        let client = UpstreamClient(connectTimeout: .seconds(2))
        for _ in 0..<2 {
            let (status, body) = try await post(client, port: server.port)
            #expect(status == 200 && body == #"{"ok":true}"#)
        }
        #expect(server.connections == 2)
        client.shutdown()
        await server.stop()
    }

    @Test func aChunkedEventStreamIsRelayedAndTheConnectionReused() async throws {
        let server = try await RawAnswerServer(
            answer: "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                + "f\r\ndata: {\"a\":1}\n\n\r\n6;x=y\r\ndata: \r\n8\r\n[DONE]\n\n\r\n0\r\n\r\n",
            closeAfter: false)
        let client = UpstreamClient(connectTimeout: .seconds(2))
        for _ in 0..<3 {
            let (status, body) = try await post(client, port: server.port, stream: true)
            #expect(status == 200 && body == "data: {\"a\":1}\n\ndata: [DONE]\n\n")
        }
        #expect(server.connections == 1)
        client.shutdown()
        await server.stop()
    }

    @Test func anAnswerThatCannotBeReadFailsTheCallAndClosesTheConnection() async throws {
        let server = try await RawAnswerServer(answer: "HTTP/1.1 2x0 Broken\r\n\r\n", closeAfter: false)
        let client = UpstreamClient(connectTimeout: .seconds(2))
        for _ in 0..<2 {
            await #expect(throws: HTTP1Error.self) { _ = try await post(client, port: server.port) }
        }
        #expect(server.connections == 2)
        client.shutdown()
        await server.stop()
    }
}
