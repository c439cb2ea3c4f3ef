import Dispatch
import GRDBSQLite
import Synchronization

/// Checkpoints the ledger's write-ahead log mostly on a connection and thread of its own, so the
/// writer seldom waits for one.
///
/// SQLite's own automatic checkpoint runs inside the commit that crosses the threshold: that
/// writer then copies the whole log into the database file and waits for two `fsync`s while events
/// queue up behind it. Here the writer's commit hook asks for a passive checkpoint (it takes no
/// lock a writer or reader needs), which runs on the checkpointer's queue. Once that has copied
/// the log, the next commit copies what was committed meanwhile itself: the log only starts again
/// from its beginning (rather than grow) when a transaction begins with all of it copied, which a
/// writer that never pauses would otherwise never see. Durability is unchanged: a commit is in the
/// log either way.
final class WALCheckpointer: Sendable {
    /// Log frames (pages) after which a checkpoint is asked for.
    let threshold: Int32
    private let queue = DispatchQueue(label: "tokenledger.wal-checkpoint")
    /// The checkpointer's connection, used only on `queue`.
    private nonisolated(unsafe) let connection: OpaquePointer
    private let running = Atomic<Bool>(false)
    /// The last background checkpoint's log length and frames copied, packed in one word.
    private let lastResult = Atomic<UInt64>(0)
    private let completed = Atomic<Int>(0)

    /// Opens a connection to the ledger at `path` for checkpoints; nil when it cannot be opened.
    init?(path: String, threshold: Int32) {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let handle else {
            sqlite3_close_v2(handle)
            return nil
        }
        // A connection only sees the log once it has read the database.
        guard
            sqlite3_exec(handle, "PRAGMA synchronous = NORMAL; SELECT count(*) FROM sqlite_schema", nil, nil, nil)
                == SQLITE_OK
        else {
            sqlite3_close_v2(handle)
            return nil
        }
        connection = handle
        self.threshold = threshold
    }

    deinit {
        // A checkpoint under way holds a reference: none is running here.
        sqlite3_close_v2(connection)
    }

    /// Makes the writer connection `writer` ask for checkpoints instead of running them.
    ///
    /// The checkpointer must outlive the writer's commits: the hook holds it unretained.
    func install(on writer: OpaquePointer) {
        sqlite3_wal_hook(
            writer,
            { context, writer, _, frames in
                let checkpointer = Unmanaged<WALCheckpointer>.fromOpaque(context!).takeUnretainedValue()
                if frames >= checkpointer.threshold { checkpointer.committed(frames: frames, writer: writer!) }
                return SQLITE_OK
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// After a commit that left `frames` frames in the log.
    private func committed(frames: Int32, writer: OpaquePointer) {
        guard !running.load(ordering: .acquiring) else { return }
        let last = lastResult.load(ordering: .acquiring)
        let (log, copied) = (Int32(truncatingIfNeeded: last >> 32), Int32(truncatingIfNeeded: last))
        if copied > 0, frames >= log {
            // A background checkpoint copied the log up to `copied`: copy what was committed since
            // here, so the next transaction restarts the log.
            var logFrames: Int32 = 0
            var copiedFrames: Int32 = 0
            _ = sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copiedFrames)
            lastResult.store(0, ordering: .releasing)
            completed.add(1, ordering: .relaxed)
            return
        }
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            var logFrames: Int32 = 0
            var copiedFrames: Int32 = 0
            _ = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copiedFrames)
            lastResult.store(
                UInt64(UInt32(bitPattern: logFrames)) << 32 | UInt64(UInt32(bitPattern: copiedFrames)),
                ordering: .releasing)
            completed.add(1, ordering: .relaxed)
            running.store(false, ordering: .releasing)
        }
    }

    /// Checkpoints run so far, in the background or by the writer.
    var checkpoints: Int { completed.load(ordering: .relaxed) }
}
