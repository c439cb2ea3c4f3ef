#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a file line by line in fixed-size chunks: memory stays constant however large the file.
/// Lines end at `\n`; a trailing `\r` is dropped; the last line needs no newline.
public struct LineReader: ~Copyable {
    private let descriptor: Int32
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var reachedEnd = false
    /// Bytes consumed so far.
    public private(set) var bytesRead: Int64 = 0
    /// The number of the line last returned (1-based).
    public private(set) var lineNumber = 0
    /// The file's size, for progress.
    public let fileSize: Int64

    /// Opens a file.
    ///
    /// - Throws: ``IngestError`` when it cannot be opened.
    public init(path: String, chunkSize: Int = 1 << 20) throws(IngestError) {
        descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw IngestError(
                file: path, line: nil, field: nil, reason: "cannot open the file (\(String(cString: strerror(errno))))")
        }
        var info = stat()
        fileSize = fstat(descriptor, &info) == 0 ? Int64(info.st_size) : 0
        buffer = [UInt8](repeating: 0, count: max(chunkSize, 4096))
    }

    deinit {
        close(descriptor)
    }

    /// Calls `body` with the next line's bytes and its 1-based number, or returns `nil` at the
    /// end of the file. The bytes are only valid inside `body`.
    public mutating func nextLine<Result>(_ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Result) throws -> Result?
    {
        while true {
            if let newline = findNewline() {
                let lineEnd = newline > start && buffer[newline - 1] == 13 ? newline - 1 : newline
                let lineStart = start
                start = newline + 1
                lineNumber += 1
                let number = lineNumber
                return try buffer.withUnsafeBufferPointer { pointer in
                    try body(UnsafeBufferPointer(rebasing: pointer[lineStart..<lineEnd]), number)
                }
            }
            if reachedEnd {
                guard start < end else { return nil }
                let lineStart = start
                let lineEnd = buffer[end - 1] == 13 ? end - 1 : end
                start = end
                lineNumber += 1
                let number = lineNumber
                return try buffer.withUnsafeBufferPointer { pointer in
                    try body(UnsafeBufferPointer(rebasing: pointer[lineStart..<lineEnd]), number)
                }
            }
            fill()
        }
    }

    private func findNewline() -> Int? {
        guard start < end else { return nil }
        return buffer.withUnsafeBufferPointer { pointer -> Int? in
            let base = UnsafeRawPointer(pointer.baseAddress!)
            guard let found = memchr(base + start, 10, end - start) else { return nil }
            return UnsafeRawPointer(found) - base
        }
    }

    private mutating func fill() {
        if start > 0 {
            let remaining = end - start
            if remaining > 0 {
                buffer.withUnsafeMutableBufferPointer { pointer in
                    _ = memmove(pointer.baseAddress!, pointer.baseAddress! + start, remaining)
                }
            }
            start = 0
            end = remaining
        }
        if end == buffer.count {
            // A line longer than the buffer: grow it.
            buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count))
        }
        let count = buffer.withUnsafeMutableBufferPointer { pointer in
            read(descriptor, pointer.baseAddress! + end, pointer.count - end)
        }
        if count <= 0 {
            reachedEnd = true
        } else {
            end += count
            bytesRead += Int64(count)
        }
    }
}
