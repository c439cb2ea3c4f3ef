#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Prices read from a community price map: LiteLLM's `model_prices_and_context_window.json`, or
/// the data of the `genai-prices` package (exported with `scripts/prices/export_genai_prices.py`).
public struct ImportedPrice: Sendable, Hashable {
    /// The provider, in the catalog's names.
    public var provider: String
    /// The model id.
    public var model: String
    /// When these prices start, if the map says.
    public var effectiveFrom: Timestamp?
    /// Standard prices per million tokens.
    public var perMillion: PriceSheet
    /// Long-context tiers.
    public var contextTiers: [ContextTier] = []
    /// Batch, flex and priority prices.
    public var serviceTiers: [String: PriceOverride] = [:]
    public var maxInputTokens: Int64?
    public var maxOutputTokens: Int64?
}

/// The community price maps `tokenledger prices import` reads.
public enum CommunityPriceFormat: String, Sendable, CaseIterable {
    case litellm
    case genaiPrices = "genai-prices"

    /// Parses a map into prices, skipping entries that are not per-token model prices.
    ///
    /// - Throws: ``CatalogFileError`` when the file is not the expected shape.
    public func parse(_ data: Data, origin: String) throws(CatalogFileError) -> [ImportedPrice] {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: data)
        } catch {
            throw CatalogFileError(origin: origin, message: "not valid JSON: \(error)")
        }
        switch self {
        case .litellm: return try CommunityPriceFormat.litellm(json, origin: origin)
        case .genaiPrices: return try CommunityPriceFormat.genaiPrices(json, origin: origin)
        }
    }

    // MARK: - LiteLLM

    static let litellmProviders: [String: String] = [
        "openai": "openai", "text-completion-openai": "openai", "anthropic": "anthropic", "gemini": "google",
        "vertex_ai": "vertex", "vertex_ai-language-models": "vertex", "vertex_ai-anthropic_models": "vertex",
        "vertex_ai-embedding-models": "vertex", "bedrock": "bedrock", "bedrock_converse": "bedrock", "azure": "azure",
        "mistral": "mistral", "deepseek": "deepseek", "groq": "groq",
    ]

    static let litellmKinds: [String: TokenKind] = [
        "input_cost_per_token": .input, "cache_read_input_token_cost": .cacheRead,
        "cache_creation_input_token_cost": .cacheWrite,
        "cache_creation_input_token_cost_above_1hr": .cacheWrite1h, "output_cost_per_token": .output,
        "output_cost_per_reasoning_token": .reasoning, "input_cost_per_audio_token": .audioInput,
        "output_cost_per_audio_token": .audioOutput, "input_cost_per_image_token": .imageInput,
        "output_cost_per_image_token": .imageOutput,
    ]

    static func litellm(_ json: JSONValue, origin: String) throws(CatalogFileError) -> [ImportedPrice] {
        guard case .object(let entries) = json else {
            throw CatalogFileError(origin: origin, message: "expected LiteLLM's object of model name → prices")
        }
        var result: [ImportedPrice] = []
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            guard case .object(let fields) = value, let litellmProvider = fields["litellm_provider"]?.stringValue,
                let provider = litellmProviders[litellmProvider]
            else { continue }
            let mode = fields["mode"]?.stringValue ?? "chat"
            guard ["chat", "completion", "embedding", "responses"].contains(mode) else { continue }
            var parts = key.split(separator: "/").map(String.init)
            if parts.count > 1, litellmProviders[parts[0]] != nil || parts[0] == "vertex_ai" { parts.removeFirst() }
            // Regional variants (azure/eu/…, us.anthropic…) are regions of a model, not models.
            if provider == "azure", parts.count > 1 { continue }
            if provider == "bedrock", PriceCatalog.bedrockGeoPrefixes.contains(where: { parts[0].hasPrefix($0 + ".") })
            {
                continue
            }
            var price = ImportedPrice(provider: provider, model: parts.joined(separator: "/"), perMillion: PriceSheet())
            var tiers: [Int64: [TokenKind: UnitPrice]] = [:]
            var serviceTiers: [String: [TokenKind: UnitPrice]] = [:]
            for (field, number) in fields {
                guard let parsed = parseLiteLLMKey(field), var kind = litellmKinds[parsed.base],
                    let microdollars = perTokenToMicrodollarsPerMillion(number)
                else { continue }
                if mode == "embedding" {
                    if kind == .output { continue }
                    if kind == .input { kind = .embedding }
                }
                let unit = UnitPrice(microdollars: microdollars)
                switch (parsed.threshold, parsed.tier) {
                case (nil, nil): price.perMillion.tokens[kind] = unit
                case (let threshold?, nil): tiers[threshold, default: [:]][kind] = unit
                case (nil, let tier?): serviceTiers[tier, default: [:]][kind] = unit
                default: continue
                }
            }
            // LiteLLM's `sample_spec` documents the format; an entry with only zero prices prices nothing.
            guard key != "sample_spec", price.perMillion.tokens.values.contains(where: { $0.microdollars > 0 }) else {
                continue
            }
            if price.perMillion.tokens[.reasoning] == price.perMillion.tokens[.output] {
                price.perMillion.tokens[.reasoning] = nil
            }
            price.contextTiers = tiers.keys.sorted().map {
                ContextTier(abovePromptTokens: $0, perMillion: PriceSheet(tokens: tiers[$0]!))
            }
            price.serviceTiers = serviceTiers.mapValues { PriceOverride(perMillion: PriceSheet(tokens: $0)) }
            price.maxInputTokens = fields["max_input_tokens"]?.integerValue
            price.maxOutputTokens = fields["max_output_tokens"]?.integerValue
            result.append(price)
        }
        return result
    }

    /// `input_cost_per_token_above_200k_tokens_batches` → (`input_cost_per_token`, 200000, `batch`).
    static func parseLiteLLMKey(_ key: String) -> (base: String, threshold: Int64?, tier: String?)? {
        var rest = key
        var tier: String?
        for (suffix, name) in [("_batches", "batch"), ("_flex", "flex"), ("_priority", "priority")]
        where rest.hasSuffix(suffix) {
            rest.removeLast(suffix.count)
            tier = name
        }
        var threshold: Int64?
        if rest.hasSuffix("k_tokens"), let marker = rest.firstRange(of: "_above_") {
            let number = rest[marker.upperBound...].dropLast("k_tokens".count)
            guard let thousands = Int64(number) else { return nil }
            threshold = thousands * 1_000
            rest = String(rest[..<marker.lowerBound])
        }
        return (rest, threshold, tier)
    }

    /// A per-token price in dollars (`2.5e-06`) as exact microdollars per million tokens
    /// (`2_500_000`), rounded half-even when the map carries more digits than that.
    static func perTokenToMicrodollarsPerMillion(_ value: JSONValue) -> Int64? {
        switch value {
        case .integer(let whole): return whole >= 0 && whole < 9_000_000 ? whole * 1_000_000_000_000 : nil
        case .number(let text), .string(let text): return decimalTimes(text, power: 12)
        default: return nil
        }
    }

    /// `text × 10^power`, rounded half-even to an integer; accepts `1.25e-07` forms.
    static func decimalTimes(_ text: String, power: Int) -> Int64? {
        var mantissa = Substring(text.lowercased())
        var exponent = power
        if let e = mantissa.firstIndex(of: "e") {
            guard let value = Int(mantissa[mantissa.index(after: e)...]) else { return nil }
            exponent += value
            mantissa = mantissa[..<e]
        }
        var digits = mantissa
        if let dot = mantissa.firstIndex(of: ".") {
            let fraction = mantissa[mantissa.index(after: dot)...]
            exponent -= fraction.count
            digits = mantissa[..<dot] + fraction
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber), var number = Int128(String(digits)) else { return nil }
        if exponent >= 0 {
            for _ in 0..<exponent { number *= 10 }
        } else {
            number = DecimalText.divideRoundingHalfEven(number, by: DecimalText.powerOfTen(-exponent))
        }
        return number < Int128(Int64.max) ? Int64(number) : nil
    }

    // MARK: - genai-prices

    static let genaiProviders: [String: String] = ["aws": "bedrock", "x-ai": "xai"]
    static let genaiKinds: [String: TokenKind] = [
        "input_mtok": .input, "cache_read_mtok": .cacheRead, "cache_write_mtok": .cacheWrite,
        "cache_write_1h_mtok": .cacheWrite1h,
        "output_mtok": .output, "input_audio_mtok": .audioInput, "output_audio_mtok": .audioOutput,
    ]

    static func genaiPrices(_ json: JSONValue, origin: String) throws(CatalogFileError) -> [ImportedPrice] {
        guard let providers = json["providers"]?.arrayValue else {
            throw CatalogFileError(
                origin: origin,
                message: "expected {\"providers\": […]} as written by scripts/prices/export_genai_prices.py")
        }
        var result: [ImportedPrice] = []
        for provider in providers {
            guard let id = provider["id"]?.stringValue, let models = provider["models"]?.arrayValue else { continue }
            let name = genaiProviders[id] ?? PriceCatalog.canonicalProvider(id)
            for model in models {
                guard let modelID = model["id"]?.stringValue else { continue }
                let versions = model["prices"]?.arrayValue ?? []
                // Time-of-day prices leave it ambiguous which price is the standard one: skip the
                // model rather than guess (the catalog's own time windows stay in charge).
                if versions.contains(where: { ($0["time_window"] ?? .null) != .null }) { continue }
                for version in versions {
                    var sheet = PriceSheet()
                    for (key, value) in version["prices"]?.objectValue ?? [:] {
                        guard let kind = genaiKinds[key],
                            let text = value.stringValue ?? value.integerValue.map(String.init),
                            let price = UnitPrice(dollars: text)
                        else { continue }
                        sheet.tokens[kind] = price
                    }
                    guard !sheet.tokens.isEmpty else { continue }
                    let start = version["start_date"]?.stringValue.flatMap { Timestamp(parsing: $0) }
                    result.append(
                        ImportedPrice(provider: name, model: modelID, effectiveFrom: start, perMillion: sheet))
                }
            }
        }
        return result
    }
}
