import NIOCore
import NIOHTTP1

/// Why an HTTP/1.1 message could not be read, and the status a caller refused for it gets.
struct HTTP1Error: Error, CustomStringConvertible {
    var description: String
    var status: HTTPResponseStatus = .badRequest
}

/// Where the messages on an HTTP/1.1 connection begin and end (RFC 9112): each head ends at an
/// empty line, and its body is framed by a length, chunked transfer coding or the connection's
/// close. The parts are pulled one at a time (``next()``), so a connection can stop between
/// messages and go on later; the head's fields, and from them the framing, are read by the owner
/// (``HTTP1Head``), who says how the body is framed with ``frame(_:)``.
struct HTTP1Framer {
    enum Framing {
        /// No body: the message ends with its head.
        case empty
        case length(Int)
        case chunked
        /// The body runs until the connection closes (answers only).
        case untilClose
        /// An interim answer (1xx): a head alone, and the final answer's head follows.
        case interim
    }

    enum Part {
        case head(ByteBuffer)
        case body(ByteBuffer)
        case end
    }

    private enum Phase {
        case head
        /// A head was handed out: waiting for ``frame(_:)``.
        case framing
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(bytes: Int)
        case untilClose
        /// Ended: nothing more is expected until ``expectMessage()``.
        case done
    }

    /// How errors name the message: "the request", "the upstream's answer".
    private let subject: String
    private let maximumHeadBytes: Int
    /// Requests follow one another on a connection; an answer is followed by nothing until the
    /// next request is sent.
    private let messagesFollow: Bool
    private var phase: Phase
    private var endDue = false
    /// Bytes read and not yet handed out.
    private var pending = ByteBuffer()
    /// How many bytes of `pending` were searched for the end of the head or line without finding
    /// it (so a head that arrives a byte at a time is not searched from its start every time).
    private var scanned = 0

    /// The longest chunk-size line (size, extensions) or trailer line accepted.
    static let maximumLineBytes = 8 * 1024

    init(subject: String, maximumHeadBytes: Int, messagesFollow: Bool) {
        self.subject = subject
        self.maximumHeadBytes = maximumHeadBytes
        self.messagesFollow = messagesFollow
        self.phase = messagesFollow ? .head : .done
    }

    /// Bytes read and not yet handed out.
    var bufferedBytes: Int { pending.readableBytes }

    /// Whether the body runs until the connection closes (then the close ends it).
    var endsAtClose: Bool {
        if case .untilClose = phase { return true }
        return false
    }

    /// Whether the connection is between messages with nothing of the next one read.
    var isBetweenMessages: Bool {
        guard !endDue, pending.readableBytes == 0 else { return false }
        switch phase {
        case .head, .done: return true
        default: return false
        }
    }

    /// Expects the next message (an answer to a request just sent), dropping anything read.
    mutating func expectMessage() {
        phase = .head
        endDue = false
        pending.clear()
        scanned = 0
    }

    /// Adds bytes read from the connection.
    mutating func append(_ bytes: ByteBuffer) {
        if pending.readableBytes == 0 {
            pending = bytes
            scanned = 0
        } else {
            var bytes = bytes
            pending.writeBuffer(&bytes)
        }
    }

    /// How the body of the message whose head was just handed out is framed.
    mutating func frame(_ framing: Framing) {
        switch framing {
        case .empty:
            endDue = true
        case .length(let length):
            if length == 0 { endDue = true } else { phase = .body(remaining: length) }
        case .chunked:
            phase = .chunkSize
        case .untilClose:
            phase = .untilClose
        case .interim:
            phase = .head
        }
    }

