import LedgerCore

/// An attribute value of an OTLP span or resource.
public enum OTLPValue: Sendable, Hashable {
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    /// Arrays, key-value lists and bytes: kept only as present.
    case other

    var text: String? {
        switch self {
        case .string(let value): value
        case .int(let value): String(value)
        case .bool(let value): String(value)
        case .double(let value): String(value)
        case .other: nil
        }
    }

    var integer: Int64? {
        switch self {
        case .int(let value): value
        case .string(let value): Int64(value)
        case .double(let value) where value == value.rounded() && abs(value) < 9e15: Int64(value)
        default: nil
        }
    }
}

/// A span from an OTLP export request, with its resource's attributes.
public struct OTLPSpan: Sendable, Hashable {
    public var traceID = ""
    public var spanID = ""
    public var name = ""
    public var startNanos: UInt64 = 0
    public var endNanos: UInt64 = 0
    /// 0 unset, 1 ok, 2 error.
    public var statusCode = 0
    public var attributes: [String: OTLPValue] = [:]
    public var resource: [String: OTLPValue] = [:]
}

/// Decodes OTLP/HTTP trace export requests (`ExportTraceServiceRequest`, opentelemetry-proto
/// `collector/trace/v1`) in the protobuf and the JSON encodings.
public enum OTLPTraces {
    public struct DecodingError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The spans of a protobuf-encoded export request.
    public static func decodeProtobuf(_ bytes: some Collection<UInt8>) throws(DecodingError) -> [OTLPSpan] {
        let decode = { (buffer: UnsafeRawBufferPointer) -> Result<[OTLPSpan], ProtobufReader.Malformed> in
            do throws(ProtobufReader.Malformed) {
                return .success(try spans(in: ProtobufReader(buffer)))
            } catch {
                return .failure(error)
            }
        }
        let result =
            bytes.withContiguousStorageIfAvailable { decode(UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes(decode)
        switch result {
        case .success(let spans): return spans
        case .failure(let error): throw DecodingError(description: error.description)
        }
    }

    private static func spans(in request: ProtobufReader) throws(ProtobufReader.Malformed) -> [OTLPSpan] {
        var request = request
        var spans: [OTLPSpan] = []
        while let field = try request.nextField() {
            guard field.number == 1, field.wireType == .lengthDelimited else {
                try request.skip(field.wireType)
                continue
            }
            // ResourceSpans: 1 resource, 2 scope_spans.
            var resourceSpans = try request.message()
            var resource: [String: OTLPValue] = [:]
            var scopes: [ProtobufReader] = []
            while let field = try resourceSpans.nextField() {
                switch (field.number, field.wireType) {
                case (1, .lengthDelimited):
                    var message = try resourceSpans.message()
                    while let field = try message.nextField() {
                        if field.number == 1, field.wireType == .lengthDelimited {
                            var keyValue = try message.message()
                            let (key, value) = try self.keyValue(&keyValue)
                            resource[key] = value
                        } else {
                            try message.skip(field.wireType)
                        }
                    }
                case (2, .lengthDelimited): scopes.append(try resourceSpans.message())
                default: try resourceSpans.skip(field.wireType)
                }
            }
            for var scope in scopes {
                // ScopeSpans: 2 spans.
                while let field = try scope.nextField() {
                    guard field.number == 2, field.wireType == .lengthDelimited else {
                        try scope.skip(field.wireType)
                        continue
                    }
                    var message = try scope.message()
                    var span = try self.span(&message)
                    span.resource = resource
                    spans.append(span)
                }
            }
        }
        return spans
    }

    private static func span(_ message: inout ProtobufReader) throws(ProtobufReader.Malformed) -> OTLPSpan {
        var span = OTLPSpan()
        while let field = try message.nextField() {
            switch (field.number, field.wireType) {
            case (1, .lengthDelimited): span.traceID = try message.hexBytes()
            case (2, .lengthDelimited): span.spanID = try message.hexBytes()
            case (5, .lengthDelimited): span.name = try message.string()
            case (7, .fixed64): span.startNanos = try message.fixed64()
            case (8, .fixed64): span.endNanos = try message.fixed64()
            case (9, .lengthDelimited):
                var keyValue = try message.message()
                let (key, value) = try self.keyValue(&keyValue)
                span.attributes[key] = value
            case (15, .lengthDelimited):
                // Status: 2 message, 3 code.
                var status = try message.message()
                while let field = try status.nextField() {
                    if field.number == 3, field.wireType == .varint {
                        span.statusCode = Int(truncatingIfNeeded: try status.varint())
                    } else {
                        try status.skip(field.wireType)
                    }
                }
            default: try message.skip(field.wireType)
            }
        }
        return span
    }

    private static func keyValue(_ message: inout ProtobufReader) throws(ProtobufReader.Malformed) -> (
        String, OTLPValue
    ) {
        var key = ""
        var value = OTLPValue.other
        while let field = try message.nextField() {
            switch (field.number, field.wireType) {
            case (1, .lengthDelimited): key = try message.string()
            case (2, .lengthDelimited):
                // AnyValue: 1 string, 2 bool, 3 int, 4 double, 5 array, 6 kvlist, 7 bytes.
                var any = try message.message()
                while let field = try any.nextField() {
                    switch (field.number, field.wireType) {
                    case (1, .lengthDelimited): value = .string(try any.string())
                    case (2, .varint): value = .bool(try any.varint() != 0)
                    case (3, .varint): value = .int(Int64(bitPattern: try any.varint()))
                    case (4, .fixed64): value = .double(Double(bitPattern: try any.fixed64()))
                    default:
                        try any.skip(field.wireType)
                        value = .other
                    }
                }
            default: try message.skip(field.wireType)
            }
        }
        return (key, value)
    }

    /// The spans of a JSON-encoded export request (proto3 JSON: lowerCamelCase keys, hex ids,
    /// 64-bit integers as strings or numbers, enums as integers; unknown fields ignored).
    public static func decodeJSON(_ bytes: some Collection<UInt8>) throws(DecodingError) -> [OTLPSpan] {
        let root: [String: JSONValue]
        switch JSONRowParser.members(of: bytes) {
        case .success(let members): root = members
        case .failure(let failure): throw DecodingError(description: "not a JSON object: \(failure)")
        }
        var spans: [OTLPSpan] = []
        for (resourceIndex, resourceSpans) in (root["resourceSpans"]?.arrayValue ?? []).enumerated() {
            let resource = try attributes(
                resourceSpans["resource"]?["attributes"], at: "resourceSpans[\(resourceIndex)].resource")
            for (scopeIndex, scope) in (resourceSpans["scopeSpans"]?.arrayValue ?? []).enumerated() {
                for (spanIndex, item) in (scope["spans"]?.arrayValue ?? []).enumerated() {
                    let path = "resourceSpans[\(resourceIndex)].scopeSpans[\(scopeIndex)].spans[\(spanIndex)]"
                    var span = OTLPSpan()
                    span.traceID = item["traceId"]?.stringValue?.lowercased() ?? ""
                    span.spanID = item["spanId"]?.stringValue?.lowercased() ?? ""
                    span.name = item["name"]?.stringValue ?? ""
                    span.startNanos = try nanos(item["startTimeUnixNano"], at: path + ".startTimeUnixNano")
                    span.endNanos = try nanos(item["endTimeUnixNano"], at: path + ".endTimeUnixNano")
                    span.statusCode = Int(item["status"]?["code"]?.integerValue ?? 0)
                    span.attributes = try attributes(item["attributes"], at: path)
                    span.resource = resource
                    spans.append(span)
                }
            }
        }
        return spans
    }

    private static func nanos(_ value: JSONValue?, at path: String) throws(DecodingError) -> UInt64 {
        switch value {
        case nil, .null?: return 0
        case .integer(let number)? where number >= 0: return UInt64(number)
        case .string(let text)?:
            if let number = UInt64(text) { return number }
        default: break
        }
        throw DecodingError(description: "\(path) is not a time in Unix nanoseconds")
    }

    private static func attributes(_ value: JSONValue?, at path: String) throws(DecodingError) -> [String: OTLPValue] {
        var result: [String: OTLPValue] = [:]
        for (index, item) in (value?.arrayValue ?? []).enumerated() {
            guard let key = item["key"]?.stringValue else {
                throw DecodingError(description: "\(path).attributes[\(index)] has no key")
            }
            let any = item["value"]
            if let text = any?["stringValue"]?.stringValue {
                result[key] = .string(text)
            } else if case .bool(let flag)? = any?["boolValue"] {
                result[key] = .bool(flag)
            } else if let number = any?["intValue"] {
                guard let parsed = number.integerValue ?? number.stringValue.flatMap({ Int64($0) }) else {
                    throw DecodingError(
                        description: "\(path).attributes[\(index)] (\(key)): intValue is not an integer")
                }
                result[key] = .int(parsed)
            } else if let number = any?["doubleValue"] {
                switch number {
                case .integer(let value): result[key] = .double(Double(value))
                case .number(let text), .string(let text): result[key] = Double(text).map(OTLPValue.double) ?? .other
                default: result[key] = .other
                }
            } else {
                result[key] = .other
            }
        }
        return result
    }
}
