import LedgerCore
import NIOCore
import Synchronization

/// The GPU time of a self-hosted upstream, shared among the calls it serves.
///
/// A server such as vLLM runs the calls in flight together on all its GPUs, so each call is given
/// an equal part of them for as long as it is in flight: with `gpus` GPUs and `n` calls in flight,
/// a call accrues `gpus / n` GPU-seconds a second. The parts of the calls in flight always add up
/// to `gpus`, so the calls' GPU time adds up to the GPUs' busy time. Time with no call in flight
/// (idle GPUs) is no call's.
///
/// The meter keeps one running sum, the GPU time one call would have accrued since the start
/// (advanced at every begin and end); a call's share is the difference between its end and its
/// begin. It is this gateway's view: calls sent to the same server by another process are not
/// counted.
final class GPUShare: Sendable {
    /// GPUs behind the upstream.
    let gpus: Int64
    /// The most GPU time one call is given: all the GPUs for the upstream timeout (the bound a
    /// budget reservation holds).
    let maximumMicroseconds: Int64

    private struct State {
        var inFlight: Int64 = 0
        /// GPU-nanoseconds one call in flight since the start would have accrued.
        var perCall: Int64 = 0
        var last: UInt64
    }

    private let state: Mutex<State>

    init(gpus: Int, timeoutSeconds: Int) {
        self.gpus = Int64(max(1, gpus))
        self.maximumMicroseconds = self.gpus * Int64(max(1, timeoutSeconds)) * ResourceUsage.microsecondsPerSecond
        self.state = Mutex(State(last: 0))
    }

    /// A call went to the upstream: its mark, to give back to ``end(_:)`` exactly once.
    func begin(now: UInt64 = NIODeadline.now().uptimeNanoseconds) -> Int64 {
        state.withLock { state in
            advance(&state, to: now)
            state.inFlight += 1
            return state.perCall
        }
    }

    /// A call ended: its GPU time in GPU-microseconds.
    func end(_ mark: Int64, now: UInt64 = NIODeadline.now().uptimeNanoseconds) -> Int64 {
        let nanoseconds = state.withLock { state in
            advance(&state, to: now)
            state.inFlight = max(0, state.inFlight - 1)
            return state.perCall - mark
        }
        return min(maximumMicroseconds, (nanoseconds + 500) / 1_000)
    }

    private func advance(_ state: inout State, to now: UInt64) {
        // The clock is monotonic; two threads may still read it in one order and lock in the other.
        let elapsed = now > state.last ? Int64(now - state.last) : 0
        if state.inFlight > 0 { state.perCall += gpus * elapsed / state.inFlight }
        state.last = max(state.last, now)
    }
}
