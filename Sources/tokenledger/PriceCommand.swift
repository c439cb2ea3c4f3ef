import ArgumentParser
import Foundation
import LedgerCore
import LedgerGateway

/// `tokenledger price`: quote what a request costs, straight from the catalog.
struct PriceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "price",
        abstract: "Quote the cost of one request from the price catalog.",
        discussion: """
            Token counts are disjoint: --input is uncached text input only, --cache-write is 5-minute \
            cache writes, --output excludes reasoning and audio. Or pass the provider's own usage object \
            (or whole response) with --usage-json and it is normalised the way the gateway does. \
            Exit code 2 means the model is unknown.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Provider: openai, anthropic, google, vertex, bedrock, azure, mistral, deepseek, groq, …")
    var provider: String
    @Option(help: "Model name as sent to the provider (aliases, dated snapshots, Bedrock and Vertex ids work).")
    var model: String?
    @Option(help: "Uncached text input tokens.") var input: Int64 = 0
    @Option(name: .customLong("cache-read"), help: "Tokens read from the prompt cache.") var cacheRead: Int64 = 0
    @Option(name: .customLong("cache-write"), help: "Tokens written to the cache (5-minute).") var cacheWrite: Int64 = 0
    @Option(name: .customLong("cache-write-1h"), help: "Tokens written to the cache (1-hour).") var cacheWrite1h:
        Int64 = 0
    @Option(help: "Visible output tokens (excluding reasoning and audio).") var output: Int64 = 0
    @Option(help: "Reasoning tokens.") var reasoning: Int64 = 0
    @Option(name: .customLong("audio-input"), help: "Audio input tokens.") var audioInput: Int64 = 0
    @Option(name: .customLong("audio-output"), help: "Audio output tokens.") var audioOutput: Int64 = 0
    @Option(name: .customLong("image-input"), help: "Image input tokens.") var imageInput: Int64 = 0
    @Option(name: .customLong("image-output"), help: "Image output tokens.") var imageOutput: Int64 = 0
    @Option(help: "Embedding input tokens.") var embedding: Int64 = 0
    @Flag(help: "Batch API prices.") var batch = false
    @Option(name: .customLong("service-tier"), help: "flex or priority.") var serviceTier: ServiceTierArgument?
    @Option(help: "Region or data zone (e.g. global, us, eu-west-1, datazone-eu).") var region: String?
    @Option(help: "When the request happened (default: now). Prices change over time.") var at: String?
    @Option(name: .customLong("usage-json"), help: "The provider's usage object or whole response, instead of counts.")
    var usageJSON: String?
    @Option(help: "table or json.") var format: OutputFormat = .table

    func validate() throws {
        let counts = [
            input, cacheRead, cacheWrite, cacheWrite1h, output, reasoning, audioInput, audioOutput, imageInput,
            imageOutput, embedding,
        ]
        if counts.contains(where: { $0 < 0 }) { throw ValidationError("Token counts must not be negative.") }
        if batch, serviceTier != nil { throw ValidationError("Use either --batch or --service-tier, not both.") }
        if model == nil, usageJSON == nil {
            throw ValidationError("Missing --model (or a --usage-json response that names its model).")
        }
    }

    func run() async throws {
        let catalog = try common.catalog()
        let timestamp = try at.map { try Timestamp.argument($0, option: "--at") } ?? .current
        var tokens = TokenCounts(
            input: input, cacheRead: cacheRead, cacheWrite: cacheWrite, cacheWrite1h: cacheWrite1h, output: output,
            reasoning: reasoning, audioInput: audioInput, audioOutput: audioOutput, imageInput: imageInput,
            imageOutput: imageOutput, embedding: embedding)
        var tier: ServiceTier = batch ? .batch : serviceTier?.tier ?? .standard
        var modelName = model
        var warnings: [String] = []
        if let usageJSON {
            let json: JSONValue
            do {
                json = try JSONValue(parsing: Data(usageJSON.utf8))
            } catch {
                throw ValidationError("--usage-json is not valid JSON: \(error)")
            }
            do {
                let normalised = try ProviderUsage.normalise(json, provider: provider)
                tokens = normalised.tokens
                modelName = modelName ?? normalised.model
                if !batch, serviceTier == nil, let found = normalised.serviceTier { tier = found }
                warnings = normalised.warnings
            } catch {
                throw ValidationError("--usage-json: \(error)")
            }
        }
        guard let modelName else { throw ValidationError("The usage JSON names no model: add --model.") }
        var rater = Rater(catalog: catalog)
        let event = UsageEvent(
            id: "quote", timestamp: timestamp, source: "quote", provider: provider, model: modelName, region: region,
            serviceTier: tier, tokens: tokens)
        let breakdown: CostBreakdown
        do {
            breakdown = try rater.breakdown(event)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        for warning in warnings { printError("warning: \(warning)") }
        switch format {
        case .json, .csv:
            print(breakdown.json(provider: provider, model: modelName, serviceTier: tier, at: timestamp).serialized())
        case .table:
            var table = TextTable(
                columns: ["kind", "quantity", "price (USD)", "per", "cost (USD)"], rightAligned: [1, 2, 4])
            for line in breakdown.lines {
                table.append([
                    line.kind, line.kind == "gpu_seconds" ? line.quantityText : grouped(line.quantity),
                    line.unitPrice.dollarString, line.priceUnit,
                    line.cost.decimalString,
                ])
            }
            table.append(["total", "", "", "", breakdown.total.decimalString])
            print(
                "\(provider)/\(modelName) → \(breakdown.resolvedModel), \(tier.rawValue), prices from \(breakdown.priceEffectiveFrom.dateString)"
            )
            print(table.render())
            for note in breakdown.notes { print("note: \(note)") }
            if !breakdown.unpricedKinds.isEmpty {
                print(
                    "unpriced: \(breakdown.unpricedKinds.joined(separator: ", ")) (no price in the catalog; total is a lower bound)"
                )
            }
        }
    }
}

/// The tiers `--service-tier` accepts.
enum ServiceTierArgument: String, ExpressibleByArgument, CaseIterable {
    case flex, priority

    var tier: ServiceTier { self == .flex ? .flex : .priority }
}
