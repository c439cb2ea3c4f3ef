public import LedgerCore

/// One page of a provider's admin report, decoded: usage events or billing lines, each bad result
/// with where it is (`data[2].results[0].amount`) and why, and the end of the last bucket.
public struct DecodedPage<Item: Sendable>: Sendable {
    public var items: [Item] = []
    public var errors: [(location: String, reason: String)] = []
    /// Whether the page says more pages follow, and the cursor of the next one.
    public var hasMore = false
    public var nextPage: String?

    static var noBuckets: String { "the page has no \"data\" array of buckets" }
}

extension UsageReportImporter {
    /// The usage events of one page. Buckets that end after `completeBefore` are left out: a day
    /// still in progress is imported once it is complete, so its final figures are the ones kept.
    public static func decode(page: JSONValue, format: Format, completeBefore: Timestamp? = nil)
        -> DecodedPage<UsageEvent>
    {
        var decoded = DecodedPage<UsageEvent>()
        decoded.hasMore = page["has_more"] == .bool(true)
        decoded.nextPage = page["next_page"]?.stringValue
        guard let buckets = page["data"]?.arrayValue else {
            decoded.errors.append(("data", DecodedPage<UsageEvent>.noBuckets))
            return decoded
        }
        for (bucketIndex, bucket) in buckets.enumerated() {
            if let completeBefore, let end = bucketEnd(bucket), end > completeBefore { continue }
            for (resultIndex, result) in (bucket["results"]?.arrayValue ?? []).enumerated() {
                do throws(RowError) {
                    switch format {
                    case .openAIUsage: decoded.items.append(try openAI(bucket: bucket, result: result))
                    case .anthropicUsage: decoded.items.append(try anthropic(bucket: bucket, result: result))
                    }
                } catch {
                    decoded.errors.append(("data[\(bucketIndex)].results[\(resultIndex)].\(error.field)", error.reason))
                }
            }
        }
        return decoded
    }

    /// A time in Unix seconds, between 1970 and 9999 (a larger number is a malformed page, not a
    /// time to overflow on).
    static func unixSeconds(_ value: JSONValue?) -> Timestamp? {
        guard let seconds = value?.integerValue, (0...253_402_300_799).contains(seconds) else { return nil }
        return Timestamp(seconds: seconds)
    }

    /// A bucket's end: `end_time` (Unix seconds, OpenAI) or `ending_at` (RFC 3339, Anthropic).
    public static func bucketEnd(_ bucket: JSONValue) -> Timestamp? {
        if let end = unixSeconds(bucket["end_time"]) { return end }
        return bucket["ending_at"]?.stringValue.flatMap { Timestamp(parsing: $0) }
    }
}

extension BillingImporter {
    /// The billing lines of one cost page (`openai-costs` or `anthropic-costs`), leaving out
    /// buckets that end after `completeBefore`.
    public static func decode(page: JSONValue, format: Format, completeBefore: Timestamp? = nil)
        -> DecodedPage<BillingLine>
    {
        let importer = BillingImporter(path: "", format: format)
        var decoded = DecodedPage<BillingLine>()
        decoded.hasMore = page["has_more"] == .bool(true)
        decoded.nextPage = page["next_page"]?.stringValue
        guard let buckets = page["data"]?.arrayValue else {
            decoded.errors.append(("data", DecodedPage<BillingLine>.noBuckets))
            return decoded
        }
        var seen: [String: Int] = [:]
        for (bucketIndex, bucket) in buckets.enumerated() {
            if let completeBefore, let end = UsageReportImporter.bucketEnd(bucket), end > completeBefore { continue }
            for (resultIndex, result) in (bucket["results"]?.arrayValue ?? []).enumerated() {
                switch importer.costLine(bucket: bucket, result: result) {
                case .success(var line):
                    seen[line.id, default: 0] += 1
                    if let count = seen[line.id], count > 1 { line.id += ":\(count)" }
                    decoded.items.append(line)
                case .failure(let failure):
                    decoded.errors.append(
                        ("data[\(bucketIndex)].results[\(resultIndex)].\(failure.field)", failure.reason))
                }
            }
        }
        return decoded
    }
}
