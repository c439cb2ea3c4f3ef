/// Streams the records of a CSV file that starts with a header line, with constant memory:
/// quoted fields may span lines, a UTF-8 byte-order mark is ignored (Azure exports carry one),
/// CRLF line ends are accepted.
public final class CSVTableReader {
    public enum Record {
        /// A data record: its first line's number, its fields, and its bytes as written (for
        /// ids derived from a row's content).
        case fields(line: Int, values: [String], raw: [UInt8])
        /// A record that is not valid CSV.
        case malformed(IngestError)
    }

    public let path: String
    /// The header's column names, trimmed, and its line number.
    public private(set) var header: [String] = []
    public private(set) var headerLine = 1
    private var reader: LineReader
    private var pending: [UInt8] = []
    private var recordStartLine = 0
    private var open = false

    /// Opens the file and reads its header.
    public init(path: String) throws(IngestError) {
        self.path = path
        reader = try LineReader(path: path)
        var first: Record?
        do {
            first = try next()
        } catch {
            throw IngestError(file: path, line: 1, field: nil, reason: "cannot read the header: \(error)")
        }
        switch first {
        case .fields(let line, let values, _)?:
            header = values.map { $0.trimmingWhitespace() }
            headerLine = line
        case .malformed(let error)?:
            throw IngestError(
                file: path, line: error.line, field: nil, reason: "the header is not valid CSV: \(error.reason)")
        case nil:
            throw IngestError(file: path, line: nil, field: nil, reason: "the file is empty; a CSV header was expected")
        }
    }

    /// Bytes read so far, and the file's size.
    public var bytesRead: Int64 { reader.bytesRead }
    public var fileSize: Int64 { reader.fileSize }

    /// The next record, or nil at the end of the file.
    public func next() throws -> Record? {
        try nextRecord({ bytes, line in split(bytes, line) }, unclosed: { .malformed($0) })
    }

    /// Calls `body` with the next record's bytes, as written (the lines of a quoted field that
    /// spans several joined by `\n`), and its first line's number; returns what it returns, or nil
    /// at the end of the file. A quoted field still open at the end of the file goes to
    /// `unclosed` instead.
    public func nextRecord<Result>(
        _ body: (UnsafeBufferPointer<UInt8>, Int) -> Result, unclosed: (IngestError) -> Result
    ) throws -> Result? {
        while true {
            let outcome: Result?? = try reader.nextLine { line, number -> Result? in
                var line = line
                if number == 1, line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
                    line = UnsafeBufferPointer(rebasing: line[3...])
                }
                if !open {
                    if line.isEmpty { return nil }
                    if !CSVRecordSplitter.hasOpenQuote(line, startingOpen: false) {
                        return body(line, number)
                    }
                    open = true
                    recordStartLine = number
                    pending = Array(line)
                    return nil
                }
                pending.append(10)
                pending.append(contentsOf: line)
                open = CSVRecordSplitter.hasOpenQuote(line, startingOpen: true)
                guard !open else { return nil }
                let bytes = pending
                pending = []
                return bytes.withUnsafeBufferPointer { body($0, recordStartLine) }
            }
            switch outcome {
            case nil:
                guard open else { return nil }
                open = false
                return unclosed(
                    IngestError(
                        file: path, line: recordStartLine, field: nil,
                        reason: "a quoted field is never closed before the end of the file"))
            case .some(nil): continue
            case .some(.some(let record)): return record
            }
        }
    }

    private func split(_ bytes: UnsafeBufferPointer<UInt8>, _ line: Int) -> Record {
        switch CSVTableReader.fields(bytes, file: path, line: line) {
        case .success(let values): return .fields(line: line, values: values, raw: Array(bytes))
        case .failure(let error): return .malformed(error)
        }
    }

    /// A record's fields, or the error naming its file, line and the field at fault.
    static func fields(_ bytes: UnsafeBufferPointer<UInt8>, file: String, line: Int) -> Result<[String], IngestError> {
        CSVRecordSplitter.fields(bytes).mapError {
            IngestError(file: file, line: line, field: nil, reason: "\($0.reason) (field \($0.column))")
        }
    }
}
