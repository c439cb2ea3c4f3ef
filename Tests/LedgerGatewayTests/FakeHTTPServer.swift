import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A small HTTP/1.1 server for testing the upstream client's connection handling, which the
/// fake provider (a Hummingbird app) cannot show: it counts connections and can misbehave on
/// request. The path says what it does:
///
/// - `/ok`: `{"ok":true}`, keep-alive.
/// - `/close`: the same with `Connection: close`, then closes.
/// - `/hangup`: the same, keep-alive, then closes the connection 50 ms later (an idle timeout).
/// - `/stall`: never answers.
/// - `/drip/N/MS`: an event stream of N events, one every MS milliseconds.
/// - `/big/N`: N bytes of body.
final class FakeHTTPServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let counters: Counters

    final class Counters: Sendable {
        let connections = Atomic<Int>(0)
        let closed = Atomic<Int>(0)
    }

    /// Connections accepted so far.
    var connections: Int { counters.connections.load(ordering: .relaxed) }
    /// Connections that have closed.
    var closedConnections: Int { counters.closed.load(ordering: .relaxed) }

    /// Starts a server on a free loopback port, with TLS when given a certificate and key.
    init(tls: (certificate: String, key: String)? = nil) async throws {
        let counters = Counters()
        let sslContext = try tls.map { files in
            try NIOSSLContext(
                configuration: .makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificate).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: files.key, format: .pem))))
        }
        self.counters = counters
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                counters.connections.add(1, ordering: .relaxed)
                channel.closeFuture.whenComplete { _ in counters.closed.add(1, ordering: .relaxed) }
                do {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext { try pipeline.addHandler(NIOSSLServerHandler(context: sslContext)) }
                    try pipeline.configureHTTPServerPipeline()
                    try pipeline.addHandler(Behaviour())
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.port = channel.localAddress?.port ?? 0
    }

    func stop() async {
        try? await channel.close()
    }

    private final class Behaviour: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private var path = ""

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): path = head.uri
            case .body: break
            case .end: respond(context: context)
            }
        }

        private func respond(context: ChannelHandlerContext) {
            let parts = path.split(separator: "/").map(String.init)
            switch parts.first ?? "" {
            case "ok": send(context, body: #"{"ok":true}"#)
            case "close": send(context, body: #"{"ok":true}"#, close: true)
            case "hangup":
                send(context, body: #"{"ok":true}"#)
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(50)) { context.close(promise: nil) }
            case "stall": break
            case "big": send(context, body: String(repeating: "x", count: Int(parts.last ?? "") ?? 0))
            case "drip":
                let count = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
                let interval = parts.count > 2 ? Int64(parts[2]) ?? 10 : 10
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: "text/event-stream")
                headers.add(name: "transfer-encoding", value: "chunked")
                context.writeAndFlush(
                    wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                    promise: nil)
                drip(context, remaining: count, interval: interval)
            default: send(context, body: "{}", status: .notFound)
            }
        }

        private func drip(_ context: ChannelHandlerContext, remaining: Int, interval: Int64) {
            guard remaining > 0 else {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(interval)) {
                let event = ByteBuffer(string: "data: {\"left\":\(remaining - 1)}\n\n")
                context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(event))), promise: nil)
                self.drip(context, remaining: remaining - 1, interval: interval)
            }
        }

        private func send(
            _ context: ChannelHandlerContext, body: String, status: HTTPResponseStatus = .ok, close: Bool = false
        ) {
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: String(body.utf8.count))
            if close { headers.add(name: "connection", value: "close") }
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            let done = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
            if close { done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
        }
    }
}
