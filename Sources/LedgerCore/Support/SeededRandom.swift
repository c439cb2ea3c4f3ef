/// SplitMix64: a small, fast, seeded generator, so the same seed gives the same demo data on
/// every machine (demo data, property-based tests).
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `range`.
    public mutating func int(_ range: ClosedRange<Int64>) -> Int64 {
        Int64.random(in: range, using: &self)
    }

    /// True with probability `percent` / 100 (in hundredths of a percent for precision).
    public mutating func chance(basisPoints: Int) -> Bool {
        Int.random(in: 0..<10_000, using: &self) < basisPoints
    }

    /// An index chosen with the given integer weights.
    public mutating func weighted(_ weights: [Int]) -> Int {
        let total = weights.reduce(0, +)
        var pick = Int.random(in: 0..<max(total, 1), using: &self)
        for (index, weight) in weights.enumerated() {
            if pick < weight { return index }
            pick -= weight
        }
        return weights.count - 1
    }

    /// A roughly log-normal integer around `typical`, between `low` and `high`.
    public mutating func around(_ typical: Int64, low: Int64, high: Int64) -> Int64 {
        // Product of three uniforms in [0.5, 1.5] gives a right-skewed spread around 1.
        var value = typical
        for _ in 0..<3 { value = value * int(50...150) / 100 }
        return min(max(value, low), high)
    }
}

extension SeededRandom {
    /// A uniform integer in `0..<bound`.
    public mutating func below(_ bound: UInt64) -> UInt64 { UInt64.random(in: 0..<bound, using: &self) }
}
