import Foundation
import LedgerCore
import LedgerIngest

/// Feeds arbitrary bytes to every parser that reads untrusted input: JSON rows, OTLP protobuf
/// and JSON, Prometheus text, CSV records, timestamps, decimals, provider usage objects. A parser
/// may reject the input; it must never trap, hang or read out of bounds.
///
/// Built with `-sanitize=fuzzer` (scripts/fuzz/run.sh) this is a libFuzzer target; built normally
/// it replays a corpus (files or directories given as arguments), so findings stay as tests.
enum ParserFuzz {
    /// The columns of the CSV records tried: every field of the format.
    static let csvColumns = EventRowDecoder.knownFields
    static let csvPositions = Array(csvColumns.indices)

    static func exercise(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let selector = bytes.first else { return }
        let body = UnsafeBufferPointer(rebasing: bytes[1...])
        switch selector % 8 {
        case 0:
            // The importer's single-pass reading and the by-name decoding must agree.
            let streamed = try? EventRowDecoder().decode(RowFields.parse(jsonLine: body), fallbackID: { "fuzz" })
            if case .success(let members) = JSONRowParser.members(of: body) {
                let byName = try? EventRowDecoder().decode(members, fallbackID: { "fuzz" })
                precondition(byName == streamed, "the two ways of decoding a JSON row disagree")
            } else {
                precondition(streamed == nil, "a JSON row one parser refuses was decoded by the other")
            }
            // The importers' fast path decodes a row as the general way does, or leaves it to it.
            if let plain = PlainRowDecoder().decode(jsonLine: body) {
                let general = try? EventRowDecoder().decode(RowFields.parse(jsonLine: body)) {
                    RowIdentity.id(for: body)
                }
                precondition(plain == general, "the fast path and the general way decode a JSON row differently")
            }
        case 1:
            if let spans = try? OTLPTraces.decodeProtobuf(body) {
                for span in spans { _ = try? GenAISpanMapper().event(from: span) }
            }
        case 2:
            if let spans = try? OTLPTraces.decodeJSON(body) {
                for span in spans { _ = try? GenAISpanMapper().event(from: span) }
            }
        case 3:
            let text = String(decoding: body, as: UTF8.self)
            for line in text.split(separator: "\n") { _ = try? PrometheusText.sample(line) }
        case 4:
            _ = CSVRecordSplitter.hasOpenQuote(body, startingOpen: false)
            let split = CSVRecordSplitter.fields(body)
            if let plain = PlainRowDecoder().decode(csvRecord: body, positions: csvPositions) {
                // The fast path takes only records of the header's width; decode it by column name.
                guard case .success(let values) = split, values.count == csvColumns.count else {
                    preconditionFailure("the fast path took a CSV record the splitter reads otherwise")
                }
                var fields: [String: FieldValue] = [:]
                for (name, value) in zip(csvColumns, values) where !value.isEmpty { fields[name] = .string(value) }
                let general = try? EventRowDecoder().decode(fields) { RowIdentity.id(for: body) }
                precondition(plain == general, "the fast path and the general way decode a CSV record differently")
            }
        case 5:
            let text = String(decoding: body, as: UTF8.self)
            _ = Timestamp(parsing: text)
            _ = Cost(decimal: text)
            _ = DecimalText.parse(text, scale: 12)
        case 6:
            if case .success(let members) = JSONRowParser.members(of: body) {
                let usage = JSONValue.object(members)
                _ = UsageReportImporter.decode(page: usage, format: .openAIUsage)
                _ = UsageReportImporter.decode(page: usage, format: .anthropicUsage)
                _ = BillingImporter.decode(page: usage, format: .openAICosts)
                _ = BillingImporter.decode(page: usage, format: .anthropicCosts)
            }
        default:
            // The gateway's response reader builds only what usage needs; on any body a full parse
            // accepts it must give the same usage, and skipping must accept the body too.
            let light = ProviderUsage.normalise(responseBody: body, provider: "openai")
            if case .success(let members) = JSONRowParser.members(of: body) {
                let whole = try? ProviderUsage.normalise(.object(members), provider: "openai")
                precondition(light == whole, "the response-body reader and a full read disagree on usage")
                let skipped = JSONRowParser.members(of: body) { _, _ in false }
                precondition((try? skipped.get()) == [:], "skipping refused JSON a full parse accepts")
                _ = try? ProviderUsage.openAIChat(members)
                _ = try? ProviderUsage.openAIResponses(members)
                _ = try? ProviderUsage.anthropic(members)
                _ = try? ProviderUsage.gemini(members)
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    ParserFuzz.exercise(UnsafeBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
    // SwiftPM links an executable's entry as `<Module>_main`: hand control to libFuzzer's driver.
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    @_cdecl("ParserFuzz_main")
    func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var arguments = argv
        return runFuzzerDriver(&count, &arguments, fuzzOne)
    }
#else
    @main enum Replay {
        static func main() {
            var files: [String] = []
            for argument in CommandLine.arguments.dropFirst() {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else { continue }
                if isDirectory.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
                    files += names.sorted().map { argument + "/" + $0 }
                } else {
                    files.append(argument)
                }
            }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                Array(data).withUnsafeBufferPointer { ParserFuzz.exercise($0) }
            }
            print("replayed \(files.count) inputs without a crash")
        }
    }
#endif
