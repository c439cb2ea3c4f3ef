import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The gateway's HTTP/1.1 client for provider calls.
///
/// One request per connection at a time, keep-alive connections pooled per upstream, and every
/// connection opened on the event loop of the task that asked for it, so a request and its
/// upstream call stay on one thread. The request head, body and end go out in one flush. A
/// response the caller wants streamed (a 2xx `text/event-stream` answer to a streaming request)
/// is handed over at its head, with its body as an async sequence of chunks as they arrive;
/// anything else is collected whole.
///
/// Timeouts: the response head must arrive within the timeout, and after that no more than the
/// timeout may pass between two reads (a long stream that keeps producing is never cut off).
final class UpstreamClient: Sendable {
    /// How long an idle connection is kept for reuse.
    static let idleLimit = TimeAmount.seconds(55)
    /// How many idle connections are kept per upstream.
    static let idleConnectionsPerUpstream = 256

    private let pool = UpstreamPool()
    private let connectTimeout: TimeAmount
    private let maximumResponseBytes: Int
    /// TLS contexts by extra CA file (nil: the system's trust roots only).
    private let tlsContexts = Mutex<[String?: NIOSSLContext]>([:])

    init(connectTimeout: TimeAmount, maximumResponseBytes: Int = 256 * 1024 * 1024) {
        self.connectTimeout = connectTimeout
        self.maximumResponseBytes = maximumResponseBytes
    }

    /// Sends a POST with a JSON body to `path` (with its query) on `target`.
    /// A new connection is opened on `loop` (the caller's), else on the current one.
    func post(
        to target: UpstreamTarget, path: String, headers: HTTPHeaders, body: ByteBuffer, streamWanted: Bool,
        timeout: TimeAmount, on loop: (any EventLoop)? = nil
    ) async throws -> UpstreamResponse {
        let request = Self.request(target: target, path: path, headers: headers, body: body)
        try Task.checkCancellation()
        if let connection = pool.take(target) {
            do {
                return try await send(request, on: connection, streamWanted: streamWanted, timeout: timeout)
            } catch UpstreamError.notSent {
                // The idle connection was closed by the upstream before the request went out:
                // nothing reached it, so a fresh connection may carry the request.
                try Task.checkCancellation()
            }
        }
        let connection = try await connect(target, on: loop ?? MultiThreadedEventLoopGroup.singleton.any())
        return try await send(request, on: connection, streamWanted: streamWanted, timeout: timeout)
    }

    /// Sends a POST on an idle connection of the current event loop, without a task: the answer's
    /// future, and a way to cancel the exchange (closing the connection). Nil when no idle
    /// connection to `target` is on this loop (then ``post(to:path:headers:body:streamWanted:timeout:on:)``).
    func postNow(
        to target: UpstreamTarget, path: String, headers: HTTPHeaders, body: ByteBuffer, timeout: TimeAmount,
        on loop: any EventLoop
    ) -> (answer: EventLoopFuture<UpstreamResponse>, cancel: @Sendable () -> Void)? {
        guard let connection = pool.take(target, onlyOnThisLoop: true) else { return nil }
        let request = Self.request(target: target, path: path, headers: headers, body: body)
        let promise = loop.makePromise(of: UpstreamResponse.self)
        connection.handler.value.start(
            UpstreamExchange(request: request, streamWanted: false, timeout: timeout, promise: promise))
        let channel = connection.channel
        return (promise.futureResult, { channel.close(promise: nil) })
    }

    /// A POST's bytes: the caller's headers, the target's `Host`, the body's length and the body.
    private static func request(target: UpstreamTarget, path: String, headers: HTTPHeaders, body: ByteBuffer)
        -> ByteBuffer
    {
        UpstreamHTTP.request(
            path: path, hostHeader: target.hostHeader, headers: headers, body: body, allocator: ByteBufferAllocator())
    }

    /// Closes the idle connections.
    func shutdown() {
        for connection in pool.drain() { connection.channel.close(promise: nil) }
    }

