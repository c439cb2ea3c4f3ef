import Foundation

/// A bare HTTP/1.1 client on a socket, for what HTTP libraries hide: hanging up mid-stream.
enum RawClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Sends a streaming request, reads until the first streamed delta, then closes the socket.
    /// Returns the gateway's request id.
    static func streamThenDisconnect(port: Int, key: String, body: String) async throws -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw Failure(description: "connect failed") }
        let request =
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.contains("piece 1") {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw Failure(description: "the stream ended before a delta: \(received)") }
            received += String(decoding: buffer[0..<count], as: UTF8.self)
        }
        for line in received.split(separator: "\r\n") where line.lowercased().hasPrefix("x-tokenledger-request-id:") {
            return String(line.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces)
        }
        throw Failure(description: "no request id in \(received)")
    }
}
