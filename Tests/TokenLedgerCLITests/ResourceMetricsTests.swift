import Foundation
import LedgerCore
import Testing

/// GPU time (dcgm-exporter, nvidia-smi) and storage as priced resource events, and the effective
/// price per million tokens of a self-hosted model.
@Suite struct ResourceMetricsTests {
    static let prices = #"""
        {"format": "tokenledger-price-catalog", "version": 1, "models": [
          {"provider": "self-hosted", "model": "nvidia-h100", "source": "test", "prices": [{"effective_from": "2026-01-01", "per_million": {"gpu_hour": "2.40"}}]},
          {"provider": "self-hosted", "model": "vector-store", "source": "test", "prices": [{"effective_from": "2026-01-01", "per_million": {"storage_gb_month": "0.33"}}]}
        ]}
        """#

    static func scrape(at milliseconds: Int64) -> String {
        """
        # HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
        # TYPE DCGM_FI_DEV_GPU_UTIL gauge
        DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-aaaa",pci_bus_id="00000000:18:00.0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1",container="vllm",namespace="llm",pod="vllm-llama-0"} 87 \(milliseconds)
        DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-bbbb",pci_bus_id="00000000:2a:00.0",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",hostname="node-1",container="",namespace="",pod=""} 0 \(milliseconds)
        DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-aaaa",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 76724 \(milliseconds)

        """
    }

    @Test func dcgmScrapesBecomeGPUHoursAndAnEffectivePrice() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write("prices.json", Self.prices)
        // 60 one-minute scrapes on 2026-10-02: each GPU present for an hour.
        let start: Int64 = 1_790_899_200_000 + 10 * 3_600_000
        try runner.write("dcgm.prom", (0..<60).map { Self.scrape(at: start + Int64($0) * 60_000) }.joined())
        let db = runner.path("l.sqlite")
        let imported = try runner.run([
            "import", runner.path("dcgm.prom"), "--db", db, "--prices", runner.path("prices.json"),
        ])
        #expect(imported.status == 0, "\(imported.error)")
        #expect(imported.output.contains("120 rows, 120 recorded"), "\(imported.output)")
        // Importing the same scrapes again counts nothing twice.
        let again = try runner.run([
            "import", runner.path("dcgm.prom"), "--db", db, "--prices", runner.path("prices.json"),
        ])
        #expect(again.output.contains("0 recorded, 120 already in the ledger"), "\(again.output)")

        // Two GPU-hours at $2.40.
        let byPod = try runner.run([
            "report", "--db", db, "--period", "2026-10", "--by", "tag:pod", "--format", "json", "--prices",
            runner.path("prices.json"),
        ]).json()
        let rows = try #require(byPod["rows"] as? [[String: Any]])
        let costs = Dictionary(
            uniqueKeysWithValues: rows.map { (($0["tag:pod"] as? String) ?? "-", $0["cost_usd"] as? String ?? "") })
        #expect(costs["vllm-llama-0"] == "2.40" && costs["-"] == "2.40", "\(rows)")

        // The model served 3M tokens that month: $2.40 / 3M = $0.80 per million.
        try runner.write(
            "usage.jsonl",
            #"{"id":"u1","timestamp":"2026-10-02T10:30:00Z","source":"gateway","provider":"self-hosted","model":"llama-3.1-8b-instruct","tokens":{"input":2000000,"output":1000000}}"#
                + "\n")
        _ = try runner.run(["import", runner.path("usage.jsonl"), "--db", db])
        let price = try runner.run([
            "effective-price", "--db", db, "--prices", runner.path("prices.json"), "--model", "llama-3.1-8b-instruct",
            "--period", "2026-10", "--pods", "vllm-llama-*", "--namespace", "llm", "--format", "json",
        ])
        #expect(price.status == 0, "\(price.error)")
        let json = try price.json()
        #expect(json["gpu_cost_usd"] as? String == "2.40")
        #expect(json["gpu_hours"] as? String == "1.00")
        #expect(json["usd_per_million_tokens"] as? String == "0.80")
        let entry = try #require(json["price_entry"] as? [String: Any])
        #expect(entry["model"] as? String == "llama-3.1-8b-instruct")

        let missing = try runner.run([
            "effective-price", "--db", db, "--model", "llama-3.1-8b-instruct", "--period", "2026-10", "--pods", "tgi-*",
        ])
        #expect(missing.status != 0 && missing.error.contains("No GPU time"), "\(missing.error)")
    }

    @Test func nvidiaSMILogsAndStorageGauges() throws {
        let runner = try CommandRunner()
        defer { runner.remove() }
        try runner.write("prices.json", Self.prices)
        try runner.write(
            "smi.csv",
            """
            timestamp, index, name, uuid, utilization.gpu [%], memory.used [MiB]
            2026/10/02 10:00:00.000, 0, NVIDIA H100 80GB HBM3, GPU-aaaa, 87 %, 76724 MiB
            2026/10/02 10:00:05.000, 0, NVIDIA H100 80GB HBM3, GPU-aaaa, [N/A], 76724 MiB
            yesterday, 0, NVIDIA H100 80GB HBM3, GPU-aaaa, 87 %, 76724 MiB

            """)
        let db = runner.path("l.sqlite")
        let smi = try runner.run([
            "import", runner.path("smi.csv"), "--db", db, "--interval", "5", "--host", "node-7", "--prices",
            runner.path("prices.json"),
        ])
        #expect(smi.status == 1, "\(smi.output)")
        #expect(smi.output.contains("3 rows, 2 recorded"), "\(smi.output)")
        #expect(smi.error.contains("smi.csv:4: field 'timestamp'"), "\(smi.error)")

        // 100 GB held for 30 days of hourly samples = 72,000 GB-hours ≈ 100 GB-months (730 h).
        var gauge = "# TYPE qdrant_collection_size_bytes gauge\n"
        for hour in 0..<720 {
            let at: Int64 = 1_790_899_200_000 + Int64(hour) * 3_600_000
            gauge += "qdrant_collection_size_bytes{collection=\"docs\",team=\"search\"} 1.0e11 \(at)\n"
        }
        try runner.write("qdrant.prom", gauge)
        let storage = try runner.run([
            "import", runner.path("qdrant.prom"), "--db", db, "--format", "storage", "--metric",
            "qdrant_collection_size_bytes", "--interval", "3600", "--prices", runner.path("prices.json"),
        ])
        #expect(storage.status == 0 && storage.output.contains("720 recorded"), "\(storage.output) \(storage.error)")
        let report = try runner.run([
            "report", "--db", db, "--period", "2026-10", "--by", "team,model", "--format", "json", "--prices",
            runner.path("prices.json"),
        ]).json()
        let rows = try #require(report["rows"] as? [[String: Any]])
        let search = try #require(rows.first { $0["team"] as? String == "search" })
        // 1e11 bytes × 720 h at $0.33 per GB-month (10^9 bytes, 730 hours): 100 × 0.33 × 720 / 730.
        let cost = try #require((search["cost_usd"] as? String).flatMap { Cost(decimal: $0) })
        #expect(cost.rounded(fractionDigits: 2) == "32.55", "\(search)")
        let noMetric = try runner.run(["import", runner.path("qdrant.prom"), "--db", db, "--format", "storage"])
        #expect(noMetric.status != 0 && noMetric.error.contains("--metric"))
    }
}
