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
        var batcher = EventBatcher(batchSize: batchSize)
        let plain = PlainRowDecoder(defaultSource: decoder.defaultSource)
        switch format {
        case .jsonl:
            var reader = try LineReader(path: path)
            try await batcher.read(
                { batcher in
                    try reader.nextLine { line, number in
                        if let event = plain.decode(jsonLine: line) { return batcher.add(event) }
                        if line.allSatisfy({ $0 == 32 || $0 == 9 }) { return }
                        batcher.add(decodeJSONLine(line, lineNumber: number), onReject: onReject)
                    } != nil
                }, onBatch: onBatch,
                afterBatch: {
                    onProgress(Progress(bytesRead: reader.bytesRead, fileSize: reader.fileSize, rows: $0.rows))
                })
            let summary = try await batcher.finish(bytesRead: reader.bytesRead, onBatch: onBatch)
            onProgress(Progress(bytesRead: reader.bytesRead, fileSize: reader.fileSize, rows: summary.rows))
            return summary
        case .csv:
            let table = try CSVTableReader(path: path)
            let positions = try csvHeader(table.header, line: table.headerLine)
            try await batcher.read(
                { batcher in
                    try table.nextRecord(
                        { record, line in
                            if let event = plain.decode(csvRecord: record, positions: positions) {
                                return batcher.add(event)
                            }
                            batcher.add(
                                decodeCSVRecord(record, lineNumber: line, positions: positions), onReject: onReject)
                        }, unclosed: { batcher.add(.failure($0), onReject: onReject) }) != nil
                }, onBatch: onBatch,
                afterBatch: {
                    onProgress(Progress(bytesRead: table.bytesRead, fileSize: table.fileSize, rows: $0.rows))
                })
            let summary = try await batcher.finish(bytesRead: table.bytesRead, onBatch: onBatch)
            onProgress(Progress(bytesRead: table.bytesRead, fileSize: table.fileSize, rows: summary.rows))
            return summary
        }
    }

    /// Each header column's field position, or why the header cannot be read.
    private func csvHeader(_ columns: [String], line: Int) throws(IngestError) -> [Int] {
        var positions: [Int] = []
        for name in columns.map({ $0.lowercased() }) {
            guard let position = EventRowDecoder.fieldTable.position(of: name) else {
                let hint = EventRowDecoder.closest(to: name).map { " Did you mean '\($0)'?" } ?? ""
                throw IngestError(
                    file: path, line: line, field: name,
                    reason: "unknown column in the header.\(hint) Columns are listed in docs/EVENTS.md.")
            }
            positions.append(position)
        }
        if Set(positions).count != positions.count {
            throw IngestError(file: path, line: line, field: nil, reason: "the header names a column twice")
        }
        return positions
    }

    /// Decodes a CSV record the general way: split into fields, then by name.
    func decodeCSVRecord(_ record: UnsafeBufferPointer<UInt8>, lineNumber: Int, positions: [Int]) -> Result<
        UsageEvent, IngestError
    > {
        let values: [String]
        switch CSVTableReader.fields(record, file: path, line: lineNumber) {
        case .success(let fields): values = fields
        case .failure(let error): return .failure(error)
        }
        guard values.count == positions.count else {
            return .failure(
                IngestError(
                    file: path, line: lineNumber, field: nil,
                    reason: "has \(values.count) fields but the header has \(positions.count)"))
        }
        var fields = RowFields()
        for (position, value) in zip(positions, values) where !value.isEmpty {
            fields.values[position] = .string(value)
        }
        return decodeFields(fields, lineNumber: lineNumber, raw: record)
    }

    func decodeJSONLine(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int) -> Result<UsageEvent, IngestError> {
        let fields: RowFields
        do {
            fields = try RowFields.parse(jsonLine: line)
        } catch {
            return .failure(
                IngestError(
                    file: path, line: lineNumber, field: nil, reason: "\(error.reason) (column \(error.column))"))
        }
        return decodeFields(fields, lineNumber: lineNumber, raw: line)
    }

    func decodeFields(_ fields: RowFields, lineNumber: Int, raw: UnsafeBufferPointer<UInt8>) -> Result<
        UsageEvent, IngestError
    > {
        do {
            return .success(try decoder.decode(fields) { RowIdentity.id(for: raw) })
        } catch {
            return .failure(IngestError(file: path, line: lineNumber, field: error.field, reason: error.reason))
        }
    }
}

/// Ids for rows that carry none: a hash of the row's bytes, so the same row imported twice
/// counts once. Rows that are byte-for-byte identical are therefore the same event.
public enum RowIdentity {
    /// The id of the row whose bytes (as written, without the line end) are `bytes`.
    public static func id(for bytes: UnsafeBufferPointer<UInt8>) -> String {
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
