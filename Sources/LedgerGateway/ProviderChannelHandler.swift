import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// The HTTP/1.1 server side of a caller's connection: reads the requests (``HTTP1Framer``,
/// ``HTTP1Head``), serves the provider API routes (``APIRoute``, and Azure OpenAI's deployment
/// paths) itself, and hands every other request to the router as NIO's request parts, writing its
/// answers back in HTTP/1.1.
///
/// A proxied call runs on the event loop that read it, from request to answer: no codec's
/// pipeline steps, no hand-over to an async sequence and back, one write of the whole answer.
///
/// Requests are read strictly (RFC 9112): a head with a line not ending in CRLF, a field name
/// followed by anything but a colon, a control character in a value, a request with both
/// `Content-Length` and `Transfer-Encoding`, differing lengths, or a transfer coding other than
/// `chunked` is answered with a 4xx or 501 that says what was wrong, and the connection closes.
/// Where a request ends is never guessed, so no request can hide inside another.
///
/// Requests on one connection are answered in order, whoever serves them: a request that arrives
/// (pipelined) while another is being answered waits, and so does a provider request while the
/// router still owes an answer. A connection that asked to close (`Connection: close`, or
/// HTTP/1.0 without keep-alive) is closed after its answer, and one the server wants to close on
/// shutdown is closed once its call is answered. If the client goes away during a call, the call
/// is cancelled (the upstream connection closes) and recorded as such.
///
/// A connection idle between requests for `server.idle_timeout_seconds` is closed; a request whose
/// head is not complete `server.request_timeout_seconds` after it began, or whose body pauses that
/// long, is answered 408 and its connection closed. A call in progress, or an answer the router
/// owes, is never cut by these.
final class ProviderChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = IOData

    /// The largest request head accepted (request line and header fields).
    static let maximumHeadBytes = 80 * 1024

    /// A provider request being read.
    private struct Incoming {
        var route: APIRoute
        var deployment: String?
        var head: HTTPRequestHead
        var keepAlive: Bool
        var expectContinue: Bool
        var contentLength: Int?
        /// nil once the body exceeds the limit (the rest is read and dropped; the answer is 413).
        var body: ByteBuffer?
    }

    /// A request handed to the router whose answer has not ended: what its framing depends on.
    private struct Owed {
        var version: HTTPVersion
        var isHead: Bool
    }

    /// How the router's answer being written is framed.
    private struct RouterAnswer {
        var chunked = false
        /// An answer to HEAD: its body is not sent.
        var bodyless = false
        /// Framed by the close (an HTTP/1.0 caller, no length).
        var closes = false
    }

    private enum State {
        /// Between requests.
        case idle
        /// A provider request's body is being read.
        case reading(Incoming)
        /// A provider request waits for the router's answers to the requests before it.
        case waiting(Incoming)
        /// A provider call is being answered.
        case answering
        /// A router request's parts are being handed on.
        case passing
    }

    private let gateway: Gateway
    private let maximumBodyBytes: Int
    private var framer = HTTP1Framer(subject: "The request", maximumHeadBytes: maximumHeadBytes, messagesFollow: true)
    private var state = State.idle
    /// Inside ``drain(context:)``: an answer that ends meanwhile does not start another drain.
    private var draining = false
    private var owed = CircularBuffer<Owed>()
    private var routerAnswer = RouterAnswer()
    /// Parts were passed on to the router since its last read-complete event. The router's side
    /// (an async channel) only needs that event after it was given something.
    private var routerReadPending = false
    /// Cancels the call in progress (its task, or its upstream exchange).
    private var cancelCall: (() -> Void)?
    /// The server is shutting down: close once the call in progress is answered.
    private var closeWhenAnswered = false
    /// The call being answered streams with chunked transfer coding (to an HTTP/1.1 caller).
    private var streamChunked = false
    /// Calls started and answered on this connection (a streamed answer that did not end is
    /// told apart from the next call's by its number).
    private var callsStarted = 0
    private var callsAnswered = 0
    private let idleTimeout: TimeAmount
    private let requestTimeout: TimeAmount
    /// The last read, or the end of the last answer.
    private var lastActivity = NIODeadline.now()
    /// When the request whose head is being read began.
    private var headBegan = NIODeadline.now()
    /// The timeouts' timer: armed once, it re-arms itself for the next deadline when it fires, so
    /// a call neither schedules nor cancels one.
    private var timer: Scheduled<Void>?

    init(gateway: Gateway) {
        self.gateway = gateway
        self.maximumBodyBytes = gateway.configuration.server.maxBodyBytes
        self.idleTimeout = .seconds(Int64(gateway.configuration.server.idleTimeoutSeconds))
        self.requestTimeout = .seconds(Int64(gateway.configuration.server.requestTimeoutSeconds))
    }

    // MARK: - Timeouts

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(at: .now() + idleTimeout, context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        lastActivity = .now()
        if timer == nil { arm(at: lastActivity + idleTimeout, context: context) }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired(context: context)
        }
    }

    /// Closes an idle connection, answers a request that stalled with 408, or waits on.
    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        guard context.channel.isActive else { return }
        let due: NIODeadline
        var stalled = false
        switch state {
        case .answering, .waiting, .passing:
            // A call in progress or an answer the router owes: not the caller's doing.
            return arm(at: .now() + min(idleTimeout, requestTimeout), context: context)
        case .reading:
            due = lastActivity + requestTimeout
            stalled = true
        case .idle:
            guard owed.isEmpty else { return arm(at: .now() + min(idleTimeout, requestTimeout), context: context) }
            if framer.isBetweenMessages {
                due = lastActivity + idleTimeout
            } else {
                due = headBegan + requestTimeout
                stalled = true
            }
        }
        guard due <= .now() else { return arm(at: due, context: context) }
        guard stalled else { return context.close(promise: nil) }
        refuse(
            HTTP1Error(
                description:
                    "The request did not arrive in time: its head must be complete, and its body must keep coming, within server.request_timeout_seconds (\(requestTimeout.nanoseconds / 1_000_000_000) s)",
                status: .requestTimeout), context: context)
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        if framer.isBetweenMessages, case .idle = state { headBegan = lastActivity }
        framer.append(unwrapInboundIn(data))
        drain(context: context)
        // A client that pipelines more than a body's worth of data behind a call is not waited for.
        if framer.bufferedBytes > maximumBodyBytes + 64 * 1024 { context.close(promise: nil) }
    }

    /// Reads and handles requests as far as the bytes read and the answers owed allow.
    private func drain(context: ChannelHandlerContext) {
        guard !draining else { return }
        draining = true
        defer {
            draining = false
            // The router's side takes what was handed on at the end of a read.
            if routerReadPending {
                routerReadPending = false
                context.fireChannelReadComplete()
            }
        }
        while true {
            switch state {
            case .answering:
                return
            case .waiting(let incoming):
                guard owed.isEmpty else { return }
                begin(incoming, context: context)
            case .idle, .reading, .passing:
                break
            }
            let part: HTTP1Framer.Part?
            do {
                part = try framer.next()
            } catch {
                return refuse(error, context: context)
            }
            guard let part else { return }
            switch (part, state) {
            case (.head(let bytes), .idle):
                do {
                    try read(head: bytes, context: context)
                } catch {
                    return refuse(error, context: context)
                }
            case (.body(var chunk), .reading(var incoming)):
                state = .idle  // the body buffer stays uniquely referenced while it grows
                if let body = incoming.body {
                    if body.readableBytes + chunk.readableBytes > maximumBodyBytes {
                        incoming.body = nil
                    } else if body.readableBytes == 0 {
                        incoming.body = chunk  // a body in one read is not copied
                    } else {
                        incoming.body!.writeBuffer(&chunk)
                    }
                }
                state = .reading(incoming)
            case (.end, .reading(let incoming)):
                state = .answering
                answer(incoming, context: context)
            case (.body(let chunk), .passing):
                passOn(.body(chunk), context: context)
            case (.end, .passing):
                state = .idle
                passOn(.end(nil), context: context)
            default:
                // The framer hands out a head only between requests, and body parts only after one.
                context.close(promise: nil)
                return
            }
        }
    }

    /// Reads a request head: a provider call is served here, anything else goes on to the router.
    private func read(head bytes: ByteBuffer, context: ChannelHandlerContext) throws(HTTP1Error) {
        // The request line first: a provider call keeps only the header fields it reads.
        let lineEnd = bytes.readableBytesView.firstIndex(of: UInt8(ascii: "\r")) ?? bytes.writerIndex
        let (method, uri, version) = try Self.requestLine(
            bytes.getSlice(at: bytes.readerIndex, length: lineEnd - bytes.readerIndex)!)
        let call = method == .POST ? Self.route(of: uri) : nil
        let keeping: ((UnsafeRawBufferPointer) -> Bool)? = call.map { _ in Self.isReadByCalls }
        let fields = try HTTP1Head(bytes, subject: "The request", keeping: keeping)
        if fields.hasTransferEncoding {
            guard version.minor >= 1 else {
                throw HTTP1Error(
                    description: "The request is HTTP/1.0 and has a Transfer-Encoding, which HTTP/1.0 does not have")
            }
            guard fields.contentLength == nil else {
                throw HTTP1Error(
                    description:
                        "The request has both Content-Length and Transfer-Encoding: send one of them (RFC 9112, section 6.3)"
                )
            }
            guard fields.transferCodings.count == 1, fields.transferCodings[0].equals(lowercasedASCII: "chunked") else {
                throw HTTP1Error(
                    description:
                        "The request's Transfer-Encoding '\(fields.transferCodings.joined(separator: ", "))' is not supported: send the body as it is, with Content-Length, or with 'chunked' alone",
                    status: .notImplemented)
            }
            framer.frame(.chunked)
        } else {
            framer.frame(fields.contentLength.map { .length($0) } ?? .empty)
        }
        let keepAlive =
            version.minor >= 1 ? !fields.connectionClose : fields.connectionKeepAlive && !fields.connectionClose
        let head = HTTPRequestHead(version: version, method: method, uri: uri, headers: fields.headers)
        if let (route, deployment) = call {
            let incoming = Incoming(
                route: route, deployment: deployment, head: head, keepAlive: keepAlive,
                expectContinue: fields.expectContinue, contentLength: fields.contentLength, body: ByteBuffer())
            if owed.isEmpty {
                begin(incoming, context: context)
            } else {
                state = .waiting(incoming)
            }
        } else {
            // A client that waits for permission to send its body is given it, unless earlier
            // answers are still owed (it then sends after its own wait).
            if fields.expectContinue && owed.isEmpty { writeContinue(context: context) }
            owed.append(Owed(version: version, isHead: method == .HEAD))
            state = .passing
            passOn(.head(head), context: context)
        }
    }

    /// Starts reading a provider request's body.
    private func begin(_ incoming: Incoming, context: ChannelHandlerContext) {
        state = .reading(incoming)
        // A client that waits for permission to send its body (curl does for large ones) gets it
        // at once instead of after its own timeout; one whose body is too large does not, and is
        // answered 413 once the body is read.
        if incoming.expectContinue, (incoming.contentLength ?? 0) <= maximumBodyBytes {
            writeContinue(context: context)
        }
    }

    private func writeContinue(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 32)
        buffer.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
    }

    /// A request that cannot be read: answered with what was wrong when nothing else is owed, and
    /// the connection closes (where the next request would begin is not known).
    private func refuse(_ error: HTTP1Error, context: ChannelHandlerContext) {
        gateway.logger.info("unreadable request", metadata: ["error": "\(error)", "status": "\(error.status.code)"])
        switch state {
        case .idle where owed.isEmpty, .reading where owed.isEmpty:
            state = .answering
            callsStarted += 1
            let reply = gateway.errorReply(
                .openAI, status: Int(error.status.code), message: error.description, code: "malformed_request",
                requestID: Gateway.newRequestID())
            send(reply, version: .http1_1, keepAlive: false, number: callsStarted, context: context)
        default:
            context.close(promise: nil)
        }
    }

    /// Whether a provider call reads a request header field: the key, attribution, and the
    /// protocol fields passed upstream (``Gateway/forwardedHeaders``). The others are not kept.
    static func isReadByCalls(_ name: UnsafeRawBufferPointer) -> Bool {
        HTTP1Head.starts(name, with: "x-tokenledger-") || HTTP1Head.equals(name, "authorization")
            || HTTP1Head.equals(name, "x-api-key") || HTTP1Head.equals(name, "api-key")
            || HTTP1Head.equals(name, "anthropic-version") || HTTP1Head.equals(name, "anthropic-beta")
            || HTTP1Head.equals(name, "openai-beta")
    }

    /// The method, target and version of a request line (`POST /v1/chat/completions HTTP/1.1`).
    static func requestLine(_ line: ByteBuffer) throws(HTTP1Error) -> (HTTPMethod, String, HTTPVersion) {
        let parsed = line.withUnsafeReadableBytes { bytes -> Result<(HTTPMethod, String, HTTPVersion), HTTP1Error> in
            let space = UInt8(ascii: " ")
            var first = 0
            while first < bytes.count, HTTP1Head.isTokenByte(bytes[first]) { first += 1 }
            var second = first + 1
            while second < bytes.count, bytes[second] > 0x20, bytes[second] < 0x7F { second += 1 }
            guard first > 0, first < bytes.count, bytes[first] == space, second > first + 1, second < bytes.count,
                bytes[second] == space
            else {
                return .failure(
                    HTTP1Error(
                        description:
                            "The request line is malformed (expected 'METHOD /path HTTP/1.1'): \(HTTP1Head.shown(bytes))"
                    ))
            }
            let version = UnsafeRawBufferPointer(rebasing: bytes[(second + 1)...])
            guard version.count == 8, version.starts(with: httpPrefix), version[6] == UInt8(ascii: "."),
                (0x30...0x39).contains(version[5]), (0x30...0x39).contains(version[7])
            else {
                return .failure(
                    HTTP1Error(
                        description: "The request line does not end with an HTTP version: \(HTTP1Head.shown(bytes))"))
            }
            guard version[5] == UInt8(ascii: "1"), version[7] <= UInt8(ascii: "1") else {
                return .failure(
                    HTTP1Error(
                        description: "TokenLedger speaks HTTP/1.0 and HTTP/1.1, not \(HTTP1Head.shown(version))",
                        status: .httpVersionNotSupported))
            }
            let method = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<first]), as: UTF8.self)
            let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(first + 1)..<second]), as: UTF8.self)
            return .success((HTTPMethod(rawValue: method), target, version[7] == 0x31 ? .http1_1 : .http1_0))
        }
        return try parsed.get()
    }

    private static let httpPrefix = Array("HTTP/".utf8)

    private func passOn(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        routerReadPending = true
        context.fireChannelRead(wrapInboundOut(part))
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client went away: a call in progress is cancelled (and recorded as such).
        cancelCall?()
        cancelCall = nil
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        switch state {
        case .idle where framer.isBetweenMessages, .passing where framer.isBetweenMessages:
            // Nothing of ours in progress: the router's side closes the connection (now, or after
            // the answer it owes).
            context.fireUserInboundEventTriggered(event)
        default:
            closeWhenAnswered = true
        }
    }

    // MARK: - Outbound (the router's answers)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            let code = head.status.code
            let owing = owed.first ?? Owed(version: .http1_1, isHead: false)
            if code >= 100 && code < 200 && code != 101 {
                // An interim answer: the final one follows.
            } else if code < 200 || code == 204 || code == 304 {
                head.headers.remove(name: "content-length")
                head.headers.remove(name: "transfer-encoding")
                routerAnswer = RouterAnswer()
            } else if head.headers.contains(name: "content-length") {
                head.headers.remove(name: "transfer-encoding")
                routerAnswer = RouterAnswer(bodyless: owing.isHead)
            } else if owing.version.minor >= 1 {
                head.headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
                routerAnswer = RouterAnswer(chunked: !owing.isHead, bodyless: owing.isHead)
            } else {
                head.headers.replaceOrAdd(name: "connection", value: "close")
                routerAnswer = RouterAnswer(bodyless: owing.isHead, closes: true)
            }
            var buffer = context.channel.allocator.buffer(capacity: 64 + HTTP1Writer.bytes(of: head.headers))
            HTTP1Writer.head(head.status, head.headers, into: &buffer)
            HTTP1Writer.endHead(into: &buffer)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .body(let body):
            guard !routerAnswer.bodyless else {
                promise?.succeed(())
                return
            }
            guard routerAnswer.chunked else { return context.write(wrapOutboundOut(body), promise: promise) }
            guard body.readableBytes > 0 else {
                promise?.succeed(())
                return
            }
            var start = context.channel.allocator.buffer(capacity: 18)
            HTTP1Writer.chunkStart(body.readableBytes, into: &start)
            context.write(wrapOutboundOut(.byteBuffer(start)), promise: nil)
            context.write(wrapOutboundOut(body), promise: nil)
            context.write(wrapOutboundOut(.byteBuffer(ByteBuffer(staticString: "\r\n"))), promise: promise)
        case .end(let trailers):
            var last = context.channel.allocator.buffer(capacity: routerAnswer.chunked ? 16 : 0)
            if routerAnswer.chunked { HTTP1Writer.lastChunk(trailers: trailers, into: &last) }
            let closes = routerAnswer.closes
            routerAnswer = RouterAnswer()
            _ = owed.popFirst()
            answerEnded()
            if closes {
                writeLast(last, closing: true, promise: promise, context: context)
            } else {
                context.write(wrapOutboundOut(.byteBuffer(last)), promise: promise)
                if owed.isEmpty { drain(context: context) }
            }
        }
    }

    // MARK: - Answering

    private func answer(_ incoming: Incoming, context: ChannelHandlerContext) {
        let keepAlive = incoming.keepAlive
        let version = incoming.head.version
        callsStarted += 1
        let number = callsStarted
        // A call on an idle gateway goes on inside this read, with no task when it can (see
        // `Gateway.start`): at a low rate that is the shorter way to the upstream and back. While
        // other calls are being served it goes on in a task queued on the loop, which runs after
        // the reads at hand and serves more calls a second under load.
        let idle = gateway.metrics.inFlight == 0
        switch gateway.start(
            route: incoming.route, head: incoming.head, body: incoming.body, deployment: incoming.deployment,
            on: context.eventLoop, withoutTask: idle)
        {
        case .answered(let reply):
            send(reply, version: version, keepAlive: keepAlive, number: number, context: context)
        case .upstream(let direct):
            // Relayed from the upstream's read, on this loop.
            cancelCall = direct.cancel
            direct.whenDone { outcome in
                switch outcome {
                case .reply(let reply):
                    self.send(reply, version: version, keepAlive: keepAlive, number: number, context: context)
                case .retry(let rest):
                    self.runInTask(
                        rest, version: version, keepAlive: keepAlive, number: number, context: context,
                        immediately: false)
                }
            }
        case .task(let rest):
            runInTask(rest, version: version, keepAlive: keepAlive, number: number, context: context, immediately: idle)
        }
    }

    /// Sends a reply the loop has: a whole one at once, a stream from a task.
    private func send(
        _ reply: ProviderReply, version: HTTPVersion, keepAlive: Bool, number: Int, context: ChannelHandlerContext
    ) {
        guard case .whole(let body) = reply.body else {
            return runInTask(
                { reply }, version: version, keepAlive: keepAlive, number: number, context: context, immediately: false)
        }
        sendWhole(reply, body: body, keepAlive: keepAlive, context: context)
    }

    /// Runs the rest of a call in a task and sends its reply. With `immediately` (an idle
    /// gateway) the task goes on at once, up to its first wait. Either way its jobs run on this
    /// loop: `NIOSingletons` installs the loops as Swift concurrency's global executor, and jobs
    /// go to the loop they are enqueued from.
    private func runInTask(
        _ operation: @escaping @Sendable () async -> ProviderReply, version: HTTPVersion, keepAlive: Bool, number: Int,
        context: ChannelHandlerContext, immediately: Bool
    ) {
        let gateway = self.gateway
        let connection = LoopBoundConnection(handler: self, context: context)
        let run: @Sendable () async -> Void = {
            let reply = await operation()
            switch reply.body {
            case .whole(let body):
                connection.run { handler, context in
                    handler.sendWhole(reply, body: body, keepAlive: keepAlive, context: context)
                }
            case .stream(let produce):
                // An HTTP/1.0 caller's stream is framed by the close.
                let chunked = version.minor >= 1
                let writer = ChannelReplyWriter(connection: connection, keepAlive: keepAlive && chunked)
                // Queued on the loop ahead of the writes that follow, when not run at once.
                connection.run { handler, context in
                    handler.sendStreamHead(reply, chunked: chunked, keepAlive: keepAlive && chunked, context: context)
                }
                do {
                    try await produce(writer)
                } catch {
                    gateway.logger.info("stream ended early", metadata: ["error": "\(error)"])
                }
                // A body that did not finish cannot be ended cleanly: the connection closes.
                connection.run { handler, context in
                    if handler.callsAnswered < number { context.close(promise: nil) }
                }
            }
        }
        let task: Task<Void, Never>
        if immediately, #available(macOS 26, *) {
            task = Task.immediate(operation: run)
        } else {
            task = Task(operation: run)
        }
        // A call answered without waiting has already ended by now.
        if callsAnswered < number { cancelCall = task.cancel }
    }

    /// Writes the head of an answer of ours: its fields, the server's name, the framing, and the
    /// connection's fate.
    private func writeHead(
        _ reply: ProviderReply, length: Int?, chunked: Bool, keepAlive: Bool, into buffer: inout ByteBuffer
    ) {
        HTTP1Writer.head(reply.status, reply.headers, into: &buffer)
        buffer.writeStaticString("\r\nserver: TokenLedger")
        if let length {
            buffer.writeStaticString("\r\ncontent-length: ")
            buffer.writeString(String(length))
        }
        if chunked { buffer.writeStaticString("\r\ntransfer-encoding: chunked") }
        if !keepAlive || closeWhenAnswered { buffer.writeStaticString("\r\nconnection: close") }
        HTTP1Writer.endHead(into: &buffer)
    }

    private func sendStreamHead(_ reply: ProviderReply, chunked: Bool, keepAlive: Bool, context: ChannelHandlerContext)
    {
        streamChunked = chunked
        var buffer = context.channel.allocator.buffer(capacity: 160 + HTTP1Writer.bytes(of: reply.headers))
        writeHead(reply, length: nil, chunked: chunked, keepAlive: keepAlive, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
    }

    /// Writes a streamed chunk (framed when the stream is chunked).
    fileprivate func writeChunk(_ chunk: ByteBuffer, context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        guard chunk.readableBytes > 0 else { return context.eventLoop.makeSucceededVoidFuture() }
        guard streamChunked else { return context.writeAndFlush(wrapOutboundOut(.byteBuffer(chunk))) }
        var buffer = context.channel.allocator.buffer(capacity: chunk.readableBytes + 20)
        HTTP1Writer.chunkStart(chunk.readableBytes, into: &buffer)
        var chunk = chunk
        buffer.writeBuffer(&chunk)
        buffer.writeStaticString("\r\n")
        return context.writeAndFlush(wrapOutboundOut(.byteBuffer(buffer)))
    }

    /// Ends a streamed answer, with trailers when it is chunked.
    fileprivate func endStream(
        trailers: HTTPHeaders, keepAlive: Bool, promise: EventLoopPromise<Void>, context: ChannelHandlerContext
    ) {
        var last = context.channel.allocator.buffer(capacity: 64)
        if streamChunked { HTTP1Writer.lastChunk(trailers: trailers, into: &last) }
        ended(last: last, keepAlive: keepAlive, promise: promise, context: context)
    }

    private func sendWhole(_ reply: ProviderReply, body: ByteBuffer, keepAlive: Bool, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(
            capacity: 160 + HTTP1Writer.bytes(of: reply.headers) + body.readableBytes)
        writeHead(reply, length: body.readableBytes, chunked: false, keepAlive: keepAlive, into: &buffer)
        var body = body
        buffer.writeBuffer(&body)
        ended(last: buffer, keepAlive: keepAlive, promise: nil, context: context)
    }

    /// Writes the last bytes of the answer (completing `promise` when they are written); the
    /// connection then serves what waited, or closes.
    private func ended(
        last: ByteBuffer, keepAlive: Bool, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext
    ) {
        let closing = !keepAlive || closeWhenAnswered
        cancelCall = nil
        state = .idle
        callsAnswered += 1
        answerEnded()
        writeLast(last, closing: closing, promise: promise, context: context)
        if !closing { drain(context: context) }
    }

    /// Writes and flushes the last bytes of an answer (completing `promise` when they are
    /// written); with `closing`, the connection closes once they are.
    private func writeLast(
        _ last: ByteBuffer, closing: Bool, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext
    ) {
        // A promise only where someone waits for the write: not for a whole answer that keeps
        // the connection open.
        let written = closing ? (promise ?? context.eventLoop.makePromise()) : promise
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(last)), promise: written)
        guard closing else { return }
        let channel = context.channel
        written?.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    /// An answer ended: the idle time, and the time of a request read while it was answered,
    /// count from now.
    private func answerEnded() {
        lastActivity = .now()
        headBegan = lastActivity
    }

    /// The provider route (and Azure deployment) a path names, if any.
    static func route(of uri: String) -> (APIRoute, String?)? {
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { uri[..<$0] } ?? uri[...]
        // Compared with the routes' paths (a handful of short strings) rather than hashed.
        if let route = APIRoute.allCases.first(where: { path == $0.rawValue }) { return (route, nil) }
        // /openai/deployments/{deployment}/{chat/completions | completions | embeddings}
        let prefix = "/openai/deployments/"
        guard path.hasPrefix(prefix) else { return nil }
        let rest = path.dropFirst(prefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let deployment = rest[..<slash]
        guard !deployment.isEmpty, let route = azureRoutes[rest[rest.index(after: slash)...]] else { return nil }
        return (route, String(deployment))
    }

    private static let azureRoutes: [Substring: APIRoute] = [
        "chat/completions": .chatCompletions, "completions": .completions, "embeddings": .embeddings,
    ]
}

