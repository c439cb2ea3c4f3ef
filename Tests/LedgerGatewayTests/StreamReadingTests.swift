import LedgerCore
import Testing

@testable import LedgerGateway

/// The byte-level reading of server-sent events: splitting, fields, the usage they report and the
/// `"usage":null` members hidden from callers that did not ask for usage.
@Suite struct StreamReadingTests {
    func events(_ text: String, in pieces: Int) -> [[UInt8]] {
        var scanner = SSEScanner()
        let bytes = Array(text.utf8)
        var events: [[UInt8]] = []
        var start = 0
        let size = max(1, bytes.count / pieces)
        while start < bytes.count {
            events += scanner.append(bytes[start..<min(start + size, bytes.count)])
            start += size
        }
        return events
    }

    @Test func eventsAndTheirFieldsWhateverTheLineEndsAndPieces() {
        let text =
            "event: message_start\ndata: {\"a\":1}\n\n"
            + "data:{\"b\":2}\r\ndata: {\"c\":3}\r\n\r\n"
            + "event:ping\n: a comment\ndata: [DONE]\n\n"
        for pieces in [1, 3, 7, text.utf8.count] {
            let found = events(text, in: pieces)
            #expect(found.count == 3, "\(pieces) pieces")
            guard found.count == 3 else { continue }
            let first = SSEScanner.fields(of: found[0])
            #expect(first.named("message_start") && !first.named("message"))
            #expect(first.data == Array("{\"a\":1}".utf8))
            let second = SSEScanner.fields(of: found[1])
            #expect(second.name == nil)
            #expect(second.data == Array("{\"b\":2}\n{\"c\":3}".utf8), "data lines joined by a line feed")
            let third = SSEScanner.fields(of: found[2])
            #expect(third.named("ping") && third.isDone)
        }
    }

    @Test func onlyAUsageObjectIsParsed() {
        let cases: [(String, Bool)] = [
            (#"{"choices":[{"delta":{"content":"hi"}}],"usage":null}"#, false),
            (#"{"choices":[],"usage":{"prompt_tokens":3}}"#, true),
            ("{\"usage\" :\t{\"output_tokens\":3}}", true),
            (#"{"type":"response.created","response":{"usage":null}}"#, false),
            (#"{"message":{"usage":{"input_tokens":5}}}"#, true),
            (#"{"text":"the word \"usage\": {\"a\"}"}"#, false),
            (#"{"usage""#, false),
            (#""usage":"#, false),
            ("", false),
        ]
        for (data, expected) in cases {
            #expect(StreamUsageTracker.hasUsageObject(Array(data.utf8)) == expected, "\(data)")
        }
    }

    @Test func openAIUsageIsReadAndItsChunkRecognised() throws {
        var tracker = StreamUsageTracker(route: .chatCompletions, provider: "openai")
        let chunks = [
            #"{"choices":[{"delta":{"content":"Hello"}}],"usage":null}"#,
            #"{"choices":[{"delta":{"content":" there"}}],"usage":null}"#,
            #"{"choices":[],"usage":{"prompt_tokens":42,"completion_tokens":17,"prompt_tokens_details":{"cached_tokens":32}}}"#,
        ]
        var usageOnly: [Bool] = []
        for chunk in chunks {
            usageOnly.append(tracker.observe(SSEFields(name: nil, data: Array(chunk.utf8))))
        }
        #expect(usageOnly == [false, false, true])
        let doneIsUsage = tracker.observe(SSEFields(name: nil, data: Array("[DONE]".utf8)))
        #expect(!doneIsUsage)
        let tokens = try #require(tracker.reportedTokens())
        #expect(tokens.input == 10 && tokens.cacheRead == 32 && tokens.output == 17)
        #expect(tracker.estimatedOutputTokens >= 2)
        #expect(tracker.upstreamError == nil)
    }

    @Test func anthropicUsageIsMergedAndErrorsKept() throws {
        var tracker = StreamUsageTracker(route: .messages, provider: "anthropic")
        let events: [(String, String)] = [
            ("message_start", #"{"type":"message_start","message":{"usage":{"input_tokens":42,"output_tokens":1}}}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"text":"Hi"}}"#),
            ("message_delta", #"{"type":"message_delta","usage":{"output_tokens":17}}"#),
            ("error", #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        ]
        for (name, data) in events {
            _ = tracker.observe(SSEFields(name: Array(name.utf8), data: Array(data.utf8)))
        }
        let tokens = try #require(tracker.reportedTokens())
        #expect(tokens.input == 42 && tokens.output == 17)
        #expect(tracker.upstreamError?.contains("overloaded_error") == true)
    }

    @Test func nullUsageMembersAreRemovedWhereverTheyAre() {
        let cases = [
            (#"data: {"id":"1","usage":null}"# + "\n\n", #"data: {"id":"1"}"# + "\n\n"),
            (#"data: {"usage":null,"id":"1"}"# + "\n\n", #"data: {"id":"1"}"# + "\n\n"),
            (#"data: {"id":"1"}"# + "\n\n", #"data: {"id":"1"}"# + "\n\n"),
        ]
        for (event, expected) in cases {
            #expect(Gateway.removingNullUsage(Array(event.utf8)) == Array(expected.utf8))
        }
    }

    @Test func byteSearchFindsEveryPosition() {
        let haystack = Array("abcabcab".utf8)
        #expect(haystack.firstIndex(of: Array("cab".utf8)) == 2)
        #expect(haystack.firstIndex(of: Array("cab".utf8), from: 3) == 5)
        #expect(haystack.firstIndex(of: Array("cab".utf8), from: 6) == nil)
        #expect(haystack.firstIndex(of: Array("abcabcab".utf8)) == 0)
        #expect(haystack.firstIndex(of: Array("abcabcabc".utf8)) == nil)
        #expect(haystack.firstIndex(of: []) == nil)
        #expect([UInt8]().firstIndex(of: Array("a".utf8)) == nil)
    }
}

@Suite struct RequestIDTests {
    @Test func idsAreDistinctAndSortByTime() async throws {
        let ids = (0..<100_000).map { _ in Gateway.newRequestID() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.hasPrefix("req_") && $0.count == 28 && $0.dropFirst(4).allSatisfy(\.isHexDigit) })
        // The first 12 hex digits are the time in milliseconds: ids made later sort later.
        try await Task.sleep(for: .milliseconds(5))
        let later = Gateway.newRequestID()
        #expect(ids.allSatisfy { $0 < later })
        // The random part is spread over its 48 bits, not a visible counter.
        let tails = Set(ids.map { $0.suffix(12).prefix(4) })
        #expect(tails.count > 10_000)
    }
}
