import NIOCore
import NIOHTTP1

/// The bytes of the gateway's requests to providers and the reading of their answers: HTTP/1.1
/// written and parsed in place, without a codec's pipeline steps (a provider call is one POST at a
/// time on a connection, and its answer is a status, headers and a body framed by
/// `Content-Length`, chunked transfer coding, or the connection's close).
enum UpstreamHTTP {
    /// The largest response head accepted (status line and headers).
    static let maximumHeadBytes = 64 * 1024
    /// The longest chunk-size line (size, extensions) or trailer line accepted.
    static let maximumLineBytes = 8 * 1024

    /// A POST of `body` to `path` on `hostHeader`: the request line, `host`, the given headers
    /// (less any `host` or `content-length` among them), `content-length`, and the body, in one
    /// buffer. Bytes of the path outside visible ASCII (a model name in an Azure deployment path)
    /// are percent-encoded, and header fields with a control character are left out, so nothing a
    /// caller sends can split the request.
    static func request(
        path: String, hostHeader: String, headers: HTTPHeaders, body: ByteBuffer, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256 + path.utf8.count + body.readableBytes)
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
        for (name, value) in headers {
            guard !name.equals(lowercasedASCII: "host"), !name.equals(lowercasedASCII: "content-length"),
                isFieldName(name), isFieldValue(value)
            else { continue }
            buffer.writeStaticString("\r\n")
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
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

    /// A header name: visible ASCII without `:`.
    static func isFieldName(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: ":")
            }
    }

    private static func isFieldValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { byte in byte >= 0x20 && byte != 0x7F || byte == 0x09 }
    }
}

/// What an upstream's answer is made of, as it is read.
enum UpstreamPart {
    /// The final head; `keepAlive` when the connection may carry another exchange after this one.
    case head(HTTPResponseStatus, HTTPHeaders, keepAlive: Bool)
    case body(ByteBuffer)
    case end
}

/// Why an upstream's answer could not be read.
struct UpstreamProtocolError: Error, CustomStringConvertible {
    var description: String
}

/// Reads one answer at a time from the bytes of an upstream connection.
struct UpstreamResponseParser {
    private enum Phase {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        /// The answer ended; anything more is unexpected until the next request.
        case done
    }

    private var phase = Phase.done
    /// Bytes read but not yet parsed (a part of a head or of a line).
    private var pending: ByteBuffer?
    /// How many bytes of `pending` were searched for the end of the head or line without finding
    /// it (so a head that arrives a byte at a time is not searched from its start every time).
    private var scanned = 0

    /// Expects the answer to a request just sent.
    mutating func expectAnswer() {
        phase = .head
        pending = nil
        scanned = 0
    }

    /// Whether the answer runs until the connection closes (then its close ends it).
    var endsAtClose: Bool {
        if case .untilClose = phase { return true }
        return false
    }

    /// Parses `bytes`, calling `part` for each part of the answer, in order.
    mutating func feed(_ bytes: ByteBuffer, _ part: (UpstreamPart) -> Void) throws(UpstreamProtocolError) {
        var buffer: ByteBuffer
        if pending != nil {
            var earlier = pending!
            pending = nil  // so that `earlier` grows in place
            var bytes = bytes
            earlier.writeBuffer(&bytes)
            buffer = earlier
        } else {
            buffer = bytes
            scanned = 0
        }
        while buffer.readableBytes > 0 {
            switch phase {
            case .done:
                throw UpstreamProtocolError(description: "the upstream sent bytes after its answer ended")
            case .head:
                guard let headEnd = Self.find(Self.crlfcrlf, in: buffer, from: max(0, scanned - 3)) else {
                    scanned = buffer.readableBytes
                    guard buffer.readableBytes <= UpstreamHTTP.maximumHeadBytes else {
                        throw UpstreamProtocolError(
                            description:
                                "the upstream's response head is larger than \(UpstreamHTTP.maximumHeadBytes) bytes")
                    }
                    pending = buffer
                    return
                }
                scanned = 0
                let head = buffer.readSlice(length: headEnd + 4)!
                try readHead(head, part)
            case .body(let remaining):
                let slice = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
                let left = remaining - slice.readableBytes
                part(.body(slice))
                if left == 0 {
                    phase = .done
                    part(.end)
                } else {
                    phase = .body(remaining: left)
                }
            case .chunkSize:
                guard let line = try readLine(&buffer) else { return }
                let size = try Self.chunkSize(line)
                phase = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let slice = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
                let left = remaining - slice.readableBytes
                part(.body(slice))
                phase = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
            case .chunkDataEnd:
                guard let line = try readLine(&buffer) else { return }
                guard line.readableBytes == 0 else {
                    throw UpstreamProtocolError(description: "a chunk of the upstream's answer is longer than its size")
                }
                phase = .chunkSize
            case .trailers:
                guard let line = try readLine(&buffer) else { return }
                if line.readableBytes == 0 {
                    phase = .done
                    part(.end)
                }
            case .untilClose:
                part(.body(buffer))
                return
            }
        }
    }

