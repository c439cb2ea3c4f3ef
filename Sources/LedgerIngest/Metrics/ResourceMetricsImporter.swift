public import LedgerCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// GPU time and storage behind self-hosted models and RAG, as resource events:
///
/// - `dcgm`: NVIDIA dcgm-exporter scrapes (Prometheus text, several scrapes concatenated, with or
///   without sample timestamps). Each `DCGM_FI_DEV_GPU_UTIL` sample is one GPU present for one
///   scrape interval: `interval` GPU-seconds, tagged with host, GPU index and UUID, and the pod,
///   namespace and container it was allocated to.
/// - `nvidia-smi`: `nvidia-smi --query-gpu=timestamp,index,name,uuid,… --format=csv [-l N]` logs
///   (with or without units and header); each row is one GPU for `interval` seconds.
/// - `storage`: any Prometheus gauge of bytes (a vector database's collection size); each sample
///   is `bytes × interval` byte-seconds, recorded as byte-hours. Labels named like attribution
///   dimensions (`team`, `project`, `customer`, …) attribute it; the others become tags.
///
/// Events are priced from your price file: a GPU type per hour (`gpu_hour`, the model is the
/// short GPU name such as `nvidia-h100`), a storage class per GB-month (`storage_gb_month`). Ids
/// derive from host, device and sample time, so importing the same scrape again counts nothing twice.
public struct ResourceMetricsImporter: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case dcgm
        case nvidiaSMI = "nvidia-smi"
        case storage
    }

    public var path: String
    public var format: Format
    /// Seconds each sample stands for (the scrape or logging interval).
    public var intervalSeconds: Int64
    /// The time of samples that carry none (a single scrape saved to a file).
    public var defaultTime: Timestamp
    /// The host, for nvidia-smi logs (which do not name it) and scrapes without a host label.
    public var host: String?
    /// For `storage`: the gauge to read, and the model (storage class) its events are priced as.
    public var metric: String?
    public var storageModel: String
    public var provider: String

    public init(
        path: String, format: Format, intervalSeconds: Int64, defaultTime: Timestamp, host: String? = nil,
        metric: String? = nil, storageModel: String = "vector-store", provider: String = "self-hosted"
    ) {
        self.path = path
        self.format = format
        self.intervalSeconds = intervalSeconds
        self.defaultTime = defaultTime
        self.host = host
        self.metric = metric
        self.storageModel = storageModel
        self.provider = provider
    }

    /// `NVIDIA H100 80GB HBM3` → `nvidia-h100`, `NVIDIA GeForce RTX 4090` → `nvidia-rtx-4090`,
    /// `Tesla T4` → `nvidia-t4`: the vendor and the words up to the first with a digit.
    public static func gpuModel(_ name: String) -> String {
        var words = name.lowercased().split { $0 == " " || $0 == "-" || $0 == "_" }.map(String.init)
        words.removeAll { $0 == "geforce" || $0 == "tesla" || $0 == "nvidia" }
        var kept: [String] = []
        for word in words {
            kept.append(word)
            if word.contains(where: \.isNumber) { break }
        }
        return (["nvidia"] + kept).joined(separator: "-")
    }

    public func run(
        batchSize: Int = 10_000, onBatch: ([UsageEvent]) async throws -> Void, onReject: (IngestError) -> Void
    )
        async throws -> EventFileImporter.Summary
    {
        var reader = try LineReader(path: path)
        var batcher = EventBatcher(batchSize: batchSize)
        var smiHeader: [String]?
        while let outcome = try reader.nextLine({ bytes, number -> Result<UsageEvent, IngestError>? in
            let line = String(decoding: bytes, as: UTF8.self)
            switch format {
            case .dcgm, .storage: return sampleEvent(line, number)
            case .nvidiaSMI: return smiEvent(line, number, header: &smiHeader)
            }
        }) {
            guard let result = outcome else { continue }
            try await batcher.take(result, onBatch: onBatch, onReject: onReject)
        }
        return try await batcher.finish(bytesRead: reader.bytesRead, onBatch: onBatch)
    }

    /// nil: a line that is not a sample of interest (comments, other metrics).
    private func sampleEvent(_ line: String, _ number: Int) -> Result<UsageEvent, IngestError>? {
        let sample: PrometheusSample
        do {
            guard let parsed = try PrometheusText.sample(line) else { return nil }
            sample = parsed
        } catch {
            return .failure(IngestError(file: path, line: number, field: nil, reason: error.reason))
        }
        var time = defaultTime
        if let milliseconds = sample.timestampMilliseconds {
            guard (0...253_402_300_799_999).contains(milliseconds) else {
                return .failure(
                    IngestError(
                        file: path, line: number, field: sample.name,
                        reason: "the sample's timestamp \(milliseconds) is not milliseconds since 1970"))
            }
            time = Timestamp(microseconds: milliseconds * 1000)
        }
        switch format {
        case .dcgm:
            guard sample.name == "DCGM_FI_DEV_GPU_UTIL" else { return nil }
            let labels = sample.labels
            guard let uuid = labels["UUID"] ?? labels["uuid"] ?? labels["gpu_uuid"],
                let name = labels["modelName"] ?? labels["model_name"]
            else {
                return .failure(
                    IngestError(
                        file: path, line: number, field: "UUID",
                        reason: "a DCGM sample needs its UUID and modelName labels (dcgm-exporter's defaults)"))
            }
            let host = labels["Hostname"] ?? labels["hostname"] ?? host ?? ""
            var event = UsageEvent(
                id: "dcgm:\(host):\(uuid):\(time.microseconds)", timestamp: time, source: "dcgm", provider: provider,
                model: Self.gpuModel(name))
            event.requests = 0
            event.resources.gpuMicroseconds = intervalSeconds * ResourceUsage.microsecondsPerSecond
            event.tags["gpu_model"] = name
            event.tags["gpu_uuid"] = uuid
            if let index = labels["gpu"] { event.tags["gpu"] = index }
            if !host.isEmpty { event.tags["host"] = host }
            for key in ["pod", "namespace", "container"] {
                if let value = labels[key], !value.isEmpty { event.tags[key] = value }
            }
            return .success(event)
        case .storage:
            guard sample.name == metric else { return nil }
            guard let bytes = Self.integer(sample.value), bytes >= 0 else {
                return .failure(
                    IngestError(
                        file: path, line: number, field: sample.name,
                        reason: "'\(sample.value)' is not a non-negative number of bytes"))
            }
            let series = sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            var event = UsageEvent(
                id: "storage:\(sample.name):\(SHA256.hex(series).prefix(16)):\(time.microseconds)", timestamp: time,
                source: "storage", provider: provider, model: storageModel)
            event.requests = 0
            // Byte-hours, rounded down to whole ones.
            event.resources.storageByteHours = Int64(clamping: bytes * Int128(intervalSeconds) / 3_600)
            for (key, value) in sample.labels where !value.isEmpty {
                if let dimension = AttributionDimension(rawValue: key) {
                    event.attribution[dimension] = value
                } else {
                    event.tags[key] = value
                }
            }
            return .success(event)
        case .nvidiaSMI:
            return nil
        }
    }

    /// An nvidia-smi CSV row (`timestamp, index, name, uuid, …`), with or without header and units.
    private func smiEvent(_ line: String, _ number: Int, header: inout [String]?) -> Result<UsageEvent, IngestError>? {
        let fields = line.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingWhitespace()
        }
        if fields.allSatisfy(\.isEmpty) { return nil }
        if header == nil, fields.contains("uuid") || fields.contains("timestamp") {
            header = fields.map { String($0.prefix { $0 != " " }) }
            return nil
        }
        let columns = header ?? ["timestamp", "index", "name", "uuid"]
        func value(_ name: String) -> String? {
            columns.firstIndex(of: name).flatMap { $0 < fields.count ? fields[$0] : nil }
                .flatMap { $0.isEmpty || $0.hasPrefix("[N/A") || $0.hasPrefix("[Not") ? nil : $0 }
        }
        guard fields.count == columns.count else {
            return .failure(
                IngestError(
                    file: path, line: number, field: nil,
                    reason: "has \(fields.count) fields but the header has \(columns.count)"))
        }
        // `2026/10/02 10:00:00.000`, local time of the host; logged in UTC here.
        guard let text = value("timestamp"),
            let time = Timestamp(parsing: text.replacing("/", with: "-") + "Z")
        else {
            return .failure(
                IngestError(
                    file: path, line: number, field: "timestamp",
                    reason: "'\(value("timestamp") ?? "")' is not a time such as 2026/10/02 10:00:00.000"))
        }
        guard let uuid = value("uuid"), let name = value("name") else {
            return .failure(
                IngestError(
                    file: path, line: number, field: "uuid", reason: "each row needs the GPU's name and uuid"))
        }
        let host = host ?? ""
        var event = UsageEvent(
            id: "nvidia-smi:\(host):\(uuid):\(time.microseconds)", timestamp: time, source: "nvidia-smi",
            provider: provider, model: Self.gpuModel(name))
        event.requests = 0
        event.resources.gpuMicroseconds = intervalSeconds * ResourceUsage.microsecondsPerSecond
        event.tags["gpu_model"] = name
        event.tags["gpu_uuid"] = uuid
        if let index = value("index") { event.tags["gpu"] = index }
        if !host.isEmpty { event.tags["host"] = host }
        return .success(event)
    }

    /// An exact integer from a decimal, also in E notation (`1.2e10`), rounded half-even.
    static func integer(_ text: String) -> Int128? {
        BillingImporter.dollars(text).map { DecimalText.divideRoundingHalfEven($0.picodollars, by: 1_000_000_000_000) }
    }
}
