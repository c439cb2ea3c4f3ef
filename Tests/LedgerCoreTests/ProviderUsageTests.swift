import Foundation
import LedgerCore
import Testing

/// Each adapter on the providers' documented payloads (see `docs/PRICING.md` for the rules).
@Suite struct ProviderUsageTests {
    /// Normalises a payload, and checks that the gateway's response-body reader (which builds
    /// only the members it needs) gives the same result on it.
    func normalise(_ text: String, provider: String?) throws -> ProviderUsage.Normalised {
        let whole = Result { try ProviderUsage.normalise(try JSONValue(parsing: Data(text.utf8)), provider: provider) }
        let light = ProviderUsage.normalise(responseBody: Array(text.utf8), provider: provider)
        #expect(light == (try? whole.get()), "the response-body reader differs on \(text.prefix(80))")
        return try whole.get()
    }

    @Test func responseBodiesAreReadWithoutBuildingTheirContent() throws {
        // An embeddings answer: the vectors are skipped, but their presence still marks the shape.
        let embeddings = try normalise(
            """
            {"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0092,0.0151]}],
             "model":"text-embedding-3-small","usage":{"prompt_tokens":8,"completion_tokens":0,"total_tokens":8}}
            """, provider: "openai")
        #expect(embeddings.shape == .openAIEmbeddings)
        #expect(embeddings.tokens.embedding == 8)
        // A Responses API answer: `output` is a list of items, skipped.
        let responses = try normalise(
            """
            {"id":"resp_1","object":"response","model":"gpt-4.1","output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]}],
             "usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":123}}
            """, provider: "openai")
        #expect(responses.shape == .openAIResponses)
        #expect(responses.model == "gpt-4.1")
        // Broken JSON in a skipped member is still broken.
        #expect(
            ProviderUsage.normalise(
                responseBody: Array(#"{"choices":[{"message":}],"usage":{"prompt_tokens":1}}"#.utf8), provider: "openai"
            )
                == nil)
    }

    @Test func openAIChatPromptTokensIncludeCachedAndCompletionIncludesReasoning() throws {
        // Shape of CompletionUsage in the OpenAI API reference.
        let result = try normalise(
            """
            {"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,
             "prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},
             "completion_tokens_details":{"reasoning_tokens":192,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}
            """, provider: "openai")
        #expect(result.shape == .openAIChat)
        #expect(result.tokens == TokenCounts(input: 86, cacheRead: 1920, output: 108, reasoning: 192))
        #expect(result.tokens.total == 2306)
    }

    @Test func openAIChatDocumentedExample() throws {
        let result = try normalise(
            """
            {"id":"chatcmpl-123","object":"chat.completion","model":"gpt-4o-mini","service_tier":"default",
             "usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},
             "completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}
            """, provider: "openai")
        #expect(result.model == "gpt-4o-mini")
        #expect(result.serviceTier == .standard)
        #expect(result.tokens == TokenCounts(input: 19, output: 10))
    }

