import ArgumentParser
import Foundation
import LedgerCore
import LedgerIngest
import LedgerStore

/// `tokenledger import`: load normalised events from JSON Lines or CSV files.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import usage events from JSON Lines or CSV files (schema: docs/EVENTS.md).",
        discussion: """
            Good rows are recorded and bad ones reported with file, line, field and reason; the command then \
            exits with status 1. With --strict nothing is written unless every row is good. Importing the same \
            file again changes nothing: events are identified by their id.
            """
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "Files to import.") var files: [String] = []
    @Option(name: .customLong("file"), help: "A file to import (repeatable; same as the arguments).") var fileOptions: [String] = []
    @Option(help: "jsonl or csv (default: from the file name or its first byte).") var format: FormatArgument?
    @Flag(help: "Write nothing unless every row of every file is good.") var strict = false
    @Option(help: "The source recorded for rows that name none.") var source: String = "import"
    @Option(name: .customLong("show-errors"), help: "How many bad rows to list.") var showErrors: Int = 20
    @Option(name: .customLong("batch-size"), help: "Events per transaction.") var batchSize: Int = 5_000

    enum FormatArgument: String, ExpressibleByArgument, CaseIterable {
        case jsonl, csv
    }

    var allFiles: [String] { files + fileOptions }

    func validate() throws {
        if allFiles.isEmpty { throw ValidationError("Name at least one file: tokenledger import events.jsonl") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1.") }
    }

    func importer(for path: String) throws -> EventFileImporter {
        let detected: EventFileImporter.Format
        if let format {
            detected = format == .csv ? .csv : .jsonl
        } else {
            let firstByte = FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: 1)?.first }
            guard let guess = EventFileImporter.Format.detect(path: path, firstByte: firstByte) else {
                throw ValidationError("Cannot tell the format of '\(path)': name it .jsonl or .csv, or pass --format.")
            }
            detected = guess
        }
        return EventFileImporter(path: path, format: detected, batchSize: batchSize, decoder: EventRowDecoder(defaultSource: source))
    }

    func run() async throws {
        for path in allFiles where !FileManager.default.isReadableFile(atPath: path) {
            throw ValidationError("Cannot read '\(path)': no such file or no permission.")
        }
        var shown = 0
        var rejectedTotal = 0
        func reject(_ error: IngestError) {
            rejectedTotal += 1
            if shown < showErrors {
                printError("rejected: \(error)")
                shown += 1
            }
        }
        if strict {
            for path in allFiles {
                _ = try await importer(for: path).run(onBatch: { _ in }, onReject: reject)
            }
            if rejectedTotal > 0 {
                if rejectedTotal > shown { printError("… and \(rejectedTotal - shown) more bad rows") }
                printError("--strict: \(rejectedTotal) bad rows; nothing was written. Fix them and import again.")
                throw ExitCode(1)
            }
        }
        let ledger = try SQLiteLedger(path: try common.databasePath())
        var recorder = Recorder(catalog: try common.catalog(), ledger: ledger)
        rejectedTotal = 0
        shown = 0
        for path in allFiles {
            let importer = try importer(for: path)
            let before = recorder.summary
            let unpricedBefore = recorder.unpriced
            var progress = ProgressBar(label: (path as NSString).lastPathComponent, total: 1, unit: "rows")
            let started = ContinuousClock.now
            let summary = try await importer.run(
                onBatch: { batch in try await recorder.record(batch) }, onReject: reject,
                onProgress: { update in
                    progress = progress.total == 1 ? ProgressBar(label: progress.label, total: max(update.fileSize, 1), unit: "rows") : progress
                    progress.update(done: update.bytesRead, items: Int64(update.rows))
                })
            progress.finish()
            let seconds = max(Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds), 1e-6)
            let recorded = recorder.summary.inserted - before.inserted
            let duplicates = recorder.summary.duplicates - before.duplicates
            print(
                "\(path): \(grouped(Int64(summary.rows))) rows, \(grouped(Int64(recorded))) recorded, \(grouped(Int64(duplicates))) already in the ledger, "
                    + "\(grouped(Int64(summary.rejected))) rejected, \(grouped(Int64(recorder.unpriced - unpricedBefore))) unpriced "
                    + "(\(grouped(Int64(Double(summary.rows) / seconds))) rows/s)")
        }
        if rejectedTotal > shown { printError("… and \(rejectedTotal - shown) more bad rows") }
        if rejectedTotal > 0 {
            printError("\(rejectedTotal) bad rows were not imported; the good rows were. Fix the bad rows and import the file again (good rows will not be counted twice).")
            throw ExitCode(1)
        }
    }
}
