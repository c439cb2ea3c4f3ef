import ArgumentParser
import Foundation
import LedgerCore
import LedgerIngest
import LedgerStore

/// `tokenledger export`: the ledger in standard formats.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export the ledger in standard formats.",
        subcommands: [Focus.self]
    )

    struct Focus: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "focus",
            abstract: "Write a month as a FOCUS 1.2 cost and usage CSV, or check a FOCUS file (--check).",
            discussion: """
                One row per day, model, token kind, unit price and owner. Tokens are the consumed quantity \
                (Tokens); the pricing quantity is millions of tokens (1000000 Tokens), so ListCost = ListUnitPrice × \
                PricingQuantity exactly. Catalog entries are the SKUs; allocated dimensions and tags are Tags. \
                `--check FILE` runs the spec's column- and row-level rules on any FOCUS 1.2 file and exits 1 when \
                one is broken.
                """
        )

        @OptionGroup var common: CommonOptions
        @Option(help: "The month to export, e.g. 2026-10.") var period: String?
        @Option(help: "The CSV file to write (default: standard output).") var output: String?
        @Option(help: "Check this FOCUS file instead of exporting.") var check: String?
        @Option(help: "BillingAccountId to write.") var billingAccount = "tokenledger"
        @Option(help: "BillingAccountName to write.") var billingAccountName = "TokenLedger"

        func run() async throws {
            if let check {
                let result = try Self.check(path: check)
                print(Self.describe(result, path: check))
                if !result.passed { throw ExitCode(1) }
                return
            }
            guard let text = period else {
                throw ValidationError("Name the month to export (--period 2026-10), or a file to check (--check FILE).")
            }
            let period = try month(text)
            let ledger = try SQLiteLedger(path: try common.databasePath())
            let export = try ledger.focusExport(
                period: period, catalog: try common.catalog(), billingAccountID: billingAccount,
                billingAccountName: billingAccountName)
            let rows = export.rows()
            let target = output.map { $0 + ".partial" }
            do {
                let handle: FileHandle
                if let target {
                    guard FileManager.default.createFile(atPath: target, contents: nil) else {
                        throw CommandFailure("Cannot write '\(output!)': check the directory exists and is writable.")
                    }
                    handle = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
                } else {
                    handle = FileHandle.standardOutput
                }
                var buffer = FocusExport.csvLine(FocusExport.header) + "\n"
                for row in rows {
                    buffer += FocusExport.csvLine(row) + "\n"
                    if buffer.utf8.count > 1 << 20 {
                        try handle.write(contentsOf: Data(buffer.utf8))
                        buffer = ""
                    }
                }
                try handle.write(contentsOf: Data(buffer.utf8))
                if let target, let output {
                    try handle.close()
                    // Whole or nothing: the file appears only once complete.
                    if FileManager.default.fileExists(atPath: output) {
                        try FileManager.default.removeItem(atPath: output)
                    }
                    try FileManager.default.moveItem(atPath: target, toPath: output)
                }
            } catch {
                if let target { try? FileManager.default.removeItem(atPath: target) }
                throw error
            }
            if let output {
                printError(
                    "\(output): FOCUS \(FocusSpec.version), \(period), \(grouped(Int64(rows.count))) rows from \(grouped(Int64(export.events))) events, billed \(ReportTable.dollars(export.cost)). Check it: tokenledger export focus --check \(output)"
                )
            }
            if export.reratedEvents > 0 {
                printError(
                    "\(grouped(Int64(export.reratedEvents))) events price differently now than when recorded (the price file changed); the export uses today's catalog for their line split."
                )
            }
        }

        static func check(path: String) throws -> FocusConformance.Result {
            let table: CSVTableReader
            do {
                table = try CSVTableReader(path: path)
            } catch {
                throw CommandFailure("\(error)")
            }
            var conformance = FocusConformance()
            conformance.begin(header: table.header)
            while let record = try table.next() {
                switch record {
                case .fields(let line, let values, _): conformance.check(line: line, values: values)
                case .malformed(let error): throw CommandFailure("\(error)")
                }
            }
            return conformance.finish()
        }

        static func describe(_ result: FocusConformance.Result, path: String) -> String {
            var lines = [
                "\(path): FOCUS \(FocusSpec.version) check, \(grouped(Int64(result.rows))) rows — "
                    + (result.passed
                        ? "conforms" + (result.findings.isEmpty ? "." : " (with warnings).")
                        : "\(grouped(Int64(result.errors))) violations of \(result.findings.filter { $0.severity == .error }.count) rules.")
            ]
            for finding in result.findings {
                lines.append(
                    "\(finding.severity == .error ? "FAIL" : "WARN") \(finding.rule): \(finding.message) (\(grouped(Int64(finding.count))) rows; \(finding.samples.joined(separator: "; ")))"
                )
            }
            return lines.joined(separator: "\n")
        }
    }
}
