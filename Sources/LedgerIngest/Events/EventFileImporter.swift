public import LedgerCore

/// Streams a file of normalised events (JSON Lines or CSV) into batches, with constant memory,
/// reporting every bad row with its file, line, field and reason.
public struct EventFileImporter: Sendable {
    /// The file formats.
    public enum Format: String, Sendable, CaseIterable {
        case jsonl
        case csv

        /// Guesses from the extension, then from the first byte (`{` means JSON Lines).
        public static func detect(path: String, firstByte: UInt8?) -> Format? {
            let lowered = path.lowercased()
            if lowered.hasSuffix(".jsonl") || lowered.hasSuffix(".ndjson") || lowered.hasSuffix(".json") {
                return .jsonl
            }
            if lowered.hasSuffix(".csv") { return .csv }
            if firstByte == UInt8(ascii: "{") { return .jsonl }
            return nil
        }
    }

    /// What a run did.
    public struct Summary: Sendable, Hashable {
        /// Data rows read (not counting a CSV header or blank lines).
        public var rows: Int = 0
        /// Rows that decoded into events.
        public var accepted: Int = 0
        /// Rows rejected.
        public var rejected: Int = 0
        /// Bytes read.
        public var bytes: Int64 = 0

        /// An empty summary.
        public init() {}
    }

    /// Progress, reported every batch.
    public struct Progress: Sendable {
        public var bytesRead: Int64
        public var fileSize: Int64
        public var rows: Int
    }

    /// The file.
    public var path: String
    /// Its format.
    public var format: Format
    /// Events per batch handed to the caller.
    public var batchSize: Int
    /// How rows are decoded.
    public var decoder: EventRowDecoder

    /// Creates an importer.
    public init(path: String, format: Format, batchSize: Int = 5_000, decoder: EventRowDecoder = EventRowDecoder()) {
        self.path = path
        self.format = format
        self.batchSize = max(1, batchSize)
        self.decoder = decoder
    }

    /// Reads the whole file.
    ///
    /// - Parameters:
    ///   - onBatch: receives each batch of good events, in file order.
    ///   - onReject: receives each bad row's error.
    ///   - onProgress: called after each batch.
    /// - Throws: ``IngestError`` when the file cannot be read at all (no such file, no CSV header),
    ///   or what `onBatch` throws.
    public func run(
        onBatch: ([UsageEvent]) async throws -> Void,
        onReject: (IngestError) -> Void,
        onProgress: (Progress) -> Void = { _ in }
    ) async throws -> Summary {
        var reader = try LineReader(path: path)
        var summary = Summary()
        var batch: [UsageEvent] = []
        batch.reserveCapacity(batchSize)
        var csv = CSVState()

        while let outcome = try reader.nextLine({ line, number -> RowOutcome? in
            switch format {
            case .jsonl:
                if line.allSatisfy({ $0 == 32 || $0 == 9 }) { return nil }
                return decodeJSONLine(line, lineNumber: number)
            case .csv:
                return try csv.consume(line, lineNumber: number, importer: self)
            }
        }) {
            guard let row = outcome else { continue }
            summary.rows += 1
            switch row {
            case .event(let event):
                summary.accepted += 1
                batch.append(event)
            case .rejected(let error):
                summary.rejected += 1
                onReject(error)
            }
            if batch.count >= batchSize {
                try await onBatch(batch)
                batch.removeAll(keepingCapacity: true)
                onProgress(Progress(bytesRead: reader.bytesRead, fileSize: reader.fileSize, rows: summary.rows))
            }
        }
        if csv.recordOpen {
            summary.rows += 1
            summary.rejected += 1
            onReject(
                IngestError(
                    file: path, line: csv.recordStartLine, field: nil,
                    reason: "a quoted field is never closed before the end of the file"))
        }
        if !batch.isEmpty { try await onBatch(batch) }
        summary.bytes = reader.bytesRead
        onProgress(Progress(bytesRead: reader.bytesRead, fileSize: reader.fileSize, rows: summary.rows))
        return summary
    }

    /// CSV reading state: the header, and a record that continues over several lines.
    struct CSVState {
        var header: [String]?
        var pending: [UInt8] = []
        var recordOpen = false
        var recordStartLine = 0

