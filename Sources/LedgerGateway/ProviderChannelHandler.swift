import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Serves the provider API routes (``APIRoute``, and Azure OpenAI's deployment paths) straight
/// from each connection's channel pipeline; every other request goes on to the router.
///
/// A proxied call then runs on the event loop that read it, from request to answer: no hand-over
/// to an async sequence and back, no conversion of the head to another header type, one write of
/// the whole answer. It sits between NIO's HTTP/1.1 codec and Hummingbird's.
///
/// Requests on one connection are answered in order, whoever serves them: a request that arrives
/// (pipelined) while another is being answered waits, and so does a provider request while the
/// router still owes an answer. A connection that asked to close (`Connection: close`, or
/// HTTP/1.0 without keep-alive) is closed after its answer, and one the server wants to close on
/// shutdown is closed once its call is answered. If the client goes away during a call, the call
/// is cancelled (the upstream connection closes) and recorded as such.
final class ProviderChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// A provider request being read.
    private struct Incoming {
        var route: APIRoute
        var deployment: String?
        var head: HTTPRequestHead
        /// nil once the body exceeds the limit (the rest is read and dropped; the answer is 413).
        var body: ByteBuffer?
    }

    private enum State {
        case idle
        case reading(Incoming)
        case answering
    }

    private let gateway: Gateway
    private let maximumBodyBytes: Int
    private var state = State.idle
    /// The router is reading a request's body: its parts go on to it.
    private var routerReading = false
    /// Answers the router owes (requests passed on whose response has not ended).
    private var routerAnswersOwed = 0
    /// Parts were passed on to the router since its last read-complete event. The router's side
    /// (an async channel) only needs that event after it was given something.
    private var routerReadPending = false
    /// Parts that arrived while an earlier request was being answered, in order.
    private var held = CircularBuffer<HTTPServerRequestPart>()
    private var heldBytes = 0
    /// Cancels the call in progress (its task, or its upstream exchange).
    private var cancelCall: (() -> Void)?
    /// The server is shutting down: close once the call in progress is answered.
    private var closeWhenAnswered = false
    /// Calls started and answered on this connection (a streamed answer that did not end is
    /// told apart from the next call's by its number).
    private var callsStarted = 0
    private var callsAnswered = 0

    init(gateway: Gateway) {
        self.gateway = gateway
        self.maximumBodyBytes = gateway.configuration.server.maxBodyBytes
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if held.isEmpty && process(part, context: context) { return }
        if case .body(let chunk) = part { heldBytes += chunk.readableBytes }
        // A client that pipelines more than a body's worth of data behind a call is not waited for.
        guard heldBytes <= maximumBodyBytes + 64 * 1024 else {
            context.close(promise: nil)
            return
        }
        held.append(part)
    }

    /// Handles a part now; false when it has to wait for an earlier request's answer.
    private func process(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) -> Bool {
        if routerReading {
            if case .end = part { routerReading = false }
            passOn(part, context: context)
            return true
        }
        switch state {
        case .answering:
            return false
        case .reading(var incoming):
            switch part {
            case .head:
                // The decoder never sends a head inside a request.
                return true
            case .body(var chunk):
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
            case .end:
                state = .answering
                answer(incoming, context: context)
            }
            return true
        case .idle:
            guard case .head(let head) = part else { return true }
            if head.method == .POST, let (route, deployment) = Self.route(of: head.uri) {
                guard routerAnswersOwed == 0 else { return false }
                state = .reading(
                    Incoming(route: route, deployment: deployment, head: head, body: ByteBuffer()))
                // A client that waits for permission to send its body (curl does for large ones)
                // gets it at once instead of after its own timeout; one whose body is too large
                // does not, and is answered 413 once the body is read.
                if let expect = head.headers.first(name: "expect"), expect.lowercased() == "100-continue",
                    (head.headers.first(name: "content-length").flatMap { Int($0) } ?? 0) <= maximumBodyBytes
                {
                    let proceed = HTTPResponseHead(version: head.version, status: .continue)
                    context.writeAndFlush(wrapOutboundOut(.head(proceed)), promise: nil)
                }
            } else {
                routerReading = true
                routerAnswersOwed += 1
                passOn(part, context: context)
            }
            return true
        }
    }

    private func passOn(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        routerReadPending = true
        context.fireChannelRead(wrapInboundOut(part))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // A read that brought only provider calls ends here: the router's handlers have nothing
        // to take.
        guard routerReadPending else { return }
        routerReadPending = false
        context.fireChannelReadComplete()
    }

    /// Goes on with the parts that waited, as far as they can.
    private func resume(context: ChannelHandlerContext) {
        // Taken off the queue before it is processed: a call answered at once resumes the queue
        // from inside `process`.
        while let part = held.popFirst() {
            let bytes = if case .body(let chunk) = part { chunk.readableBytes } else { 0 }
            heldBytes -= bytes
            guard process(part, context: context) else {
                held.prepend(part)
                heldBytes += bytes
                break
            }
        }
        // The router's side takes what was handed on at the end of a read.
        channelReadComplete(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client went away: a call in progress is cancelled (and recorded as such).
        cancelCall?()
        cancelCall = nil
        held.removeAll()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, case .idle = state, held.isEmpty {
            // Nothing of ours in progress: the router's handler closes the connection (now, or
            // after the answer it owes).
            context.fireUserInboundEventTriggered(event)
        } else if event is ChannelShouldQuiesceEvent {
            closeWhenAnswered = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: - Outbound (the router's answers)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        if case .end = unwrapOutboundIn(data), routerAnswersOwed > 0 {
            routerAnswersOwed -= 1
            if routerAnswersOwed == 0 { resume(context: context) }
        }
    }

    // MARK: - Answering

    private func answer(_ incoming: Incoming, context: ChannelHandlerContext) {
        let keepAlive = incoming.head.isKeepAlive
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
            send(reply, keepAlive: keepAlive, number: number, context: context)
        case .upstream(let direct):
            // Relayed from the upstream's read, on this loop.
            cancelCall = direct.cancel
            direct.whenDone { outcome in
                switch outcome {
                case .reply(let reply):
                    self.send(reply, keepAlive: keepAlive, number: number, context: context)
                case .retry(let rest):
                    self.runInTask(rest, keepAlive: keepAlive, number: number, context: context, immediately: false)
                }
            }
        case .task(let rest):
            runInTask(rest, keepAlive: keepAlive, number: number, context: context, immediately: idle)
        }
    }

    /// Sends a reply the loop has: a whole one at once, a stream from a task.
    private func send(_ reply: ProviderReply, keepAlive: Bool, number: Int, context: ChannelHandlerContext) {
        guard case .whole(let body) = reply.body else {
            return runInTask({ reply }, keepAlive: keepAlive, number: number, context: context, immediately: false)
        }
        sendWhole(reply, body: body, keepAlive: keepAlive, context: context)
    }

    /// Runs the rest of a call in a task and sends its reply. With `immediately` (an idle
    /// gateway) the task goes on at once, up to its first wait. Either way its jobs run on this
    /// loop: `NIOSingletons` installs the loops as Swift concurrency's global executor, and jobs
    /// go to the loop they are enqueued from.
    private func runInTask(
        _ operation: @escaping @Sendable () async -> ProviderReply, keepAlive: Bool, number: Int,
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
                let writer = ChannelReplyWriter(connection: connection, keepAlive: keepAlive)
                // Queued on the loop ahead of the writes that follow, when not run at once.
                connection.run { handler, context in
                    handler.sendHead(reply, keepAlive: keepAlive, streamed: true, context: context)
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

    private func sendHead(_ reply: ProviderReply, keepAlive: Bool, streamed: Bool, context: ChannelHandlerContext) {
        var headers = reply.headers
        headers.add(name: "server", value: "TokenLedger")
        if case .whole(let body) = reply.body {
            headers.add(name: "content-length", value: String(body.readableBytes))
        }
        if !keepAlive || closeWhenAnswered { headers.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if streamed { context.flush() }
    }

    private func sendWhole(_ reply: ProviderReply, body: ByteBuffer, keepAlive: Bool, context: ChannelHandlerContext) {
        sendHead(reply, keepAlive: keepAlive, streamed: false, context: context)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        ended(trailers: nil, keepAlive: keepAlive, promise: nil, context: context)
    }

    /// Writes the end of the answer (completing `promise` when it is written); the connection
    /// then serves what waited, or closes.
    fileprivate func ended(
        trailers: HTTPHeaders?, keepAlive: Bool, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext
    ) {
        let closing = !keepAlive || closeWhenAnswered
        // A promise only where someone waits for the write: not for a whole answer that keeps
        // the connection open.
        let written = closing ? (promise ?? context.eventLoop.makePromise()) : promise
        context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: written)
        cancelCall = nil
        state = .idle
        callsAnswered += 1
        if closing {
            held.removeAll()
            let channel = context.channel
            written?.futureResult.whenComplete { _ in channel.close(promise: nil) }
        } else {
            resume(context: context)
        }
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
        try await connection.submit { handler, context in
            context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(buffer))))
        }
    }

    func finish(trailers: [(String, String)]) async throws {
        let keepAlive = self.keepAlive
        try await connection.submit { handler, context in
            let written = context.eventLoop.makePromise(of: Void.self)
            handler.ended(trailers: HTTPHeaders(trailers), keepAlive: keepAlive, promise: written, context: context)
            return written.futureResult
        }
    }
}