    /// The next line (without its CRLF), or nil when it is not complete yet (the rest is kept).
    private mutating func readLine(_ buffer: inout ByteBuffer) throws(UpstreamProtocolError) -> ByteBuffer? {
        guard let end = Self.find(Self.crlf, in: buffer, from: max(0, scanned - 1)) else {
            scanned = buffer.readableBytes
            guard buffer.readableBytes <= UpstreamHTTP.maximumLineBytes else {
                throw UpstreamProtocolError(description: "a line of the upstream's chunked answer is too long")
            }
            pending = buffer
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return nil
        }
        scanned = 0
        let line = buffer.readSlice(length: end)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private mutating func readHead(_ head: ByteBuffer, _ part: (UpstreamPart) -> Void) throws(UpstreamProtocolError) {
        let bytes = head.readableBytesView
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            line.last == UInt8(ascii: "\r") ? line.dropLast() : line
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let statusLine = lines.first else {
            throw UpstreamProtocolError(description: "the upstream's answer has no status line")
        }
        // HTTP/1.x SSS reason
        let http11 = statusLine.starts(with: Self.http11)
        guard http11 || statusLine.starts(with: Self.http10), statusLine.count >= 12 else {
            throw UpstreamProtocolError(
                description:
                    "the upstream's status line is not HTTP/1.x: \(String(decoding: statusLine.prefix(40), as: UTF8.self))"
            )
        }
        var code = 0
        for byte in statusLine.dropFirst(9).prefix(3) {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw UpstreamProtocolError(description: "the upstream's status code is not three digits")
            }
            code = code * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard code >= 100, statusLine.count == 12 || statusLine.dropFirst(12).first == UInt8(ascii: " ") else {
            throw UpstreamProtocolError(description: "the upstream's status line is malformed")
        }
        var headers = HTTPHeaders()
        var contentLength: Int?
        var chunked = false
        var transferEncoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                line.first != UInt8(ascii: " "), line.first != UInt8(ascii: "\t")
            else {
                throw UpstreamProtocolError(description: "a header line of the upstream's answer is malformed")
            }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            guard UpstreamHTTP.isFieldName(name) else {
                throw UpstreamProtocolError(description: "a header name of the upstream's answer is malformed")
            }
            var value = line[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            let text = String(decoding: value, as: UTF8.self)
            if name.equals(lowercasedASCII: "content-length") {
                guard let length = Int(text), length >= 0, contentLength == nil || contentLength == length else {
                    throw UpstreamProtocolError(description: "the upstream's Content-Length '\(text)' is not usable")
                }
                contentLength = length
            } else if name.equals(lowercasedASCII: "transfer-encoding") {
                transferEncoding = true
                let last = text.split(separator: ",").last.map(Self.trimmed) ?? ""
                chunked = last.equals(lowercasedASCII: "chunked")
            } else if name.equals(lowercasedASCII: "connection") {
                for token in text.split(separator: ",") {
                    let token = Self.trimmed(token)
                    if token.equals(lowercasedASCII: "close") { connectionClose = true }
                    if token.equals(lowercasedASCII: "keep-alive") { connectionKeepAlive = true }
                }
            }
            headers.add(name: name, value: text)
        }
        if code < 200 {
            // An interim answer (100 Continue, 103 Early Hints): the final one follows.
            guard code != 101 else {
                throw UpstreamProtocolError(description: "the upstream switched protocols, which was not asked for")
            }
            return
        }
        var keepAlive = http11 ? !connectionClose : connectionKeepAlive && !connectionClose
        let status = HTTPResponseStatus(statusCode: code)
        if code == 204 || code == 304 {
            phase = .done
            part(.head(status, headers, keepAlive: keepAlive))
            part(.end)
        } else if transferEncoding {
            // Transfer coding wins over a length (and the connection is not reused after both).
            if contentLength != nil { keepAlive = false }
            if chunked {
                phase = .chunkSize
            } else {
                phase = .untilClose
                keepAlive = false
            }
            part(.head(status, headers, keepAlive: keepAlive))
        } else if let contentLength {
            part(.head(status, headers, keepAlive: keepAlive))
            if contentLength == 0 {
                phase = .done
                part(.end)
            } else {
                phase = .body(remaining: contentLength)
            }
        } else {
            phase = .untilClose
            part(.head(status, headers, keepAlive: false))
        }
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }

    private static func chunkSize(_ line: ByteBuffer) throws(UpstreamProtocolError) -> Int {
        var size = 0
        var digits = 0
        for byte in line.readableBytesView {
            let digit: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(byte - UInt8(ascii: "A")) + 10
            case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"):
                // Chunk extensions (and the space before them) are ignored.
                guard digits > 0 else {
                    throw UpstreamProtocolError(description: "a chunk size of the upstream's answer is missing")
                }
                return size
            default:
                throw UpstreamProtocolError(description: "a chunk size of the upstream's answer is not hexadecimal")
            }
            digits += 1
            guard digits <= 15 else {
                throw UpstreamProtocolError(description: "a chunk of the upstream's answer is too large")
            }
            size = size * 16 + digit
        }
        guard digits > 0 else {
            throw UpstreamProtocolError(description: "a chunk size of the upstream's answer is missing")
        }
        return size
    }

    private static let http10 = Array("HTTP/1.0 ".utf8)
    private static let http11 = Array("HTTP/1.1 ".utf8)
    private static let crlf: [UInt8] = [13, 10]
    private static let crlfcrlf: [UInt8] = [13, 10, 13, 10]

    /// The offset of `pattern` in the readable bytes of `buffer`, searching from `start`.
    private static func find(_ pattern: [UInt8], in buffer: ByteBuffer, from start: Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            guard bytes.count >= pattern.count else { return nil }
            let first = pattern[0]
            var index = start
            let last = bytes.count - pattern.count
            while index <= last {
                if bytes[index] == first {
                    var matched = true
                    for offset in 1..<pattern.count where bytes[index + offset] != pattern[offset] {
                        matched = false
                        break
                    }
                    if matched { return index }
                }
                index += 1
            }
            return nil
        }
    }
}