    private func send(
        _ request: ByteBuffer, on connection: UpstreamConnection, streamWanted: Bool, timeout: TimeAmount
    ) async throws -> UpstreamResponse {
        let loop = connection.channel.eventLoop
        let promise = loop.makePromise(of: UpstreamResponse.self)
        let exchange = UpstreamExchange(
            request: request, streamWanted: streamWanted, timeout: timeout, promise: promise)
        if loop.inEventLoop {
            connection.handler.value.start(exchange)
        } else {
            loop.execute { connection.handler.value.start(exchange) }
        }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            connection.channel.close(promise: nil)
        }
    }

    private func connect(_ target: UpstreamTarget, on loop: any EventLoop) async throws -> UpstreamConnection {
        let tls = target.tls ? try tlsContext(caFile: target.caFile) : nil
        let pool = self.pool
        let maximumResponseBytes = self.maximumResponseBytes
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        let hostname = target.isIPAddress ? nil : target.host
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname))
                    }
                    // HTTP/1.1 is written and read by the handler itself (`UpstreamHTTP`).
                    try pipeline.addHandler(
                        UpstreamConnectionHandler(
                            target: target, pool: pool, maximumResponseBytes: maximumResponseBytes))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: target.host, port: target.port).get()
        } catch ChannelError.connectTimeout {
            throw UpstreamError.connectTimeout
        } catch {
            throw UpstreamError.connectFailed(String(describing: error))
        }
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(
                try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self),
                eventLoop: channel.eventLoop)
        }.get()
        return UpstreamConnection(channel: channel, handler: handler)
    }

    /// The TLS context for upstreams trusting `caFile` besides the system's roots; created once.
    /// Call at startup for each configured file, so that a bad one stops the start.
    func tlsContext(caFile: String?) throws -> NIOSSLContext {
        try tlsContexts.withLock { contexts throws -> NIOSSLContext in
            if let context = contexts[caFile] { return context }
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile { configuration.additionalTrustRoots = [.file(caFile)] }
            let created = try NIOSSLContext(configuration: configuration)
            contexts[caFile] = created
            return created
        }
    }
}

/// Why an upstream call failed.
enum UpstreamError: Error, Equatable, CustomStringConvertible {
    /// The upstream's URL cannot be used (`upstreams[].base_url`).
    case invalidURL(String)
    /// No connection within `server.connect_timeout_seconds`.
    case connectTimeout
    /// The connection could not be made.
    case connectFailed(String)
    /// Nothing was read within `server.upstream_timeout_seconds`.
    case readTimeout
    /// The upstream closed the connection before its answer was complete.
    case closedEarly
    /// The answer is larger than the gateway relays.
    case responseTooLarge(Int)
    /// The connection was closed before the request went out (retried on a new connection).
    case notSent

    var description: String {
        switch self {
        case .invalidURL(let url):
            "the upstream URL '\(url)' is not an http:// or https:// URL; fix upstreams[].base_url"
        case .connectTimeout: "the connection timed out"
        case .connectFailed(let reason): "could not connect: \(reason)"
        case .readTimeout: "no answer in time"
        case .closedEarly: "the upstream closed the connection before its answer was complete"
        case .responseTooLarge(let limit): "the answer is larger than \(limit) bytes"
        case .notSent: "the connection closed before the request was sent"
        }
    }
}

/// An upstream's answer: the head, and the body whole or as a stream.
struct UpstreamResponse: Sendable {
    enum Body: Sendable {
        case whole(ByteBuffer)
        case stream(UpstreamBodyStream)
    }

    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: Body
}

/// A streamed response body: chunks as the upstream sends them. Ending the iteration early
/// (or `cancel()`) closes the upstream connection, which cancels the call.
struct UpstreamBodyStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let chunks: AsyncThrowingStream<ByteBuffer, any Error>
    let channel: any Channel

    func makeAsyncIterator() -> AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator {
        chunks.makeAsyncIterator()
    }

    /// Closes the upstream connection: the provider stops generating.
    func cancel() { channel.close(promise: nil) }
}

/// Where an upstream listens.
struct UpstreamTarget: Hashable, Sendable {
    let tls: Bool
    let host: String
    let port: Int
    /// Certificate authorities trusted besides the system's (https only).
    var caFile: String?
    /// The `Host` header: the host, and the port when it is not the scheme's own (made once, not
    /// for every request).
    let hostHeader: String

    init(tls: Bool, host: String, port: Int, caFile: String? = nil) {
        self.tls = tls
        self.host = host
        self.port = port
        self.caFile = caFile
        let name = host.contains(":") ? "[\(host)]" : host
        hostHeader = port == (tls ? 443 : 80) ? name : "\(name):\(port)"
    }

