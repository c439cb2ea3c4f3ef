import NIOCore
import NIOHTTP1

/// The bytes of the gateway's requests to providers and the reading of their answers: HTTP/1.1
/// written and parsed in place, without a codec's pipeline steps (a provider call is one POST at a
/// time on a connection, and its answer is a status, headers and a body framed by
/// `Content-Length`, chunked transfer coding, or the connection's close).
enum UpstreamHTTP {
    /// The largest response head accepted (status line and headers).
    static let maximumHeadBytes = 64 * 1024

    /// A POST of `body` to `path` on `hostHeader`: the request line, `host`, the given headers
    /// (less any `host` or `content-length` among them), `content-length`, and the body, in one
    /// buffer. Bytes of the path outside visible ASCII (a model name in an Azure deployment path)
    /// are percent-encoded, and malformed header fields are left out (``HTTP1Writer/field(_:_:into:)``), so
    /// nothing a caller sends can split the request.
    static func request(
        path: String, hostHeader: String, headers: HTTPHeaders, body: ByteBuffer, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var buffer = allocator.buffer(
            capacity: 64 + 3 * path.utf8.count + hostHeader.utf8.count + HTTP1Writer.bytes(of: headers)
                + body.readableBytes)
        buffer.writeStaticString("POST ")
        for byte in path.utf8 {
            if byte > 0x20 && byte < 0x7F {
                buffer.writeInteger(byte)
            } else {
                buffer.writeInteger(UInt8(ascii: "%"))
                buffer.writeInteger(hexDigit(byte >> 4))
                buffer.writeInteger(hexDigit(byte & 0x0F))
            }
        }
        buffer.writeStaticString(" HTTP/1.1\r\nhost: ")
        buffer.writeString(hostHeader)
        for (name, value) in headers
        where !name.equals(lowercasedASCII: "host") && !name.equals(lowercasedASCII: "content-length") {
            HTTP1Writer.field(name, value, into: &buffer)
        }
        buffer.writeStaticString("\r\ncontent-length: ")
        buffer.writeString(String(body.readableBytes))
        buffer.writeStaticString("\r\n\r\n")
        var body = body
        buffer.writeBuffer(&body)
        return buffer
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
    }

    /// Whether an answer's header field is relayed to the caller (content type, provider request
    /// ids, rate limit information); hop-by-hop and length fields are the server's own business,
    /// and the others are not kept.
    static func isRelayed(_ name: UnsafeRawBufferPointer) -> Bool {
        HTTP1Head.starts(name, with: "openai-") || HTTP1Head.starts(name, with: "anthropic-")
            || HTTP1Head.starts(name, with: "x-ratelimit-") || HTTP1Head.equals(name, "content-type")
            || HTTP1Head.equals(name, "x-request-id") || HTTP1Head.equals(name, "request-id")
            || HTTP1Head.equals(name, "retry-after") || HTTP1Head.equals(name, "cache-control")
    }
}

/// What an upstream's answer is made of, as it is read.
enum UpstreamPart {
    /// The final head, with the header fields relayed to callers (``UpstreamHTTP/isRelayed(_:)``);
    /// `keepAlive` when the connection may carry another exchange after this one.
    case head(HTTPResponseStatus, HTTPHeaders, keepAlive: Bool)
    case body(ByteBuffer)
    case end
}

/// Reads one answer at a time from the bytes of an upstream connection.
struct UpstreamResponseParser {
    private var framer = HTTP1Framer(
        subject: "the upstream's answer", maximumHeadBytes: UpstreamHTTP.maximumHeadBytes, messagesFollow: false)

    /// Expects the answer to a request just sent.
    mutating func expectAnswer() {
        framer.expectMessage()
    }

    /// Whether the answer runs until the connection closes (then its close ends it).
    var endsAtClose: Bool { framer.endsAtClose }

    /// Parses `bytes`, calling `part` for each part of the answer, in order.
    mutating func feed(_ bytes: ByteBuffer, _ part: (UpstreamPart) -> Void) throws(HTTP1Error) {
        framer.append(bytes)
        while let next = try framer.next() {
            switch next {
            case .head(let head):
                let (status, headers, framing, keepAlive) = try Self.readHead(head)
                framer.frame(framing)
                if case .interim = framing { continue }
                part(.head(status, headers, keepAlive: keepAlive))
            case .body(let chunk):
                part(.body(chunk))
            case .end:
                part(.end)
            }
        }
    }

    private static func readHead(_ bytes: ByteBuffer) throws(HTTP1Error) -> (
        HTTPResponseStatus, HTTPHeaders, HTTP1Framer.Framing, keepAlive: Bool
    ) {
        let head = try HTTP1Head(bytes, subject: "the upstream's answer", keeping: UpstreamHTTP.isRelayed)
        // HTTP/1.x SSS reason
        let statusLine = head.startLine.readableBytesView
        let http11 = statusLine.starts(with: http11Prefix)
        guard http11 || statusLine.starts(with: http10Prefix), statusLine.count >= 12 else {
            throw HTTP1Error(
                description: "the upstream's status line is not HTTP/1.x: \(HTTP1Head.shown(statusLine))")
        }
        var code = 0
        for byte in statusLine.dropFirst(9).prefix(3) {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw HTTP1Error(description: "the upstream's status code is not three digits")
            }
            code = code * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard code >= 100, statusLine.count == 12 || statusLine.dropFirst(12).first == UInt8(ascii: " ") else {
            throw HTTP1Error(description: "the upstream's status line is malformed")
        }
        let status = HTTPResponseStatus(statusCode: code)
        var keepAlive = http11 ? !head.connectionClose : head.connectionKeepAlive && !head.connectionClose
        if code < 200 {
            // An interim answer (100 Continue, 103 Early Hints): the final one follows.
            guard code != 101 else {
                throw HTTP1Error(description: "the upstream switched protocols, which was not asked for")
            }
            return (status, head.headers, .interim, false)
        }
        if code == 204 || code == 304 { return (status, head.headers, .empty, keepAlive) }
        if head.hasTransferEncoding {
            // Transfer coding wins over a length (and the connection is not reused after both).
            if head.contentLength != nil { keepAlive = false }
            if head.transferCodings.last?.equals(lowercasedASCII: "chunked") == true {
                return (status, head.headers, .chunked, keepAlive)
            }
            return (status, head.headers, .untilClose, false)
        }
        if let length = head.contentLength { return (status, head.headers, .length(length), keepAlive) }
        return (status, head.headers, .untilClose, false)
    }

    private static let http10Prefix = Array("HTTP/1.0 ".utf8)
    private static let http11Prefix = Array("HTTP/1.1 ".utf8)
}
