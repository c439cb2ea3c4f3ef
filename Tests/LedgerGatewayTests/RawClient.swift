import Foundation

/// A bare HTTP/1.1 client on a socket, for what HTTP libraries hide: hanging up mid-stream.
enum RawClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs blocking socket work on a thread of its own: a blocking read on one of Swift
    /// concurrency's few threads could starve the gateway under test (in tests, its tasks run on
    /// them).
    private static func offPool<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    /// Sends a streaming request, reads until the first streamed delta, then closes the socket.
    /// Returns the gateway's request id.
    static func streamThenDisconnect(port: Int, key: String, body: String) async throws -> String {
        let received = try await offPool {
            let descriptor = try connected(port: port)
            defer { close(descriptor) }
            try transmit(chatRequest(key: key, body: body), on: descriptor)
            return try receive(on: descriptor) { $0.contains("piece 1") }
        }
        guard received.contains("piece 1") else {
            throw Failure(description: "the stream ended before a delta: \(received)")
        }
        for line in received.split(separator: "\r\n") where line.lowercased().hasPrefix("x-tokenledger-request-id:") {
            return String(line.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces)
        }
        throw Failure(description: "no request id in \(received)")
    }

    /// Sends `requests` in one write (pipelined) and reads until the server closes the connection.
    static func pipeline(port: Int, _ requests: [String]) async throws -> String {
        try await offPool {
            let descriptor = try connected(port: port)
            defer { close(descriptor) }
            try transmit(requests.joined(), on: descriptor)
            return try receive(on: descriptor) { _ in false }
        }
    }

    /// Sends a request's head with `Expect: 100-continue`, waits for the interim answer, then sends
    /// the body. Returns the interim answer and the final one.
    /// The interim answer is empty when none came within `interimWait` seconds.
    static func expectContinue(port: Int, key: String, body: String, interimWait: Int32 = 5) async throws -> (
        interim: String, final: String
    ) {
        try await offPool {
            let descriptor = try connected(port: port)
            defer { close(descriptor) }
            let request = chatRequest(key: key, body: body, extraHeaders: "Expect: 100-continue\r\n")
            try transmit(String(request.dropLast(body.utf8.count)), on: descriptor)
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let interim =
                poll(&ready, 1, interimWait * 1000) > 0 ? try receive(on: descriptor) { $0.contains("\r\n\r\n") } : ""
            try transmit(body, on: descriptor)
            let final = try receive(on: descriptor) { $0.contains("\r\n\r\n{") && $0.hasSuffix("}") }
            return (interim, final)
        }
    }

    /// Sends a request, waits `seconds`, and hangs up without reading the answer.
    static func sendThenHangUp(port: Int, _ request: String, after seconds: Double) async throws {
        let descriptor = try connected(port: port)
        defer { close(descriptor) }
        try transmit(request, on: descriptor)
        try await Task.sleep(for: .seconds(seconds))
    }

    /// Sends `requests` one after the other on one keep-alive connection, each once the answer to
    /// the one before has been read, and returns the answers. With `hangUpAfter`, the last one's
    /// answer is not read: the connection is closed that many seconds after it was sent.
    static func keepAlive(port: Int, _ requests: [String], hangUpAfter seconds: Double? = nil) async throws
        -> [String]
    {
        try await offPool {
            let descriptor = try connected(port: port)
            defer { close(descriptor) }
            var answers: [String] = []
            for (index, request) in requests.enumerated() {
                try transmit(request, on: descriptor)
                if let seconds, index == requests.count - 1 {
                    usleep(useconds_t(seconds * 1_000_000))
                    break
                }
                answers.append(try receive(on: descriptor) { isComplete($0) })
            }
            return answers
        }
    }

    /// Whether `text` holds a whole answer with a `Content-Length` body.
    private static func isComplete(_ text: String) -> Bool {
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return false }
        return text[end.upperBound...].utf8.count >= length
    }

    /// A `POST /v1/chat/completions` with `key` and a JSON body.
    static func chatRequest(key: String, body: String, extraHeaders: String = "") -> String {
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)\r\n\(body)"
    }

    private static func connected(port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(descriptor)
            throw Failure(description: "connect failed")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return descriptor
    }

    private static func transmit(_ text: String, on descriptor: Int32) throws {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
        guard sent == bytes.count else { throw Failure(description: "send failed") }
    }

    /// Reads until `done` says so, the server closes the connection, or 10 s pass without data.
    private static func receive(on descriptor: Int32, until done: (String) -> Bool) throws -> String {
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !done(received) {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += String(decoding: buffer[0..<count], as: UTF8.self)
        }
        return received
    }
}
