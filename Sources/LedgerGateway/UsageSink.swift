import Foundation
import LedgerCore
import LedgerIngest
import LedgerStore
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the gateway's usage goes: appended to a local spool file before the response completes,
/// then batched into the ledger.
///
/// The spool is a directory of JSON Lines segments in the import format (``SpoolFile``). Each
/// flush records the events appended since the last one in one ledger transaction. A segment is
/// replaced by a new one at the first flush after it reaches ``SpoolFile/capacity``, and deleted
/// once its last events are recorded. On start, segments left by a crash are replayed; the ledger
/// skips ids it already holds, so an event recorded before the crash counts once.
final class UsageSink: Sendable {
    private struct State: ~Copyable {
        /// The segment being written (nil only if a new one could not be created).
        var file: SpoolFile?
        var segmentPath = ""
        var sequence = 0
        var pending: [RatedEvent] = []
        var pendingSettlements: [String: Settlement] = [:]
        /// Taken from `pending` by a flush, recorded in order.
        var batches: [Batch] = []
        var batchSequence = 0
    }

    /// Events a flush took, and the budget settlements of those that had budgets (applied in the
    /// transaction that records them).
    private struct Batch {
        var number: Int
        var events: [RatedEvent]
        var settlements: [String: Settlement]
        /// The segment this batch completes (deleted once it is recorded, every batch before it
        /// having been recorded first).
        var completes: String?
    }

    private struct FlushQueue {
        var running = false
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }

    let directory: String
    private let ledger: SQLiteLedger
    private let state = Mutex(State())
    private let flushing = Mutex(FlushQueue())
    private let logger: Logger

    init(directory: String, ledger: SQLiteLedger, logger: Logger) throws {
        self.directory = directory
        self.ledger = ledger
        self.logger = logger
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try state.withLock { state throws(SpoolFileError) in
            state.sequence = Int(Date().timeIntervalSince1970 * 1000)
            _ = try Self.openSegment(&state, directory: directory)
        }
    }

    /// Starts the next segment; returns the one it replaces, to be finished outside the lock.
    private static func openSegment(_ state: inout State, directory: String) throws(SpoolFileError) -> SpoolFile? {
        state.sequence += 1
        state.segmentPath = "\(directory)/segment-\(state.sequence)-\(getpid()).jsonl"
        let previous = state.file.take()  // closed here if the next one cannot be created
        state.file = try SpoolFile(path: state.segmentPath)
        return previous
    }

    /// Appends a rated event to the spool (a crash of the process after it returns loses nothing)
    /// and queues it for the ledger, with its budget settlement if it has one.
    func append(_ rated: RatedEvent, settlement: Settlement? = nil) throws {
        var line: [UInt8] = []
        line.reserveCapacity(1024)
        EventJSONLine.encode(rated.event, into: &line)
        line.append(UInt8(ascii: "\n"))
        try state.withLock { state in
            // Queued either way: a failed spool write costs this event its crash safety, not its record.
            state.pending.append(rated)
            if let settlement { state.pendingSettlements[rated.event.id] = settlement }
            guard state.file != nil else {
                throw SpoolFileError(action: "write", path: state.segmentPath, code: EBADF)
            }
            try line.withUnsafeBytes { try state.file!.append($0) }
        }
    }

    /// Events waiting for the ledger.
    var pendingCount: Int {
        state.withLock { $0.pending.count + $0.batches.reduce(0) { $0 + $1.events.count } }
    }

    /// A queued event by id (usage not yet in the ledger).
    func pendingEvent(id: String) -> RatedEvent? {
        state.withLock { state in
            state.pending.last { $0.event.id == id }
                ?? state.batches.lazy.compactMap { $0.events.last { $0.event.id == id } }.first
        }
    }

