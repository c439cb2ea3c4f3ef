import LedgerCore
import LedgerStore

/// Rates events and records them in the ledger, batch by batch.
struct Recorder {
    var rater: Rater
    let ledger: SQLiteLedger
    var summary = RecordSummary()
    var unpriced = 0

    init(catalog: PriceCatalog, ledger: SQLiteLedger) {
        self.rater = Rater(catalog: catalog)
        self.ledger = ledger
    }

    mutating func record(_ events: [UsageEvent]) async throws {
        var rated: [RatedEvent] = []
        rated.reserveCapacity(events.count)
        for event in events {
            let result = rater.rate(event)
            if !result.priced { unpriced += 1 }
            rated.append(result)
        }
        summary += try await ledger.record(rated)
    }
}
