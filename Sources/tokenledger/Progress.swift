import Foundation

/// A one-line progress bar with rate and ETA on a terminal's standard error; silent otherwise.
struct ProgressBar {
    let label: String
    let total: Int64
    let unit: String
    let enabled: Bool
    let started = ContinuousClock.now
    var lastDraw = ContinuousClock.now - .seconds(1)

    init(label: String, total: Int64, unit: String) {
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        self.enabled = isatty(STDERR_FILENO) != 0
    }

    /// Redraws at most ten times a second.
    mutating func update(done: Int64, items: Int64) {
        guard enabled else { return }
        let now = ContinuousClock.now
        guard now - lastDraw >= .milliseconds(100) else { return }
        lastDraw = now
        let elapsed = Double((now - started).components.attoseconds) / 1e18 + Double((now - started).components.seconds)
        let fraction = min(1, Double(done) / Double(total))
        let width = 28
        let filled = Int(fraction * Double(width))
        let rate = elapsed > 0 ? Double(items) / elapsed : 0
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = String(
            format: "\r%@ %@ %3.0f%%  %@ %@  %@/s  ETA %@ ", label, bar, fraction * 100, grouped(items), unit,
            grouped(Int64(rate)), Self.duration(eta))
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Clears the line.
    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 60 ? "\(whole / 60)m\(String(format: "%02d", whole % 60))s" : "\(whole)s"
    }
}