    /// Writes what is queued to the ledger. A batch whose write fails stays queued (and on disk)
    /// and is retried on the next flush (and replayed on the next start).
    ///
    /// Flushes do not overlap. A caller that arrives while one runs waits for the next pass, which
    /// starts after it arrived, so everything it appended before calling is in the ledger (or
    /// still safely spooled after a write failure) when it returns.
    func flush() async {
        let leads = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let leads = flushing.withLock { flushing in
                if flushing.running {
                    flushing.waiters.append(continuation)
                    return false
                }
                flushing.running = true
                return true
            }
            if leads { continuation.resume(returning: true) }
        }
        guard leads else { return }
        var served: [CheckedContinuation<Bool, Never>] = []
        while true {
            await flushPass()
            for waiter in served { waiter.resume(returning: false) }
            served = flushing.withLock { flushing in
                defer { flushing.waiters = [] }
                flushing.running = !flushing.waiters.isEmpty
                return flushing.waiters
            }
            if served.isEmpty { return }
        }
    }

    private func flushPass() async {
        var finished: SpoolFile?
        let batches: [Batch] = state.withLock { state in
            if !state.pending.isEmpty {
                // A segment is replaced once it is full; until then it grows across flushes (a
                // replay after a crash skips the events the ledger already has).
                let full = state.file?.isFull ?? true
                state.batchSequence += 1
                state.batches.append(
                    Batch(
                        number: state.batchSequence, events: state.pending, settlements: state.pendingSettlements,
                        completes: full ? state.segmentPath : nil))
                state.pending = []
                state.pendingSettlements = [:]
                if full {
                    do {
                        finished = try Self.openSegment(&state, directory: directory)
                    } catch {
                        logger.error("spool: \(error)")
                    }
                }
            }
            // The next calls' lines do not wait for a page to be made writable.
            state.file?.prepareNextPage()
            return state.batches
        }
        finished.take()?.finish()
        for batch in batches {
            do {
                let (_, crossings) = try await ledger.record(batch.events, settling: batch.settlements)
                for crossing in crossings {
                    logger.warning(
                        "budget threshold crossed",
                        metadata: [
                            "budget": "\(crossing.budget.id)", "percent": "\(crossing.percent)",
                            "spent_usd": "\(crossing.spent.rounded(fractionDigits: 6))",
                            "limit_usd": "\(crossing.budget.limit.decimalString)",
                        ])
                }
                if let path = batch.completes { unlink(path) }
                state.withLock { state in state.batches.removeAll { $0.number == batch.number } }
            } catch is CancellationError {
                return  // shutting down: the final flush retries
            } catch {
                logger.error(
                    "ledger write failed; usage stays in the spool and will be retried",
                    metadata: ["events": "\(batch.events.count)", "error": "\(error)"])
                return
            }
        }
    }

    /// Closes the current segment (and deletes it when empty).
    func closeSpool() {
        state.withLock { state in
            state.file.take()?.finish()
            if state.pending.isEmpty && state.batches.isEmpty {
                unlink(state.segmentPath)
            }
        }
    }

    /// Records every segment in `directory` except the ones this sink is writing, then deletes
    /// them. Returns the number of events read and how many were new to the ledger.
    static func replay(
        directory: String, ledger: SQLiteLedger, catalog: PriceCatalog, budgets: [Budget], excluding: String? = nil
    ) async throws -> (read: Int, recorded: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var rater = Rater(catalog: catalog)
        var total = (read: 0, recorded: 0)
        let decoder = EventRowDecoder(defaultSource: "gateway")
        for name in names.sorted() where name.hasPrefix("segment-") && name.hasSuffix(".jsonl") {
            let path = "\(directory)/\(name)"
            if path == excluding { continue }
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            var events: [RatedEvent] = []
            for (index, line) in SpoolFile.contents(ofSegment: Array(data)).split(separator: 10).enumerated() {
                let bytes = Array(line)
                // A line cut short by the crash is skipped: its response never completed.
                guard case .success(let fields) = JSONRowParser.members(of: bytes),
                    let event = try? decoder.decode(fields, fallbackID: { "\(name):\(index)" })
                else { continue }
                events.append(rater.rate(event))
            }
            total.read += events.count
            // A crash between the response and the flush leaves the call's hard-budget holds: settle
            // them with the replayed usage (soft budgets, which hold nothing, miss these calls).
            let held = try await SQLiteGovernance(ledger: ledger).heldBudgets(for: events.map(\.event.id))
            let byID = Dictionary(budgets.map { ($0.id, $0) }) { first, _ in first }
            var settlements: [String: Settlement] = [:]
            for rated in events {
                guard let ids = held[rated.event.id] else { continue }
                settlements[rated.event.id] = Settlement(
                    requestID: rated.event.id, actual: rated.cost, budgets: ids.compactMap { byID[$0] },
                    at: rated.event.timestamp)
            }
            total.recorded += try await ledger.record(events, settling: settlements).0.inserted
            unlink(path)
        }
        return total
    }

    /// The path of the segment being written.
    var currentSegment: String { state.withLock { $0.segmentPath } }
}
