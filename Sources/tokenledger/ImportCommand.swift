import ArgumentParser
import Foundation
import LedgerCore
import LedgerGateway
import LedgerIngest
import LedgerStore
import Yams

/// `tokenledger import`: load normalised events from JSON Lines or CSV files.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract:
            "Import usage events (JSON Lines, CSV) or provider usage reports (OpenAI, Anthropic); see docs/EVENTS.md.",
        discussion: """
            Good rows are recorded and bad ones reported with file, line, field and reason; the command then \
            exits with status 1. With --strict nothing is written unless every row is good. Importing the same \
            file again changes nothing: events are identified by their id.
            """
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "Files to import.") var files: [String] = []
    @Option(name: .customLong("file"), help: "A file to import (repeatable; same as the arguments).") var fileOptions:
        [String] = []
    @Option(
        help:
            "jsonl, csv, openai-usage, anthropic-usage, bedrock-logs, or a bill: focus, openai-costs, anthropic-costs, aws-cur, azure-export, gcp-billing; GPU and storage metrics: dcgm, nvidia-smi, storage (default: detected from the file)."
    )
    var format: FormatArgument?
    @Flag(help: "Write nothing unless every row of every file is good.") var strict = false
    @Option(
        help:
            "A column-mapping file (YAML) for your own CSV or JSON Lines export: which column holds each event field (docs/EVENTS.md)."
    ) var mapping: String?
    @Option(help: "GPU and storage metrics: seconds each sample stands for (the scrape or logging interval).")
    var interval: Int64 = 60
    @Option(
        help: "GPU and storage metrics: the time of samples that carry none (default: the file's modification time).")
    var at: String?
    @Option(help: "GPU metrics: the host, for nvidia-smi logs and scrapes without a Hostname label.") var host: String?
    @Option(help: "Storage: the Prometheus gauge of bytes to read, e.g. qdrant_collection_size_bytes.") var metric:
        String?
    @Option(help: "Storage: the storage class its events are priced as (a storage_gb_month entry of your price file).")
    var storageModel: String = "vector-store"
    @Option(help: "The source recorded for rows that name none.") var source: String = "import"
    @Option(name: .customLong("show-errors"), help: "How many bad rows to list.") var showErrors: Int = 20
    @Option(name: .customLong("batch-size"), help: "Events per transaction.") var batchSize: Int = 20_000

    enum FormatArgument: String, ExpressibleByArgument, CaseIterable {
        case jsonl, csv
        case openAIUsage = "openai-usage"
        case anthropicUsage = "anthropic-usage"
        case bedrockLogs = "bedrock-logs"
        case focus
        case openAICosts = "openai-costs"
        case anthropicCosts = "anthropic-costs"
        case awsCUR = "aws-cur"
        case azureExport = "azure-export"
        case gcpBilling = "gcp-billing"
        case dcgm
        case nvidiaSMI = "nvidia-smi"
        case storage
    }

    /// A file's reader: normalised events, or a provider's usage report.
    enum Reader {
        case events(EventFileImporter)
        case report(UsageReportImporter)
        case bedrock(BedrockLogImporter)
        /// A provider's bill: billing lines, not usage events.
        case billing(BillingImporter)
        /// GPU time or storage.
        case resources(ResourceMetricsImporter)
        /// Your own export, through a column mapping.
        case mapped(MappedImporter)

        /// Reads the file; only event files report progress while reading (reports are read whole).
        func run(
            onBatch: ([UsageEvent]) async throws -> Void, onReject: (IngestError) -> Void,
            onProgress: (EventFileImporter.Progress) -> Void = { _ in }
        ) async throws -> EventFileImporter.Summary {
            switch self {
            case .events(let importer):
                return try await importer.run(onBatch: onBatch, onReject: onReject, onProgress: onProgress)
            case .report(let importer): return try await importer.run(onBatch: onBatch, onReject: onReject)
            case .bedrock(let importer): return try await importer.run(onBatch: onBatch, onReject: onReject)
            case .resources(let importer): return try await importer.run(onBatch: onBatch, onReject: onReject)
            case .mapped(let importer): return try await importer.run(onBatch: onBatch, onReject: onReject)
            case .billing(let importer):
                let summary = try await importer.run(onBatch: { _ in }, onReject: onReject)
                var result = EventFileImporter.Summary()
                result.rows = summary.rows
                result.accepted = summary.accepted
                result.rejected = summary.rejected
                return result
            }
        }
    }

    func reader(for path: String) throws -> Reader {
        if let mapping {
            guard format == nil || format == .csv || format == .jsonl else {
                throw ValidationError("--mapping reads CSV or JSON Lines; drop --format \(format!.rawValue).")
            }
            let json = format == .jsonl || (format == nil && !path.lowercased().hasSuffix(".csv"))
            return .mapped(
                MappedImporter(
                    path: path, mapping: try Self.loadMapping(mapping), json: json,
                    decoder: EventRowDecoder(defaultSource: source)))
        }
        switch format {
        case .openAIUsage: return .report(UsageReportImporter(path: path, format: .openAIUsage))
        case .anthropicUsage: return .report(UsageReportImporter(path: path, format: .anthropicUsage))
        case .bedrockLogs: return .bedrock(BedrockLogImporter(path: path))
        case .focus: return .billing(BillingImporter(path: path, format: .focus))
        case .openAICosts: return .billing(BillingImporter(path: path, format: .openAICosts))
        case .anthropicCosts: return .billing(BillingImporter(path: path, format: .anthropicCosts))
        case .awsCUR: return .billing(BillingImporter(path: path, format: .awsCUR))
        case .azureExport: return .billing(BillingImporter(path: path, format: .azureExport))
        case .gcpBilling: return .billing(BillingImporter(path: path, format: .gcpBilling))
        case .dcgm: return .resources(try resourceImporter(path, .dcgm))
        case .nvidiaSMI: return .resources(try resourceImporter(path, .nvidiaSMI))
        case .storage: return .resources(try resourceImporter(path, .storage))
        case .jsonl, .csv: return .events(try importer(for: path))
        case nil:
            // GPU metrics: a dcgm-exporter scrape, or an nvidia-smi log.
            if let handle = FileHandle(forReadingAtPath: path), let head = try? handle.read(upToCount: 65_536) {
                let text = String(decoding: head, as: UTF8.self)
                if text.contains("DCGM_FI_DEV_") { return .resources(try resourceImporter(path, .dcgm)) }
                if text.hasPrefix("timestamp, index, name") || text.hasPrefix("timestamp, name, index") {
                    return .resources(try resourceImporter(path, .nvidiaSMI))
                }
            }
            // Bedrock invocation logs are JSON Lines whose records name their schema.
            if let handle = FileHandle(forReadingAtPath: path), let head = try? handle.read(upToCount: 4_096),
                let firstLine = head.split(separator: UInt8(ascii: "\n")).first,
                let record = try? JSONValue(parsing: Data(firstLine)),
                BedrockLogImporter.recognises(record)
            {
                return .bedrock(BedrockLogImporter(path: path))
            }
            // Google Cloud's billing export as newline-delimited JSON.
            if let handle = FileHandle(forReadingAtPath: path), let head = try? handle.read(upToCount: 16_384),
                let firstLine = head.split(separator: UInt8(ascii: "\n")).first,
                let record = try? JSONValue(parsing: Data(firstLine)), record["sku"] != nil,
                record["usage_start_time"] != nil
            {
                return .billing(BillingImporter(path: path, format: .gcpBilling))
            }
            // A .json file may be a provider's usage or cost report: look at its buckets.
            if path.lowercased().hasSuffix(".json"), let data = FileManager.default.contents(atPath: path),
                let page = try? JSONValue(parsing: data)
            {
                // Cost pages first: their buckets look like usage buckets.
                if let detected = BillingImporter.Format.detect(page) {
                    return .billing(BillingImporter(path: path, format: detected))
                }
                if let detected = UsageReportImporter.Format.detect(page) {
                    return .report(UsageReportImporter(path: path, format: detected))
                }
            }
            // A CSV whose header is a FOCUS, CUR, Azure or Google Cloud export's is a bill.
            if path.lowercased().hasSuffix(".csv"), let table = try? CSVTableReader(path: path),
                let detected = BillingImporter.Format.detect(header: table.header)
            {
                return .billing(BillingImporter(path: path, format: detected))
            }
            return .events(try importer(for: path))
        }
    }

    var allFiles: [String] { files + fileOptions }

    static func loadMapping(_ path: String) throws -> ColumnMapping {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("Cannot read the mapping '\(path)'.")
        }
        let mapping: ColumnMapping
        do {
            mapping = try YAMLDecoder().decode(ColumnMapping.self, from: text)
        } catch {
            throw ValidationError("The mapping '\(path)' is not valid: \(error). See docs/EVENTS.md for its shape.")
        }
        if let problem = mapping.problem() { throw ValidationError("The mapping '\(path)': \(problem).") }
        return mapping
    }

    /// A file's modification time: the time of a saved scrape's samples, the same on every import.
    static func modificationTime(_ path: String) -> Timestamp {
        guard let date = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else {
            return .current
        }
        return Timestamp(microseconds: Int64(date.timeIntervalSince1970) * 1_000_000)
    }

    func resourceImporter(_ path: String, _ format: ResourceMetricsImporter.Format) throws -> ResourceMetricsImporter {
        if format == .storage, metric == nil {
            throw ValidationError("--format storage needs --metric NAME: the Prometheus gauge of bytes to read.")
        }
        return ResourceMetricsImporter(
            path: path, format: format, intervalSeconds: interval,
            defaultTime: try at.map { try Timestamp.argument($0, option: "--at") } ?? Self.modificationTime(path),
            host: host,
            metric: metric, storageModel: storageModel)
    }

    func validate() throws {
        if allFiles.isEmpty { throw ValidationError("Name at least one file: tokenledger import events.jsonl") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1.") }
        if interval < 1 || interval > 31_622_400 {
            throw ValidationError("--interval must be between 1 second and a year (31622400 seconds).")
        }
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
        return EventFileImporter(
            path: path, format: detected, batchSize: batchSize, decoder: EventRowDecoder(defaultSource: source))
    }

    func run() async throws {
        for path in allFiles where !FileManager.default.isReadableFile(atPath: path) {
            throw ValidationError("Cannot read '\(path)': no such file or no permission.")
        }
        var errors = RejectionReport(limit: showErrors)
        if strict {
            for path in allFiles {
                _ = try await reader(for: path).run(onBatch: { _ in }, onReject: { errors.add($0) })
            }
            if errors.total > 0 {
                errors.finish()
                printError("--strict: \(errors.total) bad rows; nothing was written. Fix them and import again.")
                throw ExitCode(1)
            }
        }
        let ledger = try SQLiteLedger(path: try common.databasePath())
        var pipeline = RecordingPipeline(ledger: ledger, catalog: try common.catalog())
        errors = RejectionReport(limit: showErrors)
        for path in allFiles {
            try await importFile(path, pipeline: &pipeline, errors: &errors)
        }
        errors.finish()
        if errors.total > 0 {
            printError(
                "\(errors.total) bad rows were not imported; the good rows were. Fix the bad rows and import the file again (good rows will not be counted twice)."
            )
            throw ExitCode(1)
        }
    }

    private func importFile(_ path: String, pipeline: inout RecordingPipeline, errors: inout RejectionReport)
        async throws
    {
        let reader = try reader(for: path)
        if case .billing(let importer) = reader {
            var billingRecorded = RecordSummary()
            let result = try await importer.run(
                onBatch: { lines in
                    let recorded = try await pipeline.ledger.recordBilling(lines)
                    billingRecorded.inserted += recorded.inserted
                    billingRecorded.duplicates += recorded.duplicates
                }, onReject: { errors.add($0) })
            print(
                "\(path): \(grouped(Int64(result.rows))) bill lines (\(importer.format.rawValue)), \(grouped(Int64(billingRecorded.inserted))) recorded, \(grouped(Int64(billingRecorded.duplicates))) already in the ledger, \(grouped(Int64(result.rejected))) rejected\(result.skipped > 0 ? ", \(grouped(Int64(result.skipped))) of other services skipped" : ""). Compare with metered usage: tokenledger reconcile --provider P --month YYYY-MM"
            )
            return
        }
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 1
        var progress = ProgressBar(label: (path as NSString).lastPathComponent, total: size, unit: "rows")
        let started = ContinuousClock.now
        var fileSummary = EventFileImporter.Summary()
        let recorded = try await pipeline.run { submit in
            fileSummary = try await reader.run(
                onBatch: submit, onReject: { errors.add($0) },
                onProgress: { progress.update(done: $0.bytesRead, items: Int64($0.rows)) })
        }
        progress.finish()
        let elapsed = ContinuousClock.now - started
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 1e-6)
        let rows = grouped(Int64(fileSummary.rows))
        let inserted = grouped(Int64(recorded.recorded.inserted))
        let duplicates = grouped(Int64(recorded.recorded.duplicates))
        let rejected = grouped(Int64(fileSummary.rejected))
        let unpriced = grouped(Int64(recorded.unpriced))
        let rate = grouped(Int64(Double(fileSummary.rows) / seconds))
        print(
            "\(path): \(rows) rows, \(inserted) recorded, \(duplicates) already in the ledger, \(rejected) rejected, \(unpriced) unpriced (\(rate) rows/s)"
        )
    }
}

/// Lists the first bad rows on standard error and counts the rest.
struct RejectionReport {
    let limit: Int
    private(set) var total = 0

    init(limit: Int) {
        self.limit = limit
    }

    mutating func add(_ error: IngestError) {
        total += 1
        if total <= limit { printError("rejected: \(error)") }
    }

    func finish() {
        if total > limit { printError("… and \(total - limit) more bad rows") }
    }
}
