import LedgerCore
import Testing

@Suite struct TimestampTests {
    @Test func parsesRFC3339Forms() throws {
        let zulu = try #require(Timestamp(parsing: "2026-03-02T14:00:00Z"))
        #expect(zulu.seconds == 1_772_460_000)
        #expect(Timestamp(parsing: "2026-03-02T15:00:00+01:00") == zulu)
        #expect(Timestamp(parsing: "2026-03-02 14:00:00Z") == zulu)
        #expect(Timestamp(parsing: "2026-03-02T14:00:00.250Z")?.microseconds == zulu.microseconds + 250_000)
        #expect(Timestamp(parsing: "2026-03-02") == Timestamp(year: 2026, month: 3, day: 2))
    }

    @Test func rejectsImpossibleDates() {
        for text in [
            "2026-13-01T00:00:00Z", "2026-02-29", "2026-02-30T00:00:00Z", "2026-03-02T25:00:00Z", "yesterday",
            "2026-03-02T14:00:00",
        ] {
            #expect(Timestamp(parsing: text) == nil, "\(text)")
        }
        #expect(Timestamp(parsing: "2024-02-29") != nil)
    }

    @Test func formatsAndComputesCalendarFields() throws {
        let instant = try #require(Timestamp(parsing: "2026-11-23T19:46:05.5Z"))
        #expect(instant.iso8601 == "2026-11-23T19:46:05.5Z")
        #expect(instant.dateString == "2026-11-23")
        #expect(instant.weekday == 1)
        #expect(instant.startOfMonth.iso8601 == "2026-11-01T00:00:00Z")
        #expect(instant.startOfNextMonth.iso8601 == "2026-12-01T00:00:00Z")
        #expect(Timestamp(parsing: "2026-12-31T10:00:00Z")!.startOfNextMonth.iso8601 == "2027-01-01T00:00:00Z")
        #expect(Timestamp(parsing: "1969-12-31T23:00:00Z")!.startOfDay.iso8601 == "1969-12-31T00:00:00Z")
    }
}