    @Test func openAIChatAudioAndCacheWriteAreSplitOut() throws {
        let result = try normalise(
            """
            {"prompt_tokens":1000,"completion_tokens":500,"prompt_tokens_details":{"cached_tokens":100,"audio_tokens":300,"cache_write_tokens":50},
             "completion_tokens_details":{"audio_tokens":400}}
            """, provider: "openai")
        #expect(
            result.tokens
                == TokenCounts(
                    input: 550, cacheRead: 100, cacheWrite: 50, output: 100, audioInput: 300, audioOutput: 400))
    }

    @Test func openAIResponsesUsage() throws {
        let result = try normalise(
            """
            {"type":"response.completed","response":{"id":"resp_1","service_tier":"flex","usage":{"input_tokens":36,
             "input_tokens_details":{"cached_tokens":16,"cache_write_tokens":0},"output_tokens":87,
             "output_tokens_details":{"reasoning_tokens":20},"total_tokens":123}},"sequence_number":9}
            """, provider: "openai")
        #expect(result.shape == .openAIResponses)
        #expect(result.serviceTier == .flex)
        #expect(result.tokens == TokenCounts(input: 20, cacheRead: 16, output: 67, reasoning: 20))
    }

    @Test func openAIEmbeddingsResponse() throws {
        let result = try normalise(
            """
            {"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"text-embedding-3-small",
             "usage":{"prompt_tokens":8,"total_tokens":8}}
            """, provider: "openai")
        #expect(result.shape == .openAIEmbeddings)
        #expect(result.tokens == TokenCounts(embedding: 8))
    }

    @Test func anthropicInputExcludesCacheAndSplitsWriteLifetimes() throws {
        let result = try normalise(
            """
            {"id":"msg_01","type":"message","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":25,
             "cache_creation_input_tokens":1500,"cache_read_input_tokens":9000,"output_tokens":400,
             "cache_creation":{"ephemeral_5m_input_tokens":500,"ephemeral_1h_input_tokens":1000},
             "output_tokens_details":{"thinking_tokens":150},"service_tier":"standard"}}
            """, provider: "anthropic")
        #expect(result.shape == .anthropic)
        #expect(result.model == "claude-sonnet-4-5-20250929")
        #expect(
            result.tokens
                == TokenCounts(
                    input: 25, cacheRead: 9000, cacheWrite: 500, cacheWrite1h: 1000, output: 250, reasoning: 150))
    }

    @Test func anthropicWithoutLifetimeSplitCountsWritesAsFiveMinute() throws {
        let result = try normalise(
            #"{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":70}"#, provider: "anthropic")
        #expect(result.tokens == TokenCounts(input: 10, cacheWrite: 70, output: 5))
    }

    @Test func ambiguousInputOutputShapeFollowsProvider() throws {
        let payload = #"{"input_tokens":10,"output_tokens":5}"#
        #expect(try normalise(payload, provider: "anthropic").shape == .anthropic)
        #expect(try normalise(payload, provider: "openai").shape == .openAIResponses)
    }

    @Test func geminiPromptIncludesCachedAndThoughtsAreSeparate() throws {
        // The usageMetadata example from the Gemini API types.
        let result = try normalise(
            """
            {"usageMetadata":{"promptTokenCount":1840,"candidatesTokenCount":412,"thoughtsTokenCount":200,"cachedContentTokenCount":1024,
             "totalTokenCount":2452,"promptTokensDetails":[{"modality":"TEXT","tokenCount":1840}],"trafficType":"ON_DEMAND"},
             "modelVersion":"gemini-2.5-flash"}
            """, provider: "google")
        #expect(result.shape == .gemini)
        #expect(result.model == "gemini-2.5-flash")
        #expect(result.tokens == TokenCounts(input: 816, cacheRead: 1024, output: 412, reasoning: 200))
        #expect(result.tokens.total == 2452)
    }

    @Test func geminiAudioAndToolPromptTokens() throws {
        let result = try normalise(
            """
            {"promptTokenCount":1000,"candidatesTokenCount":10,"toolUsePromptTokenCount":50,"cachedContentTokenCount":100,
             "promptTokensDetails":[{"modality":"TEXT","tokenCount":600},{"modality":"AUDIO","tokenCount":400}],
             "cacheTokensDetails":[{"modality":"AUDIO","tokenCount":100}]}
            """, provider: "google")
        #expect(result.tokens == TokenCounts(input: 650, cacheRead: 100, output: 10, audioInput: 300))
    }

    @Test func bedrockInvocationLogRecord() throws {
        let result = try normalise(
            """
            {"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-08-10T14:03:11Z","accountId":"123456789012",
             "region":"us-east-1","requestId":"r-1","operation":"Converse","modelId":"us.anthropic.claude-sonnet-4-5-20250929-v1:0",
             "input":{"inputContentType":"application/json","inputTokenCount":1200,"cacheReadInputTokenCount":800,"cacheWriteInputTokenCount":300},
             "output":{"outputContentType":"application/json","outputTokenCount":250}}
            """, provider: "bedrock")
        #expect(result.shape == .bedrock)
        #expect(result.model == "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        #expect(result.tokens == TokenCounts(input: 1200, cacheRead: 800, cacheWrite: 300, output: 250))
    }

    @Test func bedrockConverseUsageWithCacheDetails() throws {
        let result = try normalise(
            """
            {"usage":{"inputTokens":30,"outputTokens":20,"totalTokens":350,"cacheReadInputTokens":100,"cacheWriteInputTokens":200,
             "cacheDetails":[{"ttl":"1h","inputTokens":150},{"ttl":"5m","inputTokens":50}]}}
            """, provider: "bedrock")
        #expect(result.tokens == TokenCounts(input: 30, cacheRead: 100, cacheWrite: 50, cacheWrite1h: 150, output: 20))
    }

    @Test func badUsageGivesClearErrors() throws {
        #expect(throws: ProviderUsage.Error.self) { try normalise(#"{"hello":1}"#, provider: "openai") }
        let error = #expect(throws: ProviderUsage.Error.self) {
            try normalise(#"{"prompt_tokens":-4,"completion_tokens":1}"#, provider: "openai")
        }
        #expect(error?.message.contains("prompt_tokens") == true)
        let inconsistent = try normalise(
            #"{"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":9}}"#,
            provider: "openai")
        #expect(inconsistent.tokens.input == 0)
        #expect(!inconsistent.warnings.isEmpty)
    }
}
