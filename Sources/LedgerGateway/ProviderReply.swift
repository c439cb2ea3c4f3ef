import HTTPTypes
import NIOCore
import NIOHTTP1

/// The gateway's answer to a provider API call: status, headers and a body, whole or streamed.
struct ProviderReply: Sendable {
    enum Body: Sendable {
        case whole(ByteBuffer)
        /// Written chunk by chunk as the upstream produces it; the closure ends the body with
        /// ``ReplyBodyWriter/finish(trailers:)``. A closure that returns without finishing (the
        /// client went away) leaves the connection to be closed.
        case stream(@Sendable (any ReplyBodyWriter) async throws -> Void)
    }

    static let requestIDHeader = "X-TokenLedger-Request-Id"
    static let costHeader = "X-TokenLedger-Cost-USD"

    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: Body
}

/// Where a streamed reply's body goes.
protocol ReplyBodyWriter: Sendable {
    /// Sends a chunk; returns once it is handed to the socket (so a slow client slows the relay).
    /// Throws when the client is gone.
    func write(_ buffer: ByteBuffer) async throws
    /// Ends the body, with trailers.
    func finish(trailers: [(String, String)]) async throws
}

/// Header lookup by case-insensitive name, for both header types the server handles.
protocol HeaderLookup {
    func value(of name: String) -> String?
}

extension HTTPHeaders: HeaderLookup {
    func value(of name: String) -> String? { first(name: name) }
}

extension HTTPFields: HeaderLookup {
    func value(of name: String) -> String? { HTTPField.Name(name).flatMap { self[$0] } }
}

extension StringProtocol {
    /// Whether the string starts with `prefix` (lower-case ASCII letters, digits, `-` and space)
    /// in any letter case, without building a lowered copy.
    func hasPrefix(lowercasedASCII prefix: String) -> Bool {
        var text = utf8.makeIterator()
        for expected in prefix.utf8 {
            // Setting the ASCII case bit lowers a letter and keeps digits, '-' and ' '.
            guard let byte = text.next(), byte | 0x20 == expected else { return false }
        }
        return true
    }

    /// Whether the string is `name` (lower-case ASCII letters, digits, `-` and space) in any
    /// letter case.
    func equals(lowercasedASCII name: String) -> Bool {
        utf8.count == name.utf8.count && hasPrefix(lowercasedASCII: name)
    }
}