    /// The next part, or nil until more bytes are read (or, after a head, until it is framed).
    mutating func next() throws(HTTP1Error) -> Part? {
        if endDue { return end() }
        while true {
            switch phase {
            case .framing:
                return nil
            case .done:
                guard pending.readableBytes == 0 else { throw error("went on after its end") }
                return nil
            case .head:
                // Empty lines before a request line are ignored (RFC 9112, section 2.2).
                while messagesFollow, pending.readableBytes >= 2,
                    pending.getInteger(at: pending.readerIndex, as: UInt16.self) == 0x0D0A
                {
                    pending.moveReaderIndex(forwardBy: 2)
                    scanned = 0
                }
                guard let end = Self.find(Self.crlfcrlf, in: pending, from: max(0, scanned - 3)) else {
                    scanned = pending.readableBytes
                    guard scanned <= maximumHeadBytes else { throw headTooLarge() }
                    return nil
                }
                guard end + 4 <= maximumHeadBytes else { throw headTooLarge() }
                scanned = 0
                phase = .framing
                return .head(pending.readSlice(length: end + 4)!)
            case .body(let remaining):
                guard pending.readableBytes > 0 else { return nil }
                let slice = pending.readSlice(length: min(remaining, pending.readableBytes))!
                let left = remaining - slice.readableBytes
                if left == 0 { endDue = true } else { phase = .body(remaining: left) }
                return .body(slice)
            case .chunkSize:
                guard let line = try readLine() else { return nil }
                let size = try chunkSize(line)
                phase = size == 0 ? .trailers(bytes: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard pending.readableBytes > 0 else { return nil }
                let slice = pending.readSlice(length: min(remaining, pending.readableBytes))!
                let left = remaining - slice.readableBytes
                phase = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
                return .body(slice)
            case .chunkDataEnd:
                guard let line = try readLine() else { return nil }
                guard line.readableBytes == 0 else { throw error("has a chunk longer than its size") }
                phase = .chunkSize
            case .trailers(let bytes):
                // Trailer fields are read past, not used.
                guard let line = try readLine() else { return nil }
                if line.readableBytes == 0 { return end() }
                let total = bytes + line.readableBytes + 2
                guard total <= maximumHeadBytes else { throw headTooLarge() }
                phase = .trailers(bytes: total)
            case .untilClose:
                guard pending.readableBytes > 0 else { return nil }
                let all = pending
                pending = ByteBuffer()
                return .body(all)
            }
        }
    }

    private mutating func end() -> Part {
        endDue = false
        phase = messagesFollow ? .head : .done
        return .end
    }

    /// The next line (without its CRLF), or nil when it is not complete yet.
    private mutating func readLine() throws(HTTP1Error) -> ByteBuffer? {
        guard let end = Self.find(Self.crlf, in: pending, from: max(0, scanned - 1)) else {
            scanned = pending.readableBytes
            guard scanned <= Self.maximumLineBytes else {
                throw error("has a chunk-size or trailer line that is too long")
            }
            return nil
        }
        scanned = 0
        let line = pending.readSlice(length: end)!
        pending.moveReaderIndex(forwardBy: 2)
        return line
    }

    private func chunkSize(_ line: ByteBuffer) throws(HTTP1Error) -> Int {
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
                guard digits > 0 else { throw error("has a chunk without a size") }
                return size
            default:
                throw error("has a chunk size that is not hexadecimal")
            }
            digits += 1
            guard digits <= 15 else { throw error("has a chunk that is too large") }
            size = size * 16 + digit
        }
        guard digits > 0 else { throw error("has a chunk without a size") }
        return size
    }

    private func error(_ problem: String) -> HTTP1Error {
        HTTP1Error(description: "\(subject) \(problem)")
    }

    private func headTooLarge() -> HTTP1Error {
        HTTP1Error(
            description: "\(subject) has a head (start line and header fields) larger than \(maximumHeadBytes) bytes",
            status: .requestHeaderFieldsTooLarge)
    }

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

/// A message head's lines: the start line, then header fields, each checked against RFC 9110's
/// grammar (a token name straight before the colon; a value without control characters), with
/// the fields that frame the body and decide the connection's reuse gathered on the way.
struct HTTP1Head {
    /// The start line, without its CRLF.
    var startLine = ByteBuffer()
    var headers = HTTPHeaders()
    var contentLength: Int?
    /// Transfer codings named, in order.
    var transferCodings: [Substring] = []
    var hasTransferEncoding = false
    var connectionClose = false
    var connectionKeepAlive = false
    var expectContinue = false

    /// Reads a head handed out by ``HTTP1Framer`` (ending with an empty line). `subject` names the
    /// message in errors. With `keeping`, only the fields whose name it accepts are kept in
    /// ``headers`` (those that frame the body are read either way).
    init(_ head: ByteBuffer, subject: String, keeping: ((UnsafeRawBufferPointer) -> Bool)? = nil) throws(HTTP1Error) {
        let (start, failure) = head.withUnsafeReadableBytes { bytes in
            readLines(bytes, subject: subject, keeping: keeping)
        }
        if let failure { throw failure }
        guard start.count > 0 else { throw HTTP1Error(description: "\(subject) has no start line") }
        startLine = head.getSlice(at: head.readerIndex + start.lowerBound, length: start.count)!
    }

