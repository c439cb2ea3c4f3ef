/// Token counts by kind, disjoint: their sum is the number of tokens billed.
public struct TokenCounts: Sendable, Hashable {
    public var input: Int64
    public var cacheRead: Int64
    public var cacheWrite: Int64
    public var cacheWrite1h: Int64
    public var output: Int64
    public var reasoning: Int64
    public var audioInput: Int64
    public var audioOutput: Int64
    public var imageInput: Int64
    public var imageOutput: Int64
    public var embedding: Int64

    /// Creates counts; every kind defaults to zero.
    public init(
        input: Int64 = 0, cacheRead: Int64 = 0, cacheWrite: Int64 = 0, cacheWrite1h: Int64 = 0,
        output: Int64 = 0, reasoning: Int64 = 0, audioInput: Int64 = 0, audioOutput: Int64 = 0,
        imageInput: Int64 = 0, imageOutput: Int64 = 0, embedding: Int64 = 0
    ) {
        self.input = input
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
        self.cacheWrite1h = cacheWrite1h
        self.output = output
        self.reasoning = reasoning
        self.audioInput = audioInput
        self.audioOutput = audioOutput
        self.imageInput = imageInput
        self.imageOutput = imageOutput
        self.embedding = embedding
    }

    /// No tokens.
    public static let zero = TokenCounts()

    /// The count of one kind.
    public subscript(kind: TokenKind) -> Int64 {
        get {
            switch kind {
            case .input: input
            case .cacheRead: cacheRead
            case .cacheWrite: cacheWrite
            case .cacheWrite1h: cacheWrite1h
            case .output: output
            case .reasoning: reasoning
            case .audioInput: audioInput
            case .audioOutput: audioOutput
            case .imageInput: imageInput
            case .imageOutput: imageOutput
            case .embedding: embedding
            }
        }
        set {
            switch kind {
            case .input: input = newValue
            case .cacheRead: cacheRead = newValue
            case .cacheWrite: cacheWrite = newValue
            case .cacheWrite1h: cacheWrite1h = newValue
            case .output: output = newValue
            case .reasoning: reasoning = newValue
            case .audioInput: audioInput = newValue
            case .audioOutput: audioOutput = newValue
            case .imageInput: imageInput = newValue
            case .imageOutput: imageOutput = newValue
            case .embedding: embedding = newValue
            }
        }
    }

    /// All tokens of every kind.
    public var total: Int64 {
        input + cacheRead + cacheWrite + cacheWrite1h + output + reasoning + audioInput + audioOutput + imageInput
            + imageOutput + embedding
    }

    /// Tokens on the input side of the request, cached or not: what context-length tiers measure.
    public var prompt: Int64 {
        input + cacheRead + cacheWrite + cacheWrite1h + audioInput + imageInput + embedding
    }

    /// Adds another set of counts kind by kind.
    @inlinable
    public static func += (lhs: inout TokenCounts, rhs: TokenCounts) {
        lhs.input += rhs.input
        lhs.cacheRead += rhs.cacheRead
        lhs.cacheWrite += rhs.cacheWrite
        lhs.cacheWrite1h += rhs.cacheWrite1h
        lhs.output += rhs.output
        lhs.reasoning += rhs.reasoning
        lhs.audioInput += rhs.audioInput
        lhs.audioOutput += rhs.audioOutput
        lhs.imageInput += rhs.imageInput
        lhs.imageOutput += rhs.imageOutput
        lhs.embedding += rhs.embedding
    }
}
