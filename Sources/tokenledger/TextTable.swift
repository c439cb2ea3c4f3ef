/// An aligned plain-text table.
struct TextTable {
    var columns: [String]
    var rightAligned: Set<Int>
    var rows: [[String]] = []

    init(columns: [String], rightAligned: Set<Int> = []) {
        self.columns = columns
        self.rightAligned = rightAligned
    }

    mutating func append(_ row: [String]) { rows.append(row) }

    func render() -> String {
        var widths = columns.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: max(0, widths[index] - cell.count))
                return rightAligned.contains(index) ? padding + cell : cell + padding
            }.joined(separator: "  ").replacing(/\s+$/, with: "")
        }
        var output = [line(columns), widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")]
        output += rows.map(line)
        return output.joined(separator: "\n")
    }
}

/// `1234567` → `1,234,567`.
func grouped(_ value: Int64) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, character) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
        result.append(character)
    }
    return value < 0 ? "-" + result : result
}
