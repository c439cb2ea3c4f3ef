import Synchronization

/// Requests-per-minute and tokens-per-minute limits, per key and per team, in this process.
///
/// A sliding window of one minute, approximated from the current and the previous fixed minute
/// (the count of the previous minute weighted by how much of it is still inside the window).
/// Requests are counted on admission; tokens when the response's usage is known, so a request is
/// admitted while the tokens of the last minute are under the limit.
final class RateLimiter: Sendable {
    private struct Window {
        var minute: Int64 = 0
        var current: Int64 = 0
        var previous: Int64 = 0

        mutating func roll(to minute: Int64) {
            if minute == self.minute { return }
            previous = minute == self.minute + 1 ? current : 0
            current = 0
            self.minute = minute
        }

        func weighted(at microseconds: Int64) -> Int64 {
            let intoMinute = microseconds - minute * 60_000_000
            let previousShare = (60_000_000 - intoMinute) * previous / 60_000_000
            return current + previousShare
        }
    }

    /// A limit that would be exceeded.
    struct Refusal: Sendable {
        var subject: String
        var unit: String
        var limit: Int
        var retryAfterSeconds: Int
    }

    private let requests = Mutex<[String: Window]>([:])
    private let tokens = Mutex<[String: Window]>([:])

    /// Admits a request against the given (subject, rpm, tpm) limits and counts it, or refuses
    /// without counting.
    func admit(_ limits: [(subject: String, rpm: Int?, tpm: Int?)], now microseconds: Int64) -> Refusal? {
        let minute = microseconds / 60_000_000
        let retry = Int(60 - (microseconds % 60_000_000) / 1_000_000)
        if let refusal = tokens.withLock({ windows -> Refusal? in
            for limit in limits {
                guard let tpm = limit.tpm else { continue }
                var window = windows[limit.subject] ?? Window()
                window.roll(to: minute)
                windows[limit.subject] = window
                if window.weighted(at: microseconds) >= Int64(tpm) {
                    return Refusal(subject: limit.subject, unit: "tokens", limit: tpm, retryAfterSeconds: retry)
                }
            }
            return nil
        }) {
            return refusal
        }
        return requests.withLock { windows -> Refusal? in
            for limit in limits {
                guard let rpm = limit.rpm else { continue }
                var window = windows[limit.subject] ?? Window()
                window.roll(to: minute)
                windows[limit.subject] = window
                if window.weighted(at: microseconds) + 1 > Int64(rpm) {
                    return Refusal(subject: limit.subject, unit: "requests", limit: rpm, retryAfterSeconds: retry)
                }
            }
            for limit in limits where limit.rpm != nil { windows[limit.subject]?.current += 1 }
            return nil
        }
    }

    /// Counts tokens a finished request used.
    func consume(tokens count: Int64, subjects: [String], now microseconds: Int64) {
        guard count > 0, !subjects.isEmpty else { return }
        let minute = microseconds / 60_000_000
        tokens.withLock { windows in
            for subject in subjects {
                var window = windows[subject] ?? Window()
                window.roll(to: minute)
                window.current += count
                windows[subject] = window
            }
        }
    }
}