    var isIPAddress: Bool { host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." } }

    // The Host header follows from the rest: not compared, not hashed (the pool hashes targets).
    static func == (lhs: UpstreamTarget, rhs: UpstreamTarget) -> Bool {
        lhs.tls == rhs.tls && lhs.host == rhs.host && lhs.port == rhs.port && lhs.caFile == rhs.caFile
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(tls)
        hasher.combine(host)
        hasher.combine(port)
        hasher.combine(caFile)
    }

    /// The target and the path (with query) of an `http://` or `https://` URL.
    static func parse(_ url: String) throws(UpstreamError) -> (UpstreamTarget, String) {
        let tls: Bool
        var rest: Substring
        if url.hasPrefix("https://") {
            tls = true
            rest = url.dropFirst(8)
        } else if url.hasPrefix("http://") {
            tls = false
            rest = url.dropFirst(7)
        } else {
            throw .invalidURL(url)
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        let path = rest.isEmpty ? "/" : (rest.first == "?" ? "/" + rest : String(rest))
        var host = authority
        var port = tls ? 443 : 80
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw .invalidURL(url) }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":", let number = Int(after.dropFirst()) else { throw .invalidURL(url) }
                port = number
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let number = Int(authority[authority.index(after: colon)...]) else { throw .invalidURL(url) }
            host = authority[..<colon]
            port = number
        }
        guard !host.isEmpty, (1...65535).contains(port), !host.contains("@") else { throw .invalidURL(url) }
        return (UpstreamTarget(tls: tls, host: String(host), port: port), path)
    }
}

/// A connection and its handler (touched only on the connection's event loop).
struct UpstreamConnection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<UpstreamConnectionHandler>
}

/// Idle keep-alive connections by upstream.
final class UpstreamPool: Sendable {
    private struct Idle {
        var connection: UpstreamConnection
        var since: NIODeadline
    }

    private let idle = Mutex<[UpstreamTarget: [Idle]]>([:])

    /// An idle connection to `target`, preferably one on the current event loop (with
    /// `onlyOnThisLoop`, only such a one). Connections idle longer than
    /// ``UpstreamClient/idleLimit`` are closed on the way.
    func take(_ target: UpstreamTarget, onlyOnThisLoop: Bool = false) -> UpstreamConnection? {
        let now = NIODeadline.now()
        let (found, expired) = idle.withLock { idle in
            Self.take(from: &idle[target, default: []], now: now, onlyOnThisLoop: onlyOnThisLoop)
        }
        for connection in expired { connection.channel.close(promise: nil) }
        return found
    }

    private static func take(from list: inout [Idle], now: NIODeadline, onlyOnThisLoop: Bool) -> (
        UpstreamConnection?, expired: [UpstreamConnection]
    ) {
        // Oldest first: the expired ones are a prefix.
        let fresh = list.firstIndex { now - $0.since <= UpstreamClient.idleLimit } ?? list.endIndex
        let expired = list[..<fresh].map(\.connection)
        list.removeSubrange(..<fresh)
        let here = list.lastIndex { $0.connection.channel.eventLoop.inEventLoop }
        guard let index = onlyOnThisLoop ? here : here ?? list.indices.last else { return (nil, expired) }
        return (list.remove(at: index).connection, expired)
    }

    /// Keeps a connection whose exchange finished for reuse; false when the pool is full.
    func release(_ connection: UpstreamConnection, target: UpstreamTarget) -> Bool {
        idle.withLock { idle in
            guard idle[target, default: []].count < UpstreamClient.idleConnectionsPerUpstream else { return false }
            idle[target, default: []].append(Idle(connection: connection, since: .now()))
            return true
        }
    }

    /// Forgets a connection that closed.
    func remove(_ channel: any Channel, target: UpstreamTarget) {
        idle.withLock { idle in
            idle[target]?.removeAll { $0.connection.channel === channel }
        }
    }

    /// Removes and returns every idle connection.
    func drain() -> [UpstreamConnection] {
        idle.withLock { idle in
            defer { idle.removeAll() }
            return idle.values.flatMap { $0.map(\.connection) }
        }
    }
}

/// One request and its answer on a connection.
struct UpstreamExchange: Sendable {
    /// The whole request: head and body.
    var request: ByteBuffer
    var streamWanted: Bool
    var timeout: TimeAmount
    var promise: EventLoopPromise<UpstreamResponse>
}
