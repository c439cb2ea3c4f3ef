/// A kind of token a provider bills separately. Counts of different kinds are disjoint: a
/// cached input token is counted once, as `cacheRead`, never also as `input`.
public enum TokenKind: String, CaseIterable, Sendable, Codable, Hashable {
    /// Uncached text input (prompt) tokens.
    case input
    /// Input tokens read from a prompt cache.
    case cacheRead = "cache_read"
    /// Input tokens written to a prompt cache with the default (5-minute) lifetime.
    case cacheWrite = "cache_write"
    /// Input tokens written to a prompt cache with a 1-hour lifetime.
    case cacheWrite1h = "cache_write_1h"
    /// Visible text output tokens (excluding reasoning and audio).
    case output
    /// Reasoning ("thinking") output tokens.
    case reasoning
    /// Uncached audio input tokens.
    case audioInput = "audio_input"
    /// Audio output tokens.
    case audioOutput = "audio_output"
    /// Uncached image input tokens.
    case imageInput = "image_input"
    /// Image output tokens (generated images).
    case imageOutput = "image_output"
    /// Input tokens of an embedding request.
    case embedding

    /// Every kind, in declaration order, built once. The synthesized `allCases` builds a new array
    /// at every use, which costs an allocation per event in the recording and rating loops.
    public static let all: [TokenKind] = allCases

    /// Whether this kind counts towards the prompt (input side) of a request.
    public var isPrompt: Bool {
        switch self {
        case .input, .cacheRead, .cacheWrite, .cacheWrite1h, .audioInput, .imageInput, .embedding: true
        case .output, .reasoning, .audioOutput, .imageOutput: false
        }
    }

    /// The kind whose price applies when a model lists no price for this one, or `nil` when a
    /// missing price must leave the tokens unpriced rather than guess.
    public var fallback: TokenKind? {
        switch self {
        case .reasoning: .output
        case .cacheWrite1h: .cacheWrite
        case .cacheWrite, .cacheRead, .embedding, .imageInput: .input
        case .input, .output, .audioInput, .audioOutput, .imageOutput: nil
        }
    }
}
