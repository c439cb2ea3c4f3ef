import CZlib

/// Inflates gzip (or zlib) request bodies, with a limit on the inflated size so a small
/// compressed body cannot expand without bound.
enum Gzip {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func inflate(_ input: some Collection<UInt8>, limit: Int) throws(Failure) -> [UInt8] {
        var source = Array(input)
        var stream = z_stream()
        // 15 window bits + 32: accept a gzip or a zlib header.
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "cannot start zlib")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let status: Int32 = source.withUnsafeMutableBufferPointer { input in
            stream.next_in = input.baseAddress
            stream.avail_in = UInt32(input.count)
            var status = Z_OK
            while status == Z_OK {
                status = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if output.count > limit { return Z_BUF_ERROR }
                if status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0 { return Z_DATA_ERROR }
            }
            return status
        }
        if output.count > limit {
            throw Failure(description: "the body inflates to more than \(limit) bytes (server.max_body_bytes)")
        }
        guard status == Z_STREAM_END else {
            throw Failure(description: "the gzip body is corrupt or truncated (zlib status \(status))")
        }
        return output
    }
}