    /// Reads the fields; returns the start line's range in `bytes`, or what was wrong.
    private mutating func readLines(
        _ bytes: UnsafeRawBufferPointer, subject: String, keeping: ((UnsafeRawBufferPointer) -> Bool)?
    ) -> (Range<Int>, HTTP1Error?) {
        var lineStart = 0
        var start: Range<Int>?
        var index = 0
        // Grown once, not field by field.
        var fields: [(String, String)] = []
        fields.reserveCapacity(16)
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "\n") else {
                index += 1
                continue
            }
            guard index > lineStart, bytes[index - 1] == UInt8(ascii: "\r") else {
                return (0..<0, HTTP1Error(description: "\(subject) has a line that does not end with CRLF"))
            }
            let line = lineStart..<(index - 1)
            lineStart = index + 1
            index += 1
            guard start != nil else {
                start = line
                continue
            }
            if line.isEmpty { break }
            var colon = line.lowerBound
            while colon < line.upperBound, HTTP1Head.isTokenByte(bytes[colon]) { colon += 1 }
            guard colon > line.lowerBound, colon < line.upperBound, bytes[colon] == UInt8(ascii: ":") else {
                let shown = HTTP1Head.shown(UnsafeRawBufferPointer(rebasing: bytes[line]))
                return (
                    0..<0,
                    HTTP1Error(
                        description:
                            "\(subject) has a malformed header line (a field name, then straight after it a colon): \(shown)"
                    )
                )
            }
            var valueStart = colon + 1
            var valueEnd = line.upperBound
            while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            for position in valueStart..<valueEnd {
                let byte = bytes[position]
                guard byte >= 0x20 && byte != 0x7F || byte == 0x09 else {
                    return (0..<0, HTTP1Error(description: "\(subject) has a control character in a header value"))
                }
            }
            let name = UnsafeRawBufferPointer(rebasing: bytes[line.lowerBound..<colon])
            let framing = Self.framingField(name)
            let kept = keeping?(name) ?? true
            guard kept || framing != nil else { continue }
            let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd]), as: UTF8.self)
            if let framing, let failure = note(framing, value, subject: subject) { return (0..<0, failure) }
            if kept { fields.append((String(decoding: name, as: UTF8.self), value)) }
        }
        headers = HTTPHeaders(fields)
        return (start ?? 0..<0, nil)
    }

    /// The fields that frame the body or decide the connection's reuse.
    private enum FramingField {
        case contentLength, transferEncoding, connection, expect
    }

    private static func framingField(_ name: UnsafeRawBufferPointer) -> FramingField? {
        switch name.count {
        case 14 where equals(name, "content-length"): .contentLength
        case 17 where equals(name, "transfer-encoding"): .transferEncoding
        case 10 where equals(name, "connection"): .connection
        case 6 where equals(name, "expect"): .expect
        default: nil
        }
    }

    /// Takes note of a field that frames the body or decides the connection's reuse.
    private mutating func note(_ field: FramingField, _ value: String, subject: String) -> HTTP1Error? {
        switch field {
        case .contentLength:
            guard !value.isEmpty, value.utf8.count <= 18, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let length = Int(value), contentLength == nil || contentLength == length
            else {
                return HTTP1Error(description: "\(subject) has a Content-Length that is not usable: '\(value)'")
            }
            contentLength = length
        case .transferEncoding:
            hasTransferEncoding = true
            for coding in value.split(separator: ",") {
                let coding = Self.trimmed(coding)
                if !coding.isEmpty { transferCodings.append(coding) }
            }
        case .connection:
            for token in value.split(separator: ",") {
                let token = Self.trimmed(token)
                if token.equals(lowercasedASCII: "close") { connectionClose = true }
                if token.equals(lowercasedASCII: "keep-alive") { connectionKeepAlive = true }
            }
        case .expect:
            expectContinue = value.equals(lowercasedASCII: "100-continue")
        }
        return nil
    }

    /// Whether `bytes` spell `lowercased` in any ASCII case.
    static func equals(_ bytes: UnsafeRawBufferPointer, _ lowercased: StaticString) -> Bool {
        bytes.count == lowercased.utf8CodeUnitCount && starts(bytes, with: lowercased)
    }

    /// Whether `bytes` begin with `lowercased` in any ASCII case.
    static func starts(_ bytes: UnsafeRawBufferPointer, with lowercased: StaticString) -> Bool {
        let target = UnsafeRawBufferPointer(start: lowercased.utf8Start, count: lowercased.utf8CodeUnitCount)
        guard bytes.count >= target.count else { return false }
        for index in 0..<target.count {
            let byte = bytes[index]
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            if folded != target[index] { return false }
        }
        return true
    }

    /// A token character (RFC 9110, section 5.6.2).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }

    /// The start of a line, printable, for an error message.
    static func shown(_ line: some Collection<UInt8>) -> String {
        String(decoding: line.prefix(60).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}

/// The bytes of answers written to callers: the status line and header fields, and the chunks of a
/// body sent with chunked transfer coding.
enum HTTP1Writer {
    /// Writes `HTTP/1.1 <status>` and the fields (less any with characters a field cannot hold);
    /// more fields may follow before ``endHead(into:)``.
    static func head(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeString(String(status.code))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(status.reasonPhrase)
        for (name, value) in headers { field(name, value, into: &buffer) }
    }

    /// Writes `CRLF name: value`, unless the name is not a token or the value holds a control
    /// character: nothing a caller or an upstream sends can split a message.
    static func field(_ name: String, _ value: String, into buffer: inout ByteBuffer) {
        guard !name.isEmpty, name.utf8.allSatisfy(HTTP1Head.isTokenByte),
            value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 })
        else { return }
        buffer.writeStaticString("\r\n")
        buffer.writeString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(value)
    }

    /// How many bytes `headers` take written (so a buffer is allocated once).
    static func bytes(of headers: HTTPHeaders) -> Int {
        headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }

    /// The empty line that ends a head.
    static func endHead(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("\r\n\r\n")
    }

    /// The size line before a chunk's bytes.
    static func chunkStart(_ size: Int, into buffer: inout ByteBuffer) {
        buffer.writeString(String(size, radix: 16))
        buffer.writeStaticString("\r\n")
    }

    /// The last chunk and the trailer fields.
    static func lastChunk(trailers: HTTPHeaders?, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("0")
        for (name, value) in trailers ?? [:] { field(name, value, into: &buffer) }
        buffer.writeStaticString("\r\n\r\n")
    }
}
