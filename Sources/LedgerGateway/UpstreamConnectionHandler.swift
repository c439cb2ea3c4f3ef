import NIOCore
import NIOHTTP1

/// Runs one exchange at a time on an upstream connection: writes the request, hands the answer
/// to the waiting call (whole, or as a stream of chunks), enforces the read timeout, and returns
/// the connection to the pool when the answer ended and both sides allow keep-alive.
final class UpstreamConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        case awaitingHead(EventLoopPromise<UpstreamResponse>, streamWanted: Bool)
        case collecting(HTTPResponseStatus, HTTPHeaders, ByteBuffer, EventLoopPromise<UpstreamResponse>)
        case streaming(AsyncThrowingStream<ByteBuffer, any Error>.Continuation)
        case closed
    }

    private let target: UpstreamTarget
    private let pool: UpstreamPool
    private let maximumResponseBytes: Int
    private var state = State.idle
    private var parser = UpstreamResponseParser()
    private var context: ChannelHandlerContext?
    private var requestWritten = false
    private var keepAlive = false
    private var timeout = TimeAmount.seconds(60)
    private var lastRead = NIODeadline.now()
    /// The read timeout's timer and when it fires. It stays armed from one exchange to the next
    /// (it re-arms itself to the latest read's deadline when it fires early, and lapses on an idle
    /// connection), so an exchange neither schedules nor cancels one.
    private var timer: (task: Scheduled<Void>, deadline: NIODeadline)?

    init(target: UpstreamTarget, pool: UpstreamPool, maximumResponseBytes: Int) {
        self.target = target
        self.pool = pool
        self.maximumResponseBytes = maximumResponseBytes
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Writes the exchange's request (one buffer, one flush) and waits for the answer.
    func start(_ exchange: UpstreamExchange) {
        guard let context, case .idle = state, context.channel.isActive else {
            exchange.promise.fail(UpstreamError.notSent)
            return
        }
        state = .awaitingHead(exchange.promise, streamWanted: exchange.streamWanted)
        requestWritten = false
        keepAlive = false  // until the answer's head says
        parser.expectAnswer()
        timeout = exchange.timeout
        lastRead = .now()
        if let timer, timer.deadline <= lastRead + timeout {
            // Armed by an earlier exchange: it fires no later than this one's deadline, and then
            // waits on for the rest.
        } else {
            timer?.task.cancel()
            scheduleTimer(at: lastRead + timeout)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(exchange.request), promise: written)
        written.futureResult.assumeIsolated().whenComplete { result in
            switch (result, self.state) {
            case (.success, _): self.requestWritten = true
            case (.failure, .awaitingHead): self.fail(UpstreamError.notSent, close: true)
            case (.failure, _): break  // the answer came early; the close that follows ends it
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        // Taken out while it reads: a part may end the exchange and close the connection, whose
        // `channelInactive` runs at once and must not find the parser in use.
        var parser = self.parser
        self.parser = UpstreamResponseParser()
        do {
            try parser.feed(unwrapInboundIn(data)) { part in handle(part, context: context) }
            self.parser = parser
        } catch {
            self.parser = parser
            fail(error, close: true)
        }
    }

    private func handle(_ part: UpstreamPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.awaitingHead(let promise, let streamWanted), .head(let status, let headers, let reusable)):
            keepAlive = reusable  // the request was HTTP/1.1 without `Connection: close`
            let eventStream =
                streamWanted && (200..<300).contains(Int(status.code))
                && (headers.first(name: "content-type") ?? "").contains("text/event-stream")
            guard eventStream else {
                state = .collecting(status, headers, context.channel.allocator.buffer(capacity: 0), promise)
                return
            }
            let (chunks, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
            let channel = context.channel
            continuation.onTermination = { reason in
                if case .cancelled = reason { channel.close(promise: nil) }
            }
            state = .streaming(continuation)
            promise.succeed(
                UpstreamResponse(
                    status: status, headers: headers,
                    body: .stream(UpstreamBodyStream(chunks: chunks, channel: channel))))
        case (.collecting(let status, let headers, var collected, let promise), .body(var chunk)):
            guard collected.readableBytes + chunk.readableBytes <= maximumResponseBytes else {
                fail(UpstreamError.responseTooLarge(maximumResponseBytes), close: true)
                return
            }
            state = .idle  // so that `collected` is uniquely referenced while it grows
            if collected.readableBytes == 0 {
                collected = chunk
            } else {
                collected.writeBuffer(&chunk)
            }
            state = .collecting(status, headers, collected, promise)
        case (.collecting(let status, let headers, let collected, let promise), .end):
            finishExchange(context: context)
            promise.succeed(UpstreamResponse(status: status, headers: headers, body: .whole(collected)))
        case (.streaming(let continuation), .body(let chunk)):
            continuation.yield(chunk)
        case (.streaming(let continuation), .end):
            finishExchange(context: context)
            continuation.finish()
        default:
            // Bytes nobody asked for, or out of order: the connection cannot be trusted any more.
            fail(UpstreamError.closedEarly, close: true)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error, close: true)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pool.remove(context.channel, target: target)
        // An answer framed by the connection's close is complete now.
        if parser.endsAtClose { handle(.end, context: context) }
        if case .awaitingHead = state, !requestWritten {
            fail(UpstreamError.notSent, close: false)
        } else {
            fail(UpstreamError.closedEarly, close: false)
        }
        context.fireChannelInactive()
    }

    /// The answer ended: back to the pool if the connection may carry another exchange.
    private func finishExchange(context: ChannelHandlerContext) {
        state = .idle
        let reusable =
            keepAlive && requestWritten && context.channel.isActive
            && pool.release(
                UpstreamConnection(channel: context.channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop)),
                target: target)
        if !reusable {
            state = .closed
            context.close(promise: nil)
        }
    }

    /// Fails the exchange in progress, if any.
    private func fail(_ error: any Error, close: Bool) {
        let previous = state
        state = .closed
        timer?.task.cancel()
        timer = nil
        switch previous {
        case .awaitingHead(let promise, _), .collecting(_, _, _, let promise): promise.fail(error)
        case .streaming(let continuation): continuation.finish(throwing: error)
        case .idle, .closed: break
        }
        if close { context?.close(promise: nil) }
    }

    private func scheduleTimer(at deadline: NIODeadline) {
        guard let context else { return }
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.timerFired() }
        timer = (task, deadline)
    }

    /// The read timeout: fails the exchange if nothing was read for `timeout`, else waits on.
    private func timerFired() {
        timer = nil
        switch state {
        case .idle, .closed: return  // between exchanges: the next one arms it again
        case .awaitingHead, .collecting, .streaming: break
        }
        let due = lastRead + timeout
        if due <= .now() {
            fail(UpstreamError.readTimeout, close: true)
        } else {
            scheduleTimer(at: due)
        }
    }
}
