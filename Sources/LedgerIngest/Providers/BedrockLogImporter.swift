public import LedgerCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Imports AWS Bedrock model-invocation logs: one JSON record per line, as Bedrock delivers them
/// to S3 (`…/AWSLogs/<account>/BedrockModelInvocationLogs/…`), read with constant memory.
///
/// Each record is one request: `requestId` is its id, `modelId` (with any cross-region prefix) its
/// model, `region` its region, the token counts come from `input` / `output` through the Bedrock
/// usage adapter, and `errorCode` makes it an error. `requestMetadata` keys that name an attribution
/// dimension (`team`, `user`, `project`, `feature`, `customer`, …) attribute the request; other
/// keys become tags, with the caller's IAM identity as tag `iam_arn`.
public struct BedrockLogImporter: Sendable {
    /// The file.
    public var path: String

    /// Creates an importer.
    public init(path: String) {
        self.path = path
    }

    /// Whether a line looks like an invocation log record.
    public static func recognises(_ line: JSONValue) -> Bool {
        line["schemaType"]?.stringValue == "ModelInvocationLog"
    }

    /// Reads the whole file; bad records are reported with their line and field.
    public func run(onBatch: ([UsageEvent]) async throws -> Void, onReject: (IngestError) -> Void) async throws
        -> EventFileImporter.Summary
    {
        var reader = try LineReader(path: path)
        var batcher = EventBatcher(batchSize: 5_000)
        while let outcome = try reader.nextLine({ line, number -> Result<UsageEvent, IngestError>? in
            if line.allSatisfy({ $0 == 32 || $0 == 9 }) { return nil }
            do {
                let record = try JSONValue(parsing: Data(line))
                return .success(try BedrockLogImporter.event(record))
            } catch let error as RecordError {
                return .failure(IngestError(file: path, line: number, field: error.field, reason: error.reason))
            } catch {
                return .failure(
                    IngestError(file: path, line: number, field: nil, reason: "not a JSON record (truncated line?)"))
            }
        }) {
            guard let outcome else { continue }
            try await batcher.take(outcome, onBatch: onBatch, onReject: onReject)
        }
        return try await batcher.finish(bytesRead: reader.bytesRead, onBatch: onBatch)
    }

    struct RecordError: Error {
        var field: String
        var reason: String
    }

    static func event(_ record: JSONValue) throws -> UsageEvent {
        guard let requestID = record["requestId"]?.stringValue, !requestID.isEmpty else {
            throw RecordError(field: "requestId", reason: "missing; every invocation log record has one")
        }
        guard let time = record["timestamp"]?.stringValue.flatMap({ Timestamp(parsing: $0) }) else {
            throw RecordError(field: "timestamp", reason: "missing or not RFC 3339")
        }
        guard let model = record["modelId"]?.stringValue, !model.isEmpty else {
            throw RecordError(field: "modelId", reason: "missing")
        }
        let usage: ProviderUsage.Normalised
        do {
            usage = try ProviderUsage.normalise(record, provider: "bedrock")
        } catch {
            throw RecordError(field: "input.inputTokenCount", reason: error.message)
        }
        var event = UsageEvent(
            id: "bedrock-" + requestID, timestamp: time, source: "bedrock-logs", provider: "bedrock", model: model,
            region: record["inferenceRegion"]?.stringValue ?? record["region"]?.stringValue, tokens: usage.tokens)
        if let code = record["errorCode"]?.stringValue, !code.isEmpty {
            event.outcome = .error
            event.tags["error_code"] = code
        }
        if let latency = record["output"]?["outputBodyJson"]?["metrics"]?["latencyMs"]?.integerValue {
            event.latencyMilliseconds = latency
        }
        for (key, value) in record["requestMetadata"]?.objectValue ?? [:] {
            guard let text = value.stringValue ?? value.integerValue.map(String.init) else { continue }
            if let dimension = AttributionDimension(rawValue: key.lowercased().replacing("-", with: "_")) {
                event.attribution[dimension] = text
            } else {
                event.tags[key] = text
            }
        }
        if let arn = record["identity"]?["arn"]?.stringValue { event.tags["iam_arn"] = arn }
        if let account = record["accountId"]?.stringValue {
            event.attribution.organisation = event.attribution.organisation ?? account
        }
        return event
    }
}
