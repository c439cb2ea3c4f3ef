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
/// The spool is a directory of JSON Lines segments in the import format. Each flush closes the
/// current segment, records its events in one ledger transaction and deletes the segment. On
/// start, segments left by a crash are replayed; the ledger skips ids it already holds, so a
/// segment recorded just before the crash counts once.
final class UsageSink: Sendable {
    private struct State {
        var descriptor: Int32 = -1
        var segmentPath = ""
        var sequence = 0
        var pending: [RatedEvent] = []
        var pendingSettlements: [String: Settlement] = [:]
        var closedSegments: [Segment] = []
    }

    /// A closed spool file and what it holds: events, and the budget settlements of those that
    /// had budgets (applied in the transaction that records them).
    private struct Segment {
        var path: String
        var events: [RatedEvent]
        var settlements: [String: Settlement]
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
        try state.withLock { state in
            state.sequence = Int(Date().timeIntervalSince1970 * 1000)
            try Self.openSegment(&state, directory: directory)
        }
    }

    private static func openSegment(_ state: inout State, directory: String) throws {
        state.sequence += 1
        state.segmentPath = "\(directory)/segment-\(state.sequence)-\(getpid()).jsonl"
        state.descriptor = open(state.segmentPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard state.descriptor >= 0 else {
            throw ConfigurationError(
                "cannot create the spool file '\(state.segmentPath)': \(String(cString: strerror(errno))). "
                    + "Check that the spool directory is writable.")
        }
    }

    /// Appends a rated event to the spool (one `write`, so a crash after it returns loses nothing)
    /// and queues it for the ledger, with its budget settlement if it has one.
    func append(_ rated: RatedEvent, settlement: Settlement? = nil) throws {
        var line: [UInt8] = []
        line.reserveCapacity(1024)
        EventJSONLine.encode(rated.event, into: &line)
        line.append(UInt8(ascii: "\n"))
        try state.withLock { state in
            let written = line.withUnsafeBytes { write(state.descriptor, $0.baseAddress, $0.count) }
            // Queued either way: a failed spool write costs this event its crash safety, not its record.
            state.pending.append(rated)
            if let settlement { state.pendingSettlements[rated.event.id] = settlement }
            guard written == line.count else {
                throw ConfigurationError(
                    "cannot write the spool file '\(state.segmentPath)': \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Events waiting for the ledger.
    var pendingCount: Int {
        state.withLock { $0.pending.count + $0.closedSegments.reduce(0) { $0 + $1.events.count } }
    }

    /// A queued event by id (usage not yet in the ledger).
    func pendingEvent(id: String) -> RatedEvent? {
        state.withLock { state in
            state.pending.last { $0.event.id == id }
                ?? state.closedSegments.lazy.compactMap { $0.events.last { $0.event.id == id } }.first
        }
    }

    /// Writes what is queued to the ledger. A segment whose write fails stays on disk and is
    /// retried on the next flush (and replayed on the next start).
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
        let segments: [Segment] = state.withLock { state in
            if !state.pending.isEmpty {
                close(state.descriptor)
                state.closedSegments.append(
                    Segment(path: state.segmentPath, events: state.pending, settlements: state.pendingSettlements))
                state.pending = []
                state.pendingSettlements = [:]
                do {
                    try Self.openSegment(&state, directory: directory)
                } catch {
                    logger.error("spool: \(error)")
                }
            }
            return state.closedSegments
        }
        for segment in segments {
            do {
                let (_, crossings) = try await ledger.record(segment.events, settling: segment.settlements)
                for crossing in crossings {
                    logger.warning(
                        "budget threshold crossed",
                        metadata: [
                            "budget": "\(crossing.budget.id)", "percent": "\(crossing.percent)",
                            "spent_usd": "\(crossing.spent.rounded(fractionDigits: 6))",
                            "limit_usd": "\(crossing.budget.limit.decimalString)",
                        ])
                }
                unlink(segment.path)
                state.withLock { state in state.closedSegments.removeAll { $0.path == segment.path } }
            } catch is CancellationError {
                return  // shutting down: the final flush retries
            } catch {
                logger.error(
                    "ledger write failed; usage stays in the spool and will be retried",
                    metadata: ["segment": "\(segment.path)", "error": "\(error)"])
                return
            }
        }
    }

    /// Closes the current segment (and deletes it when empty).
    func closeSpool() {
        state.withLock { state in
            close(state.descriptor)
            if state.pending.isEmpty && state.closedSegments.allSatisfy({ $0.path != state.segmentPath }) {
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
            for (index, line) in data.split(separator: 10).enumerated() {
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