        mutating func consume(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, importer: EventFileImporter) throws
            -> RowOutcome?
        {
            if !recordOpen {
                if line.isEmpty { return nil }
                if !CSVRecordSplitter.hasOpenQuote(line, startingOpen: false) {
                    return try record(line, lineNumber: lineNumber, importer: importer)
                }
                recordOpen = true
                recordStartLine = lineNumber
                pending = Array(line)
                return nil
            }
            pending.append(10)
            pending.append(contentsOf: line)
            recordOpen = CSVRecordSplitter.hasOpenQuote(line, startingOpen: true)
            guard !recordOpen else { return nil }
            let bytes = pending
            pending = []
            return try bytes.withUnsafeBufferPointer { buffer in
                try record(buffer, lineNumber: recordStartLine, importer: importer)
            }
        }

        mutating func record(_ bytes: UnsafeBufferPointer<UInt8>, lineNumber: Int, importer: EventFileImporter) throws
            -> RowOutcome?
        {
            let fields: [String]
            switch CSVRecordSplitter.fields(bytes) {
            case .success(let values): fields = values
            case .failure(let error):
                if header == nil {
                    throw IngestError(
                        file: importer.path, line: lineNumber, field: nil,
                        reason: "the header line is not valid CSV: \(error.reason)")
                }
                return .rejected(
                    IngestError(
                        file: importer.path, line: lineNumber, field: nil,
                        reason: "\(error.reason) (field \(error.column))"))
            }
            guard let header else {
                let names = fields.map { $0.trimmingWhitespace().lowercased() }
                for name in names where !EventRowDecoder.knownFields.contains(name) {
                    let hint = EventRowDecoder.closest(to: name).map { " Did you mean '\($0)'?" } ?? ""
                    throw IngestError(
                        file: importer.path, line: lineNumber, field: name,
                        reason: "unknown column in the header.\(hint) Columns are listed in docs/EVENTS.md.")
                }
                if Set(names).count != names.count {
                    throw IngestError(
                        file: importer.path, line: lineNumber, field: nil, reason: "the header names a column twice")
                }
                self.header = names
                return nil
            }
            guard fields.count == header.count else {
                return .rejected(
                    IngestError(
                        file: importer.path, line: lineNumber, field: nil,
                        reason: "has \(fields.count) fields but the header has \(header.count)"))
            }
            var values: [String: FieldValue] = [:]
            values.reserveCapacity(header.count)
            for (name, value) in zip(header, fields) where !value.isEmpty {
                values[name] = .string(value)
            }
            return importer.decodeFields(values, lineNumber: lineNumber, raw: bytes)
        }
    }

    enum RowOutcome {
        case event(UsageEvent)
        case rejected(IngestError)
    }

    func decodeJSONLine(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int) -> RowOutcome {
        let fields: [String: FieldValue]
        do {
            fields = try JSONRowParser.parseObject(line)
        } catch {
            return .rejected(
                IngestError(
                    file: path, line: lineNumber, field: nil, reason: "\(error.reason) (column \(error.column))"))
        }
        return decodeFields(fields, lineNumber: lineNumber, raw: line)
    }

    func decodeFields(_ fields: [String: FieldValue], lineNumber: Int, raw: UnsafeBufferPointer<UInt8>) -> RowOutcome {
        do {
            return .event(try decoder.decode(fields) { RowIdentity.id(for: raw) })
        } catch {
            return .rejected(IngestError(file: path, line: lineNumber, field: error.field, reason: error.reason))
        }
    }
}

/// Ids for rows that carry none: a hash of the row's bytes, so the same row imported twice
/// counts once. Rows that are byte-for-byte identical are therefore the same event.
enum RowIdentity {
    static func id(for bytes: UnsafeBufferPointer<UInt8>) -> String {
        let first = FNV1a.hash(bytes)
        var second: UInt64 = 0x8422_2325_CBF2_9CE4
        for byte in bytes {
            second = (second &+ UInt64(byte)) &* 0x9E37_79B9_7F4A_7C15
            second ^= second >> 29
        }
        return "row-" + hex(first) + hex(second)
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
