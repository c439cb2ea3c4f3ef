#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A spool segment being written.
///
/// On Linux the file's first ``capacity`` bytes are reserved on disk (`fallocate`) and mapped
/// into memory, so appending a line is a copy into the page cache: no system call on the request
/// path, and as safe against a crash of the process as a `write` (the pages belong to the file,
/// not to the process). Pages are made writable ahead of the lines (``prepareNextPage()``), off
/// the request path. Lines past the mapping, and every line where the file cannot be reserved or
/// mapped (a full disk, another system), are written with `pwrite`.
///
/// The reserved tail is zero-filled; ``contents(ofSegment:)`` drops it. Segments are deleted
/// once recorded, so the file is not cut to its lines.
///
/// Sendable: its one owner may hand it to another thread (the mapping goes with it).
struct SpoolFile: ~Copyable, @unchecked Sendable {
    /// Bytes reserved and mapped per segment (about 3,000 calls' lines).
    static let capacity = 1 << 20
    private static let pageSize = 4096

    let path: String
    private let descriptor: Int32
    private var mapping: UnsafeMutableRawBufferPointer?
    /// Bytes written.
    private(set) var length = 0

    /// Creates (or truncates) the file at `path`, with `capacity` bytes reserved and mapped.
    init(path: String, capacity: Int = capacity) throws(SpoolFileError) {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw SpoolFileError(action: "create", path: path, code: errno) }
        mapping = Self.map(descriptor, capacity: capacity)
    }

    #if os(Linux)
        private static func map(_ descriptor: Int32, capacity: Int) -> UnsafeMutableRawBufferPointer? {
            // Reserved first, so that writing to a mapped page can never meet a full disk (which
            // would end the process with SIGBUS instead of returning an error).
            guard capacity > 0, posix_fallocate(descriptor, 0, off_t(capacity)) == 0 else { return nil }
            let address = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
            guard let address, address != MAP_FAILED else { return nil }
            // The first page is made writable now (the first call's line goes there).
            address.storeBytes(of: 0, as: UInt8.self)
            return UnsafeMutableRawBufferPointer(start: address, count: capacity)
        }
    #else
        private static func map(_ descriptor: Int32, capacity: Int) -> UnsafeMutableRawBufferPointer? { nil }
    #endif

    /// The segment holds its capacity's worth of lines (or more): time for the next one.
    var isFull: Bool { length >= (mapping?.count ?? Self.capacity) }

    /// Makes the page after the one the next line starts in writable, so that the lines that
    /// reach it are copied without a page fault. Its bytes are still zero, and stay so.
    func prepareNextPage() {
        guard let mapping else { return }
        let next = (length / Self.pageSize + 1) * Self.pageSize
        if next < mapping.count { mapping.storeBytes(of: 0, toByteOffset: next, as: UInt8.self) }
    }

    /// Appends `bytes`; on failure nothing counts as written.
    mutating func append(_ bytes: UnsafeRawBufferPointer) throws(SpoolFileError) {
        if let mapping, length + bytes.count <= mapping.count {
            UnsafeMutableRawBufferPointer(rebasing: mapping[length..<length + bytes.count]).copyMemory(from: bytes)
            length += bytes.count
            return
        }
        var done = 0
        while done < bytes.count {
            let written = pwrite(
                descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(length + done))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw SpoolFileError(action: "write", path: path, code: errno) }
            done += written
        }
        length += done
    }

    /// Unmaps and closes the file (as dropping the value does).
    consuming func finish() {}

    deinit {
        if let mapping { munmap(mapping.baseAddress, mapping.count) }
        close(descriptor)
    }

    /// A segment's lines: the file without the zero-filled tail a crash leaves after them.
    static func contents(ofSegment bytes: [UInt8]) -> ArraySlice<UInt8> {
        var end = bytes.endIndex
        while end > bytes.startIndex && bytes[end - 1] == 0 { end -= 1 }
        return bytes[..<end]
    }
}

/// A spool file could not be created or written.
struct SpoolFileError: Error, CustomStringConvertible {
    var action: String
    var path: String
    var code: Int32

    var description: String {
        "cannot \(action) the spool file '\(path)': \(String(cString: strerror(code))). Check that the spool directory is writable and its disk has space."
    }
}
