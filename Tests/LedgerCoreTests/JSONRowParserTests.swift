import LedgerCore
import Testing

@Suite struct JSONRowParserTests {
    func parse(_ text: String) -> Result<[String: JSONValue], JSONRowParser.Failure> {
        JSONRowParser.members(of: Array(text.utf8))
    }

    @Test func surrogatePairsDecodeAndUnpairedOnesAreRefused() throws {
        let pair = try parse(#"{"a":"\uD83D\uDE00"}"#).get()
        #expect(pair["a"] == .string("😀"))
        // Found by the parser fuzzer: a high surrogate followed by a non-low one used to trap.
        guard case .failure(let failure) = parse(#"{"\uBBBB\uDBBf\uBBBB3":1}"#) else {
            Issue.record("an unpaired surrogate must be refused")
            return
        }
        #expect("\(failure)".contains("unpaired surrogate"))
        guard case .failure = parse(#"{"a":"\uDBBF"#) else {
            Issue.record("a truncated escape must be refused")
            return
        }
    }
}

@Suite struct JSONRowParserSkippingTests {
    /// Parses `text` building only the members named in `kept`.
    func parse(_ text: String, keeping kept: Set<String>) -> Result<[String: JSONValue], JSONRowParser.Failure> {
        JSONRowParser.members(of: Array(text.utf8)) { name, _ in kept.contains(name) }
    }

    @Test func skippedMembersAreLeftOutAndKeptOnesBuilt() throws {
        let text = #"""
            {"model":"gpt-4o","messages":[{"role":"user","content":"a \"quoted\" \u00e9 word\n"},{"x":[1,-2.5e3,true,false,null,{}]}],
             "temperature":0.2,"stream":true,"metadata":{"user_id":"u-1"}}
            """#
        let members = try parse(text, keeping: ["model", "stream", "metadata"]).get()
        #expect(members.count == 3)
        #expect(members["model"] == .string("gpt-4o"))
        #expect(members["stream"] == .bool(true))
        #expect(members["metadata"]?["user_id"] == .string("u-1"))
        #expect(members["messages"] == nil && members["temperature"] == nil)
    }

    @Test func malformedJSONInASkippedMemberFailsAtTheSamePlaceAsAFullParse() {
        let bodies = [
            #"{"messages":[{"role":"user","content":"unterminated}]}"#,
            #"{"messages":[{"role":"user" "content":"x"}]}"#,
            #"{"messages":[1,2,]}"#,
            #"{"messages":[01x]}"#,
            #"{"messages":"bad \q escape"}"#,
            #"{"messages":"\uD800\u0041"}"#,
            #"{"messages":tru}"#,
            #"{"messages":{"a":1"#,
            "{\"messages\":\"control \u{01} character\"}",
            #"{"messages":"#,
            "{\"messages\":" + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}",
        ]
        for body in bodies {
            let full = JSONRowParser.members(of: Array(body.utf8))
            let skipping = parse(body, keeping: [])
            guard case .failure(let expected) = full else {
                Issue.record("a full parse must refuse \(body)")
                continue
            }
            guard case .failure(let failure) = skipping else {
                Issue.record("skipping must refuse \(body) too")
                continue
            }
            #expect(failure.column == expected.column, "\(body): \(failure.reason) vs \(expected.reason)")
        }
    }

    @Test func aKeptMemberThatAppearsTwiceIsRefused() {
        guard case .failure(let failure) = parse(#"{"model":"a","model":"b"}"#, keeping: ["model"]) else {
            Issue.record("a duplicate kept member must be refused")
            return
        }
        #expect(failure.reason.contains("'model' appears twice"))
    }
}
