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
