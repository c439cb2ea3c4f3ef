/// The 64-bit FNV-1a hash: stable across runs and machines (unlike `Hasher`), for ids derived
/// from content and for counting distinct names.
public enum FNV1a {
    /// The offset basis: the hash of no bytes.
    public static let basis: UInt64 = 0xCBF2_9CE4_8422_2325

    /// The hash of `bytes`, continuing from `hash`.
    @inlinable
    public static func hash(_ bytes: some Sequence<UInt8>, startingFrom hash: UInt64 = basis) -> UInt64 {
        var hash = hash
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}