/// The handler and its context, used from the call's task on the connection's event loop.
private struct LoopBoundConnection: Sendable {
    private let bound: NIOLoopBound<(ProviderChannelHandler, ChannelHandlerContext)>

    init(handler: ProviderChannelHandler, context: ChannelHandlerContext) {
        bound = NIOLoopBound((handler, context), eventLoop: context.eventLoop)
    }

    /// Runs `body` on the loop: at once when the task is there (the usual case), else queued.
    func run(_ body: @escaping @Sendable (ProviderChannelHandler, ChannelHandlerContext) -> Void) {
        let loop = bound.eventLoop
        if loop.inEventLoop {
            body(bound.value.0, bound.value.1)
        } else {
            let bound = self.bound
            loop.execute { body(bound.value.0, bound.value.1) }
        }
    }

    /// Runs `body` on the loop and waits for the future it returns.
    func submit(
        _ body: @escaping @Sendable (ProviderChannelHandler, ChannelHandlerContext) -> EventLoopFuture<Void>
    ) async throws {
        let loop = bound.eventLoop
        let future: EventLoopFuture<Void>
        if loop.inEventLoop {
            future = body(bound.value.0, bound.value.1)
        } else {
            let bound = self.bound
            future = loop.flatSubmit { body(bound.value.0, bound.value.1) }
        }
        try await future.get()
    }
}

/// A streamed answer's body, written to the connection chunk by chunk.
private struct ChannelReplyWriter: ReplyBodyWriter {
    let connection: LoopBoundConnection
    let keepAlive: Bool

    func write(_ buffer: ByteBuffer) async throws {
        try await connection.submit { handler, context in handler.writeChunk(buffer, context: context) }
    }

    func finish(trailers: [(String, String)]) async throws {
        let keepAlive = self.keepAlive
        try await connection.submit { handler, context in
            let written = context.eventLoop.makePromise(of: Void.self)
            handler.endStream(trailers: HTTPHeaders(trailers), keepAlive: keepAlive, promise: written, context: context)
            return written.futureResult
        }
    }
}
